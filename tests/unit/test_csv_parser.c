/*
 * test_csv_parser.c - unit tests for the streaming CSV decoder
 *
 * Every parse is turned into a transcript (records, error reports, fatal
 * result) and every expectation is also checked at every split point: the
 * input cut in two at each byte offset, fed one byte at a time, and with
 * empty chunks in between, must give the same transcript as one feed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/csv_parser.h"
#include "core/buf.h"

static const struct csv_limits default_lim = {1000, 65536};

struct collector {
    struct buf out;
    size_t stop_after; /* 0 = never stop; else fail the Nth record */
    size_t nrecords;
};

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

static enum err
on_record(void *ctx, size_t line, const struct csv_field *f, size_t n, int had_error, char *errbuf,
          size_t errlen)
{
    struct collector *c = ctx;
    size_t i;

    c->nrecords++;
    buf_printf(&c->out, "R%zu%s:", line, had_error ? "!" : "");
    for (i = 0; i < n; i++) {
        buf_append_char(&c->out, '[');
        escape(&c->out, f[i].data, f[i].len);
        buf_append_char(&c->out, ']');
    }
    buf_append_char(&c->out, '\n');
    if (c->stop_after && c->nrecords == c->stop_after)
        return err_set(ERR_UNPROCESSABLE, errbuf, errlen, "stopped at line %zu", line);
    return ERR_OK;
}

static void
on_error(void *ctx, size_t line, const char *detail)
{
    struct collector *c = ctx;

    buf_printf(&c->out, "E%zu:%s\n", line, detail);
}

/*
 * Parse `in` fed as the chunks ending at cuts[0..ncuts) and then the rest;
 * returns the transcript (caller frees). A fatal result ends it with
 * "X<rc>:<message>".
 */
static char *
run_cuts(const char *in, size_t len, const struct csv_limits *lim, const size_t *cuts, size_t ncuts,
         size_t stop_after)
{
    struct collector c;
    struct csv_parser *p;
    char errbuf[ERRBUF_SIZE];
    size_t pos = 0, k;
    enum err rc = ERR_OK;

    buf_init(&c.out, 0);
    buf_append(&c.out, "", 0); /* NUL-terminated even when nothing is said */
    c.stop_after = stop_after;
    c.nrecords = 0;
    p = csv_parser_new(lim, on_record, on_error, &c);
    for (k = 0; k <= ncuts && !rc; k++) {
        size_t end = k < ncuts ? cuts[k] : len;

        rc = csv_parser_feed(p, in + pos, end - pos, errbuf, sizeof(errbuf));
        pos = end;
    }
    if (!rc)
        rc = csv_parser_finish(p, errbuf, sizeof(errbuf));
    if (rc)
        buf_printf(&c.out, "X%d:%s\n", (int)rc, errbuf);
    csv_parser_free(p);
    return buf_take(&c.out, NULL);
}

static char *
run_once(const char *in, size_t len, const struct csv_limits *lim)
{
    return run_cuts(in, len, lim, NULL, 0, 0);
}

/* Two chunks at every offset, one byte at a time, and empty chunks too. */
static void
check_splits(const char *in, size_t len, const struct csv_limits *lim)
{
    char *want = run_once(in, len, lim);
    size_t *cuts = xmalloc((2 * len + 1) * sizeof(*cuts));
    size_t k;
    char *got;

    for (k = 0; k <= len; k++) {
        got = run_cuts(in, len, lim, &k, 1, 0);
        if (strcmp(got, want))
            fail_msg("split at %zu differs:\n%s---\n%s", k, got, want);
        free(got);
    }
    for (k = 0; k < len; k++)
        cuts[k] = k + 1;
    got = run_cuts(in, len, lim, cuts, len, 0);
    assert_string_equal(got, want);
    free(got);
    for (k = 0; k < 2 * len; k++)
        cuts[k] = (k + 1) / 2; /* every byte alone, an empty chunk between */
    got = run_cuts(in, len, lim, cuts, 2 * len, 0);
    assert_string_equal(got, want);
    free(got);
    free(cuts);
    free(want);
}

