/*
 * inventory_store.c - inventory jobs: job rows, submitting, claiming, failing
 *
 * The inventory_jobs and inventory_files rows of a job (migration 0003).
 * Staging its data files is inventory_stage.c, the final transaction
 * inventory_apply.c, their partitions inventory_part.c.
 *
 * A job is claimed through its row (FOR UPDATE SKIP LOCKED), so any replica
 * may run it and none runs it twice at once; the runner then holds the
 * job's session advisory lock (locks.h, LOCK_INVENTORY_JOB) until it
 * releases the job, so a running job whose lock is free lost its runner and
 * may be claimed again. A submission of a source that has an unfinished job
 * resumes that job instead of creating one.
 *
 * A failed job records its message and the kind of its failure (enum err,
 * stored by err_name() in error_kind); the kind is returned apart from the
 * job object, which is exactly the API's shape.
 *
 * Thread-safety: every function works on the caller's struct db, which
 * belongs to one thread.
 */
#include "storage/inventory_store.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "core/buf.h"
#include "core/hex.h"
#include "storage/db.h"
#include "storage/locks.h"
#include "storage/outbox_store.h"
#include "storage/pgcopy.h"

/*
 * While a job runs, what its files in flight have streamed so far (col is
 * streamed_records or streamed_bytes of inventory_files, migration 0006);
 * 0 otherwise.
 */
#define JOB_STREAMED(col)                                                                          \
    "CASE WHEN inventory_jobs.status = 'running' THEN (SELECT coalesce(sum(f." col "), 0) "        \
    "FROM inventory_files f WHERE f.job_id = inventory_jobs.id AND NOT f.staged) ELSE 0 END"

/* The job's phase, a refinement of its status (openapi.yaml, InventoryJob). */
#define JOB_PHASE                                                                                  \
    "CASE status WHEN 'queued' THEN 'queued' WHEN 'running' THEN CASE WHEN applying_at IS NULL "   \
    "THEN 'staging' ELSE 'applying' END ELSE 'done' END"

/* The job's records and bytes: the staged files' and what files in flight streamed. */
#define JOB_RECORDS "records + " JOB_STREAMED("streamed_records")
#define JOB_BYTES "bytes + " JOB_STREAMED("streamed_bytes")
/* The job's times as text. */
#define JOB_TIMES SQL_TS("created_at") ", " SQL_TS("started_at") ", " SQL_TS("finished_at")

#define JOB_COLUMNS                                                                                \
    "id, status, bucket, key, format, files_total, files_done, " JOB_RECORDS ", " JOB_BYTES        \
    ", " JOB_TIMES ", error, summary::text, error_kind, bytes_total, " JOB_PHASE
/* JOB_COLUMNS' index of error_kind, which is not part of the job object. */
#define JOB_ERROR_KIND 14

/* A running job whose runner is gone: its lock is free (tried, never waited for). */
#define JOB_ABANDONED "pg_try_advisory_xact_lock(" LOCK_INVENTORY_JOB("id") ")"

static json_t *
str_or_null(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? json_null() : json_string(PQgetvalue(res, r, c));
}

static json_t *
job_json(PGresult *res, int r)
{
    json_t *o = json_object();
    json_t *summary = NULL;

    json_object_set_new(o, "id", json_string(PQgetvalue(res, r, 0)));
    json_object_set_new(o, "status", json_string(PQgetvalue(res, r, 1)));
    json_object_set_new(o, "phase", json_string(PQgetvalue(res, r, 16)));
    json_object_set_new(o, "bucket", str_or_null(res, r, 2));
    json_object_set_new(o, "key", str_or_null(res, r, 3));
    json_object_set_new(o, "format", str_or_null(res, r, 4));
    json_object_set_new(o, "files_total", json_integer(strtoll(PQgetvalue(res, r, 5), NULL, 10)));
    json_object_set_new(o, "files_done", json_integer(strtoll(PQgetvalue(res, r, 6), NULL, 10)));
    json_object_set_new(o, "records", json_integer(strtoll(PQgetvalue(res, r, 7), NULL, 10)));
    json_object_set_new(o, "bytes", json_integer(strtoll(PQgetvalue(res, r, 8), NULL, 10)));
    json_object_set_new(o, "bytes_total",
                        PQgetisnull(res, r, 15)
                            ? json_null()
                            : json_integer(strtoll(PQgetvalue(res, r, 15), NULL, 10)));
    json_object_set_new(o, "created_at", json_string(PQgetvalue(res, r, 9)));
    json_object_set_new(o, "started_at", str_or_null(res, r, 10));
    json_object_set_new(o, "finished_at", str_or_null(res, r, 11));
    json_object_set_new(o, "error", str_or_null(res, r, 12));
    if (!PQgetisnull(res, r, 13))
        summary = json_loads(PQgetvalue(res, r, 13), 0, NULL);
    json_object_set_new(o, "summary", summary ? summary : json_null());
    return o;
}

