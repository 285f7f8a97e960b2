/*
 * harness.h - helpers for the integration tests (prefix th_)
 *
 * Integration tests are cmocka programs that start their own PostgreSQL
 * (struct th_pg, an embedded_pg in a short temp dir under /tmp), run the real
 * ingestd binary (struct th_ingestd, INGESTD_BIN) and talk to it over real
 * loopback HTTP with libcurl (th_http and friends).
 *
 * Failure policy: helpers whose failure means the test cannot go on fail the
 * current cmocka test (fail_msg) instead of returning an error; the ones that
 * return a status say so. Call them from the test's thread only.
 * Ownership: every pointer returned is owned by the caller and released with
 * the function named in its comment; every pointer passed is borrowed.
 */
#ifndef INGESTD_TEST_HARNESS_H
#define INGESTD_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core/err.h"

/* ---- PostgreSQL ------------------------------------------------------ */

struct th_pg;

/* Start a fresh embedded PostgreSQL in a new /tmp/thpg.XXXXXX; fails the test on error. */
struct th_pg *th_pg_start(void);
/* libpq conninfo of the `ingestd` database (borrowed, valid until th_pg_free). */
const char *th_pg_url(const struct th_pg *pg);
/* The embedded_pg directory (borrowed): pgdata/, run/, postgres.log live under it. */
const char *th_pg_dir(const struct th_pg *pg);
/* Fast-shutdown the server and wait; fails the test on error. */
void th_pg_stop(struct th_pg *pg);
/* Start a stopped server again and wait until it accepts connections; fails the test on error. */
void th_pg_restart(struct th_pg *pg);
/* Stop the server if running and remove its directory; NULL-safe. */
void th_pg_free(struct th_pg *pg);
/*
 * Run `sql` on a new connection to the ingestd database. Returns the result
 * (PGRES_COMMAND_OK or PGRES_TUPLES_OK; the caller PQclear()s it); fails the
 * test on a connection error or any other result status.
 */
PGresult *th_pg_exec(const struct th_pg *pg, const char *sql);
/*
 * The first cell of the result of `sql` as a malloc'd string (caller frees),
 * or NULL when there is no row or the cell is SQL NULL; fails like th_pg_exec.
 */
char *th_pg_scalar(const struct th_pg *pg, const char *sql);
/* The first cell of the result of `sql` as a number; fails the test when there is none. */
long long th_pg_ll(const struct th_pg *pg, const char *sql);

/* ---- the ingestd binary ---------------------------------------------- */

struct th_ingestd;

/*
 * Run `INGESTD_BIN serve` in a new temp dir /tmp/thi.XXXXXX (traversable by
 * the postgres user) with a clean environment: INGESTD_LISTEN=127.0.0.1:0,
 * INGESTD_DATA_DIR=<tmp>/var, DATABASE_URL=database_url (unset when NULL:
 * embedded mode), and PATH, INGESTD_PG_BINDIR, ASAN_OPTIONS, UBSAN_OPTIONS,
 * LSAN_OPTIONS, TSAN_OPTIONS passed through when set. `env` adds "K=V" entries (NULL-
 * terminated, may be NULL); an entry overrides a default of the same name.
 * stdout and stderr go to <tmp>/ingestd.log. Waits up to 30 s for the
 * "msg":"listening" log line (takes its "port"), then until GET /healthz
 * answers 200. Fails the test (with the log's tail) when the binary exits or
 * does not get ready; the temp dir is kept then for inspection.
 * Free with th_ingestd_free.
 */
struct th_ingestd *th_ingestd_start(const char *database_url, const char *const *env);
/*
 * Start the binary again after th_ingestd_kill9/th_ingestd_term, with the
 * same environment and data directory (so the embedded PostgreSQL left by a
 * kill -9 is adopted); the log is appended to. Waits and fails like
 * th_ingestd_start; the port may change.
 */
void th_ingestd_restart(struct th_ingestd *p);
/* "http://127.0.0.1:PORT" of the running instance (borrowed). */
const char *th_ingestd_base(const struct th_ingestd *p);
/* The listening port of the running instance. */
int th_ingestd_port(const struct th_ingestd *p);
/* The process id of the running instance, or -1 when it has exited. */
pid_t th_ingestd_pid(const struct th_ingestd *p);
/* SIGKILL the process and reap it (no-op when it has exited). */
void th_ingestd_kill9(struct th_ingestd *p);
/*
 * SIGTERM the process and wait up to 30 s. Returns its exit code, or
 * 128 + signal when a signal ended it; fails the test (after SIGKILL) on
 * timeout. Returns the recorded status when it had exited already.
 */
int th_ingestd_term(struct th_ingestd *p);
/* Path of the log file (stdout + stderr of every run; borrowed). */
const char *th_ingestd_log(const struct th_ingestd *p);
/* INGESTD_DATA_DIR of the instance (borrowed). */
const char *th_ingestd_data_dir(const struct th_ingestd *p);
/*
 * Terminate the process if still running (SIGTERM, SIGKILL after 30 s), stop
 * an embedded PostgreSQL left in its data dir, remove the temp dir; NULL-safe.
 */
