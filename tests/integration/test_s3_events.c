/*
 * test_s3_events.c - the S3 object catalog end to end (S3.md, API.md "S3 object catalog")
 *
 * One PostgreSQL and one ingestd for the whole file. Records are never
 * deleted, so every case works on a bucket or key of its own. Every request
 * goes over one kept-alive libcurl handle (the harness opens a connection per
 * request, which would make the 720 arrival orders slow).
 *
 * Record states are compared as summaries, one token per record in list order
 * (bucket, key, sequencer, s3ObjectId):
 *     [<key>=]<T>[@<versionId>]:<sequencer>#<numberDuplicateEvents>[*]
 * T is C (Created), R (Created, reason Restored), D (Deleted), M (delete
 * marker); "@<versionId>" is left out for "null"; "*" marks isCurrentState.
 * Batch specs use the same tokens without "#"/"*", separated by spaces; a
 * token without ":<sequencer>" is an event without a sequencer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "core/buf.h"
#include "harness.h"

#define EV_PATH "/api/v1/s3/events"
#define OBJ_PATH "/api/v1/s3/objects"
#define EVENT_TIME "2026-11-21T10:15:30.123Z"
#define SCN "scenarios" /* bucket of the scenario table */

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    CURL *h;       /* kept-alive connection for every request */
    char host[64]; /* "127.0.0.1:PORT", the Host header libcurl sends */
    int http10;    /* next request: HTTP/1.0 without a Host header */
} G;

/* ---- small helpers ------------------------------------------------------- */

/* Percent-encode s for a URL query (every byte but A-Z a-z 0-9 - . _ ~); caller frees. */
static char *
enc(const char *s)
{
    char *e = curl_easy_escape(G.h, s, 0);
    char *out = xstrdup(e);

    curl_free(e);
    return out;
}

/* Fail unless `got` equals the JSON text `expected`. */
static void
want_json(json_t *got, const char *expected, const char *what)
{
    json_error_t jerr;
    json_t *want = json_loads(expected, 0, &jerr);
    char *g;

    if (!want)
        fail_msg("bad expected JSON %s: %s", expected, jerr.text);
    if (!json_equal(got, want)) {
        g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        fail_msg("%s: JSON\n  %s\nwant\n  %s", what, g, expected);
    }
    json_decref(want);
}

/* ---- HTTP over one kept-alive connection ------------------------------------ */

struct reply {
    long status;
    char *body;
    size_t len;
    struct buf hdr;
};

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;

    if (size * n >= 5 && !strncmp(p, "HTTP/", 5))
        buf_reset(b);
    buf_append(b, p, size * n);
    return size * n;
}

static void
reply_release(struct reply *r)
{
    free(r->body);
    buf_release(&r->hdr);
    memset(r, 0, sizeof(*r));
}

/*
 * method path; `headers` NULL-terminated (may be NULL). For a POST, `body`
 * (len bytes) is sent; libcurl's default Content-Type is suppressed, so give
 * one in headers when wanted.
 */
