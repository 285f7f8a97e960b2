/*
 * test_auth_routes.c - every route of the table behind its scope
 *
 * ingestd runs with tokens of each scope (one given as sha256:<hex>, one from
 * INGESTD_API_TOKENS_FILE). For every route of server/routes.c the test
 * knows a request that succeeds; a route it does not know fails the test, so
 * a new route cannot skip this. Per route: no token -> 401 problem+json with
 * WWW-Authenticate; an unknown token -> 401; the scope below -> 403 naming
 * the scope; the route's scope (Bearer, and Basic with the token as
 * password) -> 2xx. Open routes answer without a token. Then: no token or
 * Authorization value appears in the log; a rotated tokens file takes effect
 * on SIGHUP; malformed entries stop the start naming the variable and entry
 * number but not the token; auth off is warned about at start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hex.h"
#include "harness.h"
#include "server/auth.h"
#include "server/router.h"

#define CSV "origin,path,branch,cloneUrl,changeset,publishUri\n"
#define TOK_READ "read-tok-1f3a"
#define TOK_WRITE "write-tok-77c2"
#define TOK_ADMIN "admin-tok-9e04" /* configured by its SHA-256 only */
#define TOK_FILE "file-write-tok-5d1b"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    char *tokens_file;
    char *event_id; /* a merged event */
    char *merge_id;
    char *object_id;
    char *job_id;
    char *crawl_id;
    char *delivery_id; /* a failed webhook delivery */
} G;

