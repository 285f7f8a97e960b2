/*
 * merges_store.c - merges
 *
 * One merge, one transaction:
 *   1. the effective advisory lock (locks.h, 6: merges and PUT never
 *      overlap, across processes), then
 *      SHARE lock on events: waits for uploads in flight, blocks new ones
 *      until commit, so every accepted sequence below is committed;
 *   2. new effective columns = old + event columns not yet there, in
 *      first-seen (sequence, column) order;
 *   3. one statement: the winner per key (last applying row by sequence,
 *      row), updates of changeset/publishUri for existing keys, appended
 *      rows for new keys, and the counts;
 *   4. events marked merged (event_rows keep their rows: the history of
 *      every key, history_store.c), generation bumped when something
 *      changed, the merge recorded, and when something changed the change
 *      journaled for webhooks (outbox_enqueue(), the merge object as
 *      GET /api/v1/merges/{id} shows it); COMMIT (or ROLLBACK: dry run).
 */
#include "storage/merges_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crashpoint.h"
#include "core/log.h"
#include "storage/db.h"
#include "storage/locks.h"
#include "storage/outbox_store.h"
#include "storage/pgcopy.h"

#define MERGE_COLUMNS                                                                              \
    "id, status, dry_run, event_count, row_count, added, updated, unchanged, skipped, "            \
    "array_to_json(columns_added), generation, " SQL_TS("started_at") ", " SQL_TS(                 \
        "finished_at") ", duration_ms"

