/*
 * webhook.h - one webhook attempt: a CloudEvent, signed twice, POSTed once
 *
 * The body is a CloudEvents 1.0 event in structured JSON mode
 * (`application/cloudevents+json`): specversion, id, source, type, subject
 * (when there is one), time, datacontenttype and data, in that order,
 * compact. The same change always gives the same bytes, so every attempt
 * signs the same body.
 *
 * Two signatures go with it:
 *   X-Ingestd-Signature: sha256=<hex HMAC-SHA256(secret, body)>, the key
 *     being INGESTD_WEBHOOK_SECRET's bytes exactly as configured
 *     (OPERATIONS.md "Webhooks");
 *   the Standard Webhooks headers webhook-id (the CloudEvents id, the same on
 *     every attempt), webhook-timestamp (Unix seconds of this attempt) and
 *     webhook-signature: v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>,
 *     where key is the secret's bytes, or, for a secret "whsec_<base64>"
 *     (the form Standard Webhooks libraries generate), the bytes the base64
 *     after the prefix decodes to.
 *
 * The secret never appears in a message; URLs appear redacted
 * (http_client_redact_url()).
 */
#ifndef INGESTD_WEBHOOK_H
#define INGESTD_WEBHOOK_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

struct http_client;

/* X-Ingestd-Signature value: "sha256=" + 64 hex digits. */
#define WEBHOOK_SIG_HEX_LEN (7 + 64)
/* webhook-signature value: "v1," + base64 of 32 bytes (44 characters). */
#define WEBHOOK_SIG_STD_LEN (3 + 44)

/* The signing keys of one secret. */
struct webhook_signer {
    struct buf secret;  /* INGESTD_WEBHOOK_SECRET's bytes (X-Ingestd-Signature) */
    struct buf std_key; /* the Standard Webhooks key */
};

/*
 * Derive the keys of secret (copied). ERR_BAD_INPUT when the secret is
 * empty, or starts with "whsec_" and the rest is not base64 of at least one
 * byte; the message does not show the secret.
 */
enum err webhook_signer_init(struct webhook_signer *s, const char *secret, char *errbuf,
                             size_t errlen);
void webhook_signer_release(struct webhook_signer *s); /* wipes the keys; NULL-safe */

/* out (WEBHOOK_SIG_HEX_LEN + 1 bytes) = "sha256=<hex HMAC-SHA256(secret, body)>". */
void webhook_sign_ingestd(const struct webhook_signer *s, const void *body, size_t len,
                          char out[WEBHOOK_SIG_HEX_LEN + 1]);
/* out (WEBHOOK_SIG_STD_LEN + 1 bytes) = "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>". */
void webhook_sign_standard(const struct webhook_signer *s, const char *id, long long timestamp,
                           const void *body, size_t len, char out[WEBHOOK_SIG_STD_LEN + 1]);

/* A change as the event announces it (strings borrowed). */
struct webhook_event {
    const char *id;      /* CloudEvents id = webhook-id */
    const char *source;  /* URI-reference, e.g. /api/v1/merges */
    const char *type;    /* io.ingestd.merge.completed, ... */
    const char *subject; /* the object's id; NULL: none */
    const char *time;    /* RFC 3339 */
    const char *data;    /* the object as JSON text */
};

/*
 * The CloudEvents structured JSON of ev into out (appended). ERR_INTERNAL
 * when ev->data is not JSON.
 */
enum err webhook_event_body(const struct webhook_event *ev, struct buf *out, char *errbuf,
                            size_t errlen);

/*
 * POST ev to url once, signed with s at timestamp (Unix seconds), waiting at
 * most timeout_ms. *status gets the answer's status (0: none). Errors as
 * http_client_send(): ERR_UNAVAILABLE when no answer came (refused, timeout),
 * ERR_BAD_INPUT for a URL that is not http(s); the status of an answer is
 * never an error - the caller judges it.
 */
enum err webhook_send(struct http_client *c, const struct webhook_signer *s, const char *url,
                      const struct webhook_event *ev, long long timestamp, long timeout_ms,
                      long *status, char *errbuf, size_t errlen);

#endif
