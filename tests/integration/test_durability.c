/*
 * test_durability.c - crashes, outages and shutdowns of ingestd
 *
 * kill -9 during a stream of uploads and during a merge, PostgreSQL going
 * away and coming back under a running ingestd, SIGTERM with requests in
 * flight, the embedded default database, and the command line (migrate,
 * --version, --help, unknown commands, bad configuration).
 *
 * Client threads use their own libcurl easy handles (client_do below); the
 * harness and cmocka's assertions are used from the test's thread only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "harness.h"

#define CSV_HEADER "origin,path,branch,changeset,publishUri\n"
#define MERGE_LOCK_KEY "7400000002"
#define UP_THREADS 4

/* ---- small helpers ------------------------------------------------------- */

/* First cell of `sql` on an open connection as a number, -1 on any error. */
static long long
conn_ll(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    long long n = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

static void
conn_exec_or_fail(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];

        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
        PQclear(res);
        fail_msg("%s: %s", sql, msg);
    }
    PQclear(res);
}

/* 1 when the log file has a JSON line whose "msg" is `msg`. */
static int
log_has_msg(const char *path, const char *msg)
{
    char *log = th_read_file(path, NULL);
    char *needle = th_strf("\"msg\":\"%s\"", msg);
    int found = strstr(log, needle) != NULL;

    free(needle);
    free(log);
    return found;
}

static long long
json_ll(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static const char *
json_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- per-test fixture -------------------------------------------------- */

/* What a test started; the teardown releases it, also after a failed assertion. */
struct fixture {
    struct th_pg *pg;
    struct th_ingestd *ingestd;
    PGconn *conn;
};

static int
fixture_setup(void **state)
{
    *state = xcalloc(1, sizeof(struct fixture));
    return 0;
}

static int
fixture_teardown(void **state)
{
    struct fixture *f = *state;

    th_ingestd_free(f->ingestd);
    PQfinish(f->conn);
    th_pg_free(f->pg);
    free(f);
    return 0;
}

static struct th_pg *
fixture_pg(void **state)
{
    struct fixture *f = *state;

    f->pg = th_pg_start();
    return f->pg;
}

static struct th_ingestd *
fixture_ingestd(void **state, const char *database_url)
{
    struct fixture *f = *state;

    f->ingestd = th_ingestd_start(database_url, NULL);
    return f->ingestd;
}

/* A connection of the test's own to the database. */
static PGconn *
fixture_conn(void **state)
{
    struct fixture *f = *state;

    f->conn = PQconnectdb(th_pg_url(f->pg));
    if (PQstatus(f->conn) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(f->conn));
    return f->conn;
}

/* ---- a thread-safe HTTP client: one easy handle per thread ------------- */

struct reply {
    long status;
    int curl_code;
    char *body;
    size_t len;
    char *headers;
};

static void
reply_release(struct reply *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

static size_t
collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    if (buf_append(ud, ptr, size * nmemb))
        return 0;
    return size * nmemb;
}

static size_t
collect_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;

    if (size * nmemb >= 5 && !strncmp(ptr, "HTTP/", 5))
        buf_reset(b);
    if (buf_append(b, ptr, size * nmemb))
        return 0;
    return size * nmemb;
}

/*
 * One request on handle h (connections are kept alive between calls).
 * `content_type` NULL sends none. A POST with body NULL sends an empty body.
 */
static void
client_do(CURL *h, const char *method, const char *url, const char *content_type, const void *body,
          size_t len, struct reply *out)
{
    struct curl_slist *list = NULL;
    struct buf b;
    struct buf hb;
    char ct[160];

    memset(out, 0, sizeof(*out));
    buf_init(&b, 0);
    buf_init(&hb, 0);
    curl_easy_reset(h);
    list = curl_slist_append(list, "Expect:");
    snprintf(ct, sizeof(ct), "Content-Type:%s%s", content_type ? " " : "",
             content_type ? content_type : "");
    list = curl_slist_append(list, ct);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hb);
    if (!strcmp(method, "POST") || body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    }
    if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    out->curl_code = (int)curl_easy_perform(h);
    if (out->curl_code == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    buf_append(&b, "", 0);
    buf_append(&hb, "", 0);
    out->body = buf_take(&b, &out->len);
    out->headers = buf_take(&hb, NULL);
    curl_slist_free_all(list);
}

static json_t *
reply_json(const struct reply *r)
{
    return json_loadb(r->body, r->len, 0, NULL);
}

/* Every event (status NULL: all) through the API's paging, ascending sequence. */
static json_t *
list_events(const char *base, const char *status)
{
    json_t *all = json_array();
    long long after = 0;

    for (;;) {
        char *path = th_strf("/api/v1/events?limit=1000&after=%lld%s%s", after,
                             status ? "&status=" : "", status ? status : "");
        struct th_resp r = th_get(base, path, NULL);
        json_t *j;
        json_t *items;
        size_t n;

        free(path);
        assert_int_equal(r.status, 200);
        j = th_resp_json(&r);
        th_resp_release(&r);
        items = json_object_get(j, "items");
        n = json_array_size(items);
        json_array_extend(all, items);
        if (n == 0 || json_is_null(json_object_get(j, "next"))) {
            json_decref(j);
            break;
        }
        after = json_ll(json_array_get(items, n - 1), "sequence");
        json_decref(j);
    }
    return all;
}

/* POST /api/v1/merges from the test's thread; the merge object (caller decrefs). */
static json_t *
merge_ok(const char *base)
{
    struct th_resp r = th_post_json(base, "/api/v1/merges", "", NULL);
    json_t *m;

    if (r.status != 200)
        fail_msg("POST /api/v1/merges: %ld %s", r.status, r.body);
    m = th_resp_json(&r);
    th_resp_release(&r);
    assert_string_equal(json_str(m, "status"), "succeeded");
    assert_int_equal(json_ll(m, "added") + json_ll(m, "updated") + json_ll(m, "unchanged") +
                         json_ll(m, "skipped"),
                     json_ll(m, "rows"));
    return m;
}

