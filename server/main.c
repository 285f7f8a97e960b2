/*
 * main.c - ingestd entry point: serve, migrate, --help, --version
 *
 * Start-up order: configuration (every variable, once; unknown INGESTD_*
 * names warned about) -> the data directory's lock (embedded mode) -> the
 * checks of the listening address and the tokens -> database (embedded
 * PostgreSQL when no DATABASE_URL; waited for with backoff, SIGTERM/SIGINT
 * honoured) -> migrations -> webhook senders -> inventory runner -> worker
 * pool -> HTTP -> merge scheduler. Shutdown on
 * SIGTERM/SIGINT runs it backwards, letting in-flight requests finish within
 * INGESTD_SHUTDOWN_GRACE seconds. Signals are handled synchronously by the
 * main thread (sigwait); every other thread has them blocked. This is the
 * only file that wires modules together: the S3 settings of the
 * configuration go to the inventory runner from here.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clients/http_client.h"
#include "clients/s3_client.h"
#include "clients/webhook.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "handlers/app.h"
#include "handlers/repos_cache.h"
#include "jobs/exporter.h"
#include "jobs/crawl_runner.h"
#include "core/crashpoint.h"
#include "jobs/importer.h"
#include "jobs/inventory_runner.h"
#include "jobs/key_index.h"
#include "jobs/feed_hub.h"
#include "jobs/outbox.h"
#include "jobs/sqs_consumer.h"
#include "jobs/upload_group.h"
#include "jobs/s3_group.h"
#include "jobs/scheduler.h"
#include "jobs/workers.h"
#include "core/metrics.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/tail.h"
#include "storage/conninfo.h"
#include "storage/datadir.h"
#include "storage/db.h"
#include "storage/embedded_pg.h"
#include "storage/migrate.h"
#include "storage/outbox_store.h"

static const char usage[] =
    "usage: ingestd [serve | migrate | config | healthcheck | tail | --version | --help]\n"
    "\n"
    "  serve        serve the HTTP API (the default)\n"
    "  migrate      apply database migrations and exit; with the embedded PostgreSQL\n"
    "               of a server that runs on the same INGESTD_DATA_DIR, through that\n"
    "               server's socket (it keeps running)\n"
    "  config       print every setting, its value and where it came from (environment\n"
    "               or default), secrets as <redacted>, and exit; starts nothing\n"
    "  healthcheck  exit 0 when the server at INGESTD_LISTEN answers /healthz (for\n"
    "               container health checks)\n"
    "  tail         print the journal of changes of a running server, one line per\n"
    "               change (ingestd tail --help)\n"
    "  --version    print the version and exit\n"
    "  --help       print this help and exit\n"
    "\n"
    "With the embedded PostgreSQL, one process owns INGESTD_DATA_DIR (a lock on its\n"
    "ingestd.lock, released when the process ends, also by kill -9): a second serve\n"
    "exits at once with \"data directory DIR in use by pid N\".\n"
    "\n"
    "Configuration comes from the environment (unknown INGESTD_* names are warned about):\n"
    "  DATABASE_URL            libpq connection string or URL; unset = embedded PostgreSQL\n"
    "                          (DATABASE_URL_FILE: a file holding it, e.g. a mounted Secret)\n"
    "  INGESTD_DB_WAIT         seconds the start retries an unreachable database, 0.5 s\n"
    "                          doubling to 10 s between attempts (60; 0 = one attempt)\n"
    "  INGESTD_API_TOKENS      scope:token,... (scopes read < write < admin; a token may be\n"
    "                          given as sha256:<hex>); unset with the next = auth off\n"
    "  INGESTD_API_TOKENS_FILE the same, one per line (# comments), re-read on SIGHUP\n"
    "  INGESTD_LISTEN          address:port to listen on (127.0.0.1:8080; port 0 = any)\n"
    "  INGESTD_DATA_DIR        embedded database and spool files (./var)\n"
    "  INGESTD_PG_BINDIR       PostgreSQL programs for the embedded database (the newest\n"
    "                          /usr/lib/postgresql/N/bin, else PATH)\n"
    "  INGESTD_HTTP_THREADS    HTTP I/O threads (number of cores)\n"
    "  INGESTD_DB_POOL         worker threads, one database connection each (4)\n"
    "  INGESTD_MAX_BODY_BYTES  decoded and compressed body limit (67108864)\n"
    "  INGESTD_MAX_COLUMNS     CSV columns per upload (1000)\n"
    "  INGESTD_MAX_FIELD_BYTES CSV bytes per field (65536)\n"
    "  INGESTD_MAX_ROWS        CSV data rows per upload (1000000)\n"
    "  INGESTD_MERGE_INTERVAL  seconds between automatic merges, 0 = off (0)\n"
    "  INGESTD_INVENTORY_STREAMS inventory data files staged at once (2)\n"
    "  INGESTD_INVENTORY_MERGE_BELOW a file's new records below this join the events'\n"
    "                          partition instead of a partition of their own (10000)\n"
    "  INGESTD_IMPORTS         folders (or s3://bucket/prefix/) whose pending/ files are\n"
    "                          imported as events, comma-separated (none)\n"
    "  INGESTD_IMPORT_RESCAN   seconds between rescans of an import folder (60)\n"
    "  INGESTD_IMPORT_POLL     seconds between listings of an s3:// import location (10)\n"
    "  INGESTD_IMPORT_THREADS  threads (each with a connection) importing a folder (4)\n"
    "  INGESTD_REQUEST_TIMEOUT idle HTTP connection timeout in seconds (60)\n"
    "  INGESTD_SHUTDOWN_GRACE  seconds in-flight requests get on SIGTERM (20)\n"
    "  AWS_REGION (or AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
    "  AWS_SESSION_TOKEN       S3 access for inventory jobs (us-east-1; no key: anonymous)\n"
    "  AWS_ENDPOINT_URL        an S3-compatible endpoint, addressed path-style (AWS)\n"
    "  INGESTD_WEBHOOK_URLS    comma-separated http(s) URLs every change is POSTed to\n"
    "  INGESTD_WEBHOOK_SECRET  HMAC key of the signatures (or INGESTD_WEBHOOK_SECRET_FILE);\n"
    "                          required with URLs; without it this process sends nothing\n"
    "  INGESTD_WEBHOOK_ATTEMPTS attempts per delivery (12)\n"
    "  INGESTD_WEBHOOK_BACKOFF_MS delay after the first failed attempt, doubled per attempt\n"
    "                          with jitter, at most 6 h (10000)\n"
    "  INGESTD_WEBHOOK_TIMEOUT_MS one attempt's limit (10000)\n";

#define DB_RETRY_FIRST_MS 500
#define DB_RETRY_MAX_MS 10000
#define DB_ATTEMPT_MAX_MS 10000 /* a server that does not answer: one attempt's limit */

