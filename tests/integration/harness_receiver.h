/*
 * harness_receiver.h - a tiny HTTP receiver on loopback for export tests
 *
 * One thread accepts connections on 127.0.0.1 (a free port), one request
 * per connection: it reads the request line, the headers and a
 * Content-Length body (answering Expect: 100-continue), records the
 * request and answers with the status set by th_receiver_answer() after
 * the delay set there. Everything recorded is kept until th_receiver_free.
 * Thread-safe: the test thread reads while the receiver thread records.
 */
#ifndef INGESTD_TEST_HARNESS_RECEIVER_H
#define INGESTD_TEST_HARNESS_RECEIVER_H

#include <stddef.h>

#define TH_RECEIVER_MAX 256

/* One recorded request (strings malloc'd by the receiver, NUL-terminated). */
struct th_received {
    char *method;
    char *path;
    char *authorization; /* the Authorization header's value, or NULL */
    char *body;
    size_t len;
};

struct th_receiver;

/* Start on 127.0.0.1:0; answers 201 at once until told otherwise. Fails the test on error. */
struct th_receiver *th_receiver_start(void);
/* "http://127.0.0.1:PORT" (borrowed). */
const char *th_receiver_base(const struct th_receiver *r);
/* The status of every answer from now on, and a delay before it (ms). */
void th_receiver_answer(struct th_receiver *r, int status, long delay_ms);
/* How many requests were recorded (whatever the answer). */
size_t th_receiver_count(struct th_receiver *r);
/* A copy of request i (caller releases with th_received_release); fails the test when absent. */
struct th_received th_receiver_get(struct th_receiver *r, size_t i);
void th_received_release(struct th_received *q);
/* Stop the thread, free everything; NULL-safe. */
void th_receiver_free(struct th_receiver *r);

#endif
