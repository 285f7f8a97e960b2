/*
 * imports_store.c - the imports table family (event_names, import_files, import_locations)
 *
 * A name or an import key is inserted with ON CONFLICT DO NOTHING inside
 * the transaction that stores its event: the unique index makes a second
 * inserter wait for the first one's commit (then it sees the row and does
 * nothing) or rollback (then it proceeds), so two replicas, or one process
 * re-reading a file after a crash, never store an event twice. A batch of
 * import files claims its keys in the caller's (name) order. No advisory
 * lock is taken; uploads hold ROW EXCLUSIVE on events as POSTs do.
 */
#include "storage/imports_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "core/buf.h"
#include "storage/db.h"
#include "storage/events_store.h"
#include "storage/locks.h"
#include "storage/pgcopy.h"

#define TS(col) SQL_TS(col)

/* ---- named events ---- */

/* The stored digest and event of `name`: ERR_NOT_FOUND when the name is free. */
static enum err
name_lookup(struct db *db, const char *name, char sha256[65], char event_id[37], char *errbuf,
            size_t errlen)
{
    PGresult *res = NULL;
    enum err rc;

    rc = db_query(db, &res, "SELECT sha256, event_id FROM event_names WHERE name = $1", 1, &name,
                  errbuf, errlen);
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        rc = err_set(ERR_NOT_FOUND, errbuf, errlen, "no event of this name");
    } else {
        snprintf(sha256, 65, "%s", PQgetvalue(res, 0, 0));
        snprintf(event_id, 37, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return rc;
}

/* The answer for a name that is taken: its event when the bytes are the same, else a conflict. */
static enum err
named_taken(struct db *db, const struct event_input *in, const char *sha, const char *id,
            enum imports_named *what, json_t **event, char other_sha256[65], char *errbuf,
            size_t errlen)
{
    enum err rc;

    if (strcmp(sha, in->sha256_hex) != 0) {
        *what = IMPORTS_NAMED_CONFLICT;
        snprintf(other_sha256, 65, "%s", sha);
        return ERR_OK;
    }
    *what = IMPORTS_NAMED_EXISTING;
    rc = events_store_get(db, id, event, errbuf, errlen);
    if (!rc)
        json_object_set_new(*event, "duplicate", json_true());
    return rc;
}

enum err
imports_store_put_named(struct db *db, const char *name, const struct event_input *in,
                        enum imports_named *what, json_t **event, char other_sha256[65],
                        char *errbuf, size_t errlen)
{
    const char *params[3];
    PGresult *res = NULL;
    char sha[65];
    char id[37];
    int duplicate = 0;
    int in_txn = 0;
    enum err rc;

    *event = NULL;
    other_sha256[0] = '\0';
    rc = name_lookup(db, name, sha, id, errbuf, errlen);
    if (rc != ERR_NOT_FOUND)
        return rc ? rc : named_taken(db, in, sha, id, what, event, other_sha256, errbuf, errlen);
    rc = db_exec(db, "BEGIN", errbuf, errlen);
    in_txn = !rc;
    if (!rc)
        rc = events_store_insert_txn(db, in, event, &duplicate, errbuf, errlen);
    if (rc)
        goto out;
    params[0] = name;
    params[1] = json_string_value(json_object_get(*event, "id"));
    params[2] = in->sha256_hex;
    rc = db_query(db, &res,
                  "INSERT INTO event_names (name, event_id, sha256) VALUES ($1, $2, $3) "
                  "ON CONFLICT (name) DO NOTHING RETURNING 1",
                  3, params, errbuf, errlen);
    if (rc)
        goto out;
    if (PQntuples(res) == 0) { /* named meanwhile by a concurrent request: answer as it stands */
        db_rollback(db);
        in_txn = 0;
        json_decref(*event);
        *event = NULL;
        rc = name_lookup(db, name, sha, id, errbuf, errlen);
        if (!rc)
            rc = named_taken(db, in, sha, id, what, event, other_sha256, errbuf, errlen);
        goto out;
    }
    rc = db_exec(db, "COMMIT", errbuf, errlen);
    in_txn = 0;
    if (!rc)
        *what = duplicate ? IMPORTS_NAMED_DUPLICATE : IMPORTS_NAMED_CREATED;
out:
    PQclear(res);
    if (in_txn)
        db_rollback(db);
    if (rc) {
        json_decref(*event);
        *event = NULL;
    }
    return rc;
}

enum err
imports_store_put_named_txn(struct db *db, const char *name, const struct event_input *in,
                            enum imports_named *what, json_t **event, char other_sha256[65],
                            char *errbuf, size_t errlen)
{
    const char *params[3];
    PGresult *res = NULL;
    char sha[65];
    char id[37];
    int duplicate = 0;
    enum err rc;

    *event = NULL;
    other_sha256[0] = '\0';
    rc = name_lookup(db, name, sha, id, errbuf, errlen);
    if (rc != ERR_NOT_FOUND)
        return rc ? rc : named_taken(db, in, sha, id, what, event, other_sha256, errbuf, errlen);
    rc = events_store_insert_txn(db, in, event, &duplicate, errbuf, errlen);
    if (rc)
        goto out;
    params[0] = name;
    params[1] = json_string_value(json_object_get(*event, "id"));
    params[2] = in->sha256_hex;
    rc = db_query(db, &res,
                  "INSERT INTO event_names (name, event_id, sha256) VALUES ($1, $2, $3) "
                  "ON CONFLICT (name) DO NOTHING RETURNING 1",
                  3, params, errbuf, errlen);
    if (!rc && PQntuples(res) == 0)
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "name taken concurrently, retry");
    if (!rc)
        *what = duplicate ? IMPORTS_NAMED_DUPLICATE : IMPORTS_NAMED_CREATED;
out:
    PQclear(res);
    if (rc) {
        json_decref(*event);
        *event = NULL;
    }
    return rc;
}

