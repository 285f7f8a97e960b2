/*
 * test_crash_points.c - kill -9 at every named step, then restart
 *
 * For each crash point (core/crashpoint.h) the test starts the real binary
 * with INGESTD_TEST_CRASH_AT=<point> on a database of its own, drives the
 * operation until the process SIGKILLs itself (the exit status says signal
 * 9), starts it again without the variable on the same PostgreSQL and the
 * same folders, and checks what a careful operator would:
 *   - every event answered 2xx is stored exactly once;
 *   - no half merge: effective_meta's generation is the newest merge's,
 *     the effective rows are the merged events' rows, and a merge that did
 *     not commit left no merge row behind (a later merge does the work);
 *   - no inventory job is succeeded without its records, and a job cut
 *     short is taken up again after the restart and succeeds;
 *   - an imported file is stored once and ends in processed/;
 *   - an export target holds a whole generation at every moment, ends at
 *     the newest one, and export_targets records it;
 *   - a webhook is delivered; when the process died between the receiver's
 *     2xx and the commit of the outcome it is sent again with the same
 *     CloudEvents id (a receiver dedupes on it), never with another.
 * Real PostgreSQL, s3rver (the inventory), a loopback receiver (webhooks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clients/s3_client.h"
#include "harness.h"
#include "harness_receiver.h"

#define CSV_HEAD "origin,path,branch,cloneUrl,changeset,publishUri\n"
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define FIX_BUCKET "filemanager-inventory-test"
#define DEATH_MS 20000
#define WAIT_MS 20000

static struct {
    struct th_pg *pg;
    struct s3_client *s3;
    struct th_receiver *rx;
    char *root;
    int dbs;
    int rounds; /* CRASH_ROUNDS */
} G;

/* ---- helpers ----------------------------------------------------------------- */

/* A new database of its own; its conninfo (caller frees). */
static char *
new_db(void)
{
    char *sql = th_strf("CREATE DATABASE crash_%d", ++G.dbs);
    char *url = th_strf("%s dbname=crash_%d", th_pg_url(G.pg), G.dbs);

    PQclear(th_pg_exec(G.pg, sql));
    free(sql);
    return url;
}

static long long
sql_ll(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *res = PQexec(c, sql);
    long long v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    if (PQgetisnull(res, 0, 0))
        v = -1;
    else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0 || strcmp(PQgetvalue(res, 0, 0), "f") == 0)
        v = PQgetvalue(res, 0, 0)[0] == 't';
    else
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    PQfinish(c);
    return v;
}

static void
wait_sql(const char *url, const char *sql, long long want)
{
    long until = th_now_ms() + WAIT_MS;
    long long got;

    while ((got = sql_ll(url, sql)) != want && th_now_ms() < until)
        th_sleep_ms(50);
    if (got != want)
        fail_msg("%s: %lld, want %lld", sql, got, want);
}

/* The environment of an instance: the base entries, then `crash_at` when not NULL. */
static struct th_ingestd *
start(const char *url, const char *const *base, const char *crash_at)
{
    const char *env[16];
    char *crash = crash_at ? th_strf("INGESTD_TEST_CRASH_AT=%s", crash_at) : NULL;
    struct th_ingestd *p;
    size_t k = 0;

    while (base && base[k] && k < 14) {
        env[k] = base[k];
        k++;
    }
    env[k++] = crash;
    env[k] = NULL;
    p = th_ingestd_start(url, env);
    free(crash);
    return p;
}

/* Wait until p killed itself at its crash point: the status is signal 9. */
static void
wait_crash(struct th_ingestd *p, const char *point)
{
    long until = th_now_ms() + DEATH_MS;
    char *line = th_strf("\"crash_point\":\"%s\"", point);
    char *log;

    while (th_now_ms() < until) {
        char *path = th_strf("/proc/%d/stat", (int)th_ingestd_pid(p));
        FILE *f = fopen(path, "r");
        char st = 'Z';

        if (f) {
            if (fscanf(f, "%*d (%*[^)]) %c", &st) != 1)
                st = 'Z';
            fclose(f);
        }
        free(path);
        if (st == 'Z' || st == 'X')
            break;
        th_sleep_ms(20);
    }
    assert_int_equal(th_ingestd_term(p), 128 + 9);
    log = th_read_file(th_ingestd_log(p), NULL);
    if (!strstr(log, line))
        fail_msg("%s: no crash line in the log", point);
    free(log);
    free(line);
}

