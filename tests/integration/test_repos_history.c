/*
 * test_repos_history.c - past generations of repos.csv and diffs between them
 *
 * One PostgreSQL, two ingestd:
 *   hist   - database ingestd_hist, the default window (90 days): several
 *            merges and PUTs, each generation's GET saved and compared byte
 *            for byte with ?generation=N afterwards, and diffs between them;
 *   short  - database ingestd, INGESTD_REPOS_HISTORY=2s: generations leaving
 *            the window (410) and the sweep of their rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "harness.h"

#define NGEN 6

static struct {
    struct th_pg *pg;
    struct th_ingestd *hist;
    struct th_ingestd *shortw;
    char *hist_url;             /* the database of hist */
    struct th_resp saved[NGEN]; /* GET /api/v1/repos.csv while generation i was current */
} G;

/* The first value of sql's first row in hist's database (caller frees). */
static char *
hist_scalar(const char *sql)
{
    PGconn *c = PQconnectdb(G.hist_url);
    PGresult *res;
    char *v;

    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    return v;
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

    if (!v || strcmp(v, value) != 0)
        fail_msg("header %s is \"%s\", want \"%s\"", name, v ? v : "(absent)", value);
    free(v);
}

static void
want_problem(const char *base, const char *path, long status, const char *detail_part)
{
    struct th_resp r = th_get(base, path, NULL);
    json_t *j;
    const char *detail;

    want_status(&r, status, path);
    want_header(&r, "Content-Type", "application/problem+json");
    j = th_resp_json(&r);
    detail = json_string_value(json_object_get(j, "detail"));
    if (!detail || !strstr(detail, detail_part))
        fail_msg("%s: detail \"%s\" lacks \"%s\"", path, detail ? detail : "", detail_part);
    json_decref(j);
    th_resp_release(&r);
}

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
    inflateEnd(&zs);
    return buf_take(&b, out_len);
}

static long long
put_file(const char *base, const char *csv)
{
    const char *h[] = {"Content-Type: text/csv", NULL};
    struct th_resp r = th_request("PUT", base, "/api/v1/repos.csv", h, csv, strlen(csv));
    json_t *j;
    long long gen;

    want_status(&r, 200, "PUT /api/v1/repos.csv");
    j = th_resp_json(&r);
    gen = (long long)json_integer_value(json_object_get(j, "generation"));
    json_decref(j);
    th_resp_release(&r);
    return gen;
}

static long long
merge_events(const char *base, const char *csv)
{
    struct th_resp r = th_post_csv(base, "/api/v1/events", csv, NULL);
    json_t *j;
    long long gen;

    if (r.status != 201 && r.status != 202)
        want_status(&r, 201, "POST /api/v1/events");
    th_resp_release(&r);
    r = th_post_json(base, "/api/v1/merges", "{}", NULL);
    want_status(&r, 200, "POST /api/v1/merges");
    j = th_resp_json(&r);
    gen = (long long)json_integer_value(json_object_get(j, "generation"));
    json_decref(j);
    th_resp_release(&r);
    return gen;
}

/* Save what GET /api/v1/repos.csv serves now as generation gen. */
static void
save_current(long long gen)
{
    char etag[32];

    assert_true(gen >= 0 && gen < NGEN);
    G.saved[gen] = th_get(th_ingestd_base(G.hist), "/api/v1/repos.csv", NULL);
    want_status(&G.saved[gen], 200, "GET /api/v1/repos.csv");
    snprintf(etag, sizeof(etag), "\"%lld\"", gen);
    want_header(&G.saved[gen], "ETag", etag);
}

static int
group_setup(void **state)
{
    static const char *const short_env[] = {"INGESTD_REPOS_HISTORY=2s", NULL};
    char *url;

    (void)state;
    G.pg = th_pg_start();
    PQclear(th_pg_exec(G.pg, "CREATE DATABASE ingestd_hist"));
    url = th_strf("%s dbname=ingestd_hist", th_pg_url(G.pg));
    G.hist = th_ingestd_start(url, NULL);
    G.hist_url = url;
    G.shortw = th_ingestd_start(th_pg_url(G.pg), short_env);
    return 0;
}

static int
group_teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NGEN; i++)
        th_resp_release(&G.saved[i]);
    th_ingestd_free(G.shortw);
    th_ingestd_free(G.hist);
    free(G.hist_url);
    th_pg_free(G.pg);
    return 0;
}

/*
 * Generations 0..5 by PUT and merges: updates, appends, a new column, a
 * failed build that changes nothing, a PUT that drops and reorders rows.
 */
