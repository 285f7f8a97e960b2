/*
 * events_store.c - the events table family
 *
 * An upload is one transaction: INSERT the event (ON CONFLICT DO NOTHING
 * covers both the idempotency key and the content digest) and, in the same
 * statement, its io.ingestd.event.accepted journal row, then COPY its rows
 * into event_rows (or insert them in that statement too, up to
 * INLINE_ROWS_MAX rows). Uploads hold ROW EXCLUSIVE on events; a merge takes
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
#include "core/log.h"
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

/* What an event_rows COPY line starts with: its event's sequence and row number. */
struct event_rows_copy {
    const char *seq;
    const struct repos_csv *doc;
};

static enum err
event_row_line(const void *ctx, size_t r, struct buf *out)
{
    const struct event_rows_copy *c = ctx;
    enum err rc = buf_printf(out, "%s\t%zu\t", c->seq, r + 1);

    return rc ? rc : pgcopy_repos_row(out, c->doc, r);
}

/* COPY the document's rows as event_rows of sequence seq. */
static enum err
copy_rows(struct db *db, const char *seq, const struct repos_csv *doc, char *errbuf, size_t errlen)
{
    struct event_rows_copy c = {seq, doc};

    return db_copy_rows(db,
                        "COPY event_rows (event_seq, row_no, origin, path, branch, changeset, "
                        "publish_uri, vals, key_digest) FROM STDIN",
                        doc->nrows, event_row_line, &c, errbuf, errlen);
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
    pgcopy_param_arrays_open(arrays, 7);
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
    pgcopy_param_arrays_close(arrays, 7);
    buf_release(&lit);
}

/*
 * The io.ingestd.event.accepted journal row of the event e just inserted
 * (none for a duplicate: e is then empty), written by the insert's own
 * statement (migration 0024 replaced 0015's trigger with it).
 */
#define JOURNAL_ACCEPTED                                                                           \
    "j AS (INSERT INTO changes (event_id, type, source, subject, data) "                           \
    "  SELECT gen_random_uuid(), 'io.ingestd.event.accepted', '/api/v1/events', e.id::text, "      \
    "  jsonb_build_object('id', e.id, 'receivedAt', e.received_at, 'source', e.source, "           \
    "  'rowCount', e.row_count, 'byteCount', e.byte_count) FROM e) "

#define INSERT_EVENT                                                                               \
    "e AS (INSERT INTO events (id, source, row_count, byte_count, sha256, columns, "               \
    "  idempotency_key, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "                         \
    "  ON CONFLICT DO NOTHING RETURNING id, source, row_count, byte_count, sequence, "             \
    "received_at), "

static const char insert_event_sql[] =
    "WITH " INSERT_EVENT JOURNAL_ACCEPTED "SELECT sequence, " TS("received_at") " FROM e";

static const char insert_inline_sql[] =
    "WITH " INSERT_EVENT JOURNAL_ACCEPTED ", "
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
    return events_store_event_json(id, in, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
}

json_t *
events_store_event_json(const char *id, const struct event_input *in, const char *sequence,
                        const char *received_at)
{
    json_t *o = json_object();
    json_t *cols = json_array();
    size_t i;

    for (i = 0; i < in->doc->ncols; i++)
        json_array_append_new(cols, json_string(in->doc->cols[i]));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "sequence", json_integer(strtoll(sequence, NULL, 10)));
    json_object_set_new(o, "status", json_string("pending"));
    json_object_set_new(o, "received_at", json_string(received_at));
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

/* The parameters of one insert: $1..$8 the event, $9..$15 its rows when they go inline. */
struct insert_params {
    char id[37];
    char rows[32];
    char bytes[32];
    struct buf cols;
    struct buf arrays[7];
    const char *values[15];
    int lengths[15];
    int formats[15];
};

