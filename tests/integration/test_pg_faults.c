/*
 * test_pg_faults.c - PostgreSQL connections cut under load, invariants after
 *
 * ingestd reaches its PostgreSQL through a fault-injection proxy of this test
 * (harness_proxy.c: 127.0.0.1 -> the embedded server's Unix socket). While
 * clients upload events, merge, and post S3 event batches, the test resets
 * every database connection at random moments (mid-transaction), cuts them
 * after a random number of bytes of an upload's COPY (mid-COPY), delays and
 * partitions them. Clients retry a 503 as a client should (same
 * Idempotency-Key, same bytes). Afterwards, read directly from PostgreSQL:
 *   - every answer was 2xx or 503 (+ Retry-After): no 500, no hang;
 *   - every 2xx'd event is stored exactly once, with all its rows;
 *   - merges: ranges never overlap, every event up to the newest merge is in
 *     exactly one merge and has no rows left, every later event has all of
 *     its rows, the effective rows are exactly the merged events' keys, and
 *     the generation counts the merges that changed something (no half
 *     merge);
 *   - every 2xx'd S3 batch's records are stored exactly once, and every
 *     batch is all or nothing.
 * FAULT_SCALE (default 1) multiplies the counts; the figures are printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "harness.h"
#include "storage/db.h"

#define CLIENTS 4
#define MAX_TRIES 100

static struct {
    struct th_pg *pg;
    struct th_proxy *proxy;
    struct th_ingestd *srv;
    int scale;
    atomic_int done;     /* client threads finished */
    atomic_long retries; /* 503s (and transport errors) retried */
    atomic_long bad;     /* answers other than 2xx / 503 */
    char bad_what[512];
    const char *url; /* DATABASE_URL through the proxy */
    double slowness; /* connect_slowness(): scales the resets' cadence */
} G;

/* ---- clients ------------------------------------------------------------------- */

/*
 * POST body to path until it is not a 503 (nor a transport failure), at most
 * MAX_TRIES times. Returns the final status; a status other than 2xx and 503
 * is counted in G.bad.
 */
static long
post_retrying(const char *path, const char *const *headers, const char *body, int *tries)
{
    char *url = th_strf("%s%s", th_ingestd_base(G.srv), path);
    long status = 0;
    int i;

    for (i = 0; i < MAX_TRIES; i++) {
        struct th_resp r;

        th_http("POST", url, headers, body, strlen(body), &r);
        status = r.status;
        if (status == 503) {
            char *ra = th_resp_header(&r, "Retry-After");

            if (!ra) {
                atomic_fetch_add(&G.bad, 1);
                snprintf(G.bad_what, sizeof(G.bad_what), "503 without Retry-After on %s", path);
            }
            free(ra);
        } else if (status != 0 && (status < 200 || status > 299)) {
            atomic_fetch_add(&G.bad, 1);
            snprintf(G.bad_what, sizeof(G.bad_what), "POST %s: %ld %.300s", path, status,
                     r.body ? r.body : "");
        }
        th_resp_release(&r);
        if (status != 503 && status != 0)
            break;
        atomic_fetch_add(&G.retries, 1);
        th_sleep_ms(20 + rand() % 50);
    }
    if (tries)
        *tries = i + 1;
    free(url);
    return status;
}

struct uploader {
    int id;
    int n;
    int rows;
    long *status; /* per upload */
};

static char *
event_csv(int client, int i, int rows)
{
    struct buf b;
    int r;

    buf_init(&b, 0);
    buf_append_str(&b, "origin,path,changeset,publishUri\n");
    for (r = 0; r < rows; r++)
        buf_printf(&b, "github.com,fault/%d/%d/%d,%08d%032d,https://jars.example/%d/%d/%d.jar\n",
                   client, i, r, r, i, client, i, r);
    return buf_take(&b, NULL);
}

