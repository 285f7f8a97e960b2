/*
 * inventory_runner.c - the thread that runs inventory jobs
 *
 * A job: fetch the manifest (checking a .checksum's MD5 when that is what
 * was submitted), then for every data file not staged yet: a CSV file is
 * streamed from S3 through MD5 (of the stored bytes), gzip (when the key
 * ends in .gz) and the CSV decoder; an ORC or Parquet file is read from
 * its tail (jobs/inventory_ranged.h: the footer, then row group by row
 * group or stripe by stripe: by Range requests, or, when the manifest
 * gives its MD5, in order in one sequential GET through MD5;
 * ranged_file()). The lines go into a table
 * of the file's own, one transaction per file, up to
 * INGESTD_INVENTORY_STREAMS files at once; a file whose MD5 differs from the
 * manifest's is rolled back and fails the job. When every file is staged,
 * the catalog changes in one transaction. Memory stays bounded: nothing
 * holds a whole file.
 *
 * Threads (jobs/thread.h): the runner thread claims jobs and sleeps
 * RUNNER_POLL_MS between polls unless woken; for a job's data files it
 * starts up to `streams` stream threads and waits for them, writing every
 * PROGRESS_MS how far each file in flight has come (lines, stored bytes)
 * on its own connection, which is idle meanwhile: a stream's connection is
 * inside its file's transaction, whose rows nobody sees before it commits.
 * Each thread owns its database connection and S3 client; a CSV file's
 * decoded bytes are parsed, compared and staged on a second thread of its
 * stream, which uses the stream's connections while the stream thread
 * downloads, hashes and gunzips (byte_pipe.h; pipe_file()). On stop, stream
 * threads finish their current file and take no other; the job stays
 * running, resumable. A job that succeeds adds its records to
 * ingestd_inventory_records_total.
 *
 * A failed job's outcome is decided on enum err values, not on messages:
 * s3_fetch() turns every failure of S3 itself into ERR_UPSTREAM (502 for
 * ?wait=true), and anything else - manifest, checksums, data, database -
 * fails the job as ERR_UNPROCESSABLE (422).
 */
#include "jobs/inventory_runner.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clients/s3_client.h"
#include "codec/gzip_decoder.h"
#include "codec/inventory_decoder.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crashpoint.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/metrics.h"
#include "jobs/byte_pipe.h"
#include "jobs/inventory_ranged.h"
#include "jobs/thread.h"
#include "storage/db.h"
#include "storage/inventory_store.h"

#define MANIFEST_MAX_BYTES (16u << 20)
#define RUNNER_POLL_MS 2000L
#define PROGRESS_MS 1000L
#define STREAMS_MAX 16
#define MD5_LEN 16
#define MD5_HEX_LEN 32
/* Whole tries of a GET that S3 cut after its first body byte (the client retries only before). */
#define FETCH_TRIES 3
#define FETCH_RETRY_MS 250L

struct inventory_runner {
    struct thread *thread;
    struct s3_client_config s3; /* strings borrowed from the caller */
    int streams;
    long long merge_below;
    int max_parts;
    char *conninfo;
    struct metrics *metrics; /* borrowed; NULL: not counting */
};

/* ---- fetching from S3 ---- */

/* Between the S3 client and a consumer: remembers whether a failure was the consumer's. */
struct tap {
    byte_sink_fn sink;
    void *ctx;
    int failed;
};

static enum err
tap_feed(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct tap *t = ctx;
    enum err rc = t->sink(t->ctx, data, len, errbuf, errlen);

    t->failed = rc != ERR_OK;
    return rc;
}

/*
 * GET bucket/key into sink. Every failure of S3 itself (no answer, an error
 * answer, no such object: any enum err of s3_client.h) comes back as
 * ERR_UPSTREAM with the client's "s3 GET bucket/key: ..." message; a sink's
 * error comes back as it is.
 */
static enum err
s3_fetch(struct s3_client *s3, const char *bucket, const char *key, byte_sink_fn sink, void *ctx,
         char *errbuf, size_t errlen)
{
    struct tap tap = {sink, ctx, 0};
    enum err rc = s3_client_get(s3, bucket, key, tap_feed, &tap, NULL, errbuf, errlen);

    return rc && !tap.failed ? ERR_UPSTREAM : rc;
}

