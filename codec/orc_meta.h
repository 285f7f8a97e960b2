/*
 * orc_meta.h - ORC's metadata messages: PostScript, Footer, StripeFooter (pure)
 *
 * Internal to the ORC reader (codec/orc*.c). Each parser takes one
 * serialized (already decompressed) protobuf message and fills a struct
 * with the fields the inventory reader needs; unknown fields are skipped.
 * Repeated fields are counted before anything is allocated, and counts are
 * capped. A malformed message is ERR_BAD_INPUT naming it; a feature the
 * reader does not have is ERR_UNSUPPORTED naming it.
 *
 * Structs are embedded by their owner: orc_*_parse() fills them (owning
 * the arrays), orc_*_release() frees them (NULL-safe, also after a failed
 * parse).
 */
#ifndef INGESTD_ORC_META_H
#define INGESTD_ORC_META_H

#include <stddef.h>
#include <stdint.h>

#include "codec/orc_stream.h"
#include "core/err.h"

/* Type.kind */
enum orc_type_kind {
    ORC_BOOLEAN = 0,
    ORC_BYTE = 1,
    ORC_SHORT = 2,
    ORC_INT = 3,
    ORC_LONG = 4,
    ORC_FLOAT = 5,
    ORC_DOUBLE = 6,
    ORC_STRING = 7,
    ORC_BINARY = 8,
    ORC_TIMESTAMP = 9,
    ORC_LIST = 10,
    ORC_MAP = 11,
    ORC_STRUCT = 12,
    ORC_UNION = 13,
    ORC_DECIMAL = 14,
    ORC_DATE = 15,
    ORC_VARCHAR = 16,
    ORC_CHAR = 17,
    ORC_TIMESTAMP_INSTANT = 18,
    ORC_KIND_COUNT
};

/* Stream.kind */
enum orc_stream_kind {
    ORC_PRESENT = 0,
    ORC_DATA = 1,
    ORC_LENGTH = 2,
    ORC_DICTIONARY_DATA = 3,
    ORC_DICTIONARY_COUNT = 4,
    ORC_SECONDARY = 5,
    ORC_ROW_INDEX = 6,
};

/* ColumnEncoding.kind */
enum orc_encoding_kind {
    ORC_DIRECT = 0,
    ORC_DICTIONARY = 1,
    ORC_DIRECT_V2 = 2,
    ORC_DICTIONARY_V2 = 3,
};

#define ORC_MAX_TYPES 10000
#define ORC_MAX_STRIPES 1000000
#define ORC_MAX_STREAMS 100000
#define ORC_MAX_NAME_BYTES 1024

/* The name of a type kind ("string", "struct", ...; "kind 42" style names are the caller's). */
const char *orc_kind_name(uint64_t kind);

struct orc_postscript {
    uint64_t footer_length;
    uint64_t metadata_length;
    enum orc_compression compression;
    uint64_t block_size; /* 256 KiB when the file does not say */
};

/* ps[0..len): the PostScript. Checks the magic "ORC" and the compression kind. */
enum err orc_postscript_parse(const void *ps, size_t len, struct orc_postscript *out, char *errbuf,
                              size_t errlen);

struct orc_stripe_info {
    uint64_t offset;
    uint64_t index_length;
    uint64_t data_length;
    uint64_t footer_length;
    uint64_t rows;
    uint64_t first_row; /* rows of the stripes before it */
};

/* A field of the root struct. */
struct orc_field {
    char *name;
    uint32_t column; /* its type id, which is also its column id */
    enum orc_type_kind kind;
};

struct orc_footer {
    uint64_t content_length;
    uint64_t rows;
    struct orc_stripe_info *stripes;
    size_t nstripes;
    size_t ntypes;
    struct orc_field *fields; /* the root struct's fields, in order */
    size_t nfields;
};

/*
 * A decompressed Footer. The root type (id 0) must be a struct with one name
 * per field; a field of kind struct, list, map or union (or an unknown kind)
 * is ERR_UNSUPPORTED naming it. Column encryption is ERR_UNSUPPORTED.
 */
enum err orc_footer_parse(const void *data, size_t len, struct orc_footer *out, char *errbuf,
                          size_t errlen);
void orc_footer_release(struct orc_footer *f);

struct orc_stream_info {
    uint32_t kind;
    uint32_t column;
    uint64_t offset; /* in the file: streams follow each other from the stripe's offset */
    uint64_t length;
};

struct orc_encoding {
    uint32_t kind; /* enum orc_encoding_kind, unchecked */
    uint32_t dictionary_size;
};

struct orc_stripe_footer {
    struct orc_stream_info *streams;
    size_t nstreams;
    struct orc_encoding *encodings; /* by column id */
    size_t nencodings;
    char timezone[64]; /* writerTimezone, "" when absent */
};

/*
 * A decompressed StripeFooter of a stripe starting at `offset` whose index
 * and data sections hold `body` bytes: every stream must lie within them.
 */
enum err orc_stripe_footer_parse(const void *data, size_t len, uint64_t offset, uint64_t body,
                                 struct orc_stripe_footer *out, char *errbuf, size_t errlen);
void orc_stripe_footer_release(struct orc_stripe_footer *f);

#endif
