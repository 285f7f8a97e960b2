/*
 * inventory_ranged.h - ORC and Parquet inventory data files read from S3 by byte ranges
 *
 * The inventory runner's path for the columnar formats (the CSV path streams
 * a file instead). Parquet and ORC keep their metadata at the end, so a file
 * is read from the tail: one Range GET for the last bytes (more when the
 * footer says it needs more), then one Range GET per row group (Parquet:
 * the bound columns' chunks) or per stripe (ORC: its footer, then the span
 * of the bound fields' streams). Only one such range is in memory at a time,
 * never the whole file; a range is capped at INVENTORY_RANGE_MAX_BYTES.
 *
 * When the caller needs every byte (on_stored: the manifest's MD5 of the
 * whole object), the units are read in order by one sequential GET after the
 * tail instead, the unit in hand gathered in memory and decoded when
 * complete: the object is read once, and still never whole in memory.
 *
 * The rows go to on_line as struct inventory_line, exactly what the CSV
 * decoder gives, so staging and everything after it is the same.
 *
 * Errors: every failure of S3 itself is ERR_UPSTREAM with the client's "s3
 * GET bucket/key bytes a-b: ..." message (as the runner's whole-object
 * GETs); a decoder's error (ERR_BAD_INPUT, ERR_UNSUPPORTED, ERR_TOO_LARGE)
 * or on_line's comes back as it is, its message not naming the file (the
 * caller puts the key in front). Thread-safety: the call uses the s3 client
 * it is given, which belongs to the calling thread.
 */
#ifndef INGESTD_INVENTORY_RANGED_H
#define INGESTD_INVENTORY_RANGED_H

#include <stddef.h>
#include <stdint.h>

#include "clients/s3_client.h"
#include "codec/inventory_decoder.h"
#include "core/err.h"

/* The largest byte range held at once (a row group's columns, a stripe's streams). */
#define INVENTORY_RANGE_MAX_BYTES ((size_t)256 << 20)

struct inventory_ranged {
    struct s3_client *s3; /* borrowed, the caller's thread's */
    const char *bucket;
    const struct inventory_file *file;
    enum inventory_format format; /* INVENTORY_ORC or INVENTORY_PARQUET */
    inventory_line_fn on_line;
    void *line_ctx;
    /* after each range: the bytes it brought (progress); may be NULL */
    void (*on_bytes)(void *ctx, size_t n);
    void *bytes_ctx;
    /*
     * NULL, or every byte of the object in order (for the MD5 of the whole
     * object): the row groups or stripes are then read in order by one
     * sequential GET of the object after the tail, each decoded when its
     * bytes are in, instead of one Range GET each (inventory_ranged.c).
     * An error it returns stops the read and comes back as it is.
     */
    byte_sink_fn on_stored;
    void *stored_ctx;
};

/*
 * Decode the file io->file of io->bucket to io->on_line, row by row in file
 * order. Its size is the manifest's (file->size) when given, else a HEAD
 * asks S3; *file_size gets it.
 */
enum err inventory_ranged_decode(const struct inventory_ranged *io, uint64_t *file_size,
                                 char *errbuf, size_t errlen);

#endif
