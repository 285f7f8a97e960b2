/*
 * test_starvation.c - long operations never starve uploads and health checks
 *
 * Merges, inventory submissions and PUT /repos.csv run on the long lane
 * (INGESTD_LONG_WORKERS threads, INGESTD_LONG_QUEUE waiting, 503 +
 * Retry-After past it), and at most INGESTD_LONG_WORKERS - 1 ?wait=true
 * inventory submissions wait at once. This test holds the maximum of each
 * long operation at once:
 *   - every merge blocks: the test holds the effective advisory lock that
 *     merges take (storage/locks.h) in a session of its own;
 *   - inventories read their manifest from a slow S3, a loopback server
 *     thread of this test that trickles its answer (one byte per 100 ms), so
 *     each ?wait=true submission waits for seconds;
 *   - more merges and ?wait=true submissions are sent than the lane takes.
 * Meanwhile a normal client uploads events, reads the event list and asks
 * /healthz; every one of its requests must answer within 1 s (p99 and max
 * are printed). Then the lock is released: every merge the lane accepted
 * succeeds, every refusal was a quick 503 with Retry-After, and every
 * accepted inventory submission ended with its job's status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "harness.h"

#define LATENCY_BOUND_MS 1000
#define LONG_WORKERS 2
#define LONG_QUEUE 6
#define MERGES 16      /* more than LONG_WORKERS + LONG_QUEUE */
#define INVENTORIES 4  /* more than LONG_WORKERS - 1 */
#define TRICKLE_MS 100 /* the slow S3: one byte of its answer every TRICKLE_MS */
#define HOLD_MS 6000   /* how long the merges stay blocked */

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    int s3_fd; /* the slow S3's listening socket */
    int s3_port;
    pthread_t s3_thread;
    atomic_int s3_requests;
    atomic_int s3_open; /* connections being trickled */
    atomic_int stop;
} G;

/* ---- the slow S3 ------------------------------------------------------------ */

/* One connection: read the request head, then trickle a 200 whose JSON is no manifest. */
static void *
slow_s3_conn(void *arg)
{
    static const char body[] = "{\"sourceBucket\":\"slow\",\"files\":\"not a list\"}";
    int fd = (int)(intptr_t)arg;
    char head[256];
    char in[8192];
    size_t got = 0;
    size_t i;

    while (got < sizeof(in) - 1) {
        ssize_t n = recv(fd, in + got, sizeof(in) - 1 - got, 0);

        if (n <= 0)
            break;
        got += (size_t)n;
        in[got] = '\0';
        if (strstr(in, "\r\n\r\n"))
            break;
    }
    atomic_fetch_add(&G.s3_requests, 1);
    snprintf(head, sizeof(head),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n",
             sizeof(body) - 1);
    if (send(fd, head, strlen(head), MSG_NOSIGNAL) > 0) {
        for (i = 0; i < sizeof(body) - 1 && !atomic_load(&G.stop); i++) {
            usleep(TRICKLE_MS * 1000);
            if (send(fd, body + i, 1, MSG_NOSIGNAL) != 1)
                break;
        }
    }
    close(fd);
    atomic_fetch_sub(&G.s3_open, 1);
    return NULL;
}

static void *
slow_s3_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd pfd = {G.s3_fd, POLLIN, 0};
        pthread_t t;
        int fd;

        if (atomic_load(&G.stop))
            break;
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        fd = accept(G.s3_fd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&G.s3_open, 1);
        if (pthread_create(&t, NULL, slow_s3_conn, (void *)(intptr_t)fd) != 0) {
            close(fd);
            atomic_fetch_sub(&G.s3_open, 1);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

static void
slow_s3_start(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    G.s3_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(G.s3_fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(G.s3_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(G.s3_fd, 64), 0);
    assert_int_equal(getsockname(G.s3_fd, (struct sockaddr *)&a, &len), 0);
    G.s3_port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&G.s3_thread, NULL, slow_s3_main, NULL), 0);
}

static void
slow_s3_stop(void)
{
    int i;

    atomic_store(&G.stop, 1);
    pthread_join(G.s3_thread, NULL);
    close(G.s3_fd);
    for (i = 0; i < 100 && atomic_load(&G.s3_open) > 0; i++)
        th_sleep_ms(50);
}

/* ---- clients of the long operations ------------------------------------------- */

