/*
 * parquet_page.c - a Parquet column chunk's pages, decoded value by value (pure)
 *
 * A column chunk is a sequence of pages, each a Thrift PageHeader and a body:
 * at most one dictionary page (first), then data pages v1 (levels and values,
 * compressed together) or v2 (levels uncompressed, then the values,
 * compressed unless is_compressed is false); index pages and unknown page
 * types are skipped. The reader keeps one data page at a time: its body is
 * decompressed into page_buf (or used in place when UNCOMPRESSED), its
 * definition levels and values are decoded as values are asked for.
 *
 * Only flat columns get here (parquet_meta.c): no repetition levels, and
 * definition levels only for OPTIONAL columns (max level 1).
 *
 * Caps: a page's compressed and uncompressed sizes are checked against
 * max_page_bytes before anything is allocated; a page may not hold more
 * values than the chunk has left. The decompressed size must be exactly the
 * header's. The first error is sticky, with the column, row group and page.
 */
#define ZLIB_CONST
#include "codec/parquet_internal.h"
#include "codec/thrift_compact.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

enum page_type { PAGE_DATA = 0, PAGE_INDEX = 1, PAGE_DICTIONARY = 2, PAGE_DATA_V2 = 3 };

/* A PageHeader; the sub-headers' fields by Thrift id (ints and bools alike). */
struct page_header {
    int64_t type, uncompressed, compressed;
    unsigned seen;     /* PageHeader fields present */
    int64_t data[5];   /* DataPageHeader: 1 num_values, 2 encoding, 3 def, 4 rep encoding */
    int64_t dict[4];   /* DictionaryPageHeader: 1 num_values, 2 encoding, 3 is_sorted */
    int64_t v2[8];     /* DataPageHeaderV2: 1 num_values, 2 num_nulls, 3 num_rows, 4 encoding,
                          5 def bytes, 6 rep bytes, 7 is_compressed */
    unsigned sub_seen; /* fields present in the sub-header of the page's type */
};

struct parquet_column_reader {
    const struct parquet_meta *m;
    const struct parquet_column *col;
    const struct parquet_chunk *chunk;
    size_t rg;
    const uint8_t *p, *end; /* the pages not yet read */
    int64_t values_left;    /* in the chunk */
    int64_t page_left;      /* in the current data page */
    size_t pages;           /* pages read */
    int seen_data;

    int levels;             /* the current page's definition levels: LEVELS_* */
    struct rle_decoder def; /* RLE / bit-packed hybrid */
    const uint8_t *legacy;  /* BIT_PACKED */
    uint64_t legacy_bit;
    struct value_decoder values;

    struct parquet_dict dict;
    int has_dict;
    uint8_t *dict_buf;
    size_t dict_alloc;
    uint8_t *page_buf;
    size_t page_alloc;
    ZSTD_DCtx *zstd;

    enum err rc; /* first error, sticky */
    char msg[ERRBUF_SIZE];
};

enum { LEVELS_NONE, LEVELS_RLE, LEVELS_BIT_PACKED };

/* ---- page headers ---------------------------------------------------------------------------- */

/* A struct of int (or bool) fields 1..n into slots[1..n]; other fields are skipped. */
static enum err
read_int_struct(struct thrift_reader *r, int64_t *slots, int n, unsigned *seen, char *errbuf,
                size_t errlen)
{
    struct thrift_field f = {0};
    int last = 0, b;
    enum err rc = thrift_struct_begin(r, errbuf, errlen);

    while (!rc) {
        rc = thrift_read_field(r, &last, &f, errbuf, errlen);
        if (rc || f.type == THRIFT_STOP)
            break;
        if (f.id < 1 || f.id > n) {
            rc = thrift_skip(r, f.type, errbuf, errlen);
            continue;
        }
        if (f.type == THRIFT_TRUE || f.type == THRIFT_FALSE) {
            rc = thrift_read_bool(f.type, &b, errbuf, errlen);
            slots[f.id] = b;
        } else if (f.type >= THRIFT_I8 && f.type <= THRIFT_I64) {
            rc = thrift_read_int(r, f.type, INT32_MIN, INT32_MAX, &slots[f.id], errbuf, errlen);
        } else {
            rc = thrift_skip(r, f.type, errbuf, errlen);
            continue;
        }
        *seen |= 1u << f.id;
    }
    thrift_struct_end(r);
    return rc;
}

