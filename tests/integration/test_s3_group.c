/*
 * test_s3_group.c - group commit of S3 event batches (jobs/s3_group.h)
 *
 * Concurrent POST /api/v1/s3/events against the real binary on a private
 * PostgreSQL.
 *   - One group: with a long INGESTD_S3_GROUP_WAIT_US, one group in flight
 *     and a group as large as the batches sent at once, 8 batches on the
 *     same keys (even ones in ascending key order, odd ones descending,
 *     sequencers in an order unrelated to arrival) form one transaction
 *     (their records share one xmin); every batch gets its own counts; a
 *     record two batches carry is ingested once and counted once as a
 *     duplicate; each key's current record is the one with the greatest
 *     sequencer (none when that one is a deletion).
 *   - A bad batch in a group (a sequencer that is not hex) gets its 400 and
 *     the other batches of the group are still ingested.
 *   - A later group on the same keys starts once the earlier one holds its
 *     key locks: with the earlier group held up inside PostgreSQL after
 *     its lock statement (the test holds an ACCESS EXCLUSIVE lock on the
 *     events' partition), the later batch's transaction waits in
 *     PostgreSQL on an advisory key lock, not in ingestd; once released,
 *     the two commit in arrival order (the later record without a
 *     sequencer is the key's current one).
 *   - Stress: small groups, two in flight at once (so groups wait for each
 *     other's key locks), 12 threads x 15 batches on 12 overlapping keys in
 *     both key orders with repeat deliveries of other threads' records:
 *     every answer 200 (no deadlock surfaces as a 5xx), one record per
 *     delivered event with its repeats counted, the counts of the answers
 *     add up, at most one current record per key and each key's current
 *     record the one S3.md's rule gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define EV_PATH "/api/v1/s3/events"
#define NKEYS 12
#define NBATCH 8

/* One S3 notification record as JSON text (size < 0: a deletion). */
static char *
rec_json(const char *bucket, const char *key, const char *seq, long long size)
{
    if (size < 0)
        return th_strf("{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":"
                       "\"ObjectRemoved:Delete\",\"eventTime\":\"2026-01-02T03:04:05.000Z\","
                       "\"s3\":{\"bucket\":{\"name\":\"%s\"},\"object\":{\"key\":\"%s\","
                       "\"versionId\":\"null\",\"sequencer\":\"%s\"}}}",
                       bucket, key, seq);
    return th_strf(
        "{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":"
        "\"ObjectCreated:Put\",\"eventTime\":\"2026-01-02T03:04:05.000Z\","
        "\"s3\":{\"bucket\":{\"name\":\"%s\"},\"object\":{\"key\":\"%s\","
        "\"versionId\":\"null\",\"size\":%lld,\"eTag\":\"e%lld\",\"sequencer\":\"%s\"}}}",
        bucket, key, size, size, seq);
}

/* Append rec (taken) to a body being built ("{\"Records\":[" first). */
static void
body_add(char **body, char *rec, int first)
{
    char *next = th_strf("%s%s%s", *body, first ? "" : ",", rec);

    free(*body);
    free(rec);
    *body = next;
}

static void
body_close(char **body)
{
    char *next = th_strf("%s]}", *body);

    free(*body);
    *body = next;
}

/* ---- concurrent posts ------------------------------------------------------ */

struct shot {
    const char *base;
    char *body;
    long status;
    long long ingested, duplicates;
    char answer[256];
    pthread_t thread;
};

static void *
shoot(void *arg)
{
    struct shot *s = arg;
    const char *headers[] = {"Content-Type: application/json", NULL};
    char *url = th_strf("%s" EV_PATH, s->base);
    struct th_resp r;
    json_t *j;

    th_http("POST", url, headers, s->body, strlen(s->body), &r);
    s->status = r.status;
    snprintf(s->answer, sizeof(s->answer), "%.200s", r.body ? r.body : "");
    if (r.status == 200 && (j = json_loadb(r.body, r.len, 0, NULL)) != NULL) {
        s->ingested = json_integer_value(json_object_get(j, "ingested"));
        s->duplicates = json_integer_value(json_object_get(j, "duplicates"));
        json_decref(j);
    }
    th_resp_release(&r);
    free(url);
    return NULL;
}

