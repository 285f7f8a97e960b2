/*
 * test_handlers_events.c - /api/v1/events handlers without sockets
 *
 * Each test gets a migrated database of its own (handler_support.h). The
 * request body is the decoded CSV as the adapter hands it over (gzip and
 * multipart are the adapter's and the codecs' business, tested elsewhere).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler_support.h"
#include "handlers/handlers.h"

#define HEADER "origin,path,branch,cloneUrl,changeset,publishUri\n"
#define CSV_AB                                                                                     \
    HEADER "github.com,org/a,main,https://github.com/org/a,hashA,https://art/a.jar\n"              \
           "github.com,org/b,main,https://github.com/org/b,hashB,https://art/b.jar\n"

/* POST csv with the optional Idempotency-Key and X-Event-Source; res is the caller's. */
static void
post(struct hs_app *a, const char *csv, const char *key, const char *source, struct response *res)
{
    struct hs_req r;

    hs_req_init(&r, a, "POST", "/api/v1/events");
    hs_req_header(&r, "Content-Type", "text/csv");
    if (key)
        hs_req_header(&r, "Idempotency-Key", key);
    if (source)
        hs_req_header(&r, "X-Event-Source", source);
    hs_req_body_str(&r, csv);
    hs_run(&r, handle_events_post, res);
    hs_req_release(&r);
}

/* POST csv, want 201; returns the event (caller json_decref()s). */
static json_t *
post_created(struct hs_app *a, const char *csv)
{
    struct response res;
    json_t *event;

    post(a, csv, NULL, NULL, &res);
    event = hs_want_json(&res, 201);
    response_release(&res);
    return event;
}

static void
test_post_created(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *event;
    char digest[65];
    char *location;
    char *want;

    post(a, CSV_AB, "key-1", "worker-3", &res);
    event = hs_want_json(&res, 201);
    th_sha256_hex(CSV_AB, strlen(CSV_AB), digest);
    want = th_strf("{\"status\":\"pending\",\"source\":\"worker-3\",\"rows\":2,\"bytes\":%zu,"
                   "\"sha256\":\"%s\",\"columns\":[\"origin\",\"path\",\"branch\",\"cloneUrl\","
                   "\"changeset\",\"publishUri\"],\"merge_id\":null,\"merged_at\":null,"
                   "\"duplicate\":false}",
                   strlen(CSV_AB), digest);
    hs_want_members(event, want);
    assert_true(th_is_uuid(th_jstr(event, "id")));
    assert_true(th_is_ts(th_jstr(event, "received_at")));
    assert_true(th_jint(event, "sequence") > 0);
    location = th_strf("/api/v1/events/%s", th_jstr(event, "id"));
    hs_want_header(&res, "Location", location);
    free(location);
    free(want);
    json_decref(event);
    response_release(&res);
}

static void
test_post_idempotency_key_retry(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *first;
    json_t *again;

    post(a, CSV_AB, "retry-key", NULL, &res);
    first = hs_want_json(&res, 201);
    response_release(&res);
    /* the same key returns the original event, whatever the body */
    post(a, HEADER "gitlab.com,x/y,dev,u,c,p\n", "retry-key", NULL, &res);
    again = hs_want_json(&res, 200);
    hs_want_header(&res, "Location", NULL);
    hs_want_members(again, "{\"duplicate\":true,\"rows\":2}");
    assert_string_equal(th_jstr(again, "id"), th_jstr(first, "id"));
    json_decref(first);
    json_decref(again);
    response_release(&res);
}

static void
test_post_same_content_is_duplicate(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *first = post_created(a, CSV_AB);
    json_t *again;

    post(a, CSV_AB, NULL, NULL, &res);
    again = hs_want_json(&res, 200);
    hs_want_members(again, "{\"duplicate\":true}");
    assert_string_equal(th_jstr(again, "id"), th_jstr(first, "id"));
    json_decref(first);
    json_decref(again);
    response_release(&res);
}

