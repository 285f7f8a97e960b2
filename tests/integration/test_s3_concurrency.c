/*
 * test_s3_concurrency.c - S3 event batches from many clients through two ingestd processes
 *
 * Two ingestd processes share one database; 8 client threads (4 per process)
 * each post 60 batches of 20 events on 10 overlapping keys: four versions per
 * key, random event types (put, delete, delete marker, restore without a
 * sequencer), random delivered sequencers of varying length and case, and
 * repeat deliveries (also re-spelled: other case, trailing zeros) of events
 * from any thread. Every request must answer 200 within 30 s.
 *
 * Afterwards, from the rows read back with SQL:
 *  - at most one current record per (bucket, key);
 *  - one record per distinct (key, version, event type, normalised sequencer)
 *    delivered, plus one per event without a sequencer; each with
 *    numberDuplicateEvents = its deliveries - 1; the responses' counts add up;
 *  - the current record of every key equals a reference computation of
 *    S3.md's current-state rule (in C, below) over the rows of the key, with
 *    sequencers ordered by S3.md's rules (case-insensitive, right-padded with
 *    0; a generated value after its base, before any delivered sequencer
 *    greater than the base, counter order on the same base).
 *
 * Events without a sequencer only go to version v1 of a key, and delivered
 * sequencers are unique per key, so no two records of a key tie.
 * Client threads use their own libcurl handles; cmocka is used from the
 * test's thread only. The seed can be set with S3_CONC_SEED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "harness.h"

#define THREADS 8
#define BATCHES 60
#define PER_BATCH 20
#define NEVENTS (THREADS * BATCHES * PER_BATCH)
#define NKEYS 10
#define NVERSIONS 4
#define BUCKET "conc"
#define REQUEST_LIMIT_MS 30000L

static const char *const versions[NVERSIONS] = {"null", "v1", "v2", "v3"};

enum kind { K_PUT, K_DELETE, K_MARKER, K_RESTORE };

struct ev {
    int key;
    int ver;
    enum kind kind;
    char raw[48];  /* as sent; "" = no sequencer */
    char norm[48]; /* upper case, trailing zeros removed */
    int eventbridge;
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t
rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static void
key_name(int k, char *out, size_t n)
{
    snprintf(out, n, "dir/key-%02d", k);
}

/* S3.md: compare case-insensitively after right-padding the shorter with '0'. */
static int
seq_cmp(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t n = la > lb ? la : lb;
    size_t i;

    for (i = 0; i < n; i++) {
        int ca = i < la ? toupper((unsigned char)a[i]) : '0';
        int cb = i < lb ? toupper((unsigned char)b[i]) : '0';

        if (ca != cb)
            return ca < cb ? -1 : 1;
    }
    return 0;
}

static void
seq_norm(const char *raw, char *out, size_t n)
{
    size_t len = strlen(raw);
    size_t i;

    while (len > 0 && raw[len - 1] == '0')
        len--;
    assert_true(len < n);
    for (i = 0; i < len; i++)
        out[i] = (char)toupper((unsigned char)raw[i]);
    out[len] = '\0';
}

/* ---- generated events ----------------------------------------------------- */

static struct ev *evs; /* NEVENTS, thread-major, batch, slot */

static int
seq_taken(int key, const char *norm, size_t upto)
{
    size_t i;

    for (i = 0; i < upto; i++)
        if (evs[i].key == key && evs[i].raw[0] && !strcmp(evs[i].norm, norm))
            return 1;
    return 0;
}

