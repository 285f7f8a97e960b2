/*
 * repos_cache.h - the effective repos.csv as rendered once per generation
 *
 * The bytes of one generation never change, so each process renders a
 * generation once (plain and gzip) and serves those bytes to every request
 * until a newer generation appears. A newer generation is built from the
 * one held: only the blocks of positions holding rows written since are
 * rendered and deflated again (storage/repos_blocks.h), the others are
 * shared with it; the gzip body is one member made of independently
 * deflated blocks, the same bytes on every replica. Entries are reference counted: a response holds
 * its entry until the last byte is sent. Thread-safe.
 */
#ifndef INGESTD_REPOS_CACHE_H
#define INGESTD_REPOS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "handlers/request.h"

struct db;

/*
 * A generation's bytes, plain and gzip, each as slices in order: the blocks
 * a generation shares with the one it was built from are the same memory,
 * not a copy, so a merge that changed a few blocks costs a few blocks.
 */
struct repos_rendered {
    int64_t generation;
    long long updated_ms;
    const struct body_slice *csv;
    size_t csv_slices;
    size_t csv_len;
    const struct body_slice *gz;
    size_t gz_slices;
    size_t gz_len;
};

struct repos_cache;

#define REPOS_CACHE_MAX_CHUNKS 256

struct repos_cache *repos_cache_new(void);
/*
 * A cache whose entries hold at most max_chunks chunks (>= 2; a build past
 * it copies every piece into two new ones; repos_cache_new() uses
 * REPOS_CACHE_MAX_CHUNKS): tests make it small to exercise that copy.
 */
struct repos_cache *repos_cache_new_capped(size_t max_chunks);
void repos_cache_free(struct repos_cache *cache); /* NULL-safe */

/*
 * The rendering of the current generation (checked against the database),
 * rendering it now if needed. Release with repos_cache_release().
 */
enum err repos_cache_acquire(struct repos_cache *cache, struct db *db,
                             const struct repos_rendered **out, char *errbuf, size_t errlen);
/* Drop a reference (NULL-safe); the signature fits response_release_fn. */
void repos_cache_release(void *rendered);

#endif
