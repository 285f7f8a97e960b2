/*
 * inventory_store.c - inventory jobs: records, claiming, staging, applying
 *
 * Staging: each job has its own table inventory_staging_<id hex>. A file's
 * lines are grouped by (bucket, key) as they stream (inventories list a
 * key's versions together): the group's candidate for "current" is the
 * IsLatest line, else its last line. `ord` orders a key's lines for their
 * generated sequencers: file and line position, the candidate last.
 *
 * Applying (one transaction, source buckets locked exclusively against event
 * batches, which hold them shared):
 *   1. the latest record per (bucket, key, version) and the greatest
 *      sequencer per key of the source buckets, into temp tables;
 *   2. staged lines that differ from their version's latest record become
 *      records (reason Crawl, generated sequencers after the key's greatest);
 *      keys new to the catalog get their current record right there;
 *   3. current records the inventory does not list get a Deleted record,
 *      unless their latest event is newer than the manifest's creation time;
 *   4. the current state is recomputed for the keys that had records before;
 *   5. the staging table is dropped and the job marked succeeded.
 * If step 2's shortcut meets a key listed twice apart (unsorted input), the
 * unique current index refuses it and the apply runs again without it.
 */
#include "inventory_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

#include "../server/buf.h"
#include "../server/log.h"
#include "db.h"
#include "locks.h"
#include "pgcopy.h"

#define JOB_COLUMNS                                                                                \
    "id, status, bucket, key, format, files_total, files_done, records, bytes, " SQL_TS(           \
        "created_at") ", " SQL_TS("started_at") ", " SQL_TS("finished_at") ", error, "             \
                                                                           "summary::text, "       \
                                                                           "error_status"

/* A running job's runner holds this session lock; a dead runner's is gone. */
#define JOB_LOCK_KEY(id) "hashtextextended((" id ")::text, 7403)"
#define JOB_ABANDONED "pg_try_advisory_xact_lock(" JOB_LOCK_KEY("id") ")"

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
    json_object_set_new(o, "bucket", str_or_null(res, r, 2));
    json_object_set_new(o, "key", str_or_null(res, r, 3));
    json_object_set_new(o, "format", str_or_null(res, r, 4));
    json_object_set_new(o, "files_total", json_integer(strtoll(PQgetvalue(res, r, 5), NULL, 10)));
    json_object_set_new(o, "files_done", json_integer(strtoll(PQgetvalue(res, r, 6), NULL, 10)));
    json_object_set_new(o, "records", json_integer(strtoll(PQgetvalue(res, r, 7), NULL, 10)));
    json_object_set_new(o, "bytes", json_integer(strtoll(PQgetvalue(res, r, 8), NULL, 10)));
    json_object_set_new(o, "created_at", json_string(PQgetvalue(res, r, 9)));
    json_object_set_new(o, "started_at", str_or_null(res, r, 10));
    json_object_set_new(o, "finished_at", str_or_null(res, r, 11));
    json_object_set_new(o, "error", str_or_null(res, r, 12));
    if (!PQgetisnull(res, r, 13))
        summary = json_loads(PQgetvalue(res, r, 13), 0, NULL);
    json_object_set_new(o, "summary", summary ? summary : json_null());
    if (!PQgetisnull(res, r, 14)) /* internal: the HTTP status of a failed ?wait=true */
        json_object_set_new(o, "_error_status",
                            json_integer(strtoll(PQgetvalue(res, r, 14), NULL, 10)));
    return o;
}

enum err
inventory_store_get(struct db *db, const char *id, json_t **job, char *errbuf, size_t errlen)
{
    return db_get_json(db, "SELECT " JOB_COLUMNS " FROM inventory_jobs WHERE id = $1", 1, &id,
                       job_json, "no such inventory job", job, errbuf, errlen);
}

enum err
inventory_store_list(struct db *db, const char *before, int limit, json_t **items, int *more,
                     char *errbuf, size_t errlen)
{
    char lim[16];
    const char *params[2];

    snprintf(lim, sizeof(lim), "%d", limit + 1);
    params[0] = before;
    params[1] = lim;
    return db_page_json(db,
                        "SELECT " JOB_COLUMNS " FROM inventory_jobs WHERE $1::uuid IS NULL OR "
                        "(created_at, id) < (SELECT created_at, id FROM inventory_jobs "
                        "WHERE id = $1) ORDER BY created_at DESC, id DESC LIMIT $2",
                        2, params, limit, job_json, items, more, errbuf, errlen);
}

