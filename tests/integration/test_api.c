/*
 * test_api.c - the HTTP API of ingestd end to end, over real loopback HTTP
 *
 * One PostgreSQL serves three databases, each with its own ingestd:
 *   fresh   - never written: the state before anything was merged (generation 0);
 *   example - MERGE.md's worked example, from an empty database to generation 2;
 *   main    - everything else.
 * Merges take every pending event, so the tests on `main` that count a merge first
 * merge whatever an earlier test left pending (drain) and set the effective file with
 * PUT before they look at it byte for byte. Every upload has content of its own
 * (identical bytes would be a duplicate).
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
#include <zlib.h>

#include "core/buf.h"
#include "harness.h"

#define DEFAULT_HEADER "origin,path,branch,cloneUrl,changeset,publishUri\n"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;     /* database ingestd */
    struct th_ingestd *fresh;   /* database ingestd_fresh, never written */
    struct th_ingestd *example; /* database ingestd_example, the worked example */
} G;

/* ---- small helpers ---------------------------------------------------- */

static const char *
B(void)
{
    return th_ingestd_base(G.srv);
}

static void
want_status(const struct th_resp *r, long status, const char *what)
{
    if (r->status != status)
        fail_msg("%s: status %ld, want %ld\n  body: %.800s", what, r->status, status,
                 r->body ? r->body : "");
}

static void
want_header(const struct th_resp *r, const char *name, const char *value)
{
    char *v = th_resp_header(r, name);

    if (!v)
        fail_msg("header %s is missing (want \"%s\")\n%s", name, value, r->headers);
    if (strcmp(v, value) != 0)
        fail_msg("header %s is \"%s\", want \"%s\"", name, v, value);
    free(v);
}

static void
want_no_header(const struct th_resp *r, const char *name)
{
    char *v = th_resp_header(r, name);

    if (v)
        fail_msg("header %s should be absent, is \"%s\"", name, v);
}

static void
want_body(const struct th_resp *r, const char *data, size_t len)
{
    if (r->len != len || memcmp(r->body, data, len) != 0)
        fail_msg("body (%zu bytes):\n%.*s\n--- want (%zu bytes):\n%.*s", r->len, (int)r->len,
                 r->body, len, (int)len, data);
}

/* Fail unless `got` equals the JSON text `expected`. */
static void
want_json(json_t *got, const char *expected)
{
    json_error_t jerr;
    json_t *want = json_loads(expected, 0, &jerr);
    char *g;

    if (!want)
        fail_msg("bad expected JSON %s: %s", expected, jerr.text);
    if (!json_equal(got, want)) {
        g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("JSON\n  %s\nwant\n  %s", g, expected);
    }
    json_decref(want);
}

/* gzip-compress data (a complete gzip member); caller frees. */
static char *
gzip_bytes(const void *data, size_t len, size_t *out_len)
{
    z_stream zs;
    size_t cap = compressBound((uLong)len) + 64;
    char *out = xmalloc(cap);

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* gunzip a complete gzip member; caller frees; fails the test on bad data. */
static char *
gunzip_bytes(const void *data, size_t len, size_t *out_len)
{
    z_stream zs;
    struct buf b;
    char chunk[16384];
    int zr;

    memset(&zs, 0, sizeof(zs));
    buf_init(&b, 0);
    assert_int_equal(inflateInit2(&zs, 31), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    do {
        zs.next_out = (Bytef *)chunk;
        zs.avail_out = sizeof(chunk);
        zr = inflate(&zs, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END)
            fail_msg("gunzip: zlib error %d", zr);
        buf_append(&b, chunk, sizeof(chunk) - zs.avail_out);
    } while (zr != Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0);
    inflateEnd(&zs);
    return buf_take(&b, out_len);
}

/* ---- API helpers -------------------------------------------------------- */

static json_t *
get_json(const char *base, const char *path, long status)
{
    struct th_resp r = th_get(base, path, NULL);
    json_t *j;

    want_status(&r, status, path);
    want_header(&r, "Content-Type", status < 400 ? "application/json" : "application/problem+json");
    j = th_resp_json(&r);
    th_resp_release(&r);
    return j;
}

/* Fail unless `e` has the shape of an event object. */
static void
check_event(json_t *e)
{
    json_t *cols = json_object_get(e, "columns");
    json_t *mid = json_object_get(e, "merge_id");
    json_t *mat = json_object_get(e, "merged_at");
    const char *status = th_jstr(e, "status");
    const char *sha = th_jstr(e, "sha256");
    size_t i;

    assert_int_equal(json_object_size(e), 12);
    assert_true(th_is_uuid(th_jstr(e, "id")));
    assert_true(th_jint(e, "sequence") >= 1);
    assert_true(!strcmp(status, "pending") || !strcmp(status, "merged"));
    assert_true(th_is_ts(th_jstr(e, "received_at")));
    assert_true(json_is_null(json_object_get(e, "source")) ||
                json_is_string(json_object_get(e, "source")));
    assert_true(th_jint(e, "rows") >= 0);
    assert_true(th_jint(e, "bytes") >= 1);
    assert_int_equal(strlen(sha), 64);
    assert_int_equal(strspn(sha, "0123456789abcdef"), 64);
    assert_true(json_is_array(cols));
    for (i = 0; i < json_array_size(cols); i++)
        assert_true(json_is_string(json_array_get(cols, i)));
    if (!strcmp(status, "pending")) {
        assert_true(json_is_null(mid));
        assert_true(json_is_null(mat));
    } else {
        assert_true(th_is_uuid(json_string_value(mid)));
        assert_true(th_is_ts(json_string_value(mat)));
    }
    assert_true(json_is_boolean(json_object_get(e, "duplicate")));
}

/* POST csv to /api/v1/events with extra headers; want `status` (201 or 200); the event. */
static json_t *
upload(const char *base, const char *csv, const char *const *headers, long status)
{
    struct th_resp r = th_post_csv(base, "/api/v1/events", csv, headers);
    json_t *e;

    want_status(&r, status, "POST /api/v1/events");
    want_header(&r, "Content-Type", "application/json");
    e = th_resp_json(&r);
    check_event(e);
    if (status == 201) {
        char *loc = th_strf("/api/v1/events/%s", th_jstr(e, "id"));

        want_header(&r, "Location", loc);
        free(loc);
        assert_false(json_is_true(json_object_get(e, "duplicate")));
        assert_string_equal(th_jstr(e, "status"), "pending");
    } else {
        assert_true(json_is_true(json_object_get(e, "duplicate")));
    }
    th_resp_release(&r);
    return e;
}

/* Fail unless the RFC 3339 timestamp ts is within an hour of the wall clock. */
static void
want_recent(const char *ts)
{
    struct tm tm;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (!strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm))
        fail_msg("not a timestamp: %s", ts);
    t = timegm(&tm);
    if (t < time(NULL) - 3600 || t > time(NULL) + 3600)
        fail_msg("timestamp %s is not the wall clock's", ts);
}

/* Fail unless `m` has the shape of a merge object whose counts add up. */
static void
check_merge(json_t *m)
{
    json_t *ca = json_object_get(m, "columns_added");

    assert_int_equal(json_object_size(m), 14);
    assert_true(th_is_uuid(th_jstr(m, "id")));
    assert_string_equal(th_jstr(m, "status"), "succeeded");
    assert_true(json_is_boolean(json_object_get(m, "dry_run")));
    assert_true(json_is_array(ca));
    assert_true(th_is_ts(th_jstr(m, "started_at")));
    assert_true(th_is_ts(th_jstr(m, "finished_at")));
    assert_true(strcmp(th_jstr(m, "started_at"), th_jstr(m, "finished_at")) <= 0);
    want_recent(th_jstr(m, "started_at"));
    want_recent(th_jstr(m, "finished_at"));
    assert_true(th_jint(m, "duration_ms") >= 0);
    assert_true(th_jint(m, "events") >= 0);
    assert_true(th_jint(m, "generation") >= 0);
    assert_true(th_jint(m, "added") >= 0 && th_jint(m, "updated") >= 0 &&
                th_jint(m, "unchanged") >= 0 && th_jint(m, "skipped") >= 0);
    assert_int_equal(th_jint(m, "added") + th_jint(m, "updated") + th_jint(m, "unchanged") +
                         th_jint(m, "skipped"),
                     th_jint(m, "rows"));
}

/* POST /api/v1/merges with `body` (NULL: no body at all); want 200; the merge. */
static json_t *
merge_now(const char *base, const char *body)
{
    struct th_resp r = body ? th_post_json(base, "/api/v1/merges", body, NULL)
                            : th_request("POST", base, "/api/v1/merges", NULL, NULL, 0);
    json_t *m;

    want_status(&r, 200, "POST /api/v1/merges");
    want_header(&r, "Content-Type", "application/json");
    m = th_resp_json(&r);
    th_resp_release(&r);
    check_merge(m);
    return m;
}

/* Merge whatever earlier tests left pending. */
static void
drain(void)
{
    json_decref(merge_now(B(), NULL));
}

static void
want_counts(json_t *m, json_int_t events, json_int_t rows, json_int_t added, json_int_t updated,
            json_int_t unchanged, json_int_t skipped)
{
    char *got = json_dumps(m, JSON_COMPACT);

    if (th_jint(m, "events") != events || th_jint(m, "rows") != rows ||
        th_jint(m, "added") != added || th_jint(m, "updated") != updated ||
        th_jint(m, "unchanged") != unchanged || th_jint(m, "skipped") != skipped)
        fail_msg("merge %s\nwant events %lld rows %lld added %lld updated %lld unchanged %lld "
                 "skipped %lld",
                 got, (long long)events, (long long)rows, (long long)added, (long long)updated,
                 (long long)unchanged, (long long)skipped);
    free(got);
}

/* PUT csv as the effective file; want 200; the new generation. */
static json_int_t
put_repos(const char *base, const char *csv, const char *const *headers)
{
    const char *h[8] = {"Content-Type: text/csv", NULL};
    struct th_resp r;
    json_int_t gen;
    char *etag;
    size_t n = 1;

    while (headers && *headers && n < 7)
        h[n++] = *headers++;
    r = th_request("PUT", base, "/api/v1/repos.csv", h, csv, strlen(csv));
    want_status(&r, 200, "PUT /api/v1/repos.csv");
    {
        json_t *j = th_resp_json(&r);

        gen = th_jint(j, "generation");
        assert_true(gen >= 1);
        etag = th_strf("\"%lld\"", (long long)gen);
        want_header(&r, "ETag", etag);
        free(etag);
        json_decref(j);
    }
    th_resp_release(&r);
    return gen;
}

/* GET /api/v1/repos.csv; the body (caller frees) and its X-Generation. */
static char *
repos_csv(const char *base, json_int_t *gen)
{
    struct th_resp r = th_get(base, "/api/v1/repos.csv", NULL);
    char *g;
    char *body;

    want_status(&r, 200, "GET /api/v1/repos.csv");
    g = th_resp_header(&r, "X-Generation");
    assert_non_null(g);
    if (gen)
        *gen = strtoll(g, NULL, 10);
    free(g);
    body = xstrndup(r.body, r.len);
    th_resp_release(&r);
    return body;
}

static void
want_repos_csv(const char *base, const char *expected)
{
    char *got = repos_csv(base, NULL);

    if (strcmp(got, expected) != 0)
        fail_msg("repos.csv:\n%s--- want:\n%s", got, expected);
    free(got);
}

static json_int_t
generation_now(const char *base)
{
    json_int_t gen = -1;

    free(repos_csv(base, &gen));
    return gen;
}

/* The items of GET path (a list answer) as a new reference. */
static json_t *
list_items(const char *base, const char *path)
{
    json_t *j = get_json(base, path, 200);
    json_t *items = json_incref(json_object_get(j, "items"));

    assert_true(json_is_array(items));
    json_decref(j);
    return items;
}

static size_t
count_events(const char *base)
{
    json_t *items = list_items(base, "/api/v1/events?limit=1000");
    size_t n = json_array_size(items);

    json_decref(items);
    return n;
}

/* ---- fixtures ----------------------------------------------------------- */

static int
group_setup(void **state)
{
    char *url;

    (void)state;
    G.pg = th_pg_start();
    PQclear(th_pg_exec(G.pg, "CREATE DATABASE ingestd_fresh"));
    PQclear(th_pg_exec(G.pg, "CREATE DATABASE ingestd_example"));
    G.srv = th_ingestd_start(th_pg_url(G.pg), NULL);
    url = th_strf("%s dbname=ingestd_fresh", th_pg_url(G.pg));
    G.fresh = th_ingestd_start(url, NULL);
    free(url);
    url = th_strf("%s dbname=ingestd_example", th_pg_url(G.pg));
    G.example = th_ingestd_start(url, NULL);
    free(url);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.example);
    th_ingestd_free(G.fresh);
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    return 0;
}

/* ---- before anything was merged ---------------------------------------- */

