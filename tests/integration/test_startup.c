/*
 * test_startup.c - a start-up that tells the truth
 *
 * The real binary against real PostgreSQL: one owner per data directory (a
 * second serve is refused naming the owner's pid while the first keeps
 * serving; migrate goes through the running server and leaves it running; a
 * kill -9'd owner does not block the restart), DATABASE_URL malformed (one
 * line, no URL text) and unreachable (logged retries with backoff, SIGTERM
 * honoured within 1 s), unknown INGESTD_* variables warned about by name,
 * bad values named, and `ingestd config` with its secrets redacted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "harness.h"

/* Every secret a test hands the binary contains this; no output may. */
#define SECRET_MARK "sekrit"

static struct {
    struct th_pg *pg; /* for the DATABASE_URL starts */
} G;

static int
group_setup(void **state)
{
    (void)state;
    G.pg = th_pg_start();
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_pg_free(G.pg);
    return 0;
}

/* ---- helpers --------------------------------------------------------------- */

/* "NAME='value' ..." of the variables a clean environment passes through. */
static char *
passthrough_vars(void)
{
    static const char *const names[] = {"PATH",          "INGESTD_PG_BINDIR", "ASAN_OPTIONS",
                                        "UBSAN_OPTIONS", "LSAN_OPTIONS",      "TSAN_OPTIONS"};
    struct buf b;
    size_t i;

    buf_init(&b, 0);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (getenv(names[i]))
            buf_printf(&b, "%s='%s' ", names[i], getenv(names[i]));
    return buf_take(&b, NULL);
}

/*
 * `ingestd <cmd>` in a clean environment with `vars` (shell words, quoted by
 * the caller), stdout and stderr together; *status the exit code, *ms how
 * long it ran. A run is cut off after 20 s (exit status 124).
 */
