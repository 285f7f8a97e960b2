/*
 * http.c - the HTTP adapter on libmicrohttpd
 *
 * Life of a request (struct exchange):
 *   first callback  -> headers, query, request id, route, early checks
 *                      (404/405/411/413/415 are latched, answered at the end)
 *   body callbacks  -> body_intake_feed (decode errors latched, rest discarded)
 *   final callback  -> inline handler, or suspend + submit to the workers
 *   resumed         -> queue the response the worker built
 *   completed       -> log line, free
 */
#include "server/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "core/clock.h"
#include "server/auth.h"
#include "server/body.h"
#include "server/cors.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "handlers/request.h"
#include "server/router.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct app *app;
    struct workers *workers;
    atomic_int inflight;
    int port;
};

enum exchange_state {
    EX_NEW,
    EX_BODY,     /* receiving the body */
    EX_WORKING,  /* suspended, a worker runs the handler */
    EX_RESPONDED /* response queued */
};

struct exchange {
    struct job job; /* first: the worker's job */
    struct http_server *srv;
    struct MHD_Connection *conn;
    enum exchange_state state;
    long long start_ms;
    char request_id[130];
    char *method;
    char *path;
    char *path_scratch;
    struct kv *headers;
    size_t nheaders;
    size_t headers_alloc;
    struct kv *query;
    size_t nquery;
    size_t query_alloc;
    const struct route *route;
    struct body_intake *intake;
    size_t discarded; /* body bytes dropped after an error */
    int latched;      /* res holds an error to send once the body is consumed */
    struct request req;
    struct response res;
};

/* ---- collecting headers and query arguments ---- */

static void
kv_push(struct kv **arr, size_t *n, size_t *alloc, const char *name, const char *value)
{
    if (*n == *alloc) {
        *alloc = *alloc ? *alloc * 2 : 16;
        *arr = xrealloc(*arr, *alloc * sizeof(**arr));
    }
    (*arr)[*n].name = xstrdup(name ? name : "");
    (*arr)[*n].value = xstrdup(value ? value : "");
    (*n)++;
}

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct exchange *ex = cls;

    (void)kind;
    if (ex->nheaders < 200)
        kv_push(&ex->headers, &ex->nheaders, &ex->headers_alloc, key, value);
    return MHD_YES;
}

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct exchange *ex = cls;

    (void)kind;
    if (ex->nquery < 200)
        kv_push(&ex->query, &ex->nquery, &ex->query_alloc, key, value);
    return MHD_YES;
}

static void
kv_free(struct kv *arr, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(arr[i].name);
        free(arr[i].value);
    }
    free(arr);
}

/* ---- exchange lifecycle ---- */

static int
request_id_ok(const char *v)
{
    size_t n = 0;

    if (!v)
        return 0;
    for (; v[n]; n++) {
        char c = v[n];

        if (n >= 128)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return n > 0;
}

static struct exchange *
exchange_new(struct http_server *srv, struct MHD_Connection *conn, const char *method,
             const char *url)
{
    struct exchange *ex = xcalloc(1, sizeof(*ex));
    const char *rid;

    ex->srv = srv;
    ex->conn = conn;
    ex->start_ms = clock_mono_ms();
    ex->method = xstrdup(method);
    ex->path = xstrdup(url);
    ex->path_scratch = xmalloc(strlen(url) + 1);
    response_init(&ex->res);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, ex);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, ex);
    rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (request_id_ok(rid) && strlen(rid) < sizeof(ex->request_id)) {
        strcpy(ex->request_id, rid);
    } else {
        uuid_t u;

        uuid_generate(u);
        uuid_unparse_lower(u, ex->request_id);
    }
    ex->req.method = ex->method;
    ex->req.is_head = strcmp(method, "HEAD") == 0;
    ex->req.path = ex->path;
    ex->req.request_id = ex->request_id;
    ex->req.headers = ex->headers;
    ex->req.nheaders = ex->nheaders;
    ex->req.query = ex->query;
    ex->req.nquery = ex->nquery;
    ex->req.app = srv->app;
    atomic_fetch_add(&srv->inflight, 1);
    return ex;
}

static void
exchange_free(struct exchange *ex)
{
    if (!ex)
        return;
    atomic_fetch_sub(&ex->srv->inflight, 1);
    body_intake_free(ex->intake);
    response_release(&ex->res);
    kv_free(ex->headers, ex->nheaders);
    kv_free(ex->query, ex->nquery);
    free(ex->method);
    free(ex->path);
    free(ex->path_scratch);
    free(ex);
}

