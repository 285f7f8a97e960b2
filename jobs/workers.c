/*
 * workers.c - the worker pool
 *
 * A FIFO of intrusive jobs under one mutex, run by the n threads of a
 * struct thread (jobs/thread.h): a submit appends and wakes one thread; a
 * thread pops and runs jobs until the queue is empty, then waits. Stopping
 * first refuses new jobs (under the queue's mutex), then stops the threads,
 * which drain the queue before they return: every accepted job runs.
 */
#include "jobs/workers.h"

#include <pthread.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "jobs/thread.h"
#include "storage/db.h"

struct workers {
    pthread_mutex_t lock; /* guards head, tail, queued, stopping */
    struct job *head;
    struct job *tail;
    int queued;
    int stopping;
    struct thread *threads;
    char *conninfo;
    struct metrics *metrics;
};

/* The first queued job, or NULL. */
static struct job *
queue_pop(struct workers *w)
{
    struct job *job;

    pthread_mutex_lock(&w->lock);
    job = w->head;
    if (job) {
        w->head = job->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        job->next = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    return job;
}

/*
 * A job hands its connection back out of any transaction. One left open
 * would keep its locks, and its backend would not see a partition attached
 * since (PostgreSQL reads a relation's invalidations when it takes a lock
 * the transaction does not hold yet): later jobs would list a catalog
 * without it. No job does; should one, its transaction is rolled back here
 * and the error logged.
 */
static void
job_done(struct db *db)
{
    if (!db_in_transaction(db))
        return;
    log_json(LOG_ERROR, "a job left its database transaction open: rolled back", NULL);
    db_rollback(db);
}

static void
worker_main(struct thread *t, void *arg)
{
    struct workers *w = arg;
    struct db *db = db_new(w->conninfo);
    struct job *job;
    int stopping = 0;

    for (;;) {
        job = queue_pop(w);
        if (job) {
            metrics_add(w->metrics, M_DB_POOL_IN_USE, NULL, 1);
            job->run(job, db); /* may free job */
            job_done(db);
            metrics_add(w->metrics, M_DB_POOL_IN_USE, NULL, -1);
            continue;
        }
        if (stopping)
            break; /* stopping and drained: nothing is queued after the stop */
        stopping = thread_wait(t, -1);
    }
    db_free(db);
}

struct workers *
workers_start(int n, const char *conninfo, struct metrics *metrics)
{
    struct workers *w = xcalloc(1, sizeof(*w));

    pthread_mutex_init(&w->lock, NULL);
    w->conninfo = xstrdup(conninfo);
    w->metrics = metrics;
    metrics_set(metrics, M_DB_POOL_SIZE, NULL, n);
    metrics_set(metrics, M_DB_POOL_IN_USE, NULL, 0);
    w->threads = thread_start(n, worker_main, w);
    return w;
}

enum err
workers_submit(struct workers *w, struct job *job)
{
    enum err rc = ERR_OK;

    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        rc = ERR_UNAVAILABLE;
    } else {
        if (w->tail)
            w->tail->next = job;
        else
            w->head = job;
        w->tail = job;
        w->queued++;
        thread_wake(w->threads); /* under the lock: workers_stop() cannot free it meanwhile */
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int
workers_queued(struct workers *w)
{
    int n;

    pthread_mutex_lock(&w->lock);
    n = w->queued;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void
workers_stop(struct workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_mutex_unlock(&w->lock);
    thread_stop(w->threads);
    pthread_mutex_destroy(&w->lock);
    free(w->conninfo);
    free(w);
}
