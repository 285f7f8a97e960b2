/*
 * orc.c - S3 Inventory data files in Apache ORC, read by byte ranges (pure)
 *
 * The file side: the tail (PostScript, its length byte, the Footer; the
 * stripe statistics before them are not needed) and the binding of the
 * root struct's fields to the inventory columns. The stripe side: the
 * stripe footer, the span of the streams to read, and the row loop that
 * turns one value per bound column into a struct inventory_line.
 *
 * Invariants: every stripe range was checked against the file at open, so
 * stream offsets (cumulative from the stripe's offset, within its index and
 * data sections) fit in uint64_t and lie within the file. The strings of a
 * line live in the columns' value buffers (and the quoted eTag in
 * rows.etag) until the callback returns.
 * Thread-safety: no globals; struct orc_file is read-only after open.
 */
#include "codec/orc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/orc_column.h"
#include "codec/orc_meta.h"
#include "codec/orc_stream.h"
#include "codec/s3_fields.h"
#include "core/buf.h"

enum col {
    COL_BUCKET,
    COL_KEY,
    COL_VERSION_ID,
    COL_IS_LATEST,
    COL_IS_DELETE_MARKER,
    COL_SIZE,
    COL_LAST_MODIFIED,
    COL_ETAG,
    COL_STORAGE_CLASS,
    NCOLS
};

/* S3's ORC field names, also matched without '_' and case (so "VersionId" binds too) */
static const char *const col_names[NCOLS] = {
    "bucket",           "key",  "version_id",         "is_latest",
    "is_delete_marker", "size", "last_modified_date", "e_tag",
    "storage_class"};

struct orc_file {
    uint64_t file_size;
    struct orc_postscript ps;
    struct orc_footer footer;
    long bind[NCOLS]; /* index into footer.fields, -1 = absent */
};

struct orc_stripe {
    const struct orc_file *file;
    struct orc_stripe_info info;
    struct orc_stripe_footer sf;
    uint64_t span_offset;
    uint64_t span_length;
};

/* ---- the tail ------------------------------------------------------------------------------ */

/* The PostScript from the tail, and the tail length the footer needs. */
static enum err
read_tail(const unsigned char *tail, size_t len, uint64_t file_size, struct orc_postscript *ps,
          uint64_t *need, char *errbuf, size_t errlen)
{
    size_t ps_len;
    enum err rc;

    if (len == 0 || len > file_size)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "ORC tail of %zu bytes for a file of %llu bytes", len,
                       (unsigned long long)file_size);
    ps_len = tail[len - 1];
    if (ps_len == 0 || ps_len + 1 > file_size)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "not an ORC file (postscript length)");
    *need = ps_len + 1;
    if (len < *need)
        return ERR_OK;
    rc = orc_postscript_parse(tail + len - 1 - ps_len, ps_len, ps, errbuf, errlen);
    if (rc)
        return rc;
    if (ps->footer_length > ORC_MAX_META_BYTES)
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "ORC footer of %llu bytes (the limit is %d)",
                       (unsigned long long)ps->footer_length, ORC_MAX_META_BYTES);
    *need += ps->footer_length;
    if (file_size < 3 || *need > file_size - 3 || ps->metadata_length > file_size - 3 - *need)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "ORC footer and metadata run past the start of the file");
    return ERR_OK;
}

enum err
orc_tail_need(const void *tail, size_t len, uint64_t file_size, uint64_t *need, char *errbuf,
              size_t errlen)
{
    struct orc_postscript ps;

    return read_tail(tail, len, file_size, &ps, need, errbuf, errlen);
}

