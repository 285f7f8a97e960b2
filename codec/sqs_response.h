/*
 * sqs_response.h - Amazon SQS answers in the AWS JSON 1.0 protocol (pure)
 *
 * Decodes the three answers the SQS consumer reads: a ReceiveMessage result
 * {"Messages":[{"MessageId","ReceiptHandle","Body","Attributes"}...]}, a
 * DeleteMessageBatch result {"Successful":[{"Id"}],"Failed":[{"Id","Code",
 * "Message","SenderFault"}]} and an error {"__type":"com.amazonaws.sqs#Code",
 * "message"}. Each takes a whole document (the client caps its size); a
 * document that is not what SQS sends is ERR_BAD_INPUT with a message, never
 * an abort.
 *
 * Pure: no I/O, no globals. Thread-safety: none needed.
 * Ownership: a struct sqs_receive owns its strings; sqs_receive_release()
 * frees them.
 */
#ifndef INGESTD_SQS_RESPONSE_H
#define INGESTD_SQS_RESPONSE_H

#include <stddef.h>

#include "core/err.h"

#define SQS_MAX_BATCH 10         /* ReceiveMessage and batch calls: at most 10 */
#define SQS_RECEIPT_MAX 8192     /* longest receipt handle accepted (AWS: 1024) */
#define SQS_MESSAGE_ID_MAX 128   /* longest message id accepted (AWS: 36) */
#define SQS_FAILURE_TEXT_MAX 160 /* "Code: message" of a failed batch entry, cut */

struct sqs_message {
    char *message_id;
    char *receipt_handle;
    char *body; /* NUL-terminated; body_len bytes */
    size_t body_len;
    long receive_count; /* Attributes.ApproximateReceiveCount, 0 when not given */
};

struct sqs_receive {
    struct sqs_message messages[SQS_MAX_BATCH];
    size_t n;
};

/*
 * A ReceiveMessage answer into *out (zeroed first). "Messages" absent, null
 * or empty gives n = 0. More than max_messages (<= SQS_MAX_BATCH) messages, a
 * message without a string MessageId or ReceiptHandle, one longer than its
 * cap, or a Body that is not a string is ERR_BAD_INPUT; *out is then empty.
 */
enum err sqs_response_receive(const char *doc, size_t len, size_t max_messages,
                              struct sqs_receive *out, char *errbuf, size_t errlen);
/* Free every string of r and zero it; NULL-safe. */
void sqs_receive_release(struct sqs_receive *r);

/* The outcome of each entry of a batch call whose entry ids were "0".."n-1". */
struct sqs_batch_result {
    size_t n;
    int ok[SQS_MAX_BATCH];     /* listed in Successful */
    int failed[SQS_MAX_BATCH]; /* listed in Failed */
    size_t nfailed;
    char first_failure[SQS_FAILURE_TEXT_MAX]; /* "Code: message" of the first Failed entry */
};

/*
 * A DeleteMessageBatch (or ChangeMessageVisibilityBatch) answer for a call of
 * n entries with ids "0".."n-1". An id outside them, an entry listed twice or
 * a non-object document is ERR_BAD_INPUT. Entries in neither list keep
 * ok = failed = 0 (the caller treats them as not done).
 */
enum err sqs_response_batch(const char *doc, size_t len, size_t n, struct sqs_batch_result *out,
                            char *errbuf, size_t errlen);

/*
 * An error answer: code gets the part of "__type" (or "code") after the last
 * '#' ("QueueDoesNotExist"), message gets "message" (or "Message"); both cut
 * to their buffers, "" when absent. Returns 0 when doc is a JSON object with
 * a type or a message, -1 otherwise (both buffers "").
 */
int sqs_response_error(const char *doc, size_t len, char *code, size_t codelen, char *message,
                       size_t msglen);

#endif
