/*
 * repos_csv.c - decode a repos-lock.csv / effective repos.csv document
 *
 * csv_parser delivers records; the first is the header, the others are rows.
 * Row values are copied into an arena of chained blocks (a block never
 * moves, so vals[] can point into it while the document grows); vals, lens
 * and lines are row-major arrays grown by doubling and trimmed at finish.
 * Once a problem has been seen the document will be rejected, so rows are
 * still checked and counted but no longer stored.
 *
 * Not thread-safe; one document per request.
 */
#include "codec/repos_csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "codec/csv_parser.h"

#define ARENA_MIN_BLOCK (16u * 1024u)
#define ARENA_MAX_BLOCK (4u * 1024u * 1024u)
#define NAME_IN_MSG_BYTES 64

struct arena_block {
    struct arena_block *prev;
    size_t used, size;
    char data[];
};

struct repos_priv {
    struct csv_parser *parser;
    struct repos_csv_limits lim;
    struct arena_block *arena; /* newest block */
    size_t next_block;         /* size of the next block */
    size_t rows_alloc;         /* rows vals/lens/lines have room for */
    size_t rows_seen;          /* data records, stored or not */
    size_t bytes_fed;
    int have_header;
    int cb_failed; /* the record callback stopped the parser */
    int dead;      /* fatal: feed/finish repeat fatal_msg */
    int finished;
    char fatal_msg[ERRBUF_SIZE];
};

static const struct repos_csv_limits default_limits = {1000, 65536, 1000000};

static char *
arena_alloc(struct repos_priv *pv, size_t n)
{
    struct arena_block *b = pv->arena;
    char *p;

    if (!b || b->size - b->used < n) {
        size_t size = pv->next_block;

        if (size < n)
            size = n;
        if (pv->next_block < ARENA_MAX_BLOCK)
            pv->next_block *= 2;
        b = xmalloc(sizeof(*b) + size);
        b->prev = pv->arena;
        b->used = 0;
        b->size = size;
        pv->arena = b;
    }
    p = b->data + b->used;
    b->used += n;
    return p;
}

static void
arena_free(struct repos_priv *pv)
{
    struct arena_block *b = pv->arena;

    while (b) {
        struct arena_block *prev = b->prev;

        free(b);
        b = prev;
    }
    pv->arena = NULL;
}

