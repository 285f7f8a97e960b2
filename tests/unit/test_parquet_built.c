/*
 * test_parquet_built.c - the Parquet reader on hand-built files (parquet_support.c)
 *
 * What the real writers of test_parquet.c do not write: INT96 times,
 * BIT_PACKED definition levels, index pages, v2 pages with is_compressed
 * false, the spec's DELTA_* examples, bad UTF-8 and NUL bytes; and every
 * refusal with its message: unknown encodings and codecs, repeated columns,
 * chunks in other files, encryption, inconsistent metadata and pages, each
 * cap of struct parquet_limits. Files are decoded with pq_decode() and
 * compared as transcripts (one line per inventory line, then "rc n: msg").
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
#include "core/buf.h"
#include "parquet_support.h"

enum { PLAIN = 0, PLAIN_DICT = 2, RLE = 3, BIT_PACKED = 4, DELTA = 5, DELTA_BYTES = 7 };
enum { REQ = 0, OPT = 1, REP = 2 };
enum { UTF8 = 0 };

/* With PARQUET_SEED_DIR set, each file that decodes is also written there (fuzz seeds). */
static void
save_seed(const char *data, size_t len)
{
    static int n;
    const char *dir = getenv("PARQUET_SEED_DIR");
    char path[512];
    FILE *f;

    if (!dir)
        return;
    snprintf(path, sizeof(path), "%s/built_%02d.parquet", dir, ++n);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Decode f (then release it) and compare with want. */
static void
expect_built(struct pb_file *f, const struct parquet_limits *lim, const char *want)
{
    size_t len;
    char *data = pb_build(f, &len);
    char *got = pq_decode(data, len, lim, 64, 0);

    if (!strstr(got, "rc "))
        save_seed(data, len);
    if (strcmp(got, want))
        fail_msg("got:\n%s--- want:\n%s", got, want);
    free(got);
    free(data);
    pb_release(f);
}

/* Required bucket and key columns, PLAIN in one v1 page each, one row per key. */
static void
base(struct pb_file *f, const char *const *keys, size_t n)
{
    struct pb_chunk *b, *k;
    struct buf v;
    size_t i;

    pb_init(f);
    buf_init(&v, 0);
    b = pb_add(f, "bucket", PARQUET_BYTE_ARRAY, REQ, UTF8);
    for (i = 0; i < n; i++)
        pb_plain_str(&v, "b");
    pb_page_v1(&b->pages, PLAIN, RLE, (int64_t)n, NULL, v.data, v.len);
    buf_reset(&v);
    k = pb_add(f, "key", PARQUET_BYTE_ARRAY, REQ, UTF8);
    for (i = 0; i < n; i++)
        pb_plain_str(&v, keys[i]);
    pb_page_v1(&k->pages, PLAIN, RLE, (int64_t)n, NULL, v.data, v.len);
    b->num_values = k->num_values = f->rows[0] = (int64_t)n;
    buf_release(&v);
}

static const char *const two[] = {"k1", "k2"};

/* RLE levels with their 4-byte length (a v1 page's levels). */
static void
levels_v1(struct buf *out, const int *levels, size_t n)
{
    struct buf rle;

    buf_init(&rle, 0);
    pb_rle_levels(&rle, levels, n);
    pb_le32(out, (uint32_t)rle.len);
    buf_append(out, rle.data, rle.len);
    buf_release(&rle);
}

/* ---- values ---------------------------------------------------------------------------------- */

static void
test_int96(void **state)
{
    static const int levels[] = {1, 0, 1, 1};
    static const char *const keys[] = {"a", "b", "c", "d"};
    struct pb_file f;
    struct pb_chunk *t;
    struct buf lv, v;

    (void)state;
    buf_init(&lv, 0);
    buf_init(&v, 0);
    base(&f, keys, 4);
    t = pb_add(&f, "last_modified_date", PARQUET_INT96, OPT, -1);
    levels_v1(&lv, levels, 4);
    pb_int96(&v, INT64_C(81468123456789), 2460437); /* 2024-05-06T22:37:48.123456789 */
    pb_int96(&v, INT64_C(86399999900000), 2440587); /* 1969-12-31T23:59:59.9999 */
    pb_int96(&v, 0, 2440588 - 719528);              /* 0000-01-01 */
    pb_page_v1(&t->pages, PLAIN, RLE, 4, &lv, v.data, v.len);
    t->num_values = 4;
    expect_built(&f, NULL,
                 "L1|b|a|-|-|0|-|2024-05-06T22:37:48.123Z|-|-\n"
                 "L2|b|b|-|-|0|-|-|-|-\n"
                 "L3|b|c|-|-|0|-|1969-12-31T23:59:59.999Z|-|-\n"
                 "L4|b|d|-|-|0|-|0000-01-01T00:00:00.000Z|-|-\n");

    /* a Julian day before year 0, nanoseconds past the day */
    base(&f, two, 2);
    t = pb_add(&f, "last_modified_date", PARQUET_INT96, REQ, -1);
    buf_reset(&v);
    pb_int96(&v, 0, 2440588);
    pb_int96(&v, 0, 0);
    pb_page_v1(&t->pages, PLAIN, RLE, 2, NULL, v.data, v.len);
    t->num_values = 2;
    expect_built(&f, NULL,
                 "L1|b|k1|-|-|0|-|1970-01-01T00:00:00.000Z|-|-\n"
                 "rc 1: row 2: last_modified_date is outside the years 0000-9999\n");
    base(&f, two, 2);
    t = pb_add(&f, "last_modified_date", PARQUET_INT96, REQ, -1);
    buf_reset(&v);
    pb_int96(&v, INT64_C(86400000000000), 2440588);
    pb_int96(&v, 0, 2440588);
    pb_page_v1(&t->pages, PLAIN, RLE, 2, NULL, v.data, v.len);
    t->num_values = 2;
    expect_built(&f, NULL, "rc 1: row 1: last_modified_date is outside the years 0000-9999\n");
    buf_release(&lv);
    buf_release(&v);
}

/* INT64 TIMESTAMP (logical type) of each unit, and a string time. */
static void
test_time_columns(void **state)
{
    static const int64_t per_ms[] = {0, 1, 1000, 1000000};
    struct pb_file f;
    struct pb_chunk *t;
    struct buf v;
    int unit;

    (void)state;
    buf_init(&v, 0);
    for (unit = 1; unit <= 3; unit++) {
        base(&f, two, 2);
        t = pb_add(&f, "last_modified_date", PARQUET_INT64, REQ, -1);
        f.cols[2].ts_unit = unit;
        buf_reset(&v);
        pb_le64(&v, (uint64_t)(INT64_C(1715035068123) * per_ms[unit] + per_ms[unit] - 1));
        pb_le64(&v, (uint64_t)-1);
        pb_page_v1(&t->pages, PLAIN, RLE, 2, NULL, v.data, v.len);
        t->num_values = 2;
        expect_built(&f, NULL,
                     "L1|b|k1|-|-|0|-|2024-05-06T22:37:48.123Z|-|-\n"
                     "L2|b|k2|-|-|0|-|1969-12-31T23:59:59.999Z|-|-\n");
    }
    /* a plain INT64 is no time; a string is parsed as RFC 3339 */
    base(&f, two, 2);
    pb_add(&f, "last_modified_date", PARQUET_INT64, REQ, -1);
    expect_built(&f, NULL,
                 "rc 3: column last_modified_date is not a timestamp (INT96, INT64 TIMESTAMP) or "
                 "a string\n");
    base(&f, two, 2);
    t = pb_add(&f, "last_modified_date", PARQUET_BYTE_ARRAY, REQ, UTF8);
    buf_reset(&v);
    pb_plain_str(&v, "2024-05-06T22:37:48.5+02:00");
    pb_plain_str(&v, "yesterday");
    pb_page_v1(&t->pages, PLAIN, RLE, 2, NULL, v.data, v.len);
    t->num_values = 2;
    expect_built(&f, NULL,
                 "L1|b|k1|-|-|0|-|2024-05-06T20:37:48.500Z|-|-\n"
                 "rc 1: row 2: last_modified_date is not an RFC 3339 date-time\n");
    buf_release(&v);
}

/* BIT_PACKED (deprecated) definition levels: most significant bit first. */
static void
test_bit_packed_levels(void **state)
{
    static const char *const keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"};
    static const char packed[] = {(char)0xB2, (char)0xC0}; /* 1011 0010 11 */
    struct pb_file f;
    struct pb_chunk *c;
    struct buf lv, v;

    (void)state;
    buf_init(&lv, 0);
    buf_init(&v, 0);
    base(&f, keys, 10);
    c = pb_add(&f, "version_id", PARQUET_BYTE_ARRAY, OPT, UTF8);
    buf_append(&lv, packed, 2);
    pb_plain_str(&v, "v0");
    pb_plain_str(&v, "v2");
    pb_plain_str(&v, "v3");
    pb_plain_str(&v, "v6");
    pb_plain_str(&v, "v8");
    pb_plain_str(&v, "v9");
    pb_page_v1(&c->pages, PLAIN, BIT_PACKED, 10, &lv, v.data, v.len);
    c->num_values = 10;
    expect_built(&f, NULL,
                 "L1|b|k0|v0|-|0|-|-|-|-\nL2|b|k1|-|-|0|-|-|-|-\nL3|b|k2|v2|-|0|-|-|-|-\n"
                 "L4|b|k3|v3|-|0|-|-|-|-\nL5|b|k4|-|-|0|-|-|-|-\nL6|b|k5|-|-|0|-|-|-|-\n"
                 "L7|b|k6|v6|-|0|-|-|-|-\nL8|b|k7|-|-|0|-|-|-|-\nL9|b|k8|v8|-|0|-|-|-|-\n"
                 "L10|b|k9|v9|-|0|-|-|-|-\n");
    buf_release(&lv);
    buf_release(&v);
}

/*
 * One chunk of an optional column: a dictionary page, a v1 page of indices
 * (a bit-packed run of 8 for 3 values), an index page (skipped), a v2 page
 * with is_compressed false, then a v1 page whose indices are an RLE run.
 */
static void
test_pages_in_a_chunk(void **state)
{
    static const char *const keys[] = {"a", "b", "c", "d", "e", "f", "g"};
    static const char packed[] = {2, 0x03, 0x24, 0x00}; /* width 2; 8 values: 0 1 2 0 ... */
    static const char one[] = {2, 0x02, 0x01};          /* width 2; once 1 */
    static const char zeros[] = {2, 0x04, 0x00};        /* width 2; twice 0 */
    static const int all[] = {1, 1, 1}, half[] = {1, 0};
    struct pb_file f;
    struct pb_chunk *c;
    struct buf v, lv;

    (void)state;
    buf_init(&v, 0);
    buf_init(&lv, 0);
    base(&f, keys, 7);
    c = pb_add(&f, "storage_class", PARQUET_BYTE_ARRAY, OPT, UTF8);
    pb_plain_str(&v, "STANDARD");
    pb_plain_str(&v, "GLACIER");
    pb_plain_str(&v, "");
    pb_dict_page(&c->pages, PLAIN_DICT, 3, v.data, v.len);
    c->dict_len = c->pages.len;
    levels_v1(&lv, all, 3);
    pb_page_v1(&c->pages, PLAIN_DICT, RLE, 3, &lv, packed, sizeof(packed));
    pb_page_header(&c->pages, 1, 0, 0);
    buf_reset(&lv);
    pb_rle_levels(&lv, half, 2);
    pb_page_v2(&c->pages, 8, 2, 1, &lv, one, sizeof(one), 0);
    buf_reset(&lv);
    levels_v1(&lv, all, 2);
    pb_page_v1(&c->pages, 8, RLE, 2, &lv, zeros, sizeof(zeros));
    c->num_values = 7;
    expect_built(&f, NULL,
                 "L1|b|a|-|-|0|-|-|-|STANDARD\nL2|b|b|-|-|0|-|-|-|GLACIER\nL3|b|c|-|-|0|-|-|-|-\n"
                 "L4|b|d|-|-|0|-|-|-|GLACIER\nL5|b|e|-|-|0|-|-|-|-\n"
                 "L6|b|f|-|-|0|-|-|-|STANDARD\nL7|b|g|-|-|0|-|-|-|STANDARD\n");
    buf_release(&v);
    buf_release(&lv);
}

/* The examples of Encodings.md, with blocks of 128 values in 4 miniblocks. */
static void
test_delta_examples(void **state)
{
    /* prefix lengths 0 2 0 3, suffix lengths 4 2 6 5, then the suffixes */
    static const char strings[] = "\x80\x01\x04\x04\x00\x03\x03\x00\x00\x00"
                                  "\x44\x01\0\0\0\0\0\0\0\0\0\0"
                                  "\x80\x01\x04\x04\x08\x03\x03\x00\x00\x00"
                                  "\x70\0\0\0\0\0\0\0\0\0\0\0"
                                  "axislebabbleyhood";
    /* lengths 5 5 6 6, then the bytes */
    static const char lengths[] = "\x80\x01\x04\x04\x0A\x00\x01\x00\x00\x00\x02\0\0\0"
                                  "HelloWorldFoobarABCDEF";
    /* 7 5 3 1 2 3 4 5: min delta -2, one miniblock of width 2 */
    static const char ints[] = "\x80\x01\x04\x08\x0E\x03\x02\x00\x00\x00"
                               "\xC0\xFF\0\0\0\0\0\0";
    static const char *const keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};
    struct pb_file f;
    struct pb_chunk *c;
    struct buf v;

    (void)state;
    buf_init(&v, 0);
    pb_init(&f);
    c = pb_add(&f, "bucket", PARQUET_BYTE_ARRAY, REQ, UTF8);
    pb_plain_str(&v, "b");
    pb_plain_str(&v, "b");
    pb_plain_str(&v, "b");
    pb_plain_str(&v, "b");
    pb_page_v1(&c->pages, PLAIN, RLE, 4, NULL, v.data, v.len);
    c->num_values = 4;
    c = pb_add(&f, "key", PARQUET_BYTE_ARRAY, REQ, UTF8);
    pb_page_v1(&c->pages, DELTA_BYTES, RLE, 4, NULL, strings, sizeof(strings) - 1);
    c->num_values = 4;
    c = pb_add(&f, "version_id", PARQUET_BYTE_ARRAY, REQ, UTF8);
    pb_page_v2(&c->pages, 6, 4, 0, NULL, lengths, sizeof(lengths) - 1, -1);
    c->num_values = 4;
    f.rows[0] = 4;
    expect_built(&f, NULL,
                 "L1|b|axis|Hello|-|0|-|-|-|-\nL2|b|axle|World|-|0|-|-|-|-\n"
                 "L3|b|babble|Foobar|-|0|-|-|-|-\nL4|b|babyhood|ABCDEF|-|0|-|-|-|-\n");

    base(&f, keys, 8);
    c = pb_add(&f, "size", PARQUET_INT64, REQ, -1);
    pb_page_v1(&c->pages, DELTA, RLE, 8, NULL, ints, sizeof(ints) - 1);
    c->num_values = 8;
    expect_built(&f, NULL,
                 "L1|b|k0|-|-|0|7|-|-|-\nL2|b|k1|-|-|0|5|-|-|-\nL3|b|k2|-|-|0|3|-|-|-\n"
                 "L4|b|k3|-|-|0|1|-|-|-\nL5|b|k4|-|-|0|2|-|-|-\nL6|b|k5|-|-|0|3|-|-|-\n"
                 "L7|b|k6|-|-|0|4|-|-|-\nL8|b|k7|-|-|0|5|-|-|-\n");
    /* the same bytes, one short: the miniblock is cut */
    base(&f, keys, 8);
    c = pb_add(&f, "size", PARQUET_INT64, REQ, -1);
    pb_page_v1(&c->pages, DELTA, RLE, 8, NULL, ints, sizeof(ints) - 2);
    c->num_values = 8;
    expect_built(&f, NULL,
                 "L1|b|k0|-|-|0|7|-|-|-\n"
                 "rc 1: column size, row group 0, page 1: truncated delta miniblock\n");
    buf_release(&v);
}

