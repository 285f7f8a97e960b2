/*
 * parquet_support.h - helpers of the Parquet reader's tests (test_parquet*.c)
 *
 * pq_decode() reads a whole file through the reader's random-access API the
 * way a caller with HTTP Range requests does, each range copied into a
 * buffer of its exact size (so AddressSanitizer sees any read past a range),
 * and returns a transcript of the inventory lines.
 *
 * What no real writer at hand produces (INT96 times, BIT_PACKED levels,
 * malformed metadata, encodings the reader refuses) is hand-built: a Thrift
 * compact writer (tw_*), page writers (pb_page_*, uncompressed), and
 * pb_build(), which lays out "PAR1", the chunks, FileMetaData and the footer.
 * Everything is appended to struct buf (core/buf.h); allocation failure aborts.
 */
#ifndef INGESTD_TEST_PARQUET_SUPPORT_H
#define INGESTD_TEST_PARQUET_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "codec/parquet.h"
#include "core/buf.h"

/* ---- decoding ---- */

/* The contents of a file (caller frees); aborts the test when it cannot be read. */
char *pq_slurp(const char *path, size_t *len);

/*
 * Decode data[0..len) as a Parquet S3 Inventory: the last tail_guess bytes
 * first (more when the footer needs them), then each row group's range.
 * Transcript, one line per inventory line (as test_inventory_decoder.c):
 *   L<line>|bucket|key|versionId|IsLatest|IsDeleteMarker|size|lastModified|eTag|storageClass
 * with "-" for NULL / absent, then "rc <n>: <message>" when it failed. The
 * callback fails on line fail_at (0: never). lim may be NULL. Caller frees.
 */
char *pq_decode(const char *data, size_t len, const struct parquet_limits *lim, size_t tail_guess,
                size_t fail_at);
/* The same, for a file. */
char *pq_decode_file(const char *path);

/* ---- Thrift compact writer ---- */

#define TW_MAX_DEPTH 16

struct tw {
    struct buf *out;
    int last[TW_MAX_DEPTH]; /* the previous field id of each open struct */
    int depth;
};

void tw_init(struct tw *w, struct buf *out);
void tw_varint(struct buf *out, uint64_t v);
void tw_field(struct tw *w, int type, int id); /* a field header (THRIFT_* type) */
void tw_i32(struct tw *w, int id, int64_t v);
void tw_i64(struct tw *w, int id, int64_t v);
void tw_bool(struct tw *w, int id, int v);
void tw_bin(struct tw *w, int id, const void *p, size_t n);
void tw_str(struct tw *w, int id, const char *s);
void tw_begin(struct tw *w, int id); /* a struct field; tw_end() closes it */
void tw_end(struct tw *w);           /* the stop field of the innermost struct */
void tw_list(struct tw *w, int id, int elem_type, size_t n);
void tw_elem_begin(struct tw *w); /* a struct element of a list; tw_end() closes it */
void tw_elem_i32(struct tw *w, int64_t v);
void tw_elem_str(struct tw *w, const char *s);

/* ---- values and pages ---- */

void pb_le32(struct buf *out, uint32_t v);
void pb_le64(struct buf *out, uint64_t v);
void pb_plain_str(struct buf *out, const char *s); /* PLAIN BYTE_ARRAY */
void pb_int96(struct buf *out, int64_t nanos_of_day, int32_t julian_day);
/* Levels (0 or 1 each) as RLE runs of width 1, without a length prefix. */
void pb_rle_levels(struct buf *out, const int *levels, size_t n);

/* A data page v1: levels (NULL: none) as given (with their prefix if any), then values. */
void pb_page_v1(struct buf *out, int encoding, int def_encoding, int64_t num_values,
                const struct buf *levels, const void *values, size_t vlen);
/* A data page v2: RLE levels (NULL: none), then values; is_compressed < 0 leaves it out. */
void pb_page_v2(struct buf *out, int encoding, int64_t num_values, int64_t num_nulls,
                const struct buf *levels, const void *values, size_t vlen, int is_compressed);
void pb_dict_page(struct buf *out, int encoding, int64_t num_values, const void *values,
                  size_t vlen);
/* A page header only (any type and sizes), for malformed pages. */
void pb_page_header(struct buf *out, int type, int64_t uncompressed, int64_t compressed);

/* ---- files ---- */

struct pb_col {
    const char *name;
    int type;         /* enum parquet_type; -1: a group */
    int repetition;   /* 0 required, 1 optional, 2 repeated */
    int converted;    /* ConvertedType or -1 */
    int ts_unit;      /* a TIMESTAMP logical type: 1 millis, 2 micros, 3 nanos; 0 none */
    int num_children; /* a group's children (they follow it) */
};

struct pb_chunk {
    int codec;
    int64_t num_values;
    struct buf pages;
    size_t dict_len; /* a leading dictionary page's bytes (header included), 0 = none */
};

#define PB_MAX_COLS 8
#define PB_MAX_RGS 3

struct pb_file {
    struct pb_col cols[PB_MAX_COLS]; /* schema elements after the root */
    size_t ncols;
    size_t nleaves; /* chunks per row group */
    size_t nrg;
    int64_t rows[PB_MAX_RGS];
    struct pb_chunk chunks[PB_MAX_RGS][PB_MAX_COLS];
    /* knobs for malformed files */
    int64_t root_children;     /* -1: ncols */
    const char *file_path;     /* a ColumnChunk.file_path on every chunk */
    int encryption;            /* an encryption_algorithm in FileMetaData */
    int64_t chunk_offset_bias; /* added to every chunk's offsets in the metadata */
};

void pb_init(struct pb_file *f);
void pb_release(struct pb_file *f);
/* Add a column and a chunk for it in row group 0 (pages to be appended by the caller). */
struct pb_chunk *pb_add(struct pb_file *f, const char *name, int type, int repetition,
                        int converted);
/* The whole file (caller frees). */
char *pb_build(const struct pb_file *f, size_t *len);

#endif
