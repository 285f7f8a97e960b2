/*
 * test_handlers_objects.c - GET /api/v1/s3/objects, /count and /{id} without sockets
 *
 * Each test gets a migrated database of its own (handler_support.h), filled
 * through POST /api/v1/s3/events with the catalog below.
 *
 *   bkt    a/1.txt  created (0A)
 *   bkt    a/2.txt  created (0B)
 *   bkt    b/3.txt  created (01), then deleted (02)
 *   other  a/1.txt  created (0A)
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

static json_t *
record(const char *event_name, const char *bucket, const char *key, const char *sequencer)
{
    json_t *obj = json_pack("{s:s,s:s}", "key", key, "sequencer", sequencer);

    if (strncmp(event_name, "ObjectCreated", 13) == 0)
        json_object_set_new(obj, "size", json_integer(5));
    return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:{s:s},s:o}}", "eventVersion", "2.1", "eventSource",
                     "aws:s3", "eventName", event_name, "eventTime", "2026-11-21T10:15:30.123Z",
                     "s3", "s3SchemaVersion", "1.0", "bucket", "name", bucket, "object", obj);
}

static void
fill_catalog(struct hs_app *a)
{
    json_t *j =
        json_pack("{s:[o,o,o,o,o]}", "Records", record("ObjectCreated:Put", "bkt", "a/1.txt", "0A"),
                  record("ObjectCreated:Put", "bkt", "a/2.txt", "0B"),
                  record("ObjectCreated:Put", "bkt", "b/3.txt", "01"),
                  record("ObjectRemoved:Delete", "bkt", "b/3.txt", "02"),
                  record("ObjectCreated:Put", "other", "a/1.txt", "0A"));
    char *body = json_dumps(j, JSON_COMPACT);
    struct hs_req r;
    struct response res;
    json_t *got;

    hs_req_init(&r, a, "POST", "/api/v1/s3/events");
    hs_req_body_str(&r, body);
    hs_run(&r, handle_s3_events_post, &res);
    got = hs_want_json(&res, 200);
    hs_want_members(got, "{\"ingested\":5}");
    json_decref(got);
    response_release(&res);
    hs_req_release(&r);
    free(body);
    json_decref(j);
}

/*
 * Run `handler` on `path` with query pairs (name, value, ..., NULL) and the
 * headers Host and X-Forwarded-Proto when given; res is the caller's.
 */
static void
get(struct hs_app *a, const char *path, handler_fn handler, const char *host, const char *proto,
    struct response *res, ...)
{
    struct hs_req r;
    const char *name;
    va_list ap;

    hs_req_init(&r, a, "GET", path);
    if (host)
        hs_req_header(&r, "Host", host);
    if (proto)
        hs_req_header(&r, "X-Forwarded-Proto", proto);
    va_start(ap, res);
    while ((name = va_arg(ap, const char *)) != NULL)
        hs_req_query(&r, name, va_arg(ap, const char *));
    va_end(ap);
    hs_run(&r, handler, res);
    hs_req_release(&r);
}

/* nRecords of GET /count with query pairs. */
#define COUNT(a, ...) count((a), __VA_ARGS__, NULL)
static json_int_t
count(struct hs_app *a, ...)
{
    struct hs_req r;
    struct response res;
    const char *name;
    json_t *body;
    json_int_t n;
    va_list ap;

    hs_req_init(&r, a, "GET", "/api/v1/s3/objects/count");
    va_start(ap, a);
    while ((name = va_arg(ap, const char *)) != NULL)
        hs_req_query(&r, name, va_arg(ap, const char *));
    va_end(ap);
    hs_run(&r, handle_objects_count, &res);
    hs_req_release(&r);
    body = hs_want_json(&res, 200);
    assert_int_equal(json_object_size(body), 1);
    n = th_jint(body, "nRecords");
    json_decref(body);
    response_release(&res);
    return n;
}

static void
test_list_current(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;
    json_t *results;

    fill_catalog(a);
    get(a, "/api/v1/s3/objects", handle_objects_list, NULL, NULL, &res, "bucket", "bkt", NULL);
    body = hs_want_json(&res, 200);
    hs_want_members(
        body,
        "{\"links\":{\"previous\":null,\"next\":null},"
        "\"pagination\":{\"count\":2,\"page\":1,\"rowsPerPage\":1000,\"countIsExact\":true}}");
    results = json_object_get(body, "results");
    assert_int_equal(json_array_size(results), 2);
    hs_want_members(json_array_get(results, 0),
                    "{\"bucket\":\"bkt\",\"key\":\"a/1.txt\",\"eventType\":\"Created\","
                    "\"versionId\":\"null\",\"size\":5,\"sequencer\":\"0A\","
                    "\"isDeleteMarker\":false,\"isCurrentState\":true,\"source\":\"event\"}");
    hs_want_members(json_array_get(results, 1), "{\"key\":\"a/2.txt\"}");
    assert_true(th_is_uuid(th_jstr(json_array_get(results, 0), "s3ObjectId")));
    json_decref(body);
    response_release(&res);
}

