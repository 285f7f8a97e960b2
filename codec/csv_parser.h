/*
 * csv_parser.h - streaming RFC 4180 CSV decoder (pure: no I/O, no globals)
 *
 * Bytes are fed in chunks of any size; each complete record is handed to the
 * record callback with its fields. Rules (MERGE.md "Parsing"):
 *  - UTF-8; a leading byte-order mark is dropped; invalid UTF-8 is an error
 *    (reported with the line it starts on, sequences may span chunks);
 *  - comma separated; a double-quoted field may hold commas, "" (one quote),
 *    CR and LF, all kept as they are;
 *  - records end with LF or CRLF, mixed; the final line ending is optional;
 *    the CR of a CRLF is never part of a value; a lone CR outside quotes is
 *    kept as data;
 *  - physical lines that are empty, or whose first character is '#', are
 *    skipped (a '#' inside a quoted continuation line is data);
 *  - a quote inside an unquoted field, text after a closing quote, and an
 *    unterminated quoted field at the end are syntax errors.
 *
 * Syntax and UTF-8 errors are reported to the error callback with the line
 * number and parsing goes on (so a caller can list every problem); the
 * record that had the error is still delivered, flagged. Limits (max
 * columns, max field bytes) are fatal: feed() returns ERR_BAD_INPUT with a
 * message and the parser must not be fed again.
 *
 * Memory: the parser owns one record buffer bounded by the limits; field
 * pointers passed to the callback are valid only during the call.
 * Thread-safety: one parser per thread.
 */
#ifndef INGESTD_CSV_PARSER_H
#define INGESTD_CSV_PARSER_H

#include <stddef.h>

#include "core/err.h"

struct csv_field {
    const char *data; /* not NUL-terminated */
    size_t len;
};

struct csv_limits {
    size_t max_columns;     /* fields per record */
    size_t max_field_bytes; /* bytes per field after unquoting */
};

/*
 * Called once per record. `line` is the 1-based physical line the record
 * starts on; `had_error` is non-zero when a syntax/UTF-8 error was reported
 * inside this record. Returning non-ERR_OK stops the parser; feed() returns
 * that code and the message the callback put in errbuf.
 */
typedef enum err (*csv_record_fn)(void *ctx, size_t line, const struct csv_field *fields,
                                  size_t nfields, int had_error, char *errbuf, size_t errlen);

/* Called for each syntax or UTF-8 problem; `detail` is lower case. */
typedef void (*csv_error_fn)(void *ctx, size_t line, const char *detail);

struct csv_parser;

/* Returns a new parser; never NULL. `lim` is copied. */
struct csv_parser *csv_parser_new(const struct csv_limits *lim, csv_record_fn on_record,
                                  csv_error_fn on_error, void *ctx);
/* Feed the next chunk (len may be 0). */
enum err csv_parser_feed(struct csv_parser *p, const char *data, size_t len, char *errbuf,
                         size_t errlen);
/* End of input: delivers a final record without line ending, reports an
 * unterminated quote or a truncated UTF-8 sequence. */
enum err csv_parser_finish(struct csv_parser *p, char *errbuf, size_t errlen);
/* NULL-safe. */
void csv_parser_free(struct csv_parser *p);

#endif
