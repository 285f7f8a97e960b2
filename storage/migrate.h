/*
 * migrate.h - forward-only schema migrations
 *
 * The SQL files of migrations/ are compiled in (storage/embedded.h). Each is
 * applied once, in its own transaction, in file order, and recorded in
 * schema_migrations. A session advisory lock makes replicas that start
 * together take turns; the second finds nothing left to do.
 */
#ifndef INGESTD_MIGRATE_H
#define INGESTD_MIGRATE_H

#include <stddef.h>

#include "core/err.h"

struct db;

/* Apply every missing migration; *applied (if not NULL) gets how many ran now. */
enum err migrate_apply(struct db *db, int *applied, char *errbuf, size_t errlen);
/* ERR_OK when every compiled-in migration is recorded as applied. */
enum err migrate_check(struct db *db, char *errbuf, size_t errlen);

#endif
