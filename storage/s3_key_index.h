/*
 * s3_key_index.h - the GIN indexes of the catalog's key segments, one per partition
 *
 * A key pattern that starts with a wildcard is served by a GIN index on
 * s3_key_segments(key) (migration 0026, storage/s3_query.c). Each partition
 * of s3_objects gets its own, named <partition>_segs, built with CREATE
 * INDEX CONCURRENTLY by jobs/key_index.c after the partition is attached,
 * never inside an inventory's ingestion. A partition without one is read
 * whole by such a list; the results are the same.
 *
 * The builder holds LOCK_S3_PARTITIONS exclusively while it builds; an
 * inventory's apply, which detaches, drops and analyzes partitions, fences
 * it out first (s3_key_index_fence()), cancelling a build under way.
 */
#ifndef INGESTD_S3_KEY_INDEX_H
#define INGESTD_S3_KEY_INDEX_H

#include <stddef.h>

#include "core/err.h"

struct db;

/* Partitions of s3_objects whose segments index is missing or not valid yet. */
enum err s3_key_index_pending(struct db *db, long long *n, char *errbuf, size_t errlen);

/* Asked while a build runs (at least every 200 ms): nonzero cancels it. */
typedef int (*s3_key_index_stop_fn)(void *ud);

/*
 * Build the index of one partition that lacks one (a leftover invalid index,
 * from a cancelled build, is dropped first), then ANALYZE the partition.
 * Outside a transaction; db must be a connection of its own, as the build
 * holds it until it ends. *table gets the partition's name, or "" when no
 * partition lacks an index or an apply holds the partitions (nothing done).
 * A cancelled build (stop, or an apply's fence) is ERR_UNAVAILABLE.
 */
enum err s3_key_index_build_one(struct db *db, s3_key_index_stop_fn stop, void *ud, char *table,
                                size_t tablelen, char *errbuf, size_t errlen);

/*
 * The first statement of a transaction that will detach, drop or analyze
 * attached partitions: hold LOCK_S3_PARTITIONS shared until the transaction
 * ends, cancelling the builder's statement while it holds the key. Tries
 * for at most 60 s (a builder of another role cannot be cancelled and is
 * waited for that long): then ERR_UNAVAILABLE.
 */
enum err s3_key_index_fence(struct db *db, char *errbuf, size_t errlen);

#endif