static void
insert_params_init(struct insert_params *p, const struct event_input *in, int inline_rows)
{
    uuid_t u;
    size_t k;

    memset(p, 0, sizeof(*p));
    buf_init(&p->cols, 0);
    pgcopy_param_array(&p->cols, (const char *const *)in->doc->cols, NULL, in->doc->ncols);
    uuid_generate(u);
    uuid_unparse_lower(u, p->id);
    if (in->id)
        snprintf(p->id, sizeof(p->id), "%s", in->id);
    snprintf(p->rows, sizeof(p->rows), "%zu", in->doc->nrows);
    snprintf(p->bytes, sizeof(p->bytes), "%zu", in->content_len);
    p->values[0] = p->id;
    p->values[1] = in->source;
    p->values[2] = p->rows;
    p->values[3] = p->bytes;
    p->values[4] = in->sha256_hex;
    p->values[5] = p->cols.data;
    p->values[6] = in->idempotency_key;
    p->values[7] = in->content;
    p->lengths[7] = (int)in->content_len;
    p->formats[7] = 1;
    if (!inline_rows)
        return;
    inline_row_arrays(in->doc, p->arrays);
    for (k = 0; k < 7; k++)
        p->values[8 + k] = p->arrays[k].data;
}

static void
insert_params_release(struct insert_params *p)
{
    size_t k;

    buf_release(&p->cols);
    for (k = 0; k < 7; k++)
        buf_release(&p->arrays[k]);
}

/*
 * INSERT the event: with its rows inline (one statement, one round trip, one
 * commit), else as the first statement of a transaction (*in_txn = 1) whose
 * rows follow by COPY. *res holds its sequence and received_at, or no row
 * when the event is a duplicate.
 */
static enum err
insert_event(struct db *db, const struct insert_params *p, int inline_rows, PGresult **res,
             int *in_txn, char *errbuf, size_t errlen)
{
    enum err rc;

    if (inline_rows)
        return db_query_prepared(db, res, "insert_event_inline", insert_inline_sql, 15, p->values,
                                 p->lengths, p->formats, errbuf, errlen);
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    *in_txn = !rc;
    if (!rc)
        rc = db_query_bin(db, res, insert_event_sql, 8, p->values, p->lengths, p->formats, errbuf,
                          errlen);
    return rc;
}

enum err
events_store_insert(struct db *db, const struct event_input *in, json_t **event, int *duplicate,
                    char *errbuf, size_t errlen)
{
    struct insert_params p;
    PGresult *res = NULL;
    int inline_rows = in->doc->nrows <= INLINE_ROWS_MAX;
    int in_txn = 0;
    enum err rc;

    *event = NULL;
    *duplicate = 0;
    insert_params_init(&p, in, inline_rows);
    rc = insert_event(db, &p, inline_rows, &res, &in_txn, errbuf, errlen);
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
    *event = new_event_json(p.id, in, res);
out:
    PQclear(res);
    insert_params_release(&p);
    if (rc && in_txn)
        db_rollback(db);
    return rc;
}

int
events_store_inline_ok(const struct event_input *in)
{
    return in->doc->nrows <= INLINE_ROWS_MAX;
}

enum err
events_store_prepare_insert(struct db *db, char *errbuf, size_t errlen)
{
    return db_prepare(db, "insert_event_inline", insert_inline_sql, 15, errbuf, errlen);
}

enum err
events_store_send_insert(struct db *db, const struct event_input *in, char id[37], char *errbuf,
                         size_t errlen)
{
    struct insert_params p;
    int sent;

    insert_params_init(&p, in, 1);
    memcpy(id, p.id, 37);
    sent = PQsendQueryPrepared(db_conn(db), "insert_event_inline", 15, p.values, p.lengths,
                               p.formats, 0);
    insert_params_release(&p);
    if (!sent)
        return db_result_error(db, NULL, "sending an upload", errbuf, errlen);
    return ERR_OK;
}

enum err
events_store_find_existing(struct db *db, const struct event_input *in, json_t **event,
                           char *errbuf, size_t errlen)
{
    enum err rc = find_existing(db, in, event, errbuf, errlen);

    if (rc == ERR_NOT_FOUND) /* the conflicting event was deleted meanwhile */
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "concurrent change, retry");
    return rc;
}