static void
expect_lim(const char *in, size_t len, const struct csv_limits *lim, const char *want)
{
    char *got = run_once(in, len, lim);

    assert_string_equal(got, want);
    free(got);
    check_splits(in, len, lim);
}

#define EXPECT(in, want) expect_lim(in, sizeof(in) - 1, &default_lim, want)
#define EXPECT_LIM(in, lim, want) expect_lim(in, sizeof(in) - 1, lim, want)

static void
test_simple(void **state)
{
    (void)state;
    EXPECT("a,b\nc,d\n", "R1:[a][b]\nR2:[c][d]\n");
    EXPECT("a,b\nc,d", "R1:[a][b]\nR2:[c][d]\n");
    EXPECT("abc", "R1:[abc]\n");
    EXPECT("", "");
    EXPECT(",\n", "R1:[][]\n");
    EXPECT(",,\r\n", "R1:[][][]\n");
    EXPECT("a,", "R1:[a][]\n");
    EXPECT("\"\"\n", "R1:[]\n");
    EXPECT("\"\",\"\"", "R1:[][]\n");
    EXPECT(" a , b \n", "R1:[ a ][ b ]\n");
    EXPECT("a\tb,c\n", "R1:[a\\x09b][c]\n");
    EXPECT("a\0b,c\n", "R1:[a\\x00b][c]\n");
}

static void
test_quoted(void **state)
{
    (void)state;
    EXPECT("\"a,b\",\"say \"\"hi\"\"\",\"x\ny\"\nz,w,v\n",
           "R1:[a,b][say \"hi\"][x\\ny]\nR3:[z][w][v]\n");
    EXPECT("\"x\r\ny\",z\r\n", "R1:[x\\r\\ny][z]\n");
    EXPECT("\"\"\"\"\n", "R1:[\"]\n");
    EXPECT("\"a\"\r\nb\n", "R1:[a]\nR2:[b]\n");
    EXPECT("\"a\",\"b\"", "R1:[a][b]\n");
    EXPECT("\"\n\n\n\",x\ny\n", "R1:[\\n\\n\\n][x]\nR5:[y]\n");
}

static void
test_line_endings(void **state)
{
    (void)state;
    EXPECT("a,b\r\nc,d\ne,f\r\n", "R1:[a][b]\nR2:[c][d]\nR3:[e][f]\n");
    EXPECT("a\r\n\r\n\nb\r\n", "R1:[a]\nR4:[b]\n");
    /* a lone CR outside quotes is data */
    EXPECT("a\rb,c\n", "R1:[a\\rb][c]\n");
    EXPECT("a,b\r", "R1:[a][b\\r]\n");
    EXPECT("a\r\r\n", "R1:[a\\r]\n");
    EXPECT("\r\n\rx\n", "R2:[\\rx]\n");
    EXPECT("\r", "R1:[\\r]\n");
    EXPECT("\r,\r\n", "R1:[\\r][]\n");
    EXPECT("\r#x\n", "R1:[\\r#x]\n");
    EXPECT("a\r,b\n", "R1:[a\\r][b]\n");
}

static void
test_bom(void **state)
{
    (void)state;
    EXPECT("\xEF\xBB\xBF"
           "a,b\n",
           "R1:[a][b]\n");
    EXPECT("\xEF\xBB\xBF", "");
    EXPECT("\xEF\xBB\xBF#c\nx\n", "R2:[x]\n");
    EXPECT("\xEF\xBB\xBF\xEF\xBB\xBF"
           "a",
           "R1:[\\xEF\\xBB\\xBFa]\n");
    /* only a leading BOM is dropped */
    EXPECT("a\n\xEF\xBB\xBF"
           "b\n",
           "R1:[a]\nR2:[\\xEF\\xBB\\xBFb]\n");
    /* a BOM prefix that is not a BOM is data */
    EXPECT("\xEF\xBB\xBE,x\n", "R1:[\\xEF\\xBB\\xBE][x]\n");
    EXPECT("\xEF\xBBx\n", "E1:invalid UTF-8\nR1!:[\\xEF\\xBBx]\n");
    EXPECT("\xEF", "E1:invalid UTF-8\nR1!:[\\xEF]\n");
    EXPECT("\xEF\xBB", "E1:invalid UTF-8\nR1!:[\\xEF\\xBB]\n");
}

