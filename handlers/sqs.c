/*
 * sqs.c - GET /api/v1/sqs: the SQS consumers (INGESTD_SQS_QUEUES) and their counters
 *
 * An admin route answered inline: the snapshot is read from memory under each
 * queue's mutex (jobs/sqs_consumer.h), no database and nothing that blocks.
 * The counters are this process's since it started (each replica has its own);
 * the metrics ingestd_sqs_messages_total and ingestd_sqs_errors_total carry
 * the same figures.
 */
#include "handlers/handlers.h"

#include "handlers/app.h"
#include "handlers/params.h"
#include "jobs/sqs_consumer.h"

void
handle_sqs_get(struct request *req, struct response *res)
{
    static const char *const known[] = {NULL};
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    rc = params_known(req, known, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_json(res, 200, sqs_consumers_status(req->app->sqs));
}
