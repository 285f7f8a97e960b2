/*
 * crawl.c - /api/v1/s3/crawl: crawls of the live bucket (the filemanager's routes)
 *
 * POST /api/v1/s3/crawl queues a crawl ({bucket, prefix?, mode?}) and answers
 * 202 with it; /crawl/sync also waits for it, up to INGESTD_CRAWL_SYNC_WAIT
 * seconds (200 when it completed, the failure's problem when it failed, 202
 * when it still runs). 409 while a crawl of the same bucket and prefix is
 * queued or running, on any replica. jobs/crawl_runner.c runs them.
 * GET /crawl/status lists them (filters bucket, prefix, status, mode, with
 * the object list's paging), /status/count counts them, /status/{id} reads one.
 */
#include "handlers/handlers.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "handlers/app.h"
#include "handlers/long_wait.h"
#include "handlers/params.h"
#include "jobs/crawl_runner.h"
#include "storage/crawl_store.h"
#include "storage/s3_store.h"

#define BUCKET_MAX 63
#define PREFIX_MAX 1024
#define DEFAULT_ROWS_PER_PAGE 1000

/* A bucket name the S3 client addresses: 1 to 63 of A-Z a-z 0-9 . - _ (as clients/s3_request.c). */
static int
bucket_ok(const char *b)
{
    size_t n = strlen(b), i;

    if (n == 0 || n > BUCKET_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= 'A' && b[i] <= 'Z') ||
              (b[i] >= '0' && b[i] <= '9') || b[i] == '.' || b[i] == '-' || b[i] == '_'))
            return 0;
    return 1;
}

/* The body {bucket, prefix?, mode?}: ERR_BAD_INPUT (not JSON) or ERR_UNPROCESSABLE (shape). */
static enum err
parse_body(const struct request *req, json_t **body, const char **bucket, const char **prefix,
           int *verify, char *errbuf, size_t errlen)
{
    json_error_t jerr;
    json_t *p, *m;

    *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (!*body)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "invalid JSON at line %d: %s", jerr.line,
                       jerr.text);
    *bucket = json_string_value(json_object_get(*body, "bucket"));
    p = json_object_get(*body, "prefix");
    m = json_object_get(*body, "mode");
    *prefix = json_string_value(p);
    *verify = m && json_is_string(m) && strcmp(json_string_value(m), "verify") == 0;
    if (!json_is_object(*body) || !*bucket)
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                       "body must be {\"bucket\": \"...\", \"prefix\": \"...\" (optional), "
                       "\"mode\": \"crawl\" or \"verify\" (optional)}");
    if (!bucket_ok(*bucket))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                       "bucket: must be 1 to %d of A-Z a-z 0-9 . - _", BUCKET_MAX);
    if ((p && !json_is_null(p) && !*prefix) || (*prefix && strlen(*prefix) > PREFIX_MAX) ||
        (*prefix && !params_utf8_ok(*prefix)))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                       "prefix: must be a string of at most %d bytes of UTF-8", PREFIX_MAX);
    if (m && !json_is_null(m) && !*verify &&
        (!json_is_string(m) || strcmp(json_string_value(m), "crawl") != 0))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "mode: must be crawl or verify");
    return ERR_OK;
}

static enum err
submit(struct request *req, json_t **crawl, char *errbuf, size_t errlen)
{
    json_t *body = NULL;
    const char *bucket = NULL, *prefix = NULL;
    int verify = 0;
    enum err rc;

    *crawl = NULL;
    rc = parse_body(req, &body, &bucket, &prefix, &verify, errbuf, errlen);
    if (!rc)
        rc = crawl_store_submit(req->db, bucket, prefix, verify, crawl, errbuf, errlen);
    json_decref(body);
    if (!rc)
        crawl_runner_wake(req->app->crawl_runner);
    return rc;
}

static void
respond_accepted(struct response *res, json_t *crawl)
{
    response_header(res, "Location", "/api/v1/s3/crawl/status/%s",
                    json_string_value(json_object_get(crawl, "s3CrawlId")));
    response_json(res, 202, crawl);
}

