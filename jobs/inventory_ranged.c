/*
 * inventory_ranged.c - ORC and Parquet inventory data files read from S3 by byte ranges
 *
 * See inventory_ranged.h. The order of requests for one file:
 *
 *   [HEAD]          only when the manifest gives no size
 *   GET tail        the last min(size, TAIL_GUESS) bytes; again with the
 *                   last N bytes when parquet_footer_size / orc_tail_need
 *                   say the footer is longer
 *   GET per unit    Parquet: per row group, parquet_inventory_range();
 *                   ORC: per stripe, its footer, then orc_stripe_span()
 *
 * With io->on_stored (the caller hashes the whole object: the manifest's
 * MD5), the units are read in order instead, by one sequential GET of the
 * whole object after the tail:
 *
 *   GET tail        as above
 *   GET object      every byte to on_stored; the bytes of the unit in hand
 *                   (Parquet: a row group's bound columns; ORC: a whole
 *                   stripe, its footer being at its end) gather in the
 *                   buffer, which is decoded and emptied when the unit is
 *                   complete, while the rest of the object streams on
 *
 * so the object is read once, not once by ranges and once more for its
 * MD5, and decoding overlaps the download. Units that are not in file
 * order without overlapping (no known writer does that) are read by ranges,
 * then the object once more sequentially through on_stored only.
 *
 * One struct buf holds the range or unit in hand and is reused (capped at
 * INVENTORY_RANGE_MAX_BYTES); the parsed metadata lives until the file is
 * done. A range S3 answers short (the manifest's size larger than the
 * object) is ERR_UNPROCESSABLE saying so, before a decoder sees it, and so
 * is an object whose sequential read ends before or after the manifest's
 * size.
 */
#include "jobs/inventory_ranged.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/orc.h"
#include "codec/parquet.h"
#include "core/buf.h"

#define TAIL_GUESS ((size_t)64 << 10)

/* Between the S3 client and the buffer: remembers whether a failure was the buffer's. */
struct range_sink {
    struct buf *b;
    int failed;
};

static enum err
range_sink_feed(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct range_sink *s = ctx;

    if (buf_append(s->b, data, len)) {
        s->failed = 1;
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "a range of more than %zu bytes",
                       INVENTORY_RANGE_MAX_BYTES);
    }
    return ERR_OK;
}

/* Bytes [offset, offset + len) of the file into b (reset first); len > 0. */
static enum err
fetch_range(const struct inventory_ranged *io, uint64_t offset, uint64_t len, struct buf *b,
            char *errbuf, size_t errlen)
{
    struct range_sink sink = {b, 0};
    enum err rc;

    buf_reset(b);
    if (len > INVENTORY_RANGE_MAX_BYTES)
        return err_set(
            ERR_TOO_LARGE, errbuf, errlen, "a range of %llu bytes at offset %llu, more than %zu",
            (unsigned long long)len, (unsigned long long)offset, INVENTORY_RANGE_MAX_BYTES);
    if (buf_reserve(b, (size_t)len)) /* the exact size: no doubling past it */
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "a range of %llu bytes, more than %zu",
                       (unsigned long long)len, INVENTORY_RANGE_MAX_BYTES);
    rc = s3_client_get_range(io->s3, io->bucket, io->file->key, offset, len, range_sink_feed, &sink,
                             NULL, errbuf, errlen);
    if (rc)
        return sink.failed ? rc : ERR_UPSTREAM;
    if (io->on_bytes)
        io->on_bytes(io->bytes_ctx, b->len);
    if ((uint64_t)b->len != len)
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                       "S3 gave %zu of the %llu bytes at offset %llu: is the object smaller than "
                       "the manifest's size?",
                       b->len, (unsigned long long)len, (unsigned long long)offset);
    return ERR_OK;
}

/* The last min(size, want) bytes of the file into b. */
static enum err
fetch_tail(const struct inventory_ranged *io, uint64_t size, uint64_t want, struct buf *b,
           char *errbuf, size_t errlen)
{
    if (want > size)
        want = size;
    return fetch_range(io, size - want, want, b, errbuf, errlen);
}

/* ---- units read in order, by one sequential GET ---- */

