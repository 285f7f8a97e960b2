/*
 * test_exports_bad.c - export targets that fail: unreachable, a full and a
 * read-only file system, a Git remote that rejects pushes, a bad
 * INGESTD_EXPORTS
 *
 * Merges stay fast and succeed whatever the targets do; a failing target
 * is retried with backoff and shows its error in GET /api/v1/exports, in
 * ingestd_export_failures_total and in the log; the first failure of a
 * streak is journaled once as io.ingestd.export.failed (webhooks). The full and read-only
 * file systems are tmpfs mounts of 64 KiB made by this test (it runs as
 * root, as the suite does) and unmounted by its teardown; the Git remote is
 * git-daemon(1) on loopback, so the repository's hooks run.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "harness.h"

#define WAIT_MS 20000

static struct {
    struct th_pg *pg;
    char *tmp;
    int n;
    pid_t daemon;
} G;

static char *
run_ok(const char *cmd)
{
    int status = -1;
    char *out = th_run(cmd, &status);

    if (status != 0)
        fail_msg("%s: exit %d: %s", cmd, status, out);
    return out;
}

/* Post a new event and merge; the generation. The merge must answer 200 within max_ms. */
static int64_t
merge_new(const char *base, long max_ms)
{
    char csv[256];
    struct th_resp r;
    json_t *m;
    int64_t gen;
    long t0;

    G.n++;
    snprintf(csv, sizeof(csv),
             "origin,path,branch,changeset,publishUri\ngithub.com,org/bad%d,main,c%d,u%d\n", G.n,
             G.n, G.n);
    r = th_post_csv(base, "/api/v1/events", csv, NULL);
    assert_int_equal(r.status, 201);
    th_resp_release(&r);
    t0 = th_now_ms();
    r = th_request("POST", base, "/api/v1/merges", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    if (th_now_ms() - t0 > max_ms)
        fail_msg("a merge took %ld ms with failing export targets", th_now_ms() - t0);
    m = th_resp_json(&r);
    gen = th_jint(m, "generation");
    json_decref(m);
    th_resp_release(&r);
    return gen;
}

static json_t *
export_item(const char *base, const char *target)
{
    struct th_resp r = th_get(base, "/api/v1/exports", NULL);
    json_t *body;
    json_t *it;
    json_t *found = NULL;
    size_t i;

    assert_int_equal(r.status, 200);
    body = th_resp_json(&r);
    json_array_foreach(json_object_get(body, "items"), i, it)
    {
        if (strcmp(th_jstr(it, "target"), target) == 0)
            found = json_incref(it);
    }
    json_decref(body);
    th_resp_release(&r);
    if (!found)
        fail_msg("no export target %s", target);
    return found;
}

/* Wait until target has failed at least `failures` times; its item. */
static json_t *
wait_failures(const char *base, const char *target, json_int_t failures)
{
    long t0 = th_now_ms();

    for (;;) {
        json_t *it = export_item(base, target);

        if (th_jint(it, "failures") >= failures)
            return it;
        json_decref(it);
        if (th_now_ms() - t0 > WAIT_MS)
            fail_msg("%s did not fail %lld times", target, (long long)failures);
        th_sleep_ms(20);
    }
}

static void
wait_held(const char *base, const char *target, int64_t gen)
{
    long t0 = th_now_ms();

    for (;;) {
        json_t *it = export_item(base, target);
        int64_t held = th_jint(it, "generation");

        json_decref(it);
        if (held >= gen)
            return;
        if (th_now_ms() - t0 > WAIT_MS)
            fail_msg("%s holds %lld, not %lld", target, (long long)held, (long long)gen);
        th_sleep_ms(20);
    }
}

static void
assert_error_has(json_t *it, const char *want)
{
    const char *e = th_jstr(it, "last_error");

    if (!strstr(e, want))
        fail_msg("last_error \"%s\" lacks \"%s\"", e, want);
}

/* A loopback port nothing listens on. */
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
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &len))
        fail_msg("no free port");
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- an unreachable target ------------------------------------------------------ */