static struct reply
http(const char *method, const char *path, const char *const *headers, const char *body, size_t len)
{
    struct curl_slist *list = NULL;
    struct reply r;
    struct buf b;
    char *url = th_strf("%s%s", th_ingestd_base(G.srv), path);
    int has_ct = 0;
    CURLcode cc;

    memset(&r, 0, sizeof(r));
    buf_init(&b, 0);
    buf_init(&r.hdr, 0);
    curl_easy_reset(G.h);
    for (; headers && *headers; headers++) {
        list = curl_slist_append(list, *headers);
        if (!strncasecmp(*headers, "Content-Type:", 13))
            has_ct = 1;
    }
    list = curl_slist_append(list, "Expect:");
    if (!has_ct)
        list = curl_slist_append(list, "Content-Type:");
    if (G.http10) {
        list = curl_slist_append(list, "Host:");
        curl_easy_setopt(G.h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_0);
        G.http10 = 0;
    }
    curl_easy_setopt(G.h, CURLOPT_URL, url);
    curl_easy_setopt(G.h, CURLOPT_PROXY, "");
    curl_easy_setopt(G.h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(G.h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(G.h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(G.h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(G.h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(G.h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(G.h, CURLOPT_HEADERDATA, &r.hdr);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(G.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(G.h, CURLOPT_POSTFIELDS, body ? body : "");
    } else if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(G.h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(G.h, CURLOPT_CUSTOMREQUEST, method);
    }
    cc = curl_easy_perform(G.h);
    if (cc != CURLE_OK)
        fail_msg("%s %s: %s", method, url, curl_easy_strerror(cc));
    curl_easy_getinfo(G.h, CURLINFO_RESPONSE_CODE, &r.status);
    buf_append(&b, "", 0);
    buf_append(&r.hdr, "", 0);
    r.body = buf_take(&b, &r.len);
    curl_slist_free_all(list);
    free(url);
    return r;
}

static struct reply
get(const char *path)
{
    return http("GET", path, NULL, NULL, 0);
}

static struct reply
post_json(const char *body)
{
    const char *h[] = {"Content-Type: application/json", NULL};

    return http("POST", EV_PATH, h, body, strlen(body));
}

static json_t *
reply_json(const struct reply *r)
{
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->len, 0, &jerr);

    if (!j)
        fail_msg("response (status %ld) is not JSON: %s\n  %.300s", r->status, jerr.text, r->body);
    return j;
}

static void
want_status(const struct reply *r, long status, const char *what)
{
    if (r->status != status)
        fail_msg("%s: status %ld, want %ld\n  body: %.800s", what, r->status, status, r->body);
}

/* Value of header `name` of the last response (trimmed, malloc'd) or NULL. */
static char *
reply_header(const struct reply *r, const char *name)
{
    struct th_resp t;

    memset(&t, 0, sizeof(t));
    t.headers = r->hdr.data;
    return th_resp_header(&t, name);
}

/* A problem+json answer with `status` whose detail contains `needle` (NULL: any). */
static void
want_problem(const struct reply *r, long status, const char *needle, const char *what)
{
    char *ct;
    json_t *j;

    want_status(r, status, what);
    ct = reply_header(r, "Content-Type");
    if (!ct || strncmp(ct, "application/problem+json", 24) != 0)
        fail_msg("%s: Content-Type %s, want application/problem+json", what, ct ? ct : "(none)");
    free(ct);
    j = reply_json(r);
    if (th_jint(j, "status") != status)
        fail_msg("%s: problem status %lld", what, (long long)th_jint(j, "status"));
    (void)th_jstr(j, "title");
    (void)th_jstr(j, "type");
    if (needle && !strstr(th_jstr(j, "detail"), needle))
        fail_msg("%s: detail \"%s\" does not contain \"%s\"", what, th_jstr(j, "detail"), needle);
    json_decref(j);
}

/* POST body; want 200 and the counts (exact object). */
static void
ingest(const char *body, int records, int ingested, int duplicates, int ignored, const char *what)
{
    struct reply r = post_json(body);
    char *want;
    json_t *j;

    want_status(&r, 200, what);
    j = reply_json(&r);
    want = th_strf("{\"records\":%d,\"ingested\":%d,\"duplicates\":%d,\"ignored\":%d}", records,
                   ingested, duplicates, ignored);
    want_json(j, want, what);
    free(want);
    json_decref(j);
    reply_release(&r);
}

/* ---- building events ------------------------------------------------------- */

/*
 * An S3 notification record: key as sent (not encoded here), version id and
 * sequencer left out when NULL, size/eTag only when size >= 0.
 */
static json_t *
nrec(const char *name, const char *bucket, const char *key, const char *ver, const char *seq,
     json_int_t size)
{
    json_t *obj = json_pack("{s:s}", "key", key);

    if (size >= 0) {
        json_object_set_new(obj, "size", json_integer(size));
        json_object_set_new(obj, "eTag", json_string("d41d8cd98f00b204e9800998ecf8427e"));
    }
    if (ver)
        json_object_set_new(obj, "versionId", json_string(ver));
    if (seq)
        json_object_set_new(obj, "sequencer", json_string(seq));
    return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:{s:s},s:o}}", "eventVersion", "2.1", "eventSource",
                     "aws:s3", "eventName", name, "eventTime", EVENT_TIME, "s3", "s3SchemaVersion",
                     "1.0", "bucket", "name", bucket, "object", obj);
}

static char *
dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

    json_decref(j);
    return s;
}

/* {"Records":[...]} from a batch spec on bucket/key; *n gets the number of events. */
static char *
batch_json(const char *bucket, const char *key, const char *spec, int *n)
{
    json_t *records = json_array();
    const char *p = spec;

    *n = 0;
    while (*p) {
        char tok[300];
        size_t len = strcspn(p, " ");
        char *ver = NULL;
        char *seq = NULL;
        const char *name = NULL;
        char *c;

        assert_true(len > 0 && len < sizeof(tok));
        memcpy(tok, p, len);
        tok[len] = '\0';
        p += len;
        while (*p == ' ')
            p++;
        c = strchr(tok, ':');
        if (c) {
            *c = '\0';
            seq = c + 1;
        }
        c = strchr(tok, '@');
        if (c) {
            *c = '\0';
            ver = c + 1;
        }
        switch (tok[0]) {
        case 'C':
            name = "ObjectCreated:Put";
            break;
        case 'R':
            name = "ObjectRestore:Completed";
            break;
        case 'D':
            name = "ObjectRemoved:Delete";
            break;
        case 'M':
            name = "ObjectRemoved:DeleteMarkerCreated";
            break;
        default:
            fail_msg("bad spec token %s", tok);
        }
        json_array_append_new(
            records, nrec(name, bucket, key, ver, seq, tok[0] == 'C' || tok[0] == 'R' ? 5 : -1));
        (*n)++;
    }
    return dump(json_pack("{s:o}", "Records", records));
}

/* Post one batch spec; want 200 and records = events, ingested/duplicates when >= 0. */
static void
post_spec(const char *bucket, const char *key, const char *spec, int ingested, int duplicates)
{
    int n;
    char *body = batch_json(bucket, key, spec, &n);
    struct reply r = post_json(body);
    char *what = th_strf("POST %s/%s [%s]", bucket, key, spec);
    json_t *j;

    want_status(&r, 200, what);
    j = reply_json(&r);
    if (th_jint(j, "records") != n || th_jint(j, "ignored") != 0 ||
        th_jint(j, "ingested") + th_jint(j, "duplicates") != n ||
        (ingested >= 0 && th_jint(j, "ingested") != ingested) ||
        (duplicates >= 0 && th_jint(j, "duplicates") != duplicates))
        fail_msg("%s: counts %s (want %d records, ingested %d, duplicates %d)", what, r.body, n,
                 ingested, duplicates);
    json_decref(j);
    reply_release(&r);
    free(what);
    free(body);
}

/* ---- reading state ------------------------------------------------------- */

/* GET /api/v1/s3/objects?<query>; want 200; the whole body. */
static json_t *
list(const char *query)
{
    char *path = th_strf(OBJ_PATH "?%s", query);
    struct reply r = get(path);
    json_t *j;

    want_status(&r, 200, path);
    j = reply_json(&r);
    if (!json_is_array(json_object_get(j, "results")))
        fail_msg("%s: no results array", path);
    reply_release(&r);
    free(path);
    return j;
}

/* /count?<query> */
static json_int_t
count(const char *query)
{
    char *path = th_strf(OBJ_PATH "/count?%s", query);
    struct reply r = get(path);
    json_int_t n;
    json_t *j;

    want_status(&r, 200, path);
    j = reply_json(&r);
    if (json_object_size(j) != 1)
        fail_msg("%s: %s", path, r.body);
    n = th_jint(j, "nRecords");
    json_decref(j);
    reply_release(&r);
    free(path);
    return n;
}

static char *
summarize(json_t *results, int with_key)
{
    struct buf b;
    json_t *r;
    size_t i;

    buf_init(&b, 0);
    buf_append(&b, "", 0);
    json_array_foreach(results, i, r)
    {
        const char *et = th_jstr(r, "eventType");
        const char *ver = th_jstr(r, "versionId");
        json_t *seq = json_object_get(r, "sequencer");
        char t;

        if (!strcmp(et, "Created"))
            t = !strcmp(th_jstr(r, "reason"), "Restored") ? 'R' : 'C';
        else
            t = json_is_true(json_object_get(r, "isDeleteMarker")) ? 'M' : 'D';
        buf_printf(&b, "%s%s%s%c%s%s:%s#%lld%s", i ? " " : "", with_key ? th_jstr(r, "key") : "",
                   with_key ? "=" : "", t, strcmp(ver, "null") ? "@" : "",
                   strcmp(ver, "null") ? ver : "",
                   json_is_string(seq) ? json_string_value(seq) : "~",
                   (long long)th_jint(r, "numberDuplicateEvents"),
                   json_is_true(json_object_get(r, "isCurrentState")) ? "*" : "");
    }
    return buf_take(&b, NULL);
}

/* The summary of a list body's results must be `want`. */
static void
want_summary(json_t *l, const char *want)
{
    char *got = summarize(json_object_get(l, "results"), 0);

    if (strcmp(got, want) != 0)
        fail_msg("records\n  %s\nwant\n  %s", got, want);
    free(got);
}

/* The tokens of a summary that end in '*', space separated. */
static char *
starred(const char *summary)
{
    struct buf b;
    const char *p = summary;
    int first = 1;

    buf_init(&b, 0);
    buf_append(&b, "", 0);
    while (*p) {
        size_t len = strcspn(p, " ");

        if (len && p[len - 1] == '*') {
            buf_printf(&b, "%s%.*s", first ? "" : " ", (int)len, p);
            first = 0;
        }
        p += len;
        while (*p == ' ')
            p++;
    }
    return buf_take(&b, NULL);
}

/*
 * Every record of (bucket, key pattern) must summarise as `expected`; the
 * currentState=true list must hold exactly the starred ones, and /count must agree.
 */
static void
check_state_q(const char *bucket, const char *key, int with_key, const char *expected)
{
    char *eb = enc(bucket);
    char *ek = enc(key);
    char *q_all = th_strf("bucket=%s&key=%s&currentState=false&rowsPerPage=10000", eb, ek);
    char *q_cur = th_strf("bucket=%s&key=%s", eb, ek);
    json_t *all = list(q_all);
    json_t *cur = list(q_cur);
    char *s_all = summarize(json_object_get(all, "results"), with_key);
    char *s_cur = summarize(json_object_get(cur, "results"), with_key);
    char *want_cur = starred(expected);

    if (strcmp(s_all, expected) != 0)
        fail_msg("%s / %s: records\n  %s\nwant\n  %s", bucket, key, s_all, expected);
    if (strcmp(s_cur, want_cur) != 0)
        fail_msg("%s / %s: currentState=true lists\n  %s\nwant\n  %s", bucket, key, s_cur,
                 want_cur);
    if (th_jint(json_object_get(all, "pagination"), "count") !=
        (json_int_t)json_array_size(json_object_get(all, "results")))
        fail_msg("%s / %s: pagination.count %lld", bucket, key,
                 (long long)th_jint(json_object_get(all, "pagination"), "count"));
    free(s_all);
    free(s_cur);
    free(want_cur);
    json_decref(all);
    json_decref(cur);
    free(q_all);
    free(q_cur);
    free(eb);
    free(ek);
}

static void
check_state(const char *bucket, const char *key, const char *expected)
{
    check_state_q(bucket, key, 0, expected);
}

/* Next permutation in lexicographic order; 0 after the last. */
static int
next_perm(size_t *a, size_t n)
{
    size_t i;
    size_t j;
    size_t t;

    if (n < 2)
        return 0;
    i = n - 1;
    while (i > 0 && a[i - 1] >= a[i])
        i--;
    if (i == 0)
        return 0;
    j = n - 1;
    while (a[j] <= a[i - 1])
        j--;
    t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
    for (j = n - 1; i < j; i++, j--) {
        t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
    return 1;
}

/*
 * Post the batches in every arrival order, each order on a key of its own
 * (<name>/o<N>), and check the state after each. Returns the number of orders.
 */
static int
run_orders(const char *name, const char *const *batches, size_t nb, const char *expected)
{
    size_t idx[8];
    size_t i;
    int order = 0;

    assert_true(nb <= 8);
    for (i = 0; i < nb; i++)
        idx[i] = i;
    do {
        char *key = th_strf("%s/o%d", name, order);

        for (i = 0; i < nb; i++)
            post_spec(SCN, key, batches[idx[i]], -1, -1);
        check_state(SCN, key, expected);
        free(key);
        order++;
    } while (next_perm(idx, nb));
    return order;
}

/* ---- fixtures ------------------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    G.pg = th_pg_start();
    G.srv = th_ingestd_start(th_pg_url(G.pg), NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    G.h = curl_easy_init();
    snprintf(G.host, sizeof(G.host), "127.0.0.1:%d", th_ingestd_port(G.srv));
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    curl_easy_cleanup(G.h);
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    return 0;
}

/* ---- S3.md scenario table -------------------------------------------------- */

static void
test_scenario_table(void **state)
{
    static const char *const row1[] = {"C:E4"};
    static const char *const row2[] = {"C:E4 D:E6"};
    static const char *const row3[] = {"C:E4 D:E6", "C:E4 D:E6"};
    static const char *const row4[] = {"D:E6", "C:E4"};
    static const char *const row5[] = {"C:E6", "C:E7"};
    static const char *const row6[] = {"C:E7", "C:E4 D:E6"};
    int orders = 0;

    (void)state;
    orders += run_orders("row1", row1, 1, "C:E4#0*");
    orders += run_orders("row2", row2, 1, "C:E4#0 D:E6#0");
    orders += run_orders("row3", row3, 2, "C:E4#1 D:E6#1");
    orders += run_orders("row4", row4, 2, "C:E4#0 D:E6#0");
    orders += run_orders("row5", row5, 2, "C:E6#0 C:E7#0*");
    orders += run_orders("row6", row6, 2, "C:E4#0 D:E6#0 C:E7#0*");
    assert_int_equal(orders, 10);

    /* row 3 step by step: the second delivery counts duplicates, adds nothing */
    post_spec(SCN, "row3/steps", "C:E4 D:E6", 2, 0);
    post_spec(SCN, "row3/steps", "C:E4 D:E6", 0, 2);
    check_state(SCN, "row3/steps", "C:E4#1 D:E6#1");
}

static void
test_versioned_history(void **state)
{
    static const struct {
        const char *spec;
        const char *want;
    } steps[] = {
        {"C@v1:01", "C@v1:01#0*"},
        {"C@v2:02", "C@v1:01#0 C@v2:02#0*"},
        {"C@v3:03", "C@v1:01#0 C@v2:02#0 C@v3:03#0*"},
        {"D@v2:04", "C@v1:01#0 C@v2:02#0 C@v3:03#0* D@v2:04#0"},
        {"M@v4:05", "C@v1:01#0 C@v2:02#0 C@v3:03#0 D@v2:04#0 M@v4:05#0"},
        {"C@v5:06", "C@v1:01#0 C@v2:02#0 C@v3:03#0 D@v2:04#0 M@v4:05#0 C@v5:06#0*"},
        {"D@v5:07", "C@v1:01#0 C@v2:02#0 C@v3:03#0 D@v2:04#0 M@v4:05#0 C@v5:06#0 D@v5:07#0"},
        {"D@v4:08",
         "C@v1:01#0 C@v2:02#0 C@v3:03#0* D@v2:04#0 M@v4:05#0 C@v5:06#0 D@v5:07#0 D@v4:08#0"},
        {"D@v3:09", "C@v1:01#0* C@v2:02#0 C@v3:03#0 D@v2:04#0 M@v4:05#0 C@v5:06#0 D@v5:07#0 "
                    "D@v4:08#0 D@v3:09#0"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        post_spec("history", "obj", steps[i].spec, 1, 0);
        check_state("history", "obj", steps[i].want);
    }
}

/* C1, D2, D3, C4, C5 on `key` and C1 on `key1`: all 720 arrival orders, one event per request. */
static void
test_720_orders(void **state)
{
    static const struct {
        const char *key;
        const char *name;
        const char *seq;
    } ev[6] = {
        {"key", "ObjectCreated:Put", "0001"},    {"key", "ObjectRemoved:Delete", "0002"},
        {"key", "ObjectRemoved:Delete", "0003"}, {"key", "ObjectCreated:Put", "0004"},
        {"key", "ObjectCreated:Put", "0005"},    {"key1", "ObjectCreated:Put", "0001"},
    };
    static const char want_fmt[] =
        "o%03d/key=C:0001#0 o%03d/key=D:0002#0 o%03d/key=D:0003#0 o%03d/key=C:0004#0 "
        "o%03d/key=C:0005#0* o%03d/key1=C:0001#0*";
    size_t idx[6] = {0, 1, 2, 3, 4, 5};
    int order = 0;
    long t0 = th_now_ms();
    size_t i;

    (void)state;
    do {
        char prefix[16];
        char *q;
        char *want;
        char *got;
        json_t *l;

        snprintf(prefix, sizeof(prefix), "o%03d/", order);
        for (i = 0; i < 6; i++) {
            char *key = th_strf("%s%s", prefix, ev[idx[i]].key);
            char *body = dump(json_pack("{s:[o]}", "Records",
                                        nrec(ev[idx[i]].name, "perm720", key, NULL, ev[idx[i]].seq,
                                             ev[idx[i]].name[6] == 'C' ? 1 : -1)));
            struct reply r = post_json(body);

            if (r.status != 200 || !strstr(r.body, "\"ingested\":1"))
                fail_msg("order %d, event %zu: %ld %s", order, idx[i], r.status, r.body);
            reply_release(&r);
            free(body);
            free(key);
        }
        q = th_strf("bucket=perm720&key=o%03d%%2F%%2A&currentState=false", order);
        l = list(q);
        got = summarize(json_object_get(l, "results"), 1);
        want = th_strf(want_fmt, order, order, order, order, order, order);
        if (strcmp(got, want) != 0)
            fail_msg("order %d (%zu %zu %zu %zu %zu %zu):\n  %s\nwant\n  %s", order, idx[0], idx[1],
                     idx[2], idx[3], idx[4], idx[5], got, want);
        free(got);
        free(want);
        free(q);
        json_decref(l);
        order++;
    } while (next_perm(idx, 6));
    assert_int_equal(order, 720);
    /* every order: one current record per key */
    assert_int_equal(count("bucket=perm720"), 1440);
    assert_int_equal(count("bucket=perm720&currentState=false"), 4320);
    print_message("720 orders: %ld ms\n", th_now_ms() - t0);
}

/* ---- duplicates ------------------------------------------------------------ */

static void
test_duplicates(void **state)
{
    json_t *l;
    json_t *res;
    const char *id0;
    const char *id1;

    (void)state;
    /* within one batch, then across batches */
    post_spec("dups", "within", "C:E1 C:E1 C:E1", 1, 2);
    check_state("dups", "within", "C:E1#2*");
    post_spec("dups", "within", "C:E1", 0, 1);
    check_state("dups", "within", "C:E1#3*");

    /*
     * a repeat of the current record leaves it current (whichever of the
     * repeat's new id and the stored id sorts first: 24 keys)
     */
    for (int n = 0; n < 24; n++) {
        char key[32];

        snprintf(key, sizeof(key), "again%02d", n);
        post_spec("dups", key, "C:E1", 1, 0);
        post_spec("dups", key, "C:E1", 0, 1);
        check_state("dups", key, "C:E1#1*");
    }

    /* a batch mixing new records and repeats of stored and in-batch ones */
    post_spec("dups", "mixed", "C:E1 D:E2", 2, 0);
    post_spec("dups", "mixed", "D:E2 C:E1 D:E2 C:E3", 1, 3);
    check_state("dups", "mixed", "C:E1#1 D:E2#2 C:E3#0*");

    /* the same sequencer with another event type is another record */
    post_spec("dups", "type", "C@v1:E1 D@v1:E1 C@v2:E2", 3, 0);
    post_spec("dups", "type", "D@v1:E1", 0, 1);
    assert_int_equal(count("bucket=dups&key=type&currentState=false"), 3);
    assert_int_equal(count("bucket=dups&key=type&currentState=false&eventType=Created"), 2);
    assert_int_equal(count("bucket=dups&key=type&currentState=false&eventType=Deleted"), 1);
    l = list("bucket=dups&key=type&currentState=false&eventType=Deleted");
    res = json_array_get(json_object_get(l, "results"), 0);
    assert_int_equal(th_jint(res, "numberDuplicateEvents"), 1);
    json_decref(l);
    l = list("bucket=dups&key=type");
    want_summary(l, "C@v2:E2#0*");
    json_decref(l);
    /* records with equal sequencers are ordered by s3ObjectId */
    l = list("bucket=dups&key=type&currentState=false&versionId=v1");
    res = json_object_get(l, "results");
    assert_int_equal(json_array_size(res), 2);
    id0 = th_jstr(json_array_get(res, 0), "s3ObjectId");
    id1 = th_jstr(json_array_get(res, 1), "s3ObjectId");
    if (strcmp(id0, id1) >= 0)
        fail_msg("equal sequencers not ordered by s3ObjectId: %s, %s", id0, id1);
    json_decref(l);

    /* ... with another version */
    post_spec("dups", "version", "C@v1:E1 C@v2:E1 C@v3:E2", 3, 0);
    post_spec("dups", "version", "C@v2:E1", 0, 1);
    assert_int_equal(count("bucket=dups&key=version&currentState=false"), 3);
    assert_int_equal(count("bucket=dups&key=version&currentState=false&versionId=v2"), 1);
    l = list("bucket=dups&key=version&currentState=false&versionId=v2");
    want_summary(l, "C@v2:E1#1");
    json_decref(l);
    l = list("bucket=dups&key=version&currentState=false&versionId=v1");
    want_summary(l, "C@v1:E1#0");
    json_decref(l);
    l = list("bucket=dups&key=version");
    want_summary(l, "C@v3:E2#0*");
    json_decref(l);

    /* ... with another key (one batch) */
    {
        json_t *recs = json_array();
        char *body;

        json_array_append_new(recs, nrec("ObjectCreated:Put", "dups", "keyA", NULL, "E1", 1));
        json_array_append_new(recs, nrec("ObjectCreated:Put", "dups", "keyB", NULL, "E1", 1));
        json_array_append_new(recs, nrec("ObjectCreated:Put", "dups", "keyA", NULL, "e1", 1));
        body = dump(json_pack("{s:o}", "Records", recs));
        ingest(body, 3, 2, 1, 0, "same sequencer, two keys");
        free(body);
        check_state("dups", "keyA", "C:E1#1*");
        check_state("dups", "keyB", "C:E1#0*");
    }
}

/*
 * Keys that differ only in where a control character falls between bucket and
 * key are different records (no separator-joined identity).
 */
static void
test_duplicates_distinct_identity(void **state)
{
    json_t *recs = json_array();
    char *body;

    (void)state;
    json_array_append_new(recs, nrec("ObjectCreated:Put", "sep\037x", "k", NULL, "E1", 1));
    json_array_append_new(recs, nrec("ObjectCreated:Put", "sep", "x\037k", NULL, "E1", 1));
    body = dump(json_pack("{s:o}", "Records", recs));
    ingest(body, 2, 2, 0, 0, "bucket \"sep\\x1fx\" key \"k\" vs bucket \"sep\" key \"x\\x1fk\"");
    free(body);
    check_state("sep\037x", "k", "C:E1#0*");
    check_state("sep", "x\037k", "C:E1#0*");
}

/* ---- sequencer comparison -------------------------------------------------- */

static void
test_sequencer_rules(void **state)
{
    static const char *const lengths[] = {"C:AC", "C:AB", "C:AB1"};
    static const char *const padded[] = {"C:AB1", "C:AB01"};
    static const char *const cases[] = {"C:FF", "C:fe"};
    static const char *const bytes[] = {"C:100", "C:FF"};
    static const char *const marker[] = {"C@v1:aa", "M@v2:AB"};

    (void)state;
    /* case-insensitive: "ab" and "AB" are one sequencer */
    post_spec("seq", "case", "C:ab", 1, 0);
    post_spec("seq", "case", "C:AB", 0, 1);
    check_state("seq", "case", "C:ab#1*");
    /* right-padding with 0: "AB" and "AB00" are one sequencer */
    post_spec("seq", "pad", "C:AB", 1, 0);
    post_spec("seq", "pad", "C:AB00", 0, 1);
    post_spec("seq", "pad", "C:ab0", 0, 1);
    check_state("seq", "pad", "C:AB#2*");
    /* all in one batch */
    post_spec("seq", "batch", "C:ab C:AB C:AB000 C:aB0", 1, 3);
    check_state("seq", "batch", "C:ab#3*");
    /* varying lengths: AB < AB1 < AC, whatever the arrival order */
    run_orders("seq-len", lengths, 3, "C:AB#0 C:AB1#0 C:AC#0*");
    /* AB01 < AB1 (AB10 after padding) */
    run_orders("seq-pad", padded, 2, "C:AB01#0 C:AB1#0*");
    /* case-insensitive order: fe < FF (byte order of the raw values would say otherwise) */
    run_orders("seq-case", cases, 2, "C:fe#0 C:FF#0*");
    /* right-padding, then byte order: 100 (100) < FF (FF0) */
    run_orders("seq-bytes", bytes, 2, "C:100#0 C:FF#0*");
    /* across versions, case-insensitive: the marker AB is after aa */
    run_orders("seq-versions", marker, 2, "C@v1:aa#0 M@v2:AB#0");
}

/* ---- generated sequencers ---------------------------------------------------- */

/* n restore events without sequencer on bucket/key, sizes first..first+n-1, one batch. */
static void
post_restores(const char *bucket, const char *key, int first, int n)
{
    json_t *recs = json_array();
    char *body;
    int i;

    for (i = 0; i < n; i++)
        json_array_append_new(recs,
                              nrec("ObjectRestore:Completed", bucket, key, NULL, NULL, first + i));
    body = dump(json_pack("{s:o}", "Records", recs));
    ingest(body, n, n, 0, 0, "restores");
    free(body);
}

/*
 * The records of bucket/key (all, in list order) must be: `before` records
 * with delivered sequencers, then n restores with sizes 1..n and generated
 * sequencers <base>-<counter 1..n>, then `after` records.
 */
static void
check_generated(const char *bucket, const char *key, int nbefore, const char *base, int n,
                int nafter, int last_current)
{
    char *eb = enc(bucket);
    char *ek = enc(key);
    char *q = th_strf("bucket=%s&key=%s&currentState=false&rowsPerPage=10000", eb, ek);
    json_t *l = list(q);
    json_t *res = json_object_get(l, "results");
    int i;

    assert_int_equal(json_array_size(res), (size_t)(nbefore + n + nafter));
    for (i = 0; i < n; i++) {
        json_t *r = json_array_get(res, (size_t)(nbefore + i));
        char want_seq[300];

        snprintf(want_seq, sizeof(want_seq), "%s-%020d", base, i + 1);
        if (th_jint(r, "size") != i + 1 || strcmp(th_jstr(r, "reason"), "Restored") != 0 ||
            strcmp(th_jstr(r, "sequencer"), want_seq) != 0)
            fail_msg("%s/%s: record %d: size %lld, reason %s, sequencer %s; want size %d, "
                     "Restored, %s",
                     bucket, key, nbefore + i, (long long)th_jint(r, "size"), th_jstr(r, "reason"),
                     th_jstr(r, "sequencer"), i + 1, want_seq);
        if (json_is_true(json_object_get(r, "isCurrentState")) != (last_current && i == n - 1))
            fail_msg("%s/%s: record %d: isCurrentState wrong", bucket, key, nbefore + i);
        if (th_jint(r, "numberDuplicateEvents") != 0)
            fail_msg("%s/%s: record %d: duplicates", bucket, key, nbefore + i);
    }
    json_decref(l);
    free(q);
    free(eb);
    free(ek);
}

static void
test_generated_sequencers(void **state)
{
    (void)state;
    /* 320 without any base, in batches of 1, 99, 20 and 200: arrival order, counter past 255 */
    post_restores("gen", "nobase", 1, 1);
    post_restores("gen", "nobase", 2, 99);
    post_restores("gen", "nobase", 101, 20);
    post_restores("gen", "nobase", 121, 200);
    check_generated("gen", "nobase", 0, "", 320, 0, 1);

    /* on a base: after 0a0 (normalised 0A), then a greater delivered one is current */
    post_spec("gen", "base", "C:0a0", 1, 0);
    post_restores("gen", "base", 1, 150);
    post_restores("gen", "base", 151, 160);
    check_generated("gen", "base", 1, "0A", 310, 0, 1);
    post_spec("gen", "base", "C:0A1", 1, 0);
    check_generated("gen", "base", 1, "0A", 310, 1, 0);
    /* the delivered 0A00 is the base itself: a duplicate of the first record */
    post_spec("gen", "base", "C:0A00", 0, 1);
    {
        json_t *l = list("bucket=gen&key=base&currentState=false&rowsPerPage=1");
        json_t *r = json_array_get(json_object_get(l, "results"), 0);

        assert_string_equal(th_jstr(r, "sequencer"), "0a0");
        assert_int_equal(th_jint(r, "numberDuplicateEvents"), 1);
        json_decref(l);
        l = list("bucket=gen&key=base");
        want_summary(l, "C:0A1#0*");
        json_decref(l);
    }

    /* C E4 ; restore ; C E5: the generated one sorts between */
    post_spec("gen", "between", "C:E4", 1, 0);
    post_spec("gen", "between", "R", 1, 0);
    check_state("gen", "between", "C:E4#0 R:E4-00000000000000000001#0*");
    post_spec("gen", "between", "C:E5", 1, 0);
    check_state("gen", "between", "C:E4#0 R:E4-00000000000000000001#0 C:E5#0*");
    /* C E4 ; C E5 ; restore: after the greatest */
    post_spec("gen", "after", "C:E4", 1, 0);
    post_spec("gen", "after", "C:E5", 1, 0);
    post_spec("gen", "after", "R", 1, 0);
    check_state("gen", "after", "C:E4#0 C:E5#0 R:E5-00000000000000000001#0*");
    /* a delivered sequencer that is not greater than the base sorts before */
    post_spec("gen", "older", "C:E4 R", 2, 0);
    post_spec("gen", "older", "D:E3", 1, 0);
    check_state("gen", "older", "D:E3#0 C:E4#0 R:E4-00000000000000000001#0*");
    /* no base: the generated value sorts before every delivered sequencer */
    post_spec("gen", "first", "R", 1, 0);
    post_spec("gen", "first", "C:01", 1, 0);
    check_state("gen", "first", "R:-00000000000000000001#0 C:01#0*");
    /* an empty sequencer is none */
    post_spec("gen", "emptyseq", "C:E4", 1, 0);
    post_spec("gen", "emptyseq", "C:", 1, 0);
    check_state("gen", "emptyseq", "C:E4#0 C:E4-00000000000000000001#0*");
    /* generated bases are per version */
    post_spec("gen", "perversion", "C@v1:E9 C@v2:E4", 2, 0);
    post_spec("gen", "perversion", "R@v2", 1, 0);
    check_state("gen", "perversion", "C@v2:E4#0 R@v2:E4-00000000000000000001#0 C@v1:E9#0*");
}

/* "With no base, the generated value sorts before every real sequencer" - also 0 / 00. */
static void
test_generated_before_zero_sequencer(void **state)
{
    (void)state;
    post_spec("gen", "zero", "R", 1, 0);
    post_spec("gen", "zero", "C:00", 1, 0);
    check_state("gen", "zero", "R:-00000000000000000001#0 C:00#0*");
}

/* ---- accepted shapes and field rules ----------------------------------------- */

static char *
json_text(json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The notification of shape case i: key "shape<i>/a+b%2Bc" (form-encoded "a b+c"). */
static json_t *
shape_notification(int i)
{
    char *key = th_strf("shape%d/a+b%%2Bc", i);
    json_t *n =
        json_pack("{s:[o]}", "Records", nrec("ObjectCreated:Put", "shapes", key, "v1", "00AA", 5));

    free(key);
    return n;
}

static json_t *
shape_eventbridge(int i)
{
    char *key = th_strf("shape%d/a+b%%2Bc", i);
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:s,s:[s],s:s,s:{s:s,s:{s:s},s:{s:s,s:I,s:s,s:s,s:s},"
                  "s:s,s:s}}",
                  "version", "0", "id", "17793124-05d4-b198-2fde-7ededc63b103", "detail-type",
                  "Object Created", "source", "aws.s3", "resources", "arn:aws:s3:::shapes", "time",
                  "2026-11-21T12:15:30.123+02:00", "detail", "version", "0", "bucket", "name",
                  "shapes", "object", "key", key, "size", (json_int_t)5, "etag",
                  "d41d8cd98f00b204e9800998ecf8427e", "version-id", "v1", "sequencer", "00AA",
                  "request-id", "N4N7GDK58NMKJ12R", "reason", "PutObject");

    free(key);
    return j;
}

/* {"Body": "<json>"} (or "body") */
static json_t *
sqs_message(json_t *inner, const char *member)
{
    char *s = json_text(inner);
    json_t *m = json_pack("{s:s,s:s,s:s}", "MessageId", "2e1424d4-f796-459a-8184-9c92662be6da",
                          "ReceiptHandle", "AQEB", member, s);

    free(s);
    json_decref(inner);
    return m;
}

static json_t *
sns_envelope(json_t *inner)
{
    char *s = json_text(inner);
    json_t *m = json_pack("{s:s,s:s,s:s,s:s,s:s}", "Type", "Notification", "MessageId",
                          "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn",
                          "arn:aws:sns:eu-west-1:123456789012:s3-events", "Subject",
                          "Amazon S3 Notification", "Message", s);

    free(s);
    json_decref(inner);
    return m;
}

static const char *const record_fields[] = {"s3ObjectId",
                                            "eventType",
                                            "bucket",
                                            "key",
                                            "versionId",
                                            "eventTime",
                                            "size",
                                            "eTag",
                                            "storageClass",
                                            "lastModifiedDate",
                                            "sequencer",
                                            "isDeleteMarker",
                                            "isCurrentState",
                                            "reason",
                                            "numberDuplicateEvents",
                                            "ingestedAt",
                                            "source",
                                            "sha256",
                                            "attributes",
                                            "ingestId",
                                            "deletedDate",
                                            "deletedSequencer",
                                            "numberReordered",
                                            "archiveStatus",
                                            "isAccessible",
                                            NULL};

/* The annotation and filemanager fields (test_s3_filters.c tests them): types checked here. */
static void
drop_filemanager_fields(json_t *copy, const char *what)
{
    static const char *const nulls[] = {"sha256",      "attributes",       "ingestId",
                                        "deletedDate", "deletedSequencer", NULL};
    size_t i;

    for (i = 0; nulls[i]; i++) {
        if (!json_is_null(json_object_get(copy, nulls[i])))
            fail_msg("%s: %s not null", what, nulls[i]);
        json_object_del(copy, nulls[i]);
    }
    if (json_integer_value(json_object_get(copy, "numberReordered")) != 0 ||
        !json_is_boolean(json_object_get(copy, "isAccessible")))
        fail_msg("%s: numberReordered or isAccessible", what);
    json_object_del(copy, "numberReordered");
    json_object_del(copy, "archiveStatus");
    json_object_del(copy, "isAccessible");
}

/* rec must have exactly API.md's fields; compared without s3ObjectId and ingestedAt. */
static void
want_record(json_t *rec, const char *expected, const char *what)
{
    json_t *copy;
    size_t n = 0;

    while (record_fields[n]) {
        if (!json_object_get(rec, record_fields[n]))
            fail_msg("%s: field %s missing", what, record_fields[n]);
        n++;
    }
    if (json_object_size(rec) != n) {
        char *s = json_text(rec);

        fail_msg("%s: %zu fields, want %zu: %s", what, json_object_size(rec), n, s);
    }
    if (!th_is_uuid(th_jstr(rec, "s3ObjectId")))
        fail_msg("%s: s3ObjectId %s", what, th_jstr(rec, "s3ObjectId"));
    if (!th_is_ts(th_jstr(rec, "ingestedAt")))
        fail_msg("%s: ingestedAt %s", what, th_jstr(rec, "ingestedAt"));
    copy = json_deep_copy(rec);
    json_object_del(copy, "s3ObjectId");
    json_object_del(copy, "ingestedAt");
    drop_filemanager_fields(copy, what);
    want_json(copy, expected, what);
    json_decref(copy);
}

/* The single record of bucket/key (currentState=false). */
static json_t *
only_record(const char *bucket, const char *key)
{
    char *eb = enc(bucket);
    char *ek = enc(key);
    char *q = th_strf("bucket=%s&key=%s&currentState=false", eb, ek);
    json_t *l = list(q);
    json_t *res = json_object_get(l, "results");
    json_t *r;

    if (json_array_size(res) != 1)
        fail_msg("%s/%s: %zu records, want 1", bucket, key, json_array_size(res));
    r = json_incref(json_array_get(res, 0));
    json_decref(l);
    free(q);
    free(eb);
    free(ek);
    return r;
}

static void
test_accepted_shapes(void **state)
{
    enum { NSHAPES = 10 };
    int i;

    (void)state;
    for (i = 0; i < NSHAPES; i++) {
        json_t *body = NULL;
        char *text;
        char *key;
        char *want;
        char *what = th_strf("shape %d", i);
        json_t *rec;

        switch (i) {
        case 0: /* S3 notification */
            body = shape_notification(i);
            break;
        case 1: /* notification with the s3: prefix */
            body = shape_notification(i);
            json_object_set_new(json_array_get(json_object_get(body, "Records"), 0), "eventName",
                                json_string("s3:ObjectCreated:Put"));
            break;
        case 2: /* EventBridge (time with an offset) */
            body = shape_eventbridge(i);
            break;
        case 3: /* SQS message, Body */
            body = sqs_message(shape_notification(i), "Body");
            break;
        case 4: /* SQS message, body (as Lambda shows it) */
            body = sqs_message(shape_notification(i), "body");
            break;
        case 5: /* SQS receive result */
            body = json_pack("{s:[o]}", "Messages", sqs_message(shape_notification(i), "Body"));
            break;
        case 6: /* SNS envelope inside an SQS message, inside a receive result */
            body = json_pack("{s:[o]}", "Messages",
                             sqs_message(sns_envelope(shape_notification(i)), "Body"));
            break;
        case 7: /* SNS envelope on its own */
            body = sns_envelope(shape_notification(i));
            break;
        case 8: /* Lambda-style SNS record */
            body = json_pack("{s:[{s:s,s:o}]}", "Records", "EventSource", "aws:sns", "Sns",
                             sns_envelope(shape_notification(i)));
            break;
        case 9: /* Lambda-style SQS record with EventBridge inside */
            body = json_pack("{s:[o]}", "Records", sqs_message(shape_eventbridge(i), "body"));
            break;
        }
        text = dump(body);
        ingest(text, 1, 1, 0, 0, what);
        key = th_strf("shape%d/a b+c", i);
        rec = only_record("shapes", key);
        want = th_strf("{\"eventType\":\"Created\",\"bucket\":\"shapes\",\"key\":\"%s\","
                       "\"versionId\":\"v1\",\"eventTime\":\"" EVENT_TIME "\",\"size\":5,"
                       "\"eTag\":\"\\\"d41d8cd98f00b204e9800998ecf8427e\\\"\","
                       "\"storageClass\":null,\"lastModifiedDate\":null,\"sequencer\":\"00AA\","
                       "\"isDeleteMarker\":false,\"isCurrentState\":true,\"reason\":\"CreatedPut\","
                       "\"numberDuplicateEvents\":0,\"source\":\"event\"}",
                       key);
        want_record(rec, want, what);
        json_decref(rec);
        free(want);
        free(key);
        free(text);
        free(what);
    }

    /* a JSON array mixing every shape, nested: one batch; a repeat of each shape is a duplicate */
    {
        json_t *arr =
            json_pack("[o,o,o,o,[o,o]]", shape_notification(20), shape_eventbridge(21),
                      sqs_message(shape_notification(22), "Body"),
                      json_pack("{s:[o]}", "Messages",
                                sqs_message(sns_envelope(shape_notification(23)), "Body")),
                      sns_envelope(shape_notification(24)), shape_eventbridge(0));
        char *text = dump(arr);

        ingest(text, 6, 5, 1, 0, "mixed array");
        free(text);
        for (i = 20; i <= 24; i++) {
            char *key = th_strf("shape%d/a b+c", i);
            json_t *rec = only_record("shapes", key);

            assert_string_equal(th_jstr(rec, "sequencer"), "00AA");
            assert_true(json_is_true(json_object_get(rec, "isCurrentState")));
            json_decref(rec);
            free(key);
        }
        {
            json_t *rec = only_record("shapes", "shape0/a b+c");

            assert_int_equal(th_jint(rec, "numberDuplicateEvents"), 1);
            json_decref(rec);
        }
    }
}

static void
test_ignored_events(void **state)
{
    static const char test_event[] =
        "{\"Service\":\"Amazon "
        "S3\",\"Event\":\"s3:TestEvent\",\"Time\":\"2026-11-21T10:15:30.123Z\","
        "\"Bucket\":\"ign\",\"RequestId\":\"5582815E1AEA5ADF\",\"HostId\":\"8cLeGAmw\"}";
    json_t *arr;
    char *text;

    (void)state;
    ingest(test_event, 1, 0, 0, 1, "s3:TestEvent");
    /* inside an SQS receive result */
    text = dump(
        json_pack("{s:[o]}", "Messages", sqs_message(json_loads(test_event, 0, NULL), "Body")));
    ingest(text, 1, 0, 0, 1, "s3:TestEvent in SQS");
    free(text);
    /* tagging, ACL, restore initiated, replication: ignored, the batch still stored */
    arr = json_array();
    json_array_append_new(arr, nrec("ObjectTagging:Put", "ign", "k", NULL, "01", -1));
    json_array_append_new(arr, nrec("ObjectCreated:Put", "ign", "k", NULL, "02", 3));
    json_array_append_new(arr, nrec("s3:ObjectAcl:Put", "ign", "k", NULL, "03", -1));
    json_array_append_new(arr, nrec("ObjectRestore:Post", "ign", "k", NULL, "04", -1));
    json_array_append_new(
        arr, nrec("Replication:OperationFailedReplication", "ign", "k", NULL, "05", -1));
    text = dump(json_pack("{s:o}", "Records", arr));
    ingest(text, 5, 1, 0, 4, "tagging + put");
    free(text);
    check_state("ign", "k", "C:02#0*");
    /* EventBridge detail types that are not created/deleted; an SNS subscription confirmation */
    text = th_strf(
        "[{\"detail-type\":\"Object Tags Added\",\"source\":\"aws.s3\",\"time\":\"" EVENT_TIME
        "\",\"detail\":{\"bucket\":{\"name\":\"ign\"},\"object\":{\"key\":\"k\","
        "\"sequencer\":\"06\"}}},"
        "{\"Type\":\"SubscriptionConfirmation\",\"Message\":\"You have chosen to "
        "subscribe\",\"TopicArn\":\"arn:aws:sns:eu-west-1:1:t\"},"
        "{\"detail-type\":\"Object Restore Initiated\",\"source\":\"aws.s3\",\"time\":\"" EVENT_TIME
        "\",\"detail\":{\"bucket\":{\"name\":\"ign\"},\"object\":{\"key\":\"k\","
        "\"sequencer\":\"07\"}}}]");
    ingest(text, 3, 0, 0, 3, "ignored EventBridge / SNS");
    free(text);
    check_state("ign", "k", "C:02#0*");
    /* elements of no recognisable shape are not counted */
    arr = json_pack(
        "[{s:i},o,i]", "foo", 1,
        json_pack("{s:[o]}", "Records", nrec("ObjectCreated:Put", "ign", "k2", NULL, "01", 1)), 7);
    text = dump(arr);
    ingest(text, 1, 1, 0, 0, "unrecognised elements");
    free(text);
    /* events with unusable fields are skipped (not counted); alone they are a 400 */
    {
        json_t *bad_seq = nrec("ObjectCreated:Put", "ign", "skip1", NULL, "01", 1);
        json_t *bad_size = nrec("ObjectCreated:Put", "ign", "skip2", NULL, "01", 1);
        json_t *neg_size = nrec("ObjectCreated:Put", "ign", "skip3", NULL, "01", 1);
        json_t *no_key = nrec("ObjectCreated:Put", "ign", "", NULL, "01", 1);
        json_t *no_bucket = nrec("ObjectCreated:Put", "", "skip4", NULL, "01", 1);
        struct reply r;

        json_object_set_new(json_object_get(json_object_get(bad_seq, "s3"), "object"), "sequencer",
                            json_integer(5));
        json_object_set_new(json_object_get(json_object_get(bad_size, "s3"), "object"), "size",
                            json_string("5"));
        json_object_set_new(json_object_get(json_object_get(neg_size, "s3"), "object"), "size",
                            json_integer(-1));
        text = dump(json_pack("{s:[o,o,o,o,o,o]}", "Records", bad_seq, bad_size, neg_size, no_key,
                              no_bucket, nrec("ObjectCreated:Put", "ign", "skip5", NULL, "01", 1)));
        ingest(text, 1, 1, 0, 0, "skipped events");
        free(text);
        assert_int_equal(count("bucket=ign&key=skip%2A&currentState=false"), 1);
        bad_seq = nrec("ObjectCreated:Put", "ign", "skip6", NULL, "01", 1);
        json_object_set_new(json_object_get(json_object_get(bad_seq, "s3"), "object"), "sequencer",
                            json_integer(5));
        text = dump(json_pack("{s:[o]}", "Records", bad_seq));
        r = post_json(text);
        want_problem(&r, 400, NULL, "only a skipped event");
        reply_release(&r);
        free(text);
    }
    /* an eventTime that is not RFC 3339 is null */
    {
        json_t *n = nrec("ObjectCreated:Put", "ign", "badtime", NULL, "01", 1);

        json_object_set_new(n, "eventTime", json_string("yesterday"));
        text = dump(json_pack("{s:[o]}", "Records", n));
        ingest(text, 1, 1, 0, 0, "bad eventTime");
        free(text);
        arr = list("bucket=ign&key=badtime");
        assert_true(json_is_null(
            json_object_get(json_array_get(json_object_get(arr, "results"), 0), "eventTime")));
        json_decref(arr);
    }
    /* empty Records / Messages are recognisable and store nothing */
    ingest("{\"Records\":[]}", 0, 0, 0, 0, "empty Records");
    ingest("{\"Messages\":[]}", 0, 0, 0, 0, "empty Messages");
}

static void
test_field_rules(void **state)
{
    static const struct {
        const char *sent;
        const char *stored;
    } keys[] = {
        {"a+b%2Bc", "a b+c"},         {"dir%2Fsub/file%20name.txt", "dir/sub/file name.txt"},
        {"caf%C3%A9", "caf\xc3\xa9"}, {"bad%zzesc%4", "bad%zzesc%4"},
        {"100%25", "100%"},
    };
    static const struct {
        const char *sent;
        const char *stored;
    } etags[] = {
        {"abc", "\"abc\""},
        {"\"abc\"", "\"abc\""},
        {"W/\"abc\"", "W/\"abc\""},
        /* malformed: completed as the filemanager does, never doubled */
        {"\"abc", "\"abc\""},
        {"abc\"", "\"abc\""},
        {"W/\"abc", "W/\"abc\""},
        {"W/\"", "W/\"\""},
        {"\"", "\"\""},
        {"", "\"\""}, /* an empty eTag is "", not null */
    };
    size_t i;
    json_t *rec;
    char *text;

    (void)state;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *sent = th_strf("urldec/%zu/%s", i, keys[i].sent);
        char *stored = th_strf("urldec/%zu/%s", i, keys[i].stored);

        text = dump(json_pack("{s:[o]}", "Records",
                              nrec("ObjectCreated:Put", "fields", sent, NULL, "01", 1)));
        ingest(text, 1, 1, 0, 0, sent);
        rec = only_record("fields", stored);
        assert_string_equal(th_jstr(rec, "key"), stored);
        json_decref(rec);
        free(text);
        free(sent);
        free(stored);
    }
    /* EventBridge keys are URL-decoded too */
    text = th_strf("{\"detail-type\":\"Object Created\",\"time\":\"" EVENT_TIME "\",\"detail\":{"
                   "\"bucket\":{\"name\":\"fields\"},\"object\":{\"key\":\"eb/x+y%%21\",\"size\":1,"
                   "\"sequencer\":\"01\"},\"reason\":\"PutObject\"}}");
    ingest(text, 1, 1, 0, 0, "EventBridge key");
    free(text);
    rec = only_record("fields", "eb/x y!");
    json_decref(rec);

    for (i = 0; i < sizeof(etags) / sizeof(etags[0]); i++) {
        char *key = th_strf("etag/%zu", i);
        json_t *n = nrec("ObjectCreated:Put", "fields", key, NULL, "01", 1);

        json_object_set_new(json_object_get(json_object_get(n, "s3"), "object"), "eTag",
                            json_string(etags[i].sent));
        text = dump(json_pack("{s:[o]}", "Records", n));
        ingest(text, 1, 1, 0, 0, key);
        rec = only_record("fields", key);
        assert_string_equal(th_jstr(rec, "eTag"), etags[i].stored);
        json_decref(rec);
        free(text);
        free(key);
    }

    /* version id: missing and empty are "null", never JSON null */
    text = dump(json_pack("{s:[o,o]}", "Records",
                          nrec("ObjectCreated:Put", "fields", "ver/missing", NULL, "01", 1),
                          nrec("ObjectCreated:Put", "fields", "ver/empty", "", "01", 1)));
    ingest(text, 2, 2, 0, 0, "versionId");
    free(text);
    rec = only_record("fields", "ver/missing");
    assert_string_equal(th_jstr(rec, "versionId"), "null");
    json_decref(rec);
    rec = only_record("fields", "ver/empty");
    assert_string_equal(th_jstr(rec, "versionId"), "null");
    json_decref(rec);
    assert_int_equal(count("bucket=fields&key=ver%2F%2A&versionId=null"), 2);

    /* size up to 2^63-1; eventTime normalised; a delete has null size and eTag */
    {
        json_t *n = nrec("ObjectCreated:Put", "fields", "big", NULL, "01", 0);

        json_object_set_new(json_object_get(json_object_get(n, "s3"), "object"), "size",
                            json_integer(INT64_MAX));
        json_object_set_new(n, "eventTime", json_string("2026-11-21T10:15:30Z"));
        text = dump(json_pack("{s:[o]}", "Records", n));
        ingest(text, 1, 1, 0, 0, "big size");
        free(text);
        rec = only_record("fields", "big");
        assert_true(th_jint(rec, "size") == INT64_MAX);
        assert_string_equal(th_jstr(rec, "eventTime"), "2026-11-21T10:15:30.000Z");
        json_decref(rec);
    }
    text = dump(json_pack("{s:[o]}", "Records",
                          nrec("ObjectRemoved:DeleteMarkerCreated", "fields", "del", "m1",
                               "0055AED6DCD90281E6", -1)));
    ingest(text, 1, 1, 0, 0, "delete marker");
    free(text);
    rec = only_record("fields", "del");
    want_record(rec,
                "{\"eventType\":\"Deleted\",\"bucket\":\"fields\",\"key\":\"del\","
                "\"versionId\":\"m1\",\"eventTime\":\"" EVENT_TIME "\",\"size\":null,"
                "\"eTag\":null,\"storageClass\":null,\"lastModifiedDate\":null,"
                "\"sequencer\":\"0055AED6DCD90281E6\",\"isDeleteMarker\":true,"
                "\"isCurrentState\":false,\"reason\":\"Deleted\",\"numberDuplicateEvents\":0,"
                "\"source\":\"event\"}",
                "delete marker record");
    json_decref(rec);
    /* no eventTime: null */
    {
        json_t *n = nrec("ObjectCreated:Put", "fields", "notime", NULL, "01", 1);

        json_object_del(n, "eventTime");
        text = dump(json_pack("{s:[o]}", "Records", n));
        ingest(text, 1, 1, 0, 0, "no eventTime");
        free(text);
        rec = only_record("fields", "notime");
        assert_true(json_is_null(json_object_get(rec, "eventTime")));
        json_decref(rec);
    }
}

/* S3.md "Classification": every notification name and EventBridge variant. */
static void
test_classification(void **state)
{
    static const struct {
        const char *name;
        const char *type;
        int marker;
        const char *reason;
    } names[] = {
        {"ObjectCreated:Put", "Created", 0, "CreatedPut"},
        {"ObjectCreated:Post", "Created", 0, "CreatedPost"},
        {"ObjectCreated:Copy", "Created", 0, "CreatedCopy"},
        {"ObjectCreated:CompleteMultipartUpload", "Created", 0, "CreatedCompleteMultipartUpload"},
        {"ObjectRestore:Completed", "Created", 0, "Restored"},
        {"ObjectRestore:Delete", "Created", 0, "RestoreExpired"},
        {"LifecycleTransition", "Created", 0, "StorageClassChanged"},
        {"IntelligentTiering", "Created", 0, "StorageClassChanged"},
        {"ObjectRemoved:Delete", "Deleted", 0, "Deleted"},
        {"ObjectRemoved:DeleteMarkerCreated", "Deleted", 1, "Deleted"},
        {"LifecycleExpiration:Delete", "Deleted", 0, "DeletedLifecycle"},
        {"LifecycleExpiration:DeleteMarkerCreated", "Deleted", 1, "DeletedLifecycle"},
        {"s3:LifecycleExpiration:DeleteMarkerCreated", "Deleted", 1, "DeletedLifecycle"},
    };
    static const struct {
        const char *detail_type;
        const char *extra; /* members of detail */
        const char *type;
        int marker;
        const char *reason;
        const char *storage_class;
    } eb[] = {
        {"Object Created", "\"reason\":\"PutObject\"", "Created", 0, "CreatedPut", NULL},
        {"Object Created", "\"reason\":\"POST Object\"", "Created", 0, "CreatedPost", NULL},
        {"Object Created", "\"reason\":\"CopyObject\"", "Created", 0, "CreatedCopy", NULL},
        {"Object Created", "\"reason\":\"CompleteMultipartUpload\"", "Created", 0,
         "CreatedCompleteMultipartUpload", NULL},
        /* a reason ingestd does not know is not guessed: Unknown, as the filemanager */
        {"Object Created", "\"reason\":\"RestoreObject\"", "Created", 0, "Unknown", NULL},
        {"Object Created", "\"x\":1", "Created", 0, "Unknown", NULL},
        {"Object Restore Completed", "\"restore-expiry-time\":\"2026-12-01T00:00:00Z\"", "Created",
         0, "Restored", NULL},
        {"Object Restore Expired", "\"x\":1", "Created", 0, "RestoreExpired", NULL},
        {"Object Storage Class Changed", "\"destination-storage-class\":\"GLACIER\"", "Created", 0,
         "StorageClassChanged", "GLACIER"},
        {"Object Access Tier Changed", "\"destination-access-tier\":\"ARCHIVE_ACCESS\"", "Created",
         0, "StorageClassChanged", "ARCHIVE_ACCESS"},
        {"Object Deleted", "\"reason\":\"DeleteObject\",\"deletion-type\":\"Permanently Deleted\"",
         "Deleted", 0, "Deleted", NULL},
        {"Object Deleted",
         "\"reason\":\"DeleteObject\",\"deletion-type\":\"Delete Marker Created\"", "Deleted", 1,
         "Deleted", NULL},
        {"Object Deleted",
         "\"reason\":\"Lifecycle Expiration\",\"deletion-type\":\"Permanently Deleted\"", "Deleted",
         0, "DeletedLifecycle", NULL},
        {"Object Deleted",
         "\"reason\":\"Lifecycle Expiration\",\"deletion-type\":\"Delete Marker Created\"",
         "Deleted", 1, "DeletedLifecycle", NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *key = th_strf("n/%zu", i);
        char *text = dump(json_pack(
            "{s:[o]}", "Records",
            nrec(names[i].name, "cls", key, NULL, "01", names[i].type[0] == 'C' ? 1 : -1)));
        json_t *rec;

        ingest(text, 1, 1, 0, 0, names[i].name);
        rec = only_record("cls", key);
        if (strcmp(th_jstr(rec, "eventType"), names[i].type) != 0 ||
            json_is_true(json_object_get(rec, "isDeleteMarker")) != names[i].marker ||
            strcmp(th_jstr(rec, "reason"), names[i].reason) != 0 ||
            json_is_true(json_object_get(rec, "isCurrentState")) != (names[i].type[0] == 'C'))
            fail_msg("%s: %s", names[i].name, json_text(rec));
        json_decref(rec);
        free(text);
        free(key);
    }
    for (i = 0; i < sizeof(eb) / sizeof(eb[0]); i++) {
        char *key = th_strf("eb/%zu", i);
        char *text = th_strf("{\"version\":\"0\",\"detail-type\":\"%s\",\"source\":\"aws.s3\","
                             "\"time\":\"" EVENT_TIME "\",\"detail\":{\"version\":\"0\","
                             "\"bucket\":{\"name\":\"cls\"},\"object\":{\"key\":\"%s\","
                             "\"version-id\":\"v1\",\"sequencer\":\"01\"},%s}}",
                             eb[i].detail_type, key, eb[i].extra);
        json_t *rec;
        json_t *sc;

        ingest(text, 1, 1, 0, 0, eb[i].detail_type);
        rec = only_record("cls", key);
        sc = json_object_get(rec, "storageClass");
        if (strcmp(th_jstr(rec, "eventType"), eb[i].type) != 0 ||
            json_is_true(json_object_get(rec, "isDeleteMarker")) != eb[i].marker ||
            strcmp(th_jstr(rec, "reason"), eb[i].reason) != 0 ||
            strcmp(th_jstr(rec, "versionId"), "v1") != 0 ||
            (eb[i].storage_class
                 ? !json_is_string(sc) || strcmp(json_string_value(sc), eb[i].storage_class) != 0
                 : !json_is_null(sc)))
            fail_msg("%s %s: %s", eb[i].detail_type, eb[i].extra, json_text(rec));
        json_decref(rec);
        free(text);
        free(key);
    }
}

/* ---- malformed bodies ------------------------------------------------------ */

static void
test_malformed_bodies(void **state)
{
    static const struct {
        const char *body;
        const char *detail;
    } bad[] = {
        {"not json", NULL},
        {"{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":", NULL},
        {"{}", NULL},
        {"[]", NULL},
        {"{\"Records\":\"x\"}", NULL},
        {"{\"Messages\":{}}", NULL},
        {"[[[[[[[[[[{\"Records\":[]}]]]]]]]]]]", NULL},
        {"{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"bad\"},"
         "\"object\":{\"key\":\"k\",\"sequencer\":\"XYZ-1\"}}}]}",
         "record 1: invalid sequencer"},
    };
    const char *json_ct[] = {"Content-Type: application/json", NULL};
    const char *text_ct[] = {"Content-Type: text/plain", NULL};
    const char *csv_ct[] = {"Content-Type: text/csv", NULL};
    const char *latin1[] = {"Content-Type: application/json; charset=iso-8859-1", NULL};
    const char *utf8[] = {"Content-Type: application/json; charset=utf-8", NULL};
    size_t i;
    struct reply r;
    char *body;
    char *what;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = post_json(bad[i].body);
        what = th_strf("body %s", bad[i].body);
        want_problem(&r, 400, bad[i].detail, what);
        free(what);
        reply_release(&r);
    }

    /* atomic: a bad sequencer in record 3 stores nothing of records 1 and 2 */
    body = dump(json_pack("{s:[o,o,o]}", "Records",
                          nrec("ObjectCreated:Put", "bad", "ok1", NULL, "01", 1),
                          nrec("ObjectCreated:Put", "bad", "ok2", NULL, "02", 1),
                          nrec("ObjectCreated:Put", "bad", "x", NULL, "0G", 1)));
    r = post_json(body);
    want_problem(&r, 400, "record 3: invalid sequencer", "bad sequencer in record 3");
    reply_release(&r);
    free(body);
    /* a sequencer longer than 256 characters */
    {
        char seq[258];

        memset(seq, 'A', 257);
        seq[257] = '\0';
        body = dump(json_pack("{s:[o]}", "Records",
                              nrec("ObjectCreated:Put", "bad", "long", NULL, seq, 1)));
        r = post_json(body);
        want_problem(&r, 400, "invalid sequencer", "257-character sequencer");
        reply_release(&r);
        free(body);
        seq[256] = '\0';
        body = dump(json_pack("{s:[o]}", "Records",
                              nrec("ObjectCreated:Put", "bad2", "long", NULL, seq, 1)));
        ingest(body, 1, 1, 0, 0, "256-character sequencer");
        free(body);
    }
    /* a key over 1024 bytes */
    {
        char key[1030];

        memset(key, 'k', 1025);
        key[1025] = '\0';
        body = dump(
            json_pack("{s:[o]}", "Records", nrec("ObjectCreated:Put", "bad", key, NULL, "01", 1)));
        r = post_json(body);
        want_problem(&r, 400, "too long", "1025-byte key");
        reply_release(&r);
        free(body);
    }
    assert_int_equal(count("bucket=bad&currentState=false"), 0);

    /* empty body */
    r = http("POST", EV_PATH, json_ct, "", 0);
    want_problem(&r, 400, NULL, "empty body");
    reply_release(&r);

    /* content types */
    body = dump(
        json_pack("{s:[o]}", "Records", nrec("ObjectCreated:Put", "ctype", "k", NULL, "01", 1)));
    r = http("POST", EV_PATH, text_ct, body, strlen(body));
    want_problem(&r, 415, NULL, "text/plain");
    reply_release(&r);
    r = http("POST", EV_PATH, csv_ct, body, strlen(body));
    want_problem(&r, 415, NULL, "text/csv");
    reply_release(&r);
    r = http("POST", EV_PATH, latin1, body, strlen(body));
    want_problem(&r, 415, NULL, "charset=iso-8859-1");
    reply_release(&r);
    assert_int_equal(count("bucket=ctype&currentState=false"), 0);
    r = http("POST", EV_PATH, utf8, body, strlen(body));
    want_status(&r, 200, "charset=utf-8");
    reply_release(&r);
    r = http("POST", EV_PATH, NULL, body, strlen(body));
    want_status(&r, 200, "no Content-Type");
    assert_non_null(strstr(r.body, "\"duplicates\":1"));
    reply_release(&r);
    free(body);
    check_state("ctype", "k", "C:01#1*");

    /* other methods */
    r = http("PUT", EV_PATH, json_ct, "{}", 2);
    want_problem(&r, 405, NULL, "PUT events");
    reply_release(&r);
    r = get(EV_PATH);
    want_problem(&r, 405, NULL, "GET events");
    reply_release(&r);
}

/* gzip-compress data (one gzip member); caller frees. */
static char *
gzip_bytes(const void *data, size_t len, size_t *out_len)
{
    z_stream zs;
    size_t cap = compressBound((uLong)len) + 64;
    char *out = xmalloc(cap);

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* n records on bucket/key with sequencers 1..n (hex); "{"Records":[...]}" */
static char *
many_records(const char *bucket, const char *key, size_t n)
{
    struct buf b;
    size_t i;

    buf_init(&b, 0);
    buf_append_str(&b, "{\"Records\":[");
    for (i = 0; i < n; i++)
        buf_printf(&b,
                   "%s{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"%s\"},"
                   "\"object\":{\"key\":\"%s\",\"size\":1,\"sequencer\":\"%06zX\"}}}",
                   i ? "," : "", bucket, key, i + 1);
    buf_append_str(&b, "]}");
    return buf_take(&b, NULL);
}

static void
test_body_framing(void **state)
{
    const char *gz[] = {"Content-Type: application/json", "Content-Encoding: gzip", NULL};
    const char *xgz[] = {"Content-Type: application/json", "Content-Encoding: x-gzip", NULL};
    const char *br[] = {"Content-Type: application/json", "Content-Encoding: br", NULL};
    struct reply r;
    char *body;
    char *z;
    size_t zlen;
    long t0;

    (void)state;
    /* gzip / x-gzip bodies */
    body = batch_json("frame", "gz", "C:01 C:02", &(int){0});
    z = gzip_bytes(body, strlen(body), &zlen);
    r = http("POST", EV_PATH, gz, z, zlen);
    want_status(&r, 200, "gzip body");
    assert_non_null(strstr(r.body, "\"ingested\":2"));
    reply_release(&r);
    r = http("POST", EV_PATH, xgz, z, zlen);
    want_status(&r, 200, "x-gzip body");
    assert_non_null(strstr(r.body, "\"duplicates\":2"));
    reply_release(&r);
    /* broken gzip, unknown encoding */
    r = http("POST", EV_PATH, gz, z, zlen / 2);
    want_problem(&r, 400, NULL, "truncated gzip");
    reply_release(&r);
    r = http("POST", EV_PATH, gz, body, strlen(body));
    want_problem(&r, 400, NULL, "not gzip");
    reply_release(&r);
    r = http("POST", EV_PATH, br, z, zlen);
    want_problem(&r, 415, NULL, "Content-Encoding: br");
    reply_release(&r);
    free(z);
    free(body);
    check_state("frame", "gz", "C:01#1 C:02#1*");

    /* the largest bucket, key, versionId and sequencer are stored, also with a generated one */
    {
        char bucket[256];
        char key[1025];
        char ver[1025];
        char seq[257];
        size_t i;

        for (i = 0; i < 255; i++)
            bucket[i] = "abcdefghijklmnopqrstuvwxyz0123456789-."[(i * 7 + i / 3) % 38];
        bucket[255] = '\0';
        for (i = 0; i < 1024; i++) {
            key[i] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(i * 13 + i / 5) %
                                                                                 62];
            ver[i] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(i * 11 + i / 7) %
                                                                                 62];
        }
        key[1024] = ver[1024] = '\0';
        for (i = 0; i < 256; i++)
            seq[i] = "0123456789ABCDEF"[(i * 5 + i / 16 + 1) % 16];
        seq[0] = '0';
        seq[255] = 'F';
        seq[256] = '\0';
        body = dump(json_pack("{s:[o,o]}", "Records",
                              nrec("ObjectCreated:Put", bucket, key, ver, seq, 1),
                              nrec("ObjectRestore:Completed", bucket, key, ver, NULL, 1)));
        ingest(body, 2, 2, 0, 0, "maximal lengths");
        free(body);
        {
            char *eb = enc(bucket);
            char *ek = enc(key);
            char *q = th_strf("bucket=%s&key=%s&currentState=false", eb, ek);
            json_t *l = list(q);
            json_t *res = json_object_get(l, "results");
            char *gen = th_strf("%s-00000000000000000001", seq);

            assert_int_equal(json_array_size(res), 2);
            assert_string_equal(th_jstr(json_array_get(res, 0), "sequencer"), seq);
            assert_string_equal(th_jstr(json_array_get(res, 1), "sequencer"), gen);
            assert_string_equal(th_jstr(json_array_get(res, 1), "versionId"), ver);
            assert_true(json_is_true(json_object_get(json_array_get(res, 1), "isCurrentState")));
            free(gen);
            json_decref(l);
            free(q);
            free(eb);
            free(ek);
        }
    }

    /* 100000 records in one request are one batch; 100001 are a 413 and store nothing */
    t0 = th_now_ms();
    body = many_records("frame", "many", 100001);
    r = post_json(body);
    want_problem(&r, 413, "more than 100000", "100001 records");
    reply_release(&r);
    free(body);
    assert_int_equal(count("bucket=frame&key=many&currentState=false"), 0);
    body = many_records("frame", "many", 100000);
    ingest(body, 100000, 100000, 0, 0, "100000 records");
    free(body);
    assert_int_equal(count("bucket=frame&key=many&currentState=false"), 100000);
    {
        json_t *l = list("bucket=frame&key=many");

        want_summary(l, "C:0186A0#0*");
        json_decref(l);
    }
    print_message("100000-record batch: %ld ms\n", th_now_ms() - t0);
}

/* ---- the list API ------------------------------------------------------------ */

/* Keys (with bucket when several) of a list query, space separated. */
static char *
list_keys(const char *query, int with_bucket)
{
    json_t *l = list(query);
    json_t *res = json_object_get(l, "results");
    json_t *r;
    struct buf b;
    size_t i;
    char *cq;

    buf_init(&b, 0);
    buf_append(&b, "", 0);
    json_array_foreach(res, i, r)
    {
        buf_printf(&b, "%s%s%s%s", i ? " " : "", with_bucket ? th_jstr(r, "bucket") : "",
                   with_bucket ? "/" : "", th_jstr(r, "key"));
    }
    if (th_jint(json_object_get(l, "pagination"), "count") != (json_int_t)i)
        fail_msg("%s: pagination.count %lld, %zu results", query,
                 (long long)th_jint(json_object_get(l, "pagination"), "count"), i);
    /* /count agrees */
    cq = th_strf("%s", query);
    if (count(cq) != (json_int_t)i)
        fail_msg("%s: /count %lld, list %zu", query, (long long)count(cq), i);
    free(cq);
    json_decref(l);
    return buf_take(&b, NULL);
}

static void
want_keys(const char *query, int with_bucket, const char *want)
{
    char *got = list_keys(query, with_bucket);

    if (strcmp(got, want) != 0)
        fail_msg("?%s\n  got  [%s]\n  want [%s]", query, got, want);
    free(got);
}

/* query string from name, value pairs (values percent-encoded), NULL-terminated */
static char *
qs(const char *name, ...)
{
    struct buf b;
    va_list ap;
    const char *n = name;

    buf_init(&b, 0);
    buf_append(&b, "", 0);
    va_start(ap, name);
    while (n) {
        char *v = enc(va_arg(ap, const char *));

        buf_printf(&b, "%s%s=%s", b.len ? "&" : "", n, v);
        free(v);
        n = va_arg(ap, const char *);
    }
    va_end(ap);
    return buf_take(&b, NULL);
}

static void
want_keys_qs(char *query, int with_bucket, const char *want)
{
    want_keys(query, with_bucket, want);
    free(query);
}

static void
test_list_wildcards(void **state)
{
    static const char *const keys[] = {"a*b", "axb", "a?b", "a%b", "a_b", "a\\b", "ab", "abc"};
    static const char *const buckets[] = {"bk*t", "bkxt", "bk?t", "bk%t", "bk_t", "bk\\t"};
    json_t *recs = json_array();
    char *body;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *e = enc(keys[i]);

        json_array_append_new(recs, nrec("ObjectCreated:Put", "lst", e, NULL, "01", 1));
        free(e);
    }
    for (i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++)
        json_array_append_new(recs, nrec("ObjectCreated:Put", buckets[i], "o", NULL, "01", 1));
    body = dump(json_pack("{s:o}", "Records", recs));
    ingest(body, 14, 14, 0, 0, "wildcard keys");
    free(body);

    want_keys_qs(qs("bucket", "lst", NULL), 0, "a%b a*b a?b a\\b a_b ab abc axb");
    want_keys_qs(qs("bucket", "lst", "key", "a*b", NULL), 0, "a%b a*b a?b a\\b a_b ab axb");
    want_keys_qs(qs("bucket", "lst", "key", "a?b", NULL), 0, "a%b a*b a?b a\\b a_b axb");
    want_keys_qs(qs("bucket", "lst", "key", "a\\*b", NULL), 0, "a*b");
    want_keys_qs(qs("bucket", "lst", "key", "a\\?b", NULL), 0, "a?b");
    want_keys_qs(qs("bucket", "lst", "key", "a\\\\b", NULL), 0, "a\\b");
    want_keys_qs(qs("bucket", "lst", "key", "a%b", NULL), 0, "a%b");
    want_keys_qs(qs("bucket", "lst", "key", "a_b", NULL), 0, "a_b");
    want_keys_qs(qs("bucket", "lst", "key", "*%*", NULL), 0, "a%b");
    want_keys_qs(qs("bucket", "lst", "key", "*_*", NULL), 0, "a_b");
    want_keys_qs(qs("bucket", "lst", "key", "*\\\\*", NULL), 0, "a\\b");
    want_keys_qs(qs("bucket", "lst", "key", "*\\**", NULL), 0, "a*b");
    want_keys_qs(qs("bucket", "lst", "key", "??", NULL), 0, "ab");
    want_keys_qs(qs("bucket", "lst", "key", "a*", NULL), 0, "a%b a*b a?b a\\b a_b ab abc axb");
    want_keys_qs(qs("bucket", "lst", "key", "A*", NULL), 0, "");
    want_keys_qs(qs("bucket", "lst", "key", "a", NULL), 0, "");
    want_keys_qs(qs("bucket", "lst", "key[]", "ab", "key[]", "abc", NULL), 0, "ab abc");
    want_keys_qs(qs("bucket", "lst", "key", "ab", "key[]", "axb", NULL), 0, "ab axb");
    want_keys_qs(qs("bucket", "lst", "key", "ab", "key", "a\\?b", NULL), 0, "a?b ab");
    want_keys_qs(qs("bucket", "lst", "key[]", "nothing", "key[]", "ab*", NULL), 0, "ab abc");

    want_keys_qs(qs("bucket", "bk*t", NULL), 1, "bk%t/o bk*t/o bk?t/o bk\\t/o bk_t/o bkxt/o");
    want_keys_qs(qs("bucket", "bk?t", NULL), 1, "bk%t/o bk*t/o bk?t/o bk\\t/o bk_t/o bkxt/o");
    want_keys_qs(qs("bucket", "bk\\*t", NULL), 1, "bk*t/o");
    want_keys_qs(qs("bucket", "bk\\?t", NULL), 1, "bk?t/o");
    want_keys_qs(qs("bucket", "bk\\\\t", NULL), 1, "bk\\t/o");
    want_keys_qs(qs("bucket", "bk%t", NULL), 1, "bk%t/o");
    want_keys_qs(qs("bucket", "bk_t", NULL), 1, "bk_t/o");
    want_keys_qs(qs("bucket[]", "bkxt", "bucket[]", "bk\\*t", NULL), 1, "bk*t/o bkxt/o");
    want_keys_qs(qs("bucket", "bkxt", "bucket[]", "lst", "key", "o", NULL), 1, "bkxt/o");
    want_keys_qs(qs("bucket", "bk*", "key", "o", NULL), 1,
                 "bk%t/o bk*t/o bk?t/o bk\\t/o bk_t/o bkxt/o");

    /* an invalid escape is a 400 naming the parameter, as the filemanager refuses it */
    {
        static const char *const bad[][3] = {
            {"key", "a\\b", "key: invalid escape \"\\b\""},
            {"key", "a\\s*", "key: invalid escape \"\\s\""},
            {"key", "ab\\", "key: invalid escape: a trailing \\"},
            {"key[]", "a\\%", "key[]: invalid escape \"\\%\""},
            {"bucket", "bk\\t", "bucket: invalid escape \"\\t\""},
            {"bucket[]", "\\", "bucket[]: invalid escape: a trailing \\"},
            {"versionId", "v\\1", "versionId: invalid escape \"\\1\""},
            {"key", "a\\\xc3\xa9", "key: invalid escape \"\\\xc3\xa9\""},
        };

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char *q = qs(bad[i][0], bad[i][1], NULL);
            char *path = th_strf(OBJ_PATH "?bucket=lst&%s", q);
            struct reply r = get(path);

            want_problem(&r, 400, bad[i][2], path);
            reply_release(&r);
            free(path);
            path = th_strf(OBJ_PATH "/count?%s", q);
            r = get(path);
            want_problem(&r, 400, bad[i][2], path);
            reply_release(&r);
            free(path);
            free(q);
        }
    }
}

static void
test_list_filters(void **state)
{
    (void)state;
    post_spec("flt", "f1", "C@v1:01 C@v2:02", 2, 0);
    post_spec("flt", "f2", "C@v1:01 M@m2:02", 2, 0);
    post_spec("flt", "f3", "C:01 D:02", 2, 0);
    post_spec("flt", "f4", "C:01 C:03 D:02", 3, 0);

    want_keys("bucket=flt", 0, "f1 f4");
    want_keys("bucket=flt&currentState=true", 0, "f1 f4");
    want_keys("bucket=flt&currentState=false", 0, "f1 f1 f2 f2 f3 f3 f4 f4 f4");
    want_keys("bucket=flt&currentState=false&versionId=v1", 0, "f1 f2");
    want_keys("bucket=flt&versionId=v1", 0, "");
    want_keys("bucket=flt&versionId=v2", 0, "f1");
    want_keys("bucket=flt&currentState=false&versionId=null", 0, "f3 f3 f4 f4 f4");
    want_keys("bucket=flt&currentState=false&eventType=Deleted", 0, "f2 f3 f4");
    want_keys("bucket=flt&currentState=false&eventType=Created", 0, "f1 f1 f2 f3 f4 f4");
    want_keys("bucket=flt&eventType=Deleted", 0, "");
    want_keys("bucket=flt&currentState=false&isDeleteMarker=true", 0, "f2");
    want_keys("bucket=flt&isDeleteMarker=true", 0, "");
    want_keys("bucket=flt&currentState=false&isDeleteMarker=false", 0, "f1 f1 f2 f3 f3 f4 f4 f4");
    want_keys("bucket=flt&currentState=false&eventType=Created&versionId=v1&key=f2", 0, "f2");
    /* versionId takes wildcards as key and bucket do, and repeats are OR-ed */
    want_keys("bucket=flt&currentState=false&versionId=v%2A", 0, "f1 f1 f2");
    want_keys("bucket=flt&currentState=false&versionId=%3F2", 0, "f1 f2");
    want_keys("bucket=flt&currentState=false&versionId=%2A", 0, "f1 f1 f2 f2 f3 f3 f4 f4 f4");
    want_keys("bucket=flt&currentState=false&versionId=n%2A", 0, "f3 f3 f4 f4 f4");
    want_keys("bucket=flt&currentState=false&versionId=V%2A", 0, "");
    want_keys("bucket=flt&currentState=false&versionId=v", 0, "");
    want_keys("bucket=flt&currentState=false&versionId[]=v2&versionId[]=m%2A", 0, "f1 f2");
    want_keys("bucket=flt&versionId=v9&versionId=v2", 0, "f1");
    /* repeated single-valued filters: the last value is used */
    want_keys("bucket=flt&currentState=true&currentState=false&eventType=Created&"
              "eventType=Deleted",
              0, "f2 f3 f4");
    check_state("flt", "f4", "C:01#0 D:02#0 C:03#0*");
}

static void
test_list_order(void **state)
{
    static const char *const keys[] = {"a", "B", "_", "a/", "A", "b", "\xc3\xa9", "~"};
    json_t *recs = json_array();
    char *body;
    size_t i;

    (void)state;
    /* posted in scrambled order, buckets reversed, sequencers of key "a" out of order */
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_array_append_new(recs, nrec("ObjectCreated:Put", "ord-b", keys[i], NULL, "01", 1));
        json_array_append_new(recs, nrec("ObjectCreated:Put", "ord-a", keys[i], NULL, "01", 1));
    }
    json_array_append_new(recs, nrec("ObjectCreated:Put", "ord-a", "a", NULL, "3", 1));
    json_array_append_new(recs, nrec("ObjectRemoved:Delete", "ord-a", "a", NULL, "02", -1));
    json_array_append_new(recs, nrec("ObjectCreated:Put", "ord-a", "a", NULL, "0F", 1));
    body = dump(json_pack("{s:o}", "Records", recs));
    ingest(body, 19, 19, 0, 0, "order");
    free(body);
    /* byte order of keys (not a locale collation), then sequencer order */
    want_keys("bucket=ord-%2A", 1,
              "ord-a/A ord-a/B ord-a/_ ord-a/a ord-a/a/ ord-a/b ord-a/~ ord-a/\xc3\xa9 "
              "ord-b/A ord-b/B ord-b/_ ord-b/a ord-b/a/ ord-b/b ord-b/~ ord-b/\xc3\xa9");
    check_state("ord-a", "a", "C:01#0 D:02#0 C:0F#0 C:3#0*");
    /* `?` is one character, also a multi-byte one */
    want_keys("bucket=ord-a&key=%3F", 0, "A B _ a b ~ \xc3\xa9");
    want_keys("bucket=ord-a&key=%3F%3F", 0, "a/");
    /* HEAD answers like GET, without a body */
    {
        struct reply r = http("HEAD", OBJ_PATH "?bucket=ord-a", NULL, NULL, 0);

        want_status(&r, 200, "HEAD objects");
        assert_int_equal(r.len, 0);
        reply_release(&r);
    }
}

