/*
 * test_status_page.c - GET / (status page) and GET /docs (API reference) in a real browser
 *
 * PostgreSQL and the ingestd binary start as in every integration test; a few
 * events are uploaded and merged, S3 events posted and two inventory jobs
 * written into the database (one with markup in its bucket, key and error),
 * then Debian's headless Chromium loads both pages.
 *
 * How the browser is driven, and why: harness_browser.c runs
 * `chromium --headless --remote-debugging-pipe` and speaks the DevTools
 * protocol over that pipe (JSON + NUL on fds 3/4; no port, no npm package).
 * `--dump-dom` alone shows the DOM but nothing of the console, and with
 * `--enable-logging=stderr` Chromium logs console calls without their level
 * and neither failed resource loads nor Content-Security-Policy refusals
 * (those exist only as DevTools events). Over the protocol every one of them
 * is an event: console API calls, uncaught exceptions, log entries (warning
 * and error: CSP, failed loads), failed requests and HTTP errors are
 * collected as "problems" while the page loads and for 300 ms after its load
 * event, and the DOM is read after the load with Runtime.evaluate. The first
 * test shows that each kind of problem is caught, so an empty list means
 * something. A missing chromium fails the tests (./dev.sh test installs it).
 *
 * "The same numbers the API shows": generation (repos.csv ETag and GET
 * /api/v1/repos), rows (GET /api/v1/repos), pending (GET /api/v1/events?
 * status=pending), every merge's counts and duration (GET /api/v1/merges),
 * each job's files and records (GET /api/v1/s3/inventories/{id}) and the
 * catalog counts (GET /api/v1/s3/objects/count) are compared with the
 * data-value attributes of the rendered page, and the visible text is
 * checked for the same figures.
 *
 * TEST_SCREENSHOT_DIR=<dir> also writes status.png and docs.png there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_browser.h"
#include "server/router.h"
#include "storage/db.h"
#include "storage/status_store.h"

#define HOSTILE_BUCKET "evil<b>bucket"
#define HOSTILE_KEY "k/\"<script>alert(1)</script>&amp;"
#define HOSTILE_ERROR "S3 said <i>no</i> & <img src=x onerror=alert(2)>"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    struct th_browser *browser;
} G;

static const char *
B(void)
{
    return th_ingestd_base(G.srv);
}

static void
want_status(const struct th_resp *r, long status, const char *what)
{
    if (r->status != status)
        fail_msg("%s: status %ld, want %ld\n  body: %.800s", what, r->status, status,
                 r->body ? r->body : "");
}

/* GET base+path as JSON (200 required). */
static json_t *
get_json(const char *path)
{
    struct th_resp r = th_get(B(), path, NULL);
    json_t *j;

    want_status(&r, 200, path);
    j = th_resp_json(&r);
    th_resp_release(&r);
    return j;
}

static void
post_csv(const char *csv)
{
    struct th_resp r = th_post_csv(B(), "/api/v1/events", csv, NULL);

    want_status(&r, 201, "upload");
    th_resp_release(&r);
}

static void
merge(void)
{
    struct th_resp r = th_request("POST", B(), "/api/v1/merges", NULL, NULL, 0);

    want_status(&r, 200, "merge");
    th_resp_release(&r);
}

/* A page load that must show no problem. */
static void
load_clean(const char *path, struct th_page *page)
{
    char *url = th_strf("%s%s", B(), path);
    size_t i;
    json_t *u;

    th_browser_load(G.browser, url, page);
    if (json_array_size(page->problems)) {
        char *text = th_page_problems_text(page);

        fail_msg("%s: the browser reported problems:\n%s", path, text);
    }
    assert_int_equal(page->status, 200);
    /* the document and nothing from anywhere else (the icon is a data: URL) */
    json_array_foreach(page->requests, i, u)
    {
        const char *s = json_string_value(u);

        if (strncmp(s, B(), strlen(B())) != 0 && strncmp(s, "data:", 5) != 0)
            fail_msg("%s requested %s", path, s);
    }
    free(url);
}

