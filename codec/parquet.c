/*
 * parquet.c - S3 Inventory lines from a Parquet inventory file (pure)
 *
 * S3 Inventory's Parquet files hold one flat row per object version with
 * snake_case columns (bucket, key, version_id, is_latest, is_delete_marker,
 * size, last_modified_date, e_tag, storage_class, and more that are not used
 * here). The columns are bound by name when the decoder is made; a row
 * group is then read with one column reader per bound column, in lockstep,
 * one row at a time, so memory is one page per column whatever the row
 * group's size.
 *
 * Each row is turned into a struct inventory_line by the CSV decoder's rules
 * (codec/inventory_decoder.c): absent strings are NULL, times go through
 * s3_time_format_ms, eTags get quoted. Strings are copied NUL-terminated into
 * d->scratch and live until the callback returns.
 * Thread-safety: one decoder per thread; the meta may be shared.
 */
#include "codec/parquet.h"
#include "codec/parquet_internal.h"
#include "codec/s3_fields.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

enum icol {
    IC_BUCKET,
    IC_KEY,
    IC_VERSION_ID,
    IC_IS_LATEST,
    IC_IS_DELETE_MARKER,
    IC_SIZE,
    IC_LAST_MODIFIED,
    IC_ETAG,
    IC_STORAGE_CLASS,
    NICOLS
};

static const char *const icol_names[NICOLS] = {
    "bucket",           "key",  "version_id",         "is_latest",
    "is_delete_marker", "size", "last_modified_date", "e_tag",
    "storage_class"};

enum kind { K_STRING, K_BOOL, K_SIZE, K_TIME };

static const enum kind icol_kinds[NICOLS] = {K_STRING, K_STRING, K_STRING, K_BOOL,  K_BOOL,
                                             K_SIZE,   K_TIME,   K_STRING, K_STRING};

struct parquet_inventory {
    const struct parquet_meta *m;
    inventory_line_fn fn;
    void *ctx;
    long idx[NICOLS]; /* column of each field, -1 = absent */
    struct buf scratch;
};

/* ---- binding --------------------------------------------------------------------------------- */

static int
eq_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;

        if (x != *b)
            return 0;
    }
    return *a == *b;
}

/* Column c may hold field k. */
static enum err
check_type(const struct parquet_column *c, enum kind k, char *errbuf, size_t errlen)
{
    static const char *const want[] = {"a string (BYTE_ARRAY)", "a BOOLEAN", "an INT64 or INT32",
                                       "a timestamp (INT96, INT64 TIMESTAMP) or a string"};
    int ok;

    switch (k) {
    case K_STRING:
        ok = c->type == PARQUET_BYTE_ARRAY || c->type == PARQUET_FIXED_LEN_BYTE_ARRAY;
        break;
    case K_BOOL:
        ok = c->type == PARQUET_BOOLEAN;
        break;
    case K_SIZE:
        ok = c->type == PARQUET_INT64 || c->type == PARQUET_INT32;
        break;
    default:
        ok = c->type == PARQUET_INT96 || c->type == PARQUET_BYTE_ARRAY ||
             (c->type == PARQUET_INT64 && c->time_unit != PARQUET_TIME_NONE);
        break;
    }
    if (ok)
        return ERR_OK;
    return err_set(ERR_UNSUPPORTED, errbuf, errlen, "column %s is not %s", c->name, want[k]);
}

enum err
parquet_inventory_new(const struct parquet_meta *m, inventory_line_fn fn, void *ctx,
                      struct parquet_inventory **out, char *errbuf, size_t errlen)
{
    struct parquet_inventory *d = xcalloc(1, sizeof(*d));
    size_t i, k;
    enum err rc = ERR_OK;

    *out = NULL;
    d->m = m;
    d->fn = fn;
    d->ctx = ctx;
    buf_init(&d->scratch, 0);
    for (k = 0; k < NICOLS; k++)
        d->idx[k] = -1;
    for (i = 0; i < m->ncolumns && !rc; i++) {
        for (k = 0; k < NICOLS && !rc; k++) {
            if (!eq_nocase(m->columns[i].name, icol_names[k]))
                continue;
            if (d->idx[k] >= 0)
                rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "the schema has two columns named %s",
                             icol_names[k]);
            else
                rc = check_type(&m->columns[i], icol_kinds[k], errbuf, errlen);
            d->idx[k] = (long)i;
        }
    }
    if (!rc && (d->idx[IC_BUCKET] < 0 || d->idx[IC_KEY] < 0))
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "the file has no %s column",
                     d->idx[IC_BUCKET] < 0 ? "bucket" : "key");
    if (rc) {
        parquet_inventory_free(d);
        return rc;
    }
    *out = d;
    return ERR_OK;
}

