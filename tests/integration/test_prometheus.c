/*
 * test_prometheus.c - GET /metrics with real Prometheus tooling
 *
 * One PostgreSQL and one ingestd for the file. After a known sequence of
 * requests (uploads: created, duplicate, rejected; a merge; reads by id; an
 * unknown path) a scrape must pass `promtool check metrics` and show those
 * counts, the database gauges and route *patterns* as labels. A real
 * Prometheus (Debian package prometheus) then scrapes the server every
 * second and answers a PromQL query on one series. The alert rules and the
 * Grafana dashboard of deploy/ are checked with `promtool check rules`, and
 * every ingestd_* series they name must exist in a live scrape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "harness.h"

#define CSV "origin,path,branch,cloneUrl,changeset,publishUri\n"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    char *dir; /* temp dir for files */
} G;

static int
group_setup(void **state)
{
    char tmpl[] = "/tmp/thm.XXXXXX";

    (void)state;
    G.pg = th_pg_start();
    G.srv = th_ingestd_start(th_pg_url(G.pg), NULL);
    if (!mkdtemp(tmpl))
        return -1;
    G.dir = xstrdup(tmpl);
    return 0;
}

static int
group_teardown(void **state)
{
    char *cmd = th_strf("rm -rf %s", G.dir);

    (void)state;
    free(th_run(cmd, NULL));
    free(cmd);
    free(G.dir);
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    return 0;
}

static char *
scrape(void)
{
    struct th_resp r = th_get(th_ingestd_base(G.srv), "/metrics", NULL);
    char *ct = th_resp_header(&r, "Content-Type");
    char *body;

    if (r.status != 200)
        fail_msg("GET /metrics: %ld", r.status);
    assert_non_null(ct);
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    free(ct);
    body = xstrndup(r.body, r.len);
    th_resp_release(&r);
    return body;
}

static void
want_line(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
        p += n;
    }
    fail_msg("no line \"%s\" in the scrape:\n%.4000s", line, text);
}

