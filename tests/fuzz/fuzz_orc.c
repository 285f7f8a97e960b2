/*
 * fuzz_orc.c - libFuzzer target for the ORC inventory reader (codec/orc*.c)
 *
 * The first input byte picks what the rest is:
 *   0, 1  an ORC file. Read as the service reads it, range by range, each
 *         range copied into a heap buffer of exactly its size: the tail (a
 *         first fetch of the last 16 KiB, or of 1 byte when the selector is
 *         1, then what orc_tail_need asks for), each stripe's footer, its
 *         span. Each stripe is decoded twice, from its span and from its
 *         whole bytes; the two transcripts must be equal, and every line
 *         must keep the contract (non-empty bucket and key, quoted eTag,
 *         normalised date, booleans in range, size not negative).
 *   2     an integer RLE stream: the next byte's bit 0 picks v2, bit 1
 *         signed; up to 4096 values are read, then byte and boolean RLE (up
 *         to 8192 booleans: 1 KiB of byte RLE, several runs and literals
 *         of the longest kind; 65536 made this loop most of the target's
 *         time).
 *   3     compression chunks: the next byte picks the codec (bits 0-1:
 *         NONE, ZLIB, SNAPPY, ZSTD) and the block size (bits 2-7, times 64),
 *         read whole (capped at 64 KiB: 16 blocks and more, while a 1 MiB cap
 *         made bombs read byte by byte cost milliseconds each) and byte by
 *         byte; both must agree.
 *
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DINGESTD_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_orc
 *   build-fuzz/fuzz_orc tests/fuzz/corpus/orc
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/orc.h"
#include "codec/orc_rle.h"
#include "codec/orc_stream.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_date(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    size_t i;

    if (strlen(s) != sizeof(shape) - 1)
        abort();
    for (i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            abort();
    }
}

static enum err
on_line(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    struct buf *out = ctx;
    size_t n;

    (void)errbuf;
    (void)errlen;
    if (!l->bucket || !*l->bucket || !l->key || !*l->key || l->line == 0)
        abort();
    if (l->is_latest < -1 || l->is_latest > 1 || l->is_delete_marker < 0 ||
        l->is_delete_marker > 1 || (l->has_size && l->size < 0))
        abort();
    if ((l->version_id && !*l->version_id) || (l->storage_class && !*l->storage_class))
        abort();
    if (l->last_modified)
        check_date(l->last_modified);
    if (l->etag) {
        n = strlen(l->etag);
        if (n < 2 || l->etag[n - 1] != '"' || (l->etag[0] != '"' && strncmp(l->etag, "W/\"", 3)))
            abort();
    }
    buf_printf(out, "L%zu|%s|%s|%s|%d|%d|%d:%lld|%s|%s|%s\n", l->line, l->bucket, l->key,
               l->version_id ? l->version_id : "-", l->is_latest, l->is_delete_marker, l->has_size,
               (long long)l->size, l->last_modified ? l->last_modified : "-",
               l->etag ? l->etag : "-", l->storage_class ? l->storage_class : "-");
    return ERR_OK;
}

/* A heap copy of exactly file[off..off+n). */
static unsigned char *
range(const uint8_t *file, uint64_t off, uint64_t n)
{
    unsigned char *p = xmalloc(n ? (size_t)n : 1);

    if (n)
        memcpy(p, file + off, (size_t)n);
    return p;
}

/*
 * The tail: a first fetch of `guess` bytes, then what orc_tail_need asks for.
 * An answer from a tail of 256 bytes or more is final; from a shorter one
 * it may grow once more (one byte says the postscript's length only).
 */
static enum err
open_file(const uint8_t *file, size_t size, size_t guess, struct orc_file **f, char *msg)
{
    uint64_t len = guess < size ? guess : size, need = 0;
    unsigned char *tail = range(file, size - len, len);
    enum err rc = orc_tail_need(tail, (size_t)len, size, &need, msg, ERRBUF_SIZE);
    int rounds = 0;

    while (!rc && need > len) {
        uint64_t asked = need;
        int final = len >= 256;

        if (++rounds > 2)
            abort();
        free(tail);
        len = need;
        tail = range(file, size - len, len);
        rc = orc_tail_need(tail, (size_t)len, size, &need, msg, ERRBUF_SIZE);
        if (!rc && final && need != asked)
            abort();
    }
    if (!rc)
        rc = orc_file_open(tail, (size_t)len, size, f, msg, ERRBUF_SIZE);
    free(tail);
    return rc;
}

