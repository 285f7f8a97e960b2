/*
 * handler_support.c - calling handlers without sockets (see handler_support.h)
 *
 * Databases are made and dropped over a maintenance connection to the
 * `postgres` database: CREATE DATABASE ... TEMPLATE ingestd copies the
 * migrated database, which works only while nobody is connected to it, so
 * the migrating connection is closed before the first copy and no test
 * connects to `ingestd` itself.
 */
#include "handler_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "handlers/repos_cache.h"
#include "storage/db.h"
#include "storage/migrate.h"

struct hs_pg {
    struct th_pg *th;
    char *conninfo_admin; /* the `postgres` database */
    int ndbs;             /* databases made so far, for their names */
};

static void hs_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Fail the running test at the caller's file and line. */
static void
hs_fail_at(const char *file, int line, const char *fmt, ...)
{
    struct buf b;
    va_list ap;

    buf_init(&b, 0);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    print_error("%s\n", b.data ? b.data : "");
    buf_release(&b);
    _fail(file, line);
    abort(); /* _fail() does not return */
}

#define hs_fail(...) hs_fail_at(__FILE__, __LINE__, __VA_ARGS__)

/* Run one statement on a new connection to `conninfo`; fails the test unless it succeeds. */
static void
exec_on(const char *conninfo, const char *sql)
{
    PGconn *conn = PQconnectdb(conninfo);
    PGresult *res;
    char msg[512];

    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        PQfinish(conn);
        hs_fail("connecting to %s: %s", conninfo, msg);
    }
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(conn);
        hs_fail("%s: %s", sql, msg);
    }
    PQclear(res);
    PQfinish(conn);
}

/* ---- PostgreSQL -------------------------------------------------------- */

struct hs_pg *
hs_pg_start(void)
{
    struct hs_pg *pg = xcalloc(1, sizeof(*pg));
    char errbuf[ERRBUF_SIZE];
    struct db *db;
    enum err rc;

    pg->th = th_pg_start();
    /* in a key=value conninfo the last dbname wins */
    pg->conninfo_admin = th_strf("%s dbname=postgres", th_pg_url(pg->th));
    /* as server/main.c prepares the database before it serves */
    db = db_new(th_pg_url(pg->th));
    rc = migrate_apply(db, NULL, errbuf, sizeof(errbuf));
    if (!rc)
        rc = migrate_check(db, errbuf, sizeof(errbuf));
    db_free(db);
    if (rc) {
        hs_pg_free(pg);
        hs_fail("migrating the test database: %s", errbuf);
    }
    return pg;
}

void
hs_pg_free(struct hs_pg *pg)
{
    if (!pg)
        return;
    th_pg_free(pg->th);
    free(pg->conninfo_admin);
    free(pg);
}

struct hs_app *
hs_app_new(struct hs_pg *pg, int migrated)
{
    struct hs_app *a = xcalloc(1, sizeof(*a));
    char errbuf[ERRBUF_SIZE];
    char *sql;

    a->pg = pg;
    a->dbname = th_strf("hs_%d", ++pg->ndbs);
    sql = th_strf("CREATE DATABASE %s%s", a->dbname, migrated ? " TEMPLATE ingestd" : "");
    exec_on(pg->conninfo_admin, sql);
    free(sql);
    a->conninfo = th_strf("%s dbname=%s", th_pg_url(pg->th), a->dbname);
    a->db = db_new(a->conninfo);
    if (db_ensure(a->db, errbuf, sizeof(errbuf)))
        hs_fail("connecting to %s: %s", a->conninfo, errbuf);

    /* server/main.c's defaults (OPERATIONS.md); only these are read by handlers */
    a->cfg.max_body_bytes = (size_t)64 << 20;
    a->cfg.max_columns = 1000;
    a->cfg.max_field_bytes = 65536;
    a->cfg.max_rows = 1000000;
    a->cfg.db_pool = 1;
    a->cfg.inventory_streams = 1;
    a->cfg.inventory_merge_below = 10000;
    a->app.cfg = &a->cfg;
    a->app.conninfo = a->conninfo;
    a->app.repos_cache = repos_cache_new();
    a->app.inventory_runner = NULL; /* inventory_runner_wake(NULL) is a no-op */
    return a;
}

void
hs_app_free(struct hs_app *a)
{
    char *sql;

    if (!a)
        return;
    db_free(a->db);
    repos_cache_free(a->app.repos_cache);
    sql = th_strf("DROP DATABASE IF EXISTS %s WITH (FORCE)", a->dbname);
    exec_on(a->pg->conninfo_admin, sql);
    free(sql);
    free(a->dbname);
    free(a->conninfo);
    free(a);
}

