/*
 * test_json_patch.c - append-only JSON Patch (codec/json_patch.c)
 *
 * RFC 6902's examples for add, test and copy (appendix A), and what the
 * catalog refuses: other operations, overwriting, a failing test, which
 * leave the document as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "codec/json_patch.h"

static json_t *
js(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

    if (!v)
        fail_msg("bad JSON %s: %s", text, e.text);
    return v;
}

/* Apply patch to doc: want the result `want`, or (want NULL) an error containing `detail`. */
static void
check(const char *doc, const char *patch, const char *want, const char *detail)
{
    json_t *d = js(doc);
    json_t *p = js(patch);
    json_t *before = json_deep_copy(d);
    json_t *out = NULL;
    char errbuf[ERRBUF_SIZE] = "";
    enum err rc;

    rc = json_patch_check(p, errbuf, sizeof(errbuf));
    if (!rc)
        rc = json_patch_apply(d, p, &out, errbuf, sizeof(errbuf));
    if (want) {
        json_t *w = js(want);

        if (rc)
            fail_msg("%s on %s: %s", patch, doc, errbuf);
        if (!json_patch_equal(out, w)) {
            char *g = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);

            fail_msg("%s on %s: %s, want %s", patch, doc, g, want);
        }
        json_decref(w);
    } else {
        if (rc != ERR_BAD_INPUT)
            fail_msg("%s on %s: rc %d, want a 400", patch, doc, (int)rc);
        assert_null(out);
        if (!strstr(errbuf, detail))
            fail_msg("%s on %s: \"%s\" does not contain \"%s\"", patch, doc, errbuf, detail);
    }
    /* the input document never changes */
    assert_true(json_equal(d, before));
    json_decref(out);
    json_decref(before);
    json_decref(d);
    json_decref(p);
}

static void
test_rfc6902_examples(void **state)
{
    (void)state;
    /* A.1 adding an object member */
    check("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
          "{\"baz\":\"qux\",\"foo\":\"bar\"}", NULL);
    /* A.2 adding an array element (at the end only: earlier ones exist) */
    check("{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/2\",\"value\":\"qux\"}]",
          "{\"foo\":[\"bar\",\"baz\",\"qux\"]}", NULL);
    check("{\"foo\":[\"bar\"]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\"]}]",
          "{\"foo\":[\"bar\",[\"abc\"]]}", NULL);
    /* A.7 copy */
    check("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
          "[{\"op\":\"copy\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
          "{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\",\"thud\":"
          "\"fred\"}}",
          NULL);
    /* A.8 test succeeds, A.9 fails */
    check("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
          "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},{\"op\":\"test\",\"path\":\"/foo/"
          "1\",\"value\":2}]",
          "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", NULL);
    check("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL,
          "operation 1: test failed at /baz");
    /* A.10 nested object, A.14 ~ escapes, A.16 an array value */
    check("{\"foo\":\"bar\"}",
          "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
          "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}", NULL);
    check("{\"/\":9,\"~1\":10}",
          "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10},{\"op\":\"add\","
          "\"path\":\"/a~1b\",\"value\":1}]",
          "{\"/\":9,\"~1\":10,\"a/b\":1}", NULL);
    /* A.12 adding to a nonexistent target */
    check("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]", NULL,
          "the parent of /baz/bat is no object or array");
    /* numbers compare by value; members in any order */
    check("{\"n\":1,\"o\":{\"a\":1,\"b\":2}}",
          "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1.0},{\"op\":\"test\",\"path\":\"/o\","
          "\"value\":{\"b\":2,\"a\":1}}]",
          "{\"n\":1,\"o\":{\"a\":1,\"b\":2}}", NULL);
}

static void
test_append_only(void **state)
{
    (void)state;
    check("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":2}]", NULL,
          "operation 1: path /a already exists");
    /* an earlier operation of the same patch counts: no silent overwrite */
    check("{}",
          "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1},{\"op\":\"add\",\"path\":\"/a\","
          "\"value\":2}]",
          NULL, "operation 2: path /a already exists");
    check("{\"l\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/l/0\",\"value\":0}]", NULL,
          "already exists");
    check("{\"l\":[1]}", "[{\"op\":\"add\",\"path\":\"/l/3\",\"value\":0}]", NULL,
          "is no index of the array");
    check("{\"l\":[1]}", "[{\"op\":\"add\",\"path\":\"/l/01\",\"value\":0}]", NULL,
          "is no index of the array");
    check("{}", "[{\"op\":\"add\",\"path\":\"\",\"value\":{}}]", NULL, "path \"\" already exists");
    check("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/b\",\"path\":\"/c\"}]", NULL,
          "from /b does not exist");
    check("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a\"}]", NULL,
          "already exists");
    /* a failing test after an add: the whole patch fails */
    check("{\"a\":1}",
          "[{\"op\":\"add\",\"path\":\"/b\",\"value\":1},{\"op\":\"test\",\"path\":"
          "\"/a\",\"value\":2}]",
          NULL, "operation 2: test failed");
}

