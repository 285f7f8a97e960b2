/*
 * parquet_values.c - Parquet value encodings: PLAIN, dictionary, RLE, DELTA_* (pure)
 *
 * parquet-format Encodings.md. Each decoder walks one byte range that it
 * never reads past, and yields one value per call, so a page is never
 * expanded into an array: memory is the page's bytes (owned by the column
 * reader) plus, for DELTA_BYTE_ARRAY, two value buffers.
 *
 * - RLE / bit-packed hybrid: runs of <varint header> then one value
 *   (RLE) or groups of 8 bit-packed values (LSB first). A last bit-packed
 *   run cut short by the end of the data yields the values that are there.
 * - DELTA_BINARY_PACKED: a header (block size, miniblocks per block, value
 *   count, first value), then blocks of <min delta> <bit widths> <miniblocks>;
 *   arithmetic wraps (uint64_t). Every miniblock that holds a value is
 *   present in full (the spec pads the last one).
 * - DELTA_LENGTH_BYTE_ARRAY: lengths (DELTA_BINARY_PACKED), then the bytes.
 * - DELTA_BYTE_ARRAY: prefix lengths, then suffixes as DELTA_LENGTH_BYTE_ARRAY.
 *
 * Errors carry no context; the column reader prefixes the column and page.
 */
#include "codec/parquet_internal.h"
#include "codec/s3_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Block sizes above this are refused (they keep the products below far from overflow). */
#define MAX_DELTA_BLOCK (1u << 24)

const char *
parquet_encoding_name(int e, char buf[32])
{
    static const char *const names[] = {"PLAIN",
                                        "GROUP_VAR_INT",
                                        "PLAIN_DICTIONARY",
                                        "RLE",
                                        "BIT_PACKED",
                                        "DELTA_BINARY_PACKED",
                                        "DELTA_LENGTH_BYTE_ARRAY",
                                        "DELTA_BYTE_ARRAY",
                                        "RLE_DICTIONARY",
                                        "BYTE_STREAM_SPLIT",
                                        "ALP"};

    if (e >= 0 && e < (int)(sizeof(names) / sizeof(names[0])))
        return names[e];
    snprintf(buf, 32, "encoding %d", e);
    return buf;
}

uint64_t
parquet_read_bits(const uint8_t *p, uint64_t bit, unsigned width)
{
    const uint8_t *b = p + bit / 8;
    unsigned got = 8 - (unsigned)(bit % 8);
    uint64_t v;

    if (width == 0)
        return 0;
    v = (uint64_t)(*b++ >> (bit % 8));
    while (got < width) {
        v |= (uint64_t)*b++ << got;
        got += 8;
    }
    return width < 64 ? v & ((UINT64_C(1) << width) - 1) : v;
}

/* An unsigned LEB128 varint (at most 10 bytes, fitting 64 bits). */
static int
uleb(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    unsigned shift;

    for (shift = 0; shift < 64; shift += 7) {
        if (p == end || (shift == 63 && (*p & 0x7E)))
            return 0;
        x |= (uint64_t)(*p & 0x7F) << shift;
        if (!(*p++ & 0x80)) {
            *pp = p;
            *v = x;
            return 1;
        }
    }
    return 0;
}

static uint64_t
zigzag(uint64_t u)
{
    return (u >> 1) ^ (0 - (u & 1));
}

/* ---- RLE / bit-packed hybrid ----------------------------------------------------------------- */

void
rle_init(struct rle_decoder *d, const uint8_t *p, size_t len, unsigned width)
{
    memset(d, 0, sizeof(*d));
    d->p = p;
    d->end = p + len;
    d->width = width;
}

