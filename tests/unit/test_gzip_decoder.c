/*
 * test_gzip_decoder.c - streaming gzip decoder: members, truncation, corruption, caps
 *
 * Inputs are compressed here with zlib. Every input is decoded in one shot,
 * cut in two at every offset (sampled for big inputs) and fed one byte at a
 * time; all ways must give the same result.
 */
#define ZLIB_CONST
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "core/buf.h"
#include "codec/gzip_decoder.h"

#define MIB ((size_t)1024 * 1024)

struct result {
    enum err rc;
    char msg[ERRBUF_SIZE];
    struct buf out; /* decoded bytes when `keep` */
    size_t sunk;    /* bytes the sink received */
    size_t total_out;
    int keep;
};

/* When set, the sink fails with sink_rc once it would pass sink_fail_at bytes. */
static enum err sink_rc;
static size_t sink_fail_at;

static void
result_init(struct result *r, int keep)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->out, 0);
    r->keep = keep;
}

static void
result_release(struct result *r)
{
    buf_release(&r->out);
}

static enum err
sink(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct result *r = ctx;

    assert_true(len > 0);
    if (sink_rc && r->sunk + len >= sink_fail_at)
        return err_set(sink_rc, errbuf, errlen, "sink refused");
    r->sunk += len;
    if (r->keep)
        assert_int_equal(buf_append(&r->out, data, len), ERR_OK);
    return ERR_OK;
}

/* Compress with zlib into a gzip member (appended to out). */
static void
gz_append(struct buf *out, const void *data, size_t len, int level)
{
    z_stream zs;
    unsigned char tmp[16384];
    int zrc;

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    zs.next_in = data;
    zs.avail_in = (uInt)len;
    do {
        zs.next_out = tmp;
        zs.avail_out = sizeof(tmp);
        zrc = deflate(&zs, Z_FINISH);
        assert_true(zrc == Z_OK || zrc == Z_STREAM_END || zrc == Z_BUF_ERROR);
        assert_int_equal(buf_append(out, tmp, sizeof(tmp) - zs.avail_out), ERR_OK);
    } while (zrc != Z_STREAM_END);
    deflateEnd(&zs);
}

/* Compressible, CSV-like text of n bytes. */
static char *
make_text(size_t n, unsigned seed)
{
    char *s = xmalloc(n + 1);
    size_t i = 0;
    unsigned x = seed;

    while (i < n) {
        char line[64];
        int k;

        x = x * 1103515245u + 12345u;
        k = snprintf(line, sizeof(line), "repo-%u,%u,s3://bucket/key/%u\n", x % 997, x % 13,
                     (x >> 8) % 100000);
        for (int j = 0; j < k && i < n; j++)
            s[i++] = line[j];
    }
    s[n] = '\0';
    return s;
}

/* Feed `in` in the pieces given by cuts (increasing offsets), then finish. */
static void
decode(const unsigned char *in, size_t len, const size_t *cuts, size_t ncuts, size_t cap,
       struct result *r)
{
    struct gzip_decoder *d = gzip_decoder_new(cap, sink, r);
    size_t from = 0;

    r->rc = ERR_OK;
    for (size_t i = 0; i <= ncuts && !r->rc; i++) {
        size_t to = i < ncuts ? cuts[i] : len;

        r->rc = gzip_decoder_feed(d, in + from, to - from, r->msg, sizeof(r->msg));
        from = to;
    }
    if (!r->rc)
        r->rc = gzip_decoder_finish(d, r->msg, sizeof(r->msg));
    r->total_out = gzip_decoder_total_out(d);
    gzip_decoder_free(d);
}

static void
decode_bytewise(const unsigned char *in, size_t len, size_t cap, struct result *r)
{
    struct gzip_decoder *d = gzip_decoder_new(cap, sink, r);

    r->rc = ERR_OK;
    for (size_t i = 0; i < len && !r->rc; i++)
        r->rc = gzip_decoder_feed(d, in + i, 1, r->msg, sizeof(r->msg));
    if (!r->rc)
        r->rc = gzip_decoder_finish(d, r->msg, sizeof(r->msg));
    r->total_out = gzip_decoder_total_out(d);
    gzip_decoder_free(d);
}

