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
#include <sys/mman.h>
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

/*
 * Caps on what a request line and header block may hold (README "Limits").
 * libmicrohttpd answers itself (text/html, 414 or 431) when they exceed its
 * connection memory; below that, ingestd answers problem+json.
 */
#define HTTP_CONNECTION_MEMORY ((size_t)128 * 1024)
#define HTTP_MAX_URL_BYTES 16384 /* path + query, decoded: 414 past it */
#define HTTP_MAX_HEADERS 1000    /* header fields: 431 past it */
/* A body at least this large is followed by malloc_trim() once it is freed. */
#define HTTP_TRIM_AFTER_BYTES ((size_t)1 << 20)
/* A request or response body at least this large drops the worker's connection after it. */
#define HTTP_RECONNECT_AFTER_BYTES ((size_t)8 << 20)
/*
 * Streams (server-sent events): at most this much per read of the stream,
 * and the socket's send buffer, so a client that stops reading holds a
 * bounded amount in the kernel and the stream notices it is behind.
 */
#define HTTP_STREAM_CHUNK ((size_t)8 * 1024)
#define HTTP_STREAM_SNDBUF (32 * 1024)

struct http_server {
    struct MHD_Daemon *daemon;
    struct app *app;
    struct workers *workers;   /* short requests */
    struct workers *long_lane; /* ROUTE_LONG requests */
    atomic_int inflight;
    atomic_int long_active; /* long requests queued or running on the lane */
    int long_cap;           /* lane threads + INGESTD_LONG_QUEUE */
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
    size_t headers_seen;    /* header fields received (only HTTP_MAX_HEADERS are kept) */
    size_t content_lengths; /* Content-Length fields received */
    size_t url_bytes;       /* path + query names and values */
    size_t bad_fields;      /* header fields with a NUL, blank or control character in the name */
    struct kv *query;
    size_t nquery;
    size_t query_alloc;
    const struct route *route;
    struct body_intake *intake;
    size_t discarded;        /* body bytes dropped after an error */
    int latched;             /* res holds an error to send once the body is consumed */
    int close_now;           /* answer at once, read no body, close the connection */
    int on_long_lane;        /* counted in srv->long_active */
    struct stream_link link; /* res.stream_ops: parks and wakes this connection */
    int stream_failed;       /* a stream's fetch could not be queued: end it */
    size_t stream_bytes;     /* sent by the stream */
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

/* ---- streamed responses (handlers/request.h struct stream_ops) ---- */

static void
stream_suspend(void *cls)
{
    MHD_suspend_connection(((struct exchange *)cls)->conn);
}

static void
stream_resume(void *cls)
{
    MHD_resume_connection(((struct exchange *)cls)->conn);
}

/* Worker: what the stream asked for, then back to the I/O thread. */
static void
run_stream_fetch(struct job *job, struct db *db)
{
    struct exchange *ex = (struct exchange *)job;

    ex->res.stream_ops->fetch(ex->res.stream_ctx, db);
    MHD_resume_connection(ex->conn);
}

/*
 * A parked stream's unused write buffer back to the kernel. libmicrohttpd
 * hands the reader the free rest of the connection's 128 KiB pool, most of
 * it zeroed (so resident) when the read buffer shrank after the request;
 * an idle subscriber would keep ~70 KiB for nothing. The whole pages of
 * buf[n, max) are ours until the reader returns and hold no data:
 * MADV_DONTNEED makes them zero pages again, which is what they held.
 */
static void
stream_trim(char *buf, size_t n, size_t max)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)buf + n + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)buf + max) & ~(page - 1);

    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static ssize_t
stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct exchange *ex = cls;
    size_t n = 0;

    (void)pos;
    if (ex->stream_failed)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    switch (ex->res.stream_ops->read(ex->res.stream_ctx, &ex->link, buf,
                                     max < HTTP_STREAM_CHUNK ? max : HTTP_STREAM_CHUNK, &n)) {
    case STREAM_DATA:
        ex->stream_bytes += n;
        return (ssize_t)n;
    case STREAM_WAIT:
        stream_trim(buf, 0, max);
        return 0; /* suspended by the stream; resumed when it has more */
    case STREAM_FETCH:
        MHD_suspend_connection(ex->conn);
        ex->job.run = run_stream_fetch;
        if (workers_submit(ex->srv->workers, &ex->job)) {
            ex->stream_failed = 1;
            MHD_resume_connection(ex->conn);
        }
        return 0;
    case STREAM_END:
        break;
    }
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* A stream's response: chunked, unknown length, closed at its end. */
static struct MHD_Response *
stream_response(struct exchange *ex)
{
    const union MHD_ConnectionInfo *ci;
    int sndbuf = HTTP_STREAM_SNDBUF;

    ex->link.suspend = stream_suspend;
    ex->link.resume = stream_resume;
    ex->link.cls = ex;
    ci = MHD_get_connection_info(ex->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    ex->close_now = 1;
    return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256, stream_reader, ex, NULL);
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
    if (res->stream_ops) {
        mr = stream_response(ex);
    } else if (res->shared_release) {
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
    if (ex->close_now)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
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

/* 1 when the Transfer-Encoding value is exactly the chunked coding (blanks around allowed). */
static int
te_is_chunked(const char *te)
{
    size_t n;

    while (*te == ' ' || *te == '\t')
        te++;
    if (strncasecmp(te, "chunked", 7) != 0)
        return 0;
    for (n = 7; te[n] == ' ' || te[n] == '\t'; n++)
        ;
    return te[n] == '\0';
}

/*
 * What must be refused before anything else, answered at once with the
 * connection closed (no body is read, so none can be taken for the next
 * request): a request target or header block over the caps (414, 431), and
 * framing two parties could read differently (RFC 9112 6.1, 6.3: request
 * smuggling): Content-Length twice or with Transfer-Encoding, or a transfer
 * coding other than chunked (501). Returns 1 when it answered.
 */
static int
framing_refused(struct exchange *ex)
{
    const char *te = request_header(&ex->req, "Transfer-Encoding");
    char detail[160];

    if (ex->url_bytes > HTTP_MAX_URL_BYTES) {
        snprintf(detail, sizeof(detail), "request target exceeds %d bytes", HTTP_MAX_URL_BYTES);
        response_problem(&ex->res, &ex->req, 414, detail, NULL);
    } else if (ex->headers_seen > HTTP_MAX_HEADERS) {
        snprintf(detail, sizeof(detail), "more than %d header fields", HTTP_MAX_HEADERS);
        response_problem(&ex->res, &ex->req, 431, detail, NULL);
    } else if (ex->bad_fields) {
        response_problem(&ex->res, &ex->req, 400,
                         "a header field has a NUL, whitespace or a control character in its name, "
                         "or a NUL in its value",
                         NULL);
    } else if (ex->content_lengths > 1) {
        response_problem(&ex->res, &ex->req, 400, "more than one Content-Length", NULL);
    } else if (te && ex->content_lengths) {
        response_problem(&ex->res, &ex->req, 400,
                         "Content-Length and Transfer-Encoding together: send one of them", NULL);
    } else if (te && !te_is_chunked(te)) {
        response_problem(&ex->res, &ex->req, 501,
                         "transfer coding not supported: send Transfer-Encoding: chunked "
                         "(Content-Encoding: gzip for a compressed body)",
                         NULL);
    } else {
        return 0;
    }
    ex->latched = 1;
    ex->close_now = 1;
    return 1;
}

static void
first_call(struct exchange *ex)
{
    char allow[64];
    enum router_result rr;

    if (framing_refused(ex))
        return;
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
    lane = lane_for(ex);
    if (!lane) {
        response_error(&ex->res, &ex->req, ERR_UNAVAILABLE,
                       "too many merges and inventory submissions in progress; retry later");
        return queue(ex);
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
        first_call(ex);
        if (ex->close_now)
            return queue(ex);
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
