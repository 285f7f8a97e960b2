/*
 * inventory_part.c - the catalog partitions of inventory data files
 *
 * A partition's life: inventory_stage.c creates s3_objects_inv_<part> with
 * inventory_part_table_sql() in the transaction that COPYs the file into it
 * (so with wal_level minimal its rows skip the WAL); inventory_apply.c
 * attaches it, keeps only its lines the catalog did not have, and merges a
 * small one into partition 0. Everything here runs inside the apply's one
 * transaction, so a failed job leaves the catalog's partitions as they were.
 */
#include "storage/inventory_part.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/db.h"
#include "storage/pgcopy.h"

int
inventory_part_key_cmp(const char *b1, const char *k1, const char *b2, const char *k2)
{
    int c = strcmp(b1, b2);

    return c ? c : strcmp(k1, k2);
}

/*
 * An inventory partition's pages are filled to this percentage: a later
 * inventory that changes a key turns the flag of its old record off, and
 * with room on the record's page (and no index on the flag here) that
 * update is HOT, writing no index entry. (An index built after HOT updates
 * in the same transaction could not be used by it: the apply builds a
 * file's indexes before it updates any of its rows.)
 */
#define INVENTORY_FILLFACTOR "95"

void
inventory_part_table_sql(struct buf *sql, int part)
{
    buf_printf(sql,
               "CREATE TABLE s3_objects_inv_%d (LIKE s3_objects INCLUDING DEFAULTS INCLUDING "
               "CONSTRAINTS, CONSTRAINT s3_objects_inv_%d_part CHECK (part = %d)) "
               "WITH (fillfactor = " INVENTORY_FILLFACTOR "); "
               /* the partial indexes of 0010: ATTACH finds them and builds nothing */
               "CREATE INDEX s3_objects_inv_%d_attr ON s3_objects_inv_%d USING gin (attributes "
               "jsonb_path_ops) WHERE attributes IS NOT NULL; "
               "CREATE INDEX s3_objects_inv_%d_annot ON s3_objects_inv_%d (bucket, key, sequencer) "
               "WHERE attributes IS NOT NULL; "
               "CREATE INDEX s3_objects_inv_%d_ingest ON s3_objects_inv_%d (ingest_id) "
               "WHERE ingest_id IS NOT NULL",
               part, part, part, part, part, part, part, part, part);
}

void
inventory_part_index_sql(struct buf *sql, int part)
{
    buf_printf(sql,
               "CREATE INDEX s3_objects_inv_%d_key ON s3_objects_inv_%d (bucket, key, sequencer); "
               "CREATE INDEX s3_objects_inv_%d_id ON s3_objects_inv_%d USING brin (id) "
               "WITH (pages_per_range = 32)",
               part, part, part, part);
}

enum err
inventory_part_ensure_indexed(struct db *db, int part, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    struct buf sql;
    enum err rc;

    buf_init(&sql, 0);
    buf_printf(&sql,
               "SELECT to_regclass('s3_objects_inv_%d') IS NOT NULL AND "
               "to_regclass('s3_objects_inv_%d_key') IS NULL",
               part, part);
    rc = db_query(db, &res, sql.data, 0, NULL, errbuf, errlen);
    if (!rc && PQgetvalue(res, 0, 0)[0] == 't') {
        buf_reset(&sql);
        inventory_part_index_sql(&sql, part);
        buf_printf(&sql, "; ANALYZE s3_objects_inv_%d", part);
        rc = db_exec(db, sql.data, errbuf, errlen);
    }
    PQclear(res);
    buf_release(&sql);
    return rc;
}

enum err
inventory_part_attach(struct db *db, const struct inventory_part *f, size_t n, char *errbuf,
                      size_t errlen)
{
    struct buf sql;
    size_t i;
    enum err rc = ERR_OK;

    buf_init(&sql, 0);
    for (i = 0; i < n && !rc; i++) {
        buf_reset(&sql);
        if (f[i].records == 0) /* a file without lines needs no partition */
            buf_printf(&sql, "DROP TABLE s3_objects_inv_%d", f[i].part);
        else
            buf_printf(&sql,
                       "ALTER TABLE s3_objects ATTACH PARTITION s3_objects_inv_%d FOR VALUES "
                       "IN (%d)",
                       f[i].part, f[i].part);
        rc = db_exec(db, sql.data, errbuf, errlen);
    }
    buf_release(&sql);
    return rc;
}

/* Append "bucket\x1fkey" as an element of the array literal being built in out. */
static void
boundary_elem(struct buf *out, const char *bucket, const char *key, int first)
{
    struct buf e;

    buf_init(&e, 0);
    buf_printf(&e, "%s\x1f%s", bucket, key);
    pgcopy_param_elem(out, e.data, e.len, first);
    buf_release(&e);
}

