/*
 * test_s3_query.c - the catalog's filters as SQL with bound parameters (storage/s3_query.c)
 *
 * The builder is pure: these tests read the WHERE clause and its parameters
 * it makes. That every filter selects the right records is tested against
 * PostgreSQL over HTTP in tests/integration/test_s3_filters.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "storage/s3_query.h"

/* Build q's clause; fail unless it is `sql` with exactly the parameters given (NULL-ended). */
static void
want_where(const struct s3_query *q, const char *sql, ...)
{
    struct s3_where w;
    const char *p;
    va_list ap;
    int n = 0;

    s3_query_where(q, &w);
    if (strcmp(w.sql.data, sql) != 0)
        fail_msg("where\n  %s\nwant\n  %s", w.sql.data, sql);
    va_start(ap, sql);
    while ((p = va_arg(ap, const char *)) != NULL) {
        if (n >= w.nparams)
            fail_msg("only %d parameters, want more (%s)", w.nparams, p);
        if (strcmp(w.params[n], p) != 0)
            fail_msg("parameter %d: %s, want %s", n + 1, w.params[n], p);
        n++;
    }
    va_end(ap);
    assert_int_equal(n, w.nparams);
    s3_where_release(&w);
}

static void
add_ok(struct s3_query *q, const char *name, enum s3_join join, const char *v)
{
    char errbuf[ERRBUF_SIZE];
    int f = s3_query_field(name);

    assert_true(f >= 0);
    if (s3_query_add(q, (enum s3_field)f, join, v, errbuf, sizeof(errbuf)))
        fail_msg("%s=%s: %s", name, v, errbuf);
}

static void
add_bad(const char *name, const char *v, const char *detail)
{
    struct s3_query q;
    char errbuf[ERRBUF_SIZE] = "";

    s3_query_init(&q);
    assert_int_equal(s3_query_add(&q, (enum s3_field)s3_query_field(name), S3_JOIN_OR, v, errbuf,
                                  sizeof(errbuf)),
                     ERR_BAD_INPUT);
    if (!strstr(errbuf, detail))
        fail_msg("%s=%s: \"%s\" does not contain \"%s\"", name, v, errbuf, detail);
    assert_int_equal(q.nconds, 0);
    s3_query_release(&q);
}

static void
test_empty(void **state)
{
    struct s3_query q;

    (void)state;
    s3_query_init(&q);
    want_where(&q, " WHERE true AND is_current", NULL);
    q.current_only = 0;
    want_where(&q, " WHERE true", NULL);
    s3_query_release(&q);
}

static void
test_patterns_or_and(void **state)
{
    struct s3_query q;

    (void)state;
    s3_query_init(&q);
    q.current_only = 0;
    add_ok(&q, "key", S3_JOIN_OR, "a/*");
    add_ok(&q, "key", S3_JOIN_AND, "*.txt");
    add_ok(&q, "key", S3_JOIN_OR, "b_1%");
    add_ok(&q, "key", S3_JOIN_AND, "*x?");
    add_ok(&q, "bucket", S3_JOIN_OR, "bkt");
    /* filters in a fixed order; OR group then AND group; values never in the SQL */
    want_where(&q,
               " WHERE true AND (bucket LIKE $1) AND (key LIKE $2 OR key LIKE $3) AND (key LIKE $4 "
               "AND key LIKE $5)",
               "bkt", "a/%", "b\\_1\\%", "%.txt", "%x_", NULL);
    q.case_insensitive = 1;
    want_where(&q,
               " WHERE true AND (bucket ILIKE $1) AND (key ILIKE $2 OR key ILIKE $3) AND (key "
               "ILIKE $4 AND key ILIKE $5)",
               "bkt", "a/%", "b\\_1\\%", "%.txt", "%x_", NULL);
    s3_query_release(&q);
}

#define ALL_BUCKETS                                                                                \
    " AND bucket = ANY (ARRAY(WITH RECURSIVE b(v) AS (SELECT min(bucket) FROM s3_objects UNION "   \
    "ALL SELECT (SELECT min(bucket) FROM s3_objects WHERE bucket > b.v) FROM b WHERE b.v IS NOT "  \
    "NULL) SELECT v FROM b WHERE v IS NOT NULL))"

