/*
 * test_s3_faults.c - S3 faults between ingestd and s3rver (issue 4 of the reliability list)
 *
 * ingestd talks to s3rver through the harness's fault proxy (th_proxy_start_tcp):
 * AWS_ENDPOINT_URL names the proxy. Each round arms one fault and runs an
 * inventory (?wait=true) of a sample: 503 SlowDown answers (fewer than the
 * client's tries, and more), a response cut after N bytes for N over the
 * whole exchange (manifest, data file: mid-object), a slow link. The
 * client retries 503s; a reply cut after its first body byte is read again
 * whole by the job (jobs/inventory_runner.c), so only too many 503s fail. After each
 * round PostgreSQL must hold exactly the sample's records: a job is
 * succeeded only with all of them (records = the sample's), else failed
 * (HTTP 502) with the records untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/s3_client.h"
#include "core/buf.h"
#include "harness.h"
#include "harness_receiver.h"

#define FIX_BUCKET "filemanager-inventory-test"
#define INV_PATH "/api/v1/s3/inventories"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    struct th_proxy *proxy;
    struct s3_client *s3;
} G;

static void
put_fixture(const char *name, const char *key)
{
    char *path = th_strf("%s/s3-inventory/%s", FIXTURES_DIR, name);
    char errbuf[ERRBUF_SIZE] = "";
    size_t len = 0;
    char *data = th_read_file(path, &len);

    if (th_s3rver_put(G.s3, FIX_BUCKET, key, data, len, errbuf, sizeof(errbuf)) != ERR_OK)
        fail_msg("put %s: %s", key, errbuf);
    free(data);
    free(path);
}

/* The records of FIX_BUCKET in PostgreSQL, one line each, in a fixed order. */
static char *
fingerprint(void)
{
    char *v =
        th_pg_scalar(G.pg, "SELECT count(*) || ':' || coalesce(string_agg(key || '|' || "
                           "version_id || '|' || event_type || '|' || coalesce(size::text, "
                           "'-') || '|' || is_current, ';' ORDER BY key, version_id, "
                           "event_type), '') FROM s3_objects WHERE bucket = '" FIX_BUCKET "'");

    return v ? v : xstrdup("");
}

struct tally {
    int rounds;
    int succeeded;
    int failed;
};

/*
 * Run the inventory of `key` once under the armed fault (must_succeed: a
 * fault ingestd must ride out: fewer 503s than the S3 client's tries, one
 * cut, which the job reads again); the job's outcome must be succeeded with `want_records` and the
 * records `want` (NULL: take them as the reference when it succeeded), or failed (502) with the
 * records `before`.
 */
static void
round_once(const char *key, long long want_records, char **want, struct tally *t, int must_succeed,
           const char *what)
{
    char *body = th_strf("{\"bucket\":\"%s\",\"key\":\"%s\"}", FIX_BUCKET, key);
    char *before = fingerprint();
    struct th_resp r = th_post_json(th_ingestd_base(G.srv), INV_PATH "?wait=true", body, NULL);
    json_t *job;
    const char *st;
    char *after;

    th_proxy_set(G.proxy, TH_PROXY_PASS, 0);
    if (r.status != 200 && r.status != 502)
        fail_msg("%s: POST %s: %ld %s", what, key, r.status, r.body ? r.body : "");
    job = th_resp_json(&r);
    st = th_jstr(job, "status");
    after = fingerprint();
    t->rounds++;
    if (strcmp(st, "succeeded") == 0) {
        t->succeeded++;
        if (r.status != 200 || th_jint(job, "records") != want_records)
            fail_msg("%s: succeeded with %lld records, want %lld", what,
                     (long long)th_jint(job, "records"), want_records);
        if (!*want)
            *want = xstrdup(after);
        if (strcmp(after, *want) != 0)
            fail_msg("%s: succeeded; records\n  %s\nwant\n  %s", what, after, *want);
    } else if (strcmp(st, "failed") == 0) {
        t->failed++;
        if (must_succeed)
            fail_msg("%s: failed: %s", what, th_jstr(job, "error"));
        if (r.status != 502 || !json_is_string(json_object_get(job, "error")))
            fail_msg("%s: failed with %ld %s", what, r.status, r.body);
        if (strcmp(after, before) != 0)
            fail_msg("%s: failed job changed the records\n  %s\nbefore\n  %s", what, after, before);
    } else {
        fail_msg("%s: job ended %s", what, st);
    }
    json_decref(job);
    th_resp_release(&r);
    free(after);
    free(before);
    free(body);
}