static void
test_unreachable_target_backs_off(void **state)
{
    int port = free_port();
    char *target = th_strf("http://127.0.0.1:%d/effective.csv", port);
    char *exports = th_strf("INGESTD_EXPORTS=http://user:pw-9@127.0.0.1:%d/effective.csv", port);
    const char *env[] = {exports, "INGESTD_EXPORT_BACKOFF_MS=200", NULL};
    struct th_ingestd *p = th_ingestd_start(th_pg_url(G.pg), env);
    const char *base = th_ingestd_base(p);
    struct th_resp m;
    char *series;
    char *log;
    char *sql;
    char *journal;
    const char *at;
    json_t *it;
    json_int_t attempts;
    int i;

    (void)state;
    for (i = 0; i < 3; i++)
        merge_new(base, 1000); /* merges answer at once, whatever the target does */
    it = wait_failures(base, target, 1);
    json_decref(it);
    th_sleep_ms(3000);
    it = export_item(base, target);
    attempts = th_jint(it, "attempts");
    /* polled every 250 ms that would be ~12 attempts; backoff 200, 400, 800, 1600 ms: <= 6 */
    if (attempts < 2 || attempts > 7)
        fail_msg("%lld attempts in about 3 s", (long long)attempts);
    assert_int_equal(th_jint(it, "failures"), attempts);
    assert_int_equal(th_jint(it, "generation"), 0);
    assert_error_has(it, "127.0.0.1");
    assert_null(strstr(th_jstr(it, "last_error"), "pw-9"));
    assert_true(json_is_null(json_object_get(it, "last_success_at")));
    json_decref(it);
    m = th_get(base, "/metrics", NULL);
    series = th_strf("ingestd_export_failures_total{target=\"%s\"} ", target);
    at = strstr(m.body, series);
    assert_non_null(at);
    assert_true(atoi(at + strlen(series)) >= 2);
    th_resp_release(&m);
    assert_int_equal(th_ingestd_term(p), 0);
    log = th_read_file(th_ingestd_log(p), NULL);
    assert_non_null(strstr(log, "\"msg\":\"export failed\""));
    assert_null(strstr(log, "pw-9"));
    free(log);
    /* the streak's first failure, and only it, is journaled for the webhooks */
    sql = th_strf("SELECT count(*) || ' ' || bool_and((data->>'generation')::int BETWEEN 1 AND 3) "
                  "|| ' ' || "
                  "bool_and(data->>'error' LIKE '%%127.0.0.1%%' AND data::text NOT LIKE "
                  "'%%pw-9%%') FROM changes WHERE type = 'io.ingestd.export.failed' "
                  "AND subject = '%s'",
                  target);
    journal = th_pg_scalar(G.pg, sql);
    assert_string_equal(journal, "1 true true");
    free(journal);
    free(sql);
    th_ingestd_free(p);
    free(series);
    free(exports);
    free(target);
}

/* ---- a full and a read-only file system ------------------------------------------ */

static int
unmount_all(void **state)
{
    char *cmd = th_strf("umount %s/full %s/ro 2>/dev/null; true", G.tmp, G.tmp);

    (void)state;
    free(th_run(cmd, NULL));
    free(cmd);
    return 0;
}

static void
test_full_and_read_only_disks(void **state)
{
    char *full = th_strf("%s/full/effective.csv", G.tmp);
    char *ro = th_strf("%s/ro/effective.csv", G.tmp);
    char *exports = th_strf("INGESTD_EXPORTS=%s,%s", full, ro);
    const char *env[] = {exports, "INGESTD_EXPORT_BACKOFF_MS=200", NULL};
    struct th_ingestd *p;
    struct th_resp r;
    char *cmd;
    char *out;
    char *got;
    size_t len;
    json_t *it;
    int64_t gen;

    (void)state;
    cmd = th_strf("mkdir -p %s/full %s/ro && mount -t tmpfs -o size=64k tmpfs %s/full && "
                  "mount -t tmpfs -o ro,size=64k tmpfs %s/ro 2>&1",
                  G.tmp, G.tmp, G.tmp, G.tmp);
    free(run_ok(cmd)); /* root is needed to mount: the suite runs as root */
    free(cmd);
    cmd = th_strf("dd if=/dev/zero of=%s/full/filler bs=4096 2>/dev/null; ls -A %s/full", G.tmp,
                  G.tmp);
    out = run_ok(cmd);
    assert_string_equal(out, "filler\n");
    free(out);
    free(cmd);
    p = th_ingestd_start(th_pg_url(G.pg), env);
    gen = merge_new(th_ingestd_base(p), 1000);
    it = wait_failures(th_ingestd_base(p), full, 2);
    assert_error_has(it, "No space left on device");
    json_decref(it);
    it = wait_failures(th_ingestd_base(p), ro, 1);
    assert_error_has(it, "Read-only file system");
    json_decref(it);
    /* nothing half-written stays behind */
    cmd = th_strf("ls -A %s/full", G.tmp);
    out = run_ok(cmd);
    assert_string_equal(out, "filler\n");
    free(out);
    free(cmd);
    /* space again: the next retry lands the generation */
    cmd = th_strf("rm %s/full/filler", G.tmp);
    free(run_ok(cmd));
    free(cmd);
    wait_held(th_ingestd_base(p), full, gen);
    r = th_get(th_ingestd_base(p), "/api/v1/repos.csv", NULL);
    got = th_read_file(full, &len);
    assert_int_equal(len, r.len);
    assert_memory_equal(got, r.body, len);
    free(got);
    th_resp_release(&r);
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);
    free(exports);
    free(full);
    free(ro);
}

