/*
 * tail.c - `ingestd tail`: one line per change of a running server's journal
 *
 * A loop of long polls (GET /api/v1/feed?format=json&wait=25&after=C) with
 * the clients/ HTTP client. C starts at --after (default 0: the whole
 * journal) and moves to the highest id printed.
 * A transport error or a 5xx is retried after a second with the same
 * cursor: no change is printed twice or skipped. A 4xx (bad token, bad
 * filter) is printed and ends the command.
 */
#include "server/tail.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/http_client.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"

#define TAIL_MAX_TYPES 16
#define TAIL_TYPE_CHARS "abcdefghijklmnopqrstuvwxyz0123456789._-"

struct tail_opts {
    const char *url;
    const char *types[TAIL_MAX_TYPES];
    int ntypes;
    long long after;
    long long count; /* 0: no end */
    int json;
};

static const char tail_usage[] =
    "usage: ingestd tail [--url URL] [--type T]... [--after ID] [--json] [--count N]\n"
    "  follow the journal of changes of the server at URL (default\n"
    "  http://127.0.0.1:8080, or INGESTD_URL); the token from INGESTD_TOKEN\n";

static int
tail_args(int argc, char **argv, struct tail_opts *o)
{
    char *end;
    int i;

    memset(o, 0, sizeof(*o));
    o->url = getenv("INGESTD_URL") ? getenv("INGESTD_URL") : "http://127.0.0.1:8080";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--url") == 0)
            o->url = v;
        else if (strcmp(a, "--type") == 0 && o->ntypes < TAIL_MAX_TYPES &&
                 v[strspn(v, TAIL_TYPE_CHARS ",")] == '\0')
            o->types[o->ntypes++] = v;
        else if (strcmp(a, "--after") == 0 || strcmp(a, "--count") == 0) {
            long long n = strtoll(v, &end, 10);

            if (*v < '0' || *v > '9' || *end)
                return -1;
            *(strcmp(a, "--after") == 0 ? &o->after : &o->count) = n;
        } else
            return -1;
    }
    return 0;
}

/* Print the changes of one answer; the new cursor. */
static long long
tail_print(const struct tail_opts *o, json_t *items, long long cursor, long long *printed)
{
    json_t *c;
    size_t i;

    json_array_foreach(items, i, c)
    {
        json_t *subject = json_object_get(c, "subject");

        cursor = json_integer_value(json_object_get(c, "id"));
        if (o->json) {
            char *s = json_dumps(c, JSON_COMPACT);

            printf("%s\n", s ? s : "{}");
            free(s);
        } else {
            printf("%lld %s %s %s\n", cursor, json_string_value(json_object_get(c, "time")),
                   json_string_value(json_object_get(c, "type")),
                   json_is_string(subject) ? json_string_value(subject) : "-");
        }
        (*printed)++;
        if (o->count && *printed >= o->count)
            break;
    }
    fflush(stdout);
    return cursor;
}

static void
tail_url(const struct tail_opts *o, long long after, struct buf *url)
{
    int i;

    buf_reset(url);
    buf_printf(url, "%s/api/v1/feed?format=json&wait=25&after=%lld", o->url, after);
    for (i = 0; i < o->ntypes; i++)
        buf_printf(url, "&type=%s", o->types[i]);
}

/* One long poll. 1: go on, 0: --count reached, 2: a 4xx. */
static int
tail_once(struct http_client *hc, const struct tail_opts *o, const char *const *headers,
          long long *after, long long *printed, struct buf *url)
{
    struct http_request req = {0};
    struct http_response res;
    char errbuf[ERRBUF_SIZE];
    json_t *items;

    tail_url(o, *after, url);
    req.method = "GET";
    req.url = url->data;
    req.headers = headers;
    req.timeout_ms = 40000;
    req.max_response_bytes = (size_t)16 << 20;
    http_response_init(&res);
    if (http_client_send(hc, &req, &res, errbuf, sizeof(errbuf)) || res.status >= 500) {
        fprintf(stderr, "ingestd tail: %s; retrying\n", res.status ? "server error" : errbuf);
        http_response_release(&res);
        clock_sleep_ms(1000);
        return 1;
    }
    if (res.status != 200) {
        fprintf(stderr, "ingestd tail: HTTP %ld: %.*s\n", res.status, (int)res.body.len,
                res.body.data ? res.body.data : "");
        http_response_release(&res);
        return 2;
    }
    items = json_loadb(res.body.data, res.body.len, 0, NULL);
    http_response_release(&res);
    if (json_is_array(items))
        *after = tail_print(o, items, *after, printed);
    json_decref(items);
    return o->count && *printed >= o->count ? 0 : 1;
}

int
tail_main(int argc, char **argv)
{
    struct tail_opts o;
    struct http_client *hc;
    struct buf url, auth;
    const char *headers[2] = {NULL, NULL};
    const char *token = getenv("INGESTD_TOKEN");
    long long printed = 0;
    int rc = 1;

    if (tail_args(argc, argv, &o)) {
        fputs(tail_usage, stderr);
        return 2;
    }
    buf_init(&url, 0);
    buf_init(&auth, 0);
    if (token && *token) {
        buf_printf(&auth, "Authorization: Bearer %s", token);
        headers[0] = auth.data;
    }
    hc = http_client_new();
    while (hc && rc == 1)
        rc = tail_once(hc, &o, headers, &o.after, &printed, &url);
    http_client_free(hc);
    buf_release(&url);
    buf_release(&auth);
    return hc ? rc : 1;
}
