/*
 * thread.h - threads that loop, sleep until woken or a deadline, and stop on request
 *
 * thread_start() runs fn(t, arg) on n threads that share one wake state. fn
 * is a loop: it does the work there is, then sleeps in thread_wait() until
 * thread_wake(), thread_stop() or its timeout, and returns once it sees
 * thread_stopping() (after finishing what it must). thread_stop() raises
 * the stop flag, wakes every thread, joins them and frees t. A fn that ends
 * on its own (a batch of work split over n threads) is waited for with
 * thread_join().
 *
 * Wakes are counted, up to n, so none is lost: a thread_wake() while every
 * thread is busy makes the next thread_wait() return at once. thread_wait()
 * returns only for a wake, the stop or the deadline, never spuriously.
 *
 * Every thread starts with the signal mask of its creator (main blocks
 * SIGTERM and SIGINT before it starts any). Thread-safe: thread_wake() and
 * thread_stopping() may be called from any thread; thread_stop() once, by the
 * owner, never from one of the n threads.
 */
#ifndef INGESTD_THREAD_H
#define INGESTD_THREAD_H

#include <pthread.h>
#include <time.h>

struct thread;

typedef void (*thread_fn)(struct thread *t, void *arg);

/* Start n >= 1 threads running fn(t, arg); arg is borrowed. Aborts when a thread cannot start. */
struct thread *thread_start(int n, thread_fn fn, void *arg);
/* Make one waiting (or the next) thread_wait() return; NULL-safe. */
void thread_wake(struct thread *t);
/*
 * Sleep until a wake (which it consumes), the stop, or timeout_ms from now
 * (timeout_ms < 0: no deadline). Returns thread_stopping(t).
 */
int thread_wait(struct thread *t, long timeout_ms);
/* 1 once thread_stop() began. */
int thread_stopping(struct thread *t);
/* Raise the stop flag, wake every thread, join them, free t; NULL-safe. */
void thread_stop(struct thread *t);
/* Wait until every fn returned on its own (no stop flag), free t; NULL-safe. */
void thread_join(struct thread *t);

/*
 * A condition variable timed on the monotonic clock (a wall-clock jump
 * neither cuts nor stretches its waits), and the deadline `us`
 * microseconds from now for pthread_cond_timedwait() on it.
 */
void thread_cond_init_mono(pthread_cond_t *cond);
struct timespec thread_mono_deadline_us(long long us);

#endif
