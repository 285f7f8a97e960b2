/*
 * importer.c - the threads that import the old pipeline's event files
 *
 * A folder location has a watcher thread and INGESTD_IMPORT_THREADS
 * workers. The watcher reads inotify's events and takes the rescan looks
 * (jobs/import_folder.c) and hands the names it finds to the location's
 * ready list; a worker takes up to BATCH_FILES ready names (sorted, so
 * replicas claim keys in the same order), marks them busy so no other worker
 * takes them meanwhile, and imports them with its own connection: read each,
 * refuse the bad ones at once (recorded in PostgreSQL, problem written, moved
 * to failed/), store the good ones in one transaction per BATCH_FILES files
 * or BATCH_BYTES of content (storage/imports_store.c), then move them to
 * processed/<UTC date>/. The crash point "import.after_commit" sits between
 * that commit and the moves. An S3 location has one thread that lists,
 * then imports what it listed the same way with its own connection.
 *
 * Locking: one mutex per location guards ready, busy and the folder pointer
 * (set once, when the folder opens; the workers start after it). The
 * folder's read/move calls touch only descriptors fixed at open, so workers
 * use them at once; its event and look calls are the watcher's alone.
 *
 * Stopping: the watcher first (nothing is handed over any more), then the
 * workers, each after the batch in hand; they look at the stop flag between
 * batches and at least every POLL_MS while idle.
 */
#include "jobs/importer.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/event_body.h"
#include "codec/repos_csv.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crashpoint.h"
#include "core/log.h"
#include "core/metrics.h"
#include "jobs/import_folder.h"
#include "jobs/import_s3.h"
#include "jobs/thread.h"
#include "storage/db.h"
#include "storage/events_store.h"
#include "storage/imports_store.h"

#define BATCH_FILES 128
#define BATCH_BYTES (16u << 20)
#define POLL_MS 250
#define SETTLE_MS 1000 /* between the two looks of a rescan */
#define LIST_MAX 10000 /* S3 names taken from one listing */

struct location {
    const struct importer_settings *s;
    const char *where; /* the location, as configured */
    const char *conninfo;
    struct thread *thread;        /* the watcher of a folder, or the poller of an S3 prefix */
    struct thread *workers;       /* a folder's: INGESTD_IMPORT_THREADS, each with a connection */
    struct db *db;                /* the watcher's or poller's */
    pthread_mutex_t lock;         /* ready, busy, folder */
    struct import_names busy;     /* names a worker is importing */
    struct import_folder *folder; /* a folder location, once opened */
    struct import_s3 *s3;         /* an s3:// location */
    struct import_names ready;
    long long next_look_ms;
    long long next_open_ms;
};

struct importer {
    struct importer_settings s;
    struct location *locs;
    size_t n;
};

/* One file of a batch that is valid and waits for the commit. */
struct item {
    char *name;
    struct buf content;
    struct repos_csv *doc;
    struct event_input in;
    struct imports_file file;
    int stored; /* committed (or found stored) */
};

static void
count(struct location *l, enum metric_id id, const char *what, double v)
{
    const char *labels[2] = {l->where, what};

    metrics_add(l->s->metrics, id, labels, v);
}

/* A failure that leaves files where they are: log, metric, the location's last error. */
static void
trouble(struct location *l, struct db *db, const char *kind, const char *name, const char *error)
{
    char note[ERRBUF_SIZE + 300];
    char errbuf[ERRBUF_SIZE];

    count(l, M_IMPORT_ERRORS, kind, 1);
    log_json(LOG_ERROR, "import failed, the file stays in pending/ for the next rescan",
             json_pack("{s:s,s:s,s:s?,s:s}", "location", l->where, "kind", kind, "file", name,
                       "error", error));
    snprintf(note, sizeof(note), "%s%s%s: %s", kind, name ? " " : "", name ? name : "", error);
    imports_store_note(db, l->where, note, errbuf, sizeof(errbuf));
}

/* ---- the location's files: a folder or an S3 prefix ---- */

