/*
 * inventory_compare.c - reading the catalog in key order beside a staged file
 *
 * The catalog's records from the file's first key on, ordered by (bucket,
 * key, sequencer) (every partition has that index, so each batch is a merge
 * of index scans), read in batches of BATCH_ROWS while the file streams,
 * each batch a statement of its own that starts at the key where the last
 * one was cut (its rows of that key are read again): no transaction stays
 * open, so no lock on the catalog is held across the file. The next batch
 * is asked for as soon as one arrives (PQsendQueryPrepared), so the
 * database reads it while the file's lines are decoded and compared. The
 * records of the key asked for are copied into an arena (a key's records
 * may span two batches) and sorted by (version, sequencer, event type); the
 * last of each version is its latest, the record an inventory line is
 * compared with, as the apply would (inventory_apply.c, LATEST_OF).
 *
 * Invariants: see inventory_compare.h. Memory: one batch plus the records
 * of one key.
 */
#include "storage/inventory_compare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "storage/db.h"
#include "storage/pgcopy.h"

/* Where a collected record's strings are in the arena (NO_STR: NULL). */
struct rec_at {
    size_t version_id;
    size_t sequencer;
    size_t event_type;
    size_t etag;
    size_t storage_class;
};

#define NO_STR ((size_t)-1)

/*
 * Rows per batch: few round trips and plans (each batch is planned anew, 0.35 ms
 * over seven partitions, against 0.5 us a row to read), bounded memory (a
 * batch of records of ~150 bytes is ~6 MB in libpq, two per stream).
 */
#define BATCH_ROWS 20000

struct inventory_compare {
    struct db *db;
    int64_t inventory_ms;
    int started;
    int last; /* the batch read is the last one */
    int eof;
    int in_flight;   /* the next batch's query is sent, its result not read */
    int limit;       /* rows per batch: BATCH_ROWS, more for a key with more records */
    struct buf next; /* the bucket and key (NUL-terminated) the next batch starts at */
    PGresult *batch;
    int row;
    int nrows;        /* of the batch, before the rows read again with the next one */
    struct buf arena; /* the asked bucket and key, then the records' strings */
    struct inventory_compare_rec *recs;
    struct rec_at *at;
    size_t nrecs;
    size_t alloc;
    struct inventory_compare_rec **latest; /* one per version, by version */
    size_t nlatest;
};

struct inventory_compare *
inventory_compare_new(struct db *db, int64_t inventory_ms)
{
    struct inventory_compare *c = xcalloc(1, sizeof(*c));

    c->db = db;
    c->inventory_ms = inventory_ms;
    c->limit = BATCH_ROWS;
    buf_init(&c->arena, 0);
    buf_init(&c->next, 0);
    return c;
}

void
inventory_compare_free(struct inventory_compare *c)
{
    if (!c)
        return;
    if (c->in_flight && db_conn(c->db)) {
        PGresult *res;

        while ((res = PQgetResult(db_conn(c->db))) != NULL)
            PQclear(res);
    }
    PQclear(c->batch);
    buf_release(&c->arena);
    buf_release(&c->next);
    free(c->recs);
    free(c->at);
    free(c->latest);
    free(c);
}

/*
 * Read in binary format: each value as PostgreSQL holds it, no text output
 * to write and parse back (last_modified as text went through numeric
 * arithmetic, a third of the statement's time). A text value in a binary
 * result is its bytes followed by a NUL (libpq), so it is used as a string.
 */
static const char batch_sql[] =
    "SELECT bucket, key, version_id, sequencer, event_type, is_delete_marker, size, etag, "
    "storage_class, last_modified, is_current AND "
    "coalesce(event_time, observed_at, ingested_at) < to_timestamp($3::float8 / 1000) "
    "FROM s3_objects WHERE (bucket, key) >= ($1, $2) ORDER BY bucket, key, sequencer LIMIT $4";

/*
 * The rows of the batch's last key when the batch was cut by its LIMIT
 * (that key may go on): they are read again with the next batch. 0 when the
 * batch is short (the last one) or holds one key only (read again, longer).
 */
static int
cut_rows(PGresult *res, int n)
{
    const char *b = PQgetvalue(res, n - 1, 0);
    const char *k = PQgetvalue(res, n - 1, 1);
    int i = n - 1;

    while (i > 0 && strcmp(PQgetvalue(res, i - 1, 0), b) == 0 &&
           strcmp(PQgetvalue(res, i - 1, 1), k) == 0)
        i--;
    return n - i;
}

static const char batch_name[] = "inventory_compare_batch";