/* The next run's header and (RLE) value; 0 when malformed or at the end. */
static int
rle_run(struct rle_decoder *d)
{
    uint64_t h, avail, bytes, n, i;

    if (!uleb(&d->p, d->end, &h))
        return 0;
    n = h >> 1;
    avail = (uint64_t)(d->end - d->p);
    if (h & 1) {
        if (n > (UINT64_C(1) << 28)) /* runs hold fewer than 2^31 values */
            return 0;
        bytes = n * d->width;
        n *= 8;
        if (bytes > avail) { /* a last run cut short: the values that are there */
            n = avail * 8 / d->width;
            bytes = avail;
        }
        d->packed = 1;
        d->data = d->p;
        d->bit = 0;
        d->p += bytes;
    } else {
        bytes = (d->width + 7) / 8;
        if (n >= (UINT64_C(1) << 31) || bytes > avail)
            return 0;
        d->value = 0;
        for (i = 0; i < bytes; i++)
            d->value |= (uint64_t)d->p[i] << (8 * i);
        if (d->width < 64 && d->value >> d->width)
            return 0;
        d->packed = 0;
        d->p += bytes;
    }
    d->left = n;
    return 1;
}

int
rle_next(struct rle_decoder *d, uint64_t *v)
{
    while (d->left == 0) {
        if (!rle_run(d))
            return 0;
    }
    if (d->packed) {
        *v = parquet_read_bits(d->data, d->bit, d->width);
        d->bit += d->width;
    } else {
        *v = d->value;
    }
    d->left--;
    return 1;
}

/* ---- DELTA_BINARY_PACKED --------------------------------------------------------------------- */

enum err
delta_init(struct delta_decoder *d, const uint8_t *p, size_t len, uint64_t max_values,
           unsigned max_width, char *errbuf, size_t errlen)
{
    uint64_t block, nmini, total, first;

    memset(d, 0, sizeof(*d));
    d->p = p;
    d->end = p + len;
    if (!uleb(&d->p, d->end, &block) || !uleb(&d->p, d->end, &nmini) ||
        !uleb(&d->p, d->end, &total) || !uleb(&d->p, d->end, &first))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "truncated delta header");
    if (block == 0 || block % 128 || block > MAX_DELTA_BLOCK || nmini == 0 || block % nmini ||
        (block / nmini) % 32)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "delta blocks of %llu values in %llu miniblocks", (unsigned long long)block,
                       (unsigned long long)nmini);
    if (total > max_values)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%llu delta values in a page of %llu",
                       (unsigned long long)total, (unsigned long long)max_values);
    d->per_mini = block / nmini;
    d->nmini = nmini;
    d->mini = nmini; /* a block header is due */
    d->left = total;
    d->last = zigzag(first);
    d->max_width = max_width;
    return ERR_OK;
}

/* Move to the next miniblock (reading a block header when one is due). */
static enum err
delta_miniblock(struct delta_decoder *d, char *errbuf, size_t errlen)
{
    uint64_t bytes, md;

    if (d->mdata)
        d->mini++;
    if (d->mini >= d->nmini) {
        if (!uleb(&d->p, d->end, &md) || d->nmini > (uint64_t)(d->end - d->p))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "truncated delta block header");
        d->min_delta = zigzag(md);
        d->widths = d->p;
        d->p += d->nmini;
        d->mini = 0;
    }
    d->mwidth = d->widths[d->mini];
    if (d->mwidth > d->max_width)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "delta bit width %u", d->mwidth);
    bytes = d->per_mini * d->mwidth / 8;
    if (bytes > (uint64_t)(d->end - d->p))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "truncated delta miniblock");
    d->mdata = d->p;
    d->p += bytes;
    d->mpos = 0;
    return ERR_OK;
}

enum err
delta_next(struct delta_decoder *d, int64_t *v, char *errbuf, size_t errlen)
{
    enum err rc;

    if (d->left == 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "fewer delta values than the page needs");
    if (d->started) {
        if (!d->mdata || d->mpos == d->per_mini) {
            rc = delta_miniblock(d, errbuf, errlen);
            if (rc)
                return rc;
        }
        d->last += d->min_delta + parquet_read_bits(d->mdata, d->mpos * d->mwidth, d->mwidth);
        d->mpos++;
    }
    d->started = 1;
    d->left--;
    *v = (int64_t)d->last;
    return ERR_OK;
}

enum err
delta_end(const struct delta_decoder *d, const uint8_t **end, char *errbuf, size_t errlen)
{
    struct delta_decoder c = *d;
    uint64_t deltas = c.left ? c.left - 1 : 0;
    enum err rc;

    while (deltas > 0) {
        rc = delta_miniblock(&c, errbuf, errlen);
        if (rc)
            return rc;
        c.mpos = deltas < c.per_mini ? deltas : c.per_mini;
        deltas -= c.mpos;
    }
    *end = c.p;
    return ERR_OK;
}

