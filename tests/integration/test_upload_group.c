/*
 * test_upload_group.c - group commit of uploads (jobs/upload_group.h)
 *
 * Concurrent POST /api/v1/events and PUT /api/v1/events/pending/{name}
 * against the real binary on a private PostgreSQL. With a long
 * INGESTD_UPLOAD_GROUP_WAIT_US, one group in flight (INGESTD_UPLOAD_GROUPS=1)
 * and INGESTD_UPLOAD_GROUP_MAX equal to the number of concurrent uploads,
 * the uploads form one group: the test checks
 * it in PostgreSQL (their rows share one xmin, i.e. one transaction), then
 * checks each answer against what its own upload sent:
 *   - all committed, each with its own event, rows and journal change;
 *   - a name conflict in the group gets 409, the others their 201;
 *   - the same name + bytes twice, and the same bytes POSTed twice, in one
 *     group: one 201 and one 200 naming the same event;
 *   - an upload that fails in PostgreSQL (a CHECK constraint added by the
 *     test) gets its error and the others of its group are still stored;
 *   - PostgreSQL stopped while a group's transaction is open (blocked on a
 *     lock the test holds): every upload of the group gets 503, none is
 *     stored, and uploads work again after the restart.
 * With the default settings (no added wait), many concurrent uploads are all
 * committed and answered correctly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CSV_HEADER "origin,path,branch,changeset,publishUri\n"
#define MAX_SHOTS 64

/* ---- concurrent uploads ---------------------------------------------------- */

/* One upload sent from a thread of its own, and its answer. */
struct shot {
    const char *base;
    const char *method; /* "POST" (to /api/v1/events) or "PUT" (to pending/name) */
    const char *name;   /* PUT: the name */
    char *csv;
    const char *source; /* POST: X-Event-Source, or NULL */
    struct th_resp r;
    pthread_t thread;
};

static void *
shoot(void *arg)
{
    struct shot *s = arg;
    char path[256];
    char source[300];
    const char *headers[3] = {"Content-Type: text/csv", NULL, NULL};

    if (s->name)
        snprintf(path, sizeof(path), "%s/api/v1/events/pending/%s", s->base, s->name);
    else
        snprintf(path, sizeof(path), "%s/api/v1/events", s->base);
    if (s->source) {
        snprintf(source, sizeof(source), "X-Event-Source: %s", s->source);
        headers[1] = source;
    }
    th_http(s->method, path, headers, s->csv, strlen(s->csv), &s->r);
    return NULL;
}

/* Send the n shots at once and wait for every answer. */
static void
fire(struct shot *shots, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        assert_int_equal(pthread_create(&shots[i].thread, NULL, shoot, &shots[i]), 0);
    for (i = 0; i < n; i++)
        pthread_join(shots[i].thread, NULL);
}

static void
shots_release(struct shot *shots, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(shots[i].csv);
        th_resp_release(&shots[i].r);
    }
}

/* The answer of a 2xx shot: its event matches the bytes it sent; returns the event id (malloc'd).
 */
static char *
check_event(const struct shot *s, long want_status)
{
    char digest[65];
    json_t *j;
    char *id;

    if (s->r.status != want_status)
        fail_msg("%s %s: %ld %s (expected %ld)", s->method, s->name ? s->name : "", s->r.status,
                 s->r.body, want_status);
    j = th_resp_json(&s->r);
    th_sha256_hex(s->csv, strlen(s->csv), digest);
    assert_string_equal(th_jstr(j, "sha256"), digest);
    assert_int_equal(th_jint(j, "bytes"), (json_int_t)strlen(s->csv));
    assert_int_equal(th_jint(j, "rows"), 1);
    if (s->name || s->source)
        assert_string_equal(th_jstr(j, "source"), s->name ? s->name : s->source);
    id = strdup(th_jstr(j, "id"));
    json_decref(j);
    return id;
}

static char *
csv_of(const char *tag, int i)
{
    return th_strf(CSV_HEADER "github.com,org/%s-%d,main,c%d,https://a/%s/%d.jar\n", tag, i, i, tag,
                   i);
}

/* Every upload sent at once forms one group: a long wait, a group as large as the shots. */
static const char *const one_group_env[] = {"INGESTD_DB_POOL=8", "INGESTD_UPLOAD_GROUP_MAX=8",
                                            "INGESTD_UPLOAD_GROUP_WAIT_US=1000000",
                                            "INGESTD_UPLOAD_GROUPS=1", NULL};

