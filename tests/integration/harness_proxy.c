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
 *             connection (a cut mid-message, e.g. mid-COPY), back to pass.
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
    char *socket_path; /* upstream: a Unix socket */
    int listen_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock; /* guards mode, arg, budget, reset_asked, resets_done */
    pthread_cond_t cond;
    enum th_proxy_mode mode;
    long arg;
    long budget; /* truncate: bytes still to copy client -> upstream */
    int reset_asked;
    long resets_done; /* reset rounds done */
    atomic_long accepted;
    atomic_long reset_conns;
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

static void
accept_one(struct th_proxy *p)
{
    struct sockaddr_un ua;
    int c = accept(p->listen_fd, NULL, NULL);
    int u;

    if (c < 0)
        return;
    u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&ua, 0, sizeof(ua));
    ua.sun_family = AF_UNIX;
    snprintf(ua.sun_path, sizeof(ua.sun_path), "%s", p->socket_path);
    if (u < 0 || p->npairs == PROXY_MAX_PAIRS ||
        connect(u, (struct sockaddr *)&ua, sizeof(ua)) != 0) {
        if (u >= 0)
            close(u);
        rst_close(c);
        return;
    }
    p->pairs[p->npairs].client = c;
    p->pairs[p->npairs].upstream = u;
    p->npairs++;
    atomic_fetch_add(&p->accepted, 1);
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
    if (mode == TH_PROXY_TRUNCATE && upward) {
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
    if (p->reset_asked) {
        reset_all_now(p);
        p->reset_asked = 0;
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
        if (up < 0) {
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

struct th_proxy *
th_proxy_start_unix(const char *socket_path)
{
    struct th_proxy *p = xcalloc(1, sizeof(*p));
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1;

    p->socket_path = xstrdup(socket_path);
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
