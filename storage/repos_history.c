/*
 * repos_history.c - past generations of the effective repos.csv
 *
 * The rows of generation G are the current rows valid from G or earlier and
 * the retired versions valid for G (migrations/0014_repos_history.sql, read
 * through the view repos_history_versions of 0025);
 * generation G's columns are in repos_generations. Both are read in one
 * REPEATABLE READ snapshot with the window check, so a sweep committed
 * meanwhile never removes rows from under a request it let through.
 */
#include "storage/repos_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "storage/db.h"
#include "storage/repos_store.h"

/* The rows of generation g as a parenthesised SELECT (no alias). */
static void
snapshot_sql(struct buf *sql, int64_t g)
{
    buf_printf(sql,
               "(SELECT valid_from, pos, origin, path, branch, changeset, publish_uri, vals, "
               "key_digest FROM effective_rows WHERE valid_from <= %lld UNION ALL "
               "SELECT valid_from, pos, origin, path, branch, changeset, publish_uri, vals, "
               "key_digest FROM repos_history_versions WHERE valid_from <= %lld AND "
               "valid_to > %lld)",
               (long long)g, (long long)g, (long long)g);
}

static const char check_sql[] =
    "SELECT m.generation, (SELECT min(generation) FROM repos_generations), "
    "array_to_json(g.columns), (extract(epoch FROM g.created_at) * 1000)::bigint, "
    "coalesce((SELECT n.created_at < now() - make_interval(secs => $2::double precision) "
    "          FROM repos_generations n WHERE n.generation = $1::bigint + 1), false) "
    "FROM effective_meta m LEFT JOIN repos_generations g ON g.generation = $1::bigint";

/*
 * Inside the snapshot: generation g exists and is in the window; *cols gets
 * its columns, *updated_ms (may be NULL) when it was made.
 */
static enum err
check_generation(struct db *db, int64_t g, long long window_s, json_t **cols, long long *updated_ms,
                 char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    char gs[32];
    char ws[32];
    const char *params[2] = {gs, ws};
    long long current;
    enum err rc;

    *cols = NULL;
    snprintf(gs, sizeof(gs), "%lld", (long long)g);
    snprintf(ws, sizeof(ws), "%lld", window_s);
    rc = db_query(db, &res, check_sql, 2, params, errbuf, errlen);
    if (rc)
        return rc;
    current = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (g > current)
        rc = err_set(ERR_NOT_FOUND, errbuf, errlen,
                     "generation %lld does not exist: the current generation is %lld", (long long)g,
                     current);
    else if (PQgetisnull(res, 0, 2))
        rc = err_set(ERR_GONE, errbuf, errlen,
                     "generation %lld is older than the history kept (from generation %s)",
                     (long long)g, PQgetvalue(res, 0, 1));
    else if (PQgetvalue(res, 0, 4)[0] == 't')
        rc = err_set(ERR_GONE, errbuf, errlen,
                     "generation %lld was replaced more than INGESTD_REPOS_HISTORY (%lld s) ago",
                     (long long)g, window_s);
    if (!rc) {
        *cols = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
        if (updated_ms)
            *updated_ms = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        if (!*cols)
            rc = err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
    }
    PQclear(res);
    return rc;
}

enum err
repos_history_render(struct db *db, int64_t generation, long long window_s, struct buf *out,
                     long long *updated_ms, char *errbuf, size_t errlen)
{
    json_t *cols = NULL;
    struct buf rows;
    enum err rc;

    buf_init(&rows, 0);
    rc = db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", errbuf, errlen);
    if (!rc)
        rc = check_generation(db, generation, window_s, &cols, updated_ms, errbuf, errlen);
    if (!rc) {
        snapshot_sql(&rows, generation);
        buf_append_str(&rows, " s");
        rc = repos_store_write_csv(db, cols, rows.data, out, errbuf, errlen);
    }
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_rollback(db);
    json_decref(cols);
    buf_release(&rows);
    return rc;
}