static void
test_generations_made(void **state)
{
    const char *base = th_ingestd_base(G.hist);

    (void)state;
    save_current(0);
    assert_int_equal(put_file(base, "origin,path,branch,cloneUrl,changeset,publishUri\n"
                                    "o1,a,main,https://x/a,c1,s3://b/a1\n"
                                    "o1,b,main,https://x/b,c1,s3://b/b1\n"
                                    "o1,\"c,1\",dev,\"https://x/\"\"c\"\"\",c1,s3://b/c1\n"
                                    "o2,d,main,,c1,s3://b/d1\n"),
                     1);
    save_current(1);
    /* b updated, e appended with a new column; the failed build of a is ignored */
    assert_int_equal(merge_events(base, "origin,path,branch,cloneUrl,changeset,publishUri,team\n"
                                        "o1,b,main,https://x/b,c2,s3://b/b2,x\n"
                                        "o1,a,main,https://x/a,,,x\n"
                                        "o3,e,main,https://x/e,c1,s3://b/e1,red\n"),
                     2);
    save_current(2);
    /* a and e updated, d unchanged (same values) */
    assert_int_equal(merge_events(base, "origin,path,branch,changeset,publishUri\n"
                                        "o1,a,main,c3,s3://b/a3\n"
                                        "o2,d,main,c1,s3://b/d1\n"
                                        "o3,e,main,c4,s3://b/e4\n"),
                     3);
    save_current(3);
    /* only a failed build: no new generation */
    assert_int_equal(merge_events(base, "origin,path,branch,changeset,publishUri\n"
                                        "o1,b,main,,\n"),
                     3);
    /* before the PUT: the merges' old versions are one row per merge, read with their rows */
    {
        char *s = hist_scalar("SELECT count(*) || ' ' || sum(cardinality(pos)) "
                              "FROM repos_history_merges");

        assert_string_equal(s, "2 3"); /* b at 2; a and e at 3 */
        free(s);
        for (long long n = 1; n <= 3; n++) {
            char *path = th_strf("/api/v1/repos.csv?generation=%lld", n);
            struct th_resp r = th_get(base, path, NULL);

            want_status(&r, 200, path);
            if (r.len != G.saved[n].len || memcmp(r.body, G.saved[n].body, r.len) != 0)
                fail_msg("generation %lld before the PUT: got\n%s\nwant\n%s", n, r.body,
                         G.saved[n].body);
            th_resp_release(&r);
            free(path);
        }
    }
    /* PUT: b removed, e first, c's cloneUrl changed, f added; columns change */
    assert_int_equal(put_file(base, "origin,path,branch,changeset,publishUri,cloneUrl\n"
                                    "o3,e,main,c4,s3://b/e4,https://x/e\n"
                                    "o1,a,main,c3,s3://b/a3,https://x/a\n"
                                    "o1,\"c,1\",dev,c1,s3://b/c1,https://x/c2\n"
                                    "o2,d,main,c1,s3://b/d1,\n"
                                    "o4,f,main,c1,s3://b/f1,https://x/f\n"),
                     4);
    save_current(4);
    {
        /* the PUT wrote the merges' old versions out whole: their rows are gone */
        char *s = hist_scalar("SELECT (SELECT count(*) FROM repos_history_merges) || ' ' || "
                              "(SELECT count(*) FROM repos_history WHERE valid_to IN (2, 3))");

        assert_string_equal(s, "0 3");
        free(s);
    }
    assert_int_equal(merge_events(base, "origin,path,branch,changeset,publishUri\n"
                                        "o4,f,main,c2,s3://b/f2\n"),
                     5);
    save_current(5);
}

/* ?generation=N serves exactly what GET served while N was current; gzip, 304, HEAD. */
static void
test_generation_bytes(void **state)
{
    const char *base = th_ingestd_base(G.hist);
    long long n;

    (void)state;
    for (n = 0; n < NGEN; n++) {
        char *path = th_strf("/api/v1/repos.csv?generation=%lld", n);
        char etag[32];
        char inm[64];
        const char *gz_h[] = {"Accept-Encoding: gzip", NULL};
        const char *inm_h[] = {inm, NULL};
        struct th_resp r = th_get(base, path, NULL);
        char *plain;
        size_t plain_len;

        snprintf(etag, sizeof(etag), "\"%lld\"", n);
        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
        want_status(&r, 200, path);
        want_header(&r, "ETag", etag);
        want_header(&r, "Content-Type", "text/csv; charset=utf-8");
        if (r.len != G.saved[n].len || memcmp(r.body, G.saved[n].body, r.len) != 0)
            fail_msg("generation %lld: got\n%s\nwant\n%s", n, r.body, G.saved[n].body);
        th_resp_release(&r);
        r = th_get(base, path, gz_h);
        want_status(&r, 200, path);
        want_header(&r, "Content-Encoding", "gzip");
        plain = gunzip_bytes(r.body, r.len, &plain_len);
        assert_int_equal(plain_len, G.saved[n].len);
        assert_memory_equal(plain, G.saved[n].body, plain_len);
        free(plain);
        th_resp_release(&r);
        r = th_get(base, path, inm_h);
        want_status(&r, 304, path);
        assert_int_equal(r.len, 0);
        th_resp_release(&r);
        r = th_request("HEAD", base, path, NULL, NULL, 0);
        want_status(&r, 200, path);
        want_header(&r, "ETag", etag);
        th_resp_release(&r);
        free(path);
    }
    /* the current generation's GET is unchanged by the feature */
    {
        struct th_resp r = th_get(base, "/api/v1/repos.csv", NULL);

        assert_int_equal(r.len, G.saved[NGEN - 1].len);
        assert_memory_equal(r.body, G.saved[NGEN - 1].body, r.len);
        th_resp_release(&r);
    }
}

