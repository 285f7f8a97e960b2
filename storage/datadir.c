/*
 * datadir.c - the data directory: made, and owned by one process
 *
 * Lock order within the file: open (O_CREAT, never O_TRUNC: the file may be
 * another owner's), flock(LOCK_EX | LOCK_NB), and only then truncate and
 * write our pid. A process that finds the lock taken reads the pid; the
 * owner may be between its flock and its write, so an empty file is read
 * again for a moment before the pid is given up as unknown.
 */
#include "storage/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"

#define HOLDER_READ_TRIES 50 /* 10 ms apart */

struct datadir_lock {
    int fd;
};

enum err
datadir_mkdir_p(const char *path, mode_t mode, char *errbuf, size_t errlen)
{
    char *p = xstrdup(path);
    char *s;
    struct stat st;
    enum err rc = ERR_OK;

    for (s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot create %s: %s", p,
                         strerror(errno));
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, mode) == 0) {
        chmod(p, mode); /* whatever the umask */
    } else if (errno != EEXIST) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot create %s: %s", p, strerror(errno));
        goto out;
    }
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "%s is not a directory", p);
out:
    free(p);
    return rc;
}

/* The pid written in the lock file, 0 when there is none (yet). */
static long
read_holder(int fd)
{
    char text[32];
    ssize_t n;
    int tries;
    long pid = 0;

    for (tries = 0; tries < HOLDER_READ_TRIES && pid <= 0; tries++) {
        if (tries > 0)
            clock_sleep_ms(10);
        n = pread(fd, text, sizeof(text) - 1, 0);
        if (n <= 0)
            continue;
        text[n] = '\0';
        pid = strtol(text, NULL, 10);
    }
    return pid > 0 ? pid : 0;
}

/* Make the file hold our pid alone. */
static enum err
write_pid(int fd, const char *path, char *errbuf, size_t errlen)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != (ssize_t)n)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot write %s: %s", path,
                       strerror(errno));
    return ERR_OK;
}

enum err
datadir_lock(const char *dir, int make, struct datadir_lock **out, long *holder, char *errbuf,
             size_t errlen)
{
    char path[4096];
    struct stat st;
    int fd = -1;
    long pid;
    enum err rc;

    *out = NULL;
    if (holder)
        *holder = 0;
    if (!make && stat(dir, &st) != 0 && errno == ENOENT)
        return err_set(ERR_NOT_FOUND, errbuf, errlen, "%s does not exist", dir);
    rc = datadir_mkdir_p(dir, geteuid() == 0 ? 0711 : 0700, errbuf, errlen);
    if (rc)
        return rc;
    if (snprintf(path, sizeof(path), "%s/" DATADIR_LOCK_FILE, dir) >= (int)sizeof(path))
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "data directory path too long");
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot open %s: %s", path,
                       strerror(errno));
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK) {
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot lock %s: %s", path,
                         strerror(errno));
            goto out;
        }
        pid = read_holder(fd);
        if (holder)
            *holder = pid;
        if (pid)
            rc = err_set(ERR_CONFLICT, errbuf, errlen, "data directory %s in use by pid %ld", dir,
                         pid);
        else
            rc = err_set(ERR_CONFLICT, errbuf, errlen,
                         "data directory %s in use by another process (its pid is not in %s)", dir,
                         path);
        goto out;
    }
    rc = write_pid(fd, path, errbuf, errlen);
out:
    if (rc) {
        close(fd);
        return rc;
    }
    *out = xcalloc(1, sizeof(**out));
    (*out)->fd = fd;
    return ERR_OK;
}

void
datadir_unlock(struct datadir_lock *lock)
{
    if (!lock)
        return;
    close(lock->fd); /* releases the flock */
    free(lock);
}
