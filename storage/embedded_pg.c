/*
 * embedded_pg.c - a private PostgreSQL cluster owned by this process
 *
 * initdb and pg_ctl run in fork()ed children (no shell on our side) with
 * stdin from /dev/null and stdout/stderr appended to postgres.log. When we
 * are root, the child drops to the `postgres` user before execv(); only the
 * directories the cluster owns (pgdata/, run/) and the log file are chowned,
 * never `dir` itself, which must merely be traversable by that user.
 * Everything a child needs is prepared before fork(), so the child calls only
 * async-signal-safe functions.
 *
 * pg_ctl launches the postmaster through /bin/sh with the -o options pasted
 * into the command line, so the directory name is restricted to characters
 * that need no quoting beyond single quotes.
 *
 * Invariant: `running` is 1 between a successful start/adopt/restart and the
 * next stop; embedded_pg_free() stops the server only then. An attached
 * server (another process owns the data directory) is never `running` here.
 */
#include "storage/embedded_pg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "storage/datadir.h"

#define PG_OWNER "postgres"
#define PG_DBNAME "ingestd"
#define PG_PORT 5432
#define PG_SOCKET_FILE "/.s.PGSQL.5432"
#define PG_SOCKET_PATH_MAX 107 /* sun_path is 108 bytes with the NUL */
#define PG_WAIT_SECONDS "60"
#define PG_ADOPT_WAIT_MS 30000
#define PG_SERVER_OPTIONS                                                                          \
    "-c max_connections=200 -c wal_buffers=32MB -c max_wal_size=4GB -c "                           \
    "wal_level=minimal -c max_wal_senders=0 "                                                      \
    "-c checkpoint_timeout=15min -c work_mem=32MB -c wal_compression=lz4"
/* shared_buffers: a quarter of the machine's memory, within these bounds (MiB) */
#define PG_SHARED_BUFFERS_MIN_MB 128
#define PG_SHARED_BUFFERS_MAX_MB 4096
#define CHILD_CANNOT_CHDIR 126 /* the child could not enter dir */

struct embedded_pg {
    char *dir;           /* absolute, symlinks resolved */
    char *pgdata;        /* dir/pgdata */
    char *rundir;        /* dir/run, the unix socket directory */
    char *logpath;       /* dir/postgres.log */
    char *initdb;        /* path of the initdb binary */
    char *pg_ctl;        /* path of the pg_ctl binary */
    char *server_opts;   /* pg_ctl -o, shell text */
    char *conninfo;      /* the ingestd database */
    char *conninfo_root; /* the postgres database, for maintenance */
    int logfd;           /* postgres.log, O_APPEND | O_CLOEXEC; -1 when closed */
    int drop_privileges; /* we are root: children run as owner_uid */
    uid_t owner_uid;
    gid_t owner_gid;
    gid_t *groups; /* supplementary groups of the owner */
    int ngroups;
    int running;
    int attached; /* embedded_pg_attach(): another process's server, never started or stopped */
};

/* ---- small helpers ---------------------------------------------------- */

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
    struct buf b;
    va_list ap;

    buf_init(&b, 0);
    va_start(ap, fmt);
    if (buf_vprintf(&b, fmt, ap))
        abort();
    va_end(ap);
    return buf_take(&b, NULL);
}

/* A NULL-terminated argv of copies of the NULL-terminated argument list. */
static char **
argv_new(const char *first, ...)
{
    char **argv = xcalloc(16, sizeof(*argv));
    const char *arg = first;
    size_t n = 0;
    va_list ap;

    va_start(ap, first);
    while (arg) {
        if (n == 15)
            abort(); /* BUG: more arguments than room */
        argv[n++] = xstrdup(arg);
        arg = va_arg(ap, const char *);
    }
    va_end(ap);
    return argv;
}

