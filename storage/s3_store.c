/*
 * s3_store.c - the S3 object catalog
 */
#include "storage/s3_store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "storage/db.h"
#include "storage/locks.h"
#include "storage/pgcopy.h"

#define GENERATED_DIGITS 20

enum err
s3_sequencer_normalize(const char *raw, struct buf *out)
{
    size_t n = strlen(raw);
    size_t i;

    buf_reset(out);
    while (n > 0 && raw[n - 1] == '0')
        n--;
    for (i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)raw[i]))
            return ERR_BAD_INPUT;
        buf_append_char(out, (char)toupper((unsigned char)raw[i]));
    }
    if (out->len == 0) /* all zeros: "0", still above every generated value */
        buf_append_char(out, '0');
    return ERR_OK;
}

void
s3_sequencer_next(const char *max, struct buf *out)
{
    const char *dash = max ? strchr(max, '-') : NULL;
    unsigned long long counter = 0;

    buf_reset(out);
    if (!max) {
        buf_append(out, "", 0);
    } else if (dash) {
        buf_append(out, max, (size_t)(dash - max));
        counter = strtoull(dash + 1, NULL, 10);
    } else {
        buf_append_str(out, max);
    }
    buf_printf(out, "-%0*llu", GENERATED_DIGITS, counter + 1);
}

/* Bytes of the (valid UTF-8) character at s, at most up to its end. */
static size_t
utf8_char_len(const char *s)
{
    unsigned char c = (unsigned char)*s;
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;

    return strnlen(s, n);
}

enum err
s3_like_pattern(const char *p, struct buf *out, char *errbuf, size_t errlen)
{
    buf_reset(out);
    buf_append(out, "", 0);
    for (; *p; p++) {
        if (*p == '\\') {
            p++;
            if (*p == '\0')
                return err_set(ERR_BAD_INPUT, errbuf, errlen,
                               "invalid escape: a trailing \\ (escape only *, ? and \\)");
            if (*p != '*' && *p != '?' && *p != '\\')
                return err_set(ERR_BAD_INPUT, errbuf, errlen,
                               "invalid escape \"\\%.*s\" (escape only *, ? and \\)",
                               (int)utf8_char_len(p), p);
            if (*p == '\\')
                buf_append_str(out, "\\\\");
            else
                buf_append_char(out, *p);
        } else if (*p == '*') {
            buf_append_char(out, '%');
        } else if (*p == '?') {
            buf_append_char(out, '_');
        } else if (*p == '%' || *p == '_') {
            buf_append_char(out, '\\');
            buf_append_char(out, *p);
        } else {
            buf_append_char(out, *p);
        }
    }
    return ERR_OK;
}

/* ---- a small string -> index map for one batch ---- */

struct strmap {
    char **keys;
    size_t *vals;
    size_t cap;
};

static uint64_t
str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void
strmap_init(struct strmap *m, size_t n)
{
    m->cap = 16;
    while (m->cap < n * 2)
        m->cap *= 2;
    m->keys = xcalloc(m->cap, sizeof(char *));
    m->vals = xcalloc(m->cap, sizeof(size_t));
}

/* Slot of key: *found says whether it was there; else the key is inserted with val. */
static size_t
strmap_put(struct strmap *m, const char *key, size_t val, int *found)
{
    size_t i = (size_t)str_hash(key) & (m->cap - 1);

    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    *found = m->keys[i] != NULL;
    if (!*found) {
        m->keys[i] = xstrdup(key);
        m->vals[i] = val;
    }
    return i;
}

