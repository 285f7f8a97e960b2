/*
 * sqs_client.c - a small Amazon SQS client (AWS JSON 1.0 protocol, SigV4) on libcurl
 *
 * A call is one POST of a JSON object to the origin of the queue URL, signed
 * with the S3 client's SigV4 (s3_sigv4_authorization(), service "sqs"). The
 * canonical headers are exactly the ones sent, in name order: content-type,
 * host, x-amz-date, x-amz-security-token (with a session token),
 * x-amz-target; the payload hash is the body's SHA-256. The answer is kept
 * up to SQS_ANSWER_MAX bytes; a 2xx answer goes to the caller, any other is
 * read as an SQS error ({"__type","message"}) for the message.
 *
 * Long polls are abandoned on request: libcurl's progress callback asks the
 * cancel function (set by the consumer: "is the thread stopping?").
 *
 * Thread-safety: as sqs_client.h.
 */
#include "clients/sqs_client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clients/s3_client.h"
#include "clients/s3_internal.h" /* s3_sigv4_sha256_hex, S3_AMZ_DATE_LEN */

#define SQS_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define SQS_CALL_TIMEOUT_S 30L /* every call but a long poll */
#define SQS_POLL_SLACK_S 15L   /* a long poll may take this much more than its wait */
#define SQS_JSON_TYPE "application/x-amz-json-1.0"
#define SQS_URL_PART_MAX 256

struct sqs_client {
    CURL *curl;
    char *region;
    char *access_key_id; /* NULL: unsigned requests */
    char *secret_access_key;
    char *session_token;
    char *endpoint_url; /* NULL: the queue URL's origin; no trailing '/' */
    long connect_timeout_ms;
    sqs_cancel_fn cancel;
    void *cancel_ud;
};

/* One call's answer and what the callbacks need. */
struct sqs_call {
    struct sqs_client *c;
    struct buf *answer;
    size_t start; /* answer->len before the call */
    int too_large;
};

void
sqs_client_config_from(struct sqs_client_config *cfg, const struct config_s3 *s3)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->region = s3->region;
    cfg->access_key_id = s3->access_key_id;
    cfg->secret_access_key = s3->secret_access_key;
    cfg->session_token = s3->session_token;
}

