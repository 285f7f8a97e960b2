/*
 * test_orc_column.c - unit tests for ORC columns (codec/orc_column.h)
 *
 * Columns read through orc_column directly, on streams written here:
 * timestamps (seconds since 2015 and the nanosecond encoding with its
 * removed trailing zeros, the specification's 0x0a and 0x0c), dates,
 * the specification's direct and dictionary string examples (RLE v1 and
 * v2), booleans and tinyints behind PRESENT streams, and the errors: time
 * zones, ranges, dictionary bounds, caps, encodings that do not fit a type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/orc_column.h"
#include "core/buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- columns ------------------------------------------------------------------------------- */

/* RLE v2 DIRECT runs of 64-bit values (zigzag when signed), appended to b. */
static void
enc_v2(struct buf *b, const int64_t *v, size_t n, int is_signed)
{
    size_t i, k;

    for (i = 0; i < n; i += 512) {
        size_t run = n - i < 512 ? n - i : 512;
        unsigned char h[2] = {(unsigned char)(0x7e | (run - 1) >> 8), (unsigned char)(run - 1)};

        buf_append(b, h, 2);
        for (k = 0; k < run; k++) {
            uint64_t u = (uint64_t)v[i + k];
            int s;

            if (is_signed)
                u = (u << 1) ^ (v[i + k] < 0 ? UINT64_MAX : 0);
            for (s = 56; s >= 0; s -= 8)
                buf_append_char(b, (char)(u >> s));
        }
    }
}

struct coltest {
    struct orc_column_spec spec;
    struct buf bytes[ORC_S_N];
};

static void
coltest_init(struct coltest *t, enum orc_type_kind kind, uint32_t enc, uint64_t rows)
{
    int k;

    memset(t, 0, sizeof(*t));
    t->spec.name = "f";
    t->spec.kind = kind;
    t->spec.encoding.kind = enc;
    t->spec.compression = ORC_COMPRESSION_NONE;
    t->spec.rows = rows;
    t->spec.timezone = "";
    for (k = 0; k < ORC_S_N; k++)
        buf_init(&t->bytes[k], 0);
}

/* Open a column on the streams written so far (empty buffers are absent streams). */
static enum err
coltest_open(struct coltest *t, struct orc_column *c, char *errbuf)
{
    int k;

    for (k = 0; k < ORC_S_N; k++) {
        t->spec.stream[k] = t->bytes[k].len ? (const unsigned char *)t->bytes[k].data : NULL;
        t->spec.stream_len[k] = t->bytes[k].len;
    }
    return orc_column_open(c, &t->spec, errbuf, ERRBUF_SIZE);
}

static void
coltest_release(struct coltest *t)
{
    int k;

    for (k = 0; k < ORC_S_N; k++)
        buf_release(&t->bytes[k]);
}

static void
test_timestamp_nanos(void **state)
{
    (void)state;
    assert_int_equal(orc_timestamp_nanos(0x0a), 1000);   /* the specification's examples */
    assert_int_equal(orc_timestamp_nanos(0x0c), 100000); /* (0x0c: 1 and 5 zeros) */
    assert_int_equal(orc_timestamp_nanos(0), 0);
    assert_int_equal(orc_timestamp_nanos(123456789u << 3), 123456789);
    assert_int_equal(orc_timestamp_nanos(5u << 3 | 7), 500000000);
    assert_int_equal(orc_timestamp_nanos(UINT64_C(999999999) << 3), 999999999);
    assert_int_equal(orc_timestamp_nanos(UINT64_C(1000000000) << 3), -1);
    assert_int_equal(orc_timestamp_nanos(10u << 3 | 7), -1);
    assert_int_equal(orc_timestamp_nanos(UINT64_MAX), -1);
}

