/*
 * crawl_runner.c - the thread that runs crawls of live buckets (POST /api/v1/s3/crawl)
 *
 * A crawl lists the bucket under its prefix with ListObjectVersions, page by
 * page (1,000 entries), or with ListObjectsV2 when the server does not
 * implement versions (ERR_UNSUPPORTED: s3rver, some S3-compatible stores;
 * every object is then version "null"). A key's versions may straddle two
 * pages, so the entries of a truncated page's last key wait for the next
 * page. Each page of whole keys is compared with the catalog
 * (storage/crawl_state.c, jobs/crawl_plan.c) and its records are written
 * with s3_store_ingest_crawl() - the events' batch ingestion, so the
 * current-state rules and the locks are the events' - in batches of whole
 * keys. The current records of the key range a page covers that S3 did not
 * list get Deleted records in the same pass (S3 lists keys in byte order,
 * the catalog's COLLATE "C" order); after the last page, the range up to the
 * end of the prefix. Keys written since the crawl began are left to their
 * events. Each batch commits on its own: a crawl that fails has written the
 * pages before, which were true observations.
 *
 * A verify crawl lists no bucket: it HEADs every current object of the
 * prefix (its version; s3_client_head_version()) in key order and writes a
 * Deleted record for each S3 answers 404 for, keeping the first keys in
 * missingKeys. A missing bucket fails it (one ListObjectsV2 of one key
 * first), so that it does not delete everything.
 *
 * Failures: every S3 failure is ERR_UPSTREAM (502 for /crawl/sync), a
 * database failure keeps its kind. On stop, the runner leaves a crawl
 * running after the page in hand; another runner (any replica) takes it
 * over and lists it again: what was written is then found unchanged or
 * recent, and left alone.
 *
 * Threads: one runner thread (jobs/thread.h) with its own connection and S3
 * client; it sleeps RUNNER_POLL_MS between polls unless woken.
 */
#include "jobs/crawl_runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/s3_client.h"
#include "codec/s3_list_xml.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "jobs/crawl_plan.h"
#include "jobs/thread.h"
#include "storage/crawl_store.h"
#include "storage/db.h"
#include "storage/s3_store.h"

#define RUNNER_POLL_MS 2000L
#define LIST_PAGE 1000
#define BATCH_RECORDS 1000
#define VERIFY_PAGE 500

struct crawl_runner {
    struct thread *thread;
    struct s3_client_config s3; /* strings borrowed from the caller */
    char *conninfo;
};

/* One crawl being run. */
struct crawl_run {
    struct thread *t;
    struct db *db;
    struct s3_client *s3;
    const struct crawl_claim *c;
    int versions; /* listing with ListObjectVersions (else ListObjectsV2) */
    char *token;  /* ListObjectsV2's next page */
    char *key_marker;
    char *version_marker;
    int listed_all;
    struct s3_list_page pending; /* listed entries not compared yet (one key's, between pages) */
    char *lo;                    /* the last key compared: ranges start after it */
};

/* ---- writing ---- */

/* Write the plan's records, in batches of whole keys (of about BATCH_RECORDS records). */
static enum err
write_plan(struct crawl_run *r, const struct crawl_plan *p, char *errbuf, size_t errlen)
{
    struct s3_ingest_result res;
    size_t start = 0, end = 0, k;
    enum err rc = ERR_OK;

    for (k = 0; k < p->nkeys && !rc; k++) {
        if (p->key_ends[k] - start > BATCH_RECORDS && end > start) {
            rc = s3_store_ingest_crawl(r->db, p->batch.records + start, end - start, &res, errbuf,
                                       errlen);
            start = end;
        }
        end = p->key_ends[k];
    }
    if (!rc && end > start)
        rc = s3_store_ingest_crawl(r->db, p->batch.records + start, end - start, &res, errbuf,
                                   errlen);
    return rc;
}

