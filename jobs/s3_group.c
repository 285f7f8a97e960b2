/*
 * s3_group.c - group commit of S3 event batches across threads
 *
 * Leader/follower, no thread of its own, as jobs/upload_group.c: the waiting
 * batches form a FIFO under one mutex; `leaders` counts the groups being
 * ingested. A thread whose batch is not done and that finds fewer than
 * max_groups leaders leads: it takes a group from the head of the FIFO
 * (maybe without its own batch, when more than a group waits: it then loops
 * and leads or waits again), unlocks, ingests the group on its own
 * connection, relocks, marks the group's batches done and wakes each of
 * their threads, then wakes the first batch still waiting, which leads the
 * next group. A waiter's entry lives on its own stack; the leader never
 * touches an entry after marking it done and unlocking.
 */
#include "jobs/s3_group.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/buf.h"

struct waiter {
    struct s3_ingest_part *part;
    char *errbuf; /* the waiter's, errlen bytes */
    size_t errlen;
    enum err rc;
    struct waiter *next;
    int taken; /* in a group being ingested: its thread waits, it does not lead */
    int done;
    pthread_cond_t wake; /* done, or asked to lead: only this waiter is woken */
};

struct s3_group {
    pthread_mutex_t lock; /* guards head, tail, queued, leaders and every waiter's done */
    pthread_cond_t more;  /* a batch was queued: a leader that waits for more counts */
    struct waiter *head;
    struct waiter *tail;
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
    pthread_condattr_t attr;

    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->more, &attr);
    pthread_condattr_destroy(&attr);
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

/* With the lock held: wait up to max_wait_us for a full group. */
static void
wait_for_more(struct s3_group *g)
{
    struct timespec deadline;

    if (g->max_wait_us <= 0 || g->queued_records >= g->max_records)
        return;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += g->max_wait_us / 1000000;
    deadline.tv_nsec += (g->max_wait_us % 1000000) * 1000;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (g->queued_records < g->max_records)
        if (pthread_cond_timedwait(&g->more, &g->lock, &deadline) == ETIMEDOUT)
            break;
}

/* With the lock held: pop the next group off the FIFO (at least one batch) into *taken. */
static size_t
take_group(struct s3_group *g, struct waiter ***taken)
{
    struct waiter *w;
    size_t records = 0;
    size_t n = 0;
    size_t cap = 0;

    for (w = g->head; w; w = w->next)
        cap++;
    *taken = xcalloc(cap ? cap : 1, sizeof(**taken));
    while (g->head) {
        w = g->head;
        if (n > 0 && records + w->part->n > g->max_records)
            break;
        records += w->part->n;
        g->head = w->next;
        if (!g->head)
            g->tail = NULL;
        g->queued_records -= w->part->n;
        w->taken = 1;
        (*taken)[n++] = w;
    }
    return n;
}

/* Ingest n batches: one alone, more in one transaction (each alone if that fails). */
static void
ingest_group(struct waiter **taken, size_t n, struct db *db)
{
    struct s3_ingest_part *copy;
    char errbuf[ERRBUF_SIZE];
    size_t i;
    enum err rc = ERR_UNAVAILABLE;

    if (n > 1) {
        copy = xcalloc(n, sizeof(*copy));
        for (i = 0; i < n; i++)
            copy[i] = *taken[i]->part;
        rc = s3_store_ingest_group(db, copy, n, errbuf, sizeof(errbuf));
        for (i = 0; i < n && !rc; i++) {
            taken[i]->part->result = copy[i].result;
            taken[i]->rc = ERR_OK;
        }
        free(copy);
    }
    if (!rc)
        return;
    for (i = 0; i < n; i++) /* alone: the fault (a bad record, a deadlock) stays its own */
        taken[i]->rc =
            s3_store_ingest_group(db, taken[i]->part, 1, taken[i]->errbuf, taken[i]->errlen);
}

/* With the lock held and a free leader's place: lead one group. Returns with the lock held. */
static void
lead(struct s3_group *g, struct db *db)
{
    struct waiter **taken = NULL;
    size_t n;
    size_t i;

    g->leaders++;
    wait_for_more(g);
    n = take_group(g, &taken);
    if (n > 0) { /* none when another leader took them while this one waited */
        pthread_mutex_unlock(&g->lock);
        ingest_group(taken, n, db);
        pthread_mutex_lock(&g->lock);
    }
    for (i = 0; i < n; i++) {
        taken[i]->done = 1;
        pthread_cond_signal(&taken[i]->wake);
    }
    g->leaders--;
    if (g->head) /* a leader is free: the first batch waiting leads the next group */
        pthread_cond_signal(&g->head->wake);
    free(taken);
}

enum err
s3_group_ingest(struct s3_group *g, struct db *db, struct s3_ingest_part *part, char *errbuf,
                size_t errlen)
{
    struct waiter w;

    if (!g || g->max_records <= 1 || part->n >= g->max_records)
        return s3_store_ingest_group(db, part, 1, errbuf, errlen);
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
    g->queued_records += part->n;
    pthread_cond_signal(&g->more);
    while (!w.done) {
        if (!w.taken && g->leaders < g->max_groups)
            lead(g, db);
        else
            pthread_cond_wait(&w.wake, &g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    pthread_cond_destroy(&w.wake);
    return w.rc;
}