/* A key with a literal start and no exact bucket: every bucket, so the (bucket, key) index serves
 * it. */
static void
test_key_without_bucket(void **state)
{
    struct s3_query q;

    (void)state;
    s3_query_init(&q);
    add_ok(&q, "key", S3_JOIN_OR, "run/*.bam");
    want_where(&q, " WHERE true AND (key LIKE $1)" ALL_BUCKETS " AND is_current", "run/%.bam",
               NULL);
    add_ok(&q, "bucket", S3_JOIN_OR, "b*"); /* a bucket pattern: still every bucket */
    want_where(&q,
               " WHERE true AND (bucket LIKE $1) AND (key LIKE $2)" ALL_BUCKETS " AND is_current",
               "b%", "run/%.bam", NULL);
    q.case_insensitive = 1; /* ILIKE: no index range */
    want_where(&q, " WHERE true AND (bucket ILIKE $1) AND (key ILIKE $2) AND is_current", "b%",
               "run/%.bam", NULL);
    s3_query_release(&q);

    s3_query_init(&q);
    add_ok(&q, "key", S3_JOIN_OR, "\\*literal/*"); /* an escaped '*' is a literal start */
    want_where(&q, " WHERE true AND (key LIKE $1)" ALL_BUCKETS " AND is_current", "*literal/%",
               NULL);
    s3_query_release(&q);

    s3_query_init(&q);
    add_ok(&q, "key", S3_JOIN_OR, "*/sample.bam"); /* a leading wildcard: no range to read */
    want_where(&q,
               " WHERE true AND ((key LIKE $1 AND s3_key_segments(key) @@ $2::tsquery)) AND "
               "is_current",
               "%/sample.bam", "'sample.bam'", NULL);
    add_ok(&q, "key", S3_JOIN_OR, "?x");
    want_where(&q,
               " WHERE true AND ((key LIKE $1 AND s3_key_segments(key) @@ $2::tsquery) OR key "
               "LIKE $3) AND is_current",
               "%/sample.bam", "'sample.bam'", "_x", NULL);
    s3_query_release(&q);
}

/* The segments' tsquery (migration 0026) of key pattern p, or NULL when the clause has none. */
static void
want_segments(const char *p, const char *tsquery)
{
    struct s3_query q;
    struct s3_where w;

    s3_query_init(&q);
    q.current_only = 0;
    add_ok(&q, "key", S3_JOIN_OR, p);
    s3_query_where(&q, &w);
    if (!tsquery) {
        if (w.nparams != 1 || strstr(w.sql.data, "s3_key_segments"))
            fail_msg("%s: %s (%d parameters), want no segments", p, w.sql.data, w.nparams);
    } else {
        assert_string_equal(
            w.sql.data, " WHERE true AND ((key LIKE $1 AND s3_key_segments(key) @@ $2::tsquery))");
        assert_int_equal(w.nparams, 2);
        if (strcmp(w.params[1], tsquery) != 0)
            fail_msg("%s: tsquery %s, want %s", p, w.params[1], tsquery);
    }
    s3_where_release(&w);
    q.case_insensitive = 1; /* the same terms serve ILIKE (lower-cased lexemes and terms) */
    s3_query_where(&q, &w);
    if (!tsquery) {
        assert_null(strstr(w.sql.data, "s3_key_segments"));
    } else {
        assert_string_equal(
            w.sql.data, " WHERE true AND ((key ILIKE $1 AND s3_key_segments(key) @@ $2::tsquery))");
        assert_string_equal(w.params[1], tsquery);
    }
    s3_where_release(&w);
    s3_query_release(&q);
}

/* A key pattern that starts with a wildcard: each literal run after a `/` is a segment's start
 * (a wildcard follows) or a whole segment (a `/` or the end follows). */
