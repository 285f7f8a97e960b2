/*
 * fuzz_json_patch.c - libFuzzer target: append-only JSON Patch (codec/json_patch.c)
 *
 * Input format: a JSON document, "\n", then a JSON patch. Properties checked
 * (abort on violation): the document given is never changed; a patch that
 * applies yields a document equal to itself (json_patch_equal is reflexive)
 * in which every `test` of the patch still holds; applying the same patch
 * again fails whenever it adds or copies to a place other than an array's
 * end (those paths exist now); when a copy is the patch's last operation
 * that is not a test, the document holds at most the bound on copies.
 * The bound is FUZZ_MAX_NODES (json_patch_apply_capped: the code paths of
 * json_patch_apply's JSON_PATCH_MAX_NODES), so that inputs whose copies
 * double a document up to the bound cost microseconds, not milliseconds.
 *
 *   tests/fuzz/run.sh json_patch      (libFuzzer; corpus tests/fuzz/corpus/json_patch)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json_patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_NODES 4096

/* Values in v. */
static size_t
count_nodes(json_t *v)
{
    const char *k;
    json_t *m;
    size_t n = 1;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, k, m)
        {
            n += count_nodes(m);
        }
    } else if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++)
            n += count_nodes(json_array_get(v, i));
    }
    return n;
}

/* 1 when the patch's last operation other than test is a copy. */
static int
ends_with_copy(const json_t *patch)
{
    size_t i = json_array_size(patch);

    while (i-- > 0) {
        const char *op = json_string_value(json_object_get(json_array_get(patch, i), "op"));

        if (strcmp(op, "test") != 0)
            return strcmp(op, "copy") == 0;
    }
    return 0;
}

/* 1 when the patch adds or copies to a named place (not an array's end, "/-"), once only. */
static int
grows(const json_t *patch)
{
    size_t i;

    for (i = 0; i < json_array_size(patch); i++) {
        const json_t *o = json_array_get(patch, i);
        const char *path = json_string_value(json_object_get(o, "path"));
        size_t n = strlen(path);

        if (strcmp(json_string_value(json_object_get(o, "op")), "test") != 0 &&
            !(n >= 2 && strcmp(path + n - 2, "/-") == 0))
            return 1;
    }
    return 0;
}

static void
check_applied(const json_t *patch, json_t *out)
{
    char errbuf[ERRBUF_SIZE];
    json_t *again = NULL;
    size_t i;

    if (!json_patch_equal(out, out))
        abort();
    for (i = 0; i < json_array_size(patch); i++) {
        json_t *o = json_array_get(patch, i);
        json_t *one;
        json_t *res = NULL;

        if (strcmp(json_string_value(json_object_get(o, "op")), "test") != 0)
            continue;
        one = json_pack("[O]", o);
        if (json_patch_apply_capped(out, one, FUZZ_MAX_NODES, &res, errbuf, sizeof(errbuf)) !=
            ERR_OK)
            abort(); /* a test that passed still holds: adds never change what exists */
        json_decref(res);
        json_decref(one);
    }
    if (json_patch_apply_capped(out, patch, FUZZ_MAX_NODES, &again, errbuf, sizeof(errbuf)) ==
            ERR_OK &&
        grows(patch))
        abort();
    json_decref(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    char errbuf[ERRBUF_SIZE];
    json_t *doc;
    json_t *patch;
    json_t *before;
    json_t *out = NULL;

    if (!nl)
        return 0;
    doc = json_loadb((const char *)data, (size_t)(nl - data), JSON_DECODE_ANY, NULL);
    patch = json_loadb((const char *)nl + 1, size - (size_t)(nl - data) - 1, JSON_DECODE_ANY, NULL);
    if (doc && patch && json_patch_check(patch, errbuf, sizeof(errbuf)) == ERR_OK) {
        before = json_deep_copy(doc);
        if (json_patch_apply_capped(doc, patch, FUZZ_MAX_NODES, &out, errbuf, sizeof(errbuf)) ==
            ERR_OK) {
            if (ends_with_copy(patch) && count_nodes(out) > FUZZ_MAX_NODES)
                abort(); /* a copy grew the document past the bound */
            check_applied(patch, out);
        } else if (out)
            abort();
        if (!json_equal(doc, before))
            abort();
        json_decref(before);
        json_decref(out);
    }
    json_decref(doc);
    json_decref(patch);
    return 0;
}
