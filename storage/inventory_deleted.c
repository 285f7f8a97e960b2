/*
 * inventory_deleted.c - deletion detection of an inventory job
 *
 * In the apply's transaction (inventory_apply.c), before the staged files'
 * partitions are attached: the compared files' markers (inventory_stage.c:
 * current records of a file's key range that its lines do not list, reason
 * 'Unlisted') leave the partitions for inv_unlisted, and inv_deleted lists
 * the current records the inventory does not list. Outside the compared
 * files' ranges the catalog is read (index range scans per bucket in each gap between
 * them) and checked against the staged lines; inside, only the marked
 * records are read again (one index probe each): still current, not newer
 * than the inventory, marked by every compared file whose range holds them;
 * then those a staged line lists leave (a key can go on in the next file,
 * or be staged whole). Without compared files, one anti join of the current
 * records with the staged lines, as before files were compared.
 *
 * Thread-safety: runs on the caller's connection.
 */
#include "storage/inventory_deleted.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "storage/db.h"

/* What the statements are built from (borrowed). */
struct deleted {
    struct db *db;
    const struct inventory_part *files;
    size_t nfiles;
    int versioned; /* some file lists versions: a record is listed by its version */
    int ranges;    /* range queries appended */
};

enum err
inventory_deleted_take_markers(struct db *db, const struct inventory_part *f, size_t n,
                               char *errbuf, size_t errlen)
{
    struct buf sql;
    size_t i;
    enum err rc;

    buf_init(&sql, 0);
    buf_append_str(&sql, "CREATE TEMP TABLE inv_unlisted (part int, bucket text COLLATE \"C\", "
                         "key text COLLATE \"C\", version_id text COLLATE \"C\") ON COMMIT DROP");
    for (i = 0; i < n; i++)
        if (f[i].unlisted > 0)
            buf_printf(&sql,
                       "; WITH m AS (DELETE FROM s3_objects_inv_%d WHERE reason = 'Unlisted' "
                       "RETURNING part, bucket, key, version_id) INSERT INTO inv_unlisted "
                       "SELECT * FROM m",
                       f[i].part);
    buf_append_str(&sql, "; CREATE INDEX ON inv_unlisted (bucket, key); ANALYZE inv_unlisted");
    rc = db_exec(db, sql.data, errbuf, errlen);
    buf_release(&sql);
    return rc;
}

/* Append s as an escaped literal. */
static enum err
append_literal(struct deleted *a, struct buf *sql, const char *s, char *errbuf, size_t errlen)
{
    char *lit = PQescapeLiteral(db_conn(a->db), s, strlen(s));

    if (!lit)
        return err_set(ERR_INTERNAL, errbuf, errlen, "cannot quote a name: %s",
                       PQerrorMessage(db_conn(a->db)));
    buf_append_str(sql, lit);
    PQfreemem(lit);
    return ERR_OK;
}

/* Append (bucket, key) as two escaped literals, in parentheses unless bare. */
static enum err
append_pair(struct deleted *a, struct buf *sql, const char *bucket, const char *key, int bare,
            char *errbuf, size_t errlen)
{
    char *b = PQescapeLiteral(db_conn(a->db), bucket, strlen(bucket));
    char *k = b ? PQescapeLiteral(db_conn(a->db), key, strlen(key)) : NULL;
    enum err rc = ERR_OK;

    if (k)
        buf_printf(sql, bare ? "%s, %s" : "(%s, %s)", b, k);
    else
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "cannot quote a key: %s",
                     PQerrorMessage(db_conn(a->db)));
    PQfreemem(b);
    PQfreemem(k);
    return rc;
}

/* The start of a query of the current records c not newer than $2. */
#define CURRENT_OLD_SQL                                                                            \
    "SELECT c.bucket, c.key, c.version_id FROM s3_objects c WHERE c.is_current AND "               \
    "coalesce(c.event_time, c.observed_at, c.ingested_at) <= $2::timestamptz"

/*
 * Append the current records of bucket b with keys above lo and below hi
 * (NULL: no bound): scalar conditions, which bound the index scan at both
 * ends (a row comparison would end it only at the bucket's end).
 */
