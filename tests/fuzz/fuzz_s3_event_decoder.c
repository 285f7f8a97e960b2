/*
 * fuzz_s3_event_decoder.c - libFuzzer target for the S3 event body decoder
 *
 * The input is the request body. It is decoded once with no practical cap
 * and once with a small one (derived from the length); the contract's
 * invariants are checked on every record (strings present, key non-empty,
 * version id never empty, times in the normalised form, sizes not negative)
 * and the small cap must fail with ERR_TOO_LARGE exactly when the record
 * count exceeds it. The input is also fed to s3_url_decode() as a string.
 *
 *   tests/fuzz/run.sh s3_event_decoder      (libFuzzer; corpus tests/fuzz/corpus/s3_event_decoder)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/s3_event_decoder.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_record(const struct s3_record *r)
{
    const char *t = r->event_time;

    if (!r->bucket || !r->bucket[0] || !r->key || !r->key[0] || !r->version_id ||
        !r->version_id[0] || !r->reason)
        abort();
    if (r->has_size && r->size < 0)
        abort();
    if (r->etag && (strlen(r->etag) < 2 || r->etag[strlen(r->etag) - 1] != '"'))
        abort();
    if (r->sequencer && !r->sequencer[0])
        abort();
    if (t && (strlen(t) != 24 || t[4] != '-' || t[10] != 'T' || t[19] != '.' || t[23] != 'Z'))
        abort();
    if (r->is_delete_marker && r->event_type != S3_DELETED)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errbuf[ERRBUF_SIZE];
    struct s3_batch b;
    size_t i, small = size % 4, n;
    enum err rc;
    char *s, *d;

    rc = s3_events_decode((const char *)data, size, SIZE_MAX, &b, errbuf, sizeof(errbuf));
    if (rc != ERR_OK && rc != ERR_BAD_INPUT)
        abort();
    if (rc == ERR_OK && !b.nrecords && !b.ignored && b.unrecognised)
        abort();
    for (i = 0; i < b.nrecords; i++)
        check_record(&b.records[i]);
    n = b.nrecords;
    s3_batch_release(&b);

    rc = s3_events_decode((const char *)data, size, small, &b, errbuf, sizeof(errbuf));
    if ((rc == ERR_TOO_LARGE) != (n > small))
        abort();
    s3_batch_release(&b);

    s = xstrndup((const char *)data, size);
    d = s3_url_decode(s);
    if (strlen(d) > strlen(s))
        abort();
    free(d);
    free(s);
    return 0;
}