/* Compare entries[0..n) (whole keys), and the current records of (r->lo, hi], with the catalog. */
static enum err
compare(struct crawl_run *r, const struct s3_list_entry *entries, size_t n, const char *hi,
        char *errbuf, size_t errlen)
{
    static char null_version[] = "null";
    struct crawl_pairs listed = {NULL, NULL, 0}, gone = {NULL, NULL, 0};
    struct crawl_state state;
    struct crawl_plan plan;
    const char **keys = xcalloc(n + 1, sizeof(char *));
    size_t nkeys = 0, i;
    enum err rc;

    memset(&state, 0, sizeof(state));
    memset(&plan, 0, sizeof(plan));
    listed.keys = xcalloc(n + 1, sizeof(char *));
    listed.version_ids = xcalloc(n + 1, sizeof(char *));
    for (i = 0; i < n; i++) {
        if (nkeys == 0 || strcmp(keys[nkeys - 1], entries[i].key) != 0)
            keys[nkeys++] = entries[i].key;
        listed.keys[i] = entries[i].key;
        listed.version_ids[i] = entries[i].version_id ? entries[i].version_id : null_version;
    }
    listed.n = n;
    rc = crawl_state_load(r->db, r->c->bucket, keys, nkeys, r->c->started_at, &state, errbuf,
                          errlen);
    if (!rc)
        rc = crawl_state_gone(r->db, r->c->bucket, r->c->prefix, r->lo, hi, &listed,
                              r->c->started_at, &gone, errbuf, errlen);
    if (!rc) {
        crawl_plan_make(r->c->bucket, entries, n, &state, &gone, &plan);
        rc = write_plan(r, &plan, errbuf, errlen);
    }
    if (!rc)
        rc = crawl_store_progress(r->db, r->c->id, &plan.counts, NULL,
                                  r->versions ? "versions" : "objects", errbuf, errlen);
    free(r->lo);
    r->lo = hi ? xstrdup(hi) : NULL;
    crawl_plan_release(&plan);
    crawl_state_release(&state);
    crawl_pairs_release(&gone);
    free(listed.keys);
    free(listed.version_ids);
    free(keys);
    return rc;
}

/* ---- listing ---- */

static void
entry_clear(struct s3_list_entry *e)
{
    free(e->key);
    free(e->version_id);
    free(e->etag);
    free(e->last_modified);
    free(e->storage_class);
}

/* Move page's entries to the end of r->pending; take its markers. */
static enum err
take_page(struct crawl_run *r, struct s3_list_page *page, char *errbuf, size_t errlen)
{
    struct s3_list_page *q = &r->pending;

    if (q->count + page->count > q->alloc) {
        q->alloc = q->count + page->count;
        q->entries = xrealloc(q->entries, q->alloc * sizeof(*q->entries));
    }
    if (page->count) /* an empty page may have no array at all */
        memcpy(q->entries + q->count, page->entries, page->count * sizeof(*page->entries));
    q->count += page->count;
    page->count = 0; /* moved */
    free(r->token);
    free(r->key_marker);
    free(r->version_marker);
    r->token = page->next_continuation_token;
    r->key_marker = page->next_key_marker;
    r->version_marker = page->next_version_id_marker;
    page->next_continuation_token = page->next_key_marker = page->next_version_id_marker = NULL;
    r->listed_all = !page->is_truncated;
    if (!r->listed_all && !(r->versions ? r->key_marker : r->token))
        return err_set(ERR_UPSTREAM, errbuf, errlen,
                       "s3 list %s: truncated answer without a marker", r->c->bucket);
    return ERR_OK;
}

/* The next page of the listing into r->pending. */
static enum err
list_next(struct crawl_run *r, char *errbuf, size_t errlen)
{
    struct s3_list_page page;
    enum err rc;

    s3_list_page_init(&page);
    if (r->versions) {
        rc = s3_client_list_versions(r->s3, r->c->bucket, r->c->prefix, r->key_marker,
                                     r->version_marker, LIST_PAGE, &page, errbuf, errlen);
        if (rc == ERR_UNSUPPORTED && !r->key_marker) { /* list the unversioned way */
            r->versions = 0;
            s3_list_page_release(&page);
            s3_list_page_init(&page);
        }
    }
    if (!r->versions)
        rc = s3_client_list_objects(r->s3, r->c->bucket, r->c->prefix, r->token, LIST_PAGE, &page,
                                    errbuf, errlen);
    if (rc)
        rc = ERR_UPSTREAM; /* the client's "s3 GET bucket (...): ..." message stays */
    else
        rc = take_page(r, &page, errbuf, errlen);
    s3_list_page_release(&page);
    return rc;
}

