/*
 * sse.c - the text/event-stream encoder; see sse.h
 */
#include "codec/sse.h"

#include <stdio.h>
#include <string.h>

/* Append s without CR and LF (a field value is one line). */
static void
sse_line_value(struct buf *b, const char *s)
{
    for (; *s; s++)
        if (*s != '\r' && *s != '\n')
            buf_append_char(b, *s);
}

void
sse_event_append(struct buf *b, long long id, const char *event, const char *data, size_t data_len)
{
    size_t start = 0, i;

    if (id >= 0)
        buf_printf(b, "id: %lld\n", id);
    if (event) {
        buf_append_str(b, "event: ");
        sse_line_value(b, event);
        buf_append_char(b, '\n');
    }
    for (i = 0; i <= data_len; i++) {
        if (i < data_len && data[i] != '\r' && data[i] != '\n')
            continue;
        buf_append_str(b, "data: ");
        buf_append(b, data + start, i - start);
        buf_append_char(b, '\n');
        if (i + 1 < data_len && data[i] == '\r' && data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    buf_append_char(b, '\n');
}

void
sse_comment_append(struct buf *b, const char *text)
{
    buf_append_str(b, ": ");
    sse_line_value(b, text);
    buf_append_str(b, "\n\n");
}