static enum err
sink_small(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct buf *b = ctx;

    if (buf_append(b, data, len))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "manifest larger than %u bytes",
                       MANIFEST_MAX_BYTES);
    return ERR_OK;
}

/*
 * A small object (manifest, checksum) into out, which the caller releases;
 * read again from the start when S3 failed after some of its bytes came.
 */
static enum err
fetch_small(struct s3_client *s3, const char *bucket, const char *key, struct buf *out,
            char *errbuf, size_t errlen)
{
    enum err rc;
    int i;

    for (i = 1;; i++) {
        buf_init(out, MANIFEST_MAX_BYTES);
        rc = s3_fetch(s3, bucket, key, sink_small, out, errbuf, errlen);
        if (rc != ERR_UPSTREAM || out->len == 0 || i == FETCH_TRIES)
            return rc;
        buf_release(out);
        clock_sleep_ms(FETCH_RETRY_MS * i);
    }
}

/* Lower-case hex of the MD5 that ctx has computed; "" when libcrypto fails. */
static void
md5_final_hex(EVP_MD_CTX *ctx, char out[MD5_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (!EVP_DigestFinal_ex(ctx, md, &n) || n != MD5_LEN)
        n = 0; /* "": a mismatch with any expected value */
    hex_encode(out, md, n);
}

static EVP_MD_CTX *
md5_new(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL))
        abort();
    return ctx;
}

static void
md5_hex(const void *data, size_t len, char out[MD5_HEX_LEN + 1])
{
    EVP_MD_CTX *ctx = md5_new();

    EVP_DigestUpdate(ctx, data, len);
    md5_final_hex(ctx, out);
    EVP_MD_CTX_free(ctx);
}

/* The manifest JSON of a job submitted as bucket/key (manifest.json or .checksum). */
static enum err
fetch_manifest(struct s3_client *s3, const char *bucket, const char *key, struct buf *json,
               char *errbuf, size_t errlen)
{
    size_t n = strlen(key);
    struct buf sum;
    struct buf sibling;
    char hex[MD5_HEX_LEN + 1];
    enum err rc;

    if (n < 9 || strcmp(key + n - 9, ".checksum") != 0)
        return fetch_small(s3, bucket, key, json, errbuf, errlen);
    buf_init(&sibling, 0);
    rc = fetch_small(s3, bucket, key, &sum, errbuf, errlen);
    if (rc)
        goto out;
    buf_append(&sibling, key, n - 9);
    buf_append_str(&sibling, ".json");
    rc = fetch_small(s3, bucket, sibling.data, json, errbuf, errlen);
    if (rc)
        goto out;
    while (sum.len && isspace((unsigned char)sum.data[sum.len - 1]))
        sum.data[--sum.len] = '\0';
    md5_hex(json->data ? json->data : "", json->len, hex);
    if (!sum.data || strcasecmp(sum.data, hex) != 0)
        rc = err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                     "manifest checksum mismatch: %s has %s, %s hashes to %s", key,
                     sum.data ? sum.data : "", sibling.data, hex);
out:
    buf_release(&sum);
    buf_release(&sibling);
    return rc;
}

/* ---- the data files of a job ---- */

/* What one stream thread has read of the file it stages: the runner writes it down. */
struct stream_slot {
    int idx; /* the file's index in the manifest, -1 between files */
    int64_t records;
    int64_t bytes;
};

/*
 * The pending files of a job, staged by up to r->streams threads at once,
 * each with its own database connection and S3 client, taking the next file
 * when done with one. The first failure stops the others after their
 * current file (which commits: staged files are kept for a resume), and so
 * does the runner's stop. Meanwhile the runner thread writes the progress of
 * the files in flight (watch_streams()).
 */
struct staging {
    struct inventory_runner *r;
    struct thread *runner; /* its stop interrupts the job */
    const char *job_id;
    const struct inventory_manifest *m;
    int64_t observed_ms;
    const int *pending;
    size_t npending;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t ended; /* a stream thread returned */
    size_t next;
    int interrupted;
    enum err rc;
    char errbuf[ERRBUF_SIZE];
    int running;  /* stream threads that have not returned */
    size_t slots; /* taken of slot[] */
    struct stream_slot slot[STREAMS_MAX];
};

