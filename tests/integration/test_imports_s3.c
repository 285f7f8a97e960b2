/*
 * test_imports_s3.c - the old pipeline's S3 publisher against a real ingestd and s3rver
 *
 * `aws s3 cp file s3://bucket/prefix/pending/<name>` is an S3 PUT into
 * pending/ (made here with ingestd's own S3 client, against s3rver); ingestd
 * imports s3://events/mass-ingest/ (INGESTD_IMPORTS, listed every second):
 * the valid file becomes an event and is copied to processed/YYYY-MM-DD/ and
 * deleted, the invalid one goes to failed/ beside its problem.json.
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

#include "clients/s3_client.h"
#include "core/buf.h"
#include "harness.h"

#define HEADER "origin,path,branch,cloneUrl,changeset,publishUri\n"

static struct {
    struct th_pg *pg;
} G;

static char *
today(void)
{
    time_t now = time(NULL);
    struct tm tm;
    char d[16];

    gmtime_r(&now, &tm);
    strftime(d, sizeof(d), "%Y-%m-%d", &tm);
    return xstrdup(d);
}

/* ---- the S3 publisher -------------------------------------------------------- */

/* 1 when bucket/key exists (HEAD). */
static int
s3_exists(struct s3_client *c, const char *key)
{
    char errbuf[ERRBUF_SIZE];
    uint64_t size = 0;

    return s3_client_head(c, "events", key, &size, errbuf, sizeof(errbuf)) == ERR_OK;
}

static void
wait_s3(struct s3_client *c, const char *key, int want)
{
    long deadline = th_now_ms() + 20000;

    while (th_now_ms() < deadline) {
        if (s3_exists(c, key) == want)
            return;
        th_sleep_ms(200);
    }
    fail_msg("s3 events/%s %s", key, want ? "never appeared" : "is still there");
}

/* aws s3 cp into s3://events/mass-ingest/pending/: imported, copied to processed/, deleted. */
static void
test_s3_publisher(void **state)
{
    static const char *const buckets[] = {"events", NULL};
    const char *good = HEADER "github.com,org/s3,main,u,s3hash,https://a/s3.jar\n";
    const char *bad = "origin\n";
    const char *url = th_pg_url(G.pg);
    char *date = today();
    char *done = th_strf("mass-ingest/processed/%s/repos-lock-s3-1-1.csv", date);
    struct s3_client_config cfg;
    struct s3_client *c;
    struct th_ingestd *srv;
    char errbuf[ERRBUF_SIZE];
    char *ep;
    PGconn *conn;
    PGresult *res;

    (void)state;
    assert_int_equal(th_s3rver_start(buckets), 0);
    s3_client_config_from_env(&cfg);
    c = s3_client_new(&cfg);
    ep = th_strf("AWS_ENDPOINT_URL=%s", th_s3rver_endpoint());
    {
        const char *env[] = {ep,
                             "AWS_ACCESS_KEY_ID=S3RVER",
                             "AWS_SECRET_ACCESS_KEY=S3RVER",
                             "AWS_REGION=us-east-1",
                             "INGESTD_IMPORTS=s3://events/mass-ingest/",
                             "INGESTD_IMPORT_POLL=1",
                             NULL};

        srv = th_ingestd_start(url, env);
    }
    assert_int_equal(th_s3rver_put(c, "events", "mass-ingest/pending/repos-lock-s3-1-1.csv", good,
                                   strlen(good), errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(th_s3rver_put(c, "events", "mass-ingest/pending/repos-lock-s3-bad.csv", bad,
                                   strlen(bad), errbuf, sizeof(errbuf)),
                     ERR_OK);
    wait_s3(c, done, 1);
    wait_s3(c, "mass-ingest/pending/repos-lock-s3-1-1.csv", 0);
    wait_s3(c, "mass-ingest/failed/repos-lock-s3-bad.csv.problem.json", 1);
    wait_s3(c, "mass-ingest/failed/repos-lock-s3-bad.csv", 1);
    wait_s3(c, "mass-ingest/pending/repos-lock-s3-bad.csv", 0);
    conn = PQconnectdb(url);
    res = PQexec(conn, "SELECT count(*) FROM events WHERE source = 'repos-lock-s3-1-1.csv'");
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    PQclear(res);
    res = PQexec(conn, "SELECT problem->>'status' FROM import_files WHERE outcome = 'failed'");
    assert_string_equal(PQgetvalue(res, 0, 0), "400");
    PQclear(res);
    PQfinish(conn);
    th_ingestd_free(srv);
    s3_client_free(c);
    free(ep);
    free(done);
    free(date);
}

static int
group_setup(void **state)
{
    (void)state;
    G.pg = th_pg_start();
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_pg_free(G.pg);
    th_s3rver_free();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_publisher),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
