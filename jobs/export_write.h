/*
 * export_write.h - write the effective repos.csv to one export target
 *
 * One call writes one rendering (the bytes GET /api/v1/repos.csv serves for
 * that generation) to one target of INGESTD_EXPORTS (core/export_spec.h):
 *
 *   file   a temp file in the target's directory, written, fsync'ed,
 *          renamed over the target, then the directory fsync'ed: a reader
 *          sees the old file or the new one, never a part; the temp file is
 *          removed on any failure
 *   s3     PUT with the S3 client (SigV4, its own retries)
 *   http   PUT with Content-Type text/csv; Basic from the URL's userinfo,
 *          else INGESTD_EXPORT_TOKEN as Bearer; any 2xx is done
 *   git    a commit "effective repos.csv generation N" pushed to the
 *          remote's default branch (clients/git_client.h)
 *
 * Errors name the target by its name (no credentials): ERR_UNAVAILABLE for
 * a target that could not take the file (unreachable, refused, full disk,
 * no permission), ERR_INTERNAL for our own failures. The caller retries.
 * A struct export_writer is used by one thread (it owns its clients).
 */
#ifndef INGESTD_EXPORT_WRITE_H
#define INGESTD_EXPORT_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

struct s3_client_config;
struct export_writer;

/*
 * A writer for target t (borrowed, as cfg and s3 are, for the writer's
 * life); git working data goes under cfg->data_dir/exports/.
 */
struct export_writer *export_writer_new(const struct export_target *t, const struct config *cfg,
                                        const struct s3_client_config *s3);
void export_writer_free(struct export_writer *w); /* NULL-safe */

/* Write data (len bytes, rendering of `generation`) to the writer's target. */
enum err export_writer_write(struct export_writer *w, int64_t generation, const char *data,
                             size_t len, char *errbuf, size_t errlen);

/* The file target's atomic write alone (also for tools): path gets data or stays as it was. */
enum err export_write_file(const char *path, const char *data, size_t len, char *errbuf,
                           size_t errlen);

#endif
