/*
 * s3_filter.c - query parameters of the S3 object routes (s3_filter.h)
 *
 * A parameter name is a base followed by bracketed segments: "key",
 * "key[]", "key[and][]", "attributes[run][id]". The segments are split
 * here; what a value means is decided by storage/s3_query.c.
 */
#include "handlers/s3_filter.h"

#include <stdio.h>
#include <string.h>

#include "handlers/app.h"
#include "handlers/params.h"

#define DEFAULT_ROWS_PER_PAGE 1000
#define MAX_ROWS_PER_PAGE 10000
#define MAX_SEGMENTS (S3_QUERY_MAX_DEPTH + 2)

/* A parameter name cut into its base and bracketed segments (copies in buf). */
struct name_parts {
    char buf[1024];
    const char *base;
    const char *seg[MAX_SEGMENTS];
    size_t nseg;
};

/* 0 when the name is not base[seg]...[seg] with at most MAX_SEGMENTS segments. */
static int
split_name(const char *name, struct name_parts *np)
{
    char *s;

    if (strlen(name) >= sizeof(np->buf))
        return 0;
    strcpy(np->buf, name);
    np->base = np->buf;
    np->nseg = 0;
    s = strchr(np->buf, '[');
    if (!s)
        return 1;
    while (*s) {
        char *close;

        if (*s != '[' || np->nseg == MAX_SEGMENTS)
            return 0;
        *s++ = '\0';
        close = strchr(s, ']');
        if (!close)
            return 0;
        *close = '\0';
        np->seg[np->nseg++] = s;
        s = close + 1;
    }
    return np->base[0] != '\0';
}

static enum err
parse_bool(const char *name, const char *v, int *out, char *errbuf, size_t errlen)
{
    if (strcmp(v, "true") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0)
        *out = 0;
    else
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: must be true or false", name);
    return ERR_OK;
}

/* An attribute filter: path segments, a trailing [] (OR, the default) dropped. */
static enum err
add_attribute(struct s3_query *q, const char *name, const char *const *path, size_t npath,
              const char *v, char *errbuf, size_t errlen)
{
    char detail[ERRBUF_SIZE];
    size_t i;

    if (npath > 0 && path[npath - 1][0] == '\0')
        npath--;
    for (i = 0; i < npath; i++)
        if (path[i][0] == '\0')
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: an empty attribute key", name);
    if (s3_query_add_attribute(q, path, npath, v, detail, sizeof(detail)))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: %s", name, detail);
    return ERR_OK;
}

/* One filter parameter (not paging, caseSensitive or currentState). */
static enum err
add_param(struct s3_query *q, enum s3_filter_mode mode, const char *name, const char *v,
          char *errbuf, size_t errlen)
{
    struct name_parts np;
    char detail[ERRBUF_SIZE];
    enum s3_join join = S3_JOIN_OR;
    int field;

    if (!split_name(name, &np))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "unknown query parameter \"%.100s\"", name);
    if (mode == S3_FILTER_ATTRIBUTES) {
        const char *path[MAX_SEGMENTS + 1];

        path[0] = np.base;
        memcpy(path + 1, np.seg, np.nseg * sizeof(np.seg[0]));
        return add_attribute(q, name, path, np.nseg + 1, v, errbuf, errlen);
    }
    if (strcmp(np.base, "attributes") == 0)
        return add_attribute(q, name, np.seg, np.nseg, v, errbuf, errlen);
    field = s3_query_field(np.base);
    if (field < 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "unknown query parameter \"%.100s\"", name);
    if (np.nseg == 1 && np.seg[0][0] == '\0')
        join = S3_JOIN_OR;
    else if (np.nseg == 2 && np.seg[1][0] == '\0' && strcmp(np.seg[0], "or") == 0)
        join = S3_JOIN_OR;
    else if (np.nseg == 2 && np.seg[1][0] == '\0' && strcmp(np.seg[0], "and") == 0)
        join = S3_JOIN_AND;
    else if (np.nseg != 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "unknown query parameter \"%.100s\" (use %s, %s[], %s[or][] or %s[and][])",
                       name, np.base, np.base, np.base, np.base);
    if (s3_query_add(q, (enum s3_field)field, join, v, detail, sizeof(detail)))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%.100s: %s", name, detail);
    return ERR_OK;
}