/* ---- responses ---- */

static ssize_t
no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static void
release_shared(void *cls)
{
    struct response *holder = cls;

    holder->shared_release(holder->shared_ctx);
    free(holder);
}

/* CORS (cors.h): Vary: Origin, and for an allowed Origin its Access-Control-* headers. */
static void
add_cors_headers(struct exchange *ex, struct MHD_Response *mr)
{
    struct cors_header h[CORS_MAX_HEADERS];
    size_t n = cors_response_headers(ex->srv->app->cfg->cors_origins, &ex->req, h);
    size_t i;

    for (i = 0; i < n; i++)
        MHD_add_response_header(mr, h[i].name, h[i].value);
}

static enum MHD_Result
queue(struct exchange *ex)
{
    struct response *res = &ex->res;
    struct MHD_Response *mr;
    enum MHD_Result ok;
    size_t i;

    if (res->status == 0)
        response_error(res, &ex->req, ERR_INTERNAL, NULL);
    if (res->shared_release) {
        /* hand the shared body's reference to libmicrohttpd */
        struct response *holder = xcalloc(1, sizeof(*holder));

        holder->shared_release = res->shared_release;
        holder->shared_ctx = res->shared_ctx;
        res->shared_release = NULL;
        mr = MHD_create_response_from_buffer_with_free_callback_cls(
            res->shared_len, (void *)(uintptr_t)res->shared_data, release_shared, holder);
    } else if (res->status == 204) {
        /* libmicrohttpd sends no body and no framing headers for a 204 */
        mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else if (res->status == 304) {
        /*
         * libmicrohttpd never sends a 304's body but states its size; a
         * known size (never chunked, whose terminator would be sent) that
         * equals the 200's length, as RFC 9110 8.6 requires of it.
         */
        mr = MHD_create_response_from_callback(res->not_modified_len, 4096, no_body, NULL, NULL);
    } else {
        size_t len = 0;
        char *data = buf_take(&res->body, &len);

        mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        res->shared_len = len; /* for the log line */
    }
    if (!mr)
        return MHD_NO;
    if (res->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    for (i = 0; i < res->nheaders; i++)
        MHD_add_response_header(mr, res->headers[i].name, res->headers[i].value);
    add_cors_headers(ex, mr);
    MHD_add_response_header(mr, "X-Request-Id", ex->request_id);
    ok = MHD_queue_response(ex->conn, (unsigned int)res->status, mr);
    MHD_destroy_response(mr);
    ex->state = EX_RESPONDED;
    return ok;
}

/* ---- early checks on the first callback ---- */

static int
body_expected(struct exchange *ex)
{
    const char *cl = request_header(&ex->req, "Content-Length");
    const char *te = request_header(&ex->req, "Transfer-Encoding");

    return (cl && strcmp(cl, "0") != 0) || (te && strcasestr(te, "chunked"));
}

static void
start_body(struct exchange *ex)
{
    const struct config *cfg = ex->srv->app->cfg;
    const char *cl = request_header(&ex->req, "Content-Length");
    const char *te = request_header(&ex->req, "Transfer-Encoding");
    enum body_kind kind = (ex->route->flags & ROUTE_BODY_CSV)   ? BODY_CSV
                          : (ex->route->flags & ROUTE_BODY_RAW) ? BODY_RAW
                                                                : BODY_JSON;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if ((ex->route->flags & (ROUTE_BODY_CSV | ROUTE_BODY_RAW)) && !cl &&
        !(te && strcasestr(te, "chunked"))) {
        response_problem(&ex->res, &ex->req, 411,
                         "a body is required: send Content-Length or chunked transfer", NULL);
        ex->latched = 1;
        return;
    }
    if (cl && strtoull(cl, NULL, 10) > cfg->max_body_bytes) {
        char detail[128];

        snprintf(detail, sizeof(detail), "body exceeds %zu bytes", cfg->max_body_bytes);
        response_problem(&ex->res, &ex->req, 413, detail, NULL);
        ex->latched = 1;
        return;
    }
    rc = body_intake_new(&ex->intake, kind, request_header(&ex->req, "Content-Type"),
                         request_header(&ex->req, "Content-Encoding"), cfg->max_body_bytes, errbuf,
                         sizeof(errbuf));
    if (rc) {
        response_error(&ex->res, &ex->req, rc, errbuf);
        ex->latched = 1;
    }
}

/*
 * The route's scope against the Authorization header (auth off: every route
 * is open). 401 with WWW-Authenticate without a known token, 403 naming the
 * scope when the token's is lower; the answer is latched.
 */
static int
authorized(struct exchange *ex)
{
    int need = auth_scope_parse(ex->route->scope);
    char detail[128];
    enum err rc;

    if (need <= AUTH_OPEN || !ex->srv->app->auth)
        return 1;
    rc = auth_keeper_check(ex->srv->app->auth, request_header(&ex->req, "Authorization"),
                           (enum auth_scope)need);
    if (rc == ERR_OK)
        return 1;
    if (rc == ERR_FORBIDDEN) {
        snprintf(detail, sizeof(detail), "this token lacks the scope \"%s\" this route needs",
                 auth_scope_name((enum auth_scope)need));
        response_problem(&ex->res, &ex->req, 403, detail, NULL);
    } else {
        response_problem(&ex->res, &ex->req, 401,
                         "a token is required: Authorization: Bearer <token> (or Basic with the "
                         "token as password)",
                         NULL);
        response_header(&ex->res, "WWW-Authenticate", "Bearer realm=\"ingestd\"");
    }
    ex->latched = 1;
    return 0;
}

static void
first_call(struct exchange *ex)
{
    char allow[64];
    enum router_result rr;

    rr = router_match(app_routes, app_routes_count, ex->method, ex->path, ex->path_scratch,
                      &ex->route, ex->req.params, &ex->req.nparams, allow, sizeof(allow));
    if (rr == ROUTER_NOT_FOUND) {
        response_problem(&ex->res, &ex->req, 404, "no such resource", NULL);
        ex->latched = 1;
        return;
    }
    if (rr == ROUTER_BAD_METHOD &&
        cors_preflight(ex->srv->app->cfg->cors_origins, &ex->req, allow, &ex->res)) {
        ex->latched = 1; /* a preflight: 204, no authentication */
        return;
    }
    if (rr == ROUTER_BAD_METHOD) {
        char detail[128];

        snprintf(detail, sizeof(detail), "method %s is not allowed here (allowed: %s)", ex->method,
                 allow);
        response_problem(&ex->res, &ex->req, 405, detail, NULL);
        response_header(&ex->res, "Allow", "%s", allow);
        ex->latched = 1;
        return;
    }
    ex->req.route = ex->route;
    if (!authorized(ex))
        return;
    if (ex->route->flags & (ROUTE_BODY_CSV | ROUTE_BODY_JSON | ROUTE_BODY_RAW))
        start_body(ex);
}

/* ---- running handlers ---- */

static void
run_on_worker(struct job *job, struct db *db)
{
    struct exchange *ex = (struct exchange *)job;

    ex->req.db = db;
    ex->route->handler(&ex->req, &ex->res);
    response_compress(&ex->res, &ex->req);
    ex->req.db = NULL;
    MHD_resume_connection(ex->conn);
}

static enum MHD_Result
dispatch(struct exchange *ex)
{
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (ex->intake) {
        rc = body_intake_finish(ex->intake, errbuf, sizeof(errbuf));
        if (rc) {
            response_error(&ex->res, &ex->req, rc, errbuf);
            return queue(ex);
        }
        ex->req.body = body_intake_data(ex->intake, &ex->req.body_len);
        ex->req.body_raw_len = body_intake_raw_len(ex->intake);
        ex->req.upload_filename = body_intake_filename(ex->intake);
    } else {
        ex->req.body = "";
    }
    if (ex->route->flags & ROUTE_INLINE) {
        ex->route->handler(&ex->req, &ex->res);
        response_compress(&ex->res, &ex->req);
        return queue(ex);
    }
    ex->state = EX_WORKING;
    ex->job.run = run_on_worker;
    MHD_suspend_connection(ex->conn);
    if (workers_submit(ex->srv->workers, &ex->job)) {
        MHD_resume_connection(ex->conn);
        response_error(&ex->res, &ex->req, ERR_UNAVAILABLE, "shutting down");
        ex->state = EX_NEW; /* answered when resumed */
        ex->latched = 1;
    }
    return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct exchange *ex = *con_cls;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (!ex) {
        ex = exchange_new(srv, conn, method, url);
        *con_cls = ex;
        first_call(ex);
        if (!ex->latched && strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
            !request_header(&ex->req, "Host")) {
            response_problem(&ex->res, &ex->req, 400, "HTTP/1.1 requests need a Host header", NULL);
            ex->latched = 1;
        }
        if (ex->latched &&
            (ex->res.status == 413 || ex->res.status == 401 || ex->res.status == 403) &&
            body_expected(ex))
            return queue(ex); /* do not read a body we will not take */
        ex->state = EX_BODY;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;

        *upload_data_size = 0;
        if (ex->latched || !ex->intake) {
            ex->discarded += n;
            /* a body nobody takes is dropped; past a bound the connection is cut */
            if (ex->discarded > 4 * srv->app->cfg->max_body_bytes)
                return MHD_NO;
            if (!ex->latched && !ex->intake) {
                response_problem(&ex->res, &ex->req, 400, "this resource takes no body", NULL);
                ex->latched = 1;
            }
            return MHD_YES;
        }
        rc = body_intake_feed(ex->intake, upload_data, n, errbuf, sizeof(errbuf));
        if (rc) {
            response_error(&ex->res, &ex->req, rc, errbuf);
            ex->latched = 1;
        }
        return MHD_YES;
    }
    switch (ex->state) {
    case EX_NEW:
    case EX_BODY:
        if (ex->latched)
            return queue(ex);
        return dispatch(ex);
    case EX_WORKING:
        return queue(ex);
    case EX_RESPONDED:
        break;
    }
    return MHD_YES;
}

/* Method as a bounded label: the methods routes use, else "other". */
static const char *
method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "other";
}

/* ingestd_http_requests_total and the duration histogram, labelled by route pattern. */
static void
count_request(const struct exchange *ex)
{
    struct metrics *m = ex->srv->app->metrics;
    const char *route = ex->route ? ex->route->pattern : "unmatched";
    char status[8];
    const char *labels[3];

    if (!m)
        return;
    snprintf(status, sizeof(status), "%d", ex->res.status);
    labels[0] = method_label(ex->method);
    labels[1] = route;
    labels[2] = status;
    metrics_add(m, M_HTTP_REQUESTS, labels, 1);
    metrics_observe(m, M_HTTP_DURATION, &route, (double)(clock_mono_ms() - ex->start_ms) / 1000.0);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct exchange *ex = *con_cls;

    (void)cls;
    (void)conn;
    if (!ex)
        return;
    count_request(ex);
    log_json(LOG_INFO, "request",
             json_pack("{s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:b}", "request_id", ex->request_id, "method",
                       ex->method, "path", ex->path, "status", ex->res.status, "duration_ms",
                       (json_int_t)(clock_mono_ms() - ex->start_ms), "bytes_in",
                       (json_int_t)(ex->req.body_raw_len + ex->discarded), "bytes_out",
                       (json_int_t)ex->res.shared_len, "completed",
                       toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
    exchange_free(ex);
    *con_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_json(LOG_WARN, "http", json_pack("{s:s}", "error", msg));
}

enum err
http_server_start(struct http_server **out, struct app *app, struct workers *workers, char *errbuf,
                  size_t errlen)
{
    const struct config *cfg = app->cfg;
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

    *out = NULL;
    memset(&ss, 0, sizeof(ss));
    if (strchr(cfg->listen_host, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->listen_port);
        if (inet_pton(AF_INET6, cfg->listen_host, &a6->sin6_addr) != 1)
            goto bad_addr;
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->listen_port);
        if (inet_pton(AF_INET, cfg->listen_host, &a4->sin_addr) != 1)
            goto bad_addr;
    }
    srv->app = app;
    srv->workers = workers;
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->listen_port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_error, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->http_threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->request_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)128 * 1024, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_END);
    if (!srv->daemon) {
        free(srv);
        return err_set(ERR_INTERNAL, errbuf, errlen, "INGESTD_LISTEN: cannot listen on %s:%d",
                       cfg->listen_host, cfg->listen_port);
    }
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : cfg->listen_port;
    *out = srv;
    return ERR_OK;
bad_addr:
    free(srv);
    return err_set(ERR_BAD_INPUT, errbuf, errlen,
                   "INGESTD_LISTEN: \"%s\" is not a numeric IP address", cfg->listen_host);
}

int
http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void
http_server_quiesce(struct http_server *srv)
{
    MHD_socket s;

    if (!srv || !srv->daemon)
        return;
    s = MHD_quiesce_daemon(srv->daemon);
    if (s != MHD_INVALID_SOCKET)
        close(s);
}

int
http_server_inflight(struct http_server *srv)
{
    return atomic_load(&srv->inflight);
}

void
http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv);
}