/* Files of a parsed manifest into inventory_files (job row already there). */
static enum err
insert_files(struct db *db, const char *id, const struct inventory_manifest *m, char *errbuf,
             size_t errlen)
{
    struct buf keys;
    struct buf md5s;
    const char *params[3];
    size_t i;
    enum err rc;

    buf_init(&keys, 0);
    buf_init(&md5s, 0);
    buf_append_char(&keys, '{');
    buf_append_char(&md5s, '{');
    for (i = 0; i < m->nfiles; i++) {
        pgcopy_param_elem(&keys, m->files[i].key, strlen(m->files[i].key), i == 0);
        if (i)
            buf_append_char(&md5s, ',');
        if (m->files[i].md5_hex)
            pgcopy_param_elem(&md5s, m->files[i].md5_hex, strlen(m->files[i].md5_hex), 1);
        else
            buf_append_str(&md5s, "NULL");
    }
    buf_append_char(&keys, '}');
    buf_append_char(&md5s, '}');
    params[0] = id;
    params[1] = keys.data;
    params[2] = md5s.data;
    rc = db_query(db, NULL,
                  "INSERT INTO inventory_files (job_id, idx, key, md5) "
                  "SELECT $1, f.i - 1, f.k, f.m FROM unnest($2::text[], $3::text[]) "
                  "WITH ORDINALITY AS f(k, m, i) ON CONFLICT DO NOTHING",
                  3, params, errbuf, errlen);
    buf_release(&keys);
    buf_release(&md5s);
    return rc;
}

