/*
 * test_replicas.c - two ingestd processes on one database
 *
 * Concurrent uploads to both processes while both are asked to merge,
 * repeatedly and overlapping; afterwards every accepted event must be merged
 * exactly once, every merge's counts must add up, and the effective file must
 * equal a reference computation of MERGE.md's rules (in C, below) applied to
 * the uploaded events merge by merge. Also: replicas starting together on a
 * fresh database (migrations under the advisory lock).
 *
 * Client threads use their own libcurl easy handles; the harness and cmocka's
 * assertions are used from the test's thread only.
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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "harness.h"

#define UP_THREADS 4
#define MERGE_THREADS 4
#define EVENTS_PER_THREAD 300
#define KEYS 150
#define MAX_COLS 8

/* ---- small helpers ------------------------------------------------------- */

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

struct proc {
    pid_t pid;
    char *dir;
    char *logpath;
    int port;
    int status;
};

static void proc_cleanup(struct proc *p);

/* What a test started; the teardown releases it, also after a failed assertion. */
struct fixture {
    struct th_pg *pg;
    struct th_ingestd *ingestd[2];
    struct proc procs[2];
    int nprocs;
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
    int i;

    for (i = 0; i < 2; i++)
        th_ingestd_free(f->ingestd[i]);
    for (i = 0; i < f->nprocs; i++)
        proc_cleanup(&f->procs[i]);
    th_pg_free(f->pg);
    free(f);
    return 0;
}

/* ---- a thread-safe HTTP client: one easy handle per thread ------------- */

struct reply {
    long status;
    int curl_code;
    char *body;
    size_t len;
};

static void
reply_release(struct reply *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static size_t
collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    if (buf_append(ud, ptr, size * nmemb))
        return 0;
    return size * nmemb;
}

/* POST `body` (NULL: empty) to url on handle h; connections are kept alive. */
static void
client_post(CURL *h, const char *url, const char *content_type, const void *body, size_t len,
            struct reply *out)
{
    struct curl_slist *list = NULL;
    struct buf b;
    char ct[160];

