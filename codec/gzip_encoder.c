/*
 * gzip_encoder.c - gzip (RFC 1952) of a buffer in memory, with zlib; and
 * gzip assembled from independently deflated blocks
 */
#include "codec/gzip_encoder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/buf.h"

char *
gzip_encode(const void *data, size_t len, int level, size_t *out_len)
{
    z_stream zs;
    char *out;
    size_t cap;
    int zrc = Z_OK;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    cap = deflateBound(&zs, (uLong)len) + 64;
    out = xmalloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.next_out = (Bytef *)out;
    /* zlib counts in uInt: feed and drain in pieces of at most 1 GiB */
    while (zrc != Z_STREAM_END) {
        size_t in_left = len - (size_t)zs.total_in;
        size_t out_left = cap - (size_t)zs.total_out;

        zs.avail_in = (uInt)(in_left < (1u << 30) ? in_left : (1u << 30));
        zs.avail_out = (uInt)(out_left < (1u << 30) ? out_left : (1u << 30));
        zrc = deflate(&zs, zs.avail_in == in_left ? Z_FINISH : Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END)
            abort();
    }
    *out_len = (size_t)zs.total_out;
    deflateEnd(&zs);
    return out;
}

struct gzip_blocks {
    z_stream zs;
};

struct gzip_blocks *
gzip_blocks_new(int level)
{
    struct gzip_blocks *g = xcalloc(1, sizeof(*g));

    /* raw deflate (the caller writes the gzip header and trailer); memLevel 6: a
     * small hash table, which deflateReset() clears for every block */
    if (deflateInit2(&g->zs, level, Z_DEFLATED, -MAX_WBITS, 6, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    return g;
}

void
gzip_blocks_free(struct gzip_blocks *g)
{
    if (!g)
        return;
    deflateEnd(&g->zs);
    free(g);
}

void
gzip_blocks_deflate(struct gzip_blocks *g, const void *data, size_t len, struct buf *out,
                    uint32_t *crc)
{
    z_stream *zs = &g->zs;
    size_t done = 0;
    size_t room;
    int zrc;

    /* a fresh stream per block: no back-reference reaches an earlier block */
    if (deflateReset(zs) != Z_OK)
        abort();
    *crc = (uint32_t)crc32_z(0, (const Bytef *)data, len);
    for (;;) {
        size_t piece = len - done < (1u << 30) ? len - done : (1u << 30);
        int flush = done + piece == len ? Z_FULL_FLUSH : Z_NO_FLUSH;

        zs->next_in = (Bytef *)(uintptr_t)data + done;
        zs->avail_in = (uInt)piece;
        do {
            if (buf_reserve(out, 65536) != ERR_OK)
                abort();
            zs->next_out = (Bytef *)out->data + out->len;
            room = out->alloc - out->len - 1;
            zs->avail_out = (uInt)(room < (1u << 30) ? room : (1u << 30));
            zrc = deflate(zs, flush);
            if (zrc != Z_OK && zrc != Z_BUF_ERROR)
                abort();
            out->len = out->alloc - 1 - zs->avail_out;
        } while (zs->avail_out == 0 || zs->avail_in > 0);
        done += piece;
        if (flush == Z_FULL_FLUSH)
            break;
    }
    out->data[out->len] = '\0';
}

void
gzip_blocks_header(struct buf *out)
{
    /* ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown): the same bytes everywhere */
    static const unsigned char h[GZIP_BLOCKS_HEADER_LEN] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};

    if (buf_append(out, h, sizeof(h)) != ERR_OK)
        abort();
}

void
gzip_blocks_trailer(struct buf *out, uint32_t crc, uint64_t total_len)
{
    /* a final empty stored block (BFINAL=1, BTYPE=00, LEN=0, NLEN=0xffff), CRC-32, ISIZE */
    unsigned char t[GZIP_BLOCKS_TRAILER_LEN] = {0x01, 0x00, 0x00, 0xff, 0xff};
    int i;

    for (i = 0; i < 4; i++) {
        t[5 + i] = (unsigned char)(crc >> (8 * i));
        t[9 + i] = (unsigned char)(total_len >> (8 * i));
    }
    if (buf_append(out, t, sizeof(t)) != ERR_OK)
        abort();
}

uint32_t
gzip_blocks_crc_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b)
{
    return (uint32_t)crc32_combine(crc_a, crc_b, (z_off_t)len_b);
}