enum err
inventory_store_set_manifest(struct db *db, const char *id, const char *json,
                             const struct inventory_manifest *m, char *errbuf, size_t errlen)
{
    char n[16];
    const char *params[4];
    enum err rc;

    snprintf(n, sizeof(n), "%zu", m->nfiles);
    params[0] = id;
    params[1] = json;
    params[2] = m->file_format;
    params[3] = n;
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (!rc)
        rc = db_query(db, NULL,
                      "UPDATE inventory_jobs SET manifest = $2, format = $3, files_total = $4 "
                      "WHERE id = $1",
                      4, params, errbuf, errlen);
    if (!rc)
        rc = insert_files(db, id, m, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_rollback(db);
    return rc;
}

enum err
inventory_store_submit(struct db *db, const char *bucket, const char *key,
                       const char *manifest_json, size_t manifest_len, json_t **job, int *resumed,
                       char *errbuf, size_t errlen)
{
    struct inventory_manifest m;
    struct buf identity;
    PGresult *res = NULL;
    const char *params[5];
    char id[37];
    uuid_t u;
    enum err rc;

    memset(&m, 0, sizeof(m));
    *job = NULL;
    *resumed = 0;
    buf_init(&identity, 0);
    if (manifest_json) {
        unsigned char md[16];
        unsigned int mdlen = 0;
        size_t i;

        EVP_Digest(manifest_json, manifest_len, md, &mdlen, EVP_md5(), NULL);
        buf_append_str(&identity, "inline:");
        for (i = 0; i < mdlen; i++)
            buf_printf(&identity, "%02x", md[i]);
        rc = inventory_manifest_parse(manifest_json, manifest_len, &m, errbuf, errlen);
        if (rc)
            goto out;
    } else {
        buf_printf(&identity, "s3://%s/%s", bucket, key);
    }
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (rc)
        goto out;
    /* one submission at a time per source, so two resumes cannot race */
    params[0] = identity.data;
    rc = db_query(db, NULL, "SELECT pg_advisory_xact_lock(hashtextextended($1, 7402))", 1, params,
                  errbuf, errlen);
    /* the newest unfinished job of this source: running ones are returned as they are,
     * failed and abandoned ones are queued again */
    if (!rc)
        rc = db_query(db, &res,
                      "WITH j AS (SELECT id, status, status = 'running' AND " JOB_ABANDONED
                      " AS abandoned FROM inventory_jobs WHERE identity = $1 AND status IN "
                      "('queued', 'running', 'failed') ORDER BY created_at DESC LIMIT 1) "
                      "UPDATE inventory_jobs o SET status = CASE WHEN j.status = 'running' AND "
                      "NOT j.abandoned THEN 'running' ELSE 'queued' END, error = NULL, "
                      "error_status = NULL, finished_at = NULL FROM j WHERE o.id = j.id "
                      "RETURNING o.id",
                      1, params, errbuf, errlen);
    if (rc)
        goto out;
    if (PQntuples(res) == 1) {
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
        *resumed = 1;
    } else {
        uuid_generate(u);
        uuid_unparse_lower(u, id);
        params[0] = id;
        params[1] = identity.data;
        params[2] = bucket;
        params[3] = key;
        params[4] = manifest_json;
        rc = db_query(db, NULL,
                      "INSERT INTO inventory_jobs (id, identity, status, bucket, key, manifest) "
                      "VALUES ($1, $2, 'queued', $3, $4, $5)",
                      5, params, errbuf, errlen);
        if (!rc && manifest_json) {
            char n[16];
            const char *p2[3] = {id, m.file_format, n};

            snprintf(n, sizeof(n), "%zu", m.nfiles);
            rc = db_query(db, NULL,
                          "UPDATE inventory_jobs SET format = $2, files_total = $3 WHERE id = $1",
                          3, p2, errbuf, errlen);
            if (!rc)
                rc = insert_files(db, id, &m, errbuf, errlen);
        }
    }
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (!rc)
        rc = inventory_store_get(db, id, job, errbuf, errlen);
out:
    PQclear(res);
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
                  "started_at = coalesce(started_at, now()) WHERE id = (SELECT id FROM "
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
        rc = db_query(db, NULL, "SELECT pg_advisory_lock(" JOB_LOCK_KEY("$1::uuid") ")", 1, &id,
                      errbuf, errlen);
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
    return db_query(db, NULL, "SELECT pg_advisory_unlock(" JOB_LOCK_KEY("$1::uuid") ")", 1, &id,
                    errbuf, errlen);
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
inventory_store_heartbeat(struct db *db, const char *id, char *errbuf, size_t errlen)
{
    return db_query(db, NULL, "UPDATE inventory_jobs SET heartbeat_at = now() WHERE id = $1", 1,
                    &id, errbuf, errlen);
}

enum err
inventory_store_fail(struct db *db, const char *job_id, const char *message, char *errbuf,
                     size_t errlen)
{
    const char *params[3];
    const char *status = "422";

    if (strncmp(message, "s3 ", 3) == 0)
        status = "502"; /* S3 itself failed or was unreachable */
    params[0] = job_id;
    params[1] = message;
    params[2] = status;
    return db_query(db, NULL,
                    "UPDATE inventory_jobs SET status = 'failed', error = $2, error_status = $3, "
                    "finished_at = now() WHERE id = $1",
                    3, params, errbuf, errlen);
}

/* ---- staging ---- */

struct staged_line {
    struct buf row; /* COPY text of the columns before cand, ord */
    int is_latest;
    size_t line;
};

struct inventory_stage {
    struct db *db;
    char job[37];
    char table[64];
    int file_idx;
    struct buf out;
    struct staged_line *group;
    size_t ngroup;
    size_t group_alloc;
    char *group_bucket;
    char *group_key;
    int64_t records;
    int versioned;
    char **buckets;
    size_t nbuckets;
    unsigned char id_prefix[8];
    uint64_t id_counter;
};

/* A job's staging table; written once and read once, so autovacuum leaves it alone. */
#define STAGING_TABLE                                                                              \
    "(id uuid NOT NULL, bucket text COLLATE \"C\" NOT NULL, key text COLLATE \"C\" NOT NULL, "     \
    "version_id text COLLATE \"C\" NOT NULL, is_delete_marker boolean NOT NULL, size bigint, "     \
    "last_modified timestamptz, etag text, storage_class text, file_idx integer NOT NULL, "        \
    "cand boolean NOT NULL, ord bigint NOT NULL) WITH (autovacuum_enabled = false)"

static void
staging_table_name(const char *job, char out[64])
{
    size_t n = 0;

    n = (size_t)snprintf(out, 64, "inventory_staging_");
    for (; *job && n < 62; job++)
        if (*job != '-')
            out[n++] = *job;
    out[n] = '\0';
}

/* A time-ordered id (UUID version 7 layout) so the catalog's key index grows at its end. */
static void
next_id(struct inventory_stage *s, char out[37])
{
    unsigned char u[16];
    uint64_t c = s->id_counter++;
    int i;

    memcpy(u, s->id_prefix, 8);
    for (i = 0; i < 8; i++)
        u[8 + i] = (unsigned char)(c >> (56 - 8 * i));
    u[6] = (unsigned char)(0x70 | (u[6] & 0x0f));
    u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));
    uuid_unparse_lower(u, out);
}