    memset(out, 0, sizeof(*out));
    buf_init(&b, 0);
    curl_easy_reset(h);
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    list = curl_slist_append(list, "Expect:");
    list = curl_slist_append(list, ct);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    out->curl_code = (int)curl_easy_perform(h);
    if (out->curl_code == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    buf_append(&b, "", 0);
    out->body = buf_take(&b, &out->len);
    curl_slist_free_all(list);
}

/* ---- generated events --------------------------------------------------- */

/*
 * One uploaded event, as data: the header names and a value per (row, column).
 * Thread t's events have their own header shape:
 *   0: origin,path,branch,changeset,publishUri
 *   1: origin,path,branch,cloneUrl,changeset,publishUri
 *   2: path,origin,branch,publishUri,changeset,team   (other order, a new column)
 *   3: origin,path,changeset,publishUri                (no branch: it reads as empty)
 */
struct event {
    int thread;
    int index;
    size_t ncols;
    const char *cols[MAX_COLS];
    size_t nrows;
    char **vals; /* nrows * ncols */
    char *csv;
    size_t csv_len;
    long status;
    char id[40];
    long long sequence;
};

static const char *const shapes[UP_THREADS][MAX_COLS] = {
    {"origin", "path", "branch", "changeset", "publishUri", NULL},
    {"origin", "path", "branch", "cloneUrl", "changeset", "publishUri", NULL},
    {"path", "origin", "branch", "publishUri", "changeset", "team", NULL},
    {"origin", "path", "changeset", "publishUri", NULL},
};

static int
col_index(const char *const *cols, size_t ncols, const char *name)
{
    size_t i;

    for (i = 0; i < ncols; i++)
        if (!strcmp(cols[i], name))
            return (int)i;
    return -1;
}

/* Row values by column name; some rows are failed builds, some republish the same build. */
static char *
gen_value(const char *col, int t, int i, int k, int n)
{
    int failed_cs = (i + k) % 6 == 3;
    int failed_pu = (i + k) % 9 == 4;
    int stable = n % 5 == 0;

    if (!strcmp(col, "origin"))
        return xstrdup("github.com");
    if (!strcmp(col, "path"))
        return th_strf("org/repo-%d", n);
    if (!strcmp(col, "branch"))
        return xstrdup(n % 7 == 1 ? "dev" : "main");
    if (!strcmp(col, "changeset"))
        return failed_cs ? xstrdup("")
               : stable  ? th_strf("stable-%d", n)
                         : th_strf("c%d-%d-%d", t, i, k);
    if (!strcmp(col, "publishUri"))
        return failed_pu ? xstrdup("")
               : stable  ? th_strf("https://a.example/stable/%d.jar", n)
                         : th_strf("https://a.example/%d/%d/%d.jar", t, i, k);
    if (!strcmp(col, "cloneUrl"))
        return th_strf("https://github.com/org/repo-%d?%d-%d", n, t, i);
    if (!strcmp(col, "team"))
        return th_strf("team-%d", i % 3);
    return xstrdup("");
}

static void
gen_event(int t, int i, struct event *e)
{
    struct buf b;
    size_t c;
    size_t k;

    memset(e, 0, sizeof(*e));
    e->thread = t;
    e->index = i;
    for (c = 0; shapes[t][c]; c++)
        e->cols[c] = shapes[t][c];
    e->ncols = c;
    e->nrows = (size_t)(i % 13);
    e->vals = xcalloc(e->nrows * e->ncols + 1, sizeof(char *));
    buf_init(&b, 0);
    buf_printf(&b, "# thread %d, event %d\n", t, i);
    for (c = 0; c < e->ncols; c++)
        buf_printf(&b, "%s%s", c ? "," : "", e->cols[c]);
    buf_append_char(&b, '\n');
    for (k = 0; k < e->nrows; k++) {
        int n = (t * 7919 + i * 31 + (int)k * 17) % KEYS;

        for (c = 0; c < e->ncols; c++) {
            e->vals[k * e->ncols + c] = gen_value(e->cols[c], t, i, (int)k, n);
            buf_printf(&b, "%s%s", c ? "," : "", e->vals[k * e->ncols + c]);
        }
        buf_append_char(&b, '\n');
    }
    e->csv = buf_take(&b, &e->csv_len);
}

static void
event_release(struct event *e)
{
    size_t i;

    for (i = 0; i < e->nrows * e->ncols; i++)
        free(e->vals[i]);
    free(e->vals);
    free(e->csv);
}

/* The value of column `name` in row k ("" when the event has no such column). */
static const char *
event_value(const struct event *e, size_t k, const char *name)
{
    int c = col_index(e->cols, e->ncols, name);

    return c < 0 ? "" : e->vals[k * e->ncols + (size_t)c];
}

/* ---- the reference merge (MERGE.md) ------------------------------------- */

struct ref_row {
    char *vals[MAX_COLS]; /* by effective column */
};

struct reference {
    const char *cols[MAX_COLS];
    size_t ncols;
    struct ref_row *rows;
    size_t nrows;
    long long generation;
};

struct ref_counts {
    long long events;
    long long rows;
    long long added;
    long long updated;
    long long unchanged;
    long long skipped;
    json_t *columns_added;
};

static void
reference_init(struct reference *ref)
{
    static const char *const initial[] = {"origin",   "path",      "branch",
                                          "cloneUrl", "changeset", "publishUri"};
    size_t i;

    memset(ref, 0, sizeof(*ref));
    for (i = 0; i < 6; i++)
        ref->cols[i] = initial[i];
    ref->ncols = 6;
}

static void
reference_release(struct reference *ref)
{
    size_t r;
    size_t c;

    for (r = 0; r < ref->nrows; r++)
        for (c = 0; c < MAX_COLS; c++)
            free(ref->rows[r].vals[c]);
    free(ref->rows);
}

static int
same_key(const struct reference *ref, size_t r, const struct event *e, size_t k)
{
    static const char *const key[] = {"origin", "path", "branch"};
    size_t i;

    for (i = 0; i < 3; i++) {
        int c = col_index(ref->cols, ref->ncols, key[i]);

        if (strcmp(ref->rows[r].vals[c], event_value(e, k, key[i])) != 0)
            return 0;
    }
    return 1;
}

static int
row_applies(const struct event *e, size_t k)
{
    return *event_value(e, k, "changeset") && *event_value(e, k, "publishUri");
}

/* 1 when (e, k) and (f, l) have the same key. */
static int
rows_same_key(const struct event *e, size_t k, const struct event *f, size_t l)
{
    return !strcmp(event_value(e, k, "origin"), event_value(f, l, "origin")) &&
           !strcmp(event_value(e, k, "path"), event_value(f, l, "path")) &&
           !strcmp(event_value(e, k, "branch"), event_value(f, l, "branch"));
}

/*
 * Apply one merge of `evs` (ascending sequence) to ref; fills *out
 * (columns_added is new, the caller decrefs).
 */
static void
reference_merge(struct reference *ref, struct event **evs, size_t nevs, struct ref_counts *out)
{
    struct winner {
        struct event *e;
        size_t k;
    } *w = NULL;
    size_t nw = 0;
    size_t i;
    size_t k;
    size_t c;
    size_t x;

    memset(out, 0, sizeof(*out));
    out->columns_added = json_array();
    out->events = (long long)nevs;
    for (i = 0; i < nevs; i++) {
        for (c = 0; c < evs[i]->ncols; c++) {
            if (col_index(ref->cols, ref->ncols, evs[i]->cols[c]) < 0) {
                size_t r;

                assert_true(ref->ncols < MAX_COLS);
                ref->cols[ref->ncols] = evs[i]->cols[c];
                for (r = 0; r < ref->nrows; r++)
                    ref->rows[r].vals[ref->ncols] = xstrdup("");
                ref->ncols++;
                json_array_append_new(out->columns_added, json_string(evs[i]->cols[c]));
            }
        }
        out->rows += (long long)evs[i]->nrows;
    }
    /* winners, in the order of the winning rows */
    for (i = 0; i < nevs; i++) {
        for (k = 0; k < evs[i]->nrows; k++) {
            if (!row_applies(evs[i], k))
                continue;
            for (x = 0; x < nw; x++)
                if (rows_same_key(w[x].e, w[x].k, evs[i], k))
                    break;
            if (x < nw) {
                memmove(&w[x], &w[x + 1], (nw - x - 1) * sizeof(*w));
                nw--;
            }
            w = xrealloc(w, (nw + 1) * sizeof(*w));
            w[nw].e = evs[i];
            w[nw].k = k;
            nw++;
        }
    }
    for (x = 0; x < nw; x++) {
        const char *cs = event_value(w[x].e, w[x].k, "changeset");
        const char *pu = event_value(w[x].e, w[x].k, "publishUri");
        int ccs = col_index(ref->cols, ref->ncols, "changeset");
        int cpu = col_index(ref->cols, ref->ncols, "publishUri");
        size_t r;

        for (r = 0; r < ref->nrows; r++)
            if (same_key(ref, r, w[x].e, w[x].k))
                break;
        if (r < ref->nrows) {
            if (strcmp(ref->rows[r].vals[ccs], cs) != 0 ||
                strcmp(ref->rows[r].vals[cpu], pu) != 0) {
                free(ref->rows[r].vals[ccs]);
                free(ref->rows[r].vals[cpu]);
                ref->rows[r].vals[ccs] = xstrdup(cs);
                ref->rows[r].vals[cpu] = xstrdup(pu);
                out->updated++;
            } else {
                out->unchanged++;
            }
            continue;
        }
        ref->rows = xrealloc(ref->rows, (ref->nrows + 1) * sizeof(*ref->rows));
        memset(&ref->rows[ref->nrows], 0, sizeof(ref->rows[ref->nrows]));
        for (c = 0; c < ref->ncols; c++)
            ref->rows[ref->nrows].vals[c] = xstrdup(event_value(w[x].e, w[x].k, ref->cols[c]));
        ref->nrows++;
        out->added++;
    }
    out->skipped = out->rows - out->added - out->updated - out->unchanged;
    if (out->added || out->updated || json_array_size(out->columns_added))
        ref->generation++;
    free(w);
}

/* The effective repos.csv of ref (values here never need quoting). */
static char *
reference_render(const struct reference *ref, size_t *len)
{
    struct buf b;
    size_t r;
    size_t c;

    buf_init(&b, 0);
    for (c = 0; c < ref->ncols; c++)
        buf_printf(&b, "%s%s", c ? "," : "", ref->cols[c]);
    buf_append_char(&b, '\n');
    for (r = 0; r < ref->nrows; r++) {
        for (c = 0; c < ref->ncols; c++)
            buf_printf(&b, "%s%s", c ? "," : "", ref->rows[r].vals[c]);
        buf_append_char(&b, '\n');
    }
    buf_append(&b, "", 0);
    return buf_take(&b, len);
}

/* ---- client threads ------------------------------------------------------ */

struct uploader {
    pthread_t tid;
    int index;
    const char *base;
    struct event *events; /* EVENTS_PER_THREAD */
};

static void *
uploader_main(void *arg)
{
    struct uploader *u = arg;
    CURL *h = curl_easy_init();
    char *url = th_strf("%s/api/v1/events", u->base);
    int i;

    for (i = 0; i < EVENTS_PER_THREAD; i++) {
        struct event *e = &u->events[i];
        struct reply r;

        client_post(h, url, "text/csv", e->csv, e->csv_len, &r);
        e->status = r.status;
        if (r.status == 201) {
            json_t *j = json_loadb(r.body, r.len, 0, NULL);

            snprintf(e->id, sizeof(e->id), "%s", j ? json_str(j, "id") : "");
            e->sequence = j ? json_ll(j, "sequence") : 0;
            json_decref(j);
        }
        reply_release(&r);
    }
    free(url);
    curl_easy_cleanup(h);
    return NULL;
}

struct merger {
    pthread_t tid;
    unsigned seed;
    const char *base;
    atomic_int *stop;
    json_t *results; /* merge objects of the 200s */
    int calls;
    int failures;
    long last_status;
    char last_body[300];
};

static void *
merger_main(void *arg)
{
    struct merger *m = arg;
    CURL *h = curl_easy_init();
    char *url = th_strf("%s/api/v1/merges", m->base);

    while (!atomic_load(m->stop)) {
        struct reply r;

        client_post(h, url, "application/json", NULL, 0, &r);
        m->calls++;
        if (r.status == 200) {
            json_t *j = json_loadb(r.body, r.len, 0, NULL);

            if (j)
                json_array_append_new(m->results, j);
            else
                m->failures++;
        } else {
            m->failures++;
            m->last_status = r.status;
            snprintf(m->last_body, sizeof(m->last_body), "%s", r.body ? r.body : "");
        }
        reply_release(&r);
        th_sleep_ms(rand_r(&m->seed) % 25);
    }
    free(url);
    curl_easy_cleanup(h);
    return NULL;
}

/* ---- checks ---------------------------------------------------------------- */

struct merge_row {
    char id[40];
    long long seq_lo;
    long long seq_hi;
    long long events;
    long long rows;
    long long added;
    long long updated;
    long long unchanged;
    long long skipped;
    long long generation;
    json_t *columns_added;
};

static int
cmp_event_seq(const void *a, const void *b)
{
    const struct event *const *x = a;
    const struct event *const *y = b;

    return (*x)->sequence < (*y)->sequence ? -1 : (*x)->sequence > (*y)->sequence;
}

/* Merges that took events, ascending seq_lo (the order they ran in). */
static struct merge_row *
load_merges(const struct th_pg *pg, const char *where, size_t *n)
{
    char *sql = th_strf("SELECT id, seq_lo, seq_hi, event_count, row_count, added, updated, "
                        "unchanged, skipped, generation, array_to_json(columns_added) FROM merges "
                        "WHERE %s ORDER BY seq_lo, finished_at, id",
                        where);
    PGresult *res = th_pg_exec(pg, sql);
    struct merge_row *m;
    int i;

    free(sql);
    *n = (size_t)PQntuples(res);
    m = xcalloc(*n + 1, sizeof(*m));
    for (i = 0; i < PQntuples(res); i++) {
        snprintf(m[i].id, sizeof(m[i].id), "%s", PQgetvalue(res, i, 0));
        m[i].seq_lo = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        m[i].seq_hi = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        m[i].events = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        m[i].rows = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        m[i].added = strtoll(PQgetvalue(res, i, 5), NULL, 10);
        m[i].updated = strtoll(PQgetvalue(res, i, 6), NULL, 10);
        m[i].unchanged = strtoll(PQgetvalue(res, i, 7), NULL, 10);
        m[i].skipped = strtoll(PQgetvalue(res, i, 8), NULL, 10);
        m[i].generation = strtoll(PQgetvalue(res, i, 9), NULL, 10);
        m[i].columns_added = json_loads(PQgetvalue(res, i, 10), 0, NULL);
    }
    PQclear(res);
    return m;
}

static void
free_merges(struct merge_row *m, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        json_decref(m[i].columns_added);
    free(m);
}

/* Every event through the API's paging, ascending sequence. */
static json_t *
list_events(const char *base)
{
    json_t *all = json_array();
    long long after = 0;

    for (;;) {
        char *path = th_strf("/api/v1/events?limit=1000&after=%lld", after);
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

static json_t *
merge_ok(const char *base)
{
    struct th_resp r = th_post_json(base, "/api/v1/merges", "", NULL);
    json_t *m;

    if (r.status != 200)
        fail_msg("POST /api/v1/merges: %ld %s", r.status, r.body);
    m = th_resp_json(&r);
    th_resp_release(&r);
    return m;
}

static void
assert_repos_csv(const char *base, const char *want, size_t want_len, long long generation)
{
    struct th_resp r = th_get(base, "/api/v1/repos.csv", NULL);
    char *xg;
    char *g = th_strf("%lld", generation);

    assert_int_equal(r.status, 200);
    if (r.len != want_len || memcmp(r.body, want, want_len) != 0)
        fail_msg("repos.csv from %s differs from the reference\n--- got (%zu bytes) ---\n%.2000s"
                 "\n--- want (%zu bytes) ---\n%.2000s",
                 base, r.len, r.body, want_len, want);
    xg = th_resp_header(&r, "X-Generation");
    assert_non_null(xg);
    assert_string_equal(xg, g);
    free(xg);
    free(g);
    th_resp_release(&r);
}

/* The counts of every merge reported to a client match the recorded merge. */
static void
check_reported(json_t *reported, const struct merge_row *all, size_t nall)
{
    size_t i;
    size_t x;

    for (i = 0; i < json_array_size(reported); i++) {
        json_t *m = json_array_get(reported, i);

        for (x = 0; x < nall; x++)
            if (!strcmp(all[x].id, json_str(m, "id")))
                break;
        if (x == nall)
            fail_msg("merge %s was answered but is not recorded", json_str(m, "id"));
        assert_string_equal(json_str(m, "status"), "succeeded");
        assert_int_equal(json_ll(m, "events"), all[x].events);
        assert_int_equal(json_ll(m, "rows"), all[x].rows);
        assert_int_equal(json_ll(m, "added"), all[x].added);
        assert_int_equal(json_ll(m, "updated"), all[x].updated);
        assert_int_equal(json_ll(m, "unchanged"), all[x].unchanged);
        assert_int_equal(json_ll(m, "skipped"), all[x].skipped);
        assert_int_equal(json_ll(m, "generation"), all[x].generation);
    }
}

/* ---- two replicas, concurrent uploads and merges ------------------------ */

static void
test_concurrent_uploads_and_merges(void **state)
{
    struct fixture *f = *state;
    struct th_pg *pg = f->pg = th_pg_start();
    struct th_ingestd *a = f->ingestd[0] = th_ingestd_start(th_pg_url(pg), NULL);
    struct th_ingestd *b = f->ingestd[1] = th_ingestd_start(th_pg_url(pg), NULL);
    struct uploader up[UP_THREADS];
    struct merger mg[MERGE_THREADS];
    struct event *byseq[UP_THREADS * EVENTS_PER_THREAD];
    struct reference ref;
    struct merge_row *ms;
    struct merge_row *all;
    size_t nms;
    size_t nall;
    size_t nev = 0;
    size_t e0 = 0;
    atomic_int stop = 0;
    json_t *reported = json_array();
    json_t *listed;
    json_t *fin;
    long long total_events = 0;
    long t0 = th_now_ms();
    char *want;
    size_t want_len;
    size_t i;
    int t;

    for (t = 0; t < UP_THREADS; t++) {
        up[t].index = t;
        up[t].base = th_ingestd_base(t % 2 ? b : a);
        up[t].events = xcalloc(EVENTS_PER_THREAD, sizeof(struct event));
        for (i = 0; i < EVENTS_PER_THREAD; i++)
            gen_event(t, (int)i, &up[t].events[i]);
    }
    for (t = 0; t < MERGE_THREADS; t++) {
        memset(&mg[t], 0, sizeof(mg[t]));
        mg[t].seed = (unsigned)t * 7919u + 1u;
        mg[t].base = th_ingestd_base(t % 2 ? b : a);
        mg[t].stop = &stop;
        mg[t].results = json_array();
        assert_int_equal(pthread_create(&mg[t].tid, NULL, merger_main, &mg[t]), 0);
    }
    for (t = 0; t < UP_THREADS; t++)
        assert_int_equal(pthread_create(&up[t].tid, NULL, uploader_main, &up[t]), 0);
    for (t = 0; t < UP_THREADS; t++)
        pthread_join(up[t].tid, NULL);
    atomic_store(&stop, 1);
    for (t = 0; t < MERGE_THREADS; t++)
        pthread_join(mg[t].tid, NULL);
    print_message("uploads and merges took %ld ms\n", th_now_ms() - t0);

    /* every request was answered as it should be */
    for (t = 0; t < UP_THREADS; t++) {
        for (i = 0; i < EVENTS_PER_THREAD; i++) {
            struct event *e = &up[t].events[i];

            if (e->status != 201)
                fail_msg("upload %d/%zu: %ld (expected 201)", t, i, e->status);
            byseq[nev++] = e;
        }
    }
    for (t = 0; t < MERGE_THREADS; t++) {
        print_message("merger %d: %d calls\n", t, mg[t].calls);
        if (mg[t].failures)
            fail_msg("merger %d: %d of %d merges failed, last %ld %s", t, mg[t].failures,
                     mg[t].calls, mg[t].last_status, mg[t].last_body);
        assert_true(mg[t].calls >= 2);
        json_array_extend(reported, mg[t].results);
        json_decref(mg[t].results);
    }
    fin = merge_ok(th_ingestd_base(a));
    json_array_append_new(reported, fin);
    qsort(byseq, nev, sizeof(*byseq), cmp_event_seq);

    /* each accepted event is in exactly one merge */
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM events"), (long long)nev);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM events e WHERE (SELECT count(*) FROM "
                                  "merges m WHERE m.seq_lo < e.sequence AND e.sequence <= "
                                  "m.seq_hi) <> 1"),
                     0);
    ms = load_merges(pg, "seq_hi > seq_lo", &nms);
    all = load_merges(pg, "true", &nall);
    print_message("%zu merges recorded, %zu of them took events\n", nall, nms);
    assert_true(nms >= 2);

    /* merge by merge: the ranges, the counts, the reference */
    reference_init(&ref);
    for (i = 0; i < nms; i++) {
        struct ref_counts rc;
        size_t e1 = e0;

        if (i > 0 && ms[i].seq_lo < ms[i - 1].seq_hi)
            fail_msg("merges %s and %s overlap", ms[i - 1].id, ms[i].id);
        while (e1 < nev && byseq[e1]->sequence <= ms[i].seq_hi)
            e1++;
        if (e0 < nev && byseq[e0]->sequence <= ms[i].seq_lo)
            fail_msg("event %s (sequence %lld) is in no merge", byseq[e0]->id, byseq[e0]->sequence);
        reference_merge(&ref, byseq + e0, e1 - e0, &rc);
        if (rc.events != ms[i].events || rc.rows != ms[i].rows || rc.added != ms[i].added ||
            rc.updated != ms[i].updated || rc.unchanged != ms[i].unchanged ||
            rc.skipped != ms[i].skipped || ref.generation != ms[i].generation ||
            !json_equal(rc.columns_added, ms[i].columns_added))
            fail_msg("merge %zu (%s, sequences %lld..%lld): recorded events %lld rows %lld "
                     "added %lld updated %lld unchanged %lld skipped %lld generation %lld; "
                     "reference %lld %lld %lld %lld %lld %lld %lld",
                     i, ms[i].id, ms[i].seq_lo + 1, ms[i].seq_hi, ms[i].events, ms[i].rows,
                     ms[i].added, ms[i].updated, ms[i].unchanged, ms[i].skipped, ms[i].generation,
                     rc.events, rc.rows, rc.added, rc.updated, rc.unchanged, rc.skipped,
                     ref.generation);
        json_decref(rc.columns_added);
        e0 = e1;
    }
    assert_int_equal(e0, nev);

    print_message("reference: %zu rows, generation %lld\n", ref.nrows, ref.generation);
    print_message("totals: %lld added, %lld updated, %lld unchanged, %lld skipped\n",
                  th_pg_ll(pg, "SELECT sum(added) FROM merges"),
                  th_pg_ll(pg, "SELECT sum(updated) FROM merges"),
                  th_pg_ll(pg, "SELECT sum(unchanged) FROM merges"),
                  th_pg_ll(pg, "SELECT sum(skipped) FROM merges"));
    /* some merges were asked for while another one ran */
    assert_true(th_pg_ll(pg, "SELECT count(*) FROM (SELECT started_at, lag(finished_at) OVER "
                             "(ORDER BY finished_at, seq_hi NULLS FIRST) AS prev FROM merges) x "
                             "WHERE started_at < prev") > 0);

    /* the effective file, from both processes */
    want = reference_render(&ref, &want_len);
    assert_repos_csv(th_ingestd_base(a), want, want_len, ref.generation);
    assert_repos_csv(th_ingestd_base(b), want, want_len, ref.generation);
    free(want);

    /* the API shows each event merged by the merge whose range holds it */
    listed = list_events(th_ingestd_base(b));
    assert_int_equal(json_array_size(listed), nev);
    for (i = 0, e0 = 0; i < nev; i++) {
        json_t *e = json_array_get(listed, i);

        while (e0 < nms && ms[e0].seq_hi < byseq[i]->sequence)
            e0++;
        assert_true(e0 < nms);
        assert_string_equal(json_str(e, "id"), byseq[i]->id);
        assert_string_equal(json_str(e, "status"), "merged");
        assert_non_null(json_str(e, "merge_id"));
        assert_string_equal(json_str(e, "merge_id"), ms[e0].id);
        assert_non_null(json_str(e, "merged_at"));
    }
    json_decref(listed);

    /* what the clients were told is what was recorded; counts add up everywhere */
    check_reported(reported, all, nall);
    for (i = 0; i < nall; i++) {
        if (all[i].added + all[i].updated + all[i].unchanged + all[i].skipped != all[i].rows)
            fail_msg("merge %s: counts do not add up to rows %lld", all[i].id, all[i].rows);
        total_events += all[i].events;
    }
    /* generations never go backwards, in the order merges finished */
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM (SELECT generation, lag(generation) "
                                  "OVER (ORDER BY finished_at, seq_hi NULLS FIRST) AS prev "
                                  "FROM merges) x WHERE generation < prev"),
                     0);
    assert_int_equal(th_pg_ll(pg, "SELECT generation FROM effective_meta"), ref.generation);