static enum err
src_read(struct location *l, const char *name, struct buf *content, enum import_read_kind *kind,
         size_t *bytes, char sha256[65], char *errbuf, size_t errlen)
{
    if (l->s3)
        return import_s3_read(l->s3, name, l->s->max_body_bytes, content, kind, bytes, sha256,
                              errbuf, errlen);
    return import_folder_read(l->folder, name, l->s->max_body_bytes, content, kind, bytes, sha256,
                              errbuf, errlen);
}

static enum err
src_move(struct location *l, const char *name, const char *date, const char *sha256, char *errbuf,
         size_t errlen)
{
    if (l->s3)
        return import_s3_move(l->s3, name, date, sha256, errbuf, errlen);
    return import_folder_move(l->folder, name, date, sha256, errbuf, errlen);
}

static enum err
src_write_problem(struct location *l, const char *name, json_t *problem, char *errbuf,
                  size_t errlen)
{
    if (l->s3)
        return import_s3_write_problem(l->s3, name, problem, errbuf, errlen);
    return import_folder_write_problem(l->folder, name, problem, errbuf, errlen);
}

static void
utc_date(char out[16])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* Record a refused file, write its problem, move it to failed/. */
static void
refuse(struct location *l, struct db *db, const char *name, const char *sha256, size_t bytes,
       json_t *problem)
{
    char errbuf[ERRBUF_SIZE];
    int is_new = 0;
    enum err rc;

    rc = imports_store_fail(db, l->where, name, sha256, bytes, problem, &is_new, errbuf,
                            sizeof(errbuf));
    if (rc) {
        trouble(l, db, "database", name, errbuf);
        goto out;
    }
    if (is_new) {
        count(l, M_IMPORT_FILES, "failed", 1);
        log_json(
            LOG_WARN, "import refused a file, moved to failed/",
            json_pack("{s:s,s:s,s:O}", "location", l->where, "file", name, "problem", problem));
    }
    rc = src_write_problem(l, name, problem, errbuf, sizeof(errbuf));
    if (!rc)
        rc = src_move(l, name, NULL, sha256, errbuf, sizeof(errbuf));
    if (rc)
        trouble(l, db, "move", name, errbuf);
out:
    json_decref(problem);
}

/* The problem of a file that is not read as an event. */
static json_t *
read_problem(enum import_read_kind kind, size_t max_bytes)
{
    char detail[128];

    if (kind == IMPORT_READ_TOO_LARGE) {
        snprintf(detail, sizeof(detail), "body exceeds %zu bytes", max_bytes);
        return event_body_problem(413, detail, NULL);
    }
    if (kind == IMPORT_READ_SYMLINK)
        return event_body_problem(400, "a symbolic link is not imported (never followed)", NULL);
    return event_body_problem(400, "not a regular file", NULL);
}

/*
 * Read and check one ready file. A valid one fills `it` and returns 1; a
 * refused one is handled here; a file that is gone or cannot be read now
 * returns 0 (it stays where it is).
 */
static int
take_file(struct location *l, struct db *db, const char *name, struct item *it)
{
    struct repos_csv_limits lim = {l->s->max_columns, l->s->max_field_bytes, l->s->max_rows};
    enum import_read_kind kind = IMPORT_READ_GONE;
    const char *why = event_body_name_problem(name);
    char errbuf[ERRBUF_SIZE];
    json_t *problem = NULL;
    size_t bytes = 0;
    enum err rc;

    rc = src_read(l, name, &it->content, &kind, &bytes, it->file.sha256, errbuf, sizeof(errbuf));
    if (rc) {
        trouble(l, db, "read", name, errbuf);
        return 0;
    }
    if (kind == IMPORT_READ_GONE || kind == IMPORT_READ_DIRECTORY)
        return 0;
    if (why)
        problem = event_body_problem(400, why, NULL);
    else if (kind != IMPORT_READ_OK)
        problem = read_problem(kind, l->s->max_body_bytes);
    else
        it->doc = event_body_parse(it->content.data ? it->content.data : "", it->content.len, &lim,
                                   &problem);
    if (problem) {
        refuse(l, db, name, it->file.sha256, bytes, problem);
        return 0;
    }
    it->file.bytes = bytes;
    return 1;
}

static void
item_release(struct item *it)
{
    buf_release(&it->content);
    repos_csv_free(it->doc);
    free(it->name);
    memset(it, 0, sizeof(*it));
}

