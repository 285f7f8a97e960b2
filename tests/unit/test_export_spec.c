/*
 * test_export_spec.c - INGESTD_EXPORTS: kinds, parts, names without credentials, errors
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/export_spec.h"

static struct export_target *
parse_ok(const char *list, size_t want_n)
{
    struct export_target *v = NULL;
    char errbuf[ERRBUF_SIZE];
    size_t n = 99;

    if (export_spec_parse(list, &v, &n, errbuf, sizeof(errbuf)))
        fail_msg("%s: %s", list, errbuf);
    assert_int_equal(n, want_n);
    return v;
}

static void
parse_bad(const char *list, const char *want_in_message, const char *secret)
{
    struct export_target *v = (struct export_target *)1;
    char errbuf[ERRBUF_SIZE];
    size_t n = 99;

    assert_int_equal(export_spec_parse(list, &v, &n, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_true(strncmp(errbuf, "INGESTD_EXPORTS: ", 17) == 0);
    if (!strstr(errbuf, want_in_message))
        fail_msg("\"%s\" lacks \"%s\"", errbuf, want_in_message);
    if (secret)
        assert_null(strstr(errbuf, secret));
}

static void
test_every_kind(void **state)
{
    struct export_target *v =
        parse_ok(" /var/exports/effective-repos.csv , s3://config/path/effective-repos.csv,"
                 "https://admin:pa55@artifactory.example.com/generic/effective-repos.csv?sig=x,"
                 "git@github.com:org/config.git:path/to/effective-repos.csv,"
                 "file:///srv/git/config.git:effective-repos.csv",
                 5);

    (void)state;
    assert_int_equal(v[0].kind, EXPORT_FILE);
    assert_string_equal(v[0].path, "/var/exports/effective-repos.csv");
    assert_string_equal(v[0].name, "/var/exports/effective-repos.csv");
    assert_int_equal(v[1].kind, EXPORT_S3);
    assert_string_equal(v[1].bucket, "config");
    assert_string_equal(v[1].key, "path/effective-repos.csv");
    assert_int_equal(v[2].kind, EXPORT_HTTP);
    assert_string_equal(v[2].url,
                        "https://admin:pa55@artifactory.example.com/generic/effective-repos.csv"
                        "?sig=x");
    assert_string_equal(v[2].name, "https://artifactory.example.com/generic/effective-repos.csv");
    assert_int_equal(v[3].kind, EXPORT_GIT);
    assert_string_equal(v[3].url, "git@github.com:org/config.git");
    assert_string_equal(v[3].path, "path/to/effective-repos.csv");
    assert_string_equal(v[3].name, "git@github.com:org/config.git:path/to/effective-repos.csv");
    assert_int_equal(v[4].kind, EXPORT_GIT);
    assert_string_equal(v[4].url, "file:///srv/git/config.git");
    assert_string_equal(v[4].path, "effective-repos.csv");
    assert_string_equal(export_kind_name(v[4].kind), "git");
    export_spec_free(v, 5);
}

static void
test_git_over_https_keeps_its_token_out_of_the_name(void **state)
{
    struct export_target *v = parse_ok("https://bot:ghp_secret@github.com/org/cfg.git:a/b.csv", 1);

    (void)state;
    assert_int_equal(v[0].kind, EXPORT_GIT);
    assert_string_equal(v[0].url, "https://bot:ghp_secret@github.com/org/cfg.git");
    assert_string_equal(v[0].name, "https://github.com/org/cfg.git:a/b.csv");
    export_spec_free(v, 1);
}

static void
test_empty_and_unset_are_no_targets(void **state)
{
    struct export_target *v = (struct export_target *)1;
    char errbuf[ERRBUF_SIZE];
    size_t n = 5;

    (void)state;
    assert_int_equal(export_spec_parse(NULL, &v, &n, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(n, 0);
    export_spec_free(v, n);
    assert_int_equal(export_spec_parse("", &v, &n, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(n, 0);
    export_spec_free(v, n);
}

static void
test_bad_entries_are_named_without_secrets(void **state)
{
    (void)state;
    parse_bad("relative/effective.csv", "entry 1 is not an absolute file path", NULL);
    parse_bad("/ok.csv,,s3://b/k", "entry 2 is empty", NULL);
    parse_bad("/dir/", "entry 1 is not", NULL);
    parse_bad("s3://bucket", "entry 1: expected s3://bucket/key", NULL);
    parse_bad("s3:///key", "entry 1: expected s3://bucket/key", NULL);
    parse_bad("s3://b/dir/", "entry 1: expected s3://bucket/key", NULL);
    parse_bad("http://u:hunter2@host", "entry 1: expected http(s)://host/path", "hunter2");
    parse_bad("https://u:hunter2@host/", "entry 1: expected http(s)://host/path", "hunter2");
    parse_bad("git@h:o/r.git:../x.csv", "relative path in the repository", NULL);
    parse_bad("git@h:o/r.git:a//b.csv", "relative path in the repository", NULL);
    parse_bad("ftp://h/x.csv", "entry 1 is not", NULL);
    parse_bad("/a b.csv", "printable ASCII", NULL);
    parse_bad("/a.csv,/a.csv", "entries 1 and 2 name the same target", NULL);
    /* the same destination with other credentials is the same target */
    parse_bad("http://a:1@h/x.csv,http://b:2@h/x.csv", "name the same target", NULL);
}

static void
test_too_many_targets(void **state)
{
    char list[EXPORT_SPEC_MAX_TARGETS * 16 + 64] = "";
    int i;

    (void)state;
    for (i = 0; i <= EXPORT_SPEC_MAX_TARGETS; i++) {
        char one[16];

        snprintf(one, sizeof(one), "%s/t%d.csv", i ? "," : "", i);
        strcat(list, one);
    }
    parse_bad(list, "more than 32 targets", NULL);
}

static void
test_redact(void **state)
{
    char *s;

    (void)state;
    s = export_spec_redact("https://u:p@a@host:8443/x/y.csv?token=1#f");
    assert_string_equal(s, "https://host:8443/x/y.csv");
    free(s);
    s = export_spec_redact("http://host/path@x.csv");
    assert_string_equal(s, "http://host/path@x.csv"); /* an '@' in the path is no userinfo */
    free(s);
    s = export_spec_redact("git@github.com:org/r.git");
    assert_string_equal(s, "git@github.com:org/r.git");
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_git_over_https_keeps_its_token_out_of_the_name),
        cmocka_unit_test(test_empty_and_unset_are_no_targets),
        cmocka_unit_test(test_bad_entries_are_named_without_secrets),
        cmocka_unit_test(test_too_many_targets),
        cmocka_unit_test(test_redact),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
