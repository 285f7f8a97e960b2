/*
 * s3_internal.h - what the files of the S3 client share (not for outside clients/)
 *
 * The S3 client is four files, one concern each:
 *
 *   s3_client.c   configuration, lifecycle, one try of a transfer on the
 *                 client's CURL handle, what a try's outcome means (enum err),
 *                 retries with backoff, the public GET (whole or a range), HEAD, PUT
 *   s3_ops.c      the other public calls: ListObjectsV2, ListObjectVersions
 *                 (answers read by codec/s3_list_xml), CopyObject, DeleteObject
 *   s3_request.c  where a request goes: argument checks, the encoded
 *                 path, query, URL and Host (endpoint path-style, AWS
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
#define S3_QUERY_MAX 16   /* query parameters of one request */
#define S3_MD5_B64_LEN 24 /* base64 of 16 bytes */

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

/* One GET, HEAD, PUT or DELETE, the same for every try. */
struct s3_request {
    const char *method; /* "GET", "HEAD", "PUT" or "DELETE" (a literal) */
    char what[S3_WHAT_MAX];
    struct buf url;
    struct buf host;         /* Host header value */
    struct buf path;         /* URL path == canonical URI */
    struct buf content_type; /* normalized; empty: none */
    struct buf query;        /* canonical query string (encoded, sorted); empty: none */
    struct buf copy_source;  /* x-amz-copy-source value (encoded); empty: none */
    char content_md5[S3_MD5_B64_LEN + 1]; /* PUT: base64 MD5 of the body; empty: none */
    int loopback;
    char payload_hash[S3_SHA256_HEX_LEN + 1];
    const unsigned char *body; /* PUT: borrowed from the caller */
    size_t body_len;
    byte_sink_fn sink; /* GET; any request that wants the body of a 2xx answer */
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
/*
 * The same for a request on the bucket itself (a list): key-less path ("/"
 * virtual-hosted, ".../bucket" path-style); operation names it in messages
 * ("s3 GET bucket (ListObjectsV2): ...").
 */
enum err s3_request_prepare_bucket(const struct s3_client *c, struct s3_request *r,
                                   const char *bucket, const char *operation, char *errbuf,
                                   size_t errlen);
/*
 * Set the query from params ("name", "value" pairs, a NULL name ends them; a
 * NULL value is empty): each name and value encoded once, the pairs sorted as
 * SigV4 wants, appended to the URL. Call once, after prepare.
 */
enum err s3_request_set_query(struct s3_request *r, const char *const *params, char *errbuf,
                              size_t errlen);
/* x-amz-copy-source: /bucket/key, encoded, with ?versionId= when version_id is not NULL/empty. */
void s3_request_set_copy_source(struct s3_request *r, const char *bucket, const char *key,
                                const char *version_id);
/* Keep ct trimmed, with runs of blanks folded; ERR_BAD_INPUT for control characters. */
enum err s3_request_set_content_type(struct s3_request *r, const char *ct, char *errbuf,
                                     size_t errlen);

/* ---- s3_client.c ---- */

/* Run r with retries (s3_client.h's rules); the last try's status goes to *http_status. */
enum err s3_client_run(struct s3_client *c, struct s3_request *r, long *http_status, char *errbuf,
                       size_t errlen);

/* ---- s3_sigv4.c ---- */

/* Lower-case hex SHA-256 of data (NULL with len 0: empty) into out; -1 on a libcrypto failure. */
int s3_sigv4_sha256_hex(const void *data, size_t len, char out[S3_SHA256_HEX_LEN + 1]);
/* Base64 MD5 of data (NULL with len 0: empty) into out (Content-MD5); -1 on a libcrypto failure. */
int s3_sigv4_md5_base64(const void *data, size_t len, char out[S3_MD5_B64_LEN + 1]);
/* The header list of one try, signed at the current time; the caller frees *out. */
enum err s3_sigv4_headers(const struct s3_client *c, const struct s3_request *r,
                          struct curl_slist **out, char *errbuf, size_t errlen);

#endif