void
parquet_inventory_free(struct parquet_inventory *d)
{
    if (!d)
        return;
    buf_release(&d->scratch);
    free(d);
}

enum err
parquet_inventory_range(const struct parquet_inventory *d, size_t rg, uint64_t *offset,
                        uint64_t *len, char *errbuf, size_t errlen)
{
    uint64_t lo = UINT64_MAX, hi = 0, off, n;
    size_t k;

    if (rg >= d->m->nrow_groups)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "no row group %zu (the file has %zu)", rg,
                       d->m->nrow_groups);
    for (k = 0; k < NICOLS; k++) {
        if (d->idx[k] < 0)
            continue;
        parquet_chunk_range(d->m, rg, (size_t)d->idx[k], &off, &n);
        lo = off < lo ? off : lo;
        hi = off + n > hi ? off + n : hi;
    }
    *offset = lo;
    *len = hi - lo;
    if (*len > d->m->limits.max_range_bytes)
        return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                       "row group %zu needs %llu bytes, over the cap of %zu bytes", rg,
                       (unsigned long long)*len, d->m->limits.max_range_bytes);
    return ERR_OK;
}

/* ---- rows ------------------------------------------------------------------------------------ */

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static int
utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0, j, k;
    uint32_t cp, min;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xE0) == 0xC0) {
            k = 1, cp = s[i] & 0x1F, min = 0x80;
        } else if ((s[i] & 0xF0) == 0xE0) {
            k = 2, cp = s[i] & 0x0F, min = 0x800;
        } else if ((s[i] & 0xF8) == 0xF0) {
            k = 3, cp = s[i] & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (k >= n - i)
            return 0;
        for (j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* String field k of the row into scratch (NUL-terminated; an eTag quoted); *off or -1. */
static enum err
copy_string(struct parquet_inventory *d, enum icol k, const struct parquet_value *v, size_t row,
            size_t *off, char *errbuf, size_t errlen)
{
    const char *s = (const char *)v->bytes;
    int quote;

    *off = (size_t)-1;
    if (d->idx[k] < 0 || v->is_null || v->len == 0)
        return ERR_OK;
    if (memchr(s, '\0', v->len))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "row %zu: NUL byte in %s", row,
                       icol_names[k]);
    if (!utf8_valid(v->bytes, v->len))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "row %zu: invalid UTF-8 in %s", row,
                       icol_names[k]);
    quote = k == IC_ETAG && !(v->len >= 2 && s[0] == '"' && s[v->len - 1] == '"') &&
            !(v->len >= 4 && !memcmp(s, "W/\"", 3) && s[v->len - 1] == '"');
    *off = d->scratch.len;
    if (quote)
        buf_append_char(&d->scratch, '"');
    buf_append(&d->scratch, s, v->len);
    if (quote)
        buf_append_char(&d->scratch, '"');
    buf_append_char(&d->scratch, '\0');
    return ERR_OK;
}

/* is_latest, is_delete_marker, size and last_modified_date into l (the date text in lm). */
static enum err
scalars(const struct parquet_inventory *d, const struct parquet_value *v, struct inventory_line *l,
        char lm[S3_TIME_BUF], char *errbuf, size_t errlen)
{
    const struct parquet_value *t = &v[IC_LAST_MODIFIED];
    const struct parquet_column *tc;

    l->is_latest = v[IC_IS_LATEST].is_null ? -1 : v[IC_IS_LATEST].i64 != 0;
    l->is_delete_marker = !v[IC_IS_DELETE_MARKER].is_null && v[IC_IS_DELETE_MARKER].i64 != 0;
    if (!v[IC_SIZE].is_null) {
        if (v[IC_SIZE].i64 < 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "row %zu: size is negative", l->line);
        l->size = v[IC_SIZE].i64;
        l->has_size = 1;
    }
    if (t->is_null) /* also when the column is absent */
        return ERR_OK;
    tc = &d->m->columns[d->idx[IC_LAST_MODIFIED]];
    if (tc->type == PARQUET_BYTE_ARRAY) {
        if (t->len == 0) /* an empty string is absent, as in CSV */
            return ERR_OK;
        if (!s3_time_parse_ms((const char *)t->bytes, t->len, &l->last_modified_ms))
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "row %zu: last_modified_date is not an RFC 3339 date-time", l->line);
    } else if (!parquet_value_time_ms(tc, t, &l->last_modified_ms)) {
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "row %zu: last_modified_date is outside the years 0000-9999", l->line);
    }
    s3_time_format_ms(l->last_modified_ms, lm);
    l->last_modified = lm;
    return ERR_OK;
}

