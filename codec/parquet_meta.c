/*
 * parquet_meta.c - a Parquet file's footer: FileMetaData from the file's tail (pure)
 *
 * Layout (parquet-format README): "PAR1", column chunks, FileMetaData
 * (Thrift compact), its length (4 bytes little endian), "PAR1". The
 * FileMetaData struct is read in one pass except its row groups: their bytes
 * are remembered and parsed after the schema, wherever the writer put the
 * fields, so each column chunk is checked against its column at once.
 *
 * Checks: a flat schema (a root whose children are all leaves, none
 * repeated; a nested one names the first group or repeated column), every
 * row group with one chunk per column, of the column's type and path, with
 * a codec read here, lying inside the file's data (after "PAR1", before the
 * footer). Counts are checked against the caps and the bytes left before
 * anything is allocated. Errors: "file metadata: ..." in the caller's buffer.
 */
#include "codec/parquet_internal.h"
#include "codec/thrift_compact.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* One SchemaElement as read. */
struct schema_elem {
    char *name;
    int has_type;
    int type;
    int32_t type_length;
    int repetition; /* 0 required, 1 optional, 2 repeated; -1 absent */
    int64_t num_children;
    int converted_type;
    int is_string;
    enum parquet_time_unit time_unit;
};

struct meta_parse {
    struct parquet_meta *m;
    struct thrift_reader r;
    char msg[ERRBUF_SIZE];
    struct schema_elem *schema;
    size_t nschema;
    const uint8_t *row_groups; /* the row_groups field's value, read after the schema */
    size_t row_groups_len;
};

void
parquet_limits_fill(struct parquet_limits *out, const struct parquet_limits *in)
{
    static const struct parquet_limits def = {
        16u << 20, 1000, 100000, 1000000, 64u << 20, 1u << 30, 64u << 10,
    };

    *out = in ? *in : def;
    out->max_footer_bytes = out->max_footer_bytes ? out->max_footer_bytes : def.max_footer_bytes;
    out->max_columns = out->max_columns ? out->max_columns : def.max_columns;
    out->max_row_groups = out->max_row_groups ? out->max_row_groups : def.max_row_groups;
    out->max_chunks = out->max_chunks ? out->max_chunks : def.max_chunks;
    out->max_page_bytes = out->max_page_bytes ? out->max_page_bytes : def.max_page_bytes;
    out->max_range_bytes = out->max_range_bytes ? out->max_range_bytes : def.max_range_bytes;
    out->max_value_bytes = out->max_value_bytes ? out->max_value_bytes : def.max_value_bytes;
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum err
parquet_footer_size(const void *tail, size_t tail_len, uint64_t file_size,
                    const struct parquet_limits *limits, size_t *footer_len, char *errbuf,
                    size_t errlen)
{
    const uint8_t *end = (const uint8_t *)tail + tail_len;
    struct parquet_limits lim;
    uint32_t n;

    parquet_limits_fill(&lim, limits);
    if (tail_len < PARQUET_TAIL_MIN || tail_len > file_size)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "not a parquet file: the tail is shorter than 8 bytes or the file");
    if (!memcmp(end - 4, "PARE", 4))
        return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                       "encrypted parquet files (PARE) are not supported");
    if (memcmp(end - 4, "PAR1", 4) || file_size < 12)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "not a parquet file: no PAR1 at the end");
    n = le32(end - 8);
    if (n > lim.max_footer_bytes)
        return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                       "file metadata of %lu bytes exceeds the cap of %zu bytes", (unsigned long)n,
                       lim.max_footer_bytes);
    if ((uint64_t)n + 12 > file_size)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "file metadata length %lu exceeds the file size %llu", (unsigned long)n,
                       (unsigned long long)file_size);
    *footer_len = (size_t)n + 8;
    return ERR_OK;
}

/* ---- schema ---------------------------------------------------------------------------------- */

static enum err
bad(struct meta_parse *mp, enum err rc, const char *what)
{
    return err_set(rc, mp->msg, sizeof(mp->msg), "%s", what);
}

