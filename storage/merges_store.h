/*
 * merges_store.h - merges: applying pending events to the effective repos.csv
 *
 * merges_store_run() is the whole of MERGE.md "Merge" in one transaction,
 * set-based in PostgreSQL. Merge objects are jansson objects in the API's
 * shape (API.md "Merges"), owned by the caller.
 */
#ifndef INGESTD_MERGES_STORE_H
#define INGESTD_MERGES_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

struct db;

/*
 * Merge every pending event. Waits for a merge running elsewhere (any
 * process) and for uploads in flight, then applies what is pending. With
 * dry_run the same work is done and rolled back: the summary is what a real
 * merge would report, nothing is stored.
 */
enum err merges_store_run(struct db *db, int dry_run, json_t **merge, char *errbuf, size_t errlen);
/* ERR_NOT_FOUND when no such merge. */
enum err merges_store_get(struct db *db, const char *id, json_t **merge, char *errbuf,
                          size_t errlen);
/*
 * Newest first; `before` (a merge id, may be NULL) pages back. ERR_BAD_INPUT
 * for a before that names no stored merge (db_page_before_json()).
 */
enum err merges_store_list(struct db *db, const char *before, int limit, json_t **items, int *more,
                           char *errbuf, size_t errlen);
/* Number of pending events (for the merge scheduler). */
enum err merges_store_pending(struct db *db, long long *count, char *errbuf, size_t errlen);

#endif
