/*
 * config.c - configuration from the environment
 *
 * The one place where settings are read from the environment (the other
 * getenv() calls are storage/embedded_pg.c's PATH and INGESTD_PG_BINDIR, to
 * find PostgreSQL's programs). Every setting has a default; a value that is
 * there but unusable fails config_load() with one line naming the variable,
 * so that a bad deployment stops at start instead of failing requests
 * later. Not thread-safe (getenv): call it from main before any thread
 * starts. The table settings[] (config_settings.c) names every variable
 * read here (and INGESTD_PG_BINDIR): an INGESTD_* name missing from it is
 * warned about as unknown, and `ingestd config` lists it.
 *
 * Four files, one concern each (config_internal.h is what they share):
 *   config.c           config_load() and config_release(); the server's,
 *                      limits', jobs', S3's and auth's settings
 *   config_env.c       reading one variable: integers, sizes, durations,
 *                      strings, secrets (NAME or NAME_FILE), list entries
 *   config_lists.c     the list-valued settings: CORS origins, exports, SQS
 *                      queues, links URL, imports, webhooks
 *   config_settings.c  the table of known settings: `ingestd config`,
 *                      unknown-name warnings and suggestions
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
#include "core/config_internal.h"
#include "core/log.h"

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
    if (s3->access_key_id && !config_env_printable(s3->access_key_id, "/,"))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_ACCESS_KEY_ID: must be printable ASCII without spaces, '/' or ','");
    if (s3->session_token && !config_env_printable(s3->session_token, ""))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_SESSION_TOKEN: must be printable ASCII without spaces");
    if (s3->endpoint_url && !config_env_printable(s3->endpoint_url, "?#@\\"))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "AWS_ENDPOINT_URL: expected http(s)://host[:port][/path] without spaces, "
                       "control characters, '?', '#' or '@'");
    if (s3->endpoint_url && !config_env_endpoint(s3->endpoint_url))
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
    s3->region = config_env_str(region_var);
    if (!s3->region) {
        region_var = "AWS_DEFAULT_REGION";
        s3->region = config_env_str(region_var);
    }
    if (!s3->region)
        s3->region = CONFIG_S3_DEFAULT_REGION;
    s3->access_key_id = config_env_str("AWS_ACCESS_KEY_ID");
    s3->secret_access_key = config_env_str("AWS_SECRET_ACCESS_KEY");
    s3->session_token = config_env_str("AWS_SESSION_TOKEN");
    s3->endpoint_url = config_env_str("AWS_ENDPOINT_URL");
    rc = check_s3_strings(s3, region_var, errbuf, errlen);
    if (!rc)
        rc = check_s3_credentials(s3, errbuf, errlen);
    return rc;
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

    rc = config_env_int("INGESTD_MAX_CONNECTIONS", 2048, 16, 1000000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->max_connections = (int)n;
    rc = config_env_int("INGESTD_MAX_CONNECTIONS_PER_IP", 1024, 0, 1000000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->max_connections_per_ip = (int)n;
    return ERR_OK;
}

/*
 * The live feed's server-sent events (handlers/feed.c, jobs/feed_hub.c):
 * heartbeat, fallback poll, ring size and the per-subscriber backlog bound.
 */