static void
test_generation_bad(void **state)
{
    const char *base = th_ingestd_base(G.hist);

    (void)state;
    want_problem(base, "/api/v1/repos.csv?generation=6", 404, "does not exist");
    want_problem(base, "/api/v1/repos.csv?generation=9223372036854775806", 404, "does not exist");
    want_problem(base, "/api/v1/repos.csv?generation=abc", 400, "generation");
    want_problem(base, "/api/v1/repos.csv?generation=-1", 400, "generation");
    want_problem(base, "/api/v1/repos.csv?generation=", 400, "generation");
    want_problem(base, "/api/v1/repos.csv?generation=1.5", 400, "generation");
    want_problem(base, "/api/v1/repos.csv?generation=99999999999999999999", 400, "generation");
}

static void
want_diff_csv(const char *base, const char *path, const char *const *headers, const char *want)
{
    struct th_resp r = th_get(base, path, headers);

    want_status(&r, 200, path);
    want_header(&r, "Content-Type", "text/csv; charset=utf-8");
    if (strcmp(r.body, want) != 0)
        fail_msg("%s: got\n%s\nwant\n%s", path, r.body, want);
    th_resp_release(&r);
}

static void
test_diff_csv(void **state)
{
    const char *base = th_ingestd_base(G.hist);
    const char *csv_h[] = {"Accept: text/csv", NULL};

    (void)state;
    want_diff_csv(base, "/api/v1/repos/diff?from=1&to=3", NULL,
                  "change,changed_columns,origin,path,branch,cloneUrl,changeset,publishUri,team\n"
                  "changed,\"changeset,publishUri\",o1,a,main,https://x/a,c3,s3://b/a3,\n"
                  "changed,\"changeset,publishUri\",o1,b,main,https://x/b,c2,s3://b/b2,\n"
                  "added,,o3,e,main,https://x/e,c4,s3://b/e4,red\n");
    want_diff_csv(base, "/api/v1/repos/diff?from=2&to=2", csv_h,
                  "change,changed_columns,origin,path,branch,cloneUrl,changeset,publishUri,team\n");
    want_diff_csv(base, "/api/v1/repos/diff?from=3&to=4&format=csv", NULL,
                  "change,changed_columns,origin,path,branch,changeset,publishUri,cloneUrl,team\n"
                  "changed,team,o3,e,main,c4,s3://b/e4,https://x/e,\n"
                  "changed,cloneUrl,o1,\"c,1\",dev,c1,s3://b/c1,https://x/c2,\n"
                  "added,,o4,f,main,c1,s3://b/f1,https://x/f,\n"
                  "removed,,o1,b,main,c2,s3://b/b2,https://x/b,\n");
}

static void
test_diff_json(void **state)
{
    const char *base = th_ingestd_base(G.hist);
    const char *json_h[] = {"Accept: application/json", NULL};
    struct th_resp r = th_get(base, "/api/v1/repos/diff?from=0&to=5", json_h);
    json_t *j;
    json_t *rows;
    json_t *row;
    size_t i;
    int seen_f = 0;

    (void)state;
    want_status(&r, 200, "diff 0..5");
    j = th_resp_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "from")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "to")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "added")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "changed")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "removed")), 0);
    rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), 5);
    json_array_foreach(rows, i, row)
    {
        assert_string_equal(json_string_value(json_object_get(row, "change")), "added");
        if (strcmp(json_string_value(json_object_get(row, "path")), "f") == 0) {
            seen_f = 1;
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(row, "columns"), "changeset")),
                "c2");
        }
    }
    assert_true(seen_f);
    json_decref(j);
    th_resp_release(&r);

    r = th_get(base, "/api/v1/repos/diff?from=4&to=5&format=json", NULL);
    want_status(&r, 200, "diff 4..5");
    j = th_resp_json(&r);
    rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), 1);
    row = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(row, "change")), "changed");
    assert_string_equal(json_string_value(json_object_get(row, "origin")), "o4");
    assert_int_equal(json_array_size(json_object_get(row, "changed")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(row, "changed"), 0)),
                        "changeset");
    assert_string_equal(json_string_value(json_array_get(json_object_get(row, "changed"), 1)),
                        "publishUri");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(row, "previous"), "publishUri")),
        "s3://b/f1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(row, "columns"), "publishUri")),
        "s3://b/f2");
    json_decref(j);
    th_resp_release(&r);
}

