/*
 * harness.c - helpers for the integration tests (see harness.h)
 *
 * Processes: ingestd runs as a child of the test with PR_SET_PDEATHSIG, so a
 * crashed test does not leave it behind. An embedded PostgreSQL started by
 * ingestd is a daemon (pg_ctl detaches it); after a kill -9 of ingestd it
 * keeps running, so th_ingestd_free stops it through its postmaster.pid.
 * Not thread-safe: use from the test's thread.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "storage/embedded_pg.h"

#define TH_READY_TIMEOUT_MS 30000
#define TH_TERM_TIMEOUT_MS 30000
#define TH_HTTP_TIMEOUT_S 60L
#define TH_LOG_TAIL_BYTES 3000

/* ---- basics ------------------------------------------------------------ */

static void th_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Fail the running cmocka test with a formatted message. */
static void
th_fail(const char *fmt, ...)
{
    struct buf b;
    va_list ap;

    buf_init(&b, 0);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    print_error("ERROR: %s\n", b.data ? b.data : "");
    buf_release(&b);
    fail();
    abort(); /* _fail() does not return */
}

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
    struct buf b;
    va_list ap;

    buf_init(&b, 0);
    va_start(ap, fmt);
    if (buf_vprintf(&b, fmt, ap))
        abort();
    va_end(ap);
    return buf_take(&b, NULL);
}

/* The file from byte `offset` on, NUL-terminated, or NULL when it cannot be read. */
static char *
slurp(const char *path, long offset, size_t *len)
{
    struct buf b;
    char chunk[8192];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    if (offset > 0 && lseek(fd, offset, SEEK_SET) < 0) {
        close(fd);
        return NULL;
    }
    buf_init(&b, 0);
    buf_append(&b, "", 0);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_release(&b);
            close(fd);
            return NULL;
        }
        buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    return buf_take(&b, len);
}

char *
th_read_file(const char *path, size_t *len)
{
    char *data = slurp(path, 0, len);

    if (!data)
        th_fail("cannot read %s: %s", path, strerror(errno));
    return data;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* rm -rf dir */
static void
rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new temp dir /tmp/<prefix>.XXXXXX, traversable by other users (postgres). */
static char *
make_temp_dir(const char *prefix)
{
    char *tmpl = xasprintf("/tmp/%s.XXXXXX", prefix);

    if (!mkdtemp(tmpl))
        th_fail("mkdtemp %s: %s", tmpl, strerror(errno));
    if (chmod(tmpl, 0711) != 0)
        th_fail("chmod %s: %s", tmpl, strerror(errno));
    return tmpl;
}

/* ---- PostgreSQL ------------------------------------------------------ */

struct th_pg {
    char *dir;
    struct embedded_pg *pg;
};

struct th_pg *
th_pg_start(void)
{
    char errbuf[ERRBUF_SIZE];
    struct th_pg *pg = xcalloc(1, sizeof(*pg));

    pg->dir = make_temp_dir("thpg");
    if (embedded_pg_start(pg->dir, &pg->pg, errbuf, sizeof(errbuf)))
        th_fail("embedded postgresql in %s: %s", pg->dir, errbuf);
    return pg;
}

const char *
th_pg_url(const struct th_pg *pg)
{
    return embedded_pg_conninfo(pg->pg);
}

const char *
th_pg_dir(const struct th_pg *pg)
{
    return pg->dir;
}

void
th_pg_stop(struct th_pg *pg)
{
    char errbuf[ERRBUF_SIZE];

    if (embedded_pg_stop(pg->pg, errbuf, sizeof(errbuf)))
        th_fail("stopping postgresql in %s: %s", pg->dir, errbuf);
}

void
th_pg_restart(struct th_pg *pg)
{
    char errbuf[ERRBUF_SIZE];

    if (embedded_pg_restart(pg->pg, errbuf, sizeof(errbuf)))
        th_fail("restarting postgresql in %s: %s", pg->dir, errbuf);
}

void
th_pg_free(struct th_pg *pg)
{
    if (!pg)
        return;
    embedded_pg_free(pg->pg);
    rm_rf(pg->dir);
    free(pg->dir);
    free(pg);
}

PGresult *
th_pg_exec(const struct th_pg *pg, const char *sql)
{
    char msg[1024];
    PGconn *conn = PQconnectdb(th_pg_url(pg));
    PGresult *res;
    ExecStatusType st;

    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        PQfinish(conn);
        th_fail("connecting to %s: %s", th_pg_url(pg), msg);
    }
    res = PQexec(conn, sql);
    st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(conn);
        th_fail("sql failed: %s\n  %s", sql, msg);
    }
    PQfinish(conn);
    return res;
}

