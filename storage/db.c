/*
 * db.c - one PostgreSQL connection with error classification
 */
#include "storage/db.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "storage/conninfo.h"

struct db {
    char *conninfo;
    PGconn *conn;
    char sqlstate[6];
    const char *prepared[DB_MAX_PREPARED]; /* names prepared on conn */
    int nprepared;
    struct db *side; /* db_side(): a second connection, made on first use */
};

struct db *
db_new(const char *conninfo)
{
    struct db *db = xcalloc(1, sizeof(*db));

    db->conninfo = xstrdup(conninfo);
    return db;
}

void
db_free(struct db *db)
{
    if (!db)
        return;
    if (db->conn)
        PQfinish(db->conn);
    db_free(db->side);
    free(db->conninfo);
    free(db);
}

/*
 * The connection parameters: TCP keepalives and a user timeout first, then
 * the configured conninfo (expanded, so anything it sets wins). Without
 * them a worker waiting for an answer over a network that went silent
 * (a partition, a host gone without a reset) would wait for hours; with
 * them the kernel gives up after ~60 s (keepalives unanswered while
 * waiting, or 30 s of unacknowledged data), the query fails as "database
 * unavailable" (503) and the next one reconnects. A long query on a live
 * server is not affected: its kernel answers the probes. Ignored on Unix
 * sockets.
 */
static const char *const connect_keys[] = {"keepalives",
                                           "keepalives_idle",
                                           "keepalives_interval",
                                           "keepalives_count",
                                           "tcp_user_timeout",
                                           "dbname",
                                           NULL};

static void
connect_values(const struct db *db, const char *values[7])
{
    values[0] = "1";
    values[1] = "30";
    values[2] = "10";
    values[3] = "3";
    values[4] = "30000";
    values[5] = db->conninfo;
    values[6] = NULL;
}

void
db_disconnect(struct db *db)
{
    if (!db)
        return;
    db_disconnect(db->side);
    if (!db->conn)
        return;
    PQfinish(db->conn);
    db->conn = NULL;
    db->nprepared = 0;
}

struct db *
db_side(struct db *db)
{
    if (!db->side)
        db->side = db_new(db->conninfo);
    return db->side;
}

PGconn *
db_conn(struct db *db)
{
    return db->conn;
}

void
db_cancel(struct db *db)
{
    PGcancel *c = db->conn ? PQgetCancel(db->conn) : NULL;
    char msg[256];

    if (!c)
        return;
    if (!PQcancel(c, msg, (int)sizeof(msg)))
        log_json(LOG_WARN, "cancel request failed", json_pack("{s:s}", "error", msg));
    PQfreeCancel(c);
}

const char *
db_last_sqlstate(const struct db *db)
{
    return db->sqlstate;
}

static void
on_notice(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res; /* NOTICEs (e.g. "relation already exists, skipping") are not logged */
}

enum err
db_ensure(struct db *db, char *errbuf, size_t errlen)
{
    const char *values[7];

    if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
        return ERR_OK;
    if (db->conn) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
    db->nprepared = 0;
    connect_values(db, values);
    db->conn = PQconnectdbParams(connect_keys, values, 1);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        char msg[ERRBUF_SIZE];
        size_t n;

        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(db->conn));
        n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        log_json(LOG_WARN, "database connection failed", json_pack("{s:s}", "error", msg));
        PQfinish(db->conn);
        db->conn = NULL;
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "database unavailable");
    }
    PQsetNoticeReceiver(db->conn, on_notice, NULL);
    return ERR_OK;
}

/*
 * Wait up to DB_CONNECT_POLL_MS for conn's socket to be ready for what libpq
 * asked; 1 when it is (or has an error, or is gone: libpq then says what).
 */
static int
wait_socket(PGconn *conn, PostgresPollingStatusType st)
{
    struct pollfd p;
    int n;

    p.fd = PQsocket(conn);
    p.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    p.revents = 0;
    if (p.fd < 0)
        return 1;
    n = poll(&p, 1, DB_CONNECT_POLL_MS);
    return n > 0 || (n < 0 && errno != EINTR);
}

