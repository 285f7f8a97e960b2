/*
 * orc_rle.c - ORC's run-length encodings: byte RLE, boolean bits, integer RLE v1 and v2 (pure)
 *
 * The integer decoders expand one whole run into r->vals (at most 512
 * values: v2 runs are at most 512 long, v1 runs 130) and hand the values
 * out one by one. Values are computed in uint64_t, so wrapping is defined;
 * they are stored as int64_t. Fixed-width values are read most significant
 * bit first, each group starting on a byte boundary and padded to the next.
 *
 * Thread-safety: one decoder per thread; no globals.
 */
#include "codec/orc_rle.h"

#include <string.h>

/* ---- byte RLE and booleans ---------------------------------------------------------------- */

void
orc_byte_rle_init(struct orc_byte_rle *r, struct orc_stream *in)
{
    memset(r, 0, sizeof(*r));
    r->in = in;
}

enum err
orc_byte_rle_next(struct orc_byte_rle *r, unsigned char *out, char *errbuf, size_t errlen)
{
    enum err rc;

    if (r->left == 0) {
        unsigned char control;

        rc = orc_stream_byte(r->in, &control, errbuf, errlen);
        if (rc)
            return rc;
        r->literal = control >= 0x80;
        r->left = r->literal ? 256u - control : control + 3u;
        if (!r->literal) {
            rc = orc_stream_byte(r->in, &r->value, errbuf, errlen);
            if (rc)
                return rc;
        }
    }
    if (r->literal) {
        rc = orc_stream_byte(r->in, &r->value, errbuf, errlen);
        if (rc)
            return rc;
    }
    r->left--;
    *out = r->value;
    return ERR_OK;
}

void
orc_bool_rle_init(struct orc_bool_rle *r, struct orc_stream *in)
{
    memset(r, 0, sizeof(*r));
    orc_byte_rle_init(&r->bytes, in);
}

enum err
orc_bool_rle_next(struct orc_bool_rle *r, int *out, char *errbuf, size_t errlen)
{
    if (r->bits == 0) {
        enum err rc = orc_byte_rle_next(&r->bytes, &r->cur, errbuf, errlen);

        if (rc)
            return rc;
        r->bits = 8;
    }
    r->bits--;
    *out = (r->cur >> r->bits) & 1;
    return ERR_OK;
}

/* ---- shared pieces of the integer encodings ----------------------------------------------- */

void
orc_int_rle_init(struct orc_int_rle *r, struct orc_stream *in, int v2, int is_signed)
{
    r->in = in;
    r->v2 = v2;
    r->is_signed = is_signed;
    r->n = r->pos = 0;
}

static uint64_t
unzigzag(uint64_t v)
{
    return (v >> 1) ^ (0 - (v & 1));
}

static enum err
bad_run(const struct orc_int_rle *r, const char *detail, char *errbuf, size_t errlen)
{
    return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: malformed integer run (%s)", r->in->what,
                   detail);
}

static enum err
read_varint(struct orc_int_rle *r, uint64_t *out, char *errbuf, size_t errlen)
{
    uint64_t v = 0;
    unsigned shift;

    for (shift = 0; shift < 64; shift += 7) {
        unsigned char b;
        enum err rc = orc_stream_byte(r->in, &b, errbuf, errlen);

        if (rc)
            return rc;
        if (shift == 63 && b > 1)
            break;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return ERR_OK;
        }
    }
    return bad_run(r, "varint over 64 bits", errbuf, errlen);
}

/* n bytes, big endian */
static enum err
read_be(struct orc_int_rle *r, unsigned n, uint64_t *out, char *errbuf, size_t errlen)
{
    uint64_t v = 0;
    unsigned i;

    for (i = 0; i < n; i++) {
        unsigned char b;
        enum err rc = orc_stream_byte(r->in, &b, errbuf, errlen);

        if (rc)
            return rc;
        v = v << 8 | b;
    }
    *out = v;
    return ERR_OK;
}

/* count values of w bits (1..64) into dst, most significant bit first, padded to a byte. */
static enum err
read_packed(struct orc_int_rle *r, unsigned w, size_t count, uint64_t *dst, char *errbuf,
            size_t errlen)
{
    unsigned char cur = 0;
    unsigned have = 0; /* unread bits of cur, the low ones */
    size_t i;

    for (i = 0; i < count; i++) {
        uint64_t v = 0;
        unsigned need = w;

        while (need > 0) {
            unsigned take;

            if (have == 0) {
                enum err rc = orc_stream_byte(r->in, &cur, errbuf, errlen);

                if (rc)
                    return rc;
                have = 8;
            }
            take = need < have ? need : have;
            v = v << take | ((uint64_t)(cur >> (have - take)) & ((1u << take) - 1));
            have -= take;
            need -= take;
        }
        dst[i] = v;
    }
    return ERR_OK;
}