void th_ingestd_free(struct th_ingestd *p);

/* ---- HTTP ------------------------------------------------------------ */

/*
 * A response. `status` is 0 when no response arrived. `body` is exactly as
 * received (Content-Encoding is not decoded), NUL-terminated beyond `len`.
 * `headers` holds the raw header lines of the final response ("Name: value\r\n"
 * each, after the status line). Release with th_resp_release.
 */
struct th_resp {
    long status;
    char *body;
    size_t len;
    char *headers;
};

/*
 * Send one request over a new connection. `headers` are "Name: value" lines
 * (NULL-terminated, may be NULL); "Content-Type" and "Expect" are sent only
 * when given there. `body` NULL sends no body; otherwise `body_len` bytes with
 * a Content-Length. "HEAD" uses CURLOPT_NOBODY. Redirects are not followed;
 * proxies are not used; 60 s timeout. Fills *out (always, also on failure)
 * and returns 0, or the nonzero CURLcode of a transport failure (status 0).
 */
int th_http(const char *method, const char *url, const char *const *headers, const void *body,
            size_t body_len, struct th_resp *out);
/*
 * As th_http, but the body is sent with Transfer-Encoding: chunked (no
 * Content-Length), in chunks of at most `chunk_bytes` (0: as libcurl asks).
 */
int th_http_chunked(const char *method, const char *url, const char *const *headers,
                    const void *body, size_t body_len, size_t chunk_bytes, struct th_resp *out);
/* Value of the last header named `name` (case-insensitive), trimmed, malloc'd; NULL if absent. */
char *th_resp_header(const struct th_resp *r, const char *name);
/* The body parsed as JSON (caller json_decref()s); fails the test when it is not JSON. */
json_t *th_resp_json(const struct th_resp *r);
/* Free body and headers and zero *r; NULL-safe, idempotent. */
void th_resp_release(struct th_resp *r);

/*
 * base + path with th_http; fail the test on a transport failure. The result
 * is the caller's (th_resp_release). th_post_csv adds "Content-Type: text/csv"
 * and th_post_json "Content-Type: application/json" unless `headers` has one.
 */
struct th_resp th_request(const char *method, const char *base, const char *path,
                          const char *const *headers, const void *body, size_t body_len);
struct th_resp th_get(const char *base, const char *path, const char *const *headers);
struct th_resp th_post_csv(const char *base, const char *path, const char *csv,
                           const char *const *headers);
struct th_resp th_post_json(const char *base, const char *path, const char *json,
                            const char *const *headers);

/* ---- files ----------------------------------------------------------- */

/* Whole file as a malloc'd, NUL-terminated buffer (caller frees); *len if non-NULL. Fails the
 * test when it cannot be read. */
char *th_read_file(const char *path, size_t *len);

/* ---- s3rver (harness_s3rver.c) ----------------------------------------- */

/*
 * Start s3rver from the project-local npm install (tests/s3rver; S3RVER_JS
 * in the environment overrides the path of s3rver.js) in a new temp dir
 * /tmp/ts3.XXXXXX on 127.0.0.1 with a free port, creating each bucket of
 * `buckets` (NULL-terminated, at most 8, may be NULL). Waits up to 30 s for
 * its port, then sets AWS_ENDPOINT_URL, AWS_REGION=us-east-1 and
 * AWS_ACCESS_KEY_ID = AWS_SECRET_ACCESS_KEY = S3RVER and unsets
 * AWS_SESSION_TOKEN in this process. Returns 0, or -1 after printing why
 * (for a group setup to return); call th_s3rver_free either way. One s3rver
 * per process.
 */
int th_s3rver_start(const char *const *buckets);
/* "http://127.0.0.1:PORT" of the running s3rver (borrowed; "" before a start). */
const char *th_s3rver_endpoint(void);
/* SIGTERM and reap s3rver, remove its temp dir; a no-op when not started. */
void th_s3rver_free(void);
/*
 * PUT an object with c, then wait (up to 5 s) until it reads back whole:
 * s3rver answers a PUT once the body has passed through, before its file
 * is closed, so a GET right after may read the object short.
 */
struct s3_client;
enum err th_s3rver_put(struct s3_client *c, const char *bucket, const char *key, const void *body,
                       size_t len, char *errbuf, size_t errlen);
/*
 * The repository root (malloc'd): INGESTD_SOURCE_DIR when defined, else
 * derived from __FILE__ (CMake compiles with absolute paths), else ".".
 */
char *th_source_dir(void);

/* ---- the SQS server (harness_sqs.c) ---------------------------------------- */

