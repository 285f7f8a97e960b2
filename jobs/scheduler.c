/*
 * scheduler.c - automatic merges
 */
#include "jobs/scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "jobs/workers.h"
#include "storage/merges_store.h"

/* Shared by the scheduler and its queued job, which may outlive it. */
struct pending_flag {
    atomic_int refs;
    atomic_int queued; /* a merge job is waiting in the pool */
};

static void
flag_unref(struct pending_flag *f)
{
    if (atomic_fetch_sub(&f->refs, 1) == 1)
        free(f);
}

struct scheduler {
    struct workers *workers;
    struct pending_flag *flag;
    int interval_s;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
};

struct merge_job {
    struct job job; /* first */
    struct pending_flag *flag;
};

static void
run_merge(struct job *job, struct db *db)
{
    struct merge_job *mj = (struct merge_job *)job;
    json_t *merge = NULL;
    char errbuf[ERRBUF_SIZE];
    long long pending = 0;
    enum err rc;

    atomic_store(&mj->flag->queued, 0);
    rc = merges_store_pending(db, &pending, errbuf, sizeof(errbuf));
    if (!rc && pending > 0)
        rc = merges_store_run(db, 0, &merge, errbuf, sizeof(errbuf));
    if (rc)
        log_json(LOG_WARN, "scheduled merge failed", json_pack("{s:s}", "error", errbuf));
    json_decref(merge);
    flag_unref(mj->flag);
    free(mj);
}

static void *
scheduler_main(void *arg)
{
    struct scheduler *s = arg;
    struct timespec deadline;

    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += s->interval_s;
        while (!s->stopping && pthread_cond_timedwait(&s->cond, &s->lock, &deadline) != ETIMEDOUT) {
        }
        if (s->stopping)
            break;
        if (!atomic_exchange(&s->flag->queued, 1)) {
            struct merge_job *mj = xcalloc(1, sizeof(*mj));

            mj->job.run = run_merge;
            mj->flag = s->flag;
            atomic_fetch_add(&s->flag->refs, 1);
            if (workers_submit(s->workers, &mj->job)) {
                atomic_store(&s->flag->queued, 0);
                flag_unref(mj->flag);
                free(mj);
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

struct scheduler *
scheduler_start(struct app *app, struct workers *workers, int interval_s)
{
    struct scheduler *s = xcalloc(1, sizeof(*s));

    (void)app;
    s->workers = workers;
    s->interval_s = interval_s;
    s->flag = xcalloc(1, sizeof(*s->flag));
    atomic_store(&s->flag->refs, 1);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0)
        abort();
    return s;
}

void
scheduler_stop(struct scheduler *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    flag_unref(s->flag);
    free(s);
}
