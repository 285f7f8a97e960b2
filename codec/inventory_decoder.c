/*
 * inventory_decoder.c - S3 Inventory manifests and CSV data files (pure)
 *
 * The manifest is one jansson document, checked field by field into owned
 * strings. The CSV side sits on csv_parser: it binds columns by name (from
 * fileSchema, a header line, or the default list), checks each record's
 * field count and values, and hands a struct inventory_line to the caller.
 *
 * Invariants: the first error is sticky (d->rc, d->msg): every later feed or
 * finish returns it again. The parser's syntax/UTF-8 reports are latched
 * (the first one wins) and fail the next record, or the feed that produced
 * them, whichever comes first; they also win over a limit error later in
 * the same feed. So the lines handed over and the final result do not
 * depend on where the input was cut. Strings of a line live in
 * d->scratch (and one decoded key) until the callback returns.
 * Thread-safety: one decoder per thread; no globals.
 */
#include "codec/inventory_decoder.h"
#include "codec/s3_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/hex.h"
#include "codec/csv_parser.h"
#include "codec/s3_event_decoder.h"

#define MAX_COLUMNS 1000
#define MAX_FIELD_BYTES (64 * 1024)
#define TIME_BUF S3_TIME_BUF

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

/* also the default column list, in this order */
static const char *const col_names[NCOLS] = {
    "Bucket",           "Key",  "VersionId",   "IsLatest", "IsDeleteMarker", "Size",
    "LastModifiedDate", "ETag", "StorageClass"};

struct inventory_csv {
    struct csv_parser *parser;
    inventory_line_fn fn;
    void *ctx;

    int bound;       /* columns are known (schema, header or default) */
    size_t ncols;    /* fields per line */
    long idx[NCOLS]; /* field index of each column, -1 = absent */
    enum err rc;     /* first error, sticky */
    char msg[ERRBUF_SIZE];
    int finished;

    int syn_seen; /* a syntax/UTF-8 report is latched */
    size_t syn_line;
    char syn_detail[128];

    struct buf scratch; /* NUL-terminated copies of the current line's strings */
};

/* ---- small strict parsers ------------------------------------------------------------------ */

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..len) equals the NUL-terminated word, ASCII case-insensitively. */
static int
eq_nocase(const char *s, size_t len, const char *word)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (!word[i] || lower(s[i]) != lower(word[i]))
            return 0;
    }
    return word[len] == '\0';
}

/* Trim ASCII white space around s[0..*len). */
static const char *
trim(const char *s, size_t *len)
{
    while (*len && is_space(*s)) {
        s++;
        (*len)--;
    }
    while (*len && is_space(s[*len - 1]))
        (*len)--;
    return s;
}

/* Decimal digits only, no sign, fitting int64; 1 on success. */
static int
parse_int64(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    size_t i;

    if (len == 0)
        return 0;
    for (i = 0; i < len; i++) {
        int d;

        if (s[i] < '0' || s[i] > '9')
            return 0;
        d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* "true" / "false", any case: 1 / 0; -1 otherwise. */
static int
parse_bool(const char *s, size_t len)
{
    if (eq_nocase(s, len, "true"))
        return 1;
    if (eq_nocase(s, len, "false"))
        return 0;
    return -1;
}

/* n digits at s into *val; 0 if any is not a digit. */
/* ---- manifest -------------------------------------------------------------------------------- */

/*
 * A bucket given as a name or as "arn:<partition>:s3:::<name>" (partition
 * "aws" or "aws-..."); *name gets a copy of the bucket name.
 */
static enum err
parse_bucket(const char *field, const char *s, char **name, char *errbuf, size_t errlen)
{
    const char *b = s;
    size_t i, n;

    if (!strncmp(s, "arn:", 4)) {
        const char *part = s + 4, *svc = strchr(part, ':');

        if (!svc || !((svc - part == 3 && !strncmp(part, "aws", 3)) ||
                      (svc - part > 4 && !strncmp(part, "aws-", 4))))
            return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "%s: malformed ARN", field);
        if (strncmp(svc + 1, "s3:::", 5))
            return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "%s: not an S3 bucket ARN", field);
        b = svc + 6;
    }
    n = strlen(b);
    if (n == 0 || n > 255)
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "%s: invalid bucket name", field);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];

        if (c <= 0x20 || c >= 0x7F || c == '/' || c == ':')
            return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "%s: invalid bucket name", field);
    }
    *name = xstrdup(b);
    return ERR_OK;
}

