/*
 * inventory_store.h - inventory jobs: records, claiming, staging, applying
 *
 * Job objects are jansson objects in the API's shape (API.md "Job object"),
 * owned by the caller. Implemented by inventory_store.c (job rows),
 * inventory_stage.c (staging a data file) and inventory_apply.c (the final
 * transaction); the lock order is storage/locks.h's.
 */
#ifndef INGESTD_INVENTORY_STORE_H
#define INGESTD_INVENTORY_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/inventory_decoder.h"
#include "core/err.h"

struct db;

/*
 * Queue a job for the manifest at s3://bucket/key (manifest_json NULL) or
 * for an inline manifest (bucket/key NULL). A failed, queued or interrupted
 * job of the same source is resumed (queued again) instead: *resumed = 1.
 */
enum err inventory_store_submit(struct db *db, const char *bucket, const char *key,
                                const char *manifest_json, size_t manifest_len, json_t **job,
                                int *resumed, char *errbuf, size_t errlen);
/*
 * The job object of id: ERR_NOT_FOUND when no such job. *failure (when not
 * NULL) gets the kind of error a failed job failed with, as given to
 * inventory_store_fail(), else ERR_OK.
 */
enum err inventory_store_get(struct db *db, const char *id, json_t **job, enum err *failure,
                             char *errbuf, size_t errlen);
/*
 * Newest first; `before` (a job id, may be NULL) pages back. ERR_BAD_INPUT
 * for a before that names no stored job (db_page_before_json()).
 */
enum err inventory_store_list(struct db *db, const char *before, int limit, json_t **items,
                              int *more, char *errbuf, size_t errlen);

/* A claimed job, as the runner sees it. */
struct inventory_claim {
    char id[37];
    char *bucket; /* manifest location, or NULL for inline */
    char *key;
    char *manifest; /* stored manifest JSON, or NULL when not fetched yet */
};
void inventory_claim_release(struct inventory_claim *c);

/*
 * Claim the oldest runnable job (queued, or running with its runner gone):
 * ERR_OK with c filled, ERR_NOT_FOUND when none. The connection holds the
 * job's session lock until inventory_store_release().
 */
enum err inventory_store_claim(struct db *db, struct inventory_claim *c, char *errbuf,
                               size_t errlen);
enum err inventory_store_release(struct db *db, const char *id, char *errbuf, size_t errlen);
/* Store the fetched manifest and its file list (files not yet known). */
enum err inventory_store_set_manifest(struct db *db, const char *id, const char *json,
                                      const struct inventory_manifest *m, char *errbuf,
                                      size_t errlen);
/* Indexes of files not staged yet, ascending; *n of them (caller frees *idx). */
enum err inventory_store_pending_files(struct db *db, const char *id, int **idx, size_t *n,
                                       char *errbuf, size_t errlen);
/*
 * The progress of a job's files in flight: file idx[i] has streamed
 * records[i] lines and bytes[i] stored bytes so far, for i < n. Written at
 * once (its own short transaction) into the files' rows, where the job
 * object adds it to the staged files' records and bytes while the job runs;
 * call it on a connection that is not staging. A file already staged, or
 * whose staging transaction is marking it staged right now, is left alone
 * (never waited for).
 */
enum err inventory_store_progress(struct db *db, const char *job_id, const int *idx,
                                  const int64_t *records, const int64_t *bytes, size_t n,
                                  char *errbuf, size_t errlen);
/* Refresh the heartbeat of a running job. */
enum err inventory_store_heartbeat(struct db *db, const char *id, char *errbuf, size_t errlen);

/*
 * When the inventory was taken, in milliseconds since 1970: the manifest's
 * creationTimestamp, else the job's creation. Its records are observed then.
 */
enum err inventory_store_observed_ms(struct db *db, const char *job_id,
                                     const struct inventory_manifest *m, int64_t *ms, char *errbuf,
                                     size_t errlen);

/*
 * Staging one data file: begin() opens the file's transaction, creates its
 * table and starts the COPY;
 * add() appends a decoded line; commit() ends the COPY, marks the file
 * staged with its counts (clearing what inventory_store_progress() wrote)
 * and adds them to the job's progress; abort() rolls everything of this
 * file back.
 * With cmp_db (another connection, idle, borrowed; NULL: none), the file is
 * compared with the catalog while it streams (inventory_compare.h): the
 * groups of lines identical to the catalog are not staged, and the current
 * records of its key range it does not list are staged as markers for the
 * apply. Such a file must list its keys in order: add() fails with
 * ERR_CONFLICT and out_of_order() is true (until abort) when it does not;
 * stage it again without cmp_db.
 */
struct inventory_stage;
enum err inventory_stage_begin(struct db *db, struct db *cmp_db, const char *job_id, int file_idx,
                               int64_t observed_ms, struct inventory_stage **out, char *errbuf,
                               size_t errlen);
enum err inventory_stage_add(struct inventory_stage *s, const struct inventory_line *line,
                             char *errbuf, size_t errlen);
int inventory_stage_out_of_order(const struct inventory_stage *s);
enum err inventory_stage_commit(struct inventory_stage *s, int64_t bytes, char *errbuf,
                                size_t errlen);
void inventory_stage_abort(struct inventory_stage *s);

/*
 * The final transaction: apply the staged lines to the catalog; job succeeded.
 * The job's phase becomes "applying" first, committed on its own so that
 * readers see it. A file with fewer than merge_below new records adds them
 * to the events' partition instead of keeping a partition of its own. When
 * the source buckets then have more than max_parts inventory partitions of
 * their own (< 1: no limit), the smallest are merged into one
 * (inventory_part_compact()).
 * *records (when not NULL) gets the job's staged lines, its `records`.
 */
enum err inventory_store_apply(struct db *db, const char *job_id,
                               const struct inventory_manifest *m, long long merge_below,
                               int max_parts, int64_t *records, char *errbuf, size_t errlen);
/*
 * Mark the job failed with a message and the kind of the failure, which
 * inventory_store_get() returns (staged files stay for a resume). The same
 * transaction journals io.ingestd.inventory.failed with the job object.
 */
enum err inventory_store_fail(struct db *db, const char *job_id, enum err failure,
                              const char *message, char *errbuf, size_t errlen);

/*
 * Journal the change `type` (OUTBOX_INVENTORY_SUCCEEDED or _FAILED) with
 * the job object of job_id as GET /api/v1/s3/inventories/{id} shows it, on
 * db's open transaction (the one that ended the job).
 */
enum err inventory_store_announce(struct db *db, const char *job_id, const char *type, char *errbuf,
                                  size_t errlen);

#endif