static void
strmap_release(struct strmap *m)
{
    size_t i;

    for (i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
}

/* ---- ingestion ---- */

/* How a batch is written: by events, or by a crawl of the live bucket. */
struct ingest_opts {
    const char *source; /* the records' `source` */
    int per_key;        /* generated sequencers follow the key's greatest, not the version's */
    void (*locked)(void *ud); /* called once the key locks are held (NULL: none) */
    void *ud;
};

struct row {
    const struct s3_record *rec;
    struct s3_ingest_part *part; /* the batch of a group it came in */
    size_t index;                /* its position in that batch, from 0 */
    char *sequencer;             /* normalised or generated */
    int dups;                    /* repeats of this record later in the group */
    int keep;                    /* 0 when it is a repeat of an earlier row */
    int stored;                  /* kept, and a repeat of a stored record (the plan says) */
    int current;                 /* kept, new, and the current record of its key */
    char id[37];                 /* the record's id when it is new */
};

static char *
join3(const char *a, const char *b, const char *c)
{
    struct buf k;

    buf_init(&k, 0);
    /* length-prefixed, so no byte inside a field can make two keys equal */
    buf_printf(&k, "%zu:%s%zu:%s%zu:%s", strlen(a), a, strlen(b), b, c ? strlen(c) : 0, c ? c : "");
    return buf_take(&k, NULL);
}

/*
 * Normalise sequencers and fold repeats within the group (rows[].rec, part
 * and index set): a repeat counts as a duplicate of its own batch, and on
 * the first row's record (number_duplicate_events).
 */
static enum err
prepare_rows(struct row *rows, size_t n, char *errbuf, size_t errlen)
{
    struct strmap seen;
    struct buf norm;
    size_t i;
    enum err rc = ERR_OK;

    strmap_init(&seen, n);
    buf_init(&norm, 0);
    for (i = 0; i < n && !rc; i++) {
        const struct s3_record *r = rows[i].rec;
        char *k;
        char *full;
        int found;
        size_t slot;

        rows[i].keep = 1;
        if (strlen(r->bucket) > 255 || strlen(r->key) > 1024 || strlen(r->version_id) > 1024) {
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                         "record %zu: bucket, key or versionId too long", rows[i].index + 1);
            break;
        }
        if (!r->sequencer)
            continue;
        if (strlen(r->sequencer) > 256 || s3_sequencer_normalize(r->sequencer, &norm)) {
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "record %zu: invalid sequencer",
                         rows[i].index + 1);
            break;
        }
        rows[i].sequencer = xstrdup(norm.data);
        k = join3(r->bucket, r->key, r->version_id);
        full = join3(k, r->event_type == S3_CREATED ? "C" : "D", norm.data);
        slot = strmap_put(&seen, full, i, &found);
        if (found) {
            rows[seen.vals[slot]].dups++;
            rows[i].keep = 0;
            rows[i].part->result.duplicates++;
        }
        free(k);
        free(full);
    }
    buf_release(&norm);
    strmap_release(&seen);
    return rc;
}

/*
 * Transaction advisory locks (locks.h, 4 and 5): every touched bucket shared,
 * then every touched (bucket, key) exclusive, each set in hash order.
 */
static enum err
lock_keys(struct db *db, struct row *rows, size_t n, char *errbuf, size_t errlen)
{
    struct buf a[2]; /* buckets, keys */
    const char *params[2];
    size_t i;
    enum err rc;

    pgcopy_param_arrays_open(a, 2);
    for (i = 0; i < n; i++) {
        pgcopy_param_elem(&a[0], rows[i].rec->bucket, strlen(rows[i].rec->bucket), i == 0);
        pgcopy_param_elem(&a[1], rows[i].rec->key, strlen(rows[i].rec->key), i == 0);
    }
    pgcopy_param_arrays_close(a, 2);
    params[0] = a[0].data;
    params[1] = a[1].data;
    /* buckets shared first (an inventory apply holds them exclusively), then the keys;
     * Append runs its branches in order */
    rc = db_query_prepared(
        db, NULL, "s3_lock",
        "SELECT pg_advisory_xact_lock_shared(h) FROM (SELECT DISTINCT " LOCK_S3_BUCKET(
            "b") " AS h "
                 "FROM unnest($1::text[]) AS b ORDER BY h) s "
                 "UNION ALL "
                 "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT " LOCK_S3_KEY(
                     "b", "k") " AS h "
                               "FROM unnest($1::text[], $2::text[]) AS x(b, k) ORDER BY h) s",
        2, params, NULL, NULL, errbuf, errlen);
    buf_release(&a[0]);
    buf_release(&a[1]);
    return rc;
}

/*
 * The versions (bucket, key, version_id) of the rows without a sequencer, in
 * body order: each one's slot in *versions holds its index, and a[0..2] get
 * them as three parameter arrays. Returns how many.
 */
static size_t
collect_versions(const struct row *rows, size_t n, int per_key, struct strmap *versions,
                 struct buf a[3])
{
    size_t nv = 0;
    size_t i;
    int found;

