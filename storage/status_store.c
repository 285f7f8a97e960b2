/*
 * status_store.c - the figures of the status page
 *
 * One statement reads the effective file's generation and rows, the pending
 * count, the newest merges and the inventory jobs, and the catalog's size on
 * disk, as one JSON document built by PostgreSQL (one snapshot, one round
 * trip). Every part of it is an index lookup or a short index range:
 * effective_rows' primary key (max), events' unique sequence index above the
 * newest merge (merges_seq_hi), merges_started, inventory_jobs_open and
 * inventory_jobs_created, and pg_relation_size of each catalog partition
 * (no scan).
 *
 * A second statement counts the catalog: exactly (count(*) over every
 * partition) while it is at most exact_max_bytes on disk, else from
 * the planner's row estimates (EXPLAIN, which scales each partition's
 * pg_class.reltuples to its current size), marked as estimates.
 */
#include "storage/status_store.h"

#include <stdio.h>
#include <stdlib.h>

#include "storage/db.h"
#include "storage/locks.h"

#define JOB_FIELDS                                                                                 \
    "id, status, bucket, key, format, files_total, files_done, records, bytes, created_at, "       \
    "started_at, finished_at, error"

/* clang-format off */
static const char snapshot_sql[] =
    "SELECT json_build_object("
    " 'generation', m.generation,"
    " 'updated_at', " SQL_TS("m.updated_at") ","
    " 'rows', (SELECT coalesce(max(pos), 0) FROM effective_rows),"
    " 'pending', (SELECT count(*) FROM events"
    "             WHERE sequence > (SELECT coalesce(max(seq_hi), 0) FROM merges)),"
    " 'merges', (SELECT coalesce(json_agg(json_build_object("
    "     'id', x.id, 'status', x.status, 'events', x.event_count, 'rows', x.row_count,"
    "     'added', x.added, 'updated', x.updated, 'unchanged', x.unchanged,"
    "     'skipped', x.row_count - x.added - x.updated - x.unchanged,"
    "     'generation', x.generation, 'started_at', " SQL_TS("x.started_at") ","
    "     'duration_ms', x.duration_ms) ORDER BY x.started_at DESC, x.id DESC), '[]')"
    "   FROM (SELECT * FROM merges ORDER BY started_at DESC, id DESC LIMIT $1) x),"
    " 'jobs', (SELECT coalesce(json_agg(json_build_object("
    "     'id', j.id, 'status', j.status, 'bucket', j.bucket, 'key', j.key,"
    "     'format', j.format, 'files_total', j.files_total, 'files_done', j.files_done,"
    "     'records', j.records, 'bytes', j.bytes,"
    "     'created_at', " SQL_TS("j.created_at") ","
    "     'started_at', " SQL_TS("j.started_at") ","
    "     'finished_at', " SQL_TS("j.finished_at") ","
    "     'error', j.error) ORDER BY j.created_at DESC, j.id DESC), '[]')"
    "   FROM ((SELECT " JOB_FIELDS " FROM inventory_jobs WHERE status IN ('queued', 'running'))"
    "         UNION"
    "         (SELECT " JOB_FIELDS " FROM inventory_jobs"
    "          ORDER BY created_at DESC, id DESC LIMIT $2)) j),"
    " 'catalog_bytes', (SELECT coalesce(sum(pg_relation_size(i.inhrelid)), 0)"
    "                   FROM pg_inherits i WHERE i.inhparent = 's3_objects'::regclass)"
    ")::text FROM effective_meta m";
/* clang-format on */

/* The planner's row estimate of a query: "Plan Rows" of EXPLAIN's top node. */
static enum err
plan_rows(struct db *db, const char *sql, long long *rows, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    json_t *plan = NULL;
    json_t *n;
    enum err rc;

    rc = db_query(db, &res, sql, 0, NULL, errbuf, errlen);
    if (rc)
        return rc;
    plan = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    n = json_object_get(json_object_get(json_array_get(plan, 0), "Plan"), "Plan Rows");
    if (!json_is_number(n))
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
    else
        *rows = (long long)json_number_value(n);
    json_decref(plan);
    PQclear(res);
    return rc;
}

static enum err
count_objects(struct db *db, long long bytes, long long exact_max_bytes, json_t **out, char *errbuf,
              size_t errlen)
{
    PGresult *res = NULL;
    long long total = 0;
    long long current = 0;
    int estimate = bytes > exact_max_bytes;
    enum err rc;

    if (estimate) {
        rc =
            plan_rows(db, "EXPLAIN (FORMAT JSON) SELECT 1 FROM s3_objects", &total, errbuf, errlen);
        if (!rc)
            rc = plan_rows(db, "EXPLAIN (FORMAT JSON) SELECT 1 FROM s3_objects WHERE is_current",
                           &current, errbuf, errlen);
        if (rc)
            return rc;
    } else {
        rc = db_query(db, &res,
                      "SELECT count(*), count(*) FILTER (WHERE is_current) FROM s3_objects", 0,
                      NULL, errbuf, errlen);
        if (rc)
            return rc;
        total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        current = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        PQclear(res);
    }
    *out = json_pack("{s:I,s:I,s:b,s:I}", "total", (json_int_t)total, "current",
                     (json_int_t)current, "estimate", estimate, "bytes", (json_int_t)bytes);
    return ERR_OK;
}

enum err
status_store_snapshot(struct db *db, long long exact_max_bytes, json_t **out, char *errbuf,
                      size_t errlen)
{
    PGresult *res = NULL;
    json_t *snap = NULL;
    json_t *objects = NULL;
    char nmerges[16];
    char njobs[16];
    const char *params[2];
    long long bytes;
    enum err rc;

    *out = NULL;
    snprintf(nmerges, sizeof(nmerges), "%d", STATUS_MERGES);
    snprintf(njobs, sizeof(njobs), "%d", STATUS_JOBS);
    params[0] = nmerges;
    params[1] = njobs;
    rc = db_query(db, &res, snapshot_sql, 2, params, errbuf, errlen);
    if (rc)
        goto out;
    snap = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (!json_is_object(snap)) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
        goto out;
    }
    bytes = (long long)json_integer_value(json_object_get(snap, "catalog_bytes"));
    json_object_del(snap, "catalog_bytes");
    rc = count_objects(db, bytes, exact_max_bytes, &objects, errbuf, errlen);
    if (rc)
        goto out;
    json_object_set_new(snap, "objects", objects);
    *out = snap;
    snap = NULL;
out:
    json_decref(snap);
    PQclear(res);
    return rc;
}