unsigned
orc_rle_width(unsigned code, int delta)
{
    static const unsigned high[8] = {26, 28, 30, 32, 40, 48, 56, 64};

    code &= 31;
    if (delta && code == 0)
        return 0;
    return code <= 23 ? code + 1 : high[code - 24];
}

/* The narrowest width of the table that holds n bits (patch list entries). */
static unsigned
closest_fixed_bits(unsigned n)
{
    static const unsigned widths[] = {26, 28, 30, 32, 40, 48, 56, 64};
    size_t i;

    if (n == 0)
        return 1;
    if (n <= 24)
        return n;
    for (i = 0; i < sizeof(widths) / sizeof(widths[0]) - 1; i++) {
        if (n <= widths[i])
            return widths[i];
    }
    return 64;
}

/* ---- RLE version 1 ------------------------------------------------------------------------ */

static enum err
v1_run(struct orc_int_rle *r, char *errbuf, size_t errlen)
{
    uint64_t *vals = (uint64_t *)r->vals;
    unsigned char control, delta;
    uint64_t v = 0;
    size_t i;
    enum err rc = orc_stream_byte(r->in, &control, errbuf, errlen);

    if (!rc && control < 0x80) {
        r->n = control + 3u;
        rc = orc_stream_byte(r->in, &delta, errbuf, errlen);
        if (!rc)
            rc = read_varint(r, &v, errbuf, errlen);
        if (rc)
            return rc;
        if (r->is_signed)
            v = unzigzag(v);
        for (i = 0; i < r->n; i++)
            vals[i] = v + i * (uint64_t)(int64_t)(signed char)delta;
        return ERR_OK;
    }
    r->n = rc ? 0 : 256u - control;
    for (i = 0; i < r->n && !rc; i++) {
        rc = read_varint(r, &vals[i], errbuf, errlen);
        if (!rc && r->is_signed)
            vals[i] = unzigzag(vals[i]);
    }
    return rc;
}

/* ---- RLE version 2 ------------------------------------------------------------------------ */

static enum err
v2_short_repeat(struct orc_int_rle *r, unsigned char h, char *errbuf, size_t errlen)
{
    uint64_t *vals = (uint64_t *)r->vals;
    uint64_t v;
    size_t i;
    enum err rc = read_be(r, ((h >> 3) & 7) + 1u, &v, errbuf, errlen);

    if (rc)
        return rc;
    if (r->is_signed)
        v = unzigzag(v);
    r->n = (h & 7) + 3u;
    for (i = 0; i < r->n; i++)
        vals[i] = v;
    return ERR_OK;
}

/* The 9-bit length of DIRECT, PATCHED_BASE and DELTA headers: low bit of h, then a byte. */
static enum err
v2_length(struct orc_int_rle *r, unsigned char h, char *errbuf, size_t errlen)
{
    unsigned char low;
    enum err rc = orc_stream_byte(r->in, &low, errbuf, errlen);

    if (!rc)
        r->n = ((size_t)(h & 1) << 8 | low) + 1;
    return rc;
}

static enum err
v2_direct(struct orc_int_rle *r, unsigned char h, char *errbuf, size_t errlen)
{
    uint64_t *vals = (uint64_t *)r->vals;
    size_t i;
    enum err rc = v2_length(r, h, errbuf, errlen);

    if (!rc)
        rc = read_packed(r, orc_rle_width(h >> 1, 0), r->n, vals, errbuf, errlen);
    if (rc || !r->is_signed)
        return rc;
    for (i = 0; i < r->n; i++)
        vals[i] = unzigzag(vals[i]);
    return ERR_OK;
}

