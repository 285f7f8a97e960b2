/*
 * config.h - configuration from the environment (OPERATIONS.md)
 *
 * config_load() reads every variable once at start; a bad value fails with
 * one line naming the variable. The struct is immutable afterwards and
 * shared read-only by all threads. Modules take their settings from here,
 * not from getenv(). The known names are one table in config.c: a new
 * setting goes there too, or it is warned about as unknown.
 */
#ifndef INGESTD_CONFIG_H
#define INGESTD_CONFIG_H

#include <stddef.h>

#include "core/err.h"
#include "core/export_spec.h"

#define CONFIG_S3_DEFAULT_REGION "us-east-1"

/*
 * The S3 client's settings, from the standard AWS_* variables. The strings
 * are borrowed from the environment (getenv), which ingestd does not change;
 * a variable unset or empty gives NULL.
 */
struct config_s3 {
    const char *region;            /* AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1 */
    const char *access_key_id;     /* AWS_ACCESS_KEY_ID; NULL: anonymous requests */
    const char *secret_access_key; /* AWS_SECRET_ACCESS_KEY: set exactly when the key is */
    const char *session_token;     /* AWS_SESSION_TOKEN: sent as x-amz-security-token */
    const char *endpoint_url;      /* AWS_ENDPOINT_URL, http(s)://host[:port][/path], path-style
                                      requests; NULL: AWS itself */
};

struct config {
    char *database_url;           /* NULL = embedded PostgreSQL under data_dir */
    const char *database_url_var; /* "DATABASE_URL" or "DATABASE_URL_FILE" (static), or NULL */
    char *listen_host;            /* numeric IPv4/IPv6 address */
    int listen_port;              /* 0 = any free port */
    char *data_dir;
    int http_threads;
    int db_pool;
    size_t max_body_bytes;           /* decoded (and compressed) body limit */
    size_t max_columns;              /* CSV columns */
    size_t max_field_bytes;          /* CSV field */
    size_t max_rows;                 /* CSV data rows per upload */
    int merge_interval_s;            /* 0 = off */
    int key_index_interval_s;        /* key segments index builds: seconds between looks, 0 = off */
    int inventory_streams;           /* data files of an inventory job staged at once */
    long long inventory_merge_below; /* a file's fewer new records join partition 0 */
    int inventory_max_partitions;    /* inventory partitions per source buckets, 0 = no limit */
    int request_timeout_s;           /* idle HTTP connection timeout */
    int max_connections;             /* open HTTP connections, all clients together */
    int max_connections_per_ip;      /* open HTTP connections of one client address; 0 = no cap */
    int long_workers;                /* threads of the long lane (merges, inventory submits) */
    int long_queue;                  /* long operations waiting for the lane; past it 503 */
    int shutdown_grace_s;            /* time in-flight requests get on SIGTERM */
    int feed_heartbeat_ms;           /* SSE feed: a comment at least this often */
    int feed_poll_ms;                /* SSE feed: journal read when no NOTIFY came */
    int feed_ring;                   /* SSE feed: changes kept in memory */
    size_t feed_backlog_bytes;       /* SSE feed: a subscriber this far behind is cut */
    int db_wait_s;                   /* how long the start waits for the database */
    struct config_s3 s3;             /* S3 for inventory jobs */
    char *api_tokens;                /* INGESTD_API_TOKENS, or NULL (a secret: never logged) */
    char *api_tokens_file;           /* INGESTD_API_TOKENS_FILE (re-read on SIGHUP), or NULL */
    int upload_group_max;      /* INGESTD_UPLOAD_GROUP_MAX: uploads per transaction (1: off) */
    size_t upload_group_bytes; /* INGESTD_UPLOAD_GROUP_BYTES: content bytes per transaction */
    long upload_group_wait_us; /* INGESTD_UPLOAD_GROUP_WAIT_US: a group's wait for more */
    int upload_groups;         /* INGESTD_UPLOAD_GROUPS: groups stored at once */
    size_t s3_group_records;   /* INGESTD_S3_GROUP_RECORDS: S3 event records per transaction */
    long s3_group_wait_us;     /* INGESTD_S3_GROUP_WAIT_US: an S3 group's wait for more */
    int s3_groups;             /* INGESTD_S3_GROUPS: S3 event groups ingested at once */
    char *cors_origins; /* INGESTD_CORS_ORIGINS: "*" or exact origins joined by ','; NULL: none */
    struct export_target *exports; /* INGESTD_EXPORTS, parsed (core/export_spec.h) */
    size_t nexports;
    char *exports_shown;         /* the targets' names (no credentials) joined by ','; or NULL */
    char *export_token;          /* INGESTD_EXPORT_TOKEN(_FILE): Bearer for http(s) targets */
    int export_backoff_ms;       /* INGESTD_EXPORT_BACKOFF_MS: first retry delay, doubling */
    long long repos_history_s;   /* INGESTD_REPOS_HISTORY: past generations kept (seconds) */
    const char *git_ssh_key;     /* GIT_SSH_KEY: private key for ssh Git remotes, or NULL */
    const char *git_credentials; /* GIT_CREDENTIALS: https://user:token@host lines (a secret) */
    const char *home;            /* HOME: where ~/.ssh is, for Git targets over ssh; or NULL */
    const char *ssh_auth_sock;   /* SSH_AUTH_SOCK: an ssh-agent for Git targets; or NULL */
    char *sqs_queues;     /* INGESTD_SQS_QUEUES: queue URLs joined by ','; NULL: no consumer */
    int sqs_wait_s;       /* INGESTD_SQS_WAIT_TIME: ReceiveMessage long poll, 0..20 s */
    int sqs_visibility_s; /* INGESTD_SQS_VISIBILITY_TIMEOUT: asked on each receive */
    char *sqs_poison;     /* INGESTD_SQS_POISON: "keep" (redrive policy) or "delete" */
    const char *sqs_endpoint_url; /* AWS_ENDPOINT_URL_SQS: every SQS call goes there; NULL: the
                                     queue URL's origin */
    int presign_expiry_s;         /* INGESTD_PRESIGN_EXPIRY: lifetime of a presigned URL */
    size_t presign_max_bytes; /* INGESTD_PRESIGN_MAX_BYTES: larger objects get none; 0: no limit */
    int crawl_sync_wait_s;    /* INGESTD_CRAWL_SYNC_WAIT: how long /s3/crawl/sync waits */
    char *links_url; /* INGESTD_LINKS_URL: base of page links, no trailing /; NULL: from headers */
    char *imports;   /* INGESTD_IMPORTS as given (shown by `ingestd config`), or NULL */
    char **import_locations; /* its entries, NULL-terminated: absolute folders without a
                                trailing '/', or s3://bucket/prefix/; NULL when unset */
    int import_rescan_s;     /* INGESTD_IMPORT_RESCAN: seconds between rescans of a folder */
    int import_poll_s;       /* INGESTD_IMPORT_POLL: seconds between listings of an S3 prefix */
    int import_threads;      /* INGESTD_IMPORT_THREADS: importing threads per folder location */
    char *test_crash_at;     /* INGESTD_TEST_CRASH_AT: a crash point (core/crashpoint.h), or NULL */
    /* webhooks (OPERATIONS.md "Webhooks") */
    char **webhook_urls;      /* INGESTD_WEBHOOK_URLS split at ',' (blanks trimmed); NULL: none */
    size_t webhook_url_count; /* entries of webhook_urls */
    char *webhook_urls_text;  /* the entries joined by ',' (for `ingestd config`; a secret) */
    char *webhook_secret;     /* INGESTD_WEBHOOK_SECRET(_FILE) (a secret: never logged) */
    int webhook_attempts;     /* attempts per delivery before it is failed */
    long webhook_backoff_ms;  /* the first retry's delay; doubled per attempt, with jitter */
    long webhook_timeout_ms;  /* one attempt's limit */
};