static void
assert_same(const struct result *a, const struct result *b, size_t cap)
{
    assert_int_equal(a->rc, b->rc);
    if (a->rc)
        assert_string_equal(a->msg, b->msg);
    if (cap)
        assert_true(b->sunk <= cap);
    if (a->rc != ERR_OK && a->rc != ERR_BAD_INPUT)
        return; /* how much came out before a cap or sink error depends on chunking */
    assert_int_equal(a->sunk, b->sunk);
    assert_int_equal(a->total_out, b->total_out);
    if (a->keep && b->keep) {
        assert_int_equal(a->out.len, b->out.len);
        assert_memory_equal(a->out.data ? a->out.data : "", b->out.data ? b->out.data : "",
                            a->out.len);
    }
}

/*
 * Decode one-shot, at every split point (about `samples` of them for input
 * over 4 KiB) and byte by byte; check against the expectation and each other.
 */
static void
check_impl(const void *input, size_t len, size_t cap, size_t samples, int any, enum err want_rc,
           const char *want_msg, const void *want_out, size_t want_len)
{
    const unsigned char *in = input;
    struct result one;
    size_t step = len > 4096 ? len / samples + 1 : 1;
    int keep = want_len < 8 * MIB;

    result_init(&one, keep);
    decode(in, len, NULL, 0, cap, &one);
    if (!any)
        assert_int_equal(one.rc, want_rc);
    if (want_msg)
        assert_string_equal(one.msg, want_msg);
    if (want_out) {
        assert_int_equal(one.out.len, want_len);
        assert_memory_equal(one.out.data ? one.out.data : "", want_out, want_len);
    }
    if (one.rc == ERR_OK)
        assert_int_equal(one.total_out, one.sunk);

    for (size_t at = 0; at <= len; at += step) {
        struct result r;

        result_init(&r, keep);
        decode(in, len, &at, 1, cap, &r);
        assert_same(&one, &r, cap);
        result_release(&r);
    }
    {
        struct result r;

        result_init(&r, keep);
        decode_bytewise(in, len, cap, &r);
        assert_same(&one, &r, cap);
        result_release(&r);
    }
    result_release(&one);
}

static void
check(const void *input, size_t len, size_t cap, enum err want_rc, const char *want_msg,
      const void *want_out, size_t want_len)
{
    check_impl(input, len, cap, 256, 0, want_rc, want_msg, want_out, want_len);
}

/* Whatever the outcome, it must not depend on chunking. */
static void
check_consistent(const void *input, size_t len, size_t cap)
{
    check_impl(input, len, cap, 256, 1, ERR_OK, NULL, NULL, 0);
}

static void
test_single_member(void **state)
{
    static const char hello[] = "hello, gzip\n";
    struct buf gz;
    char *text = make_text(300000, 1);

    (void)state;
    buf_init(&gz, 0);
    gz_append(&gz, hello, strlen(hello), 6);
    check(gz.data, gz.len, 0, ERR_OK, NULL, hello, strlen(hello));
    check(gz.data, gz.len, strlen(hello), ERR_OK, NULL, hello, strlen(hello));

    /* larger than the 64 KiB output window, level 1 and 9 */
    buf_reset(&gz);
    gz_append(&gz, text, 300000, 1);
    check(gz.data, gz.len, 0, ERR_OK, NULL, text, 300000);
    buf_reset(&gz);
    gz_append(&gz, text, 300000, 9);
    check(gz.data, gz.len, 10 * MIB, ERR_OK, NULL, text, 300000);
    free(text);
    buf_release(&gz);
}

static void
test_incompressible(void **state)
{
    struct buf gz;
    unsigned char *raw = xmalloc(200000);
    unsigned x = 7;

    (void)state;
    for (size_t i = 0; i < 200000; i++) {
        x = x * 1664525u + 1013904223u;
        raw[i] = (unsigned char)(x >> 24);
    }
    buf_init(&gz, 0);
    gz_append(&gz, raw, 200000, 6); /* stored blocks */
    check(gz.data, gz.len, 0, ERR_OK, NULL, raw, 200000);
    free(raw);
    buf_release(&gz);
}

