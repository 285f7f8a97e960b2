/*
 * harness_proxy.c - a loopback TCP proxy that injects faults (th_proxy_*)
 *
 * One thread polls the listening socket and every connection pair (the
 * client that connected, e.g. ingestd's libpq, and the upstream it opened,
 * e.g. PostgreSQL's Unix socket) and copies bytes both ways. The test
 * thread changes the mode at any time; the proxy thread applies it on its
 * next turn (at most PROXY_TICK_MS later):
 *   pass      copy as they come;
 *   delay     sleep `arg` ms before each chunk it copies (both ways);
 *   drop      copy nothing and read nothing: the peers see a silent network
 *             (a partition); going back to pass delivers what was held;
 *   truncate  copy `arg` more bytes client -> upstream, then reset every
 *             connection (a cut mid-message, e.g. mid-COPY), back to pass;
 *   cut_reply the same upstream -> client (a response cut mid-body);
 *   http_503  end the open connections, then answer the next `arg` new ones
 *             "503 SlowDown" (after their request head) and close them; pass.
 * The upstream is a Unix socket (PostgreSQL) or a TCP port (s3rver, HTTP).
 * th_proxy_reset_all() resets every open connection (RST to both peers:
 * SO_LINGER 0) on the proxy's next turn and waits for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "harness.h"

#define PROXY_MAX_PAIRS 256
#define PROXY_TICK_MS 10

struct pair {
    int client;
    int upstream;
};

struct th_proxy {
    char *socket_path; /* upstream: a Unix socket, or NULL: */
    int upstream_port; /* a TCP port on 127.0.0.1 */
    int listen_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock; /* guards mode, arg, budget, reset_asked, resets_done */
    pthread_cond_t cond;
    enum th_proxy_mode mode;
    long arg;
    long budget; /* truncate, cut_reply: bytes still to copy; http_503: answers left */
    int reset_asked;
    int close_asked;  /* http_503: end open connections so that clients connect anew */
    long resets_done; /* reset rounds done */
    atomic_long accepted;
    atomic_long reset_conns;
    atomic_long answered_503;
    atomic_int stop;
    struct pair pairs[PROXY_MAX_PAIRS];
    int npairs;
};