struct long_op {
    const char *path;
    const char *body;
    atomic_long status; /* stored last: the test reads it before the join */
    long ms;
    int retry_after; /* a 503 carried Retry-After */
    char detail[256];
};

static void *
long_op_run(void *arg)
{
    struct long_op *op = arg;
    const char *const headers[] = {"Content-Type: application/json", NULL};
    char *url = th_strf("%s%s", th_ingestd_base(G.srv), op->path);
    long t0 = th_now_ms();
    struct th_resp r;
    char *ra;

    th_http("POST", url, headers, op->body, strlen(op->body), &r);
    op->ms = th_now_ms() - t0;
    ra = th_resp_header(&r, "Retry-After");
    op->retry_after = ra != NULL;
    snprintf(op->detail, sizeof(op->detail), "%.200s", r.body ? r.body : "");
    atomic_store(&op->status, r.status);
    free(ra);
    th_resp_release(&r);
    free(url);
    return NULL;
}

/* ---- the normal client --------------------------------------------------------- */

struct lat {
    long ms[8192];
    size_t n;
};

static int
cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a;
    long y = *(const long *)b;

    return (x > y) - (x < y);
}

static long
lat_q(struct lat *l, double q)
{
    if (!l->n)
        return 0;
    qsort(l->ms, l->n, sizeof(l->ms[0]), cmp_long);
    return l->ms[(size_t)(q * (double)(l->n - 1) + 0.5)];
}

/* One request of the normal client: want its status within LATENCY_BOUND_MS. */
static void
timed(struct lat *l, const char *method, const char *path, const char *csv, long want)
{
    long t0 = th_now_ms();
    struct th_resp r = csv ? th_post_csv(th_ingestd_base(G.srv), path, csv, NULL)
                           : th_request(method, th_ingestd_base(G.srv), path, NULL, NULL, 0);
    long ms = th_now_ms() - t0;

    if (r.status != want || ms > LATENCY_BOUND_MS)
        fail_msg("%s %s while the long lane is full: %ld in %ld ms (want %ld within %d ms): %s",
                 method, path, r.status, ms, want, LATENCY_BOUND_MS, r.body);
    if (l->n < sizeof(l->ms) / sizeof(l->ms[0]))
        l->ms[l->n++] = ms;
    th_resp_release(&r);
}

/* ---- fixtures ---------------------------------------------------------------- */

static int
group_setup(void **state)
{
    static char endpoint[64];
    static char workers[64];
    static char queue[64];
    static const char *env[] = {"INGESTD_SHUTDOWN_GRACE=2",
                                NULL,
                                NULL,
                                NULL,
                                "AWS_REGION=us-east-1",
                                "AWS_ACCESS_KEY_ID=S3RVER",
                                "AWS_SECRET_ACCESS_KEY=S3RVER",
                                NULL};

    (void)state;
    slow_s3_start();
    snprintf(endpoint, sizeof(endpoint), "AWS_ENDPOINT_URL=http://127.0.0.1:%d", G.s3_port);
    snprintf(workers, sizeof(workers), "INGESTD_LONG_WORKERS=%d", LONG_WORKERS);
    snprintf(queue, sizeof(queue), "INGESTD_LONG_QUEUE=%d", LONG_QUEUE);
    env[1] = endpoint;
    env[2] = workers;
    env[3] = queue;
    G.pg = th_pg_start();
    G.srv = th_ingestd_start(th_pg_url(G.pg), env);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.srv);
    slow_s3_stop();
    th_pg_free(G.pg);
    return 0;
}

/* ---- the test ----------------------------------------------------------------------- */

/* The session holding the effective lock that every merge waits for. */
static PGconn *
block_merges(void)
{
    PGconn *c = PQconnectdb(th_pg_url(G.pg));
    PGresult *res;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    res = PQexec(c, "SELECT pg_advisory_lock(7400000002)"); /* LOCK_EFFECTIVE_KEY */
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    return c;
}