static char *
dup_nonempty(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

struct sqs_client *
sqs_client_new(const struct sqs_client_config *cfg)
{
    struct sqs_client *c = xcalloc(1, sizeof(*c));

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
    while (c->endpoint_url && strlen(c->endpoint_url) > 0 &&
           c->endpoint_url[strlen(c->endpoint_url) - 1] == '/')
        c->endpoint_url[strlen(c->endpoint_url) - 1] = '\0';
    c->connect_timeout_ms =
        cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : SQS_DEFAULT_CONNECT_TIMEOUT_MS;
    return c;
}

void
sqs_client_free(struct sqs_client *c)
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

void
sqs_client_set_cancel(struct sqs_client *c, sqs_cancel_fn fn, void *ud)
{
    c->cancel = fn;
    c->cancel_ud = ud;
}

/* ---- URLs and signatures ------------------------------------------------ */

/* The region named by an AWS SQS host, into region ("" when none). */
static void
host_region(const char *host, char *region, size_t len)
{
    const char *p, *end;

    region[0] = '\0';
    if (strncasecmp(host, "sqs.", 4) == 0 && (end = strstr(host + 4, ".amazonaws.com")) &&
        end > host + 4)
        p = host + 4;
    else if ((end = strstr(host, ".queue.amazonaws.com")) && end > host)
        p = host;
    else
        return;
    if ((size_t)(end - p) < len && !memchr(p, '.', (size_t)(end - p)))
        snprintf(region, len, "%.*s", (int)(end - p), p);
}

int
sqs_queue_url_parts(const char *url, char *origin, char *host, char *region, size_t len)
{
    const char *p = url, *h, *slash;
    size_t scheme;

    if (strncasecmp(p, "https://", 8) == 0)
        scheme = 8;
    else if (strncasecmp(p, "http://", 7) == 0)
        scheme = 7;
    else
        return -1;
    h = p + scheme;
    slash = strchr(h, '/');
    if (!slash || slash == h || (size_t)(slash - url) >= len || slash[1] == '\0')
        return -1;
    for (p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F || strchr("?#@\\", *p))
            return -1;
    snprintf(origin, len, "%.*s", (int)(slash - url), url);
    snprintf(host, len, "%.*s", (int)(slash - h), h);
    host_region(host, region, len);
    return 0;
}

/*
 * An endpoint URL http(s)://host[:port][/path] into origin, host and path
 * ("/" when none; RFC 3986 unreserved characters and '/' only, as it is both
 * the request path and the canonical URI). -1 when it is not such a URL.
 */
static int
endpoint_parts(const char *url, char *origin, char *host, char *path, size_t len)
{
    const char *h = strstr(url, "://"), *slash;
    size_t i;

    if (!h || strlen(url) >= len)
        return -1;
    h += 3;
    slash = strchr(h, '/');
    if (slash == h || !*h)
        return -1;
    if (!slash)
        slash = h + strlen(h);
    snprintf(origin, len, "%.*s", (int)(slash - url), url);
    snprintf(host, len, "%.*s", (int)(slash - h), h);
    snprintf(path, len, "%s", *slash ? slash : "/");
    for (i = 0; path[i]; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/", path[i]))
            return -1;
    return 0;
}

char *
sqs_client_authorization(const char *host, const char *path, const char *action, const char *body,
                         size_t body_len, const char *amz_date, const char *region,
                         const char *access_key_id, const char *secret_access_key,
                         const char *session_token)
{
    char payload[S3_SHA256_HEX_LEN + 1];
    struct buf canon, names;
    char *auth = NULL;

    if (!host || !path || !action || !amz_date || !region || !access_key_id || !secret_access_key ||
        s3_sigv4_sha256_hex(body, body_len, payload))
        return NULL;
    buf_init(&canon, 0);
    buf_init(&names, 0);
    buf_printf(&canon, "content-type:%s\nhost:%s\nx-amz-date:%s\n", SQS_JSON_TYPE, host, amz_date);
    buf_append_str(&names, "content-type;host;x-amz-date");
    if (session_token) {
        buf_printf(&canon, "x-amz-security-token:%s\n", session_token);
        buf_append_str(&names, ";x-amz-security-token");
    }
    buf_printf(&canon, "x-amz-target:AmazonSQS.%s\n", action);
    buf_append_str(&names, ";x-amz-target");
    auth = s3_sigv4_authorization("POST", path, "", canon.data, names.data, payload, amz_date,
                                  region, "sqs", access_key_id, secret_access_key);
    buf_release(&canon);
    buf_release(&names);
    return auth;
}

/* ---- one call ------------------------------------------------------------ */

static size_t
on_answer(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct sqs_call *k = userdata;
    size_t n = size * nmemb;

    if (k->answer->len - k->start + n > SQS_ANSWER_MAX) {
        k->too_large = 1;
        return 0;
    }
    buf_append(k->answer, data, n);
    return n;
}

static int
on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
            curl_off_t ulnow)
{
    struct sqs_call *k = userdata;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return k->c->cancel && k->c->cancel(k->c->cancel_ud) ? 1 : 0;
}

/* Append "name: value" ("name:" for an empty value: libcurl then sends no such header). */
static struct curl_slist *
header_add(struct curl_slist *list, const char *name, const char *value)
{
    struct curl_slist *n;
    struct buf line;

    buf_init(&line, 0);
    buf_printf(&line, "%s:%s%s", name, *value ? " " : "", value);
    n = curl_slist_append(list, line.data);
    buf_release(&line);
    if (!n)
        abort();
    return n;
}

/* The headers of one call, signed now; NULL *out with ERR_INTERNAL when signing failed. */
static enum err
call_headers(const struct sqs_client *c, const char *host, const char *path, const char *region,
             const char *action, const char *json, struct curl_slist **out)
{
    char amz_date[S3_AMZ_DATE_LEN + 1], target[64];
    time_t now = time(NULL);
    struct curl_slist *h = NULL;
    char *auth = NULL;
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    if (c->access_key_id && c->secret_access_key) {
        auth = sqs_client_authorization(host, path, action, json, strlen(json), amz_date, region,
                                        c->access_key_id, c->secret_access_key, c->session_token);
        if (!auth)
            return ERR_INTERNAL;
    }
    snprintf(target, sizeof(target), "AmazonSQS.%s", action);
    h = header_add(h, "Host", host);
    h = header_add(h, "Content-Type", SQS_JSON_TYPE);
    h = header_add(h, "X-Amz-Target", target);
    h = header_add(h, "X-Amz-Date", amz_date);
    if (auth && c->session_token)
        h = header_add(h, "X-Amz-Security-Token", c->session_token);
    if (auth)
        h = header_add(h, "Authorization", auth);
    h = header_add(h, "Expect", ""); /* no 100-continue round trip */
    free(auth);
    *out = h;
    return ERR_OK;
}

/* What a non-2xx status (or no answer) means, with the message. */
static enum err
call_outcome(struct sqs_call *k, CURLcode cc, long status, const char *what, char *errbuf,
             size_t errlen)
{
    char code[96], msg[160];
    const char *body = k->answer->data ? k->answer->data + k->start : "";

    if (cc == CURLE_ABORTED_BY_CALLBACK)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "sqs %s: cancelled", what);
    if (k->too_large)
        return err_set(ERR_UPSTREAM, errbuf, errlen, "sqs %s: answer larger than %zu bytes", what,
                       SQS_ANSWER_MAX);
    if (cc != CURLE_OK)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "sqs %s: %s", what, curl_easy_strerror(cc));
    if (status >= 200 && status <= 299)
        return ERR_OK;
    sqs_response_error(body, k->answer->len - k->start, code, sizeof(code), msg, sizeof(msg));
    if (status >= 400 && status <= 499 && status != 429 && !strstr(code, "Throttl") &&
        strcmp(code, "RequestThrottled") != 0) {
        return err_set(strcmp(code, "QueueDoesNotExist") == 0 ||
                               strcmp(code, "AWS.SimpleQueueService.NonExistentQueue") == 0
                           ? ERR_NOT_FOUND
                           : ERR_BAD_INPUT,
                       errbuf, errlen, "sqs %s: %ld %s%s%s", what, status, code[0] ? code : "error",
                       msg[0] ? ": " : "", msg);
    }
    if (status >= 400)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "sqs %s: %ld %s", what, status,
                       code[0] ? code : "error");
    return err_set(ERR_UPSTREAM, errbuf, errlen, "sqs %s: unexpected status %ld", what, status);
}