static void
fire(struct shot *shots, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        assert_int_equal(pthread_create(&shots[i].thread, NULL, shoot, &shots[i]), 0);
    for (i = 0; i < n; i++)
        pthread_join(shots[i].thread, NULL);
}

/* ---- one group --------------------------------------------------------------- */

/* Rank of batch b's record of key k in sequencer order: a permutation per key. */
static int
rank_of(int b, int k)
{
    return (b * 5 + k * 3) % NBATCH;
}

/* Batch b: one record per key (even b ascending keys, odd descending), plus "dup" in 0 and 1. */
static char *
group_body(int b, const char *bucket)
{
    char *body = th_strf("{\"Records\":[");
    int i;

    for (i = 0; i < NKEYS; i++) {
        int k = b % 2 ? NKEYS - 1 - i : i;
        int r = rank_of(b, k);
        char key[32];
        char seq[32];
        /* the last in sequencer order of every third key is a deletion */
        long long size = r == NBATCH - 1 && k % 3 == 0 ? -1 : 100 * b + k;

        snprintf(key, sizeof(key), "k%02d", k);
        snprintf(seq, sizeof(seq), "%02X%04X", r + 1, k);
        body_add(&body, rec_json(bucket, key, seq, size), i == 0);
    }
    if (b < 2)
        body_add(&body, rec_json(bucket, "dup", "00AA", 7), 0);
    body_close(&body);
    return body;
}

/* The current record of each key of bucket: the last in sequencer order, unless a deletion. */
static void
check_current(const struct th_pg *pg, const char *bucket)
{
    int k;

    for (k = 0; k < NKEYS; k++) {
        char *sql;
        int b;
        int last = -1;

        for (b = 0; b < NBATCH; b++)
            if (rank_of(b, k) == NBATCH - 1)
                last = b;
        sql = th_strf("SELECT count(*) FROM s3_objects WHERE bucket = '%s' AND key = 'k%02d' "
                      "AND is_current",
                      bucket, k);
        assert_int_equal(th_pg_ll(pg, sql), k % 3 == 0 ? 0 : 1);
        free(sql);
        if (k % 3 == 0)
            continue;
        sql = th_strf("SELECT size FROM s3_objects WHERE bucket = '%s' AND key = 'k%02d' "
                      "AND is_current",
                      bucket, k);
        assert_int_equal(th_pg_ll(pg, sql), 100 * last + k);
        free(sql);
    }
}

static const char *const one_group_env[] = {"INGESTD_DB_POOL=8", "INGESTD_S3_GROUP_WAIT_US=1000000",
                                            "INGESTD_S3_GROUPS=1",
                                            "INGESTD_S3_GROUP_RECORDS=98", /* 8 x 12 + 2 */
                                            NULL};

static void
test_one_group(void **state)
{
    struct th_one *f;
    struct shot shots[NBATCH];
    long long ingested = 0, duplicates = 0;
    int b;

    th_one_start(state, one_group_env);
    f = *state;
    memset(shots, 0, sizeof(shots));
    for (b = 0; b < NBATCH; b++) {
        shots[b].base = th_ingestd_base(f->srv);
        shots[b].body = group_body(b, "grp");
    }
    fire(shots, NBATCH);
    for (b = 0; b < NBATCH; b++) {
        if (shots[b].status != 200)
            fail_msg("batch %d: %ld %s", b, shots[b].status, shots[b].answer);
        /* each batch's own counts: its keys are new records, "dup" once new, once repeated */
        assert_int_equal(shots[b].ingested + shots[b].duplicates, NKEYS + (b < 2 ? 1 : 0));
        assert_true(shots[b].duplicates <= (b < 2 ? 1 : 0));
        ingested += shots[b].ingested;
        duplicates += shots[b].duplicates;
        free(shots[b].body);
    }
    assert_int_equal(ingested, NBATCH * NKEYS + 1);
    assert_int_equal(duplicates, 1);
    /* one transaction wrote them all */
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(DISTINCT xmin::text) FROM s3_objects "
                                     "WHERE bucket = 'grp'"),
                     1);
    assert_int_equal(th_pg_ll(f->pg, "SELECT number_duplicate_events FROM s3_objects "
                                     "WHERE bucket = 'grp' AND key = 'dup'"),
                     1);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM s3_objects WHERE bucket = 'grp'"),
                     NBATCH * NKEYS + 1);
    check_current(f->pg, "grp");
}