static void
test_repos_csv_before_anything(void **state)
{
    const char *base = th_ingestd_base(G.fresh);
    const char *inm[] = {"If-None-Match: \"0\"", NULL};
    struct th_resp r;
    json_t *j;

    (void)state;
    r = th_get(base, "/api/v1/repos.csv", NULL);
    want_status(&r, 200, "GET repos.csv (fresh)");
    want_body(&r, DEFAULT_HEADER, strlen(DEFAULT_HEADER));
    want_header(&r, "Content-Type", "text/csv; charset=utf-8");
    want_header(&r, "ETag", "\"0\"");
    want_header(&r, "X-Generation", "0");
    want_header(&r, "Vary", "Accept-Encoding");
    want_header(&r, "Cache-Control", "no-cache");
    want_no_header(&r, "Content-Encoding");
    {
        char *lm = th_resp_header(&r, "Last-Modified");
        struct tm tm;

        assert_non_null(lm);
        memset(&tm, 0, sizeof(tm));
        assert_non_null(strptime(lm, "%a, %d %b %Y %H:%M:%S GMT", &tm));
        free(lm);
    }
    th_resp_release(&r);

    r = th_request("HEAD", base, "/api/v1/repos.csv", NULL, NULL, 0);
    want_status(&r, 200, "HEAD repos.csv (fresh)");
    assert_int_equal(r.len, 0);
    want_header(&r, "ETag", "\"0\"");
    want_header(&r, "X-Generation", "0");
    th_resp_release(&r);

    r = th_get(base, "/api/v1/repos.csv", inm);
    want_status(&r, 304, "GET repos.csv If-None-Match \"0\" (fresh)");
    assert_int_equal(r.len, 0);
    th_resp_release(&r);

    j = get_json(base, "/api/v1/repos", 200);
    want_json(j, "{\"items\":[],\"next\":null,\"generation\":0}");
    json_decref(j);
    j = get_json(base, "/api/v1/events", 200);
    want_json(j, "{\"items\":[],\"next\":null}");
    json_decref(j);
    j = get_json(base, "/api/v1/merges", 200);
    want_json(j, "{\"items\":[],\"next\":null}");
    json_decref(j);
}

/* ---- MERGE.md's worked example ------------------------------------------ */

static const char example_initial[] =
    "origin,path,branch,cloneUrl,changeset,publishUri\n"
    "github.com,org/existing-repo,main,https://github.com/org/existing-repo,oldHash123,"
    "https://artifactory.com/lst/old-existing.jar\n"
    "github.com,org/another-repo,main,https://github.com/org/another-repo,anotherHash456,"
    "https://artifactory.com/lst/another.jar\n";

static const char example_event1[] =
    "origin,path,branch,cloneUrl,changeset,publishUri\n"
    "github.com,org/existing-repo,main,https://github.com/org/existing-repo,newHash789,"
    "https://artifactory.com/lst/new-existing.jar\n"
    "github.com,org/new-repo,main,https://github.com/org/new-repo,brandNewHash,"
    "https://artifactory.com/lst/new-repo.jar\n";

static const char example_event2[] =
    "origin,path,branch,cloneUrl,changeset,publishUri\n"
    "github.com,org/another-repo,main,https://github.com/org/another-repo,updatedHash999,"
    "https://artifactory.com/lst/updated-another.jar\n"
    "github.com,org/third-repo,main,https://github.com/org/third-repo,thirdHash111,"
    "https://artifactory.com/lst/third.jar\n";

static const char example_result[] =
    "origin,path,branch,cloneUrl,changeset,publishUri\n"
    "github.com,org/existing-repo,main,https://github.com/org/existing-repo,newHash789,"
    "https://artifactory.com/lst/new-existing.jar\n"
    "github.com,org/another-repo,main,https://github.com/org/another-repo,updatedHash999,"
    "https://artifactory.com/lst/updated-another.jar\n"
    "github.com,org/new-repo,main,https://github.com/org/new-repo,brandNewHash,"
    "https://artifactory.com/lst/new-repo.jar\n"
    "github.com,org/third-repo,main,https://github.com/org/third-repo,thirdHash111,"
    "https://artifactory.com/lst/third.jar\n";

static void
test_worked_example(void **state)
{
    const char *base = th_ingestd_base(G.example);
    const char *ev_ids[4];
    json_t *e1;
    json_t *e2;
    json_t *m;
    json_t *j;
    json_t *items;
    struct th_resp r;
    char *path;
    size_t i;

    (void)state;
    r = th_request("PUT", base, "/api/v1/repos.csv",
                   (const char *[]){"Content-Type: text/csv", NULL}, example_initial,
                   strlen(example_initial));
    want_status(&r, 200, "PUT initial");
    want_header(&r, "ETag", "\"1\"");
    j = th_resp_json(&r);
    want_json(j, "{\"generation\":1,\"rows\":2,\"columns\":[\"origin\",\"path\",\"branch\","
                 "\"cloneUrl\",\"changeset\",\"publishUri\"]}");
    json_decref(j);
    th_resp_release(&r);
    want_repos_csv(base, example_initial);

    e1 = upload(base, example_event1, NULL, 201);
    e2 = upload(base, example_event2, NULL, 201);
    assert_true(th_jint(e2, "sequence") > th_jint(e1, "sequence"));
    assert_int_equal(th_jint(e1, "rows"), 2);
    assert_int_equal(th_jint(e1, "bytes"), strlen(example_event1));

    m = merge_now(base, NULL);
    want_counts(m, 2, 4, 2, 2, 0, 0);
    assert_int_equal(th_jint(m, "generation"), 2);
    assert_false(json_is_true(json_object_get(m, "dry_run")));
    assert_int_equal(json_array_size(json_object_get(m, "columns_added")), 0);

    r = th_get(base, "/api/v1/repos.csv", NULL);
    want_status(&r, 200, "GET repos.csv after the merge");
    want_body(&r, example_result, strlen(example_result));
    want_header(&r, "ETag", "\"2\"");
    want_header(&r, "X-Generation", "2");
    th_resp_release(&r);

    for (i = 0; i < 2; i++) {
        json_t *e = i ? e2 : e1;

        path = th_strf("/api/v1/events/%s", th_jstr(e, "id"));
        j = get_json(base, path, 200);
        check_event(j);
        assert_string_equal(th_jstr(j, "status"), "merged");
        assert_string_equal(th_jstr(j, "merge_id"), th_jstr(m, "id"));
        assert_string_equal(th_jstr(j, "merged_at"), th_jstr(m, "finished_at"));
        assert_false(json_is_true(json_object_get(j, "duplicate")));
        json_decref(j);
        free(path);
    }
    j = get_json(base, "/api/v1/events?status=pending", 200);
    want_json(j, "{\"items\":[],\"next\":null}");
    json_decref(j);
    items = list_items(base, "/api/v1/events?status=merged");
    assert_int_equal(json_array_size(items), 2);
    json_decref(items);

    path = th_strf("/api/v1/merges/%s", th_jstr(m, "id"));
    j = get_json(base, path, 200);
    assert_true(json_equal(j, m));
    json_decref(j);
    free(path);

    /* the JSON rows tell which event wrote each row */
    ev_ids[0] = th_jstr(e1, "id");
    ev_ids[1] = th_jstr(e2, "id");
    ev_ids[2] = th_jstr(e1, "id");
    ev_ids[3] = th_jstr(e2, "id");
    j = get_json(base, "/api/v1/repos", 200);
    assert_int_equal(th_jint(j, "generation"), 2);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 4);
    for (i = 0; i < 4; i++) {
        static const char *const paths[] = {"org/existing-repo", "org/another-repo", "org/new-repo",
                                            "org/third-repo"};
        json_t *row = json_array_get(items, i);

        assert_string_equal(th_jstr(row, "path"), paths[i]);
        assert_string_equal(th_jstr(row, "event_id"), ev_ids[i]);
    }
    json_decref(j);
    json_decref(m);
    json_decref(e1);
    json_decref(e2);
}

/* ---- operations ------------------------------------------------------------ */

static void
test_operations(void **state)
{
    struct th_resp r;
    json_t *j;
    char *spec_path;
    char *dir;
    char *spec;
    size_t spec_len;

    (void)state;
    r = th_get(B(), "/healthz", NULL);
    want_status(&r, 200, "GET /healthz");
    want_header(&r, "Content-Type", "application/json");
    j = th_resp_json(&r);
    want_json(j, "{\"status\":\"ok\"}");
    json_decref(j);
    th_resp_release(&r);

    r = th_request("HEAD", B(), "/healthz", NULL, NULL, 0);
    want_status(&r, 200, "HEAD /healthz");
    assert_int_equal(r.len, 0);
    th_resp_release(&r);

    {
        static const char *const gets[] = {"/readyz", "/api/v1/events", "/api/v1/merges",
                                           "/api/v1/repos", "/api/v1/repos.csv"};
        size_t i;

        for (i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
            r = th_request("HEAD", B(), gets[i], NULL, NULL, 0);
            want_status(&r, 200, gets[i]);
            assert_int_equal(r.len, 0);
            th_resp_release(&r);
        }
    }
    r = th_get(B(), "/healthz?verbose=1", NULL); /* a query string is ignored */
    want_status(&r, 200, "GET /healthz?verbose=1");
    th_resp_release(&r);

    r = th_get(B(), "/readyz", NULL);
    want_status(&r, 200, "GET /readyz");
    want_header(&r, "Content-Type", "application/json");
    j = th_resp_json(&r);
    want_json(j, "{\"status\":\"ready\"}");
    json_decref(j);
    th_resp_release(&r);

    /* the served document is openapi/openapi.yaml, byte for byte */
    dir = xstrdup(__FILE__);
    *strrchr(dir, '/') = '\0';
    spec_path = th_strf("%s/../../openapi/openapi.yaml", dir);
    spec = th_read_file(spec_path, &spec_len);
    r = th_get(B(), "/openapi.yaml", NULL);
    want_status(&r, 200, "GET /openapi.yaml");
    want_header(&r, "Content-Type", "application/yaml");
    want_body(&r, spec, spec_len);
    assert_int_equal(strncmp(r.body, "openapi: 3.1.0\n", 15), 0);
    th_resp_release(&r);
    r = th_request("HEAD", B(), "/openapi.yaml", NULL, NULL, 0);
    want_status(&r, 200, "HEAD /openapi.yaml");
    assert_int_equal(r.len, 0);
    th_resp_release(&r);
    free(spec);
    free(spec_path);
    free(dir);
}

/*
 * JSON (and other text) responses of 1 KiB or more are gzipped when the
 * client accepts gzip, with Vary: Accept-Encoding; the bytes inflate to the
 * plain answer. Small ones and clients without gzip get them plain.
 */
static void
test_json_gzip(void **state)
{
    const char *gz[] = {"Accept-Encoding: gzip, deflate", NULL};
    const char *no_gz[] = {"Accept-Encoding: gzip;q=0, identity", NULL};
    static const char *const paths[] = {"/api/v1/events?limit=50", "/openapi.yaml"};
    struct th_resp plain, packed;
    char *ce;
    char *inflated;
    size_t n;
    size_t i;
    int k;

    (void)state;
    for (k = 0; k < 30; k++) { /* enough events for a list over 1 KiB */
        char *csv = th_strf(DEFAULT_HEADER "https://gz.example/r%d.git,p%d,main,,,\n", k, k);
        struct th_resp r = th_post_csv(B(), "/api/v1/events", csv, NULL);

        assert_true(r.status == 201 || r.status == 200);
        th_resp_release(&r);
        free(csv);
    }
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        plain = th_get(B(), paths[i], NULL);
        packed = th_get(B(), paths[i], gz);
        want_status(&plain, 200, paths[i]);
        want_status(&packed, 200, paths[i]);
        assert_true(plain.len >= 1024);
        want_header(&packed, "Content-Encoding", "gzip");
        want_header(&packed, "Vary", "Accept-Encoding");
        assert_true(packed.len < plain.len);
        inflated = gunzip_bytes(packed.body, packed.len, &n);
        if (n != plain.len || memcmp(inflated, plain.body, n) != 0)
            fail_msg("%s: gzip body does not inflate to the plain one", paths[i]);
        free(inflated);
        ce = th_resp_header(&plain, "Content-Encoding");
        assert_null(ce);
        th_resp_release(&plain);
        th_resp_release(&packed);
        packed = th_get(B(), paths[i], no_gz);
        ce = th_resp_header(&packed, "Content-Encoding");
        assert_null(ce);
        th_resp_release(&packed);
    }
    packed = th_get(B(), "/healthz", gz); /* small: plain */
    ce = th_resp_header(&packed, "Content-Encoding");
    assert_null(ce);
    th_resp_release(&packed);
}

/*
 * A second server on a taken address stops at once, before it starts any
 * PostgreSQL, with one line naming INGESTD_LISTEN.
 */
