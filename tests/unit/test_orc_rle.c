/*
 * test_orc_rle.c - unit tests for ORC's encodings: protobuf varints, RLE, compression chunks
 *
 * Every example the ORCv1 specification publishes (base-128 varints,
 * zigzag, byte RLE, boolean RLE, integer RLE v1, each RLE v2 sub-encoding:
 * SHORT_REPEAT, DIRECT, PATCHED_BASE, DELTA, and the compression chunk
 * headers) is decoded here and checked value by value, then cut at every
 * length (each prefix must fail, never crash or invent values). Compression
 * chunks are made in the test with zlib, libsnappy and libzstd themselves,
 * original and compressed. Columns are tested in test_orc_column.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "codec/orc_rle.h"
#include "codec/orc_stream.h"
#include "codec/protobuf_wire.h"
#include "core/buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- integer RLE helpers ------------------------------------------------------------------- */

/*
 * Decode want_n values from in[0..len) (uncompressed) and compare them one
 * by one; then every shorter prefix must fail with "ends early" before
 * all values are out.
 */
static void
expect_ints(const unsigned char *in, size_t len, int v2, int is_signed, const int64_t *want,
            size_t want_n)
{
    char errbuf[ERRBUF_SIZE] = "";
    size_t cut, i;

    for (cut = len + 1; cut-- > 0;) {
        struct orc_stream s;
        struct orc_int_rle r;
        enum err rc = ERR_OK;
        int64_t v;

        orc_stream_init(&s, ORC_COMPRESSION_NONE, 0, in, cut, "test stream");
        orc_int_rle_init(&r, &s, v2, is_signed);
        for (i = 0; i < want_n && !rc; i++) {
            rc = orc_int_rle_next(&r, &v, errbuf, sizeof(errbuf));
            if (!rc && v != want[i])
                fail_msg("cut %zu, value %zu: %lld, expected %lld", cut, i, (long long)v,
                         (long long)want[i]);
        }
        if (cut == len) {
            if (rc)
                fail_msg("whole input: %s", errbuf);
            /* nothing is left over */
            assert_int_equal(orc_int_rle_next(&r, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
            assert_string_equal(errbuf, "test stream: ends early");
        } else if (!rc) {
            fail_msg("a prefix of %zu of %zu bytes gave every value", cut, len);
        }
        orc_stream_release(&s);
    }
}

/* The first value of in[0..len) fails with a message containing part. */
static void
expect_int_error(const unsigned char *in, size_t len, int v2, int is_signed, const char *part)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_stream s;
    struct orc_int_rle r;
    int64_t v;
    enum err rc = ERR_OK;
    size_t i;

    orc_stream_init(&s, ORC_COMPRESSION_NONE, 0, in, len, "test stream");
    orc_int_rle_init(&r, &s, v2, is_signed);
    for (i = 0; i < 600 && !rc; i++)
        rc = orc_int_rle_next(&r, &v, errbuf, sizeof(errbuf));
    assert_int_equal(rc, ERR_BAD_INPUT);
    if (!strstr(errbuf, part))
        fail_msg("message '%s' lacks '%s'", errbuf, part);
    orc_stream_release(&s);
}

/* ---- the specification's examples ---------------------------------------------------------- */

static void
test_varints(void **state)
{
    static const struct {
        uint64_t v;
        unsigned char b[3];
        size_t n;
    } table[] = {{0, {0x00}, 1},
                 {1, {0x01}, 1},
                 {127, {0x7f}, 1},
                 {128, {0x80, 0x01}, 2},
                 {129, {0x81, 0x01}, 2},
                 {16383, {0xff, 0x7f}, 2},
                 {16384, {0x80, 0x80, 0x01}, 3},
                 {16385, {0x81, 0x80, 0x01}, 3}};
    static const unsigned char max[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0x01};
    static const unsigned char over[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0x02};
    struct pb_reader r;
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < N(table); i++) {
        pb_reader_init(&r, table[i].b, table[i].n);
        assert_true(pb_varint(&r, &v));
        assert_true(v == table[i].v);
        assert_false(pb_more(&r));
        pb_reader_init(&r, table[i].b, table[i].n - 1);
        assert_false(pb_varint(&r, &v));
    }
    /* the zigzag table: 0, -1, 1, -2, 2 */
    assert_true(pb_zigzag(0) == 0 && pb_zigzag(1) == -1 && pb_zigzag(2) == 1);
    assert_true(pb_zigzag(3) == -2 && pb_zigzag(4) == 2);
    assert_true(pb_zigzag(UINT64_MAX) == INT64_MIN);
    pb_reader_init(&r, max, sizeof(max));
    assert_true(pb_varint(&r, &v) && v == UINT64_MAX);
    pb_reader_init(&r, over, sizeof(over));
    assert_false(pb_varint(&r, &v));
}

