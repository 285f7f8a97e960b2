/*
 * inventory_compare.h - reading the catalog in key order beside a staged file
 *
 * Internal to storage/ (inventory_stage.c). A data file of a sorted
 * inventory lists its keys in (bucket, key) order; the catalog's records are
 * read in the same order, in batches on a connection of their own, so
 * that each key group of the file meets its stored records once, and a
 * line identical to its version's latest record need not be staged again.
 *
 * Invariants: keys are asked in nondecreasing (bucket, key) order under
 * COLLATE "C". Each batch is one autocommit statement (its own snapshot):
 * a record written while the file streams may or may not be seen, as it
 * would be by an apply that began at that moment.
 *
 * Thread-safety: one per staged file, used by the thread that stages it.
 */
#ifndef INGESTD_INVENTORY_COMPARE_H
#define INGESTD_INVENTORY_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct db;

/* One stored record, its strings borrowed until the next call. */
struct inventory_compare_rec {
    const char *bucket;
    const char *key;
    const char *version_id;
    const char *sequencer;
    const char *event_type;
    int is_delete_marker;
    int has_size;
    int64_t size;
    const char *etag;          /* NULL when NULL */
    const char *storage_class; /* NULL when NULL */
    int has_last_modified;
    int64_t last_modified_us;
    int judged; /* current and not newer than the inventory: deleted unless listed */
    int latest; /* the latest record of its version: greatest (sequencer, event type) */
};

/* Receives a stored record of a key the file does not list (between two asked keys). */
typedef enum err (*inventory_compare_fn)(void *ud, const struct inventory_compare_rec *rec,
                                         char *errbuf, size_t errlen);

struct inventory_compare;

/*
 * A reader on db (its own connection, idle, borrowed) for an inventory
 * taken at inventory_ms (records newer than that are never judged). Opens
 * nothing yet. Never NULL.
 */
struct inventory_compare *inventory_compare_new(struct db *db, int64_t inventory_ms);

/*
 * The stored records of (bucket, key), in *recs[0..*n) (borrowed until the
 * next call). The first call starts reading at (bucket, key); records of
 * keys after the previous call's key and before this one go to fn (ud) one
 * by one. (bucket, key) must not be before the previous call's.
 */
enum err inventory_compare_key(struct inventory_compare *c, const char *bucket, const char *key,
                               inventory_compare_fn fn, void *ud,
                               const struct inventory_compare_rec **recs, size_t *n, char *errbuf,
                               size_t errlen);

/*
 * The latest record of version_id among the last call's records, or NULL.
 */
const struct inventory_compare_rec *inventory_compare_latest(const struct inventory_compare *c,
                                                             const char *version_id);

/* Free c (the connection stays open and idle). NULL-safe. */
void inventory_compare_free(struct inventory_compare *c);

#endif
