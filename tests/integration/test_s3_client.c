/*
 * test_s3_client.c - the S3 client against a real s3rver
 *
 * The group setup starts s3rver with the test bucket (th_s3rver_start: the
 * project-local npm install in tests/s3rver, `npm ci` there); the teardown
 * stops it. The client is configured through the AWS_* variables it sets
 * (key S3RVER, which s3rver knows; it does not check SigV4 signatures, but
 * it does want x-amz-content-sha256 and a fresh x-amz-date).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "clients/s3_client.h"
#include "harness.h"

#define BUCKET "test-bucket"
#define BIG_BYTES (5u * 1024u * 1024u)

/* ---- helpers ------------------------------------------------------------- */

static int
group_setup(void **state)
{
    static const char *const buckets[] = {BUCKET, NULL};

    (void)state;
    return th_s3rver_start(buckets);
}

static int
group_teardown(void **state)
{
    (void)state;
    th_s3rver_free();
    return 0;
}

/* A client from the AWS_* variables set by the group setup. */
static struct s3_client *
env_client(void)
{
    struct s3_client_config cfg;
    struct s3_client *c;

    s3_client_config_from_env(&cfg);
    c = s3_client_new(&cfg);
    assert_non_null(c);
    return c;
}

struct collect {
    struct buf data;
    size_t calls;
};

static enum err
collect_sink(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct collect *col = ctx;

    (void)errbuf;
    (void)errlen;
    col->calls++;
    return buf_append(&col->data, data, len);
}

static unsigned char
pattern_byte(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static unsigned char *
pattern_new(size_t len)
{
    unsigned char *p = xmalloc(len);
    size_t i;

    for (i = 0; i < len; i++)
        p[i] = pattern_byte(i);
    return p;
}

/* Compares the body with pattern_byte() as it streams by; stops after stop_after calls. */
struct verify {
    size_t off;
    size_t calls;
    size_t mismatches;
    size_t stop_after; /* 0: never */
};

static enum err
verify_sink(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct verify *v = ctx;
    size_t i;

    v->calls++;
    if (v->stop_after && v->calls >= v->stop_after)
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "test sink: enough after %zu bytes",
                       v->off + len);
    for (i = 0; i < len; i++)
        if ((unsigned char)data[i] != pattern_byte(v->off + i))
            v->mismatches++;
    v->off += len;
    return ERR_OK;
}

static void
put_ok(struct s3_client *c, const char *key, const void *body, size_t len)
{
    char errbuf[ERRBUF_SIZE] = "";
    enum err rc = th_s3rver_put(c, BUCKET, key, body, len, errbuf, sizeof(errbuf));

    if (rc)
        print_error("put %s: %s\n", key, errbuf);
    assert_int_equal(rc, ERR_OK);
}

/* GET key, expecting exactly body. */
static void
get_expect(struct s3_client *c, const char *key, const char *body, size_t len)
{
    struct collect col;
    char errbuf[ERRBUF_SIZE] = "";
    long status = 0;
    enum err rc;

    buf_init(&col.data, 0);
    col.calls = 0;
    rc = s3_client_get(c, BUCKET, key, collect_sink, &col, &status, errbuf, sizeof(errbuf));
    if (rc)
        print_error("get %s: %s\n", key, errbuf);
    assert_int_equal(rc, ERR_OK);
    assert_int_equal(status, 200);
    assert_int_equal(col.data.len, len);
    if (len)
        assert_memory_equal(col.data.data, body, len);
    buf_release(&col.data);
}

/* ---- tests --------------------------------------------------------------- */

static void
test_put_then_get(void **state)
{
    struct s3_client *c = env_client();

    (void)state;
    put_ok(c, "small.txt", "hello, s3\n", 10);
    get_expect(c, "small.txt", "hello, s3\n", 10);
    put_ok(c, "small.txt", "replaced", 8);
    get_expect(c, "small.txt", "replaced", 8);
    put_ok(c, "empty", "", 0);
    get_expect(c, "empty", "", 0);
    s3_client_free(c);
}

