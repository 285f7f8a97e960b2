/*
 * webhook.c - one webhook attempt (see webhook.h)
 *
 * HMAC-SHA256 with OpenSSL's one-shot HMAC(); base64 with EVP_EncodeBlock /
 * EVP_DecodeBlock (standard alphabet, padded, as Standard Webhooks uses).
 * The CloudEvent is built with jansson in a fixed member order and dumped
 * compact, so one change always gives the same body.
 *
 * Thread-safety: a struct webhook_signer is read-only after init and may be
 * shared by threads; the http_client is the caller's (one per thread).
 */
#include "clients/webhook.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/http_client.h"
#include "core/hex.h"

#define STD_PREFIX "whsec_"

/* 1 when s is padded standard base64 (length a multiple of 4, '=' only at the end). */
static int
base64_ok(const char *s, size_t n)
{
    size_t i;
    size_t pad = 0;

    if (n == 0 || n % 4)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/'))
            return 0;
    }
    return pad <= 2;
}

enum err
webhook_signer_init(struct webhook_signer *s, const char *secret, char *errbuf, size_t errlen)
{
    size_t n = secret ? strlen(secret) : 0;
    const char *b64;
    size_t b64len;
    int out;

    buf_init(&s->secret, 0);
    buf_init(&s->std_key, 0);
    if (n == 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "the webhook secret is empty");
    buf_append(&s->secret, secret, n);
    if (strncmp(secret, STD_PREFIX, strlen(STD_PREFIX)) != 0) {
        buf_append(&s->std_key, secret, n);
        return ERR_OK;
    }
    b64 = secret + strlen(STD_PREFIX);
    b64len = n - strlen(STD_PREFIX);
    if (!base64_ok(b64, b64len)) {
        webhook_signer_release(s);
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "a webhook secret starting with whsec_ must continue in base64");
    }
    buf_reserve(&s->std_key, b64len);
    out =
        EVP_DecodeBlock((unsigned char *)s->std_key.data, (const unsigned char *)b64, (int)b64len);
    if (out <= 0) {
        webhook_signer_release(s);
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "a webhook secret starting with whsec_ must continue in base64");
    }
    /* EVP_DecodeBlock counts the padding's zero bytes */
    s->std_key.len = (size_t)out - (b64[b64len - 1] == '=') - (b64[b64len - 2] == '=');
    if (s->std_key.len == 0) {
        webhook_signer_release(s);
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "the webhook secret's key is empty");
    }
    return ERR_OK;
}

void
webhook_signer_release(struct webhook_signer *s)
{
    if (!s)
        return;
    if (s->secret.data)
        OPENSSL_cleanse(s->secret.data, s->secret.len);
    if (s->std_key.data)
        OPENSSL_cleanse(s->std_key.data, s->std_key.alloc);
    buf_release(&s->secret);
    buf_release(&s->std_key);
}

void
webhook_sign_ingestd(const struct webhook_signer *s, const void *body, size_t len,
                     char out[WEBHOOK_SIG_HEX_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    HMAC(EVP_sha256(), s->secret.data, (int)s->secret.len, body, len, mac, &maclen);
    memcpy(out, "sha256=", 7);
    hex_encode(out + 7, mac, maclen);
    out[WEBHOOK_SIG_HEX_LEN] = '\0';
}

void
webhook_sign_standard(const struct webhook_signer *s, const char *id, long long timestamp,
                      const void *body, size_t len, char out[WEBHOOK_SIG_STD_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    struct buf msg; /* "id.timestamp.body" */

    buf_init(&msg, 0);
    buf_printf(&msg, "%s.%lld.", id, timestamp);
    buf_append(&msg, body, len);
    HMAC(EVP_sha256(), s->std_key.data, (int)s->std_key.len, (const unsigned char *)msg.data,
         msg.len, mac, &maclen);
    buf_release(&msg);
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, 32);
    out[WEBHOOK_SIG_STD_LEN] = '\0';
}

enum err
webhook_event_body(const struct webhook_event *ev, struct buf *out, char *errbuf, size_t errlen)
{
    json_t *data = json_loads(ev->data, JSON_DECODE_ANY, NULL);
    json_t *o;
    char *text;

    if (!data)
        return err_set(ERR_INTERNAL, errbuf, errlen, "webhook data of %s is not JSON", ev->id);
    o = json_object();
    json_object_set_new(o, "specversion", json_string("1.0"));
    json_object_set_new(o, "id", json_string(ev->id));
    json_object_set_new(o, "source", json_string(ev->source));
    json_object_set_new(o, "type", json_string(ev->type));
    if (ev->subject)
        json_object_set_new(o, "subject", json_string(ev->subject));
    json_object_set_new(o, "time", json_string(ev->time));
    json_object_set_new(o, "datacontenttype", json_string("application/json"));
    json_object_set_new(o, "data", data);
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        return err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
    buf_append_str(out, text);
    free(text);
    return ERR_OK;
}

enum err
webhook_send(struct http_client *c, const struct webhook_signer *s, const char *url,
             const struct webhook_event *ev, long long timestamp, long timeout_ms, long *status,
             char *errbuf, size_t errlen)
{
    struct http_request req;
    struct http_response res;
    struct buf body;
    char hex[WEBHOOK_SIG_HEX_LEN + 1];
    char std[WEBHOOK_SIG_STD_LEN + 1];
    char h_sig[32 + sizeof(hex)];
    char h_std[32 + sizeof(std)];
    char h_id[64];
    char h_ts[64];
    const char *headers[8];
    enum err rc;

    *status = 0;
    buf_init(&body, 0);
    http_response_init(&res);
    rc = webhook_event_body(ev, &body, errbuf, errlen);
    if (rc)
        goto out;
    webhook_sign_ingestd(s, body.data, body.len, hex);
    webhook_sign_standard(s, ev->id, timestamp, body.data, body.len, std);
    snprintf(h_sig, sizeof(h_sig), "X-Ingestd-Signature: %s", hex);
    snprintf(h_std, sizeof(h_std), "webhook-signature: %s", std);
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", ev->id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", timestamp);
    headers[0] = "Content-Type: application/cloudevents+json; charset=utf-8";
    headers[1] = "User-Agent: ingestd/" INGESTD_VERSION;
    headers[2] = h_sig;
    headers[3] = h_id;
    headers[4] = h_ts;
    headers[5] = h_std;
    headers[6] = NULL;
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.headers = headers;
    req.body = body.data;
    req.body_len = body.len;
    req.timeout_ms = timeout_ms;
    req.max_response_bytes = 1024; /* the answer's body is not used */
    rc = http_client_send(c, &req, &res, errbuf, errlen);
    *status = res.status;
out:
    http_response_release(&res);
    buf_release(&body);
    return rc;
}