/*
 * The enum err whose err_name() is `name`: ERR_OK for none (NULL), and
 * ERR_INTERNAL for a name this build does not know.
 */
static enum err
failure_kind(const char *name)
{
    enum err e;

    if (!name)
        return ERR_OK;
    for (e = ERR_OK; e <= ERR_GONE; e++) /* ERR_GONE is the last of enum err */
        if (strcmp(err_name(e), name) == 0)
            return e;
    return ERR_INTERNAL;
}

enum err
inventory_store_get(struct db *db, const char *id, json_t **job, enum err *failure, char *errbuf,
                    size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    *job = NULL;
    if (failure)
        *failure = ERR_OK;
    rc = db_query(db, &res, "SELECT " JOB_COLUMNS " FROM inventory_jobs WHERE id = $1", 1, &id,
                  errbuf, errlen);
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        rc = err_set(ERR_NOT_FOUND, errbuf, errlen, "no such inventory job");
    } else {
        *job = job_json(res, 0);
        if (failure && !PQgetisnull(res, 0, JOB_ERROR_KIND))
            *failure = failure_kind(PQgetvalue(res, 0, JOB_ERROR_KIND));
    }
    PQclear(res);
    return rc;
}

enum err
inventory_store_list(struct db *db, const char *before, int limit, json_t **items, int *more,
                     char *errbuf, size_t errlen)
{
    static const struct db_page_query q = {JOB_COLUMNS, "inventory_jobs", "created_at",
                                           "inventory job", job_json};

    return db_page_before_json(db, &q, before, limit, items, more, errbuf, errlen);
}

/* Files of a parsed manifest into inventory_files (job row already there). */
static enum err
insert_files(struct db *db, const char *id, const struct inventory_manifest *m, char *errbuf,
             size_t errlen)
{
    struct buf a[2]; /* keys, MD5s */
    const char *params[3];
    size_t i;
    enum err rc;

    pgcopy_param_arrays_open(a, 2);
    for (i = 0; i < m->nfiles; i++) {
        pgcopy_param_elem(&a[0], m->files[i].key, strlen(m->files[i].key), i == 0);
        pgcopy_param_elem_or_null(&a[1], m->files[i].md5_hex, i == 0);
    }
    pgcopy_param_arrays_close(a, 2);
    params[0] = id;
    params[1] = a[0].data;
    params[2] = a[1].data;
    rc = db_query(db, NULL,
                  "INSERT INTO inventory_files (job_id, idx, key, md5) "
                  "SELECT $1, f.i - 1, f.k, f.m FROM unnest($2::text[], $3::text[]) "
                  "WITH ORDINALITY AS f(k, m, i) ON CONFLICT DO NOTHING",
                  3, params, errbuf, errlen);
    buf_release(&a[0]);
    buf_release(&a[1]);
    return rc;
}

/* The sum of the files' sizes into out (as text); 0 when a file has no size (or overflow). */
static int
bytes_total(const struct inventory_manifest *m, char out[32])
{
    long long sum = 0;
    size_t i;

    for (i = 0; i < m->nfiles; i++) {
        if (!m->files[i].has_size || m->files[i].size > INT64_MAX - sum)
            return 0;
        sum += (long long)m->files[i].size;
    }
    snprintf(out, 32, "%lld", sum);
    return 1;
}

/*
 * Store a job's manifest text, its format, the sum of its files' sizes and
 * its files (in the caller's transaction).
 */
