/*
 * repos_cache.c - the effective repos.csv as rendered once per generation
 *
 * An entry keeps, besides the bytes it serves, where each block of
 * positions (storage/repos_blocks.h) starts in the plain and in the gzip
 * body, and each block's CRC-32. The next generation is built from the
 * current entry: the blocks holding rows written since are rendered and
 * deflated again, every other block's bytes (plain and deflated) are
 * copied, and the gzip trailer's CRC-32 is combined from the blocks' ones.
 * Blocks are deflated independently (codec/gzip_encoder.h), so an entry's
 * bytes depend only on the generation: built in steps or at once, on any
 * replica, they are the same.
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
#include "storage/repos_blocks.h"
#include "storage/repos_store.h"

#define GZIP_LEVEL 6

struct entry {
    struct repos_rendered pub; /* first: callers see this */
    atomic_int refs;
    char *csv;
    char *gz;
    json_t *cols;
    long long nblocks;
    /* piece 0 is the header line, piece b + 1 block b; npieces = nblocks + 1 */
    size_t csv_alloc; /* the sizes of the csv and gz allocations */
    size_t gz_alloc;
    size_t *csv_off; /* npieces + 1: where each piece starts in csv, then csv_len */
    size_t *gz_off;  /* npieces + 1: where each piece starts in gz, then the trailer */
    uint32_t *crc;   /* npieces: CRC-32 of each piece's plain bytes */
};

struct repos_cache {
    pthread_mutex_t lock;        /* guards cur */
    pthread_mutex_t render_lock; /* one render at a time; guards spare */
    struct entry *cur;
    /*
     * The buffers of the entry before the current one, once nothing held
     * it: the next build writes into them (already mapped: no page faults
     * over the whole file for a generation that changed a few blocks).
     */
    struct buf spare_csv;
    struct buf spare_gz;
};

/* A new entry being built from a base entry (NULL: from scratch). */
struct build {
    const struct entry *base;
    struct gzip_blocks *gzb;
    struct buf csv;
    struct buf gz;
    size_t *csv_off;
    size_t *gz_off;
    uint32_t *crc;
    size_t npieces;
    size_t cap;
    long long next; /* the next block the file needs */
    int missing;    /* the base lacked a block it was asked for */
};