static char *
run_cmd(const char *vars, const char *cmd, int *status, long *ms)
{
    char *pass = passthrough_vars();
    char *line = th_strf("env -i %s INGESTD_LISTEN=127.0.0.1:0 %s timeout 20 %s %s 2>&1", pass,
                         vars, INGESTD_BIN, cmd);
    long t0 = th_now_ms();
    char *out = th_run(line, status);

    if (ms)
        *ms = th_now_ms() - t0;
    free(line);
    free(pass);
    return out;
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The postmaster's pid from dir/pgdata/postmaster.pid, 0 when there is none. */
static long
postmaster_pid(const char *dir)
{
    char *path = th_strf("%s/pgdata/postmaster.pid", dir);
    FILE *f = fopen(path, "r");
    long pid = 0;

    if (f && fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    if (f)
        fclose(f);
    free(path);
    return pid;
}

static void
want_ready(const struct th_ingestd *p)
{
    struct th_resp r = th_get(th_ingestd_base(p), "/readyz", NULL);

    if (r.status != 200)
        fail_msg("/readyz of the first server answers %ld, want 200: %s", r.status, r.body);
    th_resp_release(&r);
}

/* A loopback TCP port nothing listens on: bound, then closed. */
static int
closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* `serve` on the data directory of p, which owns it: refused at once, naming p's pid. */
static void
want_refused(const struct th_ingestd *p)
{
    char *vars = th_strf("INGESTD_DATA_DIR='%s'", th_ingestd_data_dir(p));
    char *want = th_strf("data directory %s in use by pid %d", th_ingestd_data_dir(p),
                         (int)th_ingestd_pid(p));
    long ms = 0;
    int status = 0;
    char *out = run_cmd(vars, "serve", &status, &ms);

    if (status != 1 || count_lines(out) != 1 || !strstr(out, want) || ms > 5000)
        fail_msg("second serve: want exit 1 within 5 s and one line \"%s\", got exit %d after "
                 "%ld ms:\n%s",
                 want, status, ms, out);
    free(out);
    free(want);
    free(vars);
}

/* ---- one owner per data directory ------------------------------------------ */

static void
test_second_serve_refused(void **state)
{
    struct th_ingestd *p = th_ingestd_start(NULL, NULL);
    long pgpid = postmaster_pid(th_ingestd_data_dir(p));

    (void)state;
    assert_true(pgpid > 0);
    want_refused(p);
    /* the first one keeps its PostgreSQL and serves on */
    assert_int_equal(postmaster_pid(th_ingestd_data_dir(p)), pgpid);
    assert_int_equal(kill((pid_t)pgpid, 0), 0);
    want_ready(p);
    th_sleep_ms(500);
    want_ready(p);
    assert_int_equal(th_ingestd_term(p), 0);
    assert_int_equal(postmaster_pid(th_ingestd_data_dir(p)), 0);
    th_ingestd_free(p);
}

static void
test_migrate_through_running_server(void **state)
{
    struct th_ingestd *p = th_ingestd_start(NULL, NULL);
    long pgpid = postmaster_pid(th_ingestd_data_dir(p));
    char *vars = th_strf("INGESTD_DATA_DIR='%s'", th_ingestd_data_dir(p));
    char *pid = th_strf("\"pid\":%d", (int)th_ingestd_pid(p));
    int status = 0;
    char *out;

    (void)state;
    out = run_cmd(vars, "migrate", &status, NULL);
    if (status != 0 || !strstr(out, "migrating through its running postgresql") ||
        !strstr(out, pid) || !strstr(out, "\"migrations up to date\""))
        fail_msg("migrate on a served data directory: want exit 0, through the server of %s, "
                 "got exit %d:\n%s",
                 pid, status, out);
    free(out);
    /* the server was neither stopped nor restarted */
    assert_int_equal(postmaster_pid(th_ingestd_data_dir(p)), pgpid);
    assert_int_equal(kill((pid_t)pgpid, 0), 0);
    want_ready(p);
    th_sleep_ms(500);
    want_ready(p);

    /* without a server, migrate owns the directory for its run and stops its PostgreSQL */
    assert_int_equal(th_ingestd_term(p), 0);
    out = run_cmd(vars, "migrate", &status, NULL);
    if (status != 0 || !strstr(out, "embedded postgresql started") ||
        strstr(out, "migrating through"))
        fail_msg("migrate on an idle data directory: exit %d:\n%s", status, out);
    assert_int_equal(postmaster_pid(th_ingestd_data_dir(p)), 0);
    free(out);
    free(pid);
    free(vars);
    th_ingestd_free(p);
}

static void
test_kill9_owner_then_restart(void **state)
{
    struct th_ingestd *p = th_ingestd_start(NULL, NULL);
    long pgpid = postmaster_pid(th_ingestd_data_dir(p));
    char *lockpath = th_strf("%s/ingestd.lock", th_ingestd_data_dir(p));
    char *text;

    (void)state;
    th_ingestd_kill9(p);
    assert_int_equal(kill((pid_t)pgpid, 0), 0); /* its PostgreSQL lives on */
    th_ingestd_restart(p);                      /* fails the test unless it gets ready */
    assert_int_equal(postmaster_pid(th_ingestd_data_dir(p)), pgpid); /* adopted */
    text = th_read_file(lockpath, NULL);
    assert_int_equal(strtol(text, NULL, 10), th_ingestd_pid(p));
    free(text);
    want_ready(p);
    want_refused(p); /* the new owner holds the directory */
    want_ready(p);
    assert_int_equal(th_ingestd_term(p), 0);
    assert_int_equal(postmaster_pid(th_ingestd_data_dir(p)), 0);
    free(lockpath);
    th_ingestd_free(p);
}

/* ---- DATABASE_URL ---------------------------------------------------------- */

static void
test_malformed_database_url(void **state)
{
    static const struct {
        const char *vars;
        const char *var;
    } cases[] = {
        {"DATABASE_URL='postgresql://user-sekrit:pw-sekrit@[::1/db-sekrit'", "DATABASE_URL:"},
        {"DATABASE_URL='host=host-sekrit password=pw-sekrit junk-sekrit'", "DATABASE_URL:"},
        {"DATABASE_URL='postgresql://u:pw-sekrit@h/db?no-such-option-sekrit=1'", "DATABASE_URL:"},
        {"DATABASE_URL_FILE=", "DATABASE_URL_FILE:"}, /* + the file's name */
    };
    char file[] = "/tmp/thurl.XXXXXX";
    int fd = mkstemp(file);
    size_t i;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "dbname=x sekrit-in-a-file\n", 26), 26);
    close(fd);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *vars = th_strf("%s%s", cases[i].vars, strstr(cases[i].vars, "_FILE=") ? file : "");
        long ms = 0;
        int status = 0;
        char *out = run_cmd(vars, "serve", &status, &ms);

        if (status != 2 || count_lines(out) != 1 || !strstr(out, cases[i].var) ||
            strstr(out, SECRET_MARK) || ms > 2000)
            fail_msg("%s: want exit 2 at once and one line naming %s without the value, got "
                     "exit %d after %ld ms:\n%s",
                     vars, cases[i].var, status, ms, out);
        free(out);
        free(vars);
    }
    unlink(file);
}

