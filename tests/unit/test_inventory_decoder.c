/*
 * test_inventory_decoder.c - unit tests for the S3 Inventory manifest and CSV decoders
 *
 * Manifests: the real samples of tests/fixtures/s3-inventory plus
 * hand-written variants. CSV: the real data files (gunzipped here with zlib)
 * and small documents. Every CSV decode is turned into a transcript, one
 * line per inventory line:
 *   L<line>|bucket|key|versionId|IsLatest|IsDeleteMarker|size|lastModified|eTag|storageClass
 * with "-" for NULL / absent, then "rc <n>: <message>" when it failed. Every
 * expectation is also checked at every split point (two chunks at each
 * offset), one byte at a time, and with empty chunks in between.
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
#include "core/buf.h"

#define VERSIONED_SCHEMA                                                                           \
    "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, "             \
    "StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, "                     \
    "ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, "                       \
    "IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm"
#define CURRENT_SCHEMA                                                                             \
    "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, "               \
    "ReplicationStatus, EncryptionStatus, ObjectLockRetainUntilDate, ObjectLockMode, "             \
    "ObjectLockLegalHoldStatus, IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm"

#define B "filemanager-inventory-test"
#define ETAG_EMPTY "\"d41d8cd98f00b204e9800998ecf8427e\""
#define ETAG_5 "\"d8e8fca2dc0f896fd7cb4cb0031ba249\""

/* The fixtures README's records, in file order. */
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

static const char current_want[] =
    "L1|" B "|inventory-test/|-|-|0|0|2024-05-06T22:37:48.000Z|" ETAG_EMPTY "|STANDARD\n"
    "L2|" B "|inventory-test/key1|-|-|0|5|2024-05-06T22:44:22.000Z|" ETAG_5 "|STANDARD\n";

/* ---- files ----------------------------------------------------------------------------------- */

/* Contents of tests/fixtures/s3-inventory/<name> (caller frees). */
static char *
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
    return buf_take(&b, len);
}

/* gunzip (multi-member) with zlib; caller frees. */
static char *
gunzip(const char *in, size_t len, size_t *out_len)
{
    z_stream z;
    struct buf b;
    char chunk[4096];
    int zrc = Z_OK;

    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    buf_init(&b, 0);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    while (z.avail_in > 0 || zrc != Z_STREAM_END) {
        if (zrc == Z_STREAM_END)
            assert_int_equal(inflateReset(&z), Z_OK);
        z.next_out = (Bytef *)chunk;
        z.avail_out = sizeof(chunk);
        zrc = inflate(&z, Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END)
            fail_msg("inflate: %d", zrc);
        buf_append(&b, chunk, sizeof(chunk) - z.avail_out);
    }
    inflateEnd(&z);
    return buf_take(&b, out_len);
}

/* ---- CSV transcripts ------------------------------------------------------------------------- */

struct collector {
    struct buf out;
    size_t fail_at; /* 0 = never; else the callback fails on the Nth line */
    size_t nlines;
};

static const char *
str(const char *s)
{
    return s ? s : "-";
}

static enum err
on_line(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    struct collector *c = ctx;
    char size[32] = "-";

    c->nlines++;
    if (c->fail_at && c->nlines == c->fail_at)
        return err_set(ERR_CONFLICT, errbuf, errlen, "callback stops at line %zu", l->line);
    if (l->has_size)
        snprintf(size, sizeof(size), "%lld", (long long)l->size);
    buf_printf(&c->out, "L%zu|%s|%s|%s|%s|%d|%s|%s|%s|%s\n", l->line, l->bucket, l->key,
               str(l->version_id),
               l->is_latest < 0 ? "-"
               : l->is_latest   ? "1"
                                : "0",
               l->is_delete_marker, size, str(l->last_modified), str(l->etag),
               str(l->storage_class));
    return ERR_OK;
}

/*
 * Decode in[0..len) cut before each offset in cuts[0..ncuts) (non-decreasing;
 * equal ones give empty chunks). Stops feeding at the first error, which
 * must then be sticky. Returns the transcript (caller frees).
 */
static char *
run_cuts(const char *schema, const char *in, size_t len, const size_t *cuts, size_t ncuts,
         size_t fail_at)
{
    struct collector c = {.fail_at = fail_at};
    struct inventory_csv *d = inventory_csv_new(schema, on_line, &c);
    char errbuf[ERRBUF_SIZE] = "", again[ERRBUF_SIZE] = "";
    enum err rc = ERR_OK;
    size_t pos = 0, k;

    buf_init(&c.out, 0);
    for (k = 0; k <= ncuts && !rc; k++) {
        size_t end = k < ncuts ? cuts[k] : len;

        rc = inventory_csv_feed(d, in + pos, end - pos, errbuf, sizeof(errbuf));
        pos = end;
    }
    if (!rc)
        rc = inventory_csv_finish(d, errbuf, sizeof(errbuf));
    if (rc) {
        buf_printf(&c.out, "rc %d: %s\n", (int)rc, errbuf);
        assert_int_equal(inventory_csv_feed(d, "x\n", 2, again, sizeof(again)), rc);
        assert_string_equal(again, errbuf);
        assert_int_equal(inventory_csv_finish(d, again, sizeof(again)), rc);
        assert_string_equal(again, errbuf);
    }
    inventory_csv_free(d);
    return buf_take(&c.out, NULL);
}