/* A copy of a Thrift string as a C string (no NUL inside, at most max bytes). */
static enum err
read_name(struct meta_parse *mp, int type, size_t max, char **out)
{
    const uint8_t *p;
    size_t len;
    enum err rc = thrift_read_binary(&mp->r, type, &p, &len, mp->msg, sizeof(mp->msg));

    if (rc)
        return rc;
    if (len > max)
        return err_set(ERR_UNSUPPORTED, mp->msg, sizeof(mp->msg),
                       "a string of %zu bytes exceeds the cap of %zu bytes", len, max);
    if (memchr(p, '\0', len))
        return bad(mp, ERR_BAD_INPUT, "a name holds a NUL byte");
    free(*out);
    *out = xstrndup((const char *)p, len);
    return ERR_OK;
}

/* TimeUnit (a union: 1 MILLIS, 2 MICROS, 3 NANOS) of a TimestampType. */
static enum err
read_time_unit(struct meta_parse *mp, enum parquet_time_unit *unit)
{
    struct thrift_field f = {0};
    int last = 0;
    enum err rc = thrift_struct_begin(&mp->r, mp->msg, sizeof(mp->msg));

    while (!rc) {
        rc = thrift_read_field(&mp->r, &last, &f, mp->msg, sizeof(mp->msg));
        if (rc || f.type == THRIFT_STOP)
            break;
        if (f.type == THRIFT_STRUCT && f.id >= 1 && f.id <= 3)
            *unit = f.id == 1   ? PARQUET_TIME_MILLIS
                    : f.id == 2 ? PARQUET_TIME_MICROS
                                : PARQUET_TIME_NANOS;
        rc = thrift_skip(&mp->r, f.type, mp->msg, sizeof(mp->msg));
    }
    thrift_struct_end(&mp->r);
    return rc;
}

/* TimestampType: 1 isAdjustedToUTC (either way UTC here), 2 unit. */
static enum err
read_timestamp_type(struct meta_parse *mp, enum parquet_time_unit *unit)
{
    struct thrift_field f = {0};
    int last = 0;
    enum err rc = thrift_struct_begin(&mp->r, mp->msg, sizeof(mp->msg));

    while (!rc) {
        rc = thrift_read_field(&mp->r, &last, &f, mp->msg, sizeof(mp->msg));
        if (rc || f.type == THRIFT_STOP)
            break;
        if (f.id == 2 && f.type == THRIFT_STRUCT)
            rc = read_time_unit(mp, unit);
        else
            rc = thrift_skip(&mp->r, f.type, mp->msg, sizeof(mp->msg));
    }
    thrift_struct_end(&mp->r);
    return rc;
}

/* LogicalType (a union): 1 STRING, 8 TIMESTAMP; others are skipped. */
static enum err
read_logical_type(struct meta_parse *mp, struct schema_elem *e)
{
    struct thrift_field f = {0};
    int last = 0;
    enum err rc = thrift_struct_begin(&mp->r, mp->msg, sizeof(mp->msg));

    while (!rc) {
        rc = thrift_read_field(&mp->r, &last, &f, mp->msg, sizeof(mp->msg));
        if (rc || f.type == THRIFT_STOP)
            break;
        if (f.id == 8 && f.type == THRIFT_STRUCT) {
            rc = read_timestamp_type(mp, &e->time_unit);
            continue;
        }
        if (f.id == 1 && f.type == THRIFT_STRUCT)
            e->is_string = 1;
        rc = thrift_skip(&mp->r, f.type, mp->msg, sizeof(mp->msg));
    }
    thrift_struct_end(&mp->r);
    return rc;
}

