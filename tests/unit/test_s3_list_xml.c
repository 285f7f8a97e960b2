/*
 * test_s3_list_xml.c - the reader of S3's list answers (codec/s3_list_xml.c)
 *
 * The answers are AWS's documented examples (ListObjectsV2 and
 * ListObjectVersions in the S3 API reference, tests/fixtures/s3-list/) and
 * one URL-encoded answer as S3 gives it with encoding-type=url. Each is fed
 * whole, one byte at a time and cut at every offset, and must read the same;
 * then the malformed inputs a strict reader refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/s3_list_xml.h"
#include "core/buf.h"
#include "core/err.h"

static char *
read_fixture(const char *name, size_t *len)
{
    char path[512];
    struct buf b;
    char chunk[4096];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/s3-list/%s", FIXTURES_DIR, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_take(&b, len);
}

/* Feed doc cut at `cut` (and then one byte at a time when step is 1) into page. */
static enum err
decode(enum s3_list_kind kind, const char *doc, size_t len, size_t cut, size_t step,
       struct s3_list_page *page, char *errbuf, size_t errlen)
{
    struct s3_list_xml *x = s3_list_xml_new(kind, page);
    size_t off = 0, n;
    enum err rc = ERR_OK;

    if (cut > len)
        cut = len;
    rc = s3_list_xml_feed(x, doc, cut, errbuf, errlen);
    for (off = cut; !rc && off < len; off += n) {
        n = step && step < len - off ? step : len - off;
        rc = s3_list_xml_feed(x, doc + off, n, errbuf, errlen);
    }
    if (!rc)
        rc = s3_list_xml_feed(x, "", 0, errbuf, errlen);
    if (!rc)
        rc = s3_list_xml_finish(x, errbuf, errlen);
    s3_list_xml_free(x);
    return rc;
}

typedef void (*page_check_fn)(const struct s3_list_page *p);

/* The document reads, and reads the same at every split and byte by byte. */
static void
every_split(enum s3_list_kind kind, const char *doc, size_t len, page_check_fn check)
{
    struct s3_list_page p;
    char errbuf[ERRBUF_SIZE] = "";
    size_t cut;
    enum err rc;

    for (cut = 0; cut <= len; cut++) {
        s3_list_page_init(&p);
        rc = decode(kind, doc, len, cut, cut % 2 ? 1 : 0, &p, errbuf, sizeof(errbuf));
        if (rc)
            print_error("cut %zu: %s\n", cut, errbuf);
        assert_int_equal(rc, ERR_OK);
        check(&p);
        s3_list_page_release(&p);
    }
}

static void
check_v2(const struct s3_list_page *p)
{
    assert_int_equal(p->count, 1);
    assert_false(p->is_truncated);
    assert_null(p->next_continuation_token);
    assert_string_equal(p->entries[0].key, "my-image.jpg");
    assert_null(p->entries[0].version_id);
    assert_string_equal(p->entries[0].last_modified, "2009-10-12T17:50:30.000Z");
    assert_string_equal(p->entries[0].etag, "\"fba9dede5f27731c9771645a39863328\"");
    assert_true(p->entries[0].has_size);
    assert_int_equal(p->entries[0].size, 434234);
    assert_string_equal(p->entries[0].storage_class, "STANDARD");
    assert_true(p->entries[0].is_latest);
    assert_false(p->entries[0].is_delete_marker);
}

