/*
 * outbox_store.h - the journal of changes and its webhook deliveries (outbox)
 *
 * A change (migration 0008, table `changes`) is written by
 * outbox_enqueue() inside the caller's open transaction, together with one
 * delivery row per configured webhook URL: the change is announced exactly
 * when the transaction that made it commits. The delivery side (jobs/outbox.c)
 * claims one due delivery at a time (FOR UPDATE SKIP LOCKED: no two
 * replicas send one at the same time), sends it, and records the outcome in
 * the same transaction as the claim. The admin routes list deliveries and
 * make failed ones pending again.
 *
 * Every enqueue (and every retry) also sends NOTIFY on OUTBOX_CHANNEL with
 * the change id as payload, which PostgreSQL delivers only when the
 * transaction commits: the delivery threads of every replica LISTEN on it.
 *
 * Thread-safety: every function works on the caller's struct db (one
 * thread). outbox_store_set_urls() is process-wide configuration, called
 * once by main before any thread starts; read-only afterwards.
 */
#ifndef INGESTD_OUTBOX_STORE_H
#define INGESTD_OUTBOX_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

struct db;

/* The LISTEN/NOTIFY channel of new or retried deliveries (payload: the change id). */
#define OUTBOX_CHANNEL "ingestd_changes"

/* The change types ingestd announces (OPERATIONS.md "Webhooks"). */
#define OUTBOX_MERGE_COMPLETED "io.ingestd.merge.completed"
#define OUTBOX_INVENTORY_SUCCEEDED "io.ingestd.inventory.succeeded"
#define OUTBOX_INVENTORY_FAILED "io.ingestd.inventory.failed"
#define OUTBOX_EXPORT_FAILED "io.ingestd.export.failed"

/*
 * The webhook URLs (INGESTD_WEBHOOK_URLS) every change of this process gets
 * a delivery row for; copied. n == 0 (the default): changes are journaled,
 * nothing is delivered. Call once before any thread starts.
 */
void outbox_store_set_urls(const char *const *urls, size_t n);
/* Release what outbox_store_set_urls() copied (at exit). */
void outbox_store_clear_urls(void);

/*
 * Journal a change and its deliveries in one statement, on db's open
 * transaction (or as a transaction of its own in autocommit). type is one
 * of the OUTBOX_* types; source the CloudEvents source, the API collection
 * of the subject ("/api/v1/merges"); subject the id of the object (may be
 * NULL); data (borrowed) the object as the API shows it. *change_id (may be
 * NULL) gets the journal cursor of the row. On error the caller's
 * transaction is left to the caller to roll back.
 */
enum err outbox_enqueue(struct db *db, const char *type, const char *source, const char *subject,
                        json_t *data, long long *change_id, char *errbuf, size_t errlen);

/* A claimed delivery: what the sender needs. Strings are owned (outbox_claim_release). */
struct outbox_claim {
    char id[37];       /* the delivery */
    char event_id[37]; /* CloudEvents id = webhook-id */
    int attempts;      /* made before this one */
    char *url;
    char *type;
    char *source;
    char *subject; /* NULL when the change has none */
    char *time;    /* RFC 3339 UTC with milliseconds */
    char *data;    /* the object as JSON text */
};
void outbox_claim_release(struct outbox_claim *c); /* NULL-safe */

/*
 * BEGIN and lock the oldest due pending delivery (FOR UPDATE SKIP LOCKED).
 * ERR_OK: c is filled and the transaction stays open until
 * outbox_store_finish() or db_rollback(); ERR_NOT_FOUND: none due (the
 * transaction is closed).
 */
enum err outbox_store_claim(struct db *db, struct outbox_claim *c, char *errbuf, size_t errlen);

/* The outcome of one attempt. */
enum outbox_outcome {
    OUTBOX_DELIVERED, /* a 2xx */
    OUTBOX_RETRY,     /* failed; pending again, due in retry_in_ms */
    OUTBOX_FAILED,    /* failed, and it was the last attempt */
    OUTBOX_GONE,      /* 410: never again */
};
/* "delivered", "retry", "failed", "gone" (the metric's outcome label). */
const char *outbox_outcome_name(enum outbox_outcome o);

/*
 * Record the attempt on claimed delivery c (attempts + 1, the HTTP status
 * or 0 for none, error text or NULL) and COMMIT, which releases the row.
 */
enum err outbox_store_finish(struct db *db, const struct outbox_claim *c, enum outbox_outcome o,
                             long http_status, const char *error, long long retry_in_ms,
                             char *errbuf, size_t errlen);

/*
 * Milliseconds until the next pending delivery that no sender is attempting
 * is due (0: one is due now); -1 when none.
 */
enum err outbox_store_next_due(struct db *db, long long *ms, char *errbuf, size_t errlen);

/* Deliveries with status pending (for the gauge). */
enum err outbox_store_pending(struct db *db, long long *count, char *errbuf, size_t errlen);

/*
 * Deliveries newest first, of one status (NULL: all), older than the
 * delivery `before` (NULL: from the newest). ERR_BAD_INPUT for a before that
 * names no delivery. Objects in the API's shape; `url` as stored (the
 * handler redacts it).
 */
enum err outbox_store_list(struct db *db, const char *status, const char *before, int limit,
                           json_t **items, int *more, char *errbuf, size_t errlen);

/*
 * Make delivery id pending and due now: a failed or gone one starts a new
 * series of attempts (attempts 0), a pending one is only made due now.
 * ERR_NOT_FOUND: no such delivery; ERR_CONFLICT: delivered already, or an
 * attempt is being made right now (errbuf says which). *delivery gets the
 * object after the change.
 */
enum err outbox_store_retry(struct db *db, const char *id, json_t **delivery, char *errbuf,
                            size_t errlen);

#endif
