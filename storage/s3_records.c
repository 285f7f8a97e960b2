/*
 * s3_records.c - reading and annotating the S3 object catalog's records
 *
 * Lists, counts and patches take a struct s3_query (s3_query.h) whose
 * values are all bound parameters. A patch is one transaction: the matched
 * records are locked (FOR UPDATE) in list order, every one is patched in
 * memory (codec/json_patch.h), and only when all succeeded are they written;
 * one failing operation leaves every record as it was.
 */
#include "storage/s3_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json_patch.h"
#include "storage/db.h"
#include "storage/locks.h"
#include "storage/pgcopy.h"

#define OBJECT_COLUMNS                                                                             \
    "id, event_type, bucket, key, version_id, " SQL_TS(                                            \
        "event_time") ", size, etag, "                                                             \
                      "storage_class, " SQL_TS(                                                    \
                          "last_modified") ", coalesce(sequencer_raw, sequencer), "                \
                                           "is_delete_marker, is_current, reason, "                \
                                           "number_duplicate_events, " SQL_TS(                     \
                                               "ingested_at") ", "                                 \
                                                              "source, sha256, attributes::text, " \
                                                              "ingest_id, " S3_SQL_ARCHIVE_STATUS  \
                                                              ", " S3_SQL_IS_ACCESSIBLE

#define ORDER " ORDER BY bucket, key, sequencer, id"

static json_t *
object_json(PGresult *res, int r)
{
    json_t *o = json_object();
    json_t *attributes = NULL;

#define VAL(c) PQgetvalue(res, r, c)
#define NUL(c) PQgetisnull(res, r, c)
#define STR_OR_NULL(c) (NUL(c) ? json_null() : json_string(VAL(c)))
    if (!NUL(18))
        attributes = json_loads(VAL(18), JSON_DECODE_ANY, NULL);
    json_object_set_new(o, "s3ObjectId", json_string(VAL(0)));
    json_object_set_new(o, "eventType", json_string(VAL(1)));
    json_object_set_new(o, "bucket", json_string(VAL(2)));
    json_object_set_new(o, "key", json_string(VAL(3)));
    json_object_set_new(o, "versionId", json_string(VAL(4)));
    json_object_set_new(o, "eventTime", STR_OR_NULL(5));
    json_object_set_new(o, "size", NUL(6) ? json_null() : json_integer(strtoll(VAL(6), NULL, 10)));
    json_object_set_new(o, "sha256", STR_OR_NULL(17));
    json_object_set_new(o, "lastModifiedDate", STR_OR_NULL(9));
    json_object_set_new(o, "eTag", STR_OR_NULL(7));
    json_object_set_new(o, "storageClass", STR_OR_NULL(8));
    json_object_set_new(o, "sequencer", STR_OR_NULL(10));
    json_object_set_new(o, "isDeleteMarker", json_boolean(VAL(11)[0] == 't'));
    json_object_set_new(o, "numberDuplicateEvents", json_integer(strtoll(VAL(14), NULL, 10)));
    json_object_set_new(o, "attributes", attributes ? attributes : json_null());
    /* the filemanager's "paired" ingestion fields: ingestd records every event on
     * its own, so they are never set (API.md) */
    json_object_set_new(o, "deletedDate", json_null());
    json_object_set_new(o, "deletedSequencer", json_null());
    json_object_set_new(o, "numberReordered", json_integer(0));
    json_object_set_new(o, "ingestId", STR_OR_NULL(19));
    json_object_set_new(o, "isCurrentState", json_boolean(VAL(12)[0] == 't'));
    json_object_set_new(o, "reason", json_string(VAL(13)));
    json_object_set_new(o, "archiveStatus", STR_OR_NULL(20));
    json_object_set_new(o, "isAccessible", json_boolean(VAL(21)[0] == 't'));
    json_object_set_new(o, "ingestedAt", json_string(VAL(15)));
    json_object_set_new(o, "source", json_string(VAL(16)));
#undef VAL
#undef NUL
#undef STR_OR_NULL
    return o;
}

