/*
 * feed_store.c - the journal of changes after a cursor, commit-safe
 *
 * One statement: the horizon h is the start of the oldest transaction in
 * progress in this database (other than ours), or now. The final prefix is
 * the rows after the cursor below the first one written at or after h;
 * of those, the filter's survivors are returned. See feed_store.h.
 */
#include "storage/feed_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "storage/db.h"
#include "storage/locks.h"
#include "storage/pgcopy.h"

/*
 * h: the horizon; cut: the first id written at or after it (changes_created_at
 * makes that a look at the recent rows only); scanned: the final prefix
 * after the cursor, at most FEED_SCAN rows; hits: those the filter keeps, at
 * most $5. The last row (all NULL but the cursor) carries where to resume:
 * the last hit when $5 of them were found, else the last row scanned.
 */
#define FEED_SCAN "10000"
static const char feed_sql[] =
    "WITH h AS (SELECT coalesce(min(xact_start), clock_timestamp()) AS t FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
    "AND backend_type = 'client backend'), "
    "cut AS (SELECT coalesce((SELECT min(c.id) FROM changes c, h WHERE c.created_at >= h.t AND "
    "c.id > $1::bigint), 9223372036854775807) AS id), "
    "scanned AS (SELECT c.* FROM changes c, cut WHERE c.id > $1::bigint AND c.id < cut.id "
    "ORDER BY c.id LIMIT " FEED_SCAN "), "
    "hits AS (SELECT r.* FROM scanned r "
    "WHERE ($2::text[] IS NULL OR r.type = ANY ($2::text[])) "
    "AND ($3::text IS NULL OR (r.type = 'io.ingestd.s3.objects.changed' AND r.subject = $3)) "
    "AND ($4::text IS NULL OR (r.type = 'io.ingestd.s3.objects.changed' AND EXISTS "
    "(SELECT 1 FROM jsonb_array_elements(r.data->'records') e WHERE starts_with(e->>'key', $4)))) "
    "ORDER BY r.id LIMIT $5::int) "
    "SELECT r.id, r.event_id, r.type, r.source, r.subject, " SQL_TS(
        "r.created_at") ", "
                        "r.data::text, NULL::bigint FROM hits r "
                        "UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, CASE WHEN "
                        "(SELECT count(*) FROM "
                        "hits) = $5::int THEN (SELECT max(id) FROM hits) ELSE (SELECT max(id) FROM "
                        "scanned) END "
                        "ORDER BY 1 NULLS LAST";

static json_t *
change_json(PGresult *res, int r)
{
    json_t *o = json_object();
    json_t *data = json_loads(PQgetvalue(res, r, 6), 0, NULL);

    json_object_set_new(o, "id", json_integer(strtoll(PQgetvalue(res, r, 0), NULL, 10)));
    json_object_set_new(o, "eventId", json_string(PQgetvalue(res, r, 1)));
    json_object_set_new(o, "type", json_string(PQgetvalue(res, r, 2)));
    json_object_set_new(o, "source", json_string(PQgetvalue(res, r, 3)));
    json_object_set_new(o, "subject",
                        PQgetisnull(res, r, 4) ? json_null() : json_string(PQgetvalue(res, r, 4)));
    json_object_set_new(o, "time", json_string(PQgetvalue(res, r, 5)));
    json_object_set_new(o, "data", data ? data : json_null());
    return o;
}

enum err
feed_store_read(struct db *db, long long after, const struct feed_filter *f, int limit,
                json_t **items, long long *last, char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    const char *params[5];
    char after_s[32], limit_s[16];
    struct buf types;
    enum err rc;
    int n, r;

    *items = NULL;
    *last = after;
    snprintf(after_s, sizeof(after_s), "%lld", after);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    buf_init(&types, 0);
    if (f->ntypes)
        pgcopy_param_array(&types, f->types, NULL, f->ntypes);
    params[0] = after_s;
    params[1] = f->ntypes ? types.data : NULL;
    params[2] = f->bucket;
    params[3] = f->prefix;
    params[4] = limit_s;
    rc = db_query(db, &res, feed_sql, 5, params, errbuf, errlen);
    buf_release(&types);
    if (rc)
        return rc;
    *items = json_array();
    n = PQntuples(res);
    for (r = 0; r < n; r++) {
        if (PQgetisnull(res, r, 0)) {
            if (!PQgetisnull(res, r, 7))
                *last = strtoll(PQgetvalue(res, r, 7), NULL, 10);
            continue;
        }
        json_array_append_new(*items, change_json(res, r));
    }
    PQclear(res);
    return ERR_OK;
}

static const char head_sql[] =
    "WITH h AS (SELECT coalesce(min(xact_start), clock_timestamp()) AS t FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
    "AND backend_type = 'client backend'), "
    "cut AS (SELECT coalesce((SELECT min(c.id) FROM changes c, h WHERE c.created_at >= h.t), "
    "9223372036854775807) AS id) "
    "SELECT coalesce((SELECT max(c.id) FROM changes c, cut WHERE c.id < cut.id), 0)";

enum err
feed_store_head(struct db *db, long long *head, char *errbuf, size_t errlen)
{
    return db_query_ll(db, head_sql, 0, NULL, "no journal", head, errbuf, errlen);
}
