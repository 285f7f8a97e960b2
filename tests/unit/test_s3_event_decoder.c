/*
 * test_s3_event_decoder.c - unit tests for the S3 event body decoder
 *
 * JSON literals are written with single quotes and turned into double quotes
 * by sq() (a literal apostrophe would be \u0027). Wrappers whose JSON holds
 * JSON in a string (SQS bodies, SNS messages) are built with jansson, as AWS
 * builds them. Each decode is dumped to a transcript: a summary line, then
 * one line per record:
 *   type|bucket|key|versionId|eventTime|size|eTag|storageClass|sequencer|DM|reason
 * with "-" for NULL / absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "codec/s3_event_decoder.h"
#include "codec/s3_fields.h"
#include "core/buf.h"

#define NO_CAP ((size_t)1000000)

/* AWS's sample PUT notification (event version 2.1) */
#define NOTIFICATION_PUT                                                                           \
    "{'Records':[{'eventVersion':'2.1','eventSource':'aws:s3','awsRegion':'us-west-2',"            \
    "'eventTime':'1970-01-01T00:00:00.000Z','eventName':'ObjectCreated:Put',"                      \
    "'userIdentity':{'principalId':'AWS:AIDAJDPLRKLG7UEXAMPLE'},"                                  \
    "'requestParameters':{'sourceIPAddress':'172.16.0.1'},"                                        \
    "'responseElements':{'x-amz-request-id':'C3D13FE58DE4C810',"                                   \
    "'x-amz-id-2':'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD'},"            \
    "'s3':{'s3SchemaVersion':'1.0','configurationId':'testConfigRule',"                            \
    "'bucket':{'name':'amzn-s3-demo-bucket','ownerIdentity':{'principalId':'A3NL1KOZZKExample'},"  \
    "'arn':'arn:aws:s3:::amzn-s3-demo-bucket'},"                                                   \
    "'object':{'key':'HappyFace.jpg','size':1024,'eTag':'d41d8cd98f00b204e9800998ecf8427e',"       \
    "'versionId':'096fKKXTRTtl3on89fVO.nfljtsv6qko','sequencer':'0055AED6DCD90281E5'}}}]}"

#define PUT_LINE                                                                                   \
    "C|amzn-s3-demo-bucket|HappyFace.jpg|096fKKXTRTtl3on89fVO.nfljtsv6qko|"                        \
    "1970-01-01T00:00:00.000Z|1024|\"d41d8cd98f00b204e9800998ecf8427e\"|-|0055AED6DCD90281E5|-|"   \
    "CreatedPut\n"

#define TEST_EVENT                                                                                 \
    "{'Service':'Amazon S3','Event':'s3:TestEvent','Time':'2014-10-13T15:57:02.089Z',"             \
    "'Bucket':'amzn-s3-demo-bucket','RequestId':'5582815E1AEA5ADF',"                               \
    "'HostId':'8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE'}"

#define OBJECT_CREATED                                                                             \
    "{'key':'HappyFace.jpg','size':1024,'eTag':'d41d8cd98f00b204e9800998ecf8427e',"                \
    "'versionId':'096fKKXTRTtl3on89fVO.nfljtsv6qko','sequencer':'0055AED6DCD90281E5'}"
#define OBJECT_DELETED                                                                             \
    "{'key':'HappyFace.jpg','versionId':'096fKKXTRTtl3on89fVO.nfljtsv6qko',"                       \
    "'sequencer':'0055AED6DCD90281E6'}"

/* Single-quoted JSON to JSON (caller frees). */
static char *
sq(const char *s)
{
    char *d = xstrdup(s), *p;

    for (p = d; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return d;
}

/* A notification with one record (single-quoted JSON, caller frees). */
static char *
notification(const char *event_name, const char *event_time, const char *object)
{
    struct buf b;

    buf_init(&b, 0);
    buf_printf(&b,
               "{'Records':[{'eventVersion':'2.1','eventSource':'aws:s3','awsRegion':'us-west-2',"
               "'eventTime':'%s','eventName':'%s',"
               "'userIdentity':{'principalId':'AWS:AIDAJDPLRKLG7UEXAMPLE'},"
               "'requestParameters':{'sourceIPAddress':'172.16.0.1'},"
               "'responseElements':{'x-amz-request-id':'C3D13FE58DE4C810',"
               "'x-amz-id-2':'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD'},"
               "'s3':{'s3SchemaVersion':'1.0','configurationId':'ingestd',"
               "'bucket':{'name':'amzn-s3-demo-bucket',"
               "'ownerIdentity':{'principalId':'A3NL1KOZZKExample'},"
               "'arn':'arn:aws:s3:::amzn-s3-demo-bucket'},'object':%s}}]}",
               event_time, event_name, object);
    return buf_take(&b, NULL);
}

/* An EventBridge S3 event; detail_extra is appended inside detail (",'reason':..."). */
static char *
eventbridge(const char *detail_type, const char *object, const char *detail_extra)
{
    struct buf b;

    buf_init(&b, 0);
    buf_printf(&b,
               "{'version':'0','id':'17793124-05d4-b198-2fde-7ededc63b103','detail-type':'%s',"
               "'source':'aws.s3','account':'111122223333','time':'2021-11-12T00:00:00Z',"
               "'region':'ca-central-1','resources':['arn:aws:s3:::amzn-s3-demo-bucket1'],"
               "'detail':{'version':'0','bucket':{'name':'amzn-s3-demo-bucket1'},'object':%s,"
               "'request-id':'N4N7GDK58NMKJ12R','requester':'123456789012',"
               "'source-ip-address':'1.2.3.4'%s}}",
               detail_type, object, detail_extra);
    return buf_take(&b, NULL);
}

#define EB_OBJECT                                                                                  \
    "{'key':'example-key','size':5,'etag':'b1946ac92492d2347c6235b4d2611184',"                     \
    "'version-id':'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e','sequencer':'617f08299329d189'}"
#define EB_OBJECT_DELETED                                                                          \
    "{'key':'example-key','etag':'d41d8cd98f00b204e9800998ecf8427e',"                              \
    "'version-id':'1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF','sequencer':'617f0837b476e463'}"

static char *
dumps(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    return s;
}

/* An SQS message (as ReceiveMessage returns it) whose body is `body` (JSON text). */
static char *
sqs_message(const char *body, const char *body_field)
{
    return dumps(json_pack("{s:s,s:s,s:s,s:s}", "MessageId", "19dd0b57-b21e-4ac1-bd88-01bbb068cb78",
                           "ReceiptHandle", "MessageReceiptHandle", "MD5OfBody",
                           "7b270e59b47ff90a553787216d55d91d", body_field, body));
}

/* An SNS envelope (raw delivery off) around `message` (JSON text). */
static char *
sns_envelope(const char *message)
{
    return dumps(json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "Type", "Notification", "MessageId",
        "d9a0ae2d-04a3-5b0a-9e1d-5d4b2b3c1f80", "TopicArn",
        "arn:aws:sns:us-west-2:123456789012:s3-events", "Subject", "Amazon S3 Notification",
        "Message", message, "Timestamp", "2024-05-06T22:37:49.012Z", "SignatureVersion", "1",
        "Signature",
        "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N",
        "SigningCertURL",
        "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL",
        "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-"
        "west-2:123456789012:s3-events:1b0d3c4e"));
}

