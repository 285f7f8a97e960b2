/*
 * http_respond.c - the HTTP adapter's responses: in memory, shared, streamed
 *
 * A handler's struct response (handlers/request.h) becomes a libmicrohttpd
 * response here; a stream (server-sent events) is read through a callback
 * that parks the connection while the stream waits and hands fetches to the
 * workers.
 */
#include "server/http_exchange.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "handlers/app.h"
#include "server/cors.h"

/* ---- responses ---- */

static ssize_t
no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static void
release_shared(void *cls)
{
    struct response *holder = cls;

    holder->shared_release(holder->shared_ctx);
    free(holder);
}

/*
 * A body of several slices. Up to HTTP_IOV_MAX slices go out with
 * sendmsg() straight from them (libmicrohttpd copies the vector, not the
 * bytes). libmicrohttpd 0.9.75 stalls a vector longer than IOV_MAX after
 * its first full sendmsg() (it waits for a write edge that never comes), so
 * a longer one is read into libmicrohttpd's buffer by slice_read() instead.
 * The holder's release runs when the response is destroyed, or now if it
 * cannot be made.
 */
struct slice_reader {
    struct response *holder;
    const struct body_slice *iov;
    size_t n;
    size_t i;     /* the slice at pos */
    size_t off;   /* pos's offset in it */
    uint64_t pos; /* the next byte libmicrohttpd asks for */
};

static ssize_t
slice_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct slice_reader *r = cls;
    size_t done = 0;

    if (pos != r->pos) { /* libmicrohttpd reads in order; find pos anyway */
        uint64_t at = 0;

        for (r->i = 0; r->i < r->n && at + r->iov[r->i].len <= pos; r->i++)
            at += r->iov[r->i].len;
        r->off = (size_t)(pos - at);
        r->pos = pos;
    }
    while (done < max && r->i < r->n) {
        size_t k = r->iov[r->i].len - r->off;

        if (k > max - done)
            k = max - done;
        memcpy(buf + done, (const char *)r->iov[r->i].base + r->off, k);
        done += k;
        r->off += k;
        if (r->off == r->iov[r->i].len) {
            r->i++;
            r->off = 0;
        }
    }
    if (!done)
        return MHD_CONTENT_READER_END_OF_STREAM;
    r->pos += done;
    return (ssize_t)done;
}

static void
slice_reader_free(void *cls)
{
    struct slice_reader *r = cls;

    release_shared(r->holder);
    free(r);
}

static struct MHD_Response *
shared_iov_response(const struct response *res, struct response *holder)
{
    struct MHD_IoVec *iov;
    struct MHD_Response *mr = NULL;
    size_t i;

    if (res->shared_iovcnt > HTTP_IOV_MAX) {
        struct slice_reader *r = xcalloc(1, sizeof(*r));

        r->holder = holder;
        r->iov = res->shared_iov;
        r->n = res->shared_iovcnt;
        mr = MHD_create_response_from_callback(res->shared_len, HTTP_SLICE_READ, slice_read, r,
                                               slice_reader_free);
        if (!mr)
            slice_reader_free(r);
        return mr;
    }
    iov = xmalloc((res->shared_iovcnt ? res->shared_iovcnt : 1) * sizeof(*iov));
    for (i = 0; i < res->shared_iovcnt; i++) {
        iov[i].iov_base = res->shared_iov[i].base;
        iov[i].iov_len = res->shared_iov[i].len;
    }
    mr = MHD_create_response_from_iovec(iov, (unsigned int)res->shared_iovcnt, release_shared,
                                        holder);
    free(iov);
    if (!mr)
        release_shared(holder);
    return mr;
}

/* CORS (cors.h): Vary: Origin, and for an allowed Origin its Access-Control-* headers. */
static void
add_cors_headers(struct exchange *ex, struct MHD_Response *mr)
{
    struct cors_header h[CORS_MAX_HEADERS];
    size_t n = cors_response_headers(ex->srv->app->cfg->cors_origins, &ex->req, h);
    size_t i;

    for (i = 0; i < n; i++)
        MHD_add_response_header(mr, h[i].name, h[i].value);
}

/* ---- streamed responses (handlers/request.h struct stream_ops) ---- */

static void
stream_suspend(void *cls)
{
    MHD_suspend_connection(((struct exchange *)cls)->conn);
}

