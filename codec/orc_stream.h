/*
 * orc_stream.h - ORC compression chunks: one stream's bytes, decompressed as read (pure)
 *
 * Internal to the ORC reader (codec/orc*.c); codec/orc.h is the public API.
 *
 * With generic compression every ORC stream (and the footer, the stripe
 * footer) is a sequence of chunks, each behind a 3-byte little-endian header
 * holding compressedLength * 2 + isOriginal: an original chunk is the bytes
 * themselves, any other is one ZLIB (raw deflate), SNAPPY or ZSTD block. A
 * chunk never expands past the file's compression block size, which is
 * checked (ERR_BAD_INPUT), so one buffer of at most a block per stream is
 * all the memory a stream needs. Without compression (ORC_NONE) the stream is its
 * bytes. LZO and LZ4 are ERR_UNSUPPORTED.
 *
 * struct orc_stream is embedded by its owner: orc_stream_init() /
 * orc_stream_release(). It borrows the source bytes, which must outlive it.
 * Errors name the stream by the `what` string given at init (borrowed too),
 * e.g. "field key: DATA stream: truncated compression chunk".
 */
#ifndef INGESTD_ORC_STREAM_H
#define INGESTD_ORC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* PostScript.compression */
enum orc_compression {
    ORC_COMPRESSION_NONE = 0,
    ORC_COMPRESSION_ZLIB = 1,
    ORC_COMPRESSION_SNAPPY = 2,
    ORC_COMPRESSION_LZO = 3,
    ORC_COMPRESSION_LZ4 = 4,
    ORC_COMPRESSION_ZSTD = 5,
};

/* The largest compression block size accepted (the default is 256 KiB). */
#define ORC_MAX_BLOCK_BYTES (4 * 1024 * 1024)

struct orc_stream {
    const unsigned char *src; /* the stream's stored bytes */
    size_t len;
    size_t pos;                /* next chunk header in src */
    enum orc_compression kind; /* NONE, ZLIB, SNAPPY or ZSTD */
    size_t block;              /* compression block size */
    const unsigned char *cur;  /* the current chunk's decompressed bytes */
    size_t cur_len;
    size_t cur_pos;
    unsigned char *out; /* owned, out_size (<= block) bytes, grown as compressed chunks need */
    size_t out_size;
    void *zlib; /* owned z_stream, or NULL */
    void *zstd; /* owned ZSTD_DCtx, or NULL */
    const char *what;
};

/* ERR_UNSUPPORTED naming the kind unless it is NONE, ZLIB, SNAPPY or ZSTD. */
enum err orc_compression_check(uint64_t kind, char *errbuf, size_t errlen);

/* kind must have passed orc_compression_check(); block is at most ORC_MAX_BLOCK_BYTES. */
void orc_stream_init(struct orc_stream *s, enum orc_compression kind, size_t block, const void *src,
                     size_t len, const char *what);
void orc_stream_release(struct orc_stream *s); /* NULL-safe */

/* The next byte; ERR_BAD_INPUT "<what>: ends early" past the end. */
enum err orc_stream_byte(struct orc_stream *s, unsigned char *out, char *errbuf, size_t errlen);

/* The next n bytes into dst (across chunks). */
enum err orc_stream_read(struct orc_stream *s, void *dst, size_t n, char *errbuf, size_t errlen);

/*
 * The whole stream src[0..len) decompressed, appended to out; more than cap
 * bytes in all is ERR_TOO_LARGE (checked chunk by chunk, before appending).
 */
enum err orc_decompress_all(enum orc_compression kind, size_t block, const void *src, size_t len,
                            size_t cap, struct buf *out, const char *what, char *errbuf,
                            size_t errlen);

#endif
