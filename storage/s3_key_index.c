/*
 * s3_key_index.c - building the key segments' index of a partition, and fencing builds out
 *
 * The build runs outside any transaction (CREATE INDEX CONCURRENTLY) under
 * LOCK_S3_PARTITIONS held exclusively for the session; each error path
 * closes the connection instead of unlocking, so that the key is released
 * even when a late cancel request hits the unlock itself.
 */
#include "storage/s3_key_index.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "storage/db.h"
#include "storage/locks.h"

/* Partitions of s3_objects (names up to 58 bytes) whose <name>_segs is missing or invalid. */
#define PENDING_FROM                                                                               \
    " FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid "                                   \
    "LEFT JOIN pg_class ic ON ic.relnamespace = c.relnamespace AND ic.relname = c.relname || "     \
    "'_segs' LEFT JOIN pg_index i ON i.indexrelid = ic.oid "                                       \
    "WHERE h.inhparent = 's3_objects'::regclass AND c.relkind = 'r' AND "                          \
    "octet_length(c.relname) <= 58 AND i.indisvalid IS NOT TRUE"

/* Fences cancel the builder this often while it holds the key. */
#define FENCE_RETRY_MS 50
#define FENCE_MAX_MS 60000

enum err
s3_key_index_pending(struct db *db, long long *n, char *errbuf, size_t errlen)
{
    return db_query_ll(db, "SELECT count(*)" PENDING_FROM, 0, NULL, "no count", n, errbuf, errlen);
}

/* Run sql (sent, not waited for) until it ends, cancelling it once when stop() says so. */
static enum err
run_cancellable(struct db *db, const char *sql, s3_key_index_stop_fn stop, void *ud, char *errbuf,
                size_t errlen)
{
    int cancelled = 0;
    enum err rc;

    rc = db_send(db, sql, 0, NULL, errbuf, errlen);
    if (rc)
        return rc;
    while (!db_ready(db, 200)) {
        if (!cancelled && stop && stop(ud)) {
            db_cancel(db);
            cancelled = 1;
        }
    }
    return db_receive(db, NULL, errbuf, errlen);
}

enum err
s3_key_index_build_one(struct db *db, s3_key_index_stop_fn stop, void *ud, char *table,
                       size_t tablelen, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    char *tbl = NULL;
    char *idx = NULL;
    char name[80];
    struct buf sql;
    int invalid;
    enum err rc;

    snprintf(table, tablelen, "%s", "");
    rc = db_query(db, &res, "SELECT pg_try_advisory_lock(" LOCK_S3_PARTITIONS ")", 0, NULL, errbuf,
                  errlen);
    if (rc)
        return rc;
    invalid = PQgetvalue(res, 0, 0)[0] != 't';
    PQclear(res);
    if (invalid) /* an apply holds the partitions: later */
        return ERR_OK;
    rc = db_query(db, &res,
                  "SELECT c.relname, ic.oid IS NOT NULL" PENDING_FROM
                  " ORDER BY c.relpages, c.relname LIMIT 1",
                  0, NULL, errbuf, errlen);
    if (rc || PQntuples(res) == 0) {
        PQclear(res);
        if (rc)
            db_disconnect(db);
        else
            rc = db_exec(db, "SELECT pg_advisory_unlock(" LOCK_S3_PARTITIONS ")", errbuf, errlen);
        return rc;
    }
    snprintf(name, sizeof(name), "%s_segs", PQgetvalue(res, 0, 0));
    invalid = PQgetvalue(res, 0, 1)[0] == 't';
    tbl = PQescapeIdentifier(db_conn(db), PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
    idx = PQescapeIdentifier(db_conn(db), name, strlen(name));
    snprintf(table, tablelen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!tbl || !idx) {
        PQfreemem(tbl);
        PQfreemem(idx);
        db_disconnect(db);
        return err_set(ERR_INTERNAL, errbuf, errlen, "cannot quote a partition's name");
    }
    buf_init(&sql, 0);
    if (invalid) { /* a build that was cancelled or failed left it */
        buf_printf(&sql, "DROP INDEX CONCURRENTLY IF EXISTS %s", idx);
        rc = run_cancellable(db, sql.data, stop, ud, errbuf, errlen);
        buf_reset(&sql);
    }
    buf_printf(&sql,
               "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s USING gin "
               "(s3_key_segments(key))",
               idx, tbl);
    if (!rc)
        rc = run_cancellable(db, sql.data, stop, ud, errbuf, errlen);
    buf_reset(&sql);
    buf_printf(&sql, "ANALYZE %s", tbl); /* the planner's statistics of the new expression */
    if (!rc)
        rc = run_cancellable(db, sql.data, stop, ud, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "SELECT pg_advisory_unlock(" LOCK_S3_PARTITIONS ")", errbuf, errlen);
    if (rc)
        db_disconnect(db); /* the session's lock goes with it, whatever failed */
    buf_release(&sql);
    PQfreemem(tbl);
    PQfreemem(idx);
    return rc;
}

enum err
s3_key_index_fence(struct db *db, char *errbuf, size_t errlen)
{
    long long start = clock_mono_ms();
    PGresult *res = NULL;
    int held;
    enum err rc;

    for (;;) {
        rc = db_query(db, &res, "SELECT pg_try_advisory_xact_lock_shared(" LOCK_S3_PARTITIONS ")",
                      0, NULL, errbuf, errlen);
        if (rc)
            return rc;
        held = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (held)
            return ERR_OK;
        if (clock_mono_ms() - start > FENCE_MAX_MS)
            return err_set(ERR_UNAVAILABLE, errbuf, errlen,
                           "the key index builder holds the catalog's partitions, retry");
        /* the builder's session: whoever holds the key exclusively (of a role we may signal) */
        rc = db_exec(db,
                     "SELECT pg_cancel_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a "
                     "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.database = (SELECT oid "
                     "FROM pg_database WHERE datname = current_database()) AND l.classid = "
                     "(" LOCK_S3_PARTITIONS " >> 32)::oid AND l.objid = (" LOCK_S3_PARTITIONS
                     " & 4294967295)::oid AND l.objsubid = 1 AND l.mode = 'ExclusiveLock' AND "
                     "l.granted AND l.pid <> pg_backend_pid() AND pg_has_role(a.usesysid, 'USAGE')",
                     errbuf, errlen);
        if (rc)
            return rc;
        nanosleep(&(struct timespec){0, FENCE_RETRY_MS * 1000000L}, NULL);
    }
}