static void
test_diff_bad(void **state)
{
    const char *base = th_ingestd_base(G.hist);

    (void)state;
    want_problem(base, "/api/v1/repos/diff?from=3&to=2", 400, "must not be above");
    want_problem(base, "/api/v1/repos/diff?from=1", 400, "required");
    want_problem(base, "/api/v1/repos/diff?to=1", 400, "required");
    want_problem(base, "/api/v1/repos/diff?from=x&to=1", 400, "from");
    want_problem(base, "/api/v1/repos/diff?from=1&to=2&format=xml", 400, "format");
    want_problem(base, "/api/v1/repos/diff?from=1&to=2&since=1", 400, "since");
    want_problem(base, "/api/v1/repos/diff?from=1&to=9", 404, "does not exist");
}

/* INGESTD_REPOS_HISTORY=2s: a generation replaced more than 2 s ago is gone and swept. */
static void
test_window(void **state)
{
    const char *base = th_ingestd_base(G.shortw);
    char *s;

    (void)state;
    assert_int_equal(put_file(base, "origin,path,branch,changeset,publishUri\n"
                                    "o,a,main,c1,s3://a1\n"
                                    "o,b,main,c1,s3://b1\n"),
                     1);
    assert_int_equal(merge_events(base, "origin,path,branch,changeset,publishUri\n"
                                        "o,a,main,c2,s3://a2\n"),
                     2);
    /* history kept from generation 1 on (as for a database migrated at generation 1) */
    PQclear(th_pg_exec(G.pg, "DELETE FROM repos_generations WHERE generation = 0"));
    want_problem(base, "/api/v1/repos.csv?generation=0", 410, "older than the history kept");
    {
        struct th_resp r = th_get(base, "/api/v1/repos.csv?generation=1", NULL);

        want_status(&r, 200, "generation 1 inside the window");
        assert_string_equal(r.body, "origin,path,branch,changeset,publishUri\n"
                                    "o,a,main,c1,s3://a1\n"
                                    "o,b,main,c1,s3://b1\n");
        th_resp_release(&r);
    }
    s = th_pg_scalar(G.pg, "SELECT count(*) FROM repos_history_versions WHERE valid_to = 2");
    assert_string_equal(s, "1"); /* the old version of a: O(rows changed) */
    free(s);
    sleep(3);
    want_problem(base, "/api/v1/repos.csv?generation=1", 410, "INGESTD_REPOS_HISTORY");
    {
        struct th_resp r = th_get(base, "/api/v1/repos.csv?generation=1", NULL);
        json_t *j = th_resp_json(&r);

        assert_string_equal(json_string_value(json_object_get(j, "title")), "Gone");
        assert_int_equal(json_integer_value(json_object_get(j, "status")), 410);
        json_decref(j);
        th_resp_release(&r);
    }
    want_problem(base, "/api/v1/repos/diff?from=1&to=2", 410, "INGESTD_REPOS_HISTORY");
    {
        struct th_resp r = th_get(base, "/api/v1/repos.csv?generation=2", NULL);

        want_status(&r, 200, "the current generation is always there");
        th_resp_release(&r);
    }
    /* generation 3: generation 2 was replaced just now and stays; 1's rows are swept */
    assert_int_equal(merge_events(base, "origin,path,branch,changeset,publishUri\n"
                                        "o,b,main,c3,s3://b3\n"),
                     3);
    s = th_pg_scalar(G.pg, "SELECT count(*) FROM repos_history_versions WHERE valid_to <= 2");
    assert_string_equal(s, "0");
    free(s);
    s = th_pg_scalar(G.pg, "SELECT count(*) FROM repos_history_versions WHERE valid_to = 3");
    assert_string_equal(s, "1");
    free(s);
    {
        struct th_resp r = th_get(base, "/api/v1/repos.csv?generation=2", NULL);

        want_status(&r, 200, "generation 2 inside the window");
        assert_string_equal(r.body, "origin,path,branch,changeset,publishUri\n"
                                    "o,a,main,c2,s3://a2\n"
                                    "o,b,main,c1,s3://b1\n");
        th_resp_release(&r);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generations_made), cmocka_unit_test(test_generation_bytes),
        cmocka_unit_test(test_generation_bad),   cmocka_unit_test(test_diff_csv),
        cmocka_unit_test(test_diff_json),        cmocka_unit_test(test_diff_bad),
        cmocka_unit_test(test_window),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