void
hs_app_exec(struct hs_app *a, const char *sql)
{
    char errbuf[ERRBUF_SIZE];

    if (db_exec(a->db, sql, errbuf, sizeof(errbuf)))
        hs_fail("%s: %s", sql, errbuf);
}

int
hs_group_setup(void **state)
{
    *state = hs_pg_start();
    return 0;
}

int
hs_group_teardown(void **state)
{
    hs_pg_free(*state);
    return 0;
}

int
hs_setup(void **state)
{
    /* cmocka hands each test the group state first */
    *state = hs_app_new(*state, 1);
    return 0;
}

int
hs_teardown(void **state)
{
    hs_app_free(*state);
    return 0;
}

/* ---- requests ---------------------------------------------------------- */

void
hs_req_init(struct hs_req *r, struct hs_app *a, const char *method, const char *path)
{
    const struct route *route = NULL;
    char allow[64];
    enum router_result rr;

    memset(r, 0, sizeof(*r));
    r->method = xstrdup(method);
    r->path = xstrdup(path);
    r->scratch = xmalloc(strlen(path) + 1);
    r->body = xstrdup("");
    rr = router_match(app_routes, app_routes_count, r->method, r->path, r->scratch, &route,
                      r->req.params, &r->req.nparams, allow, sizeof(allow));
    if (rr != ROUTER_FOUND)
        hs_fail("no route for %s %s (router result %d, allow \"%s\")", method, path, (int)rr,
                rr == ROUTER_BAD_METHOD ? allow : "");
    r->req.method = r->method;
    r->req.is_head = strcmp(method, "HEAD") == 0;
    r->req.path = r->path;
    r->req.request_id = HS_REQUEST_ID;
    r->req.headers = r->headers;
    r->req.query = r->query;
    r->req.body = r->body;
    r->req.route = route;
    r->req.app = a ? &a->app : NULL;
    /* inline handlers run on the HTTP thread and get no connection */
    r->req.db = a && !(route->flags & ROUTE_INLINE) ? a->db : NULL;
}

void
hs_req_header(struct hs_req *r, const char *name, const char *value)
{
    if (r->req.nheaders == HS_MAX_KV)
        hs_fail("more than %d headers", HS_MAX_KV);
    r->headers[r->req.nheaders].name = xstrdup(name);
    r->headers[r->req.nheaders].value = xstrdup(value);
    r->req.nheaders++;
}

void
hs_req_query(struct hs_req *r, const char *name, const char *value)
{
    if (r->req.nquery == HS_MAX_KV)
        hs_fail("more than %d query parameters", HS_MAX_KV);
    r->query[r->req.nquery].name = xstrdup(name);
    r->query[r->req.nquery].value = xstrdup(value);
    r->req.nquery++;
}

void
hs_req_body(struct hs_req *r, const void *data, size_t len)
{
    free(r->body);
    r->body = xmalloc(len + 1);
    memcpy(r->body, data, len);
    r->body[len] = '\0';
    r->req.body = r->body;
    r->req.body_len = len;
    r->req.body_raw_len = len;
}

void
hs_req_body_str(struct hs_req *r, const char *text)
{
    hs_req_body(r, text, strlen(text));
}

