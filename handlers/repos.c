/*
 * repos.c - /api/v1/repos.csv and /api/v1/repos
 */
#include "handlers/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "handlers/app.h"
#include "storage/repos_store.h"
#include "storage/repos_history.h"
#include "handlers/html.h"
#include "handlers/params.h"
#include "handlers/repos_cache.h"
#include "codec/repos_csv.h"
#include "handlers/upload.h"
#include "jobs/exporter.h"

static void
http_date(long long ms, char out[64])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 64, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void
handle_repos_csv_get(struct request *req, struct response *res)
{
    const struct repos_rendered *r = NULL;
    const char *inm = request_header(req, "If-None-Match");
    char errbuf[ERRBUF_SIZE];
    char etag[32];
    char date[64];
    enum err rc;

    if (request_query(req, "generation")) {
        handle_repos_csv_generation(req, res);
        return;
    }
    rc = repos_cache_acquire(req->app->repos_cache, req->db, &r, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    snprintf(etag, sizeof(etag), "\"%lld\"", (long long)r->generation);
    http_date(r->updated_ms, date);
    response_header(res, "ETag", "%s", etag);
    response_header(res, "Last-Modified", "%s", date);
    response_header(res, "X-Generation", "%lld", (long long)r->generation);
    response_header(res, "Vary", "Accept-Encoding");
    response_header(res, "Cache-Control", "no-cache");
    if (inm && html_etag_matches(inm, etag)) {
        res->status = 304;
        res->not_modified_len = request_accepts_gzip(req) ? r->gz_len : r->csv_len;
        repos_cache_release((void *)(uintptr_t)r);
        return;
    }
    res->status = 200;
    res->content_type = xstrdup("text/csv; charset=utf-8");
    if (request_accepts_gzip(req)) {
        response_header(res, "Content-Encoding", "gzip");
        res->shared_iov = r->gz;
        res->shared_iovcnt = r->gz_slices;
        res->shared_len = r->gz_len;
    } else {
        res->shared_iov = r->csv;
        res->shared_iovcnt = r->csv_slices;
        res->shared_len = r->csv_len;
    }
    res->shared_release = repos_cache_release;
    res->shared_ctx = (void *)(uintptr_t)r;
}

/*
 * Parse If-Match (RFC 9110): "*" or a list of entity tags. Weak tags never
 * match (strong comparison) and neither do tags that are not generations.
 * ERR_BAD_INPUT when the header is not a list of entity tags.
 */
static enum err
parse_if_match(const struct request *req, struct repos_if_match *m)
{
    const char *p = request_header(req, "If-Match");

    memset(m, 0, sizeof(*m));
    if (!p)
        return ERR_OK;
    m->present = 1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strcmp(p, "*") == 0) {
        m->any = 1;
        return ERR_OK;
    }
    for (;;) {
        int weak = 0;
        const char *end;
        char *num_end = NULL;
        long long n;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        if (strncmp(p, "W/", 2) == 0) {
            weak = 1;
            p += 2;
        }
        if (*p != '"')
            return ERR_BAD_INPUT;
        end = strchr(p + 1, '"');
        if (!end)
            return ERR_BAD_INPUT;
        /* a generation's tag is its decimal digits exactly: no sign, space or leading 0 */
        n = strtoll(p + 1, &num_end, 10);
        if (!weak && num_end == end && end > p + 1 && p[1] >= '0' && p[1] <= '9' &&
            (p[1] != '0' || end == p + 2) && m->ngens < REPOS_IF_MATCH_MAX)
            m->gens[m->ngens++] = n;
        p = end + 1;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != ',')
            return ERR_BAD_INPUT;
    }
    return ERR_OK;
}