/* ---- Git: a remote that rejects pushes ------------------------------------------- */

static void
bare_repo(const char *name, const char *hook)
{
    char *cmd =
        th_strf("git init -q --bare -b main %s/git/%s && printf '%%s\\n' '#!/bin/sh' "
                "'%s' > %s/git/%s/hooks/pre-receive && chmod +x %s/git/%s/hooks/pre-receive",
                G.tmp, name, hook, G.tmp, name, G.tmp, name);

    free(run_ok(cmd));
    free(cmd);
}

static int
start_git_daemon(int port)
{
    char *base = th_strf("--base-path=%s/git", G.tmp);
    char *portarg = th_strf("--port=%d", port);
    char *dir = th_strf("%s/git", G.tmp);
    long t0 = th_now_ms();

    G.daemon = fork();
    if (G.daemon == 0) {
        char *log = th_strf("%s/git-daemon.log", G.tmp);
        FILE *f = freopen(log, "a", stderr); /* its messages about refused pushes */

        (void)f;
        execlp("git", "git", "daemon", "--reuseaddr", "--listen=127.0.0.1", portarg, base,
               "--export-all", "--enable=receive-pack", dir, (char *)NULL);
        _exit(127);
    }
    free(base);
    free(portarg);
    free(dir);
    while (th_now_ms() - t0 < 10000) { /* until it accepts */
        struct sockaddr_in a;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int ok;

        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return 0;
        th_sleep_ms(50);
    }
    return -1;
}

static int
stop_git_daemon(void **state)
{
    (void)state;
    if (G.daemon > 0) {
        kill(G.daemon, SIGTERM);
        waitpid(G.daemon, NULL, 0);
        G.daemon = 0;
    }
    return 0;
}

static void
test_git_push_rejected(void **state)
{
    int port = free_port();
    char *always = th_strf("git://127.0.0.1:%d/always.git:effective.csv", port);
    char *once = th_strf("git://127.0.0.1:%d/once.git:config/effective.csv", port);
    char *exports = th_strf("INGESTD_EXPORTS=%s,%s", always, once);
    const char *env[] = {exports, "INGESTD_EXPORT_BACKOFF_MS=200", NULL};
    struct th_ingestd *p;
    struct th_resp r;
    char *cmd;
    char *out;
    char *got;
    size_t len;
    json_t *it;
    int64_t gen;

    (void)state;
    bare_repo("always.git", "echo refused by policy >&2; exit 1");
    /* rejects the first push, accepts the next ones */
    cmd = th_strf("[ -e %s/git/declined ] || { touch %s/git/declined; echo not yet >&2; exit 1; }",
                  G.tmp, G.tmp);
    bare_repo("once.git", cmd);
    free(cmd);
    if (start_git_daemon(port))
        fail_msg("git daemon does not answer on port %d", port);
    p = th_ingestd_start(th_pg_url(G.pg), env);
    gen = merge_new(th_ingestd_base(p), 1000);
    wait_held(th_ingestd_base(p), once, gen); /* committed again on the tip and pushed */
    it = export_item(th_ingestd_base(p), once);
    assert_int_equal(th_jint(it, "failures"), 0); /* retried within the attempt */
    json_decref(it);
    it = wait_failures(th_ingestd_base(p), always, 1);
    assert_error_has(it, "push rejected 5 times, last: pre-receive hook declined");
    assert_int_equal(th_jint(it, "generation"), 0);
    json_decref(it);

    /* someone else pushes to the branch: the next generation lands on top of their commit */
    cmd = th_strf("cd %s && git clone -q git://127.0.0.1:%d/once.git other 2>&1 && cd other && "
                  "echo theirs > README && git add README && git -c user.name=t "
                  "-c user.email=t@t commit -qm theirs && git push -q origin main 2>&1",
                  G.tmp, port);
    free(run_ok(cmd));
    free(cmd);
    gen = merge_new(th_ingestd_base(p), 1000);
    wait_held(th_ingestd_base(p), once, gen);
    cmd =
        th_strf("cd %s/other && git pull -q 2>&1 && git log -3 --format=%%s && cat README", G.tmp);
    out = run_ok(cmd);
    got = th_strf("effective repos.csv generation %lld\ntheirs\n"
                  "effective repos.csv generation %lld\ntheirs\n",
                  (long long)gen, (long long)gen - 1);
    assert_string_equal(out, got);
    free(got);
    free(out);
    free(cmd);
    cmd = th_strf("%s/other/config/effective.csv", G.tmp);
    got = th_read_file(cmd, &len);
    r = th_get(th_ingestd_base(p), "/api/v1/repos.csv", NULL);
    assert_int_equal(len, r.len);
    assert_memory_equal(got, r.body, len);
    th_resp_release(&r);
    free(got);
    free(cmd);
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);
    free(exports);
    free(always);
    free(once);
}

