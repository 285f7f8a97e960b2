/*
 * outbox_store.c - the journal of changes and its webhook deliveries
 *
 * Tables `changes` and `webhook_deliveries` (migration 0008). A change and
 * its delivery rows are written by one statement on the caller's
 * transaction, which also queues a NOTIFY: PostgreSQL delivers it at
 * commit only, so the delivery threads (jobs/outbox.c) of every replica
 * wake exactly for committed changes, and the table stays the truth (a
 * notification lost while a listener reconnects is made up by its poll).
 *
 * A claim is a transaction that holds the delivery's row lock (FOR UPDATE
 * SKIP LOCKED) while the sender makes its attempt, and records the outcome
 * before it commits: a second replica skips the row meanwhile, and a sender
 * that dies leaves the row pending (the lock goes with its connection), to
 * be sent again - at least once, receivers deduplicate by webhook-id.
 *
 * Thread-safety: per struct db; the URL list is set once before threads.
 */
#include "storage/outbox_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "core/buf.h"
#include "storage/db.h"
#include "storage/locks.h"
#include "storage/pgcopy.h"

/* The configured webhook URLs as a text[] literal; NULL when none. */
static char *outbox_urls_literal;

void
outbox_store_set_urls(const char *const *urls, size_t n)
{
    struct buf lit;

    outbox_store_clear_urls();
    if (n == 0)
        return;
    buf_init(&lit, 0);
    pgcopy_param_array(&lit, urls, NULL, n);
    outbox_urls_literal = buf_take(&lit, NULL);
}

void
outbox_store_clear_urls(void)
{
    free(outbox_urls_literal);
    outbox_urls_literal = NULL;
}

enum err
outbox_enqueue(struct db *db, const char *type, const char *source, const char *subject,
               json_t *data, long long *change_id, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    const char *params[6];
    char event_id[37];
    char *json;
    uuid_t u;
    enum err rc;

    if (change_id)
        *change_id = 0;
    json = json_dumps(data, JSON_COMPACT);
    if (!json)
        return err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
    uuid_generate(u);
    uuid_unparse_lower(u, event_id);
    params[0] = event_id;
    params[1] = type;
    params[2] = source;
    params[3] = subject;
    params[4] = json;
    params[5] = outbox_urls_literal ? outbox_urls_literal : "{}";
    /* one statement: the change, a delivery per URL, and the NOTIFY sent at commit */
    rc = db_query(db, &res,
                  "WITH c AS (INSERT INTO changes (event_id, type, source, subject, data) "
                  "VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id), "
                  "d AS (INSERT INTO webhook_deliveries (id, change_id, url) "
                  "SELECT gen_random_uuid(), c.id, u.url FROM c, unnest($6::text[]) AS u(url) "
                  "RETURNING 1) "
                  "SELECT c.id, (SELECT count(*) FROM d), "
                  "pg_notify('" OUTBOX_CHANNEL "', c.id::text) FROM c",
                  6, params, errbuf, errlen);
    free(json);
    if (rc)
        return rc;
    if (change_id)
        *change_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return ERR_OK;
}

void
outbox_claim_release(struct outbox_claim *c)
{
    if (!c)
        return;
    free(c->url);
    free(c->type);
    free(c->source);
    free(c->subject);
    free(c->time);
    free(c->data);
    memset(c, 0, sizeof(*c));
}

static char *
dup_or_null(PGresult *res, int r, int col)
{
    return PQgetisnull(res, r, col) ? NULL : xstrdup(PQgetvalue(res, r, col));
}

/* The oldest due pending delivery, locked; a row another sender holds is skipped. */
#define CLAIM_TIME SQL_TS("c.created_at")
static const char claim_sql[] =
    "SELECT d.id, c.event_id, d.attempts, d.url, c.type, c.source, c.subject, " CLAIM_TIME
    ", c.data::text FROM webhook_deliveries d JOIN changes c ON c.id = d.change_id "
    "WHERE d.status = 'pending' AND d.next_attempt_at <= clock_timestamp() "
    "ORDER BY d.next_attempt_at LIMIT 1 FOR UPDATE OF d SKIP LOCKED";

