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

#include "../server/buf.h"

/* One COPY text field (no delimiter). */
enum err pgcopy_field(struct buf *out, const char *data, size_t len);
/* A text[] literal as one COPY text field: {"a","b"}; n may be 0. */
enum err pgcopy_array(struct buf *out, const char *const *vals, const size_t *lens, size_t n);

/*
 * A text[] literal for a bound query parameter (no COPY escaping):
 * {"a","b\"c"}. lens NULL means the values are NUL-terminated.
 */
enum err pgcopy_param_array(struct buf *out, const char *const *vals, const size_t *lens,
                            size_t n);

#endif
