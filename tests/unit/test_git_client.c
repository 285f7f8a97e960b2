/*
 * test_git_client.c - GIT_CREDENTIALS entries matched to a remote's host
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clients/git_client.h"

static void
want(const char *creds, const char *url, const char *user, const char *pass)
{
    char u[64] = "";
    char p[64] = "";

    if (!git_client_userpass_for(creds, url, u, sizeof(u), p, sizeof(p)))
        fail_msg("no entry of \"%s\" for %s", creds, url);
    assert_string_equal(u, user);
    assert_string_equal(p, pass);
}

static void
none(const char *creds, const char *url)
{
    char u[64];
    char p[64];

    assert_int_equal(git_client_userpass_for(creds, url, u, sizeof(u), p, sizeof(p)), 0);
}

static void
test_the_seed_readme_form(void **state)
{
    (void)state;
    want("https://username:token@github.com", "https://github.com/org/config.git", "username",
         "token");
    want("https://kmccarp:ghp_x@github.com", "https://GitHub.com:443/kmccarp/repos-csv-test.git",
         "kmccarp", "ghp_x");
}

static void
test_several_entries_pick_the_host(void **state)
{
    (void)state;
    want("https://a:1@gitlab.example.com, https://b:2@github.com\nhttps://c:3@git.example.org",
         "https://github.com/o/r.git", "b", "2");
    want("https://a:1@gitlab.example.com\r\nhttps://c:3@git.example.org/",
         "https://git.example.org/o/r.git", "c", "3");
    /* a password with '@' and ':' in it */
    want("https://bot:p@ss:w0rd@host.example", "https://host.example/r.git", "bot", "p@ss:w0rd");
    /* the remote's own userinfo does not hide its host */
    want("https://u:t@github.com", "https://someone@github.com/o/r.git", "u", "t");
}

static void
test_no_match(void **state)
{
    (void)state;
    none(NULL, "https://github.com/o/r.git");
    none("", "https://github.com/o/r.git");
    none("https://u:t@github.com", "https://github.com.evil.example/o/r.git");
    none("https://u:t@gitlab.com", "https://github.com/o/r.git");
    none("https://just-a-token@github.com", "https://github.com/o/r.git"); /* no password */
    none("github.com", "https://github.com/o/r.git");
    none("https://u:t@github.com", "not a url");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_seed_readme_form),
        cmocka_unit_test(test_several_entries_pick_the_host),
        cmocka_unit_test(test_no_match),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