enum err
inventory_stage_begin(struct db *db, const char *job_id, int file_idx, struct inventory_stage **out,
                      char *errbuf, size_t errlen)
{
    struct inventory_stage *s = xcalloc(1, sizeof(*s));
    struct buf sql;
    struct timespec ts;
    uint64_t ms;
    int i;
    enum err rc;

    *out = NULL;
    s->db = db;
    snprintf(s->job, sizeof(s->job), "%s", job_id);
    staging_table_name(job_id, s->table);
    s->file_idx = file_idx;
    buf_init(&s->out, 0);
    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (i = 0; i < 6; i++)
        s->id_prefix[i] = (unsigned char)(ms >> (40 - 8 * i));
    if (getrandom(s->id_prefix + 6, 2, 0) != 2)
        s->id_prefix[6] = s->id_prefix[7] = (unsigned char)file_idx;
    if (getrandom(&s->id_counter, sizeof(s->id_counter), 0) != sizeof(s->id_counter))
        s->id_counter = (uint64_t)ts.tv_nsec;
    s->id_counter &= 0x3fffffffffffffffULL; /* room to count */
    buf_init(&sql, 0);
    buf_printf(&sql, "BEGIN; CREATE TABLE IF NOT EXISTS %s " STAGING_TABLE, s->table);
    rc = db_exec(db, sql.data, errbuf, errlen);
    buf_reset(&sql);
    buf_printf(&sql,
               "COPY %s (id, bucket, key, version_id, is_delete_marker, size, last_modified, "
               "etag, storage_class, file_idx, cand, ord) FROM STDIN",
               s->table);
    if (!rc)
        rc = db_copy_start(db, sql.data, errbuf, errlen);
    buf_release(&sql);
    if (rc) {
        db_rollback(db);
        buf_release(&s->out);
        free(s);
        return rc;
    }
    *out = s;
    return ERR_OK;
}

static void
copy_text_or_null(struct buf *out, const char *v)
{
    if (v)
        pgcopy_field(out, v, strlen(v));
    else
        buf_append_str(out, "\\N");
    buf_append_char(out, '\t');
}

/*
 * Write the buffered group. The candidate for current is the IsLatest line;
 * without an IsLatest column, the group's last line. Order within the key:
 * file, then line; candidates after all others, IsLatest ones last of all
 * (also when a key's versions are spread over several files).
 */
static enum err
flush_group(struct inventory_stage *s, char *errbuf, size_t errlen)
{
    size_t i;

    for (i = 0; i < s->ngroup; i++) {
        long long ord = (long long)s->file_idx * 1000000000000LL + (long long)s->group[i].line;
        int latest = s->group[i].is_latest;
        int cand = latest == 1 || (latest == -1 && i == s->ngroup - 1);

        if (latest == 1)
            ord += 2000000000000000LL;
        else if (cand)
            ord += 1000000000000000LL;
        buf_append(&s->out, s->group[i].row.data, s->group[i].row.len);
        buf_printf(&s->out, "%s\t%lld\n", cand ? "t" : "f", ord);
        buf_release(&s->group[i].row);
    }
    s->ngroup = 0;
    if (s->out.len >= 256 * 1024) {
        enum err rc = db_copy_send(s->db, s->out.data, s->out.len, errbuf, errlen);

        buf_reset(&s->out);
        return rc;
    }
    return ERR_OK;
}