/* PATCHED_BASE's patch list: patches[0..count) of gap and patch bits, or'ed in above w bits. */
static enum err
v2_apply_patches(struct orc_int_rle *r, unsigned w, unsigned pgw, unsigned pw, size_t count,
                 char *errbuf, size_t errlen)
{
    uint64_t *vals = (uint64_t *)r->vals;
    uint64_t entries[31];
    uint64_t mask = pw == 64 ? ~(uint64_t)0 : ((uint64_t)1 << pw) - 1;
    size_t i, at = 0;
    enum err rc;

    if (pgw + pw > 64 || w + pw > 64)
        return bad_run(r, "patch wider than 64 bits", errbuf, errlen);
    rc = read_packed(r, closest_fixed_bits(pgw + pw), count, entries, errbuf, errlen);
    for (i = 0; i < count && !rc; i++) {
        uint64_t patch = entries[i] & mask;

        at += (size_t)(pw == 64 ? 0 : entries[i] >> pw);
        if (patch == 0)
            continue; /* a gap of 255 and more is written as (255, 0) entries */
        if (at >= r->n)
            return bad_run(r, "patch past the run", errbuf, errlen);
        vals[at] |= patch << w;
    }
    return rc;
}

static enum err
v2_patched_base(struct orc_int_rle *r, unsigned char h, char *errbuf, size_t errlen)
{
    uint64_t *vals = (uint64_t *)r->vals;
    unsigned char b3 = 0, b4 = 0;
    unsigned w = orc_rle_width(h >> 1, 0), bw;
    uint64_t base, sign;
    size_t i;
    enum err rc = v2_length(r, h, errbuf, errlen);

    if (!rc)
        rc = orc_stream_byte(r->in, &b3, errbuf, errlen);
    if (!rc)
        rc = orc_stream_byte(r->in, &b4, errbuf, errlen);
    bw = (b3 >> 5) + 1u;
    if (!rc)
        rc = read_be(r, bw, &base, errbuf, errlen);
    if (!rc)
        rc = read_packed(r, w, r->n, vals, errbuf, errlen);
    if (!rc)
        rc = v2_apply_patches(r, w, (b4 >> 5) + 1u, orc_rle_width(b3 & 31, 0), b4 & 31u, errbuf,
                              errlen);
    if (rc)
        return rc;
    sign = (uint64_t)1 << (8 * bw - 1);
    if (base & sign)
        base = 0 - (base & ~sign); /* sign and magnitude */
    for (i = 0; i < r->n; i++)
        vals[i] += base;
    return ERR_OK;
}

static enum err
v2_delta(struct orc_int_rle *r, unsigned char h, char *errbuf, size_t errlen)
{
    uint64_t *vals = (uint64_t *)r->vals;
    unsigned w = orc_rle_width(h >> 1, 1);
    uint64_t base = 0, delta = 0;
    size_t i;
    enum err rc = v2_length(r, h, errbuf, errlen);

    if (!rc)
        rc = read_varint(r, &base, errbuf, errlen);
    if (!rc)
        rc = read_varint(r, &delta, errbuf, errlen);
    if (rc)
        return rc;
    vals[0] = r->is_signed ? unzigzag(base) : base;
    delta = unzigzag(delta);
    if (w == 0 || r->n == 1) {
        for (i = 1; i < r->n; i++)
            vals[i] = vals[i - 1] + delta;
        return ERR_OK;
    }
    vals[1] = vals[0] + delta;
    rc = read_packed(r, w, r->n - 2, vals + 2, errbuf, errlen);
    for (i = 2; i < r->n && !rc; i++) {
        /* the sign of the first delta says which way the sequence goes */
        vals[i] = (int64_t)delta < 0 ? vals[i - 1] - vals[i] : vals[i - 1] + vals[i];
    }
    return rc;
}

static enum err
v2_run(struct orc_int_rle *r, char *errbuf, size_t errlen)
{
    unsigned char h;
    enum err rc = orc_stream_byte(r->in, &h, errbuf, errlen);

    if (rc)
        return rc;
    switch (h >> 6) {
    case 0:
        return v2_short_repeat(r, h, errbuf, errlen);
    case 1:
        return v2_direct(r, h, errbuf, errlen);
    case 2:
        return v2_patched_base(r, h, errbuf, errlen);
    default:
        return v2_delta(r, h, errbuf, errlen);
    }
}

enum err
orc_int_rle_next(struct orc_int_rle *r, int64_t *out, char *errbuf, size_t errlen)
{
    if (r->pos == r->n) {
        enum err rc = r->v2 ? v2_run(r, errbuf, errlen) : v1_run(r, errbuf, errlen);

        r->pos = 0;
        if (rc) {
            r->n = 0;
            return rc;
        }
    }
    *out = r->vals[r->pos++];
    return ERR_OK;
}