/* Commit the batch (one transaction; file by file when that fails). */
static void
store_items(struct location *l, struct db *db, struct item *items, size_t n)
{
    struct imports_file files[BATCH_FILES];
    char errbuf[ERRBUF_SIZE];
    size_t i;
    enum err rc;

    for (i = 0; i < n; i++) {
        items[i].in.source = items[i].file.name;
        items[i].in.content = items[i].content.data;
        items[i].in.content_len = items[i].content.len;
        items[i].in.sha256_hex = items[i].file.sha256;
        items[i].in.doc = items[i].doc;
        items[i].file.in = &items[i].in;
        files[i] = items[i].file;
    }
    rc = imports_store_accept(db, l->where, files, n, errbuf, sizeof(errbuf));
    for (i = 0; i < n; i++) {
        /* after a failed batch, one transaction per file: one bad file holds no other back */
        if (rc && imports_store_accept(db, l->where, &files[i], 1, errbuf, sizeof(errbuf))) {
            trouble(l, db, "database", files[i].name, errbuf);
            continue;
        }
        items[i].stored = 1;
        items[i].file = files[i];
    }
}

/* After the commit: count and move what was stored. */
static void
move_items(struct location *l, struct db *db, struct item *items, size_t n)
{
    char errbuf[ERRBUF_SIZE];
    char date[16];
    size_t accepted = 0;
    size_t i;

    crashpoint("import.after_commit");
    utc_date(date);
    for (i = 0; i < n; i++) {
        if (!items[i].stored)
            continue;
        if (!items[i].file.already)
            accepted++;
        count(l, M_IMPORT_FILES, items[i].file.already ? "duplicate" : "accepted", 1);
        if (src_move(l, items[i].file.name, date, items[i].file.sha256, errbuf, sizeof(errbuf)))
            trouble(l, db, "move", items[i].file.name, errbuf);
    }
    crashpoint("import.after_move");
    log_json(LOG_INFO, "imported",
             json_pack("{s:s,s:I,s:I}", "location", l->where, "files", (json_int_t)n, "accepted",
                       (json_int_t)accepted));
}

/* Store and move the items read so far, then release them. */
static void
flush(struct location *l, struct db *db, struct item *items, size_t *n)
{
    if (*n) {
        store_items(l, db, items, *n);
        move_items(l, db, items, *n);
    }
    while (*n)
        item_release(&items[--*n]);
}

/* Import the files `names` (sorted), BATCH_FILES and BATCH_BYTES per transaction. */
static void
import_names(struct location *l, struct db *db, const struct import_names *names)
{
    struct item *items = xcalloc(BATCH_FILES, sizeof(*items));
    size_t n = 0;
    size_t bytes = 0;
    size_t i;

    for (i = 0; i < names->n; i++) {
        struct item *it = &items[n];

        buf_init(&it->content, l->s->max_body_bytes + 1);
        if (!take_file(l, db, names->v[i], it)) {
            item_release(it);
            continue;
        }
        it->name = xstrdup(names->v[i]);
        it->file.name = it->name;
        bytes += it->content.len;
        if (++n == BATCH_FILES || bytes >= BATCH_BYTES) {
            flush(l, db, items, &n);
            bytes = 0;
        }
    }
    flush(l, db, items, &n);
    free(items);
}

/*
 * Take up to BATCH_FILES ready names into mine (sorted), marking them busy so
 * that no other worker imports them at the same time. Returns how many.
 */
static size_t
take_batch(struct location *l, struct import_names *mine)
{
    size_t i;

    pthread_mutex_lock(&l->lock);
    import_names_sort_unique(&l->ready);
    for (i = 0; i < l->ready.n && mine->n < BATCH_FILES; i++)
        if (!import_names_has(&l->busy, l->ready.v[i])) { /* else its worker has it */
            import_names_push(mine, l->ready.v[i]);
            import_names_push(&l->busy, l->ready.v[i]);
        }
    import_names_shift(&l->ready, i);
    pthread_mutex_unlock(&l->lock);
    return mine->n;
}