static void
test_comments_and_empty_lines(void **state)
{
    (void)state;
    EXPECT("#c\n\na,b\n\r\n# x,\"y\n c,d\n", "R3:[a][b]\nR6:[ c][d]\n");
    EXPECT("#only\n", "");
    EXPECT("#only", "");
    EXPECT("\n\n\r\n", "");
    EXPECT("a,#b\n #c\n", "R1:[a][#b]\nR2:[ #c]\n");
    /* a '#' inside a quoted continuation line is data */
    EXPECT("\"a\n#b\",c\n#d\n", "R1:[a\\n#b][c]\n");
    EXPECT("x,\"\n\n#\"\n", "R1:[x][\\n\\n#]\n");
    EXPECT("#\"\na\n", "R2:[a]\n");
    EXPECT("\"#a\"\n", "R1:[#a]\n");
}

static void
test_bad_quotes(void **state)
{
    (void)state;
    EXPECT("a\"b,c\n", "E1:quote in unquoted field\nR1!:[a\"b][c]\n");
    EXPECT("\"a\"b,c\n", "E1:text after closing quote\nR1!:[ab][c]\n");
    EXPECT("\"a\"\rb\n", "E1:text after closing quote\nR1!:[a\\rb]\n");
    EXPECT("\"a\" ,c\n", "E1:text after closing quote\nR1!:[a ][c]\n");
    /* one report per kind and record */
    EXPECT("a\"b\"c,d\"e\nf\"\n",
           "E1:quote in unquoted field\nR1!:[a\"b\"c][d\"e]\nE2:quote in unquoted field\n"
           "R2!:[f\"]\n");
    EXPECT("a\"b,\"c\"d\n",
           "E1:quote in unquoted field\nE1:text after closing quote\nR1!:[a\"b][cd]\n");
    /* an error is reported on the physical line it is on */
    EXPECT("\"a\nb\"c\n", "E2:text after closing quote\nR1!:[a\\nbc]\n");
    /* the next record is clean again */
    EXPECT("a\"\nb\n", "E1:quote in unquoted field\nR1!:[a\"]\nR2:[b]\n");
}

static void
test_unterminated(void **state)
{
    (void)state;
    EXPECT("a,b\n\"c,d\ne\n", "R1:[a][b]\nE2:unterminated quoted field\nR2!:[c,d\\ne\\n]\n");
    EXPECT("x,\n\"abc\"\"", "R1:[x][]\nE2:unterminated quoted field\nR2!:[abc\"]\n");
    EXPECT("a,\"", "E1:unterminated quoted field\nR1!:[a][]\n");
    EXPECT("\"a\"\r", "E1:text after closing quote\nR1!:[a\\r]\n");
    EXPECT("\"a\"", "R1:[a]\n");
}

static void
test_utf8_valid(void **state)
{
    (void)state;
    EXPECT("\xC3\xA9,\xE2\x82\xAC,\xF0\x9D\x84\x9E\n",
           "R1:[\\xC3\\xA9][\\xE2\\x82\\xAC][\\xF0\\x9D\\x84\\x9E]\n");
    /* boundaries: U+0080 U+07FF U+0800 U+D7FF U+E000 U+FFFF U+10000 U+10FFFF */
    EXPECT("\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF"
           "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
           "R1:[\\xC2\\x80\\xDF\\xBF\\xE0\\xA0\\x80\\xED\\x9F\\xBF\\xEE\\x80\\x80\\xEF\\xBF"
           "\\xBF\\xF0\\x90\\x80\\x80\\xF4\\x8F\\xBF\\xBF]\n");
    EXPECT("\"\xC3\xA9\",\"a\n\xE2\x82\xAC\"\n", "R1:[\\xC3\\xA9][a\\n\\xE2\\x82\\xAC]\n");
}

