/*
 * hex.h - lower-case hexadecimal encoding and decoding
 */
#ifndef INGESTD_HEX_H
#define INGESTD_HEX_H

#include <stddef.h>

/* Write 2 * n lower-case hex digits of in[0..n) and a NUL into out (2 * n + 1 bytes). */
void hex_encode(char *out, const unsigned char *in, size_t n);
/*
 * Decode exactly 2 * n hex digits (either case) from in into out[0..n).
 * Returns 0, or -1 when a character is not a hex digit (out is then undefined).
 */
int hex_decode(unsigned char *out, const char *in, size_t n);
/* The value 0..15 of the hex digit c (either case), or -1 when c is not one. */
int hex_value(char c);
/* 1 when c is a hex digit (either case). */
int hex_is_digit(char c);

#endif
