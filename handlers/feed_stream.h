/*
 * feed_stream.h - GET /api/v1/feed as server-sent events (text/event-stream)
 *
 * The stream a subscriber receives: each change an event (id: its cursor,
 * event: its type, data: the change as the long poll returns it), a
 * heartbeat comment when idle, and a last `resume` event (id: and
 * data.after: where to resume) when it is ended for lagging or shutdown.
 * Changes come from the process's feed hub (jobs/feed_hub.h); a cursor
 * older than the hub's ring is read from the journal first, on a worker.
 */
#ifndef INGESTD_FEED_STREAM_H
#define INGESTD_FEED_STREAM_H

#include "handlers/request.h"
#include "storage/feed_store.h"

/*
 * Answer with the stream of the changes after `after` (< 0: from now) that
 * pass f (copied). 503 when the process runs no hub.
 */
void feed_stream_respond(struct request *req, struct response *res, long long after,
                         const struct feed_filter *f);

#endif
