/*
 * orc_testkit.c - a small ORC writer and a range-by-range reader for the ORC unit tests
 *
 * The writer's encodings are the simplest the specification allows:
 * byte RLE and RLE v1 as literal groups, RLE v2 as DIRECT runs of 64-bit
 * values (the specification's examples of the other sub-encodings are
 * tested in test_orc_rle.c). Protobuf messages are written by hand.
 */
#include "orc_testkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "codec/orc.h"

/* ---- protobuf -------------------------------------------------------------------------------- */

static void
w_varint(struct buf *b, uint64_t v)
{
    while (v >= 0x80) {
        buf_append_char(b, (char)(v | 0x80));
        v >>= 7;
    }
    buf_append_char(b, (char)v);
}

static void
w_uint(struct buf *b, uint32_t field, uint64_t v)
{
    w_varint(b, (uint64_t)field << 3);
    w_varint(b, v);
}

static void
w_bytes(struct buf *b, uint32_t field, const void *p, size_t n)
{
    w_varint(b, (uint64_t)field << 3 | 2);
    w_varint(b, n);
    buf_append(b, p, n);
}

static void
w_str(struct buf *b, uint32_t field, const char *s)
{
    w_bytes(b, field, s, strlen(s));
}

/* ---- value encodings ---------------------------------------------------------------------------
 */

/* byte RLE as literal groups of at most 128 */
static void
enc_bytes(struct buf *b, const unsigned char *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i += 128) {
        size_t k = n - i < 128 ? n - i : 128;

        buf_append_char(b, (char)(256 - k));
        buf_append(b, v + i, k);
    }
}

/* booleans, most significant bit first, as byte RLE */
static void
enc_bits(struct buf *b, const int *bits, size_t n)
{
    unsigned char *bytes = xcalloc(n / 8 + 1, 1);
    size_t i;

    for (i = 0; i < n; i++) {
        if (bits[i])
            bytes[i / 8] |= (unsigned char)(0x80 >> (i % 8));
    }
    enc_bytes(b, bytes, (n + 7) / 8);
    free(bytes);
}

static uint64_t
zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

/* integers: RLE v1 literal groups of varints, or RLE v2 DIRECT runs of 64-bit values */
static void
enc_ints(struct buf *b, const int64_t *v, size_t n, int v2, int is_signed)
{
    size_t i, k;

    for (i = 0; i < n; i += v2 ? 512 : 128) {
        size_t run = n - i < (v2 ? 512u : 128u) ? n - i : (v2 ? 512u : 128u);

        if (v2) {
            buf_append_char(b, (char)(0x7e | (run - 1) >> 8));
            buf_append_char(b, (char)(run - 1));
        } else {
            buf_append_char(b, (char)(256 - run));
        }
        for (k = 0; k < run; k++) {
            uint64_t u = is_signed ? zigzag(v[i + k]) : (uint64_t)v[i + k];
            int s;

            if (!v2) {
                w_varint(b, u);
                continue;
            }
            for (s = 56; s >= 0; s -= 8)
                buf_append_char(b, (char)(u >> s));
        }
    }
}

/* ---- columns -----------------------------------------------------------------------------------
 */

void
orc_tfile_init(struct orc_tfile *t, enum orc_compression comp, size_t block, uint64_t rows)
{
    memset(t, 0, sizeof(*t));
    t->comp = comp;
    t->block = block ? block : 256 * 1024;
    t->rows = rows;
    buf_init(&t->root_present, 0);
}

void
orc_tfile_release(struct orc_tfile *t)
{
    size_t c;
    int k;

    for (c = 0; c < t->ncols; c++) {
        for (k = 0; k < ORC_S_N; k++)
            buf_release(&t->cols[c].s[k]);
    }
    buf_release(&t->root_present);
}

static struct orc_tcol *
add_col(struct orc_tfile *t, const char *name, uint32_t kind, uint32_t enc)
{
    struct orc_tcol *c = &t->cols[t->ncols++];
    int k;

    if (t->ncols > ORC_KIT_MAX_COLS)
        abort();
    c->name = name;
    c->kind = kind;
    c->enc = enc;
    for (k = 0; k < ORC_S_N; k++)
        buf_init(&c->s[k], 0);
    return c;
}

/* a PRESENT stream when any value is null */
static void
present(struct orc_tcol *c, const int *nulls, size_t n)
{
    int *bits = xcalloc(n + 1, sizeof(*bits));
    size_t i;
    int any = 0;

    for (i = 0; i < n; i++) {
        bits[i] = !(nulls && nulls[i]);
        any |= !bits[i];
    }
    if (any)
        enc_bits(&c->s[ORC_S_PRESENT], bits, n);
    free(bits);
}

