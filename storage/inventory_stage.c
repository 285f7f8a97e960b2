/*
 * inventory_stage.c - staging one inventory data file into a partition of its own
 *
 * Each data file is loaded, in one transaction, into a table of its own
 * (s3_objects_inv_<part>, shaped like the catalog, see inventory_part.h)
 * with COPY in binary format (FREEZE: the table is new in the transaction).
 * A file's lines are grouped by (bucket, key) as they stream (inventories
 * list a key's versions together): the group's candidate for "current" is
 * the IsLatest line, else its last line. Each line gets the generated
 * sequencer it has when its key is new to the catalog ('-' and a counter
 * ordering the key's lines: file, line, the candidate last) and is current
 * when it is the candidate. The file records whether its keys never
 * decrease and its first and last key, for inventory_apply.c. The lookup
 * indexes are built after the COPY, and only when the file's key range is
 * new to the catalog (see index_if_new).
 *
 * Compared with the catalog (cmp_db given; inventory_compare.h), each new
 * key group first reads the key's stored records; a line is `same` when it
 * equals its version's latest record in what an inventory line sets, and a
 * group of such lines is not written (skipped), except the file's first
 * and last groups (their keys may continue in the next or previous file).
 * A current record of the file's range that the lines do not list (its key,
 * or its version when the file is versioned) is written as a marker row
 * (reason 'Unlisted'), which the apply takes out before the partition is
 * read. The identical lines of a group that is written carry reason 'Same'
 * (the apply drops them without joining the catalog, or sets 'Crawl'). A file compared so must be
 * sorted: a key out of order fails the stage, which is then run again without comparing
 * (jobs/inventory_runner.c).
 *
 * Invariants: between begin and commit/abort the connection is inside the
 * file's transaction with a COPY in progress; nothing of the file is
 * visible before commit, and abort leaves nothing behind. Memory is bounded
 * by one (bucket, key) group plus DB_COPY_CHUNK of COPY data (and, when
 * compared, one batch of stored records).
 *
 * Thread-safety: a struct inventory_stage belongs to the thread that owns
 * its struct db; several files of one job stage at once on different
 * connections.
 */
#include "storage/inventory_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "storage/db.h"
#include "storage/inventory_compare.h"
#include "storage/inventory_part.h"
#include "storage/pgcopy.h"

/* A buffered line of the current (bucket, key) group. */
struct staged_line {
    size_t off; /* its fields before sequencer, in inventory_stage.group */
    size_t len;
    int is_latest;
    int is_delete_marker;
    size_t line;
    size_t version_off; /* its version (NUL-terminated), in inventory_stage.versions */
    int same;           /* identical to its version's latest stored record */
};

