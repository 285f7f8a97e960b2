/*
 * harness_receiver.c - a tiny HTTP receiver on loopback (see harness_receiver.h)
 */
#include "harness_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define MAX_HEAD 16384

struct th_receiver {
    pthread_t thread;
    pthread_mutex_t lock;
    int fd;
    int stop;
    int status;
    long delay_ms;
    char base[64];
    size_t n;
    struct th_received got[TH_RECEIVER_MAX];
};

static char *
dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* The value of header `name` in head (NUL-terminated), malloc'd, or NULL. */
static char *
header(const char *head, const char *name)
{
    const char *p = strstr(head, "\r\n");
    size_t nl = strlen(name);

    while (p && p[2]) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;

            while (*v == ' ')
                v++;
            return dup_n(v, strcspn(v, "\r\n"));
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

static void
write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);

        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Read one request from c and record it; then answer. */
static void
serve_one(struct th_receiver *r, int c)
{
    char head[MAX_HEAD + 1];
    size_t have = 0;
    char *end = NULL;
    char *cl;
    char *expect;
    struct th_received q;
    size_t want = 0;
    size_t body_have;
    char answer[128];
    int status;
    long delay;

    memset(&q, 0, sizeof(q));
    while (!end && have < MAX_HEAD) {
        ssize_t n = read(c, head + have, MAX_HEAD - have);

        if (n <= 0)
            return;
        have += (size_t)n;
        head[have] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    if (!end)
        return;
    q.method = dup_n(head, strcspn(head, " "));
    q.path = dup_n(head + strlen(q.method) + 1, strcspn(head + strlen(q.method) + 1, " "));
    q.authorization = header(head, "Authorization");
    cl = header(head, "Content-Length");
    expect = header(head, "Expect");
    if (cl)
        want = (size_t)strtoull(cl, NULL, 10);
    if (expect && strcasecmp(expect, "100-continue") == 0)
        write_all(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    free(cl);
    free(expect);
    q.body = malloc(want + 1);
    body_have = have - (size_t)(end + 4 - head);
    memcpy(q.body, end + 4, body_have < want ? body_have : want);
    while (body_have < want) {
        ssize_t n = read(c, q.body + body_have, want - body_have);

        if (n <= 0)
            break;
        body_have += (size_t)n;
    }
    q.len = body_have < want ? body_have : want;
    q.body[q.len] = '\0';
    pthread_mutex_lock(&r->lock);
    status = r->status;
    delay = r->delay_ms;
    if (r->n < TH_RECEIVER_MAX)
        r->got[r->n++] = q;
    else
        th_received_release(&q);
    pthread_mutex_unlock(&r->lock);
    if (delay > 0)
        th_sleep_ms(delay);
    snprintf(answer, sizeof(answer),
             "HTTP/1.1 %d Answer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    write_all(c, answer, strlen(answer));
}

static void *
receiver_main(void *arg)
{
    struct th_receiver *r = arg;

    for (;;) {
        struct pollfd pfd = {r->fd, POLLIN, 0};
        int stop;
        int c;

        pthread_mutex_lock(&r->lock);
        stop = r->stop;
        pthread_mutex_unlock(&r->lock);
        if (stop)
            break;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        c = accept(r->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(r, c);
        close(c);
    }
    return NULL;
}

struct th_receiver *
th_receiver_start(void)
{
    struct th_receiver *r = calloc(1, sizeof(*r));
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    pthread_mutex_init(&r->lock, NULL);
    r->status = 201;
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&a, sizeof(a)) || listen(r->fd, 64) ||
        getsockname(r->fd, (struct sockaddr *)&a, &alen))
        fail_msg("receiver: cannot listen on loopback");
    snprintf(r->base, sizeof(r->base), "http://127.0.0.1:%d", ntohs(a.sin_port));
    if (pthread_create(&r->thread, NULL, receiver_main, r))
        fail_msg("receiver: no thread");
    return r;
}

const char *
th_receiver_base(const struct th_receiver *r)
{
    return r->base;
}

void
th_receiver_answer(struct th_receiver *r, int status, long delay_ms)
{
    pthread_mutex_lock(&r->lock);
    r->status = status;
    r->delay_ms = delay_ms;
    pthread_mutex_unlock(&r->lock);
}

size_t
th_receiver_count(struct th_receiver *r)
{
    size_t n;

    pthread_mutex_lock(&r->lock);
    n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct th_received
th_receiver_get(struct th_receiver *r, size_t i)
{
    struct th_received q;

    memset(&q, 0, sizeof(q));
    pthread_mutex_lock(&r->lock);
    if (i < r->n) {
        q.method = dup_or_null(r->got[i].method);
        q.path = dup_or_null(r->got[i].path);
        q.authorization = dup_or_null(r->got[i].authorization);
        q.body = dup_n(r->got[i].body, r->got[i].len);
        q.len = r->got[i].len;
    }
    pthread_mutex_unlock(&r->lock);
    if (!q.method)
        fail_msg("receiver: no request %zu", i);
    return q;
}

void
th_received_release(struct th_received *q)
{
    free(q->method);
    free(q->path);
    free(q->authorization);
    free(q->body);
    memset(q, 0, sizeof(*q));
}

void
th_receiver_free(struct th_receiver *r)
{
    size_t i;

    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    close(r->fd);
    for (i = 0; i < r->n; i++)
        th_received_release(&r->got[i]);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
