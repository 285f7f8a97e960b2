/*
 * event_body.h - a repos-lock.csv event body checked whole, and its problem
 *
 * What every way in (POST /api/v1/events, PUT /api/v1/events/pending/{name},
 * a file of an import location) does with the bytes of one event: refuse an
 * empty body or a NUL byte, decode it as a repos CSV with the configured
 * limits, and on failure describe it as the RFC 9457 problem object the API
 * answers (type, title, status 400 or 413, detail, errors[{line, detail}]),
 * so that an import's <name>.problem.json is the body a POST of the same
 * bytes would get (without its request_id). Pure: no I/O, no globals.
 */
#ifndef INGESTD_EVENT_BODY_H
#define INGESTD_EVENT_BODY_H

#include <jansson.h>
#include <stddef.h>

struct repos_csv;
struct repos_csv_limits;

/*
 * Decode body[0..len). On success returns the document (caller frees with
 * repos_csv_free) and *problem is NULL; otherwise returns NULL and *problem
 * is a new problem object (caller json_decref()s).
 */
struct repos_csv *event_body_parse(const char *body, size_t len, const struct repos_csv_limits *lim,
                                   json_t **problem);

/*
 * A problem object of `status` (400, 409, 413, 415...) with `detail`;
 * `errors` (stolen, may be NULL) becomes its errors member. Never NULL.
 */
json_t *event_body_problem(int status, const char *detail, json_t *errors);

/*
 * Why `name` cannot name an event (PUT /api/v1/events/pending/{name}, a file
 * of an import location), or NULL when it can: 1 to EVENT_BODY_NAME_MAX
 * bytes of UTF-8 without control characters, '/', '\\' or "..", not
 * starting with '.'. The reason is a static string.
 */
#define EVENT_BODY_NAME_MAX 255
const char *event_body_name_problem(const char *name);

#endif