/* ---- kill -9 during a stream of uploads --------------------------------- */

struct attempt {
    char *body;
    size_t len;
    int rows;
    long status;
    char id[40];
    long long sequence;
    char sha[65];
};

struct uploader {
    pthread_t tid;
    int index;
    const char *base;
    atomic_int *stop;
    atomic_int *busy;
    struct attempt *att;
    size_t n;
    size_t alloc;
};

/* Event i of thread t: distinct keys, values; thread 3 sends 1,200 rows (the COPY path). */
static char *
stream_event(int t, int i, int *rows, size_t *len)
{
    struct buf b;
    int k;

    *rows = t == 3 ? 1200 : 1 + i % 10;
    buf_init(&b, 0);
    buf_append_str(&b, CSV_HEADER);
    for (k = 0; k < *rows; k++)
        buf_printf(&b, "github.com,org/u%d-%d-%d,main,cs%dx%dx%d,https://a.example/%d/%d/%d.jar\n",
                   t, i, k, t, i, k, t, i, k);
    return buf_take(&b, len);
}

static void *
uploader_main(void *arg)
{
    struct uploader *u = arg;
    CURL *h = curl_easy_init();
    char *url = th_strf("%s/api/v1/events", u->base);
    int i;

    for (i = 0; !atomic_load(u->stop); i++) {
        struct attempt a;
        struct reply r;

        memset(&a, 0, sizeof(a));
        a.body = stream_event(u->index, i, &a.rows, &a.len);
        th_sha256_hex(a.body, a.len, a.sha);
        atomic_fetch_add(u->busy, 1);
        client_do(h, "POST", url, "text/csv", a.body, a.len, &r);
        atomic_fetch_sub(u->busy, 1);
        a.status = r.status;
        if (r.status == 201) {
            json_t *j = reply_json(&r);

            snprintf(a.id, sizeof(a.id), "%s", j ? json_str(j, "id") : "");
            a.sequence = j ? json_ll(j, "sequence") : 0;
            json_decref(j);
        }
        reply_release(&r);
        if (u->n == u->alloc) {
            u->alloc = u->alloc ? 2 * u->alloc : 256;
            u->att = xrealloc(u->att, u->alloc * sizeof(*u->att));
        }
        u->att[u->n++] = a;
        if (a.status == 0)
            break; /* ingestd is gone */
    }
    free(url);
    curl_easy_cleanup(h);
    return NULL;
}

static int
cmp_attempt_sha(const void *a, const void *b)
{
    const struct attempt *const *x = a;
    const struct attempt *const *y = b;

    return strcmp((*x)->sha, (*y)->sha);
}