static void
argv_free(char **argv)
{
    size_t i;

    if (!argv)
        return;
    for (i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

static int
is_executable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int
path_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* Report a libpq error message, without its trailing newline, after `what`. */
static enum err
pq_error(const char *what, const char *msg, char *errbuf, size_t errlen)
{
    size_t n = msg ? strlen(msg) : 0;

    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    return err_set(ERR_UNAVAILABLE, errbuf, errlen, "%s: %.*s", what, (int)n, msg ? msg : "");
}

/* ---- locating the binaries -------------------------------------------- */

/* The highest N for which /usr/lib/postgresql/N/bin/pg_ctl exists, or NULL. */
static char *
newest_debian_bindir(void)
{
    DIR *d = opendir("/usr/lib/postgresql");
    struct dirent *de;
    long best = -1;
    char *best_dir = NULL;

    if (!d)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        char *end = NULL;
        long v = strtol(de->d_name, &end, 10);
        char *bindir;
        char *pg_ctl;

        if (end == de->d_name || *end != '\0' || v <= best)
            continue;
        bindir = xasprintf("/usr/lib/postgresql/%s/bin", de->d_name);
        pg_ctl = xasprintf("%s/pg_ctl", bindir);
        if (is_executable(pg_ctl)) {
            free(best_dir);
            best_dir = bindir;
            bindir = NULL;
            best = v;
        }
        free(pg_ctl);
        free(bindir);
    }
    closedir(d);
    return best_dir;
}

/* The first PATH entry holding pg_ctl, or NULL. */
static char *
path_bindir(void)
{
    const char *path = getenv("PATH");
    const char *p = path;

    while (p && *p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char *dir = xstrndup(p, n);
        char *pg_ctl = xasprintf("%s/pg_ctl", dir);
        int found = n > 0 && is_executable(pg_ctl);

        free(pg_ctl);
        if (found)
            return dir;
        free(dir);
        p = colon ? colon + 1 : NULL;
    }
    return NULL;
}

/*
 * PostgreSQL's shared_buffers for the embedded server: a quarter of the
 * physical memory (PostgreSQL's own advice for a dedicated server),
 * between 128 MiB and 4 GiB. A catalog read in key order (an inventory
 * compared with the records it repeats) then stays in PostgreSQL's cache
 * instead of being read again through the kernel's for every page.
 */
static long
shared_buffers_mb(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    long mb;

    if (pages <= 0 || page <= 0)
        return PG_SHARED_BUFFERS_MIN_MB;
    mb = (long)((long double)pages * (long double)page / 4 / (1024 * 1024));
    if (mb < PG_SHARED_BUFFERS_MIN_MB)
        return PG_SHARED_BUFFERS_MIN_MB;
    return mb > PG_SHARED_BUFFERS_MAX_MB ? PG_SHARED_BUFFERS_MAX_MB : mb;
}

static enum err
find_binaries(struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    const char *env = getenv("INGESTD_PG_BINDIR");
    char *bindir = NULL;
    enum err rc = ERR_OK;

    if (env && *env)
        bindir = xstrdup(env);
    if (!bindir)
        bindir = newest_debian_bindir();
    if (!bindir)
        bindir = path_bindir();
    if (!bindir) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen,
                     "postgresql server binaries not found; install postgresql or set "
                     "INGESTD_PG_BINDIR");
        goto out;
    }
    pg->initdb = xasprintf("%s/initdb", bindir);
    pg->pg_ctl = xasprintf("%s/pg_ctl", bindir);
    if (!is_executable(pg->initdb) || !is_executable(pg->pg_ctl)) {
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "%sno executable initdb and pg_ctl in %s",
                     env && *env ? "INGESTD_PG_BINDIR: " : "", bindir);
        goto out;
    }
out:
    free(bindir);
    return rc;
}

/* ---- the cluster owner ------------------------------------------------ */

static enum err
resolve_owner(struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    struct passwd *pw;
    int n = 0;

    if (geteuid() != 0)
        return ERR_OK;
    errno = 0;
    pw = getpwnam(PG_OWNER);
    if (!pw)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen,
                       "running as root, but user " PG_OWNER " does not exist to own the "
                       "embedded postgresql; create it or run as an unprivileged user");
    pg->drop_privileges = 1;
    pg->owner_uid = pw->pw_uid;
    pg->owner_gid = pw->pw_gid;
    getgrouplist(PG_OWNER, pw->pw_gid, NULL, &n);
    if (n < 1)
        n = 1;
    pg->groups = xcalloc((size_t)n, sizeof(gid_t));
    if (getgrouplist(PG_OWNER, pw->pw_gid, pg->groups, &n) < 0) {
        pg->groups[0] = pw->pw_gid;
        n = 1;
    }
    pg->ngroups = n;
    return ERR_OK;
}

/* ---- running the PostgreSQL programs ---------------------------------- */