static void
test_post_malformed_csv(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *p;
    json_t *errors;

    post(a, HEADER "github.com,org/a,main\n", NULL, NULL, &res);
    p = hs_want_problem(&res, 400, "line 2");
    errors = json_object_get(p, "errors");
    assert_true(json_is_array(errors));
    assert_int_equal(json_array_size(errors), 1);
    assert_int_equal(th_jint(json_array_get(errors, 0), "line"), 2);
    json_decref(p);
    response_release(&res);

    post(a, "branch,changeset\nmain,abc\n", NULL, NULL, &res);
    p = hs_want_problem(&res, 400, "origin");
    json_decref(p);
    response_release(&res);

    post(a, "", NULL, NULL, &res);
    p = hs_want_problem(&res, 400, "empty body");
    json_decref(p);
    response_release(&res);
}

static void
test_post_bad_headers(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *p;

    post(a, CSV_AB, "has space", NULL, &res);
    p = hs_want_problem(&res, 400, "Idempotency-Key");
    json_decref(p);
    response_release(&res);

    post(a, CSV_AB, NULL, "tab\there", &res);
    p = hs_want_problem(&res, 400, "X-Event-Source");
    json_decref(p);
    response_release(&res);

    post(a, CSV_AB, NULL, "\xff\xfe", &res);
    p = hs_want_problem(&res, 400, "X-Event-Source");
    json_decref(p);
    response_release(&res);
}

static void
test_post_over_row_limit(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *p;

    /* a row limit is a shape rule (400); only the body size is a 413, and the adapter owns it */
    a->cfg.max_rows = 1;
    post(a, CSV_AB, NULL, NULL, &res);
    p = hs_want_problem(&res, 400, "more than 1 rows");
    json_decref(p);
    response_release(&res);
}

static void
test_get_and_content(void **state)
{
    struct hs_app *a = *state;
    json_t *event = post_created(a, CSV_AB);
    struct response res;
    json_t *got;
    const char *data;
    size_t len;
    char *path;

    path = th_strf("/api/v1/events/%s", th_jstr(event, "id"));
    hs_call(a, "GET", path, handle_events_get, &res);
    got = hs_want_json(&res, 200);
    assert_true(json_equal(got, event));
    json_decref(got);
    response_release(&res);
    free(path);

    path = th_strf("/api/v1/events/%s/content", th_jstr(event, "id"));
    hs_call(a, "GET", path, handle_events_content, &res);
    hs_want_status(&res, 200);
    hs_want_content_type(&res, "text/csv; charset=utf-8");
    data = hs_body(&res, &len);
    assert_int_equal(len, strlen(CSV_AB));
    assert_memory_equal(data, CSV_AB, len);
    response_release(&res);
    free(path);
    json_decref(event);
}

static void
test_unknown_ids_are_404(void **state)
{
    static const char *const paths[] = {"/api/v1/events/not-a-uuid",
                                        "/api/v1/events/7a0e7e52-4bd4-4bd5-9fd1-6c2d52b3c7a1"};
    struct hs_app *a = *state;
    struct response res;
    json_t *p;
    size_t i;

    for (i = 0; i < 2; i++) {
        char *content = th_strf("%s/content", paths[i]);

        hs_call(a, "GET", paths[i], handle_events_get, &res);
        p = hs_want_problem(&res, 404, "no such event");
        json_decref(p);
        response_release(&res);
        hs_call(a, "GET", content, handle_events_content, &res);
        p = hs_want_problem(&res, 404, "no such event");
        json_decref(p);
        response_release(&res);
        hs_call(a, "DELETE", paths[i], handle_events_delete, &res);
        p = hs_want_problem(&res, 404, "no such event");
        json_decref(p);
        response_release(&res);
        free(content);
    }
}