    pgcopy_param_arrays_open(a, 3);
    for (i = 0; i < n; i++) {
        const struct s3_record *r = rows[i].rec;
        char *key;

        if (rows[i].sequencer)
            continue;
        key = join3(r->bucket, r->key, per_key ? NULL : r->version_id);
        strmap_put(versions, key, nv, &found);
        free(key);
        if (found)
            continue;
        pgcopy_param_elem(&a[0], r->bucket, strlen(r->bucket), nv == 0);
        pgcopy_param_elem(&a[1], r->key, strlen(r->key), nv == 0);
        pgcopy_param_elem(&a[2], r->version_id, strlen(r->version_id), nv == 0);
        nv++;
    }
    pgcopy_param_arrays_close(a, 3);
    return nv;
}

/*
 * The greatest stored sequencer of each of the nv versions of a[] (per_key:
 * of each key, over all its versions; NULL: none) into max[].
 */
static enum err
stored_max(struct db *db, const struct buf a[3], size_t nv, int per_key, char **max, char *errbuf,
           size_t errlen)
{
    PGresult *res = NULL;
    const char *params[3];
    size_t i;
    enum err rc;

    params[0] = a[0].data;
    params[1] = a[1].data;
    params[2] = a[2].data;
    if (per_key)
        rc = db_query_prepared(db, &res, "s3_max_sequencer_key",
                               "SELECT (SELECT max(o.sequencer) FROM s3_objects o WHERE o.bucket = "
                               "x.b AND o.key = x.k) "
                               "FROM unnest($1::text[], $2::text[], $3::text[]) "
                               "WITH ORDINALITY AS x(b, k, v, i) ORDER BY x.i",
                               3, params, NULL, NULL, errbuf, errlen);
    else
        rc = db_query_prepared(db, &res, "s3_max_sequencer",
                               "SELECT (SELECT max(o.sequencer) FROM s3_objects o WHERE o.bucket = "
                               "x.b AND o.key = x.k AND o.version_id = x.v) "
                               "FROM unnest($1::text[], $2::text[], $3::text[]) "
                               "WITH ORDINALITY AS x(b, k, v, i) ORDER BY x.i",
                               3, params, NULL, NULL, errbuf, errlen);
    if (rc)
        return rc;
    for (i = 0; i < nv; i++)
        max[i] = PQgetisnull(res, (int)i, 0) ? NULL : xstrdup(PQgetvalue(res, (int)i, 0));
    PQclear(res);
    return ERR_OK;
}

/* Replace *slot (malloc'd or NULL) by a copy of v. */
static void
set_max(char **slot, const char *v)
{
    free(*slot);
    *slot = xstrdup(v);
}

/*
 * In body order: a delivered sequencer raises its version's greatest, a row
 * without one gets the generated sequencer after its version's greatest.
 */
static void
assign_sequencers(struct row *rows, size_t n, int per_key, struct strmap *versions, char **max)
{
    struct buf next;
    size_t i;
    int found;

    buf_init(&next, 0);
    for (i = 0; i < n; i++) {
        const struct s3_record *r = rows[i].rec;
        char *key = join3(r->bucket, r->key, per_key ? NULL : r->version_id);
        size_t slot = strmap_put(versions, key, 0, &found);
        size_t vi;

        free(key);
        if (!found) /* a version with delivered sequencers only */
            continue;
        vi = versions->vals[slot];
        if (rows[i].sequencer) {
            if (!max[vi] || strcmp(rows[i].sequencer, max[vi]) > 0)
                set_max(&max[vi], rows[i].sequencer);
            continue;
        }
        s3_sequencer_next(max[vi], &next);
        rows[i].sequencer = xstrdup(next.data);
        set_max(&max[vi], next.data);
    }
    buf_release(&next);
}

/* Generated sequencers, in body order, after the greatest one stored per version (or key). */
static enum err
generate_sequencers(struct db *db, struct row *rows, size_t n, int per_key, char *errbuf,
                    size_t errlen)
{
    struct strmap versions;
    struct buf a[3];
    char **max;
    size_t nv = 0;
    size_t i;
    enum err rc;

    for (i = 0; i < n; i++)
        if (!rows[i].sequencer)
            nv++;
    if (nv == 0)
        return ERR_OK;
    strmap_init(&versions, n);
    nv = collect_versions(rows, n, per_key, &versions, a);
    max = xcalloc(nv, sizeof(char *));
    rc = stored_max(db, a, nv, per_key, max, errbuf, errlen);
    if (!rc)
        assign_sequencers(rows, n, per_key, &versions, max);
    for (i = 0; i < nv; i++)
        free(max[i]);
    free(max);
    for (i = 0; i < 3; i++)
        buf_release(&a[i]);
    strmap_release(&versions);
    return rc;
}

