/*
 * scheduler.h - automatic merges every INGESTD_MERGE_INTERVAL seconds
 *
 * A thread that, at each interval, queues a merge job on the worker pool
 * when events are pending. Merges stay serialized by the database lock, so
 * every replica may run a scheduler.
 */
#ifndef INGESTD_SCHEDULER_H
#define INGESTD_SCHEDULER_H

struct workers;
struct scheduler;
struct metrics;
struct exporter;

/*
 * Start the thread; workers (borrowed) must outlive the scheduler.
 * interval_s > 0. `metrics` (borrowed, may be NULL) counts the merges it runs;
 * `exporter` (borrowed, may be NULL, must outlive the workers' jobs) is woken
 * after each merge that commits, and repos history older than history_s
 * seconds is swept after it (storage/repos_history.h).
 */
struct scheduler *scheduler_start(struct workers *workers, int interval_s, struct metrics *metrics,
                                  struct exporter *exporter, long long history_s);
/* Stop the thread (a queued merge still runs); NULL-safe. */
void scheduler_stop(struct scheduler *s);

#endif