    /* the sum over merges of `events` is the number of events */
    if (total_events != (long long)nev)
        fail_msg("merges report %lld events in total, %zu were accepted (merges of nothing "
                 "report events: %lld)",
                 total_events, nev,
                 th_pg_ll(pg, "SELECT coalesce(sum(event_count), 0) FROM merges WHERE "
                              "NOT coalesce(seq_hi > seq_lo, false)"));

    /* nothing left, on either process */
    fin = merge_ok(th_ingestd_base(b));
    assert_int_equal(json_ll(fin, "events"), 0);
    assert_int_equal(json_ll(fin, "generation"), ref.generation);
    json_decref(fin);

    free_merges(ms, nms);
    free_merges(all, nall);
    reference_release(&ref);
    json_decref(reported);
    for (t = 0; t < UP_THREADS; t++) {
        for (i = 0; i < EVENTS_PER_THREAD; i++)
            event_release(&up[t].events[i]);
        free(up[t].events);
    }
}

/* ---- replicas starting together on a fresh database ---------------------- */

static void
proc_spawn(struct proc *p, const char *database_url)
{
    char tmpl[] = "/tmp/threp.XXXXXX";
    char *argv[] = {xstrdup(INGESTD_BIN), xstrdup("serve"), NULL};
    char *envp[6];
    size_t ne = 0;
    pid_t parent = getpid();
    int fd;
    size_t i;

    memset(p, 0, sizeof(*p));
    assert_non_null(mkdtemp(tmpl));
    p->dir = xstrdup(tmpl);
    p->logpath = th_strf("%s/ingestd.log", p->dir);
    envp[ne++] = th_strf("DATABASE_URL=%s", database_url);
    envp[ne++] = xstrdup("INGESTD_LISTEN=127.0.0.1:0");
    envp[ne++] = th_strf("INGESTD_DATA_DIR=%s/var", p->dir);
    if (getenv("PATH"))
        envp[ne++] = th_strf("PATH=%s", getenv("PATH"));
    envp[ne] = NULL;
    fd = open(p->logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    assert_true(fd >= 0);
    fflush(NULL);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        sigset_t none;
        int nullfd = open("/dev/null", O_RDONLY);

        if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(fd);
    free(argv[0]);
    free(argv[1]);
    for (i = 0; i < ne; i++)
        free(envp[i]);
}

/* The "port" of the "listening" log line, 0 when there is none yet. */
static int
proc_port(const struct proc *p)
{
    char *log = th_read_file(p->logpath, NULL);
    char *line = strstr(log, "\"msg\":\"listening\"");
    int port = 0;

    if (line) {
        char *eol = strchr(line, '\n');
        char *start = line;
        json_t *j;

        while (start > log && start[-1] != '\n')
            start--;
        j = json_loadb(start, eol ? (size_t)(eol - start) : strlen(start), 0, NULL);
        port = (int)json_integer_value(json_object_get(j, "port"));
        json_decref(j);
    }
    free(log);
    return port;
}

/* Wait for exit up to timeout_ms; 1 when it exited (status in p->status). */
static int
proc_wait(struct proc *p, long timeout_ms)
{
    long deadline = th_now_ms() + timeout_ms;
    int st = 0;

    for (;;) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            p->pid = -1;
            return 1;
        }
        if (th_now_ms() > deadline)
            return 0;
        th_sleep_ms(20);
    }
}