static void
test_kill9_during_uploads(void **state)
{
    struct th_pg *pg = fixture_pg(state);
    struct th_ingestd *p = fixture_ingestd(state, th_pg_url(pg));
    struct uploader up[UP_THREADS];
    atomic_int stop = 0;
    atomic_int busy = 0;
    struct attempt **all = NULL;
    size_t nall = 0;
    size_t n201 = 0;
    size_t unanswered = 0;
    size_t stored_unanswered = 0;
    size_t matched201 = 0;
    int busy_at_kill = 0;
    long deadline;
    PGresult *res;
    json_t *listed;
    CURL *h;
    size_t i;
    int t;

    memset(up, 0, sizeof(up));
    for (t = 0; t < UP_THREADS; t++) {
        up[t].index = t;
        up[t].base = th_ingestd_base(p);
        up[t].stop = &stop;
        up[t].busy = &busy;
        assert_int_equal(pthread_create(&up[t].tid, NULL, uploader_main, &up[t]), 0);
    }
    th_sleep_ms(1000);
    /* kill while at least one request is in flight */
    deadline = th_now_ms() + 2000;
    while ((busy_at_kill = atomic_load(&busy)) == 0 && th_now_ms() < deadline)
        ;
    th_ingestd_kill9(p);
    atomic_store(&stop, 1);
    for (t = 0; t < UP_THREADS; t++)
        pthread_join(up[t].tid, NULL);
    assert_true(busy_at_kill > 0);

    for (t = 0; t < UP_THREADS; t++) {
        for (i = 0; i < up[t].n; i++) {
            struct attempt *a = &up[t].att[i];

            all = xrealloc(all, (nall + 1) * sizeof(*all));
            all[nall++] = a;
            if (a->status == 201)
                n201++;
            else if (a->status == 0)
                unanswered++;
            else
                fail_msg("upload before the kill got %ld (expected 201)", a->status);
        }
    }
    print_message("uploads: %zu attempted, %zu got 201, %zu unanswered\n", nall, n201, unanswered);
    assert_true(n201 >= 20);
    assert_true(unanswered >= 1 && unanswered <= UP_THREADS);

    th_ingestd_restart(p);

    /* every acknowledged event is there, byte for byte */
    h = curl_easy_init();
    for (i = 0; i < nall; i++) {
        struct attempt *a = all[i];
        struct reply r;
        char *url;
        json_t *j;

        if (a->status != 201)
            continue;
        url = th_strf("%s/api/v1/events/%s", th_ingestd_base(p), a->id);
        client_do(h, "GET", url, NULL, NULL, 0, &r);
        free(url);
        if (r.status != 200)
            fail_msg("GET event %s (acknowledged with 201): %ld %s", a->id, r.status, r.body);
        j = reply_json(&r);
        assert_non_null(j);
        assert_int_equal(json_ll(j, "rows"), a->rows);
        assert_int_equal(json_ll(j, "sequence"), a->sequence);
        assert_string_equal(json_str(j, "status"), "pending");
        assert_string_equal(json_str(j, "sha256"), a->sha);
        json_decref(j);
        reply_release(&r);

        url = th_strf("%s/api/v1/events/%s/content", th_ingestd_base(p), a->id);
        client_do(h, "GET", url, NULL, NULL, 0, &r);
        free(url);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.len, a->len);
        assert_memory_equal(r.body, a->body, a->len);
        reply_release(&r);
    }

    /* every stored event is one that was sent, with all of its rows */
    qsort(all, nall, sizeof(*all), cmp_attempt_sha);
    res = th_pg_exec(pg, "SELECT e.id, e.sha256, e.row_count, "
                         "(SELECT count(*) FROM event_rows r WHERE r.event_seq = e.sequence), "
                         "e.sequence FROM events e ORDER BY e.sequence");
    for (i = 0; i < (size_t)PQntuples(res); i++) {
        struct attempt key;
        struct attempt *kp = &key;
        struct attempt **found;
        const char *id = PQgetvalue(res, (int)i, 0);
        long long rows = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10);
        long long nrows = strtoll(PQgetvalue(res, (int)i, 3), NULL, 10);

        snprintf(key.sha, sizeof(key.sha), "%s", PQgetvalue(res, (int)i, 1));
        found = bsearch(&kp, all, nall, sizeof(*all), cmp_attempt_sha);
        if (!found)
            fail_msg("stored event %s was never sent (sha256 %s)", id, key.sha);
        if (rows != (*found)->rows || nrows != rows)
            fail_msg("event %s: sent %d rows, row_count %lld, event_rows %lld", id, (*found)->rows,
                     rows, nrows);
        if ((*found)->status == 201) {
            assert_string_equal((*found)->id, id);
            matched201++;
        } else {
            struct th_resp c;
            char *path = th_strf("/api/v1/events/%s/content", id);

            stored_unanswered++;
            c = th_get(th_ingestd_base(p), path, NULL);
            free(path);
            assert_int_equal(c.status, 200);
            assert_int_equal(c.len, (*found)->len);
            assert_memory_equal(c.body, (*found)->body, c.len);
            th_resp_release(&c);
        }
    }
    assert_int_equal(matched201, n201);
    assert_true(stored_unanswered <= unanswered);
    assert_true(stored_unanswered <= UP_THREADS);

    /* the API lists exactly these events, in order */
    listed = list_events(th_ingestd_base(p), NULL);
    assert_int_equal(json_array_size(listed), PQntuples(res));
    for (i = 0; i < json_array_size(listed); i++) {
        json_t *e = json_array_get(listed, i);

        assert_string_equal(json_str(e, "id"), PQgetvalue(res, (int)i, 0));
        assert_int_equal(json_ll(e, "sequence"), strtoll(PQgetvalue(res, (int)i, 4), NULL, 10));
        assert_int_equal(json_ll(e, "rows"), strtoll(PQgetvalue(res, (int)i, 2), NULL, 10));
    }
    json_decref(listed);
    PQclear(res);

    curl_easy_cleanup(h);
    for (t = 0; t < UP_THREADS; t++) {
        for (i = 0; i < up[t].n; i++)
            free(up[t].att[i].body);
        free(up[t].att);
    }
    free(all);
}

/* ---- kill -9 during a merge ---------------------------------------------- */

#define BASE_ROWS 100000
#define BATCH_EVENTS 2000
#define EV_UPDATES 10 /* BASE_ROWS / (BATCH_EVENTS * EV_UPDATES) batches at most */
#define EV_NEW 8
#define EV_FAILED 2
#define EV_ROWS (EV_UPDATES + EV_NEW + EV_FAILED)

/* Event j of batch bi: 10 updates of base rows, 8 new keys, 2 failed builds. */
static char *
merge_event(int bi, int j, size_t *len)
{
    struct buf b;
    int k;

    buf_init(&b, 0);
    buf_append_str(&b, CSV_HEADER);
    for (k = 0; k < EV_UPDATES; k++)
        buf_printf(&b, "github.com,org/base-%d,main,m%d-%d-%d,https://a.example/m/%d/%d/%d.jar\n",
                   (bi * BATCH_EVENTS + j) * EV_UPDATES + k, bi, j, k, bi, j, k);
    for (k = 0; k < EV_NEW; k++)
        buf_printf(&b,
                   "github.com,org/new-%d-%d-%d,main,n%d-%d-%d,https://a.example/n/%d/%d/%d.jar\n",
                   bi, j, k, bi, j, k, bi, j, k);
    for (k = 0; k < EV_FAILED; k++)
        buf_printf(&b, "github.com,org/failed-%d-%d-%d,main,,https://a.example/f/%d/%d/%d.jar\n",
                   bi, j, k, bi, j, k);
    return buf_take(&b, len);
}

struct batch_uploader {
    pthread_t tid;
    const char *base;
    int batch;
    int first;
    int step;
    int failures;
};

static void *
batch_uploader_main(void *arg)
{
    struct batch_uploader *u = arg;
    CURL *h = curl_easy_init();
    char *url = th_strf("%s/api/v1/events", u->base);
    int j;

    for (j = u->first; j < BATCH_EVENTS; j += u->step) {
        size_t len;
        char *body = merge_event(u->batch, j, &len);
        struct reply r;

        client_do(h, "POST", url, "text/csv", body, len, &r);
        if (r.status != 201)
            u->failures++;
        reply_release(&r);
        free(body);
    }
    free(url);
    curl_easy_cleanup(h);
    return NULL;
}

static void
upload_batch(const char *base, int bi)
{
    struct batch_uploader u[UP_THREADS];
    int t;

    for (t = 0; t < UP_THREADS; t++) {
        memset(&u[t], 0, sizeof(u[t]));
        u[t].base = base;
        u[t].batch = bi;
        u[t].first = t;
        u[t].step = UP_THREADS;
        assert_int_equal(pthread_create(&u[t].tid, NULL, batch_uploader_main, &u[t]), 0);
    }
    for (t = 0; t < UP_THREADS; t++)
        pthread_join(u[t].tid, NULL);
    for (t = 0; t < UP_THREADS; t++)
        assert_int_equal(u[t].failures, 0);
}

