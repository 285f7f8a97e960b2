/*
 * s3_event_decoder.c - S3 event notifications to object records (pure)
 *
 * The body is parsed once with jansson and walked depth first, in body order.
 * decode_value() recognises a shape by its keys (Records, Messages,
 * detail-type, Event, Body/body, Type+Message, Sns) and descends; every
 * descent (array element, SQS message, nested JSON string, SNS envelope)
 * costs one level, and a value deeper than S3_MAX_DEPTH is unrecognised.
 * JSON strings holding JSON (SQS bodies, SNS messages) are parsed when they
 * are reached and freed right after, so a nested document never outlives its
 * walk. Records are copied out (xstrdup) into an array that grows by
 * doubling but never past max_records.
 *
 * Classification follows S3.md's table; event names are matched exactly,
 * with or without the "s3:" prefix some configurations show.
 *
 * Pure: no I/O, no globals. Thread-safety: none needed.
 */
#include "codec/s3_event_decoder.h"
#include "codec/s3_fields.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/hex.h"

#define S3_MAX_DEPTH 8
#define S3_MIN_ALLOC 16

struct event_class {
    const char *name; /* eventName or detail-type */
    enum s3_event_type type;
    int is_delete_marker;
    const char *reason;
    const char *storage_field; /* EventBridge detail field naming the new class */
};

/* notification eventName (without "s3:") -> record */
static const struct event_class notification_classes[] = {
    {"ObjectCreated:Put", S3_CREATED, 0, "CreatedPut", NULL},
    {"ObjectCreated:Post", S3_CREATED, 0, "CreatedPost", NULL},
    {"ObjectCreated:Copy", S3_CREATED, 0, "CreatedCopy", NULL},
    {"ObjectCreated:CompleteMultipartUpload", S3_CREATED, 0, "CreatedCompleteMultipartUpload",
     NULL},
    {"ObjectRestore:Completed", S3_CREATED, 0, "Restored", NULL},
    {"ObjectRestore:Delete", S3_CREATED, 0, "RestoreExpired", NULL},
    {"LifecycleTransition", S3_CREATED, 0, "StorageClassChanged", NULL},
    {"IntelligentTiering", S3_CREATED, 0, "StorageClassChanged", NULL},
    {"ObjectRemoved:Delete", S3_DELETED, 0, "Deleted", NULL},
    {"ObjectRemoved:DeleteMarkerCreated", S3_DELETED, 1, "Deleted", NULL},
    {"LifecycleExpiration:Delete", S3_DELETED, 0, "DeletedLifecycle", NULL},
    {"LifecycleExpiration:DeleteMarkerCreated", S3_DELETED, 1, "DeletedLifecycle", NULL},
};

/* EventBridge detail-type -> record ("Object Created" / "Object Deleted" refine it) */
static const struct event_class eventbridge_classes[] = {
    {"Object Created", S3_CREATED, 0, "Unknown", NULL},
    {"Object Restore Completed", S3_CREATED, 0, "Restored", NULL},
    {"Object Restore Expired", S3_CREATED, 0, "RestoreExpired", NULL},
    {"Object Storage Class Changed", S3_CREATED, 0, "StorageClassChanged",
     "destination-storage-class"},
    {"Object Access Tier Changed", S3_CREATED, 0, "StorageClassChanged", "destination-access-tier"},
    {"Object Deleted", S3_DELETED, 0, "Deleted", NULL},
};

/* EventBridge "Object Created" detail.reason -> record reason */
static const struct {
    const char *api;
    const char *reason;
} created_reasons[] = {
    {"PutObject", "CreatedPut"},
    {"POST Object", "CreatedPost"},
    {"CopyObject", "CreatedCopy"},
    {"CompleteMultipartUpload", "CreatedCompleteMultipartUpload"},
};

/* Field names that differ between the notification and EventBridge objects. */
struct field_names {
    const char *etag;
    const char *version_id;
};