void
orc_tfile_type(struct orc_tfile *t, const char *name, uint32_t kind)
{
    add_col(t, name, kind, ORC_DIRECT);
}

void
orc_tfile_bools(struct orc_tfile *t, const char *name, const int *vals)
{
    struct orc_tcol *c = add_col(t, name, ORC_BOOLEAN, ORC_DIRECT);
    int *nulls = xcalloc(t->rows + 1, sizeof(*nulls)), *bits = xcalloc(t->rows + 1, sizeof(*bits));
    size_t i, n = 0;

    for (i = 0; i < t->rows; i++) {
        nulls[i] = vals[i] < 0;
        if (!nulls[i])
            bits[n++] = vals[i];
    }
    present(c, nulls, t->rows);
    enc_bits(&c->s[ORC_S_DATA], bits, n);
    free(nulls);
    free(bits);
}

void
orc_tfile_ints(struct orc_tfile *t, const char *name, uint32_t kind, const int64_t *vals,
               const int *nulls, int v2)
{
    struct orc_tcol *c = add_col(t, name, kind, v2 ? ORC_DIRECT_V2 : ORC_DIRECT);
    int64_t *v = xcalloc(t->rows + 1, sizeof(*v));
    size_t i, n = 0;

    for (i = 0; i < t->rows; i++) {
        if (!(nulls && nulls[i]))
            v[n++] = vals[i];
    }
    present(c, nulls, t->rows);
    if (kind == ORC_BYTE) {
        unsigned char *b = xcalloc(n + 1, 1);

        for (i = 0; i < n; i++)
            b[i] = (unsigned char)v[i];
        enc_bytes(&c->s[ORC_S_DATA], b, n);
        c->enc = ORC_DIRECT;
        free(b);
    } else {
        enc_ints(&c->s[ORC_S_DATA], v, n, v2, 1);
    }
    free(v);
}

/* Java's formatNanos: trailing decimal zeros removed, their count less one in the low 3 bits. */
static int64_t
format_nanos(int64_t nanos)
{
    int zeros = 1;

    if (nanos == 0)
        return 0;
    if (nanos % 100 != 0)
        return nanos << 3;
    nanos /= 100;
    while (nanos % 10 == 0 && zeros < 7) {
        nanos /= 10;
        zeros++;
    }
    return nanos << 3 | zeros;
}