static void
check_v2_truncated(const struct s3_list_page *p)
{
    assert_int_equal(p->count, 1);
    assert_true(p->is_truncated);
    assert_string_equal(p->next_continuation_token,
                        "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    assert_string_equal(p->entries[0].key, "ExampleObject.txt");
    assert_string_equal(p->entries[0].etag, "\"599bab3ed2c697f1d26842727561fd94\"");
    assert_int_equal(p->entries[0].size, 857);
    assert_string_equal(p->entries[0].storage_class, "REDUCED_REDUNDANCY");
}

static void
check_versions(const struct s3_list_page *p)
{
    assert_int_equal(p->count, 4);
    assert_false(p->is_truncated);
    assert_string_equal(p->entries[0].key, "my-image.jpg");
    assert_string_equal(p->entries[0].version_id, "3/L4kqtJl40Nr8X8gdRQBpUMLUo");
    assert_true(p->entries[0].is_latest);
    assert_false(p->entries[0].is_delete_marker);
    assert_int_equal(p->entries[0].size, 434234);
    assert_string_equal(p->entries[1].key, "my-second-image.jpg");
    assert_string_equal(p->entries[1].version_id, "03jpff543dhffds434rfdsFDN943fdsFkdmqnh892");
    assert_true(p->entries[1].is_delete_marker);
    assert_true(p->entries[1].is_latest);
    assert_null(p->entries[1].etag);
    assert_false(p->entries[1].has_size);
    assert_string_equal(p->entries[1].last_modified, "2009-11-12T17:50:30.000Z");
    assert_string_equal(p->entries[2].version_id, "QUpfdndhfd8438MNFDN93jdnJFkdmqnh893");
    assert_false(p->entries[2].is_latest);
    assert_false(p->entries[2].is_delete_marker);
    assert_string_equal(p->entries[2].etag, "\"9b2cf535f27731c974343645a3985328\"");
    assert_string_equal(p->entries[3].key, "my-third-image.jpg");
    assert_int_equal(p->entries[3].size, 64);
}

static void
check_versions_url(const struct s3_list_page *p)
{
    assert_int_equal(p->count, 2);
    assert_true(p->is_truncated);
    assert_string_equal(p->next_key_marker, "dir/sub dir/next");
    assert_string_equal(p->next_version_id_marker, "null");
    assert_string_equal(p->entries[0].key, "dir/caf\xC3\xA9 +1%.txt");
    assert_string_equal(p->entries[0].version_id, "null");
    assert_string_equal(p->entries[0].storage_class, "GLACIER_IR");
    assert_int_equal(p->entries[0].size, 0);
    assert_true(p->entries[0].has_size);
    assert_string_equal(p->entries[1].key, "dir/tab\tkey");
    assert_string_equal(p->entries[1].version_id, "v&2");
    assert_true(p->entries[1].is_delete_marker);
    assert_false(p->entries[1].is_latest);
}

static void
test_aws_examples_every_split(void **state)
{
    static const struct {
        const char *file;
        enum s3_list_kind kind;
        page_check_fn check;
    } cases[] = {
        {"list-objects-v2.xml", S3_LIST_OBJECTS_V2, check_v2},
        {"list-objects-v2-truncated.xml", S3_LIST_OBJECTS_V2, check_v2_truncated},
        {"list-object-versions.xml", S3_LIST_VERSIONS, check_versions},
        {"list-object-versions-url.xml", S3_LIST_VERSIONS, check_versions_url},
    };
    size_t i, len;
    char *doc;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        doc = read_fixture(cases[i].file, &len);
        every_split(cases[i].kind, doc, len, cases[i].check);
        free(doc);
    }
}

static void
check_entities(const struct s3_list_page *p)
{
    assert_int_equal(p->count, 2);
    assert_string_equal(p->entries[0].key, "a<b>&\"c'\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x01");
    assert_string_equal(p->entries[1].key, " leading and trailing ");
    assert_int_equal(p->entries[1].size, UINT64_MAX);
}

/* Entities, character references, self-closing and spaced tags, attributes with '>'. */
static void
test_entities_and_tags(void **state)
{
    static const char doc[] =
        "<ListBucketResult a='x>y' b=\"1\"><Prefix/><Contents ><Key>a&lt;b&gt;&amp;&quot;c&apos;"
        "&#233;&#x20AC;&#x1F600;&#1;</Key ><Size>1</Size></Contents>\n<Contents><Key> leading "
        "and trailing </Key><Size> 18446744073709551615 </Size><Owner><ID>x</ID></Owner>"
        "</Contents><IsTruncated> false </IsTruncated></ListBucketResult>\r\n ";

    (void)state;
    every_split(S3_LIST_OBJECTS_V2, doc, sizeof(doc) - 1, check_entities);
}

static void
expect_error(enum s3_list_kind kind, const char *doc, enum err want, const char *msg)
{
    struct s3_list_page p;
    char errbuf[ERRBUF_SIZE] = "";
    size_t len = strlen(doc), cut;
    enum err rc;

    for (cut = 0; cut <= len; cut++) {
        s3_list_page_init(&p);
        rc = decode(kind, doc, len, cut, 0, &p, errbuf, sizeof(errbuf));
        if (rc != want || !strstr(errbuf, msg))
            print_error("%s: %d %s\n", doc, rc, errbuf);
        assert_int_equal(rc, want);
        assert_non_null(strstr(errbuf, msg));
        s3_list_page_release(&p);
    }
}

