/*
 * test_inventory_repeat.c - daily inventories of the same bucket
 *
 * The steady state of S3 Inventory: the same bucket's inventory every day,
 * almost nothing changed. Against a real PostgreSQL, s3rver and ingestd
 * (INGESTD_INVENTORY_MERGE_BELOW=0, so every file with new records keeps a
 * partition, and INGESTD_INVENTORY_MAX_PARTITIONS=4):
 *   - A, then A again (adds nothing, leaves no partition), then A' (1 % of
 *     lines changed, some keys removed, a few new): the API's current state
 *     equals that of a fresh ingestion of A' alone into another bucket, the
 *     removed keys got Deleted records, and a changed key's old record kept
 *     its page (its flag turned off in the room the partition leaves);
 *   - 30 daily inventories of one bucket: its partitions never exceed 4,
 *     and its current state is that of the last day's inventory alone;
 *   - the same with one file of more records than a compare batch.
 *
 * Inventories are generated: keys dir/obj-NNNNN, versioned (every 5th key
 * has an older version, every 17th a delete marker over an older version,
 * every 11th the "null" version only), split by key range into files. Each
 * later day overwrites about 1 key in 100 (its latest version's size, ETag
 * and date change), removes 1 in 50, adds 3, and moves some older versions to
 * GLACIER (a changed line that must not become current).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/err.h"
#include "clients/s3_client.h"
#include "harness.h"

#define DEST "rep-dest"
#define INV_PATH "/api/v1/s3/inventories?wait=true"
#define MAX_PARTS 4
#define DAY_MS 86400000LL
#define T0_MS 1715043600000LL /* after every LastModifiedDate below */

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    struct s3_client *s3;
} G;

/* What one day's inventory of a bucket lists. */
struct day {
    const char *src; /* the source bucket in its lines */
    int day;         /* 0: the first; each later day changes, removes and adds some keys */
    int keys;        /* keys 0..keys-1, before removals, plus the day's new ones */
    int files;
    int reverse; /* each file lists its keys in descending order */
};

/* Key k changed on day d (about 1 line in 100, never on day 0). */
static int
changed_on(int k, int d)
{
    return d > 0 && (k * 7 + d * 13) % 100 == 0;
}

/* The day on which key k changed last, up to day d (0: never). */
static int
last_change(int k, int d)
{
    int i;

    for (i = d; i > 0; i--)
        if (changed_on(k, i))
            return i;
    return 0;
}

/* Key k is gone by day d: every 50th key from day 1 on, shifting each day. */
static int
removed_by(int k, int d)
{
    int i;

    for (i = 1; i <= d; i++)
        if ((k * 3 + i) % 50 == 0)
            return 1;
    return 0;
}

/* Key k's older version moved to GLACIER by day d (a lifecycle transition of a noncurrent one). */
static int
transitioned_by(int k, int d)
{
    int i;

    for (i = 1; i <= d; i++)
        if ((k * 11 + i * 3) % 40 == 0)
            return 1;
    return 0;
}

/* One line; sc NULL: the key's usual storage class. */
static void
line(struct buf *b, const char *src, int k, const char *ver, int latest, int dm, int change,
     const char *sc)
{
    if (dm) {
        buf_printf(
            b,
            "\"%s\",\"dir/obj-%05d\",\"%s\",\"true\",\"true\",\"\",\"2024-02-03T04:05:06.000Z\","
            "\"\",\"\"\n",
            src, k, ver);
        return;
    }
    buf_printf(
        b,
        "\"%s\",\"dir/obj-%05d\",\"%s\",\"%s\",\"false\",\"%d\",\"2024-0%d-03T04:05:06.000Z\","
        "\"e%05d-%d\",\"%s\"\n",
        src, k, ver, latest ? "true" : "false", k * 10 + change, 1 + change % 9, k, change,
        sc ? sc : (k % 3 ? "STANDARD" : "STANDARD_IA"));
}