static void
generate(void)
{
    size_t i;
    int have_seq = 0;

    evs = xcalloc(NEVENTS, sizeof(*evs));
    for (i = 0; i < NEVENTS; i++) {
        struct ev *e = &evs[i];
        uint32_t r = rnd() % 100;

        e->eventbridge = rnd() % 4 == 0;
        if (r < 12 && have_seq) {
            /* a repeat delivery of an earlier event with a sequencer, maybe re-spelled */
            size_t j;
            size_t k;
            size_t n;

            do
                j = rnd() % i;
            while (!evs[j].raw[0]);
            e->key = evs[j].key;
            e->ver = evs[j].ver;
            e->kind = evs[j].kind;
            memcpy(e->norm, evs[j].norm, sizeof(e->norm));
            memcpy(e->raw, evs[j].raw, sizeof(e->raw));
            n = strlen(e->norm);
            switch (rnd() % 4) {
            case 0: /* as delivered before */
                break;
            case 1: /* lower case */
                for (k = 0; k <= n; k++)
                    e->raw[k] = (char)tolower((unsigned char)e->norm[k]);
                break;
            default: /* right-padded with 1 or 3 zeros */
                memcpy(e->raw, e->norm, n);
                memset(e->raw + n, '0', 3);
                e->raw[n + (rnd() % 2 ? 1 : 3)] = '\0';
                break;
            }
            continue;
        }
        e->key = (int)(rnd() % NKEYS);
        if (r < 27) {
            e->ver = 1; /* events without a sequencer: version v1 only */
            e->kind = K_RESTORE;
            continue;
        }
        e->ver = (int)(rnd() % NVERSIONS);
        r = rnd() % 10;
        e->kind = r < 6 ? K_PUT : r < 8 ? K_DELETE : K_MARKER;
        do {
            /* 12 to 18 hex digits, upper or lower case, sometimes trailing zeros */
            int len = 12 + (int)(rnd() % 7);
            int k;
            int lower = rnd() % 3 == 0;

            e->raw[0] = '0'; /* S3 sequencers start with 0 */
            for (k = 1; k < len; k++)
                e->raw[k] = "0123456789ABCDEF"[rnd() % 16];
            if (rnd() % 5 == 0) {
                e->raw[len - 2] = '0';
                e->raw[len - 1] = '0';
            }
            e->raw[len] = '\0';
            if (lower)
                for (k = 0; k < len; k++)
                    e->raw[k] = (char)tolower((unsigned char)e->raw[k]);
            seq_norm(e->raw, e->norm, sizeof(e->norm));
        } while (!e->norm[0] || seq_taken(e->key, e->norm, i));
        have_seq = 1;
    }
}

static json_t *
event_json(const struct ev *e)
{
    char key[32];
    json_t *obj;
    const char *ver = versions[e->ver];

    key_name(e->key, key, sizeof(key));
    if (e->eventbridge) {
        static const char *const types[] = {"Object Created", "Object Deleted", "Object Deleted",
                                            "Object Restore Completed"};
        json_t *detail;

        obj = json_pack("{s:s}", "key", key);
        if (strcmp(ver, "null") != 0)
            json_object_set_new(obj, "version-id", json_string(ver));
        if (e->raw[0])
            json_object_set_new(obj, "sequencer", json_string(e->raw));
        if (e->kind == K_PUT || e->kind == K_RESTORE) {
            json_object_set_new(obj, "size", json_integer(7));
            json_object_set_new(obj, "etag", json_string("0123abcd"));
        }
        detail =
            json_pack("{s:s,s:{s:s},s:o}", "version", "0", "bucket", "name", BUCKET, "object", obj);
        if (e->kind == K_PUT)
            json_object_set_new(detail, "reason", json_string("PutObject"));
        if (e->kind == K_DELETE || e->kind == K_MARKER) {
            json_object_set_new(detail, "reason", json_string("DeleteObject"));
            json_object_set_new(
                detail, "deletion-type",
                json_string(e->kind == K_MARKER ? "Delete Marker Created" : "Permanently Deleted"));
        }
        return json_pack("{s:s,s:s,s:s,s:s,s:o}", "version", "0", "detail-type", types[e->kind],
                         "source", "aws.s3", "time", "2026-11-21T10:15:30.123Z", "detail", detail);
    }
    {
        static const char *const names[] = {"ObjectCreated:Put", "ObjectRemoved:Delete",
                                            "ObjectRemoved:DeleteMarkerCreated",
                                            "ObjectRestore:Completed"};

        obj = json_pack("{s:s}", "key", key);
        if (strcmp(ver, "null") != 0)
            json_object_set_new(obj, "versionId", json_string(ver));
        if (e->raw[0])
            json_object_set_new(obj, "sequencer", json_string(e->raw));
        if (e->kind == K_PUT || e->kind == K_RESTORE) {
            json_object_set_new(obj, "size", json_integer(7));
            json_object_set_new(obj, "eTag", json_string("0123abcd"));
        }
        return json_pack("{s:s,s:s,s:{s:{s:s},s:o}}", "eventName", names[e->kind], "eventTime",
                         "2026-11-21T10:15:30.123Z", "s3", "bucket", "name", BUCKET, "object", obj);
    }
}

