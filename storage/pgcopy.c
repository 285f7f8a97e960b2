/*
 * pgcopy.c - writing rows in PostgreSQL's COPY text and binary formats
 *
 * Pure functions over a struct buf (no I/O, no globals): thread-safe. The
 * text-format writers return the buffer's enum err (a capped buffer may
 * refuse to grow); the binary writers append unconditionally.
 */
#include "storage/pgcopy.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "codec/repos_csv.h"
#include "core/hex.h"

/* Append data escaped for COPY text; `array` adds array-literal escaping first. */
static enum err
escape(struct buf *out, const char *data, size_t len, int array)
{
    size_t i;
    size_t start = 0;
    enum err rc;

    rc = buf_reserve(out, len + 16);
    if (rc)
        return rc;
    for (i = 0; i < len; i++) {
        const char *rep = NULL;

        switch (data[i]) {
        case '\\':
            rep = array ? "\\\\\\\\" : "\\\\";
            break;
        case '"':
            rep = array ? "\\\\\"" : NULL;
            break;
        case '\t':
            rep = "\\t";
            break;
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        default:
            break;
        }
        if (!rep)
            continue;
        rc = buf_append(out, data + start, i - start);
        if (!rc)
            rc = buf_append_str(out, rep);
        if (rc)
            return rc;
        start = i + 1;
    }
    return buf_append(out, data + start, len - start);
}

enum err
pgcopy_field(struct buf *out, const char *data, size_t len)
{
    return escape(out, data, len, 0);
}

enum err
pgcopy_array(struct buf *out, const char *const *vals, const size_t *lens, size_t n)
{
    size_t i;
    enum err rc;

    rc = buf_append_char(out, '{');
    for (i = 0; i < n && !rc; i++) {
        if (i)
            rc = buf_append_char(out, ',');
        if (!rc)
            rc = buf_append_char(out, '"');
        if (!rc)
            rc = escape(out, vals[i], lens[i], 1);
        if (!rc)
            rc = buf_append_char(out, '"');
    }
    if (!rc)
        rc = buf_append_char(out, '}');
    return rc;
}

enum err
pgcopy_param_array(struct buf *out, const char *const *vals, const size_t *lens, size_t n)
{
    size_t i;
    enum err rc;

    rc = buf_append_char(out, '{');
    for (i = 0; i < n && !rc; i++)
        rc = pgcopy_param_elem(out, vals[i], lens ? lens[i] : strlen(vals[i]), i == 0);
    if (!rc)
        rc = buf_append_char(out, '}');
    return rc;
}

static void
digest_part(EVP_MD_CTX *ctx, const char *data, size_t len, int with_length)
{
    unsigned char be[4];

    if (with_length) {
        be[0] = (unsigned char)(len >> 24);
        be[1] = (unsigned char)(len >> 16);
        be[2] = (unsigned char)(len >> 8);
        be[3] = (unsigned char)len;
        EVP_DigestUpdate(ctx, be, 4);
    }
    EVP_DigestUpdate(ctx, data, len);
}

void
pgcopy_key_digest_hex(char out[65], const char *origin, size_t origin_len, const char *path,
                      size_t path_len, const char *branch, size_t branch_len)
{
    unsigned char md[32];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        abort();
    digest_part(ctx, origin, origin_len, 1);
    digest_part(ctx, path, path_len, 1);
    digest_part(ctx, branch, branch_len, 0);
    EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    hex_encode(out, md, sizeof(md));
}

enum err
pgcopy_key_digest(struct buf *out, const char *origin, size_t origin_len, const char *path,
                  size_t path_len, const char *branch, size_t branch_len)
{
    char hex[65];
    enum err rc;

    pgcopy_key_digest_hex(hex, origin, origin_len, path, path_len, branch, branch_len);
    rc = buf_append_str(out, "\\\\x"); /* COPY text for \x */
    return rc ? rc : buf_append(out, hex, 64);
}

enum err
pgcopy_repos_row(struct buf *out, const struct repos_csv *doc, size_t r)
{
    const int idx[5] = {doc->idx_origin, doc->idx_path, doc->idx_branch, doc->idx_changeset,
                        doc->idx_publish_uri};
    const char *v[5];
    size_t len[5];
    size_t k;
    enum err rc = ERR_OK;

    for (k = 0; k < 5 && !rc; k++) {
        v[k] = repos_csv_value(doc, r, idx[k], &len[k]);
        rc = pgcopy_field(out, v[k], len[k]);
        if (!rc)
            rc = buf_append_char(out, '\t');
    }
    if (!rc)
        rc = pgcopy_array(out, doc->vals + r * doc->ncols, doc->lens + r * doc->ncols, doc->ncols);
    if (!rc)
        rc = buf_append_char(out, '\t');
    if (!rc)
        rc = pgcopy_key_digest(out, v[0], len[0], v[1], len[1], v[2], len[2]);
    if (!rc)
        rc = buf_append_char(out, '\n');
    return rc;
}

