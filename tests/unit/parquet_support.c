/*
 * parquet_support.c - helpers of the Parquet reader's tests (see parquet_support.h)
 *
 * The Thrift compact protocol as codec/thrift_compact.c reads it, written:
 * short field headers when the id delta is 1-15, else the long form; ints as
 * zigzag varints; lists with a short or long size header.
 */
#include "parquet_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/thrift_compact.h"

/* ---- decoding -------------------------------------------------------------------------------- */

char *
pq_slurp(const char *path, size_t *len)
{
    char chunk[65536];
    struct buf b;
    size_t n;
    FILE *f = fopen(path, "rb");

    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_take(&b, len);
}

struct collector {
    struct buf out;
    size_t fail_at;
    size_t nlines;
};

static const char *
str(const char *s)
{
    return s ? s : "-";
}

static enum err
on_line(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    struct collector *c = ctx;
    char size[32] = "-";

    c->nlines++;
    if (c->fail_at && c->nlines == c->fail_at)
        return err_set(ERR_CONFLICT, errbuf, errlen, "callback stops at line %zu", l->line);
    if (l->has_size)
        snprintf(size, sizeof(size), "%lld", (long long)l->size);
    buf_printf(&c->out, "L%zu|%s|%s|%s|%s|%d|%s|%s|%s|%s\n", l->line, l->bucket, l->key,
               str(l->version_id),
               l->is_latest < 0 ? "-"
               : l->is_latest   ? "1"
                                : "0",
               l->is_delete_marker, size, str(l->last_modified), str(l->etag),
               str(l->storage_class));
    return ERR_OK;
}

/* A copy of data[off..off+n) in a buffer of exactly n bytes (a range "fetched"). */
static char *
fetch(const char *data, uint64_t off, uint64_t n)
{
    char *p = xmalloc(n ? (size_t)n : 1);

    memcpy(p, data + off, (size_t)n);
    return p;
}

static enum err
decode_groups(const char *data, struct parquet_meta *m, struct collector *c, char *errbuf,
              size_t errlen)
{
    struct parquet_inventory *d = NULL;
    uint64_t off, n;
    size_t g;
    char *range;
    enum err rc = parquet_inventory_new(m, on_line, c, &d, errbuf, errlen);

    for (g = 0; !rc && g < m->nrow_groups; g++) {
        rc = parquet_inventory_range(d, g, &off, &n, errbuf, errlen);
        if (rc)
            break;
        range = fetch(data, off, n);
        rc = parquet_inventory_row_group(d, g, range, (size_t)n, off, errbuf, errlen);
        free(range);
    }
    parquet_inventory_free(d);
    return rc;
}

char *
pq_decode(const char *data, size_t len, const struct parquet_limits *lim, size_t tail_guess,
          size_t fail_at)
{
    struct collector c = {.fail_at = fail_at};
    struct parquet_meta *m = NULL;
    char errbuf[ERRBUF_SIZE] = "";
    size_t tail_len = tail_guess < len ? tail_guess : len, need;
    char *tail = fetch(data, len - tail_len, tail_len);
    enum err rc;

    buf_init(&c.out, 0);
    rc = parquet_footer_size(tail, tail_len, len, lim, &need, errbuf, sizeof(errbuf));
    if (!rc && need > tail_len) {
        free(tail);
        tail_len = need;
        tail = fetch(data, len - tail_len, tail_len);
    }
    if (!rc)
        rc = parquet_meta_parse(tail, tail_len, len, lim, &m, errbuf, sizeof(errbuf));
    free(tail);
    if (!rc)
        rc = decode_groups(data, m, &c, errbuf, sizeof(errbuf));
    if (rc)
        buf_printf(&c.out, "rc %d: %s\n", (int)rc, errbuf);
    if (rc && !errbuf[0])
        buf_append_str(&c.out, "(no message)\n");
    parquet_meta_free(m);
    return buf_take(&c.out, NULL);
}

