/*
 * pgcopy.h - writing rows in PostgreSQL's COPY text format
 *
 * Values are escaped for COPY text format (backslash, tab, newline, CR);
 * arrays are written as array literals with every element double-quoted.
 * Pure functions over a struct buf.
 */
#ifndef INGESTD_PGCOPY_H
#define INGESTD_PGCOPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct repos_csv;

/* One COPY text field (no delimiter). */
enum err pgcopy_field(struct buf *out, const char *data, size_t len);
/* A text[] literal as one COPY text field: {"a","b"}; n may be 0. */
enum err pgcopy_array(struct buf *out, const char *const *vals, const size_t *lens, size_t n);

/*
 * A text[] literal for a bound query parameter (no COPY escaping):
 * {"a","b\"c"}. lens NULL means the values are NUL-terminated.
 */
enum err pgcopy_param_array(struct buf *out, const char *const *vals, const size_t *lens, size_t n);

/*
 * Row r of a repos.csv document as the rest of a COPY text line, after the
 * leading fields the caller wrote: origin, path, branch, changeset,
 * publish_uri, vals (a text[] of every column's value) and key_digest
 * (bytea), tab-separated, then the line's end. The column list of
 * event_rows and effective_rows ends with these seven.
 */
enum err pgcopy_repos_row(struct buf *out, const struct repos_csv *doc, size_t r);

/*
 * The key digest of a repository: SHA-256 over the 4-byte big-endian length
 * and bytes of origin, of path, then the bytes of branch. Appended as a
 * COPY text bytea field (\\x followed by 64 hex digits).
 */
enum err pgcopy_key_digest(struct buf *out, const char *origin, size_t origin_len, const char *path,
                           size_t path_len, const char *branch, size_t branch_len);
/* The same digest as 64 lower-case hex digits plus NUL. */
void pgcopy_key_digest_hex(char out[65], const char *origin, size_t origin_len, const char *path,
                           size_t path_len, const char *branch, size_t branch_len);
/*
 * Append one element to an array literal being built for a bound parameter:
 * a ',' unless first, then the value double-quoted with '"' and '\\'
 * escaped. The caller writes the surrounding braces.
 */
enum err pgcopy_param_elem(struct buf *out, const char *data, size_t len, int first);
/* Same for a NUL-terminated value, or an unquoted NULL element when v is NULL. */
enum err pgcopy_param_elem_or_null(struct buf *out, const char *v, int first);
/*
 * Several array literals built side by side (one per column of a batch):
 * _open initialises a[0..n) each holding "{", _close appends "}" to each.
 * The caller releases them.
 */
void pgcopy_param_arrays_open(struct buf *a, size_t n);
void pgcopy_param_arrays_close(struct buf *a, size_t n);

/*
 * COPY ... (FORMAT binary): the header, then per row a field count and the
 * fields (each a 4-byte length and the value in the type's binary form),
 * then the trailer. Integers are big-endian; timestamptz is microseconds
 * since 2000-01-01 00:00 UTC.
 */
void pgcopy_bin_header(struct buf *out);
void pgcopy_bin_row(struct buf *out, int nfields);
void pgcopy_bin_null(struct buf *out);
void pgcopy_bin_text(struct buf *out, const char *data, size_t len);
void pgcopy_bin_bool(struct buf *out, int v);
void pgcopy_bin_int4(struct buf *out, int32_t v);
void pgcopy_bin_int8(struct buf *out, int64_t v);
void pgcopy_bin_uuid(struct buf *out, const unsigned char u[16]);
/* A time given in milliseconds since 1970 as a timestamptz field. */
void pgcopy_bin_time_ms(struct buf *out, int64_t epoch_ms);
void pgcopy_bin_trailer(struct buf *out);

/*
 * Values of a binary-format result (PQgetvalue of a query sent with
 * resultFormat 1): an int8, and a timestamptz as microseconds since 1970
 * ('infinity' and times too late for that: INT64_MAX).
 */
int64_t pgcopy_bin_get_int8(const char *v);
int64_t pgcopy_bin_get_time_us(const char *v);

#endif
