/*
 * sqs_client.h - a small Amazon SQS client (AWS JSON 1.0 protocol, SigV4) on libcurl
 *
 * Speaks the protocol current AWS SDKs speak: POST / to the queue URL's
 * origin (scheme://host[:port]), or to AWS_ENDPOINT_URL_SQS when it is set
 * (as the AWS SDKs do), with Content-Type application/x-amz-json-1.0,
 * X-Amz-Target AmazonSQS.<Action> and the QueueUrl in the JSON body, signed
 * with AWS Signature Version 4 for service "sqs" (s3_sigv4_authorization()).
 * The region of the signature is the queue URL's (sqs.REGION.amazonaws.com,
 * REGION.queue.amazonaws.com), else the configured one. Without an access
 * key and secret requests go out unsigned.
 *
 * One try per call, no retries: the consumer's loop retries after a backoff.
 * Every message starts with "sqs " and names the action and the queue:
 *
 *   ERR_NOT_FOUND     the queue does not exist (QueueDoesNotExist)
 *   ERR_BAD_INPUT     another 4xx answer ("sqs ReceiveMessage q: 403 AccessDenied: ...")
 *   ERR_UNAVAILABLE   unreachable, timed out, cancelled, 5xx, 429 or throttled
 *   ERR_UPSTREAM      an answer SQS does not give: 1xx/3xx, garbled, too large, bad JSON
 *
 * Thread-safety: a struct sqs_client (one CURL handle) is used by one thread
 * at a time; each consumer thread makes its own.
 */
#ifndef INGESTD_SQS_CLIENT_H
#define INGESTD_SQS_CLIENT_H

#include <stddef.h>

#include "codec/sqs_response.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"

#define SQS_ANSWER_MAX ((size_t)16 << 20) /* 10 messages of 1 MiB and their JSON escapes */

/* Borrowed strings; they must outlive sqs_client_new() only (it copies them). */
struct sqs_client_config {
    const char *region; /* used when the queue URL names none; NULL: us-east-1 */
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
    const char *endpoint_url; /* AWS_ENDPOINT_URL_SQS: http(s)://host[:port][/path] every call
                                 goes to; NULL: the queue URL's origin */
    long connect_timeout_ms;  /* 0: 5 s */
};

/* The credentials and region of the S3 settings (the same AWS_* variables); no endpoint. */
void sqs_client_config_from(struct sqs_client_config *cfg, const struct config_s3 *s3);

struct sqs_client;

/* NULL only when libcurl cannot make an easy handle. */
struct sqs_client *sqs_client_new(const struct sqs_client_config *cfg);
/* NULL-safe; wipes the secret. */
void sqs_client_free(struct sqs_client *c);

/* Asked about once a second during a call: nonzero abandons it (ERR_UNAVAILABLE). */
typedef int (*sqs_cancel_fn)(void *ud);
void sqs_client_set_cancel(struct sqs_client *c, sqs_cancel_fn fn, void *ud);

/*
 * ReceiveMessage: up to max_messages (1..10), long-polling wait_s seconds
 * (0..20), hidden for visibility_s seconds (< 0: the queue's default); asks
 * for ApproximateReceiveCount. *out is the caller's (sqs_receive_release).
 */
enum err sqs_client_receive(struct sqs_client *c, const char *queue_url, int max_messages,
                            int wait_s, int visibility_s, struct sqs_receive *out, char *errbuf,
                            size_t errlen);
/*
 * DeleteMessageBatch of handles[0..n) (n 1..10) with entry ids "0".."n-1";
 * *out says which entries SQS deleted. ERR_OK means the call was answered,
 * not that every entry succeeded.
 */
enum err sqs_client_delete_batch(struct sqs_client *c, const char *queue_url,
                                 const char *const *handles, size_t n, struct sqs_batch_result *out,
                                 char *errbuf, size_t errlen);
/* SendMessage of body (tests and tools). */
enum err sqs_client_send(struct sqs_client *c, const char *queue_url, const char *body,
                         char *errbuf, size_t errlen);
/*
 * Any action: POST json (a JSON object text) as AmazonSQS.<action> to the
 * origin of url; the 2xx answer's body into *answer (appended). The errors
 * of the table above.
 */
enum err sqs_client_call(struct sqs_client *c, const char *url, const char *action,
                         const char *json, struct buf *answer, char *errbuf, size_t errlen);

/*
 * The Authorization value of one request at amz_date (YYYYMMDDTHHMMSSZ):
 * POST path (already URI-safe, normally "/") to host with the JSON 1.0
 * headers, the token when given. Exposed for the unit test that holds it
 * against a recorded AWS SDK signature. NULL on a bad argument.
 */
char *sqs_client_authorization(const char *host, const char *path, const char *action,
                               const char *body, size_t body_len, const char *amz_date,
                               const char *region, const char *access_key_id,
                               const char *secret_access_key, const char *session_token);

/*
 * Split a queue URL http(s)://host[:port]/path into its origin and host
 * (buffers of at least 256 bytes) and the region its host names (into
 * region, "" when none). -1 when it is not such a URL.
 */
int sqs_queue_url_parts(const char *url, char *origin, char *host, char *region, size_t len);

#endif