static void
release_batch(struct location *l, struct import_names *mine)
{
    size_t i;

    pthread_mutex_lock(&l->lock);
    for (i = 0; i < mine->n; i++)
        import_names_remove(&l->busy, mine->v[i]);
    pthread_mutex_unlock(&l->lock);
    import_names_shift(mine, mine->n);
}

/* Hand names over to the workers (the list is emptied) and wake as many as they keep busy. */
static void
hand_over(struct location *l, struct import_names *names)
{
    size_t wakes = (names->n + BATCH_FILES - 1) / BATCH_FILES;
    size_t i;

    if (names->n == 0)
        return;
    pthread_mutex_lock(&l->lock);
    for (i = 0; i < names->n; i++)
        import_names_push(&l->ready, names->v[i]);
    pthread_mutex_unlock(&l->lock);
    import_names_shift(names, names->n);
    for (i = 0; i < wakes && i < (size_t)l->s->threads; i++)
        thread_wake(l->workers);
}

/* A worker of a folder location: import batches of ready names with a connection of its own. */
static void
worker_main(struct thread *t, void *arg)
{
    struct location *l = arg;
    struct db *db = db_new(l->conninfo);
    struct import_names mine;

    memset(&mine, 0, sizeof(mine));
    while (!thread_stopping(t)) {
        if (!take_batch(l, &mine)) {
            thread_wait(t, POLL_MS);
            continue;
        }
        import_names(l, db, &mine);
        release_batch(l, &mine);
    }
    import_names_release(&mine);
    db_free(db);
}

/* The note and gauge of a completed scan (or listing). */
static void
scanned(struct location *l)
{
    const char *labels[1] = {l->where};
    char errbuf[ERRBUF_SIZE];

    metrics_set(l->s->metrics, M_IMPORT_LAST_SCAN, labels, (double)time(NULL));
    imports_store_note(l->db, l->where, NULL, errbuf, sizeof(errbuf));
}

/* A rescan look: the first records, the second (SETTLE_MS later) makes stable files ready. */
static void
look(struct location *l, struct import_names *found)
{
    char errbuf[ERRBUF_SIZE];
    long long now = clock_mono_ms();
    enum err rc;

    rc = import_folder_look(l->folder, found, errbuf, sizeof(errbuf));
    if (rc) { /* a folder gone or unreadable: said, and looked at again next time */
        trouble(l, l->db, "scan", NULL, errbuf);
        l->next_look_ms = now + (long long)l->s->rescan_s * 1000;
        return;
    }
    if (import_folder_looking(l->folder)) {
        l->next_look_ms = now + SETTLE_MS;
        return;
    }
    l->next_look_ms = now + (long long)l->s->rescan_s * 1000;
    scanned(l);
}

/* Open the folder (once; the workers use it until the importer stops). */
static void
open_folder(struct location *l)
{
    struct import_folder *f = NULL;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    l->next_open_ms = clock_mono_ms() + (long long)l->s->rescan_s * 1000;
    rc = import_folder_open(l->where, &f, errbuf, sizeof(errbuf));
    if (rc) {
        trouble(l, l->db, "scan", NULL, errbuf);
        return;
    }
    if (!import_folder_watching(f))
        log_json(LOG_WARN, "import location without inotify, rescans only",
                 json_pack("{s:s,s:s}", "location", l->where, "error", errbuf));
    log_json(LOG_INFO, "importing",
             json_pack("{s:s,s:b,s:i,s:i}", "location", l->where, "inotify",
                       import_folder_watching(f), "rescan_s", l->s->rescan_s, "threads",
                       l->s->threads));
    pthread_mutex_lock(&l->lock);
    l->folder = f;
    pthread_mutex_unlock(&l->lock);
    l->workers = thread_start(l->s->threads, worker_main, l);
    l->next_look_ms = clock_mono_ms(); /* the rescan at start */
}

/* Sleep until inotify has input, the next look is due, or POLL_MS passed. */
static void
idle(struct location *l, struct thread *t)
{
    long long wait = l->next_look_ms - clock_mono_ms();
    int fd = import_folder_fd(l->folder);

    if (wait > POLL_MS)
        wait = POLL_MS;
    if (wait <= 0)
        return;
    if (fd < 0) {
        thread_wait(t, (long)wait);
        return;
    }
    {
        struct pollfd p = {fd, POLLIN, 0};

        poll(&p, 1, (int)wait);
    }
}