/* A row group's bound columns or a whole stripe: bytes [offset, offset + len) of the file. */
struct unit {
    uint64_t offset;
    uint64_t len;
    size_t index; /* the row group's or stripe's */
};

struct seq;
typedef enum err (*unit_fn)(struct seq *q, const struct unit *u, char *errbuf, size_t errlen);

/* One sequential read: the units in file order, the one in hand gathering in b. */
struct seq {
    const struct inventory_ranged *io;
    struct buf *b;
    struct unit *units;
    size_t nunits;
    size_t next;  /* the unit in hand */
    uint64_t pos; /* bytes of the object seen */
    unit_fn decode;
    void *fmt; /* the format's reader: struct parquet_inventory or struct orc_file */
    int failed;
};

/* Whether the units are in file order, none overlapping the next, within size. */
static int
seq_ordered(const struct seq *q, uint64_t size)
{
    size_t i;

    for (i = 0; i < q->nunits; i++) {
        const struct unit *u = &q->units[i];

        if (u->len > size || u->offset > size - u->len)
            return 0;
        if (i > 0 && u->offset < q->units[i - 1].offset + q->units[i - 1].len)
            return 0;
    }
    return 1;
}

/* Feed the units that the object's bytes [at, at + len) complete. */
static enum err
seq_units(struct seq *q, uint64_t at, const char *data, size_t len, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    while (!rc && q->next < q->nunits) {
        const struct unit *u = &q->units[q->next];
        uint64_t from = at > u->offset ? at : u->offset;
        uint64_t to = at + len < u->offset + u->len ? at + len : u->offset + u->len;

        if (u->len > 0 && from >= at + len)
            break; /* the unit starts after this chunk */
        if (q->b->len == 0 && u->len > 0 && buf_reserve(q->b, (size_t)u->len))
            return err_set(ERR_TOO_LARGE, errbuf, errlen, "a range of %llu bytes, more than %zu",
                           (unsigned long long)u->len, INVENTORY_RANGE_MAX_BYTES);
        if (to > from && buf_append(q->b, data + (from - at), (size_t)(to - from)))
            return err_set(ERR_TOO_LARGE, errbuf, errlen, "a range of more than %zu bytes",
                           INVENTORY_RANGE_MAX_BYTES);
        if ((uint64_t)q->b->len < u->len)
            break; /* the unit goes on in the next chunk */
        rc = q->decode(q, u, errbuf, errlen);
        buf_reset(q->b);
        q->next++;
    }
    return rc;
}

static enum err
seq_feed(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct seq *q = ctx;
    uint64_t at = q->pos;
    enum err rc;

    q->pos += len;
    rc = q->io->on_stored(q->io->stored_ctx, data, len, errbuf, errlen);
    if (!rc && q->io->on_bytes)
        q->io->on_bytes(q->io->bytes_ctx, len);
    if (!rc)
        rc = seq_units(q, at, data, len, errbuf, errlen);
    q->failed = rc != ERR_OK;
    return rc;
}

/* Every byte of the object to on_stored and the units to q->decode, in one GET. */
static enum err
seq_read(struct seq *q, uint64_t size, char *errbuf, size_t errlen)
{
    const struct inventory_ranged *io = q->io;
    enum err rc;

    buf_reset(q->b);
    rc = s3_client_get(io->s3, io->bucket, io->file->key, seq_feed, q, NULL, errbuf, errlen);
    if (rc)
        return q->failed ? rc : ERR_UPSTREAM;
    if (q->pos != size || q->next < q->nunits)
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen,
                       "S3 gave %llu bytes, the manifest's size is %llu",
                       (unsigned long long)q->pos, (unsigned long long)size);
    return ERR_OK;
}

/* Only on_stored: the object once more, after it was read by ranges. */
static enum err
stored_feed(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct seq *q = ctx;
    enum err rc = q->io->on_stored(q->io->stored_ctx, data, len, errbuf, errlen);

    q->failed = rc != ERR_OK;
    return rc;
}

static enum err
stored_read(const struct inventory_ranged *io, char *errbuf, size_t errlen)
{
    struct seq q;
    enum err rc;

    memset(&q, 0, sizeof(q));
    q.io = io;
    rc = s3_client_get(io->s3, io->bucket, io->file->key, stored_feed, &q, NULL, errbuf, errlen);
    return rc && !q.failed ? ERR_UPSTREAM : rc;
}

