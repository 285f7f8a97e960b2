/*
 * objects.c - GET /api/v1/s3/objects, /count, /{id} (filemanager-compatible)
 *
 * The same handlers serve the filemanager's paths GET /api/v1/s3,
 * /api/v1/s3/count and /api/v1/s3/{id} (server/routes.c).
 */
#include "handlers/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/s3_store.h"
#include "handlers/params.h"

#define PATTERNS_MAX 100
#define DEFAULT_ROWS_PER_PAGE 1000

/* The attributes that take wildcard patterns, each as `name` or `name[]` (OR-ed). */
enum pattern_attr { PAT_BUCKET, PAT_KEY, PAT_VERSION_ID, PAT_COUNT };

static const char *const pattern_names[PAT_COUNT] = {"bucket", "key", "versionId"};

struct object_query {
    struct s3_filter f;
    struct buf patterns[PAT_COUNT][PATTERNS_MAX];
    const char *lists[PAT_COUNT][PATTERNS_MAX];
    size_t npatterns[PAT_COUNT];
    int64_t page;
    int64_t rows_per_page;
};

static void
query_release(struct object_query *q)
{
    size_t i;
    size_t k;

    for (k = 0; k < PAT_COUNT; k++)
        for (i = 0; i < q->npatterns[k]; i++)
            buf_release(&q->patterns[k][i]);
}

static enum err
parse_bool(const char *v, const char *name, int *out, char *errbuf, size_t errlen)
{
    if (strcmp(v, "true") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0)
        *out = 0;
    else
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: must be true or false", name);
    return ERR_OK;
}

/* The pattern attribute a parameter name (`key` or `key[]`) gives, or -1. */
static int
pattern_attr(const char *name)
{
    size_t n;
    int k;

    for (k = 0; k < PAT_COUNT; k++) {
        n = strlen(pattern_names[k]);
        if (strncmp(name, pattern_names[k], n) == 0 && (!name[n] || strcmp(name + n, "[]") == 0))
            return k;
    }
    return -1;
}

/* One more wildcard value of attribute k, translated for LIKE; 400 naming the parameter. */
static enum err
add_pattern(struct object_query *q, int k, const char *name, const char *v, char *errbuf,
            size_t errlen)
{
    char detail[ERRBUF_SIZE];
    size_t *n = &q->npatterns[k];

    if (*n == PATTERNS_MAX)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: at most %d values", name, PATTERNS_MAX);
    buf_init(&q->patterns[k][*n], 0);
    q->lists[k][*n] = NULL;
    (*n)++;
    if (s3_like_pattern(v, &q->patterns[k][*n - 1], detail, sizeof(detail)))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: %s", name, detail);
    q->lists[k][*n - 1] = q->patterns[k][*n - 1].data;
    return ERR_OK;
}

/* The single-valued filters; the last value of a repeated one is used. */
static enum err
add_filter(struct object_query *q, const char *name, const char *v, char *errbuf, size_t errlen)
{
    if (strcmp(name, "eventType") == 0) {
        if (strcmp(v, "Created") != 0 && strcmp(v, "Deleted") != 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "eventType: must be Created or Deleted");
        q->f.event_type = v;
    } else if (strcmp(name, "isDeleteMarker") == 0) {
        return parse_bool(v, name, &q->f.is_delete_marker, errbuf, errlen);
    } else if (strcmp(name, "currentState") == 0) {
        return parse_bool(v, name, &q->f.current_only, errbuf, errlen);
    }
    return ERR_OK;
}

/*
 * Page and page size: page from 1, rowsPerPage up to 10000; rowsPerPage=0
 * is the default, as the filemanager reads it.
 */
static enum err
parse_paging(const struct request *req, struct object_query *q, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = params_int(req, "page", 1, 1000000000, 1, &q->page, errbuf, errlen);
    if (!rc)
        rc = params_int(req, "rowsPerPage", 0, 10000, DEFAULT_ROWS_PER_PAGE, &q->rows_per_page,
                        errbuf, errlen);
    if (rc)
        return rc;
    if (q->rows_per_page == 0)
        q->rows_per_page = DEFAULT_ROWS_PER_PAGE;
    q->f.limit = q->rows_per_page;
    q->f.offset = (q->page - 1) * q->rows_per_page;
    return ERR_OK;
}

