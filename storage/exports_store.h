/*
 * exports_store.h - export_targets: what generation each export target holds
 *
 * A target is named by its name without credentials (core/export_spec.h).
 * The publisher of a target holds the target's session advisory lock
 * (exports_store_claim() .. exports_store_unclaim()) on its own connection
 * while it writes the target and records the outcome, so one replica at a
 * time publishes to a target. Every function runs outside a transaction and
 * leaves the connection outside one.
 */
#ifndef INGESTD_EXPORTS_STORE_H
#define INGESTD_EXPORTS_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct db;

/*
 * Try to become the target's publisher (never waits). *claimed is 1 when
 * this connection now holds the target's lock, 0 when another one does.
 * When claimed, the target's row exists (made with generation 0 when new)
 * and *held is the generation it holds, read after the lock was taken.
 */
enum err exports_store_claim(struct db *db, const char *target, const char *kind, int *claimed,
                             int64_t *held, char *errbuf, size_t errlen);
/* Give the target's lock back (after exports_store_claim() said claimed). */
enum err exports_store_unclaim(struct db *db, const char *target, char *errbuf, size_t errlen);

/*
 * Record one attempt's outcome: success (error NULL) makes the target hold
 * `generation` (never lower than what it held); a failure keeps the error
 * text (no credentials in it, the caller's promise) with its time and, when
 * `announce` is set, journals io.ingestd.export.failed (storage/outbox_store.h;
 * data: target, generation, error) in the same transaction.
 */
enum err exports_store_record(struct db *db, const char *target, int64_t generation,
                              long long duration_ms, const char *error, int announce, char *errbuf,
                              size_t errlen);

/*
 * The targets named in names (n of them, in that order) as API objects
 * (GET /api/v1/exports): target, kind, generation, attempts, failures,
 * last_attempt_at, last_success_at, last_error, last_error_at,
 * last_duration_ms; a target never attempted shows generation 0 and nulls.
 * kinds[i] is the kind of names[i]. *items is the caller's.
 */
enum err exports_store_list(struct db *db, const char *const *names, const char *const *kinds,
                            size_t n, json_t **items, char *errbuf, size_t errlen);

#endif
