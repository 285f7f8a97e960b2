/*
 * scheduler.c - automatic merges
 *
 * One thread (jobs/thread.h) that sleeps interval_s and then queues a merge
 * job on the worker pool, unless the previous one is still queued. The job
 * may outlive the scheduler, so the "queued" flag they share is reference
 * counted. The merge itself runs on a worker with the worker's connection.
 */
#include "jobs/scheduler.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "jobs/exporter.h"
#include "jobs/thread.h"
#include "jobs/workers.h"
#include "storage/merges_store.h"
#include "storage/repos_history.h"

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
    struct metrics *metrics;
    struct exporter *exporter;
    struct pending_flag *flag;
    int interval_s;
    long long history_s; /* INGESTD_REPOS_HISTORY, for the sweep after a merge */
    struct thread *thread;
};

struct merge_job {
    struct job job; /* first */
    struct pending_flag *flag;
    struct metrics *metrics;
    struct exporter *exporter;
    long long history_s;
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
    if (!rc && pending > 0) {
        const char *status[1];

        rc = merges_store_run(db, 0, &merge, errbuf, sizeof(errbuf));
        status[0] = rc ? "failed" : "succeeded";
        metrics_add(mj->metrics, M_MERGES_TOTAL, status, 1);
        if (!rc) {
            exporter_wake(mj->exporter); /* committed: the exports look now */
            repos_history_sweep(db, mj->history_s);
            metrics_observe(mj->metrics, M_MERGE_DURATION, NULL,
                            (double)json_integer_value(json_object_get(merge, "duration_ms")) /
                                1000.0);
        }
    }
    if (rc)
        log_json(LOG_WARN, "scheduled merge failed", json_pack("{s:s}", "error", errbuf));
    json_decref(merge);
    flag_unref(mj->flag);
    free(mj);
}

/* Queue a merge job unless one is still waiting in the pool. */
static void
queue_merge(struct scheduler *s)
{
    struct merge_job *mj;

    if (atomic_exchange(&s->flag->queued, 1))
        return;
    mj = xcalloc(1, sizeof(*mj));
    mj->job.run = run_merge;
    mj->flag = s->flag;
    mj->metrics = s->metrics;
    mj->exporter = s->exporter;
    mj->history_s = s->history_s;
    atomic_fetch_add(&s->flag->refs, 1);
    if (workers_submit(s->workers, &mj->job)) {
        atomic_store(&s->flag->queued, 0);
        flag_unref(mj->flag);
        free(mj);
    }
}

static void
scheduler_main(struct thread *t, void *arg)
{
    struct scheduler *s = arg;

    /* nothing wakes the scheduler but the stop: a return without it is the interval */
    while (!thread_wait(t, (long)s->interval_s * 1000))
        queue_merge(s);
}

struct scheduler *
scheduler_start(struct workers *workers, int interval_s, struct metrics *metrics,
                struct exporter *exporter, long long history_s)
{
    struct scheduler *s = xcalloc(1, sizeof(*s));

    s->history_s = history_s;
    s->exporter = exporter;
    s->workers = workers;
    s->metrics = metrics;
    s->interval_s = interval_s;
    s->flag = xcalloc(1, sizeof(*s->flag));
    atomic_store(&s->flag->refs, 1);
    s->thread = thread_start(1, scheduler_main, s);
    return s;
}

void
scheduler_stop(struct scheduler *s)
{
    if (!s)
        return;
    thread_stop(s->thread);
    flag_unref(s->flag);
    free(s);
}
