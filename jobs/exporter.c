/*
 * exporter.c - the export threads: notice a new generation, claim, publish
 *
 * Each target's thread owns its struct db, its writer and its backoff
 * state; the threads share only the read-only configuration and the
 * metrics. A failed attempt is logged and counted by export_failed(); the
 * first of a streak is also journaled as io.ingestd.export.failed for the
 * webhooks, in the transaction that records it (exports_store_record()).
 */
#include "jobs/exporter.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clients/git_client.h"
#include "clients/s3_client.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "jobs/export_write.h"
#include "jobs/thread.h"
#include "storage/db.h"
#include "storage/exports_store.h"
#include "storage/repos_store.h"

/* One rendering of a generation, shared by the threads (reference counted). */
struct rendering {
    atomic_int refs;
    int64_t generation;
    char *data;
    size_t len;
    long long render_ms;
};

struct exporter;

struct export_worker {
    struct exporter *ex;
    const struct export_target *t;
    const struct config *cfg;
    struct metrics *metrics;
    struct export_writer *writer;
    struct db *db;
    struct thread *thread;
    int64_t known;      /* the generation the target is known to hold */
    int failures;       /* consecutive failed attempts */
    long long retry_at; /* monotonic ms of the next attempt after a failure; 0: none */
    unsigned int seed;  /* jitter */
    int db_down;        /* the last database error was logged */
};

struct exporter {
    size_t n;
    struct export_worker *workers;
    pthread_mutex_t render_lock; /* one render at a time; guards cur */
    struct rendering *cur;       /* the newest rendering, or NULL */
};

static void
rendering_unref(struct rendering *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    free(r->data);
    free(r);
}

/*
 * The newest generation's bytes, at least `generation`: the shared
 * rendering when it is that new, else rendered now on w's connection (the
 * other threads wait for it rather than render the same bytes again).
 * Release with rendering_unref().
 */
static enum err
rendering_get(struct export_worker *w, int64_t generation, struct rendering **out, char *errbuf,
              size_t errlen)
{
    struct exporter *e = w->ex;
    struct rendering *r = NULL;
    struct buf csv;
    long long t0;
    enum err rc = ERR_OK;

    *out = NULL;
    pthread_mutex_lock(&e->render_lock);
    if (e->cur && e->cur->generation >= generation) {
        r = e->cur;
        atomic_fetch_add(&r->refs, 1);
        goto out;
    }
    buf_init(&csv, 0);
    t0 = clock_mono_ms();
    r = xcalloc(1, sizeof(*r));
    rc = repos_store_render(w->db, &csv, &r->generation, NULL, errbuf, errlen);
    if (rc) {
        buf_release(&csv);
        free(r);
        r = NULL;
        goto out;
    }
    r->render_ms = clock_mono_ms() - t0;
    r->data = buf_take(&csv, &r->len);
    if (!r->data)
        r->data = xstrdup("");
    atomic_store(&r->refs, 2); /* the exporter's and the caller's */
    rendering_unref(e->cur);
    e->cur = r;
out:
    pthread_mutex_unlock(&e->render_lock);
    *out = r;
    return rc;
}

/*
 * A failed attempt to publish `generation` to w's target: a warn line and
 * ingestd_export_failures_total. This is where the io.ingestd.export.failed
 * webhook is to be enqueued (target name, kind, generation, error: no
 * credentials in any of them).
 */
static void
export_failed(struct export_worker *w, int64_t generation, const char *error)
{
    const char *labels[1] = {w->t->name};

    metrics_add(w->metrics, M_EXPORT_FAILURES, labels, 1);
    log_json(LOG_WARN, "export failed",
             json_pack("{s:s,s:s,s:I,s:i,s:s}", "target", w->t->name, "kind",
                       export_kind_name(w->t->kind), "generation", (json_int_t)generation,
                       "failures", w->failures, "error", error));
}

static void
set_known(struct export_worker *w, int64_t generation)
{
    const char *labels[1] = {w->t->name};

    w->known = generation;
    metrics_set(w->metrics, M_EXPORT_GENERATION, labels, (double)generation);
}

/* Write the newest generation (at least `current`) to w's target; the claim is held. */
static enum err
publish(struct export_worker *w, int64_t current, char *errbuf, size_t errlen)
{
    const char *labels[1] = {w->t->name};
    struct rendering *r = NULL;
    long long t0;
    long long ms;
    char rerr[ERRBUF_SIZE];
    enum err rc;

    rc = rendering_get(w, current, &r, errbuf, errlen);
    if (rc)
        return rc;
    t0 = clock_mono_ms();
    rc = export_writer_write(w->writer, r->generation, r->data, r->len, errbuf, errlen);
    ms = clock_mono_ms() - t0;
    metrics_observe(w->metrics, M_EXPORT_DURATION, labels, (double)ms / 1000.0);
    if (rc) {
        w->failures++;
        export_failed(w, r->generation, errbuf);
        /* the first failure of a streak is announced, not every retry */
        if (exports_store_record(w->db, w->t->name, r->generation, ms, errbuf, w->failures == 1,
                                 rerr, sizeof(rerr)))
            log_json(LOG_WARN, "export outcome not recorded",
                     json_pack("{s:s,s:s}", "target", w->t->name, "error", rerr));
        goto out;
    }
    w->failures = 0;
    set_known(w, r->generation);
    log_json(LOG_INFO, "export published",
             json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "target", w->t->name, "kind",
                       export_kind_name(w->t->kind), "generation", (json_int_t)r->generation,
                       "bytes", (json_int_t)r->len, "render_ms", (json_int_t)r->render_ms,
                       "duration_ms", (json_int_t)ms));
    rc = exports_store_record(w->db, w->t->name, r->generation, ms, NULL, 0, errbuf, errlen);