/* Compare the whole keys of r->pending (all of it once everything is listed). */
static enum err
compare_pending(struct crawl_run *r, char *errbuf, size_t errlen)
{
    struct s3_list_page *q = &r->pending;
    size_t cut = q->count, i;
    enum err rc;

    if (!r->listed_all) { /* the last key may go on in the next page */
        while (cut > 0 && strcmp(q->entries[cut - 1].key, q->entries[q->count - 1].key) == 0)
            cut--;
        if (cut == 0)
            return ERR_OK;
    }
    rc =
        compare(r, q->entries, cut, r->listed_all ? NULL : q->entries[cut - 1].key, errbuf, errlen);
    for (i = 0; i < cut; i++)
        entry_clear(&q->entries[i]);
    if (q->count > cut)
        memmove(q->entries, q->entries + cut, (q->count - cut) * sizeof(*q->entries));
    q->count -= cut;
    return rc;
}

static enum err
crawl_list(struct crawl_run *r, int *interrupted, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    r->versions = 1;
    while (!rc && !r->listed_all) {
        if (thread_stopping(r->t)) {
            *interrupted = 1;
            break;
        }
        rc = list_next(r, errbuf, errlen);
        if (!rc)
            rc = compare_pending(r, errbuf, errlen);
    }
    return rc;
}

/* ---- verify ---- */

/* HEAD each of cur; the ones S3 does not have into *missing (and their keys as JSON). */
static enum err
verify_heads(struct crawl_run *r, const struct crawl_pairs *cur, struct crawl_pairs *missing,
             json_t *keys, char *errbuf, size_t errlen)
{
    uint64_t size;
    size_t i;
    enum err rc;

    missing->keys = xcalloc(cur->n + 1, sizeof(char *));
    missing->version_ids = xcalloc(cur->n + 1, sizeof(char *));
    for (i = 0; i < cur->n; i++) {
        rc = s3_client_head_version(r->s3, r->c->bucket, cur->keys[i], cur->version_ids[i], &size,
                                    errbuf, errlen);
        if (rc == ERR_NOT_FOUND) {
            missing->keys[missing->n] = xstrdup(cur->keys[i]);
            missing->version_ids[missing->n++] = xstrdup(cur->version_ids[i]);
            json_array_append_new(keys, json_string(cur->keys[i]));
        } else if (rc) {
            return ERR_UPSTREAM;
        }
    }
    return ERR_OK;
}

/* Record the missing ones of one page of current records. */
static enum err
verify_record(struct crawl_run *r, const struct crawl_pairs *missing, json_t *keys, size_t checked,
              char *errbuf, size_t errlen)
{
    struct crawl_state state;
    struct crawl_plan plan;
    char *text = json_dumps(keys, JSON_COMPACT);
    enum err rc;

    memset(&plan, 0, sizeof(plan));
    rc = crawl_state_load(r->db, r->c->bucket, (const char *const *)missing->keys, missing->n,
                          r->c->started_at, &state, errbuf, errlen);
    if (!rc) {
        crawl_plan_make(r->c->bucket, NULL, 0, &state, missing, &plan);
        rc = write_plan(r, &plan, errbuf, errlen);
        crawl_state_release(&state);
    }
    plan.counts.objects = (int64_t)checked;
    plan.counts.missing = (int64_t)missing->n;
    if (!rc)
        rc = crawl_store_progress(r->db, r->c->id, &plan.counts, text, NULL, errbuf, errlen);
    crawl_plan_release(&plan);
    free(text);
    return rc;
}

static enum err
crawl_verify(struct crawl_run *r, int *interrupted, char *errbuf, size_t errlen)
{
    struct s3_list_page page;
    struct crawl_pairs cur, missing;
    char *after = NULL;
    json_t *keys;
    enum err rc;

    s3_list_page_init(&page); /* the bucket must exist: else everything would be "missing" */
    rc = s3_client_list_objects(r->s3, r->c->bucket, r->c->prefix, NULL, 1, &page, errbuf, errlen);
    s3_list_page_release(&page);
    if (rc)
        return ERR_UPSTREAM;
    while (!rc) {
        if (thread_stopping(r->t)) {
            *interrupted = 1;
            break;
        }
        rc = crawl_state_current(r->db, r->c->bucket, r->c->prefix, after, VERIFY_PAGE, &cur,
                                 errbuf, errlen);
        if (rc || cur.n == 0) {
            crawl_pairs_release(&cur);
            break;
        }
        memset(&missing, 0, sizeof(missing));
        keys = json_array();
        rc = verify_heads(r, &cur, &missing, keys, errbuf, errlen);
        if (!rc)
            rc = verify_record(r, &missing, keys, cur.n, errbuf, errlen);
        free(after);
        after = xstrdup(cur.keys[cur.n - 1]);
        json_decref(keys);
        crawl_pairs_release(&missing);
        crawl_pairs_release(&cur);
    }
    free(after);
    return rc;
}

