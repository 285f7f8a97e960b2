/*
 * upload_group.c - group commit of uploads across worker threads
 *
 * Leader/follower, no thread of its own: the waiting uploads form a FIFO
 * under one mutex; `leaders` counts the groups being stored. A thread whose
 * upload is not done and that finds fewer than max_groups leaders leads: it takes a group from
 * the head of the FIFO (maybe without its own upload, when more than a
 * group waits: it then loops and leads or waits again), unlocks, stores the
 * group on its own connection, relocks, marks the group's uploads done and
 * wakes each of their threads, then wakes the first upload still waiting,
 * which leads the next group (so no thread is woken for nothing). A
 * waiter's entry lives on its own stack; the leader never touches an entry
 * after marking it done and unlocking.
 */
#include "jobs/upload_group.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "jobs/thread.h"
#include "storage/events_group.h"

struct waiter {
    struct event_upload *u;
    struct waiter *next;
    int taken; /* in a group being stored: its thread waits, it does not lead */
    int done;
    pthread_cond_t wake; /* done, or asked to lead: only this waiter is woken */
};

struct upload_group {
    pthread_mutex_t lock; /* guards head, tail, queued, leaders and every waiter's done */
    pthread_cond_t more;  /* an upload was queued: a leader that waits for more counts */
    struct waiter *head;
    struct waiter *tail;
    int queued;
    int leaders; /* groups being stored */
    int max_groups;
    int max_count;
    size_t max_bytes;
    long max_wait_us;
};

struct upload_group *
upload_group_new(int max_count, size_t max_bytes, long max_wait_us, int max_groups)
{
    struct upload_group *g = xcalloc(1, sizeof(*g));

    pthread_mutex_init(&g->lock, NULL);
    thread_cond_init_mono(&g->more);
    g->max_count = max_count < 1 ? 1 : max_count;
    g->max_bytes = max_bytes;
    g->max_wait_us = max_wait_us;
    g->max_groups = max_groups < 1 ? 1 : max_groups;
    return g;
}

void
upload_group_free(struct upload_group *g)
{
    if (!g)
        return;
    pthread_cond_destroy(&g->more);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

/* With the lock held: wait up to max_wait_us for a full group. */
static void
wait_for_more(struct upload_group *g)
{
    struct timespec deadline;

    if (g->max_wait_us <= 0 || g->queued >= g->max_count)
        return;
    deadline = thread_mono_deadline_us(g->max_wait_us);
    while (g->queued < g->max_count)
        if (pthread_cond_timedwait(&g->more, &g->lock, &deadline) == ETIMEDOUT)
            break;
}

/* With the lock held: pop the next group off the FIFO (at least one upload); its size. */
static size_t
take_group(struct upload_group *g, struct waiter **taken, struct event_upload **batch)
{
    size_t n = 0;
    size_t bytes = 0;

    while (g->head && n < (size_t)g->max_count) {
        struct waiter *w = g->head;

        if (n > 0 && bytes + w->u->in->content_len > g->max_bytes)
            break;
        bytes += w->u->in->content_len;
        g->head = w->next;
        if (!g->head)
            g->tail = NULL;
        g->queued--;
        w->taken = 1;
        taken[n] = w;
        batch[n] = w->u;
        n++;
    }
    return n;
}

/* Store n uploads: one alone as without a group, more in one transaction. */
static void
store_group(struct event_upload *const *batch, size_t n, struct db *db)
{
    char errbuf[ERRBUF_SIZE];
    int retry_alone = 0;
    size_t i;

    if (n == 1) {
        events_group_store_one(db, batch[0]);
        return;
    }
    if (events_group_store(db, batch, n, &retry_alone, errbuf, sizeof(errbuf)) == ERR_OK)
        return;
    if (!retry_alone)
        return; /* every upload holds the group's error */
    for (i = 0; i < n; i++)
        events_group_store_one(db, batch[i]);
}

/* With the lock held and no leader: lead one group. Returns with the lock held. */
static void
lead(struct upload_group *g, struct db *db)
{
    struct waiter **taken;
    struct event_upload **batch;
    size_t n;
    size_t i;

    g->leaders++;
    wait_for_more(g);
    n = (size_t)(g->queued < g->max_count ? g->queued : g->max_count);
    taken = xcalloc(n, sizeof(*taken));
    batch = xcalloc(n, sizeof(*batch));
    n = take_group(g, taken, batch);
    if (n > 0) { /* none when another leader took them while this one waited */
        pthread_mutex_unlock(&g->lock);
        store_group(batch, n, db);
        pthread_mutex_lock(&g->lock);
    }
    for (i = 0; i < n; i++) {
        taken[i]->done = 1;
        pthread_cond_signal(&taken[i]->wake);
    }
    g->leaders--;
    if (g->head) /* a leader is free: the first upload waiting leads the next group */
        pthread_cond_signal(&g->head->wake);
    free(taken);
    free(batch);
}

void
upload_group_store(struct upload_group *g, struct db *db, struct event_upload *u)
{
    struct waiter w;

    if (!g || g->max_count == 1) {
        events_group_store_one(db, u);
        return;
    }
    w.u = u;
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
    pthread_cond_signal(&g->more);
    while (!w.done) {
        if (!w.taken && g->leaders < g->max_groups)
            lead(g, db);
        else
            pthread_cond_wait(&w.wake, &g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    pthread_cond_destroy(&w.wake);
}
