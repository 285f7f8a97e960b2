/*
 * test_repos_csv.c - unit tests for the repos.csv document decoder
 *
 * Each parse is dumped to a transcript (result, header, rows, problems) and,
 * as for the CSV decoder, every expectation is also checked with the input
 * cut at every byte offset and fed one byte at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/repos_csv.h"
#include "core/buf.h"

static void
escape(struct buf *b, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\n')
            buf_append_str(b, "\\n");
        else if (c == '\r')
            buf_append_str(b, "\\r");
        else if (c == '\\')
            buf_append_str(b, "\\\\");
        else if (c < 0x20 || c >= 0x7F)
            buf_printf(b, "\\x%02X", c);
        else
            buf_append_char(b, (char)c);
    }
}

static void
dump_doc(struct buf *b, const struct repos_csv *doc, enum err rc, const char *msg)
{
    size_t r, c;

    buf_printf(b, "rc %d:%s\n", (int)rc, rc ? msg : "");
    buf_printf(b, "cols %zu:", doc->ncols);
    for (c = 0; c < doc->ncols; c++)
        buf_printf(b, "[%s]", doc->cols[c]);
    buf_printf(b, "\nidx %d %d %d %d %d\n", doc->idx_origin, doc->idx_path, doc->idx_branch,
               doc->idx_changeset, doc->idx_publish_uri);
    for (r = 0; r < doc->nrows; r++) {
        buf_printf(b, "L%zu:", doc->lines[r]);
        for (c = 0; c < doc->ncols; c++) {
            size_t i = r * doc->ncols + c;

            assert_int_equal(doc->vals[i][doc->lens[i]], '\0');
            buf_append_char(b, '[');
            escape(b, doc->vals[i], doc->lens[i]);
            buf_append_char(b, ']');
        }
        buf_append_char(b, '\n');
    }
    for (r = 0; r < doc->nerrors; r++)
        buf_printf(b, "e%zu:%s\n", doc->errors[r].line, doc->errors[r].detail);
    buf_printf(b, "total %zu\n", doc->nerrors_total);
}

/*
 * Feed `in` in the chunks ending at cuts[], stop at a failed feed, then
 * finish; returns the transcript (caller frees). *docp gets the document
 * when docp is not NULL (caller frees), else it is freed here.
 */
static char *
run_cuts(const char *in, size_t len, const struct repos_csv_limits *lim, const size_t *cuts,
         size_t ncuts, struct repos_csv **docp)
{
    struct repos_csv *doc = repos_csv_new(lim);
    char errbuf[ERRBUF_SIZE];
    struct buf out;
    size_t pos = 0, k;
    enum err rc = ERR_OK;

    buf_init(&out, 0);
    for (k = 0; k <= ncuts && !rc; k++) {
        size_t end = k < ncuts ? cuts[k] : len;

        rc = repos_csv_feed(doc, in + pos, end - pos, errbuf, sizeof(errbuf));
        pos = end;
    }
    if (rc)
        buf_printf(&out, "feed %d:%s\n", (int)rc, errbuf);
    rc = repos_csv_finish(doc, errbuf, sizeof(errbuf));
    dump_doc(&out, doc, rc, errbuf);
    if (docp)
        *docp = doc;
    else
        repos_csv_free(doc);
    return buf_take(&out, NULL);
}

static void
check_splits(const char *in, size_t len, const struct repos_csv_limits *lim)
{
    char *want = run_cuts(in, len, lim, NULL, 0, NULL);
    size_t *cuts = xmalloc((len + 1) * sizeof(*cuts));
    size_t k;
    char *got;

    for (k = 0; k <= len; k++) {
        got = run_cuts(in, len, lim, &k, 1, NULL);
        if (strcmp(got, want))
            fail_msg("split at %zu differs:\n%s---\n%s", k, got, want);
        free(got);
    }
    for (k = 0; k < len; k++)
        cuts[k] = k + 1;
    got = run_cuts(in, len, lim, cuts, len, NULL);
    assert_string_equal(got, want);
    free(got);
    free(cuts);
    free(want);
}