static void
test_malformed(void **state)
{
    static const struct {
        enum s3_list_kind kind;
        const char *doc;
        const char *msg;
    } cases[] = {
        {S3_LIST_OBJECTS_V2, "", "no root element"},
        {S3_LIST_OBJECTS_V2, "  \n", "no root element"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult>", "cut short"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult><Contents><Key>k</Key>", "cut short"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult></ListBucketResul>", "mismatched end tag"},
        {S3_LIST_OBJECTS_V2, "<ListVersionsResult/>", "the root is not <ListBucketResult>"},
        {S3_LIST_VERSIONS, "<ListBucketResult/>", "the root is not <ListVersionsResult>"},
        {S3_LIST_OBJECTS_V2, "<Error><Code>x</Code></Error>", "the root is not"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult/><ListBucketResult/>", "a second root"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult/>x", "text outside the root"},
        {S3_LIST_OBJECTS_V2, "x<ListBucketResult/>", "text outside the root"},
        {S3_LIST_OBJECTS_V2, "<!DOCTYPE x><ListBucketResult/>", "not supported"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult><!-- c --></ListBucketResult>", "not supported"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult><![CDATA[x]]></ListBucketResult>", "not supported"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult><?pi?></ListBucketResult>", "not supported"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult>&nbsp;</ListBucketResult>", "unknown entity"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult>&#0;</ListBucketResult>", "character reference"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult>&#xD800;</ListBucketResult>",
         "character reference"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult>&#x110000;</ListBucketResult>",
         "character reference"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult>&#-1;</ListBucketResult>", "character reference"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult>&amp</ListBucketResult>", "unterminated entity"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult>\x01</ListBucketResult>", "control character"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult><1a/></ListBucketResult>", "tag name"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult a=\"<\"/>", "attribute value"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult/ >", "'/' not followed by '>'"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult></ListBucketResult x>", "end tag"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult><Contents/></ListBucketResult>",
         "an entry without a Key"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><Contents><Key></Key></Contents></ListBucketResult>",
         "an entry without a Key"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><Contents><Key>a</Key><Key>b</Key></Contents></ListBucketResult>",
         "given twice"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><Contents><Key>a<b/></Key></Contents></ListBucketResult>",
         "an element inside a value"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
         "Size is not a number"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><Contents><Key>a</Key><Size>18446744073709551616</Size></Contents>"
         "</ListBucketResult>",
         "Size out of range"},
        {S3_LIST_OBJECTS_V2, "<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
         "neither true nor false"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><EncodingType>base64</EncodingType></ListBucketResult>",
         "EncodingType is not url"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><Contents><Key>a%2</Key></Contents><EncodingType>url</EncodingType>"
         "</ListBucketResult>",
         "not URL-encoded"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><Contents><Key>a%00</Key></Contents><EncodingType>url</EncodingType>"
         "</ListBucketResult>",
         "not URL-encoded"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><Contents><Key>a%FF</Key></Contents><EncodingType>url</EncodingType>"
         "</ListBucketResult>",
         "not UTF-8"},
        {S3_LIST_OBJECTS_V2,
         "<ListBucketResult><Contents><Key>\xC0\xAF</Key></Contents></ListBucketResult>",
         "not UTF-8"},
        {S3_LIST_VERSIONS,
         "<ListVersionsResult><Version><Key>a</Key></Version></ListVersionsResult>",
         "without a VersionId"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].kind, cases[i].doc, ERR_BAD_INPUT, cases[i].msg);
}

static void
test_caps(void **state)
{
    struct buf doc;
    size_t i;

    (void)state;
    buf_init(&doc, 0);
    buf_append_str(&doc, "<ListBucketResult><Contents><Key>");
    for (i = 0; i <= S3_LIST_TEXT_MAX; i++)
        buf_append_char(&doc, 'k');
    buf_append_str(&doc, "</Key></Contents></ListBucketResult>");
    expect_error(S3_LIST_OBJECTS_V2, doc.data, ERR_TOO_LARGE, "over 8192 bytes");

    buf_reset(&doc);
    buf_append_str(&doc, "<ListBucketResult>");
    for (i = 0; i < 20; i++)
        buf_append_str(&doc, "<a>");
    expect_error(S3_LIST_OBJECTS_V2, doc.data, ERR_TOO_LARGE, "nesting deeper than 16");

    buf_reset(&doc);
    buf_append_str(&doc, "<ListBucketResult><");
    for (i = 0; i < 70; i++)
        buf_append_char(&doc, 'n');
    expect_error(S3_LIST_OBJECTS_V2, doc.data, ERR_TOO_LARGE, "tag name over 64 bytes");

    buf_reset(&doc);
    buf_append_str(&doc, "<ListBucketResult>");
    for (i = 0; i <= S3_LIST_ENTRIES_MAX; i++)
        buf_append_str(&doc, "<Contents><Key>k</Key></Contents>");
    buf_append_str(&doc, "</ListBucketResult>");
    {
        struct s3_list_page p;
        char errbuf[ERRBUF_SIZE];

        s3_list_page_init(&p);
        assert_int_equal(
            decode(S3_LIST_OBJECTS_V2, doc.data, doc.len, doc.len, 0, &p, errbuf, sizeof(errbuf)),
            ERR_TOO_LARGE);
        assert_int_equal(p.count, S3_LIST_ENTRIES_MAX);
        s3_list_page_release(&p);
    }
    buf_release(&doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_examples_every_split),
        cmocka_unit_test(test_entities_and_tags),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_caps),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
