/*
 * export_spec.c - the targets of INGESTD_EXPORTS
 *
 * Pure text work: splitting the list, deciding each entry's kind, checking
 * its parts and naming it without credentials. Nothing here touches a file,
 * a socket or the environment.
 */
#include "core/export_spec.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"

const char *
export_kind_name(enum export_kind kind)
{
    switch (kind) {
    case EXPORT_FILE:
        return "file";
    case EXPORT_S3:
        return "s3";
    case EXPORT_HTTP:
        return "http";
    case EXPORT_GIT:
        return "git";
    }
    return "unknown";
}

char *
export_spec_redact(const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *host;
    const char *at;
    const char *end;
    struct buf b;

    if (!scheme) /* a path, or an scp-like remote whose user is no secret */
        return xstrdup(url);
    host = scheme + 3;
    end = host + strcspn(host, "/?#");
    at = memchr(host, '@', (size_t)(end - host));
    while (at) { /* the last '@' before the path ends the userinfo */
        const char *next = memchr(at + 1, '@', (size_t)(end - at - 1));

        if (!next)
            break;
        at = next;
    }
    buf_init(&b, 0);
    buf_printf(&b, "%.*s", (int)(host - url), url);
    if (at)
        host = at + 1;
    end = host + strcspn(host, "?#");
    buf_printf(&b, "%.*s", (int)(end - host), host);
    return buf_take(&b, NULL);
}

/* Printable ASCII without blanks: nothing that breaks a log line, a URL or a header. */
static int
plain_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7F)
            return 0;
    return 1;
}

/* A path inside a repository: relative, no empty, "." or ".." segment. */
static int
repo_path_ok(const char *p)
{
    if (!*p || *p == '/' || p[strlen(p) - 1] == '/')
        return 0;
    while (*p) {
        size_t len = strcspn(p, "/");

        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += len;
        if (*p == '/')
            p++;
    }
    return 1;
}

static enum err
parse_git(struct export_target *t, const char *split, size_t entry, char *errbuf, size_t errlen)
{
    const char *remote = t->spec;
    size_t rlen = (size_t)(split - remote) + 4; /* through ".git" */

    t->kind = EXPORT_GIT;
    t->url = xstrndup(remote, rlen);
    t->path = xstrdup(split + 5);
    if (!repo_path_ok(t->path))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_EXPORTS: entry %zu: the path after \".git:\" must be a relative "
                       "path in the repository such as config/effective-repos.csv",
                       entry);
    if (strncasecmp(t->url, "http://", 7) != 0 && strncasecmp(t->url, "https://", 8) != 0 &&
        strncasecmp(t->url, "ssh://", 6) != 0 && strncasecmp(t->url, "file://", 7) != 0 &&
        t->url[0] != '/' && !strchr(t->url, ':'))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_EXPORTS: entry %zu: a Git remote is git@host:org/repo.git, "
                       "ssh://, https://, file:/// or an absolute path",
                       entry);
    return ERR_OK;
}

static enum err
parse_s3(struct export_target *t, size_t entry, char *errbuf, size_t errlen)
{
    const char *b = t->spec + 5;
    const char *slash = strchr(b, '/');

    t->kind = EXPORT_S3;
    if (!slash || slash == b || !slash[1] || slash[strlen(slash) - 1] == '/')
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_EXPORTS: entry %zu: expected s3://bucket/key such as "
                       "s3://config/effective-repos.csv",
                       entry);
    t->bucket = xstrndup(b, (size_t)(slash - b));
    t->key = xstrdup(slash + 1);
    return ERR_OK;
}

static enum err
parse_http(struct export_target *t, size_t entry, char *errbuf, size_t errlen)
{
    const char *host = strstr(t->spec, "://") + 3;
    const char *path = host + strcspn(host, "/?#");

    t->kind = EXPORT_HTTP;
    t->url = xstrdup(t->spec);
    if (path == host || *path != '/' || path[1] == '\0' || path[1] == '?' || path[1] == '#')
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_EXPORTS: entry %zu: expected http(s)://host/path/to/file.csv",
                       entry);
    return ERR_OK;
}

/* One entry (blanks trimmed) into t. */
static enum err
parse_entry(struct export_target *t, const char *s, size_t len, size_t entry, char *errbuf,
            size_t errlen)
{
    const char *split = NULL;
    const char *p;

    if (len == 0 || len > EXPORT_SPEC_MAX_ENTRY)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_EXPORTS: entry %zu is empty or longer than %d bytes", entry,
                       EXPORT_SPEC_MAX_ENTRY);
    t->spec = xstrndup(s, len);
    if (!plain_text(t->spec))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_EXPORTS: entry %zu holds blanks or bytes outside printable ASCII",
                       entry);
    t->name = export_spec_redact(t->spec);
    for (p = strstr(t->spec, ".git:"); p; p = strstr(p + 1, ".git:"))
        split = p;
    if (split && split[5] != '/') /* "https://h/r.git:path", not "file:///r.git://x" */
        return parse_git(t, split, entry, errbuf, errlen);
    if (strncasecmp(t->spec, "s3://", 5) == 0)
        return parse_s3(t, entry, errbuf, errlen);
    if (strncasecmp(t->spec, "http://", 7) == 0 || strncasecmp(t->spec, "https://", 8) == 0)
        return parse_http(t, entry, errbuf, errlen);
    if (t->spec[0] == '/' && t->spec[len - 1] != '/') {
        t->kind = EXPORT_FILE;
        t->path = xstrdup(t->spec);
        return ERR_OK;
    }
    return err_set(ERR_BAD_INPUT, errbuf, errlen,
                   "INGESTD_EXPORTS: entry %zu is not an absolute file path, s3://bucket/key, "
                   "an http(s):// URL or a Git repository (repo.git:path)",
                   entry);
}

static void
target_release(struct export_target *t)
{
    free(t->spec);
    free(t->name);
    free(t->path);
    free(t->bucket);
    free(t->key);
    free(t->url);
}

void
export_spec_free(struct export_target *targets, size_t n)
{
    size_t i;

    if (!targets)
        return;
    for (i = 0; i < n; i++)
        target_release(&targets[i]);
    free(targets);
}

enum err
export_spec_parse(const char *list, struct export_target **out, size_t *n, char *errbuf,
                  size_t errlen)
{
    struct export_target *v = xcalloc(EXPORT_SPEC_MAX_TARGETS, sizeof(*v));
    const char *p = list;
    size_t count = 0;
    size_t i;
    enum err rc = ERR_OK;

    *out = NULL;
    *n = 0;
    while (p && *p && !rc) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (count == EXPORT_SPEC_MAX_TARGETS) {
            rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "INGESTD_EXPORTS: more than %d targets",
                         EXPORT_SPEC_MAX_TARGETS);
            break;
        }
        rc = parse_entry(&v[count], p, len, count + 1, errbuf, errlen);
        count++;
        for (i = 0; !rc && i + 1 < count; i++)
            if (strcmp(v[i].name, v[count - 1].name) == 0)
                rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                             "INGESTD_EXPORTS: entries %zu and %zu name the same target", i + 1,
                             count);
        p = comma ? comma + 1 : NULL;
    }
    if (rc) {
        export_spec_free(v, count);
        return rc;
    }
    *out = v;
    *n = count;
    return ERR_OK;
}
