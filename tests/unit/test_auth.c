/*
 * test_auth.c - token sets: parsing, scopes, Bearer and Basic, the keeper
 *
 * Error messages are checked to name the variable and the entry number and
 * never to contain a token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hex.h"
#include "server/auth.h"

static struct auth *
must_new(const char *list, const char *file)
{
    struct auth *a = NULL;
    char errbuf[ERRBUF_SIZE] = "";

    if (auth_new(list, file, &a, errbuf, sizeof(errbuf)) != ERR_OK)
        fail_msg("auth_new: %s", errbuf);
    return a;
}

/* auth_new must fail with rc; the message must hold `want` and not `secret`. */
static void
must_fail(const char *list, const char *file, enum err rc, const char *want, const char *secret)
{
    struct auth *a = (struct auth *)1;
    char errbuf[ERRBUF_SIZE] = "";

    assert_int_equal(auth_new(list, file, &a, errbuf, sizeof(errbuf)), rc);
    assert_null(a);
    if (!strstr(errbuf, want))
        fail_msg("error \"%s\" does not say \"%s\"", errbuf, want);
    if (secret && strstr(errbuf, secret))
        fail_msg("error \"%s\" shows the token", errbuf);
}

static char *
basic(const char *user_pass)
{
    size_t n = strlen(user_pass);
    char *out = malloc(4 * ((n + 2) / 3) + 16);

    strcpy(out, "Basic ");
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)user_pass, (int)n);
    return out;
}

static void
test_parse(void **state)
{
    struct auth *a;

    (void)state;
    {
        char errbuf[ERRBUF_SIZE];
        struct auth *none = (struct auth *)1;

        assert_int_equal(auth_new(NULL, NULL, &none, errbuf, sizeof(errbuf)), ERR_OK);
        assert_null(none);
    }
    a = must_new(" read:r1 , write:w1,admin:a1,", NULL);
    assert_int_equal(auth_count(a), 3);
    auth_free(a);

    must_fail("read:ok,reed:s3cr3t-token", NULL, ERR_BAD_INPUT, "INGESTD_API_TOKENS: entry 2",
              "s3cr3t-token");
    must_fail("s3cr3t-token", NULL, ERR_BAD_INPUT, "INGESTD_API_TOKENS: entry 1", "s3cr3t-token");
    must_fail("write:", NULL, ERR_BAD_INPUT, "entry 1", NULL);
    must_fail("write:has space", NULL, ERR_BAD_INPUT, "entry 1", "has space");
    must_fail("admin:sha256:abc", NULL, ERR_BAD_INPUT, "64 hex digits", NULL);
    must_fail("admin:sha256:zz"
              "00000000000000000000000000000000000000000000000000000000000000",
              NULL, ERR_BAD_INPUT, "64 hex digits", NULL);
    must_fail(" , ", NULL, ERR_BAD_INPUT, "no token", NULL);
    must_fail(NULL, "/nonexistent/tokens", ERR_UNAVAILABLE, "INGESTD_API_TOKENS_FILE", NULL);
}

static void
test_file(void **state)
{
    char path[] = "/tmp/test_auth.XXXXXX";
    int fd = mkstemp(path);
    FILE *f;
    struct auth *a;

    (void)state;
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("# ingestd tokens\n\nread:file-r\r\n  write:file-w  \n# admin:commented\n", f);
    fclose(f);
    a = must_new("admin:env-a", path);
    assert_int_equal(auth_count(a), 3);
    assert_int_equal(auth_check(a, "Bearer file-w", AUTH_WRITE), ERR_OK);
    assert_int_equal(auth_check(a, "Bearer file-r", AUTH_WRITE), ERR_FORBIDDEN);
    assert_int_equal(auth_check(a, "Bearer env-a", AUTH_ADMIN), ERR_OK);
    assert_int_equal(auth_check(a, "Bearer commented", AUTH_READ), ERR_UNAUTHORIZED);
    auth_free(a);

    f = fopen(path, "w");
    fputs("read:ok\nbogus-line-with-secret\n", f);
    fclose(f);
    must_fail(NULL, path, ERR_BAD_INPUT, "INGESTD_API_TOKENS_FILE: entry 2",
              "bogus-line-with-secret");
    unlink(path);
}

