/*
 * inventory_apply.c - the final transaction of an inventory job
 *
 * inventory_store_apply() turns the job's staged files into catalog records
 * in one transaction. Files compared with the catalog while they streamed
 * (inventory_stage.c) hold only their changed key groups and markers of the
 * current records of their key ranges that they do not list: the markers
 * leave the partitions first (inv_unlisted), and deletion detection reads
 * the catalog only outside the compared ranges, plus the marked records
 * (each checked again: still current, not newer than the inventory, marked
 * by every compared file whose range holds it, listed by no staged line).
 * The staged files' tables become partitions of the catalog at once. When
 * the source buckets already had records, the lines are compared with
 * them: first with the current records (each the latest of its version:
 * one hash join, which settles most lines of a repeated inventory), then
 * the lines left with the latest record of their version, among the
 * records of their keys only. Lines identical to their version's latest
 * record add nothing (a file whose lines all do is dropped before its
 * lookup indexes are ever built), lines of keys with records get
 * sequencers after the key's greatest, and current records the inventory
 * does not list (found before attaching) get a Deleted record. The current
 * state is then recomputed for the keys that had records, and for keys
 * whose lines the staging saw apart. The job is marked succeeded in the
 * same transaction, which also journals io.ingestd.inventory.succeeded
 * (outbox_store.h). Before it begins, the job is marked applying
 * (applying_at, its phase) on its own.
 *
 * The phases below run in this order, each one statement or a few; the
 * order and the SQL are tuned (hash joins against many stored versions,
 * ANALYZE of every temporary table before it is joined): keep them.
 *
 * Invariants: the source buckets are locked exclusively (locks.h, 4) from
 * before the catalog is first read until COMMIT, so no event batch changes
 * their current state meanwhile; on any error everything rolls back and the
 * staged files stay for a resume.
 *
 * Thread-safety: runs on the caller's connection; one apply per job (the
 * runner holds the job's lock).
 */
#include "storage/inventory_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crashpoint.h"
#include "storage/db.h"
#include "storage/inventory_deleted.h"
#include "storage/inventory_part.h"
#include "storage/locks.h"
#include "storage/outbox_store.h"
#include "storage/s3_key_index.h"

/* The columns of inv_recs, read from a record t of the catalog (REC_COLS: of o). */
#define REC_COLS_OF(t)                                                                             \
    t ".tableoid::regclass::text, " t ".id, " t ".bucket, " t ".key, " t ".version_id, " t         \
      ".sequencer, " t ".event_type, " t ".is_delete_marker, " t ".is_current"
#define REC_COLS REC_COLS_OF("o")
#define REC_COLS_C REC_COLS_OF("c")
#define REC_COLS_S REC_COLS_OF("s")

/*
 * inv_recs: every record of every touched key, each with its partition and
 * its flag, and whether it can be the key's current record (candidate: not
 * the stored records of a key in inv_kb, whose resequenced lines come after
 * each of them); inv_kb: the keys whose records it holds (known_records()).
 */
static const char recs_tables_sql[] =
    "CREATE TEMP TABLE inv_recs (rel text, id uuid, bucket text COLLATE \"C\", key text "
    "COLLATE \"C\", version_id text COLLATE \"C\", sequencer text COLLATE \"C\", event_type text, "
    "is_delete_marker boolean, is_current boolean, candidate boolean) ON COMMIT DROP; "
    "CREATE TEMP TABLE inv_kb (bucket text COLLATE \"C\", key text COLLATE \"C\", maxseq text "
    "COLLATE \"C\", PRIMARY KEY (bucket, key)) ON COMMIT DROP";
/* The touched keys inv_recs does not hold yet. */
static const char other_keys_sql[] =
    "CREATE TEMP TABLE inv_other ON COMMIT DROP AS SELECT t.bucket, t.key FROM inv_touched t "
    "WHERE NOT EXISTS (SELECT 1 FROM inv_kb kb WHERE kb.bucket = t.bucket AND kb.key = t.key); "
    "ANALYZE inv_other";
/* Their records. */
static const char other_records_sql[] =
    "INSERT INTO inv_recs SELECT " REC_COLS ", true FROM s3_objects o JOIN inv_other t ON "
    "o.bucket = t.bucket AND o.key = t.key";
/*
 * The current record of each touched key: of the latest record of each of
 * its versions (lv), the latest Created one or delete marker; among its
 * candidates (a key with resequenced lines: among those).
 */