struct merge_counts {
    long long seq_lo; /* events (seq_lo, seq_hi] are merged */
    long long seq_hi;
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
    json_object_set_new(o, "skipped", json_integer(c->rows - c->added - c->updated - c->unchanged));
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
    return merge_json(VAL(0), VAL(1), VAL(2)[0] == 't', &c, json_loads(VAL(9), 0, NULL), VAL(11),
                      VAL(12), strtoll(VAL(13), NULL, 10));
#undef VAL
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

/*
 * Winners, updates, appends and counts in one statement. $1: the last merged
 * sequence; $2: the generation this merge makes when it changes something
 * (the updated rows' old versions, valid up to it, go to one row of
 * repos_history_merges: the old changeset, publishUri and valid_from the key
 * lookup read, with the position and key; the rest of each is the row itself,
 * migration 0025); the new rows' vals are built by a generated ARRAY[...] of
 * one element per effective column (see vals_expr). The update finds each row by the ctid the
 * key lookup read (a TID scan, not a second index lookup): nothing else writes effective_rows
 * while the merge holds the effective lock.
 */
static const char apply_sql_head[] =
    "WITH w AS MATERIALIZED ("
    "  SELECT DISTINCT ON (r.key_digest) r.key_digest, r.event_seq, r.row_no, r.origin, "
    "         r.path, r.branch, r.changeset, r.publish_uri, r.vals, e.columns AS ecols, "
    "         e.id AS event_id"
    "  FROM event_rows r JOIN events e ON e.sequence = r.event_seq"
    "  WHERE r.event_seq > $1 AND e.sequence > $1 AND r.changeset <> '' AND r.publish_uri <> ''"
    "  ORDER BY r.key_digest, r.event_seq DESC, r.row_no DESC),"
    " m AS MATERIALIZED ("
    "  SELECT w.*, t.pos AS tpos, t.changeset AS tcs, t.publish_uri AS tpu,"
    "         t.valid_from AS tvf, t.ctid AS tid"
    "  FROM w LEFT JOIN effective_rows t ON t.key_digest = w.key_digest),"
    " upd AS ("
    "  UPDATE effective_rows t SET changeset = m.changeset, publish_uri = m.publish_uri,"
    "         event_id = m.event_id, updated_at = now(), valid_from = $2"
    "  FROM m WHERE t.ctid = m.tid AND (m.tcs <> m.changeset OR m.tpu <> m.publish_uri)"
    "  RETURNING m.tvf, t.pos, m.tcs, m.tpu, t.key_digest),"
    " hist AS ("
    "  INSERT INTO repos_history_merges (valid_to, valid_from, pos, changeset, publish_uri,"
    "                                    key_digest)"
    "  SELECT $2, array_agg(tvf), array_agg(pos), array_agg(tcs), array_agg(tpu),"
    "         array_agg(key_digest) FROM upd HAVING count(*) > 0),"
    " ins AS ("
    "  INSERT INTO effective_rows (pos, origin, path, branch, changeset, publish_uri, vals,"
    "                              event_id, updated_at, key_digest, valid_from)"
    "  SELECT (SELECT coalesce(max(pos), 0) FROM effective_rows)"
    "         + row_number() OVER (ORDER BY m.event_seq, m.row_no),"
    "         m.origin, m.path, m.branch, m.changeset, m.publish_uri, ";

static const char apply_sql_tail[] =
    ", m.event_id, now(), m.key_digest, $2"
    "  FROM m WHERE m.tpos IS NULL"
    "  RETURNING 1)"
    " SELECT (SELECT count(*) FROM m WHERE tpos IS NOT NULL),"
    "        (SELECT count(*) FROM upd), (SELECT count(*) FROM ins)";

/*
 * ARRAY[coalesce(m.vals[array_position(m.ecols, 'name')], ''), ...] over the
 * effective columns: a new row takes the event's value of each column it has.
 */
static void
vals_expr(struct db *db, json_t *cols, struct buf *sql)
{
    size_t i;

    buf_append_str(sql, "ARRAY[");
    for (i = 0; i < json_array_size(cols); i++) {
        const char *name = json_string_value(json_array_get(cols, i));
        char *lit = PQescapeLiteral(db_conn(db), name, strlen(name));

        buf_printf(sql, "%scoalesce(m.vals[array_position(m.ecols, %s::text)], '')", i ? ", " : "",
                   lit ? lit : "''");
        PQfreemem(lit);
    }
    buf_append_str(sql, "]::text[]");
}

static const char new_columns_sql[] =
    "SELECT coalesce(json_agg(name ORDER BY first_seen), '[]') FROM ("
    "  SELECT c.name, min(ARRAY[e.sequence, c.ord]) AS first_seen"
    "  FROM events e, unnest(e.columns) WITH ORDINALITY AS c(name, ord)"
    "  WHERE e.sequence > $1 GROUP BY c.name) x, effective_meta m"
    " WHERE NOT (x.name = ANY (m.columns))";

/*
 * Step 2: the effective columns followed by the pending events' new ones
 * (*cols), the new ones alone (*added_cols), and the current generation.
 */
static enum err
pending_columns(struct db *db, const char *last, struct merge_counts *c, json_t **cols,
                json_t **added_cols, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    size_t i;
    json_t *v;
    enum err rc;

    rc = db_query(db, &res, "SELECT array_to_json(columns), generation FROM effective_meta", 0,
                  NULL, errbuf, errlen);
    if (rc)
        return rc;
    *cols = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    c->generation = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    res = NULL;
    rc = db_query(db, &res, new_columns_sql, 1, &last, errbuf, errlen);
    if (rc)
        return rc;
    *added_cols = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (!*cols || !*added_cols)
        return err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
    json_array_foreach(*added_cols, i, v) json_array_append(*cols, v);
    return ERR_OK;
}

/* Step 3: winners, updates and appends in one statement over the columns cols; the counts. */
static enum err
apply_rows(struct db *db, const char *last, json_t *cols, struct merge_counts *c, char *errbuf,
           size_t errlen)
{
    PGresult *res = NULL;
    struct buf sql;
    char next_gen[32];
    const char *params[2];
    enum err rc;

    snprintf(next_gen, sizeof(next_gen), "%lld", c->generation + 1);
    params[0] = last;
    params[1] = next_gen;
    buf_init(&sql, 0);
    buf_append_str(&sql, apply_sql_head);
    vals_expr(db, cols, &sql);
    buf_append_str(&sql, apply_sql_tail);
    rc = db_query(db, &res, sql.data, 2, params, errbuf, errlen);
    buf_release(&sql);
    if (rc)
        return rc;
    c->unchanged = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    c->updated = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    c->added = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    c->unchanged -= c->updated;
    PQclear(res);
    return ERR_OK;
}

/* Step 4: a new generation with the columns (text[] literal) when something changed. */
static enum err
bump_generation(struct db *db, const char *columns, struct merge_counts *c, int columns_added,
                char *errbuf, size_t errlen)
{
    if (!c->added && !c->updated && !columns_added)
        return ERR_OK;
    return db_query_ll(db,
                       "UPDATE effective_meta SET generation = generation + 1, columns = $1, "
                       "updated_at = now() RETURNING generation",
                       1, &columns, "no effective_meta row", &c->generation, errbuf, errlen);
}

/* Steps 2-4 inside the open transaction; fills c and *added_cols. */
static enum err
apply_pending(struct db *db, const char *last, struct merge_counts *c, json_t **added_cols,
              char *errbuf, size_t errlen)
{
    json_t *cols = NULL;
    struct buf lit;
    enum err rc;

    buf_init(&lit, 0);
    rc = pending_columns(db, last, c, &cols, added_cols, errbuf, errlen);
    if (rc)
        goto out;
    json_to_array_literal(cols, &lit);
    /* the merged events are marked by the merge's (seq_lo, seq_hi]; their
     * rows stay in event_rows, the repository history */
    rc = apply_rows(db, last, cols, c, errbuf, errlen);
    if (!rc)
        rc = bump_generation(db, lit.data, c, json_array_size(*added_cols) > 0, errbuf, errlen);
out:
    json_decref(cols);
    buf_release(&lit);
    return rc;
}

static enum err
record_merge(struct db *db, json_t *m, const struct merge_counts *c, char *errbuf, size_t errlen)
{
    char buf[10][32];
    struct buf lit;
    const char *params[15];
    const char *keys[] = {"events",    "rows",    "added",      "updated",
                          "unchanged", "skipped", "generation", "duration_ms"};
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
    snprintf(buf[8], sizeof(buf[8]), "%lld", c->seq_lo);
    snprintf(buf[9], sizeof(buf[9]), "%lld", c->seq_hi);
    params[13] = c->events ? buf[8] : NULL;
    params[14] = c->events ? buf[9] : NULL;
    rc = db_query(db, NULL,
                  "INSERT INTO merges (id, status, event_count, row_count, added, updated, "
                  "unchanged, skipped, generation, duration_ms, columns_added, started_at, "
                  "finished_at, seq_lo, seq_hi) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                  "$10, $11, $12, $13, $14, $15)",
                  15, params, errbuf, errlen);
    buf_release(&lit);
    return rc;
}

