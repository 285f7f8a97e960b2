/*
 * repos_cache.c - the effective repos.csv as rendered once per generation
 *
 * An entry is a list of pieces (the header line, then each block of
 * positions of storage/repos_blocks.h), each with its plain bytes, its
 * deflated bytes and its CRC-32. The bytes live in chunks: reference
 * counted allocations that several generations share. A new generation is
 * built from the current entry: the blocks holding rows written since are
 * rendered and deflated again into the new generation's own two chunks
 * (plain, and gzip with the member's header and trailer), every other piece
 * points at the bytes the base entry points at, and the gzip trailer's
 * CRC-32 is combined from the pieces' ones. Nothing of the unchanged blocks
 * is copied; responses send the pieces as slices (writev).
 *
 * Chunks stay alive while a piece of any entry points into them, so after
 * many generations an entry may hold chunks much larger than what it
 * serves; past twice its bytes (plus HELD_SLACK), or past max_chunks
 * (REPOS_CACHE_MAX_CHUNKS), a build copies every piece into two fresh chunks instead: the
 * copy of the whole file is paid once in many generations.
 *
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
#define HELD_SLACK ((size_t)32 << 20)
#define NEW_CSV 0 /* an entry's chunks 0 and 1 are its own: plain and gzip */
#define NEW_GZ 1

struct chunk {
    atomic_int refs;
    char *data;
    size_t len;
};

struct piece {
    const char *csv; /* its bytes (while building: NULL when in the new chunk, at csv_at) */
    const char *gz;
    size_t csv_len;
    size_t gz_len;
    size_t csv_at;
    size_t gz_at;
    uint32_t crc;       /* CRC-32 of the plain bytes */
    uint32_t csv_chunk; /* index in the entry's chunks */
    uint32_t gz_chunk;
};

struct entry {
    struct repos_rendered pub; /* first: callers see this */
    atomic_int refs;
    json_t *cols;
    long long nblocks;
    struct piece *pieces; /* piece 0 is the header line, piece b + 1 block b */
    size_t npieces;       /* nblocks + 1 */
    struct chunk **chunks;
    size_t nchunks;
    size_t held; /* the chunks' bytes */
    struct body_slice *csv_iov;
    struct body_slice *gz_iov;
};

struct repos_cache {
    pthread_mutex_t lock;        /* guards cur */
    pthread_mutex_t render_lock; /* one render at a time */
    struct entry *cur;
    size_t max_chunks;
};

/* A new entry being built from a base entry (NULL: from scratch). */
struct build {
    const struct entry *base;
    struct gzip_blocks *gzb;
    struct buf csv; /* the new chunks' bytes */
    struct buf gz;
    struct piece *pieces;
    size_t npieces;
    size_t cap;
    struct chunk **chunks; /* [NEW_CSV], [NEW_GZ] (set at the end), then the base's it uses */
    size_t nchunks;
    uint32_t *map;  /* base chunk -> index in chunks, UINT32_MAX: not used yet */
    long long next; /* the next block the file needs */
    int missing;    /* the base lacked a block it was asked for */
};

static struct chunk *
chunk_from(struct buf *b)
{
    struct chunk *c = xcalloc(1, sizeof(*c));

    atomic_store(&c->refs, 1);
    c->data = buf_take(b, &c->len);
    return c;
}

static void
chunk_unref(struct chunk *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    free(c->data);
    free(c);
}

static void
entry_unref(struct entry *e)
{
    size_t i;

    if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    for (i = 0; i < e->nchunks; i++)
        chunk_unref(e->chunks[i]);
    free(e->chunks);
    free(e->pieces);
    free(e->csv_iov);
    free(e->gz_iov);
    json_decref(e->cols);
    free(e);
}

void
repos_cache_release(void *rendered)
{
    entry_unref(rendered);
}

