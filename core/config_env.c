/*
 * config_env.c - reading one environment variable: numbers, durations, strings, secrets
 *
 * Part of the configuration (see config.c); not thread-safe (getenv): called
 * from config_load() only, before any thread starts.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config_internal.h"
#include "core/log.h"

enum err
config_env_int(const char *name, long def, long min, long max, long *out, char *errbuf,
               size_t errlen)
{
    const char *v = getenv(name);
    char *end = NULL;
    long n;

    *out = def;
    if (!v || !*v)
        return ERR_OK;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < min || n > max)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: must be an integer from %ld to %ld",
                       name, min, max);
    *out = n;
    return ERR_OK;
}

enum err
config_env_size(const char *name, size_t def, size_t min, size_t max, size_t *out, char *errbuf,
                size_t errlen)
{
    const char *v = getenv(name);
    char *end = NULL;
    unsigned long long n;

    *out = def;
    if (!v || !*v)
        return ERR_OK;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-' || n < min || n > max)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: must be an integer from %zu to %zu",
                       name, min, max);
    *out = (size_t)n;
    return ERR_OK;
}

#define DURATION_MAX_S 3153600000LL /* 36500 days */

/*
 * A duration: whole seconds ("3600"), or a whole number followed by one unit
 * s, m, h or d ("90d", "12h"); 0 to DURATION_MAX_S seconds.
 */
enum err
config_env_duration(const char *name, long long def, long long *out, char *errbuf, size_t errlen)
{
    const char *v = getenv(name);
    char *end = NULL;
    long long n;
    long long unit = 1;

    *out = def;
    if (!v || !*v)
        return ERR_OK;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (end != v && *end && !end[1]) {
        unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
        if (unit)
            end++; /* else *end stays: an error below */
        else
            unit = 1;
    }
    if (errno || *end || end == v || !isdigit((unsigned char)v[0]) || n > DURATION_MAX_S / unit)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "%s: must be seconds or a whole number of s, m, h or d (such as 90d), "
                       "at most 36500d",
                       name);
    *out = n * unit;
    return ERR_OK;
}

/* ---- strings ---- */

const char *
config_env_str(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

/* 1 when s is printable ASCII without spaces and without any character of banned. */
int
config_env_printable(const char *s, const char *banned)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7F || strchr(banned, *s))
            return 0;
    return 1;
}

/* http(s)://host[:port][/path], host a name, an IPv4 address or [IPv6]. */
int
config_env_endpoint(const char *v)
{
    const char *p = v;
    const char *host;
    char *end = NULL;
    long port;

    if (strncasecmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncasecmp(p, "https://", 8) == 0)
        p += 8;
    else
        return 0;
    host = p;
    if (*p == '[') {
        p = strchr(p, ']');
        if (!p || p - host < 3)
            return 0;
        p++;
    } else {
        p += strcspn(p, ":/");
        if (p == host)
            return 0;
    }
    if (*p == ':') {
        errno = 0;
        port = strtol(p + 1, &end, 10);
        if (errno || end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/'))
            return 0;
        p = end;
    }
    return *p == '\0' || *p == '/';
}

/*
 * A secret given as NAME or as NAME_FILE (a file holding it, as Kubernetes
 * mounts a Secret; one trailing newline or blanks are dropped). Both set is an
 * error; neither leaves *out NULL. The value never appears in a message.
 */
enum err
config_env_secret(const char *name, char **out, char *errbuf, size_t errlen)
{
    char file_var[64];
    const char *v = getenv(name);
    const char *path;
    struct buf b;
    char chunk[4096];
    size_t n;
    FILE *f;
    enum err rc = ERR_OK;

    snprintf(file_var, sizeof(file_var), "%s_FILE", name);
    path = getenv(file_var);
    if (v && *v && path && *path)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s and %s: set one of them", name, file_var);
    if (v && *v) {
        *out = xstrdup(v);
        return ERR_OK;
    }
    if (!path || !*path)
        return ERR_OK;
    f = fopen(path, "rb");
    if (!f)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: cannot read %s: %s", file_var, path,
                       strerror(errno));
    buf_init(&b, 65536);
    while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(&b, chunk, n);
    fclose(f);
    if (rc) {
        buf_release(&b);
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: %s is larger than 64 KiB", file_var,
                       path);
    }
    while (b.len && strchr(" \t\r\n", b.data[b.len - 1]))
        b.data[--b.len] = '\0';
    if (b.len == 0 || memchr(b.data, '\0', b.len)) {
        buf_release(&b);
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: %s is empty or binary", file_var, path);
    }
    *out = buf_take(&b, NULL);
    return ERR_OK;
}

int
config_env_next(const char **p, const char **entry, size_t *len)
{
    const char *s = *p;
    const char *comma;
    size_t n;

    if (!s)
        return 0;
    comma = strchr(s, ',');
    n = comma ? (size_t)(comma - s) : strlen(s);
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *entry = s;
    *len = n;
    *p = comma ? comma + 1 : NULL;
    return 1;
}
