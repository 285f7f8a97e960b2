/*
 * multipart.c - streaming multipart/form-data (RFC 7578) file extractor (pure)
 *
 * The body is scanned for the delimiter D = CRLF "--" boundary with a KMP
 * matcher. While the matcher is k bytes into D, those k bytes are held back:
 * they are known to equal D[0..k), so nothing needs to be copied, and when a
 * mismatch shortens the match the released bytes are emitted from D itself.
 * Everything else of a file part goes to the sink straight from the caller's
 * chunk. The scan starts as if CRLF had already been seen, so a body that
 * opens with "--boundary" (no preamble) is recognised.
 *
 * After a delimiter comes "--" (the close delimiter: the rest is epilogue) or
 * optional blanks and CRLF, then the part's header block up to an empty line,
 * collected in a buffer capped at 8 KiB and parsed when complete. A part is
 * a file part when its Content-Disposition has a filename or filename*
 * parameter. The first error is latched and returned again by later calls.
 */
#include "codec/multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/hex.h"

#define MULTIPART_BOUNDARY_MAX 70
#define MULTIPART_HEADERS_MAX (8 * 1024)

enum mp_state {
    MP_PREAMBLE,   /* before the first delimiter */
    MP_DELIM_TAIL, /* just after a delimiter: "--", blanks or CRLF */
    MP_DELIM_DASH, /* seen the first '-' of a close delimiter */
    MP_DELIM_PAD,  /* transport padding before CRLF */
    MP_DELIM_CR,   /* seen CR, want LF */
    MP_HEADERS,    /* in a part's header block */
    MP_BODY,       /* in a part's content */
    MP_EPILOGUE,   /* after the close delimiter */
};

struct multipart {
    byte_sink_fn sink;
    void *ctx;
    char *delim; /* CRLF "--" boundary */
    size_t dlen;
    size_t *fail; /* KMP failure function of delim, dlen + 1 entries */
    size_t k;     /* bytes of delim matched (and held back) so far */
    enum mp_state state;
    int in_file; /* the current part is the file part */
    unsigned files;
    char *filename;
    struct buf hdr; /* the current part's header block */
    enum err failed;
    char failmsg[ERRBUF_SIZE];
};

struct multipart *
multipart_new(const char *boundary, byte_sink_fn sink, void *ctx)
{
    struct multipart *m = xcalloc(1, sizeof(*m));
    size_t blen = strlen(boundary);
    size_t i;
    size_t f;

    m->sink = sink;
    m->ctx = ctx;
    m->dlen = blen + 4;
    m->delim = xmalloc(m->dlen + 1);
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, blen + 1);
    /* fail[i]: length of the longest proper border of delim[0..i) */
    m->fail = xcalloc(m->dlen + 1, sizeof(*m->fail));
    f = 0;
    for (i = 1; i < m->dlen; i++) {
        while (f > 0 && m->delim[i] != m->delim[f])
            f = m->fail[f];
        if (m->delim[i] == m->delim[f])
            f++;
        m->fail[i + 1] = f;
    }
    m->k = 2; /* as if the body were preceded by CRLF */
    m->state = MP_PREAMBLE;
    buf_init(&m->hdr, MULTIPART_HEADERS_MAX);
    return m;
}

void
multipart_free(struct multipart *m)
{
    if (!m)
        return;
    free(m->delim);
    free(m->fail);
    free(m->filename);
    buf_release(&m->hdr);
    free(m);
}

const char *
multipart_filename(const struct multipart *m)
{
    return m->filename;
}

/*
 * Content of the file part, as the first `n` bytes of a virtual stream: the
 * `old` bytes held back from earlier chunks (equal to delim[0..old))
 * followed by data. Other parts and the preamble are dropped.
 */
static enum err
emit(struct multipart *m, size_t old, const char *data, size_t n, char *errbuf, size_t errlen)
{
    enum err rc;

    if (!m->in_file || n == 0)
        return ERR_OK;
    if (old > 0) {
        rc = m->sink(m->ctx, m->delim, n < old ? n : old, errbuf, errlen);
        if (rc || n <= old)
            return rc;
    }
    return m->sink(m->ctx, data, n - old, errbuf, errlen);
}

