/*
 * stats_store.c - service-wide numbers in one query
 */
#include "storage/stats_store.h"

#include <stdlib.h>
#include <string.h>

#include "storage/db.h"

const char *
stats_job_status_name(enum stats_job_status s)
{
    static const char *const names[STATS_NJOB] = {"queued", "running", "succeeded", "failed"};

    return s < STATS_NJOB ? names[s] : "unknown";
}

enum err
stats_store_read(struct db *db, struct service_stats *out, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;
    int i;

    memset(out, 0, sizeof(*out));
    rc = db_query(db, &res,
                  "SELECT (SELECT count(*) FROM events WHERE sequence > "
                  "          (SELECT coalesce(max(seq_hi), 0) FROM merges)),"
                  "       (SELECT generation FROM effective_meta),"
                  "       (SELECT count(*) FROM effective_rows),"
                  "       j.queued, j.running, j.succeeded, j.failed "
                  "FROM (SELECT count(*) FILTER (WHERE status = 'queued') AS queued,"
                  "             count(*) FILTER (WHERE status = 'running') AS running,"
                  "             count(*) FILTER (WHERE status = 'succeeded') AS succeeded,"
                  "             count(*) FILTER (WHERE status = 'failed') AS failed"
                  "      FROM inventory_jobs) j",
                  0, NULL, errbuf, errlen);
    if (rc)
        return rc;
    out->events_pending = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    out->generation = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    out->effective_rows = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    for (i = 0; i < STATS_NJOB; i++)
        out->inventory_jobs[i] = strtoll(PQgetvalue(res, 0, 3 + i), NULL, 10);
    PQclear(res);
    return ERR_OK;
}
