/*
 * inventory_runner.c - the thread that runs inventory jobs
 *
 * A job: fetch the manifest (checking a .checksum's MD5 when that is what
 * was submitted), then for every data file not staged yet: stream it from
 * S3 through MD5 (of the stored bytes), gzip (when the key ends in .gz) and
 * the CSV decoder into a table of its own, one transaction per file, up to
 * INGESTD_INVENTORY_STREAMS files at once; a file whose MD5 differs from the
 * manifest's is rolled back and fails the job. When every file is staged,
 * the catalog changes in one transaction. Memory stays bounded: nothing
 * holds a whole file.
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
#include <time.h>

#include "core/buf.h"
#include "codec/gzip_decoder.h"
#include "core/clock.h"
#include "core/log.h"
#include "storage/db.h"
#include "storage/inventory_store.h"
#include "clients/s3_client.h"
#include "codec/inventory_decoder.h"

#define MANIFEST_MAX_BYTES (16u << 20)

struct inventory_runner {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
    int woken;
    int streams;
    long long merge_below;
    char *conninfo;
};

/* ---- fetching small objects (manifests, checksums) ---- */

static enum err
sink_small(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct buf *b = ctx;

    if (buf_append(b, data, len))
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "manifest larger than %u bytes",
                       MANIFEST_MAX_BYTES);
    return ERR_OK;
}

static enum err
fetch_small(struct s3_client *s3, const char *bucket, const char *key, struct buf *out,
            char *errbuf, size_t errlen)
{
    buf_init(out, MANIFEST_MAX_BYTES);
    return s3_client_get(s3, bucket, key, sink_small, out, NULL, errbuf, errlen);
}

static void
md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char md[16];
    unsigned int n = 0;
    unsigned int i;

    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    for (i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The manifest JSON of a job submitted as bucket/key (manifest.json or .checksum). */
static enum err
fetch_manifest(struct s3_client *s3, const char *bucket, const char *key, struct buf *json,
               char *errbuf, size_t errlen)
{
    size_t n = strlen(key);
    struct buf sum;
    struct buf sibling;
    char hex[33];
    const char *dot;
    enum err rc;

    if (n < 9 || strcmp(key + n - 9, ".checksum") != 0)
        return fetch_small(s3, bucket, key, json, errbuf, errlen);
    rc = fetch_small(s3, bucket, key, &sum, errbuf, errlen);
    if (rc) {
        buf_release(&sum);
        return rc;
    }
    buf_init(&sibling, 0);
    dot = strrchr(key, '.');
    buf_append(&sibling, key, (size_t)(dot - key));
    buf_append_str(&sibling, ".json");
    rc = fetch_small(s3, bucket, sibling.data, json, errbuf, errlen);
    if (!rc) {
        while (sum.len && isspace((unsigned char)sum.data[sum.len - 1]))
            sum.data[--sum.len] = '\0';
        md5_hex(json->data ? json->data : "", json->len, hex);
        if (!sum.data || strcasecmp(sum.data, hex) != 0)
            rc = err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                         "manifest checksum mismatch: %s has %s, %s hashes to %s", key,
                         sum.data ? sum.data : "", sibling.data, hex);
    }
    buf_release(&sum);
    buf_release(&sibling);
    return rc;
}

/* ---- staging one data file ---- */

struct file_pipe {
    EVP_MD_CTX *md5;
    struct gzip_decoder *gz;
    struct inventory_csv *csv;
    struct inventory_stage *stage;
    int64_t bytes;
};

static enum err
on_line(void *ctx, const struct inventory_line *line, char *errbuf, size_t errlen)
{
    struct file_pipe *p = ctx;

    return inventory_stage_add(p->stage, line, errbuf, errlen);
}

static enum err
on_decoded(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct file_pipe *p = ctx;

    return inventory_csv_feed(p->csv, data, len, errbuf, errlen);
}

static enum err
on_stored_bytes(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct file_pipe *p = ctx;

    EVP_DigestUpdate(p->md5, data, len);
    p->bytes += (int64_t)len;
    if (p->gz)
        return gzip_decoder_feed(p->gz, data, len, errbuf, errlen);
    return inventory_csv_feed(p->csv, data, len, errbuf, errlen);
}