static void
screenshot(const char *name)
{
    const char *dir = getenv("TEST_SCREENSHOT_DIR");
    char *path;

    if (!dir || !*dir)
        return;
    path = th_strf("%s/%s", dir, name);
    th_browser_screenshot(G.browser, path);
    free(path);
}

/* The integer in data-value of the element with that id. */
static long long
page_figure(const char *id)
{
    char *expr = th_strf("document.getElementById('%s').dataset.value", id);
    char *v = th_browser_eval_str(G.browser, expr);
    long long n = strtoll(v, NULL, 10);

    free(expr);
    free(v);
    return n;
}

static char *
page_text(const char *selector)
{
    char *expr = th_strf("document.querySelector('%s').textContent", selector);
    char *v = th_browser_eval_str(G.browser, expr);

    free(expr);
    return v;
}

/* ---- setup ---------------------------------------------------------------- */

static int
setup(void **state)
{
    (void)state;
    G.pg = th_pg_start();
    G.srv = th_ingestd_start(th_pg_url(G.pg), NULL);
    G.browser = th_browser_start();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    th_browser_free(G.browser);
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    return 0;
}

/* Two merges, two pending events, three catalog records, two inventory jobs. */
static void
make_state(char **failed_job, char **inline_job)
{
    struct th_resp r;
    PGresult *res;

    post_csv("origin,path,branch,changeset,publishUri\n"
             "github.com,org/a,main,c1,https://a/1.jar\n"
             "github.com,org/b,main,c2,https://a/2.jar\n");
    merge();
    post_csv("origin,path,branch,changeset,publishUri\n"
             "github.com,org/a,main,c1b,https://a/1b.jar\n"
             "github.com,org/c,main,c3,https://a/3.jar\n"
             "github.com,org/d,main,,https://a/4.jar\n");
    merge();
    post_csv("origin,path,branch,changeset,publishUri\ngithub.com,org/e,main,c5,https://a/5\n");
    post_csv("origin,path,branch,changeset,publishUri\ngithub.com,org/f,main,c6,https://a/6\n");

    r = th_post_json(B(), "/api/v1/s3/events",
                     "{\"Records\":["
                     "{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":"
                     "\"ObjectCreated:Put\",\"eventTime\":\"2026-11-21T10:15:30.123Z\","
                     "\"s3\":{\"bucket\":{\"name\":\"b1\"},\"object\":{\"key\":\"x/1\",\"size\":1,"
                     "\"sequencer\":\"0A\"}}},"
                     "{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":"
                     "\"ObjectCreated:Put\",\"eventTime\":\"2026-11-21T10:15:31.123Z\","
                     "\"s3\":{\"bucket\":{\"name\":\"b1\"},\"object\":{\"key\":\"x/1\",\"size\":2,"
                     "\"sequencer\":\"0B\"}}},"
                     "{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":"
                     "\"ObjectCreated:Put\",\"eventTime\":\"2026-11-21T10:15:32.123Z\","
                     "\"s3\":{\"bucket\":{\"name\":\"b1\"},\"object\":{\"key\":\"x/2\",\"size\":3,"
                     "\"sequencer\":\"0C\"}}}]}",
                     NULL);
    want_status(&r, 200, "s3 events");
    th_resp_release(&r);

    /* finished jobs (a queued or running one would be claimed by the runner) */
    res = th_pg_exec(G.pg, "INSERT INTO inventory_jobs (id, identity, status, bucket, key, format, "
                           "files_total, files_done, records, bytes, error, started_at, "
                           "finished_at, created_at) VALUES "
                           "(gen_random_uuid(), 'hostile', 'failed', '" HOSTILE_BUCKET
                           "', '" HOSTILE_KEY "', 'CSV', 4, 3, 1234567, 987654321, '" HOSTILE_ERROR
                           "', now(), now(), now() - interval '1 minute'), "
                           "(gen_random_uuid(), 'inline', 'succeeded', NULL, NULL, 'CSV', 5, 5, "
                           "5000000, 330000000, NULL, now(), now(), now()) RETURNING id");
    assert_int_equal(PQntuples(res), 2);
    *failed_job = strdup(PQgetvalue(res, 0, 0));
    *inline_job = strdup(PQgetvalue(res, 1, 0));
    PQclear(res);
}

