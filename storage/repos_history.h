/*
 * repos_history.h - past generations of the effective repos.csv
 *
 * migrations/0014_repos_history.sql keeps every row version with the
 * generations it was valid for. A generation N is inside the retention
 * window of window_s seconds while it is the current one or was replaced
 * (generation N + 1 made) less than window_s seconds ago. Generations from
 * before the migration, and ones replaced before the window, are "gone"
 * (ERR_GONE); generations above the current one do not exist
 * (ERR_NOT_FOUND).
 */
#ifndef INGESTD_REPOS_HISTORY_H
#define INGESTD_REPOS_HISTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct db;

/* Versions deleted by one repos_history_sweep() call at most. */
#define REPOS_HISTORY_SWEEP_BATCH 50000

/*
 * Append the bytes generation `generation` served (the same as GET
 * /api/v1/repos.csv returned while it was current) to out; *updated_ms gets
 * when the generation was made. ERR_NOT_FOUND / ERR_GONE as above.
 */
enum err repos_history_render(struct db *db, int64_t generation, long long window_s,
                              struct buf *out, long long *updated_ms, char *errbuf, size_t errlen);

/*
 * The rows that differ between generations from and to (from <= to, both in
 * the window), as the JSON body of GET /api/v1/repos/diff (API: `from`,
 * `to`, `columns` (of `to`, then those only `from` has), counts `added`,
 * `changed`, `removed`, and `rows`, each {change, origin, path, branch,
 * columns: {name: value}, and for changed rows `changed` (names) and
 * `previous` (their values in `from`)}). Rows are in the order of `to`,
 * removed rows last in the order of `from`. A column that one generation
 * lacks reads as empty. ERR_BAD_INPUT when from > to.
 */
enum err repos_history_diff(struct db *db, int64_t from, int64_t to, long long window_s,
                            json_t **diff, char *errbuf, size_t errlen);

/*
 * Delete up to REPOS_HISTORY_SWEEP_BATCH row versions of repos_history and
 * every merge's row of repos_history_merges that only generations outside
 * the window used, and those generations' rows of repos_generations
 * (they read as 410 either way), in one statement of its own (called after
 * merges and PUTs). Never fails its caller: an error is logged and the next call
 * sweeps. Returns how many were deleted (a full batch: more may be left).
 */
long long repos_history_sweep(struct db *db, long long window_s);

#endif