static enum err
stage_file(struct db *db, struct s3_client *s3, const char *job_id,
           const struct inventory_manifest *m, int idx, int64_t observed_ms, char *errbuf,
           size_t errlen)
{
    const struct inventory_file *f = &m->files[idx];
    struct file_pipe p;
    size_t klen = strlen(f->key);
    unsigned char md[16];
    unsigned int mdlen = 0;
    char hex[33];
    unsigned int i;
    enum err rc;

    memset(&p, 0, sizeof(p));
    p.md5 = EVP_MD_CTX_new();
    if (!p.md5 || !EVP_DigestInit_ex(p.md5, EVP_md5(), NULL))
        abort();
    p.csv = inventory_csv_new(m->file_schema, on_line, &p);
    if (klen > 3 && strcmp(f->key + klen - 3, ".gz") == 0)
        p.gz = gzip_decoder_new(0, on_decoded, &p);
    rc = inventory_stage_begin(db, job_id, idx, observed_ms, &p.stage, errbuf, errlen);
    if (rc)
        goto out;
    rc =
        s3_client_get(s3, m->destination_bucket, f->key, on_stored_bytes, &p, NULL, errbuf, errlen);
    if (!rc && p.gz)
        rc = gzip_decoder_finish(p.gz, errbuf, errlen);
    if (!rc)
        rc = inventory_csv_finish(p.csv, errbuf, errlen);
    if (!rc && f->md5_hex) {
        EVP_DigestFinal_ex(p.md5, md, &mdlen);
        for (i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (strcasecmp(hex, f->md5_hex) != 0)
            rc = err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                         "MD5 mismatch for %s: manifest says %s, stored bytes hash to %s", f->key,
                         f->md5_hex, hex);
    }
    if (rc) {
        char prefixed[ERRBUF_SIZE];

        inventory_stage_abort(p.stage);
        p.stage = NULL;
        if (rc != ERR_UNAVAILABLE && rc != ERR_NOT_FOUND && strncmp(errbuf, "s3 ", 3) != 0 &&
            strncmp(errbuf, "MD5", 3) != 0) {
            snprintf(prefixed, sizeof(prefixed), "%s: %s", f->key, errbuf);
            snprintf(errbuf, errlen, "%s", prefixed);
        }
        goto out;
    }
    rc = inventory_stage_commit(p.stage, p.bytes, errbuf, errlen);
    p.stage = NULL;
out:
    EVP_MD_CTX_free(p.md5);
    gzip_decoder_free(p.gz);
    inventory_csv_free(p.csv);
    return rc;
}

/* ---- a job ---- */

static int
runner_stopping(struct inventory_runner *r)
{
    int s;

    pthread_mutex_lock(&r->lock);
    s = r->stopping;
    pthread_mutex_unlock(&r->lock);
    return s;
}

/*
 * The pending files of a job, staged by up to r->streams threads at once,
 * each with its own database connection and S3 client, taking the next file
 * when done with one. The first failure stops the others after their
 * current file (which commits: staged files are kept for a resume).
 */
struct staging {
    struct inventory_runner *r;
    const char *job_id;
    const struct inventory_manifest *m;
    int64_t observed_ms;
    const int *pending;
    size_t npending;
    pthread_mutex_t lock;
    size_t next;
    int interrupted;
    enum err rc;
    char errbuf[ERRBUF_SIZE];
};

static void *
stream_main(void *arg)
{
    struct staging *st = arg;
    struct db *db = db_new(st->r->conninfo);
    struct s3_client_config cfg;
    struct s3_client *s3;
    char errbuf[ERRBUF_SIZE];

    s3_client_config_from_env(&cfg);
    s3 = s3_client_new(&cfg);
    for (;;) {
        size_t i;
        enum err rc;

        pthread_mutex_lock(&st->lock);
        if (!st->rc && !st->interrupted && st->next < st->npending && runner_stopping(st->r))
            st->interrupted = 1;
        if (st->rc || st->interrupted || st->next >= st->npending) {
            pthread_mutex_unlock(&st->lock);
            break;
        }
        i = st->next++;
        pthread_mutex_unlock(&st->lock);
        errbuf[0] = '\0';
        rc = stage_file(db, s3, st->job_id, st->m, st->pending[i], st->observed_ms, errbuf,
                        sizeof(errbuf));
        if (rc) {
            pthread_mutex_lock(&st->lock);
            if (!st->rc) {
                st->rc = rc;
                snprintf(st->errbuf, sizeof(st->errbuf), "%s", errbuf);
            }
            pthread_mutex_unlock(&st->lock);
            break;
        }
    }
    s3_client_free(s3);
    db_free(db);
    return NULL;
}

static enum err
stage_files(struct inventory_runner *r, const char *job_id, const struct inventory_manifest *m,
            int64_t observed_ms, const int *pending, size_t npending, int *interrupted,
            char *errbuf, size_t errlen)
{
    struct staging st;
    pthread_t threads[16];
    size_t n = (size_t)r->streams;
    size_t i;

    memset(&st, 0, sizeof(st));
    st.r = r;
    st.job_id = job_id;
    st.m = m;
    st.observed_ms = observed_ms;
    st.pending = pending;
    st.npending = npending;
    pthread_mutex_init(&st.lock, NULL);
    if (n > npending)
        n = npending;
    if (n > sizeof(threads) / sizeof(threads[0]))
        n = sizeof(threads) / sizeof(threads[0]);
    for (i = 0; i < n; i++)
        if (pthread_create(&threads[i], NULL, stream_main, &st) != 0)
            abort();
    for (i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&st.lock);
    *interrupted = st.interrupted;
    if (st.rc)
        snprintf(errbuf, errlen, "%s", st.errbuf);
    return st.rc;
}

