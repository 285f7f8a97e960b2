/*
 * test_s3_sigv4.c - unit tests for the S3 client: SigV4 and what goes on the wire
 *
 * SigV4: s3_sigv4_authorization() must reproduce AWS's published example
 * signatures (the S3 "GET object" and "GET Bucket (List Objects)" examples of
 * "Signature Calculations for the Authorization Header: Transferring Payload
 * in a Single Chunk" and the IAM ListUsers example of the SigV4
 * documentation) exactly.
 *
 * The wire: a scripted fake HTTP server on 127.0.0.1 (a thread; one canned
 * response per connection, Connection: close) records every request, so the
 * tests check what the client really sends - the percent-encoded path, the
 * signed headers (Content-MD5, x-amz-copy-source), the canonical query of
 * list and delete requests, and a signature that matches them - and how it maps
 * answers: retries on 5xx, 404 -> ERR_NOT_FOUND, 403 -> ERR_BAD_INPUT with
 * the S3 error code, no retry once body bytes reached the sink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "clients/s3_client.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define FAKE_MAX_CONN 32
#define FAKE_IDLE_MS 10000

/* ---- AWS's published examples ------------------------------------------ */

static void
test_sigv4_s3_get_object_example(void **state)
{
    char *auth;

    (void)state;
    auth = s3_sigv4_authorization("GET", "/test.txt", "",
                                  "host:examplebucket.s3.amazonaws.com\n"
                                  "range:bytes=0-9\n"
                                  "x-amz-content-sha256:" EMPTY_SHA256 "\n"
                                  "x-amz-date:20130524T000000Z",
                                  "host;range;x-amz-content-sha256;x-amz-date", EMPTY_SHA256,
                                  "20130524T000000Z", "us-east-1", "s3", "AKIAIOSFODNN7EXAMPLE",
                                  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    assert_non_null(auth);
    assert_string_equal(
        auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
              "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
              "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    free(auth);
}

/* AWS's "GET Bucket (List Objects)" example: a signed query string. */
static void
test_sigv4_s3_list_objects_example(void **state)
{
    char *auth;

    (void)state;
    auth = s3_sigv4_authorization("GET", "/", "max-keys=2&prefix=J",
                                  "host:examplebucket.s3.amazonaws.com\n"
                                  "x-amz-content-sha256:" EMPTY_SHA256 "\n"
                                  "x-amz-date:20130524T000000Z",
                                  "host;x-amz-content-sha256;x-amz-date", EMPTY_SHA256,
                                  "20130524T000000Z", "us-east-1", "s3", "AKIAIOSFODNN7EXAMPLE",
                                  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    assert_non_null(auth);
    assert_string_equal(auth,
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
                        "s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef"
                        "69dc6f7");
    free(auth);
}

static void
test_sigv4_iam_list_users_example(void **state)
{
    const char *headers = "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
                          "host:iam.amazonaws.com\n"
                          "x-amz-date:20150830T123600Z";
    const char *expected =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    char *auth;
    struct buf with_nl;

    (void)state;
    auth = s3_sigv4_authorization("GET", "/", "Action=ListUsers&Version=2010-05-08", headers,
                                  "content-type;host;x-amz-date", EMPTY_SHA256, "20150830T123600Z",
                                  "us-east-1", "iam", "AKIDEXAMPLE",
                                  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    assert_non_null(auth);
    assert_string_equal(auth, expected);
    free(auth);

    /* the header block may also end with its own newline */
    buf_init(&with_nl, 0);
    buf_printf(&with_nl, "%s\n", headers);
    auth = s3_sigv4_authorization("GET", "/", "Action=ListUsers&Version=2010-05-08", with_nl.data,
                                  "content-type;host;x-amz-date", EMPTY_SHA256, "20150830T123600Z",
                                  "us-east-1", "iam", "AKIDEXAMPLE",
                                  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    assert_non_null(auth);
    assert_string_equal(auth, expected);
    free(auth);
    buf_release(&with_nl);
}

static void
test_sigv4_rejects_bad_date(void **state)
{
    (void)state;
    assert_null(s3_sigv4_authorization("GET", "/", "", "host:h", "host", EMPTY_SHA256, "2015",
                                       "us-east-1", "s3", "AK", "SK"));
    assert_null(s3_sigv4_authorization("GET", "/", "", "host:h", "host", EMPTY_SHA256, NULL,
                                       "us-east-1", "s3", "AK", "SK"));
}

/* ---- configuration ------------------------------------------------------ */

static void
test_config_from_env(void **state)
{
    struct s3_client_config cfg;

    (void)state;
    setenv("AWS_REGION", "eu-west-3", 1);
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
    setenv("AWS_SESSION_TOKEN", "", 1);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
    s3_client_config_from_env(&cfg);
    assert_string_equal(cfg.region, "eu-west-3");
    assert_string_equal(cfg.access_key_id, "AK");
    assert_string_equal(cfg.secret_access_key, "SK");
    assert_null(cfg.session_token);
    assert_string_equal(cfg.endpoint_url, "http://127.0.0.1:9000");
    assert_int_equal(cfg.max_attempts, 5);
    assert_int_equal(cfg.connect_timeout_ms, 5000);
    assert_int_equal(cfg.low_speed_timeout_s, 30);

    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    setenv("AWS_SESSION_TOKEN", "tok", 1);
    unsetenv("AWS_ENDPOINT_URL");
    s3_client_config_from_env(&cfg);
    assert_string_equal(cfg.region, "us-east-1");
    assert_string_equal(cfg.session_token, "tok");
    assert_null(cfg.endpoint_url);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
}

/* ---- a scripted fake S3 on loopback -------------------------------------- */

struct fake {
    int listen_fd;
    int port;
    pthread_t thread;
    const char *const *responses; /* one per connection; the last one repeats */
    size_t nresponses;
    size_t expect; /* connections to serve before the thread ends */
    struct buf reqs[FAKE_MAX_CONN];
    size_t nreqs;
};

static int
wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n;

    do {
        n = poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
}

/* Read one request (head and Content-Length body) into b; 0 on success. */
static int
fake_read_request(int fd, struct buf *b)
{
    char chunk[65536];
    const char *end, *cl;
    size_t want = 0;
    ssize_t n;

    for (;;) {
        end = b->data ? strstr(b->data, "\r\n\r\n") : NULL;
        if (end && want == 0) {
            cl = strcasestr(b->data, "\r\ncontent-length:");
            want = (size_t)(end - b->data) + 4 + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (end && b->len >= want)
            return 0;
        if (!wait_readable(fd, 5000))
            return -1;
        n = read(fd, chunk, sizeof(chunk));
        if (n <= 0)
            return -1;
        buf_append(b, chunk, (size_t)n);
    }
}

static void
write_all(int fd, const char *s, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, s, len);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static void *
fake_main(void *arg)
{
    struct fake *f = arg;
    const char *resp;
    int fd;

    while (f->nreqs < f->expect && f->nreqs < FAKE_MAX_CONN) {
        if (!wait_readable(f->listen_fd, FAKE_IDLE_MS))
            break;
        fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        buf_init(&f->reqs[f->nreqs], 0);
        fake_read_request(fd, &f->reqs[f->nreqs]);
        resp = f->responses[f->nreqs < f->nresponses ? f->nreqs : f->nresponses - 1];
        f->nreqs++;
        write_all(fd, resp, strlen(resp));
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

static void
fake_start(struct fake *f, const char *const *responses, size_t nresponses, size_t expect)
{
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);

    memset(f, 0, sizeof(*f));
    f->responses = responses;
    f->nresponses = nresponses;
    f->expect = expect;
    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->listen_fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->listen_fd, 16), 0);
    assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&sa, &salen), 0);
    f->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

/* Join the server thread; the recorded requests stay until fake_release. */
static void
fake_join(struct fake *f)
{
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    f->listen_fd = -1;
}

static void
fake_release(struct fake *f)
{
    size_t i;

    for (i = 0; i < f->nreqs; i++)
        buf_release(&f->reqs[i]);
}

/* The value of header `name` in a raw request (malloc'd) or NULL. */
static char *
req_header(const char *raw, const char *name)
{
    const char *p = raw;
    const char *eol;
    size_t nlen = strlen(name);

    for (;;) {
        p = strstr(p, "\r\n");
        if (!p || strncmp(p, "\r\n\r\n", 4) == 0)
            return NULL;
        p += 2;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            p += nlen + 1;
            while (*p == ' ')
                p++;
            eol = strstr(p, "\r\n");
            return xstrndup(p, (size_t)(eol - p));
        }
    }
}

/* The request line of a raw request (malloc'd). */
static char *
req_line(const char *raw)
{
    return xstrndup(raw, strcspn(raw, "\r"));
}

static const char *
req_body(const char *raw)
{
    return strstr(raw, "\r\n\r\n") + 4;
}

static struct s3_client *
fake_client(const struct fake *f, const char *session_token, int max_attempts)
{
    struct s3_client_config cfg;
    char endpoint[64];
    struct s3_client *c;

    memset(&cfg, 0, sizeof(cfg));
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", f->port);
    cfg.region = "us-east-1";
    cfg.access_key_id = "AKIDTEST";
    cfg.secret_access_key = "secret/test+key";
    cfg.session_token = session_token;
    cfg.endpoint_url = endpoint; /* copied by s3_client_new */
    cfg.max_attempts = max_attempts;
    c = s3_client_new(&cfg);
    assert_non_null(c);
    return c;
}

struct collect {
    struct buf data;
    size_t calls;
};

static enum err
collect_sink(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct collect *col = ctx;

    (void)errbuf;
    (void)errlen;
    col->calls++;
    return buf_append(&col->data, data, len);
}

#define OK_HI "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"

/* A complete error answer with an S3 XML body. */
static char *
xml_error(int status, const char *code)
{
    struct buf body, resp;

    buf_init(&body, 0);
    buf_init(&resp, 0);
    buf_printf(&body,
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
               "<Message>m</Message><RequestId>r</RequestId></Error>",
               code);
    buf_printf(&resp,
               "HTTP/1.1 %d X\r\nContent-Type: application/xml\r\nContent-Length: %zu\r\n"
               "Connection: close\r\n\r\n%s",
               status, body.len, body.data);
    buf_release(&body);
    return buf_take(&resp, NULL);
}

/*
 * Recompute the signature of a captured request and compare it with its
 * Authorization: the canonical query is the request line's (the client sends
 * it canonical), Content-MD5 and x-amz-copy-source are signed when sent.
 */
static void
check_signature(const char *raw, const char *secret, int with_token, int with_ctype)
{
    char *line = req_line(raw);
    char *host = req_header(raw, "Host");
    char *sha = req_header(raw, "x-amz-content-sha256");
    char *date = req_header(raw, "x-amz-date");
    char *token = req_header(raw, "x-amz-security-token");
    char *ctype = req_header(raw, "Content-Type");
    char *md5 = req_header(raw, "Content-MD5");
    char *copy = req_header(raw, "x-amz-copy-source");
    char *auth = req_header(raw, "Authorization");
    char *method = xstrndup(line, strcspn(line, " "));
    char *target = xstrndup(line + strlen(method) + 1, strcspn(line + strlen(method) + 1, " "));
    char *query = strchr(target, '?');
    struct buf canon, names;
    char *expected;

    buf_init(&canon, 0);
    buf_init(&names, 0);
    if (query)
        *query++ = '\0';
    assert_non_null(host);
    assert_non_null(sha);
    assert_non_null(date);
    assert_non_null(auth);
    if (md5) {
        buf_printf(&canon, "content-md5:%s\n", md5);
        buf_append_str(&names, "content-md5;");
    }
    if (with_ctype) {
        assert_non_null(ctype);
        buf_printf(&canon, "content-type:%s\n", ctype);
        buf_append_str(&names, "content-type;");
    }
    buf_printf(&canon, "host:%s\nx-amz-content-sha256:%s\n", host, sha);
    buf_append_str(&names, "host;x-amz-content-sha256;");
    if (copy) {
        buf_printf(&canon, "x-amz-copy-source:%s\n", copy);
        buf_append_str(&names, "x-amz-copy-source;");
    }
    buf_printf(&canon, "x-amz-date:%s", date);
    buf_append_str(&names, "x-amz-date");
    if (with_token) {
        assert_non_null(token);
        buf_printf(&canon, "\nx-amz-security-token:%s", token);
        buf_append_str(&names, ";x-amz-security-token");
    } else {
        assert_null(token);
    }
    expected = s3_sigv4_authorization(method, target, query ? query : "", canon.data, names.data,
                                      sha, date, "us-east-1", "s3", "AKIDTEST", secret);
    assert_non_null(expected);
    assert_string_equal(auth, expected);
    free(expected);
    buf_release(&canon);
    buf_release(&names);
    free(line);
    free(host);
    free(sha);
    free(date);
    free(token);
    free(ctype);
    free(md5);
    free(copy);
    free(auth);
    free(method);
    free(target);
}

/* ---- the wire ------------------------------------------------------------ */

static void
test_get_signed_request(void **state)
{
    static const char *const resp[] = {OK_HI};
    struct fake f;
    struct s3_client *c;
    struct collect col = {{0}, 0};
    char errbuf[ERRBUF_SIZE] = "";
    char *line, *v;
    long status = -1;

    (void)state;
    buf_init(&col.data, 0);
    fake_start(&f, resp, 1, 1);
    c = fake_client(&f, "session/token+=", 3);
    assert_int_equal(s3_client_get(c, "my-bucket", "dir/a b.txt", collect_sink, &col, &status,
                                   errbuf, sizeof(errbuf)),
                     ERR_OK);
    fake_join(&f);
    assert_int_equal(status, 200);
    assert_string_equal(col.data.data, "hi");
    assert_int_equal(f.nreqs, 1);

    line = req_line(f.reqs[0].data);
    assert_string_equal(line, "GET /my-bucket/dir/a%20b.txt HTTP/1.1");
    free(line);
    v = req_header(f.reqs[0].data, "x-amz-content-sha256");
    assert_string_equal(v, "UNSIGNED-PAYLOAD");
    free(v);
    v = req_header(f.reqs[0].data, "x-amz-security-token");
    assert_string_equal(v, "session/token+=");
    free(v);
    v = req_header(f.reqs[0].data, "Host");
    assert_int_equal(strncmp(v, "127.0.0.1:", 10), 0);
    free(v);
    v = req_header(f.reqs[0].data, "Authorization");
    assert_non_null(strstr(v, "Credential=AKIDTEST/"));
    assert_non_null(strstr(v, "/us-east-1/s3/aws4_request, SignedHeaders=host;"
                              "x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="));
    free(v);
    check_signature(f.reqs[0].data, "secret/test+key", 1, 0);

    s3_client_free(c);
    fake_release(&f);
    buf_release(&col.data);
}

static void
test_key_uri_encoding(void **state)
{
    static const struct {
        const char *key;
        const char *path;
    } cases[] = {
        {"test.txt", "/bkt/test.txt"},
        {"a b", "/bkt/a%20b"},
        {"a+b=c&d", "/bkt/a%2Bb%3Dc%26d"},
        {"dir/sub/file.csv", "/bkt/dir/sub/file.csv"},
        {"caf\xC3\xA9", "/bkt/caf%C3%A9"},
        {"\xE6\x97\xA5\xE6\x9C\xAC", "/bkt/%E6%97%A5%E6%9C%AC"},
        {"100%", "/bkt/100%25"},
        {"a%20b", "/bkt/a%2520b"},
        {"AZaz09-_.~", "/bkt/AZaz09-_.~"},
        {"?#[]@!$'()*,;:", "/bkt/%3F%23%5B%5D%40%21%24%27%28%29%2A%2C%3B%3A"},
        {"a/./b/../c", "/bkt/a/./b/../c"},
        {"/lead//double/", "/bkt//lead//double/"},
        {"tab\tnl\n\x7F", "/bkt/tab%09nl%0A%7F"},
    };
    static const char *const resp[] = {OK_HI};
    size_t n = sizeof(cases) / sizeof(cases[0]);
    struct fake f;
    struct s3_client *c;
    struct collect col = {{0}, 0};
    char errbuf[ERRBUF_SIZE];
    char expected[256];
    char *line;
    size_t i;

    (void)state;
    buf_init(&col.data, 0);
    fake_start(&f, resp, 1, n);
    c = fake_client(&f, NULL, 1);
    for (i = 0; i < n; i++)
        assert_int_equal(
            s3_client_get(c, "bkt", cases[i].key, collect_sink, &col, NULL, errbuf, sizeof(errbuf)),
            ERR_OK);
    fake_join(&f);
    assert_int_equal(f.nreqs, n);
    for (i = 0; i < n; i++) {
        snprintf(expected, sizeof(expected), "GET %s HTTP/1.1", cases[i].path);
        line = req_line(f.reqs[i].data);
        assert_string_equal(line, expected);
        free(line);
        check_signature(f.reqs[i].data, "secret/test+key", 0, 0);
    }
    s3_client_free(c);
    fake_release(&f);
    buf_release(&col.data);
}

static void
test_endpoint_with_path_prefix(void **state)
{
    static const char *const resp[] = {OK_HI};
    struct s3_client_config cfg;
    struct s3_client *c;
    struct fake f;
    struct collect col = {{0}, 0};
    char endpoint[64], errbuf[ERRBUF_SIZE];
    char *line;

    (void)state;
    buf_init(&col.data, 0);
    fake_start(&f, resp, 1, 1);
    memset(&cfg, 0, sizeof(cfg));
    snprintf(endpoint, sizeof(endpoint), "http://localhost:%d/s3/", f.port);
    cfg.endpoint_url = endpoint;
    cfg.access_key_id = "AKIDTEST";
    cfg.secret_access_key = "secret/test+key";
    c = s3_client_new(&cfg);
    assert_int_equal(s3_client_get(c, "bkt", "k", collect_sink, &col, NULL, errbuf, sizeof(errbuf)),
                     ERR_OK);
    fake_join(&f);
    line = req_line(f.reqs[0].data);
    assert_string_equal(line, "GET /s3/bkt/k HTTP/1.1");
    free(line);
    check_signature(f.reqs[0].data, "secret/test+key", 0, 0);
    s3_client_free(c);
    fake_release(&f);
    buf_release(&col.data);
}

static void
test_put_signed_payload(void **state)
{
    static const char *const resp[] = {
        "HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"};
    static const char body[] = "id,name\n1,\xC3\xA9t\xC3\xA9\n";
    struct fake f;
    struct s3_client *c;
    char errbuf[ERRBUF_SIZE] = "";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[65];
    char *v, *line;
    unsigned int i;

    (void)state;
    fake_start(&f, resp, 1, 1);
    c = fake_client(&f, "tok", 3);
    assert_int_equal(s3_client_put(c, "bkt", "exports/repos.csv", body, sizeof(body) - 1,
                                   "  text/csv;   charset=utf-8 ", errbuf, sizeof(errbuf)),
                     ERR_OK);
    fake_join(&f);
    line = req_line(f.reqs[0].data);
    assert_string_equal(line, "PUT /bkt/exports/repos.csv HTTP/1.1");
    free(line);
    assert_string_equal(req_body(f.reqs[0].data), body);
    EVP_Digest(body, sizeof(body) - 1, md, &mdlen, EVP_sha256(), NULL);
    for (i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    v = req_header(f.reqs[0].data, "x-amz-content-sha256");
    assert_string_equal(v, hex);
    free(v);
    v = req_header(f.reqs[0].data, "Content-Type");
    assert_string_equal(v, "text/csv; charset=utf-8");
    free(v);
    v = req_header(f.reqs[0].data, "Content-Length");
    assert_int_equal(strtoul(v, NULL, 10), sizeof(body) - 1);
    free(v);
    EVP_Digest(body, sizeof(body) - 1, md, &mdlen, EVP_md5(), NULL);
    assert_int_equal(EVP_EncodeBlock((unsigned char *)hex, md, mdlen), 24);
    v = req_header(f.reqs[0].data, "Content-MD5");
    assert_string_equal(v, hex);
    free(v);
    v = req_header(f.reqs[0].data, "Authorization");
    assert_non_null(strstr(v, "SignedHeaders=content-md5;content-type;host;"));
    free(v);
    check_signature(f.reqs[0].data, "secret/test+key", 1, 1);
    s3_client_free(c);
    fake_release(&f);
}

/* A complete 200 answer with an XML body. */
static char *
xml_ok(const char *body)
{
    struct buf resp;

    buf_init(&resp, 0);
    buf_printf(&resp,
               "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %zu\r\n"
               "Connection: close\r\n\r\n%s",
               strlen(body), body);
    return buf_take(&resp, NULL);
}

/* ListObjectsV2 and ListObjectVersions: the query on the wire, signed; the answer read. */
static void
test_list_requests(void **state)
{
    char *v2 = xml_ok("<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
                      "t/1=</NextContinuationToken><Contents><Key>a%20b+c</Key><Size>3</Size>"
                      "<ETag>&quot;e&quot;</ETag></Contents><EncodingType>url</EncodingType>"
                      "</ListBucketResult>");
    char *versions = xml_ok("<ListVersionsResult><IsTruncated>false</IsTruncated><DeleteMarker>"
                            "<Key>k</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest>"
                            "</DeleteMarker></ListVersionsResult>");
    char *garbled = xml_ok("<ListBucketResult><Contents>");
    const char *resp[] = {v2, versions, v2, garbled};
    struct s3_list_page page;
    struct fake f;
    struct s3_client *c;
    char errbuf[ERRBUF_SIZE] = "";
    char *line;

    (void)state;
    fake_start(&f, resp, 4, 4);
    c = fake_client(&f, NULL, 1);
    s3_list_page_init(&page);
    assert_int_equal(
        s3_client_list_objects(c, "bkt", "dir/a b", "tok/en=", 2, &page, errbuf, sizeof(errbuf)),
        ERR_OK);
    assert_int_equal(page.count, 1);
    assert_string_equal(page.entries[0].key, "a b c");
    assert_string_equal(page.entries[0].etag, "\"e\"");
    assert_true(page.is_truncated);
    assert_string_equal(page.next_continuation_token, "t/1=");
    s3_list_page_release(&page);
    assert_int_equal(
        s3_client_list_versions(c, "bkt", "p", "k/1", "v+1", 0, &page, errbuf, sizeof(errbuf)),
        ERR_OK);
    assert_int_equal(page.count, 1);
    assert_true(page.entries[0].is_delete_marker);
    assert_string_equal(page.entries[0].version_id, "v2");
    s3_list_page_release(&page);
    assert_int_equal(
        s3_client_list_objects(c, "bkt", NULL, NULL, 5000, &page, errbuf, sizeof(errbuf)), ERR_OK);
    s3_list_page_release(&page);
    assert_int_equal(s3_client_list_objects(c, "bkt", NULL, NULL, 0, &page, errbuf, sizeof(errbuf)),
                     ERR_UPSTREAM);
    assert_string_equal(errbuf, "s3 GET bkt (ListObjectsV2): s3 list xml: the answer is cut short");
    s3_list_page_release(&page);
    fake_join(&f);
    assert_int_equal(f.nreqs, 4);
    line = req_line(f.reqs[0].data);
    assert_string_equal(line, "GET /bkt?continuation-token=tok%2Fen%3D&encoding-type=url&"
                              "list-type=2&max-keys=2&prefix=dir%2Fa%20b HTTP/1.1");
    free(line);
    line = req_line(f.reqs[1].data);
    assert_string_equal(line, "GET /bkt?encoding-type=url&key-marker=k%2F1&max-keys=1000&"
                              "prefix=p&version-id-marker=v%2B1&versions= HTTP/1.1");
    free(line);
    line = req_line(f.reqs[2].data);
    assert_string_equal(line, "GET /bkt?encoding-type=url&list-type=2&max-keys=1000 HTTP/1.1");
    free(line);
    check_signature(f.reqs[0].data, "secret/test+key", 0, 0);
    check_signature(f.reqs[1].data, "secret/test+key", 0, 0);
    s3_client_free(c);
    fake_release(&f);
    free(v2);
    free(versions);
    free(garbled);
}

/* CopyObject: x-amz-copy-source signed, an <Error> in a 200 fails; DeleteObject of a version. */
static void
test_copy_and_delete(void **state)
{
    char *copied = xml_ok("<CopyObjectResult><ETag>&quot;e&quot;</ETag></CopyObjectResult>");
    char *failed = xml_ok("<Error><Code>InternalError</Code></Error>");
    const char *resp[] = {copied, failed, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"};
    struct fake f;
    struct s3_client *c;
    char errbuf[ERRBUF_SIZE] = "";
    char *line, *v;

    (void)state;
    fake_start(&f, resp, 3, 3);
    c = fake_client(&f, "tok", 1);
    assert_int_equal(
        s3_client_copy(c, "src", "dir/a b+c", "v/1", "dst", "to/x", errbuf, sizeof(errbuf)),
        ERR_OK);
    assert_int_equal(s3_client_copy(c, "src", "k", NULL, "dst", "k2", errbuf, sizeof(errbuf)),
                     ERR_UNAVAILABLE);
    assert_string_equal(errbuf, "s3 PUT dst/k2: 200 with an error in the body");
    assert_int_equal(s3_client_delete(c, "bkt", "k", "3/L4", errbuf, sizeof(errbuf)), ERR_OK);
    fake_join(&f);
    line = req_line(f.reqs[0].data);
    assert_string_equal(line, "PUT /dst/to/x HTTP/1.1");
    free(line);
    v = req_header(f.reqs[0].data, "x-amz-copy-source");
    assert_string_equal(v, "/src/dir/a%20b%2Bc?versionId=v%2F1");
    free(v);
    v = req_header(f.reqs[0].data, "x-amz-content-sha256");
    assert_string_equal(v, EMPTY_SHA256);
    free(v);
    check_signature(f.reqs[0].data, "secret/test+key", 1, 0);
    v = req_header(f.reqs[1].data, "x-amz-copy-source");
    assert_string_equal(v, "/src/k");
    free(v);
    line = req_line(f.reqs[2].data);
    assert_string_equal(line, "DELETE /bkt/k?versionId=3%2FL4 HTTP/1.1");
    free(line);
    check_signature(f.reqs[2].data, "secret/test+key", 1, 0);
    s3_client_free(c);
    fake_release(&f);
    free(copied);
    free(failed);
}

static void
test_retry_5xx_then_ok(void **state)
{
    char *slow = xml_error(503, "SlowDown");
    char *internal = xml_error(500, "InternalError");
    const char *resp[3];
    struct fake f;
    struct s3_client *c;
    struct collect col = {{0}, 0};
    char errbuf[ERRBUF_SIZE] = "";
    long status = 0;

    (void)state;
    resp[0] = slow;
    resp[1] = internal;
    resp[2] = OK_HI;
    buf_init(&col.data, 0);
    fake_start(&f, resp, 3, 3);
    c = fake_client(&f, NULL, 5);
    assert_int_equal(
        s3_client_get(c, "bkt", "k", collect_sink, &col, &status, errbuf, sizeof(errbuf)), ERR_OK);
    fake_join(&f);
    assert_int_equal(f.nreqs, 3);
    assert_int_equal(status, 200);
    assert_string_equal(col.data.data, "hi"); /* error bodies never reach the sink */
    assert_int_equal(col.calls, 1);
    s3_client_free(c);
    fake_release(&f);
    buf_release(&col.data);
    free(slow);
    free(internal);
}

static void
test_retry_gives_up(void **state)
{
    char *slow = xml_error(503, "SlowDown");
    const char *resp[1];
    struct fake f;
    struct s3_client *c;
    struct collect col = {{0}, 0};
    char errbuf[ERRBUF_SIZE] = "";
    long status = 0;

    (void)state;
    resp[0] = slow;
    buf_init(&col.data, 0);
    fake_start(&f, resp, 1, 3);
    c = fake_client(&f, NULL, 3);
    assert_int_equal(
        s3_client_get(c, "bkt", "k", collect_sink, &col, &status, errbuf, sizeof(errbuf)),
        ERR_UNAVAILABLE);
    fake_join(&f);
    assert_int_equal(f.nreqs, 3);
    assert_int_equal(status, 503);
    assert_string_equal(errbuf, "s3 GET bkt/k: 503 SlowDown after 3 attempts");
    assert_int_equal(col.calls, 0);
    s3_client_free(c);
    fake_release(&f);
    buf_release(&col.data);
    free(slow);
}

static void
test_4xx_final(void **state)
{
    char *denied = xml_error(403, "AccessDenied");
    char *nokey = xml_error(404, "NoSuchKey");
    const char *resp[4];
    struct fake f;
    struct s3_client *c;
    struct collect col = {{0}, 0};
    char errbuf[ERRBUF_SIZE] = "";
    char longkey[1001];
    long status = 0;

    (void)state;
    resp[0] = denied;
    resp[1] = nokey;
    resp[2] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    resp[3] = nokey;
    buf_init(&col.data, 0);
    fake_start(&f, resp, 4, 4);
    c = fake_client(&f, NULL, 5);
    assert_int_equal(
        s3_client_get(c, "bucket", "key", collect_sink, &col, &status, errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_string_equal(errbuf, "s3 GET bucket/key: 403 AccessDenied");
    assert_int_equal(status, 403);
    assert_int_equal(s3_client_get(c, "bucket", "d\xC3\xBC\x01r/k", collect_sink, &col, &status,
                                   errbuf, sizeof(errbuf)),
                     ERR_NOT_FOUND);
    assert_string_equal(errbuf, "s3 GET bucket/d%C3%BC%01r/k: 404 NoSuchKey");
    assert_int_equal(status, 404);
    assert_int_equal(s3_client_put(c, "bucket", "key", "x", 1, NULL, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_string_equal(errbuf, "s3 PUT bucket/key: 400");
    /* a long key is shortened in the message so that the status still fits */
    memset(longkey, '\x01', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(
        s3_client_get(c, "bucket", longkey, collect_sink, &col, &status, errbuf, sizeof(errbuf)),
        ERR_NOT_FOUND);
    assert_true(strlen(errbuf) < sizeof(errbuf) - 1);
    assert_non_null(strstr(errbuf, "%01...: 404 NoSuchKey"));
    fake_join(&f);
    assert_int_equal(f.nreqs, 4); /* no retries */
    assert_int_equal(col.calls, 0);
    s3_client_free(c);
    fake_release(&f);
    buf_release(&col.data);
    free(denied);
    free(nokey);
}

static void
test_no_retry_after_body_bytes(void **state)
{
    static const char *const resp[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789"};
    struct fake f;
    struct s3_client *c;
    struct collect col = {{0}, 0};
    char errbuf[ERRBUF_SIZE] = "";
    long status = 0;

    (void)state;
    buf_init(&col.data, 0);
    fake_start(&f, resp, 1, 1);
    c = fake_client(&f, NULL, 5);
    assert_int_equal(
        s3_client_get(c, "bkt", "k", collect_sink, &col, &status, errbuf, sizeof(errbuf)),
        ERR_UNAVAILABLE);
    fake_join(&f);
    assert_int_equal(f.nreqs, 1);
    assert_string_equal(col.data.data, "0123456789");
    assert_non_null(strstr(errbuf, "s3 GET bkt/k: transfer interrupted after 10 bytes"));
    s3_client_free(c);
    fake_release(&f);
    buf_release(&col.data);
}

static void
test_put_retried_on_5xx(void **state)
{
    char *internal = xml_error(500, "InternalError");
    const char *resp[2];
    struct fake f;
    struct s3_client *c;
    char errbuf[ERRBUF_SIZE] = "";

    (void)state;
    resp[0] = internal;
    resp[1] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    fake_start(&f, resp, 2, 2);
    c = fake_client(&f, NULL, 3);
    assert_int_equal(s3_client_put(c, "bkt", "k", "payload", 7, NULL, errbuf, sizeof(errbuf)),
                     ERR_OK);
    fake_join(&f);
    assert_int_equal(f.nreqs, 2);
    assert_string_equal(req_body(f.reqs[0].data), "payload");
    assert_string_equal(req_body(f.reqs[1].data), "payload");
    s3_client_free(c);
    fake_release(&f);
    free(internal);
}

static void
test_bad_arguments(void **state)
{
    struct s3_client_config cfg;
    struct s3_client *c;
    struct collect col = {{0}, 0};
    char errbuf[ERRBUF_SIZE];
    char longkey[1100];

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.endpoint_url = "http://127.0.0.1:1";
    c = s3_client_new(&cfg);
    assert_non_null(c);
    assert_int_equal(s3_client_get(c, "bkt", "", collect_sink, &col, NULL, errbuf, sizeof(errbuf)),
                     ERR_BAD_INPUT);
    assert_int_equal(
        s3_client_get(c, "b/kt", "k", collect_sink, &col, NULL, errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_int_equal(
        s3_client_get(c, "b123456789b123456789b123456789b123456789b123456789b1234567890123", "k",
                      collect_sink, &col, NULL, errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT); /* 64 characters */
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(
        s3_client_get(c, "bkt", longkey, collect_sink, &col, NULL, errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    assert_int_equal(
        s3_client_put(c, "bkt", "k", "x", 1, "text/plain\r\nX-Evil: 1", errbuf, sizeof(errbuf)),
        ERR_BAD_INPUT);
    s3_client_free(c);
    s3_client_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_s3_get_object_example),
        cmocka_unit_test(test_sigv4_s3_list_objects_example),
        cmocka_unit_test(test_sigv4_iam_list_users_example),
        cmocka_unit_test(test_sigv4_rejects_bad_date),
        cmocka_unit_test(test_config_from_env),
        cmocka_unit_test(test_get_signed_request),
        cmocka_unit_test(test_key_uri_encoding),
        cmocka_unit_test(test_endpoint_with_path_prefix),
        cmocka_unit_test(test_put_signed_payload),
        cmocka_unit_test(test_list_requests),
        cmocka_unit_test(test_copy_and_delete),
        cmocka_unit_test(test_retry_5xx_then_ok),
        cmocka_unit_test(test_retry_gives_up),
        cmocka_unit_test(test_4xx_final),
        cmocka_unit_test(test_no_retry_after_body_bytes),
        cmocka_unit_test(test_put_retried_on_5xx),
        cmocka_unit_test(test_bad_arguments),
    };
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
