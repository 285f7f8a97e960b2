/*
 * test_parquet.c - the Parquet reader on real files: the S3 fixture and files real writers make
 *
 * - tests/fixtures/s3-inventory/parquet_inventory.parquet (written by S3
 *   Inventory, parquet-mr) gives exactly the lines of its CSV sibling
 *   (test_inventory_decoder.c's versioned_want), whatever the first tail
 *   fetch's size;
 * - tests/parquet/write_parquet.mjs is run once (node, with the writers that
 *   `npm ci` installed in tests/parquet) into a temporary folder: DuckDB and
 *   arrow-rs (parquet-wasm) write the same 5000-row inventory table with
 *   each codec, data page v1 and v2, dictionaries, DELTA_* encodings and
 *   several pages per chunk; expected_line() holds the table's formulas;
 * - the footer cut at every length, and random byte flips anywhere, give
 *   errors with messages, never a crash.
 * Hand-built files (INT96, BIT_PACKED levels, malformed metadata, caps) are
 * in test_parquet_built.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/parquet.h"
#include "codec/s3_fields.h"
#include "core/buf.h"
#include "parquet_support.h"

#define B "filemanager-inventory-test"
#define ETAG_EMPTY "\"d41d8cd98f00b204e9800998ecf8427e\""
#define ETAG_5 "\"d8e8fca2dc0f896fd7cb4cb0031ba249\""

/* The fixtures README's records, as the CSV decoder gives them (test_inventory_decoder.c). */
static const char versioned_want[] =
    "L1|" B "|inventory-test/|-|1|0|0|2024-05-06T22:37:48.000Z|" ETAG_EMPTY "|STANDARD\n"
    "L2|" B "|inventory-test/key1|-|0|0|0|2024-05-06T22:38:00.000Z|" ETAG_EMPTY "|STANDARD\n"
    "L3|" B
    "|inventory-test/key1|tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0|1|0|5|2024-05-06T22:44:22.000Z|" ETAG_5
    "|STANDARD\n"
    "L4|" B "|inventory-test/key2|gdN1exfZmD7m713patv8dlQ7fTNwle3v|1|1|-|2024-05-06T22:46:14.000Z|"
    "-|-\n"
    "L5|" B
    "|inventory-test/key2|zl_C7NLxrkBsMFD5HQUdybrmuV9VpvkN|0|0|5|2024-05-06T22:45:34.000Z|" ETAG_5
    "|STANDARD\n";

#define ROWS 5000

/* The folder write_parquet.mjs wrote into (group setup). */
static char gen_dir[256];

static char *
fixture(size_t *len)
{
    return pq_slurp(FIXTURES_DIR "/s3-inventory/parquet_inventory.parquet", len);
}

static char *
generated(const char *name, size_t *len)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", gen_dir, name);
    return pq_slurp(path, len);
}

static char *
decode_generated(const char *name)
{
    size_t len;
    char *data = generated(name, &len);
    char *t = pq_decode(data, len, NULL, 4096, 0);

    free(data);
    return t;
}

/* ---- the S3 fixture -------------------------------------------------------------------------- */

static void
test_fixture_lines(void **state)
{
    static const size_t guesses[] = {8, 9, 100, 1000, 3000, 4277, 1 << 20};
    size_t len, i;
    char *data = fixture(&len);
    char *got;

    (void)state;
    for (i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++) {
        got = pq_decode(data, len, NULL, guesses[i], 0);
        assert_string_equal(got, versioned_want);
        free(got);
    }
    /* the callback's error stops decoding and is returned as is */
    got = pq_decode(data, len, NULL, len, 3);
    assert_string_equal(
        got,
        "L1|" B "|inventory-test/|-|1|0|0|2024-05-06T22:37:48.000Z|" ETAG_EMPTY "|STANDARD\n"
        "L2|" B "|inventory-test/key1|-|0|0|0|2024-05-06T22:38:00.000Z|" ETAG_EMPTY "|STANDARD\n"
        "rc 5: callback stops at line 3\n");
    free(got);
    free(data);
}