/* The start-up wait for the database: SIGTERM/SIGINT, and the current attempt's limit. */
struct db_wait {
    sigset_t stop;                 /* SIGTERM, SIGINT (SIGHUP stays pending for serve) */
    long long attempt_deadline_ms; /* clock_mono_ms() */
    int sig;                       /* the stop signal taken, 0 while none */
};

/* Wait up to wait_ms for a stop signal (blocked, taken with sigtimedwait); 1 once stopped. */
static int
db_wait_stopped(struct db_wait *w, long wait_ms)
{
    long long until = clock_mono_ms() + wait_ms;
    struct timespec ts;
    long left = wait_ms;
    int sig;

    while (!w->sig) {
        ts.tv_sec = left / 1000;
        ts.tv_nsec = (left % 1000) * 1000000L;
        sig = sigtimedwait(&w->stop, NULL, &ts);
        if (sig > 0)
            w->sig = sig;
        else if (errno != EINTR)
            break; /* EAGAIN: the time is up */
        left = (long)(until - clock_mono_ms());
        if (left < 0)
            left = 0;
    }
    return w->sig != 0;
}

/* db_connect()'s question: give up on a stop signal or at the attempt's limit. */
static int
db_wait_cancel(void *ud)
{
    struct db_wait *w = ud;

    return db_wait_stopped(w, 0) || clock_mono_ms() >= w->attempt_deadline_ms;
}

