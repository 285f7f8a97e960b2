/*
 * test_event_body.c - an event body checked whole, its problem, and event file names
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "codec/event_body.h"
#include "codec/repos_csv.h"

static void
test_names(void **state)
{
    static const char *const good[] = {
        "repos-lock-worker1-1699123456-1234.csv", "a", "a.b.c", "名前.csv", "x y", NULL};
    static const char *const bad[] = {"",        ".hidden",      "..",          "a..b",
                                      "a/b",     "a\\b",         "ctl\001x",    "del\177",
                                      "bad\xff", "over\xc0\xaf", "cut\xe2\x82", NULL};
    char longname[300];
    size_t i;

    (void)state;
    for (i = 0; good[i]; i++)
        assert_null(event_body_name_problem(good[i]));
    for (i = 0; bad[i]; i++)
        assert_non_null(event_body_name_problem(bad[i]));
    memset(longname, 'a', sizeof(longname));
    longname[255] = '\0';
    assert_null(event_body_name_problem(longname));
    longname[255] = 'a';
    longname[256] = '\0';
    assert_non_null(event_body_name_problem(longname));
}

static void
test_valid_body(void **state)
{
    const char *csv = "origin,path,branch\ngithub.com,o/r,main\n";
    json_t *problem = (json_t *)1;
    struct repos_csv *doc = event_body_parse(csv, strlen(csv), NULL, &problem);

    (void)state;
    assert_non_null(doc);
    assert_null(problem);
    assert_int_equal(doc->nrows, 1);
    repos_csv_free(doc);
}

/* The problem: status, title, detail and every error with its line, as the API answers. */
static void
test_problems(void **state)
{
    const char *ragged = "origin,path\ngithub.com,a\ngithub.com\n\"open,x\n";
    struct repos_csv_limits lim = {1000, 65536, 1};
    const char *two = "origin,path\na,b\nc,d\n";
    json_t *problem = NULL;
    json_t *errors;

    (void)state;
    assert_null(event_body_parse("", 0, NULL, &problem));
    assert_int_equal(json_integer_value(json_object_get(problem, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(problem, "detail")), "empty body");
    json_decref(problem);
    assert_null(event_body_parse("origin,path\n\0", 13, NULL, &problem));
    assert_string_equal(json_string_value(json_object_get(problem, "title")), "Bad Request");
    json_decref(problem);
    assert_null(event_body_parse(ragged, strlen(ragged), NULL, &problem));
    assert_string_equal(json_string_value(json_object_get(problem, "type")), "about:blank");
    errors = json_object_get(problem, "errors");
    assert_true(json_array_size(errors) >= 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(errors, 0), "line")), 3);
    json_decref(problem);
    assert_null(event_body_parse(two, strlen(two), &lim, &problem)); /* over max_rows */
    assert_int_equal(json_integer_value(json_object_get(problem, "status")), 400);
    json_decref(problem);
    problem = event_body_problem(413, "body exceeds 5 bytes", NULL);
    assert_string_equal(json_string_value(json_object_get(problem, "title")), "Content Too Large");
    assert_null(json_object_get(problem, "errors"));
    json_decref(problem);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_valid_body),
        cmocka_unit_test(test_problems),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
