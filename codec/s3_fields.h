/*
 * s3_fields.h - field rules shared by the S3 event and inventory decoders (pure)
 */
#ifndef INGESTD_S3_FIELDS_H
#define INGESTD_S3_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Room for a normalised time ("YYYY-MM-DDTHH:MM:SS.mmmZ") and then some. */
#define S3_TIME_BUF 96

/*
 * Strict RFC 3339 date-time s[0..len) ("2024-05-06T22:37:48.5+02:00") to UTC
 * with milliseconds in out ("2024-05-06T20:37:48.500Z"). Fraction digits past
 * the millisecond are truncated; second 60 rolls over; 'T'/'Z' may be lower
 * case. Returns 0 when s is not one, or the UTC year falls outside
 * 0000-9999. No locale, no time zone database.
 */
int s3_time_normalise(const char *s, size_t len, char out[S3_TIME_BUF]);

/* UTC seconds since 1970 of 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z. */
#define S3_TIME_MIN_S (-62167219200LL)
#define S3_TIME_MAX_S 253402300800LL

/* The same parse as s3_time_normalise, to milliseconds since 1970 (UTC). */
int s3_time_parse_ms(const char *s, size_t len, int64_t *epoch_ms);
/* Milliseconds since 1970 (within the years above) as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void s3_time_format_ms(int64_t epoch_ms, char out[S3_TIME_BUF]);

/*
 * Append the eTag s[0..len) to out as the catalog stores it, with the
 * filemanager's quoting: a `"` is put in front unless s starts with `"` or
 * `W/"`, and one at the end unless s already ends with a `"` that is not its
 * opening one. So `abc`, `"abc` and `abc"` become `"abc"`, `W/"abc` becomes
 * `W/"abc"`, a lone `"` and the empty eTag become `""`, `W/"` becomes
 * `W/""`; `"abc"` and `W/"abc"` are kept. Nothing else is checked.
 */
void s3_etag_append(struct buf *out, const char *s, size_t len);

#endif
