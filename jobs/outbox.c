/*
 * outbox.c - webhook delivery threads (see outbox.h)
 *
 * Each thread owns a struct db, LISTENs on OUTBOX_CHANNEL on it (again after
 * every reconnect: a new backend forgets), and loops: claim a due delivery,
 * send it, record the outcome (the claim's transaction holds the row lock
 * across the attempt), repeat; when none is due, sleep in poll(2) on the
 * connection's socket (a NOTIFY of a committed change) and the stop pipe,
 * until the next delivery is due or OUTBOX_POLL_MS passed.
 *
 * Stopping: outbox_stop() raises `stop` and writes one byte into the pipe,
 * which nobody reads, so every poll returns at once from then on; then
 * thread_stop() joins the threads.
 */
#include "jobs/outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "clients/http_client.h"
#include "clients/webhook.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crashpoint.h"
#include "core/log.h"
#include "core/metrics.h"
#include "jobs/thread.h"
#include "storage/db.h"
#include "storage/outbox_store.h"

/* The shortest sleep between a claim that found nothing and the next. */
#define OUTBOX_MIN_SLEEP_MS 10

struct outbox {
    char *conninfo;
    struct webhook_signer signer; /* read-only once started */
    int attempts;
    long backoff_ms;
    long timeout_ms;
    struct metrics *metrics;
    atomic_int stop;
    int stop_pipe[2];
    struct thread *thread;
};

/* What one sender thread keeps. */
struct sender {
    struct outbox *o;
    struct db *db;
    struct http_client *http;
    int listen_pid; /* backend pid of the connection that LISTENs; 0: none */
};

long long
outbox_backoff_ms(long backoff_ms, int failed, double jitter)
{
    long long d = backoff_ms > 0 ? backoff_ms : 1;
    int i;

    for (i = 1; i < failed && d < OUTBOX_MAX_DELAY_MS; i++)
        d *= 2;
    if (d > OUTBOX_MAX_DELAY_MS)
        d = OUTBOX_MAX_DELAY_MS;
    if (jitter < 0)
        jitter = 0;
    if (jitter > 1)
        jitter = 1;
    return d - d / 2 + (long long)((double)(d / 2) * jitter);
}

/* A uniform number in [0, 1] from OpenSSL's generator. */
static double
jitter_value(void)
{
    unsigned int r = 0;

    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        return 0.5;
    return (double)r / (double)0xffffffffu;
}

/* scheme://host[:port] of url: what a log line may name of a receiver. */
static void
log_target(const char *url, char *out, size_t outlen)
{
    char *p;

    http_client_redact_url(url, out, outlen);
    p = strstr(out, "://");
    if (p && (p = strchr(p + 3, '/')) != NULL)
        *p = '\0';
}

/*
 * The message of a failed attempt with the receiver named as log_target()
 * names it: http_client's messages carry the URL's path, which for many
 * receivers (chat webhooks) is itself a token.
 */
static void
scrub_message(const char *url, const char *msg, char *out, size_t outlen)
{
    char full[256];
    char host[256];
    const char *at;
    struct buf b;

    http_client_redact_url(url, full, sizeof(full));
    log_target(url, host, sizeof(host));
    at = full[0] ? strstr(msg, full) : NULL;
    if (!at) {
        snprintf(out, outlen, "%s", msg);
        return;
    }
    buf_init(&b, 0);
    buf_printf(&b, "%.*s%s%s", (int)(at - msg), msg, host, at + strlen(full));
    snprintf(out, outlen, "%s", b.data);
    buf_release(&b);
}

/* LISTEN on the current connection unless it already does. */
static void
ensure_listen(struct sender *s)
{
    char errbuf[ERRBUF_SIZE];
    int pid;

    if (db_ensure(s->db, errbuf, sizeof(errbuf)))
        return;
    pid = PQbackendPID(db_conn(s->db));
    if (pid == s->listen_pid)
        return;
    if (db_exec(s->db, "LISTEN " OUTBOX_CHANNEL, errbuf, sizeof(errbuf)) == ERR_OK)
        s->listen_pid = pid;
}

