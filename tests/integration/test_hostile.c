/*
 * test_hostile.c - malformed and hostile requests against the real ingestd
 *
 * Every case asserts the exact status, an application/problem+json body with
 * type/title/status/detail/request_id (request_id = the X-Request-Id header), and
 * then that the server still answers GET /healthz. Two servers share one
 * PostgreSQL: `srv` with the default limits and `small` with tiny ones
 * (INGESTD_MAX_BODY_BYTES, _COLUMNS, _FIELD_BYTES, _ROWS). Requests that
 * libcurl would not send as they are (no body framing, cut-off bodies, garbage)
 * go over a raw TCP socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "harness.h"

#define SMALL_MAX_BODY 2048
/* a string literal and its length (which may include NUL bytes) */
#define LIT(s) s, sizeof(s) - 1
#define UUID0 "00000000-0000-4000-8000-000000000000"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;   /* default limits */
    struct th_ingestd *small; /* tiny limits */
    int cases;                /* hostile requests sent */
} G;

/*
 * A connection cut off mid-body can stay open on the server until INGESTD_REQUEST_TIMEOUT
 * (libmicrohttpd does not always see the peer's close); a short shutdown grace keeps the
 * teardown from waiting 20 s for it.
 */
static const char *const srv_env[] = {"INGESTD_SHUTDOWN_GRACE=1", NULL};
static const char *const small_env[] = {"INGESTD_MAX_BODY_BYTES=2048", "INGESTD_MAX_COLUMNS=4",
                                        "INGESTD_MAX_FIELD_BYTES=16",  "INGESTD_MAX_ROWS=3",
                                        "INGESTD_SHUTDOWN_GRACE=1",    NULL};

/* ---- helpers ------------------------------------------------------------- */

static const char *
title_of(long status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    default:
        return "?";
    }
}

/* Fail unless ingestd still runs and answers GET /healthz with 200 {"status":"ok"}. */
static void
alive(struct th_ingestd *p)
{
    struct th_resp r;
    char *url;
    int status = 0;
    pid_t pid = th_ingestd_pid(p);
    json_t *j;

    if (pid <= 0 || waitpid(pid, &status, WNOHANG) == pid)
        fail_msg("ingestd is gone (wait status %d); log: %s", status, th_ingestd_log(p));
    url = th_strf("%s/healthz", th_ingestd_base(p));
    if (th_http("GET", url, NULL, NULL, 0, &r) != 0 || r.status != 200)
        fail_msg("GET /healthz after a hostile request: status %ld", r.status);
    j = th_resp_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    th_resp_release(&r);
    free(url);
}

/*
 * Fail unless r is a `status` problem: application/problem+json, type about:blank,
 * the status's title, `status`, a detail containing `detail` (any when NULL), and
 * request_id equal to the X-Request-Id header. Returns the problem (caller decrefs).
 */
static json_t *
want_problem(const struct th_resp *r, long status, const char *detail, const char *what)
{
    char *ct;
    char *rid;
    json_t *j;
    json_t *v;

    if (r->status != status)
        fail_msg("%s: status %ld, want %ld\n  body: %.600s", what, r->status, status,
                 r->body ? r->body : "");
    ct = th_resp_header(r, "Content-Type");
    if (!ct || strcmp(ct, "application/problem+json") != 0)
        fail_msg("%s: Content-Type %s, want application/problem+json", what, ct ? ct : "(none)");
    free(ct);
    j = th_resp_json(r);
    assert_true(json_is_object(j));
    assert_string_equal(json_string_value(json_object_get(j, "type")), "about:blank");
    assert_string_equal(json_string_value(json_object_get(j, "title")), title_of(status));
    v = json_object_get(j, "status");
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), status);
    v = json_object_get(j, "detail");
    if (!json_is_string(v) || !*json_string_value(v))
        fail_msg("%s: no detail", what);
    if (detail && !strstr(json_string_value(v), detail))
        fail_msg("%s: detail \"%s\" does not contain \"%s\"", what, json_string_value(v), detail);
    rid = th_resp_header(r, "X-Request-Id");
    assert_non_null(rid);
    v = json_object_get(j, "request_id");
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), rid);
    free(rid);
    return j;
}

/* Fail unless the problem's errors[] equals the JSON text `errors`. */
static void
want_errors(json_t *problem, const char *errors)
{
    json_t *want = json_loads(errors, 0, NULL);
    json_t *got = json_object_get(problem, "errors");

    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

        fail_msg("errors\n  %s\nwant\n  %s", g ? g : "(none)", errors);
    }
    json_decref(want);
}

/* "METHOD path [header | header]" for failure messages (malloc'd). */
static char *
describe(const char *method, const char *path, const char *const *headers)
{
    struct buf b;

    buf_init(&b, 0);
    buf_printf(&b, "%s %.200s", method, path);
    for (; headers && *headers; headers++)
        buf_printf(&b, " [%.120s]", *headers);
    return buf_take(&b, NULL);
}

/*
 * Send one hostile request to p and check the problem answer and that p lives on.
 * Returns the problem (caller decrefs).
 */
static json_t *
hostile(struct th_ingestd *p, const char *method, const char *path, const char *const *headers,
        const void *body, size_t len, long status, const char *detail)
{
    struct th_resp r;
    char *url = th_strf("%s%s", th_ingestd_base(p), path);
    char *what = describe(method, path, headers);
    int rc = th_http(method, url, headers, body, len, &r);
    json_t *j;

    if (rc != 0)
        fail_msg("%s: transport failure %d", what, rc);
    j = want_problem(&r, status, detail, what);
    th_resp_release(&r);
    free(url);
    free(what);
    G.cases++;
    alive(p);
    return j;
}

static void
hostile0(struct th_ingestd *p, const char *method, const char *path, const char *const *headers,
         const void *body, size_t len, long status, const char *detail)
{
    json_decref(hostile(p, method, path, headers, body, len, status, detail));
}

/* A CSV upload (POST /api/v1/events, text/csv) that must fail with status/detail. */
static json_t *
bad_csv(struct th_ingestd *p, const void *csv, size_t len, long status, const char *detail)
{
    return hostile(p, "POST", "/api/v1/events", (const char *[]){"Content-Type: text/csv", NULL},
                   csv, len, status, detail);
}

static void
bad_csv0(struct th_ingestd *p, const char *csv, long status, const char *detail)
{
    json_decref(bad_csv(p, csv, strlen(csv), status, detail));
}

/* 405 with exactly this Allow header. */
static void
want_405(const char *method, const char *path, const char *allow)
{
    struct th_resp r;
    char *url = th_strf("%s%s", th_ingestd_base(G.srv), path);
    char *what = th_strf("%s %s", method, path);
    char *got;
    const char *body = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ? "x" : NULL;

    assert_int_equal(th_http(method, url, NULL, body, body ? 1 : 0, &r), 0);
    json_decref(want_problem(&r, 405, allow, what));
    got = th_resp_header(&r, "Allow");
    if (!got || strcmp(got, allow) != 0)
        fail_msg("%s: Allow \"%s\", want \"%s\"", what, got ? got : "(none)", allow);
    free(got);
    th_resp_release(&r);
    free(url);
    free(what);
    G.cases++;
    alive(G.srv);
}

