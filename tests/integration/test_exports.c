/*
 * test_exports.c - INGESTD_EXPORTS: the effective repos.csv published to a
 * file, s3rver, an HTTP receiver and a bare Git repository after every new
 * generation; coalescing, restarts and two replicas
 *
 * Everything is real: PostgreSQL, the ingestd binary, s3rver, a receiver
 * thread on loopback (harness_receiver.c), git(1) to create and clone the
 * repository. What a target holds is compared byte for byte with GET
 * /api/v1/repos.csv.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clients/s3_client.h"
#include "core/buf.h"
#include "harness.h"
#include "harness_receiver.h"

#define BUCKET "exports"
#define WAIT_MS 20000

static struct {
    struct th_pg *pg;
    char *tmp; /* a scratch directory of this run */
    int n;     /* events posted so far (each unique) */
} G;

/* ---- helpers ---------------------------------------------------------------- */

/* Post a new event of `rows` rows (unique to this run) and merge; the merge's generation. */
static int64_t
merge_new(const char *base, int rows)
{
    struct buf csv;
    struct th_resp r;
    json_t *m;
    int64_t gen;
    int i;

    buf_init(&csv, 0);
    buf_printf(&csv, "origin,path,branch,changeset,publishUri\n");
    G.n++;
    for (i = 0; i < rows; i++)
        buf_printf(&csv, "github.com,org/r%d-%d,main,c%d,https://a/%d-%d.jar\n", G.n, i, G.n, G.n,
                   i);
    r = th_post_csv(base, "/api/v1/events", csv.data, NULL);
    assert_int_equal(r.status, 201);
    th_resp_release(&r);
    buf_release(&csv);
    r = th_request("POST", base, "/api/v1/merges", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    m = th_resp_json(&r);
    gen = th_jint(m, "generation");
    json_decref(m);
    th_resp_release(&r);
    return gen;
}

static char *
served_csv(const char *base, size_t *len)
{
    struct th_resp r = th_get(base, "/api/v1/repos.csv", NULL);
    char *s;

    assert_int_equal(r.status, 200);
    s = r.body;
    *len = r.len;
    r.body = NULL;
    th_resp_release(&r);
    return s;
}

/* The /api/v1/exports item of `target`, or NULL (caller json_decref()s). */
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
    return found;
}

/* Wait until `target` holds at least gen; fails the test after WAIT_MS. */
static void
wait_held(const char *base, const char *target, int64_t gen)
{
    long t0 = th_now_ms();

    for (;;) {
        json_t *it = export_item(base, target);
        int64_t held;

        assert_non_null(it);
        held = th_jint(it, "generation");
        json_decref(it);
        if (held >= gen)
            return;
        if (th_now_ms() - t0 > WAIT_MS)
            fail_msg("%s holds generation %lld, not %lld", target, (long long)held, (long long)gen);
        th_sleep_ms(20);
    }
}

static enum err
to_buf(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    (void)errbuf;
    (void)errlen;
    return buf_append(ctx, data, len);
}