enum err
db_connect(struct db *db, db_cancel_fn cancel, void *ud, char *errbuf, size_t errlen)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    const char *values[7];
    PGconn *conn;
    enum err rc = ERR_OK;

    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
    db->nprepared = 0;
    connect_values(db, values);
    conn = PQconnectStartParams(connect_keys, values, 1);
    if (!conn)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "out of memory");
    while (PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        if (cancel && cancel(ud)) {
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "connection attempt abandoned");
            goto out;
        }
        if (wait_socket(conn, st))
            st = PQconnectPoll(conn);
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        conninfo_scrub(db->conninfo, PQerrorMessage(conn), errbuf, errlen);
        rc = ERR_UNAVAILABLE;
    }
out:
    if (rc) {
        PQfinish(conn);
        return rc;
    }
    PQsetNoticeReceiver(conn, on_notice, NULL);
    db->conn = conn;
    return ERR_OK;
}

static int
state_is_unavailable(const char *state)
{
    /* 08: connection exception; 57P01-57P03: shutdown / cannot connect now;
     * 53: insufficient resources */
    return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
           strncmp(state, "53", 2) == 0;
}

enum err
db_result_error(struct db *db, PGresult *res, const char *what, char *errbuf, size_t errlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    int lost = !db->conn || PQstatus(db->conn) != CONNECTION_OK;
    char detail[ERRBUF_SIZE];

    snprintf(detail, sizeof(detail), "%s",
             msg ? msg : (db->conn ? PQerrorMessage(db->conn) : "connection lost"));
    snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
    if (lost || (state && state_is_unavailable(state))) {
        if (db->conn && lost) {
            PQfinish(db->conn);
            db->conn = NULL;
        }
        log_json(LOG_WARN, "database unavailable",
                 json_pack("{s:s,s:s}", "during", what, "error", detail));
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "database unavailable");
    }
    if (state && strcmp(state, "23505") == 0)
        return err_set(ERR_CONFLICT, errbuf, errlen, "conflict");
    if (state && strcmp(state, "57014") == 0) { /* db_cancel(), ours or another session's */
        log_json(LOG_WARN, "statement canceled", json_pack("{s:s}", "during", what));
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "statement canceled, retry");
    }
    if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) {
        log_json(LOG_WARN, "transaction conflict",
                 json_pack("{s:s,s:s}", "during", what, "sqlstate", state));
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "transaction conflict, retry");
    }
    log_json(LOG_ERROR, "database error",
             json_pack("{s:s,s:s,s:s}", "during", what, "sqlstate", state ? state : "", "error",
                       detail));
    return err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
}

/* Before a statement: no result yet, no SQL state, a live connection. */
static enum err
prepare_call(struct db *db, PGresult **out, char *errbuf, size_t errlen)
{
    if (out)
        *out = NULL;
    db->sqlstate[0] = '\0';
    return db_ensure(db, errbuf, errlen);
}

/*
 * Map a result onto enum err (COPY_IN counts as success when copy_ok);
 * keeps it in *out on success, else clears it.
 */
static enum err
take_result(struct db *db, PGresult *res, PGresult **out, int copy_ok, const char *what,
            char *errbuf, size_t errlen)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    enum err rc;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !(copy_ok && st == PGRES_COPY_IN)) {
        rc = db_result_error(db, res, what, errbuf, errlen);
        PQclear(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return ERR_OK;
}

enum err
db_query_bin(struct db *db, PGresult **out, const char *sql, int nparams, const char *const *params,
             const int *lengths, const int *formats, char *errbuf, size_t errlen)
{
    PGresult *res;
    enum err rc;

    rc = prepare_call(db, out, errbuf, errlen);
    if (rc)
        return rc;
    res = PQexecParams(db->conn, sql, nparams, NULL, params, lengths, formats, 0);
    return take_result(db, res, out, 1, sql, errbuf, errlen);
}

enum err
db_prepare(struct db *db, const char *name, const char *sql, int nparams, char *errbuf,
           size_t errlen)
{
    PGresult *res;
    enum err rc;
    int i;

    rc = prepare_call(db, NULL, errbuf, errlen);
    if (rc)
        return rc;
    for (i = 0; i < db->nprepared; i++)
        if (db->prepared[i] == name)
            return ERR_OK;
    res = PQprepare(db->conn, name, sql, nparams, NULL);
    rc = take_result(db, res, NULL, 0, sql, errbuf, errlen);
    if (!rc && db->nprepared < DB_MAX_PREPARED)
        db->prepared[db->nprepared++] = name;
    return rc;
}

enum err
db_query_prepared(struct db *db, PGresult **out, const char *name, const char *sql, int nparams,
                  const char *const *params, const int *lengths, const int *formats, char *errbuf,
                  size_t errlen)
{
    PGresult *res;
    enum err rc;

    rc = db_prepare(db, name, sql, nparams, errbuf, errlen);
    if (!rc)
        rc = prepare_call(db, out, errbuf, errlen);
    if (rc)
        return rc;
    res = PQexecPrepared(db->conn, name, nparams, params, lengths, formats, 0);
    return take_result(db, res, out, 0, sql, errbuf, errlen);
}

enum err
db_query(struct db *db, PGresult **out, const char *sql, int nparams, const char *const *params,
         char *errbuf, size_t errlen)
{
    return db_query_bin(db, out, sql, nparams, params, NULL, NULL, errbuf, errlen);
}

enum err
db_send(struct db *db, const char *sql, int nparams, const char *const *params, char *errbuf,
        size_t errlen)
{
    enum err rc;

    rc = prepare_call(db, NULL, errbuf, errlen);
    if (rc)
        return rc;
    if (!PQsendQueryParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0))
        return db_result_error(db, NULL, sql, errbuf, errlen);
    return ERR_OK;
}