static void
test_multi_member(void **state)
{
    static const char a[] = "first member\n";
    static const char b[] = "second,member\r\n";
    static const char c[] = "third\n";
    struct buf gz;
    struct buf want;
    char *text = make_text(100000, 3);

    (void)state;
    buf_init(&gz, 0);
    buf_init(&want, 0);
    gz_append(&gz, a, strlen(a), 6);
    gz_append(&gz, b, strlen(b), 1);
    gz_append(&gz, c, strlen(c), 9);
    buf_append_str(&want, a);
    buf_append_str(&want, b);
    buf_append_str(&want, c);
    check(gz.data, gz.len, 0, ERR_OK, NULL, want.data, want.len);

    /* an empty member in the middle and one at the end */
    buf_reset(&gz);
    gz_append(&gz, a, strlen(a), 6);
    gz_append(&gz, "", 0, 6);
    gz_append(&gz, b, strlen(b), 6);
    gz_append(&gz, "", 0, 6);
    check(gz.data, gz.len, 0, ERR_OK, NULL, "first member\nsecond,member\r\n",
          strlen(a) + strlen(b));

    /* only an empty member: valid, no output */
    buf_reset(&gz);
    gz_append(&gz, "", 0, 6);
    check(gz.data, gz.len, 0, ERR_OK, NULL, "", 0);

    /* big members, each bigger than the window */
    buf_reset(&gz);
    buf_reset(&want);
    gz_append(&gz, text, 100000, 6);
    gz_append(&gz, text, 70000, 6);
    gz_append(&gz, text + 5, 90000, 6);
    buf_append(&want, text, 100000);
    buf_append(&want, text, 70000);
    buf_append(&want, text + 5, 90000);
    check(gz.data, gz.len, 0, ERR_OK, NULL, want.data, want.len);
    check(gz.data, gz.len, want.len, ERR_OK, NULL, want.data, want.len);
    check(gz.data, gz.len, want.len - 1, ERR_TOO_LARGE, "decoded body exceeds 259999 bytes", NULL,
          0);
    free(text);
    buf_release(&gz);
    buf_release(&want);
}

static void
test_truncated(void **state)
{
    struct buf gz;
    char *text = make_text(1000, 5);
    size_t first;

    (void)state;
    buf_init(&gz, 0);
    gz_append(&gz, text, 1000, 6);
    first = gz.len;
    gz_append(&gz, "tail\n", 5, 6);
    assert_true(gz.len < 600);
    for (size_t n = 1; n < gz.len; n++) {
        if (n == first)
            check(gz.data, n, 0, ERR_OK, NULL, text, 1000);
        else
            check(gz.data, n, 0, ERR_BAD_INPUT, "truncated gzip stream", NULL, 0);
    }
    check(gz.data, gz.len, 0, ERR_OK, NULL, NULL, 0);
    free(text);

    /*
     * Cut inside and at the edges of the decoder's 64 KiB input slices: the
     * bytes the sink got before the error are the same however the input is
     * chunked (check compares them).
     */
    text = make_text(1500000, 9);
    buf_reset(&gz);
    gz_append(&gz, text, 1500000, 1);
    assert_true(gz.len > 3 * 65536);
    {
        const size_t cuts[] = {1000, 65535, 65536, 65537, 2 * 65536 + 77, gz.len - 1};

        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
            check(gz.data, cuts[i], 0, ERR_BAD_INPUT, "truncated gzip stream", NULL, 0);
    }
    free(text);
    buf_release(&gz);
}