void
hs_req_release(struct hs_req *r)
{
    size_t i;

    for (i = 0; i < r->req.nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    for (i = 0; i < r->req.nquery; i++) {
        free(r->query[i].name);
        free(r->query[i].value);
    }
    free(r->method);
    free(r->path);
    free(r->scratch);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

void
hs_run_at(struct hs_req *r, handler_fn handler, struct response *res, const char *file, int line)
{
    if (r->req.route->handler != handler)
        hs_fail_at(file, line, "the route table does not send %s %s to this handler", r->req.method,
                   r->req.path);
    response_init(res);
    handler(&r->req, res);
    if (r->req.db && PQtransactionStatus(db_conn(r->req.db)) != PQTRANS_IDLE)
        hs_fail_at(file, line, "%s %s left the connection inside a transaction (state %d)",
                   r->req.method, r->req.path, (int)PQtransactionStatus(db_conn(r->req.db)));
}

void
hs_call_at(struct hs_app *a, const char *method, const char *path, handler_fn handler,
           struct response *res, const char *file, int line)
{
    struct hs_req r;

    hs_req_init(&r, a, method, path);
    hs_run_at(&r, handler, res, file, line);
    hs_req_release(&r);
}

/* ---- responses --------------------------------------------------------- */

const char *
hs_body(const struct response *res, size_t *len)
{
    if (res->shared_release && res->shared_iov) {
        /* a body of slices, joined once into the (otherwise unused) body buffer */
        struct response *r = (struct response *)(uintptr_t)res;
        size_t i;

        if (r->body.len != res->shared_len) {
            buf_reset(&r->body);
            for (i = 0; i < res->shared_iovcnt; i++)
                buf_append(&r->body, res->shared_iov[i].base, res->shared_iov[i].len);
        }
        *len = r->body.len;
        return r->body.data ? r->body.data : "";
    }
    if (res->shared_release) {
        *len = res->shared_len;
        return res->shared_data;
    }
    *len = res->body.len;
    return res->body.data ? res->body.data : "";
}

void
hs_want_status_at(const struct response *res, int status, const char *file, int line)
{
    size_t len;
    const char *body = hs_body(res, &len);

    if (res->status != status)
        hs_fail_at(file, line, "status %d, want %d\n  body: %.*s", res->status, status,
                   (int)(len > 800 ? 800 : len), body);
}

void
hs_want_header_at(const struct response *res, const char *name, const char *value, const char *file,
                  int line)
{
    const char *got = response_get_header(res, name);

    if (!value && got)
        hs_fail_at(file, line, "header %s should be absent, is \"%s\"", name, got);
    if (value && !got)
        hs_fail_at(file, line, "header %s is missing (want \"%s\")", name, value);
    if (value && strcmp(got, value) != 0)
        hs_fail_at(file, line, "header %s is \"%s\", want \"%s\"", name, got, value);
}

void
hs_want_content_type_at(const struct response *res, const char *ct, const char *file, int line)
{
    const char *got = res->content_type;

    if ((!ct) != (!got) || (ct && strcmp(ct, got) != 0))
        hs_fail_at(file, line, "content type \"%s\", want \"%s\"", got ? got : "(none)",
                   ct ? ct : "(none)");
}

static json_t *
parse_body(const struct response *res, const char *file, int line)
{
    json_error_t jerr;
    size_t len;
    const char *body = hs_body(res, &len);
    json_t *j = json_loadb(body, len, 0, &jerr);

    if (!j)
        hs_fail_at(file, line, "body is not JSON (%s): %.*s", jerr.text,
                   (int)(len > 800 ? 800 : len), body);
    return j;
}

json_t *
hs_want_json_at(const struct response *res, int status, const char *file, int line)
{
    hs_want_status_at(res, status, file, line);
    hs_want_content_type_at(res, "application/json", file, line);
    return parse_body(res, file, line);
}

void
hs_want_members_at(json_t *got, const char *expected, const char *file, int line)
{
    json_error_t jerr;
    json_t *want = json_loads(expected, 0, &jerr);
    const char *k;
    json_t *v;

    if (!want || !json_is_object(want))
        hs_fail_at(file, line, "bad expected JSON object %s: %s", expected, jerr.text);
    if (!json_is_object(got))
        hs_fail_at(file, line, "not a JSON object, want one with %s", expected);
    json_object_foreach(want, k, v)
    {
        json_t *g = json_object_get(got, k);

        if (!g || !json_equal(g, v)) {
            char *gs = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
            char *ws = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

            print_error("member \"%s\" should be %s in\n  %s\n", k, ws, gs);
            free(gs);
            free(ws);
            json_decref(want);
            _fail(file, line);
        }
    }
    json_decref(want);
}

json_t *
hs_want_problem_at(const struct response *res, int status, const char *detail_part,
                   const char *file, int line)
{
    json_t *p;
    const char *detail;

    hs_want_status_at(res, status, file, line);
    hs_want_content_type_at(res, "application/problem+json", file, line);
    p = parse_body(res, file, line);
    if (!json_is_string(json_object_get(p, "type")) ||
        strcmp(json_string_value(json_object_get(p, "type")), "about:blank") != 0 ||
        json_integer_value(json_object_get(p, "status")) != status ||
        !json_is_string(json_object_get(p, "title")) ||
        strcmp(json_string_value(json_object_get(p, "title")), http_status_title(status)) != 0 ||
        !json_is_string(json_object_get(p, "request_id")) ||
        strcmp(json_string_value(json_object_get(p, "request_id")), HS_REQUEST_ID) != 0) {
        size_t len;

        hs_fail_at(file, line, "not an RFC 9457 problem for %d: %s", status, hs_body(res, &len));
    }
    detail = json_string_value(json_object_get(p, "detail"));
    if (detail_part && (!detail || !strstr(detail, detail_part)))
        hs_fail_at(file, line, "problem detail \"%s\" does not contain \"%s\"",
                   detail ? detail : "(none)", detail_part);
    return p;
}
