/*
 * cors.c - CORS for browser clients (cors.h)
 */
#include "server/cors.h"

#include <stdio.h>
#include <string.h>

/* Request headers a browser client may send (besides the CORS-safelisted ones). */
static const char allow_headers[] =
    "Authorization, Content-Type, Content-Encoding, Idempotency-Key, If-Match, If-None-Match, "
    "X-Event-Source, X-Request-Id";

/* Response headers a browser client may read (besides the CORS-safelisted ones). */
static const char expose_headers[] =
    "Location, ETag, X-Request-Id, X-Generation, Retry-After, WWW-Authenticate, Allow";

/*
 * The Access-Control-Allow-Origin value for `origin` under the list
 * `origins` ("*" or exact origins joined by ','), or NULL when it is not
 * allowed.
 */
static const char *
allowed(const char *origins, const char *origin)
{
    const char *p = origins;
    size_t n = origin ? strlen(origin) : 0;

    if (!origins || n == 0)
        return NULL;
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (len == 1 && *p == '*')
            return "*";
        if (len == n && memcmp(p, origin, n) == 0)
            return origin;
        p = comma ? comma + 1 : NULL;
    }
    return NULL;
}

size_t
cors_response_headers(const char *origins, const struct request *req,
                      struct cors_header out[CORS_MAX_HEADERS])
{
    const char *allow;
    size_t n = 0;

    if (!origins)
        return 0;
    out[n].name = "Vary";
    out[n++].value = "Origin";
    allow = allowed(origins, request_header(req, "Origin"));
    if (!allow)
        return n;
    out[n].name = "Access-Control-Allow-Origin";
    out[n++].value = allow;
    out[n].name = "Access-Control-Expose-Headers";
    out[n++].value = expose_headers;
    return n;
}

int
cors_preflight(const char *origins, const struct request *req, const char *allow,
               struct response *res)
{
    if (strcmp(req->method, "OPTIONS") != 0 ||
        !request_header(req, "Access-Control-Request-Method"))
        return 0;
    if (!allowed(origins, request_header(req, "Origin")))
        return 0;
    res->status = 204;
    response_header(res, "Access-Control-Allow-Methods", "%s", allow);
    response_header(res, "Access-Control-Allow-Headers", "%s", allow_headers);
    response_header(res, "Access-Control-Max-Age", "%d", CORS_MAX_AGE_S);
    return 1;
}