static void add_error(struct repos_csv *doc, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
add_error(struct repos_csv *doc, size_t line, const char *fmt, ...)
{
    va_list ap;
    struct repos_csv_error *e;

    doc->nerrors_total++;
    if (doc->nerrors >= REPOS_CSV_MAX_ERRORS)
        return;
    e = &doc->errors[doc->nerrors++];
    e->line = line;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if none. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t need, i;
    unsigned char lo = 0x80, hi = 0xBF;

    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        need = 1;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        need = 2;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        need = 3;
    else
        return 0;
    if (s[0] == 0xE0)
        lo = 0xA0;
    else if (s[0] == 0xED)
        hi = 0x9F;
    else if (s[0] == 0xF0)
        lo = 0x90;
    else if (s[0] == 0xF4)
        hi = 0x8F;
    if (n < need + 1)
        return 0;
    for (i = 1; i <= need; i++) {
        if (s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/*
 * Copy a column name into out (NUL-terminated) for an error message: at most
 * NAME_IN_MSG_BYTES bytes, cut on a character boundary, control characters
 * and invalid UTF-8 replaced by '?', so the message is always valid text.
 */
static void
name_for_msg(char *out, const char *name, size_t len)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t i = 0, o = 0;

    while (i < len) {
        size_t n = s[i] < 0x80 ? 1 : utf8_seq_len(s + i, len - i);

        if (o + (n ? n : 1) > NAME_IN_MSG_BYTES) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (n == 1 && s[i] >= 0x20 && s[i] != 0x7F) {
            out[o++] = (char)s[i];
        } else if (n > 1) {
            memcpy(out + o, s + i, n);
            o += n;
        } else {
            out[o++] = '?';
            n = 1;
        }
        i += n;
    }
    out[o] = '\0';
}

static void
trim(const char **s, size_t *len)
{
    while (*len && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

static void
find_known_columns(struct repos_csv *doc)
{
    size_t i;

    for (i = doc->ncols; i-- > 0;) {
        const char *n = doc->cols[i];

        /* walking backwards makes the first of duplicate names win */
        if (!strcmp(n, "origin"))
            doc->idx_origin = (int)i;
        else if (!strcmp(n, "path"))
            doc->idx_path = (int)i;
        else if (!strcmp(n, "branch"))
            doc->idx_branch = (int)i;
        else if (!strcmp(n, "changeset"))
            doc->idx_changeset = (int)i;
        else if (!strcmp(n, "publishUri"))
            doc->idx_publish_uri = (int)i;
    }
}

static void
take_header(struct repos_csv *doc, size_t line, const struct csv_field *f, size_t n)
{
    struct repos_priv *pv = doc->priv;
    char shown[NAME_IN_MSG_BYTES + 4];
    size_t i, j;

    pv->have_header = 1;
    doc->ncols = n;
    doc->cols = xcalloc(n, sizeof(*doc->cols));
    for (i = 0; i < n; i++) {
        const char *s = f[i].data;
        size_t len = f[i].len;
        char *name;

        trim(&s, &len);
        name = arena_alloc(pv, len + 1);
        memcpy(name, s, len);
        name[len] = '\0';
        doc->cols[i] = name;
        if (!len) {
            add_error(doc, line, "empty column name");
            continue;
        }
        for (j = 0; j < i; j++) {
            if (!strcmp(doc->cols[j], name)) {
                name_for_msg(shown, name, len);
                add_error(doc, line, "duplicate column \"%s\"", shown);
                break;
            }
        }
    }
    find_known_columns(doc);
    if (doc->idx_origin < 0)
        add_error(doc, 0, "missing required column \"origin\"");
    if (doc->idx_path < 0)
        add_error(doc, 0, "missing required column \"path\"");
}

static void
grow_rows(struct repos_csv *doc)
{
    struct repos_priv *pv = doc->priv;
    size_t n = pv->rows_alloc ? pv->rows_alloc * 2 : 256;
    size_t cells;

    if (n > pv->lim.max_rows)
        n = pv->lim.max_rows;
    cells = n * (doc->ncols ? doc->ncols : 1);
    doc->vals = xrealloc(doc->vals, cells * sizeof(*doc->vals));
    doc->lens = xrealloc(doc->lens, cells * sizeof(*doc->lens));
    doc->lines = xrealloc(doc->lines, n * sizeof(*doc->lines));
    pv->rows_alloc = n;
}

static void
store_row(struct repos_csv *doc, size_t line, const struct csv_field *f, size_t n)
{
    struct repos_priv *pv = doc->priv;
    size_t total = n, i, base;
    char *p;

    if (doc->nrows == pv->rows_alloc)
        grow_rows(doc);
    for (i = 0; i < n; i++)
        total += f[i].len;
    p = arena_alloc(pv, total);
    base = doc->nrows * doc->ncols;
    for (i = 0; i < n; i++) {
        memcpy(p, f[i].data, f[i].len);
        p[f[i].len] = '\0';
        doc->vals[base + i] = p;
        doc->lens[base + i] = f[i].len;
        p += f[i].len + 1;
    }
    doc->lines[doc->nrows++] = line;
}

static enum err
on_record(void *ctx, size_t line, const struct csv_field *f, size_t n, int had_error, char *errbuf,
          size_t errlen)
{
    struct repos_csv *doc = ctx;
    struct repos_priv *pv = doc->priv;

    if (!pv->have_header) {
        take_header(doc, line, f, n);
        return ERR_OK;
    }
    if (pv->rows_seen >= pv->lim.max_rows) {
        pv->cb_failed = 1;
        add_error(doc, 0, "more than %zu rows", pv->lim.max_rows);
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "more than %zu rows", pv->lim.max_rows);
    }
    pv->rows_seen++;
    if (n != doc->ncols) {
        add_error(doc, line, "%zu fields, header has %zu", n, doc->ncols);
        return ERR_OK;
    }
    if (doc->idx_origin >= 0 && f[doc->idx_origin].len == 0)
        add_error(doc, line, "empty origin");
    if (doc->idx_path >= 0 && f[doc->idx_path].len == 0)
        add_error(doc, line, "empty path");
    if (!had_error && !doc->nerrors_total)
        store_row(doc, line, f, n);
    return ERR_OK;
}

static void
on_error(void *ctx, size_t line, const char *detail)
{
    add_error(ctx, line, "%s", detail);
}

struct repos_csv *
repos_csv_new(const struct repos_csv_limits *lim)
{
    struct repos_csv *doc = xcalloc(1, sizeof(*doc));
    struct repos_priv *pv = xcalloc(1, sizeof(*pv));
    struct csv_limits cl;

    pv->lim = lim ? *lim : default_limits;
    if (!pv->lim.max_columns)
        pv->lim.max_columns = default_limits.max_columns;
    if (!pv->lim.max_field_bytes)
        pv->lim.max_field_bytes = default_limits.max_field_bytes;
    if (!pv->lim.max_rows)
        pv->lim.max_rows = default_limits.max_rows;
    pv->next_block = ARENA_MIN_BLOCK;
    cl.max_columns = pv->lim.max_columns;
    cl.max_field_bytes = pv->lim.max_field_bytes;
    pv->parser = csv_parser_new(&cl, on_record, on_error, doc);
    doc->idx_origin = doc->idx_path = doc->idx_branch = -1;
    doc->idx_changeset = doc->idx_publish_uri = -1;
    doc->priv = pv;
    return doc;
}

void
repos_csv_free(struct repos_csv *doc)
{
    struct repos_priv *pv;

    if (!doc)
        return;
    pv = doc->priv;
    if (pv) {
        csv_parser_free(pv->parser);
        arena_free(pv);
        free(pv);
    }
    free(doc->cols);
    free(doc->vals);
    free(doc->lens);
    free(doc->lines);
    free(doc);
}

/*
 * A fatal parser error: the limit messages read "line N: detail"; keep the
 * line apart in errors[] like every other problem.
 */
static void
record_fatal(struct repos_csv *doc, const char *msg)
{
    struct repos_priv *pv = doc->priv;
    const char *p = msg;
    size_t line = 0;

    pv->dead = 1;
    snprintf(pv->fatal_msg, sizeof(pv->fatal_msg), "%s", msg);
    if (pv->cb_failed)
        return; /* already in errors[] */
    if (!strncmp(p, "line ", 5) && p[5] >= '0' && p[5] <= '9') {
        char *end;
        unsigned long long v = strtoull(p + 5, &end, 10);

        if (end[0] == ':' && end[1] == ' ') {
            line = (size_t)v;
            p = end + 2;
        }
    }
    add_error(doc, line, "%s", p);
}

enum err
repos_csv_feed(struct repos_csv *doc, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct repos_priv *pv = doc->priv;
    char msg[ERRBUF_SIZE] = "";
    enum err rc;

    if (pv->dead || pv->finished) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "%s",
                     pv->dead ? pv->fatal_msg : "document already finished");
        goto out;
    }
    pv->bytes_fed += len;
    rc = csv_parser_feed(pv->parser, data, len, msg, sizeof(msg));
    if (rc) {
        record_fatal(doc, msg);
        err_set(rc, errbuf, errlen, "%s", msg);
    }
out:
    return rc;
}

static enum err
summarize(const struct repos_csv *doc, char *errbuf, size_t errlen)
{
    const struct repos_csv_error *e = &doc->errors[0];
    char more[64] = "";
    size_t rest = doc->nerrors_total - 1;

    if (rest)
        snprintf(more, sizeof(more), " (and %zu more problem%s)", rest, rest == 1 ? "" : "s");
    if (e->line)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: %s%s", e->line, e->detail, more);
    return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s%s", e->detail, more);
}

static void
trim_rows(struct repos_csv *doc)
{
    struct repos_priv *pv = doc->priv;
    size_t cells = doc->nrows * doc->ncols;

    if (doc->nrows == pv->rows_alloc || !doc->nrows)
        return;
    doc->vals = xrealloc(doc->vals, (cells ? cells : 1) * sizeof(*doc->vals));
    doc->lens = xrealloc(doc->lens, (cells ? cells : 1) * sizeof(*doc->lens));
    doc->lines = xrealloc(doc->lines, doc->nrows * sizeof(*doc->lines));
    pv->rows_alloc = doc->nrows;
}

enum err
repos_csv_finish(struct repos_csv *doc, char *errbuf, size_t errlen)
{
    struct repos_priv *pv = doc->priv;
    char msg[ERRBUF_SIZE] = "";
    enum err rc = ERR_OK;

    if (!pv->dead && !pv->finished) {
        pv->finished = 1;
        rc = csv_parser_finish(pv->parser, msg, sizeof(msg));
        if (rc)
            record_fatal(doc, msg);
        else if (!pv->have_header)
            add_error(doc, 0, "%s", pv->bytes_fed ? "no header" : "empty body");
    }
    if (doc->nerrors_total) {
        rc = summarize(doc, errbuf, errlen);
        goto out;
    }
    trim_rows(doc);
out:
    return rc;
}

const char *
repos_csv_value(const struct repos_csv *doc, size_t r, int c, size_t *len)
{
    size_t i;

    if (c < 0 || (size_t)c >= doc->ncols || r >= doc->nrows) {
        if (len)
            *len = 0;
        return "";
    }
    i = r * doc->ncols + (size_t)c;
    if (len)
        *len = doc->lens[i];
    return doc->vals[i];
}

enum err
repos_csv_write_field(struct buf *out, const char *data, size_t len)
{
    size_t i, quotes = 0;
    int need_quotes = 0;
    enum err rc;

    for (i = 0; i < len; i++) {
        char c = data[i];

        if (c == '"')
            quotes++;
        if (c == ',' || c == '"' || c == '\r' || c == '\n')
            need_quotes = 1;
    }
    if (!need_quotes)
        return buf_append(out, data, len);
    /* reserve everything first so a capped buffer never gets half a field */
    rc = buf_reserve(out, len + quotes + 2);
    if (rc)
        return rc;
    out->data[out->len++] = '"';
    for (i = 0; i < len; i++) {
        out->data[out->len++] = data[i];
        if (data[i] == '"')
            out->data[out->len++] = '"';
    }
    out->data[out->len++] = '"';
    out->data[out->len] = '\0';
    return ERR_OK;
}