enum err
imports_store_named_content(struct db *db, const char *name, char **data, size_t *len,
                            char sha256[65], char *errbuf, size_t errlen)
{
    PGresult *res = NULL;
    unsigned char *raw = NULL;
    size_t n = 0;
    enum err rc;

    *data = NULL;
    *len = 0;
    rc = db_query_bin(db, &res,
                      "SELECT e.content, e.sha256 FROM event_names n JOIN events e "
                      "ON e.id = n.event_id WHERE n.name = $1",
                      1, &name, NULL, NULL, errbuf, errlen);
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        rc = err_set(ERR_NOT_FOUND, errbuf, errlen, "no event of this name");
        goto out;
    }
    raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &n);
    if (!raw) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "internal error");
        goto out;
    }
    *data = xstrndup((const char *)raw, n);
    *len = n;
    snprintf(sha256, 65, "%s", PQgetvalue(res, 0, 1));
out:
    PQfreemem(raw);
    PQclear(res);
    return rc;
}

/* ---- import locations ---- */

static const char claim_sql[] =
    "INSERT INTO import_files (location, name, sha256, outcome, bytes, event_id) "
    "VALUES ($1, $2, $3, 'accepted', $4, $5) ON CONFLICT DO NOTHING RETURNING 1";
static const char link_sql[] = "UPDATE import_files SET event_id = $4 "
                               "WHERE location = $1 AND name = $2 AND sha256 = $3";

/*
 * Claim one file's key and, when it is new, store its event (inside the
 * batch's transaction). The claim names the event id the insert will use,
 * so only a file whose bytes an event held already needs a second update.
 */
static enum err
accept_one(struct db *db, const char *location, struct imports_file *f, char *errbuf, size_t errlen)
{
    const char *params[5];
    char bytes[32];
    char id[37];
    uuid_t u;
    PGresult *res = NULL;
    json_t *event = NULL;
    enum err rc;

    uuid_generate(u);
    uuid_unparse_lower(u, id);
    snprintf(bytes, sizeof(bytes), "%zu", f->bytes);
    params[0] = location;
    params[1] = f->name;
    params[2] = f->sha256;
    params[3] = bytes;
    params[4] = id;
    f->already = 0;
    f->duplicate = 0;
    rc = db_query_prepared(db, &res, "import_claim", claim_sql, 5, params, NULL, NULL, errbuf,
                           errlen);
    if (rc)
        return rc;
    f->already = PQntuples(res) == 0;
    PQclear(res);
    if (f->already)
        return ERR_OK;
    f->in->id = id;
    rc = events_store_insert_txn(db, f->in, &event, &f->duplicate, errbuf, errlen);
    f->in->id = NULL;
    if (rc || !f->duplicate)
        goto out;
    params[3] = json_string_value(json_object_get(event, "id"));
    rc =
        db_query_prepared(db, NULL, "import_link", link_sql, 4, params, NULL, NULL, errbuf, errlen);
out:
    json_decref(event);
    return rc;
}

