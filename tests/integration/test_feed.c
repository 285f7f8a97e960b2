/*
 * test_feed.c - GET /api/v1/feed (format=json): the journal of changes
 *
 * One PostgreSQL, two ingestd replicas over real loopback HTTP. Covers the
 * journal's types (event accepted, merge, generation published by a merge
 * and by PUT repos.csv, S3 objects changed), their order by id, resuming
 * with `after` and Last-Event-ID (no gap, no duplicate), a change committed
 * through one replica read from the other, the filters, a long poll woken
 * by a change, a row whose id was drawn before a later committed one (held
 * back until it commits, then returned in order), bad input, and
 * `ingestd tail`; one event.accepted per stored event (inline rows, COPY
 * rows), none for a repeat.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "core/buf.h"
#include "harness.h"

#define CSV_HEAD "origin,path,branch,cloneUrl,changeset,publishUri\n"

static struct {
    struct th_pg *pg;
    struct th_ingestd *a;
    struct th_ingestd *b;
} G;

static json_t *
feed(const struct th_ingestd *srv, const char *query, const char *const *headers, long long *cursor)
{
    char *path = th_strf("/api/v1/feed?format=json%s", query);
    struct th_resp r = th_get(th_ingestd_base(srv), path, headers);
    json_t *j;
    char *c;

    assert_int_equal(r.status, 200);
    j = th_resp_json(&r);
    assert_true(json_is_array(j));
    c = th_resp_header(&r, "Feed-Cursor");
    assert_non_null(c);
    if (cursor)
        *cursor = strtoll(c, NULL, 10);
    free(c);
    free(path);
    th_resp_release(&r);
    return j;
}

/*
 * feed() repeated until it gives at least n items (5 s at most): a change
 * just committed stays behind the feed's horizon while a transaction that
 * began before it is open (another replica's background work), so the
 * first read after a write may not show it yet.
 */
static json_t *
feed_n(const struct th_ingestd *srv, const char *query, const char *const *headers, size_t n)
{
    json_t *j = feed(srv, query, headers, NULL);
    int i;

    for (i = 0; i < 50 && json_array_size(j) < n; i++) {
        json_decref(j);
        th_sleep_ms(100);
        j = feed(srv, query, headers, NULL);
    }
    return j;
}

static long long
id_of(json_t *items, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(items, i), "id"));
}

static const char *
type_of(json_t *items, size_t i)
{
    return json_string_value(json_object_get(json_array_get(items, i), "type"));
}

static void
post_event(const struct th_ingestd *srv, const char *name)
{
    char *csv =
        th_strf(CSV_HEAD "https://a.example/%s.git,%s,main,u,c1,https://p/%s\n", name, name, name);
    struct th_resp r = th_post_csv(th_ingestd_base(srv), "/api/v1/events", csv, NULL);

    assert_int_equal(r.status, 201);
    th_resp_release(&r);
    free(csv);
}

static void
status_is(const struct th_ingestd *srv, const char *path, const char *const *headers, long want)
{
    struct th_resp r = th_get(th_ingestd_base(srv), path, headers);

    if (r.status != want)
        fail_msg("%s: %ld, want %ld: %s", path, r.status, want, r.body ? r.body : "");
    th_resp_release(&r);
}

/* Every type, in commit order, from either replica; resumes without gap or duplicate. */
static void
test_journal_in_order_across_replicas(void **state)
{
    static const char *const want[] = {
        "io.ingestd.event.accepted",     "io.ingestd.generation.published",
        "io.ingestd.merge.completed",    "io.ingestd.generation.published",
        "io.ingestd.s3.objects.changed",
    };
    const char *lei[] = {NULL, NULL};
    json_t *all, *rest, *j;
    struct th_resp r;
    char *q, *h;
    size_t i;

    (void)state;
    post_event(G.a, "one");
    r = th_request("POST", th_ingestd_base(G.a), "/api/v1/merges", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    r = th_request("PUT", th_ingestd_base(G.a), "/api/v1/repos.csv",
                   (const char *[]){"Content-Type: text/csv", NULL},
                   CSV_HEAD "https://a.example/x.git,x,main,u,c1,https://p/x\n",
                   strlen(CSV_HEAD "https://a.example/x.git,x,main,u,c1,https://p/x\n"));
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    r = th_post_json(th_ingestd_base(G.a), "/api/v1/s3/events",
                     "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
                     "\"eventName\":\"ObjectCreated:Put\",\"eventTime\":"
                     "\"2026-01-01T00:00:00.000Z\",\"s3\":{\"bucket\":{\"name\":\"bk\"},"
                     "\"object\":{\"key\":\"dir/k1\",\"size\":1,\"eTag\":\"e\","
                     "\"sequencer\":\"0A\"}}}]}",
                     NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);

    /* read through the other replica */
    all = feed_n(G.b, "", NULL, 5);
    if (json_array_size(all) != 5)
        fail_msg("%s", json_dumps(all, 0));
    for (i = 0; i < 5; i++) {
        assert_string_equal(type_of(all, i), want[i]);
        if (i)
            assert_true(id_of(all, i) > id_of(all, i - 1));
    }
    j = json_object_get(json_array_get(all, 4), "data");
    assert_string_equal(json_string_value(json_object_get(j, "bucket")), "bk");
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "records"), 0), "key")),
        "dir/k1");

    /* resume after the second: exactly the last three, by `after` and by Last-Event-ID */
    q = th_strf("&after=%lld", id_of(all, 1));
    rest = feed(G.a, q, NULL, NULL);
    assert_int_equal(json_array_size(rest), 3);
    for (i = 0; i < 3; i++)
        assert_int_equal(id_of(rest, i), id_of(all, i + 2));
    json_decref(rest);
    free(q);
    h = th_strf("Last-Event-ID: %lld", id_of(all, 1));
    lei[0] = h;
    rest = feed(G.b, "", lei, NULL);
    assert_int_equal(json_array_size(rest), 3);
    assert_int_equal(id_of(rest, 0), id_of(all, 2));
    json_decref(rest);
    free(h);
    /* limit pages */
    rest = feed(G.b, "&limit=2", NULL, NULL);
    assert_int_equal(json_array_size(rest), 2);
    json_decref(rest);
    json_decref(all);
}

