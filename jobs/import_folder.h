/*
 * import_folder.h - the file side of a folder import location
 *
 * A location is a folder in the old pipeline's layout: publishers write
 * <root>/pending/<name>; accepted files go to <root>/processed/YYYY-MM-DD/
 * (UTC) and refused ones to <root>/failed/ beside <name>.problem.json. This
 * module does the file work for jobs/importer.c: it watches pending/ with
 * inotify (closed-after-write and moved-in make a name ready; created or
 * modified and not yet closed marks it as being written), lists pending/ for
 * rescans, reads a file under a byte cap (never following a symlink, never
 * opening anything but a regular file), and moves files without replacing
 * what is there. Every path it touches is under <root>, reached through
 * directory descriptors with O_NOFOLLOW; names containing '/' are refused.
 *
 * Not thread-safe: one struct import_folder belongs to one thread.
 */
#ifndef INGESTD_IMPORT_FOLDER_H
#define INGESTD_IMPORT_FOLDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct import_folder;

/* A growable list of file names (malloc'd strings). */
struct import_names {
    char **v;
    size_t n;
    size_t alloc;
};
void import_names_push(struct import_names *l, const char *name);
/* Sort by name (bytewise) and drop repeats. */
void import_names_sort_unique(struct import_names *l);
/* 1 when name is in the list (a linear search: for short lists). */
int import_names_has(const struct import_names *l, const char *name);
/* Remove one occurrence of name, when there is one (order is not kept). */
void import_names_remove(struct import_names *l, const char *name);
/* Drop the first k names (freeing them). */
void import_names_shift(struct import_names *l, size_t k);
void import_names_release(struct import_names *l); /* frees every name, keeps l usable */

/*
 * Open the location `root` (an absolute folder that must exist), creating
 * pending/, processed/ and failed/ when missing, and start watching pending/.
 * When inotify cannot be used the location still works by rescans
 * (import_folder_watching() says 0 and *errbuf names why). ERR_UNAVAILABLE
 * when root or pending/ cannot be opened.
 */
enum err import_folder_open(const char *root, struct import_folder **out, char *errbuf,
                            size_t errlen);
void import_folder_free(struct import_folder *f); /* NULL-safe */
/* The inotify descriptor to poll for input, or -1 when not watching. */
int import_folder_fd(const struct import_folder *f);
int import_folder_watching(const struct import_folder *f);

/*
 * Read the pending inotify events without blocking: names closed after
 * writing or moved in are appended to `ready`. Returns 1 when the kernel's
 * queue overflowed (events were lost: a rescan should follow at once).
 */
int import_folder_events(struct import_folder *f, struct import_names *ready);

/*
 * One look at pending/ for a rescan: the first call records what is there
 * (name, size, mtime); the next call appends to `ready` the names whose size
 * and mtime did not change between the two looks and that inotify does not
 * report as being written, and starts over. Dot files are skipped.
 */
enum err import_folder_look(struct import_folder *f, struct import_names *ready, char *errbuf,
                            size_t errlen);
/* 1 when the next import_folder_look() is a second look. */
int import_folder_looking(const struct import_folder *f);

enum import_read_kind {
    IMPORT_READ_OK,          /* content holds the file, sha256 its digest */
    IMPORT_READ_GONE,        /* no such file any more (moved by someone else) */
    IMPORT_READ_DIRECTORY,   /* a folder: left alone */
    IMPORT_READ_SYMLINK,     /* a symbolic link: refused, never followed */
    IMPORT_READ_NOT_REGULAR, /* a FIFO, socket or device: refused, never opened */
    IMPORT_READ_TOO_LARGE,   /* more than the cap: sha256 and bytes are set, content empty */
};

/*
 * Read pending/<name> into content (reset first; its cap must be at least
 * max_bytes + 1), at most max_bytes kept; *bytes is the file's length and
 * sha256 (65) the digest of all of it (of the link's target text for a
 * symlink). ERR_UNAVAILABLE when reading failed (errbuf says why).
 */
enum err import_folder_read(struct import_folder *f, const char *name, size_t max_bytes,
                            struct buf *content, enum import_read_kind *kind, size_t *bytes,
                            char sha256[65], char *errbuf, size_t errlen);

/*
 * Move pending/<name> into processed/<date>/ (date "YYYY-MM-DD") or, with
 * date NULL, into failed/, creating folders as needed. Nothing there is ever
 * replaced: when <name> exists it becomes <name>~<first 12 hex of sha256>,
 * and when that exists too (the same bytes under the same name), the pending
 * file is removed. A file that is gone already is ERR_OK. ERR_UNAVAILABLE
 * (errbuf: the step and strerror) when the move fails; the file then stays
 * in pending/.
 */
enum err import_folder_move(struct import_folder *f, const char *name, const char *date,
                            const char *sha256, char *errbuf, size_t errlen);

/*
 * Write failed/<name>.problem.json (through a temporary file and a rename);
 * a name longer than 237 bytes is cut there, so the file name stays within
 * the file system's 255.
 */
enum err import_folder_write_problem(struct import_folder *f, const char *name, json_t *problem,
                                     char *errbuf, size_t errlen);

#endif
