/*
 * inventory_part.h - the catalog partitions of inventory data files
 *
 * Internal to storage/ (inventory_stage.c and inventory_apply.c). Every
 * staged data file has a table of its own, s3_objects_inv_<part>, shaped
 * like the catalog (migration 0004): staging creates and fills it, the final
 * apply attaches it to s3_objects as the LIST partition FOR VALUES IN
 * (<part>), strips or rebuilds it when some of its lines turn out to be
 * known already, or moves a few rows into partition 0 and drops it.
 *
 * Keys compare under COLLATE "C" (bytes): the `sorted`, first and last keys
 * that staging records and the apply's checks use this order.
 *
 * The functions that run SQL do so in the caller's open transaction. Pure
 * functions otherwise; thread-safe.
 */
#ifndef INGESTD_INVENTORY_PART_H
#define INGESTD_INVENTORY_PART_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

struct db;

/* A staged data file as the apply sees it (inventory_files row, borrowed strings). */
struct inventory_part {
    int part;
    int sorted;
    long long records;        /* its lines staged (not those skipped while compared) */
    long long unchanged;      /* lines identical to their version's latest stored record */
    int compared;             /* compared with the catalog while staged (inventory_compare.h) */
    long long unlisted;       /* its markers of unlisted current records (reason 'Unlisted') */
    long long same;           /* its staged lines found identical while streaming ('Same') */
    const char *first_bucket; /* NULL for a file without lines */
    const char *first_key;
    const char *last_bucket;
    const char *last_key;
};

/* (bucket, key) order under COLLATE "C" (bytes; neither holds a NUL): <0, 0, >0. */
int inventory_part_key_cmp(const char *b1, const char *k1, const char *b2, const char *k2);

/*
 * Append the DDL of partition table `part`: the catalog's columns and checks,
 * its part, and the partial indexes of migration 0010 (empty for inventory
 * lines, so they cost nothing while a file is COPYed). The lookup indexes
 * come from inventory_part_index_sql().
 */
void inventory_part_table_sql(struct buf *sql, int part);

/*
 * Append the DDL of partition `part`'s lookup indexes: (bucket, key,
 * sequencer) for lists and lookups, and BRIN on id (its ids grow with the
 * physical order of its rows). Built after its rows are in, in one pass.
 */
void inventory_part_index_sql(struct buf *sql, int part);

/* Build partition `part`'s lookup indexes when its table exists without them (then ANALYZE). */
enum err inventory_part_ensure_indexed(struct db *db, int part, char *errbuf, size_t errlen);

/* Attach every file's table as a partition; a file without lines needs none (dropped). */
enum err inventory_part_attach(struct db *db, const struct inventory_part *f, size_t n,
                               char *errbuf, size_t errlen);

/*
 * Keys whose current record the staging could not decide: all of them when
 * a file was not sorted or two files' key ranges overlap (*all = 1), else
 * the keys where one file ends and the next begins, as an array literal of
 * "bucket\x1fkey" elements appended to boundary ("{}" when none). f is in
 * (first_bucket, first_key) order, files without lines last.
 */
void inventory_part_order_problems(const struct inventory_part *f, size_t n, int *all,
                                   struct buf *boundary);

/* Append a query of the (bucket, key, version_id) of every staged line of the files. */
void inventory_part_lines_sql(struct buf *sql, const struct inventory_part *f, size_t n);

/*
 * A file's partition after its lines were compared with the catalog: kept
 * whole when all lines are new, dropped when none is, else rebuilt from the
 * new lines (its lines not listed in the temporary table inv_same (part,
 * id) of unchanged lines) when they are fewer than half (so a mostly
 * unchanged file leaves no mostly empty table behind) or stripped of the
 * others. A partition that stays gets its lookup indexes.
 */
enum err inventory_part_keep_changed(struct db *db, int part, long long records, long long changed,
                                     char *errbuf, size_t errlen);

/*
 * Files with fewer than merge_below new records (their partition's rows, all
 * final by now) move them to partition 0 and drop their partition, so that
 * frequent inventories with few changes do not pile up partitions.
 */
enum err inventory_part_merge_small(struct db *db, const struct inventory_part *f, size_t n,
                                    long long merge_below, char *errbuf, size_t errlen);

/*
 * Keep the catalog's inventory partitions of `buckets` (a text[] literal: the
 * apply's source buckets, locked exclusively) at most max_parts (< 1: no
 * limit): when the attached partitions whose rows are all of those buckets
 * are more, the smallest of them move their rows, in id order, into one new
 * partition and are dropped (their inventory_files rows point at it). No
 * record changes; the rows of other buckets are never touched.
 */
enum err inventory_part_compact(struct db *db, const char *buckets, int max_parts, char *errbuf,
                                size_t errlen);

#endif