static void *
uploader_run(void *arg)
{
    struct uploader *u = arg;
    int i;

    for (i = 0; i < u->n; i++) {
        char *csv = event_csv(u->id, i, u->rows);
        char *key = th_strf("Idempotency-Key: fault-%d-%d", u->id, i);
        const char *const headers[] = {"Content-Type: text/csv", key, NULL};

        u->status[i] = post_retrying("/api/v1/events", headers, csv, NULL);
        free(key);
        free(csv);
    }
    atomic_fetch_add(&G.done, 1);
    return NULL;
}

/* ---- checks ------------------------------------------------------------------- */

static long
scalar_ll(const char *sql)
{
    char *v = th_pg_scalar(G.pg, sql);
    long n = v ? strtol(v, NULL, 10) : -1;

    free(v);
    return n;
}

/* Every upload of u that got a 2xx is stored exactly once with `rows` rows (unless merged). */
static int
check_uploads(const struct uploader *u, int merged_ok)
{
    int ok = 0;
    int i;

    for (i = 0; i < u->n; i++) {
        char *sql;
        long copies;

        sql =
            th_strf("SELECT count(*) FROM events WHERE idempotency_key = 'fault-%d-%d'", u->id, i);
        copies = scalar_ll(sql);
        free(sql);
        if (u->status[i] >= 200 && u->status[i] <= 299) {
            if (copies != 1)
                fail_msg("upload fault-%d-%d: %ld after a %ld", u->id, i, copies, u->status[i]);
            sql = th_strf("SELECT count(r.*) = e.row_count AND e.row_count = %d FROM events e "
                          "LEFT JOIN event_rows r ON r.event_seq = e.sequence "
                          "WHERE e.idempotency_key = 'fault-%d-%d' GROUP BY e.row_count",
                          u->rows, u->id, i);
            if (!merged_ok) {
                char *whole = th_pg_scalar(G.pg, sql);

                if (!whole || strcmp(whole, "t") != 0)
                    fail_msg("upload fault-%d-%d: rows missing", u->id, i);
                free(whole);
            }
            free(sql);
            ok++;
        } else if (copies > 1) {
            fail_msg("upload fault-%d-%d stored %ld times", u->id, i, copies);
        }
    }
    return ok;
}

/* Reset every connection at random moments until the clients are done. */
/*
 * How much slower than the reference machine this one opens a database
 * connection and runs a first query through the proxy (1 when as fast or
 * faster): the median of 5 against REF_CONNECT_MS. Every reset cuts every
 * connection, and a client's next transaction needs a new one first, so
 * the resets' cadence is scaled by it: the same resets per connection
 * lifetime on a slow machine (a VM whose page faults are slow opens a
 * backend in 15-30 ms) as on a fast one, not a stream of resets that
 * lets no transaction through; reset_work() scales the work to match.
 */
#define REF_CONNECT_MS 5.0

static double
connect_slowness(void)
{
    double ms[5];
    double tmp;
    int i;
    int j;

    for (i = 0; i < 5; i++) {
        long t0 = th_now_ms();
        PGconn *conn = PQconnectdb(G.url);
        PGresult *res = PQexec(conn, "SELECT 1");

        PQclear(res);
        PQfinish(conn);
        ms[i] = (double)(th_now_ms() - t0);
    }
    for (i = 0; i < 5; i++)
        for (j = i + 1; j < 5; j++)
            if (ms[j] < ms[i]) {
                tmp = ms[i];
                ms[i] = ms[j];
                ms[j] = tmp;
            }
    return ms[2] > REF_CONNECT_MS ? ms[2] / REF_CONNECT_MS : 1.0;
}

/*
 * The work of a test under resets: FAULT_SCALE times the slowness (rounded
 * up), so that the clients run for about as many reset rounds as on the
 * reference machine although the rounds are further apart.
 */
static int
reset_work(void)
{
    return G.scale * (int)(G.slowness + 0.999);
}

static long
chaos_resets(int clients, int min_ms, int max_ms)
{
    long rounds = 0;

    min_ms = (int)(min_ms * G.slowness);
    max_ms = (int)(max_ms * G.slowness);
    while (atomic_load(&G.done) < clients) {
        th_sleep_ms(min_ms + rand() % (max_ms - min_ms + 1));
        th_proxy_reset_all(G.proxy);
        rounds++;
    }
    return rounds;
}

