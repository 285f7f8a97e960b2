/*
 * s3_client.c - a small S3 client on libcurl (see s3_client.h)
 *
 * A request is up to max_attempts tries of one transfer on the client's easy
 * handle; curl_easy_reset() between tries keeps its connection and DNS
 * caches. Every try is signed anew (x-amz-date moves on). The canonical
 * request is made of exactly what goes on the wire: the path is encoded once
 * (RFC 3986 unreserved characters and '/' kept, everything else %XX; S3 does
 * not double-encode) and used both as the URL path and as the canonical URI,
 * CURLOPT_PATH_AS_IS keeps libcurl from folding "." and ".." segments, and
 * the Host header is set explicitly to the value that is signed.
 *
 * GET: body bytes go to the sink only for a 2xx answer; the body of any
 * other answer is kept (first S3_ERROR_BODY_MAX bytes) for the <Code> of
 * S3's XML error. A try is retried (exponential backoff with jitter, bounded
 * count and time) when it failed transiently - 5xx, 408, 429, a connection
 * or transfer error - and no byte reached the sink; everything else is
 * final. A sink error aborts the transfer and is returned as is.
 *
 * Without an endpoint, a bucket whose name is not a plain DNS label (dots,
 * capitals, '_') is addressed path-style (https://s3.REGION.amazonaws.com/
 * bucket/key) as the AWS SDKs do: the wildcard certificate does not cover it.
 *
 * Without an access key or a secret, requests go out unsigned (anonymous
 * access to public buckets); x-amz-date and x-amz-content-sha256 are sent
 * all the same.
 *
 * Messages name the request as "s3 GET bucket/key" with bytes outside
 * printable ASCII shown as %XX, and the key shortened when long, so that
 * errbuf stays ASCII and the status fits in ERRBUF_SIZE.
 *
 * Thread-safety: a struct s3_client is used by one thread at a time;
 * s3_sigv4_authorization() is reentrant.
 */
#include "clients/s3_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"

#define S3_DEFAULT_REGION "us-east-1"
#define S3_DEFAULT_ATTEMPTS 5
#define S3_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define S3_DEFAULT_LOW_SPEED_TIMEOUT_S 30L
#define S3_BACKOFF_FIRST_MS 200L
#define S3_BACKOFF_MAX_MS 5000L
#define S3_RETRY_BUDGET_MS 60000L /* no try starts later than this after the first */
#define S3_ERROR_BODY_MAX 8192
#define S3_ERROR_CODE_MAX 64
#define S3_KEY_MAX 1024
#define S3_BUCKET_MAX 63
#define S3_WHAT_KEY_MAX 120 /* characters of the key shown in messages */
#define S3_WHAT_MAX 256
#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define S3_SHA256_LEN 32
#define S3_SHA256_HEX_LEN 64
#define S3_AMZ_DATE_LEN 16 /* 20150830T123600Z */

struct s3_client {
    CURL *curl;
    char *region;
    char *access_key_id;     /* NULL: anonymous */
    char *secret_access_key; /* NULL: anonymous */
    char *session_token;     /* NULL: none */
    char *endpoint_url;      /* NULL: AWS virtual-hosted style */
    int max_attempts;
    long connect_timeout_ms;
    long low_speed_timeout_s;
    uint32_t jitter_state; /* xorshift32, never 0 */
};

/* One GET or PUT, the same for every try. */
struct s3_req {
    const char *method; /* "GET" or "PUT" */
    char what[S3_WHAT_MAX];
    struct buf url;
    struct buf host;         /* Host header value */
    struct buf path;         /* URL path == canonical URI */
    struct buf content_type; /* normalized; empty: none */
    int loopback;
    char payload_hash[S3_SHA256_HEX_LEN + 1];
    const unsigned char *body; /* PUT */
    size_t body_len;
    byte_sink_fn sink; /* GET */
    void *sink_ctx;
};

/* The state of one try. */
struct s3_try {
    struct s3_client *c;
    struct s3_req *r;
    char *errbuf;
    size_t errlen;
    size_t delivered; /* bytes handed to the sink */
    enum err sink_rc;
    struct buf error_body;
    size_t body_off; /* PUT upload position */
};

/* ---- small helpers ----------------------------------------------------- */

