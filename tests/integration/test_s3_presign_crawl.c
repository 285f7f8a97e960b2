/*
 * test_s3_presign_crawl.c - presigned URLs and crawls of the S3 catalog against s3rver
 *
 * One PostgreSQL, one s3rver (buckets below) and one ingestd configured for
 * that s3rver (INGESTD_PRESIGN_EXPIRY=3, INGESTD_PRESIGN_MAX_BYTES=100) for
 * the whole file. Objects are PUT into s3rver with the S3 client and told to
 * ingestd as S3 event notifications (or found by a crawl); the presigned
 * URLs ingestd hands out are then fetched from s3rver over HTTP, which
 * checks their query (X-Amz-Algorithm, Credential, Date, Expires,
 * SignedHeaders, Signature) and their expiry, and applies
 * response-content-disposition (s3rver does not verify SigV4 signatures:
 * the unit test test_s3_sigv4 holds the signature against AWS's example).
 *
 * Crawls list s3rver's bucket (it has no ListObjectVersions, so the crawl
 * lists the unversioned way; the versioned rules are test_crawl_plan's) and
 * the catalog is read back over the API. A crawl is held in the middle of
 * its write by an exclusive lock on its bucket (locks.h LOCK_S3_BUCKET)
 * taken from the test's own PostgreSQL session, so "another crawl of the
 * same bucket and prefix runs" is a fact, not a race.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/s3_client.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/hex.h"
#include "harness.h"

#define BUCKET "presign-bucket"
#define CRAWL_BUCKET "crawl-bucket"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    struct s3_client *s3;
    char *endpoint_env; /* AWS_ENDPOINT_URL=... for every instance */
} G;

/* An ingestd on the test's database and s3rver (a replica of G.srv when one runs). */
static struct th_ingestd *
start_instance(void)
{
    const char *env[] = {G.endpoint_env,
                         "AWS_ACCESS_KEY_ID=S3RVER",
                         "AWS_SECRET_ACCESS_KEY=S3RVER",
                         "AWS_REGION=us-east-1",
                         "INGESTD_PRESIGN_EXPIRY=3",
                         "INGESTD_PRESIGN_MAX_BYTES=100",
                         NULL};

    return th_ingestd_start(th_pg_url(G.pg), env);
}

static int
group_setup(void **state)
{
    static const char *const buckets[] = {BUCKET, CRAWL_BUCKET, NULL};
    struct s3_client_config cfg;

    (void)state;
    if (th_s3rver_start(buckets) != 0)
        return -1;
    G.endpoint_env = th_strf("AWS_ENDPOINT_URL=%s", th_s3rver_endpoint());
    G.pg = th_pg_start();
    G.srv = start_instance();
    s3_client_config_from_env(&cfg);
    G.s3 = s3_client_new(&cfg);
    return G.s3 ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    s3_client_free(G.s3);
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    th_s3rver_free();
    free(G.endpoint_env);
    return 0;
}

static void
put(const char *bucket, const char *key, const char *body, size_t len)
{
    char errbuf[ERRBUF_SIZE] = "";
    enum err rc = th_s3rver_put(G.s3, bucket, key, body, len, errbuf, sizeof(errbuf));

    if (rc)
        print_error("put %s: %s\n", key, errbuf);
    assert_int_equal(rc, ERR_OK);
}