/* Every fault over one sample; prints the tally. */
static void
sweep(const char *key, long long want_records, long cut_max, long cut_step)
{
    struct tally t = {0, 0, 0};
    char *want = NULL;
    char what[96];
    long n;
    int i;

    for (i = 1; i <= 12; i += i < 4 ? 1 : 8) { /* 1, 2, 3, 4 (< tries), 12 (> tries) */
        snprintf(what, sizeof(what), "%s: %d x 503", key, i);
        th_proxy_set(G.proxy, TH_PROXY_HTTP_503, i);
        round_once(key, want_records, &want, &t, i < 5, what);
    }
    for (n = 0; n <= cut_max; n += cut_step) {
        snprintf(what, sizeof(what), "%s: reply cut after %ld bytes", key, n);
        th_proxy_set(G.proxy, TH_PROXY_CUT_REPLY, n);
        round_once(key, want_records, &want, &t, 1, what);
    }
    snprintf(what, sizeof(what), "%s: 50 ms per chunk", key);
    th_proxy_set(G.proxy, TH_PROXY_DELAY, 50);
    round_once(key, want_records, &want, &t, 1, what);
    snprintf(what, sizeof(what), "%s: no fault", key);
    round_once(key, want_records, &want, &t, 1, what);
    if (t.succeeded == 0 || t.failed == 0)
        fail_msg("%s: %d succeeded, %d failed: the faults did not bite", key, t.succeeded,
                 t.failed);
    printf("FIGURE inventory %s: %d faulted rounds, %d succeeded with every record, %d failed "
           "(502) with the records untouched, 0 succeeded short; 503s answered so far %ld\n",
           key, t.rounds, t.succeeded, t.failed, th_proxy_answered_503(G.proxy));
    free(want);
}

static void
test_inventory_csv(void **state)
{
    (void)state;
    sweep("csv/manifest.json", 5, 2600, 149);
}

static void
test_inventory_parquet(void **state)
{
    (void)state;
    sweep("parquet/manifest.json", 5, 7000, 347);
}

/* ---- imports and an export through the same faults ------------------------ */

#define IMPORTS 8
#define HEADER "origin,path,branch,cloneUrl,changeset,publishUri\n"

static enum err
to_buf(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    (void)errbuf;
    (void)errlen;
    return buf_append(ctx, data, len);
}

/* One fault of a cycle, chosen by round number. */
static void
arm(long round)
{
    switch (round % 4) {
    case 0:
        th_proxy_set(G.proxy, TH_PROXY_HTTP_503, 2);
        break;
    case 1:
        th_proxy_set(G.proxy, TH_PROXY_CUT_REPLY, 100 + (round * 137) % 1500);
        break;
    case 2:
        th_proxy_set(G.proxy, TH_PROXY_TRUNCATE, 100 + (round * 211) % 1500);
        break;
    default:
        th_proxy_reset_all(G.proxy);
        break;
    }
}

/*
 * Files dropped into s3://events/in/pending/ while the proxy cycles through
 * 503s, cut replies, cut requests and resets every 150 ms: each becomes
 * exactly one event and leaves pending/; then a merge, whose export to
 * s3://exports/repos.csv (cut the same way) ends with the served bytes.
 */
