/*
 * s3_client.h - a small S3 client on libcurl (SigV4, path-style endpoints)
 *
 * Credentials and endpoint come from the standard variables: AWS_REGION
 * (default us-east-1), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN (sent as x-amz-security-token), AWS_ENDPOINT_URL (when
 * set: path-style URLs http(s)://endpoint/bucket/key; else virtual-hosted
 * https://bucket.s3.REGION.amazonaws.com/key). Requests are signed with
 * AWS Signature Version 4 (payload UNSIGNED-PAYLOAD for GET, with the
 * x-amz-content-sha256 header always sent).
 *
 * GETs stream the body into a callback; 5xx answers, timeouts and
 * connection failures are retried with exponential backoff (bounded count
 * and total time) as long as no body byte was delivered yet; 4xx are final.
 *
 * A struct s3_client is used by one thread at a time (it owns a CURL
 * handle); make one per worker.
 */
#ifndef INGESTD_S3_CLIENT_H
#define INGESTD_S3_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct s3_client_config {
    const char *region;
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* may be NULL */
    const char *endpoint_url;  /* may be NULL: AWS virtual-hosted style */
    int max_attempts;          /* total tries, default 5 */
    long connect_timeout_ms;   /* default 5000 */
    long low_speed_timeout_s;  /* abort when < 1 byte/s for this long; default 30 */
};

/* Fill cfg from the environment (pointers borrowed from getenv). */
void s3_client_config_from_env(struct s3_client_config *cfg);

struct s3_client;

struct s3_client *s3_client_new(const struct s3_client_config *cfg);
void s3_client_free(struct s3_client *c); /* NULL-safe */

/*
 * GET bucket/key, streaming the body to sink. ERR_NOT_FOUND for 404 (no such
 * key/bucket), ERR_UNAVAILABLE when S3 cannot be reached or keeps failing
 * (errbuf says why, e.g. "s3 GET bucket/key: connection refused"), ERR_BAD_INPUT
 * for other 4xx (403 access denied...). *http_status (if not NULL) gets the
 * last status (0 without an answer).
 */
enum err s3_client_get(struct s3_client *c, const char *bucket, const char *key, byte_sink_fn sink,
                       void *ctx, long *http_status, char *errbuf, size_t errlen);

/* PUT bucket/key with a body in memory (used for exports and tests). */
enum err s3_client_put(struct s3_client *c, const char *bucket, const char *key, const void *body,
                       size_t len, const char *content_type, char *errbuf, size_t errlen);

/*
 * The SigV4 Authorization header value for a request, exposed for the unit
 * test that reproduces AWS's published example. `headers` are "name:value"
 * lines (lower-case names, sorted, trimmed values) joined by '\n';
 * `signed_headers` is "host;x-amz-date;...". amz_date is 20150830T123600Z.
 */
char *s3_sigv4_authorization(const char *method, const char *canonical_uri,
                             const char *canonical_query, const char *canonical_headers,
                             const char *signed_headers, const char *payload_sha256_hex,
                             const char *amz_date, const char *region, const char *service,
                             const char *access_key_id, const char *secret_access_key);

#endif