/* An SQS ReceiveMessage result holding two messages. */
static char *
receive_result(const char *m1, const char *m2)
{
    json_t *a = json_loads(m1, 0, NULL), *b = json_loads(m2, 0, NULL);

    assert_non_null(a);
    assert_non_null(b);
    return dumps(json_pack("{s:[o,o]}", "Messages", a, b));
}

static char *
dump_batch(enum err rc, const struct s3_batch *b)
{
    struct buf o;
    size_t i;

    buf_init(&o, 0);
    buf_printf(&o, "rc=%d n=%zu ig=%zu un=%zu\n", (int)rc, b->nrecords, b->ignored,
               b->unrecognised);
    for (i = 0; i < b->nrecords; i++) {
        const struct s3_record *r = &b->records[i];

        buf_printf(&o, "%s|%s|%s|%s|%s|", r->event_type == S3_CREATED ? "C" : "D", r->bucket,
                   r->key, r->version_id, r->event_time ? r->event_time : "-");
        if (r->has_size)
            buf_printf(&o, "%lld|", (long long)r->size);
        else
            buf_append_str(&o, "-|");
        buf_printf(&o, "%s|%s|%s|%s|%s\n", r->etag ? r->etag : "-",
                   r->storage_class ? r->storage_class : "-", r->sequencer ? r->sequencer : "-",
                   r->is_delete_marker ? "DM" : "-", r->reason);
    }
    return buf_take(&o, NULL);
}

/* Decode JSON text; returns the transcript (caller frees). */
static char *
run_json(const char *json, size_t len, size_t max_records)
{
    struct s3_batch b;
    char errbuf[ERRBUF_SIZE] = "";
    enum err rc;
    char *out;

    memset(&b, 0xA5, sizeof(b));
    rc = s3_events_decode(json, len, max_records, &b, errbuf, sizeof(errbuf));
    if (rc) {
        assert_true(errbuf[0] != '\0');
        assert_int_equal(b.nrecords, 0);
        assert_null(b.records);
    }
    out = dump_batch(rc, &b);
    s3_batch_release(&b);
    s3_batch_release(&b); /* idempotent */
    return out;
}

static void
check_json(const char *json, const char *want)
{
    char *got = run_json(json, strlen(json), NO_CAP);

    assert_string_equal(got, want);
    free(got);
}

/* Single-quoted JSON in, transcript checked. */
static void
check(const char *sq_json, const char *want)
{
    char *json = sq(sq_json);

    check_json(json, want);
    free(json);
}

/* Like check(), but takes ownership of a single-quoted string. */
static void
check_take(char *sq_json, const char *want)
{
    check(sq_json, want);
    free(sq_json);
}

/* ---- classification ---- */

struct class_row {
    const char *name;
    int ignored;
    enum s3_event_type type;
    int marker;
    const char *reason;
};

static const struct class_row notification_rows[] = {
    {"ObjectCreated:Put", 0, S3_CREATED, 0, "CreatedPut"},
    {"ObjectCreated:Post", 0, S3_CREATED, 0, "CreatedPost"},
    {"ObjectCreated:Copy", 0, S3_CREATED, 0, "CreatedCopy"},
    {"ObjectCreated:CompleteMultipartUpload", 0, S3_CREATED, 0, "CreatedCompleteMultipartUpload"},
    {"ObjectRestore:Completed", 0, S3_CREATED, 0, "Restored"},
    {"ObjectRestore:Delete", 0, S3_CREATED, 0, "RestoreExpired"},
    {"LifecycleTransition", 0, S3_CREATED, 0, "StorageClassChanged"},
    {"IntelligentTiering", 0, S3_CREATED, 0, "StorageClassChanged"},
    {"ObjectRemoved:Delete", 0, S3_DELETED, 0, "Deleted"},
    {"ObjectRemoved:DeleteMarkerCreated", 0, S3_DELETED, 1, "Deleted"},
    {"LifecycleExpiration:Delete", 0, S3_DELETED, 0, "DeletedLifecycle"},
    {"LifecycleExpiration:DeleteMarkerCreated", 0, S3_DELETED, 1, "DeletedLifecycle"},
    {"ObjectTagging:Put", 1, S3_CREATED, 0, NULL},
    {"ObjectTagging:Delete", 1, S3_CREATED, 0, NULL},
    {"ObjectAcl:Put", 1, S3_CREATED, 0, NULL},
    {"ObjectRestore:Post", 1, S3_CREATED, 0, NULL},
    {"Replication:OperationFailedReplication", 1, S3_CREATED, 0, NULL},
    {"Replication:OperationReplicatedAfterThreshold", 1, S3_CREATED, 0, NULL},
    {"ReducedRedundancyLostObject", 1, S3_CREATED, 0, NULL},
    {"ObjectCreated:*", 1, S3_CREATED, 0, NULL},
    {"objectcreated:put", 1, S3_CREATED, 0, NULL},
    {"", 1, S3_CREATED, 0, NULL},
};

static void
check_class(const char *sq_json, const struct class_row *row, const char *label)
{
    char *json = sq(sq_json);
    char errbuf[ERRBUF_SIZE];
    struct s3_batch b;
    enum err rc;

    rc = s3_events_decode(json, strlen(json), NO_CAP, &b, errbuf, sizeof(errbuf));
    if (rc)
        fail_msg("%s: rc %d %s", label, (int)rc, errbuf);
    if (row->ignored) {
        if (b.nrecords != 0 || b.ignored != 1)
            fail_msg("%s: expected ignored, got %zu records", label, b.nrecords);
    } else {
        if (b.nrecords != 1 || b.ignored != 0 || b.unrecognised != 0)
            fail_msg("%s: expected one record, got %zu/%zu/%zu", label, b.nrecords, b.ignored,
                     b.unrecognised);
        if (b.records[0].event_type != row->type || b.records[0].is_delete_marker != row->marker ||
            strcmp(b.records[0].reason, row->reason))
            fail_msg("%s: got type %d marker %d reason %s", label, (int)b.records[0].event_type,
                     b.records[0].is_delete_marker, b.records[0].reason);
    }
    s3_batch_release(&b);
    free(json);
}

static void
test_notification_classification(void **state)
{
    size_t i;
    char name[128];
    char *n;

    (void)state;
    for (i = 0; i < sizeof(notification_rows) / sizeof(notification_rows[0]); i++) {
        const struct class_row *row = &notification_rows[i];
        const char *object = row->type == S3_DELETED ? OBJECT_DELETED : OBJECT_CREATED;

        n = notification(row->name, "2024-05-06T22:37:48.123Z", object);
        check_class(n, row, row->name);
        free(n);
        /* the "s3:"-prefixed spelling some configurations show */
        snprintf(name, sizeof(name), "s3:%s", row->name);
        n = notification(name, "2024-05-06T22:37:48.123Z", object);
        check_class(n, row, name);
        free(n);
    }
}

struct eb_row {
    const char *detail_type;
    const char *extra;
    struct class_row want;
};