/*
 * The units of q to q->decode: in one sequential GET when io->on_stored is
 * set and they are in order, else each by ranged (which fetches its own
 * ranges) and then, with on_stored, the object once more.
 */
static enum err
read_units(struct seq *q, uint64_t size, unit_fn ranged, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    if (q->io->on_stored && seq_ordered(q, size))
        return seq_read(q, size, errbuf, errlen);
    for (q->next = 0; !rc && q->next < q->nunits; q->next++)
        rc = ranged(q, &q->units[q->next], errbuf, errlen);
    if (!rc && q->io->on_stored)
        rc = stored_read(q->io, errbuf, errlen);
    return rc;
}

/* ---- Parquet ---- */

/* A row group from the bound columns' bytes in q->b. */
static enum err
parquet_unit(struct seq *q, const struct unit *u, char *errbuf, size_t errlen)
{
    return parquet_inventory_row_group(q->fmt, u->index, q->b->data ? q->b->data : "", q->b->len,
                                       u->offset, errbuf, errlen);
}

static enum err
parquet_ranged(struct seq *q, const struct unit *u, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    buf_reset(q->b);
    if (u->len > 0)
        rc = fetch_range(q->io, u->offset, u->len, q->b, errbuf, errlen);
    return rc ? rc : parquet_unit(q, u, errbuf, errlen);
}

static enum err
decode_parquet(const struct inventory_ranged *io, uint64_t size, struct buf *b, char *errbuf,
               size_t errlen)
{
    struct parquet_limits limits;
    struct parquet_meta *meta = NULL;
    struct parquet_inventory *d = NULL;
    struct seq q;
    size_t footer_len = 0;
    size_t rg;
    enum err rc;

    memset(&limits, 0, sizeof(limits));
    memset(&q, 0, sizeof(q));
    limits.max_range_bytes = INVENTORY_RANGE_MAX_BYTES;
    rc = fetch_tail(io, size, TAIL_GUESS, b, errbuf, errlen);
    if (!rc)
        rc = parquet_footer_size(b->data, b->len, size, &limits, &footer_len, errbuf, errlen);
    if (!rc && footer_len > b->len)
        rc = fetch_tail(io, size, footer_len, b, errbuf, errlen);
    if (!rc)
        rc = parquet_meta_parse(b->data, b->len, size, &limits, &meta, errbuf, errlen);
    if (!rc)
        rc = parquet_inventory_new(meta, io->on_line, io->line_ctx, &d, errbuf, errlen);
    if (rc)
        goto out;
    q.units = xcalloc(meta->nrow_groups + 1, sizeof(*q.units));
    for (rg = 0; !rc && rg < meta->nrow_groups; rg++) {
        struct unit *u = &q.units[q.nunits];

        if (meta->row_groups[rg].num_rows == 0)
            continue;
        rc = parquet_inventory_range(d, rg, &u->offset, &u->len, errbuf, errlen);
        u->index = rg;
        q.nunits++;
    }
    q.io = io;
    q.b = b;
    q.decode = parquet_unit;
    q.fmt = d;
    if (!rc)
        rc = read_units(&q, size, parquet_ranged, errbuf, errlen);
out:
    free(q.units);
    parquet_inventory_free(d);
    parquet_meta_free(meta);
    return rc;
}

/* ---- ORC ---- */

/* Stripe u->index from the whole stripe's bytes in q->b (its footer is at its end). */
static enum err
orc_unit(struct seq *q, const struct unit *u, char *errbuf, size_t errlen)
{
    struct orc_stripe_range sr;
    struct orc_stripe *s = NULL;
    uint64_t offset, len, at;
    enum err rc;

    orc_file_stripe(q->fmt, u->index, &sr);
    at = sr.footer_offset - sr.offset;
    if (sr.footer_length == 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "stripe %zu has no footer", u->index);
    if (sr.footer_offset < sr.offset || at > q->b->len || sr.footer_length > q->b->len - at)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "stripe %zu: its footer is not inside it",
                       u->index);
    rc = orc_stripe_open(q->fmt, u->index, q->b->data + at, (size_t)sr.footer_length, &s, errbuf,
                         errlen);
    if (rc)
        goto out;
    orc_stripe_span(s, &offset, &len);
    at = offset - sr.offset;
    if (len > 0 && (offset < sr.offset || at > q->b->len || len > q->b->len - at)) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "stripe %zu: its streams are not inside it",
                     u->index);
        goto out;
    }
    rc = orc_stripe_decode(s, len > 0 ? q->b->data + at : "", (size_t)len, q->io->on_line,
                           q->io->line_ctx, errbuf, errlen);
