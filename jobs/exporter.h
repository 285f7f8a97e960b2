/*
 * exporter.h - publish every new generation of the effective repos.csv
 *
 * One thread per target of INGESTD_EXPORTS (core/export_spec.h), each with
 * its own database connection and writer (jobs/export_write.h), so a slow
 * or unreachable target never delays another, and nothing of it runs on a
 * merge's path: a merge only wakes the threads (exporter_wake()).
 *
 * What a thread does, every time it is woken and every EXPORTER_POLL_MS
 * (which is how merges of other replicas are noticed: the current
 * generation is polled, one indexed single-row read):
 *   - nothing when the target is known to hold the current generation;
 *   - else it tries the target's claim in PostgreSQL (a session advisory
 *     lock, storage/exports_store.h); without it another replica is
 *     publishing and this one looks again at the next poll;
 *   - with it, reads what the target holds (the row of migration 0009),
 *     and when that is older renders the newest generation (the bytes GET
 *     /api/v1/repos.csv serves) and writes it, records the outcome, lets
 *     the claim go. Generations that came and went meanwhile are skipped:
 *     only the newest is ever published (coalescing).
 * A failed attempt is retried after a backoff: INGESTD_EXPORT_BACKOFF_MS,
 * doubling per consecutive failure up to EXPORTER_MAX_BACKOFF_MS, with equal
 * jitter (half fixed, half random); wakes do not shorten it. The threads
 * render a generation once between them. The generation each target holds
 * is in PostgreSQL, so a restart republishes only what is missing.
 */
#ifndef INGESTD_EXPORTER_H
#define INGESTD_EXPORTER_H

#include "core/config.h"

#define EXPORTER_POLL_MS 250
#define EXPORTER_MAX_BACKOFF_MS 300000L

struct exporter;
struct metrics;
struct s3_client_config;

/*
 * Start one thread per target of cfg->exports (NULL when there are none).
 * cfg, conninfo, s3 and m are borrowed for the exporter's life.
 */
struct exporter *exporter_start(const struct config *cfg, const char *conninfo,
                                const struct s3_client_config *s3, struct metrics *m);
/* A new generation was committed in this process: look now. NULL-safe, any thread. */
void exporter_wake(struct exporter *e);
/* Stop: each thread finishes the attempt it is in, then ends. NULL-safe. */
void exporter_stop(struct exporter *e);

#endif
