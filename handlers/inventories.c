/*
 * inventories.c - /api/v1/s3/inventories: inventory ingestion jobs
 */
#include "handlers/handlers.h"

#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "handlers/app.h"
#include "core/log.h"
#include "storage/inventory_store.h"
#include "codec/inventory_decoder.h"
#include "jobs/inventory_runner.h"
#include "handlers/long_wait.h"
#include "handlers/params.h"

/* How long ?wait=true waits for a job before answering with its state (seconds). */
#define WAIT_MAX_S 3600

/*
 * The job's HTTP answer: 200 when it succeeded (wait), the status of the
 * kind of its failure when it failed (wait: 422 bad manifest or data, 502
 * S3 failed), else 202.
 */
static void
respond_job(struct response *res, json_t *job, enum err failure, int waited)
{
    const char *status = json_string_value(json_object_get(job, "status"));
    int code = 202;

    if (waited && strcmp(status, "succeeded") == 0)
        code = 200;
    else if (waited && strcmp(status, "failed") == 0)
        code = err_http_status(failure ? failure : ERR_UNPROCESSABLE);
    if (code == 202)
        response_header(res, "Location", "/api/v1/s3/inventories/%s",
                        json_string_value(json_object_get(job, "id")));
    response_json(res, code, job);
}

/*
 * Submit the job the body describes: {bucket, key} of a manifest in S3, or an
 * inline manifest (validated now). ERR_UNPROCESSABLE with a message for a body
 * of the wrong shape; the store's error otherwise.
 */
static enum err
submit_body(struct request *req, json_t **job, char *errbuf, size_t errlen)
{
    json_t *body;
    json_error_t jerr;
    const char *bucket;
    const char *key;
    int resumed = 0;
    enum err rc;

    body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!body)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "invalid JSON at line %d: %s", jerr.line,
                       jerr.text);
    if (!json_is_object(body)) {
        json_decref(body);
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                       "body must be {\"bucket\", \"key\"} or a manifest");
    }
    if (json_object_get(body, "files") || json_object_get(body, "fileFormat") ||
        json_object_get(body, "destinationBucket")) {
        /* an inline manifest: validated now (422), stored with the job */
        json_decref(body);
        rc = inventory_store_submit(req->db, NULL, NULL, req->body, req->body_len, job, &resumed,
                                    errbuf, errlen);
        return rc == ERR_BAD_INPUT ? ERR_UNPROCESSABLE : rc;
    }
    bucket = json_string_value(json_object_get(body, "bucket"));
    key = json_string_value(json_object_get(body, "key"));
    if (!bucket || !*bucket || !key || !*key || !params_utf8_ok(bucket) || !params_utf8_ok(key) ||
        strlen(bucket) > 255 || strlen(key) > 1024) {
        json_decref(body);
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                       "bucket and key (of a manifest.json or manifest.checksum) are required");
    }
    rc = inventory_store_submit(req->db, bucket, key, NULL, 0, job, &resumed, errbuf, errlen);
    json_decref(body);
    return rc == ERR_BAD_INPUT ? ERR_UNPROCESSABLE : rc;
}

/*
 * ?wait=true: poll the job (50 ms, doubling to 500 ms) until it ended, up to
 * WAIT_MAX_S or shutdown. *waited is 1 when it ended.
 */
static enum err
wait_for_job(struct request *req, json_t **job, enum err *failure, int *waited, char *errbuf,
             size_t errlen)
{
    char id[37];
    long slept = 0;
    long step = 50;
    enum err rc = ERR_OK;

    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(*job, "id")));
    while (slept < WAIT_MAX_S * 1000L && !atomic_load(&req->app->stopping)) {
        const char *status = json_string_value(json_object_get(*job, "status"));

        if (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0) {
            *waited = 1;
            break;
        }
        clock_sleep_ms(step);
        slept += step;
        step = step < 500 ? step * 2 : 500;
        json_decref(*job);
        *job = NULL;
        rc = inventory_store_get(req->db, id, job, failure, errbuf, errlen);
        if (rc)
            break;
    }
    return rc;
}

void
handle_inventories_post(struct request *req, struct response *res)
{
    const char *wait = request_query(req, "wait");
    json_t *job = NULL;
    char errbuf[ERRBUF_SIZE];
    int waited = 0;
    int waiting = 0;
    enum err failure = ERR_OK;
    enum err rc;

    if (wait && strcmp(wait, "true") != 0 && strcmp(wait, "false") != 0) {
        response_problem(res, req, 400, "wait: must be true or false", NULL);
        return;
    }
    if (wait && strcmp(wait, "true") == 0) {
        if (!long_wait_take(req->app)) {
            response_error(res, req, ERR_UNAVAILABLE,
                           "too many ?wait=true inventory submissions waiting: retry later, or "
                           "submit without wait and poll the job");
            return;
        }
        waiting = 1;
    }
    rc = submit_body(req, &job, errbuf, sizeof(errbuf));
    if (rc) {
        if (waiting)
            long_wait_release(req->app);
        response_error(res, req, rc, errbuf);
        return;
    }
    inventory_runner_wake(req->app->inventory_runner);
    if (waiting) {
        rc = wait_for_job(req, &job, &failure, &waited, errbuf, sizeof(errbuf));
        long_wait_release(req->app);
    }
    if (rc) {
        json_decref(job);
        response_error(res, req, rc, errbuf);
        return;
    }
    respond_job(res, job, failure, waited);
}

void
handle_inventories_list(struct request *req, struct response *res)
{
    params_respond_before_page(req, res, "/api/v1/s3/inventories", "job", inventory_store_list);
}

void
handle_inventories_get(struct request *req, struct response *res)
{
    json_t *job = NULL;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (!params_uuid_ok(req->params[0])) {
        response_problem(res, req, 404, "no such inventory job", NULL);
        return;
    }
    rc = inventory_store_get(req->db, req->params[0], &job, NULL, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_json(res, 200, job);
}
