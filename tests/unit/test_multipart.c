/*
 * test_multipart.c - streaming multipart/form-data file extraction
 *
 * Every body is parsed in one shot, cut in two at every offset and fed one
 * byte at a time; all ways must give the same result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "codec/multipart.h"

#define CURL_BOUNDARY "------------------------d74496d66958873e"

struct result {
    enum err rc;
    char msg[ERRBUF_SIZE];
    struct buf out;
    char *filename;
    size_t calls;
};

/* When set, the sink fails with sink_rc once it would pass sink_fail_at bytes. */
static enum err sink_rc;
static size_t sink_fail_at;

static enum err
sink(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct result *r = ctx;

    assert_true(len > 0);
    if (sink_rc && r->out.len + len >= sink_fail_at)
        return err_set(sink_rc, errbuf, errlen, "sink refused");
    r->calls++;
    assert_int_equal(buf_append(&r->out, data, len), ERR_OK);
    return ERR_OK;
}

static void
result_init(struct result *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->out, 0);
}

static void
result_release(struct result *r)
{
    buf_release(&r->out);
    free(r->filename);
}

static void
finish(struct multipart *m, struct result *r)
{
    const char *fn;

    if (!r->rc)
        r->rc = multipart_finish(m, r->msg, sizeof(r->msg));
    fn = multipart_filename(m);
    r->filename = fn ? xstrdup(fn) : NULL;
    multipart_free(m);
}

/* Feed body in two pieces cut at `at` (at == len: one shot). */
static void
parse_split(const char *boundary, const char *body, size_t len, size_t at, struct result *r)
{
    struct multipart *m = multipart_new(boundary, sink, r);

    r->rc = multipart_feed(m, body, at, r->msg, sizeof(r->msg));
    if (!r->rc)
        r->rc = multipart_feed(m, body + at, len - at, r->msg, sizeof(r->msg));
    finish(m, r);
}

static void
parse_bytewise(const char *boundary, const char *body, size_t len, struct result *r)
{
    struct multipart *m = multipart_new(boundary, sink, r);

    for (size_t i = 0; i < len && !r->rc; i++)
        r->rc = multipart_feed(m, body + i, 1, r->msg, sizeof(r->msg));
    finish(m, r);
}

static void
assert_same(const struct result *a, const struct result *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_string_equal(a->msg, b->msg);
    if (a->filename || b->filename) {
        assert_non_null(a->filename);
        assert_non_null(b->filename);
        assert_string_equal(a->filename, b->filename);
    }
    if (sink_rc)
        return; /* how much got out before the sink failed depends on chunking */
    assert_int_equal(a->out.len, b->out.len);
    if (a->out.len)
        assert_memory_equal(a->out.data, b->out.data, a->out.len);
}

/*
 * Parse one-shot, at every split point (sampled above 16 KiB) and byte by
 * byte. want_out NULL: output not checked; want_filename NULL: none expected.
 */
static void
check_len(const char *boundary, const char *body, size_t len, enum err want_rc,
          const char *want_msg, const char *want_out, size_t want_len, const char *want_filename)
{
    struct result one;
    size_t step = len > 16384 ? len / 509 + 1 : 1;

    result_init(&one);
    parse_split(boundary, body, len, len, &one);
    assert_int_equal(one.rc, want_rc);
    if (want_msg)
        assert_string_equal(one.msg, want_msg);
    if (want_out) {
        assert_int_equal(one.out.len, want_len);
        if (want_len)
            assert_memory_equal(one.out.data, want_out, want_len);
    }
    if (want_filename)
        assert_string_equal(one.filename ? one.filename : "(null)", want_filename);
    else if (want_rc == ERR_OK)
        assert_null(one.filename);

    for (size_t at = 0; at <= len; at += step) {
        struct result r;

        result_init(&r);
        parse_split(boundary, body, len, at, &r);
        assert_same(&one, &r);
        result_release(&r);
    }
    {
        struct result r;

        result_init(&r);
        parse_bytewise(boundary, body, len, &r);
        assert_same(&one, &r);
        result_release(&r);
    }
    result_release(&one);
}