static char *
gzip_bytes(const void *data, size_t len, size_t *out_len)
{
    z_stream zs;
    size_t cap = compressBound((uLong)len) + 64;
    char *out = xmalloc(cap);

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* ---- raw sockets ------------------------------------------------------------ */

static int
raw_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        fail_msg("connect 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

/* Send all of data, ignoring a peer that stops reading (EPIPE/ECONNRESET). */
static void
raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Read until EOF, an error, or timeout_ms without data; malloc'd, NUL-terminated. */
static char *
raw_read(int fd, int timeout_ms, size_t *out_len)
{
    struct buf b;
    char chunk[8192];

    buf_init(&b, 0);
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&pfd, 1, timeout_ms) <= 0)
            break;
        n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf_append(&b, chunk, (size_t)n);
    }
    return buf_take(&b, out_len);
}

/* Send data over a new connection; everything read back (malloc'd, NUL-terminated). */
static char *
raw_all(struct th_ingestd *p, const void *data, size_t len, int timeout_ms, size_t *n)
{
    int fd = raw_connect(th_ingestd_port(p));
    char *raw;

    raw_send(fd, data, len);
    raw = raw_read(fd, timeout_ms, n);
    close(fd);
    return raw;
}

/* The status codes of every response in raw (pipelined answers), as "200 404 ...". */
static char *
statuses(const char *raw, size_t len)
{
    struct buf b;
    const char *p = raw;
    const char *end = raw + len;

    buf_init(&b, 0);
    buf_append_str(&b, "");
    while (p < end && (p = memmem(p, (size_t)(end - p), "HTTP/1.1 ", 9)) != NULL) {
        buf_printf(&b, "%s%.3s", b.len ? " " : "", p + 9);
        p += 9;
    }
    return buf_take(&b, NULL);
}

/* One request over a new connection; the raw answer as a th_resp (status 0: none). */
static struct th_resp
raw_request(struct th_ingestd *p, const void *data, size_t len, int timeout_ms)
{
    struct th_resp r;
    size_t n = 0;
    char *raw = raw_all(p, data, len, timeout_ms, &n);
    char *eoh;

    memset(&r, 0, sizeof(r));
    eoh = strstr(raw, "\r\n\r\n");
    if (n > 12 && !strncmp(raw, "HTTP/1.", 7) && eoh) {
        char *first_eol = strstr(raw, "\r\n");

        r.status = strtol(raw + 9, NULL, 10);
        r.headers = xstrndup(first_eol + 2, (size_t)(eoh + 2 - (first_eol + 2)));
        r.len = n - (size_t)(eoh + 4 - raw);
        r.body = xstrndup(eoh + 4, r.len);
    } else {
        r.headers = xstrdup("");
        r.body = xstrdup("");
    }
    free(raw);
    return r;
}

/* ---- fixtures ------------------------------------------------------------------ */

static int
group_setup(void **state)
{
    (void)state;
    G.pg = th_pg_start();
    G.srv = th_ingestd_start(th_pg_url(G.pg), srv_env);
    G.small = th_ingestd_start(th_pg_url(G.pg), small_env);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    print_message("hostile requests checked: %d\n", G.cases);
    th_ingestd_free(G.small);
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    return 0;
}

/* ---- routing --------------------------------------------------------------------- */

static void
test_routing(void **state)
{
    char *longpath;

    (void)state;
    hostile0(G.srv, "GET", "/nope", NULL, NULL, 0, 404, "no such resource");
    hostile0(G.srv, "GET", "/api/v1/events/", NULL, NULL, 0, 404, "no such resource");
    hostile0(G.srv, "GET", "/API/v1/events", NULL, NULL, 0, 404, "no such resource");
    hostile0(G.srv, "GET", "/api/v1/events/" UUID0 "/content/more", NULL, NULL, 0, 404,
             "no such resource");
    hostile0(G.srv, "DELETE", "/nope", NULL, NULL, 0, 404, "no such resource");

    want_405("PUT", "/api/v1/events", "POST, GET, HEAD");
    want_405("DELETE", "/healthz", "GET, HEAD");
    want_405("POST", "/readyz", "GET, HEAD");
    want_405("POST", "/openapi.yaml", "GET, HEAD");
    want_405("POST", "/api/v1/repos.csv", "GET, HEAD, PUT");
    want_405("PUT", "/api/v1/events/" UUID0, "GET, HEAD, DELETE");
    want_405("DELETE", "/api/v1/merges", "POST, GET, HEAD");
    want_405("POST", "/api/v1/repos", "GET, HEAD");
    want_405("PATCH", "/api/v1/events/" UUID0 "/content", "GET, HEAD");
    want_405("DELETE", "/api/v1/merges/" UUID0, "GET, HEAD");
    want_405("OPTIONS", "/api/v1/repos.csv", "GET, HEAD, PUT");

    /* ids that are not UUIDs are unknown ids */
    hostile0(G.srv, "GET", "/api/v1/events/not-a-uuid", NULL, NULL, 0, 404, "no such event");
    hostile0(G.srv, "GET", "/api/v1/events/not-a-uuid/content", NULL, NULL, 0, 404,
             "no such event");
    hostile0(G.srv, "DELETE", "/api/v1/events/not-a-uuid", NULL, NULL, 0, 404, "no such event");
    hostile0(G.srv, "GET", "/api/v1/events/" UUID0 "0", NULL, NULL, 0, 404, "no such event");
    hostile0(G.srv, "GET", "/api/v1/events/%27%20OR%201=1--", NULL, NULL, 0, 404, "no such event");
    hostile0(G.srv, "GET", "/api/v1/merges/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", NULL, NULL, 0,
             404, "no such merge");
    hostile0(G.srv, "GET", "/api/v1/merges/" UUID0, NULL, NULL, 0, 404, "no such merge");
    hostile0(G.srv, "GET", "/api/v1/events/%00", NULL, NULL, 0, 404, NULL);

    /* a 10,000-character path */
    longpath = xmalloc(10002);
    longpath[0] = '/';
    memset(longpath + 1, 'a', 10000);
    longpath[10001] = '\0';
    hostile0(G.srv, "GET", longpath, NULL, NULL, 0, 404, "no such resource");
    memcpy(longpath, "/api/v1/events/", 15);
    hostile0(G.srv, "GET", longpath, NULL, NULL, 0, 404, "no such event");
    free(longpath);
}

/* ---- CSV bodies ---------------------------------------------------------------------- */

