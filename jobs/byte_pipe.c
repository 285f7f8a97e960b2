/*
 * byte_pipe.c - bytes handed from one thread to a sink running on another
 *
 * A ring of `depth` chunk buffers between the writer and the sink's thread,
 * one mutex and one condition variable for both directions. The writer
 * fills its own chunk (`fill`) and moves it into the ring when full,
 * taking back an emptied buffer, so buffers are reused and the bytes are
 * copied once. Invariants: 0 <= count <= depth; once `failed` is set the
 * sink takes no more chunks; `done` is set once, by byte_pipe_finish().
 */
#include "jobs/byte_pipe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/thread.h"

struct byte_pipe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct buf *ring; /* depth chunks; [head, head + count) wait for the sink */
    int depth;
    int head;
    int count;
    int done;   /* the writer handed over everything it will */
    int abort;  /* ... and wants what waits dropped */
    int failed; /* the sink returned rc */
    enum err rc;
    char errbuf[ERRBUF_SIZE];
    size_t chunk;
    struct buf fill; /* the writer's chunk being filled */
    byte_sink_fn sink;
    void *ctx;
    struct thread *thread;
};

static void
sink_main(struct thread *t, void *arg)
{
    struct byte_pipe *p = arg;
    struct buf take;
    enum err rc;
    char errbuf[ERRBUF_SIZE];

    (void)t;
    buf_init(&take, 0);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->count == 0 && !p->done)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->count == 0 || p->abort) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        /* take the oldest chunk; leave an empty buffer in its place */
        buf_reset(&take);
        {
            struct buf tmp = p->ring[p->head];

            p->ring[p->head] = take;
            take = tmp;
        }
        p->head = (p->head + 1) % p->depth;
        p->count--;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        errbuf[0] = '\0';
        rc = p->sink(p->ctx, take.data ? take.data : "", take.len, errbuf, sizeof(errbuf));
        if (rc) {
            pthread_mutex_lock(&p->lock);
            p->failed = 1;
            p->rc = rc;
            snprintf(p->errbuf, sizeof(p->errbuf), "%s", errbuf);
            pthread_cond_broadcast(&p->cond);
            pthread_mutex_unlock(&p->lock);
            break;
        }
    }
    buf_release(&take);
}

struct byte_pipe *
byte_pipe_start(byte_sink_fn sink, void *ctx, size_t chunk, int depth)
{
    struct byte_pipe *p = xcalloc(1, sizeof(*p));
    int i;

    p->depth = depth > 0 ? depth : 1;
    p->chunk = chunk > 0 ? chunk : 1;
    p->ring = xcalloc((size_t)p->depth, sizeof(*p->ring));
    for (i = 0; i < p->depth; i++)
        buf_init(&p->ring[i], 0);
    buf_init(&p->fill, 0);
    p->sink = sink;
    p->ctx = ctx;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->thread = thread_start(1, sink_main, p);
    return p;
}

/* The sink's error, copied for the writer; call with the lock held. */
static enum err
sink_error(struct byte_pipe *p, char *errbuf, size_t errlen)
{
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", p->errbuf);
    return p->rc;
}

/* Move the writer's chunk into the ring (waiting for room); the sink's error if it failed. */
static enum err
hand_over(struct byte_pipe *p, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;
    int tail;

    pthread_mutex_lock(&p->lock);
    while (p->count == p->depth && !p->failed)
        pthread_cond_wait(&p->cond, &p->lock);
    if (p->failed) {
        rc = sink_error(p, errbuf, errlen);
    } else {
        struct buf tmp;

        tail = (p->head + p->count) % p->depth;
        tmp = p->ring[tail];
        p->ring[tail] = p->fill;
        p->fill = tmp;
        buf_reset(&p->fill);
        p->count++;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

enum err
byte_pipe_write(void *pipe, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct byte_pipe *p = pipe;
    enum err rc = ERR_OK;

    while (len > 0) {
        size_t room = p->chunk - p->fill.len;
        size_t n = len < room ? len : room;

        buf_append(&p->fill, data, n);
        data += n;
        len -= n;
        if (p->fill.len == p->chunk) {
            rc = hand_over(p, errbuf, errlen);
            if (rc)
                return rc;
        }
    }
    /* a failed sink is reported at once, not only when a chunk fills */
    pthread_mutex_lock(&p->lock);
    if (p->failed)
        rc = sink_error(p, errbuf, errlen);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

enum err
byte_pipe_finish(struct byte_pipe *p, int abort, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;
    int i;

    if (!p)
        return ERR_OK;
    if (!abort && p->fill.len > 0)
        rc = hand_over(p, errbuf, errlen);
    pthread_mutex_lock(&p->lock);
    p->done = 1;
    p->abort = abort || rc != ERR_OK;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    thread_join(p->thread);
    if (!rc && p->failed && !abort)
        rc = sink_error(p, errbuf, errlen);
    for (i = 0; i < p->depth; i++)
        buf_release(&p->ring[i]);
    free(p->ring);
    buf_release(&p->fill);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return rc;
}