/* ---- the tests -------------------------------------------------------------- */

/* The problem check can fail: each kind of problem is reported. */
static void
test_browser_reports_problems(void **state)
{
    struct th_page page;
    char *url;
    char *text;

    (void)state;
    th_browser_load(G.browser,
                    "data:text/html,<title>t</title><script>console.error('boom');"
                    "console.log('chatty');no_such_function()</script>",
                    &page);
    text = th_page_problems_text(&page);
    if (!strstr(text, "console.error: boom") || !strstr(text, "console.log: chatty") ||
        !strstr(text, "uncaught exception") || !strstr(text, "no_such_function"))
        fail_msg("console problems not all reported:\n%s", text);
    free(text);
    th_page_release(&page);

    url = th_strf("data:text/html,<title>t</title><img%%20src=\"%s/no-such-image.png\">", B());
    th_browser_load(G.browser, url, &page);
    text = th_page_problems_text(&page);
    /* blocked (a data: page may not load from loopback) or a 404: a failed load either way */
    if (!strstr(text, "no-such-image.png") || !strstr(text, "loading failed"))
        fail_msg("a failed image load was not reported:\n%s", text);
    free(text);
    free(url);
    th_page_release(&page);

    url = th_strf("%s/no-such-page", B());
    th_browser_load(G.browser, url, &page);
    assert_int_equal(page.status, 404);
    assert_true(json_array_size(page.problems) > 0);
    free(url);
    th_page_release(&page);
}

static void
check_merges(void)
{
    static const char *const keys[] = {"events",     "rows",        "added",
                                       "updated",    "unchanged",   "skipped",
                                       "generation", "duration_ms", NULL};
    json_t *api = get_json("/api/v1/merges?limit=10");
    json_t *rows = th_browser_eval(
        G.browser, "Array.from(document.querySelectorAll('tr[data-merge]')).map(tr => "
                   "Object.assign({id: tr.dataset.merge}, Object.fromEntries(Array.from("
                   "tr.querySelectorAll('[data-k]')).map(td => [td.dataset.k, "
                   "Number(td.dataset.value)]))))");
    json_t *items = json_object_get(api, "items");
    size_t i;
    size_t k;

    assert_int_equal(json_array_size(items), 2);
    assert_int_equal(json_array_size(rows), json_array_size(items));
    for (i = 0; i < json_array_size(items); i++) {
        json_t *want = json_array_get(items, i);
        json_t *got = json_array_get(rows, i); /* same order: newest first */

        assert_string_equal(th_jstr(got, "id"), th_jstr(want, "id"));
        for (k = 0; keys[k]; k++) {
            json_t *g = json_object_get(got, keys[k]);

            if (!g || json_number_value(g) != (double)th_jint(want, keys[k]))
                fail_msg("merge %s: %s on the page %g, in the API %lld", th_jstr(want, "id"),
                         keys[k], json_number_value(g), (long long)th_jint(want, keys[k]));
        }
    }
    json_decref(rows);
    json_decref(api);
}