#define K1 "L1|b|k1|-|-|0|-|-|-|-\n"

/* Strings: empty bucket, NUL bytes, bad UTF-8; eTag quoting; keys as they are. */
static void
test_strings(void **state)
{
    static const char *const keys[] = {"a%20b+c", "\xE2\x82\xAC"};
    static const char *const bad[][2] = {
        {"k\xC3", K1 "rc 1: row 2: invalid UTF-8 in key\n"},
        {"k\xED\xA0\x80", K1 "rc 1: row 2: invalid UTF-8 in key\n"},
        {"k\xC0\xAF", K1 "rc 1: row 2: invalid UTF-8 in key\n"},
        {"k\xF4\x90\x80\x80", K1 "rc 1: row 2: invalid UTF-8 in key\n"},
        {"", K1 "rc 1: row 2: empty key\n"},
    };
    const char *k2[2];
    struct pb_file f;
    struct pb_chunk *c;
    struct buf v;
    size_t i;

    (void)state;
    buf_init(&v, 0);
    base(&f, keys, 2);
    c = pb_add(&f, "e_tag", PARQUET_BYTE_ARRAY, REQ, UTF8);
    pb_plain_str(&v, "W/\"x\"");
    pb_plain_str(&v, "\"");
    pb_page_v1(&c->pages, PLAIN, RLE, 2, NULL, v.data, v.len);
    c->num_values = 2;
    expect_built(&f, NULL,
                 "L1|b|a%20b+c|-|-|0|-|-|W/\"x\"|-\nL2|b|\xE2\x82\xAC|-|-|0|-|-|\"\"\"|-\n");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        k2[0] = "k1";
        k2[1] = bad[i][0];
        base(&f, k2, 2);
        expect_built(&f, NULL, bad[i][1]);
    }
    /* a NUL byte inside a value */
    base(&f, two, 2);
    c = &f.chunks[0][1];
    buf_reset(&c->pages);
    buf_reset(&v);
    pb_plain_str(&v, "k1");
    pb_le32(&v, 3);
    buf_append(&v, "k\0x", 3);
    pb_page_v1(&c->pages, PLAIN, RLE, 2, NULL, v.data, v.len);
    expect_built(&f, NULL, "L1|b|k1|-|-|0|-|-|-|-\nrc 1: row 2: NUL byte in key\n");
    /* an empty bucket */
    k2[0] = "";
    k2[1] = "x";
    base(&f, k2, 2);
    c = &f.chunks[0][0];
    buf_reset(&c->pages);
    buf_reset(&v);
    pb_plain_str(&v, "");
    pb_plain_str(&v, "b");
    pb_page_v1(&c->pages, PLAIN, RLE, 2, NULL, v.data, v.len);
    expect_built(&f, NULL, "rc 1: row 1: empty bucket\n");
    buf_release(&v);
}

