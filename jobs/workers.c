/*
 * workers.c - the worker pool
 */
#include "jobs/workers.h"

#include <pthread.h>
#include <stdlib.h>

#include "core/buf.h"
#include "storage/db.h"

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head;
    struct job *tail;
    int queued;
    int stopping;
    int nthreads;
    pthread_t *threads;
    char *conninfo;
};

static void *
worker_main(void *arg)
{
    struct workers *w = arg;
    struct db *db = db_new(w->conninfo);
    struct job *job;

    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cond, &w->lock);
        job = w->head;
        if (job) {
            w->head = job->next;
            if (!w->head)
                w->tail = NULL;
            w->queued--;
        }
        pthread_mutex_unlock(&w->lock);
        if (!job)
            break; /* stopping and drained */
        job->next = NULL;
        job->run(job, db);
    }
    db_free(db);
    return NULL;
}

struct workers *
workers_start(int n, const char *conninfo)
{
    struct workers *w = xcalloc(1, sizeof(*w));
    int i;

    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->conninfo = xstrdup(conninfo);
    w->threads = xcalloc((size_t)n, sizeof(pthread_t));
    for (i = 0; i < n; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
            abort();
        w->nthreads++;
    }
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
        pthread_cond_signal(&w->cond);
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
    int i;

    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w->threads);
    free(w->conninfo);
    free(w);
}