static void
note_bucket(struct inventory_stage *s, const char *bucket)
{
    size_t i;

    for (i = 0; i < s->nbuckets; i++)
        if (strcmp(s->buckets[i], bucket) == 0)
            return;
    s->buckets = xrealloc(s->buckets, (s->nbuckets + 1) * sizeof(char *));
    s->buckets[s->nbuckets++] = xstrdup(bucket);
}

enum err
inventory_stage_add(struct inventory_stage *s, const struct inventory_line *l, char *errbuf,
                    size_t errlen)
{
    struct staged_line *g;
    char id[37];
    char num[32];
    enum err rc;

    if (s->ngroup &&
        (strcmp(s->group_bucket, l->bucket) != 0 || strcmp(s->group_key, l->key) != 0)) {
        rc = flush_group(s, errbuf, errlen);
        if (rc)
            return rc;
    }
    if (s->ngroup == 0) {
        free(s->group_bucket);
        free(s->group_key);
        s->group_bucket = xstrdup(l->bucket);
        s->group_key = xstrdup(l->key);
        note_bucket(s, l->bucket);
    }
    if (s->ngroup == s->group_alloc) {
        s->group_alloc = s->group_alloc ? s->group_alloc * 2 : 8;
        s->group = xrealloc(s->group, s->group_alloc * sizeof(*s->group));
    }
    g = &s->group[s->ngroup++];
    buf_init(&g->row, 0);
    g->is_latest = l->is_latest;
    g->line = l->line;
    next_id(s, id);
    buf_printf(&g->row, "%s\t", id);
    copy_text_or_null(&g->row, l->bucket);
    copy_text_or_null(&g->row, l->key);
    copy_text_or_null(&g->row, l->version_id ? l->version_id : "null");
    buf_append_str(&g->row, l->is_delete_marker ? "t\t" : "f\t");
    snprintf(num, sizeof(num), "%lld", (long long)l->size);
    copy_text_or_null(&g->row, l->has_size ? num : NULL);
    copy_text_or_null(&g->row, l->last_modified);
    copy_text_or_null(&g->row, l->etag);
    copy_text_or_null(&g->row, l->storage_class);
    buf_printf(&g->row, "%d\t", s->file_idx);
    if (l->version_id)
        s->versioned = 1;
    s->records++;
    return ERR_OK;
}

static void
stage_free(struct inventory_stage *s)
{
    size_t i;

    for (i = 0; i < s->ngroup; i++)
        buf_release(&s->group[i].row);
    for (i = 0; i < s->nbuckets; i++)
        free(s->buckets[i]);
    free(s->buckets);
    free(s->group);
    free(s->group_bucket);
    free(s->group_key);
    buf_release(&s->out);
    free(s);
}

enum err
inventory_stage_commit(struct inventory_stage *s, int64_t bytes, char *errbuf, size_t errlen)
{
    struct buf lit;
    char idx[16];
    char records[32];
    char nbytes[32];
    const char *params[6];
    enum err rc;

    buf_init(&lit, 0);
    rc = flush_group(s, errbuf, errlen);
    if (!rc && s->out.len)
        rc = db_copy_send(s->db, s->out.data, s->out.len, errbuf, errlen);
    if (!rc)
        rc = db_copy_end(s->db, errbuf, errlen);
    if (rc)
        goto out;
    pgcopy_param_array(&lit, (const char *const *)s->buckets, NULL, s->nbuckets);
    snprintf(idx, sizeof(idx), "%d", s->file_idx);
    snprintf(records, sizeof(records), "%lld", (long long)s->records);
    snprintf(nbytes, sizeof(nbytes), "%lld", (long long)bytes);
    params[0] = s->job;
    params[1] = idx;
    params[2] = records;
    params[3] = nbytes;
    params[4] = lit.data;
    params[5] = s->versioned ? "t" : "f";
    rc = db_query(s->db, NULL,
                  "WITH f AS (UPDATE inventory_files SET staged = true, records = $3, bytes = $4, "
                  "buckets = $5, versioned = $6 WHERE job_id = $1 AND idx = $2 RETURNING 1) "
                  "UPDATE inventory_jobs SET files_done = files_done + (SELECT count(*) FROM f), "
                  "records = records + $3, bytes = bytes + $4, heartbeat_at = now() WHERE id = $1",
                  6, params, errbuf, errlen);
    if (!rc)
        rc = db_exec(s->db, "COMMIT", errbuf, errlen);
out:
    if (rc)
        db_rollback(s->db);
    buf_release(&lit);
    stage_free(s);
    return rc;
}