/* ---- refusals ------------------------------------------------------------------------------- */

/* Decode f (then release it): the result must be rc with a message containing part. */
static void
expect_error(struct pb_file *f, const struct parquet_limits *lim, enum err rc, const char *part)
{
    char head[16];
    size_t len;
    char *data = pb_build(f, &len);
    char *got = pq_decode(data, len, lim, 64, 0);
    const char *last = strstr(got, "rc ");

    snprintf(head, sizeof(head), "rc %d: ", (int)rc);
    if (!last || strncmp(last, head, strlen(head)) || !strstr(last, part))
        fail_msg("got:\n%s--- want %s...%s", got, head, part);
    free(got);
    free(data);
    pb_release(f);
}

/* A file with one more column after the base's bucket and key: its chunk. */
static struct pb_chunk *
with(struct pb_file *f, const char *name, int type, int repetition)
{
    base(f, two, 2);
    return pb_add(f, name, type, repetition, type == PARQUET_BYTE_ARRAY ? UTF8 : -1);
}

static void
test_refused_metadata(void **state)
{
    struct pb_file f;

    (void)state;
    with(&f, "tags", PARQUET_BYTE_ARRAY, REP);
    expect_error(&f, NULL, ERR_UNSUPPORTED,
                 "file metadata: column tags is repeated (a nested schema): not supported");
    with(&f, "owner", -1, OPT);
    f.cols[2].num_children = 1;
    pb_add(&f, "name", PARQUET_BYTE_ARRAY, OPT, UTF8);
    f.root_children = 3;
    expect_error(&f, NULL, ERR_UNSUPPORTED, "column owner is a group (a nested schema)");
    base(&f, two, 2);
    f.root_children = 5;
    expect_error(&f, NULL, ERR_BAD_INPUT, "the schema root has 5 children, 2 columns follow");
    base(&f, two, 2);
    f.file_path = "other.parquet";
    expect_error(&f, NULL, ERR_UNSUPPORTED,
                 "row group 0, column bucket: the chunk is in another file: not supported");
    base(&f, two, 2);
    f.encryption = 1;
    expect_error(&f, NULL, ERR_UNSUPPORTED, "encrypted parquet files are not supported");
    base(&f, two, 2);
    f.chunk_offset_bias = 100000;
    expect_error(&f, NULL, ERR_BAD_INPUT,
                 "row group 0, column bucket: the chunk lies outside the file's data");
    base(&f, two, 2);
    f.chunks[0][1].codec = 3;
    expect_error(&f, NULL, ERR_UNSUPPORTED,
                 "row group 0, column key: compression codec LZO (3) is not supported");
    base(&f, two, 2);
    f.chunks[0][0].codec = 99;
    expect_error(&f, NULL, ERR_UNSUPPORTED, "compression codec UNKNOWN (99) is not supported");
    with(&f, "KEY", PARQUET_BYTE_ARRAY, OPT);
    expect_error(&f, NULL, ERR_BAD_INPUT, "the schema has two columns named key");
    with(&f, "size", PARQUET_BOOLEAN, OPT);
    expect_error(&f, NULL, ERR_UNSUPPORTED, "column size is not an INT64 or INT32");
    with(&f, "is_latest", PARQUET_INT32, OPT);
    expect_error(&f, NULL, ERR_UNSUPPORTED, "column is_latest is not a BOOLEAN");
    pb_init(&f);
    pb_add(&f, "key", PARQUET_BYTE_ARRAY, REQ, UTF8);
    expect_error(&f, NULL, ERR_BAD_INPUT, "the file has no bucket column");
}