/* An object of s3rver, read with the S3 client. */
static char *
s3_read(const char *key, size_t *len)
{
    struct s3_client_config cfg;
    struct s3_client *c;
    struct buf b;
    char errbuf[ERRBUF_SIZE];

    s3_client_config_from_env(&cfg);
    c = s3_client_new(&cfg);
    buf_init(&b, 0);
    if (s3_client_get(c, BUCKET, key, to_buf, &b, NULL, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    s3_client_free(c);
    return buf_take(&b, len);
}

static void
assert_bytes(const char *what, const char *got, size_t got_len, const char *want, size_t want_len)
{
    if (got_len != want_len || memcmp(got, want, want_len) != 0)
        fail_msg("%s: %zu bytes differ from the %zu served", what, got_len, want_len);
}

/* The last request the receiver got for path (caller releases). */
static struct th_received
last_for(struct th_receiver *rc, const char *path)
{
    size_t i = th_receiver_count(rc);

    while (i-- > 0) {
        struct th_received q = th_receiver_get(rc, i);

        if (strcmp(q.path, path) == 0)
            return q;
        th_received_release(&q);
    }
    fail_msg("no request for %s", path);
    return th_receiver_get(rc, 0); /* not reached */
}

static char *
run_ok(const char *cmd)
{
    int status = -1;
    char *out = th_run(cmd, &status);

    if (status != 0)
        fail_msg("%s: exit %d: %s", cmd, status, out);
    return out;
}

/* ---- all four kinds --------------------------------------------------------- */

static void
check_targets(const char *base, struct th_receiver *rc, const char *file, const char *clone)
{
    size_t want_len;
    char *want = served_csv(base, &want_len);
    size_t len;
    char *got;
    struct th_received q;
    char *cmd;

    got = th_read_file(file, &len);
    assert_bytes("file", got, len, want, want_len);
    free(got);
    got = s3_read("config/effective-repos.csv", &len);
    assert_bytes("s3", got, len, want, want_len);
    free(got);
    q = last_for(rc, "/basic/effective-repos.csv");
    assert_string_equal(q.method, "PUT");
    assert_string_equal(q.authorization, "Basic YWxpY2U6czNjcmV0"); /* alice:s3cret */
    assert_bytes("http basic", q.body, q.len, want, want_len);
    th_received_release(&q);
    q = last_for(rc, "/bearer/effective-repos.csv");
    assert_string_equal(q.authorization, "Bearer tok-123");
    assert_bytes("http bearer", q.body, q.len, want, want_len);
    th_received_release(&q);
    cmd = th_strf("git -C %s pull -q 2>&1", clone);
    free(run_ok(cmd));
    free(cmd);
    cmd = th_strf("%s/config/effective-repos.csv", clone);
    got = th_read_file(cmd, &len);
    assert_bytes("git", got, len, want, want_len);
    free(got);
    free(cmd);
    free(want);
}

static void
test_every_kind_holds_what_is_served(void **state)
{
    struct th_receiver *rc = th_receiver_start();
    char *file = th_strf("%s/out/effective-repos.csv", G.tmp);
    char *repo = th_strf("%s/remote.git", G.tmp);
    char *clone = th_strf("%s/clone", G.tmp);
    char *exports;
    char *ep = th_strf("AWS_ENDPOINT_URL=%s", th_s3rver_endpoint());
    struct th_ingestd *p;
    const char *base;
    char *cmd;
    char *out;
    char *log;
    char *git_name;
    int64_t gen;

    (void)state;
    cmd = th_strf("mkdir -p %s/out && git init -q --bare -b main %s 2>&1", G.tmp, repo);
    free(run_ok(cmd));
    free(cmd);
    git_name = th_strf("file://%s:config/effective-repos.csv", repo);
    exports = th_strf("INGESTD_EXPORTS=%s, s3://" BUCKET "/config/effective-repos.csv,"
                      "http://alice:s3cret@127.0.0.1:%s/basic/effective-repos.csv,"
                      "%s/bearer/effective-repos.csv,%s",
                      file, strrchr(th_receiver_base(rc), ':') + 1, th_receiver_base(rc), git_name);
    {
        const char *env[] = {exports,
                             ep,
                             "AWS_ACCESS_KEY_ID=S3RVER",
                             "AWS_SECRET_ACCESS_KEY=S3RVER",
                             "AWS_REGION=us-east-1",
                             "INGESTD_EXPORT_TOKEN=tok-123",
                             NULL};

        p = th_ingestd_start(th_pg_url(G.pg), env);
    }
    base = th_ingestd_base(p);
    {
        const char *targets[] = {file, "s3://" BUCKET "/config/effective-repos.csv", NULL, NULL,
                                 git_name};
        char *basic = th_strf("%s/basic/effective-repos.csv", th_receiver_base(rc));
        char *bearer = th_strf("%s/bearer/effective-repos.csv", th_receiver_base(rc));
        size_t i;

        targets[2] = basic;
        targets[3] = bearer;
        gen = merge_new(base, 3);
        for (i = 0; i < 5; i++)
            wait_held(base, targets[i], gen);
        cmd = th_strf("git clone -q file://%s %s 2>&1", repo, clone);
        free(run_ok(cmd));
        free(cmd);
        check_targets(base, rc, file, clone);

        gen = merge_new(base, 2);
        for (i = 0; i < 5; i++)
            wait_held(base, targets[i], gen);
        check_targets(base, rc, file, clone);
        free(basic);
        free(bearer);
    }
    /* two merges, two commits, newest first */
    cmd = th_strf("git -C %s log --format=%%s", clone);
    out = run_ok(cmd);
    assert_string_equal(out, "effective repos.csv generation 2\n"
                             "effective repos.csv generation 1\n");
    free(out);
    free(cmd);
    /* the temp files were renamed: only the target is in the directory */
    cmd = th_strf("ls -A %s/out", G.tmp);
    out = run_ok(cmd);
    assert_string_equal(out, "effective-repos.csv\n");
    free(out);
    free(cmd);
    {
        struct th_resp r = th_get(base, "/api/v1/exports", NULL);
        struct th_resp m = th_get(base, "/metrics", NULL);
        char *line = th_strf("ingestd_export_generation{target=\"%s\"} 2\n", file);

        assert_null(strstr(r.body, "s3cret"));
        assert_null(strstr(r.body, "tok-123"));
        assert_non_null(strstr(m.body, line));
        assert_non_null(strstr(m.body, "ingestd_export_duration_seconds_count{target="));
        free(line);
        th_resp_release(&r);
        th_resp_release(&m);
    }
    assert_int_equal(th_ingestd_term(p), 0);
    log = th_read_file(th_ingestd_log(p), NULL);
    assert_null(strstr(log, "s3cret")); /* credentials are never logged */
    assert_null(strstr(log, "tok-123"));
    assert_non_null(strstr(log, "\"msg\":\"export published\""));
    free(log);
    th_ingestd_free(p);
    th_receiver_free(rc);
    free(git_name);
    free(exports);
    free(ep);
    free(file);
    free(repo);
    free(clone);
}

/* ---- the file target: a reader never sees a part ------------------------------ */

struct reader {
    const char *path;
    atomic_int stop; /* set by the test's thread */
    long reads;
    long versions; /* changes of size seen */
    char bad[256];
};

/* Every read must be a whole rendering: header first, every line of 6 fields, '\n' last. */
static void *
reader_main(void *arg)
{
    struct reader *rd = arg;
    size_t last = 0;

    while (!atomic_load(&rd->stop) && !rd->bad[0]) {
        FILE *f = fopen(rd->path, "rb");
        char *data;
        size_t len = 0;
        size_t i;
        int commas = 0;

        if (!f)
            continue; /* not there yet */
        data = malloc(1 << 22);
        len = fread(data, 1, (1 << 22) - 1, f);
        fclose(f);
        data[len] = '\0';
        if (len == 0 || strncmp(data, "origin,path,branch,", 19) != 0 || data[len - 1] != '\n')
            snprintf(rd->bad, sizeof(rd->bad), "a read of %zu bytes is no whole file", len);
        for (i = 0; i < len && !rd->bad[0]; i++) {
            if (data[i] == ',')
                commas++;
            if (data[i] == '\n') {
                if (commas != 5)
                    snprintf(rd->bad, sizeof(rd->bad), "a line of %d commas at byte %zu", commas,
                             i);
                commas = 0;
            }
        }
        if (len != last)
            rd->versions++;
        last = len;
        rd->reads++;
        free(data);
    }
    return NULL;
}

static void
test_file_reader_never_sees_a_part(void **state)
{
    char *file = th_strf("%s/atomic/effective-repos.csv", G.tmp);
    char *exports = th_strf("INGESTD_EXPORTS=%s", file);
    const char *env[] = {exports, NULL};
    struct reader rd;
    pthread_t t;
    struct th_ingestd *p;
    int64_t gen = 0;
    char *cmd;
    char *out;
    int i;

    (void)state;
    cmd = th_strf("mkdir -p %s/atomic", G.tmp);
    free(run_ok(cmd));
    free(cmd);
    p = th_ingestd_start(th_pg_url(G.pg), env);
    memset(&rd, 0, sizeof(rd));
    rd.path = file;
    pthread_create(&t, NULL, reader_main, &rd);
    for (i = 0; i < 8; i++) { /* each generation ~40 KB larger */
        gen = merge_new(th_ingestd_base(p), 800);
        wait_held(th_ingestd_base(p), file, gen);
    }
    atomic_store(&rd.stop, 1);
    pthread_join(t, NULL);
    if (rd.bad[0])
        fail_msg("reader: %s", rd.bad);
    assert_true(rd.reads > 8);
    assert_true(rd.versions >= 2);
    cmd = th_strf("ls -A %s/atomic", G.tmp);
    out = run_ok(cmd);
    assert_string_equal(out, "effective-repos.csv\n");
    free(out);
    free(cmd);
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);
    free(exports);
    free(file);
}

/* ---- coalescing --------------------------------------------------------------- */

static void
test_slow_target_gets_the_newest_only(void **state)
{
    struct th_receiver *rc = th_receiver_start();
    char *target = th_strf("%s/slow.csv", th_receiver_base(rc));
    char *exports = th_strf("INGESTD_EXPORTS=%s", target);
    const char *env[] = {exports, NULL};
    struct th_ingestd *p = th_ingestd_start(th_pg_url(G.pg), env);
    const char *base = th_ingestd_base(p);
    size_t want_len;
    char *want;
    struct th_received q;
    long t0;
    int64_t gen = 0;
    int i;

    (void)state;
    th_receiver_answer(rc, 201, 1500);
    gen = merge_new(base, 1);
    t0 = th_now_ms();
    while (th_receiver_count(rc) < 1 && th_now_ms() - t0 < WAIT_MS)
        th_sleep_ms(10);
    assert_int_equal(th_receiver_count(rc), 1); /* the first PUT is in progress */
    for (i = 0; i < 5; i++) {
        long m0 = th_now_ms();

        gen = merge_new(base, 1);
        assert_true(th_now_ms() - m0 < 1000); /* merges do not wait for the slow target */
    }
    wait_held(base, target, gen);
    want = served_csv(base, &want_len);
    q = last_for(rc, "/slow.csv");
    assert_bytes("newest", q.body, q.len, want, want_len);
    th_received_release(&q);
    /* six generations, at most three PUTs: the first, and the newest after it */
    assert_true(th_receiver_count(rc) <= 3);
    free(want);
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);
    th_receiver_free(rc);
    free(exports);
    free(target);
}

