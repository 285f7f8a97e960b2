/*
 * export_write.c - one rendering of the effective repos.csv to one target
 */
#include "jobs/export_write.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clients/git_client.h"
#include "clients/http_client.h"
#include "clients/s3_client.h"
#include "core/buf.h"
#include "core/crashpoint.h"

/*
 * A Git target's local repository keeps every publication's objects (the
 * remote keeps them too); past this size it is removed after a successful
 * push and the next publication fetches the branch afresh.
 */
#define GIT_WORKDIR_MAX_BYTES ((long long)256 << 20)

struct export_writer {
    const struct export_target *t;
    const struct config *cfg;
    struct s3_client *s3;     /* s3 targets */
    struct http_client *http; /* http targets */
    char *git_dir;            /* git targets: the local bare repository */
};

/* FNV-1a 64 of s: a stable directory name for a target. */
static unsigned long long
name_hash(const char *s)
{
    unsigned long long h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct export_writer *
export_writer_new(const struct export_target *t, const struct config *cfg,
                  const struct s3_client_config *s3)
{
    struct export_writer *w = xcalloc(1, sizeof(*w));
    struct buf dir;

    w->t = t;
    w->cfg = cfg;
    if (t->kind == EXPORT_S3)
        w->s3 = s3_client_new(s3);
    if (t->kind == EXPORT_HTTP)
        w->http = http_client_new();
    if (t->kind == EXPORT_GIT) {
        buf_init(&dir, 0);
        buf_printf(&dir, "%s/exports/git-%016llx", cfg->data_dir, name_hash(t->name));
        w->git_dir = buf_take(&dir, NULL);
    }
    return w;
}

void
export_writer_free(struct export_writer *w)
{
    if (!w)
        return;
    s3_client_free(w->s3);
    http_client_free(w->http);
    free(w->git_dir);
    free(w);
}

static enum err
fsync_dir(const char *dir, char *errbuf, size_t errlen, const char *path)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e;

    if (fd < 0)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "file %s: open directory: %s", path,
                       strerror(errno));
    e = fsync(fd) ? errno : 0;
    close(fd);
    if (e && e != EINVAL) /* some file systems cannot sync a directory */
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "file %s: fsync directory: %s", path,
                       strerror(e));
    return ERR_OK;
}

enum err
export_write_file(const char *path, const char *data, size_t len, char *errbuf, size_t errlen)
{
    char *copy = xstrdup(path);
    char *dir = dirname(copy);
    char *base_copy = xstrdup(path);
    struct buf tmp;
    size_t off = 0;
    int fd = -1;
    enum err rc = ERR_OK;

    buf_init(&tmp, 0);
    buf_printf(&tmp, "%s/.%s.tmp.XXXXXX", dir, basename(base_copy));
    fd = mkstemp(tmp.data);
    if (fd < 0) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "file %s: create a temp file in %s: %s", path,
                     dir, strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "file %s: write: %s", path,
                         n < 0 ? strerror(errno) : "no progress");
            goto out;
        }
        off += (size_t)n;
    }
    if (fchmod(fd, 0644) || fsync(fd)) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "file %s: fsync: %s", path, strerror(errno));
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "file %s: close: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    crashpoint("export.before_rename");
    if (rename(tmp.data, path)) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "file %s: rename: %s", path, strerror(errno));
        goto out;
    }
    rc = fsync_dir(dir, errbuf, errlen, path);
    crashpoint("export.after_rename");
out:
    if (fd >= 0)
        close(fd);
    if (rc && tmp.data)
        unlink(tmp.data); /* fails harmlessly once renamed */
    buf_release(&tmp);
    free(copy);
    free(base_copy);
    return rc;
}

