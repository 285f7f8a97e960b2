/*
 * thrift_compact.c - a reader of the Thrift compact protocol over one byte range (pure)
 *
 * Wire format (Apache Thrift, doc/specs/thrift-compact-protocol.md):
 * - a field header is one byte ddddtttt: tttt the type, dddd the id delta
 *   from the previous field of the struct (1-15), or 0 and then the id as a
 *   zigzag varint; type 0 is the stop field;
 * - a bool field has its value in the type (1 true, 2 false) and no bytes;
 *   a bool list element is one byte;
 * - i16, i32 and i64 are zigzag ULEB128 varints, i8 one byte, double 8
 *   bytes little endian, uuid 16 bytes;
 * - binary: a varint length and the bytes;
 * - list and set: one byte sssstttt (ssss the count 0-14, or 15 and the
 *   count as a varint), then the elements;
 * - map: a varint count, then (if not 0) one byte kkkkvvvv, then pairs.
 *
 * Invariant: r->p never passes r->end; every read checks first. Skipping
 * recurses through nested values, bounded by THRIFT_MAX_DEPTH.
 */
#include "codec/thrift_compact.h"

#include <string.h>

void
thrift_reader_init(struct thrift_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->end = r->p + len;
    r->depth = 0;
}

size_t
thrift_reader_used(const struct thrift_reader *r, const void *data)
{
    return (size_t)(r->p - (const uint8_t *)data);
}

static enum err
truncated(char *errbuf, size_t errlen)
{
    return err_set(ERR_BAD_INPUT, errbuf, errlen, "truncated thrift data");
}

/* An unsigned LEB128 varint of at most 10 bytes that fits 64 bits. */
static enum err
read_varint(struct thrift_reader *r, uint64_t *v, char *errbuf, size_t errlen)
{
    uint64_t x = 0;
    unsigned shift = 0;

    for (;;) {
        uint8_t b;

        if (r->p == r->end)
            return truncated(errbuf, errlen);
        b = *r->p++;
        if (shift == 63 && (b & 0x7E))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "thrift varint exceeds 64 bits");
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            break;
        shift += 7;
        if (shift > 63)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "thrift varint exceeds 64 bits");
    }
    *v = x;
    return ERR_OK;
}

static int64_t
unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

enum err
thrift_struct_begin(struct thrift_reader *r, char *errbuf, size_t errlen)
{
    if (r->depth >= THRIFT_MAX_DEPTH)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "thrift structs nested deeper than %d",
                       THRIFT_MAX_DEPTH);
    r->depth++;
    return ERR_OK;
}

void
thrift_struct_end(struct thrift_reader *r)
{
    if (r->depth > 0)
        r->depth--;
}

enum err
thrift_read_field(struct thrift_reader *r, int *last_id, struct thrift_field *f, char *errbuf,
                  size_t errlen)
{
    uint64_t u;
    int64_t id;
    uint8_t b;
    enum err rc;

    if (r->p == r->end)
        return truncated(errbuf, errlen);
    b = *r->p++;
    f->type = b & 0x0F;
    f->id = 0;
    if (f->type == THRIFT_STOP)
        return ERR_OK;
    if (f->type > THRIFT_UUID)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "unknown thrift field type %d", f->type);
    if (b >> 4) {
        id = (int64_t)*last_id + (b >> 4);
    } else {
        rc = read_varint(r, &u, errbuf, errlen);
        if (rc)
            return rc;
        id = unzigzag(u);
    }
    if (id < -32768 || id > 32767)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "thrift field id out of range");
    f->id = (int)id;
    *last_id = f->id;
    return ERR_OK;
}

enum err
thrift_read_int(struct thrift_reader *r, int type, int64_t min, int64_t max, int64_t *v,
                char *errbuf, size_t errlen)
{
    uint64_t u;
    int64_t x;
    enum err rc;

    if (type == THRIFT_I8) {
        if (r->p == r->end)
            return truncated(errbuf, errlen);
        x = (int8_t)*r->p++;
    } else if (type == THRIFT_I16 || type == THRIFT_I32 || type == THRIFT_I64) {
        rc = read_varint(r, &u, errbuf, errlen);
        if (rc)
            return rc;
        x = unzigzag(u);
    } else {
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "thrift type %d where an integer belongs",
                       type);
    }
    if (x < min || x > max)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "integer %lld out of range", (long long)x);
    *v = x;
    return ERR_OK;
}

enum err
thrift_read_bool(int type, int *v, char *errbuf, size_t errlen)
{
    if (type != THRIFT_TRUE && type != THRIFT_FALSE)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "thrift type %d where a bool belongs", type);
    *v = type == THRIFT_TRUE;
    return ERR_OK;
}

enum err
thrift_read_binary(struct thrift_reader *r, int type, const uint8_t **p, size_t *len, char *errbuf,
                   size_t errlen)
{
    uint64_t n = 0;
    enum err rc;

    if (type != THRIFT_BINARY)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "thrift type %d where a binary belongs",
                       type);
    rc = read_varint(r, &n, errbuf, errlen);
    if (rc)
        return rc;
    if (n > (uint64_t)(r->end - r->p))
        return truncated(errbuf, errlen);
    *p = r->p;
    *len = (size_t)n;
    r->p += n;
    return ERR_OK;
}