static enum err
store_manifest(struct db *db, const char *id, const char *json, const struct inventory_manifest *m,
               char *errbuf, size_t errlen)
{
    char n[16];
    char total[32];
    const char *params[5];
    enum err rc;

    snprintf(n, sizeof(n), "%zu", m->nfiles);
    params[0] = id;
    params[1] = json;
    params[2] = m->file_format;
    params[3] = n;
    params[4] = bytes_total(m, total) ? total : NULL;
    rc = db_query(db, NULL,
                  "UPDATE inventory_jobs SET manifest = $2, format = $3, files_total = $4, "
                  "bytes_total = $5 WHERE id = $1",
                  5, params, errbuf, errlen);
    if (!rc)
        rc = insert_files(db, id, m, errbuf, errlen);
    return rc;
}

enum err
inventory_store_set_manifest(struct db *db, const char *id, const char *json,
                             const struct inventory_manifest *m, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (!rc)
        rc = store_manifest(db, id, json, m, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_rollback(db);
    return rc;
}

/*
 * The identity of a submission's source: "s3://bucket/key", or for an inline
 * manifest "inline:" and the MD5 of its text, which is parsed into *m.
 */
static enum err
source_identity(const char *bucket, const char *key, const char *manifest_json, size_t manifest_len,
                struct buf *identity, struct inventory_manifest *m, char *errbuf, size_t errlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];

    if (!manifest_json) {
        buf_printf(identity, "s3://%s/%s", bucket, key);
        return ERR_OK;
    }
    EVP_Digest(manifest_json, manifest_len, md, &mdlen, EVP_md5(), NULL);
    hex_encode(hex, md, mdlen);
    buf_append_str(identity, "inline:");
    buf_append_str(identity, hex);
    return inventory_manifest_parse(manifest_json, manifest_len, m, errbuf, errlen);
}

/*
 * Under the source's lock (one submission at a time per source, so two
 * resumes cannot race), resume the newest unfinished job of the source:
 * running ones are left as they are, failed and abandoned ones are queued
 * again. id[] gets its id, "" when there is none.
 */