/*
 * Start fauxqs (tests/sqs/server.mjs, from `npm ci` in tests/sqs) on
 * 127.0.0.1 with a free port; it speaks the AWS JSON 1.0 protocol. With
 * credentials "KEY:SECRET" every request must be SigV4-signed (service sqs) by
 * that key, checked with the AWS SDK's signer (else 403 SignatureDoesNotMatch,
 * InvalidClientTokenId or IncompleteSignature); NULL checks nothing. Its queue
 * URLs name the host sqs.REGION.localhost, which does not resolve: clients
 * send to th_sqs_endpoint() (AWS_ENDPOINT_URL_SQS). Returns 0, or -1 after
 * printing why (for a group setup to return); call th_sqs_free either way.
 * One server per process.
 */
int th_sqs_start(const char *credentials);
/* "http://127.0.0.1:PORT" of the running server (borrowed; "" before a start). */
const char *th_sqs_endpoint(void);
/* Stop and reap the server; a no-op when not started. */
void th_sqs_free(void);

/* ---- one PostgreSQL and one ingestd per test (harness_util.c) ------------- */

/*
 * The state of a cmocka test that runs one ingestd on its own PostgreSQL:
 * th_one_setup/th_one_teardown as the test's setup and teardown, then
 * th_one_start() in the test (env: extra NAME=value settings, NULL-ended,
 * or NULL). Teardown stops both, also after a failed test.
 */
struct th_one {
    struct th_pg *pg;
    struct th_ingestd *srv;
};

int th_one_setup(void **state);
int th_one_teardown(void **state);
struct th_ingestd *th_one_start(void **state, const char *const *env);

/* ---- small helpers (harness_util.c) ------------------------------------- */

/* printf into a new malloc'd string ("" for empty output; caller frees). */
char *th_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Run `cmd` with /bin/sh and return its stdout (malloc'd, NUL-terminated;
 * add 2>&1 to the command for stderr). *exit_status (when not NULL) gets the
 * exit code, or -1 when the command did not exit normally.
 */
char *th_run(const char *cmd, int *exit_status);
/* The SHA-256 of data[0..len) as 64 lower-case hex digits and a NUL. */
void th_sha256_hex(const void *data, size_t len, char out[65]);
/* CLOCK_MONOTONIC in milliseconds. */
long th_now_ms(void);
/* Sleep `ms` milliseconds, resuming after signals. */
void th_sleep_ms(long ms);
/* 1 when `s` is a lower-case hex UUID (8-4-4-4-12), else 0; NULL gives 0. */
int th_is_uuid(const char *s);
/* 1 when `s` is RFC 3339 UTC with milliseconds (2026-11-21T10:15:30.123Z), else 0. */
int th_is_ts(const char *s);
/* The string member `key` of `o` (borrowed); fails the test when it is not a string. */
const char *th_jstr(json_t *o, const char *key);
/* The integer member `key` of `o`; fails the test when it is not an integer. */
json_int_t th_jint(json_t *o, const char *key);

/* ---- fault-injection proxy (harness_proxy.c) ----------------------------- */

/*
 * A loopback TCP proxy in a thread of the test: it listens on 127.0.0.1 (a
 * free port) and connects every client to an upstream Unix socket (an
 * embedded PostgreSQL's), copying bytes both ways in the current mode:
 */
enum th_proxy_mode {
    TH_PROXY_PASS,      /* copy as they come */
    TH_PROXY_DELAY,     /* sleep arg ms before each chunk copied */
    TH_PROXY_DROP,      /* copy and read nothing (a partition) until the mode changes */
    TH_PROXY_TRUNCATE,  /* copy arg more bytes client -> upstream, then reset all, then pass */
    TH_PROXY_CUT_REPLY, /* copy arg more bytes upstream -> client, then reset all, then pass */
    TH_PROXY_HTTP_503,  /* close what is open; answer the next arg new connections an HTTP
                           503 (after the request head) and close them; then pass */
};
struct th_proxy;

/* Start a proxy to the Unix socket at socket_path; fails the test on error. th_proxy_free. */
struct th_proxy *th_proxy_start_unix(const char *socket_path);
/* The same to 127.0.0.1:port over TCP (s3rver, an HTTP receiver). */
struct th_proxy *th_proxy_start_tcp(int port);
/* Connections answered 503 so far (TH_PROXY_HTTP_503). */
long th_proxy_answered_503(struct th_proxy *p);
/* The port it listens on (127.0.0.1). */
int th_proxy_port(const struct th_proxy *p);
/* Change the mode (applied within 10 ms; TRUNCATE's budget starts now). */
void th_proxy_set(struct th_proxy *p, enum th_proxy_mode mode, long arg);
/* The current mode (TRUNCATE turns back to PASS once it has cut). */
enum th_proxy_mode th_proxy_mode(struct th_proxy *p);
/* Reset every open connection (RST to the client, close upstream); returns once done. */
void th_proxy_reset_all(struct th_proxy *p);
/* Connections accepted, and connections reset, so far. */
long th_proxy_accepted(struct th_proxy *p);
long th_proxy_resets(struct th_proxy *p);
/* Stop the thread, reset what is open, free; NULL-safe. */
void th_proxy_free(struct th_proxy *p);

#endif
