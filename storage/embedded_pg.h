/*
 * embedded_pg.h - a private PostgreSQL cluster owned by this process
 *
 * The zero-config default of ingestd (OPERATIONS.md "Embedded default") and
 * the database of the integration tests. Under `dir`: `pgdata/` (the
 * cluster, initdb'd on first start), `run/` (the unix socket directory; the
 * server listens on no TCP address) and `postgres.log`. When the process runs
 * as root, initdb and the server run as the unprivileged `postgres` user
 * (the directories are chowned to it); otherwise as the current user.
 * The PostgreSQL binaries come from $INGESTD_PG_BINDIR, else the newest
 * /usr/lib/postgresql/N/bin, else PATH.
 *
 * A server left running by a previous owner that died (kill -9) is adopted.
 * The database `ingestd` is created when missing. Nothing here keeps a second
 * live process from adopting the server of the first: the process that
 * starts one takes the data directory's lock first (storage/datadir.h).
 *
 * Thread-safety: call from one thread (start-up and shutdown).
 */
#ifndef INGESTD_EMBEDDED_PG_H
#define INGESTD_EMBEDDED_PG_H

#include <stddef.h>

#include "core/err.h"

struct embedded_pg;

/* Initialise if needed and start; *out is set on success (free with embedded_pg_free). */
enum err embedded_pg_start(const char *dir, struct embedded_pg **out, char *errbuf, size_t errlen);
/*
 * Use the server that another process, the owner of dir (it holds the data
 * directory's lock, storage/datadir.h), runs: no directory is created, no
 * program run; waits up to 30 s for the server to answer. The server is
 * never stopped from here (embedded_pg_free() leaves it running; stop and
 * restart refuse). *out is set on success (free with embedded_pg_free).
 */
enum err embedded_pg_attach(const char *dir, struct embedded_pg **out, char *errbuf, size_t errlen);
/* libpq connection string for the `ingestd` database (borrowed). */
const char *embedded_pg_conninfo(const struct embedded_pg *pg);
/* Stop the server (fast shutdown) and wait for it; the struct stays usable. */
enum err embedded_pg_stop(struct embedded_pg *pg, char *errbuf, size_t errlen);
/* Start a stopped server again and wait until it accepts connections. */
enum err embedded_pg_restart(struct embedded_pg *pg, char *errbuf, size_t errlen);
/* Stop the server if running and free; NULL-safe. */
void embedded_pg_free(struct embedded_pg *pg);

#endif
