/*
 * fuzz_multipart.c - libFuzzer target: chunking must not change the result
 *
 * Input format: a Content-Type value, "\n", then the body. The boundary is
 * taken from the Content-Type with multipart_boundary(); the body is parsed
 * in one shot, in chunks whose sizes come from a hash of the input, and
 * (when short) one byte at a time. Code, message, filename and file content
 * must agree or the target aborts.
 *
 *   tests/fuzz/run.sh multipart      (libFuzzer; corpus tests/fuzz/corpus/multipart)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "codec/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    enum err rc;
    char msg[ERRBUF_SIZE];
    struct buf out;
    char *filename;
};

static enum err
sink(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct run *r = ctx;

    (void)errbuf;
    (void)errlen;
    if (len == 0)
        abort(); /* the sink is never called empty */
    buf_append(&r->out, data, len);
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
run(const char *boundary, const char *body, size_t size, uint64_t seed, size_t chunk_max,
    struct run *r)
{
    struct multipart *m;
    const char *fn;
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    buf_init(&r->out, 0);
    m = multipart_new(boundary, sink, r);
    while (off < size && !r->rc) {
        size_t n = chunk_max ? 1 + next(&seed) % chunk_max : size;

        if (n > size - off)
            n = size - off;
        r->rc = multipart_feed(m, body + off, n, r->msg, sizeof(r->msg));
        off += n;
    }
    if (!r->rc)
        r->rc = multipart_finish(m, r->msg, sizeof(r->msg));
    fn = multipart_filename(m);
    r->filename = fn ? xstrdup(fn) : NULL;
    multipart_free(m);
}

static void
release(struct run *r)
{
    buf_release(&r->out);
    free(r->filename);
}

static void
compare(const struct run *a, const struct run *b)
{
    if (a->rc != b->rc || strcmp(a->msg, b->msg) != 0) {
        fprintf(stderr, "rc %d \"%s\" vs %d \"%s\"\n", a->rc, a->msg, b->rc, b->msg);
        abort();
    }
    if (!a->filename != !b->filename || (a->filename && strcmp(a->filename, b->filename) != 0))
        abort();
    if (a->out.len != b->out.len || (a->out.len && memcmp(a->out.data, b->out.data, a->out.len)))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    char *ct;
    char boundary[71];
    const char *body;
    size_t body_len;
    uint64_t h = 1469598103934665603ull;
    struct run one;
    struct run chunked;

    if (!nl)
        return 0;
    ct = xstrndup((const char *)data, (size_t)(nl - data));
    if (strlen(ct) != (size_t)(nl - data) ||
        multipart_boundary(ct, boundary, sizeof(boundary), NULL, 0)) {
        free(ct);
        return 0;
    }
    free(ct);
    body = (const char *)nl + 1;
    body_len = size - (size_t)(nl + 1 - data);
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    h |= 1;

    run(boundary, body, body_len, h, 0, &one);
    run(boundary, body, body_len, h, (size_t)1 << ((h >> 20) % 10), &chunked);
    compare(&one, &chunked);
    release(&chunked);
    if (body_len <= 4096) {
        run(boundary, body, body_len, h, 1, &chunked);
        compare(&one, &chunked);
        release(&chunked);
    }
    release(&one);
    return 0;
}
