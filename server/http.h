/*
 * http.h - the HTTP adapter (the only code that sees libmicrohttpd)
 *
 * Accepts connections on an epoll thread pool, matches routes (404, 405 +
 * Allow), checks media types and sizes on the first callback, decodes the
 * body while it arrives, then runs the handler: inline handlers on the I/O
 * thread, all others on the worker pool with the connection suspended
 * meanwhile. Adds X-Request-Id to every response and logs one JSON line per
 * request.
 */
#ifndef INGESTD_HTTP_H
#define INGESTD_HTTP_H

#include "handlers/app.h"
#include "core/err.h"
#include "jobs/workers.h"

struct http_server;

/*
 * Listen as cfg says (INGESTD_LISTEN, connection caps, timeouts). Requests
 * run on `workers`, those of ROUTE_LONG routes on `long_lane` (at most
 * INGESTD_LONG_WORKERS + INGESTD_LONG_QUEUE at once, 503 past it); both
 * are borrowed and must outlive the server's requests.
 */
enum err http_server_start(struct http_server **out, struct app *app, struct workers *workers,
                           struct workers *long_lane, char *errbuf, size_t errlen);
/* The bound TCP port (useful with port 0). */
int http_server_port(const struct http_server *srv);
/* Stop accepting new connections; in-flight requests go on. */
void http_server_quiesce(struct http_server *srv);
/* Requests accepted and not yet completed. */
int http_server_inflight(struct http_server *srv);
/* Close every connection and free; NULL-safe. Call after the workers stopped. */
void http_server_stop(struct http_server *srv);

#endif