/* Files that are no Parquet at all, or whose last bytes say so. */
static void
test_refused_magic(void **state)
{
    static const char lies[] = "PAR1\x64\0\0\0PAR1";
    struct pb_file f;
    size_t len;
    char *data, *got;

    (void)state;
    got = pq_decode("hello, world", 12, NULL, 64, 0);
    assert_string_equal(got, "rc 1: not a parquet file: no PAR1 at the end\n");
    free(got);
    got = pq_decode("PAR1", 4, NULL, 64, 0);
    assert_string_equal(got,
                        "rc 1: not a parquet file: the tail is shorter than 8 bytes or the file\n");
    free(got);
    got = pq_decode(lies, 12, NULL, 64, 0);
    assert_string_equal(got, "rc 1: file metadata length 100 exceeds the file size 12\n");
    free(got);
    base(&f, two, 2);
    data = pb_build(&f, &len);
    memcpy(data + len - 4, "PARE", 4);
    got = pq_decode(data, len, NULL, 64, 0);
    assert_string_equal(got, "rc 3: encrypted parquet files (PARE) are not supported\n");
    free(got);
    free(data);
    pb_release(&f);
}

static void
test_refused_encodings(void **state)
{
    static const char v8[] = "\x07\0\0\0\0\0\0\0";
    static const char index1[] = {1, 0x02, 0x01}; /* width 1; once 1 */
    struct pb_file f;
    struct pb_chunk *c;
    struct buf v;

    (void)state;
    buf_init(&v, 0);
    c = with(&f, "size", PARQUET_INT64, REQ);
    pb_page_v1(&c->pages, 9, RLE, 1, NULL, v8, 8);
    c->num_values = 2;
    expect_error(&f, NULL, ERR_UNSUPPORTED,
                 "column size, row group 0, page 1: encoding BYTE_STREAM_SPLIT is not supported");
    c = with(&f, "size", PARQUET_INT64, REQ);
    pb_page_v1(&c->pages, RLE, RLE, 1, NULL, v8, 8);
    c->num_values = 2;
    expect_error(&f, NULL, ERR_UNSUPPORTED, "encoding RLE for INT64 is not supported");
    c = with(&f, "size", PARQUET_INT64, OPT);
    pb_page_v1(&c->pages, PLAIN, DELTA, 1, NULL, v8, 8);
    c->num_values = 2;
    expect_error(&f, NULL, ERR_UNSUPPORTED,
                 "definition level encoding DELTA_BINARY_PACKED is not supported");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    pb_plain_str(&v, "STANDARD");
    pb_dict_page(&c->pages, PLAIN, 1, v.data, v.len);
    c->dict_len = c->pages.len;
    pb_page_v1(&c->pages, 8, RLE, 2, NULL, index1, sizeof(index1));
    c->num_values = 2;
    expect_error(&f, NULL, ERR_BAD_INPUT, "page 2: dictionary index 1 of a dictionary of 1");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    pb_page_v1(&c->pages, 8, RLE, 2, NULL, index1, sizeof(index1));
    c->num_values = 2;
    expect_error(&f, NULL, ERR_BAD_INPUT, "dictionary indices without a dictionary");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    pb_dict_page(&c->pages, 9, 1, v.data, v.len);
    c->dict_len = c->pages.len;
    c->num_values = 2;
    expect_error(&f, NULL, ERR_UNSUPPORTED, "dictionary encoding BYTE_STREAM_SPLIT");
    buf_release(&v);
}

