/*
 * orc_column.h - one ORC column of a stripe, value by value (pure)
 *
 * Internal to the ORC reader (codec/orc*.c). A column reads its streams
 * (PRESENT, DATA, LENGTH, DICTIONARY_DATA, SECONDARY), decompressing them
 * chunk by chunk, and yields one value per row:
 *
 *   BOOLEAN                  DATA boolean bits
 *   BYTE                     DATA byte RLE (signed)
 *   SHORT, INT, LONG         DATA signed integer RLE (v1 for DIRECT, v2 for DIRECT_V2)
 *   DATE                     the same, days since 1970-01-01
 *   TIMESTAMP(_INSTANT)      DATA signed seconds since 2015-01-01 00:00:00 UTC,
 *                            SECONDARY unsigned nanoseconds with the count of
 *                            removed trailing zeros (minus one) in the low 3 bits
 *   STRING, VARCHAR, CHAR    DIRECT(_V2): LENGTH lengths and DATA bytes;
 *                            DICTIONARY(_V2): DICTIONARY_DATA and LENGTH hold
 *                            the dictionary, DATA indexes into it
 *
 * A missing stream reads as an empty one. Timestamps come out as
 * milliseconds since 1970 (truncated; within years 0000-9999 or the value is
 * ERR_BAD_INPUT); a TIMESTAMP column written in a time zone other than UTC
 * is ERR_UNSUPPORTED (an instant's zone does not matter). Caps: a string
 * value of ORC_MAX_VALUE_BYTES, a dictionary of ORC_MAX_DICT_BYTES and of
 * no more entries than the stripe has rows, all checked before allocating.
 *
 * struct orc_column is embedded by its owner: orc_column_open() /
 * orc_column_close() (NULL-safe, also after a failed open). The stream
 * bytes are borrowed and must outlive the column; a string value is valid
 * until the next call.
 */
#ifndef INGESTD_ORC_COLUMN_H
#define INGESTD_ORC_COLUMN_H

#include <stddef.h>
#include <stdint.h>

#include "codec/orc_meta.h"
#include "codec/orc_rle.h"
#include "codec/orc_stream.h"
#include "core/buf.h"
#include "core/err.h"

#define ORC_MAX_VALUE_BYTES (64 * 1024)
#define ORC_MAX_DICT_BYTES (64 * 1024 * 1024)

/* Seconds from 1970-01-01 to 2015-01-01 (UTC), ORC's timestamp origin. */
#define ORC_TIMESTAMP_BASE_S 1420070400LL

/* The streams of a column, by kind; NULL / 0 when absent. */
enum orc_col_stream {
    ORC_S_PRESENT,
    ORC_S_DATA,
    ORC_S_LENGTH,
    ORC_S_DICT,
    ORC_S_SECONDARY,
    ORC_S_N
};

struct orc_column_spec {
    const char *name; /* the field name, for messages */
    enum orc_type_kind kind;
    struct orc_encoding encoding;
    const unsigned char *stream[ORC_S_N];
    size_t stream_len[ORC_S_N];
    enum orc_compression compression;
    size_t block;
    uint64_t rows;        /* in the stripe */
    const char *timezone; /* the stripe's writerTimezone, "" when absent */
};

struct orc_value {
    int present;   /* 0: null */
    int64_t i;     /* boolean 0/1, integer, date or timestamp: milliseconds since 1970 */
    const char *s; /* string: bytes (NUL-terminated, may hold NULs), len of them */
    size_t len;
};

struct orc_column {
    char what[ORC_S_N][ORC_MAX_NAME_BYTES + 32]; /* "field <name>: <KIND> stream" */
    enum orc_type_kind kind;
    int has_present;
    int dictionary;
    struct orc_stream s[ORC_S_N];
    struct orc_bool_rle present;
    struct orc_bool_rle bools;  /* BOOLEAN DATA */
    struct orc_byte_rle bytes;  /* BYTE DATA */
    struct orc_int_rle ints;    /* integer DATA: values, seconds, dictionary indexes */
    struct orc_int_rle lengths; /* direct string LENGTH */
    struct orc_int_rle nanos;   /* timestamp SECONDARY */
    struct buf dict;            /* dictionary bytes */
    uint64_t *dict_off;         /* dict_n + 1 offsets into dict */
    size_t dict_n;
    struct buf value; /* the current direct string */
};

/*
 * A SECONDARY value to nanoseconds: the low 3 bits z say z + 1 trailing
 * decimal zeros were removed (none when z is 0), so 0x0a is 1000 and 0x0c
 * 100000. Returns -1 when the result is not below 10^9.
 */
int64_t orc_timestamp_nanos(uint64_t encoded);

/* Check the type and encoding, load the dictionary. */
enum err orc_column_open(struct orc_column *c, const struct orc_column_spec *spec, char *errbuf,
                         size_t errlen);
void orc_column_close(struct orc_column *c);

/* The next row's value. */
enum err orc_column_next(struct orc_column *c, struct orc_value *v, char *errbuf, size_t errlen);

#endif
