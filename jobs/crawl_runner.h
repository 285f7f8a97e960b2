/*
 * crawl_runner.h - the thread that runs crawls of live buckets
 *
 * One thread per process with its own database connection and S3 client,
 * as the inventory runner (jobs/README.md): it claims queued (or abandoned)
 * crawls through PostgreSQL, so any replica may run a crawl and none runs one
 * twice at once, and never runs on an HTTP or worker thread.
 * crawl_runner_wake() makes it look for work now; otherwise it polls.
 */
#ifndef INGESTD_CRAWL_RUNNER_H
#define INGESTD_CRAWL_RUNNER_H

struct crawl_runner;
struct s3_client_config;

/*
 * Start the runner thread. s3 is copied, its strings are borrowed and must
 * outlive the runner (main fills it from the configuration).
 */
struct crawl_runner *crawl_runner_start(const char *conninfo, const struct s3_client_config *s3);
void crawl_runner_wake(struct crawl_runner *r); /* NULL-safe */
/* Stop after the current page (the crawl stays running, resumable); NULL-safe. */
void crawl_runner_stop(struct crawl_runner *r);

#endif