static void
check_job(const char *id, int hostile)
{
    char *path = th_strf("/api/v1/s3/inventories/%s", id);
    json_t *api = get_json(path);
    char *expr = th_strf("(() => { const tr = document.querySelector('tr[data-job=\"%s\"]'); "
                         "const bar = tr.querySelector('svg.bar'); return {"
                         "done: Number(bar.dataset.done), total: Number(bar.dataset.total), "
                         "fill: Number(bar.querySelector('rect.fill').getAttribute('width')), "
                         "width: Number(bar.getAttribute('width')), "
                         "records: Number(tr.querySelector('[data-k=records]').dataset.value), "
                         "files: tr.querySelector('[data-k=files]').textContent, "
                         "src: tr.querySelector('.src').textContent, "
                         "err: tr.querySelector('.err').textContent, "
                         "elements: tr.querySelectorAll('script, b, i, img').length}; })()",
                         id);
    json_t *got = th_browser_eval(G.browser, expr);
    long long done = th_jint(api, "files_done");
    long long total = th_jint(api, "files_total");
    char *files = th_strf("%lld / %lld files", done, total);

    assert_int_equal(th_jint(got, "done"), done);
    assert_int_equal(th_jint(got, "total"), total);
    assert_int_equal(th_jint(got, "records"), th_jint(api, "records"));
    assert_int_equal(th_jint(got, "fill"), th_jint(got, "width") * done / total);
    assert_string_equal(th_jstr(got, "files"), files);
    if (hostile) {
        /* markup from the data is text, not elements */
        assert_string_equal(th_jstr(got, "src"), "s3://" HOSTILE_BUCKET "/" HOSTILE_KEY);
        assert_string_equal(th_jstr(got, "err"), HOSTILE_ERROR);
        assert_string_equal(th_jstr(got, "err"), th_jstr(api, "error"));
        assert_int_equal(th_jint(got, "elements"), 0);
    } else {
        assert_string_equal(th_jstr(got, "src"), "inline manifest");
    }
    free(files);
    json_decref(got);
    json_decref(api);
    free(expr);
    free(path);
}

static void
check_catalog(void)
{
    json_t *all = get_json("/api/v1/s3/objects/count?currentState=false");
    json_t *cur = get_json("/api/v1/s3/objects/count");
    char *text;

    assert_int_equal(page_figure("objects-total"), th_jint(all, "nRecords"));
    assert_int_equal(page_figure("objects-current"), th_jint(cur, "nRecords"));
    assert_int_equal(th_jint(all, "nRecords"), 3);
    assert_int_equal(th_jint(cur, "nRecords"), 2);
    text =
        th_browser_eval_str(G.browser, "document.getElementById('objects-total').dataset.estimate");
    assert_string_equal(text, "false"); /* a small catalog is counted exactly */
    free(text);
    json_decref(all);
    json_decref(cur);
}

static void
test_status_page(void **state)
{
    struct th_page page;
    struct th_resp r;
    json_t *repos;
    json_t *pending;
    char *failed_job = NULL;
    char *inline_job = NULL;
    char *etag;
    char *text;

    (void)state;
    make_state(&failed_job, &inline_job);

    r = th_get(B(), "/api/v1/repos.csv", NULL);
    want_status(&r, 200, "repos.csv");
    etag = th_resp_header(&r, "ETag");
    th_resp_release(&r);
    repos = get_json("/api/v1/repos?limit=1000");
    pending = get_json("/api/v1/events?status=pending&limit=1000");

    load_clean("/", &page);
    screenshot("status.png");

    /* the effective file: generation as in the ETag and the JSON, its rows */
    text = th_strf("\"%lld\"", page_figure("generation"));
    assert_string_equal(text, etag);
    free(text);
    assert_int_equal(page_figure("generation"), th_jint(repos, "generation"));
    assert_int_equal(page_figure("rows"), json_array_size(json_object_get(repos, "items")));
    assert_int_equal(page_figure("rows"), 3);
    assert_int_equal(page_figure("pending"), json_array_size(json_object_get(pending, "items")));
    assert_int_equal(page_figure("pending"), 2);
    text = page_text("#pending");
    assert_string_equal(text, "2");
    free(text);

    check_merges();
    check_job(failed_job, 1);
    check_job(inline_job, 0);
    check_catalog();

    text = page_text("#auth");
    assert_string_equal(text, "off");
    free(text);
    text = page_text("#version");
    assert_string_equal(text, INGESTD_VERSION);
    free(text);
    text = th_browser_eval_str(G.browser,
                               "document.querySelector('meta[http-equiv=refresh]').content");
    assert_string_equal(text, "10");
    free(text);
    /* one script: the live feed panel's, inline, allowed by its hash */
    text = th_browser_eval_str(G.browser, "String(document.querySelectorAll('script').length)");
    assert_string_equal(text, "1");
    free(text);

    th_page_release(&page);
    json_decref(repos);
    json_decref(pending);
    free(etag);
    free(failed_job);
    free(inline_job);
}

