/*
 * crawl_store.c - crawl rows: submitting, reading, claiming, progress, the end
 *
 * The s3_crawls rows of migration 0011. One crawl of a (bucket, prefix) at a
 * time: the partial unique index s3_crawls_active turns a second queued or
 * running one into a unique violation, which db.c gives as ERR_CONFLICT, so
 * two replicas submitting at once cannot both win. A crawl is claimed through
 * its row (FOR UPDATE SKIP LOCKED) and its runner then holds the crawl's
 * session advisory lock (locks.h LOCK_S3_CRAWL) until it releases it, so a
 * running crawl whose lock is free lost its runner and may be claimed again
 * by any replica, as inventory jobs are (inventory_store.c).
 *
 * The API spells the status as the filemanager does: queued and running are
 * InProgress, succeeded Completed, failed Failed.
 *
 * Thread-safety: every function works on the caller's struct db.
 */
#include "storage/crawl_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "core/buf.h"
#include "storage/db.h"
#include "storage/locks.h"

#define CRAWL_COLUMNS                                                                              \
    "id, status, mode, bucket, prefix, " SQL_TS("created_at") ", " SQL_TS(                         \
        "started_at") ", " SQL_TS("finished_at") ", CASE WHEN finished_at IS NULL OR started_at "  \
                                                 "IS NULL THEN NULL ELSE round(extract(epoch "     \
                                                 "FROM finished_at - started_at))::bigint END, "   \
                                                 "n_objects, created, deleted, unchanged, "        \
                                                 "missing, missing_keys::text, listing, error, "   \
                                                 "error_kind"
#define CRAWL_ERROR_KIND 17

/* A running crawl whose runner is gone: its lock is free (tried, never waited for). */
#define CRAWL_ABANDONED "pg_try_advisory_xact_lock(" LOCK_S3_CRAWL("id") ")"

static json_t *
str_or_null(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? json_null() : json_string(PQgetvalue(res, r, c));
}

static json_t *
int_or_null(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? json_null()
                                  : json_integer(strtoll(PQgetvalue(res, r, c), NULL, 10));
}

static const char *
api_status(const char *status)
{
    if (strcmp(status, "succeeded") == 0)
        return "Completed";
    if (strcmp(status, "failed") == 0)
        return "Failed";
    return "InProgress";
}

static json_t *
crawl_json(PGresult *res, int r)
{
    json_t *o = json_object();
    json_t *missing = json_loads(PQgetvalue(res, r, 14), 0, NULL);
    const char *prefix = PQgetvalue(res, r, 4);

    json_object_set_new(o, "s3CrawlId", json_string(PQgetvalue(res, r, 0)));
    json_object_set_new(o, "status", json_string(api_status(PQgetvalue(res, r, 1))));
    json_object_set_new(o, "mode", json_string(PQgetvalue(res, r, 2)));
    json_object_set_new(o, "bucket", json_string(PQgetvalue(res, r, 3)));
    json_object_set_new(o, "prefix", prefix[0] ? json_string(prefix) : json_null());
    json_object_set_new(o, "started", json_string(PQgetvalue(res, r, 5)));
    json_object_set_new(o, "startedAt", str_or_null(res, r, 6));
    json_object_set_new(o, "finishedAt", str_or_null(res, r, 7));
    json_object_set_new(o, "executionTimeSeconds", int_or_null(res, r, 8));
    json_object_set_new(o, "nObjects", int_or_null(res, r, 9));
    json_object_set_new(o, "created", int_or_null(res, r, 10));
    json_object_set_new(o, "deleted", int_or_null(res, r, 11));
    json_object_set_new(o, "unchanged", int_or_null(res, r, 12));
    json_object_set_new(o, "missing", int_or_null(res, r, 13));
    json_object_set_new(o, "missingKeys", missing ? missing : json_array());
    json_object_set_new(o, "listing", str_or_null(res, r, 15));
    json_object_set_new(o, "error", str_or_null(res, r, 16));
    return o;
}

/* The enum err whose err_name() is `name`; ERR_INTERNAL for a name this build does not know. */
static enum err
failure_kind(const char *name)
{
    enum err e;

    for (e = ERR_OK; e <= ERR_GONE; e++) /* ERR_GONE is the last of enum err */
        if (strcmp(err_name(e), name) == 0)
            return e;
    return ERR_INTERNAL;
}

