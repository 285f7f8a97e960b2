/*
 * gzip_decoder.c - streaming gzip (RFC 1952) decoder on zlib (pure)
 *
 * One z_stream in gzip-only mode (16 + MAX_WBITS) and a fixed 64 KiB output
 * window that is handed to the sink each time inflate() fills some of it, so
 * memory does not depend on the size of the output. When a member ends
 * (Z_STREAM_END) and more input follows, that input must start another member:
 * its two magic bytes (1f 8b) are collected, possibly across chunks, then the
 * stream is reset and inflation goes on. Anything else after a member is
 * trailing data.
 *
 * Every window's output is checked against the cap and given to the sink
 * before inflate()'s return code is looked at, so the result does not depend
 * on how the input is chunked. The first error is latched: later calls return
 * it again with the same message.
 */
#define ZLIB_CONST
#include "codec/gzip_decoder.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/buf.h"

#define GZIP_WINDOW_BYTES (64 * 1024)

static const unsigned char gzip_magic[2] = {0x1f, 0x8b};

struct gzip_decoder {
    z_stream zs;
    byte_sink_fn sink;
    void *ctx;
    size_t max_out_bytes; /* 0 = unlimited */
    size_t total_out;
    size_t total_in;
    unsigned members;   /* members that reached their trailer */
    int between;        /* a member ended; waiting for the next one's magic */
    unsigned magic_got; /* magic bytes of the next member seen so far (0 or 1) */
    enum err failed;    /* latched error, ERR_OK while healthy */
    char failmsg[ERRBUF_SIZE];
    unsigned char out[GZIP_WINDOW_BYTES];
};

struct gzip_decoder *
gzip_decoder_new(size_t max_out_bytes, byte_sink_fn sink, void *ctx)
{
    struct gzip_decoder *d = xmalloc(sizeof(*d));

    /* everything but the output window, which is only ever written first */
    memset(d, 0, offsetof(struct gzip_decoder, out));
    d->sink = sink;
    d->ctx = ctx;
    d->max_out_bytes = max_out_bytes;
    if (inflateInit2(&d->zs, 16 + MAX_WBITS) != Z_OK)
        abort(); /* only Z_MEM_ERROR is possible here */
    return d;
}

void
gzip_decoder_free(struct gzip_decoder *d)
{
    if (!d)
        return;
    inflateEnd(&d->zs);
    free(d);
}

size_t
gzip_decoder_total_out(const struct gzip_decoder *d)
{
    return d->total_out;
}

/* Remember rc and its message so that later calls report the same. */
static enum err
latch(struct gzip_decoder *d, enum err rc, char *errbuf, size_t errlen)
{
    d->failed = rc;
    if (errbuf && errlen)
        snprintf(d->failmsg, sizeof(d->failmsg), "%s", errbuf);
    else
        snprintf(d->failmsg, sizeof(d->failmsg), "gzip decoding failed");
    return rc;
}

/* Check the window's `produced` bytes against the cap and pass them on. */
static enum err
deliver(struct gzip_decoder *d, size_t produced, char *errbuf, size_t errlen)
{
    enum err rc;

    if (produced == 0)
        return ERR_OK;
    if (d->max_out_bytes && produced > d->max_out_bytes - d->total_out)
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "decoded body exceeds %zu bytes",
                       d->max_out_bytes);
    rc = d->sink(d->ctx, (const char *)d->out, produced, errbuf, errlen);
    if (rc)
        return rc;
    d->total_out += produced;
    return ERR_OK;
}

/*
 * Inflate from `in` until the input is used up or the member ends; *used
 * says how much input was consumed. Sets d->between at the end of a member.
 */
static enum err
inflate_some(struct gzip_decoder *d, const unsigned char *in, size_t len, size_t *used,
             char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;
    int zrc;

    d->zs.next_in = in;
    d->zs.avail_in = (uInt)len;
    for (;;) {
        d->zs.next_out = d->out;
        d->zs.avail_out = sizeof(d->out);
        zrc = inflate(&d->zs, Z_NO_FLUSH);
        rc = deliver(d, sizeof(d->out) - d->zs.avail_out, errbuf, errlen);
        if (rc)
            goto out;
        if (zrc == Z_STREAM_END) {
            d->members++;
            d->between = 1;
            d->magic_got = 0;
            break;
        }
        if (zrc == Z_MEM_ERROR)
            abort();
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "invalid gzip data");
            goto out;
        }
        /* Z_BUF_ERROR or a window that is not full: all input was taken in. */
        if (d->zs.avail_out != 0 || zrc == Z_BUF_ERROR)
            break;
    }
out:
    *used = len - d->zs.avail_in;
    d->zs.next_in = NULL;
    d->zs.avail_in = 0;
    return rc;
}

/* Take one byte that follows a finished member; it must begin a new member. */
static enum err
next_member_byte(struct gzip_decoder *d, unsigned char c, char *errbuf, size_t errlen)
{
    size_t used;

    if (c != gzip_magic[d->magic_got])
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "trailing data after gzip stream");
    d->magic_got++;
    if (d->magic_got < sizeof(gzip_magic))
        return ERR_OK;
    if (inflateReset(&d->zs) != Z_OK)
        abort(); /* cannot fail on an initialised stream */
    d->between = 0;
    d->magic_got = 0;
    return inflate_some(d, gzip_magic, sizeof(gzip_magic), &used, errbuf, errlen);
}

enum err
gzip_decoder_feed(struct gzip_decoder *d, const void *data, size_t len, char *errbuf, size_t errlen)
{
    const unsigned char *p = data;
    enum err rc = ERR_OK;
    size_t used;
    size_t n;

    if (d->failed)
        return err_set(d->failed, errbuf, errlen, "%s", d->failmsg);
    d->total_in += len;
    while (len > 0) {
        if (d->between) {
            rc = next_member_byte(d, *p, errbuf, errlen);
            if (rc)
                goto out;
            p++;
            len--;
            continue;
        }
        /* avail_in is a uInt: hand over at most 1 GiB per round */
        n = len > (1u << 30) ? (1u << 30) : len;
        rc = inflate_some(d, p, n, &used, errbuf, errlen);
        if (rc)
            goto out;
        p += used;
        len -= used;
    }
out:
    if (rc)
        return latch(d, rc, errbuf, errlen);
    return ERR_OK;
}

enum err
gzip_decoder_finish(struct gzip_decoder *d, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    if (d->failed)
        return err_set(d->failed, errbuf, errlen, "%s", d->failmsg);
    if (d->total_in == 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "empty gzip stream");
    else if (!d->between || d->magic_got > 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "truncated gzip stream");
    if (rc)
        return latch(d, rc, errbuf, errlen);
    return ERR_OK;
}