static void
test_timestamp_column(void **state)
{
    /* seconds since 1970 as a writer truncates them, and encoded nanoseconds */
    static const int64_t secs[] = {1715035068, 1715035068, -1, 0, 253402300799, -62167219200};
    static const int64_t nanos[] = {0, 2 << 3 | 5, 5 << 3 | 7, 123456789 << 3, 999999999LL << 3, 0};
    static const int64_t want_ms[] = {1715035068000, 1715035068002,   -1500,
                                      123,           253402300799999, -62167219200000};
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_column c;
    struct orc_value v;
    struct coltest t;
    int64_t stored[N(secs)];
    size_t i;

    (void)state;
    coltest_init(&t, ORC_TIMESTAMP, ORC_DIRECT_V2, N(secs));
    for (i = 0; i < N(secs); i++)
        stored[i] = secs[i] - ORC_TIMESTAMP_BASE_S;
    enc_v2(&t.bytes[ORC_S_DATA], stored, N(secs), 1);
    enc_v2(&t.bytes[ORC_S_SECONDARY], nanos, N(nanos), 0);
    t.spec.timezone = "UTC";
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
    for (i = 0; i < N(secs); i++) {
        assert_int_equal(orc_column_next(&c, &v, errbuf, sizeof(errbuf)), ERR_OK);
        assert_true(v.present);
        if (v.i != want_ms[i])
            fail_msg("value %zu: %lld ms, expected %lld", i, (long long)v.i, (long long)want_ms[i]);
    }
    assert_int_equal(orc_column_next(&c, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "field f: DATA stream: ends early");
    orc_column_close(&c);

    /* a writer in another time zone; an instant does not care */
    t.spec.timezone = "America/Los_Angeles";
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_UNSUPPORTED);
    assert_string_equal(errbuf, "field f: timestamps written in time zone America/Los_Angeles are "
                                "not supported (only UTC)");
    orc_column_close(&c);
    t.spec.kind = ORC_TIMESTAMP_INSTANT;
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
    assert_int_equal(orc_column_next(&c, &v, errbuf, sizeof(errbuf)), ERR_OK);
    assert_true(v.i == want_ms[0]);
    orc_column_close(&c);

    /* past 9999 and before 0000 */
    buf_reset(&t.bytes[ORC_S_DATA]);
    stored[0] = 253402300800 - ORC_TIMESTAMP_BASE_S;
    stored[1] = -62167219201 - ORC_TIMESTAMP_BASE_S;
    enc_v2(&t.bytes[ORC_S_DATA], stored, 2, 1);
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
    assert_int_equal(orc_column_next(&c, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "field f: DATA stream: a timestamp outside years 0000-9999");
    orc_column_close(&c);
    coltest_release(&t);
}

/* The next value is the string want (NULL: null). */
static void
expect_str(struct orc_column *c, const char *want)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_value v;

    if (orc_column_next(c, &v, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    if (!want) {
        assert_false(v.present);
        return;
    }
    assert_true(v.present);
    assert_int_equal(v.len, strlen(want));
    assert_string_equal(v.s, want);
}

static void
test_string_columns(void **state)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_column c;
    struct coltest t;
    struct orc_value v;

    (void)state;
    /* the specification's direct example, RLE v1 lengths [6, 10], behind a PRESENT stream */
    coltest_init(&t, ORC_STRING, ORC_DIRECT, 3);
    buf_append(&t.bytes[ORC_S_PRESENT], "\xff\xa0", 2); /* 1, 0, 1 */
    buf_append(&t.bytes[ORC_S_DATA], "NevadaCalifornia", 16);
    buf_append(&t.bytes[ORC_S_LENGTH], "\xfe\x06\x0a", 3);
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
    expect_str(&c, "Nevada");
    expect_str(&c, NULL);
    expect_str(&c, "California");
    orc_column_close(&c);
    coltest_release(&t);

    /* a direct value over the cap */
    coltest_init(&t, ORC_STRING, ORC_DIRECT_V2, 1);
    {
        static const int64_t big[] = {ORC_MAX_VALUE_BYTES + 1};

        enc_v2(&t.bytes[ORC_S_LENGTH], big, 1, 0);
    }
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
    assert_int_equal(orc_column_next(&c, &v, errbuf, sizeof(errbuf)), ERR_TOO_LARGE);
    assert_string_equal(errbuf,
                        "field f: DATA stream: a value of 65537 bytes (the limit is 65536)");
    orc_column_close(&c);
    coltest_release(&t);
}

static void
test_dictionary_columns(void **state)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_column c;
    struct coltest t;
    struct orc_value v;
    int enc;

    (void)state;
    /* the specification's dictionary example, with RLE v1 and with RLE v2 */
    for (enc = ORC_DICTIONARY; enc <= ORC_DICTIONARY_V2; enc += 2) {
        static const int64_t lengths[] = {10, 7, 6}, refs[] = {2, 0, 2, 0, 1};

        coltest_init(&t, ORC_VARCHAR, (uint32_t)enc, 5);
        t.spec.encoding.dictionary_size = 3;
        buf_append(&t.bytes[ORC_S_DICT], "CaliforniaFloridaNevada", 23);
        if (enc == ORC_DICTIONARY) {
            buf_append(&t.bytes[ORC_S_LENGTH], "\xfd\x0a\x07\x06", 4);
            buf_append(&t.bytes[ORC_S_DATA], "\xfb\x02\x00\x02\x00\x01", 6);
        } else {
            enc_v2(&t.bytes[ORC_S_LENGTH], lengths, 3, 0);
            enc_v2(&t.bytes[ORC_S_DATA], refs, 5, 0);
        }
        assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
        expect_str(&c, "Nevada");
        expect_str(&c, "California");
        expect_str(&c, "Nevada");
        expect_str(&c, "California");
        expect_str(&c, "Florida");
        assert_int_equal(orc_column_next(&c, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
        orc_column_close(&c);

        t.spec.rows = 2; /* more entries than rows */
        assert_int_equal(coltest_open(&t, &c, errbuf), ERR_BAD_INPUT);
        assert_string_equal(errbuf, "field f: a dictionary of 3 entries for 2 rows");
        orc_column_close(&c);
        t.spec.rows = 5;
        t.bytes[ORC_S_DICT].len = 22; /* the lengths run past the data */
        assert_int_equal(coltest_open(&t, &c, errbuf), ERR_BAD_INPUT);
        assert_string_equal(errbuf, "field f: dictionary lengths run past its data");
        orc_column_close(&c);
        coltest_release(&t);
    }

    /* an index past the dictionary */
    coltest_init(&t, ORC_CHAR, ORC_DICTIONARY, 1);
    t.spec.encoding.dictionary_size = 1;
    buf_append(&t.bytes[ORC_S_DICT], "a", 1);
    buf_append(&t.bytes[ORC_S_LENGTH], "\xff\x01", 2);
    buf_append(&t.bytes[ORC_S_DATA], "\xff\x01", 2);
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
    assert_int_equal(orc_column_next(&c, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "field f: DATA stream: dictionary index 1 out of range");
    orc_column_close(&c);
    coltest_release(&t);
}

static void
test_scalar_columns(void **state)
{
    static const int64_t days[] = {19849, -1, 2932896, 2932897};
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_column c;
    struct coltest t;
    struct orc_value v;

    (void)state;
    coltest_init(&t, ORC_DATE, ORC_DIRECT_V2, 4);
    enc_v2(&t.bytes[ORC_S_DATA], days, 4, 1);
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
    assert_true(!orc_column_next(&c, &v, errbuf, sizeof(errbuf)) && v.i == 19849LL * 86400000);
    assert_true(!orc_column_next(&c, &v, errbuf, sizeof(errbuf)) && v.i == -86400000);
    assert_true(!orc_column_next(&c, &v, errbuf, sizeof(errbuf)) && v.i == 2932896LL * 86400000);
    assert_int_equal(orc_column_next(&c, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "field f: DATA stream: a date outside years 0000-9999");
    orc_column_close(&c);
    coltest_release(&t);

    /* tinyint: byte RLE, signed */
    coltest_init(&t, ORC_BYTE, ORC_DIRECT, 2);
    buf_append(&t.bytes[ORC_S_DATA], "\xfe\x7f\x80", 3);
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
    assert_true(!orc_column_next(&c, &v, errbuf, sizeof(errbuf)) && v.i == 127);
    assert_true(!orc_column_next(&c, &v, errbuf, sizeof(errbuf)) && v.i == -128);
    orc_column_close(&c);
    coltest_release(&t);

    /* booleans behind a PRESENT stream: null, true, false */
    coltest_init(&t, ORC_BOOLEAN, ORC_DIRECT, 3);
    buf_append(&t.bytes[ORC_S_PRESENT], "\xff\x60", 2); /* 0, 1, 1 */
    buf_append(&t.bytes[ORC_S_DATA], "\xff\x80", 2);    /* 1, 0 */
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_OK);
    assert_true(!orc_column_next(&c, &v, errbuf, sizeof(errbuf)) && !v.present);
    assert_true(!orc_column_next(&c, &v, errbuf, sizeof(errbuf)) && v.present && v.i == 1);
    assert_true(!orc_column_next(&c, &v, errbuf, sizeof(errbuf)) && v.present && v.i == 0);
    orc_column_close(&c);

    /* encodings that do not go with the type */
    t.spec.kind = ORC_LONG;
    t.spec.encoding.kind = ORC_DICTIONARY_V2;
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_UNSUPPORTED);
    assert_string_equal(errbuf, "field f: dictionary encoding of a bigint column is not supported");
    orc_column_close(&c);
    t.spec.encoding.kind = 4;
    assert_int_equal(coltest_open(&t, &c, errbuf), ERR_UNSUPPORTED);
    assert_string_equal(errbuf, "field f: unknown ORC column encoding 4");
    orc_column_close(&c);
    orc_column_close(NULL);
    coltest_release(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamp_nanos), cmocka_unit_test(test_timestamp_column),
        cmocka_unit_test(test_string_columns),  cmocka_unit_test(test_dictionary_columns),
        cmocka_unit_test(test_scalar_columns),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
