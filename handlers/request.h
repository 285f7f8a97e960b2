/*
 * request.h - the transport-neutral request and response of a handler
 *
 * Handlers read a struct request and fill a struct response; they never see
 * libmicrohttpd. Everything in a request is borrowed from the HTTP adapter
 * and valid until the handler returns. A response owns what it holds and is
 * released by the adapter with response_release() (exactly one place).
 */
#ifndef INGESTD_REQUEST_H
#define INGESTD_REQUEST_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

struct app;
struct db;
struct route;

struct kv {
    char *name;
    char *value;
};

#define REQUEST_MAX_PARAMS 4
#define RESPONSE_MAX_HEADERS 16

struct request {
    const char *method; /* upper case, HEAD already mapped onto GET routes */
    int is_head;
    const char *path; /* percent-decoded path, no query */
    const char *request_id;
    const struct kv *headers;
    size_t nheaders;
    const struct kv *query; /* in order; repeated names appear repeatedly */
    size_t nquery;
    const char *params[REQUEST_MAX_PARAMS]; /* {id} path segments */
    size_t nparams;
    const char *body; /* decoded body (gzip/multipart removed), NUL-terminated */
    size_t body_len;
    size_t body_raw_len;         /* bytes on the wire */
    const char *upload_filename; /* multipart file name, else NULL */
    const struct route *route;
    struct app *app;
    struct db *db; /* the worker's connection; NULL for inline handlers */
};

/* Release callback for a shared (not copied) response body. */
/*
 * A body produced while the connection stays open (server-sent events).
 * The adapter calls read on its I/O thread whenever the connection can
 * send; read must not block. link->suspend parks the connection (only from
 * inside read, which then returns STREAM_WAIT); link->resume wakes it, from
 * any thread, once per suspend. STREAM_FETCH suspends it while fetch runs
 * on a worker thread with a database connection, then read is called
 * again. free is called once, after the connection ended.
 */
struct stream_link {
    void (*suspend)(void *cls);
    void (*resume)(void *cls);
    void *cls;
};

enum stream_step { STREAM_DATA, STREAM_WAIT, STREAM_FETCH, STREAM_END };

struct stream_ops {
    enum stream_step (*read)(void *ctx, const struct stream_link *link, char *buf, size_t max,
                             size_t *n);
    void (*fetch)(void *ctx, struct db *db);
    void (*free)(void *ctx);
};

typedef void (*response_release_fn)(void *ctx);

/* One run of bytes of a body made of several (struct response's shared_iov). */
struct body_slice {
    const void *base;
    size_t len;
};

struct response {
    int status;
    char *content_type; /* NULL = none */
    struct buf body;
    struct kv headers[RESPONSE_MAX_HEADERS];
    size_t nheaders;
    /*
     * alternative body: borrowed bytes released through shared_release, either
     * shared_data or (when shared_iov is set) the shared_iovcnt slices in
     * order; shared_len is the body's length either way
     */
    const char *shared_data;
    const struct body_slice *shared_iov;
    size_t shared_iovcnt;
    size_t shared_len;
    response_release_fn shared_release;
    void *shared_ctx;
    /*
     * 304 only: the length of the body a 200 would have had. It is sent as
     * Content-Length (RFC 9110 8.6 allows exactly that value); never a body,
     * never chunked framing.
     */
    size_t not_modified_len;
    /* alternative body: a stream (see struct stream_ops); released with the response */
    const struct stream_ops *stream_ops;
    void *stream_ctx;
};

/* Case-insensitive header lookup; NULL when absent. */
const char *request_header(const struct request *req, const char *name);
/* First query parameter of that name; NULL when absent. */
const char *request_query(const struct request *req, const char *name);
/* 1 when Accept-Encoding accepts gzip (not "gzip;q=0"). */
int request_accepts_gzip(const struct request *req);

void response_init(struct response *res);
void response_release(struct response *res);
/* Add a header (copied); silently ignored past RESPONSE_MAX_HEADERS (a bug). */
void response_header(struct response *res, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Find a header that was set; NULL when absent. */
const char *response_get_header(const struct response *res, const char *name);
/* Status + JSON body; `body` is stolen. */
void response_json(struct response *res, int status, json_t *body);
/* Status + a JSON body already written as text; body's memory is taken (body is left empty). */
void response_json_buf(struct response *res, int status, struct buf *body);
/* Status + a streamed body of that content type; ctx is owned by the response from now on. */
void response_stream(struct response *res, int status, const char *content_type,
                     const struct stream_ops *ops, void *ctx);
/* Status + raw body with a content type (copied). */
void response_bytes(struct response *res, int status, const char *content_type, const void *data,
                    size_t len);
/*
 * RFC 9457 problem+json with title from the status, `detail`, the request
 * id, and optional `errors` (stolen, may be NULL). 401/405/503 callers add
 * WWW-Authenticate / Allow / Retry-After themselves.
 */
void response_problem(struct response *res, const struct request *req, int status,
                      const char *detail, json_t *errors);
/*
 * The same from a problem object (codec/event_body.h's; stolen): its status,
 * detail and errors, with the request id added.
 */
void response_problem_json(struct response *res, const struct request *req, json_t *problem);
/* The same, from an enum err and its message (503 gets Retry-After). */
void response_error(struct response *res, const struct request *req, enum err rc,
                    const char *detail);

/*
 * gzip the in-memory body when the client accepts it, the body is JSON or
 * text of at least RESPONSE_GZIP_MIN bytes and not encoded yet: adds
 * Content-Encoding and Vary. Called once, after the handler.
 */
#define RESPONSE_GZIP_MIN 1024
void response_compress(struct response *res, const struct request *req);

/* Reason phrase of an HTTP status ("Not Found"). */
const char *http_status_title(int status);

#endif
