/*
 * test_s3_key_index.c - key patterns that start with a wildcard, through the key segments'
 * index (migration 0026, storage/s3_query.c, jobs/key_index.c), over real HTTP and PostgreSQL
 *
 * The catalog (bucket seg, from POST /api/v1/s3/events with URL-encoded keys,
 * and one key of over 2,000 bytes written in SQL). Each pattern is listed
 * three times, with the same answer each time:
 *   1. by an ingestd that builds no index (INGESTD_KEY_INDEX_INTERVAL=0):
 *      a scan of the partition;
 *   2. by one whose builder indexed partition 0 (interval 1 s), with
 *      sequential and plain index scans off for its sessions, so that the
 *      planner takes the segments' index wherever the SQL lets it (the test
 *      checks that it did: the index's scans are counted);
 *   3. through /api/v1/s3/count of the second.
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

#include "harness.h"

static struct {
    struct th_pg *pg;
    struct th_ingestd *plain;   /* no index builds */
    struct th_ingestd *indexed; /* builds, and plans with the index */
    char *long_key;
} G;

/* Every key, decoded. */
static const char *const keys[] = {
    "run1/sample0042a.bam",
    "run1/sample0042b.txt",
    "run2/x/sample0042.bam",
    "sample0042/top.bam",
    "run3/notsample0042.bam",
    "a//sample0042c.bam",
    "run1/",
    "q/it's\\ok:*&!|(x) y/f.bam",
    "q/Sample0042d.bam",
    "q/\xc3\xa9/\xc3\xbc.bam",
    "run4/sample0042e/deep/file.bam",
};

