/*
 * import_folder.c - the file side of a folder import location
 *
 * Invariants: every file operation goes through root_fd or pending_fd (or a
 * folder opened from them with O_NOFOLLOW), with a single path component
 * of a name checked to hold no '/'; nothing is opened that is not a regular
 * file; nothing at a destination is replaced (renameat2 RENAME_NOREPLACE,
 * or link + unlink where the file system lacks it).
 */
#include "jobs/import_folder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hex.h"

#define WRITING_MAX 4096     /* names remembered as being written */
#define NAME_ALT_MAX 300     /* a name (<= 255 bytes) and a suffix */
#define PROBLEM_NAME_MAX 237 /* bytes of a name kept in ".<name>.problem.json.tmp" */

struct look_entry {
    char *name;
    long long size;
    long long mtime_ns;
};

struct import_folder {
    int root_fd;
    int pending_fd;
    int ifd;                     /* inotify, or -1 */
    struct import_names writing; /* created or modified, not closed yet */
    struct look_entry *look;     /* the first look of a rescan, sorted by name */
    size_t nlook;
    int looking; /* a first look is recorded */
};

/* ---- name lists ---- */

void
import_names_push(struct import_names *l, const char *name)
{
    if (l->n == l->alloc) {
        l->alloc = l->alloc ? 2 * l->alloc : 64;
        l->v = xrealloc(l->v, l->alloc * sizeof(*l->v));
    }
    l->v[l->n++] = xstrdup(name);
}

static int
cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void
import_names_sort_unique(struct import_names *l)
{
    size_t i;
    size_t k = 0;

    if (l->n < 2)
        return;
    qsort(l->v, l->n, sizeof(*l->v), cmp_name);
    for (i = 0; i < l->n; i++) {
        if (k > 0 && strcmp(l->v[k - 1], l->v[i]) == 0)
            free(l->v[i]);
        else
            l->v[k++] = l->v[i];
    }
    l->n = k;
}

void
import_names_shift(struct import_names *l, size_t k)
{
    size_t i;

    if (k > l->n)
        k = l->n;
    if (k == 0)
        return;
    for (i = 0; i < k; i++)
        free(l->v[i]);
    memmove(l->v, l->v + k, (l->n - k) * sizeof(*l->v));
    l->n -= k;
}

void
import_names_release(struct import_names *l)
{
    import_names_shift(l, l->n);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static ssize_t
names_find(const struct import_names *l, const char *name)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return (ssize_t)i;
    return -1;
}

static void
names_remove_at(struct import_names *l, size_t i)
{
    free(l->v[i]);
    l->v[i] = l->v[--l->n];
}

int
import_names_has(const struct import_names *l, const char *name)
{
    return names_find(l, name) >= 0;
}

void
import_names_remove(struct import_names *l, const char *name)
{
    ssize_t at = names_find(l, name);

    if (at >= 0)
        names_remove_at(l, (size_t)at);
}

/* ---- open, watch ---- */

/* mkdirat + open as a folder, refusing a symlink in its place. */
static int
open_subdir(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0755) != 0 && errno != EEXIST)
        return -1;
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

enum err
import_folder_open(const char *root, struct import_folder **out, char *errbuf, size_t errlen)
{
    struct import_folder *f = xcalloc(1, sizeof(*f));
    uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY | IN_DELETE |
                    IN_MOVED_FROM | IN_ONLYDIR | IN_EXCL_UNLINK;
    int fd;

    *out = NULL;
    f->ifd = -1;
    f->pending_fd = -1;
    f->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->root_fd < 0) {
        err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot open %s: %s", root, strerror(errno));
        goto fail;
    }
    f->pending_fd = open_subdir(f->root_fd, "pending");
    if (f->pending_fd < 0) {
        err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot open %s/pending: %s", root,
                strerror(errno));
        goto fail;
    }
    /* processed/ and failed/ are made when first needed too; errors show up there */
    fd = open_subdir(f->root_fd, "processed");
    if (fd >= 0)
        close(fd);
    fd = open_subdir(f->root_fd, "failed");
    if (fd >= 0)
        close(fd);
    errbuf[0] = '\0';
    f->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (f->ifd >= 0) {
        char path[4096];

        snprintf(path, sizeof(path), "%s/pending", root);
        if (inotify_add_watch(f->ifd, path, mask) < 0) {
            err_set(ERR_UNAVAILABLE, errbuf, errlen, "inotify on %s: %s", path, strerror(errno));
            close(f->ifd);
            f->ifd = -1;
        }
    } else {
        err_set(ERR_UNAVAILABLE, errbuf, errlen, "inotify: %s", strerror(errno));
    }
    *out = f;
    return ERR_OK;