static const struct field_names notification_fields = {"eTag", "versionId"};
static const struct field_names eventbridge_fields = {"etag", "version-id"};

struct decoder {
    struct s3_batch *batch;
    size_t alloc; /* records the array has room for */
    size_t max_records;
    size_t empty_shapes; /* {"Records":[]}, {"Messages":[]}: recognised, nothing in them */
    char *errbuf;
    size_t errlen;
};

static enum err decode_value(struct decoder *d, json_t *v, int depth);

/* ---- field helpers ---- */

/* The byte of the %XX escape at s, or -1 when s is not one. */
static int
escape_at(const char *s)
{
    int hi, lo;

    if (s[0] != '%')
        return -1;
    hi = hex_value(s[1]);
    if (hi < 0)
        return -1;
    lo = hex_value(s[2]);
    if (lo < 0)
        return -1;
    return hi * 16 + lo;
}

/*
 * Length of the valid UTF-8 sequence formed by the escapes at s (lead byte
 * `lead` already decoded from s[0..3)), 0 if they do not form one.
 */
static size_t
escaped_utf8_len(const char *s, int lead)
{
    int lo = 0x80, hi = 0xBF, b;
    size_t need, i;

    if (lead >= 0xC2 && lead <= 0xDF)
        need = 1;
    else if (lead >= 0xE0 && lead <= 0xEF)
        need = 2;
    else if (lead >= 0xF0 && lead <= 0xF4)
        need = 3;
    else
        return 0;
    if (lead == 0xE0)
        lo = 0xA0;
    else if (lead == 0xED)
        hi = 0x9F;
    else if (lead == 0xF0)
        lo = 0x90;
    else if (lead == 0xF4)
        hi = 0x8F;
    for (i = 1; i <= need; i++) {
        b = escape_at(s + 3 * i);
        if (b < lo || b > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/*
 * Form decoding: '+' is a space, %XX a byte. An escape is kept literally when
 * it is malformed, decodes to NUL, or does not belong to a valid UTF-8
 * sequence of escapes, so a decoded key is valid UTF-8 whenever src is.
 */
char *
s3_url_decode(const char *src)
{
    size_t n = strlen(src), i = 0, o = 0, seq, k;
    char *out = xmalloc(n + 1);
    int b;

    /* most keys have nothing to decode: copy up to the first '+' or '%' at once */
    i = strcspn(src, "+%");
    memcpy(out, src, i);
    o = i;
    while (i < n) {
        if (src[i] == '+') {
            out[o++] = ' ';
            i++;
            continue;
        }
        b = escape_at(src + i);
        if (b <= 0) {
            out[o++] = src[i++];
            continue;
        }
        if (b < 0x80) {
            out[o++] = (char)b;
            i += 3;
            continue;
        }
        seq = escaped_utf8_len(src + i, b);
        if (!seq) {
            memcpy(out + o, src + i, 3);
            o += 3;
            i += 3;
            continue;
        }
        for (k = 0; k < seq; k++, i += 3)
            out[o++] = (char)escape_at(src + i);
    }
    out[o] = '\0';
    return out;
}

/* The eTag as stored (s3_fields.h: quoted as the filemanager does; "" when empty). */
static char *
etag_normalise(const char *s)
{
    struct buf b;

    buf_init(&b, 0);
    s3_etag_append(&b, s, strlen(s));
    return buf_take(&b, NULL);
}

/* The normalised time of s, or NULL (s3_fields.h). */
static char *
time_normalise(const char *s)
{
    char out[S3_TIME_BUF];

    return s3_time_normalise(s, strlen(s), out) ? xstrdup(out) : NULL;
}

/* The string member `name` of obj: *val NULL when absent or null; ERR_BAD_INPUT if no string. */
static enum err
opt_string(json_t *obj, const char *name, const char **val)
{
    json_t *j = json_object_get(obj, name);

    *val = NULL;
    if (!j || json_is_null(j))
        return ERR_OK;
    if (!json_is_string(j))
        return ERR_BAD_INPUT;
    *val = json_string_value(j);
    return ERR_OK;
}

static void
record_clear(struct s3_record *r)
{
    free(r->bucket);
    free(r->key);
    free(r->version_id);
    free(r->event_time);
    free(r->etag);
    free(r->storage_class);
    free(r->sequencer);
    free(r->last_modified);
    memset(r, 0, sizeof(*r));
}

/*
 * Fill r's object fields from bucket {"name"} and object {"key", "size",
 * etag, version id, "sequencer"}. ERR_BAD_INPUT when they make the record
 * unrecognised; r may then hold some strings (record_clear() it).
 */
static enum err
record_fill(struct s3_record *r, json_t *bucket, json_t *object, const struct field_names *f)
{
    const char *bucket_name, *key, *etag, *version_id, *sequencer;
    json_t *size = json_object_get(object, "size");

    bucket_name = json_string_value(json_object_get(bucket, "name"));
    if (!bucket_name || !*bucket_name)
        return ERR_BAD_INPUT;
    if (!json_is_object(object) || opt_string(object, "key", &key) || !key || !*key)
        return ERR_BAD_INPUT;
    if (opt_string(object, f->etag, &etag) || opt_string(object, f->version_id, &version_id) ||
        opt_string(object, "sequencer", &sequencer))
        return ERR_BAD_INPUT;
    if (size && !json_is_null(size)) {
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return ERR_BAD_INPUT;
        r->has_size = 1;
        r->size = (int64_t)json_integer_value(size);
    }
    r->bucket = xstrdup(bucket_name);
    r->key = s3_url_decode(key);
    r->version_id = xstrdup(version_id && *version_id ? version_id : "null");
    r->etag = etag ? etag_normalise(etag) : NULL;
    r->sequencer = sequencer && *sequencer ? xstrdup(sequencer) : NULL;
    return ERR_OK;
}

/* Append r (taken) to the batch; ERR_TOO_LARGE past max_records, r freed then. */
static enum err
batch_append(struct decoder *d, struct s3_record *r)
{
    struct s3_batch *b = d->batch;
    size_t alloc;

    if (b->nrecords >= d->max_records) {
        record_clear(r);
        return err_set(ERR_TOO_LARGE, d->errbuf, d->errlen, "more than %zu s3 events in body",
                       d->max_records);
    }
    if (b->nrecords == d->alloc) {
        alloc = d->alloc ? d->alloc * 2 : S3_MIN_ALLOC;
        if (alloc > d->max_records || alloc < d->alloc)
            alloc = d->max_records;
        b->records = xrealloc(b->records, alloc * sizeof(*b->records));
        d->alloc = alloc;
    }
    b->records[b->nrecords++] = *r;
    memset(r, 0, sizeof(*r));
    return ERR_OK;
}

/*
 * One classified event: build the record from bucket/object (field names f),
 * time and the optional new storage class; count it unrecognised when its
 * fields are not usable.
 */
static enum err
emit(struct decoder *d, const struct event_class *c, const char *reason, json_t *bucket,
     json_t *object, const struct field_names *f, const char *time, const char *storage_class)
{
    struct s3_record r;

    memset(&r, 0, sizeof(r));
    if (record_fill(&r, bucket, object, f)) {
        record_clear(&r);
        d->batch->unrecognised++;
        return ERR_OK;
    }
    r.event_type = c->type;
    r.is_delete_marker = c->is_delete_marker;
    r.reason = reason;
    r.event_time = time ? time_normalise(time) : NULL;
    r.storage_class = storage_class && *storage_class ? xstrdup(storage_class) : NULL;
    return batch_append(d, &r);
}

/* ---- shapes ---- */

static const struct event_class *
class_find(const struct event_class *table, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!strcmp(table[i].name, name))
            return &table[i];
    }
    return NULL;
}

/* One element of a notification's Records array that has eventName or s3. */
static enum err
decode_notification_record(struct decoder *d, json_t *rec)
{
    const char *name = json_string_value(json_object_get(rec, "eventName"));
    const char *time = json_string_value(json_object_get(rec, "eventTime"));
    const struct event_class *c;
    json_t *s3 = json_object_get(rec, "s3");

    if (!name || !json_is_object(s3)) {
        d->batch->unrecognised++;
        return ERR_OK;
    }
    if (!strncmp(name, "s3:", 3))
        name += 3;
    c = class_find(notification_classes,
                   sizeof(notification_classes) / sizeof(notification_classes[0]), name);
    if (!c) {
        d->batch->ignored++;
        return ERR_OK;
    }
    return emit(d, c, c->reason, json_object_get(s3, "bucket"), json_object_get(s3, "object"),
                &notification_fields, time, NULL);
}

/* {"Records":[...]}: S3 records, or (as Lambda delivers them) SQS / SNS records. */
static enum err
decode_records(struct decoder *d, json_t *records, int depth)
{
    enum err rc = ERR_OK;
    json_t *rec;
    size_t i;

    if (json_array_size(records) == 0)
        d->empty_shapes++;
    json_array_foreach(records, i, rec)
    {
        if (json_object_get(rec, "eventName") || json_object_get(rec, "s3"))
            rc = decode_notification_record(d, rec);
        else
            rc = decode_value(d, rec, depth + 1);
        if (rc)
            break;
    }
    return rc;
}

/*
 * The reason of an EventBridge "Object Created" from detail.reason; a reason
 * that is absent or not one of created_reasons is "Unknown", as the
 * filemanager records it: the API that created the object is not guessed.
 */
static const char *
created_reason(json_t *detail)
{
    const char *api = json_string_value(json_object_get(detail, "reason"));
    size_t i;

    for (i = 0; api && i < sizeof(created_reasons) / sizeof(created_reasons[0]); i++) {
        if (!strcmp(created_reasons[i].api, api))
            return created_reasons[i].reason;
    }
    return "Unknown";
}

/* {"detail-type", "time", "detail":{...}} */
static enum err
decode_eventbridge(struct decoder *d, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "detail-type"));
    const char *time = json_string_value(json_object_get(ev, "time"));
    const char *reason, *deletion, *api, *storage_class = NULL;
    json_t *detail = json_object_get(ev, "detail");
    const struct event_class *c;
    struct event_class marker;

    if (!type || !json_is_object(detail)) {
        d->batch->unrecognised++;
        return ERR_OK;
    }
    c = class_find(eventbridge_classes,
                   sizeof(eventbridge_classes) / sizeof(eventbridge_classes[0]), type);
    if (!c) {
        d->batch->ignored++;
        return ERR_OK;
    }
    reason = c->reason;
    if (!strcmp(type, "Object Created")) {
        reason = created_reason(detail);
    } else if (c->type == S3_DELETED) {
        deletion = json_string_value(json_object_get(detail, "deletion-type"));
        marker = *c;
        marker.is_delete_marker = deletion && !strcmp(deletion, "Delete Marker Created");
        c = &marker;
        api = json_string_value(json_object_get(detail, "reason"));
        if (api && !strcmp(api, "Lifecycle Expiration"))
            reason = "DeletedLifecycle";
    }
    if (c->storage_field)
        storage_class = json_string_value(json_object_get(detail, c->storage_field));
    return emit(d, c, reason, json_object_get(detail, "bucket"), json_object_get(detail, "object"),
                &eventbridge_fields, time, storage_class);
}