/* Run ingestd serve in the background with vars (a NULL-terminated list); output to logpath. */
static pid_t
spawn_serve(const char *const *vars, const char *logpath)
{
    char *argv[] = {xstrdup(INGESTD_BIN), xstrdup("serve"), NULL};
    char *envp[16];
    size_t n = 0;
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_t pid;

    assert_true(logfd >= 0);
    envp[n++] = th_strf("PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    envp[n++] = th_strf("INGESTD_LISTEN=127.0.0.1:0");
    if (getenv("ASAN_OPTIONS"))
        envp[n++] = th_strf("ASAN_OPTIONS=%s", getenv("ASAN_OPTIONS"));
    if (getenv("TSAN_OPTIONS"))
        envp[n++] = th_strf("TSAN_OPTIONS=%s", getenv("TSAN_OPTIONS"));
    while (*vars && n < 15)
        envp[n++] = th_strf("%s", *vars++);
    envp[n] = NULL;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sigset_t none;

        if (dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
            _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(logfd);
    while (n > 0)
        free(envp[--n]);
    free(argv[0]);
    free(argv[1]);
    return pid;
}

/* The log's lines whose msg is `msg`, parsed (a JSON array; caller decrefs). */
static json_t *
log_lines(const char *logpath, const char *msg)
{
    char *log = th_read_file(logpath, NULL);
    json_t *found = json_array();
    char *line = log;

    while (line && *line) {
        char *eol = strchr(line, '\n');
        json_t *j;

        if (!eol)
            break; /* a line still being written */
        j = json_loadb(line, (size_t)(eol - line), 0, NULL);
        if (j && json_string_value(json_object_get(j, "msg")) &&
            strcmp(json_string_value(json_object_get(j, "msg")), msg) == 0)
            json_array_append(found, j);
        json_decref(j);
        line = eol + 1;
    }
    free(log);
    return found;
}

static void
test_unreachable_database_then_sigterm(void **state)
{
    int port = closed_port();
    char *url =
        th_strf("DATABASE_URL=postgresql://ingestd:pw-" SECRET_MARK "@127.0.0.1:%d/ingestd", port);
    char logpath[] = "/tmp/thwait.XXXXXX";
    int fd = mkstemp(logpath);
    const char *vars[] = {url, NULL};
    char *where = th_strf("port %d", port);
    long deadline = th_now_ms() + 15000;
    json_t *tries = NULL;
    json_t *stops;
    char *log;
    pid_t pid;
    int status = 0;
    long t0;
    long ms;
    size_t i;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    pid = spawn_serve(vars, logpath);
    /* attempts 1, 2, 3 come after 0, 0.5 and 1.5 s */
    for (;;) {
        json_decref(tries);
        tries = log_lines(logpath, "database not reachable, retrying");
        if (json_array_size(tries) >= 3 || th_now_ms() > deadline ||
            waitpid(pid, &status, WNOHANG) == pid)
            break;
        th_sleep_ms(50);
    }
    if (json_array_size(tries) < 3) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        log = th_read_file(logpath, NULL);
        fail_msg("want 3 logged attempts within 15 s:\n%s", log);
    }
    for (i = 0; i < 3; i++) {
        json_t *t = json_array_get(tries, i);

        assert_int_equal(th_jint(t, "attempt"), (json_int_t)i + 1);
        assert_int_equal(th_jint(t, "retry_in_ms"), 500 << i);
        if (!strstr(th_jstr(t, "error"), where))
            fail_msg("attempt %zu: the error does not come from libpq: %s", i + 1,
                     th_jstr(t, "error"));
    }
    json_decref(tries);

    t0 = th_now_ms();
    assert_int_equal(kill(pid, SIGTERM), 0);
    while (waitpid(pid, &status, WNOHANG) != pid && th_now_ms() - t0 < 5000)
        th_sleep_ms(5);
    ms = th_now_ms() - t0;
    if (ms >= 1000) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        log = th_read_file(logpath, NULL);
        fail_msg("SIGTERM during the wait for the database: exit after %ld ms, want < 1000:\n%s",
                 ms, log);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    stops = log_lines(logpath, "stopped while waiting for the database");
    assert_int_equal(json_array_size(stops), 1);
    json_decref(stops);
    log = th_read_file(logpath, NULL);
    if (strstr(log, SECRET_MARK))
        fail_msg("the log shows the password:\n%s", log);
    free(log);
    unlink(logpath);
    free(where);
    free(url);
}

static void
test_unreachable_database_gives_up(void **state)
{
    char *vars = th_strf("INGESTD_DB_WAIT=1 DATABASE_URL=postgresql://ingestd:pw-" SECRET_MARK
                         "@127.0.0.1:%d/ingestd",
                         closed_port());
    long ms = 0;
    int status = 0;
    char *out = run_cmd(vars, "migrate", &status, &ms);

    (void)state;
    /* attempts at 0, 0.5 and 1 s (the last wait cut to the limit) */
    if (status != 1 || !strstr(out, "\"attempt\":2") ||
        !strstr(out, "database not reachable after 3 attempts in 1 s: ") ||
        !strstr(out, "Connection refused") || strstr(out, SECRET_MARK) || ms > 5000)
        fail_msg("INGESTD_DB_WAIT=1: want 3 attempts, then exit 1, got exit %d after %ld ms:\n%s",
                 status, ms, out);
    free(out);
    free(vars);
}

/* ---- the variables ----------------------------------------------------------- */

static void
test_unknown_variables_warned(void **state)
{
    const char *env[] = {"INGESTD_LISTN=127.0.0.1:9", "INGESTD_DB_POLO=3",
                         "INGESTD_XYZZY_FROB=" SECRET_MARK, NULL};
    struct th_ingestd *p = th_ingestd_start(th_pg_url(G.pg), env);
    json_t *warned;
    char *log;

    (void)state;
    log = th_read_file(th_ingestd_log(p), NULL);
    warned = log_lines(th_ingestd_log(p),
                       "unknown variable INGESTD_LISTN ignored; did you mean INGESTD_LISTEN?");
    if (json_array_size(warned) != 1)
        fail_msg("INGESTD_LISTN not warned about with its suggestion:\n%s", log);
    assert_string_equal(th_jstr(json_array_get(warned, 0), "variable"), "INGESTD_LISTN");
    assert_string_equal(th_jstr(json_array_get(warned, 0), "did_you_mean"), "INGESTD_LISTEN");
    assert_string_equal(th_jstr(json_array_get(warned, 0), "level"), "warn");
    json_decref(warned);
    warned = log_lines(th_ingestd_log(p),
                       "unknown variable INGESTD_DB_POLO ignored; did you mean INGESTD_DB_POOL?");
    assert_int_equal(json_array_size(warned), 1);
    json_decref(warned);
    warned = log_lines(th_ingestd_log(p), "unknown variable INGESTD_XYZZY_FROB ignored");
    if (json_array_size(warned) != 1 || json_object_get(json_array_get(warned, 0), "did_you_mean"))
        fail_msg("INGESTD_XYZZY_FROB: want one warning without a suggestion:\n%s", log);
    json_decref(warned);
    /* known names are not warned about, values never logged */
    if (strstr(log, "unknown variable INGESTD_LISTEN ") ||
        strstr(log, "unknown variable INGESTD_DATA_DIR") || strstr(log, SECRET_MARK))
        fail_msg("a known variable was warned about, or a value was logged:\n%s", log);
    free(log);
    want_ready(p);
    th_ingestd_free(p);
}

static void
test_bad_values_named(void **state)
{
    static const struct {
        const char *vars;
        const char *want;
    } cases[] = {
        {"INGESTD_LISTEN=localhost:8080", "INGESTD_LISTEN: the address must be numeric"},
        {"INGESTD_DB_WAIT=-1", "INGESTD_DB_WAIT: must be an integer"},
        {"INGESTD_DB_WAIT=soon", "INGESTD_DB_WAIT: must be an integer"},
        {"INGESTD_DATA_DIR=\"/tmp/it's\"", "INGESTD_DATA_DIR: must not contain"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status = 0;
        char *out = run_cmd(cases[i].vars, "serve", &status, NULL);

        if (status != 2 || count_lines(out) != 1 || !strstr(out, cases[i].want))
            fail_msg("%s: want exit 2 and one line \"%s\", got exit %d:\n%s", cases[i].vars,
                     cases[i].want, status, out);
        free(out);
    }
}

/* ---- ingestd config ---------------------------------------------------------- */

/* The line of `name` in the output of ingestd config; fails the test when there is none. */
static char *
config_line(const char *out, const char *name)
{
    size_t n = strlen(name);
    const char *p = out;

    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);

        if (len > n && strncmp(p, name, n) == 0 && p[n] == ' ')
            return th_strf("%.*s", (int)len, p);
        p = eol ? eol + 1 : NULL;
    }
    fail_msg("ingestd config shows no line for %s:\n%s", name, out);
    return NULL;
}