/* Pages that do not agree with their chunk or header. */
static void
test_refused_pages(void **state)
{
    struct pb_file f;
    struct pb_chunk *c;
    struct buf v;

    (void)state;
    buf_init(&v, 0);
    base(&f, two, 2);
    f.chunks[0][1].num_values = 3;
    expect_error(&f, NULL, ERR_BAD_INPUT, "row group 0: column key holds 3 values for 2 rows");
    base(&f, two, 2);
    f.rows[0] = f.chunks[0][0].num_values = f.chunks[0][1].num_values = 3;
    expect_error(&f, NULL, ERR_BAD_INPUT,
                 "column bucket, row group 0, page 1: the chunk ends 1 values short");
    base(&f, two, 2);
    f.rows[0] = f.chunks[0][0].num_values = f.chunks[0][1].num_values = 1;
    expect_error(&f, NULL, ERR_BAD_INPUT, "the page holds more values than the chunk");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    pb_plain_str(&v, "STANDARD");
    pb_dict_page(&c->pages, PLAIN, 1, v.data, v.len);
    pb_dict_page(&c->pages, PLAIN, 1, v.data, v.len);
    c->dict_len = c->pages.len;
    c->num_values = 2;
    expect_error(&f, NULL, ERR_BAD_INPUT, "page 2: a second or late dictionary page");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    pb_page_header(&c->pages, 0, 1000, 1000);
    c->num_values = 2;
    expect_error(&f, NULL, ERR_BAD_INPUT, "page 1: the page runs past the chunk");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    pb_page_header(&c->pages, 0, 0, 0);
    c->num_values = 2;
    expect_error(&f, NULL, ERR_BAD_INPUT, "data page header lacks a field");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    pb_page_header(&c->pages, 0, -1, 0);
    c->num_values = 2;
    expect_error(&f, NULL, ERR_BAD_INPUT, "negative page size");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    buf_append(&c->pages, "\x15", 1); /* a field header, then nothing */
    c->num_values = 2;
    expect_error(&f, NULL, ERR_BAD_INPUT, "page 1: truncated thrift data");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    buf_reset(&v);
    pb_le32(&v, 100);
    buf_append_str(&v, "abc");
    pb_page_v1(&c->pages, PLAIN, RLE, 2, NULL, v.data, v.len);
    c->num_values = 2;
    expect_error(&f, NULL, ERR_BAD_INPUT, "page 1: truncated values");
    buf_release(&v);
}

