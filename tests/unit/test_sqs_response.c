/*
 * test_sqs_response.c - unit tests for the SQS JSON 1.0 answer decoder
 *
 * The answers are in the shape of AWS's documented examples (Amazon SQS API
 * Reference, ReceiveMessage / DeleteMessageBatch "Example" sections, AWS JSON
 * protocol) and of what fauxqs and SQS itself send. The decoder takes whole
 * documents (the client collects the answer under a cap), so instead of
 * chunks every test document is also cut at every byte offset: each proper
 * prefix must be rejected cleanly (ERR_BAD_INPUT, nothing owned), never
 * crash or decode to something else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/sqs_response.h"
#include "core/buf.h"

/* ReceiveMessage, as in AWS's example (receipt handle shortened) */
static const char RECEIVE_EXAMPLE[] =
    "{\"Messages\":[{\"Attributes\":{\"SenderId\":\"AIDASSYFHUBOBT7F4XT75\","
    "\"ApproximateFirstReceiveTimestamp\":\"1677112433437\",\"ApproximateReceiveCount\":\"1\","
    "\"SentTimestamp\":\"1677112427387\"},\"Body\":\"This is a test message\","
    "\"MD5OfBody\":\"fafb00f5732ab283681e124bf8747ed1\","
    "\"MessageId\":\"219f8380-5770-4cc2-8c3e-5c715e145f5e\","
    "\"ReceiptHandle\":\"AQEBaZ+j5qUoOAoxlmrCQPkBm9njMWXqemmIG6shMHCO6fV20JrQYg/AiZ8JELwLwOu5U61W+"
    "aIX5Qzu7GGofxJuvzymr4Ph53RiR0mudj4InLSgpSspYeTRDteBye5tV/txbZDdNZxsi+qqZA9xPnmMscKQqF6pGhnG"
    "\"},{\"Body\":\"{\\\"Records\\\":[]}\",\"MessageId\":\"b2\",\"ReceiptHandle\":\"h2\","
    "\"Attributes\":{\"ApproximateReceiveCount\":3}}]}";

/* DeleteMessageBatch with one success and one failure */
static const char BATCH_EXAMPLE[] =
    "{\"Failed\":[{\"Code\":\"ReceiptHandleIsInvalid\",\"Id\":\"1\","
    "\"Message\":\"The input receipt handle \\\"bogus\\\" is not valid.\",\"SenderFault\":true}],"
    "\"Successful\":[{\"Id\":\"0\"},{\"Id\":\"2\"}]}";

static void
test_receive_example(void **state)
{
    char errbuf[ERRBUF_SIZE];
    struct sqs_receive r;

    (void)state;
    assert_int_equal(sqs_response_receive(RECEIVE_EXAMPLE, strlen(RECEIVE_EXAMPLE), 10, &r, errbuf,
                                          sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.messages[0].message_id, "219f8380-5770-4cc2-8c3e-5c715e145f5e");
    assert_string_equal(r.messages[0].body, "This is a test message");
    assert_int_equal(r.messages[0].body_len, 22);
    assert_int_equal(r.messages[0].receive_count, 1);
    assert_true(strncmp(r.messages[0].receipt_handle, "AQEBaZ+j5qU", 11) == 0);
    assert_string_equal(r.messages[1].body, "{\"Records\":[]}");
    assert_int_equal(r.messages[1].receive_count, 3);
    assert_string_equal(r.messages[1].receipt_handle, "h2");
    sqs_receive_release(&r);
    assert_int_equal(r.n, 0);
    sqs_receive_release(&r); /* idempotent */
    sqs_receive_release(NULL);
}

static void
test_receive_empty(void **state)
{
    const char *docs[] = {"{}", "{\"Messages\":[]}", "{\"Messages\":null}", " {} "};
    char errbuf[ERRBUF_SIZE];
    struct sqs_receive r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        assert_int_equal(
            sqs_response_receive(docs[i], strlen(docs[i]), 10, &r, errbuf, sizeof(errbuf)), ERR_OK);
        assert_int_equal(r.n, 0);
    }
}