static void
test_one_group(void **state)
{
    struct th_one *f;
    struct th_ingestd *srv = th_one_start(state, one_group_env);
    struct shot shots[8];
    char *names[8];
    size_t i;

    f = *state;
    memset(shots, 0, sizeof(shots));
    for (i = 0; i < 8; i++) {
        names[i] = i % 2 ? th_strf("name-%zu", i) : NULL;
        shots[i].base = th_ingestd_base(srv);
        shots[i].method = i % 2 ? "PUT" : "POST";
        shots[i].name = names[i];
        shots[i].csv = csv_of("one", (int)i);
    }
    fire(shots, 8);
    for (i = 0; i < 8; i++) {
        char *id = check_event(&shots[i], 201);
        char *sql = th_strf("SELECT count(*) FROM event_rows r JOIN events e ON "
                            "e.sequence = r.event_seq WHERE e.id = '%s'",
                            id);

        assert_int_equal(th_pg_ll(f->pg, sql), 1);
        free(sql);
        free(id);
        free(names[i]);
    }
    /* one transaction: one xmin for the 8 events, their names and their journal rows */
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM events"), 8);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(DISTINCT xmin::text) FROM events"), 1);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM event_names n JOIN events e "
                                     "ON e.id = n.event_id AND e.xmin::text = n.xmin::text"),
                     4);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM changes c JOIN events e "
                                     "ON c.subject = e.id::text AND c.xmin::text = e.xmin::text "
                                     "WHERE c.type = 'io.ingestd.event.accepted'"),
                     8);
    shots_release(shots, 8);
}

static void
test_conflicts_in_group(void **state)
{
    struct th_one *f;
    struct th_ingestd *srv = th_one_start(state, one_group_env);
    const char *base = th_ingestd_base(srv);
    struct shot shots[8];
    struct th_resp r;
    char *id[8];
    char *taken = csv_of("taken", 0);
    size_t i;

    f = *state;
    r = th_request("PUT", base, "/api/v1/events/pending/taken",
                   (const char *const[]){"Content-Type: text/csv", NULL}, taken, strlen(taken));
    assert_int_equal(r.status, 201);
    th_resp_release(&r);
    free(taken);
    memset(shots, 0, sizeof(shots));
    memset(id, 0, sizeof(id));
    for (i = 0; i < 8; i++) {
        shots[i].base = base;
        shots[i].method = "POST";
        shots[i].csv = csv_of("mix", (int)i);
    }
    /* 0, 1: the same name and bytes; 2: a taken name, other bytes; 3, 4: the same bytes POSTed */
    shots[0].method = shots[1].method = shots[2].method = "PUT";
    shots[0].name = shots[1].name = "twice";
    free(shots[1].csv);
    shots[1].csv = csv_of("mix", 0);
    shots[2].name = "taken";
    free(shots[4].csv);
    shots[4].csv = csv_of("mix", 3);
    fire(shots, 8);

    assert_true((shots[0].r.status == 201 && shots[1].r.status == 200) ||
                (shots[0].r.status == 200 && shots[1].r.status == 201));
    id[0] = check_event(&shots[0], shots[0].r.status);
    id[1] = check_event(&shots[1], shots[1].r.status);
    assert_string_equal(id[0], id[1]);
    assert_int_equal(shots[2].r.status, 409);
    assert_true((shots[3].r.status == 201 && shots[4].r.status == 200) ||
                (shots[3].r.status == 200 && shots[4].r.status == 201));
    id[3] = check_event(&shots[3], shots[3].r.status);
    id[4] = check_event(&shots[4], shots[4].r.status);
    assert_string_equal(id[3], id[4]);
    for (i = 5; i < 8; i++)
        id[i] = check_event(&shots[i], 201);
    /* the earlier name, then one group: twice, one of 3/4, 5, 6, 7 in one transaction */
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM events"), 6);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(DISTINCT xmin::text) FROM events "
                                     "WHERE source IS DISTINCT FROM 'taken'"),
                     1);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM event_rows"), 6);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM event_names"), 2);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM changes "
                                     "WHERE type = 'io.ingestd.event.accepted'"),
                     6);
    for (i = 0; i < 8; i++) {
        free(id[i]);
        shots[i].name = NULL;
    }
    shots_release(shots, 8);
}

static void
test_failure_in_group(void **state)
{
    struct th_one *f;
    struct th_ingestd *srv = th_one_start(state, one_group_env);
    struct shot shots[8];
    size_t i;

    f = *state;
    /* a CHECK that fails one upload in PostgreSQL itself, after its validation */
    PQclear(th_pg_exec(f->pg, "ALTER TABLE events ADD CONSTRAINT no_poison "
                              "CHECK (source IS DISTINCT FROM 'poison')"));
    memset(shots, 0, sizeof(shots));
    for (i = 0; i < 8; i++) {
        shots[i].base = th_ingestd_base(srv);
        shots[i].method = "POST";
        shots[i].csv = csv_of("poison", (int)i);
    }
    shots[5].source = "poison";
    fire(shots, 8);
    for (i = 0; i < 8; i++)
        if (i == 5)
            assert_int_equal(shots[i].r.status, 500);
        else
            free(check_event(&shots[i], 201));
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM events"), 7);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM events WHERE source = 'poison'"), 0);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM event_rows"), 7);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM changes "
                                     "WHERE type = 'io.ingestd.event.accepted'"),
                     7);
    shots_release(shots, 8);
}

