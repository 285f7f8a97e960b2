/*
 * s3_group.h - group commit of S3 event batches across threads
 *
 * A thread that holds a decoded batch of S3 event records (a POST
 * /api/v1/s3/events worker, an SQS consumer) hands it to the group and
 * waits. It leads when fewer than max_groups groups are being ingested and
 * none of them that does not hold its key locks in PostgreSQL yet, nor any
 * batch queued before it, touches one of its (bucket, key)s: it takes, in
 * arrival order, every queued batch whose keys no such group and no batch
 * left queued before it touches (up to max_records records, at least
 * itself), ingests them in ONE transaction on its own connection
 * (s3_store_ingest_group_locked), then wakes each waiter with its own
 * counts, and every queued batch looks again. So batches on shared keys go
 * together in one group, in arrival order, one commit for all; a later
 * group on the keys of a group that already holds their locks starts and
 * waits in PostgreSQL behind it (its statements under way when the first
 * commits), never before it; groups on other keys run at the same time.
 * (bucket, key)s are compared by a 64-bit hash: a collision only makes a
 * batch wait for a group it did not need to. When a group fails, each of
 * its batches is ingested alone, so one batch's bad record or a deadlock
 * never fails another batch (a later group on their keys may then commit
 * first). With max_wait_us > 0 a leader waits up to that long for more
 * batches before it starts (never past max_records). Thread-safe.
 */
#ifndef INGESTD_S3_GROUP_H
#define INGESTD_S3_GROUP_H

#include <stddef.h>

#include "core/err.h"
#include "storage/s3_store.h"

struct db;
struct s3_group;

/*
 * Groups of at most max_records records (0 or 1: every batch alone, as
 * without a group; a larger batch goes alone), at most max_groups of them
 * ingested at once; a leader waits up to max_wait_us for a fuller group.
 */
struct s3_group *s3_group_new(size_t max_records, long max_wait_us, int max_groups);
/* NULL-safe; no batch may be waiting. */
void s3_group_free(struct s3_group *g);
/*
 * Ingest part (source "event") in a group, on db (the calling thread's
 * connection) when this thread leads. Returns once the transaction that
 * holds it committed (ERR_OK, part->result set) or failed (errbuf says why).
 * g NULL: ingested alone.
 */
enum err s3_group_ingest(struct s3_group *g, struct db *db, struct s3_ingest_part *part,
                         char *errbuf, size_t errlen);

#endif