static void
test_csv_shape(void **state)
{
    json_t *j;
    struct buf b;
    size_t i;

    (void)state;
    j = bad_csv(G.srv, LIT("origin,path\ngh,a\ngh\ngh,b\ngh,c,d\n"), 400,
                "line 3: 1 fields, header has 2 (and 1 more problem)");
    want_errors(j, "[{\"line\":3,\"detail\":\"1 fields, header has 2\"},"
                   "{\"line\":5,\"detail\":\"3 fields, header has 2\"}]");
    json_decref(j);

    /* line numbers are physical lines: comments, empty lines and quoted newlines count */
    j = bad_csv(G.srv, LIT("# c\n\norigin,path\ngh,\"a\nb\"\r\n\ngh\n"), 400,
                "line 7: 1 fields, header has 2");
    want_errors(j, "[{\"line\":7,\"detail\":\"1 fields, header has 2\"}]");
    json_decref(j);

    j = bad_csv(G.srv, LIT("origin,path\ngh,\"abc\n"), 400, "unterminated quoted field");
    want_errors(j, "[{\"line\":2,\"detail\":\"unterminated quoted field\"}]");
    json_decref(j);
    j = bad_csv(G.srv, LIT("origin,path\ngh,ab\"c\n"), 400, "quote in unquoted field");
    want_errors(j, "[{\"line\":2,\"detail\":\"quote in unquoted field\"}]");
    json_decref(j);
    j = bad_csv(G.srv, LIT("origin,path\ngh,\"ab\"c\n"), 400, "text after closing quote");
    want_errors(j, "[{\"line\":2,\"detail\":\"text after closing quote\"}]");
    json_decref(j);

    j = bad_csv(G.srv, LIT("origin,path\ngh,ok\ngh,bad\xff\n"), 400, "invalid UTF-8");
    want_errors(j, "[{\"line\":3,\"detail\":\"invalid UTF-8\"}]");
    json_decref(j);
    bad_csv0(G.srv, "origin,path\ngh,\xed\xa0\x80\n", 400, "invalid UTF-8"); /* a surrogate */
    bad_csv0(G.srv, "origin,path\ngh,\xc0\xaf\n", 400, "invalid UTF-8");     /* overlong */
    bad_csv0(G.srv, "origin,path\ngh,abc\xc3", 400, "invalid UTF-8");        /* cut at the end */
    bad_csv0(G.srv, "orig\xffin,path\ngh,a\n", 400, "invalid UTF-8");        /* in the header */
    json_decref(bad_csv(G.srv, LIT("origin,path\ngh,a\0b\n"), 400, "NUL byte"));

    j = bad_csv(G.srv, LIT("path,branch\na,b\n"), 400, "missing required column \"origin\"");
    want_errors(j, "[{\"detail\":\"missing required column \\\"origin\\\"\"}]");
    json_decref(j);
    bad_csv0(G.srv, "origin,branch\na,b\n", 400, "missing required column \"path\"");
    bad_csv0(G.srv, "Origin,Path\na,b\n", 400, "missing required column"); /* case-sensitive */
    j = bad_csv(G.srv, LIT("origin,path,path\na,b,c\n"), 400, "duplicate column \"path\"");
    want_errors(j, "[{\"line\":1,\"detail\":\"duplicate column \\\"path\\\"\"}]");
    json_decref(j);
    bad_csv0(G.srv, "origin, path ,path\na,b,c\n", 400, "duplicate column \"path\"");
    j = bad_csv(G.srv, LIT("origin,,path\na,b,c\n"), 400, "empty column name");
    want_errors(j, "[{\"line\":1,\"detail\":\"empty column name\"}]");
    json_decref(j);
    bad_csv0(G.srv, "origin, \t ,path\na,b,c\n", 400, "empty column name");
    j = bad_csv(G.srv, LIT("origin,path\n,a\ngh,\n"), 400, "line 2: empty origin");
    want_errors(j, "[{\"line\":2,\"detail\":\"empty origin\"},{\"line\":3,\"detail\":\"empty "
                   "path\"}]");
    json_decref(j);

    hostile0(G.srv, "POST", "/api/v1/events", (const char *[]){"Content-Type: text/csv", NULL}, "",
             0, 400, "empty body");
    bad_csv0(G.srv, "# only\n\n# comments\r\n\r\n", 400, "no header");
    bad_csv0(G.srv, "\xEF\xBB\xBF", 400, "no header");
    bad_csv0(G.srv, "\n\n\n", 400, "no header");

    /* many problems: errors[] holds the first 100 */
    buf_init(&b, 0);
    buf_append_str(&b, "origin,path\n");
    for (i = 0; i < 150; i++)
        buf_append_str(&b, "x\n");
    j = bad_csv(G.srv, b.data, b.len, 400,
                "line 2: 1 fields, header has 2 (and 149 more problems)");
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 100);
    assert_int_equal(json_integer_value(
                         json_object_get(json_array_get(json_object_get(j, "errors"), 99), "line")),
                     101);
    json_decref(j);
    buf_release(&b);

    /* the same rules for PUT /api/v1/repos.csv */
    hostile0(G.srv, "PUT", "/api/v1/repos.csv", (const char *[]){"Content-Type: text/csv", NULL},
             LIT("origin,path\ngh\n"), 400, "line 2: 1 fields, header has 2");
    hostile0(G.srv, "PUT", "/api/v1/repos.csv", (const char *[]){"Content-Type: text/csv", NULL},
             "", 0, 400, "empty body");

    /* a header without rows is fine */
    {
        struct th_resp r =
            th_post_csv(th_ingestd_base(G.srv), "/api/v1/events", "origin,path,branch\n", NULL);

        assert_int_equal(r.status, 201);
        j = th_resp_json(&r);
        assert_int_equal(json_integer_value(json_object_get(j, "rows")), 0);
        json_decref(j);
        th_resp_release(&r);
        alive(G.srv);
    }
}

static void
test_csv_limits(void **state)
{
    json_t *j;

    (void)state;
    /* INGESTD_MAX_COLUMNS=4 */
    j = bad_csv(G.small, LIT("origin,path,a,b,c\n"), 400, "more than 4 columns");
    want_errors(j, "[{\"line\":1,\"detail\":\"more than 4 columns\"}]");
    json_decref(j);
    bad_csv0(G.small, "origin,path,a\ngh,p,1\ngh,p2,1,2,3\n", 400, "line 3: more than 4 columns");
    /* INGESTD_MAX_FIELD_BYTES=16 */
    j = bad_csv(G.small, LIT("origin,path\ngh,0123456789abcdefg\n"), 400, "field exceeds 16 bytes");
    want_errors(j, "[{\"line\":2,\"detail\":\"field exceeds 16 bytes\"}]");
    json_decref(j);
    bad_csv0(G.small, "origin,path\ngh,\"0123456789\n\"\"abcdef\"\n", 400,
             "field exceeds 16 bytes");
    /* INGESTD_MAX_ROWS=3 */
    bad_csv0(G.small, "origin,path\ngh,1\ngh,2\ngh,3\ngh,4\n", 400, "more than 3 rows");
    {
        struct th_resp r = th_post_csv(th_ingestd_base(G.small), "/api/v1/events",
                                       "origin,path\ngh,lim/1\ngh,lim/2\ngh,lim/3\n", NULL);

        assert_int_equal(r.status, 201); /* exactly at the limits */
        th_resp_release(&r);
    }
    hostile0(G.small, "PUT", "/api/v1/repos.csv", (const char *[]){"Content-Type: text/csv", NULL},
             LIT("origin,path\ngh,1\ngh,2\ngh,3\ngh,4\n"), 400, "more than 3 rows");
}