fail:
    import_folder_free(f);
    return ERR_UNAVAILABLE;
}

static void
look_clear(struct import_folder *f)
{
    size_t i;

    for (i = 0; i < f->nlook; i++)
        free(f->look[i].name);
    free(f->look);
    f->look = NULL;
    f->nlook = 0;
    f->looking = 0;
}

void
import_folder_free(struct import_folder *f)
{
    if (!f)
        return;
    if (f->ifd >= 0)
        close(f->ifd);
    if (f->pending_fd >= 0)
        close(f->pending_fd);
    if (f->root_fd >= 0)
        close(f->root_fd);
    import_names_release(&f->writing);
    look_clear(f);
    free(f);
}

int
import_folder_fd(const struct import_folder *f)
{
    return f->ifd;
}

int
import_folder_watching(const struct import_folder *f)
{
    return f->ifd >= 0;
}

/* What one inotify event says about its name. */
static void
on_event(struct import_folder *f, const struct inotify_event *ev, struct import_names *ready)
{
    ssize_t at;

    if (ev->len == 0 || ev->name[0] == '.')
        return;
    at = names_find(&f->writing, ev->name);
    if (ev->mask & IN_CREATE) { /* a symlink or hard link is whole at once; a file is not yet */
        struct stat st;

        if (!(ev->mask & IN_ISDIR) &&
            fstatat(f->pending_fd, ev->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            (S_ISLNK(st.st_mode) || (S_ISREG(st.st_mode) && st.st_nlink > 1)))
            import_names_push(ready, ev->name);
        return;
    }
    if (ev->mask & IN_MODIFY) { /* written to and not closed yet */
        if (at < 0 && f->writing.n < WRITING_MAX)
            import_names_push(&f->writing, ev->name);
        return;
    }
    if (at >= 0)
        names_remove_at(&f->writing, (size_t)at);
    if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
        import_names_push(ready, ev->name);
}

int
import_folder_events(struct import_folder *f, struct import_names *ready)
{
    char chunk[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    int overflow = 0;

    if (f->ifd < 0)
        return 0;
    for (;;) {
        ssize_t n = read(f->ifd, chunk, sizeof(chunk));
        ssize_t off = 0;

        if (n <= 0)
            break;
        while (off < n) {
            const struct inotify_event *ev = (const struct inotify_event *)(chunk + off);

            if (ev->mask & IN_Q_OVERFLOW)
                overflow = 1;
            else
                on_event(f, ev, ready);
            off += (ssize_t)(sizeof(*ev) + ev->len);
        }
    }
    if (overflow) /* what is being written is unknown now: the stability check decides */
        import_names_shift(&f->writing, f->writing.n);
    return overflow;
}

/* ---- rescans ---- */

static int
cmp_look(const void *a, const void *b)
{
    return strcmp(((const struct look_entry *)a)->name, ((const struct look_entry *)b)->name);
}

/* List pending/: every entry but dot files and folders, with size and mtime, sorted. */
static enum err
list_pending(struct import_folder *f, struct look_entry **out, size_t *nout, char *errbuf,
             size_t errlen)
{
    int fd = openat(f->pending_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct look_entry *v = NULL;
    size_t n = 0;
    size_t alloc = 0;
    struct dirent *de;

    *out = NULL;
    *nout = 0;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot list pending/: %s",
                       strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;

        if (de->d_name[0] == '.' ||
            fstatat(f->pending_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            S_ISDIR(st.st_mode))
            continue;
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 64;
            v = xrealloc(v, alloc * sizeof(*v));
        }
        v[n].name = xstrdup(de->d_name);
        v[n].size = (long long)st.st_size;
        v[n].mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_look);
    *out = v;
    *nout = n;
    return ERR_OK;
}

int
import_folder_looking(const struct import_folder *f)
{
    return f->looking;
}

enum err
import_folder_look(struct import_folder *f, struct import_names *ready, char *errbuf, size_t errlen)
{
    struct look_entry *now = NULL;
    size_t n = 0;
    size_t i = 0;
    size_t j = 0;
    enum err rc;

    rc = list_pending(f, &now, &n, errbuf, errlen);
    if (rc) {
        look_clear(f);
        return rc;
    }
    if (!f->looking) {
        f->look = now;
        f->nlook = n;
        f->looking = 1;
        return ERR_OK;
    }
    while (i < f->nlook && j < n) { /* both sorted: a merge join */
        int c = strcmp(f->look[i].name, now[j].name);

        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            /* an empty file may be one whose writer has not written yet: inotify's
             * closed-after-write takes those */
            if (now[j].size > 0 && f->look[i].size == now[j].size &&
                f->look[i].mtime_ns == now[j].mtime_ns && names_find(&f->writing, now[j].name) < 0)
                import_names_push(ready, now[j].name);
            i++;
            j++;
        }
    }
    look_clear(f);
    for (i = 0; i < n; i++)
        free(now[i].name);
    free(now);
    return ERR_OK;
}

/* ---- reading ---- */

/*
 * Read fd to its end: hash everything, keep at most max_bytes in content.
 * *too_large may be 1 already (the size said so): then nothing is kept.
 */
static enum err
read_all(int fd, size_t max_bytes, struct buf *content, size_t *bytes, char sha256[65],
         int *too_large, char *errbuf, size_t errlen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char chunk[64 * 1024];
    enum err rc = ERR_OK;

    *bytes = 0;
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
        abort();
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "read: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(md, chunk, (size_t)n);
        *bytes += (size_t)n;
        if (!*too_large && *bytes > max_bytes) {
            *too_large = 1;
            buf_reset(content);
        }
        if (!*too_large && buf_append(content, chunk, (size_t)n))
            abort(); /* the cap is above max_bytes: cannot happen */
    }
    EVP_DigestFinal_ex(md, digest, &dlen);
    EVP_MD_CTX_free(md);
    hex_encode(sha256, digest, dlen);
    return rc;
}