char *
th_pg_scalar(const struct th_pg *pg, const char *sql)
{
    PGresult *res = th_pg_exec(pg, sql);
    char *value = NULL;

    if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
        value = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}

long long
th_pg_ll(const struct th_pg *pg, const char *sql)
{
    char *v = th_pg_scalar(pg, sql);
    long long n;

    if (!v)
        fail_msg("no value from: %s", sql);
    n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

/* ---- the ingestd binary ---------------------------------------------- */

struct th_ingestd {
    char *tmpdir;
    char *datadir; /* tmpdir/var */
    char *logpath; /* tmpdir/ingestd.log */
    char **envp;   /* NULL-terminated, owned */
    pid_t pid;     /* -1 when not running */
    int exit_status;
    long log_offset; /* where the current run's output starts */
    int port;
    char base[64];
};

static const char *const passthrough_env[] = {"PATH",          "INGESTD_PG_BINDIR", "ASAN_OPTIONS",
                                              "UBSAN_OPTIONS", "LSAN_OPTIONS",      "TSAN_OPTIONS"};

/* 1 when `list` has an entry "name=..." (or "name: ..." with sep ':'), case-sensitively or not. */
static int
list_has(const char *const *list, const char *name, char sep, int nocase)
{
    size_t n = strlen(name);

    for (; list && *list; list++) {
        int same = nocase ? strncasecmp(*list, name, n) == 0 : strncmp(*list, name, n) == 0;

        if (same && (*list)[n] == sep)
            return 1;
    }
    return 0;
}

static void
env_add(char **envp, size_t *n, const char *const *extra, const char *name, const char *value)
{
    if (!value || list_has(extra, name, '=', 0))
        return;
    envp[(*n)++] = xasprintf("%s=%s", name, value);
}

static char **
build_env(const char *database_url, const char *const *extra, const char *datadir)
{
    size_t nextra = 0;
    size_t n = 0;
    size_t i;
    char **envp;

    while (extra && extra[nextra])
        nextra++;
    envp = xcalloc(nextra + 4 + sizeof(passthrough_env) / sizeof(passthrough_env[0]) + 1,
                   sizeof(*envp));
    for (i = 0; i < nextra; i++)
        envp[n++] = xstrdup(extra[i]);
    env_add(envp, &n, extra, "INGESTD_LISTEN", "127.0.0.1:0");
    env_add(envp, &n, extra, "INGESTD_DATA_DIR", datadir);
    env_add(envp, &n, extra, "DATABASE_URL", database_url);
    for (i = 0; i < sizeof(passthrough_env) / sizeof(passthrough_env[0]); i++)
        env_add(envp, &n, extra, passthrough_env[i], getenv(passthrough_env[i]));
    return envp;
}

static void
record_exit(struct th_ingestd *p, int status)
{
    if (WIFEXITED(status))
        p->exit_status = WEXITSTATUS(status);
    else
        p->exit_status = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    p->pid = -1;
    p->port = 0;
    p->base[0] = '\0';
}

/* Reap the child if it has exited, waiting up to timeout_ms; 1 when it is gone. */
static int
reap(struct th_ingestd *p, long timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    int status = 0;

    if (p->pid < 0)
        return 1;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);

        if (r == p->pid || (r < 0 && errno == ECHILD)) {
            record_exit(p, status);
            return 1;
        }
        if (now_ms() >= deadline)
            return 0;
        sleep_ms(20);
    }
}

static void
kill_and_reap(struct th_ingestd *p)
{
    int status = 0;

    if (p->pid < 0)
        return;
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
        ;
    record_exit(p, status);
}

/* Fast-shutdown a PostgreSQL left running in datadir/pgdata (after a kill -9 of ingestd). */
static void
stop_stray_pg(const char *datadir)
{
    char *pidfile = xasprintf("%s/pgdata/postmaster.pid", datadir);
    char *text = slurp(pidfile, 0, NULL);
    long pid = text ? strtol(text, NULL, 10) : 0;
    long deadline = now_ms() + TH_TERM_TIMEOUT_MS;

    if (pid > 1 && kill((pid_t)pid, SIGINT) == 0) {
        while (access(pidfile, F_OK) == 0 && kill((pid_t)pid, 0) == 0 && now_ms() < deadline)
            sleep_ms(50);
        if (access(pidfile, F_OK) == 0)
            kill((pid_t)pid, SIGKILL);
    }
    free(text);
    free(pidfile);
}