/* In the child: async-signal-safe calls only. Never returns. */
static void
child_run(const struct embedded_pg *pg, char **argv, int nullfd)
{
    static const int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD};
    int outfd = pg->logfd >= 0 ? pg->logfd : nullfd; /* no log yet: the reachability check */
    struct sigaction sa;
    sigset_t none;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(nullfd, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0)
        _exit(127);
    if (close_range(3, ~0U, 0) != 0) {
        int fd;

        for (fd = 3; fd < 1024; fd++)
            close(fd);
    }
    if (pg->drop_privileges) {
        if (setgroups((size_t)pg->ngroups, pg->groups) != 0 || setgid(pg->owner_gid) != 0 ||
            setuid(pg->owner_uid) != 0)
            _exit(127);
    }
    if (chdir(pg->dir) != 0)
        _exit(CHILD_CANNOT_CHDIR);
    if (!argv)
        _exit(0);
    execv(argv[0], argv);
    _exit(127);
}

/*
 * Run argv (NULL: only check that the owner can enter dir) as the cluster
 * owner and wait for it. *code is the exit status, or 128 + signal.
 */
static enum err
run_child(const struct embedded_pg *pg, char **argv, int *code, char *errbuf, size_t errlen)
{
    int nullfd = -1;
    int status = 0;
    pid_t pid;
    enum err rc = ERR_OK;

    nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nullfd < 0) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "cannot open /dev/null: %s", strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child_run(pg, argv, nullfd);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = err_set(ERR_INTERNAL, errbuf, errlen, "waitpid: %s", strerror(errno));
            goto out;
        }
    }
    if (WIFEXITED(status))
        *code = WEXITSTATUS(status);
    else
        *code = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
out:
    if (nullfd >= 0)
        close(nullfd);
    return rc;
}

/* Run a program that must succeed; `what` names it in the error. */
static enum err
run_tool(const struct embedded_pg *pg, char **argv, const char *what, char *errbuf, size_t errlen)
{
    int code = 0;
    enum err rc;

    rc = run_child(pg, argv, &code, errbuf, errlen);
    if (rc)
        return rc;
    if (code == CHILD_CANNOT_CHDIR)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "%s: cannot enter %s", what, pg->dir);
    if (code != 0)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "%s failed (exit status %d); see %s", what,
                       code, pg->logpath);
    return ERR_OK;
}

/* 1 when pg_ctl status finds a live postmaster for pgdata. */
static enum err
server_is_running(const struct embedded_pg *pg, int *running, char *errbuf, size_t errlen)
{
    char **argv = argv_new(pg->pg_ctl, "status", "-D", pg->pgdata, (const char *)NULL);
    int code = 0;
    enum err rc;

    rc = run_child(pg, argv, &code, errbuf, errlen);
    argv_free(argv);
    if (rc)
        return rc;
    *running = code == 0;
    return ERR_OK;
}

/* ---- directories -------------------------------------------------------- */

/* A directory the cluster owner owns (chowned when we are root). */
static enum err
owned_dir(const struct embedded_pg *pg, const char *path, char *errbuf, size_t errlen)
{
    enum err rc;

    rc = datadir_mkdir_p(path, 0700, errbuf, errlen);
    if (rc)
        return rc;
    if (pg->drop_privileges && chown(path, pg->owner_uid, pg->owner_gid) != 0)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot chown %s to " PG_OWNER ": %s", path,
                       strerror(errno));
    return ERR_OK;
}

/*
 * The paths and connection strings under dir (resolved already); reject names
 * pg_ctl's shell would mangle and socket paths too long for sun_path.
 */
static enum err
derive_paths(struct embedded_pg *pg, const char *real, char *errbuf, size_t errlen)
{
    if (strpbrk(real, "'\"\\$`,\n\r"))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "data directory %s contains a quote, backslash, dollar, backquote, comma "
                       "or newline; choose a plain path",
                       real);
    pg->dir = xstrdup(real);
    pg->pgdata = xasprintf("%s/pgdata", real);
    pg->rundir = xasprintf("%s/run", real);
    pg->logpath = xasprintf("%s/postgres.log", real);
    if (strlen(pg->rundir) + strlen(PG_SOCKET_FILE) >= PG_SOCKET_PATH_MAX)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "data directory %s is too long for a unix socket path (%s%s must be "
                       "under %d bytes); choose a shorter one",
                       real, pg->rundir, PG_SOCKET_FILE, PG_SOCKET_PATH_MAX);
    pg->conninfo =
        xasprintf("host='%s' port=%d dbname=" PG_DBNAME " user=" PG_OWNER " connect_timeout=10",
                  pg->rundir, PG_PORT);
    pg->conninfo_root =
        xasprintf("host='%s' port=%d dbname=postgres user=" PG_OWNER " connect_timeout=10",
                  pg->rundir, PG_PORT);
    return ERR_OK;
}

