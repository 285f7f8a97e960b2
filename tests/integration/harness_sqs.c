/*
 * harness_sqs.c - fauxqs, the SQS server of the tests (see harness.h)
 *
 * tests/sqs/server.mjs (fauxqs from the project-local npm install: `npm ci`
 * in tests/sqs, behind a front that checks SigV4 signatures when given
 * SQS_CREDENTIALS) runs as `node server.mjs` on 127.0.0.1 with a free
 * port, read from its "sqs listening on 127.0.0.1:PORT" line on stdout. Its
 * stdin is a pipe this process holds: the server stops when the pipe closes
 * (th_sqs_free, or this process dying), and on SIGTERM. stderr goes to
 * <tmp>/sqs.log. One server per process; use from the test's thread.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
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

#define SQS_READY_MS 30000
#define SQS_SERVER_REL "/tests/sqs/server.mjs"
#define SQS_MODULE_REL "/tests/sqs/node_modules/fauxqs/package.json"

static struct {
    pid_t pid;
    int out_fd; /* its stdout */
    int in_fd;  /* its stdin: closing it stops the server */
    char log[64];
    char endpoint[64];
} Q = {-1, -1, -1, "", ""};

/* Run node server.mjs with stdin and stdout on pipes, stderr to Q.log. */
static pid_t
sqs_spawn(const char *js, const char *credentials)
{
    int out[2], in[2], logfd;
    pid_t pid;

    if (pipe2(out, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(in, O_CLOEXEC) != 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    logfd = open(Q.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid = logfd < 0 ? -1 : fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (credentials)
            setenv("SQS_CREDENTIALS", credentials, 1);
        else
            unsetenv("SQS_CREDENTIALS");
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        execlp("node", "node", js, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(in[0]);
    if (logfd >= 0)
        close(logfd);
    if (pid < 0) {
        close(out[0]);
        close(in[1]);
        return -1;
    }
    Q.out_fd = out[0];
    Q.in_fd = in[1];
    return pid;
}

/* Read the server's stdout until "sqs listening on 127.0.0.1:PORT\n"; the port or -1. */
static int
sqs_wait_port(int fd)
{
    struct buf out;
    long deadline = th_now_ms() + SQS_READY_MS;
    struct pollfd p = {fd, POLLIN, 0};
    const char *at, *colon;
    char chunk[256];
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
        if (!at || !strchr(at, '\n'))
            continue;
        colon = strrchr(at, ':');
        port = colon ? atoi(colon + 1) : -1;
    }
    buf_release(&out);
    return port > 0 ? port : -1;
}

int
th_sqs_start(const char *credentials)
{
    char *root = th_source_dir();
    char *js = th_strf("%s%s", root, SQS_SERVER_REL);
    char *module = th_strf("%s%s", root, SQS_MODULE_REL);
    struct stat st;
    int port = -1;

    snprintf(Q.log, sizeof(Q.log), "/tmp/tsqs.%ld.log", (long)getpid());
    if (stat(module, &st) != 0) {
        print_error("%s is missing: run `npm ci` in tests/sqs\n", module);
        goto out;
    }
    Q.pid = sqs_spawn(js, credentials);
    if (Q.pid < 0) {
        print_error("cannot start node %s\n", js);
        goto out;
    }
    port = sqs_wait_port(Q.out_fd);
    if (port < 0) {
        char *cmd = th_strf("tail -c 2000 %s", Q.log);
        char *tail = th_run(cmd, NULL);

        print_error("the sqs server did not report its port; %s:\n%s\n", Q.log, tail);
        free(tail);
        free(cmd);
        goto out;
    }
    snprintf(Q.endpoint, sizeof(Q.endpoint), "http://127.0.0.1:%d", port);
out:
    free(module);
    free(js);
    free(root);
    return port > 0 ? 0 : -1;
}

const char *
th_sqs_endpoint(void)
{
    return Q.endpoint;
}

void
th_sqs_free(void)
{
    int status;

    if (Q.in_fd >= 0) {
        close(Q.in_fd);
        Q.in_fd = -1;
    }
    if (Q.pid > 0) {
        kill(Q.pid, SIGTERM);
        waitpid(Q.pid, &status, 0);
        Q.pid = -1;
    }
    if (Q.out_fd >= 0) {
        close(Q.out_fd);
        Q.out_fd = -1;
    }
    if (Q.log[0]) {
        unlink(Q.log);
        Q.log[0] = '\0';
    }
    Q.endpoint[0] = '\0';
}
