/*
 * s3_client.h - a small S3 client on libcurl (SigV4, path-style endpoints)
 *
 * Settings come from struct s3_client_config, which the server fills from
 * its configuration (core/config.h, the AWS_* variables) with
 * s3_client_config_from(): region (default us-east-1), access key id and
 * secret (both or no signing: anonymous), session token (sent as
 * x-amz-security-token), endpoint URL (when set: path-style URLs
 * http(s)://endpoint/bucket/key; else virtual-hosted
 * https://bucket.s3.REGION.amazonaws.com/key). Requests are signed with AWS
 * Signature Version 4 (payload UNSIGNED-PAYLOAD for GET, with the
 * x-amz-content-sha256 header always sent).
 *
 * GETs (whole objects or byte ranges) stream the body into a callback; 5xx, 408 and 429 answers,
 * timeouts and connection failures are retried with exponential backoff (bounded count and total
 * time) as long as no body byte was delivered yet; other answers are final.
 *
 * Errors are enum err values; the message (errbuf) starts with "s3 ", names
 * the request ("s3 GET bucket/key: 404 NoSuchKey") and says what happened,
 * except a sink's own message, which is passed through as is:
 *
 *   ERR_NOT_FOUND     404 (no such key or bucket)
 *   ERR_BAD_INPUT     another 4xx (403 access denied, 400...), or a bucket
 *                     or key the client refuses before sending anything
 *   ERR_UNAVAILABLE   S3 cannot be reached, keeps answering 5xx/408/429, or
 *                     the transfer broke (timeouts, resets)
 *   ERR_UPSTREAM      an answer S3 does not give: a 1xx/3xx status or a
 *                     garbled HTTP reply
 *   ERR_INTERNAL      the request could not be made (bad endpoint URL,
 *                     signing failed, no client)
 *   sink's error      the sink stopped the transfer
 *
 * A struct s3_client is used by one thread at a time (it owns a CURL
 * handle); make one per thread.
 */
#ifndef INGESTD_S3_CLIENT_H
#define INGESTD_S3_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "codec/s3_list_xml.h"
#include "core/buf.h"
#include "core/config.h"
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

/* Fill cfg from the S3 settings of the configuration (pointers borrowed from s3). */
void s3_client_config_from(struct s3_client_config *cfg, const struct config_s3 *s3);
/*
 * Fill cfg from the AWS_* variables read by config_s3_load(), unchecked
 * (pointers borrowed from the environment): for tests and tools; the server
 * uses s3_client_config_from() on the configuration it loaded once.
 */
void s3_client_config_from_env(struct s3_client_config *cfg);

struct s3_client;

struct s3_client *s3_client_new(const struct s3_client_config *cfg);
void s3_client_free(struct s3_client *c); /* NULL-safe */

/*
 * GET bucket/key, streaming the body of a 2xx answer to sink; errors as in
 * the table above (e.g. ERR_UNAVAILABLE with "s3 GET bucket/key: connection
 * refused (host) after 5 attempts"). *http_status (if not NULL) gets the
 * last status (0 without an answer).
 */
enum err s3_client_get(struct s3_client *c, const char *bucket, const char *key, byte_sink_fn sink,
                       void *ctx, long *http_status, char *errbuf, size_t errlen);

/*
 * GET the bytes offset .. offset + length - 1 of bucket/key (a Range
 * request; length > 0), streaming them to sink. The answer must be 206
 * Partial Content: a 2xx that ignored the range is ERR_UPSTREAM before any
 * byte reaches the sink; 416 (a range past the end) is ERR_BAD_INPUT. A
 * range that reaches past the end of the object is cut by S3: the caller
 * counts what it got. Messages name the range ("s3 GET b/k bytes 0-99: ...");
 * retries and the other errors as for s3_client_get().
 */
enum err s3_client_get_range(struct s3_client *c, const char *bucket, const char *key,
                             uint64_t offset, uint64_t length, byte_sink_fn sink, void *ctx,
                             long *http_status, char *errbuf, size_t errlen);

/*
 * HEAD bucket/key: *size gets the object's size (Content-Length). Errors as
 * for GET ("s3 HEAD b/k: 404", no XML code: a HEAD answer has no body);
 * ERR_UPSTREAM when the answer has no length.
 */
enum err s3_client_head(struct s3_client *c, const char *bucket, const char *key, uint64_t *size,
                        char *errbuf, size_t errlen);

/*
 * PUT bucket/key with a body in memory (used for exports and tests); the
 * body's MD5 goes along as Content-MD5 (S3 refuses a damaged body with 400
 * BadDigest, ERR_BAD_INPUT). Errors as for GET.
 */
enum err s3_client_put(struct s3_client *c, const char *bucket, const char *key, const void *body,
                       size_t len, const char *content_type, char *errbuf, size_t errlen);

/*
 * ListObjectsV2: one page (at most max_keys entries; 0 or > 1000: 1000) of
 * the objects of bucket whose key starts with prefix (NULL or "": all),
 * after continuation_token (NULL: the first page), appended to page (the
 * caller init's and releases it; codec/s3_list_xml.h). When
 * page->is_truncated, page->next_continuation_token asks for the next one.
 * Keys are sent for and decoded from encoding-type=url. An answer that does
 * not read as a ListBucketResult is ERR_UPSTREAM; 404 NoSuchBucket is
 * ERR_NOT_FOUND; other errors as for GET ("s3 GET b (ListObjectsV2): ...").
 */
enum err s3_client_list_objects(struct s3_client *c, const char *bucket, const char *prefix,
                                const char *continuation_token, int max_keys,
                                struct s3_list_page *page, char *errbuf, size_t errlen);

/*
 * ListObjectVersions: one page of the versions and delete markers of bucket
 * under prefix, after key_marker / version_id_marker (NULL: from the start;
 * the version marker is only sent with a key marker), into page as
 * s3_client_list_objects() does; when page->is_truncated, the next page
 * starts at page->next_key_marker / next_version_id_marker. Servers that do
 * not implement it answer 501 NotImplemented or 405 MethodNotAllowed
 * (ERR_BAD_INPUT, the status in the message).
 */
enum err s3_client_list_versions(struct s3_client *c, const char *bucket, const char *prefix,
                                 const char *key_marker, const char *version_id_marker,
                                 int max_keys, struct s3_list_page *page, char *errbuf,
                                 size_t errlen);

/*
 * CopyObject: bucket/key becomes a copy of src_bucket/src_key (its version
 * src_version_id when not NULL/empty), with x-amz-copy-source. A 200 whose
 * body is an <Error> (S3 can fail a copy after answering) is ERR_UNAVAILABLE;
 * a missing source is ERR_NOT_FOUND; other errors as for PUT.
 */
enum err s3_client_copy(struct s3_client *c, const char *src_bucket, const char *src_key,
                        const char *src_version_id, const char *bucket, const char *key,
                        char *errbuf, size_t errlen);

/*
 * DeleteObject bucket/key (the version version_id when not NULL/empty; else
 * a delete marker on a versioned bucket). S3 answers 204 whether or not the
 * key existed; errors as for GET.
 */
enum err s3_client_delete(struct s3_client *c, const char *bucket, const char *key,
                          const char *version_id, char *errbuf, size_t errlen);

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
