/*
 * events_group.c - several uploads stored in one transaction (group commit)
 *
 * BEGIN, then each upload as it would be stored alone but inside the
 * transaction (events_store_insert_txn(), imports_store_put_named_txn():
 * the event, its event_rows, the name; the event's statement writes its
 * `changes` journal row too), then one COMMIT.
 * Every statement is idempotent against the ones before it in the group
 * (INSERT ... ON CONFLICT DO NOTHING on the digest, the key and the name),
 * so a repeat inside a group is answered as a duplicate of the first.
 *
 * No SAVEPOINT per upload: the inserts cannot raise a unique violation, so
 * a statement fails only for a reason that would fail the upload alone
 * too, or for the database. When one does, the whole group is rolled back
 * and, if the connection still works, the caller stores each upload alone
 * (events_group_store_one()), so one bad upload fails only itself. A
 * savepoint would cost two more round trips per upload on every group to
 * save work only on that rare path (README "Uploads and performance").
 *
 * Not thread-safe per struct db; the uploads are borrowed for the call.
 */
#include "storage/events_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#include "storage/db.h"

void
events_group_reset(struct event_upload *u)
{
    json_decref(u->event);
    u->event = NULL;
    u->rc = ERR_OK;
    u->errbuf[0] = '\0';
    u->duplicate = 0;
    u->what = IMPORTS_NAMED_CONFLICT;
    u->other_sha256[0] = '\0';
}

/* One upload inside the open transaction; fills its answer. */
static enum err
store_in_txn(struct db *db, struct event_upload *u)
{
    if (u->name)
        u->rc = imports_store_put_named_txn(db, u->name, u->in, &u->what, &u->event,
                                            u->other_sha256, u->errbuf, sizeof(u->errbuf));
    else
        u->rc = events_store_insert_txn(db, u->in, &u->event, &u->duplicate, u->errbuf,
                                        sizeof(u->errbuf));
    return u->rc;
}

/*
 * The connection still works and the error was not the server's going away
 * (SQL state classes 08 connection, 53 resources, 57 operator intervention):
 * a failed statement was the upload's, not the database's.
 */
static int
connection_ok(struct db *db)
{
    const char *state = db_last_sqlstate(db);

    if (!strncmp(state, "08", 2) || !strncmp(state, "53", 2) || !strncmp(state, "57", 2))
        return 0;
    return db_conn(db) && PQstatus(db_conn(db)) == CONNECTION_OK;
}

/* ---- one round trip: BEGIN, every INSERT, COMMIT in a libpq pipeline ---- */

/* Every upload of the group is a POST whose rows go inline with its INSERT. */
static int
pipelinable(struct event_upload *const *up, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (up[i]->name || !events_store_inline_ok(up[i]->in))
            return 0;
    return 1;
}

/* The first result of the next statement of the pipeline (the rest read and dropped). */
static PGresult *
next_result(PGconn *conn)
{
    PGresult *res = PQgetResult(conn);
    PGresult *more;

    if (!res || PQresultStatus(res) == PGRES_PIPELINE_SYNC)
        return res;
    while ((more = PQgetResult(conn)) != NULL)
        PQclear(more);
    return res;
}

/* Queue the group: BEGIN, each INSERT (ids[i] gets its event id), COMMIT, a sync. */
static enum err
send_group(struct db *db, struct event_upload *const *up, size_t n, char (*ids)[37], char *errbuf,
           size_t errlen)
{
    PGconn *conn = db_conn(db);
    enum err rc = ERR_OK;
    size_t i;

    if (!PQenterPipelineMode(conn) ||
        !PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
        return db_result_error(db, NULL, "starting an upload group", errbuf, errlen);
    for (i = 0; !rc && i < n; i++)
        rc = events_store_send_insert(db, up[i]->in, ids[i], errbuf, errlen);
    if (!rc &&
        (!PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(conn)))
        rc = db_result_error(db, NULL, "sending an upload group", errbuf, errlen);
    return rc;
}

/*
 * Read the pipeline's results up to its sync: res[i] gets INSERT i's. ERR_OK
 * when every statement succeeded and the COMMIT committed. *failed_upload = 1
 * when an INSERT failed (the transaction is then open and aborted).
 */
static enum err
read_group(struct db *db, size_t n, PGresult **res, int *failed_upload, char *errbuf, size_t errlen)
{
    PGconn *conn = db_conn(db);
    PGresult *r = next_result(conn);
    enum err rc = ERR_OK;
    size_t i;

    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = db_result_error(db, r, "starting an upload group", errbuf, errlen);
    PQclear(r);
    for (i = 0; i < n && db_conn(db) == conn; i++) {
        res[i] = next_result(conn);
        if (!rc && PQresultStatus(res[i]) != PGRES_TUPLES_OK) {
            rc = db_result_error(db, res[i], "storing an upload group", errbuf, errlen);
            *failed_upload = 1;
        }
    }
    if (db_conn(db) != conn)
        return rc ? rc : err_set(ERR_UNAVAILABLE, errbuf, errlen, "database unavailable");
    r = next_result(conn); /* COMMIT: its tag is ROLLBACK when the transaction had failed */
    if (!rc && (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "COMMIT") != 0))
        rc = db_result_error(db, r, "committing an upload group", errbuf, errlen);
    PQclear(r);
    if (db_conn(db) != conn)
        return rc;
    r = PQgetResult(conn);
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC && !rc)
        rc = db_result_error(db, r, "ending an upload group", errbuf, errlen);
    PQclear(r);
    if (db_conn(db) == conn && !PQexitPipelineMode(conn))
        db_disconnect(db); /* a pipeline left half read: start over */
    return rc;
}

