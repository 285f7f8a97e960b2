/*
 * datadir.h - the data directory (INGESTD_DATA_DIR): made, and owned by one process
 *
 * The embedded PostgreSQL lives under the data directory, and the process
 * that owns the directory owns that server: it started or adopted it and
 * stops it when it exits. Two live owners would stop each other's server,
 * so ownership is a lock: an exclusive flock() on <dir>/ingestd.lock, a file
 * that then holds the owner's pid (for the message the next one prints).
 * The kernel drops the lock when the owner's last descriptor closes, so a
 * crashed or kill -9'd owner never blocks the next start; the descriptor is
 * close-on-exec and the PostgreSQL children close it (embedded_pg.c), so no
 * child keeps it. The file is never removed: removing it would let two
 * processes lock two different files of the same name.
 *
 * Thread-safety: call from one thread (start-up and shutdown).
 */
#ifndef INGESTD_DATADIR_H
#define INGESTD_DATADIR_H

#include <stddef.h>
#include <sys/types.h>

#include "core/err.h"

#define DATADIR_LOCK_FILE "ingestd.lock"

struct datadir_lock;

/*
 * mkdir -p path: missing parents get 0755, path itself `mode` (whatever the
 * umask); an existing directory is left as it is. ERR_UNAVAILABLE naming the
 * directory that could not be made.
 */
enum err datadir_mkdir_p(const char *path, mode_t mode, char *errbuf, size_t errlen);

/*
 * Lock dir for this process; *out is freed with datadir_unlock(). A missing
 * dir is made when `make` is set (0700; 0711 when we are root, so that the
 * postgres user can traverse it), else it is ERR_NOT_FOUND and nothing is
 * created. When another process holds the lock: ERR_CONFLICT, *holder (when
 * not NULL) its pid (0 when it could not be read) and errbuf "data directory
 * <dir> in use by pid N". Other failures: ERR_UNAVAILABLE.
 */
enum err datadir_lock(const char *dir, int make, struct datadir_lock **out, long *holder,
                      char *errbuf, size_t errlen);

/* Release the lock (the file stays) and free; NULL-safe. */
void datadir_unlock(struct datadir_lock *lock);

#endif
