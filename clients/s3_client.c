/*
 * s3_client.c - a small S3 client on libcurl: tries, retries, outcomes (see s3_client.h)
 *
 * A request (s3_request.c builds it) is up to max_attempts tries of one
 * transfer on the client's easy handle; curl_easy_reset() between tries keeps
 * its connection and DNS caches. Every try is signed anew (x-amz-date moves
 * on).
 *
 * PUT sends the body's SHA-256 (x-amz-content-sha256) and MD5 (Content-MD5),
 * so that S3 refuses a body damaged on the way (400 BadDigest).
 *
 * GET: body bytes go to the sink only for a 2xx answer; the body of any
 * other answer is kept (first S3_ERROR_BODY_MAX bytes) for the <Code> of
 * S3's XML error. A try is retried (exponential backoff with equal jitter,
 * bounded count and time) when it failed transiently - 5xx, 408, 429, a
 * connection or transfer error - and no byte reached the sink; everything
 * else is final. A sink error aborts the transfer and is returned as is.
 *
 * What a failed try returns (s3_client.h has the table): ERR_NOT_FOUND for
 * 404, ERR_BAD_INPUT for other 4xx, ERR_UNAVAILABLE for 5xx/408/429 and
 * when S3 cannot be reached or the transfer breaks, ERR_UPSTREAM for an
 * answer that is not one an S3 server gives (1xx/3xx status, garbled HTTP).
 *
 * Without an access key or a secret, requests go out unsigned (anonymous
 * access to public buckets); x-amz-date and x-amz-content-sha256 are sent
 * all the same.
 *
 * Thread-safety: a struct s3_client is used by one thread at a time.
 */
#include "clients/s3_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/s3_internal.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"

#define S3_DEFAULT_ATTEMPTS 5
#define S3_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define S3_DEFAULT_LOW_SPEED_TIMEOUT_S 30L
#define S3_BACKOFF_FIRST_MS 200L
#define S3_BACKOFF_MAX_MS 5000L
#define S3_RETRY_BUDGET_MS 60000L /* no try starts later than this after the first */
#define S3_ERROR_BODY_MAX 8192
#define S3_ERROR_CODE_MAX 64
#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* The state of one try. */
struct s3_try {
    struct s3_client *c;
    struct s3_request *r;
    char *errbuf;
    size_t errlen;
    size_t delivered; /* bytes handed to the sink */
    enum err sink_rc;
    struct buf error_body;
    size_t body_off; /* PUT upload position */
};

/* ---- configuration and lifecycle -------------------------------------- */

void
s3_client_config_from(struct s3_client_config *cfg, const struct config_s3 *s3)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->region = s3->region;
    cfg->access_key_id = s3->access_key_id;
    cfg->secret_access_key = s3->secret_access_key;
    cfg->session_token = s3->session_token;
    cfg->endpoint_url = s3->endpoint_url;
    cfg->max_attempts = S3_DEFAULT_ATTEMPTS;
    cfg->connect_timeout_ms = S3_DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->low_speed_timeout_s = S3_DEFAULT_LOW_SPEED_TIMEOUT_S;
}

void
s3_client_config_from_env(struct s3_client_config *cfg)
{
    struct config_s3 s3;

    config_s3_load(&s3, NULL, 0); /* unchecked, as before config_load() checked them */
    s3_client_config_from(cfg, &s3);
}

static char *
dup_nonempty(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

/* NULL only when libcurl cannot make an easy handle. Zero/NULL fields take the defaults. */
struct s3_client *
s3_client_new(const struct s3_client_config *cfg)
{
    struct s3_client *c = xcalloc(1, sizeof(*c));
    size_t n;

    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return NULL;
    }
    c->region = xstrdup(cfg->region && *cfg->region ? cfg->region : CONFIG_S3_DEFAULT_REGION);
    c->access_key_id = dup_nonempty(cfg->access_key_id);
    c->secret_access_key = dup_nonempty(cfg->secret_access_key);
    c->session_token = dup_nonempty(cfg->session_token);
    c->endpoint_url = dup_nonempty(cfg->endpoint_url);
    if (c->endpoint_url) {
        n = strlen(c->endpoint_url);
        while (n > 0 && c->endpoint_url[n - 1] == '/')
            c->endpoint_url[--n] = '\0';
    }
    c->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : S3_DEFAULT_ATTEMPTS;
    c->connect_timeout_ms =
        cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : S3_DEFAULT_CONNECT_TIMEOUT_MS;
    c->low_speed_timeout_s =
        cfg->low_speed_timeout_s > 0 ? cfg->low_speed_timeout_s : S3_DEFAULT_LOW_SPEED_TIMEOUT_S;
    c->jitter_state = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)c;
    if (c->jitter_state == 0)
        c->jitter_state = 0x9E3779B9u;
    return c;
}