/* ---- staging one data file ---- */

/*
 * A CSV file's decoded bytes go to its decoder on a thread of their own
 * (jobs/byte_pipe.h): the stream thread downloads, hashes and gunzips
 * while that thread parses, compares with the catalog and stages, so a
 * file alone (the last of a job) still keeps two cores busy. Chunks of
 * PIPE_CHUNK bytes, at most PIPE_DEPTH waiting.
 */
#define PIPE_CHUNK (256 * 1024)
#define PIPE_DEPTH 4

struct file_pipe {
    EVP_MD_CTX *md5;
    struct gzip_decoder *gz;   /* CSV only */
    struct byte_pipe *pipe;    /* CSV only, while it streams */
    struct inventory_csv *csv; /* CSV only: fed on the pipe's thread */
    struct inventory_stage *stage;
    int64_t bytes;  /* read so far (ORC, Parquet: the ranges fetched) */
    int64_t stored; /* the file's size, once known */
    int64_t records;
    struct staging *st; /* where the progress goes */
    struct stream_slot *slot;
};

static enum err
on_line(void *ctx, const struct inventory_line *line, char *errbuf, size_t errlen)
{
    struct file_pipe *p = ctx;

    p->records++;
    return inventory_stage_add(p->stage, line, errbuf, errlen);
}

/* Show the runner how many lines the file has given (the thread that decodes them). */
static void
publish_records(struct file_pipe *p)
{
    pthread_mutex_lock(&p->st->lock);
    p->slot->records = p->records;
    pthread_mutex_unlock(&p->st->lock);
}

/* ... and how many stored bytes it has read (the thread that reads them). */
static void
publish_bytes(struct file_pipe *p)
{
    pthread_mutex_lock(&p->st->lock);
    p->slot->bytes = p->bytes;
    pthread_mutex_unlock(&p->st->lock);
}

/* The pipe's sink, on its thread: decoded CSV bytes into the decoder. */
static enum err
on_csv_bytes(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct file_pipe *p = ctx;
    enum err rc = inventory_csv_feed(p->csv, data, len, errbuf, errlen);

    publish_records(p);
    return rc;
}

static enum err
on_decoded(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct file_pipe *p = ctx;

    return byte_pipe_write(p->pipe, data, len, errbuf, errlen);
}

static enum err
on_stored_bytes(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct file_pipe *p = ctx;
    enum err rc;

    EVP_DigestUpdate(p->md5, data, len);
    p->bytes += (int64_t)len;
    if (p->gz)
        rc = gzip_decoder_feed(p->gz, data, len, errbuf, errlen);
    else
        rc = byte_pipe_write(p->pipe, data, len, errbuf, errlen);
    publish_bytes(p);
    return rc;
}

/* Put the data file's key in front of a message of a decoder or the stage (S3's name it). */
static void
name_file(const struct inventory_file *f, enum err rc, char *errbuf, size_t errlen)
{
    char msg[ERRBUF_SIZE];

    if (!rc || rc == ERR_UPSTREAM)
        return;
    snprintf(msg, sizeof(msg), "%s: %s", f->key, errbuf);
    snprintf(errbuf, errlen, "%s", msg);
}

/* Stream a CSV file f through p into its stage. */
static enum err
pipe_file(struct s3_client *s3, const char *bucket, const struct inventory_file *f,
          struct file_pipe *p, char *errbuf, size_t errlen)
{
    char pipe_err[ERRBUF_SIZE];
    enum err prc;
    enum err rc;

    p->pipe = byte_pipe_start(on_csv_bytes, p, PIPE_CHUNK, PIPE_DEPTH);
    rc = s3_fetch(s3, bucket, f->key, on_stored_bytes, p, errbuf, errlen);
    if (!rc && p->gz)
        rc = gzip_decoder_finish(p->gz, errbuf, errlen);
    /* on an error here (the decoder's own, passed up, included) what waits is dropped */
    pipe_err[0] = '\0';
    prc = byte_pipe_finish(p->pipe, rc != ERR_OK, pipe_err, sizeof(pipe_err));
    p->pipe = NULL;
    if (!rc && prc)
        rc = err_set(prc, errbuf, errlen, "%s", pipe_err);
    /* the pipe's thread has ended: the decoder is this thread's again */
    if (!rc)
        rc = inventory_csv_finish(p->csv, errbuf, errlen);
    p->stored = p->bytes;
    name_file(f, rc, errbuf, errlen);
    return rc;
}

