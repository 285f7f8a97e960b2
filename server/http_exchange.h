/*
 * http_exchange.h - the HTTP adapter's private parts, shared by its files
 *
 * server/http.c (the daemon, the request callbacks, running handlers),
 * server/http_checks.c (what the first callback checks) and
 * server/http_respond.c (turning a struct response into libmicrohttpd's)
 * are one adapter split by what they do; they alone include
 * <microhttpd.h>. Nothing outside server/http*.c includes this header.
 */
#ifndef INGESTD_HTTP_EXCHANGE_H
#define INGESTD_HTTP_EXCHANGE_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>

#include "handlers/request.h"
#include "jobs/workers.h"
#include "server/body.h"

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
/* a body of more slices than this is copied out (http_respond.c), not sent by sendmsg() */
#define HTTP_IOV_MAX 1024
#define HTTP_SLICE_READ ((size_t)64 * 1024) /* bytes per copy of such a body */

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

/*
 * Queue ex's response (ex->res) on its connection: a stream, a shared body,
 * 204/304 without a body, or the in-memory body; adds the content type, the
 * response's headers, CORS, X-Request-Id and Connection: close when asked.
 * Sets EX_RESPONDED.
 */
enum MHD_Result http_queue(struct exchange *ex);
/* 1 when the request announces a body (a Content-Length other than 0, or chunked). */
int http_body_expected(struct exchange *ex);
/*
 * The first callback's checks, in order: framing (answered at once, the
 * connection closed), route (404, 405, a CORS preflight), scope (401/403),
 * then the body's intake (411, 413, 415). An answer is left latched in
 * ex->res (ex->latched).
 */
void http_first_call(struct exchange *ex);

#endif