static void
test_filters(void **state)
{
    long long cursor, top;
    json_t *j;

    (void)state;
    j = feed(G.a, "&limit=1000", NULL, &top);
    json_decref(j);
    j = feed(G.a, "&type=io.ingestd.merge.completed", NULL, NULL);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    j = feed(G.a, "&type=io.ingestd.merge.completed,io.ingestd.event.accepted", NULL, NULL);
    assert_int_equal(json_array_size(j), 2);
    assert_string_equal(type_of(j, 0), "io.ingestd.event.accepted");
    json_decref(j);
    j = feed(G.a, "&type=io.ingestd.merge.completed&type=io.ingestd.s3.objects.changed", NULL,
             NULL);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    j = feed(G.a, "&bucket=bk", NULL, NULL);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    j = feed(G.a, "&bucket=other", NULL, NULL);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    j = feed(G.a, "&prefix=dir/", NULL, NULL);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    /* a full page of matches: resume from its last one */
    j = feed(G.a, "&type=io.ingestd.generation.published&limit=1", NULL, &cursor);
    assert_int_equal(json_array_size(j), 1);
    assert_int_equal(cursor, id_of(j, 0));
    json_decref(j);
    /* nothing matches: the cursor still moves past what was examined */
    j = feed(G.a, "&prefix=zz", NULL, &cursor);
    assert_int_equal(json_array_size(j), 0);
    assert_int_equal(cursor, top);
    json_decref(j);
}

/* a change's data.rowCount, data.id */
static long long
row_count_of(json_t *items, size_t i)
{
    json_t *data = json_object_get(json_array_get(items, i), "data");

    return json_integer_value(json_object_get(data, "rowCount"));
}

/*
 * One io.ingestd.event.accepted per stored event, written by the upload's
 * own statement: with the rows inline (<= 1,000) and with rows sent by COPY
 * after it; none for a repeat of the same bytes (200, nothing stored).
 */