enum err
imports_store_accept(struct db *db, const char *location, struct imports_file *files, size_t n,
                     char *errbuf, size_t errlen)
{
    size_t i;
    enum err rc;

    rc = db_exec(db, "BEGIN", errbuf, errlen);
    if (rc)
        return rc;
    for (i = 0; i < n && !rc; i++)
        rc = accept_one(db, location, &files[i], errbuf, errlen);
    if (!rc)
        rc = db_exec(db, "COMMIT", errbuf, errlen);
    if (rc)
        db_rollback(db);
    return rc;
}

enum err
imports_store_fail(struct db *db, const char *location, const char *name, const char *sha256,
                   size_t bytes, json_t *problem, int *is_new, char *errbuf, size_t errlen)
{
    char *text = json_dumps(problem, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *params[5];
    char nbytes[32];
    PGresult *res = NULL;
    enum err rc;

    snprintf(nbytes, sizeof(nbytes), "%zu", bytes);
    params[0] = location;
    params[1] = name;
    params[2] = sha256;
    params[3] = nbytes;
    params[4] = text;
    *is_new = 0;
    rc = db_query(db, &res,
                  "INSERT INTO import_files (location, name, sha256, outcome, bytes, problem) "
                  "VALUES ($1, $2, $3, 'failed', $4, $5::jsonb) ON CONFLICT DO NOTHING RETURNING 1",
                  5, params, errbuf, errlen);
    if (!rc)
        *is_new = PQntuples(res) == 1;
    PQclear(res);
    free(text);
    return rc;
}

enum err
imports_store_note(struct db *db, const char *location, const char *error, char *errbuf,
                   size_t errlen)
{
    const char *params[2] = {location, error};

    if (!error)
        return db_query(db, NULL,
                        "INSERT INTO import_locations (location, last_scan_at) VALUES ($1, now()) "
                        "ON CONFLICT (location) DO UPDATE SET last_scan_at = now()",
                        1, params, errbuf, errlen);
    return db_query(db, NULL,
                    "INSERT INTO import_locations (location, last_error, last_error_at) "
                    "VALUES ($1, $2, now()) ON CONFLICT (location) DO UPDATE "
                    "SET last_error = $2, last_error_at = now()",
                    2, params, errbuf, errlen);
}

static json_t *
status_json(PGresult *res, int r)
{
    json_t *o = json_object();
    const char *loc = PQgetvalue(res, r, 0);

#define OPT(c) (PQgetisnull(res, r, c) ? json_null() : json_string(PQgetvalue(res, r, c)))
    json_object_set_new(o, "location", json_string(loc));
    json_object_set_new(o, "kind", json_string(strncmp(loc, "s3://", 5) == 0 ? "s3" : "folder"));
    json_object_set_new(o, "files_accepted",
                        json_integer(strtoll(PQgetvalue(res, r, 1), NULL, 10)));
    json_object_set_new(o, "files_failed", json_integer(strtoll(PQgetvalue(res, r, 2), NULL, 10)));
    json_object_set_new(o, "last_scan_at", OPT(3));
    json_object_set_new(o, "last_error", OPT(4));
    json_object_set_new(o, "last_error_at", OPT(5));
#undef OPT
    return o;
}

enum err
imports_store_status(struct db *db, const char *const *locations, json_t **items, char *errbuf,
                     size_t errlen)
{
    struct buf arr;
    const char *params[2];
    size_t n = 0;
    int more = 0;
    enum err rc;

    while (locations[n])
        n++;
    buf_init(&arr, 0);
    pgcopy_param_array(&arr, locations, NULL, n);
    params[0] = arr.data ? arr.data : "{}";
    params[1] = "100000";
    rc = db_page_json(
        db,
        "SELECT l.loc, (SELECT count(*) FROM import_files f WHERE f.location = l.loc "
        "AND f.outcome = 'accepted'), (SELECT count(*) FROM import_files f WHERE "
        "f.location = l.loc AND f.outcome = 'failed'), " TS(
            "il.last_scan_at") ", "
                               "il.last_error, " TS(
                                   "il.last_error_at") " FROM unnest($1::text[]) WITH "
                                                       "ORDINALITY AS l(loc, i) LEFT JOIN "
                                                       "import_locations il ON il.location = "
                                                       "l.loc ORDER BY l.i LIMIT $2",
        2, params, 100000, status_json, items, &more, errbuf, errlen);
    buf_release(&arr);
    return rc;
}