static int
add_up(void *ctx, uint64_t v)
{
    *(uint64_t *)ctx += v;
    return v != 7; /* 7 stops the walk */
}

static void
test_protobuf_fields(void **state)
{
    /* field 1 varint 150, field 2 "ab", field 3 fixed32, field 4 fixed64, field 5 packed 1,300 */
    static const unsigned char msg[] = {0x08, 0x96, 0x01, 0x12, 0x02, 'a',  'b',  0x1d, 1,
                                        0,    0,    0,    0x21, 2,    0,    0,    0,    0,
                                        0,    0,    0,    0x2a, 0x03, 0x01, 0xac, 0x02};
    static const unsigned char group[] = {0x0b, 0x0c};
    static const unsigned char field0[] = {0x00, 0x01};
    struct pb_reader r;
    struct pb_field f;
    uint64_t sum;
    size_t cut;

    (void)state;
    pb_reader_init(&r, msg, sizeof(msg));
    assert_true(pb_next(&r, &f) && f.number == 1 && f.wire == PB_VARINT && f.value == 150);
    assert_true(pb_next(&r, &f) && f.number == 2 && f.wire == PB_BYTES && f.len == 2);
    assert_memory_equal(f.bytes, "ab", 2);
    assert_true(pb_next(&r, &f) && f.number == 3 && f.wire == PB_FIXED32 && f.value == 1);
    assert_true(pb_next(&r, &f) && f.number == 4 && f.wire == PB_FIXED64 && f.value == 2);
    assert_true(pb_next(&r, &f) && f.number == 5 && f.wire == PB_BYTES && f.len == 3);
    assert_false(pb_more(&r));
    sum = 0;
    assert_true(pb_each_varint(&f, add_up, &sum) && sum == 301);
    f.len = 2; /* the packed list cut inside its second varint */
    assert_false(pb_each_varint(&f, add_up, &sum));
    f.wire = PB_VARINT; /* one unpacked element */
    f.value = 7;
    assert_false(pb_each_varint(&f, add_up, &sum));
    for (cut = 1; cut < sizeof(msg); cut++) {
        int ok = 1;

        pb_reader_init(&r, msg, cut);
        while (ok && pb_more(&r))
            ok = pb_next(&r, &f);
        /* a cut between fields parses, one inside a field does not */
        assert_int_equal(ok, cut == 3 || cut == 7 || cut == 12 || cut == 21);
    }
    pb_reader_init(&r, group, sizeof(group));
    assert_false(pb_next(&r, &f));
    pb_reader_init(&r, field0, sizeof(field0));
    assert_false(pb_next(&r, &f));
}

