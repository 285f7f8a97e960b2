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
#include <unistd.h>

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

/* config_load() with one variable set; ERR_OK or the error with its message in errbuf. */
static enum err
load_with(const char *name, const char *value, struct config *cfg, char *errbuf, size_t errlen)
{
    enum err rc;

    setenv(name, value, 1);
    rc = config_load(cfg, errbuf, errlen);
    unsetenv(name);
    return rc;
}

static void
want_sqs_error(const char *name, const char *value, const char *fragment)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct config cfg;

    assert_int_equal(load_with(name, value, &cfg, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    if (!strstr(errbuf, fragment))
        fail_msg("%s=%s: \"%s\" lacks \"%s\"", name, value, errbuf, fragment);
}

static void
test_sqs_settings(void **state)
{
    char errbuf[ERRBUF_SIZE] = "";
    struct config cfg;
    struct buf many;
    int i;

    (void)state;
    unsetenv("DATABASE_URL");
    if (config_load(&cfg, errbuf, sizeof(errbuf)))
        fail_msg("config_load: %s", errbuf);
    assert_null(cfg.sqs_queues);
    assert_int_equal(cfg.sqs_wait_s, 20);
    assert_int_equal(cfg.sqs_visibility_s, 60);
    assert_string_equal(cfg.sqs_poison, "keep");
    assert_null(cfg.sqs_endpoint_url);
    config_release(&cfg);
    assert_int_equal(load_with("INGESTD_SQS_QUEUES",
                               " https://sqs.us-east-1.amazonaws.com/123456789012/a ,"
                               "http://127.0.0.1:4566/000000000000/b",
                               &cfg, errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_string_equal(cfg.sqs_queues, "https://sqs.us-east-1.amazonaws.com/123456789012/a,"
                                        "http://127.0.0.1:4566/000000000000/b");
    config_release(&cfg);
    assert_int_equal(load_with("INGESTD_SQS_POISON", "delete", &cfg, errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_string_equal(cfg.sqs_poison, "delete");
    config_release(&cfg);
    want_sqs_error("INGESTD_SQS_QUEUES", "sqs.us-east-1.amazonaws.com/1/a", "entry 1 is not");
    want_sqs_error("INGESTD_SQS_QUEUES", "https://sqs.us-east-1.amazonaws.com/",
                   "INGESTD_SQS_QUEUES: entry 1");
    want_sqs_error("INGESTD_SQS_QUEUES", "https://h/1/a,,https://h/1/b", "entry 2");
    want_sqs_error("INGESTD_SQS_QUEUES", "https://h/1/a?x=1", "entry 1");
    want_sqs_error("INGESTD_SQS_QUEUES", "https://u:p@h/1/a", "entry 1");
    buf_init(&many, 0);
    for (i = 0; i < 17; i++)
        buf_printf(&many, "%shttps://h/1/q%d", i ? "," : "", i);
    want_sqs_error("INGESTD_SQS_QUEUES", many.data, "at most 16 queues");
    buf_release(&many);
    want_sqs_error("INGESTD_SQS_WAIT_TIME", "21", "INGESTD_SQS_WAIT_TIME: must be an integer");
    want_sqs_error("INGESTD_SQS_VISIBILITY_TIMEOUT", "0", "INGESTD_SQS_VISIBILITY_TIMEOUT");
    want_sqs_error("INGESTD_SQS_POISON", "drop", "must be keep or delete");
    want_sqs_error("AWS_ENDPOINT_URL_SQS", "localhost:4566", "AWS_ENDPOINT_URL_SQS");
}

/* INGESTD_LINKS_URL: http(s)://host[:port][/prefix], trailing / dropped, else a start error. */
static void
test_links_url(void **state)
{
    static const char *const bad[] = {"ftp://x",     "https://",    "https:///x", "https://x?y=1",
                                      "https://u@x", "https://x#f", "x.example",  "https://a b"};
    struct config cfg;
    char errbuf[ERRBUF_SIZE] = "";
    size_t i;

    (void)state;
    unsetenv("DATABASE_URL");
    unsetenv("DATABASE_URL_FILE");
    setenv("INGESTD_LINKS_URL", "https://files.example:8443/api-prefix/", 1);
    if (config_load(&cfg, errbuf, sizeof(errbuf)))
        fail_msg("config_load: %s", errbuf);
    assert_string_equal(cfg.links_url, "https://files.example:8443/api-prefix");
    config_release(&cfg);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("INGESTD_LINKS_URL", bad[i], 1);
        if (config_load(&cfg, errbuf, sizeof(errbuf)) != ERR_BAD_INPUT)
            fail_msg("INGESTD_LINKS_URL=%s accepted", bad[i]);
        assert_non_null(strstr(errbuf, "INGESTD_LINKS_URL: must be http(s)://host"));
    }
    unsetenv("INGESTD_LINKS_URL");
    assert_int_equal(config_load(&cfg, errbuf, sizeof(errbuf)), ERR_OK);
    assert_null(cfg.links_url);
    config_release(&cfg);
}

/* INGESTD_IMPORTS: entries trimmed and normalised, bad ones named by their number. */
static void
test_imports(void **state)
{
    char errbuf[ERRBUF_SIZE];
    struct config cfg;

    (void)state;
    setenv("INGESTD_IMPORTS", " /srv/events/ , s3://bucket/mass-ingest,s3://b2/", 1);
    assert_int_equal(config_load(&cfg, errbuf, sizeof(errbuf)), ERR_OK);
    assert_string_equal(cfg.import_locations[0], "/srv/events");
    assert_string_equal(cfg.import_locations[1], "s3://bucket/mass-ingest/");
    assert_string_equal(cfg.import_locations[2], "s3://b2/");
    assert_null(cfg.import_locations[3]);
    assert_int_equal(cfg.import_rescan_s, 60);
    assert_int_equal(cfg.import_poll_s, 10);
    assert_int_equal(cfg.import_threads, 4);
    config_release(&cfg);
    setenv("INGESTD_IMPORTS", "/srv/a,relative/b", 1);
    assert_int_equal(config_load(&cfg, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_non_null(strstr(errbuf, "INGESTD_IMPORTS: entry 2"));
    setenv("INGESTD_IMPORTS", "s3:///no-bucket/", 1);
    assert_int_equal(config_load(&cfg, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    setenv("INGESTD_IMPORTS", "/srv/../etc", 1);
    assert_int_equal(config_load(&cfg, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    setenv("INGESTD_IMPORTS", "/srv/a,/srv/a/", 1);
    assert_int_equal(config_load(&cfg, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_non_null(strstr(errbuf, "repeats entry 1"));
    unsetenv("INGESTD_IMPORTS");
}

/* INGESTD_WEBHOOK_*: URLs split and checked, a secret required with them, from a file too. */
static void
test_webhook_settings(void **state)
{
    static const char *const bad_urls[] = {
        "ftp://x/", "http://", "http:///x", "http://a b/", "http://a,,http://b", NULL};
    char path[] = "/tmp/thcfg.XXXXXX";
    char errbuf[ERRBUF_SIZE] = "";
    struct config cfg;
    struct seen seen;
    FILE *f;
    int fd;
    size_t i;

    (void)state;
    unsetenv("DATABASE_URL");
    unsetenv("DATABASE_URL_FILE");
    setenv("INGESTD_WEBHOOK_URLS", " http://a.example/h?token=t0k , https://b.example:8443/x", 1);
    setenv("INGESTD_WEBHOOK_SECRET", "s3cr3t-value", 1);
    if (config_load(&cfg, errbuf, sizeof(errbuf)))
        fail_msg("config_load: %s", errbuf);
    assert_int_equal(cfg.webhook_url_count, 2);
    assert_string_equal(cfg.webhook_urls[0], "http://a.example/h?token=t0k");
    assert_string_equal(cfg.webhook_urls[1], "https://b.example:8443/x");
    assert_string_equal(cfg.webhook_secret, "s3cr3t-value");
    assert_int_equal(cfg.webhook_attempts, 12);
    assert_int_equal(cfg.webhook_backoff_ms, 10000);
    assert_int_equal(cfg.webhook_timeout_ms, 10000);
    buf_init(&seen.text, 0);
    config_each(&cfg, collect, &seen);
    /* `ingestd config` redacts both (main prints CONFIG_SHOW_SECRET as <redacted>) */
    assert_non_null(strstr(seen.text.data, "INGESTD_WEBHOOK_SECRET|environment|"));
    assert_non_null(strstr(seen.text.data, "INGESTD_WEBHOOK_TIMEOUT_MS|default|10000\n"));
    buf_release(&seen.text);
    config_release(&cfg);
    /* URLs without a secret: refused, naming the variables, not the values */
    unsetenv("INGESTD_WEBHOOK_SECRET");
    assert_int_equal(config_load(&cfg, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_non_null(strstr(errbuf, "INGESTD_WEBHOOK_SECRET"));
    assert_null(strstr(errbuf, "t0k"));
    /* the secret from a file (trailing newline dropped) */
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("whsec_YWJjZA==\n", f);
    fclose(f);
    setenv("INGESTD_WEBHOOK_SECRET_FILE", path, 1);
    setenv("INGESTD_WEBHOOK_BACKOFF_MS", "50", 1);
    if (config_load(&cfg, errbuf, sizeof(errbuf)))
        fail_msg("config_load: %s", errbuf);
    assert_string_equal(cfg.webhook_secret, "whsec_YWJjZA==");
    assert_int_equal(cfg.webhook_backoff_ms, 50);
    config_release(&cfg);
    /* both the variable and the file: refused */
    setenv("INGESTD_WEBHOOK_SECRET", "x", 1);
    assert_int_equal(config_load(&cfg, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    unsetenv("INGESTD_WEBHOOK_SECRET_FILE");
    unlink(path);
    for (i = 0; bad_urls[i]; i++) {
        setenv("INGESTD_WEBHOOK_URLS", bad_urls[i], 1);
        if (config_load(&cfg, errbuf, sizeof(errbuf)) != ERR_BAD_INPUT)
            fail_msg("INGESTD_WEBHOOK_URLS=%s accepted", bad_urls[i]);
        assert_non_null(strstr(errbuf, "INGESTD_WEBHOOK_URLS: entry"));
    }
    setenv("INGESTD_WEBHOOK_URLS", "http://a/", 1);
    setenv("INGESTD_WEBHOOK_TIMEOUT_MS", "5", 1);
    assert_int_equal(config_load(&cfg, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_non_null(strstr(errbuf, "INGESTD_WEBHOOK_TIMEOUT_MS"));
    unsetenv("INGESTD_WEBHOOK_URLS");
    unsetenv("INGESTD_WEBHOOK_SECRET");
    unsetenv("INGESTD_WEBHOOK_TIMEOUT_MS");
    unsetenv("INGESTD_WEBHOOK_BACKOFF_MS");
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
        cmocka_unit_test(test_suggest),           cmocka_unit_test(test_each_sources_and_values),
        cmocka_unit_test(test_sqs_settings),      cmocka_unit_test(test_conninfo_check),
        cmocka_unit_test(test_conninfo_redacted), cmocka_unit_test(test_conninfo_scrub),
        cmocka_unit_test(test_links_url),         cmocka_unit_test(test_imports),
        cmocka_unit_test(test_webhook_settings),  cmocka_unit_test(test_repos_history_duration),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