static const struct eb_row eventbridge_rows[] = {
    {"Object Created", ",'reason':'PutObject'", {"", 0, S3_CREATED, 0, "CreatedPut"}},
    {"Object Created", ",'reason':'POST Object'", {"", 0, S3_CREATED, 0, "CreatedPost"}},
    {"Object Created", ",'reason':'CopyObject'", {"", 0, S3_CREATED, 0, "CreatedCopy"}},
    {"Object Created",
     ",'reason':'CompleteMultipartUpload'",
     {"", 0, S3_CREATED, 0, "CreatedCompleteMultipartUpload"}},
    /* a reason not known, or none: Unknown, as the filemanager (never a guessed CreatedPut) */
    {"Object Created", ",'reason':'SomethingNew'", {"", 0, S3_CREATED, 0, "Unknown"}},
    {"Object Created", ",'reason':'putobject'", {"", 0, S3_CREATED, 0, "Unknown"}},
    {"Object Created", ",'reason':null", {"", 0, S3_CREATED, 0, "Unknown"}},
    {"Object Created", ",'reason':7", {"", 0, S3_CREATED, 0, "Unknown"}},
    {"Object Created", "", {"", 0, S3_CREATED, 0, "Unknown"}},
    {"Object Restore Completed",
     ",'source-storage-class':'GLACIER','restore-expiry-time':'2021-11-13T00:00:00Z'",
     {"", 0, S3_CREATED, 0, "Restored"}},
    {"Object Restore Expired", "", {"", 0, S3_CREATED, 0, "RestoreExpired"}},
    {"Object Storage Class Changed",
     ",'destination-storage-class':'INTELLIGENT_TIERING'",
     {"", 0, S3_CREATED, 0, "StorageClassChanged"}},
    {"Object Access Tier Changed",
     ",'destination-access-tier':'DEEP_ARCHIVE_ACCESS'",
     {"", 0, S3_CREATED, 0, "StorageClassChanged"}},
    {"Object Deleted",
     ",'reason':'DeleteObject','deletion-type':'Permanently Deleted'",
     {"", 0, S3_DELETED, 0, "Deleted"}},
    {"Object Deleted",
     ",'reason':'DeleteObject','deletion-type':'Delete Marker Created'",
     {"", 0, S3_DELETED, 1, "Deleted"}},
    {"Object Deleted",
     ",'reason':'Lifecycle Expiration','deletion-type':'Permanently Deleted'",
     {"", 0, S3_DELETED, 0, "DeletedLifecycle"}},
    {"Object Deleted",
     ",'reason':'Lifecycle Expiration','deletion-type':'Delete Marker Created'",
     {"", 0, S3_DELETED, 1, "DeletedLifecycle"}},
    {"Object Restore Initiated", ",'source-storage-class':'GLACIER'", {"", 1, S3_CREATED, 0, NULL}},
    {"Object Tags Added", "", {"", 1, S3_CREATED, 0, NULL}},
    {"Object Tags Deleted", "", {"", 1, S3_CREATED, 0, NULL}},
    {"Object ACL Updated", "", {"", 1, S3_CREATED, 0, NULL}},
    {"Async Copy Completion", "", {"", 1, S3_CREATED, 0, NULL}},
    {"EC2 Instance State-change Notification", "", {"", 1, S3_CREATED, 0, NULL}},
};

static void
test_eventbridge_classification(void **state)
{
    size_t i;
    char *e;

    (void)state;
    for (i = 0; i < sizeof(eventbridge_rows) / sizeof(eventbridge_rows[0]); i++) {
        const struct eb_row *row = &eventbridge_rows[i];
        const char *object = row->want.type == S3_DELETED ? EB_OBJECT_DELETED : EB_OBJECT;
        char label[160];

        snprintf(label, sizeof(label), "%s%s", row->detail_type, row->extra);
        e = eventbridge(row->detail_type, object, row->extra);
        check_class(e, &row->want, label);
        free(e);
    }
}

/* ---- fields ---- */

static void
test_notification_sample(void **state)
{
    (void)state;
    check(NOTIFICATION_PUT, "rc=0 n=1 ig=0 un=0\n" PUT_LINE);
    /* a delete of an unversioned object: no size, no eTag, no versionId */
    check_take(notification("ObjectRemoved:Delete", "2024-05-06T22:37:48.123Z",
                            "{'key':'dir/file.txt','sequencer':'0066395B2C8F2A1D49'}"),
               "rc=0 n=1 ig=0 un=0\n"
               "D|amzn-s3-demo-bucket|dir/file.txt|null|2024-05-06T22:37:48.123Z|-|-|-|"
               "0066395B2C8F2A1D49|-|Deleted\n");
    check_take(notification("ObjectRemoved:DeleteMarkerCreated", "2024-05-06T22:37:48.123Z",
                            "{'key':'dir/file.txt','versionId':'Ac0v.8f7Ppu0Wh3qSfUQ5s3mD9x2JdmZ',"
                            "'sequencer':'0066395B2C8F2A1D4A'}"),
               "rc=0 n=1 ig=0 un=0\n"
               "D|amzn-s3-demo-bucket|dir/file.txt|Ac0v.8f7Ppu0Wh3qSfUQ5s3mD9x2JdmZ|"
               "2024-05-06T22:37:48.123Z|-|-|-|0066395B2C8F2A1D4A|DM|Deleted\n");
    /* several records in one notification keep their order */
    check("{'Records':["
          "{'eventName':'ObjectCreated:Put','eventTime':'2024-01-01T00:00:00.000Z',"
          "'s3':{'bucket':{'name':'b'},'object':{'key':'k1','size':1,'sequencer':'01'}}},"
          "{'eventName':'ObjectTagging:Put','eventTime':'2024-01-01T00:00:01.000Z',"
          "'s3':{'bucket':{'name':'b'},'object':{'key':'k1'}}},"
          "{'eventName':'ObjectRemoved:Delete','eventTime':'2024-01-01T00:00:02.000Z',"
          "'s3':{'bucket':{'name':'b'},'object':{'key':'k2','sequencer':'02'}}}]}",
          "rc=0 n=2 ig=1 un=0\n"
          "C|b|k1|null|2024-01-01T00:00:00.000Z|1|-|-|01|-|CreatedPut\n"
          "D|b|k2|null|2024-01-01T00:00:02.000Z|-|-|-|02|-|Deleted\n");
}