static const char *
env_nonempty(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

static char *
dup_nonempty(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

static int
is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* Append s percent-encoded the SigV4 way; '/' is kept when keep_slash. */
static void
uri_encode(struct buf *b, const char *s, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[3];

        if (is_unreserved(ch) || (keep_slash && ch == '/')) {
            buf_append_char(b, (char)ch);
            continue;
        }
        esc[0] = '%';
        esc[1] = digits[ch >> 4];
        esc[2] = digits[ch & 0x0F];
        buf_append(b, esc, 3);
    }
}

static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0F];
    }
    out[2 * n] = '\0';
}

/* Lower-case hex SHA-256 of data into out (65 bytes); -1 on a libcrypto failure. */
static int
sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != S3_SHA256_LEN)
        return -1;
    hex_encode(md, mdlen, out);
    return 0;
}

/* out = HMAC-SHA256(key, msg); -1 on a libcrypto failure. */
static int
hmac_sha256(const void *key, size_t keylen, const char *msg, unsigned char *out)
{
    unsigned int outlen = 0;

    if (keylen > INT_MAX)
        return -1;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out,
              &outlen) ||
        outlen != S3_SHA256_LEN)
        return -1;
    return 0;
}

/* 1 when s has no control characters (it goes into a header line). */
static int
header_safe(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch < 0x20 || ch == 0x7F)
            return 0;
    }
    return 1;
}

static int
is_loopback_host(const char *host)
{
    return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

/* ---- configuration and lifecycle -------------------------------------- */

void
s3_client_config_from_env(struct s3_client_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->region = env_nonempty("AWS_REGION");
    if (!cfg->region)
        cfg->region = env_nonempty("AWS_DEFAULT_REGION");
    if (!cfg->region)
        cfg->region = S3_DEFAULT_REGION;
    cfg->access_key_id = env_nonempty("AWS_ACCESS_KEY_ID");
    cfg->secret_access_key = env_nonempty("AWS_SECRET_ACCESS_KEY");
    cfg->session_token = env_nonempty("AWS_SESSION_TOKEN");
    cfg->endpoint_url = env_nonempty("AWS_ENDPOINT_URL");
    cfg->max_attempts = S3_DEFAULT_ATTEMPTS;
    cfg->connect_timeout_ms = S3_DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->low_speed_timeout_s = S3_DEFAULT_LOW_SPEED_TIMEOUT_S;
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
    c->region = xstrdup(cfg->region && *cfg->region ? cfg->region : S3_DEFAULT_REGION);
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

/* ---- SigV4 -------------------------------------------------------------- */

/* The signing key HMAC chain of SigV4 into key (32 bytes); -1 on a libcrypto failure. */
static int
sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
                  unsigned char *key)
{
    struct buf k;
    unsigned char a[S3_SHA256_LEN], b[S3_SHA256_LEN];
    int rc = -1;

    buf_init(&k, 0);
    buf_printf(&k, "AWS4%s", secret);
    if (hmac_sha256(k.data, k.len, date, a) || hmac_sha256(a, sizeof(a), region, b) ||
        hmac_sha256(b, sizeof(b), service, a) || hmac_sha256(a, sizeof(a), "aws4_request", key))
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(k.data, k.len);
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    buf_release(&k);
    return rc;
}

char *
s3_sigv4_authorization(const char *method, const char *canonical_uri, const char *canonical_query,
                       const char *canonical_headers, const char *signed_headers,
                       const char *payload_sha256_hex, const char *amz_date, const char *region,
                       const char *service, const char *access_key_id,
                       const char *secret_access_key)
{
    struct buf creq, sts;
    unsigned char key[S3_SHA256_LEN], sig[S3_SHA256_LEN];
    char creq_hash[S3_SHA256_HEX_LEN + 1], sig_hex[S3_SHA256_HEX_LEN + 1], date[9];
    size_t hlen;
    char *result = NULL;

    buf_init(&creq, 0);
    buf_init(&sts, 0);
    if (!method || !canonical_uri || !canonical_query || !canonical_headers || !signed_headers ||
        !payload_sha256_hex || !amz_date || strlen(amz_date) != S3_AMZ_DATE_LEN || !region ||
        !service || !access_key_id || !secret_access_key)
        goto out;
    /* each canonical header line ends with '\n', then the blank line before the list */
    hlen = strlen(canonical_headers);
    buf_printf(&creq, "%s\n%s\n%s\n%s%s\n%s\n%s", method, canonical_uri, canonical_query,
               canonical_headers, hlen > 0 && canonical_headers[hlen - 1] == '\n' ? "" : "\n",
               signed_headers, payload_sha256_hex);
    if (sha256_hex(creq.data, creq.len, creq_hash))
        goto out;
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date, region,
               service, creq_hash);
    if (sigv4_signing_key(secret_access_key, date, region, service, key) ||
        hmac_sha256(key, sizeof(key), sts.data, sig))
        goto out;
    hex_encode(sig, sizeof(sig), sig_hex);
    buf_reset(&creq);
    buf_printf(&creq,
               "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
               "Signature=%s",
               access_key_id, date, region, service, signed_headers, sig_hex);
    result = buf_take(&creq, NULL);
out:
    OPENSSL_cleanse(key, sizeof(key));
    buf_release(&creq);
    buf_release(&sts);
    return result;
}