/* The plan's parameters: one array per column, in plan_current_sql's order ($1..$7). */
enum plan_column {
    COL_BUCKET,
    COL_KEY,
    COL_VERSION,
    COL_TYPE,
    COL_SEQUENCER,
    COL_MARKER,
    COL_ID,
    COL_COUNT
};

/* The kept rows as the plan's parameter arrays. */
static void
plan_arrays(const struct row *rows, size_t n, struct buf a[COL_COUNT])
{
    size_t i;
    int first = 1;

    pgcopy_param_arrays_open(a, COL_COUNT);
    for (i = 0; i < n; i++) {
        const struct s3_record *rec = rows[i].rec;

        if (!rows[i].keep)
            continue;
        pgcopy_param_elem_or_null(&a[COL_BUCKET], rec->bucket, first);
        pgcopy_param_elem_or_null(&a[COL_KEY], rec->key, first);
        pgcopy_param_elem_or_null(&a[COL_VERSION], rec->version_id, first);
        pgcopy_param_elem_or_null(&a[COL_TYPE],
                                  rec->event_type == S3_CREATED ? "Created" : "Deleted", first);
        pgcopy_param_elem_or_null(&a[COL_SEQUENCER], rows[i].sequencer, first);
        pgcopy_param_elem_or_null(&a[COL_MARKER], rec->is_delete_marker ? "t" : "f", first);
        pgcopy_param_elem_or_null(&a[COL_ID], rows[i].id, first);
        first = 0;
    }
    pgcopy_param_arrays_close(a, COL_COUNT);
}

/*
 * S3.md "Current state" for every touched key, decided before the batch is
 * inserted: over the key's stored records plus the batch's new ones, the
 * latest record per version, then the latest existing version. Stored
 * records that lose it are cleared here; the batch's winners are inserted
 * current, so a new current record costs no second write. Returns the
 * positions (from 1, among the kept rows) of the batch's winners, the stored
 * winners that must become current again, the cleared count, and the kept
 * rows that repeat a stored record of the events' partition (positions, and
 * the stored records' ids): those are duplicates, not inserted, so the
 * insert needs no ON CONFLICT (the key locks keep any other writer of the
 * keys out until the commit).
 *
 * The batch's rows are matched with the stored ones (xm) by one sort of
 * both over (bucket, key, version, type, sequencer) and a window, not a
 * join: the statement is prepared, its generic plan estimates the unnest at
 * 10 rows, and a join was planned as a nested loop over the two CTEs -
 * 24,000,000 comparisons, 3.4 s of a 3.6 s statement for a group of 6,595
 * records. Every column compared is NOT NULL in s3_objects, so grouping
 * matches exactly what equality did. The batch's winners carry their
 * position (i) through the decision for the same reason: no join back.
 */
