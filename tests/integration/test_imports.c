/*
 * test_imports.c - the old pipeline's publishers against a real ingestd
 *
 * Shell snippets behave exactly as the folder/bucket pipeline's publishers
 * do (a plain, non-atomic `cp` into <location>/pending/, a writer that stops
 * half way, `curl -T` with Bearer and with Basic followed by `curl -I`), and
 * the test checks what ingestd made of them: events (source = file name),
 * files moved to processed/YYYY-MM-DD/, refused ones in failed/ beside the
 * problem a POST would get, a 100 MB file, a symlink, names no publisher
 * should use, a processed/ that cannot be written, a kill -9 between the
 * commit and the move (INGESTD_TEST_CRASH_AT), and two replicas importing
 * one folder. Real PostgreSQL, the real binary, real curl and sh. The S3
 * publisher is test_imports_s3.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "harness.h"

#define TOK_WRITE "imp-write-token"
#define TOK_ADMIN "imp-admin-token"
#define HEADER "origin,path,branch,cloneUrl,changeset,publishUri\n"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    char *root; /* /tmp/timp.XXXXXX */
    char *loc;  /* the main instance's import location */
} G;

/* ---- helpers -------------------------------------------------------------- */

static long long
sql_ll(const char *sql)
{
    return th_pg_ll(G.pg, sql);
}

/* Run a shell command; fail the test unless it exits 0. Returns its stdout (caller frees). */
static char *
sh(const char *cmd)
{
    int status = -1;
    char *out = th_run(cmd, &status);

    if (status != 0)
        fail_msg("exit %d: %s\n%s", status, cmd, out);
    return out;
}

static void
sh0(const char *cmd)
{
    free(sh(cmd));
}

/* Wait up to timeout_ms until `sql` (one number) gives want. */
static void
wait_sql(const char *sql, long long want, long timeout_ms)
{
    long deadline = th_now_ms() + timeout_ms;
    long long got = -1;

    while (th_now_ms() < deadline) {
        got = sql_ll(sql);
        if (got == want)
            return;
        th_sleep_ms(100);
    }
    fail_msg("after %ld ms, %s gives %lld, want %lld", timeout_ms, sql, got, want);
}

static int
exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void
wait_path(const char *path, int want, long timeout_ms)
{
    long deadline = th_now_ms() + timeout_ms;

    while (th_now_ms() < deadline) {
        if (exists(path) == want)
            return;
        th_sleep_ms(100);
    }
    fail_msg("after %ld ms, %s %s", timeout_ms, path, want ? "is missing" : "is still there");
}

static char *
today(void)
{
    time_t now = time(NULL);
    struct tm tm;
    char d[16];

    gmtime_r(&now, &tm);
    strftime(d, sizeof(d), "%Y-%m-%d", &tm);
    return xstrdup(d);
}

/* A unique, valid repos-lock.csv written to `path` (rows rows tagged with tag). */
static void
write_csv(const char *path, const char *tag, int rows)
{
    FILE *f = fopen(path, "w");
    int i;

    assert_non_null(f);
    fputs(HEADER, f);
    for (i = 0; i < rows; i++)
        fprintf(f, "github.com,org/%s-%d,main,https://github.com/org/%s-%d,h%d,https://a/%s.jar\n",
                tag, i, tag, i, i, tag);
    fclose(f);
}