struct inventory_stage {
    struct db *db;
    char job[37];
    char table[64];
    int file_idx;
    int part;
    int64_t observed_ms;
    struct buf out;                               /* COPY data not sent yet */
    struct buf group;                             /* the fields of the group's lines */
    struct buf versions;                          /* the versions of the group's lines */
    struct inventory_compare *cmp;                /* NULL: every line is staged */
    const struct inventory_compare_rec *cmp_recs; /* the group key's stored records */
    size_t ncmp;
    int out_of_order; /* a key came before the previous one while comparing */
    size_t groups;    /* groups flushed */
    int64_t skipped;  /* lines identical to the catalog, not staged */
    int64_t unlisted; /* markers of unlisted current records staged */
    int64_t same;     /* staged lines identical to the catalog (reason 'Same') */
    int cmp_seen;     /* the compare met a stored record in the file's range */
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

/* The ids' time prefix (now, in ms) and random bits, and a random start of the counter. */
static void
init_ids(struct inventory_stage *s)
{
    uint64_t ms = (uint64_t)clock_real_ms();
    int i;

    for (i = 0; i < 6; i++)
        s->id_prefix[i] = (unsigned char)(ms >> (40 - 8 * i));
    if (getrandom(s->id_prefix + 6, 2, 0) != 2)
        s->id_prefix[6] = s->id_prefix[7] = (unsigned char)s->file_idx;
    if (getrandom(&s->id_counter, sizeof(s->id_counter), 0) != sizeof(s->id_counter))
        s->id_counter = (uint64_t)clock_mono_ms();
    s->id_counter &= 0x3fffffffffffffffULL; /* room to count */
}

/* Open the file's transaction, create its partition table and start the COPY into it. */
static enum err
open_partition(struct inventory_stage *s, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    struct buf sql;
    enum err rc;

    buf_init(&sql, 0);
    rc = db_exec(s->db, "BEGIN", errbuf, errlen);
    if (!rc)
        rc = db_query(s->db, &res, "SELECT nextval('s3_objects_part')", 0, NULL, errbuf, errlen);
    if (!rc) {
        s->part = atoi(PQgetvalue(res, 0, 0));
        snprintf(s->table, sizeof(s->table), "s3_objects_inv_%d", s->part);
        /* created in this transaction: with wal_level minimal, its rows skip the WAL */
        inventory_part_table_sql(&sql, s->part);
        rc = db_exec(s->db, sql.data, errbuf, errlen);
    }
    buf_reset(&sql);
    buf_printf(&sql, "COPY %s (" STAGE_COLUMNS ") FROM STDIN (FORMAT binary, FREEZE)", s->table);
    if (!rc)
        rc = db_copy_start(s->db, sql.data, errbuf, errlen);
    PQclear(res);
    buf_release(&sql);
    return rc;
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
    inventory_compare_free(s->cmp);
    buf_release(&s->versions);
    buf_release(&s->group);
    buf_release(&s->out);
    free(s);
}

enum err
inventory_stage_begin(struct db *db, struct db *cmp_db, const char *job_id, int file_idx,
                      int64_t observed_ms, struct inventory_stage **out, char *errbuf,
                      size_t errlen)
{
    struct inventory_stage *s = xcalloc(1, sizeof(*s));
    enum err rc;

    *out = NULL;
    s->db = db;
    snprintf(s->job, sizeof(s->job), "%s", job_id);
    s->file_idx = file_idx;
    s->observed_ms = observed_ms;
    s->sorted = 1;
    buf_init(&s->out, 0);
    buf_init(&s->group, 0);
    buf_init(&s->versions, 0);
    if (cmp_db)
        s->cmp = inventory_compare_new(cmp_db, observed_ms);
    init_ids(s);
    rc = open_partition(s, errbuf, errlen);
    if (rc) {
        db_rollback(db);
        stage_free(s);
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
 * A marker row for the current record of (bucket, key, version_id), which
 * the file's key range holds and its lines do not list: the apply takes the
 * markers out of the partition (reason 'Unlisted') before anything reads it
 * and checks each again for deletion (inventory_apply.c).
 */
static void
write_marker(struct inventory_stage *s, const struct inventory_compare_rec *r)
{
    unsigned char id[16];

    next_id(s, id);
    pgcopy_bin_row(&s->out, STAGE_NCOLUMNS);
    pgcopy_bin_uuid(&s->out, id);
    pgcopy_bin_text(&s->out, r->bucket, strlen(r->bucket));
    pgcopy_bin_text(&s->out, r->key, strlen(r->key));
    pgcopy_bin_text(&s->out, r->version_id, strlen(r->version_id));
    pgcopy_bin_text(&s->out, "Deleted", 7);
    pgcopy_bin_null(&s->out); /* size, etag, storage class, last modified */
    pgcopy_bin_null(&s->out);
    pgcopy_bin_null(&s->out);
    pgcopy_bin_null(&s->out);
    pgcopy_bin_text(&s->out, "-", 1);
    pgcopy_bin_bool(&s->out, 0);
    pgcopy_bin_bool(&s->out, 0);
    pgcopy_bin_text(&s->out, "Unlisted", 8);
    pgcopy_bin_text(&s->out, "inventory", 9);
    pgcopy_bin_time_ms(&s->out, s->observed_ms);
    pgcopy_bin_int4(&s->out, s->part);
    s->unlisted++;
}

/* A stored record of a key between two of the file's: unlisted when judged. */
static enum err
on_unlisted_key(void *ud, const struct inventory_compare_rec *r, char *errbuf, size_t errlen)
{
    struct inventory_stage *s = ud;

    (void)errbuf;
    (void)errlen;
    s->cmp_seen = 1;
    if (r->judged)
        write_marker(s, r);
    return ERR_OK;
}

/* Markers for the group key's judged records its lines do not list (key or version). */
static void
mark_unlisted_versions(struct inventory_stage *s)
{
    size_t i;
    size_t j;

    for (i = 0; i < s->ncmp; i++) {
        const struct inventory_compare_rec *r = &s->cmp_recs[i];
        int listed = !s->versioned && s->nlines > 0;

        for (j = 0; !listed && j < s->nlines; j++)
            listed = strcmp(s->versions.data + s->lines[j].version_off, r->version_id) == 0;
        if (r->judged && !listed)
            write_marker(s, r);
    }
}

/*
 * Write the buffered group. The candidate for current is the IsLatest line;
 * without an IsLatest column, the group's last line. Its generated
 * sequencer ('-' and a 20-digit counter, final for a key new to the catalog)
 * orders the key's lines by file, then line; candidates after all others,
 * IsLatest ones last of all (also when a key's versions are spread over
 * several files). When the file is compared with the catalog, a group
 * whose lines are all identical to their versions' latest records is not
 * written, except the file's first and last (`last`: their keys may go on
 * in the neighbouring files, whose lines the apply must see together).
 */
static enum err
flush_group(struct inventory_stage *s, int last, char *errbuf, size_t errlen)
{
    char seq[32];
    size_t i;
    int skip = s->cmp && s->nlines > 0 && s->groups > 0 && !last;

    for (i = 0; skip && i < s->nlines; i++)
        skip = s->lines[i].same;
    if (s->cmp)
        mark_unlisted_versions(s);
    if (skip)
        s->skipped += (int64_t)s->nlines;
    for (i = 0; !skip && i < s->nlines; i++) {
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
        if (l->same) {
            pgcopy_bin_text(&s->out, "Same", 4); /* the apply needs no join to know */
            s->same++;
        } else
            pgcopy_bin_text(&s->out, "Crawl", 5);
        pgcopy_bin_text(&s->out, "inventory", 9);
        pgcopy_bin_time_ms(&s->out, s->observed_ms);
        pgcopy_bin_int4(&s->out, s->part);
    }
    if (s->nlines > 0)
        s->groups++;
    s->nlines = 0;
    buf_reset(&s->group);
    buf_reset(&s->versions);
    return db_copy_flush(s->db, &s->out, DB_COPY_CHUNK, errbuf, errlen);
}

/* Two optional strings are equal (both NULL, or the same text). */
static int
same_str(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* Line l is identical to record r (the latest of its version), as the apply compares them. */
static int
same_as(const struct inventory_line *l, const struct inventory_compare_rec *r)
{
    if (!r || r->is_delete_marker != (l->is_delete_marker != 0) ||
        strcmp(r->event_type, l->is_delete_marker ? "Deleted" : "Created") != 0)
        return 0;
    if (r->has_size != (l->has_size != 0) || (l->has_size && r->size != l->size))
        return 0;
    if (r->has_last_modified != (l->last_modified != NULL) ||
        (l->last_modified && r->last_modified_us != l->last_modified_ms * 1000))
        return 0;
    return same_str(r->etag, l->etag) && same_str(r->storage_class, l->storage_class);
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

/* A new group begins at line l's key: flush the last one, read the key's stored records. */
static enum err
begin_group(struct inventory_stage *s, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    enum err rc;

    if (s->group_key &&
        inventory_part_key_cmp(l->bucket, l->key, s->group_bucket, s->group_key) < 0) {
        s->sorted = 0;
        if (s->cmp) {
            s->out_of_order = 1;
            return err_set(ERR_CONFLICT, errbuf, errlen,
                           "line %zu: key out of order in a file compared with the catalog",
                           l->line);
        }
    }
    rc = flush_group(s, 0, errbuf, errlen);
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
    if (!s->cmp)
        return ERR_OK;
    rc = inventory_compare_key(s->cmp, l->bucket, l->key, on_unlisted_key, s, &s->cmp_recs,
                               &s->ncmp, errbuf, errlen);
    if (s->ncmp > 0)
        s->cmp_seen = 1;
    return rc;
}

enum err
inventory_stage_add(struct inventory_stage *s, const struct inventory_line *l, char *errbuf,
                    size_t errlen)
{
    struct staged_line *g;
    unsigned char id[16];
    const char *version = l->version_id ? l->version_id : "null";
    enum err rc;

    if (!s->group_key || strcmp(s->group_key, l->key) != 0 ||
        strcmp(s->group_bucket, l->bucket) != 0) {
        rc = begin_group(s, l, errbuf, errlen);
        if (rc)
            return rc;
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
    g->version_off = s->versions.len;
    buf_append(&s->versions, version, strlen(version) + 1);
    g->same = s->cmp && same_as(l, inventory_compare_latest(s->cmp, version));
    next_id(s, id);
    pgcopy_bin_uuid(&s->group, id);
    bin_text_or_null(&s->group, l->bucket);
    bin_text_or_null(&s->group, l->key);
    bin_text_or_null(&s->group, version);
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

int
inventory_stage_out_of_order(const struct inventory_stage *s)
{
    return s && s->out_of_order;
}

/* Mark the file staged with its counts and add them to the job's progress. */
static enum err
record_staged(struct inventory_stage *s, int64_t bytes, char *errbuf, size_t errlen)
{
    struct buf lit;
    char idx[16];
    char part[16];
    char records[32];
    char nbytes[32];
    char skipped[32];
    char unlisted[32];
    char same[32];
    const char *params[16];
    enum err rc;

    buf_init(&lit, 0);
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
    snprintf(skipped, sizeof(skipped), "%lld", (long long)s->skipped);
    snprintf(unlisted, sizeof(unlisted), "%lld", (long long)s->unlisted);
    params[12] = skipped;
    params[13] = unlisted;
    params[14] = s->cmp ? "t" : "f";
    snprintf(same, sizeof(same), "%lld", (long long)s->same);
    params[15] = same;
    rc = db_query(s->db, NULL,
                  "WITH f AS (UPDATE inventory_files SET staged = true, records = $3, bytes = $4, "
                  "streamed_records = 0, streamed_bytes = 0, buckets = $5, versioned = $6, part = "
                  "$7, sorted = $8, first_bucket = $9, "
                  "first_key = $10, last_bucket = $11, last_key = $12, skipped = $13, "
                  "unlisted = $14, compared = $15, same = $16 "
                  "WHERE job_id = $1 AND idx = $2 RETURNING 1) "
                  "UPDATE inventory_jobs SET files_done = files_done + (SELECT count(*) FROM f), "
                  "records = records + $3, bytes = bytes + $4, heartbeat_at = now() WHERE id = $1",
                  16, params, errbuf, errlen);
    buf_release(&lit);
    return rc;
}

/*
 * Build the partition's lookup indexes now (one pass over the file's rows,
 * cheaper than keeping them up to date during the COPY) when the catalog has
 * no record in the file's key range: its lines are then new and stay. A file
 * whose range the catalog knows (a repeated inventory) is left without them:
 * the apply drops its unchanged lines first and indexes what stays.
 */
static enum err
index_if_new(struct inventory_stage *s, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    struct buf lit;
    struct buf sql;
    const char *params[4];
    enum err rc;

    if (!s->first_key)
        return ERR_OK;
    buf_init(&sql, 0);
    if (s->cmp) {
        /* the compare read the catalog over the file's whole range: new if it met nothing */
        rc = ERR_OK;
        if (!s->cmp_seen) {
            inventory_part_index_sql(&sql, s->part);
            rc = db_exec(s->db, sql.data, errbuf, errlen);
        }
        buf_release(&sql);
        return rc;
    }
    buf_init(&lit, 0);
    pgcopy_param_array(&lit, (const char *const *)s->buckets, NULL, s->nbuckets);
    params[0] = s->first_bucket;
    params[1] = s->first_key;
    params[2] = s->group_bucket;
    params[3] = s->group_key;
    /* a sorted file's lines lie between its first and last key; another's anywhere */
    if (s->sorted)
        rc = db_query(s->db, &res,
                      "SELECT NOT EXISTS (SELECT 1 FROM s3_objects WHERE (bucket, key) >= ($1, $2) "
                      "AND (bucket, key) <= ($3, $4))",
                      4, params, errbuf, errlen);
    else {
        params[0] = lit.data;
        rc =
            db_query(s->db, &res,
                     "SELECT NOT EXISTS (SELECT 1 FROM s3_objects WHERE bucket = ANY ($1::text[]))",
                     1, params, errbuf, errlen);
    }
    if (!rc && PQgetvalue(res, 0, 0)[0] == 't') {
        inventory_part_index_sql(&sql, s->part);
        rc = db_exec(s->db, sql.data, errbuf, errlen);
    }
    PQclear(res);
    buf_release(&lit);
    buf_release(&sql);
    return rc;
}

/* Statistics for the planner before the partition serves queries (a failure is logged only). */
static void
analyze_staged(struct inventory_stage *s)
{
    char ignore[ERRBUF_SIZE];
    struct buf sql;

    buf_init(&sql, 0);
    buf_printf(&sql, "ANALYZE %s", s->table);
    if (db_exec(s->db, sql.data, ignore, sizeof(ignore)))
        log_json(LOG_WARN, "cannot analyze a staged inventory file",
                 json_pack("{s:s,s:s}", "table", s->table, "error", ignore));
    buf_release(&sql);
}

enum err
inventory_stage_commit(struct inventory_stage *s, int64_t bytes, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = flush_group(s, 1, errbuf, errlen);
    pgcopy_bin_trailer(&s->out);
    if (!rc)
        rc = db_copy_flush(s->db, &s->out, 0, errbuf, errlen);
    if (!rc)
        rc = db_copy_end(s->db, errbuf, errlen);
    if (!rc)
        rc = index_if_new(s, errbuf, errlen);
    if (!rc)
        rc = record_staged(s, bytes, errbuf, errlen);
    if (!rc)
        rc = db_exec(s->db, "COMMIT", errbuf, errlen);
    if (!rc)
        analyze_staged(s);
    if (rc)
        db_rollback(s->db);
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
