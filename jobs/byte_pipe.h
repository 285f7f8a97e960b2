/*
 * byte_pipe.h - bytes handed from one thread to a sink running on another
 *
 * A stream that is decompressed and then parsed spends its time in two
 * places; run in one thread, the two add up. byte_pipe_start() starts a
 * thread that feeds every byte written to the pipe, in order, to sink(ctx,
 * ...): the writer (which decompresses) and the sink (which parses) then
 * run at once, on two cores when there are two.
 *
 * Bytes are gathered into chunks of `chunk` bytes; at most `depth` full
 * chunks wait for the sink, then byte_pipe_write() blocks (memory stays
 * bounded: (depth + 2) * chunk). The first error of the sink stops it:
 * the next byte_pipe_write() returns that error and its message, and so
 * does byte_pipe_finish(). byte_pipe_finish() hands over the last partial
 * chunk, waits for the sink to take everything (or, with `abort`, drops
 * what waits), joins the thread and frees the pipe; after it returns, the
 * writer's thread may use what the sink used (the join orders them).
 *
 * Thread-safety: one writer thread; the sink runs on the pipe's thread.
 */
#ifndef INGESTD_BYTE_PIPE_H
#define INGESTD_BYTE_PIPE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

struct byte_pipe;

/* Start the sink's thread; chunk >= 1, depth >= 1. Aborts when the thread cannot start. */
struct byte_pipe *byte_pipe_start(byte_sink_fn sink, void *ctx, size_t chunk, int depth);
/* A byte_sink_fn (ctx: the pipe): queue data for the sink. */
enum err byte_pipe_write(void *pipe, const char *data, size_t len, char *errbuf, size_t errlen);
/*
 * Hand over the rest (abort: drop it and what waits), join, free. Returns the
 * sink's first error with its message in errbuf, or ERR_OK. NULL-safe.
 */
enum err byte_pipe_finish(struct byte_pipe *p, int abort, char *errbuf, size_t errlen);

#endif