/* The lines of key k on day d (its versions oldest first, the latest last). */
static void
key_lines(struct buf *b, const struct day *d, int k)
{
    char v1[32];
    char v2[32];
    int change = last_change(k, d->day);
    const char *old_sc;

    if (removed_by(k, d->day))
        return;
    snprintf(v1, sizeof(v1), "v1-%d", k);
    snprintf(v2, sizeof(v2), "v2-%d", k);
    old_sc = transitioned_by(k, d->day) ? "GLACIER" : NULL;
    if (k % 11 == 0) {
        line(b, d->src, k, "", 1, 0, change, NULL);
    } else if (k % 17 == 0) {
        line(b, d->src, k, v1, 0, 0, 0, old_sc);
        line(b, d->src, k, v2, 1, 1, 0, NULL);
    } else if (k % 5 == 0) {
        line(b, d->src, k, v1, 0, 0, 0, old_sc);
        line(b, d->src, k, v2, 1, 0, change, NULL);
    } else {
        line(b, d->src, k, v1, 1, 0, change, NULL);
    }
}

static void
md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    unsigned int i;

    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
gzip_buf(const struct buf *in, struct buf *out)
{
    z_stream z;
    uLong bound;

    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    bound = deflateBound(&z, (uLong)in->len) + 32;
    buf_init(out, 0);
    buf_reserve(out, bound);
    z.next_in = (unsigned char *)in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = (unsigned char *)out->data;
    z.avail_out = (uInt)bound;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out->len = bound - z.avail_out;
    deflateEnd(&z);
}

/* Upload the day's data files and return its manifest (malloc'd JSON). */
static char *
day_manifest(const struct day *d)
{
    json_t *files = json_array();
    int total = d->keys + d->day * 3; /* a few new keys each day */
    char created[32];
    int f;
    char *text;
    json_t *m;

    for (f = 0; f < d->files; f++) {
        char errbuf[ERRBUF_SIZE] = "";
        char *key = th_strf("%s/day-%02d/data/%d.csv.gz", d->src, d->day, f);
        struct buf csv;
        struct buf gz;
        char hex[33];
        int k;

        buf_init(&csv, 0);
        buf_append(&csv, "", 0);
        for (k = total * f / d->files; k < total * (f + 1) / d->files; k++)
            key_lines(&csv, d,
                      d->reverse ? total * f / d->files + total * (f + 1) / d->files - 1 - k : k);
        gzip_buf(&csv, &gz);
        if (th_s3rver_put(G.s3, DEST, key, gz.data, gz.len, errbuf, sizeof(errbuf)))
            fail_msg("put %s: %s", key, errbuf);
        md5_hex(gz.data, gz.len, hex);
        json_array_append_new(files, json_pack("{s:s,s:I,s:s}", "key", key, "size",
                                               (json_int_t)gz.len, "MD5checksum", hex));
        buf_release(&csv);
        buf_release(&gz);
        free(key);
    }
    snprintf(created, sizeof(created), "%lld", T0_MS + (long long)d->day * DAY_MS);
    m = json_pack("{s:s,s:s,s:s,s:s,s:o}", "sourceBucket", d->src, "destinationBucket",
                  "arn:aws:s3:::" DEST, "fileFormat", "CSV", "creationTimestamp", created, "files",
                  files);
    text = json_dumps(m, 0);
    json_decref(m);
    return text;
}

/* Ingest the day's inventory (?wait=true, 200, succeeded); the job object. */
static json_t *
ingest(const struct day *d)
{
    char *manifest = day_manifest(d);
    struct th_resp r = th_post_json(th_ingestd_base(G.srv), INV_PATH, manifest, NULL);
    json_t *job;

    if (r.status != 200)
        fail_msg("%s day %d: status %ld: %.500s", d->src, d->day, r.status, r.body);
    job = th_resp_json(&r);
    if (strcmp(th_jstr(job, "status"), "succeeded") != 0)
        fail_msg("%s day %d: job %.500s", d->src, d->day, r.body);
    th_resp_release(&r);
    free(manifest);
    return job;
}

static long long
summary(json_t *job, const char *what)
{
    return (long long)th_jint(json_object_get(job, "summary"), what);
}

static long long
sql_int(const char *sql)
{
    char *v = th_pg_scalar(G.pg, sql);
    long long n = strtoll(v, NULL, 10);

    free(v);
    return n;
}