/* The link `got` must be the absolute URL http://HOST/api/v1/s3/objects?<query> (or null). */
static void
want_link(json_t *links, const char *name, const char *proto, const char *query)
{
    json_t *v = json_object_get(links, name);
    char *want;

    if (!query) {
        if (!json_is_null(v))
            fail_msg("links.%s = %s, want null", name, json_text(v));
        return;
    }
    want = th_strf("%s://%s" OBJ_PATH "?%s", proto, G.host, query);
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
        fail_msg("links.%s = %s, want \"%s\"", name, json_text(v), want);
    free(want);
}

static void
want_page(const char *query, json_int_t page, json_int_t rpp, const char *keys, const char *prev,
          const char *next)
{
    json_t *l = list(query);
    json_t *res = json_object_get(l, "results");
    json_t *r;
    struct buf b;
    size_t i;
    char *want_pg;

    buf_init(&b, 0);
    buf_append(&b, "", 0);
    json_array_foreach(res, i, r)
    {
        buf_printf(&b, "%s%s", i ? " " : "", th_jstr(r, "key"));
    }
    if (strcmp(b.data, keys) != 0)
        fail_msg("?%s: keys [%s], want [%s]", query, b.data, keys);
    want_pg = th_strf("{\"count\":5,\"page\":%lld,\"rowsPerPage\":%lld,\"countIsExact\":true}",
                      (long long)page, (long long)rpp);
    want_json(json_object_get(l, "pagination"), want_pg, query);
    if (json_object_size(l) != 3 || json_object_size(json_object_get(l, "links")) != 2)
        fail_msg("?%s: members of the list body", query);
    want_link(json_object_get(l, "links"), "previous", "http", prev);
    want_link(json_object_get(l, "links"), "next", "http", next);
    free(want_pg);
    buf_release(&b);
    json_decref(l);
}

