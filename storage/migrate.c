/*
 * migrate.c - forward-only schema migrations
 */
#include "storage/migrate.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "storage/db.h"
#include "storage/embedded.h"
#include "storage/events_store.h"
#include "storage/locks.h"

static long
migration_version(const struct embedded_migration *m)
{
    return strtol(m->name, NULL, 10);
}

long
migrate_latest(void)
{
    if (embedded_migrations_count == 0)
        return 0;
    return migration_version(&embedded_migrations[embedded_migrations_count - 1]);
}

static enum err
apply_one(struct db *db, const struct embedded_migration *m, char *errbuf, size_t errlen)
{
    char version[32];
    const char *params[2];
    enum err rc;

    snprintf(version, sizeof(version), "%ld", migration_version(m));
    params[0] = version;
    params[1] = m->name;
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (rc)
        return rc;
    rc = db_exec(db, m->sql, errbuf, errlen);
    if (rc)
        goto out;
    rc = db_query(db, NULL, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                  params, errbuf, errlen);
    if (rc)
        goto out;
    rc = db_exec(db, "COMMIT", errbuf, errlen);
out:
    if (rc) {
        db_rollback(db);
        err_set(rc, errbuf, errlen, "migration %s failed", m->name);
    }
    return rc;
}

/*
 * What the migrations leave to ingestd, under the migration lock: the rows
 * of events merged before event_rows kept them (0013), and a warning when
 * the analysts' role could not be created.
 */
static enum err
after_migrations(struct db *db, char *errbuf, size_t errlen)
{
    long long events = 0;
    long long role = 0;
    enum err rc;

    rc = events_store_backfill(db, &events, errbuf, errlen);
    if (!rc && events > 0)
        log_json(LOG_INFO, "event rows restored for the repository history",
                 json_pack("{s:I}", "events", (json_int_t)events));
    if (!rc)
        rc = db_query_ll(db, "SELECT count(*) FROM pg_roles WHERE rolname = 'ingestd_reader'", 0,
                         NULL, "no count", &role, errbuf, errlen);
    if (!rc && role == 0)
        log_json(LOG_WARN,
                 "role ingestd_reader absent: the views of ingestd_v1 are granted to "
                 "no reader (README \"SQL views for analysts\")",
                 NULL);
    return rc;
}

enum err
migrate_apply(struct db *db, int *applied, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    long current;
    size_t i;
    int n = 0;
    enum err rc;

    rc = db_exec(db, "SELECT pg_advisory_lock(" LOCK_MIGRATE_KEY ")", errbuf, errlen);
    if (rc)
        return rc;
    rc = db_exec(db,
                 "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, "
                 "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                 errbuf, errlen);
    if (rc)
        goto out;
    rc = db_query(db, &res, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
                  errbuf, errlen);
    if (rc)
        goto out;
    current = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    for (i = 0; i < embedded_migrations_count; i++) {
        if (migration_version(&embedded_migrations[i]) <= current)
            continue;
        rc = apply_one(db, &embedded_migrations[i], errbuf, errlen);
        if (rc)
            goto out;
        log_json(LOG_INFO, "migration applied",
                 json_pack("{s:s}", "name", embedded_migrations[i].name));
        n++;
    }
    rc = after_migrations(db, errbuf, errlen);
out:
    PQclear(res);
    if (db_conn(db))
        db_exec(db, "SELECT pg_advisory_unlock(" LOCK_MIGRATE_KEY ")", NULL, 0);
    if (applied)
        *applied = n;
    return rc;
}

enum err
migrate_check(struct db *db, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    long current;
    enum err rc;

    rc = db_query(db, &res, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
                  errbuf, errlen);
    if (rc) {
        if (rc != ERR_UNAVAILABLE)
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "migrations not applied");
        return rc;
    }
    current = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (current < migrate_latest())
        return err_set(ERR_UNAVAILABLE, errbuf, errlen, "migrations not applied");
    return ERR_OK;
}