/* A digest of the current records of bucket src: every field an inventory line sets. */
static long long
current_digest(const char *src)
{
    char *sql =
        th_strf("SELECT ('x' || substr(md5(coalesce(string_agg(concat_ws(' ', key, version_id, "
                "event_type, is_delete_marker, size, etag, storage_class, last_modified), E'\\n' "
                "ORDER BY key, version_id), '')), 1, 15))::bit(60)::bigint FROM s3_objects "
                "WHERE bucket = '%s' AND is_current",
                src);
    long long d = sql_int(sql);

    free(sql);
    return d;
}

/* The catalog's partitions holding records of source bucket src (inventory_files). */
static long long
partitions_of(const char *src)
{
    char *sql = th_strf("SELECT count(DISTINCT f.part) FROM inventory_files f JOIN pg_inherits i "
                        "ON i.inhrelid = to_regclass('s3_objects_inv_' || f.part) WHERE '%s' = "
                        "ANY (f.buckets)",
                        src);
    long long n = sql_int(sql);

    free(sql);
    return n;
}

/* SELECT expr FROM the job's inventory_files rows [AND cond]: one integer. */
static long long
files_int(json_t *job, const char *expr, const char *cond)
{
    char *q = th_strf("SELECT %s FROM inventory_files WHERE job_id = '%s'%s%s", expr,
                      th_jstr(job, "id"), cond ? " AND " : "", cond ? cond : "");
    long long n = sql_int(q);

    free(q);
    return n;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The API's answer for the bucket (current state, or every record): one
 * line per record with every field an inventory line sets, sorted.
 */
static char *
state_of(const char *bucket, int all)
{
    char *path = th_strf("/api/v1/s3/objects?bucket=%s&rowsPerPage=10000%s", bucket,
                         all ? "&currentState=false" : "");
    struct th_resp r = th_get(th_ingestd_base(G.srv), path, NULL);
    json_t *j;
    json_t *res;
    json_t *o;
    char **lines;
    size_t i;
    struct buf b;

    if (r.status != 200)
        fail_msg("GET %s: %ld", path, r.status);
    j = th_resp_json(&r);
    res = json_object_get(j, "results");
    assert_true(json_array_size(res) < 10000);
    lines = calloc(json_array_size(res) + 1, sizeof(*lines));
    json_array_foreach(res, i, o)
    {
        char *size = json_dumps(json_object_get(o, "size"), JSON_ENCODE_ANY);
        char *etag = json_dumps(json_object_get(o, "eTag"), JSON_ENCODE_ANY);
        char *sc = json_dumps(json_object_get(o, "storageClass"), JSON_ENCODE_ANY);
        char *lm = json_dumps(json_object_get(o, "lastModifiedDate"), JSON_ENCODE_ANY);

        lines[i] = th_strf("%s %s %s %s %s %s %s %s %s %s", th_jstr(o, "key"),
                           th_jstr(o, "versionId"), th_jstr(o, "eventType"),
                           json_is_true(json_object_get(o, "isDeleteMarker")) ? "dm" : "-",
                           json_is_true(json_object_get(o, "isCurrentState")) ? "current" : "-",
                           size, etag, sc, lm, th_jstr(o, "source"));
        free(size);
        free(etag);
        free(sc);
        free(lm);
    }
    qsort(lines, json_array_size(res), sizeof(*lines), cmp_str);
    buf_init(&b, 0);
    buf_append(&b, "", 0);
    for (i = 0; i < json_array_size(res); i++) {
        buf_printf(&b, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    json_decref(j);
    th_resp_release(&r);
    free(path);
    return buf_take(&b, NULL);
}

/* The current state of `bucket` is that of `fresh` (another bucket with one inventory). */
static void
want_same_current(const char *bucket, const char *fresh)
{
    char *a = state_of(bucket, 0);
    char *b = state_of(fresh, 0);

    if (strcmp(a, b) != 0)
        fail_msg("current state of %s:\n%s\nof %s:\n%s", bucket, a, fresh, b);
    assert_true(strlen(a) > 1000);
    free(a);
    free(b);
}

static int
group_setup(void **state)
{
    static const char *const buckets[] = {DEST, NULL};
    struct s3_client_config cfg;
    char *ep;

    (void)state;
    if (th_s3rver_start(buckets) != 0)
        return -1;
    s3_client_config_from_env(&cfg);
    G.s3 = s3_client_new(&cfg);
    G.pg = th_pg_start();
    ep = th_strf("AWS_ENDPOINT_URL=%s", th_s3rver_endpoint());
    {
        char parts[64];
        const char *env[] = {ep, "AWS_ACCESS_KEY_ID=S3RVER", "AWS_SECRET_ACCESS_KEY=S3RVER",
                             "AWS_REGION=us-east-1", "INGESTD_INVENTORY_MERGE_BELOW=0",
                             /* key index builds beside every test's applies */
                             "INGESTD_KEY_INDEX_INTERVAL=1", parts, NULL};

        snprintf(parts, sizeof(parts), "INGESTD_INVENTORY_MAX_PARTITIONS=%d", MAX_PARTS);
        G.srv = th_ingestd_start(th_pg_url(G.pg), env);
    }
    free(ep);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    s3_client_free(G.s3);
    th_s3rver_free();
    return 0;
}

/* A, A again, A' (1 % changed, keys removed and added) = A' alone. */
static void
test_repeat_then_changed_equals_fresh(void **state)
{
    struct day a = {"rep-a", 0, 1200, 3, 0};
    struct day a2 = {"rep-a", 1, 1200, 3, 0};
    struct day fresh = {"rep-fresh", 1, 1200, 3, 0};
    long long records;
    long long removed = 0;
    char *at41;
    char *before;
    char *after;
    json_t *j;
    int k;

    (void)state;
    json_decref(ingest(&a));
    assert_int_equal(partitions_of("rep-a"), 3);
    records = sql_int("SELECT count(*) FROM s3_objects WHERE bucket = 'rep-a'");
    before = state_of("rep-a", 1);

    /* the same inventory again: nothing added, no partition left behind */
    j = ingest(&a);
    assert_int_equal(summary(j, "created"), 0);
    assert_int_equal(summary(j, "deleted"), 0);
    assert_int_equal(summary(j, "unchanged"), th_jint(j, "records"));
    /* compared while streaming: only each file's first and last key were staged */
    assert_int_equal(files_int(j, "count(*)", "compared AND unlisted = 0"), 3);
    assert_true(files_int(j, "sum(skipped)", NULL) > th_jint(j, "records") - 20);
    json_decref(j);
    after = state_of("rep-a", 1);
    assert_string_equal(before, after);
    assert_int_equal(partitions_of("rep-a"), 3);
    free(before);
    free(after);

    /* key 41 changes on day 1 (changed_on): where its current record is now */
    assert_true(changed_on(41, 1) && !removed_by(41, 1) && 41 % 5 && 41 % 11);
    at41 = th_pg_scalar(G.pg, "SELECT id || ' ' || tableoid::regclass || ' ' || (ctid::text::"
                              "point)[0] FROM s3_objects WHERE bucket = 'rep-a' AND key = "
                              "'dir/obj-00041' AND is_current");
    assert_non_null(at41);
    assert_non_null(strstr(at41, " s3_objects_inv_"));

    /* the next day's: its changes only; the removed keys' current records get Deleted ones */
    for (k = 0; k < a.keys; k++)
        removed += removed_by(k, 1) && (k % 11 == 0 || k % 17 != 0); /* (not a marker) */
    j = ingest(&a2);
    assert_int_equal(summary(j, "deleted"), removed);
    assert_int_equal(files_int(j, "sum(unlisted)", NULL), removed);
    assert_true(summary(j, "created") > 0);
    assert_true(summary(j, "created") < th_jint(j, "records") / 20);
    assert_int_equal(sql_int("SELECT count(*) FROM s3_objects WHERE bucket = 'rep-a'"),
                     records + summary(j, "created") + removed);
    json_decref(j);
    /*
     * its flag turned off in place: the inventory partition's pages keep room
     * (fillfactor), so the update stayed on the record's page (HOT, no index
     * entry written)
     */
    {
        char *id = th_strf("%.36s", at41);
        char *q = th_strf("SELECT id || ' ' || tableoid::regclass || ' ' || (ctid::text::point)"
                          "[0] FROM s3_objects WHERE id = '%s' AND NOT is_current",
                          id);
        char *now = th_pg_scalar(G.pg, q);

        if (!now || strcmp(now, at41) != 0)
            fail_msg("old record of dir/obj-00041: %s, then %s", at41, now ? now : "(none)");
        free(now);
        free(q);
        free(id);
    }
    free(at41);
    json_decref(ingest(&fresh));
    want_same_current("rep-a", "rep-fresh");
    assert_true(partitions_of("rep-a") <= MAX_PARTS);
}

/*
 * One file of more records than a compare batch reads (20,000): the batches
 * are cut inside the file and the key at each cut is read again, and the
 * result is the same as below a batch: the repeat stages only the file's
 * first and last key, the next day's equals a fresh ingestion.
 */
static void
test_file_across_compare_batches(void **state)
{
    struct day a = {"big-a", 0, 20000, 1, 0};
    struct day a2 = {"big-a", 1, 20000, 1, 0};
    struct day fresh = {"big-fresh", 1, 20000, 1, 0};
    long long records;
    json_t *j;

    (void)state;
    json_decref(ingest(&a));
    records = sql_int("SELECT count(*) FROM s3_objects WHERE bucket = 'big-a'");
    assert_true(records > 20000); /* more than a batch in the one file */
    j = ingest(&a);
    assert_int_equal(summary(j, "created"), 0);
    assert_int_equal(summary(j, "deleted"), 0);
    assert_int_equal(summary(j, "unchanged"), th_jint(j, "records"));
    assert_true(files_int(j, "sum(skipped)", NULL) > th_jint(j, "records") - 10);
    json_decref(j);
    j = ingest(&a2);
    assert_true(summary(j, "created") > 0);
    assert_true(files_int(j, "sum(skipped)", NULL) > th_jint(j, "records") / 2);
    json_decref(j);
    json_decref(ingest(&fresh));
    /* more current records than one API page: compared in SQL, field for field */
    assert_true(current_digest("big-a") == current_digest("big-fresh"));
    assert_true(sql_int("SELECT count(*) FROM s3_objects WHERE bucket = 'big-a' AND "
                        "is_current") > 10000);
}

/* 30 daily inventories: at most MAX_PARTS partitions, the current state of the last day's. */
static void
test_thirty_days_bounded_partitions(void **state)
{
    struct day d = {"daily", 0, 600, 2, 0};
    struct day fresh = {"daily-fresh", 29, 600, 2, 0};
    long long most = 0;
    json_t *j;

    (void)state;
    for (d.day = 0; d.day < 30; d.day++) {
        long long n;

        j = ingest(&d);
        n = partitions_of("daily");
        if (n > most)
            most = n;
        if (n > MAX_PARTS)
            fail_msg("day %d: %lld partitions", d.day, n);
        json_decref(j);
    }
    /* the days did change records and keep partitions: the limit was what bounded them */
    assert_int_equal(most, MAX_PARTS);
    json_decref(ingest(&fresh));
    want_same_current("daily", "daily-fresh");
    /* partitions of other buckets were never touched */
    assert_true(partitions_of("rep-a") <= MAX_PARTS);
}

/* One S3 notification record for key of src at time (ISO 8601), with its sequencer. */
static json_t *
event(const char *name, const char *src, const char *key, const char *ver, const char *seq,
      const char *time)
{
    json_t *obj = json_pack("{s:s,s:s,s:I,s:s}", "key", key, "sequencer", seq, "size",
                            (json_int_t)77, "eTag", "0123456789abcdef0123456789abcdef");

    if (ver)
        json_object_set_new(obj, "versionId", json_string(ver));
    return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:{s:s},s:o}}", "eventVersion", "2.1", "eventSource",
                     "aws:s3", "eventName", name, "eventTime", time, "s3", "s3SchemaVersion", "1.0",
                     "bucket", "name", src, "object", obj);
}