/*
 * Scan part content (or the preamble) for the delimiter. *used is the input
 * consumed; when the delimiter was found (it is consumed too) the state
 * moves to MP_DELIM_TAIL.
 */
static enum err
scan_body(struct multipart *m, const char *data, size_t len, size_t *used, char *errbuf,
          size_t errlen)
{
    size_t old = m->k; /* held bytes that came before data */
    size_t i = 0;
    enum err rc;

    while (i < len) {
        if (m->k == 0) {
            const char *p = memchr(data + i, m->delim[0], len - i);

            if (!p) {
                i = len;
                break;
            }
            i = (size_t)(p - data);
        }
        if (data[i] == m->delim[m->k]) {
            m->k++;
            i++;
            if (m->k == m->dlen) {
                /* everything before the delimiter is content */
                rc = emit(m, old, data, old + i - m->dlen, errbuf, errlen);
                m->k = 0;
                m->state = MP_DELIM_TAIL;
                *used = i;
                return rc;
            }
        } else if (m->k > 0) {
            m->k = m->fail[m->k]; /* released bytes are emitted lazily */
        } else {
            i++;
        }
    }
    *used = len;
    /* all but the k held bytes are content */
    return emit(m, old, data, old + len - m->k, errbuf, errlen);
}

static int
is_tchar(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

static const char *
skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/*
 * Parse a parameter value (token or quoted-string) at *pp into out. Unless
 * escape_all, a backslash in a quoted string escapes only '"' and '\', so
 * Windows paths that browsers send unescaped in filenames survive. Returns 0
 * on a syntax error.
 */
static int
param_value(const char **pp, const char *end, int escape_all, struct buf *out)
{
    const char *p = *pp;

    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end && (escape_all || p[1] == '"' || p[1] == '\\'))
                p++;
            if (*p == '\0')
                return 0;
            buf_append_char(out, *p);
        }
        if (p == end)
            return 0;
        p++;
    } else {
        const char *start = p;

        while (p < end && is_tchar((unsigned char)*p))
            p++;
        if (p == start)
            return 0;
        buf_append(out, start, (size_t)(p - start));
    }
    *pp = p;
    return 1;
}

/*
 * One `name=value` parameter at *pp (optional white space around '='), into
 * name and val (reset first); *pp moves past it. 0 when malformed.
 */
static int
param_pair(const char **pp, const char *end, int escape_all, struct buf *name, struct buf *val)
{
    const char *p = *pp;

    buf_reset(name);
    buf_reset(val);
    while (p < end && is_tchar((unsigned char)*p) && *p != '=')
        buf_append_char(name, *p++);
    p = skip_ows(p, end);
    if (name->len == 0 || p == end || *p != '=')
        return 0;
    p = skip_ows(p + 1, end);
    if (!param_value(&p, end, escape_all, val))
        return 0;
    *pp = p;
    return 1;
}

/* RFC 8187 ext-value: charset'[language]'pct-encoded; decoded into out. */
static int
ext_value(const char *v, struct buf *out)
{
    const char *p = strchr(v, '\'');

    if (!p || p == v)
        return 0;
    p = strchr(p + 1, '\'');
    if (!p)
        return 0;
    for (p++; *p; p++) {
        if (*p == '%') {
            int hi = hex_value(p[1]);
            int lo = hi < 0 ? -1 : hex_value(p[2]);

            if (lo < 0 || (hi == 0 && lo == 0))
                return 0;
            buf_append_char(out, (char)(hi * 16 + lo));
            p += 2;
        } else {
            buf_append_char(out, *p);
        }
    }
    return 1;
}

/*
 * Parse a Content-Disposition value; sets *filename (owned by the caller,
 * NULL when the part has none). Returns 0 on a syntax error.
 */