static void
on_range_bytes(void *ctx, size_t n)
{
    struct file_pipe *p = ctx;

    p->bytes += (int64_t)n;
    publish_records(p);
    publish_bytes(p);
}

static enum err
on_hashed_bytes(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct file_pipe *p = ctx;

    (void)errbuf;
    (void)errlen;
    EVP_DigestUpdate(p->md5, data, len);
    return ERR_OK;
}

/*
 * An ORC or Parquet file f into p's stage, read from its tail
 * (jobs/inventory_ranged.h): the footer, then each row group or stripe.
 *
 * The MD5 the manifest gives is of the whole object, which Range requests
 * for the units would not cover in order (nor wholly: Parquet's only the
 * bound columns). When the manifest gives one, the units are read in order
 * instead: after the tail, one sequential GET of the object streams every
 * byte through MD5 while the row group or stripe in hand gathers and is
 * decoded when complete - one read of the object, as for CSV files, and
 * still one unit in memory at a time. The check is made after the
 * decoding, inside the file's staging transaction, so a mismatch rolls the
 * file back like a CSV one.
 */
static enum err
ranged_file(struct s3_client *s3, const char *bucket, enum inventory_format format,
            const struct inventory_file *f, struct file_pipe *p, char *errbuf, size_t errlen)
{
    struct inventory_ranged io;
    uint64_t size = 0;
    enum err rc;

    memset(&io, 0, sizeof(io));
    io.s3 = s3;
    io.bucket = bucket;
    io.file = f;
    io.format = format;
    io.on_line = on_line;
    io.line_ctx = p;
    io.on_bytes = on_range_bytes;
    io.bytes_ctx = p;
    if (f->md5_hex) {
        io.on_stored = on_hashed_bytes;
        io.stored_ctx = p;
    }
    rc = inventory_ranged_decode(&io, &size, errbuf, errlen);
    p->stored = (int64_t)size;
    name_file(f, rc, errbuf, errlen);
    return rc;
}

/*
 * Stage file idx of st's manifest on db, its progress shown in slot, compared
 * with the catalog on cmp unless NULL; *out_of_order: it was compared and
 * its keys are not in order.
 */
static enum err
stage_file(struct staging *st, struct stream_slot *slot, struct db *db, struct db *cmp,
           struct s3_client *s3, int idx, int *out_of_order, char *errbuf, size_t errlen)
{
    const struct inventory_manifest *m = st->m;
    const struct inventory_file *f = &m->files[idx];
    struct file_pipe p;
    size_t klen = strlen(f->key);
    char hex[MD5_HEX_LEN + 1];
    enum err rc;

    memset(&p, 0, sizeof(p));
    p.st = st;
    p.slot = slot;
    p.md5 = md5_new();
    if (m->format == INVENTORY_CSV) {
        p.csv = inventory_csv_new(m->file_schema, on_line, &p);
        if (klen > 3 && strcmp(f->key + klen - 3, ".gz") == 0)
            p.gz = gzip_decoder_new(0, on_decoded, &p);
    }
    *out_of_order = 0;
    rc = inventory_stage_begin(db, cmp, st->job_id, idx, st->observed_ms, &p.stage, errbuf, errlen);
    if (rc)
        goto out;
    if (m->format == INVENTORY_CSV)
        rc = pipe_file(s3, m->destination_bucket, f, &p, errbuf, errlen);
    else
        rc = ranged_file(s3, m->destination_bucket, m->format, f, &p, errbuf, errlen);
    if (!rc && f->md5_hex) {
        md5_final_hex(p.md5, hex);
        if (strcasecmp(hex, f->md5_hex) != 0)
            rc = err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                         "MD5 mismatch for %s: manifest says %s, stored bytes hash to %s", f->key,
                         f->md5_hex, hex);
    }
    if (rc) {
        *out_of_order = inventory_stage_out_of_order(p.stage);
        inventory_stage_abort(p.stage);
        goto out;
    }
    rc = inventory_stage_commit(p.stage, p.stored, errbuf, errlen);