static void
test_corrupt(void **state)
{
    static const char msg[] = "some text that is compressed, some text that is compressed\n";
    struct buf gz;
    char *bad;

    (void)state;
    buf_init(&gz, 0);
    gz_append(&gz, msg, strlen(msg), 6);
    bad = xmalloc(gz.len);

    /* every byte of the CRC and of ISIZE */
    for (size_t i = gz.len - 8; i < gz.len; i++) {
        memcpy(bad, gz.data, gz.len);
        bad[i] ^= 0x01;
        check(bad, gz.len, 0, ERR_BAD_INPUT, "invalid gzip data", NULL, 0);
    }
    /* bad magic, bad compression method, reserved flag bits */
    memcpy(bad, gz.data, gz.len);
    bad[0] = 0x1e;
    check(bad, gz.len, 0, ERR_BAD_INPUT, "invalid gzip data", NULL, 0);
    memcpy(bad, gz.data, gz.len);
    bad[2] = 7;
    check(bad, gz.len, 0, ERR_BAD_INPUT, "invalid gzip data", NULL, 0);
    memcpy(bad, gz.data, gz.len);
    bad[3] = (char)0xe0;
    check(bad, gz.len, 0, ERR_BAD_INPUT, "invalid gzip data", NULL, 0);
    /* not gzip at all: plain text, a zlib (RFC 1950) stream */
    check("id,name\n1,x\n", 12, 0, ERR_BAD_INPUT, "invalid gzip data", NULL, 0);
    check("\x78\x9c\x03\x00\x00\x00\x00\x01", 8, 0, ERR_BAD_INPUT, "invalid gzip data", NULL, 0);
    /* every single-byte flip decodes to the same result however it is chunked */
    for (size_t i = 0; i < gz.len; i++) {
        memcpy(bad, gz.data, gz.len);
        bad[i] ^= 0x40;
        check_consistent(bad, gz.len, 0);
    }
    free(bad);
    buf_release(&gz);
}

static void
test_trailing(void **state)
{
    static const char msg[] = "payload\n";
    struct buf gz;
    size_t base;

    (void)state;
    buf_init(&gz, 0);
    gz_append(&gz, msg, strlen(msg), 6);
    base = gz.len;

    buf_append_str(&gz, "garbage");
    check(gz.data, gz.len, 0, ERR_BAD_INPUT, "trailing data after gzip stream", msg, strlen(msg));
    gz.len = base;
    buf_append(&gz, "\0", 1); /* zero padding is not accepted either */
    check(gz.data, gz.len, 0, ERR_BAD_INPUT, "trailing data after gzip stream", msg, strlen(msg));
    gz.len = base;
    buf_append(&gz, "\x1f", 1); /* the start of a member, then nothing */
    check(gz.data, gz.len, 0, ERR_BAD_INPUT, "truncated gzip stream", msg, strlen(msg));
    gz.len = base;
    buf_append(&gz, "\x1fx", 2);
    check(gz.data, gz.len, 0, ERR_BAD_INPUT, "trailing data after gzip stream", msg, strlen(msg));
    gz.len = base;
    buf_append(&gz, "\x1f\x8b", 2);
    check(gz.data, gz.len, 0, ERR_BAD_INPUT, "truncated gzip stream", msg, strlen(msg));
    gz.len = base;
    buf_append(&gz, "\x1f\x8bjunkjunkjunk", 14);
    check(gz.data, gz.len, 0, ERR_BAD_INPUT, "invalid gzip data", msg, strlen(msg));
    buf_release(&gz);
}