/* ---- body size ----------------------------------------------------------------------- */

static void
test_body_size(void **state)
{
    struct buf big;
    struct th_resp r;
    char *req;
    char *url;
    char *gz;
    size_t gz_len;
    size_t i;

    (void)state;
    buf_init(&big, 0);
    buf_append_str(&big, "origin,path\n");
    while (big.len <= 3 * SMALL_MAX_BODY)
        buf_printf(&big, "gh,size/%zu\n", big.len);

    /* declared Content-Length over the limit: refused before the body is read */
    req = th_strf("POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                  "Content-Length: %d\r\nConnection: close\r\n\r\n",
                  4 * SMALL_MAX_BODY);
    r = raw_request(G.small, req, strlen(req), 5000);
    json_decref(want_problem(&r, 413, "body exceeds 2048 bytes", "Content-Length over the limit"));
    th_resp_release(&r);
    free(req);
    G.cases++;
    alive(G.small);
    req = th_strf("PUT /api/v1/repos.csv HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                  "Content-Length: 99999999999\r\nConnection: close\r\n\r\n");
    r = raw_request(G.srv, req, strlen(req), 5000);
    json_decref(want_problem(&r, 413, "body exceeds", "huge Content-Length"));
    th_resp_release(&r);
    free(req);
    G.cases++;
    alive(G.srv);
    /* the same with the body sent after Expect: 100-continue (no 100 comes) */
    hostile0(G.small, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Expect: 100-continue", NULL}, big.data,
             big.len, 413, "body exceeds 2048 bytes");

    /* over the limit in a chunked stream */
    url = th_strf("%s/api/v1/events", th_ingestd_base(G.small));
    assert_int_equal(th_http_chunked("POST", url, (const char *[]){"Content-Type: text/csv", NULL},
                                     big.data, big.len, 500, &r),
                     0);
    json_decref(want_problem(&r, 413, "exceeds 2048 bytes", "chunked over the limit"));
    th_resp_release(&r);
    G.cases++;
    alive(G.small);
    free(url);
    url = th_strf("%s/api/v1/repos.csv", th_ingestd_base(G.small));
    assert_int_equal(th_http_chunked("PUT", url, (const char *[]){"Content-Type: text/csv", NULL},
                                     big.data, big.len, 0, &r),
                     0);
    json_decref(want_problem(&r, 413, "exceeds 2048 bytes", "chunked PUT over the limit"));
    th_resp_release(&r);
    G.cases++;
    alive(G.small);
    free(url);

    /* a gzip bomb: small on the wire, past the limit decoded */
    buf_reset(&big);
    buf_append_str(&big, "origin,path\n");
    for (i = 0; i < 100000; i++)
        buf_append_str(&big, "gh,bomb\n");
    gz = gzip_bytes(big.data, big.len, &gz_len);
    assert_true(gz_len < SMALL_MAX_BODY);
    hostile0(G.small, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: gzip", NULL}, gz, gz_len,
             413, "decoded body exceeds 2048 bytes");
    hostile0(G.small, "POST", "/api/v1/merges",
             (const char *[]){"Content-Type: application/json", "Content-Encoding: gzip", NULL}, gz,
             gz_len, 413, "exceeds 2048 bytes");
    free(gz);

    /* a JSON body over the limit */
    buf_reset(&big);
    buf_append_str(&big, "{\"dry_run\":true");
    while (big.len < 3 * SMALL_MAX_BODY)
        buf_append_char(&big, ' ');
    buf_append_char(&big, '}');
    hostile0(G.small, "POST", "/api/v1/merges",
             (const char *[]){"Content-Type: application/json", NULL}, big.data, big.len, 413,
             "body exceeds 2048 bytes");
    buf_release(&big);
}

/* ---- encodings and media types ---------------------------------------------------------- */

static void
test_encodings(void **state)
{
    static const char csv[] = "origin,path,changeset,publishUri\ngh,enc/a,c,p\ngh,enc/b,c,p\n";
    char *gz;
    char *bad;
    size_t gz_len;

    (void)state;
    gz = gzip_bytes(csv, strlen(csv), &gz_len);
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: gzip", NULL}, gz,
             gz_len - 6, 400, "truncated gzip stream");
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: gzip", NULL},
             LIT("this is not gzip at all"), 400, "invalid gzip data");
    bad = xmalloc(gz_len + 2);
    memcpy(bad, gz, gz_len);
    memcpy(bad + gz_len, "xx", 2);
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: gzip", NULL}, bad,
             gz_len + 2, 400, "trailing data after gzip stream");
    bad[gz_len - 5] ^= 0x55; /* corrupt the CRC-32 / ISIZE trailer */
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: gzip", NULL}, bad,
             gz_len, 400, "invalid gzip data");
    free(bad);
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: gzip", NULL}, "", 0, 400,
             "empty gzip stream");
    hostile0(G.srv, "PUT", "/api/v1/repos.csv",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: gzip", NULL}, gz,
             gz_len / 2, 400, "truncated gzip stream");
    hostile0(G.srv, "POST", "/api/v1/merges",
             (const char *[]){"Content-Type: application/json", "Content-Encoding: gzip", NULL},
             LIT("{}"), 400, "invalid gzip data");

    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: br", NULL}, gz, gz_len,
             415, "content encoding \"br\" is not supported");
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: gzip, gzip", NULL}, gz,
             gz_len, 415, "is not supported");
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Content-Encoding: deflate", NULL}, gz,
             gz_len, 415, "is not supported");
    hostile0(G.srv, "POST", "/api/v1/merges",
             (const char *[]){"Content-Type: application/json", "Content-Encoding: compress", NULL},
             LIT("{}"), 415, "is not supported");
    free(gz);

    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: application/json", NULL}, LIT("{\"origin\":\"gh\"}"),
             415, "content type must be text/csv or multipart/form-data");
    hostile0(G.srv, "POST", "/api/v1/events", (const char *[]){"Content-Type: text/plain", NULL},
             csv, strlen(csv), 415, "content type");
    hostile0(G.srv, "POST", "/api/v1/events", (const char *[]){"Content-Type: text/csvx", NULL},
             csv, strlen(csv), 415, "content type");
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv; charset=latin1", NULL}, csv, strlen(csv),
             415, "charset must be utf-8");
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv; charset=\"iso-8859-1\"", NULL}, csv,
             strlen(csv), 415, "charset must be utf-8");
    hostile0(G.srv, "PUT", "/api/v1/repos.csv",
             (const char *[]){"Content-Type: application/xml", NULL}, csv, strlen(csv), 415,
             "content type");
    hostile0(G.srv, "POST", "/api/v1/merges", (const char *[]){"Content-Type: text/plain", NULL},
             LIT("{}"), 415, "content type must be application/json");
    hostile0(G.srv, "POST", "/api/v1/merges",
             (const char *[]){"Content-Type: application/json; charset=utf-16", NULL}, LIT("{}"),
             415, "charset must be utf-8");
}

