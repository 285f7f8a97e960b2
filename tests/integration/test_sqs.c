/*
 * test_sqs.c - the SQS consumer end to end against a real SQS server
 *
 * One PostgreSQL, one SQS server (fauxqs, AWS JSON 1.0 protocol, behind a
 * front that checks every SigV4 signature with the AWS SDK's signer:
 * harness_sqs.c) and one ingestd consuming two queues for the whole file.
 * Messages are sent with ingestd's own SQS client (SendMessage /
 * SendMessageBatch); what the consumer did is read from GET /api/v1/sqs,
 * /metrics, the catalog (GET /api/v1/s3/objects) and the queues themselves
 * (GetQueueAttributes: visible and in-flight counts), so "deleted only after
 * the commit" is checked on the queue, not on ingestd's word.
 *
 * Queue "main" (visibility timeout 2 s asked by ingestd): shapes, test
 * events, the database going away. Queue "poison" has a redrive policy
 * (maxReceiveCount 2) to "poison-dlq": an undecodable message is counted
 * failed on each receive, never deleted, and ends in the dead-letter queue
 * while its batch-mate is ingested at once. Queue "poison-delete" is consumed
 * by a second instance with INGESTD_SQS_POISON=delete.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/sqs_client.h"
#include "core/buf.h"
#include "harness.h"

#define TOKEN "sqs-test-admin-token"
#define WAIT_MS 60000

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    struct th_ingestd *cur; /* the instance queue_status() asks: srv but in test_poison_delete */
    struct sqs_client *sqs;
    char *main_url, *poison_url, *dlq_url, *delete_url;
} G;

static const char *const AUTH[] = {"Authorization: Bearer " TOKEN, NULL};

/* ---- SQS helpers ------------------------------------------------------------ */

/* CreateQueue name with attributes (a JSON object text, may be NULL); the queue URL. */
static char *
create_queue(const char *name, const char *attributes)
{
    char errbuf[ERRBUF_SIZE];
    struct buf answer;
    char *req = th_strf("{\"QueueName\":\"%s\"%s%s}", name, attributes ? ",\"Attributes\":" : "",
                        attributes ? attributes : "");
    char *any = th_strf("%s/%s", th_sqs_endpoint(), name); /* the call goes to its origin */
    json_t *doc;
    char *url;

    buf_init(&answer, 0);
    if (sqs_client_call(G.sqs, any, "CreateQueue", req, &answer, errbuf, sizeof(errbuf)))
        fail_msg("CreateQueue %s: %s", name, errbuf);
    doc = json_loads(answer.data, 0, NULL);
    url = xstrdup(json_string_value(json_object_get(doc, "QueueUrl")));
    json_decref(doc);
    buf_release(&answer);
    free(any);
    free(req);
    return url;
}

/* ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible of a queue. */
static long
queue_depth(const char *url, long *in_flight)
{
    char errbuf[ERRBUF_SIZE];
    struct buf answer;
    char *req = th_strf("{\"QueueUrl\":\"%s\",\"AttributeNames\":[\"All\"]}", url);
    json_t *doc, *attrs;
    long visible, hidden;

    buf_init(&answer, 0);
    if (sqs_client_call(G.sqs, url, "GetQueueAttributes", req, &answer, errbuf, sizeof(errbuf)))
        fail_msg("GetQueueAttributes: %s", errbuf);
    doc = json_loads(answer.data, 0, NULL);
    attrs = json_object_get(doc, "Attributes");
    visible = atol(json_string_value(json_object_get(attrs, "ApproximateNumberOfMessages")));
    hidden =
        atol(json_string_value(json_object_get(attrs, "ApproximateNumberOfMessagesNotVisible")));
    json_decref(doc);
    buf_release(&answer);
    free(req);
    if (in_flight)
        *in_flight = hidden;
    return visible + hidden;
}

static void
send_body(const char *url, const char *body)
{
    char errbuf[ERRBUF_SIZE];

    if (sqs_client_send(G.sqs, url, body, errbuf, sizeof(errbuf)))
        fail_msg("SendMessage: %s", errbuf);
}

/* ---- message bodies ------------------------------------------------------ */

static char *
notification(const char *bucket, const char *key, const char *sequencer)
{
    return th_strf("{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
                   "\"awsRegion\":\"us-east-1\",\"eventTime\":\"2026-11-21T10:15:30.123Z\","
                   "\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"s3SchemaVersion\":\"1.0\","
                   "\"bucket\":{\"name\":\"%s\",\"arn\":\"arn:aws:s3:::%s\"},\"object\":{"
                   "\"key\":\"%s\",\"size\":5,\"eTag\":\"0123456789abcdef0123456789abcdef\","
                   "\"sequencer\":\"%s\"}}}]}",
                   bucket, bucket, key, sequencer);
}

