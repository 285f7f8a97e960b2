/*
 * feedsub.c - the subscriber side of bench/feed.sh
 *
 * usage: feedsub PORT N QUERY
 *
 * Opens N server-sent event streams GET /api/v1/feed?format=sse&QUERY on
 * 127.0.0.1:PORT (one epoll loop, no thread per stream) plus one stream of
 * io.ingestd.event.accepted for latency, prints "attached N" once every
 * stream answered, then keeps reading all of them. Commands on stdin:
 *   lat M   upload M small events one after the other (POST /api/v1/events,
 *           a new connection each) and print the time from each 201 to the
 *           latency stream holding its event.accepted: "latency_p50_ms X",
 *           "latency_p99_ms Y"
 *   stats   print "events_total E" (events read on all streams), "resumes R",
 *           "closed C" (streams the server ended)
 * EOF on stdin ends it. With INGESTD_TOKEN set, requests carry a bearer token.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAT_MAX 100000

struct stream {
    int fd;
    int head_seen;
    int closed;
    char tail[64]; /* the end of the previous read, to find markers split over reads */
};

static int port;
static const char *token;
static long events_total, resumes, closed_total;
static long long lat_subject[LAT_MAX];
static double lat_seen_ms[LAT_MAX];
static int nseen;

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int
dial(void)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