/* POST the records (consumed) as one batch; want each ingested. */
static void
post_events(json_t *records)
{
    json_t *body = json_pack("{s:o}", "Records", records);
    char *text = json_dumps(body, 0);
    struct th_resp r = th_post_json(th_ingestd_base(G.srv), "/api/v1/s3/events", text, NULL);

    if (r.status != 200)
        fail_msg("POST events: %ld %.300s", r.status, r.body);
    th_resp_release(&r);
    free(text);
    json_decref(body);
}

/* Events that arrive after day 0's inventory of src, before day 1's; and one after day 1's. */
static void
events_between(const char *src, int late_only)
{
    const char *between = "2024-05-07T02:00:00.000Z"; /* T0 + 1 h */
    const char *late = "2024-05-08T03:00:00.000Z";    /* day 1's inventory + 2 h */
    json_t *recs = json_array();

    if (!late_only) {
        /* a version the next inventory lists again, deleted meanwhile */
        json_array_append_new(recs, event("ObjectRemoved:Delete", src, "dir/obj-00001", "v1-1",
                                          "0055AED6DCD9028101", between));
        /* a new version of a listed key, not in the next inventory */
        json_array_append_new(recs, event("ObjectCreated:Put", src, "dir/obj-00002", "v9-2",
                                          "0055AED6DCD9028102", between));
        /* new keys before, inside and after the files' key ranges, not listed either */
        json_array_append_new(recs, event("ObjectCreated:Put", src, "dir/a-first", "n1",
                                          "0055AED6DCD9028103", between));
        json_array_append_new(recs, event("ObjectCreated:Put", src, "dir/obj-00003a", "n2",
                                          "0055AED6DCD9028104", between));
        json_array_append_new(recs, event("ObjectCreated:Put", src, "dir/zz-last", "n3",
                                          "0055AED6DCD9028105", between));
    }
    /* newer than the next inventory: it must stay */
    json_array_append_new(
        recs, event("ObjectCreated:Put", src, "dir/obj-00004a", "n4", "0055AED6DCD9028106", late));
    post_events(recs);
}

