/*
 * crawl_state.c - the catalog as a crawl compares it with S3 (see crawl_store.h)
 *
 * Three reads, each bounded by the page of S3's listing it serves: the latest
 * record of every version of a page's keys (the order of S3.md "Current
 * state": sequencer, then Deleted before Created, then id), the keys written
 * since the crawl began (left to their events), the current records of a key
 * range the listing did not name (gone from S3), and, for verify, the current
 * records of a prefix in key order. Keys compare in byte order (COLLATE "C"),
 * the order S3 lists them in. A prefix is matched with LIKE, its '%', '_' and
 * '\' escaped.
 *
 * Thread-safety: every function works on the caller's struct db.
 */
#include "storage/crawl_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "storage/db.h"
#include "storage/pgcopy.h"

void
crawl_state_release(struct crawl_state *s)
{
    size_t i;

    for (i = 0; i < s->nversions; i++) {
        free(s->versions[i].key);
        free(s->versions[i].version_id);
        free(s->versions[i].etag);
        free(s->versions[i].storage_class);
    }
    free(s->versions);
    for (i = 0; i < s->ntouched; i++)
        free(s->touched[i]);
    free(s->touched);
    memset(s, 0, sizeof(*s));
}

void
crawl_pairs_release(struct crawl_pairs *p)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->version_ids[i]);
    }
    free(p->keys);
    free(p->version_ids);
    memset(p, 0, sizeof(*p));
}

static char *
dup_or_null(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? NULL : xstrdup(PQgetvalue(res, r, c));
}

/* A text[] parameter of n strings. */
static void
text_array(struct buf *a, const char *const *v, size_t n)
{
    size_t i;

    pgcopy_param_arrays_open(a, 1);
    for (i = 0; i < n; i++)
        pgcopy_param_elem(a, v[i], strlen(v[i]), i == 0);
    pgcopy_param_arrays_close(a, 1);
}

/* The LIKE pattern of "starts with prefix". */
static void
prefix_like(struct buf *b, const char *prefix)
{
    buf_init(b, 0);
    for (; prefix && *prefix; prefix++) {
        if (*prefix == '%' || *prefix == '_' || *prefix == '\\')
            buf_append_char(b, '\\');
        buf_append_char(b, *prefix);
    }
    buf_append_char(b, '%');
}

static enum err
load_versions(struct db *db, const char *const params[2], struct crawl_state *out, char *errbuf,
              size_t errlen)
{
    PGresult *res = NULL;
    int r, n;
    enum err rc;

    rc = db_query(db, &res,
                  "SELECT DISTINCT ON (o.key, o.version_id) o.key, o.version_id, o.event_type, "
                  "o.is_delete_marker, o.is_current, o.etag, o.storage_class, o.size "
                  "FROM s3_objects o WHERE o.bucket = $1 AND o.key = ANY ($2::text[]) "
                  "ORDER BY o.key, o.version_id, o.sequencer DESC, o.event_type DESC, o.id DESC",
                  2, params, errbuf, errlen);
    if (rc)
        return rc;
    n = PQntuples(res);
    out->versions = xcalloc((size_t)n + 1, sizeof(*out->versions));
    for (r = 0; r < n; r++) {
        struct crawl_version *v = &out->versions[r];

        v->key = xstrdup(PQgetvalue(res, r, 0));
        v->version_id = xstrdup(PQgetvalue(res, r, 1));
        v->created = strcmp(PQgetvalue(res, r, 2), "Created") == 0;
        v->delete_marker = PQgetvalue(res, r, 3)[0] == 't';
        v->current = PQgetvalue(res, r, 4)[0] == 't';
        v->etag = dup_or_null(res, r, 5);
        v->storage_class = dup_or_null(res, r, 6);
        v->has_size = !PQgetisnull(res, r, 7);
        v->size = v->has_size ? strtoll(PQgetvalue(res, r, 7), NULL, 10) : 0;
    }
    out->nversions = (size_t)n;
    PQclear(res);
    return ERR_OK;
}

