/*
 * config_lists.c - the list-valued settings: CORS origins, exports, SQS queues, links URL, imports,
 * webhooks
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

/* An origin as a browser sends it: scheme://host[:port], nothing after (no path, no '/'). */
static int
origin_valid(const char *s, size_t len)
{
    size_t i = 0;
    size_t host;

    while (i < len && (isalnum((unsigned char)s[i]) || strchr("+-.", s[i])))
        i++;
    if (i == 0 || !isalpha((unsigned char)s[0]) || len - i < 4 || memcmp(s + i, "://", 3) != 0)
        return 0;
    host = i + 3;
    for (i = host; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7F || strchr("/?#@\\,", s[i]))
            return 0;
    return len > host;
}

/*
 * INGESTD_CORS_ORIGINS: comma-separated entries, each "*" or an exact origin
 * (blanks around entries are dropped). Stored joined by ','; unset or empty
 * leaves cors_origins NULL (no CORS headers at all).
 */
enum err
config_lists_cors(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v = getenv("INGESTD_CORS_ORIGINS");
    const char *p = v;
    const char *e;
    size_t len;
    struct buf b;
    size_t entry = 0;

    if (!v || !*v)
        return ERR_OK;
    buf_init(&b, 0);
    while (config_env_next(&p, &e, &len)) {
        entry++;
        if (!(len == 1 && *e == '*') && !origin_valid(e, len)) {
            buf_release(&b);
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "INGESTD_CORS_ORIGINS: entry %zu is not * or an origin such as "
                           "https://app.example or http://localhost:3000 (no path, no trailing /)",
                           entry);
        }
        buf_printf(&b, "%s%.*s", b.len ? "," : "", (int)len, e);
    }
    cfg->cors_origins = buf_take(&b, NULL);
    return ERR_OK;
}

/*
 * INGESTD_EXPORTS (each target checked, credentials never in a message),
 * INGESTD_EXPORT_TOKEN(_FILE), INGESTD_EXPORT_BACKOFF_MS and the Git
 * credentials the old pipeline's consumers take (GIT_SSH_KEY, GIT_CREDENTIALS).
 */
enum err
config_lists_exports(struct config *cfg, char *errbuf, size_t errlen)
{
    struct buf shown;
    size_t i;
    long n;
    enum err rc;

    rc =
        export_spec_parse(getenv("INGESTD_EXPORTS"), &cfg->exports, &cfg->nexports, errbuf, errlen);
    if (!rc)
        rc = config_env_secret("INGESTD_EXPORT_TOKEN", &cfg->export_token, errbuf, errlen);
    if (!rc && cfg->export_token && !config_env_printable(cfg->export_token, ""))
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "INGESTD_EXPORT_TOKEN: must be printable ASCII without spaces");
    if (!rc)
        rc = config_env_int("INGESTD_EXPORT_BACKOFF_MS", 1000, 10, 600000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->export_backoff_ms = (int)n;
    cfg->git_ssh_key = config_env_str("GIT_SSH_KEY");
    cfg->git_credentials = config_env_str("GIT_CREDENTIALS");
    cfg->home = config_env_str("HOME");
    cfg->ssh_auth_sock = config_env_str("SSH_AUTH_SOCK");
    if (cfg->nexports == 0)
        return ERR_OK;
    buf_init(&shown, 0);
    for (i = 0; i < cfg->nexports; i++)
        buf_printf(&shown, "%s%s", i ? "," : "", cfg->exports[i].name);
    cfg->exports_shown = buf_take(&shown, NULL);
    return ERR_OK;
}

/* One queue URL of INGESTD_SQS_QUEUES: http(s)://host[:port]/path with a name, printable. */
static int
sqs_queue_valid(const char *s, size_t len)
{
    char url[1024];
    const char *path;
    size_t i;

    if (len == 0 || len >= sizeof(url))
        return 0;
    memcpy(url, s, len);
    url[len] = '\0';
    for (i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7F ||
            strchr("?#@\\,\"", url[i]))
            return 0;
    if (!config_env_endpoint(url))
        return 0;
    path = strchr(strstr(url, "://") + 3, '/');
    return path && strspn(path, "/") < strlen(path);
}

/*
 * INGESTD_SQS_QUEUES (comma-separated queue URLs, blanks around entries
 * dropped, at most 16, no repeats) and the consumer's settings.
 */