/*
 * Connect and migrate. While the database is not reachable, retry after
 * 0.5 s, doubling up to 10 s, as long as INGESTD_DB_WAIT seconds have not
 * passed (one attempt waits up to 10 s for an answer), logging each failed
 * attempt with libpq's message (never the password). SIGTERM or SIGINT ends
 * the wait at once, also during an attempt: *stopped_sig gets the signal.
 */
static enum err
prepare_database(const struct config *cfg, const char *conninfo, int *stopped_sig, char *errbuf,
                 size_t errlen)
{
    struct db *db = db_new(conninfo);
    struct db_wait w;
    long long deadline_ms = clock_mono_ms() + cfg->db_wait_s * 1000LL;
    long delay_ms = DB_RETRY_FIRST_MS;
    long long left_ms;
    char why[ERRBUF_SIZE] = "";
    int attempt;
    enum err rc;

    sigemptyset(&w.stop);
    sigaddset(&w.stop, SIGTERM);
    sigaddset(&w.stop, SIGINT);
    w.sig = 0;
    for (attempt = 1;; attempt++) {
        w.attempt_deadline_ms = clock_mono_ms() + DB_ATTEMPT_MAX_MS;
        rc = db_connect(db, db_wait_cancel, &w, why, sizeof(why));
        if (rc && !w.sig && clock_mono_ms() >= w.attempt_deadline_ms)
            snprintf(why, sizeof(why), "no answer within %d s", DB_ATTEMPT_MAX_MS / 1000);
        if (!rc)
            rc = migrate_apply(db, NULL, why, sizeof(why));
        left_ms = deadline_ms - clock_mono_ms();
        if (rc != ERR_UNAVAILABLE || w.sig || left_ms <= 0)
            break;
        if (delay_ms > left_ms)
            delay_ms = (long)left_ms;
        log_json(LOG_WARN, "database not reachable, retrying",
                 json_pack("{s:i,s:s,s:i}", "attempt", attempt, "error", why, "retry_in_ms",
                           (int)delay_ms));
        if (db_wait_stopped(&w, delay_ms))
            break;
        delay_ms = delay_ms * 2 > DB_RETRY_MAX_MS ? DB_RETRY_MAX_MS : delay_ms * 2;
    }
    db_free(db);
    *stopped_sig = w.sig;
    if (w.sig)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "stopped while waiting for the database");
    if (rc == ERR_UNAVAILABLE)
        return err_set(rc, errbuf, errlen, "database not reachable after %d attempt%s in %d s: %s",
                       attempt, attempt == 1 ? "" : "s", cfg->db_wait_s, why);
    if (rc)
        return err_set(rc, errbuf, errlen, "database: %s", why);
    return ERR_OK;
}

static size_t
discard(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * n;
}

