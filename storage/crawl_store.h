/*
 * crawl_store.h - crawls of the live bucket: their rows, and the catalog as a crawl reads it
 *
 * A crawl (migration 0011, s3_crawls) lists a bucket under a prefix, or, in
 * mode verify, HEADs every current object of the prefix; jobs/crawl_runner.c
 * runs it. Crawl objects are jansson objects in the API's shape (the
 * filemanager's S3Crawl plus ingestd's counts), owned by the caller:
 *
 *   {"s3CrawlId", "status": "InProgress"|"Completed"|"Failed", "mode":
 *    "crawl"|"verify", "bucket", "prefix" (null: the whole bucket), "started",
 *    "startedAt", "finishedAt", "executionTimeSeconds", "nObjects", "created",
 *    "deleted", "unchanged", "missing", "missingKeys", "listing", "error"}
 *
 * crawl_store.c holds the rows (submitting, claiming like inventory jobs:
 * FOR UPDATE SKIP LOCKED and a session lock, locks.h LOCK_S3_CRAWL);
 * crawl_state.c the catalog queries a crawl compares S3 with. Thread-safety:
 * every function works on the caller's struct db, which belongs to one thread.
 */
#ifndef INGESTD_CRAWL_STORE_H
#define INGESTD_CRAWL_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct db;

#define CRAWL_MISSING_KEYS_MAX 100 /* keys a verify crawl lists in missingKeys */

/*
 * Queue a crawl of bucket under prefix (NULL or "": all), verify or not.
 * ERR_CONFLICT ("another crawl of bucket/prefix is queued or running") when
 * one of the same bucket and prefix is queued or running, on any replica.
 */
enum err crawl_store_submit(struct db *db, const char *bucket, const char *prefix, int verify,
                            json_t **crawl, char *errbuf, size_t errlen);
/*
 * The crawl object of id: ERR_NOT_FOUND when none. *failure (when not NULL)
 * gets the kind a failed crawl failed with (crawl_store_fail()), else ERR_OK.
 */
enum err crawl_store_get(struct db *db, const char *id, json_t **crawl, enum err *failure,
                         char *errbuf, size_t errlen);

/* Filters of the crawl list: every one given must match. */
struct crawl_filter {
    const char *bucket_like; /* a LIKE pattern (s3_like_pattern()), or NULL */
    const char *prefix_like; /* a LIKE pattern for the prefix ('' = whole bucket), or NULL */
    const char *status;      /* "InProgress", "Completed", "Failed", or NULL */
    const char *mode;        /* "crawl", "verify", or NULL */
    int64_t offset;
    int64_t limit;
};

/* Matching crawls, newest first, one page of them, and how many match in all. */
enum err crawl_store_list(struct db *db, const struct crawl_filter *f, json_t **items,
                          int64_t *total, char *errbuf, size_t errlen);
enum err crawl_store_count(struct db *db, const struct crawl_filter *f, int64_t *total,
                           char *errbuf, size_t errlen);

/* A claimed crawl, as the runner sees it. */
struct crawl_claim {
    char id[37];
    char *bucket;
    char *prefix; /* "" for the whole bucket */
    int verify;
    char *started_at; /* when it was first claimed (timestamptz text): later records are new */
};
void crawl_claim_release(struct crawl_claim *c);

/*
 * Claim the oldest runnable crawl (queued, or running with its runner gone):
 * ERR_OK with c filled, ERR_NOT_FOUND when none. The connection holds the
 * crawl's session lock until crawl_store_release(). A crawl taken over
 * counts its listing (nObjects, unchanged) from zero again.
 */
enum err crawl_store_claim(struct db *db, struct crawl_claim *c, char *errbuf, size_t errlen);
enum err crawl_store_release(struct db *db, const char *id, char *errbuf, size_t errlen);

/* What a part of a crawl adds to its counts. */
struct crawl_counts {
    int64_t objects;
    int64_t created;
    int64_t deleted;
    int64_t unchanged;
    int64_t missing;
};

/*
 * Add c to the crawl's counts, keep the first CRAWL_MISSING_KEYS_MAX of
 * missing_keys (a JSON array text, or NULL), set listing ("versions",
 * "objects", or NULL: unchanged), refresh the heartbeat.
 */
enum err crawl_store_progress(struct db *db, const char *id, const struct crawl_counts *c,
                              const char *missing_keys, const char *listing, char *errbuf,
                              size_t errlen);
/* The crawl succeeded. */
enum err crawl_store_finish(struct db *db, const char *id, char *errbuf, size_t errlen);
/* The crawl failed with a message and the kind of the failure (crawl_store_get()). */
enum err crawl_store_fail(struct db *db, const char *id, enum err failure, const char *message,
                          char *errbuf, size_t errlen);

/* ---- crawl_state.c: the catalog as a crawl compares it with S3 ---- */

/* The latest record of one version of a key, and whether it is current. */
struct crawl_version {
    char *key;
    char *version_id;
    int created; /* the latest record is a Created one (else Deleted) */
    int delete_marker;
    int current;
    char *etag; /* NULL when none */
    char *storage_class;
    int has_size;
    int64_t size;
};

/* The catalog's versions of some keys, and which of them were written to since a time. */
struct crawl_state {
    struct crawl_version *versions; /* by key, then version id (byte order) */
    size_t nversions;
    char **touched; /* keys with a record ingested at or after `since`, sorted */
    size_t ntouched;
};
void crawl_state_release(struct crawl_state *s);

/*
 * The latest record of every version of keys[0..nkeys) of bucket (S3.md
 * order: sequencer, then Deleted before Created), and the keys with a
 * record ingested at or after `since` (those a crawl leaves to their events).
 */
enum err crawl_state_load(struct db *db, const char *bucket, const char *const *keys, size_t nkeys,
                          const char *since, struct crawl_state *out, char *errbuf, size_t errlen);

/* (key, version id) pairs; the caller frees with crawl_pairs_release(). */
struct crawl_pairs {
    char **keys;
    char **version_ids;
    size_t n;
};
void crawl_pairs_release(struct crawl_pairs *p);

/*
 * The current records of bucket whose key starts with prefix and lies in
 * (lo, hi] (NULL: unbounded) that the listing did not list (listed: the
 * pairs S3 listed in that range), leaving out keys written since `since`:
 * the objects S3 no longer has.
 */
enum err crawl_state_gone(struct db *db, const char *bucket, const char *prefix, const char *lo,
                          const char *hi, const struct crawl_pairs *listed, const char *since,
                          struct crawl_pairs *out, char *errbuf, size_t errlen);
/*
 * Up to limit current records of bucket whose key starts with prefix, keys
 * after `after` (NULL: from the first), in key order: what verify HEADs.
 */
enum err crawl_state_current(struct db *db, const char *bucket, const char *prefix,
                             const char *after, int limit, struct crawl_pairs *out, char *errbuf,
                             size_t errlen);

#endif