static void
test_check(void **state)
{
    unsigned char d[32];
    unsigned int dn = 0;
    char hex[65];
    char *list;
    struct auth *a;
    char *b;

    (void)state;
    EVP_Digest("hashed-token", 12, d, &dn, EVP_sha256(), NULL);
    hex_encode(hex, d, 32);
    list = malloc(200);
    snprintf(list, 200, "read:r-tok,write:w-tok,admin:sha256:%s", hex);
    a = must_new(list, NULL);

    /* scopes: read < write < admin */
    assert_int_equal(auth_check(a, "Bearer r-tok", AUTH_READ), ERR_OK);
    assert_int_equal(auth_check(a, "Bearer r-tok", AUTH_WRITE), ERR_FORBIDDEN);
    assert_int_equal(auth_check(a, "Bearer w-tok", AUTH_READ), ERR_OK);
    assert_int_equal(auth_check(a, "Bearer w-tok", AUTH_WRITE), ERR_OK);
    assert_int_equal(auth_check(a, "Bearer w-tok", AUTH_ADMIN), ERR_FORBIDDEN);
    assert_int_equal(auth_check(a, "Bearer hashed-token", AUTH_ADMIN), ERR_OK);
    assert_int_equal(auth_check(a, "bearer   w-tok  ", AUTH_WRITE), ERR_OK);
    /* the hash itself is not a token */
    b = malloc(80);
    snprintf(b, 80, "Bearer sha256:%s", hex);
    assert_int_equal(auth_check(a, b, AUTH_READ), ERR_UNAUTHORIZED);
    free(b);
    /* open routes never ask */
    assert_int_equal(auth_check(a, NULL, AUTH_OPEN), ERR_OK);
    /* missing, unknown, malformed */
    assert_int_equal(auth_check(a, NULL, AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_check(a, "Bearer nope", AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_check(a, "Bearer ", AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_check(a, "Token r-tok", AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_check(a, "r-tok", AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_check(a, "Bearer r-tok-longer", AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_check(a, "Bearer r-to", AUTH_READ), ERR_UNAUTHORIZED);
    /* Basic: any user name, the token as password */
    b = basic("publisher:w-tok");
    assert_int_equal(auth_check(a, b, AUTH_WRITE), ERR_OK);
    free(b);
    b = basic(":r-tok");
    assert_int_equal(auth_check(a, b, AUTH_READ), ERR_OK);
    assert_int_equal(auth_check(a, b, AUTH_WRITE), ERR_FORBIDDEN);
    free(b);
    b = basic("w-tok:");
    assert_int_equal(auth_check(a, b, AUTH_READ), ERR_UNAUTHORIZED);
    free(b);
    b = basic("no-colon-w-tok");
    assert_int_equal(auth_check(a, b, AUTH_READ), ERR_UNAUTHORIZED);
    free(b);
    assert_int_equal(auth_check(a, "Basic !!!!", AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_check(a, "Basic abc", AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_check(a, "Basic ", AUTH_READ), ERR_UNAUTHORIZED);
    {
        char *huge = malloc(10000);

        memcpy(huge, "Bearer ", 7);
        memset(huge + 7, 'x', 9000);
        huge[9007] = '\0';
        assert_int_equal(auth_check(a, huge, AUTH_READ), ERR_UNAUTHORIZED);
        memcpy(huge, "Basic  ", 7);
        memset(huge + 7, 'A', 9000);
        assert_int_equal(auth_check(a, huge, AUTH_READ), ERR_UNAUTHORIZED);
        free(huge);
    }
    auth_free(a);
    free(list);
}

static void
test_keeper(void **state)
{
    struct auth_keeper *k = auth_keeper_new(NULL);

    (void)state;
    assert_false(auth_keeper_enabled(k));
    assert_int_equal(auth_keeper_check(k, NULL, AUTH_ADMIN), ERR_OK); /* off: all open */
    auth_keeper_swap(k, must_new("read:one", NULL));
    assert_true(auth_keeper_enabled(k));
    assert_int_equal(auth_keeper_check(k, NULL, AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_keeper_check(k, "Bearer one", AUTH_READ), ERR_OK);
    auth_keeper_swap(k, must_new("write:two", NULL)); /* rotated */
    assert_int_equal(auth_keeper_check(k, "Bearer one", AUTH_READ), ERR_UNAUTHORIZED);
    assert_int_equal(auth_keeper_check(k, "Bearer two", AUTH_WRITE), ERR_OK);
    assert_int_equal(auth_keeper_check(k, NULL, AUTH_OPEN), ERR_OK);
    auth_keeper_free(k);
    auth_keeper_free(NULL);
}

static void
test_scope_names(void **state)
{
    (void)state;
    assert_int_equal(auth_scope_parse("read"), AUTH_READ);
    assert_int_equal(auth_scope_parse("write"), AUTH_WRITE);
    assert_int_equal(auth_scope_parse("admin"), AUTH_ADMIN);
    assert_int_equal(auth_scope_parse(NULL), AUTH_OPEN);
    assert_int_equal(auth_scope_parse("Admin"), -1);
    assert_string_equal(auth_scope_name(AUTH_WRITE), "write");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),       cmocka_unit_test(test_file),
        cmocka_unit_test(test_check),       cmocka_unit_test(test_keeper),
        cmocka_unit_test(test_scope_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