char *
pq_decode_file(const char *path)
{
    size_t len;
    char *data = pq_slurp(path, &len);
    char *t = pq_decode(data, len, NULL, 64 * 1024, 0);

    free(data);
    return t;
}

/* ---- Thrift compact writer ------------------------------------------------------------------- */

void
tw_init(struct tw *w, struct buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

void
tw_varint(struct buf *out, uint64_t v)
{
    while (v >= 0x80) {
        buf_append_char(out, (char)(v | 0x80));
        v >>= 7;
    }
    buf_append_char(out, (char)v);
}

static uint64_t
zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

void
tw_field(struct tw *w, int type, int id)
{
    int delta = id - w->last[w->depth];

    if (delta > 0 && delta <= 15) {
        buf_append_char(w->out, (char)(delta << 4 | type));
    } else {
        buf_append_char(w->out, (char)type);
        tw_varint(w->out, zz(id));
    }
    w->last[w->depth] = id;
}

void
tw_i32(struct tw *w, int id, int64_t v)
{
    tw_field(w, THRIFT_I32, id);
    tw_varint(w->out, zz(v));
}

void
tw_i64(struct tw *w, int id, int64_t v)
{
    tw_field(w, THRIFT_I64, id);
    tw_varint(w->out, zz(v));
}

void
tw_bool(struct tw *w, int id, int v)
{
    tw_field(w, v ? THRIFT_TRUE : THRIFT_FALSE, id);
}

void
tw_bin(struct tw *w, int id, const void *p, size_t n)
{
    tw_field(w, THRIFT_BINARY, id);
    tw_varint(w->out, n);
    buf_append(w->out, p, n);
}

void
tw_str(struct tw *w, int id, const char *s)
{
    tw_bin(w, id, s, strlen(s));
}

void
tw_begin(struct tw *w, int id)
{
    tw_field(w, THRIFT_STRUCT, id);
    w->last[++w->depth] = 0;
}

void
tw_end(struct tw *w)
{
    buf_append_char(w->out, 0);
    if (w->depth > 0)
        w->depth--;
}

void
tw_list(struct tw *w, int id, int elem_type, size_t n)
{
    tw_field(w, THRIFT_LIST, id);
    if (n < 15) {
        buf_append_char(w->out, (char)(n << 4 | (size_t)elem_type));
    } else {
        buf_append_char(w->out, (char)(0xF0 | elem_type));
        tw_varint(w->out, n);
    }
}

void
tw_elem_begin(struct tw *w)
{
    w->last[++w->depth] = 0;
}

void
tw_elem_i32(struct tw *w, int64_t v)
{
    tw_varint(w->out, zz(v));
}

void
tw_elem_str(struct tw *w, const char *s)
{
    tw_varint(w->out, strlen(s));
    buf_append_str(w->out, s);
}

/* ---- values and pages ------------------------------------------------------------------------ */

void
pb_le32(struct buf *out, uint32_t v)
{
    int i;

    for (i = 0; i < 4; i++)
        buf_append_char(out, (char)(v >> (8 * i)));
}

void
pb_le64(struct buf *out, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++)
        buf_append_char(out, (char)(v >> (8 * i)));
}

void
pb_plain_str(struct buf *out, const char *s)
{
    pb_le32(out, (uint32_t)strlen(s));
    buf_append_str(out, s);
}

void
pb_int96(struct buf *out, int64_t nanos_of_day, int32_t julian_day)
{
    pb_le64(out, (uint64_t)nanos_of_day);
    pb_le32(out, (uint32_t)julian_day);
}

void
pb_rle_levels(struct buf *out, const int *levels, size_t n)
{
    size_t i = 0, j;

    while (i < n) {
        for (j = i; j < n && levels[j] == levels[i]; j++)
            ;
        tw_varint(out, (uint64_t)(j - i) << 1);
        buf_append_char(out, (char)levels[i]);
        i = j;
    }
}

void
pb_page_header(struct buf *out, int type, int64_t uncompressed, int64_t compressed)
{
    struct tw w;

    tw_init(&w, out);
    tw_i32(&w, 1, type);
    tw_i32(&w, 2, uncompressed);
    tw_i32(&w, 3, compressed);
    tw_end(&w);
}

