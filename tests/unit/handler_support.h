/*
 * handler_support.h - calling handlers without sockets (prefix hs_)
 *
 * The handler unit tests (tests/unit/test_handlers_*.c) build a struct
 * request by hand, the way server/http.c builds one from libmicrohttpd, call
 * the handler directly and check the struct response it filled. There is no
 * socket, no libmicrohttpd and no worker pool; where a handler needs the
 * database it gets a real PostgreSQL (tests/integration/harness.h,
 * th_pg_start), never a mock.
 *
 * Databases: hs_pg_start() starts one embedded PostgreSQL per test program
 * and applies the migrations to its `ingestd` database with migrate_apply(),
 * as server/main.c does before it serves. Each test then takes a database of
 * its own with hs_app_new(): a copy of that migrated database (or an empty
 * one, for the not-migrated cases), so tests do not see each other's rows
 * and may run in any order.
 *
 * What the adapter would set, hs_req_init() sets: method, is_head, path, the
 * {id} path parameters and the route (matched against the real route table,
 * server/routes.c), a fixed request id (HS_REQUEST_ID), the app and, unless
 * the route is ROUTE_INLINE, the database connection; an empty body ("").
 * Headers, query parameters and a body are added with hs_req_header(),
 * hs_req_query() and hs_req_body(), already decoded (the adapter hands
 * handlers percent-decoded query values and bodies with gzip/multipart
 * removed).
 *
 * Failure policy: like the harness, a helper that cannot go on fails the
 * current cmocka test; the hs_want_* checks report the caller's file and
 * line. Ownership: everything passed in is copied or borrowed for the call;
 * every struct is released by its own _release/_free. Not thread-safe.
 */
#ifndef INGESTD_TEST_HANDLER_SUPPORT_H
#define INGESTD_TEST_HANDLER_SUPPORT_H

#include <jansson.h>
#include <stddef.h>

#include "core/config.h"
#include "handlers/app.h"
#include "handlers/request.h"
#include "server/router.h"
#include "tests/integration/harness.h" /* th_pg_*, th_jstr, th_jint, th_strf */

/* The X-Request-Id every built request carries; problem bodies must echo it. */
#define HS_REQUEST_ID "hs-test-request-id"
/* Headers and query parameters one built request may carry. */
#define HS_MAX_KV 16

/* ---- PostgreSQL: one server per program, one database per test ---------- */

struct hs_pg;

/* Start an embedded PostgreSQL and migrate its `ingestd` database; fails the test on error. */
struct hs_pg *hs_pg_start(void);
/* Stop the server and remove its directory; NULL-safe. */
void hs_pg_free(struct hs_pg *pg);

/*
 * What a handler shares with the others (struct app) for one test: the
 * configuration, a repos cache, no inventory runner (waking it is a no-op),
 * and the connection a worker would pass (struct db) to a database of the
 * test's own.
 */
struct hs_app {
    struct config cfg; /* the documented defaults; a test may lower a limit */
    struct app app;
    struct db *db;
    char *dbname;
    char *conninfo;
    struct hs_pg *pg;
};

/*
 * A new database for one test, a copy of the migrated one (migrated = 1) or
 * empty (migrated = 0), and an app around it. Fails the test on error.
 */
struct hs_app *hs_app_new(struct hs_pg *pg, int migrated);
/* Close the connection, drop the database, free; NULL-safe. */
void hs_app_free(struct hs_app *a);
/* Run SQL on the test's own connection; fails the test unless it succeeds. */
void hs_app_exec(struct hs_app *a, const char *sql);

/*
 * cmocka fixtures: hs_group_setup starts the server (the group state is its
 * struct hs_pg *), hs_setup gives each test a struct hs_app * on a migrated
 * database of its own as its state, hs_teardown and hs_group_teardown free
 * them. Use with cmocka_unit_test_setup_teardown(t, hs_setup, hs_teardown).
 */
int hs_group_setup(void **state);
int hs_group_teardown(void **state);
int hs_setup(void **state);
int hs_teardown(void **state);

/* ---- requests ---------------------------------------------------------- */

