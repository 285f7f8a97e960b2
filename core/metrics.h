/*
 * metrics.h - the service's Prometheus metrics (OPERATIONS.md "Metrics")
 *
 * One struct metrics per process, created by main and handed to whatever
 * counts (the HTTP adapter, handlers through struct app, jobs at start).
 * Every family is declared here once (enum metric_id; names, help, label
 * names and buckets in metrics.c), so the set of series is fixed and each
 * label takes values from a bounded set (route *patterns*, never paths).
 *
 * Updates are thread-safe (one mutex per family, held for a hash lookup and
 * an add) and every function accepts m == NULL as "not counting", so code
 * under unit test needs no registry. metrics_render() writes the Prometheus
 * text exposition format 0.0.4, including process_* series read from /proc.
 */
#ifndef INGESTD_METRICS_H
#define INGESTD_METRICS_H

#include "core/buf.h"

enum metric_id {
    M_HTTP_REQUESTS,        /* counter {method,route,status} */
    M_HTTP_DURATION,        /* histogram {route}, seconds */
    M_EVENTS_TOTAL,         /* counter {outcome}: created, duplicate, rejected */
    M_MERGES_TOTAL,         /* counter {status}: applied, noop, failed */
    M_MERGE_DURATION,       /* histogram, seconds */
    M_S3_RECORDS,           /* counter {kind}: ingested, duplicate, ignored */
    M_INVENTORY_RECORDS,    /* counter: records written by inventory jobs */
    M_EVENTS_PENDING,       /* gauge (read from PostgreSQL at scrape) */
    M_EFFECTIVE_GENERATION, /* gauge */
    M_EFFECTIVE_ROWS,       /* gauge */
    M_INVENTORY_JOBS,       /* gauge {status} */
    M_DB_UP,                /* gauge: 1 when PostgreSQL answered the scrape's query */
    M_DB_POOL_IN_USE,       /* gauge: worker connections running a request or job */
    M_DB_POOL_SIZE,         /* gauge: worker connections */
    M_BUILD_INFO,           /* gauge {version} = 1 */
    M_EXPORT_GENERATION,    /* gauge {target}: the generation an export target holds */
    M_EXPORT_FAILURES,      /* counter {target}: failed export attempts */
    M_EXPORT_DURATION,      /* histogram {target}, seconds: writing one export */
    M_SQS_MESSAGES,       /* counter {queue,outcome}: received, ingested, ignored, failed, deleted,
                             delete_failed */
    M_SQS_ERRORS,         /* counter {queue,kind}: receive, database, delete */
    M_IMPORT_FILES,       /* counter {location,outcome}: accepted, duplicate, failed */
    M_IMPORT_ERRORS,      /* counter {location,kind}: scan, read, database, move */
    M_IMPORT_LAST_SCAN,   /* gauge {location}: unix time of the last completed scan */
    M_WEBHOOK_DELIVERIES, /* counter {outcome}: delivered, retry, failed, gone (per attempt) */
    M_WEBHOOK_PENDING,    /* gauge: deliveries pending (read from PostgreSQL at scrape) */
    M_KEY_INDEX_PENDING,  /* gauge: partitions without their key segments index (at scrape) */
    M_COUNT
};

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m); /* NULL-safe */

/*
 * Add v to a counter or gauge, or set a gauge. `labels` holds one value per
 * label name of the family, in order (NULL for a family without labels).
 */
void metrics_add(struct metrics *m, enum metric_id id, const char *const *labels, double v);
void metrics_set(struct metrics *m, enum metric_id id, const char *const *labels, double v);
/* Record one observation of a histogram. */
void metrics_observe(struct metrics *m, enum metric_id id, const char *const *labels, double v);
/* Forget every series of a family (a gauge whose label values come and go). */
void metrics_clear(struct metrics *m, enum metric_id id);

/* Append the exposition text of every family and the process_* series to out. */
void metrics_render(struct metrics *m, struct buf *out);

#endif
