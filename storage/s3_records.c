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

/* How long a list page may run before its count is started beside it. */
#define S3_LIST_COUNT_BESIDE_MS 10

/* A field's name as the text before its value: FIELD("size") is `,"size":`. */
#define FIELD(name) ",\"" name "\":"

/* Append a field (FIELD()) whose value is column c of row r as a JSON string, or null. */
static void
text_str(struct buf *o, const char *field, PGresult *res, int r, int c)
{
    buf_append_str(o, field);
    if (PQgetisnull(res, r, c))
        buf_append(o, "null", 4);
    else
        buf_append_json_string(o, PQgetvalue(res, r, c));
}

/* Append a field whose value is a boolean column ('t' / 'f'). */
static void
text_bool(struct buf *o, const char *field, PGresult *res, int r, int c)
{
    buf_append_str(o, field);
    buf_append_str(o, PQgetvalue(res, r, c)[0] == 't' ? "true" : "false");
}

/* Append a field whose value is an integer column, as PostgreSQL wrote it (null when NULL). */
static void
text_int(struct buf *o, const char *field, PGresult *res, int r, int c)
{
    const char *v = PQgetvalue(res, r, c);
    size_t n = strspn(v + (v[0] == '-'), "0123456789") + (v[0] == '-');

    buf_append_str(o, field);
    if (PQgetisnull(res, r, c) || n == 0 || v[n] != '\0')
        buf_append(o, "null", 4); /* never for these columns: bigint / integer text */
    else
        buf_append(o, v, n);
}

/*
 * Append row r of an OBJECT_COLUMNS result to o as the API's object record
 * (JSON text, its fields in this order). The list writes these directly;
 * object_json() parses one for the routes that answer jansson objects, so
 * both say the same.
 */
static void
object_text(PGresult *res, int r, struct buf *o)
{
    buf_append_str(o, "{\"s3ObjectId\":");
    buf_append_json_string(o, PQgetvalue(res, r, 0));
    text_str(o, FIELD("eventType"), res, r, 1);
    text_str(o, FIELD("bucket"), res, r, 2);
    text_str(o, FIELD("key"), res, r, 3);
    text_str(o, FIELD("versionId"), res, r, 4);
    text_str(o, FIELD("eventTime"), res, r, 5);
    text_int(o, FIELD("size"), res, r, 6);
    text_str(o, FIELD("sha256"), res, r, 17);
    text_str(o, FIELD("lastModifiedDate"), res, r, 9);
    text_str(o, FIELD("eTag"), res, r, 7);
    text_str(o, FIELD("storageClass"), res, r, 8);
    text_str(o, FIELD("sequencer"), res, r, 10);
    text_bool(o, FIELD("isDeleteMarker"), res, r, 11);
    text_int(o, FIELD("numberDuplicateEvents"), res, r, 14);
    /* jsonb's text is JSON as it stands */
    buf_append_str(o, FIELD("attributes"));
    buf_append_str(o, PQgetisnull(res, r, 18) ? "null" : PQgetvalue(res, r, 18));
    /* the filemanager's "paired" ingestion fields: ingestd records every event on
     * its own, so they are never set (API.md) */
    buf_append_str(o, FIELD("deletedDate") "null" FIELD("deletedSequencer") "null" FIELD(
                          "numberReordered") "0");
    text_str(o, FIELD("ingestId"), res, r, 19);
    text_bool(o, FIELD("isCurrentState"), res, r, 12);
    text_str(o, FIELD("reason"), res, r, 13);
    text_str(o, FIELD("archiveStatus"), res, r, 20);
    text_bool(o, FIELD("isAccessible"), res, r, 21);
    text_str(o, FIELD("ingestedAt"), res, r, 15);
    text_str(o, FIELD("source"), res, r, 16);
    buf_append_char(o, '}');
}