static void
test_eventbridge_sample(void **state)
{
    (void)state;
    check_take(eventbridge("Object Created", EB_OBJECT, ",'reason':'PutObject'"),
               "rc=0 n=1 ig=0 un=0\n"
               "C|amzn-s3-demo-bucket1|example-key|IYV3p45BT0ac8hjHg1houSdS1a.Mro8e|"
               "2021-11-12T00:00:00.000Z|5|\"b1946ac92492d2347c6235b4d2611184\"|-|"
               "617f08299329d189|-|CreatedPut\n");
    check_take(eventbridge("Object Deleted", EB_OBJECT_DELETED,
                           ",'reason':'DeleteObject','deletion-type':'Delete Marker Created'"),
               "rc=0 n=1 ig=0 un=0\n"
               "D|amzn-s3-demo-bucket1|example-key|1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF|"
               "2021-11-12T00:00:00.000Z|-|\"d41d8cd98f00b204e9800998ecf8427e\"|-|"
               "617f0837b476e463|DM|Deleted\n");
    check_take(
        eventbridge("Object Storage Class Changed",
                    "{'key':'example-key','size':5,'etag':'b1946ac92492d2347c6235b4d2611184',"
                    "'version-id':'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e'}",
                    ",'destination-storage-class':'GLACIER'"),
        "rc=0 n=1 ig=0 un=0\n"
        "C|amzn-s3-demo-bucket1|example-key|IYV3p45BT0ac8hjHg1houSdS1a.Mro8e|"
        "2021-11-12T00:00:00.000Z|5|\"b1946ac92492d2347c6235b4d2611184\"|GLACIER|-|-|"
        "StorageClassChanged\n");
    check_take(
        eventbridge("Object Access Tier Changed",
                    "{'key':'example-key','size':5,'etag':'b1946ac92492d2347c6235b4d2611184',"
                    "'version-id':'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e'}",
                    ",'destination-access-tier':'ARCHIVE_ACCESS'"),
        "rc=0 n=1 ig=0 un=0\n"
        "C|amzn-s3-demo-bucket1|example-key|IYV3p45BT0ac8hjHg1houSdS1a.Mro8e|"
        "2021-11-12T00:00:00.000Z|5|\"b1946ac92492d2347c6235b4d2611184\"|ARCHIVE_ACCESS|-|"
        "-|StorageClassChanged\n");
    /* restore completed: source-storage-class is not the object's new class */
    check_take(
        eventbridge("Object Restore Completed", EB_OBJECT, ",'source-storage-class':'GLACIER'"),
        "rc=0 n=1 ig=0 un=0\n"
        "C|amzn-s3-demo-bucket1|example-key|IYV3p45BT0ac8hjHg1houSdS1a.Mro8e|"
        "2021-11-12T00:00:00.000Z|5|\"b1946ac92492d2347c6235b4d2611184\"|-|"
        "617f08299329d189|-|Restored\n");
    /* URL-encoded EventBridge key */
    check_take(eventbridge("Object Created",
                           "{'key':'my+photos/caf%C3%A9.jpg','size':5,'version-id':''}",
                           ",'reason':'CopyObject'"),
               "rc=0 n=1 ig=0 un=0\n"
               "C|amzn-s3-demo-bucket1|my photos/caf\xC3\xA9.jpg|null|2021-11-12T00:00:00.000Z|5|-|"
               "-|-|-|CreatedCopy\n");
    /* detail missing or not an object */
    check("{'detail-type':'Object Created','time':'2021-11-12T00:00:00Z'}", "rc=1 n=0 ig=0 un=0\n");
    check("[{'detail-type':'Object Created','detail':[]}," TEST_EVENT "]", "rc=0 n=0 ig=1 un=1\n");
    check("[{'detail-type':7,'detail':{}}," TEST_EVENT "]", "rc=0 n=0 ig=1 un=1\n");
}

static void
test_url_decode(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a+b%2Bc", "a b+c"},
        {"%E2%9C%93", "\xE2\x9C\x93"},
        {"%e2%9c%93", "\xE2\x9C\x93"},
        {"%zz", "%zz"},
        {"100%", "100%"},
        {"%4", "%4"},
        {"%4g", "%4g"},
        {"%41%42", "AB"},
        {"%2F%2f", "//"},
        {"%25", "%"},
        {"%2525", "%25"},
        {"", ""},
        {"+++", "   "},
        {"plain/key.txt", "plain/key.txt"},
        {"caf\xC3\xA9", "caf\xC3\xA9"},       /* literal UTF-8 kept */
        {"%F0%9F%98%80", "\xF0\x9F\x98\x80"}, /* 4-byte sequence */
        {"%00", "%00"},                       /* NUL would cut the string */
        {"a%00b", "a%00b"},
        {"%FF", "%FF"}, /* never valid UTF-8 */
        {"%C3", "%C3"}, /* truncated sequence */
        {"%C3x", "%C3x"},
        {"%C3%A9%C3", "\xC3\xA9%C3"},
        {"%A9", "%A9"},                       /* lone continuation byte */
        {"%C0%80", "%C0%80"},                 /* overlong */
        {"%ED%A0%80", "%ED%A0%80"},           /* surrogate */
        {"%ED%9F%BF", "\xED\x9F\xBF"},        /* U+D7FF */
        {"%E0%80%80", "%E0%80%80"},           /* overlong */
        {"%E0%A0%80", "\xE0\xA0\x80"},        /* U+0800 */
        {"%F0%80%80%80", "%F0%80%80%80"},     /* overlong */
        {"%F4%8F%BF%BF", "\xF4\x8F\xBF\xBF"}, /* U+10FFFF */
        {"%F4%90%80%80", "%F4%90%80%80"},     /* past U+10FFFF */
        {"%E2%9C", "%E2%9C"},
        {"%E2%9C%zz", "%E2%9C%zz"},
        {"%E2+%9C%93", "%E2 %9C%93"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = s3_url_decode(cases[i].in);

        if (strcmp(got, cases[i].out))
            fail_msg("decode(%s) = %s, want %s", cases[i].in, got, cases[i].out);
        free(got);
    }
    /* through a record */
    check_take(notification("ObjectCreated:Put", "2024-05-06T22:37:48.123Z",
                            "{'key':'a+b%2Bc/%E2%9C%93/%zz','size':3}"),
               "rc=0 n=1 ig=0 un=0\n"
               "C|amzn-s3-demo-bucket|a b+c/\xE2\x9C\x93/%zz|null|2024-05-06T22:37:48.123Z|3|-|-|-|"
               "-|CreatedPut\n");
}

static void
check_etag(const char *json_value, const char *want)
{
    char object[256], line[512];
    char *n;

    snprintf(object, sizeof(object), "{'key':'k','size':1,'eTag':%s}", json_value);
    snprintf(line, sizeof(line),
             "rc=0 n=1 ig=0 un=0\nC|amzn-s3-demo-bucket|k|null|2024-05-06T22:37:48.000Z|1|%s|-|"
             "-|-|CreatedPut\n",
             want);
    n = notification("ObjectCreated:Put", "2024-05-06T22:37:48Z", object);
    check(n, line);
    free(n);
}

static void
test_etag(void **state)
{
    (void)state;
    check_etag("'abc'", "\"abc\"");
    check_etag("'d41d8cd98f00b204e9800998ecf8427e-12'", "\"d41d8cd98f00b204e9800998ecf8427e-12\"");
    check_etag("'\\'abc\\''", "\"abc\""); /* "\"abc\"" after sq(): already quoted */
    check_etag("'W/\\'abc\\''", "W/\"abc\"");
    check_etag("'\\'\\''", "\"\""); /* "" is already quoted */
    check_etag("null", "-");
    check_etag("'a\\'b'", "\"a\"b\"");
    /* malformed ones are completed as the filemanager does, never doubled */
    check_etag("'\\''", "\"\"");           /* a lone quote */
    check_etag("''", "\"\"");              /* empty: "", not null */
    check_etag("'\\'abc'", "\"abc\"");     /* no closing quote */
    check_etag("'abc\\''", "\"abc\"");     /* no opening quote */
    check_etag("'W/\\'abc'", "W/\"abc\""); /* weak, no closing quote */
    check_etag("'W/\\''", "W/\"\"");       /* W/" alone */
    check_etag("'W/\\'\\''", "W/\"\"");    /* W/"" is kept */
    check_etag("'W/abc'", "\"W/abc\"");    /* not weak without its quote */
    check_etag("'\\'W/\\''", "\"W/\"");    /* a quoted value that starts like a weak one */
    /* an eTag that is not a string makes the record unrecognised */
    check_take(
        notification("ObjectCreated:Put", "2024-05-06T22:37:48Z", "{'key':'k','size':1,'eTag':12}"),
        "rc=1 n=0 ig=0 un=0\n");
}

