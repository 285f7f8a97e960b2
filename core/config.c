/*
 * config.c - configuration from the environment
 *
 * The one place where settings are read from the environment (the other
 * getenv() calls are storage/embedded_pg.c's PATH and INGESTD_PG_BINDIR, to
 * find PostgreSQL's programs). Every setting has a default; a value that is
 * there but unusable fails config_load() with one line naming the variable,
 * so that a bad deployment stops at start instead of failing requests
 * later. Not thread-safe (getenv): call it from main before any thread
 * starts. The table settings[] below names every variable read here (and
 * INGESTD_PG_BINDIR): an INGESTD_* name missing from it is warned about as
 * unknown, and `ingestd config` lists it.
 */
#include "core/config.h"

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
#include "core/log.h"

static enum err
env_int(const char *name, long def, long min, long max, long *out, char *errbuf, size_t errlen)
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

static enum err
env_size(const char *name, size_t def, size_t min, size_t max, size_t *out, char *errbuf,
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
static enum err
env_duration(const char *name, long long def, long long *out, char *errbuf, size_t errlen)
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

/* "host:port", "[v6]:port"; the host must be numeric. */
static enum err
parse_listen(struct config *cfg, const char *v, char *errbuf, size_t errlen)
{
    const char *colon;
    const char *host;
    size_t hostlen;
    char *end = NULL;
    long port;
    unsigned char addr[sizeof(struct in6_addr)];

    if (v[0] == '[') {
        colon = strstr(v, "]:");
        if (!colon)
            goto bad;
        host = v + 1;
        hostlen = (size_t)(colon - host);
        colon++;
    } else {
        colon = strrchr(v, ':');
        if (!colon)
            goto bad;
        host = v;
        hostlen = (size_t)(colon - v);
    }
    if (hostlen == 0)
        goto bad;
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
        goto bad;
    cfg->listen_host = xstrndup(host, hostlen);
    cfg->listen_port = (int)port;
    if (inet_pton(AF_INET, cfg->listen_host, &addr) != 1 &&
        inet_pton(AF_INET6, cfg->listen_host, &addr) != 1)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_LISTEN: the address must be numeric, such as 127.0.0.1:8080, "
                       "0.0.0.0:8080 or [::1]:8080, got \"%.120s\"",
                       v);
    return ERR_OK;
bad:
    return err_set(ERR_BAD_INPUT, errbuf, errlen,
                   "INGESTD_LISTEN: expected address:port such as 127.0.0.1:8080, got \"%s\"", v);
}

/* ---- S3 (the AWS_* variables) ---- */

static const char *
env_str(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

/* 1 when s is printable ASCII without spaces and without any character of banned. */
static int
printable_without(const char *s, const char *banned)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7F || strchr(banned, *s))
            return 0;
    return 1;
}

/* http(s)://host[:port][/path], host a name, an IPv4 address or [IPv6]. */
static int
endpoint_valid(const char *v)
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

/* Values that would break a request line or the SigV4 credential scope. */
static enum err
check_s3_strings(const struct config_s3 *s3, const char *region_var, char *errbuf, size_t errlen)
{
    const char *p;

    for (p = s3->region; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "%s: must be letters, digits, '-', '_' or '.', such as us-east-1",
                           region_var);
    if (s3->access_key_id && !printable_without(s3->access_key_id, "/,"))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_ACCESS_KEY_ID: must be printable ASCII without spaces, '/' or ','");
    if (s3->session_token && !printable_without(s3->session_token, ""))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_SESSION_TOKEN: must be printable ASCII without spaces");
    if (s3->endpoint_url && !printable_without(s3->endpoint_url, "?#@\\"))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_ENDPOINT_URL: expected http(s)://host[:port][/path] without spaces, "
                       "control characters, '?', '#' or '@'");
    if (s3->endpoint_url && !endpoint_valid(s3->endpoint_url))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_ENDPOINT_URL: expected http(s)://host[:port][/path] such as "
                       "http://127.0.0.1:9000, got \"%.120s\"",
                       s3->endpoint_url);
    return ERR_OK;
}

