/*
 * history_store.c - the history of one repository key
 *
 * One statement per page. The key's rows come from event_rows_key (the index
 * on key_digest), each with the merge whose (seq_lo, seq_hi] holds its
 * event (merges_seq_hi); a window over the key's rows of one merge finds the
 * last applying row, the winner (MERGE.md rule 3). The outcome of a row:
 *   ignored     changeset or publishUri empty (rule failed_build), merged or not;
 *   pending     no merge holds its event yet;
 *   applied     the winner of its key in its merge;
 *   superseded  a later applying row of the same merge won (rule later_row_won).
 * The window sees every row of the key (O(rows of the key)); the cursor then
 * cuts the page. Read-only, one statement, so one snapshot: no transaction.
 * Prepared once per connection: its plan costs more than its execution.
 */
#include "storage/history_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/db.h"
#include "storage/locks.h"
#include "storage/pgcopy.h"

/*
 * $1 key digest, $2 cursor sequence, $3 cursor row, $4 limit + 1. The page is
 * cut before its events are read, one index lookup per row (the OFFSET 0
 * keeps the planner from turning that into a join over all events, which it
 * would do whenever its statistics of event_rows are stale).
 */
static const char history_sql[] =
    "WITH k AS ("
    "  SELECT r.event_seq, r.row_no, r.changeset, r.publish_uri, r.vals,"
    "         (r.changeset <> '' AND r.publish_uri <> '') AS applies,"
    "         mg.id AS merge_id, mg.generation, mg.finished_at, mg.seq_hi"
    "  FROM event_rows r"
    "  LEFT JOIN LATERAL (SELECT m.id, m.generation, m.finished_at, m.seq_hi FROM merges m"
    "                     WHERE m.seq_hi >= r.event_seq AND m.seq_lo < r.event_seq"
    "                     ORDER BY m.seq_hi LIMIT 1) mg ON true"
    "  WHERE r.key_digest = $1::bytea),"
    " w AS ("
    "  SELECT k.*, max(ARRAY[k.event_seq, k.row_no]) FILTER (WHERE k.applies)"
    "             OVER (PARTITION BY k.seq_hi) AS winner"
    "  FROM k),"
    " p AS ("
    "  SELECT * FROM w"
    "  WHERE $2::bigint = 0 OR (w.event_seq, w.row_no) < ($2::bigint, $3::integer)"
    "  ORDER BY w.event_seq DESC, w.row_no DESC LIMIT $4)"
    " SELECT e.id, p.event_seq, p.row_no, e.source, " SQL_TS(
        "e.received_at") ","
                         "        p.changeset, p.publish_uri, json_object(e.columns, p.vals)::text,"
                         "        CASE WHEN NOT p.applies THEN 'ignored'"
                         "             WHEN p.merge_id IS NULL THEN 'pending'"
                         "             WHEN p.winner = ARRAY[p.event_seq, p.row_no] THEN 'applied'"
                         "             ELSE 'superseded' END,"
                         "        CASE WHEN NOT p.applies THEN 'failed_build'"
                         "             WHEN p.merge_id IS NOT NULL AND p.winner <> "
                         "ARRAY[p.event_seq, p.row_no]"
                         "             THEN 'later_row_won' END,"
                         "        p.merge_id, p.generation, " SQL_TS(
                             "p.finished_at") " "
                                              " FROM p CROSS JOIN LATERAL (SELECT x.id, x.source, "
                                              "x.received_at, x.columns FROM events x"
                                              "                            WHERE x.sequence = "
                                              "p.event_seq OFFSET 0) e"
                                              " ORDER BY p.event_seq DESC, p.row_no DESC";

