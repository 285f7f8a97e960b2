/*
 * s3_query.h - the filters of the S3 object catalog's list, count and patch
 *
 * A query is built value by value (s3_query_add, s3_query_add_attribute),
 * each value checked and translated as it is added, then turned into a
 * WHERE clause whose values are all bound parameters ($1, $2, ...): no
 * value is ever part of the SQL text. Pure (no I/O); a query is owned by
 * one thread.
 *
 * Semantics (the filemanager's, API.md): values of one filter given as
 * `name`, `name[]` or `name[or][]` are OR-ed, values given as `name[and][]`
 * AND-ed, and the filters AND-ed together. Attribute filters are grouped by
 * path: values of one path OR-ed, paths AND-ed.
 */
#ifndef INGESTD_S3_QUERY_H
#define INGESTD_S3_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define S3_QUERY_MAX_FIELD_VALUES 100 /* values of one filter (all attribute values: one) */
/* values of all filters together, below the 200 query parameters the HTTP adapter keeps */
#define S3_QUERY_MAX_VALUES 150
#define S3_QUERY_MAX_VALUE_BYTES 4096
#define S3_QUERY_MAX_DEPTH 10 /* segments of an attribute path */

/* The filters, by the API's names (s3_query_field). */
enum s3_field {
    S3F_EVENT_TYPE,
    S3F_BUCKET,
    S3F_KEY,
    S3F_VERSION_ID,
    S3F_EVENT_TIME,
    S3F_SIZE,
    S3F_SHA256,
    S3F_LAST_MODIFIED,
    S3F_ETAG,
    S3F_STORAGE_CLASS,
    S3F_IS_DELETE_MARKER,
    S3F_REASON,
    S3F_ARCHIVE_STATUS,
    S3F_IS_ACCESSIBLE,
    S3F_INGEST_ID,
    S3F_ATTRIBUTE, /* internal: an attributes[...] value */
    S3F_COUNT
};

enum s3_join { S3_JOIN_OR, S3_JOIN_AND };

struct s3_cond {
    enum s3_field field;
    enum s3_join join;
    int kind;    /* how it compares (s3_query.c) */
    char *value; /* the bound value, translated */
    char *path;  /* attributes: the jsonpath of the attribute ($."a"."b"), else NULL */
    char *leaf;  /* attributes: the path's last key, else NULL */
};

struct s3_query {
    struct s3_cond *conds;
    size_t nconds;
    int case_insensitive; /* caseSensitive=false: ILIKE / like_regex flag "i" */
    int current_only;     /* currentState (default true) */
    const char *id;       /* only this record (borrowed), or NULL */
    int64_t offset;
    int64_t limit;
};

/* An empty query: current records only, no limit. */
void s3_query_init(struct s3_query *q);
void s3_query_release(struct s3_query *q);

/* The filter an API name ("key", "eventTime", ...) names, or -1. */
int s3_query_field(const char *name);

/*
 * Add one value of filter `field` (not S3F_ATTRIBUTE). ERR_BAD_INPUT with
 * the reason (without the parameter's name) when the value is not one the
 * filter takes, or past S3_QUERY_MAX_FIELD_VALUES values of the filter or
 * S3_QUERY_MAX_VALUES in all.
 */
enum err s3_query_add(struct s3_query *q, enum s3_field field, enum s3_join join, const char *value,
                      char *errbuf, size_t errlen);

/*
 * Add an attribute filter: the string at path[0..npath) (object keys) of a
 * record's attributes equals value, a wildcard pattern (`*`, `?`, `\`
 * escapes as for key). ERR_BAD_INPUT for a bad pattern, an empty or too deep
 * path, or past the value cap.
 */
enum err s3_query_add_attribute(struct s3_query *q, const char *const *path, size_t npath,
                                const char *value, char *errbuf, size_t errlen);

/* A WHERE clause with its parameters (which point into the query or into own). */
struct s3_where {
    struct buf sql; /* " WHERE ..." */
    const char **params;
    int nparams;
    char num[2][32]; /* room for LIMIT/OFFSET values */
    char **owned;    /* strings the clause made (jsonpaths, LIKE prefilters), freed with it */
    size_t nowned;
};

/* Build the WHERE clause of q (parameters from $1). Release with s3_where_release. */
void s3_query_where(const struct s3_query *q, struct s3_where *w);
/* Append one more parameter; returns its number ($n). */
int s3_where_param(struct s3_where *w, const char *value);
void s3_where_release(struct s3_where *w);

/*
 * SQL expressions of the computed record fields over the s3_objects columns:
 * archiveStatus (the column, else derived from an access-tier storage class)
 * and isAccessible (current, not in an archive class unless restored, not in
 * an archive access tier; no storage class counts as STANDARD, S3's default).
 */
#define S3_SQL_ARCHIVE_STATUS                                                                      \
    "coalesce(archive_status, CASE storage_class WHEN 'ARCHIVE_ACCESS' THEN 'ArchiveAccess' "      \
    "WHEN 'DEEP_ARCHIVE_ACCESS' THEN 'DeepArchiveAccess' END)"
#define S3_SQL_IS_ACCESSIBLE                                                                       \
    "(is_current AND archive_status IS NULL AND coalesce(storage_class, 'STANDARD') NOT IN "       \
    "('ARCHIVE_ACCESS', 'DEEP_ARCHIVE_ACCESS') AND (coalesce(storage_class, 'STANDARD') NOT IN "   \
    "('GLACIER', 'DEEP_ARCHIVE') OR reason = 'Restored'))"

#endif
