/*
 * test_inventory.c - S3 Inventory ingestion end to end (S3.md "Inventory ingestion",
 * API.md POST /api/v1/s3/inventories and the job object)
 *
 * One PostgreSQL and one s3rver for the whole file. s3rver is started with
 * th_s3rver_start (project-local npm install in tests/s3rver) with two buckets:
 * filemanager-inventory-test (the real samples of tests/fixtures/s3-inventory,
 * uploaded under the keys their manifests name) and inv-dest (every data
 * file and manifest the test writes itself). Objects are uploaded with the
 * project's own S3 client.
 *
 * Synthetic cases share one ingestd on the database "ingestd"; each names
 * source buckets of its own in its CSV lines (deletion detection works per
 * source bucket, and records are never deleted). Cases that need an empty
 * catalog (the real samples all name filemanager-inventory-test), that kill
 * ingestd, or that point it at a dead S3 endpoint get a database of their own
 * on the same PostgreSQL and an ingestd of their own.
 *
 * The progress case holds an event batch's share of its source bucket (the
 * advisory lock of storage/locks.h) so that the job stays in its final
 * phase, "applying", until the test lets it go.
 *
 * Record states are compared as summaries: one token per record, sorted,
 * joined by " | ":
 *     <key>[@<versionId>]=<T>[<size>]<src>[,<eTag|->,<storageClass|->,<lastModifiedDate|->][*]
 * T is C (Created), D (Deleted) or M (delete marker); "@<versionId>" is left
 * out for "null"; src is i (inventory) or e (event); "*" marks
 * isCurrentState. Inventory records are also checked for reason "Crawl" and
 * eventTime null on the way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/err.h"
#include "clients/s3_client.h"
#include "harness.h"
#include "storage/locks.h"

#define DEST "inv-dest"
#define FIX_BUCKET "filemanager-inventory-test"
#define INV_PATH "/api/v1/s3/inventories"
#define OBJ_PATH "/api/v1/s3/objects"
#define JOB_TIMEOUT_MS 60000
#define ETAG0 "d41d8cd98f00b204e9800998ecf8427e"
#define ETAG5 "d8e8fca2dc0f896fd7cb4cb0031ba249"
#define LM "2024-02-03T04:05:06.000Z"

/* The resume case: files of generated lines, so that staging takes a few seconds. */
#define RESUME_FILES 6
#define RESUME_LINES 200000

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv; /* on the database "ingestd" */
    struct s3_client *s3;
} G = {NULL, NULL, NULL};

/* ---- small helpers ------------------------------------------------------- */

