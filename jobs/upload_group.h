/*
 * upload_group.h - group commit of uploads across worker threads
 *
 * A worker thread that holds a parsed, validated upload hands it to the
 * group and waits. If no group is being stored, it becomes the leader: it
 * takes every upload waiting (up to max_count uploads and max_bytes of
 * content, at least one), stores them in ONE transaction on its own
 * connection (storage/events_group.h), then wakes each waiter with its own
 * answer. At most max_groups groups are stored at once; uploads that arrive
 * while they are wait for the next one, so a group is whatever queued
 * during the commits in flight, as in PostgreSQL's own group commit (a
 * lone upload on a quiet server is stored at once, alone). With
 * max_wait_us > 0 a leader waits up to that long for more uploads before
 * it starts (never past max_count). Thread-safe.
 */
#ifndef INGESTD_UPLOAD_GROUP_H
#define INGESTD_UPLOAD_GROUP_H

#include <stddef.h>

struct db;
struct event_upload;
struct upload_group;

/*
 * Groups of at most max_count uploads (1: every upload commits alone, as
 * without a group) and max_bytes of content, at most max_groups of them
 * stored at once; a leader waits up to max_wait_us for a fuller group (0:
 * no added wait).
 */
struct upload_group *upload_group_new(int max_count, size_t max_bytes, long max_wait_us,
                                      int max_groups);
/* NULL-safe; no upload may be waiting. */
void upload_group_free(struct upload_group *g);
/*
 * Store u (its answer reset and then filled, storage/events_group.h) in a
 * group, on db (the calling worker's connection) when this thread leads.
 * Returns once the transaction that holds u committed or failed: u->rc is
 * ERR_OK only after the commit. g NULL: stored alone.
 */
void upload_group_store(struct upload_group *g, struct db *db, struct event_upload *u);

#endif