/* Batch body: [{"Records":[notifications...]}, eventbridge...] */
static char *
batch_body(const struct ev *batch, size_t n)
{
    json_t *records = json_array();
    json_t *body = json_array();
    size_t i;
    char *s;

    json_array_append_new(body, json_pack("{s:o}", "Records", records));
    for (i = 0; i < n; i++) {
        if (batch[i].eventbridge)
            json_array_append_new(body, event_json(&batch[i]));
        else
            json_array_append_new(records, event_json(&batch[i]));
    }
    s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return s;
}

/* ---- client threads ------------------------------------------------------ */

struct client {
    pthread_t tid;
    const char *base;
    char *bodies[BATCHES];
    long long records;
    long long ingested;
    long long duplicates;
    long long ignored;
    long max_ms;
    int failures;
    char failure[600];
};

static size_t
collect(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

static void *
client_main(void *arg)
{
    struct client *c = arg;
    CURL *h = curl_easy_init();
    char *url = th_strf("%s/api/v1/s3/events", c->base);
    int i;

    for (i = 0; i < BATCHES; i++) {
        struct curl_slist *list = NULL;
        struct buf b;
        long status = 0;
        long t0 = th_now_ms();
        long ms;
        CURLcode cc;
        json_t *j = NULL;

        buf_init(&b, 0);
        curl_easy_reset(h);
        list = curl_slist_append(list, "Expect:");
        list = curl_slist_append(list, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, REQUEST_LIMIT_MS + 5000L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->bodies[i]));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->bodies[i]);
        cc = curl_easy_perform(h);
        ms = th_now_ms() - t0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        buf_append(&b, "", 0);
        if (ms > c->max_ms)
            c->max_ms = ms;
        if (status == 200)
            j = json_loadb(b.data, b.len, 0, NULL);
        if (status != 200 || !j || ms > REQUEST_LIMIT_MS) {
            if (!c->failures++)
                snprintf(c->failure, sizeof(c->failure),
                         "batch %d: curl %d (%s), status %ld after %ld ms: %.400s", i, (int)cc,
                         curl_easy_strerror(cc), status, ms, b.data ? b.data : "");
        } else {
            c->records += json_integer_value(json_object_get(j, "records"));
            c->ingested += json_integer_value(json_object_get(j, "ingested"));
            c->duplicates += json_integer_value(json_object_get(j, "duplicates"));
            c->ignored += json_integer_value(json_object_get(j, "ignored"));
        }
        json_decref(j);
        buf_release(&b);
        curl_slist_free_all(list);
    }
    free(url);
    curl_easy_cleanup(h);
    return NULL;
}

/* ---- reference ------------------------------------------------------------ */

/* One stored record, as read back with SQL. */
struct row {
    char id[40];
    int key;
    int ver;
    int created;
    int marker;
    int current;
    int dups;
    int generated;  /* no delivered sequencer */
    char raw[300];  /* delivered sequencer, or the generated value */
    char base[300]; /* generated: the base */
    unsigned long long counter;
};

/* S3.md "Ordering by sequencer" over delivered and generated values. */
static int
row_cmp(const struct row *a, const struct row *b)
{
    int c;

    if (!a->generated && !b->generated)
        return seq_cmp(a->raw, b->raw);
    if (a->generated && b->generated) {
        c = seq_cmp(a->base, b->base);
        if (c)
            return c;
        return a->counter < b->counter ? -1 : a->counter > b->counter ? 1 : 0;
    }
    if (a->generated) /* after its base, before any delivered value greater than the base */
        return seq_cmp(b->raw, a->base) > 0 ? -1 : 1;
    return -row_cmp(b, a);
}