/* POST n one-row events numbered from first; each must be 2xx. */
static void
post_events(const struct th_ingestd *p, int first, int n)
{
    int i;

    for (i = first; i < first + n; i++) {
        char *csv = th_strf(CSV_HEAD "https://a.example/r%d.git,r%d,main,u,c%d,https://p/r%d\n", i,
                            i, i, i);
        struct th_resp r = th_post_csv(th_ingestd_base(p), "/api/v1/events", csv, NULL);

        if (r.status / 100 != 2)
            fail_msg("POST event %d: %ld %s", i, r.status, r.body ? r.body : "");
        th_resp_release(&r);
        free(csv);
    }
}

/* POST /api/v1/merges and want 200. */
static void
merge_ok(const struct th_ingestd *p)
{
    struct th_resp r = th_request("POST", th_ingestd_base(p), "/api/v1/merges", NULL, NULL, 0);

    if (r.status != 200)
        fail_msg("merge: %ld %s", r.status, r.body ? r.body : "");
    th_resp_release(&r);
}

/*
 * POST /api/v1/merges while a crash point waits in the exporter: the merge
 * commits, then wakes the exporter, which may reach the point and kill the
 * process before the merge's answer is written. 200, or the connection cut
 * by that kill; what was committed is checked after the restart.
 */
static void
merge_then_crash(const struct th_ingestd *p)
{
    char *url = th_strf("%s/api/v1/merges", th_ingestd_base(p));
    struct th_resp r;
    int rc = th_http("POST", url, NULL, NULL, 0, &r);

    if (rc == 0 && r.status != 200)
        fail_msg("merge: %ld %s", r.status, r.body ? r.body : "");
    th_resp_release(&r);
    free(url);
}

/* No half merge: generation, merges and effective rows agree; events stored once. */
static void
assert_merge_consistent(const char *url, long long events)
{
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM events"), events);
    assert_int_equal(sql_ll(url, "SELECT count(DISTINCT sha256) FROM events"), events);
    assert_int_equal(sql_ll(url, "SELECT (SELECT generation FROM effective_meta) = "
                                 "coalesce((SELECT max(generation) FROM merges "
                                 "WHERE NOT dry_run), 0) AS ok"),
                     1);
    assert_int_equal(sql_ll(url, "SELECT (SELECT count(*) FROM effective_rows) = "
                                 "coalesce((SELECT sum(added) FROM merges WHERE NOT dry_run), 0)"),
                     1);
    /* every event has a key of its own: the merged ones' rows are the effective rows */
    assert_int_equal(sql_ll(url, "SELECT (SELECT count(*) FROM effective_rows) = "
                                 "(SELECT coalesce(sum(row_count), 0) FROM events WHERE sequence "
                                 "<= (SELECT coalesce(max(seq_hi), 0) FROM merges))"),
                     1);
    assert_int_equal(sql_ll(url, "SELECT (SELECT coalesce(sum(event_count), 0) FROM merges) = "
                                 "(SELECT count(*) FROM events WHERE sequence <= "
                                 "(SELECT coalesce(max(seq_hi), 0) FROM merges))"),
                     1);
}

/* Lines of a file, -1 when absent. */
static long
file_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    int c;

    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n;
}

static void
wait_lines(const char *path, long want)
{
    long until = th_now_ms() + WAIT_MS;

    while (file_lines(path) != want && th_now_ms() < until)
        th_sleep_ms(50);
    assert_int_equal(file_lines(path), want);
}