static enum err
resume_job(struct db *db, const char *identity, char id[37], char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    id[0] = '\0';
    rc = db_query(db, NULL, "SELECT pg_advisory_xact_lock(" LOCK_INVENTORY_SOURCE("$1") ")", 1,
                  &identity, errbuf, errlen);
    if (!rc)
        rc = db_query(db, &res,
                      "WITH j AS (SELECT id, status, status = 'running' AND " JOB_ABANDONED
                      " AS abandoned FROM inventory_jobs WHERE identity = $1 AND status IN "
                      "('queued', 'running', 'failed') ORDER BY created_at DESC LIMIT 1) "
                      "UPDATE inventory_jobs o SET status = CASE WHEN j.status = 'running' AND "
                      "NOT j.abandoned THEN 'running' ELSE 'queued' END, error = NULL, "
                      "error_kind = NULL, finished_at = NULL FROM j WHERE o.id = j.id "
                      "RETURNING o.id",
                      1, &identity, errbuf, errlen);
    if (!rc && PQntuples(res) == 1)
        snprintf(id, 37, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* Insert a new queued job (id[] gets its id), with the files of an inline manifest m. */
static enum err
insert_job(struct db *db, const char *identity, const char *bucket, const char *key,
           const char *manifest_json, const struct inventory_manifest *m, char id[37], char *errbuf,
           size_t errlen)
{
    const char *params[5];
    uuid_t u;
    enum err rc;

    uuid_generate(u);
    uuid_unparse_lower(u, id);
    params[0] = id;
    params[1] = identity;
    params[2] = bucket;
    params[3] = key;
    params[4] = manifest_json;
    rc = db_query(db, NULL,
                  "INSERT INTO inventory_jobs (id, identity, status, bucket, key, manifest) "
                  "VALUES ($1, $2, 'queued', $3, $4, $5)",
                  5, params, errbuf, errlen);
    if (!rc && manifest_json)
        rc = store_manifest(db, id, manifest_json, m, errbuf, errlen);
    return rc;
}

enum err
inventory_store_submit(struct db *db, const char *bucket, const char *key,
                       const char *manifest_json, size_t manifest_len, json_t **job, int *resumed,
                       char *errbuf, size_t errlen)
{
    struct inventory_manifest m;
    struct buf identity;
    char id[37];
    enum err rc;

    memset(&m, 0, sizeof(m));
    *job = NULL;
    *resumed = 0;
    buf_init(&identity, 0);
    rc = source_identity(bucket, key, manifest_json, manifest_len, &identity, &m, errbuf, errlen);
    if (rc)
        goto out;
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (!rc)
        rc = resume_job(db, identity.data, id, errbuf, errlen);
    if (!rc && id[0])
        *resumed = 1;
    else if (!rc)
        rc = insert_job(db, identity.data, bucket, key, manifest_json, &m, id, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (!rc)
        rc = inventory_store_get(db, id, job, NULL, errbuf, errlen);
out:
    if (rc)
        db_rollback(db);
    inventory_manifest_release(&m);
    buf_release(&identity);
    return rc;
}

void
inventory_claim_release(struct inventory_claim *c)
{
    if (!c)
        return;
    free(c->bucket);
    free(c->key);
    free(c->manifest);
    memset(c, 0, sizeof(*c));
}

enum err
inventory_store_claim(struct db *db, struct inventory_claim *c, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    memset(c, 0, sizeof(*c));
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (rc)
        return rc;
    rc = db_query(db, &res,
                  "UPDATE inventory_jobs SET status = 'running', heartbeat_at = now(), "
                  "started_at = coalesce(started_at, now()), applying_at = NULL "
                  "WHERE id = (SELECT id FROM "
                  "inventory_jobs WHERE status = 'queued' OR (status = 'running' AND " JOB_ABANDONED
                  ") ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) "
                  "RETURNING id, bucket, key, manifest",
                  0, NULL, errbuf, errlen);
    if (rc)
        goto out;
    if (PQntuples(res) == 0) {
        rc = ERR_NOT_FOUND;
        goto out;
    }
    snprintf(c->id, sizeof(c->id), "%s", PQgetvalue(res, 0, 0));
    c->bucket = PQgetisnull(res, 0, 1) ? NULL : xstrdup(PQgetvalue(res, 0, 1));
    c->key = PQgetisnull(res, 0, 2) ? NULL : xstrdup(PQgetvalue(res, 0, 2));
    c->manifest = PQgetisnull(res, 0, 3) ? NULL : xstrdup(PQgetvalue(res, 0, 3));
    {
        const char *id = c->id;

        /* held by this connection for as long as the job runs here */
        rc = db_query(db, NULL, "SELECT pg_advisory_lock(" LOCK_INVENTORY_JOB("$1::uuid") ")", 1,
                      &id, errbuf, errlen);
        /* what a previous run streamed of its unstaged files is redone from 0 */
        if (!rc)
            rc = db_query(db, NULL,
                          "UPDATE inventory_files SET streamed_records = 0, streamed_bytes = 0 "
                          "WHERE job_id = $1 AND NOT staged AND (streamed_records <> 0 OR "
                          "streamed_bytes <> 0)",
                          1, &id, errbuf, errlen);
    }
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
out:
    PQclear(res);
    if (rc) {
        db_rollback(db);
        inventory_claim_release(c);
    }
    return rc;
}

enum err
inventory_store_release(struct db *db, const char *id, char *errbuf, size_t errlen)
{
    return db_query(db, NULL, "SELECT pg_advisory_unlock(" LOCK_INVENTORY_JOB("$1::uuid") ")", 1,
                    &id, errbuf, errlen);
}

enum err
inventory_store_pending_files(struct db *db, const char *id, int **idx, size_t *n, char *errbuf,
                              size_t errlen)
{
    PGresult *res = NULL;
    int i;
    enum err rc;

    *idx = NULL;
    *n = 0;
    rc = db_query(db, &res,
                  "SELECT idx FROM inventory_files WHERE job_id = $1 AND NOT staged ORDER BY idx",
                  1, &id, errbuf, errlen);
    if (rc)
        return rc;
    *n = (size_t)PQntuples(res);
    *idx = xcalloc(*n ? *n : 1, sizeof(int));
    for (i = 0; i < PQntuples(res); i++)
        (*idx)[i] = atoi(PQgetvalue(res, i, 0));
    PQclear(res);
    return ERR_OK;
}

enum err
inventory_store_progress(struct db *db, const char *job_id, const int *idx, const int64_t *records,
                         const int64_t *bytes, size_t n, char *errbuf, size_t errlen)
{
    struct buf a[3]; /* file indexes, records, bytes */
    char num[32];
    const char *params[4];
    size_t i;
    enum err rc;

    if (n == 0)
        return ERR_OK;
    pgcopy_param_arrays_open(a, 3);
    for (i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "%d", idx[i]);
        pgcopy_param_elem(&a[0], num, strlen(num), i == 0);
        snprintf(num, sizeof(num), "%lld", (long long)records[i]);
        pgcopy_param_elem(&a[1], num, strlen(num), i == 0);
        snprintf(num, sizeof(num), "%lld", (long long)bytes[i]);
        pgcopy_param_elem(&a[2], num, strlen(num), i == 0);
    }
    pgcopy_param_arrays_close(a, 3);
    params[0] = job_id;
    params[1] = a[0].data;
    params[2] = a[1].data;
    params[3] = a[2].data;
    /* a row being marked staged is locked by its staging transaction: skip it, never wait */
    rc = db_query(db, NULL,
                  "WITH p AS (SELECT * FROM unnest($2::int[], $3::bigint[], $4::bigint[]) "
                  "AS p(idx, records, bytes)), "
                  "l AS (SELECT f.idx FROM inventory_files f JOIN p ON f.idx = p.idx "
                  "WHERE f.job_id = $1 AND NOT f.staged FOR UPDATE OF f SKIP LOCKED) "
                  "UPDATE inventory_files f SET streamed_records = p.records, "
                  "streamed_bytes = p.bytes FROM p JOIN l ON l.idx = p.idx "
                  "WHERE f.job_id = $1 AND f.idx = p.idx",
                  4, params, errbuf, errlen);
    for (i = 0; i < 3; i++)
        buf_release(&a[i]);
    return rc;
}

enum err
inventory_store_heartbeat(struct db *db, const char *id, char *errbuf, size_t errlen)
{
    return db_query(db, NULL, "UPDATE inventory_jobs SET heartbeat_at = now() WHERE id = $1", 1,
                    &id, errbuf, errlen);
}

enum err
inventory_store_announce(struct db *db, const char *job_id, const char *type, char *errbuf,
                         size_t errlen)
{
    json_t *job = NULL;
    enum err rc;

    rc = inventory_store_get(db, job_id, &job, NULL, errbuf, errlen);
    if (!rc)
        rc = outbox_enqueue(db, type, "/api/v1/s3/inventories", job_id, job, NULL, errbuf, errlen);
    json_decref(job);
    return rc;
}

enum err
inventory_store_fail(struct db *db, const char *job_id, enum err failure, const char *message,
                     char *errbuf, size_t errlen)
{
    const char *params[3];
    enum err rc;

    params[0] = job_id;
    params[1] = message;
    params[2] = err_name(failure);
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (!rc)
        rc = db_query(db, NULL,
                      "UPDATE inventory_jobs SET status = 'failed', error = $2, error_kind = $3, "
                      "finished_at = now() WHERE id = $1",
                      3, params, errbuf, errlen);
    if (!rc)
        rc = inventory_store_announce(db, job_id, OUTBOX_INVENTORY_FAILED, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_rollback(db);
    return rc;
}

enum err
inventory_store_observed_ms(struct db *db, const char *job_id, const struct inventory_manifest *m,
                            int64_t *ms, char *errbuf, size_t errlen)
{
    long long created_ms = 0;
    enum err rc;

    if (m->has_creation_ms) {
        *ms = m->creation_ms;
        return ERR_OK;
    }
    rc = db_query_ll(db,
                     "SELECT (extract(epoch FROM created_at) * 1000)::bigint FROM inventory_jobs "
                     "WHERE id = $1",
                     1, &job_id, "no such inventory job", &created_ms, errbuf, errlen);
    if (!rc)
        *ms = created_ms;
    return rc;
}