/* Page and page size; rowsPerPage=0 is the default, as the filemanager reads it. */
static enum err
parse_paging(const struct request *req, struct s3_query *q, int64_t *page, char *errbuf,
             size_t errlen)
{
    int64_t rows = 0;
    enum err rc;

    rc = params_int(req, "page", 1, 1000000000, 1, page, errbuf, errlen);
    if (!rc)
        rc = params_int(req, "rowsPerPage", 0, MAX_ROWS_PER_PAGE, DEFAULT_ROWS_PER_PAGE, &rows,
                        errbuf, errlen);
    if (rc)
        return rc;
    if (rows == 0)
        rows = DEFAULT_ROWS_PER_PAGE;
    q->limit = rows;
    q->offset = (*page - 1) * rows;
    return ERR_OK;
}

enum err
s3_filter_parse(const struct request *req, enum s3_filter_mode mode, struct s3_query *q,
                int64_t *page, char *errbuf, size_t errlen)
{
    size_t i;
    int sensitive = 1;
    enum err rc = ERR_OK;

    for (i = 0; i < req->nquery && !rc; i++) {
        const char *name = req->query[i].name;
        const char *v = req->query[i].value ? req->query[i].value : "";

        if (!params_utf8_ok(name))
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "a query parameter name is not UTF-8");
        else if (!params_utf8_ok(v))
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "%.100s: not valid UTF-8", name);
        else if (strcmp(name, "caseSensitive") == 0) {
            rc = parse_bool(name, v, &sensitive, errbuf, errlen);
            q->case_insensitive = !sensitive;
        } else if (strcmp(name, "currentState") == 0)
            rc = parse_bool(name, v, &q->current_only, errbuf, errlen);
        else if (mode != S3_FILTER_PATCH &&
                 (strcmp(name, "page") == 0 || strcmp(name, "rowsPerPage") == 0))
            continue;
        else
            rc = add_param(q, mode, name, v, errbuf, errlen);
    }
    if (!rc && mode != S3_FILTER_PATCH)
        rc = parse_paging(req, q, page, errbuf, errlen);
    return rc;
}

/* 1 when h is a plausible host[:port] (no spaces, slashes, quotes...). */
static int
host_ok(const char *h, size_t n)
{
    size_t i;

    if (n == 0 || n > 255)
        return 0;
    for (i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]_", h[i]))
            return 0;
    return 1;
}

/* The links base ("scheme://host[:port][/prefix]") into out; 0 when none is known. */
static int
links_base(const struct request *req, struct buf *out)
{
    const char *cfg = req->app && req->app->cfg ? req->app->cfg->links_url : NULL;
    const char *fwd = request_header(req, "X-Forwarded-Host");
    const char *proto = request_header(req, "X-Forwarded-Proto");
    const char *host = fwd ? fwd : request_header(req, "Host");
    size_t n;

    if (cfg) {
        buf_append_str(out, cfg);
        return 1;
    }
    if (!host)
        return 0;
    n = strcspn(host, ","); /* the first (client-facing) proxy's value */
    while (n > 0 && host[n - 1] == ' ')
        n--;
    while (n > 0 && *host == ' ') {
        host++;
        n--;
    }
    if (!host_ok(host, n))
        return 0;
    if (!proto || (strcmp(proto, "http") != 0 && strcmp(proto, "https") != 0))
        proto = "http";
    buf_printf(out, "%s://%.*s", proto, (int)n, host);
    return 1;
}

json_t *
s3_filter_page_link(const struct request *req, int64_t page)
{
    struct buf url;
    struct buf qs;
    char n[32];
    size_t i;
    json_t *link;

    buf_init(&url, 0);
    buf_init(&qs, 0);
    buf_append(&url, "", 0);
    for (i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].name, "page") != 0)
            params_append(&qs, req->query[i].name, req->query[i].value ? req->query[i].value : "");
    snprintf(n, sizeof(n), "%lld", (long long)page);
    params_append(&qs, "page", n);
    links_base(req, &url);
    link = json_sprintf("%s%s%s", url.data, req->path, qs.data);
    buf_release(&url);
    buf_release(&qs);
    return link;
}