static char *
write_file(const char *name, const char *text)
{
    char *path = th_strf("%s/%s", G.dir, name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void
post(const char *csv, long want)
{
    struct th_resp r = th_post_csv(th_ingestd_base(G.srv), "/api/v1/events", csv, NULL);

    if (r.status != want)
        fail_msg("POST /api/v1/events: %ld, want %ld: %s", r.status, want, r.body);
    th_resp_release(&r);
}

static void
test_scrape(void **state)
{
    const char *base = th_ingestd_base(G.srv);
    struct th_resp r;
    json_t *j;
    char *id, *path, *text, *cmd, *out;
    int rc;

    (void)state;
    post(CSV "https://m.example/a.git,a,main,https://m.example/a.git,c1,https://pub.example/a/c1\n",
         201);
    post(CSV "https://m.example/a.git,a,main,https://m.example/a.git,c1,https://pub.example/a/c1\n",
         200);
    post("origin,path\n\"broken\n", 400);
    post(CSV "https://m.example/b.git,b,main,https://m.example/b.git,c2,https://pub.example/b/c2\n",
         201);
    r = th_request("POST", base, "/api/v1/merges", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    r = th_get(base, "/api/v1/events?limit=1", NULL);
    j = th_resp_json(&r);
    id = xstrdup(th_jstr(json_array_get(json_object_get(j, "items"), 0), "id"));
    json_decref(j);
    th_resp_release(&r);
    path = th_strf("/api/v1/events/%s", id);
    r = th_get(base, path, NULL);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    r = th_get(base, "/no/such/path", NULL);
    assert_int_equal(r.status, 404);
    th_resp_release(&r);

    text = scrape();
    want_line(text, "ingestd_events_total{outcome=\"created\"} 2");
    want_line(text, "ingestd_events_total{outcome=\"duplicate\"} 1");
    want_line(text, "ingestd_events_total{outcome=\"rejected\"} 1");
    want_line(text, "ingestd_merges_total{status=\"succeeded\"} 1");
    want_line(text, "ingestd_merge_duration_seconds_count 1");
    want_line(text,
              "ingestd_http_requests_total{method=\"GET\",route=\"/api/v1/events/{id}\",status="
              "\"200\"} 1");
    want_line(text,
              "ingestd_http_requests_total{method=\"POST\",route=\"/api/v1/events\",status=\"201\"}"
              " 2");
    want_line(text,
              "ingestd_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1");
    want_line(text, "ingestd_events_pending 0");
    want_line(text, "ingestd_effective_generation 1");
    want_line(text, "ingestd_effective_rows 2");
    want_line(text, "ingestd_inventory_jobs{status=\"queued\"} 0");
    want_line(text, "ingestd_db_up 1");
    want_line(text, "ingestd_build_info{version=\"" INGESTD_VERSION "\"} 1");
    want_line(text, "# TYPE ingestd_db_pool_in_use gauge");
    want_line(text, "# TYPE ingestd_inventory_records_total counter");
    want_line(text, "# TYPE process_resident_memory_bytes gauge");
    if (strstr(text, id))
        fail_msg("an id appears in the scrape: labels must be route patterns");

    /* the exposition passes Prometheus' own linter */
    free(path);
    path = write_file("scrape.txt", text);
    cmd = th_strf("promtool check metrics < %s 2>&1", path);
    out = th_run(cmd, &rc);
    if (rc != 0)
        fail_msg("promtool check metrics (exit %d):\n%s", rc, out);
    free(out);
    free(cmd);
    free(path);
    free(text);
    free(id);
}

/* A loopback port nothing listens on now. */
static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void
test_prometheus_scrapes(void **state)
{
    char *cfg, *yml, *url, *log, *tsdb;
    int port = free_port();
    pid_t pid;
    long deadline;
    int found = 0;

    (void)state;
    yml = th_strf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                  "scrape_configs:\n  - job_name: ingestd\n    static_configs:\n"
                  "      - targets: ['127.0.0.1:%d']\n",
                  th_ingestd_port(G.srv));
    cfg = write_file("prometheus.yml", yml);
    tsdb = th_strf("%s/tsdb", G.dir);
    log = th_strf("%s/prometheus.log", G.dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *listen = th_strf("--web.listen-address=127.0.0.1:%d", port);
        char *cfgarg = th_strf("--config.file=%s", cfg);
        char *tsdbarg = th_strf("--storage.tsdb.path=%s", tsdb);

        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
            _exit(127);
        execlp("prometheus", "prometheus", cfgarg, tsdbarg, listen, (char *)NULL);
        _exit(127);
    }
    url = th_strf("http://127.0.0.1:%d/api/v1/query?query=ingestd_events_total%%7Boutcome%%3D"
                  "%%22created%%22%%7D",
                  port);
    deadline = th_now_ms() + 60000;
    while (!found && th_now_ms() < deadline) {
        struct th_resp r;

        th_sleep_ms(500);
        if (th_http("GET", url, NULL, NULL, 0, &r) == 0 && r.status == 200 &&
            strstr(r.body, "\"job\":\"ingestd\"") && strstr(r.body, ",\"2\"]"))
            found = 1;
        th_resp_release(&r);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (!found) {
        char *tail = th_strf("tail -20 %s", log);
        char *out = th_run(tail, NULL);

        fail_msg("Prometheus never answered ingestd_events_total{outcome=\"created\"} = 2:\n%s",
                 out);
    }
    free(url);
    free(log);
    free(tsdb);
    free(cfg);
    free(yml);
}

/* Every ingestd_* name in text (without _bucket/_sum/_count) must be a family of the scrape. */
static void
names_exist(const char *text, const char *scrape_text, const char *what)
{
    const char *p = text;

    while ((p = strstr(p, "ingestd_")) != NULL) {
        char name[128];
        size_t n = 0;
        char *type;
        size_t k;

        while (n < sizeof(name) - 1 &&
               ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') || p[n] == '_'))
            n++;
        memcpy(name, p, n);
        name[n] = '\0';
        p += n;
        for (k = 0; k < 3; k++) {
            static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
            size_t sl = strlen(suffixes[k]);

            if (n > sl && strcmp(name + n - sl, suffixes[k]) == 0)
                name[n - sl] = '\0';
        }
        type = th_strf("# TYPE %s ", name);
        if (!strstr(scrape_text, type))
            fail_msg("%s names %s, which /metrics does not serve", what, name);
        free(type);
    }
}

static void
test_rules_and_dashboard(void **state)
{
    char *root = th_source_dir();
    char *alerts = th_strf("%s/deploy/prometheus/alerts.yml", root);
    char *dash_path = th_strf("%s/deploy/grafana/ingestd-dashboard.json", root);
    char *scrape_text = scrape();
    struct buf rules;
    json_error_t jerr;
    json_t *dash, *panel, *target;
    size_t i, k;
    char *cmd, *out, *text, *path;
    size_t loglen;
    int rc;

    (void)state;
    cmd = th_strf("promtool check rules %s 2>&1", alerts);
    out = th_run(cmd, &rc);
    if (rc != 0)
        fail_msg("promtool check rules:\n%s", out);
    free(out);
    free(cmd);
    text = th_read_file(alerts, &loglen);
    names_exist(text, scrape_text, "alerts.yml");
    free(text);

    /* the dashboard's queries, as recording rules, must parse as PromQL */
    dash = json_load_file(dash_path, 0, &jerr);
    if (!dash)
        fail_msg("%s: %s", dash_path, jerr.text);
    buf_init(&rules, 0);
    buf_append_str(&rules, "groups:\n  - name: dashboard\n    rules:\n");
    json_array_foreach(json_object_get(dash, "panels"), i, panel)
    {
        json_array_foreach(json_object_get(panel, "targets"), k, target)
        {
            const char *expr = json_string_value(json_object_get(target, "expr"));
            struct buf e;
            const char *q;

            assert_non_null(expr);
            buf_init(&e, 0);
            for (q = expr; *q; q++) { /* $instance -> a regex matching all */
                if (strncmp(q, "$instance", 9) == 0) {
                    buf_append_str(&e, ".*");
                    q += 8;
                } else if (*q == '\'') {
                    buf_append_str(&e, "''");
                } else {
                    buf_append_char(&e, *q);
                }
            }
            buf_printf(&rules, "      - record: dashboard:panel%zu_%zu\n        expr: '%s'\n", i, k,
                       e.data);
            names_exist(expr, scrape_text, "the Grafana dashboard");
            buf_release(&e);
        }
    }
    json_decref(dash);
    path = write_file("dashboard_rules.yml", rules.data);
    cmd = th_strf("promtool check rules %s 2>&1", path);
    out = th_run(cmd, &rc);
    if (rc != 0)
        fail_msg("the dashboard's queries do not parse:\n%s", out);
    free(out);
    free(cmd);
    free(path);
    buf_release(&rules);
    free(scrape_text);
    free(dash_path);
    free(alerts);
    free(root);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrape),
        cmocka_unit_test(test_prometheus_scrapes),
        cmocka_unit_test(test_rules_and_dashboard),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