static void
test_list_pages(void **state)
{
    struct hs_app *a = *state;
    json_t *e1 = post_created(a, CSV_AB);
    json_t *e2 = post_created(a, HEADER "gitlab.com,x/y,dev,u,c,p\n");
    json_t *e3 = post_created(a, HEADER "gitlab.com,x/z,dev,u,c,p\n");
    struct hs_req r;
    struct response res;
    json_t *body;
    json_t *items;
    char *next;
    char after[32];

    hs_req_init(&r, a, "GET", "/api/v1/events");
    hs_req_query(&r, "status", "pending");
    hs_req_query(&r, "limit", "2");
    hs_run(&r, handle_events_list, &res);
    hs_req_release(&r);
    body = hs_want_json(&res, 200);
    items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_true(json_equal(json_array_get(items, 0), e1));
    assert_true(json_equal(json_array_get(items, 1), e2));
    next = th_strf("/api/v1/events?status=pending&limit=2&after=%lld",
                   (long long)th_jint(e2, "sequence"));
    assert_string_equal(th_jstr(body, "next"), next);
    free(next);
    json_decref(body);
    response_release(&res);

    /* the next page, as the link says */
    snprintf(after, sizeof(after), "%lld", (long long)th_jint(e2, "sequence"));
    hs_req_init(&r, a, "GET", "/api/v1/events");
    hs_req_query(&r, "status", "pending");
    hs_req_query(&r, "limit", "2");
    hs_req_query(&r, "after", after);
    hs_run(&r, handle_events_list, &res);
    hs_req_release(&r);
    body = hs_want_json(&res, 200);
    items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_true(json_equal(json_array_get(items, 0), e3));
    assert_true(json_is_null(json_object_get(body, "next")));
    json_decref(body);
    response_release(&res);

    /* nothing merged yet */
    hs_req_init(&r, a, "GET", "/api/v1/events");
    hs_req_query(&r, "status", "merged");
    hs_run(&r, handle_events_list, &res);
    hs_req_release(&r);
    body = hs_want_json(&res, 200);
    assert_int_equal(json_array_size(json_object_get(body, "items")), 0);
    json_decref(body);
    response_release(&res);
    json_decref(e1);
    json_decref(e2);
    json_decref(e3);
}

static void
test_list_bad_query(void **state)
{
    static const char *const cases[][3] = {
        {"status", "done", "status"},
        {"limit", "0", "limit"},
        {"limit", "1001", "limit"},
        {"after", "-1", "after"},
        {"colour", "red", "unknown query parameter \"colour\""},
        {"source", "\xc3\x28", "source"},
    };
    struct hs_app *a = *state;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hs_req r;
        struct response res;
        json_t *p;

        hs_req_init(&r, a, "GET", "/api/v1/events");
        hs_req_query(&r, cases[i][0], cases[i][1]);
        hs_run(&r, handle_events_list, &res);
        hs_req_release(&r);
        p = hs_want_problem(&res, 400, cases[i][2]);
        json_decref(p);
        response_release(&res);
    }
}

static void
test_delete_pending_then_merged(void **state)
{
    struct hs_app *a = *state;
    json_t *gone = post_created(a, CSV_AB);
    json_t *kept = post_created(a, HEADER "gitlab.com,x/y,dev,u,c,p\n");
    struct response res;
    json_t *p;
    const char *data;
    size_t len;
    char *path;

    path = th_strf("/api/v1/events/%s", th_jstr(gone, "id"));
    hs_call(a, "DELETE", path, handle_events_delete, &res);
    hs_want_status(&res, 204);
    data = hs_body(&res, &len);
    assert_int_equal(len, 0);
    (void)data;
    response_release(&res);
    hs_call(a, "GET", path, handle_events_get, &res);
    p = hs_want_problem(&res, 404, "no such event");
    json_decref(p);
    response_release(&res);
    free(path);

    /* once merged, an event stays */
    hs_call(a, "POST", "/api/v1/merges", handle_merges_post, &res);
    hs_want_status(&res, 200);
    response_release(&res);
    path = th_strf("/api/v1/events/%s", th_jstr(kept, "id"));
    hs_call(a, "DELETE", path, handle_events_delete, &res);
    p = hs_want_problem(&res, 409, "already merged");
    json_decref(p);
    response_release(&res);
    hs_call(a, "GET", path, handle_events_get, &res);
    p = hs_want_json(&res, 200);
    hs_want_members(p, "{\"status\":\"merged\"}");
    json_decref(p);
    response_release(&res);
    free(path);
    json_decref(gone);
    json_decref(kept);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_created, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_post_idempotency_key_retry, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_post_same_content_is_duplicate, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_post_malformed_csv, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_post_bad_headers, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_post_over_row_limit, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_get_and_content, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_ids_are_404, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_list_pages, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_list_bad_query, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_delete_pending_then_merged, hs_setup, hs_teardown),
    };

    return cmocka_run_group_tests(tests, hs_group_setup, hs_group_teardown);
}
