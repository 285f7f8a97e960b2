/*
 * test_feed_sse.c - GET /api/v1/feed as server-sent events
 *
 * One PostgreSQL, replicas over real loopback HTTP, a socket client that
 * decodes the chunked stream itself (harness_sse.c). Covers: a change
 * committed after subscribing arrives as an event (id, event, data the
 * long poll's item), heartbeats, resuming by Last-Event-ID and by `after`
 * from a cursor older than the hub's ring (table catch-up, then live; no
 * gap, no duplicate), the filters, a change committed through one replica
 * reaching a subscriber of the other before any poll could, a subscriber
 * that stops reading (ended with `event: resume`, nothing lost on resume),
 * idle subscribers costing no CPU, bad input, and SIGTERM ending streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_sse.h"

#define CSV_HEAD "origin,path,branch,cloneUrl,changeset,publishUri\n"
#define ACCEPTED "io.ingestd.event.accepted"

static const char *const feed_env[] = {
    "INGESTD_FEED_HEARTBEAT_MS=300",
    "INGESTD_FEED_POLL_MS=10000", /* NOTIFY and pokes must do the work, not the poll */
    "INGESTD_FEED_BACKLOG_BYTES=8192",
    NULL,
};

static struct {
    struct th_pg *pg;
    struct th_ingestd *a;
    struct th_ingestd *b; /* started after the first changes: its ring begins after them */
    int seq;
} G;

static void
post_event(const struct th_ingestd *srv)
{
    char *csv = th_strf(CSV_HEAD "https://a.example/s%d.git,s%d,main,u,c1,https://p/s%d\n", G.seq,
                        G.seq, G.seq);
    struct th_resp r = th_post_csv(th_ingestd_base(srv), "/api/v1/events", csv, NULL);

    G.seq++;
    assert_int_equal(r.status, 201);
    th_resp_release(&r);
    free(csv);
}

/* The long poll's items after `after` (format=json), all of them. */
static json_t *
poll_items(const struct th_ingestd *srv, long long after, const char *filter)
{
    char *path = th_strf("/api/v1/feed?format=json&limit=1000&after=%lld%s", after, filter);
    struct th_resp r = th_get(th_ingestd_base(srv), path, NULL);
    json_t *j;

    assert_int_equal(r.status, 200);
    j = th_resp_json(&r);
    th_resp_release(&r);
    free(path);
    return j;
}

/*
 * The first n items after `after`, polled until they are all readable (5 s
 * at most): a change is held back while a transaction that began before it
 * is still open (the feed's horizon), so one immediate poll may miss the
 * newest.
 */
static json_t *
poll_n_items(const struct th_ingestd *srv, long long after, const char *filter, size_t n)
{
    json_t *j = poll_items(srv, after, filter);
    int i;

    for (i = 0; i < 50 && json_array_size(j) < n; i++) {
        json_decref(j);
        th_sleep_ms(100);
        j = poll_items(srv, after, filter);
    }
    return j;
}

static long long
head_id(const struct th_ingestd *srv)
{
    json_t *j = poll_items(srv, 0, "");
    size_t n = json_array_size(j);
    long long id = n ? th_jint(json_array_get(j, n - 1), "id") : 0;

    json_decref(j);
    return id;
}

/* Next event within timeout, failing the test when none comes. */
static void
next_event(struct th_sse *s, struct th_sse_event *ev, long timeout_ms)
{
    int r = th_sse_next(s, ev, timeout_ms);

    if (r != 1)
        fail_msg("no event within %ld ms (%d)", timeout_ms, r);
}

/* ev matches the long poll's item: same id, type and JSON. */
static void
event_is_item(const struct th_sse_event *ev, json_t *item)
{
    json_t *d = json_loads(ev->data, 0, NULL);

    assert_non_null(d);
    assert_int_equal(ev->id, th_jint(item, "id"));
    assert_string_equal(ev->event, th_jstr(item, "type"));
    if (!json_equal(d, item))
        fail_msg("event %s != item %s", ev->data, json_dumps(item, 0));
    json_decref(d);
}

