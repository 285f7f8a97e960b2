/*
 * protobuf_wire.c - a small reader of the Protocol Buffers wire format (pure)
 *
 * Invariant: r->p <= r->end always; a failed call may have moved r->p but
 * never past r->end, and the caller gives up on the message then.
 */
#include "codec/protobuf_wire.h"

void
pb_reader_init(struct pb_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->end = len ? r->p + len : r->p; /* no offset on a NULL pointer */
}

int
pb_more(const struct pb_reader *r)
{
    return r->p < r->end;
}

int
pb_varint(struct pb_reader *r, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift;

    for (shift = 0; shift < 70; shift += 7) {
        unsigned char b;

        if (r->p >= r->end)
            return 0;
        b = *r->p++;
        if (shift == 63 && b > 1)
            return 0; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

static int
fixed(struct pb_reader *r, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if ((size_t)(r->end - r->p) < n)
        return 0;
    for (i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    *out = v;
    return 1;
}

int
pb_next(struct pb_reader *r, struct pb_field *f)
{
    uint64_t key, len;

    f->bytes = NULL;
    f->len = 0;
    f->value = 0;
    if (!pb_varint(r, &key) || key >> 3 == 0 || key >> 3 > 0x1FFFFFFF)
        return 0;
    f->number = (uint32_t)(key >> 3);
    f->wire = (enum pb_wire)(key & 7);
    switch (key & 7) {
    case PB_VARINT:
        return pb_varint(r, &f->value);
    case PB_FIXED64:
        return fixed(r, 8, &f->value);
    case PB_FIXED32:
        return fixed(r, 4, &f->value);
    case PB_BYTES:
        if (!pb_varint(r, &len) || len > (uint64_t)(r->end - r->p))
            return 0;
        f->bytes = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    default:
        return 0; /* groups (3, 4) and the unassigned 6, 7 */
    }
}

int64_t
pb_zigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

int
pb_each_varint(const struct pb_field *f, int (*fn)(void *ctx, uint64_t v), void *ctx)
{
    struct pb_reader r;
    uint64_t v;

    if (f->wire == PB_VARINT)
        return fn(ctx, f->value);
    if (f->wire != PB_BYTES)
        return 0;
    pb_reader_init(&r, f->bytes, f->len);
    while (pb_more(&r)) {
        if (!pb_varint(&r, &v) || !fn(ctx, v))
            return 0;
    }
    return 1;
}
