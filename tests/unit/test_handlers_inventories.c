/*
 * test_handlers_inventories.c - /api/v1/s3/inventories handlers without sockets
 *
 * Submitting a job only records it in PostgreSQL and wakes the runner; the
 * test app has no runner (handler_support.h), so jobs stay queued and no S3
 * is needed. A finished job is made with SQL where a test needs one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "handler_support.h"
#include "handlers/handlers.h"

#define INLINE_MANIFEST                                                                            \
    "{\"sourceBucket\":\"src\",\"destinationBucket\":\"arn:aws:s3:::inv-dest\","                   \
    "\"version\":\"2016-11-30\",\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Key\","            \
    "\"files\":[{\"key\":\"src/data/0.csv.gz\",\"size\":20,"                                       \
    "\"MD5checksum\":\"d41d8cd98f00b204e9800998ecf8427e\"}]}"

/* POST body (with ?wait= when wait is not NULL); res is the caller's. */
static void
submit(struct hs_app *a, const char *body, const char *wait, struct response *res)
{
    struct hs_req r;

    hs_req_init(&r, a, "POST", "/api/v1/s3/inventories");
    hs_req_header(&r, "Content-Type", "application/json");
    if (wait)
        hs_req_query(&r, "wait", wait);
    hs_req_body_str(&r, body);
    hs_run(&r, handle_inventories_post, res);
    hs_req_release(&r);
}

/* Submit, want 202 with a Location naming the job; returns the job (caller json_decref()s). */
static json_t *
submit_accepted(struct hs_app *a, const char *body)
{
    struct response res;
    json_t *job;
    char *location;

    submit(a, body, NULL, &res);
    job = hs_want_json(&res, 202);
    location = th_strf("/api/v1/s3/inventories/%s", th_jstr(job, "id"));
    hs_want_header(&res, "Location", location);
    free(location);
    response_release(&res);
    return job;
}

/* GET /api/v1/s3/inventories/{id}, want 200; returns the job. */
static json_t *
get_job(struct hs_app *a, const char *id)
{
    struct response res;
    json_t *job;
    char *path = th_strf("/api/v1/s3/inventories/%s", id);

    hs_call(a, "GET", path, handle_inventories_get, &res);
    job = hs_want_json(&res, 200);
    response_release(&res);
    free(path);
    return job;
}

/* GET /api/v1/s3/inventories with query pairs; res is the caller's. */
static void
list(struct hs_app *a, struct response *res, ...)
{
    struct hs_req r;
    const char *name;
    va_list ap;

    hs_req_init(&r, a, "GET", "/api/v1/s3/inventories");
    va_start(ap, res);
    while ((name = va_arg(ap, const char *)) != NULL)
        hs_req_query(&r, name, va_arg(ap, const char *));
    va_end(ap);
    hs_run(&r, handle_inventories_list, res);
    hs_req_release(&r);
}

static void
test_submit_manifest_location(void **state)
{
    struct hs_app *a = *state;
    json_t *job = submit_accepted(a, "{\"bucket\":\"inv\",\"key\":\"src/manifest.json\"}");
    json_t *got;

    hs_want_members(job, "{\"status\":\"queued\",\"phase\":\"queued\",\"bucket\":\"inv\","
                         "\"key\":\"src/manifest.json\",\"format\":null,\"files_total\":0,"
                         "\"files_done\":0,\"records\":0,\"bytes\":0,\"bytes_total\":null,"
                         "\"started_at\":null,\"finished_at\":null,\"error\":null,"
                         "\"summary\":null}");
    assert_true(th_is_uuid(th_jstr(job, "id")));
    assert_true(th_is_ts(th_jstr(job, "created_at")));
    assert_null(json_object_get(job, "_error_status"));
    got = get_job(a, th_jstr(job, "id"));
    assert_true(json_equal(got, job));
    json_decref(got);
    json_decref(job);
}

static void
test_failed_job_resumes(void **state)
{
    struct hs_app *a = *state;
    const char *body = "{\"bucket\":\"inv\",\"key\":\"src/manifest.checksum\"}";
    json_t *job = submit_accepted(a, body);
    json_t *again = submit_accepted(a, body);
    char *sql;

    /* the same source while queued: the same job */
    assert_string_equal(th_jstr(again, "id"), th_jstr(job, "id"));
    json_decref(again);

    /* a failed job shows its error, not the internal HTTP status of a wait */
    sql = th_strf("UPDATE inventory_jobs SET status = 'failed', error = 'manifest not found',"
                  " error_kind = 'upstream', finished_at = now() WHERE id = '%s'",
                  th_jstr(job, "id"));
    hs_app_exec(a, sql);
    free(sql);
    again = get_job(a, th_jstr(job, "id"));
    hs_want_members(again, "{\"status\":\"failed\",\"phase\":\"done\","
                           "\"error\":\"manifest not found\"}");
    assert_null(json_object_get(again, "_error_status"));
    json_decref(again);

    /* submitted again, it is queued again */
    again = submit_accepted(a, body);
    assert_string_equal(th_jstr(again, "id"), th_jstr(job, "id"));
    hs_want_members(again, "{\"status\":\"queued\",\"phase\":\"queued\",\"error\":null,"
                           "\"finished_at\":null}");
    assert_null(json_object_get(again, "_error_status"));
    json_decref(again);
    json_decref(job);
}

