/*
 * metrics.c - GET /metrics: the Prometheus exposition of the process
 *
 * Counters and histograms are kept as they happen (core/metrics.h); the
 * gauges that describe the database (pending events, generation, rows,
 * inventory jobs; webhook deliveries pending; partitions without their key
 * segments index) are read at scrape time, so every replica
 * reports the shared state. A database that does not answer gives
 * ingestd_db_up 0 and the rest of the page, still 200.
 */
#include <stdio.h>

#include "core/metrics.h"
#include "handlers/app.h"
#include "handlers/handlers.h"
#include "storage/outbox_store.h"
#include "storage/s3_key_index.h"
#include "storage/stats_store.h"

void
handle_metrics_get(struct request *req, struct response *res)
{
    struct metrics *m = req->app->metrics;
    struct service_stats st;
    char errbuf[ERRBUF_SIZE];
    const char *version[] = {INGESTD_VERSION};
    struct buf out;
    long long pending = 0;
    int i;

    if (stats_store_read(req->db, &st, errbuf, sizeof(errbuf)) == ERR_OK) {
        metrics_set(m, M_DB_UP, NULL, 1);
        metrics_set(m, M_EVENTS_PENDING, NULL, (double)st.events_pending);
        metrics_set(m, M_EFFECTIVE_GENERATION, NULL, (double)st.generation);
        metrics_set(m, M_EFFECTIVE_ROWS, NULL, (double)st.effective_rows);
        for (i = 0; i < STATS_NJOB; i++) {
            const char *status[] = {stats_job_status_name((enum stats_job_status)i)};

            metrics_set(m, M_INVENTORY_JOBS, status, (double)st.inventory_jobs[i]);
        }
        if (outbox_store_pending(req->db, &pending, errbuf, sizeof(errbuf)) == ERR_OK)
            metrics_set(m, M_WEBHOOK_PENDING, NULL, (double)pending);
        if (s3_key_index_pending(req->db, &pending, errbuf, sizeof(errbuf)) == ERR_OK)
            metrics_set(m, M_KEY_INDEX_PENDING, NULL, (double)pending);
    } else {
        metrics_set(m, M_DB_UP, NULL, 0);
    }
    metrics_set(m, M_BUILD_INFO, version, 1);
    buf_init(&out, 0);
    metrics_render(m, &out);
    response_bytes(res, 200, "text/plain; version=0.0.4; charset=utf-8", out.data ? out.data : "",
                   out.len);
    buf_release(&out);
}