static void
send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, 0);

        if (w <= 0) {
            perror("send");
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

static void
open_stream(struct stream *s, const char *query)
{
    char req[2048];
    int n;

    s->fd = dial();
    n = snprintf(req, sizeof(req),
                 "GET /api/v1/feed?format=sse&%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s\r\n", query,
                 token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
    send_all(s->fd, req, (size_t)n);
    fcntl(s->fd, F_SETFL, O_NONBLOCK);
}

/* Count the events of a read; the latency stream also notes each event.accepted's subject. */
static void
scan(struct stream *s, char *buf, size_t n, int is_lat)
{
    char joined[64 + 65536 + 1];
    size_t tl = strlen(s->tail);
    char *p;

    memcpy(joined, s->tail, tl);
    memcpy(joined + tl, buf, n);
    joined[tl + n] = '\0';
    if (!s->head_seen && strstr(joined, "\r\n\r\n"))
        s->head_seen = 1;
    for (p = joined + tl; (p = strstr(p, "\nevent: ")) != NULL; p++) {
        if (p - joined < (long)tl)
            continue;
        events_total++;
        if (strncmp(p + 8, "resume", 6) == 0)
            resumes++;
    }
    for (p = joined; is_lat && (p = strstr(p, "\"subject\":\"")) != NULL; p++) {
        if (p + 11 < joined + tl)
            continue;
        if (nseen < LAT_MAX && strchr(p + 11, '"')) {
            lat_subject[nseen] = strtoll(p + 11, NULL, 10);
            lat_seen_ms[nseen++] = now_ms();
        }
    }
    n = tl + n;
    tl = n < sizeof(s->tail) - 1 ? n : sizeof(s->tail) - 1;
    memcpy(s->tail, joined + n - tl, tl);
    s->tail[tl] = '\0';
}

static void
drain(int ep, struct stream *st, int nst, int timeout_ms)
{
    struct epoll_event evs[256];
    static char buf[65536];
    int k, i;

    k = epoll_wait(ep, evs, 256, timeout_ms);
    for (i = 0; i < k; i++) {
        struct stream *s = &st[evs[i].data.u32];
        ssize_t r;

        while ((r = recv(s->fd, buf, sizeof(buf), 0)) > 0)
            scan(s, buf, (size_t)r, (int)evs[i].data.u32 == nst - 1);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
            close(s->fd);
            s->closed = 1;
            closed_total++;
        }
    }
}

/* POST one event; its id from the 201 body. */
static long long
upload(int seq)
{
    char body[256], req[1024], resp[4096];
    size_t got = 0;
    int fd = dial(), n, bl;
    char *id;

    bl = snprintf(body, sizeof(body),
                  "origin,path,branch,cloneUrl,changeset,publishUri\n"
                  "https://lat.example/r%d.git,r%d,main,u,c%d,https://p/r%d\n",
                  seq, seq, seq, seq);
    n = snprintf(req, sizeof(req),
                 "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                 "Content-Length: %d\r\nConnection: close\r\n%s%s%s\r\n%s",
                 bl, token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "",
                 body);
    send_all(fd, req, (size_t)n);
    for (;;) {
        ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);

        if (r <= 0)
            break;
        got += (size_t)r;
        resp[got] = '\0';
        if (strstr(resp, "\r\n\r\n") && strstr(strstr(resp, "\r\n\r\n"), "}"))
            break;
    }
    close(fd);
    resp[got] = '\0';
    id = strstr(resp, "\"id\":\"");
    if (strncmp(resp, "HTTP/1.1 201", 12) != 0 || !id) {
        fprintf(stderr, "upload failed: %.200s\n", resp);
        exit(1);
    }
    return strtoll(id + 6, NULL, 10);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void
latency(int ep, struct stream *st, int nst, int m)
{
    double *lat = calloc((size_t)m, sizeof(*lat));
    int i, j;

    for (i = 0; i < m; i++) {
        long long id = upload(i);
        double t201 = now_ms(), deadline = t201 + 10000;
        int found = -1;

        while (found < 0 && now_ms() < deadline) {
            for (j = nseen - 1; j >= 0 && found < 0; j--)
                if (lat_subject[j] == id)
                    found = j;
            if (found < 0)
                drain(ep, st, nst, 5);
        }
        if (found < 0) {
            fprintf(stderr, "event %lld not delivered within 10 s\n", id);
            exit(1);
        }
        lat[i] = lat_seen_ms[found] - t201; /* may be < 0: delivered before the 201 was read */
        nseen = 0;
    }
    qsort(lat, (size_t)m, sizeof(*lat), cmp_double);
    printf("latency_p50_ms %.2f\nlatency_p99_ms %.2f\n", lat[m / 2],
           lat[(int)((double)m * 0.99) < m ? (int)((double)m * 0.99) : m - 1]);
    fflush(stdout);
    free(lat);
}

int
main(int argc, char **argv)
{
    struct stream *st;
    struct epoll_event ev;
    char line[256];
    int n, i, ep, attached;

    if (argc != 4) {
        fprintf(stderr, "usage: feedsub PORT N QUERY\n");
        return 2;
    }
    port = atoi(argv[1]);
    n = atoi(argv[2]);
    token = getenv("INGESTD_TOKEN");
    st = calloc((size_t)n + 1, sizeof(*st));
    ep = epoll_create1(0);
    for (i = 0; i <= n; i++) {
        open_stream(&st[i], i < n ? argv[3] : "type=io.ingestd.event.accepted");
        ev.events = EPOLLIN;
        ev.data.u32 = (unsigned)i;
        epoll_ctl(ep, EPOLL_CTL_ADD, st[i].fd, &ev);
    }
    do {
        drain(ep, st, n + 1, 100);
        for (attached = 0, i = 0; i <= n; i++)
            attached += st[i].head_seen;
    } while (attached < n + 1 && closed_total == 0);
    printf("attached %d\n", n);
    fflush(stdout);
    fcntl(0, F_SETFL, O_NONBLOCK);
    for (;;) {
        ssize_t r = read(0, line, sizeof(line) - 1);

        if (r == 0)
            break;
        if (r > 0) {
            line[r] = '\0';
            if (strncmp(line, "lat ", 4) == 0)
                latency(ep, st, n + 1, atoi(line + 4));
            if (strncmp(line, "stats", 5) == 0) {
                printf("events_total %ld\nresumes %ld\nclosed %ld\n", events_total, resumes,
                       closed_total);
                fflush(stdout);
            }
        }
        drain(ep, st, n + 1, 50);
    }
    return 0;
}
