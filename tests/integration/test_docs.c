/*
 * test_docs.c - the README's walkthrough runs as written, against a real server
 *
 * Starts PostgreSQL and ingestd as the README's "Using it" asks for them: the
 * README's TOKEN in INGESTD_API_TOKENS (admin scope) and S3 pointed at the port
 * where examples/inventory.sh will start s3rver (a free port, handed to the
 * script as S3RVER_PORT). Then tests/integration/readme_run.sh runs every ```sh
 * block of that section in order, examples/inventory.sh among them, from a temp
 * dir, and checks the outputs the README's comments promise. A failing command,
 * an HTTP error or a missing output fails the test with the walkthrough's log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define RUNNER_REL "/tests/integration/readme_run.sh"
#define LOG_TAIL_BYTES 12000

/* A port nothing listens on now (bound to 127.0.0.1:0, then released). */
static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        fail_msg("socket: %s", strerror(errno));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    if (port <= 0)
        fail_msg("no free port: %s", strerror(errno));
    return port;
}

/* The value of the README's `TOKEN=` line (malloc'd); fails the test when there is none. */
static char *
readme_token(const char *src)
{
    char *path = th_strf("%s/README.md", src);
    char *text = th_read_file(path, NULL);
    const char *at = strstr(text, "\nTOKEN=");
    char *token;
    size_t n;

    if (!at)
        fail_msg("%s has no TOKEN= line", path);
    at += strlen("\nTOKEN=");
    n = strcspn(at, " \t\r\n#");
    if (n == 0)
        fail_msg("%s: TOKEN= is empty", path);
    token = th_strf("%.*s", (int)n, at);
    free(text);
    free(path);
    return token;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Print the last LOG_TAIL_BYTES of `path` to stderr (cmocka's print_error cuts long text). */
static void
print_tail(const char *path)
{
    size_t len;
    char *text = th_read_file(path, &len);
    const char *from = len > LOG_TAIL_BYTES ? text + len - LOG_TAIL_BYTES : text;

    fprintf(stderr, "---- the walkthrough (%s) ----\n", path);
    fwrite(from, 1, strlen(from), stderr);
    fprintf(stderr, "\n----\n");
    fflush(stderr);
    free(text);
}

/* Run readme_run.sh SRC WORK with the server's address and the s3rver port; its exit status. */
static int
run_walkthrough(const char *src, const char *work, int ingestd_port, int s3_port)
{
    char *runner = th_strf("%s%s", src, RUNNER_REL);
    char *out = th_strf("%s/run.out", work);
    char *listen = th_strf("127.0.0.1:%d", ingestd_port);
    char *s3 = th_strf("%d", s3_port);
    int status = -1, fd;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(126);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        setenv("INGESTD_LISTEN", listen, 1);
        setenv("S3RVER_PORT", s3, 1);
        unsetenv("B");
        unsetenv("TOKEN");
        execlp("bash", "bash", runner, src, work, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        print_tail(out);
    free(runner);
    free(out);
    free(listen);
    free(s3);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
test_readme_walkthrough(void **state)
{
    char *src = th_source_dir();
    char *token = readme_token(src);
    int s3_port = free_port();
    char *endpoint = th_strf("AWS_ENDPOINT_URL=http://127.0.0.1:%d", s3_port);
    char *tokens = th_strf("INGESTD_API_TOKENS=admin:%s", token);
    const char *env[] = {endpoint,
                         "AWS_REGION=us-east-1",
                         "AWS_ACCESS_KEY_ID=S3RVER",
                         "AWS_SECRET_ACCESS_KEY=S3RVER",
                         tokens,
                         NULL};
    char work[] = "/tmp/tdocs.XXXXXX";
    struct th_pg *pg;
    struct th_ingestd *srv;
    int rc;

    (void)state;
    if (!mkdtemp(work))
        fail_msg("mkdtemp: %s", strerror(errno));
    pg = th_pg_start();
    srv = th_ingestd_start(th_pg_url(pg), env);
    rc = run_walkthrough(src, work, th_ingestd_port(srv), s3_port);
    th_ingestd_free(srv);
    th_pg_free(pg);
    if (rc != 0)
        fail_msg("the README's walkthrough failed (exit %d); its log is above, and in %s", rc,
                 work);
    nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(endpoint);
    free(tokens);
    free(token);
    free(src);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readme_walkthrough),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
