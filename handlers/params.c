/*
 * params.c - small validators shared by the handlers
 */
#include "handlers/params.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int
params_uuid_ok(const char *s)
{
    size_t i;

    if (!s || strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

enum err
params_int(const struct request *req, const char *name, int64_t min, int64_t max, int64_t def,
           int64_t *out, char *errbuf, size_t errlen)
{
    const char *v = request_query(req, name);
    char *end = NULL;
    long long n;

    *out = def;
    if (!v)
        return ERR_OK;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (!*v || errno || *end || n < min || n > max || !isdigit((unsigned char)v[v[0] == '-']))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: must be an integer from %lld to %lld",
                       name, (long long)min, (long long)max);
    *out = n;
    return ERR_OK;
}

enum err
params_cursor(const struct request *req, const char *name, int64_t *out, char *errbuf,
              size_t errlen)
{
    if (params_int(req, name, 0, INT64_MAX, 0, out, NULL, 0) != ERR_OK)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: not a cursor returned by this API",
                       name);
    return ERR_OK;
}

enum err
params_known(const struct request *req, const char *const *known, char *errbuf, size_t errlen)
{
    size_t i;
    size_t k;

    for (i = 0; i < req->nquery; i++) {
        for (k = 0; known[k]; k++)
            if (strcmp(req->query[i].name, known[k]) == 0)
                break;
        if (!known[k])
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "unknown query parameter \"%.64s\"",
                           req->query[i].name);
    }
    return ERR_OK;
}

int
params_utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned int c = *p;
        unsigned int cp;
        int n;
        int i;

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

const char *
params_text(const struct request *req, const char *name, enum err *rc, char *errbuf, size_t errlen)
{
    const char *v = request_query(req, name);

    if (v && !params_utf8_ok(v)) {
        *rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: not valid UTF-8", name);
        return NULL;
    }
    return v;
}

static void
encode(struct buf *qs, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            buf_append_char(qs, (char)c);
        } else {
            buf_append_char(qs, '%');
            buf_append_char(qs, hex[c >> 4]);
            buf_append_char(qs, hex[c & 15]);
        }
    }
}

void
params_append(struct buf *qs, const char *name, const char *value)
{
    buf_append_char(qs, qs->len ? '&' : '?');
    encode(qs, name);
    buf_append_char(qs, '=');
    encode(qs, value);
}

json_t *
params_next_link(const char *path, const char *const *filters, int64_t limit, int64_t after)
{
    struct buf qs;
    char n[32];
    json_t *link;
    size_t i;

    buf_init(&qs, 0);
    for (i = 0; filters && filters[i]; i += 2)
        if (filters[i + 1])
            params_append(&qs, filters[i], filters[i + 1]);
    snprintf(n, sizeof(n), "%lld", (long long)limit);
    params_append(&qs, "limit", n);
    snprintf(n, sizeof(n), "%lld", (long long)after);
    params_append(&qs, "after", n);
    link = json_sprintf("%s%s", path, qs.data);
    buf_release(&qs);
    return link;
}

void
params_respond_before_page(struct request *req, struct response *res, const char *path,
                           const char *what, params_before_list_fn list)
{
    static const char *const known[] = {"limit", "before", NULL};
    const char *before = request_query(req, "before");
    json_t *items = NULL;
    json_t *body;
    char errbuf[ERRBUF_SIZE];
    int64_t limit;
    int more = 0;
    enum err rc;

    rc = params_known(req, known, errbuf, sizeof(errbuf));
    if (!rc)
        rc = params_int(req, "limit", 1, 1000, 100, &limit, errbuf, sizeof(errbuf));
    if (!rc && before && !params_uuid_ok(before))
        rc = err_set(ERR_BAD_INPUT, errbuf, sizeof(errbuf), "before: must be a %s id", what);
    if (!rc)
        rc = list(req->db, before, (int)limit, &items, &more, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    body = json_object();
    json_object_set_new(body, "items", items);
    if (more) {
        json_t *last = json_array_get(items, json_array_size(items) - 1);

        json_object_set_new(body, "next",
                            json_sprintf("%s?limit=%lld&before=%s", path, (long long)limit,
                                         json_string_value(json_object_get(last, "id"))));
    } else {
        json_object_set_new(body, "next", json_null());
    }
    response_json(res, 200, body);
}