/* s3_etag_append() itself: the rule inventory lines share, on lengths, not NUL ends. */
static void
test_etag_append(void **state)
{
    static const char *const cases[][2] = {
        {"abc", "\"abc\""},
        {"\"abc\"", "\"abc\""},
        {"\"abc", "\"abc\""},
        {"abc\"", "\"abc\""},
        {"W/\"abc\"", "W/\"abc\""},
        {"W/\"abc", "W/\"abc\""},
        {"W/\"", "W/\"\""},
        {"W/\"\"", "W/\"\""},
        {"\"", "\"\""},
        {"\"\"", "\"\""},
        {"", "\"\""},
        {"W/", "\"W/\""},
        {"W", "\"W\""},
        {"a\"b", "\"a\"b\""},
    };
    struct buf b;
    size_t i;

    (void)state;
    buf_init(&b, 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char in[32];
        size_t n = strlen(cases[i][0]);

        memcpy(in, cases[i][0], n);
        memset(in + n, '"', sizeof(in) - n); /* no NUL after the value: only len counts */
        buf_reset(&b);
        buf_append_str(&b, "x");
        s3_etag_append(&b, in, n);
        if (strcmp(b.data + 1, cases[i][1]) != 0)
            fail_msg("eTag [%s]: [%s], want [%s]", cases[i][0], b.data + 1, cases[i][1]);
    }
    buf_release(&b);
}

static void
test_version_and_sequencer(void **state)
{
    (void)state;
    check_take(notification("ObjectCreated:Put", "2024-05-06T22:37:48Z",
                            "{'key':'k','size':1,'versionId':'','sequencer':''}"),
               "rc=0 n=1 ig=0 un=0\n"
               "C|amzn-s3-demo-bucket|k|null|2024-05-06T22:37:48.000Z|1|-|-|-|-|CreatedPut\n");
    check_take(notification("ObjectCreated:Put", "2024-05-06T22:37:48Z",
                            "{'key':'k','size':1,'versionId':null,'sequencer':null}"),
               "rc=0 n=1 ig=0 un=0\n"
               "C|amzn-s3-demo-bucket|k|null|2024-05-06T22:37:48.000Z|1|-|-|-|-|CreatedPut\n");
    check_take(notification("ObjectCreated:Put", "2024-05-06T22:37:48Z",
                            "{'key':'k','size':1,'versionId':'null','sequencer':'0A'}"),
               "rc=0 n=1 ig=0 un=0\n"
               "C|amzn-s3-demo-bucket|k|null|2024-05-06T22:37:48.000Z|1|-|-|0A|-|CreatedPut\n");
    check_take(eventbridge("Object Created", "{'key':'k','size':1}", ""),
               "rc=0 n=1 ig=0 un=0\n"
               "C|amzn-s3-demo-bucket1|k|null|2021-11-12T00:00:00.000Z|1|-|-|-|-|Unknown\n");
    /* wrong types */
    check_take(notification("ObjectCreated:Put", "2024-05-06T22:37:48Z",
                            "{'key':'k','size':1,'versionId':3}"),
               "rc=1 n=0 ig=0 un=0\n");
    check_take(notification("ObjectCreated:Put", "2024-05-06T22:37:48Z",
                            "{'key':'k','size':1,'sequencer':['0A']}"),
               "rc=1 n=0 ig=0 un=0\n");
}

static void
check_size(const char *json_value, const char *want_size)
{
    char object[256], line[512];
    char *n;

    snprintf(object, sizeof(object), "{'key':'k','size':%s}", json_value);
    if (want_size)
        snprintf(line, sizeof(line),
                 "rc=0 n=1 ig=1 un=0\nC|amzn-s3-demo-bucket|k|null|"
                 "2024-05-06T22:37:48.000Z|%s|-|-|-|-|CreatedPut\n",
                 want_size);
    else
        snprintf(line, sizeof(line), "rc=0 n=0 ig=1 un=1\n");
    /* a test event beside it keeps the batch valid when the record is rejected */
    n = notification("ObjectCreated:Put", "2024-05-06T22:37:48Z", object);
    {
        struct buf b;

        buf_init(&b, 0);
        buf_printf(&b, "[%s,%s]", n, TEST_EVENT);
        check(b.data, line);
        buf_release(&b);
    }
    free(n);
}

static void
test_size(void **state)
{
    char *n;

    (void)state;
    check_size("0", "0");
    check_size("1", "1");
    check_size("5368709120", "5368709120");
    check_size("9223372036854775807", "9223372036854775807");
    check_size("null", "-");
    check_size("-1", NULL);
    check_size("-9223372036854775808", NULL);
    check_size("1.5", NULL);
    check_size("1.0", NULL);
    check_size("1e3", NULL);
    check_size("1e30", NULL);
    check_size("'1024'", NULL);
    check_size("true", NULL);
    check_size("{}", NULL);
    /* absent */
    check_take(notification("ObjectRestore:Delete", "2024-05-06T22:37:48Z", "{'key':'k'}"),
               "rc=0 n=1 ig=0 un=0\n"
               "C|amzn-s3-demo-bucket|k|null|2024-05-06T22:37:48.000Z|-|-|-|-|-|RestoreExpired\n");
    /* 2^63 cannot be a JSON integer for jansson: the document does not parse */
    n = notification("ObjectCreated:Put", "2024-05-06T22:37:48Z",
                     "{'key':'k','size':9223372036854775808}");
    check(n, "rc=1 n=0 ig=0 un=0\n");
    free(n);
}

static void
check_time(const char *in, const char *want)
{
    char line[512];
    char *n = notification("ObjectRemoved:Delete", in, "{'key':'k'}");

    snprintf(line, sizeof(line),
             "rc=0 n=1 ig=0 un=0\nD|amzn-s3-demo-bucket|k|null|%s|-|-|-|-|-|Deleted\n",
             want ? want : "-");
    check(n, line);
    free(n);
}

/* The same parse to milliseconds since 1970, as inventories' binary COPY uses it. */
static void
test_time_ms(void **state)
{
    static const struct {
        const char *in;
        long long ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.999Z", -1},
        {"2000-01-01T00:00:00Z", 946684800000LL},
        {"2000-01-01T01:00:00+01:00", 946684800000LL},
        {"2024-02-29T23:59:60.5Z", 1709251200500LL},
        {"0000-01-01T00:00:00Z", -62167219200000LL},
        {"9999-12-31T23:59:59.999Z", 253402300799999LL},
    };
    char formatted[S3_TIME_BUF];
    char normalised[S3_TIME_BUF];
    int64_t ms;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(s3_time_parse_ms(cases[i].in, strlen(cases[i].in), &ms), 1);
        assert_int_equal(ms, cases[i].ms);
        /* formatting the milliseconds gives the normalised text */
        s3_time_format_ms(ms, formatted);
        assert_int_equal(s3_time_normalise(cases[i].in, strlen(cases[i].in), normalised), 1);
        assert_string_equal(formatted, normalised);
    }
    assert_int_equal(s3_time_parse_ms("0000-01-01T00:00:00+00:01", 25, &ms), 0);
}