void
pb_page_v1(struct buf *out, int encoding, int def_encoding, int64_t num_values,
           const struct buf *levels, const void *values, size_t vlen)
{
    size_t n = (levels ? levels->len : 0) + vlen;
    struct tw w;

    tw_init(&w, out);
    tw_i32(&w, 1, 0);
    tw_i32(&w, 2, (int64_t)n);
    tw_i32(&w, 3, (int64_t)n);
    tw_begin(&w, 5);
    tw_i32(&w, 1, num_values);
    tw_i32(&w, 2, encoding);
    tw_i32(&w, 3, def_encoding);
    tw_i32(&w, 4, 3);
    tw_end(&w);
    tw_end(&w);
    if (levels)
        buf_append(out, levels->data, levels->len);
    buf_append(out, values, vlen);
}

void
pb_page_v2(struct buf *out, int encoding, int64_t num_values, int64_t num_nulls,
           const struct buf *levels, const void *values, size_t vlen, int is_compressed)
{
    size_t nl = levels ? levels->len : 0;
    struct tw w;

    tw_init(&w, out);
    tw_i32(&w, 1, 3);
    tw_i32(&w, 2, (int64_t)(nl + vlen));
    tw_i32(&w, 3, (int64_t)(nl + vlen));
    tw_begin(&w, 8);
    tw_i32(&w, 1, num_values);
    tw_i32(&w, 2, num_nulls);
    tw_i32(&w, 3, num_values);
    tw_i32(&w, 4, encoding);
    tw_i32(&w, 5, (int64_t)nl);
    tw_i32(&w, 6, 0);
    if (is_compressed >= 0)
        tw_bool(&w, 7, is_compressed);
    tw_end(&w);
    tw_end(&w);
    if (levels)
        buf_append(out, levels->data, levels->len);
    buf_append(out, values, vlen);
}

void
pb_dict_page(struct buf *out, int encoding, int64_t num_values, const void *values, size_t vlen)
{
    struct tw w;

    tw_init(&w, out);
    tw_i32(&w, 1, 2);
    tw_i32(&w, 2, (int64_t)vlen);
    tw_i32(&w, 3, (int64_t)vlen);
    tw_begin(&w, 7);
    tw_i32(&w, 1, num_values);
    tw_i32(&w, 2, encoding);
    tw_end(&w);
    tw_end(&w);
    buf_append(out, values, vlen);
}

/* ---- files ----------------------------------------------------------------------------------- */

void
pb_init(struct pb_file *f)
{
    size_t g, c;

    memset(f, 0, sizeof(*f));
    f->nrg = 1;
    f->root_children = -1;
    for (g = 0; g < PB_MAX_RGS; g++) {
        for (c = 0; c < PB_MAX_COLS; c++)
            buf_init(&f->chunks[g][c].pages, 0);
    }
}

void
pb_release(struct pb_file *f)
{
    size_t g, c;

    for (g = 0; g < PB_MAX_RGS; g++) {
        for (c = 0; c < PB_MAX_COLS; c++)
            buf_release(&f->chunks[g][c].pages);
    }
}

struct pb_chunk *
pb_add(struct pb_file *f, const char *name, int type, int repetition, int converted)
{
    struct pb_col *c = &f->cols[f->ncols++];

    c->name = name;
    c->type = type;
    c->repetition = repetition;
    c->converted = converted;
    return &f->chunks[0][f->nleaves++];
}