static void
proc_cleanup(struct proc *p)
{
    char *cmd;

    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    cmd = th_strf("rm -rf '%s'", p->dir);
    if (system(cmd) != 0)
        print_message("could not remove %s\n", p->dir);
    free(cmd);
    free(p->dir);
    free(p->logpath);
}

static size_t
count_in_file(const char *path, const char *needle)
{
    char *text = th_read_file(path, NULL);
    const char *s = text;
    size_t n = 0;

    while ((s = strstr(s, needle)) != NULL) {
        n++;
        s += strlen(needle);
    }
    free(text);
    return n;
}

static void
test_replicas_start_together(void **state)
{
    struct fixture *f = *state;
    struct th_pg *pg = f->pg = th_pg_start();
    struct proc *p = f->procs;
    long deadline;
    long long versions;
    size_t applied = 0;
    json_t *m;
    int i;

    for (i = 0; i < 2; i++) {
        proc_spawn(&p[i], th_pg_url(pg));
        f->nprocs++;
    }
    deadline = th_now_ms() + 30000;
    for (i = 0; i < 2; i++) {
        for (;;) {
            struct th_resp r;
            char *url;
            int rc;

            if (proc_wait(&p[i], 0)) {
                char *log = th_read_file(p[i].logpath, NULL);

                fail_msg("replica %d exited with %d:\n%s", i, p[i].status, log);
            }
            if (!p[i].port)
                p[i].port = proc_port(&p[i]);
            if (p[i].port) {
                url = th_strf("http://127.0.0.1:%d/readyz", p[i].port);
                rc = th_http("GET", url, NULL, NULL, 0, &r);
                free(url);
                if (rc == 0 && r.status == 200) {
                    th_resp_release(&r);
                    break;
                }
                th_resp_release(&r);
            }
            if (th_now_ms() > deadline) {
                char *log = th_read_file(p[i].logpath, NULL);

                fail_msg("replica %d not ready within 30 s:\n%s", i, log);
            }
            th_sleep_ms(50);
        }
    }

    /* the migrations ran once */
    versions = th_pg_ll(pg, "SELECT count(*) FROM schema_migrations");
    assert_true(versions >= 1);
    assert_int_equal(th_pg_ll(pg, "SELECT count(DISTINCT version) FROM schema_migrations"),
                     versions);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM effective_meta"), 1);
    for (i = 0; i < 2; i++) {
        applied += count_in_file(p[i].logpath, "\"msg\":\"migration applied\"");
        assert_int_equal(count_in_file(p[i].logpath, "\"level\":\"error\""), 0);
    }
    assert_int_equal(applied, (size_t)versions);

    /* both serve */
    for (i = 0; i < 2; i++) {
        char *base = th_strf("http://127.0.0.1:%d", p[i].port);
        char *csv = th_strf("origin,path,branch,changeset,publishUri\n"
                            "github.com,org/together-%d,main,t%d,https://a.example/t/%d.jar\n",
                            i, i, i);
        struct th_resp r = th_post_csv(base, "/api/v1/events", csv, NULL);

        assert_int_equal(r.status, 201);
        th_resp_release(&r);
        free(csv);
        free(base);
    }
    {
        char *base = th_strf("http://127.0.0.1:%d", p[1].port);

        m = merge_ok(base);
        assert_int_equal(json_ll(m, "events"), 2);
        assert_int_equal(json_ll(m, "added"), 2);
        json_decref(m);
        free(base);
    }

    for (i = 0; i < 2; i++)
        kill(p[i].pid, SIGTERM);
    for (i = 0; i < 2; i++) {
        assert_true(proc_wait(&p[i], 30000));
        assert_int_equal(p[i].status, 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_uploads_and_merges, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_replicas_start_together, fixture_setup,
                                        fixture_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
