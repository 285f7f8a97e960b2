/*
 * test_orc.c - unit tests for the ORC inventory reader (codec/orc.h)
 *
 * The real S3 Inventory sample tests/fixtures/s3-inventory/orc_inventory.orc
 * must give exactly the lines its CSV sibling gives through the CSV decoder
 * (the same transcript format as test_inventory_decoder.c), read range by
 * range with any first tail fetch; every shorter tail, every truncated
 * range and every byte flipped must give an error, never a crash.
 * Files written by orc_testkit (each compression kind, RLE v1 and v2,
 * direct and dictionary strings, several stripes read in any order) check
 * the rest: binding by name, types, nulls, and each error named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "codec/inventory_decoder.h"
#include "codec/orc.h"
#include "core/buf.h"
#include "orc_testkit.h"

#define VERSIONED_SCHEMA                                                                           \
    "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, "             \
    "StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, "                     \
    "ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, "                       \
    "IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm"

#define B "filemanager-inventory-test"
#define ETAG_EMPTY "\"d41d8cd98f00b204e9800998ecf8427e\""
#define ETAG_5 "\"d8e8fca2dc0f896fd7cb4cb0031ba249\""

/* The fixtures README's records, in file order (as in test_inventory_decoder.c). */
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

/* ---- fixtures -------------------------------------------------------------------------------- */

static unsigned char *
fixture(const char *name, size_t *len)
{
    char path[4096];
    struct buf b;
    FILE *f;
    size_t n;
    char chunk[4096];

    snprintf(path, sizeof(path), "%s/s3-inventory/%s", FIXTURES_DIR, name);
    f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return (unsigned char *)buf_take(&b, len);
}