static enum err
read_header_field(struct thrift_reader *r, const struct thrift_field *f, struct page_header *h,
                  char *errbuf, size_t errlen)
{
    switch (f->id) {
    case 1:
        return thrift_read_int(r, f->type, 0, INT32_MAX, &h->type, errbuf, errlen);
    case 2:
        return thrift_read_int(r, f->type, INT32_MIN, INT32_MAX, &h->uncompressed, errbuf, errlen);
    case 3:
        return thrift_read_int(r, f->type, INT32_MIN, INT32_MAX, &h->compressed, errbuf, errlen);
    case 5:
        if (f->type == THRIFT_STRUCT && h->type == PAGE_DATA)
            return read_int_struct(r, h->data, 4, &h->sub_seen, errbuf, errlen);
        break;
    case 7:
        if (f->type == THRIFT_STRUCT && h->type == PAGE_DICTIONARY)
            return read_int_struct(r, h->dict, 3, &h->sub_seen, errbuf, errlen);
        break;
    case 8:
        if (f->type == THRIFT_STRUCT && h->type == PAGE_DATA_V2)
            return read_int_struct(r, h->v2, 7, &h->sub_seen, errbuf, errlen);
        break;
    }
    return thrift_skip(r, f->type, errbuf, errlen);
}

/* A PageHeader at p[0..len) (its type comes first, as writers put it); *used its length. */
static enum err
read_page_header(const uint8_t *p, size_t len, struct page_header *h, size_t *used, char *errbuf,
                 size_t errlen)
{
    struct thrift_reader r;
    struct thrift_field f = {0};
    int last = 0;
    enum err rc;

    memset(h, 0, sizeof(*h));
    h->type = -1;
    h->v2[7] = 1; /* is_compressed defaults to true */
    thrift_reader_init(&r, p, len);
    rc = thrift_struct_begin(&r, errbuf, errlen);
    while (!rc) {
        rc = thrift_read_field(&r, &last, &f, errbuf, errlen);
        if (rc || f.type == THRIFT_STOP)
            break;
        if (f.id >= 1 && f.id <= 3)
            h->seen |= 1u << f.id;
        rc = read_header_field(&r, &f, h, errbuf, errlen);
    }
    if (!rc && h->seen != (1u << 1 | 1u << 2 | 1u << 3))
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "page header lacks a required field");
    *used = thrift_reader_used(&r, p);
    return rc;
}

/* ---- decompression --------------------------------------------------------------------------- */

static enum err
gunzip(const uint8_t *src, size_t n, uint8_t *dst, size_t out_len, char *errbuf, size_t errlen)
{
    z_stream z;
    int zrc;

    if (n > UINT_MAX || out_len > UINT_MAX)
        return err_set(ERR_UNSUPPORTED, errbuf, errlen, "gzip page too large");
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 32) != Z_OK)
        return err_set(ERR_INTERNAL, errbuf, errlen, "inflateInit2 failed");
    z.next_in = src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)out_len;
    zrc = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    if (zrc != Z_STREAM_END || z.total_out != out_len)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "gzip data does not inflate to %zu bytes",
                       out_len);
    return ERR_OK;
}

static enum err
unzstd(struct parquet_column_reader *r, const uint8_t *src, size_t n, uint8_t *dst, size_t out_len,
       char *errbuf, size_t errlen)
{
    size_t got;

    if (!r->zstd)
        r->zstd = ZSTD_createDCtx();
    if (!r->zstd)
        return err_set(ERR_INTERNAL, errbuf, errlen, "ZSTD_createDCtx failed");
    got = ZSTD_decompressDCtx(r->zstd, dst, out_len, src, n);
    if (ZSTD_isError(got) || got != out_len)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "zstd data does not decompress to %zu bytes",
                       out_len);
    return ERR_OK;
}