struct merge_call {
    pthread_t tid;
    const char *base;
    atomic_int done;
    struct reply r;
    long started_ms;
};

static void *
merge_call_main(void *arg)
{
    struct merge_call *m = arg;
    CURL *h = curl_easy_init();
    char *url = th_strf("%s/api/v1/merges", m->base);

    m->started_ms = th_now_ms();
    client_do(h, "POST", url, "application/json", NULL, 0, &m->r);
    atomic_store(&m->done, 1);
    free(url);
    curl_easy_cleanup(h);
    return NULL;
}

static void
merge_call_start(struct merge_call *m, const char *base)
{
    memset(m, 0, sizeof(*m));
    m->base = base;
    atomic_init(&m->done, 0);
    assert_int_equal(pthread_create(&m->tid, NULL, merge_call_main, m), 0);
}

static char *
base_csv(size_t *len)
{
    struct buf b;
    int i;

    buf_init(&b, 0);
    buf_append_str(&b, "origin,path,branch,cloneUrl,changeset,publishUri\n");
    for (i = 0; i < BASE_ROWS; i++)
        buf_printf(&b,
                   "github.com,org/base-%d,main,https://github.com/org/base-%d,base-cs-%d,"
                   "https://a.example/base/%d.jar\n",
                   i, i, i, i);
    return buf_take(&b, len);
}

static const char active_apply_sql[] =
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND state = 'active' AND query LIKE 'WITH w AS MATERIALIZED%'";

static const char merge_lock_held_sql[] =
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND ((classid::bigint << 32) | objid::bigint) = " MERGE_LOCK_KEY;

static void
test_kill9_during_merge(void **state)
{
    struct th_pg *pg = fixture_pg(state);
    struct th_ingestd *p = fixture_ingestd(state, th_pg_url(pg));
    PGconn *mon = fixture_conn(state);
    struct merge_call mc;
    struct th_resp r;
    char *before = NULL;
    size_t before_len = 0;
    size_t len;
    char *body;
    long long gen_before = 0;
    long long merges_before = 0;
    long long merged_before = 0;
    int pending_batches = 0;
    int batches = 0;
    int killed = 0;
    int attempt;
    json_t *m;
    json_t *listed;
    size_t i;

    body = base_csv(&len);
    r = th_request("PUT", th_ingestd_base(p), "/api/v1/repos.csv",
                   (const char *const[]){"Content-Type: text/csv", NULL}, body, len);
    free(body);
    if (r.status != 200)
        fail_msg("PUT repos.csv: %ld %s", r.status, r.body);
    th_resp_release(&r);

    for (attempt = 0; attempt < 3 && !killed; attempt++) {
        long seen_ms = 0;
        long deadline;
        long delay_ms;

        upload_batch(th_ingestd_base(p), batches++);
        pending_batches++;
        free(before);
        r = th_get(th_ingestd_base(p), "/api/v1/repos.csv", NULL);
        assert_int_equal(r.status, 200);
        before = r.body;
        before_len = r.len;
        r.body = NULL;
        th_resp_release(&r);
        gen_before = th_pg_ll(pg, "SELECT generation FROM effective_meta");
        merges_before = th_pg_ll(pg, "SELECT count(*) FROM merges");
        merged_before = th_pg_ll(pg, "SELECT count(*) FROM events WHERE sequence <= "
                                     "(SELECT coalesce(max(seq_hi), 0) FROM merges)");

        merge_call_start(&mc, th_ingestd_base(p));
        deadline = th_now_ms() + 30000;
        while (!atomic_load(&mc.done) && th_now_ms() < deadline) {
            if (conn_ll(mon, active_apply_sql) > 0) {
                seen_ms = th_now_ms();
                break;
            }
            th_sleep_ms(2);
        }
        /* about 100-300 ms after the request, as long as the merge is still at work */
        delay_ms = attempt == 0 ? 150 : 0;
        while (seen_ms && th_now_ms() - mc.started_ms < delay_ms && !atomic_load(&mc.done) &&
               conn_ll(mon, active_apply_sql) > 0)
            th_sleep_ms(5);
        if (seen_ms && !atomic_load(&mc.done) && conn_ll(mon, merge_lock_held_sql) == 1 &&
            conn_ll(mon, active_apply_sql) > 0) {
            th_ingestd_kill9(p);
            killed = 1;
            print_message("killed ingestd %ld ms after POST /api/v1/merges\n",
                          th_now_ms() - mc.started_ms);
        }
        pthread_join(mc.tid, NULL);
        if (killed && mc.r.status != 0)
            fail_msg("the merge answered %ld although ingestd was killed", mc.r.status);
        if (!killed) {
            /* the merge finished first: it must have merged everything; try again */
            assert_int_equal(mc.r.status, 200);
            pending_batches = 0;
            print_message("merge finished before the kill; retrying\n");
        }
        reply_release(&mc.r);
    }
    assert_true(killed);

    th_ingestd_restart(p);

    /* nothing of the killed merge is visible */
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM merges"), merges_before);
    assert_int_equal(th_pg_ll(pg, "SELECT generation FROM effective_meta"), gen_before);
    r = th_get(th_ingestd_base(p), "/api/v1/repos.csv", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, before_len);
    assert_memory_equal(r.body, before, before_len);
    {
        char *xg = th_resp_header(&r, "X-Generation");
        char *want = th_strf("%lld", gen_before);

        assert_non_null(xg);
        assert_string_equal(xg, want);
        free(xg);
        free(want);
    }
    th_resp_release(&r);
    listed = list_events(th_ingestd_base(p), "pending");
    assert_int_equal(json_array_size(listed), (size_t)pending_batches * BATCH_EVENTS);
    json_decref(listed);
    listed = list_events(th_ingestd_base(p), "merged");
    assert_int_equal(json_array_size(listed), merged_before);
    json_decref(listed);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM event_rows WHERE event_seq > "
                                  "(SELECT coalesce(max(seq_hi), 0) FROM merges)"),
                     (long long)pending_batches * BATCH_EVENTS * EV_ROWS);

    /* a merge after the restart merges every pending event exactly once */
    m = merge_ok(th_ingestd_base(p));
    print_message("merge after the restart: %lld ms\n", json_ll(m, "duration_ms"));
    assert_int_equal(json_ll(m, "events"), pending_batches * BATCH_EVENTS);
    assert_int_equal(json_ll(m, "rows"), pending_batches * BATCH_EVENTS * EV_ROWS);
    assert_int_equal(json_ll(m, "added"), pending_batches * BATCH_EVENTS * EV_NEW);
    assert_int_equal(json_ll(m, "updated"), pending_batches * BATCH_EVENTS * EV_UPDATES);
    assert_int_equal(json_ll(m, "unchanged"), 0);
    assert_int_equal(json_ll(m, "skipped"), pending_batches * BATCH_EVENTS * EV_FAILED);
    assert_int_equal(json_ll(m, "generation"), gen_before + 1);
    listed = list_events(th_ingestd_base(p), "pending");
    assert_int_equal(json_array_size(listed), 0);
    json_decref(listed);
    listed = list_events(th_ingestd_base(p), NULL);
    assert_int_equal(json_array_size(listed), (size_t)batches * BATCH_EVENTS);
    for (i = merged_before; i < json_array_size(listed); i++) {
        json_t *e = json_array_get(listed, i);

        assert_string_equal(json_str(e, "status"), "merged");
        assert_string_equal(json_str(e, "merge_id"), json_str(m, "id"));
    }
    json_decref(listed);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM events e WHERE (SELECT count(*) FROM "
                                  "merges m WHERE m.seq_lo < e.sequence AND e.sequence <= "
                                  "m.seq_hi) <> 1"),
                     0);
    json_decref(m);

    /* the effective file holds every update and new key once */
    r = th_get(th_ingestd_base(p), "/api/v1/repos.csv", NULL);
    assert_int_equal(r.status, 200);
    {
        size_t lines = 0;
        const char *want = batches == pending_batches
                               ? "\ngithub.com,org/base-0,main,https://github.com/org/base-0,"
                                 "m0-0-0,https://a.example/m/0/0/0.jar\n"
                               : "\ngithub.com,org/base-0,main,";
        const char *gone = "\ngithub.com,org/failed-0-0-0,";

        for (i = 0; i < r.len; i++)
            lines += r.body[i] == '\n';
        assert_int_equal(lines, 1 + BASE_ROWS + (size_t)batches * BATCH_EVENTS * EV_NEW);
        assert_non_null(strstr(r.body, want));
        assert_null(strstr(r.body, gone));
    }
    th_resp_release(&r);

    /* nothing is left to merge */
    m = merge_ok(th_ingestd_base(p));
    if (json_ll(m, "events") != 0)
        fail_msg("a merge with nothing pending reports events: %lld (expected 0)",
                 json_ll(m, "events"));
    assert_int_equal(json_ll(m, "generation"), gen_before + 1);
    json_decref(m);

    free(before);
}