/*
 * Events between two inventories: the second is compared with a catalog
 * they changed. The result is that of the second inventory alone plus the
 * event newer than it; the records the events added and the inventory does
 * not list get Deleted ones, the version deleted meanwhile is listed again.
 */
static void
test_events_between_inventories(void **state)
{
    struct day a = {"ev-a", 0, 600, 3, 0};
    struct day a2 = {"ev-a", 1, 600, 3, 0};
    struct day fresh = {"ev-fresh", 1, 600, 3, 0};
    long long removed = 0;
    json_t *j;
    int k;

    (void)state;
    json_decref(ingest(&a));
    events_between("ev-a", 0);
    for (k = 0; k < a.keys; k++)
        removed += removed_by(k, 1) && (k % 11 == 0 || k % 17 != 0);
    j = ingest(&a2);
    /* removed keys, the new version of obj-00002, and the three new keys */
    assert_int_equal(summary(j, "deleted"), removed + 4);
    assert_int_equal(files_int(j, "count(*)", "compared"), 3);
    json_decref(j);
    events_between("ev-fresh", 1);
    json_decref(ingest(&fresh));
    want_same_current("ev-a", "ev-fresh");
    assert_true(sql_int("SELECT count(*) FROM s3_objects WHERE bucket = 'ev-a' AND key = "
                        "'dir/obj-00004a' AND is_current") == 1);
    assert_true(sql_int("SELECT count(*) FROM s3_objects WHERE bucket = 'ev-a' AND key = "
                        "'dir/obj-00001' AND version_id = 'v1-1' AND is_current") == 1);
    assert_int_equal(sql_int("SELECT count(*) FROM s3_objects WHERE reason = 'Unlisted'"), 0);
}