static void
entry_unref(struct entry *e)
{
    if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    free(e->csv);
    free(e->gz);
    free(e->csv_off);
    free(e->gz_off);
    free(e->crc);
    json_decref(e->cols);
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
    buf_release(&c->spare_csv);
    buf_release(&c->spare_gz);
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

/* Room for `more` pieces' offsets and CRCs. */
static void
build_grow(struct build *bd, size_t more)
{
    if (bd->npieces + more + 1 <= bd->cap)
        return;
    while (bd->npieces + more + 1 > bd->cap)
        bd->cap = bd->cap ? bd->cap * 2 : 1024;
    bd->csv_off = xrealloc(bd->csv_off, bd->cap * sizeof(size_t));
    bd->gz_off = xrealloc(bd->gz_off, bd->cap * sizeof(size_t));
    bd->crc = xrealloc(bd->crc, bd->cap * sizeof(uint32_t));
}

/* Copy the base's blocks next .. upto-1 (one run of bytes each for plain and gzip). */
static enum err
copy_base(struct build *bd, long long upto, char *errbuf, size_t errlen)
{
    const struct entry *b = bd->base;
    size_t first = (size_t)bd->next + 1; /* piece numbers */
    size_t end = (size_t)upto + 1;
    size_t csv_lo, gz_lo, i;

    if (upto <= bd->next)
        return ERR_OK;
    if (!b || upto > b->nblocks) {
        bd->missing = 1;
        return err_set(ERR_INTERNAL, errbuf, errlen, "repos.csv block %lld is not cached", upto);
    }
    build_grow(bd, end - first);
    csv_lo = b->csv_off[first];
    gz_lo = b->gz_off[first];
    for (i = first; i < end; i++) {
        bd->csv_off[bd->npieces] = bd->csv.len + (b->csv_off[i] - csv_lo);
        bd->gz_off[bd->npieces] = bd->gz.len + (b->gz_off[i] - gz_lo);
        bd->crc[bd->npieces++] = b->crc[i];
    }
    buf_append(&bd->csv, b->csv + csv_lo, b->csv_off[end] - csv_lo);
    buf_append(&bd->gz, b->gz + gz_lo, b->gz_off[end] - gz_lo);
    bd->next = upto;
    return ERR_OK;
}

/* repos_block_fn: a rendered block (or the header, -1) after the base's blocks before it. */
static enum err
on_block(void *ctx, long long block, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct build *bd = ctx;
    enum err rc = block < 0 ? ERR_OK : copy_base(bd, block, errbuf, errlen);

    if (rc)
        return rc;
    build_grow(bd, 1);
    bd->csv_off[bd->npieces] = bd->csv.len;
    bd->gz_off[bd->npieces] = bd->gz.len;
    buf_append(&bd->csv, data, len);
    gzip_blocks_deflate(bd->gzb, data, len, &bd->gz, &bd->crc[bd->npieces]);
    bd->npieces++;
    if (block >= 0)
        bd->next = block + 1;
    return ERR_OK;
}

/* The end offsets and the gzip trailer; the finished entry takes bd's bytes. */
static void
build_finish(struct build *bd, struct entry *e)
{
    uint32_t crc = 0;
    size_t i;

    build_grow(bd, 0);
    bd->csv_off[bd->npieces] = bd->csv.len;
    bd->gz_off[bd->npieces] = bd->gz.len;
    for (i = 0; i < bd->npieces; i++)
        crc = i ? gzip_blocks_crc_combine(crc, bd->crc[i], bd->csv_off[i + 1] - bd->csv_off[i])
                : bd->crc[0];
    gzip_blocks_trailer(&bd->gz, crc, (uint64_t)bd->csv.len);
    e->csv_alloc = bd->csv.alloc;
    e->gz_alloc = bd->gz.alloc;
    e->csv = buf_take(&bd->csv, &e->pub.csv_len);
    e->gz = buf_take(&bd->gz, &e->pub.gz_len);
    e->pub.csv = e->csv;
    e->pub.gz = e->gz;
    e->csv_off = bd->csv_off;
    e->gz_off = bd->gz_off;
    e->crc = bd->crc;
    bd->csv_off = bd->gz_off = NULL;
    bd->crc = NULL;
}

/* Start b from the spare buffer when it is large enough for want bytes. */
static void
build_buf(struct buf *b, struct buf *spare, size_t want)
{
    if (spare->data && spare->alloc > want) {
        *b = *spare;
        b->len = 0;
        buf_init(spare, 0);
    } else {
        buf_init(b, 0);
        buf_reserve(b, want);
    }
}

/* A new entry for the current generation, from base (NULL: render every block). */
static enum err
build_entry(struct repos_cache *c, struct db *db, const struct entry *base, struct entry **out,
            long long *rendered, int *missing, char *errbuf, size_t errlen)
{
    struct repos_blocks rb;
    struct build bd;
    struct entry *e = NULL;
    enum err rc;

    memset(&bd, 0, sizeof(bd));
    memset(&rb, 0, sizeof(rb));
    bd.base = base;
    bd.gzb = gzip_blocks_new(GZIP_LEVEL);
    build_buf(&bd.csv, &c->spare_csv, base ? base->pub.csv_len + (base->pub.csv_len >> 4) : 0);
    build_buf(&bd.gz, &c->spare_gz, base ? base->pub.gz_len + (base->pub.gz_len >> 4) : 0);
    gzip_blocks_header(&bd.gz);
    rb.since = base ? base->pub.generation : -1;
    rb.since_cols = base ? base->cols : NULL;
    rb.since_nblocks = base ? base->nblocks : 0;
    rb.fn = on_block;
    rb.ctx = &bd;
    rc = repos_blocks_render(db, &rb, errbuf, errlen);
    if (!rc)
        rc = copy_base(&bd, rb.nblocks, errbuf, errlen);
    if (!rc) {
        e = xcalloc(1, sizeof(*e));
        build_finish(&bd, e);
        e->pub.generation = rb.generation;
        e->pub.updated_ms = rb.updated_ms;
        e->cols = rb.cols;
        rb.cols = NULL;
        e->nblocks = rb.nblocks;
        atomic_store(&e->refs, 1);
    }
    *rendered = rb.rendered;
    *missing = bd.missing;
    json_decref(rb.cols);
    gzip_blocks_free(bd.gzb);
    buf_release(&bd.csv);
    buf_release(&bd.gz);
    free(bd.csv_off);
    free(bd.gz_off);
    free(bd.crc);
    *out = e;
    return rc;
}

/*
 * Drop the reference on base; when it was the last one (base is no longer
 * current, so no request can take it again), keep its buffers as the spare.
 */
static void
recycle(struct repos_cache *c, struct entry *base)
{
    if (base && base != c->cur && atomic_load(&base->refs) == 1) {
        buf_release(&c->spare_csv);
        buf_release(&c->spare_gz);
        c->spare_csv.data = base->csv;
        c->spare_csv.alloc = base->csv_alloc;
        c->spare_gz.data = base->gz;
        c->spare_gz.alloc = base->gz_alloc;
        base->csv = base->gz = NULL;
    }
    entry_unref(base);
}

/* Render the current generation from c->cur (under render_lock) and make it current. */
static enum err
render_current(struct repos_cache *c, struct db *db, struct entry **out, char *errbuf,
               size_t errlen)
{
    struct entry *base = take_current(c, 0);
    struct entry *e = NULL;
    long long t0 = clock_mono_ms();
    long long rendered = 0;
    int missing = 0;
    enum err rc;

    rc = build_entry(c, db, base, &e, &rendered, &missing, errbuf, errlen);
    if (rc && missing) /* never expected: the base is not what its generation says */
        rc = build_entry(c, db, NULL, &e, &rendered, &missing, errbuf, errlen);
    if (rc) {
        entry_unref(base);
        return rc;
    }
    atomic_store(&e->refs, 2); /* the cache's and the caller's */
    pthread_mutex_lock(&c->lock);
    if (c->cur && c->cur->pub.generation > e->pub.generation) {
        atomic_fetch_sub(&e->refs, 1); /* a newer one is there: keep it */
    } else {
        entry_unref(c->cur);
        c->cur = e;
    }
    pthread_mutex_unlock(&c->lock);
    recycle(c, base);
    log_json(LOG_INFO, "repos.csv rendered",
             json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "generation", (json_int_t)e->pub.generation,
                       "bytes", (json_int_t)e->pub.csv_len, "gzip_bytes", (json_int_t)e->pub.gz_len,
                       "blocks", (json_int_t)e->nblocks, "blocks_rendered", (json_int_t)rendered,
                       "duration_ms", (json_int_t)(clock_mono_ms() - t0)));
    *out = e;
    return ERR_OK;
}

enum err
repos_cache_acquire(struct repos_cache *c, struct db *db, const struct repos_rendered **out,
                    char *errbuf, size_t errlen)
{
    struct entry *e = NULL;
    int64_t generation;
    enum err rc;

    *out = NULL;
    rc = repos_store_generation(db, &generation, NULL, errbuf, errlen);
    if (rc)
        return rc;
    e = take_current(c, generation);
    if (!e) {
        pthread_mutex_lock(&c->render_lock);
        e = take_current(c, generation); /* rendered while we waited? */
        if (!e)
            rc = render_current(c, db, &e, errbuf, errlen);
        pthread_mutex_unlock(&c->render_lock);
        if (rc)
            return rc;
    }
    *out = &e->pub;
    return ERR_OK;
}
