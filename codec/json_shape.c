/*
 * json_shape.c - the cost of a JSON text before it is parsed
 *
 * A byte loop with two bits of state (in a string, after a backslash). The
 * value count is containers + commas + 1: exact for valid JSON up to the
 * keys of objects (a member counts once, as its comma does), which is what
 * the cap needs.
 */
#include "codec/json_shape.h"

#include <string.h>

void
json_shape_init(struct json_shape *js, size_t max_containers, size_t max_values)
{
    memset(js, 0, sizeof(*js));
    js->max_containers = max_containers;
    js->max_values = max_values;
    js->values = 1;
}

static enum err
over(const struct json_shape *js, char *errbuf, size_t errlen)
{
    if (js->containers > js->max_containers)
        return err_set(ERR_TOO_LARGE, errbuf, errlen,
                       "JSON body has more than %zu objects and arrays", js->max_containers);
    return err_set(ERR_TOO_LARGE, errbuf, errlen, "JSON body has more than %zu values",
                   js->max_values);
}

enum err
json_shape_feed(struct json_shape *js, const char *data, size_t len, char *errbuf, size_t errlen)
{
    size_t i;

    if (js->containers > js->max_containers || js->values > js->max_values)
        return over(js, errbuf, errlen);
    for (i = 0; i < len; i++) {
        char c = data[i];

        if (js->in_string) {
            if (js->escaped)
                js->escaped = 0;
            else if (c == '\\')
                js->escaped = 1;
            else if (c == '"')
                js->in_string = 0;
            continue;
        }
        if (c == '"') {
            js->in_string = 1;
        } else if (c == '{' || c == '[') {
            js->containers++;
            js->values++;
        } else if (c == ',') {
            js->values++;
        } else {
            continue;
        }
        if (js->containers > js->max_containers || js->values > js->max_values)
            return over(js, errbuf, errlen);
    }
    return ERR_OK;
}
