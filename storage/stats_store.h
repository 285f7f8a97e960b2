/*
 * stats_store.h - service-wide numbers read at once (for /metrics and the
 * status page)
 */
#ifndef INGESTD_STATS_STORE_H
#define INGESTD_STATS_STORE_H

#include "core/err.h"

struct db;

enum stats_job_status { STATS_QUEUED, STATS_RUNNING, STATS_SUCCEEDED, STATS_FAILED, STATS_NJOB };

struct service_stats {
    long long events_pending; /* events no merge has taken yet */
    long long generation;     /* of the effective repos.csv */
    long long effective_rows;
    long long inventory_jobs[STATS_NJOB];
};

/*
 * One round trip. Costs a count of the pending events (an index range) and
 * of the effective rows (an index-only scan: ~30 ms per million rows).
 */
enum err stats_store_read(struct db *db, struct service_stats *out, char *errbuf, size_t errlen);

/* "queued", "running", "succeeded", "failed". */
const char *stats_job_status_name(enum stats_job_status s);

#endif
