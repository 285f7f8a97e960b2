/*
 * harness_sse.h - a server-sent events client for the integration tests
 *
 * A plain socket (no library between the test and the bytes): sends one
 * GET over HTTP/1.1, reads the status and headers, decodes the chunked
 * body and splits it into events and comments as WHATWG HTML 9.2 says.
 * The receive buffer can be made small and reading paused, to play a slow
 * subscriber.
 */
#ifndef INGESTD_HARNESS_SSE_H
#define INGESTD_HARNESS_SSE_H

#include <stddef.h>

struct th_sse;

struct th_sse_event {
    long long id; /* -1 when the event had no id: line */
    char event[128];
    char *data; /* malloc'd, the data: lines joined by \n */
};

/*
 * Connect to 127.0.0.1:port, send GET path with the extra header lines
 * (NULL-terminated, may be NULL) and read the response head. rcvbuf > 0
 * sets SO_RCVBUF first. Fails the test when no 200 text/event-stream
 * answer comes within 10 s.
 */
struct th_sse *th_sse_open(int port, const char *path, const char *const *headers, int rcvbuf);
/*
 * The next event within timeout_ms: 1 (*ev filled; free ev->data), 0 on
 * timeout, -1 at the end of the stream. Comments are counted, not returned.
 */
int th_sse_next(struct th_sse *s, struct th_sse_event *ev, long timeout_ms);
/* Comment lines (": ...") seen so far. */
long th_sse_comments(const struct th_sse *s);
/* Close and free; NULL-safe. */
void th_sse_close(struct th_sse *s);

#endif
