/*
 * test_handlers_s3_events.c - POST /api/v1/s3/events without sockets
 *
 * The body is the JSON as the adapter hands it over; the records land in a
 * real PostgreSQL (a migrated database per test, handler_support.h) and are
 * counted back through GET /api/v1/s3/objects/count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "handler_support.h"
#include "handlers/handlers.h"

/* One S3 notification record; sequencer left out when NULL, size only for creations. */
static json_t *
record(const char *event_name, const char *bucket, const char *key, const char *sequencer)
{
    json_t *obj = json_pack("{s:s}", "key", key);

    if (strncmp(event_name, "ObjectCreated", 13) == 0) {
        json_object_set_new(obj, "size", json_integer(5));
        json_object_set_new(obj, "eTag", json_string("d41d8cd98f00b204e9800998ecf8427e"));
    }
    if (sequencer)
        json_object_set_new(obj, "sequencer", json_string(sequencer));
    return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:{s:s},s:o}}", "eventVersion", "2.1", "eventSource",
                     "aws:s3", "eventName", event_name, "eventTime", "2026-11-21T10:15:30.123Z",
                     "s3", "s3SchemaVersion", "1.0", "bucket", "name", bucket, "object", obj);
}

/* Serialise and free j; caller frees. */
static char *
dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    return s;
}

/* POST body; res is the caller's. */
static void
post(struct hs_app *a, const char *body, size_t len, struct response *res)
{
    struct hs_req r;

    hs_req_init(&r, a, "POST", "/api/v1/s3/events");
    hs_req_header(&r, "Content-Type", "application/json");
    hs_req_body(&r, body, len);
    hs_run(&r, handle_s3_events_post, res);
    hs_req_release(&r);
}

/* POST body, want 200 with exactly these counts (failures name the caller's line). */
static void
post_counts_at(struct hs_app *a, const char *body, const char *counts, int line)
{
    struct response res;
    json_t *got;

    post(a, body, strlen(body), &res);
    got = hs_want_json_at(&res, 200, __FILE__, line);
    hs_want_members_at(got, counts, __FILE__, line);
    assert_int_equal(json_object_size(got), 4);
    json_decref(got);
    response_release(&res);
}
#define post_counts(a, body, counts) post_counts_at((a), (body), (counts), __LINE__)

/* Every record in the catalog (currentState=false), through the objects handler. */
static json_int_t
catalog_size(struct hs_app *a)
{
    struct hs_req r;
    struct response res;
    json_t *body;
    json_int_t n;

    hs_req_init(&r, a, "GET", "/api/v1/s3/objects/count");
    hs_req_query(&r, "currentState", "false");
    hs_run(&r, handle_objects_count, &res);
    hs_req_release(&r);
    body = hs_want_json(&res, 200);
    n = th_jint(body, "nRecords");
    json_decref(body);
    response_release(&res);
    return n;
}

static void
test_ingest_and_redeliver(void **state)
{
    struct hs_app *a = *state;
    char *body =
        dump(json_pack("{s:[o,o,o]}", "Records", record("ObjectCreated:Put", "bkt", "a.txt", "0A"),
                       record("ObjectCreated:Put", "bkt", "b.txt", "0B"),
                       record("ObjectRemoved:Delete", "bkt", "a.txt", "0C")));

    post_counts(a, body, "{\"records\":3,\"ingested\":3,\"duplicates\":0,\"ignored\":0}");
    assert_int_equal(catalog_size(a), 3);
    /* the same delivery again only counts duplicates */
    post_counts(a, body, "{\"records\":3,\"ingested\":0,\"duplicates\":3,\"ignored\":0}");
    assert_int_equal(catalog_size(a), 3);
    free(body);
}

static void
test_ignored_and_wrapped(void **state)
{
    struct hs_app *a = *state;
    char *inner =
        dump(json_pack("{s:[o]}", "Records", record("ObjectCreated:Copy", "bkt", "c.txt", "01")));
    char *body = dump(json_pack("[{s:s,s:s,s:s,s:s},{s:[o]},{s:s}]", "Service", "Amazon S3",
                                "Event", "s3:TestEvent", "Time", "2026-11-21T10:15:30.123Z",
                                "Bucket", "bkt", "Records",
                                record("ObjectTagging:Put", "bkt", "c.txt", "02"), "Body", inner));

    /* a test event and a tagging event are ignored; the SQS message's record is not */
    post_counts(a, body, "{\"records\":3,\"ingested\":1,\"duplicates\":0,\"ignored\":2}");
    assert_int_equal(catalog_size(a), 1);
    free(inner);
    free(body);
}

static void
test_bad_bodies(void **state)
{
    static const struct {
        const char *body;
        const char *detail;
    } cases[] = {
        {"", "empty body"},
        {"{\"Records\": [", "invalid json"},
        {"{\"hello\": \"world\"}", "no s3 event of a recognisable shape"},
        {"[1, 2, 3]", "no s3 event of a recognisable shape"},
    };
    struct hs_app *a = *state;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct response res;
        json_t *p;

        post(a, cases[i].body, strlen(cases[i].body), &res);
        p = hs_want_problem(&res, 400, cases[i].detail);
        json_decref(p);
        response_release(&res);
    }
    assert_int_equal(catalog_size(a), 0);
}

static void
test_too_many_records(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    struct buf body;
    json_t *p;
    int i;

    /* one record more than a request may carry (100000): 413, nothing stored */
    buf_init(&body, 0);
    buf_append_str(&body, "{\"Records\":[");
    for (i = 0; i <= 100000; i++)
        buf_printf(&body,
                   "%s{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},"
                   "\"object\":{\"key\":\"k%d\",\"size\":1}}}",
                   i ? "," : "", i);
    buf_append_str(&body, "]}");
    post(a, body.data, body.len, &res);
    p = hs_want_problem(&res, 413, "more than 100000 s3 events");
    json_decref(p);
    response_release(&res);
    buf_release(&body);
    assert_int_equal(catalog_size(a), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ingest_and_redeliver, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_ignored_and_wrapped, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_too_many_records, hs_setup, hs_teardown),
    };

    return cmocka_run_group_tests(tests, hs_group_setup, hs_group_teardown);
}
