/*
 * s3_group.c - group commit of S3 event batches across threads
 *
 * Leader/follower, no thread of its own, as jobs/upload_group.c: the waiting
 * batches form a FIFO under one mutex, each with the hashes of its keys;
 * `active` lists the groups being ingested. A group's keys stay busy until
 * its transaction holds their locks in PostgreSQL (`locked`, reported by
 * s3_store_ingest_group_locked); after that a later group on the same keys
 * may start: it queues in PostgreSQL behind the locked one, so its BEGIN,
 * its parameters and its lock statement are under way when the first
 * commits, and it cannot pass it. A queued batch leads when there is a
 * leader's place and no unlocked active group or earlier queued batch
 * shares a key with it (may_lead): it takes a group (take_group: skipping,
 * and then keeping busy, the keys of every batch it leaves, so batches on
 * one key stay in arrival order), unlocks, ingests the group on its own
 * connection, relocks, marks the group's batches done and wakes their
 * threads, then wakes every batch still queued to look again. A waiter's
 * entry lives on its own stack; the leader never touches an entry after
 * marking it done and unlocking.
 *
 * Waits in PostgreSQL go only from an unlocked group to a locked one (two
 * unlocked groups share no key here, and each takes its key locks in one
 * statement, in hash order), so they form no cycle.
 */
#include "jobs/s3_group.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "core/buf.h"
#include "jobs/thread.h"

struct waiter {
    struct s3_ingest_part *part;
    uint64_t *keys; /* hashes of its (bucket, key)s, nkeys of them */
    size_t nkeys;
    char *errbuf; /* the waiter's, errlen bytes */
    size_t errlen;
    enum err rc;
    struct waiter *next;
    int taken; /* in a group being ingested: its thread waits, it does not lead */
    int done;
    pthread_cond_t wake; /* done, or asked to lead: only this waiter is woken */
};

/*
 * A group being ingested: its batches, whose keys no other group may take
 * until the group holds their locks in PostgreSQL (locked).
 */
struct active {
    struct waiter **taken;
    size_t n;
    int locked;
    struct s3_group *g;
    struct active *next;
};

struct s3_group {
    pthread_mutex_t lock; /* guards head, tail, queued, leaders and every waiter's done */
    pthread_cond_t more;  /* a batch was queued: a leader that waits for more counts */
    struct waiter *head;
    struct waiter *tail;
    struct active *active; /* the groups being ingested */
    int queued;            /* batches in the FIFO */
    size_t queued_records;
    int leaders; /* groups being ingested */
    int max_groups;
    size_t max_records;
    long max_wait_us;
};

struct s3_group *
s3_group_new(size_t max_records, long max_wait_us, int max_groups)
{
    struct s3_group *g = xcalloc(1, sizeof(*g));

    pthread_mutex_init(&g->lock, NULL);
    thread_cond_init_mono(&g->more);
    g->max_records = max_records;
    g->max_wait_us = max_wait_us;
    g->max_groups = max_groups < 1 ? 1 : max_groups;
    return g;
}

