/*
 * s3_request.c - what one S3 request puts on the wire
 *
 * The canonical request is made of exactly what goes on the wire: the path
 * is encoded once (RFC 3986 unreserved characters and '/' kept, everything
 * else %XX; S3 does not double-encode) and used both as the URL path and as
 * the canonical URI (s3_client.c sets CURLOPT_PATH_AS_IS so that libcurl does
 * not fold "." and ".." segments), and the Host header is set explicitly to
 * the value that is signed.
 *
 * With an endpoint (AWS_ENDPOINT_URL) requests are path-style under the
 * endpoint's own path: http(s)://endpoint/prefix/bucket/key. Without one, a
 * bucket that is a plain DNS label goes virtual-hosted
 * (https://bucket.s3.REGION.amazonaws.com/key); any other (dots, capitals,
 * '_') path-style (https://s3.REGION.amazonaws.com/bucket/key) as the AWS
 * SDKs do: the wildcard certificate does not cover it.
 *
 * Messages name the request as "s3 GET bucket/key" with bytes outside
 * printable ASCII shown as %XX and the key shortened when long, so that
 * errbuf stays ASCII and the status still fits in ERRBUF_SIZE.
 *
 * Thread-safety: a struct s3_request belongs to one call on one thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clients/s3_internal.h"
#include "core/buf.h"

#define S3_KEY_MAX 1024
#define S3_BUCKET_MAX 63
#define S3_WHAT_KEY_MAX 120 /* characters of the key shown in messages */

/* ---- small predicates --------------------------------------------------- */

static int
is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
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

/* ---- the target: URL, Host, path ------------------------------------------ */

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

/* "GET bucket/key" for messages: printable ASCII kept, other bytes %XX, long keys cut. */
static void
set_what(struct s3_request *r, const char *bucket, const char *key)
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

/* URL, Host and path for a configured endpoint: path-style; key NULL: the bucket itself. */
static enum err
target_endpoint(const struct s3_client *c, struct s3_request *r, const char *bucket,
                const char *key, char *errbuf, size_t errlen)
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
    if (key) {
        buf_append_char(&r->path, '/');
        uri_encode(&r->path, key, 1);
    }
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

/*
 * URL, Host and path on AWS itself: virtual-hosted when the bucket allows it.
 * key NULL: the bucket itself ("/" virtual-hosted, "/bucket" path-style).
 */
static void
target_aws(const struct s3_client *c, struct s3_request *r, const char *bucket, const char *key)
{
    if (bucket_dns_compatible(bucket)) {
        buf_printf(&r->host, "%s.s3.%s.amazonaws.com", bucket, c->region);
        if (!key)
            buf_append_char(&r->path, '/');
    } else {
        /* dots, capitals, '_': the wildcard certificate does not cover it; path-style */
        buf_printf(&r->host, "s3.%s.amazonaws.com", c->region);
        buf_printf(&r->path, "/%s", bucket);
    }
    if (key) {
        buf_append_char(&r->path, '/');
        uri_encode(&r->path, key, 1);
    }
    buf_printf(&r->url, "https://%s%s", r->host.data, r->path.data);
}

/* ---- the request ----------------------------------------------------------- */

void
s3_request_init(struct s3_request *r, const char *method)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    buf_init(&r->url, 0);
    buf_init(&r->host, 0);
    buf_init(&r->path, 0);
    buf_init(&r->content_type, 0);
    buf_init(&r->query, 0);
    buf_init(&r->copy_source, 0);
}

void
s3_request_release(struct s3_request *r)
{
    buf_release(&r->url);
    buf_release(&r->host);
    buf_release(&r->path);
    buf_release(&r->content_type);
    buf_release(&r->query);
    buf_release(&r->copy_source);
}

/* The client's own strings go into header lines: no control characters. */
static enum err
check_client(const struct s3_client *c, const struct s3_request *r, char *errbuf, size_t errlen)
{
    if (!header_safe(c->region) || (c->access_key_id && !header_safe(c->access_key_id)) ||
        (c->session_token && !header_safe(c->session_token)))
        return err_set(ERR_INTERNAL, errbuf, errlen,
                       "s3 %s: control characters in AWS_REGION, AWS_ACCESS_KEY_ID or "
                       "AWS_SESSION_TOKEN",
                       r->what);
    return ERR_OK;
}

