/*
 * events_store.c - the events table family
 *
 * An upload is one transaction: INSERT the event (ON CONFLICT DO NOTHING
 * covers both the idempotency key and the content digest), then COPY its
 * rows into event_rows. Uploads hold ROW EXCLUSIVE on events; a merge takes
 * SHARE on it, so a merge never runs while an accepted sequence number is
 * still uncommitted (sequence order = commit order as the merge sees it).
 */
#include "storage/events_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "codec/repos_csv.h"
#include "core/buf.h"
#include "storage/db.h"
#include "storage/locks.h"
#include "storage/pgcopy.h"

#define TS(col) SQL_TS(col)

/* An event is merged when a merge's (seq_lo, seq_hi] holds its sequence. */
#define EVENT_COLUMNS                                                                              \
    "e.id, e.sequence, CASE WHEN mg.id IS NULL THEN 'pending' ELSE 'merged' END, " TS(             \
        "e.received_at") ", e.source, e.row_count, e.byte_count, e.sha256, "                       \
                         "array_to_json(e.columns), mg.id, " TS("mg.finished_at")
#define EVENT_FROM                                                                                 \
    "events e LEFT JOIN LATERAL (SELECT m.id, m.finished_at FROM merges m "                        \
    "WHERE m.seq_hi >= e.sequence AND m.seq_lo < e.sequence ORDER BY m.seq_hi LIMIT 1) mg "        \
    "ON true"
#define LAST_MERGED_SQL "(SELECT coalesce(max(seq_hi), 0) FROM merges)"

/* Build an event object from row r of a result selected with EVENT_COLUMNS. */
static json_t *
event_json(PGresult *res, int r)
{
    json_t *o = json_object();
    json_t *cols;

#define VAL(c) PQgetvalue(res, r, c)
#define NUL(c) PQgetisnull(res, r, c)
    json_object_set_new(o, "id", json_string(VAL(0)));
    json_object_set_new(o, "sequence", json_integer(strtoll(VAL(1), NULL, 10)));
    json_object_set_new(o, "status", json_string(VAL(2)));
    json_object_set_new(o, "received_at", json_string(VAL(3)));
    json_object_set_new(o, "source", NUL(4) ? json_null() : json_string(VAL(4)));
    json_object_set_new(o, "rows", json_integer(strtoll(VAL(5), NULL, 10)));
    json_object_set_new(o, "bytes", json_integer(strtoll(VAL(6), NULL, 10)));
    json_object_set_new(o, "sha256", json_string(VAL(7)));
    cols = json_loads(VAL(8), 0, NULL);
    json_object_set_new(o, "columns", cols ? cols : json_array());
    json_object_set_new(o, "merge_id", NUL(9) ? json_null() : json_string(VAL(9)));
    json_object_set_new(o, "merged_at", NUL(10) ? json_null() : json_string(VAL(10)));
    json_object_set_new(o, "duplicate", json_false());
#undef VAL
#undef NUL
    return o;
}

static enum err
select_one(struct db *db, const char *where, const char *param, json_t **event, char *errbuf,
           size_t errlen)
{
    char sql[1024];

    snprintf(sql, sizeof(sql), "SELECT " EVENT_COLUMNS " FROM " EVENT_FROM " WHERE %s", where);
    return db_get_json(db, sql, 1, &param, event_json, "no such event", event, errbuf, errlen);
}

enum err
events_store_get(struct db *db, const char *id, json_t **event, char *errbuf, size_t errlen)
{
    return select_one(db, "e.id = $1", id, event, errbuf, errlen);
}

enum err
events_store_find_key(struct db *db, const char *key, json_t **event, char *errbuf, size_t errlen)
{
    return select_one(db, "e.idempotency_key = $1", key, event, errbuf, errlen);
}