/* ---- PLAIN and dictionaries ------------------------------------------------------------------ */

static uint64_t
le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    unsigned i;

    for (i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Bytes one PLAIN value of col takes at least (BOOLEAN: 0, it takes a bit). */
static size_t
plain_size(const struct parquet_column *col)
{
    static const size_t sizes[] = {0, 4, 8, 12, 4, 8, 4, 0};

    return col->type == PARQUET_FIXED_LEN_BYTE_ARRAY ? (size_t)col->type_length : sizes[col->type];
}

static enum err
truncated(char *errbuf, size_t errlen)
{
    return err_set(ERR_BAD_INPUT, errbuf, errlen, "truncated values");
}

/* One PLAIN value from *pp (booleans: bit *bit at *pp). */
static enum err
plain_next(const uint8_t **pp, const uint8_t *end, uint64_t *bit, const struct parquet_column *col,
           size_t max_value_bytes, struct parquet_value *v, char *errbuf, size_t errlen)
{
    size_t avail = (size_t)(end - *pp), n = plain_size(col);

    memset(v, 0, sizeof(*v));
    if (col->type == PARQUET_BOOLEAN) {
        if (*bit / 8 >= avail)
            return truncated(errbuf, errlen);
        v->i64 = ((*pp)[*bit / 8] >> (*bit % 8)) & 1;
        (*bit)++;
        return ERR_OK;
    }
    if (col->type == PARQUET_BYTE_ARRAY) {
        if (avail < 4)
            return truncated(errbuf, errlen);
        n = (size_t)le(*pp, 4);
        *pp += 4;
        avail -= 4;
        if (n > max_value_bytes)
            return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                           "a value of %zu bytes exceeds the cap of %zu bytes", n, max_value_bytes);
    }
    if (n > avail)
        return truncated(errbuf, errlen);
    if (col->type == PARQUET_INT32)
        v->i64 = (int32_t)(uint32_t)le(*pp, 4);
    else if (col->type == PARQUET_FLOAT)
        v->i64 = (int64_t)le(*pp, 4);
    else if (col->type == PARQUET_INT64 || col->type == PARQUET_DOUBLE)
        v->i64 = (int64_t)le(*pp, 8);
    else {
        v->bytes = *pp;
        v->len = n;
    }
    *pp += n;
    return ERR_OK;
}

enum err
dict_load(struct parquet_dict *dict, const struct parquet_column *col, size_t max_value_bytes,
          const uint8_t *p, size_t len, uint64_t n, char *errbuf, size_t errlen)
{
    const uint8_t *end = p + len;
    size_t min = plain_size(col), i;
    uint64_t bit = 0;
    enum err rc = ERR_OK;

    if (col->type == PARQUET_BYTE_ARRAY)
        min = 4;
    if (col->type == PARQUET_BOOLEAN ? n / 8 > len : n > len / min)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "a dictionary of %llu values in %zu bytes",
                       (unsigned long long)n, len);
    dict->v = xcalloc(n ? (size_t)n : 1, sizeof(*dict->v));
    dict->n = (size_t)n;
    for (i = 0; i < dict->n && !rc; i++)
        rc = plain_next(&p, end, &bit, col, max_value_bytes, &dict->v[i], errbuf, errlen);
    return rc;
}

void
dict_release(struct parquet_dict *dict)
{
    free(dict->v);
    dict->v = NULL;
    dict->n = 0;
}

/* ---- a page's values ------------------------------------------------------------------------- */

void
values_init(struct value_decoder *d)
{
    memset(d, 0, sizeof(*d));
    buf_init(&d->prev, 0);
    buf_init(&d->cur, 0);
}

void
values_release(struct value_decoder *d)
{
    buf_release(&d->prev);
    buf_release(&d->cur);
}

