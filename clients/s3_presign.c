/*
 * s3_presign.c - presigned GET URLs (SigV4 query-string authentication)
 *
 * The URL is the request s3_request.c would send (same host, path and key
 * encoding), with the authentication in its query: X-Amz-Algorithm,
 * X-Amz-Credential (key/date/region/s3/aws4_request), X-Amz-Date,
 * X-Amz-Expires, X-Amz-SignedHeaders=host, X-Amz-Security-Token with a
 * session token, and the response-* overrides asked for, encoded and sorted
 * once (s3_request_set_query()); the canonical request signs exactly that
 * query, the host header and UNSIGNED-PAYLOAD, and X-Amz-Signature is
 * appended last, as AWS's "Authenticating Requests: Using Query Parameters"
 * describes (a unit test reproduces its example). Nothing is sent: the URL
 * is computed, so presigning costs no round trip.
 *
 * Thread-safety: reads the client's settings only; reentrant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/s3_client.h"
#include "clients/s3_internal.h"
#include "core/buf.h"

#define PRESIGN_EXPIRES_MAX 604800L /* SigV4's limit: seven days */
#define PRESIGN_PARAMS_MAX 16

enum err
s3_presign_request(const struct s3_client *c, struct s3_request *r, const struct s3_presign *p,
                   char **url, char *errbuf, size_t errlen)
{
    const char *params[PRESIGN_PARAMS_MAX];
    char amz_date[S3_AMZ_DATE_LEN + 1], expires[24];
    struct buf credential, host;
    struct tm tm;
    char *auth = NULL;
    const char *sig;
    size_t n = 0;
    enum err rc;

    *url = NULL;
    if (!c->access_key_id || !c->secret_access_key)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen,
                       "s3 presign: needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    if (p->expires_s < 1 || p->expires_s > PRESIGN_EXPIRES_MAX)
        return err_set(ERR_INTERNAL, errbuf, errlen, "s3 presign: expiry must be 1 to %ld s",
                       PRESIGN_EXPIRES_MAX);
    gmtime_r(&p->now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(expires, sizeof(expires), "%ld", p->expires_s);
    buf_init(&credential, 0);
    buf_init(&host, 0);
    buf_printf(&credential, "%s/%.8s/%s/s3/aws4_request", c->access_key_id, amz_date, c->region);
    params[n++] = "X-Amz-Algorithm";
    params[n++] = "AWS4-HMAC-SHA256";
    params[n++] = "X-Amz-Credential";
    params[n++] = credential.data;
    params[n++] = "X-Amz-Date";
    params[n++] = amz_date;
    params[n++] = "X-Amz-Expires";
    params[n++] = expires;
    params[n++] = "X-Amz-SignedHeaders";
    params[n++] = "host";
    if (c->session_token) {
        params[n++] = "X-Amz-Security-Token";
        params[n++] = c->session_token;
    }
    if (p->content_disposition) {
        params[n++] = "response-content-disposition";
        params[n++] = p->content_disposition;
    }
    params[n] = NULL;
    rc = s3_request_set_query(r, params, errbuf, errlen);
    if (rc)
        goto out;
    buf_printf(&host, "host:%s\n", r->host.data);
    auth = s3_sigv4_authorization("GET", r->path.data, r->query.data, host.data, "host",
                                  "UNSIGNED-PAYLOAD", amz_date, c->region, "s3", c->access_key_id,
                                  c->secret_access_key);
    sig = auth ? strstr(auth, "Signature=") : NULL;
    if (!sig) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 presign %s: cannot sign", r->what);
        goto out;
    }
    buf_printf(&r->url, "&X-Amz-Signature=%s", sig + 10);
    *url = xstrdup(r->url.data);
out:
    free(auth);
    buf_release(&credential);
    buf_release(&host);
    return rc;
}

enum err
s3_client_presign(const struct s3_client *c, const struct s3_presign *p, char **url, char *errbuf,
                  size_t errlen)
{
    struct s3_request r;
    enum err rc;

    *url = NULL;
    s3_request_init(&r, "GET");
    if (!c || !p) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 presign: no client");
        goto out;
    }
    rc = s3_request_prepare(c, &r, p->bucket, p->key, errbuf, errlen);
    if (!rc)
        rc = s3_presign_request(c, &r, p, url, errbuf, errlen);
out:
    s3_request_release(&r);
    return rc;
}
