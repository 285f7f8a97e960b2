/*
 * fuzz_repos_csv.c - libFuzzer target for repos_csv (and csv_parser under it)
 *
 * The first input byte picks the limits (bit 7: tight ones, so fatal errors
 * happen) and seeds the chunk sizes; the rest is the document. It is parsed
 * once in one feed and once in chunks; both results must be identical. A
 * document that parses cleanly is also written back with
 * repos_csv_write_field() and must parse to the same values.
 *
 *   tests/fuzz/run.sh repos_csv      (libFuzzer; corpus tests/fuzz/corpus/repos_csv)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/repos_csv.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
dump(struct buf *b, const struct repos_csv *doc, enum err feed_rc, const char *feed_msg,
     enum err rc, const char *msg)
{
    size_t r, c;

    buf_printf(b, "feed %d:%s\nrc %d:%s\ncols %zu\n", (int)feed_rc, feed_rc ? feed_msg : "",
               (int)rc, rc ? msg : "", doc->ncols);
    for (c = 0; c < doc->ncols; c++)
        buf_printf(b, "[%s]", doc->cols[c]);
    buf_printf(b, "\n%d %d %d %d %d %zu\n", doc->idx_origin, doc->idx_path, doc->idx_branch,
               doc->idx_changeset, doc->idx_publish_uri, doc->nrows);
    for (r = 0; r < doc->nrows; r++) {
        buf_printf(b, "L%zu", doc->lines[r]);
        for (c = 0; c < doc->ncols; c++) {
            size_t i = r * doc->ncols + c;

            if (doc->vals[i][doc->lens[i]] != '\0')
                abort();
            buf_printf(b, "|%zu:", doc->lens[i]);
            buf_append(b, doc->vals[i], doc->lens[i]);
        }
        buf_append_char(b, '\n');
    }
    for (r = 0; r < doc->nerrors; r++)
        buf_printf(b, "e%zu:%s\n", doc->errors[r].line, doc->errors[r].detail);
    buf_printf(b, "total %zu\n", doc->nerrors_total);
}

/* Parse; chunk == 0 means one feed. Returns the document, result in out. */
static struct repos_csv *
parse(const char *in, size_t len, const struct repos_csv_limits *lim, unsigned seed,
      unsigned max_chunk, struct buf *out)
{
    struct repos_csv *doc = repos_csv_new(lim);
    char feed_msg[ERRBUF_SIZE] = "", msg[ERRBUF_SIZE] = "";
    enum err feed_rc = ERR_OK, rc;
    size_t pos = 0;

    while (pos < len && !feed_rc) {
        size_t n = len - pos;

        if (max_chunk) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % max_chunk;
            if (n > len - pos)
                n = len - pos;
        }
        feed_rc = repos_csv_feed(doc, in + pos, n, feed_msg, sizeof(feed_msg));
        pos += n;
        if (max_chunk && !feed_rc && (seed & 0x100))
            feed_rc = repos_csv_feed(doc, in + pos, 0, feed_msg, sizeof(feed_msg));
    }
    rc = repos_csv_finish(doc, msg, sizeof(msg));
    if (rc == ERR_OK && (feed_rc || doc->nerrors_total))
        abort();
    dump(out, doc, feed_rc, feed_msg, rc, msg);
    return doc;
}

/*
 * Write the document back. Values that would not survive a round trip by the
 * file format's own rules are skipped: a first field starting with '#' or a
 * leading U+FEFF read back as a comment or a byte-order mark (and the
 * caller skips input with NUL bytes).
 */
static int
write_back(const struct repos_csv *doc, struct buf *out)
{
    size_t r, c;

    if (doc->cols[0][0] == '#' || !strncmp(doc->cols[0], "\xEF\xBB\xBF", 3))
        return 0;
    for (c = 0; c < doc->ncols; c++) {
        if (c)
            buf_append_char(out, ',');
        if (repos_csv_write_field(out, doc->cols[c], strlen(doc->cols[c])))
            abort();
    }
    buf_append_char(out, '\n');
    for (r = 0; r < doc->nrows; r++) {
        const char *first = doc->vals[r * doc->ncols];

        if (first[0] == '#')
            return 0;
        for (c = 0; c < doc->ncols; c++) {
            size_t len;
            const char *v = repos_csv_value(doc, r, (int)c, &len);

            if (c)
                buf_append_char(out, ',');
            if (repos_csv_write_field(out, v, len))
                abort();
        }
        buf_append_char(out, '\n');
    }
    return 1;
}

static void
check_round_trip(const struct repos_csv *doc, const struct repos_csv_limits *lim)
{
    struct buf text, out;
    struct repos_csv *again;
    size_t i;

    buf_init(&text, 0);
    buf_init(&out, 0);
    if (!write_back(doc, &text))
        goto out;
    again = parse(text.data, text.len, lim, 0, 0, &out);
    if (again->nerrors_total || again->nrows != doc->nrows || again->ncols != doc->ncols)
        abort();
    for (i = 0; i < doc->ncols; i++) {
        if (strcmp(again->cols[i], doc->cols[i]))
            abort();
    }
    for (i = 0; i < doc->nrows * doc->ncols; i++) {
        if (again->lens[i] != doc->lens[i] || memcmp(again->vals[i], doc->vals[i], doc->lens[i]))
            abort();
    }
    repos_csv_free(again);
out:
    buf_release(&text);
    buf_release(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct repos_csv_limits tight = {8, 32, 16};
    const struct repos_csv_limits *lim = NULL;
    struct repos_csv *one, *chunked;
    struct buf a, b;
    unsigned sel;

    if (size < 1)
        return 0;
    sel = data[0];
    if (sel & 0x80)
        lim = &tight;
    buf_init(&a, 0);
    buf_init(&b, 0);
    one = parse((const char *)data + 1, size - 1, lim, 0, 0, &a);
    chunked = parse((const char *)data + 1, size - 1, lim, sel, 1 + (sel & 0x0F) * 3, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len)) {
        fprintf(stderr, "one-shot and chunked parses differ:\n%s\n---\n%s\n", a.data, b.data);
        abort();
    }
    /* names are C strings: a NUL byte in one cannot be written back */
    if (one->nerrors_total == 0 && !memchr(data + 1, '\0', size - 1))
        check_round_trip(one, lim);
    repos_csv_free(one);
    repos_csv_free(chunked);
    buf_release(&a);
    buf_release(&b);
    return 0;
}