static const char current_from_touched_sql[] =
    "CREATE TEMP TABLE inv_cur ON COMMIT DROP AS "
    "WITH lv AS (SELECT DISTINCT ON (bucket, key, version_id) id, bucket, key, sequencer, "
    "  event_type, is_delete_marker FROM inv_recs WHERE candidate "
    "  ORDER BY bucket, key, version_id, sequencer DESC, event_type DESC, id DESC), "
    "top AS (SELECT DISTINCT ON (bucket, key) id, is_delete_marker FROM lv "
    "  WHERE event_type = 'Created' OR is_delete_marker "
    "  ORDER BY bucket, key, sequencer DESC, id DESC) "
    "SELECT id FROM top WHERE NOT is_delete_marker";
/* The records whose flag is wrong (on: it turns on), with their partition (rel). */
static const char flag_flips_sql[] =
    "CREATE TEMP TABLE inv_flip ON COMMIT DROP AS "
    "SELECT r.rel, r.bucket, r.key, r.id, c.id IS NOT NULL AS turn_on "
    "FROM inv_recs r LEFT JOIN inv_cur c ON c.id = r.id "
    "WHERE r.is_current <> (c.id IS NOT NULL)";

/* A staged line s identical to the latest record lv of its version. */
#define LINE_UNCHANGED                                                                             \
    "lv.is_delete_marker = s.is_delete_marker AND lv.event_type = s.event_type "                   \
    "AND lv.size IS NOT DISTINCT FROM s.size AND lv.etag IS NOT DISTINCT FROM s.etag "             \
    "AND lv.storage_class IS NOT DISTINCT FROM s.storage_class "                                   \
    "AND lv.last_modified IS NOT DISTINCT FROM s.last_modified"

/*
 * Staged lines s (of the parts not compared, first %s) identical to a record lv of
 * the catalog outside the job's parts (second %s) of the same version:
 * joined with the current records (each the latest of its version), the
 * fast path of a repeated inventory.
 */
#define SAME_AS_CURRENT_SQL                                                                        \
    "INSERT INTO inv_same SELECT s.part, s.id FROM s3_objects s "                                  \
    "JOIN s3_objects lv ON lv.bucket = s.bucket AND lv.key = s.key AND lv.version_id = "           \
    "s.version_id AND " LINE_UNCHANGED " WHERE s.part = ANY ('%s'::int[]) AND lv.part <> ALL "     \
    "('%s'::int[]) AND lv.bucket = ANY ($1::text[]) AND lv.is_current"

/*
 * The other staged lines (not in inv_same) identical to the latest record
 * of their version: joined with every record of their version (a hash
 * join, no sort), a line is unchanged when the greatest (sequencer, event
 * type) among the equal records is the greatest of all.
 */
#define LATEST_OF(cond) "max((lv.sequencer || ' ' || lv.event_type) COLLATE \"C\")" cond
#define SAME_AS_LATEST_SQL                                                                         \
    "INSERT INTO inv_same SELECT s.part, s.id FROM s3_objects s JOIN s3_objects lv ON "            \
    "lv.bucket = s.bucket AND lv.key = s.key AND lv.version_id = s.version_id WHERE s.part = ANY " \
    "('%s'::int[]) AND lv.part <> ALL ('%s'::int[]) AND lv.bucket = ANY ($1::text[]) AND NOT "     \
    "EXISTS (SELECT 1 FROM inv_same u WHERE u.id = s.id) GROUP BY s.part, s.id HAVING " LATEST_OF( \
        "") " = " LATEST_OF(" FILTER (WHERE " LINE_UNCHANGED ")")

/* Whether staged line s is its key's candidate for current (ORD_CANDIDATE on), or not. */
#define CANDIDATE_COUNTER "split_part(s.sequencer, '-', 2)::numeric"
#define IS_CANDIDATE CANDIDATE_COUNTER " >= 1000000000000000"
#define NOT_CANDIDATE CANDIDATE_COUNTER " < 1000000000000000"

/* Keys with changed lines that are not their candidate: their candidate lines leave inv_same. */
#define KEEP_LATEST_SQL                                                                            \
    "CREATE TEMP TABLE inv_left_keys ON COMMIT DROP AS SELECT DISTINCT s.bucket, s.key FROM "      \
    "s3_objects s WHERE s.part = ANY ('%s'::int[]) AND NOT EXISTS (SELECT 1 FROM inv_same u "      \
    "WHERE u.id = s.id) AND " NOT_CANDIDATE "; DELETE FROM inv_same u USING s3_objects s, "        \
    "inv_left_keys k WHERE s.part = ANY ('%s'::int[]) AND s.id = u.id AND k.bucket = s.bucket "    \
    "AND k.key = s.key AND " IS_CANDIDATE "; DROP TABLE inv_left_keys"

