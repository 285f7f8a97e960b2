/*
 * orc.h - S3 Inventory data files in Apache ORC, read by byte ranges (pure)
 *
 * The reader never needs a whole file in memory. The caller fetches byte
 * ranges (HTTP Range requests) and hands them over:
 *
 *   1. the tail: the last ORC_TAIL_GUESS bytes (or the whole file when it is
 *      smaller). orc_tail_need() says whether they hold the PostScript and
 *      the Footer; when not, fetch the last *need bytes instead.
 *      orc_file_open() parses them: compression, stripes, the schema.
 *   2. per stripe, in any order and independently: its footer (the range
 *      orc_file_stripe() gives), orc_stripe_open(); then the range
 *      orc_stripe_span() gives, which covers the streams of the bound fields
 *      only, orc_stripe_decode(). orc_stripe_decode_whole() does both from
 *      the stripe's whole bytes.
 *
 * The schema must be a struct of primitive fields (a nested struct, list,
 * map or union field is ERR_UNSUPPORTED naming it). Fields are bound by name,
 * ASCII case-insensitively and ignoring '_', so S3's ORC names (bucket, key,
 * version_id, is_latest, is_delete_marker, size, last_modified_date, e_tag,
 * storage_class) and the CSV ones (Bucket, VersionId, ...) both bind; order
 * does not matter and other fields are ignored; bucket and key are required.
 * Types: strings (string, varchar, char) for bucket, key, version_id, e_tag
 * and storage_class; boolean for is_latest and is_delete_marker; an integer
 * (tinyint .. bigint) for size; timestamp, timestamp with local time zone,
 * date or a string (RFC 3339) for last_modified_date. Any other type is
 * ERR_UNSUPPORTED naming the field, and so is a timestamp (not an instant)
 * that a stripe's writerTimezone says was written in a zone other than UTC.
 *
 * Each row becomes a struct inventory_line as the CSV decoder makes it
 * (codec/inventory_decoder.h): an empty string is an absent value, like an
 * empty CSV field; the eTag is quoted; the date is normalised to UTC with
 * milliseconds; `line` is the row's 1-based number in the file. Keys are
 * not URL-decoded: S3 encodes them in CSV inventories only. A row with a
 * null or empty bucket or key, a NUL byte in a string, a negative size or a
 * date outside years 0000-9999 is ERR_BAD_INPUT naming the row; a row the
 * root struct marks null is skipped.
 *
 * Compression: NONE, ZLIB, SNAPPY, ZSTD (LZO, LZ4: ERR_UNSUPPORTED). Column
 * encryption: ERR_UNSUPPORTED. Caps (ERR_TOO_LARGE): a footer or stripe
 * footer of ORC_MAX_META_BYTES (stored and decompressed), a compression block
 * of ORC_MAX_BLOCK_BYTES, 10000 types, a string value of 64 KiB, a
 * dictionary of 64 MiB; memory while decoding is at most one compression
 * block per stream read (as much as its chunks need), plus the dictionaries.
 *
 * Errors: ERR_BAD_INPUT (malformed or truncated), ERR_UNSUPPORTED,
 * ERR_TOO_LARGE, with a message; a callback's error stops the decode and is
 * returned as is. Ownership: the byte ranges are borrowed for the call
 * (orc_stripe_decode's for its duration only); an orc_stripe borrows its
 * orc_file, which must outlive it. Thread-safety: no globals; a file may be
 * shared by threads reading different stripes (it is not changed after
 * orc_file_open), a stripe has one owner.
 */
#ifndef INGESTD_ORC_H
#define INGESTD_ORC_H

#include <stddef.h>
#include <stdint.h>

#include "codec/inventory_decoder.h"
#include "core/err.h"

/* A first tail fetch that holds the PostScript and Footer of most files. */
#define ORC_TAIL_GUESS (16 * 1024)
#define ORC_MAX_META_BYTES (16 * 1024 * 1024)

struct orc_file;
struct orc_stripe;

/*
 * tail = the last len bytes (len >= 1) of a file of file_size bytes. Sets
 * *need to the tail length orc_file_open() needs: when *need > len, fetch
 * the last *need bytes and call again (a tail of 256 bytes or more always
 * gets the final answer).
 */
enum err orc_tail_need(const void *tail, size_t len, uint64_t file_size, uint64_t *need,
                       char *errbuf, size_t errlen);

/* Parse the tail (at least orc_tail_need's bytes) and bind the fields. */
enum err orc_file_open(const void *tail, size_t len, uint64_t file_size, struct orc_file **out,
                       char *errbuf, size_t errlen);
void orc_file_free(struct orc_file *f); /* NULL-safe */

uint64_t orc_file_rows(const struct orc_file *f);
size_t orc_file_stripe_count(const struct orc_file *f);

/*
 * Where stripe i lies in the file (checked at open to lie within it); all
 * zero when i is not below orc_file_stripe_count().
 */
struct orc_stripe_range {
    uint64_t offset; /* the whole stripe: index, data and footer */
    uint64_t length;
    uint64_t footer_offset;
    uint64_t footer_length;
    uint64_t rows;
    uint64_t first_row; /* rows before it in the file */
};
void orc_file_stripe(const struct orc_file *f, size_t i, struct orc_stripe_range *out);

/* Stripe i from its footer bytes (footer_offset, footer_length of orc_file_stripe). */
enum err orc_stripe_open(const struct orc_file *f, size_t i, const void *footer, size_t len,
                         struct orc_stripe **out, char *errbuf, size_t errlen);
void orc_stripe_free(struct orc_stripe *s); /* NULL-safe */

/* The file range holding every stream orc_stripe_decode reads (length 0 when none). */
void orc_stripe_span(const struct orc_stripe *s, uint64_t *offset, uint64_t *length);

/*
 * Decode the stripe's rows to fn: data holds the file bytes from the span's
 * offset on, len at least the span's length. The stripe object is not
 * changed: a stripe may be decoded again (after a failed callback, say).
 */
enum err orc_stripe_decode(const struct orc_stripe *s, const void *data, size_t len,
                           inventory_line_fn fn, void *ctx, char *errbuf, size_t errlen);

/* Stripe i from its whole bytes (offset, length of orc_file_stripe): open, decode, free. */
enum err orc_stripe_decode_whole(const struct orc_file *f, size_t i, const void *stripe, size_t len,
                                 inventory_line_fn fn, void *ctx, char *errbuf, size_t errlen);

#endif