/* GET /healthz on the configured address (a wildcard address means loopback). */
static int
healthcheck(const struct config *cfg)
{
    const char *host = cfg->listen_host;
    char url[128];
    CURL *h;
    long code = 0;

    if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    snprintf(url, sizeof(url),
             strchr(host, ':') ? "http://[%s]:%d/healthz" : "http://%s:%d/healthz", host,
             cfg->listen_port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();
    if (h) {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        if (curl_easy_perform(h) == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(h);
    }
    curl_global_cleanup();
    return code == 200 ? 0 : 1;
}

/*
 * Before the embedded PostgreSQL starts: fail at once, in one line naming
 * INGESTD_LISTEN, when the address is taken (or cannot be bound at all).
 */
static enum err
listen_probe(const struct config *cfg, char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int one = 1;
    int fd;
    int bound;
    int saved;

    memset(&ss, 0, sizeof(ss));
    if (cfg->listen_port == 0)
        return ERR_OK;
    if (strchr(cfg->listen_host, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->listen_port);
        if (inet_pton(AF_INET6, cfg->listen_host, &a6->sin6_addr) != 1)
            return ERR_OK; /* config_load checked it; the HTTP start reports it */
        sslen = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->listen_port);
        if (inet_pton(AF_INET, cfg->listen_host, &a4->sin_addr) != 1)
            return ERR_OK;
        sslen = sizeof(*a4);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ERR_OK;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bound = bind(fd, (struct sockaddr *)&ss, sslen) == 0 && listen(fd, 1) == 0;
    saved = errno;
    close(fd);
    if (bound)
        return ERR_OK;
    if (saved == EADDRINUSE)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen,
                       "INGESTD_LISTEN: %s:%d is already in use; set INGESTD_LISTEN to a free "
                       "address:port (for example 127.0.0.1:8081)",
                       cfg->listen_host, cfg->listen_port);
    return err_set(ERR_UNAVAILABLE, errbuf, errlen, "INGESTD_LISTEN: cannot listen on %s:%d: %s",
                   cfg->listen_host, cfg->listen_port, strerror(saved));
}

/*
 * The signals the main thread takes with sigwait() (blocked in every
 * thread): SIGTERM and SIGINT stop the server, SIGHUP reloads the tokens.
 */
static void
stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

/* Stop taking connections and give the requests in flight up to grace_s seconds. */
static void
drain_http(struct http_server *http, int grace_s)
{
    int waited_ms = 0;

    http_server_quiesce(http);
    while (http_server_inflight(http) > 0 && waited_ms < grace_s * 1000) {
        clock_sleep_ms(50);
        waited_ms += 50;
    }
}

/* The token set from the configuration; *out NULL when auth is off. */
static enum err
load_tokens(const struct config *cfg, struct auth **out, char *errbuf, size_t errlen)
{
    return auth_new(cfg->api_tokens, cfg->api_tokens_file, out, errbuf, errlen);
}

/* Once the start has got past the database: say whether auth is on (warn when off). */
static void
log_auth(const struct auth *tokens)
{
    if (!tokens)
        log_msg(LOG_WARN, "auth is off: every route is open (set INGESTD_API_TOKENS or "
                          "INGESTD_API_TOKENS_FILE)");
    else
        log_json(LOG_INFO, "auth on", json_pack("{s:I}", "tokens", (json_int_t)auth_count(tokens)));
}

/* SIGHUP: read the tokens again (a rotated Secret); a bad set keeps the old one. */
static void
reload_tokens(struct app *app)
{
    struct auth *next = NULL;
    char errbuf[ERRBUF_SIZE];

    if (!auth_keeper_enabled(app->auth)) {
        log_msg(LOG_INFO, "SIGHUP: auth is off, nothing to reload");
        return;
    }
    if (auth_new(app->cfg->api_tokens, app->cfg->api_tokens_file, &next, errbuf, sizeof(errbuf))) {
        log_json(LOG_ERROR, "tokens not reloaded, the previous set stays",
                 json_pack("{s:s}", "error", errbuf));
        return;
    }
    log_json(LOG_INFO, "tokens reloaded",
             json_pack("{s:I}", "tokens", (json_int_t)auth_count(next)));
    auth_keeper_swap(app->auth, next);
}

/* The SQS consumers of INGESTD_SQS_QUEUES, or NULL when there is none. */
static struct sqs_consumers *
start_sqs(const struct config *cfg, const char *conninfo, struct metrics *metrics,
          struct s3_group *group)
{
    struct sqs_consumer_config sqs;

    memset(&sqs, 0, sizeof(sqs));
    sqs.queues = cfg->sqs_queues;
    sqs.wait_s = cfg->sqs_wait_s;
    sqs.visibility_s = cfg->sqs_visibility_s;
    sqs.poison_delete = cfg->sqs_poison && strcmp(cfg->sqs_poison, "delete") == 0;
    sqs_client_config_from(&sqs.client, &cfg->s3);
    sqs.client.endpoint_url = cfg->sqs_endpoint_url;
    sqs.group = group;
    return sqs_consumers_start(conninfo, &sqs, metrics);
}

/*
 * The webhook URLs: each must be one libcurl can parse, and the secret one
 * webhook.h accepts (checked before anything starts; messages name the
 * entry, never the URL, which may hold a token, nor the secret). The URLs go
 * to the outbox store, which journals a delivery per URL.
 */
static enum err
configure_webhooks(const struct config *cfg, char *errbuf, size_t errlen)
{
    char target[256];
    size_t i;

    for (i = 0; i < cfg->webhook_url_count; i++) {
        http_client_redact_url(cfg->webhook_urls[i], target, sizeof(target));
        if (strcmp(target, "(invalid url)") == 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "INGESTD_WEBHOOK_URLS: entry %zu is not a URL libcurl can parse", i + 1);
    }
    if (cfg->webhook_secret) {
        struct webhook_signer probe;
        char why[ERRBUF_SIZE];

        if (webhook_signer_init(&probe, cfg->webhook_secret, why, sizeof(why)))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "INGESTD_WEBHOOK_SECRET: %s", why);
        webhook_signer_release(&probe);
    }
    outbox_store_set_urls((const char *const *)cfg->webhook_urls, cfg->webhook_url_count);
    return ERR_OK;
}