/* Filters shared by the list and the count. */
static enum err
parse_query(const struct request *req, struct object_query *q, char *errbuf, size_t errlen)
{
    static const char *const known[] = {
        "bucket",    "bucket[]",       "key",          "key[]", "versionId",   "versionId[]",
        "eventType", "isDeleteMarker", "currentState", "page",  "rowsPerPage", NULL};
    size_t i;
    enum err rc;

    memset(q, 0, sizeof(*q));
    q->f.is_delete_marker = -1;
    q->f.current_only = 1;
    rc = params_known(req, known, errbuf, errlen);
    for (i = 0; i < req->nquery && !rc; i++) {
        const char *name = req->query[i].name;
        const char *v = req->query[i].value;
        int k = pattern_attr(name);

        if (!params_utf8_ok(v))
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: not valid UTF-8", name);
        else if (k >= 0)
            rc = add_pattern(q, k, name, v, errbuf, errlen);
        else
            rc = add_filter(q, name, v, errbuf, errlen);
    }
    if (rc)
        return rc;
    q->f.buckets = q->lists[PAT_BUCKET];
    q->f.nbuckets = q->npatterns[PAT_BUCKET];
    q->f.keys = q->lists[PAT_KEY];
    q->f.nkeys = q->npatterns[PAT_KEY];
    q->f.version_ids = q->lists[PAT_VERSION_ID];
    q->f.nversion_ids = q->npatterns[PAT_VERSION_ID];
    return parse_paging(req, q, errbuf, errlen);
}

/* Absolute URL of this list with another page, or null. */
static json_t *
page_link(const struct request *req, const struct object_query *q, int64_t page)
{
    const char *host = request_header(req, "Host");
    const char *proto = request_header(req, "X-Forwarded-Proto");
    struct buf qs;
    char n[32];
    size_t i;
    json_t *url;

    buf_init(&qs, 0);
    for (i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].name, "page") != 0)
            params_append(&qs, req->query[i].name, req->query[i].value);
    snprintf(n, sizeof(n), "%lld", (long long)page);
    params_append(&qs, "page", n);
    if (!proto || (strcmp(proto, "http") != 0 && strcmp(proto, "https") != 0))
        proto = "http";
    /* the path asked for: /api/v1/s3/objects, or the filemanager's /api/v1/s3 */
    url = host && params_utf8_ok(host)
              ? json_sprintf("%s://%s%s%s", proto, host, req->path, qs.data)
              : json_sprintf("%s%s", req->path, qs.data);
    buf_release(&qs);
    (void)q;
    return url;
}

void
handle_objects_list(struct request *req, struct response *res)
{
    struct object_query q;
    json_t *items = NULL;
    json_t *body;
    char errbuf[ERRBUF_SIZE];
    int64_t total = 0;
    enum err rc;

    rc = parse_query(req, &q, errbuf, sizeof(errbuf));
    if (!rc)
        rc = s3_store_list(req->db, &q.f, &items, &total, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        query_release(&q);
        return;
    }
    body = json_object();
    json_object_set_new(
        body, "links",
        json_pack("{s:o,s:o}", "previous",
                  q.page > 1 ? page_link(req, &q, q.page - 1) : json_null(), "next",
                  q.page * q.rows_per_page < total ? page_link(req, &q, q.page + 1) : json_null()));
    json_object_set_new(body, "pagination",
                        json_pack("{s:I,s:I,s:I}", "count", (json_int_t)total, "page",
                                  (json_int_t)q.page, "rowsPerPage", (json_int_t)q.rows_per_page));
    json_object_set_new(body, "results", items);
    response_json(res, 200, body);
    query_release(&q);
}

void
handle_objects_count(struct request *req, struct response *res)
{
    struct object_query q;
    char errbuf[ERRBUF_SIZE];
    int64_t total = 0;
    enum err rc;

    rc = parse_query(req, &q, errbuf, sizeof(errbuf));
    if (!rc)
        rc = s3_store_count(req->db, &q.f, &total, errbuf, sizeof(errbuf));
    if (rc)
        response_error(res, req, rc, errbuf);
    else
        response_json(res, 200, json_pack("{s:I}", "nRecords", (json_int_t)total));
    query_release(&q);
}

void
handle_objects_get(struct request *req, struct response *res)
{
    json_t *obj = NULL;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (!params_uuid_ok(req->params[0])) {
        response_problem(res, req, 404, "no such object record", NULL);
        return;
    }
    rc = s3_store_get(req->db, req->params[0], &obj, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_json(res, 200, obj);
}