/* A request as the adapter would build it, with the storage it points into. */
struct hs_req {
    struct request req;
    struct kv headers[HS_MAX_KV];
    struct kv query[HS_MAX_KV];
    char *method;
    char *path;
    char *scratch; /* the path copy the {id} parameters point into */
    char *body;
};

/*
 * Build `method path` (no query string) for app `a` (NULL for an inline
 * handler that needs none). The route is matched against app_routes; the
 * test fails when none matches.
 */
void hs_req_init(struct hs_req *r, struct hs_app *a, const char *method, const char *path);
/* Add a request header (copied); fails the test past HS_MAX_KV. */
void hs_req_header(struct hs_req *r, const char *name, const char *value);
/* Add a decoded query parameter (copied, in order, repeats allowed). */
void hs_req_query(struct hs_req *r, const char *name, const char *value);
/* Set the decoded body (copied, NUL-terminated as the adapter's is). */
void hs_req_body(struct hs_req *r, const void *data, size_t len);
/* The same for a NUL-terminated text. */
void hs_req_body_str(struct hs_req *r, const char *text);
void hs_req_release(struct hs_req *r);

/*
 * Initialise res and run `handler` on r, as a worker would. Fails the test
 * when the route table does not name `handler` for this request, or when the
 * handler left the database connection inside a transaction (handlers.h).
 * Release res with response_release().
 */
void hs_run_at(struct hs_req *r, handler_fn handler, struct response *res, const char *file,
               int line);
#define hs_run(r, handler, res) hs_run_at((r), (handler), (res), __FILE__, __LINE__)

/* hs_req_init + hs_run + hs_req_release for a request without headers, query or body. */
void hs_call_at(struct hs_app *a, const char *method, const char *path, handler_fn handler,
                struct response *res, const char *file, int line);
#define hs_call(a, method, path, handler, res)                                                     \
    hs_call_at((a), (method), (path), (handler), (res), __FILE__, __LINE__)

/* ---- responses --------------------------------------------------------- */

/* The body (res->body, or the shared body when one is set) and its length. */
const char *hs_body(const struct response *res, size_t *len);

/* Fail unless res->status is `status` (the body is shown). */
void hs_want_status_at(const struct response *res, int status, const char *file, int line);
#define hs_want_status(res, status) hs_want_status_at((res), (status), __FILE__, __LINE__)

/* Fail unless header `name` is `value` (NULL: unless it is absent). */
void hs_want_header_at(const struct response *res, const char *name, const char *value,
                       const char *file, int line);
#define hs_want_header(res, name, value)                                                           \
    hs_want_header_at((res), (name), (value), __FILE__, __LINE__)

/* Fail unless the content type is `ct` (NULL: unless there is none). */
void hs_want_content_type_at(const struct response *res, const char *ct, const char *file,
                             int line);
#define hs_want_content_type(res, ct) hs_want_content_type_at((res), (ct), __FILE__, __LINE__)

/*
 * Fail unless res is `status` with application/json; returns the parsed body
 * (caller json_decref()s).
 */
json_t *hs_want_json_at(const struct response *res, int status, const char *file, int line);
#define hs_want_json(res, status) hs_want_json_at((res), (status), __FILE__, __LINE__)

/*
 * Fail unless every member of the JSON object text `expected` is in `got`
 * with an equal value (members of `got` not named are not looked at).
 */
void hs_want_members_at(json_t *got, const char *expected, const char *file, int line);
#define hs_want_members(got, expected) hs_want_members_at((got), (expected), __FILE__, __LINE__)

/*
 * Fail unless res is an RFC 9457 problem: `status`, application/problem+json,
 * type "about:blank", the status's title, the request id HS_REQUEST_ID and a
 * detail containing `detail_part` (NULL: any). Returns the parsed body
 * (caller json_decref()s).
 */
json_t *hs_want_problem_at(const struct response *res, int status, const char *detail_part,
                           const char *file, int line);
#define hs_want_problem(res, status, detail_part)                                                  \
    hs_want_problem_at((res), (status), (detail_part), __FILE__, __LINE__)

#endif