static int
parse_disposition(const char *p, const char *end, char **filename)
{
    struct buf name;
    struct buf val;
    char *plain = NULL;
    char *ext = NULL;
    int ok = 0;

    buf_init(&name, 0);
    buf_init(&val, 0);
    *filename = NULL;
    p = skip_ows(p, end);
    if (p == end || !is_tchar((unsigned char)*p))
        goto out;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    for (;;) {
        p = skip_ows(p, end);
        if (p == end)
            break;
        if (*p != ';')
            goto out;
        p = skip_ows(p + 1, end);
        if (p == end)
            break; /* a trailing ';' is tolerated */
        if (!param_pair(&p, end, 0, &name, &val))
            goto out;
        if (strcasecmp(name.data, "filename") == 0) {
            if (plain)
                goto out;
            plain = xstrndup(val.data ? val.data : "", val.len);
        } else if (strcasecmp(name.data, "filename*") == 0) {
            struct buf dec;

            if (ext)
                goto out;
            buf_init(&dec, 0);
            if (!ext_value(val.data ? val.data : "", &dec)) {
                buf_release(&dec);
                goto out;
            }
            ext = xstrndup(dec.data ? dec.data : "", dec.len);
            buf_release(&dec);
        }
    }
    ok = 1;
    if (ext) { /* filename* wins over filename (RFC 6266) */
        *filename = ext;
        ext = NULL;
    } else {
        *filename = plain;
        plain = NULL;
    }
out:
    free(plain);
    free(ext);
    buf_release(&name);
    buf_release(&val);
    return ok;
}

/* Parse the complete header block in m->hdr and start the part's content. */
static enum err
start_part(struct multipart *m, char *errbuf, size_t errlen)
{
    const char *p = m->hdr.data;
    const char *end = p + m->hdr.len - 2; /* without the final empty line */
    struct buf cd;
    int have_cd = 0;
    int cont = 0; /* the last header was Content-Disposition (for folding) */
    char *filename = NULL;
    enum err rc = ERR_OK;

    buf_init(&cd, 0);
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        const char *colon;

        if (!eol || eol[1] != '\n' || memchr(p, '\n', (size_t)(eol - p)) ||
            memchr(p, '\0', (size_t)(eol - p)))
            goto malformed;
        if (*p == ' ' || *p == '\t') { /* obs-fold: continues the previous line */
            if (p == m->hdr.data)
                goto malformed;
            if (cont) {
                buf_append_char(&cd, ' ');
                buf_append(&cd, p, (size_t)(eol - p));
            }
        } else {
            for (colon = p; colon < eol && is_tchar((unsigned char)*colon); colon++)
                ;
            if (colon == p || colon == eol || *colon != ':')
                goto malformed;
            cont = (size_t)(colon - p) == 19 && strncasecmp(p, "Content-Disposition", 19) == 0;
            if (cont) {
                if (have_cd)
                    goto malformed;
                have_cd = 1;
                buf_append(&cd, colon + 1, (size_t)(eol - colon - 1));
            }
        }
        p = eol + 2;
    }
    if (have_cd) {
        const char *v = cd.data ? cd.data : "";

        if (!parse_disposition(v, v + cd.len, &filename))
            goto malformed;
    }
    m->in_file = filename != NULL;
    if (filename) {
        if (m->files > 0) {
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "more than one file part");
            goto out;
        }
        m->files++;
        m->filename = filename;
        filename = NULL;
    }
    m->state = MP_BODY;
    goto out;
malformed:
    rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "malformed part headers");
out:
    free(filename);
    buf_release(&cd);
    return rc;
}

/* Collect the header block; *used is the input consumed. */
static enum err
scan_headers(struct multipart *m, const char *data, size_t len, size_t *used, char *errbuf,
             size_t errlen)
{
    size_t i;

    for (i = 0; i < len; i++) {
        const char *h;
        size_t n;

        if (buf_append_char(&m->hdr, data[i]))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "part headers too large");
        h = m->hdr.data;
        n = m->hdr.len;
        if (data[i] != '\n' || n < 2 || h[n - 2] != '\r')
            continue;
        if (n == 2 || (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n')) {
            *used = i + 1;
            return start_part(m, errbuf, errlen);
        }
    }
    *used = len;
    return ERR_OK;
}