static void
test_accepted_once_per_event(void **state)
{
    struct buf big;
    struct th_resp r;
    long long top;
    json_t *j;
    char *q;
    int i;

    (void)state;
    j = feed(G.a, "&limit=1000", NULL, &top);
    json_decref(j);
    post_event(G.a, "once");
    r = th_post_csv(th_ingestd_base(G.a), "/api/v1/events",
                    CSV_HEAD "https://a.example/once.git,once,main,u,c1,https://p/once\n", NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    buf_init(&big, 0);
    buf_append_str(&big, CSV_HEAD);
    for (i = 0; i < 1500; i++)
        buf_printf(&big, "https://a.example/big%d.git,big%d,main,u,c1,https://p/%d\n", i, i, i);
    r = th_post_csv(th_ingestd_base(G.a), "/api/v1/events", big.data, NULL);
    assert_int_equal(r.status, 201);
    th_resp_release(&r);
    buf_release(&big);
    q = th_strf("&after=%lld&type=io.ingestd.event.accepted", top);
    j = feed_n(G.b, q, NULL, 2);
    assert_int_equal(json_array_size(j), 2);
    assert_int_equal(row_count_of(j, 0), 1);
    assert_int_equal(row_count_of(j, 1), 1500);
    json_decref(j);
    free(q);
}

static void *
post_later(void *arg)
{
    (void)arg;
    th_sleep_ms(1000);
    post_event(G.a, "later");
    return NULL;
}

/* wait= returns as soon as a change committed on the other replica is final */
static void
test_long_poll(void **state)
{
    struct timespec t0, t1;
    long long top;
    pthread_t t;
    json_t *j;
    char *q;
    double s;

    (void)state;
    j = feed(G.b, "&limit=1000", NULL, &top);
    json_decref(j);
    q = th_strf("&after=%lld&wait=20", top);
    assert_int_equal(pthread_create(&t, NULL, post_later, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    j = feed(G.b, q, NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(t, NULL);
    s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(type_of(j, 0), "io.ingestd.event.accepted");
    assert_true(s >= 0.9 && s < 15);
    json_decref(j);
    free(q);
}

/* A row whose id was drawn first but commits last is not skipped by a reader's cursor. */
static void
test_late_commit_not_skipped(void **state)
{
    PGconn *c = PQconnectdb(th_pg_url(G.pg));
    long long top, late;
    PGresult *res;
    json_t *j;
    char *q;

    (void)state;
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    j = feed(G.a, "&limit=1000", NULL, &top);
    json_decref(j);
    res = PQexec(c, "BEGIN; INSERT INTO changes (event_id, type, source, data) VALUES "
                    "(gen_random_uuid(), 'io.ingestd.export.failed', '/api/v1/exports', '{}') "
                    "RETURNING id");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    late = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    post_event(G.b, "after-late"); /* commits with a higher id */
    q = th_strf("&after=%lld", top);
    j = feed(G.a, q, NULL, NULL);
    assert_int_equal(json_array_size(j), 0); /* held back while the lower id is in flight */
    json_decref(j);
    res = PQexec(c, "COMMIT");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
    j = feed_n(G.a, q, NULL, 2);
    assert_int_equal(json_array_size(j), 2);
    assert_int_equal(id_of(j, 0), late);
    assert_string_equal(type_of(j, 1), "io.ingestd.event.accepted");
    json_decref(j);
    free(q);
}

static void
test_bad_input(void **state)
{
    (void)state;
    status_is(G.a, "/api/v1/feed", NULL, 200); /* no format, no Accept: the long poll */
    status_is(G.a, "/api/v1/feed?format=xml", NULL, 400);
    status_is(G.a, "/api/v1/feed?format=sse&wait=1", NULL, 400);
    status_is(G.a, "/api/v1/feed?format=json&after=abc", NULL, 400);
    status_is(G.a, "/api/v1/feed?format=json&after=-1", NULL, 400);
    status_is(G.a, "/api/v1/feed?format=json&type=nope", NULL, 400);
    status_is(G.a, "/api/v1/feed?format=json&type=io.ingestd.event.accepted,", NULL, 200);
    status_is(G.a, "/api/v1/feed?format=json&wait=31", NULL, 400);
    status_is(G.a, "/api/v1/feed?format=json&limit=0", NULL, 400);
    status_is(G.a, "/api/v1/feed?format=json&bogus=1", NULL, 400);
    status_is(G.a, "/api/v1/feed?format=json", (const char *[]){"Last-Event-ID: x1", NULL}, 400);
    status_is(G.a, "/api/v1/feed?format=json",
              (const char *[]){"Last-Event-ID: 99999999999999999999999", NULL}, 400);
}

/* `ingestd tail`: one line per change, in order, filtered, --json; a second run resumes by --after
 */
static void
test_tail(void **state)
{
    char line[4096];
    char *cmd;
    json_t *all, *j;
    long long first;
    FILE *f;
    int n = 0;

    (void)state;
    all = feed(G.a, "&type=io.ingestd.event.accepted", NULL, NULL);
    assert_true(json_array_size(all) >= 3);
    cmd = th_strf("INGESTD_TOKEN= %s tail --url %s --type io.ingestd.event.accepted --count 3 "
                  "--json",
                  INGESTD_BIN, th_ingestd_base(G.b));
    f = popen(cmd, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "id")), id_of(all, (size_t)n));
        assert_string_equal(json_string_value(json_object_get(j, "type")),
                            "io.ingestd.event.accepted");
        json_decref(j);
        n++;
    }
    assert_int_equal(pclose(f), 0);
    assert_int_equal(n, 3);
    free(cmd);
    /* text lines, resumed after the first */
    first = id_of(all, 0);
    cmd = th_strf("%s tail --url %s --after %lld --type io.ingestd.event.accepted --count 1",
                  INGESTD_BIN, th_ingestd_base(G.a), first);
    f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    assert_int_equal(strtoll(line, NULL, 10), id_of(all, 1));
    assert_non_null(strstr(line, " io.ingestd.event.accepted "));
    assert_int_equal(pclose(f), 0);
    free(cmd);
    /* bad usage: 2 */
    cmd = th_strf("%s tail --after x 2>/dev/null", INGESTD_BIN);
    f = popen(cmd, "r");
    assert_int_equal(WEXITSTATUS(pclose(f)), 2);
    free(cmd);
    json_decref(all);
}

static int
group_setup(void **state)
{
    (void)state;
    G.pg = th_pg_start();
    G.a = th_ingestd_start(th_pg_url(G.pg), NULL);
    G.b = th_ingestd_start(th_pg_url(G.pg), NULL);
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
        cmocka_unit_test(test_journal_in_order_across_replicas),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_accepted_once_per_event),
        cmocka_unit_test(test_long_poll),
        cmocka_unit_test(test_late_commit_not_skipped),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_tail),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
