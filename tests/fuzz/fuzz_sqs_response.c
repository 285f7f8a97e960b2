/*
 * fuzz_sqs_response.c - libFuzzer target for the SQS JSON 1.0 answer decoder
 *
 * The input is an answer body. It is decoded as a ReceiveMessage answer
 * (with the cap of 10 and with a cap derived from the length), as a
 * DeleteMessageBatch answer for 1..10 entries, and as an error answer. The
 * contract's invariants are checked: a decoded message has a non-empty id and
 * receipt handle within their caps and a body of body_len bytes; a rejected
 * answer owns nothing; a batch entry is never both ok and failed, and
 * nfailed counts the failed ones; error texts are printable ASCII.
 *
 *   tests/fuzz/run.sh sqs_response      (libFuzzer; corpus tests/fuzz/corpus/sqs_response)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/sqs_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_receive(const struct sqs_receive *r, size_t max)
{
    size_t i;

    if (r->n > max)
        abort();
    for (i = 0; i < r->n; i++) {
        const struct sqs_message *m = &r->messages[i];

        if (!m->message_id || !m->message_id[0] || strlen(m->message_id) > SQS_MESSAGE_ID_MAX)
            abort();
        if (!m->receipt_handle || !m->receipt_handle[0] ||
            strlen(m->receipt_handle) > SQS_RECEIPT_MAX)
            abort();
        if (!m->body || m->body[m->body_len] != '\0' || m->receive_count < 0)
            abort();
    }
}

static void
check_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7F)
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *doc = (const char *)data;
    char errbuf[ERRBUF_SIZE], code[64], msg[128];
    struct sqs_batch_result b;
    struct sqs_receive r;
    size_t max = size % 11, i, n, failed;
    enum err rc;

    rc = sqs_response_receive(doc, size, SQS_MAX_BATCH, &r, errbuf, sizeof(errbuf));
    if (rc != ERR_OK && rc != ERR_BAD_INPUT)
        abort();
    if (rc && r.n)
        abort();
    check_receive(&r, SQS_MAX_BATCH);
    sqs_receive_release(&r);
    rc = sqs_response_receive(doc, size, max, &r, errbuf, sizeof(errbuf));
    if (rc != ERR_OK && rc != ERR_BAD_INPUT)
        abort();
    check_receive(&r, max);
    sqs_receive_release(&r);

    n = 1 + size % SQS_MAX_BATCH;
    rc = sqs_response_batch(doc, size, n, &b, errbuf, sizeof(errbuf));
    if (rc != ERR_OK && rc != ERR_BAD_INPUT)
        abort();
    for (i = 0, failed = 0; i < SQS_MAX_BATCH; i++) {
        if ((b.ok[i] && b.failed[i]) || (i >= n && (b.ok[i] || b.failed[i])))
            abort();
        failed += b.failed[i] ? 1 : 0;
    }
    if (failed != b.nfailed || (rc && failed))
        abort();
    check_printable(b.first_failure);

    if (sqs_response_error(doc, size, code, sizeof(code), msg, sizeof(msg)) != 0 &&
        (code[0] || msg[0]))
        abort();
    check_printable(code);
    check_printable(msg);
    return 0;
}