static void
test_import_export(void **state)
{
    const char *url = th_pg_url(G.pg);
    char errbuf[ERRBUF_SIZE];
    char *ep = th_strf("AWS_ENDPOINT_URL=http://127.0.0.1:%d", th_proxy_port(G.proxy));
    const char *env[] = {ep,
                         "AWS_ACCESS_KEY_ID=S3RVER",
                         "AWS_SECRET_ACCESS_KEY=S3RVER",
                         "AWS_REGION=us-east-1",
                         "INGESTD_IMPORTS=s3://events/in/",
                         "INGESTD_IMPORT_POLL=1",
                         "INGESTD_EXPORTS=s3://exports/repos.csv",
                         "INGESTD_EXPORT_BACKOFF_MS=100",
                         NULL};
    char date[16];
    time_t now = time(NULL);
    struct tm tm;
    struct th_resp r;
    struct buf got;
    long round = 0;
    long n503 = th_proxy_answered_503(G.proxy);
    long nreset = th_proxy_resets(G.proxy);
    long deadline;
    long long n = 0;
    int i;

    (void)state;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    th_ingestd_free(G.srv);
    G.srv = th_ingestd_start(url, env);
    for (i = 0; i < IMPORTS; i++) {
        char *key = th_strf("in/pending/repos-lock-f%d-1-1.csv", i);
        char *body = th_strf(HEADER "github.com,org/f%d,main,u,c%d,https://a/f%d.jar\n", i, i, i);

        if (th_s3rver_put(G.s3, "events", key, body, strlen(body), errbuf, sizeof(errbuf)))
            fail_msg("put %s: %s", key, errbuf);
        free(body);
        free(key);
    }
    deadline = th_now_ms() + 30000;
    while (th_now_ms() < deadline) {
        char *v;

        arm(round++);
        th_sleep_ms(150);
        v = th_pg_scalar(G.pg, "SELECT count(DISTINCT source) FROM events WHERE source LIKE "
                               "'repos-lock-f%'");
        n = v ? atoll(v) : 0;
        free(v);
        if (n == IMPORTS && round >= 20)
            break;
    }
    th_proxy_set(G.proxy, TH_PROXY_PASS, 0);
    if (n != IMPORTS)
        fail_msg("%lld of %d files imported under faults", n, IMPORTS);
    /* each exactly once, and gone from pending/ once the faults stop */
    {
        char *v = th_pg_scalar(G.pg, "SELECT count(*) FROM events WHERE source LIKE "
                                     "'repos-lock-f%'");

        if (atoll(v) != IMPORTS)
            fail_msg("%s events of %d imported files", v, IMPORTS);
        free(v);
    }
    deadline = th_now_ms() + 20000;
    for (i = 0; i < IMPORTS; i++) {
        char *key = th_strf("in/pending/repos-lock-f%d-1-1.csv", i);
        uint64_t size;

        while (s3_client_head(G.s3, "events", key, &size, errbuf, sizeof(errbuf)) == ERR_OK &&
               th_now_ms() < deadline)
            th_sleep_ms(100);
        if (th_now_ms() >= deadline)
            fail_msg("%s still pending", key);
        free(key);
        key = th_strf("in/processed/%s/repos-lock-f%d-1-1.csv", date, i);
        if (s3_client_head(G.s3, "events", key, &size, errbuf, sizeof(errbuf)) != ERR_OK)
            fail_msg("%s missing: %s", key, errbuf);
        free(key);
    }
    n503 = th_proxy_answered_503(G.proxy) - n503;
    nreset = th_proxy_resets(G.proxy) - nreset;
    if (n503 + nreset == 0) /* a 503 bites only a new connection: not every run has one */
        fail_msg("the faults did not bite: %ld 503s, %ld connections reset", n503, nreset);
    printf("FIGURE imports: %d files under %ld faults 150 ms apart (%ld 503s answered, %ld "
           "connections reset): each imported exactly once and moved to processed/\n",
           IMPORTS, round, n503, nreset);

    /* the export: merges under the same faults, then the newest generation's bytes */
    for (i = 0; i < 12; i++) {
        arm(i);
        r = th_request("POST", th_ingestd_base(G.srv), "/api/v1/merges", NULL, NULL, 0);
        if (r.status != 200)
            fail_msg("merge: %ld %s", r.status, r.body ? r.body : "");
        th_resp_release(&r);
        th_sleep_ms(150);
        if (i == 5) {
            const char *csv = HEADER "github.com,org/late,main,u,late,https://a/late.jar\n";

            th_proxy_set(G.proxy, TH_PROXY_PASS, 0);
            r = th_post_csv(th_ingestd_base(G.srv), "/api/v1/events", csv, NULL);
            if (r.status != 201)
                fail_msg("post event: %ld", r.status);
            th_resp_release(&r);
        }
    }
    th_proxy_set(G.proxy, TH_PROXY_PASS, 0);
    r = th_request("POST", th_ingestd_base(G.srv), "/api/v1/merges", NULL, NULL, 0);
    th_resp_release(&r);
    r = th_get(th_ingestd_base(G.srv), "/api/v1/repos.csv", NULL);
    assert_int_equal(r.status, 200);
    buf_init(&got, 0);
    deadline = th_now_ms() + 20000;
    for (;;) {
        got.len = 0;
        if (s3_client_get(G.s3, "exports", "repos.csv", to_buf, &got, NULL, errbuf,
                          sizeof(errbuf)) == ERR_OK &&
            got.len == r.len && memcmp(got.data, r.body, r.len) == 0)
            break;
        if (th_now_ms() > deadline)
            fail_msg("s3://exports/repos.csv never held the served repos.csv (%zu bytes, "
                     "want %zu)",
                     got.len, r.len);
        th_sleep_ms(200);
    }
    if (!strstr(r.body, "org/late") || !strstr(r.body, "org/f7"))
        fail_msg("repos.csv lacks the newest events: %s", r.body);
    printf("FIGURE export: 12 merges under faults, then s3://exports/repos.csv holds the newest "
           "generation's exact %zu bytes\n",
           r.len);
    buf_release(&got);
    th_resp_release(&r);
    free(ep);
}

