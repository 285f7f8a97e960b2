/*
 * request.c - request lookups and response building
 */
#include "handlers/request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/gzip_encoder.h"

const char *
request_header(const struct request *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *
request_query(const struct request *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    return NULL;
}

int
request_accepts_gzip(const struct request *req)
{
    const char *ae = request_header(req, "Accept-Encoding");
    const char *p;

    if (!ae)
        return 0;
    for (p = strcasestr(ae, "gzip"); p; p = strcasestr(p + 4, "gzip")) {
        const char *q = p + 4;

        while (*q == ' ')
            q++;
        if (*q == ';') {
            const char *qv = strstr(q, "q=");

            if (qv && (!strchr(q, ',') || qv < strchr(q, ',')) && strtod(qv + 2, NULL) == 0.0)
                return 0;
        }
        return 1;
    }
    return 0;
}

void
response_init(struct response *res)
{
    memset(res, 0, sizeof(*res));
    buf_init(&res->body, 0);
}

void
response_release(struct response *res)
{
    size_t i;

    if (!res)
        return;
    free(res->content_type);
    buf_release(&res->body);
    for (i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    if (res->shared_release)
        res->shared_release(res->shared_ctx);
    if (res->stream_ops)
        res->stream_ops->free(res->stream_ctx);
    memset(res, 0, sizeof(*res));
}

void
response_header(struct response *res, const char *name, const char *fmt, ...)
{
    struct buf v;
    va_list ap;

    if (res->nheaders >= RESPONSE_MAX_HEADERS)
        return;
    buf_init(&v, 0);
    va_start(ap, fmt);
    buf_vprintf(&v, fmt, ap);
    va_end(ap);
    res->headers[res->nheaders].name = xstrdup(name);
    res->headers[res->nheaders].value = buf_take(&v, NULL);
    res->nheaders++;
}

const char *
response_get_header(const struct response *res, const char *name)
{
    size_t i;

    for (i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

static void
set_content_type(struct response *res, const char *ct)
{
    free(res->content_type);
    res->content_type = ct ? xstrdup(ct) : NULL;
}

void
response_json(struct response *res, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

    json_decref(body);
    res->status = status;
    set_content_type(res, "application/json");
    buf_reset(&res->body);
    if (text) {
        buf_append_str(&res->body, text);
        free(text);
    }
}

void
response_json_buf(struct response *res, int status, struct buf *body)
{
    res->status = status;
    set_content_type(res, "application/json");
    buf_release(&res->body);
    res->body = *body;
    buf_init(body, 0);
}

void
response_bytes(struct response *res, int status, const char *content_type, const void *data,
               size_t len)
{
    res->status = status;
    set_content_type(res, content_type);
    buf_reset(&res->body);
    buf_append(&res->body, data, len);
}

void
response_stream(struct response *res, int status, const char *content_type,
                const struct stream_ops *ops, void *ctx)
{
    res->status = status;
    set_content_type(res, content_type);
    buf_reset(&res->body);
    if (res->stream_ops)
        res->stream_ops->free(res->stream_ctx);
    res->stream_ops = ops;
    res->stream_ctx = ctx;
}

void
response_problem(struct response *res, const struct request *req, int status, const char *detail,
                 json_t *errors)
{
    json_t *p = json_object();

    json_object_set_new(p, "type", json_string("about:blank"));
    json_object_set_new(p, "title", json_string(http_status_title(status)));
    json_object_set_new(p, "status", json_integer(status));
    if (detail && *detail)
        json_object_set_new(p, "detail", json_string(detail));
    if (req && req->request_id)
        json_object_set_new(p, "request_id", json_string(req->request_id));
    if (errors)
        json_object_set_new(p, "errors", errors);
    response_json(res, status, p);
    set_content_type(res, "application/problem+json");
}

void
response_problem_json(struct response *res, const struct request *req, json_t *problem)
{
    json_t *errors = json_object_get(problem, "errors");
    int status = (int)json_integer_value(json_object_get(problem, "status"));

    response_problem(res, req, status ? status : 400,
                     json_string_value(json_object_get(problem, "detail")), json_incref(errors));
    json_decref(problem);
}

void
response_error(struct response *res, const struct request *req, enum err rc, const char *detail)
{
    int status = err_http_status(rc);

    if (status == 500)
        detail = "internal error";
    response_problem(res, req, status, detail, NULL);
    if (status == 503)
        response_header(res, "Retry-After", "2");
}

const char *
http_status_title(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

static int
compressible(const char *content_type)
{
    return content_type && (strncmp(content_type, "application/json", 16) == 0 ||
                            strncmp(content_type, "application/problem+json", 24) == 0 ||
                            strncmp(content_type, "text/", 5) == 0 ||
                            strncmp(content_type, "application/yaml", 16) == 0);
}

void
response_compress(struct response *res, const struct request *req)
{
    char *gz;
    size_t gz_len;

    if (res->shared_release || res->body.len < RESPONSE_GZIP_MIN ||
        !compressible(res->content_type) || response_get_header(res, "Content-Encoding"))
        return;
    response_header(res, "Vary", "Accept-Encoding");
    if (!request_accepts_gzip(req))
        return;
    gz = gzip_encode(res->body.data, res->body.len, 1, &gz_len);
    buf_reset(&res->body);
    buf_append(&res->body, gz, gz_len);
    free(gz);
    response_header(res, "Content-Encoding", "gzip");
}