/* A JSON string literal (with quotes) of s. */
static char *
quoted(const char *s)
{
    json_t *j = json_string(s);
    char *out = json_dumps(j, JSON_ENCODE_ANY);

    json_decref(j);
    return out;
}

/* ---- ingestd helpers --------------------------------------------------------- */

/* The /api/v1/sqs entry of queue `name` (caller json_decref()s). */
static json_t *
queue_status(const char *name)
{
    struct th_resp r = th_get(th_ingestd_base(G.cur), "/api/v1/sqs", AUTH);
    json_t *doc, *q, *found = NULL;
    size_t i;

    assert_int_equal(r.status, 200);
    doc = th_resp_json(&r);
    json_array_foreach(json_object_get(doc, "queues"), i, q)
    {
        if (strcmp(th_jstr(q, "name"), name) == 0)
            found = json_incref(q);
    }
    json_decref(doc);
    th_resp_release(&r);
    if (!found)
        fail_msg("queue %s not in /api/v1/sqs", name);
    return found;
}

/* Wait until counter `field` of queue `name` reaches at least `want`; its value. */
static json_int_t
wait_counter(const char *name, const char *field, json_int_t want)
{
    long deadline = th_now_ms() + WAIT_MS;
    json_int_t v;
    json_t *q;

    for (;;) {
        q = queue_status(name);
        v = th_jint(q, field);
        json_decref(q);
        if (v >= want)
            return v;
        if (th_now_ms() > deadline)
            fail_msg("%s.%s stayed at %lld (want >= %lld)", name, field, (long long)v,
                     (long long)want);
        th_sleep_ms(100);
    }
}

/* Number of current records of a bucket (nRecords of /api/v1/s3/objects/count). */
static json_int_t
bucket_count(const char *bucket)
{
    char *path = th_strf("/api/v1/s3/objects/count?bucket=%s", bucket);
    struct th_resp r = th_get(th_ingestd_base(G.srv), path, AUTH);
    json_t *doc;
    json_int_t n;

    assert_int_equal(r.status, 200);
    doc = th_resp_json(&r);
    n = th_jint(doc, "nRecords");
    json_decref(doc);
    th_resp_release(&r);
    free(path);
    return n;
}

/* ---- the cases ----------------------------------------------------------------- */

/*
 * A notification, an EventBridge event, an SNS envelope of a notification and
 * an s3:TestEvent: three records in the catalog, the test event counted as
 * ignored, all four deleted from the queue.
 */
static void
test_shapes(void **state)
{
    char *n1 = notification("sqs-shapes", "a/one.txt", "0055AED6DCD90281E5");
    char *n3 = notification("sqs-shapes", "a/three+plus.txt", "0055AED6DCD90281E7");
    char *inner = quoted(n3);
    char *sns = th_strf("{\"Type\":\"Notification\",\"MessageId\":\"22b80b92\","
                        "\"TopicArn\":\"arn:aws:sns:us-east-1:123456789012:s3-events\","
                        "\"Subject\":\"Amazon S3 Notification\",\"Message\":%s,"
                        "\"Timestamp\":\"2026-11-21T10:15:31.000Z\",\"SignatureVersion\":\"1\"}",
                        inner);
    const char *eb =
        "{\"version\":\"0\",\"id\":\"17793124-05d4-b198-2fde-7ededc63b103\","
        "\"detail-type\":\"Object Created\",\"source\":\"aws.s3\",\"account\":\"123456789012\","
        "\"time\":\"2026-11-21T10:15:30Z\",\"region\":\"us-east-1\",\"resources\":[],"
        "\"detail\":{\"version\":\"0\",\"bucket\":{\"name\":\"sqs-shapes\"},\"object\":{"
        "\"key\":\"a/two.txt\",\"size\":7,\"etag\":\"b1946ac92492d2347c6235b4d2611184\","
        "\"sequencer\":\"0055AED6DCD90281E6\"},\"reason\":\"PutObject\"}}";
    const char *test_event = "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\","
                             "\"Time\":\"2026-11-21T10:15:30.000Z\",\"Bucket\":\"sqs-shapes\"}";
    json_t *q;
    long in_flight = -1;

    (void)state;
    send_body(G.main_url, n1);
    send_body(G.main_url, eb);
    send_body(G.main_url, sns);
    send_body(G.main_url, test_event);
    wait_counter("main", "deleted", 4);
    q = queue_status("main");
    assert_int_equal(th_jint(q, "received"), 4);
    assert_int_equal(th_jint(q, "ingested"), 3);
    assert_int_equal(th_jint(q, "ignored"), 1);
    assert_int_equal(th_jint(q, "failed"), 0);
    assert_int_equal(th_jint(q, "records"), 3);
    assert_true(json_is_string(json_object_get(q, "lastCommitAt")));
    json_decref(q);
    assert_int_equal(bucket_count("sqs-shapes"), 3);
    assert_int_equal(queue_depth(G.main_url, &in_flight), 0);
    assert_int_equal(in_flight, 0);
    free(sns);
    free(inner);
    free(n3);
    free(n1);
}