/* ---- restarts ------------------------------------------------------------------ */

static void
test_restart_publishes_only_what_is_missing(void **state)
{
    struct th_receiver *rc = th_receiver_start();
    char *target = th_strf("%s/restart.csv", th_receiver_base(rc));
    char *exports = th_strf("INGESTD_EXPORTS=%s", target);
    const char *env[] = {exports, "INGESTD_EXPORT_BACKOFF_MS=100", NULL};
    struct th_ingestd *p = th_ingestd_start(th_pg_url(G.pg), env);
    size_t want_len;
    char *want;
    struct th_received q;
    json_t *it;
    int64_t gen;
    size_t n0;

    (void)state;
    gen = merge_new(th_ingestd_base(p), 2);
    wait_held(th_ingestd_base(p), target, gen);
    th_sleep_ms(300);
    n0 = th_receiver_count(rc); /* the database's generation at start, and this one */
    assert_true(n0 >= 1 && n0 <= 2);
    th_ingestd_kill9(p);
    th_ingestd_restart(p);
    th_sleep_ms(1500);
    assert_int_equal(th_receiver_count(rc), n0); /* the stored generation is not sent again */

    th_receiver_answer(rc, 503, 0); /* the target goes down; the next generation fails */
    gen = merge_new(th_ingestd_base(p), 2);
    for (;;) {
        it = export_item(th_ingestd_base(p), target);
        if (th_jint(it, "failures") >= 1)
            break;
        json_decref(it);
        th_sleep_ms(20);
    }
    assert_non_null(strstr(th_jstr(it, "last_error"), "503"));
    json_decref(it);
    th_ingestd_kill9(p);
    th_receiver_answer(rc, 201, 0);
    n0 = th_receiver_count(rc);
    th_ingestd_restart(p);
    wait_held(th_ingestd_base(p), target, gen); /* the missing one is published */
    th_sleep_ms(1000);
    assert_int_equal(th_receiver_count(rc), n0 + 1); /* once */
    want = served_csv(th_ingestd_base(p), &want_len);
    q = last_for(rc, "/restart.csv");
    assert_bytes("after restart", q.body, q.len, want, want_len);
    th_received_release(&q);
    free(want);
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);
    th_receiver_free(rc);
    free(exports);
    free(target);
}

