/*
 * test_routes.c - the route table against openapi/openapi.yaml
 *
 * server/routes.c and the OpenAPI document must name the same (method, path)
 * pairs, in both directions. The document is read by a small line-based
 * reader that knows only the shape openapi.yaml is written in: under the
 * top-level `paths:` key, path keys are indented by 2 spaces and their
 * method keys by 4. `head` is read apart: every GET route answers HEAD, so
 * the document must describe HEAD on exactly the paths with a GET route. The
 * path-level keys `parameters`, `summary`, `description` and `servers` are
 * skipped. Any other key at that level stops
 * the reader, so a construct it does not understand is noticed, not ignored.
 *
 * The document read is OPENAPI_PATH (set by CMake); the environment variable
 * TEST_OPENAPI_PATH overrides it, e.g. to see an edited copy fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "server/router.h"

#define SPEC_MAX_OPS 128
#define SPEC_MAX_PATH 256

struct spec_op {
    char method[16]; /* upper case, as in the route table */
    char path[SPEC_MAX_PATH];
};

struct spec {
    struct spec_op ops[SPEC_MAX_OPS];
    size_t nops;
    char heads[SPEC_MAX_OPS][SPEC_MAX_PATH]; /* paths with an explicit `head` */
    size_t nheads;
};

static const char *const spec_methods[] = {"get",   "put",   "post",    "delete",
                                           "patch", "trace", "options", NULL};
static const char *const spec_skipped[] = {"parameters", "summary", "description", "servers", NULL};

static int
in_list(const char *const *list, const char *s)
{
    size_t i;

    for (i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

/*
 * The key of a `key:` line, indentation already skipped (s, len without the
 * line end). A quoted key runs to its closing quote; a plain one to the first
 * ':' followed by a space or the end of the line. ERR_BAD_INPUT when the line
 * is not a key.
 */
static enum err
line_key(const char *s, size_t len, char *out, size_t outlen)
{
    size_t start = 0;
    size_t end = 0;
    size_t next;

    if (s[0] == '\'' || s[0] == '"') {
        const char *q = memchr(s + 1, s[0], len - 1);

        if (!q)
            return ERR_BAD_INPUT;
        start = 1;
        end = (size_t)(q - s);
        next = end + 1;
    } else {
        while (end < len && !(s[end] == ':' && (end + 1 == len || s[end + 1] == ' ')))
            end++;
        next = end;
    }
    if (next >= len || s[next] != ':' || end == start || end - start >= outlen)
        return ERR_BAD_INPUT;
    memcpy(out, s + start, end - start);
    out[end - start] = '\0';
    return ERR_OK;
}

static enum err
spec_add_method(struct spec *sp, const char *key, const char *path, size_t line, char *errbuf,
                size_t errlen)
{
    struct spec_op *op;
    size_t i;

    if (sp->nops == SPEC_MAX_OPS)
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "line %zu: more than %d operations", line,
                       SPEC_MAX_OPS);
    op = &sp->ops[sp->nops++];
    for (i = 0; key[i] && i + 1 < sizeof(op->method); i++)
        op->method[i] = (char)(key[i] - 'a' + 'A');
    op->method[i] = '\0';
    snprintf(op->path, sizeof(op->path), "%s", path);
    return ERR_OK;
}

/* One line of the `paths:` block (len without the line end). */
static enum err
spec_line(struct spec *sp, const char *s, size_t len, size_t line, char *path, char *errbuf,
          size_t errlen)
{
    char key[SPEC_MAX_PATH];
    size_t indent = 0;

    while (indent < len && s[indent] == ' ')
        indent++;
    if (indent == len || s[indent] == '#' || (indent != 2 && indent != 4))
        return ERR_OK;
    if (line_key(s + indent, len - indent, key, sizeof(key)))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: expected a key", line);
    if (indent == 2) {
        if (key[0] != '/')
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "line %zu: path \"%s\" does not start with /", line, key);
        snprintf(path, SPEC_MAX_PATH, "%s", key);
        return ERR_OK;
    }
    if (!path[0])
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: \"%s\" outside a path", line, key);
    if (strcmp(key, "head") == 0) {
        if (sp->nheads < SPEC_MAX_OPS)
            snprintf(sp->heads[sp->nheads++], SPEC_MAX_PATH, "%s", path);
        return ERR_OK;
    }
    if (in_list(spec_skipped, key))
        return ERR_OK;
    if (!in_list(spec_methods, key))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "line %zu: unexpected key \"%s\" under path %s", line, key, path);
    return spec_add_method(sp, key, path, line, errbuf, errlen);
}