/*
 * A catalog over the exact-count size gets the planner's estimates: with the
 * threshold at 0 bytes and fresh statistics they are the true counts.
 */
/* Evaluate expr every 100 ms until it yields want (a string), up to timeout_ms. */
static void
wait_eval(const char *expr, const char *want, long timeout_ms)
{
    long deadline = th_now_ms() + timeout_ms;
    char *v = NULL;

    for (;;) {
        free(v);
        v = th_browser_eval_str(G.browser, expr);
        if (strcmp(v, want) == 0 || th_now_ms() > deadline)
            break;
        th_sleep_ms(100);
    }
    if (strcmp(v, want) != 0)
        fail_msg("%s: \"%s\", want \"%s\"", expr, v, want);
    free(v);
}

/*
 * The live feed panel: once the page's stream is open, an upload's
 * event.accepted appears at the top of the list, without a reload (a mark
 * set on the window survives), and the Content-Security-Policy still
 * refuses any other script.
 */
static void
test_live_feed_panel(void **state)
{
    struct th_page page;
    struct th_resp r;
    json_t *ev;
    char *want, *csp;

    (void)state;
    load_clean("/", &page);
    wait_eval("document.getElementById('feed-state').textContent", "live", 10000);
    json_decref(th_browser_eval(G.browser, "window.liveMark = 'same page', 1"));
    r = th_post_csv(B(), "/api/v1/events",
                    "origin,path,branch,cloneUrl,changeset,publishUri\n"
                    "https://live.example/r.git,r,main,u,c1,https://p/r\n",
                    NULL);
    want_status(&r, 201, "upload");
    ev = th_resp_json(&r);
    want = th_strf("io.ingestd.event.accepted %s", th_jstr(ev, "id"));
    wait_eval("(function(){var li=document.querySelector('#feed-list li.change');"
              "return li ? li.dataset.type + ' ' + li.textContent.split(' ')[1] : 'none';})()",
              want, 5000);
    wait_eval("String(window.liveMark)", "same page", 0);
    th_resp_release(&r);
    r = th_get(B(), "/", NULL);
    csp = th_resp_header(&r, "Content-Security-Policy");
    assert_non_null(strstr(csp, "script-src 'sha256-"));
    assert_non_null(strstr(csp, "connect-src 'self'"));
    assert_null(strstr(csp, "script-src 'unsafe"));
    free(csp);
    th_resp_release(&r);
    json_decref(ev);
    free(want);
    th_page_release(&page);
}

/*
 * Auth on: the panel asks for a token instead of streaming; once given,
 * it streams with the token in the Authorization header only (no request
 * URL holds it), and an upload shows up.
 */
static void
test_live_feed_panel_with_auth(void **state)
{
    static const char *const env[] = {
        "INGESTD_API_TOKENS=read:live-feed-read-token-1,write:live-feed-write-token-2", NULL};
    struct th_ingestd *srv = th_ingestd_start(th_pg_url(G.pg), env);
    struct th_page page;
    struct th_resp r;
    char *url = th_strf("%s/", th_ingestd_base(srv));
    char *want;
    json_t *ev, *reqs;
    size_t i;

    (void)state;
    th_browser_load(G.browser, url, &page);
    assert_int_equal(page.status, 200);
    wait_eval("document.getElementById('feed-state').textContent", "needs a token with scope read",
              10000);
    wait_eval("String(document.getElementById('feed-auth').hidden)", "false", 0);
    json_decref(th_browser_eval(G.browser, "document.getElementById('feed-token').value = "
                                           "'live-feed-read-token-1', "
                                           "document.getElementById('feed-go').click(), 1"));
    wait_eval("document.getElementById('feed-state').textContent", "live", 10000);
    r = th_post_csv(th_ingestd_base(srv), "/api/v1/events",
                    "origin,path,branch,cloneUrl,changeset,publishUri\n"
                    "https://live.example/a.git,a,main,u,c1,https://p/a\n",
                    (const char *[]){"Authorization: Bearer live-feed-write-token-2", NULL});
    want_status(&r, 201, "upload");
    ev = th_resp_json(&r);
    want = th_strf("io.ingestd.event.accepted %s", th_jstr(ev, "id"));
    wait_eval("(function(){var li=document.querySelector('#feed-list li.change');"
              "return li ? li.dataset.type + ' ' + li.textContent.split(' ')[1] : 'none';})()",
              want, 5000);
    reqs = th_browser_eval(G.browser, "performance.getEntriesByType('resource').map("
                                      "function(e){return e.name;}).concat([location.href])");
    for (i = 0; i < json_array_size(reqs); i++)
        assert_null(strstr(json_string_value(json_array_get(reqs, i)), "live-feed"));
    json_decref(reqs);
    json_decref(th_browser_eval(G.browser, "sessionStorage.clear(), 1"));
    json_decref(ev);
    th_resp_release(&r);
    free(want);
    free(url);
    th_page_release(&page);
    th_ingestd_free(srv);
}