static int
index_of(const char *const *list, int n, const char *s)
{
    int i;

    for (i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return i;
    return -1;
}

/*
 * S3.md "Current state" for the rows of one key: the index of the current row,
 * or -1. Fails on a tie (the test data is built so that none can occur).
 */
static int
reference_current(struct row *rows, const int *idx, int n)
{
    int latest[NVERSIONS];
    int best = -1;
    int v;
    int i;

    for (v = 0; v < NVERSIONS; v++)
        latest[v] = -1;
    for (i = 0; i < n; i++) {
        struct row *r = &rows[idx[i]];
        int c;

        if (latest[r->ver] < 0) {
            latest[r->ver] = idx[i];
            continue;
        }
        c = row_cmp(r, &rows[latest[r->ver]]);
        if (c == 0)
            fail_msg("reference: rows %s and %s tie", r->id, rows[latest[r->ver]].id);
        if (c > 0)
            latest[r->ver] = idx[i];
    }
    for (v = 0; v < NVERSIONS; v++) {
        struct row *r;

        if (latest[v] < 0)
            continue;
        r = &rows[latest[v]];
        if (!r->created && !r->marker) /* a non-marker delete ends the version */
            continue;
        if (best < 0 || row_cmp(r, &rows[best]) > 0)
            best = latest[v];
        else if (row_cmp(r, &rows[best]) == 0)
            fail_msg("reference: versions tie (%s, %s)", r->id, rows[best].id);
    }
    if (best >= 0 && rows[best].marker)
        return -1;
    return best;
}

/* ---- the test -------------------------------------------------------------- */

static void
test_concurrent_batches(void **state)
{
    struct th_pg *pg;
    struct th_ingestd *srv[2];
    struct client cl[THREADS];
    const char *seed_env = getenv("S3_CONC_SEED");
    unsigned long long seed = seed_env ? strtoull(seed_env, NULL, 10) : 20261121ULL;
    long long sent_seq = 0;
    long long distinct_seq = 0;
    long long no_seq = 0;
    long long sum_records = 0;
    long long sum_ingested = 0;
    long long sum_dups = 0;
    long long sum_ignored = 0;
    long max_ms = 0;
    long t0;
    PGresult *res;
    struct row *rows;
    int nrows;
    int *deliveries; /* per event with sequencer: deliveries of its tuple (first one only) */
    int *first_of;   /* per event: index of the first event of its tuple */
    int *matched;    /* per event (first of tuple): rows found */
    int restores[NKEYS][NVERSIONS];
    int restore_rows[NKEYS][NVERSIONS];
    int currents = 0;
    size_t i;
    size_t j;
    int t;
    char *s;

    (void)state;
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    print_message("seed %llu (S3_CONC_SEED)\n", seed);
    generate();

    /* expectations from what is sent */
    deliveries = xcalloc(NEVENTS, sizeof(int));
    first_of = xcalloc(NEVENTS, sizeof(int));
    matched = xcalloc(NEVENTS, sizeof(int));
    memset(restores, 0, sizeof(restores));
    memset(restore_rows, 0, sizeof(restore_rows));
    for (i = 0; i < NEVENTS; i++) {
        const struct ev *e = &evs[i];

        first_of[i] = (int)i;
        if (!e->raw[0]) {
            no_seq++;
            restores[e->key][e->ver]++;
            continue;
        }
        sent_seq++;
        for (j = 0; j < i; j++) {
            const struct ev *f = &evs[j];

            if (f->raw[0] && f->key == e->key && f->ver == e->ver &&
                (f->kind == K_PUT) == (e->kind == K_PUT) && !strcmp(f->norm, e->norm)) {
                first_of[i] = first_of[j];
                break;
            }
        }
        if (first_of[i] == (int)i)
            distinct_seq++;
        deliveries[first_of[i]]++;
    }
    print_message("%d events: %lld with a sequencer (%lld distinct), %lld without\n", NEVENTS,
                  sent_seq, distinct_seq, no_seq);

    pg = th_pg_start();
    srv[0] = th_ingestd_start(th_pg_url(pg), NULL);
    srv[1] = th_ingestd_start(th_pg_url(pg), NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    memset(cl, 0, sizeof(cl));
    for (t = 0; t < THREADS; t++) {
        int b;

        cl[t].base = th_ingestd_base(srv[t % 2]);
        for (b = 0; b < BATCHES; b++)
            cl[t].bodies[b] =
                batch_body(&evs[((size_t)t * BATCHES + (size_t)b) * PER_BATCH], PER_BATCH);
    }
    t0 = th_now_ms();
    for (t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&cl[t].tid, NULL, client_main, &cl[t]), 0);
    for (t = 0; t < THREADS; t++)
        pthread_join(cl[t].tid, NULL);
    print_message("%d batches in %ld ms\n", THREADS * BATCHES, th_now_ms() - t0);
    for (t = 0; t < THREADS; t++) {
        if (cl[t].failures)
            fail_msg("client %d (%s): %d failed requests, first: %s", t, cl[t].base, cl[t].failures,
                     cl[t].failure);
        sum_records += cl[t].records;
        sum_ingested += cl[t].ingested;
        sum_dups += cl[t].duplicates;
        sum_ignored += cl[t].ignored;
        if (cl[t].max_ms > max_ms)
            max_ms = cl[t].max_ms;
    }
    print_message("slowest request %ld ms\n", max_ms);
    assert_true(max_ms <= REQUEST_LIMIT_MS);

    /* the responses add up */
    if (sum_records != NEVENTS || sum_ignored != 0 || sum_ingested != distinct_seq + no_seq ||
        sum_dups != sent_seq - distinct_seq)
        fail_msg("responses: records %lld, ingested %lld, duplicates %lld, ignored %lld; want "
                 "%d, %lld, %lld, 0",
                 sum_records, sum_ingested, sum_dups, sum_ignored, NEVENTS, distinct_seq + no_seq,
                 sent_seq - distinct_seq);

    /* at most one current record per key */
    res = th_pg_exec(pg, "SELECT bucket, key, count(*) FROM s3_objects WHERE is_current "
                         "GROUP BY 1, 2 HAVING count(*) > 1");
    if (PQntuples(res) != 0)
        fail_msg("%s/%s has %s current records", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                 PQgetvalue(res, 0, 2));
    PQclear(res);

    /* totals */
    s = th_pg_scalar(pg, "SELECT count(*) || ' ' || coalesce(sum(number_duplicate_events), 0) "
                         "FROM s3_objects");
    {
        char *want = th_strf("%lld %lld", distinct_seq + no_seq, sent_seq - distinct_seq);

        if (strcmp(s, want) != 0)
            fail_msg("table: records and sum of numberDuplicateEvents \"%s\", want \"%s\"", s,
                     want);
        free(want);
    }
    free(s);

    /* every record, against what was sent */
    res = th_pg_exec(pg, "SELECT id, bucket, key, version_id, event_type, is_delete_marker, "
                         "is_current, number_duplicate_events, sequencer_raw, sequencer, reason "
                         "FROM s3_objects ORDER BY bucket, key, sequencer, id");
    nrows = PQntuples(res);
    rows = xcalloc((size_t)nrows, sizeof(*rows));
    for (t = 0; t < nrows; t++) {
        struct row *r = &rows[t];
        const char *raw = PQgetisnull(res, t, 8) ? NULL : PQgetvalue(res, t, 8);
        const char *stored = PQgetvalue(res, t, 9);
        char key[32];
        int k;

        snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, t, 0));
        assert_string_equal(PQgetvalue(res, t, 1), BUCKET);
        r->key = -1;
        for (k = 0; k < NKEYS; k++) {
            key_name(k, key, sizeof(key));
            if (!strcmp(key, PQgetvalue(res, t, 2)))
                r->key = k;
        }
        r->ver = index_of(versions, NVERSIONS, PQgetvalue(res, t, 3));
        if (r->key < 0 || r->ver < 0)
            fail_msg("unexpected record %s: key %s version %s", r->id, PQgetvalue(res, t, 2),
                     PQgetvalue(res, t, 3));
        r->created = !strcmp(PQgetvalue(res, t, 4), "Created");
        r->marker = PQgetvalue(res, t, 5)[0] == 't';
        r->current = PQgetvalue(res, t, 6)[0] == 't';
        r->dups = atoi(PQgetvalue(res, t, 7));
        if (r->current)
            currents++;
        if (!raw) {
            /* generated: <base>-<20-digit counter> (openapi ObjectRecord.sequencer) */
            const char *dash = strrchr(stored, '-');

            r->generated = 1;
            if (!dash || strlen(dash + 1) != 20)
                fail_msg("record %s: generated sequencer \"%s\"", r->id, stored);
            snprintf(r->raw, sizeof(r->raw), "%s", stored);
            snprintf(r->base, sizeof(r->base), "%.*s", (int)(dash - stored), stored);
            r->counter = strtoull(dash + 1, NULL, 10);
            if (!r->created || r->marker || r->dups != 0 ||
                strcmp(PQgetvalue(res, t, 10), "Restored") != 0)
                fail_msg("record %s: generated-sequencer record is not a plain restore", r->id);
            restore_rows[r->key][r->ver]++;
            continue;
        }
        snprintf(r->raw, sizeof(r->raw), "%s", raw);
        {
            char norm[300];
            size_t e;
            int found = -1;

            seq_norm(raw, norm, sizeof(norm));
            for (e = 0; e < NEVENTS; e++) {
                const struct ev *x = &evs[e];

                if (first_of[e] == (int)e && x->raw[0] && x->key == r->key && x->ver == r->ver &&
                    (x->kind == K_PUT) == r->created && !strcmp(x->norm, norm)) {
                    found = (int)e;
                    break;
                }
            }
            if (found < 0)
                fail_msg("record %s (key %d, %s, %s, sequencer %s) was never sent", r->id, r->key,
                         versions[r->ver], r->created ? "Created" : "Deleted", raw);
            matched[found]++;
            if (r->marker != (evs[found].kind == K_MARKER))
                fail_msg("record %s: isDeleteMarker %d", r->id, r->marker);
            if (r->dups != deliveries[found] - 1)
                fail_msg("record %s (sequencer %s): numberDuplicateEvents %d, want %d", r->id, raw,
                         r->dups, deliveries[found] - 1);
        }
    }
    PQclear(res);
    for (i = 0; i < NEVENTS; i++) {
        if (evs[i].raw[0] && first_of[i] == (int)i && matched[i] != 1)
            fail_msg("event %zu (key %d, %s, sequencer %s): %d records", i, evs[i].key,
                     versions[evs[i].ver], evs[i].raw, matched[i]);
    }
    for (t = 0; t < NKEYS; t++) {
        int v;

        for (v = 0; v < NVERSIONS; v++)
            if (restores[t][v] != restore_rows[t][v])
                fail_msg("key %d %s: %d records without delivered sequencer, %d sent", t,
                         versions[v], restore_rows[t][v], restores[t][v]);
    }

    /* the current record of every key, against the reference */
    for (t = 0; t < NKEYS; t++) {
        int idx[NEVENTS];
        int n = 0;
        int want;
        int got = -1;
        int k;

        for (k = 0; k < nrows; k++) {
            if (rows[k].key != t)
                continue;
            idx[n++] = k;
            if (rows[k].current)
                got = k;
        }
        want = reference_current(rows, idx, n);
        if (want != got)
            fail_msg("key %d (%d records): current %s (%s), reference %s (%s)", t, n,
                     got >= 0 ? rows[got].id : "none", got >= 0 ? rows[got].raw : "-",
                     want >= 0 ? rows[want].id : "none", want >= 0 ? rows[want].raw : "-");
    }

    /* the API lists the same current records */
    {
        char *path = th_strf("/api/v1/s3/objects?bucket=%s&rowsPerPage=100", BUCKET);
        struct th_resp r = th_get(th_ingestd_base(srv[1]), path, NULL);
        json_t *lj = th_resp_json(&r);
        json_t *results = json_object_get(lj, "results");
        json_t *o;
        size_t x;

        assert_int_equal(r.status, 200);
        assert_int_equal(json_array_size(results), (size_t)currents);
        json_array_foreach(results, x, o)
        {
            const char *id = json_string_value(json_object_get(o, "s3ObjectId"));
            int k;

            for (k = 0; k < nrows; k++)
                if (!strcmp(rows[k].id, id))
                    break;
            if (k == nrows || !rows[k].current)
                fail_msg("listed current record %s is not current in the table", id);
        }
        json_decref(lj);
        th_resp_release(&r);
        free(path);
    }
    print_message("%d records, %d current\n", nrows, currents);

    for (t = 0; t < THREADS; t++) {
        int b;

        for (b = 0; b < BATCHES; b++)
            free(cl[t].bodies[b]);
    }
    free(rows);
    free(deliveries);
    free(first_of);
    free(matched);
    free(evs);
    th_ingestd_free(srv[0]);
    th_ingestd_free(srv[1]);
    th_pg_free(pg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_batches),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