/* Child side of spawn: async-signal-safe calls only. */
static void
exec_ingestd(char **argv, char **envp, int logfd, int nullfd, pid_t parent)
{
    sigset_t none;

    if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
        _exit(127);
    if (close_range(3, ~0U, 0) != 0) {
        int fd;

        for (fd = 3; fd < 1024; fd++)
            close(fd);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[0], argv, envp);
    _exit(127);
}

static void
spawn(struct th_ingestd *p)
{
    char *argv[] = {xstrdup(INGESTD_BIN), xstrdup("serve"), NULL};
    int logfd = open(p->logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid();
    struct stat st;

    if (logfd < 0 || nullfd < 0 || fstat(logfd, &st) != 0)
        th_fail("cannot open %s or /dev/null: %s", p->logpath, strerror(errno));
    p->log_offset = (long)st.st_size;
    fflush(NULL);
    p->pid = fork();
    if (p->pid < 0)
        th_fail("fork: %s", strerror(errno));
    if (p->pid == 0)
        exec_ingestd(argv, p->envp, logfd, nullfd, parent);
    close(logfd);
    close(nullfd);
    free(argv[0]);
    free(argv[1]);
}

/* The "port" of a {"msg":"listening",...} line of this run's log, or 0. */
static int
find_listening_port(const struct th_ingestd *p)
{
    char *log = slurp(p->logpath, p->log_offset, NULL);
    char *line = log;
    int port = 0;

    while (line && *line && !port) {
        char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        json_t *j = strstr(line, "listening") ? json_loadb(line, n, 0, NULL) : NULL;
        const char *msg = json_string_value(json_object_get(j, "msg"));
        json_int_t v = json_integer_value(json_object_get(j, "port"));

        if (msg && !strcmp(msg, "listening") && v > 0 && v < 65536)
            port = (int)v;
        json_decref(j);
        line = eol ? eol + 1 : NULL;
    }
    free(log);
    return port;
}

/* Kill, stop its PostgreSQL, and fail the test showing the end of the log. */
static void th_ingestd_fail(struct th_ingestd *p, const char *why) __attribute__((noreturn));

static void
th_ingestd_fail(struct th_ingestd *p, const char *why)
{
    size_t len = 0;
    char *log = slurp(p->logpath, p->log_offset, &len);
    const char *tail = log ? log : "";

    kill_and_reap(p);
    stop_stray_pg(p->datadir);
    if (len > TH_LOG_TAIL_BYTES)
        tail = log + len - TH_LOG_TAIL_BYTES;
    th_fail("ingestd %s (exit status %d); temp dir kept: %s\n--- log tail ---\n%s", why,
            p->exit_status, p->tmpdir, tail);
}

/* Wait for the listening line and a 200 from /healthz. */
static void
wait_ready(struct th_ingestd *p)
{
    long deadline = now_ms() + TH_READY_TIMEOUT_MS;

    for (;;) {
        if (reap(p, 0))
            th_ingestd_fail(p, "exited before it was ready");
        if (!p->port) {
            p->port = find_listening_port(p);
            if (p->port)
                snprintf(p->base, sizeof(p->base), "http://127.0.0.1:%d", p->port);
        }
        if (p->port) {
            struct th_resp r;
            char *url = xasprintf("%s/healthz", p->base);
            int rc = th_http("GET", url, NULL, NULL, 0, &r);
            long status = r.status;

            th_resp_release(&r);
            free(url);
            if (rc == 0 && status == 200)
                return;
        }
        if (now_ms() >= deadline)
            th_ingestd_fail(p, "was not ready within 30 s");
        sleep_ms(50);
    }
}

struct th_ingestd *
th_ingestd_start(const char *database_url, const char *const *env)
{
    struct th_ingestd *p;

    if (access(INGESTD_BIN, X_OK) != 0)
        th_fail("INGESTD_BIN %s is not executable: %s", INGESTD_BIN, strerror(errno));
    p = xcalloc(1, sizeof(*p));
    p->pid = -1;
    p->tmpdir = make_temp_dir("thi");
    p->datadir = xasprintf("%s/var", p->tmpdir);
    p->logpath = xasprintf("%s/ingestd.log", p->tmpdir);
    p->envp = build_env(database_url, env, p->datadir);
    spawn(p);
    wait_ready(p);
    return p;
}

void
th_ingestd_restart(struct th_ingestd *p)
{
    if (p->pid >= 0)
        th_fail("th_ingestd_restart: ingestd (pid %d) is still running", (int)p->pid);
    spawn(p);
    wait_ready(p);
}

const char *
th_ingestd_base(const struct th_ingestd *p)
{
    return p->base;
}

int
th_ingestd_port(const struct th_ingestd *p)
{
    return p->port;
}

pid_t
th_ingestd_pid(const struct th_ingestd *p)
{
    return p->pid;
}

void
th_ingestd_kill9(struct th_ingestd *p)
{
    kill_and_reap(p);
}

int
th_ingestd_term(struct th_ingestd *p)
{
    if (p->pid < 0)
        return p->exit_status;
    kill(p->pid, SIGTERM);
    if (!reap(p, TH_TERM_TIMEOUT_MS))
        th_ingestd_fail(p, "did not exit within 30 s of SIGTERM");
    return p->exit_status;
}

const char *
th_ingestd_log(const struct th_ingestd *p)
{
    return p->logpath;
}

const char *
th_ingestd_data_dir(const struct th_ingestd *p)
{
    return p->datadir;
}

/*
 * What no run of ingestd may log, whatever the test: a job that handed its
 * database connection back inside a transaction (jobs/workers.c rolls it
 * back and says so). Aborts the test with the log line.
 */
static void
check_log(const char *path)
{
    static const char *const never[] = {"left its database transaction open", NULL};
    size_t len = 0;
    char *log = slurp(path, 0, &len); /* NULL when there is none */
    const char *hit;
    size_t i;

    for (i = 0; log && never[i]; i++) {
        if ((hit = strstr(log, never[i])) != NULL) {
            const char *start = hit;

            while (start > log && start[-1] != '\n')
                start--;
            fprintf(stderr, "ingestd logged: %.*s\n", (int)strcspn(start, "\n"), start);
            abort();
        }
    }
    free(log);
}

void
th_ingestd_free(struct th_ingestd *p)
{
    size_t i;

    if (!p)
        return;
    if (p->pid >= 0) {
        kill(p->pid, SIGTERM);
        if (!reap(p, TH_TERM_TIMEOUT_MS))
            kill_and_reap(p);
    }
    stop_stray_pg(p->datadir);
    check_log(p->logpath);
    rm_rf(p->tmpdir);
    for (i = 0; p->envp && p->envp[i]; i++)
        free(p->envp[i]);
    free(p->envp);
    free(p->tmpdir);
    free(p->datadir);
    free(p->logpath);
    free(p);
}

/* ---- HTTP ------------------------------------------------------------ */

struct upload {
    const char *data;
    size_t len;
    size_t off;
    size_t chunk_bytes; /* 0 = no limit */
};

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;

    if (buf_append(b, ptr, size * nmemb))
        return 0;
    return size * nmemb;
}