static enum err
bucket_range_sql(struct deleted *a, struct buf *sql, const char *b, const char *lo, const char *hi,
                 char *errbuf, size_t errlen)
{
    enum err rc;

    buf_append_str(sql, a->ranges++ ? " UNION ALL " : "");
    buf_append_str(sql, CURRENT_OLD_SQL " AND c.bucket = ");
    rc = append_literal(a, sql, b, errbuf, errlen);
    if (!rc && lo) {
        buf_append_str(sql, " AND c.key > ");
        rc = append_literal(a, sql, lo, errbuf, errlen);
    }
    if (!rc && hi) {
        buf_append_str(sql, " AND c.key < ");
        rc = append_literal(a, sql, hi, errbuf, errlen);
    }
    return rc;
}

/* Append the current records strictly between (lb, lk) and (hb, hk) (a NULL key: the bucket's end).
 */
static enum err
gap_sql(struct deleted *a, struct buf *sql, const char *lb, const char *lk, const char *hb,
        const char *hk, char *errbuf, size_t errlen)
{
    enum err rc;

    if (strcmp(lb, hb) == 0)
        return bucket_range_sql(a, sql, lb, lk, hk, errbuf, errlen);
    rc = bucket_range_sql(a, sql, lb, lk, NULL, errbuf, errlen);
    if (!rc) {
        buf_append_str(sql, " UNION ALL " CURRENT_OLD_SQL " AND c.bucket > ");
        rc = append_literal(a, sql, lb, errbuf, errlen);
    }
    if (!rc) {
        buf_append_str(sql, " AND c.bucket < ");
        rc = append_literal(a, sql, hb, errbuf, errlen);
    }
    if (!rc)
        rc = bucket_range_sql(a, sql, hb, NULL, hk, errbuf, errlen);
    return rc;
}

/*
 * Append the current records outside every compared file's key range
 * (first to last key), from the first file's bucket to the last's, a few
 * index range scans per gap between the ranges: there, the listed keys are
 * the staged lines; inside, the markers say what is unlisted.
 */
static enum err
outside_compared_sql(struct deleted *a, struct buf *sql, char *errbuf, size_t errlen)
{
    const struct inventory_part *end = NULL;
    size_t i;
    enum err rc = ERR_OK;

    for (i = 0; !rc && i < a->nfiles; i++) {
        const struct inventory_part *f = &a->files[i];

        if (!f->compared || !f->first_key)
            continue;
        if (!end)
            rc = bucket_range_sql(a, sql, f->first_bucket, NULL, f->first_key, errbuf, errlen);
        else if (inventory_part_key_cmp(end->last_bucket, end->last_key, f->first_bucket,
                                        f->first_key) < 0)
            rc = gap_sql(a, sql, end->last_bucket, end->last_key, f->first_bucket, f->first_key,
                         errbuf, errlen);
        if (!end || inventory_part_key_cmp(end->last_bucket, end->last_key, f->last_bucket,
                                           f->last_key) < 0)
            end = f;
    }
    if (!end)
        return ERR_INTERNAL; /* BUG: called without a compared file */
    if (!rc)
        rc = bucket_range_sql(a, sql, end->last_bucket, end->last_key, NULL, errbuf, errlen);
    return rc;
}

/*
 * Append the marked current records (one index probe each) that every
 * compared file whose range holds them marked.
 */