/*
 * CRASH_ROUNDS times (default 1): fn(point, arg) kills the process at point,
 * restarts it, checks the invariants and returns the milliseconds from the
 * restart to the state they describe. Prints the point's figures.
 */
static void
run_point(long (*fn)(const char *, int), const char *point, int arg)
{
    long worst = 0;
    long sum = 0;
    int i;

    for (i = 0; i < G.rounds; i++) {
        long ms = fn(point, arg);

        sum += ms;
        if (ms > worst)
            worst = ms;
    }
    printf("crash point %s: %d kill(s), every one SIGKILL at the step; invariants held after "
           "each restart; restart to recovered: mean %ld ms, max %ld ms\n",
           point, G.rounds, sum / G.rounds, worst);
    fflush(stdout);
}

/* ---- merges ------------------------------------------------------------------ */

/* A merge killed at `point`; `committed`: whether the merge had committed by then. */
static long
merge_crash(const char *point, int committed)
{
    char *url = new_db();
    long t0;
    long ms;
    char *target = th_strf("%s/%s-%d.csv", G.root, point, G.dbs);
    char *exports = th_strf("INGESTD_EXPORTS=%s", target);
    const char *base[] = {exports, NULL};
    struct th_ingestd *p = start(url, base, point);
    char *murl = th_strf("%s/api/v1/merges", th_ingestd_base(p));
    struct th_resp r;

    post_events(p, 1, 5);
    th_http("POST", murl, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 0); /* the process died before answering */
    th_resp_release(&r);
    wait_crash(p, point);
    th_ingestd_free(p);
    assert_merge_consistent(url, 5);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM merges"), committed);
    assert_int_equal(sql_ll(url, "SELECT generation FROM effective_meta"), committed);

    t0 = th_now_ms();
    p = start(url, base, NULL);
    if (committed) /* the exporter catches up on the generation the lost wake-up was for */
        wait_lines(target, 6);
    else /* generation 0 is never published */
        assert_int_equal(file_lines(target), -1);
    merge_ok(p); /* does the work the crashed one did not, or nothing */
    assert_merge_consistent(url, 5);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM effective_rows"), 5);
    assert_int_equal(sql_ll(url, "SELECT generation FROM effective_meta"), 1);
    wait_lines(target, 6);
    wait_sql(url, "SELECT generation FROM export_targets", 1);
    ms = th_now_ms() - t0;
    assert_int_equal(th_ingestd_term(p), 0); /* a clean stop (no leak under ASan) */
    th_ingestd_free(p);
    free(murl);
    free(exports);
    free(target);
    free(url);
    return ms;
}

static void
test_merge_after_apply(void **state)
{
    (void)state;
    run_point(merge_crash, "merge.after_apply", 0);
}

static void
test_merge_before_commit(void **state)
{
    (void)state;
    run_point(merge_crash, "merge.before_commit", 0);
}

static void
test_merge_after_commit(void **state)
{
    (void)state;
    run_point(merge_crash, "merge.after_commit", 1);
}

/* ---- exports ----------------------------------------------------------------- */

/* Generation 1 published, then the write of generation 2 killed at `point`. */
static long
export_crash(const char *point, int unused)
{
    char *url = new_db();
    long t0;
    long ms;
    char *target = th_strf("%s/%s-%d.csv", G.root, point, G.dbs);
    char *exports = th_strf("INGESTD_EXPORTS=%s", target);
    const char *base[] = {exports, NULL};
    struct th_ingestd *p = start(url, base, NULL);
    char *gen1;
    char *now;

    (void)unused;
    post_events(p, 1, 3);
    merge_ok(p);
    wait_lines(target, 4);
    wait_sql(url, "SELECT generation FROM export_targets", 1);
    gen1 = th_read_file(target, NULL);
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);

    p = start(url, base, point);
    post_events(p, 4, 2);
    merge_then_crash(p); /* committed; the exporter then dies writing generation 2 */
    wait_crash(p, point);
    th_ingestd_free(p);
    now = th_read_file(target, NULL);
    if (strcmp(point, "export.before_rename") == 0)
        assert_string_equal(now, gen1); /* the old file, whole */
    else
        assert_int_equal(file_lines(target), 6); /* the new one, whole */
    assert_int_equal(sql_ll(url, "SELECT generation FROM export_targets"), 1);
    free(now);

    t0 = th_now_ms();
    p = start(url, base, NULL);
    wait_sql(url, "SELECT generation FROM export_targets", 2);
    assert_int_equal(file_lines(target), 6);
    assert_merge_consistent(url, 5);
    ms = th_now_ms() - t0;
    assert_int_equal(th_ingestd_term(p), 0); /* a clean stop (no leak under ASan) */
    th_ingestd_free(p);
    free(gen1);
    free(exports);
    free(target);
    free(url);
    return ms;
}

