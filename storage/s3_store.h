/*
 * s3_store.h - the S3 object catalog (s3_objects)
 *
 * Ingestion is one transaction per batch (or per group of batches):
 * advisory locks on the touched keys (hash order), generated sequencers for
 * records without one, the current state of every touched (bucket, key)
 * decided over its stored records and the batch's (S3.md "Current state"),
 * then the repeats of stored records counted and the other records inserted
 * (storage/README.md "Locks"). Object records are jansson objects in the
 * API's camelCase shape, owned by the caller.
 */
#ifndef INGESTD_S3_STORE_H
#define INGESTD_S3_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/s3_event_decoder.h"
#include "core/buf.h"
#include "core/err.h"
#include "storage/s3_query.h"

struct db;

/*
 * Sequencer ordering key: upper case, trailing '0's removed ("0" when nothing
 * else is left). ERR_BAD_INPUT unless hex.
 */
enum err s3_sequencer_normalize(const char *raw, struct buf *out);
/*
 * The generated sequencer that follows `max` (the greatest stored for the
 * version, or NULL): <base>-<counter+1> where max is <base>[-<counter>].
 */
void s3_sequencer_next(const char *max, struct buf *out);

struct s3_ingest_result {
    size_t ingested;   /* new records */
    size_t duplicates; /* repeat deliveries counted on existing records */
};

/* Ingest records[0..n) (source "event") as one atomic batch. */
enum err s3_store_ingest(struct db *db, const struct s3_record *records, size_t n,
                         struct s3_ingest_result *out, char *errbuf, size_t errlen);
/* One batch of a group (s3_store_ingest_group): records borrowed, its own counts. */
struct s3_ingest_part {
    const struct s3_record *records;
    size_t n;
    struct s3_ingest_result result; /* set by the ingestion; zero unless it committed */
};

/*
 * Ingest parts[0..nparts) (source "event") in ONE transaction, with the
 * outcome of ingesting each alone in array order, one after the other: a
 * record a later part repeats is that part's duplicate, a record without a
 * sequencer follows everything before it. Each part's result counts its own
 * records. On any error nothing is written and every result is zero; which
 * part was at fault is not said (ingest each alone to learn it).
 */
enum err s3_store_ingest_group(struct db *db, struct s3_ingest_part *parts, size_t nparts,
                               char *errbuf, size_t errlen);
/*
 * The same, calling locked(ud) (when not NULL) once the transaction holds
 * the locks of every (bucket, key) of the parts: from then on, another
 * transaction on one of those keys waits in PostgreSQL until this one ends,
 * so it may start (and queue behind it) without passing it.
 */
enum err s3_store_ingest_group_locked(struct db *db, struct s3_ingest_part *parts, size_t nparts,
                                      void (*locked)(void *ud), void *ud, char *errbuf,
                                      size_t errlen);
/*
 * The same for what a crawl of the live bucket observed (source "crawl";
 * last_modified kept): the same locks, duplicate rule and current state, but
 * a record without a sequencer gets one after the greatest stored for its
 * *key* (every version), in batch order, so that among the records of one key
 * the last one of the batch is the latest: a crawl puts the version S3 lists
 * as latest last, and it becomes current (S3.md "Current state").
 */
enum err s3_store_ingest_crawl(struct db *db, const struct s3_record *records, size_t n,
                               struct s3_ingest_result *out, char *errbuf, size_t errlen);

/* ERR_NOT_FOUND when no such record. */
enum err s3_store_get(struct db *db, const char *id, json_t **object, char *errbuf, size_t errlen);

/* A list's count of matching records: at or past S3_LIST_COUNT_CAP, a lower bound. */
#define S3_LIST_COUNT_CAP 10000
struct s3_total {
    int64_t count; /* exact when `exact`, else a lower bound past the page (more pages follow) */
    int exact;
};

/*
 * The records q matches, q->limit from q->offset in list order (bucket,
 * key, sequencer, id), appended to results as a JSON array of object
 * records (text: a page is written, not built as jansson objects), their
 * number in *n, and how many match: exact below
 * max(S3_LIST_COUNT_CAP, q->offset + q->limit + 1), else that bound, with
 * total->exact 0 (counting every match of a large catalog reads all of it;
 * s3_store_count counts exactly).
 */
enum err s3_store_list(struct db *db, const struct s3_query *q, struct buf *results, size_t *n,
                       struct s3_total *total, char *errbuf, size_t errlen);
/* How many records q matches, exactly. */
enum err s3_store_count(struct db *db, const struct s3_query *q, int64_t *total, char *errbuf,
                        size_t errlen);

#define S3_PATCH_MAX_RECORDS 10000

/* What a PATCH changes: the attributes (ops set) or the ingest id. */
struct s3_patch {
    const json_t *ops;     /* an append-only JSON patch json_patch_check accepted, or NULL */
    const char *ingest_id; /* when ops is NULL: the new ingest id (a UUID), NULL = none */
};

/*
 * Apply p to every record q matches (its limit and offset ignored), in one
 * transaction: *items gets the patched records in list order (an empty
 * array when none match). A patch that fails on any record is
 * ERR_BAD_INPUT naming the record, and nothing changes; more than
 * S3_PATCH_MAX_RECORDS matches is ERR_UNPROCESSABLE.
 */
enum err s3_store_patch(struct db *db, const struct s3_query *q, const struct s3_patch *p,
                        json_t **items, char *errbuf, size_t errlen);

/*
 * Translate an API wildcard pattern (`*` any run, `?` one character, `\*`
 * `\?` `\\` literal) into a LIKE pattern with `\` as escape. A `\` before
 * any other character, or at the end, is ERR_BAD_INPUT ("invalid escape
 * ...", as the filemanager rejects it); out is then unspecified.
 */
enum err s3_like_pattern(const char *pattern, struct buf *out, char *errbuf, size_t errlen);

#endif
