/*
 * s3_event_decoder.h - S3 event notifications to object records (pure)
 *
 * Decodes a POST /api/v1/s3/events body (S3.md "Accepted event shapes"):
 *  - an S3 notification {"Records":[...]} (also inside SNS/SQS wrappers);
 *  - an EventBridge S3 event {"detail-type", "time", "detail":{...}};
 *  - an SQS message {"Body"|"body": "<json string>"}, whose string may hold
 *    an SNS envelope {"Type":"Notification","Message":"<json string>"};
 *  - an SQS receive result {"Messages":[message...]};
 *  - a JSON array mixing any of these (nesting allowed, bounded depth 8).
 * s3:TestEvent messages and event types that are neither created nor deleted
 * are counted in `ignored`. Elements of no recognisable shape are counted in
 * `unrecognised`. The body is a 400 only when it is not JSON, or when no
 * element had a recognisable shape (ERR_BAD_INPUT with a message).
 *
 * Field rules: keys are URL-decoded (form encoding: '+' is a space, %XX a
 * byte; a malformed escape is kept literally); a missing or empty version id
 * is "null"; eTags are quoted as the filemanager does (s3_etag_append():
 * `abc`, `"abc` and `abc"` give `"abc"`; `"abc"` and `W/"abc"` are kept; an
 * empty eTag is `""`, an absent or null one NULL); size up to 2^63-1 (absent for
 * deletes, or a non-integer / negative / too large size -> the record is
 * rejected as unrecognised); eventTime / time normalised to RFC 3339 UTC with
 * milliseconds ("2026-11-21T10:15:30.123Z"), NULL when absent/unparseable;
 * sequencer kept as given (NULL when absent or empty). Bucket names are used
 * as given; an empty bucket or key makes the record unrecognised.
 *
 * Pure: no I/O, no globals. Thread-safety: none needed.
 * Ownership: the batch owns every string; s3_batch_release() frees them.
 */
#ifndef INGESTD_S3_EVENT_DECODER_H
#define INGESTD_S3_EVENT_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum s3_event_type { S3_CREATED, S3_DELETED };

struct s3_record {
    enum s3_event_type event_type;
    char *bucket;
    char *key;        /* URL-decoded */
    char *version_id; /* "null" when absent */
    char *event_time; /* normalised, or NULL */
    int has_size;
    int64_t size;
    char *etag;          /* quoted (s3_etag_append), or NULL when absent */
    char *storage_class; /* e.g. from EventBridge storage class changes, else NULL */
    char *sequencer;     /* as given, or NULL (a sequencer is generated later) */
    int is_delete_marker;
    const char *reason;  /* static: "CreatedPut", "Deleted", ... (S3.md table); "Unknown" for an
                            EventBridge "Object Created" without a reason this decoder knows */
    char *last_modified; /* RFC 3339 UTC; NULL from events (a crawl sets it from S3's listing) */
};

struct s3_batch {
    struct s3_record *records; /* in body order */
    size_t nrecords;
    size_t ignored;      /* test events, other event types */
    size_t unrecognised; /* elements of no known shape */
};

/*
 * Decode body[0..len). Caps: at most max_records records (ERR_TOO_LARGE past
 * it, checked before allocating), JSON nesting as jansson allows.
 */
enum err s3_events_decode(const char *body, size_t len, size_t max_records, struct s3_batch *out,
                          char *errbuf, size_t errlen);
void s3_batch_release(struct s3_batch *b);

/* URL-decode (form encoding) src into a new string; exposed for tests. */
char *s3_url_decode(const char *src);

#endif
