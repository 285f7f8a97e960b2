/*
 * merges_store.c - merges
 *
 * One merge, one transaction:
 *   1. advisory lock (merges and PUT never overlap, across processes), then
 *      SHARE lock on events: waits for uploads in flight, blocks new ones
 *      until commit, so every accepted sequence below is committed;
 *   2. new effective columns = old + event columns not yet there, in
 *      first-seen (sequence, column) order;
 *   3. one statement: the winner per key (last applying row by sequence,
 *      row), updates of changeset/publishUri for existing keys, appended
 *      rows for new keys, and the counts;
 *   4. events marked merged, event_rows emptied, generation bumped when
 *      something changed, the merge recorded; COMMIT (or ROLLBACK: dry run).
 */
#include "merges_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "../server/buf.h"
#include "../server/log.h"
#include "db.h"
#include "locks.h"
#include "pgcopy.h"

#define MERGE_COLUMNS                                                                           \
    "id, status, dry_run, event_count, row_count, added, updated, unchanged, skipped, "       \
    "array_to_json(columns_added), generation, " SQL_TS("started_at") ", "                    \
    SQL_TS("finished_at") ", duration_ms"

struct merge_counts {
    long long events;
    long long rows;
    long long added;
    long long updated;
    long long unchanged;
    long long generation;
};

static json_t *
merge_json(const char *id, const char *status, int dry_run, const struct merge_counts *c,
           json_t *columns_added, const char *started, const char *finished, long long ms)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "dry_run", json_boolean(dry_run));
    json_object_set_new(o, "events", json_integer(c->events));
    json_object_set_new(o, "rows", json_integer(c->rows));
    json_object_set_new(o, "added", json_integer(c->added));
    json_object_set_new(o, "updated", json_integer(c->updated));
    json_object_set_new(o, "unchanged", json_integer(c->unchanged));
    json_object_set_new(o, "skipped",
                        json_integer(c->rows - c->added - c->updated - c->unchanged));
    json_object_set_new(o, "columns_added", columns_added ? columns_added : json_array());
    json_object_set_new(o, "generation", json_integer(c->generation));
    json_object_set_new(o, "started_at", json_string(started));
    json_object_set_new(o, "finished_at", json_string(finished));
    json_object_set_new(o, "duration_ms", json_integer(ms));
    return o;
}

static json_t *
merge_row_json(PGresult *res, int r)
{
    struct merge_counts c;

#define VAL(k) PQgetvalue(res, r, k)
    c.events = strtoll(VAL(3), NULL, 10);
    c.rows = strtoll(VAL(4), NULL, 10);
    c.added = strtoll(VAL(5), NULL, 10);
    c.updated = strtoll(VAL(6), NULL, 10);
    c.unchanged = strtoll(VAL(7), NULL, 10);
    c.generation = strtoll(VAL(10), NULL, 10);
    return merge_json(VAL(0), VAL(1), VAL(2)[0] == 't', &c, json_loads(VAL(9), 0, NULL),
                      VAL(11), VAL(12), strtoll(VAL(13), NULL, 10));
#undef VAL
}

/* Index (1-based) of name in a JSON array of strings, 0 when absent. */
static int
column_index(json_t *cols, const char *name)
{
    size_t i;
    json_t *v;

    json_array_foreach(cols, i, v)
    {
        if (strcmp(json_string_value(v), name) == 0)
            return (int)i + 1;
    }
    return 0;
}

/* A text[] literal of a JSON array of strings. */
static void
json_to_array_literal(json_t *cols, struct buf *out)
{
    size_t n = json_array_size(cols);
    const char **names = xcalloc(n ? n : 1, sizeof(char *));
    size_t i;

    for (i = 0; i < n; i++)
        names[i] = json_string_value(json_array_get(cols, i));
    pgcopy_param_array(out, names, NULL, n);
    free(names);
}