/* After the commit: each upload's answer from its INSERT's result. */
static void
answer_group(struct db *db, struct event_upload *const *up, size_t n, PGresult **res,
             char (*ids)[37])
{
    size_t i;

    for (i = 0; i < n; i++) {
        struct event_upload *u = up[i];

        if (PQntuples(res[i]) == 1) {
            u->event = events_store_event_json(ids[i], u->in, PQgetvalue(res[i], 0, 0),
                                               PQgetvalue(res[i], 0, 1));
            continue;
        }
        u->duplicate = 1;
        u->rc = events_store_find_existing(db, u->in, &u->event, u->errbuf, sizeof(u->errbuf));
    }
}

static enum err
store_pipelined(struct db *db, struct event_upload *const *up, size_t n, int *retry_alone,
                char *errbuf, size_t errlen)
{
    PGresult **res = xcalloc(n, sizeof(*res));
    char(*ids)[37] = xcalloc(n, sizeof(*ids));
    int failed_upload = 0;
    size_t i;
    enum err rc;

    rc = events_store_prepare_insert(db, errbuf, errlen);
    if (!rc)
        rc = send_group(db, up, n, ids, errbuf, errlen);
    if (!rc)
        rc = read_group(db, n, res, &failed_upload, errbuf, errlen);
    if (!rc) {
        answer_group(db, up, n, res, ids);
    } else if (db_conn(db)) {
        int upload_failed = failed_upload && connection_ok(db);

        if (PQpipelineStatus(db_conn(db)) != PQ_PIPELINE_OFF)
            db_disconnect(db);
        else
            db_rollback(db);
        *retry_alone = upload_failed && db_conn(db);
    }
    for (i = 0; i < n; i++)
        PQclear(res[i]);
    free(res);
    free(ids);
    return rc;
}

/* ---- one statement after the other (PUTs, uploads whose rows go by COPY) ---- */

static enum err
store_serial(struct db *db, struct event_upload *const *up, size_t n, int *retry_alone,
             char *errbuf, size_t errlen)
{
    size_t i;
    int in_txn = 0;
    enum err rc;

    rc = db_exec(db, "BEGIN", errbuf, errlen);
    in_txn = !rc;
    for (i = 0; !rc && i < n; i++) {
        rc = store_in_txn(db, up[i]);
        if (rc)
            snprintf(errbuf, errlen, "%s", up[i]->errbuf);
    }
    if (rc) {
        int upload_failed = in_txn && connection_ok(db); /* before ROLLBACK resets the state */

        db_rollback(db);
        *retry_alone = upload_failed && n > 1 && db_conn(db);
        goto out;
    }
    rc = db_exec(db, "COMMIT", errbuf, errlen); /* a failure here: outcome unknown, no retry */
out:
    return rc;
}

enum err
events_group_store(struct db *db, struct event_upload *const *up, size_t n, int *retry_alone,
                   char *errbuf, size_t errlen)
{
    size_t i;
    enum err rc;

    *retry_alone = 0;
    for (i = 0; i < n; i++)
        events_group_reset(up[i]);
    if (pipelinable(up, n))
        rc = store_pipelined(db, up, n, retry_alone, errbuf, errlen);
    else
        rc = store_serial(db, up, n, retry_alone, errbuf, errlen);
    for (i = 0; rc && i < n; i++) {
        events_group_reset(up[i]);
        up[i]->rc = rc;
        snprintf(up[i]->errbuf, sizeof(up[i]->errbuf), "%s", errbuf);
    }
    return rc;
}

void
events_group_store_one(struct db *db, struct event_upload *u)
{
    events_group_reset(u);
    if (u->name)
        u->rc = imports_store_put_named(db, u->name, u->in, &u->what, &u->event, u->other_sha256,
                                        u->errbuf, sizeof(u->errbuf));
    else
        u->rc =
            events_store_insert(db, u->in, &u->event, &u->duplicate, u->errbuf, sizeof(u->errbuf));
}
