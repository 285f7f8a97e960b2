/*
 * json_patch.c - append-only JSON Patch (RFC 6902 add, test, copy)
 *
 * A JSON pointer (RFC 6901) is split into reference tokens as it is used:
 * "/a~1b/0" is "a/b" then "0"; `~` other than `~0`/`~1` is malformed. The
 * patch works on a deep copy of the document, which replaces the caller's
 * only when every operation applied.
 */
#include "codec/json_patch.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define POINTER_MAX_BYTES 4096

/* jansson's object iteration takes a non-const value; it does not change it. */
static json_t *
mutable_json(const json_t *v)
{
    union {
        const json_t *c;
        json_t *m;
    } u;

    u.c = v;
    return u.m;
}

/* Values (nodes) in v, counting stops past limit. */
static size_t
nodes(const json_t *v, size_t limit)
{
    const char *k;
    json_t *m;
    size_t n = 1;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(mutable_json(v), k, m)
        {
            n += nodes(m, limit);
            if (n > limit)
                return n;
        }
    } else if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v) && n <= limit; i++)
            n += nodes(json_array_get(v, i), limit);
    }
    return n;
}

/* 1 when p is a well-formed JSON pointer ("" or "/..." with valid ~ escapes). */
static int
pointer_ok(const char *p, size_t len)
{
    size_t i;

    if (len == 0)
        return 1;
    if (p[0] != '/' || len > POINTER_MAX_BYTES || memchr(p, '\0', len))
        return 0;
    for (i = 0; i < len; i++)
        if (p[i] == '~' && (i + 1 == len || (p[i + 1] != '0' && p[i + 1] != '1')))
            return 0;
    return 1;
}

/* The next token of *p (after its '/') into tok; advances *p. 0 at the end. */
static int
pointer_next(const char **p, struct buf *tok)
{
    const char *s = *p;

    if (*s != '/')
        return 0;
    s++;
    buf_reset(tok);
    buf_append(tok, "", 0);
    for (; *s && *s != '/'; s++) {
        if (*s == '~') {
            s++;
            buf_append_char(tok, *s == '1' ? '/' : '~');
        } else {
            buf_append_char(tok, *s);
        }
    }
    *p = s;
    return 1;
}

/* An array index token: digits without a leading zero. -1 when not one. */
static long
array_index(const char *tok)
{
    long n = 0;
    size_t i;

    if (!tok[0] || (tok[0] == '0' && tok[1]) || strlen(tok) > 9)
        return -1;
    for (i = 0; tok[i]; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return -1;
        n = n * 10 + (tok[i] - '0');
    }
    return n;
}

/* The value at pointer p in doc (borrowed), or NULL. */
static json_t *
resolve(json_t *doc, const char *p)
{
    struct buf tok;
    json_t *v = doc;

    buf_init(&tok, 0);
    while (v && pointer_next(&p, &tok)) {
        if (json_is_object(v)) {
            v = json_object_get(v, tok.data);
        } else if (json_is_array(v)) {
            long i = array_index(tok.data);

            v = i >= 0 ? json_array_get(v, (size_t)i) : NULL;
        } else {
            v = NULL;
        }
    }
    buf_release(&tok);
    return v;
}

int
json_patch_equal(const json_t *a, const json_t *b)
{
    const char *k;
    json_t *v;
    size_t i;

    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach(mutable_json(a), k, v)
        {
            const json_t *w = json_object_get(b, k);

            if (!w || !json_patch_equal(v, w))
                return 0;
        }
        return 1;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (i = 0; i < json_array_size(a); i++)
            if (!json_patch_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal(a, b);
}

enum err
json_patch_check(const json_t *patch, char *errbuf, size_t errlen)
{
    size_t i;

    if (!json_is_array(patch) || json_array_size(patch) == 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "a JSON patch is a non-empty array");
    if (json_array_size(patch) > JSON_PATCH_MAX_OPS)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "at most %d operations", JSON_PATCH_MAX_OPS);
    for (i = 0; i < json_array_size(patch); i++) {
        const json_t *o = json_array_get(patch, i);
        const char *op = json_string_value(json_object_get(o, "op"));
        const json_t *path = json_object_get(o, "path");
        const json_t *from = json_object_get(o, "from");

        if (!json_is_object(o) || !op)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "operation %zu: no \"op\"", i + 1);
        if (strcmp(op, "add") != 0 && strcmp(op, "test") != 0 && strcmp(op, "copy") != 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "operation %zu: \"%.32s\" is not supported (append-only: add, test, "
                           "copy)",
                           i + 1, op);
        if (!json_is_string(path) || !pointer_ok(json_string_value(path), json_string_length(path)))
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "operation %zu: \"path\" must be a JSON pointer", i + 1);
        if (strcmp(op, "copy") == 0 &&
            (!json_is_string(from) ||
             !pointer_ok(json_string_value(from), json_string_length(from))))
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "operation %zu: \"from\" must be a JSON pointer", i + 1);
        if (strcmp(op, "copy") != 0 && !json_object_get(o, "value"))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "operation %zu: no \"value\"", i + 1);
    }
    return ERR_OK;
}

