/*
 * key_index.c - the key segments indexes, built in the background
 *
 * One thread (jobs/thread.h) with its own connection: at each interval it
 * builds the missing indexes one partition at a time until none is missing,
 * the partitions are held by an apply, or a build fails (a cancelled build
 * is logged by storage/db.c and tried again at the next interval).
 */
#include "jobs/key_index.h"

#include <stdlib.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "jobs/thread.h"
#include "storage/db.h"
#include "storage/s3_key_index.h"

struct key_index {
    char *conninfo;
    int interval_s;
    struct thread *thread;
};

static int
stopping(void *ud)
{
    return thread_stopping(ud);
}

/* Build until nothing is left to build, the partitions are busy, or a build fails. */
static void
build_missing(struct thread *t, struct db *db)
{
    char table[128];
    char errbuf[ERRBUF_SIZE];

    while (!thread_stopping(t)) {
        long long start = clock_mono_ms();
        enum err rc =
            s3_key_index_build_one(db, stopping, t, table, sizeof(table), errbuf, sizeof(errbuf));

        if (rc) {
            if (!thread_stopping(t))
                log_json(LOG_WARN, "key index build failed",
                         json_pack("{s:s,s:s}", "partition", table, "error", errbuf));
            return;
        }
        if (!table[0])
            return;
        log_json(LOG_INFO, "key index built",
                 json_pack("{s:s,s:I}", "partition", table, "duration_ms",
                           (json_int_t)(clock_mono_ms() - start)));
    }
}

static void
key_index_main(struct thread *t, void *arg)
{
    struct key_index *k = arg;
    struct db *db = db_new(k->conninfo);

    do
        build_missing(t, db);
    while (!thread_wait(t, (long)k->interval_s * 1000));
    db_free(db);
}

struct key_index *
key_index_start(const char *conninfo, int interval_s)
{
    struct key_index *k = xcalloc(1, sizeof(*k));

    k->conninfo = xstrdup(conninfo);
    k->interval_s = interval_s;
    k->thread = thread_start(1, key_index_main, k);
    return k;
}

void
key_index_stop(struct key_index *k)
{
    if (!k)
        return;
    thread_stop(k->thread);
    free(k->conninfo);
    free(k);
}