/* The queue's name (the URL's last segment) for messages: at most 80 bytes. */
static void
call_what(const char *action, const char *url, char *what, size_t len)
{
    const char *name = strrchr(url, '/');

    snprintf(what, len, "%s %.80s", action, name && name[1] ? name + 1 : url);
}

static enum err
call_with_timeout(struct sqs_client *c, const char *url, const char *action, const char *json,
                  long timeout_s, struct buf *answer, char *errbuf, size_t errlen)
{
    char origin[SQS_URL_PART_MAX], host[SQS_URL_PART_MAX], region[SQS_URL_PART_MAX];
    char what[128], endpoint[2 * SQS_URL_PART_MAX], path[SQS_URL_PART_MAX];
    struct sqs_call k = {c, answer, answer->len, 0};
    struct curl_slist *headers = NULL;
    long status = 0;
    CURLcode cc;
    enum err rc;

    call_what(action, url, what, sizeof(what));
    if (sqs_queue_url_parts(url, origin, host, region, sizeof(origin)) != 0)
        return err_set(ERR_INTERNAL, errbuf, errlen, "sqs %s: bad queue url", what);
    snprintf(path, sizeof(path), "/");
    if (c->endpoint_url && endpoint_parts(c->endpoint_url, origin, host, path, sizeof(origin)))
        return err_set(ERR_INTERNAL, errbuf, errlen, "sqs %s: bad endpoint url", what);
    if (call_headers(c, host, path, region[0] ? region : c->region, action, json, &headers))
        return err_set(ERR_INTERNAL, errbuf, errlen, "sqs %s: cannot sign the request", what);
    snprintf(endpoint, sizeof(endpoint), "%s%s", origin, path);
    curl_easy_reset(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_URL, endpoint);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &k);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, timeout_s);
    cc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    rc = call_outcome(&k, cc, status, what, errbuf, errlen);
    curl_slist_free_all(headers);
    return rc;
}

