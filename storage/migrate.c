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

/*
 * The versions schema_migrations holds, ascending, into *out (malloc'd,
 * *n of them); *out is NULL when there are none.
 */
static enum err
applied_versions(struct db *db, long **out, size_t *n, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    size_t i, rows;
    enum err rc;

    *out = NULL;
    *n = 0;
    rc = db_query(db, &res, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL,
                  errbuf, errlen);
    if (rc)
        return rc;
    rows = (size_t)PQntuples(res);
    if (rows > 0) {
        *out = calloc(rows, sizeof(**out));
        if (!*out) {
            rc = err_set(ERR_INTERNAL, errbuf, errlen, "out of memory");
            goto out;
        }
    }
    for (i = 0; i < rows; i++)
        (*out)[i] = strtol(PQgetvalue(res, (int)i, 0), NULL, 10);
    *n = rows;
out:
    PQclear(res);
    return rc;
}

static int
version_applied(const long *versions, size_t n, long version)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (versions[i] == version)
            return 1;
    return 0;
}

/*
 * Applies every embedded migration schema_migrations does not hold, in
 * version order. One below the highest applied version (a database a build
 * with a later migration touched first) is applied too, with a warning
 * naming it, rather than skipped for ever.
 */
enum err
migrate_apply(struct db *db, int *applied, char *errbuf, size_t errlen)
{
    long *versions = NULL;
    size_t i, nversions = 0;
    long highest;
    int n = 0;
    enum err rc;

    rc = db_exec(db, "SELECT pg_advisory_lock(" LOCK_MIGRATE_KEY ")", errbuf, errlen);
    if (rc)
        return rc;
    rc = db_exec(db,
                 "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, "
                 "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                 errbuf, errlen);
    if (!rc)
        rc = applied_versions(db, &versions, &nversions, errbuf, errlen);
    if (rc)
        goto out;
    highest = nversions > 0 ? versions[nversions - 1] : 0;
    for (i = 0; i < embedded_migrations_count; i++) {
        const struct embedded_migration *m = &embedded_migrations[i];

        if (version_applied(versions, nversions, migration_version(m)))
            continue;
        rc = apply_one(db, m, errbuf, errlen);
        if (rc)
            goto out;
        if (migration_version(m) < highest)
            log_json(LOG_WARN, "migration applied after a later one",
                     json_pack("{s:s, s:I}", "name", m->name, "highest", (json_int_t)highest));
        else
            log_json(LOG_INFO, "migration applied", json_pack("{s:s}", "name", m->name));
        n++;
    }
    rc = after_migrations(db, errbuf, errlen);
out:
    free(versions);
    if (db_conn(db))
        db_exec(db, "SELECT pg_advisory_unlock(" LOCK_MIGRATE_KEY ")", NULL, 0);
    if (applied)
        *applied = n;
    return rc;
}

enum err
migrate_check(struct db *db, char *errbuf, size_t errlen)
{
    long *versions = NULL;
    size_t i, nversions = 0;
    enum err rc;

    rc = applied_versions(db, &versions, &nversions, errbuf, errlen);
    if (rc) {
        if (rc != ERR_UNAVAILABLE)
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "migrations not applied");
        return rc;
    }
    for (i = 0; i < embedded_migrations_count && !rc; i++)
        if (!version_applied(versions, nversions, migration_version(&embedded_migrations[i])))
            rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "migrations not applied");
    free(versions);
    return rc;
}
