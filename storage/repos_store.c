/*
 * repos_store.c - the effective repos.csv
 *
 * Rendering uses COPY ... TO STDOUT (FORMAT csv) over the effective columns:
 * with empty values sent as NULL, PostgreSQL's CSV quoting is exactly the
 * served format (quoted only for comma, quote, CR, LF; quotes doubled; LF
 * line ends), and it never meets the single-column "\." case because the
 * file always has at least origin and path.
 */
#include "storage/repos_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/repos_csv.h"
#include "storage/db.h"
#include "storage/locks.h"
#include "storage/pgcopy.h"

static enum err
read_meta(struct db *db, json_t **cols, int64_t *generation, long long *updated_ms, char *errbuf,
          size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    rc = db_query(db, &res,
                  "SELECT generation, (extract(epoch FROM updated_at) * 1000)::bigint, "
                  "array_to_json(columns) FROM effective_meta",
                  0, NULL, errbuf, errlen);
    if (rc)
        return rc;
    *generation = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (updated_ms)
        *updated_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    if (cols)
        *cols = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
    PQclear(res);
    if (cols && !*cols)
        return err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
    return ERR_OK;
}

/* A read-only snapshot transaction, and the effective columns and generation it sees. */
static enum err
begin_snapshot(struct db *db, json_t **cols, int64_t *generation, long long *updated_ms,
               char *errbuf, size_t errlen)
{
    enum err rc;

    rc = db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", errbuf, errlen);
    if (!rc)
        rc = read_meta(db, cols, generation, updated_ms, errbuf, errlen);
    return rc;
}

enum err
repos_store_generation(struct db *db, int64_t *generation, long long *updated_ms, char *errbuf,
                       size_t errlen)
{
    return read_meta(db, NULL, generation, updated_ms, errbuf, errlen);
}

static enum err
copy_out(struct db *db, const char *sql, struct buf *out, char *errbuf, size_t errlen)
{
    PGconn *conn = db_conn(db);
    PGresult *res;
    char *data = NULL;
    int n;
    enum err rc = ERR_OK;

    res = PQexec(conn, sql);
    if (!res || PQresultStatus(res) != PGRES_COPY_OUT) {
        rc = db_result_error(db, res, "copy out", errbuf, errlen);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    while ((n = PQgetCopyData(conn, &data, 0)) > 0) {
        if (!rc)
            rc = buf_append(out, data, (size_t)n);
        PQfreemem(data);
    }
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc)
            rc = db_result_error(db, res, "copy out", errbuf, errlen);
        PQclear(res);
    }
    if (n == -2 && !rc)
        rc = db_result_error(db, NULL, "copy out", errbuf, errlen);
    return rc;
}

enum err
repos_store_write_csv(struct db *db, json_t *cols, const char *rows, struct buf *out, char *errbuf,
                      size_t errlen)
{
    struct buf sql;
    size_t i;
    enum err rc;

    buf_init(&sql, 0);
    for (i = 0; i < json_array_size(cols); i++) {
        const char *name = json_string_value(json_array_get(cols, i));

        if (i)
            buf_append_char(out, ',');
        repos_csv_write_field(out, name, strlen(name));
    }
    buf_append_char(out, '\n');
    buf_append_str(&sql, "COPY (SELECT ");
    for (i = 0; i < json_array_size(cols); i++) {
        const char *name = json_string_value(json_array_get(cols, i));

        if (i)
            buf_append_str(&sql, ", ");
        if (strcmp(name, "changeset") == 0)
            buf_append_str(&sql, "nullif(changeset, '')");
        else if (strcmp(name, "publishUri") == 0)
            buf_append_str(&sql, "nullif(publish_uri, '')");
        else
            buf_printf(&sql, "nullif(vals[%zu], '')", i + 1);
    }
    buf_printf(&sql, " FROM %s ORDER BY pos) TO STDOUT WITH (FORMAT csv)", rows);
    rc = copy_out(db, sql.data, out, errbuf, errlen);
    buf_release(&sql);
    return rc;
}

