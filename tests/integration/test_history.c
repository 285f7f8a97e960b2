/*
 * test_history.c - GET /api/v1/repos/history and the schema ingestd_v1, end to end
 *
 * One PostgreSQL, four databases, each with its own ingestd:
 *   app     - migrated first, by a login role that may not create roles: the
 *             migrations succeed without the role ingestd_reader (and say so);
 *   ingestd - migrated by the owner, which creates ingestd_reader: outcomes of
 *             rows across merges, paging, bad input, the views and the role;
 *   old     - built as an ingestd before the history kept merged rows would
 *             have left it (migrations below 0013 applied from their files,
 *             a merged event without rows, a pending one with rows), then
 *             migrated by ingestd: the merged event's rows come back from its
 *             stored content, and the migration runs where the role exists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "harness.h"
#include "storage/pgcopy.h"

#define HDR "origin,path,branch,cloneUrl,changeset,publishUri\n"
#define A_ORIGIN "https://h.example/a,1.git"
#define A_ROW "\"" A_ORIGIN "\",a,main,https://clone/a"
#define B_ROW "https://h.example/b.git,b,main,https://clone/b"

static struct {
    struct th_pg *pg;
    struct th_ingestd *app; /* database ingestd_app, migrated by a role without CREATEROLE */
    struct th_ingestd *srv; /* database ingestd */
    long long app_roles;    /* ingestd_reader roles right after the app database migrated */
} G;

/* ---- helpers ---------------------------------------------------------- */

static PGconn *
connect_db(const char *dbname)
{
    char *url = th_strf("%s dbname=%s", th_pg_url(G.pg), dbname);
    PGconn *c = PQconnectdb(url);

    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", dbname, PQerrorMessage(c));
    free(url);
    return c;
}

/* Run sql on dbname; fails the test unless it succeeds. */
static PGresult *
sql_ok(const char *dbname, const char *sql)
{
    PGconn *c = connect_db(dbname);
    PGresult *res = PQexec(c, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s\n  %s", dbname, PQresultErrorMessage(res), sql);
    PQfinish(c);
    return res;
}

static long long
sql_ll(const char *dbname, const char *sql)
{
    PGresult *res = sql_ok(dbname, sql);
    long long v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);

    PQclear(res);
    return v;
}

/* The SQLSTATE of sql run as role ingestd_reader ("00000" when it succeeds). */
static char *
as_reader(const char *sql)
{
    PGconn *c = connect_db("ingestd");
    PGresult *res = PQexec(c, "SET ROLE ingestd_reader");
    char *state;

    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    res = PQexec(c, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK)
        state = xstrdup("00000");
    else
        state = xstrdup(PQresultErrorField(res, PG_DIAG_SQLSTATE));
    PQclear(res);
    PQfinish(c);
    return state;
}

static json_t *
upload(const char *base, const char *source, const char *csv)
{
    char *h = th_strf("X-Event-Source: %s", source);
    const char *headers[] = {h, NULL};
    struct th_resp r = th_post_csv(base, "/api/v1/events", csv, headers);
    json_t *j;

    if (r.status != 201)
        fail_msg("upload: %ld %s", r.status, r.body);
    j = th_resp_json(&r);
    th_resp_release(&r);
    free(h);
    return j;
}

static json_t *
merge(const char *base)
{
    struct th_resp r = th_post_json(base, "/api/v1/merges", "{}", NULL);
    json_t *j;

    if (r.status != 200)
        fail_msg("merge: %ld %s", r.status, r.body);
    j = th_resp_json(&r);
    th_resp_release(&r);
    return j;
}

/* GET the history path (query already encoded); the answer with its status checked. */
static json_t *
get_json(const char *base, const char *path, long want)
{
    struct th_resp r = th_get(base, path, NULL);
    json_t *j;

    if (r.status != want)
        fail_msg("GET %s: %ld, want %ld: %.400s", path, r.status, want, r.body ? r.body : "");
    if (want >= 400) {
        char *ct = th_resp_header(&r, "Content-Type");

        assert_non_null(ct);
        assert_string_equal(ct, "application/problem+json");
        free(ct);
    }
    j = th_resp_json(&r);
    th_resp_release(&r);
    return j;
}

