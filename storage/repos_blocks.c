/*
 * repos_blocks.c - the effective repos.csv rendered in blocks of positions
 *
 * The rows come from SELECT in text format and are written with
 * repos_csv_write_field(): empty values unquoted, a value quoted only for a
 * comma, quote, CR or LF - the bytes COPY (FORMAT csv) gives with empty
 * values sent as NULL (repos_store_write_csv(), the full render). Up to
 * BATCH_BLOCKS blocks are read by one query (a range of the primary key per
 * run of consecutive blocks), so a few changed blocks cost one round trip.
 */
#include "storage/repos_blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/repos_csv.h"
#include "core/buf.h"
#include "storage/db.h"

#define BATCH_BLOCKS 256 /* blocks read by one query at most */

/*
 * Generation, time, columns and the block count, in the open snapshot; and
 * the oldest generation kept (*kept): repos_history holds every version
 * retired after it (the sweep deletes older generations in the statement
 * that deletes their versions, repos_history.c).
 */
static enum err
read_state(struct db *db, struct repos_blocks *rb, long long *kept, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    long long max_pos;
    enum err rc;

    rc = db_query(db, &res,
                  "SELECT generation, (extract(epoch FROM updated_at) * 1000)::bigint, "
                  "array_to_json(columns), (SELECT coalesce(max(pos), 0) FROM effective_rows), "
                  "(SELECT coalesce(min(generation), -1) FROM repos_generations) "
                  "FROM effective_meta",
                  0, NULL, errbuf, errlen);
    if (rc)
        return rc;
    rb->generation = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    rb->updated_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    rb->cols = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
    max_pos = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    *kept = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    PQclear(res);
    if (!rb->cols)
        return err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
    rb->nblocks = (max_pos + REPOS_BLOCK_ROWS - 1) / REPOS_BLOCK_ROWS;
    return ERR_OK;
}

/*
 * The blocks holding a row written after generation rb->since, ascending:
 * those of the positions whose version of then was retired since (a PUT
 * moved it to repos_history, a merge's update to its row of
 * repos_history_merges, valid_to > since), and every block from the last one
 * of generation since on (rows appended after it). No index on
 * effective_rows.valid_from: the merges' updates stay HOT (migration 0023).
 * The versions are read through the indexes on valid_to even before
 * statistics exist (a sequential scan would be O(history)).
 */
static enum err
changed_blocks(struct db *db, const struct repos_blocks *rb, long long **out, size_t *n,
               char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    long long tail = rb->since_nblocks > 0 ? rb->since_nblocks - 1 : 0;
    char s[32];
    const char *param = s;
    size_t rows;
    size_t i;
    long long b;
    enum err rc;

    snprintf(s, sizeof(s), "%lld", (long long)rb->since);
    rc = db_exec(db, "SET LOCAL enable_seqscan = off", errbuf, errlen);
    if (!rc)
        rc = db_query(db, &res,
                      "SELECT (pos - 1) / " REPOS_BLOCK_ROWS_SQL " FROM repos_history "
                      "WHERE valid_to > $1::bigint UNION SELECT (p - 1) / " REPOS_BLOCK_ROWS_SQL
                      " FROM repos_history_merges m, unnest(m.pos) p WHERE m.valid_to > $1::bigint "
                      "ORDER BY 1",
                      1, &param, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "SET LOCAL enable_seqscan = on", errbuf, errlen);
    if (rc) {
        PQclear(res);
        return rc;
    }
    rows = (size_t)PQntuples(res);
    *out = xcalloc(rows + (size_t)(rb->nblocks > tail ? rb->nblocks - tail : 0) + 1,
                   sizeof(long long));
    *n = 0;
    for (i = 0; i < rows; i++) {
        b = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
        if (b < tail && b < rb->nblocks)
            (*out)[(*n)++] = b;
    }
    for (b = tail; b < rb->nblocks; b++)
        (*out)[(*n)++] = b;
    PQclear(res);
    return ERR_OK;
}

/* SELECT pos, <one text column per effective column> FROM effective_rows t (no WHERE yet). */
static void
select_sql(json_t *cols, struct buf *sql)
{
    size_t i;

    buf_append_str(sql, "SELECT t.pos");
    for (i = 0; i < json_array_size(cols); i++) {
        const char *name = json_string_value(json_array_get(cols, i));

        if (strcmp(name, "changeset") == 0)
            buf_append_str(sql, ", t.changeset");
        else if (strcmp(name, "publishUri") == 0)
            buf_append_str(sql, ", t.publish_uri");
        else
            buf_printf(sql, ", t.vals[%zu]", i + 1);
    }
    buf_append_str(sql, " FROM effective_rows t WHERE ");
}