/*
 * Journal io.ingestd.merge.completed for merge id, in the merge's
 * transaction, with the merge as GET /api/v1/merges/{id} reads it.
 */
static enum err
announce_merge(struct db *db, const char *id, char *errbuf, size_t errlen)
{
    json_t *stored = NULL;
    enum err rc;

    rc = merges_store_get(db, id, &stored, errbuf, errlen);
    if (!rc)
        rc = outbox_enqueue(db, OUTBOX_MERGE_COMPLETED, "/api/v1/merges", id, stored, NULL, errbuf,
                            errlen);
    json_decref(stored);
    return rc;
}

/*
 * Step 1 after the locks: what is pending - the events after the last merged
 * sequence (`last`, as text) and their rows - and the current generation.
 */
static enum err
read_pending(struct db *db, struct merge_counts *c, char last[32], char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    rc = db_query(db, &res,
                  "SELECT count(sequence), coalesce(sum(row_count), 0), "
                  "(SELECT generation FROM effective_meta), l.last, coalesce(max(sequence), 0) "
                  "FROM (SELECT coalesce(max(seq_hi), 0) AS last FROM merges) l "
                  "LEFT JOIN events ON sequence > l.last GROUP BY l.last",
                  0, NULL, errbuf, errlen);
    if (rc)
        return rc;
    c->events = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    c->rows = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    c->generation = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    c->seq_lo = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    c->seq_hi = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    snprintf(last, 32, "%s", PQgetvalue(res, 0, 3));
    PQclear(res);
    return ERR_OK;
}

enum err
merges_store_run(struct db *db, int dry_run, json_t **merge, char *errbuf, size_t errlen)
{
    struct merge_counts c;
    json_t *added_cols = NULL;
    long long t0 = clock_mono_ms();    /* duration */
    long long wall0 = clock_real_ms(); /* timestamps */
    char started[32];
    char finished[32];
    char last[32];
    char id[37];
    uuid_t u;
    enum err rc;

    *merge = NULL;
    memset(&c, 0, sizeof(c));
    uuid_generate(u);
    uuid_unparse_lower(u, id);
    log_timestamp(started, wall0);
    rc = db_exec(db, "BEGIN; SET LOCAL work_mem = '256MB'", errbuf, errlen);
    if (!rc)
        rc = db_exec(db, LOCK_EFFECTIVE_SQL, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "LOCK TABLE events IN SHARE MODE", errbuf, errlen);
    if (!rc)
        rc = read_pending(db, &c, last, errbuf, errlen);
    if (!rc && c.events > 0)
        rc = apply_pending(db, last, &c, &added_cols, errbuf, errlen);
    if (rc)
        goto out;
    log_timestamp(finished, clock_real_ms());
    *merge = merge_json(id, "succeeded", dry_run, &c, added_cols, started, finished,
                        clock_mono_ms() - t0);
    added_cols = NULL;
    if (dry_run) {
        db_rollback(db);
        goto out;
    }
    crashpoint("merge.after_apply");
    rc = record_merge(db, *merge, &c, errbuf, errlen);
    if (!rc && (c.added || c.updated || json_array_size(json_object_get(*merge, "columns_added"))))
        rc = announce_merge(db, id, errbuf, errlen);
    crashpoint("merge.before_commit");
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (!rc)
        log_json(LOG_INFO, "merge", json_deep_copy(*merge));
out:
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
    return db_get_json(db, "SELECT " MERGE_COLUMNS " FROM merges WHERE id = $1", 1, &id,
                       merge_row_json, "no such merge", merge, errbuf, errlen);
}

enum err
merges_store_list(struct db *db, const char *before, int limit, json_t **items, int *more,
                  char *errbuf, size_t errlen)
{
    static const struct db_page_query q = {MERGE_COLUMNS, "merges", "started_at", "merge",
                                           merge_row_json};

    return db_page_before_json(db, &q, before, limit, items, more, errbuf, errlen);
}

enum err
merges_store_pending(struct db *db, long long *count, char *errbuf, size_t errlen)
{
    *count = 0;
    return db_query_ll(db,
                       "SELECT count(*) FROM events "
                       "WHERE sequence > (SELECT coalesce(max(seq_hi), 0) FROM merges)",
                       0, NULL, "no count", count, errbuf, errlen);
}
