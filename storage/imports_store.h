/*
 * imports_store.h - the imports table family (event_names, import_files, import_locations)
 *
 * What the old pipeline's publishers hand over, keyed so that nothing is
 * stored twice (migrations/0007_imports.sql): a name given by
 * PUT /api/v1/events/pending/{name}, and every file of an import location
 * (INGESTD_IMPORTS) by (location, name, SHA-256). The key is written in the
 * transaction that stores the event, and inserting it is the claim: a second
 * process (a replica, or the same one after a crash between commit and move)
 * waits on the unique key until the first commits, then finds it and stores
 * nothing. Objects returned are owned by the caller.
 */
#ifndef INGESTD_IMPORTS_STORE_H
#define INGESTD_IMPORTS_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

struct db;
struct event_input;

/* ---- named events (PUT /api/v1/events/pending/{name}) ---- */

enum imports_named {
    IMPORTS_NAMED_CREATED,   /* a new event, committed, named */
    IMPORTS_NAMED_EXISTING,  /* the name already held these bytes: its event, nothing written */
    IMPORTS_NAMED_DUPLICATE, /* new name for bytes an event already held: the name committed */
    IMPORTS_NAMED_CONFLICT,  /* the name holds other bytes: *event is NULL, nothing written */
};

/*
 * Store `in` (in->source is the name) as the event called `name`, in one
 * transaction with the name. *event is the event object (NULL for
 * IMPORTS_NAMED_CONFLICT, when *other_sha256 gets the stored digest, 65
 * bytes).
 */
enum err imports_store_put_named(struct db *db, const char *name, const struct event_input *in,
                                 enum imports_named *what, json_t **event, char other_sha256[65],
                                 char *errbuf, size_t errlen);
/*
 * The same inside a transaction the caller has begun and commits (a group of
 * uploads, storage/events_group.h): nothing is committed or rolled back
 * here. ERR_UNAVAILABLE when the name was taken by a concurrent transaction
 * after this one's event was written: the caller rolls back and retries.
 */
enum err imports_store_put_named_txn(struct db *db, const char *name, const struct event_input *in,
                                     enum imports_named *what, json_t **event,
                                     char other_sha256[65], char *errbuf, size_t errlen);
/*
 * The content of the event called `name`: *data malloc'd (caller frees),
 * *len, and its digest into sha256 (65 bytes). ERR_NOT_FOUND when no such
 * name.
 */
enum err imports_store_named_content(struct db *db, const char *name, char **data, size_t *len,
                                     char sha256[65], char *errbuf, size_t errlen);

/* ---- import locations ---- */

/* One accepted file of a batch. */
struct imports_file {
    const char *name;
    char sha256[65];
    size_t bytes;
    struct event_input *in; /* the event to store (in->source = name) */
    int already;            /* out: the key was stored before; nothing written for it */
    int duplicate;          /* out: new key, but an event held these bytes already */
};

/*
 * Store the files of one location in one transaction: for each, claim the
 * key (location, name, sha256), and when it is new store its event and link
 * it. Files whose key exists are marked `already`. Files must be sorted by
 * name (two replicas then claim keys in the same order). On error nothing
 * is committed.
 */
enum err imports_store_accept(struct db *db, const char *location, struct imports_file *files,
                              size_t n, char *errbuf, size_t errlen);
/*
 * Record a refused file (outcome 'failed') with its problem (borrowed).
 * *is_new = 0 when its key was stored before (then nothing changes).
 */
enum err imports_store_fail(struct db *db, const char *location, const char *name,
                            const char *sha256, size_t bytes, json_t *problem, int *is_new,
                            char *errbuf, size_t errlen);
/*
 * What a scan of `location` saw: error NULL records a completed scan
 * (last_scan_at = now), otherwise the error (last_error, last_error_at).
 */
enum err imports_store_note(struct db *db, const char *location, const char *error, char *errbuf,
                            size_t errlen);
/*
 * The status of every location in `locations` (NULL-terminated, borrowed):
 * *items is an array of {location, kind, files_accepted, files_failed,
 * last_scan_at, last_error, last_error_at} in that order.
 */
enum err imports_store_status(struct db *db, const char *const *locations, json_t **items,
                              char *errbuf, size_t errlen);

#endif
