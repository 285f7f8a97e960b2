/*
 * importer.c - the threads that import the old pipeline's event files
 *
 * Per folder location, one thread loops: read inotify's events (ready
 * names), take a rescan look when due, and while names are ready, import a
 * batch of them: read each (jobs/import_folder.c), refuse the bad ones at
 * once (recorded in PostgreSQL, problem written, moved to failed/), store
 * the good ones in one transaction (storage/imports_store.c), then move them
 * to processed/<UTC date>/. The crash point "import.after_commit" sits
 * between that commit and the moves. A batch holds at most BATCH_FILES files
 * and BATCH_BYTES bytes of content (one file more than that when it is
 * larger alone). Names are taken in sorted order, so replicas claim keys of
 * one batch in the same order.
 *
 * Stopping: the loop looks at the stop flag between batches and at least
 * every POLL_MS while idle.
 */
#include "jobs/importer.h"

#include <poll.h>
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
    struct thread *thread;
    struct db *db;
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
trouble(struct location *l, const char *kind, const char *name, const char *error)
{
    char note[ERRBUF_SIZE + 300];
    char errbuf[ERRBUF_SIZE];

    count(l, M_IMPORT_ERRORS, kind, 1);
    log_json(LOG_ERROR, "import failed, the file stays in pending/ for the next rescan",
             json_pack("{s:s,s:s,s:s?,s:s}", "location", l->where, "kind", kind, "file", name,
                       "error", error));
    snprintf(note, sizeof(note), "%s%s%s: %s", kind, name ? " " : "", name ? name : "", error);
    imports_store_note(l->db, l->where, note, errbuf, sizeof(errbuf));
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
refuse(struct location *l, const char *name, const char *sha256, size_t bytes, json_t *problem)
{
    char errbuf[ERRBUF_SIZE];
    int is_new = 0;
    enum err rc;

    rc = imports_store_fail(l->db, l->where, name, sha256, bytes, problem, &is_new, errbuf,
                            sizeof(errbuf));
    if (rc) {
        trouble(l, "database", name, errbuf);
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
        trouble(l, "move", name, errbuf);
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
take_file(struct location *l, const char *name, struct item *it)
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
        trouble(l, "read", name, errbuf);
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
        refuse(l, name, it->file.sha256, bytes, problem);
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
store_items(struct location *l, struct item *items, size_t n)
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
    rc = imports_store_accept(l->db, l->where, files, n, errbuf, sizeof(errbuf));
    for (i = 0; i < n; i++) {
        /* after a failed batch, one transaction per file: one bad file holds no other back */
        if (rc && imports_store_accept(l->db, l->where, &files[i], 1, errbuf, sizeof(errbuf))) {
            trouble(l, "database", files[i].name, errbuf);
            continue;
        }
        items[i].stored = 1;
        items[i].file = files[i];
    }
}

/* After the commit: count and move what was stored. */
static void
move_items(struct location *l, struct item *items, size_t n)
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
            trouble(l, "move", items[i].file.name, errbuf);
    }
    log_json(LOG_INFO, "imported",
             json_pack("{s:s,s:I,s:I}", "location", l->where, "files", (json_int_t)n, "accepted",
                       (json_int_t)accepted));
}

/* Import a batch of the ready names. */
static void
run_batch(struct location *l)
{
    struct item *items = xcalloc(BATCH_FILES, sizeof(*items));
    size_t taken = 0;
    size_t n = 0;
    size_t bytes = 0;

    import_names_sort_unique(&l->ready);
    while (taken < l->ready.n && n < BATCH_FILES && bytes < BATCH_BYTES) {
        struct item *it = &items[n];

        buf_init(&it->content, l->s->max_body_bytes + 1);
        if (take_file(l, l->ready.v[taken], it)) {
            it->name = xstrdup(l->ready.v[taken]);
            it->file.name = it->name;
            bytes += it->content.len;
            n++;
        } else {
            item_release(it);
        }
        taken++;
    }
    import_names_shift(&l->ready, taken);
    if (n) {
        store_items(l, items, n);
        move_items(l, items, n);
    }
    while (n)
        item_release(&items[--n]);
    free(items);
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
look(struct location *l)
{
    char errbuf[ERRBUF_SIZE];
    long long now = clock_mono_ms();
    enum err rc;

    rc = import_folder_look(l->folder, &l->ready, errbuf, sizeof(errbuf));
    if (rc) {
        trouble(l, "scan", NULL, errbuf);
        import_folder_free(l->folder); /* opened again at the next rescan */
        l->folder = NULL;
        l->next_open_ms = now + (long long)l->s->rescan_s * 1000;
        return;
    }
    if (import_folder_looking(l->folder)) {
        l->next_look_ms = now + SETTLE_MS;
        return;
    }
    l->next_look_ms = now + (long long)l->s->rescan_s * 1000;
    scanned(l);
}

static void
open_folder(struct location *l)
{
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    l->next_open_ms = clock_mono_ms() + (long long)l->s->rescan_s * 1000;
    rc = import_folder_open(l->where, &l->folder, errbuf, sizeof(errbuf));
    if (rc) {
        trouble(l, "scan", NULL, errbuf);
        return;
    }
    if (!import_folder_watching(l->folder))
        log_json(LOG_WARN, "import location without inotify, rescans only",
                 json_pack("{s:s,s:s}", "location", l->where, "error", errbuf));
    log_json(LOG_INFO, "importing",
             json_pack("{s:s,s:b,s:i}", "location", l->where, "inotify",
                       import_folder_watching(l->folder), "rescan_s", l->s->rescan_s));
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

static void
location_main(struct thread *t, void *arg)
{
    struct location *l = arg;

    while (!thread_stopping(t)) {
        if (!l->folder) {
            if (clock_mono_ms() >= l->next_open_ms)
                open_folder(l);
            if (!l->folder) {
                thread_wait(t, POLL_MS);
                continue;
            }
        }
        if (import_folder_events(l->folder, &l->ready))
            l->next_look_ms = clock_mono_ms(); /* events were lost: look now */
        if (clock_mono_ms() >= l->next_look_ms)
            look(l);
        if (l->folder && l->ready.n) {
            run_batch(l);
            continue;
        }
        if (l->folder)
            idle(l, t);
    }
}

/* An S3 location: list pending/, import what is there, sleep poll_s. */
static void
s3_main(struct thread *t, void *arg)
{
    struct location *l = arg;
    char errbuf[ERRBUF_SIZE];

    log_json(LOG_INFO, "importing",
             json_pack("{s:s,s:i}", "location", l->where, "poll_s", l->s->poll_s));
    while (!thread_stopping(t)) {
        if (import_s3_list(l->s3, &l->ready, LIST_MAX, errbuf, sizeof(errbuf)))
            trouble(l, "scan", NULL, errbuf);
        else
            scanned(l);
        while (l->ready.n && !thread_stopping(t))
            run_batch(l);
        import_names_shift(&l->ready, l->ready.n);
        thread_wait(t, (long)l->s->poll_s * 1000);
    }
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
    im->locs = xcalloc(n, sizeof(*im->locs));
    for (i = 0; i < n; i++) {
        struct location *l = &im->locs[im->n];

        l->s = &im->s;
        l->where = s->locations[i];
        l->db = db_new(conninfo);
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
    for (i = 0; i < im->n; i++) {
        struct location *l = &im->locs[i];

        thread_stop(l->thread);
        import_folder_free(l->folder);
        import_s3_free(l->s3);
        import_names_release(&l->ready);
        db_free(l->db);
    }
    free(im->locs);
    free(im);
}
