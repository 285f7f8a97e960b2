/*
 * test_sse.c - the text/event-stream encoder (codec/sse.h)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "codec/sse.h"

static void
expect(long long id, const char *event, const char *data, size_t len, const char *want)
{
    struct buf b;

    buf_init(&b, 0);
    sse_event_append(&b, id, event, data, len);
    assert_string_equal(b.data, want);
    buf_release(&b);
}

static void
test_event_fields(void **state)
{
    (void)state;
    expect(42, "io.ingestd.event.accepted", "{\"id\":42}", 9,
           "id: 42\nevent: io.ingestd.event.accepted\ndata: {\"id\":42}\n\n");
    expect(-1, NULL, "x", 1, "data: x\n\n");
    expect(0, "a\r\nb", "", 0, "id: 0\nevent: ab\ndata: \n\n");
}

/* No byte of data can end the event early: every line break starts a new data: line. */
static void
test_data_lines(void **state)
{
    (void)state;
    expect(-1, NULL, "a\nb", 3, "data: a\ndata: b\n\n");
    expect(-1, NULL, "a\r\nb", 4, "data: a\ndata: b\n\n");
    expect(-1, NULL, "a\rb\n", 4, "data: a\ndata: b\ndata: \n\n");
    expect(-1, NULL, "\n\n", 2, "data: \ndata: \ndata: \n\n");
}

static void
test_comment(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    sse_comment_append(&b, "heart\nbeat");
    assert_string_equal(b.data, ": heartbeat\n\n");
    buf_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_fields),
        cmocka_unit_test(test_data_lines),
        cmocka_unit_test(test_comment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
