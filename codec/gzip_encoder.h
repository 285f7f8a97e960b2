/*
 * gzip_encoder.h - gzip (RFC 1952) of a buffer in memory
 *
 * Pure: no I/O, no globals. Thread-safe.
 */
#ifndef INGESTD_GZIP_ENCODER_H
#define INGESTD_GZIP_ENCODER_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * One gzip member holding data[0..len) at zlib level `level` (1 fast .. 9
 * small). Returns a malloc'd buffer (the caller frees) and its length in
 * *out_len; aborts only when memory runs out.
 */
char *gzip_encode(const void *data, size_t len, int level, size_t *out_len);

/*
 * Blocks that concatenate into one gzip member. Each block is raw deflate
 * of its bytes from an empty window, ended by Z_FULL_FLUSH (byte aligned,
 * no back-reference into another block), so the same bytes always deflate
 * to the same block wherever they sit, and any sequence of blocks is one
 * valid deflate stream. A member is:
 *   gzip_blocks_header() + blocks + gzip_blocks_trailer(crc, total_len)
 * where crc combines the blocks' CRC-32s in order (gzip_blocks_crc_combine)
 * and total_len is the sum of their input lengths. Not thread-safe: one
 * struct gzip_blocks per thread.
 */
struct gzip_blocks;

/* A deflater for blocks at zlib level `level`; aborts only when memory runs out. */
struct gzip_blocks *gzip_blocks_new(int level);
void gzip_blocks_free(struct gzip_blocks *g); /* NULL-safe */
/* Append the block of data[0..len) to out; *crc = CRC-32 of data. */
void gzip_blocks_deflate(struct gzip_blocks *g, const void *data, size_t len, struct buf *out,
                         uint32_t *crc);
#define GZIP_BLOCKS_HEADER_LEN 10
#define GZIP_BLOCKS_TRAILER_LEN 13

/* The member header, GZIP_BLOCKS_HEADER_LEN bytes (no name, MTIME 0: deterministic bytes). */
void gzip_blocks_header(struct buf *out);
/*
 * The end, GZIP_BLOCKS_TRAILER_LEN bytes: a final empty stored block, CRC-32
 * and ISIZE (total_len mod 2^32).
 */
void gzip_blocks_trailer(struct buf *out, uint32_t crc, uint64_t total_len);
/* CRC-32 of A followed by B, from crc(A), crc(B) and B's length. */
uint32_t gzip_blocks_crc_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b);

#endif