enum err
s3_request_prepare(const struct s3_client *c, struct s3_request *r, const char *bucket,
                   const char *key, char *errbuf, size_t errlen)
{
    enum err rc;

    if (!bucket || !key)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: no bucket or key", r->method);
    set_what(r, bucket, key);
    if (!bucket_valid(bucket))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: invalid bucket name", r->what);
    if (*key == '\0' || strlen(key) > S3_KEY_MAX)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: key must have 1 to %d bytes", r->what,
                       S3_KEY_MAX);
    rc = check_client(c, r, errbuf, errlen);
    if (rc)
        return rc;
    if (c->endpoint_url)
        return target_endpoint(c, r, bucket, key, errbuf, errlen);
    target_aws(c, r, bucket, key);
    return ERR_OK;
}

enum err
s3_request_prepare_bucket(const struct s3_client *c, struct s3_request *r, const char *bucket,
                          const char *operation, char *errbuf, size_t errlen)
{
    enum err rc;

    if (!bucket)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: no bucket", r->method);
    snprintf(r->what, sizeof(r->what), "%s %.*s (%s)", r->method, S3_BUCKET_MAX + 1, bucket,
             operation);
    if (!bucket_valid(bucket))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: invalid bucket name", r->what);
    rc = check_client(c, r, errbuf, errlen);
    if (rc)
        return rc;
    if (c->endpoint_url)
        return target_endpoint(c, r, bucket, NULL, errbuf, errlen);
    target_aws(c, r, bucket, NULL);
    return ERR_OK;
}

/* Order of two encoded "name=value" pairs of a canonical query: by name, then by value. */
static int
query_pair_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t xn = strcspn(x, "="), yn = strcspn(y, "="); /* an encoded name has no '=' */
    int c = memcmp(x, y, xn < yn ? xn : yn);

    if (c)
        return c;
    if (xn != yn)
        return xn < yn ? -1 : 1;
    return strcmp(x + xn, y + yn);
}

enum err
s3_request_set_query(struct s3_request *r, const char *const *params, char *errbuf, size_t errlen)
{
    char *pairs[S3_QUERY_MAX];
    struct buf one;
    size_t n = 0, i;

    buf_init(&one, 0);
    for (i = 0; params[i]; i += 2) {
        if (n == S3_QUERY_MAX) {
            while (n > 0)
                free(pairs[--n]);
            buf_release(&one);
            return err_set(ERR_INTERNAL, errbuf, errlen, "s3 %s: too many query parameters",
                           r->what);
        }
        uri_encode(&one, params[i], 0);
        buf_append_char(&one, '=');
        uri_encode(&one, params[i + 1] ? params[i + 1] : "", 0);
        pairs[n++] = buf_take(&one, NULL);
    }
    qsort(pairs, n, sizeof(pairs[0]), query_pair_cmp);
    buf_reset(&r->query);
    for (i = 0; i < n; i++) {
        buf_printf(&r->query, "%s%s", i ? "&" : "", pairs[i]);
        free(pairs[i]);
    }
    buf_release(&one);
    if (r->query.len > 0)
        buf_printf(&r->url, "?%s", r->query.data);
    return ERR_OK;
}

void
s3_request_set_copy_source(struct s3_request *r, const char *bucket, const char *key,
                           const char *version_id)
{
    buf_reset(&r->copy_source);
    buf_append_char(&r->copy_source, '/');
    uri_encode(&r->copy_source, bucket, 0);
    buf_append_char(&r->copy_source, '/');
    uri_encode(&r->copy_source, key, 1);
    if (version_id && *version_id) {
        buf_append_str(&r->copy_source, "?versionId=");
        uri_encode(&r->copy_source, version_id, 0);
    }
}

enum err
s3_request_set_content_type(struct s3_request *r, const char *ct, char *errbuf, size_t errlen)
{
    int space = 0;

    if (!header_safe(ct))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 %s: control characters in content type",
                       r->what);
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
    return ERR_OK;
}
