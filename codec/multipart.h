/*
 * multipart.h - streaming multipart/form-data (RFC 7578) file extractor (pure)
 *
 * Finds the one file part (a part whose Content-Disposition has a
 * `filename` parameter, which is what `curl -F file=@x` sends) and passes
 * its content to a sink, in chunks of any size, without buffering the part.
 * Parts without a filename (plain form fields) are skipped. Zero file parts,
 * more than one, a missing closing boundary, or part headers over 8 KiB are
 * ERR_BAD_INPUT.
 * Thread-safety: one decoder per thread.
 */
#ifndef INGESTD_MULTIPART_H
#define INGESTD_MULTIPART_H

#include <stddef.h>

#include "core/buf.h"

/* The file part's bytes go to a byte_sink_fn (core/buf.h). */
/*
 * Extract the boundary parameter from a Content-Type value such as
 * `multipart/form-data; boundary="abc"`. ERR_BAD_INPUT when absent, empty or
 * longer than 70 characters (RFC 2046).
 */
enum err multipart_boundary(const char *content_type, char *out, size_t outlen, char *errbuf,
                            size_t errlen);

struct multipart;

struct multipart *multipart_new(const char *boundary, byte_sink_fn sink, void *ctx);
enum err multipart_feed(struct multipart *m, const char *data, size_t len, char *errbuf,
                        size_t errlen);
/* End of input: requires the closing boundary and exactly one file part. */
enum err multipart_finish(struct multipart *m, char *errbuf, size_t errlen);
/* The file part's filename (valid after it was seen), else NULL. */
const char *multipart_filename(const struct multipart *m);
void multipart_free(struct multipart *m);

#endif
