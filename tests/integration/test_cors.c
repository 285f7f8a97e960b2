/*
 * test_cors.c - CORS for browser clients over real HTTP (INGESTD_CORS_ORIGINS)
 *
 * Three servers on one database: one with tokens and a list of two origins
 * (written with blanks around them), one with "*" and no tokens, one without
 * the variable. Preflights from an allowed origin are 204 with the path's
 * methods, Authorization among the allowed headers and a max age, without a
 * token; other origins get 405 and no Access-Control-* header. Actual
 * responses (errors included) carry Access-Control-Allow-Origin and
 * Vary: Origin for allowed origins only. Bad values stop the start naming
 * the variable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

#define APP "https://app.example"
#define DEV "http://localhost:3000"
#define TOK "cors-read-tok-4b1e"
#define UUID "6c1f8d0e-1d35-4d6f-9b3a-0c2a4e5f6a7b"

static struct {
    struct th_pg *pg;
    struct th_ingestd *listed; /* APP and DEV, tokens on */
    struct th_ingestd *star;   /* "*", auth off */
    struct th_ingestd *off;    /* no INGESTD_CORS_ORIGINS */
} G;

static int
group_setup(void **state)
{
    const char *listed[] = {"INGESTD_CORS_ORIGINS= " APP " ,\t" DEV,
                            "INGESTD_API_TOKENS=read:" TOK ",write:cors-write-tok-77a0", NULL};
    const char *star[] = {"INGESTD_CORS_ORIGINS=*", NULL};

    (void)state;
    G.pg = th_pg_start();
    G.listed = th_ingestd_start(th_pg_url(G.pg), listed);
    G.star = th_ingestd_start(th_pg_url(G.pg), star);
    G.off = th_ingestd_start(th_pg_url(G.pg), NULL);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.listed);
    th_ingestd_free(G.star);
    th_ingestd_free(G.off);
    th_pg_free(G.pg);
    return 0;
}

/*
 * method path on srv with an Origin (NULL: none), a preflight's
 * Access-Control-Request-Method (NULL: none) and an Authorization value.
 */
static struct th_resp
call(struct th_ingestd *srv, const char *method, const char *path, const char *origin,
     const char *request_method, const char *authorization)
{
    const char *h[5] = {NULL};
    char *o = origin ? th_strf("Origin: %s", origin) : NULL;
    char *m = request_method ? th_strf("Access-Control-Request-Method: %s", request_method) : NULL;
    char *a = authorization ? th_strf("Authorization: %s", authorization) : NULL;
    struct th_resp r;
    int k = 0;

    if (o)
        h[k++] = o;
    if (m) {
        h[k++] = m;
        h[k++] = "Access-Control-Request-Headers: authorization, content-type";
    }
    if (a)
        h[k++] = a;
    r = th_request(method, th_ingestd_base(srv), path, h, NULL, 0);
    free(o);
    free(m);
    free(a);
    return r;
}

/* How many header lines named `name` the response has. */
static int
header_count(const struct th_resp *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *line = r->headers;
    int n = 0;

    while (line && *line) {
        const char *eol = strchr(line, '\n');

        if (!strncasecmp(line, name, nlen) && line[nlen] == ':')
            n++;
        line = eol ? eol + 1 : NULL;
    }
    return n;
}

/* Fail unless header `name` is exactly `want` (NULL: absent). */
static void
want_header(const struct th_resp *r, const char *name, const char *want, const char *what)
{
    char *v = th_resp_header(r, name);

    if (want ? !v || strcmp(v, want) != 0 : v != NULL)
        fail_msg("%s: %s is \"%s\", want %s%s%s", what, name, v ? v : "(absent)", want ? "\"" : "",
                 want ? want : "(absent)", want ? "\"" : "");
    free(v);
}

/* No Access-Control-* header at all. */
static void
want_no_cors(const struct th_resp *r, const char *what)
{
    if (strcasestr(r->headers ? r->headers : "", "\nAccess-Control-"))
        fail_msg("%s: unexpected CORS headers:\n%s", what, r->headers);
}

/* The preflight answer from an allowed origin (want_origin is what ACAO must say). */
static void
want_preflight(struct th_ingestd *srv, const char *path, const char *origin,
               const char *want_origin, const char *methods)
{
    struct th_resp r = call(srv, "OPTIONS", path, origin, "GET", NULL);
    char *h;

    if (r.status != 204)
        fail_msg("OPTIONS %s from %s: %ld, want 204: %s", path, origin, r.status, r.body);
    assert_int_equal(r.len, 0);
    want_header(&r, "Access-Control-Allow-Origin", want_origin, path);
    want_header(&r, "Access-Control-Allow-Methods", methods, path);
    want_header(&r, "Access-Control-Max-Age", "7200", path);
    want_header(&r, "Vary", "Origin", path);
    h = th_resp_header(&r, "Access-Control-Allow-Headers");
    assert_non_null(h);
    assert_non_null(strstr(h, "Authorization"));
    assert_non_null(strstr(h, "Content-Type"));
    free(h);
    assert_int_equal(header_count(&r, "Access-Control-Allow-Origin"), 1);
    h = th_resp_header(&r, "X-Request-Id");
    assert_non_null(h);
    free(h);
    th_resp_release(&r);
}

