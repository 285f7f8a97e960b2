/*
 * http.c - the HTTP adapter on libmicrohttpd
 *
 * Life of a request (struct exchange):
 *   first callback  -> framing checks (414/431, smuggling 400, 501: answered at
 *                      once, the connection closed), headers, query, request
 *                      id, route, early checks (404/405/411/413/415 are
 *                      latched, answered at the end)
 *   body callbacks  -> body_intake_feed (decode errors latched, rest discarded)
 *   final callback  -> inline handler, or suspend + submit to the workers (the
 *                      long lane for ROUTE_LONG routes, 503 past its queue)
 *   resumed         -> queue the response the worker built
 *   completed       -> log line, free
 */
#include "server/http.h"
#include "server/http_exchange.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
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
#include "storage/db.h"

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

/* 1 when a header field's name or value is one a server must refuse (RFC 9110 5.5, 9112 5.1). */
static int
field_invalid(const char *key, size_t key_size, const char *value, size_t value_size)
{
    size_t i;

    if (!key || !value || key_size == 0 || strlen(key) != key_size || strlen(value) != value_size)
        return 1; /* empty name, or a NUL inside */
    for (i = 0; i < key_size; i++)
        if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7F || key[i] == ':')
            return 1; /* whitespace before the colon, control characters */
    for (i = 0; i < value_size; i++)
        if (value[i] == '\r' || value[i] == '\n')
            return 1;
    return 0;
}

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
               const char *value, size_t value_size)
{
    struct exchange *ex = cls;

    (void)kind;
    ex->headers_seen++;
    if (field_invalid(key, key_size, value, value_size))
        ex->bad_fields++;
    if (key && strcasecmp(key, "Content-Length") == 0)
        ex->content_lengths++;
    if (ex->nheaders < HTTP_MAX_HEADERS)
        kv_push(&ex->headers, &ex->nheaders, &ex->headers_alloc, key, value);
    return MHD_YES;
}

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct exchange *ex = cls;

    (void)kind;
    ex->url_bytes += strlen(key ? key : "") + strlen(value ? value : "") + 2;
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

/*
 * The origin form of a request target: an absolute-form target
 * (http://host/path, as sent to proxies; RFC 9112 3.2.2) stands for its
 * path, "/" when it has none.
 */
static const char *
origin_form(const char *url)
{
    const char *p = NULL;

    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    if (!p)
        return url;
    p = strchr(p, '/');
    return p ? p : "/";
}

static struct exchange *
exchange_new(struct http_server *srv, struct MHD_Connection *conn, const char *method,
             const char *url)
{
    struct exchange *ex = xcalloc(1, sizeof(*ex));
    const char *rid;

    url = origin_form(url);
    ex->srv = srv;
    ex->conn = conn;
    ex->start_ms = clock_mono_ms();
    ex->method = xstrdup(method);
    ex->path = xstrdup(url);
    ex->path_scratch = xmalloc(strlen(url) + 1);
    ex->url_bytes = strlen(url);
    response_init(&ex->res);
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, collect_header, ex);
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

/* ---- running handlers ---- */

static void
run_on_worker(struct job *job, struct db *db)
{
    struct exchange *ex = (struct exchange *)job;

    ex->req.db = db;
    ex->route->handler(&ex->req, &ex->res);
    response_compress(&ex->res, &ex->req);
    ex->req.db = NULL;
    /* libpq's buffers stay as large as the largest message: let them go (storage/db.h) */
    if (ex->req.body_len >= HTTP_RECONNECT_AFTER_BYTES ||
        ex->res.body.len >= HTTP_RECONNECT_AFTER_BYTES)
        db_disconnect(db);
    if (ex->on_long_lane) {
        ex->on_long_lane = 0;
        atomic_fetch_sub(&ex->srv->long_active, 1);
    }
    MHD_resume_connection(ex->conn);
}

/*
 * The pool a request runs on: the long lane for ROUTE_LONG routes (merges,
 * inventory submissions, which may wait for minutes), so they never hold
 * the workers uploads and reads need. NULL when the lane has long_cap
 * requests queued or running: the caller answers 503.
 */
