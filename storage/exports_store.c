/*
 * exports_store.c - export_targets (migration 0009)
 *
 * The claim is a session advisory lock (storage/locks.h, step 7) tried on
 * the publisher's connection, never waited for: a replica that does not get
 * it leaves the target to the one that has it. The row is read only after
 * the lock is held, in a statement of its own (a statement's snapshot is
 * taken before its locks), so a claimant always sees what the previous
 * holder recorded before it let go.
 */
#include "storage/exports_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "storage/db.h"
#include "storage/locks.h"
#include "storage/outbox_store.h"
#include "storage/pgcopy.h"

#define TRY_LOCK_SQL "SELECT pg_try_advisory_lock(" LOCK_EXPORT_TARGET("$1::text") ")::int"
#define UNLOCK_SQL "SELECT pg_advisory_unlock(" LOCK_EXPORT_TARGET("$1::text") ")::int"

enum err
exports_store_claim(struct db *db, const char *target, const char *kind, int *claimed,
                    int64_t *held, char *errbuf, size_t errlen)
{
    const char *params[2] = {target, kind};
    long long v = 0;
    enum err rc;

    *claimed = 0;
    *held = 0;
    rc = db_query_ll(db, TRY_LOCK_SQL, 1, params, "no lock result", &v, errbuf, errlen);
    if (rc || !v)
        return rc;
    *claimed = 1;
    /* read first: a claim of a known target writes nothing (no commit to wait for) */
    rc = db_query_ll(db, "SELECT generation FROM export_targets WHERE target = $1", 1, params,
                     "no export_targets row", &v, errbuf, errlen);
    if (rc == ERR_NOT_FOUND)
        rc = db_query_ll(db,
                         "INSERT INTO export_targets AS t (target, kind) VALUES ($1, $2) "
                         "ON CONFLICT (target) DO UPDATE SET kind = excluded.kind "
                         "RETURNING t.generation",
                         2, params, "no export_targets row", &v, errbuf, errlen);
    if (rc) {
        char ignored[ERRBUF_SIZE];

        exports_store_unclaim(db, target, ignored, sizeof(ignored));
        *claimed = 0;
        return rc;
    }
    *held = v;
    return ERR_OK;
}

enum err
exports_store_unclaim(struct db *db, const char *target, char *errbuf, size_t errlen)
{
    const char *params[1] = {target};
    long long v = 0;

    return db_query_ll(db, UNLOCK_SQL, 1, params, "no unlock result", &v, errbuf, errlen);
}

/*
 * A failed attempt, and with `announce` the io.ingestd.export.failed change
 * in the same transaction: the journal holds the failure exactly when the
 * target's row does.
 */
static enum err
record_failure(struct db *db, const char *target, int64_t generation, const char *dur,
               const char *error, int announce, char *errbuf, size_t errlen)
{
    const char *fparams[3] = {target, dur, error};
    char ignored[ERRBUF_SIZE];
    json_t *data = NULL;
    enum err rc;

    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (rc)
        return rc;
    rc = db_query(db, NULL,
                  "UPDATE export_targets SET attempts = attempts + 1, "
                  "failures = failures + 1, last_attempt_at = now(), "
                  "last_duration_ms = $2, last_error = $3, last_error_at = now() "
                  "WHERE target = $1",
                  3, fparams, errbuf, errlen);
    if (!rc && announce) {
        data = json_pack("{s:s,s:I,s:s}", "target", target, "generation", (json_int_t)generation,
                         "error", error);
        if (!data) /* an error text that is not UTF-8 (a remote's message): announced without it */
            data = json_pack("{s:s,s:I,s:s}", "target", target, "generation",
                             (json_int_t)generation, "error", "(not valid UTF-8)");
        rc = outbox_enqueue(db, OUTBOX_EXPORT_FAILED, "/api/v1/exports", target, data, NULL, errbuf,
                            errlen);
        json_decref(data);
    }
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_exec(db, "ROLLBACK", ignored, sizeof(ignored));
    return rc;
}