static void
test_utf8_invalid(void **state)
{
    static const char *const bad[] = {
        "\x80",             /* lone continuation */
        "\xBF",             /* lone continuation */
        "\xC0\xAF",         /* overlong '/' */
        "\xC1\xBF",         /* overlong */
        "\xE0\x80\xAF",     /* overlong 3-byte */
        "\xE0\x9F\xBF",     /* overlong 3-byte */
        "\xF0\x80\x80\xAF", /* overlong 4-byte */
        "\xF0\x8F\xBF\xBF", /* overlong 4-byte */
        "\xED\xA0\x80",     /* surrogate U+D800 */
        "\xED\xBF\xBF",     /* surrogate U+DFFF */
        "\xF4\x90\x80\x80", /* U+110000 */
        "\xF5\x80\x80\x80", /* above U+10FFFF */
        "\xF8\x88\x80\x80\x80",
        "\xFE",
        "\xFF",
        "\xC3",         /* truncated */
        "\xE2\x82",     /* truncated */
        "\xF0\x9D\x84", /* truncated */
        "\xC3\xA9\x80", /* valid then stray continuation */
    };
    char in[64], want[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf esc;
        int n;

        buf_init(&esc, 0);
        escape(&esc, bad[i], strlen(bad[i]));
        /* at the end of the input, before a comma, before a line end */
        n = snprintf(in, sizeof(in), "x%s", bad[i]);
        snprintf(want, sizeof(want), "E1:invalid UTF-8\nR1!:[x%s]\n", esc.data);
        expect_lim(in, (size_t)n, &default_lim, want);
        n = snprintf(in, sizeof(in), "ok\n%s,y\r\nz\n", bad[i]);
        snprintf(want, sizeof(want), "R1:[ok]\nE2:invalid UTF-8\nR2!:[%s][y]\nR3:[z]\n", esc.data);
        expect_lim(in, (size_t)n, &default_lim, want);
        n = snprintf(in, sizeof(in), "\"%s\n\"\n", bad[i]);
        snprintf(want, sizeof(want), "E1:invalid UTF-8\nR1!:[%s\\n]\n", esc.data);
        expect_lim(in, (size_t)n, &default_lim, want);
        buf_release(&esc);
    }
}

static void
test_utf8_reporting(void **state)
{
    (void)state;
    /* truncated at a line end: reported for the line it starts on */
    EXPECT("\xE2\nb\n", "E1:invalid UTF-8\nR1!:[\\xE2]\nR2:[b]\n");
    /* inside a quoted multi-line field: its own physical line */
    EXPECT("\"a\nb\xFF\"\n", "E2:invalid UTF-8\nR1!:[a\\nb\\xFF]\n");
    /* once per line */
    EXPECT("\xFF,\xFE\n\x80\n",
           "E1:invalid UTF-8\nR1!:[\\xFF][\\xFE]\nE2:invalid UTF-8\nR2!:[\\x80]\n");
    /* in a comment line: reported, no record flagged */
    EXPECT("#\xFF\nx\n", "E1:invalid UTF-8\nR2:[x]\n");
    EXPECT("#\xE2\nx\n", "E1:invalid UTF-8\nR2:[x]\n");
    /* a sequence cut by a delimiter: the delimiter still works */
    EXPECT("\xE2\x82,x\n", "E1:invalid UTF-8\nR1!:[\\xE2\\x82][x]\n");
    EXPECT("\"\xE2\x82\",x\n", "E1:invalid UTF-8\nR1!:[\\xE2\\x82][x]\n");
    /* a lead byte right after a bad one starts a new sequence */
    EXPECT("\xE2\xC3\xA9\n", "E1:invalid UTF-8\nR1!:[\\xE2\\xC3\\xA9]\n");
    EXPECT("\r\xFF\n", "E1:invalid UTF-8\nR1!:[\\r\\xFF]\n");
}