static char *
run_once(const char *schema, const char *in, size_t len)
{
    return run_cuts(schema, in, len, NULL, 0, 0);
}

/* Two chunks at every offset, one byte at a time, and empty chunks too. */
static void
check_splits(const char *schema, const char *in, size_t len, const char *want)
{
    size_t *cuts = xmalloc((2 * len + 1) * sizeof(*cuts));
    size_t k;
    char *got;

    for (k = 0; k <= len; k++) {
        got = run_cuts(schema, in, len, &k, 1, 0);
        if (strcmp(got, want))
            fail_msg("split at %zu differs:\n%s---\n%s", k, got, want);
        free(got);
    }
    for (k = 0; k < len; k++)
        cuts[k] = k + 1;
    got = run_cuts(schema, in, len, cuts, len, 0);
    assert_string_equal(got, want);
    free(got);
    for (k = 0; k < 2 * len; k++)
        cuts[k] = (k + 1) / 2; /* every byte alone, an empty chunk between */
    got = run_cuts(schema, in, len, cuts, 2 * len, 0);
    assert_string_equal(got, want);
    free(got);
    free(cuts);
}

static void
expect_len(const char *schema, const char *in, size_t len, const char *want)
{
    char *got = run_once(schema, in, len);

    assert_string_equal(got, want);
    free(got);
    check_splits(schema, in, len, want);
}

#define EXPECT(schema, in, want) expect_len(schema, in, sizeof(in) - 1, want)

/* ---- manifests ------------------------------------------------------------------------------- */

static enum err
parse_str(const char *json, struct inventory_manifest *m, char *errbuf)
{
    return inventory_manifest_parse(json, strlen(json), m, errbuf, ERRBUF_SIZE);
}

/* Expect json to fail with rc and a message containing part. */
static void
manifest_fails(const char *json, enum err rc, const char *part)
{
    struct inventory_manifest m;
    char errbuf[ERRBUF_SIZE] = "";

    memset(&m, 0xA5, sizeof(m));
    if (parse_str(json, &m, errbuf) != rc)
        fail_msg("%s: expected rc %d, message '%s'", json, (int)rc, errbuf);
    if (!strstr(errbuf, part))
        fail_msg("%s: message '%s' lacks '%s'", json, errbuf, part);
    assert_null(m.files);
    assert_null(m.destination_bucket);
    inventory_manifest_release(&m);
}