static void
test_list_page_links(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;

    fill_catalog(a);
    /* absolute links from Host and X-Forwarded-Proto; the other parameters kept */
    get(a, "/api/v1/s3/objects", handle_objects_list, "ingest.example:8443", "https", &res,
        "currentState", "false", "rowsPerPage", "2", "page", "2", NULL);
    body = hs_want_json(&res, 200);
    hs_want_members(
        body, "{\"links\":{\"previous\":\"https://ingest.example:8443/api/v1/s3/objects?"
              "currentState=false&rowsPerPage=2&page=1\",\"next\":\"https://ingest.example:8443"
              "/api/v1/s3/objects?currentState=false&rowsPerPage=2&page=3\"},"
              "\"pagination\":{\"count\":5,\"page\":2,\"rowsPerPage\":2,\"countIsExact\":true}}");
    /* order: bucket, key, sequencer */
    hs_want_members(json_array_get(json_object_get(body, "results"), 0),
                    "{\"bucket\":\"bkt\",\"key\":\"b/3.txt\",\"sequencer\":\"01\"}");
    hs_want_members(json_array_get(json_object_get(body, "results"), 1),
                    "{\"bucket\":\"bkt\",\"key\":\"b/3.txt\",\"sequencer\":\"02\","
                    "\"eventType\":\"Deleted\"}");
    json_decref(body);
    response_release(&res);

    /* no Host: relative links; an unknown proto is http */
    get(a, "/api/v1/s3/objects", handle_objects_list, NULL, "gopher", &res, "currentState", "false",
        "rowsPerPage", "4", NULL);
    body = hs_want_json(&res, 200);
    hs_want_members(body, "{\"links\":{\"previous\":null,\"next\":\"/api/v1/s3/objects?"
                          "currentState=false&rowsPerPage=4&page=2\"}}");
    json_decref(body);
    response_release(&res);
}

static void
test_count_filters(void **state)
{
    struct hs_app *a = *state;

    fill_catalog(a);
    assert_int_equal(COUNT(a, "currentState", "false"), 5);
    assert_int_equal(COUNT(a, "currentState", "true"), 3);
    assert_int_equal(COUNT(a, "bucket", "bkt", "key", "a/*"), 2);
    assert_int_equal(COUNT(a, "key", "a/?.txt"), 3);
    assert_int_equal(COUNT(a, "bucket", "o*", "key", "a/1.txt"), 1);
    assert_int_equal(COUNT(a, "key[]", "a/2.txt", "key[]", "b/3.txt", "currentState", "false"), 3);
    assert_int_equal(COUNT(a, "eventType", "Deleted", "currentState", "false"), 1);
    assert_int_equal(COUNT(a, "bucket", "none"), 0);
    /* versionId takes wildcards as bucket and key do (every record here is version "null") */
    assert_int_equal(COUNT(a, "versionId", "null"), 3);
    assert_int_equal(COUNT(a, "versionId", "nu*"), 3);
    assert_int_equal(COUNT(a, "versionId", "n?ll", "currentState", "false"), 5);
    assert_int_equal(COUNT(a, "versionId", "*"), 3);
    assert_int_equal(COUNT(a, "versionId", "nul"), 0);
    assert_int_equal(COUNT(a, "versionId", "x*", "versionId[]", "*ll"), 3);
    assert_int_equal(COUNT(a, "versionId", "n\\*"), 0);
    /* rowsPerPage=0 is accepted (the default) */
    assert_int_equal(COUNT(a, "rowsPerPage", "0"), 3);
}

/* rowsPerPage=0 is the default page size, as the filemanager reads it. */
static void
test_rows_per_page_zero(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;

    fill_catalog(a);
    get(a, "/api/v1/s3/objects", handle_objects_list, NULL, NULL, &res, "rowsPerPage", "0",
        "currentState", "false", NULL);
    body = hs_want_json(&res, 200);
    hs_want_members(
        body,
        "{\"links\":{\"previous\":null,\"next\":null},"
        "\"pagination\":{\"count\":5,\"page\":1,\"rowsPerPage\":1000,\"countIsExact\":true}}");
    assert_int_equal(json_array_size(json_object_get(body, "results")), 5);
    json_decref(body);
    response_release(&res);
}