/* The watcher of a folder location: inotify and rescans find names, the workers import them. */
static void
location_main(struct thread *t, void *arg)
{
    struct location *l = arg;
    struct import_names found;

    memset(&found, 0, sizeof(found));
    while (!thread_stopping(t)) {
        if (!l->folder) {
            if (clock_mono_ms() >= l->next_open_ms)
                open_folder(l);
            if (!l->folder) {
                thread_wait(t, POLL_MS);
                continue;
            }
        }
        if (import_folder_events(l->folder, &found))
            l->next_look_ms = clock_mono_ms(); /* events were lost: look now */
        if (clock_mono_ms() >= l->next_look_ms)
            look(l, &found);
        if (found.n)
            hand_over(l, &found);
        else
            idle(l, t);
    }
    import_names_release(&found);
}

/* An S3 location: list pending/, import what is there, sleep poll_s. */
static void
s3_main(struct thread *t, void *arg)
{
    struct location *l = arg;
    struct import_names mine;
    char errbuf[ERRBUF_SIZE];

    memset(&mine, 0, sizeof(mine));
    log_json(LOG_INFO, "importing",
             json_pack("{s:s,s:i}", "location", l->where, "poll_s", l->s->poll_s));
    while (!thread_stopping(t)) {
        struct import_names listed;

        memset(&listed, 0, sizeof(listed));
        if (import_s3_list(l->s3, &listed, LIST_MAX, errbuf, sizeof(errbuf)))
            trouble(l, l->db, "scan", NULL, errbuf);
        else
            scanned(l);
        hand_over(l, &listed);
        import_names_release(&listed);
        while (!thread_stopping(t) && take_batch(l, &mine)) {
            import_names(l, l->db, &mine);
            release_batch(l, &mine);
        }
        thread_wait(t, (long)l->s->poll_s * 1000);
    }
    import_names_release(&mine);
}

/* Every series of a location at 0, so rates work from the first file. */
static void
zero_series(struct location *l)
{
    static const char *const outcomes[] = {"accepted", "duplicate", "failed"};
    static const char *const kinds[] = {"scan", "read", "database", "move"};
    size_t i;

    for (i = 0; i < 3; i++)
        count(l, M_IMPORT_FILES, outcomes[i], 0);
    for (i = 0; i < 4; i++)
        count(l, M_IMPORT_ERRORS, kinds[i], 0);
}

struct importer *
importer_start(const char *conninfo, const struct importer_settings *s)
{
    struct importer *im;
    size_t n = 0;
    size_t i;

    while (s->locations && s->locations[n])
        n++;
    if (n == 0)
        return NULL;
    im = xcalloc(1, sizeof(*im));
    im->s = *s;
    if (im->s.threads < 1)
        im->s.threads = 1;
    im->locs = xcalloc(n, sizeof(*im->locs));
    for (i = 0; i < n; i++) {
        struct location *l = &im->locs[i];

        l->s = &im->s;
        l->where = s->locations[i];
        l->conninfo = conninfo;
        l->db = db_new(conninfo);
        pthread_mutex_init(&l->lock, NULL);
        zero_series(l);
        if (strncmp(l->where, "s3://", 5) == 0) {
            l->s3 = import_s3_new(l->where, s->s3);
            l->thread = thread_start(1, s3_main, l);
        } else {
            l->thread = thread_start(1, location_main, l);
        }
        im->n++;
    }
    return im;
}

void
importer_stop(struct importer *im)
{
    size_t i;

    if (!im)
        return;
    for (i = 0; i < im->n; i++) { /* the watchers first: nothing is handed over any more */
        thread_stop(im->locs[i].thread);
        thread_stop(im->locs[i].workers); /* each finishes its batch */
    }
    for (i = 0; i < im->n; i++) {
        struct location *l = &im->locs[i];

        import_folder_free(l->folder);
        import_s3_free(l->s3);
        import_names_release(&l->ready);
        import_names_release(&l->busy);
        pthread_mutex_destroy(&l->lock);
        db_free(l->db);
    }
    free(im->locs);
    free(im);
}
