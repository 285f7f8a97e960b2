/*
 * slow_fsync.c - an LD_PRELOAD shim that makes fsync() and fdatasync() slow
 *
 * A disk whose flush takes SLOW_FSYNC_US microseconds (default 2000): each
 * call sleeps that long, then does the real call (found with dlsym(RTLD_NEXT)),
 * so the data is as durable as without the shim and a commit waits as it
 * would on such a disk. PostgreSQL flushes its WAL at commit with
 * fdatasync() (wal_sync_method = fdatasync, the Linux default, which
 * bench/uploads.sh sets explicitly) and its data files at checkpoints with
 * fsync(); both go through here. Used by bench/uploads.sh for the server
 * only:
 *
 *   cc -O2 -shared -fPIC -o slow_fsync.so bench/slow_fsync.c -ldl
 *   LD_PRELOAD=$PWD/slow_fsync.so SLOW_FSYNC_US=2000 postgres ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void
slow(void)
{
    const char *v = getenv("SLOW_FSYNC_US");
    long us = v ? atol(v) : 2000;
    struct timespec ts;

    if (us <= 0)
        return;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int fsync(int fd);
int fdatasync(int fd);

int
fsync(int fd)
{
    static int (*real)(int);

    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow();
    return real(fd);
}

int
fdatasync(int fd)
{
    static int (*real)(int);

    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow();
    return real(fd);
}