static void
test_time(void **state)
{
    (void)state;
    check_time("2024-05-06T22:37:48Z", "2024-05-06T22:37:48.000Z");
    check_time("2024-05-06T22:37:48.5Z", "2024-05-06T22:37:48.500Z");
    check_time("2024-05-06T22:37:48.05Z", "2024-05-06T22:37:48.050Z");
    check_time("2024-05-06T22:37:48.123Z", "2024-05-06T22:37:48.123Z");
    check_time("2024-05-06T22:37:48.123456Z", "2024-05-06T22:37:48.123Z");
    check_time("2024-05-06T22:37:48.999999999Z", "2024-05-06T22:37:48.999Z");
    check_time("2024-05-06T22:37:48+00:00", "2024-05-06T22:37:48.000Z");
    check_time("2024-05-06T22:37:48.123-00:00", "2024-05-06T22:37:48.123Z");
    check_time("2024-05-06T22:37:48+02:00", "2024-05-06T20:37:48.000Z");
    check_time("2024-05-06T22:37:48.5-05:30", "2024-05-07T04:07:48.500Z");
    check_time("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00.000Z");
    check_time("2024-02-29T12:00:00Z", "2024-02-29T12:00:00.000Z");
    check_time("2000-02-29T12:00:00Z", "2000-02-29T12:00:00.000Z");
    check_time("2024-05-06t22:37:48z", "2024-05-06T22:37:48.000Z");
    check_time("2016-12-31T23:59:60Z", "2017-01-01T00:00:00.000Z");
    check_time("1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.000Z");
    check_time("0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000Z");
    check_time("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z");
    /* not RFC 3339, or out of range */
    check_time("", NULL);
    check_time("2023-02-29T12:00:00Z", NULL);
    check_time("1900-02-29T12:00:00Z", NULL);
    check_time("2024-04-31T12:00:00Z", NULL);
    check_time("2024-13-01T00:00:00Z", NULL);
    check_time("2024-00-01T00:00:00Z", NULL);
    check_time("2024-05-00T00:00:00Z", NULL);
    check_time("2024-05-06T24:00:00Z", NULL);
    check_time("2024-05-06T23:60:00Z", NULL);
    check_time("2024-05-06T23:59:61Z", NULL);
    check_time("2024-05-06 22:37:48Z", NULL);
    check_time("2024-05-06T22:37Z", NULL);
    check_time("2024-05-06T22:37:48", NULL);
    check_time("2024-05-06T22:37:48.Z", NULL);
    check_time("2024-05-06T22:37:48.123", NULL);
    check_time("2024-05-06T22:37:48Zjunk", NULL);
    check_time("2024-05-06T22:37:48+0200", NULL);
    check_time("2024-05-06T22:37:48+24:00", NULL);
    check_time("2024-05-06T22:37:48+02:60", NULL);
    check_time("2024-5-06T22:37:48Z", NULL);
    check_time("+2024-05-06T22:37:48Z", NULL);
    check_time("2024-05-06T22:37:48.1e3Z", NULL);
    check_time("0000-01-01T00:30:00+01:00", NULL);
    check_time("9999-12-31T23:30:00-01:00", NULL);
    check_time("1715035068", NULL);
    /* not a string */
    check("{'Records':[{'eventName':'ObjectRemoved:Delete','eventTime':1715035068,"
          "'s3':{'bucket':{'name':'b'},'object':{'key':'k'}}}]}",
          "rc=0 n=1 ig=0 un=0\nD|b|k|null|-|-|-|-|-|-|Deleted\n");
}

/* ---- wrappers ---- */

static void
test_sqs_and_sns(void **state)
{
    char *put = sq(NOTIFICATION_PUT), *test = sq(TEST_EVENT);
    char *eb_sq = eventbridge("Object Deleted", EB_OBJECT_DELETED,
                              ",'reason':'Lifecycle Expiration','deletion-type':'Permanently "
                              "Deleted'");
    char *eb = sq(eb_sq);
    char *m1, *m2, *sns, *r, *lambda;
    struct buf b;

    (void)state;
    /* SQS message, "Body" and "body" */
    m1 = sqs_message(put, "Body");
    check_json(m1, "rc=0 n=1 ig=0 un=0\n" PUT_LINE);
    free(m1);
    m1 = sqs_message(put, "body");
    check_json(m1, "rc=0 n=1 ig=0 un=0\n" PUT_LINE);
    free(m1);
    /* SNS envelope directly, and inside SQS */
    sns = sns_envelope(put);
    check_json(sns, "rc=0 n=1 ig=0 un=0\n" PUT_LINE);
    m1 = sqs_message(sns, "Body");
    check_json(m1, "rc=0 n=1 ig=0 un=0\n" PUT_LINE);
    /* receive result: SNS-in-SQS and EventBridge-in-SQS */
    m2 = sqs_message(eb, "Body");
    r = receive_result(m1, m2);
    check_json(r, "rc=0 n=2 ig=0 un=0\n" PUT_LINE
                  "D|amzn-s3-demo-bucket1|example-key|1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF|"
                  "2021-11-12T00:00:00.000Z|-|\"d41d8cd98f00b204e9800998ecf8427e\"|-|"
                  "617f0837b476e463|-|DeletedLifecycle\n");
    free(r);
    free(m1);
    free(m2);
    free(sns);
    /* test events in each wrapper: OK, nothing but ignored */
    check_json(test, "rc=0 n=0 ig=1 un=0\n");
    m1 = sqs_message(test, "Body");
    check_json(m1, "rc=0 n=0 ig=1 un=0\n");
    sns = sns_envelope(test);
    check_json(sns, "rc=0 n=0 ig=1 un=0\n");
    m2 = sqs_message(sns, "Body");
    check_json(m2, "rc=0 n=0 ig=1 un=0\n");
    free(m1);
    free(m2);
    free(sns);
    /* Lambda's SQS event: Records of SQS messages with "body" */
    m1 = sqs_message(put, "body");
    buf_init(&b, 0);
    buf_printf(&b, "{\"Records\":[%s,%s]}", m1, m1);
    check_json(b.data, "rc=0 n=2 ig=0 un=0\n" PUT_LINE PUT_LINE);
    buf_release(&b);
    free(m1);
    /* Lambda's SNS event: Records of {"EventSource":"aws:sns","Sns":{envelope}} */
    sns = sns_envelope(put);
    lambda = sq("{'Records':[{'EventSource':'aws:sns','EventVersion':'1.0',"
                "'EventSubscriptionArn':'arn:aws:sns:us-west-2:123456789012:s3-events:1b0d',");
    buf_init(&b, 0);
    buf_printf(&b, "%s\"Sns\":%s}]}", lambda, sns);
    check_json(b.data, "rc=0 n=1 ig=0 un=0\n" PUT_LINE);
    buf_release(&b);
    free(lambda);
    free(sns);
    free(put);
    free(test);
    free(eb);
    free(eb_sq);
}

