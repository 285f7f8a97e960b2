/*
 * fuzz_csv_parser.c - libFuzzer target for the streaming RFC 4180 CSV decoder
 *
 * The first input byte is a selector: bit 7 picks tight limits (4 columns,
 * 16 bytes a field) or roomy ones, bits 0-3 the record after which the record
 * callback fails (0: never), bits 4-6 seed the chunk sizes. The rest is the
 * CSV text. It is parsed once in one feed and once in chunks of 1..n bytes
 * (with empty feeds between some); both transcripts (records with their
 * line and error flag, reported problems, the final code and message) must
 * be identical, a callback's error must come back as is, and every record
 * keeps the limits. Text that parses without a problem is written back with
 * every field quoted and must parse to the same fields.
 *
 *   tests/fuzz/run.sh csv_parser      (libFuzzer; corpus tests/fuzz/corpus/csv_parser)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/csv_parser.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    const struct csv_limits *lim;
    size_t fail_at;   /* the callback fails on this record (1-based), 0: never */
    size_t nrecords;  /* records delivered */
    size_t last_line; /* line of the previous record */
    size_t nproblems;
    struct buf log;  /* transcript */
    struct buf back; /* the records written back, every field quoted */
};

static enum err
on_record(void *ctx, size_t line, const struct csv_field *f, size_t n, int had_error, char *errbuf,
          size_t errlen)
{
    struct run *r = ctx;
    size_t i, k;

    if (n == 0 || n > r->lim->max_columns || line == 0 || line <= r->last_line)
        abort();
    r->last_line = line;
    buf_printf(&r->log, "R%zu %d %zu:", line, had_error, n);
    for (i = 0; i < n; i++) {
        if (f[i].len > r->lim->max_field_bytes || (f[i].len && !f[i].data))
            abort();
        buf_printf(&r->log, " %zu|", f[i].len);
        buf_append(&r->log, f[i].data, f[i].len);
        buf_append_char(&r->back, i ? ',' : '\n');
        buf_append_char(&r->back, '"');
        for (k = 0; k < f[i].len; k++) {
            if (f[i].data[k] == '"')
                buf_append_char(&r->back, '"');
            buf_append_char(&r->back, f[i].data[k]);
        }
        buf_append_char(&r->back, '"');
    }
    buf_append_char(&r->log, '\n');
    if (++r->nrecords == r->fail_at)
        return err_set(ERR_CONFLICT, errbuf, errlen, "stop at record %zu", r->nrecords);
    return ERR_OK;
}

static void
on_error(void *ctx, size_t line, const char *detail)
{
    struct run *r = ctx;

    if (line == 0 || !detail || !*detail)
        abort();
    r->nproblems++;
    buf_printf(&r->log, "E%zu %s\n", line, detail);
}

/* Parse; max_chunk 0 means one feed. */
static enum err
parse(const char *in, size_t len, unsigned seed, unsigned max_chunk, struct run *r)
{
    struct csv_parser *p = csv_parser_new(r->lim, on_record, on_error, r);
    char msg[ERRBUF_SIZE] = "";
    enum err rc = ERR_OK;
    size_t pos = 0;

    while (pos < len && !rc) {
        size_t n = len - pos;

        if (max_chunk) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % max_chunk;
            if (n > len - pos)
                n = len - pos;
        }
        rc = csv_parser_feed(p, in + pos, n, msg, sizeof(msg));
        pos += n;
        if (max_chunk && !rc && (seed & 0x100))
            rc = csv_parser_feed(p, in + pos, 0, msg, sizeof(msg));
    }
    if (!rc)
        rc = csv_parser_finish(p, msg, sizeof(msg));
    if (rc && !msg[0])
        abort();
    if (rc == ERR_CONFLICT && (!r->fail_at || r->nrecords != r->fail_at))
        abort(); /* only the callback says ERR_CONFLICT, and it stops the parser */
    buf_printf(&r->log, "rc %d: %s\n", (int)rc, msg);
    csv_parser_free(p);
    return rc;
}

static void
run_init(struct run *r, const struct csv_limits *lim, size_t fail_at)
{
    memset(r, 0, sizeof(*r));
    r->lim = lim;
    r->fail_at = fail_at;
    buf_init(&r->log, 0);
    buf_init(&r->back, 0);
}

static void
run_release(struct run *r)
{
    buf_release(&r->log);
    buf_release(&r->back);
}

/* Fields only: the records' lines differ once written back. */
static void
fields_only(const struct buf *log, struct buf *out)
{
    const char *p = log->data ? log->data : "";
    const char *end = p + log->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *sp = memchr(p, ' ', (size_t)(end - p));

        if (!nl)
            nl = end;
        if (*p == 'R' && sp && sp < nl)
            buf_append(out, sp, (size_t)(nl - sp));
        else
            buf_append(out, p, (size_t)(nl - p));
        buf_append_char(out, '\n');
        p = nl + 1;
    }
}

static void
check_round_trip(const struct run *one)
{
    struct run again;
    struct buf a, b;

    run_init(&again, one->lim, 0);
    buf_init(&a, 0);
    buf_init(&b, 0);
    if (parse(one->back.data ? one->back.data : "", one->back.len, 0, 0, &again) ||
        again.nproblems || again.nrecords != one->nrecords)
        abort();
    fields_only(&one->log, &a);
    fields_only(&again.log, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len))
        abort();
    buf_release(&a);
    buf_release(&b);
    run_release(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct csv_limits tight = {4, 16};
    static const struct csv_limits roomy = {256, 8192};
    const char *in = (const char *)data + 1;
    struct run one, chunked;
    unsigned sel;
    enum err rc;

    if (size < 1)
        return 0;
    sel = data[0];
    run_init(&one, sel & 0x80 ? &tight : &roomy, sel & 0x0F);
    run_init(&chunked, one.lim, one.fail_at);
    rc = parse(in, size - 1, 0, 0, &one);
    parse(in, size - 1, sel, 1 + ((sel >> 4) & 7) * 5, &chunked);
    if (one.log.len != chunked.log.len || memcmp(one.log.data, chunked.log.data, one.log.len)) {
        fprintf(stderr, "one-shot and chunked parses differ:\n%s\n---\n%s\n", one.log.data,
                chunked.log.data);
        abort();
    }
    if (!rc && !one.nproblems)
        check_round_trip(&one);
    run_release(&one);
    run_release(&chunked);
    return 0;
}