void
handle_crawl_post(struct request *req, struct response *res)
{
    json_t *crawl = NULL;
    char errbuf[ERRBUF_SIZE];
    enum err rc = submit(req, &crawl, errbuf, sizeof(errbuf));

    if (rc)
        response_error(res, req, rc, errbuf);
    else
        respond_accepted(res, crawl);
}

/* Poll the crawl (50 ms, doubling to 500 ms) until it ended, the wait is over or shutdown. */
static enum err
wait_for_crawl(struct request *req, json_t **crawl, enum err *failure, char *errbuf, size_t errlen)
{
    char id[37];
    long long deadline = clock_mono_ms() + (long long)req->app->cfg->crawl_sync_wait_s * 1000;
    long step = 50;
    enum err rc = ERR_OK;

    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(*crawl, "s3CrawlId")));
    while (clock_mono_ms() < deadline && !atomic_load(&req->app->stopping)) {
        if (strcmp(json_string_value(json_object_get(*crawl, "status")), "InProgress") != 0)
            break;
        clock_sleep_ms(step);
        step = step < 500 ? step * 2 : 500;
        json_decref(*crawl);
        *crawl = NULL;
        rc = crawl_store_get(req->db, id, crawl, failure, errbuf, errlen);
        if (rc)
            break;
    }
    return rc;
}

void
handle_crawl_sync(struct request *req, struct response *res)
{
    json_t *crawl = NULL;
    char errbuf[ERRBUF_SIZE];
    enum err failure = ERR_OK;
    const char *status;
    enum err rc;

    if (!long_wait_take(req->app)) {
        response_error(res, req, ERR_UNAVAILABLE,
                       "too many requests waiting for jobs: retry later, or POST "
                       "/api/v1/s3/crawl and poll its status");
        return;
    }
    rc = submit(req, &crawl, errbuf, sizeof(errbuf));
    if (!rc)
        rc = wait_for_crawl(req, &crawl, &failure, errbuf, sizeof(errbuf));
    long_wait_release(req->app);
    if (rc) {
        json_decref(crawl);
        response_error(res, req, rc, errbuf);
        return;
    }
    status = json_string_value(json_object_get(crawl, "status"));
    if (strcmp(status, "Completed") == 0) {
        response_json(res, 200, crawl);
    } else if (strcmp(status, "Failed") == 0) {
        snprintf(errbuf, sizeof(errbuf), "crawl %s failed: %s",
                 json_string_value(json_object_get(crawl, "s3CrawlId")),
                 json_string_value(json_object_get(crawl, "error")));
        response_error(res, req, failure ? failure : ERR_UPSTREAM, errbuf);
        json_decref(crawl);
    } else {
        respond_accepted(res, crawl); /* still running: its status says when it ends */
    }
}

/* ---- the list ---- */

struct crawl_query {
    struct crawl_filter f;
    struct buf bucket, prefix;
    int64_t page, rows_per_page;
};

/* A wildcard filter (objects' syntax) into a LIKE pattern; "" prefix means the whole bucket. */
static enum err
like_param(const struct request *req, const char *name, struct buf *out, const char **like,
           char *errbuf, size_t errlen)
{
    char detail[ERRBUF_SIZE];
    enum err rc = ERR_OK;
    const char *v = params_text(req, name, &rc, errbuf, errlen);

    if (rc || !v)
        return rc;
    if (s3_like_pattern(v, out, detail, sizeof(detail)))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: %s", name, detail);
    *like = out->data;
    return ERR_OK;
}