static const char apply_sql[] =
    "WITH w AS MATERIALIZED ("
    "  SELECT DISTINCT ON (r.key_digest) r.key_digest, r.event_seq, r.row_no, r.origin, "
    "         r.path, r.branch, r.changeset, r.publish_uri, r.vals, e.columns AS ecols, "
    "         e.id AS event_id"
    "  FROM event_rows r JOIN events e ON e.sequence = r.event_seq"
    "  WHERE e.status = 'pending' AND r.changeset <> '' AND r.publish_uri <> ''"
    "  ORDER BY r.key_digest, r.event_seq DESC, r.row_no DESC),"
    " m AS MATERIALIZED ("
    "  SELECT w.*, t.pos AS tpos, t.vals AS tvals"
    "  FROM w LEFT JOIN effective_rows t ON t.key_digest = w.key_digest),"
    " upd AS ("
    "  UPDATE effective_rows t SET vals[$1::int] = m.changeset, vals[$2::int] = m.publish_uri,"
    "         event_id = m.event_id, updated_at = now()"
    "  FROM m WHERE m.tpos = t.pos"
    "   AND (coalesce(m.tvals[$1::int], '') <> m.changeset"
    "        OR coalesce(m.tvals[$2::int], '') <> m.publish_uri)"
    "  RETURNING 1),"
    " ins AS ("
    "  INSERT INTO effective_rows (pos, origin, path, branch, vals, event_id, updated_at)"
    "  SELECT (SELECT coalesce(max(pos), 0) FROM effective_rows)"
    "         + row_number() OVER (ORDER BY m.event_seq, m.row_no),"
    "         m.origin, m.path, m.branch,"
    "         ARRAY(SELECT coalesce(m.vals[array_position(m.ecols, c.name)], '')"
    "               FROM unnest($3::text[]) WITH ORDINALITY AS c(name, i) ORDER BY c.i),"
    "         m.event_id, now()"
    "  FROM m WHERE m.tpos IS NULL"
    "  RETURNING 1)"
    " SELECT (SELECT count(*) FROM m WHERE tpos IS NOT NULL),"
    "        (SELECT count(*) FROM upd), (SELECT count(*) FROM ins)";

static const char new_columns_sql[] =
    "SELECT coalesce(json_agg(name ORDER BY first_seen), '[]') FROM ("
    "  SELECT c.name, min(ARRAY[e.sequence, c.ord]) AS first_seen"
    "  FROM events e, unnest(e.columns) WITH ORDINALITY AS c(name, ord)"
    "  WHERE e.status = 'pending' GROUP BY c.name) x, effective_meta m"
    " WHERE NOT (x.name = ANY (m.columns))";

/* Steps 2-4 inside the open transaction; fills c and *added_cols. */
static enum err
apply_pending(struct db *db, const char *id, int dry_run, struct merge_counts *c,
              json_t **added_cols, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    json_t *cols = NULL;
    struct buf lit;
    char cs[16];
    char pu[16];
    const char *params[4];
    size_t i;
    json_t *v;
    enum err rc;

    buf_init(&lit, 0);
    rc = db_query(db, &res, "SELECT array_to_json(columns), generation FROM effective_meta",
                  0, NULL, errbuf, errlen);
    if (rc)
        goto out;
    cols = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    c->generation = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    res = NULL;
    rc = db_query(db, &res, new_columns_sql, 0, NULL, errbuf, errlen);
    if (rc)
        goto out;
    *added_cols = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    res = NULL;
    if (!cols || !*added_cols) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
        goto out;
    }
    json_array_foreach(*added_cols, i, v) json_array_append(cols, v);
    json_to_array_literal(cols, &lit);
    /* a winner has a non-empty changeset and publishUri, so both columns exist then */
    snprintf(cs, sizeof(cs), "%d", column_index(cols, "changeset"));
    snprintf(pu, sizeof(pu), "%d", column_index(cols, "publishUri"));
    params[0] = cs;
    params[1] = pu;
    params[2] = lit.data;
    rc = db_query(db, &res, apply_sql, 3, params, errbuf, errlen);
    if (rc)
        goto out;
    c->unchanged = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    c->updated = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    c->added = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    c->unchanged -= c->updated;
    PQclear(res);
    res = NULL;

    params[0] = id;
    rc = db_query(db, NULL,
                  "UPDATE events SET status = 'merged', merge_id = $1, merged_at = now() "
                  "WHERE status = 'pending'",
                  1, params, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "TRUNCATE event_rows", errbuf, errlen);
    if (rc)
        goto out;
    if (c->added || c->updated || json_array_size(*added_cols)) {
        params[0] = lit.data;
        rc = db_query(db, &res,
                      "UPDATE effective_meta SET generation = generation + 1, columns = $1, "
                      "updated_at = now() RETURNING generation",
                      1, params, errbuf, errlen);
        if (rc)
            goto out;
        c->generation = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    (void)dry_run;
out:
    PQclear(res);
    json_decref(cols);
    buf_release(&lit);
    return rc;
}