static void
test_bad_batch_in_group(void **state)
{
    struct th_one *f;
    struct shot shots[NBATCH];
    int b;

    th_one_start(state, one_group_env);
    f = *state;
    memset(shots, 0, sizeof(shots));
    for (b = 0; b < NBATCH; b++) {
        shots[b].base = th_ingestd_base(f->srv);
        if (b == 3) {
            shots[b].body = th_strf("{\"Records\":[");
            body_add(&shots[b].body, rec_json("grp", "k00", "00ZZ", 1), 1);
            body_close(&shots[b].body);
        } else {
            shots[b].body = group_body(b, "grp");
        }
    }
    fire(shots, NBATCH);
    for (b = 0; b < NBATCH; b++) {
        long want = b == 3 ? 400 : 200;

        if (shots[b].status != want)
            fail_msg("batch %d: %ld %s (want %ld)", b, shots[b].status, shots[b].answer, want);
        if (b == 3)
            assert_non_null(strstr(shots[b].answer, "record 1: invalid sequencer"));
        else
            assert_int_equal(shots[b].ingested + shots[b].duplicates, NKEYS + (b < 2 ? 1 : 0));
        free(shots[b].body);
    }
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM s3_objects WHERE bucket = 'grp'"),
                     (NBATCH - 1) * NKEYS + 1);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM s3_objects WHERE bucket = 'grp' "
                                     "AND sequencer_raw = '00ZZ'"),
                     0);
}

/* ---- a later group queues in PostgreSQL behind a locked one ------------------ */

/* A Created record of key without a sequencer (one is generated). */
static char *
noseq_json(const char *bucket, const char *key, long long size)
{
    return th_strf("{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":"
                   "\"ObjectCreated:Put\",\"eventTime\":\"2026-01-02T03:04:05.000Z\","
                   "\"s3\":{\"bucket\":{\"name\":\"%s\"},\"object\":{\"key\":\"%s\","
                   "\"versionId\":\"null\",\"size\":%lld,\"eTag\":\"e%lld\"}}}",
                   bucket, key, size, size);
}

/* Whether, within 10 s, a client backend waits on wait_event running a query that starts so. */
static int
backend_waits(const struct th_pg *pg, const char *wait_event, const char *query_start)
{
    char *sql = th_strf("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                        "'client backend' AND wait_event = '%s' AND starts_with(query, '%s')",
                        wait_event, query_start);
    struct timespec pause = {0, 50 * 1000 * 1000};
    int i;
    int found = 0;

    for (i = 0; i < 200 && !found; i++) {
        found = th_pg_ll(pg, sql) > 0;
        if (!found)
            nanosleep(&pause, NULL);
    }
    free(sql);
    return found;
}

static const char *const follow_env[] = {"INGESTD_DB_POOL=8", "INGESTD_KEY_INDEX_INTERVAL=0", NULL};

