/*
 * feed_hub.c - the live feed's fan-out; see feed_hub.h
 *
 * The ring holds entries by sequence number: ring[seq % cap] for seq in
 * [first_seq, next_seq), ids ascending; together they are every final
 * change with an id in (base_id, head_id]. `total` counts the bytes ever
 * appended and each entry its running total, so how far a subscriber is
 * behind the head is one subtraction. Entries are reference counted: a
 * subscriber sending one split over several calls keeps it after eviction.
 *
 * Lock: hub->mu guards the ring, the subscriber list and every
 * subscriber's state. A subscriber is suspended (link->suspend) and marked
 * waiting under the lock, and only the hub resumes it, under the lock, so
 * a resume can neither precede its suspend nor be lost.
 */
#include "jobs/feed_hub.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/sse.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "storage/db.h"
#include "storage/outbox_store.h"

#define FEED_HUB_PAGE 500
#define FEED_HUB_SETTLE_MS 100        /* a second look after a wake, for rows not final yet */
#define FEED_HUB_GAP_MS 10            /* reads at most this often: pokes between fold into one */
#define FEED_HUB_RELAY "ingestd_feed" /* a hub's "read the journal" to other replicas */
#define FEED_S3_TYPE "io.ingestd.s3.objects.changed"
#define FEED_HEARTBEAT ": heartbeat\n\n"

struct feed_entry {
    atomic_int refs;
    long long id;
    char *type;
    char *subject; /* NULL when none */
    char **keys;   /* record keys of an S3 change (the prefix filter) */
    size_t nkeys;
    char *text; /* the formatted event */
    size_t len;
    unsigned long long end_total; /* hub->total once this entry was appended */
};

enum sub_mode { SUB_TABLE, SUB_RING };

struct feed_sub {
    struct feed_hub *hub;
    const struct feed_filter *f;
    const struct feed_link *link;
    long long cursor;
    enum sub_mode mode;
    unsigned long long seq; /* next ring entry to look at (SUB_RING) */
    struct feed_entry *cur; /* an entry partly handed over */
    size_t cur_off;         /* bytes of cur handed over */
    int waiting;            /* suspended, the hub resumes it */
    int idle_behind;        /* SUB_TABLE and the table had nothing: wait for the hub */
    long long last_send_ms; /* heartbeat clock */
    struct feed_sub *prev, *next;
};

struct feed_hub {
    struct feed_hub_settings st;
    pthread_t thread;
    pthread_mutex_t mu;
    int pipe[2]; /* pokes and the stop */
    atomic_int stop;
    int closing;
    int ready; /* base_id/head_id known */
    long long base_id, head_id;
    struct feed_entry **ring;
    size_t cap;
    unsigned long long first_seq, next_seq;
    unsigned long long total, evicted_total;
    size_t ring_bytes_cap;
    struct feed_sub *subs;
    int nsubs;
    struct db *db; /* the hub thread's */
    int listen_pid;
};

/* ---- entries ---- */

static void
entry_release(struct feed_entry *e)
{
    size_t i;

    if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    for (i = 0; i < e->nkeys; i++)
        free(e->keys[i]);
    free(e->keys);
    free(e->type);
    free(e->subject);
    free(e->text);
    free(e);
}

/* An entry from a change object of feed_store_read(). */
static struct feed_entry *
entry_new(json_t *item)
{
    struct feed_entry *e = xcalloc(1, sizeof(*e));
    const char *subject = json_string_value(json_object_get(item, "subject"));
    json_t *records = json_object_get(json_object_get(item, "data"), "records");
    char *data = json_dumps(item, JSON_COMPACT);
    struct buf b;
    size_t i;

    atomic_init(&e->refs, 1);
    e->id = (long long)json_integer_value(json_object_get(item, "id"));
    e->type = xstrdup(json_string_value(json_object_get(item, "type")));
    e->subject = subject ? xstrdup(subject) : NULL;
    if (strcmp(e->type, FEED_S3_TYPE) == 0 && json_is_array(records)) {
        e->keys = xcalloc(json_array_size(records) + 1, sizeof(*e->keys));
        for (i = 0; i < json_array_size(records); i++) {
            const char *k = json_string_value(json_object_get(json_array_get(records, i), "key"));

            if (k)
                e->keys[e->nkeys++] = xstrdup(k);
        }
    }
    buf_init(&b, 0);
    sse_event_append(&b, e->id, e->type, data ? data : "null", data ? strlen(data) : 4);
    free(data);
    e->text = buf_take(&b, &e->len);
    return e;
}

