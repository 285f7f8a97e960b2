/*
 * orc_stream.c - ORC compression chunks: one stream's bytes, decompressed as read (pure)
 *
 * A stream is read chunk by chunk: next_chunk() parses the 3-byte header
 * and points s->cur at the chunk's bytes (in src for an original chunk, in
 * s->out after decompression). Empty chunks are skipped. The decompressors
 * (zlib in raw-deflate mode, libsnappy, libzstd) are kept per stream and
 * reset per chunk; each writes at most `block` bytes, and a chunk that would
 * write more is an error, not a bigger buffer. The output buffer is sized by
 * what the chunks need (snappy and zstd say it, zlib's doubles from 64 KiB),
 * so small chunks in a file of large blocks take little memory.
 *
 * Thread-safety: one stream per thread; no globals.
 */
#define ZLIB_CONST
#include "codec/orc_stream.h"

#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* zlib's output buffer to start with; it doubles up to the block size as chunks need */
#define FIRST_OUT_BYTES (64 * 1024)

enum err
orc_compression_check(uint64_t kind, char *errbuf, size_t errlen)
{
    switch (kind) {
    case ORC_COMPRESSION_NONE:
    case ORC_COMPRESSION_ZLIB:
    case ORC_COMPRESSION_SNAPPY:
    case ORC_COMPRESSION_ZSTD:
        return ERR_OK;
    case ORC_COMPRESSION_LZO:
        return err_set(ERR_UNSUPPORTED, errbuf, errlen, "ORC compression LZO is not supported");
    case ORC_COMPRESSION_LZ4:
        return err_set(ERR_UNSUPPORTED, errbuf, errlen, "ORC compression LZ4 is not supported");
    default:
        return err_set(ERR_UNSUPPORTED, errbuf, errlen, "unknown ORC compression kind %llu",
                       (unsigned long long)kind);
    }
}

void
orc_stream_init(struct orc_stream *s, enum orc_compression kind, size_t block, const void *src,
                size_t len, const char *what)
{
    memset(s, 0, sizeof(*s));
    s->src = src;
    s->len = len;
    s->kind = kind;
    s->block = block;
    s->what = what;
}

void
orc_stream_release(struct orc_stream *s)
{
    if (!s)
        return;
    if (s->zlib) {
        inflateEnd(s->zlib);
        free(s->zlib);
    }
    ZSTD_freeDCtx(s->zstd);
    free(s->out);
    memset(s, 0, sizeof(*s));
}

/* s->out holds at least n bytes (n <= s->block): it grows with the chunks, up to the block. */
static void
reserve_out(struct orc_stream *s, size_t n)
{
    if (n <= s->out_size && s->out)
        return;
    s->out = xrealloc(s->out, n ? n : 1);
    s->out_size = n;
}

static enum err
inflate_chunk(struct orc_stream *s, const unsigned char *in, size_t n, size_t *out_len,
              char *errbuf, size_t errlen)
{
    z_stream *z = s->zlib;
    size_t done = 0;
    int zrc;

    if (!z) {
        z = xcalloc(1, sizeof(*z));
        if (inflateInit2(z, -MAX_WBITS) != Z_OK)
            abort(); /* only Z_MEM_ERROR is possible here */
        s->zlib = z;
    } else if (inflateReset(z) != Z_OK) {
        abort(); /* an initialised stream always resets */
    }
    reserve_out(s, s->block < FIRST_OUT_BYTES ? s->block : FIRST_OUT_BYTES);
    z->next_in = in;
    z->avail_in = (uInt)n;
    for (;;) {
        z->next_out = s->out + done;
        z->avail_out = (uInt)(s->out_size - done);
        zrc = inflate(z, Z_FINISH);
        done = s->out_size - z->avail_out;
        if (zrc == Z_STREAM_END) {
            *out_len = done;
            return ERR_OK;
        }
        if ((zrc != Z_OK && zrc != Z_BUF_ERROR) || z->avail_out > 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: corrupt zlib chunk", s->what);
        if (s->out_size >= s->block)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "%s: a zlib chunk expands past the compression block size", s->what);
        reserve_out(s, s->out_size * 2 < s->block ? s->out_size * 2 : s->block);
    }
}

static enum err
snappy_chunk(struct orc_stream *s, const unsigned char *in, size_t n, size_t *out_len, char *errbuf,
             size_t errlen)
{
    size_t len;

    if (snappy_uncompressed_length((const char *)in, n, &len) != SNAPPY_OK)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: corrupt snappy chunk", s->what);
    if (len > s->block)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "%s: a snappy chunk expands past the compression block size", s->what);
    reserve_out(s, len);
    if (snappy_uncompress((const char *)in, n, (char *)s->out, &len) != SNAPPY_OK)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: corrupt snappy chunk", s->what);
    *out_len = len;
    return ERR_OK;
}