static void
run_job(struct inventory_runner *r, struct db *db, struct s3_client *s3, struct inventory_claim *c)
{
    struct inventory_manifest m;
    struct buf json;
    int *pending = NULL;
    size_t npending = 0;
    int64_t observed_ms = 0;
    int interrupted = 0;
    char errbuf[ERRBUF_SIZE];
    char ignore[ERRBUF_SIZE];
    long long t0 = clock_mono_ms();
    enum err rc = ERR_OK;

    memset(&m, 0, sizeof(m));
    buf_init(&json, 0);
    errbuf[0] = '\0';
    log_json(LOG_INFO, "inventory job started", json_pack("{s:s}", "job", c->id));
    if (c->manifest) {
        buf_append_str(&json, c->manifest);
    } else {
        rc = fetch_manifest(s3, c->bucket, c->key, &json, errbuf, sizeof(errbuf));
        if (rc == ERR_NOT_FOUND || rc == ERR_UNAVAILABLE || rc == ERR_BAD_INPUT) {
            if (strncmp(errbuf, "s3 ", 3) != 0) {
                char tmp[ERRBUF_SIZE];

                snprintf(tmp, sizeof(tmp), "s3 %.*s", (int)sizeof(tmp) - 4, errbuf);
                snprintf(errbuf, sizeof(errbuf), "%s", tmp);
            }
        }
    }
    if (!rc)
        rc = inventory_manifest_parse(json.data ? json.data : "", json.len, &m, errbuf,
                                      sizeof(errbuf));
    if (!rc && !c->manifest)
        rc = inventory_store_set_manifest(db, c->id, json.data, &m, errbuf, sizeof(errbuf));
    if (!rc)
        rc = inventory_store_pending_files(db, c->id, &pending, &npending, errbuf, sizeof(errbuf));
    if (!rc)
        rc = inventory_store_observed_ms(db, c->id, &m, &observed_ms, errbuf, sizeof(errbuf));
    if (!rc && npending)
        rc = stage_files(r, c->id, &m, observed_ms, pending, npending, &interrupted, errbuf,
                         sizeof(errbuf));
    if (!rc && interrupted) {
        log_json(LOG_INFO, "inventory job interrupted by shutdown",
                 json_pack("{s:s}", "job", c->id));
        goto out; /* stays running; resumable when claimed or submitted again */
    }
    if (!rc)
        rc = inventory_store_apply(db, c->id, &m, r->merge_below, errbuf, sizeof(errbuf));
    if (rc) {
        if (rc == ERR_INTERNAL && !errbuf[0])
            snprintf(errbuf, sizeof(errbuf), "internal error");
        log_json(LOG_WARN, "inventory job failed",
                 json_pack("{s:s,s:s}", "job", c->id, "error", errbuf));
        if (inventory_store_fail(db, c->id,
                                 strncmp(errbuf, "s3 ", 3) == 0 ? ERR_UPSTREAM : ERR_UNPROCESSABLE,
                                 errbuf, ignore, sizeof(ignore)))
            log_json(LOG_ERROR, "cannot record the failure of an inventory job",
                     json_pack("{s:s}", "job", c->id));
    } else {
        log_json(LOG_INFO, "inventory job succeeded",
                 json_pack("{s:s,s:I}", "job", c->id, "duration_ms",
                           (json_int_t)(clock_mono_ms() - t0)));
    }
out:
    free(pending);
    inventory_manifest_release(&m);
    buf_release(&json);
}

static void *
runner_main(void *arg)
{
    struct inventory_runner *r = arg;
    struct db *db = db_new(r->conninfo);
    struct s3_client_config cfg;
    struct s3_client *s3;
    struct inventory_claim claim;
    char errbuf[ERRBUF_SIZE];

    s3_client_config_from_env(&cfg);
    s3 = s3_client_new(&cfg);
    while (!runner_stopping(r)) {
        enum err rc = inventory_store_claim(db, &claim, errbuf, sizeof(errbuf));

        if (rc == ERR_OK) {
            run_job(r, db, s3, &claim);
            inventory_store_release(db, claim.id, errbuf, sizeof(errbuf));
            inventory_claim_release(&claim);
            continue;
        }
        /* nothing to do (or no database): wait for a wake-up or the next poll */
        pthread_mutex_lock(&r->lock);
        if (!r->stopping && !r->woken) {
            struct timespec deadline;

            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_sec += 2;
            pthread_cond_timedwait(&r->cond, &r->lock, &deadline);
        }
        r->woken = 0;
        pthread_mutex_unlock(&r->lock);
    }
    s3_client_free(s3);
    db_free(db);
    return NULL;
}

struct inventory_runner *
inventory_runner_start(const char *conninfo, int streams, long long merge_below)
{
    struct inventory_runner *r = xcalloc(1, sizeof(*r));

    r->merge_below = merge_below;
    r->streams = streams > 0 ? streams : 1;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->conninfo = xstrdup(conninfo);
    if (pthread_create(&r->thread, NULL, runner_main, r) != 0)
        abort();
    return r;
}

void
inventory_runner_wake(struct inventory_runner *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->woken = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void
inventory_runner_stop(struct inventory_runner *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r->conninfo);
    free(r);
}
