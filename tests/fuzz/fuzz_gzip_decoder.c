/*
 * fuzz_gzip_decoder.c - libFuzzer target: chunking must not change the result
 *
 * The input is the gzip body. It is decoded in one shot, in chunks whose
 * sizes come from a hash of the input, and (when short) one byte at a time;
 * the results (code, message, output) must agree or the target aborts. The
 * output cap is also derived from the hash: small (1..4096 bytes: the cap
 * hit inside the decoder's first 64 KiB window) or 256 KiB (output over
 * several windows, the cap hit after some). A larger cap takes nothing more
 * through other code, while a bomb's 3 decodes of 4 MiB kept the target
 * under 200 executions per second.
 *
 *   tests/fuzz/run.sh gzip_decoder      (libFuzzer; corpus tests/fuzz/corpus/gzip_decoder)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "codec/gzip_decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    enum err rc;
    char msg[ERRBUF_SIZE];
    struct buf out;
    size_t total_out;
};

static enum err
sink(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct run *r = ctx;

    (void)errbuf;
    (void)errlen;
    if (len == 0)
        abort(); /* the sink is never called empty */
    if (buf_append(&r->out, data, len))
        abort(); /* the decoder let more than the cap through */
    return ERR_OK;
}

static uint64_t
next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* chunk_max 0: one shot; otherwise chunks of 1..chunk_max bytes. */
static void
run(const uint8_t *data, size_t size, size_t cap, uint64_t seed, size_t chunk_max, struct run *r)
{
    struct gzip_decoder *d;
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    buf_init(&r->out, cap);
    d = gzip_decoder_new(cap, sink, r);
    while (off < size && !r->rc) {
        size_t n = chunk_max ? 1 + next(&seed) % chunk_max : size;

        if (n > size - off)
            n = size - off;
        r->rc = gzip_decoder_feed(d, data + off, n, r->msg, sizeof(r->msg));
        off += n;
    }
    if (!r->rc)
        r->rc = gzip_decoder_finish(d, r->msg, sizeof(r->msg));
    r->total_out = gzip_decoder_total_out(d);
    if (r->total_out != r->out.len)
        abort();
    gzip_decoder_free(d);
}

static void
compare(const struct run *a, const struct run *b)
{
    size_t n = a->out.len < b->out.len ? a->out.len : b->out.len;

    if (a->rc != b->rc || strcmp(a->msg, b->msg) != 0) {
        fprintf(stderr, "rc %d \"%s\" vs %d \"%s\"\n", a->rc, a->msg, b->rc, b->msg);
        abort();
    }
    if (n && memcmp(a->out.data, b->out.data, n) != 0)
        abort();
    if (a->rc != ERR_TOO_LARGE && a->out.len != b->out.len)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ull;
    size_t cap;
    struct run one;
    struct run chunked;

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    h |= 1;
    cap = (h >> 8) & 1 ? 1 + (h >> 9) % 4096 : 256 * 1024;

    run(data, size, cap, h, 0, &one);
    run(data, size, cap, h, (size_t)1 << ((h >> 20) % 12), &chunked);
    compare(&one, &chunked);
    buf_release(&chunked.out);
    if (size <= 4096) {
        run(data, size, cap, h, 1, &chunked);
        compare(&one, &chunked);
        buf_release(&chunked.out);
    }
    buf_release(&one.out);
    return 0;
}
