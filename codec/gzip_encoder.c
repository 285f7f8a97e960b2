/*
 * gzip_encoder.c - gzip (RFC 1952) of a buffer in memory, with zlib
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
