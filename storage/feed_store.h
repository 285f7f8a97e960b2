/*
 * feed_store.h - reading the journal of changes in commit-safe cursor order
 *
 * The live feed (GET /api/v1/feed) reads table `changes` (migrations 0008,
 * 0015) after a cursor, the row id. Ids come from a sequence, so a row can
 * commit after a row with a higher id: a reader that emitted the higher id
 * first would skip the lower one for good. feed_store_read() therefore
 * returns only a prefix of the rows after the cursor that is final: rows
 * written before the start of every transaction still in progress in the
 * database (pg_stat_activity.xact_start). A transaction that starts later
 * draws later ids, so no row below the last one returned can still appear.
 * The cost is latency: a change waits for the transactions that were
 * already open when it was written (a merge, an inventory file) to end.
 *
 * Thread-safety: per struct db.
 */
#ifndef INGESTD_FEED_STORE_H
#define INGESTD_FEED_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

struct db;

/* What a reader wants; NULL / 0 members select everything. */
struct feed_filter {
    const char *const *types; /* change types to keep */
    size_t ntypes;
    const char *bucket; /* S3 changes of this bucket only (other types are dropped) */
    const char *prefix; /* S3 changes with a record key starting so (other types dropped) */
};

/*
 * Up to limit changes with id > after that pass f, oldest first, as JSON
 * objects {id, eventId, type, source, subject, time, data}, looking at no
 * more than 10,000 final rows. *last gets where to resume: the last change
 * returned when limit were, else the highest id examined whether it passed
 * f or not (after when none).
 */
enum err feed_store_read(struct db *db, long long after, const struct feed_filter *f, int limit,
                         json_t **items, long long *last, char *errbuf, size_t errlen);

/*
 * The highest id of the final prefix of the whole journal (0 when empty):
 * every change with a lower or equal id that will ever commit has. A reader
 * that starts there misses nothing that follows.
 */
enum err feed_store_head(struct db *db, long long *head, char *errbuf, size_t errlen);

#endif