/* Parse in one go, check the split points, return the document. */
static struct repos_csv *
parse_lim(const char *in, size_t len, const struct repos_csv_limits *lim, enum err want_rc,
          const char *want_msg)
{
    struct repos_csv *doc = repos_csv_new(lim);
    char errbuf[ERRBUF_SIZE] = "";
    enum err rc;

    rc = repos_csv_feed(doc, in, len, errbuf, sizeof(errbuf));
    if (!rc)
        rc = repos_csv_finish(doc, errbuf, sizeof(errbuf));
    assert_int_equal(rc, want_rc);
    if (want_msg)
        assert_string_equal(errbuf, want_msg);
    check_splits(in, len, lim);
    return doc;
}

#define PARSE(in, rc, msg) parse_lim(in, sizeof(in) - 1, NULL, rc, msg)
#define PARSE_LIM(in, lim, rc, msg) parse_lim(in, sizeof(in) - 1, lim, rc, msg)

static void
assert_value(const struct repos_csv *doc, size_t r, int c, const char *want)
{
    size_t len;
    const char *v = repos_csv_value(doc, r, c, &len);

    assert_int_equal(len, strlen(want));
    assert_memory_equal(v, want, len);
    assert_int_equal(v[len], '\0');
}

static void
test_basic(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("origin,path,branch,changeset,publishUri,cloneUrl\n"
                "https://a,p1,main,c1,s3://x,git@a\n"
                "https://b,p2,,,,\n",
                ERR_OK, NULL);
    assert_int_equal(doc->ncols, 6);
    assert_int_equal(doc->nrows, 2);
    assert_int_equal(doc->idx_origin, 0);
    assert_int_equal(doc->idx_path, 1);
    assert_int_equal(doc->idx_branch, 2);
    assert_int_equal(doc->idx_changeset, 3);
    assert_int_equal(doc->idx_publish_uri, 4);
    assert_string_equal(doc->cols[5], "cloneUrl");
    assert_value(doc, 0, doc->idx_origin, "https://a");
    assert_value(doc, 0, 5, "git@a");
    assert_value(doc, 1, doc->idx_path, "p2");
    assert_value(doc, 1, doc->idx_branch, "");
    assert_value(doc, 1, -1, "");
    assert_int_equal(doc->lines[0], 2);
    assert_int_equal(doc->lines[1], 3);
    assert_int_equal(doc->nerrors_total, 0);
    repos_csv_free(doc);
    repos_csv_free(NULL);
}

static void
test_optional_columns_and_order(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("x,path,origin\r\n1,p,o", ERR_OK, NULL);
    assert_int_equal(doc->idx_origin, 2);
    assert_int_equal(doc->idx_path, 1);
    assert_int_equal(doc->idx_branch, -1);
    assert_int_equal(doc->idx_changeset, -1);
    assert_int_equal(doc->idx_publish_uri, -1);
    assert_value(doc, 0, doc->idx_branch, "");
    assert_value(doc, 0, doc->idx_origin, "o");
    repos_csv_free(doc);
}

static void
test_values_kept_exactly(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("\xEF\xBB\xBF# generated\r\n"
                "origin,path\r\n"
                "\" a \",\"x,\"\"y\"\"\nz\"\r\n"
                "\n"
                "# skipped\n"
                "  o\t,\"\xC3\xA9\r\n\"\r\n"
                "o3,p\rq\n",
                ERR_OK, NULL);
    assert_int_equal(doc->nrows, 3);
    assert_value(doc, 0, 0, " a ");
    assert_value(doc, 0, 1, "x,\"y\"\nz");
    assert_value(doc, 1, 0, "  o\t");
    assert_value(doc, 1, 1, "\xC3\xA9\r\n");
    assert_value(doc, 2, 1, "p\rq");
    assert_int_equal(doc->lines[0], 3);
    assert_int_equal(doc->lines[1], 7);
    assert_int_equal(doc->lines[2], 9);
    repos_csv_free(doc);
}