static void
test_export_before_rename(void **state)
{
    (void)state;
    run_point(export_crash, "export.before_rename", 0);
}

static void
test_export_after_rename(void **state)
{
    (void)state;
    run_point(export_crash, "export.after_rename", 0);
}

/* ---- imports ----------------------------------------------------------------- */

static int
exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* A file dropped into pending/ while the importer dies at `point`; stored once, moved. */
static long
import_crash(const char *point, int moved)
{
    char *pending_dir;
    char *url = new_db();
    long t0;
    long ms;
    char *loc = th_strf("%s/%s-%d", G.root, point, G.dbs);
    char *imports = th_strf("INGESTD_IMPORTS=%s", loc);
    const char *base[] = {imports, "INGESTD_IMPORT_RESCAN=1", NULL};
    char *tmp = th_strf("%s/%s-%d.tmp", G.root, point, G.dbs);
    char *pending = th_strf("%s/pending/repos-crash-1-1.csv", loc);
    char date[16];
    time_t t = time(NULL);
    struct tm tm;
    char *done;
    struct th_ingestd *p;
    FILE *f;

    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    done = th_strf("%s/processed/%s/repos-crash-1-1.csv", loc, date);
    mkdir(loc, 0755);
    pending_dir = th_strf("%s/pending", loc);
    mkdir(pending_dir, 0755); /* the test's rename must not race the importer creating it */
    free(pending_dir);
    p = start(url, base, point);
    f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(CSV_HEAD "https://a.example/i.git,i,main,u,c1,https://p/i\n", f);
    fclose(f);
    assert_int_equal(rename(tmp, pending), 0);
    wait_crash(p, point);
    th_ingestd_free(p);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM events"), 1);
    assert_int_equal(exists(done), moved);
    assert_int_equal(exists(pending), !moved);

    t0 = th_now_ms();
    p = start(url, base, NULL);
    {
        long until = th_now_ms() + WAIT_MS;

        while (!exists(done) && th_now_ms() < until)
            th_sleep_ms(50);
    }
    ms = th_now_ms() - t0;
    th_sleep_ms(1500); /* a rescan or more */
    assert_true(exists(done));
    assert_false(exists(pending));
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM events"), 1);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM import_files"), 1);
    assert_int_equal(th_ingestd_term(p), 0); /* a clean stop (no leak under ASan) */
    th_ingestd_free(p);
    free(done);
    free(pending);
    free(tmp);
    free(imports);
    free(loc);
    free(url);
    return ms;
}

static void
test_import_after_commit(void **state)
{
    (void)state;
    run_point(import_crash, "import.after_commit", 0);
}

static void
test_import_after_move(void **state)
{
    (void)state;
    run_point(import_crash, "import.after_move", 1);
}

/* ---- inventories ------------------------------------------------------------- */

static const char *const s3_env_names[] = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                           "AWS_SECRET_ACCESS_KEY", "AWS_REGION"};