enum err
crawl_store_submit(struct db *db, const char *bucket, const char *prefix, int verify,
                   json_t **crawl, char *errbuf, size_t errlen)
{
    const char *params[4];
    char id[37];
    uuid_t u;
    enum err rc;

    *crawl = NULL;
    uuid_generate(u);
    uuid_unparse_lower(u, id);
    params[0] = id;
    params[1] = bucket;
    params[2] = prefix ? prefix : "";
    params[3] = verify ? "verify" : "crawl";
    rc = db_get_json(db,
                     "INSERT INTO s3_crawls (id, bucket, prefix, mode, status) "
                     "VALUES ($1, $2, $3, $4, 'queued') RETURNING " CRAWL_COLUMNS,
                     4, params, crawl_json, "crawl not stored", crawl, errbuf, errlen);
    if (rc == ERR_CONFLICT)
        err_set(rc, errbuf, errlen, "another crawl of %s/%s is queued or running", bucket,
                params[2]);
    return rc;
}

enum err
crawl_store_get(struct db *db, const char *id, json_t **crawl, enum err *failure, char *errbuf,
                size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    *crawl = NULL;
    if (failure)
        *failure = ERR_OK;
    rc = db_query(db, &res, "SELECT " CRAWL_COLUMNS " FROM s3_crawls WHERE id = $1", 1, &id, errbuf,
                  errlen);
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        rc = err_set(ERR_NOT_FOUND, errbuf, errlen, "no such crawl");
    } else {
        *crawl = crawl_json(res, 0);
        if (failure && !PQgetisnull(res, 0, CRAWL_ERROR_KIND))
            *failure = failure_kind(PQgetvalue(res, 0, CRAWL_ERROR_KIND));
    }
    PQclear(res);
    return rc;
}

/* The WHERE clause of f over $1..$4 (params filled; NULL = no filter). */
#define CRAWL_WHERE                                                                                \
    " WHERE ($1::text IS NULL OR bucket LIKE $1) AND ($2::text IS NULL OR prefix LIKE $2) "        \
    "AND ($3::text IS NULL OR CASE status WHEN 'succeeded' THEN 'Completed' WHEN 'failed' "        \
    "THEN 'Failed' ELSE 'InProgress' END = $3) AND ($4::text IS NULL OR mode = $4)"

static void
filter_params(const struct crawl_filter *f, const char *params[4])
{
    params[0] = f->bucket_like;
    params[1] = f->prefix_like;
    params[2] = f->status;
    params[3] = f->mode;
}

enum err
crawl_store_count(struct db *db, const struct crawl_filter *f, int64_t *total, char *errbuf,
                  size_t errlen)
{
    const char *params[4];
    long long n = 0;
    enum err rc;

    filter_params(f, params);
    rc = db_query_ll(db, "SELECT count(*) FROM s3_crawls" CRAWL_WHERE, 4, params, "no count", &n,
                     errbuf, errlen);
    *total = n;
    return rc;
}

enum err
crawl_store_list(struct db *db, const struct crawl_filter *f, json_t **items, int64_t *total,
                 char *errbuf, size_t errlen)
{
    const char *params[6];
    char limit[24], offset[24];
    PGresult *res = NULL;
    int r;
    enum err rc;

    *items = NULL;
    rc = crawl_store_count(db, f, total, errbuf, errlen);
    if (rc)
        return rc;
    filter_params(f, params);
    snprintf(limit, sizeof(limit), "%lld", (long long)f->limit);
    snprintf(offset, sizeof(offset), "%lld", (long long)f->offset);
    params[4] = limit;
    params[5] = offset;
    rc = db_query(db, &res,
                  "SELECT " CRAWL_COLUMNS " FROM s3_crawls" CRAWL_WHERE
                  " ORDER BY created_at DESC, id DESC LIMIT $5::bigint OFFSET $6::bigint",
                  6, params, errbuf, errlen);
    if (rc)
        return rc;
    *items = json_array();
    for (r = 0; r < PQntuples(res); r++)
        json_array_append_new(*items, crawl_json(res, r));
    PQclear(res);
    return ERR_OK;
}

void
crawl_claim_release(struct crawl_claim *c)
{
    if (!c)
        return;
    free(c->bucket);
    free(c->prefix);
    free(c->started_at);
    memset(c, 0, sizeof(*c));
}

/* Inside the claim's transaction: hold the crawl's session lock for as long as it runs here. */
static enum err
claim_lock(struct db *db, const char *id, char *errbuf, size_t errlen)
{
    return db_query(db, NULL, "SELECT pg_advisory_lock(" LOCK_S3_CRAWL("$1::uuid") ")", 1, &id,
                    errbuf, errlen);
}

