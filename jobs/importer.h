/*
 * importer.h - the threads that import the old pipeline's event files (INGESTD_IMPORTS)
 *
 * Per folder location, a watcher thread and `threads` workers, each worker
 * with its own database connection. Files that appear in <location>/pending/ (inotify: closed after
 * writing or moved in; plus a rescan at start and every rescan_s seconds, which takes only files
 * whose size and mtime held still across two looks a second apart and that inotify does not see
 * being written) are read, checked as repos-lock.csv, and stored as events with source = the file
 * name, many files per transaction; then each moves to processed/YYYY-MM-DD/ (UTC). A refused file
 * (not a valid repos-lock.csv, over max_body_bytes, a symlink, not a regular file) moves to failed/
 * beside <name>.problem.json, the problem+json the API would answer. The key (location, name,
 * SHA-256) is stored with the event (storage/imports_store.h), so a crash between the commit and
 * the move, or replicas importing the same folder, never store a file twice. A file that cannot be
 * stored or moved stays in pending/ and is tried again at the next rescan, with a log line, a
 * metric (ingestd_import_errors_total) and the location's last error.
 *
 * An s3://bucket/prefix/ location is listed (prefix/pending/, every page)
 * at start and every poll_s seconds by a thread with its own S3 client; an
 * object is whole once listed, so no stability check is needed. Moves are
 * CopyObject + DeleteObject (jobs/import_s3.h).
 */
#ifndef INGESTD_IMPORTER_H
#define INGESTD_IMPORTER_H

#include <stddef.h>

struct importer;
struct metrics;
struct s3_client_config;

struct importer_settings {
    const char *const *locations;      /* NULL-terminated, borrowed for the importer's life */
    int rescan_s;                      /* INGESTD_IMPORT_RESCAN */
    int poll_s;                        /* INGESTD_IMPORT_POLL */
    int threads;                       /* INGESTD_IMPORT_THREADS: workers per folder location */
    const struct s3_client_config *s3; /* for s3:// locations; borrowed */
    size_t max_body_bytes;             /* INGESTD_MAX_BODY_BYTES: larger files are refused (413) */
    size_t max_columns;                /* the CSV limits uploads have */
    size_t max_field_bytes;
    size_t max_rows;
    struct metrics *metrics; /* borrowed, may be NULL */
};

/*
 * Start a thread per location (none when there is none: returns NULL). s is
 * copied; its pointers are borrowed.
 */
struct importer *importer_start(const char *conninfo, const struct importer_settings *s);
/* Stop after the batch in hand (its files are committed and moved, or left); NULL-safe. */
void importer_stop(struct importer *im);

#endif
