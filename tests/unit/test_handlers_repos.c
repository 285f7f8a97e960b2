/*
 * test_handlers_repos.c - /api/v1/repos.csv (GET, PUT) and /api/v1/repos without sockets
 *
 * Each test gets a migrated database of its own (handler_support.h): the
 * effective file starts at generation 0 with the default header line only.
 * GET repos.csv answers with a shared body (the repos cache's rendering),
 * which response_release() hands back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "handler_support.h"
#include "handlers/handlers.h"

#define HEADER "origin,path,branch,cloneUrl,changeset,publishUri\n"
#define FILE3                                                                                      \
    HEADER "github.com,org/a,main,https://github.com/org/a,h1,https://art/a.jar\n"                 \
           "github.com,org/b,main,https://github.com/org/b,h2,https://art/b.jar\n"                 \
           "gitlab.com,team/c,dev,https://gitlab.com/team/c,h3,\n"

/* GET repos.csv with an optional header; res is the caller's. */
static void
get_csv(struct hs_app *a, const char *hname, const char *hvalue, struct response *res)
{
    struct hs_req r;

    hs_req_init(&r, a, "GET", "/api/v1/repos.csv");
    if (hname)
        hs_req_header(&r, hname, hvalue);
    hs_run(&r, handle_repos_csv_get, res);
    hs_req_release(&r);
}

/* PUT repos.csv with an optional If-Match; res is the caller's. */
static void
put_csv(struct hs_app *a, const char *csv, const char *if_match, struct response *res)
{
    struct hs_req r;

    hs_req_init(&r, a, "PUT", "/api/v1/repos.csv");
    hs_req_header(&r, "Content-Type", "text/csv; charset=utf-8");
    if (if_match)
        hs_req_header(&r, "If-Match", if_match);
    hs_req_body_str(&r, csv);
    hs_run(&r, handle_repos_csv_put, res);
    hs_req_release(&r);
}

static void
want_body(const struct response *res, const char *text)
{
    size_t len;
    const char *data = hs_body(res, &len);

    if (len != strlen(text) || memcmp(data, text, len) != 0)
        fail_msg("body (%zu bytes):\n%.*s--- want:\n%s", len, (int)len, data, text);
}

static void
test_csv_initial(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    const char *lm;

    get_csv(a, NULL, NULL, &res);
    hs_want_status(&res, 200);
    hs_want_content_type(&res, "text/csv; charset=utf-8");
    hs_want_header(&res, "ETag", "\"0\"");
    hs_want_header(&res, "X-Generation", "0");
    hs_want_header(&res, "Vary", "Accept-Encoding");
    hs_want_header(&res, "Cache-Control", "no-cache");
    hs_want_header(&res, "Content-Encoding", NULL);
    lm = response_get_header(&res, "Last-Modified");
    assert_non_null(lm);
    assert_int_equal(strlen(lm), strlen("Sun, 06 Nov 1994 08:49:37 GMT"));
    assert_string_equal(lm + strlen(lm) - 4, " GMT");
    want_body(&res, HEADER);
    response_release(&res);
}

static void
test_csv_if_none_match(void **state)
{
    static const char *const matching[] = {"\"0\"", "W/\"0\"", "\"9\", \"0\"", "*"};
    struct hs_app *a = *state;
    struct response res;
    size_t len;
    size_t i;

    for (i = 0; i < sizeof(matching) / sizeof(matching[0]); i++) {
        get_csv(a, "If-None-Match", matching[i], &res);
        hs_want_status(&res, 304);
        hs_want_header(&res, "ETag", "\"0\"");
        hs_body(&res, &len);
        assert_int_equal(len, 0);
        response_release(&res);
    }
    get_csv(a, "If-None-Match", "\"1\"", &res);
    hs_want_status(&res, 200);
    want_body(&res, HEADER);
    response_release(&res);
}

static void
test_csv_gzip(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    const char *data;
    char out[256];
    size_t len;
    z_stream zs;

    get_csv(a, "Accept-Encoding", "br, gzip", &res);
    hs_want_status(&res, 200);
    hs_want_header(&res, "Content-Encoding", "gzip");
    data = hs_body(&res, &len);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = sizeof(out);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, strlen(HEADER));
    assert_memory_equal(out, HEADER, strlen(HEADER));
    inflateEnd(&zs);
    response_release(&res);

    /* q=0 refuses gzip */
    get_csv(a, "Accept-Encoding", "gzip;q=0", &res);
    hs_want_status(&res, 200);
    hs_want_header(&res, "Content-Encoding", NULL);
    want_body(&res, HEADER);
    response_release(&res);
}

static void
test_put_then_get(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;

    put_csv(a, FILE3, "\"0\"", &res);
    body = hs_want_json(&res, 200);
    hs_want_members(body, "{\"generation\":1,\"rows\":3,\"columns\":[\"origin\",\"path\","
                          "\"branch\",\"cloneUrl\",\"changeset\",\"publishUri\"]}");
    hs_want_header(&res, "ETag", "\"1\"");
    json_decref(body);
    response_release(&res);

    /* the served file is the body, a new generation */
    get_csv(a, NULL, NULL, &res);
    hs_want_status(&res, 200);
    hs_want_header(&res, "ETag", "\"1\"");
    hs_want_header(&res, "X-Generation", "1");
    want_body(&res, FILE3);
    response_release(&res);

    /* "*" always holds */
    put_csv(a, HEADER "github.com,org/a,main,u,h9,p\n", "*", &res);
    body = hs_want_json(&res, 200);
    hs_want_members(body, "{\"generation\":2,\"rows\":1}");
    json_decref(body);
    response_release(&res);
}