static enum err
read_schema_field(struct meta_parse *mp, const struct thrift_field *f, struct schema_elem *e)
{
    char *msg = mp->msg;
    size_t ml = sizeof(mp->msg);
    int64_t v = 0;
    enum err rc;

    switch (f->id) {
    case 1: /* type */
        rc = thrift_read_int(&mp->r, f->type, 0, 7, &v, msg, ml);
        e->has_type = 1;
        e->type = (int)v;
        return rc;
    case 2: /* type_length */
        rc = thrift_read_int(&mp->r, f->type, INT32_MIN, INT32_MAX, &v, msg, ml);
        e->type_length = (int32_t)v;
        return rc;
    case 3: /* repetition_type */
        rc = thrift_read_int(&mp->r, f->type, 0, 2, &v, msg, ml);
        e->repetition = (int)v;
        return rc;
    case 4:
        return read_name(mp, f->type, PARQUET_MAX_NAME_BYTES, &e->name);
    case 5: /* num_children */
        rc = thrift_read_int(&mp->r, f->type, INT32_MIN, INT32_MAX, &e->num_children, msg, ml);
        return rc;
    case 6: /* converted_type */
        rc = thrift_read_int(&mp->r, f->type, 0, INT32_MAX, &v, msg, ml);
        e->converted_type = (int)v;
        e->is_string |= v == 0; /* UTF8 */
        if (v == 9 || v == 10)  /* TIMESTAMP_MILLIS, TIMESTAMP_MICROS */
            e->time_unit = v == 9 ? PARQUET_TIME_MILLIS : PARQUET_TIME_MICROS;
        return rc;
    case 10:
        if (f->type == THRIFT_STRUCT)
            return read_logical_type(mp, e);
        break;
    }
    return thrift_skip(&mp->r, f->type, msg, ml);
}

static enum err
read_schema_elem(struct meta_parse *mp, struct schema_elem *e)
{
    struct thrift_field f = {0};
    int last = 0;
    enum err rc = thrift_struct_begin(&mp->r, mp->msg, sizeof(mp->msg));

    e->repetition = -1;
    e->converted_type = -1;
    while (!rc) {
        rc = thrift_read_field(&mp->r, &last, &f, mp->msg, sizeof(mp->msg));
        if (rc || f.type == THRIFT_STOP)
            break;
        rc = read_schema_field(mp, &f, e);
    }
    thrift_struct_end(&mp->r);
    if (!rc && !e->name)
        rc = bad(mp, ERR_BAD_INPUT, "a schema element has no name");
    return rc;
}

static enum err
read_schema(struct meta_parse *mp, int type)
{
    size_t n, i;
    int et;
    enum err rc;

    if (mp->schema)
        return bad(mp, ERR_BAD_INPUT, "two schemas");
    rc = thrift_read_list(&mp->r, type, &et, &n, mp->msg, sizeof(mp->msg));
    if (rc)
        return rc;
    if (et != THRIFT_STRUCT)
        return bad(mp, ERR_BAD_INPUT, "the schema is not a list of structs");
    if (n > mp->m->limits.max_columns + 1)
        return err_set(ERR_UNSUPPORTED, mp->msg, sizeof(mp->msg),
                       "more than %zu columns in the schema", mp->m->limits.max_columns);
    mp->schema = xcalloc(n ? n : 1, sizeof(*mp->schema));
    mp->nschema = n;
    for (i = 0; i < n && !rc; i++)
        rc = read_schema_elem(mp, &mp->schema[i]);
    return rc;
}

/* The schema must be flat: a root whose children are all leaf columns, none repeated. */
static enum err
check_flat(struct meta_parse *mp)
{
    size_t i;

    if (mp->nschema == 0)
        return bad(mp, ERR_BAD_INPUT, "the schema is empty");
    for (i = 1; i < mp->nschema; i++) {
        const struct schema_elem *e = &mp->schema[i];

        if (e->num_children > 0 || !e->has_type)
            return err_set(ERR_UNSUPPORTED, mp->msg, sizeof(mp->msg),
                           "column %s is a group (a nested schema): not supported", e->name);
        if (e->repetition == 2)
            return err_set(ERR_UNSUPPORTED, mp->msg, sizeof(mp->msg),
                           "column %s is repeated (a nested schema): not supported", e->name);
        if (e->type == PARQUET_FIXED_LEN_BYTE_ARRAY && e->type_length <= 0)
            return err_set(ERR_BAD_INPUT, mp->msg, sizeof(mp->msg),
                           "column %s: fixed-length bytes of length %ld", e->name,
                           (long)e->type_length);
    }
    if (mp->schema[0].num_children != (int64_t)mp->nschema - 1)
        return err_set(ERR_BAD_INPUT, mp->msg, sizeof(mp->msg),
                       "the schema root has %lld children, %zu columns follow",
                       (long long)mp->schema[0].num_children, mp->nschema - 1);
    return ERR_OK;
}