enum err
repos_store_render(struct db *db, struct buf *out, int64_t *generation, long long *updated_ms,
                   char *errbuf, size_t errlen)
{
    json_t *cols = NULL;
    enum err rc;

    rc = begin_snapshot(db, &cols, generation, updated_ms, errbuf, errlen);
    if (!rc)
        rc = repos_store_write_csv(db, cols, "effective_rows", out, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_rollback(db);
    json_decref(cols);
    return rc;
}

/* What copy_effective_rows() writes: the document's rows, valid from a generation. */
struct effective_copy {
    const struct repos_csv *doc;
    long long valid_from;
};

static enum err
effective_row_line(const void *ctx, size_t r, struct buf *out)
{
    const struct effective_copy *ec = ctx;
    enum err rc = buf_printf(out, "%zu\t%lld\t", r + 1, ec->valid_from);

    return rc ? rc : pgcopy_repos_row(out, ec->doc, r);
}

/* COPY the document's rows into effective_rows at positions 1..nrows, valid from valid_from. */
static enum err
copy_effective_rows(struct db *db, const struct repos_csv *doc, long long valid_from, char *errbuf,
                    size_t errlen)
{
    struct effective_copy ec = {doc, valid_from};

    return db_copy_rows(db,
                        "COPY effective_rows (pos, valid_from, origin, path, branch, changeset, "
                        "publish_uri, vals, key_digest) FROM STDIN",
                        doc->nrows, effective_row_line, &ec, errbuf, errlen);
}

/*
 * Every current row becomes history, valid up to the generation `next`
 * (text). First the merges' retired versions (repos_history_merges), which
 * take their other values from these rows, become whole repos_history rows:
 * the rows are about to go (migration 0025).
 */
static enum err
retire_effective_rows(struct db *db, const char *next, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = db_exec(db,
                 "WITH d AS (DELETE FROM repos_history_merges RETURNING *) "
                 "INSERT INTO repos_history (valid_from, valid_to, pos, origin, path, branch, "
                 "changeset, publish_uri, vals, key_digest) "
                 "SELECT v.valid_from, d.valid_to, v.pos, e.origin, e.path, e.branch, "
                 "v.changeset, v.publish_uri, e.vals, v.key_digest FROM d "
                 "CROSS JOIN LATERAL unnest(d.valid_from, d.pos, d.changeset, d.publish_uri, "
                 "d.key_digest) AS v (valid_from, pos, changeset, publish_uri, key_digest) "
                 "JOIN effective_rows e ON e.key_digest = v.key_digest",
                 errbuf, errlen);
    if (rc)
        return rc;
    return db_query(db, NULL,
                    "INSERT INTO repos_history (valid_from, valid_to, pos, origin, path, branch, "
                    "changeset, publish_uri, vals, key_digest) SELECT valid_from, $1, pos, "
                    "origin, path, branch, changeset, publish_uri, vals, key_digest "
                    "FROM effective_rows",
                    1, &next, errbuf, errlen);
}

static int
if_match_holds(const struct repos_if_match *m, int64_t generation)
{
    size_t i;

    if (!m->present || m->any)
        return 1;
    for (i = 0; i < m->ngens; i++)
        if (m->gens[i] == generation)
            return 1;
    return 0;
}

enum err
repos_store_replace(struct db *db, const struct repos_csv *doc, const struct repos_if_match *m,
                    int64_t *generation, char *errbuf, size_t errlen)
{
    struct buf lit;
    const char *param;
    long long gen = 0;
    char next[32];
    enum err rc;

    buf_init(&lit, 0);
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (!rc)
        rc = db_exec(db, LOCK_EFFECTIVE_SQL, errbuf, errlen);
    if (!rc)
        rc = db_query_ll(db, "SELECT generation FROM effective_meta FOR UPDATE", 0, NULL,
                         "no effective_meta row", &gen, errbuf, errlen);
    if (!rc && !if_match_holds(m, gen))
        rc = err_set(ERR_PRECONDITION, errbuf, errlen,
                     "If-Match does not name the current generation \"%lld\"", gen);
    if (!rc) {
        snprintf(next, sizeof(next), "%lld", gen + 1);
        rc = retire_effective_rows(db, next, errbuf, errlen);
    }
    /* DELETE, not TRUNCATE: renders in REPEATABLE READ must keep seeing their generation */
    if (!rc)
        rc = db_exec(db, "DELETE FROM effective_rows", errbuf, errlen);
    if (!rc && doc->nrows)
        rc = copy_effective_rows(db, doc, gen + 1, errbuf, errlen);
    if (rc)
        goto out;
    pgcopy_param_array(&lit, (const char *const *)doc->cols, NULL, doc->ncols);
    param = lit.data;
    rc = db_query_ll(db,
                     "UPDATE effective_meta SET generation = generation + 1, columns = $1, "
                     "updated_at = now() RETURNING generation",
                     1, &param, "no effective_meta row", &gen, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (!rc)
        *generation = gen;
out:
    buf_release(&lit);
    if (rc)
        db_rollback(db);
    return rc;
}

/* Row object of GET /api/v1/repos. */
static json_t *
repo_json(json_t *cols, PGresult *res, int r)
{
    json_t *o = json_object();
    json_t *vals = json_loads(PQgetvalue(res, r, 4), 0, NULL);
    json_t *map = json_object();
    const char *changeset = PQgetvalue(res, r, 7);
    const char *publish_uri = PQgetvalue(res, r, 8);
    size_t i;

    for (i = 0; i < json_array_size(cols); i++) {
        const char *name = json_string_value(json_array_get(cols, i));
        const char *v = json_string_value(json_array_get(vals, i));

        if (strcmp(name, "changeset") == 0)
            v = changeset;
        else if (strcmp(name, "publishUri") == 0)
            v = publish_uri;
        json_object_set_new(map, name, json_string(v ? v : ""));
    }
    json_object_set_new(o, "origin", json_string(PQgetvalue(res, r, 1)));
    json_object_set_new(o, "path", json_string(PQgetvalue(res, r, 2)));
    json_object_set_new(o, "branch", json_string(PQgetvalue(res, r, 3)));
    json_object_set_new(o, "changeset", json_string(changeset));
    json_object_set_new(o, "publishUri", json_string(publish_uri));
    json_object_set_new(o, "columns", map);
    json_object_set_new(o, "event_id",
                        PQgetisnull(res, r, 5) ? json_null() : json_string(PQgetvalue(res, r, 5)));
    json_object_set_new(o, "updated_at", json_string(PQgetvalue(res, r, 6)));
    json_decref(vals);
    return o;
}

enum err
repos_store_list(struct db *db, const struct repos_filter *f, json_t **items, int64_t *next_after,
                 int64_t *generation, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    json_t *cols = NULL;
    char after[32];
    char limit[16];
    const char *params[6];
    int i;
    int n;
    enum err rc;

    *items = NULL;
    *next_after = 0;
    rc = begin_snapshot(db, &cols, generation, NULL, errbuf, errlen);
    if (rc)
        goto out;
    snprintf(after, sizeof(after), "%lld", (long long)f->after);
    snprintf(limit, sizeof(limit), "%d", f->limit + 1);
    params[0] = f->origin;
    params[1] = f->path;
    params[2] = f->path_prefix;
    params[3] = f->branch;
    params[4] = after;
    params[5] = limit;
    rc = db_query(db, &res,
                  "SELECT pos, origin, path, branch, array_to_json(vals), event_id, " SQL_TS(
                      "updated_at") ", changeset, publish_uri FROM effective_rows "
                                    "WHERE ($1::text IS NULL OR origin = $1) "
                                    "AND ($2::text IS NULL OR path = $2) "
                                    "AND ($3::text IS NULL OR starts_with(path, $3)) "
                                    "AND ($4::text IS NULL OR branch = $4) AND pos > $5 "
                                    "ORDER BY pos LIMIT $6",
                  6, params, errbuf, errlen);
    if (rc)
        goto out;
    n = PQntuples(res);
    if (n > f->limit)
        n = f->limit;
    *items = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(*items, repo_json(cols, res, i));
    if (PQntuples(res) > f->limit)
        *next_after = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
    rc = db_exec(db, "COMMIT", errbuf, errlen);
out:
    PQclear(res);
    json_decref(cols);
    if (rc) {
        db_rollback(db);
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}