enum err
thrift_read_list(struct thrift_reader *r, int type, int *elem_type, size_t *n, char *errbuf,
                 size_t errlen)
{
    uint64_t count;
    uint8_t b;
    enum err rc;

    if (type != THRIFT_LIST && type != THRIFT_SET)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "thrift type %d where a list belongs", type);
    if (r->p == r->end)
        return truncated(errbuf, errlen);
    b = *r->p++;
    *elem_type = b & 0x0F;
    if (*elem_type == THRIFT_STOP || *elem_type > THRIFT_UUID)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "unknown thrift element type %d", *elem_type);
    count = b >> 4;
    if (count == 15) {
        rc = read_varint(r, &count, errbuf, errlen);
        if (rc)
            return rc;
    }
    /* every element takes at least one byte */
    if (count > (uint64_t)(r->end - r->p))
        return truncated(errbuf, errlen);
    *n = (size_t)count;
    return ERR_OK;
}

enum err
thrift_read_elem_int(struct thrift_reader *r, int elem_type, int64_t min, int64_t max, int64_t *v,
                     char *errbuf, size_t errlen)
{
    if (elem_type == THRIFT_TRUE || elem_type == THRIFT_FALSE) {
        if (r->p == r->end)
            return truncated(errbuf, errlen);
        *v = *r->p++ == 1;
        return ERR_OK;
    }
    return thrift_read_int(r, elem_type, min, max, v, errbuf, errlen);
}

static enum err skip_value(struct thrift_reader *r, int type, int in_list, char *errbuf,
                           size_t errlen);

static enum err
skip_fixed(struct thrift_reader *r, size_t n, char *errbuf, size_t errlen)
{
    if (n > (size_t)(r->end - r->p))
        return truncated(errbuf, errlen);
    r->p += n;
    return ERR_OK;
}

static enum err
skip_struct(struct thrift_reader *r, char *errbuf, size_t errlen)
{
    struct thrift_field f = {0};
    int last = 0;
    enum err rc = thrift_struct_begin(r, errbuf, errlen);

    while (!rc) {
        rc = thrift_read_field(r, &last, &f, errbuf, errlen);
        if (rc || f.type == THRIFT_STOP)
            break;
        rc = skip_value(r, f.type, 0, errbuf, errlen);
    }
    thrift_struct_end(r);
    return rc;
}

static enum err
skip_map(struct thrift_reader *r, char *errbuf, size_t errlen)
{
    uint64_t n, i;
    int kt, vt;
    enum err rc = read_varint(r, &n, errbuf, errlen);

    if (rc || n == 0)
        return rc;
    if (r->p == r->end || n > (uint64_t)(r->end - r->p))
        return truncated(errbuf, errlen);
    kt = *r->p >> 4;
    vt = *r->p & 0x0F;
    r->p++;
    rc = thrift_struct_begin(r, errbuf, errlen); /* nesting, like a struct */
    for (i = 0; i < n && !rc; i++) {
        rc = skip_value(r, kt, 1, errbuf, errlen);
        if (!rc)
            rc = skip_value(r, vt, 1, errbuf, errlen);
    }
    thrift_struct_end(r);
    return rc;
}

static enum err
skip_list(struct thrift_reader *r, int type, char *errbuf, size_t errlen)
{
    size_t n, i;
    int et;
    enum err rc = thrift_read_list(r, type, &et, &n, errbuf, errlen);

    if (rc)
        return rc;
    rc = thrift_struct_begin(r, errbuf, errlen);
    for (i = 0; i < n && !rc; i++)
        rc = skip_value(r, et, 1, errbuf, errlen);
    thrift_struct_end(r);
    return rc;
}

static enum err
skip_value(struct thrift_reader *r, int type, int in_list, char *errbuf, size_t errlen)
{
    const uint8_t *p;
    size_t len;
    int64_t v;

    switch (type) {
    case THRIFT_TRUE:
    case THRIFT_FALSE:
        return in_list ? skip_fixed(r, 1, errbuf, errlen) : ERR_OK;
    case THRIFT_I8:
    case THRIFT_I16:
    case THRIFT_I32:
    case THRIFT_I64:
        return thrift_read_int(r, type, INT64_MIN, INT64_MAX, &v, errbuf, errlen);
    case THRIFT_DOUBLE:
        return skip_fixed(r, 8, errbuf, errlen);
    case THRIFT_UUID:
        return skip_fixed(r, 16, errbuf, errlen);
    case THRIFT_BINARY:
        return thrift_read_binary(r, type, &p, &len, errbuf, errlen);
    case THRIFT_LIST:
    case THRIFT_SET:
        return skip_list(r, type, errbuf, errlen);
    case THRIFT_MAP:
        return skip_map(r, errbuf, errlen);
    case THRIFT_STRUCT:
        return skip_struct(r, errbuf, errlen);
    default:
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "unknown thrift type %d", type);
    }
}

enum err
thrift_skip(struct thrift_reader *r, int type, char *errbuf, size_t errlen)
{
    return skip_value(r, type, 0, errbuf, errlen);
}