static const char plan_current_sql[] =
    "WITH x AS (SELECT b COLLATE \"C\" AS b, k COLLATE \"C\" AS k, v COLLATE \"C\" AS v, et, "
    "  seq COLLATE \"C\" AS seq, dm, id, i FROM unnest($1::text[], $2::text[], $3::text[], "
    "  $4::text[], $5::text[], $6::boolean[], $7::uuid[]) WITH ORDINALITY "
    "  AS x(b, k, v, et, seq, dm, id, i)), "
    "t AS (SELECT DISTINCT b, k FROM x), "
    "e AS (SELECT o.id, o.bucket AS b, o.key AS k, o.version_id AS v, o.sequencer AS seq, "
    "  o.event_type AS et, o.is_delete_marker AS dm, o.is_current AS cur, o.part "
    "  FROM s3_objects o JOIN t ON o.bucket = t.b AND o.key = t.k), "
    "xm AS (SELECT i, id, b, k, v, seq, et, dm, count(eid) OVER g AS seen, "
    "  max(CASE WHEN epart = 0 THEN eid::text END) OVER g AS dup FROM ("
    "  SELECT x.i, x.id, x.b, x.k, x.v, x.seq, x.et, x.dm, NULL::uuid AS eid, NULL::int AS epart "
    "  FROM x UNION ALL SELECT NULL, NULL, e.b, e.k, e.v, e.seq, e.et, NULL, e.id, e.part::int "
    "  FROM e) u WINDOW g AS (PARTITION BY b, k, v, et, seq)), "
    "allr AS (SELECT id, b, k, v, seq, et, dm, cur, NULL::bigint AS i FROM e UNION ALL "
    "  SELECT id, b, k, v, seq, et, dm, NULL, i FROM xm WHERE i IS NOT NULL AND seen = 0), "
    "lv AS (SELECT DISTINCT ON (b, k, v) id, b, k, seq, et, dm, cur, i FROM allr "
    "  ORDER BY b, k, v, seq DESC, et DESC, id DESC), "
    "top AS (SELECT DISTINCT ON (b, k) id, dm, cur, i FROM lv WHERE et = 'Created' OR dm "
    "  ORDER BY b, k, seq DESC, id DESC), "
    "w AS (SELECT id, cur, i FROM top WHERE NOT dm), "
    "m AS (SELECT i, dup::uuid AS id FROM xm WHERE i IS NOT NULL AND dup IS NOT NULL), "
    "clr AS (UPDATE s3_objects o SET is_current = false FROM t WHERE o.bucket = t.b "
    "  AND o.key = t.k AND o.is_current AND o.id NOT IN (SELECT id FROM w) RETURNING 1) "
    "SELECT (SELECT coalesce(array_agg(i ORDER BY i), '{}') FROM w WHERE i IS NOT NULL), "
    "  (SELECT coalesce(array_agg(id), '{}') FROM w WHERE cur IS FALSE), "
    "  (SELECT count(*) FROM clr), "
    "  (SELECT coalesce(array_agg(i ORDER BY i), '{}') FROM m), "
    "  (SELECT coalesce(array_agg(id ORDER BY i), '{}') FROM m)";

/*
 * The new rows go in by COPY (text format), the columns in this order: it
 * costs PostgreSQL less than an INSERT over unnest()ed parameter arrays
 * (no array literals to build and take apart).
 */
#define INSERT_COPY                                                                                \
    "COPY s3_objects_events (id, bucket, key, version_id, event_type, event_time, size, etag, "    \
    "storage_class, sequencer, sequencer_raw, is_delete_marker, reason, number_duplicate_events, " \
    "last_modified, is_current, source) FROM STDIN"

/* The rows a COPY writes: rows[at[r]], with the records' source. */
struct copy_rows {
    const struct row *rows;
    const size_t *at;
    const char *source;
};

/* One COPY text field and its tab (last: the line's end); v NULL is \N. */
static enum err
copy_field(struct buf *out, const char *v, int last)
{
    enum err rc = ERR_OK;

    if (v)
        rc = pgcopy_field(out, v, strlen(v));
    else
        buf_append_str(out, "\\N");
    buf_append_char(out, last ? '\n' : '\t');
    return rc;
}

/* db_copy_row_fn: one new row, in INSERT_COPY's column order. */
static enum err
copy_row(const void *ctx, size_t r, struct buf *out)
{
    const struct copy_rows *c = ctx;
    const struct row *row = &c->rows[c->at[r]];
    const struct s3_record *rec = row->rec;
    char size[32];
    char dups[16];
    const char *vals[17];
    size_t i;
    enum err rc = ERR_OK;

    snprintf(size, sizeof(size), "%lld", (long long)rec->size);
    snprintf(dups, sizeof(dups), "%d", row->dups);
    vals[0] = row->id;
    vals[1] = rec->bucket;
    vals[2] = rec->key;
    vals[3] = rec->version_id;
    vals[4] = rec->event_type == S3_CREATED ? "Created" : "Deleted";
    vals[5] = rec->event_time;
    vals[6] = rec->has_size ? size : NULL;
    vals[7] = rec->etag;
    vals[8] = rec->storage_class;
    vals[9] = row->sequencer;
    vals[10] = rec->sequencer;
    vals[11] = rec->is_delete_marker ? "t" : "f";
    vals[12] = rec->reason;
    vals[13] = dups;
    vals[14] = rec->last_modified;
    vals[15] = row->current ? "t" : "f";
    vals[16] = c->source;
    for (i = 0; i < 17 && !rc; i++)
        rc = copy_field(out, vals[i], i == 16);
    return rc;
}

