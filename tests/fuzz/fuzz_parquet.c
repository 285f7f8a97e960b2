/*
 * fuzz_parquet.c - libFuzzer target: the Parquet reader (footer, pages, inventory lines)
 *
 * The input is a whole file. Its footer size is read from the last 8 bytes
 * and the FileMetaData parsed from a tail of exactly that size, copied into
 * its own buffer (a read past it is an ASan report); parsing the whole file
 * as the tail must give the same result. Then each row group's range, again
 * copied to a buffer of its exact size, goes to the S3 Inventory decoder;
 * and every column chunk is read with a column reader. Every line handed
 * over must keep the callback's contract (bucket and key non-empty, a date
 * of the normalised shape, a quoted eTag); every error must have a message.
 * Small caps keep one run fast: pages of 1 MiB, at most 20000 lines and
 * 20000 values per chunk.
 *
 *   tests/fuzz/run.sh parquet      (libFuzzer; corpus tests/fuzz/corpus/parquet)
 *
 * The corpus: the S3 fixture, small files of the test's writers (DuckDB,
 * arrow-rs) and the files test_parquet_built.c builds by hand
 * (PARQUET_SEED_DIR=dir ./test_parquet_built writes them).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/parquet.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 20000
#define MAX_VALUES 20000

static const struct parquet_limits limits = {
    1u << 20, 64, 64, 1024, 1u << 20, 16u << 20, 4096,
};

static void
check_message(enum err rc, const char *msg)
{
    if (rc && !msg[0]) {
        fprintf(stderr, "error %d without a message\n", (int)rc);
        abort();
    }
}

static void
check_date(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    size_t i;

    if (strlen(s) != sizeof(shape) - 1)
        abort();
    for (i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            abort();
    }
}

static enum err
on_line(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    size_t *n = ctx, len;

    if (!l->bucket || !*l->bucket || !l->key || !*l->key || l->line == 0)
        abort();
    if (l->is_latest < -1 || l->is_latest > 1 || l->is_delete_marker < 0 ||
        l->is_delete_marker > 1 || (l->has_size && l->size < 0))
        abort();
    if ((l->version_id && !*l->version_id) || (l->storage_class && !*l->storage_class))
        abort();
    if (l->last_modified)
        check_date(l->last_modified);
    if (l->etag) {
        len = strlen(l->etag);
        if (len < 2 || l->etag[len - 1] != '"' ||
            (l->etag[0] != '"' && strncmp(l->etag, "W/\"", 3)))
            abort();
    }
    if (++*n >= MAX_LINES)
        return err_set(ERR_CONFLICT, errbuf, errlen, "enough lines");
    return ERR_OK;
}

/* A copy of data[off..off+n) in a buffer of exactly n bytes. */
static uint8_t *
range(const uint8_t *data, uint64_t off, uint64_t n)
{
    uint8_t *p = xmalloc(n ? (size_t)n : 1);

    if (n)
        memcpy(p, data + off, (size_t)n);
    return p;
}

static void
inventory(const struct parquet_meta *m, const uint8_t *data)
{
    struct parquet_inventory *d = NULL;
    char msg[ERRBUF_SIZE] = "";
    size_t g, lines = 0;
    uint64_t off, n;
    uint8_t *r;
    enum err rc = parquet_inventory_new(m, on_line, &lines, &d, msg, sizeof(msg));

    check_message(rc, msg);
    for (g = 0; !rc && g < m->nrow_groups; g++) {
        rc = parquet_inventory_range(d, g, &off, &n, msg, sizeof(msg));
        if (rc)
            break;
        r = range(data, off, n);
        rc = parquet_inventory_row_group(d, g, r, (size_t)n, off, msg, sizeof(msg));
        free(r);
    }
    check_message(rc, msg);
    parquet_inventory_free(d);
}

static void
columns(const struct parquet_meta *m, const uint8_t *data)
{
    struct parquet_column_reader *cr;
    struct parquet_value v;
    char msg[ERRBUF_SIZE] = "";
    uint64_t off, n;
    int64_t i;
    size_t g, c;
    uint8_t *r;
    enum err rc;

    for (g = 0; g < m->nrow_groups; g++) {
        for (c = 0; c < m->ncolumns; c++) {
            parquet_chunk_range(m, g, c, &off, &n);
            r = range(data, off, n);
            rc = parquet_column_reader_new(m, g, c, r, (size_t)n, off, &cr, msg, sizeof(msg));
            for (i = 0; !rc && i < m->row_groups[g].chunks[c].num_values && i < MAX_VALUES; i++) {
                int64_t ms;

                rc = parquet_column_reader_next(cr, &v, msg, sizeof(msg));
                if (!rc && !v.is_null && v.len && !v.bytes)
                    abort();
                if (!rc && parquet_value_time_ms(&m->columns[c], &v, &ms) &&
                    (ms < -62167219200000LL || ms >= 253402300800000LL))
                    abort();
            }
            check_message(rc, msg);
            parquet_column_reader_free(cr);
            free(r);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct parquet_meta *m = NULL, *whole = NULL;
    char msg[ERRBUF_SIZE] = "", msg2[ERRBUF_SIZE] = "";
    size_t footer;
    uint8_t *tail;
    enum err rc, rc2;

    if (size < 8)
        return 0;
    rc = parquet_footer_size(data + size - 8, 8, size, &limits, &footer, msg, sizeof(msg));
    check_message(rc, msg);
    if (rc)
        return 0;
    tail = range(data, size - footer, footer);
    rc = parquet_meta_parse(tail, footer, size, &limits, &m, msg, sizeof(msg));
    free(tail);
    rc2 = parquet_meta_parse(data, size, size, &limits, &whole, msg2, sizeof(msg2));
    check_message(rc, msg);
    if (rc != rc2 || strcmp(msg, msg2) ||
        (!rc && (!m || m->ncolumns != whole->ncolumns || m->nrow_groups != whole->nrow_groups))) {
        fprintf(stderr, "the exact tail and the whole file differ:\n%s\n%s\n", msg, msg2);
        abort();
    }
    parquet_meta_free(whole);
    if (!rc) {
        inventory(m, data);
        columns(m, data);
    }
    parquet_meta_free(m);
    return 0;
}
