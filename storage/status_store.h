/*
 * status_store.h - the figures of the status page (GET /) in a few cheap queries
 *
 * Everything the page shows is read here and handed over as one jansson
 * object, so the page renderer (handlers/status.c) needs no database.
 * Thread-safety: as struct db (one connection per thread).
 */
#ifndef INGESTD_STATUS_STORE_H
#define INGESTD_STATUS_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

struct db;

/* How many of the newest merges and finished inventory jobs the snapshot lists. */
#define STATUS_MERGES 10
#define STATUS_JOBS 10

/*
 * The status page counts catalogs (all partitions of s3_objects) up to this
 * size on disk exactly (a scan of at most this many bytes); larger ones get
 * the planner's estimates, flagged as such.
 */
#define STATUS_EXACT_MAX_BYTES (32LL * 1024 * 1024)

/*
 * A snapshot of the service's state (*out, owned by the caller):
 *
 *   {"generation": N, "updated_at": "<RFC 3339>", "rows": N, "pending": N,
 *    "merges": [{"id", "status", "events", "rows", "added", "updated",
 *                "unchanged", "skipped", "generation", "started_at",
 *                "duration_ms"}, ...]                 newest first, STATUS_MERGES
 *    "jobs": [{"id", "status", "bucket"|null, "key"|null, "format"|null,
 *              "files_total", "files_done", "records", "bytes", "created_at",
 *              "started_at"|null, "finished_at"|null, "error"|null}, ...]
 *              newest first: every queued or running job and the STATUS_JOBS newest
 *    "objects": {"total": N, "current": N, "estimate": bool, "bytes": N}}
 *
 * Every number is exact except `objects` when `estimate` is true: a catalog
 * larger than exact_max_bytes on disk (`bytes`) is estimated. `rows` is
 * the greatest row position of the effective file: positions are 1..rows
 * without gaps (a replacement numbers its rows from 1, a merge appends after
 * the greatest, nothing deletes a row), so it is the exact count read from
 * the primary key. `pending` counts the events after the newest merge's
 * range on the unique sequence index (pending events are few: merges drain
 * them).
 */
enum err status_store_snapshot(struct db *db, long long exact_max_bytes, json_t **out, char *errbuf,
                               size_t errlen);

#endif