static enum err
marked_by_all_sql(struct deleted *a, struct buf *sql, char *errbuf, size_t errlen)
{
    size_t i;
    int any = 0;
    enum err rc = ERR_OK;

    buf_append_str(sql, "SELECT c.bucket, c.key, c.version_id FROM (SELECT DISTINCT bucket, key, "
                        "version_id FROM inv_unlisted) u, LATERAL (SELECT c.* FROM s3_objects c "
                        "WHERE c.bucket = u.bucket AND c.key = u.key AND c.version_id = "
                        "u.version_id AND c.is_current AND coalesce(c.event_time, c.observed_at, "
                        "c.ingested_at) <= $2::timestamptz LIMIT 1) c WHERE NOT EXISTS (SELECT 1 "
                        "FROM (VALUES ");
    for (i = 0; !rc && i < a->nfiles; i++) {
        const struct inventory_part *f = &a->files[i];

        if (!f->compared || !f->first_key)
            continue;
        buf_printf(sql, "%s(%d, ", any ? ", " : "", f->part);
        rc = append_pair(a, sql, f->first_bucket, f->first_key, 1, errbuf, errlen);
        buf_append_str(sql, ", ");
        if (!rc)
            rc = append_pair(a, sql, f->last_bucket, f->last_key, 1, errbuf, errlen);
        buf_append_str(sql, ")");
        any = 1;
    }
    buf_append_str(sql, ") r (part, fb, fk, lb, lk) WHERE (c.bucket, c.key) >= (r.fb, r.fk) "
                        "AND (c.bucket, c.key) <= (r.lb, r.lk) AND NOT EXISTS (SELECT 1 FROM "
                        "inv_unlisted m WHERE m.part = r.part AND m.bucket = c.bucket AND m.key = "
                        "c.key AND m.version_id = c.version_id))");
    return rc;
}

/* Append: no staged line s lists the current record c (its key; its version when versioned). */
static void
listed_sql(struct deleted *a, struct buf *sql, const char *c)
{
    buf_append_str(sql, "SELECT 1 FROM (");
    inventory_part_lines_sql(sql, a->files, a->nfiles);
    buf_printf(sql,
               ") s WHERE s.bucket = %s.bucket AND s.key = %s.key AND (NOT %s OR s.version_id "
               "= %s.version_id)",
               c, c, a->versioned ? "true" : "false", c);
}

enum err
inventory_deleted_find(struct db *db, const struct inventory_part *f, size_t n, int versioned,
                       const char *buckets, const char *inv_time, char *errbuf, size_t errlen)
{
    struct deleted d = {db, f, n, versioned, 0};
    struct deleted *a = &d;
    struct buf sql;
    const char *params[2];
    size_t i;
    int marked = 0;
    int compared = 0;
    enum err rc = ERR_OK;

    for (i = 0; i < a->nfiles; i++) {
        marked |= a->files[i].unlisted > 0;
        compared |= a->files[i].compared && a->files[i].first_key;
    }
    buf_init(&sql, 0);
    buf_append_str(&sql, "CREATE TEMP TABLE inv_deleted ON COMMIT DROP AS ");
    if (!compared) {
        buf_append_str(&sql, CURRENT_OLD_SQL " AND c.bucket = ANY ($1::text[]) AND NOT EXISTS (");
        listed_sql(a, &sql, "c");
        buf_append_str(&sql, ")");
    } else {
        /* the buckets filter the gaps' rows, not their index scans (OFFSET 0 keeps it out) */
        buf_append_str(&sql, "SELECT * FROM (");
        rc = outside_compared_sql(a, &sql, errbuf, errlen);
        buf_append_str(&sql, " OFFSET 0) g WHERE g.bucket = ANY ($1::text[])");
        if (!rc && marked) {
            buf_append_str(&sql, " UNION ALL ");
            rc = marked_by_all_sql(a, &sql, errbuf, errlen);
        }
    }
    params[0] = buckets;
    params[1] = inv_time;
    /* the gaps and probes are index scans; the planner cannot tell how narrow they are */
    if (!rc && compared)
        rc = db_exec(a->db, "SET LOCAL enable_seqscan = off", errbuf, errlen);
    if (!rc)
        rc = db_query(a->db, NULL, sql.data, 2, params, errbuf, errlen);
    if (!rc && compared)
        rc = db_exec(a->db, "SET LOCAL enable_seqscan = on", errbuf, errlen);
    if (!rc && compared) {
        buf_reset(&sql);
        buf_append_str(&sql, "DELETE FROM inv_deleted d WHERE EXISTS (");
        listed_sql(a, &sql, "d");
        buf_append_str(&sql, ")");
        rc = db_exec(a->db, sql.data, errbuf, errlen);
    }
    buf_release(&sql);
    return rc;
}