static enum err
not_for_type(int encoding, const struct parquet_column *col, char *errbuf, size_t errlen)
{
    static const char *const types[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                                        "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    char name[32];

    return err_set(ERR_UNSUPPORTED, errbuf, errlen, "encoding %s for %s is not supported",
                   parquet_encoding_name(encoding, name), types[col->type]);
}

/* DELTA_LENGTH_BYTE_ARRAY (and a DELTA_BYTE_ARRAY's suffixes) at p[0..len): lengths, then data. */
static enum err
start_lengths(struct value_decoder *d, struct delta_decoder *lengths, const uint8_t *p, size_t len,
              uint64_t max_values, char *errbuf, size_t errlen)
{
    enum err rc = delta_init(lengths, p, len, max_values, 32, errbuf, errlen);

    if (!rc)
        rc = delta_end(lengths, &d->p, errbuf, errlen);
    d->end = p + len;
    return rc;
}

enum err
values_start(struct value_decoder *d, int encoding, const struct parquet_column *col,
             size_t max_value_bytes, const uint8_t *p, size_t len, uint64_t max_values,
             const struct parquet_dict *dict, char *errbuf, size_t errlen)
{
    const uint8_t *suffixes;
    char name[32];
    enum err rc;

    d->encoding = encoding == PQ_PLAIN_DICTIONARY ? PQ_RLE_DICTIONARY : encoding;
    d->col = col;
    d->max_value_bytes = max_value_bytes;
    d->p = p;
    d->end = p + len;
    d->bool_bit = 0;
    d->dict = dict;
    buf_reset(&d->prev);
    switch (d->encoding) {
    case PQ_PLAIN:
        return ERR_OK;
    case PQ_RLE_DICTIONARY:
        if (!dict)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "dictionary indices without a dictionary");
        if (len > 0 && p[0] > 32)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "dictionary index width %u", p[0]);
        rle_init(&d->rle, len ? p + 1 : p, len ? len - 1 : 0, len ? p[0] : 0);
        return ERR_OK;
    case PQ_RLE:
        if (col->type != PARQUET_BOOLEAN)
            return not_for_type(encoding, col, errbuf, errlen);
        if (len < 4 || le(p, 4) > len - 4)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "bad length of RLE booleans");
        rle_init(&d->rle, p + 4, (size_t)le(p, 4), 1);
        return ERR_OK;
    case PQ_DELTA_BINARY_PACKED:
        if (col->type != PARQUET_INT32 && col->type != PARQUET_INT64)
            return not_for_type(encoding, col, errbuf, errlen);
        return delta_init(&d->delta, p, len, max_values, col->type == PARQUET_INT32 ? 32 : 64,
                          errbuf, errlen);
    case PQ_DELTA_LENGTH_BYTE_ARRAY:
        if (col->type != PARQUET_BYTE_ARRAY)
            return not_for_type(encoding, col, errbuf, errlen);
        return start_lengths(d, &d->delta, p, len, max_values, errbuf, errlen);
    case PQ_DELTA_BYTE_ARRAY:
        if (col->type != PARQUET_BYTE_ARRAY && col->type != PARQUET_FIXED_LEN_BYTE_ARRAY)
            return not_for_type(encoding, col, errbuf, errlen);
        rc = delta_init(&d->delta, p, len, max_values, 32, errbuf, errlen);
        if (!rc)
            rc = delta_end(&d->delta, &suffixes, errbuf, errlen);
        if (!rc)
            rc = start_lengths(d, &d->suffixes, suffixes, (size_t)(d->end - suffixes), max_values,
                               errbuf, errlen);
        return rc;
    }
    return err_set(ERR_UNSUPPORTED, errbuf, errlen, "encoding %s is not supported",
                   parquet_encoding_name(encoding, name));
}

/* The next n bytes of a DELTA_LENGTH_BYTE_ARRAY's data. */
static enum err
take_bytes(struct value_decoder *d, int64_t n, const uint8_t **bytes, char *errbuf, size_t errlen)
{
    if (n < 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "negative value length");
    if ((uint64_t)n > d->max_value_bytes)
        return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                       "a value of %lld bytes exceeds the cap of %zu bytes", (long long)n,
                       d->max_value_bytes);
    if ((uint64_t)n > (uint64_t)(d->end - d->p))
        return truncated(errbuf, errlen);
    *bytes = d->p;
    d->p += n;
    return ERR_OK;
}