out:
    orc_stripe_free(s);
    return rc;
}

/* Stripe u->index by two ranges: its footer, then the span of the bound fields' streams. */
static enum err
orc_ranged(struct seq *q, const struct unit *u, char *errbuf, size_t errlen)
{
    const struct inventory_ranged *io = q->io;
    struct orc_stripe_range sr;
    struct orc_stripe *s = NULL;
    uint64_t offset, len;
    enum err rc;

    orc_file_stripe(q->fmt, u->index, &sr);
    if (sr.footer_length == 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "stripe %zu has no footer", u->index);
    rc = fetch_range(io, sr.footer_offset, sr.footer_length, q->b, errbuf, errlen);
    if (!rc)
        rc = orc_stripe_open(q->fmt, u->index, q->b->data, q->b->len, &s, errbuf, errlen);
    if (rc)
        goto out;
    orc_stripe_span(s, &offset, &len);
    buf_reset(q->b);
    if (len > 0)
        rc = fetch_range(io, offset, len, q->b, errbuf, errlen);
    if (!rc)
        rc = orc_stripe_decode(s, q->b->data ? q->b->data : "", q->b->len, io->on_line,
                               io->line_ctx, errbuf, errlen);
out:
    orc_stripe_free(s);
    return rc;
}

static enum err
decode_orc(const struct inventory_ranged *io, uint64_t size, struct buf *b, char *errbuf,
           size_t errlen)
{
    struct orc_file *f = NULL;
    struct orc_stripe_range sr;
    struct seq q;
    uint64_t need = 0;
    size_t i, n;
    enum err rc;

    memset(&q, 0, sizeof(q));
    rc = fetch_tail(io, size, ORC_TAIL_GUESS, b, errbuf, errlen);
    if (!rc)
        rc = orc_tail_need(b->data, b->len, size, &need, errbuf, errlen);
    if (!rc && need > b->len)
        rc = fetch_tail(io, size, need, b, errbuf, errlen);
    if (!rc)
        rc = orc_file_open(b->data, b->len, size, &f, errbuf, errlen);
    if (rc)
        goto out;
    n = orc_file_stripe_count(f);
    q.units = xcalloc(n + 1, sizeof(*q.units));
    for (i = 0; i < n; i++) {
        orc_file_stripe(f, i, &sr);
        if (sr.rows == 0)
            continue;
        q.units[q.nunits].offset = sr.offset;
        q.units[q.nunits].len = sr.length;
        q.units[q.nunits++].index = i;
    }
    q.io = io;
    q.b = b;
    q.decode = orc_unit;
    q.fmt = f;
    rc = read_units(&q, size, orc_ranged, errbuf, errlen);
out:
    free(q.units);
    orc_file_free(f);
    return rc;
}

/* ---- the file ---- */

enum err
inventory_ranged_decode(const struct inventory_ranged *io, uint64_t *file_size, char *errbuf,
                        size_t errlen)
{
    struct buf b;
    uint64_t size = 0;
    enum err rc = ERR_OK;

    *file_size = 0;
    buf_init(&b, INVENTORY_RANGE_MAX_BYTES);
    if (io->file->has_size)
        size = (uint64_t)io->file->size;
    else if (s3_client_head(io->s3, io->bucket, io->file->key, &size, errbuf, errlen))
        rc = ERR_UPSTREAM; /* S3 itself failed: the runner's kind for it */
    if (rc)
        goto out;
    *file_size = size;
    if (size == 0) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "empty file, not %s",
                     io->format == INVENTORY_ORC ? "ORC" : "Parquet");
        goto out;
    }
    if (io->format == INVENTORY_ORC)
        rc = decode_orc(io, size, &b, errbuf, errlen);
    else
        rc = decode_parquet(io, size, &b, errbuf, errlen);
out:
    buf_release(&b);
    return rc;
}