/* ---- building a request ------------------------------------------------ */

/* "GET bucket/key" for messages: printable ASCII kept, other bytes %XX, long keys cut. */
static void
req_set_what(struct s3_req *r, const char *bucket, const char *key)
{
    struct buf b;
    size_t i, start;

    buf_init(&b, 0);
    buf_printf(&b, "%s %.*s/", r->method, S3_BUCKET_MAX + 1, bucket);
    start = b.len;
    for (i = 0; key[i] && b.len - start < S3_WHAT_KEY_MAX; i++) {
        unsigned char ch = (unsigned char)key[i];

        if (ch >= 0x20 && ch < 0x7F && ch != '%')
            buf_append_char(&b, (char)ch);
        else
            buf_printf(&b, "%%%02X", ch);
    }
    if (key[i])
        buf_append_str(&b, "...");
    snprintf(r->what, sizeof(r->what), "%s", b.data);
    buf_release(&b);
}

static int
bucket_valid(const char *bucket)
{
    size_t n = strlen(bucket);
    size_t i;

    if (n == 0 || n > S3_BUCKET_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)bucket[i];

        if (!is_unreserved(ch) || ch == '~')
            return 0;
    }
    return 1;
}

/* Usable as a host name label under a wildcard certificate (virtual-hosted style). */
static int
bucket_dns_compatible(const char *bucket)
{
    const char *p;

    if (strlen(bucket) < 3 || bucket[0] == '-' || bucket[strlen(bucket) - 1] == '-')
        return 0;
    for (p = bucket; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return 1;
}

static int
default_port(const char *scheme, const char *port)
{
    return (strcasecmp(scheme, "http") == 0 && strcmp(port, "80") == 0) ||
           (strcasecmp(scheme, "https") == 0 && strcmp(port, "443") == 0);
}

/* URL, Host and path for a configured endpoint: path-style. */
static enum err
req_target_endpoint(struct s3_client *c, struct s3_req *r, const char *bucket, const char *key,
                    char *errbuf, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    size_t plen = 0;
    enum err rc = ERR_OK;

    if (!u || curl_url_set(u, CURLUPART_URL, c->endpoint_url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 %s: bad endpoint url (AWS_ENDPOINT_URL)",
                     r->what);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL;
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        path = NULL;
    buf_append_str(&r->host, host);
    if (port && !default_port(scheme, port))
        buf_printf(&r->host, ":%s", port);
    if (path) {
        plen = strlen(path);
        while (plen > 0 && path[plen - 1] == '/')
            plen--;
        buf_append(&r->path, path, plen);
    }
    buf_append_char(&r->path, '/');
    uri_encode(&r->path, bucket, 0);
    buf_append_char(&r->path, '/');
    uri_encode(&r->path, key, 1);
    buf_printf(&r->url, "%s://%s%s", scheme, r->host.data, r->path.data);
    r->loopback = is_loopback_host(host);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

/* Copy a Content-Type trimmed, with runs of spaces folded (its canonical form). */
static void
req_set_content_type(struct s3_req *r, const char *ct)
{
    int space = 0;

    for (; *ct == ' ' || *ct == '\t'; ct++)
        ;
    for (; *ct; ct++) {
        if (*ct == ' ' || *ct == '\t') {
            space = 1;
            continue;
        }
        if (space && r->content_type.len > 0)
            buf_append_char(&r->content_type, ' ');
        space = 0;
        buf_append_char(&r->content_type, *ct);
    }
}

static void
req_init(struct s3_req *r, const char *method)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    buf_init(&r->url, 0);
    buf_init(&r->host, 0);
    buf_init(&r->path, 0);
    buf_init(&r->content_type, 0);
}

static void
req_release(struct s3_req *r)
{
    buf_release(&r->url);
    buf_release(&r->host);
    buf_release(&r->path);
    buf_release(&r->content_type);
}

/* Check the arguments and the client's strings, then fill URL, Host and path. */
static enum err
req_prepare(struct s3_client *c, struct s3_req *r, const char *bucket, const char *key,
            char *errbuf, size_t errlen)
{
    if (!bucket || !key)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: no bucket or key", r->method);
    req_set_what(r, bucket, key);
    if (!bucket_valid(bucket))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: invalid bucket name", r->what);
    if (*key == '\0' || strlen(key) > S3_KEY_MAX)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: key must have 1 to %d bytes", r->what,
                       S3_KEY_MAX);
    if (!header_safe(c->region) || (c->access_key_id && !header_safe(c->access_key_id)) ||
        (c->session_token && !header_safe(c->session_token)))
        return err_set(ERR_INTERNAL, errbuf, errlen,
                       "s3 %s: control characters in AWS_REGION, AWS_ACCESS_KEY_ID or "
                       "AWS_SESSION_TOKEN",
                       r->what);
    if (c->endpoint_url)
        return req_target_endpoint(c, r, bucket, key, errbuf, errlen);
    if (bucket_dns_compatible(bucket)) {
        buf_printf(&r->host, "%s.s3.%s.amazonaws.com", bucket, c->region);
    } else {
        /* dots, capitals, '_': the wildcard certificate does not cover it; path-style */
        buf_printf(&r->host, "s3.%s.amazonaws.com", c->region);
        buf_printf(&r->path, "/%s", bucket);
    }
    buf_append_char(&r->path, '/');
    uri_encode(&r->path, key, 1);
    buf_printf(&r->url, "https://%s%s", r->host.data, r->path.data);
    return ERR_OK;
}

static struct curl_slist *
slist_add(struct curl_slist *list, struct buf *line)
{
    struct curl_slist *n = curl_slist_append(list, line->data);

    if (!n)
        abort(); /* allocation failure */
    buf_reset(line);
    return n;
}

/*
 * The Authorization value of r at amz_date (*auth = NULL when the client is
 * anonymous). Canonical headers in name order: content-type, host, x-amz-*.
 */
static enum err
req_sign(struct s3_client *c, const struct s3_req *r, const char *amz_date, char **auth,
         char *errbuf, size_t errlen)
{
    struct buf canon, names;
    enum err rc = ERR_OK;

    *auth = NULL;
    if (!c->access_key_id || !c->secret_access_key)
        return ERR_OK;
    buf_init(&canon, 0);
    buf_init(&names, 0);
    if (r->content_type.len > 0) {
        buf_printf(&canon, "content-type:%s\n", r->content_type.data);
        buf_append_str(&names, "content-type;");
    }
    buf_printf(&canon, "host:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n", r->host.data,
               r->payload_hash, amz_date);
    buf_append_str(&names, "host;x-amz-content-sha256;x-amz-date");
    if (c->session_token) {
        buf_printf(&canon, "x-amz-security-token:%s\n", c->session_token);
        buf_append_str(&names, ";x-amz-security-token");
    }
    *auth =
        s3_sigv4_authorization(r->method, r->path.data, "", canon.data, names.data, r->payload_hash,
                               amz_date, c->region, "s3", c->access_key_id, c->secret_access_key);
    if (!*auth)
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 %s: cannot sign the request", r->what);
    buf_release(&canon);
    buf_release(&names);
    return rc;
}

/* The header list of one try, signed with the current time. */
static enum err
req_headers(struct s3_client *c, const struct s3_req *r, struct curl_slist **out, char *errbuf,
            size_t errlen)
{
    struct buf line;
    struct curl_slist *h = NULL;
    char amz_date[S3_AMZ_DATE_LEN + 1];
    char *auth = NULL;
    time_t now = time(NULL);
    struct tm tm;
    enum err rc;

    buf_init(&line, 0);
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    rc = req_sign(c, r, amz_date, &auth, errbuf, errlen);
    if (rc)
        goto out;
    buf_printf(&line, "Host: %s", r->host.data);
    h = slist_add(h, &line);
    buf_printf(&line, "x-amz-content-sha256: %s", r->payload_hash);
    h = slist_add(h, &line);
    buf_printf(&line, "x-amz-date: %s", amz_date);
    h = slist_add(h, &line);
    if (auth && c->session_token) {
        buf_printf(&line, "x-amz-security-token: %s", c->session_token);
        h = slist_add(h, &line);
    }
    if (auth) {
        buf_printf(&line, "Authorization: %s", auth);
        h = slist_add(h, &line);
    }
    if (r->content_type.len > 0) {
        buf_printf(&line, "Content-Type: %s", r->content_type.data);
        h = slist_add(h, &line);
    }
    if (r->body) {
        buf_append_str(&line, "Expect:"); /* no 100-continue round trip */
        h = slist_add(h, &line);
    }
    *out = h;
out:
    free(auth);
    buf_release(&line);
    return rc;
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
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
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
        return err_set(ERR_UNAVAILABLE, t->errbuf, t->errlen, "s3 %s: %s (%s)", t->r->what, why,
                       t->r->host.data);
    }
    if (status >= 200 && status <= 299)
        return ERR_OK;
    error_code(&t->error_body, code, sizeof(code));
    if (status >= 500 || status == 408 || status == 429) {
        *retry = 1;
        return err_set(ERR_UNAVAILABLE, t->errbuf, t->errlen, "s3 %s: %ld%s%s", t->r->what, status,
                       code[0] ? " " : "", code);
    }
    return err_set(status == 404 ? ERR_NOT_FOUND : ERR_BAD_INPUT, t->errbuf, t->errlen,
                   "s3 %s: %ld%s%s", t->r->what, status, code[0] ? " " : "", code);
}