/* {name: value} of one row over the columns cols (as the file shows them). */
static json_t *
row_values(json_t *cols, const char *vals_json, const char *changeset, const char *publish_uri)
{
    json_t *vals = json_loads(vals_json, 0, NULL);
    json_t *o = json_object();
    size_t i;

    for (i = 0; i < json_array_size(cols); i++) {
        const char *name = json_string_value(json_array_get(cols, i));
        const char *v = json_string_value(json_array_get(vals, i));

        if (strcmp(name, "changeset") == 0)
            v = changeset;
        else if (strcmp(name, "publishUri") == 0)
            v = publish_uri;
        json_object_set_new(o, name, json_string(v ? v : ""));
    }
    json_decref(vals);
    return o;
}

static const char *
value_of(json_t *row, const char *name)
{
    const char *v = json_string_value(json_object_get(row, name));

    return v ? v : "";
}

/* The columns of `to`, then those only `from` has. */
static json_t *
union_columns(json_t *cols_from, json_t *cols_to)
{
    json_t *all = json_deep_copy(cols_to);
    json_t *seen = json_object();
    size_t i;
    json_t *v;

    json_array_foreach(cols_to, i, v) json_object_set(seen, json_string_value(v), json_true());
    json_array_foreach(cols_from, i, v)
    {
        if (!json_object_get(seen, json_string_value(v)))
            json_array_append(all, v);
    }
    json_decref(seen);
    return all;
}

/*
 * One diff row from a (version in from, or NULL) and b (in to, or NULL);
 * NULL when the two show the same values. counts: added, changed, removed.
 */
static json_t *
diff_row(json_t *all, json_t *a, json_t *b, long long counts[3])
{
    json_t *row = json_object();
    json_t *shown = b ? b : a;
    json_t *changed = NULL;
    json_t *previous = NULL;
    size_t i;
    json_t *v;

    if (a && b) {
        changed = json_array();
        previous = json_object();
        json_array_foreach(all, i, v)
        {
            const char *name = json_string_value(v);

            if (strcmp(value_of(a, name), value_of(b, name)) != 0) {
                json_array_append(changed, v);
                json_object_set_new(previous, name, json_string(value_of(a, name)));
            }
        }
        if (json_array_size(changed) == 0) {
            json_decref(changed);
            json_decref(previous);
            json_decref(row);
            return NULL;
        }
    }
    json_object_set_new(row, "change", json_string(!a ? "added" : !b ? "removed" : "changed"));
    counts[!a ? 0 : !b ? 2 : 1]++;
    json_object_set_new(row, "origin", json_string(value_of(shown, "origin")));
    json_object_set_new(row, "path", json_string(value_of(shown, "path")));
    json_object_set_new(row, "branch", json_string(value_of(shown, "branch")));
    if (changed) {
        json_object_set_new(row, "changed", changed);
        json_object_set_new(row, "previous", previous);
    }
    json_object_set(row, "columns", shown);
    return row;
}

/* Rows whose version differs between the two generations (same valid_from: same version). */
static void
diff_sql(struct buf *sql, int64_t from, int64_t to)
{
    buf_append_str(sql, "WITH a AS ");
    snapshot_sql(sql, from);
    buf_append_str(sql, ", b AS ");
    snapshot_sql(sql, to);
    buf_append_str(sql, " SELECT a.pos, array_to_json(a.vals), a.changeset, a.publish_uri, "
                        "b.pos, array_to_json(b.vals), b.changeset, b.publish_uri "
                        "FROM a FULL JOIN b ON a.key_digest = b.key_digest "
                        "WHERE a.pos IS NULL OR b.pos IS NULL OR a.valid_from <> b.valid_from "
                        "ORDER BY b.pos IS NULL, coalesce(b.pos, a.pos)");
}

