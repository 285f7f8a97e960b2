/*
 * gzip_decoder.h - streaming gzip (RFC 1952) decoder on ISA-L (pure)
 *
 * Input arrives in chunks of any size; decoded bytes go to a sink callback.
 * Multi-member streams (concatenated gzip members) decode as one. Trailing
 * bytes that are not a gzip member, a bad header or CRC, and input that ends
 * inside a member (truncation) are ERR_BAD_INPUT. Output beyond
 * max_out_bytes is ERR_TOO_LARGE, detected before the sink sees the excess
 * (decompression bombs stop at the cap, never allocate past it). Input is
 * decoded in slices of 64 KiB counted from its first byte, so the sink's
 * bytes and the outcome do not depend on how it is chunked; an error in a
 * slice is returned by the feed that completes it, or by finish. Input
 * that does not begin as gzip fails at the feed that brings it.
 * Thread-safety: one decoder per thread.
 */
#ifndef INGESTD_GZIP_DECODER_H
#define INGESTD_GZIP_DECODER_H

#include <stddef.h>

#include "core/buf.h"

/* Decoded bytes go to a byte_sink_fn (core/buf.h); its error stops decoding and is returned. */
struct gzip_decoder;

/* Never NULL (aborts on allocation failure). max_out_bytes 0 = unlimited. */
struct gzip_decoder *gzip_decoder_new(size_t max_out_bytes, byte_sink_fn sink, void *ctx);
enum err gzip_decoder_feed(struct gzip_decoder *d, const void *data, size_t len, char *errbuf,
                           size_t errlen);
/* End of input: ERR_BAD_INPUT if no complete member was seen or a member is cut. */
enum err gzip_decoder_finish(struct gzip_decoder *d, char *errbuf, size_t errlen);
/* Decoded bytes so far. */
size_t gzip_decoder_total_out(const struct gzip_decoder *d);
void gzip_decoder_free(struct gzip_decoder *d);

#endif
