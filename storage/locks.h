/*
 * locks.h - advisory lock keys shared by every ingestd process on a database
 *
 * Every pg_advisory_* key that storage/ uses is named here; nothing else in
 * the tree spells one. Two kinds of key share PostgreSQL's one bigint key
 * space: two constants (7400000001, 7400000002) and 64-bit hashes of a text
 * with a seed of their own (hashtextextended(text, 7400..7404)), so the
 * families cannot be confused with each other except by a hash collision
 * (which would only make two unrelated holders wait for each other).
 *
 * Lock order. A transaction takes the locks of this list top to bottom and
 * never goes back up, so no two transactions (or sessions) can wait for each
 * other in a cycle:
 *
 *   1. LOCK_MIGRATE_KEY (session) - migrate_apply() at start-up, with no
 *      other lock held and none taken while it is.
 *   2. LOCK_INVENTORY_SOURCE (transaction) - inventory_store_submit(), one
 *      submission per manifest source at a time; inside it, the job key is
 *      only tried (pg_try_advisory_xact_lock never waits).
 *   3. LOCK_INVENTORY_JOB (session) - the runner that claimed a job holds it
 *      from the claim until inventory_store_release(), across the job's many
 *      transactions; a free key means the runner died. The claim takes it
 *      right after winning the job row (FOR UPDATE SKIP LOCKED) whose key it
 *      just tried successfully, so that never waits either. Everyone else
 *      only tries it (JOB_ABANDONED).
 *      LOCK_S3_CRAWL (session) - the same for a running crawl: taken by the
 *      claim right after winning the crawl's row, held until
 *      crawl_store_release(); the crawl's batches take 4 and 5 under it.
 *   4. LOCK_S3_BUCKET (transaction) - per source bucket: a batch of S3 events
 *      holds its buckets SHARED, an inventory's final apply (under 3) holds
 *      its source buckets EXCLUSIVE while it attaches and recomputes, so the
 *      two never change the current state of one bucket at the same time.
 *   5. LOCK_S3_KEY (transaction, exclusive) - per (bucket, key), a batch (or
 *      a group of batches, jobs/s3_group.h) of S3 events, after its buckets (4).
 *   6. LOCK_EFFECTIVE_KEY (transaction) - a merge and PUT /api/v1/repos.csv.
 *      No transaction holding it takes any of 1-5. After it, a merge takes
 *      SHARE on the events table (uploads hold ROW EXCLUSIVE on it and take
 *      no advisory lock).
 *
 *   7. LOCK_EXPORT_TARGET (session) - per export target, held by the exporter
 *      thread publishing to it (storage/exports_store.c), only ever tried,
 *      with no other lock held; while it is held the thread takes no other
 *      advisory lock (it reads the effective file in a snapshot and updates
 *      the target's row).
 *   8. LOCK_S3_PARTITIONS - the catalog's partitions while the key index
 *      builder (jobs/key_index.c) runs CREATE INDEX CONCURRENTLY on one: it
 *      holds the key EXCLUSIVE (session), only tried, with no other lock
 *      held. An inventory's final apply, the one transaction that detaches,
 *      drops or analyzes attached partitions, tries it SHARED as its first
 *      statement; while it fails, the apply cancels the builder's statement
 *      and tries again (storage/s3_key_index.c). Neither ever waits for it,
 *      so it is outside the order above: the apply never waits behind a
 *      build, and a build never starts while an apply runs.
 * Within one step a transaction takes all its keys in one statement, sorted
 * by key (ORDER BY h): two batches that share keys meet them in the same
 * order. Deadlocks PostgreSQL still reports (40P01) are mapped to
 * ERR_UNAVAILABLE ("retry") by db.c.
 *
 * The macros expand to SQL text: a constant key, or the expression of a
 * hashed key over the SQL expressions given as arguments.
 */
#ifndef INGESTD_LOCKS_H
#define INGESTD_LOCKS_H

/* 1. Schema migrations (session). */
#define LOCK_MIGRATE_KEY "7400000001"
/* 2. One submission per inventory manifest source (its `identity` text). */
#define LOCK_INVENTORY_SOURCE(identity) "hashtextextended(" identity ", 7402)"
/* 3. A running inventory job (session, held by its runner); `id` a uuid expression. */
#define LOCK_INVENTORY_JOB(id) "hashtextextended((" id ")::text, 7403)"
/*
 * 3. A running crawl (session, held by its crawl runner, as an inventory job's;
 *    crawl_store.c). A runner holds at most one of the two kinds at a time.
 */
#define LOCK_S3_CRAWL(id) "hashtextextended((" id ")::text, 7404)"
/* 4. A source bucket of the catalog: shared by event batches, exclusive by an inventory apply. */
#define LOCK_S3_BUCKET(bucket) "hashtextextended('bucket' || E'\\x1f' || " bucket ", 7401)"
/* 5. One (bucket, key) of the catalog, exclusive by an event batch. */
#define LOCK_S3_KEY(bucket, key) "hashtextextended(" bucket " || E'\\x1f' || " key ", 7400)"
/* 6. The effective repos.csv: merges and PUT /api/v1/repos.csv. */
#define LOCK_EFFECTIVE_KEY "7400000002"

/* 8. The catalog's partitions: exclusive by the key index builder, shared by an inventory apply. */
#define LOCK_S3_PARTITIONS "7400000003"

/* 7. One export target (session, by its publisher); `name` a text expression. */
#define LOCK_EXPORT_TARGET(name) "hashtextextended(" name ", 7409)"

/* Held (transaction-scoped) by a merge and by PUT /api/v1/repos.csv. */
#define LOCK_EFFECTIVE_SQL "SELECT pg_advisory_xact_lock(" LOCK_EFFECTIVE_KEY ")"

/* SQL expression formatting a timestamptz column as 2026-11-21T10:15:30.123Z */
#define SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#endif
