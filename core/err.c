/*
 * err.c - error buffer helper and status mapping
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

enum err
err_set(enum err rc, char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!errbuf || errlen == 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

int
err_http_status(enum err rc)
{
    switch (rc) {
    case ERR_OK:
        return 200;
    case ERR_BAD_INPUT:
        return 400;
    case ERR_TOO_LARGE:
        return 413;
    case ERR_UNSUPPORTED:
        return 415;
    case ERR_NOT_FOUND:
        return 404;
    case ERR_CONFLICT:
        return 409;
    case ERR_PRECONDITION:
        return 412;
    case ERR_UNPROCESSABLE:
        return 422;
    case ERR_UNAVAILABLE:
        return 503;
    case ERR_UPSTREAM:
        return 502;
    case ERR_UNAUTHORIZED:
        return 401;
    case ERR_FORBIDDEN:
        return 403;
    case ERR_GONE:
        return 410;
    case ERR_INTERNAL:
        break;
    }
    return 500;
}

const char *
err_name(enum err rc)
{
    switch (rc) {
    case ERR_OK:
        return "ok";
    case ERR_BAD_INPUT:
        return "bad_input";
    case ERR_TOO_LARGE:
        return "too_large";
    case ERR_UNSUPPORTED:
        return "unsupported";
    case ERR_NOT_FOUND:
        return "not_found";
    case ERR_CONFLICT:
        return "conflict";
    case ERR_PRECONDITION:
        return "precondition";
    case ERR_UNPROCESSABLE:
        return "unprocessable";
    case ERR_UNAVAILABLE:
        return "unavailable";
    case ERR_UPSTREAM:
        return "upstream";
    case ERR_UNAUTHORIZED:
        return "unauthorized";
    case ERR_FORBIDDEN:
        return "forbidden";
    case ERR_GONE:
        return "gone";
    case ERR_INTERNAL:
        break;
    }
    return "internal";
}