/* The string member `name`: *val NULL when absent or null; 422 when present but no string. */
static enum err
get_string(json_t *obj, const char *name, const char **val, char *errbuf, size_t errlen)
{
    json_t *j = json_object_get(obj, name);

    *val = NULL;
    if (!j || json_is_null(j))
        return ERR_OK;
    if (!json_is_string(j))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "%s is not a string", name);
    *val = json_string_value(j);
    return ERR_OK;
}

static enum err
need_string(json_t *obj, const char *name, const char **val, char *errbuf, size_t errlen)
{
    enum err rc = get_string(obj, name, val, errbuf, errlen);

    if (!rc && (!*val || !**val))
        rc = err_set(ERR_UNPROCESSABLE, errbuf, errlen, "%s is required", name);
    return rc;
}

/* creationTimestamp: epoch milliseconds as a JSON integer or a string of digits. */
static enum err
parse_creation(json_t *root, struct inventory_manifest *m, char *errbuf, size_t errlen)
{
    json_t *j = json_object_get(root, "creationTimestamp");
    const char *s;

    if (!j || json_is_null(j))
        return ERR_OK;
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        m->creation_ms = (int64_t)json_integer_value(j);
        m->has_creation_ms = 1;
        return ERR_OK;
    }
    s = json_is_string(j) ? json_string_value(j) : NULL;
    if (!s || !parse_int64(s, json_string_length(j), &m->creation_ms))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                       "creationTimestamp is not epoch milliseconds");
    m->has_creation_ms = 1;
    return ERR_OK;
}

static enum err
parse_file(json_t *j, size_t i, struct inventory_file *f, char *errbuf, size_t errlen)
{
    json_t *size;
    const char *key, *md5;
    size_t k;
    enum err rc;

    if (!json_is_object(j))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "files[%zu] is not an object", i);
    rc = get_string(j, "key", &key, errbuf, errlen);
    if (!rc && (!key || !*key))
        rc = err_set(ERR_UNPROCESSABLE, errbuf, errlen, "files[%zu].key is required", i);
    if (!rc)
        rc = get_string(j, "MD5checksum", &md5, errbuf, errlen);
    if (rc)
        return rc;
    f->key = xstrdup(key);
    if (md5) {
        if (strlen(md5) != 32)
            return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                           "files[%zu].MD5checksum is not 32 hex digits", i);
        for (k = 0; k < 32; k++) {
            if (!hex_is_digit(md5[k]))
                return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                               "files[%zu].MD5checksum is not 32 hex digits", i);
        }
        f->md5_hex = xstrdup(md5);
        for (k = 0; k < 32; k++)
            f->md5_hex[k] = lower(f->md5_hex[k]);
    }
    size = json_object_get(j, "size");
    if (size && !json_is_null(size)) {
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                           "files[%zu].size is not a non-negative integer", i);
        f->size = (int64_t)json_integer_value(size);
        f->has_size = 1;
    }
    return ERR_OK;
}

static enum err
parse_format(const char *fmt, struct inventory_manifest *m, char *errbuf, size_t errlen)
{
    static const struct {
        const char *name; /* as S3 writes it */
        enum inventory_format format;
    } formats[] = {
        {"CSV", INVENTORY_CSV},
        {"ORC", INVENTORY_ORC},
        {"Parquet", INVENTORY_PARQUET},
    };
    size_t n = strlen(fmt);
    size_t i;

    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (eq_nocase(fmt, n, formats[i].name)) {
            m->format = formats[i].format;
            m->file_format = xstrdup(formats[i].name);
            return ERR_OK;
        }
    }
    return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "unknown fileFormat (CSV, ORC or Parquet)");
}

