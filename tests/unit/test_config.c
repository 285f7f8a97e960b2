/*
 * test_config.c - the known settings (suggestions, sources, values) and the
 * DATABASE_URL helpers that keep its password out of sight
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "storage/conninfo.h"

static void
test_suggest(void **state)
{
    (void)state;
    assert_string_equal(config_suggest("INGESTD_LISTN"), "INGESTD_LISTEN");    /* delete */
    assert_string_equal(config_suggest("INGESTD_LSITEN"), "INGESTD_LISTEN");   /* swap */
    assert_string_equal(config_suggest("INGESTD_LISTENN"), "INGESTD_LISTEN");  /* insert */
    assert_string_equal(config_suggest("INGESTD_DB_POLO"), "INGESTD_DB_POOL"); /* 2 edits */
    assert_string_equal(config_suggest("INGESTD_DATA_DIRS"), "INGESTD_DATA_DIR");
    assert_null(config_suggest("INGESTD_LISTEN"));     /* known: nothing to suggest */
    assert_null(config_suggest("INGESTD_WEBHOOKS"));   /* 3+ edits from everything */
    assert_null(config_suggest("INGESTD_XYZZY_FROB")); /* far from everything */
    assert_null(config_suggest(""));
}

struct seen {
    struct buf text; /* "NAME|source|value\n" per setting */
};

static void
collect(const struct config_setting *s, void *ud)
{
    struct seen *seen = ud;

    buf_printf(&seen->text, "%s|%s|%s\n", s->name, s->source, s->value ? s->value : "(unset)");
}

static void
test_each_sources_and_values(void **state)
{
    struct config cfg;
    struct seen seen;
    char errbuf[ERRBUF_SIZE] = "";

    (void)state;
    setenv("INGESTD_DB_POOL", "7", 1);
    setenv("INGESTD_LISTEN", "[::1]:9", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-2", 1);
    unsetenv("AWS_REGION");
    unsetenv("INGESTD_MAX_ROWS");
    unsetenv("DATABASE_URL");
    unsetenv("DATABASE_URL_FILE");
    if (config_load(&cfg, errbuf, sizeof(errbuf)))
        fail_msg("config_load: %s", errbuf);
    buf_init(&seen.text, 0);
    config_each(&cfg, collect, &seen);
    assert_non_null(strstr(seen.text.data, "INGESTD_DB_POOL|environment|7\n"));
    assert_non_null(strstr(seen.text.data, "INGESTD_LISTEN|environment|[::1]:9\n"));
    assert_non_null(strstr(seen.text.data, "INGESTD_MAX_ROWS|default|1000000\n"));
    assert_non_null(strstr(seen.text.data, "INGESTD_DB_WAIT|default|60\n"));
    assert_non_null(strstr(seen.text.data, "AWS_REGION|AWS_DEFAULT_REGION|eu-west-2\n"));
    assert_non_null(strstr(seen.text.data, "DATABASE_URL|default|(unset)\n"));
    buf_release(&seen.text);
    config_release(&cfg);
    unsetenv("INGESTD_DB_POOL");
    unsetenv("INGESTD_LISTEN");
    unsetenv("AWS_DEFAULT_REGION");
}

/* INGESTD_REPOS_HISTORY: seconds, or a number with one unit s/m/h/d; junk fails the load. */
static void
test_repos_history_duration(void **state)
{
    static const struct {
        const char *value;
        long long seconds; /* -1: rejected */
    } cases[] = {
        {NULL, 90LL * 86400},
        {"", 90LL * 86400},
        {"0", 0},
        {"3600", 3600},
        {"45s", 45},
        {"30m", 1800},
        {"12h", 43200},
        {"90d", 7776000},
        {"36500d", 3153600000LL},
        {"36501d", -1},
        {"-1", -1},
        {"1.5h", -1},
        {"h", -1},
        {"12hh", -1},
        {"12w", -1},
        {" 12h", -1},
        {"+12h", -1},
        {"99999999999999999999", -1},
    };
    struct config cfg;
    char errbuf[ERRBUF_SIZE] = "";
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum err rc;

        if (cases[i].value)
            setenv("INGESTD_REPOS_HISTORY", cases[i].value, 1);
        else
            unsetenv("INGESTD_REPOS_HISTORY");
        rc = config_load(&cfg, errbuf, sizeof(errbuf));
        if (cases[i].seconds < 0) {
            if (rc == ERR_OK)
                fail_msg("\"%s\" was accepted as %lld s", cases[i].value, cfg.repos_history_s);
            assert_true(strncmp(errbuf, "INGESTD_REPOS_HISTORY: ", 23) == 0);
            continue;
        }
        if (rc)
            fail_msg("\"%s\": %s", cases[i].value ? cases[i].value : "(unset)", errbuf);
        assert_int_equal(cfg.repos_history_s, cases[i].seconds);
        config_release(&cfg);
    }
    unsetenv("INGESTD_REPOS_HISTORY");
}

static void
test_conninfo_check(void **state)
{
    char errbuf[ERRBUF_SIZE] = "";

    (void)state;
    assert_int_equal(
        conninfo_check("postgresql://u:pw@h:5432/db", "DATABASE_URL", errbuf, sizeof(errbuf)),
        ERR_OK);
    assert_int_equal(conninfo_check("host=h dbname=d", "DATABASE_URL", errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(
        conninfo_check("host=h password=sekrit junk", "DATABASE_URL_FILE", errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_true(strncmp(errbuf, "DATABASE_URL_FILE: ", 19) == 0);
    assert_null(strstr(errbuf, "sekrit"));
    assert_null(strstr(errbuf, "junk"));
    assert_int_equal(
        conninfo_check("postgresql://u:sekrit@[::1/db", "DATABASE_URL", errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_null(strstr(errbuf, "sekrit"));
}

static void
want_redacted(const char *conninfo, const char *want)
{
    char *got = conninfo_redacted(conninfo);

    if (strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", conninfo, got, want);
    free(got);
}

static void
test_conninfo_redacted(void **state)
{
    (void)state;
    want_redacted("postgresql://ingestd:sekrit@db.example:6432/ingestd?sslmode=require",
                  "user=ingestd password=<redacted> dbname=ingestd host=db.example port=6432 "
                  "sslmode=require");
    want_redacted("postgres://u@h/d?password=sekrit", "user=u password=<redacted> dbname=d host=h");
    want_redacted("host=h dbname='my db' password='se cr\\'et' sslpassword=x "
                  "application_name='a\\\\b'",
                  "password=<redacted> dbname='my db' host=h application_name='a\\\\b' "
                  "sslpassword=<redacted>");
    want_redacted("", "");
    want_redacted("host=h password=sekrit junk", "<redacted: not a valid connection string>");
}

static void
test_conninfo_scrub(void **state)
{
    char out[ERRBUF_SIZE];

    (void)state;
    conninfo_scrub("host=h password=hunter2",
                   "connection to server at \"h\" failed: hunter2?\n\tIs it running?\n", out,
                   sizeof(out));
    assert_string_equal(out, "connection to server at \"h\" failed: <redacted>? Is it running?");
    conninfo_scrub("not a conninfo", "  plain\r\nmessage  ", out, sizeof(out));
    assert_string_equal(out, "plain message");
    conninfo_scrub("host=h", NULL, out, sizeof(out));
    assert_string_equal(out, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_each_sources_and_values),
        cmocka_unit_test(test_conninfo_check),
        cmocka_unit_test(test_conninfo_redacted),
        cmocka_unit_test(test_repos_history_duration),
        cmocka_unit_test(test_conninfo_scrub),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
