/*
 * objects.c - GET /api/v1/s3/objects, /count, /{id} (filemanager-compatible)
 *
 * The same handlers serve the filemanager's paths GET /api/v1/s3,
 * /api/v1/s3/count and /api/v1/s3/{id} (server/routes.c), and the list
 * also GET /api/v1/s3/attributes (every parameter but paging,
 * caseSensitive and currentState is an attribute filter). The query
 * parameters are read by s3_filter.c.
 */
#include "handlers/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/params.h"
#include "handlers/s3_filter.h"
#include "storage/s3_store.h"

/*
 * The list answer of a query: links, pagination, results. The results are
 * JSON text from the store (a 1,000-record page is written, not built as
 * jansson objects); the rest is dumped and the two are joined.
 */
static void
respond_list(struct request *req, struct response *res, enum s3_filter_mode mode)
{
    struct s3_query q;
    struct buf results;
    struct buf body;
    json_t *head;
    char *text;
    char errbuf[ERRBUF_SIZE];
    struct s3_total total = {0, 1};
    int64_t page = 1;
    size_t n = 0;
    enum err rc;

    s3_query_init(&q);
    buf_init(&results, 0);
    rc = s3_filter_parse(req, mode, &q, &page, errbuf, sizeof(errbuf));
    if (!rc)
        rc = s3_store_list(req->db, &q, &results, &n, &total, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        goto out;
    }
    head = json_object();
    json_object_set_new(
        head, "links",
        json_pack("{s:o,s:o}", "previous",
                  page > 1 ? s3_filter_page_link(req, page - 1) : json_null(), "next",
                  page * q.limit < total.count ? s3_filter_page_link(req, page + 1) : json_null()));
    /* count: exact below the cap, else a lower bound and countIsExact false (s3_store.h) */
    json_object_set_new(head, "pagination",
                        json_pack("{s:I,s:I,s:I,s:b}", "count", (json_int_t)total.count, "page",
                                  (json_int_t)page, "rowsPerPage", (json_int_t)q.limit,
                                  "countIsExact", total.exact));
    text = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(head);
    if (!text) /* out of memory: jansson's only failure for an object built here */
        abort();
    /* {"links":..,"pagination":..} without its '}', then the results */
    buf_init(&body, 0);
    buf_append(&body, text, strlen(text) - 1);
    buf_append_str(&body, ",\"results\":");
    buf_append(&body, results.data, results.len);
    buf_append_char(&body, '}');
    response_json_buf(res, 200, &body);
    free(text);
out:
    buf_release(&results);
    s3_query_release(&q);
}

void
handle_objects_list(struct request *req, struct response *res)
{
    respond_list(req, res, S3_FILTER_LIST);
}

void
handle_objects_attributes(struct request *req, struct response *res)
{
    respond_list(req, res, S3_FILTER_ATTRIBUTES);
}

void
handle_objects_count(struct request *req, struct response *res)
{
    struct s3_query q;
    char errbuf[ERRBUF_SIZE];
    int64_t total = 0;
    int64_t page = 1;
    enum err rc;

    s3_query_init(&q);
    rc = s3_filter_parse(req, S3_FILTER_LIST, &q, &page, errbuf, sizeof(errbuf));
    if (!rc)
        rc = s3_store_count(req->db, &q, &total, errbuf, sizeof(errbuf));
    if (rc)
        response_error(res, req, rc, errbuf);
    else
        response_json(res, 200, json_pack("{s:I}", "nRecords", (json_int_t)total));
    s3_query_release(&q);
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
