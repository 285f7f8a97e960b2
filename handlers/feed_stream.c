/*
 * feed_stream.c - the server-sent events of GET /api/v1/feed; see feed_stream.h
 *
 * A struct feed_stream is the response's stream (handlers/request.h): read
 * runs on the HTTP I/O thread and hands over first what a table read left
 * in `pending`, then what the hub's ring holds; fetch runs on a worker when
 * the cursor is older than the ring. Nothing here blocks the I/O thread.
 */
#include "handlers/feed_stream.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/sse.h"
#include "core/log.h"
#include "handlers/app.h"
#include "jobs/feed_hub.h"

#define FEED_STREAM_TYPES 16
#define FEED_STREAM_PAGE 100
/* a table read stops adding events past this many bytes (the rest on the next read) */
#define FEED_STREAM_PENDING_MAX ((size_t)256 * 1024)

struct feed_stream {
    struct feed_sub *sub;
    struct feed_filter f;
    char *types[FEED_STREAM_TYPES];
    struct feed_link link;
    struct buf pending; /* bytes to send before the hub's */
    size_t off;         /* of pending, sent */
    int done;           /* end once pending is sent */
};

/* The last event: where to resume, and why the stream ends. */
static void
stream_end(struct feed_stream *st, long long cursor, const char *why)
{
    char data[96];

    snprintf(data, sizeof(data), "{\"after\":%lld,\"reason\":\"%s\"}", cursor, why);
    sse_event_append(&st->pending, cursor, "resume", data, strlen(data));
    st->done = 1;
}

static size_t
stream_pending(struct feed_stream *st, char *buf, size_t max)
{
    size_t k = st->pending.len - st->off;

    if (k > max)
        k = max;
    memcpy(buf, st->pending.data + st->off, k);
    st->off += k;
    if (st->off == st->pending.len) {
        buf_reset(&st->pending);
        st->off = 0;
    }
    return k;
}

static enum stream_step
stream_read(void *ctx, const struct stream_link *link, char *buf, size_t max, size_t *n)
{
    struct feed_stream *st = ctx;
    const char *why = NULL;
    long long cursor = 0;
    enum feed_take t;

    *n = 0;
    if (st->off < st->pending.len) {
        *n = stream_pending(st, buf, max);
        return STREAM_DATA;
    }
    if (st->done)
        return STREAM_END;
    st->link.suspend = link->suspend;
    st->link.resume = link->resume;
    st->link.cls = link->cls;
    t = feed_hub_take(st->sub, &st->link, buf, max, n, &cursor, &why);
    switch (t) {
    case FEED_TAKE_DATA:
        return STREAM_DATA;
    case FEED_TAKE_WAIT:
        return STREAM_WAIT;
    case FEED_TAKE_BEHIND:
        return STREAM_FETCH;
    case FEED_TAKE_END:
        break;
    }
    stream_end(st, cursor, why);
    *n = stream_pending(st, buf, max);
    return STREAM_DATA;
}

/* Worker: the journal after the cursor, up to a page, into pending; then back to the hub. */
static void
stream_fetch(void *ctx, struct db *db)
{
    struct feed_stream *st = ctx;
    long long start = feed_hub_cursor(st->sub), cursor = start, last = start;
    char errbuf[ERRBUF_SIZE];
    json_t *items = NULL;
    size_t i;

    if (feed_store_read(db, cursor, &st->f, FEED_STREAM_PAGE, &items, &last, errbuf,
                        sizeof(errbuf))) {
        log_json(LOG_WARN, "feed stream: journal read failed, subscriber told to resume",
                 json_pack("{s:s}", "error", errbuf));
        stream_end(st, cursor, "unavailable");
        return;
    }
    for (i = 0; i < json_array_size(items); i++) {
        json_t *item = json_array_get(items, i);
        long long id = (long long)json_integer_value(json_object_get(item, "id"));
        char *data;

        if (st->pending.len >= FEED_STREAM_PENDING_MAX) {
            last = cursor; /* the rest on the next read */
            break;
        }
        data = json_dumps(item, JSON_COMPACT);
        if (!data) /* out of memory, as xmalloc() treats it */
            abort();
        sse_event_append(&st->pending, id, json_string_value(json_object_get(item, "type")), data,
                         strlen(data));
        free(data);
        cursor = id;
    }
    json_decref(items);
    feed_hub_seek(st->sub, last, last > start);
}

static void
stream_free(void *ctx)
{
    struct feed_stream *st = ctx;
    size_t i;

    if (!st)
        return;
    feed_hub_leave(st->sub);
    for (i = 0; i < st->f.ntypes; i++)
        free(st->types[i]);
    free((char *)(uintptr_t)st->f.bucket);
    free((char *)(uintptr_t)st->f.prefix);
    buf_release(&st->pending);
    free(st);
}

static const struct stream_ops feed_stream_ops = {stream_read, stream_fetch, stream_free};

void
feed_stream_respond(struct request *req, struct response *res, long long after,
                    const struct feed_filter *f)
{
    struct feed_stream *st;
    size_t i;

    if (!req->app->feed_hub) {
        response_error(res, req, ERR_UNAVAILABLE, "the live feed is not running");
        return;
    }
    response_header(res, "Cache-Control", "no-store");
    response_header(res, "X-Accel-Buffering", "no");
    if (req->is_head) {
        response_bytes(res, 200, "text/event-stream", "", 0);
        return;
    }
    st = xcalloc(1, sizeof(*st));
    for (i = 0; i < f->ntypes && i < FEED_STREAM_TYPES; i++)
        st->types[i] = xstrdup(f->types[i]);
    st->f.types = (const char *const *)st->types;
    st->f.ntypes = i;
    st->f.bucket = f->bucket ? xstrdup(f->bucket) : NULL;
    st->f.prefix = f->prefix ? xstrdup(f->prefix) : NULL;
    buf_init(&st->pending, 0);
    /* the client's reconnection delay, and a first line so the stream is seen open at once */
    buf_append_str(&st->pending, "retry: 2000\n: ingestd live feed\n\n");
    st->sub = feed_hub_join(req->app->feed_hub, after, &st->f);
    response_stream(res, 200, "text/event-stream", &feed_stream_ops, st);
}