int
db_ready(struct db *db, int timeout_ms)
{
    long long end = clock_mono_ms() + timeout_ms;
    struct pollfd p;
    long long left;

    for (;;) {
        if (!db->conn || !PQconsumeInput(db->conn) || !PQisBusy(db->conn))
            return 1;
        left = end - clock_mono_ms();
        p.fd = PQsocket(db->conn);
        p.events = POLLIN;
        p.revents = 0;
        if (p.fd < 0)
            return 1;
        if (left <= 0 || poll(&p, 1, (int)left) == 0)
            return 0;
    }
}

enum err
db_receive(struct db *db, PGresult **out, char *errbuf, size_t errlen)
{
    PGresult *first = NULL;
    PGresult *res;

    if (out)
        *out = NULL;
    if (!db->conn)
        return db_result_error(db, NULL, "a sent statement", errbuf, errlen);
    while ((res = PQgetResult(db->conn)) != NULL) { /* to the end: the connection is free again */
        if (!first)
            first = res;
        else
            PQclear(res);
    }
    return take_result(db, first, out, 0, "a sent statement", errbuf, errlen);
}

enum err
db_exec(struct db *db, const char *sql, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = prepare_call(db, NULL, errbuf, errlen);
    if (rc)
        return rc;
    return take_result(db, PQexec(db->conn, sql), NULL, 0, sql, errbuf, errlen);
}

int
db_in_transaction(const struct db *db)
{
    return db->conn && PQstatus(db->conn) == CONNECTION_OK &&
           PQtransactionStatus(db->conn) != PQTRANS_IDLE;
}