/* A file whose keys are not in order is staged again without comparing, with the same result. */
static void
test_unsorted_file_repeat(void **state)
{
    struct day a = {"uns-a", 0, 300, 2, 1};
    struct day a2 = {"uns-a", 1, 300, 2, 1};
    struct day fresh = {"uns-fresh", 1, 300, 2, 0};
    json_t *j;

    (void)state;
    json_decref(ingest(&a));
    j = ingest(&a);
    assert_int_equal(summary(j, "created"), 0);
    assert_int_equal(summary(j, "unchanged"), th_jint(j, "records"));
    assert_int_equal(files_int(j, "count(*)", "NOT compared AND skipped = 0"), 2);
    json_decref(j);
    j = ingest(&a2);
    assert_true(summary(j, "deleted") > 0);
    json_decref(j);
    json_decref(ingest(&fresh));
    want_same_current("uns-a", "uns-fresh");
}

/* The day's inventory on a thread of its own (the job, or NULL when it did not succeed). */
static void *
ingest_thread(void *day)
{
    const struct day *d = day;
    char *manifest = day_manifest(d);
    struct th_resp r = th_post_json(th_ingestd_base(G.srv), INV_PATH, manifest, NULL);
    json_t *job = r.status == 200 ? th_resp_json(&r) : NULL;

    th_resp_release(&r);
    free(manifest);
    return job;
}