/* src[0..n) decompressed to exactly out_len bytes in *buf (grown); *out the bytes. */
static enum err
decompress(struct parquet_column_reader *r, const uint8_t *src, size_t n, size_t out_len,
           uint8_t **buf, size_t *alloc, const uint8_t **out, char *errbuf, size_t errlen)
{
    unsigned long long declared;
    size_t slen;

    if (r->chunk->codec == PARQUET_SNAPPY &&
        (snappy_uncompressed_length((const char *)src, n, &slen) != SNAPPY_OK || slen != out_len))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "snappy data does not hold %zu bytes",
                       out_len);
    if (r->chunk->codec == PARQUET_ZSTD) {
        declared = ZSTD_getFrameContentSize(src, n);
        if (declared == ZSTD_CONTENTSIZE_ERROR ||
            (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != out_len))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "zstd data does not hold %zu bytes",
                           out_len);
    }
    if (*alloc < out_len || !*buf) {
        free(*buf);
        *buf = xmalloc(out_len ? out_len : 1);
        *alloc = out_len;
    }
    *out = *buf;
    switch (r->chunk->codec) {
    case PARQUET_SNAPPY:
        slen = out_len;
        if (snappy_uncompress((const char *)src, n, (char *)*buf, &slen) != SNAPPY_OK ||
            slen != out_len)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "malformed snappy data");
        return ERR_OK;
    case PARQUET_GZIP:
        return gunzip(src, n, *buf, out_len, errbuf, errlen);
    default:
        return unzstd(r, src, n, *buf, out_len, errbuf, errlen);
    }
}

/* A page body: in place when UNCOMPRESSED, else decompressed into *buf. */
static enum err
body(struct parquet_column_reader *r, const uint8_t *src, size_t n, size_t out_len, uint8_t **buf,
     size_t *alloc, const uint8_t **out, size_t *out_n, char *errbuf, size_t errlen)
{
    if (r->chunk->codec == PARQUET_UNCOMPRESSED) {
        *out = src;
        *out_n = n;
        return ERR_OK;
    }
    *out_n = out_len;
    return decompress(r, src, n, out_len, buf, alloc, out, errbuf, errlen);
}

/* ---- pages ----------------------------------------------------------------------------------- */

static enum err
load_dictionary(struct parquet_column_reader *r, const struct page_header *h, const uint8_t *src,
                char *errbuf, size_t errlen)
{
    const uint8_t *b;
    size_t n;
    char name[32];
    enum err rc;

    if (r->has_dict || r->seen_data)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "a second or late dictionary page");
    if ((h->sub_seen & 6) != 6 || h->dict[1] < 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "dictionary page header lacks a field");
    if (h->dict[2] != PQ_PLAIN && h->dict[2] != PQ_PLAIN_DICTIONARY)
        return err_set(ERR_UNSUPPORTED, errbuf, errlen, "dictionary encoding %s is not supported",
                       parquet_encoding_name((int)h->dict[2], name));
    rc = body(r, src, (size_t)h->compressed, (size_t)h->uncompressed, &r->dict_buf, &r->dict_alloc,
              &b, &n, errbuf, errlen);
    if (!rc)
        rc = dict_load(&r->dict, r->col, r->m->limits.max_value_bytes, b, n, (uint64_t)h->dict[1],
                       errbuf, errlen);
    r->has_dict = 1;
    return rc;
}