enum err
config_lists_sqs(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v, *p, *e;
    size_t len;
    struct buf b;
    size_t entry = 0;
    long n;
    enum err rc;

    rc = config_env_int("INGESTD_SQS_WAIT_TIME", 20, 0, 20, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->sqs_wait_s = (int)n;
    rc = config_env_int("INGESTD_SQS_VISIBILITY_TIMEOUT", 60, 1, 43200, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->sqs_visibility_s = (int)n;
    v = getenv("INGESTD_SQS_POISON");
    if (v && *v && strcmp(v, "keep") != 0 && strcmp(v, "delete") != 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "INGESTD_SQS_POISON: must be keep or delete");
    cfg->sqs_poison = xstrdup(v && *v ? v : "keep");
    cfg->sqs_endpoint_url = config_env_str("AWS_ENDPOINT_URL_SQS");
    if (cfg->sqs_endpoint_url && (!config_env_printable(cfg->sqs_endpoint_url, "?#@\\,\"") ||
                                  !config_env_endpoint(cfg->sqs_endpoint_url)))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_ENDPOINT_URL_SQS: expected http(s)://host[:port][/path] such as "
                       "http://127.0.0.1:4566");
    v = getenv("INGESTD_SQS_QUEUES");
    p = v;
    if (!v || !*v)
        return ERR_OK;
    buf_init(&b, 0);
    while (config_env_next(&p, &e, &len)) {
        entry++;
        if (!sqs_queue_valid(e, len) || entry > 16) {
            buf_release(&b);
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           entry > 16 ? "INGESTD_SQS_QUEUES: at most 16 queues"
                                      : "INGESTD_SQS_QUEUES: entry %zu is not a queue url such as "
                                        "https://sqs.us-east-1.amazonaws.com/123456789012/name",
                           entry);
        }
        buf_printf(&b, "%s%.*s", b.len ? "," : "", (int)len, e);
    }
    cfg->sqs_queues = buf_take(&b, NULL);
    return ERR_OK;
}

/*
 * INGESTD_LINKS_URL: the base of the list's page links, as the filemanager's
 * FILEMANAGER_API_LINKS_URL: http(s)://host[:port] and an optional path
 * prefix (kept, unlike the filemanager, which drops it); no query, no
 * fragment, no user info. A trailing / is dropped.
 */
enum err
config_lists_links_url(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v = getenv("INGESTD_LINKS_URL");
    size_t len;
    size_t i;
    size_t slash;

    if (!v || !*v)
        return ERR_OK;
    len = strlen(v);
    while (len > 0 && v[len - 1] == '/')
        len--;
    slash = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;
    for (i = slash; slash && i < len; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7F || strchr("?#@\\\"<>", v[i]))
            break;
    if (!slash || len <= slash || i < len || v[slash] == '/')
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_LINKS_URL: must be http(s)://host[:port][/path] (no query, "
                       "fragment or user)");
    cfg->links_url = xmalloc(len + 1);
    memcpy(cfg->links_url, v, len);
    cfg->links_url[len] = '\0';
    return ERR_OK;
}

/* One entry of INGESTD_IMPORTS: an absolute folder, or s3://bucket/prefix (a '/' is added). */
static enum err
import_location(const char *p, size_t len, size_t entry, char **out, char *errbuf, size_t errlen)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7F)
            goto bad;
    if (len > 5 && strncmp(p, "s3://", 5) == 0) {
        if (p[5] == '/' || memmem(p + 5, len - 5, "//", 2))
            goto bad;
        *out = xmalloc(len + 2);
        snprintf(*out, len + 2, "%.*s%s", (int)len, p, p[len - 1] == '/' ? "" : "/");
        return ERR_OK;
    }
    if (len < 2 || p[0] != '/' || memmem(p, len, "/../", 4) || memmem(p, len, "/./", 3))
        goto bad;
    while (len > 1 && p[len - 1] == '/')
        len--;
    *out = xstrndup(p, len);
    return ERR_OK;
bad:
    return err_set(ERR_BAD_INPUT, errbuf, errlen,
                   "INGESTD_IMPORTS: entry %zu is not an absolute folder (/var/events) or "
                   "s3://bucket/prefix/",
                   entry);
}

