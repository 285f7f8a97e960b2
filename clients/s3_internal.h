/*
 * s3_internal.h - what the files of the S3 client share (not for outside clients/)
 *
 * The S3 client is three files, one concern each:
 *
 *   s3_client.c   configuration, lifecycle, one try of a transfer on the
 *                 client's CURL handle, what a try's outcome means (enum err),
 *                 retries with backoff, the public GET (whole or a range), HEAD, PUT
 *   s3_request.c  where a request goes: argument checks, the encoded
 *                 path, URL and Host (endpoint path-style, AWS
 *                 virtual-hosted or path-style), Content-Type, the "what"
 *                 named in messages
 *   s3_sigv4.c    AWS Signature Version 4 (canonical request, string to
 *                 sign, signing key, Authorization) and the signed header
 *                 list of each try
 *
 * Every message written by these files starts with "s3 " and names the
 * request ("s3 GET bucket/key: ..."); s3_client.h promises it.
 *
 * Thread-safety: as s3_client.h; a struct s3_request belongs to the one call
 * that made it.
 */
#ifndef INGESTD_S3_INTERNAL_H
#define INGESTD_S3_INTERNAL_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "clients/s3_client.h"
#include "core/buf.h"
#include "core/err.h"

#define S3_SHA256_LEN 32
#define S3_SHA256_HEX_LEN 64
#define S3_AMZ_DATE_LEN 16 /* 20150830T123600Z */
#define S3_WHAT_MAX 256

struct s3_client {
    CURL *curl;
    char *region;
    char *access_key_id;     /* NULL: anonymous */
    char *secret_access_key; /* NULL: anonymous */
    char *session_token;     /* NULL: none */
    char *endpoint_url;      /* NULL: AWS virtual-hosted style; no trailing '/' */
    int max_attempts;
    long connect_timeout_ms;
    long low_speed_timeout_s;
    uint32_t jitter_state; /* xorshift32, never 0 */
};

/* One GET, HEAD or PUT, the same for every try. */
struct s3_request {
    const char *method; /* "GET", "HEAD" or "PUT" (a literal) */
    char what[S3_WHAT_MAX];
    struct buf url;
    struct buf host;         /* Host header value */
    struct buf path;         /* URL path == canonical URI */
    struct buf content_type; /* normalized; empty: none */
    int loopback;
    char payload_hash[S3_SHA256_HEX_LEN + 1];
    const unsigned char *body; /* PUT: borrowed from the caller */
    size_t body_len;
    byte_sink_fn sink; /* GET */
    void *sink_ctx;
    int has_range; /* GET of bytes range_first..range_last (inclusive): 206 expected */
    uint64_t range_first;
    uint64_t range_last;
    int64_t content_length; /* HEAD: the object's size from the answer, -1 when not given */
};

/* ---- s3_request.c ---- */

void s3_request_init(struct s3_request *r, const char *method);
void s3_request_release(struct s3_request *r);
/*
 * Check bucket, key and the client's strings, then fill what, URL, Host and
 * path. ERR_BAD_INPUT for a bad bucket or key, ERR_INTERNAL for a bad client
 * setting (endpoint URL, control characters).
 */
enum err s3_request_prepare(const struct s3_client *c, struct s3_request *r, const char *bucket,
                            const char *key, char *errbuf, size_t errlen);
/* Keep ct trimmed, with runs of blanks folded; ERR_BAD_INPUT for control characters. */
enum err s3_request_set_content_type(struct s3_request *r, const char *ct, char *errbuf,
                                     size_t errlen);

/* ---- s3_sigv4.c ---- */

/* Lower-case hex SHA-256 of data (NULL with len 0: empty) into out; -1 on a libcrypto failure. */
int s3_sigv4_sha256_hex(const void *data, size_t len, char out[S3_SHA256_HEX_LEN + 1]);
/* The header list of one try, signed at the current time; the caller frees *out. */
enum err s3_sigv4_headers(const struct s3_client *c, const struct s3_request *r,
                          struct curl_slist **out, char *errbuf, size_t errlen);

#endif