/* Signed requests need the key and the secret; a session token goes with them. */
static enum err
check_s3_credentials(const struct config_s3 *s3, char *errbuf, size_t errlen)
{
    if (s3->access_key_id && !s3->secret_access_key)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_ACCESS_KEY_ID: set without AWS_SECRET_ACCESS_KEY (set both, or "
                       "neither for anonymous access)");
    if (s3->secret_access_key && !s3->access_key_id)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_SECRET_ACCESS_KEY: set without AWS_ACCESS_KEY_ID (set both, or "
                       "neither for anonymous access)");
    if (s3->session_token && !s3->access_key_id)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_SESSION_TOKEN: set without AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY");
    return ERR_OK;
}

enum err
config_s3_load(struct config_s3 *s3, char *errbuf, size_t errlen)
{
    const char *region_var = "AWS_REGION";
    enum err rc;

    memset(s3, 0, sizeof(*s3));
    s3->region = env_str(region_var);
    if (!s3->region) {
        region_var = "AWS_DEFAULT_REGION";
        s3->region = env_str(region_var);
    }
    if (!s3->region)
        s3->region = CONFIG_S3_DEFAULT_REGION;
    s3->access_key_id = env_str("AWS_ACCESS_KEY_ID");
    s3->secret_access_key = env_str("AWS_SECRET_ACCESS_KEY");
    s3->session_token = env_str("AWS_SESSION_TOKEN");
    s3->endpoint_url = env_str("AWS_ENDPOINT_URL");
    rc = check_s3_strings(s3, region_var, errbuf, errlen);
    if (!rc)
        rc = check_s3_credentials(s3, errbuf, errlen);
    return rc;
}

/*
 * A secret given as NAME or as NAME_FILE (a file holding it, as Kubernetes
 * mounts a Secret; one trailing newline or blanks are dropped). Both set is an
 * error; neither leaves *out NULL. The value never appears in a message.
 */
static enum err
secret_value(const char *name, char **out, char *errbuf, size_t errlen)
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

/*
 * The embedded PostgreSQL is started through pg_ctl's shell with the path
 * in single quotes, and its socket path in a connection string: no control
 * characters, quotes, backslashes, dollars, backquotes or commas.
 */
static enum err
check_data_dir(const char *dir, char *errbuf, size_t errlen)
{
    const char *p;

    for (p = dir; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F || strchr("'\"\\$`,", *p))
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "INGESTD_DATA_DIR: must not contain control characters, quotes, "
                           "backslashes, '$', '`' or ','; choose a plain path");
    return ERR_OK;
}

/*
 * The caps on open HTTP connections (server/http.c hands them to
 * libmicrohttpd): all clients together, and one client address. A
 * connection past either is closed as soon as it is accepted.
 */
