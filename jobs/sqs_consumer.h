/*
 * sqs_consumer.h - S3 event notifications from Amazon SQS queues into the catalog
 *
 * One thread per queue of INGESTD_SQS_QUEUES, each with its own database
 * connection and SQS client. A thread long-polls ReceiveMessage (up to 10
 * messages), decodes each message body as POST /api/v1/s3/events decodes a
 * body (S3 notification, EventBridge event, SNS envelope of either, test
 * event), ingests the records of the whole batch in one transaction
 * (s3_store_ingest), and only after the commit deletes those messages with
 * one DeleteMessageBatch. A database failure deletes nothing: the messages
 * come back after their visibility timeout. A message whose body does not
 * decode (poison) is counted as failed and either left to the queue's
 * redrive policy or deleted (INGESTD_SQS_POISON); it never holds back the
 * other messages of its batch. jobs/README.md has the details.
 *
 * Thread-safety: sqs_consumers_status() may be called from any thread;
 * start and stop from main only.
 */
#ifndef INGESTD_SQS_CONSUMER_H
#define INGESTD_SQS_CONSUMER_H

#include <jansson.h>

#include "clients/sqs_client.h"

struct metrics;
struct s3_group;
struct sqs_consumers;

/* Borrowed for the call only (copied). */
struct sqs_consumer_config {
    const char *queues; /* comma-separated queue URLs (already checked by core/config.c) */
    int wait_s;         /* WaitTimeSeconds of each ReceiveMessage, 0..20 */
    int visibility_s;   /* VisibilityTimeout asked for each receive, 1..43200 */
    int poison_delete;  /* 1: delete undecodable messages; 0: leave them to the redrive policy */
    struct sqs_client_config client;
    struct s3_group *group; /* group commit shared with POST /api/v1/s3/events (outlives the
                               consumers); NULL: each batch alone */
};

/*
 * Start one thread per queue; NULL when cfg->queues names none. metrics
 * (borrowed, may be NULL) gets ingestd_sqs_messages_total{queue,outcome},
 * ingestd_sqs_errors_total{queue,kind} and the S3 records counters.
 */
struct sqs_consumers *sqs_consumers_start(const char *conninfo,
                                          const struct sqs_consumer_config *cfg,
                                          struct metrics *metrics);
/*
 * Stop: a long poll in progress is abandoned, a batch being ingested is
 * finished (commit, then its DeleteMessageBatch); then join and free.
 * NULL-safe.
 */
void sqs_consumers_stop(struct sqs_consumers *s);

/*
 * A new JSON snapshot {"queues":[{url, name, received, ingested, ignored,
 * failed, deleted, deleteFailed, records, duplicates, errors, lastReceiveAt,
 * lastCommitAt, lastError, lastErrorAt}], waitTimeSeconds, visibilityTimeout,
 * poisonMessages}; s NULL gives {"queues":[]} with the settings absent.
 */
json_t *sqs_consumers_status(struct sqs_consumers *s);

#endif
