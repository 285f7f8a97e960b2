/*
 * orc_rle.h - ORC's run-length encodings: byte RLE, boolean bits, integer RLE v1 and v2 (pure)
 *
 * Internal to the ORC reader (codec/orc*.c). Each decoder pulls bytes from
 * a struct orc_stream (borrowed) and hands out one value per call, holding
 * at most one run (512 values) at a time:
 *
 *   byte RLE    control 0..127: a run of control + 3 copies of the next
 *               byte; 128..255: 256 - control literal bytes.
 *   booleans    byte RLE bytes, 8 values each, most significant bit first.
 *   int RLE v1  control 0..127: a run of control + 3 values, a signed delta
 *               byte, the first value as a varint; 128..255: 256 - control
 *               literal varints.
 *   int RLE v2  SHORT_REPEAT, DIRECT, PATCHED_BASE and DELTA (ORCv1
 *               specification, "Integer Run Length Encoding, version 2").
 *
 * Signed streams zigzag-decode their varints and fixed-width values
 * (PATCHED_BASE's base is sign-magnitude instead). Unsigned values above
 * INT64_MAX come out negative (two's complement): callers range-check.
 * Arithmetic wraps (unsigned) rather than overflows. A malformed run
 * (bad width code, patch past the run, a varint over 64 bits) is
 * ERR_BAD_INPUT naming the stream's `what`; the end of the stream is
 * "<what>: ends early".
 */
#ifndef INGESTD_ORC_RLE_H
#define INGESTD_ORC_RLE_H

#include <stddef.h>
#include <stdint.h>

#include "codec/orc_stream.h"
#include "core/err.h"

#define ORC_RLE_MAX_RUN 512

struct orc_byte_rle {
    struct orc_stream *in;
    unsigned left; /* values left in the current run or literal group */
    int literal;   /* the group is literal bytes (else a run of `value`) */
    unsigned char value;
};

struct orc_bool_rle {
    struct orc_byte_rle bytes;
    unsigned char cur; /* the current byte's unread bits, most significant first */
    unsigned bits;     /* unread bits in cur */
};

struct orc_int_rle {
    struct orc_stream *in;
    int v2;        /* RLE version 2, else version 1 */
    int is_signed; /* zigzag */
    int64_t vals[ORC_RLE_MAX_RUN];
    size_t n;   /* values of the current run in vals */
    size_t pos; /* next of them */
};

void orc_byte_rle_init(struct orc_byte_rle *r, struct orc_stream *in);
enum err orc_byte_rle_next(struct orc_byte_rle *r, unsigned char *out, char *errbuf, size_t errlen);

void orc_bool_rle_init(struct orc_bool_rle *r, struct orc_stream *in);
enum err orc_bool_rle_next(struct orc_bool_rle *r, int *out, char *errbuf, size_t errlen);

void orc_int_rle_init(struct orc_int_rle *r, struct orc_stream *in, int v2, int is_signed);
enum err orc_int_rle_next(struct orc_int_rle *r, int64_t *out, char *errbuf, size_t errlen);

/*
 * RLE v2's 5-bit width code to bits: 0..23 -> 1..24 (0 -> 0 for DELTA),
 * 24 -> 26, 25 -> 28, 26 -> 30, 27 -> 32, 28 -> 40, 29 -> 48, 30 -> 56, 31 -> 64.
 */
unsigned orc_rle_width(unsigned code, int delta);

#endif
