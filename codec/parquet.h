/*
 * parquet.h - Apache Parquet files read by byte ranges; S3 Inventory lines (pure)
 *
 * No I/O: the caller fetches byte ranges of the file (HTTP Range requests)
 * and hands them over, so a file is never held whole. Random access:
 *
 *   1. Fetch the file's last bytes (any n >= PARQUET_TAIL_MIN, e.g. 64 KiB).
 *      parquet_footer_size() reads the last 8 bytes (metadata length, "PAR1")
 *      and says how many tail bytes the footer takes; fetch more if needed.
 *   2. parquet_meta_parse() on those tail bytes: the schema (flat: a root
 *      and leaf columns), the row groups and their column chunks (offsets,
 *      sizes, codec, encodings). It borrows nothing from the tail.
 *   3. Per row group, either
 *      - parquet_inventory_range() gives the byte range of the columns an S3
 *        Inventory needs; fetch it, and parquet_inventory_row_group() decodes
 *        it into struct inventory_line callbacks (the CSV decoder's struct and
 *        callback, codec/inventory_decoder.h); or
 *      - parquet_chunk_range() gives one column chunk's byte range, and a
 *        parquet_column_reader decodes its values one by one.
 *
 * Supported: data pages v1 and v2, dictionary pages; encodings PLAIN,
 * PLAIN_DICTIONARY / RLE_DICTIONARY, RLE (booleans), DELTA_BINARY_PACKED,
 * DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY; definition levels RLE/bit-packed
 * hybrid or BIT_PACKED (REQUIRED and OPTIONAL columns); codecs UNCOMPRESSED,
 * SNAPPY, GZIP, ZSTD; every physical type is read, INT96 and INT64 TIMESTAMP
 * (millis, micros, nanos; logical or converted type) become times.
 * Not supported, ERR_UNSUPPORTED with a message naming it: nested or
 * repeated columns (the column is named), other codecs (LZO, BROTLI, LZ4,
 * LZ4_RAW) and encodings (BYTE_STREAM_SPLIT, ...), encrypted files, column
 * chunks in other files, anything past a cap of struct parquet_limits.
 * Malformed input is ERR_BAD_INPUT. Nothing aborts on input.
 *
 * Ownership: parquet_meta_parse() returns a heap struct (parquet_meta_free).
 * A column reader borrows the meta and the caller's bytes, which must
 * outlive it; an inventory decoder borrows the meta, and a row group's bytes
 * only during parquet_inventory_row_group(). Thread-safety: a meta is
 * read-only once parsed and may be shared; a reader or decoder belongs to
 * one thread.
 */
#ifndef INGESTD_PARQUET_H
#define INGESTD_PARQUET_H

#include <stddef.h>
#include <stdint.h>

#include "codec/inventory_decoder.h"
#include "core/err.h"

/* The fewest tail bytes parquet_footer_size() needs: length and "PAR1". */
#define PARQUET_TAIL_MIN 8

/* Caps, checked before anything is allocated. 0 in a field means its default. */
struct parquet_limits {
    size_t max_footer_bytes; /* FileMetaData; default 16 MiB */
    size_t max_columns;      /* leaf columns; default 1000 */
    size_t max_row_groups;   /* default 100000 */
    size_t max_chunks;       /* row groups x columns; default 1000000 */
    size_t max_page_bytes;   /* one page, compressed or not; default 64 MiB */
    size_t max_range_bytes;  /* a range parquet_inventory_range() asks for; default 1 GiB */
    size_t max_value_bytes;  /* one BYTE_ARRAY value; default 64 KiB (the CSV field cap) */
};

enum parquet_type {
    PARQUET_BOOLEAN = 0,
    PARQUET_INT32 = 1,
    PARQUET_INT64 = 2,
    PARQUET_INT96 = 3,
    PARQUET_FLOAT = 4,
    PARQUET_DOUBLE = 5,
    PARQUET_BYTE_ARRAY = 6,
    PARQUET_FIXED_LEN_BYTE_ARRAY = 7,
};

enum parquet_codec {
    PARQUET_UNCOMPRESSED = 0,
    PARQUET_SNAPPY = 1,
    PARQUET_GZIP = 2,
    PARQUET_LZO = 3,
    PARQUET_BROTLI = 4,
    PARQUET_LZ4 = 5,
    PARQUET_ZSTD = 6,
    PARQUET_LZ4_RAW = 7,
};

/* The unit of a timestamp column (INT64 with a TIMESTAMP logical or converted type). */
enum parquet_time_unit {
    PARQUET_TIME_NONE = 0,
    PARQUET_TIME_MILLIS,
    PARQUET_TIME_MICROS,
    PARQUET_TIME_NANOS,
};

struct parquet_column {
    char *name;          /* as in the schema */
    int type;            /* enum parquet_type */
    int32_t type_length; /* FIXED_LEN_BYTE_ARRAY */
    int optional;        /* OPTIONAL: values may be null (max definition level 1) */
    int converted_type;  /* the ConvertedType, or -1 */
    int is_string;       /* STRING logical type or UTF8 converted type */
    enum parquet_time_unit time_unit;
};

struct parquet_chunk {
    int codec;                      /* enum parquet_codec (only supported ones get here) */
    uint32_t encodings;             /* bit e set: the metadata lists encoding e */
    int64_t num_values;             /* values in the chunk, nulls included */
    int64_t data_page_offset;       /* file offsets */
    int64_t dictionary_page_offset; /* 0 when there is none */
    int64_t offset;                 /* the chunk's first byte: its dictionary or first data page */
    int64_t compressed_size;        /* bytes from offset, page headers included */
};