static void
test_fixture_meta(void **state)
{
    struct parquet_meta *m;
    char errbuf[ERRBUF_SIZE] = "";
    size_t len, footer;
    uint64_t off, n;
    long c;
    char *data = fixture(&len);

    (void)state;
    assert_int_equal(
        parquet_footer_size(data + len - 8, 8, len, NULL, &footer, errbuf, sizeof(errbuf)), ERR_OK);
    assert_true(footer > 8 && footer < len);
    assert_int_equal(
        parquet_meta_parse(data + len - footer, footer, len, NULL, &m, errbuf, sizeof(errbuf)),
        ERR_OK);
    assert_int_equal(m->ncolumns, 18);
    assert_int_equal(m->nrow_groups, 1);
    assert_true(m->num_rows == 5 && m->row_groups[0].num_rows == 5);
    assert_true(m->footer_offset == len - footer);
    assert_non_null(strstr(m->created_by, "parquet-mr"));
    assert_string_equal(m->columns[0].name, "bucket");
    assert_false(m->columns[0].optional);
    assert_true(m->columns[0].is_string);
    c = parquet_meta_column(m, "LAST_MODIFIED_DATE");
    assert_int_equal(c, 6);
    assert_int_equal(m->columns[c].type, PARQUET_INT64);
    assert_int_equal(m->columns[c].time_unit, PARQUET_TIME_MILLIS);
    assert_true(m->columns[c].optional);
    assert_int_equal(parquet_meta_column(m, "checksum_algorithm"), 17);
    assert_int_equal(parquet_meta_column(m, "nope"), -1);
    assert_int_equal(m->row_groups[0].chunks[0].codec, PARQUET_SNAPPY);
    assert_true(m->row_groups[0].chunks[0].dictionary_page_offset == 4);
    parquet_chunk_range(m, 0, 0, &off, &n);
    assert_true(off == 4 && n == 78);
    parquet_meta_free(m);
    parquet_meta_free(NULL);
    free(data);
}

static enum err
count_line(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    (void)l;
    (void)errbuf;
    (void)errlen;
    ++*(size_t *)ctx;
    return ERR_OK;
}

