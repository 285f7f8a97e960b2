/*
 * main.c - ingestd entry point: serve, migrate, --help, --version
 *
 * Start-up order: configuration -> database (embedded PostgreSQL when no
 * DATABASE_URL) -> migrations -> worker pool -> HTTP. Shutdown on
 * SIGTERM/SIGINT runs it backwards, letting in-flight requests finish within
 * INGESTD_SHUTDOWN_GRACE seconds. Signals are handled synchronously by the
 * main thread (sigwait); every other thread has them blocked.
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

#include "jobs/inventory_runner.h"
#include "core/clock.h"
#include "handlers/repos_cache.h"
#include "jobs/scheduler.h"
#include "handlers/app.h"
#include "core/config.h"
#include "server/http.h"
#include "core/log.h"
#include "jobs/workers.h"
#include "storage/db.h"
#include "storage/embedded_pg.h"
#include "storage/migrate.h"

static const char usage[] =
    "usage: ingestd [serve | migrate | healthcheck | --version | --help]\n"
    "\n"
    "  serve        serve the HTTP API (the default)\n"
    "  migrate      apply database migrations and exit\n"
    "  healthcheck  exit 0 when the server at INGESTD_LISTEN answers /healthz (for\n"
    "               container health checks)\n"
    "  --version    print the version and exit\n"
    "  --help       print this help and exit\n"
    "\n"
    "Configuration comes from the environment:\n"
    "  DATABASE_URL            libpq connection string or URL; unset = embedded PostgreSQL\n"
    "  INGESTD_LISTEN          address:port to listen on (127.0.0.1:8080; port 0 = any)\n"
    "  INGESTD_DATA_DIR        embedded database and spool files (./var)\n"
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
    "  INGESTD_REQUEST_TIMEOUT idle HTTP connection timeout in seconds (60)\n"
    "  INGESTD_SHUTDOWN_GRACE  seconds in-flight requests get on SIGTERM (20)\n";

/* Connect and migrate, retrying while the database is not there yet. */
static enum err
prepare_database(const char *conninfo, char *errbuf, size_t errlen)
{
    struct db *db = db_new(conninfo);
    enum err rc;
    int tries;

    for (tries = 0;; tries++) {
        rc = migrate_apply(db, NULL, errbuf, errlen);
        if (rc != ERR_UNAVAILABLE || tries >= 60)
            break;
        if (tries == 0)
            log_msg(LOG_WARN, "database not reachable yet, retrying for 60 s");
        sleep(1);
    }
    db_free(db);
    return rc;
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

static int
serve(struct app *app, const char *conninfo)
{
    struct workers *workers = NULL;
    struct http_server *http = NULL;
    struct scheduler *sched = NULL;
    char errbuf[ERRBUF_SIZE];
    sigset_t set;
    int sig = 0;
    int waited_ms = 0;
    enum err rc;

    app->inventory_runner = inventory_runner_start(conninfo, app->cfg->inventory_streams,
                                                   app->cfg->inventory_merge_below);
    workers = workers_start(app->cfg->db_pool, conninfo);
    rc = http_server_start(&http, app, workers, errbuf, sizeof(errbuf));
    if (rc) {
        log_msg(LOG_ERROR, "%s", errbuf);
        workers_stop(workers);
        inventory_runner_stop(app->inventory_runner);
        return 1;
    }
    log_json(
        LOG_INFO, "listening",
        json_pack("{s:s,s:i}", "address", app->cfg->listen_host, "port", http_server_port(http)));
    if (app->cfg->merge_interval_s > 0)
        sched = scheduler_start(app, workers, app->cfg->merge_interval_s);

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigwait(&set, &sig);
    log_json(LOG_INFO, "shutting down", json_pack("{s:s}", "signal", strsignal(sig)));

    atomic_store(&app->stopping, 1);
    scheduler_stop(sched);
    http_server_quiesce(http);
    while (http_server_inflight(http) > 0 && waited_ms < app->cfg->shutdown_grace_s * 1000) {
        clock_sleep_ms(50);
        waited_ms += 50;
    }
    workers_stop(workers);
    /* no handler runs any more: the runner stops after its current data file */
    inventory_runner_stop(app->inventory_runner);
    app->inventory_runner = NULL;
    http_server_stop(http);
    return 0;
}

int
main(int argc, char **argv)
{
    struct config cfg;
    struct app app;
    struct embedded_pg *pg = NULL;
    const char *cmd = argc > 1 ? argv[1] : "serve";
    const char *conninfo;
    char errbuf[ERRBUF_SIZE];
    sigset_t set;
    int status = 1;
    enum err rc;

    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("ingestd %s\n", INGESTD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 2 || (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0 &&
                     strcmp(cmd, "healthcheck") != 0)) {
        fprintf(stderr, "ingestd: unknown command \"%s\"\n%s", cmd, usage);
        return 2;
    }

    /* every thread created from here on inherits this mask */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = config_load(&cfg, errbuf, sizeof(errbuf));
    if (rc) {
        log_msg(LOG_ERROR, "%s", errbuf);
        return 2;
    }
    if (strcmp(cmd, "healthcheck") == 0) {
        status = healthcheck(&cfg);
        config_release(&cfg);
        return status;
    }
    if (strcmp(cmd, "serve") == 0) {
        rc = listen_probe(&cfg, errbuf, sizeof(errbuf));
        if (rc) {
            log_msg(LOG_ERROR, "%s", errbuf);
            config_release(&cfg);
            return 1;
        }
    }
    if (cfg.database_url) {
        conninfo = cfg.database_url;
    } else {
        rc = embedded_pg_start(cfg.data_dir, &pg, errbuf, sizeof(errbuf));
        if (rc) {
            log_msg(LOG_ERROR, "%s", errbuf);
            goto out;
        }
        conninfo = embedded_pg_conninfo(pg);
        log_json(LOG_INFO, "embedded postgresql started",
                 json_pack("{s:s}", "data_dir", cfg.data_dir));
    }
    rc = prepare_database(conninfo, errbuf, sizeof(errbuf));
    if (rc) {
        log_msg(LOG_ERROR, "database: %s", errbuf);
        goto out;
    }
    if (strcmp(cmd, "migrate") == 0) {
        log_msg(LOG_INFO, "migrations up to date");
        status = 0;
        goto out;
    }
    memset(&app, 0, sizeof(app));
    app.cfg = &cfg;
    app.conninfo = conninfo;
    app.repos_cache = repos_cache_new();
    app.auth_on = 0; /* no token configuration yet (INGESTD_API_TOKENS, OPERATIONS.md) */
    status = serve(&app, conninfo);
    repos_cache_free(app.repos_cache);
out:
    embedded_pg_free(pg);
    config_release(&cfg);
    if (status == 0)
        log_msg(LOG_INFO, "stopped");
    return status;
}