/* The CSV sibling through the CSV decoder, as a transcript. */
static char *
csv_transcript(void)
{
    size_t gz_len, pos = 0;
    unsigned char *gz = fixture("csv_inventory.csv.gz", &gz_len);
    char errbuf[ERRBUF_SIZE] = "", out[8192];
    struct inventory_csv *d;
    struct buf lines;
    z_stream z;

    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = (Bytef *)out;
    z.avail_out = sizeof(out);
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    pos = sizeof(out) - z.avail_out;
    inflateEnd(&z);
    buf_init(&lines, 0);
    d = inventory_csv_new(VERSIONED_SCHEMA, orc_kit_on_line, &lines);
    assert_int_equal(inventory_csv_feed(d, out, pos, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(inventory_csv_finish(d, errbuf, sizeof(errbuf)), ERR_OK);
    inventory_csv_free(d);
    free(gz);
    return buf_take(&lines, NULL);
}

static void
test_fixture_matches_csv(void **state)
{
    static const size_t guesses[] = {1, 25, 26, 100, 651, 652, 653, 2334, ORC_TAIL_GUESS};
    size_t n, i;
    unsigned char *orc = fixture("orc_inventory.orc", &n);
    char *csv = csv_transcript();

    (void)state;
    assert_string_equal(csv, versioned_want);
    for (i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++) {
        char *got = orc_kit_decode(orc, n, guesses[i]);

        if (strcmp(got, csv))
            fail_msg("first fetch of %zu bytes:\n%s", guesses[i], got);
        free(got);
    }
    free(csv);
    free(orc);
}

static void
test_fixture_ranges(void **state)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_stripe_range r;
    struct orc_stripe *s;
    struct orc_file *f;
    struct buf out;
    uint64_t need, off, len;
    size_t n;
    unsigned char *orc = fixture("orc_inventory.orc", &n);

    (void)state;
    assert_int_equal(n, 2334);
    /* the last byte says the postscript has 25 bytes; it says the footer has 626 */
    assert_int_equal(orc_tail_need(orc + n - 1, 1, n, &need, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(need, 26);
    assert_int_equal(orc_tail_need(orc + n - 26, 26, n, &need, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(need, 652);
    assert_int_equal(orc_file_open(orc + n - 652, 652, n, &f, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(orc_file_rows(f), 5);
    assert_int_equal(orc_file_stripe_count(f), 1);
    orc_file_stripe(f, 0, &r);
    assert_int_equal(r.offset, 3);
    assert_int_equal(r.length, 628 + 432 + 260);
    assert_int_equal(r.footer_offset, 3 + 628 + 432);
    assert_int_equal(r.footer_length, 260);
    assert_int_equal(r.rows, 5);
    assert_int_equal(r.first_row, 0);
    assert_int_equal(
        orc_stripe_open(f, 0, orc + r.footer_offset, r.footer_length, &s, errbuf, sizeof(errbuf)),
        ERR_OK);
    /* the data streams of the nine bound fields, not the row indexes before them */
    orc_stripe_span(s, &off, &len);
    assert_int_equal(off, 631);
    assert_int_equal(len, 345);
    buf_init(&out, 0);
    assert_int_equal(
        orc_stripe_decode(s, orc + off, len - 1, orc_kit_on_line, &out, errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_string_equal(errbuf, "ORC stripe data: 344 bytes of the 345 needed");
    assert_int_equal(
        orc_stripe_decode(s, orc + off, len, orc_kit_on_line, &out, errbuf, sizeof(errbuf)),
        ERR_OK);
    assert_string_equal(out.data, versioned_want);
    orc_stripe_free(s);
    buf_reset(&out);
    assert_int_equal(orc_stripe_decode_whole(f, 0, orc + r.offset, r.length, orc_kit_on_line, &out,
                                             errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_string_equal(out.data, versioned_want);
    assert_int_equal(orc_stripe_open(f, 1, orc, 10, &s, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "no ORC stripe 1 (the file has 1)");
    assert_int_equal(orc_stripe_open(f, 0, orc + r.footer_offset, 259, &s, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_string_equal(errbuf, "ORC stripe 0 footer: 259 bytes of the 260 needed");
    orc_file_free(f);
    orc_file_free(NULL);
    orc_stripe_free(NULL);
    buf_release(&out);
    free(orc);
}

/* Every tail shorter than the one needed, every file cut short: an error, not a crash. */
static void
test_fixture_truncated(void **state)
{
    char errbuf[ERRBUF_SIZE] = "", want[ERRBUF_SIZE];
    struct orc_file *f = NULL;
    size_t n, k;
    unsigned char *orc = fixture("orc_inventory.orc", &n);

    (void)state;
    for (k = 1; k < 652; k++) {
        unsigned char *tail = xmalloc(k);

        memcpy(tail, orc + n - k, k);
        assert_int_equal(orc_file_open(tail, k, n, &f, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
        assert_null(f);
        snprintf(want, sizeof(want), "ORC tail too short: %zu bytes of the %d needed", k,
                 k < 26 ? 26 : 652);
        assert_string_equal(errbuf, want);
        free(tail);
    }
    for (k = 0; k < n; k++) {
        char *got = orc_kit_decode(orc, k, ORC_TAIL_GUESS);

        if (strncmp(got, "rc ", 3))
            fail_msg("the first %zu bytes decoded:\n%s", k, got);
        free(got);
    }
    free(orc);
}

/* The span with its end zeroed from each offset on: errors or lines, never a crash. */
static void
test_fixture_span_cut(void **state)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_stripe_range r;
    struct orc_stripe *s;
    struct orc_file *f;
    uint64_t off, len;
    size_t n, k, failed = 0;
    unsigned char *orc = fixture("orc_inventory.orc", &n);

    (void)state;
    assert_int_equal(orc_file_open(orc, n, n, &f, errbuf, sizeof(errbuf)), ERR_OK);
    orc_file_stripe(f, 0, &r);
    assert_int_equal(
        orc_stripe_open(f, 0, orc + r.footer_offset, r.footer_length, &s, errbuf, sizeof(errbuf)),
        ERR_OK);
    orc_stripe_span(s, &off, &len);
    for (k = 0; k < len; k++) {
        unsigned char *span = xmalloc(len);
        struct buf out;

        buf_init(&out, 0);
        memcpy(span, orc + off, k);
        memset(span + k, 0, len - k);
        failed += orc_stripe_decode(s, span, len, orc_kit_on_line, &out, errbuf, sizeof(errbuf)) !=
                  ERR_OK;
        buf_release(&out);
        free(span);
    }
    assert_true(failed > len / 2);
    orc_stripe_free(s);
    orc_file_free(f);
    free(orc);
}

/* Each byte flipped (four ways): the reader says what is wrong or decodes, never crashes. */
static void
test_fixture_flips(void **state)
{
    static const unsigned char flips[] = {0x01, 0x10, 0x80, 0xff};
    size_t n, i, k, ok = 0, same = 0;
    unsigned char *orc = fixture("orc_inventory.orc", &n);
    unsigned char *copy = xmalloc(n);

    (void)state;
    for (i = 0; i < n; i++) {
        for (k = 0; k < sizeof(flips); k++) {
            char *got;

            memcpy(copy, orc, n);
            copy[i] ^= flips[k];
            got = orc_kit_decode(copy, n, ORC_TAIL_GUESS);
            ok += strstr(got, "rc ") == NULL;
            same += !strcmp(got, versioned_want);
            free(got);
        }
    }
    /* the row indexes and statistics are never read: flips there change nothing */
    print_message("%zu of %zu flips decoded, %zu to the same lines\n", ok, n * sizeof(flips), same);
    assert_true(same > 0 && same <= ok && ok < n * sizeof(flips));
    free(copy);
    free(orc);
}

/* ---- files written by orc_testkit --------------------------------------------------------------
 */

static const char *const buckets[5] = {B, B, B, B, B};
static const char *const keys[5] = {"inventory-test/", "inventory-test/key1", "inventory-test/key1",
                                    "inventory-test/key2", "inventory-test/key2"};
static const char *const versions[5] = {NULL, NULL, "tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0",
                                        "gdN1exfZmD7m713patv8dlQ7fTNwle3v",
                                        "zl_C7NLxrkBsMFD5HQUdybrmuV9VpvkN"};
static const int latest[5] = {1, 0, 1, 1, 0}, deleted[5] = {0, 0, 0, 1, 0};
static const int64_t sizes[5] = {0, 0, 5, 0, 5};
static const int size_nulls[5] = {0, 0, 0, 1, 0};
static const int64_t modified[5] = {1715035068000, 1715035080000, 1715035462000, 1715035574000,
                                    1715035534000};
static const char *const etags[5] = {
    "d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e",
    "d8e8fca2dc0f896fd7cb4cb0031ba249", NULL, "d8e8fca2dc0f896fd7cb4cb0031ba249"};
static const char *const classes[5] = {"STANDARD", "STANDARD", "STANDARD", NULL, "STANDARD"};
static const char *const statuses[5] = {"SSE-S3", "SSE-S3", "SSE-S3", NULL, "SSE-S3"};

/* The fixture's records as S3 writes them (plus two fields the reader ignores). */
static void
fixture_like(struct orc_tfile *t, enum orc_compression comp, size_t block, int dict, int v2)
{
    orc_tfile_init(t, comp, block, 5);
    t->timezone = "UTC";
    orc_tfile_strings(t, "bucket", ORC_STRING, buckets, dict, v2);
    orc_tfile_strings(t, "key", ORC_STRING, keys, dict, v2);
    orc_tfile_strings(t, "version_id", ORC_STRING, versions, dict, v2);
    orc_tfile_bools(t, "is_latest", latest);
    orc_tfile_bools(t, "is_delete_marker", deleted);
    orc_tfile_ints(t, "size", ORC_LONG, sizes, size_nulls, v2);
    orc_tfile_times(t, "last_modified_date", ORC_TIMESTAMP, modified, NULL, v2);
    orc_tfile_strings(t, "e_tag", ORC_STRING, etags, dict, v2);
    orc_tfile_strings(t, "storage_class", ORC_STRING, classes, dict, v2);
    orc_tfile_strings(t, "encryption_status", ORC_STRING, statuses, dict, v2);
    orc_tfile_times(t, "object_lock_retain_until_date", ORC_TIMESTAMP, modified, latest, v2);
}

/* Build t, decode it, compare, release t. */
static void
expect_file(struct orc_tfile *t, const char *want)
{
    size_t n;
    unsigned char *file = orc_tfile_build(t, &n);
    char *got = orc_kit_decode(file, n, ORC_TAIL_GUESS);

    orc_tfile_release(t);
    if (strcmp(got, want))
        fail_msg("got:\n%s---\nexpected:\n%s", got, want);
    free(got);
    free(file);
}

static void
test_built_codecs(void **state)
{
    static const enum orc_compression kinds[] = {ORC_COMPRESSION_NONE, ORC_COMPRESSION_ZLIB,
                                                 ORC_COMPRESSION_SNAPPY, ORC_COMPRESSION_ZSTD};
    static const size_t blocks[] = {7, 64, 262144};
    size_t k, b;
    int dict, v2, original;

    (void)state;
    for (k = 0; k < 4; k++) {
        for (b = 0; b < 3; b++) {
            for (dict = 0; dict < 2; dict++) {
                for (v2 = 0; v2 < 2; v2++) {
                    for (original = 0; original < 2; original++) {
                        struct orc_tfile t;

                        fixture_like(&t, kinds[k], blocks[b], dict, v2);
                        t.original = original;
                        expect_file(&t, versioned_want);
                    }
                }
            }
        }
    }
}

/* 1500 rows, three stripes: every codec and encoding gives the same lines; any stripe order. */
static void
test_built_many_rows(void **state)
{
    static const enum orc_compression kinds[] = {ORC_COMPRESSION_NONE, ORC_COMPRESSION_ZLIB,
                                                 ORC_COMPRESSION_SNAPPY, ORC_COMPRESSION_ZSTD};
    enum { ROWS = 1500 };
    static char names[ROWS][24];
    const char *keyv[ROWS], *bucketv[ROWS], *classv[ROWS];
    int64_t sizev[ROWS], msv[ROWS];
    int nullv[ROWS];
    char *first = NULL;
    size_t i, k;
    int mode;

    (void)state;
    for (i = 0; i < ROWS; i++) {
        snprintf(names[i], sizeof(names[i]), "dir/%05zu.txt", i * 7919 % ROWS);
        keyv[i] = names[i];
        bucketv[i] = i % 2 ? "bucket-a" : "bucket-b";
        classv[i] = i % 3 ? "STANDARD" : "GLACIER";
        sizev[i] = (int64_t)(i * i * 977 % 100000007);
        msv[i] = 1600000000000 + (int64_t)i * 1001 - (i % 5 == 0 ? 1700000000000 : 0);
        nullv[i] = i % 11 == 0;
    }
    for (k = 0; k < 4; k++) {
        for (mode = 0; mode < 4; mode++) {
            struct orc_tfile t;
            size_t n;
            unsigned char *file;
            char *got;

            orc_tfile_init(&t, kinds[k], 1000, ROWS);
            t.nstripes = 3;
            orc_tfile_strings(&t, "key", ORC_STRING, keyv, mode & 1, mode & 2);
            orc_tfile_strings(&t, "bucket", ORC_VARCHAR, bucketv, !(mode & 1), mode & 2);
            orc_tfile_strings(&t, "storage_class", ORC_STRING, classv, mode & 1, mode & 2);
            orc_tfile_ints(&t, "size", ORC_LONG, sizev, nullv, mode & 2);
            orc_tfile_times(&t, "last_modified_date", ORC_TIMESTAMP_INSTANT, msv, NULL, mode & 2);
            file = orc_tfile_build(&t, &n);
            got = orc_kit_decode(file, n, 100);
            orc_tfile_release(&t);
            free(file);
            if (!first) {
                first = got;
                continue;
            }
            assert_string_equal(got, first);
            free(got);
        }
    }
    /* spot checks: the first line, a null size, a date before 1970, the last line */
    assert_non_null(strstr(first, "L1|bucket-b|dir/00000.txt|-|-|0|-|1966-10-31T14:13:20.000Z|-|"
                                  "GLACIER\n"));
    assert_non_null(strstr(first, "L3|bucket-b|dir/00838.txt|-|-|0|3908|"
                                  "2020-09-13T12:26:42.002Z|-|STANDARD\n"));
    assert_non_null(strstr(first, "\nL4500|bucket-a|"));
    assert_null(strstr(first, "rc "));
    free(first);
}

/* CSV-style names in another order, other types, eTag forms, empty strings, extra fields. */
static void
test_built_values(void **state)
{
    static const char *const k[3] = {"a b+c%2F", "k2", "k3"}, *const b[3] = {"bk", "bk", "bk"};
    static const char *const e[3] = {"abc", "\"q\"", "W/\"w\""}, *const v[3] = {"", "v1", NULL};
    static const char *const dates[3] = {"2024-05-06T22:37:48.5+02:00", "", NULL};
    static const int lat[3] = {-1, 1, 0};
    static const int64_t sz[3] = {127, -128, 0}, days[3] = {19849, 0, -1};
    static const int sz_null[3] = {0, 1, 0};
    struct orc_tfile t;

    (void)state;
    orc_tfile_init(&t, ORC_COMPRESSION_ZLIB, 0, 3);
    orc_tfile_type(&t, "Weight", ORC_DOUBLE);
    orc_tfile_strings(&t, "ETag", ORC_VARCHAR, e, 0, 1);
    orc_tfile_strings(&t, "Key", ORC_CHAR, k, 1, 0);
    orc_tfile_bools(&t, "IsLatest", lat);
    orc_tfile_strings(&t, "LastModifiedDate", ORC_STRING, dates, 0, 1);
    orc_tfile_ints(&t, "Size", ORC_BYTE, sz, sz_null, 0);
    orc_tfile_strings(&t, "VersionId", ORC_STRING, v, 0, 0);
    orc_tfile_strings(&t, "BUCKET", ORC_STRING, b, 0, 1);
    /* keys are not URL-decoded; "" is absent; a size of -128 is null here */
    expect_file(&t, "L1|bk|a b+c%2F|-|-|0|127|2024-05-06T20:37:48.500Z|\"abc\"|-\n"
                    "L2|bk|k2|v1|1|0|-|-|\"q\"|-\n"
                    "L3|bk|k3|-|0|0|0|-|W/\"w\"|-\n");

    /* dates as DATE; an instant's writer time zone does not matter */
    orc_tfile_init(&t, ORC_COMPRESSION_SNAPPY, 0, 3);
    t.timezone = "Europe/Paris";
    orc_tfile_strings(&t, "key", ORC_STRING, k, 0, 1);
    orc_tfile_strings(&t, "bucket", ORC_STRING, b, 0, 1);
    orc_tfile_ints(&t, "last_modified_date", ORC_DATE, days, NULL, 1);
    orc_tfile_times(&t, "object_lock_retain_until_date", ORC_TIMESTAMP, sz, NULL, 1);
    expect_file(&t, "L1|bk|a b+c%2F|-|-|0|-|2024-05-06T00:00:00.000Z|-|-\n"
                    "L2|bk|k2|-|-|0|-|1970-01-01T00:00:00.000Z|-|-\n"
                    "L3|bk|k3|-|-|0|-|1969-12-31T00:00:00.000Z|-|-\n");

    orc_tfile_init(&t, ORC_COMPRESSION_ZSTD, 0, 1);
    t.timezone = "Europe/Paris";
    orc_tfile_strings(&t, "key", ORC_STRING, k, 0, 1);
    orc_tfile_strings(&t, "bucket", ORC_STRING, b, 0, 1);
    orc_tfile_times(&t, "last_modified_date", ORC_TIMESTAMP_INSTANT, days, NULL, 1);
    expect_file(&t, "L1|bk|a b+c%2F|-|-|0|-|1970-01-01T00:00:19.849Z|-|-\n");
}

/* A null root struct row is skipped; its fields have no values for it. */
static void
test_built_null_rows(void **state)
{
    static const char *const k[2] = {"k1", "k3"}, *const b[2] = {"b", "b"};
    static const int bits[3] = {1, 0, 1};
    struct orc_tfile t;

    (void)state;
    orc_tfile_init(&t, ORC_COMPRESSION_NONE, 0, 2);
    orc_tfile_strings(&t, "key", ORC_STRING, k, 0, 1);
    orc_tfile_strings(&t, "bucket", ORC_STRING, b, 0, 1);
    t.rows = 3;
    buf_append(&t.root_present, "\xff", 1);
    buf_append_char(&t.root_present, (char)(bits[0] << 7 | bits[1] << 6 | bits[2] << 5));
    expect_file(&t, "L1|b|k1|-|-|0|-|-|-|-\nL3|b|k3|-|-|0|-|-|-|-\n");
}

/* A two-row file of key and bucket, and what else the caller adds. */
static void
two_rows(struct orc_tfile *t, const char *const *k)
{
    static const char *const b[2] = {"b", "b"};

    orc_tfile_init(t, ORC_COMPRESSION_ZLIB, 0, 2);
    orc_tfile_strings(t, "key", ORC_STRING, k, 0, 1);
    orc_tfile_strings(t, "bucket", ORC_STRING, b, 0, 1);
}

static void
test_built_schema_errors(void **state)
{
    static const char *const k[2] = {"k1", "k2"}, *const words[2] = {"1", "2"};
    static const uint32_t nested[] = {ORC_LIST, ORC_MAP, ORC_STRUCT, ORC_UNION};
    static const char *const nested_msg[] = {
        "rc 3: field tags: nested ORC types (array) are not supported\n",
        "rc 3: field tags: nested ORC types (map) are not supported\n",
        "rc 3: field tags: nested ORC types (struct) are not supported\n",
        "rc 3: field tags: nested ORC types (uniontype) are not supported\n"};
    static const int64_t ts[2] = {0, 1};
    struct orc_tfile t;
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        two_rows(&t, k);
        orc_tfile_type(&t, "tags", nested[i]);
        expect_file(&t, nested_msg[i]);
    }
    two_rows(&t, k);
    orc_tfile_type(&t, "later", 42);
    expect_file(&t, "rc 3: field later: unknown ORC type kind 42\n");

    orc_tfile_init(&t, ORC_COMPRESSION_NONE, 0, 2);
    orc_tfile_strings(&t, "bucket", ORC_STRING, k, 0, 1);
    orc_tfile_strings(&t, "key_name", ORC_STRING, k, 0, 1);
    expect_file(&t, "rc 1: ORC schema has no bucket or no key field\n");

    two_rows(&t, k);
    orc_tfile_strings(&t, "size", ORC_STRING, words, 0, 1);
    expect_file(&t, "rc 3: field size: ORC type string is not supported for it\n");

    two_rows(&t, k);
    orc_tfile_strings(&t, "Bucket", ORC_STRING, k, 0, 1);
    expect_file(&t, "rc 1: ORC schema names bucket twice\n");

    two_rows(&t, k);
    t.timezone = "America/New_York";
    orc_tfile_times(&t, "last_modified_date", ORC_TIMESTAMP, ts, NULL, 1);
    expect_file(&t, "rc 3: field last_modified_date: timestamps written in time zone "
                    "America/New_York are not supported (only UTC)\n");

    two_rows(&t, k);
    t.encrypted = 1;
    expect_file(&t, "rc 3: ORC column encryption is not supported\n");

    two_rows(&t, k);
    t.comp = ORC_COMPRESSION_LZ4;
    expect_file(&t, "rc 3: ORC compression LZ4 is not supported\n");

    two_rows(&t, k);
    t.block = 8 * 1024 * 1024;
    expect_file(&t, "rc 2: ORC compression block size 8388608 is over the limit of 4194304 "
                    "bytes\n");
}

static void
test_built_row_errors(void **state)
{
    static const char *const k[2] = {"k1", "k2"}, *const empty[2] = {"k1", ""};
    static const char *const nul[2] = {"k\0x", "k2"}, *const none[2] = {NULL, "k2"};
    static const int64_t sz[2] = {1, -1};
    struct orc_tfile t;

    (void)state;
    two_rows(&t, k);
    orc_tfile_ints(&t, "size", ORC_INT, sz, NULL, 1);
    expect_file(&t, "L1|b|k1|-|-|0|1|-|-|-\nrc 1: row 2: size is negative\n");

    two_rows(&t, empty);
    expect_file(&t, "L1|b|k1|-|-|0|-|-|-|-\nrc 1: row 2: empty key\n");
    two_rows(&t, none);
    expect_file(&t, "rc 1: row 1: empty key\n");

    /* "k\0x" is written as the 1 byte "k"; make the stream say 3 bytes "k\0x" */
    two_rows(&t, nul);
    buf_reset(&t.cols[0].s[ORC_S_DATA]);
    buf_append(&t.cols[0].s[ORC_S_DATA], "k\0xk2", 5);
    buf_reset(&t.cols[0].s[ORC_S_LENGTH]);
    buf_append(&t.cols[0].s[ORC_S_LENGTH], "\xfe\x03\x02", 3);
    t.cols[0].enc = ORC_DIRECT;
    expect_file(&t, "rc 1: row 1: NUL byte in key\n");

    /* the key's DATA stream two bytes short */
    two_rows(&t, k);
    t.cols[0].s[ORC_S_DATA].len -= 2;
    expect_file(&t, "L1|b|k1|-|-|0|-|-|-|-\nrc 1: row 2: field key: DATA stream: ends early\n");
}

static enum err
stop_at_two(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    if (l->line == 2)
        return err_set(ERR_CONFLICT, errbuf, errlen, "callback stops at line %zu", l->line);
    return orc_kit_on_line(ctx, l, errbuf, errlen);
}

/* Three stripes read in any order; a callback's error comes back as it is. */
static void
test_built_stripes(void **state)
{
    static const char *const k[2] = {"k1", "k2"};
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_stripe_range r;
    struct orc_file *f;
    struct orc_tfile t;
    struct buf out;
    size_t n;
    unsigned char *file;

    (void)state;
    two_rows(&t, k);
    t.nstripes = 3;
    file = orc_tfile_build(&t, &n);
    orc_tfile_release(&t);
    assert_int_equal(orc_file_open(file, n, n, &f, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(orc_file_rows(f), 6);
    assert_int_equal(orc_file_stripe_count(f), 3);
    buf_init(&out, 0);
    orc_file_stripe(f, 2, &r);
    assert_int_equal(r.first_row, 4);
    assert_int_equal(orc_stripe_decode_whole(f, 2, file + r.offset, r.length, orc_kit_on_line, &out,
                                             errbuf, sizeof(errbuf)),
                     ERR_OK);
    orc_file_stripe(f, 0, &r);
    assert_int_equal(orc_stripe_decode_whole(f, 0, file + r.offset, r.length, orc_kit_on_line, &out,
                                             errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_string_equal(out.data, "L5|b|k1|-|-|0|-|-|-|-\nL6|b|k2|-|-|0|-|-|-|-\n"
                                  "L1|b|k1|-|-|0|-|-|-|-\nL2|b|k2|-|-|0|-|-|-|-\n");
    buf_reset(&out);
    assert_int_equal(orc_stripe_decode_whole(f, 0, file + r.offset, r.length, stop_at_two, &out,
                                             errbuf, sizeof(errbuf)),
                     ERR_CONFLICT);
    assert_string_equal(errbuf, "callback stops at line 2");
    assert_string_equal(out.data, "L1|b|k1|-|-|0|-|-|-|-\n");
    assert_int_equal(orc_stripe_decode_whole(f, 0, file + r.offset, r.length - 1, stop_at_two, &out,
                                             errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_int_equal(
        orc_stripe_decode_whole(f, 3, file, n, stop_at_two, &out, errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_string_equal(errbuf, "no ORC stripe 3 (the file has 3)");
    orc_file_stripe(f, 3, &r);
    assert_true(r.offset == 0 && r.length == 0 && r.rows == 0);
    buf_release(&out);
    orc_file_free(f);
    free(file);
}

/* Tails that cannot be ORC's. */
static void
test_tail_errors(void **state)
{
    static const unsigned char zero[] = {'O', 'R', 'C', 0};
    static const unsigned char big[] = {'x', 0x02, 0xff};
    char errbuf[ERRBUF_SIZE] = "";
    struct orc_file *f;
    uint64_t need;

    (void)state;
    assert_int_equal(orc_tail_need(zero, 4, 4, &need, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "not an ORC file (postscript length)");
    assert_int_equal(orc_tail_need(zero, 0, 4, &need, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "ORC tail of 0 bytes for a file of 4 bytes");
    assert_int_equal(orc_tail_need(zero, 4, 3, &need, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_int_equal(orc_tail_need(big, 3, 3, &need, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "not an ORC file (postscript length)");
    assert_int_equal(orc_tail_need(big + 2, 1, 1000, &need, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(need, 256);
    assert_int_equal(orc_file_open(big, 3, 1000, &f, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "ORC tail too short: 3 bytes of the 256 needed");
    assert_null(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_matches_csv), cmocka_unit_test(test_fixture_ranges),
        cmocka_unit_test(test_fixture_truncated),   cmocka_unit_test(test_fixture_span_cut),
        cmocka_unit_test(test_fixture_flips),       cmocka_unit_test(test_built_codecs),
        cmocka_unit_test(test_built_many_rows),     cmocka_unit_test(test_built_values),
        cmocka_unit_test(test_built_null_rows),     cmocka_unit_test(test_built_schema_errors),
        cmocka_unit_test(test_built_row_errors),    cmocka_unit_test(test_built_stripes),
        cmocka_unit_test(test_tail_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