static int
entry_matches(const struct feed_entry *e, const struct feed_filter *f)
{
    size_t i;
    int hit = f->ntypes == 0;

    for (i = 0; i < f->ntypes && !hit; i++)
        hit = strcmp(f->types[i], e->type) == 0;
    if (!hit)
        return 0;
    if ((f->bucket || f->prefix) && strcmp(e->type, FEED_S3_TYPE) != 0)
        return 0;
    if (f->bucket && (!e->subject || strcmp(e->subject, f->bucket) != 0))
        return 0;
    if (!f->prefix)
        return 1;
    for (i = 0; i < e->nkeys; i++)
        if (strncmp(e->keys[i], f->prefix, strlen(f->prefix)) == 0)
            return 1;
    return 0;
}

/* ---- the ring (hub->mu held) ---- */

static struct feed_entry *
ring_at(struct feed_hub *hub, unsigned long long seq)
{
    return hub->ring[seq % hub->cap];
}

static void
ring_evict(struct feed_hub *hub)
{
    struct feed_entry *e = ring_at(hub, hub->first_seq);

    hub->evicted_total = e->end_total;
    hub->base_id = e->id;
    hub->ring[hub->first_seq % hub->cap] = NULL;
    hub->first_seq++;
    entry_release(e);
}

static void
ring_append(struct feed_hub *hub, struct feed_entry *e)
{
    while (hub->next_seq > hub->first_seq &&
           (hub->next_seq - hub->first_seq == hub->cap ||
            hub->total - hub->evicted_total + e->len > hub->ring_bytes_cap))
        ring_evict(hub);
    hub->total += e->len;
    e->end_total = hub->total;
    hub->ring[hub->next_seq % hub->cap] = e;
    hub->next_seq++;
    if (e->id > hub->head_id)
        hub->head_id = e->id;
}

