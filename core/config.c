/*
 * config.c - configuration from the environment
 */
#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"

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

/* "host:port", "[v6]:port"; the host must be numeric. */
static enum err
parse_listen(struct config *cfg, const char *v, char *errbuf, size_t errlen)
{
    const char *colon;
    const char *host;
    size_t hostlen;
    char *end = NULL;
    long port;

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
    return ERR_OK;
bad:
    return err_set(ERR_BAD_INPUT, errbuf, errlen,
                   "INGESTD_LISTEN: expected address:port such as 127.0.0.1:8080, got \"%s\"", v);
}

enum err
config_load(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *v;
    long n;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    enum err rc;

    memset(cfg, 0, sizeof(*cfg));
    if (cores < 1)
        cores = 1;

    v = getenv("DATABASE_URL");
    if (v && *v)
        cfg->database_url = xstrdup(v);

    v = getenv("INGESTD_LISTEN");
    rc = parse_listen(cfg, v && *v ? v : "127.0.0.1:8080", errbuf, errlen);
    if (rc)
        goto out;

    v = getenv("INGESTD_DATA_DIR");
    cfg->data_dir = xstrdup(v && *v ? v : "./var");

    rc = env_int("INGESTD_HTTP_THREADS", cores, 1, 256, &n, errbuf, errlen);
    if (rc)
        goto out;
    cfg->http_threads = (int)n;
    rc = env_int("INGESTD_DB_POOL", 4, 1, 256, &n, errbuf, errlen);
    if (rc)
        goto out;
    cfg->db_pool = (int)n;
    rc = env_size("INGESTD_MAX_BODY_BYTES", (size_t)64 << 20, 1024, (size_t)1 << 34,
                  &cfg->max_body_bytes, errbuf, errlen);
    if (rc)
        goto out;
    rc = env_size("INGESTD_MAX_COLUMNS", 1000, 2, 100000, &cfg->max_columns, errbuf, errlen);
    if (rc)
        goto out;
    rc = env_size("INGESTD_MAX_FIELD_BYTES", 65536, 16, (size_t)1 << 30, &cfg->max_field_bytes,
                  errbuf, errlen);
    if (rc)
        goto out;
    rc = env_size("INGESTD_MAX_ROWS", 1000000, 1, (size_t)1 << 40, &cfg->max_rows, errbuf, errlen);
    if (rc)
        goto out;
    rc = env_int("INGESTD_MERGE_INTERVAL", 0, 0, 86400 * 7, &n, errbuf, errlen);
    if (rc)
        goto out;
    cfg->merge_interval_s = (int)n;
    rc = env_int("INGESTD_INVENTORY_STREAMS", 2, 1, 16, &n, errbuf, errlen);
    if (rc)
        goto out;
    cfg->inventory_streams = (int)n;
    rc = env_int("INGESTD_INVENTORY_MERGE_BELOW", 10000, 0, 1000000000, &n, errbuf, errlen);
    if (rc)
        goto out;
    cfg->inventory_merge_below = (long long)n;
    rc = env_int("INGESTD_REQUEST_TIMEOUT", 60, 1, 3600, &n, errbuf, errlen);
    if (rc)
        goto out;
    cfg->request_timeout_s = (int)n;
    rc = env_int("INGESTD_SHUTDOWN_GRACE", 20, 0, 3600, &n, errbuf, errlen);
    if (rc)
        goto out;
    cfg->shutdown_grace_s = (int)n;
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
    free(cfg->listen_host);
    free(cfg->data_dir);
    memset(cfg, 0, sizeof(*cfg));
}