/* The sample inventory submitted, the runner killed at `point`; the job ends succeeded. */
static long
inventory_crash(const char *point, int succeeded)
{
    char *url = new_db();
    long t0;
    long ms;
    char *env[4];
    const char *base[5];
    struct th_ingestd *p;
    struct th_resp r;
    long long created;
    size_t i;

    for (i = 0; i < 4; i++) {
        env[i] = th_strf("%s=%s", s3_env_names[i], getenv(s3_env_names[i]));
        base[i] = env[i];
    }
    base[4] = NULL;
    p = start(url, base, point);
    r = th_post_json(th_ingestd_base(p), "/api/v1/s3/inventories",
                     "{\"bucket\":\"" FIX_BUCKET "\",\"key\":\"csv/manifest.json\"}", NULL);
    assert_int_equal(r.status, 202);
    th_resp_release(&r);
    wait_crash(p, point);
    th_ingestd_free(p);
    /* succeeded only with its records, in one transaction */
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM inventory_jobs WHERE status = "
                                 "'succeeded'"),
                     succeeded);
    if (!succeeded)
        assert_int_equal(sql_ll(url, "SELECT count(*) FROM s3_objects"), 0);

    t0 = th_now_ms();
    p = start(url, base, NULL);
    wait_sql(url, "SELECT count(*) FROM inventory_jobs WHERE status = 'succeeded'", 1);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM inventory_jobs"), 1);
    created = sql_ll(url, "SELECT (summary->>'created')::bigint FROM inventory_jobs");
    assert_int_equal(created, 5); /* the sample's lines (tests/fixtures/s3-inventory) */
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM s3_objects"), created);
    ms = th_now_ms() - t0;
    assert_int_equal(th_ingestd_term(p), 0); /* a clean stop (no leak under ASan) */
    th_ingestd_free(p);
    for (i = 0; i < 4; i++)
        free(env[i]);
    free(url);
    return ms;
}

/*
 * The sample inventory ingested, a new key between its keys created by an
 * event before the inventory was taken, then the same inventory again, its
 * runner killed at `point`: the repeat is compared with the catalog (the
 * new key is staged as a marker for deletion detection, the lines of
 * inventory-test/key1 are not staged); nothing of it shows before the
 * restart, and after it the job ends with the key's Deleted record only.
 */
static long
inventory_repeat_crash(const char *point, int unused)
{
    char *url = new_db();
    long t0;
    long ms;
    char *env[4];
    const char *base[5];
    struct th_ingestd *p;
    struct th_resp r;
    size_t i;
    static const char manifest[] = "{\"bucket\":\"" FIX_BUCKET "\",\"key\":\"csv/manifest.json\"}";
    static const char events[] =
        "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":"
        "\"ObjectCreated:Put\",\"eventTime\":\"2024-05-07T00:00:00.000Z\",\"s3\":{"
        "\"s3SchemaVersion\":\"1.0\",\"bucket\":{\"name\":\"" FIX_BUCKET "\"},\"object\":{"
        "\"key\":\"inventory-test/key1a\",\"size\":3,\"versionId\":\"n1\",\"sequencer\":"
        "\"0055AED6DCD90281E5\"}}}]}";

    (void)unused;
    for (i = 0; i < 4; i++) {
        env[i] = th_strf("%s=%s", s3_env_names[i], getenv(s3_env_names[i]));
        base[i] = env[i];
    }
    base[4] = NULL;
    p = start(url, base, NULL);
    r = th_post_json(th_ingestd_base(p), "/api/v1/s3/inventories", manifest, NULL);
    assert_int_equal(r.status, 202);
    th_resp_release(&r);
    wait_sql(url, "SELECT count(*) FROM inventory_jobs WHERE status = 'succeeded'", 1);
    r = th_post_json(th_ingestd_base(p), "/api/v1/s3/events", events, NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);

    p = start(url, base, point);
    r = th_post_json(th_ingestd_base(p), "/api/v1/s3/inventories", manifest, NULL);
    assert_int_equal(r.status, 202);
    th_resp_release(&r);
    wait_crash(p, point);
    th_ingestd_free(p);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM inventory_jobs WHERE status = "
                                 "'succeeded'"),
                     1);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM s3_objects"), 6);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM s3_objects WHERE is_current AND key = "
                                 "'inventory-test/key1a'"),
                     1);

    t0 = th_now_ms();
    p = start(url, base, NULL);
    wait_sql(url, "SELECT count(*) FROM inventory_jobs WHERE status = 'succeeded'", 2);
    ms = th_now_ms() - t0;
    assert_int_equal(sql_ll(url, "SELECT (summary->>'deleted')::bigint FROM inventory_jobs "
                                 "ORDER BY created_at DESC LIMIT 1"),
                     1);
    assert_int_equal(sql_ll(url, "SELECT (summary->>'unchanged')::bigint FROM inventory_jobs "
                                 "ORDER BY created_at DESC LIMIT 1"),
                     5);
    assert_int_equal(sql_ll(url, "SELECT sum(skipped) FROM inventory_files f JOIN inventory_jobs "
                                 "j ON j.id = f.job_id WHERE j.created_at = (SELECT "
                                 "max(created_at) FROM inventory_jobs) AND f.compared AND "
                                 "f.unlisted = 1"),
                     2);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM s3_objects"), 7);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM s3_objects WHERE reason = 'Unlisted'"), 0);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM s3_objects WHERE is_current AND key = "
                                 "'inventory-test/key1a'"),
                     0);
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);
    for (i = 0; i < 4; i++)
        free(env[i]);
    free(url);
    return ms;
}