void
inventory_stage_abort(struct inventory_stage *s)
{
    if (!s)
        return;
    /* ending the COPY with an error rolls the file back with the transaction */
    if (db_conn(s->db))
        PQputCopyEnd(db_conn(s->db), "aborted");
    if (db_conn(s->db)) {
        PGresult *res;

        while ((res = PQgetResult(db_conn(s->db))) != NULL)
            PQclear(res);
    }
    db_rollback(s->db);
    stage_free(s);
}

/* ---- applying ---- */

static const char current_from_touched_sql[] =
    "CREATE TEMP TABLE inv_cur ON COMMIT DROP AS "
    "WITH lv AS (SELECT DISTINCT ON (o.bucket, o.key, o.version_id) o.id, o.bucket, o.key, "
    "  o.sequencer, o.event_type, o.is_delete_marker "
    "  FROM s3_objects o JOIN inv_touched t ON o.bucket = t.bucket AND o.key = t.key "
    "  ORDER BY o.bucket, o.key, o.version_id, o.sequencer DESC, o.event_type DESC, o.id DESC), "
    "top AS (SELECT DISTINCT ON (bucket, key) id, is_delete_marker FROM lv "
    "  WHERE event_type = 'Created' OR is_delete_marker "
    "  ORDER BY bucket, key, sequencer DESC, id DESC) "
    "SELECT id FROM top WHERE NOT is_delete_marker; "
    "UPDATE s3_objects o SET is_current = false FROM inv_touched t "
    "  WHERE o.bucket = t.bucket AND o.key = t.key AND o.is_current "
    "  AND NOT EXISTS (SELECT 1 FROM inv_cur c WHERE c.id = o.id); "
    "UPDATE s3_objects o SET is_current = true FROM inv_cur c "
    "  WHERE o.id = c.id AND NOT o.is_current";

/* A staged line s that differs from the latest record lv of its version (or has none). */
#define LINE_CHANGED                                                                               \
    "(lv.key IS NULL OR NOT (lv.is_delete_marker = s.is_delete_marker "                            \
    "AND lv.event_type = CASE WHEN s.is_delete_marker THEN 'Deleted' ELSE 'Created' END "          \
    "AND lv.size IS NOT DISTINCT FROM s.size AND lv.etag IS NOT DISTINCT FROM s.etag "             \
    "AND lv.storage_class IS NOT DISTINCT FROM s.storage_class "                                   \
    "AND lv.last_modified IS NOT DISTINCT FROM s.last_modified))"
#define JOIN_LV                                                                                    \
    "LEFT JOIN inv_lv lv ON lv.bucket = s.bucket AND lv.key = s.key AND lv.version_id = "          \
    "s.version_id "