/* A JSON string holding a JSON document (SQS body, SNS message). */
static enum err
decode_json_string(struct decoder *d, json_t *str, int depth)
{
    json_t *inner;
    enum err rc;

    inner = json_loadb(json_string_value(str), json_string_length(str), 0, NULL);
    if (!inner) {
        d->batch->unrecognised++;
        return ERR_OK;
    }
    rc = decode_value(d, inner, depth);
    json_decref(inner);
    return rc;
}

/* {"Type":"Notification","Message":"<json>"} and other SNS message types */
static enum err
decode_sns(struct decoder *d, json_t *env, const char *type, int depth)
{
    json_t *message = json_object_get(env, "Message");

    if (!strcmp(type, "Notification") && json_is_string(message))
        return decode_json_string(d, message, depth + 1);
    if (!strcmp(type, "SubscriptionConfirmation") || !strcmp(type, "UnsubscribeConfirmation"))
        d->batch->ignored++;
    else
        d->batch->unrecognised++;
    return ERR_OK;
}

static enum err
decode_object(struct decoder *d, json_t *obj, int depth)
{
    const char *event = json_string_value(json_object_get(obj, "Event"));
    const char *type = json_string_value(json_object_get(obj, "Type"));
    json_t *records = json_object_get(obj, "Records");
    json_t *messages = json_object_get(obj, "Messages");
    json_t *body = json_object_get(obj, "Body");
    json_t *sns = json_object_get(obj, "Sns");
    json_t *v;
    enum err rc = ERR_OK;
    size_t i;

    if (!body)
        body = json_object_get(obj, "body");
    if (json_is_array(records))
        return decode_records(d, records, depth);
    if (json_is_array(messages)) {
        if (json_array_size(messages) == 0)
            d->empty_shapes++;
        json_array_foreach(messages, i, v)
        {
            rc = decode_value(d, v, depth + 1);
            if (rc)
                break;
        }
        return rc;
    }
    if (json_object_get(obj, "detail-type"))
        return decode_eventbridge(d, obj);
    if (event && !strcmp(event, "s3:TestEvent")) {
        d->batch->ignored++;
        return ERR_OK;
    }
    if (json_is_string(body))
        return decode_json_string(d, body, depth + 1);
    if (type && json_object_get(obj, "Message"))
        return decode_sns(d, obj, type, depth);
    if (json_is_object(sns))
        return decode_value(d, sns, depth + 1);
    d->batch->unrecognised++;
    return ERR_OK;
}

