/*
 * harness_s3rver.c - s3rver, the S3-compatible test server (see harness.h)
 *
 * s3rver runs from the project-local npm install (tests/s3rver: `npm ci`
 * there) as `node s3rver.js` on 127.0.0.1 with --port 0; the port is read
 * from its "S3rver listening on ADDRESS:PORT" line on stdout, which stays
 * open so that it never gets EPIPE. stderr goes to <tmp>/s3rver.log.
 * One s3rver per process; not thread-safe: use from the test's thread.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "clients/s3_client.h"

#define S3RVER_READY_MS 30000
#define S3RVER_REL "/tests/s3rver/node_modules/s3rver/bin/s3rver.js"
#define S3RVER_MAX_BUCKETS 8
#define THIS_FILE_REL "/tests/integration/harness_s3rver.c"

static struct {
    pid_t pid;
    int out_fd; /* its stdout, kept open so that it never gets EPIPE */
    char dir[64];
    char endpoint[64];
} S = {-1, -1, "", ""};

char *
th_source_dir(void)
{
#ifdef INGESTD_SOURCE_DIR
    return xstrdup(INGESTD_SOURCE_DIR);
#else
    const char *file = __FILE__;
    size_t n = strlen(file), rel = strlen(THIS_FILE_REL);

    if (n > rel && strcmp(file + n - rel, THIS_FILE_REL) == 0)
        return xstrndup(file, n - rel);
    return xstrdup("."); /* compiled from the repository root with a relative path */
#endif
}

/* S3RVER_JS from the environment, else the npm install's s3rver.js (malloc'd). */
static char *
s3rver_js(void)
{
    const char *env = getenv("S3RVER_JS");
    char *root, *js;

    if (env && *env)
        return xstrdup(env);
    root = th_source_dir();
    js = th_strf("%s%s", root, S3RVER_REL);
    free(root);
    return js;
}

static void
print_log_tail(void)
{
    char path[128], tail[2001];
    FILE *f;
    size_t n;
    long size;

    snprintf(path, sizeof(path), "%s/s3rver.log", S.dir);
    f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > 2000 ? size - 2000 : 0, SEEK_SET);
    n = fread(tail, 1, 2000, f);
    tail[n] = '\0';
    fclose(f);
    print_error("s3rver.log:\n%s\n", tail);
}

/* The child: exec node s3rver.js with one --configure-bucket per bucket. */
static void
s3rver_exec(const char *js, const char *data, const char *const *buckets)
{
    const char *argv[12 + 2 * S3RVER_MAX_BUCKETS];
    size_t n = 0, i;

    argv[n++] = "node";
    argv[n++] = js;
    argv[n++] = "--directory";
    argv[n++] = data;
    argv[n++] = "--address";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--silent";
    for (i = 0; buckets && buckets[i] && i < S3RVER_MAX_BUCKETS; i++) {
        argv[n++] = "--configure-bucket";
        argv[n++] = buckets[i];
    }
    argv[n] = NULL;
    execvp("node", (char *const *)(uintptr_t)argv);
    _exit(127);
}

/* Run node s3rver.js in S.dir with stdout to a pipe and stderr to s3rver.log. */
static pid_t
s3rver_spawn(const char *js, const char *const *buckets, int *out_fd)
{
    char data[96], log[96];
    int pipefd[2], logfd;
    pid_t pid;

    snprintf(data, sizeof(data), "%s/data", S.dir);
    snprintf(log, sizeof(log), "%s/s3rver.log", S.dir);
    if (mkdir(data, 0700) != 0 || pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0)
        return -1;
    setenv("NODE_OPTIONS", "--openssl-legacy-provider", 1);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        s3rver_exec(js, data, buckets);
    }
    close(pipefd[1]);
    close(logfd);
    if (pid < 0) {
        close(pipefd[0]);
        return -1;
    }
    *out_fd = pipefd[0];
    return pid;
}

/* Read s3rver's stdout until "S3rver listening on 127.0.0.1:PORT"; the port or -1. */
static int
s3rver_wait_port(int fd)
{
    struct buf out;
    long deadline = th_now_ms() + S3RVER_READY_MS;
    struct pollfd p = {fd, POLLIN, 0};
    const char *at, *colon;
    char chunk[512];
    ssize_t n;
    int port = -1;

    buf_init(&out, 65536);
    while (port < 0 && th_now_ms() < deadline) {
        if (poll(&p, 1, 200) <= 0)
            continue;
        n = read(fd, chunk, sizeof(chunk));
        if (n <= 0 || buf_append(&out, chunk, (size_t)n))
            break;
        at = strstr(out.data, "listening on ");
        colon = at ? strchr(at, '\n') : NULL;
        if (!colon)
            continue; /* wait for the whole line */
        colon = strrchr(at, ':');
        port = colon ? atoi(colon + 1) : -1;
    }
    buf_release(&out);
    return port > 0 ? port : -1;
}

int
th_s3rver_start(const char *const *buckets)
{
    char *js = s3rver_js();
    struct stat st;
    int port;

    if (stat(js, &st) != 0) {
        print_error("%s is missing: run `npm ci` in tests/s3rver\n", js);
        free(js);
        return -1;
    }
    snprintf(S.dir, sizeof(S.dir), "/tmp/ts3.XXXXXX");
    if (!mkdtemp(S.dir)) {
        S.dir[0] = '\0';
        free(js);
        return -1;
    }
    S.pid = s3rver_spawn(js, buckets, &S.out_fd);
    free(js);
    if (S.pid < 0)
        return -1;
    port = s3rver_wait_port(S.out_fd);
    if (port < 0) {
        print_error("s3rver did not report its port\n");
        print_log_tail();
        return -1;
    }
    snprintf(S.endpoint, sizeof(S.endpoint), "http://127.0.0.1:%d", port);
    setenv("AWS_ENDPOINT_URL", S.endpoint, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    unsetenv("AWS_SESSION_TOKEN");
    return 0;
}

const char *
th_s3rver_endpoint(void)
{
    return S.endpoint;
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void
th_s3rver_free(void)
{
    int status;

    if (S.pid > 0) {
        kill(S.pid, SIGTERM);
        waitpid(S.pid, &status, 0);
        S.pid = -1;
    }
    if (S.out_fd >= 0) {
        close(S.out_fd);
        S.out_fd = -1;
    }
    if (S.dir[0]) {
        nftw(S.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        S.dir[0] = '\0';
    }
    S.endpoint[0] = '\0';
}

static enum err
count_sink(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    (void)data;
    (void)errbuf;
    (void)errlen;
    *(size_t *)ctx += len;
    return ERR_OK;
}

enum err
th_s3rver_put(struct s3_client *c, const char *bucket, const char *key, const void *body,
              size_t len, char *errbuf, size_t errlen)
{
    long deadline = th_now_ms() + 5000;
    enum err rc =
        s3_client_put(c, bucket, key, body, len, "application/octet-stream", errbuf, errlen);

    if (rc)
        return rc;
    for (;;) {
        size_t got = 0;

        rc = s3_client_get(c, bucket, key, count_sink, &got, NULL, errbuf, errlen);
        if (!rc && got == len)
            return ERR_OK;
        if (th_now_ms() > deadline)
            return rc ? rc
                      : err_set(ERR_UNAVAILABLE, errbuf, errlen,
                                "s3rver: %s/%s reads back %zu of %zu bytes", bucket, key, got, len);
        th_sleep_ms(10);
    }
}