/* ---- a crawl ---- */

static void
run_crawl(struct thread *t, struct db *db, struct s3_client *s3, const struct crawl_claim *c)
{
    struct crawl_run r;
    char errbuf[ERRBUF_SIZE] = "", ignore[ERRBUF_SIZE];
    long long t0 = clock_mono_ms();
    int interrupted = 0;
    enum err rc;

    memset(&r, 0, sizeof(r));
    r.t = t;
    r.db = db;
    r.s3 = s3;
    r.c = c;
    s3_list_page_init(&r.pending);
    log_json(LOG_INFO, "crawl started",
             json_pack("{s:s,s:s,s:s,s:s}", "crawl", c->id, "bucket", c->bucket, "prefix",
                       c->prefix, "mode", c->verify ? "verify" : "crawl"));
    rc = c->verify ? crawl_verify(&r, &interrupted, errbuf, sizeof(errbuf))
                   : crawl_list(&r, &interrupted, errbuf, sizeof(errbuf));
    if (!rc && interrupted) {
        log_json(LOG_INFO, "crawl interrupted by shutdown", json_pack("{s:s}", "crawl", c->id));
    } else if (rc) {
        if (!errbuf[0])
            snprintf(errbuf, sizeof(errbuf), "%s error", err_name(rc));
        log_json(LOG_WARN, "crawl failed",
                 json_pack("{s:s,s:s,s:s}", "crawl", c->id, "kind", err_name(rc), "error", errbuf));
        if (crawl_store_fail(db, c->id, rc, errbuf, ignore, sizeof(ignore)))
            log_json(LOG_ERROR, "cannot record the failure of a crawl",
                     json_pack("{s:s}", "crawl", c->id));
    } else if (crawl_store_finish(db, c->id, ignore, sizeof(ignore))) {
        log_json(LOG_ERROR, "cannot record the end of a crawl", json_pack("{s:s}", "crawl", c->id));
    } else {
        log_json(LOG_INFO, "crawl succeeded",
                 json_pack("{s:s,s:I}", "crawl", c->id, "duration_ms",
                           (json_int_t)(clock_mono_ms() - t0)));
    }
    s3_list_page_release(&r.pending);
    free(r.token);
    free(r.key_marker);
    free(r.version_marker);
    free(r.lo);
}

/* ---- the runner thread ---- */

static void
runner_main(struct thread *t, void *arg)
{
    struct crawl_runner *r = arg;
    struct db *db = db_new(r->conninfo);
    struct s3_client *s3 = s3_client_new(&r->s3);
    struct crawl_claim claim;
    char errbuf[ERRBUF_SIZE];

    while (!thread_stopping(t)) {
        if (s3 && crawl_store_claim(db, &claim, errbuf, sizeof(errbuf)) == ERR_OK) {
            run_crawl(t, db, s3, &claim);
            crawl_store_release(db, claim.id, errbuf, sizeof(errbuf));
            crawl_claim_release(&claim);
            continue;
        }
        thread_wait(t, RUNNER_POLL_MS); /* nothing to do (or no database): wait */
    }
    s3_client_free(s3);
    db_free(db);
}

struct crawl_runner *
crawl_runner_start(const char *conninfo, const struct s3_client_config *s3)
{
    struct crawl_runner *r = xcalloc(1, sizeof(*r));

    r->s3 = *s3;
    r->conninfo = xstrdup(conninfo);
    r->thread = thread_start(1, runner_main, r);
    return r;
}

void
crawl_runner_wake(struct crawl_runner *r)
{
    if (r)
        thread_wake(r->thread);
}

void
crawl_runner_stop(struct crawl_runner *r)
{
    if (!r)
        return;
    thread_stop(r->thread);
    free(r->conninfo);
    free(r);
}