static void
test_preflight(void **state)
{
    struct th_resp r;

    (void)state;
    /* no token needed, on every kind of route, with the path's own methods */
    want_preflight(G.listed, "/api/v1/s3/objects", APP, APP, "GET, HEAD");
    want_preflight(G.listed, "/api/v1/s3", DEV, DEV, "GET, HEAD, PATCH");
    want_preflight(G.listed, "/api/v1/s3/" UUID, APP, APP, "GET, HEAD, PATCH");
    want_preflight(G.listed, "/api/v1/s3/events", APP, APP, "POST");
    want_preflight(G.listed, "/api/v1/events", APP, APP, "POST, GET, HEAD");
    want_preflight(G.listed, "/api/v1/events/" UUID, APP, APP, "GET, HEAD, DELETE");
    want_preflight(G.listed, "/api/v1/repos.csv", APP, APP, "GET, HEAD, PUT");
    want_preflight(G.listed, "/healthz", DEV, DEV, "GET, HEAD");

    /* an origin not listed (also one differing in case or by a trailing /): as without CORS */
    {
        static const char *const others[] = {"https://evil.example",
                                             "https://APP.example",
                                             APP "/",
                                             "http://app.example",
                                             "null",
                                             ""};
        size_t i;

        for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
            r = call(G.listed, "OPTIONS", "/api/v1/s3/objects", others[i], "GET", NULL);
            if (r.status != 405)
                fail_msg("OPTIONS from \"%s\": %ld, want 405", others[i], r.status);
            want_header(&r, "Allow", "GET, HEAD", others[i]);
            want_no_cors(&r, others[i]);
            want_header(&r, "Vary", "Origin", others[i]);
            th_resp_release(&r);
        }
    }
    /* OPTIONS that is no preflight (no Access-Control-Request-Method), an unknown path */
    r = call(G.listed, "OPTIONS", "/api/v1/s3/objects", APP, NULL, NULL);
    assert_int_equal(r.status, 405);
    th_resp_release(&r);
    r = call(G.listed, "OPTIONS", "/api/v1/nothing", APP, "GET", NULL);
    assert_int_equal(r.status, 404);
    th_resp_release(&r);
}

static void
test_actual_responses(void **state)
{
    char *bearer = th_strf("Bearer %s", TOK);
    struct th_resp r;
    char *h;

    (void)state;
    /* allowed origin: Access-Control-Allow-Origin, Vary, exposed headers */
    r = call(G.listed, "GET", "/api/v1/s3/objects", APP, NULL, bearer);
    assert_int_equal(r.status, 200);
    want_header(&r, "Access-Control-Allow-Origin", APP, "GET objects");
    want_header(&r, "Vary", "Origin", "GET objects");
    h = th_resp_header(&r, "Access-Control-Expose-Headers");
    assert_non_null(h);
    assert_non_null(strstr(h, "X-Request-Id"));
    assert_non_null(strstr(h, "Location"));
    free(h);
    assert_null(th_resp_header(&r, "Access-Control-Allow-Methods"));
    assert_null(th_resp_header(&r, "Access-Control-Allow-Credentials"));
    th_resp_release(&r);
    r = call(G.listed, "HEAD", "/api/v1/s3", DEV, NULL, bearer);
    assert_int_equal(r.status, 200);
    want_header(&r, "Access-Control-Allow-Origin", DEV, "HEAD /api/v1/s3");
    th_resp_release(&r);
    /* errors too, so that the browser lets the client read them */
    r = call(G.listed, "GET", "/api/v1/s3/objects", APP, NULL, NULL);
    assert_int_equal(r.status, 401);
    want_header(&r, "Access-Control-Allow-Origin", APP, "401");
    th_resp_release(&r);
    r = call(G.listed, "GET", "/api/v1/s3/objects?key=%5Cs", APP, NULL, bearer);
    assert_int_equal(r.status, 400);
    want_header(&r, "Access-Control-Allow-Origin", APP, "400");
    th_resp_release(&r);
    r = call(G.listed, "GET", "/nothing", APP, NULL, NULL);
    assert_int_equal(r.status, 404);
    want_header(&r, "Access-Control-Allow-Origin", APP, "404");
    th_resp_release(&r);
    r = call(G.listed, "GET", "/healthz", DEV, NULL, NULL);
    assert_int_equal(r.status, 200);
    want_header(&r, "Access-Control-Allow-Origin", DEV, "healthz");
    th_resp_release(&r);
    /* another origin, or none: no Access-Control-* header, but Vary: Origin */
    r = call(G.listed, "GET", "/api/v1/s3/objects", "https://evil.example", NULL, bearer);
    assert_int_equal(r.status, 200);
    want_no_cors(&r, "evil origin");
    want_header(&r, "Vary", "Origin", "evil origin");
    th_resp_release(&r);
    r = call(G.listed, "GET", "/api/v1/s3/objects", NULL, NULL, bearer);
    assert_int_equal(r.status, 200);
    want_no_cors(&r, "no origin");
    th_resp_release(&r);
    /* Vary: Origin beside the compression's Vary: Accept-Encoding */
    {
        char *auth = th_strf("Authorization: Bearer %s", TOK);
        const char *h2[] = {"Origin: " APP, "Accept-Encoding: gzip", auth, NULL};

        r = th_request("GET", th_ingestd_base(G.listed), "/api/v1/repos.csv", h2, NULL, 0);
        assert_int_equal(r.status, 200);
        want_header(&r, "Access-Control-Allow-Origin", APP, "repos.csv");
        assert_non_null(strcasestr(r.headers, "\nVary: Origin"));
        assert_non_null(strcasestr(r.headers, "\nVary: Accept-Encoding"));
        th_resp_release(&r);
        free(auth);
    }
    free(bearer);
}

