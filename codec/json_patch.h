/*
 * json_patch.h - append-only JSON Patch (RFC 6902) on a JSON document (pure)
 *
 * The catalog's annotations only grow: a patch may `add` a member or array
 * element that does not exist yet, `copy` an existing value to such a new
 * place, and `test` a value (RFC 6902 equality: numbers by value, objects
 * without regard to member order). Any other operation, an `add`/`copy`
 * onto a path that exists (also one an earlier operation of the same patch
 * created), a missing parent or a failing `test` is an error, and the
 * document is then left as it was. No I/O, no globals; jansson values are
 * borrowed unless a name says otherwise.
 */
#ifndef INGESTD_JSON_PATCH_H
#define INGESTD_JSON_PATCH_H

#include <stddef.h>

#include <jansson.h>

#include "core/err.h"

#define JSON_PATCH_MAX_OPS 100
#define JSON_PATCH_MAX_NODES 100000 /* values a `copy` may grow a document to */

/*
 * Check the shape of `patch`: an array of 1..JSON_PATCH_MAX_OPS objects,
 * each with "op" add/test/copy, "path" a JSON pointer, "value" (add, test)
 * or "from" (copy). ERR_BAD_INPUT "operation N: ..." otherwise.
 */
enum err json_patch_check(const json_t *patch, char *errbuf, size_t errlen);

/*
 * Apply a patch json_patch_check accepted to a copy of doc: *out gets the
 * patched document (a new reference) on success, NULL on error.
 * ERR_BAD_INPUT "operation N: ..." when an operation cannot apply: a failed
 * test ("test failed at /a"), a path that exists ("path /a already exists"),
 * a parent that does not exist or is no object or array, an array index out
 * of range, a `from` that does not exist.
 */
enum err json_patch_apply(const json_t *doc, const json_t *patch, json_t **out, char *errbuf,
                          size_t errlen);
/*
 * json_patch_apply() with another bound on what a `copy` may grow the
 * document to (json_patch_apply: JSON_PATCH_MAX_NODES); the fuzz target
 * runs the same paths with a small bound, so that each input stays cheap.
 */
enum err json_patch_apply_capped(const json_t *doc, const json_t *patch, size_t max_nodes,
                                 json_t **out, char *errbuf, size_t errlen);

/* RFC 6902 equality of two JSON values (numbers by value, objects unordered). */
int json_patch_equal(const json_t *a, const json_t *b);

#endif
