/*
 * long_wait.h - the share of the long lane that requests waiting for a job may hold
 *
 * A request that waits for a background job (POST /api/v1/s3/inventories?wait=true,
 * POST /api/v1/s3/crawl/sync) holds a thread of the long lane (server/http.c)
 * while the job runs, which may take minutes. At most INGESTD_LONG_WORKERS - 1
 * of them wait at once (1 with a single thread), counted together across the
 * routes, so a merge always finds a thread of the lane.
 *
 * Thread-safe (an atomic counter in struct app).
 */
#ifndef INGESTD_LONG_WAIT_H
#define INGESTD_LONG_WAIT_H

#include "handlers/app.h"

/* 1 when the caller may wait (then call long_wait_release() once), 0 when the share is full. */
int long_wait_take(struct app *app);
void long_wait_release(struct app *app);

#endif