static enum err
load_feed(struct config *cfg, char *errbuf, size_t errlen)
{
    long n;
    enum err rc;

    rc = config_env_int("INGESTD_FEED_HEARTBEAT_MS", 15000, 100, 3600000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->feed_heartbeat_ms = (int)n;
    rc = config_env_int("INGESTD_FEED_POLL_MS", 1000, 10, 60000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->feed_poll_ms = (int)n;
    rc = config_env_int("INGESTD_FEED_RING", 4096, 16, 1000000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->feed_ring = (int)n;
    return config_env_size("INGESTD_FEED_BACKLOG_BYTES", (size_t)1 << 20, 4096, (size_t)1 << 30,
                           &cfg->feed_backlog_bytes, errbuf, errlen);
}

/* Where to listen and keep data, and the HTTP server's threads and timeouts. */
static enum err
load_server(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v;
    long n;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    enum err rc;

    rc = config_env_secret("DATABASE_URL", &cfg->database_url, errbuf, errlen);
    if (rc)
        return rc;
    if (cfg->database_url)
        cfg->database_url_var =
            config_env_str("DATABASE_URL") ? "DATABASE_URL" : "DATABASE_URL_FILE";
    v = getenv("INGESTD_LISTEN");
    rc = parse_listen(cfg, v && *v ? v : "127.0.0.1:8080", errbuf, errlen);
    if (rc)
        return rc;
    v = getenv("INGESTD_DATA_DIR");
    cfg->data_dir = xstrdup(v && *v ? v : "./var");
    rc = check_data_dir(cfg->data_dir, errbuf, errlen);
    if (rc)
        return rc;
    rc = config_env_int("INGESTD_DB_WAIT", 60, 0, 3600, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->db_wait_s = (int)n;
    rc = config_env_int("INGESTD_HTTP_THREADS", cores < 1 ? 1 : cores, 1, 256, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->http_threads = (int)n;
    rc = config_env_int("INGESTD_DB_POOL", 4, 1, 256, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->db_pool = (int)n;
    rc = config_env_int("INGESTD_REQUEST_TIMEOUT", 60, 1, 3600, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->request_timeout_s = (int)n;
    rc = load_connections(cfg, errbuf, errlen);
    if (rc)
        return rc;
    rc = load_feed(cfg, errbuf, errlen);
    if (rc)
        return rc;
    rc = config_env_int("INGESTD_SHUTDOWN_GRACE", 20, 0, 3600, &n, errbuf, errlen);
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

    rc = config_env_size("INGESTD_MAX_BODY_BYTES", (size_t)64 << 20, 1024, (size_t)1 << 34,
                         &cfg->max_body_bytes, errbuf, errlen);
    if (rc)
        return rc;
    rc = config_env_size("INGESTD_MAX_COLUMNS", 1000, 2, 100000, &cfg->max_columns, errbuf, errlen);
    if (rc)
        return rc;
    rc = config_env_size("INGESTD_MAX_FIELD_BYTES", 65536, 16, (size_t)1 << 30,
                         &cfg->max_field_bytes, errbuf, errlen);
    if (rc)
        return rc;
    return config_env_size("INGESTD_MAX_ROWS", 1000000, 1, (size_t)1 << 40, &cfg->max_rows, errbuf,
                           errlen);
}

/* Group commit of uploads (jobs/upload_group.h). */
static enum err
load_upload_group(struct config *cfg, char *errbuf, size_t errlen)
{
    long n;
    enum err rc;

    rc = config_env_int("INGESTD_UPLOAD_GROUP_MAX", 64, 1, 10000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->upload_group_max = (int)n;
    rc = config_env_size("INGESTD_UPLOAD_GROUP_BYTES", (size_t)16 << 20, 1, (size_t)1 << 34,
                         &cfg->upload_group_bytes, errbuf, errlen);
    if (rc)
        return rc;
    rc = config_env_int("INGESTD_UPLOAD_GROUP_WAIT_US", 0, 0, 1000000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->upload_group_wait_us = n;
    rc = config_env_int("INGESTD_UPLOAD_GROUPS", 8, 1, 256, &n, errbuf, errlen);
    if (!rc)
        cfg->upload_groups = (int)n;
    return rc;
}

/* Group commit of S3 event batches (jobs/s3_group.h). */
static enum err
load_s3_group(struct config *cfg, char *errbuf, size_t errlen)
{
    long n;
    enum err rc;

    rc = config_env_size("INGESTD_S3_GROUP_RECORDS", 10000, 1, 1000000, &cfg->s3_group_records,
                         errbuf, errlen);
    if (rc)
        return rc;
    rc = config_env_int("INGESTD_S3_GROUP_WAIT_US", 0, 0, 1000000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->s3_group_wait_us = n;
    rc = config_env_int("INGESTD_S3_GROUPS", 8, 1, 256, &n, errbuf, errlen);
    if (!rc)
        cfg->s3_groups = (int)n;
    return rc;
}

/* Automatic merges and inventory jobs. */
static enum err
load_jobs(struct config *cfg, char *errbuf, size_t errlen)
{
    long n;
    enum err rc;

    rc = config_env_int("INGESTD_MERGE_INTERVAL", 0, 0, 86400 * 7, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->merge_interval_s = (int)n;
    rc = config_env_int("INGESTD_KEY_INDEX_INTERVAL", 10, 0, 86400, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->key_index_interval_s = (int)n;
    rc = config_env_int("INGESTD_INVENTORY_STREAMS", 2, 1, 16, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->inventory_streams = (int)n;
    rc = config_env_int("INGESTD_INVENTORY_MERGE_BELOW", 10000, 0, 1000000000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->inventory_merge_below = (long long)n;
    rc = config_env_int("INGESTD_INVENTORY_MAX_PARTITIONS", 32, 0, 100000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->inventory_max_partitions = (int)n;
    rc = config_env_int("INGESTD_LONG_WORKERS", 2, 1, 64, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->long_workers = (int)n;
    rc = config_env_int("INGESTD_LONG_QUEUE", 16, 0, 100000, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->long_queue = (int)n;
    rc = load_upload_group(cfg, errbuf, errlen);
    if (rc)
        return rc;
    return load_s3_group(cfg, errbuf, errlen);
}

/* Presigned URLs and crawls of the S3 catalog. */
static enum err
load_s3_api(struct config *cfg, char *errbuf, size_t errlen)
{
    long n;
    enum err rc;

    rc = config_env_int("INGESTD_PRESIGN_EXPIRY", 3600, 1, 604800, &n, errbuf, errlen);
    if (rc)
        return rc;
    cfg->presign_expiry_s = (int)n;
    rc = config_env_size("INGESTD_PRESIGN_MAX_BYTES", 0, 0, (size_t)1 << 50,
                         &cfg->presign_max_bytes, errbuf, errlen);
    if (rc)
        return rc;
    rc = config_env_int("INGESTD_CRAWL_SYNC_WAIT", 300, 1, 3600, &n, errbuf, errlen);
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
        rc = config_lists_cors(cfg, errbuf, errlen);
    if (!rc)
        rc = config_lists_exports(cfg, errbuf, errlen);
    if (!rc)
        rc = config_lists_sqs(cfg, errbuf, errlen);
    if (!rc)
        rc = config_lists_links_url(cfg, errbuf, errlen);
    if (!rc)
        rc = config_lists_imports(cfg, errbuf, errlen);
    if (!rc)
        rc = config_lists_webhooks(cfg, errbuf, errlen);
    if (!rc)
        rc = config_env_duration("INGESTD_REPOS_HISTORY", 90LL * 86400, &cfg->repos_history_s,
                                 errbuf, errlen);
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