enum err
s3_store_get(struct db *db, const char *id, json_t **object, char *errbuf, size_t errlen)
{
    return db_get_json(db, "SELECT " OBJECT_COLUMNS " FROM s3_objects WHERE id = $1", 1, &id,
                       object_json, "no such object record", object, errbuf, errlen);
}

enum err
s3_store_count(struct db *db, const struct s3_query *q, int64_t *total, char *errbuf, size_t errlen)
{
    struct s3_where w;
    struct buf sql;
    PGresult *res = NULL;
    enum err rc;

    s3_query_where(q, &w);
    buf_init(&sql, 0);
    buf_printf(&sql, "SELECT count(*) FROM s3_objects%s", w.sql.data);
    rc = db_query(db, &res, sql.data, w.nparams, w.params, errbuf, errlen);
    if (!rc)
        *total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    buf_release(&sql);
    s3_where_release(&w);
    return rc;
}

/*
 * Run sql (its parameters in w) and append its first max rows (all when max
 * < 0) as object records to *items; *more (when not NULL) tells whether
 * there were more rows than that.
 */
static enum err
query_records_max(struct db *db, const char *sql, struct s3_where *w, int64_t max, json_t **items,
                  int *more, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;
    int i;

    rc = db_query(db, &res, sql, w->nparams, w->params, errbuf, errlen);
    if (!rc) {
        *items = json_array();
        for (i = 0; i < PQntuples(res) && (max < 0 || i < max); i++)
            json_array_append_new(*items, object_json(res, i));
        if (more)
            *more = i < PQntuples(res);
    }
    PQclear(res);
    return rc;
}

/* Run sql (its parameters in w) and append every row as an object record to *items. */
static enum err
query_records(struct db *db, const char *sql, struct s3_where *w, json_t **items, char *errbuf,
              size_t errlen)
{
    return query_records_max(db, sql, w, -1, items, NULL, errbuf, errlen);
}

/* The count of q's matches up to cap: its SQL into *sql, its parameters into *w. */
static void
count_sql(const struct s3_query *q, int64_t cap, struct s3_where *w, struct buf *sql)
{
    int n;

    s3_query_where(q, w);
    snprintf(w->num[0], sizeof(w->num[0]), "%lld", (long long)cap);
    n = s3_where_param(w, w->num[0]);
    buf_init(sql, 0);
    buf_printf(sql, "SELECT count(*) FROM (SELECT 1 FROM s3_objects%s LIMIT $%d) c", w->sql.data,
               n);
}

/* How many records q matches, counting no further than cap: *total <= cap. */
static enum err
count_capped(struct db *db, const struct s3_query *q, int64_t cap, int64_t *total, char *errbuf,
             size_t errlen)
{
    struct s3_where w;
    struct buf sql;
    PGresult *res = NULL;
    enum err rc;

    count_sql(q, cap, &w, &sql);
    rc = db_query(db, &res, sql.data, w.nparams, w.params, errbuf, errlen);
    if (!rc)
        *total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    buf_release(&sql);
    s3_where_release(&w);
    return rc;
}

/* A list's count cap: max(S3_LIST_COUNT_CAP, one past the page). */
static int64_t
list_cap(const struct s3_query *q)
{
    int64_t cap = q->offset + q->limit + 1;

    return cap < S3_LIST_COUNT_CAP ? S3_LIST_COUNT_CAP : cap;
}

/*
 * The page's total: when no record follows the page's n (more 0) and the
 * page is not past the end, the total is known without counting; else it
 * is `counted` (the capped count run beside the page, -1 when it could not
 * run), or the records are counted now, up to list_cap(q), exact below it.
 */
static enum err
list_total(struct db *db, const struct s3_query *q, size_t n, int more, int64_t counted,
           struct s3_total *t, char *errbuf, size_t errlen)
{
    int64_t cap = list_cap(q);
    enum err rc = ERR_OK;

    if (!more && (n > 0 || q->offset == 0)) {
        t->count = q->offset + (int64_t)n;
        t->exact = 1;
        return ERR_OK;
    }
    if (counted >= 0)
        t->count = counted;
    else
        rc = count_capped(db, q, cap, &t->count, errbuf, errlen);
    t->exact = t->count < cap;
    return rc;
}

