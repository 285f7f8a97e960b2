/*
 * event_body.c - a repos-lock.csv event body checked whole, and its problem
 */
#include "codec/event_body.h"

#include <string.h>

#include "codec/repos_csv.h"
#include "core/err.h"

static const char *
title_of(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    }
    return "Error";
}

json_t *
event_body_problem(int status, const char *detail, json_t *errors)
{
    json_t *p = json_object();

    json_object_set_new(p, "type", json_string("about:blank"));
    json_object_set_new(p, "title", json_string(title_of(status)));
    json_object_set_new(p, "status", json_integer(status));
    if (detail && *detail)
        json_object_set_new(p, "detail", json_string(detail));
    if (errors)
        json_object_set_new(p, "errors", errors);
    return p;
}

/* The document's collected problems as [{line, detail}], or NULL when there are none. */
static json_t *
errors_json(const struct repos_csv *doc)
{
    json_t *errors = json_array();
    size_t i;

    for (i = 0; i < doc->nerrors; i++) {
        json_t *e = json_object();

        if (doc->errors[i].line)
            json_object_set_new(e, "line", json_integer((json_int_t)doc->errors[i].line));
        json_object_set_new(e, "detail", json_string(doc->errors[i].detail));
        json_array_append_new(errors, e);
    }
    if (json_array_size(errors) == 0) {
        json_decref(errors);
        return NULL;
    }
    return errors;
}

struct repos_csv *
event_body_parse(const char *body, size_t len, const struct repos_csv_limits *lim, json_t **problem)
{
    struct repos_csv *doc;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    *problem = NULL;
    if (len == 0) {
        *problem = event_body_problem(400, "empty body", NULL);
        return NULL;
    }
    if (memchr(body, '\0', len)) {
        *problem = event_body_problem(400, "body contains a NUL byte", NULL);
        return NULL;
    }
    doc = repos_csv_new(lim);
    rc = repos_csv_feed(doc, body, len, errbuf, sizeof(errbuf));
    if (!rc)
        rc = repos_csv_finish(doc, errbuf, sizeof(errbuf));
    if (!rc)
        return doc;
    *problem = event_body_problem(rc == ERR_TOO_LARGE ? 413 : 400, errbuf, errors_json(doc));
    repos_csv_free(doc);
    return NULL;
}

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates). */
static int
utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        unsigned long cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += k + 1;
    }
    return 1;
}

const char *
event_body_name_problem(const char *name)
{
    size_t n = strlen(name);
    size_t i;

    if (n == 0 || n > EVENT_BODY_NAME_MAX)
        return "the name must be 1 to 255 bytes";
    if (name[0] == '.')
        return "the name must not start with '.'";
    if (strstr(name, ".."))
        return "the name must not contain \"..\"";
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c < 0x20 || c == 0x7F)
            return "the name must not contain control characters";
        if (c == '/' || c == '\\')
            return "the name must not contain '/' or '\\'";
    }
    if (!utf8_ok((const unsigned char *)name, n))
        return "the name must be UTF-8";
    return NULL;
}