/* The history query of a key, percent-encoded, with extra (may be ""). */
static char *
history_path(const char *origin, const char *path, const char *branch, const char *extra)
{
    char *o = curl_easy_escape(NULL, origin, 0);
    char *p = curl_easy_escape(NULL, path, 0);
    char *b = curl_easy_escape(NULL, branch, 0);
    char *s = th_strf("/api/v1/repos/history?origin=%s&path=%s&branch=%s%s", o, p, b, extra);

    curl_free(o);
    curl_free(p);
    curl_free(b);
    return s;
}

/* Every row of the key's history, following `next` links with the given page size. */
static json_t *
history_all(const char *base, const char *origin, const char *path, const char *branch, int limit,
            int *pages)
{
    char *extra = th_strf("&limit=%d", limit);
    char *url = history_path(origin, path, branch, extra);
    json_t *all = json_array();

    *pages = 0;
    while (url) {
        json_t *page = get_json(base, url, 200);
        json_t *next = json_object_get(page, "next");

        free(url);
        url = NULL;
        json_array_extend(all, json_object_get(page, "items"));
        assert_true(json_array_size(json_object_get(page, "items")) <= (size_t)limit);
        if (json_is_string(next))
            url = xstrdup(json_string_value(next));
        else
            assert_true(json_is_null(next));
        (*pages)++;
        json_decref(page);
    }
    free(extra);
    return all;
}

/* Row i of a history: from event ev (its id), row number, outcome, rule, merge (or NULL). */
static void
want_row(json_t *items, size_t i, json_t *ev, long long row, const char *outcome, const char *rule,
         json_t *m)
{
    json_t *it = json_array_get(items, i);

    if (!it)
        fail_msg("history has %zu rows, want row %zu", json_array_size(items), i);
    assert_string_equal(th_jstr(it, "event_id"), th_jstr(ev, "id"));
    assert_int_equal(th_jint(it, "sequence"), th_jint(ev, "sequence"));
    assert_int_equal(th_jint(it, "row"), row);
    assert_string_equal(th_jstr(it, "source"), th_jstr(ev, "source"));
    assert_string_equal(th_jstr(it, "received_at"), th_jstr(ev, "received_at"));
    if (strcmp(th_jstr(it, "outcome"), outcome) != 0)
        fail_msg("row %zu: outcome %s, want %s", i, th_jstr(it, "outcome"), outcome);
    if (rule)
        assert_string_equal(th_jstr(it, "rule"), rule);
    else
        assert_true(json_is_null(json_object_get(it, "rule")));
    if (m) {
        assert_string_equal(th_jstr(it, "merge_id"), th_jstr(m, "id"));
        assert_int_equal(th_jint(it, "generation"), th_jint(m, "generation"));
        assert_true(th_is_ts(th_jstr(it, "merged_at")));
    } else {
        assert_true(json_is_null(json_object_get(it, "merge_id")));
        assert_true(json_is_null(json_object_get(it, "generation")));
    }
}

/* 1 when the log of p holds `what`. */
static int
log_has(struct th_ingestd *p, const char *what)
{
    char *text = th_read_file(th_ingestd_log(p), NULL);
    int found = strstr(text, what) != NULL;

    free(text);
    return found;
}

/* ---- fixtures ----------------------------------------------------------- */

static int
group_setup(void **state)
{
    char *url;

    (void)state;
    G.pg = th_pg_start();
    PQclear(th_pg_exec(G.pg, "CREATE ROLE app LOGIN NOSUPERUSER NOCREATEROLE"));
    PQclear(th_pg_exec(G.pg, "CREATE DATABASE ingestd_app OWNER app"));
    PQclear(th_pg_exec(G.pg, "CREATE DATABASE ingestd_old"));
    url = th_strf("%s dbname=ingestd_app user=app", th_pg_url(G.pg));
    G.app = th_ingestd_start(url, NULL);
    free(url);
    G.app_roles = sql_ll("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                     "'ingestd_reader'");
    G.srv = th_ingestd_start(th_pg_url(G.pg), NULL);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.srv);
    th_ingestd_free(G.app);
    th_pg_free(G.pg);
    return 0;
}

/* ---- outcomes ----------------------------------------------------------- */