static void
test_put_preconditions(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *p;

    /* another generation, or a weak tag (strong comparison): 412 */
    put_csv(a, FILE3, "\"5\"", &res);
    p = hs_want_problem(&res, 412, NULL);
    json_decref(p);
    response_release(&res);
    put_csv(a, FILE3, "W/\"0\"", &res);
    p = hs_want_problem(&res, 412, NULL);
    json_decref(p);
    response_release(&res);
    /* not entity tags at all: 400 */
    put_csv(a, FILE3, "0", &res);
    p = hs_want_problem(&res, 400, "If-Match");
    json_decref(p);
    response_release(&res);

    /* nothing was replaced */
    get_csv(a, NULL, NULL, &res);
    hs_want_header(&res, "ETag", "\"0\"");
    want_body(&res, HEADER);
    response_release(&res);
}

static void
test_put_rejects_bad_files(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *p;
    json_t *errors;

    put_csv(a,
            HEADER "github.com,org/a,main,u,h1,p\n"
                   "github.com,org/a,main,u,h2,p\n",
            NULL, &res);
    p = hs_want_problem(&res, 422, "1 duplicate keys");
    errors = json_object_get(p, "errors");
    assert_int_equal(json_array_size(errors), 1);
    hs_want_members(json_array_get(errors, 0),
                    "{\"line\":3,\"detail\":\"duplicate key (origin, path, branch) of line 2\"}");
    json_decref(p);
    response_release(&res);

    put_csv(a, "origin,branch\ngithub.com,main\n", NULL, &res);
    p = hs_want_problem(&res, 400, "path");
    json_decref(p);
    response_release(&res);

    put_csv(a, "", NULL, &res);
    p = hs_want_problem(&res, 400, "empty body");
    json_decref(p);
    response_release(&res);

    get_csv(a, NULL, NULL, &res);
    hs_want_header(&res, "ETag", "\"0\"");
    response_release(&res);
}

#define NEXT_PREFIX "/api/v1/repos?origin=github.com&limit=1&after="

/* GET /api/v1/repos with query pairs (name, value, ..., NULL); res is the caller's. */
static void
list(struct hs_app *a, struct response *res, ...)
{
    struct hs_req r;
    const char *name;
    va_list ap;

    hs_req_init(&r, a, "GET", "/api/v1/repos");
    va_start(ap, res);
    while ((name = va_arg(ap, const char *)) != NULL)
        hs_req_query(&r, name, va_arg(ap, const char *));
    va_end(ap);
    hs_run(&r, handle_repos_list, res);
    hs_req_release(&r);
}

static void
test_list_rows(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;
    json_t *items;
    const char *next;
    char *after;

    put_csv(a, FILE3, NULL, &res);
    hs_want_status(&res, 200);
    response_release(&res);

    list(a, &res, NULL);
    body = hs_want_json(&res, 200);
    hs_want_members(body, "{\"generation\":1,\"next\":null}");
    items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 3);
    hs_want_members(json_array_get(items, 0),
                    "{\"origin\":\"github.com\",\"path\":\"org/a\",\"branch\":\"main\","
                    "\"changeset\":\"h1\",\"publishUri\":\"https://art/a.jar\"}");
    hs_want_members(json_object_get(json_array_get(items, 2), "columns"),
                    "{\"cloneUrl\":\"https://gitlab.com/team/c\",\"publishUri\":\"\"}");
    json_decref(body);
    response_release(&res);

    /* filters */
    list(a, &res, "origin", "gitlab.com", NULL);
    body = hs_want_json(&res, 200);
    items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(th_jstr(json_array_get(items, 0), "path"), "team/c");
    json_decref(body);
    response_release(&res);
    list(a, &res, "path_prefix", "org/", "branch", "main", NULL);
    body = hs_want_json(&res, 200);
    assert_int_equal(json_array_size(json_object_get(body, "items")), 2);
    json_decref(body);
    response_release(&res);

    /* pages: the next link carries the filters, the limit and an opaque cursor */
    list(a, &res, "origin", "github.com", "limit", "1", NULL);
    body = hs_want_json(&res, 200);
    assert_int_equal(json_array_size(json_object_get(body, "items")), 1);
    next = th_jstr(body, "next");
    assert_true(strncmp(next, NEXT_PREFIX, strlen(NEXT_PREFIX)) == 0);
    after = th_strf("%s", strrchr(next, '=') + 1);
    json_decref(body);
    response_release(&res);
    list(a, &res, "origin", "github.com", "limit", "1", "after", after, NULL);
    body = hs_want_json(&res, 200);
    items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(th_jstr(json_array_get(items, 0), "path"), "org/b");
    assert_true(json_is_null(json_object_get(body, "next")));
    free(after);
    json_decref(body);
    response_release(&res);
}

static void
test_list_bad_query(void **state)
{
    static const char *const cases[][3] = {
        {"after", "abc", "after: not a cursor returned by this API"},
        {"limit", "0", "limit"},
        {"origin", "\xe2\x82", "origin: not valid UTF-8"},
        {"sort", "path", "unknown query parameter \"sort\""},
    };
    struct hs_app *a = *state;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct response res;
        json_t *p;

        list(a, &res, cases[i][0], cases[i][1], NULL);
        p = hs_want_problem(&res, 400, cases[i][2]);
        json_decref(p);
        response_release(&res);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csv_initial, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_csv_if_none_match, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_csv_gzip, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_put_then_get, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_put_preconditions, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_put_rejects_bad_files, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_list_rows, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_list_bad_query, hs_setup, hs_teardown),
    };

    return cmocka_run_group_tests(tests, hs_group_setup, hs_group_teardown);
}