static void
test_limit_columns(void **state)
{
    static const struct csv_limits lim = {3, 100};
    char *got;
    struct buf big;
    size_t i;

    (void)state;
    EXPECT_LIM("a,b,c\nd,e,f,g\nh\n", &lim, "R1:[a][b][c]\nX1:line 2: more than 3 columns\n");
    EXPECT_LIM("#\n\"a\n\",b,c,\n", &lim, "X1:line 2: more than 3 columns\n");
    EXPECT_LIM(",,\n,,,", &lim, "R1:[][][]\nX1:line 2: more than 3 columns\n");
    /* defaults: 1000 columns pass, 1001 do not */
    buf_init(&big, 0);
    for (i = 0; i < 999; i++)
        buf_append_char(&big, ',');
    got = run_once(big.data, big.len, &default_lim);
    assert_int_equal(strlen(got), strlen("R1:\n") + 2 * 1000);
    free(got);
    buf_append_str(&big, ",\n");
    got = run_once(big.data, big.len, &default_lim);
    assert_string_equal(got, "X1:line 1: more than 1000 columns\n");
    free(got);
    buf_release(&big);
}

static void
test_limit_field_bytes(void **state)
{
    static const struct csv_limits lim = {10, 4};
    struct buf big;
    char *got;
    size_t i;

    (void)state;
    EXPECT_LIM("abcd,\"ab\"\"c\"\nabcde\n", &lim,
               "R1:[abcd][ab\"c]\nX1:line 2: field exceeds 4 bytes\n");
    EXPECT_LIM("x\n\"ab\n\ncd\"\n", &lim, "R1:[x]\nX1:line 2: field exceeds 4 bytes\n");
    EXPECT_LIM("\"ab\"\"\"\"\"", &lim, "R1:[ab\"\"]\n");
    EXPECT_LIM("\"abc\"\"d\"", &lim, "X1:line 1: field exceeds 4 bytes\n");
    EXPECT_LIM("abc\r\r\n", &lim, "R1:[abc\\r]\n");
    EXPECT_LIM("abcd\r", &lim, "X1:line 1: field exceeds 4 bytes\n");
    EXPECT_LIM("abcd\r\n", &lim, "R1:[abcd]\n");
    EXPECT_LIM("\xC3\xA9\xC3\xA9\n", &lim, "R1:[\\xC3\\xA9\\xC3\\xA9]\n");
    EXPECT_LIM("\xC3\xA9\xC3\xA9\xC3\n", &lim, "X1:line 1: field exceeds 4 bytes\n");
    /* defaults: 65536 bytes pass, 65537 do not */
    buf_init(&big, 0);
    buf_append_str(&big, "a\n");
    for (i = 0; i < 65536; i++)
        buf_append_char(&big, 'x');
    got = run_once(big.data, big.len, &default_lim);
    assert_int_equal(strlen(got), strlen("R1:[a]\nR2:[]\n") + 65536);
    free(got);
    buf_append_str(&big, "x\n");
    got = run_once(big.data, big.len, &default_lim);
    assert_string_equal(got, "R1:[a]\nX1:line 2: field exceeds 65536 bytes\n");
    free(got);
    buf_release(&big);
}