/* Read the (method, path) pairs of an OpenAPI document's `paths:` block. */
static enum err
spec_read(struct spec *sp, const char *text, char *errbuf, size_t errlen)
{
    const char *p = text;
    char path[SPEC_MAX_PATH] = "";
    size_t line = 0;
    int in_paths = 0;
    int seen_paths = 0;
    enum err rc = ERR_OK;

    memset(sp, 0, sizeof(*sp));
    while (*p && !rc) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        size_t n = len;

        line++;
        while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
            n--;
        if (n && p[0] != ' ' && p[0] != '#') {
            in_paths = n == strlen("paths:") && memcmp(p, "paths:", n) == 0;
            seen_paths |= in_paths;
        } else if (in_paths) {
            rc = spec_line(sp, p, n, line, path, errbuf, errlen);
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    if (!rc && !seen_paths)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "no top-level \"paths:\" block");
    return rc;
}

static char *
read_file(const char *path)
{
    struct buf b;
    char chunk[8192];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f)
        return NULL;
    buf_init(&b, 0);
    for (;;) {
        n = fread(chunk, 1, sizeof(chunk), f);
        if (n == 0)
            break;
        buf_append(&b, chunk, n);
    }
    fclose(f);
    buf_append_char(&b, '\0');
    return buf_take(&b, NULL);
}

static const char *
openapi_path(void)
{
    const char *env = getenv("TEST_OPENAPI_PATH");

    return env && *env ? env : OPENAPI_PATH;
}

static int
spec_has(const struct spec *sp, const char *method, const char *path)
{
    size_t i;

    for (i = 0; i < sp->nops; i++)
        if (strcmp(sp->ops[i].method, method) == 0 && strcmp(sp->ops[i].path, path) == 0)
            return 1;
    return 0;
}

static int
routes_have(const char *method, const char *path)
{
    size_t i;

    for (i = 0; i < app_routes_count; i++)
        if (strcmp(app_routes[i].method, method) == 0 && strcmp(app_routes[i].pattern, path) == 0)
            return 1;
    return 0;
}

static const char sample[] = "openapi: 3.1.0\n"
                             "info:\n"
                             "  title: sample\n"
                             "  description: |\n"
                             "    paths:\n"
                             "      /not-a-path:\n"
                             "paths:\n"
                             "  # a comment\n"
                             "  /a:\n"
                             "    parameters:\n"
                             "      - $ref: '#/components/parameters/P'\n"
                             "    summary: 'a: b'\n"
                             "    get:\n"
                             "      summary: x\n"
                             "      responses:\n"
                             "        '200':\n"
                             "          description: ok\n"
                             "    head:\n"
                             "      summary: y\n"
                             "\n"
                             "  '/b/{id}':\r\n"
                             "    description: >-\n"
                             "      get: not a key at this depth\n"
                             "    delete:\n"
                             "      summary: z\n"
                             "    post:   \n"
                             "      summary: z\n"
                             "  /c:d:\n"
                             "    put:\n"
                             "components:\n"
                             "  schemas:\n"
                             "    get:\n"
                             "      type: object\n";