static void
check(const char *boundary, const char *body, enum err want_rc, const char *want_msg,
      const char *want_out, const char *want_filename)
{
    check_len(boundary, body, strlen(body), want_rc, want_msg, want_out,
              want_out ? strlen(want_out) : 0, want_filename);
}

static void
check_ok(const char *boundary, const char *body, const char *want_out, const char *want_filename)
{
    check(boundary, body, ERR_OK, NULL, want_out, want_filename);
}

static void
check_err(const char *boundary, const char *body, const char *want_msg)
{
    check(boundary, body, ERR_BAD_INPUT, want_msg, NULL, NULL);
}

static const char repos_csv[] = "repo,sequencer,bucket\n"
                                "alpha,0001,s3://bucket-a\n"
                                "beta,0002,s3://bucket-b\n";

/* What `curl -F file=@repos-lock.csv;type=text/csv http://...` sends. */
static void
test_curl_body(void **state)
{
    char boundary[80];
    char errbuf[ERRBUF_SIZE];
    const char *body = "--" CURL_BOUNDARY "\r\n"
                       "Content-Disposition: form-data; name=\"file\"; "
                       "filename=\"repos-lock.csv\"\r\n"
                       "Content-Type: text/csv\r\n"
                       "\r\n"
                       "repo,sequencer,bucket\n"
                       "alpha,0001,s3://bucket-a\n"
                       "beta,0002,s3://bucket-b\n"
                       "\r\n"
                       "--" CURL_BOUNDARY "--\r\n";

    (void)state;
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=" CURL_BOUNDARY, boundary,
                                        sizeof(boundary), errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_string_equal(boundary, CURL_BOUNDARY);
    check_ok(boundary, body, repos_csv, "repos-lock.csv");
}