/* The first sequence whose entry's id is above cursor (next_seq when none). */
static unsigned long long
ring_find(struct feed_hub *hub, long long cursor)
{
    unsigned long long lo = hub->first_seq, hi = hub->next_seq;

    while (lo < hi) {
        unsigned long long mid = lo + (hi - lo) / 2;

        if (ring_at(hub, mid)->id <= cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Bytes appended after the subscriber's position. */
static unsigned long long
ring_backlog(struct feed_hub *hub, unsigned long long seq)
{
    if (seq == hub->first_seq)
        return hub->total - hub->evicted_total;
    return hub->total - ring_at(hub, seq - 1)->end_total;
}

/* Largest batch of new changes the hub checks one by one against a waiting subscriber's filter. */
#define FEED_HUB_SKIP_MAX 64
#define FEED_HUB_BATCH_TYPES 16

/* What a batch of new changes holds, to pass over the subscribers it does not concern. */
struct feed_batch {
    unsigned long long from_seq; /* its first ring entry */
    const char *types[FEED_HUB_BATCH_TYPES];
    size_t ntypes;
    int many_types; /* more distinct types than types[] holds */
    int has_s3;
};

static void
batch_scan(struct feed_hub *hub, struct feed_batch *b)
{
    unsigned long long q;
    size_t i;

    b->ntypes = 0;
    b->many_types = 0;
    b->has_s3 = 0;
    if (b->from_seq < hub->first_seq)
        b->from_seq = hub->first_seq;
    for (q = b->from_seq; q < hub->next_seq; q++) {
        const char *t = ring_at(hub, q)->type;

        b->has_s3 |= strcmp(t, FEED_S3_TYPE) == 0;
        for (i = 0; i < b->ntypes && strcmp(b->types[i], t) != 0; i++)
            ;
        if (i < b->ntypes)
            continue;
        if (b->ntypes == FEED_HUB_BATCH_TYPES)
            b->many_types = 1;
        else
            b->types[b->ntypes++] = t;
    }
}

/* 1 when no change of the batch can pass f (by type, or by being an S3 change). */
static int
batch_misses(const struct feed_batch *b, const struct feed_filter *f)
{
    size_t i, j;

    if ((f->bucket || f->prefix) && !b->has_s3)
        return 1;
    if (!f->ntypes || b->many_types)
        return 0;
    for (i = 0; i < f->ntypes; i++)
        for (j = 0; j < b->ntypes; j++)
            if (strcmp(f->types[i], b->types[j]) == 0)
                return 0;
    return 1;
}

/*
 * A waiting subscriber none of whose filter's changes arrived: advance it
 * past them here instead of waking it (1 when done). Saves a resume and a
 * read per filtered subscriber for every change.
 */
static int
skip_unmatched(struct feed_hub *hub, struct feed_sub *s, const struct feed_batch *b)
{
    unsigned long long q;

    if (s->mode != SUB_RING || s->cur || s->seq < hub->first_seq)
        return 0;
    if (s->seq < b->from_seq || !batch_misses(b, s->f)) {
        if (hub->next_seq - s->seq > FEED_HUB_SKIP_MAX)
            return 0;
        for (q = s->seq; q < hub->next_seq; q++)
            if (ring_at(hub, q)->id > s->cursor && entry_matches(ring_at(hub, q), s->f))
                return 0;
    }
    s->seq = hub->next_seq;
    if (hub->head_id > s->cursor)
        s->cursor = hub->head_id;
    return 1;
}

/*
 * Resume the waiting subscribers: with a batch of new changes (b, may be
 * NULL) those it concerns (the others are moved past it), and those whose
 * heartbeat is due; all of them when closing or `all`. Returns the
 * earliest heartbeat still to come (ms).
 */
static long long
wake_subscribers(struct feed_hub *hub, struct feed_batch *b, int all)
{
    long long now = clock_mono_ms();
    long long next = now + hub->st.heartbeat_ms;
    struct feed_sub *s;

    if (b)
        batch_scan(hub, b);
    for (s = hub->subs; s; s = s->next) {
        long long due = s->last_send_ms + hub->st.heartbeat_ms;

        if (!s->waiting)
            continue;
        if (all || hub->closing || (b && !skip_unmatched(hub, s, b)) || due <= now) {
            s->waiting = 0;
            s->idle_behind = 0;
            s->link->resume(s->link->cls);
        } else if (due < next) {
            next = due;
        }
    }
    return next;
}

/* ---- subscribers ---- */

struct feed_sub *
feed_hub_join(struct feed_hub *hub, long long after, const struct feed_filter *f)
{
    struct feed_sub *sub = xcalloc(1, sizeof(*sub));

    sub->hub = hub;
    sub->f = f;
    sub->last_send_ms = clock_mono_ms();
    pthread_mutex_lock(&hub->mu);
    sub->cursor = after < 0 ? (hub->ready ? hub->head_id : 0) : after;
    sub->mode = SUB_TABLE;
    if (hub->ready && sub->cursor >= hub->base_id) {
        sub->mode = SUB_RING;
        sub->seq = ring_find(hub, sub->cursor);
    }
    sub->next = hub->subs;
    if (hub->subs)
        hub->subs->prev = sub;
    hub->subs = sub;
    hub->nsubs++;
    pthread_mutex_unlock(&hub->mu);
    return sub;
}

void
feed_hub_leave(struct feed_sub *sub)
{
    struct feed_hub *hub;

    if (!sub)
        return;
    hub = sub->hub;
    pthread_mutex_lock(&hub->mu);
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        hub->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    hub->nsubs--;
    pthread_mutex_unlock(&hub->mu);
    entry_release(sub->cur);
    free(sub);
}

/* Hand over what is left of sub->cur; 1 when it is done. */
static int
take_partial(struct feed_sub *sub, char *out, size_t max, size_t *n)
{
    size_t k = sub->cur->len - sub->cur_off;

    if (k > max - *n)
        k = max - *n;
    memcpy(out + *n, sub->cur->text + sub->cur_off, k);
    *n += k;
    sub->cur_off += k;
    if (sub->cur_off < sub->cur->len)
        return 0;
    entry_release(sub->cur);
    sub->cur = NULL;
    return 1;
}

/* Copy the matching ring entries after the subscriber's position (hub->mu held). */
static void
take_ring(struct feed_sub *sub, char *out, size_t max, size_t *n)
{
    struct feed_hub *hub = sub->hub;

    while (sub->seq < hub->next_seq && *n < max) {
        struct feed_entry *e = ring_at(hub, sub->seq);

        sub->seq++;
        if (e->id <= sub->cursor)
            continue;
        sub->cursor = e->id;
        if (!entry_matches(e, sub->f))
            continue;
        atomic_fetch_add(&e->refs, 1);
        sub->cur = e;
        sub->cur_off = 0;
        if (!take_partial(sub, out, max, n))
            return;
    }
    if (sub->seq == hub->next_seq && hub->head_id > sub->cursor)
        sub->cursor = hub->head_id; /* examined up to the head, matched or not */
}

enum feed_take
feed_hub_take(struct feed_sub *sub, const struct feed_link *link, char *out, size_t max, size_t *n,
              long long *cursor, const char **why)
{
    struct feed_hub *hub = sub->hub;
    enum feed_take r = FEED_TAKE_DATA;

    *n = 0;
    *why = NULL;
    pthread_mutex_lock(&hub->mu);
    sub->link = link;
    if (sub->cur && !take_partial(sub, out, max, n))
        goto out;
    if (hub->closing) {
        *why = "shutdown";
        r = FEED_TAKE_END;
    } else if ((!hub->ready || sub->mode == SUB_TABLE) && !sub->idle_behind) {
        r = FEED_TAKE_BEHIND;
    } else if (sub->mode == SUB_RING &&
               (sub->seq < hub->first_seq || ring_backlog(hub, sub->seq) > hub->st.backlog_bytes)) {
        *why = "lagging";
        r = FEED_TAKE_END;
    } else if (sub->mode == SUB_RING) {
        take_ring(sub, out, max, n);
    }
    if (r != FEED_TAKE_DATA || *n)
        goto out;
    if (clock_mono_ms() - sub->last_send_ms >= hub->st.heartbeat_ms &&
        max >= sizeof(FEED_HEARTBEAT)) {
        memcpy(out, FEED_HEARTBEAT, sizeof(FEED_HEARTBEAT) - 1);
        *n = sizeof(FEED_HEARTBEAT) - 1;
        goto out;
    }
    sub->waiting = 1;
    link->suspend(link->cls);
    r = FEED_TAKE_WAIT;
out:
    if (*n)
        sub->last_send_ms = clock_mono_ms();
    *cursor = sub->cursor;
    pthread_mutex_unlock(&hub->mu);
    return r;
}

void
feed_hub_seek(struct feed_sub *sub, long long cursor, int progressed)
{
    struct feed_hub *hub = sub->hub;

    pthread_mutex_lock(&hub->mu);
    if (cursor > sub->cursor)
        sub->cursor = cursor;
    if (hub->ready && sub->cursor >= hub->base_id) {
        sub->mode = SUB_RING;
        sub->seq = ring_find(hub, sub->cursor);
    } else if (!progressed) {
        sub->idle_behind = 1;
    }
    pthread_mutex_unlock(&hub->mu);
}

long long
feed_hub_cursor(struct feed_sub *sub)
{
    long long c;

    pthread_mutex_lock(&sub->hub->mu);
    c = sub->cursor;
    pthread_mutex_unlock(&sub->hub->mu);
    return c;
}

int
feed_hub_subscribers(struct feed_hub *hub)
{
    int n;

    pthread_mutex_lock(&hub->mu);
    n = hub->nsubs;
    pthread_mutex_unlock(&hub->mu);
    return n;
}

/* ---- the hub's thread ---- */

/* LISTEN on the current connection unless it already does. */
static void
hub_listen(struct feed_hub *hub)
{
    char errbuf[ERRBUF_SIZE];
    int pid;

    if (db_ensure(hub->db, errbuf, sizeof(errbuf)))
        return;
    pid = PQbackendPID(db_conn(hub->db));
    if (pid == hub->listen_pid)
        return;
    if (db_exec(hub->db, "LISTEN " OUTBOX_CHANNEL "; LISTEN " FEED_HUB_RELAY, errbuf,
                sizeof(errbuf)) == ERR_OK)
        hub->listen_pid = pid;
}

/* The journal's head, once: the ring starts there. */
static void
hub_ready(struct feed_hub *hub)
{
    char errbuf[ERRBUF_SIZE];
    long long head = 0;

    if (feed_store_head(hub->db, &head, errbuf, sizeof(errbuf)))
        return;
    pthread_mutex_lock(&hub->mu);
    hub->base_id = head;
    hub->head_id = head;
    hub->ready = 1;
    wake_subscribers(hub, NULL, 1);
    pthread_mutex_unlock(&hub->mu);
}

/* Read the new final changes into the ring; the number appended (-1: the read failed). */
static long
hub_read(struct feed_hub *hub)
{
    static const struct feed_filter all = {NULL, 0, NULL, NULL};
    char errbuf[ERRBUF_SIZE];
    long appended = 0;
    json_t *items = NULL;
    long long last = 0, after;
    size_t i, n;

    for (;;) {
        pthread_mutex_lock(&hub->mu);
        after = hub->head_id;
        pthread_mutex_unlock(&hub->mu);
        if (feed_store_read(hub->db, after, &all, FEED_HUB_PAGE, &items, &last, errbuf,
                            sizeof(errbuf)))
            return appended ? appended : -1;
        n = json_array_size(items);
        pthread_mutex_lock(&hub->mu);
        for (i = 0; i < n; i++)
            ring_append(hub, entry_new(json_array_get(items, i)));
        if (last > hub->head_id)
            hub->head_id = last;
        pthread_mutex_unlock(&hub->mu);
        json_decref(items);
        appended += (long)n;
        if (n < FEED_HUB_PAGE)
            return appended;
    }
}

/* What woke the hub. */
enum hub_wake { WAKE_TIMER = 0, WAKE_POKE = 1, WAKE_NOTIFY = 2 };

/* Sleep until a poke, a notification (not our own), the stop or timeout_ms. */
static int
hub_sleep(struct feed_hub *hub, long long timeout_ms)
{
    PGconn *conn = db_conn(hub->db);
    struct pollfd fds[2];
    nfds_t nfds = 1;
    int woke = WAKE_TIMER;
    char drain[64];
    PGnotify *nt;

    fds[0].fd = hub->pipe[0];
    fds[0].events = POLLIN;
    if (conn && PQsocket(conn) >= 0 && hub->listen_pid) {
        fds[1].fd = PQsocket(conn);
        fds[1].events = POLLIN;
        nfds = 2;
    }
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (poll(fds, nfds, (int)timeout_ms) <= 0)
        return WAKE_TIMER;
    if (fds[0].revents) {
        while (read(hub->pipe[0], drain, sizeof(drain)) > 0)
            ;
        woke |= WAKE_POKE;
    }
    if (nfds == 2 && fds[1].revents) {
        PQconsumeInput(conn);
        while ((nt = PQnotifies(conn)) != NULL) {
            if (nt->be_pid != hub->listen_pid)
                woke |= WAKE_NOTIFY;
            PQfreemem(nt);
        }
    }
    return woke;
}

static void *
hub_main(void *arg)
{
    struct feed_hub *hub = arg;
    struct feed_batch batch;
    char errbuf[ERRBUF_SIZE];
    long long next_poll = 0, next_beat, now, last_read = -FEED_HUB_GAP_MS;
    int woke = WAKE_TIMER, deferred = WAKE_TIMER;
    long got;

    hub->db = db_new(hub->st.conninfo);
    while (!atomic_load(&hub->stop)) {
        got = 0;
        hub_listen(hub);
        if (!hub->ready)
            hub_ready(hub);
        now = clock_mono_ms();
        if (woke != WAKE_TIMER && now < last_read + FEED_HUB_GAP_MS) {
            /* uploads in a burst poke once each: one read a gap after the last serves them */
            if (next_poll > last_read + FEED_HUB_GAP_MS)
                next_poll = last_read + FEED_HUB_GAP_MS;
            deferred |= woke;
            woke = WAKE_TIMER;
        } else if (deferred != WAKE_TIMER && now >= last_read + FEED_HUB_GAP_MS) {
            woke |= deferred; /* the read a wake was deferred to counts as that wake */
            deferred = WAKE_TIMER;
        }
        if (hub->ready && (woke != WAKE_TIMER || now >= next_poll)) {
            last_read = now;
            pthread_mutex_lock(&hub->mu);
            batch.from_seq = hub->next_seq;
            pthread_mutex_unlock(&hub->mu);
            got = hub_read(hub);
            /*
             * A change committed just now may not be final yet (a transaction that
             * began before it is still open): after a notification or a poke, and
             * while reads keep finding rows, look again soon rather than at the poll.
             */
            next_poll = clock_mono_ms() + hub->st.poll_ms;
            if ((woke != WAKE_TIMER || got > 0) && hub->st.poll_ms > FEED_HUB_SETTLE_MS)
                next_poll = clock_mono_ms() + FEED_HUB_SETTLE_MS;
        }
        /* rows this hub found first (a poke or its poll): tell the other replicas' hubs */
        if (got > 0 && woke != WAKE_NOTIFY)
            db_exec(hub->db, "NOTIFY " FEED_HUB_RELAY, errbuf, sizeof(errbuf));
        pthread_mutex_lock(&hub->mu);
        next_beat = wake_subscribers(hub, got > 0 ? &batch : NULL, 0);
        pthread_mutex_unlock(&hub->mu);
        now = clock_mono_ms();
        if (!hub->ready && next_poll <= now)
            next_poll = now + 1000; /* the database is away: try again in a second */
        woke = hub_sleep(hub, (next_beat < next_poll ? next_beat : next_poll) - now);
    }
    db_free(hub->db);
    hub->db = NULL;
    return NULL;
}

/* ---- life ---- */

struct feed_hub *
feed_hub_start(const struct feed_hub_settings *st)
{
    struct feed_hub *hub = xcalloc(1, sizeof(*hub));

    hub->st = *st;
    hub->cap = (size_t)(st->ring > 0 ? st->ring : 16);
    hub->ring = xcalloc(hub->cap, sizeof(*hub->ring));
    hub->ring_bytes_cap = st->backlog_bytes * 4;
    if (hub->ring_bytes_cap < ((size_t)8 << 20))
        hub->ring_bytes_cap = (size_t)8 << 20;
    pthread_mutex_init(&hub->mu, NULL);
    if (pipe(hub->pipe) != 0)
        abort();
    fcntl(hub->pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(hub->pipe[1], F_SETFL, O_NONBLOCK);
    if (pthread_create(&hub->thread, NULL, hub_main, hub) != 0)
        abort();
    return hub;
}

void
feed_hub_poke(struct feed_hub *hub)
{
    ssize_t w;

    if (!hub)
        return;
    w = write(hub->pipe[1], "p", 1);
    (void)w; /* a full pipe has a poke pending already */
}

void
feed_hub_close(struct feed_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->mu);
    hub->closing = 1;
    wake_subscribers(hub, NULL, 1);
    pthread_mutex_unlock(&hub->mu);
}

void
feed_hub_stop(struct feed_hub *hub)
{
    if (!hub)
        return;
    atomic_store(&hub->stop, 1);
    feed_hub_poke(hub);
    pthread_join(hub->thread, NULL);
    while (hub->next_seq > hub->first_seq)
        ring_evict(hub);
    free(hub->ring);
    close(hub->pipe[0]);
    close(hub->pipe[1]);
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}