static void
test_sqs_sns_edge_cases(void **state)
{
    (void)state;
    /* a body that is not JSON, or JSON of no known shape */
    check("[{'MessageId':'m','Body':'hello world'}," TEST_EVENT "]", "rc=0 n=0 ig=1 un=1\n");
    check("[{'MessageId':'m','Body':'{}'}," TEST_EVENT "]", "rc=0 n=0 ig=1 un=1\n");
    check("[{'MessageId':'m','Body':'42'}," TEST_EVENT "]", "rc=0 n=0 ig=1 un=1\n");
    check("{'MessageId':'m','Body':'not json'}", "rc=1 n=0 ig=0 un=0\n");
    check("{'MessageId':'m','Body':17}", "rc=1 n=0 ig=0 un=0\n");
    /* a message without body in a receive result */
    check("{'Messages':[{'MessageId':'m','ReceiptHandle':'r'}]}", "rc=1 n=0 ig=0 un=0\n");
    /* empty receive result / notification: recognised, nothing in them */
    check("{'Messages':[]}", "rc=0 n=0 ig=0 un=0\n");
    check("{'Records':[]}", "rc=0 n=0 ig=0 un=0\n");
    /* other SNS message types */
    check("{'Type':'SubscriptionConfirmation','MessageId':'m','Token':'t',"
          "'TopicArn':'arn:aws:sns:us-west-2:123456789012:s3-events',"
          "'Message':'You have chosen to subscribe to the topic',"
          "'SubscribeURL':'https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription'}",
          "rc=0 n=0 ig=1 un=0\n");
    check("{'Type':'Notification','Message':'not json'}", "rc=1 n=0 ig=0 un=0\n");
    check("{'Type':'Strange','Message':'{}'}", "rc=1 n=0 ig=0 un=0\n");
    check("{'Type':'Notification','Message':{'Records':[]}}", "rc=1 n=0 ig=0 un=0\n");
    /* an Event that is not a test event */
    check("{'Event':'s3:Other'}", "rc=1 n=0 ig=0 un=0\n");
}

static void
test_arrays(void **state)
{
    char *put = sq(NOTIFICATION_PUT), *test = sq(TEST_EVENT);
    char *eb_sq = eventbridge("Object Created", EB_OBJECT, ",'reason':'CompleteMultipartUpload'");
    char *eb = sq(eb_sq), *sns = sns_envelope(put), *m1 = sqs_message(sns, "Body");
    char *m2 = sqs_message(eb, "body"), *r = receive_result(m1, m2);
    const char *eb_line = "C|amzn-s3-demo-bucket1|example-key|IYV3p45BT0ac8hjHg1houSdS1a.Mro8e|"
                          "2021-11-12T00:00:00.000Z|5|\"b1946ac92492d2347c6235b4d2611184\"|-|"
                          "617f08299329d189|-|CreatedCompleteMultipartUpload\n";
    struct buf b, want;

    (void)state;
    buf_init(&b, 0);
    buf_init(&want, 0);
    /* array of notifications */
    buf_printf(&b, "[%s,%s]", put, put);
    check_json(b.data, "rc=0 n=2 ig=0 un=0\n" PUT_LINE PUT_LINE);
    /* mixed: notification, EventBridge, SQS(SNS), test event, junk, receive result, SNS */
    buf_reset(&b);
    buf_printf(&b, "[%s,%s,%s,%s,{\"foo\":1},%s,%s,42,\"x\",null]", put, eb, m1, test, r, sns);
    buf_printf(&want, "rc=0 n=6 ig=1 un=4\n%s%s%s%s%s%s", PUT_LINE, eb_line, PUT_LINE, PUT_LINE,
               eb_line, PUT_LINE);
    check_json(b.data, want.data);
    /* nested arrays */
    buf_reset(&b);
    buf_printf(&b, "[[%s,[%s]],[[%s]],[]]", put, eb, m2);
    buf_reset(&want);
    buf_printf(&want, "rc=0 n=3 ig=0 un=0\n%s%s%s", PUT_LINE, eb_line, eb_line);
    check_json(b.data, want.data);
    /* an SQS body holding an array */
    buf_reset(&b);
    buf_printf(&b, "[%s,%s]", put, eb);
    free(m1);
    m1 = sqs_message(b.data, "Body");
    buf_reset(&want);
    buf_printf(&want, "rc=0 n=2 ig=0 un=0\n%s%s", PUT_LINE, eb_line);
    check_json(m1, want.data);
    buf_release(&b);
    buf_release(&want);
    free(put);
    free(test);
    free(eb_sq);
    free(eb);
    free(sns);
    free(m1);
    free(m2);
    free(r);
}

/* k arrays around inner, the outermost one also holding a test event. */
static char *
nested(int k, const char *inner)
{
    struct buf b;
    char *test = sq(TEST_EVENT);
    int i;

    buf_init(&b, 0);
    buf_printf(&b, "[%s,", test);
    for (i = 1; i < k; i++)
        buf_append_char(&b, '[');
    buf_append_str(&b, inner);
    for (i = 0; i < k; i++)
        buf_append_char(&b, ']');
    free(test);
    return buf_take(&b, NULL);
}

static void
test_depth(void **state)
{
    char *put = sq(NOTIFICATION_PUT), *s, *m;
    char *test;
    int i;

    (void)state;
    s = nested(8, put);
    check_json(s, "rc=0 n=1 ig=1 un=0\n" PUT_LINE);
    free(s);
    s = nested(9, put);
    check_json(s, "rc=0 n=0 ig=1 un=1\n");
    free(s);
    s = nested(200, put);
    check_json(s, "rc=0 n=0 ig=1 un=1\n");
    free(s);
    /* past jansson's own nesting limit: not JSON it will read */
    s = nested(5000, put);
    check_json(s, "rc=1 n=0 ig=0 un=0\n");
    free(s);
    /* only arrays, very deep */
    s = nested(300, "");
    check_json(s, "rc=0 n=0 ig=1 un=1\n");
    free(s);
    /* SQS bodies inside SQS bodies: 8 wrappers are read, 9 are not */
    m = xstrdup(put);
    for (i = 1; i <= 12; i++) {
        char *next = sqs_message(m, i % 2 ? "Body" : "body");

        free(m);
        m = next;
        if (i == 8)
            check_json(m, "rc=0 n=1 ig=0 un=0\n" PUT_LINE);
        if (i == 9 || i == 12)
            check_json(m, "rc=1 n=0 ig=0 un=0\n");
    }
    free(m);
    /* SNS inside SQS inside SNS ... */
    test = sq(TEST_EVENT);
    m = xstrdup(test);
    for (i = 1; i <= 10; i++) {
        char *next = i % 2 ? sns_envelope(m) : sqs_message(m, "Body");

        free(m);
        m = next;
        check_json(m, i <= 8 ? "rc=0 n=0 ig=1 un=0\n" : "rc=1 n=0 ig=0 un=0\n");
    }
    free(m);
    free(test);
    free(put);
}

/* ---- errors and caps ---- */