static void
test_big_object_streams_in_chunks(void **state)
{
    struct s3_client *c = env_client();
    unsigned char *body = pattern_new(BIG_BYTES);
    struct verify v = {0, 0, 0, 0};
    char errbuf[ERRBUF_SIZE] = "";
    long status = 0;
    enum err rc;

    (void)state;
    put_ok(c, "big/object.bin", body, BIG_BYTES);
    rc = s3_client_get(c, BUCKET, "big/object.bin", verify_sink, &v, &status, errbuf,
                       sizeof(errbuf));
    if (rc)
        print_error("%s\n", errbuf);
    assert_int_equal(rc, ERR_OK);
    assert_int_equal(status, 200);
    assert_int_equal(v.off, BIG_BYTES);
    assert_int_equal(v.mismatches, 0);
    assert_true(v.calls > 1);
    free(body);
    s3_client_free(c);
}

static size_t
append_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    if (buf_append(userdata, data, size * nmemb))
        return 0;
    return size * nmemb;
}

/* ListObjectsV2 of the test bucket with plain libcurl (s3rver takes anonymous requests). */
static void
list_bucket(struct buf *xml)
{
    CURL *h = curl_easy_init();
    char url[128];
    long status = 0;

    assert_non_null(h);
    snprintf(url, sizeof(url), "%s/%s?list-type=2&max-keys=1000", th_s3rver_endpoint(), BUCKET);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, xml);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    curl_easy_cleanup(h);
}

static void
test_keys_that_need_encoding(void **state)
{
    static const char *const keys[] = {
        "dir/sub dir/caf\xC3\xA9 +plus=eq&amp.csv",
        "\xE6\x97\xA5\xE6\x9C\xAC/\xE3\x83\x95\xE3\x82\xA1\xE3\x82\xA4\xE3\x83\xAB.txt",
        "100% (copy)!*'.txt",
        "a~b_c-d.e,f;g:h@i$j",
        "q?x=1#frag",
    };
    /* the same keys as S3 lists them (XML-escaped): stored decoded, '+' not a space */
    static const char *const listed[] = {
        "<Key>dir/sub dir/caf\xC3\xA9 +plus=eq&amp;amp.csv</Key>",
        "<Key>\xE6\x97\xA5\xE6\x9C\xAC/\xE3\x83\x95\xE3\x82\xA1\xE3\x82\xA4\xE3\x83\xAB.txt</Key>",
        "<Key>100% (copy)!*", /* the quote is escaped as &#x27; or &apos; */
        "<Key>a~b_c-d.e,f;g:h@i$j</Key>",
        "<Key>q?x=1#frag</Key>",
    };
    struct s3_client *c = env_client();
    struct buf xml;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        put_ok(c, keys[i], keys[i], strlen(keys[i]));
        get_expect(c, keys[i], keys[i], strlen(keys[i]));
    }
    buf_init(&xml, 0);
    list_bucket(&xml);
    for (i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
        if (!strstr(xml.data, listed[i]))
            print_error("not listed: %s\nlisting: %s\n", listed[i], xml.data);
        assert_non_null(strstr(xml.data, listed[i]));
    }
    buf_release(&xml);
    s3_client_free(c);
}

static void
test_missing_key(void **state)
{
    struct s3_client *c = env_client();
    struct collect col;
    char errbuf[ERRBUF_SIZE] = "";
    long status = 0;

    (void)state;
    buf_init(&col.data, 0);
    col.calls = 0;
    assert_int_equal(s3_client_get(c, BUCKET, "no/such key", collect_sink, &col, &status, errbuf,
                                   sizeof(errbuf)),
                     ERR_NOT_FOUND);
    assert_int_equal(status, 404);
    assert_string_equal(errbuf, "s3 GET " BUCKET "/no/such key: 404 NoSuchKey");
    assert_int_equal(col.calls, 0);
    buf_release(&col.data);
    s3_client_free(c);
}

