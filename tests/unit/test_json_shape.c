/*
 * test_json_shape.c - the JSON cost scanner: counts, strings, caps, chunking
 *
 * Every input is counted in one piece, cut in two at every offset and fed
 * one byte at a time; all ways must give the same counts and result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "codec/json_shape.h"

struct outcome {
    enum err rc;
    char msg[ERRBUF_SIZE];
    size_t containers;
    size_t values;
};

/* Feed text in pieces cut at `cut` (0: one piece) or one byte at a time (cut == SIZE_MAX). */
static struct outcome
scan(const char *text, size_t len, size_t max_c, size_t max_v, size_t cut)
{
    struct json_shape js;
    struct outcome o;
    size_t off = 0;

    memset(&o, 0, sizeof(o));
    json_shape_init(&js, max_c, max_v);
    while (off < len && !o.rc) {
        size_t n = cut == SIZE_MAX ? 1 : (cut && off < cut ? cut - off : len - off);

        o.rc = json_shape_feed(&js, text + off, n, o.msg, sizeof(o.msg));
        off += n;
    }
    o.containers = js.containers;
    o.values = js.values;
    return o;
}

/* The outcome of text, checked to be the same however it is cut. */
static struct outcome
scan_all_ways(const char *text, size_t max_c, size_t max_v)
{
    size_t len = strlen(text);
    struct outcome one = scan(text, len, max_c, max_v, 0);
    struct outcome other;
    size_t cut;

    for (cut = 1; cut <= len; cut++) {
        other = scan(text, len, max_c, max_v, cut);
        assert_int_equal(other.rc, one.rc);
        assert_string_equal(other.msg, one.msg);
        if (!one.rc) {
            assert_int_equal(other.containers, one.containers);
            assert_int_equal(other.values, one.values);
        }
    }
    other = scan(text, len, max_c, max_v, SIZE_MAX);
    assert_int_equal(other.rc, one.rc);
    assert_string_equal(other.msg, one.msg);
    return one;
}

static void
test_counts(void **state)
{
    struct outcome o;

    (void)state;
    o = scan_all_ways("{}", 10, 10);
    assert_int_equal(o.rc, ERR_OK);
    assert_int_equal(o.containers, 1);
    o = scan_all_ways("[1,2,3]", 10, 10);
    assert_int_equal(o.containers, 1);
    assert_int_equal(o.values, 4); /* 1 + one container + two commas */
    o = scan_all_ways("{\"a\":[{},{}],\"b\":{\"c\":null}}", 10, 20);
    assert_int_equal(o.containers, 5);
    /* brackets, braces and commas inside strings, escaped quotes included */
    o = scan_all_ways("{\"k\":\"[{,\\\"]}\\\\\",\"x\":\"\\\\\"}", 10, 10);
    assert_int_equal(o.rc, ERR_OK);
    assert_int_equal(o.containers, 1);
    assert_int_equal(o.values, 3);
    o = scan_all_ways("", 1, 1);
    assert_int_equal(o.rc, ERR_OK);
    assert_int_equal(o.containers, 0);
}

static void
test_caps(void **state)
{
    struct outcome o;
    struct buf b;
    size_t i;

    (void)state;
    o = scan_all_ways("[[],[],[]]", 3, 100);
    assert_int_equal(o.rc, ERR_TOO_LARGE);
    assert_string_equal(o.msg, "JSON body has more than 3 objects and arrays");
    o = scan_all_ways("[[],[],[]]", 4, 100);
    assert_int_equal(o.rc, ERR_OK);
    o = scan_all_ways("[1,2,3,4,5]", 100, 5);
    assert_int_equal(o.rc, ERR_TOO_LARGE);
    assert_string_equal(o.msg, "JSON body has more than 5 values");
    /* 100,000 levels deep and a million elements stop at the caps */
    buf_init(&b, 0);
    for (i = 0; i < 100000; i++)
        buf_append_char(&b, '[');
    o = scan(b.data, b.len, 1000, 1000000, 0);
    assert_int_equal(o.rc, ERR_TOO_LARGE);
    assert_int_equal(o.containers, 1001);
    buf_reset(&b);
    buf_append_char(&b, '[');
    for (i = 0; i < 1000000; i++)
        buf_append_str(&b, i ? ",1" : "1");
    buf_append_char(&b, ']');
    o = scan(b.data, b.len, 1000, 500000, 0);
    assert_int_equal(o.rc, ERR_TOO_LARGE);
    o = scan(b.data, b.len, 1000, 2000000, 0);
    assert_int_equal(o.rc, ERR_OK);
    assert_int_equal(o.values, 1000001);
    buf_release(&b);
}

static void
test_sticky(void **state)
{
    struct json_shape js;
    char msg[ERRBUF_SIZE];

    (void)state;
    json_shape_init(&js, 1, 10);
    assert_int_equal(json_shape_feed(&js, "[[", 2, msg, sizeof(msg)), ERR_TOO_LARGE);
    /* once over, every later chunk is refused, even an empty one */
    assert_int_equal(json_shape_feed(&js, "1", 1, msg, sizeof(msg)), ERR_TOO_LARGE);
    assert_int_equal(json_shape_feed(&js, "", 0, msg, sizeof(msg)), ERR_TOO_LARGE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_sticky),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