/* One attempt; fast = set the current record of keys new to the catalog while inserting. */
static enum err
apply_once(struct db *db, const char *job_id, const struct inventory_manifest *m, int fast,
           char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    struct buf sql;
    char table[64];
    char creation[32];
    char inv_time[64];
    char *buckets = NULL;
    int versioned = 0;
    long long inserted = 0;
    long long deleted = 0;
    long long staged = 0;
    const char *params[4];
    enum err rc;

    buf_init(&sql, 0);
    staging_table_name(job_id, table);
    if (m->has_creation_ms)
        snprintf(creation, sizeof(creation), "%lld", (long long)m->creation_ms);
    rc = db_exec(db, "BEGIN; SET LOCAL work_mem = '256MB'", errbuf, errlen);
    if (rc)
        goto out;
    rc = db_query(db, &res,
                  "SELECT coalesce(array_agg(DISTINCT b), '{}'), coalesce(bool_or(versioned), "
                  "false), coalesce(sum(records), 0) FROM inventory_files LEFT JOIN LATERAL "
                  "unnest(buckets) AS b ON true WHERE job_id = $1",
                  1, &job_id, errbuf, errlen);
    if (rc)
        goto out;
    buckets = xstrdup(PQgetvalue(res, 0, 0));
    versioned = PQgetvalue(res, 0, 1)[0] == 't';
    staged = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    PQclear(res);
    res = NULL;
    /* when the inventory was taken: the manifest's creationTimestamp, else the job's creation */
    params[0] = m->has_creation_ms ? creation : NULL;
    params[1] = job_id;
    rc = db_query(db, &res,
                  "SELECT coalesce(to_timestamp($1::bigint / 1000.0), (SELECT created_at FROM "
                  "inventory_jobs WHERE id = $2))",
                  2, params, errbuf, errlen);
    if (rc)
        goto out;
    snprintf(inv_time, sizeof(inv_time), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = NULL;
    params[0] = buckets;
    /* exclusive on the source buckets: event batches hold them shared */
    rc =
        db_query(db, NULL,
                 "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended("
                 "'bucket' || E'\\x1f' || b, 7401) AS h FROM unnest($1::text[]) AS b ORDER BY h) s",
                 1, params, errbuf, errlen);
    if (rc)
        goto out;
    buf_printf(&sql, "CREATE TABLE IF NOT EXISTS %s " STAGING_TABLE "; ANALYZE %s", table, table);
    rc = db_exec(db, sql.data, errbuf, errlen);
    if (!rc)
        rc = db_query(db, NULL,
                      "CREATE TEMP TABLE inv_lv ON COMMIT DROP AS SELECT DISTINCT ON (bucket, "
                      "key, version_id) bucket, key, version_id, event_type, size, etag, "
                      "storage_class, last_modified, is_delete_marker FROM s3_objects WHERE "
                      "bucket = ANY ($1::text[]) ORDER BY bucket, key, version_id, sequencer DESC, "
                      "event_type DESC",
                      1, params, errbuf, errlen);
    if (!rc)
        rc = db_query(db, NULL,
                      "CREATE TEMP TABLE inv_kb ON COMMIT DROP AS SELECT bucket, key, "
                      "max(sequencer) AS maxseq FROM s3_objects WHERE bucket = ANY ($1::text[]) "
                      "GROUP BY bucket, key",
                      1, params, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "ANALYZE inv_lv; ANALYZE inv_kb", errbuf, errlen);
    if (rc)
        goto out;
    /* current records the inventory does not list (and no newer event) are gone; found
     * before the lines go in, which would only be scanned to be excluded */
    buf_reset(&sql);
    buf_printf(&sql,
               "CREATE TEMP TABLE inv_deleted ON COMMIT DROP AS SELECT o.bucket, o.key, "
               "o.version_id FROM s3_objects o WHERE o.bucket = ANY ($1::text[]) AND "
               "o.is_current AND coalesce(o.event_time, o.observed_at, o.ingested_at) <= "
               "$2::timestamptz AND NOT EXISTS (SELECT 1 FROM %s s WHERE s.bucket = o.bucket AND "
               "s.key = o.key AND (NOT $3::boolean OR s.version_id = o.version_id))",
               table);
    params[0] = buckets;
    params[1] = inv_time;
    params[2] = versioned ? "t" : "f";
    rc = db_query(db, NULL, sql.data, 3, params, errbuf, errlen);
    if (rc)
        goto out;

    buf_reset(&sql);
    buf_printf(&sql,
               "INSERT INTO s3_objects (id, bucket, key, version_id, event_type, size, etag, "
               "storage_class, last_modified, sequencer, is_delete_marker, is_current, reason, "
               "source, observed_at) SELECT s.id, s.bucket, s.key, s.version_id, CASE WHEN "
               "s.is_delete_marker THEN 'Deleted' ELSE 'Created' END, s.size, s.etag, "
               "s.storage_class, s.last_modified, coalesce(split_part(kb.maxseq, '-', 1), '') "
               "|| '-' || lpad((coalesce(nullif(split_part(kb.maxseq, '-', 2), ''), "
               "'0')::numeric + s.ord)::text, 20, '0'), s.is_delete_marker, %s, 'Crawl', "
               "'inventory', $1::timestamptz FROM %s s "
               "LEFT JOIN inv_kb kb ON kb.bucket = s.bucket AND kb.key = s.key " JOIN_LV
               "WHERE " LINE_CHANGED,
               fast ? "(kb.key IS NULL AND s.cand AND NOT s.is_delete_marker)" : "false", table);
    params[0] = inv_time;
    rc = db_query(db, &res, sql.data, 1, params, errbuf, errlen);
    if (rc)
        goto out;
    inserted = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    res = NULL;
    params[1] = inv_time;
    rc = ERR_OK;
    if (!rc)
        rc = db_query(db, &res,
                      "WITH d AS (INSERT INTO s3_objects (id, bucket, key, version_id, "
                      "event_type, sequencer, is_delete_marker, reason, source, observed_at) "
                      "SELECT "
                      "gen_random_uuid(), d.bucket, d.key, d.version_id, 'Deleted', "
                      "coalesce(split_part(mx.m, '-', 1), '') || '-' || lpad((coalesce(nullif("
                      "split_part(mx.m, '-', 2), ''), '0')::numeric + 1)::text, 20, '0'), false, "
                      "'Crawl', 'inventory', $1::timestamptz FROM inv_deleted d, LATERAL "
                      "(SELECT max(x.sequencer) "
                      "AS m FROM s3_objects x WHERE x.bucket = d.bucket AND x.key = d.key) mx "
                      "RETURNING 1) SELECT count(*) FROM d",
                      1, params + 1, errbuf, errlen);
    if (rc)
        goto out;
    deleted = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    res = NULL;

    /* the keys whose current state must be recomputed */
    buf_reset(&sql);
    /* keys that got a new record (those new to the catalog only without the shortcut),
     * and the keys of the deleted ones */
    buf_printf(
        &sql,
        "CREATE TEMP TABLE inv_touched ON COMMIT DROP AS SELECT DISTINCT s.bucket, "
        "s.key FROM %s s %s JOIN inv_kb kb ON kb.bucket = s.bucket AND kb.key = s.key " JOIN_LV
        "WHERE " LINE_CHANGED " UNION SELECT bucket, key FROM inv_deleted",
        table, fast ? "" : "LEFT");
    rc = db_exec(db, sql.data, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "ANALYZE inv_touched", errbuf, errlen);
    if (!rc)
        rc = db_exec(db, current_from_touched_sql, errbuf, errlen);
    if (rc)
        goto out;
    buf_reset(&sql);
    buf_printf(&sql, "DROP TABLE %s", table);
    rc = db_exec(db, sql.data, errbuf, errlen);
    if (rc)
        goto out;
    {
        char summary[160];
        const char *p2[2];

        snprintf(summary, sizeof(summary),
                 "{\"created\": %lld, \"deleted\": %lld, \"unchanged\": %lld}", inserted, deleted,
                 staged - inserted);
        p2[0] = job_id;
        p2[1] = summary;
        rc = db_query(db, NULL,
                      "UPDATE inventory_jobs SET status = 'succeeded', finished_at = "
                      "clock_timestamp(), "
                      "error = NULL, error_status = NULL, summary = $2 WHERE id = $1",
                      2, p2, errbuf, errlen);
    }
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
out:
    PQclear(res);
    if (rc)
        db_rollback(db);
    free(buckets);
    buf_release(&sql);
    return rc;
}

enum err
inventory_store_apply(struct db *db, const char *job_id, const struct inventory_manifest *m,
                      char *errbuf, size_t errlen)
{
    enum err rc = apply_once(db, job_id, m, 1, errbuf, errlen);

    if (rc == ERR_CONFLICT) {
        /* a key listed in two places: no shortcut for the current state */
        log_json(LOG_INFO, "inventory apply without the new-key shortcut",
                 json_pack("{s:s}", "job", job_id));
        rc = apply_once(db, job_id, m, 0, errbuf, errlen);
    }
    return rc;
}