enum err
events_store_insert_txn(struct db *db, const struct event_input *in, json_t **event, int *duplicate,
                        char *errbuf, size_t errlen)
{
    struct insert_params p;
    PGresult *res = NULL;
    int inline_rows = in->doc->nrows <= INLINE_ROWS_MAX;
    enum err rc;

    *event = NULL;
    *duplicate = 0;
    insert_params_init(&p, in, inline_rows);
    if (inline_rows)
        rc = db_query_prepared(db, &res, "insert_event_inline", insert_inline_sql, 15, p.values,
                               p.lengths, p.formats, errbuf, errlen);
    else
        rc = db_query_bin(db, &res, insert_event_sql, 8, p.values, p.lengths, p.formats, errbuf,
                          errlen);
    if (rc)
        goto out;
    if (PQntuples(res) == 0) {
        *duplicate = 1;
        rc = find_existing(db, in, event, errbuf, errlen);
        if (rc == ERR_NOT_FOUND)
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "concurrent change, retry");
        goto out;
    }
    if (!inline_rows)
        rc = copy_rows(db, PQgetvalue(res, 0, 0), in->doc, errbuf, errlen);
    if (!rc)
        *event = new_event_json(p.id, in, res);
out:
    PQclear(res);
    insert_params_release(&p);
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

/* Events per backfill transaction. */
#define BACKFILL_BATCH "100"

/* Decode one stored content as an upload is; NULL (logged) when it does not decode. */
static struct repos_csv *
backfill_decode(const char *seq, const char *content, size_t len)
{
    const struct repos_csv_limits lim = {SIZE_MAX / 4, SIZE_MAX / 4, SIZE_MAX / 4};
    struct repos_csv *doc = repos_csv_new(&lim);
    char errbuf[ERRBUF_SIZE] = "";
    enum err rc;

    rc = repos_csv_feed(doc, content, len, errbuf, sizeof(errbuf));
    if (!rc)
        rc = repos_csv_finish(doc, errbuf, sizeof(errbuf));
    if (rc) {
        log_json(LOG_WARN, "stored event content does not decode, its history has no rows",
                 json_pack("{s:s,s:s}", "sequence", seq, "error", errbuf));
        repos_csv_free(doc);
        return NULL;
    }
    return doc;
}

/* Rows of the listed event seq again, and the event off the list (inside a transaction). */
static enum err
backfill_one(struct db *db, const char *seq, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    struct repos_csv *doc = NULL;
    unsigned char *raw = NULL;
    size_t n = 0;
    enum err rc;

    rc = db_query(db, &res, "SELECT content FROM events WHERE sequence = $1", 1, &seq, errbuf,
                  errlen);
    if (rc)
        goto out;
    if (PQntuples(res) == 1) {
        raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &n);
        if (!raw) {
            rc = err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
            goto out;
        }
        doc = backfill_decode(seq, (const char *)raw, n);
    }
    if (doc && doc->nrows > 0)
        rc = copy_rows(db, seq, doc, errbuf, errlen);
    if (!rc)
        rc = db_query(db, NULL, "DELETE FROM event_rows_backfill WHERE event_seq = $1", 1, &seq,
                      errbuf, errlen);
out:
    repos_csv_free(doc);
    PQfreemem(raw);
    PQclear(res);
    return rc;
}

/* One transaction: up to BACKFILL_BATCH listed events; *done gets how many. */
static enum err
backfill_batch(struct db *db, int *done, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    int i;
    enum err rc;

    *done = 0;
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (rc)
        return rc;
    rc = db_query(db, &res,
                  "SELECT event_seq FROM event_rows_backfill ORDER BY event_seq "
                  "LIMIT " BACKFILL_BATCH " FOR UPDATE SKIP LOCKED",
                  0, NULL, errbuf, errlen);
    for (i = 0; !rc && i < PQntuples(res); i++)
        rc = backfill_one(db, PQgetvalue(res, i, 0), errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (!rc)
        *done = PQntuples(res);
    PQclear(res);
    if (rc)
        db_rollback(db);
    return rc;
}

enum err
events_store_backfill(struct db *db, long long *events, char *errbuf, size_t errlen)
{
    long long total = 0;
    int done = 0;
    enum err rc;

    do {
        rc = backfill_batch(db, &done, errbuf, errlen);
        total += done;
    } while (!rc && done > 0);
    if (events)
        *events = total;
    return rc;
}
