/*
 * test_handlers_merges.c - /api/v1/merges handlers without sockets
 *
 * Pending events are made with the events handler itself; each test gets a
 * migrated database of its own (handler_support.h), so generations start at 0.
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

#define HEADER "origin,path,branch,cloneUrl,changeset,publishUri\n"

/* Upload one pending event (201). */
static void
upload(struct hs_app *a, const char *csv)
{
    struct hs_req r;
    struct response res;

    hs_req_init(&r, a, "POST", "/api/v1/events");
    hs_req_body_str(&r, csv);
    hs_run(&r, handle_events_post, &res);
    hs_want_status(&res, 201);
    response_release(&res);
    hs_req_release(&r);
}

/* POST /api/v1/merges with an optional JSON body; res is the caller's. */
static void
merge(struct hs_app *a, const char *json, struct response *res)
{
    struct hs_req r;

    hs_req_init(&r, a, "POST", "/api/v1/merges");
    if (json) {
        hs_req_header(&r, "Content-Type", "application/json");
        hs_req_body_str(&r, json);
    }
    hs_run(&r, handle_merges_post, res);
    hs_req_release(&r);
}

/* Merge, want 200; returns the merge object (caller json_decref()s). */
static json_t *
merge_ok(struct hs_app *a, const char *json)
{
    struct response res;
    json_t *m;

    merge(a, json, &res);
    m = hs_want_json(&res, 200);
    response_release(&res);
    return m;
}

/* Number of events with this status, through the events list. */
static size_t
events_with_status(struct hs_app *a, const char *status)
{
    struct hs_req r;
    struct response res;
    json_t *body;
    size_t n;

    hs_req_init(&r, a, "GET", "/api/v1/events");
    hs_req_query(&r, "status", status);
    hs_run(&r, handle_events_list, &res);
    hs_req_release(&r);
    body = hs_want_json(&res, 200);
    n = json_array_size(json_object_get(body, "items"));
    json_decref(body);
    response_release(&res);
    return n;
}

static void
test_merge_nothing_pending(void **state)
{
    struct hs_app *a = *state;
    json_t *m = merge_ok(a, NULL);

    hs_want_members(m, "{\"status\":\"succeeded\",\"dry_run\":false,\"events\":0,\"rows\":0,"
                       "\"added\":0,\"updated\":0,\"unchanged\":0,\"skipped\":0,"
                       "\"columns_added\":[],\"generation\":0}");
    assert_true(th_is_uuid(th_jstr(m, "id")));
    assert_true(th_is_ts(th_jstr(m, "started_at")));
    assert_true(th_is_ts(th_jstr(m, "finished_at")));
    assert_true(th_jint(m, "duration_ms") >= 0);
    json_decref(m);
}

static void
test_dry_run_then_merge(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *dry;
    json_t *real;
    json_t *got;
    char *path;

    upload(a, HEADER "github.com,org/a,main,u,h1,p\n"
                     "github.com,org/b,main,u,h2,p\n");
    dry = merge_ok(a, "{\"dry_run\": true}");
    hs_want_members(dry, "{\"dry_run\":true,\"events\":1,\"rows\":2,\"added\":2,\"generation\":1}");
    /* nothing stored: the event is still pending and merges again */
    assert_int_equal(events_with_status(a, "pending"), 1);
    real = merge_ok(a, "{\"dry_run\": false}");
    hs_want_members(real, "{\"dry_run\":false,\"events\":1,\"rows\":2,\"added\":2,\"updated\":0,"
                          "\"skipped\":0,\"generation\":1}");
    assert_int_equal(events_with_status(a, "pending"), 0);
    assert_int_equal(events_with_status(a, "merged"), 1);

    path = th_strf("/api/v1/merges/%s", th_jstr(real, "id"));
    hs_call(a, "GET", path, handle_merges_get, &res);
    got = hs_want_json(&res, 200);
    assert_true(json_equal(got, real));
    json_decref(got);
    response_release(&res);
    free(path);
    json_decref(dry);
    json_decref(real);
}