static void
test_reader_sample(void **state)
{
    struct spec *sp = xcalloc(1, sizeof(*sp));
    char errbuf[ERRBUF_SIZE] = "";

    (void)state;
    assert_int_equal(spec_read(sp, sample, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(sp->nops, 4);
    assert_true(spec_has(sp, "GET", "/a"));
    assert_true(spec_has(sp, "DELETE", "/b/{id}"));
    assert_true(spec_has(sp, "POST", "/b/{id}"));
    assert_true(spec_has(sp, "PUT", "/c:d"));
    assert_int_equal(sp->nheads, 1);
    assert_string_equal(sp->heads[0], "/a");
    free(sp);
}

static void
test_reader_rejects(void **state)
{
    static const char *const bad[] = {
        "openapi: 3.1.0\n",                    /* no paths block */
        "paths:\n  /a:\n    gett:\n",          /* typo of a method */
        "paths:\n  /a:\n    $ref: 'x.yaml'\n", /* a construct the reader cannot follow */
        "paths:\n  a:\n    get:\n",            /* path without / */
        "paths:\n    get:\n",                  /* method outside a path */
        "paths:\n  /a:\n    - get\n",          /* not a key */
        NULL,
    };
    struct spec *sp = xcalloc(1, sizeof(*sp));
    char errbuf[ERRBUF_SIZE];
    size_t i;

    (void)state;
    for (i = 0; bad[i]; i++) {
        errbuf[0] = '\0';
        assert_int_equal(spec_read(sp, bad[i], errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
        assert_true(errbuf[0] != '\0');
    }
    free(sp);
}

static void
test_route_table_unique(void **state)
{
    size_t i;
    size_t k;
    int dups = 0;

    (void)state;
    assert_true(app_routes_count > 0);
    for (i = 0; i < app_routes_count; i++) {
        assert_true(strcmp(app_routes[i].method, "HEAD") != 0);
        for (k = i + 1; k < app_routes_count; k++) {
            if (strcmp(app_routes[i].method, app_routes[k].method) == 0 &&
                strcmp(app_routes[i].pattern, app_routes[k].pattern) == 0) {
                print_error("server/routes.c names %s %s twice\n", app_routes[i].method,
                            app_routes[i].pattern);
                dups++;
            }
        }
    }
    assert_int_equal(dups, 0);
}

static void
test_openapi_matches_routes(void **state)
{
    const char *path = openapi_path();
    struct spec *sp = xcalloc(1, sizeof(*sp));
    char errbuf[ERRBUF_SIZE] = "";
    char *text = read_file(path);
    int only_spec = 0;
    int only_routes = 0;
    int bad_heads = 0;
    size_t i;

    (void)state;
    if (!text)
        fail_msg("cannot read %s", path);
    if (spec_read(sp, text, errbuf, sizeof(errbuf)))
        fail_msg("%s: %s", path, errbuf);
    for (i = 0; i < sp->nops; i++) {
        if (!routes_have(sp->ops[i].method, sp->ops[i].path)) {
            print_error("in %s but not in server/routes.c: %s %s\n", path, sp->ops[i].method,
                        sp->ops[i].path);
            only_spec++;
        }
    }
    for (i = 0; i < app_routes_count; i++) {
        if (!spec_has(sp, app_routes[i].method, app_routes[i].pattern)) {
            print_error("in server/routes.c but not in %s: %s %s\n", path, app_routes[i].method,
                        app_routes[i].pattern);
            only_routes++;
        }
    }
    for (i = 0; i < sp->nheads; i++) {
        if (!routes_have("GET", sp->heads[i])) {
            print_error("%s describes HEAD %s, but only GET routes answer HEAD\n", path,
                        sp->heads[i]);
            bad_heads++;
        }
    }
    /* every GET route answers HEAD, so the document describes HEAD there too */
    for (i = 0; i < app_routes_count; i++) {
        size_t k;

        if (strcmp(app_routes[i].method, "GET") != 0)
            continue;
        for (k = 0; k < sp->nheads; k++)
            if (strcmp(sp->heads[k], app_routes[i].pattern) == 0)
                break;
        if (k == sp->nheads) {
            print_error("%s does not describe HEAD %s (served as GET is)\n", path,
                        app_routes[i].pattern);
            bad_heads++;
        }
    }
    free(text);
    free(sp);
    assert_int_equal(only_spec, 0);
    assert_int_equal(only_routes, 0);
    assert_int_equal(bad_heads, 0);
}

/* router_match on a table; the route found (NULL unless ROUTER_FOUND) and the Allow list. */
static enum router_result
route(const struct route *routes, size_t n, const char *method, const char *path,
      const struct route **found, char allow[64])
{
    char scratch[256];
    const char *params[REQUEST_MAX_PARAMS];
    size_t nparams = 0;

    *found = NULL;
    return router_match(routes, n, method, path, scratch, found, params, &nparams, allow, 64);
}

/* A literal segment beats {name}, whatever the methods and the order of the table. */
static void
test_router_literal_wins(void **state)
{
    static const struct route t[] = {
        {"GET", "/a/{id}", NULL, 0, NULL},       {"POST", "/a/b", NULL, 0, NULL},
        {"GET", "/a/c", NULL, 0, NULL},          {"GET", "/x/{id}/y", NULL, 0, NULL},
        {"DELETE", "/x/z/{id}", NULL, 0, NULL},  {"PUT", "/a/{other}", NULL, 0, NULL},
        {"GET", "/x/{id}/{sub}", NULL, 0, NULL},
    };
    const size_t n = sizeof(t) / sizeof(t[0]);
    const struct route *r;
    char allow[64];

    (void)state;
    assert_int_equal(route(t, n, "GET", "/a/b", &r, allow), ROUTER_BAD_METHOD);
    assert_string_equal(allow, "POST");
    assert_int_equal(route(t, n, "HEAD", "/a/b", &r, allow), ROUTER_BAD_METHOD);
    assert_int_equal(route(t, n, "POST", "/a/b", &r, allow), ROUTER_FOUND);
    assert_ptr_equal(r, &t[1]);
    assert_int_equal(route(t, n, "GET", "/a/c", &r, allow), ROUTER_FOUND);
    assert_ptr_equal(r, &t[2]);
    assert_int_equal(route(t, n, "PUT", "/a/c", &r, allow), ROUTER_BAD_METHOD);
    assert_string_equal(allow, "GET, HEAD");
    /* {id} and {other} have the same shape: both methods are the path's */
    assert_int_equal(route(t, n, "GET", "/a/x", &r, allow), ROUTER_FOUND);
    assert_ptr_equal(r, &t[0]);
    assert_int_equal(route(t, n, "PUT", "/a/x", &r, allow), ROUTER_FOUND);
    assert_ptr_equal(r, &t[5]);
    assert_int_equal(route(t, n, "DELETE", "/a/x", &r, allow), ROUTER_BAD_METHOD);
    assert_string_equal(allow, "GET, HEAD, PUT");
    /* the first segment where shapes differ decides */
    assert_int_equal(route(t, n, "GET", "/x/z/y", &r, allow), ROUTER_BAD_METHOD);
    assert_string_equal(allow, "DELETE");
    assert_int_equal(route(t, n, "GET", "/x/w/y", &r, allow), ROUTER_FOUND);
    assert_ptr_equal(r, &t[3]);
    assert_int_equal(route(t, n, "GET", "/x/w/v", &r, allow), ROUTER_FOUND);
    assert_ptr_equal(r, &t[6]);
    assert_int_equal(route(t, n, "GET", "/a", &r, allow), ROUTER_NOT_FOUND);
    assert_int_equal(route(t, n, "GET", "/a/", &r, allow), ROUTER_NOT_FOUND);
}

/* In the service's table every route is reachable, and the S3 paths resolve as documented. */
static void
test_router_app_table(void **state)
{
    const struct route *r;
    char allow[64];
    size_t i;

    (void)state;
    for (i = 0; i < app_routes_count; i++) {
        struct buf path;
        const char *p;

        buf_init(&path, 0);
        for (p = app_routes[i].pattern; *p; p++) {
            if (*p == '{') {
                buf_append_str(&path, "6c1f8d0e-1d35-4d6f-9b3a-0c2a4e5f6a7b");
                p = strchr(p, '}');
            } else {
                buf_append_char(&path, *p);
            }
        }
        if (route(app_routes, app_routes_count, app_routes[i].method, path.data, &r, allow) !=
                ROUTER_FOUND ||
            r != &app_routes[i])
            fail_msg("%s %s does not reach its route %s", app_routes[i].method, path.data,
                     app_routes[i].pattern);
        buf_release(&path);
    }
    assert_int_equal(route(app_routes, app_routes_count, "GET", "/api/v1/s3/events", &r, allow),
                     ROUTER_BAD_METHOD);
    assert_string_equal(allow, "POST");
    assert_int_equal(
        route(app_routes, app_routes_count, "GET", "/api/v1/s3/inventories", &r, allow),
        ROUTER_FOUND);
    assert_string_equal(r->pattern, "/api/v1/s3/inventories");
    assert_int_equal(route(app_routes, app_routes_count, "GET", "/api/v1/s3/objects", &r, allow),
                     ROUTER_FOUND);
    assert_string_equal(r->pattern, "/api/v1/s3/objects");
    assert_int_equal(route(app_routes, app_routes_count, "GET", "/api/v1/s3/count", &r, allow),
                     ROUTER_FOUND);
    assert_string_equal(r->pattern, "/api/v1/s3/count");
    assert_int_equal(
        route(app_routes, app_routes_count, "HEAD", "/api/v1/s3/not-a-uuid", &r, allow),
        ROUTER_FOUND);
    assert_string_equal(r->pattern, "/api/v1/s3/{id}"); /* its handler answers 404 */
    assert_int_equal(route(app_routes, app_routes_count, "POST", "/api/v1/s3/x", &r, allow),
                     ROUTER_BAD_METHOD);
    assert_string_equal(allow, "GET, HEAD, PATCH");
    /* the objects routes and their filemanager paths share handlers and scope */
    for (i = 0; i < 3; i++) {
        static const char *const pairs[][2] = {{"/api/v1/s3/objects", "/api/v1/s3"},
                                               {"/api/v1/s3/objects/count", "/api/v1/s3/count"},
                                               {"/api/v1/s3/objects/x", "/api/v1/s3/x"}};
        const struct route *fm;

        assert_int_equal(route(app_routes, app_routes_count, "GET", pairs[i][0], &r, allow),
                         ROUTER_FOUND);
        assert_int_equal(route(app_routes, app_routes_count, "GET", pairs[i][1], &fm, allow),
                         ROUTER_FOUND);
        assert_true(r->handler == fm->handler);
        assert_int_equal(r->flags, fm->flags);
        assert_string_equal(r->scope, fm->scope);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_sample),       cmocka_unit_test(test_reader_rejects),
        cmocka_unit_test(test_route_table_unique),  cmocka_unit_test(test_openapi_matches_routes),
        cmocka_unit_test(test_router_literal_wins), cmocka_unit_test(test_router_app_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