static void
test_port_taken(void **state)
{
    char *cmd;
    char *out;
    char *nl;
    int rc;

    (void)state;
    cmd = th_strf("env -i PATH=/usr/bin:/bin INGESTD_LISTEN=127.0.0.1:%d "
                  "INGESTD_DATA_DIR=/nonexistent/ingestd-port-taken %s serve 2>&1",
                  th_ingestd_port(G.srv), INGESTD_BIN);
    out = th_run(cmd, &rc);
    nl = strchr(out, '\n');
    if (rc != 1 || !nl || nl[1] != '\0' || !strstr(out, "INGESTD_LISTEN: 127.0.0.1:") ||
        !strstr(out, "already in use"))
        fail_msg("want exit 1 and one line naming INGESTD_LISTEN, got status %d:\n%s", rc, out);
    free(out);
    free(cmd);
}

/* ---- X-Request-Id ------------------------------------------------------------ */

static void
want_generated_id(const struct th_resp *r, const char *not_this)
{
    char *id = th_resp_header(r, "X-Request-Id");

    assert_non_null(id);
    if (!th_is_uuid(id))
        fail_msg("X-Request-Id \"%s\" is not a generated UUID", id);
    if (not_this)
        assert_string_not_equal(id, not_this);
    free(id);
}

static void
test_request_id(void **state)
{
    char id128[129];
    char id129[130];
    char *h;
    struct th_resp r;
    struct th_resp r2;
    json_t *j;
    char *a;
    char *b;

    (void)state;
    r = th_get(B(), "/healthz", (const char *[]){"X-Request-Id: abc-123_X.y:z", NULL});
    want_header(&r, "X-Request-Id", "abc-123_X.y:z");
    th_resp_release(&r);

    /* up to 128 characters are echoed, longer ids are replaced */
    memset(id128, 'a', 128);
    id128[128] = '\0';
    h = th_strf("X-Request-Id: %s", id128);
    r = th_get(B(), "/healthz", (const char *[]){h, NULL});
    want_header(&r, "X-Request-Id", id128);
    th_resp_release(&r);
    free(h);

    memset(id129, 'b', 129);
    id129[129] = '\0';
    h = th_strf("X-Request-Id: %s", id129);
    r = th_get(B(), "/healthz", (const char *[]){h, NULL});
    want_generated_id(&r, id129);
    th_resp_release(&r);
    free(h);

    r = th_get(B(), "/healthz", (const char *[]){"X-Request-Id: has space", NULL});
    want_generated_id(&r, NULL);
    th_resp_release(&r);
    r = th_get(B(), "/healthz", (const char *[]){"X-Request-Id: a/b", NULL});
    want_generated_id(&r, NULL);
    th_resp_release(&r);
    r = th_get(B(), "/healthz", (const char *[]){"X-Request-Id: caf\xc3\xa9", NULL});
    want_generated_id(&r, NULL);
    th_resp_release(&r);
    r = th_get(B(), "/healthz", (const char *[]){"X-Request-Id;", NULL}); /* empty value */
    want_generated_id(&r, NULL);
    th_resp_release(&r);

    /* generated ids differ from request to request */
    r = th_get(B(), "/healthz", NULL);
    r2 = th_get(B(), "/healthz", NULL);
    a = th_resp_header(&r, "X-Request-Id");
    b = th_resp_header(&r2, "X-Request-Id");
    assert_true(th_is_uuid(a) && th_is_uuid(b));
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    th_resp_release(&r);
    th_resp_release(&r2);

    /* problem bodies carry the same id */
    r = th_get(B(), "/no/such/path", (const char *[]){"X-Request-Id: trace-404", NULL});
    want_status(&r, 404, "GET /no/such/path");
    want_header(&r, "X-Request-Id", "trace-404");
    j = th_resp_json(&r);
    assert_string_equal(th_jstr(j, "request_id"), "trace-404");
    json_decref(j);
    th_resp_release(&r);
    r = th_get(B(), "/no/such/path", (const char *[]){"X-Request-Id: not ok", NULL});
    a = th_resp_header(&r, "X-Request-Id");
    j = th_resp_json(&r);
    assert_true(th_is_uuid(a));
    assert_string_equal(th_jstr(j, "request_id"), a);
    json_decref(j);
    free(a);
    th_resp_release(&r);
}

/* ---- events ------------------------------------------------------------------ */

static void
test_event_create_and_get(void **state)
{
    static const char csv[] = "origin,path,branch,cloneUrl,changeset,publishUri\n"
                              "github.com,create/one,main,https://x/one,c1,https://a/one.jar\n"
                              "github.com,create/two,,https://x/two,,\n";
    const char *src[] = {"X-Event-Source: worker-3", NULL};
    char sha[65];
    json_t *e;
    json_t *j;
    json_t *e2;
    char *path;
    struct th_resp r;
    json_int_t seq;

    (void)state;
    e = upload(B(), csv, src, 201);
    th_sha256_hex(csv, strlen(csv), sha);
    assert_string_equal(th_jstr(e, "status"), "pending");
    assert_string_equal(th_jstr(e, "source"), "worker-3");
    assert_int_equal(th_jint(e, "rows"), 2);
    assert_int_equal(th_jint(e, "bytes"), strlen(csv));
    assert_string_equal(th_jstr(e, "sha256"), sha);
    want_json(json_object_get(e, "columns"),
              "[\"origin\",\"path\",\"branch\",\"cloneUrl\",\"changeset\",\"publishUri\"]");
    assert_true(json_is_null(json_object_get(e, "merge_id")));
    assert_true(json_is_null(json_object_get(e, "merged_at")));
    assert_true(json_is_false(json_object_get(e, "duplicate")));

    path = th_strf("/api/v1/events/%s", th_jstr(e, "id"));
    j = get_json(B(), path, 200);
    if (!json_equal(j, e))
        fail_msg("GET %s differs from the 201 answer", path);
    json_decref(j);
    r = th_request("HEAD", B(), path, NULL, NULL, 0);
    want_status(&r, 200, "HEAD event");
    assert_int_equal(r.len, 0);
    th_resp_release(&r);
    free(path);

    path = th_strf("/api/v1/events/%s/content", th_jstr(e, "id"));
    r = th_get(B(), path, NULL);
    want_status(&r, 200, "GET content");
    want_header(&r, "Content-Type", "text/csv; charset=utf-8");
    want_body(&r, csv, strlen(csv));
    th_resp_release(&r);
    free(path);

    /* no X-Event-Source: null; no Content-Type: read as text/csv; utf-8 charsets */
    seq = th_jint(e, "sequence");
    r = th_request("POST", B(), "/api/v1/events", NULL, "origin,path\ngh,create/no-ct\n",
                   strlen("origin,path\ngh,create/no-ct\n"));
    want_status(&r, 201, "POST without Content-Type");
    e2 = th_resp_json(&r);
    check_event(e2);
    assert_true(json_is_null(json_object_get(e2, "source")));
    want_json(json_object_get(e2, "columns"), "[\"origin\",\"path\"]");
    assert_true(th_jint(e2, "sequence") > seq);
    seq = th_jint(e2, "sequence");
    json_decref(e2);
    th_resp_release(&r);
    {
        static const char *const cts[] = {
            "Content-Type: text/csv; charset=utf-8", "Content-Type: text/csv;charset=UTF-8",
            "Content-Type: text/csv; charset=utf8", "Content-Type: text/csv; charset=us-ascii",
            "Content-Type: TEXT/CSV"};
        size_t i;

        for (i = 0; i < sizeof(cts) / sizeof(cts[0]); i++) {
            char *body = th_strf("origin,path\ngh,create/ct-%zu\n", i);

            e2 = upload(B(), body, (const char *[]){cts[i], NULL}, 201);
            assert_true(th_jint(e2, "sequence") > seq);
            seq = th_jint(e2, "sequence");
            json_decref(e2);
            free(body);
        }
    }
    json_decref(e);
}

static void
test_event_duplicates(void **state)
{
    static const char a[] = "origin,path,changeset,publishUri\ngh,dup/a,c,p\n";
    static const char b[] = "origin,path,changeset,publishUri\ngh,dup/b,c,p\n";
    static const char c[] = "origin,path,changeset,publishUri\ngh,dup/c,c,p\n";
    static const char d[] = "origin,path,changeset,publishUri\ngh,dup/d,c,p\n";
    json_t *ea;
    json_t *eb;
    json_t *x;
    json_t *y;
    size_t n;

    (void)state;
    ea = upload(B(), a, (const char *[]){"X-Event-Source: first", NULL}, 201);
    n = count_events(B());

    /* the same bytes again: 200, the stored event, nothing stored */
    x = upload(B(), a, NULL, 200);
    assert_string_equal(th_jstr(x, "id"), th_jstr(ea, "id"));
    assert_int_equal(th_jint(x, "sequence"), th_jint(ea, "sequence"));
    assert_string_equal(th_jstr(x, "source"), "first");
    json_object_set_new(x, "duplicate", json_false());
    assert_true(json_equal(x, ea));
    json_decref(x);
    assert_int_equal(count_events(B()), n);

    /* a repeated Idempotency-Key returns the original before the body is even parsed */
    eb = upload(B(), b, (const char *[]){"Idempotency-Key: key-b-1", NULL}, 201);
    n = count_events(B());
    x = upload(B(), c, (const char *[]){"Idempotency-Key: key-b-1", NULL}, 200);
    assert_string_equal(th_jstr(x, "id"), th_jstr(eb, "id"));
    assert_int_equal(th_jint(x, "sequence"), th_jint(eb, "sequence"));
    json_decref(x);
    x = upload(B(), "this is,\"not a csv", (const char *[]){"Idempotency-Key: key-b-1", NULL}, 200);
    assert_string_equal(th_jstr(x, "id"), th_jstr(eb, "id"));
    json_decref(x);
    assert_int_equal(count_events(B()), n);
    /* c was not stored under the key: uploading it alone makes a new event */
    x = upload(B(), c, NULL, 201);
    assert_true(th_jint(x, "sequence") > th_jint(eb, "sequence"));
    json_decref(x);

    /* identical content with a new key and source: the original; key and source not recorded */
    x = upload(B(), a, (const char *[]){"Idempotency-Key: key-a-2", "X-Event-Source: second", NULL},
               200);
    assert_string_equal(th_jstr(x, "id"), th_jstr(ea, "id"));
    assert_string_equal(th_jstr(x, "source"), "first");
    json_decref(x);
    y = upload(B(), d, (const char *[]){"Idempotency-Key: key-a-2", NULL}, 201);
    assert_string_not_equal(th_jstr(y, "id"), th_jstr(ea, "id"));
    json_decref(y);
    x = get_json(B(), "/api/v1/events?source=second", 200);
    want_json(x, "{\"items\":[],\"next\":null}");
    json_decref(x);

    json_decref(ea);
    json_decref(eb);
}

static void
want_content(const char *id, const char *data, size_t len)
{
    char *path = th_strf("/api/v1/events/%s/content", id);
    struct th_resp r = th_get(B(), path, NULL);

    want_status(&r, 200, path);
    want_header(&r, "Content-Type", "text/csv; charset=utf-8");
    want_body(&r, data, len);
    th_resp_release(&r);
    free(path);
}

/* A body of the form `curl -F file=@repos-lock.csv` sends, with an optional leading field. */
static char *
multipart_body(const char *boundary, const char *file, size_t file_len, int with_field, size_t *len)
{
    struct buf b;

    buf_init(&b, 0);
    if (with_field)
        buf_printf(&b,
                   "--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
                   "not the file\r\n",
                   boundary);
    buf_printf(&b,
               "--%s\r\nContent-Disposition: form-data; name=\"file\"; "
               "filename=\"repos-lock.csv\"\r\nContent-Type: application/octet-stream\r\n\r\n",
               boundary);
    buf_append(&b, file, file_len);
    buf_printf(&b, "\r\n--%s--\r\n", boundary);
    return buf_take(&b, len);
}

