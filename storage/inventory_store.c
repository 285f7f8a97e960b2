/*
 * inventory_store.c - inventory jobs: records, claiming, staging, applying
 *
 * Staging: each data file is loaded, in one transaction, into a table of its
 * own (s3_objects_inv_<part>, shaped like the catalog, see migration 0004)
 * with COPY in binary format. A file's lines are grouped by (bucket, key) as
 * they stream (inventories list a key's versions together): the group's
 * candidate for "current" is the IsLatest line, else its last line. Each
 * line gets the generated sequencer it has when its key is new to the
 * catalog ('-' and a counter ordering the key's lines: file, line, the
 * candidate last) and is current when it is the candidate. The file records
 * whether its keys never decrease and its first and last key.
 *
 * Applying: one transaction (inventory_store_apply) attaches the staged
 * tables to the catalog and corrects what the staging could not know: keys
 * the catalog already had, keys listed apart, deleted objects.
 */
#include "storage/inventory_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

#include "core/buf.h"
#include "core/log.h"
#include "storage/db.h"
#include "storage/locks.h"
#include "storage/pgcopy.h"

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

enum err
inventory_store_observed_ms(struct db *db, const char *job_id, const struct inventory_manifest *m,
                            int64_t *ms, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    if (m->has_creation_ms) {
        *ms = m->creation_ms;
        return ERR_OK;
    }
    rc = db_query(db, &res,
                  "SELECT (extract(epoch FROM created_at) * 1000)::bigint FROM inventory_jobs "
                  "WHERE id = $1",
                  1, &job_id, errbuf, errlen);
    if (!rc && PQntuples(res) != 1)
        rc = err_set(ERR_NOT_FOUND, errbuf, errlen, "no such inventory job");
    if (!rc)
        *ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

/* ---- staging ---- */

/* A buffered line of the current (bucket, key) group. */
struct staged_line {
    size_t off; /* its fields before sequencer, in inventory_stage.group */
    size_t len;
    int is_latest;
    int is_delete_marker;
    size_t line;
};

struct inventory_stage {
    struct db *db;
    char job[37];
    char table[64];
    int file_idx;
    int part;
    int64_t observed_ms;
    struct buf out;   /* COPY data not sent yet */
    struct buf group; /* the fields of the group's lines */
    struct staged_line *lines;
    size_t nlines;
    size_t lines_alloc;
    char *group_bucket;
    char *group_key;
    char *first_bucket;
    char *first_key;
    int sorted;
    int64_t records;
    int versioned;
    char **buckets;
    size_t nbuckets;
    unsigned char id_prefix[8];
    uint64_t id_counter;
};

/* The columns a staged line fills, in COPY order; the others take their defaults. */
#define STAGE_COLUMNS                                                                              \
    "id, bucket, key, version_id, event_type, size, etag, storage_class, last_modified, "          \
    "sequencer, is_delete_marker, is_current, reason, source, observed_at, part"
#define STAGE_NCOLUMNS 16

/* Generated sequencer counters: a line's place in the job (file, line), candidates last. */
#define ORD_FILE 1000000000000LL
#define ORD_CANDIDATE 1000000000000000LL
#define ORD_LATEST 2000000000000000LL

/* A time-ordered id (UUID version 7 layout): ids grow with a file's physical order. */
static void
next_id(struct inventory_stage *s, unsigned char u[16])
{
    uint64_t c = s->id_counter++;
    int i;

    memcpy(u, s->id_prefix, 8);
    for (i = 0; i < 8; i++)
        u[8 + i] = (unsigned char)(c >> (56 - 8 * i));
    u[6] = (unsigned char)(0x70 | (u[6] & 0x0f));
    u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));
}

/*
 * The table of an inventory partition: the catalog's columns and checks, its
 * part, a (bucket, key, sequencer) index for lists and lookups, and a BRIN
 * index on id (its ids grow with the physical order of its rows).
 */
static void
partition_table_sql(struct buf *sql, int part)
{
    buf_printf(sql,
               "CREATE TABLE s3_objects_inv_%d (LIKE s3_objects INCLUDING DEFAULTS INCLUDING "
               "CONSTRAINTS, CONSTRAINT s3_objects_inv_%d_part CHECK (part = %d)); "
               "CREATE INDEX s3_objects_inv_%d_key ON s3_objects_inv_%d (bucket, key, sequencer); "
               "CREATE INDEX s3_objects_inv_%d_id ON s3_objects_inv_%d USING brin (id) "
               "WITH (pages_per_range = 32)",
               part, part, part, part, part, part, part);
}