static void
test_key_segments(void **state)
{
    char long_piece[600];
    char want[700];

    (void)state;
    want_segments("*/sample0042*.bam", "'sample0042':*");
    want_segments("*/run00420/sample*", "'run00420' & 'sample':*");
    want_segments("*/run00420/", "'run00420'");
    want_segments("*x/a?b/c", "'a':* & 'c'");
    want_segments("?/a//b*", "'a' & 'b':*"); /* an empty segment: nothing */
    want_segments("*/it's\\\\ok:* & !x|(y)", "'it''s\\\\ok:':*");
    want_segments("*/\\*lit\\?*", "'*lit?':*"); /* escaped wildcards are literal */
    want_segments("*/50%_off/x", "'50%_off' & 'x'");
    /* ASCII letters in lower case, as the lexemes; other letters as they are */
    want_segments("*/Run00420/SAMPLE*", "'run00420' & 'sample':*");
    want_segments("*/\xc3\x89t\xc3\xa9/Z", "'\xc3\x89t\xc3\xa9' & 'z'");
    /* no literal after a `/`, or a literal start (the B-tree ranges serve those) */
    want_segments("*sample0042*", NULL);
    want_segments("*/*", NULL);
    want_segments("*/", NULL);
    want_segments("run/*/x", NULL);
    want_segments("\\*/x", NULL);
    /* over 255 characters: the first 255 whole characters, as a prefix */
    memset(long_piece, 'a', 300);
    memcpy(long_piece, "*/\xc3\xa9", 4); /* a 2-byte character first */
    long_piece[300] = '\0';
    snprintf(want, sizeof(want), "'\xc3\xa9%.*s':*", 254, long_piece + 4);
    want_segments(long_piece, want);
    long_piece[4 + 254] = '\0'; /* 255 characters exactly: whole */
    snprintf(want, sizeof(want), "'\xc3\xa9%.*s'", 254, long_piece + 4);
    want_segments(long_piece, want);
}

static void
test_typed_filters(void **state)
{
    struct s3_query q;

    (void)state;
    s3_query_init(&q);
    add_ok(&q, "size", S3_JOIN_OR, "42");
    add_ok(&q, "eventType", S3_JOIN_OR, "Created"); /* single-valued: the last counts */
    add_ok(&q, "eventType", S3_JOIN_OR, "Deleted");
    add_ok(&q, "isDeleteMarker", S3_JOIN_OR, "false");
    add_ok(&q, "ingestId", S3_JOIN_OR, "0AB3C4D5-0000-4000-8000-00000000000F");
    add_ok(&q, "storageClass", S3_JOIN_OR, "DeepArchive");
    add_ok(&q, "storageClass", S3_JOIN_OR, "GLACIER");
    add_ok(&q, "eTag", S3_JOIN_OR, "abc");
    add_ok(&q, "reason", S3_JOIN_OR, "Crawl");
    add_ok(&q, "sha256", S3_JOIN_OR, "x'; DROP TABLE s3_objects; --");
    want_where(&q,
               " WHERE true AND (event_type = $1) AND (size = $2::bigint) AND (sha256 = $3) AND "
               "(etag = $4) AND (storage_class = $5 OR storage_class = $6) AND (is_delete_marker "
               "= $7::boolean) AND (reason = $8) AND (ingest_id = $9::uuid) AND is_current",
               "Deleted", "42", "x'; DROP TABLE s3_objects; --", "\"abc\"", "DEEP_ARCHIVE",
               "GLACIER", "false", "Crawl", "0ab3c4d5-0000-4000-8000-00000000000f", NULL);
    s3_query_release(&q);
}

static void
test_dates(void **state)
{
    struct s3_query q;
    struct s3_where w;

    (void)state;
    s3_query_init(&q);
    q.current_only = 0;
    /* RFC 3339: compared as a timestamp (normalised to UTC) */
    add_ok(&q, "eventTime", S3_JOIN_OR, "2026-11-21T12:15:30.1+02:00");
    want_where(&q, " WHERE true AND (event_time = $1::timestamptz)", "2026-11-21T10:15:30.100Z",
               NULL);
    s3_query_release(&q);
    s3_query_init(&q);
    q.current_only = 0;
    /* anything else: a pattern on the text forms */
    add_ok(&q, "lastModifiedDate", S3_JOIN_OR, "2026-11-2?*");
    s3_query_where(&q, &w);
    assert_non_null(strstr(w.sql.data, "to_char(last_modified AT TIME ZONE 'UTC'"));
    assert_non_null(
        strstr(w.sql.data, "((last_modified AT TIME ZONE 'UTC')::text || '+00') LIKE $1"));
    assert_int_equal(w.nparams, 1);
    assert_string_equal(w.params[0], "2026-11-2_%");
    s3_where_release(&w);
    s3_query_release(&q);
}