static void
test_event_multipart(void **state)
{
    static const char boundary[] = "------------------------d74496d66958873e";
    static const char file1[] = "origin,path,branch,changeset,publishUri\r\n"
                                "gh,mp/one,main,c1,p1\r\n"
                                "gh,mp/two,main,\"c2\r\n--not-a-boundary\",p2\r\n";
    static const char file2[] = "origin,path\ngh,mp/three\n";
    static const char file3[] = "origin,path\ngh,mp/gzip-of-form\n";
    static const char file4[] = "origin,path\ngh,mp/chunked-form\n";
    char *ct = th_strf("Content-Type: multipart/form-data; boundary=%s", boundary);
    const char *h[] = {ct, NULL};
    const char *hgz[] = {ct, "Content-Encoding: gzip", NULL};
    struct th_resp r;
    char *body;
    char *gz;
    size_t len;
    size_t gz_len;
    json_t *e;
    char *url;

    (void)state;
    body = multipart_body(boundary, file1, strlen(file1), 0, &len);
    r = th_request("POST", B(), "/api/v1/events", h, body, len);
    want_status(&r, 201, "POST multipart");
    e = th_resp_json(&r);
    check_event(e);
    assert_int_equal(th_jint(e, "rows"), 2);
    assert_int_equal(th_jint(e, "bytes"), strlen(file1));
    want_content(th_jstr(e, "id"), file1, strlen(file1));
    json_decref(e);
    th_resp_release(&r);
    free(body);

    /* other form fields are ignored */
    body = multipart_body(boundary, file2, strlen(file2), 1, &len);
    r = th_request("POST", B(), "/api/v1/events", h, body, len);
    want_status(&r, 201, "POST multipart with a text field");
    e = th_resp_json(&r);
    assert_int_equal(th_jint(e, "bytes"), strlen(file2));
    want_content(th_jstr(e, "id"), file2, strlen(file2));
    json_decref(e);
    th_resp_release(&r);
    free(body);

    /* gzip applies to the whole multipart body */
    body = multipart_body(boundary, file3, strlen(file3), 1, &len);
    gz = gzip_bytes(body, len, &gz_len);
    r = th_request("POST", B(), "/api/v1/events", hgz, gz, gz_len);
    want_status(&r, 201, "POST gzip multipart");
    e = th_resp_json(&r);
    want_content(th_jstr(e, "id"), file3, strlen(file3));
    json_decref(e);
    th_resp_release(&r);
    free(gz);
    free(body);

    /* and the form may come chunked, in small pieces */
    body = multipart_body(boundary, file4, strlen(file4), 0, &len);
    url = th_strf("%s/api/v1/events", B());
    assert_int_equal(th_http_chunked("POST", url, h, body, len, 7, &r), 0);
    want_status(&r, 201, "POST chunked multipart");
    e = th_resp_json(&r);
    want_content(th_jstr(e, "id"), file4, strlen(file4));
    json_decref(e);
    th_resp_release(&r);
    free(url);
    free(body);
    free(ct);
}

static void
test_event_gzip(void **state)
{
    static const char *const encodings[] = {"Content-Encoding: gzip", "Content-Encoding: x-gzip",
                                            "Content-Encoding: GZIP"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(encodings) / sizeof(encodings[0]); i++) {
        struct buf csv;
        char *gz;
        size_t gz_len;
        size_t k;
        struct th_resp r;
        json_t *e;

        buf_init(&csv, 0);
        buf_append_str(&csv, "origin,path,branch,changeset,publishUri\n");
        for (k = 0; k < 500; k++)
            buf_printf(&csv, "gh,gz%zu/repo-%zu,main,c%zu,p%zu\n", i, k, k, k);
        gz = gzip_bytes(csv.data, csv.len, &gz_len);
        assert_true(gz_len < csv.len);
        r = th_request("POST", B(), "/api/v1/events",
                       (const char *[]){"Content-Type: text/csv", encodings[i], NULL}, gz, gz_len);
        want_status(&r, 201, encodings[i]);
        e = th_resp_json(&r);
        check_event(e);
        assert_int_equal(th_jint(e, "rows"), 500);
        assert_int_equal(th_jint(e, "bytes"), csv.len);
        want_content(th_jstr(e, "id"), csv.data, csv.len);
        json_decref(e);
        th_resp_release(&r);
        free(gz);
        buf_release(&csv);
    }
    {
        /* two gzip members, as `cat a.gz b.gz` makes: their concatenation */
        static const char part1[] = "origin,path,changeset,publishUri\ngh,gz/m1,c,p\n";
        static const char part2[] = "gh,gz/m2,c,p\n";
        static const char whole[] = "origin,path,changeset,publishUri\ngh,gz/m1,c,p\n"
                                    "gh,gz/m2,c,p\n";
        size_t l1;
        size_t l2;
        char *g1 = gzip_bytes(part1, strlen(part1), &l1);
        char *g2 = gzip_bytes(part2, strlen(part2), &l2);
        char *both = xmalloc(l1 + l2);
        struct th_resp r;
        json_t *e;

        memcpy(both, g1, l1);
        memcpy(both + l1, g2, l2);
        r = th_request("POST", B(), "/api/v1/events",
                       (const char *[]){"Content-Type: text/csv", "Content-Encoding: gzip", NULL},
                       both, l1 + l2);
        want_status(&r, 201, "two gzip members");
        e = th_resp_json(&r);
        assert_int_equal(th_jint(e, "rows"), 2);
        want_content(th_jstr(e, "id"), whole, strlen(whole));
        json_decref(e);
        th_resp_release(&r);
        free(both);
        free(g1);
        free(g2);
    }
    {
        static const char plain[] = "origin,path\ngh,gz/identity\n";
        json_t *e = upload(B(), plain, (const char *[]){"Content-Encoding: identity", NULL}, 201);

        want_content(th_jstr(e, "id"), plain, strlen(plain));
        json_decref(e);
    }
}

static void
test_event_chunked(void **state)
{
    struct buf csv;
    struct th_resp r;
    char *url = th_strf("%s/api/v1/events", B());
    const char *h[] = {"Content-Type: text/csv", NULL};
    json_t *e;
    size_t k;
    size_t sizes[] = {1, 5, 0};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        buf_init(&csv, 0);
        buf_append_str(&csv, "origin,path,branch,changeset,publishUri\n");
        for (k = 0; k < (sizes[i] == 1 ? 20 : 3000); k++)
            buf_printf(&csv, "gh,chunked%zu/r%zu,main,\"c,%zu\",p%zu\n", i, k, k, k);
        assert_int_equal(th_http_chunked("POST", url, h, csv.data, csv.len, sizes[i], &r), 0);
        want_status(&r, 201, "chunked POST");
        e = th_resp_json(&r);
        check_event(e);
        assert_int_equal(th_jint(e, "bytes"), csv.len);
        want_content(th_jstr(e, "id"), csv.data, csv.len);
        json_decref(e);
        th_resp_release(&r);
        buf_release(&csv);
    }
    free(url);
}

static void
test_event_content_exact(void **state)
{
    /* BOM, comment and empty lines, CRLF and LF mixed, quoted CRLF/LF/commas/quotes, no final EOL
     */
    static const char csv[] = "\xEF\xBB\xBF# written by a test\r\n"
                              " origin ,path\t,branch,changeset,publishUri,notes\r\n"
                              "\r\n"
                              "gh,content/a,main,c1,p1,\"multi\r\nline, with \"\"quotes\"\"\"\r\n"
                              "# between rows\n"
                              "gh,content/b,,c2,p2,\"lf\nonly\"\n"
                              "gh,content/c,dev,,,  spaced \xC3\xA9  ";
    char sha[65];
    json_t *e;
    json_t *j;
    json_t *row;

    (void)state;
    drain();
    e = upload(B(), csv, NULL, 201);
    th_sha256_hex(csv, sizeof(csv) - 1, sha);
    assert_int_equal(th_jint(e, "rows"), 3);
    assert_int_equal(th_jint(e, "bytes"), sizeof(csv) - 1);
    assert_string_equal(th_jstr(e, "sha256"), sha);
    want_json(json_object_get(e, "columns"),
              "[\"origin\",\"path\",\"branch\",\"changeset\",\"publishUri\",\"notes\"]");
    want_content(th_jstr(e, "id"), csv, sizeof(csv) - 1);

    /* values are kept exactly as parsed */
    json_decref(merge_now(B(), NULL));
    want_content(th_jstr(e, "id"), csv, sizeof(csv) - 1); /* merged events keep their content */
    j = get_json(B(), "/api/v1/repos?path=content/a", 200);
    row = json_array_get(json_object_get(j, "items"), 0);
    assert_non_null(row);
    assert_string_equal(th_jstr(json_object_get(row, "columns"), "notes"),
                        "multi\r\nline, with \"quotes\"");
    assert_string_equal(th_jstr(row, "event_id"), th_jstr(e, "id"));
    json_decref(j);
    j = get_json(B(), "/api/v1/repos?path=content/b", 200);
    row = json_array_get(json_object_get(j, "items"), 0);
    assert_non_null(row);
    assert_string_equal(th_jstr(row, "branch"), "");
    assert_string_equal(th_jstr(json_object_get(row, "columns"), "notes"), "lf\nonly");
    json_decref(j);
    json_decref(e);
}

/* Follow `next` from `path`; the concatenated items (new reference); *pages counted. */
static json_t *
follow_pages(const char *base, const char *path, size_t *pages)
{
    json_t *all = json_array();
    char *p = xstrdup(path);

    *pages = 0;
    while (p) {
        json_t *j = get_json(base, p, 200);
        json_t *next = json_object_get(j, "next");

        free(p);
        p = NULL;
        json_array_extend(all, json_object_get(j, "items"));
        (*pages)++;
        if (json_is_string(next))
            p = xstrdup(json_string_value(next));
        else
            assert_true(json_is_null(next));
        json_decref(j);
        if (*pages > 1000)
            fail_msg("paging from %s does not end", path);
    }
    return all;
}