/* Drop the notifications libpq has read: they only say "look again". */
static void
drain_notifies(struct sender *s)
{
    PGconn *conn = db_conn(s->db);
    PGnotify *n;

    if (!conn)
        return;
    PQconsumeInput(conn);
    while ((n = PQnotifies(conn)) != NULL)
        PQfreemem(n);
}

/* Decide the outcome of an attempt; *retry_ms for OUTBOX_RETRY. */
static enum outbox_outcome
judge(const struct outbox *o, const struct outbox_claim *c, enum err rc, long status,
      long long *retry_ms)
{
    *retry_ms = 0;
    if (rc == ERR_OK && status >= 200 && status <= 299)
        return OUTBOX_DELIVERED;
    if (rc == ERR_OK && status == 410)
        return OUTBOX_GONE;
    if (rc == ERR_BAD_INPUT || c->attempts + 1 >= o->attempts)
        return OUTBOX_FAILED;
    *retry_ms = outbox_backoff_ms(o->backoff_ms, c->attempts + 1, jitter_value());
    return OUTBOX_RETRY;
}

/* One line for an attempt that did not deliver. */
static void
log_attempt(const struct outbox_claim *c, enum outbox_outcome oc, long status, const char *why,
            long long retry_ms)
{
    char target[256];
    json_t *f;

    log_target(c->url, target, sizeof(target));
    f = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s}", "delivery", c->id, "event_id", c->event_id, "type",
                  c->type, "target", target, "attempt", c->attempts + 1, "outcome",
                  outbox_outcome_name(oc));
    if (status)
        json_object_set_new(f, "status", json_integer(status));
    if (why)
        json_object_set_new(f, "error", json_string(why));
    if (oc == OUTBOX_RETRY)
        json_object_set_new(f, "retry_in_ms", json_integer(retry_ms));
    log_json(oc == OUTBOX_FAILED ? LOG_ERROR : LOG_WARN,
             oc == OUTBOX_RETRY  ? "webhook attempt failed, retrying"
             : oc == OUTBOX_GONE ? "webhook receiver answered 410, delivery stopped"
                                 : "webhook delivery failed",
             f);
}

/* Send claimed delivery c once and record the outcome (commits the claim). */
static void
attempt(struct sender *s, const struct outbox_claim *c)
{
    struct outbox *o = s->o;
    struct webhook_event ev;
    char errbuf[ERRBUF_SIZE] = "";
    char why[ERRBUF_SIZE];
    const char *label[1];
    long long retry_ms;
    long status = 0;
    enum outbox_outcome oc;
    enum err rc;

    ev.id = c->event_id;
    ev.source = c->source;
    ev.type = c->type;
    ev.subject = c->subject;
    ev.time = c->time;
    ev.data = c->data;
    rc = webhook_send(s->http, &o->signer, c->url, &ev, clock_real_ms() / 1000, o->timeout_ms,
                      &status, errbuf, sizeof(errbuf));
    oc = judge(o, c, rc, status, &retry_ms);
    if (rc)
        scrub_message(c->url, errbuf, why, sizeof(why));
    else
        snprintf(why, sizeof(why), "HTTP %ld", status);
    if (oc != OUTBOX_DELIVERED)
        log_attempt(c, oc, rc ? 0 : status, why, retry_ms);
    label[0] = outbox_outcome_name(oc);
    metrics_add(o->metrics, M_WEBHOOK_DELIVERIES, label, 1);
    if (oc == OUTBOX_DELIVERED)
        crashpoint("outbox.after_2xx");
    if (outbox_store_finish(s->db, c, oc, rc ? 0 : status, oc == OUTBOX_DELIVERED ? NULL : why,
                            retry_ms, errbuf, sizeof(errbuf)))
        log_json(LOG_WARN, "webhook attempt not recorded; the delivery stays pending",
                 json_pack("{s:s,s:s}", "delivery", c->id, "error", errbuf));
}