void
s3_client_free(struct s3_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->region);
    free(c->access_key_id);
    if (c->secret_access_key)
        OPENSSL_cleanse(c->secret_access_key, strlen(c->secret_access_key));
    free(c->secret_access_key);
    free(c->session_token);
    free(c->endpoint_url);
    free(c);
}

/* ---- one try ------------------------------------------------------------ */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct s3_try *t = userdata;
    size_t n = size * nmemb;
    size_t room;
    long status = 0;
    enum err rc;

    curl_easy_getinfo(t->c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->r->has_range && status >= 200 && status <= 299 && status != 206) {
        /* the server ignored the range: the whole object would follow */
        t->sink_rc = err_set(ERR_UPSTREAM, t->errbuf, t->errlen,
                             "s3 %s: %ld instead of 206 for a range", t->r->what, status);
        return 0;
    }
    if (status < 200 || status > 299) {
        room = S3_ERROR_BODY_MAX - t->error_body.len;
        buf_append(&t->error_body, data, n < room ? n : room);
        return n;
    }
    if (!t->r->sink || n == 0)
        return n;
    t->delivered += n;
    rc = t->r->sink(t->r->sink_ctx, data, n, t->errbuf, t->errlen);
    if (rc) {
        t->sink_rc = rc;
        return 0; /* CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t
on_upload(char *dst, size_t size, size_t nitems, void *userdata)
{
    struct s3_try *t = userdata;
    size_t n = size * nitems;
    size_t left = t->r->body_len - t->body_off;

    if (n > left)
        n = left;
    memcpy(dst, t->r->body + t->body_off, n);
    t->body_off += n;
    return n;
}

static int
on_seek(void *userdata, curl_off_t offset, int origin)
{
    struct s3_try *t = userdata;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > (uint64_t)t->r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    t->body_off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static void
try_setup(struct s3_try *t, struct curl_slist *headers)
{
    CURL *h = t->c->curl;

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, t->r->url.data);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, t->c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, t->c->low_speed_timeout_s);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    if (t->r->loopback)
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (t->r->body) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(h, CURLOPT_READDATA, t);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, t);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)t->r->body_len);
    } else if (strcmp(t->r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(t->r->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    if (t->r->has_range) {
        char range[64];

        snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)t->r->range_first,
                 (unsigned long long)t->r->range_last);
        curl_easy_setopt(h, CURLOPT_RANGE, range); /* libcurl copies it */
    }
}

static int
curl_transient(CURLcode res)
{
    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* A short lower-case description of a transfer failure. */
static void
describe_curl_error(struct s3_client *c, CURLcode res, char *out, size_t outlen)
{
    const char *s = curl_easy_strerror(res);
    long oserr = 0;

    if (res == CURLE_COULDNT_CONNECT) {
        curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
        s = oserr == ECONNREFUSED   ? "connection refused"
            : oserr == ETIMEDOUT    ? "connection timed out"
            : oserr == EHOSTUNREACH ? "host unreachable"
            : oserr == ENETUNREACH  ? "network unreachable"
                                    : "cannot connect";
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        s = "timed out";
    } else if (res == CURLE_COULDNT_RESOLVE_HOST) {
        s = "cannot resolve host";
    }
    snprintf(out, outlen, "%s", s);
    if (out[0] >= 'A' && out[0] <= 'Z')
        out[0] = (char)(out[0] - 'A' + 'a');
}

/* The <Code> of an S3 XML error body into code (empty when there is none). */
static void
error_code(const struct buf *body, char *code, size_t codelen)
{
    const char *p = body->data ? strstr(body->data, "<Code>") : NULL;
    size_t n = 0;

    code[0] = '\0';
    if (!p)
        return;
    for (p += 6; *p && *p != '<' && n + 1 < codelen; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '_' || *p == '-')
            code[n++] = *p;
    }
    code[n] = '\0';
}

/* A transfer failure that is the server's answer being garbage rather than no answer. */
static int
curl_garbled(CURLcode res)
{
    return res == CURLE_WEIRD_SERVER_REPLY || res == CURLE_BAD_CONTENT_ENCODING;
}