/* ---- PostgreSQL goes away and comes back ---------------------------------- */

static void
assert_503(struct th_resp *r, const char *what)
{
    char *ra = th_resp_header(r, "Retry-After");
    char *ct = th_resp_header(r, "Content-Type");
    json_t *j;

    if (r->status != 503)
        fail_msg("%s with PostgreSQL down: %ld %s (expected 503)", what, r->status, r->body);
    if (!ra)
        fail_msg("%s: 503 without Retry-After", what);
    assert_non_null(ct);
    assert_string_equal(ct, "application/problem+json");
    j = th_resp_json(r);
    assert_int_equal(json_ll(j, "status"), 503);
    json_decref(j);
    free(ra);
    free(ct);
}

/* POST an event until it is accepted (201) or the deadline passes; the event. */
static json_t *
upload_until_accepted(const char *base, const char *csv, long deadline)
{
    int refused = 0;

    for (;; refused++) {
        struct th_resp r = th_post_csv(base, "/api/v1/events", csv, NULL);

        if (r.status == 201) {
            json_t *j = th_resp_json(&r);

            th_resp_release(&r);
            if (refused)
                print_message("upload accepted after %d 503s\n", refused);
            return j;
        }
        if (r.status != 503 || th_now_ms() >= deadline)
            fail_msg("upload after the database came back: %ld %s", r.status, r.body);
        th_resp_release(&r);
        th_sleep_ms(100);
    }
}