enum err
outbox_store_claim(struct db *db, struct outbox_claim *c, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    memset(c, 0, sizeof(*c));
    /*
     * The outcome is committed without waiting for its WAL flush: a
     * PostgreSQL crash may forget an attempt, whose delivery is then sent
     * again (at least once, as after any crash), and the merges' fsyncs do
     * not queue behind the senders'.
     */
    rc = db_exec(db, "BEGIN; SET LOCAL synchronous_commit = off", errbuf, errlen);
    if (rc)
        return rc;
    rc = db_query(db, &res, claim_sql, 0, NULL, errbuf, errlen);
    if (rc)
        goto out;
    if (PQntuples(res) == 0) {
        rc = ERR_NOT_FOUND;
        goto out;
    }
    snprintf(c->id, sizeof(c->id), "%s", PQgetvalue(res, 0, 0));
    snprintf(c->event_id, sizeof(c->event_id), "%s", PQgetvalue(res, 0, 1));
    c->attempts = atoi(PQgetvalue(res, 0, 2));
    c->url = xstrdup(PQgetvalue(res, 0, 3));
    c->type = xstrdup(PQgetvalue(res, 0, 4));
    c->source = xstrdup(PQgetvalue(res, 0, 5));
    c->subject = dup_or_null(res, 0, 6);
    c->time = xstrdup(PQgetvalue(res, 0, 7));
    c->data = xstrdup(PQgetvalue(res, 0, 8));
out:
    PQclear(res);
    if (rc)
        db_rollback(db);
    return rc;
}

const char *
outbox_outcome_name(enum outbox_outcome o)
{
    switch (o) {
    case OUTBOX_DELIVERED:
        return "delivered";
    case OUTBOX_RETRY:
        return "retry";
    case OUTBOX_FAILED:
        return "failed";
    case OUTBOX_GONE:
        return "gone";
    }
    return "unknown";
}

/* The status a delivery has after an attempt with outcome o. */
static const char *
status_after(enum outbox_outcome o)
{
    return o == OUTBOX_RETRY       ? "pending"
           : o == OUTBOX_DELIVERED ? "delivered"
                                   : outbox_outcome_name(o);
}

enum err
outbox_store_finish(struct db *db, const struct outbox_claim *c, enum outbox_outcome o,
                    long http_status, const char *error, long long retry_in_ms, char *errbuf,
                    size_t errlen)
{
    char status_num[16];
    char retry[32];
    const char *params[5];
    enum err rc;

    snprintf(status_num, sizeof(status_num), "%ld", http_status);
    snprintf(retry, sizeof(retry), "%lld", retry_in_ms > 0 ? retry_in_ms : 0);
    params[0] = c->id;
    params[1] = status_after(o);
    params[2] = http_status > 0 ? status_num : NULL;
    params[3] = error;
    params[4] = retry;
    rc = db_query(db, NULL,
                  "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, "
                  "last_attempt_at = clock_timestamp(), last_status = $3, last_error = $4, "
                  "delivered_at = CASE WHEN $2 = 'delivered' THEN clock_timestamp() END, "
                  "next_attempt_at = CASE WHEN $2 = 'pending' THEN clock_timestamp() + "
                  "$5::bigint * interval '1 millisecond' ELSE next_attempt_at END WHERE id = $1",
                  5, params, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_rollback(db);
    return rc;
}

enum err
outbox_store_next_due(struct db *db, long long *ms, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    *ms = -1;
    /*
     * A delivery another sender is attempting is locked by its claim: skip
     * it (KEY SHARE, the weakest lock, taken for the statement only), or
     * every idle sender would spin on a due row it cannot have.
     */
    rc = db_query(db, &res,
                  "SELECT greatest(0, ceil(extract(epoch FROM next_attempt_at - "
                  "clock_timestamp()) * 1000))::bigint FROM webhook_deliveries "
                  "WHERE status = 'pending' ORDER BY next_attempt_at LIMIT 1 "
                  "FOR KEY SHARE SKIP LOCKED",
                  0, NULL, errbuf, errlen);
    if (rc)
        return rc;
    if (PQntuples(res) == 1)
        *ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return ERR_OK;
}

enum err
outbox_store_pending(struct db *db, long long *count, char *errbuf, size_t errlen)
{
    *count = 0;
    return db_query_ll(db, "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'", 0,
                       NULL, "no count", count, errbuf, errlen);
}

/* The columns delivery_json reads. */
#define DELIVERY_NEXT "CASE WHEN d.status = 'pending' THEN " SQL_TS("d.next_attempt_at") " END"
#define DELIVERY_LAST SQL_TS("d.last_attempt_at") ", d.last_status, d.last_error"
#define DELIVERY_DONE SQL_TS("d.delivered_at") ", " SQL_TS("d.created_at")
#define DELIVERY_COLUMNS                                                                           \
    "d.id, d.change_id, c.event_id, c.type, c.subject, d.url, d.status, "                          \
    "d.attempts, " DELIVERY_NEXT ", " DELIVERY_LAST ", " DELIVERY_DONE
#define DELIVERY_FROM "webhook_deliveries d JOIN changes c ON c.id = d.change_id"

static json_t *
text_or_null(PGresult *res, int r, int col)
{
    return PQgetisnull(res, r, col) ? json_null() : json_string(PQgetvalue(res, r, col));
}

static json_t *
delivery_json(PGresult *res, int r)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(PQgetvalue(res, r, 0)));
    json_object_set_new(o, "change_id", json_integer(strtoll(PQgetvalue(res, r, 1), NULL, 10)));
    json_object_set_new(o, "event_id", json_string(PQgetvalue(res, r, 2)));
    json_object_set_new(o, "type", json_string(PQgetvalue(res, r, 3)));
    json_object_set_new(o, "subject", text_or_null(res, r, 4));
    json_object_set_new(o, "url", json_string(PQgetvalue(res, r, 5)));
    json_object_set_new(o, "status", json_string(PQgetvalue(res, r, 6)));
    json_object_set_new(o, "attempts", json_integer(strtoll(PQgetvalue(res, r, 7), NULL, 10)));
    json_object_set_new(o, "next_attempt_at", text_or_null(res, r, 8));
    json_object_set_new(o, "last_attempt_at", text_or_null(res, r, 9));
    json_object_set_new(o, "last_status",
                        PQgetisnull(res, r, 10)
                            ? json_null()
                            : json_integer(strtoll(PQgetvalue(res, r, 10), NULL, 10)));
    json_object_set_new(o, "last_error", text_or_null(res, r, 11));
    json_object_set_new(o, "delivered_at", text_or_null(res, r, 12));
    json_object_set_new(o, "created_at", json_string(PQgetvalue(res, r, 13)));
    return o;
}

