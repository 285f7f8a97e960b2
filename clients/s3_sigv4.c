/*
 * s3_sigv4.c - AWS Signature Version 4 for the S3 client
 *
 * s3_sigv4_authorization() is the algorithm as AWS publishes it: the
 * canonical request (method, URI, query, headers, signed header names,
 * payload hash), its SHA-256 in the string to sign, the signing key from the
 * HMAC chain date -> region -> service -> "aws4_request", and the
 * Authorization value. A unit test holds it against AWS's examples.
 *
 * s3_sigv4_headers() makes the header list of one try, signed at the current
 * time: the canonical headers are exactly the ones that go on the wire -
 * content-md5 and content-type when there are, host, x-amz-content-sha256,
 * x-amz-copy-source for a copy, x-amz-date, and x-amz-security-token with a
 * session token, in name order - and the canonical query is the request's
 * (encoded and sorted by s3_request_set_query()). An
 * anonymous client (no access key or no secret) sends the same headers
 * without the token and without Authorization.
 *
 * Key material on the stack and in buffers is wiped (OPENSSL_cleanse) before
 * returning. Thread-safety: reentrant, nothing global.
 */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/s3_client.h"
#include "clients/s3_internal.h"
#include "core/buf.h"
#include "core/hex.h"

int
s3_sigv4_sha256_hex(const void *data, size_t len, char out[S3_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != S3_SHA256_LEN)
        return -1;
    hex_encode(out, md, mdlen);
    return 0;
}

int
s3_sigv4_md5_base64(const void *data, size_t len, char out[S3_MD5_B64_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen) == S3_MD5_B64_LEN ? 0 : -1;
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

/* The signing key HMAC chain of SigV4 into key (32 bytes); -1 on a libcrypto failure. */
static int
signing_key(const char *secret, const char *date, const char *region, const char *service,
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
    if (s3_sigv4_sha256_hex(creq.data, creq.len, creq_hash))
        goto out;
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date, region,
               service, creq_hash);
    if (signing_key(secret_access_key, date, region, service, key) ||
        hmac_sha256(key, sizeof(key), sts.data, sig))
        goto out;
    hex_encode(sig_hex, sig, sizeof(sig));
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

/*
 * The Authorization value of r at amz_date into *auth (the caller frees it);
 * *auth = NULL when the client is anonymous. Canonical headers in name order.
 */
static enum err
sign(const struct s3_client *c, const struct s3_request *r, const char *amz_date, char **auth,
     char *errbuf, size_t errlen)
{
    struct buf canon, names;
    enum err rc = ERR_OK;

    *auth = NULL;
    if (!c->access_key_id || !c->secret_access_key)
        return ERR_OK;
    buf_init(&canon, 0);
    buf_init(&names, 0);
    if (r->content_md5[0]) {
        buf_printf(&canon, "content-md5:%s\n", r->content_md5);
        buf_append_str(&names, "content-md5;");
    }
    if (r->content_type.len > 0) {
        buf_printf(&canon, "content-type:%s\n", r->content_type.data);
        buf_append_str(&names, "content-type;");
    }
    buf_printf(&canon, "host:%s\nx-amz-content-sha256:%s\n", r->host.data, r->payload_hash);
    buf_append_str(&names, "host;x-amz-content-sha256;");
    if (r->copy_source.len > 0) {
        buf_printf(&canon, "x-amz-copy-source:%s\n", r->copy_source.data);
        buf_append_str(&names, "x-amz-copy-source;");
    }
    buf_printf(&canon, "x-amz-date:%s\n", amz_date);
    buf_append_str(&names, "x-amz-date");
    if (c->session_token) {
        buf_printf(&canon, "x-amz-security-token:%s\n", c->session_token);
        buf_append_str(&names, ";x-amz-security-token");
    }
    *auth = s3_sigv4_authorization(r->method, r->path.data, r->query.len ? r->query.data : "",
                                   canon.data, names.data, r->payload_hash, amz_date, c->region,
                                   "s3", c->access_key_id, c->secret_access_key);
    if (!*auth)
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 %s: cannot sign the request", r->what);
    buf_release(&canon);
    buf_release(&names);
    return rc;
}

/* Append the line to list and empty it; allocation failure aborts. */
static struct curl_slist *
slist_add(struct curl_slist *list, struct buf *line)
{
    struct curl_slist *n = curl_slist_append(list, line->data);

    if (!n)
        abort();
    buf_reset(line);
    return n;
}

enum err
s3_sigv4_headers(const struct s3_client *c, const struct s3_request *r, struct curl_slist **out,
                 char *errbuf, size_t errlen)
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
    rc = sign(c, r, amz_date, &auth, errbuf, errlen);
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
    if (r->content_md5[0]) {
        buf_printf(&line, "Content-MD5: %s", r->content_md5);
        h = slist_add(h, &line);
    }
    if (r->copy_source.len > 0) {
        buf_printf(&line, "x-amz-copy-source: %s", r->copy_source.data);
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
