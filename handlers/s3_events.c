/*
 * s3_events.c - POST /api/v1/s3/events
 */
#include "handlers/handlers.h"

#include "core/metrics.h"
#include "handlers/app.h"
#include "jobs/s3_group.h"
#include "storage/s3_store.h"
#include "codec/s3_event_decoder.h"

/* Records one request may carry (checked before the decoder allocates). */
#define S3_EVENTS_MAX_RECORDS 100000

void
handle_s3_events_post(struct request *req, struct response *res)
{
    struct s3_batch batch = {0};
    struct s3_ingest_result r = {0};
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (req->body_len == 0) {
        response_problem(res, req, 400, "empty body", NULL);
        return;
    }
    rc = s3_events_decode(req->body, req->body_len, S3_EVENTS_MAX_RECORDS, &batch, errbuf,
                          sizeof(errbuf));
    if (!rc) { /* returns after the commit of the group that holds it */
        struct s3_ingest_part part = {batch.records, batch.nrecords, {0, 0}};

        rc = s3_group_ingest(req->app->s3_events, req->db, &part, errbuf, sizeof(errbuf));
        r = part.result;
    }
    if (rc) {
        response_error(res, req, rc, errbuf);
        s3_batch_release(&batch);
        return;
    }
    {
        struct metrics *m = req->app->metrics;
        const char *ingested[] = {"ingested"}, *dups[] = {"duplicate"}, *ignored[] = {"ignored"};

        metrics_add(m, M_S3_RECORDS, ingested, (double)r.ingested);
        metrics_add(m, M_S3_RECORDS, dups, (double)r.duplicates);
        metrics_add(m, M_S3_RECORDS, ignored, (double)batch.ignored);
    }
    response_json(res, 200,
                  json_pack("{s:I,s:I,s:I,s:I}", "records",
                            (json_int_t)(batch.nrecords + batch.ignored), "ingested",
                            (json_int_t)r.ingested, "duplicates", (json_int_t)r.duplicates,
                            "ignored", (json_int_t)batch.ignored));
    s3_batch_release(&batch);
}