static enum err
parse_manifest(json_t *root, struct inventory_manifest *m, char *errbuf, size_t errlen)
{
    const char *dest, *fmt, *src, *schema;
    json_t *files;
    size_t i;
    enum err rc;

    if (!json_is_object(root))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "manifest is not a JSON object");
    rc = need_string(root, "destinationBucket", &dest, errbuf, errlen);
    if (!rc)
        rc = parse_bucket("destinationBucket", dest, &m->destination_bucket, errbuf, errlen);
    if (!rc)
        rc = need_string(root, "fileFormat", &fmt, errbuf, errlen);
    if (!rc)
        rc = parse_format(fmt, m, errbuf, errlen);
    if (!rc)
        rc = get_string(root, "sourceBucket", &src, errbuf, errlen);
    if (!rc && src)
        rc = parse_bucket("sourceBucket", src, &m->source_bucket, errbuf, errlen);
    if (!rc)
        rc = get_string(root, "fileSchema", &schema, errbuf, errlen);
    if (!rc)
        rc = parse_creation(root, m, errbuf, errlen);
    if (rc)
        return rc;
    if (schema && *schema)
        m->file_schema = xstrdup(schema);
    files = json_object_get(root, "files");
    if (!files || json_is_null(files))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "files is required");
    if (!json_is_array(files))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "files is not an array");
    m->nfiles = json_array_size(files);
    m->files = xcalloc(m->nfiles, sizeof(*m->files));
    for (i = 0; i < m->nfiles; i++) {
        rc = parse_file(json_array_get(files, i), i, &m->files[i], errbuf, errlen);
        if (rc)
            return rc;
    }
    return ERR_OK;
}

enum err
inventory_manifest_parse(const char *json, size_t len, struct inventory_manifest *out, char *errbuf,
                         size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL;
    enum err rc;

    memset(out, 0, sizeof(*out));
    root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "manifest is not valid JSON (line %d, column %d)", jerr.line, jerr.column);
        goto out;
    }
    rc = parse_manifest(root, out, errbuf, errlen);
out:
    if (rc)
        inventory_manifest_release(out);
    json_decref(root);
    return rc;
}

void
inventory_manifest_release(struct inventory_manifest *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->nfiles; i++) {
        free(m->files[i].key);
        free(m->files[i].md5_hex);
    }
    free(m->files);
    free(m->source_bucket);
    free(m->destination_bucket);
    free(m->file_format);
    free(m->file_schema);
    memset(m, 0, sizeof(*m));
}

/* ---- CSV: column binding --------------------------------------------------------------------- */

static void
unbind(struct inventory_csv *d)
{
    size_t c;

    for (c = 0; c < NCOLS; c++)
        d->idx[c] = -1;
}

/* Field i is named name[0..len) (trimmed here); 0 if it is a known column seen before. */
static int
bind_name(struct inventory_csv *d, size_t i, const char *name, size_t len, const char **dup)
{
    size_t c;

    name = trim(name, &len);
    for (c = 0; c < NCOLS; c++) {
        if (!eq_nocase(name, len, col_names[c]))
            continue;
        if (d->idx[c] >= 0) {
            *dup = col_names[c];
            return 0;
        }
        d->idx[c] = (long)i;
    }
    return 1;
}

/* Bind from the fileSchema string (ERR_UNPROCESSABLE, message in d->msg). */
static enum err
bind_schema(struct inventory_csv *d, const char *schema)
{
    const char *p = schema, *comma, *dup = NULL;
    size_t n = 0;

    unbind(d);
    for (;;) {
        comma = strchr(p, ',');
        if (n == MAX_COLUMNS)
            return err_set(ERR_UNPROCESSABLE, d->msg, sizeof(d->msg),
                           "fileSchema has more than %d columns", MAX_COLUMNS);
        if (!bind_name(d, n, p, comma ? (size_t)(comma - p) : strlen(p), &dup))
            return err_set(ERR_UNPROCESSABLE, d->msg, sizeof(d->msg), "fileSchema names %s twice",
                           dup);
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (d->idx[COL_BUCKET] < 0 || d->idx[COL_KEY] < 0)
        return err_set(ERR_UNPROCESSABLE, d->msg, sizeof(d->msg),
                       "fileSchema has no Bucket or no Key column");
    d->ncols = n;
    d->bound = 1;
    return ERR_OK;
}

/*
 * The default column list on the first n fields. A first line with more
 * fields than the list binds the list to its first NCOLS fields and ignores
 * the rest (an inventory of more fields written without fileSchema or
 * header); every line then has as many fields as the first.
 */
static void
bind_default(struct inventory_csv *d, size_t n)
{
    size_t c;

    for (c = 0; c < NCOLS; c++)
        d->idx[c] = (long)c;
    d->ncols = n > NCOLS ? n : NCOLS;
    d->bound = 1;
}

/* A header line has fields named Bucket and Key. */
static int
is_header(const struct csv_field *f, size_t n)
{
    int bucket = 0, key = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t len = f[i].len;
        const char *s = trim(f[i].data, &len);

        bucket |= eq_nocase(s, len, "Bucket");
        key |= eq_nocase(s, len, "Key");
    }
    return bucket && key;
}