/* Every stripe lies after the header and before the metadata section. */
static enum err
check_stripes(const struct orc_file *f, uint64_t tail, char *errbuf, size_t errlen)
{
    uint64_t end = f->file_size - tail - f->ps.metadata_length;
    size_t i;

    for (i = 0; i < f->footer.nstripes; i++) {
        const struct orc_stripe_info *s = &f->footer.stripes[i];

        if (s->offset < 3 || s->offset > end || s->index_length > end - s->offset ||
            s->data_length > end - s->offset - s->index_length ||
            s->footer_length > end - s->offset - s->index_length - s->data_length)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "ORC stripe %zu lies outside the file",
                           i);
    }
    return ERR_OK;
}

/* ---- binding ------------------------------------------------------------------------------- */

static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* a and b are equal, ASCII case-insensitively and ignoring '_'. */
static int
same_name(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_')
            a++;
        while (*b == '_')
            b++;
        if (lower(*a) != lower(*b))
            return 0;
        if (!*a)
            return 1;
        a++;
        b++;
    }
}

static int
is_string(enum orc_type_kind k)
{
    return k == ORC_STRING || k == ORC_VARCHAR || k == ORC_CHAR;
}

/* The field's type suits column c. */
static int
type_fits(enum col c, enum orc_type_kind k)
{
    switch (c) {
    case COL_IS_LATEST:
    case COL_IS_DELETE_MARKER:
        return k == ORC_BOOLEAN;
    case COL_SIZE:
        return k == ORC_BYTE || k == ORC_SHORT || k == ORC_INT || k == ORC_LONG;
    case COL_LAST_MODIFIED:
        return k == ORC_TIMESTAMP || k == ORC_TIMESTAMP_INSTANT || k == ORC_DATE || is_string(k);
    default:
        return is_string(k);
    }
}

static enum err
bind_fields(struct orc_file *f, char *errbuf, size_t errlen)
{
    size_t i;
    int c;

    for (c = 0; c < NCOLS; c++)
        f->bind[c] = -1;
    for (i = 0; i < f->footer.nfields; i++) {
        const struct orc_field *fd = &f->footer.fields[i];

        for (c = 0; c < NCOLS; c++) {
            if (!same_name(fd->name, col_names[c]))
                continue;
            if (f->bind[c] >= 0)
                return err_set(ERR_BAD_INPUT, errbuf, errlen, "ORC schema names %s twice",
                               col_names[c]);
            if (!type_fits((enum col)c, fd->kind))
                return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                               "field %s: ORC type %s is not supported for it", fd->name,
                               orc_kind_name(fd->kind));
            f->bind[c] = (long)i;
        }
    }
    if (f->bind[COL_BUCKET] < 0 || f->bind[COL_KEY] < 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "ORC schema has no bucket or no key field");
    return ERR_OK;
}

/* ---- the file ------------------------------------------------------------------------------ */

enum err
orc_file_open(const void *tail, size_t len, uint64_t file_size, struct orc_file **out, char *errbuf,
              size_t errlen)
{
    struct orc_file *f = xcalloc(1, sizeof(*f));
    const unsigned char *t = tail;
    struct buf footer;
    uint64_t need = 0;
    enum err rc;

    *out = NULL;
    buf_init(&footer, 0);
    f->file_size = file_size;
    rc = read_tail(t, len, file_size, &f->ps, &need, errbuf, errlen);
    if (!rc && need > len)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "ORC tail too short: %zu bytes of the %llu needed", len,
                     (unsigned long long)need);
    if (!rc)
        rc = orc_decompress_all(f->ps.compression, (size_t)f->ps.block_size, t + len - need,
                                (size_t)f->ps.footer_length, ORC_MAX_META_BYTES, &footer,
                                "ORC footer", errbuf, errlen);
    if (!rc)
        rc = orc_footer_parse(footer.data, footer.len, &f->footer, errbuf, errlen);
    if (!rc)
        rc = check_stripes(f, need, errbuf, errlen);
    if (!rc)
        rc = bind_fields(f, errbuf, errlen);
    buf_release(&footer);
    if (rc) {
        orc_file_free(f);
        return rc;
    }
    *out = f;
    return ERR_OK;
}

