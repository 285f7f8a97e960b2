/*
 * feed.c - GET /api/v1/feed: the journal of changes after a cursor (read)
 *
 * Two forms. Server-sent events (format=sse, or no format and an Accept
 * naming text/event-stream; feed_stream.c): a stream from the cursor, or
 * from now when none is given. The long poll (format=json, the default): a JSON
 * array of the changes after the cursor (`after`, else the Last-Event-ID
 * header, else 0), oldest first, each with its `id`, the cursor to resume
 * from. `wait` (0..30 s) waits for at least one change, re-reading the
 * journal every 200 ms on the worker thread. Filters: `type` (repeatable
 * or a comma list of change types), and for S3 changes `bucket` and
 * `prefix` (a record key prefix; either drops the other types). The
 * Feed-Cursor header carries the highest id examined, matched or not, so a
 * filtered reader does not read the same rows again. Rows are returned only
 * when final in cursor order (storage/feed_store.h): no gap on resume.
 */
#include "handlers/handlers.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "handlers/feed_stream.h"
#include "handlers/params.h"
#include "storage/feed_store.h"
#include "storage/outbox_store.h"

#define FEED_MAX_TYPES 16
#define FEED_POLL_MS 200

static const char *const feed_types[] = {
    OUTBOX_MERGE_COMPLETED,
    OUTBOX_INVENTORY_SUCCEEDED,
    OUTBOX_INVENTORY_FAILED,
    OUTBOX_EXPORT_FAILED,
    "io.ingestd.event.accepted",
    "io.ingestd.generation.published",
    "io.ingestd.s3.objects.changed",
    "io.ingestd.inventory.state",
    NULL,
};

static int
feed_type_known(const char *t, size_t len)
{
    size_t i;

    for (i = 0; feed_types[i]; i++)
        if (strlen(feed_types[i]) == len && memcmp(feed_types[i], t, len) == 0)
            return 1;
    return 0;
}

/* Split every `type` parameter on commas into types[] (pointers into store). */
static enum err
feed_parse_types(const struct request *req, char *store, size_t store_len, const char **types,
                 size_t *n, char *errbuf, size_t errlen)
{
    size_t used = 0, i;

    *n = 0;
    for (i = 0; i < req->nquery; i++) {
        const char *v = req->query[i].value;
        size_t vl;
        char *tok, *save = NULL;

        if (strcmp(req->query[i].name, "type") != 0)
            continue;
        vl = strlen(v);
        if (used + vl + 1 > store_len)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "type: too many types");
        memcpy(store + used, v, vl + 1);
        for (tok = strtok_r(store + used, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (!feed_type_known(tok, strlen(tok)))
                return err_set(ERR_BAD_INPUT, errbuf, errlen, "type: unknown change type");
            if (*n == FEED_MAX_TYPES)
                return err_set(ERR_BAD_INPUT, errbuf, errlen, "type: too many types");
            types[(*n)++] = tok;
        }
        used += vl + 1;
    }
    return ERR_OK;
}

/* The cursor: `after`, else Last-Event-ID, else 0. */
static enum err
feed_cursor(const struct request *req, long long *after, char *errbuf, size_t errlen)
{
    const char *h = request_header(req, "Last-Event-ID");
    int64_t v = 0;
    char *end;
    enum err rc;

    if (request_query(req, "after")) {
        rc = params_cursor(req, "after", &v, errbuf, errlen);
        *after = v;
        return rc;
    }
    *after = 0;
    if (!h)
        return ERR_OK;
    *after = strtoll(h, &end, 10);
    if (*h < '0' || *h > '9' || *end || *after < 0 || strlen(h) > 18)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "Last-Event-ID: not a cursor returned by this API");
    return ERR_OK;
}

/*
 * 1 for server-sent events: format=sse, or no format and an Accept that
 * names text/event-stream; else the JSON long poll (format=json or none).
 */
static enum err
feed_format(const struct request *req, int *sse, char *errbuf, size_t errlen)
{
    const char *format = request_query(req, "format");
    const char *accept = request_header(req, "Accept");

    *sse = 0;
    if (!format) {
        *sse = accept && strcasestr(accept, "text/event-stream") != NULL;
        return ERR_OK;
    }
    if (strcmp(format, "sse") == 0)
        *sse = 1;
    else if (strcmp(format, "json") != 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "format: must be json or sse");
    return ERR_OK;
}

static enum err
feed_params(const struct request *req, int sse, struct feed_filter *f, const char **types,
            char *store, size_t store_len, long long *after, int64_t *wait, int64_t *limit,
            char *errbuf, size_t errlen)
{
    static const char *const known[] = {"after",  "type", "bucket", "prefix",
                                        "format", "wait", "limit",  NULL};
    enum err rc;

    memset(f, 0, sizeof(*f));
    rc = params_known(req, known, errbuf, errlen);
    if (!rc && sse && (request_query(req, "wait") || request_query(req, "limit")))
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "wait and limit belong to format=json; an event stream has neither");
    if (!rc)
        rc = params_int(req, "wait", 0, 30, 0, wait, errbuf, errlen);
    if (!rc)
        rc = params_int(req, "limit", 1, 1000, 100, limit, errbuf, errlen);
    if (!rc)
        rc = feed_cursor(req, after, errbuf, errlen);
    if (!rc)
        rc = feed_parse_types(req, store, store_len, types, &f->ntypes, errbuf, errlen);
    f->types = types;
    if (!rc)
        f->bucket = params_text(req, "bucket", &rc, errbuf, errlen);
    if (!rc)
        f->prefix = params_text(req, "prefix", &rc, errbuf, errlen);
    return rc;
}

/* The event stream: from the cursor given, else from the journal's head (now). */
static void
feed_sse(struct request *req, struct response *res, const struct feed_filter *f, long long after)
{
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (!request_query(req, "after") && !request_header(req, "Last-Event-ID")) {
        rc = feed_store_head(req->db, &after, errbuf, sizeof(errbuf));
        if (rc) {
            response_error(res, req, rc, errbuf);
            return;
        }
    }
    feed_stream_respond(req, res, after, f);
}

void
handle_feed_get(struct request *req, struct response *res)
{
    struct feed_filter f;
    const char *types[FEED_MAX_TYPES];
    char store[1024];
    char errbuf[ERRBUF_SIZE];
    json_t *items = NULL;
    long long after, last;
    int64_t wait = 0, limit = 100;
    long long deadline;
    int sse = 0;
    enum err rc;

    rc = feed_format(req, &sse, errbuf, sizeof(errbuf));
    if (!rc)
        rc = feed_params(req, sse, &f, types, store, sizeof(store), &after, &wait, &limit, errbuf,
                         sizeof(errbuf));
    if (!rc && sse) {
        feed_sse(req, res, &f, after);
        return;
    }
    deadline = clock_mono_ms() + wait * 1000;
    while (!rc) {
        rc = feed_store_read(req->db, after, &f, (int)limit, &items, &last, errbuf, sizeof(errbuf));
        if (rc || json_array_size(items) > 0 || clock_mono_ms() >= deadline)
            break;
        json_decref(items);
        items = NULL;
        after = last;
        clock_sleep_ms(FEED_POLL_MS);
    }
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_header(res, "Feed-Cursor", "%lld", last);
    response_header(res, "Cache-Control", "no-store");
    response_json(res, 200, items);
}