static void
test_computed_fields(void **state)
{
    struct s3_query q;
    struct s3_where w;

    (void)state;
    s3_query_init(&q);
    add_ok(&q, "archiveStatus", S3_JOIN_OR, "DeepArchiveAccess");
    add_ok(&q, "isAccessible", S3_JOIN_OR, "true");
    s3_query_where(&q, &w);
    assert_non_null(strstr(w.sql.data, "(" S3_SQL_ARCHIVE_STATUS " = $1)"));
    assert_non_null(strstr(w.sql.data, "(" S3_SQL_IS_ACCESSIBLE " = $2::boolean)"));
    assert_string_equal(w.params[0], "DeepArchiveAccess");
    assert_string_equal(w.params[1], "true");
    s3_where_release(&w);
    s3_query_release(&q);
}

/* LIKE's own characters in an attribute wildcard are literal in its prefilter. */
static void
test_attribute_prefilter(void **state)
{
    const char *const p[] = {"a_b%"};
    struct s3_query q;
    char errbuf[ERRBUF_SIZE];

    (void)state;
    s3_query_init(&q);
    assert_int_equal(s3_query_add_attribute(&q, p, 1, "5%_x\\\\y\\?*", errbuf, sizeof(errbuf)),
                     ERR_OK);
    want_where(&q,
               " WHERE true AND ((attributes::text LIKE $1 AND attributes @? $2::jsonpath)) AND "
               "is_current",
               "%\"a\\_b\\%\": %\"5\\%\\_x%y?%",
               "$.\"a_b%\" ? (@ like_regex \"^5%_x\\\\\\\\y\\\\?.*$\" flag \"s\")", NULL);
    s3_query_release(&q);
    /* a pattern of wildcards alone under a key jsonb escapes: no prefilter */
    s3_query_init(&q);
    {
        const char *const e[] = {"k\""};

        assert_int_equal(s3_query_add_attribute(&q, e, 1, "*", errbuf, sizeof(errbuf)), ERR_OK);
    }
    want_where(&q, " WHERE true AND (attributes @? $1::jsonpath) AND is_current",
               "$.\"k\\\"\" ? (@ like_regex \"^.*$\" flag \"s\")", NULL);
    s3_query_release(&q);
}