/* Keeps the header lines of the last response only (a 1xx response comes first). */
static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;

    if (n >= 5 && !strncmp(ptr, "HTTP/", 5)) {
        buf_reset(b);
        return n;
    }
    if (buf_append(b, ptr, n))
        return 0;
    return n;
}

static size_t
on_read(char *dst, size_t size, size_t nitems, void *userdata)
{
    struct upload *u = userdata;
    size_t n = size * nitems;

    if (n > u->len - u->off)
        n = u->len - u->off;
    if (u->chunk_bytes && n > u->chunk_bytes)
        n = u->chunk_bytes;
    if (n) {
        memcpy(dst, u->data + u->off, n);
        u->off += n;
    }
    return n;
}

static void
curl_ready(void)
{
    static int done;

    if (done)
        return;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        th_fail("curl_global_init failed");
    atexit(curl_global_cleanup);
    done = 1;
}

static struct curl_slist *
make_header_list(const char *const *headers, int chunked)
{
    struct curl_slist *list = NULL;
    const char *const *h;

    for (h = headers; h && *h; h++)
        list = curl_slist_append(list, *h);
    /* libcurl would add these by itself: a form Content-Type for POST, Expect for uploads */
    if (!list_has(headers, "Content-Type", ':', 1))
        list = curl_slist_append(list, "Content-Type:");
    if (!list_has(headers, "Expect", ':', 1))
        list = curl_slist_append(list, "Expect:");
    if (chunked && !list_has(headers, "Transfer-Encoding", ':', 1))
        list = curl_slist_append(list, "Transfer-Encoding: chunked");
    return list;
}