/* ---- fixtures ------------------------------------------------------------------ */

static int
group_setup(void **state)
{
    static char url[256];
    static const char *env[] = {"INGESTD_SHUTDOWN_GRACE=2", "INGESTD_DB_WAIT=30", NULL};
    const char *s = getenv("FAULT_SCALE");
    char *sock;

    (void)state;
    G.scale = s && atoi(s) > 0 ? atoi(s) : 1;
    srand(4242);
    G.pg = th_pg_start();
    sock = th_strf("%s/run/.s.PGSQL.5432", th_pg_dir(G.pg));
    G.proxy = th_proxy_start_unix(sock);
    free(sock);
    snprintf(url, sizeof(url),
             "host=127.0.0.1 port=%d dbname=ingestd user=postgres connect_timeout=5",
             th_proxy_port(G.proxy));
    G.url = url;
    G.srv = th_ingestd_start(url, env);
    G.slowness = connect_slowness();
    print_message("connections through the proxy: %.1fx the reference's %.0f ms; resets' "
                  "intervals scaled by it\n",
                  G.slowness, REF_CONNECT_MS);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.srv);
    th_proxy_free(G.proxy);
    th_pg_free(G.pg);
    return 0;
}

static void
want_no_bad(const char *what)
{
    if (atomic_load(&G.bad))
        fail_msg("%s: %ld answers neither 2xx nor 503: %s", what, atomic_load(&G.bad), G.bad_what);
}

/* ---- uploads: resets mid-transaction ------------------------------------------------ */

static void
test_uploads_reset(void **state)
{
    struct uploader u[CLIENTS];
    pthread_t t[CLIENTS];
    long rounds;
    int ok = 0;
    int i;

    (void)state;
    atomic_store(&G.done, 0);
    atomic_store(&G.retries, 0);
    for (i = 0; i < CLIENTS; i++) {
        u[i].id = i;
        u[i].n = 15 * reset_work();
        u[i].rows = 20;
        u[i].status = calloc((size_t)u[i].n, sizeof(long));
        assert_int_equal(pthread_create(&t[i], NULL, uploader_run, &u[i]), 0);
    }
    rounds = chaos_resets(CLIENTS, 10, 80);
    for (i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);
    want_no_bad("uploads under resets");
    for (i = 0; i < CLIENTS; i++) {
        ok += check_uploads(&u[i], 0);
        free(u[i].status);
    }
    assert_int_equal(ok, CLIENTS * 15 * reset_work());
    print_message("uploads, %d clients: %d events 2xx'd, each stored once with its rows; %ld "
                  "reset rounds (%ld connections reset), %ld retried 503s\n",
                  CLIENTS, ok, rounds, th_proxy_resets(G.proxy), atomic_load(&G.retries));
}

/* ---- uploads: cut mid-COPY ------------------------------------------------------------ */

static void
test_uploads_cut_mid_copy(void **state)
{
    struct uploader u = {CLIENTS, 8 * G.scale, 2000, NULL};
    long cuts = 0;
    int i;

    (void)state;
    atomic_store(&G.retries, 0);
    u.status = calloc((size_t)u.n, sizeof(long));
    for (i = 0; i < u.n; i++) {
        char *csv = event_csv(u.id, i, u.rows);
        char *key = th_strf("Idempotency-Key: fault-%d-%d", u.id, i);
        const char *const headers[] = {"Content-Type: text/csv", key, NULL};
        long before = th_proxy_resets(G.proxy);

        /* the cut falls somewhere in the event's ~250 KB: its INSERT, its COPY, its commit */
        th_proxy_set(G.proxy, TH_PROXY_TRUNCATE, 1000 + rand() % 260000);
        u.status[i] = post_retrying("/api/v1/events", headers, csv, NULL);
        th_proxy_set(G.proxy, TH_PROXY_PASS, 0);
        cuts += th_proxy_resets(G.proxy) > before;
        free(key);
        free(csv);
    }
    want_no_bad("uploads cut mid-COPY");
    assert_int_equal(check_uploads(&u, 0), u.n);
    free(u.status);
    print_message("uploads of 2,000 rows cut after a random byte count: %d events 2xx'd, each "
                  "stored once with all rows; %ld cuts, %ld retried 503s\n",
                  u.n, cuts, atomic_load(&G.retries));
    assert_true(cuts > 0);
}