static void
test_outcomes_across_merges(void **state)
{
    const char *B = th_ingestd_base(G.srv);
    json_t *e1, *e2, *e3, *m1, *m2, *items, *view;
    int pages = 0;
    size_t i;

    (void)state;
    e1 = upload(B, "w1",
                HDR A_ROW ",a1,https://p/a1\n" A_ROW ",a2,https://p/a2\n" B_ROW ",,https://p/b\n");
    e2 = upload(B, "w2", HDR A_ROW ",a3,https://p/a3\n");
    m1 = merge(B);
    assert_int_equal(th_jint(m1, "events"), 2);
    e3 = upload(B, "w3", HDR A_ROW ",,https://p/x\n" A_ROW ",a4,https://p/a4\n");

    items = history_all(B, A_ORIGIN, "a", "main", 2, &pages);
    assert_int_equal(json_array_size(items), 5);
    assert_int_equal(pages, 3);
    want_row(items, 0, e3, 2, "pending", NULL, NULL);
    want_row(items, 1, e3, 1, "ignored", "failed_build", NULL);
    want_row(items, 2, e2, 1, "applied", NULL, m1);
    want_row(items, 3, e1, 2, "superseded", "later_row_won", m1);
    want_row(items, 4, e1, 1, "superseded", "later_row_won", m1);
    /* the row's own columns, as the event sent them */
    {
        json_t *it = json_array_get(items, 2);
        json_t *cols = json_object_get(it, "columns");

        assert_string_equal(th_jstr(it, "origin"), A_ORIGIN);
        assert_string_equal(th_jstr(it, "changeset"), "a3");
        assert_string_equal(th_jstr(it, "publishUri"), "https://p/a3");
        assert_string_equal(th_jstr(cols, "cloneUrl"), "https://clone/a");
        assert_string_equal(th_jstr(cols, "changeset"), "a3");
        assert_int_equal(json_object_size(cols), 6);
    }
    /* the view says the same, row for row */
    view = json_array();
    {
        PGresult *res = sql_ok("ingestd", "SELECT event_id, row_no, outcome, coalesce(rule, ''), "
                                          "coalesce(merge_id::text, '') FROM "
                                          "ingestd_v1.repo_history WHERE origin = '" A_ORIGIN
                                          "' AND path = 'a' AND branch = 'main' "
                                          "ORDER BY event_sequence DESC, row_no DESC");

        assert_int_equal(PQntuples(res), 5);
        for (i = 0; i < 5; i++) {
            json_t *it = json_array_get(items, i);
            json_t *mid = json_object_get(it, "merge_id");

            assert_string_equal(PQgetvalue(res, (int)i, 0), th_jstr(it, "event_id"));
            assert_int_equal(strtoll(PQgetvalue(res, (int)i, 1), NULL, 10), th_jint(it, "row"));
            assert_string_equal(PQgetvalue(res, (int)i, 2), th_jstr(it, "outcome"));
            assert_string_equal(PQgetvalue(res, (int)i, 3),
                                json_is_string(json_object_get(it, "rule")) ? th_jstr(it, "rule")
                                                                            : "");
            assert_string_equal(PQgetvalue(res, (int)i, 4),
                                json_is_string(mid) ? json_string_value(mid) : "");
        }
        PQclear(res);
    }
    json_decref(view);
    json_decref(items);

    /* the next merge takes the pending row; what the first merge did stays */
    m2 = merge(B);
    assert_int_equal(th_jint(m2, "generation"), th_jint(m1, "generation") + 1);
    items = history_all(B, A_ORIGIN, "a", "main", 100, &pages);
    assert_int_equal(pages, 1);
    assert_int_equal(json_array_size(items), 5);
    want_row(items, 0, e3, 2, "applied", NULL, m2);
    want_row(items, 1, e3, 1, "ignored", "failed_build", m2);
    want_row(items, 2, e2, 1, "applied", NULL, m1);
    want_row(items, 3, e1, 2, "superseded", "later_row_won", m1);
    json_decref(items);

    /* key B: one failed build, never in the effective file, still known */
    items = history_all(B, "https://h.example/b.git", "b", "main", 10, &pages);
    assert_int_equal(json_array_size(items), 1);
    want_row(items, 0, e1, 3, "ignored", "failed_build", m1);
    json_decref(items);
    /* the merge kept every row: a merge reads only the pending ones */
    assert_int_equal(sql_ll("ingestd", "SELECT count(*) FROM event_rows"), 6);
    json_decref(e1);
    json_decref(e2);
    json_decref(e3);
    json_decref(m1);
    json_decref(m2);
}