/* The schema's leaves become m->columns (names are moved). */
static void
take_columns(struct meta_parse *mp)
{
    struct parquet_meta *m = mp->m;
    size_t i;

    m->ncolumns = mp->nschema - 1;
    m->columns = xcalloc(m->ncolumns ? m->ncolumns : 1, sizeof(*m->columns));
    for (i = 0; i < m->ncolumns; i++) {
        struct schema_elem *e = &mp->schema[i + 1];
        struct parquet_column *c = &m->columns[i];

        c->name = e->name;
        e->name = NULL;
        c->type = e->type;
        c->type_length = e->type_length;
        c->optional = e->repetition == 1;
        c->converted_type = e->converted_type;
        c->is_string = e->is_string;
        c->time_unit = e->type == PARQUET_INT64 ? e->time_unit : PARQUET_TIME_NONE;
    }
}

/* ---- row groups ------------------------------------------------------------------------------ */

static const char *
codec_name(int64_t c)
{
    static const char *const names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                        "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};

    return c >= 0 && c <= 7 ? names[c] : "UNKNOWN";
}

/* path_in_schema: one name, the column's. */
static enum err
read_path(struct meta_parse *mp, int type, const struct parquet_column *col)
{
    const uint8_t *p;
    size_t n, i, len;
    int et;
    enum err rc = thrift_read_list(&mp->r, type, &et, &n, mp->msg, sizeof(mp->msg));

    if (rc)
        return rc;
    if (et != THRIFT_BINARY)
        return bad(mp, ERR_BAD_INPUT, "path_in_schema is not a list of strings");
    for (i = 0; i < n && !rc; i++)
        rc = thrift_read_binary(&mp->r, et, &p, &len, mp->msg, sizeof(mp->msg));
    if (!rc && (n != 1 || len != strlen(col->name) || memcmp(p, col->name, len)))
        rc = bad(mp, ERR_BAD_INPUT, "path_in_schema is not the column's name");
    return rc;
}

static enum err
read_encodings(struct meta_parse *mp, int type, uint32_t *mask)
{
    size_t n, i;
    int64_t e;
    int et;
    enum err rc = thrift_read_list(&mp->r, type, &et, &n, mp->msg, sizeof(mp->msg));

    for (i = 0; i < n && !rc; i++) {
        rc = thrift_read_elem_int(&mp->r, et, INT32_MIN, INT32_MAX, &e, mp->msg, sizeof(mp->msg));
        if (!rc && e >= 0 && e < 32)
            *mask |= (uint32_t)1 << e;
    }
    return rc;
}

/* One ColumnMetaData field into ch (the physical type into *type). */
static enum err
read_chunk_field(struct meta_parse *mp, const struct thrift_field *f,
                 const struct parquet_column *col, struct parquet_chunk *ch, int64_t *type)
{
    struct thrift_reader *r = &mp->r;
    char *msg = mp->msg;
    size_t ml = sizeof(mp->msg);
    int64_t v;
    enum err rc;

    switch (f->id) {
    case 1:
        return thrift_read_int(r, f->type, 0, 7, type, msg, ml);
    case 2:
        return read_encodings(mp, f->type, &ch->encodings);
    case 3:
        return read_path(mp, f->type, col);
    case 4:
        rc = thrift_read_int(r, f->type, INT32_MIN, INT32_MAX, &v, msg, ml);
        ch->codec = (int)v;
        return rc;
    case 5:
        return thrift_read_int(r, f->type, 0, INT64_MAX, &ch->num_values, msg, ml);
    case 7:
        return thrift_read_int(r, f->type, 0, INT64_MAX, &ch->compressed_size, msg, ml);
    case 9:
        return thrift_read_int(r, f->type, 0, INT64_MAX, &ch->data_page_offset, msg, ml);
    case 11:
        return thrift_read_int(r, f->type, 0, INT64_MAX, &ch->dictionary_page_offset, msg, ml);
    }
    return thrift_skip(r, f->type, msg, ml);
}

