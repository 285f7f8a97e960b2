/*
 * test_http_client.c - clients/http_client.c against a real loopback server
 *
 * A one-connection-at-a-time HTTP server on a thread of this test records
 * what arrives (request line, headers, body) and answers with the status and
 * delay a test sets. Checked: methods and bodies as sent, Basic auth from the
 * URL's userinfo, extra headers, the answer's status and a capped body, a
 * timeout, connection refused, non-http URLs, and that no message and no
 * redacted URL ever holds the password or the query.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clients/http_client.h"
#include "core/clock.h"

static struct {
    int listen_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock; /* guards answer_*: set by the tests, read by the server thread */
    int answer_status;
    long answer_delay_ms;
    size_t answer_body_len;
    char seen[65536]; /* the last request, headers and body */
    size_t seen_len;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* What the server answers to the next requests (a slow answer waits delay_ms first). */
static void
answer(int status, long delay_ms, size_t body_len)
{
    pthread_mutex_lock(&S.lock);
    S.answer_status = status;
    S.answer_delay_ms = delay_ms;
    S.answer_body_len = body_len;
    pthread_mutex_unlock(&S.lock);
}

/* Read one request: headers, then Content-Length bytes of body. */
static void
read_request(int fd)
{
    char *end;
    long want = -1;
    ssize_t n;

    S.seen_len = 0;
    for (;;) {
        n = read(fd, S.seen + S.seen_len, sizeof(S.seen) - 1 - S.seen_len);
        if (n <= 0)
            return;
        S.seen_len += (size_t)n;
        S.seen[S.seen_len] = '\0';
        end = strstr(S.seen, "\r\n\r\n");
        if (end && want < 0) {
            char *cl = strcasestr(S.seen, "\r\ncontent-length:");
            want = (long)(end + 4 - S.seen) + (cl && cl < end ? atol(cl + 17) : 0);
        }
        if (want >= 0 && (long)S.seen_len >= want)
            return;
    }
}

static void *
serve(void *arg)
{
    int fd, status;
    long delay_ms;
    size_t len;
    char head[256];
    char *body;

    (void)arg;
    while ((fd = accept(S.listen_fd, NULL, NULL)) >= 0) {
        read_request(fd);
        pthread_mutex_lock(&S.lock);
        status = S.answer_status;
        delay_ms = S.answer_delay_ms;
        len = S.answer_body_len;
        pthread_mutex_unlock(&S.lock);
        if (delay_ms)
            clock_sleep_ms(delay_ms);
        body = malloc(len + 1);
        memset(body, 'b', len);
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status, len);
        /* the client may have given up already (timeout): no SIGPIPE */
        if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0 || send(fd, body, len, MSG_NOSIGNAL) < 0)
            (void)0;
        free(body);
        close(fd);
    }
    return NULL;
}

static int
setup(void **state)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);

    (void)state;
    S.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(S.listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(S.listen_fd, 8), 0);
    getsockname(S.listen_fd, (struct sockaddr *)&a, &len);
    S.port = ntohs(a.sin_port);
    pthread_create(&S.thread, NULL, serve, NULL);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    shutdown(S.listen_fd, SHUT_RDWR);
    close(S.listen_fd);
    pthread_join(S.thread, NULL);
    return 0;
}

static void
test_put_with_basic_auth_and_headers(void **state)
{
    struct http_client *c = http_client_new();
    struct http_response res;
    char url[256], err[256] = "";
    const char *headers[] = {"Content-Type: text/csv", "X-Thing: 1", NULL};
    struct http_request req = {"PUT", url, headers, "a,b\n1,2\n", 8, 0, 0, 0};

    (void)state;
    snprintf(url, sizeof(url), "http://alice:s3cret@127.0.0.1:%d/repo/pending/x.csv?token=t0k",
             S.port);
    answer(201, 0, 5);
    http_response_init(&res);
    assert_int_equal(http_client_send(c, &req, &res, err, sizeof(err)), ERR_OK);
    assert_int_equal(res.status, 201);
    assert_int_equal(res.body.len, 5);
    assert_non_null(strstr(S.seen, "PUT /repo/pending/x.csv?token=t0k HTTP/1.1\r\n"));
    /* alice:s3cret in base64 */
    assert_non_null(strstr(S.seen, "Authorization: Basic YWxpY2U6czNjcmV0\r\n"));
    assert_non_null(strstr(S.seen, "Content-Type: text/csv\r\n"));
    assert_non_null(strstr(S.seen, "X-Thing: 1\r\n"));
    assert_null(strstr(S.seen, "Expect:"));
    assert_string_equal(strstr(S.seen, "\r\n\r\n") + 4, "a,b\n1,2\n");
    http_response_release(&res);
    http_client_free(c);
}