static void
test_list_pages(void **state)
{
    const char *https[] = {"X-Forwarded-Proto: https", NULL};
    const char *ftp[] = {"X-Forwarded-Proto: ftp", NULL};
    json_t *l;
    json_t *rec;
    struct reply r;
    char *path;
    char *id;
    size_t i;

    (void)state;
    for (i = 1; i <= 5; i++) {
        char key[8];

        snprintf(key, sizeof(key), "k%zu", i);
        post_spec("pgn", key, "C:01", 1, 0);
    }
    want_page("bucket=pgn&rowsPerPage=2", 1, 2, "k1 k2", NULL, "bucket=pgn&rowsPerPage=2&page=2");
    want_page("bucket=pgn&rowsPerPage=2&page=2", 2, 2, "k3 k4", "bucket=pgn&rowsPerPage=2&page=1",
              "bucket=pgn&rowsPerPage=2&page=3");
    want_page("page=3&bucket=pgn&rowsPerPage=2", 3, 2, "k5", "bucket=pgn&rowsPerPage=2&page=2",
              NULL);
    want_page("bucket=pgn&rowsPerPage=2&page=4", 4, 2, "", "bucket=pgn&rowsPerPage=2&page=3", NULL);
    want_page("bucket=pgn&rowsPerPage=2&page=1000000000", 1000000000, 2, "",
              "bucket=pgn&rowsPerPage=2&page=999999999", NULL);
    want_page("bucket=pgn&rowsPerPage=5", 1, 5, "k1 k2 k3 k4 k5", NULL, NULL);
    want_page("bucket=pgn&rowsPerPage=4", 1, 4, "k1 k2 k3 k4", NULL,
              "bucket=pgn&rowsPerPage=4&page=2");
    want_page("bucket=pgn", 1, 1000, "k1 k2 k3 k4 k5", NULL, NULL);
    want_page("bucket=pgn&rowsPerPage=10000", 1, 10000, "k1 k2 k3 k4 k5", NULL, NULL);
    /* rowsPerPage=0 is the default, as the filemanager reads it */
    want_page("bucket=pgn&rowsPerPage=0", 1, 1000, "k1 k2 k3 k4 k5", NULL, NULL);
    want_page("bucket=pgn&rowsPerPage=0&page=2", 2, 1000, "", "bucket=pgn&rowsPerPage=0&page=1",
              NULL);
    assert_int_equal(count("bucket=pgn&rowsPerPage=0"), 5);
    want_page("bucket=pgn&currentState=true&rowsPerPage=1&page=3", 3, 1, "k3",
              "bucket=pgn&currentState=true&rowsPerPage=1&page=2",
              "bucket=pgn&currentState=true&rowsPerPage=1&page=4");
    /* repeated page / rowsPerPage: the first value is used */
    want_page("bucket=pgn&rowsPerPage=2&rowsPerPage=3&page=2&page=1", 2, 2, "k3 k4",
              "bucket=pgn&rowsPerPage=2&rowsPerPage=3&page=1",
              "bucket=pgn&rowsPerPage=2&rowsPerPage=3&page=3");

    /* X-Forwarded-Proto */
    r = http("GET", OBJ_PATH "?bucket=pgn&rowsPerPage=2&page=2", https, NULL, 0);
    want_status(&r, 200, "https");
    l = reply_json(&r);
    want_link(json_object_get(l, "links"), "previous", "https", "bucket=pgn&rowsPerPage=2&page=1");
    want_link(json_object_get(l, "links"), "next", "https", "bucket=pgn&rowsPerPage=2&page=3");
    json_decref(l);
    reply_release(&r);
    r = http("GET", OBJ_PATH "?bucket=pgn&rowsPerPage=2", ftp, NULL, 0);
    l = reply_json(&r);
    want_link(json_object_get(l, "links"), "next", "http", "bucket=pgn&rowsPerPage=2&page=2");
    json_decref(l);
    reply_release(&r);

    /* following the links with wildcards walks every page once */
    {
        char *next = xstrdup(OBJ_PATH "?bucket=pg%3F&key=k%2A&rowsPerPage=2");
        struct buf seen;
        int pages = 0;
        size_t prefix = strlen("http://") + strlen(G.host);

        buf_init(&seen, 0);
        buf_append(&seen, "", 0);
        while (next) {
            json_t *n;
            json_t *res;
            json_t *x;
            size_t k;

            r = get(next);
            want_status(&r, 200, next);
            l = reply_json(&r);
            res = json_object_get(l, "results");
            json_array_foreach(res, k, x)
            {
                buf_printf(&seen, "%s%s", seen.len ? " " : "", th_jstr(x, "key"));
            }
            free(next);
            next = NULL;
            n = json_object_get(json_object_get(l, "links"), "next");
            if (json_is_string(n)) {
                assert_true(strlen(json_string_value(n)) > prefix);
                assert_memory_equal(json_string_value(n), "http://", 7);
                next = xstrdup(json_string_value(n) + prefix);
            }
            json_decref(l);
            reply_release(&r);
            pages++;
            assert_true(pages <= 3);
        }
        assert_int_equal(pages, 3);
        assert_string_equal(seen.data, "k1 k2 k3 k4 k5");
        buf_release(&seen);
    }

    /* /count takes the same parameters; page/rowsPerPage do not change it */
    r = get(OBJ_PATH "/count?bucket=pgn&rowsPerPage=2&page=3");
    want_status(&r, 200, "count");
    l = reply_json(&r);
    want_json(l, "{\"nRecords\":5}", "count with pages");
    json_decref(l);
    reply_release(&r);
    assert_int_equal(count("bucket=pgn&key=k1&currentState=false"), 1);
    assert_int_equal(count("bucket=nothing-here"), 0);

    /* 400s, for the list and the count */
    {
        static const struct {
            const char *query;
            const char *detail;
        } bad[] = {
            {"page=0", "page"},
            {"page=-1", "page"},
            {"page=abc", "page"},
            {"page=1000000001", "page"},
            {"page=", "page"},
            {"rowsPerPage=10001", "rowsPerPage"},
            {"rowsPerPage=2x", "rowsPerPage"},
            {"foo=1", "foo"},
            {"bucket=pgn&limit=10", "limit"},
            {"eventType=created", "eventType"},
            {"isDeleteMarker=yes", "isDeleteMarker"},
            {"currentState=1", "currentState"},
            {"key=%FF", "key"},
        };

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            path = th_strf(OBJ_PATH "?%s", bad[i].query);
            r = get(path);
            want_problem(&r, 400, bad[i].detail, path);
            reply_release(&r);
            free(path);
            path = th_strf(OBJ_PATH "/count?%s", bad[i].query);
            r = get(path);
            want_problem(&r, 400, bad[i].detail, path);
            reply_release(&r);
            free(path);
        }
    }

    /* /{id} */
    l = list("bucket=pgn&key=k2");
    rec = json_incref(json_array_get(json_object_get(l, "results"), 0));
    json_decref(l);
    id = xstrdup(th_jstr(rec, "s3ObjectId"));
    path = th_strf(OBJ_PATH "/%s", id);
    r = get(path);
    want_status(&r, 200, path);
    l = reply_json(&r);
    if (!json_equal(l, rec))
        fail_msg("GET %s: %s\nwant %s", path, r.body, json_text(rec));
    json_decref(l);
    reply_release(&r);
    free(path);
    r = get(OBJ_PATH "/00000000-0000-4000-8000-000000000000");
    want_problem(&r, 404, NULL, "unknown uuid");
    reply_release(&r);
    r = get(OBJ_PATH "/not-a-uuid");
    want_problem(&r, 404, NULL, "not a uuid");
    reply_release(&r);
    r = get(OBJ_PATH "/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz");
    want_problem(&r, 404, NULL, "uuid-shaped non-hex");
    reply_release(&r);
    r = http("DELETE", OBJ_PATH, NULL, NULL, 0);
    want_problem(&r, 405, NULL, "DELETE objects");
    reply_release(&r);

    /* without a Host header (HTTP/1.0) the links are relative */
    G.http10 = 1;
    r = http("GET", OBJ_PATH "?bucket=pgn&rowsPerPage=2&page=2", NULL, NULL, 0);
    want_status(&r, 200, "HTTP/1.0 without Host");
    l = reply_json(&r);
    want_json(json_object_get(l, "links"),
              "{\"previous\":\"" OBJ_PATH "?bucket=pgn&rowsPerPage=2&page=1\","
              "\"next\":\"" OBJ_PATH "?bucket=pgn&rowsPerPage=2&page=3\"}",
              "relative links");
    json_decref(l);
    reply_release(&r);

    /* at most 100 bucket / key values */
    {
        struct buf q;

        buf_init(&q, 0);
        buf_append_str(&q, OBJ_PATH "?bucket=pgn");
        for (i = 1; i < 100; i++)
            buf_printf(&q, "&bucket[]=x%zu", i);
        r = get(q.data);
        want_status(&r, 200, "100 bucket values");
        l = reply_json(&r);
        assert_int_equal(th_jint(json_object_get(l, "pagination"), "count"), 5);
        json_decref(l);
        reply_release(&r);
        buf_printf(&q, "&bucket=x100");
        r = get(q.data);
        want_problem(&r, 400, "at most 100", "101 bucket values");
        reply_release(&r);
        buf_reset(&q);
        buf_append_str(&q, OBJ_PATH "?bucket=pgn");
        for (i = 0; i < 101; i++)
            buf_printf(&q, "&key=k%zu", i);
        r = get(q.data);
        want_problem(&r, 400, "at most 100", "101 key values");
        reply_release(&r);
        buf_release(&q);
    }
    json_decref(rec);
    free(id);
}

