/*
 * pgcopy.c - writing rows in PostgreSQL's COPY text format
 */
#include "pgcopy.h"

#include <string.h>

/* Append data escaped for COPY text; `array` adds array-literal escaping first. */
static enum err
escape(struct buf *out, const char *data, size_t len, int array)
{
    size_t i;
    size_t start = 0;
    enum err rc;

    rc = buf_reserve(out, len + 16);
    if (rc)
        return rc;
    for (i = 0; i < len; i++) {
        const char *rep = NULL;

        switch (data[i]) {
        case '\\':
            rep = array ? "\\\\\\\\" : "\\\\";
            break;
        case '"':
            rep = array ? "\\\\\"" : NULL;
            break;
        case '\t':
            rep = "\\t";
            break;
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        default:
            break;
        }
        if (!rep)
            continue;
        rc = buf_append(out, data + start, i - start);
        if (!rc)
            rc = buf_append_str(out, rep);
        if (rc)
            return rc;
        start = i + 1;
    }
    return buf_append(out, data + start, len - start);
}

enum err
pgcopy_field(struct buf *out, const char *data, size_t len)
{
    return escape(out, data, len, 0);
}

enum err
pgcopy_array(struct buf *out, const char *const *vals, const size_t *lens, size_t n)
{
    size_t i;
    enum err rc;

    rc = buf_append_char(out, '{');
    for (i = 0; i < n && !rc; i++) {
        if (i)
            rc = buf_append_char(out, ',');
        if (!rc)
            rc = buf_append_char(out, '"');
        if (!rc)
            rc = escape(out, vals[i], lens[i], 1);
        if (!rc)
            rc = buf_append_char(out, '"');
    }
    if (!rc)
        rc = buf_append_char(out, '}');
    return rc;
}

enum err
pgcopy_param_array(struct buf *out, const char *const *vals, const size_t *lens, size_t n)
{
    size_t i;
    size_t k;
    enum err rc;

    rc = buf_append_char(out, '{');
    for (i = 0; i < n && !rc; i++) {
        size_t len = lens ? lens[i] : strlen(vals[i]);

        if (i)
            rc = buf_append_char(out, ',');
        if (!rc)
            rc = buf_append_char(out, '"');
        for (k = 0; k < len && !rc; k++) {
            if (vals[i][k] == '"' || vals[i][k] == '\\')
                rc = buf_append_char(out, '\\');
            if (!rc)
                rc = buf_append_char(out, vals[i][k]);
        }
        if (!rc)
            rc = buf_append_char(out, '"');
    }
    if (!rc)
        rc = buf_append_char(out, '}');
    return rc;
}
