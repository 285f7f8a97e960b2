/*
 * log.h - one JSON object per line on stderr
 *
 * Every line has `ts` (RFC 3339 UTC, milliseconds), `level` and `msg`;
 * log_json() adds the members of a caller-built object. Lines are written
 * with one write(2) so concurrent threads never interleave. Never pass
 * tokens, passwords or request bodies.
 */
#ifndef INGESTD_LOG_H
#define INGESTD_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* A plain message. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message with extra fields; `fields` is stolen (may be NULL). */
void log_json(enum log_level level, const char *msg, json_t *fields);

/* Format now (or ms since epoch when >= 0) as 2026-11-21T10:15:30.123Z into out[32]. */
void log_timestamp(char out[32], long long epoch_ms);

#endif