/*
 * The page: the matches are ordered and cut on their sort columns and
 * location alone (part, ctid), and only the page's rows are then read whole
 * (a TID scan each) - a filter that keeps thousands of records builds the
 * record columns of the page's rows, not of every match. One statement, one
 * snapshot: a ctid names the row version the subquery saw.
 */
static enum err
list_page(struct db *db, const struct s3_query *q, json_t **items, int *more, char *errbuf,
          size_t errlen)
{
    struct s3_where w;
    struct buf sql;
    enum err rc;
    int nl;
    int no;

    s3_query_where(q, &w);
    /* one row past the page tells whether the list goes on */
    snprintf(w.num[0], sizeof(w.num[0]), "%lld", (long long)q->limit + 1);
    snprintf(w.num[1], sizeof(w.num[1]), "%lld", (long long)q->offset);
    nl = s3_where_param(&w, w.num[0]);
    no = s3_where_param(&w, w.num[1]);
    buf_init(&sql, 0);
    buf_printf(
        &sql,
        "SELECT " OBJECT_COLUMNS " FROM (SELECT part AS p_part, ctid AS p_ctid, bucket AS "
        "p_bucket, key AS p_key, sequencer AS p_sequencer, id AS p_id FROM s3_objects%s" ORDER
        " LIMIT $%d OFFSET $%d) p, LATERAL (SELECT * FROM s3_objects o WHERE o.part = "
        "p.p_part AND o.ctid = p.p_ctid) o ORDER BY p_bucket, p_key, p_sequencer, p_id",
        w.sql.data, nl, no);
    rc = query_records_max(db, sql.data, &w, q->limit, items, more, errbuf, errlen);
    buf_release(&sql);
    s3_where_release(&w);
    return rc;
}

enum err
s3_store_list(struct db *db, const struct s3_query *q, json_t **items, struct s3_total *total,
              char *errbuf, size_t errlen)
{
    struct db *side = db_side(db);
    struct s3_where cw;
    struct buf csql;
    PGresult *cres = NULL;
    char cerr[ERRBUF_SIZE];
    int64_t counted = -1;
    enum err rc;
    int counting;
    int more = 0;

    /* the capped count runs on the side connection while the page is read;
     * when it cannot (no connection to spare), list_total counts after */
    *items = NULL;
    count_sql(q, list_cap(q), &cw, &csql);
    counting = !db_send(side, csql.data, cw.nparams, cw.params, cerr, sizeof(cerr));
    rc = list_page(db, q, items, &more, errbuf, errlen);
    if (counting && !db_receive(side, &cres, cerr, sizeof(cerr)))
        counted = strtoll(PQgetvalue(cres, 0, 0), NULL, 10);
    PQclear(cres);
    buf_release(&csql);
    s3_where_release(&cw);
    if (!rc)
        rc = list_total(db, q, json_array_size(*items), more, counted, total, errbuf, errlen);
    if (rc) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}

/* ---- patches ---- */