/* A connection of the test's own to the catalog, inside BEGIN; sql run there. */
static PGconn *
open_tx(const char *sql)
{
    PGconn *c = PQconnectdb(th_pg_url(G.pg));
    PGresult *res;

    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    PQclear(PQexec(c, "BEGIN"));
    res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    return c;
}

static void
commit_tx(PGconn *c)
{
    PGresult *res = PQexec(c, "COMMIT");

    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
}

/*
 * Annotations written while the next day's inventory applies: a PATCH does
 * not wait for the apply's bucket locks. Two keys that day changes have
 * their current records in two partitions; the test updates both records
 * (as PATCH does) in two open transactions, lets the apply block on the
 * first one's row while it writes the first partition's old flags, commits
 * the second one, then the first. The apply must still clear both old
 * flags: the second record moved after the apply had read the touched
 * keys' records (a write by TID would miss it).
 */
static void
test_annotations_during_apply(void **state)
{
    struct day a = {"pat-a", 0, 1200, 3, 0};
    struct day a2 = {"pat-a", 1, 1200, 3, 0};
    char *rel1 = NULL;
    char *rel2 = NULL;
    char *id1 = NULL;
    char *id2 = NULL;
    PGconn *c1;
    PGconn *c2;
    pthread_t t;
    void *job = NULL;
    char *sql;
    int k;
    int waited;

    (void)state;
    json_decref(ingest(&a));
    for (k = 0; k < a.keys; k++) {
        PGresult *res;
        const char *rel;

        if (!changed_on(k, 1) || removed_by(k, 1) || k % 5 == 0 || k % 11 == 0 || k % 17 == 0)
            continue;
        sql = th_strf("SELECT tableoid::regclass::text, id FROM s3_objects WHERE bucket = "
                      "'pat-a' AND key = 'dir/obj-%05d' AND is_current",
                      k);
        res = th_pg_exec(G.pg, sql);
        free(sql);
        assert_int_equal(PQntuples(res), 1);
        rel = PQgetvalue(res, 0, 0);
        /* rel1: the first partition in name order (the apply's order); rel2: a later one */
        if (!rel1 || strcmp(rel, rel1) < 0) {
            if (rel1 && !rel2) {
                rel2 = rel1;
                id2 = id1;
            } else {
                free(rel1);
                free(id1);
            }
            rel1 = strdup(rel);
            id1 = strdup(PQgetvalue(res, 0, 1));
        } else if (!rel2 && strcmp(rel, rel1) > 0) {
            rel2 = strdup(rel);
            id2 = strdup(PQgetvalue(res, 0, 1));
        }
        PQclear(res);
    }
    assert_non_null(rel1);
    assert_non_null(rel2);
    sql = th_strf("UPDATE s3_objects SET attributes = '{\"t\": 1}' WHERE id = '%s'", id1);
    c1 = open_tx(sql);
    free(sql);
    sql = th_strf("UPDATE s3_objects SET attributes = '{\"t\": 2}' WHERE id = '%s'", id2);
    c2 = open_tx(sql);
    free(sql);
    assert_int_equal(pthread_create(&t, NULL, ingest_thread, &a2), 0);
    sql = th_strf("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                  "query LIKE 'UPDATE %s %%'",
                  rel1);
    for (waited = 0; waited < 600 && sql_int(sql) == 0; waited++)
        usleep(100000);
    free(sql);
    assert_true(waited < 600); /* the apply waits for the first record's row */
    commit_tx(c2);
    usleep(200000);
    commit_tx(c1);
    assert_int_equal(pthread_join(t, &job), 0);
    assert_non_null(job);
    assert_string_equal(th_jstr(job, "status"), "succeeded");
    json_decref(job);
    sql = th_strf("SELECT count(*) FROM s3_objects WHERE id IN ('%s', '%s') AND is_current", id1,
                  id2);
    assert_int_equal(sql_int(sql), 0);
    free(sql);
    sql = th_strf("SELECT count(*) FROM s3_objects WHERE id IN ('%s', '%s') AND attributes ? 't'",
                  id1, id2);
    assert_int_equal(sql_int(sql), 2);
    free(sql);
    assert_int_equal(sql_int("SELECT count(*) FROM (SELECT key FROM s3_objects WHERE bucket = "
                             "'pat-a' AND is_current GROUP BY key HAVING count(*) > 1) x"),
                     0);
    free(rel1);
    free(rel2);
    free(id1);
    free(id2);
}