static enum err
record_merge(struct db *db, json_t *m, char *errbuf, size_t errlen)
{
    char buf[8][32];
    struct buf lit;
    const char *params[13];
    const char *keys[] = {"events", "rows", "added", "updated", "unchanged", "skipped",
                          "generation", "duration_ms"};
    size_t i;
    enum err rc;

    buf_init(&lit, 0);
    json_to_array_literal(json_object_get(m, "columns_added"), &lit);
    params[0] = json_string_value(json_object_get(m, "id"));
    params[1] = json_string_value(json_object_get(m, "status"));
    for (i = 0; i < 8; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%lld",
                 (long long)json_integer_value(json_object_get(m, keys[i])));
        params[2 + i] = buf[i];
    }
    params[10] = lit.data;
    params[11] = json_string_value(json_object_get(m, "started_at"));
    params[12] = json_string_value(json_object_get(m, "finished_at"));
    rc = db_query(db, NULL,
                  "INSERT INTO merges (id, status, event_count, row_count, added, updated, "
                  "unchanged, skipped, generation, duration_ms, columns_added, started_at, "
                  "finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                  13, params, errbuf, errlen);
    buf_release(&lit);
    return rc;
}

enum err
merges_store_run(struct db *db, int dry_run, json_t **merge, char *errbuf, size_t errlen)
{
    struct merge_counts c;
    json_t *added_cols = NULL;
    PGresult *res = NULL;
    long long t0 = log_now_ms();
    long long t1;
    char started[32];
    char finished[32];
    char id[37];
    uuid_t u;
    enum err rc;

    *merge = NULL;
    memset(&c, 0, sizeof(c));
    uuid_generate(u);
    uuid_unparse_lower(u, id);
    log_timestamp(started, t0);

    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (!rc)
        rc = db_exec(db, LOCK_EFFECTIVE_SQL, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "LOCK TABLE events IN SHARE MODE", errbuf, errlen);
    if (rc)
        goto out;
    rc = db_query(db, &res,
                  "SELECT count(*), coalesce(sum(row_count), 0), "
                  "(SELECT generation FROM effective_meta) FROM events WHERE status = 'pending'",
                  0, NULL, errbuf, errlen);
    if (rc)
        goto out;
    c.events = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    c.rows = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    c.generation = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    PQclear(res);
    res = NULL;
    if (c.events > 0) {
        rc = apply_pending(db, id, dry_run, &c, &added_cols, errbuf, errlen);
        if (rc)
            goto out;
    }
    t1 = log_now_ms();
    log_timestamp(finished, t1);
    *merge = merge_json(id, "succeeded", dry_run, &c, added_cols, started, finished, t1 - t0);
    added_cols = NULL;
    if (dry_run) {
        db_rollback(db);
        goto out;
    }
    rc = record_merge(db, *merge, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (!rc)
        log_json(LOG_INFO, "merge", json_deep_copy(*merge));
out:
    PQclear(res);
    json_decref(added_cols);
    if (rc) {
        db_rollback(db);
        json_decref(*merge);
        *merge = NULL;
    }
    return rc;
}

enum err
merges_store_get(struct db *db, const char *id, json_t **merge, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    *merge = NULL;
    rc = db_query(db, &res, "SELECT " MERGE_COLUMNS " FROM merges WHERE id = $1", 1, &id,
                  errbuf, errlen);
    if (rc)
        return rc;
    if (PQntuples(res) == 0)
        rc = err_set(ERR_NOT_FOUND, errbuf, errlen, "no such merge");
    else
        *merge = merge_row_json(res, 0);
    PQclear(res);
    return rc;
}

enum err
merges_store_list(struct db *db, const char *before, int limit, json_t **items, int *more,
                  char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    char lim[16];
    const char *params[2];
    int i;
    int n;
    enum err rc;

    *items = NULL;
    *more = 0;
    if (before) {
        rc = db_query(db, &res, "SELECT 1 FROM merges WHERE id = $1", 1, &before, errbuf,
                      errlen);
        if (rc)
            return rc;
        n = PQntuples(res);
        PQclear(res);
        res = NULL;
        if (n == 0)
            return err_set(ERR_NOT_FOUND, errbuf, errlen, "no such merge: %s", before);
    }
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    params[0] = before;
    params[1] = lim;
    rc = db_query(db, &res,
                  "SELECT " MERGE_COLUMNS " FROM merges WHERE $1::uuid IS NULL OR "
                  "(started_at, id) < (SELECT started_at, id FROM merges WHERE id = $1) "
                  "ORDER BY started_at DESC, id DESC LIMIT $2",
                  2, params, errbuf, errlen);
    if (rc)
        return rc;
    n = PQntuples(res);
    if (n > limit) {
        *more = 1;
        n = limit;
    }
    *items = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(*items, merge_row_json(res, i));
    PQclear(res);
    return ERR_OK;
}

enum err
merges_store_pending(struct db *db, long long *count, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    *count = 0;
    rc = db_query(db, &res, "SELECT count(*) FROM events WHERE status = 'pending'", 0, NULL,
                  errbuf, errlen);
    if (rc)
        return rc;
    *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return ERR_OK;
}