/* ---- merges ------------------------------------------------------------------------ */

struct merger {
    long status;
    int tries;
};

static void *
merger_run(void *arg)
{
    struct merger *m = arg;
    const char *const headers[] = {"Content-Type: application/json", NULL};

    m->status = post_retrying("/api/v1/merges", headers, "{}", &m->tries);
    atomic_fetch_add(&G.done, 1);
    return NULL;
}

static void
check_merges(void)
{
    long overlaps = scalar_ll("SELECT count(*) FROM merges a JOIN merges b ON a.id <> b.id "
                              "AND a.seq_lo < b.seq_hi AND b.seq_lo < a.seq_hi");
    long uncovered = scalar_ll(
        "SELECT count(*) FROM events e WHERE e.sequence <= (SELECT max(seq_hi) FROM merges) "
        "AND (SELECT count(*) FROM merges m WHERE m.seq_lo < e.sequence "
        "AND e.sequence <= m.seq_hi) <> 1");
    /* event_rows keep every event's rows, merged or not (the repository history) */
    long merged_short = scalar_ll(
        "SELECT count(*) FROM events e WHERE e.sequence <= (SELECT coalesce(max(seq_hi), 0) "
        "FROM merges) AND e.row_count <> (SELECT count(*) FROM event_rows r "
        "WHERE r.event_seq = e.sequence)");
    long pending_short = scalar_ll(
        "SELECT count(*) FROM events e WHERE e.sequence > (SELECT coalesce(max(seq_hi), 0) "
        "FROM merges) AND e.row_count <> (SELECT count(*) FROM event_rows r "
        "WHERE r.event_seq = e.sequence)");
    long merged_keys = scalar_ll("SELECT coalesce(sum(row_count), 0) FROM events WHERE sequence "
                                 "<= (SELECT coalesce(max(seq_hi), 0) FROM merges)");
    long effective = scalar_ll("SELECT count(*) FROM effective_rows");
    long generation = scalar_ll("SELECT generation FROM effective_meta");
    long changing = scalar_ll("SELECT count(*) FROM merges WHERE NOT dry_run AND "
                              "(added > 0 OR updated > 0)");

    if (overlaps || uncovered || merged_short || pending_short || merged_keys != effective ||
        generation != changing)
        fail_msg("half a merge: %ld overlapping ranges, %ld events not in exactly one merge, "
                 "%ld merged events missing rows, %ld pending events missing rows, %ld merged "
                 "keys vs %ld effective rows, generation %ld vs %ld changing merges",
                 overlaps, uncovered, merged_short, pending_short, merged_keys, effective,
                 generation, changing);
}

static void
test_merges_reset(void **state)
{
    int rounds = 6 * G.scale;
    long merged = 0;
    long cut_merges = 0;
    int r;

    (void)state;
    atomic_store(&G.retries, 0);
    for (r = 0; r < rounds; r++) {
        struct uploader u = {100 + r, 10, 50, NULL};
        struct merger m = {0, 0};
        pthread_t t;

        u.status = calloc((size_t)u.n, sizeof(long));
        atomic_store(&G.done, 0);
        uploader_run(&u); /* no faults: 10 events of 200 rows to merge */
        assert_int_equal(check_uploads(&u, 0), u.n);
        free(u.status);
        atomic_store(&G.done, 0);
        assert_int_equal(pthread_create(&t, NULL, merger_run, &m), 0);
        /* reset while the merge runs: at once, in it, or around its commit */
        th_sleep_ms(rand() % 40);
        if (r % 3 == 2)
            th_proxy_set(G.proxy, TH_PROXY_DELAY, 5);
        th_proxy_reset_all(G.proxy);
        th_sleep_ms(rand() % 20);
        th_proxy_reset_all(G.proxy);
        th_proxy_set(G.proxy, TH_PROXY_PASS, 0);
        pthread_join(t, NULL);
        if (m.status != 200)
            fail_msg("merge %d: %ld after %d tries", r, m.status, m.tries);
        cut_merges += m.tries > 1;
        merged++;
        check_merges();
    }
    want_no_bad("merges under resets");
    print_message("merges: %ld rounds (10 new events each, the merge's connections reset twice "
                  "while it ran), %ld needed a retry; ranges, rows, effective rows and "
                  "generation consistent after every round; %ld merges recorded\n",
                  merged, cut_merges, scalar_ll("SELECT count(*) FROM merges"));
}

