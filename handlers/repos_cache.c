/*
 * repos_cache.c - the effective repos.csv as rendered once per generation
 */
#include "handlers/repos_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "codec/gzip_encoder.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "storage/repos_store.h"

struct entry {
    struct repos_rendered pub; /* first: callers see this */
    atomic_int refs;
    char *csv;
    char *gz;
};

struct repos_cache {
    pthread_mutex_t lock;        /* guards cur */
    pthread_mutex_t render_lock; /* one render at a time */
    struct entry *cur;
};

static void
entry_unref(struct entry *e)
{
    if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    free(e->csv);
    free(e->gz);
    free(e);
}

void
repos_cache_release(void *rendered)
{
    entry_unref(rendered);
}

struct repos_cache *
repos_cache_new(void)
{
    struct repos_cache *c = xcalloc(1, sizeof(*c));

    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->render_lock, NULL);
    return c;
}

void
repos_cache_free(struct repos_cache *c)
{
    if (!c)
        return;
    entry_unref(c->cur);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->render_lock);
    free(c);
}

/* Current entry if it is at least `generation`, with a reference taken. */
static struct entry *
take_current(struct repos_cache *c, int64_t generation)
{
    struct entry *e = NULL;

    pthread_mutex_lock(&c->lock);
    if (c->cur && c->cur->pub.generation >= generation) {
        e = c->cur;
        atomic_fetch_add(&e->refs, 1);
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

enum err
repos_cache_acquire(struct repos_cache *c, struct db *db, const struct repos_rendered **out,
                    char *errbuf, size_t errlen)
{
    struct entry *e = NULL;
    struct buf csv;
    int64_t generation;
    long long t0;
    enum err rc;

    *out = NULL;
    buf_init(&csv, 0);
    rc = repos_store_generation(db, &generation, NULL, errbuf, errlen);
    if (rc)
        return rc;
    e = take_current(c, generation);
    if (e)
        goto done;
    pthread_mutex_lock(&c->render_lock);
    e = take_current(c, generation); /* rendered while we waited? */
    if (e) {
        pthread_mutex_unlock(&c->render_lock);
        goto done;
    }
    t0 = clock_mono_ms();
    e = xcalloc(1, sizeof(*e));
    rc = repos_store_render(db, &csv, &e->pub.generation, &e->pub.updated_ms, errbuf, errlen);
    if (rc) {
        pthread_mutex_unlock(&c->render_lock);
        free(e);
        buf_release(&csv);
        return rc;
    }
    e->csv = buf_take(&csv, &e->pub.csv_len);
    e->gz = gzip_encode(e->csv, e->pub.csv_len, 6, &e->pub.gz_len);
    e->pub.csv = e->csv;
    e->pub.gz = e->gz;
    atomic_store(&e->refs, 2); /* the cache's and the caller's */
    pthread_mutex_lock(&c->lock);
    if (c->cur && c->cur->pub.generation > e->pub.generation) {
        atomic_fetch_sub(&e->refs, 1); /* a newer one is there: keep it */
    } else {
        entry_unref(c->cur);
        c->cur = e;
    }
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&c->render_lock);
    log_json(LOG_INFO, "repos.csv rendered",
             json_pack("{s:I,s:I,s:I,s:I}", "generation", (json_int_t)e->pub.generation, "bytes",
                       (json_int_t)e->pub.csv_len, "gzip_bytes", (json_int_t)e->pub.gz_len,
                       "duration_ms", (json_int_t)(clock_mono_ms() - t0)));
done:
    *out = &e->pub;
    return ERR_OK;
}