/* Add value (stolen) at path p of doc where nothing is yet. */
static enum err
add_new(json_t *doc, const char *p, json_t *value, size_t n, char *errbuf, size_t errlen)
{
    const char *last = strrchr(p, '/');
    struct buf parent_path;
    json_t *parent;
    struct buf tok;
    enum err rc = ERR_OK;
    long i;

    if (!last) { /* the root always exists */
        json_decref(value);
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "operation %zu: path \"\" already exists", n);
    }
    buf_init(&parent_path, 0);
    buf_append(&parent_path, "", 0);
    buf_append(&parent_path, p, (size_t)(last - p));
    parent = resolve(doc, parent_path.data);
    buf_release(&parent_path);
    buf_init(&tok, 0);
    pointer_next(&last, &tok);
    if (json_is_object(parent)) {
        if (json_object_get(parent, tok.data))
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "operation %zu: path %.200s already exists",
                         n, p);
        else
            json_object_set(parent, tok.data, value);
    } else if (json_is_array(parent)) {
        i = strcmp(tok.data, "-") == 0 ? (long)json_array_size(parent) : array_index(tok.data);
        if (i >= 0 && (size_t)i < json_array_size(parent))
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "operation %zu: path %.200s already exists",
                         n, p);
        else if (i < 0 || (size_t)i > json_array_size(parent))
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                         "operation %zu: %.200s is no index of the array", n, p);
        else
            json_array_append(parent, value);
    } else {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "operation %zu: the parent of %.200s is no object or array", n, p);
    }
    buf_release(&tok);
    json_decref(value);
    return rc;
}

/* Apply operation n (1-based) o to doc. */
static enum err
apply_one(json_t *doc, const json_t *o, size_t n, size_t max_nodes, char *errbuf, size_t errlen)
{
    const char *op = json_string_value(json_object_get(o, "op"));
    const char *path = json_string_value(json_object_get(o, "path"));
    json_t *at;

    if (strcmp(op, "test") == 0) {
        at = resolve(doc, path);
        if (!at || !json_patch_equal(at, json_object_get(o, "value")))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "operation %zu: test failed at %.200s", n,
                           path);
        return ERR_OK;
    }
    if (strcmp(op, "copy") == 0) {
        const char *from = json_string_value(json_object_get(o, "from"));

        at = resolve(doc, from);
        if (!at)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "operation %zu: from %.200s does not exist", n, from);
        /* copies can double a document per operation: cap what it grows to */
        if (nodes(doc, max_nodes) + nodes(at, max_nodes) > max_nodes)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "operation %zu: the document would hold more than %zu values", n,
                           max_nodes);
        return add_new(doc, path, json_deep_copy(at), n, errbuf, errlen);
    }
    return add_new(doc, path, json_deep_copy(json_object_get(o, "value")), n, errbuf, errlen);
}

enum err
json_patch_apply(const json_t *doc, const json_t *patch, json_t **out, char *errbuf, size_t errlen)
{
    return json_patch_apply_capped(doc, patch, JSON_PATCH_MAX_NODES, out, errbuf, errlen);
}

enum err
json_patch_apply_capped(const json_t *doc, const json_t *patch, size_t max_nodes, json_t **out,
                        char *errbuf, size_t errlen)
{
    json_t *work;
    size_t i;
    enum err rc = ERR_OK;

    *out = NULL;
    work = json_deep_copy(doc);
    if (!work)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "no document to patch");
    for (i = 0; i < json_array_size(patch) && !rc; i++)
        rc = apply_one(work, json_array_get(patch, i), i + 1, max_nodes, errbuf, errlen);
    if (rc) {
        json_decref(work);
        return rc;
    }
    *out = work;
    return ERR_OK;
}
