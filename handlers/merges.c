/*
 * merges.c - /api/v1/merges
 */
#include "handlers/handlers.h"

#include <string.h>

#include "core/crashpoint.h"
#include "core/metrics.h"
#include "handlers/app.h"
#include "jobs/exporter.h"
#include "storage/merges_store.h"
#include "storage/repos_history.h"
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
    if (!dry_run) { /* committed: the exports look at the generation now */
        crashpoint("merge.after_commit");
        exporter_wake(req->app->exporter);
        repos_history_sweep(req->db, req->app->cfg->repos_history_s);
    }
    response_json(res, 200, merge);
}

void
handle_merges_list(struct request *req, struct response *res)
{
    params_respond_before_page(req, res, "/api/v1/merges", "merge", merges_store_list);
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