static void
test_snapshot_estimates(void **state)
{
    struct db *db = db_new(th_pg_url(G.pg));
    json_t *snap = NULL;
    json_t *objects;
    char errbuf[ERRBUF_SIZE] = "";
    PGresult *res;
    enum err rc;

    (void)state;
    res = th_pg_exec(G.pg, "ANALYZE s3_objects");
    PQclear(res);
    rc = status_store_snapshot(db, 0, &snap, errbuf, sizeof(errbuf));
    if (rc)
        fail_msg("status_store_snapshot: %s", errbuf);
    objects = json_object_get(snap, "objects");
    assert_true(json_is_true(json_object_get(objects, "estimate")));
    assert_true(th_jint(objects, "bytes") > 0);
    assert_int_equal(th_jint(objects, "total"), 3);
    assert_int_equal(th_jint(objects, "current"), 2);
    json_decref(snap);

    rc = status_store_snapshot(db, STATUS_EXACT_MAX_BYTES, &snap, errbuf, sizeof(errbuf));
    if (rc)
        fail_msg("status_store_snapshot: %s", errbuf);
    objects = json_object_get(snap, "objects");
    assert_true(json_is_false(json_object_get(objects, "estimate")));
    assert_int_equal(th_jint(objects, "total"), 3);
    assert_int_equal(th_jint(snap, "pending"), 2);
    assert_int_equal(json_array_size(json_object_get(snap, "merges")), 2);
    assert_int_equal(json_array_size(json_object_get(snap, "jobs")), 2);
    json_decref(snap);
    db_free(db);
}

/* HEAD, headers, and the page while the database is away. */
static void
test_status_headers_and_outage(void **state)
{
    struct th_resp r;
    char *v;
    int i;

    (void)state;
    r = th_request("HEAD", B(), "/", NULL, NULL, 0);
    want_status(&r, 200, "HEAD /");
    assert_int_equal(r.len, 0);
    v = th_resp_header(&r, "Content-Type");
    assert_string_equal(v, "text/html; charset=utf-8");
    free(v);
    v = th_resp_header(&r, "Content-Security-Policy");
    assert_non_null(v);
    assert_non_null(strstr(v, "default-src 'none'"));
    free(v);
    v = th_resp_header(&r, "Cache-Control");
    assert_string_equal(v, "no-store");
    free(v);
    th_resp_release(&r);

    r = th_request("POST", B(), "/", NULL, NULL, 0);
    want_status(&r, 405, "POST /");
    v = th_resp_header(&r, "Allow");
    assert_string_equal(v, "GET, HEAD");
    free(v);
    th_resp_release(&r);

    th_pg_stop(G.pg);
    r = th_get(B(), "/", NULL);
    want_status(&r, 503, "GET / without a database");
    v = th_resp_header(&r, "Retry-After");
    assert_string_equal(v, "2");
    free(v);
    assert_non_null(strstr(r.body, "id=\"unavailable\""));
    assert_non_null(strstr(r.body, "http-equiv=\"refresh\""));
    th_resp_release(&r);
    th_pg_restart(G.pg);
    for (i = 0; i < 100; i++) { /* the worker reconnects on its next request */
        r = th_get(B(), "/", NULL);
        if (r.status == 200)
            break;
        th_resp_release(&r);
        th_sleep_ms(100);
    }
    want_status(&r, 200, "GET / after the database came back");
    th_resp_release(&r);
}

