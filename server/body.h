/*
 * body.h - request body intake: media type checks, caps, gzip, multipart
 *
 * The HTTP adapter hands body bytes over in chunks as they arrive; the
 * intake decodes them on the fly (Content-Encoding: gzip, then
 * multipart/form-data) into one capped buffer. Both the bytes on the wire
 * and the decoded bytes are capped at max_bytes (ERR_TOO_LARGE). Pure:
 * no I/O.
 */
#ifndef INGESTD_BODY_H
#define INGESTD_BODY_H

#include <stddef.h>

#include "core/err.h"

enum body_kind {
    BODY_CSV,  /* text/csv (charset utf-8 optional) or multipart/form-data; no type = csv */
    BODY_JSON, /* application/json; no type = json */
    BODY_RAW,  /* the bytes as they are, whatever the Content-Type (no multipart decoding) */
};

struct body_intake;

/*
 * Check the media type and encoding before any byte is read: ERR_UNSUPPORTED
 * (415) for another type, charset or encoding, ERR_BAD_INPUT for a multipart
 * type without a usable boundary. On success *out is a new intake.
 */
enum err body_intake_new(struct body_intake **out, enum body_kind kind, const char *content_type,
                         const char *content_encoding, size_t max_bytes, char *errbuf,
                         size_t errlen);
enum err body_intake_feed(struct body_intake *bi, const char *data, size_t len, char *errbuf,
                          size_t errlen);
/* End of body: flushes the decoders (truncated gzip, missing boundary...). */
enum err body_intake_finish(struct body_intake *bi, char *errbuf, size_t errlen);
/* The decoded body (NUL-terminated, owned by bi) and its length. */
const char *body_intake_data(const struct body_intake *bi, size_t *len);
size_t body_intake_raw_len(const struct body_intake *bi);
/* The multipart file name, else NULL. */
const char *body_intake_filename(const struct body_intake *bi);
void body_intake_free(struct body_intake *bi);

#endif
