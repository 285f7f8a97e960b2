/*
 * events_store.h - the events table family (events, event_rows)
 *
 * Event objects are returned as jansson objects in the API's shape (API.md
 * "Event object"), built from one SELECT column list; the caller owns them.
 */
#ifndef INGESTD_EVENTS_STORE_H
#define INGESTD_EVENTS_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct db;
struct repos_csv;

struct event_input {
    const char *id;              /* the new event's uuid text, or NULL: one is made */
    const char *source;          /* may be NULL */
    const char *idempotency_key; /* may be NULL */
    const char *content;         /* decoded body, exactly as received */
    size_t content_len;
    const char *sha256_hex; /* of content */
    const struct repos_csv *doc;
};

/*
 * Store a new event and its rows in one transaction. When the idempotency
 * key or the content digest is already stored, nothing is written and the
 * existing event is returned with *duplicate = 1.
 */
enum err events_store_insert(struct db *db, const struct event_input *in, json_t **event,
                             int *duplicate, char *errbuf, size_t errlen);
/*
 * The same, inside a transaction the caller has begun and commits or rolls
 * back (several events, or an event with rows of another table, in one
 * commit): nothing is committed or rolled back here. A duplicate (same
 * content digest) writes nothing, returns the existing event with
 * *duplicate = 1 and leaves the transaction usable.
 */
enum err events_store_insert_txn(struct db *db, const struct event_input *in, json_t **event,
                                 int *duplicate, char *errbuf, size_t errlen);
/*
 * Pipelined uploads (storage/events_group.c). events_store_inline_ok(): the
 * upload's rows go inline with its INSERT (one statement);
 * events_store_prepare_insert() prepares it on db's connection (connecting
 * when needed; before the pipeline starts). For such an upload,
 * events_store_send_insert() queues it on db's live connection in pipeline
 * mode (libpq copies the parameters) and writes the
 * new event's id (37 bytes); its result has one row (sequence, received_at)
 * for a new event, none for a duplicate. events_store_event_json() builds
 * the new event's object from them; events_store_find_existing() the
 * duplicate's (after the commit; ERR_UNAVAILABLE when it went meanwhile).
 */
int events_store_inline_ok(const struct event_input *in);
enum err events_store_prepare_insert(struct db *db, char *errbuf, size_t errlen);
enum err events_store_send_insert(struct db *db, const struct event_input *in, char id[37],
                                  char *errbuf, size_t errlen);
json_t *events_store_event_json(const char *id, const struct event_input *in, const char *sequence,
                                const char *received_at);
enum err events_store_find_existing(struct db *db, const struct event_input *in, json_t **event,
                                    char *errbuf, size_t errlen);
/* Existing event with this idempotency key: ERR_OK with *event, or ERR_NOT_FOUND. */
enum err events_store_find_key(struct db *db, const char *key, json_t **event, char *errbuf,
                               size_t errlen);
/* ERR_NOT_FOUND when no such id (id must be a valid uuid text). */
enum err events_store_get(struct db *db, const char *id, json_t **event, char *errbuf,
                          size_t errlen);

struct events_filter {
    const char *status; /* NULL = any */
    const char *source; /* NULL = any */
    int64_t after;      /* sequence; 0 = from the start */
    int limit;
};
/* Events matching f in ascending sequence; *more = 1 when more follow. */
enum err events_store_list(struct db *db, const struct events_filter *f, json_t **items, int *more,
                           char *errbuf, size_t errlen);
/*
 * The stored content. *data is malloc'd (caller frees), *len its length.
 * ERR_NOT_FOUND when no such id.
 */
enum err events_store_content(struct db *db, const char *id, char **data, size_t *len, char *errbuf,
                              size_t errlen);
/* Delete a pending event: ERR_NOT_FOUND, or ERR_CONFLICT when it was merged. */
enum err events_store_delete(struct db *db, const char *id, char *errbuf, size_t errlen);
/*
 * Give the events listed in event_rows_backfill (merged before event_rows
 * kept merged rows, migrations/0013) their rows again: each event's stored
 * content is decoded as an upload is and COPYed into event_rows, and the
 * event leaves the list in the same transaction (a batch of events per
 * transaction). Runs until the list is empty; *events (if not NULL) gets
 * how many events were done. A content that no longer decodes is logged,
 * leaves the list and keeps no rows. Call under the migration lock.
 */
enum err events_store_backfill(struct db *db, long long *events, char *errbuf, size_t errlen);

#endif