void
inventory_part_order_problems(const struct inventory_part *f, size_t n, int *all,
                              struct buf *boundary)
{
    const struct inventory_part *prev = NULL;
    size_t nb = 0;
    size_t i;

    *all = 0;
    buf_append_char(boundary, '{');
    for (i = 0; i < n; i++) {
        int c;

        if (!f[i].first_key) /* (files without lines sort last) */
            continue;
        if (!f[i].sorted)
            *all = 1;
        if (prev) {
            c = inventory_part_key_cmp(prev->last_bucket, prev->last_key, f[i].first_bucket,
                                       f[i].first_key);
            if (c > 0)
                *all = 1;
            else if (c == 0)
                boundary_elem(boundary, f[i].first_bucket, f[i].first_key, nb++ == 0);
        }
        prev = &f[i];
    }
    buf_append_char(boundary, '}');
}

void
inventory_part_lines_sql(struct buf *sql, const struct inventory_part *f, size_t n)
{
    size_t i;
    int any = 0;

    for (i = 0; i < n; i++) {
        if (!f[i].records)
            continue;
        buf_printf(sql, "%sSELECT bucket, key, version_id FROM s3_objects_inv_%d",
                   any ? " UNION ALL " : "", f[i].part);
        any = 1;
    }
    if (!any)
        buf_append_str(sql, "SELECT NULL::text AS bucket, NULL::text AS key, NULL::text AS "
                            "version_id WHERE false");
}

/* Append the SQL that rebuilds partition `part` from its lines not listed in inv_same. */
static void
rebuild_sql(struct buf *sql, int part)
{
    buf_printf(sql,
               "ALTER TABLE s3_objects DETACH PARTITION s3_objects_inv_%d; "
               "DROP INDEX IF EXISTS s3_objects_inv_%d_key, s3_objects_inv_%d_id, "
               "s3_objects_inv_%d_attr, s3_objects_inv_%d_annot, s3_objects_inv_%d_ingest; "
               "ALTER TABLE s3_objects_inv_%d RENAME TO s3_objects_inv_%d_all; ",
               part, part, part, part, part, part, part, part);
    inventory_part_table_sql(sql, part);
    buf_printf(sql,
               "; INSERT INTO s3_objects_inv_%d SELECT * FROM s3_objects_inv_%d_all s WHERE NOT "
               "EXISTS (SELECT 1 FROM inv_same u WHERE u.part = %d AND u.id = s.id); "
               "DROP TABLE s3_objects_inv_%d_all; ",
               part, part, part, part);
    inventory_part_index_sql(sql, part);
    buf_printf(sql,
               "; ALTER TABLE s3_objects ATTACH PARTITION s3_objects_inv_%d FOR VALUES IN (%d); "
               "ANALYZE s3_objects_inv_%d",
               part, part, part);
}

enum err
inventory_part_keep_changed(struct db *db, int part, long long records, long long changed,
                            char *errbuf, size_t errlen)
{
    struct buf sql;
    enum err rc;

    if (changed == records && changed > 0)
        return inventory_part_ensure_indexed(db, part, errbuf, errlen);
    buf_init(&sql, 0);
    if (changed == 0)
        buf_printf(&sql,
                   "ALTER TABLE s3_objects DETACH PARTITION s3_objects_inv_%d; "
                   "DROP TABLE s3_objects_inv_%d",
                   part, part);
    else if (changed * 2 < records)
        rebuild_sql(&sql, part);
    else
        buf_printf(&sql,
                   "DELETE FROM s3_objects_inv_%d s USING inv_same u WHERE u.part = %d AND "
                   "u.id = s.id",
                   part, part);
    rc = db_exec(db, sql.data, errbuf, errlen);
    if (!rc && changed > 0)
        rc = inventory_part_ensure_indexed(db, part, errbuf, errlen);
    buf_release(&sql);
    return rc;
}

enum err
inventory_part_merge_small(struct db *db, const struct inventory_part *f, size_t n,
                           long long merge_below, char *errbuf, size_t errlen)
{
    struct buf sql;
    struct buf drop;
    size_t i;
    int any = 0;
    enum err rc = ERR_OK;

    buf_init(&sql, 0);
    buf_init(&drop, 0);
    buf_append_str(&sql, "UPDATE s3_objects SET part = 0 WHERE part = ANY ('{");
    for (i = 0; i < n; i++) {
        long long left = f[i].records - f[i].unchanged;

        if (left <= 0 || left >= merge_below)
            continue;
        buf_printf(&sql, "%s%d", any ? "," : "", f[i].part);
        buf_printf(&drop,
                   "; ALTER TABLE s3_objects DETACH PARTITION s3_objects_inv_%d; "
                   "DROP TABLE s3_objects_inv_%d",
                   f[i].part, f[i].part);
        any = 1;
    }
    buf_append_str(&sql, "}'::int[])");
    buf_append(&sql, drop.data, drop.len);
    if (any)
        rc = db_exec(db, sql.data, errbuf, errlen);
    buf_release(&sql);
    buf_release(&drop);
    return rc;
}