static enum err
load_connections(struct config *cfg, char *errbuf, size_t errlen)
{
    long n;
    enum err rc;

    rc = env_int("INGESTD_MAX_CONNECTIONS", 2048, 16, 1000000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->max_connections = (int)n;
    rc = env_int("INGESTD_MAX_CONNECTIONS_PER_IP", 1024, 0, 1000000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->max_connections_per_ip = (int)n;
    return ERR_OK;
}

/* Where to listen and keep data, and the HTTP server's threads and timeouts. */
static enum err
load_server(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v;
    long n;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    enum err rc;

    rc = secret_value("DATABASE_URL", &cfg->database_url, errbuf, errlen);
    if (rc)
        return rc;
    if (cfg->database_url)
        cfg->database_url_var = env_str("DATABASE_URL") ? "DATABASE_URL" : "DATABASE_URL_FILE";
    v = getenv("INGESTD_LISTEN");
    rc = parse_listen(cfg, v && *v ? v : "127.0.0.1:8080", errbuf, errlen);
    if (rc)
        return rc;
    v = getenv("INGESTD_DATA_DIR");
    cfg->data_dir = xstrdup(v && *v ? v : "./var");
    rc = check_data_dir(cfg->data_dir, errbuf, errlen);
    if (rc)
        return rc;
    rc = env_int("INGESTD_DB_WAIT", 60, 0, 3600, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->db_wait_s = (int)n;
    rc = env_int("INGESTD_HTTP_THREADS", cores < 1 ? 1 : cores, 1, 256, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->http_threads = (int)n;
    rc = env_int("INGESTD_DB_POOL", 4, 1, 256, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->db_pool = (int)n;
    rc = env_int("INGESTD_REQUEST_TIMEOUT", 60, 1, 3600, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->request_timeout_s = (int)n;
    rc = load_connections(cfg, errbuf, errlen);
    if (rc)
        return rc;
    rc = env_int("INGESTD_SHUTDOWN_GRACE", 20, 0, 3600, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->shutdown_grace_s = (int)n;
    return ERR_OK;
}

/* The caps on what a client may send. */
static enum err
load_limits(struct config *cfg, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = env_size("INGESTD_MAX_BODY_BYTES", (size_t)64 << 20, 1024, (size_t)1 << 34,
                  &cfg->max_body_bytes, errbuf, errlen);
    if (rc)
        return rc;
    rc = env_size("INGESTD_MAX_COLUMNS", 1000, 2, 100000, &cfg->max_columns, errbuf, errlen);
    if (rc)
        return rc;
    rc = env_size("INGESTD_MAX_FIELD_BYTES", 65536, 16, (size_t)1 << 30, &cfg->max_field_bytes,
                  errbuf, errlen);
    if (rc)
        return rc;
    return env_size("INGESTD_MAX_ROWS", 1000000, 1, (size_t)1 << 40, &cfg->max_rows, errbuf,
                    errlen);
}

/* Automatic merges and inventory jobs. */
static enum err
load_jobs(struct config *cfg, char *errbuf, size_t errlen)
{
    long n;
    enum err rc;

    rc = env_int("INGESTD_MERGE_INTERVAL", 0, 0, 86400 * 7, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->merge_interval_s = (int)n;
    rc = env_int("INGESTD_INVENTORY_STREAMS", 2, 1, 16, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->inventory_streams = (int)n;
    rc = env_int("INGESTD_INVENTORY_MERGE_BELOW", 10000, 0, 1000000000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->inventory_merge_below = (long long)n;
    rc = env_int("INGESTD_LONG_WORKERS", 2, 1, 64, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->long_workers = (int)n;
    rc = env_int("INGESTD_LONG_QUEUE", 16, 0, 100000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->long_queue = (int)n;
    return ERR_OK;
}

/* Presigned URLs and crawls of the S3 catalog. */
static enum err
load_s3_api(struct config *cfg, char *errbuf, size_t errlen)
{
    long n;
    enum err rc;

    rc = env_int("INGESTD_PRESIGN_EXPIRY", 3600, 1, 604800, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->presign_expiry_s = (int)n;
    rc = env_size("INGESTD_PRESIGN_MAX_BYTES", 0, 0, (size_t)1 << 50, &cfg->presign_max_bytes,
                  errbuf, errlen);
    if (rc)
        return rc;
    rc = env_int("INGESTD_CRAWL_SYNC_WAIT", 300, 1, 3600, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->crawl_sync_wait_s = (int)n;
    return ERR_OK;
}

/* The token sources; server/auth.c parses them (and the file again on SIGHUP). */
static enum err
load_auth(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *list = getenv("INGESTD_API_TOKENS");
    const char *file = getenv("INGESTD_API_TOKENS_FILE");

    (void)errbuf;
    (void)errlen;
    if (list)
        cfg->api_tokens = xstrdup(list);
    if (file && *file)
        cfg->api_tokens_file = xstrdup(file);
    return ERR_OK;
}

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
static enum err
load_cors(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v = getenv("INGESTD_CORS_ORIGINS");
    const char *p = v;
    struct buf b;
    size_t entry = 0;

    if (!v || !*v)
        return ERR_OK;
    buf_init(&b, 0);
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        entry++;
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!(len == 1 && *p == '*') && !origin_valid(p, len)) {
            buf_release(&b);
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "INGESTD_CORS_ORIGINS: entry %zu is not * or an origin such as "
                           "https://app.example or http://localhost:3000 (no path, no trailing /)",
                           entry);
        }
        buf_printf(&b, "%s%.*s", b.len ? "," : "", (int)len, p);
        p = comma ? comma + 1 : NULL;
    }
    cfg->cors_origins = buf_take(&b, NULL);
    return ERR_OK;
}

/*
 * INGESTD_EXPORTS (each target checked, credentials never in a message),
 * INGESTD_EXPORT_TOKEN(_FILE), INGESTD_EXPORT_BACKOFF_MS and the Git
 * credentials the old pipeline's consumers take (GIT_SSH_KEY, GIT_CREDENTIALS).
 */
static enum err
load_exports(struct config *cfg, char *errbuf, size_t errlen)
{
    struct buf shown;
    size_t i;
    long n;
    enum err rc;

    rc =
        export_spec_parse(getenv("INGESTD_EXPORTS"), &cfg->exports, &cfg->nexports, errbuf, errlen);
    if (!rc)
        rc = secret_value("INGESTD_EXPORT_TOKEN", &cfg->export_token, errbuf, errlen);
    if (!rc && cfg->export_token && !printable_without(cfg->export_token, ""))
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "INGESTD_EXPORT_TOKEN: must be printable ASCII without spaces");
    if (!rc)
        rc = env_int("INGESTD_EXPORT_BACKOFF_MS", 1000, 10, 600000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->export_backoff_ms = (int)n;
    cfg->git_ssh_key = env_str("GIT_SSH_KEY");
    cfg->git_credentials = env_str("GIT_CREDENTIALS");
    cfg->home = env_str("HOME");
    cfg->ssh_auth_sock = env_str("SSH_AUTH_SOCK");
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
    if (!endpoint_valid(url))
        return 0;
    path = strchr(strstr(url, "://") + 3, '/');
    return path && strspn(path, "/") < strlen(path);
}

/*
 * INGESTD_SQS_QUEUES (comma-separated queue URLs, blanks around entries
 * dropped, at most 16, no repeats) and the consumer's settings.
 */
static enum err
load_sqs(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v, *p;
    struct buf b;
    size_t entry = 0;
    long n;
    enum err rc;

    rc = env_int("INGESTD_SQS_WAIT_TIME", 20, 0, 20, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->sqs_wait_s = (int)n;
    rc = env_int("INGESTD_SQS_VISIBILITY_TIMEOUT", 60, 1, 43200, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->sqs_visibility_s = (int)n;
    v = getenv("INGESTD_SQS_POISON");
    if (v && *v && strcmp(v, "keep") != 0 && strcmp(v, "delete") != 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "INGESTD_SQS_POISON: must be keep or delete");
    cfg->sqs_poison = xstrdup(v && *v ? v : "keep");
    cfg->sqs_endpoint_url = env_str("AWS_ENDPOINT_URL_SQS");
    if (cfg->sqs_endpoint_url && (!printable_without(cfg->sqs_endpoint_url, "?#@\\,\"") ||
                                  !endpoint_valid(cfg->sqs_endpoint_url)))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_ENDPOINT_URL_SQS: expected http(s)://host[:port][/path] such as "
                       "http://127.0.0.1:4566");
    v = getenv("INGESTD_SQS_QUEUES");
    p = v;
    if (!v || !*v)
        return ERR_OK;
    buf_init(&b, 0);
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        entry++;
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!sqs_queue_valid(p, len) || entry > 16) {
            buf_release(&b);
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           entry > 16 ? "INGESTD_SQS_QUEUES: at most 16 queues"
                                      : "INGESTD_SQS_QUEUES: entry %zu is not a queue url such as "
                                        "https://sqs.us-east-1.amazonaws.com/123456789012/name",
                           entry);
        }
        buf_printf(&b, "%s%.*s", b.len ? "," : "", (int)len, p);
        p = comma ? comma + 1 : NULL;
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
static enum err
load_links_url(struct config *cfg, char *errbuf, size_t errlen)
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
static enum err
load_imports(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v = getenv("INGESTD_IMPORTS");
    const char *p = v;
    size_t n = 0;
    long secs;
    enum err rc;

    rc = env_int("INGESTD_IMPORT_RESCAN", 60, 1, 86400, &secs, errbuf, errlen);
    if (rc)
        return rc;
    cfg->import_rescan_s = (int)secs;
    rc = env_int("INGESTD_IMPORT_POLL", 10, 1, 86400, &secs, errbuf, errlen);
    if (rc)
        return rc;
    cfg->import_poll_s = (int)secs;
    rc = env_int("INGESTD_IMPORT_THREADS", 4, 1, 64, &secs, errbuf, errlen);
    if (rc)
        return rc;
    cfg->import_threads = (int)secs;
    if (env_str("INGESTD_TEST_CRASH_AT"))
        cfg->test_crash_at = xstrdup(env_str("INGESTD_TEST_CRASH_AT"));
    if (!v || !*v)
        return ERR_OK;
    cfg->imports = xstrdup(v);
    cfg->import_locations = xcalloc(strlen(v) + 2, sizeof(char *));
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        size_t k;

        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len) {
            rc = import_location(p, len, n + 1, &cfg->import_locations[n], errbuf, errlen);
            if (rc)
                return rc;
            for (k = 0; k < n; k++)
                if (strcmp(cfg->import_locations[k], cfg->import_locations[n]) == 0)
                    return err_set(ERR_BAD_INPUT, errbuf, errlen,
                                   "INGESTD_IMPORTS: entry %zu repeats entry %zu", n + 1, k + 1);
            n++;
        }
        p = comma ? comma + 1 : NULL;
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
static enum err
load_webhooks(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v = getenv("INGESTD_WEBHOOK_URLS");
    const char *p = v && *v ? v : NULL;
    struct buf text;
    long n;
    enum err rc;

    rc = secret_value("INGESTD_WEBHOOK_SECRET", &cfg->webhook_secret, errbuf, errlen);
    if (!rc)
        rc = env_int("INGESTD_WEBHOOK_ATTEMPTS", 12, 1, 100, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->webhook_attempts = (int)n;
    rc = env_int("INGESTD_WEBHOOK_BACKOFF_MS", 10000, 1, 3600000, &cfg->webhook_backoff_ms, errbuf,
                 errlen);
    if (!rc)
        rc = env_int("INGESTD_WEBHOOK_TIMEOUT_MS", 10000, 100, 600000, &cfg->webhook_timeout_ms,
                     errbuf, errlen);
    if (rc || !p)
        return rc;
    buf_init(&text, 0);
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!webhook_url_valid(p, len) || cfg->webhook_url_count == 64) {
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
        cfg->webhook_urls[cfg->webhook_url_count++] = xstrndup(p, len);
        buf_printf(&text, "%s%.*s", text.len ? "," : "", (int)len, p);
        p = comma ? comma + 1 : NULL;
    }
    cfg->webhook_urls_text = buf_take(&text, NULL);
    if (!cfg->webhook_secret)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "INGESTD_WEBHOOK_URLS: set INGESTD_WEBHOOK_SECRET (or "
                       "INGESTD_WEBHOOK_SECRET_FILE) too: deliveries are signed");
    return ERR_OK;
}

enum err
config_load(struct config *cfg, char *errbuf, size_t errlen)
{
    enum err rc;

    memset(cfg, 0, sizeof(*cfg));
    rc = load_server(cfg, errbuf, errlen);
    if (rc)
        goto out;
    rc = load_limits(cfg, errbuf, errlen);
    if (rc)
        goto out;
    rc = load_jobs(cfg, errbuf, errlen);
    if (rc)
        goto out;
    rc = load_s3_api(cfg, errbuf, errlen);
    if (rc)
        goto out;
    rc = config_s3_load(&cfg->s3, errbuf, errlen);
    if (rc)
        goto out;
    rc = load_auth(cfg, errbuf, errlen);
    if (!rc)
        rc = load_cors(cfg, errbuf, errlen);
    if (!rc)
        rc = load_exports(cfg, errbuf, errlen);
    if (!rc)
        rc = load_sqs(cfg, errbuf, errlen);
    if (!rc)
        rc = load_links_url(cfg, errbuf, errlen);
    if (!rc)
        rc = load_imports(cfg, errbuf, errlen);
    if (!rc)
        rc = load_webhooks(cfg, errbuf, errlen);
    if (!rc)
        rc = env_duration("INGESTD_REPOS_HISTORY", 90LL * 86400, &cfg->repos_history_s, errbuf,
                          errlen);
out:
    if (rc)
        config_release(cfg);
    return rc;
}

void
config_release(struct config *cfg)
{
    if (!cfg)
        return;
    free(cfg->database_url);
    free(cfg->api_tokens);
    free(cfg->api_tokens_file);
    free(cfg->cors_origins);
    for (size_t i = 0; i < cfg->webhook_url_count; i++)
        free(cfg->webhook_urls[i]);
    free(cfg->webhook_urls);
    free(cfg->webhook_urls_text);
    free(cfg->webhook_secret);
    export_spec_free(cfg->exports, cfg->nexports);
    free(cfg->exports_shown);
    free(cfg->export_token);
    free(cfg->sqs_queues);
    free(cfg->sqs_poison);
    free(cfg->links_url);
    free(cfg->imports);
    for (size_t i = 0; cfg->import_locations && cfg->import_locations[i]; i++)
        free(cfg->import_locations[i]);
    free(cfg->import_locations);
    free(cfg->test_crash_at);
    free(cfg->listen_host);
    free(cfg->data_dir);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- the known settings ---- */

enum setting_type {
    SET_STR,    /* char * in struct config */
    SET_CSTR,   /* const char * in struct config */
    SET_INT,    /* int */
    SET_SIZE,   /* size_t */
    SET_LL,     /* long long */
    SET_LONG,   /* long */
    SET_LISTEN, /* listen_host and listen_port */
    SET_ENV,    /* not in struct config: read where it is used (INGESTD_PG_BINDIR) */
};

struct setting {
    const char *name;
    enum setting_type type;
    size_t offset; /* of the member in struct config */
    enum config_show show;
    const char *alt;   /* another variable that may give the value, or NULL */
    const char *unset; /* what leaving a string setting unset means */
};

#define CFG(m) offsetof(struct config, m)

/*
 * Every variable ingestd reads, in the order `ingestd config` shows them.
 * A new setting is added here (and read in config_load()); an INGESTD_*
 * variable missing from this table is warned about as unknown at start.
 */
static const struct setting settings[] = {
    {"DATABASE_URL", SET_STR, CFG(database_url), CONFIG_SHOW_CONNINFO, "DATABASE_URL_FILE",
     "embedded PostgreSQL under INGESTD_DATA_DIR"},
    {"INGESTD_DB_WAIT", SET_INT, CFG(db_wait_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_LISTEN", SET_LISTEN, 0, CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_DATA_DIR", SET_STR, CFG(data_dir), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_PG_BINDIR", SET_ENV, 0, CONFIG_SHOW_PLAIN, NULL,
     "the newest /usr/lib/postgresql/N/bin, else PATH"},
    {"INGESTD_HTTP_THREADS", SET_INT, CFG(http_threads), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_DB_POOL", SET_INT, CFG(db_pool), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_REQUEST_TIMEOUT", SET_INT, CFG(request_timeout_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_CONNECTIONS", SET_INT, CFG(max_connections), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_CONNECTIONS_PER_IP", SET_INT, CFG(max_connections_per_ip), CONFIG_SHOW_PLAIN,
     NULL, NULL},
    {"INGESTD_SHUTDOWN_GRACE", SET_INT, CFG(shutdown_grace_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_BODY_BYTES", SET_SIZE, CFG(max_body_bytes), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_COLUMNS", SET_SIZE, CFG(max_columns), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_FIELD_BYTES", SET_SIZE, CFG(max_field_bytes), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_ROWS", SET_SIZE, CFG(max_rows), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MERGE_INTERVAL", SET_INT, CFG(merge_interval_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_INVENTORY_STREAMS", SET_INT, CFG(inventory_streams), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_INVENTORY_MERGE_BELOW", SET_LL, CFG(inventory_merge_below), CONFIG_SHOW_PLAIN, NULL,
     NULL},
    {"INGESTD_LONG_WORKERS", SET_INT, CFG(long_workers), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_LONG_QUEUE", SET_INT, CFG(long_queue), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_API_TOKENS", SET_STR, CFG(api_tokens), CONFIG_SHOW_SECRET, NULL,
     "auth off unless INGESTD_API_TOKENS_FILE is set"},
    {"INGESTD_API_TOKENS_FILE", SET_STR, CFG(api_tokens_file), CONFIG_SHOW_PLAIN, NULL, "none"},
    {"AWS_REGION", SET_CSTR, CFG(s3.region), CONFIG_SHOW_PLAIN, "AWS_DEFAULT_REGION", NULL},
    {"AWS_ACCESS_KEY_ID", SET_CSTR, CFG(s3.access_key_id), CONFIG_SHOW_PLAIN, NULL,
     "anonymous S3 requests"},
    {"AWS_SECRET_ACCESS_KEY", SET_CSTR, CFG(s3.secret_access_key), CONFIG_SHOW_SECRET, NULL,
     "none"},
    {"AWS_SESSION_TOKEN", SET_CSTR, CFG(s3.session_token), CONFIG_SHOW_SECRET, NULL, "none"},
    {"AWS_ENDPOINT_URL", SET_CSTR, CFG(s3.endpoint_url), CONFIG_SHOW_PLAIN, NULL, "AWS itself"},
    {"INGESTD_CORS_ORIGINS", SET_STR, CFG(cors_origins), CONFIG_SHOW_PLAIN, NULL, "no CORS"},
    /* shown as the targets' names: userinfo, query and fragment dropped */
    {"INGESTD_EXPORTS", SET_STR, CFG(exports_shown), CONFIG_SHOW_PLAIN, NULL, "no exports"},
    {"INGESTD_EXPORT_TOKEN", SET_STR, CFG(export_token), CONFIG_SHOW_SECRET,
     "INGESTD_EXPORT_TOKEN_FILE", "no Bearer token for http(s) exports"},
    {"INGESTD_EXPORT_TOKEN_FILE", SET_ENV, 0, CONFIG_SHOW_PLAIN, NULL, "none"},
    {"INGESTD_EXPORT_BACKOFF_MS", SET_INT, CFG(export_backoff_ms), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_REPOS_HISTORY", SET_LL, CFG(repos_history_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"GIT_SSH_KEY", SET_CSTR, CFG(git_ssh_key), CONFIG_SHOW_PLAIN, NULL,
     "ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa"},
    {"GIT_CREDENTIALS", SET_CSTR, CFG(git_credentials), CONFIG_SHOW_SECRET, NULL, "none"},
    {"SSH_AUTH_SOCK", SET_CSTR, CFG(ssh_auth_sock), CONFIG_SHOW_PLAIN, NULL, "no ssh-agent"},
    {"HOME", SET_CSTR, CFG(home), CONFIG_SHOW_PLAIN, NULL, "no ~/.ssh keys"},
    {"INGESTD_SQS_QUEUES", SET_STR, CFG(sqs_queues), CONFIG_SHOW_PLAIN, NULL, "no SQS consumer"},
    {"INGESTD_SQS_WAIT_TIME", SET_INT, CFG(sqs_wait_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_SQS_VISIBILITY_TIMEOUT", SET_INT, CFG(sqs_visibility_s), CONFIG_SHOW_PLAIN, NULL,
     NULL},
    {"INGESTD_SQS_POISON", SET_STR, CFG(sqs_poison), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"AWS_ENDPOINT_URL_SQS", SET_CSTR, CFG(sqs_endpoint_url), CONFIG_SHOW_PLAIN, NULL,
     "each queue URL's origin"},
    {"INGESTD_PRESIGN_EXPIRY", SET_INT, CFG(presign_expiry_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_PRESIGN_MAX_BYTES", SET_SIZE, CFG(presign_max_bytes), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_CRAWL_SYNC_WAIT", SET_INT, CFG(crawl_sync_wait_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_LINKS_URL", SET_STR, CFG(links_url), CONFIG_SHOW_PLAIN, NULL,
     "X-Forwarded-Host, else Host"},
    {"INGESTD_IMPORTS", SET_STR, CFG(imports), CONFIG_SHOW_PLAIN, NULL, "no import locations"},
    {"INGESTD_IMPORT_RESCAN", SET_INT, CFG(import_rescan_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_IMPORT_POLL", SET_INT, CFG(import_poll_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_IMPORT_THREADS", SET_INT, CFG(import_threads), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_TEST_CRASH_AT", SET_STR, CFG(test_crash_at), CONFIG_SHOW_PLAIN, NULL,
     "no crash point (tests only)"},
    /* webhook URLs often carry a token (userinfo, query or path): shown redacted */
    {"INGESTD_WEBHOOK_URLS", SET_STR, CFG(webhook_urls_text), CONFIG_SHOW_SECRET, NULL,
     "no webhooks"},
    {"INGESTD_WEBHOOK_SECRET", SET_STR, CFG(webhook_secret), CONFIG_SHOW_SECRET,
     "INGESTD_WEBHOOK_SECRET_FILE", "none: no deliveries are sent"},
    {"INGESTD_WEBHOOK_SECRET_FILE", SET_ENV, 0, CONFIG_SHOW_PLAIN, NULL, "none"},
    {"INGESTD_WEBHOOK_ATTEMPTS", SET_INT, CFG(webhook_attempts), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_WEBHOOK_BACKOFF_MS", SET_LONG, CFG(webhook_backoff_ms), CONFIG_SHOW_PLAIN, NULL,
     NULL},
    {"INGESTD_WEBHOOK_TIMEOUT_MS", SET_LONG, CFG(webhook_timeout_ms), CONFIG_SHOW_PLAIN, NULL,
     NULL},
};

#define SETTINGS_COUNT (sizeof(settings) / sizeof(settings[0]))
#define EDIT_NAME_MAX 64 /* longer names get no suggestion */

/* Optimal string alignment distance (a swap of neighbours is one edit); > max once above it. */
static size_t
edit_distance(const char *a, const char *b, size_t max)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t rows[3][EDIT_NAME_MAX + 1];
    size_t *prev2 = rows[0];
    size_t *prev = rows[1];
    size_t *cur = rows[2];
    size_t i;
    size_t j;

    if (la > EDIT_NAME_MAX || lb > EDIT_NAME_MAX || (la > lb ? la - lb : lb - la) > max)
        return max + 1;
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        size_t *t;

        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t d = prev[j - 1] + cost;

            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            cur[j] = d;
        }
        t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

const char *
config_suggest(const char *name)
{
    const char *best = NULL;
    size_t best_d = 3;
    size_t i;

    for (i = 0; i < SETTINGS_COUNT; i++) {
        size_t d = edit_distance(name, settings[i].name, 2);

        if (d < best_d) {
            best_d = d;
            best = settings[i].name;
        }
    }
    return best_d > 0 ? best : NULL;
}

static int
known_setting(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < SETTINGS_COUNT; i++)
        if (strlen(settings[i].name) == len && strncmp(settings[i].name, name, len) == 0)
            return 1;
    return 0;
}

size_t
config_warn_unknown(void)
{
    char **e;
    size_t n = 0;

    for (e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        char name[EDIT_NAME_MAX + 1];
        char msg[2 * EDIT_NAME_MAX + 64];
        const char *hint;

        if (strncmp(*e, "INGESTD_", 8) != 0 || known_setting(*e, len))
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(len < EDIT_NAME_MAX ? len : EDIT_NAME_MAX), *e);
        hint = config_suggest(name);
        if (hint) {
            snprintf(msg, sizeof(msg), "unknown variable %s ignored; did you mean %s?", name, hint);
            log_json(LOG_WARN, msg, json_pack("{s:s,s:s}", "variable", name, "did_you_mean", hint));
        } else {
            snprintf(msg, sizeof(msg), "unknown variable %s ignored", name);
            log_json(LOG_WARN, msg, json_pack("{s:s}", "variable", name));
        }
        n++;
    }
    return n;
}

/* The value of a setting as text (NULL when unset), into num when it is a number. */
static const char *
setting_value(const struct config *cfg, const struct setting *st, char *num, size_t numlen)
{
    const char *base = (const char *)cfg + st->offset;
    const char *s = NULL;
    long long ll = 0;
    size_t z = 0;
    int i = 0;

    switch (st->type) {
    case SET_STR:
    case SET_CSTR:
        memcpy(&s, base, sizeof(s));
        return s;
    case SET_INT:
        memcpy(&i, base, sizeof(i));
        snprintf(num, numlen, "%d", i);
        return num;
    case SET_SIZE:
        memcpy(&z, base, sizeof(z));
        snprintf(num, numlen, "%zu", z);
        return num;
    case SET_LL:
        memcpy(&ll, base, sizeof(ll));
        snprintf(num, numlen, "%lld", ll);
        return num;
    case SET_LONG: {
        long l = 0;

        memcpy(&l, base, sizeof(l));
        snprintf(num, numlen, "%ld", l);
        return num;
    }
    case SET_LISTEN:
        snprintf(num, numlen, strchr(cfg->listen_host, ':') ? "[%s]:%d" : "%s:%d", cfg->listen_host,
                 cfg->listen_port);
        return num;
    case SET_ENV:
        return env_str(st->name);
    }
    return NULL;
}

void
config_each(const struct config *cfg, config_setting_fn fn, void *ud)
{
    size_t i;

    for (i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings[i];
        const char *v = getenv(st->name);
        char num[128];
        struct config_setting s;

        s.name = st->name;
        s.value = setting_value(cfg, st, num, sizeof(num));
        s.unset = st->unset;
        s.show = st->show;
        if (v && (*v || (st->type == SET_STR && s.value)))
            s.source = "environment";
        else if (st->alt && env_str(st->alt))
            s.source = st->alt;
        else
            s.source = "default";
        fn(&s, ud);
    }
}
