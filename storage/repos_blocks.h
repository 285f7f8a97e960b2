/*
 * repos_blocks.h - the effective repos.csv rendered in blocks of positions
 *
 * Block b holds the rows at positions b*REPOS_BLOCK_ROWS+1 ..
 * (b+1)*REPOS_BLOCK_ROWS, in position order; block -1 is the header line.
 * The header followed by every block, in order, is exactly the file
 * repos_store_render() gives (MERGE.md "Output"). A block's bytes depend
 * only on its rows and the columns, so a caller that holds the blocks of
 * generation G needs, for a later generation, only the blocks holding a row
 * written after G - the positions whose version of G went to repos_history
 * since (merges move there every row they update, PUT every row) and those
 * past G's last block - unless the columns changed, or the versions retired
 * after G are no longer all kept (G older than the oldest generation in
 * repos_generations): then every block.
 */
#ifndef INGESTD_REPOS_BLOCKS_H
#define INGESTD_REPOS_BLOCKS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct db;

#define REPOS_BLOCK_ROWS 32
#define REPOS_BLOCK_ROWS_SQL "32" /* the same, spelled for SQL text */

/* One rendered block (-1: the header line); data is valid during the call only. */
typedef enum err (*repos_block_fn)(void *ctx, long long block, const char *data, size_t len,
                                   char *errbuf, size_t errlen);

struct repos_blocks {
    /* in: the generation whose blocks the caller holds, and its columns (since < 0: none) */
    int64_t since;
    json_t *since_cols;
    long long since_nblocks; /* the blocks of generation since */
    repos_block_fn fn;
    void *ctx;
    /* out */
    int64_t generation;
    long long updated_ms;
    json_t *cols;       /* the generation's columns; the caller decrefs */
    long long nblocks;  /* blocks 0 .. nblocks-1 make the file */
    long long rendered; /* blocks passed to fn (the header not counted) */
    int full;           /* every block was rendered */
};

/*
 * From one snapshot of the current generation: fn gets the header line,
 * then in ascending order every block that differs from generation
 * rb->since (every block when since < 0, since is newer or no longer
 * kept, or the columns differ). The blocks not passed are byte for byte those of generation
 * since. Fills rb's outputs (rb->cols also on failure, or NULL).
 */
enum err repos_blocks_render(struct db *db, struct repos_blocks *rb, char *errbuf, size_t errlen);

#endif