struct parquet_row_group {
    int64_t num_rows;
    int64_t first_row;            /* rows in the row groups before this one */
    struct parquet_chunk *chunks; /* one per column, in schema order */
};

struct parquet_meta {
    struct parquet_limits limits; /* defaults filled in */
    uint64_t file_size;
    uint64_t footer_offset; /* where the FileMetaData starts: chunks end before it */
    int32_t version;
    int64_t num_rows;
    char *created_by; /* or NULL */
    size_t ncolumns;
    struct parquet_column *columns;
    size_t nrow_groups;
    struct parquet_row_group *row_groups;
};

/*
 * The last tail_len bytes of a file of file_size bytes: *footer_len gets the
 * number of bytes at the end of the file that the footer takes (FileMetaData,
 * its length and "PAR1"). ERR_BAD_INPUT when the file is not Parquet or too
 * short, ERR_UNSUPPORTED when encrypted ("PARE") or past max_footer_bytes.
 * limits may be NULL (defaults).
 */
enum err parquet_footer_size(const void *tail, size_t tail_len, uint64_t file_size,
                             const struct parquet_limits *limits, size_t *footer_len, char *errbuf,
                             size_t errlen);

/*
 * Parse the footer from the file's last tail_len bytes (at least the
 * footer_len above; more is fine). *out is NULL on error.
 */
enum err parquet_meta_parse(const void *tail, size_t tail_len, uint64_t file_size,
                            const struct parquet_limits *limits, struct parquet_meta **out,
                            char *errbuf, size_t errlen);
void parquet_meta_free(struct parquet_meta *m); /* NULL-safe */

/* The leaf column named name (ASCII case-insensitive), or -1. */
long parquet_meta_column(const struct parquet_meta *m, const char *name);

/* The byte range of column col's chunk in row group rg. */
void parquet_chunk_range(const struct parquet_meta *m, size_t rg, size_t col, uint64_t *offset,
                         uint64_t *len);

/* One value. Strings and fixed-length bytes point into the reader's buffers. */
struct parquet_value {
    int is_null;
    int64_t i64;          /* BOOLEAN (0 / 1), INT32, INT64; FLOAT / DOUBLE as their bits */
    const uint8_t *bytes; /* BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY, INT96 (12 bytes) */
    size_t len;
};

struct parquet_column_reader;

/*
 * A reader of column col in row group rg. data[0..len) holds the file's
 * bytes from file offset `offset` on and must cover the chunk
 * (parquet_chunk_range); it is borrowed, like m.
 */
enum err parquet_column_reader_new(const struct parquet_meta *m, size_t rg, size_t col,
                                   const void *data, size_t len, uint64_t offset,
                                   struct parquet_column_reader **out, char *errbuf, size_t errlen);
/*
 * The next value (of the chunk's num_values; one more is ERR_BAD_INPUT). A
 * value's bytes stay valid until the next call on the same reader.
 */
enum err parquet_column_reader_next(struct parquet_column_reader *r, struct parquet_value *v,
                                    char *errbuf, size_t errlen);
void parquet_column_reader_free(struct parquet_column_reader *r); /* NULL-safe */

/*
 * A timestamp value of column c (INT64 with a time unit, or INT96: nanos of
 * the day and Julian day) in milliseconds since 1970 (rounded down). 0 when
 * c is no timestamp column or the time is outside the years 0000-9999.
 */
int parquet_value_time_ms(const struct parquet_column *c, const struct parquet_value *v,
                          int64_t *ms);

/*
 * S3 Inventory lines from a Parquet inventory file. Columns are bound by
 * name, ASCII case-insensitively, in any order, extra columns ignored:
 * bucket and key (required, strings), version_id, e_tag, storage_class
 * (strings), is_latest, is_delete_marker (BOOLEAN), size (INT64 or INT32),
 * last_modified_date (a timestamp, or an RFC 3339 string). A missing
 * required column, a duplicate name or a column of another type is an error
 * of parquet_inventory_new naming the column.
 *
 * Each row becomes one struct inventory_line with the CSV decoder's rules:
 * a null or empty string is absent (NULL); is_latest null is -1,
 * is_delete_marker null is 0; the time is RFC 3339 UTC with milliseconds;
 * the eTag is quoted unless it already is ("..." or W/"..."); line is the
 * 1-based row in the file. Keys are taken as they are: S3 URL-encodes keys
 * in CSV inventories only. A row with a null or empty bucket or key, a
 * negative size, a time outside 0000-9999, a NUL byte or invalid UTF-8 in a
 * string is ERR_BAD_INPUT naming the row and column.
 */
struct parquet_inventory;

enum err parquet_inventory_new(const struct parquet_meta *m, inventory_line_fn fn, void *ctx,
                               struct parquet_inventory **out, char *errbuf, size_t errlen);
/*
 * The byte range of row group rg that parquet_inventory_row_group() needs
 * (the bound columns' chunks); ERR_UNSUPPORTED past max_range_bytes.
 */
enum err parquet_inventory_range(const struct parquet_inventory *d, size_t rg, uint64_t *offset,
                                 uint64_t *len, char *errbuf, size_t errlen);
/*
 * Decode row group rg from data[0..len), the file's bytes from `offset` on
 * (covering parquet_inventory_range), calling fn for each row in order. The
 * callback's error stops decoding and is returned as is.
 */
enum err parquet_inventory_row_group(struct parquet_inventory *d, size_t rg, const void *data,
                                     size_t len, uint64_t offset, char *errbuf, size_t errlen);
void parquet_inventory_free(struct parquet_inventory *d); /* NULL-safe */

#endif