/* COPY the kept rows that repeat no stored record. */
static enum err
copy_new_rows(struct db *db, const struct row *rows, size_t n, const char *source, char *errbuf,
              size_t errlen)
{
    struct copy_rows c;
    size_t *at = xcalloc(n ? n : 1, sizeof(*at));
    size_t m = 0;
    size_t i;
    enum err rc = ERR_OK;

    for (i = 0; i < n; i++)
        if (rows[i].keep && !rows[i].stored)
            at[m++] = i;
    c.rows = rows;
    c.at = at;
    c.source = source;
    if (m > 0)
        rc = db_copy_rows(db, INSERT_COPY, m, copy_row, &c, errbuf, errlen);
    free(at);
    return rc;
}

/*
 * Mark the kept rows at the positions (from 1, ascending) of the array
 * literal `list` ("{3,7}"): current, or (current 0) stored.
 */
static enum err
mark_positions(struct row *rows, size_t n, const char *list, int current, char *errbuf,
               size_t errlen)
{
    const char *p = list + 1;
    size_t i = 0;
    size_t pos = 0; /* kept rows seen so far */

    while (*p && *p != '}') {
        char *end;
        unsigned long want = strtoul(p, &end, 10);

        if (end == p || want == 0)
            return err_set(ERR_INTERNAL, errbuf, errlen, "bad position list from the plan");
        while (i < n && (!rows[i].keep || ++pos < want))
            i++;
        if (i == n)
            return err_set(ERR_INTERNAL, errbuf, errlen, "plan position %lu past the batch", want);
        if (current)
            rows[i].current = 1;
        else
            rows[i].stored = 1;
        i++;
        p = *end == ',' ? end + 1 : end;
    }
    return ERR_OK;
}

/* The repeat counts of the stored records the rows marked `stored` repeat, as "{n,...}". */
static void
stored_repeats(const struct row *rows, size_t n, struct buf *out)
{
    size_t i;
    int first = 1;

    buf_reset(out);
    buf_append_char(out, '{');
    for (i = 0; i < n; i++) {
        if (!rows[i].keep || !rows[i].stored)
            continue;
        buf_printf(out, "%s%d", first ? "" : ",", rows[i].dups + 1);
        first = 0;
    }
    buf_append_char(out, '}');
}

/* Count each kept row on its batch: a new record, or a repeat of a stored one. */
static void
count_rows(struct row *rows, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!rows[i].keep)
            continue;
        if (rows[i].stored)
            rows[i].part->result.duplicates++;
        else
            rows[i].part->result.ingested++;
    }
}

/* Run the plan: rows marked current / stored; *plan keeps its answer. */
static enum err
plan_rows(struct db *db, struct row *rows, size_t n, PGresult **plan, char *errbuf, size_t errlen)
{
    struct buf a[COL_COUNT];
    const char *params[COL_COUNT];
    size_t k;
    enum err rc;

    plan_arrays(rows, n, a);
    for (k = 0; k < COL_COUNT; k++)
        params[k] = a[k].data;
    rc = db_query_prepared(db, plan, "s3_plan_current", plan_current_sql, COL_COUNT, params, NULL,
                           NULL, errbuf, errlen);
    for (k = 0; k < COL_COUNT; k++)
        buf_release(&a[k]);
    if (!rc)
        rc = mark_positions(rows, n, PQgetvalue(*plan, 0, 0), 1, errbuf, errlen);
    if (!rc)
        rc = mark_positions(rows, n, PQgetvalue(*plan, 0, 3), 0, errbuf, errlen);
    return rc;
}

/* Decide the current records, then insert the batch with them. */
static enum err
insert_rows(struct db *db, struct row *rows, size_t n, const struct ingest_opts *o, char *errbuf,
            size_t errlen)
{
    struct buf repeats;
    const char *params[2];
    PGresult *plan = NULL;
    enum err rc;

    buf_init(&repeats, 0);
    rc = plan_rows(db, rows, n, &plan, errbuf, errlen);
    if (rc)
        goto out;
    stored_repeats(rows, n, &repeats);
    if (strcmp(repeats.data, "{}") != 0) {
        /* the repeat counts added to the stored records the rows repeat */
        params[0] = PQgetvalue(plan, 0, 4);
        params[1] = repeats.data;
        rc = db_query_prepared(db, NULL, "s3_repeats",
                               "UPDATE s3_objects_events o SET number_duplicate_events = "
                               "o.number_duplicate_events + d.n FROM unnest($1::uuid[], "
                               "$2::int[]) AS d(id, n) WHERE o.id = d.id",
                               2, params, NULL, NULL, errbuf, errlen);
    }
    if (!rc)
        rc = copy_new_rows(db, rows, n, o->source, errbuf, errlen);
    if (rc)
        goto out;
    count_rows(rows, n);
    if (strcmp(PQgetvalue(plan, 0, 1), "{}") != 0) {
        /* a stored record is current again (e.g. its newer version was deleted) */
        params[0] = PQgetvalue(plan, 0, 1);
        rc = db_query_prepared(db, NULL, "s3_current_set",
                               "UPDATE s3_objects SET is_current = true "
                               "WHERE id = ANY ($1::uuid[]) AND NOT is_current",
                               1, params, NULL, NULL, errbuf, errlen);
    }
out:
    PQclear(plan);
    buf_release(&repeats);
    return rc;
}