static enum err
bind_header(struct inventory_csv *d, size_t line, const struct csv_field *f, size_t n, char *errbuf,
            size_t errlen)
{
    const char *dup = NULL;
    size_t i;

    unbind(d);
    for (i = 0; i < n; i++) {
        if (!bind_name(d, i, f[i].data, f[i].len, &dup))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: header names %s twice", line,
                           dup);
    }
    d->ncols = n;
    d->bound = 1;
    return ERR_OK;
}

/* ---- CSV: lines ------------------------------------------------------------------------------ */

/* The field of column c, or NULL when the column is absent or the field empty. */
static const struct csv_field *
column(const struct inventory_csv *d, const struct csv_field *f, enum col c)
{
    if (d->idx[c] < 0 || f[d->idx[c]].len == 0)
        return NULL;
    return &f[d->idx[c]];
}

/* Copy column c into scratch (NUL-terminated), an eTag normalised (s3_fields.h); offset in *off. */
static enum err
copy_column(struct inventory_csv *d, const struct csv_field *f, enum col c, size_t line,
            size_t *off, char *errbuf, size_t errlen)
{
    const struct csv_field *v = column(d, f, c);

    *off = (size_t)-1;
    if (!v)
        return ERR_OK;
    if (memchr(v->data, '\0', v->len))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: NUL byte in %s", line,
                       col_names[c]);
    *off = d->scratch.len;
    if (c == COL_ETAG)
        s3_etag_append(&d->scratch, v->data, v->len);
    else
        buf_append(&d->scratch, v->data, v->len);
    buf_append_char(&d->scratch, '\0');
    return ERR_OK;
}

/* IsLatest, IsDeleteMarker, Size and LastModifiedDate into l; lm holds the date. */
static enum err
scalars(struct inventory_csv *d, const struct csv_field *f, struct inventory_line *l,
        char lm[TIME_BUF], char *errbuf, size_t errlen)
{
    const struct csv_field *v;

    l->is_latest = -1;
    v = column(d, f, COL_IS_LATEST);
    if (v && (l->is_latest = parse_bool(v->data, v->len)) < 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: IsLatest is not true or false",
                       l->line);
    v = column(d, f, COL_IS_DELETE_MARKER);
    if (v && (l->is_delete_marker = parse_bool(v->data, v->len)) < 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "line %zu: IsDeleteMarker is not true or false", l->line);
    v = column(d, f, COL_SIZE);
    if (v) {
        if (!parse_int64(v->data, v->len, &l->size))
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "line %zu: Size is not a non-negative integer", l->line);
        l->has_size = 1;
    }
    v = column(d, f, COL_LAST_MODIFIED);
    if (v) {
        if (!s3_time_parse_ms(v->data, v->len, &l->last_modified_ms))
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "line %zu: LastModifiedDate is not an RFC 3339 date-time", l->line);
        s3_time_format_ms(l->last_modified_ms, lm);
        l->last_modified = lm;
    }
    return ERR_OK;
}

static const char *
at(const struct inventory_csv *d, size_t off)
{
    return off == (size_t)-1 ? NULL : d->scratch.data + off;
}