/* Send the query of the batch from c->next on (c->limit rows), not waiting for it. */
static enum err
send_batch(struct inventory_compare *c, char *errbuf, size_t errlen)
{
    char ms[32];
    char limit[16];
    const char *params[4];
    enum err rc;

    /* one ms later than the inventory: the apply checks each judged record again exactly */
    snprintf(ms, sizeof(ms), "%lld", (long long)c->inventory_ms + 1);
    snprintf(limit, sizeof(limit), "%d", c->limit);
    params[0] = c->next.data;
    params[1] = c->next.data + strlen(c->next.data) + 1;
    params[2] = ms;
    params[3] = limit;
    rc = db_prepare(c->db, batch_name, batch_sql, 4, errbuf, errlen);
    if (rc)
        return rc;
    if (!PQsendQueryPrepared(db_conn(c->db), batch_name, 4, params, NULL, NULL, 1))
        return db_result_error(c->db, NULL, "inventory compare batch", errbuf, errlen);
    c->in_flight = 1;
    return ERR_OK;
}

/* Wait for the batch in flight into c->batch. */
static enum err
receive_batch(struct inventory_compare *c, char *errbuf, size_t errlen)
{
    PGresult *res;
    PGresult *extra;
    enum err rc = ERR_OK;

    PQclear(c->batch);
    c->batch = NULL;
    res = PQgetResult(db_conn(c->db));
    while ((extra = PQgetResult(db_conn(c->db))) != NULL)
        PQclear(extra);
    c->in_flight = 0;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = db_result_error(c->db, res, "inventory compare batch", errbuf, errlen);
        PQclear(res);
        return rc;
    }
    c->batch = res;
    return ERR_OK;
}

/*
 * Take the next batch (sent before, or now), keep its rows up to the cut,
 * and send the query of the one after it, so that PostgreSQL reads it while
 * the file's lines are decoded and compared; set `last` after the last.
 */
static enum err
fetch_batch(struct inventory_compare *c, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;
    int n;
    int cut;

    for (;;) {
        if (!c->in_flight)
            rc = send_batch(c, errbuf, errlen);
        if (!rc)
            rc = receive_batch(c, errbuf, errlen);
        if (rc)
            return rc;
        n = PQntuples(c->batch);
        if (n < c->limit) {
            c->last = 1;
            cut = 0;
            break;
        }
        cut = cut_rows(c->batch, n);
        if (cut < n)
            break;
        c->limit *= 2; /* one key has more records than a batch */
    }
    c->row = 0;
    c->nrows = n - cut;
    if (!cut)
        return ERR_OK;
    buf_reset(&c->next);
    buf_append(&c->next, PQgetvalue(c->batch, c->nrows, 0),
               strlen(PQgetvalue(c->batch, c->nrows, 0)) + 1);
    buf_append(&c->next, PQgetvalue(c->batch, c->nrows, 1),
               strlen(PQgetvalue(c->batch, c->nrows, 1)) + 1);
    return send_batch(c, errbuf, errlen);
}

/* Make c->row a row of the batch, reading the next batch when needed; or set eof. */
static enum err
ensure_row(struct inventory_compare *c, char *errbuf, size_t errlen)
{
    enum err rc;

    while (!c->eof && c->row >= c->nrows) {
        if (c->last) {
            c->eof = 1;
            break;
        }
        rc = fetch_batch(c, errbuf, errlen);
        if (rc)
            return rc;
    }
    return ERR_OK;
}

static const char *
col_or_null(PGresult *res, int r, int col)
{
    return PQgetisnull(res, r, col) ? NULL : PQgetvalue(res, r, col);
}

/* Row r of res as a record (strings borrowed from res). */
static void
row_rec(PGresult *res, int r, struct inventory_compare_rec *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->bucket = PQgetvalue(res, r, 0);
    rec->key = PQgetvalue(res, r, 1);
    rec->version_id = PQgetvalue(res, r, 2);
    rec->sequencer = PQgetvalue(res, r, 3);
    rec->event_type = PQgetvalue(res, r, 4);
    rec->is_delete_marker = PQgetvalue(res, r, 5)[0] != 0;
    rec->has_size = !PQgetisnull(res, r, 6);
    if (rec->has_size)
        rec->size = pgcopy_bin_get_int8(PQgetvalue(res, r, 6));
    rec->etag = col_or_null(res, r, 7);
    rec->storage_class = col_or_null(res, r, 8);
    rec->has_last_modified = !PQgetisnull(res, r, 9);
    if (rec->has_last_modified)
        rec->last_modified_us = pgcopy_bin_get_time_us(PQgetvalue(res, r, 9));
    rec->judged = !PQgetisnull(res, r, 10) && PQgetvalue(res, r, 10)[0] != 0;
}