/* Stripe i from its footer and span, then from its whole bytes: the same lines. */
static void
stripe(const uint8_t *file, const struct orc_file *f, size_t i)
{
    char msg[ERRBUF_SIZE] = "", msg2[ERRBUF_SIZE] = "";
    struct orc_stripe_range r;
    struct orc_stripe *s = NULL;
    struct buf a, b;
    uint64_t off, len;
    unsigned char *p;
    enum err rc, rc2;

    buf_init(&a, 0);
    buf_init(&b, 0);
    orc_file_stripe(f, i, &r);
    p = range(file, r.footer_offset, r.footer_length);
    rc = orc_stripe_open(f, i, p, (size_t)r.footer_length, &s, msg, sizeof(msg));
    free(p);
    if (!rc) {
        orc_stripe_span(s, &off, &len);
        if (off < r.offset || len > r.footer_offset - off)
            abort(); /* the span lies within the stripe's index and data */
        p = range(file, off, len);
        rc = orc_stripe_decode(s, p, (size_t)len, on_line, &a, msg, sizeof(msg));
        free(p);
        orc_stripe_free(s);
    }
    p = range(file, r.offset, r.length);
    rc2 = orc_stripe_decode_whole(f, i, p, (size_t)r.length, on_line, &b, msg2, sizeof(msg2));
    free(p);
    if (rc != rc2 || strcmp(msg, msg2) || a.len != b.len ||
        (a.len && memcmp(a.data, b.data, a.len)))
        abort();
    buf_release(&a);
    buf_release(&b);
}

static void
fuzz_file(const uint8_t *file, size_t size, size_t guess)
{
    char msg[ERRBUF_SIZE] = "";
    struct orc_file *f = NULL;
    size_t i;

    if (size == 0 || open_file(file, size, guess, &f, msg))
        return;
    for (i = 0; i < orc_file_stripe_count(f) && i < 64; i++)
        stripe(file, f, i);
    orc_file_free(f);
}

static void
fuzz_rle(const uint8_t *in, size_t size)
{
    char msg[ERRBUF_SIZE] = "";
    struct orc_stream s;
    struct orc_int_rle *r;
    struct orc_bool_rle b;
    int64_t v;
    int bit;
    size_t i;

    if (size < 1)
        return;
    r = xmalloc(sizeof(*r));
    orc_stream_init(&s, ORC_COMPRESSION_NONE, 0, in + 1, size - 1, "rle");
    orc_int_rle_init(r, &s, in[0] & 1, (in[0] >> 1) & 1);
    for (i = 0; i < 4096 && !orc_int_rle_next(r, &v, msg, sizeof(msg)); i++)
        ;
    orc_stream_release(&s);
    orc_stream_init(&s, ORC_COMPRESSION_NONE, 0, in + 1, size - 1, "bools");
    orc_bool_rle_init(&b, &s);
    for (i = 0; i < 8192 && !orc_bool_rle_next(&b, &bit, msg, sizeof(msg)); i++) {
        if (bit != 0 && bit != 1)
            abort();
    }
    orc_stream_release(&s);
    free(r);
}

static void
fuzz_chunks(const uint8_t *in, size_t size)
{
    static const enum orc_compression kinds[4] = {ORC_COMPRESSION_NONE, ORC_COMPRESSION_ZLIB,
                                                  ORC_COMPRESSION_SNAPPY, ORC_COMPRESSION_ZSTD};
    char msg[ERRBUF_SIZE] = "";
    struct orc_stream s;
    struct buf all;
    size_t block, i = 0;
    unsigned char c;
    enum err rc;

    if (size < 1)
        return;
    block = ((size_t)(in[0] >> 2) + 1) * 64;
    buf_init(&all, 0);
    rc = orc_decompress_all(kinds[in[0] & 3], block, in + 1, size - 1, 1 << 16, &all, "all", msg,
                            sizeof(msg));
    orc_stream_init(&s, kinds[in[0] & 3], block, in + 1, size - 1, "bytes");
    while (i < all.len && !orc_stream_byte(&s, &c, msg, sizeof(msg))) {
        if (c != (unsigned char)all.data[i++])
            abort();
    }
    if (!rc && (i != all.len || !orc_stream_byte(&s, &c, msg, sizeof(msg))))
        abort(); /* the same bytes, and nothing after them */
    orc_stream_release(&s);
    buf_release(&all);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] & 3) {
    case 0:
        fuzz_file(data + 1, size - 1, ORC_TAIL_GUESS);
        break;
    case 1:
        fuzz_file(data + 1, size - 1, 1);
        break;
    case 2:
        fuzz_rle(data + 1, size - 1);
        break;
    default:
        fuzz_chunks(data + 1, size - 1);
        break;
    }
    return 0;
}