static void
test_postgres_outage(void **state)
{
    struct th_pg *pg = fixture_pg(state);
    struct th_ingestd *p = fixture_ingestd(state, th_pg_url(pg));
    const char *base = th_ingestd_base(p);
    struct th_resp r;
    long deadline;
    json_t *j;
    int i;

    r = th_post_csv(base, "/api/v1/events", CSV_HEADER "github.com,org/o-0,main,c0,u0\n", NULL);
    assert_int_equal(r.status, 201);
    th_resp_release(&r);

    th_pg_stop(pg);

    r = th_get(base, "/healthz", NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    /* every worker's connection is gone: more requests than workers */
    for (i = 0; i < 6; i++) {
        r = th_get(base, "/readyz", NULL);
        assert_503(&r, "GET /readyz");
        th_resp_release(&r);
        r = th_post_csv(base, "/api/v1/events", CSV_HEADER "github.com,org/o-x,main,cx,ux\n", NULL);
        assert_503(&r, "POST /api/v1/events");
        th_resp_release(&r);
        r = th_get(base, "/api/v1/events", NULL);
        assert_503(&r, "GET /api/v1/events");
        th_resp_release(&r);
        r = th_post_json(base, "/api/v1/merges", "", NULL);
        assert_503(&r, "POST /api/v1/merges");
        th_resp_release(&r);
    }
    r = th_get(base, "/healthz", NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    assert_true(th_ingestd_pid(p) > 0);

    th_pg_restart(pg);

    deadline = th_now_ms() + 10000;
    for (;;) {
        r = th_get(base, "/readyz", NULL);
        if (r.status == 200)
            break;
        if (r.status != 503 || th_now_ms() >= deadline)
            fail_msg("/readyz after the database came back: %ld %s", r.status, r.body);
        th_resp_release(&r);
        th_sleep_ms(100);
    }
    j = th_resp_json(&r);
    assert_string_equal(json_str(j, "status"), "ready");
    json_decref(j);
    th_resp_release(&r);

    deadline = th_now_ms() + 10000;
    for (i = 1; i <= 8; i++) {
        char *csv = th_strf(CSV_HEADER "github.com,org/o-%d,main,c%d,u%d\n", i, i, i);

        j = upload_until_accepted(base, csv, deadline);
        assert_string_equal(json_str(j, "status"), "pending");
        json_decref(j);
        free(csv);
    }
    deadline = th_now_ms() + 10000;
    for (;;) {
        r = th_post_json(base, "/api/v1/merges", "", NULL);
        if (r.status == 200)
            break;
        if (r.status != 503 || th_now_ms() >= deadline)
            fail_msg("merge after the database came back: %ld %s", r.status, r.body);
        th_resp_release(&r);
        th_sleep_ms(100);
    }
    j = th_resp_json(&r);
    th_resp_release(&r);
    assert_int_equal(json_ll(j, "events"), 9);
    assert_int_equal(json_ll(j, "added"), 9);
    json_decref(j);
    r = th_get(base, "/api/v1/events?status=pending", NULL);
    assert_int_equal(r.status, 200);
    j = th_resp_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    th_resp_release(&r);

    assert_int_equal(th_ingestd_term(p), 0);
}

/* ---- SIGTERM with requests in flight ------------------------------------ */

struct slow_upload {
    pthread_t tid;
    const char *base;
    char *body;
    size_t len;
    size_t off;
    atomic_size_t sent;
    struct reply r;
};

/* Feeds the body 4 KiB at a time, 20 ms apart. */
static size_t
slow_read(char *dst, size_t size, size_t nitems, void *ud)
{
    struct slow_upload *u = ud;
    size_t n = size * nitems;

    if (u->off >= u->len)
        return 0;
    if (u->off > 0)
        th_sleep_ms(20);
    if (n > 4096)
        n = 4096;
    if (n > u->len - u->off)
        n = u->len - u->off;
    memcpy(dst, u->body + u->off, n);
    u->off += n;
    atomic_store(&u->sent, u->off);
    return n;
}

static void *
slow_upload_main(void *arg)
{
    struct slow_upload *u = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *list = NULL;
    char *url = th_strf("%s/api/v1/events", u->base);
    struct buf b;

    buf_init(&b, 0);
    list = curl_slist_append(list, "Expect:");
    list = curl_slist_append(list, "Content-Type: text/csv");
    list = curl_slist_append(list, "Transfer-Encoding: chunked");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, slow_read);
    curl_easy_setopt(h, CURLOPT_READDATA, u);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    u->r.curl_code = (int)curl_easy_perform(h);
    if (u->r.curl_code == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &u->r.status);
    buf_append(&b, "", 0);
    u->r.body = buf_take(&b, &u->r.len);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    free(url);
    return NULL;
}

static void
test_graceful_shutdown(void **state)
{
    struct th_pg *pg = fixture_pg(state);
    struct th_ingestd *p = fixture_ingestd(state, th_pg_url(pg));
    PGconn *locker = fixture_conn(state);
    struct slow_upload up;
    struct merge_call mc;
    struct th_resp r;
    struct buf b;
    char *url;
    long deadline;
    int rc;
    int k;
    json_t *j;

    /* a merge that waits for the merge lock the test holds */
    conn_exec_or_fail(locker, "SELECT pg_advisory_lock(" MERGE_LOCK_KEY ")");
    merge_call_start(&mc, th_ingestd_base(p));
    deadline = th_now_ms() + 10000;
    while (conn_ll(locker, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                           "AND NOT granted") != 1) {
        if (th_now_ms() > deadline)
            fail_msg("the merge never waited for the merge lock");
        th_sleep_ms(10);
    }

    /* an upload that takes about 2 s to send */
    memset(&up, 0, sizeof(up));
    up.base = th_ingestd_base(p);
    buf_init(&b, 0);
    buf_append_str(&b, CSV_HEADER);
    for (k = 0; k < 6000; k++)
        buf_printf(&b, "github.com,org/slow-%d,main,slow%d,https://a.example/slow/%d.jar\n", k, k,
                   k);
    up.body = buf_take(&b, &up.len);
    atomic_init(&up.sent, 0);
    assert_int_equal(pthread_create(&up.tid, NULL, slow_upload_main, &up), 0);
    deadline = th_now_ms() + 10000;
    while (atomic_load(&up.sent) < 40000 && th_now_ms() < deadline)
        th_sleep_ms(5);
    assert_true(atomic_load(&up.sent) >= 40000);
    assert_true(atomic_load(&up.sent) < up.len);

    assert_int_equal(kill(th_ingestd_pid(p), SIGTERM), 0);
    deadline = th_now_ms() + 5000;
    while (!log_has_msg(th_ingestd_log(p), "shutting down")) {
        if (th_now_ms() > deadline)
            fail_msg("no \"shutting down\" log line within 5 s of SIGTERM");
        th_sleep_ms(20);
    }
    th_sleep_ms(200);

    /* no new connections once shutting down */
    url = th_strf("http://127.0.0.1:%d/healthz", th_ingestd_port(p));
    {
        struct th_resp nr;

        rc = th_http("GET", url, NULL, NULL, 0, &nr);
        if (rc != CURLE_COULDNT_CONNECT)
            fail_msg("a new connection after SIGTERM: curl code %d, status %ld (expected the "
                     "connection to be refused)",
                     rc, nr.status);
        th_resp_release(&nr);
    }
    assert_true(th_ingestd_pid(p) > 0);
    assert_int_equal(atomic_load(&mc.done), 0);

    /* let the merge go on; both requests complete normally */
    th_sleep_ms(300);
    conn_exec_or_fail(locker, "SELECT pg_advisory_unlock(" MERGE_LOCK_KEY ")");
    pthread_join(mc.tid, NULL);
    pthread_join(up.tid, NULL);
    if (mc.r.status != 200)
        fail_msg("merge in flight at SIGTERM: curl %d, status %ld %s", mc.r.curl_code, mc.r.status,
                 mc.r.body ? mc.r.body : "");
    j = reply_json(&mc.r);
    assert_non_null(j);
    assert_string_equal(json_str(j, "status"), "succeeded");
    json_decref(j);
    if (up.r.status != 201)
        fail_msg("upload in flight at SIGTERM: curl %d, status %ld %s", up.r.curl_code, up.r.status,
                 up.r.body ? up.r.body : "");
    j = reply_json(&up.r);
    assert_non_null(j);
    assert_int_equal(json_ll(j, "rows"), 6000);
    json_decref(j);

    assert_int_equal(th_ingestd_term(p), 0);
    assert_true(log_has_msg(th_ingestd_log(p), "shutting down"));
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM events"), 1);
    assert_int_equal(th_pg_ll(pg, "SELECT row_count FROM events"), 6000);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM event_rows"), 6000);
    rc = th_http("GET", url, NULL, NULL, 0, &r);
    assert_int_equal(rc, CURLE_COULDNT_CONNECT);
    th_resp_release(&r);

    free(url);
    reply_release(&mc.r);
    reply_release(&up.r);
    free(up.body);
}

/* ---- the embedded default database --------------------------------------- */

/* The postmaster pid in data_dir/pgdata/postmaster.pid, 0 when there is none. */
static long
postmaster_pid(const char *data_dir)
{
    char *path = th_strf("%s/pgdata/postmaster.pid", data_dir);
    FILE *f = fopen(path, "r");
    long pid = 0;

    free(path);
    if (!f)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid;
}

/* 1 when process pid exists and is not a zombie (nobody may reap a daemon here). */
static int
process_alive(long pid)
{
    char *path = th_strf("/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    char state = 0;
    int alive = 0;

    free(path);
    if (!f)
        return 0;
    if (fscanf(f, "%*d (%*[^)]) %c", &state) == 1)
        alive = state != 'Z' && state != 'X';
    fclose(f);
    return alive;
}

static void
test_embedded_default(void **state)
{
    struct th_ingestd *p = fixture_ingestd(state, NULL);
    const char *csv = CSV_HEADER "github.com,org/emb-1,main,e1,https://a.example/emb/1.jar\n"
                                 "github.com,org/emb-2,main,,https://a.example/emb/2.jar\n";
    const char *want = "origin,path,branch,cloneUrl,changeset,publishUri\n"
                       "github.com,org/emb-1,main,,e1,https://a.example/emb/1.jar\n";
    struct th_resp r;
    char *id;
    char *path;
    long pgpid;
    json_t *j;

    assert_true(log_has_msg(th_ingestd_log(p), "embedded postgresql started"));
    r = th_post_csv(th_ingestd_base(p), "/api/v1/events", csv, NULL);
    assert_int_equal(r.status, 201);
    j = th_resp_json(&r);
    id = xstrdup(json_str(j, "id"));
    json_decref(j);
    th_resp_release(&r);
    j = merge_ok(th_ingestd_base(p));
    assert_int_equal(json_ll(j, "events"), 1);
    assert_int_equal(json_ll(j, "added"), 1);
    assert_int_equal(json_ll(j, "skipped"), 1);
    assert_int_equal(json_ll(j, "generation"), 1);
    json_decref(j);
    r = th_get(th_ingestd_base(p), "/api/v1/repos.csv", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, want);
    th_resp_release(&r);

    pgpid = postmaster_pid(th_ingestd_data_dir(p));
    assert_true(pgpid > 0);
    assert_true(process_alive(pgpid));
    assert_int_equal(th_ingestd_term(p), 0);
    assert_int_equal(postmaster_pid(th_ingestd_data_dir(p)), 0);
    assert_false(process_alive(pgpid));

    /* the same data directory again: the data is still there */
    th_ingestd_restart(p);
    path = th_strf("/api/v1/events/%s", id);
    r = th_get(th_ingestd_base(p), path, NULL);
    assert_int_equal(r.status, 200);
    j = th_resp_json(&r);
    assert_string_equal(json_str(j, "status"), "merged");
    json_decref(j);
    th_resp_release(&r);
    r = th_get(th_ingestd_base(p), "/api/v1/repos.csv", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, want);
    th_resp_release(&r);

    /* after a kill -9 the running embedded server is adopted, then stopped on SIGTERM */
    pgpid = postmaster_pid(th_ingestd_data_dir(p));
    th_ingestd_kill9(p);
    assert_true(process_alive(pgpid));
    th_ingestd_restart(p);
    assert_int_equal(postmaster_pid(th_ingestd_data_dir(p)), pgpid);
    r = th_get(th_ingestd_base(p), path, NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    r = th_get(th_ingestd_base(p), "/api/v1/repos.csv", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, want);
    th_resp_release(&r);
    assert_int_equal(th_ingestd_term(p), 0);
    assert_int_equal(postmaster_pid(th_ingestd_data_dir(p)), 0);
    assert_false(process_alive(pgpid));

    free(path);
    free(id);
}

/* ---- the command line ------------------------------------------------------ */

/*
 * Run INGESTD_BIN with `args` (after argv[0]) and exactly `env` plus PATH and
 * INGESTD_PG_BINDIR; stdout and stderr into *out (caller frees). Returns the
 * exit code, 128 + signal, or fails the test after 20 s.
 */
static int
run_ingestd(const char *const *args, const char *const *env, char **out)
{
    char tmpl[] = "/tmp/thcli.XXXXXX";
    char *argv[8];
    char *envp[16];
    size_t na = 0;
    size_t ne = 0;
    size_t i;
    int fd = mkstemp(tmpl);
    int status = 0;
    long deadline = th_now_ms() + 20000;
    pid_t pid;

    assert_true(fd >= 0);
    argv[na++] = xstrdup(INGESTD_BIN);
    while (args && *args && na < 7)
        argv[na++] = xstrdup(*args++);
    argv[na] = NULL;
    while (env && *env && ne < 12)
        envp[ne++] = xstrdup(*env++);
    if (getenv("PATH"))
        envp[ne++] = th_strf("PATH=%s", getenv("PATH"));
    if (getenv("INGESTD_PG_BINDIR"))
        envp[ne++] = th_strf("INGESTD_PG_BINDIR=%s", getenv("INGESTD_PG_BINDIR"));
    envp[ne] = NULL;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sigset_t none;
        int nullfd = open("/dev/null", O_RDONLY);

        if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(fd);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid)
            break;
        if (th_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            *out = th_read_file(tmpl, NULL);
            unlink(tmpl);
            fail_msg("ingestd %s did not exit within 20 s; output:\n%s", args ? args[0] : "", *out);
        }
        th_sleep_ms(20);
    }
    *out = th_read_file(tmpl, NULL);
    unlink(tmpl);
    for (i = 0; i < na; i++)
        free(argv[i]);
    for (i = 0; i < ne; i++)
        free(envp[i]);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A bad value of `var` stops the start with exactly one log line naming it. */
static void
assert_bad_config(const char *db_env, const char *setting, const char *var)
{
    const char *env[] = {db_env, setting, "INGESTD_DATA_DIR=/tmp/ingestd-cli-no-such-dir", NULL};
    char *out = NULL;
    int st = run_ingestd((const char *const[]){"serve", NULL}, env, &out);

    if (st == 0 || st >= 128)
        fail_msg("%s: exit status %d (expected a non-zero exit)", setting, st);
    if (count_lines(out) != 1 || !strstr(out, var))
        fail_msg("%s: expected one log line naming %s, got:\n%s", setting, var, out);
    free(out);
}

static void
test_command_line(void **state)
{
    struct th_pg *pg = fixture_pg(state);
    char *db_env = th_strf("DATABASE_URL=%s", th_pg_url(pg));
    const char *env[] = {db_env, "INGESTD_DATA_DIR=/tmp/ingestd-cli-no-such-dir", NULL};
    char *out = NULL;
    long long applied;
    json_t *j;

    assert_int_equal(run_ingestd((const char *const[]){"--version", NULL}, env, &out), 0);
    assert_true(strncmp(out, "ingestd ", 8) == 0);
    free(out);
    assert_int_equal(run_ingestd((const char *const[]){"--help", NULL}, env, &out), 0);
    assert_non_null(strstr(out, "usage"));
    assert_non_null(strstr(out, "migrate"));
    free(out);
    assert_int_equal(run_ingestd((const char *const[]){"frobnicate", NULL}, env, &out), 2);
    free(out);
    assert_int_equal(run_ingestd((const char *const[]){"serve", "extra", NULL}, env, &out), 2);
    free(out);

    /* migrate: applies, then is a no-op */
    assert_int_equal(run_ingestd((const char *const[]){"migrate", NULL}, env, &out), 0);
    if (!strstr(out, "\"migration applied\""))
        fail_msg("first migrate applied nothing:\n%s", out);
    free(out);
    applied = th_pg_ll(pg, "SELECT count(*) FROM schema_migrations");
    assert_true(applied >= 1);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM effective_meta"), 1);
    assert_int_equal(run_ingestd((const char *const[]){"migrate", NULL}, env, &out), 0);
    if (strstr(out, "\"migration applied\""))
        fail_msg("second migrate applied something:\n%s", out);
    free(out);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM schema_migrations"), applied);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM effective_meta"), 1);

    assert_bad_config(db_env, "INGESTD_DB_POOL=abc", "INGESTD_DB_POOL");
    assert_bad_config(db_env, "INGESTD_LISTEN=nonsense", "INGESTD_LISTEN");
    assert_bad_config(db_env, "INGESTD_HTTP_THREADS=0", "INGESTD_HTTP_THREADS");
    assert_bad_config(db_env, "INGESTD_MAX_BODY_BYTES=-5", "INGESTD_MAX_BODY_BYTES");

    /* a log line is one JSON object */
    {
        const char *bad[] = {db_env, "INGESTD_DB_POOL=abc", NULL};

        assert_int_not_equal(run_ingestd((const char *const[]){"serve", NULL}, bad, &out), 0);
        j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null(j);
        assert_string_equal(json_str(j, "level"), "error");
        assert_non_null(strstr(json_str(j, "msg"), "INGESTD_DB_POOL"));
        json_decref(j);
        free(out);
    }

    free(db_env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_during_uploads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_kill9_during_merge, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_postgres_outage, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_graceful_shutdown, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_embedded_default, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_command_line, fixture_setup, fixture_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