/* ---- S3 event batches ------------------------------------------------------------------ */

struct s3_client_thread {
    int id;
    int batches;
    long *status;
};

static char *
s3_batch(int client, int b)
{
    struct buf j;
    int r;

    buf_init(&j, 0);
    buf_append_str(&j, "{\"Records\":[");
    for (r = 0; r < 20; r++)
        buf_printf(&j,
                   "%s{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"awsRegion\":"
                   "\"us-east-1\",\"eventTime\":\"2026-11-20T10:15:30.123Z\",\"eventName\":"
                   "\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"faults\"},\"object\":"
                   "{\"key\":\"c%d/b%d/r%d\",\"size\":1,\"eTag\":\"e\",\"versionId\":\"v1\","
                   "\"sequencer\":\"00%02X%04X%02X\"}}}",
                   r ? "," : "", client, b, r, client, b, r);
    buf_append_str(&j, "]}");
    return buf_take(&j, NULL);
}

static void *
s3_run(void *arg)
{
    struct s3_client_thread *c = arg;
    const char *const headers[] = {"Content-Type: application/json", NULL};
    int b;

    for (b = 0; b < c->batches; b++) {
        char *body = s3_batch(c->id, b);

        c->status[b] = post_retrying("/api/v1/s3/events", headers, body, NULL);
        free(body);
    }
    atomic_fetch_add(&G.done, 1);
    return NULL;
}

static void
test_s3_batches_reset(void **state)
{
    struct s3_client_thread c[CLIENTS];
    pthread_t t[CLIENTS];
    long rounds;
    long dupes;
    long partial;
    int ok = 0;
    int i;
    int b;

    (void)state;
    atomic_store(&G.done, 0);
    atomic_store(&G.retries, 0);
    for (i = 0; i < CLIENTS; i++) {
        c[i].id = i;
        c[i].batches = 10 * reset_work();
        c[i].status = calloc((size_t)c[i].batches, sizeof(long));
        assert_int_equal(pthread_create(&t[i], NULL, s3_run, &c[i]), 0);
    }
    /* a batch is a longer transaction (a lock per key): resets a little less often */
    rounds = chaos_resets(CLIENTS, 30, 150);
    for (i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);
    want_no_bad("S3 event batches under resets");
    dupes = scalar_ll("SELECT count(*) FROM (SELECT key FROM s3_objects WHERE bucket = 'faults' "
                      "GROUP BY key HAVING count(*) > 1) d");
    partial = scalar_ll("SELECT count(*) FROM (SELECT split_part(key, '/r', 1) AS batch, "
                        "count(*) AS n FROM s3_objects WHERE bucket = 'faults' GROUP BY 1) b "
                        "WHERE n <> 20");
    if (dupes || partial)
        fail_msg("S3 batches: %ld keys stored twice, %ld batches stored in part", dupes, partial);
    for (i = 0; i < CLIENTS; i++) {
        for (b = 0; b < c[i].batches; b++) {
            char *sql = th_strf("SELECT count(*) FROM s3_objects WHERE bucket = 'faults' AND "
                                "key LIKE 'c%d/b%d/r%%'",
                                i, b);

            if (c[i].status[b] >= 200 && c[i].status[b] <= 299) {
                if (scalar_ll(sql) != 20)
                    fail_msg("S3 batch c%d/b%d: %ld but %ld records", i, b, c[i].status[b],
                             scalar_ll(sql));
                ok++;
            } else {
                print_message("S3 batch c%d/b%d: gave up at %ld\n", i, b, c[i].status[b]);
            }
            free(sql);
        }
        free(c[i].status);
    }
    assert_int_equal(ok, CLIENTS * 10 * reset_work());
    print_message("S3 event batches of 20, %d clients: %d batches 2xx'd, every record once, no "
                  "batch in part; %ld reset rounds, %ld retried 503s\n",
                  CLIENTS, ok, rounds, atomic_load(&G.retries));
}

