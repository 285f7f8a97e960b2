/*
 * feed_hub.h - the live feed's fan-out: one journal reader, many subscribers
 *
 * One hub per process. Its thread LISTENs on the ingestd_changes channel,
 * and on a notification, a local poke (feed_hub_poke() after an upload
 * committed here) or every poll_ms (NOTIFY is a hint, the table is the
 * truth) reads the journal's new final rows (storage/feed_store.h, the same
 * no-gap rule as the long poll) into a bounded ring of formatted
 * server-sent events, then wakes the subscribers that wait. A read that
 * found rows and was not itself caused by a notification sends one NOTIFY,
 * so the hubs of other replicas on the database read them at once.
 *
 * A subscriber is not a thread: it is a position in the ring that the
 * HTTP adapter's I/O thread advances in feed_hub_take() when the
 * connection can send. With nothing to send it is suspended through its
 * link and resumed by the hub when changes arrive or its heartbeat is due.
 * A subscriber whose cursor is older than the ring reads the table first
 * (FEED_TAKE_BEHIND, then feed_hub_seek()); one that falls out of the ring
 * or more than backlog_bytes behind its head ends (FEED_TAKE_END) and is
 * told where to resume.
 *
 * Thread-safety: every function may be called from any thread; one
 * subscriber is used by one thread at a time.
 */
#ifndef INGESTD_FEED_HUB_H
#define INGESTD_FEED_HUB_H

#include <stddef.h>

#include "storage/feed_store.h"

struct feed_hub;
struct feed_sub;

struct feed_hub_settings {
    const char *conninfo;
    long heartbeat_ms;    /* a subscriber sends at least this often (a comment when idle) */
    long poll_ms;         /* journal read when nothing woke the hub */
    int ring;             /* changes kept */
    size_t backlog_bytes; /* a subscriber further behind the ring's head is ended */
};

/*
 * How a subscriber is parked and woken (the HTTP adapter's suspend and
 * resume). suspend is only called inside feed_hub_take(); resume from any
 * thread, once per suspend.
 */
struct feed_link {
    void (*suspend)(void *cls);
    void (*resume)(void *cls);
    void *cls;
};

/* Start the hub's thread (settings copied, conninfo borrowed for its life). */
struct feed_hub *feed_hub_start(const struct feed_hub_settings *st);
/* Something was committed here: read the journal soon. NULL-safe. */
void feed_hub_poke(struct feed_hub *hub);
/* Subscribers joined and not yet left. */
int feed_hub_subscribers(struct feed_hub *hub);
/*
 * SIGTERM: every subscriber ends at its next take (FEED_TAKE_END), waiting
 * ones are resumed now, new ones end at once. NULL-safe.
 */
void feed_hub_close(struct feed_hub *hub);
/* Stop the thread and free; every subscriber must have left. NULL-safe. */
void feed_hub_stop(struct feed_hub *hub);

/*
 * A subscriber at cursor `after` (< 0: at the hub's head, i.e. what is
 * committed from now on). f is borrowed until feed_hub_leave().
 */
struct feed_sub *feed_hub_join(struct feed_hub *hub, long long after, const struct feed_filter *f);
/* Leave and free; NULL-safe. */
void feed_hub_leave(struct feed_sub *sub);

enum feed_take {
    FEED_TAKE_DATA,   /* *n > 0 bytes of events or a heartbeat comment were written */
    FEED_TAKE_WAIT,   /* nothing now: link->suspend was called, link->resume will follow */
    FEED_TAKE_BEHIND, /* the cursor is older than the ring: read the table, then seek */
    FEED_TAKE_END     /* lagging or shutting down: send where to resume (*cursor), close */
};

/*
 * Write up to max bytes of what follows the subscriber's cursor and passes
 * its filter (whole events; one larger than max is split over calls) into
 * out. *cursor gets the subscriber's cursor after the call: the id of the
 * last change handed over or examined. *why gets "lagging" or "shutdown"
 * with FEED_TAKE_END. link is borrowed for the subscriber's life.
 */
enum feed_take feed_hub_take(struct feed_sub *sub, const struct feed_link *link, char *out,
                             size_t max, size_t *n, long long *cursor, const char **why);
/*
 * After reading the table up to `cursor` (every change up to it handed
 * over): continue from the ring when it holds what follows. `progressed`
 * 0 (the read found nothing new) and still behind: the next take waits for
 * the hub instead of reading the table again at once.
 */
void feed_hub_seek(struct feed_sub *sub, long long cursor, int progressed);
/* The subscriber's cursor. */
long long feed_hub_cursor(struct feed_sub *sub);

#endif