/* (Re)write the tokens file G.tokens_file, created on first use. */
static void
write_tokens(const char *text)
{
    FILE *f;

    if (!G.tokens_file) {
        int fd;

        G.tokens_file = xstrdup("/tmp/thauth.XXXXXX");
        fd = mkstemp(G.tokens_file);
        assert_true(fd >= 0);
        close(fd);
    }
    f = fopen(G.tokens_file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
group_setup(void **state)
{
    unsigned char d[32];
    unsigned int n = 0;
    char hex[65];
    char *list;
    char *file_env;
    const char *env[6];

    (void)state;
    EVP_Digest(TOK_ADMIN, strlen(TOK_ADMIN), d, &n, EVP_sha256(), NULL);
    hex_encode(hex, d, 32);
    list = th_strf("INGESTD_API_TOKENS=read:" TOK_READ ",write:" TOK_WRITE ",admin:sha256:%s", hex);
    write_tokens("# rotated by the secret store\nwrite:" TOK_FILE "\n");
    file_env = th_strf("INGESTD_API_TOKENS_FILE=%s", G.tokens_file);
    env[0] = list;
    env[1] = file_env;
    /* credentials to presign with; S3 itself is a closed port (nothing is fetched) */
    env[2] = "AWS_ACCESS_KEY_ID=AKIDAUTHTEST";
    env[3] = "AWS_SECRET_ACCESS_KEY=auth/test/secret";
    env[4] = "AWS_ENDPOINT_URL=http://127.0.0.1:9";
    env[5] = NULL;
    G.pg = th_pg_start();
    G.srv = th_ingestd_start(th_pg_url(G.pg), env);
    free(list);
    free(file_env);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    unlink(G.tokens_file);
    free(G.tokens_file);
    free(G.event_id);
    free(G.merge_id);
    free(G.object_id);
    free(G.job_id);
    free(G.crawl_id);
    free(G.delivery_id);
    return 0;
}

/* One request with an Authorization value (NULL: none). */
static struct th_resp
call(const char *method, const char *path, const char *authorization, const char *ctype,
     const char *body)
{
    const char *h[3] = {NULL, NULL, NULL};
    char *auth = authorization ? th_strf("Authorization: %s", authorization) : NULL;
    char *ct = ctype ? th_strf("Content-Type: %s", ctype) : NULL;
    struct th_resp r;
    int k = 0;

    if (auth)
        h[k++] = auth;
    if (ct)
        h[k++] = ct;
    r = th_request(method, th_ingestd_base(G.srv), path, h, body, body ? strlen(body) : 0);
    free(auth);
    free(ct);
    return r;
}

static char *
bearer(const char *tok)
{
    return th_strf("Bearer %s", tok);
}

static char *
basic(const char *user, const char *tok)
{
    char *plain = th_strf("%s:%s", user, tok);
    size_t n = strlen(plain);
    char *out = xmalloc(4 * ((n + 2) / 3) + 8);

    strcpy(out, "Basic ");
    EVP_EncodeBlock((unsigned char *)out + 6, (unsigned char *)plain, (int)n);
    free(plain);
    return out;
}

/* The id of the JSON answer's member (malloc'd). */
static char *
json_id(struct th_resp *r, const char *member)
{
    json_t *j = th_resp_json(r);
    char *id = xstrdup(th_jstr(j, member));

    json_decref(j);
    return id;
}

/* Ids the {id} routes need, made with the admin token. */
static void
make_fixtures(void)
{
    char *admin = bearer(TOK_ADMIN);
    struct th_resp r;
    json_t *j;

    r = call("POST", "/api/v1/events", admin, "text/csv",
             CSV "https://a.example/x.git,x,main,u,c1,https://p/x\n");
    assert_int_equal(r.status, 201);
    G.event_id = json_id(&r, "id");
    th_resp_release(&r);
    r = call("POST", "/api/v1/merges", admin, NULL, NULL);
    assert_int_equal(r.status, 200);
    G.merge_id = json_id(&r, "id");
    th_resp_release(&r);
    r = call("POST", "/api/v1/s3/events", admin, "application/json",
             "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
             "\"eventName\":\"ObjectCreated:Put\",\"eventTime\":\"2026-01-01T00:00:00.000Z\","
             "\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"k\",\"size\":1,"
             "\"eTag\":\"e\",\"sequencer\":\"0A\"}}}]}");
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    r = call("GET", "/api/v1/s3/objects", admin, NULL, NULL);
    j = th_resp_json(&r);
    G.object_id = xstrdup(th_jstr(json_array_get(json_object_get(j, "results"), 0), "s3ObjectId"));
    json_decref(j);
    th_resp_release(&r);
    r = call("POST", "/api/v1/s3/inventories", admin, "application/json",
             "{\"bucket\":\"inv\",\"key\":\"auth/manifest.json\"}");
    assert_int_equal(r.status, 202);
    G.job_id = json_id(&r, "id");
    th_resp_release(&r);
    r = call("POST", "/api/v1/s3/crawl", admin, "application/json",
             "{\"bucket\":\"auth-crawl\",\"prefix\":\"fixture/\"}");
    assert_int_equal(r.status, 202);
    G.crawl_id = json_id(&r, "s3CrawlId");
    th_resp_release(&r);
    free(admin);
    /* the merge journaled a change; no URL is configured, so give it a failed delivery */
    G.delivery_id = th_pg_scalar(G.pg, "INSERT INTO webhook_deliveries (id, change_id, url, "
                                       "status, attempts) SELECT gen_random_uuid(), id, "
                                       "'http://127.0.0.1:9/hook', 'failed', 12 FROM changes "
                                       "WHERE type = 'io.ingestd.merge.completed' "
                                       "ORDER BY id LIMIT 1 RETURNING id");
    assert_non_null(G.delivery_id);
}

/* A pending event to delete (a new one per call). */
static char *
pending_event(void)
{
    static int n;
    char *admin = bearer(TOK_ADMIN);
    char *csv = th_strf(CSV "https://a.example/d%d.git,d,main,u,c,https://p/d\n", ++n);
    struct th_resp r = call("POST", "/api/v1/events", admin, "text/csv", csv);
    char *id;

    assert_int_equal(r.status, 201);
    id = json_id(&r, "id");
    th_resp_release(&r);
    free(csv);
    free(admin);
    return id;
}

struct probe {
    char *path;
    const char *ctype;
    char *body;
    long want; /* the 2xx with enough scope */
    long also; /* another status that also shows the request reached its handler (0: none) */
};

/* A request that succeeds on the route; fails the test for a route it does not know. */
static void
probe_for(const struct route *rt, struct probe *p)
{
    const char *m = rt->method;
    const char *pat = rt->pattern;

    memset(p, 0, sizeof(*p));
    p->want = 200;
    if (strcmp(pat, "/api/v1/events") == 0 && strcmp(m, "POST") == 0) {
        p->path = xstrdup(pat);
        p->ctype = "text/csv";
        p->body = xstrdup(CSV "https://a.example/p.git,p,main,u,c9,https://p/p\n");
        p->want = 0; /* 201 the first time, 200 (duplicate) after */
    } else if (strcmp(pat, "/api/v1/events/{id}") == 0 && strcmp(m, "DELETE") == 0) {
        char *id = pending_event();

        p->path = th_strf("/api/v1/events/%s", id);
        p->want = 204;
        free(id);
    } else if (strcmp(pat, "/api/v1/events/{id}") == 0 ||
               strcmp(pat, "/api/v1/events/{id}/content") == 0) {
        p->path =
            th_strf("/api/v1/events/%s%s", G.event_id, strstr(pat, "/content") ? "/content" : "");
    } else if (strcmp(pat, "/api/v1/events/pending/{name}") == 0) {
        /* as the old pipeline's publisher: curl -T (no Content-Type), then GET/HEAD */
        p->path = xstrdup("/api/v1/events/pending/repos-lock-auth-1-1.csv");
        if (strcmp(m, "PUT") == 0) {
            p->body = xstrdup(CSV "https://a.example/n.git,n,main,u,c3,https://p/n\n");
            p->want = 0; /* 201 the first time, 200 (the same name and bytes) after */
        }
    } else if (strcmp(pat, "/api/v1/merges/{id}") == 0) {
        p->path = th_strf("/api/v1/merges/%s", G.merge_id);
    } else if (strcmp(pat, "/api/v1/s3/objects/{id}") == 0) {
        p->path = th_strf("/api/v1/s3/objects/%s", G.object_id);
    } else if (strcmp(pat, "/api/v1/s3/{id}") == 0 && strcmp(m, "PATCH") == 0) {
        p->path = th_strf("/api/v1/s3/%s", G.object_id); /* the same ingest id every time */
        p->ctype = "application/json";
        p->body = xstrdup("{\"ingestId\":[{\"op\":\"add\",\"path\":\"/\",\"value\":"
                          "\"00000000-0000-4000-8000-000000000001\"}]}");
    } else if (strcmp(pat, "/api/v1/s3") == 0 && strcmp(m, "PATCH") == 0) {
        p->path = xstrdup("/api/v1/s3?bucket=auth-probe-matches-nothing");
        p->ctype = "application/json";
        p->body = xstrdup("[{\"op\":\"add\",\"path\":\"/probe\",\"value\":1}]");
    } else if (strcmp(pat, "/api/v1/s3/{id}") == 0) {
        p->path = th_strf("/api/v1/s3/%s", G.object_id); /* the filemanager's path */
    } else if (strcmp(pat, "/api/v1/s3/crawl") == 0 || strcmp(pat, "/api/v1/s3/crawl/sync") == 0) {
        p->path = xstrdup(pat);
        p->ctype = "application/json";
        p->body = xstrdup("{\"bucket\":\"auth-crawl\",\"prefix\":\"p/\"}");
        /* queued (202), or the sync one failing on the closed S3 port (502); 409 while the
         * crawl of an earlier call still runs */
        p->want = strstr(pat, "/sync") ? 502 : 202;
        p->also = 409;
    } else if (strcmp(pat, "/api/v1/s3/crawl/status/{id}") == 0) {
        p->path = th_strf("/api/v1/s3/crawl/status/%s", G.crawl_id);
    } else if (strcmp(pat, "/api/v1/s3/presign/{id}") == 0) {
        p->path = th_strf("/api/v1/s3/presign/%s", G.object_id);
    } else if (strcmp(pat, "/api/v1/s3/inventories/{id}") == 0) {
        p->path = th_strf("/api/v1/s3/inventories/%s", G.job_id);
    } else if (strcmp(pat, "/api/v1/feed") == 0) {
        p->path = xstrdup("/api/v1/feed?format=json");
    } else if (strcmp(pat, "/api/v1/webhooks/deliveries/{id}/retry") == 0) {
        /* failed -> pending the first time, pending stays pending after */
        p->path = th_strf("/api/v1/webhooks/deliveries/%s/retry", G.delivery_id);
    } else if (strcmp(pat, "/api/v1/repos.csv") == 0 && strcmp(m, "PUT") == 0) {
        p->path = xstrdup(pat);
        p->ctype = "text/csv";
        p->body = xstrdup(CSV "https://a.example/x.git,x,main,u,c1,https://p/x\n");
    } else if (strcmp(pat, "/api/v1/repos/diff") == 0) {
        p->path = xstrdup("/api/v1/repos/diff?from=0&to=0"); /* 0: history from the start */
    } else if (strcmp(pat, "/api/v1/merges") == 0 && strcmp(m, "POST") == 0) {
        p->path = xstrdup(pat);
    } else if (strcmp(pat, "/api/v1/s3/events") == 0) {
        p->path = xstrdup(pat);
        p->ctype = "application/json";
        p->body = xstrdup("{\"Records\":[]}");
    } else if (strcmp(pat, "/api/v1/s3/inventories") == 0 && strcmp(m, "POST") == 0) {
        p->path = xstrdup(pat);
        p->ctype = "application/json";
        p->body = xstrdup("{\"bucket\":\"inv\",\"key\":\"auth/manifest.json\"}");
        p->want = 202;
    } else if (strcmp(pat, "/api/v1/exports") == 0) {
        p->path = xstrdup(pat); /* admin; no INGESTD_EXPORTS here: an empty list */
    } else if (strcmp(pat, "/api/v1/repos/history") == 0) {
        /* the key of make_fixtures()'s event */
        p->path = xstrdup("/api/v1/repos/history?origin=https%3A%2F%2Fa.example%2Fx.git"
                          "&path=x&branch=main");
    } else if (strcmp(m, "GET") == 0 && !strchr(pat, '{')) {
        p->path = xstrdup(pat);
    } else {
        fail_msg("test_auth_routes does not know how to call %s %s: add it", m, pat);
    }
}

static void
want_2xx(const struct route *rt, const struct probe *p, const char *authorization)
{
    struct th_resp r = call(rt->method, p->path, authorization, p->ctype, p->body);

    if ((p->want && r.status != p->want && (!p->also || r.status != p->also)) ||
        (!p->want && r.status != 200 && r.status != 201))
        fail_msg("%s %s with scope %s: %ld, want %ld: %.300s", rt->method, p->path,
                 rt->scope ? rt->scope : "none", r.status, p->want, r.body ? r.body : "");
    th_resp_release(&r);
}

static void
want_denied(const struct route *rt, const struct probe *p, const char *authorization, long want)
{
    struct th_resp r = call(rt->method, p->path, authorization, p->ctype, p->body);
    char *ct = th_resp_header(&r, "Content-Type");
    char *www = th_resp_header(&r, "WWW-Authenticate");

    if (r.status != want)
        fail_msg("%s %s with %s: %ld, want %ld", rt->method, p->path,
                 authorization ? "a weaker token" : "no token", r.status, want);
    assert_non_null(ct);
    assert_string_equal(ct, "application/problem+json");
    if (want == 401) {
        assert_non_null(www);
        assert_string_equal(www, "Bearer realm=\"ingestd\"");
    } else {
        char *scope = th_strf("\"%s\"", rt->scope);
        json_t *j = th_resp_json(&r);

        if (!strstr(th_jstr(j, "detail"), scope))
            fail_msg("403 does not name the scope %s: %s", rt->scope, r.body);
        json_decref(j);
        free(scope);
    }
    free(ct);
    free(www);
    th_resp_release(&r);
}

static void
test_every_route(void **state)
{
    const char *by_scope[] = {NULL, TOK_READ, TOK_WRITE, TOK_ADMIN};
    size_t i;
    int checked = 0;

    (void)state;
    make_fixtures();
    for (i = 0; i < app_routes_count; i++) {
        const struct route *rt = &app_routes[i];
        int need = auth_scope_parse(rt->scope);
        struct probe p;
        char *a;

        assert_true(need >= 0);
        probe_for(rt, &p);
        if (need == AUTH_OPEN) {
            want_2xx(rt, &p, NULL);
        } else {
            want_denied(rt, &p, NULL, 401);
            want_denied(rt, &p, "Bearer not-a-known-token", 401);
            if (need > AUTH_READ) {
                a = bearer(by_scope[need - 1]);
                want_denied(rt, &p, a, 403);
                free(a);
            }
            a = bearer(by_scope[need]);
            if (strcmp(rt->method, "DELETE") == 0) { /* the first 2xx used the event up */
                want_2xx(rt, &p, a);
            } else {
                char *b = basic("publisher", by_scope[need]);

                want_2xx(rt, &p, a);
                want_2xx(rt, &p, b);
                free(b);
            }
            free(a);
            if (need < AUTH_ADMIN && strcmp(rt->method, "DELETE") != 0) {
                a = bearer(TOK_ADMIN); /* admin includes read and write */
                want_2xx(rt, &p, a);
                free(a);
            }
        }
        checked++;
        free(p.path);
        free(p.body);
    }
    assert_int_equal(checked, (int)app_routes_count);
}

static void
test_file_token_and_sighup(void **state)
{
    char *a = bearer(TOK_FILE);
    struct th_resp r;
    size_t loglen;
    char *log;

    (void)state;
    r = call("GET", "/api/v1/events", a, NULL, NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    /* rotate: the old file token goes, a new admin one comes */
    write_tokens("admin:rotated-admin-tok\n");
    kill(th_ingestd_pid(G.srv), SIGHUP);
    for (int i = 0; i < 50; i++) {
        th_sleep_ms(100);
        r = call("GET", "/api/v1/events", a, NULL, NULL);
        if (r.status == 401) {
            th_resp_release(&r);
            break;
        }
        th_resp_release(&r);
    }
    r = call("GET", "/api/v1/events", a, NULL, NULL);
    assert_int_equal(r.status, 401);
    th_resp_release(&r);
    free(a);
    a = bearer("rotated-admin-tok");
    r = call("PUT", "/api/v1/repos.csv", a, "text/csv", CSV);
    assert_true(r.status == 200 || r.status == 201);
    th_resp_release(&r);
    free(a);
    /* a broken file keeps the previous set */
    write_tokens("admin:rotated-admin-tok\nnot-an-entry-secret\n");
    kill(th_ingestd_pid(G.srv), SIGHUP);
    th_sleep_ms(500);
    a = bearer("rotated-admin-tok");
    r = call("GET", "/api/v1/events", a, NULL, NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    free(a);
    th_sleep_ms(200);
    log = th_read_file(th_ingestd_log(G.srv), &loglen);
    assert_non_null(strstr(log, "tokens reloaded"));
    assert_non_null(strstr(log, "INGESTD_API_TOKENS_FILE: entry 2"));
    /* no token, no Authorization value in the log */
    {
        static const char *const secrets[] = {TOK_READ,
                                              TOK_WRITE,
                                              TOK_ADMIN,
                                              TOK_FILE,
                                              "rotated-admin-tok",
                                              "not-an-entry-secret",
                                              "Authorization",
                                              "Basic "};
        size_t i;

        for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
            if (strstr(log, secrets[i]))
                fail_msg("the log shows \"%s\"", secrets[i]);
    }
    free(log);
}

/* ingestd serve with the given token variables; its exit status and output. */
static char *
start_with(const char *vars, int *status)
{
    char *cmd = th_strf("env -i PATH=/usr/bin:/bin INGESTD_LISTEN=127.0.0.1:0 "
                        "INGESTD_DATA_DIR=/nonexistent/ingestd-auth %s timeout 10 %s serve 2>&1",
                        vars, INGESTD_BIN);
    char *out = th_run(cmd, status);

    free(cmd);
    return out;
}

static void
test_bad_entries_stop_the_start(void **state)
{
    static const struct {
        const char *vars;
        const char *want;
    } cases[] = {
        {"INGESTD_API_TOKENS=read:ok,reader:sekrit-one", "INGESTD_API_TOKENS: entry 2"},
        {"INGESTD_API_TOKENS=sekrit-two", "INGESTD_API_TOKENS: entry 1"},
        {"INGESTD_API_TOKENS=admin:sha256:sekrit", "entry 1: sha256: wants 64 hex digits"},
        {"INGESTD_API_TOKENS=", "INGESTD_API_TOKENS: no token"},
        {"INGESTD_API_TOKENS_FILE=/nonexistent/tokens", "INGESTD_API_TOKENS_FILE: cannot open"},
        {"DATABASE_URL=x DATABASE_URL_FILE=/etc/hostname", "set one of them"},
    };
    size_t i;
    int status;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = start_with(cases[i].vars, &status);

        if (status != 2 || !strstr(out, cases[i].want) || strstr(out, "sekrit"))
            fail_msg("%s: exit %d, want 2 and \"%s\" without the token:\n%s", cases[i].vars, status,
                     cases[i].want, out);
        free(out);
    }
}

static void
test_auth_off_is_warned(void **state)
{
    struct th_ingestd *open_srv = th_ingestd_start(th_pg_url(G.pg), NULL);
    char *log;
    size_t loglen;
    struct th_resp r;

    (void)state;
    r = th_request("PUT", th_ingestd_base(open_srv), "/api/v1/repos.csv",
                   (const char *const[]){"Content-Type: text/csv", NULL}, CSV, strlen(CSV));
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    log = th_read_file(th_ingestd_log(open_srv), &loglen);
    assert_non_null(strstr(log, "auth is off: every route is open"));
    free(log);
    th_ingestd_free(open_srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route),
        cmocka_unit_test(test_file_token_and_sighup),
        cmocka_unit_test(test_bad_entries_stop_the_start),
        cmocka_unit_test(test_auth_off_is_warned),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