/* How many times ingestd's log holds s. */
static int
log_count(const char *s)
{
    size_t len = 0;
    char *log = th_read_file(th_ingestd_log(G.srv), &len);
    const char *p = log;
    int n = 0;

    while (p && (p = strstr(p, s)) != NULL) {
        n++;
        p++;
    }
    free(log);
    return n;
}

/* Wait up to 60 s for sql to count more than 0; 1 when it did. */
static int
wait_for(const char *sql)
{
    int waited;

    for (waited = 0; waited < 600; waited++) {
        if (sql_int(sql) > 0)
            return 1;
        usleep(100000);
    }
    return 0;
}

/* ingest_thread() that says when it is done. */
struct ingest_run {
    struct day *day;
    atomic_int done;
};

static void *
ingest_run_thread(void *arg)
{
    struct ingest_run *r = arg;
    void *job = ingest_thread(r->day);

    atomic_store(&r->done, 1);
    return job;
}

/*
 * An apply while the key index builder (INGESTD_KEY_INDEX_INTERVAL=1) runs
 * CREATE INDEX CONCURRENTLY: the apply cancels the build instead of waiting
 * behind it, and the builder builds the index again later. The test keeps a
 * REPEATABLE READ snapshot open, which a concurrent build waits for before
 * it ends: an apply waiting behind the build would wait for as long as the
 * snapshot lives, and the apply must end while it still does.
 */
static void
test_apply_cancels_key_index_build(void **state)
{
    struct day a = {"kix-a", 0, 400, 2, 0};
    struct day a2 = {"kix-a", 1, 400, 2, 0};
    PGconn *x = open_tx("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    PGresult *res = PQexec(x, "SELECT 1"); /* takes the snapshot, and no lock */
    struct ingest_run run = {&a2, 0};
    pthread_t t;
    void *job = NULL;
    int cancelled;
    int waited;

    (void)state;
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    json_decref(ingest(&a)); /* new partitions, which the builder indexes next */
    assert_true(wait_for("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX "
                         "CONCURRENTLY %' AND wait_event_type = 'Lock'"));
    cancelled = log_count("\"key index build failed\"");
    assert_int_equal(pthread_create(&t, NULL, ingest_run_thread, &run), 0);
    for (waited = 0; waited < 600 && !atomic_load(&run.done); waited++)
        usleep(100000);
    assert_true(atomic_load(&run.done)); /* while the snapshot (and the build's wait) lasts */
    commit_tx(x);
    assert_int_equal(pthread_join(t, &job), 0);
    assert_non_null(job);
    assert_string_equal(th_jstr(job, "status"), "succeeded");
    json_decref(job);
    assert_true(log_count("\"key index build failed\"") > cancelled);
    /* the builder comes back: every partition indexed, no invalid index left */
    assert_true(wait_for("SELECT (count(*) = 0)::int FROM pg_inherits h JOIN pg_class c ON "
                         "c.oid = h.inhrelid LEFT JOIN pg_class ic ON ic.relname = c.relname || "
                         "'_segs' LEFT JOIN pg_index i ON i.indexrelid = ic.oid WHERE "
                         "h.inhparent = 's3_objects'::regclass AND i.indisvalid IS NOT TRUE"));
    assert_int_equal(sql_int("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = "
                             "i.indexrelid WHERE c.relname LIKE '%\\_segs' AND NOT i.indisvalid"),
                     0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeat_then_changed_equals_fresh),
        cmocka_unit_test(test_apply_cancels_key_index_build),
        cmocka_unit_test(test_file_across_compare_batches),
        cmocka_unit_test(test_thirty_days_bounded_partitions),
        cmocka_unit_test(test_events_between_inventories),
        cmocka_unit_test(test_unsorted_file_repeat),
        cmocka_unit_test(test_annotations_during_apply),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