/* The inventory decoder's ranges: what they cover, and bytes that do not cover them. */
static void
test_fixture_ranges(void **state)
{
    struct parquet_inventory *d;
    struct parquet_meta *m;
    struct parquet_limits lim = {0};
    char errbuf[ERRBUF_SIZE];
    uint64_t off, n;
    size_t len, lines = 0;
    char *data = fixture(&len);

    (void)state;
    assert_int_equal(parquet_meta_parse(data, len, len, NULL, &m, NULL, 0), ERR_OK);
    assert_int_equal(parquet_inventory_new(m, count_line, &lines, &d, errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(parquet_inventory_range(d, 0, &off, &n, errbuf, sizeof(errbuf)), ERR_OK);
    /* bucket (the first chunk) to storage_class (the ninth) */
    assert_true(off == 4);
    assert_true(off + n == (uint64_t)m->row_groups[0].chunks[8].offset +
                               (uint64_t)m->row_groups[0].chunks[8].compressed_size);
    assert_int_equal(
        parquet_inventory_row_group(d, 0, data + off + 1, n - 1, off + 1, errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_string_equal(errbuf,
                        "column bucket, row group 0: the bytes given do not cover the chunk");
    assert_int_equal(
        parquet_inventory_row_group(d, 0, data + off, n - 1, off, errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_string_equal(
        errbuf, "column storage_class, row group 0: the bytes given do not cover the chunk");
    assert_int_equal(lines, 0);
    assert_int_equal(parquet_inventory_row_group(d, 0, data, len, 0, errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(lines, 5);
    assert_int_equal(parquet_inventory_range(d, 1, &off, &n, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_string_equal(errbuf, "no row group 1 (the file has 1)");
    assert_int_equal(parquet_inventory_row_group(d, 1, data, len, 0, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    parquet_inventory_free(d);
    parquet_inventory_free(NULL);
    parquet_meta_free(m);
    /* the limits travel with the meta */
    lim.max_range_bytes = 100;
    assert_int_equal(parquet_meta_parse(data, len, len, &lim, &m, NULL, 0), ERR_OK);
    assert_true(m->limits.max_range_bytes == 100 && m->limits.max_page_bytes == 64u << 20);
    assert_int_equal(parquet_inventory_new(m, count_line, &lines, &d, NULL, 0), ERR_OK);
    assert_int_equal(parquet_inventory_range(d, 0, &off, &n, errbuf, sizeof(errbuf)),
                     ERR_UNSUPPORTED);
    assert_string_equal(errbuf, "row group 0 needs 699 bytes, over the cap of 100 bytes");
    parquet_inventory_free(d);
    parquet_meta_free(m);
    free(data);
}

/* The footer in tails of every length, and the metadata cut at every length. */
static void
test_fixture_footer_cuts(void **state)
{
    struct parquet_meta *m;
    char errbuf[ERRBUF_SIZE];
    size_t len, footer, k, mlen;
    struct buf cut;
    char *data = fixture(&len);
    enum err rc;

    (void)state;
    assert_int_equal(parquet_footer_size(data + len - 8, 8, len, NULL, &footer, NULL, 0), ERR_OK);
    for (k = 0; k <= len; k++) {
        errbuf[0] = '\0';
        rc = parquet_meta_parse(data + len - k, k, len, NULL, &m, errbuf, sizeof(errbuf));
        if (k < footer) {
            assert_int_equal(rc, ERR_BAD_INPUT);
            assert_null(m);
            assert_true(errbuf[0] != '\0');
        } else {
            assert_int_equal(rc, ERR_OK);
            parquet_meta_free(m);
        }
    }
    /* FileMetaData cut short, with a footer that says so: an error each time */
    mlen = footer - 8;
    buf_init(&cut, 0);
    for (k = 0; k < mlen; k++) {
        buf_reset(&cut);
        buf_append(&cut, data, len - footer + k);
        pb_le32(&cut, (uint32_t)k);
        buf_append_str(&cut, "PAR1");
        errbuf[0] = '\0';
        rc = parquet_meta_parse(cut.data, cut.len, cut.len, NULL, &m, errbuf, sizeof(errbuf));
        if (rc == ERR_OK)
            fail_msg("metadata cut at %zu of %zu parsed", k, mlen);
        assert_true(errbuf[0] != '\0');
        assert_null(m);
    }
    buf_release(&cut);
    free(data);
}

/* A small deterministic generator for the byte flips. */
static uint32_t
lcg(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

/* Decode copies of data with 1-3 random bytes changed: an error or lines, never a crash. */
static void
flip_bytes(const char *data, size_t len, size_t footer, unsigned rounds, uint32_t seed)
{
    char *copy = xmalloc(len);
    unsigned r, k, flips;
    char *got;

    for (r = 0; r < rounds; r++) {
        memcpy(copy, data, len);
        flips = 1 + lcg(&seed) % 3;
        for (k = 0; k < flips; k++) {
            /* half of the flips hit the footer, where one byte changes the most */
            size_t at = lcg(&seed) % 2 ? len - 1 - lcg(&seed) % footer : lcg(&seed) % len;

            if (lcg(&seed) % 2)
                copy[at] = (char)(copy[at] ^ (1 << lcg(&seed) % 8));
            else
                copy[at] = (char)lcg(&seed);
        }
        got = pq_decode(copy, len, NULL, 1 + lcg(&seed) % len, 0);
        assert_null(strstr(got, "(no message)"));
        free(got);
    }
    free(copy);
}

static void
test_fixture_byte_flips(void **state)
{
    size_t len, footer;
    char *data = fixture(&len);

    (void)state;
    assert_int_equal(parquet_footer_size(data + len - 8, 8, len, NULL, &footer, NULL, 0), ERR_OK);
    flip_bytes(data, len, footer, 3000, 1);
    free(data);
}

/* ---- files real writers made ----------------------------------------------------------------- */

static int
setup_generated(void **state)
{
    char cmd[1024];
    char *dir;
    int rc;

    (void)state;
    snprintf(gen_dir, sizeof(gen_dir), "/tmp/test_parquet.XXXXXX");
    dir = mkdtemp(gen_dir);
    if (!dir)
        return -1;
    snprintf(cmd, sizeof(cmd), "node '%s' '%s'", PARQUET_WRITER_JS, gen_dir);
    rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "%s failed (%d): are node and tests/parquet's `npm ci` there?\n", cmd, rc);
    return rc == 0 ? 0 : -1;
}

static int
teardown_generated(void **state)
{
    char cmd[512];

    (void)state;
    if (gen_dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", gen_dir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

enum variant { PLAIN_TABLE, REORDERED };

/* Row i of write_parquet.mjs's inventory table, as a transcript line. */
static void
expected_line(struct buf *out, long i, enum variant v)
{
    static const char *const classes[] = {"STANDARD", "GLACIER", "-", "STANDARD_IA"};
    char lm[S3_TIME_BUF] = "-";
    char version[32] = "-", size[32] = "-", etag[32] = "-";
    int64_t us;

    if (i % 7 > 1)
        snprintf(version, sizeof(version), "v%ld", (i * 7919) % 100003);
    if (i % 17)
        snprintf(size, sizeof(size), "%lld",
                 v == REORDERED ? (long long)i * 1000 : (long long)i * 1099511627LL);
    if (i % 19) {
        us = INT64_C(1715035068000000) + (int64_t)i * 1234567891;
        s3_time_format_ms(us / 1000, lm);
    }
    if (i % 23 == 1)
        snprintf(etag, sizeof(etag), "\"q%ld\"", i % 5);
    else if (i % 23)
        snprintf(etag, sizeof(etag), "\"etag%ld\"", i % 50);
    buf_printf(out, "L%ld|bkt-%ld|dir %ld/k+%%2F%ld-\xC3\xA9|%s|%s|%d|%s|%s|%s|%s\n", i + 1, i % 3,
               i / 100, i, version,
               i % 11 == 0  ? "-"
               : i % 2 == 0 ? "1"
                            : "0",
               i % 13 != 0 && i % 5 == 0, size, lm, etag, classes[i % 4]);
}

static char *
expected(long rows, enum variant v)
{
    struct buf b;
    long i;

    buf_init(&b, 0);
    for (i = 0; i < rows; i++)
        expected_line(&b, i, v);
    return buf_take(&b, NULL);
}

static void
expect_generated(const char *name, const char *want)
{
    char *got = decode_generated(name);

    if (strcmp(got, want)) {
        size_t k = 0;

        while (got[k] && got[k] == want[k])
            k++;
        while (k > 0 && got[k - 1] != '\n')
            k--;
        fail_msg("%s differs from line:\n%.300s\n--- want\n%.300s", name, got + k, want + k);
    }
    free(got);
}

static void
test_generated_inventories(void **state)
{
    static const char *const codecs[] = {"uncompressed", "snappy", "gzip", "zstd"};
    char *want = expected(ROWS, PLAIN_TABLE);
    char name[64];
    size_t c, v;

    (void)state;
    for (c = 0; c < 4; c++) {
        for (v = 1; v <= 2; v++) {
            snprintf(name, sizeof(name), "inv_%s_V%zu.parquet", codecs[c], v); /* DuckDB */
            expect_generated(name, want);
            snprintf(name, sizeof(name), "wasm_%s_V%zu.parquet", codecs[c], v); /* arrow-rs */
            expect_generated(name, want);
        }
    }
    expect_generated("wasm_delta.parquet", want);
    free(want);
    want = expected(1000, REORDERED);
    expect_generated("inv_reordered.parquet", want);
    free(want);
}

/* What the generated files hold: row groups, page versions, encodings. */
static void
test_generated_layout(void **state)
{
    static const char *const names[] = {"inv_zstd_V2.parquet", "wasm_gzip_V2.parquet",
                                        "wasm_delta.parquet"};
    struct parquet_meta *m;
    size_t len, i;
    char *data;
    long key;

    (void)state;
    for (i = 0; i < 3; i++) {
        data = generated(names[i], &len);
        assert_int_equal(parquet_meta_parse(data, len, len, NULL, &m, NULL, 0), ERR_OK);
        assert_true(m->nrow_groups >= 3);
        assert_true(m->num_rows == ROWS);
        key = parquet_meta_column(m, "key");
        assert_true(key >= 0);
        /* DuckDB V2: DELTA_LENGTH_BYTE_ARRAY; arrow-rs V2: a dictionary, then DELTA_BYTE_ARRAY */
        assert_true(m->row_groups[0].chunks[key].encodings & (1u << (i == 0 ? 6 : 7)));
        parquet_meta_free(m);
        free(data);
    }
}

static void
test_generated_times(void **state)
{
    static const char times[] = "L1|b|k0|-|-|0|-|1969-12-31T23:59:59.999Z|-|-\n"
                                "L2|b|k1|-|-|0|-|2024-05-06T22:37:48.123Z|-|-\n"
                                "L3|b|k2|-|-|0|-|0000-01-01T00:00:00.000Z|-|-\n"
                                "L4|b|k3|-|-|0|-|9999-12-31T23:59:59.999Z|-|-\n";

    (void)state;
    expect_generated("time_ms.parquet", "L1|b|k0|-|-|0|-|1969-12-31T23:59:59.999Z|-|-\n"
                                        "L2|b|k1|-|-|0|-|1970-01-01T00:00:00.000Z|-|-\n"
                                        "L3|b|k2|-|-|0|-|2024-05-06T22:37:48.123Z|-|-\n"
                                        "L4|b|k3|-|-|0|-|0000-01-01T00:00:00.000Z|-|-\n"
                                        "L5|b|k4|-|-|0|-|9999-12-31T23:59:59.999Z|-|-\n");
    expect_generated("time_us.parquet", times);
    expect_generated("time_tz.parquet", times);
    expect_generated("time_ns.parquet", "L1|b|k0|-|-|0|-|1969-12-31T23:59:59.999Z|-|-\n"
                                        "L2|b|k1|-|-|0|-|2024-05-06T22:37:48.123Z|-|-\n"
                                        "L3|b|k2|-|-|0|-|1684-10-19T07:59:59.999Z|-|-\n");
    expect_generated("time_before_year_0.parquet",
                     "rc 1: row 1: last_modified_date is outside the years 0000-9999\n");
}

static void
test_generated_refused(void **state)
{
    (void)state;
    expect_generated("nested_struct.parquet",
                     "rc 3: file metadata: column owner is a group (a nested schema): not "
                     "supported\n");
    expect_generated("nested_list.parquet",
                     "rc 3: file metadata: column tags is a group (a nested schema): not "
                     "supported\n");
    expect_generated("codec_lz4_raw.parquet",
                     "rc 3: file metadata: row group 0, column row_index: compression codec "
                     "LZ4_RAW (7) is not supported\n");
    expect_generated("codec_brotli.parquet",
                     "rc 3: file metadata: row group 0, column row_index: compression codec "
                     "BROTLI (4) is not supported\n");
    expect_generated("no_key.parquet", "rc 1: the file has no key column\n");
    expect_generated("key_not_string.parquet", "rc 3: column key is not a string (BYTE_ARRAY)\n");
    expect_generated("null_key.parquet", "L1|b|k|-|-|0|-|-|-|-\nL2|b|k|-|-|0|-|-|-|-\n"
                                         "rc 1: row 3: empty key\n");
    expect_generated("negative_size.parquet", "rc 1: row 1: size is negative\n");
}

/* The column reader on its own: one chunk's values, then past its end. */
static void
test_column_reader(void **state)
{
    struct parquet_column_reader *r;
    struct parquet_meta *m;
    struct parquet_value v;
    char errbuf[ERRBUF_SIZE], want[64];
    uint64_t off, n;
    size_t len, g = 1;
    int64_t i, row;
    long key;
    char *data = generated("wasm_snappy_V2.parquet", &len), *chunk;

    (void)state;
    assert_int_equal(parquet_meta_parse(data, len, len, NULL, &m, NULL, 0), ERR_OK);
    key = parquet_meta_column(m, "KEY");
    parquet_chunk_range(m, g, (size_t)key, &off, &n);
    chunk = xmalloc(n);
    memcpy(chunk, data + off, n);
    /* bytes that miss the chunk's first byte */
    assert_int_equal(parquet_column_reader_new(m, g, (size_t)key, chunk + 1, n - 1, off + 1, &r,
                                               errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_null(r);
    assert_string_equal(errbuf, "column key, row group 1: the bytes given do not cover the chunk");
    assert_int_equal(
        parquet_column_reader_new(m, g, (size_t)key, chunk, n, off, &r, errbuf, sizeof(errbuf)),
        ERR_OK);
    for (i = 0; i < m->row_groups[g].num_rows; i++) {
        row = m->row_groups[g].first_row + i;
        assert_int_equal(parquet_column_reader_next(r, &v, errbuf, sizeof(errbuf)), ERR_OK);
        snprintf(want, sizeof(want), "dir %lld/k+%%2F%lld-\xC3\xA9", (long long)row / 100,
                 (long long)row);
        assert_false(v.is_null);
        assert_int_equal(v.len, strlen(want));
        assert_memory_equal(v.bytes, want, v.len);
    }
    assert_int_equal(parquet_column_reader_next(r, &v, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_non_null(strstr(errbuf, "read past the chunk's 2000 values"));
    assert_int_equal(parquet_column_reader_next(r, &v, want, sizeof(want)), ERR_BAD_INPUT);
    parquet_column_reader_free(r);
    parquet_column_reader_free(NULL);
    free(chunk);
    parquet_meta_free(m);
    free(data);
}

static void
test_generated_byte_flips(void **state)
{
    size_t len, footer;
    char *data = generated("wasm_zstd_V2.parquet", &len);

    (void)state;
    assert_int_equal(parquet_footer_size(data + len - 8, 8, len, NULL, &footer, NULL, 0), ERR_OK);
    flip_bytes(data, len, footer, 300, 7);
    free(data);
    data = generated("inv_gzip_V1.parquet", &len);
    assert_int_equal(parquet_footer_size(data + len - 8, 8, len, NULL, &footer, NULL, 0), ERR_OK);
    flip_bytes(data, len, footer, 300, 11);
    free(data);
}

int
main(void)
{
    const struct CMUnitTest fixture_tests[] = {
        cmocka_unit_test(test_fixture_lines),      cmocka_unit_test(test_fixture_meta),
        cmocka_unit_test(test_fixture_ranges),     cmocka_unit_test(test_fixture_footer_cuts),
        cmocka_unit_test(test_fixture_byte_flips),
    };
    const struct CMUnitTest generated_tests[] = {
        cmocka_unit_test(test_generated_inventories), cmocka_unit_test(test_generated_layout),
        cmocka_unit_test(test_generated_times),       cmocka_unit_test(test_generated_refused),
        cmocka_unit_test(test_column_reader),         cmocka_unit_test(test_generated_byte_flips),
    };
    int failed = cmocka_run_group_tests(fixture_tests, NULL, NULL);

    return failed + cmocka_run_group_tests(generated_tests, setup_generated, teardown_generated);
}
