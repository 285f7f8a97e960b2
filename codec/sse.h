/*
 * sse.h - the text/event-stream encoder (server-sent events, WHATWG HTML 9.2)
 *
 * An event is `id:`, `event:` and one `data:` line per line of its data,
 * ended by a blank line; a comment line starts with a colon and is ignored
 * by clients (heartbeats). Pure: appends to a caller's buffer, no I/O.
 */
#ifndef INGESTD_SSE_H
#define INGESTD_SSE_H

#include <stddef.h>

#include "core/buf.h"

/*
 * Append one event: id (omitted when < 0), event name (omitted when NULL;
 * CR and LF in it are dropped) and data split into data: lines at CR, LF
 * and CRLF, so no byte of data can end the event early.
 */
void sse_event_append(struct buf *b, long long id, const char *event, const char *data,
                      size_t data_len);
/* Append a comment ": text" (CR, LF dropped) followed by a blank line. */
void sse_comment_append(struct buf *b, const char *text);

#endif
