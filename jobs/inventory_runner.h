/*
 * inventory_runner.h - the thread that runs inventory jobs
 *
 * One thread per process with its own database connection and S3 client.
 * It claims queued (or abandoned) jobs through PostgreSQL, so any replica
 * may run a job and none runs one twice at once; it never runs on an HTTP
 * or worker thread. A job's data files are staged by up to `streams`
 * threads at once, each with its own connection and S3 client.
 * inventory_runner_wake() makes it look for work now.
 */
#ifndef INGESTD_INVENTORY_RUNNER_H
#define INGESTD_INVENTORY_RUNNER_H

struct inventory_runner;
struct metrics;
struct s3_client_config;

/*
 * Start the runner thread. s3 is copied, its strings are borrowed and must
 * outlive the runner (main fills it from the configuration); streams is
 * INGESTD_INVENTORY_STREAMS (1 to 16), merge_below
 * INGESTD_INVENTORY_MERGE_BELOW, max_parts INGESTD_INVENTORY_MAX_PARTITIONS. metrics (borrowed, may
 * be NULL) counts the records of the jobs that succeed (M_INVENTORY_RECORDS).
 */
struct inventory_runner *inventory_runner_start(const char *conninfo,
                                                const struct s3_client_config *s3, int streams,
                                                long long merge_below, int max_parts,
                                                struct metrics *metrics);
void inventory_runner_wake(struct inventory_runner *r); /* NULL-safe */
/* Stop after the current data file (the job stays resumable); NULL-safe. */
void inventory_runner_stop(struct inventory_runner *r);

#endif