/* ---- multipart ------------------------------------------------------------------------------ */

static void
test_multipart(void **state)
{
    static const char file[] = "origin,path\ngh,mp/x\n";
    const char *ct[] = {"Content-Type: multipart/form-data; boundary=BOUNDARY", NULL};
    char *body;
    char *longb;
    char *h;

    (void)state;
    body = th_strf("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; "
                   "filename=\"a.csv\"\r\n\r\n%s\r\n--BOUNDARY--\r\n",
                   file);
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: multipart/form-data", NULL}, body, strlen(body), 400,
             "boundary");
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: multipart/form-data; boundary=", NULL}, body,
             strlen(body), 400, NULL);
    longb = xmalloc(100);
    memset(longb, 'b', 99);
    longb[99] = '\0';
    h = th_strf("Content-Type: multipart/form-data; boundary=%s", longb);
    hostile0(G.srv, "POST", "/api/v1/events", (const char *[]){h, NULL}, body, strlen(body), 400,
             "multipart boundary");
    free(h);
    free(longb);
    free(body);

    body =
        th_strf("--BOUNDARY\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.csv\"\r\n"
                "\r\n%s\r\n--BOUNDARY\r\nContent-Disposition: form-data; name=\"b\"; "
                "filename=\"b.csv\"\r\n\r\n%s\r\n--BOUNDARY--\r\n",
                file, file);
    hostile0(G.srv, "POST", "/api/v1/events", ct, body, strlen(body), 400,
             "more than one file part");
    free(body);

    body = th_strf("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; "
                   "filename=\"a.csv\"\r\n\r\n%s",
                   file);
    hostile0(G.srv, "POST", "/api/v1/events", ct, body, strlen(body), 400,
             "missing closing boundary");
    free(body);

    body = th_strf("--BOUNDARY\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                   "--BOUNDARY--\r\n");
    hostile0(G.srv, "POST", "/api/v1/events", ct, body, strlen(body), 400, "no file part");
    free(body);

    hostile0(G.srv, "POST", "/api/v1/events", ct, file, strlen(file), 400, NULL); /* no framing */

    /* a file part whose content is not a valid CSV: the CSV problem */
    body = th_strf("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; "
                   "filename=\"a.csv\"\r\n\r\norigin,path\ngh\n\r\n--BOUNDARY--\r\n");
    hostile0(G.srv, "PUT", "/api/v1/repos.csv", ct, body, strlen(body), 400,
             "line 2: 1 fields, header has 2");
    free(body);
}

/* ---- framing and headers ----------------------------------------------------------------------
 */

static void
test_framing_and_headers(void **state)
{
    static const char csv[] = "origin,path\ngh,hdr/x\n";
    static const char *const nolen[] = {
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
        "Connection: close\r\n\r\n",
        "PUT /api/v1/repos.csv HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
        "Connection: close\r\n\r\n",
    };
    char *h;
    char *longv;
    size_t i;

    (void)state;
    /* a body is required but none is framed */
    for (i = 0; i < 2; i++) {
        struct th_resp r = raw_request(G.srv, nolen[i], strlen(nolen[i]), 5000);

        json_decref(want_problem(&r, 411, "send Content-Length or chunked transfer", nolen[i]));
        th_resp_release(&r);
        G.cases++;
        alive(G.srv);
    }

    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Idempotency-Key: has space", NULL}, csv,
             strlen(csv), 400, "Idempotency-Key must be 1 to 255 visible ASCII characters");
    longv = xmalloc(257);
    memset(longv, 'k', 256);
    longv[256] = '\0';
    h = th_strf("Idempotency-Key: %s", longv);
    hostile0(G.srv, "POST", "/api/v1/events", (const char *[]){"Content-Type: text/csv", h, NULL},
             csv, strlen(csv), 400, "Idempotency-Key");
    free(h);
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Idempotency-Key;", NULL}, csv, strlen(csv),
             400, "Idempotency-Key");
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "Idempotency-Key: caf\xc3\xa9", NULL}, csv,
             strlen(csv), 400, "Idempotency-Key");
    h = th_strf("X-Event-Source: %s", longv);
    hostile0(G.srv, "POST", "/api/v1/events", (const char *[]){"Content-Type: text/csv", h, NULL},
             csv, strlen(csv), 400, "X-Event-Source");
    free(h);
    free(longv);
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "X-Event-Source: a\tb", NULL}, csv,
             strlen(csv), 400, "X-Event-Source");
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "X-Event-Source: a\x7f", NULL}, csv,
             strlen(csv), 400, "X-Event-Source");

    /* If-Match must be * or a list of entity tags */
    {
        static const char *const bad_im[] = {
            "If-Match: garbage", "If-Match: 1",   "If-Match: \"1",      "If-Match: \"1\" \"2\"",
            "If-Match: \"1\"x",  "If-Match: W/1", "If-Match: *, \"1\"", "If-Match: \"1\";"};

        for (i = 0; i < sizeof(bad_im) / sizeof(bad_im[0]); i++)
            hostile0(G.srv, "PUT", "/api/v1/repos.csv",
                     (const char *[]){"Content-Type: text/csv", bad_im[i], NULL}, csv, strlen(csv),
                     400, "If-Match must be");
    }
    /* syntactically valid but stale tags */
    hostile0(G.srv, "PUT", "/api/v1/repos.csv",
             (const char *[]){"Content-Type: text/csv", "If-Match: \"987654\"", NULL}, csv,
             strlen(csv), 412, "If-Match does not name the current generation");
    hostile0(G.srv, "PUT", "/api/v1/repos.csv",
             (const char *[]){"Content-Type: text/csv", "If-Match: \"abc\", W/\"1\"", NULL}, csv,
             strlen(csv), 412, "If-Match does not name the current generation");

    /* duplicate keys */
    {
        json_t *j = hostile(
            G.srv, "PUT", "/api/v1/repos.csv", (const char *[]){"Content-Type: text/csv", NULL},
            LIT("origin,path,branch\ngh,k,main\ngh,k,main\n"), 422, "duplicate keys");

        assert_int_equal(json_array_size(json_object_get(j, "errors")), 1);
        json_decref(j);
    }
}

/*
 * If-Match compares strongly: only the exact tag "<generation>" matches. Tags that merely
 * parse to the current generation as a number (weak, signed, zero-padded, space-padded) or
 * are not generations at all are 412, and the file stays as it is.
 */