/* With the default settings: 48 uploads from 16 threads, three rounds, all answered right. */
static void
test_default_concurrent(void **state)
{
    struct th_one *f;
    struct th_ingestd *srv = th_one_start(state, (const char *const[]){"INGESTD_DB_POOL=16", NULL});
    struct shot shots[16];
    int round;
    size_t i;

    f = *state;
    for (round = 0; round < 3; round++) {
        memset(shots, 0, sizeof(shots));
        for (i = 0; i < 16; i++) {
            shots[i].base = th_ingestd_base(srv);
            shots[i].method = "POST";
            shots[i].source = i % 3 ? "bench" : NULL;
            shots[i].csv = csv_of("def", round * 16 + (int)i);
        }
        fire(shots, 16);
        for (i = 0; i < 16; i++)
            free(check_event(&shots[i], 201));
        shots_release(shots, 16);
    }
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM events"), 48);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM event_rows"), 48);
    print_message("48 uploads in %lld transactions\n",
                  th_pg_ll(f->pg, "SELECT count(DISTINCT xmin::text) FROM events"));
}

/* Wait until a backend of the ingestd database waits for a lock. */
static void
wait_for_lock_waiter(const struct th_pg *pg)
{
    long deadline = th_now_ms() + 20000;

    while (th_pg_ll(pg, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") ==
           0) {
        if (th_now_ms() > deadline)
            fail_msg("no group waited for the lock");
        th_sleep_ms(20);
    }
}

static void
test_database_stops_mid_group(void **state)
{
    struct th_one *f;
    struct th_ingestd *srv =
        th_one_start(state, (const char *const[]){"INGESTD_DB_POOL=4", "INGESTD_UPLOAD_GROUP_MAX=4",
                                                  "INGESTD_UPLOAD_GROUPS=1",
                                                  "INGESTD_UPLOAD_GROUP_WAIT_US="
                                                  "1000000",
                                                  NULL});
    const char *base = th_ingestd_base(srv);
    struct shot shots[4];
    PGconn *holder;
    PGresult *res;
    struct th_resp r;
    long deadline;
    size_t i;

    f = *state;
    /* hold a lock every named upload needs: the group stops inside its transaction */
    holder = PQconnectdb(th_pg_url(f->pg));
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    res = PQexec(holder, "BEGIN; LOCK TABLE event_names IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    memset(shots, 0, sizeof(shots));
    for (i = 0; i < 4; i++) {
        shots[i].base = base;
        shots[i].method = i == 3 ? "PUT" : "POST";
        shots[i].name = i == 3 ? "locked" : NULL;
        shots[i].csv = csv_of("lost", (int)i);
        assert_int_equal(pthread_create(&shots[i].thread, NULL, shoot, &shots[i]), 0);
    }
    wait_for_lock_waiter(f->pg);
    th_pg_stop(f->pg); /* fast shutdown: the open transaction is gone */
    for (i = 0; i < 4; i++)
        pthread_join(shots[i].thread, NULL);
    PQfinish(holder);
    for (i = 0; i < 4; i++)
        if (shots[i].r.status != 503)
            fail_msg("upload %zu of a group cut by the database: %ld %s (expected 503)", i,
                     shots[i].r.status, shots[i].r.body);
    th_pg_restart(f->pg);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM events"), 0);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM event_rows"), 0);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM event_names"), 0);
    /* and uploads work again: the same bytes are stored now */
    deadline = th_now_ms() + 20000;
    for (;;) {
        r = th_post_csv(base, "/api/v1/events", shots[0].csv, NULL);
        if (r.status == 201)
            break;
        if (r.status != 503 || th_now_ms() > deadline)
            fail_msg("upload after the restart: %ld %s", r.status, r.body);
        th_resp_release(&r);
        th_sleep_ms(100);
    }
    th_resp_release(&r);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM events"), 1);
    for (i = 0; i < 4; i++)
        shots[i].name = NULL;
    shots_release(shots, 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_group, th_one_setup, th_one_teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_in_group, th_one_setup, th_one_teardown),
        cmocka_unit_test_setup_teardown(test_failure_in_group, th_one_setup, th_one_teardown),
        cmocka_unit_test_setup_teardown(test_default_concurrent, th_one_setup, th_one_teardown),
        cmocka_unit_test_setup_teardown(test_database_stops_mid_group, th_one_setup,
                                        th_one_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