/*
 * Two poison messages sent in one SendMessageBatch with a good one - one that
 * does not decode, one the catalog refuses (a sequencer that is not hex) - the
 * good one is ingested and deleted at once; each poison one is counted failed
 * on each receive, never deleted, and the queue's redrive policy moves it to
 * the dead-letter queue after 2 receives.
 */
static void
test_poison_not_blocking(void **state)
{
    char *good = notification("sqs-poison", "b/good.txt", "0066AED6DCD90281E5");
    char *good_json = quoted(good);
    char *refused = notification("sqs-poison", "b/refused.txt", "not-hex");
    char *refused_json = quoted(refused);
    char *req = th_strf("{\"QueueUrl\":\"%s\",\"Entries\":[{\"Id\":\"bad\","
                        "\"MessageBody\":\"this is not an S3 event\"},{\"Id\":\"refused\","
                        "\"MessageBody\":%s},{\"Id\":\"good\",\"MessageBody\":%s}]}",
                        G.poison_url, refused_json, good_json);
    char errbuf[ERRBUF_SIZE];
    struct buf answer;
    long deadline;
    char *log;
    json_t *q;

    (void)state;
    buf_init(&answer, 0);
    if (sqs_client_call(G.sqs, G.poison_url, "SendMessageBatch", req, &answer, errbuf,
                        sizeof(errbuf)))
        fail_msg("SendMessageBatch: %s", errbuf);
    wait_counter("poison", "deleted", 1);
    assert_int_equal(bucket_count("sqs-poison"), 1);
    q = queue_status("poison");
    assert_int_equal(th_jint(q, "ingested"), 1);
    assert_true(th_jint(q, "failed") >= 1);
    json_decref(q);
    /* the poison messages: received twice each (failed 4), then in the dead-letter queue */
    wait_counter("poison", "failed", 4);
    deadline = th_now_ms() + WAIT_MS;
    while (queue_depth(G.dlq_url, NULL) < 2) {
        if (th_now_ms() > deadline)
            fail_msg("the poison messages never reached the dead-letter queue");
        th_sleep_ms(200);
    }
    assert_int_equal(queue_depth(G.poison_url, NULL), 0);
    /* one went the decoder's way, the other was refused by the catalog (ingested alone) */
    log = th_read_file(th_ingestd_log(G.srv), NULL);
    assert_non_null(strstr(log, "sqs message does not decode"));
    assert_non_null(strstr(log, "sqs message refused by the catalog"));
    assert_null(strstr(log, "this is not an S3 event")); /* bodies are never logged */
    free(log);
    q = queue_status("poison");
    assert_int_equal(th_jint(q, "deleted"), 1);
    assert_int_equal(th_jint(q, "ingested"), 1);
    json_decref(q);
    buf_release(&answer);
    free(req);
    free(refused_json);
    free(refused);
    free(good_json);
    free(good);
}

/*
 * PostgreSQL down: the message is received, the ingestion fails, nothing is
 * deleted (the queue still holds it); after the restart it is received
 * again, committed, and only then deleted.
 */