/* Range GETs: 206 with exactly the bytes asked (a range past the end is cut); HEAD's size. */
static void
test_range_and_head(void **state)
{
    static const char body[] = "0123456789abcdefghij";
    struct s3_client *c = env_client();
    struct collect col;
    char errbuf[ERRBUF_SIZE] = "";
    uint64_t size = 1;
    long status = 0;
    enum err rc;

    (void)state;
    put_ok(c, "range/object.txt", body, 20);
    buf_init(&col.data, 0);
    col.calls = 0;
    rc = s3_client_get_range(c, BUCKET, "range/object.txt", 5, 4, collect_sink, &col, &status,
                             errbuf, sizeof(errbuf));
    if (rc)
        print_error("range: %s\n", errbuf);
    assert_int_equal(rc, ERR_OK);
    assert_int_equal(status, 206);
    assert_int_equal(col.data.len, 4);
    assert_memory_equal(col.data.data, "5678", 4);
    buf_reset(&col.data);
    assert_int_equal(s3_client_get_range(c, BUCKET, "range/object.txt", 16, 10, collect_sink, &col,
                                         &status, errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(status, 206);
    assert_int_equal(col.data.len, 4);
    assert_memory_equal(col.data.data, "ghij", 4);
    buf_reset(&col.data);
    assert_int_equal(s3_client_get_range(c, BUCKET, "range/none", 0, 10, collect_sink, &col,
                                         &status, errbuf, sizeof(errbuf)),
                     ERR_NOT_FOUND);
    assert_string_equal(errbuf, "s3 GET " BUCKET "/range/none bytes 0-9: 404 NoSuchKey");
    assert_int_equal(s3_client_get_range(c, BUCKET, "range/object.txt", 0, 0, collect_sink, &col,
                                         &status, errbuf, sizeof(errbuf)),
                     ERR_INTERNAL);
    assert_int_equal(col.data.len, 0);
    buf_release(&col.data);

    assert_int_equal(s3_client_head(c, BUCKET, "range/object.txt", &size, errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(size, 20);
    assert_int_equal(s3_client_head(c, BUCKET, "range/none", &size, errbuf, sizeof(errbuf)),
                     ERR_NOT_FOUND);
    assert_int_equal(size, 0);
    assert_string_equal(errbuf, "s3 HEAD " BUCKET "/range/none: 404");
    s3_client_free(c);
}

static void
test_missing_bucket(void **state)
{
    struct s3_client *c = env_client();
    struct collect col;
    char errbuf[ERRBUF_SIZE] = "";
    long status = 0;

    (void)state;
    buf_init(&col.data, 0);
    col.calls = 0;
    assert_int_equal(s3_client_get(c, "no-such-bucket", "k", collect_sink, &col, &status, errbuf,
                                   sizeof(errbuf)),
                     ERR_NOT_FOUND);
    assert_int_equal(status, 404);
    assert_string_equal(errbuf, "s3 GET no-such-bucket/k: 404 NoSuchBucket");
    assert_int_equal(s3_client_put(c, "no-such-bucket", "k", "x", 1, NULL, errbuf, sizeof(errbuf)),
                     ERR_NOT_FOUND);
    assert_non_null(strstr(errbuf, "NoSuchBucket"));
    assert_int_equal(col.calls, 0);
    buf_release(&col.data);
    s3_client_free(c);
}

/* A loopback port that nothing listens on. */
static int
closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void
test_unreachable_endpoint(void **state)
{
    struct s3_client_config cfg;
    struct s3_client *c;
    struct collect col;
    char endpoint[64], errbuf[ERRBUF_SIZE] = "";
    long status = -1, start, elapsed;
    enum err rc;

    (void)state;
    s3_client_config_from_env(&cfg);
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", closed_port());
    cfg.endpoint_url = endpoint;
    c = s3_client_new(&cfg);
    buf_init(&col.data, 0);
    col.calls = 0;
    start = th_now_ms();
    rc = s3_client_get(c, BUCKET, "k", collect_sink, &col, &status, errbuf, sizeof(errbuf));
    elapsed = th_now_ms() - start;
    print_message("unreachable: %ld ms: %s\n", elapsed, errbuf);
    assert_int_equal(rc, ERR_UNAVAILABLE);
    assert_int_equal(status, 0);
    assert_non_null(strstr(errbuf, "s3 GET " BUCKET "/k: connection refused"));
    assert_non_null(strstr(errbuf, "after 5 attempts"));
    /* 4 backoffs of at least 100 + 200 + 400 + 800 ms, at most 200 + 400 + 800 + 1600 */
    assert_true(elapsed >= 1400);
    assert_true(elapsed < 10000);
    assert_int_equal(s3_client_put(c, BUCKET, "k", "x", 1, NULL, errbuf, sizeof(errbuf)),
                     ERR_UNAVAILABLE);
    buf_release(&col.data);
    s3_client_free(c);
}

static void
test_sink_error_aborts(void **state)
{
    struct s3_client *c = env_client();
    unsigned char *body = pattern_new(BIG_BYTES);
    struct verify v = {0, 0, 0, 2};
    char errbuf[ERRBUF_SIZE] = "";
    long status = 0;
    enum err rc;

    (void)state;
    put_ok(c, "abort/object.bin", body, BIG_BYTES);
    rc = s3_client_get(c, BUCKET, "abort/object.bin", verify_sink, &v, &status, errbuf,
                       sizeof(errbuf));
    assert_int_equal(rc, ERR_TOO_LARGE);
    assert_int_equal(v.calls, 2); /* no retry, no more data */
    assert_non_null(strstr(errbuf, "test sink: enough after"));
    assert_int_equal(status, 200);
    /* the handle is fine afterwards */
    put_ok(c, "after-abort", "still works", 11);
    get_expect(c, "after-abort", "still works", 11);
    free(body);
    s3_client_free(c);
}

static void
test_session_token(void **state)
{
    struct s3_client *c;

    (void)state;
    setenv("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEBYaDG/session+token==", 1);
    c = env_client();
    unsetenv("AWS_SESSION_TOKEN");
    put_ok(c, "token/object", "with a session token", 20);
    get_expect(c, "token/object", "with a session token", 20);
    s3_client_free(c);
}

static void
test_unknown_access_key(void **state)
{
    struct s3_client_config cfg;
    struct s3_client *c;
    struct collect col;
    char errbuf[ERRBUF_SIZE] = "";
    long status = 0;

    (void)state;
    s3_client_config_from_env(&cfg);
    cfg.access_key_id = "NOSUCHKEY";
    c = s3_client_new(&cfg);
    buf_init(&col.data, 0);
    col.calls = 0;
    assert_int_equal(
        s3_client_get(c, BUCKET, "small.txt", collect_sink, &col, &status, errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_int_equal(status, 403);
    assert_string_equal(errbuf, "s3 GET " BUCKET "/small.txt: 403 InvalidAccessKeyId");
    assert_int_equal(col.calls, 0);
    buf_release(&col.data);
    s3_client_free(c);
}

/* ListObjectsV2 in pages of 2 under a prefix; keys that need encoding come back as put. */
static void
test_list_objects_paged(void **state)
{
    static const char *const keys[] = {
        "list/a.txt", "list/b c.txt", "list/caf\xC3\xA9.txt", "list/d/e+f.txt", "list/z",
    };
    struct s3_client *c = env_client();
    struct s3_list_page page;
    char errbuf[ERRBUF_SIZE] = "";
    char *token = NULL;
    size_t i, seen = 0, pages = 0;
    enum err rc;

    (void)state;
    for (i = 0; i < 5; i++)
        put_ok(c, keys[i], keys[i], i);
    put_ok(c, "listing-not-under-prefix", "x", 1);
    do {
        s3_list_page_init(&page);
        rc = s3_client_list_objects(c, BUCKET, "list/", token, 2, &page, errbuf, sizeof(errbuf));
        if (rc)
            print_error("list: %s\n", errbuf);
        assert_int_equal(rc, ERR_OK);
        pages++;
        assert_true(page.count <= 2);
        for (i = 0; i < page.count; i++, seen++) {
            assert_true(seen < 5);
            assert_string_equal(page.entries[i].key, keys[seen]);
            assert_true(page.entries[i].has_size);
            assert_int_equal(page.entries[i].size, seen);
            assert_non_null(page.entries[i].etag);
            assert_int_equal(page.entries[i].etag[0], '"');
            assert_non_null(page.entries[i].last_modified);
            assert_string_equal(page.entries[i].storage_class, "STANDARD");
        }
        free(token);
        token = page.is_truncated ? xstrdup(page.next_continuation_token) : NULL;
        s3_list_page_release(&page);
    } while (token);
    assert_int_equal(seen, 5);
    assert_int_equal(pages, 3);

    s3_list_page_init(&page);
    assert_int_equal(
        s3_client_list_objects(c, "no-such-bucket", NULL, NULL, 0, &page, errbuf, sizeof(errbuf)),
        ERR_NOT_FOUND);
    assert_string_equal(errbuf, "s3 GET no-such-bucket (ListObjectsV2): 404 NoSuchBucket");
    s3_list_page_release(&page);
    s3_client_free(c);
}

/* s3rver does not implement ListObjectVersions: the client says so with the status and code. */
static void
test_list_versions_unsupported(void **state)
{
    struct s3_client *c = env_client();
    struct s3_list_page page;
    char errbuf[ERRBUF_SIZE] = "";
    enum err rc;

    (void)state;
    s3_list_page_init(&page);
    rc = s3_client_list_versions(c, BUCKET, "list/", NULL, NULL, 0, &page, errbuf, sizeof(errbuf));
    print_message("ListObjectVersions on s3rver: %s\n", errbuf);
    assert_int_equal(rc, ERR_BAD_INPUT);
    assert_string_equal(errbuf, "s3 GET " BUCKET " (ListObjectVersions): 405 MethodNotAllowed");
    assert_int_equal(page.count, 0);
    s3_list_page_release(&page);
    s3_client_free(c);
}

/* CopyObject then DeleteObject: the copy reads back, the deleted key is gone (delete is
 * idempotent). */
static void
test_copy_and_delete(void **state)
{
    struct s3_client *c = env_client();
    char errbuf[ERRBUF_SIZE] = "";
    uint64_t size = 0;

    (void)state;
    put_ok(c, "copy/source file.txt", "copy me", 7);
    assert_int_equal(s3_client_copy(c, BUCKET, "copy/source file.txt", NULL, BUCKET,
                                    "copy/target \xC3\xA9.txt", errbuf, sizeof(errbuf)),
                     ERR_OK);
    get_expect(c, "copy/target \xC3\xA9.txt", "copy me", 7);
    assert_int_equal(
        s3_client_copy(c, BUCKET, "copy/none", NULL, BUCKET, "copy/x", errbuf, sizeof(errbuf)),
        ERR_NOT_FOUND);
    assert_int_equal(
        s3_client_delete(c, BUCKET, "copy/source file.txt", NULL, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(
        s3_client_head(c, BUCKET, "copy/source file.txt", &size, errbuf, sizeof(errbuf)),
        ERR_NOT_FOUND);
    assert_int_equal(
        s3_client_delete(c, BUCKET, "copy/source file.txt", NULL, errbuf, sizeof(errbuf)), ERR_OK);
    get_expect(c, "copy/target \xC3\xA9.txt", "copy me", 7);
    s3_client_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_then_get),
        cmocka_unit_test(test_big_object_streams_in_chunks),
        cmocka_unit_test(test_keys_that_need_encoding),
        cmocka_unit_test(test_missing_key),
        cmocka_unit_test(test_range_and_head),
        cmocka_unit_test(test_missing_bucket),
        cmocka_unit_test(test_unreachable_endpoint),
        cmocka_unit_test(test_sink_error_aborts),
        cmocka_unit_test(test_session_token),
        cmocka_unit_test(test_unknown_access_key),
        cmocka_unit_test(test_list_objects_paged),
        cmocka_unit_test(test_list_versions_unsupported),
        cmocka_unit_test(test_copy_and_delete),
    };
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed;
}