/* FNV-1a over the key fields, separated so ("a","bc") differs from ("ab","c"). */
static uint64_t
key_hash(const struct repos_csv *doc, size_t r)
{
    const int idx[3] = {doc->idx_origin, doc->idx_path, doc->idx_branch};
    uint64_t h = 1469598103934665603ULL;
    size_t k;
    size_t i;

    for (k = 0; k < 3; k++) {
        size_t len;
        const char *v = repos_csv_value(doc, r, idx[k], &len);

        for (i = 0; i < len; i++)
            h = (h ^ (unsigned char)v[i]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static int
key_equal(const struct repos_csv *doc, size_t a, size_t b)
{
    const int idx[3] = {doc->idx_origin, doc->idx_path, doc->idx_branch};
    size_t k;

    for (k = 0; k < 3; k++) {
        size_t la;
        size_t lb;
        const char *va = repos_csv_value(doc, a, idx[k], &la);
        const char *vb = repos_csv_value(doc, b, idx[k], &lb);

        if (la != lb || memcmp(va, vb, la) != 0)
            return 0;
    }
    return 1;
}

/* Duplicate keys as a problem `errors` array, or NULL when every key is unique. */
static json_t *
duplicate_keys(const struct repos_csv *doc, size_t *count)
{
    size_t cap = 16;
    size_t *slots;
    size_t r;
    json_t *errors = NULL;

    *count = 0;
    while (cap < doc->nrows * 2)
        cap *= 2;
    slots = xcalloc(cap, sizeof(size_t)); /* row + 1, 0 = empty */
    for (r = 0; r < doc->nrows; r++) {
        size_t i = (size_t)key_hash(doc, r) & (cap - 1);

        while (slots[i] && !key_equal(doc, slots[i] - 1, r))
            i = (i + 1) & (cap - 1);
        if (!slots[i]) {
            slots[i] = r + 1;
            continue;
        }
        if (!errors)
            errors = json_array();
        (*count)++;
        if (json_array_size(errors) < 100) {
            char detail[96];

            snprintf(detail, sizeof(detail), "duplicate key (origin, path, branch) of line %zu",
                     doc->lines[slots[i] - 1]);
            json_array_append_new(errors, json_pack("{s:I,s:s}", "line", (json_int_t)doc->lines[r],
                                                    "detail", detail));
        }
    }
    free(slots);
    return errors;
}

void
handle_repos_csv_put(struct request *req, struct response *res)
{
    struct repos_csv *doc = NULL;
    json_t *dups;
    json_t *cols;
    char errbuf[ERRBUF_SIZE];
    struct repos_if_match if_match;
    int64_t generation = 0;
    size_t ndups = 0;
    size_t i;
    enum err rc;

    if (parse_if_match(req, &if_match)) {
        response_problem(res, req, 400, "If-Match must be \"*\" or entity tags such as \"7\"",
                         NULL);
        return;
    }
    doc = upload_parse(req, res);
    if (!doc)
        return;
    dups = duplicate_keys(doc, &ndups);
    if (dups) {
        snprintf(errbuf, sizeof(errbuf), "%zu duplicate keys (origin, path, branch)", ndups);
        response_problem(res, req, 422, errbuf, dups);
        repos_csv_free(doc);
        return;
    }
    rc = repos_store_replace(req->db, doc, &if_match, &generation, errbuf, sizeof(errbuf));
    if (rc) {
        repos_csv_free(doc);
        response_error(res, req, rc, errbuf);
        return;
    }
    exporter_wake(req->app->exporter); /* a new generation is committed */
    repos_history_sweep(req->db, req->app->cfg->repos_history_s);
    cols = json_array();
    for (i = 0; i < doc->ncols; i++)
        json_array_append_new(cols, json_string(doc->cols[i]));
    response_header(res, "ETag", "\"%lld\"", (long long)generation);
    response_json(res, 200,
                  json_pack("{s:I,s:I,s:o}", "generation", (json_int_t)generation, "rows",
                            (json_int_t)doc->nrows, "columns", cols));
    repos_csv_free(doc);
}

void
handle_repos_list(struct request *req, struct response *res)
{
    static const char *const known[] = {"origin", "path",  "path_prefix", "branch",
                                        "limit",  "after", NULL};
    struct repos_filter f;
    json_t *items = NULL;
    json_t *body;
    char errbuf[ERRBUF_SIZE];
    int64_t limit;
    int64_t next_after = 0;
    int64_t generation = 0;
    enum err rc;

    memset(&f, 0, sizeof(f));
    rc = params_known(req, known, errbuf, sizeof(errbuf));
    if (!rc)
        rc = params_int(req, "limit", 1, 1000, 100, &limit, errbuf, sizeof(errbuf));
    if (!rc)
        rc = params_cursor(req, "after", &f.after, errbuf, sizeof(errbuf));
    if (!rc)
        f.origin = params_text(req, "origin", &rc, errbuf, sizeof(errbuf));
    if (!rc)
        f.path = params_text(req, "path", &rc, errbuf, sizeof(errbuf));
    if (!rc)
        f.path_prefix = params_text(req, "path_prefix", &rc, errbuf, sizeof(errbuf));
    if (!rc)
        f.branch = params_text(req, "branch", &rc, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    f.limit = (int)limit;
    rc = repos_store_list(req->db, &f, &items, &next_after, &generation, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    body = json_object();
    json_object_set_new(body, "items", items);
    if (next_after) {
        const char *const filters[] = {"origin",      f.origin, "path",   f.path, "path_prefix",
                                       f.path_prefix, "branch", f.branch, NULL};

        json_object_set_new(body, "next",
                            params_next_link("/api/v1/repos", filters, limit, next_after));
    } else {
        json_object_set_new(body, "next", json_null());
    }
    json_object_set_new(body, "generation", json_integer(generation));
    response_json(res, 200, body);
}