enum err
sqs_client_call(struct sqs_client *c, const char *url, const char *action, const char *json,
                struct buf *answer, char *errbuf, size_t errlen)
{
    return call_with_timeout(c, url, action, json, SQS_CALL_TIMEOUT_S, answer, errbuf, errlen);
}

/* ---- actions ----------------------------------------------------------- */

/* A 2xx answer that does not decode: ERR_UPSTREAM naming the action. */
static enum err
bad_answer(const char *action, const char *url, const char *why, char *errbuf, size_t errlen)
{
    char what[128];

    call_what(action, url, what, sizeof(what));
    return err_set(ERR_UPSTREAM, errbuf, errlen, "sqs %s: bad answer: %s", what, why);
}

enum err
sqs_client_receive(struct sqs_client *c, const char *queue_url, int max_messages, int wait_s,
                   int visibility_s, struct sqs_receive *out, char *errbuf, size_t errlen)
{
    char why[ERRBUF_SIZE];
    struct buf answer;
    json_t *req;
    char *json;
    enum err rc;

    memset(out, 0, sizeof(*out));
    if (max_messages < 1 || max_messages > SQS_MAX_BATCH || wait_s < 0 || wait_s > 20)
        return err_set(ERR_INTERNAL, errbuf, errlen, "sqs ReceiveMessage: bad arguments");
    req = json_pack("{s:s,s:i,s:i,s:[s],s:[s]}", "QueueUrl", queue_url, "MaxNumberOfMessages",
                    max_messages, "WaitTimeSeconds", wait_s, "MessageSystemAttributeNames",
                    "ApproximateReceiveCount", "AttributeNames", "ApproximateReceiveCount");
    if (visibility_s >= 0)
        json_object_set_new(req, "VisibilityTimeout", json_integer(visibility_s));
    json = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    buf_init(&answer, 0);
    rc = call_with_timeout(c, queue_url, "ReceiveMessage", json, wait_s + SQS_POLL_SLACK_S, &answer,
                           errbuf, errlen);
    if (!rc &&
        sqs_response_receive(answer.data, answer.len, (size_t)max_messages, out, why, sizeof(why)))
        rc = bad_answer("ReceiveMessage", queue_url, why, errbuf, errlen);
    buf_release(&answer);
    free(json);
    return rc;
}

enum err
sqs_client_delete_batch(struct sqs_client *c, const char *queue_url, const char *const *handles,
                        size_t n, struct sqs_batch_result *out, char *errbuf, size_t errlen)
{
    char why[ERRBUF_SIZE], id[4];
    struct buf answer;
    json_t *req, *entries;
    char *json;
    size_t i;
    enum err rc;

    memset(out, 0, sizeof(*out));
    if (n < 1 || n > SQS_MAX_BATCH)
        return err_set(ERR_INTERNAL, errbuf, errlen, "sqs DeleteMessageBatch: bad arguments");
    entries = json_array();
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%zu", i);
        json_array_append_new(entries,
                              json_pack("{s:s,s:s}", "Id", id, "ReceiptHandle", handles[i]));
    }
    req = json_pack("{s:s,s:o}", "QueueUrl", queue_url, "Entries", entries);
    json = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    buf_init(&answer, 0);
    rc = sqs_client_call(c, queue_url, "DeleteMessageBatch", json, &answer, errbuf, errlen);
    if (!rc && sqs_response_batch(answer.data, answer.len, n, out, why, sizeof(why)))
        rc = bad_answer("DeleteMessageBatch", queue_url, why, errbuf, errlen);
    buf_release(&answer);
    free(json);
    return rc;
}

enum err
sqs_client_send(struct sqs_client *c, const char *queue_url, const char *body, char *errbuf,
                size_t errlen)
{
    json_t *req = json_pack("{s:s,s:s}", "QueueUrl", queue_url, "MessageBody", body);
    struct buf answer;
    char *json;
    enum err rc;

    if (!req)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "sqs SendMessage: body is not utf-8");
    json = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    buf_init(&answer, 0);
    rc = sqs_client_call(c, queue_url, "SendMessage", json, &answer, errbuf, errlen);
    buf_release(&answer);
    free(json);
    return rc;
}
