/*
 * thread.c - threads that loop, sleep until woken or a deadline, and stop on request
 *
 * One mutex guards the stop flag and the count of pending wakes; one
 * condition variable (default clock, CLOCK_REALTIME, hence
 * clock_deadline_ms()) carries both. A wake signals one waiter, the stop
 * wakes them all. Invariant: 0 <= wakes <= n.
 */
#include "jobs/thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/clock.h"

struct thread {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
    int wakes; /* thread_wake() calls no thread_wait() has consumed yet */
    int n;
    pthread_t *ids;
    thread_fn fn;
    void *arg;
};

static void *
thread_main(void *p)
{
    struct thread *t = p;

    t->fn(t, t->arg);
    return NULL;
}

struct thread *
thread_start(int n, thread_fn fn, void *arg)
{
    struct thread *t = xcalloc(1, sizeof(*t));
    int i;

    t->n = n > 0 ? n : 1;
    t->fn = fn;
    t->arg = arg;
    t->ids = xcalloc((size_t)t->n, sizeof(*t->ids));
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    for (i = 0; i < t->n; i++)
        if (pthread_create(&t->ids[i], NULL, thread_main, t) != 0)
            abort();
    return t;
}

void
thread_wake(struct thread *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    if (t->wakes < t->n)
        t->wakes++;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

int
thread_wait(struct thread *t, long timeout_ms)
{
    struct timespec deadline;
    int timed_out = 0;
    int stopping;

    if (timeout_ms >= 0)
        deadline = clock_deadline_ms(timeout_ms);
    pthread_mutex_lock(&t->lock);
    while (!t->stopping && t->wakes == 0 && !timed_out) {
        if (timeout_ms < 0)
            pthread_cond_wait(&t->cond, &t->lock);
        else
            timed_out = pthread_cond_timedwait(&t->cond, &t->lock, &deadline) == ETIMEDOUT;
    }
    if (t->wakes > 0)
        t->wakes--;
    stopping = t->stopping;
    pthread_mutex_unlock(&t->lock);
    return stopping;
}

int
thread_stopping(struct thread *t)
{
    int stopping;

    pthread_mutex_lock(&t->lock);
    stopping = t->stopping;
    pthread_mutex_unlock(&t->lock);
    return stopping;
}

void
thread_join(struct thread *t)
{
    int i;

    if (!t)
        return;
    for (i = 0; i < t->n; i++)
        pthread_join(t->ids[i], NULL);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    free(t->ids);
    free(t);
}

void
thread_stop(struct thread *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = 1;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    thread_join(t);
}

void
thread_cond_init_mono(pthread_cond_t *cond)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

struct timespec
thread_mono_deadline_us(long long us)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(us / 1000000);
    ts.tv_nsec += (long)(us % 1000000) * 1000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