static void
test_events_list(void **state)
{
    json_t *made[5];
    const char *srcs[5] = {"X-Event-Source: list-a", "X-Event-Source: list src/\xC3\xBC",
                           "X-Event-Source: list-a", "X-Event-Source: list-a",
                           "X-Event-Source: list src/\xC3\xBC"};
    json_t *j;
    json_t *items;
    char *path;
    char *want;
    size_t pages;
    size_t i;

    (void)state;
    for (i = 0; i < 5; i++) {
        char *csv = th_strf("origin,path\ngh,list/%zu\n", i);

        made[i] = upload(B(), csv, (const char *[]){srcs[i], NULL}, 201);
        free(csv);
    }

    /* one source, ascending sequence, paged by 2 */
    j = get_json(B(), "/api/v1/events?source=list-a&limit=2", 200);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(th_jstr(json_array_get(items, 0), "id"), th_jstr(made[0], "id"));
    assert_string_equal(th_jstr(json_array_get(items, 1), "id"), th_jstr(made[2], "id"));
    want = th_strf("/api/v1/events?source=list-a&limit=2&after=%lld",
                   (long long)th_jint(made[2], "sequence"));
    assert_string_equal(th_jstr(j, "next"), want);
    free(want);
    json_decref(j);
    items = follow_pages(B(), "/api/v1/events?source=list-a&limit=2", &pages);
    assert_int_equal(pages, 2);
    assert_int_equal(json_array_size(items), 3);
    assert_string_equal(th_jstr(json_array_get(items, 2), "id"), th_jstr(made[3], "id"));
    json_decref(items);
    /* a page that ends exactly at the last event has no next */
    j = get_json(B(), "/api/v1/events?source=list-a&limit=3", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
    assert_true(json_is_null(json_object_get(j, "next")));
    json_decref(j);

    /* a source with a space, a slash and UTF-8: percent-encoded in the query and in next */
    j = get_json(B(), "/api/v1/events?source=list%20src%2F%C3%BC&limit=1", 200);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(th_jstr(json_array_get(items, 0), "id"), th_jstr(made[1], "id"));
    assert_string_equal(th_jstr(json_array_get(items, 0), "source"), "list src/\xC3\xBC");
    want = th_strf("/api/v1/events?source=list%%20src%%2F%%C3%%BC&limit=1&after=%lld",
                   (long long)th_jint(made[1], "sequence"));
    assert_string_equal(th_jstr(j, "next"), want);
    free(want);
    json_decref(j);
    items = follow_pages(B(), "/api/v1/events?source=list%20src%2F%C3%BC&limit=1", &pages);
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(th_jstr(json_array_get(items, 1), "id"), th_jstr(made[4], "id"));
    json_decref(items);

    /* after */
    path =
        th_strf("/api/v1/events?source=list-a&after=%lld", (long long)th_jint(made[0], "sequence"));
    items = list_items(B(), path);
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(th_jstr(json_array_get(items, 0), "id"), th_jstr(made[2], "id"));
    json_decref(items);
    free(path);

    /* every event, in ascending sequence, also when paged with status */
    items = follow_pages(B(), "/api/v1/events?status=pending&limit=2", &pages);
    for (i = 1; i < json_array_size(items); i++)
        assert_true(th_jint(json_array_get(items, i), "sequence") >
                    th_jint(json_array_get(items, i - 1), "sequence"));
    json_decref(items);
    j = get_json(B(), "/api/v1/events?status=pending&limit=1", 200);
    assert_int_equal(
        strncmp(th_jstr(j, "next"), "/api/v1/events?status=pending&limit=1&after=", 44), 0);
    json_decref(j);
    items = list_items(B(), "/api/v1/events?status=merged&source=list-a");
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
    items = list_items(B(), "/api/v1/events?status=pending&source=list-a&limit=1000");
    assert_int_equal(json_array_size(items), 3);
    json_decref(items);

    /* once merged */
    json_decref(merge_now(B(), NULL));
    items = list_items(B(), "/api/v1/events?status=merged&source=list-a");
    assert_int_equal(json_array_size(items), 3);
    for (i = 0; i < 3; i++) {
        check_event(json_array_get(items, i));
        assert_string_equal(th_jstr(json_array_get(items, i), "status"), "merged");
    }
    json_decref(items);
    items = list_items(B(), "/api/v1/events?status=pending");
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
    for (i = 0; i < 5; i++)
        json_decref(made[i]);
}

static void
test_events_default_limit(void **state)
{
    const char *src[] = {"X-Event-Source: bulk", NULL};
    json_t *first = NULL;
    json_t *j;
    json_t *items;
    char *want;
    size_t pages;
    size_t i;

    (void)state;
    for (i = 0; i < 101; i++) {
        char *csv = th_strf("origin,path\ngh,bulk/%zu\n", i);
        json_t *e = upload(B(), csv, src, 201);

        if (i == 99)
            first = e;
        else
            json_decref(e);
        free(csv);
    }
    j = get_json(B(), "/api/v1/events?source=bulk", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 100);
    want = th_strf("/api/v1/events?source=bulk&limit=100&after=%lld",
                   (long long)th_jint(first, "sequence"));
    assert_string_equal(th_jstr(j, "next"), want);
    free(want);
    json_decref(j);
    items = follow_pages(B(), "/api/v1/events?source=bulk", &pages);
    assert_int_equal(pages, 2);
    assert_int_equal(json_array_size(items), 101);
    json_decref(items);
    items = list_items(B(), "/api/v1/events?source=bulk&limit=1000");
    assert_int_equal(json_array_size(items), 101);
    json_decref(items);
    j = get_json(B(), "/api/v1/events?after=9223372036854775807", 200);
    want_json(j, "{\"items\":[],\"next\":null}");
    json_decref(j);
    json_decref(first);
}

static void
want_problem(const struct th_resp *r, long status)
{
    json_t *j;
    char *rid;

    if (r->status != status)
        fail_msg("status %ld, want %ld: %.500s", r->status, status, r->body);
    want_header(r, "Content-Type", "application/problem+json");
    j = th_resp_json(r);
    rid = th_resp_header(r, "X-Request-Id");
    assert_string_equal(th_jstr(j, "type"), "about:blank");
    assert_int_equal(th_jint(j, "status"), status);
    assert_true(strlen(th_jstr(j, "title")) > 0);
    assert_true(strlen(th_jstr(j, "detail")) > 0);
    assert_non_null(rid);
    assert_string_equal(th_jstr(j, "request_id"), rid);
    free(rid);
    json_decref(j);
}

static void
test_event_delete(void **state)
{
    static const char x[] = "origin,path\ngh,del/x\n";
    static const char y[] = "origin,path\ngh,del/y\n";
    static const char z[] = "origin,path\ngh,del/z\n";
    json_t *e;
    json_t *e2;
    char *path;
    char *cpath;
    struct th_resp r;
    char *rid;

    (void)state;
    e = upload(B(), x, (const char *[]){"Idempotency-Key: del-key", NULL}, 201);
    path = th_strf("/api/v1/events/%s", th_jstr(e, "id"));
    cpath = th_strf("/api/v1/events/%s/content", th_jstr(e, "id"));
    r = th_request("DELETE", B(), path, (const char *[]){"X-Request-Id: del-1", NULL}, NULL, 0);
    want_status(&r, 204, "DELETE pending event");
    assert_int_equal(r.len, 0);
    want_no_header(&r, "Content-Length");
    want_no_header(&r, "Content-Type");
    want_header(&r, "X-Request-Id", "del-1");
    th_resp_release(&r);
    r = th_get(B(), path, NULL);
    want_problem(&r, 404);
    th_resp_release(&r);
    r = th_get(B(), cpath, NULL);
    want_problem(&r, 404);
    th_resp_release(&r);
    r = th_request("DELETE", B(), path, NULL, NULL, 0);
    want_problem(&r, 404);
    th_resp_release(&r);

    /* gone completely: content and key may come again as new events */
    e2 = upload(B(), x, NULL, 201);
    assert_string_not_equal(th_jstr(e2, "id"), th_jstr(e, "id"));
    assert_true(th_jint(e2, "sequence") > th_jint(e, "sequence"));
    json_decref(e2);
    e2 = upload(B(), y, (const char *[]){"Idempotency-Key: del-key", NULL}, 201);
    json_decref(e2);
    free(path);
    free(cpath);
    json_decref(e);

    /* merged: 409, and it stays */
    e = upload(B(), z, NULL, 201);
    json_decref(merge_now(B(), NULL));
    path = th_strf("/api/v1/events/%s", th_jstr(e, "id"));
    r = th_request("DELETE", B(), path, NULL, NULL, 0);
    want_problem(&r, 409);
    {
        json_t *j = th_resp_json(&r);

        assert_string_equal(th_jstr(j, "detail"), "event was already merged");
        json_decref(j);
    }
    th_resp_release(&r);
    e2 = get_json(B(), path, 200);
    assert_string_equal(th_jstr(e2, "status"), "merged");
    json_decref(e2);
    free(path);
    json_decref(e);

    /* unknown ids */
    r = th_get(B(), "/api/v1/events/00000000-0000-4000-8000-000000000000", NULL);
    want_problem(&r, 404);
    th_resp_release(&r);
    r = th_get(B(), "/api/v1/events/00000000-0000-4000-8000-000000000000/content", NULL);
    want_problem(&r, 404);
    th_resp_release(&r);
    r = th_request("DELETE", B(), "/api/v1/events/00000000-0000-4000-8000-000000000000", NULL, NULL,
                   0);
    want_problem(&r, 404);
    rid = th_resp_header(&r, "X-Request-Id");
    assert_non_null(rid);
    free(rid);
    th_resp_release(&r);
}

/* ---- merges -------------------------------------------------------------------- */

static void
test_merge_dry_run(void **state)
{
    static const char base_csv[] = DEFAULT_HEADER "gh,dr/k1,main,https://x/k1,c1,p1\n";
    static const char ev1[] = DEFAULT_HEADER "gh,dr/k1,main,https://x/k1,c1b,p1b\n"
                                             "gh,dr/k2,main,https://x/k2,c2,p2\n";
    static const char ev2[] = "origin,path,branch,changeset,publishUri,team\n"
                              "gh,dr/k3,main,c3,p3,red\n"
                              "gh,dr/k4,main,,p4,blue\n";
    static const char after[] = "origin,path,branch,cloneUrl,changeset,publishUri,team\n"
                                "gh,dr/k1,main,https://x/k1,c1b,p1b,\n"
                                "gh,dr/k2,main,https://x/k2,c2,p2,\n"
                                "gh,dr/k3,main,,c3,p3,red\n";
    json_int_t gen;
    json_t *e1;
    json_t *e2;
    json_t *pending;
    json_t *pending2;
    json_t *dry;
    json_t *real;
    json_t *list;
    char *before_csv;
    char *path;
    struct th_resp r;
    size_t i;

    (void)state;
    drain();
    gen = put_repos(B(), base_csv, NULL);
    e1 = upload(B(), ev1, NULL, 201);
    e2 = upload(B(), ev2, NULL, 201);
    pending = list_items(B(), "/api/v1/events?status=pending");
    assert_int_equal(json_array_size(pending), 2);
    before_csv = repos_csv(B(), NULL);

    dry = merge_now(B(), "{\"dry_run\":true}");
    assert_true(json_is_true(json_object_get(dry, "dry_run")));
    want_counts(dry, 2, 4, 2, 1, 0, 1);
    want_json(json_object_get(dry, "columns_added"), "[\"team\"]");
    assert_int_equal(th_jint(dry, "generation"), gen + 1);

    /* nothing changed */
    r = th_request("HEAD", B(), "/api/v1/repos.csv", NULL, NULL, 0);
    {
        char *g = th_strf("%lld", (long long)gen);

        want_header(&r, "X-Generation", g);
        free(g);
    }
    th_resp_release(&r);
    want_repos_csv(B(), before_csv);
    pending2 = list_items(B(), "/api/v1/events?status=pending");
    assert_true(json_equal(pending, pending2));
    json_decref(pending2);
    path = th_strf("/api/v1/merges/%s", th_jstr(dry, "id"));
    r = th_get(B(), path, NULL);
    want_problem(&r, 404);
    th_resp_release(&r);
    free(path);
    list = list_items(B(), "/api/v1/merges?limit=1000");
    for (i = 0; i < json_array_size(list); i++)
        assert_string_not_equal(th_jstr(json_array_get(list, i), "id"), th_jstr(dry, "id"));
    json_decref(list);

    /* the real merge reports what the dry run did */
    real = merge_now(B(), "{\"dry_run\":false}");
    assert_true(json_is_false(json_object_get(real, "dry_run")));
    assert_string_not_equal(th_jstr(real, "id"), th_jstr(dry, "id"));
    want_counts(real, th_jint(dry, "events"), th_jint(dry, "rows"), th_jint(dry, "added"),
                th_jint(dry, "updated"), th_jint(dry, "unchanged"), th_jint(dry, "skipped"));
    assert_true(
        json_equal(json_object_get(real, "columns_added"), json_object_get(dry, "columns_added")));
    assert_int_equal(th_jint(real, "generation"), th_jint(dry, "generation"));
    want_repos_csv(B(), after);
    assert_int_equal(generation_now(B()), gen + 1);
    path = th_strf("/api/v1/merges/%s", th_jstr(real, "id"));
    list = get_json(B(), path, 200);
    assert_true(json_equal(list, real));
    json_decref(list);
    free(path);

    for (i = 0; i < 2; i++) {
        json_t *e = i ? e2 : e1;

        path = th_strf("/api/v1/events/%s", th_jstr(e, "id"));
        list = get_json(B(), path, 200);
        assert_string_equal(th_jstr(list, "merge_id"), th_jstr(real, "id"));
        json_decref(list);
        free(path);
    }
    free(before_csv);
    json_decref(pending);
    json_decref(dry);
    json_decref(real);
    json_decref(e1);
    json_decref(e2);
}

static void
test_merge_empty(void **state)
{
    json_int_t gen;
    json_t *m;
    json_t *j;
    struct th_resp r;
    char *path;

    (void)state;
    drain();
    gen = generation_now(B());
    /* no body, an empty body with a JSON type, an empty object: real merges */
    r = th_request("POST", B(), "/api/v1/merges",
                   (const char *[]){"Content-Type: application/json", NULL}, "", 0);
    want_status(&r, 200, "POST /api/v1/merges with an empty body");
    m = th_resp_json(&r);
    check_merge(m);
    assert_true(json_is_false(json_object_get(m, "dry_run")));
    json_decref(m);
    th_resp_release(&r);
    m = merge_now(B(), "{}");
    assert_true(json_is_false(json_object_get(m, "dry_run")));
    json_decref(m);

    /* nothing pending: events 0, generation unchanged, and still recorded */
    m = merge_now(B(), NULL);
    assert_int_equal(json_array_size(json_object_get(m, "columns_added")), 0);
    assert_int_equal(th_jint(m, "generation"), gen);
    assert_int_equal(generation_now(B()), gen);
    path = th_strf("/api/v1/merges/%s", th_jstr(m, "id"));
    j = get_json(B(), path, 200);
    assert_true(json_equal(j, m));
    json_decref(j);
    free(path);
    want_counts(m, 0, 0, 0, 0, 0, 0);
    json_decref(m);
    /* a dry run with nothing pending */
    m = merge_now(B(), "{\"dry_run\":true}");
    assert_int_equal(th_jint(m, "generation"), gen);
    want_counts(m, 0, 0, 0, 0, 0, 0);
    json_decref(m);
}

static void
test_merges_list(void **state)
{
    json_t *m[3];
    json_t *j;
    json_t *all;
    json_t *items;
    char *want;
    char *path;
    size_t pages;
    size_t i;
    size_t total;

    (void)state;
    for (i = 0; i < 3; i++) {
        usleep(5000); /* distinct started_at */
        m[i] = merge_now(B(), NULL);
    }
    j = get_json(B(), "/api/v1/merges?limit=2", 200);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_true(json_equal(json_array_get(items, 0), m[2]));
    assert_true(json_equal(json_array_get(items, 1), m[1]));
    want = th_strf("/api/v1/merges?limit=2&before=%s", th_jstr(m[1], "id"));
    assert_string_equal(th_jstr(j, "next"), want);
    json_decref(j);
    j = get_json(B(), want, 200);
    assert_true(json_equal(json_array_get(json_object_get(j, "items"), 0), m[0]));
    json_decref(j);
    free(want);

    /* paging covers every stored merge once, newest first */
    items = list_items(B(), "/api/v1/merges?limit=1000");
    total = json_array_size(items);
    json_decref(items);
    all = follow_pages(B(), "/api/v1/merges?limit=2", &pages);
    assert_int_equal(json_array_size(all), total);
    assert_int_equal(pages, (total + 1) / 2);
    for (i = 1; i < json_array_size(all); i++) {
        check_merge(json_array_get(all, i));
        assert_true(strcmp(th_jstr(json_array_get(all, i), "started_at"),
                           th_jstr(json_array_get(all, i - 1), "started_at")) <= 0);
        assert_string_not_equal(th_jstr(json_array_get(all, i), "id"),
                                th_jstr(json_array_get(all, i - 1), "id"));
    }
    json_decref(all);
    path = th_strf("/api/v1/merges?before=%s", th_jstr(m[0], "id"));
    items = list_items(B(), path);
    assert_int_equal(json_array_size(items), total - 3);
    json_decref(items);
    free(path);
    for (i = 0; i < 3; i++) {
        path = th_strf("/api/v1/merges/%s", th_jstr(m[i], "id"));
        j = get_json(B(), path, 200);
        assert_true(json_equal(j, m[i]));
        json_decref(j);
        free(path);
        json_decref(m[i]);
    }
    j = get_json(B(), "/api/v1/merges/00000000-0000-4000-8000-000000000000", 404);
    json_decref(j);
}

/* ---- merge semantics ------------------------------------------------------------- */

static void
test_merge_failed_builds_never_overwrite(void **state)
{
    static const char base_csv[] = DEFAULT_HEADER "gh,fb/one,main,https://x/fb/one,cs1,pu1\n"
                                                  "gh,fb/two,main,https://x/fb/two,cs2,pu2\n";
    static const char ev1[] = DEFAULT_HEADER "gh,fb/one,main,https://x/fb/one,,pu1-new\n"
                                             "gh,fb/two,main,https://x/fb/two,cs2-new,\n"
                                             "gh,fb/three,main,https://x/fb/three,,\n"
                                             "gh,fb/four,main,https://x/fb/four,,pu4\n";
    static const char ev2[] = "origin,path,branch,changeset,publishUri\n"
                              "gh,fb/five,main,cs5,pu5\n"
                              "gh,fb/one,main,,\n";
    static const char after[] = DEFAULT_HEADER "gh,fb/one,main,https://x/fb/one,cs1,pu1\n"
                                               "gh,fb/two,main,https://x/fb/two,cs2,pu2\n"
                                               "gh,fb/five,main,,cs5,pu5\n";
    json_int_t gen;
    json_t *e1;
    json_t *e2;
    json_t *m;
    json_t *j;

    (void)state;
    drain();
    gen = put_repos(B(), base_csv, NULL);
    e1 = upload(B(), ev1, NULL, 201);
    e2 = upload(B(), ev2, NULL, 201);
    m = merge_now(B(), NULL);
    want_counts(m, 2, 6, 1, 0, 0, 5);
    assert_int_equal(th_jint(m, "generation"), gen + 1);
    want_repos_csv(B(), after);
    j = get_json(B(), "/api/v1/repos?path=fb/one", 200);
    assert_true(
        json_is_null(json_object_get(json_array_get(json_object_get(j, "items"), 0), "event_id")));
    json_decref(j);
    /* an event whose rows all failed is merged too */
    {
        char *path = th_strf("/api/v1/events/%s", th_jstr(e1, "id"));

        j = get_json(B(), path, 200);
        assert_string_equal(th_jstr(j, "status"), "merged");
        assert_string_equal(th_jstr(j, "merge_id"), th_jstr(m, "id"));
        json_decref(j);
        free(path);
    }
    json_decref(m);
    json_decref(e1);
    json_decref(e2);
}

static void
test_merge_superseded_rows(void **state)
{
    static const char base_csv[] = DEFAULT_HEADER "gh,ss/k1,main,https://x/k1,c1-old,p1-old\n"
                                                  "gh,ss/k6,main,https://x/k6,c6,p6\n";
    static const char ev_a[] = DEFAULT_HEADER "gh,ss/k1,main,https://other/k1,c1-a1,p1-a1\n"
                                              "gh,ss/k4,main,https://x/k4-a,c4-a,p4-a\n"
                                              "gh,ss/k1,main,https://other/k1,c1-a2,p1-a2\n"
                                              "gh,ss/k6,main,https://other/k6,c6,p6\n";
    static const char ev_b[] = DEFAULT_HEADER "gh,ss/k5,main,https://x/k5,c5,p5\n"
                                              "gh,ss/k4,main,https://x/k4-b,c4-b,p4-b\n"
                                              "gh,ss/k1,main,https://x/k1,,p1-failed\n"
                                              "gh,ss/k4,dev,https://x/k4-dev,c4-dev,p4-dev\n";
    static const char after[] = DEFAULT_HEADER "gh,ss/k1,main,https://x/k1,c1-a2,p1-a2\n"
                                               "gh,ss/k6,main,https://x/k6,c6,p6\n"
                                               "gh,ss/k5,main,https://x/k5,c5,p5\n"
                                               "gh,ss/k4,main,https://x/k4-b,c4-b,p4-b\n"
                                               "gh,ss/k4,dev,https://x/k4-dev,c4-dev,p4-dev\n";
    json_int_t gen;
    json_t *ea;
    json_t *eb;
    json_t *m;
    json_t *j;
    json_t *items;

    (void)state;
    drain();
    gen = put_repos(B(), base_csv, NULL);
    ea = upload(B(), ev_a, NULL, 201);
    eb = upload(B(), ev_b, NULL, 201);
    m = merge_now(B(), NULL);
    want_counts(m, 2, 8, 3, 1, 1, 3);
    assert_int_equal(th_jint(m, "generation"), gen + 1);
    want_repos_csv(B(), after);

    j = get_json(B(), "/api/v1/repos?path_prefix=ss/", 200);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 5);
    assert_string_equal(th_jstr(json_array_get(items, 0), "event_id"), th_jstr(ea, "id"));
    assert_string_equal(th_jstr(json_array_get(items, 0), "changeset"), "c1-a2");
    /* unchanged: not rewritten */
    assert_true(json_is_null(json_object_get(json_array_get(items, 1), "event_id")));
    assert_string_equal(th_jstr(json_array_get(items, 2), "event_id"), th_jstr(eb, "id"));
    assert_string_equal(th_jstr(json_array_get(items, 3), "event_id"), th_jstr(eb, "id"));
    assert_string_equal(th_jstr(json_array_get(items, 4), "branch"), "dev");
    json_decref(j);
    json_decref(m);
    json_decref(ea);
    json_decref(eb);
}