void
orc_file_free(struct orc_file *f)
{
    if (!f)
        return;
    orc_footer_release(&f->footer);
    free(f);
}

uint64_t
orc_file_rows(const struct orc_file *f)
{
    return f->footer.rows;
}

size_t
orc_file_stripe_count(const struct orc_file *f)
{
    return f->footer.nstripes;
}

void
orc_file_stripe(const struct orc_file *f, size_t i, struct orc_stripe_range *out)
{
    const struct orc_stripe_info *s;

    memset(out, 0, sizeof(*out));
    if (i >= f->footer.nstripes)
        return;
    s = &f->footer.stripes[i];
    out->offset = s->offset;
    out->length = s->index_length + s->data_length + s->footer_length;
    out->footer_offset = s->offset + s->index_length + s->data_length;
    out->footer_length = s->footer_length;
    out->rows = s->rows;
    out->first_row = s->first_row;
}

/* ---- a stripe ------------------------------------------------------------------------------ */

/* A stream orc_stripe_decode reads: the root's PRESENT, and the bound columns' data streams. */
static int
wanted(const struct orc_file *f, const struct orc_stream_info *st)
{
    int c;

    if (st->kind > ORC_SECONDARY || st->kind == ORC_DICTIONARY_COUNT || st->length == 0)
        return 0;
    if (st->column == 0)
        return st->kind == ORC_PRESENT;
    for (c = 0; c < NCOLS; c++) {
        if (f->bind[c] >= 0 && f->footer.fields[f->bind[c]].column == st->column)
            return 1;
    }
    return 0;
}

static void
find_span(struct orc_stripe *s)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    size_t i;

    for (i = 0; i < s->sf.nstreams; i++) {
        const struct orc_stream_info *st = &s->sf.streams[i];

        if (!wanted(s->file, st))
            continue;
        if (st->offset < lo)
            lo = st->offset;
        if (st->offset + st->length > hi)
            hi = st->offset + st->length;
    }
    s->span_offset = lo == UINT64_MAX ? s->info.offset : lo;
    s->span_length = lo == UINT64_MAX ? 0 : hi - lo;
}

enum err
orc_stripe_open(const struct orc_file *f, size_t i, const void *footer, size_t len,
                struct orc_stripe **out, char *errbuf, size_t errlen)
{
    struct orc_stripe *s;
    struct buf sf;
    enum err rc;

    *out = NULL;
    if (i >= f->footer.nstripes)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "no ORC stripe %zu (the file has %zu)", i,
                       f->footer.nstripes);
    if (f->footer.stripes[i].footer_length > ORC_MAX_META_BYTES)
        return err_set(ERR_TOO_LARGE, errbuf, errlen,
                       "ORC stripe footer of %llu bytes (the limit is %d)",
                       (unsigned long long)f->footer.stripes[i].footer_length, ORC_MAX_META_BYTES);
    if (len < f->footer.stripes[i].footer_length)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "ORC stripe %zu footer: %zu bytes of the %llu needed", i, len,
                       (unsigned long long)f->footer.stripes[i].footer_length);
    s = xcalloc(1, sizeof(*s));
    s->file = f;
    s->info = f->footer.stripes[i];
    buf_init(&sf, 0);
    rc = orc_decompress_all(f->ps.compression, (size_t)f->ps.block_size, footer,
                            (size_t)s->info.footer_length, ORC_MAX_META_BYTES, &sf,
                            "ORC stripe footer", errbuf, errlen);
    if (!rc)
        rc = orc_stripe_footer_parse(sf.data, sf.len, s->info.offset,
                                     s->info.index_length + s->info.data_length, &s->sf, errbuf,
                                     errlen);
    buf_release(&sf);
    if (rc) {
        orc_stripe_free(s);
        return rc;
    }
    find_span(s);
    *out = s;
    return ERR_OK;
}

void
orc_stripe_free(struct orc_stripe *s)
{
    if (!s)
        return;
    orc_stripe_footer_release(&s->sf);
    free(s);
}