/* The chunk's codec, type and place in the file. */
static enum err
check_chunk(struct meta_parse *mp, const struct parquet_column *col, struct parquet_chunk *ch,
            int64_t type, unsigned seen)
{
    const unsigned need = 1u << 1 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 7 | 1u << 9;
    int64_t off;

    if ((seen & need) != need)
        return bad(mp, ERR_BAD_INPUT, "column metadata lacks a required field");
    if (ch->codec != PARQUET_UNCOMPRESSED && ch->codec != PARQUET_SNAPPY &&
        ch->codec != PARQUET_GZIP && ch->codec != PARQUET_ZSTD)
        return err_set(ERR_UNSUPPORTED, mp->msg, sizeof(mp->msg),
                       "compression codec %s (%d) is not supported", codec_name(ch->codec),
                       ch->codec);
    if (type != col->type)
        return bad(mp, ERR_BAD_INPUT, "the chunk's type is not the column's");
    off = ch->data_page_offset;
    if (ch->dictionary_page_offset > 0 && ch->dictionary_page_offset < off)
        off = ch->dictionary_page_offset;
    else
        ch->dictionary_page_offset = 0;
    ch->offset = off;
    if (off < 4 || (uint64_t)off > mp->m->footer_offset ||
        (uint64_t)ch->compressed_size > mp->m->footer_offset - (uint64_t)off)
        return bad(mp, ERR_BAD_INPUT, "the chunk lies outside the file's data");
    return ERR_OK;
}

static enum err
read_column_meta(struct meta_parse *mp, const struct parquet_column *col, struct parquet_chunk *ch)
{
    struct thrift_field f = {0};
    int64_t type = -1;
    unsigned seen = 0;
    int last = 0;
    enum err rc = thrift_struct_begin(&mp->r, mp->msg, sizeof(mp->msg));

    while (!rc) {
        rc = thrift_read_field(&mp->r, &last, &f, mp->msg, sizeof(mp->msg));
        if (rc || f.type == THRIFT_STOP)
            break;
        if (f.id > 0 && f.id < 32)
            seen |= 1u << f.id;
        rc = read_chunk_field(mp, &f, col, ch, &type);
    }
    thrift_struct_end(&mp->r);
    return rc ? rc : check_chunk(mp, col, ch, type, seen);
}

/* ColumnChunk: 1 file_path (not here), 3 meta_data, 8 and 9 encryption (not here). */
static enum err
read_column_chunk(struct meta_parse *mp, const struct parquet_column *col, struct parquet_chunk *ch)
{
    struct thrift_field f = {0};
    int last = 0, has_meta = 0;
    enum err rc = thrift_struct_begin(&mp->r, mp->msg, sizeof(mp->msg));

    while (!rc) {
        rc = thrift_read_field(&mp->r, &last, &f, mp->msg, sizeof(mp->msg));
        if (rc || f.type == THRIFT_STOP)
            break;
        if (f.id == 1)
            rc = bad(mp, ERR_UNSUPPORTED, "the chunk is in another file: not supported");
        else if (f.id == 8 || f.id == 9)
            rc = bad(mp, ERR_UNSUPPORTED, "the chunk is encrypted: not supported");
        else if (f.id == 3 && f.type == THRIFT_STRUCT && !has_meta) {
            has_meta = 1;
            rc = read_column_meta(mp, col, ch);
        } else
            rc = thrift_skip(&mp->r, f.type, mp->msg, sizeof(mp->msg));
    }
    thrift_struct_end(&mp->r);
    if (!rc && !has_meta)
        rc = bad(mp, ERR_BAD_INPUT, "the chunk has no metadata");
    return rc;
}