static void
test_star_and_off(void **state)
{
    struct th_resp r;

    (void)state;
    /* "*": any origin, answered with "*" */
    want_preflight(G.star, "/api/v1/s3/objects", "https://anyone.example", "*", "GET, HEAD");
    r = call(G.star, "GET", "/api/v1/s3/objects", "http://127.0.0.1:9", NULL, NULL);
    assert_int_equal(r.status, 200);
    want_header(&r, "Access-Control-Allow-Origin", "*", "star");
    th_resp_release(&r);
    r = call(G.star, "GET", "/api/v1/s3/objects", NULL, NULL, NULL);
    want_no_cors(&r, "star without Origin");
    th_resp_release(&r);

    /* without the variable: no CORS at all, preflights are 405 */
    r = call(G.off, "OPTIONS", "/api/v1/s3/objects", APP, "GET", NULL);
    assert_int_equal(r.status, 405);
    want_no_cors(&r, "off preflight");
    th_resp_release(&r);
    r = call(G.off, "GET", "/api/v1/s3/objects", APP, NULL, NULL);
    assert_int_equal(r.status, 200);
    want_no_cors(&r, "off GET");
    assert_int_equal(header_count(&r, "Vary"), 0);
    th_resp_release(&r);
}

static void
test_bad_values_stop_the_start(void **state)
{
    static const struct {
        const char *value;
        const char *want;
    } cases[] = {
        {APP "/", "INGESTD_CORS_ORIGINS: entry 1 is not"},
        {APP ",," DEV, "INGESTD_CORS_ORIGINS: entry 2 is not"},
        {APP ",app.example", "INGESTD_CORS_ORIGINS: entry 2 is not"},
        {APP "/path", "INGESTD_CORS_ORIGINS: entry 1 is not"},
        {"https://", "INGESTD_CORS_ORIGINS: entry 1 is not"},
        {"*,https://a b", "INGESTD_CORS_ORIGINS: entry 2 is not"},
        {" , ", "INGESTD_CORS_ORIGINS: entry 1 is not"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status;
        char *cmd = th_strf("env -i PATH=/usr/bin:/bin INGESTD_LISTEN=127.0.0.1:0 "
                            "INGESTD_DATA_DIR=/nonexistent/ingestd-cors "
                            "INGESTD_CORS_ORIGINS='%s' timeout 10 %s serve 2>&1",
                            cases[i].value, INGESTD_BIN);
        char *out = th_run(cmd, &status);

        if (status != 2 || !strstr(out, cases[i].want))
            fail_msg("INGESTD_CORS_ORIGINS='%s': exit %d, want 2 and \"%s\":\n%s", cases[i].value,
                     status, cases[i].want, out);
        free(out);
        free(cmd);
    }
}

/* INGESTD_CORS_ORIGINS is a known setting: no "unknown variable" warning for it. */
static void
test_known_variable(void **state)
{
    size_t len;
    char *log = th_read_file(th_ingestd_log(G.listed), &len);

    (void)state;
    if (strstr(log, "unknown variable"))
        fail_msg("the start warned about a known variable:\n%s", log);
    free(log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preflight),      cmocka_unit_test(test_actual_responses),
        cmocka_unit_test(test_star_and_off),   cmocka_unit_test(test_bad_values_stop_the_start),
        cmocka_unit_test(test_known_variable),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
