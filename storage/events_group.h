/*
 * events_group.h - several uploads stored in one transaction (group commit)
 *
 * An upload (POST /api/v1/events or PUT /api/v1/events/pending/{name}) is an
 * event_input and, for a PUT, its name; its answer is filled in here. A group
 * is stored in ONE transaction with one COMMIT: each upload sees the ones
 * before it in the group (a repeat of the same bytes, or of the same name,
 * is answered as a duplicate of the first). Nothing is answered before the
 * COMMIT returned: the caller hands out the answers only after
 * events_group_store() returned.
 */
#ifndef INGESTD_EVENTS_GROUP_H
#define INGESTD_EVENTS_GROUP_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "storage/events_store.h"
#include "storage/imports_store.h"

struct db;

struct event_upload {
    const struct event_input *in; /* borrowed; lives until the answer is filled */
    const char *name;             /* PUT pending/{name}: the name; NULL for a POST */
    /* the answer */
    enum err rc;
    char errbuf[ERRBUF_SIZE];
    json_t *event;           /* owned by the upload once filled; NULL on error or conflict */
    int duplicate;           /* POST: the bytes or the key were already stored */
    enum imports_named what; /* PUT: as imports_store_put_named() */
    char other_sha256[65];   /* PUT, IMPORTS_NAMED_CONFLICT: the stored digest */
};

/* Clear the answer (before a first or a new attempt); frees a filled event. */
void events_group_reset(struct event_upload *u);
/*
 * Store the uploads up[0..n-1] in one transaction and commit it. ERR_OK:
 * committed, every upload holds its own answer (u->rc is ERR_OK, its event,
 * duplicate, what). Otherwise nothing of the group is committed (or, when
 * the COMMIT itself failed, its outcome is unknown) and every upload's
 * answer is that error (u->rc, u->errbuf; no event); *retry_alone = 1 when the failure came from
 * one upload's statement on a working connection, so that storing each upload alone may succeed.
 */
enum err events_group_store(struct db *db, struct event_upload *const *up, size_t n,
                            int *retry_alone, char *errbuf, size_t errlen);
/* Store one upload alone, in its own transaction (the path without a group); fills u. */
void events_group_store_one(struct db *db, struct event_upload *u);

#endif