static void
test_manifest_fixtures(void **state)
{
    struct inventory_manifest m;
    char errbuf[ERRBUF_SIZE] = "";
    size_t len;
    char *json = fixture("csv_inventory_manifest.json", &len);

    (void)state;
    assert_int_equal(inventory_manifest_parse(json, len, &m, errbuf, sizeof(errbuf)), ERR_OK);
    assert_string_equal(m.source_bucket, B);
    assert_string_equal(m.destination_bucket, B);
    assert_string_equal(m.file_format, "CSV");
    assert_string_equal(m.file_schema, VERSIONED_SCHEMA);
    assert_true(m.has_creation_ms);
    assert_true(m.creation_ms == INT64_C(1715043600000));
    assert_int_equal(m.nfiles, 1);
    assert_string_equal(m.files[0].key, "csv_inventory.csv.gz");
    assert_string_equal(m.files[0].md5_hex, "c473bcc2407d0a5cec5229b21d967e59");
    assert_true(m.files[0].has_size);
    assert_int_equal(m.files[0].size, 331);
    inventory_manifest_release(&m);
    inventory_manifest_release(&m); /* released twice: harmless */
    inventory_manifest_release(NULL);
    free(json);

    json = fixture("csv_inventory_no_version_manifest.json", &len);
    assert_int_equal(inventory_manifest_parse(json, len, &m, errbuf, sizeof(errbuf)), ERR_OK);
    assert_string_equal(m.file_schema, CURRENT_SCHEMA);
    assert_string_equal(m.files[0].key, "csv_inventory_no_version.csv.gz");
    assert_string_equal(m.files[0].md5_hex, "6d99ec633ee163ebf37ac34f8f6daa63");
    assert_int_equal(m.files[0].size, 193);
    inventory_manifest_release(&m);
    free(json);

    json = fixture("parquet_inventory_manifest.json", &len);
    assert_int_equal(inventory_manifest_parse(json, len, &m, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(m.format, INVENTORY_PARQUET);
    assert_string_equal(m.file_format, "Parquet");
    assert_string_equal(m.destination_bucket, "filemanager-inventory-test");
    assert_string_equal(m.files[0].key, "parquet_inventory.parquet");
    assert_string_equal(m.files[0].md5_hex, "56c8b644debd99c8b47c1dc042a7959b");
    assert_int_equal(m.files[0].size, 4277);
    inventory_manifest_release(&m);
    free(json);

    json = fixture("orc_inventory_manifest.json", &len);
    assert_int_equal(inventory_manifest_parse(json, len, &m, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(m.format, INVENTORY_ORC);
    assert_string_equal(m.file_format, "ORC");
    assert_string_equal(m.files[0].key, "orc_inventory.orc");
    assert_int_equal(m.files[0].size, 2334);
    inventory_manifest_release(&m);
    free(json);
}

static void
test_manifest_buckets(void **state)
{
    struct inventory_manifest m;
    char errbuf[ERRBUF_SIZE] = "";

    (void)state;
    assert_int_equal(parse_str("{\"destinationBucket\":\"my-bucket.1\",\"fileFormat\":\"CSV\","
                               "\"files\":[{\"key\":\"a/b.csv.gz\"}]}",
                               &m, errbuf),
                     ERR_OK);
    assert_string_equal(m.destination_bucket, "my-bucket.1");
    assert_null(m.source_bucket);
    assert_null(m.file_schema);
    assert_false(m.has_creation_ms);
    assert_int_equal(m.nfiles, 1);
    assert_null(m.files[0].md5_hex);
    assert_false(m.files[0].has_size);
    inventory_manifest_release(&m);

    assert_int_equal(parse_str("{\"destinationBucket\":\"arn:aws-cn:s3:::cn-bucket\","
                               "\"sourceBucket\":\"arn:aws:s3:::src\",\"fileFormat\":\"csv\","
                               "\"fileSchema\":\"\",\"files\":[]}",
                               &m, errbuf),
                     ERR_OK);
    assert_string_equal(m.destination_bucket, "cn-bucket");
    assert_string_equal(m.source_bucket, "src");
    assert_string_equal(m.file_format, "CSV");
    assert_null(m.file_schema);
    assert_int_equal(m.nfiles, 0);
    inventory_manifest_release(&m);
    assert_int_equal(parse_str("{\"destinationBucket\":\"b\",\"fileFormat\":\"PARQUET\","
                               "\"files\":[]}",
                               &m, errbuf),
                     ERR_OK);
    assert_int_equal(m.format, INVENTORY_PARQUET);
    assert_string_equal(m.file_format, "Parquet");
    inventory_manifest_release(&m);
    assert_int_equal(
        parse_str("{\"destinationBucket\":\"b\",\"fileFormat\":\"orc\",\"files\":[]}", &m, errbuf),
        ERR_OK);
    assert_int_equal(m.format, INVENTORY_ORC);
    assert_string_equal(m.file_format, "ORC");
    inventory_manifest_release(&m);

#define WITH_DEST(d)                                                                               \
    "{\"destinationBucket\":" d ",\"fileFormat\":\"CSV\",\"files\":[{\"key\":\"k\"}]}"
    manifest_fails(WITH_DEST("\"arn:aws:sqs:us-east-1:123456789012:queue\""), ERR_UNPROCESSABLE,
                   "not an S3 bucket ARN");
    manifest_fails(WITH_DEST("\"arn:aws:s3:us-east-1::b\""), ERR_UNPROCESSABLE,
                   "not an S3 bucket ARN");
    manifest_fails(WITH_DEST("\"arn:aws:s3\""), ERR_UNPROCESSABLE, "not an S3 bucket ARN");
    manifest_fails(WITH_DEST("\"arn:aws\""), ERR_UNPROCESSABLE, "malformed ARN");
    manifest_fails(WITH_DEST("\"arn:gcp:s3:::b\""), ERR_UNPROCESSABLE, "malformed ARN");
    manifest_fails(WITH_DEST("\"arn:aws:s3:::\""), ERR_UNPROCESSABLE, "invalid bucket name");
    manifest_fails(WITH_DEST("\"arn:aws:s3:::b/prefix\""), ERR_UNPROCESSABLE,
                   "invalid bucket name");
    manifest_fails(WITH_DEST("\"my bucket\""), ERR_UNPROCESSABLE, "invalid bucket name");
    manifest_fails(WITH_DEST("\"\""), ERR_UNPROCESSABLE, "destinationBucket is required");
    manifest_fails(WITH_DEST("7"), ERR_UNPROCESSABLE, "destinationBucket is not a string");
    manifest_fails("{\"destinationBucket\":\"b\",\"sourceBucket\":\"arn:aws:sns:::x\","
                   "\"fileFormat\":\"CSV\",\"files\":[{\"key\":\"k\"}]}",
                   ERR_UNPROCESSABLE, "sourceBucket: not an S3 bucket ARN");
#undef WITH_DEST
}

static void
test_manifest_required(void **state)
{
    (void)state;
    manifest_fails("{\"fileFormat\":\"CSV\",\"files\":[{\"key\":\"k\"}]}", ERR_UNPROCESSABLE,
                   "destinationBucket is required");
    manifest_fails("{\"destinationBucket\":\"b\",\"files\":[{\"key\":\"k\"}]}", ERR_UNPROCESSABLE,
                   "fileFormat is required");
    manifest_fails("{\"destinationBucket\":\"b\",\"fileFormat\":\"CSV\"}", ERR_UNPROCESSABLE,
                   "files is required");
    manifest_fails("{\"destinationBucket\":\"b\",\"fileFormat\":\"CSV\",\"files\":{}}",
                   ERR_UNPROCESSABLE, "files is not an array");
    manifest_fails("{\"destinationBucket\":\"b\",\"fileFormat\":\"CSV\",\"files\":[{\"size\":1}]}",
                   ERR_UNPROCESSABLE, "files[0].key is required");
    manifest_fails("{\"destinationBucket\":\"b\",\"fileFormat\":\"CSV\","
                   "\"files\":[{\"key\":\"k\"},{\"key\":\"\"}]}",
                   ERR_UNPROCESSABLE, "files[1].key is required");
    manifest_fails("{\"destinationBucket\":\"b\",\"fileFormat\":\"CSV\",\"files\":[\"k\"]}",
                   ERR_UNPROCESSABLE, "files[0] is not an object");
    manifest_fails("{\"destinationBucket\":\"b\",\"fileFormat\":\"JSON\",\"files\":[]}",
                   ERR_UNPROCESSABLE, "unknown fileFormat");
    manifest_fails("{\"destinationBucket\":\"b\",\"fileFormat\":\"CSV\",\"fileSchema\":3,"
                   "\"files\":[]}",
                   ERR_UNPROCESSABLE, "fileSchema is not a string");
    manifest_fails("[]", ERR_UNPROCESSABLE, "not a JSON object");
    manifest_fails("", ERR_BAD_INPUT, "not valid JSON");
    manifest_fails("not json", ERR_BAD_INPUT, "not valid JSON");
    manifest_fails("{\"destinationBucket\":\"b\"", ERR_BAD_INPUT, "not valid JSON");
    manifest_fails("{} {}", ERR_BAD_INPUT, "not valid JSON");
}

static void
test_manifest_values(void **state)
{
    struct inventory_manifest m;
    char errbuf[ERRBUF_SIZE] = "";

    (void)state;
#define WITH(extra, file)                                                                          \
    "{\"destinationBucket\":\"b\",\"fileFormat\":\"CSV\"" extra ",\"files\":[{\"key\":\"k\"" file  \
    "}]}"
    assert_int_equal(parse_str(WITH(",\"creationTimestamp\":1715043600000",
                                    ",\"MD5checksum\":\"C473BCC2407D0A5CEC5229B21D967E59\","
                                    "\"size\":9223372036854775807"),
                               &m, errbuf),
                     ERR_OK);
    assert_true(m.has_creation_ms);
    assert_true(m.creation_ms == INT64_C(1715043600000));
    assert_string_equal(m.files[0].md5_hex, "c473bcc2407d0a5cec5229b21d967e59");
    assert_true(m.files[0].size == INT64_MAX);
    inventory_manifest_release(&m);

    assert_int_equal(parse_str(WITH(",\"creationTimestamp\":\"0\"", ",\"size\":0"), &m, errbuf),
                     ERR_OK);
    assert_true(m.has_creation_ms);
    assert_true(m.creation_ms == 0);
    assert_true(m.files[0].has_size);
    inventory_manifest_release(&m);

    assert_int_equal(
        parse_str(WITH(",\"creationTimestamp\":null", ",\"MD5checksum\":null"), &m, errbuf),
        ERR_OK);
    assert_false(m.has_creation_ms);
    assert_null(m.files[0].md5_hex);
    inventory_manifest_release(&m);

    manifest_fails(WITH(",\"creationTimestamp\":-1", ""), ERR_UNPROCESSABLE, "creationTimestamp");
    manifest_fails(WITH(",\"creationTimestamp\":1.5e12", ""), ERR_UNPROCESSABLE,
                   "creationTimestamp");
    manifest_fails(WITH(",\"creationTimestamp\":\"\"", ""), ERR_UNPROCESSABLE, "creationTimestamp");
    manifest_fails(WITH(",\"creationTimestamp\":\"17150436e5\"", ""), ERR_UNPROCESSABLE,
                   "creationTimestamp");
    manifest_fails(WITH(",\"creationTimestamp\":\"-5\"", ""), ERR_UNPROCESSABLE,
                   "creationTimestamp");
    manifest_fails(WITH(",\"creationTimestamp\":\"9223372036854775808\"", ""), ERR_UNPROCESSABLE,
                   "creationTimestamp");
    manifest_fails(WITH(",\"creationTimestamp\":true", ""), ERR_UNPROCESSABLE, "creationTimestamp");
    manifest_fails(WITH("", ",\"MD5checksum\":\"c473bcc2407d0a5cec5229b21d967e5\""),
                   ERR_UNPROCESSABLE, "files[0].MD5checksum is not 32 hex digits");
    manifest_fails(WITH("", ",\"MD5checksum\":\"c473bcc2407d0a5cec5229b21d967e590\""),
                   ERR_UNPROCESSABLE, "MD5checksum");
    manifest_fails(WITH("", ",\"MD5checksum\":\"g473bcc2407d0a5cec5229b21d967e59\""),
                   ERR_UNPROCESSABLE, "MD5checksum");
    manifest_fails(WITH("", ",\"MD5checksum\":\"\""), ERR_UNPROCESSABLE, "MD5checksum");
    manifest_fails(WITH("", ",\"MD5checksum\":5"), ERR_UNPROCESSABLE,
                   "MD5checksum is not a string");
    manifest_fails(WITH("", ",\"size\":-1"), ERR_UNPROCESSABLE, "files[0].size");
    manifest_fails(WITH("", ",\"size\":\"5\""), ERR_UNPROCESSABLE, "files[0].size");
    manifest_fails(WITH("", ",\"size\":1.5"), ERR_UNPROCESSABLE, "files[0].size");
#undef WITH
}

/* ---- CSV ------------------------------------------------------------------------------------- */

static void
check_fixture(const char *gz, const char *manifest, const char *want)
{
    struct inventory_manifest m;
    char errbuf[ERRBUF_SIZE] = "";
    size_t zlen, len, mlen;
    char *z = fixture(gz, &zlen);
    char *json = fixture(manifest, &mlen);
    char *csv = gunzip(z, zlen, &len);

    assert_int_equal(inventory_manifest_parse(json, mlen, &m, errbuf, sizeof(errbuf)), ERR_OK);
    expect_len(m.file_schema, csv, len, want);
    inventory_manifest_release(&m);
    free(csv);
    free(json);
    free(z);
}

static void
test_csv_fixtures(void **state)
{
    (void)state;
    check_fixture("csv_inventory.csv.gz", "csv_inventory_manifest.json", versioned_want);
    check_fixture("csv_inventory_no_version.csv.gz", "csv_inventory_no_version_manifest.json",
                  current_want);
}

static void
test_csv_header(void **state)
{
    (void)state;
    /* reordered and extra columns; names trimmed and case-insensitive */
    EXPECT(NULL,
           "Key, extra ,size,BUCKET,ETag,IsDeleteMarker\r\n"
           "a%2Fb,x,12,bk,abc,false\r\n"
           "\"c d\",\"y,z\",,bk,,TRUE\r\n",
           "L2|bk|a/b|-|-|0|12|-|\"abc\"|-\n"
           "L3|bk|c d|-|-|1|-|-|-|-\n");
    /* header only, after comments and blank lines */
    EXPECT(NULL, "\n# comment\nBucket,Key\n\n", "");
    /* a header with a duplicate known column */
    EXPECT(NULL, "Bucket,Key,key\nb,k,k\n", "rc 1: line 1: header names Key twice\n");
    /* a schema wins over what looks like a header: that line is data */
    EXPECT("Key, Bucket", "Bucket,Key\nk,b\n",
           "L1|Key|Bucket|-|-|0|-|-|-|-\nL2|b|k|-|-|0|-|-|-|-\n");
    /* only the first record can be a header */
    EXPECT(NULL, "b,k,,,,,,,\nBucket,Key,,,,,,,\n",
           "L1|b|k|-|-|0|-|-|-|-\nL2|Bucket|Key|-|-|0|-|-|-|-\n");
}

static void
test_csv_default_columns(void **state)
{
    (void)state;
    EXPECT(NULL,
           "b,k1,v1,true,false,7,2024-05-06T22:37:48Z,\"\"\"q\"\"\",GLACIER\n"
           "b,k2,,false,true,,,,\n",
           "L1|b|k1|v1|1|0|7|2024-05-06T22:37:48.000Z|\"q\"|GLACIER\n"
           "L2|b|k2|-|0|1|-|-|-|-\n");
    EXPECT("  ", "b,k,,,,,,,\n", "L1|b|k|-|-|0|-|-|-|-\n"); /* blank schema = none */
    EXPECT(NULL, "b,k\n", "rc 1: line 1: 2 fields, expected 9\n");
    EXPECT(NULL, "", "");
    /* more than nine fields: the first nine are the default columns, the rest is ignored */
    EXPECT(NULL,
           "b,k1,v1,true,false,7,2024-05-06T22:37:48Z,abc,GLACIER,false,,SSE-S3,,,,,DISABLED,,"
           "e30K,\n"
           "b,k2,,false,true,,,,,x,,,,,,,,,,\n",
           "L1|b|k1|v1|1|0|7|2024-05-06T22:37:48.000Z|\"abc\"|GLACIER\n"
           "L2|b|k2|-|0|1|-|-|-|-\n");
    /* every line has as many fields as the first */
    EXPECT(NULL, "b,k1,,,,,,,,x\nb,k2,,,,,,,\n",
           "L1|b|k1|-|-|0|-|-|-|-\nrc 1: line 2: 9 fields, expected 10\n");
}

/* The sample's data file without its manifest's fileSchema: 18 fields, the first nine in order. */
static void
test_csv_fixture_without_schema(void **state)
{
    size_t zlen, len;
    char *z = fixture("csv_inventory.csv.gz", &zlen);
    char *csv = gunzip(z, zlen, &len);

    (void)state;
    expect_len(NULL, csv, len, versioned_want);
    free(csv);
    free(z);
}

static void
test_csv_values(void **state)
{
    (void)state;
    /* eTags as the filemanager quotes them: completed, never doubled */
    EXPECT("Bucket,Key,ETag",
           "b,k1,\"\"\"abc\"\n"
           "b,k2,\"abc\"\"\"\n"
           "b,k3,\"\"\"\"\n"
           "b,k4,\"W/\"\"abc\"\n"
           "b,k5,\"W/\"\"\"\n"
           "b,k6,\"\"\"\"\"\"\n",
           "L1|b|k1|-|-|0|-|-|\"abc\"|-\n"
           "L2|b|k2|-|-|0|-|-|\"abc\"|-\n"
           "L3|b|k3|-|-|0|-|-|\"\"|-\n"
           "L4|b|k4|-|-|0|-|-|W/\"abc\"|-\n"
           "L5|b|k5|-|-|0|-|-|W/\"\"|-\n"
           "L6|b|k6|-|-|0|-|-|\"\"|-\n");
    /* URL-encoded keys; etag quoting; booleans any case; empty fields absent */
    EXPECT("Bucket,Key,ETag,IsLatest,Size",
           "b,a+b%2Bc,\"W/\"\"x\"\"\",TRUE,9223372036854775807\n"
           "b,%E2%82%AC%20100%,\"\"\"q\"\"\",False,00\n"
           "\"b\",\"%zz\",\"\",\"\",\"\"\n",
           "L1|b|a b+c|-|1|0|9223372036854775807|-|W/\"x\"|-\n"
           "L2|b|\xE2\x82\xAC 100%|-|0|0|0|-|\"q\"|-\n"
           "L3|b|%zz|-|-|0|-|-|-|-\n");
    /* timestamps: fraction, none, offsets, lower case, leap second */
    EXPECT("Bucket,Key,LastModifiedDate",
           "b,k,2024-05-06T22:37:48.000Z\n"
           "b,k,2024-05-06T22:37:48Z\n"
           "b,k,2024-05-06T22:37:48.5+02:00\n"
           "b,k,2024-05-06t22:37:48.123456789-05:30\n"
           "b,k,2024-12-31T23:59:60z\n"
           "b,k,2024-02-29T00:00:00+00:00\n"
           "b,k,0000-01-01T00:00:00Z\n",
           "L1|b|k|-|-|0|-|2024-05-06T22:37:48.000Z|-|-\n"
           "L2|b|k|-|-|0|-|2024-05-06T22:37:48.000Z|-|-\n"
           "L3|b|k|-|-|0|-|2024-05-06T20:37:48.500Z|-|-\n"
           "L4|b|k|-|-|0|-|2024-05-07T04:07:48.123Z|-|-\n"
           "L5|b|k|-|-|0|-|2025-01-01T00:00:00.000Z|-|-\n"
           "L6|b|k|-|-|0|-|2024-02-29T00:00:00.000Z|-|-\n"
           "L7|b|k|-|-|0|-|0000-01-01T00:00:00.000Z|-|-\n");
}

static void
expect_bad_date(const char *date)
{
    char in[256];
    char *got;

    snprintf(in, sizeof(in), "b,k,2024-05-06T22:37:48Z\nb,k,%s\nb,k,\n", date);
    got = run_once("Bucket,Key,LastModifiedDate", in, strlen(in));
    if (strcmp(got, "L1|b|k|-|-|0|-|2024-05-06T22:37:48.000Z|-|-\n"
                    "rc 1: line 2: LastModifiedDate is not an RFC 3339 date-time\n"))
        fail_msg("%s accepted:\n%s", date, got);
    free(got);
}

static void
test_csv_bad_dates(void **state)
{
    static const char *const bad[] = {
        "2024-05-06 22:37:48Z",
        "2024-05-06T22:37:48",
        "2024-05-06T22:37:48.Z",
        "2024-05-06T22:37Z",
        "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-05-00T00:00:00Z",
        "2024-05-06T24:00:00Z",
        "2024-05-06T23:60:00Z",
        "2024-05-06T23:59:61Z",
        "2024-05-06T22:37:48+0200",
        "2024-05-06T22:37:48+24:00",
        "2024-05-06T22:37:48Z ",
        " 2024-05-06T22:37:48Z",
        "2024-5-06T22:37:48Z",
        "+2024-05-06T22:37:48Z",
        "0000-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "2024-05-06T22:37:48.1.2Z",
        "2024-05-06T22:37:48ZZ",
        "1715043600000",
        "today",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad_date(bad[i]);
}

static void
test_csv_malformed(void **state)
{
    (void)state;
    EXPECT(NULL, "b,k,,true,false,1,,,\nb,k,,true,false,1,,\n",
           "L1|b|k|-|1|0|1|-|-|-\nrc 1: line 2: 8 fields, expected 9\n");
    EXPECT(NULL, "b,k,,true,false,1,,,\nb,k,,true,false,1,,,,\n",
           "L1|b|k|-|1|0|1|-|-|-\nrc 1: line 2: 10 fields, expected 9\n");
    EXPECT(NULL, "b,k,,yes,false,1,,,\n", "rc 1: line 1: IsLatest is not true or false\n");
    EXPECT(NULL, "b,k,,true,1,1,,,\n", "rc 1: line 1: IsDeleteMarker is not true or false\n");
    EXPECT(NULL, "b,k,,true, false,1,,,\n", "rc 1: line 1: IsDeleteMarker is not true or false\n");
    EXPECT(NULL, "b,k,,,,-1,,,\n", "rc 1: line 1: Size is not a non-negative integer\n");
    EXPECT(NULL, "b,k,,,,+1,,,\n", "rc 1: line 1: Size is not a non-negative integer\n");
    EXPECT(NULL, "b,k,,,,1.5,,,\n", "rc 1: line 1: Size is not a non-negative integer\n");
    EXPECT(NULL, "b,k,,,,9223372036854775808,,,\n",
           "rc 1: line 1: Size is not a non-negative integer\n");
    EXPECT(NULL, "b,,,,,,,,\n", "rc 1: line 1: empty Key\n");
    EXPECT(NULL, "\"\",k,,,,,,,\n", "rc 1: line 1: empty Bucket\n");
    EXPECT(NULL, "b,\"k\0\",,,,,,,\n", "rc 1: line 1: NUL byte in Key\n");
    /* CSV syntax and encoding: the line the problem is on */
    EXPECT(NULL, "b,k,,,,,,,\n\nb,\"k,,,,,,,\n",
           "L1|b|k|-|-|0|-|-|-|-\nrc 1: line 3: unterminated quoted field\n");
    EXPECT(NULL, "b,k,,,,,,,\nb,\"k\"x,,,,,,,\nb,k,,,,,,,\n",
           "L1|b|k|-|-|0|-|-|-|-\nrc 1: line 2: text after closing quote\n");
    EXPECT(NULL, "b,k\"x,,,,,,,\n", "rc 1: line 1: quote in unquoted field\n");
    EXPECT(NULL, "b,k,,,,,,,\nb,k\xC3,,,,,,,\n",
           "L1|b|k|-|-|0|-|-|-|-\nrc 1: line 2: invalid UTF-8\n");
    /* an error in a comment line fails too, whatever comes after it */
    EXPECT(NULL, "b,k,,,,,,,\n#\xFF\n", "L1|b|k|-|-|0|-|-|-|-\nrc 1: line 2: invalid UTF-8\n");
    EXPECT(NULL, "#\xFF\nb,k,,,,,,,\n", "rc 1: line 1: invalid UTF-8\n");
}

static void
test_csv_layout(void **state)
{
    (void)state;
    /* CRLF, a byte-order mark, quoted line breaks, line numbers of physical lines */
    EXPECT("Bucket,Key",
           "\xEF\xBB\xBF"
           "b,k1\r\n\r\n# note\r\nb,\"k\r\n2\"\r\nb,k3",
           "L1|b|k1|-|-|0|-|-|-|-\nL4|b|k\r\n2|-|-|0|-|-|-|-\nL6|b|k3|-|-|0|-|-|-|-\n");
    /* trailing blank lines are ignored */
    EXPECT("Bucket,Key", "b,k\n\n\r\n\n", "L1|b|k|-|-|0|-|-|-|-\n");
    /* a line of blanks is not blank */
    EXPECT("Bucket,Key", "b,k\n \n", "L1|b|k|-|-|0|-|-|-|-\nrc 1: line 2: 1 fields, expected 2\n");
}

static void
test_csv_schema(void **state)
{
    (void)state;
    EXPECT(" Bucket ,  KEY,,x ", "b,k,1,2\n", "L1|b|k|-|-|0|-|-|-|-\n");
    EXPECT("Bucket", "b\n", "rc 7: fileSchema has no Bucket or no Key column\n");
    EXPECT("Bucket,Key,Size,size", "", "rc 7: fileSchema names Size twice\n");
    EXPECT("Key,Bucket,Key", "b,k,k\n", "rc 7: fileSchema names Key twice\n");
}

static void
test_csv_limits(void **state)
{
    struct buf in, want;
    char *got;
    size_t i;

    (void)state;
    buf_init(&in, 0);
    buf_init(&want, 0);
    /* 1000 columns are fine, 1001 are not */
    buf_append_str(&in, "Bucket,Key");
    for (i = 2; i < 1000; i++)
        buf_printf(&in, ",c%zu", i);
    buf_append_str(&in, "\nb,k");
    for (i = 2; i < 1000; i++)
        buf_append_str(&in, ",");
    buf_append_str(&in, "\n");
    got = run_once(NULL, in.data, in.len);
    assert_string_equal(got, "L2|b|k|-|-|0|-|-|-|-\n");
    free(got);
    buf_append_str(&in, "b,k");
    for (i = 2; i < 1001; i++)
        buf_append_str(&in, ",");
    got = run_once(NULL, in.data, in.len);
    assert_string_equal(got, "L2|b|k|-|-|0|-|-|-|-\nrc 1: line 3: more than 1000 columns\n");
    free(got);

    /* an encoding error before the column limit is the error, wherever the input is cut */
    buf_reset(&in);
    buf_append_str(&in, "b,k\xFF");
    for (i = 0; i < 1000; i++)
        buf_append_str(&in, ",");
    expect_len(NULL, in.data, in.len, "rc 1: line 1: invalid UTF-8\n");

    /* a 64 KiB key is fine, one byte more is not */
    buf_reset(&in);
    buf_append_str(&in, "b,");
    for (i = 0; i < 65536; i++)
        buf_append_char(&in, 'k');
    buf_append_str(&in, ",,,,,,,\n");
    got = run_once(NULL, in.data, in.len);
    assert_int_equal(strlen(got), 65536 + strlen("L1|b||-|-|0|-|-|-|-\n"));
    free(got);
    buf_reset(&in);
    buf_append_str(&in, "b,\"");
    for (i = 0; i < 65537; i++)
        buf_append_char(&in, 'k');
    got = run_once(NULL, in.data, in.len);
    assert_string_equal(got, "rc 1: line 1: field exceeds 65536 bytes\n");
    free(got);
    got = run_once("Bucket,Key,,,", in.data, in.len);
    assert_string_equal(got, "rc 1: line 1: field exceeds 65536 bytes\n");
    free(got);
    in.data[10] = '\xC3'; /* truncated UTF-8 sequence first */
    for (i = 0; i < in.len; i += 4099) {
        got = run_cuts(NULL, in.data, in.len, &i, 1, 0);
        assert_string_equal(got, "rc 1: line 1: invalid UTF-8\n");
        free(got);
    }

    /* more than 1000 schema columns */
    buf_reset(&in);
    buf_append_str(&in, "Bucket,Key");
    for (i = 2; i < 1001; i++)
        buf_append_str(&in, ",");
    got = run_once(in.data, "", 0);
    assert_string_equal(got, "rc 7: fileSchema has more than 1000 columns\n");
    free(got);
    buf_release(&in);
    buf_release(&want);
}

static void
test_csv_callback_error(void **state)
{
    static const char in[] = "b,k1,,,,,,,\nb,k2,,,,,,,\nb,k3,,,,,,,\n";
    size_t k;
    char *got;

    (void)state;
    for (k = 0; k <= sizeof(in) - 1; k++) {
        got = run_cuts(NULL, in, sizeof(in) - 1, &k, 1, 2);
        assert_string_equal(got, "L1|b|k1|-|-|0|-|-|-|-\n"
                                 "rc 5: callback stops at line 2\n");
        free(got);
    }
}

static void
test_csv_lifecycle(void **state)
{
    struct collector c;
    struct inventory_csv *d;
    char errbuf[ERRBUF_SIZE] = "";

    (void)state;
    memset(&c, 0, sizeof(c));
    buf_init(&c.out, 0);
    d = inventory_csv_new(NULL, on_line, &c);
    assert_int_equal(inventory_csv_feed(d, "b,k,,,,,,,", 10, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(c.nlines, 0);
    assert_int_equal(inventory_csv_finish(d, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(c.nlines, 1); /* the last line needs no line ending */
    assert_int_equal(inventory_csv_finish(d, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_int_equal(inventory_csv_feed(d, "", 0, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "inventory decoder already finished");
    inventory_csv_free(d);
    inventory_csv_free(NULL);
    buf_release(&c.out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_fixtures),
        cmocka_unit_test(test_manifest_buckets),
        cmocka_unit_test(test_manifest_required),
        cmocka_unit_test(test_manifest_values),
        cmocka_unit_test(test_csv_fixtures),
        cmocka_unit_test(test_csv_header),
        cmocka_unit_test(test_csv_default_columns),
        cmocka_unit_test(test_csv_fixture_without_schema),
        cmocka_unit_test(test_csv_values),
        cmocka_unit_test(test_csv_bad_dates),
        cmocka_unit_test(test_csv_malformed),
        cmocka_unit_test(test_csv_layout),
        cmocka_unit_test(test_csv_schema),
        cmocka_unit_test(test_csv_limits),
        cmocka_unit_test(test_csv_callback_error),
        cmocka_unit_test(test_csv_lifecycle),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
