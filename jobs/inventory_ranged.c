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
 * One struct buf holds the range in hand and is reused (capped at
 * INVENTORY_RANGE_MAX_BYTES); the parsed metadata lives until the file is
 * done. A range S3 answers short (the manifest's size larger than the
 * object) is ERR_UNPROCESSABLE saying so, before a decoder sees it.
 */
#include "jobs/inventory_ranged.h"

#include <stdio.h>
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

/* ---- Parquet ---- */

static enum err
decode_parquet(const struct inventory_ranged *io, uint64_t size, struct buf *b, char *errbuf,
               size_t errlen)
{
    struct parquet_limits limits;
    struct parquet_meta *meta = NULL;
    struct parquet_inventory *d = NULL;
    uint64_t offset, len;
    size_t footer_len = 0;
    size_t rg;
    enum err rc;

    memset(&limits, 0, sizeof(limits));
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
    for (rg = 0; !rc && rg < meta->nrow_groups; rg++) {
        if (meta->row_groups[rg].num_rows == 0)
            continue;
        rc = parquet_inventory_range(d, rg, &offset, &len, errbuf, errlen);
        buf_reset(b);
        if (!rc && len > 0)
            rc = fetch_range(io, offset, len, b, errbuf, errlen);
        if (!rc)
            rc = parquet_inventory_row_group(d, rg, b->data ? b->data : "", b->len, offset, errbuf,
                                             errlen);
    }
    parquet_inventory_free(d);
    parquet_meta_free(meta);
    return rc;
}

/* ---- ORC ---- */

static enum err
decode_stripe(const struct inventory_ranged *io, const struct orc_file *f, size_t i, struct buf *b,
              char *errbuf, size_t errlen)
{
    struct orc_stripe_range sr;
    struct orc_stripe *s = NULL;
    uint64_t offset, len;
    enum err rc;

    orc_file_stripe(f, i, &sr);
    if (sr.rows == 0)
        return ERR_OK;
    if (sr.footer_length == 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "stripe %zu has no footer", i);
    rc = fetch_range(io, sr.footer_offset, sr.footer_length, b, errbuf, errlen);
    if (!rc)
        rc = orc_stripe_open(f, i, b->data, b->len, &s, errbuf, errlen);
    if (rc)
        goto out;
    orc_stripe_span(s, &offset, &len);
    buf_reset(b);
    if (len > 0)
        rc = fetch_range(io, offset, len, b, errbuf, errlen);
    if (!rc)
        rc = orc_stripe_decode(s, b->data ? b->data : "", b->len, io->on_line, io->line_ctx, errbuf,
                               errlen);
out:
    orc_stripe_free(s);
    return rc;
}

static enum err
decode_orc(const struct inventory_ranged *io, uint64_t size, struct buf *b, char *errbuf,
           size_t errlen)
{
    struct orc_file *f = NULL;
    uint64_t need = 0;
    size_t i;
    enum err rc;

    rc = fetch_tail(io, size, ORC_TAIL_GUESS, b, errbuf, errlen);
    if (!rc)
        rc = orc_tail_need(b->data, b->len, size, &need, errbuf, errlen);
    if (!rc && need > b->len)
        rc = fetch_tail(io, size, need, b, errbuf, errlen);
    if (!rc)
        rc = orc_file_open(b->data, b->len, size, &f, errbuf, errlen);
    for (i = 0; !rc && i < orc_file_stripe_count(f); i++)
        rc = decode_stripe(io, f, i, b, errbuf, errlen);
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
