/*
 * harness_browser.c - headless Chromium over the DevTools protocol on a pipe
 * (see harness_browser.h)
 *
 * Chromium reads commands from its fd 3 and writes replies and events to its
 * fd 4, each a JSON text followed by a NUL byte. The harness opens one tab
 * (Target.createTarget), attaches to it in flat mode (commands carry the
 * tab's sessionId) and enables the Runtime, Log, Network and Page domains,
 * whose events it records while it waits for the reply it needs.
 * The browser runs in a process group of its own with PR_SET_PDEATHSIG, so
 * neither a failed test nor a crash leaves it behind.
 */
#include "harness_browser.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

#define TB_START_TIMEOUT_MS 30000
#define TB_LOAD_TIMEOUT_MS 30000
#define TB_SETTLE_MS 300
#define TB_CLOSE_TIMEOUT_MS 10000
#define TB_MAX_MESSAGE (64 * 1024 * 1024)

struct th_browser {
    pid_t pid;
    int to_fd;   /* chromium's fd 3 */
    int from_fd; /* chromium's fd 4 */
    char *dir;   /* profile/ and chromium.log */
    struct buf in;
    int next_id;
    char *session;
    /* the load in progress */
    struct th_page *page;
    json_t *urls; /* requestId -> URL */
    int loaded;
};