static void
test_shape(void **state)
{
    (void)state;
    check("{}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":1}]", NULL,
          "\"replace\" is not supported (append-only: add, test, copy)");
    check("{}", "[{\"op\":\"remove\",\"path\":\"/a\"}]", NULL, "is not supported");
    check("{}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b\"}]", NULL, "is not supported");
    check("{}", "[]", NULL, "a JSON patch is a non-empty array");
    check("{}", "{\"op\":\"add\"}", NULL, "a JSON patch is a non-empty array");
    check("{}", "[1]", NULL, "operation 1: no \"op\"");
    check("{}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", NULL,
          "\"path\" must be a JSON pointer");
    check("{}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]", NULL, "must be a JSON pointer");
    check("{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", NULL, "operation 1: no \"value\"");
    check("{}", "[{\"op\":\"copy\",\"path\":\"/a\"}]", NULL, "\"from\" must be a JSON pointer");
}

static void
test_caps(void **state)
{
    json_t *p = json_array();
    json_t *out = NULL;
    json_t *doc;
    char errbuf[ERRBUF_SIZE];
    int i;

    (void)state;
    for (i = 0; i <= JSON_PATCH_MAX_OPS; i++)
        json_array_append_new(p, json_pack("{s:s,s:s,s:i}", "op", "test", "path", "", "value", 1));
    assert_int_equal(json_patch_check(p, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    json_decref(p);
    /* copies double the document: they stop before it holds JSON_PATCH_MAX_NODES values */
    p = json_array();
    json_array_append_new(
        p, json_pack("{s:s,s:s,s:[i,i,i,i]}", "op", "add", "path", "/x0", "value", 1, 2, 3, 4));
    for (i = 1; json_array_size(p) + 2 <= JSON_PATCH_MAX_OPS; i++) {
        char from[16];
        char to[16];

        snprintf(from, sizeof(from), "/x%d", i - 1);
        snprintf(to, sizeof(to), "/x%d/-", i - 1);
        json_array_append_new(p,
                              json_pack("{s:s,s:s,s:s}", "op", "copy", "from", from, "path", to));
        snprintf(to, sizeof(to), "/x%d", i);
        json_array_append_new(p,
                              json_pack("{s:s,s:s,s:s}", "op", "copy", "from", from, "path", to));
    }
    assert_int_equal(json_patch_check(p, errbuf, sizeof(errbuf)), ERR_OK);
    doc = json_object();
    assert_int_equal(json_patch_apply(doc, p, &out, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_non_null(strstr(errbuf, "more than"));
    assert_null(out);
    json_decref(doc);
    json_decref(p);
}

/* json_patch_apply_capped: the same bound at another size (the fuzz target's). */
static void
test_capped(void **state)
{
    char errbuf[ERRBUF_SIZE];
    json_t *doc = json_pack("{s:[i,i,i]}", "a", 1, 2, 3); /* 5 values */
    json_t *p = json_loads("[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"}]", 0, NULL);
    json_t *p2 = json_loads("[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"},"
                            "{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"}]",
                            0, NULL);
    json_t *out = NULL;

    (void)state;
    /* 5 + 4 = 9 values: within 9, not within 8 */
    assert_int_equal(json_patch_apply_capped(doc, p, 9, &out, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(json_array_size(json_object_get(out, "b")), 3);
    json_decref(out);
    out = NULL;
    assert_int_equal(json_patch_apply_capped(doc, p, 8, &out, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_string_equal(errbuf, "operation 1: the document would hold more than 8 values");
    assert_null(out);
    /* the second copy would make 13 */
    assert_int_equal(json_patch_apply_capped(doc, p2, 12, &out, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_string_equal(errbuf, "operation 2: the document would hold more than 12 values");
    assert_int_equal(json_patch_apply_capped(doc, p2, 13, &out, errbuf, sizeof(errbuf)), ERR_OK);
    json_decref(out);
    json_decref(p2);
    json_decref(p);
    json_decref(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6902_examples),
        cmocka_unit_test(test_append_only),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_capped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
