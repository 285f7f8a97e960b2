/*
 * parquet_internal.h - pieces the Parquet reader's files share (pure; not for callers)
 *
 * parquet_meta.c (footer, FileMetaData), parquet_page.c (page headers,
 * decompression, the column reader), parquet_values.c (the value encodings)
 * and parquet.c (S3 Inventory lines) see each other through this header.
 * Decoders here work on one byte range that the caller checked; they never
 * read past its end and report malformed input by returning 0 (the caller
 * says where) or an enum err with a message without context.
 */
#ifndef INGESTD_PARQUET_INTERNAL_H
#define INGESTD_PARQUET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "codec/parquet.h"
#include "core/buf.h"
#include "core/err.h"

/* Encodings (parquet.thrift enum Encoding). */
enum parquet_encoding {
    PQ_PLAIN = 0,
    PQ_PLAIN_DICTIONARY = 2,
    PQ_RLE = 3,
    PQ_BIT_PACKED = 4,
    PQ_DELTA_BINARY_PACKED = 5,
    PQ_DELTA_LENGTH_BYTE_ARRAY = 6,
    PQ_DELTA_BYTE_ARRAY = 7,
    PQ_RLE_DICTIONARY = 8,
    PQ_BYTE_STREAM_SPLIT = 9,
};

/* A column name longer than this is ERR_UNSUPPORTED. */
#define PARQUET_MAX_NAME_BYTES 1024

/* in with its zero fields replaced by the defaults (in may be NULL). */
void parquet_limits_fill(struct parquet_limits *out, const struct parquet_limits *in);

/* "PLAIN", "RLE_DICTIONARY", ... or "encoding 42" (in buf). */
const char *parquet_encoding_name(int e, char buf[32]);

/* width (0-64) bits at bit offset `bit` of p, least significant bit first. */
uint64_t parquet_read_bits(const uint8_t *p, uint64_t bit, unsigned width);

/* The RLE / bit-packed hybrid (levels, dictionary indices, booleans). */
struct rle_decoder {
    const uint8_t *p, *end;
    unsigned width;      /* bits per value, 0-32 */
    uint64_t left;       /* values left in the current run */
    int packed;          /* the current run is bit-packed */
    uint64_t value;      /* an RLE run's value */
    const uint8_t *data; /* a bit-packed run's bytes */
    uint64_t bit;        /* the next value's bit offset in data */
};

void rle_init(struct rle_decoder *d, const uint8_t *p, size_t len, unsigned width);
/* 1 with the next value, 0 when the data is malformed or used up. */
int rle_next(struct rle_decoder *d, uint64_t *v);

/* DELTA_BINARY_PACKED. */
struct delta_decoder {
    const uint8_t *p, *end;
    uint64_t per_mini;  /* values per miniblock */
    uint64_t nmini;     /* miniblocks per block */
    uint64_t left;      /* values not yet returned */
    int started;        /* the header's first value was returned */
    unsigned max_width; /* 32 for INT32, 64 for INT64 */
    uint64_t last;      /* the previous value (wrapping arithmetic) */
    uint64_t min_delta;
    const uint8_t *widths; /* the current block's miniblock bit widths */
    uint64_t mini;         /* the current miniblock; nmini when a block header is due */
    const uint8_t *mdata;  /* its bytes */
    unsigned mwidth;
    uint64_t mpos; /* values taken from it */
};

/* The header at p[0..len); its value count must not exceed max_values. */
enum err delta_init(struct delta_decoder *d, const uint8_t *p, size_t len, uint64_t max_values,
                    unsigned max_width, char *errbuf, size_t errlen);
enum err delta_next(struct delta_decoder *d, int64_t *v, char *errbuf, size_t errlen);
/* Where the values that d (fresh from delta_init) would decode end. */
enum err delta_end(const struct delta_decoder *d, const uint8_t **end, char *errbuf, size_t errlen);

/* A dictionary page's values (PLAIN), pointing into buf or the caller's bytes. */
struct parquet_dict {
    struct parquet_value *v;
    size_t n;
};

/* The values of one data page, after its levels. */
struct value_decoder {
    int encoding;
    const struct parquet_column *col;
    size_t max_value_bytes;
    const uint8_t *p, *end;
    uint64_t bool_bit;      /* PLAIN booleans: the next bit at p */
    struct rle_decoder rle; /* dictionary indices, RLE booleans */
    const struct parquet_dict *dict;
    struct delta_decoder delta;    /* integers; lengths; DELTA_BYTE_ARRAY prefix lengths */
    struct delta_decoder suffixes; /* DELTA_BYTE_ARRAY suffix lengths */
    struct buf prev, cur;          /* DELTA_BYTE_ARRAY: the previous and the current value */
};

void values_init(struct value_decoder *d);
void values_release(struct value_decoder *d);
/*
 * Start a page's values: encoding, p[0..len), at most max_values values,
 * dict for the dictionary encodings (NULL when the chunk has none).
 * ERR_UNSUPPORTED for an encoding not read here or not valid for the type.
 */
enum err values_start(struct value_decoder *d, int encoding, const struct parquet_column *col,
                      size_t max_value_bytes, const uint8_t *p, size_t len, uint64_t max_values,
                      const struct parquet_dict *dict, char *errbuf, size_t errlen);
enum err values_next(struct value_decoder *d, struct parquet_value *v, char *errbuf, size_t errlen);

/* n PLAIN values of col from p[0..len) into dict->v (allocated here; n checked first). */
enum err dict_load(struct parquet_dict *dict, const struct parquet_column *col,
                   size_t max_value_bytes, const uint8_t *p, size_t len, uint64_t n, char *errbuf,
                   size_t errlen);
void dict_release(struct parquet_dict *dict);

#endif