static void
test_follow_on_group(void **state)
{
    struct th_one *f;
    struct shot shots[2];
    PGconn *hold;
    PGresult *res;
    int queued;
    int i;

    th_one_start(state, follow_env);
    f = *state;
    memset(shots, 0, sizeof(shots));
    for (i = 0; i < 2; i++) {
        shots[i].base = th_ingestd_base(f->srv);
        shots[i].body = th_strf("{\"Records\":[");
        body_add(&shots[i].body, rec_json("follow", "k1", i ? "0B" : "0A", 10 + i), 1);
        body_add(&shots[i].body, noseq_json("follow", "n", 1 + i), 0);
        body_close(&shots[i].body);
    }
    /* hold the first group up after its key locks, at its first read of the catalog */
    hold = PQconnectdb(th_pg_url(f->pg));
    assert_int_equal(PQstatus(hold), CONNECTION_OK);
    res = PQexec(hold, "BEGIN; LOCK TABLE s3_objects_events IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    assert_int_equal(pthread_create(&shots[0].thread, NULL, shoot, &shots[0]), 0);
    if (!backend_waits(f->pg, "relation", "SELECT (SELECT max(o.sequencer)"))
        fail_msg("the first batch's transaction never reached the catalog");
    assert_int_equal(pthread_create(&shots[1].thread, NULL, shoot, &shots[1]), 0);
    /* the later batch, on the same keys, already waits in PostgreSQL for their locks */
    queued = backend_waits(f->pg, "advisory", "SELECT pg_advisory_xact_lock_shared");
    res = PQexec(hold, "COMMIT");
    PQclear(res);
    PQfinish(hold);
    pthread_join(shots[0].thread, NULL);
    pthread_join(shots[1].thread, NULL);
    for (i = 0; i < 2; i++) {
        if (shots[i].status != 200)
            fail_msg("batch %d: %ld %s", i, shots[i].status, shots[i].answer);
        assert_int_equal(shots[i].ingested, 2);
        free(shots[i].body);
    }
    if (!queued)
        fail_msg("the later batch waited in ingestd, not on the key locks in PostgreSQL");
    /* arrival order: the later record without a sequencer follows the earlier one */
    assert_int_equal(th_pg_ll(f->pg, "SELECT size FROM s3_objects WHERE bucket = 'follow' "
                                     "AND key = 'n' AND is_current"),
                     2);
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM s3_objects WHERE bucket = 'follow' "
                                     "AND key = 'n' AND sequencer > (SELECT sequencer FROM "
                                     "s3_objects WHERE bucket = 'follow' AND key = 'n' AND "
                                     "size = 1)"),
                     1);
    assert_int_equal(th_pg_ll(f->pg, "SELECT size FROM s3_objects WHERE bucket = 'follow' "
                                     "AND key = 'k1' AND is_current"),
                     11);
}

/* ---- stress: small groups, two at once --------------------------------------- */

#define THREADS 12
#define BATCHES 15
#define PER_BATCH 10

struct stress {
    const char *base;
    int thread;
    long bad;
    char answer[256];
    long long ingested, duplicates;
};

/*
 * Record j of batch b of thread t: key, sequencer (unique per event; a
 * repeat delivery reuses an earlier event of another thread), event type.
 */
static void
stress_event(int t, int b, int j, int *key, char seq[32], int *deleted)
{
    unsigned e = (unsigned)((t * BATCHES + b) * PER_BATCH + j);
    unsigned h = e * 2654435761u;

    if (j == PER_BATCH - 1 && b > 0) { /* a repeat of thread t+1's record j-1 of batch b-1 */
        t = (t + 1) % THREADS;
        b--;
        j--;
        e = (unsigned)((t * BATCHES + b) * PER_BATCH + j);
        h = e * 2654435761u;
    }
    /* both key orders: even threads walk keys up, odd ones down */
    *key = (int)((t % 2 ? NKEYS * 100 - (unsigned)(b * PER_BATCH + j)
                        : (unsigned)(b * PER_BATCH + j)) %
                 NKEYS);
    /* sequencers spread over time independently of the thread: (h >> 8) % 4096 then e */
    snprintf(seq, 32, "%03X%05X", (h >> 8) % 4096, e);
    *deleted = (h >> 20) % 5 == 0;
}