void
s3_group_free(struct s3_group *g)
{
    if (!g)
        return;
    pthread_cond_destroy(&g->more);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

/* ---- sets of key hashes (open addressing; 0 stands for itself) ---- */

struct keyset {
    uint64_t *slot;
    size_t cap;
    int has_zero;
};

static uint64_t
key_hash(const char *bucket, const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p;

    for (p = (const unsigned char *)bucket; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0x1f) * 1099511628211ULL;
    for (p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static void
keyset_init(struct keyset *k, size_t n)
{
    k->cap = 16;
    while (k->cap < n * 2)
        k->cap *= 2;
    k->slot = xcalloc(k->cap, sizeof(*k->slot));
    k->has_zero = 0;
}

static int
keyset_has(const struct keyset *k, uint64_t h)
{
    size_t i = (size_t)(h * 0x9E3779B97F4A7C15ULL) & (k->cap - 1);

    if (h == 0)
        return k->has_zero;
    while (k->slot[i] && k->slot[i] != h)
        i = (i + 1) & (k->cap - 1);
    return k->slot[i] == h;
}

/* Room for it was reserved by keyset_init's n. */
static void
keyset_add(struct keyset *k, uint64_t h)
{
    size_t i = (size_t)(h * 0x9E3779B97F4A7C15ULL) & (k->cap - 1);

    if (h == 0) {
        k->has_zero = 1;
        return;
    }
    while (k->slot[i] && k->slot[i] != h)
        i = (i + 1) & (k->cap - 1);
    k->slot[i] = h;
}

static void
keyset_add_waiter(struct keyset *k, const struct waiter *w)
{
    size_t i;

    for (i = 0; i < w->nkeys; i++)
        keyset_add(k, w->keys[i]);
}

static int
keyset_meets(const struct keyset *k, const struct waiter *w)
{
    size_t i;

    for (i = 0; i < w->nkeys; i++)
        if (keyset_has(k, w->keys[i]))
            return 1;
    return 0;
}

/*
 * With the lock held: the keys no new group may take now - those of the
 * groups being ingested that do not hold their locks yet, and of the batches
 * queued before `upto` (NULL: all); sized for every key queued or active.
 */
static void
busy_keys(const struct s3_group *g, const struct waiter *upto, struct keyset *k)
{
    const struct active *a;
    const struct waiter *w;
    size_t n = 0;
    size_t i;

    for (a = g->active; a; a = a->next)
        for (i = 0; i < a->n && !a->locked; i++)
            n += a->taken[i]->nkeys;
    for (w = g->head; w; w = w->next)
        n += w->nkeys;
    keyset_init(k, n);
    for (a = g->active; a; a = a->next)
        for (i = 0; i < a->n && !a->locked; i++)
            keyset_add_waiter(k, a->taken[i]);
    for (w = g->head; w && w != upto; w = w->next)
        keyset_add_waiter(k, w);
}

/* With the lock held: w (queued) may lead: no batch before it, nor a group, has its keys. */
static int
may_lead(const struct s3_group *g, const struct waiter *w)
{
    struct keyset k;
    int ok;

    if (w->taken || g->leaders >= g->max_groups)
        return 0;
    busy_keys(g, w, &k);
    ok = !keyset_meets(&k, w);
    free(k.slot);
    return ok;
}

/* With the lock held: wait up to max_wait_us for a full group. */
static void
wait_for_more(struct s3_group *g)
{
    struct timespec deadline;

    if (g->max_wait_us <= 0 || g->queued_records >= g->max_records)
        return;
    deadline = thread_mono_deadline_us(g->max_wait_us);
    while (g->queued_records < g->max_records)
        if (pthread_cond_timedwait(&g->more, &g->lock, &deadline) == ETIMEDOUT)
            break;
}

/*
 * With the lock held: take the next group off the FIFO into *taken, in
 * order, each batch whose keys neither a group being ingested nor a batch
 * left before it holds (a batch left behind keeps its keys for the next
 * group, so batches on one key go in arrival order), up to max_records.
 */
static size_t
take_group(struct s3_group *g, struct waiter ***taken)
{
    struct keyset busy;
    struct waiter **link = &g->head;
    struct waiter *prev = NULL;
    size_t records = 0;
    size_t n = 0;

    busy_keys(g, g->head, &busy); /* the active groups' keys only */
    *taken = xcalloc((size_t)g->queued + 1, sizeof(**taken));
    while (*link) {
        struct waiter *w = *link;

        if ((n > 0 && records + w->part->n > g->max_records) || keyset_meets(&busy, w)) {
            keyset_add_waiter(&busy, w);
            prev = w;
            link = &w->next;
            continue;
        }
        records += w->part->n;
        *link = w->next;
        if (g->tail == w)
            g->tail = prev;
        g->queued--;
        g->queued_records -= w->part->n;
        w->taken = 1;
        (*taken)[n++] = w;
    }
    free(busy.slot);
    return n;
}

/* s3_store's callback: the group holds its key locks, so later groups on its keys may start. */
static void
group_locked(void *ud)
{
    struct active *a = ud;
    struct waiter *w;

    pthread_mutex_lock(&a->g->lock);
    if (!a->locked) {
        a->locked = 1;
        for (w = a->g->head; w; w = w->next)
            pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&a->g->lock);
}

/*
 * Ingest the n batches of a: one alone, more in one transaction (each alone
 * if that fails: a later group on their keys may commit first then).
 */
static void
ingest_group(struct active *a, struct db *db)
{
    struct waiter **taken = a->taken;
    size_t n = a->n;
    struct s3_ingest_part *copy;
    char errbuf[ERRBUF_SIZE];
    size_t i;
    enum err rc = ERR_UNAVAILABLE;

    if (n > 1) {
        copy = xcalloc(n, sizeof(*copy));
        for (i = 0; i < n; i++)
            copy[i] = *taken[i]->part;
        rc = s3_store_ingest_group_locked(db, copy, n, group_locked, a, errbuf, sizeof(errbuf));
        for (i = 0; i < n && !rc; i++) {
            taken[i]->part->result = copy[i].result;
            taken[i]->rc = ERR_OK;
        }
        free(copy);
    }
    if (!rc)
        return;
    for (i = 0; i < n; i++) /* alone: the fault (a bad record, a deadlock) stays its own */
        taken[i]->rc = s3_store_ingest_group_locked(db, taken[i]->part, 1, group_locked, a,
                                                    taken[i]->errbuf, taken[i]->errlen);
}

/* With the lock held and may_lead(): lead one group. Returns with the lock held. */
static void
lead(struct s3_group *g, struct db *db)
{
    struct active me = {NULL, 0, 0, g, NULL};
    struct active **a;
    struct waiter *w;
    size_t i;

    g->leaders++;
    wait_for_more(g);
    me.n = take_group(g, &me.taken);
    if (me.n > 0) { /* none when other leaders took them while this one waited */
        me.next = g->active;
        g->active = &me;
        pthread_mutex_unlock(&g->lock);
        ingest_group(&me, db);
        pthread_mutex_lock(&g->lock);
        for (a = &g->active; *a != &me; a = &(*a)->next)
            ;
        *a = me.next;
    }
    for (i = 0; i < me.n; i++) {
        me.taken[i]->done = 1;
        pthread_cond_signal(&me.taken[i]->wake);
    }
    g->leaders--;
    for (w = g->head; w; w = w->next) /* keys and a leader's place are free: each looks again */
        pthread_cond_signal(&w->wake);
    free(me.taken);
}

enum err
s3_group_ingest(struct s3_group *g, struct db *db, struct s3_ingest_part *part, char *errbuf,
                size_t errlen)
{
    struct waiter w;
    size_t i;

    if (!g || g->max_records <= 1 || part->n >= g->max_records)
        return s3_store_ingest_group(db, part, 1, errbuf, errlen);
    w.keys = xcalloc(part->n + 1, sizeof(*w.keys));
    w.nkeys = part->n;
    for (i = 0; i < part->n; i++)
        w.keys[i] = key_hash(part->records[i].bucket, part->records[i].key);
    w.part = part;
    w.errbuf = errbuf;
    w.errlen = errlen;
    w.rc = ERR_OK;
    w.next = NULL;
    w.taken = 0;
    w.done = 0;
    pthread_cond_init(&w.wake, NULL);
    pthread_mutex_lock(&g->lock);
    if (g->tail)
        g->tail->next = &w;
    else
        g->head = &w;
    g->tail = &w;
    g->queued++;
    g->queued_records += part->n;
    pthread_cond_signal(&g->more);
    while (!w.done) {
        if (may_lead(g, &w))
            lead(g, db);
        else
            pthread_cond_wait(&w.wake, &g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    pthread_cond_destroy(&w.wake);
    free(w.keys);
    return w.rc;
}
