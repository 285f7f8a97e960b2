/*
 * config_settings.c - the table of known settings: `ingestd config`, unknown names and suggestions
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
    {"INGESTD_FEED_HEARTBEAT_MS", SET_INT, CFG(feed_heartbeat_ms), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_FEED_POLL_MS", SET_INT, CFG(feed_poll_ms), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_FEED_RING", SET_INT, CFG(feed_ring), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_FEED_BACKLOG_BYTES", SET_SIZE, CFG(feed_backlog_bytes), CONFIG_SHOW_PLAIN, NULL,
     NULL},
    {"INGESTD_SHUTDOWN_GRACE", SET_INT, CFG(shutdown_grace_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_BODY_BYTES", SET_SIZE, CFG(max_body_bytes), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_COLUMNS", SET_SIZE, CFG(max_columns), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_FIELD_BYTES", SET_SIZE, CFG(max_field_bytes), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MAX_ROWS", SET_SIZE, CFG(max_rows), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_MERGE_INTERVAL", SET_INT, CFG(merge_interval_s), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_INVENTORY_STREAMS", SET_INT, CFG(inventory_streams), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_INVENTORY_MERGE_BELOW", SET_LL, CFG(inventory_merge_below), CONFIG_SHOW_PLAIN, NULL,
     NULL},
    {"INGESTD_INVENTORY_MAX_PARTITIONS", SET_INT, CFG(inventory_max_partitions), CONFIG_SHOW_PLAIN,
     NULL, NULL},
    {"INGESTD_LONG_WORKERS", SET_INT, CFG(long_workers), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_LONG_QUEUE", SET_INT, CFG(long_queue), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_UPLOAD_GROUP_MAX", SET_INT, CFG(upload_group_max), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_UPLOAD_GROUP_BYTES", SET_SIZE, CFG(upload_group_bytes), CONFIG_SHOW_PLAIN, NULL,
     NULL},
    {"INGESTD_UPLOAD_GROUP_WAIT_US", SET_LONG, CFG(upload_group_wait_us), CONFIG_SHOW_PLAIN, NULL,
     NULL},
    {"INGESTD_UPLOAD_GROUPS", SET_INT, CFG(upload_groups), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_S3_GROUP_RECORDS", SET_SIZE, CFG(s3_group_records), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_S3_GROUP_WAIT_US", SET_LONG, CFG(s3_group_wait_us), CONFIG_SHOW_PLAIN, NULL, NULL},
    {"INGESTD_S3_GROUPS", SET_INT, CFG(s3_groups), CONFIG_SHOW_PLAIN, NULL, NULL},
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
        return config_env_str(st->name);
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
        else if (st->alt && config_env_str(st->alt))
            s.source = st->alt;
        else
            s.source = "default";
        fn(&s, ud);
    }
}