static void
rst_close(int fd)
{
    struct linger l = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

static void
pair_drop(struct th_proxy *p, int i, int rst)
{
    if (rst) {
        rst_close(p->pairs[i].client);
        close(p->pairs[i].upstream); /* a Unix socket has no RST: the server sees EOF */
        atomic_fetch_add(&p->reset_conns, 1);
    } else {
        close(p->pairs[i].client);
        close(p->pairs[i].upstream);
    }
    p->pairs[i] = p->pairs[--p->npairs];
}

/* Read the client's request head (up to 500 ms), answer 503, close (http_503). */
static void
answer_503(int c)
{
    static const char reply[] =
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/xml\r\nContent-Length: 68\r\n"
        "Connection: close\r\n\r\n"
        "<Error><Code>SlowDown</Code><Message>injected</Message></Error>\n\n\n\n\n";
    char buf[65536];
    size_t have = 0;
    long deadline = th_now_ms() + 500;
    struct pollfd pfd = {c, POLLIN, 0};

    while (th_now_ms() < deadline && have < sizeof(buf) - 1) {
        ssize_t n;

        if (poll(&pfd, 1, 50) <= 0)
            continue;
        n = recv(c, buf + have, sizeof(buf) - 1 - have, MSG_DONTWAIT);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    (void)send(c, reply, sizeof(reply) - 1, MSG_NOSIGNAL);
    shutdown(c, SHUT_WR);
    deadline = th_now_ms() + 200; /* drain a body the client still sends, then close */
    while (th_now_ms() < deadline) {
        if (poll(&pfd, 1, 20) > 0 && recv(c, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
            break;
    }
    close(c);
}

static int
connect_upstream(struct th_proxy *p)
{
    struct sockaddr_un ua;
    struct sockaddr_in ia;
    int u = socket(p->socket_path ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;

    if (u < 0)
        return -1;
    if (p->socket_path) {
        memset(&ua, 0, sizeof(ua));
        ua.sun_family = AF_UNIX;
        snprintf(ua.sun_path, sizeof(ua.sun_path), "%s", p->socket_path);
        rc = connect(u, (struct sockaddr *)&ua, sizeof(ua));
    } else {
        memset(&ia, 0, sizeof(ia));
        ia.sin_family = AF_INET;
        ia.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ia.sin_port = htons((uint16_t)p->upstream_port);
        rc = connect(u, (struct sockaddr *)&ia, sizeof(ia));
    }
    if (rc != 0) {
        close(u);
        return -1;
    }
    return u;
}

static void
accept_one(struct th_proxy *p)
{
    int c = accept(p->listen_fd, NULL, NULL);
    int u;
    int refuse = 0;

    if (c < 0)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->mode == TH_PROXY_HTTP_503) {
        refuse = p->budget-- > 0;
        if (p->budget <= 0)
            p->mode = TH_PROXY_PASS;
    }
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_add(&p->accepted, 1);
    if (refuse) {
        answer_503(c);
        atomic_fetch_add(&p->answered_503, 1);
        return;
    }
    u = p->npairs == PROXY_MAX_PAIRS ? -1 : connect_upstream(p);
    if (u < 0) {
        rst_close(c);
        return;
    }
    p->pairs[p->npairs].client = c;
    p->pairs[p->npairs].upstream = u;
    p->npairs++;
}

/* Copy what one side has to the other; 0 when the pair ended (or was cut). */
static int
copy_once(struct th_proxy *p, int from, int to, int upward, enum th_proxy_mode mode, long arg)
{
    char buf[65536];
    ssize_t n = recv(from, buf, sizeof(buf), MSG_DONTWAIT);
    ssize_t off = 0;
    int cut = 0;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 1;
    if (n <= 0)
        return 0;
    if (mode == TH_PROXY_DELAY && arg > 0)
        th_sleep_ms(arg);
    if ((mode == TH_PROXY_TRUNCATE && upward) || (mode == TH_PROXY_CUT_REPLY && !upward)) {
        pthread_mutex_lock(&p->lock);
        if (n >= p->budget) {
            n = (ssize_t)p->budget;
            cut = 1;
        }
        p->budget -= n;
        pthread_mutex_unlock(&p->lock);
    }
    while (off < n) {
        ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        off += w;
    }
    return cut ? -1 : 1;
}

static void
reset_all_now(struct th_proxy *p)
{
    while (p->npairs)
        pair_drop(p, p->npairs - 1, 1);
}

/* One turn: what the test asked for, then every socket with something to read. */
static void
proxy_turn(struct th_proxy *p)
{
    struct pollfd pfd[1 + 2 * PROXY_MAX_PAIRS];
    enum th_proxy_mode mode;
    long arg;
    int i;
    int n = 0;

    pthread_mutex_lock(&p->lock);
    if (p->reset_asked || p->close_asked) {
        reset_all_now(p);
        p->reset_asked = 0;
        p->close_asked = 0;
        p->resets_done++;
        pthread_cond_broadcast(&p->cond);
    }
    mode = p->mode;
    arg = p->arg;
    pthread_mutex_unlock(&p->lock);
    pfd[n++] = (struct pollfd){p->listen_fd, POLLIN, 0};
    for (i = 0; i < p->npairs && mode != TH_PROXY_DROP; i++) {
        pfd[n++] = (struct pollfd){p->pairs[i].client, POLLIN, 0};
        pfd[n++] = (struct pollfd){p->pairs[i].upstream, POLLIN, 0};
    }
    if (poll(pfd, (nfds_t)n, PROXY_TICK_MS) <= 0)
        return;
    if (pfd[0].revents & POLLIN)
        accept_one(p);
    for (i = (n - 1) / 2 - 1; i >= 0; i--) {
        int up = 1;
        int down = 1;

        if (pfd[1 + 2 * i].revents)
            up = copy_once(p, p->pairs[i].client, p->pairs[i].upstream, 1, mode, arg);
        if (up > 0 && pfd[2 + 2 * i].revents)
            down = copy_once(p, p->pairs[i].upstream, p->pairs[i].client, 0, mode, arg);
        if (up < 0 || down < 0) {
            pthread_mutex_lock(&p->lock);
            p->mode = TH_PROXY_PASS; /* the cut is made: every connection goes */
            pthread_mutex_unlock(&p->lock);
            reset_all_now(p);
            return;
        }
        if (!up || !down)
            pair_drop(p, i, 0);
    }
}

static void *
proxy_main(void *arg)
{
    struct th_proxy *p = arg;

    while (!atomic_load(&p->stop))
        proxy_turn(p);
    reset_all_now(p);
    return NULL;
}

static struct th_proxy *
proxy_start(const char *socket_path, int upstream_port)
{
    struct th_proxy *p = xcalloc(1, sizeof(*p));
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1;

    p->socket_path = socket_path ? xstrdup(socket_path) : NULL;
    p->upstream_port = upstream_port;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->listen_fd < 0)
        fail_msg("proxy socket: %s", strerror(errno));
    setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(p->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(p->listen_fd, 128) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("proxy listen: %s", strerror(errno));
    p->port = ntohs(a.sin_port);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0)
        fail_msg("proxy thread");
    return p;
}

struct th_proxy *
th_proxy_start_unix(const char *socket_path)
{
    return proxy_start(socket_path, 0);
}

struct th_proxy *
th_proxy_start_tcp(int port)
{
    return proxy_start(NULL, port);
}

int
th_proxy_port(const struct th_proxy *p)
{
    return p->port;
}

void
th_proxy_set(struct th_proxy *p, enum th_proxy_mode mode, long arg)
{
    pthread_mutex_lock(&p->lock);
    p->mode = mode;
    p->arg = arg;
    p->budget = arg;
    p->close_asked = mode == TH_PROXY_HTTP_503;
    pthread_mutex_unlock(&p->lock);
}

enum th_proxy_mode
th_proxy_mode(struct th_proxy *p)
{
    enum th_proxy_mode m;

    pthread_mutex_lock(&p->lock);
    m = p->mode;
    pthread_mutex_unlock(&p->lock);
    return m;
}

void
th_proxy_reset_all(struct th_proxy *p)
{
    long done;

    pthread_mutex_lock(&p->lock);
    done = p->resets_done;
    p->reset_asked = 1;
    while (p->resets_done == done)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

long
th_proxy_accepted(struct th_proxy *p)
{
    return atomic_load(&p->accepted);
}

long
th_proxy_answered_503(struct th_proxy *p)
{
    return atomic_load(&p->answered_503);
}

long
th_proxy_resets(struct th_proxy *p)
{
    return atomic_load(&p->reset_conns);
}

void
th_proxy_free(struct th_proxy *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->socket_path);
    free(p);
}