static void
want_receive_error(const char *doc, size_t max, const char *fragment)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct sqs_receive r;

    assert_int_equal(sqs_response_receive(doc, strlen(doc), max, &r, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_int_equal(r.n, 0);
    if (!strstr(errbuf, fragment))
        fail_msg("%s: message \"%s\" lacks \"%s\"", doc, errbuf, fragment);
}

static void
test_receive_rejects(void **state)
{
    struct buf big;
    size_t i;

    (void)state;
    want_receive_error("", 10, "invalid json");
    want_receive_error("[]", 10, "not a json object");
    want_receive_error("{\"Messages\":{}}", 10, "not an array");
    want_receive_error("{\"Messages\":[1]}", 10, "message 0 is not an object");
    want_receive_error("{\"Messages\":[{\"MessageId\":\"a\",\"Body\":\"x\"}]}", 10,
                       "no usable ReceiptHandle");
    want_receive_error("{\"Messages\":[{\"ReceiptHandle\":\"h\",\"Body\":\"x\"}]}", 10,
                       "no usable MessageId");
    want_receive_error(
        "{\"Messages\":[{\"MessageId\":\"a\",\"ReceiptHandle\":\"\",\"Body\":\"x\"}]}", 10,
        "no usable ReceiptHandle");
    want_receive_error("{\"Messages\":[{\"MessageId\":\"a\",\"ReceiptHandle\":\"h\",\"Body\":1}]}",
                       10, "Body is not a string");
    want_receive_error(RECEIVE_EXAMPLE, 1, "2 messages, at most 1");
    /* a receipt handle past the cap */
    buf_init(&big, 0);
    buf_append_str(&big, "{\"Messages\":[{\"MessageId\":\"a\",\"Body\":\"\",\"ReceiptHandle\":\"");
    for (i = 0; i <= SQS_RECEIPT_MAX; i++)
        buf_append_char(&big, 'h');
    buf_append_str(&big, "\"}]}");
    want_receive_error(big.data, 10, "no usable ReceiptHandle");
    buf_release(&big);
    /* a second message that fails: nothing of the first is kept */
    want_receive_error(
        "{\"Messages\":[{\"MessageId\":\"a\",\"ReceiptHandle\":\"h\",\"Body\":\"x\"},"
        "{\"MessageId\":\"b\"}]}",
        10, "message 1");
}

static void
test_receive_every_prefix(void **state)
{
    char errbuf[ERRBUF_SIZE];
    struct sqs_receive r;
    size_t cut, len = strlen(RECEIVE_EXAMPLE);
    char *copy;

    (void)state;
    for (cut = 0; cut < len; cut++) {
        copy = xstrndup(RECEIVE_EXAMPLE, cut); /* exactly cut bytes, as received */
        assert_int_equal(sqs_response_receive(copy, cut, 10, &r, errbuf, sizeof(errbuf)),
                         ERR_BAD_INPUT);
        assert_int_equal(r.n, 0);
        free(copy);
    }
}

static void
test_batch_example(void **state)
{
    char errbuf[ERRBUF_SIZE];
    struct sqs_batch_result b;

    (void)state;
    assert_int_equal(
        sqs_response_batch(BATCH_EXAMPLE, strlen(BATCH_EXAMPLE), 4, &b, errbuf, sizeof(errbuf)),
        ERR_OK);
    assert_int_equal(b.n, 4);
    assert_true(b.ok[0] && !b.failed[0]);
    assert_true(!b.ok[1] && b.failed[1]);
    assert_true(b.ok[2] && !b.failed[2]);
    assert_true(!b.ok[3] && !b.failed[3]); /* in neither list: not done */
    assert_int_equal(b.nfailed, 1);
    assert_string_equal(b.first_failure,
                        "ReceiptHandleIsInvalid: The input receipt handle \"bogus\" is not valid.");
}

static void
want_batch_error(const char *doc, size_t n, const char *fragment)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct sqs_batch_result b;
    size_t i;

    assert_int_equal(sqs_response_batch(doc, strlen(doc), n, &b, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    for (i = 0; i < SQS_MAX_BATCH; i++)
        assert_true(!b.ok[i] && !b.failed[i]);
    if (!strstr(errbuf, fragment))
        fail_msg("%s: message \"%s\" lacks \"%s\"", doc, errbuf, fragment);
}

static void
test_batch_rejects(void **state)
{
    char errbuf[ERRBUF_SIZE];
    struct sqs_batch_result b;
    size_t cut, len = strlen(BATCH_EXAMPLE);
    char *copy;

    (void)state;
    want_batch_error("{\"Successful\":[{\"Id\":\"3\"}]}", 3, "not an id of the request");
    want_batch_error("{\"Successful\":[{\"Id\":\"01\"}]}", 3, "not an id of the request");
    want_batch_error("{\"Successful\":[{\"Id\":\"example1\"}]}", 3, "not an id of the request");
    want_batch_error("{\"Successful\":[{\"Id\":\"0\"}],\"Failed\":[{\"Id\":\"0\"}]}", 3,
                     "listed twice");
    want_batch_error("{\"Successful\":{}}", 3, "not an array");
    want_batch_error("[1]", 3, "not a json object");
    for (cut = 0; cut < len; cut++) {
        copy = xstrndup(BATCH_EXAMPLE, cut);
        assert_int_equal(sqs_response_batch(copy, cut, 4, &b, errbuf, sizeof(errbuf)),
                         ERR_BAD_INPUT);
        free(copy);
    }
    /* both lists empty or absent: answered, nothing done */
    assert_int_equal(sqs_response_batch("{}", 2, 2, &b, errbuf, sizeof(errbuf)), ERR_OK);
    assert_true(!b.ok[0] && !b.ok[1] && b.nfailed == 0);
}

static void
test_error(void **state)
{
    const char *doc = "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\","
                      "\"message\":\"The specified queue does not exist.\"}";
    char code[32], msg[64];

    (void)state;
    assert_int_equal(sqs_response_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg)), 0);
    assert_string_equal(code, "QueueDoesNotExist");
    assert_string_equal(msg, "The specified queue does not exist.");
    doc = "{\"code\":\"AccessDenied\",\"Message\":\"no\\n\\u00e9\"}";
    assert_int_equal(sqs_response_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg)), 0);
    assert_string_equal(code, "AccessDenied");
    assert_string_equal(msg, "no???"); /* printable ASCII only */
    doc = "{\"__type\":\"com.amazonaws.sqs#AVeryLongCodeNameThatDoesNotFitTheBuffer\"}";
    assert_int_equal(sqs_response_error(doc, strlen(doc), code, 8, msg, sizeof(msg)), 0);
    assert_string_equal(code, "AVeryLo");
    assert_string_equal(msg, "");
    assert_int_equal(sqs_response_error("<xml/>", 6, code, sizeof(code), msg, sizeof(msg)), -1);
    assert_string_equal(code, "");
    assert_int_equal(sqs_response_error("{}", 2, code, sizeof(code), msg, sizeof(msg)), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receive_example), cmocka_unit_test(test_receive_empty),
        cmocka_unit_test(test_receive_rejects), cmocka_unit_test(test_receive_every_prefix),
        cmocka_unit_test(test_batch_example),   cmocka_unit_test(test_batch_rejects),
        cmocka_unit_test(test_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