static void tb_fail(struct th_browser *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Fail the running test, naming the browser's log. */
static void
tb_fail(struct th_browser *b, const char *fmt, ...)
{
    struct buf m;
    va_list ap;

    buf_init(&m, 0);
    va_start(ap, fmt);
    buf_vprintf(&m, fmt, ap);
    va_end(ap);
    print_error("ERROR: browser: %s (log: %s/chromium.log)\n", m.data ? m.data : "",
                b && b->dir ? b->dir : "-");
    buf_release(&m);
    fail();
    abort(); /* not reached: fail() jumps out of the test */
}

static long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the process ---- */

static const char *
chromium_path(void)
{
    const char *env = getenv("CHROMIUM");

    if (env && *env)
        return env;
    return access("/usr/bin/chromium", X_OK) == 0 ? "/usr/bin/chromium" : NULL;
}

/* In the child: the pipe ends become fds 3 and 4, the log stdout and stderr. */
static void
exec_chromium(const char *path, const char *profile, int cmd_fd, int out_fd, int logfd,
              pid_t parent)
{
    sigset_t none;
    int a = fcntl(cmd_fd, F_DUPFD, 10);
    int o = fcntl(out_fd, F_DUPFD, 10);
    int nullfd = open("/dev/null", O_RDONLY);

    if (a < 0 || o < 0 || nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 ||
        dup2(logfd, 2) < 0 || dup2(a, 3) < 0 || dup2(o, 4) < 0)
        _exit(127);
    if (close_range(5, ~0U, 0) != 0) {
        int fd;

        for (fd = 5; fd < 1024; fd++)
            close(fd);
    }
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execl(path, path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
          "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-extensions",
          "--disable-default-apps", "--mute-audio", "--window-size=1280,900",
          "--remote-debugging-pipe", profile, "about:blank", (char *)NULL);
    _exit(127);
}

static void
spawn(struct th_browser *b, const char *path)
{
    int cmd[2];  /* we write cmd[1]; chromium reads cmd[0] as fd 3 */
    int resp[2]; /* chromium writes resp[1] as fd 4; we read resp[0] */
    char *log;
    char *profile;
    int logfd;
    pid_t parent = getpid();
    struct buf p;

    buf_init(&p, 0);
    buf_printf(&p, "%s/chromium.log", b->dir);
    log = buf_take(&p, NULL);
    buf_printf(&p, "--user-data-dir=%s/profile", b->dir);
    profile = buf_take(&p, NULL);
    logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    free(log);
    if (logfd < 0 || pipe2(cmd, O_CLOEXEC) != 0 || pipe2(resp, O_CLOEXEC) != 0)
        tb_fail(b, "cannot create the pipes or the log: %s", strerror(errno));
    fflush(NULL);
    b->pid = fork();
    if (b->pid < 0)
        tb_fail(b, "fork: %s", strerror(errno));
    if (b->pid == 0)
        exec_chromium(path, profile, cmd[0], resp[1], logfd, parent);
    free(profile);
    setpgid(b->pid, b->pid); /* also here: no race with the child's own call */
    close(cmd[0]);
    close(resp[1]);
    close(logfd);
    b->to_fd = cmd[1];
    b->from_fd = resp[0];
}

/* ---- messages ---- */

static void
send_raw(struct th_browser *b, const char *text)
{
    size_t len = strlen(text) + 1; /* with the NUL separator */
    size_t off = 0;

    while (off < len) {
        ssize_t n = write(b->to_fd, text + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            tb_fail(b, "write to the DevTools pipe: %s", strerror(errno));
        off += (size_t)n;
    }
}

/* Send a command (params stolen, may be NULL); returns its id. */
static int
send_cmd(struct th_browser *b, const char *method, json_t *params, int in_session)
{
    json_t *m = json_pack("{s:i,s:s}", "id", ++b->next_id, "method", method);
    char *text;

    json_object_set_new(m, "params", params ? params : json_object());
    if (in_session && b->session)
        json_object_set_new(m, "sessionId", json_string(b->session));
    text = json_dumps(m, JSON_COMPACT);
    send_raw(b, text);
    free(text);
    json_decref(m);
    return b->next_id;
}

/* The next whole message, or NULL when none arrived before deadline_ms (mono). */
static json_t *
read_msg(struct th_browser *b, long deadline_ms)
{
    for (;;) {
        char *nul = b->in.len ? memchr(b->in.data, '\0', b->in.len) : NULL;
        struct pollfd pfd = {b->from_fd, POLLIN, 0};
        char chunk[65536];
        long left = deadline_ms - mono_ms();
        ssize_t n;

        if (nul) {
            size_t len = (size_t)(nul - b->in.data);
            json_t *m = json_loadb(b->in.data, len, 0, NULL);

            memmove(b->in.data, nul + 1, b->in.len - len - 1);
            b->in.len -= len + 1;
            if (!m)
                tb_fail(b, "a DevTools message that is not JSON");
            return m;
        }
        if (left <= 0)
            return NULL;
        n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return NULL;
        n = read(b->from_fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            tb_fail(b, "chromium closed the DevTools pipe (it exited)");
        if (buf_append(&b->in, chunk, (size_t)n))
            tb_fail(b, "a DevTools message over %d bytes", TB_MAX_MESSAGE);
    }
}

static void add_problem(struct th_browser *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add_problem(struct th_browser *b, const char *fmt, ...)
{
    struct buf m;
    va_list ap;

    if (!b->page)
        return;
    buf_init(&m, 0);
    va_start(ap, fmt);
    buf_vprintf(&m, fmt, ap);
    va_end(ap);
    json_array_append_new(b->page->problems, json_string(m.data ? m.data : ""));
    buf_release(&m);
}

static const char *
jstr(json_t *o, const char *path0, const char *path1)
{
    json_t *v = json_object_get(o, path0);

    if (path1)
        v = json_object_get(v, path1);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* console.log/error/... : the arguments' values or descriptions, space-separated. */
static void
on_console(struct th_browser *b, json_t *p)
{
    struct buf text;
    json_t *arg;
    size_t i;

    buf_init(&text, 0);
    json_array_foreach(json_object_get(p, "args"), i, arg)
    {
        json_t *v = json_object_get(arg, "value");
        char *dump = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

        buf_printf(&text, "%s%s", i ? " " : "",
                   json_is_string(v) ? json_string_value(v)
                   : dump            ? dump
                                     : jstr(arg, "description", NULL));
        free(dump);
    }
    add_problem(b, "console.%s: %s", jstr(p, "type", NULL), text.data ? text.data : "");
    buf_release(&text);
}

static void
on_network(struct th_browser *b, const char *method, json_t *p)
{
    const char *rid = jstr(p, "requestId", NULL);

    if (strcmp(method, "Network.requestWillBeSent") == 0) {
        const char *url = jstr(p, "request", "url");

        json_object_set_new(b->urls, rid, json_string(url));
        if (b->page)
            json_array_append_new(b->page->requests, json_string(url));
    } else if (strcmp(method, "Network.responseReceived") == 0) {
        long status =
            (long)json_number_value(json_object_get(json_object_get(p, "response"), "status"));

        if (b->page && strcmp(jstr(p, "type", NULL), "Document") == 0 && !b->page->status)
            b->page->status = status;
        if (status >= 400)
            add_problem(b, "HTTP %ld for %s", status, jstr(p, "response", "url"));
    } else if (strcmp(method, "Network.loadingFailed") == 0 &&
               !json_is_true(json_object_get(p, "canceled"))) {
        /* (a request the navigation cancelled, such as a stream still open, is no problem) */
        add_problem(b, "loading failed (%s%s%s): %s", jstr(p, "errorText", NULL),
                    *jstr(p, "blockedReason", NULL) ? ", blocked: " : "",
                    jstr(p, "blockedReason", NULL),
                    json_string_value(json_object_get(b->urls, rid))
                        ? json_string_value(json_object_get(b->urls, rid))
                        : rid);
    }
}

/* Record an event of the tab. */
static void
on_event(struct th_browser *b, json_t *m)
{
    const char *method = jstr(m, "method", NULL);
    json_t *p = json_object_get(m, "params");

    if (strcmp(method, "Runtime.consoleAPICalled") == 0) {
        on_console(b, p);
    } else if (strcmp(method, "Runtime.exceptionThrown") == 0) {
        json_t *d = json_object_get(p, "exceptionDetails");
        const char *desc = jstr(d, "exception", "description");

        add_problem(b, "uncaught exception: %s", *desc ? desc : jstr(d, "text", NULL));
    } else if (strcmp(method, "Log.entryAdded") == 0) {
        json_t *e = json_object_get(p, "entry");
        const char *level = jstr(e, "level", NULL);

        if (strcmp(level, "warning") == 0 || strcmp(level, "error") == 0)
            add_problem(b, "log %s (%s): %s %s", level, jstr(e, "source", NULL),
                        jstr(e, "text", NULL), jstr(e, "url", NULL));
        else if (b->page)
            json_array_append_new(b->page->notes, json_string(jstr(e, "text", NULL)));
    } else if (strncmp(method, "Network.", 8) == 0) {
        on_network(b, method, p);
    } else if (strcmp(method, "Page.loadEventFired") == 0) {
        b->loaded = 1;
    } else if (strcmp(method, "Target.targetCrashed") == 0 ||
               strcmp(method, "Inspector.targetCrashed") == 0) {
        tb_fail(b, "the tab crashed");
    }
}

/* Wait for the reply to command `id`, recording events meanwhile; returns its result. */
static json_t *
wait_reply(struct th_browser *b, int id, long timeout_ms)
{
    long deadline = mono_ms() + timeout_ms;

    for (;;) {
        json_t *m = read_msg(b, deadline);
        json_t *result;

        if (!m)
            tb_fail(b, "no reply to command %d within %ld ms", id, timeout_ms);
        if (json_integer_value(json_object_get(m, "id")) != id) {
            on_event(b, m);
            json_decref(m);
            continue;
        }
        if (json_object_get(m, "error")) {
            char *e = json_dumps(json_object_get(m, "error"), JSON_COMPACT);

            json_decref(m);
            tb_fail(b, "command %d failed: %s", id, e);
        }
        result = json_incref(json_object_get(m, "result"));
        json_decref(m);
        return result ? result : json_object();
    }
}

static json_t *
call(struct th_browser *b, const char *method, json_t *params, int in_session)
{
    return wait_reply(b, send_cmd(b, method, params, in_session), TB_LOAD_TIMEOUT_MS);
}

/* ---- the API ---- */

struct th_browser *
th_browser_start(void)
{
    static const char *const domains[] = {"Runtime.enable", "Log.enable", "Network.enable",
                                          "Page.enable", NULL};
    const char *path = chromium_path();
    struct th_browser *b;
    char tmpl[] = "/tmp/thb.XXXXXX";
    json_t *r;
    size_t i;

    if (!path) {
        print_error("ERROR: chromium not found: install the Debian package chromium "
                    "(./dev.sh test does) or set CHROMIUM to its path\n");
        fail();
    }
    if (!mkdtemp(tmpl)) {
        print_error("ERROR: mkdtemp: %s\n", strerror(errno));
        fail();
    }
    b = xcalloc(1, sizeof(*b));
    b->dir = xstrdup(tmpl);
    b->to_fd = b->from_fd = -1;
    b->urls = json_object();
    buf_init(&b->in, TB_MAX_MESSAGE);
    spawn(b, path);
    r = wait_reply(b,
                   send_cmd(b, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"), 0),
                   TB_START_TIMEOUT_MS);
    b->session = NULL;
    {
        json_t *a =
            call(b, "Target.attachToTarget",
                 json_pack("{s:s,s:b}", "targetId", jstr(r, "targetId", NULL), "flatten", 1), 0);

        b->session = xstrdup(jstr(a, "sessionId", NULL));
        json_decref(a);
    }
    json_decref(r);
    if (!*b->session)
        tb_fail(b, "no DevTools session for the tab");
    for (i = 0; domains[i]; i++)
        json_decref(call(b, domains[i], NULL, 1));
    return b;
}

void
th_browser_load(struct th_browser *b, const char *url, struct th_page *out)
{
    long deadline = mono_ms() + TB_LOAD_TIMEOUT_MS;
    json_t *r;
    json_t *m;

    memset(out, 0, sizeof(*out));
    out->problems = json_array();
    out->requests = json_array();
    out->notes = json_array();
    b->page = out;
    b->loaded = 0;
    r = call(b, "Page.navigate", json_pack("{s:s}", "url", url), 1);
    if (*jstr(r, "errorText", NULL))
        add_problem(b, "navigation failed: %s", jstr(r, "errorText", NULL));
    json_decref(r);
    while (!b->loaded && mono_ms() < deadline) {
        m = read_msg(b, deadline);
        if (m)
            on_event(b, m);
        json_decref(m);
    }
    if (!b->loaded)
        tb_fail(b, "%s: no load event within %d ms", url, TB_LOAD_TIMEOUT_MS);
    /* late console messages and log entries */
    deadline = mono_ms() + TB_SETTLE_MS;
    while ((m = read_msg(b, deadline))) {
        on_event(b, m);
        json_decref(m);
    }
    b->page = NULL;
}

json_t *
th_browser_eval(struct th_browser *b, const char *expression)
{
    json_t *r = call(b, "Runtime.evaluate",
                     json_pack("{s:s,s:b}", "expression", expression, "returnByValue", 1), 1);
    json_t *v;

    if (json_object_get(r, "exceptionDetails")) {
        char *e = json_dumps(json_object_get(r, "exceptionDetails"), JSON_COMPACT);

        json_decref(r);
        tb_fail(b, "%s threw: %s", expression, e);
    }
    v = json_object_get(json_object_get(r, "result"), "value");
    v = v ? json_incref(v) : json_null();
    json_decref(r);
    return v;
}

char *
th_browser_eval_str(struct th_browser *b, const char *expression)
{
    json_t *v = th_browser_eval(b, expression);
    char *s;

    if (!json_is_string(v)) {
        char *d = json_dumps(v, JSON_ENCODE_ANY);

        json_decref(v);
        tb_fail(b, "%s: not a string but %s", expression, d ? d : "?");
    }
    s = xstrdup(json_string_value(v));
    json_decref(v);
    return s;
}

void
th_browser_screenshot(struct th_browser *b, const char *path)
{
    json_t *r = call(b, "Page.captureScreenshot", json_pack("{s:s}", "format", "png"), 1);
    const char *data = jstr(r, "data", NULL);
    size_t n = strlen(data);
    unsigned char *png = xmalloc(n / 4 * 3 + 3);
    int len = EVP_DecodeBlock(png, (const unsigned char *)data, (int)n);
    FILE *f;

    if (len < 0 || n % 4) {
        free(png);
        json_decref(r);
        tb_fail(b, "a screenshot that is not base64");
    }
    len -= n >= 1 && data[n - 1] == '=';
    len -= n >= 2 && data[n - 2] == '=';
    f = fopen(path, "wb");
    if (!f || fwrite(png, 1, (size_t)len, f) != (size_t)len || fclose(f) != 0)
        tb_fail(b, "cannot write %s", path);
    free(png);
    json_decref(r);
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

/* Wait for the browser to exit (reaping it); 1 when it did within timeout_ms. */
static int
reaped(struct th_browser *b, long timeout_ms)
{
    long deadline = mono_ms() + timeout_ms;
    int status;

    while (waitpid(b->pid, &status, WNOHANG) == 0) {
        if (mono_ms() >= deadline)
            return 0;
        usleep(20 * 1000);
    }
    return 1;
}

void
th_browser_free(struct th_browser *b)
{
    if (!b)
        return;
    if (b->pid > 0) {
        if (b->to_fd >= 0 && b->session) {
            json_t *m = json_pack("{s:i,s:s,s:{}}", "id", ++b->next_id, "method", "Browser.close",
                                  "params");
            char *text = json_dumps(m, JSON_COMPACT);
            size_t len = strlen(text) + 1;

            /* best effort: the browser may be gone already */
            if (write(b->to_fd, text, len) != (ssize_t)len)
                (void)0;
            free(text);
            json_decref(m);
        }
        if (!reaped(b, TB_CLOSE_TIMEOUT_MS)) {
            kill(-b->pid, SIGKILL);
            kill(b->pid, SIGKILL);
            reaped(b, TB_CLOSE_TIMEOUT_MS);
        }
        /* helpers (zygote, renderer) of a browser that exited: its process group */
        kill(-b->pid, SIGKILL);
    }
    if (b->to_fd >= 0)
        close(b->to_fd);
    if (b->from_fd >= 0)
        close(b->from_fd);
    if (b->dir)
        nftw(b->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(b->dir);
    free(b->session);
    json_decref(b->urls);
    buf_release(&b->in);
    free(b);
}

char *
th_page_problems_text(const struct th_page *p)
{
    struct buf t;
    json_t *v;
    size_t i;

    buf_init(&t, 0);
    json_array_foreach(p->problems, i, v)
    {
        buf_printf(&t, "  %s\n", json_string_value(v));
    }
    buf_append_char(&t, '\0');
    return buf_take(&t, NULL);
}

void
th_page_release(struct th_page *p)
{
    if (!p)
        return;
    json_decref(p->problems);
    json_decref(p->requests);
    json_decref(p->notes);
    memset(p, 0, sizeof(*p));
}