static const char *
at(const struct parquet_inventory *d, size_t off)
{
    return off == (size_t)-1 ? NULL : d->scratch.data + off;
}

/* One row (values of unbound fields are null) to the callback. */
static enum err
emit(struct parquet_inventory *d, size_t row, const struct parquet_value *v, char *errbuf,
     size_t errlen)
{
    static const enum icol strs[] = {IC_BUCKET, IC_KEY, IC_VERSION_ID, IC_ETAG, IC_STORAGE_CLASS};
    struct inventory_line l;
    size_t off[NICOLS], i;
    char lm[S3_TIME_BUF];
    enum err rc;

    memset(&l, 0, sizeof(l));
    l.line = row;
    buf_reset(&d->scratch);
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        rc = copy_string(d, strs[i], &v[strs[i]], row, &off[strs[i]], errbuf, errlen);
        if (rc)
            return rc;
    }
    if (off[IC_BUCKET] == (size_t)-1 || off[IC_KEY] == (size_t)-1)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "row %zu: empty %s", row,
                       off[IC_BUCKET] == (size_t)-1 ? "bucket" : "key");
    rc = scalars(d, v, &l, lm, errbuf, errlen);
    if (rc)
        return rc;
    l.bucket = at(d, off[IC_BUCKET]);
    l.key = at(d, off[IC_KEY]);
    l.version_id = at(d, off[IC_VERSION_ID]);
    l.etag = at(d, off[IC_ETAG]);
    l.storage_class = at(d, off[IC_STORAGE_CLASS]);
    return d->fn(d->ctx, &l, errbuf, errlen);
}

/* A reader for each bound column of row group rg; each chunk must hold one value per row. */
static enum err
open_readers(struct parquet_inventory *d, size_t rg, const void *data, size_t len, uint64_t offset,
             struct parquet_column_reader **r, char *errbuf, size_t errlen)
{
    const struct parquet_row_group *g = &d->m->row_groups[rg];
    size_t k;
    enum err rc;

    for (k = 0; k < NICOLS; k++) {
        const struct parquet_chunk *ch;

        if (d->idx[k] < 0)
            continue;
        ch = &g->chunks[d->idx[k]];
        if (ch->num_values != g->num_rows)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "row group %zu: column %s holds %lld values for %lld rows", rg,
                           icol_names[k], (long long)ch->num_values, (long long)g->num_rows);
        rc = parquet_column_reader_new(d->m, rg, (size_t)d->idx[k], data, len, offset, &r[k],
                                       errbuf, errlen);
        if (rc)
            return rc;
    }
    return ERR_OK;
}

enum err
parquet_inventory_row_group(struct parquet_inventory *d, size_t rg, const void *data, size_t len,
                            uint64_t offset, char *errbuf, size_t errlen)
{
    struct parquet_column_reader *r[NICOLS] = {NULL};
    struct parquet_value v[NICOLS];
    const struct parquet_row_group *g;
    int64_t row;
    size_t k;
    enum err rc;

    if (rg >= d->m->nrow_groups)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "no row group %zu (the file has %zu)", rg,
                       d->m->nrow_groups);
    g = &d->m->row_groups[rg];
    rc = open_readers(d, rg, data, len, offset, r, errbuf, errlen);
    for (row = 0; !rc && row < g->num_rows; row++) {
        for (k = 0; k < NICOLS && !rc; k++) {
            memset(&v[k], 0, sizeof(v[k]));
            v[k].is_null = 1;
            if (r[k])
                rc = parquet_column_reader_next(r[k], &v[k], errbuf, errlen);
        }
        if (!rc)
            rc = emit(d, (size_t)(g->first_row + row + 1), v, errbuf, errlen);
    }
    for (k = 0; k < NICOLS; k++)
        parquet_column_reader_free(r[k]);
    return rc;
}