/* The generated sequencer of a staged line s of a key whose greatest sequencer is kb.maxseq. */
#define SEQUENCER_AFTER_KB                                                                         \
    "coalesce(split_part(kb.maxseq, '-', 1), '') || '-' || lpad((coalesce(nullif(split_part("      \
    "kb.maxseq, '-', 2), ''), '0')::numeric + split_part(s.sequencer, '-', 2)::numeric)::text, "   \
    "20, '0')"

/* From this many staged lines (or lines left) on, the apply joins by hashing. */
#define BIG_JOIN_ROWS 100000
#define BIG_JOIN_ROWS_SQL "100000"

/* What the phases of one apply learn and share. */
struct apply {
    struct db *db;
    const char *job_id;
    const struct inventory_manifest *m;
    PGresult *files_res;          /* the staged files' rows; files[] borrows their strings */
    struct inventory_part *files; /* in (first_bucket, first_key) order */
    size_t nfiles;
    char *buckets;          /* text[] literal of the source buckets */
    struct buf parts;       /* int[] literal of the files' parts */
    struct buf plain_parts; /* int[] literal of the parts of the files not compared */
    struct buf boundary;    /* keys where one file ends and the next begins */
    char inv_time[64];      /* when the inventory was taken, as timestamptz text */
    int versioned;          /* some file lists versions */
    int existing;           /* the source buckets had records */
    int all_keys;           /* the staging saw every key apart (see order_problems) */
    int big_joins;          /* join by hashing only */
    long long staged;       /* staged lines */
    long long skipped;      /* lines not staged: identical to the catalog when compared */
    long long unchanged;    /* staged lines identical to their version's latest record */
    long long deleted;      /* Deleted records added */
};

/* Read the job's source buckets, whether any file is versioned, and its staged lines. */
static enum err
read_totals(struct apply *a, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    rc =
        db_query(a->db, &res,
                 "SELECT coalesce(array_agg(DISTINCT b), '{}'), coalesce(bool_or(versioned), "
                 "false), (SELECT coalesce(sum(records - skipped), 0) FROM inventory_files WHERE "
                 "job_id = $1), (SELECT coalesce(sum(skipped), 0) FROM inventory_files WHERE "
                 "job_id = $1) FROM inventory_files LEFT JOIN LATERAL unnest(buckets) AS b ON true "
                 "WHERE job_id = $1",
                 1, &a->job_id, errbuf, errlen);
    if (rc)
        return rc;
    a->buckets = xstrdup(PQgetvalue(res, 0, 0));
    a->versioned = PQgetvalue(res, 0, 1)[0] == 't';
    a->staged = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    a->skipped = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    PQclear(res);
    return ERR_OK;
}

/* Read the staged files in key order, list their parts, and find the keys seen apart. */
static enum err
read_files(struct apply *a, char *errbuf, size_t errlen)
{
    PGresult *res;
    size_t i;
    enum err rc;

    rc = db_query(a->db, &a->files_res,
                  "SELECT part, sorted, records - skipped, first_bucket, first_key, last_bucket, "
                  "last_key, compared, unlisted, same FROM inventory_files WHERE job_id = $1 AND "
                  "staged "
                  "ORDER BY first_bucket, first_key, idx",
                  1, &a->job_id, errbuf, errlen);
    if (rc)
        return rc;
    res = a->files_res;
    a->nfiles = (size_t)PQntuples(res);
    a->files = xcalloc(a->nfiles ? a->nfiles : 1, sizeof(*a->files));
    buf_append_char(&a->parts, '{');
    buf_append_char(&a->plain_parts, '{');
    for (i = 0; i < a->nfiles; i++) {
        struct inventory_part *f = &a->files[i];
        int r = (int)i;

        f->part = atoi(PQgetvalue(res, r, 0));
        f->sorted = PQgetvalue(res, r, 1)[0] == 't';
        f->records = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        f->compared = PQgetvalue(res, r, 7)[0] == 't';
        f->unlisted = strtoll(PQgetvalue(res, r, 8), NULL, 10);
        f->same = strtoll(PQgetvalue(res, r, 9), NULL, 10);
        if (!f->compared)
            buf_printf(&a->plain_parts, "%s%d", a->plain_parts.len > 1 ? "," : "", f->part);
        if (!PQgetisnull(res, r, 4)) {
            f->first_bucket = PQgetvalue(res, r, 3);
            f->first_key = PQgetvalue(res, r, 4);
            f->last_bucket = PQgetvalue(res, r, 5);
            f->last_key = PQgetvalue(res, r, 6);
        }
        buf_printf(&a->parts, "%s%d", i ? "," : "", f->part);
    }
    buf_append_char(&a->parts, '}');
    buf_append_char(&a->plain_parts, '}');
    inventory_part_order_problems(a->files, a->nfiles, &a->all_keys, &a->boundary);
    return ERR_OK;
}