/* Fill cfg from getenv(); on error errbuf holds "NAME: reason". */
enum err config_load(struct config *cfg, char *errbuf, size_t errlen);
void config_release(struct config *cfg);

/*
 * Log one warning for every INGESTD_* variable of the environment that is no
 * setting of ingestd (a typo is otherwise silently ignored), with the closest
 * known name when one is 1-2 edits away. Values are never logged. Returns how
 * many were warned about. Not thread-safe (reads environ): call from main.
 */
size_t config_warn_unknown(void);

/* The known setting 1-2 edits (insert, delete, change, swap) from name, the closest; or NULL. */
const char *config_suggest(const char *name);

/* How `ingestd config` may show a setting's value. */
enum config_show {
    CONFIG_SHOW_PLAIN,
    CONFIG_SHOW_SECRET,   /* never: "<redacted>" */
    CONFIG_SHOW_CONNINFO, /* a libpq connection string: shown without its password */
};

/*
 * One setting: its name, its effective value as text (NULL when unset: then
 * `unset` says what that means), and where the value came from: "environment",
 * "default", or the other variable that gave it (DATABASE_URL_FILE,
 * AWS_DEFAULT_REGION). Every string is borrowed for the call only.
 */
struct config_setting {
    const char *name;
    const char *value;
    const char *unset;
    const char *source;
    enum config_show show;
};
typedef void (*config_setting_fn)(const struct config_setting *s, void *ud);

/* Call fn for every setting of cfg (loaded by config_load), in a fixed order. */
void config_each(const struct config *cfg, config_setting_fn fn, void *ud);

/*
 * The AWS_* variables alone (config_load() reads them too): fills s3, then
 * checks it; on a bad value errbuf holds "NAME: reason" and s3 stays filled
 * with what was read. The secret never appears in a message.
 */
enum err config_s3_load(struct config_s3 *s3, char *errbuf, size_t errlen);

#endif