/* The diff body from the query's rows. */
static json_t *
diff_json(PGresult *res, int64_t from, int64_t to, json_t *cols_from, json_t *cols_to)
{
    json_t *all = union_columns(cols_from, cols_to);
    json_t *rows = json_array();
    long long counts[3] = {0, 0, 0};
    int r;

    for (r = 0; r < PQntuples(res); r++) {
        json_t *a = NULL;
        json_t *b = NULL;
        json_t *row;

        if (!PQgetisnull(res, r, 0))
            a = row_values(cols_from, PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
                           PQgetvalue(res, r, 3));
        if (!PQgetisnull(res, r, 4))
            b = row_values(cols_to, PQgetvalue(res, r, 5), PQgetvalue(res, r, 6),
                           PQgetvalue(res, r, 7));
        row = diff_row(all, a, b, counts);
        if (row)
            json_array_append_new(rows, row);
        json_decref(a);
        json_decref(b);
    }
    return json_pack("{s:I,s:I,s:o,s:I,s:I,s:I,s:o}", "from", (json_int_t)from, "to",
                     (json_int_t)to, "columns", all, "added", (json_int_t)counts[0], "changed",
                     (json_int_t)counts[1], "removed", (json_int_t)counts[2], "rows", rows);
}

enum err
repos_history_diff(struct db *db, int64_t from, int64_t to, long long window_s, json_t **diff,
                   char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    json_t *cols_from = NULL;
    json_t *cols_to = NULL;
    struct buf sql;
    enum err rc;

    *diff = NULL;
    if (from > to)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "from (%lld) must not be above to (%lld)",
                       (long long)from, (long long)to);
    buf_init(&sql, 0);
    rc = db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", errbuf, errlen);
    if (!rc)
        rc = check_generation(db, to, window_s, &cols_to, NULL, errbuf, errlen);
    if (!rc)
        rc = check_generation(db, from, window_s, &cols_from, NULL, errbuf, errlen);
    if (!rc) {
        diff_sql(&sql, from, to);
        rc = db_query(db, &res, sql.data, 0, NULL, errbuf, errlen);
    }
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (!rc)
        *diff = diff_json(res, from, to, cols_from, cols_to);
    else
        db_rollback(db);
    PQclear(res);
    json_decref(cols_from);
    json_decref(cols_to);
    buf_release(&sql);
    return rc;
}

/* The newest generation made before the window (its versions are unread); -1: none. */
static enum err
sweep_cutoff(struct db *db, const char *window_s, long long *cutoff, char *errbuf, size_t errlen)
{
    return db_query_ll(db,
                       "SELECT coalesce(max(generation), -1) FROM repos_generations "
                       "WHERE created_at < now() - make_interval(secs => $1::double precision)",
                       1, &window_s, "no cutoff", cutoff, errbuf, errlen);
}

long long
repos_history_sweep(struct db *db, long long window_s)
{
    PGresult *res = NULL;
    char errbuf[ERRBUF_SIZE];
    char ws[32];
    char cs[32];
    char batch[16];
    const char *params[2] = {cs, batch};
    long long cutoff = -1;
    long long deleted = 0;
    enum err rc;

    snprintf(ws, sizeof(ws), "%lld", window_s);
    snprintf(batch, sizeof(batch), "%d", REPOS_HISTORY_SWEEP_BATCH);
    rc = sweep_cutoff(db, ws, &cutoff, errbuf, sizeof(errbuf));
    if (rc || cutoff < 0)
        goto out;
    snprintf(cs, sizeof(cs), "%lld", cutoff);
    /* the generations below the cutoff go in the same statement: while a
     * generation is in repos_generations, every version retired after it is
     * still here (repos_blocks.c relies on it) */
    rc = db_query(db, &res,
                  "WITH g AS (DELETE FROM repos_generations WHERE generation < $1::bigint), "
                  "mv AS (DELETE FROM repos_history_merges WHERE valid_to <= $1::bigint "
                  "       RETURNING cardinality(pos) AS n), "
                  "h AS (DELETE FROM repos_history WHERE ctid = ANY (ARRAY("
                  " SELECT ctid FROM repos_history WHERE valid_to <= $1::bigint LIMIT $2::int))"
                  " RETURNING 1) "
                  "SELECT (SELECT count(*) FROM h) + (SELECT coalesce(sum(n), 0) FROM mv)",
                  2, params, errbuf, sizeof(errbuf));
    if (!rc)
        deleted = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
out:
    if (rc)
        log_json(LOG_WARN, "repos history sweep failed", json_pack("{s:s}", "error", errbuf));
    else if (deleted > 0)
        log_json(LOG_INFO, "repos history swept",
                 json_pack("{s:I}", "versions", (json_int_t)deleted));
    return deleted;
}