/* Create dir and derive the paths from its resolved name. */
static enum err
make_paths(struct embedded_pg *pg, const char *dir, char *errbuf, size_t errlen)
{
    char real[PATH_MAX];
    enum err rc;

    rc = datadir_mkdir_p(dir, pg->drop_privileges ? 0711 : 0700, errbuf, errlen);
    if (rc)
        return rc;
    if (!realpath(dir, real))
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot resolve %s: %s", dir,
                       strerror(errno));
    return derive_paths(pg, real, errbuf, errlen);
}

static enum err
prepare_dirs(struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    int code = 0;
    enum err rc;

    if (pg->drop_privileges) {
        rc = run_child(pg, NULL, &code, errbuf, errlen);
        if (rc)
            return rc;
        if (code == CHILD_CANNOT_CHDIR)
            return err_set(ERR_UNAVAILABLE, errbuf, errlen,
                           "INGESTD_DATA_DIR %s is not reachable by user " PG_OWNER
                           "; choose a directory it can traverse",
                           pg->dir);
        if (code != 0)
            return err_set(ERR_UNAVAILABLE, errbuf, errlen,
                           "cannot run a process as user " PG_OWNER " (exit status %d)", code);
    }
    rc = owned_dir(pg, pg->pgdata, errbuf, errlen);
    if (!rc)
        rc = owned_dir(pg, pg->rundir, errbuf, errlen);
    return rc;
}

/* Open postgres.log for appending, owned by the cluster owner (pg_ctl -l reopens it). */
static enum err
open_log(struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    pg->logfd = open(pg->logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (pg->logfd < 0)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot open %s: %s", pg->logpath,
                       strerror(errno));
    if (pg->drop_privileges && fchown(pg->logfd, pg->owner_uid, pg->owner_gid) != 0)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot chown %s to " PG_OWNER ": %s",
                       pg->logpath, strerror(errno));
    return ERR_OK;
}

/* ---- server life cycle -------------------------------------------------- */

static enum err
run_initdb(const struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    char *version = xasprintf("%s/PG_VERSION", pg->pgdata);
    char **argv = NULL;
    enum err rc = ERR_OK;

    if (path_exists(version))
        goto out;
    argv = argv_new(pg->initdb, "-D", pg->pgdata, "-U", PG_OWNER, "-A", "trust", "-E", "UTF8",
                    "--locale=C", (const char *)NULL);
    rc = run_tool(pg, argv, "initdb", errbuf, errlen);
out:
    argv_free(argv);
    free(version);
    return rc;
}

/* Wait until an adopted server accepts connections (it may still be starting). */
static enum err
wait_ready(const struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    long waited_ms = 0;

    for (;;) {
        if (PQping(pg->conninfo_root) == PQPING_OK)
            return ERR_OK;
        if (waited_ms >= PG_ADOPT_WAIT_MS)
            break;
        clock_sleep_ms(100);
        waited_ms += 100;
    }
    return err_set(ERR_UNAVAILABLE, errbuf, errlen,
                   "a postgresql server runs on %s but does not answer on %s; see %s", pg->pgdata,
                   pg->rundir, pg->logpath);
}

/* Start the server, or adopt the one already running on pgdata. */
static enum err
start_server(struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    char **argv = NULL;
    int running = 0;
    enum err rc;

    rc = server_is_running(pg, &running, errbuf, errlen);
    if (rc)
        goto out;
    if (running) {
        pg->running = 1;
        rc = wait_ready(pg, errbuf, errlen);
        goto out;
    }
    argv = argv_new(pg->pg_ctl, "start", "-D", pg->pgdata, "-w", "-t", PG_WAIT_SECONDS, "-l",
                    pg->logpath, "-o", pg->server_opts, (const char *)NULL);
    rc = run_tool(pg, argv, "pg_ctl start", errbuf, errlen);
    if (!rc)
        pg->running = 1;
out:
    argv_free(argv);
    return rc;
}