static enum err
try_once(struct s3_client *c, struct s3_req *r, long *status, int *retry, char *errbuf,
         size_t errlen)
{
    struct s3_try t;
    struct curl_slist *headers = NULL;
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
    rc = req_headers(c, r, &headers, errbuf, errlen);
    if (rc)
        goto out;
    try_setup(&t, headers);
    if (errbuf && errlen > 0)
        errbuf[0] = '\0'; /* tells a sink's message from ours */
    res = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
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

/* Run r with retries; the last try's status goes to *http_status. */
static enum err
req_run(struct s3_client *c, struct s3_req *r, long *http_status, char *errbuf, size_t errlen)
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
    struct s3_req r;
    enum err rc;

    if (http_status)
        *http_status = 0;
    req_init(&r, "GET");
    if (!c || !sink) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 GET: no client or no sink");
        goto out;
    }
    rc = req_prepare(c, &r, bucket, key, errbuf, errlen);
    if (rc)
        goto out;
    memcpy(r.payload_hash, S3_UNSIGNED_PAYLOAD, sizeof(S3_UNSIGNED_PAYLOAD));
    r.sink = sink;
    r.sink_ctx = ctx;
    rc = req_run(c, &r, http_status, errbuf, errlen);
out:
    req_release(&r);
    return rc;
}

enum err
s3_client_put(struct s3_client *c, const char *bucket, const char *key, const void *body,
              size_t len, const char *content_type, char *errbuf, size_t errlen)
{
    struct s3_req r;
    enum err rc;

    req_init(&r, "PUT");
    if (!c || (!body && len > 0)) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 PUT: no client or no body");
        goto out;
    }
    rc = req_prepare(c, &r, bucket, key, errbuf, errlen);
    if (rc)
        goto out;
    if (content_type && !header_safe(content_type)) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: control characters in content type",
                     r.what);
        goto out;
    }
    if (content_type)
        req_set_content_type(&r, content_type);
    if (sha256_hex(body, len, r.payload_hash)) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 %s: sha-256 failed", r.what);
        goto out;
    }
    r.body = body ? body : (const void *)"";
    r.body_len = len;
    rc = req_run(c, &r, NULL, errbuf, errlen);
out:
    req_release(&r);
    return rc;
}