static void
expect_boundary(const char *content_type, const char *want)
{
    char out[71];
    char errbuf[ERRBUF_SIZE] = "";

    assert_int_equal(multipart_boundary(content_type, out, sizeof(out), errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_string_equal(out, want);
}

static void
expect_boundary_err(const char *content_type, const char *want_msg)
{
    char out[71];
    char errbuf[ERRBUF_SIZE] = "";

    assert_int_equal(multipart_boundary(content_type, out, sizeof(out), errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_string_equal(errbuf, want_msg);
}

static void
test_boundary_param(void **state)
{
    static const char b70[] = "1234567890123456789012345678901234567890"
                              "123456789012345678901234567890";
    char out[8];
    char errbuf[ERRBUF_SIZE];

    (void)state;
    expect_boundary("multipart/form-data; boundary=abc", "abc");
    expect_boundary("multipart/form-data;boundary=abc", "abc");
    expect_boundary("multipart/form-data; boundary=\"abc def\"", "abc def");
    expect_boundary("multipart/form-data; BOUNDARY=abc", "abc");
    expect_boundary("Multipart/Form-Data; Boundary = \"a:b\" ", "a:b");
    expect_boundary("multipart/form-data; charset=utf-8; boundary=x-y_z.1", "x-y_z.1");
    expect_boundary("multipart/form-data; boundary=abc; charset=\"utf;8\"", "abc");
    expect_boundary("multipart/form-data; name=\"boundary=no\"; boundary=yes", "yes");
    expect_boundary("multipart/form-data; boundary=\"q\\\"uo\\\\te\"", "q\"uo\\te");
    expect_boundary("multipart/form-data; boundary=abc;", "abc");
    expect_boundary("multipart/form-data;; boundary=abc", "abc");
    expect_boundary("multipart/form-data; boundary=\"----WebKitFormBoundary7MA4YWxkTrZu0gW\"",
                    "----WebKitFormBoundary7MA4YWxkTrZu0gW");
    expect_boundary("multipart/form-data; boundary=\"'()+_,-./:=?\"", "'()+_,-./:=?");
    {
        char ct[128];

        snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b70);
        expect_boundary(ct, b70);
        snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%sX", b70);
        expect_boundary_err(ct, "multipart boundary longer than 70 characters");
    }
    expect_boundary_err("multipart/form-data", "missing multipart boundary");
    expect_boundary_err("multipart/form-data; charset=utf-8", "missing multipart boundary");
    expect_boundary_err("multipart/form-data; boundaryx=abc", "missing multipart boundary");
    expect_boundary_err("", "missing multipart boundary");
    expect_boundary_err("multipart/form-data; boundary=\"\"", "empty multipart boundary");
    expect_boundary_err("multipart/form-data; boundary=", "malformed content-type parameters");
    expect_boundary_err("multipart/form-data; boundary", "malformed content-type parameters");
    expect_boundary_err("multipart/form-data; boundary=\"abc", "malformed content-type parameters");
    expect_boundary_err("multipart/form-data; boundary=a b", "malformed content-type parameters");
    expect_boundary_err("multipart/form-data; boundary=a; boundary=b",
                        "duplicate boundary parameter");
    expect_boundary_err("multipart/form-data; boundary=\"a\r\nb\"",
                        "invalid character in multipart boundary");

    /* the caller's buffer must hold the boundary and its NUL */
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=1234567", out, sizeof(out),
                                        errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_string_equal(out, "1234567");
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=12345678", out, sizeof(out),
                                        errbuf, sizeof(errbuf)),
                     ERR_INTERNAL);
    /* no error buffer */
    assert_int_equal(multipart_boundary("text/csv", out, sizeof(out), NULL, 0), ERR_BAD_INPUT);
}

static void
test_preamble_epilogue(void **state)
{
    (void)state;
    check_ok("b",
             "This is a preamble. --b is not a delimiter here\r\n"
             "nor is -b or \r\n-b\r\n"
             "--b\r\n"
             "Content-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n"
             "\r\n"
             "content\r\n"
             "--b--\r\n"
             "epilogue\r\n--b\r\nContent-Disposition: form-data; filename=\"y\"\r\n\r\n"
             "--b--\r\n",
             "content", "x.csv");
    /* preamble ending right before the delimiter; close delimiter without CRLF */
    check_ok("b",
             "preamble\r\n--b\r\n"
             "Content-Disposition: form-data; name=file; filename=x\r\n\r\n"
             "content\r\n--b--",
             "content", "x");
    /* transport padding after the delimiter */
    check_ok("b",
             "--b \t \r\n"
             "Content-Disposition: form-data; name=file; filename=x\r\n\r\n"
             "content\r\n--b--",
             "content", "x");
}

static void
test_almost_boundary(void **state)
{
    (void)state;
    check_ok("boundary",
             "--boundary\r\n"
             "Content-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n"
             "a\r\n--bounda\r\n-\r\n--\r\n--b\r--boundary\n--boundary"
             "\r\r\n--bounda\r\n--bounda"
             "\r\n--boundary--",
             "a\r\n--bounda\r\n-\r\n--\r\n--b\r--boundary\n--boundary"
             "\r\r\n--bounda\r\n--bounda",
             "f");
    /* a full delimiter followed by anything but "--", blanks or CRLF */
    check_err("boundary",
              "--boundary\r\n"
              "Content-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n"
              "a\r\n--boundaryX\r\n--boundary--",
              "malformed boundary line");
    check_err("b", "--b-x", "malformed boundary line");
    check_err("b", "--b\rx", "malformed boundary line");
    check_err("b", "--b x", "malformed boundary line");
}

/* A boundary whose delimiter overlaps itself (not a valid RFC boundary). */
static void
test_self_overlapping_delimiter(void **state)
{
    (void)state;
    check_ok("a\r\n--a\r\n--b",
             "--a\r\n--a\r\n--b\r\n"
             "Content-Disposition: form-data; filename=f\r\n\r\n"
             "\r\n--a\r\n--a\r\n--a\r\n--a\r\n--c"
             "\r\n--a\r\n--a\r\n--b--",
             "\r\n--a\r\n--a\r\n--a\r\n--a\r\n--c", "f");
}

static void
test_crlf_in_data(void **state)
{
    (void)state;
    check_ok("XyZ",
             "--XyZ\r\n"
             "Content-Disposition: form-data; name=\"file\"; filename=\"crlf.csv\"\r\n"
             "Content-Type: text/csv\r\n\r\n"
             "\r\na,b\r\nc,d\r\n\r\n\r\n-\r\n--\r\n--X\r\n--Xy\r\r\r\n"
             "\r\n--XyZ--\r\n",
             "\r\na,b\r\nc,d\r\n\r\n\r\n-\r\n--\r\n--X\r\n--Xy\r\r\r\n", "crlf.csv");
    /* content ending in CR */
    check_ok("XyZ",
             "--XyZ\r\n"
             "Content-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n"
             "data\r\r\n--XyZ--",
             "data\r", "f");
    /* empty content */
    check_ok("XyZ",
             "--XyZ\r\n"
             "Content-Disposition: form-data; name=\"file\"; filename=\"empty.csv\"\r\n\r\n"
             "\r\n--XyZ--",
             "", "empty.csv");
}

static void
test_fields_skipped(void **state)
{
    (void)state;
    check_ok("b",
             "--b\r\n"
             "Content-Disposition: form-data; name=\"comment\"\r\n\r\n"
             "not the file\r\n"
             "--b\r\n"
             "\r\n"
             "a part without headers\r\n"
             "--b\r\n"
             "Content-Disposition: form-data; name=\"file\"; filename=\"repos-lock.csv\"\r\n"
             "Content-Type: text/csv\r\n\r\n"
             "the,file\n"
             "\r\n--b\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
             "after\r\n"
             "--b\r\n"
             "X-Other: filename=\"no\"\r\n\r\n"
             "x\r\n"
             "--b--\r\n",
             "the,file\n", "repos-lock.csv");
}

static void
test_file_part_count(void **state)
{
    (void)state;
    check_err("b",
              "--b\r\n"
              "Content-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n"
              "one\r\n"
              "--b\r\n"
              "Content-Disposition: form-data; name=\"other\"; filename=\"b.csv\"\r\n\r\n"
              "two\r\n"
              "--b--\r\n",
              "more than one file part");
    check_err("b",
              "--b\r\n"
              "Content-Disposition: form-data; name=\"file\"\r\n\r\n"
              "a field\r\n"
              "--b--\r\n",
              "no file part in multipart body");
    check_err("b", "--b--\r\n", "no file part in multipart body");
    check_err("b", "preamble only\r\n--b--", "no file part in multipart body");
}

static void
test_missing_close(void **state)
{
    static const char full[] =
        "--b\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n"
        "data\r\n"
        "--b--\r\n";
    size_t close_at = strlen(full) - 2;

    (void)state;
    /* every truncation before the close delimiter's final '-' */
    for (size_t n = 0; n < close_at; n++)
        check_len("b", full, n, ERR_BAD_INPUT, "missing closing boundary", NULL, 0, NULL);
    check_len("b", full, close_at, ERR_OK, NULL, "data", 4, "a.csv");
    check_err("b", "", "missing closing boundary");
    check_err("b", "no delimiter at all", "missing closing boundary");
    /* the data seen so far went to the sink, minus what may be the delimiter */
    check_len("b", full, (size_t)(strstr(full, "\r\n\r\ndata") - full) + 11, ERR_BAD_INPUT,
              "missing closing boundary", "data", 4, NULL);
}

static void
test_headers_too_large(void **state)
{
    static const char head[] = "--b\r\n";
    static const char cd[] = "Content-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n";
    static const char tail[] = "\r\nx\r\n--b--";
    struct buf body;
    size_t fill;

    (void)state;
    /* a header block of exactly 8 KiB (up to and including the empty line) */
    buf_init(&body, 0);
    buf_append_str(&body, head);
    buf_append_str(&body, cd);
    fill = 8192 - strlen(cd) - 2 - 2 - strlen("X-Pad: ");
    buf_append_str(&body, "X-Pad: ");
    for (size_t i = 0; i < fill; i++)
        buf_append_char(&body, 'p');
    buf_append_str(&body, "\r\n");
    buf_append_str(&body, tail);
    check_len("b", body.data, body.len, ERR_OK, NULL, "x", 1, "a");

    /* one byte more */
    buf_reset(&body);
    buf_append_str(&body, head);
    buf_append_str(&body, cd);
    buf_append_str(&body, "X-Pad: ");
    for (size_t i = 0; i < fill + 1; i++)
        buf_append_char(&body, 'p');
    buf_append_str(&body, "\r\n");
    buf_append_str(&body, tail);
    check_len("b", body.data, body.len, ERR_BAD_INPUT, "part headers too large", NULL, 0, NULL);

    /* a never-ending header block */
    buf_reset(&body);
    buf_append_str(&body, head);
    for (size_t i = 0; i < 20000; i++)
        buf_append_char(&body, i % 50 ? 'h' : '\n');
    check_len("b", body.data, body.len, ERR_BAD_INPUT, "part headers too large", NULL, 0, NULL);
    buf_release(&body);
}

static void
test_malformed_headers(void **state)
{
    static const char *bad[] = {
        "no colon here\r\n",
        ": no name\r\n",
        "Bad Name: x\r\n",
        "Content-Disposition: form-data\nX: y\r\n",
        "Content-Disposition: form-data\rX: y\r\n",
        " folded first line\r\n",
        ("Content-Disposition: form-data; filename=\"a\"\r\n"
         "Content-Disposition: form-data; filename=\"b\"\r\n"),
        "Content-Disposition: form-data; filename=\"unterminated\r\n",
        "Content-Disposition: form-data; filename\r\n",
        "Content-Disposition: form-data; filename=\r\n",
        "Content-Disposition: form-data; filename=a b\r\n",
        "Content-Disposition: form-data; filename=a; filename=b\r\n",
        "Content-Disposition: ; filename=a\r\n",
        "Content-Disposition: form-data filename=a\r\n",
        "Content-Disposition: form-data; filename*=a.csv\r\n",
        "Content-Disposition: form-data; filename*=UTF-8''a%2\r\n",
        "Content-Disposition: form-data; filename*=UTF-8''a%00b\r\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf body;

        buf_init(&body, 0);
        buf_printf(&body, "--b\r\n%s\r\ndata\r\n--b--\r\n", bad[i]);
        check_len("b", body.data, body.len, ERR_BAD_INPUT, "malformed part headers", NULL, 0, NULL);
        buf_release(&body);
    }
}

static void
expect_filename(const char *disposition, const char *want)
{
    struct buf body;

    buf_init(&body, 0);
    buf_printf(&body, "--b\r\n%s\r\nContent-Type: text/csv\r\n\r\nx\r\n--b--\r\n", disposition);
    check_len("b", body.data, body.len, ERR_OK, NULL, "x", 1, want);
    buf_release(&body);
}

static void
test_filenames(void **state)
{
    (void)state;
    expect_filename("Content-Disposition: form-data; name=\"file\"; filename=\"repos-lock.csv\"",
                    "repos-lock.csv");
    expect_filename("content-disposition: FORM-DATA; NAME=file; FILENAME=repos.csv", "repos.csv");
    expect_filename("Content-Disposition:form-data;name=file;filename=a.csv", "a.csv");
    expect_filename("Content-Disposition: form-data ; name = \"file\" ; filename = \"a b.csv\" ",
                    "a b.csv");
    expect_filename("Content-Disposition: form-data; name=\"file\"; filename=\"\"", "");
    expect_filename("Content-Disposition: form-data; filename=\"C:\\Users\\me\\a.csv\"",
                    "C:\\Users\\me\\a.csv");
    expect_filename("Content-Disposition: form-data; filename=\"say \\\"hi\\\".csv\"",
                    "say \"hi\".csv");
    expect_filename("Content-Disposition: form-data; filename*=UTF-8''r%C3%A9pos%20lock.csv",
                    "r\xc3\xa9pos lock.csv");
    expect_filename("Content-Disposition: form-data; filename=\"fallback.csv\"; "
                    "filename*=utf-8'en'real.csv",
                    "real.csv");
    expect_filename("Content-Disposition: form-data; name=\"file\";\r\n"
                    "\tfilename=\"folded.csv\"",
                    "folded.csv");
    expect_filename("Content-Disposition: form-data; name=\"file\"; filename=\"a.csv\";", "a.csv");
}

static void
test_sink_error(void **state)
{
    struct result r;
    struct multipart *m;
    char errbuf[ERRBUF_SIZE];
    const char *body = "--b\r\n"
                       "Content-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
                       "0123456789abcdefghij\r\n--b--";

    (void)state;
    sink_rc = ERR_UNAVAILABLE;
    sink_fail_at = 10;
    check("b", body, ERR_UNAVAILABLE, "sink refused", NULL, NULL);

    result_init(&r);
    m = multipart_new("b", sink, &r);
    assert_int_equal(multipart_feed(m, body, strlen(body), errbuf, sizeof(errbuf)),
                     ERR_UNAVAILABLE);
    assert_string_equal(errbuf, "sink refused");
    strcpy(errbuf, "x");
    assert_int_equal(multipart_feed(m, "more", 4, errbuf, sizeof(errbuf)), ERR_UNAVAILABLE);
    assert_string_equal(errbuf, "sink refused");
    assert_int_equal(multipart_finish(m, errbuf, sizeof(errbuf)), ERR_UNAVAILABLE);
    assert_string_equal(errbuf, "sink refused");
    multipart_free(m);
    result_release(&r);
    sink_rc = ERR_OK;
    multipart_free(NULL);
}

/* Make a large file part with many near-delimiters; check sampled splits. */
static void
test_large_part(void **state)
{
    struct buf body;
    struct buf want;
    unsigned x = 42;

    (void)state;
    buf_init(&body, 0);
    buf_init(&want, 0);
    for (size_t i = 0; i < 300000; i++) {
        static const char alphabet[] = "\r\n-boundary,abc";

        x = x * 1103515245u + 12345u;
        buf_append_char(&want, alphabet[(x >> 16) % (sizeof(alphabet) - 1)]);
    }
    buf_append_str(&body,
                   "--boundary\r\n"
                   "Content-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n");
    buf_append(&body, want.data, want.len);
    buf_append_str(&body, "\r\n--boundary--\r\n");
    check_len("boundary", body.data, body.len, ERR_OK, NULL, want.data, want.len, "big");
    buf_release(&body);
    buf_release(&want);
}

/* The part is streamed: only a possible delimiter prefix is ever held back. */
static void
test_streams_without_buffering(void **state)
{
    static const char head[] = "--" CURL_BOUNDARY "\r\n"
                               "Content-Disposition: form-data; name=\"file\"; filename=\"s\"\r\n"
                               "\r\n";
    size_t dlen = strlen(CURL_BOUNDARY) + 4;
    struct result r;
    struct multipart *m;
    char errbuf[ERRBUF_SIZE];
    size_t fed = 0;

    (void)state;
    result_init(&r);
    m = multipart_new(CURL_BOUNDARY, sink, &r);
    assert_int_equal(multipart_feed(m, head, strlen(head), errbuf, sizeof(errbuf)), ERR_OK);
    for (int i = 0; i < 2000; i++) {
        const char *chunk = i % 3 ? "abc,def\r\n" : "line\r\n--------";

        assert_int_equal(multipart_feed(m, chunk, strlen(chunk), errbuf, sizeof(errbuf)), ERR_OK);
        fed += strlen(chunk);
        assert_true(r.out.len + dlen - 1 >= fed);
        if (i % 3)
            assert_int_equal(r.out.len + 2, fed); /* only the CRLF is held */
    }
    assert_int_equal(
        multipart_feed(m, "\r\n--" CURL_BOUNDARY "--", dlen + 2, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(multipart_finish(m, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(r.out.len, fed);
    multipart_free(m);
    result_release(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_body),
        cmocka_unit_test(test_boundary_param),
        cmocka_unit_test(test_preamble_epilogue),
        cmocka_unit_test(test_almost_boundary),
        cmocka_unit_test(test_self_overlapping_delimiter),
        cmocka_unit_test(test_crlf_in_data),
        cmocka_unit_test(test_fields_skipped),
        cmocka_unit_test(test_file_part_count),
        cmocka_unit_test(test_missing_close),
        cmocka_unit_test(test_headers_too_large),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_filenames),
        cmocka_unit_test(test_sink_error),
        cmocka_unit_test(test_large_part),
        cmocka_unit_test(test_streams_without_buffering),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