/* The webhook senders when a secret is configured (else NULL: nothing is sent from here). */
static enum err
start_outbox(const struct app *app, const char *conninfo, struct outbox **out, char *errbuf,
             size_t errlen)
{
    const struct config *cfg = app->cfg;
    struct outbox_settings st;

    *out = NULL;
    if (!cfg->webhook_secret)
        return ERR_OK;
    st.conninfo = conninfo;
    st.secret = cfg->webhook_secret;
    st.attempts = cfg->webhook_attempts;
    st.backoff_ms = cfg->webhook_backoff_ms;
    st.timeout_ms = cfg->webhook_timeout_ms;
    log_json(LOG_INFO, "webhooks on",
             json_pack("{s:I,s:i}", "urls", (json_int_t)cfg->webhook_url_count, "attempts",
                       cfg->webhook_attempts));
    return outbox_start(&st, app->metrics, out, errbuf, errlen);
}

/* The live feed's fan-out (jobs/feed_hub.h) with the INGESTD_FEED_* settings. */
static struct feed_hub *
start_feed_hub(const struct config *cfg, const char *conninfo)
{
    struct feed_hub_settings st;

    st.conninfo = conninfo;
    st.heartbeat_ms = cfg->feed_heartbeat_ms;
    st.poll_ms = cfg->feed_poll_ms;
    st.ring = cfg->feed_ring;
    st.backlog_bytes = cfg->feed_backlog_bytes;
    return feed_hub_start(&st);
}

