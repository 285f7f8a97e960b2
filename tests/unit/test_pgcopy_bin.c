/*
 * test_pgcopy_bin.c - storage/pgcopy.h: binary values read back as written
 *
 * An int8 and a timestamptz in PostgreSQL's binary form (big-endian; the
 * time in microseconds since 2000-01-01) read by pgcopy_bin_get_int8() and
 * pgcopy_bin_get_time_us(): the values pgcopy_bin_int8() and
 * pgcopy_bin_time_ms() write, negative ones and the extremes; 'infinity'
 * and the latest times, which would overflow microseconds since 1970, read
 * as INT64_MAX (no signed overflow, checked under UBSan in CI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "storage/pgcopy.h"

/* v written as a binary int8 field and read back from its value bytes (after the length). */
static int64_t
int8_round_trip(int64_t v)
{
    struct buf b;
    int64_t got;

    buf_init(&b, 0);
    pgcopy_bin_int8(&b, v);
    assert_int_equal(b.len, 12);
    got = pgcopy_bin_get_int8(b.data + 4);
    buf_release(&b);
    return got;
}

static void
test_int8(void **state)
{
    static const int64_t values[] = {
        0, 1, -1, 255, 256, 1234567890123LL, -987654321098LL, INT64_MAX, INT64_MIN};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        assert_true(int8_round_trip(values[i]) == values[i]);
}

static void
test_time(void **state)
{
    static const int64_t ms[] = {0, 946684800000LL, 1714964706123LL, -1000, 253402300799999LL};
    /* PostgreSQL's 'infinity', and its latest time, 294276-12-31 23:59:59.999999 UTC */
    static const unsigned char inf[8] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const unsigned char last[8] = {0x7f, 0xff, 0xff, 0x5b, 0xb3, 0xb2, 0x9f, 0xff};
    static const unsigned char ninf[8] = {0x80, 0, 0, 0, 0, 0, 0, 0};
    struct buf b;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        buf_init(&b, 0);
        pgcopy_bin_time_ms(&b, ms[i]);
        assert_true(pgcopy_bin_get_time_us(b.data + 4) == ms[i] * 1000);
        buf_release(&b);
    }
    assert_true(pgcopy_bin_get_time_us((const char *)inf) == INT64_MAX);
    assert_true(pgcopy_bin_get_time_us((const char *)last) == INT64_MAX);
    assert_true(pgcopy_bin_get_time_us((const char *)ninf) == INT64_MIN + 946684800000000LL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