enum err
outbox_store_list(struct db *db, const char *status, const char *before, int limit, json_t **items,
                  int *more, char *errbuf, size_t errlen)
{
    const char *params[3];
    char lim[16];
    long long exists = 0;
    enum err rc;

    *items = NULL;
    *more = 0;
    if (before) {
        rc = db_query_ll(db, "SELECT count(*) FROM webhook_deliveries WHERE id = $1", 1, &before,
                         "no count", &exists, errbuf, errlen);
        if (rc)
            return rc;
        if (!exists)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "before: unknown cursor, no such delivery");
    }
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    params[0] = status;
    params[1] = before;
    params[2] = lim;
    return db_page_json(db,
                        "SELECT " DELIVERY_COLUMNS " FROM " DELIVERY_FROM
                        " WHERE ($1::text IS NULL OR d.status = $1) AND ($2::uuid IS NULL OR "
                        "(d.created_at, d.id) < (SELECT created_at, id FROM webhook_deliveries "
                        "WHERE id = $2)) ORDER BY d.created_at DESC, d.id DESC LIMIT $3",
                        3, params, limit, delivery_json, items, more, errbuf, errlen);
}

/* Inside the retry's transaction: lock the row (never wait) and decide. */
static enum err
retry_locked(struct db *db, const char *id, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    long long exists = 0;
    enum err rc;

    rc = db_query(db, &res,
                  "SELECT status FROM webhook_deliveries WHERE id = $1 FOR UPDATE SKIP LOCKED", 1,
                  &id, errbuf, errlen);
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        rc = db_query_ll(db, "SELECT count(*) FROM webhook_deliveries WHERE id = $1", 1, &id,
                         "no count", &exists, errbuf, errlen);
        if (rc)
            return rc;
        if (exists)
            return err_set(ERR_CONFLICT, errbuf, errlen,
                           "an attempt of this delivery is being made right now; try again");
        return err_set(ERR_NOT_FOUND, errbuf, errlen, "no such delivery");
    }
    if (strcmp(PQgetvalue(res, 0, 0), "delivered") == 0) {
        PQclear(res);
        return err_set(ERR_CONFLICT, errbuf, errlen, "delivery already delivered");
    }
    PQclear(res);
    return db_query(db, NULL,
                    "WITH u AS (UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp(), "
                    "attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END, "
                    "status = 'pending' WHERE id = $1 RETURNING change_id) "
                    "SELECT pg_notify('" OUTBOX_CHANNEL "', change_id::text) FROM u",
                    1, &id, errbuf, errlen);
}

enum err
outbox_store_retry(struct db *db, const char *id, json_t **delivery, char *errbuf, size_t errlen)
{
    enum err rc;

    *delivery = NULL;
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (!rc)
        rc = retry_locked(db, id, errbuf, errlen);
    if (!rc)
        rc = db_get_json(db, "SELECT " DELIVERY_COLUMNS " FROM " DELIVERY_FROM " WHERE d.id = $1",
                         1, &id, delivery_json, "no such delivery", delivery, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc) {
        db_rollback(db);
        json_decref(*delivery);
        *delivery = NULL;
    }
    return rc;
}