enum err
inventory_stage_begin(struct db *db, const char *job_id, int file_idx, int64_t observed_ms,
                      struct inventory_stage **out, char *errbuf, size_t errlen)
{
    struct inventory_stage *s = xcalloc(1, sizeof(*s));
    PGresult *res = NULL;
    struct buf sql;
    struct timespec ts;
    uint64_t ms;
    int i;
    enum err rc;

    *out = NULL;
    s->db = db;
    snprintf(s->job, sizeof(s->job), "%s", job_id);
    s->file_idx = file_idx;
    s->observed_ms = observed_ms;
    s->sorted = 1;
    buf_init(&s->out, 0);
    buf_init(&s->group, 0);
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
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (!rc)
        rc = db_query(db, &res, "SELECT nextval('s3_objects_part')", 0, NULL, errbuf, errlen);
    if (!rc) {
        s->part = atoi(PQgetvalue(res, 0, 0));
        snprintf(s->table, sizeof(s->table), "s3_objects_inv_%d", s->part);
        /* created in this transaction: with wal_level minimal, its rows skip the WAL */
        partition_table_sql(&sql, s->part);
        rc = db_exec(db, sql.data, errbuf, errlen);
    }
    buf_reset(&sql);
    buf_printf(&sql, "COPY %s (" STAGE_COLUMNS ") FROM STDIN (FORMAT binary, FREEZE)", s->table);
    if (!rc)
        rc = db_copy_start(db, sql.data, errbuf, errlen);
    PQclear(res);
    buf_release(&sql);
    if (rc) {
        db_rollback(db);
        buf_release(&s->out);
        buf_release(&s->group);
        free(s);
        return rc;
    }
    pgcopy_bin_header(&s->out);
    *out = s;
    return ERR_OK;
}

static void
bin_text_or_null(struct buf *out, const char *v)
{
    if (v)
        pgcopy_bin_text(out, v, strlen(v));
    else
        pgcopy_bin_null(out);
}

/*
 * Write the buffered group. The candidate for current is the IsLatest line;
 * without an IsLatest column, the group's last line. Its generated
 * sequencer ('-' and a 20-digit counter, final for a key new to the catalog)
 * orders the key's lines by file, then line; candidates after all others,
 * IsLatest ones last of all (also when a key's versions are spread over
 * several files).
 */