static void
test_submit_inline_manifest(void **state)
{
    struct hs_app *a = *state;
    json_t *job = submit_accepted(a, INLINE_MANIFEST);

    /* an inline manifest is read at once: its files and their sizes are known */
    hs_want_members(job, "{\"status\":\"queued\",\"phase\":\"queued\",\"bucket\":null,"
                         "\"key\":null,\"format\":\"CSV\",\"files_total\":1,\"files_done\":0,"
                         "\"bytes_total\":20}");
    json_decref(job);
}

static void
test_wait_gives_up_when_stopping(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *job;

    /* on shutdown ?wait=true does not wait: 202 with the queued job */
    atomic_store(&a->app.stopping, 1);
    submit(a, "{\"bucket\":\"inv\",\"key\":\"w/manifest.json\"}", "true", &res);
    job = hs_want_json(&res, 202);
    hs_want_members(job, "{\"status\":\"queued\"}");
    assert_non_null(response_get_header(&res, "Location"));
    json_decref(job);
    response_release(&res);
}

static void
test_bad_submissions(void **state)
{
    static const struct {
        const char *body;
        const char *wait;
        int status;
        const char *detail;
    } cases[] = {
        {"{\"bucket\":\"inv\",\"key\":\"k\"}", "yes", 400, "wait: must be true or false"},
        {"bucket=inv", NULL, 400, "invalid JSON"},
        {"[\"inv\", \"k\"]", NULL, 422, "body must be"},
        {"{\"bucket\":\"inv\"}", NULL, 422, "bucket and key"},
        {"{\"bucket\":\"\",\"key\":\"k\"}", NULL, 422, "bucket and key"},
        {"{\"bucket\":\"inv\",\"key\":7}", NULL, 422, "bucket and key"},
        {"{\"destinationBucket\":\"inv-dest\",\"fileFormat\":\"JSON\",\"files\":[{\"key\":\"x\"}]}",
         NULL, 422, "fileFormat"},
        {"{\"destinationBucket\":\"inv-dest\",\"fileFormat\":\"CSV\",\"files\":{}}", NULL, 422,
         "files"},
    };
    struct hs_app *a = *state;
    struct response res;
    json_t *body;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *p;

        submit(a, cases[i].body, cases[i].wait, &res);
        p = hs_want_problem(&res, cases[i].status, cases[i].detail);
        hs_want_header(&res, "Location", NULL);
        json_decref(p);
        response_release(&res);
    }
    /* no job was recorded */
    list(a, &res, NULL);
    body = hs_want_json(&res, 200);
    hs_want_members(body, "{\"items\":[],\"next\":null}");
    json_decref(body);
    response_release(&res);
}

static void
test_list_newest_first(void **state)
{
    struct hs_app *a = *state;
    json_t *j1 = submit_accepted(a, "{\"bucket\":\"inv\",\"key\":\"1/manifest.json\"}");
    json_t *j2 = submit_accepted(a, "{\"bucket\":\"inv\",\"key\":\"2/manifest.json\"}");
    json_t *j3 = submit_accepted(a, "{\"bucket\":\"inv\",\"key\":\"3/manifest.json\"}");
    struct response res;
    json_t *body;
    json_t *items;
    char *next;

    list(a, &res, "limit", "2", NULL);
    body = hs_want_json(&res, 200);
    items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_true(json_equal(json_array_get(items, 0), j3));
    assert_true(json_equal(json_array_get(items, 1), j2));
    next = th_strf("/api/v1/s3/inventories?limit=2&before=%s", th_jstr(j2, "id"));
    assert_string_equal(th_jstr(body, "next"), next);
    free(next);
    json_decref(body);
    response_release(&res);

    list(a, &res, "limit", "2", "before", th_jstr(j2, "id"), NULL);
    body = hs_want_json(&res, 200);
    items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_true(json_equal(json_array_get(items, 0), j1));
    assert_true(json_is_null(json_object_get(body, "next")));
    json_decref(body);
    response_release(&res);
    json_decref(j1);
    json_decref(j2);
    json_decref(j3);
}

static void
test_get_unknown(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *p;

    hs_call(a, "GET", "/api/v1/s3/inventories/latest", handle_inventories_get, &res);
    p = hs_want_problem(&res, 404, "no such inventory job");
    json_decref(p);
    response_release(&res);
    hs_call(a, "GET", "/api/v1/s3/inventories/4f0f2b9a-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
            handle_inventories_get, &res);
    p = hs_want_problem(&res, 404, NULL);
    json_decref(p);
    response_release(&res);
}

static void
test_list_bad_query(void **state)
{
    static const char *const cases[][3] = {
        {"before", "last", "before: must be a job id"},
        {"limit", "-1", "limit"},
        {"status", "queued", "unknown query parameter \"status\""},
    };
    struct hs_app *a = *state;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct response res;
        json_t *p;

        list(a, &res, cases[i][0], cases[i][1], NULL);
        p = hs_want_problem(&res, 400, cases[i][2]);
        json_decref(p);
        response_release(&res);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_submit_manifest_location, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_failed_job_resumes, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_submit_inline_manifest, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_wait_gives_up_when_stopping, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_bad_submissions, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_list_newest_first, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_get_unknown, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_list_bad_query, hs_setup, hs_teardown),
    };

    return cmocka_run_group_tests(tests, hs_group_setup, hs_group_teardown);
}
