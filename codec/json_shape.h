/*
 * json_shape.h - counts what a JSON text will cost once parsed, before it is
 *
 * A parsed JSON value costs far more memory than its text: jansson spends
 * about 240 bytes on an empty object ("{}", 3 bytes with its comma) and
 * about 35 on a small number. The adapter feeds every JSON body through this
 * scanner as it arrives and refuses one whose objects and arrays, or whose
 * values, exceed the caps (413), so a body within INGESTD_MAX_BODY_BYTES
 * cannot make the parser allocate gigabytes.
 *
 * It does not validate JSON (the parser does, after it): it only tracks
 * whether it is inside a string (and after a backslash) and counts, outside
 * strings, '{' and '[' (containers) and ',' (one more value each). Fed in
 * chunks of any size, it counts the same as in one piece. No allocation, no
 * globals; one struct per body, used by one thread.
 */
#ifndef INGESTD_JSON_SHAPE_H
#define INGESTD_JSON_SHAPE_H

#include <stddef.h>

#include "core/err.h"

struct json_shape {
    size_t max_containers; /* objects + arrays */
    size_t max_values;     /* containers, members and elements, approximately */
    size_t containers;
    size_t values;
    int in_string;
    int escaped;
};

/* Start counting a new text with these caps. */
void json_shape_init(struct json_shape *js, size_t max_containers, size_t max_values);
/*
 * Count len more bytes. ERR_TOO_LARGE (message naming the cap) once a count
 * exceeds its cap; the counts stop there and later calls return the same.
 */
enum err json_shape_feed(struct json_shape *js, const char *data, size_t len, char *errbuf,
                         size_t errlen);

#endif