/* A v1 data page header of 2 PLAIN values with the given sizes. */
static void
compressed_header(struct buf *out, int64_t uncompressed, int64_t compressed)
{
    struct tw w;

    tw_init(&w, out);
    tw_i32(&w, 1, 0);
    tw_i32(&w, 2, uncompressed);
    tw_i32(&w, 3, compressed);
    tw_begin(&w, 5);
    tw_i32(&w, 1, 2);
    tw_i32(&w, 2, PLAIN);
    tw_i32(&w, 3, RLE);
    tw_i32(&w, 4, RLE);
    tw_end(&w);
    tw_end(&w);
}

/* Compressed pages whose bytes are not what the codec makes. */
static void
test_refused_compression(void **state)
{
    static const struct {
        int codec;
        const char *msg;
    } cases[] = {
        {1, "snappy data does not hold 10 bytes"},
        {2, "gzip data does not inflate to 10 bytes"},
        {6, "zstd data does not hold 10 bytes"},
    };
    struct pb_file f;
    struct pb_chunk *c;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
        c->codec = cases[i].codec;
        compressed_header(&c->pages, 10, 7);
        buf_append(&c->pages, "garbage", 7);
        c->num_values = 2;
        expect_error(&f, NULL, ERR_BAD_INPUT, cases[i].msg);
    }
}