static void
test_merge_columns_added(void **state)
{
    static const char base_csv[] = DEFAULT_HEADER "gh,ca/old,main,https://x/old,c0,p0\n"
                                                  "gh,ca/upd,main,https://x/upd,c1,p1\n"
                                                  "gh,ca/nobranch,,https://x/nb,c9,p9\n";
    static const char ev1[] = "origin,path,branch,changeset,publishUri,team,lang\n"
                              "gh,ca/upd,main,c1-new,p1-new,red,c\n"
                              "gh,ca/new1,main,c2,p2,blue,rust\n";
    /* no branch column: its rows have the empty branch */
    static const char ev2[] = "path,origin,zone,publishUri,changeset,lang\n"
                              "ca/new2,gl,eu,p3,c3,go\n"
                              "ca/nobranch,gh,us,p9b,c9b,java\n";
    static const char after[] = "origin,path,branch,cloneUrl,changeset,publishUri,team,lang,zone\n"
                                "gh,ca/old,main,https://x/old,c0,p0,,,\n"
                                "gh,ca/upd,main,https://x/upd,c1-new,p1-new,,,\n"
                                "gh,ca/nobranch,,https://x/nb,c9b,p9b,,,\n"
                                "gh,ca/new1,main,,c2,p2,blue,rust,\n"
                                "gl,ca/new2,,,c3,p3,,go,eu\n";
    json_int_t gen;
    json_t *e1;
    json_t *e2;
    json_t *m;
    json_t *j;

    (void)state;
    drain();
    gen = put_repos(B(), base_csv, NULL);
    e1 = upload(B(), ev1, NULL, 201);
    e2 = upload(B(), ev2, NULL, 201);
    m = merge_now(B(), NULL);
    want_counts(m, 2, 4, 2, 2, 0, 0);
    want_json(json_object_get(m, "columns_added"), "[\"team\",\"lang\",\"zone\"]");
    assert_int_equal(th_jint(m, "generation"), gen + 1);
    want_repos_csv(B(), after);

    j = get_json(B(), "/api/v1/repos?path=ca/new2", 200);
    want_json(json_object_get(json_array_get(json_object_get(j, "items"), 0), "columns"),
              "{\"origin\":\"gl\",\"path\":\"ca/new2\",\"branch\":\"\",\"cloneUrl\":\"\","
              "\"changeset\":\"c3\",\"publishUri\":\"p3\",\"team\":\"\",\"lang\":\"go\","
              "\"zone\":\"eu\"}");
    json_decref(j);
    j = get_json(B(), "/api/v1/repos?path=ca/old", 200);
    want_json(json_object_get(json_array_get(json_object_get(j, "items"), 0), "columns"),
              "{\"origin\":\"gh\",\"path\":\"ca/old\",\"branch\":\"main\",\"cloneUrl\":"
              "\"https://x/old\",\"changeset\":\"c0\",\"publishUri\":\"p0\",\"team\":\"\","
              "\"lang\":\"\",\"zone\":\"\"}");
    json_decref(j);
    json_decref(m);
    json_decref(e1);
    json_decref(e2);
}

static void
test_merge_nothing_changed(void **state)
{
    static const char base_csv[] = DEFAULT_HEADER "gh,nc/k,main,https://x/k,c,p\n";
    /* same values (columns in another order and cloneUrl differing), a failed new row */
    static const char ev1[] = "path,origin,changeset,publishUri,branch,cloneUrl\n"
                              "nc/k,gh,c,p,main,https://elsewhere/k\n"
                              "nc/new,gh,,p,main,https://x/new\n";
    static const char ev2[] = "origin,path,branch\n"; /* header only: rows 0 */
    json_int_t gen;
    json_t *e1;
    json_t *e2;
    json_t *m;
    json_t *j;
    char *path;

    (void)state;
    drain();
    gen = put_repos(B(), base_csv, NULL);
    e1 = upload(B(), ev1, NULL, 201);
    e2 = upload(B(), ev2, NULL, 201);
    assert_int_equal(th_jint(e2, "rows"), 0);
    m = merge_now(B(), NULL);
    want_counts(m, 2, 2, 0, 0, 1, 1);
    assert_int_equal(json_array_size(json_object_get(m, "columns_added")), 0);
    assert_int_equal(th_jint(m, "generation"), gen);
    assert_int_equal(generation_now(B()), gen);
    want_repos_csv(B(), base_csv);
    path = th_strf("/api/v1/events/%s", th_jstr(e2, "id"));
    j = get_json(B(), path, 200);
    assert_string_equal(th_jstr(j, "status"), "merged");
    assert_string_equal(th_jstr(j, "merge_id"), th_jstr(m, "id"));
    json_decref(j);
    free(path);
    json_decref(m);
    json_decref(e1);
    json_decref(e2);
}

/* Append value as a CSV field, quoted only when it holds a comma, a quote, CR or LF. */
static void
csv_field(struct buf *b, const char *v)
{
    const char *c;

    if (!strpbrk(v, ",\"\r\n")) {
        buf_append_str(b, v);
        return;
    }
    buf_append_char(b, '"');
    for (c = v; *c; c++) {
        if (*c == '"')
            buf_append_char(b, '"');
        buf_append_char(b, *c);
    }
    buf_append_char(b, '"');
}

static const char *const special_values[] = {"tab\there",
                                             "back\\slash",
                                             "\\N",
                                             "NULL",
                                             "quote\"d",
                                             "cr\rx",
                                             "lf\nx",
                                             "crlf\r\nx",
                                             "com,ma",
                                             "{a,b}",
                                             "caf\xc3\xa9 \xe2\x82\xac",
                                             " spaced ",
                                             "\\.",
                                             "\"",
                                             "\\\\",
                                             "x\\",
                                             "\\t",
                                             "'; DROP TABLE events; --"};
#define NSPECIAL (sizeof(special_values) / sizeof(special_values[0]))

/* Values with COPY/array/CSV metacharacters survive upload (inline and COPY), merge, the
   JSON rows, the rendered file and a PUT of that file, byte for byte. */
