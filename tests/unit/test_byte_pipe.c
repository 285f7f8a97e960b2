/*
 * test_byte_pipe.c - jobs/byte_pipe.h: every byte, in order, on the sink's
 * own thread, for every write size against every chunk size and depth; the
 * sink's error reaches the writer (while writing and at the finish) with its
 * message; an abort drops what waits; memory stays bounded however slow the
 * sink is (the writer blocks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "jobs/byte_pipe.h"

struct sink {
    struct buf got;
    pthread_t writer;
    int other_thread; /* every call ran on a thread other than the writer's */
    int calls;
    int fail_at; /* fail on this call (1-based), 0: never */
    int slow_us; /* sleep this long per call */
    size_t max_chunk;
};

static enum err
sink_fn(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct sink *s = ctx;

    s->calls++;
    if (pthread_equal(pthread_self(), s->writer))
        s->other_thread = 0;
    if (len > s->max_chunk)
        s->max_chunk = len;
    if (s->slow_us) {
        struct timespec ts = {0, (long)s->slow_us * 1000};

        nanosleep(&ts, NULL);
    }
    if (s->fail_at && s->calls == s->fail_at)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %d: bad", s->calls);
    buf_append(&s->got, data, len);
    return ERR_OK;
}

static void
sink_init(struct sink *s)
{
    memset(s, 0, sizeof(*s));
    buf_init(&s->got, 0);
    s->writer = pthread_self();
    s->other_thread = 1;
}

static char *
pattern(size_t n)
{
    char *p = malloc(n);
    size_t i;
    uint32_t x = 12345;

    for (i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (char)(x >> 16);
    }
    return p;
}

/* All of it, in order, whatever the write size, chunk size and depth. */
static void
test_every_byte_in_order(void **state)
{
    static const size_t chunks[] = {1, 7, 4096, 65536};
    static const int depths[] = {1, 3};
    static const size_t writes[] = {1, 2, 3, 5, 13, 1000, 4095, 4096, 4097, 100000};
    const size_t most = 200000;
    char *data = pattern(most);
    char errbuf[ERRBUF_SIZE];
    size_t c, d, w;

    (void)state;
    for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
        for (d = 0; d < sizeof(depths) / sizeof(depths[0]); d++)
            for (w = 0; w < sizeof(writes) / sizeof(writes[0]); w++) {
                struct sink s;
                struct byte_pipe *p;
                size_t off = 0;
                /* tiny chunks are a thread hand-off each: fewer bytes through them */
                size_t total = chunks[c] < 100 ? 5000 : most;

                sink_init(&s);
                p = byte_pipe_start(sink_fn, &s, chunks[c], depths[d]);
                while (off < total) {
                    size_t n = total - off < writes[w] ? total - off : writes[w];

                    assert_int_equal(byte_pipe_write(p, data + off, n, errbuf, sizeof(errbuf)),
                                     ERR_OK);
                    off += n;
                }
                assert_int_equal(byte_pipe_finish(p, 0, errbuf, sizeof(errbuf)), ERR_OK);
                assert_int_equal(s.got.len, total);
                assert_memory_equal(s.got.data, data, total);
                assert_true(s.other_thread);
                assert_true(s.max_chunk <= chunks[c]);
                buf_release(&s.got);
            }
    free(data);
}

/* Nothing written: the sink is never called, the finish is clean. */
static void
test_empty(void **state)
{
    struct sink s;
    char errbuf[ERRBUF_SIZE];

    (void)state;
    sink_init(&s);
    assert_int_equal(
        byte_pipe_finish(byte_pipe_start(sink_fn, &s, 16, 2), 0, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(s.calls, 0);
    assert_int_equal(byte_pipe_finish(NULL, 0, errbuf, sizeof(errbuf)), ERR_OK);
    buf_release(&s.got);
}

/* The sink's error stops the writer with the sink's code and message. */
static void
test_sink_error_reaches_writer(void **state)
{
    char data[100];
    char errbuf[ERRBUF_SIZE];
    struct sink s;
    struct byte_pipe *p;
    enum err rc = ERR_OK;
    int i;

    (void)state;
    memset(data, 'x', sizeof(data));
    sink_init(&s);
    s.fail_at = 3;
    p = byte_pipe_start(sink_fn, &s, 10, 2);
    for (i = 0; i < 10000 && !rc; i++)
        rc = byte_pipe_write(p, data, sizeof(data), errbuf, sizeof(errbuf));
    assert_int_equal(rc, ERR_BAD_INPUT);
    assert_string_equal(errbuf, "line 3: bad");
    errbuf[0] = '\0';
    assert_int_equal(byte_pipe_finish(p, 0, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "line 3: bad");
    assert_int_equal(s.calls, 3); /* no chunk after the failure */
    assert_int_equal(s.got.len, 20);
    buf_release(&s.got);
}

/* An error on the last partial chunk is the finish's. */
static void
test_sink_error_at_finish(void **state)
{
    char errbuf[ERRBUF_SIZE];
    struct sink s;
    struct byte_pipe *p;

    (void)state;
    sink_init(&s);
    s.fail_at = 1;
    p = byte_pipe_start(sink_fn, &s, 1000, 2);
    assert_int_equal(byte_pipe_write(p, "abc", 3, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(byte_pipe_finish(p, 0, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
    assert_string_equal(errbuf, "line 1: bad");
    buf_release(&s.got);
}

/* A slow sink blocks the writer at depth full chunks; an abort drops what waits. */
static void
test_slow_sink_blocks_then_abort(void **state)
{
    char data[64];
    char errbuf[ERRBUF_SIZE];
    struct sink s;
    struct byte_pipe *p;
    struct timespec t0, t1;
    double secs;
    int i;

    (void)state;
    memset(data, 'y', sizeof(data));
    sink_init(&s);
    s.slow_us = 20000;
    p = byte_pipe_start(sink_fn, &s, 64, 2);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < 10; i++)
        assert_int_equal(byte_pipe_write(p, data, sizeof(data), errbuf, sizeof(errbuf)), ERR_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* ten chunks through a 2-deep ring at 20 ms each: the writer waited for at least 7 */
    assert_true(secs >= 0.12);
    assert_int_equal(byte_pipe_finish(p, 1, errbuf, sizeof(errbuf)), ERR_OK);
    assert_true(s.calls < 10);
    assert_int_equal(s.got.len % sizeof(data), 0);
    buf_release(&s.got);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte_in_order),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_sink_error_reaches_writer),
        cmocka_unit_test(test_sink_error_at_finish),
        cmocka_unit_test(test_slow_sink_blocks_then_abort),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