static enum err
parse_query(const struct request *req, struct crawl_query *q, char *errbuf, size_t errlen)
{
    static const char *const known[] = {"bucket", "prefix",      "status", "mode",
                                        "page",   "rowsPerPage", NULL};
    enum err rc;

    memset(q, 0, sizeof(*q));
    buf_init(&q->bucket, 0);
    buf_init(&q->prefix, 0);
    rc = params_known(req, known, errbuf, errlen);
    if (!rc)
        rc = like_param(req, "bucket", &q->bucket, &q->f.bucket_like, errbuf, errlen);
    if (!rc)
        rc = like_param(req, "prefix", &q->prefix, &q->f.prefix_like, errbuf, errlen);
    if (!rc)
        q->f.status = params_text(req, "status", &rc, errbuf, errlen);
    if (!rc && q->f.status && strcmp(q->f.status, "InProgress") != 0 &&
        strcmp(q->f.status, "Completed") != 0 && strcmp(q->f.status, "Failed") != 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "status: must be InProgress, Completed or "
                     "Failed");
    if (!rc)
        q->f.mode = params_text(req, "mode", &rc, errbuf, errlen);
    if (!rc && q->f.mode && strcmp(q->f.mode, "crawl") != 0 && strcmp(q->f.mode, "verify") != 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "mode: must be crawl or verify");
    if (!rc)
        rc = params_int(req, "page", 1, 1000000000, 1, &q->page, errbuf, errlen);
    if (!rc)
        rc = params_int(req, "rowsPerPage", 0, 10000, DEFAULT_ROWS_PER_PAGE, &q->rows_per_page,
                        errbuf, errlen);
    if (q->rows_per_page == 0)
        q->rows_per_page = DEFAULT_ROWS_PER_PAGE;
    q->f.limit = q->rows_per_page;
    q->f.offset = (q->page - 1) * q->rows_per_page;
    return rc;
}

static void
query_release(struct crawl_query *q)
{
    buf_release(&q->bucket);
    buf_release(&q->prefix);
}

/* The URL of this list with another page (absolute with a Host header), as the object list's. */
static json_t *
page_link(const struct request *req, int64_t page)
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
    url = host && params_utf8_ok(host)
              ? json_sprintf("%s://%s%s%s", proto, host, req->path, qs.data)
              : json_sprintf("%s%s", req->path, qs.data);
    buf_release(&qs);
    return url;
}

void
handle_crawl_list(struct request *req, struct response *res)
{
    struct crawl_query q;
    json_t *items = NULL, *body;
    char errbuf[ERRBUF_SIZE];
    int64_t total = 0;
    enum err rc = parse_query(req, &q, errbuf, sizeof(errbuf));

    if (!rc)
        rc = crawl_store_list(req->db, &q.f, &items, &total, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        query_release(&q);
        return;
    }
    body = json_object();
    json_object_set_new(
        body, "links",
        json_pack("{s:o,s:o}", "previous", q.page > 1 ? page_link(req, q.page - 1) : json_null(),
                  "next",
                  q.page * q.rows_per_page < total ? page_link(req, q.page + 1) : json_null()));
    json_object_set_new(body, "pagination",
                        json_pack("{s:I,s:I,s:I}", "count", (json_int_t)total, "page",
                                  (json_int_t)q.page, "rowsPerPage", (json_int_t)q.rows_per_page));
    json_object_set_new(body, "results", items);
    response_json(res, 200, body);
    query_release(&q);
}

void
handle_crawl_count(struct request *req, struct response *res)
{
    struct crawl_query q;
    char errbuf[ERRBUF_SIZE];
    int64_t total = 0;
    enum err rc = parse_query(req, &q, errbuf, sizeof(errbuf));

    if (!rc)
        rc = crawl_store_count(req->db, &q.f, &total, errbuf, sizeof(errbuf));
    if (rc)
        response_error(res, req, rc, errbuf);
    else
        response_json(res, 200, json_pack("{s:I}", "nRecords", (json_int_t)total));
    query_release(&q);
}

void
handle_crawl_get(struct request *req, struct response *res)
{
    json_t *crawl = NULL;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (!params_uuid_ok(req->params[0])) {
        response_problem(res, req, 404, "no such crawl", NULL);
        return;
    }
    rc = crawl_store_get(req->db, req->params[0], &crawl, NULL, errbuf, sizeof(errbuf));
    if (rc)
        response_error(res, req, rc, errbuf);
    else
        response_json(res, 200, crawl);
}