/* INGESTD_IMPORTS (comma-separated locations), their rescan and poll intervals, the crash hook. */
enum err
config_lists_imports(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v = getenv("INGESTD_IMPORTS");
    const char *p = v;
    const char *e;
    size_t len;
    size_t n = 0;
    long secs;
    enum err rc;

    rc = config_env_int("INGESTD_IMPORT_RESCAN", 60, 1, 86400, &secs, errbuf, errlen);
    if (rc)
        return rc;
    cfg->import_rescan_s = (int)secs;
    rc = config_env_int("INGESTD_IMPORT_POLL", 10, 1, 86400, &secs, errbuf, errlen);
    if (rc)
        return rc;
    cfg->import_poll_s = (int)secs;
    rc = config_env_int("INGESTD_IMPORT_THREADS", 4, 1, 64, &secs, errbuf, errlen);
    if (rc)
        return rc;
    cfg->import_threads = (int)secs;
    if (config_env_str("INGESTD_TEST_CRASH_AT"))
        cfg->test_crash_at = xstrdup(config_env_str("INGESTD_TEST_CRASH_AT"));
    if (!v || !*v)
        return ERR_OK;
    cfg->imports = xstrdup(v);
    cfg->import_locations = xcalloc(strlen(v) + 2, sizeof(char *));
    while (config_env_next(&p, &e, &len)) {
        size_t k;

        if (len) {
            rc = import_location(e, len, n + 1, &cfg->import_locations[n], errbuf, errlen);
            if (rc)
                return rc;
            for (k = 0; k < n; k++)
                if (strcmp(cfg->import_locations[k], cfg->import_locations[n]) == 0)
                    return err_set(ERR_BAD_INPUT, errbuf, errlen,
                                   "INGESTD_IMPORTS: entry %zu repeats entry %zu", n + 1, k + 1);
            n++;
        }
    }
    return ERR_OK;
}

/* One INGESTD_WEBHOOK_URLS entry: http(s)://, then printable ASCII without blanks. */
static int
webhook_url_valid(const char *s, size_t len)
{
    size_t skip;
    size_t i;

    if (len > 7 && strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (len > 8 && strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return 0;
    if (s[skip] == '/' || len > 2048)
        return 0;
    for (i = skip; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7F)
            return 0;
    return 1;
}

/*
 * INGESTD_WEBHOOK_URLS (comma-separated, blanks around entries dropped, at
 * most 64), INGESTD_WEBHOOK_SECRET(_FILE), and the retry settings. URLs
 * without a secret are an error: deliveries are always signed.
 */
enum err
config_lists_webhooks(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v = getenv("INGESTD_WEBHOOK_URLS");
    const char *p = v && *v ? v : NULL;
    const char *e;
    size_t len;
    struct buf text;
    long n;
    enum err rc;

    rc = config_env_secret("INGESTD_WEBHOOK_SECRET", &cfg->webhook_secret, errbuf, errlen);
    if (!rc)
        rc = config_env_int("INGESTD_WEBHOOK_ATTEMPTS", 12, 1, 100, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->webhook_attempts = (int)n;
    rc = config_env_int("INGESTD_WEBHOOK_BACKOFF_MS", 10000, 1, 3600000, &cfg->webhook_backoff_ms,
                        errbuf, errlen);
    if (!rc)
        rc = config_env_int("INGESTD_WEBHOOK_TIMEOUT_MS", 10000, 100, 600000,
                            &cfg->webhook_timeout_ms, errbuf, errlen);
    if (rc || !p)
        return rc;
    buf_init(&text, 0);
    while (config_env_next(&p, &e, &len)) {
        if (!webhook_url_valid(e, len) || cfg->webhook_url_count == 64) {
            buf_release(&text);
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           cfg->webhook_url_count == 64
                               ? "INGESTD_WEBHOOK_URLS: at most 64 URLs"
                               : "INGESTD_WEBHOOK_URLS: entry %zu is not an http(s):// URL "
                                 "without blanks",
                           cfg->webhook_url_count + 1);
        }
        cfg->webhook_urls =
            xrealloc(cfg->webhook_urls, (cfg->webhook_url_count + 1) * sizeof(char *));
        cfg->webhook_urls[cfg->webhook_url_count++] = xstrndup(e, len);
        buf_printf(&text, "%s%.*s", text.len ? "," : "", (int)len, e);
    }
    cfg->webhook_urls_text = buf_take(&text, NULL);
    if (!cfg->webhook_secret)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_WEBHOOK_URLS: set INGESTD_WEBHOOK_SECRET (or "
                       "INGESTD_WEBHOOK_SECRET_FILE) too: deliveries are signed");
    return ERR_OK;
}
