/*
 * repos_csv.h - decode a repos-lock.csv / effective repos.csv document
 *
 * Builds on csv_parser: the first record is the header (names trimmed of
 * surrounding spaces and tabs, non-empty, unique, `origin` and `path`
 * required); every data record must have exactly as many fields as the
 * header and a non-empty origin and path. Problems are collected with their
 * line numbers (at most REPOS_CSV_MAX_ERRORS kept, all counted) so that a
 * 400 can list them. Pure: no I/O, no globals; fed in chunks of any size.
 *
 * Ownership: struct repos_csv owns everything it holds; repos_csv_free()
 * releases it (NULL-safe). Values are kept exactly as parsed.
 */
#ifndef INGESTD_REPOS_CSV_H
#define INGESTD_REPOS_CSV_H

#include <stddef.h>

#include "core/err.h"

#define REPOS_CSV_MAX_ERRORS 100

struct repos_csv_limits {
    size_t max_columns;     /* default 1000 */
    size_t max_field_bytes; /* default 65536 */
    size_t max_rows;        /* default 1000000 data rows */
};

struct repos_csv_error {
    size_t line; /* 0 when the problem has no line (e.g. missing column) */
    char detail[160];
};

struct repos_csv {
    /* header */
    size_t ncols;
    char **cols; /* NUL-terminated names, trimmed */
    /* index of well-known columns in cols, or -1 when absent */
    int idx_origin, idx_path, idx_branch, idx_changeset, idx_publish_uri;

    /* data: row r, column c is vals[r * ncols + c] (len lens[...]); values
     * point into the document's own arena and are NUL-terminated */
    size_t nrows;
    const char **vals;
    size_t *lens;
    size_t *lines; /* 1-based physical line of each row */

    /* problems; nerrors_total may exceed REPOS_CSV_MAX_ERRORS */
    size_t nerrors;
    size_t nerrors_total;
    struct repos_csv_error errors[REPOS_CSV_MAX_ERRORS];

    void *priv; /* parser and arena */
};

/* A new empty document ready to be fed; `lim` NULL = defaults. */
struct repos_csv *repos_csv_new(const struct repos_csv_limits *lim);
/*
 * Feed a chunk. ERR_BAD_INPUT when a limit was exceeded (fatal: stop
 * feeding); the first message is in errbuf and in errors[]. Ordinary
 * problems (ragged rows, bad quotes, empty origin) do not fail feed(): they
 * are collected and reported by repos_csv_finish().
 */
enum err repos_csv_feed(struct repos_csv *doc, const char *data, size_t len, char *errbuf,
                        size_t errlen);
/*
 * End of input. ERR_BAD_INPUT when the document has any problem (errbuf has
 * a one-line summary such as "line 3: 5 fields, header has 6"; errors[] has
 * the list), or when it has no header ("empty body").
 */
enum err repos_csv_finish(struct repos_csv *doc, char *errbuf, size_t errlen);
void repos_csv_free(struct repos_csv *doc);

/* Convenience: value of row r for column index c; "" when c < 0. */
const char *repos_csv_value(const struct repos_csv *doc, size_t r, int c, size_t *len);

/*
 * Append one CSV field to out as the effective file writes it: quoted only
 * when it contains a comma, a double quote, CR or LF, with quotes doubled.
 * Returns ERR_TOO_LARGE when out's cap is hit.
 */
struct buf;
enum err repos_csv_write_field(struct buf *out, const char *data, size_t len);

#endif