struct repos_cache *
repos_cache_new_capped(size_t max_chunks)
{
    struct repos_cache *c = xcalloc(1, sizeof(*c));

    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->render_lock, NULL);
    c->max_chunks = max_chunks < 2 ? 2 : max_chunks;
    return c;
}

struct repos_cache *
repos_cache_new(void)
{
    return repos_cache_new_capped(REPOS_CACHE_MAX_CHUNKS);
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

/* Room for `more` pieces. */
static void
build_grow(struct build *bd, size_t more)
{
    if (bd->npieces + more <= bd->cap)
        return;
    while (bd->npieces + more > bd->cap)
        bd->cap = bd->cap ? bd->cap * 2 : 1024;
    bd->pieces = xrealloc(bd->pieces, bd->cap * sizeof(*bd->pieces));
}

/* The index in bd's chunks of the base's chunk i, taking a reference the first time. */
static uint32_t
use_base_chunk(struct build *bd, uint32_t i)
{
    if (bd->map[i] == UINT32_MAX) {
        bd->chunks[bd->nchunks] = bd->base->chunks[i];
        atomic_fetch_add(&bd->base->chunks[i]->refs, 1);
        bd->map[i] = (uint32_t)bd->nchunks++;
    }
    return bd->map[i];
}

/* Point at the base's blocks next .. upto-1. */
static enum err
copy_base(struct build *bd, long long upto, char *errbuf, size_t errlen)
{
    const struct entry *b = bd->base;
    size_t first = (size_t)bd->next + 1; /* piece numbers */
    size_t end = (size_t)upto + 1;
    size_t i;

    if (upto <= bd->next)
        return ERR_OK;
    if (!b || upto > b->nblocks) {
        bd->missing = 1;
        return err_set(ERR_INTERNAL, errbuf, errlen, "repos.csv block %lld is not cached", upto);
    }
    build_grow(bd, end - first);
    for (i = first; i < end; i++) {
        struct piece *p = &bd->pieces[bd->npieces++];

        *p = b->pieces[i];
        p->csv_chunk = use_base_chunk(bd, b->pieces[i].csv_chunk);
        p->gz_chunk = use_base_chunk(bd, b->pieces[i].gz_chunk);
    }
    bd->next = upto;
    return ERR_OK;
}

/* repos_block_fn: a rendered block (or the header, -1) after the base's blocks before it. */
static enum err
on_block(void *ctx, long long block, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct build *bd = ctx;
    enum err rc = block < 0 ? ERR_OK : copy_base(bd, block, errbuf, errlen);
    struct piece *p;

    if (rc)
        return rc;
    build_grow(bd, 1);
    p = &bd->pieces[bd->npieces++];
    memset(p, 0, sizeof(*p));
    p->csv_chunk = NEW_CSV;
    p->gz_chunk = NEW_GZ;
    p->csv_at = bd->csv.len;
    p->gz_at = bd->gz.len;
    p->csv_len = len;
    buf_append(&bd->csv, data, len);
    gzip_blocks_deflate(bd->gzb, data, len, &bd->gz, &p->crc);
    p->gz_len = bd->gz.len - p->gz_at;
    if (block >= 0)
        bd->next = block + 1;
    return ERR_OK;
}

/* Append a slice to iov[*n], joined to the last one when the bytes follow on. */
static void
slice_add(struct body_slice *iov, size_t *n, const char *base, size_t len)
{
    if (!len)
        return;
    if (*n && (const char *)iov[*n - 1].base + iov[*n - 1].len == base) {
        iov[*n - 1].len += len;
        return;
    }
    iov[*n].base = base;
    iov[*n].len = len;
    (*n)++;
}

/* The entry's slices: gzip header, pieces, gzip trailer (the end of chunk NEW_GZ). */
static void
entry_slices(struct entry *e)
{
    const struct chunk *gz = e->chunks[NEW_GZ];
    size_t i;

    e->csv_iov = xmalloc(e->npieces * sizeof(*e->csv_iov));
    e->gz_iov = xmalloc((e->npieces + 2) * sizeof(*e->gz_iov));
    e->pub.csv_slices = e->pub.gz_slices = 0;
    slice_add(e->gz_iov, &e->pub.gz_slices, gz->data, GZIP_BLOCKS_HEADER_LEN);
    for (i = 0; i < e->npieces; i++) {
        slice_add(e->csv_iov, &e->pub.csv_slices, e->pieces[i].csv, e->pieces[i].csv_len);
        slice_add(e->gz_iov, &e->pub.gz_slices, e->pieces[i].gz, e->pieces[i].gz_len);
    }
    slice_add(e->gz_iov, &e->pub.gz_slices, gz->data + gz->len - GZIP_BLOCKS_TRAILER_LEN,
              GZIP_BLOCKS_TRAILER_LEN);
    e->pub.csv = e->csv_iov;
    e->pub.gz = e->gz_iov;
}

/* The gzip trailer, the new chunks, the pieces' addresses: the entry takes bd's parts. */
static void
build_finish(struct build *bd, struct entry *e)
{
    uint32_t crc = 0;
    size_t i;

    for (i = 0; i < bd->npieces; i++) {
        e->pub.csv_len += bd->pieces[i].csv_len;
        e->pub.gz_len += bd->pieces[i].gz_len;
        crc = i ? gzip_blocks_crc_combine(crc, bd->pieces[i].crc, bd->pieces[i].csv_len)
                : bd->pieces[0].crc;
    }
    gzip_blocks_trailer(&bd->gz, crc, (uint64_t)e->pub.csv_len);
    e->pub.gz_len += GZIP_BLOCKS_HEADER_LEN + GZIP_BLOCKS_TRAILER_LEN;
    bd->chunks[NEW_CSV] = chunk_from(&bd->csv);
    bd->chunks[NEW_GZ] = chunk_from(&bd->gz);
    for (i = 0; i < bd->npieces; i++) {
        struct piece *p = &bd->pieces[i];

        if (p->csv_chunk == NEW_CSV)
            p->csv = bd->chunks[NEW_CSV]->data + p->csv_at;
        if (p->gz_chunk == NEW_GZ)
            p->gz = bd->chunks[NEW_GZ]->data + p->gz_at;
    }
    for (i = 0; i < bd->nchunks; i++)
        e->held += bd->chunks[i]->len;
    e->pieces = bd->pieces;
    e->npieces = bd->npieces;
    e->chunks = bd->chunks;
    e->nchunks = bd->nchunks;
    bd->pieces = NULL;
    bd->chunks = NULL;
    bd->nchunks = 0;
}

/* Copy every piece of e into two fresh chunks, dropping the chunks it held. */
static void
compact(struct entry *e)
{
    struct buf csv, gz;
    struct chunk **old = e->chunks;
    size_t nold = e->nchunks;
    const struct chunk *oldgz = old[NEW_GZ];
    size_t i;

    buf_init(&csv, 0);
    buf_init(&gz, 0);
    buf_reserve(&csv, e->pub.csv_len);
    buf_reserve(&gz, e->pub.gz_len);
    buf_append(&gz, oldgz->data, GZIP_BLOCKS_HEADER_LEN);
    for (i = 0; i < e->npieces; i++) {
        struct piece *p = &e->pieces[i];

        p->csv_at = csv.len;
        p->gz_at = gz.len;
        buf_append(&csv, p->csv, p->csv_len);
        buf_append(&gz, p->gz, p->gz_len);
        p->csv_chunk = NEW_CSV;
        p->gz_chunk = NEW_GZ;
    }
    buf_append(&gz, oldgz->data + oldgz->len - GZIP_BLOCKS_TRAILER_LEN, GZIP_BLOCKS_TRAILER_LEN);
    e->chunks = xmalloc(2 * sizeof(*e->chunks));
    e->chunks[NEW_CSV] = chunk_from(&csv);
    e->chunks[NEW_GZ] = chunk_from(&gz);
    e->nchunks = 2;
    e->held = e->chunks[NEW_CSV]->len + e->chunks[NEW_GZ]->len;
    for (i = 0; i < e->npieces; i++) {
        e->pieces[i].csv = e->chunks[NEW_CSV]->data + e->pieces[i].csv_at;
        e->pieces[i].gz = e->chunks[NEW_GZ]->data + e->pieces[i].gz_at;
    }
    for (i = 0; i < nold; i++)
        chunk_unref(old[i]);
    free(old);
}

/* A new entry for the current generation, from base (NULL: render every block). */
static enum err
build_entry(const struct entry *base, size_t max_chunks, struct db *db, struct entry **out,
            long long *rendered, int *missing, int *compacted, char *errbuf, size_t errlen)
{
    struct repos_blocks rb;
    struct build bd;
    struct entry *e = NULL;
    size_t i;
    enum err rc;

    memset(&bd, 0, sizeof(bd));
    memset(&rb, 0, sizeof(rb));
    bd.base = base;
    bd.gzb = gzip_blocks_new(GZIP_LEVEL);
    buf_init(&bd.csv, 0);
    buf_init(&bd.gz, 0);
    gzip_blocks_header(&bd.gz);
    bd.chunks = xcalloc(2 + (base ? base->nchunks : 0), sizeof(*bd.chunks));
    bd.nchunks = 2;
    if (base) {
        bd.map = xmalloc(base->nchunks * sizeof(*bd.map));
        for (i = 0; i < base->nchunks; i++)
            bd.map[i] = UINT32_MAX;
    }
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
        *compacted =
            e->nchunks > 2 && (e->nchunks > max_chunks ||
                               e->held > 2 * (e->pub.csv_len + e->pub.gz_len) + HELD_SLACK);
        if (*compacted)
            compact(e);
        entry_slices(e);
    }
    *rendered = rb.rendered;
    *missing = bd.missing;
    json_decref(rb.cols);
    gzip_blocks_free(bd.gzb);
    buf_release(&bd.csv);
    buf_release(&bd.gz);
    for (i = 2; i < bd.nchunks; i++) /* a failed build's references on the base's chunks */
        chunk_unref(bd.chunks[i]);
    free(bd.chunks);
    free(bd.map);
    free(bd.pieces);
    *out = e;
    return rc;
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
    int missing = 0, compacted = 0;
    enum err rc;

    rc = build_entry(base, c->max_chunks, db, &e, &rendered, &missing, &compacted, errbuf, errlen);
    if (rc && missing) /* never expected: the base is not what its generation says */
        rc = build_entry(NULL, c->max_chunks, db, &e, &rendered, &missing, &compacted, errbuf,
                         errlen);
    entry_unref(base);
    if (rc)
        return rc;
    atomic_store(&e->refs, 2); /* the cache's and the caller's */
    pthread_mutex_lock(&c->lock);
    if (c->cur && c->cur->pub.generation > e->pub.generation) {
        atomic_fetch_sub(&e->refs, 1); /* a newer one is there: keep it */
    } else {
        entry_unref(c->cur);
        c->cur = e;
    }
    pthread_mutex_unlock(&c->lock);
    log_json(LOG_INFO, "repos.csv rendered",
             json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I}", "generation",
                       (json_int_t)e->pub.generation, "bytes", (json_int_t)e->pub.csv_len,
                       "gzip_bytes", (json_int_t)e->pub.gz_len, "blocks", (json_int_t)e->nblocks,
                       "blocks_rendered", (json_int_t)rendered, "held_bytes", (json_int_t)e->held,
                       "chunks", (json_int_t)e->nchunks, "compacted", compacted, "duration_ms",
                       (json_int_t)(clock_mono_ms() - t0)));
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
