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

#include "core/err.h"

struct db;

struct db *db_new(const char *conninfo);
void db_free(struct db *db); /* NULL-safe; closes the connection */

/* Connect if not connected (or the connection broke). ERR_UNAVAILABLE on failure. */
enum err db_ensure(struct db *db, char *errbuf, size_t errlen);
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
 * Same as db_query_bin, through a statement prepared once per connection
 * under `name` (a static string; at most DB_MAX_PREPARED names). Saves the
 * parse and plan of hot statements.
 */
#define DB_MAX_PREPARED 16
enum err db_query_prepared(struct db *db, PGresult **out, const char *name, const char *sql,
                           int nparams, const char *const *params, const int *lengths,
                           const int *formats, char *errbuf, size_t errlen);
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

/* Statements without parameters, several allowed (simple query protocol). */
enum err db_exec(struct db *db, const char *sql, char *errbuf, size_t errlen);
/* ROLLBACK if a transaction is open; never fails (a broken connection is dropped). */
void db_rollback(struct db *db);

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

#endif