static enum err
flush_group(struct inventory_stage *s, char *errbuf, size_t errlen)
{
    char seq[32];
    size_t i;

    for (i = 0; i < s->nlines; i++) {
        const struct staged_line *l = &s->lines[i];
        long long ord = (long long)s->file_idx * ORD_FILE + (long long)l->line;
        int cand = l->is_latest == 1 || (l->is_latest == -1 && i == s->nlines - 1);
        int n;

        if (l->is_latest == 1)
            ord += ORD_LATEST;
        else if (cand)
            ord += ORD_CANDIDATE;
        pgcopy_bin_row(&s->out, STAGE_NCOLUMNS);
        buf_append(&s->out, s->group.data + l->off, l->len);
        n = snprintf(seq, sizeof(seq), "-%020lld", ord);
        pgcopy_bin_text(&s->out, seq, (size_t)n);
        pgcopy_bin_bool(&s->out, l->is_delete_marker);
        pgcopy_bin_bool(&s->out, cand && !l->is_delete_marker);
        pgcopy_bin_text(&s->out, "Crawl", 5);
        pgcopy_bin_text(&s->out, "inventory", 9);
        pgcopy_bin_time_ms(&s->out, s->observed_ms);
        pgcopy_bin_int4(&s->out, s->part);
    }
    s->nlines = 0;
    buf_reset(&s->group);
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

/* (bucket, key) order under COLLATE "C" (bytes; neither holds a NUL). */
static int
key_cmp(const char *b1, const char *k1, const char *b2, const char *k2)
{
    int c = strcmp(b1, b2);

    return c ? c : strcmp(k1, k2);
}

enum err
inventory_stage_add(struct inventory_stage *s, const struct inventory_line *l, char *errbuf,
                    size_t errlen)
{
    struct staged_line *g;
    unsigned char id[16];
    enum err rc;

    if (!s->group_key || strcmp(s->group_key, l->key) != 0 ||
        strcmp(s->group_bucket, l->bucket) != 0) {
        if (s->group_key && key_cmp(l->bucket, l->key, s->group_bucket, s->group_key) < 0)
            s->sorted = 0;
        rc = flush_group(s, errbuf, errlen);
        if (rc)
            return rc;
        free(s->group_bucket);
        free(s->group_key);
        s->group_bucket = xstrdup(l->bucket);
        s->group_key = xstrdup(l->key);
        if (!s->first_key) {
            s->first_bucket = xstrdup(l->bucket);
            s->first_key = xstrdup(l->key);
        }
        note_bucket(s, l->bucket);
    }
    if (s->nlines == s->lines_alloc) {
        s->lines_alloc = s->lines_alloc ? s->lines_alloc * 2 : 8;
        s->lines = xrealloc(s->lines, s->lines_alloc * sizeof(*s->lines));
    }
    g = &s->lines[s->nlines++];
    g->off = s->group.len;
    g->is_latest = l->is_latest;
    g->is_delete_marker = l->is_delete_marker;
    g->line = l->line;
    next_id(s, id);
    pgcopy_bin_uuid(&s->group, id);
    bin_text_or_null(&s->group, l->bucket);
    bin_text_or_null(&s->group, l->key);
    bin_text_or_null(&s->group, l->version_id ? l->version_id : "null");
    bin_text_or_null(&s->group, l->is_delete_marker ? "Deleted" : "Created");
    if (l->has_size)
        pgcopy_bin_int8(&s->group, l->size);
    else
        pgcopy_bin_null(&s->group);
    bin_text_or_null(&s->group, l->etag);
    bin_text_or_null(&s->group, l->storage_class);
    if (l->last_modified)
        pgcopy_bin_time_ms(&s->group, l->last_modified_ms);
    else
        pgcopy_bin_null(&s->group);
    g->len = s->group.len - g->off;
    if (l->version_id)
        s->versioned = 1;
    s->records++;
    return ERR_OK;
}

static void
stage_free(struct inventory_stage *s)
{
    size_t i;

    for (i = 0; i < s->nbuckets; i++)
        free(s->buckets[i]);
    free(s->buckets);
    free(s->lines);
    free(s->group_bucket);
    free(s->group_key);
    free(s->first_bucket);
    free(s->first_key);
    buf_release(&s->group);
    buf_release(&s->out);
    free(s);
}

enum err
inventory_stage_commit(struct inventory_stage *s, int64_t bytes, char *errbuf, size_t errlen)
{
    struct buf lit;
    struct buf sql;
    char idx[16];
    char part[16];
    char records[32];
    char nbytes[32];
    const char *params[12];
    enum err rc;

    buf_init(&lit, 0);
    buf_init(&sql, 0);
    rc = flush_group(s, errbuf, errlen);
    pgcopy_bin_trailer(&s->out);
    if (!rc)
        rc = db_copy_send(s->db, s->out.data, s->out.len, errbuf, errlen);
    if (!rc)
        rc = db_copy_end(s->db, errbuf, errlen);
    if (rc)
        goto out;
    pgcopy_param_array(&lit, (const char *const *)s->buckets, NULL, s->nbuckets);
    snprintf(idx, sizeof(idx), "%d", s->file_idx);
    snprintf(part, sizeof(part), "%d", s->part);
    snprintf(records, sizeof(records), "%lld", (long long)s->records);
    snprintf(nbytes, sizeof(nbytes), "%lld", (long long)bytes);
    params[0] = s->job;
    params[1] = idx;
    params[2] = records;
    params[3] = nbytes;
    params[4] = lit.data;
    params[5] = s->versioned ? "t" : "f";
    params[6] = part;
    params[7] = s->sorted ? "t" : "f";
    params[8] = s->first_bucket;
    params[9] = s->first_key;
    params[10] = s->group_bucket;
    params[11] = s->group_key;
    rc = db_query(s->db, NULL,
                  "WITH f AS (UPDATE inventory_files SET staged = true, records = $3, bytes = $4, "
                  "buckets = $5, versioned = $6, part = $7, sorted = $8, first_bucket = $9, "
                  "first_key = $10, last_bucket = $11, last_key = $12 "
                  "WHERE job_id = $1 AND idx = $2 RETURNING 1) "
                  "UPDATE inventory_jobs SET files_done = files_done + (SELECT count(*) FROM f), "
                  "records = records + $3, bytes = bytes + $4, heartbeat_at = now() WHERE id = $1",
                  12, params, errbuf, errlen);
    if (!rc)
        rc = db_exec(s->db, "COMMIT", errbuf, errlen);
    if (!rc) {
        char ignore[ERRBUF_SIZE];

        /* statistics for the planner before the partition serves queries */
        buf_printf(&sql, "ANALYZE %s", s->table);
        if (db_exec(s->db, sql.data, ignore, sizeof(ignore)))
            log_json(LOG_WARN, "cannot analyze a staged inventory file",
                     json_pack("{s:s,s:s}", "table", s->table, "error", ignore));
    }
out:
    if (rc)
        db_rollback(s->db);
    buf_release(&lit);
    buf_release(&sql);
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

/* A staged line s identical to the latest record lv of its version. */
#define LINE_UNCHANGED                                                                             \
    "lv.is_delete_marker = s.is_delete_marker AND lv.event_type = s.event_type "                   \
    "AND lv.size IS NOT DISTINCT FROM s.size AND lv.etag IS NOT DISTINCT FROM s.etag "             \
    "AND lv.storage_class IS NOT DISTINCT FROM s.storage_class "                                   \
    "AND lv.last_modified IS NOT DISTINCT FROM s.last_modified"

/* The generated sequencer of a staged line s of a key whose greatest sequencer is kb.maxseq. */
#define SEQUENCER_AFTER_KB                                                                         \
    "coalesce(split_part(kb.maxseq, '-', 1), '') || '-' || lpad((coalesce(nullif(split_part("      \
    "kb.maxseq, '-', 2), ''), '0')::numeric + split_part(s.sequencer, '-', 2)::numeric)::text, "   \
    "20, '0')"

struct staged_file {
    int part;
    int sorted;
    long long records;
    long long unchanged;      /* lines identical to their version's latest stored record */
    const char *first_bucket; /* NULL for a file without lines */
    const char *first_key;
    const char *last_bucket;
    const char *last_key;
};

/*
 * Keys whose current record the staging could not decide: all of them when
 * a file was not sorted or two files' key ranges overlap (*all = 1), else
 * the keys where one file ends and the next begins, as an array literal of
 * "bucket\x1fkey" elements in *boundary (empty when none).
 */
static void
order_problems(const struct staged_file *f, size_t n, int *all, struct buf *boundary)
{
    const struct staged_file *prev = NULL;
    size_t nb = 0;
    size_t i;

    *all = 0;
    buf_append_char(boundary, '{');
    for (i = 0; i < n; i++) {
        int c;

        if (!f[i].first_key) /* (files without lines sort last) */
            continue;
        if (!f[i].sorted)
            *all = 1;
        if (prev) {
            c = key_cmp(prev->last_bucket, prev->last_key, f[i].first_bucket, f[i].first_key);
            if (c > 0) {
                *all = 1;
            } else if (c == 0) {
                struct buf e;

                buf_init(&e, 0);
                buf_printf(&e, "%s\x1f%s", f[i].first_bucket, f[i].first_key);
                pgcopy_param_elem(boundary, e.data, e.len, nb++ == 0);
                buf_release(&e);
            }
        }
        prev = &f[i];
    }
    buf_append_char(boundary, '}');
}

/* From this many stored versions and staged lines on, the apply joins by hashing. */
#define BIG_JOIN_ROWS 100000

/* The unlogged table of a job's apply with the catalog's latest record per version. */
static void
lv_table_name(const char *job, char out[64])
{
    size_t n = (size_t)snprintf(out, 64, "inventory_lv_");

    for (; *job && n < 62; job++)
        if (*job != '-')
            out[n++] = *job;
    out[n] = '\0';
}

/* The (bucket, key, version_id) of every staged line, as a query over the files' tables. */
static void
staged_lines_sql(struct buf *sql, const struct staged_file *f, size_t n)
{
    size_t i;
    int any = 0;

    for (i = 0; i < n; i++) {
        if (!f[i].records)
            continue;
        buf_printf(sql, "%sSELECT bucket, key, version_id FROM s3_objects_inv_%d",
                   any ? " UNION ALL " : "", f[i].part);
        any = 1;
    }
    if (!any)
        buf_append_str(sql, "SELECT NULL::text AS bucket, NULL::text AS key, NULL::text AS "
                            "version_id WHERE false");
}

/* A line s of a staged file that its version's latest stored record (in table lv) equals. */
#define UNCHANGED_IN(lv)                                                                           \
    "EXISTS (SELECT 1 FROM %s lv WHERE lv.bucket = s.bucket AND lv.key = s.key AND "               \
    "lv.version_id = s.version_id AND " LINE_UNCHANGED ")"

/*
 * A staged file's partition after its lines were compared with the catalog:
 * kept whole when all lines are new, dropped when none is, else rebuilt from
 * the new lines (listed in inv_changed) when they are fewer than half (so a
 * mostly unchanged file leaves no mostly empty table behind) or stripped of
 * the others.
 */
static enum err
keep_changed(struct db *db, int part, long long records, long long changed, char *errbuf,
             size_t errlen)
{
    struct buf sql;
    enum err rc;

    if (changed == records)
        return ERR_OK;
    buf_init(&sql, 0);
    if (changed == 0) {
        buf_printf(&sql,
                   "ALTER TABLE s3_objects DETACH PARTITION s3_objects_inv_%d; "
                   "DROP TABLE s3_objects_inv_%d",
                   part, part);
    } else if (changed * 2 < records) {
        buf_printf(&sql,
                   "ALTER TABLE s3_objects DETACH PARTITION s3_objects_inv_%d; "
                   "DROP INDEX s3_objects_inv_%d_key, s3_objects_inv_%d_id; "
                   "ALTER TABLE s3_objects_inv_%d RENAME TO s3_objects_inv_%d_all; ",
                   part, part, part, part, part);
        partition_table_sql(&sql, part);
        buf_printf(&sql,
                   "; INSERT INTO s3_objects_inv_%d SELECT * FROM s3_objects_inv_%d_all WHERE id "
                   "IN (SELECT id FROM inv_changed WHERE part = %d); "
                   "DROP TABLE s3_objects_inv_%d_all; "
                   "ALTER TABLE s3_objects ATTACH PARTITION s3_objects_inv_%d FOR VALUES IN (%d); "
                   "ANALYZE s3_objects_inv_%d",
                   part, part, part, part, part, part, part);
    } else {
        buf_printf(&sql,
                   "DELETE FROM s3_objects_inv_%d s WHERE NOT EXISTS (SELECT 1 FROM inv_changed "
                   "c WHERE c.part = %d AND c.id = s.id)",
                   part, part);
    }
    rc = db_exec(db, sql.data, errbuf, errlen);
    buf_release(&sql);
    return rc;
}

/*
 * Files with fewer than merge_below new records (its partition's rows, all
 * final by now) move them to partition 0 and drop their partition, so that
 * frequent inventories with few changes do not pile up partitions.
 */
static enum err
merge_small(struct db *db, const struct staged_file *f, size_t n, long long merge_below,
            char *errbuf, size_t errlen)
{
    struct buf sql;
    struct buf drop;
    size_t i;
    int any = 0;
    enum err rc = ERR_OK;

    buf_init(&sql, 0);
    buf_init(&drop, 0);
    buf_append_str(&sql, "UPDATE s3_objects SET part = 0 WHERE part = ANY ('{");
    for (i = 0; i < n; i++) {
        long long left = f[i].records - f[i].unchanged;

        if (left <= 0 || left >= merge_below)
            continue;
        buf_printf(&sql, "%s%d", any ? "," : "", f[i].part);
        buf_printf(&drop,
                   "; ALTER TABLE s3_objects DETACH PARTITION s3_objects_inv_%d; "
                   "DROP TABLE s3_objects_inv_%d",
                   f[i].part, f[i].part);
        any = 1;
    }
    buf_append_str(&sql, "}'::int[])");
    buf_append(&sql, drop.data, drop.len);
    if (any)
        rc = db_exec(db, sql.data, errbuf, errlen);
    buf_release(&sql);
    buf_release(&drop);
    return rc;
}

/*
 * The final transaction. The staged files' tables become partitions of the
 * catalog at once. When the source buckets already had records, the lines
 * are compared with them (taken before attaching): lines identical to their
 * version's latest record add nothing (keep_changed), lines of keys with
 * records get sequencers after the key's
 * greatest, and current records the inventory does not list get a Deleted
 * record. The current state is then recomputed for the keys that had
 * records, and for keys whose lines the staging saw apart.
 */
enum err
inventory_store_apply(struct db *db, const char *job_id, const struct inventory_manifest *m,
                      long long merge_below, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    PGresult *files_res = NULL;
    struct staged_file *files = NULL;
    struct buf sql;
    struct buf parts;
    struct buf boundary;
    struct buf mixed;
    char creation[32];
    char inv_time[64];
    char lv[64];
    char *buckets = NULL;
    int versioned = 0;
    int existing = 0;
    int all_keys = 0;
    int big_joins = 0;
    long long lv_rows = 0;
    size_t nfiles = 0;
    long long staged = 0;
    long long unchanged = 0;
    long long deleted = 0;
    const char *params[4];
    size_t i;
    enum err rc;

    buf_init(&sql, 0);
    buf_init(&parts, 0);
    buf_init(&boundary, 0);
    buf_init(&mixed, 0);
    lv_table_name(job_id, lv);
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
    rc = db_query(db, &files_res,
                  "SELECT part, sorted, records, first_bucket, first_key, last_bucket, last_key "
                  "FROM inventory_files WHERE job_id = $1 AND staged "
                  "ORDER BY first_bucket, first_key, idx",
                  1, &job_id, errbuf, errlen);
    if (rc)
        goto out;
    nfiles = (size_t)PQntuples(files_res);
    files = xcalloc(nfiles ? nfiles : 1, sizeof(*files));
    buf_append_char(&parts, '{');
    for (i = 0; i < nfiles; i++) {
        int r = (int)i;

        files[i].part = atoi(PQgetvalue(files_res, r, 0));
        files[i].sorted = PQgetvalue(files_res, r, 1)[0] == 't';
        files[i].records = strtoll(PQgetvalue(files_res, r, 2), NULL, 10);
        if (!PQgetisnull(files_res, r, 4)) {
            files[i].first_bucket = PQgetvalue(files_res, r, 3);
            files[i].first_key = PQgetvalue(files_res, r, 4);
            files[i].last_bucket = PQgetvalue(files_res, r, 5);
            files[i].last_key = PQgetvalue(files_res, r, 6);
        }
        buf_printf(&parts, "%s%d", i ? "," : "", files[i].part);
    }
    buf_append_char(&parts, '}');
    order_problems(files, nfiles, &all_keys, &boundary);
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
    if (!rc)
        rc = db_query(db, &res,
                      "SELECT EXISTS (SELECT 1 FROM s3_objects WHERE bucket = ANY ($1::text[]))", 1,
                      params, errbuf, errlen);
    if (rc)
        goto out;
    existing = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    res = NULL;
    if (existing) {
        /* the latest record of each version the catalog held before this inventory: an
         * unlogged table (not a temporary one), so that the joins with it run in parallel */
        buf_reset(&sql);
        buf_printf(&sql,
                   "CREATE UNLOGGED TABLE %s AS SELECT DISTINCT ON (bucket, key, version_id) "
                   "bucket, key, version_id, sequencer, event_type, size, etag, storage_class, "
                   "last_modified, is_delete_marker FROM s3_objects WHERE bucket = ANY "
                   "($1::text[]) ORDER BY bucket, key, version_id, sequencer DESC, event_type "
                   "DESC",
                   lv);
        rc = db_query(db, &res, sql.data, 1, params, errbuf, errlen);
        if (rc)
            goto out;
        /* against many stored versions, the joins with every staged line are best as
         * (parallel) hash joins: keep the planner from sorting or probing millions */
        lv_rows = strtoll(PQcmdTuples(res), NULL, 10);
        big_joins = lv_rows >= BIG_JOIN_ROWS && staged >= BIG_JOIN_ROWS;
        PQclear(res);
        res = NULL;
        if (big_joins) {
            rc = db_exec(db, "SET LOCAL enable_mergejoin = off; SET LOCAL enable_nestloop = off",
                         errbuf, errlen);
            if (rc)
                goto out;
        }
        buf_reset(&sql);
        buf_printf(&sql, "ANALYZE %s", lv);
        rc = db_exec(db, sql.data, errbuf, errlen);
        if (rc)
            goto out;
        /* current records the inventory does not list (and no newer event) are gone */
        buf_reset(&sql);
        buf_append_str(&sql, "CREATE TEMP TABLE inv_deleted ON COMMIT DROP AS SELECT c.bucket, "
                             "c.key, c.version_id FROM s3_objects c WHERE c.bucket = ANY "
                             "($1::text[]) AND c.is_current AND coalesce(c.event_time, "
                             "c.observed_at, c.ingested_at) <= $2::timestamptz AND NOT EXISTS "
                             "(SELECT 1 FROM (");
        staged_lines_sql(&sql, files, nfiles);
        buf_printf(&sql,
                   ") s WHERE s.bucket = c.bucket AND s.key = c.key AND (NOT %s OR s.version_id "
                   "= c.version_id))",
                   versioned ? "true" : "false");
        params[1] = inv_time;
        rc = db_query(db, NULL, sql.data, 2, params, errbuf, errlen);
        if (rc)
            goto out;
    }
    for (i = 0; i < nfiles; i++) {
        buf_reset(&sql);
        if (files[i].records == 0) /* a file without lines needs no partition */
            buf_printf(&sql, "DROP TABLE s3_objects_inv_%d", files[i].part);
        else
            buf_printf(&sql,
                       "ALTER TABLE s3_objects ATTACH PARTITION s3_objects_inv_%d FOR VALUES "
                       "IN (%d)",
                       files[i].part, files[i].part);
        rc = db_exec(db, sql.data, errbuf, errlen);
        if (rc)
            goto out;
    }
    rc = db_exec(db,
                 "CREATE TEMP TABLE inv_touched (bucket text COLLATE \"C\", key text COLLATE "
                 "\"C\", PRIMARY KEY (bucket, key)) ON COMMIT DROP",
                 errbuf, errlen);
    if (rc)
        goto out;
    if (existing) {
        /* lines identical to their version's latest record add nothing: counted per file
         * first, listed only for files that keep some of their lines but not all */
        buf_reset(&sql);
        buf_printf(&sql,
                   "SELECT s.part, count(*) FROM s3_objects s WHERE s.part = ANY ('%s'::int[]) "
                   "AND " UNCHANGED_IN(lv) " GROUP BY s.part",
                   parts.data, lv);
        rc = db_query(db, &res, sql.data, 0, NULL, errbuf, errlen);
        if (rc)
            goto out;
        buf_reset(&mixed);
        buf_append_char(&mixed, '{');
        for (i = 0; i < nfiles; i++) {
            int r;

            for (r = 0; r < PQntuples(res); r++)
                if (atoi(PQgetvalue(res, r, 0)) == files[i].part)
                    files[i].unchanged = strtoll(PQgetvalue(res, r, 1), NULL, 10);
            unchanged += files[i].unchanged;
            if (files[i].unchanged > 0 && files[i].unchanged < files[i].records)
                buf_printf(&mixed, "%s%d", mixed.len > 1 ? "," : "", files[i].part);
        }
        buf_append_char(&mixed, '}');
        PQclear(res);
        res = NULL;
        buf_reset(&sql);
        buf_printf(&sql,
                   "CREATE TEMP TABLE inv_changed ON COMMIT DROP AS SELECT s.part, s.id FROM "
                   "s3_objects s WHERE s.part = ANY ('%s'::int[]) AND NOT " UNCHANGED_IN(
                       lv) "; ANALYZE inv_changed",
                   mixed.data, lv);
        rc = db_exec(db, sql.data, errbuf, errlen);
        for (i = 0; !rc && i < nfiles; i++)
            rc = keep_changed(db, files[i].part, files[i].records,
                              files[i].records - files[i].unchanged, errbuf, errlen);
        if (rc)
            goto out;
        /* lines of keys with records: generated sequencers after the key's greatest, and
         * their current state recomputed below */
        buf_reset(&sql);
        /* (from the smaller side: all stored versions, or the lines left) */
        buf_printf(&sql,
                   "CREATE TEMP TABLE inv_kb ON COMMIT DROP AS SELECT lv.bucket, lv.key, "
                   "max(lv.sequencer) AS maxseq FROM %s lv ",
                   lv);
        if (lv_rows > staged - unchanged)
            buf_printf(&sql,
                       "WHERE EXISTS (SELECT 1 FROM s3_objects s WHERE s.part = ANY ('%s'::int[]) "
                       "AND s.bucket = lv.bucket AND s.key = lv.key) ",
                       parts.data);
        buf_printf(&sql, "GROUP BY lv.bucket, lv.key; ANALYZE inv_kb; DROP TABLE %s", lv);
        rc = db_exec(db, sql.data, errbuf, errlen);
        if (rc)
            goto out;
        if (big_joins) {
            rc = db_exec(db, "SET LOCAL enable_mergejoin = on; SET LOCAL enable_nestloop = on",
                         errbuf, errlen);
            if (rc)
                goto out;
        }
        buf_reset(&sql);
        buf_printf(&sql,
                   "WITH u AS (UPDATE s3_objects s SET sequencer = " SEQUENCER_AFTER_KB
                   ", is_current = false FROM inv_kb kb WHERE s.part = ANY ('%s'::int[]) AND "
                   "kb.bucket = s.bucket AND kb.key = s.key RETURNING s.bucket, s.key) "
                   "INSERT INTO inv_touched SELECT DISTINCT bucket, key FROM u "
                   "ON CONFLICT DO NOTHING",
                   parts.data);
        rc = db_exec(db, sql.data, errbuf, errlen);
        if (rc)
            goto out;
        params[0] = inv_time;
        rc = db_query(db, &res,
                      "WITH d AS (INSERT INTO s3_objects_events (id, bucket, key, version_id, "
                      "event_type, sequencer, is_delete_marker, reason, source, observed_at) "
                      "SELECT gen_random_uuid(), d.bucket, d.key, d.version_id, 'Deleted', "
                      "coalesce(split_part(mx.m, '-', 1), '') || '-' || lpad((coalesce(nullif("
                      "split_part(mx.m, '-', 2), ''), '0')::numeric + 1)::text, 20, '0'), false, "
                      "'Crawl', 'inventory', $1::timestamptz FROM inv_deleted d, LATERAL "
                      "(SELECT max(x.sequencer) AS m FROM s3_objects x WHERE x.bucket = d.bucket "
                      "AND x.key = d.key) mx RETURNING bucket, key), "
                      "t AS (INSERT INTO inv_touched SELECT DISTINCT bucket, key FROM d "
                      "ON CONFLICT DO NOTHING) "
                      "SELECT count(*) FROM d",
                      1, params, errbuf, errlen);
        if (rc)
            goto out;
        deleted = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        res = NULL;
    }
    /* keys the staging saw apart (unsorted files, a key across files) */
    buf_reset(&sql);
    if (all_keys)
        buf_printf(&sql,
                   "INSERT INTO inv_touched SELECT DISTINCT bucket, key FROM s3_objects WHERE "
                   "part = ANY ('%s'::int[]) ON CONFLICT DO NOTHING",
                   parts.data);
    else if (strcmp(boundary.data, "{}") != 0)
        buf_printf(&sql,
                   "INSERT INTO inv_touched SELECT split_part(e, E'\\x1f', 1), substr(e, "
                   "strpos(e, E'\\x1f') + 1) FROM unnest($1::text[]) AS e ON CONFLICT DO NOTHING");
    if (sql.len) {
        params[0] = boundary.data;
        rc = db_query(db, NULL, sql.data, all_keys ? 0 : 1, params, errbuf, errlen);
        if (rc)
            goto out;
    }
    rc = db_exec(db, "ANALYZE inv_touched", errbuf, errlen);
    if (!rc)
        rc = db_exec(db, current_from_touched_sql, errbuf, errlen);
    if (!rc)
        rc = merge_small(db, files, nfiles, merge_below, errbuf, errlen);
    if (rc)
        goto out;
    {
        char summary[160];
        const char *p2[2];

        snprintf(summary, sizeof(summary),
                 "{\"created\": %lld, \"deleted\": %lld, \"unchanged\": %lld}", staged - unchanged,
                 deleted, unchanged);
        p2[0] = job_id;
        p2[1] = summary;
        rc = db_query(db, NULL,
                      "UPDATE inventory_jobs SET status = 'succeeded', finished_at = "
                      "clock_timestamp(), error = NULL, error_status = NULL, summary = $2 "
                      "WHERE id = $1",
                      2, p2, errbuf, errlen);
    }
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
out:
    PQclear(res);
    PQclear(files_res);
    if (rc)
        db_rollback(db);
    free(files);
    free(buckets);
    buf_release(&sql);
    buf_release(&parts);
    buf_release(&boundary);
    buf_release(&mixed);
    return rc;
}
