/*
 * test_sqs_client.c - the SQS client's request signing and queue URLs
 *
 * The expected Authorization values were recorded from the AWS SDK for
 * JavaScript's signer (@smithy/signature-v4 5.7.5, the one @aws-sdk/client-sqs
 * uses; service "sqs", no x-amz-content-sha256) over exactly the request
 * ingestd sends: POST / to sqs.us-east-1.amazonaws.com with content-type
 * application/x-amz-json-1.0, x-amz-target AmazonSQS.ReceiveMessage, the body
 * below (byte for byte what @aws-sdk/client-sqs 3.1177 serialises for the same
 * ReceiveMessage), at 2026-11-21T10:15:30Z, with AWS's documentation example
 * keys. (The SDK itself signs more headers - its user agent, invocation id,
 * content-length; SigV4 lets a client choose which headers it signs, and
 * ingestd signs the ones that carry the request's meaning.)
 * tests/sqs/sign_example.mjs reproduces them (node, after `npm ci` there).
 * The SigV4 algorithm itself is held against AWS's published examples by
 * test_s3_client's SigV4 tests; this pins the SQS canonical request (the
 * headers, their order, the payload hash, the service and region scope).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clients/sqs_client.h"

#define HOST "sqs.us-east-1.amazonaws.com"
#define BODY                                                                                       \
    "{\"QueueUrl\":\"https://sqs.us-east-1.amazonaws.com/123456789012/MyQueue\","                  \
    "\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":20}"
#define AMZ_DATE "20261121T101530Z"
#define KEY_ID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW"

static void
test_signature_matches_sdk(void **state)
{
    char *auth;

    (void)state;
    auth = sqs_client_authorization(HOST, "/", "ReceiveMessage", BODY, strlen(BODY), AMZ_DATE,
                                    "us-east-1", KEY_ID, SECRET, NULL);
    assert_non_null(auth);
    assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-east-1/sqs/"
                              "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                              "x-amz-target, Signature=7052ecd6dc64123152d7d9ec7c9c6211ea48c229"
                              "764d08a4ffa26f08c7312b98");
    free(auth);
    auth = sqs_client_authorization(HOST, "/", "ReceiveMessage", BODY, strlen(BODY), AMZ_DATE,
                                    "us-east-1", KEY_ID, SECRET, TOKEN);
    assert_non_null(auth);
    assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-east-1/sqs/"
                              "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                              "x-amz-security-token;x-amz-target, Signature=6d260edf38fa96e3c90b"
                              "ef2daa9b9a4e3c4bb5e5958598fa0c5ac3bd16d04f5c");
    free(auth);
}

static void
test_signature_covers_everything(void **state)
{
    char *base, *other;
    const char *body2 = BODY " ";

    (void)state;
    base = sqs_client_authorization(HOST, "/", "ReceiveMessage", BODY, strlen(BODY), AMZ_DATE,
                                    "us-east-1", KEY_ID, SECRET, NULL);
    /* a change of body, action, host, region, time or key changes the signature */
    other = sqs_client_authorization(HOST, "/", "ReceiveMessage", body2, strlen(body2), AMZ_DATE,
                                     "us-east-1", KEY_ID, SECRET, NULL);
    assert_string_not_equal(base, other);
    free(other);
    other = sqs_client_authorization(HOST, "/", "DeleteMessageBatch", BODY, strlen(BODY), AMZ_DATE,
                                     "us-east-1", KEY_ID, SECRET, NULL);
    assert_string_not_equal(base, other);
    free(other);
    other = sqs_client_authorization("sqs.eu-west-1.amazonaws.com", "/", "ReceiveMessage", BODY,
                                     strlen(BODY), AMZ_DATE, "us-east-1", KEY_ID, SECRET, NULL);
    assert_string_not_equal(base, other);
    free(other);
    other = sqs_client_authorization(HOST, "/", "ReceiveMessage", BODY, strlen(BODY),
                                     "20261121T101531Z", "us-east-1", KEY_ID, SECRET, NULL);
    assert_string_not_equal(base, other);
    free(other);
    other = sqs_client_authorization(HOST, "/", "ReceiveMessage", BODY, strlen(BODY), AMZ_DATE,
                                     "eu-west-1", KEY_ID, SECRET, NULL);
    assert_non_null(strstr(other, "/eu-west-1/sqs/aws4_request"));
    free(other);
    assert_null(sqs_client_authorization(HOST, "/", "ReceiveMessage", BODY, strlen(BODY),
                                         "2026-11-21", "us-east-1", KEY_ID, SECRET, NULL));
    assert_null(sqs_client_authorization(NULL, "/", "ReceiveMessage", BODY, strlen(BODY), AMZ_DATE,
                                         "us-east-1", KEY_ID, SECRET, NULL));
    free(base);
}