static void
test_live_event_and_heartbeat(void **state)
{
    struct th_sse_event ev;
    struct th_sse *s;
    long long top = head_id(G.a);
    json_t *items;
    long c0;

    (void)state;
    s = th_sse_open(th_ingestd_port(G.a), "/api/v1/feed",
                    (const char *[]){"Accept: text/event-stream", NULL}, 0);
    th_sleep_ms(200);
    post_event(G.a);
    next_event(s, &ev, 3000);
    items = poll_n_items(G.a, top, "", 1);
    assert_int_equal(json_array_size(items), 1);
    event_is_item(&ev, json_array_get(items, 0));
    free(ev.data);
    json_decref(items);
    /* idle: a heartbeat comment every 300 ms */
    c0 = th_sse_comments(s);
    assert_int_equal(th_sse_next(s, &ev, 1300), 0);
    if (th_sse_comments(s) - c0 < 3)
        fail_msg("%ld heartbeats in 1.3 s", th_sse_comments(s) - c0);
    th_sse_close(s);
}

/* Collect n events (failing on a gap or duplicate against want[]). */
static void
expect_items(struct th_sse *s, json_t *want, size_t from)
{
    struct th_sse_event ev;
    size_t i;

    for (i = from; i < json_array_size(want); i++) {
        next_event(s, &ev, 5000);
        event_is_item(&ev, json_array_get(want, i));
        free(ev.data);
    }
}

/* after=0 on the replica whose ring starts later: the table first, then live, no gap. */
static void
test_resume_from_table_then_live(void **state)
{
    struct th_sse_event ev;
    struct th_sse *s;
    json_t *all, *more;
    long long last;
    char *lei;

    (void)state;
    all = poll_items(G.b, 0, "");
    assert_true(json_array_size(all) >= 3);
    s = th_sse_open(th_ingestd_port(G.b), "/api/v1/feed?format=sse&after=0", NULL, 0);
    expect_items(s, all, 0);
    last = th_jint(json_array_get(all, json_array_size(all) - 1), "id");
    post_event(G.b);
    more = poll_n_items(G.b, last, "", 1);
    assert_int_equal(json_array_size(more), 1);
    expect_items(s, more, 0);
    assert_int_equal(th_sse_next(s, &ev, 500), 0); /* nothing twice */
    th_sse_close(s);
    /* Last-Event-ID: exactly what follows the second change */
    lei = th_strf("Last-Event-ID: %lld", th_jint(json_array_get(all, 1), "id"));
    s = th_sse_open(th_ingestd_port(G.a), "/api/v1/feed?format=sse", (const char *[]){lei, NULL},
                    0);
    expect_items(s, all, 2);
    expect_items(s, more, 0);
    assert_int_equal(th_sse_next(s, &ev, 500), 0);
    th_sse_close(s);
    free(lei);
    json_decref(all);
    json_decref(more);
}