/* Start every thread, wait for SIGTERM/SIGINT, stop them in reverse order. */
static int
serve(struct app *app, const char *conninfo)
{
    const struct config *cfg = app->cfg;
    struct s3_client_config s3;
    struct workers *workers = NULL;
    struct workers *long_lane = NULL;
    struct http_server *http = NULL;
    struct scheduler *sched = NULL;
    struct key_index *key_index = NULL;
    struct importer *importer = NULL;
    struct importer_settings imp;
    struct outbox *outbox = NULL;
    char errbuf[ERRBUF_SIZE];
    sigset_t set;
    int sig = 0;
    int status = 1;

    if (start_outbox(app, conninfo, &outbox, errbuf, sizeof(errbuf))) {
        log_msg(LOG_ERROR, "INGESTD_WEBHOOK_SECRET: %s", errbuf);
        return 2;
    }
    s3_client_config_from(&s3, &cfg->s3);
    app->inventory_runner =
        inventory_runner_start(conninfo, &s3, cfg->inventory_streams, cfg->inventory_merge_below,
                               cfg->inventory_max_partitions, app->metrics);
    app->exporter = exporter_start(cfg, conninfo, &s3, app->metrics);
    app->crawl_runner = crawl_runner_start(conninfo, &s3);
    /* before the HTTP server: its threads read app->sqs (GET /api/v1/sqs) */
    app->sqs = start_sqs(cfg, conninfo, app->metrics, app->s3_events);
    workers = workers_start(cfg->db_pool, conninfo, app->metrics);
    long_lane = workers_start(cfg->long_workers, conninfo, NULL);
    app->feed_hub = start_feed_hub(cfg, conninfo);
    if (http_server_start(&http, app, workers, long_lane, errbuf, sizeof(errbuf))) {
        log_msg(LOG_ERROR, "%s", errbuf);
        goto out;
    }
    log_json(LOG_INFO, "listening",
             json_pack("{s:s,s:i}", "address", cfg->listen_host, "port", http_server_port(http)));
    if (cfg->merge_interval_s > 0)
        sched = scheduler_start(long_lane, cfg->merge_interval_s, app->metrics, app->exporter,
                                cfg->repos_history_s);
    if (cfg->key_index_interval_s > 0)
        key_index = key_index_start(conninfo, cfg->key_index_interval_s);
    memset(&imp, 0, sizeof(imp));
    imp.locations = (const char *const *)cfg->import_locations;
    imp.rescan_s = cfg->import_rescan_s;
    imp.poll_s = cfg->import_poll_s;
    imp.threads = cfg->import_threads;
    imp.s3 = &s3;
    imp.max_body_bytes = cfg->max_body_bytes;
    imp.max_columns = cfg->max_columns;
    imp.max_field_bytes = cfg->max_field_bytes;
    imp.max_rows = cfg->max_rows;
    imp.metrics = app->metrics;
    importer = importer_start(conninfo, &imp);
    stop_signals(&set);
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
        reload_tokens(app);
    log_json(LOG_INFO, "shutting down", json_pack("{s:s}", "signal", strsignal(sig)));
    atomic_store(&app->stopping, 1);
    scheduler_stop(sched);
    key_index_stop(key_index); /* a build under way is cancelled */
    importer_stop(importer);
    feed_hub_close(app->feed_hub); /* event streams end, telling where to resume */
    drain_http(http, cfg->shutdown_grace_s);
    status = 0;
out:
    workers_stop(long_lane);
    workers_stop(workers);
    /* no handler runs any more: the runner stops after its current data file */
    inventory_runner_stop(app->inventory_runner);
    app->inventory_runner = NULL;
    exporter_stop(app->exporter); /* after the workers: no merge can wake it any more */
    app->exporter = NULL;
    crawl_runner_stop(app->crawl_runner); /* after the crawl's current page */
    app->crawl_runner = NULL;
    feed_hub_close(app->feed_hub); /* when the start failed */
    http_server_stop(http);
    feed_hub_stop(app->feed_hub); /* every subscriber left with its connection */
    app->feed_hub = NULL;
    /* no request reads app->sqs any more: a batch being ingested commits and is
     * deleted, a long poll is abandoned */
    sqs_consumers_stop(app->sqs);
    app->sqs = NULL;
    /* nothing of this process enqueues any more; an attempt in flight is recorded */
    outbox_stop(outbox);
    return status;
}

