/*
 * s3_filter.h - the query parameters of the S3 object routes as a struct s3_query
 *
 * The filemanager's syntax (serde_qs): `name=v`, `name[]=v` and
 * `name[or][]=v` (OR-ed), `name[and][]=v` (AND-ed); `attributes[a][b]=v`
 * (and `attributes[a][]=v`, OR-ed per path); `caseSensitive`,
 * `currentState`; brackets may come percent-encoded (the HTTP adapter
 * decodes names). An unknown parameter is a 400 naming it.
 */
#ifndef INGESTD_S3_FILTER_H
#define INGESTD_S3_FILTER_H

#include <stdint.h>

#include <jansson.h>

#include "handlers/request.h"
#include "storage/s3_query.h"

enum s3_filter_mode {
    S3_FILTER_LIST,       /* filters, page, rowsPerPage */
    S3_FILTER_PATCH,      /* filters only */
    S3_FILTER_ATTRIBUTES, /* page, rowsPerPage; every other name is an attribute path */
};

/*
 * Fill q (s3_query_init'ed by the caller, who releases it) from the query
 * of req; with S3_FILTER_LIST/ATTRIBUTES also page (from 1) and the page
 * size (rowsPerPage 0 or absent: 1000; at most 10000) into q->offset/limit
 * and *page. ERR_BAD_INPUT "name: reason" otherwise.
 */
enum err s3_filter_parse(const struct request *req, enum s3_filter_mode mode, struct s3_query *q,
                         int64_t *page, char *errbuf, size_t errlen);

/*
 * The absolute URL of the same list at another page: the base is
 * INGESTD_LINKS_URL when set, else X-Forwarded-Proto/X-Forwarded-Host when
 * present, else http:// and Host; the path and every parameter but page
 * as asked. A path-only link when no usable host is known.
 */
json_t *s3_filter_page_link(const struct request *req, int64_t page);

#endif