/* The event that made an insert conflict: same key, else same digest. */
static enum err
find_existing(struct db *db, const struct event_input *in, json_t **event, char *errbuf,
              size_t errlen)
{
    enum err rc = ERR_NOT_FOUND;

    if (in->idempotency_key)
        rc = events_store_find_key(db, in->idempotency_key, event, errbuf, errlen);
    if (rc == ERR_NOT_FOUND)
        rc = select_one(db, "e.sha256 = $1", in->sha256_hex, event, errbuf, errlen);
    if (rc == ERR_OK)
        json_object_set_new(*event, "duplicate", json_true());
    return rc;
}

/* "\t" and the key digest of row r. */
static enum err
append_key_digest(struct buf *out, const struct repos_csv *doc, size_t r)
{
    size_t lo;
    size_t lp;
    size_t lb;
    const char *o = repos_csv_value(doc, r, doc->idx_origin, &lo);
    const char *p = repos_csv_value(doc, r, doc->idx_path, &lp);
    const char *b = repos_csv_value(doc, r, doc->idx_branch, &lb);
    enum err rc = buf_append_char(out, '\t');

    return rc ? rc : pgcopy_key_digest(out, o, lo, p, lp, b, lb);
}

/* COPY the document's rows as event_rows of sequence seq. */
static enum err
copy_rows(struct db *db, const char *seq, const struct repos_csv *doc, char *errbuf, size_t errlen)
{
    struct buf out;
    size_t r;
    enum err rc;

    buf_init(&out, 0);
    rc = db_copy_start(db,
                       "COPY event_rows (event_seq, row_no, origin, path, branch, changeset, "
                       "publish_uri, vals, key_digest) FROM STDIN",
                       errbuf, errlen);
    if (rc)
        goto out;
    for (r = 0; r < doc->nrows; r++) {
        const int idx[5] = {doc->idx_origin, doc->idx_path, doc->idx_branch, doc->idx_changeset,
                            doc->idx_publish_uri};
        size_t k;

        rc = buf_printf(&out, "%s\t%zu\t", seq, r + 1);
        for (k = 0; k < 5 && !rc; k++) {
            size_t len;
            const char *v = repos_csv_value(doc, r, idx[k], &len);

            rc = pgcopy_field(&out, v, len);
            if (!rc)
                rc = buf_append_char(&out, '\t');
        }
        if (!rc)
            rc = pgcopy_array(&out, doc->vals + r * doc->ncols, doc->lens + r * doc->ncols,
                              doc->ncols);
        if (!rc)
            rc = append_key_digest(&out, doc, r);
        if (!rc)
            rc = buf_append_char(&out, '\n');
        if (rc)
            goto out;
        if (out.len >= 256 * 1024) {
            rc = db_copy_send(db, out.data, out.len, errbuf, errlen);
            if (rc)
                goto out;
            buf_reset(&out);
        }
    }
    if (out.len)
        rc = db_copy_send(db, out.data, out.len, errbuf, errlen);
    if (rc)
        goto out;
    rc = db_copy_end(db, errbuf, errlen);
out:
    buf_release(&out);
    return rc;
}

/* Rows of up to this many go inline with the INSERT (one round trip); more go by COPY. */
#define INLINE_ROWS_MAX 1000

/* The parameters $9..$15 of insert_inline_sql: one array per row field. */
static void
inline_row_arrays(const struct repos_csv *doc, struct buf arrays[7])
{
    const int idx[5] = {doc->idx_origin, doc->idx_path, doc->idx_branch, doc->idx_changeset,
                        doc->idx_publish_uri};
    struct buf lit;
    char hex[70];
    size_t r;
    size_t k;

    buf_init(&lit, 0);
    for (k = 0; k < 7; k++) {
        buf_init(&arrays[k], 0);
        buf_append_char(&arrays[k], '{');
    }
    for (r = 0; r < doc->nrows; r++) {
        const char *v[5];
        size_t len[5];

        for (k = 0; k < 5; k++) {
            v[k] = repos_csv_value(doc, r, idx[k], &len[k]);
            pgcopy_param_elem(&arrays[k], v[k], len[k], r == 0);
        }
        buf_reset(&lit);
        pgcopy_param_array(&lit, doc->vals + r * doc->ncols, doc->lens + r * doc->ncols,
                           doc->ncols);
        pgcopy_param_elem(&arrays[5], lit.data, lit.len, r == 0);
        hex[0] = '\\';
        hex[1] = 'x';
        pgcopy_key_digest_hex(hex + 2, v[0], len[0], v[1], len[1], v[2], len[2]);
        pgcopy_param_elem(&arrays[6], hex, 66, r == 0);
    }
    for (k = 0; k < 7; k++)
        buf_append_char(&arrays[k], '}');
    buf_release(&lit);
}

