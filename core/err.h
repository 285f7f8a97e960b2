/*
 * err.h - the one error type of ingestd
 *
 * Fallible functions return enum err and, where the caller passes one, write
 * a lower-case message without trailing period into an error buffer of
 * ERRBUF_SIZE bytes. ERR_OK is zero so `if (rc) goto out;` reads naturally.
 */
#ifndef INGESTD_ERR_H
#define INGESTD_ERR_H

#include <stddef.h>

#define ERRBUF_SIZE 256

enum err {
    ERR_OK = 0,
    ERR_BAD_INPUT,     /* malformed client input: 400 */
    ERR_TOO_LARGE,     /* a size cap was exceeded: 413 */
    ERR_UNSUPPORTED,   /* unsupported media type or encoding: 415 */
    ERR_NOT_FOUND,     /* 404 */
    ERR_CONFLICT,      /* 409 */
    ERR_PRECONDITION,  /* 412 */
    ERR_UNPROCESSABLE, /* well-formed but semantically invalid: 422 */
    ERR_UNAVAILABLE,   /* a dependency (PostgreSQL, S3) is unavailable: 503 */
    ERR_INTERNAL,      /* a bug or an unexpected system failure: 500 */
    ERR_UPSTREAM,      /* an upstream service (S3) answered with an error or garbage: 502 */
    ERR_UNAUTHORIZED,  /* no or an unknown credential: 401 */
    ERR_FORBIDDEN,     /* a known credential without the scope the route needs: 403 */
    ERR_GONE,          /* existed once, no longer kept: 410 */
};

/* Short lower-case name of rc ("bad_input", "upstream", ...); never NULL. */
const char *err_name(enum err rc);

/* Write a formatted message into errbuf (NULL-safe); returns rc for chaining. */
enum err err_set(enum err rc, char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The HTTP status code that stands for rc (200 for ERR_OK). */
int err_http_status(enum err rc);

#endif
