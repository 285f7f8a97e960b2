/*
 * params.h - small validators shared by the handlers
 */
#ifndef INGESTD_PARAMS_H
#define INGESTD_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "handlers/request.h"

/* 1 when s is a UUID in canonical text form (any case). */
int params_uuid_ok(const char *s);
/*
 * Integer query parameter `name` in [min, max]; def when absent.
 * ERR_BAD_INPUT with "name: ..." in errbuf otherwise.
 */
enum err params_int(const struct request *req, const char *name, int64_t min, int64_t max,
                    int64_t def, int64_t *out, char *errbuf, size_t errlen);
/*
 * An opaque keyset cursor `name` (a non-negative integer this API handed
 * out); 0 when absent. ERR_BAD_INPUT with "name: not a cursor returned by
 * this API" otherwise.
 */
enum err params_cursor(const struct request *req, const char *name, int64_t *out, char *errbuf,
                       size_t errlen);
/*
 * Reject query parameters not in `known` (NULL-terminated): ERR_BAD_INPUT
 * naming the first unknown one, so a typo is not silently ignored.
 */
enum err params_known(const struct request *req, const char *const *known, char *errbuf,
                      size_t errlen);
/* 1 when s is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int params_utf8_ok(const char *s);
/*
 * The query parameter `name` when present and valid UTF-8; *bad is set (and
 * errbuf filled) when present and not. NULL when absent.
 */
const char *params_text(const struct request *req, const char *name, enum err *rc, char *errbuf,
                        size_t errlen);
/* Append "name=value" percent-encoded to a query string being built. */
void params_append(struct buf *qs, const char *name, const char *value);
/* A newest-first list of one table family, older than the row `before` (NULL: from the newest). */
typedef enum err (*params_before_list_fn)(struct db *db, const char *before, int limit,
                                          json_t **items, int *more, char *errbuf, size_t errlen);
/*
 * GET path?limit=&before=: checks the parameters (400 for an unknown one,
 * `limit` out of 1..1000, `before` not a UUID: "before: must be a <what>
 * id"), lists with `list` and answers {items, next}, next being path with
 * the last item's id as `before`, or null.
 */
void params_respond_before_page(struct request *req, struct response *res, const char *path,
                                const char *what, params_before_list_fn list);
/*
 * The `next` link of a keyset-paged list: path, then the filters given as
 * name/value pairs in `filters` (terminated by a NULL name; a NULL value is
 * skipped), then limit and after. A new JSON string (the caller owns it).
 */
json_t *params_next_link(const char *path, const char *const *filters, int64_t limit,
                         int64_t after);

#endif