static void
test_list_newest_first(void **state)
{
    struct hs_app *a = *state;
    json_t *m1;
    json_t *m2;
    struct hs_req r;
    struct response res;
    json_t *body;
    json_t *items;
    char *next;

    upload(a, HEADER "github.com,org/a,main,u,h1,p\n");
    m1 = merge_ok(a, NULL);
    upload(a, HEADER "github.com,org/a,main,u,h2,p\n");
    m2 = merge_ok(a, NULL);
    hs_want_members(m2, "{\"updated\":1,\"generation\":2}");

    hs_req_init(&r, a, "GET", "/api/v1/merges");
    hs_req_query(&r, "limit", "1");
    hs_run(&r, handle_merges_list, &res);
    hs_req_release(&r);
    body = hs_want_json(&res, 200);
    items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_true(json_equal(json_array_get(items, 0), m2));
    next = th_strf("/api/v1/merges?limit=1&before=%s", th_jstr(m2, "id"));
    assert_string_equal(th_jstr(body, "next"), next);
    free(next);
    json_decref(body);
    response_release(&res);

    hs_req_init(&r, a, "GET", "/api/v1/merges");
    hs_req_query(&r, "limit", "1");
    hs_req_query(&r, "before", th_jstr(m2, "id"));
    hs_run(&r, handle_merges_list, &res);
    hs_req_release(&r);
    body = hs_want_json(&res, 200);
    items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_true(json_equal(json_array_get(items, 0), m1));
    assert_true(json_is_null(json_object_get(body, "next")));
    json_decref(body);
    response_release(&res);
    json_decref(m1);
    json_decref(m2);
}

static void
test_bad_options(void **state)
{
    static const struct {
        const char *body;
        int status;
        const char *detail;
    } cases[] = {
        {"{\"dry_run\": tru", 400, "invalid JSON"},
        {"{\"dry_run\": true, \"dry_run\": false}", 400, "invalid JSON"},
        {"[true]", 422, "JSON object"},
        {"{\"dry_run\": \"yes\"}", 422, "dry_run must be true or false"},
        {"{\"force\": true}", 422, "unknown field \"force\""},
    };
    struct hs_app *a = *state;
    size_t i;

    upload(a, HEADER "github.com,org/a,main,u,h1,p\n");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct response res;
        json_t *p;

        merge(a, cases[i].body, &res);
        p = hs_want_problem(&res, cases[i].status, cases[i].detail);
        json_decref(p);
        response_release(&res);
    }
    /* none of them merged anything */
    assert_int_equal(events_with_status(a, "pending"), 1);
}

static void
test_get_unknown(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *p;

    hs_call(a, "GET", "/api/v1/merges/42", handle_merges_get, &res);
    p = hs_want_problem(&res, 404, "no such merge");
    json_decref(p);
    response_release(&res);
    hs_call(a, "GET", "/api/v1/merges/0b8a1c2e-0000-4000-8000-000000000000", handle_merges_get,
            &res);
    p = hs_want_problem(&res, 404, "no such merge");
    json_decref(p);
    response_release(&res);
}

static void
test_list_bad_query(void **state)
{
    static const char *const cases[][3] = {
        {"before", "yesterday", "before: must be a merge id"},
        {"before", "0b8a1c2e-0000-4000-8000-000000000000", "no such merge"},
        {"limit", "ten", "limit"},
        {"after", "1", "unknown query parameter \"after\""},
    };
    struct hs_app *a = *state;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hs_req r;
        struct response res;
        json_t *p;

        hs_req_init(&r, a, "GET", "/api/v1/merges");
        hs_req_query(&r, cases[i][0], cases[i][1]);
        hs_run(&r, handle_merges_list, &res);
        hs_req_release(&r);
        p = hs_want_problem(&res, 400, cases[i][2]);
        json_decref(p);
        response_release(&res);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_nothing_pending, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_then_merge, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_list_newest_first, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_get_unknown, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_list_bad_query, hs_setup, hs_teardown),
    };

    return cmocka_run_group_tests(tests, hs_group_setup, hs_group_teardown);
}