/* Sleep until a notification, the stop, or wait_ms. */
static void
sleep_for(struct sender *s, long long wait_ms)
{
    PGconn *conn = db_conn(s->db);
    struct pollfd fds[2];
    nfds_t n = 1;

    fds[0].fd = s->o->stop_pipe[0];
    fds[0].events = POLLIN;
    if (conn && PQsocket(conn) >= 0 && s->listen_pid) {
        fds[1].fd = PQsocket(conn);
        fds[1].events = POLLIN;
        n = 2;
    }
    if (wait_ms > OUTBOX_POLL_MS)
        wait_ms = OUTBOX_POLL_MS;
    if (poll(fds, n, (int)wait_ms) > 0 && n == 2 && fds[1].revents)
        drain_notifies(s);
}

static int
stopping(struct sender *s, struct thread *t)
{
    return atomic_load(&s->o->stop) || thread_stopping(t);
}

static void
sender_main(struct thread *t, void *arg)
{
    struct sender s;
    struct outbox_claim c;
    char errbuf[ERRBUF_SIZE];
    long long due_ms;
    enum err rc;

    memset(&s, 0, sizeof(s));
    s.o = arg;
    s.db = db_new(s.o->conninfo);
    s.http = http_client_new();
    while (s.http && !stopping(&s, t)) {
        ensure_listen(&s);
        drain_notifies(&s);
        rc = outbox_store_claim(s.db, &c, errbuf, sizeof(errbuf));
        if (rc == ERR_OK) {
            attempt(&s, &c);
            outbox_claim_release(&c);
            continue;
        }
        due_ms = 1000; /* the database is away: look again in a second */
        if (rc == ERR_NOT_FOUND && outbox_store_next_due(s.db, &due_ms, errbuf, sizeof(errbuf)))
            due_ms = 1000;
        else if (rc == ERR_NOT_FOUND && due_ms < 0)
            due_ms = OUTBOX_POLL_MS;
        else if (due_ms < OUTBOX_MIN_SLEEP_MS)
            due_ms = OUTBOX_MIN_SLEEP_MS; /* due since the claim looked: soon, never a spin */
        sleep_for(&s, due_ms);
    }
    if (!s.http)
        log_msg(LOG_ERROR, "webhook sender: no HTTP client (libcurl)");
    http_client_free(s.http);
    db_free(s.db);
}

enum err
outbox_start(const struct outbox_settings *st, struct metrics *metrics, struct outbox **out,
             char *errbuf, size_t errlen)
{
    struct outbox *o = xcalloc(1, sizeof(*o));
    enum err rc;

    *out = NULL;
    rc = webhook_signer_init(&o->signer, st->secret, errbuf, errlen);
    if (rc) {
        free(o);
        return rc;
    }
    if (pipe2(o->stop_pipe, O_CLOEXEC) != 0) {
        webhook_signer_release(&o->signer);
        free(o);
        return err_set(ERR_INTERNAL, errbuf, errlen, "webhook sender: pipe: %s", strerror(errno));
    }
    o->conninfo = xstrdup(st->conninfo);
    o->attempts = st->attempts > 0 ? st->attempts : 1;
    o->backoff_ms = st->backoff_ms;
    o->timeout_ms = st->timeout_ms;
    o->metrics = metrics;
    atomic_store(&o->stop, 0);
    o->thread = thread_start(OUTBOX_THREADS, sender_main, o);
    *out = o;
    return ERR_OK;
}

void
outbox_stop(struct outbox *o)
{
    ssize_t n;

    if (!o)
        return;
    atomic_store(&o->stop, 1);
    do
        n = write(o->stop_pipe[1], "x", 1);
    while (n < 0 && errno == EINTR);
    thread_stop(o->thread);
    close(o->stop_pipe[0]);
    close(o->stop_pipe[1]);
    webhook_signer_release(&o->signer);
    free(o->conninfo);
    free(o);
}
