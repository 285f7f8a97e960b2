/*
 * cors.h - CORS for browser clients (INGESTD_CORS_ORIGINS)
 *
 * The configured list (config.h `cors_origins`: "*" or exact origins joined
 * by ','; NULL = CORS off) decides per request from its Origin header:
 *  - an allowed origin's responses carry Access-Control-Allow-Origin (the
 *    origin itself, or "*" when the list has "*"), Access-Control-Expose-
 *    Headers and Vary: Origin; any other origin gets no Access-Control-*
 *    header. With CORS on every response carries Vary: Origin.
 *  - a preflight (OPTIONS with Origin and Access-Control-Request-Method)
 *    from an allowed origin, on a path the router knows, is answered 204
 *    with Access-Control-Allow-Methods (the path's methods), -Allow-Headers
 *    (Authorization and the request headers the API reads) and -Max-Age,
 *    without authentication (browsers send no credentials on preflights).
 * Origins are compared byte for byte. Pure functions of their arguments; no
 * libmicrohttpd (server/http.c adds the headers). Thread-safe.
 */
#ifndef INGESTD_CORS_H
#define INGESTD_CORS_H

#include <stddef.h>

#include "handlers/request.h"

#define CORS_MAX_HEADERS 3
#define CORS_MAX_AGE_S 7200

struct cors_header {
    const char *name;
    const char *value; /* borrowed: static, or the request's Origin header */
};

/*
 * The headers every response to req gets under `origins`: into out, their
 * number returned (0 when origins is NULL).
 */
size_t cors_response_headers(const char *origins, const struct request *req,
                             struct cors_header out[CORS_MAX_HEADERS]);

/*
 * When req is a preflight from an allowed origin, fill res as its 204 (the
 * methods of `allow`, e.g. "GET, HEAD, POST") and return 1; else 0 and res
 * is untouched. The Access-Control-Allow-Origin comes from
 * cors_response_headers(), as for every response.
 */
int cors_preflight(const char *origins, const struct request *req, const char *allow,
                   struct response *res);

#endif