static void
test_if_match_strict(void **state)
{
    static const char csv[] = "origin,path\ngh,hdr/strict\n";
    struct th_resp r =
        th_request("HEAD", th_ingestd_base(G.srv), "/api/v1/repos.csv", NULL, NULL, 0);
    char *gen = th_resp_header(&r, "X-Generation");
    char *forms[8];
    char *gen2;
    size_t i;

    (void)state;
    assert_non_null(gen);
    th_resp_release(&r);
    forms[0] = th_strf("If-Match: W/\"%s\"", gen);
    forms[1] = th_strf("If-Match: \"+%s\"", gen);
    forms[2] = th_strf("If-Match: \"-%s\"", gen);
    forms[3] = th_strf("If-Match: \"0%s\"", gen);
    forms[4] = th_strf("If-Match: \" %s\"", gen);
    forms[5] = th_strf("If-Match: \"%s \"", gen);
    forms[6] = th_strf("If-Match: \"\", \"x%s\"", gen);
    forms[7] = th_strf("If-Match: \"%s0\"", gen);
    for (i = 0; i < 8; i++) {
        hostile0(G.srv, "PUT", "/api/v1/repos.csv",
                 (const char *[]){"Content-Type: text/csv", forms[i], NULL}, csv, strlen(csv), 412,
                 "If-Match does not name the current generation");
        free(forms[i]);
    }
    r = th_request("HEAD", th_ingestd_base(G.srv), "/api/v1/repos.csv", NULL, NULL, 0);
    gen2 = th_resp_header(&r, "X-Generation");
    assert_string_equal(gen2, gen); /* nothing was replaced */
    free(gen2);
    th_resp_release(&r);
    free(gen);
}