/* The line of name has the source and the value (a substring) wanted. */
static void
want_setting(const char *out, const char *name, const char *source, const char *value)
{
    char *line = config_line(out, name);
    char *want_source = th_strf(" %s ", source);

    if (!strstr(line, want_source) || !strstr(line, value))
        fail_msg("%s: want source %s and value \"%s\", got: %s", name, source, value, line);
    free(want_source);
    free(line);
}

static void
test_config_redacts_secrets(void **state)
{
    static const char *const every[] = {
        "DATABASE_URL",
        "INGESTD_DB_WAIT",
        "INGESTD_LISTEN",
        "INGESTD_DATA_DIR",
        "INGESTD_PG_BINDIR",
        "INGESTD_HTTP_THREADS",
        "INGESTD_DB_POOL",
        "INGESTD_REQUEST_TIMEOUT",
        "INGESTD_SHUTDOWN_GRACE",
        "INGESTD_MAX_BODY_BYTES",
        "INGESTD_MAX_COLUMNS",
        "INGESTD_MAX_FIELD_BYTES",
        "INGESTD_MAX_ROWS",
        "INGESTD_MERGE_INTERVAL",
        "INGESTD_INVENTORY_STREAMS",
        "INGESTD_INVENTORY_MERGE_BELOW",
        "INGESTD_API_TOKENS",
        "INGESTD_API_TOKENS_FILE",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    };
    char tmpl[] = "/tmp/thcfg.XXXXXX";
    char *datadir;
    char *vars;
    char *urlfile;
    char *out;
    long ms = 0;
    int status = 0;
    size_t i;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(tmpl));
    datadir = th_strf("%s/never-made", tmpl);
    vars = th_strf("INGESTD_DATA_DIR=%s INGESTD_API_TOKENS=read:" SECRET_MARK "-token "
                   "DATABASE_URL='postgresql://ingestd:pw-" SECRET_MARK
                   "@127.0.0.1:%d/ingestd?application_name=x' "
                   "AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=aws-" SECRET_MARK " "
                   "AWS_SESSION_TOKEN=session-" SECRET_MARK " INGESTD_DB_POOL=7",
                   datadir, closed_port());
    out = run_cmd(vars, "config", &status, &ms);
    if (status != 0 || strstr(out, SECRET_MARK) || ms > 2000)
        fail_msg("ingestd config: want exit 0 at once and no secret, got exit %d after %ld ms:\n%s",
                 status, ms, out);
    for (i = 0; i < sizeof(every) / sizeof(every[0]); i++)
        free(config_line(out, every[i]));
    want_setting(out, "DATABASE_URL", "environment", "password=<redacted>");
    want_setting(out, "DATABASE_URL", "environment", "user=ingestd");
    want_setting(out, "DATABASE_URL", "environment", "host=127.0.0.1");
    want_setting(out, "INGESTD_API_TOKENS", "environment", "<redacted>");
    want_setting(out, "AWS_SECRET_ACCESS_KEY", "environment", "<redacted>");
    want_setting(out, "AWS_SESSION_TOKEN", "environment", "<redacted>");
    want_setting(out, "AWS_ACCESS_KEY_ID", "environment", "AKIDEXAMPLE");
    want_setting(out, "INGESTD_DB_POOL", "environment", " 7");
    want_setting(out, "INGESTD_MAX_ROWS", "default", " 1000000");
    want_setting(out, "INGESTD_LISTEN", "environment", "127.0.0.1:0");
    want_setting(out, "INGESTD_DB_WAIT", "default", " 60");
    want_setting(out, "AWS_ENDPOINT_URL", "default", "(unset");
    /* it starts nothing: no database attempt, no data directory */
    if (strstr(out, "database not reachable") || access(datadir, F_OK) == 0)
        fail_msg("ingestd config started something:\n%s", out);
    free(out);
    free(vars);

    /* DATABASE_URL from a file: the source says so */
    urlfile = th_strf("%s/database-url", tmpl);
    f = fopen(urlfile, "w");
    assert_non_null(f);
    fputs("host=127.0.0.1 dbname=ingestd password=file-" SECRET_MARK "\n", f);
    fclose(f);
    vars = th_strf("DATABASE_URL_FILE=%s", urlfile);
    out = run_cmd(vars, "config", &status, NULL);
    assert_int_equal(status, 0);
    if (strstr(out, SECRET_MARK))
        fail_msg("ingestd config shows the password of DATABASE_URL_FILE:\n%s", out);
    want_setting(out, "DATABASE_URL", "DATABASE_URL_FILE", "password=<redacted>");
    free(out);
    free(vars);

    /* the usage text names the command and the new variable */
    out = run_cmd("", "--help", &status, NULL);
    assert_int_equal(status, 0);
    if (!strstr(out, "  config ") || !strstr(out, "INGESTD_DB_WAIT") ||
        !strstr(out, "in use by pid"))
        fail_msg("--help does not describe config, INGESTD_DB_WAIT and the lock:\n%s", out);
    free(out);

    unlink(urlfile);
    free(urlfile);
    assert_int_equal(rmdir(tmpl), 0);
    free(datadir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_serve_refused),
        cmocka_unit_test(test_migrate_through_running_server),
        cmocka_unit_test(test_kill9_owner_then_restart),
        cmocka_unit_test(test_malformed_database_url),
        cmocka_unit_test(test_unreachable_database_then_sigterm),
        cmocka_unit_test(test_unreachable_database_gives_up),
        cmocka_unit_test(test_unknown_variables_warned),
        cmocka_unit_test(test_bad_values_named),
        cmocka_unit_test(test_config_redacts_secrets),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