/* DELTA_BYTE_ARRAY: the previous value's prefix and a suffix. */
static enum err
next_delta_string(struct value_decoder *d, struct parquet_value *v, char *errbuf, size_t errlen)
{
    const uint8_t *suffix = NULL;
    int64_t prefix, n;
    struct buf t;
    enum err rc = delta_next(&d->delta, &prefix, errbuf, errlen);

    if (!rc)
        rc = delta_next(&d->suffixes, &n, errbuf, errlen);
    if (!rc && (prefix < 0 || (uint64_t)prefix > d->prev.len))
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "prefix longer than the previous value");
    if (!rc)
        rc = take_bytes(d, n, &suffix, errbuf, errlen);
    if (!rc && (uint64_t)prefix + (uint64_t)n > d->max_value_bytes)
        rc = err_set(ERR_UNSUPPORTED, errbuf, errlen, "a value exceeds the cap of %zu bytes",
                     d->max_value_bytes);
    if (rc)
        return rc;
    buf_reset(&d->cur);
    if (prefix > 0)
        buf_append(&d->cur, d->prev.data, (size_t)prefix);
    if (n > 0)
        buf_append(&d->cur, suffix, (size_t)n);
    t = d->prev;
    d->prev = d->cur;
    d->cur = t;
    v->bytes = (const uint8_t *)d->prev.data;
    v->len = d->prev.len;
    return ERR_OK;
}

enum err
values_next(struct value_decoder *d, struct parquet_value *v, char *errbuf, size_t errlen)
{
    uint64_t u;
    int64_t n;
    enum err rc;

    memset(v, 0, sizeof(*v));
    switch (d->encoding) {
    case PQ_PLAIN:
        return plain_next(&d->p, d->end, &d->bool_bit, d->col, d->max_value_bytes, v, errbuf,
                          errlen);
    case PQ_RLE_DICTIONARY:
        if (!rle_next(&d->rle, &u))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "malformed dictionary indices");
        if (u >= d->dict->n)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "dictionary index %llu of a dictionary of %zu", (unsigned long long)u,
                           d->dict->n);
        *v = d->dict->v[u];
        return ERR_OK;
    case PQ_RLE:
        if (!rle_next(&d->rle, &u))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "malformed RLE booleans");
        v->i64 = (int64_t)u;
        return ERR_OK;
    case PQ_DELTA_BINARY_PACKED:
        rc = delta_next(&d->delta, &v->i64, errbuf, errlen);
        if (d->col->type == PARQUET_INT32)
            v->i64 = (int32_t)(uint32_t)(uint64_t)v->i64;
        return rc;
    case PQ_DELTA_LENGTH_BYTE_ARRAY:
        rc = delta_next(&d->delta, &n, errbuf, errlen);
        if (!rc)
            rc = take_bytes(d, n, &v->bytes, errbuf, errlen);
        v->len = rc ? 0 : (size_t)n;
        return rc;
    default:
        return next_delta_string(d, v, errbuf, errlen);
    }
}

/* ---- times ----------------------------------------------------------------------------------- */

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return a % b < 0 ? q - 1 : q;
}

int
parquet_value_time_ms(const struct parquet_column *c, const struct parquet_value *v, int64_t *ms)
{
    static const int64_t per_ms[] = {0, 1, 1000, 1000000};
    const int64_t day_ns = INT64_C(86400000000000);
    int64_t t, nanos, days;

    if (v->is_null)
        return 0;
    if (c->type == PARQUET_INT96 && v->bytes && v->len == 12) {
        /* nanoseconds of the day, then the Julian day (2440588 is 1970-01-01) */
        nanos = (int64_t)le(v->bytes, 8);
        days = (int64_t)(int32_t)(uint32_t)le(v->bytes + 8, 4) - 2440588;
        if (nanos < 0 || nanos >= day_ns || days < S3_TIME_MIN_S / 86400 - 1 ||
            days > S3_TIME_MAX_S / 86400 + 1)
            return 0;
        t = days * 86400000 + nanos / 1000000;
    } else if (c->type == PARQUET_INT64 && c->time_unit != PARQUET_TIME_NONE) {
        t = floor_div(v->i64, per_ms[c->time_unit]);
    } else {
        return 0;
    }
    if (t < S3_TIME_MIN_S * 1000 || t >= S3_TIME_MAX_S * 1000)
        return 0;
    *ms = t;
    return 1;
}