out:
    EVP_MD_CTX_free(p.md5);
    gzip_decoder_free(p.gz);
    inventory_csv_free(p.csv);
    return rc;
}

/*
 * stage_file, tried again from scratch (its stage was rolled back) when S3
 * failed, e.g. a connection cut mid-body, which the S3 client does not retry,
 * and without comparing when the file's keys turned out not to be in order.
 */
static enum err
stage_tries(struct staging *st, struct stream_slot *slot, struct db *db, struct db *cmp,
            struct s3_client *s3, int idx, char *errbuf, size_t errlen)
{
    enum err rc;
    int unsorted;
    int i;

    for (i = 1;; i++) {
        errbuf[0] = '\0';
        rc = stage_file(st, slot, db, cmp, s3, idx, &unsorted, errbuf, errlen);
        if (rc && unsorted) {
            log_json(LOG_INFO, "inventory data file staged again without comparing",
                     json_pack("{s:s,s:s,s:s}", "job", st->job_id, "key", st->m->files[idx].key,
                               "reason", errbuf));
            cmp = NULL;
            i--;
            continue;
        }
        if (rc != ERR_UPSTREAM || i == FETCH_TRIES || thread_stopping(st->runner))
            return rc;
        log_json(LOG_WARN, "inventory data file read again",
                 json_pack("{s:s,s:s,s:i,s:s}", "job", st->job_id, "key", st->m->files[idx].key,
                           "try", i + 1, "error", errbuf));
        clock_sleep_ms(FETCH_RETRY_MS * i);
    }
}

/* ---- stream threads ---- */

/*
 * The index in st->pending of the next file to stage, or -1 when there is
 * none to take; slot shows that file from now on (-1: none).
 */
static long
next_file(struct staging *st, struct stream_slot *slot)
{
    long i = -1;

    pthread_mutex_lock(&st->lock);
    if (!st->rc && !st->interrupted && st->next < st->npending && thread_stopping(st->runner))
        st->interrupted = 1;
    if (!st->rc && !st->interrupted && st->next < st->npending)
        i = (long)st->next++;
    slot->idx = i < 0 ? -1 : st->pending[i];
    slot->records = 0;
    slot->bytes = 0;
    pthread_mutex_unlock(&st->lock);
    return i;
}

static void
stream_main(struct thread *t, void *arg)
{
    struct staging *st = arg;
    struct db *db = db_new(st->r->conninfo);
    struct db *cmp = db_new(st->r->conninfo); /* reads the catalog beside the file */
    struct s3_client *s3 = s3_client_new(&st->r->s3);
    struct stream_slot *slot;
    char errbuf[ERRBUF_SIZE];
    long i;
    enum err rc;

    (void)t; /* runs to the end of the list: the runner's stop is what counts */
    pthread_mutex_lock(&st->lock);
    slot = &st->slot[st->slots++];
    pthread_mutex_unlock(&st->lock);
    for (;;) {
        i = next_file(st, slot);
        if (i < 0)
            break;
        rc = stage_tries(st, slot, db, cmp, s3, st->pending[i], errbuf, sizeof(errbuf));
        if (!rc)
            continue;
        pthread_mutex_lock(&st->lock);
        if (!st->rc) {
            st->rc = rc;
            snprintf(st->errbuf, sizeof(st->errbuf), "%s", errbuf);
        }
        slot->idx = -1;
        pthread_mutex_unlock(&st->lock);
        break;
    }
    s3_client_free(s3);
    db_free(cmp);
    db_free(db);
    pthread_mutex_lock(&st->lock);
    st->running--;
    pthread_cond_signal(&st->ended);
    pthread_mutex_unlock(&st->lock);
}

/*
 * On the runner thread while the streams run: every PROGRESS_MS, write what
 * the files in flight have read (when it changed) on the runner's own
 * connection (the streams' are inside their files' transactions), until
 * every stream returned. A failed write is logged and the job goes on:
 * progress is only shown.
 */
