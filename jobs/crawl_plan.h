/*
 * crawl_plan.h - what a crawl writes for what S3 listed (pure: no I/O)
 *
 * Input: the listed entries of whole keys (all versions of each key S3
 * listed, keys ascending), the catalog's state of those keys
 * (storage/crawl_store.h) and the current records of the key range S3 no
 * longer lists. Output: the records a crawl writes, grouped by key in key
 * order, in the order s3_store_ingest_crawl() needs them - within a key:
 * Deleted records for versions gone from S3 first, then the new or changed
 * versions oldest first (by LastModified), the version S3 lists as latest
 * last, so it is the one that ends up current.
 *
 * Rules (S3.md, and "Crawl" in README.md):
 *  - a listed version is unchanged when its latest record is a Created one
 *    with the same eTag and size (and storage class, when the catalog knows
 *    one); a listed delete marker when its latest record is a delete marker;
 *    anything else gets a record (reason Crawl, LastModified kept);
 *  - the latest entry of a key also gets one when the catalog's current
 *    record disagrees with it, or when anything else of the key gets one;
 *  - a key written since the crawl began is left alone (its events decide).
 * Thread-safety: reentrant.
 */
#ifndef INGESTD_CRAWL_PLAN_H
#define INGESTD_CRAWL_PLAN_H

#include <stddef.h>

#include "codec/s3_event_decoder.h"
#include "codec/s3_list_xml.h"
#include "storage/crawl_store.h"

/* The records to write (owned, s3_batch_release() frees them) and the counts. */
struct crawl_plan {
    struct s3_batch batch;
    size_t *key_ends; /* batch.records[key_ends[i-1] .. key_ends[i]) are the i-th key's */
    size_t nkeys;
    struct crawl_counts counts; /* objects, created, deleted, unchanged */
};

/*
 * Plan bucket's entries[0..n) (sorted by key; a key's entries together) with
 * the catalog's state and the gone pairs (sorted by key) into out.
 */
void crawl_plan_make(const char *bucket, const struct s3_list_entry *entries, size_t n,
                     const struct crawl_state *state, const struct crawl_pairs *gone,
                     struct crawl_plan *out);
void crawl_plan_release(struct crawl_plan *p);

#endif