static enum err
zstd_chunk(struct orc_stream *s, const unsigned char *in, size_t n, size_t *out_len, char *errbuf,
           size_t errlen)
{
    unsigned long long want = ZSTD_getFrameContentSize(in, n);
    size_t len;

    if (!s->zstd) {
        s->zstd = ZSTD_createDCtx();
        if (!s->zstd)
            abort(); /* allocation failure */
    }
    /* the first frame's size when it says (and not more than the block), else the block */
    reserve_out(s, want < s->block ? (size_t)want : s->block);
    len = ZSTD_decompressDCtx(s->zstd, s->out, s->out_size, in, n);
    if (ZSTD_isError(len) && ZSTD_getErrorCode(len) == ZSTD_error_dstSize_tooSmall &&
        s->out_size < s->block) {
        reserve_out(s, s->block);
        len = ZSTD_decompressDCtx(s->zstd, s->out, s->out_size, in, n);
    }
    if (ZSTD_isError(len)) {
        if (ZSTD_getErrorCode(len) == ZSTD_error_dstSize_tooSmall)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "%s: a zstd chunk expands past the compression block size", s->what);
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: corrupt zstd chunk (%s)", s->what,
                       ZSTD_getErrorName(len));
    }
    *out_len = len;
    return ERR_OK;
}

/* Decompress the chunk in[0..n) into s->out. */
static enum err
decompress(struct orc_stream *s, const unsigned char *in, size_t n, size_t *out_len, char *errbuf,
           size_t errlen)
{
    switch (s->kind) {
    case ORC_COMPRESSION_ZLIB:
        return inflate_chunk(s, in, n, out_len, errbuf, errlen);
    case ORC_COMPRESSION_SNAPPY:
        return snappy_chunk(s, in, n, out_len, errbuf, errlen);
    case ORC_COMPRESSION_ZSTD:
        return zstd_chunk(s, in, n, out_len, errbuf, errlen);
    default:
        return orc_compression_check(s->kind, errbuf, errlen);
    }
}

/* Point s->cur at the next non-empty chunk; s->cur_len stays 0 at the end of the stream. */
static enum err
next_chunk(struct orc_stream *s, char *errbuf, size_t errlen)
{
    enum err rc;

    s->cur_len = s->cur_pos = 0;
    while (s->cur_len == 0 && s->pos < s->len) {
        size_t n;
        uint32_t h;

        if (s->kind == ORC_COMPRESSION_NONE) {
            s->cur = s->src;
            s->cur_len = s->len;
            s->pos = s->len;
            break;
        }
        if (s->len - s->pos < 3)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: truncated compression chunk header",
                           s->what);
        h = s->src[s->pos] | (uint32_t)s->src[s->pos + 1] << 8 | (uint32_t)s->src[s->pos + 2] << 16;
        s->pos += 3;
        n = h >> 1;
        if (n > s->len - s->pos)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: truncated compression chunk",
                           s->what);
        if (h & 1) {
            if (n > s->block)
                return err_set(ERR_BAD_INPUT, errbuf, errlen,
                               "%s: a chunk is larger than the compression block size", s->what);
            s->cur = s->src + s->pos;
            s->cur_len = n;
        } else if (n > 0) {
            rc = decompress(s, s->src + s->pos, n, &s->cur_len, errbuf, errlen);
            if (rc)
                return rc;
            s->cur = s->out;
        }
        s->pos += n;
    }
    return ERR_OK;
}

/* Make sure a byte is ready at s->cur[s->cur_pos]. */
static enum err
fill(struct orc_stream *s, char *errbuf, size_t errlen)
{
    enum err rc;

    if (s->cur_pos < s->cur_len)
        return ERR_OK;
    rc = next_chunk(s, errbuf, errlen);
    if (!rc && s->cur_len == 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: ends early", s->what);
    return rc;
}

enum err
orc_stream_byte(struct orc_stream *s, unsigned char *out, char *errbuf, size_t errlen)
{
    enum err rc = fill(s, errbuf, errlen);

    if (!rc)
        *out = s->cur[s->cur_pos++];
    return rc;
}

enum err
orc_stream_read(struct orc_stream *s, void *dst, size_t n, char *errbuf, size_t errlen)
{
    unsigned char *d = dst;

    while (n > 0) {
        enum err rc = fill(s, errbuf, errlen);
        size_t k;

        if (rc)
            return rc;
        k = s->cur_len - s->cur_pos;
        if (k > n)
            k = n;
        memcpy(d, s->cur + s->cur_pos, k);
        s->cur_pos += k;
        d += k;
        n -= k;
    }
    return ERR_OK;
}

enum err
orc_decompress_all(enum orc_compression kind, size_t block, const void *src, size_t len, size_t cap,
                   struct buf *out, const char *what, char *errbuf, size_t errlen)
{
    struct orc_stream s;
    enum err rc = ERR_OK;

    orc_stream_init(&s, kind, block, src, len, what);
    for (;;) {
        rc = next_chunk(&s, errbuf, errlen);
        if (rc || s.cur_len == 0)
            break;
        if (s.cur_len > cap - out->len) {
            rc = err_set(ERR_TOO_LARGE, errbuf, errlen, "%s: more than %zu bytes decompressed",
                         what, cap);
            break;
        }
        buf_append(out, s.cur, s.cur_len);
        s.cur_pos = s.cur_len;
    }
    orc_stream_release(&s);
    return rc;
}