static void
test_bad_input(void **state)
{
    static const char *const bodies[] = {
        "",
        "   ",
        "{",
        "[1,",
        "{'Records':",
        "nul",
        "'just a string'",
        "42",
        "null",
        "true",
        "{}",
        "[]",
        "[[]]",
        "{'foo':1}",
        "[{'foo':1},{'bar':2}]",
        "{'Records':{}}",
        "{'Records':[{}]}",
        "{'Records':[1,2]}",
        "{'Messages':{}}",
        "{'Records':[{'eventName':'ObjectCreated:Put'}]}",
        "{'Records':[{'eventName':'ObjectCreated:Put','s3':{}}]}",
        "{'Records':[{'s3':{'bucket':{'name':'b'},'object':{'key':'k'}}}]}",
        "{'Records':[{'eventName':5,'s3':{'bucket':{'name':'b'},'object':{'key':'k'}}}]}",
        /* missing or empty bucket / key */
        "{'Records':[{'eventName':'ObjectCreated:Put','s3':{'bucket':{'name':'b'},'object':{}}}]}",
        "{'Records':[{'eventName':'ObjectCreated:Put','s3':{'bucket':{},'object':{'key':'k'}}}]}",
        "{'Records':[{'eventName':'ObjectCreated:Put','s3':{'object':{'key':'k'}}}]}",
        "{'Records':[{'eventName':'ObjectCreated:Put','s3':{'bucket':{'name':''},"
        "'object':{'key':'k'}}}]}",
        "{'Records':[{'eventName':'ObjectCreated:Put','s3':{'bucket':{'name':'b'},"
        "'object':{'key':''}}}]}",
        "{'Records':[{'eventName':'ObjectCreated:Put','s3':{'bucket':{'name':'b'},"
        "'object':{'key':7}}}]}",
        "{'Records':[{'eventName':'ObjectCreated:Put','s3':{'bucket':{'name':['b']},"
        "'object':{'key':'k'}}}]}",
        "{'Records':[{'eventName':'ObjectCreated:Put','s3':{'bucket':{'name':'b'},"
        "'object':'k'}}]}",
        "{'detail-type':'Object Created','detail':{'bucket':{'name':'b'},'object':{}}}",
        "{'detail-type':'Object Created','detail':{'object':{'key':'k'}}}",
    };
    char errbuf[ERRBUF_SIZE];
    struct s3_batch b;
    size_t i;
    enum err rc;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char *json = sq(bodies[i]);

        errbuf[0] = '\0';
        rc = s3_events_decode(json, strlen(json), NO_CAP, &b, errbuf, sizeof(errbuf));
        if (rc != ERR_BAD_INPUT)
            fail_msg("%s: rc %d", bodies[i], (int)rc);
        assert_true(errbuf[0] != '\0');
        assert_int_equal(b.nrecords, 0);
        assert_null(b.records);
        s3_batch_release(&b);
        free(json);
    }
    /* NULL body, and a NULL errbuf is fine */
    assert_int_equal(s3_events_decode(NULL, 0, NO_CAP, &b, NULL, 0), ERR_BAD_INPUT);
    s3_batch_release(&b);
    /* the messages read well */
    rc = s3_events_decode("{\"foo\":1}", 9, NO_CAP, &b, errbuf, sizeof(errbuf));
    assert_int_equal(rc, ERR_BAD_INPUT);
    assert_string_equal(errbuf, "no s3 event of a recognisable shape in body (1 unrecognised)");
    rc = s3_events_decode("{\"foo\":", 7, NO_CAP, &b, errbuf, sizeof(errbuf));
    assert_int_equal(rc, ERR_BAD_INPUT);
    assert_true(!strncmp(errbuf, "invalid json at line 1", 22));
    /* body length is honoured (no NUL terminator needed) */
    rc = s3_events_decode("{}garbage", 2, NO_CAP, &b, errbuf, sizeof(errbuf));
    assert_int_equal(rc, ERR_BAD_INPUT);
    assert_string_equal(errbuf, "no s3 event of a recognisable shape in body (1 unrecognised)");
    /* a bad record beside a good one: OK, counted */
    check("{'Records':[{'eventName':'ObjectCreated:Put','s3':{'bucket':{'name':'b'},"
          "'object':{'key':'k','size':1}}},{'eventName':'ObjectCreated:Put','s3':{'bucket':"
          "{'name':'b'},'object':{'key':''}}}]}",
          "rc=0 n=1 ig=0 un=1\nC|b|k|null|-|1|-|-|-|-|CreatedPut\n");
    /* only a test event is not an error */
    check(TEST_EVENT, "rc=0 n=0 ig=1 un=0\n");
    check("[" TEST_EVENT "," TEST_EVENT "]", "rc=0 n=0 ig=2 un=0\n");
}

static void
test_max_records(void **state)
{
    char *put = sq(NOTIFICATION_PUT), *test = sq(TEST_EVENT), *got;
    char errbuf[ERRBUF_SIZE];
    struct s3_batch b;
    struct buf body, want;
    enum err rc;
    int i;

    (void)state;
    buf_init(&body, 0);
    buf_printf(&body, "[%s,%s,%s,%s,%s]", put, test, put, test, put);
    got = run_json(body.data, body.len, 3);
    assert_string_equal(got, "rc=0 n=3 ig=2 un=0\n" PUT_LINE PUT_LINE PUT_LINE);
    free(got);
    rc = s3_events_decode(body.data, body.len, 2, &b, errbuf, sizeof(errbuf));
    assert_int_equal(rc, ERR_TOO_LARGE);
    assert_string_equal(errbuf, "more than 2 s3 events in body");
    assert_int_equal(b.nrecords, 0);
    assert_null(b.records);
    s3_batch_release(&b);
    rc = s3_events_decode(body.data, body.len, 0, &b, errbuf, sizeof(errbuf));
    assert_int_equal(rc, ERR_TOO_LARGE);
    s3_batch_release(&b);
    /* ignored events do not count against the cap */
    got = run_json(test, strlen(test), 0);
    assert_string_equal(got, "rc=0 n=0 ig=1 un=0\n");
    free(got);
    /* growth past the first allocation, up to exactly the cap */
    buf_reset(&body);
    buf_init(&want, 0);
    buf_append_str(&want, "rc=0 n=100 ig=0 un=0\n");
    buf_append_char(&body, '[');
    for (i = 0; i < 100; i++) {
        buf_printf(&body, "%s%s", i ? "," : "", put);
        buf_append_str(&want, PUT_LINE);
    }
    buf_append_char(&body, ']');
    got = run_json(body.data, body.len, 100);
    assert_string_equal(got, want.data);
    free(got);
    got = run_json(body.data, body.len, 99);
    assert_string_equal(got, "rc=2 n=0 ig=0 un=0\n");
    free(got);
    got = run_json(body.data, body.len, 17);
    assert_string_equal(got, "rc=2 n=0 ig=0 un=0\n");
    free(got);
    buf_release(&body);
    buf_release(&want);
    free(put);
    free(test);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notification_classification),
        cmocka_unit_test(test_eventbridge_classification),
        cmocka_unit_test(test_notification_sample),
        cmocka_unit_test(test_eventbridge_sample),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_etag_append),
        cmocka_unit_test(test_version_and_sequencer),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_time_ms),
        cmocka_unit_test(test_sqs_and_sns),
        cmocka_unit_test(test_sqs_sns_edge_cases),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_max_records),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