/* Definition levels of a v1 page at the start of b[0..*n); b and *n move past them. */
static enum err
levels_v1(struct parquet_column_reader *r, const struct page_header *h, const uint8_t **b,
          size_t *n, char *errbuf, size_t errlen)
{
    char name[32];
    size_t len;

    r->levels = LEVELS_NONE;
    if (!r->col->optional)
        return ERR_OK;
    if (h->data[3] == PQ_RLE) {
        if (*n < 4)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "truncated definition levels");
        len = (size_t)((*b)[0] | (*b)[1] << 8 | (*b)[2] << 16 | (uint32_t)(*b)[3] << 24);
        if (len > *n - 4)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "truncated definition levels");
        rle_init(&r->def, *b + 4, len, 1);
        r->levels = LEVELS_RLE;
        len += 4;
    } else if (h->data[3] == PQ_BIT_PACKED) {
        len = (size_t)(h->data[1] + 7) / 8;
        if (len > *n)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "truncated definition levels");
        r->legacy = *b;
        r->legacy_bit = 0;
        r->levels = LEVELS_BIT_PACKED;
    } else {
        return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                       "definition level encoding %s is not supported",
                       parquet_encoding_name((int)h->data[3], name));
    }
    *b += len;
    *n -= len;
    return ERR_OK;
}

static enum err
load_v1(struct parquet_column_reader *r, const struct page_header *h, const uint8_t *src,
        char *errbuf, size_t errlen)
{
    const uint8_t *b;
    size_t n;
    enum err rc;

    if ((h->sub_seen & 0x1E) != 0x1E || h->data[1] < 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "data page header lacks a field");
    rc = body(r, src, (size_t)h->compressed, (size_t)h->uncompressed, &r->page_buf, &r->page_alloc,
              &b, &n, errbuf, errlen);
    if (!rc)
        rc = levels_v1(r, h, &b, &n, errbuf, errlen);
    if (!rc)
        rc = values_start(&r->values, (int)h->data[2], r->col, r->m->limits.max_value_bytes, b, n,
                          (uint64_t)h->data[1], r->has_dict ? &r->dict : NULL, errbuf, errlen);
    r->page_left = h->data[1];
    return rc;
}

static enum err
load_v2(struct parquet_column_reader *r, const struct page_header *h, const uint8_t *src,
        char *errbuf, size_t errlen)
{
    const int64_t *v2 = h->v2;
    const uint8_t *b;
    size_t n;
    enum err rc;

    if ((h->sub_seen & 0x7E) != 0x7E || v2[1] < 0 || v2[5] < 0 || v2[6] != 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "data page v2 header lacks a field or has repetition levels");
    if (v2[5] > h->compressed || v2[5] > h->uncompressed || (v2[5] && !r->col->optional))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "bad definition levels length");
    r->levels = r->col->optional ? LEVELS_RLE : LEVELS_NONE;
    rle_init(&r->def, src, (size_t)v2[5], 1);
    src += v2[5];
    if (v2[7])
        rc = body(r, src, (size_t)(h->compressed - v2[5]), (size_t)(h->uncompressed - v2[5]),
                  &r->page_buf, &r->page_alloc, &b, &n, errbuf, errlen);
    else {
        b = src;
        n = (size_t)(h->compressed - v2[5]);
        rc = ERR_OK;
    }
    if (!rc)
        rc = values_start(&r->values, (int)v2[4], r->col, r->m->limits.max_value_bytes, b, n,
                          (uint64_t)v2[1], r->has_dict ? &r->dict : NULL, errbuf, errlen);
    r->page_left = v2[1];
    return rc;
}

/* Read pages until a data page with values is loaded. */
static enum err
next_page(struct parquet_column_reader *r, char *errbuf, size_t errlen)
{
    const size_t cap = r->m->limits.max_page_bytes;
    struct page_header h;
    const uint8_t *src;
    size_t used;
    enum err rc;

    while (r->page_left == 0) {
        if (r->p == r->end)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "the chunk ends %lld values short",
                           (long long)r->values_left);
        r->pages++;
        rc = read_page_header(r->p, (size_t)(r->end - r->p), &h, &used, errbuf, errlen);
        if (rc)
            return rc;
        r->p += used;
        if (h.compressed < 0 || h.uncompressed < 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "negative page size");
        if ((uint64_t)h.compressed > cap || (uint64_t)h.uncompressed > cap)
            return err_set(
                ERR_UNSUPPORTED, errbuf, errlen,
                "a page of %lld bytes exceeds the cap of %zu bytes",
                (long long)(h.compressed > h.uncompressed ? h.compressed : h.uncompressed), cap);
        if (h.compressed > r->end - r->p)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "the page runs past the chunk");
        src = r->p;
        r->p += h.compressed;
        if (h.type == PAGE_DICTIONARY)
            rc = load_dictionary(r, &h, src, errbuf, errlen);
        else if (h.type == PAGE_DATA)
            rc = load_v1(r, &h, src, errbuf, errlen);
        else if (h.type == PAGE_DATA_V2)
            rc = load_v2(r, &h, src, errbuf, errlen);
        if (rc)
            return rc;
        r->seen_data |= h.type == PAGE_DATA || h.type == PAGE_DATA_V2;
        if (r->page_left > r->values_left)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "the page holds more values than the chunk");
    }
    return ERR_OK;
}

