/*
 * harness_sse.c - a server-sent events client for the tests; see harness_sse.h
 */
#include "harness_sse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct th_sse {
    int fd;
    char *raw; /* bytes received, chunk framing not yet removed */
    size_t raw_len, raw_cap;
    char *text; /* the body, chunk framing removed, not yet parsed */
    size_t text_len, text_cap;
    long chunk_left; /* bytes of the current chunk still to come; -1: a size line is next */
    int eof;
    long comments;
};

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
grow(char **p, size_t *cap, size_t need)
{
    if (need + 1 <= *cap)
        return;
    while (*cap < need + 1)
        *cap = *cap ? *cap * 2 : 4096;
    *p = realloc(*p, *cap);
    assert_non_null(*p);
}

/* Read what is there within timeout_ms into raw: 1 read, 0 timeout, -1 closed. */
static int
fill(struct th_sse *s, long timeout_ms)
{
    struct pollfd pfd = {s->fd, POLLIN, 0};
    ssize_t n;

    if (poll(&pfd, 1, (int)(timeout_ms < 0 ? 0 : timeout_ms)) <= 0)
        return 0;
    grow(&s->raw, &s->raw_cap, s->raw_len + 16384);
    n = recv(s->fd, s->raw + s->raw_len, 16384, 0);
    if (n <= 0)
        return -1;
    s->raw_len += (size_t)n;
    return 1;
}

/* Move chunk payloads from raw to text. */
static void
dechunk(struct th_sse *s)
{
    size_t pos = 0;

    while (pos < s->raw_len && !s->eof) {
        if (s->chunk_left < 0) {
            char *crlf = memmem(s->raw + pos, s->raw_len - pos, "\r\n", 2);

            if (!crlf)
                break;
            s->chunk_left = strtol(s->raw + pos, NULL, 16);
            pos = (size_t)(crlf - s->raw) + 2;
            if (s->chunk_left == 0)
                s->eof = 1;
            continue;
        }
        if (s->chunk_left > 0) {
            size_t k = s->raw_len - pos;

            if (k > (size_t)s->chunk_left)
                k = (size_t)s->chunk_left;
            grow(&s->text, &s->text_cap, s->text_len + k);
            memcpy(s->text + s->text_len, s->raw + pos, k);
            s->text_len += k;
            pos += k;
            s->chunk_left -= (long)k;
            continue;
        }
        if (s->raw_len - pos < 2)
            break;
        pos += 2; /* the CRLF after a chunk */
        s->chunk_left = -1;
    }
    if (pos) {
        memmove(s->raw, s->raw + pos, s->raw_len - pos);
        s->raw_len -= pos;
    }
}

struct th_sse *
th_sse_open(int port, const char *path, const char *const *headers, int rcvbuf)
{
    struct th_sse *s = calloc(1, sizeof(*s));
    struct sockaddr_in a;
    char req[4096];
    size_t len;
    long deadline = now_ms() + 10000;
    char *end;

    assert_non_null(s);
    s->chunk_left = -1;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    if (rcvbuf > 0)
        setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    len = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", path);
    for (; headers && *headers; headers++)
        len += (size_t)snprintf(req + len, sizeof(req) - len, "%s\r\n", *headers);
    len += (size_t)snprintf(req + len, sizeof(req) - len, "\r\n");
    assert_int_equal(send(s->fd, req, len, 0), (ssize_t)len);
    for (;;) {
        grow(&s->raw, &s->raw_cap, s->raw_len);
        s->raw[s->raw_len] = '\0';
        end = strstr(s->raw ? s->raw : "", "\r\n\r\n");
        if (end)
            break;
        if (now_ms() > deadline || fill(s, 100) < 0)
            fail_msg("no response head for %s: %.*s", path, (int)s->raw_len, s->raw);
    }
    if (strncmp(s->raw, "HTTP/1.1 200", 12) != 0 || !strcasestr(s->raw, "text/event-stream") ||
        !strcasestr(s->raw, "chunked"))
        fail_msg("not an event stream for %s: %.*s", path, (int)s->raw_len, s->raw);
    len = (size_t)(end + 4 - s->raw);
    memmove(s->raw, s->raw + len, s->raw_len - len);
    s->raw_len -= len;
    return s;
}

/* One event from text when a whole one (ended by a blank line) is there. */
static int
parse(struct th_sse *s, struct th_sse_event *ev)
{
    char *blank, *line, *next;
    size_t dlen = 0;
    int have = 0;

    while (s->text && (blank = memmem(s->text, s->text_len, "\n\n", 2)) != NULL) {
        *blank = '\0';
        memset(ev, 0, sizeof(*ev));
        ev->id = -1;
        ev->data = calloc(1, s->text_len + 1);
        for (line = s->text; line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            if (line[0] == ':') {
                s->comments++;
            } else if (strncmp(line, "id: ", 4) == 0) {
                ev->id = strtoll(line + 4, NULL, 10);
            } else if (strncmp(line, "event: ", 7) == 0) {
                snprintf(ev->event, sizeof(ev->event), "%s", line + 7);
            } else if (strncmp(line, "data: ", 6) == 0) {
                if (have++)
                    ev->data[dlen++] = '\n';
                strcpy(ev->data + dlen, line + 6);
                dlen += strlen(line + 6);
            }
        }
        memmove(s->text, blank + 2, s->text_len - (size_t)(blank + 2 - s->text));
        s->text_len -= (size_t)(blank + 2 - s->text);
        if (have || ev->event[0])
            return 1;
        free(ev->data);
        ev->data = NULL;
    }
    return 0;
}

int
th_sse_next(struct th_sse *s, struct th_sse_event *ev, long timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    int r;

    for (;;) {
        dechunk(s);
        if (parse(s, ev))
            return 1;
        if (s->eof)
            return -1;
        r = fill(s, deadline - now_ms());
        if (r < 0)
            s->eof = 1;
        else if (r == 0 && now_ms() >= deadline)
            return 0;
    }
}

long
th_sse_comments(const struct th_sse *s)
{
    return s->comments;
}

void
th_sse_close(struct th_sse *s)
{
    if (!s)
        return;
    close(s->fd);
    free(s->raw);
    free(s->text);
    free(s);
}
