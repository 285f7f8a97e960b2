/*
 * import_s3.h - the S3 side of an import location s3://bucket/prefix/
 *
 * The old pipeline's S3 publisher runs `aws s3 cp file
 * s3://bucket/prefix/pending/<name>`; an object appears whole once its PUT
 * completed, so what a listing shows is ready. This module lists
 * prefix/pending/ (ListObjectsV2, every page), reads an object under a byte
 * cap (an object larger than the cap by its listed size is not fetched),
 * moves one by CopyObject to prefix/processed/YYYY-MM-DD/<name> or
 * prefix/failed/<name> and DeleteObject, and PUTs <name>.problem.json into
 * failed/. Nothing at a destination is replaced: when <name> exists there,
 * the copy is <name>~<first 12 hex of its SHA-256>. Keys below pending/
 * that hold a further '/' are not files of the location and are skipped;
 * so are names starting with '.'. Same contracts as jobs/import_folder.h.
 *
 * Not thread-safe: one struct import_s3 belongs to one thread.
 */
#ifndef INGESTD_IMPORT_S3_H
#define INGESTD_IMPORT_S3_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "jobs/import_folder.h"

struct import_s3;
struct s3_client_config;

/* location is "s3://bucket/prefix/" (as config.c checked it); cfg is copied, strings borrowed. */
struct import_s3 *import_s3_new(const char *location, const struct s3_client_config *cfg);
void import_s3_free(struct import_s3 *s); /* NULL-safe */

/*
 * List prefix/pending/ (every page): the names are appended to ready, at
 * most max_names of them (the rest wait for the next listing). S3's errors
 * as clients/s3_client.h gives them.
 */
enum err import_s3_list(struct import_s3 *s, struct import_names *ready, size_t max_names,
                        char *errbuf, size_t errlen);
/* As import_folder_read(), for prefix/pending/<name> (kinds OK, GONE, TOO_LARGE). */
enum err import_s3_read(struct import_s3 *s, const char *name, size_t max_bytes,
                        struct buf *content, enum import_read_kind *kind, size_t *bytes,
                        char sha256[65], char *errbuf, size_t errlen);
/* As import_folder_move(): copy into processed/<date>/ (date NULL: failed/), then delete. */
enum err import_s3_move(struct import_s3 *s, const char *name, const char *date, const char *sha256,
                        char *errbuf, size_t errlen);
/* PUT prefix/failed/<name>.problem.json. */
enum err import_s3_write_problem(struct import_s3 *s, const char *name, json_t *problem,
                                 char *errbuf, size_t errlen);

#endif
