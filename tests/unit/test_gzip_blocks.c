/*
 * test_gzip_blocks.c - gzip members made of independently deflated blocks
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codec/gzip_encoder.h"
#include "core/buf.h"

static unsigned long long rng_state = 88172645463325252ull;

static unsigned long long
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* CSV-like text of n bytes: repeated words (compressible) and random bytes. */
static char *
sample(size_t n)
{
    static const char *words[] = {
        "github.com,",          "org/repo-",        "main,", "\"a, \"\"b\"\"\"\n",
        "https://artifactory/", "0123456789abcdef", "\n"};
    char *s = malloc(n + 1);
    size_t i = 0;

    assert_non_null(s);
    while (i < n) {
        unsigned long long r = rng();

        if (r % 5 == 0) {
            s[i++] = (char)(r >> 8);
        } else {
            const char *w = words[(r >> 8) % 7];
            size_t k;

            for (k = 0; w[k] && i < n; k++)
                s[i++] = w[k];
        }
    }
    s[n] = '\0';
    return s;
}

/* Inflate a whole gzip member; want exactly want[0..want_len). */
static void
want_gunzip(const struct buf *gz, const char *want, size_t want_len)
{
    unsigned char *out = malloc(want_len + 16);
    z_stream zs;

    assert_non_null(out);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    zs.next_in = (Bytef *)gz->data;
    zs.avail_in = (uInt)gz->len;
    zs.next_out = out;
    zs.avail_out = (uInt)(want_len + 16);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0); /* nothing after the trailer */
    assert_int_equal(zs.total_out, want_len);
    if (want_len)
        assert_memory_equal(out, want, want_len);
    inflateEnd(&zs);
    free(out);
}

/* data[0..len) cut at the given lengths, deflated block by block into one member. */
static void
member(struct gzip_blocks *g, const char *data, const size_t *cuts, size_t ncuts, struct buf *gz)
{
    uint32_t crc = 0;
    size_t off = 0;
    size_t i;

    gzip_blocks_header(gz);
    for (i = 0; i < ncuts; i++) {
        uint32_t c;

        gzip_blocks_deflate(g, data + off, cuts[i], gz, &c);
        assert_int_equal(c, (uint32_t)crc32(0, (const Bytef *)data + off, (uInt)cuts[i]));
        crc = i ? gzip_blocks_crc_combine(crc, c, cuts[i]) : c;
        off += cuts[i];
    }
    gzip_blocks_trailer(gz, crc, off);
}

static void
test_blocks_concatenate(void **state)
{
    struct gzip_blocks *g = gzip_blocks_new(6);
    size_t total = 300000;
    char *data = sample(total);
    size_t cuts[64];
    size_t n = 0;
    size_t left = total;
    struct buf gz;

    (void)state;
    /* random cuts, an empty block among them, one large block */
    while (left > 0 && n < 63) {
        size_t c = n == 3 ? 0 : n == 5 ? 150000 : (size_t)(rng() % 9000) + 1;

        if (c > left)
            c = left;
        cuts[n++] = c;
        left -= c;
    }
    if (left)
        cuts[n++] = left;
    buf_init(&gz, 0);
    member(g, data, cuts, n, &gz);
    want_gunzip(&gz, data, total);
    buf_release(&gz);
    free(data);
    gzip_blocks_free(g);
}

static void
test_block_bytes_depend_on_content_only(void **state)
{
    struct gzip_blocks *g = gzip_blocks_new(6);
    char *a = sample(20000);
    char *b = sample(20000);
    struct buf x, y, z;
    uint32_t c1, c2;

    (void)state;
    buf_init(&x, 0);
    buf_init(&y, 0);
    buf_init(&z, 0);
    gzip_blocks_deflate(g, a, 20000, &x, &c1);
    gzip_blocks_deflate(g, b, 20000, &y, &c2); /* another block in between */
    gzip_blocks_deflate(g, a, 20000, &z, &c2);
    assert_int_equal(x.len, z.len);
    assert_memory_equal(x.data, z.data, x.len);
    assert_int_equal(c1, c2);
    /* byte aligned and flushed: a block ends with the empty stored block of Z_FULL_FLUSH */
    assert_true(x.len >= 4);
    assert_memory_equal(x.data + x.len - 4, "\x00\x00\xff\xff", 4);
    buf_release(&x);
    buf_release(&y);
    buf_release(&z);
    free(a);
    free(b);
    gzip_blocks_free(g);
}

static void
test_empty_member(void **state)
{
    struct gzip_blocks *g = gzip_blocks_new(6);
    struct buf gz;

    (void)state;
    buf_init(&gz, 0);
    member(g, "", NULL, 0, &gz);
    assert_int_equal(gz.len, 10 + 5 + 8);
    want_gunzip(&gz, "", 0);
    buf_release(&gz);
    gzip_blocks_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_concatenate),
        cmocka_unit_test(test_block_bytes_depend_on_content_only),
        cmocka_unit_test(test_empty_member),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
