/*
 * protobuf_wire.h - a small reader of the Protocol Buffers wire format (pure)
 *
 * Enough of the wire format to read ORC's metadata messages without
 * generated code: a cursor over one serialized message, its fields one at a
 * time (field number, wire type, and a varint value or a byte slice), and
 * packed repeated varints. Wire types: 0 varint, 1 fixed 64-bit, 2
 * length-delimited, 5 fixed 32-bit; the deprecated groups (3, 4) and the
 * unassigned 6 and 7 are malformed. A varint has at most 10 bytes.
 *
 * Nothing is allocated or copied: slices point into the caller's bytes,
 * which must outlive them. Every function returns 1 on success and 0 when
 * the input is malformed or truncated; the caller names the message in its
 * error. Thread-safety: a cursor has one owner; no globals.
 */
#ifndef INGESTD_PROTOBUF_WIRE_H
#define INGESTD_PROTOBUF_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum pb_wire {
    PB_VARINT = 0,
    PB_FIXED64 = 1,
    PB_BYTES = 2,
    PB_FIXED32 = 5,
};

/* A cursor over the bytes [p, end). */
struct pb_reader {
    const unsigned char *p;
    const unsigned char *end;
};

/* One field: its number and wire type, then the varint (fixed values too) or the slice. */
struct pb_field {
    uint32_t number;
    enum pb_wire wire;
    uint64_t value;             /* PB_VARINT, PB_FIXED64, PB_FIXED32 */
    const unsigned char *bytes; /* PB_BYTES */
    size_t len;                 /* PB_BYTES */
};

void pb_reader_init(struct pb_reader *r, const void *data, size_t len);

/* 1 while bytes are left. */
int pb_more(const struct pb_reader *r);

/* A base-128 varint (at most 10 bytes, the last one at most 1 in the 10th). */
int pb_varint(struct pb_reader *r, uint64_t *out);

/* The next field; its value is consumed (a slice is skipped over, not read). */
int pb_next(struct pb_reader *r, struct pb_field *f);

/* Zigzag-decode (sint32 / sint64). */
int64_t pb_zigzag(uint64_t v);

/*
 * Repeated varints: a packed field (PB_BYTES, every varint of the slice) or
 * one unpacked element (PB_VARINT). Calls fn(ctx, value) for each; fn
 * returns 0 to stop, which makes this return 0 as well.
 */
int pb_each_varint(const struct pb_field *f, int (*fn)(void *ctx, uint64_t v), void *ctx);

#endif