static enum err
ensure_database(const struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    const char *state;
    enum err rc = ERR_OK;

    conn = PQconnectdb(pg->conninfo_root);
    if (PQstatus(conn) != CONNECTION_OK) {
        rc = pq_error("cannot connect to the embedded postgresql", PQerrorMessage(conn), errbuf,
                      errlen);
        goto out;
    }
    res = PQexec(conn, "SELECT 1 FROM pg_database WHERE datname = '" PG_DBNAME "'");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pq_error("cannot list databases", PQresultErrorMessage(res), errbuf, errlen);
        goto out;
    }
    if (PQntuples(res) > 0)
        goto out;
    PQclear(res);
    res = PQexec(conn, "CREATE DATABASE " PG_DBNAME);
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !(state && !strcmp(state, "42P04"))) {
        rc = pq_error("cannot create database " PG_DBNAME, PQresultErrorMessage(res), errbuf,
                      errlen);
        goto out;
    }
out:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

enum err
embedded_pg_start(const char *dir, struct embedded_pg **out, char *errbuf, size_t errlen)
{
    struct embedded_pg *pg = xcalloc(1, sizeof(*pg));
    enum err rc;

    *out = NULL;
    pg->logfd = -1;
    rc = find_binaries(pg, errbuf, errlen);
    if (!rc)
        rc = resolve_owner(pg, errbuf, errlen);
    if (!rc)
        rc = make_paths(pg, dir, errbuf, errlen);
    if (!rc)
        rc = prepare_dirs(pg, errbuf, errlen);
    if (!rc)
        rc = open_log(pg, errbuf, errlen);
    if (rc)
        goto out;
    pg->server_opts =
        xasprintf("-c listen_addresses='' -k '%s' -p %d -c shared_buffers=%ldMB " PG_SERVER_OPTIONS,
                  pg->rundir, PG_PORT, shared_buffers_mb());
    rc = run_initdb(pg, errbuf, errlen);
    if (!rc)
        rc = start_server(pg, errbuf, errlen);
    if (!rc)
        rc = ensure_database(pg, errbuf, errlen);
out:
    if (rc) {
        embedded_pg_free(pg);
        return rc;
    }
    *out = pg;
    return ERR_OK;
}

enum err
embedded_pg_attach(const char *dir, struct embedded_pg **out, char *errbuf, size_t errlen)
{
    struct embedded_pg *pg = xcalloc(1, sizeof(*pg));
    char real[PATH_MAX];
    enum err rc;

    *out = NULL;
    pg->logfd = -1;
    pg->attached = 1;
    if (!realpath(dir, real)) {
        rc =
            err_set(ERR_UNAVAILABLE, errbuf, errlen, "cannot resolve %s: %s", dir, strerror(errno));
        goto out;
    }
    rc = derive_paths(pg, real, errbuf, errlen);
    if (!rc && wait_ready(pg, errbuf, errlen))
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen,
                     "the postgresql server of %s does not answer on %s; see %s", pg->dir,
                     pg->rundir, pg->logpath);
out:
    if (rc) {
        embedded_pg_free(pg);
        return rc;
    }
    *out = pg;
    return ERR_OK;
}

const char *
embedded_pg_conninfo(const struct embedded_pg *pg)
{
    return pg->conninfo;
}

enum err
embedded_pg_stop(struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    char **argv = NULL;
    int running = 0;
    enum err rc;

    if (pg->attached)
        return err_set(ERR_INTERNAL, errbuf, errlen, "BUG: an attached server is not ours to stop");
    rc = server_is_running(pg, &running, errbuf, errlen);
    if (rc || !running)
        goto out;
    argv = argv_new(pg->pg_ctl, "stop", "-D", pg->pgdata, "-m", "fast", "-w", "-t", PG_WAIT_SECONDS,
                    (const char *)NULL);
    rc = run_tool(pg, argv, "pg_ctl stop", errbuf, errlen);
out:
    if (!rc)
        pg->running = 0;
    argv_free(argv);
    return rc;
}

enum err
embedded_pg_restart(struct embedded_pg *pg, char *errbuf, size_t errlen)
{
    if (pg->attached)
        return err_set(ERR_INTERNAL, errbuf, errlen,
                       "BUG: an attached server is not ours to start");
    return start_server(pg, errbuf, errlen);
}

void
embedded_pg_free(struct embedded_pg *pg)
{
    if (!pg)
        return;
    if (pg->running)
        embedded_pg_stop(pg, NULL, 0);
    if (pg->logfd >= 0)
        close(pg->logfd);
    free(pg->dir);
    free(pg->pgdata);
    free(pg->rundir);
    free(pg->logpath);
    free(pg->initdb);
    free(pg->pg_ctl);
    free(pg->server_opts);
    free(pg->conninfo);
    free(pg->conninfo_root);
    free(pg->groups);
    free(pg);
}