void
orc_stripe_span(const struct orc_stripe *s, uint64_t *offset, uint64_t *length)
{
    *offset = s->span_offset;
    *length = s->span_length;
}

/* ---- rows ---------------------------------------------------------------------------------- */

/* What one decode holds: a column per bound field, the root's PRESENT bits. */
struct rows {
    const struct orc_stripe *s;
    struct orc_column cols[NCOLS];
    int opened[NCOLS];
    int has_root;
    struct orc_stream root_s;
    struct orc_bool_rle root;
    struct buf etag; /* the quoted eTag of the current line */
    char lm[S3_TIME_BUF];
};

static const char *
field_name(const struct rows *w, enum col c)
{
    return w->s->file->footer.fields[w->s->file->bind[c]].name;
}

/* The column slot of a stream kind, or -1 for streams a column does not read. */
static int
slot_of(uint32_t kind)
{
    switch (kind) {
    case ORC_PRESENT:
        return ORC_S_PRESENT;
    case ORC_DATA:
        return ORC_S_DATA;
    case ORC_LENGTH:
        return ORC_S_LENGTH;
    case ORC_DICTIONARY_DATA:
        return ORC_S_DICT;
    case ORC_SECONDARY:
        return ORC_S_SECONDARY;
    default:
        return -1;
    }
}

/* Point spec's streams at their bytes: data holds the file from the span's offset on. */
static enum err
find_streams(const struct orc_stripe *s, uint32_t column, const unsigned char *data,
             struct orc_column_spec *spec, char *errbuf, size_t errlen)
{
    static const unsigned char empty[1];
    size_t i;

    for (i = 0; i < s->sf.nstreams; i++) {
        const struct orc_stream_info *st = &s->sf.streams[i];
        int k = slot_of(st->kind);

        if (st->column != column || k < 0)
            continue;
        if (spec->stream[k])
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "malformed ORC stripe footer (field %s has two streams of kind %u)",
                           spec->name, st->kind);
        spec->stream[k] = st->length ? data + (st->offset - s->span_offset) : empty;
        spec->stream_len[k] = (size_t)st->length;
    }
    return ERR_OK;
}

static enum err
open_column(struct rows *w, enum col c, const unsigned char *data, char *errbuf, size_t errlen)
{
    const struct orc_stripe *s = w->s;
    const struct orc_field *fd = &s->file->footer.fields[s->file->bind[c]];
    struct orc_column_spec spec;
    enum err rc;

    memset(&spec, 0, sizeof(spec));
    spec.name = fd->name;
    spec.kind = fd->kind;
    spec.compression = s->file->ps.compression;
    spec.block = (size_t)s->file->ps.block_size;
    spec.rows = s->info.rows;
    spec.timezone = s->sf.timezone;
    if (fd->column >= s->sf.nencodings)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "malformed ORC stripe footer (no encoding for field %s)", fd->name);
    spec.encoding = s->sf.encodings[fd->column];
    rc = find_streams(s, fd->column, data, &spec, errbuf, errlen);
    if (rc)
        return rc;
    w->opened[c] = 1;
    return orc_column_open(&w->cols[c], &spec, errbuf, errlen);
}

/* The root struct's PRESENT stream, when there is one. */
static void
open_root(struct rows *w, const unsigned char *data)
{
    const struct orc_stripe *s = w->s;
    size_t i;

    for (i = 0; i < s->sf.nstreams; i++) {
        const struct orc_stream_info *st = &s->sf.streams[i];

        if (st->column != 0 || st->kind != ORC_PRESENT || w->has_root)
            continue;
        orc_stream_init(&w->root_s, s->file->ps.compression, (size_t)s->file->ps.block_size,
                        st->length ? data + (st->offset - s->span_offset) : NULL,
                        (size_t)st->length, "root struct: PRESENT stream");
        orc_bool_rle_init(&w->root, &w->root_s);
        w->has_root = 1;
    }
}