enum err
pgcopy_param_elem(struct buf *out, const char *data, size_t len, int first)
{
    size_t i;
    size_t start = 0;
    enum err rc = ERR_OK;

    if (!first)
        rc = buf_append_char(out, ',');
    if (!rc)
        rc = buf_append_char(out, '"');
    for (i = 0; i < len && !rc; i++) {
        if (data[i] != '"' && data[i] != '\\')
            continue;
        rc = buf_append(out, data + start, i - start);
        if (!rc)
            rc = buf_append_char(out, '\\');
        start = i;
    }
    if (!rc)
        rc = buf_append(out, data + start, len - start);
    if (!rc)
        rc = buf_append_char(out, '"');
    return rc;
}

enum err
pgcopy_param_elem_or_null(struct buf *out, const char *v, int first)
{
    enum err rc = ERR_OK;

    if (!first)
        rc = buf_append_char(out, ',');
    if (rc)
        return rc;
    if (v)
        return pgcopy_param_elem(out, v, strlen(v), 1);
    return buf_append_str(out, "NULL");
}

void
pgcopy_param_arrays_open(struct buf *a, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        buf_init(&a[i], 0);
        buf_append_char(&a[i], '{');
    }
}

void
pgcopy_param_arrays_close(struct buf *a, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        buf_append_char(&a[i], '}');
}

/* ---- binary format ---- */

#define PG_EPOCH_MS 946684800000LL /* 2000-01-01 00:00 UTC */

static void
put_be(struct buf *out, uint64_t v, int n)
{
    char b[8];
    int i;

    for (i = 0; i < n; i++)
        b[i] = (char)(v >> (8 * (n - 1 - i)));
    buf_append(out, b, (size_t)n);
}

void
pgcopy_bin_header(struct buf *out)
{
    static const char sig[] = "PGCOPY\n\377\r\n";

    buf_append(out, sig, sizeof(sig)); /* the signature ends with its NUL */
    put_be(out, 0, 4);                 /* flags */
    put_be(out, 0, 4);                 /* header extension length */
}

void
pgcopy_bin_row(struct buf *out, int nfields)
{
    put_be(out, (uint64_t)nfields, 2);
}

void
pgcopy_bin_null(struct buf *out)
{
    put_be(out, 0xffffffffu, 4);
}

void
pgcopy_bin_text(struct buf *out, const char *data, size_t len)
{
    put_be(out, (uint64_t)len, 4);
    buf_append(out, data, len);
}

void
pgcopy_bin_bool(struct buf *out, int v)
{
    put_be(out, 1, 4);
    buf_append_char(out, v ? 1 : 0);
}

void
pgcopy_bin_int4(struct buf *out, int32_t v)
{
    put_be(out, 4, 4);
    put_be(out, (uint64_t)(uint32_t)v, 4);
}

void
pgcopy_bin_int8(struct buf *out, int64_t v)
{
    put_be(out, 8, 4);
    put_be(out, (uint64_t)v, 8);
}

void
pgcopy_bin_uuid(struct buf *out, const unsigned char u[16])
{
    put_be(out, 16, 4);
    buf_append(out, u, 16);
}

void
pgcopy_bin_time_ms(struct buf *out, int64_t epoch_ms)
{
    pgcopy_bin_int8(out, (epoch_ms - PG_EPOCH_MS) * 1000);
}

void
pgcopy_bin_trailer(struct buf *out)
{
    put_be(out, 0xffff, 2);
}

int64_t
pgcopy_bin_get_int8(const char *v)
{
    const unsigned char *b = (const unsigned char *)v;
    uint64_t u = 0;
    int i;

    for (i = 0; i < 8; i++)
        u = (u << 8) | b[i];
    return (int64_t)u;
}

int64_t
pgcopy_bin_get_time_us(const char *v)
{
    const int64_t shift = PG_EPOCH_MS * 1000;
    int64_t us = pgcopy_bin_get_int8(v);

    /* 'infinity' is INT64_MAX, and the latest finite times would overflow too */
    return us > INT64_MAX - shift ? INT64_MAX : us + shift;
}