static int
json_has_string(json_t *array, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

static void
check_docs_operations(void)
{
    json_t *ops = th_browser_eval(G.browser,
                                  "Array.from(document.querySelectorAll('article.op h3')).map(h => "
                                  "h.querySelector('.m').textContent + ' ' + "
                                  "h.querySelector('.path').textContent)");
    static const char *const pages[] = {"HEAD /", "HEAD /docs", NULL};
    json_t *broken;
    size_t i;

    /* every route of the server, and HEAD of the two pages */
    for (i = 0; i < app_routes_count; i++) {
        char *want = th_strf("%s %s", app_routes[i].method, app_routes[i].pattern);

        if (!json_has_string(ops, want))
            fail_msg("/docs does not describe %s", want);
        free(want);
    }
    for (i = 0; pages[i]; i++)
        if (!json_has_string(ops, pages[i]))
            fail_msg("/docs does not describe %s", pages[i]);
    /* every in-page link has its target (schema names, operations, tags) */
    broken = th_browser_eval(G.browser, "Array.from(document.querySelectorAll('a[href^=\"#\"]'))"
                                        ".map(a => a.getAttribute('href').slice(1))"
                                        ".filter(id => !document.getElementById(id))");
    if (json_array_size(broken)) {
        char *d = json_dumps(broken, JSON_COMPACT);

        fail_msg("/docs links to missing anchors: %s", d);
    }
    json_decref(broken);
    json_decref(ops);
}

static void
test_docs(void **state)
{
    struct th_page page;
    struct th_resp r;
    char *etag;
    char *v;
    char *inm;
    const char *h[2] = {NULL, NULL};

    (void)state;
    load_clean("/docs", &page);
    screenshot("docs.png");
    v = th_browser_eval_str(G.browser, "document.title");
    assert_string_equal(v, "ingestd API reference");
    free(v);
    v = th_browser_eval_str(G.browser, "document.getElementById('schema-Event') ? 'yes' : 'no'");
    assert_string_equal(v, "yes");
    free(v);
    v = th_browser_eval_str(G.browser, "String(document.querySelectorAll('script').length)");
    assert_string_equal(v, "0");
    free(v);
    check_docs_operations();
    th_page_release(&page);

    /* ETag, 304, HEAD */
    r = th_get(B(), "/docs", NULL);
    want_status(&r, 200, "GET /docs");
    etag = th_resp_header(&r, "ETag");
    assert_non_null(etag);
    assert_int_equal(strlen(etag), 34);
    assert_non_null(strstr(r.body, "<h1>ingestd"));
    th_resp_release(&r);
    inm = th_strf("If-None-Match: W/\"0\", %s", etag);
    h[0] = inm;
    r = th_get(B(), "/docs", h);
    want_status(&r, 304, "GET /docs If-None-Match");
    assert_int_equal(r.len, 0);
    v = th_resp_header(&r, "ETag");
    assert_string_equal(v, etag);
    free(v);
    th_resp_release(&r);
    r = th_request("HEAD", B(), "/docs", NULL, NULL, 0);
    want_status(&r, 200, "HEAD /docs");
    v = th_resp_header(&r, "ETag");
    assert_string_equal(v, etag);
    free(v);
    th_resp_release(&r);
    free(inm);
    free(etag);
}

/* ingestd stops cleanly (under the sanitizers: without a leak) after serving the pages. */
static void
test_clean_exit(void **state)
{
    (void)state;
    assert_int_equal(th_ingestd_term(G.srv), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_browser_reports_problems),
        cmocka_unit_test(test_status_page),
        cmocka_unit_test(test_docs),
        cmocka_unit_test(test_snapshot_estimates),
        cmocka_unit_test(test_status_headers_and_outage),
        cmocka_unit_test(test_live_feed_panel),
        cmocka_unit_test(test_live_feed_panel_with_auth),
        cmocka_unit_test(test_clean_exit),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