static const char insert_event_sql[] =
    "INSERT INTO events (id, source, row_count, byte_count, sha256, columns, idempotency_key, "
    "content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING "
    "RETURNING sequence, " TS("received_at");

static const char insert_inline_sql[] =
    "WITH e AS (INSERT INTO events (id, source, row_count, byte_count, sha256, columns, "
    "  idempotency_key, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "  ON CONFLICT DO NOTHING RETURNING sequence, received_at), "
    "r AS (INSERT INTO event_rows (event_seq, row_no, origin, path, branch, changeset, "
    "  publish_uri, vals, key_digest) "
    "  SELECT e.sequence, u.n, u.o, u.p, u.b, u.c, u.u, u.v::text[], u.k FROM e, "
    "  unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], "
    "         $15::bytea[]) WITH ORDINALITY AS u(o, p, b, c, u, v, k, n)) "
    "SELECT sequence, " TS("received_at") " FROM e";

/* The event object of a row just stored, from what we sent and what came back. */
static json_t *
new_event_json(const char *id, const struct event_input *in, PGresult *res)
{
    json_t *o = json_object();
    json_t *cols = json_array();
    size_t i;

    for (i = 0; i < in->doc->ncols; i++)
        json_array_append_new(cols, json_string(in->doc->cols[i]));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "sequence", json_integer(strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
    json_object_set_new(o, "status", json_string("pending"));
    json_object_set_new(o, "received_at", json_string(PQgetvalue(res, 0, 1)));
    json_object_set_new(o, "source", in->source ? json_string(in->source) : json_null());
    json_object_set_new(o, "rows", json_integer((json_int_t)in->doc->nrows));
    json_object_set_new(o, "bytes", json_integer((json_int_t)in->content_len));
    json_object_set_new(o, "sha256", json_string(in->sha256_hex));
    json_object_set_new(o, "columns", cols);
    json_object_set_new(o, "merge_id", json_null());
    json_object_set_new(o, "merged_at", json_null());
    json_object_set_new(o, "duplicate", json_false());
    return o;
}

enum err
events_store_insert(struct db *db, const struct event_input *in, json_t **event, int *duplicate,
                    char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    uuid_t u;
    char id[37];
    char rows[32];
    char bytes[32];
    struct buf cols;
    struct buf arrays[7];
    const char *params[15];
    int lengths[15] = {0};
    int formats[15] = {0};
    int inline_rows = in->doc->nrows <= INLINE_ROWS_MAX;
    int in_txn = 0;
    size_t k;
    enum err rc;

    *event = NULL;
    *duplicate = 0;
    buf_init(&cols, 0);
    memset(arrays, 0, sizeof(arrays));
    pgcopy_param_array(&cols, (const char *const *)in->doc->cols, NULL, in->doc->ncols);
    uuid_generate(u);
    uuid_unparse_lower(u, id);
    snprintf(rows, sizeof(rows), "%zu", in->doc->nrows);
    snprintf(bytes, sizeof(bytes), "%zu", in->content_len);
    params[0] = id;
    params[1] = in->source;
    params[2] = rows;
    params[3] = bytes;
    params[4] = in->sha256_hex;
    params[5] = cols.data;
    params[6] = in->idempotency_key;
    params[7] = in->content;
    lengths[7] = (int)in->content_len;
    formats[7] = 1;

    if (inline_rows) {
        /* one statement, one round trip, one commit */
        inline_row_arrays(in->doc, arrays);
        for (k = 0; k < 7; k++)
            params[8 + k] = arrays[k].data;
        rc = db_query_prepared(db, &res, "insert_event_inline", insert_inline_sql, 15, params,
                               lengths, formats, errbuf, errlen);
    } else {
        rc = db_exec(db, "BEGIN", errbuf, errlen);
        in_txn = !rc;
        if (!rc)
            rc = db_query_bin(db, &res, insert_event_sql, 8, params, lengths, formats, errbuf,
                              errlen);
    }
    if (rc)
        goto out;
    if (PQntuples(res) == 0) {
        db_rollback(db);
        in_txn = 0;
        *duplicate = 1;
        rc = find_existing(db, in, event, errbuf, errlen);
        if (rc == ERR_NOT_FOUND) /* the conflicting event was deleted meanwhile */
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "concurrent change, retry");
        goto out;
    }
    if (!inline_rows) {
        rc = copy_rows(db, PQgetvalue(res, 0, 0), in->doc, errbuf, errlen);
        if (!rc)
            rc = db_exec(db, "COMMIT", errbuf, errlen);
        if (rc)
            goto out;
        in_txn = 0;
    }
    *event = new_event_json(id, in, res);
out:
    PQclear(res);
    buf_release(&cols);
    for (k = 0; k < 7; k++)
        buf_release(&arrays[k]);
    if (rc && in_txn)
        db_rollback(db);
    return rc;
}