/* s with every byte but [A-Za-z0-9/._-] percent-encoded (a new string). */
static char *
pct(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    char *o = out;

    assert_non_null(out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("/._-", c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* Whether srv's /metrics has the line `line`. */
static int
metrics_line(struct th_ingestd *srv, const char *line)
{
    struct th_resp r = th_get(th_ingestd_base(srv), "/metrics", NULL);
    char *want = th_strf("\n%s\n", line);
    int has = r.status == 200 && r.body && strstr(r.body, want) != NULL;

    th_resp_release(&r);
    free(want);
    return has;
}

static int
group_setup(void **state)
{
    const char *const plain_env[] = {"INGESTD_KEY_INDEX_INTERVAL=0", NULL};
    const char *const indexed_env[] = {"INGESTD_KEY_INDEX_INTERVAL=1", NULL};
    char *records = th_strf("%s", "");
    char *body;
    char *url;
    char *sql;
    struct th_resp r;
    size_t i;

    (void)state;
    G.pg = th_pg_start();
    G.plain = th_ingestd_start(th_pg_url(G.pg), plain_env);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *k = pct(keys[i]);
        char *n = th_strf("%s%s{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":"
                          "\"ObjectCreated:Put\",\"eventTime\":\"2026-01-02T03:04:05.000Z\","
                          "\"s3\":{\"bucket\":{\"name\":\"seg\"},\"object\":{\"key\":\"%s\","
                          "\"sequencer\":\"%02zu\",\"size\":%zu,\"eTag\":\"e%zu\"}}}",
                          records, i ? "," : "", k, i + 1, i, i);

        free(records);
        free(k);
        records = n;
    }
    body = th_strf("{\"Records\":[%s]}", records);
    r = th_post_json(th_ingestd_base(G.plain), "/api/v1/s3/events", body, NULL);
    if (r.status != 200)
        fail_msg("ingest: %ld %s", r.status, r.body);
    th_resp_release(&r);
    free(body);
    free(records);
    /* over 2,000 bytes (a key no event may carry): s3_key_segments() cuts its segments */
    G.long_key = th_strf("%s", "long/");
    for (i = 0; i < 1100; i++) {
        char *n = th_strf("%s\xc3\xa9", G.long_key);

        free(G.long_key);
        G.long_key = n;
    }
    body = th_strf("%stail/end.bam", G.long_key);
    free(G.long_key);
    G.long_key = body;
    sql = th_strf("CREATE TEMP TABLE t AS SELECT * FROM s3_objects WHERE key = 'run1/"
                  "sample0042a.bam'; UPDATE t SET id = gen_random_uuid(), key = '%s'; INSERT INTO "
                  "s3_objects SELECT * FROM t",
                  G.long_key);
    PQclear(th_pg_exec(G.pg, sql));
    free(sql);
    /* no builder yet: partition 0 waits for its index */
    if (!metrics_line(G.plain, "ingestd_s3_key_index_pending 1"))
        fail_msg("want ingestd_s3_key_index_pending 1 before any build");
    url = th_strf("%s options='-c enable_seqscan=off -c enable_indexscan=off -c "
                  "enable_indexonlyscan=off'",
                  th_pg_url(G.pg));
    G.indexed = th_ingestd_start(url, indexed_env);
    free(url);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.indexed);
    th_ingestd_free(G.plain);
    th_pg_free(G.pg);
    free(G.long_key);
    return 0;
}

static long long
segs_index_scans(void)
{
    return th_pg_ll(G.pg, "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE "
                          "indexrelname = 's3_objects_events_segs'");
}

/* The keys srv lists for `query` (bucket seg, current records), in order, joined by '\n'. */
static char *
list(struct th_ingestd *srv, const char *route, const char *query, long long *count)
{
    char *path =
        th_strf("/api/v1/s3%s?bucket=seg&%s%s", route, count ? "" : "rowsPerPage=1000&", query);
    struct th_resp r = th_get(th_ingestd_base(srv), path, NULL);
    json_t *j;
    json_t *results;
    char *out = th_strf("%s", "");
    size_t i;

    if (r.status != 200)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    j = th_resp_json(&r);
    if (count)
        *count = json_integer_value(json_object_get(j, "nRecords"));
    results = json_object_get(j, "results");
    for (i = 0; i < json_array_size(results); i++) {
        char *n = th_strf("%s%s%s", out, i ? "\n" : "", th_jstr(json_array_get(results, i), "key"));

        free(out);
        out = n;
    }
    json_decref(j);
    th_resp_release(&r);
    free(path);
    return out;
}

/* API pattern p (raw) lists exactly `want` ('\n'-joined keys in order) on both servers. */
static void
want_pattern(const char *p, const char *extra, const char *want)
{
    char *enc = pct(p);
    char *query = th_strf("key=%s%s", enc, extra);
    char *a = list(G.plain, "", query, NULL);
    char *b = list(G.indexed, "", query, NULL);
    long long n = -1;
    long long nwant = *want ? 1 : 0;
    const char *s;

    free(list(G.indexed, "/count", query, &n));
    for (s = want; *s; s++)
        nwant += *s == '\n';
    if (strcmp(a, want) != 0)
        fail_msg("%s (scan): [%s], want [%s]", p, a, want);
    if (strcmp(b, want) != 0)
        fail_msg("%s (index): [%s], want [%s]", p, b, want);
    if (n != nwant)
        fail_msg("%s: count %lld, want %lld", p, n, nwant);
    free(a);
    free(b);
    free(query);
    free(enc);
}

static void
test_patterns_through_the_index(void **state)
{
    char *p;
    char *want;
    long long before;
    int i;

    (void)state;
    /* the builder of the second server indexes partition 0 */
    for (i = 0; i < 600 && th_pg_ll(G.pg, "SELECT count(*) FROM pg_index i JOIN pg_class c ON "
                                          "c.oid = i.indexrelid WHERE c.relname = "
                                          "'s3_objects_events_segs' AND i.indisvalid") == 0;
         i++)
        usleep(100000);
    assert_true(i < 600);
    assert_true(metrics_line(G.plain, "ingestd_s3_key_index_pending 0"));
    assert_int_equal(th_pg_ll(G.pg, "SELECT count(*) FROM s3_objects WHERE s3_key_segments(key) "
                                    "@@ '''sample0042'':*'"),
                     7); /* the first segment too, and Sample0042d.bam (lower-cased) */
    before = segs_index_scans();

    want_pattern("*/sample0042*.bam", "",
                 "a//sample0042c.bam\nrun1/sample0042a.bam\nrun2/x/sample0042.bam\n"
                 "run4/sample0042e/deep/file.bam");
    want_pattern("*/sample0042*", "",
                 "a//sample0042c.bam\nrun1/sample0042a.bam\nrun1/sample0042b.txt\n"
                 "run2/x/sample0042.bam\nrun4/sample0042e/deep/file.bam");
    want_pattern("*/deep/*", "", "run4/sample0042e/deep/file.bam");
    want_pattern("*/run1/*", "", ""); /* the first segment follows no `/` */
    want_pattern("*/f.bam", "", "q/it's\\ok:*&!|(x) y/f.bam");
    want_pattern("*/it's\\\\ok:\\*&!|(x) y/*", "", "q/it's\\ok:*&!|(x) y/f.bam");
    want_pattern("*/it's\\\\o*", "", "q/it's\\ok:*&!|(x) y/f.bam");
    want_pattern("*/\xc3\xa9/*", "", "q/\xc3\xa9/\xc3\xbc.bam");
    want_pattern("*/sample0042", "", ""); /* a whole last segment: none is just that */
    /* no literal after a `/`: no index term, the same answers */
    want_pattern("*/?ample0042*.bam", "",
                 "a//sample0042c.bam\nq/Sample0042d.bam\nrun1/sample0042a.bam\n"
                 "run2/x/sample0042.bam\nrun4/sample0042e/deep/file.bam");
    want_pattern("*sample0042*.bam", "",
                 "a//sample0042c.bam\nrun1/sample0042a.bam\nrun2/x/sample0042.bam\n"
                 "run3/notsample0042.bam\nrun4/sample0042e/deep/file.bam\nsample0042/top.bam");
    /* the lexemes are lower-cased keys: a case-sensitive pattern gets keys that differ in case
     * as candidates, which the LIKE drops; ILIKE (on a "C" column, ASCII letters alone fold)
     * is served as well */
    want_pattern("*/Sample0042*", "", "q/Sample0042d.bam");
    want_pattern("*/SAMPLE0042*.BAM", "&caseSensitive=false",
                 "a//sample0042c.bam\nq/Sample0042d.bam\nrun1/sample0042a.bam\n"
                 "run2/x/sample0042.bam\nrun4/sample0042e/deep/file.bam");
    want_pattern("*/\xc3\x89/*", "&caseSensitive=false", ""); /* not é: ILIKE folds ASCII only */
    want_pattern("*/Q/*", "&caseSensitive=false", "");        /* q is the first segment */
    want_pattern("*/DEEP/F*", "&caseSensitive=false", "run4/sample0042e/deep/file.bam");
    /* the long key: its 1,100-character segment is indexed as its first 255 */
    p = th_strf("*/%.*stail/*", 2200, G.long_key + 5);
    want_pattern(p, "", G.long_key);
    free(p);
    want_pattern("*/end.bam", "", G.long_key);
    want = th_strf("*/%.*s", 2 * 300, G.long_key + 5); /* a prefix longer than 255 characters */
    p = th_strf("%s*", want);
    want_pattern(p, "", G.long_key);
    free(p);
    free(want);

    /* the second server's lists read the index (its sessions' statistics reach the
     * cumulative ones within about 10 s) */
    for (i = 0; i < 300 && segs_index_scans() <= before; i++)
        usleep(100000);
    assert_true(segs_index_scans() > before);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_through_the_index),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