/* ---- two replicas ----------------------------------------------------------------- */

static void
test_two_replicas_publish_each_generation_once(void **state)
{
    struct th_receiver *rc = th_receiver_start();
    char *target = th_strf("%s/replicas.csv", th_receiver_base(rc));
    char *exports = th_strf("INGESTD_EXPORTS=%s", target);
    const char *env[] = {exports, NULL};
    struct th_ingestd *a = th_ingestd_start(th_pg_url(G.pg), env);
    struct th_ingestd *b = th_ingestd_start(th_pg_url(G.pg), env);
    struct th_ingestd *both[2] = {a, b};
    int64_t gen = 0;
    size_t n0;
    size_t n;
    size_t i;
    size_t j;

    (void)state;
    /* the generation the shared database holds already is published first; count after it */
    {
        struct th_resp r = th_get(th_ingestd_base(a), "/api/v1/repos?limit=1", NULL);
        json_t *o = th_resp_json(&r);

        wait_held(th_ingestd_base(a), target, th_jint(o, "generation"));
        json_decref(o);
        th_resp_release(&r);
    }
    th_sleep_ms(600);
    n0 = th_receiver_count(rc);
    for (i = 0; i < 6; i++) {
        gen = merge_new(th_ingestd_base(both[i % 2]), 1);
        wait_held(th_ingestd_base(both[(i + 1) % 2]), target, gen); /* seen from the other */
    }
    th_sleep_ms(1000); /* a second publication would come within a poll or two */
    n = th_receiver_count(rc);
    assert_int_equal(n, n0 + 6);
    {
        /* the six PUTs are the six generations, each once */
        struct th_received q[6];

        for (i = 0; i < 6; i++)
            q[i] = th_receiver_get(rc, n0 + i);
        for (i = 0; i < 6; i++)
            for (j = i + 1; j < 6; j++)
                assert_false(q[i].len == q[j].len && memcmp(q[i].body, q[j].body, q[i].len) == 0);
        for (i = 0; i < 6; i++)
            th_received_release(&q[i]);
    }
    assert_int_equal(th_ingestd_term(a), 0);
    assert_int_equal(th_ingestd_term(b), 0);
    th_ingestd_free(a);
    th_ingestd_free(b);
    th_receiver_free(rc);
    free(exports);
    free(target);
}