/* The filemanager's paths run the same handlers; list links name the path asked for. */
static void
test_filemanager_paths(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;

    fill_catalog(a);
    get(a, "/api/v1/s3", handle_objects_list, "fm.example", NULL, &res, "currentState", "false",
        "rowsPerPage", "2", "page", "2", NULL);
    body = hs_want_json(&res, 200);
    hs_want_members(
        body, "{\"links\":{\"previous\":\"http://fm.example/api/v1/s3?"
              "currentState=false&rowsPerPage=2&page=1\",\"next\":\"http://"
              "fm.example/api/v1/s3?currentState=false&rowsPerPage=2&page=3\"},"
              "\"pagination\":{\"count\":5,\"page\":2,\"rowsPerPage\":2,\"countIsExact\":true}}");
    json_decref(body);
    response_release(&res);
    get(a, "/api/v1/s3", handle_objects_list, NULL, NULL, &res, "rowsPerPage", "1", NULL);
    body = hs_want_json(&res, 200);
    hs_want_members(body,
                    "{\"links\":{\"previous\":null,\"next\":\"/api/v1/s3?rowsPerPage=1&page=2\"}}");
    json_decref(body);
    response_release(&res);
}

static void
test_get_one(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;
    json_t *first;
    json_t *got;
    char *path;

    fill_catalog(a);
    get(a, "/api/v1/s3/objects", handle_objects_list, NULL, NULL, &res, "bucket", "other", NULL);
    body = hs_want_json(&res, 200);
    first = json_array_get(json_object_get(body, "results"), 0);
    path = th_strf("/api/v1/s3/objects/%s", th_jstr(first, "s3ObjectId"));
    response_release(&res);

    get(a, path, handle_objects_get, NULL, NULL, &res, NULL);
    got = hs_want_json(&res, 200);
    assert_true(json_equal(got, first));
    json_decref(got);
    response_release(&res);
    free(path);
    json_decref(body);
}

static void
test_get_unknown(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *p;

    get(a, "/api/v1/s3/objects/a.txt", handle_objects_get, NULL, NULL, &res, NULL);
    p = hs_want_problem(&res, 404, "no such object record");
    json_decref(p);
    response_release(&res);
    get(a, "/api/v1/s3/objects/6c1f8d0e-1d35-4d6f-9b3a-0c2a4e5f6a7b", handle_objects_get, NULL,
        NULL, &res, NULL);
    p = hs_want_problem(&res, 404, NULL);
    json_decref(p);
    response_release(&res);
}

static void
test_bad_query(void **state)
{
    static const char *const cases[][3] = {
        {"page", "0", "page"},
        {"rowsPerPage", "10001", "rowsPerPage"},
        {"eventType", "Removed", "eventType: must be Created or Deleted"},
        {"isDeleteMarker", "yes", "isDeleteMarker: must be true or false"},
        {"currentState", "1", "currentState: must be true or false"},
        {"prefix", "a/", "unknown query parameter \"prefix\""},
        {"bucket", "\xc0\xaf", "bucket: not valid UTF-8"},
        {"versionId", "\xc0\xaf", "versionId: not valid UTF-8"},
        /* an escape other than \* \? \\ is refused, as the filemanager does */
        {"key", "a\\s", "key: invalid escape \"\\s\" (escape only *, ? and \\)"},
        {"key[]", "a\\", "key[]: invalid escape: a trailing \\"},
        {"bucket", "\\b*", "bucket: invalid escape \"\\b\""},
        {"bucket[]", "b\\%", "bucket[]: invalid escape \"\\%\""},
        {"versionId", "v\\_", "versionId: invalid escape \"\\_\""},
        {"versionId[]", "\\", "versionId[]: invalid escape: a trailing \\"},
        {"rowsPerPage", "-1", "rowsPerPage: must be an integer from 0 to 10000"},
    };
    struct hs_app *a = *state;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct response res;
        json_t *p;

        get(a, "/api/v1/s3/objects", handle_objects_list, NULL, NULL, &res, cases[i][0],
            cases[i][1], NULL);
        p = hs_want_problem(&res, 400, cases[i][2]);
        json_decref(p);
        response_release(&res);
        get(a, "/api/v1/s3/objects/count", handle_objects_count, NULL, NULL, &res, cases[i][0],
            cases[i][1], NULL);
        p = hs_want_problem(&res, 400, cases[i][2]);
        json_decref(p);
        response_release(&res);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_current, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_list_page_links, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_count_filters, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_get_one, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_get_unknown, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_bad_query, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_rows_per_page_zero, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_filemanager_paths, hs_setup, hs_teardown),
    };

    return cmocka_run_group_tests(tests, hs_group_setup, hs_group_teardown);
}
