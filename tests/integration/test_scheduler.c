/*
 * test_scheduler.c - INGESTD_MERGE_INTERVAL merges pending events by itself
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static void
test_interval_merges_pending_events(void **state)
{
    static const char *const env[] = {"INGESTD_MERGE_INTERVAL=1", NULL};
    struct th_pg *pg = th_pg_start();
    struct th_ingestd *p = th_ingestd_start(th_pg_url(pg), env);
    const char *base = th_ingestd_base(p);
    struct th_resp r;
    json_t *event;
    char path[128];
    int merged = 0;
    int i;

    (void)state;
    r = th_post_csv(base, "/api/v1/events",
                    "origin,path,branch,changeset,publishUri\n"
                    "github.com,org/a,main,c1,https://a/1.jar\n",
                    NULL);
    assert_int_equal(r.status, 201);
    event = th_resp_json(&r);
    snprintf(path, sizeof(path), "/api/v1/events/%s",
             json_string_value(json_object_get(event, "id")));
    json_decref(event);
    th_resp_release(&r);

    /* merged by the scheduler within a few intervals, without POST /merges */
    for (i = 0; i < 100 && !merged; i++) {
        json_t *e;

        r = th_get(base, path, NULL);
        assert_int_equal(r.status, 200);
        e = th_resp_json(&r);
        merged = strcmp(json_string_value(json_object_get(e, "status")), "merged") == 0;
        json_decref(e);
        th_resp_release(&r);
        if (!merged)
            usleep(100 * 1000);
    }
    assert_true(merged);

    r = th_get(base, "/api/v1/repos.csv", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "origin,path,branch,cloneUrl,changeset,publishUri\n"
                                "github.com,org/a,main,,c1,https://a/1.jar\n");
    th_resp_release(&r);

    /* with nothing pending the scheduler records no empty merges */
    sleep(2);
    r = th_get(base, "/api/v1/merges", NULL);
    assert_int_equal(r.status, 200);
    event = th_resp_json(&r);
    assert_int_equal(json_array_size(json_object_get(event, "items")), 1);
    json_decref(event);
    th_resp_release(&r);

    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);
    th_pg_free(pg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_merges_pending_events),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