out:
    rendering_unref(r);
    return rc;
}

/* One look: publish when the target is behind and nobody else is on it. */
static enum err
step(struct export_worker *w, int *failed, char *errbuf, size_t errlen)
{
    int64_t current = 0;
    int64_t held = 0;
    int claimed = 0;
    char uerr[ERRBUF_SIZE];
    enum err rc;

    *failed = 0;
    rc = repos_store_generation(w->db, &current, NULL, errbuf, errlen);
    if (rc || current <= w->known)
        return rc;
    rc = exports_store_claim(w->db, w->t->name, export_kind_name(w->t->kind), &claimed, &held,
                             errbuf, errlen);
    if (rc || !claimed)
        return rc;
    if (held > w->known)
        set_known(w, held);
    if (held < current) {
        int before = w->failures;

        rc = publish(w, current, errbuf, errlen);
        *failed = w->failures > before;
    }
    if (exports_store_unclaim(w->db, w->t->name, uerr, sizeof(uerr)) && !rc)
        log_json(LOG_WARN, "export claim not released",
                 json_pack("{s:s,s:s}", "target", w->t->name, "error", uerr));
    return rc;
}

/* The delay before the next attempt after w->failures consecutive failures. */
static long
backoff_ms(struct export_worker *w)
{
    long d = w->cfg->export_backoff_ms;
    int i;

    for (i = 1; i < w->failures && d < EXPORTER_MAX_BACKOFF_MS; i++)
        d *= 2;
    if (d > EXPORTER_MAX_BACKOFF_MS)
        d = EXPORTER_MAX_BACKOFF_MS;
    return d / 2 + (long)(rand_r(&w->seed) % (unsigned int)(d / 2 + 1)); /* equal jitter */
}

static void
worker_main(struct thread *th, void *arg)
{
    struct export_worker *w = arg;
    char errbuf[ERRBUF_SIZE];

    for (;;) {
        long long now = clock_mono_ms();
        long wait = EXPORTER_POLL_MS;
        int failed = 0;

        if (!w->retry_at || now >= w->retry_at) {
            enum err rc = step(w, &failed, errbuf, sizeof(errbuf));

            if (rc && !failed && !w->db_down) /* the database, not the target */
                log_json(LOG_WARN, "export paused",
                         json_pack("{s:s,s:s}", "target", w->t->name, "error", errbuf));
            w->db_down = rc && !failed;
            w->retry_at = failed ? clock_mono_ms() + backoff_ms(w) : 0;
            now = clock_mono_ms();
        }
        if (w->retry_at)
            wait = w->retry_at > now ? (long)(w->retry_at - now) : 0;
        if (thread_wait(th, wait))
            break;
    }
}

struct exporter *
exporter_start(const struct config *cfg, const char *conninfo, const struct s3_client_config *s3,
               struct metrics *m)
{
    struct exporter *e;
    size_t i;

    if (cfg->nexports == 0)
        return NULL;
    e = xcalloc(1, sizeof(*e));
    e->n = cfg->nexports;
    e->workers = xcalloc(e->n, sizeof(*e->workers));
    pthread_mutex_init(&e->render_lock, NULL);
    git_client_init();
    for (i = 0; i < e->n; i++) {
        struct export_worker *w = &e->workers[i];

        w->ex = e;
        w->t = &cfg->exports[i];
        w->cfg = cfg;
        w->metrics = m;
        w->writer = export_writer_new(w->t, cfg, s3);
        w->db = db_new(conninfo);
        w->seed = (unsigned int)(clock_real_ms() ^ (long long)i);
        log_json(
            LOG_INFO, "export target",
            json_pack("{s:s,s:s}", "target", w->t->name, "kind", export_kind_name(w->t->kind)));
        w->thread = thread_start(1, worker_main, w);
    }
    return e;
}

void
exporter_wake(struct exporter *e)
{
    size_t i;

    if (!e)
        return;
    for (i = 0; i < e->n; i++)
        thread_wake(e->workers[i].thread);
}

void
exporter_stop(struct exporter *e)
{
    size_t i;

    if (!e)
        return;
    for (i = 0; i < e->n; i++) {
        thread_stop(e->workers[i].thread);
        export_writer_free(e->workers[i].writer);
        db_free(e->workers[i].db);
    }
    git_client_cleanup(); /* every thread that used libgit2 has ended */
    rendering_unref(e->cur);
    pthread_mutex_destroy(&e->render_lock);
    free(e->workers);
    free(e);
}
