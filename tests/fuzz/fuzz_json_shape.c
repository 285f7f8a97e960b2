/*
 * fuzz_json_shape.c - libFuzzer target: chunking must not change the count
 *
 * The input is counted in one piece and in chunks whose sizes come from a
 * hash of the input (and, when short, one byte at a time), with caps derived
 * from the hash; result, message and counts must agree or the target aborts.
 *
 *   tests/fuzz/run.sh json_shape      (libFuzzer; corpus tests/fuzz/corpus/json_shape)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json_shape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    enum err rc;
    char msg[ERRBUF_SIZE];
    size_t containers;
    size_t values;
};

static uint64_t
next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
run(const uint8_t *data, size_t size, size_t max_c, size_t max_v, uint64_t seed, size_t chunk_max,
    struct run *r)
{
    struct json_shape js;
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    json_shape_init(&js, max_c, max_v);
    while (off < size && !r->rc) {
        size_t n = chunk_max ? 1 + next(&seed) % chunk_max : size;

        if (n > size - off)
            n = size - off;
        r->rc = json_shape_feed(&js, (const char *)data + off, n, r->msg, sizeof(r->msg));
        off += n;
    }
    r->containers = js.containers;
    r->values = js.values;
    if (!r->rc && (r->containers > max_c || r->values > max_v))
        abort(); /* over a cap without saying so */
}

static void
compare(const struct run *a, const struct run *b)
{
    if (a->rc != b->rc || strcmp(a->msg, b->msg) != 0 ||
        (!a->rc && (a->containers != b->containers || a->values != b->values))) {
        fprintf(stderr, "rc %d \"%s\" vs %d \"%s\"\n", a->rc, a->msg, b->rc, b->msg);
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ull;
    size_t max_c;
    size_t max_v;
    struct run one;
    struct run chunked;

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    h |= 1;
    max_c = (h >> 8) & 1 ? (h >> 9) % 64 : 1000000;
    max_v = (h >> 16) & 1 ? (h >> 17) % 256 : 5000000;
    run(data, size, max_c, max_v, h, 0, &one);
    run(data, size, max_c, max_v, h, (size_t)1 << ((h >> 24) % 12), &chunked);
    compare(&one, &chunked);
    if (size <= 4096) {
        run(data, size, max_c, max_v, h, 1, &chunked);
        compare(&one, &chunked);
    }
    return 0;
}