/* A string column's value, NULL when null or empty. */
static enum err
string_of(const struct rows *w, const struct orc_value *v, enum col c, const char **out,
          char *errbuf, size_t errlen)
{
    *out = NULL;
    if (!v->present || v->len == 0)
        return ERR_OK;
    if (memchr(v->s, '\0', v->len))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "NUL byte in %s", field_name(w, c));
    *out = v->s;
    return ERR_OK;
}

/* The eTag quoted ("...") unless it already is, or is a weak W/"..." one. */
static const char *
quote_etag(struct rows *w, const char *e)
{
    size_t n;

    if (!e)
        return NULL;
    n = strlen(e);
    if ((n >= 2 && e[0] == '"' && e[n - 1] == '"') ||
        (n >= 4 && !memcmp(e, "W/\"", 3) && e[n - 1] == '"'))
        return e;
    buf_reset(&w->etag);
    buf_append_char(&w->etag, '"');
    buf_append(&w->etag, e, n);
    buf_append_char(&w->etag, '"');
    return w->etag.data;
}

/* IsLatest, IsDeleteMarker, Size and LastModifiedDate into l. */
static enum err
scalars(struct rows *w, const struct orc_value *v, struct inventory_line *l, char *errbuf,
        size_t errlen)
{
    const char *s = NULL;
    int64_t ms = 0;
    enum err rc;

    l->is_latest = v[COL_IS_LATEST].present ? (int)v[COL_IS_LATEST].i : -1;
    l->is_delete_marker = v[COL_IS_DELETE_MARKER].present ? (int)v[COL_IS_DELETE_MARKER].i : 0;
    if (v[COL_SIZE].present) {
        if (v[COL_SIZE].i < 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s is negative",
                           field_name(w, COL_SIZE));
        l->has_size = 1;
        l->size = v[COL_SIZE].i;
    }
    if (!v[COL_LAST_MODIFIED].present)
        return ERR_OK;
    if (w->cols[COL_LAST_MODIFIED].kind == ORC_STRING ||
        w->cols[COL_LAST_MODIFIED].kind == ORC_VARCHAR ||
        w->cols[COL_LAST_MODIFIED].kind == ORC_CHAR) {
        rc = string_of(w, &v[COL_LAST_MODIFIED], COL_LAST_MODIFIED, &s, errbuf, errlen);
        if (rc || !s)
            return rc;
        if (!s3_time_parse_ms(s, strlen(s), &ms))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s is not an RFC 3339 date-time",
                           field_name(w, COL_LAST_MODIFIED));
    } else {
        ms = v[COL_LAST_MODIFIED].i;
    }
    s3_time_format_ms(ms, w->lm);
    l->last_modified = w->lm;
    l->last_modified_ms = ms;
    return ERR_OK;
}

static enum err
make_line(struct rows *w, const struct orc_value *v, struct inventory_line *l, char *errbuf,
          size_t errlen)
{
    const char *etag = NULL;
    enum err rc = scalars(w, v, l, errbuf, errlen);

    if (!rc)
        rc = string_of(w, &v[COL_BUCKET], COL_BUCKET, &l->bucket, errbuf, errlen);
    if (!rc)
        rc = string_of(w, &v[COL_KEY], COL_KEY, &l->key, errbuf, errlen);
    if (!rc)
        rc = string_of(w, &v[COL_VERSION_ID], COL_VERSION_ID, &l->version_id, errbuf, errlen);
    if (!rc)
        rc = string_of(w, &v[COL_ETAG], COL_ETAG, &etag, errbuf, errlen);
    if (!rc)
        rc = string_of(w, &v[COL_STORAGE_CLASS], COL_STORAGE_CLASS, &l->storage_class, errbuf,
                       errlen);
    if (rc)
        return rc;
    if (!l->bucket || !l->key)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "empty %s",
                       field_name(w, l->bucket ? COL_KEY : COL_BUCKET));
    l->etag = quote_etag(w, etag);
    return ERR_OK;
}