static char *
sha256_file(const char *path)
{
    size_t len = 0;
    char *data = th_read_file(path, &len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char *hex = xmalloc(65);
    unsigned int i;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    free(data);
    return hex;
}

static long long
events_of(const char *source)
{
    char *sql = th_strf("SELECT count(*) FROM events WHERE source = '%s'", source);
    long long n = sql_ll(sql);

    free(sql);
    return n;
}

/* The value of a metric series (the whole line's prefix up to the value) in /metrics. */
static double
metric(struct th_ingestd *srv, const char *series)
{
    struct th_resp r = th_get(th_ingestd_base(srv), "/metrics", NULL);
    const char *p = r.body ? strstr(r.body, series) : NULL;
    double v = -1;

    if (p)
        v = strtod(p + strlen(series), NULL);
    th_resp_release(&r);
    return v;
}

static long
count_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    long n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static struct th_ingestd *
start_importer(const char *dburl, const char *location, const char *extra)
{
    char *imports = th_strf("INGESTD_IMPORTS=%s", location);
    const char *env[] = {imports, "INGESTD_IMPORT_RESCAN=1",
                         "INGESTD_API_TOKENS=write:" TOK_WRITE ",admin:" TOK_ADMIN, extra, NULL};
    struct th_ingestd *srv = th_ingestd_start(dburl, env);

    free(imports);
    return srv;
}

/* ---- fixtures -------------------------------------------------------------- */

static int
group_setup(void **state)
{
    char tmpl[] = "/tmp/timp.XXXXXX";

    (void)state;
    if (!mkdtemp(tmpl))
        return -1;
    chmod(tmpl, 0755);
    G.root = xstrdup(tmpl);
    G.loc = th_strf("%s/main", G.root);
    mkdir(G.loc, 0755);
    G.pg = th_pg_start();
    PQclear(th_pg_exec(G.pg, "CREATE DATABASE ingestd_crash"));
    PQclear(th_pg_exec(G.pg, "CREATE DATABASE ingestd_replicas"));
    G.srv = start_importer(th_pg_url(G.pg), G.loc, NULL);
    return 0;
}

static int
group_teardown(void **state)
{
    char *cmd = th_strf("rm -rf %s", G.root);

    (void)state;
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    free(th_run(cmd, NULL));
    free(cmd);
    free(G.loc);
    free(G.root);
    return 0;
}

/* ---- the file publisher ------------------------------------------------------ */

/* publish-event.sh for a folder: a plain cp into pending/, not atomic. */
static void
test_cp_publisher(void **state)
{
    char *src = th_strf("%s/repos-lock.csv", G.root);
    const char *name = "repos-lock-worker1-1699123456-1234.csv";
    char *cmd = th_strf("cp %s %s/pending/%s", src, G.loc, name);
    char *date = today();
    char *done = th_strf("%s/processed/%s/%s", G.loc, date, name);
    char *pending = th_strf("%s/pending/%s", G.loc, name);
    char *sql;
    char *sha;
    char *stored;

    (void)state;
    write_csv(src, "cp", 3);
    sha = sha256_file(src);
    sh0(cmd);
    wait_path(done, 1, 15000);
    assert_false(exists(pending));
    assert_int_equal(events_of(name), 1);
    sql = th_strf("SELECT sha256 FROM events WHERE source = '%s'", name);
    stored = th_pg_scalar(G.pg, sql);
    assert_string_equal(stored, sha);
    free(stored);
    free(sql);
    sql = th_strf("SELECT count(*) FROM event_rows r JOIN events e ON e.sequence = r.event_seq "
                  "WHERE e.source = '%s'",
                  name);
    assert_int_equal(sql_ll(sql), 3);
    free(sql);
    free(sha);
    free(pending);
    free(done);
    free(date);
    free(cmd);
    free(src);
}

/* A writer that writes half, stops for longer than a rescan takes, then writes the rest. */
static void
test_slow_writer(void **state)
{
    char *src = th_strf("%s/slow-src.csv", G.root);
    char *dst = th_strf("%s/pending/repos-lock-slow-1-1.csv", G.loc);
    char *date = today();
    char *done = th_strf("%s/processed/%s/repos-lock-slow-1-1.csv", G.loc, date);
    char *cmd;
    char *sha;
    char *sql;
    char *stored;
    struct stat st;

    (void)state;
    write_csv(src, "slow", 2000);
    assert_int_equal(stat(src, &st), 0);
    sha = sha256_file(src);
    cmd = th_strf("( { head -c %lld %s; sleep 4; tail -c +%lld %s; } > %s ) >/dev/null 2>&1 &",
                  (long long)st.st_size / 2, src, (long long)st.st_size / 2 + 1, src, dst);
    sh0(cmd);
    th_sleep_ms(3000); /* three rescans see the half file, which does not change meanwhile */
    assert_true(exists(dst));
    assert_int_equal(events_of("repos-lock-slow-1-1.csv"), 0);
    wait_path(done, 1, 15000);
    assert_int_equal(events_of("repos-lock-slow-1-1.csv"), 1);
    sql = th_strf("SELECT sha256 FROM events WHERE source = 'repos-lock-slow-1-1.csv'");
    stored = th_pg_scalar(G.pg, sql);
    assert_string_equal(stored, sha); /* the whole file, not its first half */
    free(stored);
    free(sql);
    free(sha);
    free(cmd);
    free(done);
    free(date);
    free(dst);
    free(src);
}

/* An invalid file goes to failed/ with the problem a POST of the same bytes gets, once. */
static void
test_invalid_file_fails_once(void **state)
{
    const char *bad = HEADER "github.com,org/a,main,u,c\n\"unterminated,x,y,z,w,v\n";
    char *path = th_strf("%s/bad-src.csv", G.root);
    char *cmd = th_strf("cp %s %s/pending/repos-lock-bad-1-1.csv", path, G.loc);
    char *failed = th_strf("%s/failed/repos-lock-bad-1-1.csv", G.loc);
    char *pjson = th_strf("%s/failed/repos-lock-bad-1-1.csv.problem.json", G.loc);
    const char *auth[] = {"Authorization: Bearer " TOK_WRITE, NULL};
    struct th_resp r;
    json_t *api;
    json_t *file;
    char *text;
    FILE *f = fopen(path, "w");

    (void)state;
    fputs(bad, f);
    fclose(f);
    sh0(cmd);
    wait_path(pjson, 1, 15000);
    assert_true(exists(failed));
    text = th_read_file(pjson, NULL);
    file = json_loads(text, 0, NULL);
    assert_non_null(file);
    r = th_post_csv(th_ingestd_base(G.srv), "/api/v1/events", bad, auth);
    assert_int_equal(r.status, 400);
    api = th_resp_json(&r);
    json_object_del(api, "request_id");
    assert_true(json_equal(api, file));
    assert_int_equal(th_jint(file, "status"), 400);
    th_sleep_ms(3000); /* three more rescans: never judged again */
    assert_int_equal(sql_ll("SELECT count(*) FROM import_files WHERE name = "
                            "'repos-lock-bad-1-1.csv' AND outcome = 'failed'"),
                     1);
    assert_int_equal(events_of("repos-lock-bad-1-1.csv"), 0);
    json_decref(api);
    json_decref(file);
    th_resp_release(&r);
    free(text);
    free(pjson);
    free(failed);
    free(cmd);
    free(path);
}

/* A symlink is never followed: the link itself moves to failed/. */
static void
test_symlink_refused(void **state)
{
    char *target = th_strf("%s/secret.csv", G.root);
    char *cmd = th_strf("ln -s %s %s/pending/repos-lock-link-1-1.csv", target, G.loc);
    char *moved = th_strf("%s/failed/repos-lock-link-1-1.csv", G.loc);
    char *pjson = th_strf("%s/failed/repos-lock-link-1-1.csv.problem.json", G.loc);
    char *text;
    struct stat st;

    (void)state;
    write_csv(target, "secret", 1);
    sh0(cmd);
    wait_path(pjson, 1, 15000);
    assert_int_equal(lstat(moved, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    text = th_read_file(pjson, NULL);
    assert_non_null(strstr(text, "symbolic link"));
    assert_int_equal(sql_ll("SELECT count(*) FROM events WHERE source LIKE '%secret%' OR "
                            "source = 'repos-lock-link-1-1.csv'"),
                     0);
    free(text);
    free(pjson);
    free(moved);
    free(cmd);
    free(target);
}

/* Names no publisher makes ("..", control characters): refused, moved within failed/. */
static void
test_bad_names(void **state)
{
    char *cmd = th_strf("cd %s/pending && cp ../../repos-lock.csv 'a..b.csv' && "
                        "cp ../../repos-lock.csv \"$(printf 'ctl\\001x.csv')\" && "
                        "echo x > \"$(printf 'L%%.0s' $(seq 250)).csv\"",
                        G.loc);
    char *longname = xmalloc(256);
    char *failed_long;
    char *p1 = th_strf("%s/failed/a..b.csv.problem.json", G.loc);
    char *p2 = th_strf("%s/failed/ctl\001x.csv.problem.json", G.loc);
    char *text;

    (void)state;
    sh0(cmd);
    wait_path(p1, 1, 15000);
    wait_path(p2, 1, 15000);
    text = th_read_file(p1, NULL);
    assert_non_null(strstr(text, "must not contain \\\"..\\\"")); /* JSON-escaped quotes */
    free(text);
    text = th_read_file(p2, NULL);
    assert_non_null(strstr(text, "control characters"));
    free(text);
    memset(longname, 'L', 250);
    strcpy(longname + 250, ".csv");
    failed_long = th_strf("%s/failed/%s", G.loc, longname);
    wait_path(failed_long, 1, 15000); /* its problem.json has a name cut to fit */
    free(failed_long);
    failed_long = th_strf("%s/failed/%.237s.problem.json", G.loc, longname);
    assert_true(exists(failed_long));
    free(failed_long);
    free(longname);
    text = th_strf("%s/pending", G.loc);
    assert_int_equal(count_dir(text), 0);
    free(text);
    free(p2);
    free(p1);
    free(cmd);
}

/* A 100 MB file: refused as too large (413) without being held in memory. */
static void
test_100mb_file(void **state)
{
    char *cmd = th_strf("{ printf '" HEADER "'; yes 'github.com,org/r,main,u,c,p' | "
                        "head -c 104857600; } > %s/big.tmp && mv %s/big.tmp %s/pending/big.csv",
                        G.root, G.root, G.loc);
    char *pjson = th_strf("%s/failed/big.csv.problem.json", G.loc);
    char *status = th_strf("/proc/%d/status", (int)th_ingestd_pid(G.srv));
    char *text;
    char *hwm;

    (void)state;
    sh0(cmd);
    wait_path(pjson, 1, 60000);
    text = th_read_file(pjson, NULL);
    assert_non_null(strstr(text, "\"status\": 413"));
    free(text);
    text = th_read_file(status, NULL);
    hwm = strstr(text, "VmHWM:");
    assert_non_null(hwm);
    assert_true(strtol(hwm + 6, NULL, 10) < 60 * 1024); /* kB: far below the file's size */
    free(text);
    text = th_strf("%s/failed/big.csv", G.loc);
    assert_true(exists(text));
    free(text);
    free(status);
    free(pjson);
    free(cmd);
}

/* ---- the HTTP (Artifactory) publisher ------------------------------------------ */

/* curl -T with Bearer, then with Basic, then curl -I for Content-Length, as the publisher. */
static void
test_curl_publisher(void **state)
{
    const char *b = th_ingestd_base(G.srv);
    char *file = th_strf("%s/put-src.csv", G.root);
    char *other = th_strf("%s/put-other.csv", G.root);
    char *cmd;
    char *out;
    struct stat st;

    (void)state;
    write_csv(file, "put", 4);
    write_csv(other, "put-other", 2);
    assert_int_equal(stat(file, &st), 0);
    /* Bearer: 201 the first time, 200 for the same name and bytes */
    cmd = th_strf("for i in 1 2; do curl -s -o /dev/null -w '%%{http_code} ' -H 'Authorization: "
                  "Bearer %s' -T %s %s/api/v1/events/pending/repos-lock-h1-1-1.csv; done",
                  TOK_WRITE, file, b);
    out = sh(cmd);
    assert_string_equal(out, "201 200 ");
    free(out);
    free(cmd);
    /* Basic with the token as password (PUBLISH_USER:PUBLISH_PASSWORD), any Content-Type */
    cmd = th_strf("curl -s -o /dev/null -w '%%{http_code}' -u publisher:%s -H 'Content-Type: "
                  "application/octet-stream' -T %s %s/api/v1/events/pending/repos-lock-h2-1-1.csv",
                  TOK_WRITE, other, b);
    out = sh(cmd);
    assert_string_equal(out, "201");
    free(out);
    free(cmd);
    /* curl -I: Content-Length of the stored bytes */
    cmd = th_strf("curl -sI -u publisher:%s %s/api/v1/events/pending/repos-lock-h1-1-1.csv | "
                  "tr -d '\\r' | sed -n 's/^[Cc]ontent-[Ll]ength: *//p'",
                  TOK_WRITE, b);
    out = sh(cmd);
    assert_int_equal(strtoll(out, NULL, 10), (long long)st.st_size);
    free(out);
    free(cmd);
    /* GET: the same bytes */
    cmd = th_strf("curl -sf -H 'Authorization: Bearer %s' "
                  "%s/api/v1/events/pending/repos-lock-h1-1-1.csv | cmp - %s && echo same",
                  TOK_WRITE, b, file);
    out = sh(cmd);
    assert_string_equal(out, "same\n");
    free(out);
    free(cmd);
    /* the same name with other bytes: 409; a bad name: 400; no token: 401 */
    cmd = th_strf("curl -s -o /dev/null -w '%%{http_code} ' -u p:%s -T %s "
                  "%s/api/v1/events/pending/repos-lock-h1-1-1.csv; "
                  "curl -s -o /dev/null -w '%%{http_code} ' -u p:%s -T %s "
                  "%s/api/v1/events/pending/a..b.csv; "
                  "curl -s -o /dev/null -w '%%{http_code}' -T %s %s/api/v1/events/pending/x.csv",
                  TOK_WRITE, other, b, TOK_WRITE, other, b, other, b);
    out = sh(cmd);
    assert_string_equal(out, "409 400 401");
    free(out);
    free(cmd);
    assert_int_equal(events_of("repos-lock-h1-1-1.csv"), 1);
    assert_int_equal(events_of("repos-lock-h2-1-1.csv"), 1);
    free(other);
    free(file);
}

/* Eight publishers PUT one name at once: one 201, the same bytes 200, other bytes 409. */
static void
test_curl_same_name_at_once(void **state)
{
    const char *b = th_ingestd_base(G.srv);
    char *cmd;
    char *out;
    int i;

    (void)state;
    for (i = 0; i < 8; i++) {
        char *p = th_strf("%s/race-%d.csv", G.root, i);

        write_csv(p, i < 4 ? "race-same" : (i == 4 ? "race-a" : "race-b"), 3);
        free(p);
    }
    cmd =
        th_strf("cd %s && for i in 0 1 2 3 4 5 6 7; do (curl -s -o /dev/null -w '%%{http_code}\\n' "
                "-u p:%s -T race-$i.csv %s/api/v1/events/pending/repos-lock-race-1-1.csv "
                "> race-$i.code) & done; wait; cat race-*.code | sort | uniq -c | "
                "awk '{ printf \"%%s:%%s \", $2, $1 }'",
                G.root, TOK_WRITE, b);
    out = sh(cmd);
    /* the winner's bytes decide: race-0..3 (one 201, three 200, four 409), race-4 (one 201,
     * seven 409) or race-5..7 (one 201, two 200, five 409) */
    if (strcmp(out, "200:3 201:1 409:4 ") != 0 && strcmp(out, "201:1 409:7 ") != 0 &&
        strcmp(out, "200:2 201:1 409:5 ") != 0)
        fail_msg("status codes of the eight PUTs: %s", out);
    assert_int_equal(events_of("repos-lock-race-1-1.csv"), 1);
    assert_int_equal(sql_ll("SELECT count(*) FROM event_names WHERE name = "
                            "'repos-lock-race-1-1.csv'"),
                     1);
    free(out);
    free(cmd);
}

/* ---- trouble ----------------------------------------------------------------- */

/* processed/ cannot be written: the event is stored once, the file waits, nothing is lost. */
static void
test_unwritable_processed(void **state)
{
    char *src = th_strf("%s/stuck-src.csv", G.root);
    char *cmd = th_strf("rm -rf %s/processed && touch %s/processed && cp %s %s/pending/stuck.csv",
                        G.loc, G.loc, src, G.loc);
    char *pending = th_strf("%s/pending/stuck.csv", G.loc);
    char *date = today();
    char *done = th_strf("%s/processed/%s/stuck.csv", G.loc, date);
    char *fix = th_strf("rm -f %s/processed", G.loc);
    char *series = th_strf("ingestd_import_errors_total{location=\"%s\",kind=\"move\"} ", G.loc);
    const char *auth[] = {"Authorization: Bearer " TOK_ADMIN, NULL};
    struct th_resp r;
    json_t *j;
    json_t *item;

    (void)state;
    write_csv(src, "stuck", 2);
    sh0(cmd);
    wait_sql("SELECT count(*) FROM events WHERE source = 'stuck.csv'", 1, 15000);
    th_sleep_ms(2500); /* a rescan or two try the move again */
    assert_true(exists(pending));
    assert_true(metric(G.srv, series) >= 1);
    r = th_get(th_ingestd_base(G.srv), "/api/v1/imports", auth);
    assert_int_equal(r.status, 200);
    j = th_resp_json(&r);
    item = json_array_get(json_object_get(j, "items"), 0);
    assert_string_equal(th_jstr(item, "location"), G.loc);
    assert_non_null(strstr(th_jstr(item, "last_error"), "move stuck.csv"));
    assert_true(th_is_ts(th_jstr(item, "last_scan_at")));
    json_decref(j);
    th_resp_release(&r);
    sh0(fix);
    wait_path(done, 1, 15000);
    assert_false(exists(pending));
    assert_int_equal(events_of("stuck.csv"), 1);
    assert_int_equal(sql_ll("SELECT count(*) FROM import_files WHERE name = 'stuck.csv'"), 1);
    free(series);
    free(fix);
    free(done);
    free(date);
    free(pending);
    free(cmd);
    free(src);
}

/* 1 once the process is dead (a zombie until reaped). */
static int
dead(pid_t pid)
{
    char *path = th_strf("/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    char state = 'Z';

    if (f) {
        if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
            state = 'Z';
        fclose(f);
    }
    free(path);
    return state == 'Z' || state == 'X';
}

/* kill -9 between the commit and the move: the next start moves the file, stores nothing. */
static void
test_crash_between_commit_and_move(void **state)
{
    char *loc = th_strf("%s/crash", G.root);
    char *url = th_strf("%s dbname=ingestd_crash", th_pg_url(G.pg));
    char *src = th_strf("%s/crash-src.csv", G.root);
    char *cmd = th_strf("cp %s %s/pending/repos-lock-crash-1-1.csv", src, loc);
    char *pending = th_strf("%s/pending/repos-lock-crash-1-1.csv", loc);
    char *date = today();
    char *done = th_strf("%s/processed/%s/repos-lock-crash-1-1.csv", loc, date);
    char *series =
        th_strf("ingestd_import_files_total{location=\"%s\",outcome=\"duplicate\"} ", loc);
    struct th_ingestd *a;
    struct th_ingestd *b;
    PGconn *conn;
    PGresult *res;
    long deadline;

    (void)state;
    mkdir(loc, 0755);
    write_csv(src, "crash", 5);
    a = start_importer(url, loc, "INGESTD_TEST_CRASH_AT=import.after_commit");
    sh0(cmd);
    deadline = th_now_ms() + 15000;
    while (!dead(th_ingestd_pid(a)) && th_now_ms() < deadline)
        th_sleep_ms(50);
    assert_int_equal(th_ingestd_term(a), 128 + 9);
    assert_true(exists(pending)); /* committed, not moved */
    conn = PQconnectdb(url);
    res = PQexec(conn, "SELECT count(*) FROM events WHERE source = 'repos-lock-crash-1-1.csv'");
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    PQclear(res);
    b = start_importer(url, loc, NULL);
    wait_path(done, 1, 15000);
    assert_false(exists(pending));
    res = PQexec(conn, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM import_files)");
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    assert_string_equal(PQgetvalue(res, 0, 1), "1");
    PQclear(res);
    PQfinish(conn);
    assert_true(metric(b, series) == 1);
    th_ingestd_free(b);
    th_ingestd_free(a);
    free(series);
    free(done);
    free(date);
    free(pending);
    free(cmd);
    free(src);
    free(url);
    free(loc);
}

/* Two replicas import one folder fed by 8 concurrent cp writers: every file stored once. */
static void
test_two_replicas(void **state)
{
    char *loc = th_strf("%s/shared", G.root);
    char *url = th_strf("%s dbname=ingestd_replicas", th_pg_url(G.pg));
    char *srcdir = th_strf("%s/replica-src", G.root);
    char *date = today();
    char *processed = th_strf("%s/processed/%s", loc, date);
    char *pending = th_strf("%s/pending", loc);
    char *cmd;
    struct th_ingestd *r1;
    struct th_ingestd *r2;
    PGconn *conn;
    PGresult *res;
    char *s1;
    double accepted;
    long deadline;
    int i;

    (void)state;
    mkdir(loc, 0755);
    mkdir(srcdir, 0755);
    for (i = 0; i < 200; i++) { /* writer i % 8, its file i / 8 */
        char *p = th_strf("%s/rep-%d-%02d.csv", srcdir, i % 8, i / 8);
        char *tag = th_strf("rep%d", i);

        write_csv(p, tag, 10);
        free(tag);
        free(p);
    }
    r1 = start_importer(url, loc, NULL);
    r2 = start_importer(url, loc, NULL);
    cmd = th_strf("cd %s && for w in 0 1 2 3 4 5 6 7; do (for f in rep-$w-*.csv; do "
                  "cp $f %s/pending/$f; done) & done; wait",
                  srcdir, loc);
    sh0(cmd);
    deadline = th_now_ms() + 60000;
    while ((count_dir(processed) != 200 || count_dir(pending) != 0) && th_now_ms() < deadline)
        th_sleep_ms(200);
    assert_int_equal(count_dir(processed), 200);
    assert_int_equal(count_dir(pending), 0);
    conn = PQconnectdb(url);
    res = PQexec(conn, "SELECT count(*), count(DISTINCT source) FROM events");
    assert_string_equal(PQgetvalue(res, 0, 0), "200");
    assert_string_equal(PQgetvalue(res, 0, 1), "200");
    PQclear(res);
    res = PQexec(conn, "SELECT count(*) FROM import_files WHERE outcome = 'accepted'");
    assert_string_equal(PQgetvalue(res, 0, 0), "200");
    PQclear(res);
    PQfinish(conn);
    s1 = th_strf("ingestd_import_files_total{location=\"%s\",outcome=\"accepted\"} ", loc);
    accepted = metric(r1, s1) + metric(r2, s1);
    assert_true(accepted == 200);
    th_ingestd_free(r2);
    th_ingestd_free(r1);
    free(s1);
    free(cmd);
    free(pending);
    free(processed);
    free(date);
    free(srcdir);
    free(url);
    free(loc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cp_publisher),
        cmocka_unit_test(test_slow_writer),
        cmocka_unit_test(test_invalid_file_fails_once),
        cmocka_unit_test(test_symlink_refused),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_100mb_file),
        cmocka_unit_test(test_curl_publisher),
        cmocka_unit_test(test_curl_same_name_at_once),
        cmocka_unit_test(test_unwritable_processed),
        cmocka_unit_test(test_crash_between_commit_and_move),
        cmocka_unit_test(test_two_replicas),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