/* One byte of what follows a delimiter. */
static enum err
delim_tail(struct multipart *m, char c, char *errbuf, size_t errlen)
{
    if (m->state == MP_DELIM_TAIL && c == '-') {
        m->state = MP_DELIM_DASH;
        return ERR_OK;
    }
    switch (m->state) {
    case MP_DELIM_TAIL:
    case MP_DELIM_PAD:
        if (c == ' ' || c == '\t') {
            m->state = MP_DELIM_PAD;
            return ERR_OK;
        }
        if (c == '\r') {
            m->state = MP_DELIM_CR;
            return ERR_OK;
        }
        break;
    case MP_DELIM_DASH:
        if (c == '-') {
            m->in_file = 0;
            m->state = MP_EPILOGUE;
            return ERR_OK;
        }
        break;
    case MP_DELIM_CR:
        if (c == '\n') {
            m->in_file = 0;
            buf_reset(&m->hdr);
            m->state = MP_HEADERS;
            return ERR_OK;
        }
        break;
    default:
        break;
    }
    return err_set(ERR_BAD_INPUT, errbuf, errlen, "malformed boundary line");
}

/* Remember rc and its message so that later calls report the same. */
static enum err
latch(struct multipart *m, enum err rc, char *errbuf, size_t errlen)
{
    m->failed = rc;
    if (errbuf && errlen)
        snprintf(m->failmsg, sizeof(m->failmsg), "%s", errbuf);
    else
        snprintf(m->failmsg, sizeof(m->failmsg), "multipart decoding failed");
    return rc;
}

enum err
multipart_feed(struct multipart *m, const char *data, size_t len, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;
    size_t used;

    if (m->failed)
        return err_set(m->failed, errbuf, errlen, "%s", m->failmsg);
    while (len > 0) {
        used = 0;
        switch (m->state) {
        case MP_PREAMBLE:
        case MP_BODY:
            rc = scan_body(m, data, len, &used, errbuf, errlen);
            break;
        case MP_HEADERS:
            rc = scan_headers(m, data, len, &used, errbuf, errlen);
            break;
        case MP_EPILOGUE:
            used = len;
            break;
        default:
            rc = delim_tail(m, *data, errbuf, errlen);
            used = 1;
            break;
        }
        if (rc)
            return latch(m, rc, errbuf, errlen);
        data += used;
        len -= used;
    }
    return ERR_OK;
}

enum err
multipart_finish(struct multipart *m, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    if (m->failed)
        return err_set(m->failed, errbuf, errlen, "%s", m->failmsg);
    if (m->state != MP_EPILOGUE)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "missing closing boundary");
    else if (m->files == 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "no file part in multipart body");
    if (rc)
        return latch(m, rc, errbuf, errlen);
    return ERR_OK;
}

/* Find the boundary parameter's value in a Content-Type value. */
enum err
multipart_boundary(const char *content_type, char *out, size_t outlen, char *errbuf, size_t errlen)
{
    const char *end = content_type + strlen(content_type);
    const char *p = memchr(content_type, ';', (size_t)(end - content_type));
    struct buf name;
    struct buf val;
    struct buf boundary;
    int found = 0;
    enum err rc = ERR_OK;

    buf_init(&name, 0);
    buf_init(&val, 0);
    buf_init(&boundary, 0);
    while (p) { /* p is at a ';' */
        p = skip_ows(p + 1, end);
        if (p == end)
            break;
        if (*p == ';')
            continue;
        if (!param_pair(&p, end, 1, &name, &val))
            goto malformed;
        if (strcasecmp(name.data, "boundary") == 0) {
            if (found) {
                rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "duplicate boundary parameter");
                goto out;
            }
            found = 1;
            buf_append(&boundary, val.data ? val.data : "", val.len);
        }
        p = skip_ows(p, end);
        if (p == end)
            break;
        if (*p != ';')
            goto malformed;
    }
    if (!found) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "missing multipart boundary");
        goto out;
    }
    if (boundary.len == 0) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "empty multipart boundary");
        goto out;
    }
    if (boundary.len > MULTIPART_BOUNDARY_MAX) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "multipart boundary longer than %d characters",
                     MULTIPART_BOUNDARY_MAX);
        goto out;
    }
    for (size_t i = 0; i < boundary.len; i++) {
        unsigned char c = (unsigned char)boundary.data[i];

        if (c < 0x20 || c == 0x7f) {
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "invalid character in multipart boundary");
            goto out;
        }
    }
    if (boundary.len >= outlen) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "boundary buffer too small");
        goto out;
    }
    memcpy(out, boundary.data, boundary.len + 1);
    goto out;
malformed:
    rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "malformed content-type parameters");
out:
    buf_release(&name);
    buf_release(&val);
    buf_release(&boundary);
    return rc;
}