static void
test_values_round_trip(void **state)
{
    static const size_t counts[2] = {NSPECIAL, 1200}; /* inline rows, then the COPY path */
    struct buf ev;
    struct buf want;
    json_t *m;
    json_t *items;
    char *got;
    size_t pages;
    size_t e;
    size_t i;
    size_t total = 0;

    (void)state;
    drain();
    put_repos(B(), DEFAULT_HEADER, NULL);
    buf_init(&want, 0);
    buf_append_str(&want, "origin,path,branch,cloneUrl,changeset,publishUri,notes\n");
    for (e = 0; e < 2; e++) {
        buf_init(&ev, 0);
        buf_append_str(&ev, "origin,path,changeset,publishUri,notes\r\n");
        for (i = 0; i < counts[e]; i++) {
            char *path = th_strf("rt%zu/%04zu %s", e, i, special_values[i % NSPECIAL]);
            const char *cs = special_values[(i + 1) % NSPECIAL];
            const char *notes = special_values[(i + 2) % NSPECIAL];

            buf_append_str(&ev, "gh,");
            csv_field(&ev, path);
            buf_append_char(&ev, ',');
            csv_field(&ev, cs);
            buf_append_str(&ev, ",p,");
            csv_field(&ev, notes);
            buf_append_str(&ev, "\r\n");
            buf_append_str(&want, "gh,");
            csv_field(&want, path);
            buf_append_str(&want, ",,,");
            csv_field(&want, cs);
            buf_append_str(&want, ",p,");
            csv_field(&want, notes);
            buf_append_char(&want, '\n');
            free(path);
        }
        json_decref(upload(B(), ev.data, NULL, 201));
        buf_release(&ev);
        total += counts[e];
    }
    m = merge_now(B(), NULL);
    want_counts(m, 2, (json_int_t)total, (json_int_t)total, 0, 0, 0);
    want_json(json_object_get(m, "columns_added"), "[\"notes\"]");
    json_decref(m);
    want_repos_csv(B(), want.data);

    items = follow_pages(B(), "/api/v1/repos?limit=1000", &pages);
    assert_int_equal(json_array_size(items), total);
    for (i = 0; i < total; i++) {
        json_t *row = json_array_get(items, i);
        size_t k = i < counts[0] ? i : i - counts[0];
        char *path =
            th_strf("rt%d/%04zu %s", i < counts[0] ? 0 : 1, k, special_values[k % NSPECIAL]);

        assert_string_equal(th_jstr(row, "path"), path);
        assert_string_equal(th_jstr(row, "changeset"), special_values[(k + 1) % NSPECIAL]);
        assert_string_equal(th_jstr(json_object_get(row, "columns"), "notes"),
                            special_values[(k + 2) % NSPECIAL]);
        free(path);
    }
    json_decref(items);

    /* the served file, PUT back, is served again unchanged */
    got = repos_csv(B(), NULL);
    put_repos(B(), got, NULL);
    want_repos_csv(B(), want.data);
    free(got);
    buf_release(&want);
}

/* ---- the effective repos.csv ------------------------------------------------------- */

static void
test_repos_csv_conditional(void **state)
{
    static const char csv[] = DEFAULT_HEADER "gh,cond/a,main,https://x/a,c1,p1\n"
                                             "gh,cond/b,,https://x/b,c2,p2\n";
    json_int_t gen;
    char etag[32];
    char genstr[32];
    char *h;
    struct th_resp r;
    struct th_resp rh;
    char *plain;
    char *bad_cl = NULL;
    size_t n;
    size_t i;

    (void)state;
    gen = put_repos(B(), csv, NULL);
    snprintf(etag, sizeof(etag), "\"%lld\"", (long long)gen);
    snprintf(genstr, sizeof(genstr), "%lld", (long long)gen);

    r = th_get(B(), "/api/v1/repos.csv", NULL);
    want_status(&r, 200, "GET repos.csv");
    want_body(&r, csv, strlen(csv));
    want_header(&r, "Content-Type", "text/csv; charset=utf-8");
    want_header(&r, "ETag", etag);
    want_header(&r, "X-Generation", genstr);
    want_header(&r, "Vary", "Accept-Encoding");
    want_header(&r, "Cache-Control", "no-cache");
    want_no_header(&r, "Content-Encoding");
    {
        char *lm = th_resp_header(&r, "Last-Modified");
        struct tm tm;
        const char *end;
        time_t t;

        assert_non_null(lm);
        memset(&tm, 0, sizeof(tm));
        end = strptime(lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        assert_non_null(end);
        assert_int_equal(*end, '\0');
        t = timegm(&tm);
        assert_true(t > time(NULL) - 600 && t < time(NULL) + 600);
        free(lm);
    }
    plain = xstrndup(r.body, r.len);
    n = r.len;

    /* HEAD: the same headers, no body */
    rh = th_request("HEAD", B(), "/api/v1/repos.csv", NULL, NULL, 0);
    want_status(&rh, 200, "HEAD repos.csv");
    assert_int_equal(rh.len, 0);
    {
        static const char *const names[] = {"Content-Type",  "ETag", "X-Generation",
                                            "Last-Modified", "Vary", "Cache-Control"};

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            char *v = th_resp_header(&r, names[i]);

            want_header(&rh, names[i], v);
            free(v);
        }
    }
    h = th_strf("%zu", n);
    want_header(&rh, "Content-Length", h);
    free(h);
    th_resp_release(&rh);

    /* If-None-Match: 304 with the same validators and no body */
    {
        char *forms[] = {th_strf("If-None-Match: %s", etag), th_strf("If-None-Match: W/%s", etag),
                         th_strf("If-None-Match: \"nope\", %s", etag),
                         th_strf("If-None-Match: W/\"x\",W/%s", etag), xstrdup("If-None-Match: *")};

        for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
            rh = th_get(B(), "/api/v1/repos.csv", (const char *[]){forms[i], NULL});
            want_status(&rh, 304, forms[i]);
            assert_int_equal(rh.len, 0);
            want_header(&rh, "ETag", etag);
            want_header(&rh, "X-Generation", genstr);
            want_header(&rh, "Vary", "Accept-Encoding");
            want_header(&rh, "Cache-Control", "no-cache");
            {
                char *lm = th_resp_header(&r, "Last-Modified");

                want_header(&rh, "Last-Modified", lm);
                free(lm);
            }
            {
                char *rid = th_resp_header(&rh, "X-Request-Id");

                assert_non_null(rid);
                free(rid);
            }
            /* RFC 9110 8.6: a 304 carries no Content-Length, or the 200's (checked last) */
            if (!bad_cl)
                bad_cl = th_resp_header(&rh, "Content-Length");
            if (bad_cl && strtoull(bad_cl, NULL, 10) == n) {
                free(bad_cl);
                bad_cl = NULL;
            }
            th_resp_release(&rh);
            rh = th_request("HEAD", B(), "/api/v1/repos.csv", (const char *[]){forms[i], NULL},
                            NULL, 0);
            want_status(&rh, 304, forms[i]);
            th_resp_release(&rh);
            free(forms[i]);
        }
    }
    {
        const char *stale[] = {"If-None-Match: \"999999\"", "If-None-Match: \"0\"", NULL};

        for (i = 0; stale[i]; i++) {
            rh = th_get(B(), "/api/v1/repos.csv", (const char *[]){stale[i], NULL});
            want_status(&rh, 200, stale[i]);
            want_body(&rh, plain, n);
            th_resp_release(&rh);
        }
    }

    /* gzip when accepted */
    {
        static const char *const yes[] = {"Accept-Encoding: gzip", "Accept-Encoding: deflate, gzip",
                                          "Accept-Encoding: gzip;q=0.5, br",
                                          "Accept-Encoding: GZIP"};
        static const char *const no[] = {"Accept-Encoding: gzip;q=0", "Accept-Encoding: br",
                                         "Accept-Encoding: identity"};

        for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            char *dec;
            size_t dec_len;

            rh = th_get(B(), "/api/v1/repos.csv", (const char *[]){yes[i], NULL});
            want_status(&rh, 200, yes[i]);
            want_header(&rh, "Content-Encoding", "gzip");
            want_header(&rh, "Vary", "Accept-Encoding");
            want_header(&rh, "ETag", etag);
            want_header(&rh, "Content-Type", "text/csv; charset=utf-8");
            dec = gunzip_bytes(rh.body, rh.len, &dec_len);
            assert_int_equal(dec_len, n);
            assert_memory_equal(dec, plain, n);
            free(dec);
            th_resp_release(&rh);
        }
        for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
            rh = th_get(B(), "/api/v1/repos.csv", (const char *[]){no[i], NULL});
            want_status(&rh, 200, no[i]);
            want_no_header(&rh, "Content-Encoding");
            want_body(&rh, plain, n);
            th_resp_release(&rh);
        }
        rh = th_request("HEAD", B(), "/api/v1/repos.csv",
                        (const char *[]){"Accept-Encoding: gzip", NULL}, NULL, 0);
        want_status(&rh, 200, "HEAD gzip");
        want_header(&rh, "Content-Encoding", "gzip");
        assert_int_equal(rh.len, 0);
        th_resp_release(&rh);
    }

    /* the bytes of one generation never change */
    rh = th_get(B(), "/api/v1/repos.csv", NULL);
    want_body(&rh, plain, n);
    th_resp_release(&rh);
    th_resp_release(&r);
    free(plain);
    if (bad_cl)
        fail_msg("304 with Content-Length: %s (the 200 has %zu bytes)", bad_cl, n);
}

static void
want_422_lines(const struct th_resp *r, const char *expected_errors)
{
    json_t *j;

    want_problem(r, 422);
    j = th_resp_json(r);
    want_json(json_object_get(j, "errors"), expected_errors);
    json_decref(j);
}

