/*
 * app.h - what the handlers share: configuration and process-wide caches
 *
 * One struct app per process, created in main before the HTTP server starts
 * and released after it stopped. Read-only for handlers except through the
 * thread-safe objects it points to.
 */
#ifndef INGESTD_APP_H
#define INGESTD_APP_H

#include <stdatomic.h>

#include "core/config.h"

struct repos_cache;
struct inventory_runner;
struct exporter;
struct crawl_runner;
struct auth_keeper;
struct metrics;
struct sqs_consumers;
struct feed_hub;
struct upload_group;
struct s3_group;

struct app {
    const struct config *cfg;
    const char *conninfo;
    struct repos_cache *repos_cache;           /* rendered effective repos.csv per generation */
    struct inventory_runner *inventory_runner; /* woken when a job is submitted */
    struct exporter *exporter;                 /* woken after a new generation; NULL: no exports */
    struct crawl_runner *crawl_runner;         /* woken when a crawl is submitted */
    struct metrics *metrics;                   /* core/metrics.h; NULL: not counting */
    struct auth_keeper *auth;                  /* tokens (server/auth.h); checked by the adapter */
    struct sqs_consumers *sqs;    /* INGESTD_SQS_QUEUES consumers (GET /api/v1/sqs); NULL: none */
    struct feed_hub *feed_hub;    /* SSE subscribers' fan-out (jobs/feed_hub.h); NULL: none */
    struct upload_group *uploads; /* group commit of uploads (jobs/upload_group.h); NULL: alone */
    struct s3_group *s3_events;   /* group commit of S3 event batches (jobs/s3_group.h) */
    atomic_int stopping;          /* set on SIGTERM: long waits give up */
    atomic_int long_waits; /* requests waiting for a job on the long lane (handlers/long_wait.h) */
    int auth_on; /* tokens are required on /api/v1 (shown on the status page); set by main */
};

#endif