/* Wall-clock epoch milliseconds. */
static long long
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 UTC with milliseconds of epoch milliseconds (malloc'd). */
static char *
iso_ms(long long ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    return th_strf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static char *
dumps(json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

/* Fail unless `got` equals the JSON text `expected`. */
static void
want_json(json_t *got, const char *expected, const char *what)
{
    json_error_t jerr;
    json_t *want = json_loads(expected, JSON_DECODE_ANY, &jerr);
    char *g;

    if (!want)
        fail_msg("bad expected JSON %s: %s", expected, jerr.text);
    if (!json_equal(got, want)) {
        g = dumps(got);
        fail_msg("%s: JSON\n  %s\nwant\n  %s", what, g, expected);
    }
    json_decref(want);
}

static void
md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    unsigned int i;

    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    for (i = 0; i < n && i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- SQL on any database of the shared server ----------------------------- */

static PGresult *
sql_exec(const char *url, const char *sql)
{
    PGconn *conn = PQconnectdb(url);
    PGresult *res;
    ExecStatusType st;

    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("connecting to %s: %s", url, PQerrorMessage(conn));
    res = PQexec(conn, sql);
    st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("sql failed: %s\n  %s", sql, PQresultErrorMessage(res));
    PQfinish(conn);
    return res;
}

/* First cell as a malloc'd string, "" for SQL NULL or no row. */
static char *sql_str(const char *url, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *
sql_str(const char *url, const char *fmt, ...)
{
    struct buf b;
    va_list ap;
    PGresult *res;
    char *v;

    buf_init(&b, 0);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    res = sql_exec(url, b.data);
    v = xstrdup(PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    buf_release(&b);
    return v;
}

static long long sql_int(const char *url, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static long long
sql_int(const char *url, const char *fmt, ...)
{
    struct buf b;
    va_list ap;
    PGresult *res;
    long long v;

    buf_init(&b, 0);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    res = sql_exec(url, b.data);
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        fail_msg("sql %s: no single value", b.data);
    v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    buf_release(&b);
    return v;
}

/* tests/fixtures/s3-inventory/<name> (malloc'd). */
static char *
fixture(const char *name)
{
    return th_strf("%s/s3-inventory/%s", FIXTURES_DIR, name);
}

/* A loopback port that nothing listens on. */
static int
closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* ---- S3 objects ------------------------------------------------------------ */

static void
put(const char *bucket, const char *key, const void *body, size_t len)
{
    char errbuf[ERRBUF_SIZE] = "";
    enum err rc = th_s3rver_put(G.s3, bucket, key, body, len, errbuf, sizeof(errbuf));

    if (rc)
        fail_msg("put s3://%s/%s: %s", bucket, key, errbuf);
}

static void
put_str(const char *bucket, const char *key, const char *text)
{
    put(bucket, key, text, strlen(text));
}

static void
put_fixture(const char *name, const char *key)
{
    char *path = fixture(name);
    size_t len = 0;
    char *data = th_read_file(path, &len);

    put(FIX_BUCKET, key, data, len);
    free(data);
    free(path);
}

/* gzip, streamed: feed pieces, then finish; the compressed bytes collect in out. */
struct gz {
    z_stream z;
    struct buf *out;
};

static void
gz_begin(struct gz *g, struct buf *out)
{
    memset(g, 0, sizeof(*g));
    g->out = out;
    if (deflateInit2(&g->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        fail_msg("deflateInit2 failed");
}

static void
gz_feed(struct gz *g, const void *data, size_t len, int finish)
{
    unsigned char chunk[65536];
    int rc;

    g->z.next_in = (Bytef *)(uintptr_t)data;
    g->z.avail_in = (uInt)len;
    do {
        g->z.next_out = chunk;
        g->z.avail_out = sizeof(chunk);
        rc = deflate(&g->z, finish ? Z_FINISH : Z_NO_FLUSH);
        if (rc == Z_STREAM_ERROR)
            fail_msg("deflate failed");
        buf_append(g->out, chunk, sizeof(chunk) - g->z.avail_out);
    } while (g->z.avail_out == 0);
}

static void
gz_end(struct gz *g)
{
    gz_feed(g, "", 0, 1);
    deflateEnd(&g->z);
}

/* text as gzip; split > 0: two gzip members, the first holding text[0..split). */
static void
gzip_text(const char *text, size_t split, struct buf *out)
{
    size_t len = strlen(text);
    struct gz g;

    buf_init(out, 0);
    if (split > 0 && split < len) {
        gz_begin(&g, out);
        gz_feed(&g, text, split, 0);
        gz_end(&g);
        gz_begin(&g, out);
        gz_feed(&g, text + split, len - split, 0);
        gz_end(&g);
    } else {
        gz_begin(&g, out);
        gz_feed(&g, text, len, 0);
        gz_end(&g);
    }
}

/*
 * A gzip'ed data file of n generated lines of source bucket src, keys
 * <dir>/obj-<line>.dat in order, into out (initialised here, the caller
 * releases it).
 */
static void
gen_data_file(const char *src, const char *dir, size_t n, struct buf *out)
{
    struct buf chunk;
    struct gz g;
    size_t line;

    buf_init(out, 0);
    buf_init(&chunk, 0);
    gz_begin(&g, out);
    for (line = 0; line < n; line++) {
        buf_printf(&chunk,
                   "\"%s\",\"%s/obj-%07zu.dat\",\"\",\"true\",\"false\",\"%zu\","
                   "\"2024-03-01T12:00:00.000Z\",\"0123456789abcdef0123456789abcdef\","
                   "\"STANDARD\"\n",
                   src, dir, line, line);
        if (chunk.len >= 65536) {
            gz_feed(&g, chunk.data, chunk.len, 0);
            buf_reset(&chunk);
        }
    }
    gz_feed(&g, chunk.data, chunk.len, 0);
    gz_end(&g);
    buf_release(&chunk);
}

/* Upload data to DEST under key and add it to a manifest's files (size, MD5checksum). */
static void
put_data_file(const char *key, const struct buf *data, json_t *files)
{
    char hex[33];

    put(DEST, key, data->data, data->len);
    md5_hex(data->data, data->len, hex);
    json_array_append_new(files, json_pack("{s:s,s:I,s:s}", "key", key, "size",
                                           (json_int_t)data->len, "MD5checksum", hex));
}

struct datafile {
    const char *csv;
    size_t split;    /* > 0: two gzip members, the first ending at byte split */
    const char *md5; /* NULL: the real MD5 of the stored bytes; "": no MD5checksum */
};

/*
 * Upload the data files gzip'ed under <prefix>/data/<i>.csv.gz in DEST and
 * return a manifest.json for them (malloc'd). schema NULL: no fileSchema;
 * creation_ms < 0: no creationTimestamp.
 */
static char *
make_manifest(const char *prefix, const char *src, const char *schema, long long creation_ms,
              const struct datafile *f, size_t n)
{
    json_t *m = json_object();
    json_t *files = json_array();
    size_t i;
    char *text;

    for (i = 0; i < n; i++) {
        struct buf gz;
        char *key = th_strf("%s/data/%zu.csv.gz", prefix, i);
        char hex[33];
        json_t *file;

        gzip_text(f[i].csv, f[i].split, &gz);
        put(DEST, key, gz.data, gz.len);
        md5_hex(gz.data, gz.len, hex);
        file = json_pack("{s:s,s:I}", "key", key, "size", (json_int_t)gz.len);
        if (!f[i].md5)
            json_object_set_new(file, "MD5checksum", json_string(hex));
        else if (*f[i].md5)
            json_object_set_new(file, "MD5checksum", json_string(f[i].md5));
        json_array_append_new(files, file);
        buf_release(&gz);
        free(key);
    }
    json_object_set_new(m, "sourceBucket", json_string(src));
    json_object_set_new(m, "destinationBucket", json_string("arn:aws:s3:::" DEST));
    json_object_set_new(m, "version", json_string("2016-11-30"));
    if (creation_ms >= 0) {
        char *c = th_strf("%lld", creation_ms);

        json_object_set_new(m, "creationTimestamp", json_string(c));
        free(c);
    }
    json_object_set_new(m, "fileFormat", json_string("CSV"));
    if (schema)
        json_object_set_new(m, "fileSchema", json_string(schema));
    json_object_set_new(m, "files", files);
    text = json_dumps(m, JSON_INDENT(2));
    json_decref(m);
    return text;
}

/* Upload <prefix>/manifest.json and a matching <prefix>/manifest.checksum to DEST. */
static void
put_manifest(const char *prefix, const char *json)
{
    char hex[33];
    char *key = th_strf("%s/manifest.json", prefix);
    char *sum_key = th_strf("%s/manifest.checksum", prefix);
    char *sum;

    md5_hex(json, strlen(json), hex);
    sum = th_strf("%s\n", hex);
    put_str(DEST, key, json);
    put_str(DEST, sum_key, sum);
    free(sum);
    free(sum_key);
    free(key);
}

/* ---- ingestd instances -------------------------------------------------- */

struct inst {
    char *url;
    struct th_ingestd *srv;
};

/* A new database `db` on the shared server and an ingestd on it, with S3 at `endpoint`. */
static void
inst_start(struct inst *in, const char *db, const char *endpoint)
{
    const char *url = th_pg_url(G.pg);
    const char *at = strstr(url, "dbname=ingestd ");
    char *sql = th_strf("CREATE DATABASE %s", db);
    char *ep = th_strf("AWS_ENDPOINT_URL=%s", endpoint);
    const char *env[] = {ep, "AWS_ACCESS_KEY_ID=S3RVER", "AWS_SECRET_ACCESS_KEY=S3RVER",
                         "AWS_REGION=us-east-1", NULL};

    assert_non_null(at);
    PQclear(th_pg_exec(G.pg, sql));
    in->url = th_strf("%.*sdbname=%s %s", (int)(at - url), url, db, at + strlen("dbname=ingestd "));
    in->srv = th_ingestd_start(in->url, env);
    free(ep);
    free(sql);
}

static void
inst_free(struct inst *in)
{
    th_ingestd_free(in->srv);
    free(in->url);
    memset(in, 0, sizeof(*in));
}

static const char *
base(void)
{
    return th_ingestd_base(G.srv);
}

/* ---- HTTP ---------------------------------------------------------------- */

static void
want_status(const struct th_resp *r, long status, const char *what)
{
    if (r->status != status)
        fail_msg("%s: status %ld, want %ld\n  body: %.1500s", what, r->status, status, r->body);
}

/* A problem+json answer with `status` whose detail contains `needle` (NULL: any). */
static void
want_problem(const struct th_resp *r, long status, const char *needle, const char *what)
{
    char *ct = th_resp_header(r, "Content-Type");
    json_t *j;

    want_status(r, status, what);
    if (!ct || strncmp(ct, "application/problem+json", 24) != 0)
        fail_msg("%s: Content-Type %s, want application/problem+json", what, ct ? ct : "(none)");
    free(ct);
    j = th_resp_json(r);
    if (th_jint(j, "status") != status)
        fail_msg("%s: problem status %lld", what, (long long)th_jint(j, "status"));
    if (needle && !strstr(th_jstr(j, "detail"), needle))
        fail_msg("%s: detail \"%s\" does not contain \"%s\"", what, th_jstr(j, "detail"), needle);
    json_decref(j);
}

/* POST {"bucket","key"} to INV_PATH<query>. */
static struct th_resp
submit(const char *b, const char *bucket, const char *key, const char *query)
{
    json_t *body = json_pack("{s:s,s:s}", "bucket", bucket, "key", key);
    char *text = dumps(body);
    char *path = th_strf("%s%s", INV_PATH, query);
    struct th_resp r = th_post_json(b, path, text, NULL);

    free(path);
    free(text);
    json_decref(body);
    return r;
}

/* Submit with ?wait=true; want `status` and return the job object. */
static json_t *
submit_wait(const char *b, const char *bucket, const char *key, long status)
{
    struct th_resp r = submit(b, bucket, key, "?wait=true");
    char *what = th_strf("POST %s?wait=true s3://%s/%s", INV_PATH, bucket, key);
    json_t *j;

    want_status(&r, status, what);
    j = th_resp_json(&r);
    th_resp_release(&r);
    free(what);
    return j;
}

/* POST an inline manifest with ?wait=true; want `status`; the job object. */
static json_t *
submit_inline_wait(const char *b, const char *manifest, long status)
{
    struct th_resp r = th_post_json(b, INV_PATH "?wait=true", manifest, NULL);
    json_t *j;

    want_status(&r, status, "POST inline manifest ?wait=true");
    j = th_resp_json(&r);
    th_resp_release(&r);
    return j;
}

/* GET the job until it has ended (or fail after timeout_ms). */
static json_t *
poll_job(const char *b, const char *id, long timeout_ms)
{
    long deadline = th_now_ms() + timeout_ms;
    char *path = th_strf(INV_PATH "/%s", id);

    for (;;) {
        struct th_resp r = th_get(b, path, NULL);
        json_t *j;
        const char *st;

        want_status(&r, 200, path);
        j = th_resp_json(&r);
        th_resp_release(&r);
        st = th_jstr(j, "status");
        if (!strcmp(st, "succeeded") || !strcmp(st, "failed")) {
            free(path);
            return j;
        }
        if (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0)
            fail_msg("job %s: status %s", id, st);
        if (th_now_ms() > deadline)
            fail_msg("job %s still %s after %ld ms", id, st, timeout_ms);
        json_decref(j);
        th_sleep_ms(100);
    }
}

/*
 * The phase a job of this status may have (openapi.yaml, InventoryJob): queued
 * while queued, done once succeeded or failed; a running job is staging or
 * applying, so `phase` itself when it is one of those.
 */
static const char *
phase_of(const char *status, const char *phase)
{
    if (!strcmp(status, "queued"))
        return "queued";
    if (!strcmp(status, "succeeded") || !strcmp(status, "failed"))
        return "done";
    if (!strcmp(phase, "staging") || !strcmp(phase, "applying"))
        return phase;
    return "staging or applying";
}

/*
 * The job object: exactly the documented members, `status`, files_total /
 * files_done / records when >= 0, and the summary (JSON text; NULL: null).
 */
static void
want_job(json_t *job, const char *status, long files_total, long files_done, long long records,
         const char *summary, const char *what)
{
    static const char *const members[] = {"id",         "status",      "phase",       "bucket",
                                          "key",        "format",      "files_total", "files_done",
                                          "records",    "bytes",       "bytes_total", "created_at",
                                          "started_at", "finished_at", "error",       "summary"};
    char *text = dumps(job);
    int ended = !strcmp(status, "succeeded") || !strcmp(status, "failed");
    json_t *total = json_object_get(job, "bytes_total");
    size_t i;

    if (json_object_size(job) != sizeof(members) / sizeof(members[0]))
        fail_msg("%s: job has %zu members: %s", what, json_object_size(job), text);
    for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
        if (!json_object_get(job, members[i]))
            fail_msg("%s: job has no \"%s\": %s", what, members[i], text);
    if (!th_is_uuid(th_jstr(job, "id")))
        fail_msg("%s: id %s", what, th_jstr(job, "id"));
    if (strcmp(th_jstr(job, "status"), status) != 0)
        fail_msg("%s: status %s, want %s: %s", what, th_jstr(job, "status"), status, text);
    if (files_total >= 0 && th_jint(job, "files_total") != files_total)
        fail_msg("%s: files_total %lld, want %ld", what, (long long)th_jint(job, "files_total"),
                 files_total);
    if (files_done >= 0 && th_jint(job, "files_done") != files_done)
        fail_msg("%s: files_done %lld, want %ld", what, (long long)th_jint(job, "files_done"),
                 files_done);
    if (records >= 0 && th_jint(job, "records") != records)
        fail_msg("%s: records %lld, want %lld", what, (long long)th_jint(job, "records"), records);
    if (th_jint(job, "bytes") < 0)
        fail_msg("%s: bytes %lld", what, (long long)th_jint(job, "bytes"));
    if (!json_is_null(total) && (!json_is_integer(total) || json_integer_value(total) < 0))
        fail_msg("%s: bytes_total: %s", what, text);
    if (strcmp(th_jstr(job, "phase"), phase_of(status, th_jstr(job, "phase"))) != 0)
        fail_msg("%s: phase %s with status %s: %s", what, th_jstr(job, "phase"), status, text);
    if (!th_is_ts(th_jstr(job, "created_at")))
        fail_msg("%s: created_at %s", what, th_jstr(job, "created_at"));
    if (ended) {
        if (!th_is_ts(th_jstr(job, "started_at")) || !th_is_ts(th_jstr(job, "finished_at")))
            fail_msg("%s: started_at/finished_at: %s", what, text);
        if (strcmp(th_jstr(job, "finished_at"), th_jstr(job, "created_at")) < 0)
            fail_msg("%s: finished before created: %s", what, text);
    } else if (!json_is_null(json_object_get(job, "finished_at"))) {
        fail_msg("%s: finished_at set while %s", what, status);
    }
    if (!strcmp(status, "succeeded")) {
        if (!json_is_null(json_object_get(job, "error")))
            fail_msg("%s: error on a succeeded job: %s", what, text);
        if (strcmp(th_jstr(job, "format"), "CSV") != 0 &&
            strcmp(th_jstr(job, "format"), "ORC") != 0 &&
            strcmp(th_jstr(job, "format"), "Parquet") != 0)
            fail_msg("%s: format %s", what, th_jstr(job, "format"));
    }
    if (!strcmp(status, "failed") && !json_is_string(json_object_get(job, "error")))
        fail_msg("%s: failed job without an error: %s", what, text);
    if (ended)
        want_json(json_object_get(job, "summary"), summary ? summary : "null", what);
    free(text);
}

/* A failed job whose error contains every needle (NULL-terminated). */
static void
want_failed(json_t *job, const char *const *needles, const char *what)
{
    const char *error;

    want_job(job, "failed", -1, -1, -1, NULL, what);
    error = th_jstr(job, "error");
    for (; *needles; needles++)
        if (!strstr(error, *needles))
            fail_msg("%s: error \"%s\" does not mention \"%s\"", what, error, *needles);
}

static long long
count_jobs(const char *url)
{
    return sql_int(url, "SELECT count(*) FROM inventory_jobs");
}

static long long
count_objects(const char *url)
{
    return sql_int(url, "SELECT count(*) FROM s3_objects");
}

/* ---- records ------------------------------------------------------------- */

/* GET /api/v1/s3/objects?bucket=B[&currentState=false]: the results (owned by the caller). */
static json_t *
records(const char *b, const char *bucket, int all)
{
    char *path = th_strf(OBJ_PATH "?bucket=%s&rowsPerPage=10000%s", bucket,
                         all ? "&currentState=false" : "");
    struct th_resp r = th_get(b, path, NULL);
    json_t *j;
    json_t *results;

    want_status(&r, 200, path);
    j = th_resp_json(&r);
    results = json_incref(json_object_get(j, "results"));
    if (!json_is_array(results))
        fail_msg("%s: no results array: %.500s", path, r.body);
    if (th_jint(json_object_get(j, "pagination"), "count") != (json_int_t)json_array_size(results))
        fail_msg("%s: pagination.count %lld for %zu results", path,
                 (long long)th_jint(json_object_get(j, "pagination"), "count"),
                 json_array_size(results));
    json_decref(j);
    th_resp_release(&r);
    free(path);
    return results;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the " | "-separated tokens of s; only those ending in '*' when starred_only. */
static char *
normalise(const char *s, int starred_only)
{
    char **tok = NULL;
    size_t n = 0;
    size_t i;
    struct buf b;
    const char *p = s;

    while (*p) {
        const char *end = strstr(p, " | ");
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (!starred_only || (len && p[len - 1] == '*')) {
            tok = xrealloc(tok, (n + 1) * sizeof(*tok));
            tok[n++] = xstrndup(p, len);
        }
        p += len;
        if (end)
            p += 3;
    }
    if (n > 1)
        qsort(tok, n, sizeof(*tok), cmp_str);
    buf_init(&b, 0);
    buf_append(&b, "", 0);
    for (i = 0; i < n; i++) {
        buf_printf(&b, "%s%s", i ? " | " : "", tok[i]);
        free(tok[i]);
    }
    free(tok);
    return buf_take(&b, NULL);
}

static const char *
str_or_dash(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "-";
}

/* The summary of a results array (see the file comment). */
static char *
summarize(json_t *results, int full)
{
    struct buf b;
    json_t *r;
    size_t i;
    char *out;

    buf_init(&b, 0);
    buf_append(&b, "", 0);
    json_array_foreach(results, i, r)
    {
        const char *ver = th_jstr(r, "versionId");
        const char *src = th_jstr(r, "source");
        json_t *size = json_object_get(r, "size");
        char t;

        if (!strcmp(th_jstr(r, "eventType"), "Created"))
            t = 'C';
        else
            t = json_is_true(json_object_get(r, "isDeleteMarker")) ? 'M' : 'D';
        if (!strcmp(src, "inventory")) {
            if (strcmp(th_jstr(r, "reason"), "Crawl") != 0 ||
                !json_is_null(json_object_get(r, "eventTime")))
                fail_msg("inventory record with reason %s, eventTime %s", th_jstr(r, "reason"),
                         str_or_dash(json_object_get(r, "eventTime")));
        } else if (strcmp(src, "event") != 0) {
            fail_msg("record source %s", src);
        }
        buf_printf(&b, "%s%s%s%s=%c", i ? " | " : "", th_jstr(r, "key"),
                   strcmp(ver, "null") ? "@" : "", strcmp(ver, "null") ? ver : "", t);
        if (json_is_integer(size))
            buf_printf(&b, "%lld", (long long)json_integer_value(size));
        buf_printf(&b, "%c", src[0]);
        if (full)
            buf_printf(&b, ",%s,%s,%s", str_or_dash(json_object_get(r, "eTag")),
                       str_or_dash(json_object_get(r, "storageClass")),
                       str_or_dash(json_object_get(r, "lastModifiedDate")));
        if (json_is_true(json_object_get(r, "isCurrentState")))
            buf_append_char(&b, '*');
    }
    out = normalise(b.data, 0);
    buf_release(&b);
    return out;
}

/*
 * Every record of the bucket summarises as `expected` (any token order), and
 * the default listing (current, non-delete-marker) holds exactly the starred ones.
 */
static void
want_records(const char *b, const char *bucket, int full, const char *expected)
{
    json_t *all = records(b, bucket, 1);
    json_t *cur = records(b, bucket, 0);
    char *s_all = summarize(all, full);
    char *s_cur = summarize(cur, full);
    char *w_all = normalise(expected, 0);
    char *w_cur = normalise(expected, 1);

    if (strcmp(s_all, w_all) != 0)
        fail_msg("bucket %s: records\n  %s\nwant\n  %s", bucket, s_all, w_all);
    if (strcmp(s_cur, w_cur) != 0)
        fail_msg("bucket %s: current records\n  %s\nwant\n  %s", bucket, s_cur, w_cur);
    free(s_all);
    free(s_cur);
    free(w_all);
    free(w_cur);
    json_decref(all);
    json_decref(cur);
}

/* ---- the real samples ------------------------------------------------------ */

/* An expected record of the samples (size < 0: null; etag / sc NULL: null). */
static json_t *
sample_rec(const char *key, const char *ver, int dm, long long size, const char *lm,
           const char *etag, const char *sc, int current)
{
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:b,s:s,s:s,s:n,s:i}", "bucket", FIX_BUCKET, "key", key,
                  "versionId", ver, "eventType", dm ? "Deleted" : "Created", "isDeleteMarker", dm,
                  "lastModifiedDate", lm, "isCurrentState", current, "reason", "Crawl", "source",
                  "inventory", "eventTime", "numberDuplicateEvents", 0);

    json_object_set_new(o, "size", size >= 0 ? json_integer(size) : json_null());
    json_object_set_new(o, "eTag", etag ? json_string(etag) : json_null());
    json_object_set_new(o, "storageClass", sc ? json_string(sc) : json_null());
    return o;
}

/* Check and drop the annotation fields (all unset for inventory records; test_s3_filters.c). */
static void
drop_filemanager_fields(json_t *c, const char *text)
{
    static const char *const nulls[] = {"sha256",      "attributes",       "ingestId",
                                        "deletedDate", "deletedSequencer", "archiveStatus",
                                        NULL};
    size_t i;

    for (i = 0; nulls[i]; i++) {
        if (!json_is_null(json_object_get(c, nulls[i])))
            fail_msg("%s not null: %s", nulls[i], text);
        json_object_del(c, nulls[i]);
    }
    if (json_integer_value(json_object_get(c, "numberReordered")) != 0 ||
        !json_is_boolean(json_object_get(c, "isAccessible")))
        fail_msg("numberReordered / isAccessible: %s", text);
    json_object_del(c, "numberReordered");
    json_object_del(c, "isAccessible");
}

/* The records of FIX_BUCKET are exactly `want` (any order); consumes want. */
static void
want_sample_records(const char *b, json_t *want)
{
    json_t *got = records(b, FIX_BUCKET, 1);
    json_t *cur = records(b, FIX_BUCKET, 0);
    json_t *r;
    json_t *w;
    size_t i;
    size_t k;
    size_t ncur = 0;
    char *text = dumps(got);

    if (json_array_size(got) != json_array_size(want))
        fail_msg("%zu records, want %zu: %s", json_array_size(got), json_array_size(want), text);
    json_array_foreach(got, i, r)
    {
        json_t *c = json_deep_copy(r);
        int found = 0;

        if (!th_is_uuid(th_jstr(c, "s3ObjectId")) || !th_is_ts(th_jstr(c, "ingestedAt")) ||
            !*th_jstr(c, "sequencer"))
            fail_msg("record %zu: s3ObjectId/ingestedAt/sequencer: %s", i, text);
        json_object_del(c, "s3ObjectId");
        json_object_del(c, "ingestedAt");
        json_object_del(c, "sequencer");
        drop_filemanager_fields(c, text);
        json_array_foreach(want, k, w)
        {
            if (json_equal(c, w)) {
                json_array_remove(want, k);
                found = 1;
                break;
            }
        }
        if (!found) {
            char *ct = dumps(c);
            char *wt = dumps(want);

            fail_msg("unexpected record\n  %s\nstill wanted\n  %s", ct, wt);
        }
        json_decref(c);
    }
    /* the default listing: exactly the current records */
    json_array_foreach(got, i, r) ncur += json_is_true(json_object_get(r, "isCurrentState"));
    if (json_array_size(cur) != ncur)
        fail_msg("default listing has %zu records, want %zu", json_array_size(cur), ncur);
    json_array_foreach(cur, i, r)
    {
        if (!json_is_true(json_object_get(r, "isCurrentState")))
            fail_msg("default listing holds a record that is not current");
    }
    free(text);
    json_decref(want);
    json_decref(got);
    json_decref(cur);
}

static void
want_versioned_sample(const char *b)
{
    json_t *want = json_array();

    json_array_append_new(want,
                          sample_rec("inventory-test/", "null", 0, 0, "2024-05-06T22:37:48.000Z",
                                     "\"" ETAG0 "\"", "STANDARD", 1));
    json_array_append_new(want,
                          sample_rec("inventory-test/key1", "null", 0, 0,
                                     "2024-05-06T22:38:00.000Z", "\"" ETAG0 "\"", "STANDARD", 0));
    json_array_append_new(
        want, sample_rec("inventory-test/key1", "tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0", 0, 5,
                         "2024-05-06T22:44:22.000Z", "\"" ETAG5 "\"", "STANDARD", 1));
    json_array_append_new(want,
                          sample_rec("inventory-test/key2", "gdN1exfZmD7m713patv8dlQ7fTNwle3v", 1,
                                     -1, "2024-05-06T22:46:14.000Z", NULL, NULL, 0));
    json_array_append_new(
        want, sample_rec("inventory-test/key2", "zl_C7NLxrkBsMFD5HQUdybrmuV9VpvkN", 0, 5,
                         "2024-05-06T22:45:34.000Z", "\"" ETAG5 "\"", "STANDARD", 0));
    want_sample_records(b, want);
}

static void
want_unversioned_sample(const char *b)
{
    json_t *want = json_array();

    json_array_append_new(want,
                          sample_rec("inventory-test/", "null", 0, 0, "2024-05-06T22:37:48.000Z",
                                     "\"" ETAG0 "\"", "STANDARD", 1));
    json_array_append_new(want,
                          sample_rec("inventory-test/key1", "null", 0, 5,
                                     "2024-05-06T22:44:22.000Z", "\"" ETAG5 "\"", "STANDARD", 1));
    want_sample_records(b, want);
}

/* The job of a sample: bucket/key as submitted, one file of `bytes`. */
static void
want_sample_job(json_t *job, const char *key, long long records_, long long bytes,
                const char *summary, const char *what)
{
    want_job(job, "succeeded", 1, 1, records_, summary, what);
    if (strcmp(th_jstr(job, "bucket"), FIX_BUCKET) != 0 || strcmp(th_jstr(job, "key"), key) != 0)
        fail_msg("%s: bucket/key %s/%s", what, th_jstr(job, "bucket"), th_jstr(job, "key"));
    if (th_jint(job, "bytes") != bytes)
        fail_msg("%s: bytes %lld, want %lld", what, (long long)th_jint(job, "bytes"), bytes);
}

/* Submit without wait: 202, Location of the job, a queued or running job; then poll it. */
static json_t *
submit_async(const char *b, const char *bucket, const char *key)
{
    struct th_resp r = submit(b, bucket, key, "");
    char *loc;
    char *want_loc;
    json_t *job;
    json_t *done;
    const char *st;

    want_status(&r, 202, "POST without wait");
    job = th_resp_json(&r);
    loc = th_resp_header(&r, "Location");
    want_loc = th_strf(INV_PATH "/%s", th_jstr(job, "id"));
    if (!loc || strcmp(loc, want_loc) != 0)
        fail_msg("Location %s, want %s", loc ? loc : "(none)", want_loc);
    st = th_jstr(job, "status");
    if (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0)
        fail_msg("202 with a job %s", st);
    want_job(job, st, -1, -1, -1, NULL, "202 job");
    done = poll_job(b, th_jstr(job, "id"), JOB_TIMEOUT_MS);
    free(loc);
    free(want_loc);
    json_decref(job);
    th_resp_release(&r);
    return done;
}

/* ---- events ---------------------------------------------------------------- */

/* An S3 notification record; ver/seq left out when NULL, size/eTag only when size >= 0. */
static json_t *
ev(const char *name, const char *bucket, const char *key, const char *ver, const char *seq,
   long long size, const char *time)
{
    json_t *obj = json_pack("{s:s}", "key", key);

    if (size >= 0) {
        json_object_set_new(obj, "size", json_integer(size));
        json_object_set_new(obj, "eTag", json_string("0123456789abcdef0123456789abcdef"));
    }
    if (ver)
        json_object_set_new(obj, "versionId", json_string(ver));
    if (seq)
        json_object_set_new(obj, "sequencer", json_string(seq));
    return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:{s:s},s:o}}", "eventVersion", "2.1", "eventSource",
                     "aws:s3", "eventName", name, "eventTime", time, "s3", "s3SchemaVersion", "1.0",
                     "bucket", "name", bucket, "object", obj);
}

/* POST one batch of notification records (consumed); want every record ingested. */
static void
post_events(const char *b, json_t *recs)
{
    size_t n = json_array_size(recs);
    json_t *body = json_pack("{s:o}", "Records", recs);
    char *text = dumps(body);
    struct th_resp r = th_post_json(b, "/api/v1/s3/events", text, NULL);
    json_t *j;
    char *want = th_strf("{\"records\":%zu,\"ingested\":%zu,\"duplicates\":0,\"ignored\":0}", n, n);

    want_status(&r, 200, "POST /api/v1/s3/events");
    j = th_resp_json(&r);
    want_json(j, want, "events batch");
    json_decref(j);
    free(want);
    th_resp_release(&r);
    free(text);
    json_decref(body);
}

/* ---- fixtures -------------------------------------------------------------- */

static int
group_setup(void **state)
{
    static const char *const uploads[][2] = {
        {"csv_inventory.csv.gz", "csv_inventory.csv.gz"},
        {"csv_inventory_manifest.json", "csv/manifest.json"},
        {"csv_inventory_manifest.checksum", "csv/manifest.checksum"},
        {"csv_inventory_no_version.csv.gz", "csv_inventory_no_version.csv.gz"},
        {"csv_inventory_no_version_manifest.json", "csv-nv/manifest.json"},
        {"csv_inventory_no_version_manifest.checksum", "csv-nv/manifest.checksum"},
        {"parquet_inventory.parquet", "parquet_inventory.parquet"},
        {"parquet_inventory_manifest.json", "parquet/manifest.json"},
        {"parquet_inventory_manifest.checksum", "parquet/manifest.checksum"},
        {"orc_inventory.orc", "orc_inventory.orc"},
        {"orc_inventory_manifest.json", "orc/manifest.json"},
        {"orc_inventory_manifest.checksum", "orc/manifest.checksum"},
    };
    static const char *const buckets[] = {FIX_BUCKET, DEST, NULL};
    struct s3_client_config cfg;
    char *ep;
    size_t i;

    (void)state;
    if (th_s3rver_start(buckets) != 0)
        return -1;
    s3_client_config_from_env(&cfg);
    G.s3 = s3_client_new(&cfg);
    for (i = 0; i < sizeof(uploads) / sizeof(uploads[0]); i++)
        put_fixture(uploads[i][0], uploads[i][1]);

    G.pg = th_pg_start();
    ep = th_strf("AWS_ENDPOINT_URL=%s", th_s3rver_endpoint());
    {
        /* every data file keeps a partition of its own here; the instances of inst_start()
         * merge files with few new records into the events' partition (the default) */
        const char *env[] = {ep,
                             "AWS_ACCESS_KEY_ID=S3RVER",
                             "AWS_SECRET_ACCESS_KEY=S3RVER",
                             "AWS_REGION=us-east-1",
                             "INGESTD_INVENTORY_MERGE_BELOW=0",
                             NULL};

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

/* ---- 1, 2: the real samples ------------------------------------------------ */

#define SUMMARY(c, d, u) "{\"created\":" #c ",\"deleted\":" #d ",\"unchanged\":" #u "}"

/* Versioned sample via manifest.json (?wait=true), then again twice: no-ops; the job list. */
static void
test_sample_versioned_json(void **state)
{
    struct inst in;
    const char *b;
    json_t *j1, *j2, *j3, *got, *list;
    char *path;
    struct th_resp r;
    size_t i;

    (void)state;
    inst_start(&in, "inv_sample1", th_s3rver_endpoint());
    b = th_ingestd_base(in.srv);

    j1 = submit_wait(b, FIX_BUCKET, "csv/manifest.json", 200);
    want_sample_job(j1, "csv/manifest.json", 5, 331, SUMMARY(5, 0, 0), "versioned sample");
    want_versioned_sample(b);
    /* GET of the job: the same object */
    path = th_strf(INV_PATH "/%s", th_jstr(j1, "id"));
    r = th_get(b, path, NULL);
    want_status(&r, 200, path);
    got = th_resp_json(&r);
    if (!json_equal(got, j1))
        fail_msg("GET %s differs from the ?wait=true answer:\n  %s\n  %s", path, r.body, dumps(j1));
    json_decref(got);
    th_resp_release(&r);
    free(path);

    /* 2. the same inventory again: a new job that changes nothing */
    j2 = submit_wait(b, FIX_BUCKET, "csv/manifest.json", 200);
    want_sample_job(j2, "csv/manifest.json", 5, 331, SUMMARY(0, 0, 5), "versioned sample again");
    assert_string_not_equal(th_jstr(j2, "id"), th_jstr(j1, "id"));
    assert_int_equal(count_objects(in.url), 5);
    want_versioned_sample(b);
    /* and through its .checksum, without wait */
    j3 = submit_async(b, FIX_BUCKET, "csv/manifest.checksum");
    want_sample_job(j3, "csv/manifest.checksum", 5, 331, SUMMARY(0, 0, 5),
                    "versioned sample via checksum");
    assert_int_equal(count_objects(in.url), 5);
    want_versioned_sample(b);
    /* a file with few records joins the events' partition (INGESTD_INVENTORY_MERGE_BELOW
     * by default 10000): no partition and no staged table is left */
    assert_int_equal(
        sql_int(in.url,
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 's3_objects'::regclass"),
        1);
    assert_int_equal(sql_int(in.url, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND "
                                     "relname LIKE 's3\\_objects\\_inv\\_%%'"),
                     0);
    assert_int_equal(sql_int(in.url, "SELECT count(*) FROM s3_objects_events"), 5);

    /* the list: newest first */
    r = th_get(b, INV_PATH, NULL);
    want_status(&r, 200, "GET " INV_PATH);
    list = th_resp_json(&r);
    if (json_array_size(json_object_get(list, "items")) != 3 ||
        !json_is_null(json_object_get(list, "next")))
        fail_msg("job list: %s", r.body);
    {
        json_t *expect[3] = {j3, j2, j1};

        for (i = 0; i < 3; i++)
            if (!json_equal(json_array_get(json_object_get(list, "items"), i), expect[i]))
                fail_msg("job list item %zu: %s", i, r.body);
    }
    json_decref(list);
    th_resp_release(&r);
    json_decref(j1);
    json_decref(j2);
    json_decref(j3);
    inst_free(&in);
}

/* Versioned sample via manifest.checksum, without wait: 202 + Location, then poll. */
static void
test_sample_versioned_checksum(void **state)
{
    struct inst in;
    const char *b;
    json_t *job;

    (void)state;
    inst_start(&in, "inv_sample2", th_s3rver_endpoint());
    b = th_ingestd_base(in.srv);
    job = submit_async(b, FIX_BUCKET, "csv/manifest.checksum");
    want_sample_job(job, "csv/manifest.checksum", 5, 331, SUMMARY(5, 0, 0),
                    "versioned sample via checksum");
    want_versioned_sample(b);
    json_decref(job);
    inst_free(&in);
}

/* Current-versions sample via manifest.json, then via manifest.checksum (a no-op). */
static void
test_sample_unversioned_json(void **state)
{
    struct inst in;
    const char *b;
    json_t *job;

    (void)state;
    inst_start(&in, "inv_sample3", th_s3rver_endpoint());
    b = th_ingestd_base(in.srv);
    job = submit_wait(b, FIX_BUCKET, "csv-nv/manifest.json", 200);
    want_sample_job(job, "csv-nv/manifest.json", 2, 193, SUMMARY(2, 0, 0), "current sample");
    want_unversioned_sample(b);
    json_decref(job);
    job = submit_wait(b, FIX_BUCKET, "csv-nv/manifest.checksum", 200);
    want_sample_job(job, "csv-nv/manifest.checksum", 2, 193, SUMMARY(0, 0, 2),
                    "current sample via checksum");
    assert_int_equal(count_objects(in.url), 2);
    want_unversioned_sample(b);
    json_decref(job);
    inst_free(&in);
}

/* Current-versions sample via manifest.checksum first. */
static void
test_sample_unversioned_checksum(void **state)
{
    struct inst in;
    const char *b;
    json_t *job;

    (void)state;
    inst_start(&in, "inv_sample4", th_s3rver_endpoint());
    b = th_ingestd_base(in.srv);
    job = submit_async(b, FIX_BUCKET, "csv-nv/manifest.checksum");
    want_sample_job(job, "csv-nv/manifest.checksum", 2, 193, SUMMARY(2, 0, 0),
                    "current sample via checksum");
    want_unversioned_sample(b);
    json_decref(job);
    inst_free(&in);
}

/* ---- 3: checksums ---------------------------------------------------------- */

#define LINE(src, key, size)                                                                       \
    "\"" src "\",\"" key "\",\"\",\"true\",\"false\",\"" #size "\",\"" LM                          \
    "\",\"abc\",\"STANDARD\"\n"

static void
test_manifest_checksum_mismatch(void **state)
{
    static const char *const needles[] = {"checksum mismatch", "chk-bad/manifest.checksum", NULL};
    struct datafile f = {LINE("chk-src", "a", 1) LINE("chk-src", "b", 2), 0, NULL};
    char *m = make_manifest("chk-bad", "chk-src", NULL, -1, &f, 1);
    long long before = count_objects(th_pg_url(G.pg));
    json_t *job;

    (void)state;
    put_str(DEST, "chk-bad/manifest.json", m);
    put_str(DEST, "chk-bad/manifest.checksum", "0123456789abcdef0123456789abcdef\n");
    job = submit_wait(base(), DEST, "chk-bad/manifest.checksum", 422);
    want_failed(job, needles, "checksum mismatch");
    assert_int_equal(th_jint(job, "files_done"), 0);
    assert_int_equal(th_jint(job, "records"), 0);
    json_decref(job);
    assert_int_equal(count_objects(th_pg_url(G.pg)), before);
    want_records(base(), "chk-src", 0, "");

    /* the manifest.json itself is fine */
    job = submit_wait(base(), DEST, "chk-bad/manifest.json", 200);
    want_job(job, "succeeded", 1, 1, 2, SUMMARY(2, 0, 0), "the manifest.json of chk-bad");
    want_records(base(), "chk-src", 0, "a=C1i* | b=C2i*");
    json_decref(job);
    free(m);
}

/* A checksum file with trailing white space after the hex digits: accepted. */
static void
test_manifest_checksum_trailing_space(void **state)
{
    struct datafile f = {LINE("chkws-src", "a", 1), 0, NULL};
    char *m = make_manifest("chk-ws", "chkws-src", NULL, -1, &f, 1);
    char hex[33];
    char *sum;
    json_t *job;

    (void)state;
    md5_hex(m, strlen(m), hex);
    sum = th_strf("%s \t\r\n\n", hex);
    put_str(DEST, "chk-ws/manifest.json", m);
    put_str(DEST, "chk-ws/manifest.checksum", sum);
    job = submit_wait(base(), DEST, "chk-ws/manifest.checksum", 200);
    want_job(job, "succeeded", 1, 1, 1, SUMMARY(1, 0, 0), "checksum with trailing space");
    want_records(base(), "chkws-src", 0, "a=C1i*");
    json_decref(job);
    free(sum);
    free(m);
}

/* The second data file's MD5 differs from the manifest's: failed, nothing written. */
static void
test_data_md5_mismatch(void **state)
{
    static const char *const needles[] = {"MD5", "md5-bad/data/1.csv.gz", NULL};
    struct datafile f[2] = {{LINE("md5-src", "a", 1), 0, NULL},
                            {LINE("md5-src", "b", 2), 0, "ffffffffffffffffffffffffffffffff"}};
    char *m = make_manifest("md5-bad", "md5-src", NULL, -1, f, 2);
    long long before = count_objects(th_pg_url(G.pg));
    json_t *job;

    (void)state;
    put_manifest("md5-bad", m);
    job = submit_wait(base(), DEST, "md5-bad/manifest.json", 422);
    want_failed(job, needles, "data MD5 mismatch");
    assert_int_equal(th_jint(job, "files_total"), 2);
    assert_true(th_jint(job, "files_done") < 2);
    json_decref(job);
    assert_int_equal(count_objects(th_pg_url(G.pg)), before);
    want_records(base(), "md5-src", 0, "");

    /* the same through an inline manifest */
    job = submit_inline_wait(base(), m, 422);
    want_failed(job, needles, "data MD5 mismatch, inline");
    json_decref(job);
    assert_int_equal(count_objects(th_pg_url(G.pg)), before);
    free(m);
}

/* ---- 4: columns ------------------------------------------------------------ */

/* Ingest one manifest (uploaded under prefix) with ?wait=true; want success with these counts. */
static void
ingest(const char *prefix, const char *manifest, long files, long long recs, const char *summary)
{
    char *key = th_strf("%s/manifest.json", prefix);
    json_t *job;

    put_manifest(prefix, manifest);
    job = submit_wait(base(), DEST, key, 200);
    want_job(job, "succeeded", files, files, recs, summary, prefix);
    if (strcmp(th_jstr(job, "bucket"), DEST) != 0 || strcmp(th_jstr(job, "key"), key) != 0)
        fail_msg("%s: job bucket/key %s/%s", prefix, th_jstr(job, "bucket"), th_jstr(job, "key"));
    json_decref(job);
    free(key);
}

static void
test_columns_file_schema_reordered(void **state)
{
    struct datafile f = {
        "\"a.txt\",\"10\",\"col-schema\",\"aaaa\",\"true\",\"\",\"2024-02-03T04:05:06.000Z\","
        "\"GLACIER\",\"false\",\"false\"\n"
        "\"b/c.txt\",\"20\",\"col-schema\",\"bbbb\",\"true\",\"\",\"2024-02-03T04:05:07.000Z\","
        "\"STANDARD_IA\",\"false\",\"true\"\n",
        0, NULL};
    char *m = make_manifest("col-schema", "col-schema",
                            " Key,Size, Bucket ,ETag, IsLatest, "
                            "VersionId, LastModifiedDate, StorageClass, IsDeleteMarker, "
                            "IsMultipartUploaded",
                            -1, &f, 1);

    (void)state;
    ingest("col-schema", m, 1, 2, SUMMARY(2, 0, 0));
    want_records(base(), "col-schema", 1,
                 "a.txt=C10i,\"aaaa\",GLACIER,2024-02-03T04:05:06.000Z* | "
                 "b/c.txt=C20i,\"bbbb\",STANDARD_IA,2024-02-03T04:05:07.000Z*");
    free(m);
}

static void
test_columns_header_line(void **state)
{
    struct datafile f = {"Size,Key,Owner,Bucket,ETag,IsLatest,StorageClass,LastModifiedDate,"
                         "VersionId,IsDeleteMarker,ChecksumAlgorithm\n"
                         "\"3\",\"h1\",\"someone\",\"col-header\",\"cccc\",\"true\",\"STANDARD\","
                         "\"2024-02-03T04:05:08.000Z\",\"\",\"false\",\"\"\n"
                         "4,h2,,col-header,dddd,true,INTELLIGENT_TIERING,2024-02-03T04:05:09.000Z,,"
                         "false,CRC32\n"
                         "\n\n",
                         0, NULL};
    char *m = make_manifest("col-header", "col-header", NULL, -1, &f, 1);

    (void)state;
    ingest("col-header", m, 1, 2, SUMMARY(2, 0, 0));
    want_records(base(), "col-header", 1,
                 "h1=C3i,\"cccc\",STANDARD,2024-02-03T04:05:08.000Z* | "
                 "h2=C4i,\"dddd\",INTELLIGENT_TIERING,2024-02-03T04:05:09.000Z*");
    free(m);
}

static void
test_columns_default(void **state)
{
    struct datafile f = {
        "\"col-default\",\"d1\",\"\",\"true\",\"false\",\"7\",\"2024-02-03T04:05:10.000Z\","
        "\"eeee\",\"STANDARD\"\n"
        "\"col-default\",\"d2\",\"v2\",\"true\",\"false\",\"8\",\"2024-02-03T04:05:12.000Z\","
        "\"ffff\",\"STANDARD\"\n"
        "\"col-default\",\"d2\",\"v1\",\"false\",\"false\",\"6\",\"2024-02-03T04:05:11.000Z\","
        "\"gggg\",\"STANDARD\"\n"
        "\"col-default\",\"d3\",\"m1\",\"false\",\"false\",\"9\",\"2024-02-03T04:05:13.000Z\","
        "\"hhhh\",\"GLACIER\"\n"
        "\"col-default\",\"d3\",\"m2\",\"true\",\"true\",\"\",\"2024-02-03T04:05:14.000Z\",\"\","
        "\"\"\n",
        0, NULL};
    char *m = make_manifest("col-default", "col-default", NULL, -1, &f, 1);

    (void)state;
    ingest("col-default", m, 1, 5, SUMMARY(5, 0, 0));
    want_records(base(), "col-default", 1,
                 "d1=C7i,\"eeee\",STANDARD,2024-02-03T04:05:10.000Z* | "
                 "d2@v2=C8i,\"ffff\",STANDARD,2024-02-03T04:05:12.000Z* | "
                 "d2@v1=C6i,\"gggg\",STANDARD,2024-02-03T04:05:11.000Z | "
                 "d3@m1=C9i,\"hhhh\",GLACIER,2024-02-03T04:05:13.000Z | "
                 "d3@m2=Mi,-,-,2024-02-03T04:05:14.000Z");
    free(m);
}

static void
test_columns_url_encoded_keys(void **state)
{
    struct datafile f = {
        LINE("col-urlenc", "a+b%2Bc", 1) LINE("col-urlenc", "dir%2Fcaf%C3%A9+x.txt", 2)
            LINE("col-urlenc", "100%25.txt", 3) LINE("col-urlenc", "plain/key.txt", 4),
        0, NULL};
    char *m = make_manifest("col-urlenc", "col-urlenc", NULL, -1, &f, 1);

    (void)state;
    ingest("col-urlenc", m, 1, 4, SUMMARY(4, 0, 0));
    want_records(base(), "col-urlenc", 0,
                 "a b+c=C1i* | dir/caf\xC3\xA9 x.txt=C2i* | 100%.txt=C3i* | plain/key.txt=C4i*");
    free(m);
}

static void
test_multi_member_gzip(void **state)
{
    const char *csv = LINE("col-multi", "m1", 1) LINE("col-multi", "m2", 2)
        LINE("col-multi", "m3", 3) LINE("col-multi", "m4", 4);
    struct datafile f = {csv, strlen(csv) / 2 + 7, NULL}; /* split inside a line */
    char *m = make_manifest("col-multi", "col-multi", NULL, -1, &f, 1);

    (void)state;
    ingest("col-multi", m, 1, 4, SUMMARY(4, 0, 0));
    want_records(base(), "col-multi", 0, "m1=C1i* | m2=C2i* | m3=C3i* | m4=C4i*");
    free(m);
}

static void
test_several_data_files(void **state)
{
    struct datafile f[4] = {{LINE("col-files", "f0a", 1) LINE("col-files", "f0b", 2), 0, NULL},
                            {LINE("col-files", "f1a", 3) LINE("col-files", "f1b", 4), 0, NULL},
                            {"", 0, NULL},
                            {LINE("col-files", "f2a", 5), 0, ""}};
    char *m = make_manifest("col-files", "col-files", NULL, -1, f, 4);
    const char *url = th_pg_url(G.pg);
    const char *parts_sql = "SELECT count(*) FROM pg_inherits WHERE inhparent = "
                            "'s3_objects'::regclass";
    const char *loose_sql = "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE "
                            "'s3\\_objects\\_inv\\_%' AND NOT relispartition";
    long long parts = sql_int(url, "%s", parts_sql);
    long long loose = sql_int(url, "%s", loose_sql);

    (void)state;
    ingest("col-files", m, 4, 5, SUMMARY(5, 0, 0));
    want_records(base(), "col-files", 0, "f0a=C1i* | f0b=C2i* | f1a=C3i* | f1b=C4i* | f2a=C5i*");
    /* one partition per file with lines; the empty file's table is gone */
    assert_int_equal(sql_int(url, "%s", parts_sql), parts + 3);
    assert_int_equal(sql_int(url, "%s", loose_sql), loose);
    free(m);
}

/* A key whose versions straddle two data files: IsLatest still decides the current one. */
/* A file that lists two source buckets: each line counts once in the summary and records. */
static void
test_two_buckets_in_one_file(void **state)
{
    struct datafile f = {LINE("two-a", "k", 1) LINE("two-b", "k", 2) LINE("two-b", "l", 3), 0,
                         NULL};
    char *m = make_manifest("two-buckets", "two-a", NULL, -1, &f, 1);

    (void)state;
    ingest("two-buckets", m, 1, 3, SUMMARY(3, 0, 0));
    want_records(base(), "two-a", 0, "k=C1i*");
    want_records(base(), "two-b", 0, "k=C2i* | l=C3i*");
    free(m);
}

static void
test_versions_across_files(void **state)
{
    struct datafile f[2] = {
        {"\"straddle\",\"a\",\"\",\"true\",\"false\",\"1\",\"" LM "\",\"abc\",\"STANDARD\"\n"
         "\"straddle\",\"k1\",\"new\",\"true\",\"false\",\"2\",\"" LM "\",\"abc\",\"STANDARD\"\n",
         0, NULL},
        {"\"straddle\",\"k1\",\"old\",\"false\",\"false\",\"3\",\"" LM "\",\"abc\",\"STANDARD\"\n"
         "\"straddle\",\"k2\",\"old\",\"false\",\"false\",\"4\",\"" LM "\",\"abc\",\"STANDARD\"\n",
         0, NULL}};
    struct datafile g = {"\"straddle\",\"k2\",\"new\",\"true\",\"false\",\"5\",\"" LM
                         "\",\"abc\",\"STANDARD\"\n",
                         0, NULL};
    struct datafile all[3] = {f[0], f[1], g};
    char *m = make_manifest("straddle", "straddle", NULL, -1, all, 3);

    (void)state;
    ingest("straddle", m, 3, 5, SUMMARY(5, 0, 0));
    want_records(base(), "straddle", 0,
                 "a=C1i* | k1@new=C2i* | k1@old=C3i | k2@old=C4i | k2@new=C5i*");
    free(m);
}

/*
 * Without an IsLatest column a key's last line is current. Lines of one key
 * apart from each other (an unsorted file; files whose key ranges overlap)
 * still leave one current record per key, the last listed.
 */
#define NOLATEST_SCHEMA "Bucket, Key, VersionId, Size"
#define NOLATEST(src, key, version, size) "\"" src "\",\"" key "\",\"" version "\",\"" #size "\"\n"

static void
test_keys_apart_unsorted_file(void **state)
{
    struct datafile f = {NOLATEST("apart-u", "b", "v1", 1) NOLATEST("apart-u", "a", "v1", 2)
                             NOLATEST("apart-u", "b", "v2", 3) NOLATEST("apart-u", "c", "v1", 4),
                         0, NULL};
    char *m = make_manifest("apart-u", "apart-u", NOLATEST_SCHEMA, -1, &f, 1);

    (void)state;
    ingest("apart-u", m, 1, 4, SUMMARY(4, 0, 0));
    want_records(base(), "apart-u", 0, "a@v1=C2i* | b@v1=C1i | b@v2=C3i* | c@v1=C4i*");
    free(m);
}

static void
test_keys_apart_overlapping_files(void **state)
{
    struct datafile f[2] = {
        {NOLATEST("apart-o", "a", "v1", 1) NOLATEST("apart-o", "c", "v1", 2), 0, NULL},
        {NOLATEST("apart-o", "b", "v1", 3) NOLATEST("apart-o", "c", "v2", 4), 0, NULL}};
    char *m = make_manifest("apart-o", "apart-o", NOLATEST_SCHEMA, -1, f, 2);

    (void)state;
    ingest("apart-o", m, 2, 4, SUMMARY(4, 0, 0));
    want_records(base(), "apart-o", 0, "a@v1=C1i* | b@v1=C3i* | c@v1=C2i | c@v2=C4i*");
    free(m);
}

/*
 * An inventory mostly like the catalog: a file's partition keeps only its
 * changed lines (rebuilt when they are fewer than half, stripped otherwise).
 */
static void
test_reingest_keeps_changed_lines(void **state)
{
    struct datafile f1[2] = {{LINE("keep-src", "a1", 1) LINE("keep-src", "a2", 2)
                                  LINE("keep-src", "a3", 3) LINE("keep-src", "a4", 4),
                              0, NULL},
                             {LINE("keep-src", "b1", 5) LINE("keep-src", "b2", 6), 0, NULL}};
    struct datafile f2[2] = {{LINE("keep-src", "a1", 1) LINE("keep-src", "a2", 20)
                                  LINE("keep-src", "a3", 3) LINE("keep-src", "a4", 4),
                              0, NULL},
                             {LINE("keep-src", "b1", 5) LINE("keep-src", "b2", 60), 0, NULL}};
    char *m1 = make_manifest("keep-1", "keep-src", NULL, -1, f1, 2);
    char *m2 = make_manifest("keep-2", "keep-src", NULL, -1, f2, 2);
    const char *url = th_pg_url(G.pg);
    json_t *job;

    (void)state;
    ingest("keep-1", m1, 2, 6, SUMMARY(6, 0, 0));
    put_manifest("keep-2", m2);
    job = submit_wait(base(), DEST, "keep-2/manifest.json", 200);
    want_job(job, "succeeded", 2, 2, 6, SUMMARY(2, 0, 4), "re-ingest with two changes");
    want_records(base(), "keep-src", 0,
                 "a1=C1i* | a2=C2i | a2=C20i* | a3=C3i* | a4=C4i* | b1=C5i* | b2=C6i | b2=C60i*");
    /* the second job's partitions hold its two new records, nothing else */
    assert_int_equal(sql_int(url,
                             "SELECT count(*) FROM s3_objects o JOIN inventory_files f ON "
                             "f.part = o.part WHERE f.job_id = '%s'",
                             th_jstr(job, "id")),
                     2);
    assert_int_equal(sql_int(url,
                             "SELECT count(*) FROM pg_inherits i JOIN inventory_files f ON "
                             "i.inhrelid = format('s3_objects_inv_%%s', f.part)::regclass WHERE "
                             "f.job_id = '%s'",
                             th_jstr(job, "id")),
                     2);
    assert_int_equal(sql_int(url, "SELECT count(*) FROM pg_class WHERE relname LIKE "
                                  "'s3\\_objects\\_inv\\_%%\\_all'"),
                     0);
    json_decref(job);
    free(m1);
    free(m2);
}

/* ---- 5: inline manifests, formats ----------------------------------------------- */

static void
test_inline_manifest(void **state)
{
    struct datafile f = {LINE("inline-src", "x", 1) LINE("inline-src", "y", 2), 0, NULL};
    char *m = make_manifest("inline", "inline-src", NULL, -1, &f, 1);
    json_t *job;

    (void)state;
    job = submit_inline_wait(base(), m, 200);
    want_job(job, "succeeded", 1, 1, 2, SUMMARY(2, 0, 0), "inline manifest");
    want_records(base(), "inline-src", 0, "x=C1i* | y=C2i*");
    json_decref(job);
    free(m);
}

static void
test_bad_inline_manifests(void **state)
{
    static const char *const cases[][2] = {
        {"{\"destinationBucket\":\"inv-dest\",\"fileFormat\":\"CSV\"}", "files"},
        {"{\"destinationBucket\":\"inv-dest\",\"fileFormat\":\"CSV\",\"files\":{}}", "files"},
        {"{\"destinationBucket\":\"inv-dest\",\"fileFormat\":\"CSV\",\"files\":[{}]}",
         "files[0].key"},
        {"{\"fileFormat\":\"CSV\",\"files\":[{\"key\":\"x.csv.gz\"}]}", "destinationBucket"},
        {"{\"destinationBucket\":\"inv-dest\",\"files\":[{\"key\":\"x.csv.gz\"}]}", "fileFormat"},
        {"{\"destinationBucket\":\"inv-dest\",\"fileFormat\":\"JSON\",\"files\":[{\"key\":\"x\"}]}",
         "fileFormat"},
        {"{\"destinationBucket\":\"arn:aws:sqs:us-east-1:123456789012:queue\",\"fileFormat\":"
         "\"CSV\",\"files\":[{\"key\":\"x.csv.gz\"}]}",
         "destinationBucket"},
        {"{\"destinationBucket\":\"inv-dest\",\"fileFormat\":\"CSV\",\"files\":[{\"key\":\"x\","
         "\"MD5checksum\":\"nothex\"}]}",
         "MD5checksum"},
    };
    long long jobs = count_jobs(th_pg_url(G.pg));
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct th_resp r = th_post_json(base(), INV_PATH, cases[i][0], NULL);

        want_problem(&r, 422, cases[i][1], cases[i][0]);
        th_resp_release(&r);
        r = th_post_json(base(), INV_PATH "?wait=true", cases[i][0], NULL);
        want_problem(&r, 422, cases[i][1], cases[i][0]);
        th_resp_release(&r);
    }
    assert_int_equal(count_jobs(th_pg_url(G.pg)), jobs);
}

/*
 * The Parquet sample (read by byte ranges: tail, then its row group) gives
 * exactly the records of the versioned CSV sample; again through its
 * .checksum, and the CSV sample after it, change nothing: the same lines.
 */
static void
test_sample_parquet(void **state)
{
    struct inst in;
    const char *b;
    json_t *job;

    (void)state;
    inst_start(&in, "inv_parquet", th_s3rver_endpoint());
    b = th_ingestd_base(in.srv);
    job = submit_wait(b, FIX_BUCKET, "parquet/manifest.json", 200);
    want_sample_job(job, "parquet/manifest.json", 5, 4277, SUMMARY(5, 0, 0), "parquet sample");
    want_versioned_sample(b);
    assert_string_equal(th_jstr(job, "format"), "Parquet");
    json_decref(job);
    job = submit_async(b, FIX_BUCKET, "parquet/manifest.checksum");
    want_sample_job(job, "parquet/manifest.checksum", 5, 4277, SUMMARY(0, 0, 5),
                    "parquet sample via checksum");
    json_decref(job);
    job = submit_wait(b, FIX_BUCKET, "csv/manifest.json", 200);
    want_sample_job(job, "csv/manifest.json", 5, 331, SUMMARY(0, 0, 5), "csv after parquet");
    json_decref(job);
    assert_int_equal(count_objects(in.url), 5);
    want_versioned_sample(b);
    inst_free(&in);
}

/* The ORC sample (tail, then each stripe's footer and streams): the CSV sample's records. */
static void
test_sample_orc(void **state)
{
    struct inst in;
    const char *b;
    json_t *job;

    (void)state;
    inst_start(&in, "inv_orc", th_s3rver_endpoint());
    b = th_ingestd_base(in.srv);
    job = submit_wait(b, FIX_BUCKET, "orc/manifest.checksum", 200);
    want_sample_job(job, "orc/manifest.checksum", 5, 2334, SUMMARY(5, 0, 0), "orc sample");
    want_versioned_sample(b);
    assert_string_equal(th_jstr(job, "format"), "ORC");
    json_decref(job);
    job = submit_wait(b, FIX_BUCKET, "csv/manifest.checksum", 200);
    want_sample_job(job, "csv/manifest.checksum", 5, 331, SUMMARY(0, 0, 5), "csv after orc");
    json_decref(job);
    job = submit_wait(b, FIX_BUCKET, "orc/manifest.json", 200);
    want_sample_job(job, "orc/manifest.json", 5, 2334, SUMMARY(0, 0, 5), "orc again");
    json_decref(job);
    assert_int_equal(count_objects(in.url), 5);
    want_versioned_sample(b);
    inst_free(&in);
}

/* A manifest of one ORC or Parquet file (size < 0: none, so a HEAD asks S3; md5 may be NULL). */
static char *
columnar_manifest(const char *format, const char *key, long long size, const char *md5)
{
    json_t *file = json_pack("{s:s}", "key", key);
    json_t *m;
    char *text;

    if (size >= 0)
        json_object_set_new(file, "size", json_integer(size));
    if (md5)
        json_object_set_new(file, "MD5checksum", json_string(md5));
    m = json_pack("{s:s,s:s,s:s,s:[o]}", "sourceBucket", FIX_BUCKET, "destinationBucket",
                  "arn:aws:s3:::" FIX_BUCKET, "fileFormat", format, "files", file);
    text = dumps(m);
    json_decref(m);
    return text;
}

/*
 * Without a size in the manifest (a HEAD gives it) and without an MD5 (no
 * second read), in lower case: the Parquet and ORC samples still give the records.
 */
static void
test_sample_columnar_no_size(void **state)
{
    static const char *const formats[][2] = {{"parquet", "parquet_inventory.parquet"},
                                             {"orc", "orc_inventory.orc"}};
    char db[32];
    struct inst in;
    json_t *job;
    char *m;
    size_t i;

    (void)state;
    for (i = 0; i < 2; i++) {
        snprintf(db, sizeof(db), "inv_nosize%zu", i);
        inst_start(&in, db, th_s3rver_endpoint());
        m = columnar_manifest(formats[i][0], formats[i][1], -1, NULL);
        job = submit_inline_wait(th_ingestd_base(in.srv), m, 200);
        want_job(job, "succeeded", 1, 1, 5, SUMMARY(5, 0, 0), formats[i][0]);
        assert_string_equal(th_jstr(job, "format"), i == 0 ? "Parquet" : "ORC");
        want_versioned_sample(th_ingestd_base(in.srv));
        json_decref(job);
        free(m);
        inst_free(&in);
    }
}

/*
 * A Parquet file of three row groups (2048, 2048, 904 rows; 96 KiB, more than
 * the first tail fetch), without a size in the manifest (HEAD): with its MD5,
 * the row groups are read in order in one sequential GET through MD5; without,
 * each row group by its own range. Every row, both ways.
 */
static void
parquet_row_groups(int with_md5)
{
    struct inst in;
    const char *b;
    json_t *job;
    json_t *recs;
    json_t *r;
    char *path = fixture("parquet_row_groups.parquet");
    size_t len = 0;
    char *data = th_read_file(path, &len);
    char hex[33];
    char *m;
    size_t i;
    int seen_last = 0;

    md5_hex(data, len, hex);
    put(FIX_BUCKET, "rg/parquet_row_groups.parquet", data, len);
    m = columnar_manifest("Parquet", "rg/parquet_row_groups.parquet", -1, with_md5 ? hex : NULL);
    inst_start(&in, with_md5 ? "inv_row_groups" : "inv_row_groups_ranged", th_s3rver_endpoint());
    b = th_ingestd_base(in.srv);
    job = submit_inline_wait(b, m, 200);
    want_job(job, "succeeded", 1, 1, 5000, SUMMARY(5000, 0, 0), "three row groups");
    assert_int_equal(th_jint(job, "bytes"), (long long)len);
    assert_int_equal(count_objects(in.url), 5000);
    recs = records(b, "multi-rg-src", 0);
    assert_int_equal(json_array_size(recs), 5000);
    json_array_foreach(recs, i, r)
    {
        if (strcmp(th_jstr(r, "key"), "k4999") != 0)
            continue;
        seen_last = 1;
        assert_int_equal(th_jint(r, "size"), 4999);
        assert_string_equal(th_jstr(r, "eTag"), "\"etag4999\"");
        assert_string_equal(th_jstr(r, "lastModifiedDate"), "2024-05-07T00:01:07.000Z");
    }
    assert_true(seen_last);
    json_decref(recs);
    json_decref(job);
    inst_free(&in);
    free(m);
    free(data);
    free(path);
}

static void
test_parquet_row_groups(void **state)
{
    (void)state;
    parquet_row_groups(1);
    parquet_row_groups(0);
}

/*
 * An ORC file of three stripes (700, 700, 600 rows; ZLIB, RLE v2, dictionary
 * and direct strings; bench/orcgen's) and its CSV sibling (bench/invgen's),
 * the same 2000 lines: with the ORC file's MD5 (the stripes read in order in
 * one sequential GET) the CSV first, then the ORC file changes nothing (every
 * line identical to its version's latest record); without MD5 (each stripe
 * by its ranges) the ORC file first, then the CSV file changes nothing.
 */
static void
orc_stripes(int with_md5)
{
    char *paths[2] = {fixture("orc_stripes.orc"), fixture("orc_stripes.csv.gz")};
    size_t lens[2] = {0, 0};
    char *data[2] = {th_read_file(paths[0], &lens[0]), th_read_file(paths[1], &lens[1])};
    char hex[2][33];
    char *m[2];
    json_t *csv;
    json_t *job;
    struct inst in;
    const char *b;
    int i;

    for (i = 0; i < 2; i++)
        md5_hex(data[i], lens[i], hex[i]);
    put(FIX_BUCKET, "stripes/orc_stripes.orc", data[0], lens[0]);
    put(FIX_BUCKET, "stripes/orc_stripes.csv.gz", data[1], lens[1]);
    m[0] = columnar_manifest("ORC", "stripes/orc_stripes.orc", (long long)lens[0],
                             with_md5 ? hex[0] : NULL);
    m[1] = columnar_manifest("CSV", "stripes/orc_stripes.csv.gz", (long long)lens[1], hex[1]);
    csv = json_loads(m[1], 0, NULL);
    free(m[1]);
    json_object_set_new(
        csv, "fileSchema",
        json_string("Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, "
                    "ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, "
                    "EncryptionStatus, ObjectLockRetainUntilDate, ObjectLockMode, "
                    "ObjectLockLegalHoldStatus, IntelligentTieringAccessTier, BucketKeyStatus, "
                    "ChecksumAlgorithm"));
    m[1] = dumps(csv);
    inst_start(&in, with_md5 ? "inv_orc_stripes" : "inv_orc_stripes_ranged", th_s3rver_endpoint());
    b = th_ingestd_base(in.srv);
    for (i = 0; i < 2; i++) {
        int first = with_md5 ? 1 - i : i; /* the index of the file ingested now */

        job = submit_inline_wait(b, m[first], 200);
        if (i == 0)
            want_job(job, "succeeded", 1, 1, 2000, SUMMARY(2000, 0, 0), m[first]);
        else
            want_job(job, "succeeded", 1, 1, 2000, SUMMARY(0, 0, 2000), m[first]);
        json_decref(job);
    }
    /* 2000 lines of 1538 keys, 16 of whose latest versions are delete markers */
    assert_int_equal(sql_int(in.url, "SELECT count(*) FROM s3_objects WHERE is_current"), 1522);
    assert_int_equal(sql_int(in.url, "SELECT count(*) FROM s3_objects"), 2000);
    assert_int_equal(sql_int(in.url,
                             "SELECT count(*) FROM s3_objects WHERE key = "
                             "'production/project-0000/run-0000000/qc report (final).html'"),
                     1);
    inst_free(&in);
    json_decref(csv);
    for (i = 0; i < 2; i++) {
        free(m[i]);
        free(data[i]);
        free(paths[i]);
    }
}

static void
test_orc_stripes(void **state)
{
    (void)state;
    orc_stripes(1);
    orc_stripes(0);
}

/* Bad ORC and Parquet files: a failed job (422) naming the file, nothing written. */
static void
test_columnar_bad_files(void **state)
{
    static const char junk[] = "this is not a columnar file, neither Parquet nor ORC";
    long long before = count_objects(th_pg_url(G.pg));
    char *path;
    char *data;
    size_t len = 0;
    size_t i;
    struct {
        const char *format;
        const char *key;
        long long size;
        const char *md5;
    } cases[] = {
        {"Parquet", "bad-col/junk.parquet", -1, NULL},
        {"ORC", "bad-col/junk.orc", (long long)sizeof(junk) - 1, NULL},
        {"Parquet", "bad-col/cut.parquet", 2000, NULL},
        {"ORC", "bad-col/cut.orc", 1500, NULL},
        /* footers intact, the row group's / stripe's bytes overwritten */
        {"Parquet", "bad-col/garbled.parquet", 4277, NULL},
        {"ORC", "bad-col/garbled.orc", 2334, NULL},
        {"Parquet", "bad-col/empty.parquet", 0, NULL},
        /* a good file whose MD5 is not the manifest's */
        {"ORC", "orc_inventory.orc", 2334, "ffffffffffffffffffffffffffffffff"},
        /* the manifest says more bytes than there are */
        {"Parquet", "parquet_inventory.parquet", 5000, NULL},
        /* no such object */
        {"ORC", "bad-col/missing.orc", -1, NULL},
    };

    (void)state;
    put(FIX_BUCKET, "bad-col/junk.parquet", junk, sizeof(junk) - 1);
    put(FIX_BUCKET, "bad-col/junk.orc", junk, sizeof(junk) - 1);
    put(FIX_BUCKET, "bad-col/empty.parquet", "", 0);
    path = fixture("parquet_inventory.parquet");
    data = th_read_file(path, &len);
    put(FIX_BUCKET, "bad-col/cut.parquet", data, 2000); /* the tail, and so the footer, cut off */
    memset(data + 4, 0xA5, 400);                        /* after "PAR1": the first pages */
    put(FIX_BUCKET, "bad-col/garbled.parquet", data, len);
    free(data);
    free(path);
    path = fixture("orc_inventory.orc");
    data = th_read_file(path, &len);
    put(FIX_BUCKET, "bad-col/cut.orc", data, 1500);
    memset(data + 3, 0xA5, 1000); /* after "ORC": the stripe's index and data streams */
    put(FIX_BUCKET, "bad-col/garbled.orc", data, len);
    free(data);
    free(path);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *needles[] = {cases[i].key, NULL};
        char *m = columnar_manifest(cases[i].format, cases[i].key, cases[i].size, cases[i].md5);
        long status = strstr(cases[i].key, "missing") ? 502 : 422;
        json_t *job = submit_inline_wait(base(), m, status);

        want_failed(job, needles, m);
        print_message("bad file %s: %s\n", cases[i].key, th_jstr(job, "error"));
        assert_int_equal(th_jint(job, "files_done"), 0);
        json_decref(job);
        free(m);
    }
    assert_int_equal(count_objects(th_pg_url(G.pg)), before);
}

/* ---- 6: inventory, then events ----------------------------------------------------- */

static void
test_inventory_then_events(void **state)
{
    struct datafile f = {LINE("ite-src", "k1", 5) LINE("ite-src", "k2", 5), 0, NULL};
    char *m = make_manifest("ite", "ite-src", NULL, -1, &f, 1);
    const char *t = "2024-06-01T00:00:00.000Z";

    (void)state;
    ingest("ite", m, 1, 2, SUMMARY(2, 0, 0));
    want_records(base(), "ite-src", 0, "k1=C5i* | k2=C5i*");
    post_events(base(),
                json_pack("[o]", ev("ObjectRemoved:Delete", "ite-src", "k1", NULL, "E6", -1, t)));
    post_events(base(),
                json_pack("[o]", ev("ObjectCreated:Put", "ite-src", "k1", NULL, "E4", 7, t)));
    post_events(base(),
                json_pack("[o]", ev("ObjectRemoved:Delete", "ite-src", "k2", NULL, "E6", -1, t)));
    post_events(base(),
                json_pack("[o]", ev("ObjectCreated:Put", "ite-src", "k2", NULL, "E7", 7, t)));
    want_records(base(), "ite-src", 0, "k1=C5i | k1=De | k1=C7e | k2=C5i | k2=De | k2=C7e*");
    free(m);
}

/* ---- 7: deletion detection --------------------------------------------------------- */

/*
 * Events first, then an inventory listing the same keys changed: its lines
 * order after the events' records (generated sequencers after the key's
 * greatest) and become current; a key new to the catalog is current at once.
 */
static void
test_events_then_inventory(void **state)
{
    struct datafile f = {LINE("eti-src", "k1", 9) LINE("eti-src", "k2", 8) LINE("eti-src", "k3", 1),
                         0, NULL};
    char *m = make_manifest("eti", "eti-src", NULL, wall_ms(), &f, 1);
    const char *t = "2024-06-01T00:00:00.000Z";
    json_t *recs = json_array();

    (void)state;
    json_array_append_new(recs, ev("ObjectCreated:Put", "eti-src", "k1", NULL, "0A", 7, t));
    json_array_append_new(recs, ev("ObjectCreated:Put", "eti-src", "k2", NULL, "FF", 8, t));
    post_events(base(), recs);
    want_records(base(), "eti-src", 0, "k1=C7e* | k2=C8e*");
    ingest("eti", m, 1, 3, SUMMARY(3, 0, 0));
    want_records(base(), "eti-src", 0, "k1=C7e | k1=C9i* | k2=C8e | k2=C8i* | k3=C1i*");
    free(m);
}

static void
test_deletion_detection(void **state)
{
    struct datafile f1 = {LINE("del-src", "a", 1) LINE("del-src", "b", 2) LINE("del-src", "c", 3),
                          0, NULL};
    struct datafile f2 = {LINE("del-src", "a", 1) LINE("del-src", "c", 3), 0, NULL};
    long long t0 = wall_ms();
    char *m1 = make_manifest("del-1", "del-src", NULL, t0 - 3600000, &f1, 1);
    char *old = iso_ms(t0 - 1800000);
    char *new = iso_ms(t0 + 3600000);
    char *m2;
    json_t *recs;

    (void)state;
    ingest("del-1", m1, 1, 3, SUMMARY(3, 0, 0));
    recs = json_array();
    json_array_append_new(recs, ev("ObjectCreated:Put", "del-src", "ev-old", NULL, "0A", 4, old));
    json_array_append_new(recs, ev("ObjectCreated:Put", "del-src", "ev-new", NULL, "0B", 5, new));
    json_array_append_new(recs, ev("ObjectCreated:Put", "del-src", "ev-ver", "v1", "0C", 6, old));
    json_array_append_new(recs, ev("ObjectCreated:Put", "del-src", "ev-gone", NULL, "10", 7, old));
    json_array_append_new(recs,
                          ev("ObjectRemoved:Delete", "del-src", "ev-gone", NULL, "20", -1, old));
    json_array_append_new(recs, ev("ObjectCreated:Put", "del-src", "ev-dm", "v1", "30", 8, old));
    json_array_append_new(
        recs, ev("ObjectRemoved:DeleteMarkerCreated", "del-src", "ev-dm", "v2", "40", -1, old));
    post_events(base(), recs);
    want_records(base(), "del-src", 0,
                 "a=C1i* | b=C2i* | c=C3i* | ev-old=C4e* | ev-new=C5e* | ev-ver@v1=C6e* | "
                 "ev-gone=C7e | ev-gone=De | ev-dm@v1=C8e | ev-dm@v2=Me");

    /* taken now: b, ev-old and ev-ver are gone; ev-new changed after it was taken */
    m2 = make_manifest("del-2", "del-src", NULL, wall_ms(), &f2, 1);
    ingest("del-2", m2, 1, 2, SUMMARY(0, 3, 2));
    want_records(base(), "del-src", 0,
                 "a=C1i* | b=C2i | b=Di | c=C3i* | ev-old=C4e | ev-old=Di | ev-new=C5e* | "
                 "ev-ver@v1=C6e | ev-ver@v1=Di | ev-gone=C7e | ev-gone=De | ev-dm@v1=C8e | "
                 "ev-dm@v2=Me");
    /* again: nothing more to delete */
    {
        json_t *job = submit_wait(base(), DEST, "del-2/manifest.json", 200);

        want_job(job, "succeeded", 1, 1, 2, SUMMARY(0, 0, 2), "deletion inventory again");
        json_decref(job);
    }
    want_records(base(), "del-src", 0,
                 "a=C1i* | b=C2i | b=Di | c=C3i* | ev-old=C4e | ev-old=Di | ev-new=C5e* | "
                 "ev-ver@v1=C6e | ev-ver@v1=Di | ev-gone=C7e | ev-gone=De | ev-dm@v1=C8e | "
                 "ev-dm@v2=Me");
    free(m1);
    free(m2);
    free(old);
    free(new);
}

/*
 * Inventories ingested some time after they were taken (a backfill): a key
 * listed by the older inventory and not by the newer one is gone, because no
 * event about it is newer than the newer inventory's creationTimestamp.
 */
static void
test_deletion_detection_backfill(void **state)
{
    struct datafile fa = {LINE("bf-src", "x", 1) LINE("bf-src", "y", 2), 0, NULL};
    struct datafile fb = {LINE("bf-src", "x", 1), 0, NULL};
    char *ma = make_manifest("bf-a", "bf-src", NULL, 1704067200000LL, &fa, 1); /* 2024-01-01 */
    char *mb = make_manifest("bf-b", "bf-src", NULL, 1704153600000LL, &fb, 1); /* 2024-01-02 */

    (void)state;
    ingest("bf-a", ma, 1, 2, SUMMARY(2, 0, 0));
    ingest("bf-b", mb, 1, 1, SUMMARY(0, 1, 1));
    want_records(base(), "bf-src", 0, "x=C1i* | y=C2i | y=Di");
    free(ma);
    free(mb);
}

/* ---- 8: resume after kill -9 ------------------------------------------------------- */

static void
test_resume_after_kill(void **state)
{
    static const char garbage[] = "not gzip: a staged file must not be fetched again\n";
    struct inst in;
    json_t *m = json_object();
    json_t *files = json_array();
    long long bytes_total = 0;
    char *text;
    char *id;
    char *staged_before;
    long long staged;
    long deadline;
    json_t *job;
    struct th_resp r;
    size_t fi;

    (void)state;
    inst_start(&in, "inv_resume", th_s3rver_endpoint());
    for (fi = 0; fi < RESUME_FILES; fi++) {
        struct buf out;
        char *key = th_strf("resume/data/%zu.csv.gz", fi);
        char *dir = th_strf("f%zu", fi);

        gen_data_file("resume-src", dir, RESUME_LINES, &out);
        put_data_file(key, &out, files);
        bytes_total += (long long)out.len;
        buf_release(&out);
        free(dir);
        free(key);
    }
    json_object_set_new(m, "sourceBucket", json_string("resume-src"));
    json_object_set_new(m, "destinationBucket", json_string("arn:aws:s3:::" DEST));
    json_object_set_new(m, "fileFormat", json_string("CSV"));
    json_object_set_new(m, "files", files);
    text = json_dumps(m, JSON_INDENT(2));
    put_manifest("resume", text);

    r = submit(th_ingestd_base(in.srv), DEST, "resume/manifest.json", "");
    want_status(&r, 202, "resume: submit");
    job = th_resp_json(&r);
    id = xstrdup(th_jstr(job, "id"));
    json_decref(job);
    th_resp_release(&r);

    /* kill -9 as soon as one data file is staged */
    deadline = th_now_ms() + JOB_TIMEOUT_MS;
    while ((staged = sql_int(in.url,
                             "SELECT count(*) FROM inventory_files WHERE job_id = '%s' AND staged",
                             id)) < 1) {
        if (th_now_ms() > deadline)
            fail_msg("resume: no file staged within %d ms", JOB_TIMEOUT_MS);
        th_sleep_ms(10);
    }
    th_ingestd_kill9(in.srv);
    staged =
        sql_int(in.url, "SELECT count(*) FROM inventory_files WHERE job_id = '%s' AND staged", id);
    print_message("resume: killed with %lld of %d files staged\n", staged, RESUME_FILES);
    if (staged < 1 || staged >= RESUME_FILES)
        fail_msg("resume: %lld files staged at the kill, want 1..%d", staged, RESUME_FILES - 1);
    assert_int_equal(count_objects(in.url), 0);
    staged_before = sql_str(in.url,
                            "SELECT string_agg(idx || ':' || records || ':' || bytes, ',' ORDER "
                            "BY idx) FROM inventory_files WHERE job_id = '%s' AND staged",
                            id);
    /* the staged files (any of them: files are staged in parallel) cannot be fetched
     * again: they are garbage now */
    for (fi = 0; fi < RESUME_FILES; fi++) {
        char *key;

        if (sql_int(in.url,
                    "SELECT count(*) FROM inventory_files WHERE job_id = '%s' AND idx = %zu AND "
                    "staged",
                    id, fi) != 1)
            continue;
        key = th_strf("resume/data/%zu.csv.gz", fi);
        put(DEST, key, garbage, sizeof(garbage) - 1);
        free(key);
    }
    th_ingestd_restart(in.srv);
    {
        /* after the restart: at least what was staged, no more than there is, the sizes */
        long long staged_records = sql_int(
            in.url, "SELECT sum(records) FROM inventory_files WHERE job_id = '%s' AND staged", id);
        char *path = th_strf(INV_PATH "/%s", id);

        r = th_get(th_ingestd_base(in.srv), path, NULL);
        want_status(&r, 200, "resume: GET the interrupted job");
        job = th_resp_json(&r);
        th_resp_release(&r);
        want_job(job, "running", RESUME_FILES, -1, -1, NULL, "resume: interrupted job");
        if (th_jint(job, "records") < staged_records ||
            th_jint(job, "records") > (long long)RESUME_FILES * RESUME_LINES ||
            th_jint(job, "bytes") > bytes_total || th_jint(job, "bytes_total") != bytes_total)
            fail_msg("resume: after the restart records %lld (%lld staged), bytes %lld of %lld, "
                     "bytes_total %lld",
                     (long long)th_jint(job, "records"), staged_records,
                     (long long)th_jint(job, "bytes"), bytes_total,
                     (long long)th_jint(job, "bytes_total"));
        json_decref(job);
        free(path);
    }
    r = submit(th_ingestd_base(in.srv), DEST, "resume/manifest.json", "?wait=true");
    job = th_resp_json(&r);
    if (r.status != 200 || strcmp(th_jstr(job, "id"), id) != 0) {
        char *all =
            sql_str(in.url, "SELECT string_agg(id || ' ' || status || ' files_done=' || files_done "
                            "|| ' started_at=' || started_at || ' ' || coalesce(error, ''), '; ' "
                            "ORDER BY created_at) FROM inventory_jobs");

        fail_msg("resume: the resubmission answered %ld with job %s, want 200 with the "
                 "interrupted job %s\n  body: %s\n  jobs: %s",
                 r.status, th_jstr(job, "id"), id, r.body, all);
    }
    th_resp_release(&r);
    {
        char *summary = th_strf("{\"created\":%lld,\"deleted\":0,\"unchanged\":0}",
                                (long long)RESUME_FILES * RESUME_LINES);

        want_job(job, "succeeded", RESUME_FILES, RESUME_FILES,
                 (long long)RESUME_FILES * RESUME_LINES, summary, "resumed job");
        free(summary);
    }
    assert_int_equal(th_jint(job, "bytes"), bytes_total);
    assert_int_equal(th_jint(job, "bytes_total"), bytes_total);
    json_decref(job);
    assert_int_equal(count_jobs(in.url), 1);
    /* nothing streamed is left over once every file is staged */
    assert_int_equal(sql_int(in.url,
                             "SELECT count(*) FROM inventory_files WHERE streamed_records <> 0 "
                             "OR streamed_bytes <> 0"),
                     0);
    assert_int_equal(sql_int(in.url, "SELECT count(*) FROM s3_objects WHERE bucket = 'resume-src'"),
                     (long long)RESUME_FILES * RESUME_LINES);
    assert_int_equal(sql_int(in.url, "SELECT count(*) FROM s3_objects WHERE bucket = "
                                     "'resume-src' AND is_current"),
                     (long long)RESUME_FILES * RESUME_LINES);
    {
        char *after =
            sql_str(in.url,
                    "SELECT string_agg(idx || ':' || records || ':' || bytes, ',' "
                    "ORDER BY idx) FROM inventory_files WHERE job_id = '%s' AND "
                    "idx IN (SELECT split_part(e, ':', 1)::int FROM unnest(string_to_array('%s', "
                    "',')) AS e)",
                    id, staged_before);

        if (strcmp(after, staged_before) != 0)
            fail_msg("resume: staged files changed: %s, before %s", after, staged_before);
        free(after);
    }
    assert_int_equal(sql_int(in.url,
                             "SELECT count(*) FROM inventory_files WHERE job_id = '%s' "
                             "AND staged",
                             id),
                     RESUME_FILES);
    assert_int_equal(
        sql_int(in.url,
                "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'inventory_staging%%'"),
        0);
    free(staged_before);
    free(id);
    free(text);
    json_decref(m);
    inst_free(&in);
}

/* ---- 9: S3 unreachable ----------------------------------------------------------- */

static void
test_s3_unreachable(void **state)
{
    static const char *const n1[] = {"s3", "unreach/manifest.json", NULL};
    static const char *const n2[] = {"s3", "unreach/data.csv.gz", NULL};
    struct inst in;
    char *ep = th_strf("http://127.0.0.1:%d", closed_port());
    json_t *job;
    long t;

    (void)state;
    inst_start(&in, "inv_unreach", ep);
    t = th_now_ms();
    job = submit_wait(th_ingestd_base(in.srv), DEST, "unreach/manifest.json", 502);
    t = th_now_ms() - t;
    print_message("unreachable: %ld ms: %s\n", t, th_jstr(job, "error"));
    want_failed(job, n1, "S3 unreachable, manifest");
    assert_true(t < 30000);
    json_decref(job);

    t = th_now_ms();
    job = submit_inline_wait(th_ingestd_base(in.srv),
                             "{\"destinationBucket\":\"" DEST "\",\"fileFormat\":\"CSV\","
                             "\"files\":[{\"key\":\"unreach/data.csv.gz\"}]}",
                             502);
    t = th_now_ms() - t;
    want_failed(job, n2, "S3 unreachable, data file");
    assert_int_equal(th_jint(job, "files_total"), 1);
    assert_int_equal(th_jint(job, "files_done"), 0);
    assert_true(t < 30000);
    json_decref(job);
    assert_int_equal(count_objects(in.url), 0);
    inst_free(&in);
    free(ep);
}

/* ---- 10: request errors, the job list ---------------------------------------------- */

static void
test_request_errors(void **state)
{
    static const char ok_body[] = "{\"bucket\":\"" DEST "\",\"key\":\"nothing/manifest.json\"}";
    long long jobs = count_jobs(th_pg_url(G.pg));
    struct th_resp r;

    (void)state;
    r = th_get(base(), INV_PATH "/not-a-uuid", NULL);
    want_problem(&r, 404, NULL, "GET job not-a-uuid");
    th_resp_release(&r);
    r = th_get(base(), INV_PATH "/6f1c1a52-5d2e-4f5b-9a57-1a2b3c4d5e6f", NULL);
    want_problem(&r, 404, NULL, "GET unknown job");
    th_resp_release(&r);
    r = th_post_json(base(), INV_PATH "?wait=maybe", ok_body, NULL);
    want_problem(&r, 400, "wait", "wait=maybe");
    th_resp_release(&r);
    r = th_post_json(base(), INV_PATH, "this is not JSON", NULL);
    want_problem(&r, 400, NULL, "body not JSON");
    th_resp_release(&r);
    r = th_post_json(base(), INV_PATH "?wait=true", "{\"bucket\":", NULL);
    want_problem(&r, 400, NULL, "truncated JSON");
    th_resp_release(&r);
    r = th_post_json(base(), INV_PATH, "{\"bucket\":\"" DEST "\"}", NULL);
    want_problem(&r, 422, NULL, "bucket without key");
    th_resp_release(&r);
    assert_int_equal(count_jobs(th_pg_url(G.pg)), jobs);

    /* a manifest that does not exist: the job fails, naming it (422 or 502: not specified) */
    {
        static const char *const needles[] = {"nothing/manifest.json", NULL};
        struct th_resp w = th_post_json(base(), INV_PATH "?wait=true", ok_body, NULL);
        json_t *job;

        if (w.status != 422 && w.status != 502)
            fail_msg("missing manifest: status %ld: %s", w.status, w.body);
        job = th_resp_json(&w);
        want_failed(job, needles, "missing manifest");
        json_decref(job);
        th_resp_release(&w);
    }
}

/* The job list of the shared instance: newest first, paged with limit/before. */
static void
test_job_list(void **state)
{
    struct th_resp r = th_get(base(), INV_PATH "?limit=1000", NULL);
    json_t *all;
    json_t *items;
    json_t *page;
    char *path;
    size_t i;
    size_t n;

    (void)state;
    want_status(&r, 200, "GET " INV_PATH);
    all = th_resp_json(&r);
    th_resp_release(&r);
    items = json_object_get(all, "items");
    n = json_array_size(items);
    assert_int_equal(n, count_jobs(th_pg_url(G.pg)));
    assert_true(n >= 3);
    for (i = 1; i < n; i++)
        if (strcmp(th_jstr(json_array_get(items, i - 1), "created_at"),
                   th_jstr(json_array_get(items, i), "created_at")) < 0)
            fail_msg("job list not newest first at %zu", i);
    /* page by one */
    r = th_get(base(), INV_PATH "?limit=1", NULL);
    want_status(&r, 200, "limit=1");
    page = th_resp_json(&r);
    th_resp_release(&r);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
    assert_true(
        json_equal(json_array_get(json_object_get(page, "items"), 0), json_array_get(items, 0)));
    path = th_strf(INV_PATH "?limit=1&before=%s", th_jstr(json_array_get(items, 0), "id"));
    assert_string_equal(th_jstr(page, "next"), path);
    json_decref(page);
    r = th_get(base(), path, NULL);
    want_status(&r, 200, path);
    page = th_resp_json(&r);
    th_resp_release(&r);
    assert_true(
        json_equal(json_array_get(json_object_get(page, "items"), 0), json_array_get(items, 1)));
    json_decref(page);
    free(path);
    json_decref(all);
}

/*
 * The lists paged by `before` (inventory jobs, merges) answer alike: the id
 * of nothing stored is 400 "before: unknown cursor", not an id is 400, and
 * the id of the oldest entry gives an empty last page.
 */
static void
test_list_cursors(void **state)
{
    static const char *const lists[] = {INV_PATH, "/api/v1/merges"};
    struct th_resp r;
    json_t *all;
    json_t *items;
    char *path;
    size_t i;

    (void)state;
    r = th_post_json(base(), "/api/v1/merges", "{}", NULL); /* stored, so there is one */
    want_status(&r, 200, "POST /api/v1/merges");
    th_resp_release(&r);
    for (i = 0; i < 2; i++) {
        path = th_strf("%s?before=00000000-0000-4000-8000-000000000000", lists[i]);
        r = th_get(base(), path, NULL);
        want_problem(&r, 400, "before: unknown cursor, no such ", path);
        th_resp_release(&r);
        free(path);
        path = th_strf("%s?before=yesterday", lists[i]);
        r = th_get(base(), path, NULL);
        want_problem(&r, 400, "before: must be a", path);
        th_resp_release(&r);
        free(path);
        path = th_strf("%s?limit=1000", lists[i]);
        r = th_get(base(), path, NULL);
        want_status(&r, 200, path);
        all = th_resp_json(&r);
        th_resp_release(&r);
        free(path);
        items = json_object_get(all, "items");
        assert_true(json_array_size(items) > 0);
        path = th_strf("%s?before=%s", lists[i],
                       th_jstr(json_array_get(items, json_array_size(items) - 1), "id"));
        json_decref(all);
        r = th_get(base(), path, NULL);
        want_status(&r, 200, path);
        all = th_resp_json(&r);
        th_resp_release(&r);
        want_json(all, "{\"items\": [], \"next\": null}", path);
        json_decref(all);
        free(path);
    }
}

/* ---- 11: progress while a data file streams, the records metric ------------------- */

/*
 * How the job object moves while one large data file streams (and a small
 * one beside it): polled every PROGRESS_POLL_MS, `records` and `bytes` must
 * take PROGRESS_VALUES values or more that only a file in flight can give
 * while the phase is staging, and never stand still longer than
 * PROGRESS_GAP_MS in between (progress is written every second; the bound
 * is 2 s plus two polls).
 */
#define PROGRESS_LINES 1500000
#define PROGRESS_SMALL_LINES 1000
#define PROGRESS_POLL_MS 200
#define PROGRESS_VALUES 2
#define PROGRESS_GAP_MS (2000 + 2 * PROGRESS_POLL_MS)
#define PROGRESS_TIMEOUT_MS 300000

static int
phase_rank(const char *phase)
{
    static const char *const order[] = {"queued", "staging", "applying", "done"};
    int i;

    for (i = 0; i < 4; i++)
        if (!strcmp(order[i], phase))
            return i;
    fail_msg("unknown phase %s", phase);
    return -1;
}

/* GET the job object (the caller's). */
static json_t *
get_job(const char *b, const char *id)
{
    char *path = th_strf(INV_PATH "/%s", id);
    struct th_resp r = th_get(b, path, NULL);
    json_t *j;

    want_status(&r, 200, path);
    j = th_resp_json(&r);
    th_resp_release(&r);
    free(path);
    return j;
}

/*
 * The value of the unlabelled sample `name` in GET /metrics once it equals
 * `want` (the runner counts a job right after the commit that a poll may see
 * first, so this waits up to 5 s); the last value seen. Fails when there is
 * no such sample by then.
 */
static double
scrape_value(const char *b, const char *name, double want)
{
    size_t n = strlen(name);
    double v = 0;
    int found = 0;
    long deadline = th_now_ms() + 5000;

    for (;;) {
        struct th_resp r = th_get(b, "/metrics", NULL);
        const char *p = r.body;

        want_status(&r, 200, "GET /metrics");
        for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            if (strncmp(p, name, n) == 0 && p[n] == ' ') {
                v = strtod(p + n + 1, NULL);
                found = 1;
                break;
            }
        }
        if ((found && v == want) || th_now_ms() > deadline) {
            if (!found)
                fail_msg("GET /metrics has no sample %s:\n%.3000s", name, r.body);
            th_resp_release(&r);
            return v;
        }
        th_resp_release(&r);
        th_sleep_ms(100);
    }
}

/* What the polls of one job saw. */
struct progress_seen {
    int rank;             /* of the phase last seen */
    int phases[4];        /* polls per phase */
    long long records;    /* last seen */
    long long bytes;      /* last seen */
    int record_values;    /* values only a streaming file gives, while staging */
    int byte_values;      /* the same for bytes */
    long changed_ms;      /* when records last changed while staging (0: not yet) */
    long max_gap_ms;      /* the longest records stood still while streaming */
    long long small_size; /* the small file's bytes */
};

/* Check one poll of the progress test's job against the previous ones. */
static void
progress_poll(struct progress_seen *ps, json_t *job, long long total, long long bytes_total)
{
    const char *status = th_jstr(job, "status");
    const char *phase = th_jstr(job, "phase");
    long long records = th_jint(job, "records");
    long long bytes = th_jint(job, "bytes");
    int rank = phase_rank(phase);
    char *text = dumps(job);

    if (strcmp(phase, phase_of(status, phase)) != 0)
        fail_msg("progress: phase %s with status %s: %s", phase, status, text);
    if (rank < ps->rank)
        fail_msg("progress: the phase went back to %s: %s", phase, text);
    if (records < ps->records || bytes < ps->bytes)
        fail_msg("progress: records %lld / bytes %lld after %lld / %lld: %s", records, bytes,
                 ps->records, ps->bytes, text);
    if (records > total || bytes > bytes_total)
        fail_msg("progress: more than %lld records / %lld bytes: %s", total, bytes_total, text);
    if (th_jint(job, "files_total") > 0 && th_jint(job, "bytes_total") != bytes_total)
        fail_msg("progress: bytes_total, want %lld: %s", bytes_total, text);
    if (rank == 1 && records != ps->records) {
        /* neither nothing, nor the small file alone, nor everything: a file in flight */
        if (records != PROGRESS_SMALL_LINES && records < total)
            ps->record_values++;
        if (ps->changed_ms && th_now_ms() - ps->changed_ms > ps->max_gap_ms)
            ps->max_gap_ms = th_now_ms() - ps->changed_ms;
        ps->changed_ms = records < total ? th_now_ms() : 0;
    }
    if (rank == 1 && bytes != ps->bytes && bytes != ps->small_size && bytes < bytes_total)
        ps->byte_values++;
    if (rank == 2 && (records != total || bytes != bytes_total ||
                      th_jint(job, "files_done") != th_jint(job, "files_total")))
        fail_msg("progress: applying before every file is staged: %s", text);
    ps->rank = rank;
    ps->phases[rank]++;
    ps->records = records;
    ps->bytes = bytes;
    free(text);
}

static void
test_progress_while_streaming(void **state)
{
    const long long total = PROGRESS_LINES + PROGRESS_SMALL_LINES;
    struct progress_seen ps;
    struct inst in;
    struct buf big;
    struct buf small;
    json_t *m = json_object();
    json_t *files = json_array();
    json_t *job;
    long long bytes_total;
    long deadline;
    long t0;
    char *text;
    char *id;
    char *summary;
    PGconn *lock;
    PGresult *res;
    struct th_resp r;

    (void)state;
    memset(&ps, 0, sizeof(ps));
    inst_start(&in, "inv_progress", th_s3rver_endpoint());
    gen_data_file("progress-src", "big", PROGRESS_LINES, &big);
    gen_data_file("progress-src", "small", PROGRESS_SMALL_LINES, &small);
    put_data_file("progress/data/0.csv.gz", &big, files);
    put_data_file("progress/data/1.csv.gz", &small, files);
    bytes_total = (long long)(big.len + small.len);
    ps.small_size = (long long)small.len;
    json_object_set_new(m, "sourceBucket", json_string("progress-src"));
    json_object_set_new(m, "destinationBucket", json_string("arn:aws:s3:::" DEST));
    json_object_set_new(m, "fileFormat", json_string("CSV"));
    json_object_set_new(m, "files", files);
    text = json_dumps(m, JSON_INDENT(2));
    put_manifest("progress", text);

    /* an event batch's share of the source bucket holds the final apply in "applying" */
    lock = PQconnectdb(in.url);
    if (PQstatus(lock) != CONNECTION_OK)
        fail_msg("progress: connecting: %s", PQerrorMessage(lock));
    res =
        PQexec(lock, "SELECT pg_advisory_lock_shared(" LOCK_S3_BUCKET("'progress-src'::text") ")");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("progress: locking the source bucket: %s", PQerrorMessage(lock));
    PQclear(res);

    r = submit(th_ingestd_base(in.srv), DEST, "progress/manifest.json", "");
    want_status(&r, 202, "progress: submit");
    job = th_resp_json(&r);
    th_resp_release(&r);
    want_job(job, "queued", 0, 0, 0, NULL, "progress: the 202 job");
    if (!json_is_null(json_object_get(job, "bytes_total")))
        fail_msg("progress: bytes_total before the manifest is read");
    progress_poll(&ps, job, total, bytes_total);
    id = xstrdup(th_jstr(job, "id"));
    json_decref(job);

    t0 = th_now_ms();
    deadline = t0 + PROGRESS_TIMEOUT_MS;
    for (;;) {
        job = get_job(th_ingestd_base(in.srv), id);
        progress_poll(&ps, job, total, bytes_total);
        if (ps.rank == 3)
            break;
        json_decref(job);
        if (ps.phases[2] == 3) /* seen applying long enough: let the apply go on */
            PQfinish(lock);
        if (th_now_ms() > deadline)
            fail_msg("progress: job %s not done after %d ms", id, PROGRESS_TIMEOUT_MS);
        th_sleep_ms(PROGRESS_POLL_MS);
    }
    print_message("progress: %d polls staging over %ld ms, %d records and %d bytes values of a "
                  "file in flight, records stood still %ld ms at most\n",
                  ps.phases[1], th_now_ms() - t0, ps.record_values, ps.byte_values, ps.max_gap_ms);
    summary = th_strf("{\"created\":%lld,\"deleted\":0,\"unchanged\":0}", total);
    want_job(job, "succeeded", 2, 2, total, summary, "progress: the job");
    assert_int_equal(th_jint(job, "bytes"), bytes_total);
    assert_int_equal(th_jint(job, "bytes_total"), bytes_total);
    if (!ps.phases[0] || !ps.phases[1] || ps.phases[2] < 3 || !ps.phases[3])
        fail_msg("progress: polls per phase queued %d, staging %d, applying %d, done %d",
                 ps.phases[0], ps.phases[1], ps.phases[2], ps.phases[3]);
    if (ps.record_values < PROGRESS_VALUES || ps.byte_values < PROGRESS_VALUES)
        fail_msg("progress: %d records and %d bytes values of a file in flight, want %d each",
                 ps.record_values, ps.byte_values, PROGRESS_VALUES);
    if (ps.max_gap_ms > PROGRESS_GAP_MS)
        fail_msg("progress: records stood still for %ld ms while staging", ps.max_gap_ms);
    /* the job's records, counted when it succeeded (this ingestd ran no other job) */
    assert_int_equal((long long)scrape_value(th_ingestd_base(in.srv),
                                             "ingestd_inventory_records_total", (double)total),
                     total);
    json_decref(job);
    free(summary);
    free(id);
    free(text);
    json_decref(m);
    buf_release(&big);
    buf_release(&small);
    inst_free(&in);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_versioned_json),
        cmocka_unit_test(test_sample_versioned_checksum),
        cmocka_unit_test(test_sample_unversioned_json),
        cmocka_unit_test(test_sample_unversioned_checksum),
        cmocka_unit_test(test_manifest_checksum_mismatch),
        cmocka_unit_test(test_manifest_checksum_trailing_space),
        cmocka_unit_test(test_data_md5_mismatch),
        cmocka_unit_test(test_columns_file_schema_reordered),
        cmocka_unit_test(test_columns_header_line),
        cmocka_unit_test(test_columns_default),
        cmocka_unit_test(test_columns_url_encoded_keys),
        cmocka_unit_test(test_multi_member_gzip),
        cmocka_unit_test(test_several_data_files),
        cmocka_unit_test(test_two_buckets_in_one_file),
        cmocka_unit_test(test_versions_across_files),
        cmocka_unit_test(test_keys_apart_unsorted_file),
        cmocka_unit_test(test_keys_apart_overlapping_files),
        cmocka_unit_test(test_inline_manifest),
        cmocka_unit_test(test_bad_inline_manifests),
        cmocka_unit_test(test_sample_parquet),
        cmocka_unit_test(test_sample_orc),
        cmocka_unit_test(test_sample_columnar_no_size),
        cmocka_unit_test(test_parquet_row_groups),
        cmocka_unit_test(test_orc_stripes),
        cmocka_unit_test(test_columnar_bad_files),
        cmocka_unit_test(test_inventory_then_events),
        cmocka_unit_test(test_events_then_inventory),
        cmocka_unit_test(test_reingest_keeps_changed_lines),
        cmocka_unit_test(test_deletion_detection),
        cmocka_unit_test(test_deletion_detection_backfill),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_job_list),
        cmocka_unit_test(test_list_cursors),
        cmocka_unit_test(test_s3_unreachable),
        cmocka_unit_test(test_resume_after_kill),
        cmocka_unit_test(test_progress_while_streaming),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
