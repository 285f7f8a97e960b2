/*
 * status.h - the status page (GET /) as HTML, rendered from a snapshot
 *
 * The renderer is pure: it reads a snapshot in the shape of
 * status_store_snapshot() and writes a self-contained page (inline CSS and
 * SVG, no script), so tests render hostile or odd snapshots without a
 * database. Every string from the snapshot is HTML-escaped.
 */
#ifndef INGESTD_STATUS_H
#define INGESTD_STATUS_H

#include <jansson.h>

#include "core/buf.h"

/* Seconds between the page's own reloads (<meta http-equiv="refresh">). */
#define STATUS_REFRESH_S 10

struct status_page {
    const char *version; /* INGESTD_VERSION */
    int auth_on;         /* struct app's auth_on */
    long long now_ms;    /* when the snapshot was read, ms since the epoch */
};

/* Append the page of `snap` (borrowed; missing members read as 0 or empty) to out. */
void status_page_render(json_t *snap, const struct status_page *page, struct buf *out);

/*
 * status_feed.c: the live feed panel (a list filled by the page's one
 * script from the SSE feed) appended to out, and the page's
 * Content-Security-Policy, which allows that script by its hash.
 */
void status_feed_render(struct buf *out, int auth_on);
void status_feed_csp(char *out, size_t outlen);

#endif