static void
test_attributes(void **state)
{
    const char *const p1[] = {"run", "id"};
    const char *const p2[] = {"we\"ird\\ key\n"};
    const char *const p3[] = {"portal"};
    struct s3_query q;
    char errbuf[ERRBUF_SIZE];

    (void)state;
    s3_query_init(&q);
    q.current_only = 0;
    assert_int_equal(s3_query_add_attribute(&q, p1, 2, "7", errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(s3_query_add_attribute(&q, p2, 1, "a\"b\\*", errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(s3_query_add_attribute(&q, p1, 2, "8", errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(s3_query_add_attribute(&q, p3, 1, "2024*.x?", errbuf, sizeof(errbuf)), ERR_OK);
    /* one path's values OR-ed, paths AND-ed; keys and strings quoted in jsonpath; anchored regexes
     */
    /* a wildcard also gets a LIKE on the text form that every match satisfies (the trigram
     * index's): the leaf key as jsonb writes it, then the value's literal runs after a quote */
    want_where(&q,
               " WHERE true AND (attributes @? $1::jsonpath OR attributes @? $2::jsonpath) AND "
               "(attributes @? $3::jsonpath) AND ((attributes::text LIKE $4 AND attributes @? "
               "$5::jsonpath))",
               "$.\"run\".\"id\" ? (@ == \"7\")", "$.\"run\".\"id\" ? (@ == \"8\")",
               "$.\"we\\\"ird\\\\ key\\u000a\" ? (@ == \"a\\\"b*\")", "%\"portal\": %\"2024%.x%",
               "$.\"portal\" ? (@ like_regex \"^2024.*\\\\.x.$\" flag \"s\")", NULL);
    /* case-insensitive: every value is a regex; a letter matches any one character, a key
     * jsonb escapes is left out */
    q.case_insensitive = 1;
    want_where(&q,
               " WHERE true AND ((attributes::text LIKE $1 AND attributes @? $2::jsonpath) OR "
               "(attributes::text LIKE $3 AND attributes @? $4::jsonpath)) AND "
               "((attributes::text LIKE $5 AND attributes @? $6::jsonpath)) AND "
               "((attributes::text LIKE $7 AND attributes @? $8::jsonpath))",
               "%\"id\": %\"7%", "$.\"run\".\"id\" ? (@ like_regex \"^7$\" flag \"is\")",
               "%\"id\": %\"8%", "$.\"run\".\"id\" ? (@ like_regex \"^8$\" flag \"is\")",
               "%\"_%_*%",
               "$.\"we\\\"ird\\\\ key\\u000a\" ? (@ like_regex \"^a\\\"b\\\\*$\" flag \"is\")",
               "%\"portal\": %\"2024%._%",
               "$.\"portal\" ? (@ like_regex \"^2024.*\\\\.x.$\" flag \"is\")", NULL);
    assert_int_equal(s3_query_add_attribute(&q, p1, 0, "x", errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_int_equal(s3_query_add_attribute(&q, p1, 1, "x\\y", errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    s3_query_release(&q);
}

static void
test_id_and_params(void **state)
{
    struct s3_query q;
    struct s3_where w;

    (void)state;
    s3_query_init(&q);
    q.id = "7d2f3c1e-9a4b-4e6f-8c1d-2b3a4c5d6e7f";
    q.current_only = 0;
    add_ok(&q, "bucket", S3_JOIN_OR, "b");
    s3_query_where(&q, &w);
    assert_string_equal(w.sql.data, " WHERE true AND (bucket LIKE $1) AND id = $2::uuid");
    assert_int_equal(s3_where_param(&w, "10"), 3);
    assert_string_equal(w.params[2], "10");
    s3_where_release(&w);
    s3_query_release(&q);
}

static void
test_bad_values(void **state)
{
    struct s3_query q;
    char errbuf[ERRBUF_SIZE];
    char big[S3_QUERY_MAX_VALUE_BYTES + 2];
    int i;

    (void)state;
    add_bad("eventType", "Removed", "must be Created or Deleted");
    add_bad("size", "12a", "must be an integer");
    add_bad("size", " 1", "must be an integer");
    add_bad("size", "99999999999999999999", "must be an integer");
    add_bad("isAccessible", "yes", "must be true or false");
    add_bad("ingestId", "not-a-uuid", "must be a UUID");
    add_bad("storageClass", "Cold", "unknown storage class");
    add_bad("reason", "Made", "unknown reason");
    add_bad("archiveStatus", "Frozen", "must be ArchiveAccess or DeepArchiveAccess");
    add_bad("key", "a\\s", "invalid escape");
    add_bad("eventTime", "2026\\", "invalid escape");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    add_bad("key", big, "longer than");
    assert_int_equal(s3_query_field("attributes"), -1);
    assert_int_equal(s3_query_field("nope"), -1);
    /* the caps on values, per filter and in all, before any allocation for the one past it */
    s3_query_init(&q);
    for (i = 0; i < S3_QUERY_MAX_FIELD_VALUES; i++)
        add_ok(&q, "key", S3_JOIN_OR, "k");
    assert_int_equal(s3_query_add(&q, S3F_KEY, S3_JOIN_AND, "k", errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_string_equal(errbuf, "at most 100 values");
    for (i = S3_QUERY_MAX_FIELD_VALUES; i < S3_QUERY_MAX_VALUES; i++)
        add_ok(&q, "bucket", S3_JOIN_OR, "b");
    assert_int_equal(s3_query_add(&q, S3F_SIZE, S3_JOIN_OR, "1", errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_string_equal(errbuf, "at most 150 filter values in all");
    assert_int_equal(q.nconds, S3_QUERY_MAX_VALUES);
    s3_query_release(&q);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_patterns_or_and),
        cmocka_unit_test(test_key_without_bucket),
        cmocka_unit_test(test_key_segments),
        cmocka_unit_test(test_typed_filters),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_computed_fields),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_attribute_prefilter),
        cmocka_unit_test(test_id_and_params),
        cmocka_unit_test(test_bad_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