static json_t *
object_json(PGresult *res, int r)
{
    struct buf o;
    json_t *j;

    buf_init(&o, 0);
    object_text(res, r, &o);
    j = json_loadb(o.data, o.len, 0, NULL);
    buf_release(&o);
    return j;
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
 * The first max rows of res as a JSON array of object records appended to
 * out; how many; *more tells whether res had more rows.
 */
static size_t
records_text(PGresult *res, int64_t max, struct buf *out, int *more)
{
    int i;

    buf_append_char(out, '[');
    for (i = 0; i < PQntuples(res) && i < max; i++) {
        if (i)
            buf_append_char(out, ',');
        object_text(res, i, out);
    }
    buf_append_char(out, ']');
    *more = i < PQntuples(res);
    return (size_t)i;
}

/* Run sql (its parameters in w); every row as an object record, in a new array in *items. */
static enum err
query_records(struct db *db, const char *sql, struct s3_where *w, json_t **items, char *errbuf,
              size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;
    int i;

    rc = db_query(db, &res, sql, w->nparams, w->params, errbuf, errlen);
    if (!rc) {
        *items = json_array();
        for (i = 0; i < PQntuples(res); i++)
            json_array_append_new(*items, object_json(res, i));
    }
    PQclear(res);
    return rc;
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
 * The page's statement into *sql, its parameters into *w: the matches are
 * ordered and cut on their sort columns and location alone (part, ctid),
 * and only the page's rows are then read whole (a TID scan each), so a
 * filter that keeps thousands of records builds the record columns of the
 * page's rows, not of every match. One statement, one snapshot: a ctid
 * names the row version the subquery saw. One row past the page tells
 * whether the list goes on.
 */
static void
page_sql(const struct s3_query *q, struct s3_where *w, struct buf *sql)
{
    int nl;
    int no;

    s3_query_where(q, w);
    snprintf(w->num[0], sizeof(w->num[0]), "%lld", (long long)q->limit + 1);
    snprintf(w->num[1], sizeof(w->num[1]), "%lld", (long long)q->offset);
    nl = s3_where_param(w, w->num[0]);
    no = s3_where_param(w, w->num[1]);
    buf_init(sql, 0);
    buf_printf(
        sql,
        "SELECT " OBJECT_COLUMNS " FROM (SELECT part AS p_part, ctid AS p_ctid, bucket AS "
        "p_bucket, key AS p_key, sequencer AS p_sequencer, id AS p_id FROM s3_objects%s" ORDER
        " LIMIT $%d OFFSET $%d) p, LATERAL (SELECT * FROM s3_objects o WHERE o.part = "
        "p.p_part AND o.ctid = p.p_ctid) o ORDER BY p_bucket, p_key, p_sequencer, p_id",
        w->sql.data, nl, no);
}

/*
 * Start the capped count on db's side connection: 1 when it runs (the
 * caller takes its answer with count_take), 0 when it could not start.
 */
static int
count_start(struct db *db, const struct s3_query *q)
{
    struct s3_where w;
    struct buf sql;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    count_sql(q, list_cap(q), &w, &sql);
    rc = db_send(db_side(db), sql.data, w.nparams, w.params, errbuf, sizeof(errbuf));
    buf_release(&sql);
    s3_where_release(&w);
    return rc == ERR_OK;
}

/* The answer of count_start's count, -1 when it failed. */
static int64_t
count_take(struct db *db)
{
    PGresult *res = NULL;
    char errbuf[ERRBUF_SIZE];
    int64_t n = -1;

    if (!db_receive(db_side(db), &res, errbuf, sizeof(errbuf)))
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

enum err
s3_store_list(struct db *db, const struct s3_query *q, struct buf *results, size_t *n,
              struct s3_total *total, char *errbuf, size_t errlen)
{
    struct s3_where w;
    struct buf sql;
    PGresult *res = NULL;
    int64_t counted = -1;
    int counting = 0;
    int more = 0;
    enum err rc;

    /* a page not answered within S3_LIST_COUNT_BESIDE_MS gets its capped
     * count started on the side connection, so that both run at once; a
     * quick page (or no connection to spare) is counted after, if needed */
    *n = 0;
    page_sql(q, &w, &sql);
    rc = db_send(db, sql.data, w.nparams, w.params, errbuf, errlen);
    buf_release(&sql);
    s3_where_release(&w);
    if (rc)
        return rc;
    if (!db_ready(db, S3_LIST_COUNT_BESIDE_MS))
        counting = count_start(db, q);
    rc = db_receive(db, &res, errbuf, errlen);
    if (!rc)
        *n = records_text(res, q->limit, results, &more);
    PQclear(res);
    if (counting)
        counted = count_take(db);
    if (!rc)
        rc = list_total(db, q, *n, more, counted, total, errbuf, errlen);
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