static void
test_database_down_keeps_messages(void **state)
{
    char *n = notification("sqs-dbdown", "c/kept.txt", "0077AED6DCD90281E5");
    json_int_t received, deleted, errors;
    long deadline;
    json_t *q;

    (void)state;
    q = queue_status("main");
    received = th_jint(q, "received");
    deleted = th_jint(q, "deleted");
    errors = th_jint(q, "errors");
    json_decref(q);
    th_pg_stop(G.pg);
    send_body(G.main_url, n);
    /* received at least twice (the visibility timeout is 2 s), failed each time */
    wait_counter("main", "received", received + 2);
    wait_counter("main", "errors", errors + 2);
    q = queue_status("main");
    assert_int_equal(th_jint(q, "deleted"), deleted);
    assert_true(strlen(th_jstr(q, "lastError")) > 0); /* the database error, as logged */
    json_decref(q);
    assert_int_equal(queue_depth(G.main_url, NULL), 1);
    th_pg_restart(G.pg);
    wait_counter("main", "deleted", deleted + 1);
    assert_int_equal(bucket_count("sqs-dbdown"), 1);
    deadline = th_now_ms() + WAIT_MS;
    while (queue_depth(G.main_url, NULL) != 0) {
        if (th_now_ms() > deadline)
            fail_msg("the message stayed in the queue after its commit");
        th_sleep_ms(100);
    }
    free(n);
}

/*
 * INGESTD_SQS_POISON=delete (a second instance consuming its own queue): the
 * poison message is deleted after the batch's commit, nothing is left.
 */
static void
test_poison_delete(void **state)
{
    char *good = notification("sqs-poison-delete", "d/good.txt", "0088AED6DCD90281E5");
    char *good_json = quoted(good);
    char *req = th_strf("{\"QueueUrl\":\"%s\",\"Entries\":[{\"Id\":\"bad\","
                        "\"MessageBody\":\"[1,2,3]\"},{\"Id\":\"good\",\"MessageBody\":%s}]}",
                        G.delete_url, good_json);
    char *queues = th_strf("INGESTD_SQS_QUEUES=%s", G.delete_url);
    char *endpoint = th_strf("AWS_ENDPOINT_URL_SQS=%s", th_sqs_endpoint());
    const char *env[] = {queues,
                         endpoint,
                         "INGESTD_SQS_POISON=delete",
                         "INGESTD_SQS_VISIBILITY_TIMEOUT=2",
                         "INGESTD_API_TOKENS=admin:" TOKEN,
                         "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
                         "AWS_SECRET_ACCESS_KEY=secret-example",
                         NULL};
    char errbuf[ERRBUF_SIZE];
    struct buf answer;
    json_t *q;

    (void)state;
    G.cur = th_ingestd_start(th_pg_url(G.pg), env);
    buf_init(&answer, 0);
    if (sqs_client_call(G.sqs, G.delete_url, "SendMessageBatch", req, &answer, errbuf,
                        sizeof(errbuf)))
        fail_msg("SendMessageBatch: %s", errbuf);
    wait_counter("poison-delete", "deleted", 2);
    q = queue_status("poison-delete");
    assert_int_equal(th_jint(q, "received"), 2);
    assert_int_equal(th_jint(q, "ingested"), 1);
    assert_int_equal(th_jint(q, "failed"), 1);
    assert_string_equal(th_jstr(q, "url"), G.delete_url);
    json_decref(q);
    assert_int_equal(queue_depth(G.delete_url, NULL), 0);
    assert_int_equal(bucket_count("sqs-poison-delete"), 1);
    th_ingestd_free(G.cur);
    G.cur = G.srv;
    buf_release(&answer);
    free(endpoint);
    free(queues);
    free(req);
    free(good_json);
    free(good);
}

/*
 * The server checks every signature with the AWS SDK's signer (tests/sqs/server.mjs):
 * everything above went through it. A wrong secret, another key or no signature
 * is refused as SQS refuses it; a session token is signed along.
 */