/* The body of GET path (want 200). */
static json_t *
body_of(const char *path)
{
    struct reply r = get(path);
    json_t *j;

    want_status(&r, 200, path);
    j = reply_json(&r);
    reply_release(&r);
    return j;
}

/* The filemanager's paths answer as the objects routes; literal siblings keep theirs. */
static void
test_filemanager_paths(void **state)
{
    json_t *fm;
    json_t *ours;
    json_t *rec;
    struct reply r;
    char *want;
    char *path;
    char *allow;

    (void)state;
    /* GET /api/v1/s3: the list, its links on the path asked for */
    fm = body_of("/api/v1/s3?bucket=pgn&rowsPerPage=2&page=2");
    ours = body_of(OBJ_PATH "?bucket=pgn&rowsPerPage=2&page=2");
    if (!json_equal(json_object_get(fm, "results"), json_object_get(ours, "results")) ||
        !json_equal(json_object_get(fm, "pagination"), json_object_get(ours, "pagination")))
        fail_msg("/api/v1/s3 differs from " OBJ_PATH ": %s", json_text(fm));
    want = th_strf("http://%s/api/v1/s3?bucket=pgn&rowsPerPage=2&page=3", G.host);
    assert_string_equal(th_jstr(json_object_get(fm, "links"), "next"), want);
    free(want);
    want = th_strf("http://%s/api/v1/s3?bucket=pgn&rowsPerPage=2&page=1", G.host);
    assert_string_equal(th_jstr(json_object_get(fm, "links"), "previous"), want);
    free(want);
    json_decref(ours);
    json_decref(fm);
    /* the same filters, defaults and 400s */
    r = get("/api/v1/s3?key=k%5Cx");
    want_problem(&r, 400, "key: invalid escape", "/api/v1/s3 bad escape");
    reply_release(&r);
    r = get("/api/v1/s3?page=0");
    want_problem(&r, 400, "page", "/api/v1/s3 page=0");
    reply_release(&r);
    fm = body_of("/api/v1/s3?bucket=pgn&rowsPerPage=0");
    want_json(json_object_get(fm, "pagination"),
              "{\"count\":5,\"page\":1,\"rowsPerPage\":1000,\"countIsExact\":true}",
              "/api/v1/s3 rowsPerPage=0");
    json_decref(fm);

    /* GET /api/v1/s3/count */
    fm = body_of("/api/v1/s3/count?bucket=pgn&key=k%3F&currentState=false");
    want_json(fm, "{\"nRecords\":5}", "/api/v1/s3/count");
    json_decref(fm);

    /* GET /api/v1/s3/{id}: the record; an id that is not a UUID is 404 */
    ours = body_of(OBJ_PATH "?bucket=pgn&key=k3");
    rec = json_array_get(json_object_get(ours, "results"), 0);
    path = th_strf("/api/v1/s3/%s", th_jstr(rec, "s3ObjectId"));
    fm = body_of(path);
    if (!json_equal(fm, rec))
        fail_msg("GET %s: %s\nwant %s", path, json_text(fm), json_text(rec));
    json_decref(fm);
    r = http("HEAD", path, NULL, NULL, 0);
    want_status(&r, 200, "HEAD /api/v1/s3/{id}");
    assert_int_equal(r.len, 0);
    reply_release(&r);
    r = http("DELETE", path, NULL, NULL, 0);
    want_problem(&r, 405, NULL, "DELETE /api/v1/s3/{id}");
    allow = reply_header(&r, "Allow");
    assert_string_equal(allow, "GET, HEAD, PATCH"); /* PATCH: annotations (test_s3_filters.c) */
    free(allow);
    reply_release(&r);
    free(path);
    json_decref(ours);
    r = get("/api/v1/s3/00000000-0000-4000-8000-000000000000");
    want_problem(&r, 404, "no such object record", "unknown uuid");
    reply_release(&r);
    r = get("/api/v1/s3/not-a-uuid");
    want_problem(&r, 404, "no such object record", "/api/v1/s3/not-a-uuid");
    reply_release(&r);
    r = http("HEAD", "/api/v1/s3?bucket=pgn", NULL, NULL, 0);
    want_status(&r, 200, "HEAD /api/v1/s3");
    assert_int_equal(r.len, 0);
    reply_release(&r);
    r = http("POST", "/api/v1/s3", NULL, NULL, 0);
    want_problem(&r, 405, NULL, "POST /api/v1/s3");
    reply_release(&r);

    /* literal siblings win over {id}: their answers are unchanged */
    r = get(EV_PATH);
    want_problem(&r, 405, NULL, "GET " EV_PATH);
    allow = reply_header(&r, "Allow");
    assert_string_equal(allow, "POST");
    free(allow);
    reply_release(&r);
    r = get("/api/v1/s3/inventories");
    want_status(&r, 200, "GET /api/v1/s3/inventories");
    reply_release(&r);
    fm = body_of(OBJ_PATH "/count?bucket=pgn");
    want_json(fm, "{\"nRecords\":5}", OBJ_PATH "/count");
    json_decref(fm);
    r = http("PUT", "/api/v1/s3/count", NULL, NULL, 0);
    want_problem(&r, 405, NULL, "PUT /api/v1/s3/count");
    allow = reply_header(&r, "Allow");
    assert_string_equal(allow, "GET, HEAD");
    free(allow);
    reply_release(&r);
}