/* Column 0..n of a history row, as the API's object; f gives the key's own values. */
static json_t *
history_row_json(PGresult *res, int r, const struct history_filter *f)
{
    json_t *o = json_object();
    json_t *cols;

#define VAL(c) PQgetvalue(res, r, c)
#define NUL(c) PQgetisnull(res, r, c)
    json_object_set_new(o, "event_id", json_string(VAL(0)));
    json_object_set_new(o, "sequence", json_integer(strtoll(VAL(1), NULL, 10)));
    json_object_set_new(o, "row", json_integer(strtoll(VAL(2), NULL, 10)));
    json_object_set_new(o, "source", NUL(3) ? json_null() : json_string(VAL(3)));
    json_object_set_new(o, "received_at", json_string(VAL(4)));
    json_object_set_new(o, "origin", json_string(f->origin));
    json_object_set_new(o, "path", json_string(f->path));
    json_object_set_new(o, "branch", json_string(f->branch));
    json_object_set_new(o, "changeset", json_string(VAL(5)));
    json_object_set_new(o, "publishUri", json_string(VAL(6)));
    cols = json_loads(VAL(7), 0, NULL);
    json_object_set_new(o, "columns", cols ? cols : json_object());
    json_object_set_new(o, "outcome", json_string(VAL(8)));
    json_object_set_new(o, "rule", NUL(9) ? json_null() : json_string(VAL(9)));
    json_object_set_new(o, "merge_id", NUL(10) ? json_null() : json_string(VAL(10)));
    json_object_set_new(o, "generation",
                        NUL(11) ? json_null() : json_integer(strtoll(VAL(11), NULL, 10)));
    json_object_set_new(o, "merged_at", NUL(12) ? json_null() : json_string(VAL(12)));
#undef VAL
#undef NUL
    return o;
}

/* ERR_NOT_FOUND unless the effective file holds the key (digest as text bytea). */
static enum err
key_known(struct db *db, const char *digest, char *errbuf, size_t errlen)
{
    long long n = 0;
    enum err rc;

    rc = db_query_ll(db, "SELECT count(*) FROM effective_rows WHERE key_digest = $1::bytea", 1,
                     &digest, "no count", &n, errbuf, errlen);
    if (!rc && n == 0)
        rc = err_set(ERR_NOT_FOUND, errbuf, errlen,
                     "no event row and no effective row has this origin, path and branch");
    return rc;
}

enum err
history_store_list(struct db *db, const struct history_filter *f, json_t **items,
                   int64_t *next_after, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    const char *params[4];
    char digest[2 + 64 + 1];
    char seq[32];
    char row[32];
    char limit[16];
    int i;
    int n;
    enum err rc;

    *items = NULL;
    *next_after = 0;
    digest[0] = '\\';
    digest[1] = 'x';
    pgcopy_key_digest_hex(digest + 2, f->origin, strlen(f->origin), f->path, strlen(f->path),
                          f->branch, strlen(f->branch));
    snprintf(seq, sizeof(seq), "%lld", (long long)(f->after >> HISTORY_CURSOR_ROW_BITS));
    snprintf(row, sizeof(row), "%lld",
             (long long)(f->after & ((INT64_C(1) << HISTORY_CURSOR_ROW_BITS) - 1)));
    snprintf(limit, sizeof(limit), "%d", f->limit + 1);
    params[0] = digest;
    params[1] = seq;
    params[2] = row;
    params[3] = limit;
    rc = db_query_prepared(db, &res, "history_list", history_sql, 4, params, NULL, NULL, errbuf,
                           errlen);
    if (rc)
        return rc;
    n = PQntuples(res);
    if (n == 0 && f->after == 0) {
        PQclear(res);
        rc = key_known(db, digest, errbuf, errlen);
        if (!rc)
            *items = json_array();
        return rc;
    }
    *items = json_array();
    for (i = 0; i < n && i < f->limit; i++)
        json_array_append_new(*items, history_row_json(res, i, f));
    if (n > f->limit) {
        int64_t s = strtoll(PQgetvalue(res, f->limit - 1, 1), NULL, 10);
        int64_t r = strtoll(PQgetvalue(res, f->limit - 1, 2), NULL, 10);

        *next_after = (s << HISTORY_CURSOR_ROW_BITS) | r;
    }
    PQclear(res);
    return ERR_OK;
}