static void
sha256_text(const char *s, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(s, len, md, &n, EVP_sha256(), NULL);
    hex_encode(out, md, n);
}

enum err
import_folder_read(struct import_folder *f, const char *name, size_t max_bytes, struct buf *content,
                   enum import_read_kind *kind, size_t *bytes, char sha256[65], char *errbuf,
                   size_t errlen)
{
    struct stat st;
    int too_large = 0;
    int fd;
    enum err rc;

    buf_reset(content);
    *bytes = 0;
    sha256_text("", 0, sha256);
    *kind = IMPORT_READ_GONE;
    if (strchr(name, '/'))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "a name with '/'");
    if (fstatat(f->pending_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT
                   ? ERR_OK
                   : err_set(ERR_UNAVAILABLE, errbuf, errlen, "stat: %s", strerror(errno));
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlinkat(f->pending_fd, name, target, sizeof(target));

        *kind = IMPORT_READ_SYMLINK;
        sha256_text(target, n > 0 ? (size_t)n : 0, sha256);
        return ERR_OK;
    }
    if (S_ISDIR(st.st_mode) || !S_ISREG(st.st_mode)) {
        *kind = S_ISDIR(st.st_mode) ? IMPORT_READ_DIRECTORY : IMPORT_READ_NOT_REGULAR;
        return ERR_OK;
    }
    fd = openat(f->pending_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? ERR_OK
               : errno == ELOOP
                   ? (*kind = IMPORT_READ_SYMLINK, ERR_OK)
                   : err_set(ERR_UNAVAILABLE, errbuf, errlen, "open: %s", strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { /* replaced since the stat */
        close(fd);
        *kind = IMPORT_READ_NOT_REGULAR;
        return ERR_OK;
    }
    too_large = (unsigned long long)st.st_size > max_bytes; /* known before any allocation */
    rc = read_all(fd, max_bytes, content, bytes, sha256, &too_large, errbuf, errlen);
    close(fd);
    if (!rc)
        *kind = too_large ? IMPORT_READ_TOO_LARGE : IMPORT_READ_OK;
    return rc;
}

/* ---- moving ---- */

/* Move without replacing: 0, or -1 with errno (EEXIST when the destination exists). */
static int
move_noreplace(int from_fd, const char *from, int to_fd, const char *to)
{
    if (renameat2(from_fd, from, to_fd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (linkat(from_fd, from, to_fd, to, 0) != 0) /* no RENAME_NOREPLACE here */
        return -1;
    return unlinkat(from_fd, from, 0) == 0 || errno == ENOENT ? 0 : -1;
}

enum err
import_folder_move(struct import_folder *f, const char *name, const char *date, const char *sha256,
                   char *errbuf, size_t errlen)
{
    const char *where = date ? "processed" : "failed";
    int top = -1;
    int dest = -1;
    char alt[NAME_ALT_MAX];
    enum err rc = ERR_OK;

    top = open_subdir(f->root_fd, where);
    dest = top >= 0 && date ? open_subdir(top, date) : top;
    if (dest < 0) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot open %s/%s: %s", where,
                     date ? date : "", strerror(errno));
        goto out;
    }
    if (move_noreplace(f->pending_fd, name, dest, name) == 0 || errno == ENOENT)
        goto out;
    if (errno == EEXIST) {
        snprintf(alt, sizeof(alt), "%s~%.12s", name, sha256);
        if (move_noreplace(f->pending_fd, name, dest, alt) == 0 || errno == ENOENT)
            goto out;
        if (errno == EEXIST && unlinkat(f->pending_fd, name, 0) == 0)
            goto out;
    }
    rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot move %s to %s/: %s", name, where,
                 strerror(errno));
out:
    if (dest >= 0 && dest != top)
        close(dest);
    if (top >= 0)
        close(top);
    return rc;
}

enum err
import_folder_write_problem(struct import_folder *f, const char *name, json_t *problem,
                            char *errbuf, size_t errlen)
{
    char *text = json_dumps(problem, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char tmp[NAME_ALT_MAX + 32];
    char final[NAME_ALT_MAX + 32];
    size_t len = text ? strlen(text) : 0;
    int dir = open_subdir(f->root_fd, "failed");
    int fd = -1;
    enum err rc = ERR_OK;

    /* a name of more than PROBLEM_NAME_MAX bytes is cut, so both names fit in NAME_MAX */
    snprintf(tmp, sizeof(tmp), ".%.*s.problem.json.tmp", PROBLEM_NAME_MAX, name);
    snprintf(final, sizeof(final), "%.*s.problem.json", PROBLEM_NAME_MAX, name);
    if (dir >= 0)
        fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot write failed/%s: %s", final,
                     strerror(errno));
        goto out;
    }
    if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot write failed/%s: %s", final,
                     strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot write failed/%s: %s", final,
                     strerror(errno));
    if (!rc && renameat(dir, tmp, dir, final) != 0)
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot rename failed/%s: %s", final,
                     strerror(errno));
    if (rc)
        unlinkat(dir, tmp, 0);
out:
    if (dir >= 0)
        close(dir);
    free(text);
    return rc;
}