/* Of the attached inventory partitions holding only rows of `buckets`, the parts smallest first. */
static enum err
compact_candidates(struct db *db, const char *buckets, PGresult **res, char *errbuf, size_t errlen)
{
    return db_query(db, res,
                    "SELECT f.part FROM inventory_files f JOIN pg_class c ON c.relname = "
                    "'s3_objects_inv_' || f.part JOIN pg_inherits i ON i.inhrelid = c.oid AND "
                    "i.inhparent = 's3_objects'::regclass WHERE f.part IS NOT NULL "
                    "GROUP BY f.part HAVING bool_and(f.buckets <@ $1::text[]) "
                    "ORDER BY max(greatest(c.reltuples, 0)), f.part",
                    1, &buckets, errbuf, errlen);
}

/* Append the SQL that moves the rows of partitions `parts` (an int[] literal) into `into`. */
static enum err
merge_sql(struct db *db, struct buf *sql, const char *parts, int into, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    char n[16];
    const char *params[1];
    enum err rc;

    snprintf(n, sizeof(n), "%d", into);
    params[0] = n;
    /* every column of the catalog, in order, with part replaced by the new partition's */
    rc = db_query(db, &res,
                  "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum), "
                  "string_agg(CASE WHEN attname = 'part' THEN $1 ELSE quote_ident(attname) END, "
                  "', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = "
                  "'s3_objects'::regclass AND attnum > 0 AND NOT attisdropped",
                  1, params, errbuf, errlen);
    if (rc)
        return rc;
    inventory_part_table_sql(sql, into);
    /* in id order: each file's ids grow with time, so the BRIN index on id stays useful */
    buf_printf(sql,
               "; INSERT INTO s3_objects_inv_%d (%s) SELECT %s FROM s3_objects WHERE part = "
               "ANY ('%s'::int[]) ORDER BY id; ",
               into, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), parts);
    inventory_part_index_sql(sql, into);
    buf_printf(sql, "; UPDATE inventory_files SET part = %d WHERE part = ANY ('%s'::int[])", into,
               parts);
    PQclear(res);
    return ERR_OK;
}

enum err
inventory_part_compact(struct db *db, const char *buckets, int max_parts, char *errbuf,
                       size_t errlen)
{
    PGresult *res = NULL;
    PGresult *seq = NULL;
    struct buf parts;
    struct buf sql;
    int n;
    int i;
    enum err rc;

    if (max_parts < 1)
        return ERR_OK;
    rc = compact_candidates(db, buckets, &res, errbuf, errlen);
    if (rc)
        return rc;
    n = PQntuples(res);
    if (n <= max_parts) {
        PQclear(res);
        return ERR_OK;
    }
    buf_init(&parts, 0);
    buf_init(&sql, 0);
    buf_append_char(&parts, '{');
    for (i = 0; i < n - max_parts + 1; i++)
        buf_printf(&parts, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
    buf_append_char(&parts, '}');
    rc = db_query(db, &seq, "SELECT nextval('s3_objects_part')", 0, NULL, errbuf, errlen);
    if (!rc)
        rc = merge_sql(db, &sql, parts.data, atoi(PQgetvalue(seq, 0, 0)), errbuf, errlen);
    /* all in the caller's transaction: nobody sees a row twice or not at all */
    for (i = 0; !rc && i < n - max_parts + 1; i++)
        buf_printf(&sql,
                   "; ALTER TABLE s3_objects DETACH PARTITION s3_objects_inv_%s; "
                   "DROP TABLE s3_objects_inv_%s",
                   PQgetvalue(res, i, 0), PQgetvalue(res, i, 0));
    if (!rc) {
        buf_printf(&sql,
                   "; ALTER TABLE s3_objects ATTACH PARTITION s3_objects_inv_%s FOR VALUES IN "
                   "(%s); ANALYZE s3_objects_inv_%s",
                   PQgetvalue(seq, 0, 0), PQgetvalue(seq, 0, 0), PQgetvalue(seq, 0, 0));
        rc = db_exec(db, sql.data, errbuf, errlen);
    }
    PQclear(seq);
    PQclear(res);
    buf_release(&parts);
    buf_release(&sql);
    return rc;
}