/* Prefix the message in errbuf with the row number. */
static enum err
at_row(enum err rc, uint64_t row, char *errbuf, size_t errlen)
{
    char msg[ERRBUF_SIZE];

    if (!errbuf || errlen == 0)
        return rc;
    snprintf(msg, sizeof(msg), "%s", errbuf);
    return err_set(rc, errbuf, errlen, "row %llu: %s", (unsigned long long)row, msg);
}

/* Row r of the stripe to the callback (unless the root struct marks it null). */
static enum err
one_row(struct rows *w, uint64_t r, inventory_line_fn fn, void *ctx, char *errbuf, size_t errlen)
{
    struct orc_value v[NCOLS];
    struct inventory_line l;
    uint64_t row = w->s->info.first_row + r + 1;
    int present = 1, c;
    enum err rc = ERR_OK;

    memset(v, 0, sizeof(v));
    memset(&l, 0, sizeof(l));
    if (w->has_root)
        rc = orc_bool_rle_next(&w->root, &present, errbuf, errlen);
    for (c = 0; !rc && present && c < NCOLS; c++) {
        if (w->opened[c])
            rc = orc_column_next(&w->cols[c], &v[c], errbuf, errlen);
    }
    if (!rc && present)
        rc = make_line(w, v, &l, errbuf, errlen);
    if (rc)
        return at_row(rc, row, errbuf, errlen);
    if (!present)
        return ERR_OK;
    l.line = (size_t)row;
    return fn(ctx, &l, errbuf, errlen);
}

static void
close_rows(struct rows *w)
{
    int c;

    for (c = 0; c < NCOLS; c++) {
        if (w->opened[c])
            orc_column_close(&w->cols[c]);
    }
    if (w->has_root)
        orc_stream_release(&w->root_s);
    buf_release(&w->etag);
    free(w);
}

enum err
orc_stripe_decode(const struct orc_stripe *s, const void *data, size_t len, inventory_line_fn fn,
                  void *ctx, char *errbuf, size_t errlen)
{
    struct rows *w;
    uint64_t r;
    int c;
    enum err rc = ERR_OK;

    if (len < s->span_length)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "ORC stripe data: %zu bytes of the %llu needed", len,
                       (unsigned long long)s->span_length);
    w = xcalloc(1, sizeof(*w));
    w->s = s;
    buf_init(&w->etag, 0);
    for (c = 0; !rc && c < NCOLS; c++) {
        if (s->file->bind[c] >= 0)
            rc = open_column(w, (enum col)c, data, errbuf, errlen);
    }
    if (!rc)
        open_root(w, data);
    for (r = 0; !rc && r < s->info.rows; r++)
        rc = one_row(w, r, fn, ctx, errbuf, errlen);
    close_rows(w);
    return rc;
}

enum err
orc_stripe_decode_whole(const struct orc_file *f, size_t i, const void *stripe, size_t len,
                        inventory_line_fn fn, void *ctx, char *errbuf, size_t errlen)
{
    const unsigned char *p = stripe;
    struct orc_stripe_range range;
    struct orc_stripe *s = NULL;
    enum err rc;

    if (i >= f->footer.nstripes)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "no ORC stripe %zu (the file has %zu)", i,
                       f->footer.nstripes);
    orc_file_stripe(f, i, &range);
    if (len < range.length)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "ORC stripe %zu: %zu bytes of the %llu", i,
                       len, (unsigned long long)range.length);
    rc = orc_stripe_open(f, i, p + (range.footer_offset - range.offset),
                         (size_t)range.footer_length, &s, errbuf, errlen);
    if (!rc)
        rc = orc_stripe_decode(s, p + (s->span_offset - range.offset), (size_t)s->span_length, fn,
                               ctx, errbuf, errlen);
    orc_stripe_free(s);
    return rc;
}