/* The enum err of a final HTTP status that is not 2xx; *retry when another try may help. */
static enum err
status_kind(long status, int *retry)
{
    *retry = status >= 500 || status == 408 || status == 429;
    if (*retry)
        return ERR_UNAVAILABLE;
    if (status == 404)
        return ERR_NOT_FOUND;
    if (status >= 400)
        return ERR_BAD_INPUT;
    return ERR_UPSTREAM; /* 1xx, 3xx: not an answer S3 gives to these requests */
}

/* What a finished try means; *retry says whether another try may help. */
static enum err
try_outcome(struct s3_try *t, CURLcode res, long status, int *retry)
{
    char code[S3_ERROR_CODE_MAX], why[128];

    *retry = 0;
    if (t->sink_rc) {
        if (t->errbuf && t->errlen > 0 && t->errbuf[0] == '\0')
            err_set(t->sink_rc, t->errbuf, t->errlen, "s3 %s: aborted by the sink", t->r->what);
        return t->sink_rc;
    }
    if (res != CURLE_OK) {
        describe_curl_error(t->c, res, why, sizeof(why));
        if (t->delivered > 0)
            return err_set(ERR_UNAVAILABLE, t->errbuf, t->errlen,
                           "s3 %s: transfer interrupted after %zu bytes: %s", t->r->what,
                           t->delivered, why);
        *retry = curl_transient(res);
        return err_set(curl_garbled(res) ? ERR_UPSTREAM : ERR_UNAVAILABLE, t->errbuf, t->errlen,
                       "s3 %s: %s (%s)", t->r->what, why, t->r->host.data);
    }
    if (t->r->has_range && status >= 200 && status <= 299 && status != 206)
        return err_set(ERR_UPSTREAM, t->errbuf, t->errlen, "s3 %s: %ld instead of 206 for a range",
                       t->r->what, status);
    if (status >= 200 && status <= 299)
        return ERR_OK;
    error_code(&t->error_body, code, sizeof(code));
    return err_set(status_kind(status, retry), t->errbuf, t->errlen, "s3 %s: %ld%s%s", t->r->what,
                   status, code[0] ? " " : "", code);
}

static enum err
try_once(struct s3_client *c, struct s3_request *r, long *status, int *retry, char *errbuf,
         size_t errlen)
{
    struct s3_try t;
    struct curl_slist *headers = NULL;
    curl_off_t length = -1;
    CURLcode res;
    enum err rc;

    memset(&t, 0, sizeof(t));
    t.c = c;
    t.r = r;
    t.errbuf = errbuf;
    t.errlen = errlen;
    buf_init(&t.error_body, S3_ERROR_BODY_MAX);
    *status = 0;
    *retry = 0;
    rc = s3_sigv4_headers(c, r, &headers, errbuf, errlen);
    if (rc)
        goto out;
    try_setup(&t, headers);
    if (errbuf && errlen > 0)
        errbuf[0] = '\0'; /* tells a sink's message from ours */
    res = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    if (res == CURLE_OK)
        curl_easy_getinfo(c->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    r->content_length = (int64_t)length;
    rc = try_outcome(&t, res, *status, retry);
out:
    /* the handle keeps pointers to the list and to t until the next reset */
    curl_easy_reset(c->curl);
    curl_slist_free_all(headers);
    buf_release(&t.error_body);
    return rc;
}

/* Equal jitter: between half and all of ms. */
static long
backoff_jitter(struct s3_client *c, long ms)
{
    uint32_t x = c->jitter_state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->jitter_state = x;
    return ms / 2 + (long)(x % (uint32_t)(ms / 2 + 1));
}

enum err
s3_client_run(struct s3_client *c, struct s3_request *r, long *http_status, char *errbuf,
              size_t errlen)
{
    long long start = clock_mono_ms();
    long backoff_ms = S3_BACKOFF_FIRST_MS;
    long status = 0;
    size_t used;
    int attempt, retry = 0;
    enum err rc;

    for (attempt = 1;; attempt++) {
        rc = try_once(c, r, &status, &retry, errbuf, errlen);
        if (!retry || attempt >= c->max_attempts ||
            clock_mono_ms() - start + backoff_ms > S3_RETRY_BUDGET_MS)
            break;
        clock_sleep_ms(backoff_jitter(c, backoff_ms));
        backoff_ms = backoff_ms * 2 > S3_BACKOFF_MAX_MS ? S3_BACKOFF_MAX_MS : backoff_ms * 2;
    }
    if (rc && retry && attempt > 1 && errbuf && errlen > 0) {
        used = strlen(errbuf);
        snprintf(errbuf + used, errlen - used, " after %d attempts", attempt);
    }
    if (http_status)
        *http_status = status;
    return rc;
}

/* ---- the public calls --------------------------------------------------- */

enum err
s3_client_get(struct s3_client *c, const char *bucket, const char *key, byte_sink_fn sink,
              void *ctx, long *http_status, char *errbuf, size_t errlen)
{
    struct s3_request r;
    enum err rc;

    if (http_status)
        *http_status = 0;
    s3_request_init(&r, "GET");
    if (!c || !sink) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 GET: no client or no sink");
        goto out;
    }
    rc = s3_request_prepare(c, &r, bucket, key, errbuf, errlen);
    if (rc)
        goto out;
    memcpy(r.payload_hash, S3_UNSIGNED_PAYLOAD, sizeof(S3_UNSIGNED_PAYLOAD));
    r.sink = sink;
    r.sink_ctx = ctx;
    rc = s3_client_run(c, &r, http_status, errbuf, errlen);
out:
    s3_request_release(&r);
    return rc;
}

