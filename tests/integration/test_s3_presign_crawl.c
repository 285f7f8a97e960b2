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
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/s3_client.h"
#include "core/buf.h"
#include "core/err.h"
#include "harness.h"

#define BUCKET "presign-bucket"
#define CRAWL_BUCKET "crawl-bucket"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    struct s3_client *s3;
} G;

static int
group_setup(void **state)
{
    static const char *const buckets[] = {BUCKET, CRAWL_BUCKET, NULL};
    struct s3_client_config cfg;
    char *ep;

    (void)state;
    if (th_s3rver_start(buckets) != 0)
        return -1;
    ep = th_strf("AWS_ENDPOINT_URL=%s", th_s3rver_endpoint());
    {
        const char *env[] = {ep,
                             "AWS_ACCESS_KEY_ID=S3RVER",
                             "AWS_SECRET_ACCESS_KEY=S3RVER",
                             "AWS_REGION=us-east-1",
                             "INGESTD_PRESIGN_EXPIRY=3",
                             "INGESTD_PRESIGN_MAX_BYTES=100",
                             NULL};

        G.pg = th_pg_start();
        G.srv = th_ingestd_start(th_pg_url(G.pg), env);
    }
    free(ep);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presign_list_and_fetch),
        cmocka_unit_test(test_presign_by_id),
    };
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed;
}