/* ---- a partition that heals ----------------------------------------------------------- */

static void
test_partition_heals(void **state)
{
    struct uploader u = {200, 5, 10, NULL};
    pthread_t t;
    long t0;

    (void)state;
    u.status = calloc((size_t)u.n, sizeof(long));
    atomic_store(&G.done, 0);
    th_proxy_set(G.proxy, TH_PROXY_DROP, 0);
    assert_int_equal(pthread_create(&t, NULL, uploader_run, &u), 0);
    th_sleep_ms(1500);
    /* meanwhile the process is up and says so */
    {
        struct th_resp r = th_get(th_ingestd_base(G.srv), "/healthz", NULL);

        assert_int_equal(r.status, 200);
        th_resp_release(&r);
    }
    t0 = th_now_ms();
    th_proxy_set(G.proxy, TH_PROXY_PASS, 0);
    pthread_join(t, NULL);
    want_no_bad("partition");
    assert_int_equal(check_uploads(&u, 0), u.n);
    free(u.status);
    print_message("a 1.5 s partition (nothing forwarded): uploads waited and completed %ld ms "
                  "after it healed, each stored once\n",
                  th_now_ms() - t0);
}

/* ---- a network gone silent: keepalives ------------------------------------------ */

/* The value libpq uses for keyword on conn (malloc'd), NULL when unset. */
static char *
conn_option(PGconn *conn, const char *keyword)
{
    PQconninfoOption *opts = PQconninfo(conn);
    PQconninfoOption *o;
    char *v = NULL;

    for (o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val)
            v = xstrdup(o->val);
    PQconninfoFree(opts);
    return v;
}

/*
 * A partition where packets vanish (not reproducible with a loopback proxy,
 * whose kernel acknowledges everything) must not hold a worker for hours:
 * every connection of storage/db.c asks for TCP keepalives and a user
 * timeout, unless the configured conninfo says otherwise.
 */
static void
test_connections_keepalive(void **state)
{
    static const char *const want[][2] = {{"keepalives", "1"},
                                          {"keepalives_idle", "30"},
                                          {"keepalives_interval", "10"},
                                          {"keepalives_count", "3"},
                                          {"tcp_user_timeout", "30000"}};
    char errbuf[ERRBUF_SIZE];
    char *own = th_strf("%s keepalives_idle=7", G.url);
    struct db *db = db_new(G.url);
    size_t i;
    char *v;

    (void)state;
    assert_int_equal(db_ensure(db, errbuf, sizeof(errbuf)), ERR_OK);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        v = conn_option(db_conn(db), want[i][0]);
        if (!v || strcmp(v, want[i][1]) != 0)
            fail_msg("%s = %s, want %s", want[i][0], v ? v : "(unset)", want[i][1]);
        free(v);
    }
    db_free(db);
    /* what the configuration sets wins */
    db = db_new(own);
    assert_int_equal(db_ensure(db, errbuf, sizeof(errbuf)), ERR_OK);
    v = conn_option(db_conn(db), "keepalives_idle");
    assert_string_equal(v, "7");
    free(v);
    v = conn_option(db_conn(db), "port");
    assert_int_equal(atoi(v), th_proxy_port(G.proxy));
    free(v);
    db_free(db);
    free(own);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uploads_reset),   cmocka_unit_test(test_uploads_cut_mid_copy),
        cmocka_unit_test(test_merges_reset),    cmocka_unit_test(test_s3_batches_reset),
        cmocka_unit_test(test_partition_heals), cmocka_unit_test(test_connections_keepalive),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