static void
test_inventory_repeat_after_staging(void **state)
{
    (void)state;
    run_point(inventory_repeat_crash, "inventory.after_staging", 0);
}

static void
test_inventory_repeat_mid_apply(void **state)
{
    (void)state;
    run_point(inventory_repeat_crash, "inventory.mid_apply", 0);
}

static void
test_inventory_after_staging(void **state)
{
    (void)state;
    run_point(inventory_crash, "inventory.after_staging", 0);
}

static void
test_inventory_mid_apply(void **state)
{
    (void)state;
    run_point(inventory_crash, "inventory.mid_apply", 0);
}

static void
test_inventory_before_commit(void **state)
{
    (void)state;
    run_point(inventory_crash, "inventory.before_commit", 0);
}

static void
test_inventory_after_commit(void **state)
{
    (void)state;
    run_point(inventory_crash, "inventory.after_commit", 1);
}

/* ---- webhooks ---------------------------------------------------------------- */

/* The CloudEvents id of recorded request i (malloc'd). */
static char *
received_id(size_t i)
{
    struct th_received q = th_receiver_get(G.rx, i);
    json_error_t e;
    json_t *j = json_loadb(q.body, q.len, 0, &e);
    char *id;

    if (!j)
        fail_msg("webhook body %zu is not JSON: %s", i, e.text);
    id = strdup(th_jstr(j, "id"));
    json_decref(j);
    th_received_release(&q);
    return id;
}

