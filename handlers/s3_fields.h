/*
 * s3_fields.h - field rules shared by the S3 event and inventory decoders (pure)
 */
#ifndef INGESTD_S3_FIELDS_H
#define INGESTD_S3_FIELDS_H

#include <stddef.h>

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

#endif