/* ---- the reader ------------------------------------------------------------------------------ */

enum err
parquet_column_reader_new(const struct parquet_meta *m, size_t rg, size_t col, const void *data,
                          size_t len, uint64_t offset, struct parquet_column_reader **out,
                          char *errbuf, size_t errlen)
{
    const struct parquet_chunk *ch = &m->row_groups[rg].chunks[col];
    struct parquet_column_reader *r;

    *out = NULL;
    if ((uint64_t)ch->offset < offset || (uint64_t)ch->offset - offset > len ||
        (uint64_t)ch->compressed_size > len - ((uint64_t)ch->offset - offset))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "column %s, row group %zu: the bytes given do not cover the chunk",
                       m->columns[col].name, rg);
    r = xcalloc(1, sizeof(*r));
    r->m = m;
    r->col = &m->columns[col];
    r->chunk = ch;
    r->rg = rg;
    r->p = (const uint8_t *)data + (ch->offset - offset);
    r->end = r->p + ch->compressed_size;
    r->values_left = ch->num_values;
    values_init(&r->values);
    *out = r;
    return ERR_OK;
}

/* The next definition level: 0 (null) or 1. */
static enum err
next_level(struct parquet_column_reader *r, uint64_t *level, char *errbuf, size_t errlen)
{
    *level = 1;
    if (r->levels == LEVELS_BIT_PACKED) {
        *level = (r->legacy[r->legacy_bit / 8] >> (7 - r->legacy_bit % 8)) & 1;
        r->legacy_bit++;
    } else if (r->levels == LEVELS_RLE) {
        if (!rle_next(&r->def, level) || *level > 1)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "malformed definition levels");
    }
    return ERR_OK;
}

static enum err
next_value(struct parquet_column_reader *r, struct parquet_value *v, char *errbuf, size_t errlen)
{
    uint64_t level;
    enum err rc;

    if (r->values_left == 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "read past the chunk's %lld values",
                       (long long)r->chunk->num_values);
    rc = next_page(r, errbuf, errlen);
    if (!rc)
        rc = next_level(r, &level, errbuf, errlen);
    if (rc)
        return rc;
    r->page_left--;
    r->values_left--;
    if (level == 0) {
        memset(v, 0, sizeof(*v));
        v->is_null = 1;
        return ERR_OK;
    }
    return values_next(&r->values, v, errbuf, errlen);
}

enum err
parquet_column_reader_next(struct parquet_column_reader *r, struct parquet_value *v, char *errbuf,
                           size_t errlen)
{
    char inner[ERRBUF_SIZE];

    if (!r->rc) {
        r->rc = next_value(r, v, inner, sizeof(inner));
        if (r->rc)
            err_set(r->rc, r->msg, sizeof(r->msg), "column %s, row group %zu, page %zu: %s",
                    r->col->name, r->rg, r->pages, inner);
    }
    if (r->rc)
        return err_set(r->rc, errbuf, errlen, "%s", r->msg);
    return ERR_OK;
}

void
parquet_column_reader_free(struct parquet_column_reader *r)
{
    if (!r)
        return;
    values_release(&r->values);
    dict_release(&r->dict);
    free(r->dict_buf);
    free(r->page_buf);
    ZSTD_freeDCtx(r->zstd);
    free(r);
}