/* Row group 0 again as row group 1. */
static void
second_row_group(struct pb_file *f)
{
    size_t k;

    f->nrg = 2;
    f->rows[1] = f->rows[0];
    for (k = 0; k < f->nleaves; k++) {
        f->chunks[1][k].num_values = f->chunks[0][k].num_values;
        buf_append(&f->chunks[1][k].pages, f->chunks[0][k].pages.data, f->chunks[0][k].pages.len);
    }
}

static void
test_caps_metadata(void **state)
{
    struct parquet_limits lim;
    struct pb_file f;

    (void)state;
    memset(&lim, 0, sizeof(lim));
    lim.max_footer_bytes = 16;
    base(&f, two, 2);
    expect_error(&f, &lim, ERR_UNSUPPORTED, "bytes exceeds the cap of 16 bytes");
    memset(&lim, 0, sizeof(lim));
    lim.max_columns = 1;
    base(&f, two, 2);
    expect_error(&f, &lim, ERR_UNSUPPORTED, "more than 1 columns in the schema");
    memset(&lim, 0, sizeof(lim));
    lim.max_row_groups = 1;
    base(&f, two, 2);
    second_row_group(&f);
    expect_error(&f, &lim, ERR_UNSUPPORTED, "2 row groups of 2 columns exceed the caps");
    memset(&lim, 0, sizeof(lim));
    lim.max_chunks = 3;
    base(&f, two, 2);
    second_row_group(&f);
    expect_error(&f, &lim, ERR_UNSUPPORTED, "(100000 row groups, 3 column chunks)");
    base(&f, two, 2);
    second_row_group(&f);
    expect_built(&f, NULL,
                 "L1|b|k1|-|-|0|-|-|-|-\nL2|b|k2|-|-|0|-|-|-|-\n"
                 "L3|b|k1|-|-|0|-|-|-|-\nL4|b|k2|-|-|0|-|-|-|-\n");
}