/* RowGroup.columns: one chunk per column, each named in errors. */
static enum err
read_chunks(struct meta_parse *mp, int type, size_t g, struct parquet_row_group *rg)
{
    struct parquet_meta *m = mp->m;
    char inner[ERRBUF_SIZE];
    size_t n, i;
    int et;
    enum err rc = thrift_read_list(&mp->r, type, &et, &n, mp->msg, sizeof(mp->msg));

    if (rc)
        return rc;
    if (rg->chunks)
        return bad(mp, ERR_BAD_INPUT, "a row group lists its columns twice");
    if (et != THRIFT_STRUCT || n != m->ncolumns)
        return err_set(ERR_BAD_INPUT, mp->msg, sizeof(mp->msg),
                       "row group %zu has %zu column chunks for %zu columns", g, n, m->ncolumns);
    rg->chunks = xcalloc(n ? n : 1, sizeof(*rg->chunks));
    for (i = 0; i < n; i++) {
        rc = read_column_chunk(mp, &m->columns[i], &rg->chunks[i]);
        if (rc) {
            memcpy(inner, mp->msg, sizeof(inner));
            return err_set(rc, mp->msg, sizeof(mp->msg), "row group %zu, column %s: %s", g,
                           m->columns[i].name, inner);
        }
    }
    return ERR_OK;
}

static enum err
read_row_group(struct meta_parse *mp, size_t g, struct parquet_row_group *rg)
{
    struct thrift_field f = {0};
    int last = 0, has_rows = 0;
    enum err rc = thrift_struct_begin(&mp->r, mp->msg, sizeof(mp->msg));

    while (!rc) {
        rc = thrift_read_field(&mp->r, &last, &f, mp->msg, sizeof(mp->msg));
        if (rc || f.type == THRIFT_STOP)
            break;
        if (f.id == 1) {
            rc = read_chunks(mp, f.type, g, rg);
        } else if (f.id == 3) {
            has_rows = 1;
            rc = thrift_read_int(&mp->r, f.type, 0, INT64_MAX, &rg->num_rows, mp->msg,
                                 sizeof(mp->msg));
        } else {
            rc = thrift_skip(&mp->r, f.type, mp->msg, sizeof(mp->msg));
        }
    }
    thrift_struct_end(&mp->r);
    if (!rc && (!rg->chunks || !has_rows))
        rc = err_set(ERR_BAD_INPUT, mp->msg, sizeof(mp->msg),
                     "row group %zu lacks its columns or its row count", g);
    return rc;
}

/* The row_groups list, remembered while the struct was read. */
static enum err
read_row_groups(struct meta_parse *mp)
{
    struct parquet_meta *m = mp->m;
    int64_t rows = 0;
    size_t n, i;
    int et;
    enum err rc;

    thrift_reader_init(&mp->r, mp->row_groups, mp->row_groups_len);
    rc = thrift_read_list(&mp->r, THRIFT_LIST, &et, &n, mp->msg, sizeof(mp->msg));
    if (rc)
        return rc;
    if (et != THRIFT_STRUCT)
        return bad(mp, ERR_BAD_INPUT, "row_groups is not a list of structs");
    if (n > m->limits.max_row_groups || (m->ncolumns && n > m->limits.max_chunks / m->ncolumns))
        return err_set(ERR_UNSUPPORTED, mp->msg, sizeof(mp->msg),
                       "%zu row groups of %zu columns exceed the caps (%zu row groups, %zu "
                       "column chunks)",
                       n, m->ncolumns, m->limits.max_row_groups, m->limits.max_chunks);
    m->row_groups = xcalloc(n ? n : 1, sizeof(*m->row_groups));
    m->nrow_groups = n;
    for (i = 0; i < n; i++) {
        rc = read_row_group(mp, i, &m->row_groups[i]);
        if (rc)
            return rc;
        m->row_groups[i].first_row = rows;
        if (m->row_groups[i].num_rows > INT64_MAX - rows)
            return bad(mp, ERR_BAD_INPUT, "the row counts overflow");
        rows += m->row_groups[i].num_rows;
    }
    return ERR_OK;
}

/* ---- FileMetaData ---------------------------------------------------------------------------- */