enum err
exports_store_record(struct db *db, const char *target, int64_t generation, long long duration_ms,
                     const char *error, int announce, char *errbuf, size_t errlen)
{
    char gen[32];
    char dur[32];
    const char *params[3] = {target, gen, dur};

    snprintf(gen, sizeof(gen), "%lld", (long long)generation);
    snprintf(dur, sizeof(dur), "%lld", duration_ms);
    if (error)
        return record_failure(db, target, generation, dur, error, announce, errbuf, errlen);
    return db_query(db, NULL,
                    "UPDATE export_targets SET attempts = attempts + 1, last_attempt_at = now(), "
                    "last_success_at = now(), last_duration_ms = $3, "
                    "generation = greatest(generation, $2::bigint) WHERE target = $1",
                    3, params, errbuf, errlen);
}

static json_t *
ts_or_null(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? json_null() : json_string(PQgetvalue(res, r, c));
}

static json_t *
row_json(PGresult *res, int r)
{
    json_t *o = json_object();

    json_object_set_new(o, "target", json_string(PQgetvalue(res, r, 0)));
    json_object_set_new(o, "kind", json_string(PQgetvalue(res, r, 1)));
    json_object_set_new(o, "generation", json_integer(strtoll(PQgetvalue(res, r, 2), NULL, 10)));
    json_object_set_new(o, "attempts", json_integer(strtoll(PQgetvalue(res, r, 3), NULL, 10)));
    json_object_set_new(o, "failures", json_integer(strtoll(PQgetvalue(res, r, 4), NULL, 10)));
    json_object_set_new(o, "last_attempt_at", ts_or_null(res, r, 5));
    json_object_set_new(o, "last_success_at", ts_or_null(res, r, 6));
    json_object_set_new(o, "last_error", ts_or_null(res, r, 7));
    json_object_set_new(o, "last_error_at", ts_or_null(res, r, 8));
    json_object_set_new(o, "last_duration_ms",
                        PQgetisnull(res, r, 9)
                            ? json_null()
                            : json_integer(strtoll(PQgetvalue(res, r, 9), NULL, 10)));
    return o;
}

enum err
exports_store_list(struct db *db, const char *const *names, const char *const *kinds, size_t n,
                   json_t **items, char *errbuf, size_t errlen)
{
    struct buf names_lit;
    struct buf kinds_lit;
    const char *params[2];
    PGresult *res = NULL;
    int r;
    enum err rc;

    *items = NULL;
    buf_init(&names_lit, 0);
    buf_init(&kinds_lit, 0);
    rc = pgcopy_param_array(&names_lit, names, NULL, n);
    if (!rc)
        rc = pgcopy_param_array(&kinds_lit, kinds, NULL, n);
    if (rc) {
        err_set(rc, errbuf, errlen, "export target names do not make an array");
        goto out;
    }
    params[0] = names_lit.data;
    params[1] = kinds_lit.data;
    rc = db_query(
        db, &res,
        "SELECT c.name, c.kind, coalesce(t.generation, 0), coalesce(t.attempts, 0), "
        "coalesce(t.failures, 0), " SQL_TS("t.last_attempt_at") ", " SQL_TS(
            "t.last_success_at") ", t.last_error, " SQL_TS("t.last_error_at") ", "
                                                                              "t.last_duration_ms "
                                                                              "FROM "
                                                                              "unnest($1::text[], "
                                                                              "$2::text[]) WITH "
                                                                              "ORDINALITY "
                                                                              "AS c(name, kind, "
                                                                              "ord) "
                                                                              "LEFT JOIN "
                                                                              "export_targets t ON "
                                                                              "t.target = c.name "
                                                                              "ORDER BY c.ord",
        2, params, errbuf, errlen);
    if (rc)
        goto out;
    *items = json_array();
    for (r = 0; r < PQntuples(res); r++)
        json_array_append_new(*items, row_json(res, r));
out:
    PQclear(res);
    buf_release(&names_lit);
    buf_release(&kinds_lit);
    return rc;
}