static void
test_post_status_and_capped_body(void **state)
{
    struct http_client *c = http_client_new();
    struct http_response res;
    char url[128], err[256] = "";
    struct http_request req = {"POST", url, NULL, "{}", 2, 0, 0, 100};

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", S.port);
    answer(410, 0, 5000);
    http_response_init(&res);
    assert_int_equal(http_client_send(c, &req, &res, err, sizeof(err)), ERR_OK);
    assert_int_equal(res.status, 410);
    assert_int_equal(res.body.len, 100);
    assert_true(res.body_truncated);
    assert_non_null(strstr(S.seen, "POST /hook HTTP/1.1\r\n"));
    /* the same handle again: nothing of the last request stays */
    req.method = "DELETE";
    req.body = NULL;
    req.body_len = 0;
    answer(204, 0, 0);
    assert_int_equal(http_client_send(c, &req, &res, err, sizeof(err)), ERR_OK);
    assert_int_equal(res.status, 204);
    assert_int_equal(res.body.len, 0);
    assert_false(res.body_truncated);
    assert_non_null(strstr(S.seen, "DELETE /hook HTTP/1.1\r\n"));
    http_response_release(&res);
    http_client_free(c);
}

static void
test_timeout_names_the_target_without_secrets(void **state)
{
    struct http_client *c = http_client_new();
    struct http_response res;
    char url[256], err[256] = "";
    struct http_request req = {"POST", url, NULL, "{}", 2, 300, 0, 0};
    long t0;

    (void)state;
    snprintf(url, sizeof(url), "http://bob:hunter2@127.0.0.1:%d/slow?sig=abc", S.port);
    answer(200, 1500, 0);
    http_response_init(&res);
    t0 = clock_mono_ms();
    assert_int_equal(http_client_send(c, &req, &res, err, sizeof(err)), ERR_UNAVAILABLE);
    assert_true(clock_mono_ms() - t0 < 1400);
    assert_non_null(strstr(err, "timeout after 300 ms"));
    assert_non_null(strstr(err, "/slow"));
    assert_null(strstr(err, "hunter2"));
    assert_null(strstr(err, "bob"));
    assert_null(strstr(err, "sig=abc"));
    http_response_release(&res);
    http_client_free(c);
    clock_sleep_ms(1300); /* let the server finish the slow answer */
}

static void
test_refused_and_bad_urls(void **state)
{
    struct http_client *c = http_client_new();
    struct http_response res;
    char err[256] = "";
    struct http_request req = {"POST", "http://127.0.0.1:1/x", NULL, "{}", 2, 2000, 0, 0};

    (void)state;
    http_response_init(&res);
    assert_int_equal(http_client_send(c, &req, &res, err, sizeof(err)), ERR_UNAVAILABLE);
    assert_int_equal(res.status, 0);
    req.url = "file:///etc/passwd";
    assert_int_equal(http_client_send(c, &req, &res, err, sizeof(err)), ERR_BAD_INPUT);
    req.url = "ftp://example.com/x";
    assert_int_equal(http_client_send(c, &req, &res, err, sizeof(err)), ERR_BAD_INPUT);
    req.url = "http://exa mple.com/x";
    assert_int_equal(http_client_send(c, &req, &res, err, sizeof(err)), ERR_BAD_INPUT);
    http_response_release(&res);
    http_client_free(c);
}

static void
test_redact_url(void **state)
{
    char out[128];

    (void)state;
    http_client_redact_url("https://u:p@host.example:8443/a/b?token=x#f", out, sizeof(out));
    assert_string_equal(out, "https://host.example:8443/a/b");
    http_client_redact_url("http://host/", out, sizeof(out));
    assert_string_equal(out, "http://host/");
    http_client_redact_url("not a url", out, sizeof(out));
    assert_string_equal(out, "(invalid url)");
    http_client_redact_url("http://u:p@h/x", out, 5);
    assert_string_equal(out, "http");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_with_basic_auth_and_headers),
        cmocka_unit_test(test_post_status_and_capped_body),
        cmocka_unit_test(test_timeout_names_the_target_without_secrets),
        cmocka_unit_test(test_refused_and_bad_urls),
        cmocka_unit_test(test_redact_url),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