/* Bytes that are not UTF-8 in headers and query strings: 400, never 500. */
static void
test_non_utf8_inputs(void **state)
{
    static const char csv[] = "origin,path\ngh,utf/x\n";
    static const char *const paths[] = {"/api/v1/events?source=%FF", "/api/v1/repos?origin=%FF",
                                        "/api/v1/repos?path=a%C3", "/api/v1/repos?branch=%C0%AF",
                                        "/api/v1/repos?path_prefix=%C3"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        hostile0(G.srv, "GET", paths[i], NULL, NULL, 0, 400, NULL);
    hostile0(G.srv, "POST", "/api/v1/events",
             (const char *[]){"Content-Type: text/csv", "X-Event-Source: host-\xff\xfe", NULL}, csv,
             strlen(csv), 400, "X-Event-Source");
}

/* ---- merges bodies ------------------------------------------------------------------------------
 */

static void
test_merge_bodies(void **state)
{
    static const struct {
        const char *body;
        long status;
        const char *detail;
    } cases[] = {
        {"not json", 400, "invalid JSON"},
        {"{\"dry_run\":", 400, "invalid JSON"},
        {"null", 400, "invalid JSON"},
        {"true", 400, "invalid JSON"},
        {"{\"dry_run\":true,\"dry_run\":false}", 400, "invalid JSON"},
        {"{\"dry_run\":true} {}", 400, "invalid JSON"},
        {"[]", 422, "body must be a JSON object"},
        {"[{\"dry_run\":true}]", 422, "body must be a JSON object"},
        {"{\"dryrun\":true}", 422, "unknown field \"dryrun\""},
        {"{\"dry_run\":true,\"force\":1}", 422, "unknown field \"force\""},
        {"{\"dry_run\":\"true\"}", 422, "dry_run must be true or false"},
        {"{\"dry_run\":1}", 422, "dry_run must be true or false"},
        {"{\"dry_run\":null}", 422, "dry_run must be true or false"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        hostile0(G.srv, "POST", "/api/v1/merges",
                 (const char *[]){"Content-Type: application/json", NULL}, cases[i].body,
                 strlen(cases[i].body), cases[i].status, cases[i].detail);
}

/* ---- query parameters
 * ----------------------------------------------------------------------------- */

static void
test_list_params(void **state)
{
    static const struct {
        const char *path;
        const char *detail;
    } cases[] = {
        {"/api/v1/events?limit=0", "limit: must be an integer from 1 to 1000"},
        {"/api/v1/events?limit=1001", "limit: must be an integer from 1 to 1000"},
        {"/api/v1/events?limit=abc", "limit: must be an integer from 1 to 1000"},
        {"/api/v1/events?limit=", "limit: must be an integer"},
        {"/api/v1/events?limit=-1", "limit: must be an integer"},
        {"/api/v1/events?limit=%2B5", "limit: must be an integer"},
        {"/api/v1/events?limit=%205", "limit: must be an integer"},
        {"/api/v1/events?limit=5x", "limit: must be an integer"},
        {"/api/v1/events?limit=99999999999999999999999", "limit: must be an integer"},
        {"/api/v1/events?after=-1", "after: must be an integer"},
        {"/api/v1/events?after=1.5", "after: must be an integer"},
        {"/api/v1/events?after=99999999999999999999", "after: must be an integer"},
        {"/api/v1/events?status=bogus", "status: must be pending or merged"},
        {"/api/v1/events?status=PENDING", "status: must be pending or merged"},
        {"/api/v1/events?status=", "status: must be pending or merged"},
        {"/api/v1/events?foo=bar", "unknown query parameter \"foo\""},
        {"/api/v1/events?limit=10&Limit=10", "unknown query parameter \"Limit\""},
        {"/api/v1/merges?limit=0", "limit: must be an integer from 1 to 1000"},
        {"/api/v1/merges?before=yesterday", "before"},
        {"/api/v1/merges?before=" UUID0, "no such merge"},
        {"/api/v1/merges?before=" UUID0, "before: unknown cursor"},
        {"/api/v1/s3/inventories?before=" UUID0, "before: unknown cursor"},
        {"/api/v1/merges?after=" UUID0, "unknown query parameter \"after\""},
        {"/api/v1/repos?limit=1001", "limit: must be an integer from 1 to 1000"},
        {"/api/v1/repos?after=abc", "after: not a cursor returned by this API"},
        {"/api/v1/repos?after=-5", "after: not a cursor returned by this API"},
        {"/api/v1/repos?paths=x", "unknown query parameter \"paths\""},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        hostile0(G.srv, "GET", cases[i].path, NULL, NULL, 0, 400, cases[i].detail);

    /* the id of a dry run is not a stored merge */
    {
        struct th_resp r =
            th_post_json(th_ingestd_base(G.srv), "/api/v1/merges", "{\"dry_run\":true}", NULL);
        json_t *m;
        char *path;

        assert_int_equal(r.status, 200);
        m = th_resp_json(&r);
        path = th_strf("/api/v1/merges?before=%s", json_string_value(json_object_get(m, "id")));
        hostile0(G.srv, "GET", path, NULL, NULL, 0, 400, "no such merge");
        free(path);
        path = th_strf("/api/v1/merges/%s", json_string_value(json_object_get(m, "id")));
        hostile0(G.srv, "GET", path, NULL, NULL, 0, 404, "no such merge");
        free(path);
        json_decref(m);
        th_resp_release(&r);
    }
}

/* ---- bodies where none belongs
 * --------------------------------------------------------------------- */

static void
test_unwanted_bodies(void **state)
{
    static const char *const paths[] = {"/healthz",
                                        "/readyz",
                                        "/openapi.yaml",
                                        "/api/v1/events",
                                        "/api/v1/events/" UUID0,
                                        "/api/v1/merges",
                                        "/api/v1/repos.csv",
                                        "/api/v1/repos"};
    struct buf big;
    struct th_resp r;
    char *url;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        hostile0(G.srv, "GET", paths[i], (const char *[]){"Content-Type: text/plain", NULL},
                 LIT("a body"), 400, "this resource takes no body");
    hostile0(G.srv, "DELETE", "/api/v1/events/" UUID0, NULL, LIT("a body"), 400,
             "this resource takes no body");

    /* a large body where none belongs (over 4 x INGESTD_MAX_BODY_BYTES): the server may cut
       the connection instead of answering, but keeps serving */
    buf_init(&big, 0);
    while (big.len < 10 * SMALL_MAX_BODY)
        buf_append_str(&big, "0123456789abcdef");
    url = th_strf("%s/healthz", th_ingestd_base(G.small));
    th_http("GET", url, (const char *[]){"Content-Type: text/plain", NULL}, big.data, big.len, &r);
    if (r.status != 0)
        json_decref(want_problem(&r, 400, "this resource takes no body", "large unwanted body"));
    th_resp_release(&r);
    G.cases++;
    alive(G.small);
    free(url);
    buf_release(&big);
}

/* ---- not HTTP, or not all of it
 * ------------------------------------------------------------------ */

static void
test_raw_abuse(void **state)
{
    struct th_resp r;
    struct buf b;
    char *req;
    int fd;
    size_t i;

    (void)state;
    /* a request header far over the 128 KiB connection memory: libmicrohttpd's own 4xx */
    buf_init(&b, 0);
    buf_append_str(&b, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ");
    for (i = 0; i < 200000; i++)
        buf_append_char(&b, 'a');
    buf_append_str(&b, "\r\nConnection: close\r\n\r\n");
    r = raw_request(G.srv, b.data, b.len, 5000);
    if (r.status < 400 || r.status > 499)
        fail_msg("very long header: status %ld, want a 4xx", r.status);
    th_resp_release(&r);
    G.cases++;
    alive(G.srv);
    buf_release(&b);

    /* many headers */
    buf_init(&b, 0);
    buf_append_str(&b, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (i = 0; i < 500; i++)
        buf_printf(&b, "X-H%zu: %zu\r\n", i, i);
    buf_append_str(&b, "\r\n");
    r = raw_request(G.srv, b.data, b.len, 5000);
    json_decref(want_problem(&r, 404, "no such resource", "500 headers"));
    th_resp_release(&r);
    G.cases++;
    alive(G.srv);
    buf_release(&b);

    /* a path with dot segments is not normalised */
    req = th_strf("GET /api/v1/../healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    r = raw_request(G.srv, req, strlen(req), 5000);
    json_decref(want_problem(&r, 404, "no such resource", "dot segments"));
    th_resp_release(&r);
    free(req);
    G.cases++;
    alive(G.srv);

    /* malformed HTTP: libmicrohttpd's plain 400 */
    {
        static const char *const bad[] = {
            "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n"
            "Connection: close\r\n\r\n",
            "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n"
            "Connection: close\r\n\r\nhello",
        };

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            r = raw_request(G.srv, bad[i], strlen(bad[i]), 5000);
            if (r.status != 400)
                fail_msg("malformed request %zu: status %ld, want 400", i, r.status);
            th_resp_release(&r);
            G.cases++;
            alive(G.srv);
        }
    }

    /* garbage that is not HTTP at all */
    {
        static const char noise[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello?\r\n\r\n"
                                    "\x00\xff\xfe garbage \x01\x02\x03\r\n\r\n";

        r = raw_request(G.srv, noise, sizeof(noise) - 1, 1000);
        if (r.status != 0 && (r.status < 400 || r.status > 499))
            fail_msg("garbage: status %ld", r.status);
        th_resp_release(&r);
        G.cases++;
        alive(G.srv);
        r = raw_request(G.srv, LIT("GARBAGE\r\n\r\n"), 1000);
        if (r.status != 0 && (r.status < 400 || r.status > 499))
            fail_msg("GARBAGE: status %ld", r.status);
        th_resp_release(&r);
        G.cases++;
        alive(G.srv);
    }

    /* requests cut off mid-body, by Content-Length and by chunks; and headers only */
    {
        static const char *const cut[] = {
            "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            "Content-Length: 1000\r\n\r\norigin,path\ngh,cut/1\ngh,cu",
            "PUT /api/v1/repos.csv HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            "Transfer-Encoding: chunked\r\n\r\n10\r\norigin,path\ngh,c\r\n5\r\nut/2",
            "POST /api/v1/merges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{\"dry_",
            "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Ty",
        };

        for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
            fd = raw_connect(th_ingestd_port(G.srv));
            raw_send(fd, cut[i], strlen(cut[i]));
            usleep(50000);
            close(fd);
            G.cases++;
            alive(G.srv);
        }
    }
    /* complete requests whose client leaves before the answer (the worker still runs) */
    {
        static const char *const gone[] = {
            "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            "Content-Length: 22\r\n\r\norigin,path\ngh,gone/1\n",
            "POST /api/v1/merges HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "GET /api/v1/repos.csv HTTP/1.1\r\nHost: x\r\n\r\n",
        };

        for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
            fd = raw_connect(th_ingestd_port(G.srv));
            raw_send(fd, gone[i], strlen(gone[i]));
            close(fd);
            G.cases++;
            alive(G.srv);
        }
        usleep(200000);
        alive(G.srv);
    }
    /* nothing of the cut-off uploads was stored */
    {
        json_t *j;

        r = th_get(th_ingestd_base(G.srv), "/api/v1/repos?path_prefix=cut/", NULL);
        assert_int_equal(r.status, 200);
        j = th_resp_json(&r);
        assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
        json_decref(j);
        th_resp_release(&r);
    }

    /* and a normal upload still works */
    r = th_post_csv(th_ingestd_base(G.srv), "/api/v1/events", "origin,path\ngh,after/abuse\n",
                    NULL);
    assert_int_equal(r.status, 201);
    th_resp_release(&r);
}

/* ---- connections that carry more than one request ------------------------------------------ */

static void
test_connection_reuse(void **state)
{
    struct buf b;
    char *raw;
    char *st;
    size_t n;
    int fds[100];
    size_t i;

    (void)state;
    /* a body refused by its Content-Length is never read as the next request */
    buf_init(&b, 0);
    buf_printf(&b,
               "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
               "Content-Length: %d\r\n\r\n",
               3000);
    buf_append_str(&b, "GET /nope-smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    while (b.len < 3000 + 100)
        buf_append_char(&b, ' ');
    raw = raw_all(G.small, b.data, b.len, 2000, &n);
    st = statuses(raw, n);
    if (strcmp(st, "413") != 0)
        fail_msg("answers to an over-long body: \"%s\", want \"413\"", st);
    assert_null(strstr(raw, "nope-smuggled"));
    free(st);
    free(raw);
    buf_release(&b);
    G.cases++;
    alive(G.small);

    /* pipelined requests, inline and on workers, errors included, answered in order */
    buf_init(&b, 0);
    buf_append_str(&b, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                       "Content-Length: 5\r\n\r\nx,y\nz"
                       "DELETE /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                       "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                       "GET /api/v1/events?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close"
                       "\r\n\r\n");
    raw = raw_all(G.srv, b.data, b.len, 5000, &n);
    st = statuses(raw, n);
    if (strcmp(st, "200 200 400 405 400 200") != 0)
        fail_msg("pipelined answers: \"%s\", want \"200 200 400 405 400 200\"", st);
    free(st);
    free(raw);
    buf_release(&b);
    G.cases++;
    alive(G.srv);

    /* a hundred idle connections do not starve the others */
    for (i = 0; i < 100; i++) {
        fds[i] = raw_connect(th_ingestd_port(G.srv));
        raw_send(fds[i], "GET /healthz HTTP/1.1\r\nHo", 26);
    }
    alive(G.srv);
    {
        struct th_resp r = th_get(th_ingestd_base(G.srv), "/api/v1/events?limit=1", NULL);

        assert_int_equal(r.status, 200);
        th_resp_release(&r);
    }
    for (i = 0; i < 100; i++)
        close(fds[i]);
    G.cases++;
    alive(G.srv);
}

/* The header block of the response starting at p (up to its blank line), malloc'd. */
static char *
head_at(const char *p, const char **after)
{
    const char *end = strstr(p, "\r\n\r\n");

    assert_non_null(end);
    *after = end + 4;
    return xstrndup(p, (size_t)(end + 2 - p));
}

/*
 * 304 and 204 carry no body and no chunked framing: pipelined on one
 * connection, each answer is followed at once by the next one; a 304 states
 * the 200's length (RFC 9110 8.6), a 204 no length. Node's http module
 * (keep-alive agent, as axios/node-fetch use) and curl read them cleanly.
 */
static void
test_no_body_framing(void **state)
{
    const char *base = th_ingestd_base(G.srv);
    const char *gz_hdr[] = {"Accept-Encoding: gzip", NULL};
    struct th_resp r;
    char *etag, *id, *req, *raw, *h, *cmd, *cl;
    const char *p;
    size_t plain_len, gz_len, n;
    json_t *j;

    (void)state;
    r = th_post_csv(
        base, "/api/v1/events",
        "origin,path,branch,changeset,publishUri\nhttps://n/x.git,x,main,c1,https://p/x\n", NULL);
    assert_true(r.status == 201 || r.status == 200);
    th_resp_release(&r);
    r = th_request("POST", base, "/api/v1/merges", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    r = th_get(base, "/api/v1/repos.csv", NULL);
    etag = th_resp_header(&r, "ETag");
    plain_len = r.len;
    th_resp_release(&r);
    r = th_get(base, "/api/v1/repos.csv", gz_hdr);
    gz_len = r.len;
    th_resp_release(&r);
    r = th_post_csv(base, "/api/v1/events", "origin,path,branch\nhttps://n/y.git,y,main\n", NULL);
    j = th_resp_json(&r);
    id = xstrdup(th_jstr(j, "id"));
    json_decref(j);
    th_resp_release(&r);

    req = th_strf("GET /api/v1/repos.csv HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n"
                  "GET /api/v1/repos.csv HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n"
                  "If-None-Match: %s\r\n\r\n"
                  "DELETE /api/v1/events/%s HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                  etag, etag, id);
    raw = raw_all(G.srv, req, strlen(req), 5000, &n);
    p = raw;
    for (int k = 0; k < 2; k++) {
        size_t want = k == 0 ? plain_len : gz_len;

        if (strncmp(p, "HTTP/1.1 304 ", 13) != 0)
            fail_msg("response %d is not a 304:\n%s", k + 1, raw);
        h = head_at(p, &p);
        cl = th_strf("\r\nContent-Length: %zu\r\n", want);
        if (!strstr(h, cl) || strcasestr(h, "Transfer-Encoding"))
            fail_msg("304 framing: want only Content-Length: %zu\n%s", want, h);
        free(cl);
        free(h);
    }
    if (strncmp(p, "HTTP/1.1 204 ", 13) != 0)
        fail_msg("no 204 right after the 304s (stray bytes?):\n%s", raw);
    h = head_at(p, &p);
    if (strcasestr(h, "Content-Length") || strcasestr(h, "Transfer-Encoding"))
        fail_msg("204 with framing headers:\n%s", h);
    free(h);
    if (strncmp(p, "HTTP/1.1 200 ", 13) != 0 || !strstr(p, "\r\n\r\n{\"status\":\"ok\"}"))
        fail_msg("no 200 right after the 204:\n%s", raw);
    free(raw);
    free(req);

    /* curl on one connection: no "Excess found", the connection is reused */
    cmd = th_strf("curl -sv -o /dev/null -o /dev/null -H 'If-None-Match: %s' "
                  "%s/api/v1/repos.csv %s/healthz 2>&1",
                  etag, base, base);
    raw = th_run(cmd, NULL);
    if (strstr(raw, "Excess found") || !strstr(raw, "Re-using existing connection") ||
        !strstr(raw, "< HTTP/1.1 304"))
        fail_msg("curl:\n%s", raw);
    free(raw);
    free(cmd);

    /* Node's http module over a keep-alive agent: a 304, then a 200 on the same socket */
    cmd = th_strf("node -e '"
                  "const http = require(\"http\");"
                  "const agent = new http.Agent({keepAlive: true, maxSockets: 1});"
                  "const url = process.argv[1];"
                  "function get(h) { return new Promise((ok, no) => {"
                  "  const q = http.get(url, {agent, headers: h}, (res) => {"
                  "    let n = 0; res.on(\"data\", (c) => n += c.length);"
                  "    res.on(\"end\", () => ok([res.statusCode, n, q.reusedSocket])); });"
                  "  q.on(\"error\", no); }); }"
                  "(async () => { const a = await get({\"If-None-Match\": process.argv[2]});"
                  "  const b = await get({});"
                  "  console.log(a.join(\" \") + \"/\" + b.join(\" \")); agent.destroy(); })()"
                  ".catch((e) => { console.log(\"error \" + e.message); process.exit(1); });"
                  "' %s/api/v1/repos.csv '%s' 2>&1",
                  base, etag);
    raw = th_run(cmd, NULL);
    cl = th_strf("304 0 false/200 %zu true\n", plain_len);
    if (strcmp(raw, cl) != 0)
        fail_msg("node http: got \"%s\", want \"%s\"", raw, cl);
    free(cl);
    free(raw);
    free(cmd);
    free(id);
    free(etag);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_csv_shape),
        cmocka_unit_test(test_csv_limits),
        cmocka_unit_test(test_body_size),
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_framing_and_headers),
        cmocka_unit_test(test_merge_bodies),
        cmocka_unit_test(test_list_params),
        cmocka_unit_test(test_unwanted_bodies),
        cmocka_unit_test(test_raw_abuse),
        cmocka_unit_test(test_if_match_strict),
        cmocka_unit_test(test_non_utf8_inputs),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_no_body_framing),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