/* ---- a webhook receiver that hangs, then recovers -------------------------- */

#define HOOK_MERGES 4

/* Post one new event and merge it (a change, so a delivery). */
static void
change(int i)
{
    char *csv = th_strf(HEADER "github.com,org/h%d,main,u,h%d,https://a/h%d.jar\n", i, i, i);
    struct th_resp r = th_post_csv(th_ingestd_base(G.srv), "/api/v1/events", csv, NULL);

    if (r.status != 201)
        fail_msg("post event: %ld", r.status);
    th_resp_release(&r);
    r = th_request("POST", th_ingestd_base(G.srv), "/api/v1/merges", NULL, NULL, 0);
    if (r.status != 200)
        fail_msg("merge: %ld", r.status);
    th_resp_release(&r);
    free(csv);
}

/*
 * The receiver sits behind the proxy, which holds every chunk 700 ms while
 * ingestd gives up after 300 ms: each attempt reaches the receiver late
 * and counts as failed, so the same webhook-id comes again. Then the link
 * recovers: every delivery ends delivered, every change reached the
 * receiver, and no id came more often than ingestd attempted it.
 */
static void
test_webhook_hang(void **state)
{
    struct th_receiver *rcv = th_receiver_start();
    const char *colon = strrchr(th_receiver_base(rcv), ':');
    struct th_proxy *hp = th_proxy_start_tcp(atoi(colon + 1));
    char *hook = th_strf("INGESTD_WEBHOOK_URLS=http://127.0.0.1:%d/hook", th_proxy_port(hp));
    const char *env[] = {hook,
                         "INGESTD_WEBHOOK_SECRET="
                         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                         "INGESTD_WEBHOOK_TIMEOUT_MS=300",
                         "INGESTD_WEBHOOK_BACKOFF_MS=100",
                         "INGESTD_WEBHOOK_ATTEMPTS=100",
                         NULL};
    json_t *seen = json_object(); /* id -> receipts */
    long deadline;
    size_t i, n, extra = 0;
    char *v;
    PGresult *res;
    int k;

    (void)state;
    th_ingestd_free(G.srv);
    G.srv = th_ingestd_start(th_pg_url(G.pg), env);
    th_proxy_set(hp, TH_PROXY_DELAY, 700);
    for (k = 0; k < HOOK_MERGES; k++)
        change(k);
    th_sleep_ms(3000);
    th_proxy_set(hp, TH_PROXY_PASS, 0);
    change(HOOK_MERGES);
    deadline = th_now_ms() + 30000;
    for (;;) {
        v = th_pg_scalar(G.pg, "SELECT count(*) FROM webhook_deliveries WHERE status <> "
                               "'delivered'");
        k = atoi(v);
        free(v);
        if (k == 0)
            break;
        if (th_now_ms() > deadline)
            fail_msg("%d webhook deliveries not delivered after the receiver recovered", k);
        th_sleep_ms(100);
    }
    th_sleep_ms(1500); /* late copies of the hung attempts land too */
    n = th_receiver_count(rcv);
    for (i = 0; i < n; i++) {
        struct th_received q = th_receiver_get(rcv, i);
        json_t *body = json_loadb(q.body ? q.body : "", q.len, 0, NULL);
        const char *id = json_string_value(json_object_get(body, "id"));

        if (!id)
            fail_msg("delivery %zu without an id: %s", i, q.body ? q.body : "");
        json_object_set_new(seen, id,
                            json_integer(json_integer_value(json_object_get(seen, id)) + 1));
        json_decref(body);
        th_received_release(&q);
    }
    res = th_pg_exec(G.pg, "SELECT c.event_id, d.attempts FROM changes c JOIN "
                           "webhook_deliveries d ON d.change_id = c.id");
    if ((size_t)PQntuples(res) != json_object_size(seen))
        fail_msg("%d changes, %zu distinct ids received", PQntuples(res), json_object_size(seen));
    for (k = 0; k < PQntuples(res); k++) {
        json_int_t got = json_integer_value(json_object_get(seen, PQgetvalue(res, k, 0)));
        long attempts = atol(PQgetvalue(res, k, 1));

        if (got < 1 || got > attempts)
            fail_msg("change %s: received %lld times, %ld attempts", PQgetvalue(res, k, 0),
                     (long long)got, attempts);
        extra += (size_t)(got - 1);
    }
    if (extra == 0)
        fail_msg("the hang did not bite: no id came twice");
    printf("FIGURE webhooks: %d changes, receiver hung 3 s (700 ms per chunk, timeout 300 ms): "
           "%zu requests, %zu distinct ids = the changes, %zu redeliveries of an id, none beyond "
           "its attempts, all delivered after recovery\n",
           PQntuples(res), n, json_object_size(seen), extra);
    PQclear(res);
    json_decref(seen);
    th_proxy_free(hp);
    th_receiver_free(rcv);
    free(hook);
}