void
db_rollback(struct db *db)
{
    PGresult *res;

    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
        return;
    if (PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return;
    res = PQexec(db->conn, "ROLLBACK");
    PQclear(res);
    if (PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
}

enum err
db_copy_start(struct db *db, const char *sql, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    rc = db_ensure(db, errbuf, errlen);
    if (rc)
        return rc;
    res = PQexec(db->conn, sql);
    if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
        rc = db_result_error(db, res, sql, errbuf, errlen);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    return ERR_OK;
}

enum err
db_copy_send(struct db *db, const char *data, size_t len, char *errbuf, size_t errlen)
{
    if (!db->conn)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "database unavailable");
    while (len > 0) {
        int n = len > (1 << 30) ? (1 << 30) : (int)len;

        if (PQputCopyData(db->conn, data, n) != 1)
            return db_result_error(db, NULL, "copy", errbuf, errlen);
        data += n;
        len -= (size_t)n;
    }
    return ERR_OK;
}

enum err
db_copy_end(struct db *db, char *errbuf, size_t errlen)
{
    PGresult *res;
    enum err rc = ERR_OK;

    if (!db->conn)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "database unavailable");
    if (PQputCopyEnd(db->conn, NULL) != 1)
        return db_result_error(db, NULL, "copy end", errbuf, errlen);
    while ((res = PQgetResult(db->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc)
            rc = db_result_error(db, res, "copy", errbuf, errlen);
        PQclear(res);
    }
    return rc;
}

enum err
db_copy_flush(struct db *db, struct buf *out, size_t min, char *errbuf, size_t errlen)
{
    enum err rc;

    if (out->len == 0 || out->len < min)
        return ERR_OK;
    rc = db_copy_send(db, out->data, out->len, errbuf, errlen);
    buf_reset(out);
    return rc;
}

enum err
db_copy_rows(struct db *db, const char *sql, size_t nrows, db_copy_row_fn fn, const void *ctx,
             char *errbuf, size_t errlen)
{
    struct buf out;
    size_t r;
    enum err rc;

    buf_init(&out, 0);
    rc = db_copy_start(db, sql, errbuf, errlen);
    for (r = 0; r < nrows && !rc; r++) {
        rc = fn(ctx, r, &out);
        if (!rc)
            rc = db_copy_flush(db, &out, DB_COPY_CHUNK, errbuf, errlen);
    }
    if (!rc)
        rc = db_copy_flush(db, &out, 0, errbuf, errlen);
    if (!rc)
        rc = db_copy_end(db, errbuf, errlen);
    buf_release(&out);
    return rc;
}

/* Run a query that must return a row: ERR_NOT_FOUND (message `missing`) when none. */
static enum err
query_row(struct db *db, PGresult **res, const char *sql, int nparams, const char *const *params,
          const char *missing, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = db_query(db, res, sql, nparams, params, errbuf, errlen);
    if (rc || PQntuples(*res) > 0)
        return rc;
    PQclear(*res);
    *res = NULL;
    return err_set(ERR_NOT_FOUND, errbuf, errlen, "%s", missing);
}

enum err
db_query_ll(struct db *db, const char *sql, int nparams, const char *const *params,
            const char *missing, long long *value, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    rc = query_row(db, &res, sql, nparams, params, missing, errbuf, errlen);
    if (rc)
        return rc;
    *value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return ERR_OK;
}

enum err
db_get_json(struct db *db, const char *sql, int nparams, const char *const *params,
            db_row_json_fn fn, const char *missing, json_t **out, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    *out = NULL;
    rc = query_row(db, &res, sql, nparams, params, missing, errbuf, errlen);
    if (rc)
        return rc;
    *out = fn(res, 0);
    PQclear(res);
    return ERR_OK;
}

enum err
db_page_json(struct db *db, const char *sql, int nparams, const char *const *params, int limit,
             db_row_json_fn fn, json_t **items, int *more, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    int n;
    int i;
    enum err rc;

    *items = NULL;
    *more = 0;
    rc = db_query(db, &res, sql, nparams, params, errbuf, errlen);
    if (rc)
        return rc;
    n = PQntuples(res);
    if (n > limit) {
        *more = 1;
        n = limit;
    }
    *items = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(*items, fn(res, i));
    PQclear(res);
    return ERR_OK;
}

/* ERR_OK when q's table has a row with id `before`, else ERR_BAD_INPUT (unknown cursor). */
static enum err
cursor_exists(struct db *db, const struct db_page_query *q, const char *before, char *errbuf,
              size_t errlen)
{
    PGresult *res = NULL;
    struct buf sql;
    int n;
    enum err rc;

    buf_init(&sql, 0);
    buf_printf(&sql, "SELECT 1 FROM %s WHERE id = $1", q->table);
    rc = db_query(db, &res, sql.data, 1, &before, errbuf, errlen);
    buf_release(&sql);
    if (rc)
        return rc;
    n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "before: unknown cursor, no such %s",
                       q->what);
    return ERR_OK;
}

enum err
db_page_before_json(struct db *db, const struct db_page_query *q, const char *before, int limit,
                    json_t **items, int *more, char *errbuf, size_t errlen)
{
    struct buf sql;
    char lim[16];
    const char *params[2];
    enum err rc;

    *items = NULL;
    *more = 0;
    if (before) {
        rc = cursor_exists(db, q, before, errbuf, errlen);
        if (rc)
            return rc;
    }
    buf_init(&sql, 0);
    buf_printf(&sql,
               "SELECT %s FROM %s WHERE $1::uuid IS NULL OR (%s, id) < (SELECT %s, id FROM %s "
               "WHERE id = $1) ORDER BY %s DESC, id DESC LIMIT $2",
               q->columns, q->table, q->order_col, q->order_col, q->table, q->order_col);
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    params[0] = before;
    params[1] = lim;
    rc = db_page_json(db, sql.data, 2, params, limit, q->fn, items, more, errbuf, errlen);
    buf_release(&sql);
    return rc;
}