enum err
crawl_state_load(struct db *db, const char *bucket, const char *const *keys, size_t nkeys,
                 const char *since, struct crawl_state *out, char *errbuf, size_t errlen)
{
    const char *params[3];
    PGresult *res = NULL;
    struct buf a;
    int r;
    enum err rc;

    memset(out, 0, sizeof(*out));
    text_array(&a, keys, nkeys);
    params[0] = bucket;
    params[1] = a.data;
    params[2] = since;
    rc = load_versions(db, params, out, errbuf, errlen);
    if (!rc)
        rc = db_query(db, &res,
                      "SELECT DISTINCT o.key FROM s3_objects o WHERE o.bucket = $1 AND "
                      "o.key = ANY ($2::text[]) AND o.ingested_at >= $3::timestamptz ORDER BY 1",
                      3, params, errbuf, errlen);
    if (!rc) {
        out->touched = xcalloc((size_t)PQntuples(res) + 1, sizeof(char *));
        for (r = 0; r < PQntuples(res); r++)
            out->touched[out->ntouched++] = xstrdup(PQgetvalue(res, r, 0));
    }
    PQclear(res);
    buf_release(&a);
    if (rc)
        crawl_state_release(out);
    return rc;
}

/* The (key, version_id) rows of res into out. */
static void
pairs_from(PGresult *res, struct crawl_pairs *out)
{
    int r, n = PQntuples(res);

    out->keys = xcalloc((size_t)n + 1, sizeof(char *));
    out->version_ids = xcalloc((size_t)n + 1, sizeof(char *));
    for (r = 0; r < n; r++) {
        out->keys[r] = xstrdup(PQgetvalue(res, r, 0));
        out->version_ids[r] = xstrdup(PQgetvalue(res, r, 1));
    }
    out->n = (size_t)n;
}

enum err
crawl_state_gone(struct db *db, const char *bucket, const char *prefix, const char *lo,
                 const char *hi, const struct crawl_pairs *listed, const char *since,
                 struct crawl_pairs *out, char *errbuf, size_t errlen)
{
    const char *params[7];
    PGresult *res = NULL;
    struct buf like, lk, lv;
    enum err rc;

    memset(out, 0, sizeof(*out));
    prefix_like(&like, prefix);
    text_array(&lk, (const char *const *)listed->keys, listed->n);
    text_array(&lv, (const char *const *)listed->version_ids, listed->n);
    params[0] = bucket;
    params[1] = like.data;
    params[2] = lo;
    params[3] = hi;
    params[4] = lk.data;
    params[5] = lv.data;
    params[6] = since;
    rc = db_query(db, &res,
                  "SELECT o.key, o.version_id FROM s3_objects o WHERE o.bucket = $1 AND "
                  "o.is_current AND o.key LIKE $2 AND ($3::text IS NULL OR o.key > $3) AND "
                  "($4::text IS NULL OR o.key <= $4) AND NOT EXISTS (SELECT 1 FROM "
                  "unnest($5::text[], $6::text[]) AS l(k, v) WHERE l.k = o.key AND "
                  "l.v = o.version_id) AND NOT EXISTS (SELECT 1 FROM s3_objects t WHERE "
                  "t.bucket = o.bucket AND t.key = o.key AND t.ingested_at >= $7::timestamptz) "
                  "ORDER BY o.key",
                  7, params, errbuf, errlen);
    if (!rc)
        pairs_from(res, out);
    PQclear(res);
    buf_release(&like);
    buf_release(&lk);
    buf_release(&lv);
    return rc;
}

enum err
crawl_state_current(struct db *db, const char *bucket, const char *prefix, const char *after,
                    int limit, struct crawl_pairs *out, char *errbuf, size_t errlen)
{
    const char *params[4];
    char lim[16];
    PGresult *res = NULL;
    struct buf like;
    enum err rc;

    memset(out, 0, sizeof(*out));
    prefix_like(&like, prefix);
    snprintf(lim, sizeof(lim), "%d", limit);
    params[0] = bucket;
    params[1] = like.data;
    params[2] = after;
    params[3] = lim;
    rc = db_query(db, &res,
                  "SELECT key, version_id FROM s3_objects WHERE bucket = $1 AND is_current AND "
                  "key LIKE $2 AND ($3::text IS NULL OR key > $3) ORDER BY key LIMIT $4::int",
                  4, params, errbuf, errlen);
    if (!rc)
        pairs_from(res, out);
    PQclear(res);
    buf_release(&like);
    return rc;
}