static void
write_schema(struct tw *w, const struct pb_file *f)
{
    size_t i;

    tw_list(w, 2, THRIFT_STRUCT, f->ncols + 1);
    tw_elem_begin(w);
    tw_str(w, 4, "schema");
    tw_i32(w, 5, f->root_children >= 0 ? f->root_children : (int64_t)f->ncols);
    tw_end(w);
    for (i = 0; i < f->ncols; i++) {
        const struct pb_col *c = &f->cols[i];

        tw_elem_begin(w);
        if (c->type >= 0)
            tw_i32(w, 1, c->type);
        tw_i32(w, 3, c->repetition);
        tw_str(w, 4, c->name);
        if (c->num_children > 0)
            tw_i32(w, 5, c->num_children);
        if (c->converted >= 0)
            tw_i32(w, 6, c->converted);
        if (c->ts_unit) {
            tw_begin(w, 10);
            tw_begin(w, 8);
            tw_bool(w, 1, 1);
            tw_begin(w, 2);
            tw_begin(w, c->ts_unit);
            tw_end(w);
            tw_end(w);
            tw_end(w);
            tw_end(w);
        }
        tw_end(w);
    }
}

/* The leaf column of chunk index k (the k-th schema element with a type). */
static const struct pb_col *
leaf(const struct pb_file *f, size_t k)
{
    size_t i;

    for (i = 0; i < f->ncols; i++) {
        if (f->cols[i].type >= 0 && k-- == 0)
            return &f->cols[i];
    }
    return &f->cols[0];
}

static void
write_chunk(struct tw *w, const struct pb_file *f, const struct pb_chunk *ch,
            const struct pb_col *c, int64_t off)
{
    int64_t len = (int64_t)ch->pages.len;

    off += f->chunk_offset_bias;
    tw_elem_begin(w);
    if (f->file_path)
        tw_str(w, 1, f->file_path);
    tw_i64(w, 2, off);
    tw_begin(w, 3);
    tw_i32(w, 1, c->type);
    tw_list(w, 2, THRIFT_I32, 2);
    tw_elem_i32(w, 0);
    tw_elem_i32(w, 3);
    tw_list(w, 3, THRIFT_BINARY, 1);
    tw_elem_str(w, c->name);
    tw_i32(w, 4, ch->codec);
    tw_i64(w, 5, ch->num_values);
    tw_i64(w, 6, len);
    tw_i64(w, 7, len);
    tw_i64(w, 9, off + (int64_t)ch->dict_len);
    if (ch->dict_len)
        tw_i64(w, 11, off);
    tw_end(w);
    tw_end(w);
}

static void
write_row_groups(struct tw *w, const struct pb_file *f)
{
    int64_t off = 4;
    size_t g, k;

    tw_list(w, 4, THRIFT_STRUCT, f->nrg);
    for (g = 0; g < f->nrg; g++) {
        tw_elem_begin(w);
        tw_list(w, 1, THRIFT_STRUCT, f->nleaves);
        for (k = 0; k < f->nleaves; k++) {
            write_chunk(w, f, &f->chunks[g][k], leaf(f, k), off);
            off += (int64_t)f->chunks[g][k].pages.len;
        }
        tw_i64(w, 2, 0);
        tw_i64(w, 3, f->rows[g]);
        tw_end(w);
    }
}

char *
pb_build(const struct pb_file *f, size_t *len)
{
    struct buf out, meta;
    struct tw w;
    int64_t rows = 0;
    size_t g, k;

    buf_init(&out, 0);
    buf_init(&meta, 0);
    buf_append_str(&out, "PAR1");
    for (g = 0; g < f->nrg; g++) {
        rows += f->rows[g];
        for (k = 0; k < f->nleaves; k++)
            buf_append(&out, f->chunks[g][k].pages.data, f->chunks[g][k].pages.len);
    }
    tw_init(&w, &meta);
    tw_i32(&w, 1, 1);
    write_schema(&w, f);
    tw_i64(&w, 3, rows);
    write_row_groups(&w, f);
    tw_str(&w, 6, "ingestd test builder");
    if (f->encryption) {
        tw_begin(&w, 8);
        tw_begin(&w, 1);
        tw_end(&w);
        tw_end(&w);
    }
    tw_end(&w);
    buf_append(&out, meta.data, meta.len);
    pb_le32(&out, (uint32_t)meta.len);
    buf_append_str(&out, "PAR1");
    buf_release(&meta);
    return buf_take(&out, len);
}