enum err
events_store_list(struct db *db, const struct events_filter *f, json_t **items, int *more,
                  char *errbuf, size_t errlen)
{
    char after[32];
    char limit[16];
    const char *params[4];

    snprintf(after, sizeof(after), "%lld", (long long)f->after);
    snprintf(limit, sizeof(limit), "%d", f->limit + 1);
    params[0] = f->status;
    params[1] = f->source;
    params[2] = after;
    params[3] = limit;
    return db_page_json(db,
                        "SELECT " EVENT_COLUMNS " FROM " EVENT_FROM " WHERE "
                        "($1::text IS NULL OR ($1 = 'pending') = (e.sequence > " LAST_MERGED_SQL
                        ")) AND ($2::text IS NULL OR e.source = $2) AND e.sequence > $3 "
                        "ORDER BY e.sequence LIMIT $4",
                        4, params, f->limit, event_json, items, more, errbuf, errlen);
}

enum err
events_store_content(struct db *db, const char *id, char **data, size_t *len, char *errbuf,
                     size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    *data = NULL;
    *len = 0;
    rc = db_query_bin(db, &res, "SELECT content FROM events WHERE id = $1", 1, &id, NULL, NULL,
                      errbuf, errlen);
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return err_set(ERR_NOT_FOUND, errbuf, errlen, "no such event");
    }
    {
        size_t n = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &n);

        if (!raw) {
            PQclear(res);
            return err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
        }
        *data = xstrndup((const char *)raw, n);
        *len = n;
        PQfreemem(raw);
    }
    PQclear(res);
    return ERR_OK;
}

enum err
events_store_delete(struct db *db, const char *id, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    /* the lock waits for a merge in progress, so the next statement sees it */
    rc = db_exec(db, "BEGIN; LOCK TABLE events IN ROW EXCLUSIVE MODE", errbuf, errlen);
    if (rc)
        return rc;
    rc = db_query(db, &res,
                  "WITH d AS (DELETE FROM events WHERE id = $1 AND sequence > " LAST_MERGED_SQL
                  " RETURNING 1) SELECT (SELECT count(*) FROM d), "
                  "(SELECT count(*) FROM events WHERE id = $1)",
                  1, &id, errbuf, errlen);
    if (rc)
        goto out;
    if (strcmp(PQgetvalue(res, 0, 0), "1") == 0)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    else if (strcmp(PQgetvalue(res, 0, 1), "0") == 0)
        rc = err_set(ERR_NOT_FOUND, errbuf, errlen, "no such event");
    else
        rc = err_set(ERR_CONFLICT, errbuf, errlen, "event was already merged");
out:
    PQclear(res);
    if (rc)
        db_rollback(db);
    return rc;
}