void
orc_tfile_times(struct orc_tfile *t, const char *name, uint32_t kind, const int64_t *ms,
                const int *nulls, int v2)
{
    struct orc_tcol *c = add_col(t, name, kind, v2 ? ORC_DIRECT_V2 : ORC_DIRECT);
    int64_t *secs = xcalloc(t->rows + 1, sizeof(*secs));
    int64_t *nanos = xcalloc(t->rows + 1, sizeof(*nanos));
    size_t i, n = 0;

    for (i = 0; i < t->rows; i++) {
        if (nulls && nulls[i])
            continue;
        /* Java truncates the seconds toward zero and keeps the nanoseconds positive */
        secs[n] = ms[i] / 1000 - ORC_TIMESTAMP_BASE_S;
        nanos[n++] = format_nanos((ms[i] % 1000 + 1000) % 1000 * 1000000);
    }
    present(c, nulls, t->rows);
    enc_ints(&c->s[ORC_S_DATA], secs, n, v2, 1);
    enc_ints(&c->s[ORC_S_SECONDARY], nanos, n, v2, 0);
    free(secs);
    free(nanos);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The dictionary: sorted distinct values; DATA indexes into it. */
static void
dictionary(struct orc_tcol *c, const char **v, size_t n, int v2)
{
    const char **dict = xcalloc(n + 1, sizeof(*dict));
    int64_t *lens = xcalloc(n + 1, sizeof(*lens)), *refs = xcalloc(n + 1, sizeof(*refs));
    size_t i, k, nd = 0;

    memcpy(dict, v, n * sizeof(*dict));
    qsort(dict, n, sizeof(*dict), cmp_str);
    for (i = 0; i < n; i++) {
        if (nd == 0 || strcmp(dict[nd - 1], dict[i]))
            dict[nd++] = dict[i];
    }
    for (k = 0; k < nd; k++) {
        lens[k] = (int64_t)strlen(dict[k]);
        buf_append_str(&c->s[ORC_S_DICT], dict[k]);
    }
    for (i = 0; i < n; i++) {
        for (k = 0; strcmp(dict[k], v[i]); k++)
            ;
        refs[i] = (int64_t)k;
    }
    enc_ints(&c->s[ORC_S_LENGTH], lens, nd, v2, 0);
    enc_ints(&c->s[ORC_S_DATA], refs, n, v2, 0);
    c->dict_size = (uint32_t)nd;
    free(dict);
    free(lens);
    free(refs);
}

void
orc_tfile_strings(struct orc_tfile *t, const char *name, uint32_t kind, const char *const *vals,
                  int dict, int v2)
{
    struct orc_tcol *c = add_col(t, name, kind,
                                 dict ? (v2 ? ORC_DICTIONARY_V2 : ORC_DICTIONARY)
                                      : (v2 ? ORC_DIRECT_V2 : ORC_DIRECT));
    const char **v = xcalloc(t->rows + 1, sizeof(*v));
    int *nulls = xcalloc(t->rows + 1, sizeof(*nulls));
    int64_t *lens = xcalloc(t->rows + 1, sizeof(*lens));
    size_t i, n = 0;

    for (i = 0; i < t->rows; i++) {
        nulls[i] = vals[i] == NULL;
        if (vals[i])
            v[n++] = vals[i];
    }
    present(c, nulls, t->rows);
    if (dict) {
        dictionary(c, v, n, v2);
    } else {
        for (i = 0; i < n; i++) {
            lens[i] = (int64_t)strlen(v[i]);
            buf_append_str(&c->s[ORC_S_DATA], v[i]);
        }
        enc_ints(&c->s[ORC_S_LENGTH], lens, n, v2, 0);
    }
    free(v);
    free(nulls);
    free(lens);
}

/* ---- compression chunks -----------------------------------------------------------------------
 */

static size_t
compress_chunk(enum orc_compression kind, const void *in, size_t n, unsigned char *out, size_t cap)
{
    size_t len = cap;

    if (kind == ORC_COMPRESSION_ZLIB) {
        z_stream z;

        memset(&z, 0, sizeof(z));
        if (deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            abort();
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
            abort();
        len = cap - z.avail_out;
        deflateEnd(&z);
    } else if (kind == ORC_COMPRESSION_SNAPPY) {
        if (snappy_compress(in, n, (char *)out, &len) != SNAPPY_OK)
            abort();
    } else {
        len = ZSTD_compress(out, cap, in, n, 3);
        if (ZSTD_isError(len))
            abort();
    }
    return len;
}

static void
header(struct buf *out, size_t n, int original)
{
    uint32_t v = (uint32_t)(n * 2 + (original ? 1 : 0));

    buf_append_char(out, (char)v);
    buf_append_char(out, (char)(v >> 8));
    buf_append_char(out, (char)(v >> 16));
}

void
orc_kit_chunks(enum orc_compression kind, size_t block, int original, const void *in, size_t n,
               struct buf *out)
{
    const unsigned char *p = in;
    size_t i;

    if (kind != ORC_COMPRESSION_ZLIB && kind != ORC_COMPRESSION_SNAPPY &&
        kind != ORC_COMPRESSION_ZSTD) {
        /* NONE, and the kinds the reader refuses before reading any chunk */
        buf_append(out, in, n);
        return;
    }
    for (i = 0; i < n; i += block) {
        size_t k = n - i < block ? n - i : block, cap = k + k / 2 + 1024, len;
        unsigned char *c = xmalloc(cap);

        len = compress_chunk(kind, p + i, k, c, cap);
        if (original || len >= k) {
            header(out, k, 1);
            buf_append(out, p + i, k);
        } else {
            header(out, len, 0);
            buf_append(out, c, len);
        }
        free(c);
    }
}

/* ---- the file ----------------------------------------------------------------------------------
 */

static const uint32_t slot_kind[ORC_S_N] = {ORC_PRESENT, ORC_DATA, ORC_LENGTH, ORC_DICTIONARY_DATA,
                                            ORC_SECONDARY};

/* Children of a nested kind, in pre-order after it. */
static size_t
children(uint32_t kind)
{
    return kind == ORC_MAP ? 2 : (kind == ORC_LIST || kind == ORC_STRUCT) ? 1 : 0;
}

static void
stream_entry(struct buf *sf, uint32_t kind, uint32_t column, size_t length)
{
    struct buf m;

    buf_init(&m, 0);
    w_uint(&m, 1, kind);
    w_uint(&m, 2, column);
    w_uint(&m, 3, length);
    w_bytes(sf, 1, m.data, m.len);
    buf_release(&m);
}

/* One stripe appended to file; its StripeInformation appended to info. */
static void
write_stripe(const struct orc_tfile *t, const uint32_t *ids, size_t ntypes, struct buf *file,
             struct buf *info)
{
    size_t offset = file->len, data_len, at, c, id;
    struct buf sf, m;
    int k;

    buf_init(&sf, 0);
    buf_init(&m, 0);
    if (t->root_present.len) {
        orc_kit_chunks(t->comp, t->block, t->original, t->root_present.data, t->root_present.len,
                       file);
        stream_entry(&sf, ORC_PRESENT, 0, file->len - offset);
    }
    for (c = 0; c < t->ncols; c++) {
        for (k = 0; k < ORC_S_N; k++) {
            if (!t->cols[c].s[k].len)
                continue;
            at = file->len;
            orc_kit_chunks(t->comp, t->block, t->original, t->cols[c].s[k].data,
                           t->cols[c].s[k].len, file);
            stream_entry(&sf, slot_kind[k], ids[c], file->len - at);
        }
    }
    data_len = file->len - offset;
    for (id = 0; id < ntypes; id++) {
        buf_reset(&m);
        w_uint(&m, 1, ORC_DIRECT);
        for (c = 0; c < t->ncols; c++) {
            if (ids[c] == id) {
                buf_reset(&m);
                w_uint(&m, 1, t->cols[c].enc);
                if (t->cols[c].enc == ORC_DICTIONARY || t->cols[c].enc == ORC_DICTIONARY_V2)
                    w_uint(&m, 2, t->cols[c].dict_size);
            }
        }
        w_bytes(&sf, 2, m.data, m.len);
    }
    if (t->timezone)
        w_str(&sf, 3, t->timezone);
    at = file->len;
    orc_kit_chunks(t->comp, t->block, t->original, sf.data, sf.len, file);
    buf_reset(&m);
    w_uint(&m, 1, offset);
    w_uint(&m, 2, 0);
    w_uint(&m, 3, data_len);
    w_uint(&m, 4, file->len - at);
    w_uint(&m, 5, t->rows);
    w_bytes(info, 3, m.data, m.len);
    buf_release(&sf);
    buf_release(&m);
}

/* The Type messages: the root struct, each field, the children of nested ones. */
static void
write_types(const struct orc_tfile *t, const uint32_t *ids, struct buf *footer)
{
    struct buf m, sub;
    size_t c;

    buf_init(&m, 0);
    buf_init(&sub, 0);
    w_uint(&m, 1, ORC_STRUCT);
    for (c = 0; c < t->ncols; c++)
        w_varint(&sub, ids[c]);
    w_bytes(&m, 2, sub.data, sub.len);
    for (c = 0; c < t->ncols; c++)
        w_str(&m, 3, t->cols[c].name);
    w_bytes(footer, 4, m.data, m.len);
    for (c = 0; c < t->ncols; c++) {
        size_t k, n = children(t->cols[c].kind);

        buf_reset(&m);
        buf_reset(&sub);
        w_uint(&m, 1, t->cols[c].kind);
        for (k = 0; k < n; k++)
            w_varint(&sub, ids[c] + 1 + k);
        if (n)
            w_bytes(&m, 2, sub.data, sub.len);
        if (t->cols[c].kind == ORC_STRUCT)
            w_str(&m, 3, "x");
        w_bytes(footer, 4, m.data, m.len);
        for (k = 0; k < n; k++) {
            buf_reset(&m);
            w_uint(&m, 1, ORC_LONG);
            w_bytes(footer, 4, m.data, m.len);
        }
    }
    buf_release(&m);
    buf_release(&sub);
}

unsigned char *
orc_tfile_build(const struct orc_tfile *t, size_t *len)
{
    struct buf file, footer, ps;
    uint32_t ids[ORC_KIT_MAX_COLS];
    size_t c, s, ntypes = 1, at;

    buf_init(&file, 0);
    buf_init(&footer, 0);
    buf_init(&ps, 0);
    for (c = 0; c < t->ncols; c++) {
        ids[c] = (uint32_t)ntypes;
        ntypes += 1 + children(t->cols[c].kind);
    }
    buf_append(&file, "ORC", 3);
    w_uint(&footer, 1, 3);
    for (s = 0; s < (t->nstripes ? t->nstripes : 1); s++)
        write_stripe(t, ids, ntypes, &file, &footer);
    w_uint(&footer, 2, file.len);
    write_types(t, ids, &footer);
    w_uint(&footer, 6, t->rows * (t->nstripes ? t->nstripes : 1));
    w_uint(&footer, 8, 10000);
    if (t->encrypted)
        w_bytes(&footer, 10, "", 0);
    at = file.len;
    orc_kit_chunks(t->comp, t->block, t->original, footer.data, footer.len, &file);
    w_uint(&ps, 1, file.len - at);
    w_uint(&ps, 2, t->comp);
    w_uint(&ps, 3, t->block);
    w_bytes(&ps, 4, "\x00\x0c", 2);
    w_uint(&ps, 5, 0);
    w_str(&ps, 8000, "ORC");
    buf_append(&file, ps.data, ps.len);
    buf_append_char(&file, (char)ps.len);
    buf_release(&footer);
    buf_release(&ps);
    return (unsigned char *)buf_take(&file, len);
}

/* ---- reading, range by range
 * --------------------------------------------------------------------- */

static const char *
str(const char *s)
{
    return s ? s : "-";
}

enum err
orc_kit_on_line(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    struct buf *out = ctx;
    char size[32] = "-";

    (void)errbuf;
    (void)errlen;
    if (l->has_size)
        snprintf(size, sizeof(size), "%lld", (long long)l->size);
    buf_printf(
        out, "L%zu|%s|%s|%s|%s|%d|%s|%s|%s|%s\n", l->line, l->bucket, l->key, str(l->version_id),
        l->is_latest < 0 ? "-"
        : l->is_latest   ? "1"
                         : "0",
        l->is_delete_marker, size, str(l->last_modified), str(l->etag), str(l->storage_class));
    return ERR_OK;
}

/* A heap copy of file[off..off+n), exactly n bytes (1 when n is 0). */
static unsigned char *
range(const unsigned char *file, uint64_t off, uint64_t n)
{
    unsigned char *p = xmalloc(n ? (size_t)n : 1);

    if (n)
        memcpy(p, file + off, (size_t)n);
    return p;
}

/* Open the file from its tail: the last `guess` bytes, then as many as orc_tail_need says. */
static enum err
open_tail(const unsigned char *file, size_t n, size_t guess, struct orc_file **f, char *errbuf)
{
    uint64_t len = guess < n ? guess : n, need = 0;
    unsigned char *tail = range(file, n - len, len);
    enum err rc = orc_tail_need(tail, (size_t)len, n, &need, errbuf, ERRBUF_SIZE);
    int rounds = 0;

    while (!rc && need > len && rounds++ < 2) {
        free(tail);
        len = need;
        tail = range(file, n - len, len);
        rc = orc_tail_need(tail, (size_t)len, n, &need, errbuf, ERRBUF_SIZE);
    }
    if (!rc)
        rc = orc_file_open(tail, (size_t)len, n, f, errbuf, ERRBUF_SIZE);
    free(tail);
    return rc;
}

static enum err
decode_stripe(const unsigned char *file, const struct orc_file *f, size_t i, struct buf *out,
              char *errbuf)
{
    struct orc_stripe_range r;
    struct orc_stripe *s = NULL;
    uint64_t off, len;
    unsigned char *footer, *span;
    enum err rc;

    orc_file_stripe(f, i, &r);
    footer = range(file, r.footer_offset, r.footer_length);
    rc = orc_stripe_open(f, i, footer, (size_t)r.footer_length, &s, errbuf, ERRBUF_SIZE);
    free(footer);
    if (rc)
        return rc;
    orc_stripe_span(s, &off, &len);
    if (off < r.offset || off + len > r.footer_offset)
        abort(); /* the span lies within the stripe's index and data */
    span = range(file, off, len);
    rc = orc_stripe_decode(s, span, (size_t)len, orc_kit_on_line, out, errbuf, ERRBUF_SIZE);
    free(span);
    orc_stripe_free(s);
    return rc;
}

char *
orc_kit_decode(const unsigned char *file, size_t n, size_t guess)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_file *f = NULL;
    struct buf out;
    size_t i;
    enum err rc;

    buf_init(&out, 0);
    rc = open_tail(file, n, guess, &f, errbuf);
    for (i = 0; !rc && i < orc_file_stripe_count(f); i++)
        rc = decode_stripe(file, f, i, &out, errbuf);
    if (rc)
        buf_printf(&out, "rc %d: %s\n", (int)rc, errbuf);
    orc_file_free(f);
    return buf_take(&out, NULL);
}
