/*
 * merges.c - /api/v1/merges
 */
#include "handlers/handlers.h"

#include <string.h>

#include "core/metrics.h"
#include "handlers/app.h"
#include "storage/merges_store.h"
#include "handlers/params.h"

/* Optional body {"dry_run": bool}; anything else is a 400/422. */
static enum err
parse_options(const struct request *req, int *dry_run, char *errbuf, size_t errlen)
{
    json_t *o;
    json_error_t jerr;
    const char *k;
    json_t *v;
    enum err rc = ERR_OK;

    *dry_run = 0;
    if (req->body_len == 0)
        return ERR_OK;
    o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "invalid JSON at line %d: %s", jerr.line,
                       jerr.text);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "body must be a JSON object");
    }
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "dry_run") != 0) {
            rc = err_set(ERR_UNPROCESSABLE, errbuf, errlen, "unknown field \"%.64s\"", k);
            break;
        }
        if (!json_is_boolean(v)) {
            rc = err_set(ERR_UNPROCESSABLE, errbuf, errlen, "dry_run must be true or false");
            break;
        }
        *dry_run = json_is_true(v);
    }
    json_decref(o);
    return rc;
}

void
handle_merges_post(struct request *req, struct response *res)
{
    json_t *merge = NULL;
    char errbuf[ERRBUF_SIZE];
    int dry_run;
    enum err rc;

    rc = parse_options(req, &dry_run, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    rc = merges_store_run(req->db, dry_run, &merge, errbuf, sizeof(errbuf));
    if (!dry_run) {
        const char *status[] = {rc ? "failed" : "succeeded"};

        metrics_add(req->app->metrics, M_MERGES_TOTAL, status, 1);
        if (!rc)
            metrics_observe(req->app->metrics, M_MERGE_DURATION, NULL,
                            (double)json_integer_value(json_object_get(merge, "duration_ms")) /
                                1000.0);
    }
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_json(res, 200, merge);
}

void
handle_merges_list(struct request *req, struct response *res)
{
    static const char *const known[] = {"limit", "before", NULL};
    const char *before = request_query(req, "before");
    json_t *items = NULL;
    json_t *body;
    char errbuf[ERRBUF_SIZE];
    int64_t limit;
    int more = 0;
    enum err rc;

    rc = params_known(req, known, errbuf, sizeof(errbuf));
    if (!rc)
        rc = params_int(req, "limit", 1, 1000, 100, &limit, errbuf, sizeof(errbuf));
    if (!rc && before && !params_uuid_ok(before))
        rc = err_set(ERR_BAD_INPUT, errbuf, sizeof(errbuf), "before: must be a merge id");
    if (!rc)
        rc = merges_store_list(req->db, before, (int)limit, &items, &more, errbuf, sizeof(errbuf));
    if (rc == ERR_NOT_FOUND)
        rc = ERR_BAD_INPUT;
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    body = json_object();
    json_object_set_new(body, "items", items);
    if (more) {
        json_t *last = json_array_get(items, json_array_size(items) - 1);

        json_object_set_new(body, "next",
                            json_sprintf("/api/v1/merges?limit=%lld&before=%s", (long long)limit,
                                         json_string_value(json_object_get(last, "id"))));
    } else {
        json_object_set_new(body, "next", json_null());
    }
    response_json(res, 200, body);
}

void
handle_merges_get(struct request *req, struct response *res)
{
    json_t *merge = NULL;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (!params_uuid_ok(req->params[0])) {
        response_problem(res, req, 404, "no such merge", NULL);
        return;
    }
    rc = merges_store_get(req->db, req->params[0], &merge, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_json(res, 200, merge);
}
