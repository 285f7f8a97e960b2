/*
 * inventory_deleted.h - deletion detection of an inventory job
 *
 * Internal to storage/ (inventory_apply.c). Both run SQL in the caller's
 * open transaction, after the source buckets are locked and before the
 * staged files' partitions are attached; files[] as the apply read them.
 */
#ifndef INGESTD_INVENTORY_DELETED_H
#define INGESTD_INVENTORY_DELETED_H

#include <stddef.h>

#include "core/err.h"
#include "storage/inventory_part.h"

struct db;

/*
 * Take the compared files' markers (current records of their key ranges
 * their lines do not list) out of their partitions into the temporary
 * table inv_unlisted (part, bucket, key, version_id), created here.
 */
enum err inventory_deleted_take_markers(struct db *db, const struct inventory_part *files, size_t n,
                                        char *errbuf, size_t errlen);

/*
 * Create the temporary table inv_deleted (bucket, key, version_id) of the
 * current records of `buckets` (a text[] literal) not newer than inv_time
 * (timestamptz text) that the inventory does not list: by key, or by
 * version when `versioned`. Needs inv_unlisted.
 */
enum err inventory_deleted_find(struct db *db, const struct inventory_part *files, size_t n,
                                int versioned, const char *buckets, const char *inv_time,
                                char *errbuf, size_t errlen);

#endif