static void
test_header_trim(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE(" origin\t,\t path  ,\" branch \"\nO,P,B\n", ERR_OK, NULL);
    assert_string_equal(doc->cols[0], "origin");
    assert_string_equal(doc->cols[1], "path");
    assert_string_equal(doc->cols[2], "branch");
    assert_int_equal(doc->idx_branch, 2);
    repos_csv_free(doc);
}

static void
test_header_errors(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("origin,path,origin\n", ERR_BAD_INPUT, "line 1: duplicate column \"origin\"");
    assert_int_equal(doc->nerrors, 1);
    assert_int_equal(doc->errors[0].line, 1);
    assert_string_equal(doc->errors[0].detail, "duplicate column \"origin\"");
    repos_csv_free(doc);
    doc = PARSE("#x\norigin, x ,path,x\t\n", ERR_BAD_INPUT, "line 2: duplicate column \"x\"");
    repos_csv_free(doc);
    doc = PARSE("origin,,path\n", ERR_BAD_INPUT, "line 1: empty column name");
    repos_csv_free(doc);
    doc = PARSE("origin,path, \t\n", ERR_BAD_INPUT, "line 1: empty column name");
    repos_csv_free(doc);
    doc = PARSE("path,branch\nx,y\n", ERR_BAD_INPUT, "missing required column \"origin\"");
    assert_int_equal(doc->errors[0].line, 0);
    repos_csv_free(doc);
    doc = PARSE("origin\n", ERR_BAD_INPUT, "missing required column \"path\"");
    repos_csv_free(doc);
    doc = PARSE("a,b,a\n", ERR_BAD_INPUT, "line 1: duplicate column \"a\" (and 2 more problems)");
    assert_int_equal(doc->nerrors_total, 3);
    assert_string_equal(doc->errors[1].detail, "missing required column \"origin\"");
    assert_string_equal(doc->errors[2].detail, "missing required column \"path\"");
    repos_csv_free(doc);
}

static void
test_header_case_sensitive(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("origin,path,publishURI,publishUri,Branch\no,p,u1,u2,b\n", ERR_OK, NULL);
    assert_int_equal(doc->idx_publish_uri, 3);
    assert_int_equal(doc->idx_branch, -1);
    assert_value(doc, 0, doc->idx_publish_uri, "u2");
    repos_csv_free(doc);
    doc = PARSE("Origin,path\n", ERR_BAD_INPUT, "missing required column \"origin\"");
    repos_csv_free(doc);
    /* differently cased names are not duplicates */
    doc = PARSE("origin,path,x,X\n", ERR_OK, NULL);
    repos_csv_free(doc);
}

static void
test_duplicate_name_shown_safely(void **state)
{
    struct repos_csv *doc;
    struct buf in;
    size_t i;

    (void)state;
    doc = PARSE("origin,path,\xC3\xA9t\xC3\xA9,\xC3\xA9t\xC3\xA9\n", ERR_BAD_INPUT,
                "line 1: duplicate column \"\xC3\xA9t\xC3\xA9\"");
    repos_csv_free(doc);
    doc = PARSE("origin,path,a\x01\xFF,a\x01\xFF\n", ERR_BAD_INPUT, NULL);
    assert_string_equal(doc->errors[1].detail, "duplicate column \"a??\"");
    repos_csv_free(doc);
    /* long names are cut on a character boundary */
    buf_init(&in, 0);
    buf_append_str(&in, "origin,path,");
    for (i = 0; i < 2; i++) {
        size_t j;

        buf_append_char(&in, 'x');
        for (j = 0; j < 100; j++)
            buf_append_str(&in, "\xE2\x82\xAC");
        buf_append_char(&in, i ? '\n' : ',');
    }
    doc = parse_lim(in.data, in.len, NULL, ERR_BAD_INPUT, NULL);
    assert_int_equal(doc->nerrors, 1);
    assert_int_equal(strlen(doc->errors[0].detail),
                     strlen("duplicate column \"x") + 21 * 3 + strlen("...\""));
    buf_release(&in);
    repos_csv_free(doc);
}