enum err
s3_client_get_range(struct s3_client *c, const char *bucket, const char *key, uint64_t offset,
                    uint64_t length, byte_sink_fn sink, void *ctx, long *http_status, char *errbuf,
                    size_t errlen)
{
    struct s3_request r;
    size_t used;
    enum err rc;

    if (http_status)
        *http_status = 0;
    s3_request_init(&r, "GET");
    if (!c || !sink || length == 0 || offset > UINT64_MAX - length) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 GET: no client, no sink or an empty range");
        goto out;
    }
    rc = s3_request_prepare(c, &r, bucket, key, errbuf, errlen);
    if (rc)
        goto out;
    used = strlen(r.what);
    snprintf(r.what + used, sizeof(r.what) - used, " bytes %llu-%llu", (unsigned long long)offset,
             (unsigned long long)(offset + length - 1));
    memcpy(r.payload_hash, S3_UNSIGNED_PAYLOAD, sizeof(S3_UNSIGNED_PAYLOAD));
    r.sink = sink;
    r.sink_ctx = ctx;
    r.has_range = 1;
    r.range_first = offset;
    r.range_last = offset + length - 1;
    rc = s3_client_run(c, &r, http_status, errbuf, errlen);
out:
    s3_request_release(&r);
    return rc;
}

enum err
s3_client_head(struct s3_client *c, const char *bucket, const char *key, uint64_t *size,
               char *errbuf, size_t errlen)
{
    struct s3_request r;
    enum err rc;

    *size = 0;
    s3_request_init(&r, "HEAD");
    if (!c) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 HEAD: no client");
        goto out;
    }
    rc = s3_request_prepare(c, &r, bucket, key, errbuf, errlen);
    if (rc)
        goto out;
    memcpy(r.payload_hash, S3_UNSIGNED_PAYLOAD, sizeof(S3_UNSIGNED_PAYLOAD));
    rc = s3_client_run(c, &r, NULL, errbuf, errlen);
    if (!rc && r.content_length < 0)
        rc =
            err_set(ERR_UPSTREAM, errbuf, errlen, "s3 %s: no Content-Length in the answer", r.what);
    if (!rc)
        *size = (uint64_t)r.content_length;
out:
    s3_request_release(&r);
    return rc;
}

enum err
s3_client_put(struct s3_client *c, const char *bucket, const char *key, const void *body,
              size_t len, const char *content_type, char *errbuf, size_t errlen)
{
    struct s3_request r;
    enum err rc;

    s3_request_init(&r, "PUT");
    if (!c || (!body && len > 0)) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 PUT: no client or no body");
        goto out;
    }
    rc = s3_request_prepare(c, &r, bucket, key, errbuf, errlen);
    if (rc)
        goto out;
    if (content_type) {
        rc = s3_request_set_content_type(&r, content_type, errbuf, errlen);
        if (rc)
            goto out;
    }
    if (s3_sigv4_sha256_hex(body, len, r.payload_hash) ||
        s3_sigv4_md5_base64(body, len, r.content_md5)) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 %s: sha-256 or md5 failed", r.what);
        goto out;
    }
    r.body = body ? body : (const void *)"";
    r.body_len = len;
    rc = s3_client_run(c, &r, NULL, errbuf, errlen);
out:
    s3_request_release(&r);
    return rc;
}
