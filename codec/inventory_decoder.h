/*
 * inventory_decoder.h - S3 Inventory manifests and CSV data files (pure)
 *
 * S3.md "Inventory ingestion". Two decoders, no I/O, no globals:
 *
 * inventory_manifest_parse(): a manifest.json document. Required:
 * destinationBucket (a bucket name or "arn:aws:s3:::name"; another ARN
 * service or a malformed ARN -> ERR_UNPROCESSABLE), fileFormat, files[].key.
 * Optional: fileSchema, files[].MD5checksum (32 hex digits), files[].size,
 * sourceBucket, creationTimestamp (epoch milliseconds, as a string or a
 * number). fileFormat "CSV", "ORC" or "Parquet" (any case; file_format
 * gets S3's spelling, format the enum); anything else ERR_UNPROCESSABLE.
 * The CSV data files are decoded below; ORC and Parquet ones by
 * codec/orc.h and codec/parquet.h (their fileSchema is not used: columns
 * are bound by the names in the files). Not JSON -> ERR_BAD_INPUT.
 *
 * struct inventory_csv: a data file's decompressed bytes, fed in chunks of
 * any size (gzip is undone by the caller). Columns: fileSchema if given
 * (names split on ',' and trimmed); else, when the first line is a header
 * (it has fields named Bucket and Key), that header; else the default
 * Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate,
 * ETag, StorageClass, bound to the first nine fields (more fields on the
 * first line are ignored; fewer is an error). Columns are bound by name
 * (case-insensitive), so order and extra columns do not matter; Bucket and
 * Key are required. Every line has as many fields as the first. Empty fields
 * ("" or bare) are absent values; an ETag is quoted as s3_etag_append()
 * says. Trailing blank lines are ignored. Keys are URL-decoded (form
 * encoding). Each line becomes one struct inventory_line handed to a
 * callback; a malformed line (bad quoting, wrong field count,
 * bad IsLatest/IsDeleteMarker/Size/LastModifiedDate) is ERR_BAD_INPUT naming
 * the file line.
 */
#ifndef INGESTD_INVENTORY_DECODER_H
#define INGESTD_INVENTORY_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct inventory_file {
    char *key;
    char *md5_hex; /* lower case, or NULL */
    int has_size;
    int64_t size;
};

enum inventory_format {
    INVENTORY_CSV = 0,
    INVENTORY_ORC,
    INVENTORY_PARQUET,
};

struct inventory_manifest {
    char *source_bucket;      /* or NULL */
    char *destination_bucket; /* the bucket name (ARN prefix removed) */
    enum inventory_format format;
    char *file_format; /* "CSV", "ORC" or "Parquet" */
    char *file_schema; /* or NULL */
    int has_creation_ms;
    int64_t creation_ms;
    struct inventory_file *files;
    size_t nfiles;
};

enum err inventory_manifest_parse(const char *json, size_t len, struct inventory_manifest *out,
                                  char *errbuf, size_t errlen);
void inventory_manifest_release(struct inventory_manifest *m); /* NULL-safe */

struct inventory_line {
    const char *bucket;
    const char *key;        /* URL-decoded */
    const char *version_id; /* NULL when absent (the caller stores "null") */
    int is_latest;          /* -1 when the column is absent */
    int is_delete_marker;   /* 0 when absent */
    int has_size;
    int64_t size;
    const char *last_modified; /* normalised RFC 3339 UTC with milliseconds, or NULL */
    int64_t last_modified_ms;  /* the same in milliseconds since 1970, when not NULL */
    const char *etag;          /* quoted ("..."), or NULL */
    const char *storage_class; /* or NULL */
    size_t line;               /* 1-based line in the file */
};

/* Receives each line; strings are valid during the call only. */
typedef enum err (*inventory_line_fn)(void *ctx, const struct inventory_line *line, char *errbuf,
                                      size_t errlen);

struct inventory_csv;

/* file_schema may be NULL. Never NULL. */
struct inventory_csv *inventory_csv_new(const char *file_schema, inventory_line_fn fn, void *ctx);
enum err inventory_csv_feed(struct inventory_csv *d, const char *data, size_t len, char *errbuf,
                            size_t errlen);
enum err inventory_csv_finish(struct inventory_csv *d, char *errbuf, size_t errlen);
void inventory_csv_free(struct inventory_csv *d);

#endif