enum err
crawl_store_claim(struct db *db, struct crawl_claim *c, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    memset(c, 0, sizeof(*c));
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (rc)
        return rc;
    rc = db_query(db, &res,
                  "UPDATE s3_crawls SET status = 'running', heartbeat_at = now(), "
                  "started_at = coalesce(started_at, now()), n_objects = 0, unchanged = 0 "
                  "WHERE id = (SELECT id FROM s3_crawls WHERE status = 'queued' OR (status = "
                  "'running' AND " CRAWL_ABANDONED ") ORDER BY created_at "
                  "FOR UPDATE SKIP LOCKED LIMIT 1) "
                  "RETURNING id, bucket, prefix, mode, started_at::text",
                  0, NULL, errbuf, errlen);
    if (rc)
        goto out;
    if (PQntuples(res) == 0) {
        rc = ERR_NOT_FOUND;
        goto out;
    }
    snprintf(c->id, sizeof(c->id), "%s", PQgetvalue(res, 0, 0));
    c->bucket = xstrdup(PQgetvalue(res, 0, 1));
    c->prefix = xstrdup(PQgetvalue(res, 0, 2));
    c->verify = strcmp(PQgetvalue(res, 0, 3), "verify") == 0;
    c->started_at = xstrdup(PQgetvalue(res, 0, 4));
    rc = claim_lock(db, c->id, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
out:
    PQclear(res);
    if (rc) {
        db_rollback(db);
        crawl_claim_release(c);
    }
    return rc;
}

enum err
crawl_store_release(struct db *db, const char *id, char *errbuf, size_t errlen)
{
    return db_query(db, NULL, "SELECT pg_advisory_unlock(" LOCK_S3_CRAWL("$1::uuid") ")", 1, &id,
                    errbuf, errlen);
}

enum err
crawl_store_progress(struct db *db, const char *id, const struct crawl_counts *c,
                     const char *missing_keys, const char *listing, char *errbuf, size_t errlen)
{
    char n[5][24];
    char cap[16];
    const char *params[9];

    snprintf(n[0], sizeof(n[0]), "%lld", (long long)c->objects);
    snprintf(n[1], sizeof(n[1]), "%lld", (long long)c->created);
    snprintf(n[2], sizeof(n[2]), "%lld", (long long)c->deleted);
    snprintf(n[3], sizeof(n[3]), "%lld", (long long)c->unchanged);
    snprintf(n[4], sizeof(n[4]), "%lld", (long long)c->missing);
    snprintf(cap, sizeof(cap), "%d", CRAWL_MISSING_KEYS_MAX);
    params[0] = id;
    params[1] = n[0];
    params[2] = n[1];
    params[3] = n[2];
    params[4] = n[3];
    params[5] = n[4];
    params[6] = missing_keys ? missing_keys : "[]";
    params[7] = listing;
    params[8] = cap;
    return db_query(db, NULL,
                    "UPDATE s3_crawls SET n_objects = n_objects + $2, created = created + $3, "
                    "deleted = deleted + $4, unchanged = unchanged + $5, missing = missing + $6, "
                    "missing_keys = (SELECT coalesce(jsonb_agg(e ORDER BY i), '[]') FROM "
                    "jsonb_array_elements(missing_keys || $7::jsonb) WITH ORDINALITY AS x(e, i) "
                    "WHERE i <= $9::int), listing = coalesce($8, listing), heartbeat_at = now() "
                    "WHERE id = $1",
                    9, params, errbuf, errlen);
}

enum err
crawl_store_finish(struct db *db, const char *id, char *errbuf, size_t errlen)
{
    return db_query(db, NULL,
                    "UPDATE s3_crawls SET status = 'succeeded', finished_at = now(), error = NULL, "
                    "error_kind = NULL WHERE id = $1",
                    1, &id, errbuf, errlen);
}

enum err
crawl_store_fail(struct db *db, const char *id, enum err failure, const char *message, char *errbuf,
                 size_t errlen)
{
    const char *params[3];

    params[0] = id;
    params[1] = message;
    params[2] = err_name(failure);
    return db_query(db, NULL,
                    "UPDATE s3_crawls SET status = 'failed', error = $2, error_kind = $3, "
                    "finished_at = now() WHERE id = $1",
                    3, params, errbuf, errlen);
}
