/*
 * http_client.h - one outbound HTTP request on libcurl (webhooks, exports)
 *
 * A request is sent once: retry policy (backoff, attempts, what counts as
 * delivered) belongs to the caller, which knows what it is delivering. Only
 * http:// and https:// URLs are accepted; redirects are not followed (a 3xx
 * is an answer like any other).
 *
 * Credentials may ride in the URL's userinfo (http://user:pass@host/...):
 * libcurl sends them as Basic auth. They never appear in a message: every
 * message names the target by http_client_redact_url() - scheme, host, port
 * and path, no userinfo, no query, no fragment.
 *
 * Errors (the status of an answer is never an error: callers judge it):
 *
 *   ERR_BAD_INPUT     the URL is not an http(s) URL libcurl can parse
 *   ERR_UNAVAILABLE   no answer: connection refused or reset, DNS, TLS,
 *                     the timeout passed ("http PUT host/path: timeout after
 *                     10000 ms")
 *   ERR_INTERNAL      libcurl could not set the request up
 *
 * A struct http_client owns one CURL easy handle (its connection cache) and is
 * used by one thread at a time; make one per thread.
 */
#ifndef INGESTD_HTTP_CLIENT_H
#define INGESTD_HTTP_CLIENT_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define HTTP_CLIENT_DEFAULT_TIMEOUT_MS 10000L
#define HTTP_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define HTTP_CLIENT_DEFAULT_MAX_RESPONSE 65536

struct http_request {
    const char *method;         /* "GET", "HEAD", "POST", "PUT", "DELETE" */
    const char *url;            /* http(s)://[user:pass@]host[:port]/path[?query] */
    const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
    const void *body;           /* request body (borrowed); may be NULL with body_len 0 */
    size_t body_len;
    long timeout_ms;           /* whole exchange; 0: HTTP_CLIENT_DEFAULT_TIMEOUT_MS */
    long connect_timeout_ms;   /* 0: HTTP_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS */
    size_t max_response_bytes; /* body bytes kept; more are read and dropped; 0: default */
};

struct http_response {
    long status;        /* the answer's status; 0 when there was none */
    struct buf body;    /* up to max_response_bytes of the answer's body */
    int body_truncated; /* the answer's body was longer than what was kept */
};

struct http_client;

/* NULL only when libcurl cannot make an easy handle. */
struct http_client *http_client_new(void);
void http_client_free(struct http_client *c); /* NULL-safe */

/* Zero a response before its first use; release what it holds. */
void http_response_init(struct http_response *res);
void http_response_release(struct http_response *res);

/*
 * Send req and wait for the answer (at most req->timeout_ms). res is reset
 * first and holds the status and the kept body on ERR_OK; errors as in the
 * table above, with the redacted target in the message.
 */
enum err http_client_send(struct http_client *c, const struct http_request *req,
                          struct http_response *res, char *errbuf, size_t errlen);

/*
 * Write "scheme://host[:port]/path" of url into out (NUL-terminated, cut to
 * outlen): what may be logged of a URL. A URL that does not parse gives
 * "(invalid url)".
 */
void http_client_redact_url(const char *url, char *out, size_t outlen);

#endif
