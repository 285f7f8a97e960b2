/*
 * thrift_compact.h - a reader of the Thrift compact protocol over one byte range (pure)
 *
 * Parquet keeps its file metadata and page headers as Thrift structs in the
 * compact protocol. This reader knows the wire format only (field headers,
 * zigzag varints, binaries, lists, maps); which field means what is the
 * caller's business (codec/parquet_meta.c, codec/parquet_page.c). A caller
 * walks a struct with thrift_read_field() until THRIFT_STOP, reads the
 * fields it knows with the typed readers and passes the others to
 * thrift_skip().
 *
 * Every read is bounds-checked against the range; a short, malformed or too
 * deeply nested input is ERR_BAD_INPUT with a message (lower case, no
 * context: the caller prefixes where it was). A list's element count is
 * checked against the bytes left before the caller allocates for it.
 * Pointers handed out (binaries) point into the caller's bytes.
 * Thread-safety: one reader per thread; no globals.
 */
#ifndef INGESTD_THRIFT_COMPACT_H
#define INGESTD_THRIFT_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Field and element types of the compact protocol. */
enum thrift_type {
    THRIFT_STOP = 0,
    THRIFT_TRUE = 1,  /* a bool field holding true; in a list, a bool element (some writers) */
    THRIFT_FALSE = 2, /* a bool field holding false; in a list, a bool element */
    THRIFT_I8 = 3,
    THRIFT_I16 = 4,
    THRIFT_I32 = 5,
    THRIFT_I64 = 6,
    THRIFT_DOUBLE = 7,
    THRIFT_BINARY = 8,
    THRIFT_LIST = 9,
    THRIFT_SET = 10,
    THRIFT_MAP = 11,
    THRIFT_STRUCT = 12,
    THRIFT_UUID = 13,
};

/* Structs nested deeper than this are ERR_BAD_INPUT. */
#define THRIFT_MAX_DEPTH 32

struct thrift_reader {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
    int depth;          /* structs entered by thrift_struct_begin() and not left */
};

/* A field header: its type (THRIFT_STOP ends the struct) and id. */
struct thrift_field {
    int type;
    int id;
};

void thrift_reader_init(struct thrift_reader *r, const void *data, size_t len);

/* Bytes consumed since data (for page headers: the header's length). */
size_t thrift_reader_used(const struct thrift_reader *r, const void *data);

/*
 * Enter / leave a struct (depth check). *last_id must start at 0 for each
 * struct and is passed to every thrift_read_field() of that struct.
 */
enum err thrift_struct_begin(struct thrift_reader *r, char *errbuf, size_t errlen);
void thrift_struct_end(struct thrift_reader *r);
enum err thrift_read_field(struct thrift_reader *r, int *last_id, struct thrift_field *f,
                           char *errbuf, size_t errlen);

/* An integer of wire type I8, I16, I32 or I64 that must fit [min, max]. */
enum err thrift_read_int(struct thrift_reader *r, int type, int64_t min, int64_t max, int64_t *v,
                         char *errbuf, size_t errlen);
/* A bool field: its value is in the type (TRUE / FALSE). */
enum err thrift_read_bool(int type, int *v, char *errbuf, size_t errlen);
/* A binary (or string): *p points into the input. */
enum err thrift_read_binary(struct thrift_reader *r, int type, const uint8_t **p, size_t *len,
                            char *errbuf, size_t errlen);
/* A list (or set) header: element type and count, count <= bytes left. */
enum err thrift_read_list(struct thrift_reader *r, int type, int *elem_type, size_t *n,
                          char *errbuf, size_t errlen);
/* One list element of elem_type as an integer (I8..I64; a bool element as 0 / 1). */
enum err thrift_read_elem_int(struct thrift_reader *r, int elem_type, int64_t min, int64_t max,
                              int64_t *v, char *errbuf, size_t errlen);
/* Skip a value of the given type (field type or list element type). */
enum err thrift_skip(struct thrift_reader *r, int type, char *errbuf, size_t errlen);

#endif
