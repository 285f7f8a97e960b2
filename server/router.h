/*
 * router.h - method + path pattern matching
 *
 * A route pattern is a literal path whose segments may be `{name}`, which
 * matches one non-empty segment. When patterns of different shapes match a
 * path, the most literal one wins: at the first segment where they differ,
 * a literal segment beats `{name}` (so /api/v1/s3/events is never the
 * {id} of /api/v1/s3/{id}, whatever the methods). Only the routes of the
 * winning shape are considered. HEAD matches GET routes. A path whose
 * winning routes all have another method gives ROUTER_BAD_METHOD and the
 * list of allowed methods for the Allow header.
 */
#ifndef INGESTD_ROUTER_H
#define INGESTD_ROUTER_H

#include <stddef.h>

#include "handlers/request.h"

typedef void (*handler_fn)(struct request *req, struct response *res);

enum route_flags {
    ROUTE_INLINE = 1 << 0,    /* runs on the HTTP thread: no database, no blocking */
    ROUTE_BODY_CSV = 1 << 1,  /* text/csv or multipart/form-data body, gzip allowed */
    ROUTE_BODY_JSON = 1 << 2, /* optional application/json body */
    ROUTE_BODY_RAW = 1 << 3,  /* a CSV body under any or no Content-Type (curl -T), gzip allowed */
    ROUTE_LONG = 1 << 4,      /* may take minutes: runs on the long lane (server/http.c) */
};

struct route {
    const char *method;
    const char *pattern;
    handler_fn handler;
    unsigned flags;
    const char *scope; /* "read", "write", "admin" or NULL (open) */
};

enum router_result { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_BAD_METHOD };

/*
 * Match method and path against routes[0..n). On ROUTER_FOUND, *out is the
 * route and params[] point into `scratch` (a copy of path the caller owns,
 * at least strlen(path)+1 bytes). On ROUTER_BAD_METHOD, allow receives
 * e.g. "GET, HEAD, PUT".
 */
enum router_result router_match(const struct route *routes, size_t n, const char *method,
                                const char *path, char *scratch, const struct route **out,
                                const char **params, size_t *nparams, char *allow, size_t allowlen);

/* The route table of the service (server/routes.c). */
extern const struct route app_routes[];
extern const size_t app_routes_count;

#endif