static void
test_repos_csv_put(void **state)
{
    /* BOM, CRLF, quoting that the output does not need; output: canonical */
    static const char in[] = "\xEF\xBB\xBF"
                             "origin,path,branch,cloneUrl,changeset,publishUri\r\n"
                             "\"gh\",put/a,main,\"https://x/a\",c1,p1\r\n"
                             "# a comment\r\n"
                             "gh,put/b,,\"has,comma\",\"has \"\"quote\"\"\",\"multi\nline\"\r\n"
                             "gh,put/c,main,\"cr\rlf\",c3,p3";
    static const char out[] = "origin,path,branch,cloneUrl,changeset,publishUri\n"
                              "gh,put/a,main,https://x/a,c1,p1\n"
                              "gh,put/b,,\"has,comma\",\"has \"\"quote\"\"\",\"multi\nline\"\n"
                              "gh,put/c,main,\"cr\rlf\",c3,p3\n";
    static const char dups[] = "origin,path,branch,changeset,publishUri\n"
                               "gh,dupk/a,main,c,p\n"
                               "gh,dupk/a,main,c2,p2\n"
                               "gh,dupk/a,dev,c,p\n"
                               "gh,dupk/b,,c,p\n"
                               "gh,dupk/a,main,c3,p3\n"
                               "gh,dupk/b,,c,p\n";
    static const char other[] = "path,origin,team\n"
                                "put/x,gh,red\n";
    static const char empty_file[] = "origin,path,branch,cloneUrl,changeset,publishUri\n";
    const char *ct[] = {"Content-Type: text/csv", NULL};
    json_int_t gen;
    json_int_t g2;
    struct th_resp r;
    json_t *j;
    char *im;

    (void)state;
    drain();
    r = th_request("PUT", B(), "/api/v1/repos.csv", ct, in, strlen(in));
    want_status(&r, 200, "PUT");
    j = th_resp_json(&r);
    assert_int_equal(json_object_size(j), 3);
    assert_int_equal(th_jint(j, "rows"), 3);
    want_json(json_object_get(j, "columns"),
              "[\"origin\",\"path\",\"branch\",\"cloneUrl\",\"changeset\",\"publishUri\"]");
    gen = th_jint(j, "generation");
    json_decref(j);
    th_resp_release(&r);
    want_repos_csv(B(), out);
    assert_int_equal(generation_now(B()), gen);

    /* PUT rows read back as JSON with event_id null */
    j = get_json(B(), "/api/v1/repos?path=put/b", 200);
    want_json(json_object_get(json_array_get(json_object_get(j, "items"), 0), "columns"),
              "{\"origin\":\"gh\",\"path\":\"put/b\",\"branch\":\"\",\"cloneUrl\":\"has,comma\","
              "\"changeset\":\"has \\\"quote\\\"\",\"publishUri\":\"multi\\nline\"}");
    assert_true(
        json_is_null(json_object_get(json_array_get(json_object_get(j, "items"), 0), "event_id")));
    assert_true(th_is_ts(th_jstr(json_array_get(json_object_get(j, "items"), 0), "updated_at")));
    json_decref(j);

    /* If-Match: current -> 200; stale -> 412; "*" -> 200; a list naming the current -> 200 */
    im = th_strf("If-Match: \"%lld\"", (long long)gen);
    g2 = put_repos(B(), out, (const char *[]){im, NULL});
    assert_int_equal(g2, gen + 1);
    r = th_request("PUT", B(), "/api/v1/repos.csv", (const char *[]){ct[0], im, NULL}, out,
                   strlen(out));
    want_problem(&r, 412);
    th_resp_release(&r);
    assert_int_equal(generation_now(B()), g2);
    assert_int_equal(put_repos(B(), out, (const char *[]){"If-Match: *", NULL}), g2 + 1);
    {
        char *list =
            th_strf("If-Match: \"%lld\", W/\"x\",\"%lld\"", (long long)gen, (long long)(g2 + 1));
        char *weak = th_strf("If-Match: W/\"%lld\"", (long long)(g2 + 2));

        assert_int_equal(put_repos(B(), out, (const char *[]){list, NULL}), g2 + 2);
        /* a weak tag never matches (strong comparison) */
        r = th_request("PUT", B(), "/api/v1/repos.csv", (const char *[]){ct[0], weak, NULL}, out,
                       strlen(out));
        want_problem(&r, 412);
        th_resp_release(&r);
        free(list);
        free(weak);
    }
    /* every PUT makes a generation, even with the same content */
    assert_int_equal(put_repos(B(), out, NULL), g2 + 3);
    gen = g2 + 3;

    /* duplicate keys: 422 naming each duplicate line and the line it repeats; nothing changes */
    r = th_request("PUT", B(), "/api/v1/repos.csv", ct, dups, strlen(dups));
    want_422_lines(&r, "[{\"line\":3,\"detail\":\"duplicate key (origin, path, branch) of line "
                       "2\"},{\"line\":6,\"detail\":\"duplicate key (origin, path, branch) of "
                       "line 2\"},{\"line\":7,\"detail\":\"duplicate key (origin, path, branch) "
                       "of line 5\"}]");
    th_resp_release(&r);
    /* 422 comes before 412 */
    r = th_request("PUT", B(), "/api/v1/repos.csv", (const char *[]){ct[0], im, NULL}, dups,
                   strlen(dups));
    want_status(&r, 422, "PUT duplicate keys with a stale If-Match");
    th_resp_release(&r);
    free(im);
    assert_int_equal(generation_now(B()), gen);
    want_repos_csv(B(), out);

    /* another header becomes the effective header; a header alone is an empty file */
    assert_int_equal(put_repos(B(), other, NULL), gen + 1);
    want_repos_csv(B(), other);
    assert_int_equal(put_repos(B(), empty_file, NULL), gen + 2);
    want_repos_csv(B(), empty_file);
    j = get_json(B(), "/api/v1/repos", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    assert_int_equal(th_jint(j, "generation"), gen + 2);
    json_decref(j);

    /* gzip, multipart and chunked bodies, as for events */
    {
        static const char boundary[] = "XyZ-boundary-123";
        char *gz;
        size_t gz_len;
        char *body;
        size_t len;
        char *ctm = th_strf("Content-Type: multipart/form-data; boundary=%s", boundary);
        char *url = th_strf("%s/api/v1/repos.csv", B());

        gz = gzip_bytes(out, strlen(out), &gz_len);
        r = th_request("PUT", B(), "/api/v1/repos.csv",
                       (const char *[]){ct[0], "Content-Encoding: gzip", NULL}, gz, gz_len);
        want_status(&r, 200, "PUT gzip");
        th_resp_release(&r);
        want_repos_csv(B(), out);
        free(gz);

        body = multipart_body(boundary, other, strlen(other), 1, &len);
        r = th_request("PUT", B(), "/api/v1/repos.csv", (const char *[]){ctm, NULL}, body, len);
        want_status(&r, 200, "PUT multipart");
        th_resp_release(&r);
        want_repos_csv(B(), other);
        free(body);

        assert_int_equal(th_http_chunked("PUT", url, ct, out, strlen(out), 3, &r), 0);
        want_status(&r, 200, "PUT chunked");
        th_resp_release(&r);
        want_repos_csv(B(), out);
        free(url);
        free(ctm);
    }
}

static void
test_repos_list(void **state)
{
    static const char csv[] = "origin,path,branch,changeset,publishUri,team\n"
                              "gh,org/a,main,c1,p1,red\n"
                              "gh,org/a,dev,c2,p2,blue\n"
                              "gh,org/ab,main,c3,p3,\n"
                              "gl,org/a,main,c4,p4,green\n"
                              "gl,other/x,,c5,p5,\n"
                              "gh,org/a b,main,c6,p6,\n"
                              "gh,org/c,,,,\n";
    static const struct {
        const char *query;
        const char *rows; /* 1-based row numbers, in order */
    } cases[] = {
        {"", "1234567"},
        {"?origin=gl", "45"},
        {"?path=org/a", "124"},
        {"?path=org%2Fa", "124"},
        {"?path_prefix=org/a", "12346"},
        {"?branch=dev", "2"},
        {"?branch=", "57"},
        {"?origin=gh&path_prefix=org%2Fa&branch=main", "136"},
        {"?path=org%2Fa%20b", "6"},
        {"?origin=GH", ""},
        {"?path_prefix=", "1234567"},
        {"?path_prefix=zzz", ""},
    };
    json_int_t gen;
    json_t *j;
    json_t *items;
    json_t *row;
    size_t i;
    size_t k;
    size_t pages;
    char *path;

    (void)state;
    gen = put_repos(B(), csv, NULL);

    j = get_json(B(), "/api/v1/repos", 200);
    assert_int_equal(json_object_size(j), 3);
    assert_int_equal(th_jint(j, "generation"), gen);
    assert_true(json_is_null(json_object_get(j, "next")));
    row = json_array_get(json_object_get(j, "items"), 1);
    assert_int_equal(json_object_size(row), 8);
    assert_string_equal(th_jstr(row, "origin"), "gh");
    assert_string_equal(th_jstr(row, "path"), "org/a");
    assert_string_equal(th_jstr(row, "branch"), "dev");
    assert_string_equal(th_jstr(row, "changeset"), "c2");
    assert_string_equal(th_jstr(row, "publishUri"), "p2");
    assert_true(json_is_null(json_object_get(row, "event_id")));
    assert_true(th_is_ts(th_jstr(row, "updated_at")));
    want_json(json_object_get(row, "columns"),
              "{\"origin\":\"gh\",\"path\":\"org/a\",\"branch\":\"dev\",\"changeset\":\"c2\","
              "\"publishUri\":\"p2\",\"team\":\"blue\"}");
    json_decref(j);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        path = th_strf("/api/v1/repos%s", cases[i].query);
        j = get_json(B(), path, 200);
        items = json_object_get(j, "items");
        assert_int_equal(th_jint(j, "generation"), gen);
        if (json_array_size(items) != strlen(cases[i].rows))
            fail_msg("%s: %zu rows, want %zu", path, json_array_size(items), strlen(cases[i].rows));
        for (k = 0; k < json_array_size(items); k++) {
            char *want = th_strf("c%c", cases[i].rows[k]);
            const char *got = th_jstr(json_array_get(items, k), "changeset");

            if (cases[i].rows[k] == '7')
                assert_string_equal(th_jstr(json_array_get(items, k), "path"), "org/c");
            else if (strcmp(got, want) != 0)
                fail_msg("%s: row %zu is %s, want %s", path, k, got, want);
            free(want);
        }
        json_decref(j);
        free(path);
    }

    /* paging: limit + next through every row, filters kept */
    items = follow_pages(B(), "/api/v1/repos?limit=2", &pages);
    assert_int_equal(pages, 4);
    assert_int_equal(json_array_size(items), 7);
    assert_string_equal(th_jstr(json_array_get(items, 6), "path"), "org/c");
    assert_string_equal(th_jstr(json_array_get(items, 2), "path"), "org/ab");
    json_decref(items);
    j = get_json(B(), "/api/v1/repos?path_prefix=org%2Fa&limit=2", 200);
    assert_int_equal(strncmp(th_jstr(j, "next"), "/api/v1/repos?path_prefix=org%2Fa&limit=2&after=",
                             strlen("/api/v1/repos?path_prefix=org%2Fa&limit=2&after=")),
                     0);
    json_decref(j);
    items = follow_pages(B(), "/api/v1/repos?path_prefix=org%2Fa&limit=2", &pages);
    assert_int_equal(pages, 3);
    assert_int_equal(json_array_size(items), 5);
    assert_string_equal(th_jstr(json_array_get(items, 4), "path"), "org/a b");
    json_decref(items);
    items = follow_pages(B(), "/api/v1/repos?branch=&origin=gl&limit=1", &pages);
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(th_jstr(json_array_get(items, 0), "path"), "other/x");
    json_decref(items);
    j = get_json(B(), "/api/v1/repos?limit=7", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 7);
    assert_true(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    j = get_json(B(), "/api/v1/repos?limit=1000", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 7);
    json_decref(j);
}

/*
 * GET /api/v1/repos.csv after merges that change a few blocks, then every
 * other block, of a 100,000-row file (3,125 blocks): the new generation
 * shares the unchanged blocks' bytes with the one before, and is sent as
 * slices - a few (sendmsg() from them), then more than 1,024 (copied out in
 * order) - plain and gzip, byte for byte the generation's full render.
 */
static void
want_generation_served(json_int_t gen)
{
    const char *gz_h[] = {"Accept-Encoding: gzip", NULL};
    struct th_resp plain = th_get(B(), "/api/v1/repos.csv", NULL);
    struct th_resp gz = th_get(B(), "/api/v1/repos.csv", gz_h);
    char *path = th_strf("/api/v1/repos.csv?generation=%lld", (long long)gen);
    struct th_resp full = th_get(B(), path, NULL);
    char *etag = th_strf("\"%lld\"", (long long)gen);
    char *inflated;
    size_t n;

    want_status(&plain, 200, "GET repos.csv");
    want_status(&gz, 200, "GET repos.csv (gzip)");
    want_status(&full, 200, path);
    want_header(&plain, "ETag", etag);
    want_header(&gz, "Content-Encoding", "gzip");
    want_body(&plain, full.body, full.len);
    inflated = gunzip_bytes(gz.body, gz.len, &n);
    want_body(&full, inflated, n);
    free(inflated);
    free(etag);
    free(path);
    th_resp_release(&plain);
    th_resp_release(&gz);
    th_resp_release(&full);
}

static void
test_repos_csv_shared_blocks(void **state)
{
    enum { ROWS = 100000, BLOCK = 32 };
    struct buf file, ev;
    json_int_t gen;
    json_t *m;
    int i, n;

    (void)state;
    drain();
    buf_init(&file, 0);
    buf_append_str(&file, DEFAULT_HEADER);
    for (i = 0; i < ROWS; i++)
        buf_printf(&file, "gh,shared/r%06d,main,https://g/r%d,c%d,https://art/%d.jar\n", i, i, i,
                   i);
    gen = put_repos(B(), file.data, NULL);
    want_generation_served(gen); /* rendered whole: one slice */

    /* one row: the new generation is a few slices of two generations */
    buf_init(&ev, 0);
    buf_printf(&ev, "origin,path,branch,changeset,publishUri\ngh,shared/r%06d,main,d1,p1\n",
               ROWS / 2);
    json_decref(upload(B(), ev.data, NULL, 201));
    m = merge_now(B(), NULL);
    want_counts(m, 1, 1, 0, 1, 0, 0);
    json_decref(m);
    want_generation_served(generation_now(B()));

    /* a row in every other block: more than 1,024 slices */
    buf_reset(&ev);
    buf_append_str(&ev, "origin,path,branch,changeset,publishUri\n");
    for (i = 0, n = 0; i < ROWS; i += 2 * BLOCK, n++)
        buf_printf(&ev, "gh,shared/r%06d,main,d2,p2\n", i);
    json_decref(upload(B(), ev.data, NULL, 201));
    m = merge_now(B(), NULL);
    want_counts(m, 1, n, 0, n, 0, 0);
    json_decref(m);
    want_generation_served(generation_now(B()));
    buf_release(&ev);
    buf_release(&file);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repos_csv_before_anything),
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_operations),
        cmocka_unit_test(test_port_taken),
        cmocka_unit_test(test_json_gzip),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_event_create_and_get),
        cmocka_unit_test(test_event_duplicates),
        cmocka_unit_test(test_event_multipart),
        cmocka_unit_test(test_event_gzip),
        cmocka_unit_test(test_event_chunked),
        cmocka_unit_test(test_event_content_exact),
        cmocka_unit_test(test_events_list),
        cmocka_unit_test(test_events_default_limit),
        cmocka_unit_test(test_event_delete),
        cmocka_unit_test(test_merge_dry_run),
        cmocka_unit_test(test_merge_empty),
        cmocka_unit_test(test_merges_list),
        cmocka_unit_test(test_merge_failed_builds_never_overwrite),
        cmocka_unit_test(test_merge_superseded_rows),
        cmocka_unit_test(test_merge_columns_added),
        cmocka_unit_test(test_merge_nothing_changed),
        cmocka_unit_test(test_values_round_trip),
        cmocka_unit_test(test_repos_csv_conditional),
        cmocka_unit_test(test_repos_csv_put),
        cmocka_unit_test(test_repos_csv_shared_blocks),
        cmocka_unit_test(test_repos_list),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