static enum err
write_http(struct export_writer *w, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct http_request req;
    struct http_response res;
    struct buf auth;
    const char *headers[3] = {"Content-Type: text/csv; charset=utf-8", NULL, NULL};
    const char *host = strstr(w->t->url, "://") + 3;
    int userinfo = memchr(host, '@', strcspn(host, "/?#")) != NULL;
    char name[512];
    enum err rc;

    if (!w->http)
        return err_set(ERR_INTERNAL, errbuf, errlen, "http %s: no HTTP client", w->t->name);
    buf_init(&auth, 0);
    if (!userinfo && w->cfg->export_token) {
        buf_printf(&auth, "Authorization: Bearer %s", w->cfg->export_token);
        headers[1] = auth.data;
    }
    memset(&req, 0, sizeof(req));
    req.method = "PUT";
    req.url = w->t->url;
    req.headers = headers;
    req.body = data;
    req.body_len = len;
    req.timeout_ms = 30000;
    http_response_init(&res);
    rc = http_client_send(w->http, &req, &res, errbuf, errlen);
    if (!rc && (res.status < 200 || res.status > 299)) {
        http_client_redact_url(w->t->url, name, sizeof(name));
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "http PUT %s: %ld", name, res.status);
    }
    http_response_release(&res);
    buf_release(&auth);
    return rc;
}

static long long du_bytes; /* nftw has no user data: used under du_lock only */
static pthread_mutex_t du_lock = PTHREAD_MUTEX_INITIALIZER;

static int
du_add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        du_bytes += (long long)st->st_size;
    return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove the local repository when it grew past GIT_WORKDIR_MAX_BYTES. */
static void
git_workdir_trim(const char *dir)
{
    long long bytes;

    pthread_mutex_lock(&du_lock);
    du_bytes = 0;
    nftw(dir, du_add, 16, FTW_PHYS);
    bytes = du_bytes;
    pthread_mutex_unlock(&du_lock);
    if (bytes > GIT_WORKDIR_MAX_BYTES)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static enum err
write_git(struct export_writer *w, int64_t generation, const char *data, size_t len, char *errbuf,
          size_t errlen)
{
    struct git_publish p;
    char message[96];
    struct buf parent;
    enum err rc;

    buf_init(&parent, 0);
    buf_printf(&parent, "%s/exports", w->cfg->data_dir);
    mkdir(parent.data, 0700); /* EEXIST is fine; libgit2 reports anything else */
    buf_release(&parent);
    snprintf(message, sizeof(message), "effective repos.csv generation %lld",
             (long long)generation);
    memset(&p, 0, sizeof(p));
    p.workdir = w->git_dir;
    p.remote_url = w->t->url;
    p.name = w->t->name;
    p.path = w->t->path;
    p.data = data;
    p.len = len;
    p.message = message;
    p.ssh_key = w->cfg->git_ssh_key;
    p.credentials = w->cfg->git_credentials;
    p.home = w->cfg->home;
    p.ssh_agent = w->cfg->ssh_auth_sock;
    rc = git_client_publish(&p, NULL, errbuf, errlen);
    if (!rc)
        git_workdir_trim(w->git_dir);
    return rc;
}

enum err
export_writer_write(struct export_writer *w, int64_t generation, const char *data, size_t len,
                    char *errbuf, size_t errlen)
{
    switch (w->t->kind) {
    case EXPORT_FILE:
        return export_write_file(w->t->path, data, len, errbuf, errlen);
    case EXPORT_S3:
        if (!w->s3)
            return err_set(ERR_INTERNAL, errbuf, errlen, "s3 %s: no S3 client", w->t->name);
        return s3_client_put(w->s3, w->t->bucket, w->t->key, data, len, "text/csv; charset=utf-8",
                             errbuf, errlen);
    case EXPORT_HTTP:
        return write_http(w, data, len, errbuf, errlen);
    case EXPORT_GIT:
        return write_git(w, generation, data, len, errbuf, errlen);
    }
    return err_set(ERR_INTERNAL, errbuf, errlen, "unknown export target kind");
}