/* ---- the invariant -------------------------------------------------------- */

static void
test_invariant(void **state)
{
    PGresult *res;
    char *n;

    (void)state;
    res = th_pg_exec(G.pg, "SELECT bucket, key, count(*) FROM s3_objects WHERE is_current "
                           "GROUP BY 1, 2 HAVING count(*) > 1");
    if (PQntuples(res) != 0)
        fail_msg("%d keys with more than one current record, e.g. %s/%s", PQntuples(res),
                 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    PQclear(res);
    n = th_pg_scalar(G.pg, "SELECT count(*) FROM s3_objects WHERE is_current AND "
                           "(is_delete_marker OR event_type <> 'Created')");
    assert_string_equal(n, "0");
    free(n);
    n = th_pg_scalar(G.pg, "SELECT count(*) FROM s3_objects WHERE version_id IS NULL OR "
                           "sequencer IS NULL");
    assert_string_equal(n, "0");
    free(n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario_table),
        cmocka_unit_test(test_versioned_history),
        cmocka_unit_test(test_720_orders),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_duplicates_distinct_identity),
        cmocka_unit_test(test_sequencer_rules),
        cmocka_unit_test(test_generated_sequencers),
        cmocka_unit_test(test_generated_before_zero_sequencer),
        cmocka_unit_test(test_accepted_shapes),
        cmocka_unit_test(test_ignored_events),
        cmocka_unit_test(test_field_rules),
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_malformed_bodies),
        cmocka_unit_test(test_body_framing),
        cmocka_unit_test(test_list_wildcards),
        cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_list_order),
        cmocka_unit_test(test_list_pages),
        cmocka_unit_test(test_filemanager_paths),
        cmocka_unit_test(test_invariant),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