/* Any value at nesting depth `depth` (the body is 0). */
static enum err
decode_value(struct decoder *d, json_t *v, int depth)
{
    enum err rc = ERR_OK;
    json_t *elem;
    size_t i;

    if (depth > S3_MAX_DEPTH) {
        d->batch->unrecognised++;
        return ERR_OK;
    }
    if (json_is_object(v))
        return decode_object(d, v, depth);
    if (!json_is_array(v)) {
        d->batch->unrecognised++;
        return ERR_OK;
    }
    json_array_foreach(v, i, elem)
    {
        rc = decode_value(d, elem, depth + 1);
        if (rc)
            break;
    }
    return rc;
}

/* ---- public ---- */

enum err
s3_events_decode(const char *body, size_t len, size_t max_records, struct s3_batch *out,
                 char *errbuf, size_t errlen)
{
    struct decoder d;
    json_error_t jerr;
    json_t *root = NULL;
    enum err rc = ERR_OK;

    memset(out, 0, sizeof(*out));
    memset(&d, 0, sizeof(d));
    d.batch = out;
    d.max_records = max_records;
    d.errbuf = errbuf;
    d.errlen = errlen;
    root = json_loadb(body ? body : "", len, 0, &jerr);
    if (!root) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "invalid json at line %d column %d: %s",
                     jerr.line, jerr.column, jerr.text);
        goto out;
    }
    rc = decode_value(&d, root, 0);
    if (rc)
        goto out;
    if (!out->nrecords && !out->ignored && !d.empty_shapes)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "no s3 event of a recognisable shape in body (%zu unrecognised)",
                     out->unrecognised);
out:
    json_decref(root);
    if (rc)
        s3_batch_release(out);
    return rc;
}

void
s3_batch_release(struct s3_batch *b)
{
    size_t i;

    if (!b)
        return;
    for (i = 0; i < b->nrecords; i++)
        record_clear(&b->records[i]);
    free(b->records);
    memset(b, 0, sizeof(*b));
}