static void
stream_resume(void *cls)
{
    MHD_resume_connection(((struct exchange *)cls)->conn);
}

/* Worker: what the stream asked for, then back to the I/O thread. */
static void
run_stream_fetch(struct job *job, struct db *db)
{
    struct exchange *ex = (struct exchange *)job;

    ex->res.stream_ops->fetch(ex->res.stream_ctx, db);
    MHD_resume_connection(ex->conn);
}

/*
 * A parked stream's unused write buffer back to the kernel. libmicrohttpd
 * hands the reader the free rest of the connection's 128 KiB pool, most of
 * it zeroed (so resident) when the read buffer shrank after the request;
 * an idle subscriber would keep ~70 KiB for nothing. The whole pages of
 * buf[n, max) are ours until the reader returns and hold no data:
 * MADV_DONTNEED makes them zero pages again, which is what they held.
 */
static void
stream_trim(char *buf, size_t n, size_t max)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)buf + n + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)buf + max) & ~(page - 1);

    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static ssize_t
stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct exchange *ex = cls;
    size_t n = 0;

    (void)pos;
    if (ex->stream_failed)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    switch (ex->res.stream_ops->read(ex->res.stream_ctx, &ex->link, buf,
                                     max < HTTP_STREAM_CHUNK ? max : HTTP_STREAM_CHUNK, &n)) {
    case STREAM_DATA:
        ex->stream_bytes += n;
        return (ssize_t)n;
    case STREAM_WAIT:
        stream_trim(buf, 0, max);
        return 0; /* suspended by the stream; resumed when it has more */
    case STREAM_FETCH:
        MHD_suspend_connection(ex->conn);
        ex->job.run = run_stream_fetch;
        if (workers_submit(ex->srv->workers, &ex->job)) {
            ex->stream_failed = 1;
            MHD_resume_connection(ex->conn);
        }
        return 0;
    case STREAM_END:
        break;
    }
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* A stream's response: chunked, unknown length, closed at its end. */
static struct MHD_Response *
stream_response(struct exchange *ex)
{
    const union MHD_ConnectionInfo *ci;
    int sndbuf = HTTP_STREAM_SNDBUF;

    ex->link.suspend = stream_suspend;
    ex->link.resume = stream_resume;
    ex->link.cls = ex;
    ci = MHD_get_connection_info(ex->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    ex->close_now = 1;
    return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256, stream_reader, ex, NULL);
}

enum MHD_Result
http_queue(struct exchange *ex)
{
    struct response *res = &ex->res;
    struct MHD_Response *mr;
    enum MHD_Result ok;
    size_t i;

    if (res->status == 0)
        response_error(res, &ex->req, ERR_INTERNAL, NULL);
    if (res->stream_ops) {
        mr = stream_response(ex);
    } else if (res->shared_release) {
        /* hand the shared body's reference to libmicrohttpd */
        struct response *holder = xcalloc(1, sizeof(*holder));

        holder->shared_release = res->shared_release;
        holder->shared_ctx = res->shared_ctx;
        res->shared_release = NULL;
        if (res->shared_iov)
            mr = shared_iov_response(res, holder);
        else
            mr = MHD_create_response_from_buffer_with_free_callback_cls(
                res->shared_len, (void *)(uintptr_t)res->shared_data, release_shared, holder);
    } else if (res->status == 204) {
        /* libmicrohttpd sends no body and no framing headers for a 204 */
        mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else if (res->status == 304) {
        /*
         * libmicrohttpd never sends a 304's body but states its size; a
         * known size (never chunked, whose terminator would be sent) that
         * equals the 200's length, as RFC 9110 8.6 requires of it.
         */
        mr = MHD_create_response_from_callback(res->not_modified_len, 4096, no_body, NULL, NULL);
    } else {
        size_t len = 0;
        char *data = buf_take(&res->body, &len);

        mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        res->shared_len = len; /* for the log line */
    }
    if (!mr)
        return MHD_NO;
    if (res->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    for (i = 0; i < res->nheaders; i++)
        MHD_add_response_header(mr, res->headers[i].name, res->headers[i].value);
    add_cors_headers(ex, mr);
    MHD_add_response_header(mr, "X-Request-Id", ex->request_id);
    if (ex->close_now)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    ok = MHD_queue_response(ex->conn, (unsigned int)res->status, mr);
    MHD_destroy_response(mr);
    ex->state = EX_RESPONDED;
    return ok;
}