/* POST one S3 notification record of eventName for bucket/key (sequencer seq) to ingestd. */
static void
notify(const char *event_name, const char *bucket, const char *key, long long size, const char *seq)
{
    json_t *obj = json_pack("{s:s,s:s}", "key", key, "sequencer", seq);
    json_t *body;
    char *text;
    struct th_resp r;

    if (size >= 0) {
        json_object_set_new(obj, "size", json_integer(size));
        json_object_set_new(obj, "eTag", json_string("0123456789abcdef0123456789abcdef"));
    }
    body = json_pack("{s:[{s:s,s:s,s:{s:{s:s},s:o}}]}", "Records", "eventTime",
                     "2026-11-21T10:15:30.000Z", "eventName", event_name, "s3", "bucket", "name",
                     bucket, "object", obj);
    text = json_dumps(body, JSON_COMPACT);
    r = th_post_json(th_ingestd_base(G.srv), "/api/v1/s3/events", text, NULL);
    if (r.status != 200)
        print_error("events: %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    free(text);
    json_decref(body);
}

/* GET path of ingestd, expecting `status`; the JSON body (any JSON value; caller decrefs). */
static json_t *
get_json(const char *path, long status)
{
    struct th_resp r = th_get(th_ingestd_base(G.srv), path, NULL);
    json_t *j;

    if (r.status != status)
        print_error("GET %s: %ld %s\n", path, r.status, r.body);
    assert_int_equal(r.status, status);
    j = json_loadb(r.body, r.len, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    th_resp_release(&r);
    return j;
}

/* Fetch a presigned URL from s3rver: status, body and Content-Disposition. */
static long
fetch(const char *url, struct buf *body, char **disposition)
{
    struct th_resp r;
    long status;

    assert_int_equal(th_http("GET", url, NULL, NULL, 0, &r), 0);
    status = r.status;
    if (body) {
        buf_reset(body);
        buf_append(body, r.body, r.len);
    }
    if (disposition)
        *disposition = th_resp_header(&r, "Content-Disposition");
    th_resp_release(&r);
    return status;
}

/* ---- presign ------------------------------------------------------------------ */

static void
test_presign_list_and_fetch(void **state)
{
    struct buf body;
    char *disp = NULL;
    char big[200];
    json_t *j, *results;
    const char *url;

    (void)state;
    memset(big, 'b', sizeof(big));
    put(BUCKET, "pre/a b.txt", "first object", 12);
    put(BUCKET, "pre/caf\xC3\xA9+1.txt", "second", 6);
    put(BUCKET, "pre/big.bin", big, sizeof(big));
    notify("ObjectCreated:Put", BUCKET, "pre/a+b.txt", 12, "0A"); /* keys are URL-decoded */
    notify("ObjectCreated:Put", BUCKET, "pre/caf%C3%A9%2B1.txt", 6, "0B");
    notify("ObjectCreated:Put", BUCKET, "pre/big.bin", 200, "0C");
    notify("ObjectCreated:Put", BUCKET, "pre/gone.txt", 3, "0D");
    notify("ObjectRemoved:Delete", BUCKET, "pre/gone.txt", -1, "0E");

    j = get_json("/api/v1/s3/presign?bucket=" BUCKET "&key=pre/*", 200);
    /* four current records? no: gone.txt is deleted; big.bin is over the 100-byte limit */
    assert_int_equal(th_jint(json_object_get(j, "pagination"), "count"), 3);
    results = json_object_get(j, "results");
    assert_int_equal(json_array_size(results), 2);
    buf_init(&body, 0);
    url = json_string_value(json_array_get(results, 0));
    assert_non_null(strstr(url, "/" BUCKET "/pre/a%20b.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
    assert_non_null(strstr(url, "&X-Amz-Expires=3&"));
    assert_non_null(strstr(url, "&response-content-disposition=inline&X-Amz-Signature="));
    assert_int_equal(fetch(url, &body, &disp), 200);
    assert_int_equal(body.len, 12);
    assert_memory_equal(body.data, "first object", 12);
    assert_string_equal(disp, "inline");
    free(disp);
    url = json_string_value(json_array_get(results, 1));
    assert_int_equal(fetch(url, &body, NULL), 200);
    assert_memory_equal(body.data, "second", 6);
    json_decref(j);

    j = get_json("/api/v1/s3/presign?bucket=" BUCKET "&key=pre/a*&responseContentDisposition="
                 "attachment&rowsPerPage=1",
                 200);
    url = json_string_value(json_array_get(json_object_get(j, "results"), 0));
    assert_int_equal(fetch(url, &body, &disp), 200);
    assert_string_equal(disp, "attachment; filename=\"pre/a b.txt\"");
    free(disp);
    json_decref(j);

    /* the links keep the disposition; currentState=true is the only state */
    j = get_json("/api/v1/s3/presign?bucket=" BUCKET "&rowsPerPage=1&responseContentDisposition="
                 "attachment",
                 200);
    assert_non_null(strstr(th_jstr(json_object_get(j, "links"), "next"),
                           "&page=2&responseContentDisposition=attachment"));
    json_decref(j);
    json_decref(get_json("/api/v1/s3/presign?currentState=false", 400));
    json_decref(get_json("/api/v1/s3/presign?responseContentDisposition=download", 400));
    json_decref(get_json("/api/v1/s3/presign?noSuchFilter=1", 400));
    json_decref(get_json("/api/v1/s3/presign?key=a\\s", 400));

    /* the URLs expire: 3 s, then s3rver refuses them */
    j = get_json("/api/v1/s3/presign?bucket=" BUCKET "&key=pre/a*", 200);
    url = json_string_value(json_array_get(json_object_get(j, "results"), 0));
    th_sleep_ms(4500);
    assert_int_equal(fetch(url, &body, NULL), 403);
    assert_non_null(strstr(body.data, "Request has expired"));
    json_decref(j);
    buf_release(&body);
}

static void
test_presign_by_id(void **state)
{
    struct buf body;
    json_t *j, *rec, *url;
    char *path;
    const char *id;

    (void)state;
    put(BUCKET, "byid/x.txt", "by id", 5);
    notify("ObjectCreated:Put", BUCKET, "byid/x.txt", 5, "10");
    j = get_json("/api/v1/s3?bucket=" BUCKET "&key=byid/x.txt", 200);
    rec = json_array_get(json_object_get(j, "results"), 0);
    id = th_jstr(rec, "s3ObjectId");
    path = th_strf("/api/v1/s3/presign/%s?responseContentDisposition=attachment", id);
    url = get_json(path, 200);
    assert_true(json_is_string(url));
    buf_init(&body, 0);
    assert_int_equal(fetch(json_string_value(url), &body, NULL), 200);
    assert_memory_equal(body.data, "by id", 5);
    json_decref(url);
    free(path);

    /* deleted: the record is no longer current, so it has no URL */
    notify("ObjectRemoved:Delete", BUCKET, "byid/x.txt", -1, "11");
    path = th_strf("/api/v1/s3/presign/%s", id);
    url = get_json(path, 200);
    assert_true(json_is_null(url));
    json_decref(url);
    free(path);
    json_decref(j);

    json_decref(get_json("/api/v1/s3/presign/00000000-0000-4000-8000-000000000000", 404));
    json_decref(get_json("/api/v1/s3/presign/not-a-uuid", 404));
    json_decref(get_json("/api/v1/s3/presign/00000000-0000-4000-8000-000000000000?x=1", 400));
    buf_release(&body);
}

/* ---- crawl -------------------------------------------------------------------- */

/* The lower-case hex MD5 of body: the ETag s3rver gives it. */
static void
md5_hex(const char *body, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(body, len, md, &n, EVP_md5(), NULL);
    hex_encode(out, md, n);
}

/* POST body to path, expecting `status`; the JSON answer (caller decrefs). */
static json_t *
post_json(const char *path, const char *body, long status)
{
    struct th_resp r = th_post_json(th_ingestd_base(G.srv), path, body, NULL);
    json_t *j;

    if (r.status != status)
        print_error("POST %s %s: %ld %s\n", path, body, r.status, r.body);
    assert_int_equal(r.status, status);
    j = th_resp_json(&r);
    th_resp_release(&r);
    return j;
}

/* The current record of key in CRAWL_BUCKET (caller decrefs), or NULL. */
static json_t *
current(const char *key)
{
    char *path = th_strf("/api/v1/s3?bucket=" CRAWL_BUCKET "&key=%s", key);
    json_t *j = get_json(path, 200);
    json_t *rec = json_incref(json_array_get(json_object_get(j, "results"), 0));

    json_decref(j);
    free(path);
    return rec;
}

static void
test_crawl_sync(void **state)
{
    char md5[33];
    json_t *c, *rec;

    (void)state;
    md5_hex("same", 4, md5);
    put(CRAWL_BUCKET, "crawl/a.txt", "new one", 7);
    put(CRAWL_BUCKET, "crawl/b.txt", "bigger", 6);
    put(CRAWL_BUCKET, "crawl/c.txt", "same", 4);
    put(CRAWL_BUCKET, "other/x.txt", "outside", 7);
    notify("ObjectCreated:Put", CRAWL_BUCKET, "crawl/b.txt", 3, "20"); /* changed since */
    {
        json_t *body =
            json_pack("{s:[{s:s,s:s,s:{s:{s:s},s:{s:s,s:i,s:s,s:s}}}]}", "Records", "eventTime",
                      "2026-11-21T10:15:30.000Z", "eventName", "ObjectCreated:Put", "s3", "bucket",
                      "name", CRAWL_BUCKET, "object", "key", "crawl/c.txt", "size", 4, "eTag", md5,
                      "sequencer", "21");
        char *text = json_dumps(body, JSON_COMPACT);
        struct th_resp r = th_post_json(th_ingestd_base(G.srv), "/api/v1/s3/events", text, NULL);

        assert_int_equal(r.status, 200); /* the same object as S3 has: unchanged */
        th_resp_release(&r);
        free(text);
        json_decref(body);
    }
    notify("ObjectCreated:Put", CRAWL_BUCKET, "crawl/gone.txt", 3, "22"); /* not in S3 */
    notify("ObjectCreated:Put", CRAWL_BUCKET, "outside/y.txt", 3, "23");  /* not in the prefix */

    c = post_json("/api/v1/s3/crawl/sync",
                  "{\"bucket\":\"" CRAWL_BUCKET "\",\"prefix\":\"crawl/\"}", 200);
    assert_string_equal(th_jstr(c, "status"), "Completed");
    assert_string_equal(th_jstr(c, "mode"), "crawl");
    assert_string_equal(th_jstr(c, "prefix"), "crawl/");
    assert_string_equal(th_jstr(c, "listing"), "objects"); /* s3rver: no ListObjectVersions */
    assert_int_equal(th_jint(c, "nObjects"), 3);
    assert_int_equal(th_jint(c, "created"), 2);
    assert_int_equal(th_jint(c, "deleted"), 1);
    assert_int_equal(th_jint(c, "unchanged"), 1);
    assert_true(th_is_ts(th_jstr(c, "finishedAt")));
    json_decref(c);

    rec = current("crawl/a.txt");
    assert_non_null(rec);
    assert_string_equal(th_jstr(rec, "reason"), "Crawl");
    assert_string_equal(th_jstr(rec, "source"), "crawl");
    assert_string_equal(th_jstr(rec, "versionId"), "null");
    assert_int_equal(th_jint(rec, "size"), 7);
    assert_true(th_is_ts(th_jstr(rec, "lastModifiedDate")));
    assert_true(json_is_null(json_object_get(rec, "eventTime")));
    json_decref(rec);
    rec = current("crawl/b.txt");
    assert_int_equal(th_jint(rec, "size"), 6);
    assert_string_equal(th_jstr(rec, "reason"), "Crawl");
    json_decref(rec);
    rec = current("crawl/c.txt");
    assert_string_equal(th_jstr(rec, "reason"), "CreatedPut"); /* left as it was */
    json_decref(rec);
    assert_null(current("crawl/gone.txt"));
    rec = get_json("/api/v1/s3?bucket=" CRAWL_BUCKET "&key=crawl/gone.txt&currentState=false", 200);
    assert_int_equal(th_jint(json_object_get(rec, "pagination"), "count"), 2);
    assert_string_equal(th_jstr(json_array_get(json_object_get(rec, "results"), 1), "reason"),
                        "Crawl");
    assert_string_equal(th_jstr(json_array_get(json_object_get(rec, "results"), 1), "eventType"),
                        "Deleted");
    json_decref(rec);
    rec = current("outside/y.txt");
    assert_non_null(rec); /* outside the prefix: untouched */
    json_decref(rec);

    /* a second crawl finds nothing to do */
    c = post_json("/api/v1/s3/crawl/sync",
                  "{\"bucket\":\"" CRAWL_BUCKET "\",\"prefix\":\"crawl/\"}", 200);
    assert_int_equal(th_jint(c, "created"), 0);
    assert_int_equal(th_jint(c, "deleted"), 0);
    assert_int_equal(th_jint(c, "unchanged"), 3);
    json_decref(c);
}

/* More than one page of ListObjectsV2 (1,000 keys a page). */
static void
test_crawl_pages(void **state)
{
    char key[32];
    json_t *c, *j;
    long t0;
    int i;

    (void)state;
    for (i = 0; i < 1003; i++) {
        snprintf(key, sizeof(key), "page/%04d", i);
        put(CRAWL_BUCKET, key, key, strlen(key));
    }
    notify("ObjectCreated:Put", CRAWL_BUCKET, "page/9999-gone", 3, "30"); /* after the last key */
    t0 = th_now_ms();
    c = post_json("/api/v1/s3/crawl/sync", "{\"bucket\":\"" CRAWL_BUCKET "\",\"prefix\":\"page/\"}",
                  200);
    print_message("crawl of 1,003 new objects (2 pages, s3rver): %ld ms\n", th_now_ms() - t0);
    t0 = th_now_ms();
    json_decref(post_json("/api/v1/s3/crawl/sync",
                          "{\"bucket\":\"" CRAWL_BUCKET "\",\"prefix\":\"page/\"}", 200));
    print_message("crawl of the same 1,003 objects, unchanged: %ld ms\n", th_now_ms() - t0);
    assert_int_equal(th_jint(c, "nObjects"), 1003);
    assert_int_equal(th_jint(c, "created"), 1003);
    assert_int_equal(th_jint(c, "deleted"), 1);
    json_decref(c);
    j = get_json("/api/v1/s3/count?bucket=" CRAWL_BUCKET "&key=page/*", 200);
    assert_int_equal(th_jint(j, "nRecords"), 1003);
    json_decref(j);
    t0 = th_now_ms(); /* and a page of 1,000 presigned URLs of them */
    j = get_json("/api/v1/s3/presign?bucket=" CRAWL_BUCKET "&key=page/*&rowsPerPage=1000", 200);
    print_message("GET /api/v1/s3/presign, 1,000 URLs: %ld ms\n", th_now_ms() - t0);
    assert_int_equal(json_array_size(json_object_get(j, "results")), 1000);
    json_decref(j);
}

/* A PostgreSQL session of the test holding LOCK_S3_BUCKET of CRAWL_BUCKET exclusively. */
static PGconn *
lock_bucket(void)
{
    PGconn *conn = PQconnectdb(th_pg_url(G.pg));
    PGresult *res;

    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    res = PQexec(conn,
                 "SELECT pg_advisory_lock(hashtextextended('bucket' || E'\\x1f' || '" CRAWL_BUCKET
                 "', 7401))");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    return conn;
}

static void
test_crawl_conflict_and_status(void **state)
{
    const char *body = "{\"bucket\":\"" CRAWL_BUCKET "\",\"prefix\":\"lock/\"}";
    PGconn *lock;
    json_t *c, *j;
    char *path, *id;
    int i;

    (void)state;
    put(CRAWL_BUCKET, "lock/one.txt", "held", 4);
    lock = lock_bucket();
    c = post_json("/api/v1/s3/crawl", body, 202);
    assert_string_equal(th_jstr(c, "status"), "InProgress");
    id = xstrdup(th_jstr(c, "s3CrawlId"));
    json_decref(c);
    /* the crawl waits for the bucket in its write: another one of lock/ is refused */
    json_decref(post_json("/api/v1/s3/crawl", body, 409));
    json_decref(post_json("/api/v1/s3/crawl/sync", body, 409));
    {
        /* a second replica on the same database refuses it too */
        struct th_ingestd *replica = start_instance();
        struct th_resp r = th_post_json(th_ingestd_base(replica), "/api/v1/s3/crawl", body, NULL);

        assert_int_equal(r.status, 409);
        th_resp_release(&r);
        th_ingestd_free(replica);
    }
    /* another prefix is another crawl */
    c = post_json("/api/v1/s3/crawl", "{\"bucket\":\"" CRAWL_BUCKET "\",\"prefix\":\"lock2/\"}",
                  202);
    json_decref(c);
    PQfinish(lock); /* the session ends: the lock is free */
    path = th_strf("/api/v1/s3/crawl/status/%s", id);
    for (i = 0; i < 200; i++) {
        c = get_json(path, 200);
        if (strcmp(th_jstr(c, "status"), "InProgress") != 0)
            break;
        json_decref(c);
        c = NULL;
        th_sleep_ms(50);
    }
    assert_non_null(c);
    assert_string_equal(th_jstr(c, "status"), "Completed");
    assert_int_equal(th_jint(c, "created"), 1);
    json_decref(c);
    free(path);

    j = get_json("/api/v1/s3/crawl/status?bucket=" CRAWL_BUCKET "&prefix=lock/&rowsPerPage=1", 200);
    assert_int_equal(th_jint(json_object_get(j, "pagination"), "count"), 1);
    assert_string_equal(th_jstr(json_array_get(json_object_get(j, "results"), 0), "s3CrawlId"), id);
    json_decref(j);
    j = get_json("/api/v1/s3/crawl/status?bucket=crawl-*&rowsPerPage=1", 200);
    assert_true(th_jint(json_object_get(j, "pagination"), "count") >= 4);
    assert_non_null(json_string_value(json_object_get(json_object_get(j, "links"), "next")));
    json_decref(j);
    j = get_json("/api/v1/s3/crawl/status/count?status=Completed&mode=crawl", 200);
    assert_true(th_jint(j, "nRecords") >= 4);
    json_decref(j);
    json_decref(get_json("/api/v1/s3/crawl/status?status=Running", 400));
    json_decref(get_json("/api/v1/s3/crawl/status?mode=scan", 400));
    json_decref(get_json("/api/v1/s3/crawl/status?nope=1", 400));
    json_decref(get_json("/api/v1/s3/crawl/status/00000000-0000-4000-8000-000000000000", 404));
    json_decref(get_json("/api/v1/s3/crawl/status/xyz", 404));
    free(id);
}

static void
test_crawl_verify(void **state)
{
    json_t *c, *rec;

    (void)state;
    put(CRAWL_BUCKET, "verify/real.txt", "real", 4);
    notify("ObjectCreated:Put", CRAWL_BUCKET, "verify/real.txt", 4, "40");
    notify("ObjectCreated:Put", CRAWL_BUCKET, "verify/ghost.txt", 5, "41");
    c = post_json("/api/v1/s3/crawl/sync",
                  "{\"bucket\":\"" CRAWL_BUCKET "\",\"prefix\":\"verify/\",\"mode\":\"verify\"}",
                  200);
    assert_string_equal(th_jstr(c, "mode"), "verify");
    assert_int_equal(th_jint(c, "nObjects"), 2);
    assert_int_equal(th_jint(c, "missing"), 1);
    assert_int_equal(th_jint(c, "deleted"), 1);
    assert_int_equal(json_array_size(json_object_get(c, "missingKeys")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "missingKeys"), 0)),
                        "verify/ghost.txt");
    json_decref(c);
    assert_null(current("verify/ghost.txt"));
    rec = current("verify/real.txt");
    assert_string_equal(th_jstr(rec, "reason"), "CreatedPut");
    json_decref(rec);
}

static void
test_crawl_bad_requests(void **state)
{
    json_t *c;

    (void)state;
    c = post_json("/api/v1/s3/crawl/sync", "{\"bucket\":\"no-such-bucket\"}", 502);
    assert_non_null(strstr(th_jstr(c, "detail"), "NoSuchBucket"));
    json_decref(c);
    c = post_json("/api/v1/s3/crawl/sync", "{\"bucket\":\"no-such-bucket\",\"mode\":\"verify\"}",
                  502);
    json_decref(c);
    json_decref(post_json("/api/v1/s3/crawl", "{}", 422));
    json_decref(post_json("/api/v1/s3/crawl", "{\"bucket\":\"\"}", 422));
    json_decref(post_json("/api/v1/s3/crawl", "{\"bucket\":\"b\",\"prefix\":7}", 422));
    json_decref(post_json("/api/v1/s3/crawl", "{\"bucket\":\"b\",\"mode\":\"scan\"}", 422));
    json_decref(post_json("/api/v1/s3/crawl", "[1]", 422));
    json_decref(post_json("/api/v1/s3/crawl", "{\"bucket\":\"a/b\"}", 422));
    json_decref(post_json("/api/v1/s3/crawl", "{", 400));
}

/* Last: ingestd stops cleanly (exit 0; under the sanitizers also without a leak report). */
static void
test_clean_shutdown(void **state)
{
    char *log;

    (void)state;
    assert_int_equal(th_ingestd_term(G.srv), 0);
    log = th_read_file(th_ingestd_log(G.srv), NULL);
    assert_null(strstr(log, "Sanitizer"));
    assert_null(strstr(log, "runtime error"));
    free(log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presign_list_and_fetch),
        cmocka_unit_test(test_presign_by_id),
        cmocka_unit_test(test_crawl_sync),
        cmocka_unit_test(test_crawl_pages),
        cmocka_unit_test(test_crawl_conflict_and_status),
        cmocka_unit_test(test_crawl_verify),
        cmocka_unit_test(test_crawl_bad_requests),
        cmocka_unit_test(test_clean_shutdown),
    };
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed;
}