static size_t
arena_str(struct buf *arena, const char *s)
{
    size_t off = arena->len;

    if (!s)
        return NO_STR;
    buf_append(arena, s, strlen(s) + 1);
    return off;
}

/* Copy record rec of the asked key into the arena. */
static void
collect(struct inventory_compare *c, const struct inventory_compare_rec *rec)
{
    struct rec_at *at;

    if (c->nrecs == c->alloc) {
        c->alloc = c->alloc ? c->alloc * 2 : 16;
        c->recs = xrealloc(c->recs, c->alloc * sizeof(*c->recs));
        c->at = xrealloc(c->at, c->alloc * sizeof(*c->at));
    }
    c->recs[c->nrecs] = *rec;
    at = &c->at[c->nrecs++];
    at->version_id = arena_str(&c->arena, rec->version_id);
    at->sequencer = arena_str(&c->arena, rec->sequencer);
    at->event_type = arena_str(&c->arena, rec->event_type);
    at->etag = arena_str(&c->arena, rec->etag);
    at->storage_class = arena_str(&c->arena, rec->storage_class);
}

static int
cmp_version(const void *a, const void *b)
{
    const struct inventory_compare_rec *x = *(const struct inventory_compare_rec *const *)a;
    const struct inventory_compare_rec *y = *(const struct inventory_compare_rec *const *)b;
    int d = strcmp(x->version_id, y->version_id);

    if (!d)
        d = strcmp(x->sequencer, y->sequencer);
    if (!d)
        d = strcmp(x->event_type, y->event_type);
    return d;
}

/* Point the collected records at the arena; keep the latest of each version. */
static void
finish_key(struct inventory_compare *c)
{
    const char *base = c->arena.data;
    size_t i;
    size_t n = 0;

    for (i = 0; i < c->nrecs; i++) {
        struct inventory_compare_rec *r = &c->recs[i];
        const struct rec_at *at = &c->at[i];

        r->bucket = base;
        r->key = base + strlen(base) + 1;
        r->version_id = base + at->version_id;
        r->sequencer = base + at->sequencer;
        r->event_type = base + at->event_type;
        r->etag = at->etag == NO_STR ? NULL : base + at->etag;
        r->storage_class = at->storage_class == NO_STR ? NULL : base + at->storage_class;
        r->latest = 0;
    }
    c->latest = xrealloc(c->latest, (c->nrecs ? c->nrecs : 1) * sizeof(*c->latest));
    for (i = 0; i < c->nrecs; i++)
        c->latest[i] = &c->recs[i];
    qsort(c->latest, c->nrecs, sizeof(*c->latest), cmp_version);
    for (i = 0; i < c->nrecs; i++)
        if (i + 1 == c->nrecs ||
            strcmp(c->latest[i]->version_id, c->latest[i + 1]->version_id) != 0) {
            c->latest[i]->latest = 1;
            c->latest[n++] = c->latest[i];
        }
    c->nlatest = n;
}

enum err
inventory_compare_key(struct inventory_compare *c, const char *bucket, const char *key,
                      inventory_compare_fn fn, void *ud, const struct inventory_compare_rec **recs,
                      size_t *n, char *errbuf, size_t errlen)
{
    struct inventory_compare_rec rec;
    enum err rc = ERR_OK;
    int d;

    *recs = NULL;
    *n = 0;
    c->nrecs = 0;
    c->nlatest = 0;
    buf_reset(&c->arena);
    buf_append(&c->arena, bucket, strlen(bucket) + 1);
    buf_append(&c->arena, key, strlen(key) + 1);
    if (!c->started) {
        buf_append(&c->next, bucket, strlen(bucket) + 1);
        buf_append(&c->next, key, strlen(key) + 1);
        c->started = 1;
    }
    while (!rc) {
        rc = ensure_row(c, errbuf, errlen);
        if (rc || c->eof)
            break;
        row_rec(c->batch, c->row, &rec);
        d = strcmp(rec.bucket, bucket);
        if (!d)
            d = strcmp(rec.key, key);
        if (d > 0)
            break;
        if (d < 0 && fn)
            rc = fn(ud, &rec, errbuf, errlen);
        else if (d == 0)
            collect(c, &rec);
        c->row++;
    }
    if (rc)
        return rc;
    finish_key(c);
    *recs = c->recs;
    *n = c->nrecs;
    return ERR_OK;
}

const struct inventory_compare_rec *
inventory_compare_latest(const struct inventory_compare *c, const char *version_id)
{
    size_t lo = 0;
    size_t hi = c->nlatest;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(c->latest[mid]->version_id, version_id);

        if (!d)
            return c->latest[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