static void
test_byte_and_boolean_rle(void **state)
{
    static const unsigned char zeros[] = {0x61, 0x00};
    static const unsigned char lit[] = {0xfe, 0x44, 0x45};
    static const unsigned char bools[] = {0xff, 0x80};
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_stream s;
    struct orc_byte_rle b;
    struct orc_bool_rle t;
    unsigned char v;
    int bit, i;

    (void)state;
    orc_stream_init(&s, ORC_COMPRESSION_NONE, 0, zeros, sizeof(zeros), "bytes");
    orc_byte_rle_init(&b, &s);
    for (i = 0; i < 100; i++) {
        assert_int_equal(orc_byte_rle_next(&b, &v, errbuf, sizeof(errbuf)), ERR_OK);
        assert_int_equal(v, 0);
    }
    assert_int_equal(orc_byte_rle_next(&b, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "bytes: ends early");

    orc_stream_init(&s, ORC_COMPRESSION_NONE, 0, lit, sizeof(lit), "bytes");
    orc_byte_rle_init(&b, &s);
    assert_true(!orc_byte_rle_next(&b, &v, errbuf, sizeof(errbuf)) && v == 0x44);
    assert_true(!orc_byte_rle_next(&b, &v, errbuf, sizeof(errbuf)) && v == 0x45);
    assert_int_equal(orc_byte_rle_next(&b, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    orc_stream_init(&s, ORC_COMPRESSION_NONE, 0, lit, 2, "bytes");
    orc_byte_rle_init(&b, &s);
    assert_true(!orc_byte_rle_next(&b, &v, errbuf, sizeof(errbuf)) && v == 0x44);
    assert_int_equal(orc_byte_rle_next(&b, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);

    /* one true followed by seven false */
    orc_stream_init(&s, ORC_COMPRESSION_NONE, 0, bools, sizeof(bools), "bools");
    orc_bool_rle_init(&t, &s);
    for (i = 0; i < 8; i++) {
        assert_int_equal(orc_bool_rle_next(&t, &bit, errbuf, sizeof(errbuf)), ERR_OK);
        assert_int_equal(bit, i == 0);
    }
    assert_int_equal(orc_bool_rle_next(&t, &bit, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
}

static void
test_rle_v1(void **state)
{
    static const unsigned char sevens[] = {0x61, 0x00, 0x07};
    static const unsigned char down[] = {0x61, 0xff, 0x64};
    static const unsigned char lits[] = {0xfb, 0x02, 0x03, 0x06, 0x07, 0x0b};
    /* signed: a run from -1 by -2 (zigzag 1), then literals -64 and 63 */
    static const unsigned char sgn[] = {0x00, 0xfe, 0x01, 0xfe, 0x7f, 0x7e};
    static const int64_t lit_want[] = {2, 3, 6, 7, 11};
    static const int64_t sgn_want[] = {-1, -3, -5, -64, 63};
    int64_t want[100];
    size_t i;

    (void)state;
    for (i = 0; i < 100; i++)
        want[i] = 7;
    expect_ints(sevens, sizeof(sevens), 0, 0, want, 100);
    for (i = 0; i < 100; i++)
        want[i] = 100 - (int64_t)i;
    expect_ints(down, sizeof(down), 0, 0, want, 100);
    expect_ints(lits, sizeof(lits), 0, 0, lit_want, N(lit_want));
    expect_ints(sgn, sizeof(sgn), 0, 1, sgn_want, N(sgn_want));
}

static void
test_rle_v2_short_repeat(void **state)
{
    static const unsigned char unsigned_ex[] = {0x0a, 0x27, 0x10};
    /* signed: -3 (zigzag 5) three times, one byte */
    static const unsigned char signed_ex[] = {0x00, 0x05};
    static const int64_t want[] = {10000, 10000, 10000, 10000, 10000};
    static const int64_t want_signed[] = {-3, -3, -3};

    (void)state;
    expect_ints(unsigned_ex, sizeof(unsigned_ex), 1, 0, want, N(want));
    expect_ints(signed_ex, sizeof(signed_ex), 1, 1, want_signed, N(want_signed));
}

static void
test_rle_v2_direct(void **state)
{
    static const unsigned char ex[] = {0x5e, 0x03, 0x5c, 0xa1, 0xab, 0x1e, 0xde, 0xad, 0xbe, 0xef};
    /* signed, width 4 (code 3), 3 values: zigzag 1, 2, 15 -> -1, 1, -8 (padded to a byte) */
    static const unsigned char sgn[] = {0x46, 0x02, 0x12, 0xf0};
    /* width 64 (code 31), 1 value: INT64_MIN zigzagged is all ones */
    static const unsigned char wide[] = {0x7e, 0x00, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff};
    static const int64_t want[] = {23713, 43806, 57005, 48879};
    static const int64_t want_signed[] = {-1, 1, -8};
    static const int64_t want_wide[] = {INT64_MIN};

    (void)state;
    expect_ints(ex, sizeof(ex), 1, 0, want, N(want));
    expect_ints(sgn, sizeof(sgn), 1, 1, want_signed, N(want_signed));
    expect_ints(wide, sizeof(wide), 1, 1, want_wide, N(want_wide));
}

static void
test_rle_v2_patched_base(void **state)
{
    static const unsigned char ex[] = {0x8e, 0x13, 0x2b, 0x21, 0x07, 0xd0, 0x1e, 0x00, 0x14, 0x70,
                                       0x28, 0x32, 0x3c, 0x46, 0x50, 0x5a, 0x64, 0x6e, 0x78, 0x82,
                                       0x8c, 0x96, 0xa0, 0xaa, 0xb4, 0xbe, 0xfc, 0xe8};
    static const int64_t want[] = {2030, 2000, 2020, 1000000, 2040, 2050, 2060, 2070, 2080, 2090,
                                   2100, 2110, 2120, 2130,    2140, 2150, 2160, 2170, 2180, 2190};
    /*
     * Signed, a negative base (-5: one byte, sign bit set), width 1 (code 0),
     * 3 values 1, 0, 1; patch width 2 (code 1), gap width 1, one patch:
     * gap 1, patch 3 -> the second value becomes 0 | 3 << 1 = 6.
     */
    static const unsigned char neg[] = {0x80, 0x02, 0x01, 0x01, 0x85, 0xa0, 0xe0};
    static const int64_t want_neg[] = {-4, 1, -4};

    (void)state;
    expect_ints(ex, sizeof(ex), 1, 0, want, N(want));
    expect_ints(neg, sizeof(neg), 1, 1, want_neg, N(want_neg));
}

static void
test_rle_v2_patched_base_errors(void **state)
{
    /* as above but the patch's gap (1) points past a run of 1 value */
    static const unsigned char past[] = {0x80, 0x00, 0x01, 0x01, 0x85, 0x80, 0xe0};
    /* patch width 64 (code 31) with gap width 1: over 64 bits */
    static const unsigned char wide[] = {0x80, 0x02, 0x1f, 0x01, 0x85, 0xa0, 0xe0, 0,
                                         0,    0,    0,    0,    0,    0,    0};

    (void)state;
    expect_int_error(past, sizeof(past), 1, 1, "patch past the run");
    expect_int_error(wide, sizeof(wide), 1, 1, "patch wider than 64 bits");
}

static void
test_rle_v2_delta(void **state)
{
    static const unsigned char ex[] = {0xc6, 0x09, 0x02, 0x02, 0x22, 0x42, 0x42, 0x46};
    static const int64_t want[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29};
    /* signed, width 0 (fixed delta): base -1 (zigzag 1), delta -2 (zigzag 3), 4 values */
    static const unsigned char fixed[] = {0xc0, 0x03, 0x01, 0x03};
    static const int64_t want_fixed[] = {-1, -3, -5, -7};
    /* unsigned decreasing, width 2 (code 1): 100, 90 (delta -10), then 1, 2, 3 down */
    static const unsigned char down[] = {0xc2, 0x04, 0x64, 0x13, 0x6c};
    static const int64_t want_down[] = {100, 90, 89, 87, 84};

    (void)state;
    expect_ints(ex, sizeof(ex), 1, 0, want, N(want));
    expect_ints(fixed, sizeof(fixed), 1, 1, want_fixed, N(want_fixed));
    expect_ints(down, sizeof(down), 1, 0, want_down, N(want_down));
}

static void
test_rle_runs_follow_each_other(void **state)
{
    /* v2: SHORT_REPEAT, DIRECT, DELTA and PATCHED_BASE's examples back to back */
    static const unsigned char v2[] = {0x0a, 0x27, 0x10, 0x5e, 0x03, 0x5c, 0xa1, 0xab, 0x1e, 0xde,
                                       0xad, 0xbe, 0xef, 0xc6, 0x09, 0x02, 0x02, 0x22, 0x42, 0x42,
                                       0x46, 0x8e, 0x13, 0x2b, 0x21, 0x07, 0xd0, 0x1e, 0x00, 0x14,
                                       0x70, 0x28, 0x32, 0x3c, 0x46, 0x50, 0x5a, 0x64, 0x6e, 0x78,
                                       0x82, 0x8c, 0x96, 0xa0, 0xaa, 0xb4, 0xbe, 0xfc, 0xe8};
    static const int64_t want[] = {
        10000, 10000, 10000, 10000, 10000, 23713, 43806, 57005, 48879, 2,       3,    5,    7,
        11,    13,    17,    19,    23,    29,    2030,  2000,  2020,  1000000, 2040, 2050, 2060,
        2070,  2080,  2090,  2100,  2110,  2120,  2130,  2140,  2150,  2160,    2170, 2180, 2190};
    /* a varint of 11 bytes */
    static const unsigned char long_varint[] = {0xfb, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                0xff, 0xff, 0xff, 0xff, 0xff, 0x01};

    (void)state;
    expect_ints(v2, sizeof(v2), 1, 0, want, N(want));
    expect_int_error(long_varint, sizeof(long_varint), 0, 0, "varint over 64 bits");
}

/* Every width code maps as the specification's table says. */
static void
test_rle_widths(void **state)
{
    static const unsigned high[] = {26, 28, 30, 32, 40, 48, 56, 64};
    unsigned code;

    (void)state;
    for (code = 0; code < 24; code++)
        assert_int_equal(orc_rle_width(code, 0), code + 1);
    for (code = 24; code < 32; code++)
        assert_int_equal(orc_rle_width(code, 0), high[code - 24]);
    assert_int_equal(orc_rle_width(0, 1), 0);
    assert_int_equal(orc_rle_width(1, 1), 2);
}

/* ---- compression chunks -------------------------------------------------------------------- */

static const enum orc_compression codecs[] = {ORC_COMPRESSION_ZLIB, ORC_COMPRESSION_SNAPPY,
                                              ORC_COMPRESSION_ZSTD};

static void
put_header(struct buf *out, size_t n, int original)
{
    unsigned char h[3];
    uint32_t v = (uint32_t)(n * 2 + (original ? 1 : 0));

    h[0] = (unsigned char)v;
    h[1] = (unsigned char)(v >> 8);
    h[2] = (unsigned char)(v >> 16);
    buf_append(out, h, 3);
}

/* in[0..n) compressed with kind, behind its header, appended to out. */
static void
compressed_chunk(enum orc_compression kind, const void *in, size_t n, struct buf *out)
{
    size_t cap = n + n / 2 + 1024, len = cap;
    unsigned char *c = xmalloc(cap);

    if (kind == ORC_COMPRESSION_ZLIB) {
        z_stream z;

        memset(&z, 0, sizeof(z));
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = c;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        len = cap - z.avail_out;
        deflateEnd(&z);
    } else if (kind == ORC_COMPRESSION_SNAPPY) {
        assert_int_equal(snappy_compress(in, n, (char *)c, &len), SNAPPY_OK);
    } else {
        len = ZSTD_compress(c, cap, in, n, 3);
        assert_false(ZSTD_isError(len));
    }
    put_header(out, len, 0);
    buf_append(out, c, len);
    free(c);
}

static void
original_chunk(const void *in, size_t n, struct buf *out)
{
    put_header(out, n, 1);
    buf_append(out, in, n);
}

/* Some text that compresses: lines of a counter. */
static char *
sample(size_t n)
{
    char *s = xmalloc(n + 16);
    size_t at = 0;
    unsigned i = 0;

    while (at < n)
        at += (size_t)snprintf(s + at, 16, "line %u\n", i++);
    s[n] = '\0';
    return s;
}

static void
test_chunk_headers(void **state)
{
    /* the specification's header of 5 bytes that did not compress */
    static const unsigned char hello[] = {0x0b, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'};
    static const unsigned char big[] = {0x40, 0x0d, 0x03, 0x78, 0x9c};
    char errbuf[ERRBUF_SIZE] = "";
    char out[8] = "";
    struct orc_stream s;
    struct buf b;
    unsigned char *orig;
    size_t i;

    (void)state;
    orc_stream_init(&s, ORC_COMPRESSION_ZLIB, 5, hello, sizeof(hello), "chunks");
    assert_int_equal(orc_stream_read(&s, out, 5, errbuf, sizeof(errbuf)), ERR_OK);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(orc_stream_read(&s, out, 1, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "chunks: ends early");
    orc_stream_release(&s);

    /* [0x40, 0x0d, 0x03] is a chunk compressed to 100,000 bytes; 2 are there */
    orc_stream_init(&s, ORC_COMPRESSION_ZLIB, 262144, big, sizeof(big), "chunks");
    assert_int_equal(orc_stream_read(&s, out, 1, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "chunks: truncated compression chunk");
    orc_stream_release(&s);

    /* the same length as an original chunk ([0x41, 0x0d, 0x03]) reads back whole */
    buf_init(&b, 0);
    orig = xmalloc(100000);
    for (i = 0; i < 100000; i++)
        orig[i] = (unsigned char)(i * 7);
    original_chunk(orig, 100000, &b);
    assert_memory_equal(b.data, "\x41\x0d\x03", 3);
    orc_stream_init(&s, ORC_COMPRESSION_SNAPPY, 100000, b.data, b.len, "chunks");
    memset(orig, 0, 100);
    for (i = 0; i < 100000; i++) {
        unsigned char c;

        assert_int_equal(orc_stream_byte(&s, &c, errbuf, sizeof(errbuf)), ERR_OK);
        assert_int_equal(c, i < 100 ? (unsigned char)(i * 7) : orig[i]);
    }
    orc_stream_release(&s);
    /* a block size below the chunk's: refused */
    orc_stream_init(&s, ORC_COMPRESSION_SNAPPY, 99999, b.data, b.len, "chunks");
    assert_int_equal(orc_stream_byte(&s, orig, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "chunks: a chunk is larger than the compression block size");
    orc_stream_release(&s);
    /* a header cut short */
    orc_stream_init(&s, ORC_COMPRESSION_ZSTD, 100000, b.data, 2, "chunks");
    assert_int_equal(orc_stream_byte(&s, orig, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "chunks: truncated compression chunk header");
    orc_stream_release(&s);
    free(orig);
    buf_release(&b);
}

/* compressed, empty, original, compressed chunks of 1000 bytes, read back in pieces */
static void
test_chunks_each_codec(void **state)
{
    char errbuf[ERRBUF_SIZE] = "";
    char *text = sample(3500);
    size_t k, cut;

    (void)state;
    for (k = 0; k < N(codecs); k++) {
        struct buf b, all;
        struct orc_stream s;
        char got[3500];
        size_t at = 0, step = 1;

        buf_init(&b, 0);
        buf_init(&all, 0);
        compressed_chunk(codecs[k], text, 1000, &b);
        put_header(&b, 0, 0);
        original_chunk(text + 1000, 1000, &b);
        compressed_chunk(codecs[k], text + 2000, 1000, &b);
        compressed_chunk(codecs[k], text + 3000, 500, &b);
        orc_stream_init(&s, codecs[k], 1000, b.data, b.len, "chunks");
        while (at < 3500) {
            size_t n = step < 3500 - at ? step : 3500 - at;

            assert_int_equal(orc_stream_read(&s, got + at, n, errbuf, sizeof(errbuf)), ERR_OK);
            at += n;
            step = step * 3 + 1;
        }
        assert_memory_equal(got, text, 3500);
        assert_int_equal(orc_stream_read(&s, got, 1, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
        orc_stream_release(&s);
        orc_stream_release(&s); /* released twice: harmless */

        assert_int_equal(orc_decompress_all(codecs[k], 1000, b.data, b.len, 3500, &all, "all",
                                            errbuf, sizeof(errbuf)),
                         ERR_OK);
        assert_int_equal(all.len, 3500);
        assert_memory_equal(all.data, text, 3500);
        buf_reset(&all);
        assert_int_equal(orc_decompress_all(codecs[k], 1000, b.data, b.len, 3499, &all, "all",
                                            errbuf, sizeof(errbuf)),
                         ERR_TOO_LARGE);
        assert_string_equal(errbuf, "all: more than 3499 bytes decompressed");
        /* every prefix fails, except those that end between chunks */
        for (cut = 0; cut < b.len; cut++) {
            enum err rc;

            buf_reset(&all);
            rc = orc_decompress_all(codecs[k], 1000, b.data, cut, 1 << 20, &all, "all", errbuf,
                                    sizeof(errbuf));
            assert_true(rc == ERR_OK || rc == ERR_BAD_INPUT);
            assert_true(rc || !memcmp(all.data ? all.data : "", text, all.len));
        }
        buf_release(&b);
        buf_release(&all);
    }
    free(text);
}

/* A chunk past zlib's first 64 KiB of output, then a small one: the buffer grows, then is reused.
 */
static void
test_large_chunks(void **state)
{
    char errbuf[ERRBUF_SIZE] = "";
    char *text = sample(200000);
    size_t k;

    (void)state;
    for (k = 0; k < N(codecs); k++) {
        struct buf b, all;

        buf_init(&b, 0);
        buf_init(&all, 0);
        compressed_chunk(codecs[k], text, 200000, &b);
        compressed_chunk(codecs[k], text, 1000, &b);
        assert_int_equal(orc_decompress_all(codecs[k], 262144, b.data, b.len, 1 << 20, &all, "all",
                                            errbuf, sizeof(errbuf)),
                         ERR_OK);
        assert_int_equal(all.len, 201000);
        assert_memory_equal(all.data, text, 200000);
        assert_memory_equal(all.data + 200000, text, 1000);
        buf_reset(&all);
        assert_int_equal(orc_decompress_all(codecs[k], 199999, b.data, b.len, 1 << 20, &all, "all",
                                            errbuf, sizeof(errbuf)),
                         ERR_BAD_INPUT);
        assert_non_null(strstr(errbuf, "expands past the compression block size"));
        buf_release(&b);
        buf_release(&all);
    }
    free(text);
}

static void
test_chunk_errors(void **state)
{
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const char *const expands[] = {
        "chunks: a zlib chunk expands past the compression block size",
        "chunks: a snappy chunk expands past the compression block size",
        "chunks: a zstd chunk expands past the compression block size"};
    static const char *const corrupt[] = {
        "chunks: corrupt zlib chunk", "chunks: corrupt snappy chunk", "chunks: corrupt zstd chunk"};
    char errbuf[ERRBUF_SIZE] = "";
    char *text = sample(2048);
    unsigned char c;
    size_t k;

    (void)state;
    for (k = 0; k < N(codecs); k++) {
        struct orc_stream s;
        struct buf b;

        buf_init(&b, 0);
        compressed_chunk(codecs[k], text, 2048, &b);
        orc_stream_init(&s, codecs[k], 2047, b.data, b.len, "chunks");
        assert_int_equal(orc_stream_byte(&s, &c, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
        assert_string_equal(errbuf, expands[k]);
        orc_stream_release(&s);

        buf_reset(&b);
        put_header(&b, sizeof(junk), 0);
        buf_append(&b, junk, sizeof(junk));
        orc_stream_init(&s, codecs[k], 2048, b.data, b.len, "chunks");
        assert_int_equal(orc_stream_byte(&s, &c, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
        if (strncmp(errbuf, corrupt[k], strlen(corrupt[k])))
            fail_msg("'%s' is not '%s'", errbuf, corrupt[k]);
        orc_stream_release(&s);
        buf_release(&b);
    }
    assert_int_equal(orc_compression_check(ORC_COMPRESSION_LZO, errbuf, sizeof(errbuf)),
                     ERR_UNSUPPORTED);
    assert_string_equal(errbuf, "ORC compression LZO is not supported");
    assert_int_equal(orc_compression_check(ORC_COMPRESSION_LZ4, errbuf, sizeof(errbuf)),
                     ERR_UNSUPPORTED);
    assert_string_equal(errbuf, "ORC compression LZ4 is not supported");
    assert_int_equal(orc_compression_check(9, errbuf, sizeof(errbuf)), ERR_UNSUPPORTED);
    assert_string_equal(errbuf, "unknown ORC compression kind 9");
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varints),
        cmocka_unit_test(test_protobuf_fields),
        cmocka_unit_test(test_byte_and_boolean_rle),
        cmocka_unit_test(test_rle_v1),
        cmocka_unit_test(test_rle_v2_short_repeat),
        cmocka_unit_test(test_rle_v2_direct),
        cmocka_unit_test(test_rle_v2_patched_base),
        cmocka_unit_test(test_rle_v2_patched_base_errors),
        cmocka_unit_test(test_rle_v2_delta),
        cmocka_unit_test(test_rle_runs_follow_each_other),
        cmocka_unit_test(test_rle_widths),
        cmocka_unit_test(test_chunk_headers),
        cmocka_unit_test(test_chunks_each_codec),
        cmocka_unit_test(test_large_chunks),
        cmocka_unit_test(test_chunk_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