static void
set_method(CURL *h, const char *method, const void *body, size_t body_len, int chunked,
           struct upload *up)
{
    int is_post = !strcmp(method, "POST");

    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (chunked) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, up);
        if (is_post) {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
        } else {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)-1);
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
    } else if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        if (!is_post)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
}

static int
perform(const char *method, const char *url, const char *const *headers, const void *body,
        size_t body_len, int chunked, size_t chunk_bytes, struct th_resp *out)
{
    struct upload up = {body, body ? body_len : 0, 0, chunk_bytes};
    struct curl_slist *list = NULL;
    struct buf bodyb;
    struct buf hdrb;
    CURL *h = NULL;
    CURLcode cc;

    memset(out, 0, sizeof(*out));
    curl_ready();
    buf_init(&bodyb, 0);
    buf_init(&hdrb, 0);
    h = curl_easy_init();
    if (!h)
        th_fail("curl_easy_init failed");
    list = make_header_list(headers, chunked);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, TH_HTTP_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &bodyb);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hdrb);
    set_method(h, method, body, body_len, chunked, &up);
    cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    buf_append(&bodyb, "", 0); /* NUL-terminated even when empty */
    buf_append(&hdrb, "", 0);
    out->body = buf_take(&bodyb, &out->len);
    out->headers = buf_take(&hdrb, NULL);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    return (int)cc;
}

int
th_http(const char *method, const char *url, const char *const *headers, const void *body,
        size_t body_len, struct th_resp *out)
{
    return perform(method, url, headers, body, body_len, 0, 0, out);
}

int
th_http_chunked(const char *method, const char *url, const char *const *headers, const void *body,
                size_t body_len, size_t chunk_bytes, struct th_resp *out)
{
    return perform(method, url, headers, body, body_len, 1, chunk_bytes, out);
}

char *
th_resp_header(const struct th_resp *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *line = r->headers;
    char *found = NULL;

    while (line && *line) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);

        if ((size_t)(end - line) > nlen && !strncasecmp(line, name, nlen) && line[nlen] == ':') {
            const char *v = line + nlen + 1;

            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            free(found);
            found = xstrndup(v, (size_t)(end - v));
        }
        line = eol ? eol + 1 : NULL;
    }
    return found;
}

json_t *
th_resp_json(const struct th_resp *r)
{
    json_error_t jerr;
    json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, &jerr);

    if (!j)
        th_fail("response body (status %ld) is not JSON: %s\n  %.300s", r->status, jerr.text,
                r->body ? r->body : "");
    return j;
}

void
th_resp_release(struct th_resp *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

/* ---- conveniences ------------------------------------------------------- */

struct th_resp
th_request(const char *method, const char *base, const char *path, const char *const *headers,
           const void *body, size_t body_len)
{
    struct th_resp r;
    char *url = xasprintf("%s%s", base, path);
    int rc = th_http(method, url, headers, body, body_len, &r);

    if (rc != 0) {
        th_resp_release(&r);
        th_fail("%s %s: %s", method, url, curl_easy_strerror((CURLcode)rc));
    }
    free(url);
    return r;
}

struct th_resp
th_get(const char *base, const char *path, const char *const *headers)
{
    return th_request("GET", base, path, headers, NULL, 0);
}

/* POST `text` with `content_type` unless the caller's headers name one. */
static struct th_resp
post_typed(const char *base, const char *path, const char *text, const char *content_type,
           const char *const *headers)
{
    const char **all;
    size_t n = 0;
    size_t i;
    struct th_resp r;

    while (headers && headers[n])
        n++;
    all = xcalloc(n + 2, sizeof(*all));
    for (i = 0; i < n; i++)
        all[i] = headers[i];
    if (!list_has(headers, "Content-Type", ':', 1))
        all[n] = content_type;
    r = th_request("POST", base, path, all, text, strlen(text));
    free(all);
    return r;
}

struct th_resp
th_post_csv(const char *base, const char *path, const char *csv, const char *const *headers)
{
    return post_typed(base, path, csv, "Content-Type: text/csv", headers);
}

struct th_resp
th_post_json(const char *base, const char *path, const char *json, const char *const *headers)
{
    return post_typed(base, path, json, "Content-Type: application/json", headers);
}