/* Killed between the receiver's 2xx and the commit: sent again, with the same id. */
static long
outbox_crash(const char *point, int unused)
{
    char *url = new_db();
    long t0;
    long ms;
    char *hooks = th_strf("INGESTD_WEBHOOK_URLS=%s/hook", th_receiver_base(G.rx));
    const char *base[] = {hooks, "INGESTD_WEBHOOK_SECRET=" SECRET, "INGESTD_WEBHOOK_BACKOFF_MS=50",
                          NULL};
    size_t before = th_receiver_count(G.rx);
    struct th_ingestd *p = start(url, base, point);
    char *murl = th_strf("%s/api/v1/merges", th_ingestd_base(p));
    struct th_resp r;
    char *first;
    size_t n;
    size_t i;

    (void)unused;
    th_receiver_answer(G.rx, 204, 0);
    post_events(p, 1, 2);
    /* the delivery may kill the process before the merge's answer leaves */
    th_http("POST", murl, NULL, NULL, 0, &r);
    assert_true(r.status == 200 || r.status == 0);
    th_resp_release(&r);
    wait_crash(p, point);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM merges"), 1);
    th_ingestd_free(p);
    assert_int_equal(th_receiver_count(G.rx), before + 1);
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM webhook_deliveries WHERE status = "
                                 "'delivered'"),
                     0);

    t0 = th_now_ms();
    p = start(url, base, NULL);
    wait_sql(url, "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'", 1);
    ms = th_now_ms() - t0;
    th_sleep_ms(500); /* a third copy would come now */
    n = th_receiver_count(G.rx) - before;
    assert_int_equal(n, 2); /* at least once; twice after this crash, never more */
    first = received_id(before);
    for (i = before + 1; i < before + n; i++) {
        char *id = received_id(i);

        assert_string_equal(id, first); /* the same event: a receiver dedupes it */
        free(id);
    }
    assert_int_equal(sql_ll(url, "SELECT count(*) FROM webhook_deliveries"), 1);
    assert_merge_consistent(url, 2);
    assert_int_equal(th_ingestd_term(p), 0); /* a clean stop (no leak under ASan) */
    th_ingestd_free(p);
    free(first);
    free(murl);
    free(hooks);
    free(url);
    return ms;
}

static void
test_outbox_after_2xx(void **state)
{
    (void)state;
    run_point(outbox_crash, "outbox.after_2xx", 0);
}

/* ---- fixtures -------------------------------------------------------------- */

static void
put_fixture(const char *name, const char *key)
{
    char *path = th_strf("%s/s3-inventory/%s", FIXTURES_DIR, name);
    char errbuf[ERRBUF_SIZE] = "";
    size_t len = 0;
    char *data = th_read_file(path, &len);

    if (th_s3rver_put(G.s3, FIX_BUCKET, key, data, len, errbuf, sizeof(errbuf)))
        fail_msg("put %s: %s", key, errbuf);
    free(data);
    free(path);
}

static int
group_setup(void **state)
{
    static const char *const buckets[] = {FIX_BUCKET, NULL};
    struct s3_client_config cfg;
    char tmpl[] = "/tmp/tcrash.XXXXXX";

    (void)state;
    G.rounds = getenv("CRASH_ROUNDS") ? atoi(getenv("CRASH_ROUNDS")) : 1;
    if (G.rounds < 1)
        G.rounds = 1;
    if (!mkdtemp(tmpl))
        return -1;
    chmod(tmpl, 0755);
    G.root = strdup(tmpl);
    if (th_s3rver_start(buckets) != 0)
        return -1;
    s3_client_config_from_env(&cfg);
    G.s3 = s3_client_new(&cfg);
    put_fixture("csv_inventory.csv.gz", "csv_inventory.csv.gz");
    put_fixture("csv_inventory_manifest.json", "csv/manifest.json");
    G.pg = th_pg_start();
    G.rx = th_receiver_start();
    return 0;
}

static int
group_teardown(void **state)
{
    char *cmd = th_strf("rm -rf %s", G.root);

    (void)state;
    th_receiver_free(G.rx);
    th_pg_free(G.pg);
    s3_client_free(G.s3);
    th_s3rver_free();
    free(th_run(cmd, NULL));
    free(cmd);
    free(G.root);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_after_apply),
        cmocka_unit_test(test_merge_before_commit),
        cmocka_unit_test(test_merge_after_commit),
        cmocka_unit_test(test_export_before_rename),
        cmocka_unit_test(test_export_after_rename),
        cmocka_unit_test(test_import_after_commit),
        cmocka_unit_test(test_import_after_move),
        cmocka_unit_test(test_inventory_after_staging),
        cmocka_unit_test(test_inventory_mid_apply),
        cmocka_unit_test(test_inventory_before_commit),
        cmocka_unit_test(test_inventory_after_commit),
        cmocka_unit_test(test_inventory_repeat_after_staging),
        cmocka_unit_test(test_inventory_repeat_mid_apply),
        cmocka_unit_test(test_outbox_after_2xx),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