static void
test_filters(void **state)
{
    struct th_sse_event ev;
    struct th_sse *types, *bucket;
    struct th_resp r;

    (void)state;
    types = th_sse_open(th_ingestd_port(G.a),
                        "/api/v1/feed?format=sse&type=io.ingestd.merge.completed", NULL, 0);
    bucket =
        th_sse_open(th_ingestd_port(G.a), "/api/v1/feed?format=sse&bucket=bk&prefix=in/", NULL, 0);
    post_event(G.a);
    r = th_request("POST", th_ingestd_base(G.a), "/api/v1/merges", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    r = th_post_json(th_ingestd_base(G.a), "/api/v1/s3/events",
                     "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
                     "\"eventName\":\"ObjectCreated:Put\",\"eventTime\":"
                     "\"2026-01-01T00:00:00.000Z\",\"s3\":{\"bucket\":{\"name\":\"bk\"},"
                     "\"object\":{\"key\":\"out/k\",\"size\":1,\"eTag\":\"e\","
                     "\"sequencer\":\"0A\"}}},{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
                     "\"eventName\":\"ObjectCreated:Put\",\"eventTime\":"
                     "\"2026-01-01T00:00:00.000Z\",\"s3\":{\"bucket\":{\"name\":\"other\"},"
                     "\"object\":{\"key\":\"in/k\",\"size\":1,\"eTag\":\"e\","
                     "\"sequencer\":\"0B\"}}}]}",
                     NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    r = th_post_json(th_ingestd_base(G.a), "/api/v1/s3/events",
                     "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
                     "\"eventName\":\"ObjectCreated:Put\",\"eventTime\":"
                     "\"2026-01-01T00:00:00.000Z\",\"s3\":{\"bucket\":{\"name\":\"bk\"},"
                     "\"object\":{\"key\":\"in/k2\",\"size\":1,\"eTag\":\"e\","
                     "\"sequencer\":\"0C\"}}}]}",
                     NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    next_event(types, &ev, 3000);
    assert_string_equal(ev.event, "io.ingestd.merge.completed");
    free(ev.data);
    next_event(bucket, &ev, 3000);
    assert_string_equal(ev.event, "io.ingestd.s3.objects.changed");
    assert_non_null(strstr(ev.data, "\"in/k2\""));
    free(ev.data);
    assert_int_equal(th_sse_next(types, &ev, 700), 0);
    assert_int_equal(th_sse_next(bucket, &ev, 10), 0);
    th_sse_close(types);
    th_sse_close(bucket);
}

/* A change committed through A reaches B's subscriber long before B's 10 s poll. */
static void
test_cross_replica(void **state)
{
    struct th_sse_event ev;
    struct th_sse *s;
    long t0;
    int i;

    (void)state;
    s = th_sse_open(th_ingestd_port(G.b), "/api/v1/feed?type=" ACCEPTED,
                    (const char *[]){"Accept: text/event-stream", NULL}, 0);
    th_sleep_ms(200);
    for (i = 0; i < 3; i++) {
        t0 = th_now_ms();
        post_event(G.a);
        next_event(s, &ev, 3000);
        assert_string_equal(ev.event, ACCEPTED);
        free(ev.data);
        if (th_now_ms() - t0 > 2000)
            fail_msg("took %ld ms", th_now_ms() - t0);
    }
    th_sse_close(s);
}

/*
 * A subscriber that stops reading while many changes commit: once it reads
 * again it gets changes in order, then `event: resume` naming the last one
 * it got, then the end; resuming there misses nothing.
 */
static void
test_slow_subscriber_cut(void **state)
{
    struct th_sse_event ev;
    struct th_sse *s;
    long long top = head_id(G.a), last = top;
    json_t *all, *rest;
    size_t got = 0;
    int i, r;

    (void)state;
    s = th_sse_open(th_ingestd_port(G.a), "/api/v1/feed?format=sse&type=" ACCEPTED, NULL, 2048);
    for (i = 0; i < 400; i++)
        post_event(G.a);
    all = poll_n_items(G.a, top, "&type=" ACCEPTED, 400);
    assert_int_equal(json_array_size(all), 400);
    for (;;) {
        r = th_sse_next(s, &ev, 5000);
        if (r != 1)
            fail_msg("stream ended (%d) after %zu events without a resume event", r, got);
        if (strcmp(ev.event, "resume") == 0)
            break;
        event_is_item(&ev, json_array_get(all, got));
        last = ev.id;
        got++;
        free(ev.data);
    }
    assert_true(got < 400); /* cut, not buffered without bound */
    assert_int_equal(ev.id, last);
    assert_non_null(strstr(ev.data, "\"reason\":\"lagging\""));
    free(ev.data);
    assert_int_equal(th_sse_next(s, &ev, 3000), -1);
    th_sse_close(s);
    rest = poll_n_items(G.a, last, "&type=" ACCEPTED, 400 - got);
    assert_int_equal(json_array_size(rest), 400 - got);
    json_decref(rest);
    json_decref(all);
}

/* CPU seconds the process used so far (utime + stime). */
static double
cpu_s(pid_t pid)
{
    char *path = th_strf("/proc/%d/stat", (int)pid);
    char *st = th_read_file(path, NULL);
    char *p = strrchr(st, ')');
    unsigned long ut = 0, stt = 0;

    assert_non_null(p);
    assert_int_equal(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt), 2);
    free(st);
    free(path);
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* 100 idle subscribers (heartbeat 300 ms): the process stays near idle. */
static void
test_idle_subscribers_cost_no_cpu(void **state)
{
    struct th_sse *s[100];
    double c0, used;
    int i;

    (void)state;
    for (i = 0; i < 100; i++)
        s[i] = th_sse_open(th_ingestd_port(G.a), "/api/v1/feed?format=sse", NULL, 0);
    th_sleep_ms(500);
    c0 = cpu_s(th_ingestd_pid(G.a));
    th_sleep_ms(3000);
    used = cpu_s(th_ingestd_pid(G.a)) - c0;
    for (i = 0; i < 100; i++)
        th_sse_close(s[i]);
    if (used > 0.3)
        fail_msg("%.2f CPU seconds in 3 s with 100 idle subscribers", used);
}

static void
status_is(const char *path, const char *const *headers, long want)
{
    struct th_resp r = th_get(th_ingestd_base(G.a), path, headers);

    if (r.status != want)
        fail_msg("%s: %ld, want %ld: %s", path, r.status, want, r.body ? r.body : "");
    th_resp_release(&r);
}

static void
test_bad_input(void **state)
{
    struct th_resp r;
    char *ct;

    (void)state;
    status_is("/api/v1/feed?format=xml", NULL, 400);
    status_is("/api/v1/feed?format=sse&wait=1", NULL, 400);
    status_is("/api/v1/feed?format=sse&limit=5", NULL, 400);
    status_is("/api/v1/feed?format=sse&after=x", NULL, 400);
    status_is("/api/v1/feed?format=sse&type=nope", NULL, 400);
    status_is("/api/v1/feed?format=sse", (const char *[]){"Last-Event-ID: -3", NULL}, 400);
    /* neither format nor Accept: the JSON long poll */
    r = th_get(th_ingestd_base(G.a), "/api/v1/feed", NULL);
    assert_int_equal(r.status, 200);
    ct = th_resp_header(&r, "Content-Type");
    assert_non_null(strstr(ct, "application/json"));
    free(ct);
    th_resp_release(&r);
    /* HEAD: the stream's headers, no stream */
    r = th_request("HEAD", th_ingestd_base(G.a), "/api/v1/feed?format=sse", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    ct = th_resp_header(&r, "Content-Type");
    assert_string_equal(ct, "text/event-stream");
    free(ct);
    th_resp_release(&r);
}

/* SIGTERM: each subscriber is told where to resume, the process exits at once. */
static void
test_sigterm_ends_streams(void **state)
{
    struct th_sse_event ev;
    struct th_sse *s1, *s2;
    long t0;

    (void)state;
    s1 = th_sse_open(th_ingestd_port(G.b), "/api/v1/feed?format=sse", NULL, 0);
    s2 = th_sse_open(th_ingestd_port(G.b), "/api/v1/feed?format=sse&after=0", NULL, 0);
    th_sleep_ms(300);
    t0 = th_now_ms();
    assert_int_equal(th_ingestd_term(G.b), 0);
    assert_true(th_now_ms() - t0 < 10000);
    next_event(s1, &ev, 1000);
    assert_string_equal(ev.event, "resume");
    assert_non_null(strstr(ev.data, "\"reason\":\"shutdown\""));
    free(ev.data);
    while (th_sse_next(s2, &ev, 1000) == 1 && strcmp(ev.event, "resume") != 0)
        free(ev.data);
    assert_string_equal(ev.event, "resume");
    free(ev.data);
    th_sse_close(s1);
    th_sse_close(s2);
}

static int
group_setup(void **state)
{
    int i;

    (void)state;
    G.pg = th_pg_start();
    G.a = th_ingestd_start(th_pg_url(G.pg), feed_env);
    for (i = 0; i < 3; i++)
        post_event(G.a);
    G.b = th_ingestd_start(th_pg_url(G.pg), feed_env);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.a);
    th_ingestd_free(G.b);
    th_pg_free(G.pg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_event_and_heartbeat),
        cmocka_unit_test(test_resume_from_table_then_live),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_cross_replica),
        cmocka_unit_test(test_slow_subscriber_cut),
        cmocka_unit_test(test_idle_subscribers_cost_no_cpu),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_sigterm_ends_streams),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