static void
test_caps_pages(void **state)
{
    struct parquet_limits lim;
    struct pb_file f;
    struct pb_chunk *c;
    char name[1100];

    (void)state;
    memset(&lim, 0, sizeof(lim));
    lim.max_page_bytes = 8;
    base(&f, two, 2);
    expect_error(&f, &lim, ERR_UNSUPPORTED,
                 "page 1: a page of 10 bytes exceeds the cap of 8 bytes");
    memset(&lim, 0, sizeof(lim));
    lim.max_value_bytes = 1;
    base(&f, two, 2);
    expect_error(&f, &lim, ERR_UNSUPPORTED, "a value of 2 bytes exceeds the cap of 1 bytes");
    memset(&lim, 0, sizeof(lim));
    lim.max_range_bytes = 10;
    base(&f, two, 2);
    expect_error(&f, &lim, ERR_UNSUPPORTED, "row group 0 needs 56 bytes, over the cap of 10 bytes");
    /* sizes in a header are checked before anything is allocated */
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    c->codec = 1;
    pb_page_header(&c->pages, 0, 1 << 27, 4);
    buf_append(&c->pages, "abcd", 4);
    c->num_values = 2;
    expect_error(&f, NULL, ERR_UNSUPPORTED,
                 "a page of 134217728 bytes exceeds the cap of 67108864 bytes");
    c = with(&f, "storage_class", PARQUET_BYTE_ARRAY, REQ);
    pb_dict_page(&c->pages, PLAIN, 1000000, "abcdefgh", 8);
    c->dict_len = c->pages.len;
    c->num_values = 2;
    expect_error(&f, NULL, ERR_BAD_INPUT, "a dictionary of 1000000 values in 8 bytes");
    memset(name, 'n', 1025);
    name[1025] = '\0';
    with(&f, name, PARQUET_BYTE_ARRAY, OPT);
    expect_error(&f, NULL, ERR_UNSUPPORTED, "a string of 1025 bytes exceeds the cap of 1024 bytes");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int96),
        cmocka_unit_test(test_time_columns),
        cmocka_unit_test(test_bit_packed_levels),
        cmocka_unit_test(test_pages_in_a_chunk),
        cmocka_unit_test(test_delta_examples),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_refused_metadata),
        cmocka_unit_test(test_refused_magic),
        cmocka_unit_test(test_refused_encodings),
        cmocka_unit_test(test_refused_pages),
        cmocka_unit_test(test_refused_compression),
        cmocka_unit_test(test_caps_metadata),
        cmocka_unit_test(test_caps_pages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