static void
test_signatures_checked(void **state)
{
    struct sqs_client_config cfg = {"us-east-1", "AKIDEXAMPLE",     "not-the-secret",
                                    NULL,        th_sqs_endpoint(), 0};
    char errbuf[ERRBUF_SIZE];
    struct sqs_client *c;

    (void)state;
    c = sqs_client_new(&cfg);
    assert_int_equal(sqs_client_send(c, G.main_url, "x", errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_non_null(strstr(errbuf, "sqs SendMessage main: 403 SignatureDoesNotMatch"));
    sqs_client_free(c);
    cfg.access_key_id = "AKIDOTHER";
    c = sqs_client_new(&cfg);
    assert_int_equal(sqs_client_send(c, G.main_url, "x", errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_non_null(strstr(errbuf, "403 InvalidClientTokenId"));
    sqs_client_free(c);
    cfg.access_key_id = NULL; /* anonymous: unsigned */
    cfg.secret_access_key = NULL;
    c = sqs_client_new(&cfg);
    assert_int_equal(sqs_client_send(c, G.main_url, "x", errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_non_null(strstr(errbuf, "403 IncompleteSignature"));
    sqs_client_free(c);
    /* with a session token (x-amz-security-token signed too): accepted (sent to the
     * dead-letter queue, which nobody consumes) */
    cfg.access_key_id = "AKIDEXAMPLE";
    cfg.secret_access_key = "secret-example";
    cfg.session_token = "FQoGZXIvYXdzEXAMPLE//token";
    c = sqs_client_new(&cfg);
    assert_int_equal(
        sqs_client_send(c, G.dlq_url, "{\"Event\":\"s3:TestEvent\"}", errbuf, sizeof(errbuf)),
        ERR_OK);
    sqs_client_free(c);
}

/* The counters are also Prometheus series; the route is admin-only. */
static void
test_metrics_and_auth(void **state)
{
    struct th_resp r = th_get(th_ingestd_base(G.srv), "/metrics", NULL);

    (void)state;
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "ingestd_sqs_messages_total{queue=\"main\",outcome=\"ignored\"} 1"));
    assert_non_null(
        strstr(r.body, "ingestd_sqs_messages_total{queue=\"poison\",outcome=\"failed\"}"));
    assert_non_null(strstr(r.body, "ingestd_sqs_errors_total{queue=\"main\",kind=\"database\"}"));
    th_resp_release(&r);
    r = th_get(th_ingestd_base(G.srv), "/api/v1/sqs", NULL);
    assert_int_equal(r.status, 401);
    th_resp_release(&r);
    r = th_get(th_ingestd_base(G.srv), "/api/v1/sqs?x=1", AUTH);
    assert_int_equal(r.status, 400);
    th_resp_release(&r);
}

/* SIGTERM during a 20 s long poll: ingestd stops at once (the poll is abandoned). */
static void
test_stop_during_long_poll(void **state)
{
    long t0;

    (void)state;
    th_sleep_ms(300); /* every consumer is in a long poll on an empty queue */
    t0 = th_now_ms();
    assert_int_equal(th_ingestd_term(G.srv), 0);
    if (th_now_ms() - t0 > 5000)
        fail_msg("stopping took %ld ms", th_now_ms() - t0);
}

static int
setup(void **state)
{
    struct sqs_client_config cfg = {"us-east-1", "AKIDEXAMPLE", "secret-example", NULL, NULL, 0};
    char *dlq_arn, *redrive, *queues, *endpoint;
    const char *env[8];

    (void)state;
    if (th_sqs_start("AKIDEXAMPLE:secret-example") != 0)
        return -1;
    cfg.endpoint_url = th_sqs_endpoint();
    G.sqs = sqs_client_new(&cfg);
    G.main_url = create_queue("main", NULL);
    G.dlq_url = create_queue("poison-dlq", NULL);
    dlq_arn = xstrdup("arn:aws:sqs:us-east-1:000000000000:poison-dlq");
    redrive = th_strf("{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"%s\\\","
                      "\\\"maxReceiveCount\\\":\\\"2\\\"}\"}",
                      dlq_arn);
    G.poison_url = create_queue("poison", redrive);
    G.delete_url = create_queue("poison-delete", NULL);
    G.pg = th_pg_start();
    queues = th_strf("INGESTD_SQS_QUEUES=%s, %s", G.main_url, G.poison_url);
    env[0] = queues;
    env[1] = "INGESTD_SQS_VISIBILITY_TIMEOUT=2";
    env[2] = "INGESTD_API_TOKENS=admin:" TOKEN;
    env[3] = "AWS_ACCESS_KEY_ID=AKIDEXAMPLE";
    env[4] = "AWS_SECRET_ACCESS_KEY=secret-example";
    env[5] = "AWS_REGION=us-east-1";
    endpoint = th_strf("AWS_ENDPOINT_URL_SQS=%s", th_sqs_endpoint());
    env[6] = endpoint;
    env[7] = NULL;
    G.srv = th_ingestd_start(th_pg_url(G.pg), env);
    G.cur = G.srv;
    free(endpoint);
    free(queues);
    free(redrive);
    free(dlq_arn);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    sqs_client_free(G.sqs);
    th_sqs_free();
    free(G.main_url);
    free(G.poison_url);
    free(G.dlq_url);
    free(G.delete_url);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_poison_not_blocking),
        cmocka_unit_test(test_database_down_keeps_messages),
        cmocka_unit_test(test_poison_delete),
        cmocka_unit_test(test_signatures_checked),
        cmocka_unit_test(test_metrics_and_auth),
        cmocka_unit_test(test_stop_during_long_poll),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
