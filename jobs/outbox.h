/*
 * outbox.h - webhook delivery: threads that send the outbox's deliveries
 *
 * OUTBOX_THREADS threads, each with its own database connection and HTTP
 * client, claim one due delivery at a time (storage/outbox_store.h: FOR
 * UPDATE SKIP LOCKED, so no two threads of any replica send one delivery at
 * the same time), POST it signed (clients/webhook.h) and record the outcome:
 *
 *   2xx                          delivered
 *   410                          gone (never again)
 *   anything else, or no answer  tried again after a backoff, or failed
 *                                after the last of `attempts` attempts
 *   a URL libcurl cannot use     failed at once
 *
 * Each thread LISTENs on OUTBOX_CHANNEL, which every committed enqueue
 * notifies (in this process or another replica), and otherwise sleeps until
 * the next delivery is due, polling at least every OUTBOX_POLL_MS (the table
 * is the truth; a notification missed while reconnecting is made up).
 * Every attempt is counted in ingestd_webhook_deliveries_total{outcome}; a
 * failed attempt is one log line naming the delivery, the receiver's
 * scheme://host:port (never its path, query or credentials) and why.
 */
#ifndef INGESTD_OUTBOX_H
#define INGESTD_OUTBOX_H

#include "core/err.h"

struct metrics;
struct outbox;

#define OUTBOX_THREADS 2
#define OUTBOX_POLL_MS 5000
/* No delay between two attempts is longer than this (the doubling stops). */
#define OUTBOX_MAX_DELAY_MS (6LL * 3600 * 1000)

struct outbox_settings {
    const char *conninfo; /* borrowed for the call (copied) */
    const char *secret;   /* INGESTD_WEBHOOK_SECRET (copied; see webhook.h for whsec_) */
    int attempts;         /* per delivery, >= 1 */
    long backoff_ms;      /* the delay after the first failed attempt */
    long timeout_ms;      /* one attempt's limit */
};

/*
 * Start the threads. ERR_BAD_INPUT (errbuf says why, never the secret) for
 * a secret webhook_signer_init() refuses. `metrics` is borrowed (may be NULL).
 */
enum err outbox_start(const struct outbox_settings *s, struct metrics *metrics, struct outbox **out,
                      char *errbuf, size_t errlen);
/*
 * Stop the threads: an attempt in flight ends (at most timeout_ms) and is
 * recorded first. NULL-safe.
 */
void outbox_stop(struct outbox *o);

/*
 * The delay before the next attempt after `failed` failed attempts (>= 1):
 * backoff_ms * 2^(failed-1), at most OUTBOX_MAX_DELAY_MS, with equal
 * jitter: half of it fixed, the other half scaled by jitter in [0, 1].
 */
long long outbox_backoff_ms(long backoff_ms, int failed, double jitter);

#endif
