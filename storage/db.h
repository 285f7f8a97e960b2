/*
 * db.h - one PostgreSQL connection with error classification
 *
 * A struct db belongs to one thread (a worker). It connects lazily and
 * reconnects after the server went away, so a PostgreSQL restart costs the
 * requests in flight a 503 and nothing more. Every query helper maps
 * failures onto enum err: lost connection / server starting or shutting
 * down -> ERR_UNAVAILABLE, unique violation -> ERR_CONFLICT, anything else
 * -> ERR_INTERNAL (logged once here, with the SQL state; the client only
 * sees "internal error").
 */
#ifndef INGESTD_DB_H
#define INGESTD_DB_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

struct db;

struct db *db_new(const char *conninfo);
void db_free(struct db *db); /* NULL-safe; closes the connection */

/*
 * Close the connection now (NULL-safe; a no-op when not connected); the
 * next statement connects again. libpq keeps its buffers as large as the
 * largest message they ever held (a 60 MB event's content), so a worker
 * drops its connection after moving a large message to give that memory
 * back. Call between transactions only.
 */
void db_disconnect(struct db *db);
/*
 * A second connection of db's (same conninfo, connected on its first
 * statement, closed with db and by db_disconnect(db)), for a statement that
 * runs in PostgreSQL beside one on db: db_send() on it, the statement on db,
 * then db_receive() on it. Its own session: it sees what is committed, not
 * db's open transaction. Borrowed; one thread at a time, as db.
 */
struct db *db_side(struct db *db);
/*
 * Send a statement (text parameters, as db_query) without waiting for its
 * answer. On ERR_OK the caller must call db_receive() before the next
 * statement on db; on an error nothing is pending.
 */
enum err db_send(struct db *db, const char *sql, int nparams, const char *const *params,
                 char *errbuf, size_t errlen);
/*
 * Wait up to timeout_ms for the answer of the statement db_send() sent: 1
 * when db_receive() will not block (the answer, or an error, is there), 0
 * when it is still running after timeout_ms.
 */
int db_ready(struct db *db, int timeout_ms);
/*
 * Ask the server to cancel the statement db_send() sent (a no-op when none
 * runs); its db_receive() then fails with ERR_UNAVAILABLE ("statement
 * canceled"). Same thread as db, between db_send() and db_receive().
 */
void db_cancel(struct db *db);
/* Wait for the answer of the statement db_send() sent; *out as db_query's. */
enum err db_receive(struct db *db, PGresult **out, char *errbuf, size_t errlen);
/* Connect if not connected (or the connection broke). ERR_UNAVAILABLE on failure. */
enum err db_ensure(struct db *db, char *errbuf, size_t errlen);
/* Asked while a connection attempt waits: nonzero abandons the attempt. */
typedef int (*db_cancel_fn)(void *ud);
/*
 * Open a new connection now (an open one is closed first), for the start-up
 * wait, which logs each attempt itself: nothing is logged here. cancel (may
 * be NULL) is asked at least every DB_CONNECT_POLL_MS while libpq waits for
 * the server. On failure ERR_UNAVAILABLE and errbuf holds libpq's message on
 * one line, without the password (conninfo_scrub()); an abandoned attempt
 * says "connection attempt abandoned".
 */
#define DB_CONNECT_POLL_MS 100
enum err db_connect(struct db *db, db_cancel_fn cancel, void *ud, char *errbuf, size_t errlen);
/* The live connection (after db_ensure). Borrowed. */
PGconn *db_conn(struct db *db);

/*
 * Run a statement with text parameters (NULL entries are SQL NULL). On
 * success *out (if not NULL) holds the result, which the caller PQclear()s;
 * when out is NULL the result is cleared here.
 */
enum err db_query(struct db *db, PGresult **out, const char *sql, int nparams,
                  const char *const *params, char *errbuf, size_t errlen);
/* Same, with explicit lengths and formats (binary parameters). */
enum err db_query_bin(struct db *db, PGresult **out, const char *sql, int nparams,
                      const char *const *params, const int *lengths, const int *formats,
                      char *errbuf, size_t errlen);
/*
 * Prepare sql as `name` on the connection unless it already is (a name is a
 * static string, compared by address; connects when needed).
 */
enum err db_prepare(struct db *db, const char *name, const char *sql, int nparams, char *errbuf,
                    size_t errlen);