static void
test_ragged_rows(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("origin,path,branch\n"
                "o,p\n"
                "o,p,b\n"
                "\n"
                "o,p,b,x\n"
                "o\n",
                ERR_BAD_INPUT, "line 2: 2 fields, header has 3 (and 2 more problems)");
    assert_int_equal(doc->nerrors, 3);
    assert_int_equal(doc->errors[0].line, 2);
    assert_int_equal(doc->errors[1].line, 5);
    assert_string_equal(doc->errors[1].detail, "4 fields, header has 3");
    assert_int_equal(doc->errors[2].line, 6);
    assert_string_equal(doc->errors[2].detail, "1 fields, header has 3");
    repos_csv_free(doc);
    doc = PARSE("origin,path\no,p,\n", ERR_BAD_INPUT, "line 2: 3 fields, header has 2");
    repos_csv_free(doc);
}

static void
test_many_errors(void **state)
{
    struct repos_csv *doc;
    struct buf in;
    char errbuf[ERRBUF_SIZE];
    size_t i;

    (void)state;
    buf_init(&in, 0);
    buf_append_str(&in, "origin,path,branch\n");
    for (i = 0; i < 150; i++)
        buf_append_str(&in, i % 2 ? "o,p\n" : "o,p,b,c\n");
    doc = repos_csv_new(NULL);
    assert_int_equal(repos_csv_feed(doc, in.data, in.len, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(repos_csv_finish(doc, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "line 2: 4 fields, header has 3 (and 149 more problems)");
    assert_int_equal(doc->nerrors, REPOS_CSV_MAX_ERRORS);
    assert_int_equal(doc->nerrors_total, 150);
    for (i = 0; i < REPOS_CSV_MAX_ERRORS; i++)
        assert_int_equal(doc->errors[i].line, i + 2);
    assert_string_equal(doc->errors[99].detail, "2 fields, header has 3");
    repos_csv_free(doc);
    buf_release(&in);
}

static void
test_empty_origin_path(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("origin,path\n,p\no,\n\"\",\"\"\no,p\n", ERR_BAD_INPUT,
                "line 2: empty origin (and 3 more problems)");
    assert_int_equal(doc->errors[1].line, 3);
    assert_string_equal(doc->errors[1].detail, "empty path");
    assert_int_equal(doc->errors[2].line, 4);
    assert_string_equal(doc->errors[2].detail, "empty origin");
    assert_int_equal(doc->errors[3].line, 4);
    assert_string_equal(doc->errors[3].detail, "empty path");
    repos_csv_free(doc);
    /* a space is not empty: values are not trimmed */
    doc = PARSE("origin,path\n ,\t\n", ERR_OK, NULL);
    repos_csv_free(doc);
}

static void
test_header_only_and_empty(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("origin,path\n", ERR_OK, NULL);
    assert_int_equal(doc->nrows, 0);
    repos_csv_free(doc);
    doc = PARSE("# c\n\norigin,path\n\n#c\n", ERR_OK, NULL);
    assert_int_equal(doc->nrows, 0);
    repos_csv_free(doc);
    doc = PARSE("origin,path", ERR_OK, NULL);
    assert_int_equal(doc->ncols, 2);
    assert_int_equal(doc->nrows, 0);
    repos_csv_free(doc);
    doc = PARSE("", ERR_BAD_INPUT, "empty body");
    assert_int_equal(doc->nerrors, 1);
    assert_int_equal(doc->errors[0].line, 0);
    repos_csv_free(doc);
    doc = PARSE("\n# only comments\r\n\r\n", ERR_BAD_INPUT, "no header");
    repos_csv_free(doc);
    doc = PARSE("\xEF\xBB\xBF", ERR_BAD_INPUT, "no header");
    repos_csv_free(doc);
}

static void
test_final_line_without_newline(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("origin,path\r\no1,p1\r\no2,\"p\n2\"", ERR_OK, NULL);
    assert_int_equal(doc->nrows, 2);
    assert_value(doc, 1, 1, "p\n2");
    assert_int_equal(doc->lines[1], 3);
    repos_csv_free(doc);
}

static void
test_syntax_errors(void **state)
{
    struct repos_csv *doc;

    (void)state;
    doc = PARSE("origin,path\no,p\"q\n", ERR_BAD_INPUT, "line 2: quote in unquoted field");
    repos_csv_free(doc);
    doc = PARSE("origin,path\no,\"p\"q\n", ERR_BAD_INPUT, "line 2: text after closing quote");
    repos_csv_free(doc);
    doc = PARSE("origin,path\no,p\no,\"p\n\n", ERR_BAD_INPUT, "line 3: unterminated quoted field");
    repos_csv_free(doc);
    doc = PARSE("origin,path\no,p\xC0\xAF\n", ERR_BAD_INPUT, "line 2: invalid UTF-8");
    repos_csv_free(doc);
    doc = PARSE("origin,path\n#\xED\xA0\x80\no,p\n", ERR_BAD_INPUT, "line 2: invalid UTF-8");
    assert_int_equal(doc->nerrors_total, 1);
    repos_csv_free(doc);
    doc = PARSE("origin,path\no,\xF4\x90\x80\x80\n,p\n", ERR_BAD_INPUT,
                "line 2: invalid UTF-8 (and 1 more problem)");
    repos_csv_free(doc);
    doc = PARSE("origin,pa\xFFth\no,p\n", ERR_BAD_INPUT,
                "line 1: invalid UTF-8 (and 1 more problem)");
    repos_csv_free(doc);
}

static void
test_limit_rows(void **state)
{
    static const struct repos_csv_limits lim = {10, 100, 2};
    struct repos_csv *doc;
    char errbuf[ERRBUF_SIZE];
    static const char three[] = "origin,path\no,p\n\no,p\no,p\n";

    (void)state;
    doc = PARSE_LIM("origin,path\no,p\no,p\n", &lim, ERR_OK, NULL);
    assert_int_equal(doc->nrows, 2);
    repos_csv_free(doc);
    doc = repos_csv_new(&lim);
    assert_int_equal(repos_csv_feed(doc, three, sizeof(three) - 1, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_string_equal(errbuf, "more than 2 rows");
    assert_int_equal(doc->nerrors, 1);
    assert_string_equal(doc->errors[0].detail, "more than 2 rows");
    assert_int_equal(repos_csv_feed(doc, "o,p\n", 4, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "more than 2 rows");
    assert_int_equal(repos_csv_finish(doc, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "more than 2 rows");
    repos_csv_free(doc);
    check_splits(three, sizeof(three) - 1, &lim);
    /* the row in flight at the end counts too */
    doc = PARSE_LIM("origin,path\no,p\no,p\no,p", &lim, ERR_BAD_INPUT, "more than 2 rows");
    repos_csv_free(doc);
}

static void
test_limit_columns_and_bytes(void **state)
{
    static const struct repos_csv_limits lim = {3, 6, 10};
    struct repos_csv *doc;
    char errbuf[ERRBUF_SIZE];
    struct buf in;
    size_t i;

    (void)state;
    doc = PARSE_LIM("origin,path,x,y\n", &lim, ERR_BAD_INPUT, "line 1: more than 3 columns");
    assert_int_equal(doc->errors[0].line, 1);
    assert_string_equal(doc->errors[0].detail, "more than 3 columns");
    repos_csv_free(doc);
    doc = PARSE_LIM("origin,path\n#\no,\"ppppp\n\"\"\"\n", &lim, ERR_BAD_INPUT,
                    "line 3: field exceeds 6 bytes");
    assert_int_equal(doc->errors[0].line, 3);
    repos_csv_free(doc);
    /* an earlier problem stays first in the summary */
    doc = PARSE_LIM("origin,path\n,p\nooooooo,p\n", &lim, ERR_BAD_INPUT,
                    "line 3: field exceeds 6 bytes");
    assert_int_equal(repos_csv_finish(doc, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "line 2: empty origin (and 1 more problem)");
    assert_int_equal(doc->nerrors_total, 2);
    assert_int_equal(doc->errors[1].line, 3);
    assert_string_equal(doc->errors[1].detail, "field exceeds 6 bytes");
    repos_csv_free(doc);

    /* defaults: 1000 columns and 65536-byte fields pass, one more does not */
    buf_init(&in, 0);
    buf_append_str(&in, "origin,path");
    for (i = 2; i < 1000; i++)
        buf_printf(&in, ",c%zu", i);
    buf_append_str(&in, "\no,");
    for (i = 0; i < 65536; i++)
        buf_append_char(&in, 'p');
    for (i = 2; i < 1000; i++)
        buf_append_char(&in, ',');
    buf_append_char(&in, '\n');
    doc = repos_csv_new(NULL);
    assert_int_equal(repos_csv_feed(doc, in.data, in.len, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(repos_csv_finish(doc, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(doc->ncols, 1000);
    assert_int_equal(doc->lens[1], 65536);
    repos_csv_free(doc);
    buf_reset(&in);
    buf_append_str(&in, "origin,path\no,");
    for (i = 0; i < 65537; i++)
        buf_append_char(&in, 'p');
    doc = repos_csv_new(NULL);
    assert_int_equal(repos_csv_feed(doc, in.data, in.len, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "line 2: field exceeds 65536 bytes");
    repos_csv_free(doc);
    buf_reset(&in);
    for (i = 0; i < 1001; i++)
        buf_printf(&in, "%sc%zu", i ? "," : "", i);
    doc = repos_csv_new(NULL);
    assert_int_equal(repos_csv_feed(doc, in.data, in.len, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "line 1: more than 1000 columns");
    repos_csv_free(doc);
    buf_release(&in);
}

/* Many rows in odd-sized chunks: the arena grows, earlier values stay put. */
static void
test_many_rows_stable(void **state)
{
    struct repos_csv *doc = repos_csv_new(NULL);
    char errbuf[ERRBUF_SIZE];
    struct buf in;
    size_t i, pos = 0;

    (void)state;
    buf_init(&in, 0);
    buf_append_str(&in, "origin,path,branch,changeset,publishUri\n");
    for (i = 0; i < 100000; i++)
        buf_printf(&in, "https://h/r%zu.git,p/%zu,main,%zx,s3://b/%zu\n", i, i, i * 7919, i);
    while (pos < in.len) {
        size_t n = in.len - pos < 4093 ? in.len - pos : 4093;

        assert_int_equal(repos_csv_feed(doc, in.data + pos, n, errbuf, sizeof(errbuf)), ERR_OK);
        pos += n;
    }
    assert_int_equal(repos_csv_finish(doc, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(doc->nrows, 100000);
    for (i = 0; i < doc->nrows; i++) {
        char want[64];
        size_t len;
        const char *v;

        snprintf(want, sizeof(want), "p/%zu", i);
        v = repos_csv_value(doc, i, doc->idx_path, &len);
        assert_int_equal(len, strlen(want));
        assert_string_equal(v, want);
        snprintf(want, sizeof(want), "%zx", i * 7919);
        assert_string_equal(repos_csv_value(doc, i, doc->idx_changeset, NULL), want);
        assert_int_equal(doc->lines[i], i + 2);
    }
    repos_csv_free(doc);
    buf_release(&in);
}

static void
test_write_field(void **state)
{
    struct buf out;

    (void)state;
    buf_init(&out, 0);
    assert_int_equal(repos_csv_write_field(&out, "plain", 5), ERR_OK);
    assert_int_equal(repos_csv_write_field(&out, "", 0), ERR_OK);
    assert_int_equal(repos_csv_write_field(&out, " sp #x\t", 7), ERR_OK);
    assert_int_equal(repos_csv_write_field(&out, "a,b", 3), ERR_OK);
    assert_int_equal(repos_csv_write_field(&out, "say \"hi\"", 8), ERR_OK);
    assert_int_equal(repos_csv_write_field(&out, "\"", 1), ERR_OK);
    assert_int_equal(repos_csv_write_field(&out, "a\rb", 3), ERR_OK);
    assert_int_equal(repos_csv_write_field(&out, "a\nb", 3), ERR_OK);
    assert_int_equal(repos_csv_write_field(&out, "\xC3\xA9", 2), ERR_OK);
    assert_string_equal(out.data, "plain sp #x\t\"a,b\"\"say \"\"hi\"\"\"\"\"\"\"\"a\rb\"\"a\nb\""
                                  "\xC3\xA9");
    buf_release(&out);

    /* a capped buffer takes a whole field or nothing */
    buf_init(&out, 8);
    assert_int_equal(repos_csv_write_field(&out, "abc", 3), ERR_OK);
    assert_int_equal(repos_csv_write_field(&out, "a,b", 3), ERR_OK);
    assert_int_equal(out.len, 8);
    assert_int_equal(repos_csv_write_field(&out, "x", 1), ERR_TOO_LARGE);
    buf_reset(&out);
    assert_int_equal(repos_csv_write_field(&out, "\"\"\"\"", 4), ERR_TOO_LARGE);
    assert_int_equal(out.len, 0);
    assert_int_equal(repos_csv_write_field(&out, "a\"b\"c", 5), ERR_TOO_LARGE);
    assert_int_equal(out.len, 0);
    assert_int_equal(repos_csv_write_field(&out, "\"\"\"", 3), ERR_OK);
    assert_string_equal(out.data, "\"\"\"\"\"\"\"\"");
    buf_release(&out);
}

/* Write a parsed document back with write_field and parse it again. */
static void
test_write_round_trip(void **state)
{
    static const char in[] = "origin,path,note\n"
                             "o1,\"a,b\",\"say \"\"x\"\"\"\n"
                             "o2,\"line\r\nbreak\",\"cr\rhere\"\n"
                             "o3,p, spaced \n";
    struct repos_csv *a = PARSE(in, ERR_OK, NULL), *b;
    struct buf out;
    size_t r, c;

    (void)state;
    buf_init(&out, 0);
    for (c = 0; c < a->ncols; c++) {
        if (c)
            buf_append_char(&out, ',');
        repos_csv_write_field(&out, a->cols[c], strlen(a->cols[c]));
    }
    buf_append_char(&out, '\n');
    for (r = 0; r < a->nrows; r++) {
        for (c = 0; c < a->ncols; c++) {
            size_t len;
            const char *v = repos_csv_value(a, r, (int)c, &len);

            if (c)
                buf_append_char(&out, ',');
            repos_csv_write_field(&out, v, len);
        }
        buf_append_char(&out, '\n');
    }
    b = parse_lim(out.data, out.len, NULL, ERR_OK, NULL);
    assert_int_equal(b->nrows, a->nrows);
    for (r = 0; r < a->nrows * a->ncols; r++) {
        assert_int_equal(b->lens[r], a->lens[r]);
        assert_memory_equal(b->vals[r], a->vals[r], a->lens[r]);
    }
    repos_csv_free(a);
    repos_csv_free(b);
    buf_release(&out);
}

static const char rich[] = "\xEF\xBB\xBF# repos-lock, generated\r\n"
                           "\r\n"
                           " origin ,path,branch,changeset,publishUri,\"x,y\"\n"
                           "https://h/a.git,\"p/\xC3\xA9\",main,abc,\"s3://b/k\",\"q\"\"\"\r\n"
                           "#o,comment\n"
                           "https://h/b.git,\"two\nlines\n#kept\",,,,\r\n"
                           "\n"
                           "o,p\n"
                           "o,p,b\"x,c,u,v\n"
                           ",p,b,c,u,v\n"
                           "o,\xE2\x82,b,c,u,v\n"
                           "#\xC0\n"
                           "o,p,b,c,u,\"v\"w\n"
                           "o,\"\",b,c,u,v\r"
                           "\n"
                           "o,p,b,c,u,\"open\n";

static void
test_rich_sample(void **state)
{
    static const struct repos_csv_limits bytes = {6, 10, 100};
    static const struct repos_csv_limits rows = {6, 16, 1};
    static const char *const want = "rc 1:line 10: 2 fields, header has 6 (and 7 more problems)\n"
                                    "cols 6:[origin][path][branch][changeset][publishUri][x,y]\n"
                                    "idx 0 1 2 3 4\n"
                                    "L4:[https://h/a.git][p/\\xC3\\xA9][main][abc][s3://b/k][q\"]\n"
                                    "L6:[https://h/b.git][two\\nlines\\n#kept][][][][]\n"
                                    "e10:2 fields, header has 6\n"
                                    "e11:quote in unquoted field\n"
                                    "e12:empty origin\n"
                                    "e13:invalid UTF-8\n"
                                    "e14:invalid UTF-8\n"
                                    "e15:text after closing quote\n"
                                    "e16:empty path\n"
                                    "e17:unterminated quoted field\n"
                                    "total 8\n";
    struct repos_csv *doc;
    char *got;

    (void)state;
    doc = parse_lim(rich, sizeof(rich) - 1, NULL, ERR_BAD_INPUT,
                    "line 10: 2 fields, header has 6 (and 7 more problems)");
    repos_csv_free(doc);
    got = run_cuts(rich, sizeof(rich) - 1, NULL, NULL, 0, NULL);
    assert_string_equal(got, want);
    free(got);
    /* tight limits: the fatal error lands mid-document */
    got = run_cuts(rich, sizeof(rich) - 1, &bytes, NULL, 0, NULL);
    assert_string_equal(got, "feed 1:line 4: field exceeds 10 bytes\n"
                             "rc 1:line 4: field exceeds 10 bytes\n"
                             "cols 6:[origin][path][branch][changeset][publishUri][x,y]\n"
                             "idx 0 1 2 3 4\n"
                             "e4:field exceeds 10 bytes\n"
                             "total 1\n");
    free(got);
    check_splits(rich, sizeof(rich) - 1, &bytes);
    got = run_cuts(rich, sizeof(rich) - 1, &rows, NULL, 0, NULL);
    assert_string_equal(got, "feed 1:more than 1 rows\n"
                             "rc 1:more than 1 rows\n"
                             "cols 6:[origin][path][branch][changeset][publishUri][x,y]\n"
                             "idx 0 1 2 3 4\n"
                             "L4:[https://h/a.git][p/\\xC3\\xA9][main][abc][s3://b/k][q\"]\n"
                             "e0:more than 1 rows\n"
                             "total 1\n");
    free(got);
    check_splits(rich, sizeof(rich) - 1, &rows);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_optional_columns_and_order),
        cmocka_unit_test(test_values_kept_exactly),
        cmocka_unit_test(test_header_trim),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_header_case_sensitive),
        cmocka_unit_test(test_duplicate_name_shown_safely),
        cmocka_unit_test(test_ragged_rows),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_empty_origin_path),
        cmocka_unit_test(test_header_only_and_empty),
        cmocka_unit_test(test_final_line_without_newline),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_limit_rows),
        cmocka_unit_test(test_limit_columns_and_bytes),
        cmocka_unit_test(test_many_rows_stable),
        cmocka_unit_test(test_write_field),
        cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_rich_sample),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