/* ---- a bad INGESTD_EXPORTS stops the start ------------------------------------------ */

static void
test_bad_variable_stops_the_start(void **state)
{
    char *cmd = th_strf("env -i PATH=\"$PATH\" INGESTD_LISTEN=127.0.0.1:0 "
                        "INGESTD_EXPORTS='/ok.csv,https://u:sekret@h' %s serve 2>&1",
                        INGESTD_BIN);
    int status = 0;
    char *out = th_run(cmd, &status);

    (void)state;
    assert_int_equal(status, 2); /* a configuration error */
    assert_non_null(strstr(out, "INGESTD_EXPORTS: entry 2: expected http(s)://host/path"));
    assert_null(strstr(out, "sekret"));
    free(out);
    free(cmd);
    /* `ingestd config` shows the targets without credentials */
    cmd = th_strf("env -i PATH=\"$PATH\" INGESTD_EXPORTS='https://u:sekret@h/x.csv' "
                  "INGESTD_EXPORT_TOKEN=tok-77 %s config 2>&1",
                  INGESTD_BIN);
    out = th_run(cmd, &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "https://h/x.csv"));
    assert_null(strstr(out, "sekret"));
    assert_null(strstr(out, "tok-77"));
    free(out);
    free(cmd);
    /* the token from a file (a mounted Secret), never shown either */
    {
        char *tf = th_strf("%s/token", G.tmp);
        FILE *f = fopen(tf, "w");

        assert_non_null(f);
        fputs("tok-from-file\n", f);
        fclose(f);
        cmd = th_strf("env -i PATH=\"$PATH\" INGESTD_EXPORTS='https://h/x.csv' "
                      "INGESTD_EXPORT_TOKEN_FILE=%s %s config 2>&1",
                      tf, INGESTD_BIN);
        out = th_run(cmd, &status);
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "INGESTD_EXPORT_TOKEN_FILE <redacted>")); /* read, hidden */
        assert_null(strstr(out, "tok-from-file"));
        assert_null(strstr(out, "unknown variable"));
        free(out);
        free(cmd);
        free(tf);
    }
}

static int
group_setup(void **state)
{
    char tmpl[] = "/tmp/thexb.XXXXXX";

    (void)state;
    if (!mkdtemp(tmpl))
        return -1;
    G.tmp = strdup(tmpl);
    G.pg = th_pg_start();
    return 0;
}

static int
group_teardown(void **state)
{
    char *cmd = th_strf("rm -rf %s", G.tmp);

    unmount_all(state);
    stop_git_daemon(state);
    free(th_run(cmd, NULL));
    free(cmd);
    free(G.tmp);
    th_pg_free(G.pg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable_target_backs_off),
        cmocka_unit_test_teardown(test_full_and_read_only_disks, unmount_all),
        cmocka_unit_test_teardown(test_git_push_rejected, stop_git_daemon),
        cmocka_unit_test(test_bad_variable_stops_the_start),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
