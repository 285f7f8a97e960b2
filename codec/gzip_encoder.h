/*
 * gzip_encoder.h - gzip (RFC 1952) of a buffer in memory
 *
 * Pure: no I/O, no globals. Thread-safe.
 */
#ifndef INGESTD_GZIP_ENCODER_H
#define INGESTD_GZIP_ENCODER_H

#include <stddef.h>

/*
 * One gzip member holding data[0..len) at zlib level `level` (1 fast .. 9
 * small). Returns a malloc'd buffer (the caller frees) and its length in
 * *out_len; aborts only when memory runs out.
 */
char *gzip_encode(const void *data, size_t len, int level, size_t *out_len);

#endif