static void
watch_streams(struct staging *st, struct db *db)
{
    struct stream_slot written[STREAMS_MAX];
    int idx[STREAMS_MAX];
    int64_t records[STREAMS_MAX];
    int64_t bytes[STREAMS_MAX];
    char errbuf[ERRBUF_SIZE];
    struct timespec deadline;
    size_t n;
    size_t i;

    memset(written, 0, sizeof(written));
    pthread_mutex_lock(&st->lock);
    while (st->running > 0) {
        deadline = clock_deadline_ms(PROGRESS_MS);
        while (st->running > 0 &&
               pthread_cond_timedwait(&st->ended, &st->lock, &deadline) != ETIMEDOUT)
            ;
        if (st->running == 0)
            break;
        n = 0;
        for (i = 0; i < st->slots; i++) {
            const struct stream_slot *s = &st->slot[i];

            if (s->idx < 0 || (s->idx == written[i].idx && s->records == written[i].records &&
                               s->bytes == written[i].bytes))
                continue;
            written[i] = *s;
            idx[n] = s->idx;
            records[n] = s->records;
            bytes[n++] = s->bytes;
        }
        pthread_mutex_unlock(&st->lock);
        if (inventory_store_progress(db, st->job_id, idx, records, bytes, n, errbuf,
                                     sizeof(errbuf)))
            log_json(LOG_WARN, "cannot record the progress of an inventory job",
                     json_pack("{s:s,s:s}", "job", st->job_id, "error", errbuf));
        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
}

static enum err
stage_files(struct inventory_runner *r, struct thread *runner, struct db *db, const char *job_id,
            const struct inventory_manifest *m, int64_t observed_ms, const int *pending,
            size_t npending, int *interrupted, char *errbuf, size_t errlen)
{
    struct staging st;
    struct thread *streams;
    size_t n = (size_t)r->streams;

    memset(&st, 0, sizeof(st));
    st.r = r;
    st.runner = runner;
    st.job_id = job_id;
    st.m = m;
    st.observed_ms = observed_ms;
    st.pending = pending;
    st.npending = npending;
    pthread_mutex_init(&st.lock, NULL);
    pthread_cond_init(&st.ended, NULL);
    if (n > npending)
        n = npending;
    if (n > STREAMS_MAX)
        n = STREAMS_MAX;
    st.running = (int)n;
    streams = thread_start((int)n, stream_main, &st);
    watch_streams(&st, db);
    thread_join(streams);
    pthread_cond_destroy(&st.ended);
    pthread_mutex_destroy(&st.lock);
    *interrupted = st.interrupted;
    if (st.rc)
        snprintf(errbuf, errlen, "%s", st.errbuf);
    return st.rc;
}

/* ---- a job ---- */

/*
 * Record the failure of a job. Its kind is ERR_UPSTREAM when S3 failed it,
 * else ERR_UNPROCESSABLE: ?wait=true answers 502 or 422. storage/ derives
 * that status from the message for now: "s3 " in front, which every message
 * of the S3 client (hence of every ERR_UPSTREAM) has, means 502.
 */
static void
job_fail(struct db *db, const char *job_id, enum err rc, char *errbuf, size_t errlen)
{
    enum err kind = rc == ERR_UPSTREAM ? ERR_UPSTREAM : ERR_UNPROCESSABLE;
    char ignore[ERRBUF_SIZE];

    if (!errbuf[0])
        snprintf(errbuf, errlen, "%s error", err_name(rc));
    log_json(LOG_WARN, "inventory job failed",
             json_pack("{s:s,s:s,s:s}", "job", job_id, "kind", err_name(kind), "error", errbuf));
    if (inventory_store_fail(db, job_id, kind, errbuf, ignore, sizeof(ignore)))
        log_json(LOG_ERROR, "cannot record the failure of an inventory job",
                 json_pack("{s:s}", "job", job_id));
}

/* The manifest of claim c parsed into m; stored with the job when it came from S3. */
static enum err
job_manifest(struct db *db, struct s3_client *s3, const struct inventory_claim *c,
             struct inventory_manifest *m, char *errbuf, size_t errlen)
{
    struct buf json;
    enum err rc = ERR_OK;

    buf_init(&json, 0);
    if (c->manifest)
        buf_append_str(&json, c->manifest);
    else
        rc = fetch_manifest(s3, c->bucket, c->key, &json, errbuf, errlen);
    if (!rc)
        rc = inventory_manifest_parse(json.data ? json.data : "", json.len, m, errbuf, errlen);
    if (!rc && !c->manifest)
        rc = inventory_store_set_manifest(db, c->id, json.data, m, errbuf, errlen);
    buf_release(&json);
    return rc;
}

/* Run claimed job c to success, failure, or (when t stops) a resumable interruption. */
static void
run_job(struct inventory_runner *r, struct thread *t, struct db *db, struct s3_client *s3,
        const struct inventory_claim *c)
{
    struct inventory_manifest m;
    int *pending = NULL;
    size_t npending = 0;
    int64_t observed_ms = 0;
    int64_t records = 0;
    int interrupted = 0;
    char errbuf[ERRBUF_SIZE] = "";
    long long t0 = clock_mono_ms();
    enum err rc;

    memset(&m, 0, sizeof(m));
    log_json(LOG_INFO, "inventory job started", json_pack("{s:s}", "job", c->id));
    rc = job_manifest(db, s3, c, &m, errbuf, sizeof(errbuf));
    if (!rc)
        rc = inventory_store_pending_files(db, c->id, &pending, &npending, errbuf, sizeof(errbuf));
    if (!rc)
        rc = inventory_store_observed_ms(db, c->id, &m, &observed_ms, errbuf, sizeof(errbuf));
    if (!rc && npending)
        rc = stage_files(r, t, db, c->id, &m, observed_ms, pending, npending, &interrupted, errbuf,
                         sizeof(errbuf));
    if (!rc && interrupted) {
        log_json(LOG_INFO, "inventory job interrupted by shutdown",
                 json_pack("{s:s}", "job", c->id));
        goto out; /* stays running; resumable when claimed or submitted again */
    }
    crashpoint("inventory.after_staging");
    if (!rc)
        rc = inventory_store_apply(db, c->id, &m, r->merge_below, r->max_parts, &records, errbuf,
                                   sizeof(errbuf));
    if (rc) {
        job_fail(db, c->id, rc, errbuf, sizeof(errbuf));
        goto out;
    }
    crashpoint("inventory.after_commit");
    metrics_add(r->metrics, M_INVENTORY_RECORDS, NULL, (double)records);
    log_json(LOG_INFO, "inventory job succeeded",
             json_pack("{s:s,s:I,s:I}", "job", c->id, "records", (json_int_t)records, "duration_ms",
                       (json_int_t)(clock_mono_ms() - t0)));
out:
    free(pending);
    inventory_manifest_release(&m);
}

/* ---- the runner thread ---- */

static void
runner_main(struct thread *t, void *arg)
{
    struct inventory_runner *r = arg;
    struct db *db = db_new(r->conninfo);
    struct s3_client *s3 = s3_client_new(&r->s3);
    struct inventory_claim claim;
    char errbuf[ERRBUF_SIZE];

    while (!thread_stopping(t)) {
        if (inventory_store_claim(db, &claim, errbuf, sizeof(errbuf)) == ERR_OK) {
            run_job(r, t, db, s3, &claim);
            inventory_store_release(db, claim.id, errbuf, sizeof(errbuf));
            inventory_claim_release(&claim);
            continue;
        }
        /* nothing to do (or no database): wait for a wake-up or the next poll */
        thread_wait(t, RUNNER_POLL_MS);
    }
    s3_client_free(s3);
    db_free(db);
}

struct inventory_runner *
inventory_runner_start(const char *conninfo, const struct s3_client_config *s3, int streams,
                       long long merge_below, int max_parts, struct metrics *metrics)
{
    struct inventory_runner *r = xcalloc(1, sizeof(*r));

    r->metrics = metrics;
    r->s3 = *s3;
    r->merge_below = merge_below;
    r->max_parts = max_parts;
    r->streams = streams > 0 ? streams : 1;
    r->conninfo = xstrdup(conninfo);
    r->thread = thread_start(1, runner_main, r);
    return r;
}

void
inventory_runner_wake(struct inventory_runner *r)
{
    if (r)
        thread_wake(r->thread);
}

void
inventory_runner_stop(struct inventory_runner *r)
{
    if (!r)
        return;
    thread_stop(r->thread);
    free(r->conninfo);
    free(r);
}
