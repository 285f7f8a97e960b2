/*
 * http_client.c - one outbound HTTP request on libcurl (see http_client.h)
 *
 * The easy handle is reset before each request (curl_easy_reset keeps the
 * connection and DNS caches), so nothing of one request leaks into the next.
 * Messages name the target through http_client_redact_url() only: the URL
 * as given may carry a password in its userinfo or a token in its query.
 *
 * Thread-safety: a struct http_client is used by one thread at a time.
 */
#include "clients/http_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

struct http_client {
    CURL *curl;
};

/* What one exchange collects. */
struct http_exchange {
    const struct http_request *req;
    struct http_response *res;
    size_t max_body;
    size_t upload_off;
};

struct http_client *
http_client_new(void)
{
    struct http_client *c = xcalloc(1, sizeof(*c));

    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return NULL;
    }
    return c;
}

void
http_client_free(struct http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

void
http_response_init(struct http_response *res)
{
    memset(res, 0, sizeof(*res));
    buf_init(&res->body, 0);
}

void
http_response_release(struct http_response *res)
{
    if (!res)
        return;
    buf_release(&res->body);
    res->status = 0;
    res->body_truncated = 0;
}

void
http_client_redact_url(const char *url, char *out, size_t outlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;

    if (outlen == 0)
        return;
    if (!u || !url || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(out, outlen, "(invalid url)");
        goto out;
    }
    (void)curl_url_get(u, CURLUPART_PORT, &port, 0);
    (void)curl_url_get(u, CURLUPART_PATH, &path, 0);
    snprintf(out, outlen, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
             path ? path : "/");
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_exchange *x = userdata;
    size_t n = size * nmemb;
    size_t room = x->max_body - x->res->body.len;

    if (n > room) {
        x->res->body_truncated = 1;
        buf_append(&x->res->body, data, room);
    } else {
        buf_append(&x->res->body, data, n);
    }
    return n;
}

static size_t
on_upload(char *dst, size_t size, size_t nitems, void *userdata)
{
    struct http_exchange *x = userdata;
    size_t n = size * nitems;
    size_t left = x->req->body_len - x->upload_off;

    if (n > left)
        n = left;
    if (n)
        memcpy(dst, (const char *)x->req->body + x->upload_off, n);
    x->upload_off += n;
    return n;
}

static int
on_seek(void *userdata, curl_off_t offset, int origin)
{
    struct http_exchange *x = userdata;

    if (origin != SEEK_SET || offset < 0 || (size_t)offset > x->req->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->upload_off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* Method, body and callbacks of the exchange on a reset handle. */
static CURLcode
set_method(CURL *curl, struct http_exchange *x)
{
    const struct http_request *req = x->req;
    CURLcode cc = CURLE_OK;

    if (strcmp(req->method, "HEAD") == 0)
        return curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (strcmp(req->method, "GET") == 0)
        return CURLE_OK;
    if (strcmp(req->method, "PUT") == 0) {
        cc = curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        if (!cc)
            cc = curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
    } else {
        cc = curl_easy_setopt(curl, CURLOPT_POST, 1L);
        if (!cc)
            cc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (!cc && strcmp(req->method, "POST") != 0)
            cc = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    }
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_upload);
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_READDATA, x);
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_SEEKDATA, x);
    return cc;
}

static CURLcode
set_options(CURL *curl, struct http_exchange *x, struct curl_slist *headers)
{
    const struct http_request *req = x->req;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : HTTP_CLIENT_DEFAULT_TIMEOUT_MS;
    long connect = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                               : HTTP_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
    CURLcode cc;

    cc = curl_easy_setopt(curl, CURLOPT_URL, req->url);
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect);
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    if (!cc)
        cc = curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
    if (!cc)
        cc = set_method(curl, x);
    return cc;
}

enum err
http_client_send(struct http_client *c, const struct http_request *req, struct http_response *res,
                 char *errbuf, size_t errlen)
{
    struct http_exchange x = {req, res, 0, 0};
    struct curl_slist *headers = NULL, *next;
    char target[512];
    size_t i;
    CURLcode cc;
    enum err rc = ERR_OK;

    http_client_redact_url(req->url, target, sizeof(target));
    http_response_release(res);
    x.max_body =
        req->max_response_bytes ? req->max_response_bytes : HTTP_CLIENT_DEFAULT_MAX_RESPONSE;
    if (!req->url ||
        (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)) {
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "http %s %s: not an http(s) url", req->method,
                       target);
    }
    /* "Expect: 100-continue" costs a round trip per PUT/POST and some servers mishandle it */
    headers = curl_slist_append(NULL, "Expect:");
    for (i = 0; headers && req->headers && req->headers[i]; i++) {
        next = curl_slist_append(headers, req->headers[i]);
        if (!next) {
            rc = err_set(ERR_INTERNAL, errbuf, errlen, "http %s %s: out of memory", req->method,
                         target);
            goto out;
        }
        headers = next;
    }
    curl_easy_reset(c->curl);
    cc = set_options(c->curl, &x, headers);
    if (cc) {
        rc = err_set(cc == CURLE_URL_MALFORMAT ? ERR_BAD_INPUT : ERR_INTERNAL, errbuf, errlen,
                     "http %s %s: %s", req->method, target, curl_easy_strerror(cc));
        goto out;
    }
    cc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "http %s %s: timeout after %ld ms",
                     req->method, target,
                     req->timeout_ms > 0 ? req->timeout_ms : HTTP_CLIENT_DEFAULT_TIMEOUT_MS);
    } else if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "http %s %s: %s", req->method, target,
                     curl_easy_strerror(cc));
    } else if (cc) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "http %s %s: %s", req->method, target,
                     curl_easy_strerror(cc));
    }
out:
    curl_slist_free_all(headers);
    return rc;
}