/* Read when the inventory was taken: the manifest's creationTimestamp, else the job's creation. */
static enum err
read_inventory_time(struct apply *a, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    char creation[32];
    const char *params[2];
    enum err rc;

    if (a->m->has_creation_ms)
        snprintf(creation, sizeof(creation), "%lld", (long long)a->m->creation_ms);
    params[0] = a->m->has_creation_ms ? creation : NULL;
    params[1] = a->job_id;
    rc = db_query(a->db, &res,
                  "SELECT coalesce(to_timestamp($1::bigint / 1000.0), (SELECT created_at FROM "
                  "inventory_jobs WHERE id = $2))",
                  2, params, errbuf, errlen);
    if (rc)
        return rc;
    snprintf(a->inv_time, sizeof(a->inv_time), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return ERR_OK;
}

/* Lock the source buckets exclusively (event batches hold them shared); have they records? */
static enum err
lock_buckets(struct apply *a, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    const char *params[1];
    enum err rc;

    params[0] = a->buckets;
    rc = db_query(a->db, NULL,
                  "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT " LOCK_S3_BUCKET(
                      "b") " AS h FROM unnest($1::text[]) AS b ORDER BY h) s",
                  1, params, errbuf, errlen);
    if (!rc)
        rc = db_query(a->db, &res,
                      "SELECT EXISTS (SELECT 1 FROM s3_objects WHERE bucket = ANY ($1::text[]))", 1,
                      params, errbuf, errlen);
    if (rc)
        return rc;
    a->existing = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return ERR_OK;
}

/* With big_joins, let the planner join only by hashing (only = 1), or any way again (0). */
static enum err
hash_joins_only(struct apply *a, int only, char *errbuf, size_t errlen)
{
    if (!a->big_joins)
        return ERR_OK;
    return db_exec(a->db,
                   only ? "SET LOCAL enable_mergejoin = off; SET LOCAL enable_nestloop = off"
                        : "SET LOCAL enable_mergejoin = on; SET LOCAL enable_nestloop = on",
                   errbuf, errlen);
}

/* Against many staged lines, the joins with the catalog are best as (parallel) hash joins. */
static enum err
prefer_hash_joins(struct apply *a, char *errbuf, size_t errlen)
{
    a->big_joins = a->staged >= BIG_JOIN_ROWS;
    return hash_joins_only(a, 1, errbuf, errlen);
}

/*
 * Run a statement; with lookups, by index lookups only (a few rows against
 * a big table, which the planner may misjudge and hash whole), the join
 * settings in force put back after.
 */
static enum err
query_joined(struct apply *a, int lookups, const char *sql, int nparams, const char *const *params,
             char *errbuf, size_t errlen)
{
    PGresult *was = NULL;
    struct buf back;
    enum err rc;

    if (!lookups)
        return db_query(a->db, NULL, sql, nparams, params, errbuf, errlen);
    rc = db_query(a->db, &was,
                  "SELECT current_setting('enable_nestloop'), current_setting('enable_hashjoin'), "
                  "current_setting('enable_mergejoin')",
                  0, NULL, errbuf, errlen);
    if (!rc)
        rc = db_exec(a->db,
                     "SET LOCAL enable_nestloop = on; SET LOCAL enable_hashjoin = off; "
                     "SET LOCAL enable_mergejoin = off",
                     errbuf, errlen);
    if (!rc)
        rc = db_query(a->db, NULL, sql, nparams, params, errbuf, errlen);
    if (!rc) {
        buf_init(&back, 0);
        buf_printf(&back,
                   "SET LOCAL enable_nestloop = %s; SET LOCAL enable_hashjoin = %s; "
                   "SET LOCAL enable_mergejoin = %s",
                   PQgetvalue(was, 0, 0), PQgetvalue(was, 0, 1), PQgetvalue(was, 0, 2));
        rc = db_exec(a->db, back.data, errbuf, errlen);
        buf_release(&back);
    }
    PQclear(was);
    return rc;
}

/*
 * A key whose other lines changed keeps its candidate line (IsLatest, else
 * its last: the staged sequencer's counter from ORD_CANDIDATE on) even when
 * that line is unchanged, so that after resequencing the candidate is still
 * the key's latest line, as in a first ingestion: a changed older version
 * (a lifecycle transition of a noncurrent version) never becomes current.
 */
static enum err
keep_latest_lines(struct apply *a, char *errbuf, size_t errlen)
{
    struct buf sql;
    const char *p = a->parts.data;
    enum err rc;

    buf_init(&sql, 0);
    buf_printf(&sql, KEEP_LATEST_SQL, p, p);
    rc = db_exec(a->db, sql.data, errbuf, errlen);
    buf_release(&sql);
    return rc;
}

/*
 * Start inv_same with the staged lines of compared files found identical
 * while streaming (reason 'Same'): no join with the catalog.
 */
static enum err
same_as_compared(struct apply *a, char *errbuf, size_t errlen)
{
    struct buf sql;
    size_t i;
    enum err rc;

    buf_init(&sql, 0);
    buf_append_str(&sql, "CREATE TEMP TABLE inv_same (part int, id uuid) ON COMMIT DROP");
    for (i = 0; i < a->nfiles; i++)
        if (a->files[i].same > 0)
            buf_printf(&sql,
                       "; INSERT INTO inv_same SELECT part, id FROM s3_objects_inv_%d WHERE "
                       "reason = 'Same'",
                       a->files[i].part);
    buf_append_str(&sql, "; ANALYZE inv_same");
    rc = db_exec(a->db, sql.data, errbuf, errlen);
    buf_release(&sql);
    return rc;
}

/* The identical lines kept (a key's latest line, see keep_latest_lines) become ordinary. */
static enum err
keep_same_as_crawl(struct apply *a, char *errbuf, size_t errlen)
{
    struct buf sql;
    size_t i;
    enum err rc = ERR_OK;

    buf_init(&sql, 0);
    for (i = 0; i < a->nfiles; i++)
        if (a->files[i].same > 0 && a->files[i].records > a->files[i].unchanged)
            buf_printf(&sql,
                       "%sUPDATE s3_objects_inv_%d SET reason = 'Crawl' WHERE reason = 'Same'",
                       sql.len ? "; " : "", a->files[i].part);
    if (sql.len)
        rc = db_exec(a->db, sql.data, errbuf, errlen);
    buf_release(&sql);
    return rc;
}

/* List in inv_same the staged lines identical to their version's latest record; count them. */
static enum err
find_unchanged(struct apply *a, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    struct buf sql;
    const char *p = a->parts.data;
    size_t i;
    int r;
    enum err rc;

    buf_init(&sql, 0);
    rc = same_as_compared(a, errbuf, errlen);
    if (!rc && strcmp(a->plain_parts.data, "{}") != 0) {
        buf_printf(&sql, SAME_AS_CURRENT_SQL, a->plain_parts.data, p);
        rc = db_query(a->db, NULL, sql.data, 1, (const char *const *)&a->buckets, errbuf, errlen);
        if (!rc)
            rc = db_exec(a->db, "ANALYZE inv_same", errbuf, errlen);
        buf_reset(&sql);
        buf_printf(&sql, SAME_AS_LATEST_SQL, a->plain_parts.data, p);
        if (!rc)
            rc = db_query(a->db, NULL, sql.data, 1, (const char *const *)&a->buckets, errbuf,
                          errlen);
    }
    if (!rc)
        rc = keep_latest_lines(a, errbuf, errlen);
    if (!rc)
        rc = db_query(a->db, &res, "SELECT part, count(*) FROM inv_same GROUP BY part", 0, NULL,
                      errbuf, errlen);
    buf_release(&sql);
    if (rc)
        return rc;
    for (i = 0; i < a->nfiles; i++) {
        struct inventory_part *f = &a->files[i];

        for (r = 0; r < PQntuples(res); r++)
            if (atoi(PQgetvalue(res, r, 0)) == f->part)
                f->unchanged = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        a->unchanged += f->unchanged;
    }
    PQclear(res);
    return ERR_OK;
}

/* Drop the lines that add nothing (listed in inv_same) from the files' partitions. */
static enum err
drop_unchanged(struct apply *a, char *errbuf, size_t errlen)
{
    size_t i;
    enum err rc;

    rc = find_unchanged(a, errbuf, errlen);
    for (i = 0; !rc && i < a->nfiles; i++)
        rc = inventory_part_keep_changed(a->db, a->files[i].part, a->files[i].records,
                                         a->files[i].records - a->files[i].unchanged, errbuf,
                                         errlen);
    if (!rc)
        rc = keep_same_as_crawl(a, errbuf, errlen);
    return rc;
}

/*
 * Read into inv_recs the stored records of the keys with lines left (the
 * catalog outside the job's parts), probing the catalog's indexes per key
 * when the lines left are few (forced: the planner guesses their keys far
 * too few and may hash the whole catalog), else in one pass over the
 * source buckets' records; inv_kb gets each such key's greatest sequencer.
 * Of the keys' other records, the ones that matter are the resequenced
 * lines (resequence_known_keys() adds them), so recompute_current() reads
 * the catalog again only for the touched keys not in inv_kb.
 */
static enum err
known_records(struct apply *a, char *errbuf, size_t errlen)
{
    struct buf sql;
    const char *p = a->parts.data;
    int few = a->staged - a->unchanged < BIG_JOIN_ROWS;
    enum err rc;

    buf_init(&sql, 0);
    if (few)
        buf_printf(
            &sql,
            "INSERT INTO inv_recs SELECT o.* FROM (SELECT DISTINCT bucket, key FROM "
            "s3_objects WHERE part = ANY ('%s'::int[])) k, LATERAL (SELECT " REC_COLS_C
            ", false FROM s3_objects c WHERE c.bucket = k.bucket AND c.key = k.key AND c.part "
            "<> ALL ('%s'::int[])) o",
            p, p);
    else
        buf_printf(&sql,
                   "INSERT INTO inv_recs SELECT " REC_COLS
                   ", false FROM s3_objects o WHERE o.part <> "
                   "ALL ('%s'::int[]) AND o.bucket = ANY ($1::text[]) AND EXISTS (SELECT 1 FROM "
                   "s3_objects s WHERE s.part = ANY ('%s'::int[]) AND s.bucket = o.bucket AND "
                   "s.key = o.key)",
                   p, p);
    rc = query_joined(a, few, sql.data, few ? 0 : 1, (const char *const *)&a->buckets, errbuf,
                      errlen);
    if (!rc)
        rc = db_exec(a->db,
                     "INSERT INTO inv_kb SELECT bucket, key, max(sequencer) FROM inv_recs "
                     "GROUP BY bucket, key; ANALYZE inv_kb",
                     errbuf, errlen);
    buf_release(&sql);
    return rc;
}

/*
 * Give the lines of keys with records sequencers after the key's greatest
 * and add them to inv_recs, which then holds every record of those keys
 * (inv_kb). Their flags stay as staged: recompute_current() writes only
 * the flags that are wrong, so a staged line that stays its key's current
 * record is not written again.
 */
static enum err
resequence_known_keys(struct apply *a, char *errbuf, size_t errlen)
{
    struct buf sql;
    enum err rc;

    buf_init(&sql, 0);
    buf_printf(&sql,
               "WITH o AS (UPDATE s3_objects s SET sequencer = " SEQUENCER_AFTER_KB
               " FROM inv_kb kb WHERE s.part = ANY ('%s'::int[]) AND kb.bucket = s.bucket AND "
               "kb.key = s.key RETURNING " REC_COLS_S
               ") INSERT INTO inv_recs SELECT *, true FROM o",
               a->parts.data);
    rc = db_exec(a->db, sql.data, errbuf, errlen);
    buf_release(&sql);
    return rc;
}

/*
 * Add a Deleted record after each record of inv_deleted; touch the keys.
 * inv_recs needs none of them: a key in inv_kb has resequenced lines,
 * which come after each of its stored records, so its current record is
 * one of them whatever was deleted; the other keys' records, the new
 * Deleted ones included, are read by recompute_current().
 */
static enum err
record_deletions(struct apply *a, char *errbuf, size_t errlen)
{
    const char *params[1];

    params[0] = a->inv_time;
    return db_query_ll(a->db,
                       "WITH d AS (INSERT INTO s3_objects_events (id, bucket, key, version_id, "
                       "event_type, sequencer, is_delete_marker, reason, source, observed_at) "
                       "SELECT gen_random_uuid(), d.bucket, d.key, d.version_id, 'Deleted', "
                       "coalesce(split_part(mx.m, '-', 1), '') || '-' || lpad((coalesce(nullif("
                       "split_part(mx.m, '-', 2), ''), '0')::numeric + 1)::text, 20, '0'), false, "
                       "'Crawl', 'inventory', $1::timestamptz FROM inv_deleted d, LATERAL "
                       "(SELECT max(x.sequencer) AS m FROM s3_objects x WHERE x.bucket = d.bucket "
                       "AND x.key = d.key) mx RETURNING bucket, key), "
                       "t AS (INSERT INTO inv_touched SELECT DISTINCT bucket, key FROM d "
                       "ON CONFLICT DO NOTHING) "
                       "SELECT count(*) FROM d",
                       1, params, "no count", &a->deleted, errbuf, errlen);
}

/* Correct what staging could not know of keys the catalog already had. */
static enum err
correct_known_keys(struct apply *a, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = drop_unchanged(a, errbuf, errlen);
    if (!rc)
        rc = hash_joins_only(a, 0, errbuf, errlen);
    if (!rc)
        rc = known_records(a, errbuf, errlen);
    if (!rc)
        rc = resequence_known_keys(a, errbuf, errlen);
    if (!rc)
        rc = record_deletions(a, errbuf, errlen);
    return rc;
}

/* Touch the keys the staging saw apart (unsorted files, a key across files). */
static enum err
touch_keys_seen_apart(struct apply *a, char *errbuf, size_t errlen)
{
    struct buf sql;
    const char *params[1];
    enum err rc = ERR_OK;

    buf_init(&sql, 0);
    if (a->all_keys)
        buf_printf(&sql,
                   "INSERT INTO inv_touched SELECT DISTINCT bucket, key FROM s3_objects WHERE "
                   "part = ANY ('%s'::int[]) ON CONFLICT DO NOTHING",
                   a->parts.data);
    else if (strcmp(a->boundary.data, "{}") != 0)
        buf_printf(&sql,
                   "INSERT INTO inv_touched SELECT split_part(e, E'\\x1f', 1), substr(e, "
                   "strpos(e, E'\\x1f') + 1) FROM unnest($1::text[]) AS e ON CONFLICT DO NOTHING");
    params[0] = a->boundary.data;
    if (sql.len)
        rc = db_query(a->db, NULL, sql.data, a->all_keys ? 0 : 1, params, errbuf, errlen);
    buf_release(&sql);
    return rc;
}

/*
 * Write the flags that flip (inv_flip), one UPDATE of each partition that
 * holds some, which finds its records by key and id (by TID they could have
 * moved: a PATCH of their annotations does not wait for the apply's bucket
 * locks); off everywhere first (the events partition holds at most one
 * current record per key), then on. Fewer than BIG_JOIN_ROWS flips of a
 * partition are looked up one by one in its key index (a hash join would
 * read the whole partition); the join settings are put back after.
 */
static enum err
flip_flags(struct apply *a, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    struct buf sql;
    const char *params[2];
    int i;
    enum err rc;

    rc = db_exec(a->db, flag_flips_sql, errbuf, errlen);
    if (!rc)
        rc = db_exec(a->db, "ANALYZE inv_flip", errbuf, errlen);
    if (!rc)
        rc = db_query(a->db, &res,
                      "SELECT rel, turn_on, count(*) < " BIG_JOIN_ROWS_SQL " FROM inv_flip "
                      "GROUP BY rel, turn_on ORDER BY turn_on, rel",
                      0, NULL, errbuf, errlen);
    buf_init(&sql, 0);
    for (i = 0; !rc && i < PQntuples(res); i++) {
        buf_reset(&sql);
        buf_printf(&sql,
                   "UPDATE %s o SET is_current = $2::boolean FROM inv_flip f WHERE f.rel = $1 "
                   "AND f.turn_on = $2::boolean AND o.bucket = f.bucket AND o.key = f.key "
                   "AND o.id = f.id AND o.is_current <> $2::boolean",
                   PQgetvalue(res, i, 0));
        params[0] = PQgetvalue(res, i, 0);
        params[1] = PQgetvalue(res, i, 1)[0] == 't' ? "true" : "false";
        rc = query_joined(a, PQgetvalue(res, i, 2)[0] == 't', sql.data, 2, params, errbuf, errlen);
    }
    PQclear(res);
    buf_release(&sql);
    return rc;
}

/* Add to inv_recs the records of the touched keys it lacks, by lookups when they are few. */
static enum err
other_records(struct apply *a, char *errbuf, size_t errlen)
{
    long long n = 0;
    enum err rc;

    rc = db_exec(a->db, other_keys_sql, errbuf, errlen);
    if (!rc)
        rc = db_query_ll(a->db, "SELECT count(*) FROM inv_other", 0, NULL, "no count", &n, errbuf,
                         errlen);
    if (!rc)
        rc = query_joined(a, n < BIG_JOIN_ROWS, other_records_sql, 0, NULL, errbuf, errlen);
    return rc;
}

/*
 * Recompute the current record of every touched key: its records are read
 * once (most already are, see known_records()), and only the flags that
 * change are written, each partition's looked up by key (a join of the
 * whole catalog for each of the two updates read it twice more).
 */
static enum err
recompute_current(struct apply *a, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = db_exec(a->db, "ANALYZE inv_touched", errbuf, errlen);
    if (!rc)
        rc = other_records(a, errbuf, errlen);
    if (!rc)
        rc = db_exec(a->db, "ANALYZE inv_recs", errbuf, errlen);
    if (!rc)
        rc = db_exec(a->db, current_from_touched_sql, errbuf, errlen);
    if (!rc)
        rc = flip_flags(a, errbuf, errlen);
    return rc;
}

/* Mark the job succeeded with its summary. */
static enum err
finish_job(struct apply *a, char *errbuf, size_t errlen)
{
    char summary[160];
    const char *params[2];

    snprintf(summary, sizeof(summary),
             "{\"created\": %lld, \"deleted\": %lld, \"unchanged\": %lld}",
             a->staged - a->unchanged, a->deleted, a->unchanged + a->skipped);
    params[0] = a->job_id;
    params[1] = summary;
    return db_query(a->db, NULL,
                    "UPDATE inventory_jobs SET status = 'succeeded', finished_at = "
                    "clock_timestamp(), error = NULL, error_kind = NULL, summary = $2 "
                    "WHERE id = $1",
                    2, params, errbuf, errlen);
}

/* Attach the files' partitions, then correct and recompute what they changed. */
static enum err
apply_files(struct apply *a, long long merge_below, int max_parts, char *errbuf, size_t errlen)
{
    size_t i;
    enum err rc;

    rc = inventory_part_attach(a->db, a->files, a->nfiles, errbuf, errlen);
    if (!rc)
        rc = db_exec(a->db,
                     "CREATE TEMP TABLE inv_touched (bucket text COLLATE \"C\", key text COLLATE "
                     "\"C\", PRIMARY KEY (bucket, key)) ON COMMIT DROP",
                     errbuf, errlen);
    if (!rc)
        rc = db_exec(a->db, recs_tables_sql, errbuf, errlen);
    if (!rc && a->existing)
        rc = correct_known_keys(a, errbuf, errlen);
    for (i = 0; !rc && i < a->nfiles; i++)
        if (a->files[i].records > a->files[i].unchanged)
            rc = inventory_part_ensure_indexed(a->db, a->files[i].part, errbuf, errlen);
    if (!rc)
        rc = touch_keys_seen_apart(a, errbuf, errlen);
    if (!rc)
        rc = recompute_current(a, errbuf, errlen);
    if (!rc)
        rc = inventory_part_merge_small(a->db, a->files, a->nfiles, merge_below, errbuf, errlen);
    if (!rc)
        rc = inventory_part_compact(a->db, a->buckets, max_parts, errbuf, errlen);
    return rc;
}

/* The job's phase becomes "applying": committed before the final transaction begins. */
static enum err
mark_applying(struct db *db, const char *job_id, char *errbuf, size_t errlen)
{
    return db_query(db, NULL,
                    "UPDATE inventory_jobs SET applying_at = clock_timestamp() WHERE id = $1", 1,
                    &job_id, errbuf, errlen);
}

enum err
inventory_store_apply(struct db *db, const char *job_id, const struct inventory_manifest *m,
                      long long merge_below, int max_parts, int64_t *records, char *errbuf,
                      size_t errlen)
{
    struct apply a;
    enum err rc;

    if (records)
        *records = 0;
    rc = mark_applying(db, job_id, errbuf, errlen);
    if (rc)
        return rc;
    memset(&a, 0, sizeof(a));
    a.db = db;
    a.job_id = job_id;
    a.m = m;
    buf_init(&a.parts, 0);
    buf_init(&a.plain_parts, 0);
    buf_init(&a.boundary, 0);
    rc = db_exec(db, "BEGIN; SET LOCAL work_mem = '256MB'", errbuf, errlen);
    /* first: no key index build may hold a partition this apply detaches or analyzes */
    if (!rc)
        rc = s3_key_index_fence(db, errbuf, errlen);
    if (!rc)
        rc = read_totals(&a, errbuf, errlen);
    if (!rc)
        rc = read_files(&a, errbuf, errlen);
    if (!rc)
        rc = read_inventory_time(&a, errbuf, errlen);
    if (!rc)
        rc = lock_buckets(&a, errbuf, errlen);
    if (!rc && a.existing)
        rc = prefer_hash_joins(&a, errbuf, errlen);
    if (!rc)
        rc = inventory_deleted_take_markers(db, a.files, a.nfiles, errbuf, errlen);
    if (!rc && a.existing)
        rc = inventory_deleted_find(db, a.files, a.nfiles, a.versioned, a.buckets, a.inv_time,
                                    errbuf, errlen);
    if (!rc)
        rc = apply_files(&a, merge_below, max_parts, errbuf, errlen);
    crashpoint("inventory.mid_apply");
    if (!rc)
        rc = finish_job(&a, errbuf, errlen);
    if (!rc)
        rc = inventory_store_announce(db, job_id, OUTBOX_INVENTORY_SUCCEEDED, errbuf, errlen);
    crashpoint("inventory.before_commit");
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_rollback(db);
    else if (records)
        *records = a.staged + a.skipped;
    PQclear(a.files_res);
    free(a.files);
    free(a.buckets);
    buf_release(&a.parts);
    buf_release(&a.plain_parts);
    buf_release(&a.boundary);
    return rc;
}