/*
 * The WHERE of the blocks list[0..n) (ascending): one position range per
 * run of consecutive blocks, OR'ed - the planner reads each range from the
 * primary key (a bitmap OR), never the whole table.
 */
static void
where_sql(const long long *list, size_t n, struct buf *sql)
{
    size_t i = 0;

    while (i < n) {
        size_t j = i;

        while (j + 1 < n && list[j + 1] == list[j] + 1)
            j++;
        buf_printf(sql, "%s(t.pos > %lld AND t.pos <= %lld)", i ? " OR " : "",
                   list[i] * REPOS_BLOCK_ROWS, (list[j] + 1) * REPOS_BLOCK_ROWS);
        i = j + 1;
    }
    buf_append_str(sql, " ORDER BY t.pos");
}

static enum err
write_header(struct repos_blocks *rb, struct buf *out, char *errbuf, size_t errlen)
{
    size_t i;

    for (i = 0; i < json_array_size(rb->cols); i++) {
        const char *name = json_string_value(json_array_get(rb->cols, i));

        if (i)
            buf_append_char(out, ',');
        repos_csv_write_field(out, name, strlen(name));
    }
    buf_append_char(out, '\n');
    return rb->fn(rb->ctx, -1, out->data, out->len, errbuf, errlen);
}

/* Append row r of res (column 0: pos) to out as one line of the file. */
static void
write_row(PGresult *res, int r, struct buf *out)
{
    int ncols = PQnfields(res);
    int c;

    for (c = 1; c < ncols; c++) {
        if (c > 1)
            buf_append_char(out, ',');
        if (!PQgetisnull(res, r, c))
            repos_csv_write_field(out, PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c));
    }
    buf_append_char(out, '\n');
}

/* The blocks list[0..n) (ascending), read by one query, each passed to rb->fn. */
static enum err
render_batch(struct db *db, struct repos_blocks *rb, const char *head, const long long *list,
             size_t n, struct buf *out, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    struct buf q;
    size_t i;
    int r = 0;
    int nrows;
    enum err rc;

    buf_init(&q, 0);
    buf_append_str(&q, head);
    where_sql(list, n, &q);
    rc = db_query(db, &res, q.data, 0, NULL, errbuf, errlen);
    buf_release(&q);
    if (rc)
        return rc;
    nrows = PQntuples(res);
    for (i = 0; i < n && !rc; i++) {
        long long end = (list[i] + 1) * REPOS_BLOCK_ROWS;

        buf_reset(out);
        for (; r < nrows && strtoll(PQgetvalue(res, r, 0), NULL, 10) <= end; r++)
            write_row(res, r, out);
        rc = rb->fn(rb->ctx, list[i], out->data ? out->data : "", out->len, errbuf, errlen);
        rb->rendered++;
    }
    PQclear(res);
    return rc;
}

/* Every block of list[0..n) (ascending), BATCH_BLOCKS per query. */
static enum err
render_list(struct db *db, struct repos_blocks *rb, const long long *list, size_t n, char *errbuf,
            size_t errlen)
{
    struct buf sql;
    struct buf out;
    size_t i;
    enum err rc = ERR_OK;

    buf_init(&sql, 0);
    buf_init(&out, 0);
    select_sql(rb->cols, &sql);
    for (i = 0; i < n && !rc; i += BATCH_BLOCKS)
        rc = render_batch(db, rb, sql.data, list + i, n - i < BATCH_BLOCKS ? n - i : BATCH_BLOCKS,
                          &out, errbuf, errlen);
    buf_release(&sql);
    buf_release(&out);
    return rc;
}

enum err
repos_blocks_render(struct db *db, struct repos_blocks *rb, char *errbuf, size_t errlen)
{
    long long *list = NULL;
    struct buf header;
    long long kept = -1;
    size_t n = 0;
    size_t i;
    enum err rc;

    rb->cols = NULL;
    rb->nblocks = rb->rendered = 0;
    buf_init(&header, 0);
    rc = db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL jit = off", errbuf,
                 errlen);
    if (!rc)
        rc = read_state(db, rb, &kept, errbuf, errlen);
    if (rc)
        goto out;
    rb->full = rb->since < 0 || rb->since > rb->generation || rb->since < kept || kept < 0 ||
               !rb->since_cols || !json_equal(rb->cols, rb->since_cols);
    if (rb->full) {
        n = (size_t)rb->nblocks;
        list = xcalloc(n ? n : 1, sizeof(long long));
        for (i = 0; i < n; i++)
            list[i] = (long long)i;
    } else {
        rc = changed_blocks(db, rb, &list, &n, errbuf, errlen);
    }
    if (!rc)
        rc = write_header(rb, &header, errbuf, errlen);
    if (!rc)
        rc = render_list(db, rb, list, n, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
out:
    if (rc)
        db_rollback(db);
    free(list);
    buf_release(&header);
    return rc;
}