/* ---- Git: a publication pushed but not recorded is not committed twice ------------- */

static void
test_git_republication_adds_no_commit(void **state)
{
    char *repo = th_strf("%s/again.git", G.tmp);
    char *target = th_strf("file://%s:effective-repos.csv", repo);
    char *exports = th_strf("INGESTD_EXPORTS=%s", target);
    const char *env[] = {exports, NULL};
    char *log_cmd = th_strf("git --git-dir=%s log --format=%%s main", repo);
    struct th_ingestd *p;
    char *before;
    char *after;
    char *cmd;
    char *sql;
    json_t *it;
    json_int_t attempts;
    long long attempts_before;
    int64_t gen;
    PGresult *res;

    (void)state;
    cmd = th_strf("git init -q --bare -b main %s 2>&1", repo);
    free(run_ok(cmd));
    free(cmd);
    p = th_ingestd_start(th_pg_url(G.pg), env);
    gen = merge_new(th_ingestd_base(p), 1);
    wait_held(th_ingestd_base(p), target, gen);
    assert_int_equal(th_ingestd_term(p), 0);
    before = run_ok(log_cmd);
    /* as if ingestd had died between the push and recording it */
    sql = th_strf("UPDATE export_targets SET generation = generation - 1 WHERE target = '%s'",
                  target);
    res = th_pg_exec(G.pg, sql);
    PQclear(res);
    free(sql);
    sql = th_strf("SELECT attempts FROM export_targets WHERE target = '%s'", target);
    cmd = th_pg_scalar(G.pg, sql);
    attempts_before = atoll(cmd);
    free(cmd);
    free(sql);
    th_ingestd_restart(p);
    wait_held(th_ingestd_base(p), target, gen);
    it = export_item(th_ingestd_base(p), target);
    attempts = th_jint(it, "attempts");
    json_decref(it);
    assert_true(attempts > attempts_before); /* published again ... */
    after = run_ok(log_cmd);
    assert_string_equal(after, before); /* ... without a second commit */
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);
    free(before);
    free(after);
    free(log_cmd);
    free(exports);
    free(target);
    free(repo);
}