/* One data line (field count already checked) to the callback. */
static enum err
emit(struct inventory_csv *d, size_t line, const struct csv_field *f, char *errbuf, size_t errlen)
{
    static const enum col strs[] = {COL_BUCKET, COL_KEY, COL_VERSION_ID, COL_ETAG,
                                    COL_STORAGE_CLASS};
    struct inventory_line l;
    size_t off[NCOLS], i;
    char lm[TIME_BUF];
    char *key = NULL;
    enum err rc;

    memset(&l, 0, sizeof(l));
    l.line = line;
    rc = scalars(d, f, &l, lm, errbuf, errlen);
    if (rc)
        goto out;
    buf_reset(&d->scratch);
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        rc = copy_column(d, f, strs[i], line, &off[strs[i]], errbuf, errlen);
        if (rc)
            goto out;
    }
    if (off[COL_BUCKET] == (size_t)-1 || off[COL_KEY] == (size_t)-1) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: empty %s", line,
                     off[COL_BUCKET] == (size_t)-1 ? "Bucket" : "Key");
        goto out;
    }
    key = s3_url_decode(at(d, off[COL_KEY]));
    l.bucket = at(d, off[COL_BUCKET]);
    l.key = key;
    l.version_id = at(d, off[COL_VERSION_ID]);
    l.etag = at(d, off[COL_ETAG]);
    l.storage_class = at(d, off[COL_STORAGE_CLASS]);
    rc = d->fn(d->ctx, &l, errbuf, errlen);
out:
    free(key);
    return rc;
}

static enum err
on_record(void *ctx, size_t line, const struct csv_field *f, size_t n, int had_error, char *errbuf,
          size_t errlen)
{
    struct inventory_csv *d = ctx;

    if (d->syn_seen)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: %s", d->syn_line, d->syn_detail);
    if (had_error)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: malformed line", line);
    if (!d->bound) {
        if (is_header(f, n))
            return bind_header(d, line, f, n, errbuf, errlen);
        bind_default(d, n);
    }
    if (n != d->ncols)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: %zu fields, expected %zu", line, n,
                       d->ncols);
    return emit(d, line, f, errbuf, errlen);
}

static void
on_error(void *ctx, size_t line, const char *detail)
{
    struct inventory_csv *d = ctx;

    if (d->syn_seen)
        return;
    d->syn_seen = 1;
    d->syn_line = line;
    snprintf(d->syn_detail, sizeof(d->syn_detail), "%s", detail);
}

struct inventory_csv *
inventory_csv_new(const char *file_schema, inventory_line_fn fn, void *ctx)
{
    static const struct csv_limits lim = {MAX_COLUMNS, MAX_FIELD_BYTES};
    struct inventory_csv *d = xcalloc(1, sizeof(*d));
    size_t len = file_schema ? strlen(file_schema) : 0;

    if (file_schema)
        trim(file_schema, &len); /* a blank schema is no schema */
    d->fn = fn;
    d->ctx = ctx;
    d->parser = csv_parser_new(&lim, on_record, on_error, d);
    buf_init(&d->scratch, 0);
    unbind(d);
    if (len > 0)
        d->rc = bind_schema(d, file_schema); /* reported by the first feed or finish */
    return d;
}

/*
 * After a parser call: make its error sticky. A latched syntax report wins
 * over the parser's own error: it came earlier in the input (a limit error
 * later in the same chunk must not depend on where the chunk ends).
 */
static enum err
settle(struct inventory_csv *d, enum err rc, char *errbuf, size_t errlen)
{
    if (d->syn_seen)
        rc = err_set(ERR_BAD_INPUT, d->msg, sizeof(d->msg), "line %zu: %s", d->syn_line,
                     d->syn_detail);
    if (rc) {
        d->rc = rc;
        err_set(rc, errbuf, errlen, "%s", d->msg);
    }
    return rc;
}

enum err
inventory_csv_feed(struct inventory_csv *d, const char *data, size_t len, char *errbuf,
                   size_t errlen)
{
    if (d->rc)
        return err_set(d->rc, errbuf, errlen, "%s", d->msg);
    if (d->finished)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "inventory decoder already finished");
    d->msg[0] = '\0';
    return settle(d, csv_parser_feed(d->parser, data, len, d->msg, sizeof(d->msg)), errbuf, errlen);
}

enum err
inventory_csv_finish(struct inventory_csv *d, char *errbuf, size_t errlen)
{
    if (d->rc)
        return err_set(d->rc, errbuf, errlen, "%s", d->msg);
    if (d->finished)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "inventory decoder already finished");
    d->finished = 1;
    d->msg[0] = '\0';
    return settle(d, csv_parser_finish(d->parser, d->msg, sizeof(d->msg)), errbuf, errlen);
}

void
inventory_csv_free(struct inventory_csv *d)
{
    if (!d)
        return;
    csv_parser_free(d->parser);
    buf_release(&d->scratch);
    free(d);
}