static void *
stress_thread(void *arg)
{
    struct stress *s = arg;
    const char *headers[] = {"Content-Type: application/json", NULL};
    char *url = th_strf("%s" EV_PATH, s->base);
    int b;
    int j;

    for (b = 0; b < BATCHES; b++) {
        char *body = th_strf("{\"Records\":[");
        struct th_resp r;
        json_t *js;

        for (j = 0; j < PER_BATCH; j++) {
            char key[32];
            char seq[32];
            int k;
            int del;

            stress_event(s->thread, b, j, &k, seq, &del);
            snprintf(key, sizeof(key), "s%02d", k);
            body_add(&body, rec_json("stress", key, seq, del ? -1 : 1000 + k), j == 0);
        }
        body_close(&body);
        th_http("POST", url, headers, body, strlen(body), &r);
        if (r.status != 200) {
            if (s->bad++ == 0)
                snprintf(s->answer, sizeof(s->answer), "%ld %.200s", r.status,
                         r.body ? r.body : "");
        } else if ((js = json_loadb(r.body, r.len, 0, NULL)) != NULL) {
            s->ingested += json_integer_value(json_object_get(js, "ingested"));
            s->duplicates += json_integer_value(json_object_get(js, "duplicates"));
            json_decref(js);
        }
        th_resp_release(&r);
        free(body);
    }
    free(url);
    return NULL;
}

static const char *const stress_env[] = {"INGESTD_DB_POOL=8", "INGESTD_S3_GROUPS=2",
                                         "INGESTD_S3_GROUP_RECORDS=30", NULL};

static void
test_stress(void **state)
{
    struct th_one *f;
    struct stress st[THREADS];
    pthread_t th[THREADS];
    long long ingested = 0, duplicates = 0;
    int t;
    int k;

    th_one_start(state, stress_env);
    f = *state;
    memset(st, 0, sizeof(st));
    for (t = 0; t < THREADS; t++) {
        st[t].base = th_ingestd_base(f->srv);
        st[t].thread = t;
        assert_int_equal(pthread_create(&th[t], NULL, stress_thread, &st[t]), 0);
    }
    for (t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (t = 0; t < THREADS; t++) {
        if (st[t].bad)
            fail_msg("thread %d: %ld failed requests, first: %s", t, st[t].bad, st[t].answer);
        ingested += st[t].ingested;
        duplicates += st[t].duplicates;
    }
    /* every delivery but the repeats is a record of its own */
    assert_int_equal(ingested, THREADS * BATCHES * PER_BATCH - THREADS * (BATCHES - 1));
    assert_int_equal(duplicates, THREADS * (BATCHES - 1));
    assert_int_equal(th_pg_ll(f->pg, "SELECT count(*) FROM s3_objects WHERE bucket = 'stress'"),
                     ingested);
    assert_int_equal(th_pg_ll(f->pg, "SELECT sum(number_duplicate_events) FROM s3_objects "
                                     "WHERE bucket = 'stress'"),
                     duplicates);
    for (k = 0; k < NKEYS; k++) { /* the current record: the latest, unless it is a deletion */
        char *sql = th_strf(
            "SELECT (SELECT count(*) FROM s3_objects WHERE bucket = 'stress' AND key = 's%02d' "
            "AND is_current) = (SELECT CASE WHEN event_type = 'Created' THEN 1 ELSE 0 END "
            "FROM s3_objects WHERE bucket = 'stress' AND key = 's%02d' "
            "ORDER BY sequencer DESC LIMIT 1) AND coalesce((SELECT id FROM s3_objects "
            "WHERE bucket = 'stress' AND key = 's%02d' AND is_current) = (SELECT id FROM "
            "s3_objects WHERE bucket = 'stress' AND key = 's%02d' ORDER BY sequencer DESC "
            "LIMIT 1), true)",
            k, k, k, k);
        char *v = th_pg_scalar(f->pg, sql);

        if (!v || strcmp(v, "t") != 0)
            fail_msg("key s%02d: the current record is not the latest one", k);
        free(v);
        free(sql);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_group, th_one_setup, th_one_teardown),
        cmocka_unit_test_setup_teardown(test_bad_batch_in_group, th_one_setup, th_one_teardown),
        cmocka_unit_test_setup_teardown(test_follow_on_group, th_one_setup, th_one_teardown),
        cmocka_unit_test_setup_teardown(test_stress, th_one_setup, th_one_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