/* A key only PUT into the effective file has an empty history; a key nobody sent is 404. */
static void
test_known_and_unknown_keys(void **state)
{
    const char *B = th_ingestd_base(G.srv);
    const char *csv = HDR "https://h.example/put.git,put,main,u,c,https://p/put\n";
    struct th_resp r =
        th_request("PUT", B, "/api/v1/repos.csv", (const char *[]){"Content-Type: text/csv", NULL},
                   csv, strlen(csv));
    char *path;
    json_t *j;

    (void)state;
    assert_int_equal(r.status, 200);
    th_resp_release(&r);
    path = history_path("https://h.example/put.git", "put", "main", "");
    j = get_json(B, path, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    assert_true(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    r = th_request("HEAD", B, path, NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    th_resp_release(&r);
    free(path);
    /* same origin and path, another branch: a different key */
    path = history_path("https://h.example/put.git", "put", "dev", "");
    j = get_json(B, path, 404);
    assert_int_equal(th_jint(j, "status"), 404);
    json_decref(j);
    free(path);
    /* a row without a branch column has the empty branch: branch= names it */
    j = upload(B, "nb", "origin,path,changeset,publishUri\nhttps://h.example/nb.git,nb,c,u\n");
    json_decref(j);
    path = history_path("https://h.example/nb.git", "nb", "", "");
    j = get_json(B, path, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    assert_string_equal(th_jstr(json_array_get(json_object_get(j, "items"), 0), "outcome"),
                        "pending");
    json_decref(j);
    free(path);
}

static void
test_bad_input(void **state)
{
    const char *B = th_ingestd_base(G.srv);
    const char *bad[] = {
        "/api/v1/repos/history",
        "/api/v1/repos/history?origin=o&path=p",
        "/api/v1/repos/history?origin=o&branch=main",
        "/api/v1/repos/history?path=p&branch=main",
        "/api/v1/repos/history?origin=o&path=p&branch=main&limit=0",
        "/api/v1/repos/history?origin=o&path=p&branch=main&limit=1001",
        "/api/v1/repos/history?origin=o&path=p&branch=main&after=x",
        "/api/v1/repos/history?origin=o&path=p&branch=main&after=-1",
        "/api/v1/repos/history?origin=o&path=p&branch=main&after=5",
        "/api/v1/repos/history?origin=o&path=p&branch=main&sort=asc",
        "/api/v1/repos/history?origin=%FF&path=p&branch=main",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = get_json(B, bad[i], 400);

        assert_int_equal(th_jint(j, "status"), 400);
        json_decref(j);
    }
}

/* ---- events stored before the history kept merged rows ------------------ */

/* Apply every migration file numbered below 0013, as an older ingestd did. */
static void
old_schema(void)
{
    char *root = th_source_dir();
    char *dir = th_strf("%s/migrations", root);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    int i;

    assert_true(n > 0);
    PQclear(sql_ok("ingestd_old",
                   "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, "
                   "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"));
    for (i = 0; i < n; i++) {
        long v = strtol(names[i]->d_name, NULL, 10);

        if (v > 0 && v < 13 && strstr(names[i]->d_name, ".sql")) {
            char *file = th_strf("%s/%s", dir, names[i]->d_name);
            char *sql = th_read_file(file, NULL);
            char *rec =
                th_strf("INSERT INTO schema_migrations VALUES (%ld, '%s')", v, names[i]->d_name);

            PQclear(sql_ok("ingestd_old", sql));
            PQclear(sql_ok("ingestd_old", rec));
            free(rec);
            free(sql);
            free(file);
        }
        free(names[i]);
    }
    free(names);
    free(dir);
    free(root);
}

#define OLD_MERGED HDR A_ROW ",o1,https://p/o1\n" A_ROW ",o2,https://p/o2\n" A_ROW ",,https://p/f\n"
#define OLD_PENDING HDR A_ROW ",o3,https://p/o3\n"

/* One merged event without rows (its merge emptied them), one pending event with its row. */
static void
old_data(const char *digest)
{
    char *sql = th_strf(
        "INSERT INTO events (id, source, row_count, byte_count, sha256, columns, content) VALUES "
        "('00000000-0000-4000-8000-000000000001', 'old-1', 3, %zu, 'd1', "
        "'{origin,path,branch,cloneUrl,changeset,publishUri}', convert_to($c$%s$c$, 'UTF8'));"
        "INSERT INTO merges (id, status, event_count, row_count, added, updated, unchanged, "
        "skipped, generation, started_at, finished_at, duration_ms, seq_lo, seq_hi) VALUES "
        "('00000000-0000-4000-8000-00000000000a', 'succeeded', 1, 3, 1, 0, 0, 2, 1, now(), "
        "now(), 1, 0, 1);"
        "UPDATE effective_meta SET generation = 1;"
        "INSERT INTO effective_rows (pos, origin, path, branch, changeset, publish_uri, vals, "
        "event_id, key_digest) VALUES (1, '" A_ORIGIN "', 'a', 'main', 'o2', 'https://p/o2', "
        "'{"
        "\"" A_ORIGIN "\",a,main,https://clone/a,o2,https://p/o2}', "
        "'00000000-0000-4000-8000-000000000001', '\\x%s');"
        "INSERT INTO events (id, source, row_count, byte_count, sha256, columns, content) VALUES "
        "('00000000-0000-4000-8000-000000000002', 'old-2', 1, %zu, 'd2', "
        "'{origin,path,branch,cloneUrl,changeset,publishUri}', convert_to($c$%s$c$, 'UTF8'));"
        "INSERT INTO event_rows (event_seq, row_no, origin, path, branch, changeset, publish_uri, "
        "vals, key_digest) VALUES (2, 1, '" A_ORIGIN "', 'a', 'main', 'o3', 'https://p/o3', "
        "'{"
        "\"" A_ORIGIN "\",a,main,https://clone/a,o3,https://p/o3}', '\\x%s');",
        strlen(OLD_MERGED), OLD_MERGED, digest, strlen(OLD_PENDING), OLD_PENDING, digest);

    PQclear(sql_ok("ingestd_old", sql));
    free(sql);
}

static void
test_events_before_the_feature(void **state)
{
    char digest[65];
    char *url;
    struct th_ingestd *old;
    json_t *items, *m, *e1, *e2, *m0;
    int pages;

    (void)state;
    pgcopy_key_digest_hex(digest, A_ORIGIN, strlen(A_ORIGIN), "a", 1, "main", 4);
    old_schema();
    old_data(digest);
    assert_int_equal(sql_ll("ingestd_old", "SELECT count(*) FROM event_rows"), 1);
    /* the role exists already (created with the database ingestd): the migration still runs */
    assert_int_equal(sql_ll("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                        "'ingestd_reader'"),
                     1);
    url = th_strf("%s dbname=ingestd_old", th_pg_url(G.pg));
    old = th_ingestd_start(url, NULL);
    free(url);
    assert_true(log_has(old, "event rows restored for the repository history"));
    assert_int_equal(sql_ll("ingestd_old", "SELECT count(*) FROM event_rows"), 4);
    assert_int_equal(sql_ll("ingestd_old", "SELECT count(*) FROM event_rows_backfill"), 0);

    e1 = get_json(th_ingestd_base(old), "/api/v1/events/00000000-0000-4000-8000-000000000001", 200);
    e2 = get_json(th_ingestd_base(old), "/api/v1/events/00000000-0000-4000-8000-000000000002", 200);
    m0 = get_json(th_ingestd_base(old), "/api/v1/merges/00000000-0000-4000-8000-00000000000a", 200);
    items = history_all(th_ingestd_base(old), A_ORIGIN, "a", "main", 3, &pages);
    assert_int_equal(json_array_size(items), 4);
    want_row(items, 0, e2, 1, "pending", NULL, NULL);
    want_row(items, 1, e1, 3, "ignored", "failed_build", m0);
    want_row(items, 2, e1, 2, "applied", NULL, m0);
    want_row(items, 3, e1, 1, "superseded", "later_row_won", m0);
    assert_string_equal(th_jstr(json_object_get(json_array_get(items, 2), "columns"), "cloneUrl"),
                        "https://clone/a");
    json_decref(items);
    /* a merge after the upgrade reads the pending rows only */
    m = merge(th_ingestd_base(old));
    assert_int_equal(th_jint(m, "events"), 1);
    assert_int_equal(th_jint(m, "rows"), 1);
    assert_int_equal(th_jint(m, "updated"), 1);
    items = history_all(th_ingestd_base(old), A_ORIGIN, "a", "main", 10, &pages);
    want_row(items, 0, e2, 1, "applied", NULL, m);
    want_row(items, 2, e1, 2, "applied", NULL, m0);
    json_decref(items);
    json_decref(m);
    json_decref(m0);
    json_decref(e1);
    json_decref(e2);
    th_ingestd_free(old);
}

/* ---- ingestd_v1 --------------------------------------------------------- */

/* Every column of every relation of ingestd_v1: "relation.column type", in order. */
static const char *const pinned_columns[] = {
    "events.id uuid",
    "events.sequence bigint",
    "events.status text",
    "events.received_at timestamp with time zone",
    "events.source text",
    "events.rows integer",
    "events.bytes bigint",
    "events.sha256 text",
    "events.columns ARRAY",
    "events.merge_id uuid",
    "events.merged_at timestamp with time zone",
    "repo_history.event_id uuid",
    "repo_history.event_sequence bigint",
    "repo_history.row_no integer",
    "repo_history.source text",
    "repo_history.received_at timestamp with time zone",
    "repo_history.origin text",
    "repo_history.path text",
    "repo_history.branch text",
    "repo_history.changeset text",
    "repo_history.publish_uri text",
    "repo_history.columns jsonb",
    "repo_history.outcome text",
    "repo_history.rule text",
    "repo_history.merge_id uuid",
    "repo_history.generation bigint",
    "repo_history.merged_at timestamp with time zone",
    "repos.position bigint",
    "repos.origin text",
    "repos.path text",
    "repos.branch text",
    "repos.changeset text",
    "repos.publish_uri text",
    "repos.columns jsonb",
    "repos.event_id uuid",
    "repos.updated_at timestamp with time zone",
    "repos.generation bigint",
    "s3_object_journal.id uuid",
    "s3_object_journal.bucket text",
    "s3_object_journal.key text",
    "s3_object_journal.version_id text",
    "s3_object_journal.event_type text",
    "s3_object_journal.event_time timestamp with time zone",
    "s3_object_journal.size bigint",
    "s3_object_journal.etag text",
    "s3_object_journal.storage_class text",
    "s3_object_journal.last_modified timestamp with time zone",
    "s3_object_journal.sequencer text",
    "s3_object_journal.sequencer_raw text",
    "s3_object_journal.is_delete_marker boolean",
    "s3_object_journal.is_current boolean",
    "s3_object_journal.reason text",
    "s3_object_journal.number_duplicate_events integer",
    "s3_object_journal.ingested_at timestamp with time zone",
    "s3_object_journal.source text",
    "s3_objects_current.id uuid",
    "s3_objects_current.bucket text",
    "s3_objects_current.key text",
    "s3_objects_current.version_id text",
    "s3_objects_current.event_time timestamp with time zone",
    "s3_objects_current.size bigint",
    "s3_objects_current.etag text",
    "s3_objects_current.storage_class text",
    "s3_objects_current.last_modified timestamp with time zone",
    "s3_objects_current.sequencer text",
    "s3_objects_current.reason text",
    "s3_objects_current.ingested_at timestamp with time zone",
    "s3_objects_current.source text",
};

static void
test_views_pinned(void **state)
{
    size_t n = sizeof(pinned_columns) / sizeof(pinned_columns[0]);
    PGresult *res;
    size_t i;

    (void)state;
    res = sql_ok("ingestd", "SELECT table_name || '.' || column_name || ' ' || data_type "
                            "FROM information_schema.columns WHERE table_schema = 'ingestd_v1' "
                            "ORDER BY table_name, ordinal_position");
    for (i = 0; i < n || i < (size_t)PQntuples(res); i++) {
        const char *got = i < (size_t)PQntuples(res) ? PQgetvalue(res, (int)i, 0) : "(none)";
        const char *want = i < n ? pinned_columns[i] : "(none)";

        if (strcmp(got, want) != 0)
            fail_msg("ingestd_v1 column %zu is \"%s\", pinned \"%s\": readers depend on "
                     "these; change shape in a new schema (ingestd_v2)",
                     i, got, want);
    }
    PQclear(res);
    /* views only: nothing a reader could write to */
    assert_int_equal(sql_ll("ingestd", "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "
                                       "n.oid = c.relnamespace WHERE n.nspname = 'ingestd_v1' "
                                       "AND c.relkind <> 'v'"),
                     0);
    /* the views read something: the effective file and the S3 journal */
    assert_true(sql_ll("ingestd", "SELECT count(*) FROM ingestd_v1.repos") > 0);
    assert_true(sql_ll("ingestd", "SELECT count(*) FROM ingestd_v1.events") > 0);
}

static void
test_reader_role(void **state)
{
    const char *denied[] = {
        "SELECT 1 FROM public.events LIMIT 1",
        "SELECT 1 FROM public.event_rows LIMIT 1",
        "SELECT 1 FROM public.s3_objects LIMIT 1",
        "INSERT INTO ingestd_v1.s3_objects_current (id) VALUES (gen_random_uuid())",
        "CREATE VIEW ingestd_v1.mine AS SELECT 1",
    };
    const char *allowed[] = {
        "SELECT * FROM ingestd_v1.repos",
        "SELECT * FROM ingestd_v1.events",
        "SELECT * FROM ingestd_v1.repo_history",
        "SELECT * FROM ingestd_v1.s3_objects_current",
        "SELECT * FROM ingestd_v1.s3_object_journal",
    };
    size_t i;

    (void)state;
    assert_int_equal(sql_ll("ingestd", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                       "'ingestd_reader' AND NOT rolcanlogin AND NOT rolsuper"),
                     1);
    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        char *st = as_reader(allowed[i]);

        if (strcmp(st, "00000") != 0)
            fail_msg("as ingestd_reader: %s: SQLSTATE %s", allowed[i], st);
        free(st);
    }
    for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        char *st = as_reader(denied[i]);

        if (strcmp(st, "42501") != 0)
            fail_msg("as ingestd_reader: %s: SQLSTATE %s, want 42501", denied[i], st);
        free(st);
    }
    /* its privileges: SELECT on the five views, nothing else */
    assert_int_equal(sql_ll("ingestd", "SELECT count(*) FROM information_schema.table_privileges "
                                       "WHERE grantee = 'ingestd_reader'"),
                     5);
    assert_int_equal(sql_ll("ingestd", "SELECT count(*) FROM information_schema.table_privileges "
                                       "WHERE grantee = 'ingestd_reader' AND privilege_type = "
                                       "'SELECT' AND table_schema = 'ingestd_v1'"),
                     5);
}

/* README "Repository history and SQL views": psql as a login that is a member of the role. */
static void
test_psql_as_analyst(void **state)
{
    char *bindir =
        th_run("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1 | tr -d '\\n'", NULL);
    char *cmd;
    char *out;
    int status = -1;

    (void)state;
    PQclear(sql_ok("ingestd", "CREATE ROLE analyst LOGIN IN ROLE ingestd_reader"));
    cmd = th_strf("%s/psql '%s dbname=ingestd user=analyst' -XAt -F ' ' -c \""
                  "SELECT row_no, outcome, coalesce(rule, '-') FROM ingestd_v1.repo_history "
                  "WHERE origin = '" A_ORIGIN "' AND path = 'a' AND branch = 'main' "
                  "ORDER BY event_sequence DESC, row_no DESC LIMIT 20\" 2>&1",
                  bindir, th_pg_url(G.pg));
    out = th_run(cmd, &status);
    assert_int_equal(status, 0);
    assert_string_equal(out, "2 applied -\n1 ignored failed_build\n1 applied -\n"
                             "2 superseded later_row_won\n1 superseded later_row_won\n");
    free(out);
    free(cmd);
    /* the same login cannot read the tables behind the views */
    cmd = th_strf("%s/psql '%s dbname=ingestd user=analyst' -XAt -c "
                  "'SELECT count(*) FROM public.events' 2>&1",
                  bindir, th_pg_url(G.pg));
    out = th_run(cmd, &status);
    assert_int_not_equal(status, 0);
    assert_non_null(strstr(out, "permission denied"));
    free(out);
    free(cmd);
    free(bindir);
}

/* Migrated by a role that may not create roles: the schema is there, the role is not. */
static void
test_without_createrole(void **state)
{
    (void)state;
    assert_int_equal(G.app_roles, 0);
    assert_true(log_has(G.app, "role ingestd_reader absent"));
    assert_int_equal(sql_ll("ingestd_app", "SELECT count(*) FROM information_schema.views "
                                           "WHERE table_schema = 'ingestd_v1'"),
                     5);
    assert_int_equal(sql_ll("ingestd_app", "SELECT count(*) FROM schema_migrations "
                                           "WHERE version = 13"),
                     1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_createrole),
        cmocka_unit_test(test_outcomes_across_merges),
        cmocka_unit_test(test_known_and_unknown_keys),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_events_before_the_feature),
        cmocka_unit_test(test_views_pinned),
        cmocka_unit_test(test_reader_role),
        cmocka_unit_test(test_psql_as_analyst),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
