/*
 * repos_store.h - the effective repos.csv (effective_meta, effective_rows)
 */
#ifndef INGESTD_REPOS_STORE_H
#define INGESTD_REPOS_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct db;
struct repos_csv;

/* Current generation and when it was made (ms since the epoch). */
enum err repos_store_generation(struct db *db, int64_t *generation, long long *updated_ms,
                                char *errbuf, size_t errlen);

/*
 * Render the effective file as served (MERGE.md "Output") into out, from one
 * consistent snapshot; *generation and *updated_ms describe what was rendered.
 */
enum err repos_store_render(struct db *db, struct buf *out, int64_t *generation,
                            long long *updated_ms, char *errbuf, size_t errlen);

/*
 * Append the file of the columns cols (a JSON array of names) and the rows of
 * the relation `rows` (SQL: a table or a parenthesised, aliased SELECT with
 * pos, changeset, publish_uri and vals), ordered by pos, to out: the served
 * format (MERGE.md "Output"). Runs in the caller's transaction.
 */
enum err repos_store_write_csv(struct db *db, json_t *cols, const char *rows, struct buf *out,
                               char *errbuf, size_t errlen);

/* If-Match as the store checks it: the current generation must be listed. */
#define REPOS_IF_MATCH_MAX 16
struct repos_if_match {
    int present; /* no header: unconditional */
    int any;     /* "*": the file always exists */
    size_t ngens;
    int64_t gens[REPOS_IF_MATCH_MAX]; /* strong tags "N" */
};

/*
 * Replace the effective file by doc (keys already checked unique) as a new
 * generation, when `m` holds for the current generation (ERR_PRECONDITION
 * otherwise). *generation gets the new generation.
 */
enum err repos_store_replace(struct db *db, const struct repos_csv *doc,
                             const struct repos_if_match *m, int64_t *generation, char *errbuf,
                             size_t errlen);

struct repos_filter {
    const char *origin;
    const char *path;
    const char *path_prefix;
    const char *branch;
    int64_t after; /* position cursor, 0 = from the start */
    int limit;
};

/*
 * Rows as JSON objects (API.md GET /api/v1/repos) in file order; *next_after
 * is the cursor of the next page or 0 when this is the last one.
 */
enum err repos_store_list(struct db *db, const struct repos_filter *f, json_t **items,
                          int64_t *next_after, int64_t *generation, char *errbuf, size_t errlen);

#endif