static struct workers *
lane_for(struct exchange *ex)
{
    struct http_server *srv = ex->srv;

    if (!(ex->route->flags & ROUTE_LONG))
        return srv->workers;
    if (atomic_fetch_add(&srv->long_active, 1) >= srv->long_cap) {
        atomic_fetch_sub(&srv->long_active, 1);
        return NULL;
    }
    ex->on_long_lane = 1;
    return srv->long_lane;
}

static enum MHD_Result
dispatch(struct exchange *ex)
{
    char errbuf[ERRBUF_SIZE];
    struct workers *lane;
    enum err rc;

    if (ex->intake) {
        rc = body_intake_finish(ex->intake, errbuf, sizeof(errbuf));
        if (rc) {
            response_error(&ex->res, &ex->req, rc, errbuf);
            return http_queue(ex);
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
        return http_queue(ex);
    }
    lane = lane_for(ex);
    if (!lane) {
        response_error(&ex->res, &ex->req, ERR_UNAVAILABLE,
                       "too many merges and inventory submissions in progress; retry later");
        return http_queue(ex);
    }
    ex->state = EX_WORKING;
    ex->job.run = run_on_worker;
    MHD_suspend_connection(ex->conn);
    if (workers_submit(lane, &ex->job)) {
        if (ex->on_long_lane) {
            ex->on_long_lane = 0;
            atomic_fetch_sub(&ex->srv->long_active, 1);
        }
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
        http_first_call(ex);
        if (ex->close_now)
            return http_queue(ex);
        if (!ex->latched && strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
            !request_header(&ex->req, "Host")) {
            response_problem(&ex->res, &ex->req, 400, "HTTP/1.1 requests need a Host header", NULL);
            ex->latched = 1;
        }
        if (ex->latched &&
            (ex->res.status == 413 || ex->res.status == 401 || ex->res.status == 403) &&
            http_body_expected(ex))
            return http_queue(ex); /* do not read a body we will not take */
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
            return http_queue(ex);
        return dispatch(ex);
    case EX_WORKING:
        return http_queue(ex);
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

    size_t body_bytes;

    (void)cls;
    (void)conn;
    if (!ex)
        return;
    body_bytes = ex->req.body_raw_len + ex->req.body_len + ex->discarded;
    count_request(ex);
    log_json(LOG_INFO, "request",
             json_pack("{s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:b}", "request_id", ex->request_id, "method",
                       ex->method, "path", ex->path, "status", ex->res.status, "duration_ms",
                       (json_int_t)(clock_mono_ms() - ex->start_ms), "bytes_in",
                       (json_int_t)(ex->req.body_raw_len + ex->discarded), "bytes_out",
                       (json_int_t)(ex->res.shared_len + ex->stream_bytes), "completed",
                       toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
    exchange_free(ex);
    *con_cls = NULL;
    /* the large body and what was decoded from it (a JSON tree) are freed: give the pages back */
    if (body_bytes >= HTTP_TRIM_AFTER_BYTES)
        malloc_trim(0);
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

/*
 * Every connection is a file descriptor: raise the soft RLIMIT_NOFILE to the
 * hard limit (often 1024 soft, 524288 hard), and warn when even that leaves
 * too few for INGESTD_MAX_CONNECTIONS besides the database connections and
 * files (a connection accepted past the limit is closed by libmicrohttpd).
 */
static void
raise_fd_limit(const struct config *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->max_connections + 256;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        log_json(LOG_WARN, "open file limit below INGESTD_MAX_CONNECTIONS + 256",
                 json_pack("{s:I,s:i}", "nofile", (json_int_t)rl.rlim_cur, "max_connections",
                           cfg->max_connections));
}

enum err
http_server_start(struct http_server **out, struct app *app, struct workers *workers,
                  struct workers *long_lane, char *errbuf, size_t errlen)
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
    raise_fd_limit(cfg);
    srv->app = app;
    srv->workers = workers;
    srv->long_lane = long_lane;
    srv->long_cap = cfg->long_workers + cfg->long_queue;
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->listen_port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_error, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->http_threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->request_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        HTTP_CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->max_connections_per_ip,
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