/* The new attributes of every locked row (id, attributes) into a[0] (ids) and a[1] (texts). */
static enum err
patch_attributes(PGresult *rows, const json_t *ops, struct buf a[2], char *errbuf, size_t errlen)
{
    char detail[ERRBUF_SIZE];
    int r;

    for (r = 0; r < PQntuples(rows); r++) {
        json_t *doc = NULL;
        json_t *patched = NULL;
        char *text;
        enum err rc;

        if (!PQgetisnull(rows, r, 1))
            doc = json_loads(PQgetvalue(rows, r, 1), JSON_DECODE_ANY, NULL);
        if (!json_is_object(doc) && !json_is_array(doc)) { /* NULL (or null) is {} */
            json_decref(doc);
            doc = json_object();
        }
        rc = json_patch_apply(doc, ops, &patched, detail, sizeof(detail));
        json_decref(doc);
        if (rc)
            return err_set(rc, errbuf, errlen, "record %s: %s", PQgetvalue(rows, r, 0), detail);
        text = json_dumps(patched, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(patched);
        pgcopy_param_elem(&a[0], PQgetvalue(rows, r, 0), strlen(PQgetvalue(rows, r, 0)), r == 0);
        pgcopy_param_elem(&a[1], text, strlen(text), r == 0);
        free(text);
    }
    return ERR_OK;
}

/* Write the patch to the locked rows, whose ids end up in ids (an array literal). */
static enum err
patch_write(struct db *db, PGresult *rows, const struct s3_patch *p, struct buf *ids, char *errbuf,
            size_t errlen)
{
    struct buf a[2];
    const char *params[2];
    enum err rc = ERR_OK;
    int r;

    pgcopy_param_arrays_open(a, 2);
    if (p->ops) {
        rc = patch_attributes(rows, p->ops, a, errbuf, errlen);
    } else {
        for (r = 0; r < PQntuples(rows); r++)
            pgcopy_param_elem(&a[0], PQgetvalue(rows, r, 0), strlen(PQgetvalue(rows, r, 0)),
                              r == 0);
    }
    pgcopy_param_arrays_close(a, 2);
    params[0] = a[0].data;
    params[1] = p->ops ? a[1].data : p->ingest_id;
    if (!rc && p->ops)
        rc = db_query(db, NULL,
                      "UPDATE s3_objects o SET attributes = x.a::jsonb FROM unnest($1::uuid[], "
                      "$2::text[]) AS x(id, a) WHERE o.id = x.id",
                      2, params, errbuf, errlen);
    else if (!rc)
        rc = db_query(db, NULL,
                      "UPDATE s3_objects SET ingest_id = $2::uuid WHERE id = ANY ($1::uuid[])", 2,
                      params, errbuf, errlen);
    buf_reset(ids);
    buf_append_str(ids, a[0].data);
    buf_release(&a[0]);
    buf_release(&a[1]);
    return rc;
}

/* Lock the records q matches, in list order; ERR_UNPROCESSABLE past S3_PATCH_MAX_RECORDS. */
static enum err
patch_lock(struct db *db, const struct s3_query *q, PGresult **rows, char *errbuf, size_t errlen)
{
    struct s3_where w;
    struct buf sql;
    char cap[32];
    enum err rc;
    int n;

    s3_query_where(q, &w);
    snprintf(cap, sizeof(cap), "%d", S3_PATCH_MAX_RECORDS + 1);
    n = s3_where_param(&w, cap);
    buf_init(&sql, 0);
    buf_printf(&sql, "SELECT id, attributes::text FROM s3_objects%s" ORDER " LIMIT $%d FOR UPDATE",
               w.sql.data, n);
    rc = db_query(db, rows, sql.data, w.nparams, w.params, errbuf, errlen);
    if (!rc && PQntuples(*rows) > S3_PATCH_MAX_RECORDS)
        rc = err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                     "the filters match more than %d records; a patch changes at most that many",
                     S3_PATCH_MAX_RECORDS);
    buf_release(&sql);
    s3_where_release(&w);
    return rc;
}

enum err
s3_store_patch(struct db *db, const struct s3_query *q, const struct s3_patch *p, json_t **items,
               char *errbuf, size_t errlen)
{
    struct s3_where w;
    struct buf ids;
    PGresult *rows = NULL;
    enum err rc;

    *items = NULL;
    buf_init(&ids, 0);
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (rc)
        return rc;
    rc = patch_lock(db, q, &rows, errbuf, errlen);
    if (!rc && PQntuples(rows) == 0) {
        *items = json_array();
    } else if (!rc) {
        rc = patch_write(db, rows, p, &ids, errbuf, errlen);
        if (!rc) {
            memset(&w, 0, sizeof(w));
            s3_where_param(&w, ids.data);
            rc = query_records(
                db, "SELECT " OBJECT_COLUMNS " FROM s3_objects WHERE id = ANY ($1::uuid[])" ORDER,
                &w, items, errbuf, errlen);
            free(w.params);
        }
    }
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc) {
        db_rollback(db);
        json_decref(*items);
        *items = NULL;
    }
    PQclear(rows);
    buf_release(&ids);
    return rc;
}