static void
test_fatal_is_final(void **state)
{
    static const struct csv_limits lim = {1, 10};
    struct collector c;
    struct csv_parser *p;
    char errbuf[ERRBUF_SIZE];

    (void)state;
    buf_init(&c.out, 0);
    c.stop_after = 0;
    c.nrecords = 0;
    p = csv_parser_new(&lim, on_record, on_error, &c);
    assert_int_equal(csv_parser_feed(p, "a,b\n", 4, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "line 1: more than 1 columns");
    assert_int_equal(csv_parser_feed(p, "c\n", 2, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_int_equal(csv_parser_finish(p, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_int_equal(c.nrecords, 0);
    csv_parser_free(p);
    buf_release(&c.out);
    csv_parser_free(NULL);
}

static void
test_callback_stops(void **state)
{
    static const char in[] = "a\nb\nc\n";
    size_t cut = 3;
    char *got;

    (void)state;
    got = run_cuts(in, sizeof(in) - 1, &default_lim, NULL, 0, 2);
    assert_string_equal(got, "R1:[a]\nR2:[b]\nX7:stopped at line 2\n");
    free(got);
    got = run_cuts(in, sizeof(in) - 1, &default_lim, &cut, 1, 2);
    assert_string_equal(got, "R1:[a]\nR2:[b]\nX7:stopped at line 2\n");
    free(got);
    /* the record delivered at finish can stop it too */
    got = run_cuts("a\nb", 3, &default_lim, NULL, 0, 2);
    assert_string_equal(got, "R1:[a]\nR2:[b]\nX7:stopped at line 2\n");
    free(got);
}

/* Everything at once: every feature in one document. */
static const char rich[] = "\xEF\xBB\xBF# comment, with \"quote\n"
                           "origin,path , branch,\"quoted\"\"name\"\r\n"
                           "\n"
                           "\r\n"
                           "https://h/a.git,p/\xC3\xA9,main,\"multi\r\nline\n# not a comment\"\n"
                           "o2,\"a,b\",\"\",x\ry\r\n"
                           "#\xFF bad comment\n"
                           "o3,bad\"quote,\"c\"d,\xE2\x82\xAC\n"
                           "o4,\xED\xA0\x80,\xF0\x9F\x98\x80,\xE2\x82\n"
                           " o5 ,p5,,\r\n"
                           "o6,p6\n"
                           "o7,p7,b7,\"end\"\r"
                           "\n"
                           "o8,\"never closed\n,x\n";

static void
test_rich_sample(void **state)
{
    char *got;

    (void)state;
    got = run_once(rich, sizeof(rich) - 1, &default_lim);
    assert_string_equal(got, "R2:[origin][path ][ branch][quoted\"name]\n"
                             "R5:[https://h/a.git][p/\\xC3\\xA9][main][multi\\r\\nline\\n# not a "
                             "comment]\n"
                             "R8:[o2][a,b][][x\\ry]\n"
                             "E9:invalid UTF-8\n"
                             "E10:quote in unquoted field\n"
                             "E10:text after closing quote\n"
                             "R10!:[o3][bad\"quote][cd][\\xE2\\x82\\xAC]\n"
                             "E11:invalid UTF-8\n"
                             "R11!:[o4][\\xED\\xA0\\x80][\\xF0\\x9F\\x98\\x80][\\xE2\\x82]\n"
                             "R12:[ o5 ][p5][][]\n"
                             "R13:[o6][p6]\n"
                             "R14:[o7][p7][b7][end]\n"
                             "E15:unterminated quoted field\n"
                             "R15!:[o8][never closed\\n,x\\n]\n");
    free(got);
    check_splits(rich, sizeof(rich) - 1, &default_lim);
}

/* Three chunks at every pair of offsets. */
static void
test_rich_sample_three_chunks(void **state)
{
    size_t len = sizeof(rich) - 1;
    char *want = run_once(rich, len, &default_lim);
    size_t cuts[2];

    (void)state;
    for (cuts[0] = 0; cuts[0] <= len; cuts[0]++) {
        for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1]++) {
            char *got = run_cuts(rich, len, &default_lim, cuts, 2, 0);

            if (strcmp(got, want))
                fail_msg("cuts %zu,%zu differ:\n%s", cuts[0], cuts[1], got);
            free(got);
        }
    }
    free(want);
}

/* The same with tight limits so a fatal error lands mid-document. */
static void
test_rich_sample_limits(void **state)
{
    static const struct csv_limits lim_cols = {3, 100};
    static const struct csv_limits lim_bytes = {10, 12};
    char *got;

    (void)state;
    got = run_once(rich, sizeof(rich) - 1, &lim_cols);
    assert_string_equal(got, "X1:line 2: more than 3 columns\n");
    free(got);
    check_splits(rich, sizeof(rich) - 1, &lim_cols);
    got = run_once(rich, sizeof(rich) - 1, &lim_bytes);
    assert_string_equal(got, "R2:[origin][path ][ branch][quoted\"name]\n"
                             "X1:line 5: field exceeds 12 bytes\n");
    free(got);
    check_splits(rich, sizeof(rich) - 1, &lim_bytes);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_quoted),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_comments_and_empty_lines),
        cmocka_unit_test(test_bad_quotes),
        cmocka_unit_test(test_unterminated),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_utf8_reporting),
        cmocka_unit_test(test_limit_columns),
        cmocka_unit_test(test_limit_field_bytes),
        cmocka_unit_test(test_fatal_is_final),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_rich_sample),
        cmocka_unit_test(test_rich_sample_three_chunks),
        cmocka_unit_test(test_rich_sample_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