static enum err
read_file_field(struct meta_parse *mp, const struct thrift_field *f)
{
    struct parquet_meta *m = mp->m;
    const uint8_t *start = mp->r.p;
    int64_t v;
    enum err rc;

    switch (f->id) {
    case 1:
        rc = thrift_read_int(&mp->r, f->type, INT32_MIN, INT32_MAX, &v, mp->msg, sizeof(mp->msg));
        m->version = (int32_t)v;
        return rc;
    case 2:
        return read_schema(mp, f->type);
    case 3:
        return thrift_read_int(&mp->r, f->type, 0, INT64_MAX, &m->num_rows, mp->msg,
                               sizeof(mp->msg));
    case 4:
        if (f->type != THRIFT_LIST || mp->row_groups)
            return bad(mp, ERR_BAD_INPUT, "row_groups is not one list");
        rc = thrift_skip(&mp->r, f->type, mp->msg, sizeof(mp->msg));
        mp->row_groups = start;
        mp->row_groups_len = (size_t)(mp->r.p - start);
        return rc;
    case 6:
        return read_name(mp, f->type, 4 * PARQUET_MAX_NAME_BYTES, &m->created_by);
    case 8:
        return bad(mp, ERR_UNSUPPORTED, "encrypted parquet files are not supported");
    }
    return thrift_skip(&mp->r, f->type, mp->msg, sizeof(mp->msg));
}

static enum err
read_file_meta(struct meta_parse *mp)
{
    struct thrift_field f = {0};
    int last = 0;
    enum err rc = thrift_struct_begin(&mp->r, mp->msg, sizeof(mp->msg));

    while (!rc) {
        rc = thrift_read_field(&mp->r, &last, &f, mp->msg, sizeof(mp->msg));
        if (rc || f.type == THRIFT_STOP)
            break;
        rc = read_file_field(mp, &f);
    }
    thrift_struct_end(&mp->r);
    if (rc)
        return rc;
    if (!mp->schema || !mp->row_groups)
        return bad(mp, ERR_BAD_INPUT, "no schema or no row groups");
    rc = check_flat(mp);
    if (rc)
        return rc;
    take_columns(mp);
    return read_row_groups(mp);
}

enum err
parquet_meta_parse(const void *tail, size_t tail_len, uint64_t file_size,
                   const struct parquet_limits *limits, struct parquet_meta **out, char *errbuf,
                   size_t errlen)
{
    struct meta_parse mp;
    size_t footer_len, i;
    enum err rc;

    *out = NULL;
    rc = parquet_footer_size(tail, tail_len, file_size, limits, &footer_len, errbuf, errlen);
    if (rc)
        return rc;
    if (tail_len < footer_len)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "the tail holds %zu bytes, the footer takes %zu", tail_len, footer_len);
    memset(&mp, 0, sizeof(mp));
    mp.m = xcalloc(1, sizeof(*mp.m));
    parquet_limits_fill(&mp.m->limits, limits);
    mp.m->file_size = file_size;
    mp.m->footer_offset = file_size - footer_len;
    thrift_reader_init(&mp.r, (const uint8_t *)tail + tail_len - footer_len, footer_len - 8);
    rc = read_file_meta(&mp);
    for (i = 0; i < mp.nschema; i++)
        free(mp.schema[i].name);
    free(mp.schema);
    if (rc) {
        parquet_meta_free(mp.m);
        return err_set(rc, errbuf, errlen, "file metadata: %s", mp.msg);
    }
    *out = mp.m;
    return ERR_OK;
}

void
parquet_meta_free(struct parquet_meta *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->ncolumns; i++)
        free(m->columns[i].name);
    free(m->columns);
    for (i = 0; i < m->nrow_groups; i++)
        free(m->row_groups[i].chunks);
    free(m->row_groups);
    free(m->created_by);
    free(m);
}

static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

long
parquet_meta_column(const struct parquet_meta *m, const char *name)
{
    size_t i, k;

    for (i = 0; i < m->ncolumns; i++) {
        const char *a = m->columns[i].name;

        for (k = 0; a[k] && lower(a[k]) == lower(name[k]); k++)
            ;
        if (!a[k] && !name[k])
            return (long)i;
    }
    return -1;
}

void
parquet_chunk_range(const struct parquet_meta *m, size_t rg, size_t col, uint64_t *offset,
                    uint64_t *len)
{
    const struct parquet_chunk *ch = &m->row_groups[rg].chunks[col];

    *offset = (uint64_t)ch->offset;
    *len = (uint64_t)ch->compressed_size;
}
