/*
 * history_store.h - the history of one repository key (GET /api/v1/repos/history)
 *
 * Reads event_rows, events and merges (written by events_store.c and
 * merges_store.c); writes nothing. A key's rows are found through the index
 * event_rows_key (migrations/0013_history_views.sql), so a lookup reads the
 * rows of that key only, whatever the number of events.
 */
#ifndef INGESTD_HISTORY_STORE_H
#define INGESTD_HISTORY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"

struct db;

/* The bits a row's position takes in a history cursor: (sequence << 31) | row. */
#define HISTORY_CURSOR_ROW_BITS 31

struct history_filter {
    const char *origin; /* the key, compared byte for byte; all three required */
    const char *path;
    const char *branch;
    int64_t after; /* cursor from a previous page (history_store_list), 0 = newest */
    int limit;     /* 1..1000 */
};

/*
 * The stored rows of the key, newest first (event sequence, then row number,
 * both descending), as API objects (openapi.yaml HistoryRow): the event's id,
 * sequence, source and received_at, the row's number and columns, its
 * outcome (`applied`, `superseded`, `ignored`, `pending`), the rule that
 * decided an ignored or superseded row, and the merge (id, generation,
 * finished_at) that took it. *items is a new array the caller owns;
 * *next_after the cursor of the next page, 0 when this is the last.
 * ERR_NOT_FOUND when the first page is empty and the effective file has no
 * such key either (a key nobody ever sent).
 */
enum err history_store_list(struct db *db, const struct history_filter *f, json_t **items,
                            int64_t *next_after, char *errbuf, size_t errlen);

#endif
