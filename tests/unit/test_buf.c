/*
 * test_buf.c - core/buf.h: the cap, and JSON strings written as jansson writes them
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* buf_append_json_string(s) must equal jansson's dump of the string s. */
static void
same_as_jansson(const char *s)
{
    json_t *j = json_string(s);
    char *want;
    struct buf b;

    assert_non_null(j);
    want = json_dumps(j, JSON_ENCODE_ANY);
    buf_init(&b, 0);
    assert_int_equal(buf_append_json_string(&b, s), ERR_OK);
    assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    buf_release(&b);
    free(want);
    json_decref(j);
}

static void
test_json_string_fixed(void **state)
{
    char one[2] = {0, 0};
    int c;

    (void)state;
    same_as_jansson("");
    same_as_jansson("plain/key.txt");
    same_as_jansson("quote \" backslash \\ slash / tab \t newline \n cr \r");
    same_as_jansson("\b\f\x01\x1f\x7f");
    same_as_jansson("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    same_as_jansson("\"");
    same_as_jansson("\\");
    for (c = 1; c < 128; c++) { /* every ASCII byte alone */
        one[0] = (char)c;
        same_as_jansson(one);
    }
}

/* Random strings of ASCII (control characters often) and valid UTF-8 sequences. */
static void
test_json_string_random(void **state)
{
    static const char *const pieces[] = {
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\"", "\\", "\n", "\x01", "a"};
    char s[256];
    unsigned seed = 12345;
    int i;

    (void)state;
    for (i = 0; i < 20000; i++) {
        size_t len = 0;
        size_t want;

        seed = seed * 1103515245u + 12345u;
        want = (seed >> 16) % 60;
        while (len < want) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 3 == 0) {
                const char *p = pieces[(seed >> 8) % 8];

                memcpy(s + len, p, strlen(p));
                len += strlen(p);
            } else {
                s[len++] = (char)(1 + (seed >> 16) % 127);
            }
        }
        s[len] = '\0';
        same_as_jansson(s);
    }
}

/* A capped buffer says ERR_TOO_LARGE and keeps what it had. */
static void
test_json_string_cap(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_append_str(&b, "ab"), ERR_OK);
    assert_int_equal(buf_append_json_string(&b, "0123456789"), ERR_TOO_LARGE);
    assert_true(b.len <= 8);
    assert_memory_equal(b.data, "ab", 2);
    buf_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string_fixed),
        cmocka_unit_test(test_json_string_random),
        cmocka_unit_test(test_json_string_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