/* Each part's result zeroed; the group's rows (rec, part, index), n of them. */
static struct row *
group_rows(struct s3_ingest_part *parts, size_t nparts, size_t *n)
{
    struct row *rows;
    size_t total = 0;
    size_t p;
    size_t i;
    uuid_t u;

    for (p = 0; p < nparts; p++) {
        memset(&parts[p].result, 0, sizeof(parts[p].result));
        total += parts[p].n;
    }
    rows = xcalloc(total ? total : 1, sizeof(*rows));
    total = 0;
    for (p = 0; p < nparts; p++)
        for (i = 0; i < parts[p].n; i++, total++) {
            rows[total].rec = &parts[p].records[i];
            rows[total].part = &parts[p];
            rows[total].index = i;
            uuid_generate(u);
            uuid_unparse_lower(u, rows[total].id);
        }
    *n = total;
    return rows;
}

static enum err
ingest(struct db *db, struct s3_ingest_part *parts, size_t nparts, const struct ingest_opts *o,
       char *errbuf, size_t errlen)
{
    struct row *rows;
    size_t n;
    size_t i;
    enum err rc = ERR_OK;

    rows = group_rows(parts, nparts, &n);
    if (n == 0)
        goto out;
    rc = prepare_rows(rows, n, errbuf, errlen);
    if (rc)
        goto out;
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (rc)
        goto out;
    rc = lock_keys(db, rows, n, errbuf, errlen);
    if (!rc && o->locked)
        o->locked(o->ud);
    if (!rc)
        rc = generate_sequencers(db, rows, n, o->per_key, errbuf, errlen);
    if (!rc)
        rc = insert_rows(db, rows, n, o, errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_rollback(db);
out:
    if (rc)
        for (i = 0; i < nparts; i++)
            memset(&parts[i].result, 0, sizeof(parts[i].result));
    for (i = 0; i < n; i++)
        free(rows[i].sequencer);
    free(rows);
    return rc;
}

enum err
s3_store_ingest_group(struct db *db, struct s3_ingest_part *parts, size_t nparts, char *errbuf,
                      size_t errlen)
{
    static const struct ingest_opts events = {"event", 0, NULL, NULL};

    return ingest(db, parts, nparts, &events, errbuf, errlen);
}

enum err
s3_store_ingest_group_locked(struct db *db, struct s3_ingest_part *parts, size_t nparts,
                             void (*locked)(void *ud), void *ud, char *errbuf, size_t errlen)
{
    const struct ingest_opts events = {"event", 0, locked, ud};

    return ingest(db, parts, nparts, &events, errbuf, errlen);
}

enum err
s3_store_ingest(struct db *db, const struct s3_record *records, size_t n,
                struct s3_ingest_result *out, char *errbuf, size_t errlen)
{
    static const struct ingest_opts events = {"event", 0, NULL, NULL};
    struct s3_ingest_part part = {records, n, {0, 0}};
    enum err rc;

    rc = ingest(db, &part, 1, &events, errbuf, errlen);
    *out = part.result;
    return rc;
}

enum err
s3_store_ingest_crawl(struct db *db, const struct s3_record *records, size_t n,
                      struct s3_ingest_result *out, char *errbuf, size_t errlen)
{
    static const struct ingest_opts crawl = {"crawl", 1, NULL, NULL};
    struct s3_ingest_part part = {records, n, {0, 0}};
    enum err rc;

    rc = ingest(db, &part, 1, &crawl, errbuf, errlen);
    *out = part.result;
    return rc;
}