static void
want_parts(const char *url, int rc, const char *origin, const char *host, const char *region)
{
    char o[256], h[256], r[256];

    assert_int_equal(sqs_queue_url_parts(url, o, h, r, sizeof(o)), rc);
    if (rc)
        return;
    assert_string_equal(o, origin);
    assert_string_equal(h, host);
    assert_string_equal(r, region);
}

static void
test_queue_url_parts(void **state)
{
    (void)state;
    want_parts("https://sqs.us-east-1.amazonaws.com/123456789012/MyQueue", 0,
               "https://sqs.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com", "us-east-1");
    want_parts("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", 0,
               "https://sqs.cn-north-1.amazonaws.com.cn", "sqs.cn-north-1.amazonaws.com.cn",
               "cn-north-1");
    want_parts("https://ap-southeast-2.queue.amazonaws.com/123456789012/q", 0,
               "https://ap-southeast-2.queue.amazonaws.com", "ap-southeast-2.queue.amazonaws.com",
               "ap-southeast-2");
    want_parts("http://127.0.0.1:4566/000000000000/q", 0, "http://127.0.0.1:4566", "127.0.0.1:4566",
               "");
    want_parts("http://sqs.us-east-1.localhost:4566/000000000000/q", 0,
               "http://sqs.us-east-1.localhost:4566", "sqs.us-east-1.localhost:4566", "");
    want_parts("ftp://h/q", -1, NULL, NULL, NULL);
    want_parts("https://h", -1, NULL, NULL, NULL);
    want_parts("https://h/", -1, NULL, NULL, NULL);
    want_parts("https:///q", -1, NULL, NULL, NULL);
    want_parts("https://h/q?x=1", -1, NULL, NULL, NULL);
    want_parts("https://user@h/q", -1, NULL, NULL, NULL);
    want_parts("https://h/a b", -1, NULL, NULL, NULL);
}

/* Calls to an address nobody listens on: ERR_UNAVAILABLE with the action and queue named. */
static void
test_unreachable(void **state)
{
    struct sqs_client_config cfg = {"us-east-1", KEY_ID, SECRET, NULL, NULL, 500};
    struct sqs_client *c = sqs_client_new(&cfg);
    char errbuf[ERRBUF_SIZE];
    struct sqs_receive r;

    (void)state;
    assert_non_null(c);
    assert_int_equal(sqs_client_receive(c, "http://127.0.0.1:9/000000000000/gone", 10, 0, 30, &r,
                                        errbuf, sizeof(errbuf)),
                     ERR_UNAVAILABLE);
    assert_non_null(strstr(errbuf, "sqs ReceiveMessage gone: "));
    assert_int_equal(r.n, 0);
    assert_int_equal(sqs_client_receive(c, "http://127.0.0.1:9/000000000000/gone", 11, 0, 30, &r,
                                        errbuf, sizeof(errbuf)),
                     ERR_INTERNAL);
    assert_int_equal(sqs_client_send(c, "not a url", "x", errbuf, sizeof(errbuf)), ERR_INTERNAL);
    sqs_client_free(c);
    sqs_client_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_matches_sdk),
        cmocka_unit_test(test_signature_covers_everything),
        cmocka_unit_test(test_queue_url_parts),
        cmocka_unit_test(test_unreachable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