static int
group_setup(void **state)
{
    static const char *const uploads[][2] = {
        {"csv_inventory.csv.gz", "csv_inventory.csv.gz"},
        {"csv_inventory_manifest.json", "csv/manifest.json"},
        {"parquet_inventory.parquet", "parquet_inventory.parquet"},
        {"parquet_inventory_manifest.json", "parquet/manifest.json"},
    };
    static const char *const buckets[] = {FIX_BUCKET, "events", "exports", NULL};
    struct s3_client_config cfg;
    const char *colon;
    char *ep;
    size_t i;

    (void)state;
    if (th_s3rver_start(buckets) != 0)
        return -1;
    s3_client_config_from_env(&cfg);
    G.s3 = s3_client_new(&cfg);
    for (i = 0; i < sizeof(uploads) / sizeof(uploads[0]); i++)
        put_fixture(uploads[i][0], uploads[i][1]);
    colon = strrchr(th_s3rver_endpoint(), ':');
    G.proxy = th_proxy_start_tcp(atoi(colon + 1));
    G.pg = th_pg_start();
    ep = th_strf("AWS_ENDPOINT_URL=http://127.0.0.1:%d", th_proxy_port(G.proxy));
    {
        const char *env[] = {ep, "AWS_ACCESS_KEY_ID=S3RVER", "AWS_SECRET_ACCESS_KEY=S3RVER",
                             "AWS_REGION=us-east-1", NULL};

        G.srv = th_ingestd_start(th_pg_url(G.pg), env);
    }
    free(ep);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.srv);
    th_proxy_free(G.proxy);
    th_pg_free(G.pg);
    s3_client_free(G.s3);
    th_s3rver_free();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inventory_csv),
        cmocka_unit_test(test_inventory_parquet),
        cmocka_unit_test(test_import_export),
        cmocka_unit_test(test_webhook_hang),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
