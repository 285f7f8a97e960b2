/*
 * workers.h - the worker pool: threads that own database connections
 *
 * Database (and later S3) work runs here, never on an HTTP I/O thread.
 * Each worker owns one struct db for its whole life. Jobs are intrusive: the
 * submitter embeds a struct job and keeps it alive until run() has been
 * called; run() may free it.
 */
#ifndef INGESTD_WORKERS_H
#define INGESTD_WORKERS_H

#include "core/err.h"

struct db;
struct metrics;

struct job {
    void (*run)(struct job *job, struct db *db);
    struct job *next;
};

struct workers;

/*
 * Start n threads, each with its own connection to conninfo (connected
 * lazily). `metrics` (borrowed, may be NULL) gets ingestd_db_pool_size and,
 * around every job, ingestd_db_pool_in_use.
 */
struct workers *workers_start(int n, const char *conninfo, struct metrics *metrics);
/* Queue a job (FIFO). ERR_UNAVAILABLE once stopping. */
enum err workers_submit(struct workers *w, struct job *job);
/* Jobs queued but not yet started. */
int workers_queued(struct workers *w);
/* Run every queued job, then join the threads and close their connections. NULL-safe. */
void workers_stop(struct workers *w);

#endif