static void
test_empty_input(void **state)
{
    struct gzip_decoder *d;
    char errbuf[ERRBUF_SIZE];
    struct result r;

    (void)state;
    result_init(&r, 1);
    d = gzip_decoder_new(0, sink, &r);
    assert_int_equal(gzip_decoder_finish(d, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "empty gzip stream");
    gzip_decoder_free(d);

    d = gzip_decoder_new(0, sink, &r);
    assert_int_equal(gzip_decoder_feed(d, "", 0, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(gzip_decoder_finish(d, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "empty gzip stream");
    assert_int_equal(gzip_decoder_total_out(d), 0);
    gzip_decoder_free(d);
    assert_int_equal(r.sunk, 0);
    result_release(&r);
    gzip_decoder_free(NULL);
}

static void
test_cap_boundary(void **state)
{
    struct buf gz;
    char *text = make_text(200000, 9);

    (void)state;
    buf_init(&gz, 0);
    gz_append(&gz, text, 200000, 6);
    check(gz.data, gz.len, 200000, ERR_OK, NULL, text, 200000);
    check(gz.data, gz.len, 199999, ERR_TOO_LARGE, "decoded body exceeds 199999 bytes", NULL, 0);
    check(gz.data, gz.len, 1, ERR_TOO_LARGE, "decoded body exceeds 1 bytes", NULL, 0);
    free(text);
    buf_release(&gz);
}

/* 1 GiB of zeros, compressed by streaming deflate (about 1 MB). */
static void
make_bomb(struct buf *out)
{
    z_stream zs;
    unsigned char *zeros = xcalloc(1, MIB);
    unsigned char tmp[65536];
    int zrc;

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    for (int i = 0; i < 1024; i++) {
        zs.next_in = zeros;
        zs.avail_in = (uInt)MIB;
        do {
            zs.next_out = tmp;
            zs.avail_out = sizeof(tmp);
            zrc = deflate(&zs, i == 1023 ? Z_FINISH : Z_NO_FLUSH);
            assert_true(zrc != Z_STREAM_ERROR);
            assert_int_equal(buf_append(out, tmp, sizeof(tmp) - zs.avail_out), ERR_OK);
        } while (zs.avail_out == 0 || zs.avail_in > 0);
    }
    assert_int_equal(zrc, Z_STREAM_END);
    deflateEnd(&zs);
    free(zeros);
}

static void
test_bomb(void **state)
{
    struct buf gz;
    struct result r;
    size_t cap = 64 * MIB;

    (void)state;
    buf_init(&gz, 0);
    make_bomb(&gz);
    assert_true(gz.len < 2 * MIB);

    result_init(&r, 0);
    decode((const unsigned char *)gz.data, gz.len, NULL, 0, cap, &r);
    assert_int_equal(r.rc, ERR_TOO_LARGE);
    assert_string_equal(r.msg, "decoded body exceeds 67108864 bytes");
    assert_true(r.sunk <= cap);
    assert_true(r.total_out <= cap);
    assert_true(r.sunk > cap - 65536);
    result_release(&r);

    /* each decode inflates 64 MiB: sample 16 split points */
    check_impl(gz.data, gz.len, cap, 16, 0, ERR_TOO_LARGE, "decoded body exceeds 67108864 bytes",
               NULL, 0);
    buf_release(&gz);
}

static void
test_sink_error_and_latch(void **state)
{
    struct buf gz;
    struct result r;
    struct gzip_decoder *d;
    char errbuf[ERRBUF_SIZE];
    char *text = make_text(100000, 11);
    enum err rc;

    (void)state;
    buf_init(&gz, 0);
    gz_append(&gz, text, 100000, 6);
    result_init(&r, 1);
    sink_rc = ERR_UNAVAILABLE;
    sink_fail_at = 70000;
    check(gz.data, gz.len, 0, ERR_UNAVAILABLE, "sink refused", NULL, 0);

    d = gzip_decoder_new(0, sink, &r);
    /* a slice shorter than GZIP_SLICE_BYTES is decoded at the latest by finish */
    rc = gzip_decoder_feed(d, gz.data, gz.len, errbuf, sizeof(errbuf));
    if (rc == ERR_OK)
        rc = gzip_decoder_finish(d, errbuf, sizeof(errbuf));
    assert_int_equal(rc, ERR_UNAVAILABLE);
    assert_string_equal(errbuf, "sink refused");
    /* later calls report the same error */
    strcpy(errbuf, "x");
    assert_int_equal(gzip_decoder_feed(d, gz.data, 1, errbuf, sizeof(errbuf)), ERR_UNAVAILABLE);
    assert_string_equal(errbuf, "sink refused");
    assert_int_equal(gzip_decoder_finish(d, errbuf, sizeof(errbuf)), ERR_UNAVAILABLE);
    assert_true(gzip_decoder_total_out(d) < 70000);
    gzip_decoder_free(d);

    /* and a data error latches too, also without an error buffer */
    d = gzip_decoder_new(0, sink, &r);
    sink_rc = ERR_OK;
    assert_int_equal(gzip_decoder_feed(d, "nope", 4, NULL, 0), ERR_BAD_INPUT);
    assert_int_equal(gzip_decoder_feed(d, gz.data, gz.len, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_int_equal(gzip_decoder_finish(d, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    gzip_decoder_free(d);
    result_release(&r);
    free(text);
    buf_release(&gz);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_member), cmocka_unit_test(test_incompressible),
        cmocka_unit_test(test_multi_member),  cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt),       cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_empty_input),   cmocka_unit_test(test_cap_boundary),
        cmocka_unit_test(test_bomb),          cmocka_unit_test(test_sink_error_and_latch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