static void
test_long_lane_full(void **state)
{
    struct long_op merges[MERGES];
    struct long_op invs[INVENTORIES];
    pthread_t mt[MERGES];
    pthread_t it[INVENTORIES];
    struct lat l = {0};
    PGconn *lock;
    long t0;
    int i;
    int n = 0;
    int merged = 0;
    int refused = 0;
    int waited = 0;
    int inv_refused = 0;

    (void)state;
    /* something for the merges to take */
    for (i = 0; i < 20; i++) {
        char *csv = th_strf("origin,path\ngithub.com,before/%d\n", i);

        timed(&l, "POST", "/api/v1/events", csv, 201);
        free(csv);
    }
    l.n = 0;
    lock = block_merges();
    memset(merges, 0, sizeof(merges));
    memset(invs, 0, sizeof(invs));
    for (i = 0; i < INVENTORIES; i++) {
        invs[i].path = "/api/v1/s3/inventories?wait=true";
        invs[i].body = i % 2 ? "{\"bucket\":\"slow\",\"key\":\"a/manifest.json\"}"
                             : "{\"bucket\":\"slow\",\"key\":\"b/manifest.json\"}";
        assert_int_equal(pthread_create(&it[i], NULL, long_op_run, &invs[i]), 0);
    }
    th_sleep_ms(300); /* the waiting submission holds its lane thread first */
    for (i = 0; i < MERGES; i++) {
        merges[i].path = "/api/v1/merges";
        merges[i].body = "{}";
        assert_int_equal(pthread_create(&mt[i], NULL, long_op_run, &merges[i]), 0);
    }
    /* while every long operation the lane takes is held: the normal client */
    t0 = th_now_ms();
    while (th_now_ms() - t0 < HOLD_MS) {
        char *csv = th_strf("origin,path\ngithub.com,during/%d\n", n++);

        timed(&l, "GET", "/healthz", NULL, 200);
        timed(&l, "POST", "/api/v1/events", csv, 201);
        timed(&l, "GET", "/api/v1/events?limit=5", NULL, 200);
        timed(&l, "GET", "/readyz", NULL, 200);
        free(csv);
        th_sleep_ms(20);
    }
    /* the merges are all still blocked: none answered but the refused ones */
    for (i = 0; i < MERGES; i++) {
        long st = atomic_load(&merges[i].status);

        if (st != 0 && st != 503)
            fail_msg("merge %d answered %ld while merges were blocked: %s", i, st,
                     merges[i].detail);
    }
    PQfinish(lock); /* ends the session: the lock is released */
    for (i = 0; i < MERGES; i++) {
        pthread_join(mt[i], NULL);
        if (merges[i].status == 503) {
            if (!merges[i].retry_after || merges[i].ms > LATENCY_BOUND_MS)
                fail_msg("merge %d: 503 in %ld ms, Retry-After %d", i, merges[i].ms,
                         merges[i].retry_after);
            refused++;
        } else if (merges[i].status == 200) {
            merged++;
        } else {
            fail_msg("merge %d: %ld: %s", i, merges[i].status, merges[i].detail);
        }
    }
    for (i = 0; i < INVENTORIES; i++) {
        pthread_join(it[i], NULL);
        if (invs[i].status == 503) {
            if (!invs[i].retry_after || invs[i].ms > LATENCY_BOUND_MS)
                fail_msg("inventory %d: 503 in %ld ms", i, invs[i].ms);
            inv_refused++;
        } else if (invs[i].status == 422 || invs[i].status == 502) {
            waited++; /* the slow S3's answer is no manifest: the job failed, as waited for */
        } else {
            fail_msg("inventory %d: %ld: %s", i, invs[i].status, invs[i].detail);
        }
    }
    /* the lane held LONG_WORKERS + LONG_QUEUE; one of its threads waits for the inventory */
    assert_int_equal(merged + waited, LONG_WORKERS + LONG_QUEUE);
    assert_int_equal(waited, LONG_WORKERS - 1);
    assert_int_equal(refused, MERGES - (LONG_WORKERS + LONG_QUEUE - waited));
    assert_int_equal(inv_refused, INVENTORIES - waited);
    assert_true(atomic_load(&G.s3_requests) >= 1);
    print_message("long lane full for %d ms (%d threads + %d queued: %d merges blocked on the "
                  "effective lock, %d ?wait=true inventory on a slow S3; %d merges and %d "
                  "inventory submissions refused 503 + Retry-After):\n"
                  "  normal client: %zu requests (uploads, event lists, /healthz, /readyz), "
                  "p50 %ld ms, p99 %ld ms, max %ld ms (bound %d ms); %d uploads\n",
                  HOLD_MS, LONG_WORKERS, LONG_QUEUE, merged, waited, refused, inv_refused, l.n,
                  lat_q(&l, 0.5), lat_q(&l, 0.99), lat_q(&l, 1.0), LATENCY_BOUND_MS, n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_lane_full),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