/* ---- merges of INGESTD_MERGE_INTERVAL are exported too ------------------------------ */

static void
test_scheduled_merges_are_exported(void **state)
{
    char *file = th_strf("%s/scheduled.csv", G.tmp);
    char *exports = th_strf("INGESTD_EXPORTS=%s", file);
    const char *env[] = {exports, "INGESTD_MERGE_INTERVAL=1", NULL};
    struct th_ingestd *p = th_ingestd_start(th_pg_url(G.pg), env);
    struct th_resp r;
    long t0;
    int seen = 0;

    (void)state;
    r = th_post_csv(th_ingestd_base(p), "/api/v1/events",
                    "origin,path,branch,changeset,publishUri\n"
                    "github.com,org/scheduled,main,c-sched,https://a/s.jar\n",
                    NULL);
    assert_int_equal(r.status, 201);
    th_resp_release(&r);
    /* no POST /merges: the scheduler merges, the export follows */
    t0 = th_now_ms();
    while (!seen && th_now_ms() - t0 < WAIT_MS) {
        FILE *f = fopen(file, "rb");

        if (f) {
            char line[512];

            while (!seen && fgets(line, sizeof(line), f))
                seen = strstr(line, "org/scheduled") != NULL;
            fclose(f);
        }
        if (!seen)
            th_sleep_ms(20);
    }
    assert_true(seen);
    assert_int_equal(th_ingestd_term(p), 0);
    th_ingestd_free(p);
    free(exports);
    free(file);
}

static int
group_setup(void **state)
{
    static const char *const buckets[] = {BUCKET, NULL};
    char tmpl[] = "/tmp/thexp.XXXXXX";

    (void)state;
    if (th_s3rver_start(buckets) != 0)
        return -1;
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

    (void)state;
    free(th_run(cmd, NULL));
    free(cmd);
    free(G.tmp);
    th_pg_free(G.pg);
    th_s3rver_free();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_holds_what_is_served),
        cmocka_unit_test(test_file_reader_never_sees_a_part),
        cmocka_unit_test(test_slow_target_gets_the_newest_only),
        cmocka_unit_test(test_restart_publishes_only_what_is_missing),
        cmocka_unit_test(test_two_replicas_publish_each_generation_once),
        cmocka_unit_test(test_git_republication_adds_no_commit),
        cmocka_unit_test(test_scheduled_merges_are_exported),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