/*
 * Same as db_query_bin, through a statement prepared once per connection
 * under `name` (a static string; at most DB_MAX_PREPARED names). Saves the
 * parse and plan of hot statements.
 */
#define DB_MAX_PREPARED 16
enum err db_query_prepared(struct db *db, PGresult **out, const char *name, const char *sql,
                           int nparams, const char *const *params, const int *lengths,
                           const int *formats, char *errbuf, size_t errlen);
/*
 * Run a query for one integer, the first column of its first row, into
 * *value: ERR_NOT_FOUND (with `missing` as the message) when it returns no row.
 */
enum err db_query_ll(struct db *db, const char *sql, int nparams, const char *const *params,
                     const char *missing, long long *value, char *errbuf, size_t errlen);
/* Builds the API object of row r of a result. */
typedef json_t *(*db_row_json_fn)(PGresult *res, int r);

/*
 * Run a query for one row and build its object: ERR_NOT_FOUND (with
 * `missing` as the message) when it returns no row.
 */
enum err db_get_json(struct db *db, const char *sql, int nparams, const char *const *params,
                     db_row_json_fn fn, const char *missing, json_t **out, char *errbuf,
                     size_t errlen);
/*
 * Run a page query that asks for limit + 1 rows: *items gets the first
 * `limit` as objects and *more says whether another row followed.
 */
enum err db_page_json(struct db *db, const char *sql, int nparams, const char *const *params,
                      int limit, db_row_json_fn fn, json_t **items, int *more, char *errbuf,
                      size_t errlen);

/* A list of a table's rows newest first, paged back by the id of the last row shown. */
struct db_page_query {
    const char *columns;   /* the select list fn reads */
    const char *table;     /* has a uuid primary key `id` */
    const char *order_col; /* rows are ordered by (order_col, id), newest first */
    const char *what;      /* what a row is, for the unknown-cursor message ("merge") */
    db_row_json_fn fn;
};
/*
 * One page of q: the rows older than the row whose id is `before` (NULL:
 * from the newest), at most `limit` objects in *items, *more = 1 when more
 * follow. The id of no stored row is ERR_BAD_INPUT, "before: unknown cursor,
 * no such <what>" - every such list answers an unknown cursor alike.
 */
enum err db_page_before_json(struct db *db, const struct db_page_query *q, const char *before,
                             int limit, json_t **items, int *more, char *errbuf, size_t errlen);

/* Statements without parameters, several allowed (simple query protocol). */
enum err db_exec(struct db *db, const char *sql, char *errbuf, size_t errlen);
/* ROLLBACK if a transaction is open; never fails (a broken connection is dropped). */
void db_rollback(struct db *db);
/* 1 when the connection is inside a transaction (open, failed or in a statement). */
int db_in_transaction(const struct db *db);

/* Map a failed result (or NULL) onto enum err and log it; exposed for COPY. */
enum err db_result_error(struct db *db, PGresult *res, const char *what, char *errbuf,
                         size_t errlen);

/* The SQL state of the last error, "" when none. */
const char *db_last_sqlstate(const struct db *db);

/*
 * COPY ... FROM STDIN helpers: start, send (buffered by libpq), end. On any
 * error the COPY is ended and the error mapped as above.
 */
enum err db_copy_start(struct db *db, const char *sql, char *errbuf, size_t errlen);
enum err db_copy_send(struct db *db, const char *data, size_t len, char *errbuf, size_t errlen);
enum err db_copy_end(struct db *db, char *errbuf, size_t errlen);
/* What COPY writers gather before they send it. */
#define DB_COPY_CHUNK (256 * 1024)
/* Send out's data with db_copy_send() and empty out once it holds min bytes (0: any). */
enum err db_copy_flush(struct db *db, struct buf *out, size_t min, char *errbuf, size_t errlen);
/* Appends row r of a COPY in text format, a whole line, to out. */
typedef enum err (*db_copy_row_fn)(const void *ctx, size_t r, struct buf *out);
/* COPY sql (... FROM STDIN, text format) with rows 0..nrows-1 written by fn, sent as they fill. */
enum err db_copy_rows(struct db *db, const char *sql, size_t nrows, db_copy_row_fn fn,
                      const void *ctx, char *errbuf, size_t errlen);

#endif