/* One line of `ingestd config`: name, source, value (secrets never shown). */
static void
print_setting(const struct config_setting *st, void *ud)
{
    char *conninfo = NULL;
    const char *value = st->value;

    (void)ud;
    if (!value) {
        printf("%-30s %-19s (unset: %s)\n", st->name, st->source, st->unset ? st->unset : "");
        return;
    }
    if (st->show == CONFIG_SHOW_SECRET)
        value = "<redacted>";
    if (st->show == CONFIG_SHOW_CONNINFO) {
        conninfo = conninfo_redacted(st->value);
        value = conninfo;
    }
    printf("%-30s %-19s %s\n", st->name, st->source, value);
    free(conninfo);
}

/* ingestd config: the effective configuration on stdout. */
static int
print_config(const struct config *cfg)
{
    printf("%-30s %-19s %s\n", "# setting", "source", "value");
    config_each(cfg, print_setting, NULL);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* The exit status of a command line that asks for no work; -1 for the commands. */
static int
early_exit(int argc, const char *cmd)
{
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("ingestd %s\n", INGESTD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 2 || (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0 &&
                     strcmp(cmd, "config") != 0 && strcmp(cmd, "healthcheck") != 0)) {
        fprintf(stderr, "ingestd: unknown command \"%s\"\n%s", cmd, usage);
        return 2;
    }
    return -1;
}

/*
 * With the embedded PostgreSQL: lock the data directory (make: create it when
 * missing; else a missing one waits for a later call). Another process's
 * directory stops the start, except for migrate, which sets *attach to go
 * through that process's server instead.
 */
static enum err
own_data_dir(const char *cmd, const struct config *cfg, int make, struct datadir_lock **lock,
             int *attach, char *errbuf, size_t errlen)
{
    long holder = 0;
    enum err rc;

    if (cfg->database_url || *lock || *attach)
        return ERR_OK;
    rc = datadir_lock(cfg->data_dir, make, lock, &holder, errbuf, errlen);
    if (rc == ERR_NOT_FOUND)
        return ERR_OK; /* nobody owns a directory that does not exist */
    if (rc == ERR_CONFLICT && strcmp(cmd, "migrate") == 0) {
        log_json(LOG_INFO, "data directory in use: migrating through its running postgresql",
                 json_pack("{s:s,s:I}", "data_dir", cfg->data_dir, "pid", (json_int_t)holder));
        *attach = 1;
        return ERR_OK;
    }
    return rc;
}

/*
 * DATABASE_URL, else the embedded PostgreSQL under the data directory (ours
 * to start, or attached: another process's); then migrations.
 */
static enum err
open_database(const struct config *cfg, int attach, struct embedded_pg **pg, const char **conninfo,
              int *stopped_sig, char *errbuf, size_t errlen)
{
    enum err rc;

    *conninfo = cfg->database_url;
    if (!*conninfo) {
        if (attach) {
            rc = embedded_pg_attach(cfg->data_dir, pg, errbuf, errlen);
        } else {
            rc = embedded_pg_start(cfg->data_dir, pg, errbuf, errlen);
            if (!rc)
                log_json(LOG_INFO, "embedded postgresql started",
                         json_pack("{s:s}", "data_dir", cfg->data_dir));
        }
        if (rc)
            return rc;
        *conninfo = embedded_pg_conninfo(*pg);
    }
    return prepare_database(cfg, *conninfo, stopped_sig, errbuf, errlen);
}

/* serve or migrate with a loaded configuration; the exit status. */
static int
run(const char *cmd, const struct config *cfg)
{
    struct app app;
    struct datadir_lock *lock = NULL;
    struct embedded_pg *pg = NULL;
    struct auth *tokens = NULL;
    const char *conninfo = NULL;
    char errbuf[ERRBUF_SIZE];
    int stopped_sig = 0;
    int attach = 0;
    int status = 1;

    /* a start on a directory in use names its owner first, whatever else is wrong */
    if (own_data_dir(cmd, cfg, 0, &lock, &attach, errbuf, sizeof(errbuf))) {
        log_msg(LOG_ERROR, "%s", errbuf);
        return 1;
    }
    if (strcmp(cmd, "serve") == 0 && listen_probe(cfg, errbuf, sizeof(errbuf))) {
        log_msg(LOG_ERROR, "%s", errbuf);
        status = 1;
        goto out;
    }
    if (strcmp(cmd, "serve") == 0 && configure_webhooks(cfg, errbuf, sizeof(errbuf))) {
        log_msg(LOG_ERROR, "%s", errbuf);
        status = 2;
        goto out;
    }
    if (strcmp(cmd, "serve") == 0 && load_tokens(cfg, &tokens, errbuf, sizeof(errbuf))) {
        log_msg(LOG_ERROR, "%s", errbuf);
        status = 2;
        goto out;
    }
    if (own_data_dir(cmd, cfg, 1, &lock, &attach, errbuf, sizeof(errbuf)) ||
        open_database(cfg, attach, &pg, &conninfo, &stopped_sig, errbuf, sizeof(errbuf))) {
        if (!stopped_sig) {
            log_msg(LOG_ERROR, "%s", errbuf);
            goto out;
        }
        /* asked to stop: serve ends as on any SIGTERM; migrate did not do its work */
        log_json(LOG_INFO, errbuf, json_pack("{s:s}", "signal", strsignal(stopped_sig)));
        status = strcmp(cmd, "serve") == 0 ? 0 : 1;
        goto out;
    }
    if (strcmp(cmd, "migrate") == 0) {
        log_msg(LOG_INFO, "migrations up to date");
        status = 0;
        goto out;
    }
    log_auth(tokens);
    crashpoint_arm(cfg->test_crash_at);
    memset(&app, 0, sizeof(app));
    app.cfg = cfg;
    app.conninfo = conninfo;
    app.repos_cache = repos_cache_new();
    app.metrics = metrics_new();
    app.auth_on = tokens != NULL;
    app.auth = auth_keeper_new(tokens);
    app.uploads = upload_group_new(cfg->upload_group_max, cfg->upload_group_bytes,
                                   cfg->upload_group_wait_us, cfg->upload_groups);
    app.s3_events = s3_group_new(cfg->s3_group_records, cfg->s3_group_wait_us, cfg->s3_groups);
    tokens = NULL;
    status = serve(&app, conninfo);
    upload_group_free(app.uploads); /* the workers stopped: no upload waits */
    s3_group_free(app.s3_events);   /* and the SQS consumers: no batch waits */
    auth_keeper_free(app.auth);
    metrics_free(app.metrics);
    repos_cache_free(app.repos_cache);
out:
    outbox_store_clear_urls();
    auth_free(tokens);
    embedded_pg_free(pg);
    datadir_unlock(lock); /* after the embedded server stopped */
    if (status == 0 && !stopped_sig)
        log_msg(LOG_INFO, "stopped");
    return status;
}

int
main(int argc, char **argv)
{
    struct config cfg;
    const char *cmd = argc > 1 ? argv[1] : "serve";
    char errbuf[ERRBUF_SIZE];
    sigset_t set;
    int status;

    if (strcmp(cmd, "tail") == 0)
        return tail_main(argc - 1, argv + 1);
    status = early_exit(argc, cmd);
    if (status >= 0)
        return status;
    /* every thread created from here on inherits this mask */
    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    config_warn_unknown();
    if (config_load(&cfg, errbuf, sizeof(errbuf))) {
        log_msg(LOG_ERROR, "%s", errbuf);
        return 2;
    }
    if (cfg.database_url &&
        conninfo_check(cfg.database_url, cfg.database_url_var, errbuf, sizeof(errbuf))) {
        log_msg(LOG_ERROR, "%s", errbuf);
        config_release(&cfg);
        return 2;
    }
    if (strcmp(cmd, "config") == 0)
        status = print_config(&cfg);
    else if (strcmp(cmd, "healthcheck") == 0)
        status = healthcheck(&cfg);
    else
        status = run(cmd, &cfg);
    config_release(&cfg);
    return status;
}
