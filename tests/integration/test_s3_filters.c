/*
 * test_s3_filters.c - every filter of the S3 object lists, annotations (PATCH), the record's
 * filemanager fields and the page links, over real HTTP and PostgreSQL
 *
 * The catalog (bucket flt), from POST /api/v1/s3/events, then columns no
 * event carries set in SQL (sha256, storage class, last-modified, archive
 * status):
 *   dir/a.txt    Created 01 size 10 eTag aa, 2026-01-02T03:04:05Z, sha256 c2hh
 *   dir/B.TXT    Created 02 size 20, 2026-02-02T00:00:00Z, last-modified 2026-03-04T05:06:07Z
 *   other/c.bin  Created 03 size 30, then Deleted 04 (nothing current)
 *   arch/d       Created 05 size 40, GLACIER
 *   arch/e       Created 06 size 50, INTELLIGENT_TIERING, archive status DeepArchiveAccess
 *   arch/f       restore completed 07 size 60, DEEP_ARCHIVE
 * and, for the count's cap (last test), bucket big: k00001 .. k10050 in SQL.
 * Two ingestd instances share the database: one plain, one with INGESTD_LINKS_URL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct {
    struct th_pg *pg;
    struct th_ingestd *srv;
    struct th_ingestd *linked;
} G;

static char *
event(const char *name, const char *key, const char *seq, int size, const char *etag,
      const char *time)
{
    return th_strf("{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":\"%s\","
                   "\"eventTime\":\"%s\",\"s3\":{\"bucket\":{\"name\":\"flt\"},\"object\":{"
                   "\"key\":\"%s\",\"sequencer\":\"%s\",\"size\":%d,\"eTag\":\"%s\"}}}",
                   name, time, key, seq, size, etag);
}

static int
group_setup(void **state)
{
    const char *const linked_env[] = {"INGESTD_LINKS_URL=https://api.example/files/", NULL};
    char *e[7];
    char *body;
    struct th_resp r;
    PGresult *res;
    int i;

    (void)state;
    G.pg = th_pg_start();
    G.srv = th_ingestd_start(th_pg_url(G.pg), NULL);
    G.linked = th_ingestd_start(th_pg_url(G.pg), linked_env);
    e[0] = event("ObjectCreated:Put", "dir/a.txt", "01", 10, "aa", "2026-01-02T03:04:05.000Z");
    e[1] = event("ObjectCreated:Put", "dir/B.TXT", "02", 20, "bb", "2026-02-02T00:00:00.000Z");
    e[2] = event("ObjectCreated:Put", "other/c.bin", "03", 30, "cc", "2025-12-31T23:59:59.000Z");
    e[3] = event("ObjectRemoved:Delete", "other/c.bin", "04", 0, "", "2026-01-01T00:00:00.000Z");
    e[4] = event("ObjectCreated:Put", "arch/d", "05", 40, "dd", "2024-06-01T00:00:00.000Z");
    e[5] = event("ObjectCreated:Put", "arch/e", "06", 50, "ee", "2024-06-01T00:00:00.000Z");
    e[6] = event("ObjectRestore:Completed", "arch/f", "07", 60, "ff", "2024-06-01T00:00:00.000Z");
    body =
        th_strf("{\"Records\":[%s,%s,%s,%s,%s,%s,%s]}", e[0], e[1], e[2], e[3], e[4], e[5], e[6]);
    r = th_post_json(th_ingestd_base(G.srv), "/api/v1/s3/events", body, NULL);
    if (r.status != 200)
        fail_msg("ingest: %ld %s", r.status, r.body);
    th_resp_release(&r);
    free(body);
    for (i = 0; i < 7; i++)
        free(e[i]);
    res = th_pg_exec(G.pg,
                     "UPDATE s3_objects SET sha256 = 'c2hh' WHERE key = 'dir/a.txt'; "
                     "UPDATE s3_objects SET last_modified = '2026-03-04T05:06:07Z' WHERE key = "
                     "'dir/B.TXT'; "
                     "UPDATE s3_objects SET storage_class = 'GLACIER' WHERE key = 'arch/d'; "
                     "UPDATE s3_objects SET storage_class = 'INTELLIGENT_TIERING', archive_status "
                     "= 'DeepArchiveAccess' WHERE key = 'arch/e'; "
                     "UPDATE s3_objects SET storage_class = 'DEEP_ARCHIVE' WHERE key = 'arch/f'");
    PQclear(res);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_ingestd_free(G.linked);
    th_ingestd_free(G.srv);
    th_pg_free(G.pg);
    return 0;
}

/* GET path (on srv), want status; the JSON body (NULL unless 200). */
static json_t *
get_json(struct th_ingestd *srv, const char *path, const char *const *headers, long want)
{
    struct th_resp r = th_get(th_ingestd_base(srv), path, headers);
    json_t *j = NULL;

    if (r.status != want)
        fail_msg("GET %s: %ld, want %ld: %s", path, r.status, want, r.body);
    if (want == 200)
        j = th_resp_json(&r);
    th_resp_release(&r);
    return j;
}

/* The keys a list answers, in order, joined by ','. */
static char *
keys_of(json_t *list)
{
    json_t *results = json_object_get(list, "results");
    char *out = th_strf("%s", "");
    size_t i;

    for (i = 0; i < json_array_size(results); i++) {
        char *n = th_strf("%s%s%s", out, i ? "," : "", th_jstr(json_array_get(results, i), "key"));

        free(out);
        out = n;
    }
    return out;
}

/* GET /api/v1/s3?bucket=flt&<query>: want the keys `want`; the count route agrees. */
static void
want_keys(const char *query, const char *want)
{
    char *path = th_strf("/api/v1/s3?bucket=flt&%s", query);
    char *cpath = th_strf("/api/v1/s3/count?bucket=flt&%s", query);
    json_t *l = get_json(G.srv, path, NULL, 200);
    json_t *c = get_json(G.srv, cpath, NULL, 200);
    char *got = keys_of(l);
    json_int_t n = json_integer_value(json_object_get(c, "nRecords"));
    json_int_t count =
        json_integer_value(json_object_get(json_object_get(l, "pagination"), "count"));
    size_t nwant = *want ? 1 : 0;
    const char *s;

    for (s = want; *s; s++)
        nwant += *s == ',';
    if (strcmp(got, want) != 0)
        fail_msg("%s: keys [%s], want [%s]", query, got, want);
    if (!json_is_true(json_object_get(json_object_get(l, "pagination"), "countIsExact")))
        fail_msg("%s: count not exact", query);
    if (n != (json_int_t)nwant || count != (json_int_t)nwant)
        fail_msg("%s: count %lld / nRecords %lld, want %zu", query, (long long)count, (long long)n,
                 nwant);
    free(got);
    json_decref(l);
    json_decref(c);
    free(path);
    free(cpath);
}

/* GET /api/v1/s3?<query>: want a 400 whose detail contains `detail`. */
static void
want_400(const char *query, const char *detail)
{
    char *path = th_strf("/api/v1/s3?%s", query);
    struct th_resp r = th_get(th_ingestd_base(G.srv), path, NULL);

    if (r.status != 400 || !r.body || !strstr(r.body, detail))
        fail_msg("%s: %ld %s, want 400 with \"%s\"", query, r.status, r.body, detail);
    th_resp_release(&r);
    free(path);
}

static void
test_text_filters(void **state)
{
    (void)state;
    want_keys("", "arch/d,arch/e,arch/f,dir/B.TXT,dir/a.txt");
    want_keys("key=dir/*", "dir/B.TXT,dir/a.txt");
    want_keys("key=DIR/*.txt", "");
    want_keys("key=DIR/*.txt&caseSensitive=false", "dir/B.TXT,dir/a.txt");
    want_keys("key=dir/a.txt&caseSensitive=true", "dir/a.txt");
    want_keys("key[]=dir/a.txt&key[]=arch/d", "arch/d,dir/a.txt");
    want_keys("key[or][]=dir/a.txt&key[or][]=arch/?", "arch/d,arch/e,arch/f,dir/a.txt");
    want_keys("key[and][]=*a*&key[and][]=*.txt", "dir/a.txt");
    /* brackets percent-encoded, as browsers and serde_qs clients send them */
    want_keys("key%5Band%5D%5B%5D=*a*&key%5Band%5D%5B%5D=*.txt", "dir/a.txt");
    want_keys("key[and][]=arch/*&key[]=*d&key[]=*e", "arch/d,arch/e");
    want_keys("versionId=nu*", "arch/d,arch/e,arch/f,dir/B.TXT,dir/a.txt");
    want_keys("bucket[]=nope&bucket[]=f?t&key=dir/*", "dir/B.TXT,dir/a.txt");
    want_keys("eTag=aa", "dir/a.txt");
    want_keys("eTag=%22aa%22", "dir/a.txt");
    want_keys("sha256=c2hh", "dir/a.txt");
    want_keys("sha256[]=x&sha256[]=c2hh", "dir/a.txt");
    want_400("key[x]=a", "unknown query parameter \\\"key[x]\\\" (use key, key[]");
    want_400("key=a%5Cs", "key: invalid escape");
}

static void
test_typed_filters(void **state)
{
    (void)state;
    want_keys("size=20", "dir/B.TXT");
    want_keys("size[]=10&size[]=40", "arch/d,dir/a.txt");
    want_keys("size[and][]=10&size[and][]=40", "");
    want_keys("eventType=Deleted&currentState=false", "other/c.bin");
    want_keys("eventType=Created&currentState=false&key=other/*", "other/c.bin");
    want_keys("isDeleteMarker=false&key=dir/*", "dir/B.TXT,dir/a.txt");
    want_keys("reason=Restored", "arch/f");
    want_keys("reason[]=Restored&reason[]=CreatedPut&key=arch/*", "arch/d,arch/e,arch/f");
    want_keys("storageClass=Glacier", "arch/d");
    want_keys("storageClass=GLACIER", "arch/d");
    want_keys("storageClass[]=DeepArchive&storageClass[]=IntelligentTiering", "arch/e,arch/f");
    want_keys("archiveStatus=DeepArchiveAccess", "arch/e");
    /* not accessible: GLACIER, and an archive access tier; a restored DEEP_ARCHIVE is */
    want_keys("isAccessible=false", "arch/d,arch/e");
    want_keys("isAccessible=true", "arch/f,dir/B.TXT,dir/a.txt");
    want_400("size=1.5", "size: must be an integer");
    want_400("storageClass=Cold", "storageClass: unknown storage class");
    want_400("reason=Made", "reason: unknown reason");
    want_400("archiveStatus=x", "archiveStatus: must be ArchiveAccess or DeepArchiveAccess");
    want_400("isAccessible=1", "isAccessible: must be true or false");
    want_400("ingestId=12", "ingestId: must be a UUID");
    want_400("caseSensitive=no", "caseSensitive: must be true or false");
}

static void
test_date_filters(void **state)
{
    (void)state;
    want_keys("eventTime=2026-01-02T03:04:05Z", "dir/a.txt");
    want_keys("eventTime=2026-01-02T05:04:05.000%2B02:00", "dir/a.txt"); /* +02:00 */
    want_keys("eventTime=2026-0*", "dir/B.TXT,dir/a.txt");
    want_keys("eventTime=2026-01-02T03:*", "dir/a.txt"); /* the API's text form */
    want_keys("eventTime=2026-01-02%2003:04:05%2B00",
              "dir/a.txt"); /* PostgreSQL's, as the filemanager */
    want_keys("eventTime[]=2024-06-01T00:00:00Z&eventTime[]=2026-02-0*",
              "arch/d,arch/e,arch/f,dir/B.TXT");
    want_keys("lastModifiedDate=2026-03-04T05:06:07Z", "dir/B.TXT");
    want_keys("lastModifiedDate=2026-03*", "dir/B.TXT");
    want_keys("lastModifiedDate=2026-03-04", ""); /* no wildcard, no date-time: exact text */
    want_400("eventTime=2026\\", "eventTime: invalid escape");
}

/* PATCH base+path with body; want status; the JSON body when 200. */
static json_t *
patch(const char *path, const char *body, long want, const char *detail)
{
    const char *const h[] = {"Content-Type: application/json", NULL};
    struct th_resp r = th_request("PATCH", th_ingestd_base(G.srv), path, h, body, strlen(body));
    json_t *j = NULL;

    if (r.status != want || (detail && (!r.body || !strstr(r.body, detail))))
        fail_msg("PATCH %s %s: %ld %s, want %ld %s", path, body, r.status, r.body, want,
                 detail ? detail : "");
    if (want == 200)
        j = th_resp_json(&r);
    th_resp_release(&r);
    return j;
}

/* The current record of key. */
static json_t *
record_of(const char *key)
{
    char *path = th_strf("/api/v1/s3?bucket=flt&key=%s", key);
    json_t *l = get_json(G.srv, path, NULL, 200);
    json_t *r = json_incref(json_array_get(json_object_get(l, "results"), 0));

    if (!r)
        fail_msg("no current record for %s", key);
    json_decref(l);
    free(path);
    return r;
}

static void
want_attributes(const char *key, const char *want)
{
    json_t *r = record_of(key);
    char *got = json_dumps(json_object_get(r, "attributes"),
                           JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

    if (strcmp(got, want) != 0)
        fail_msg("%s: attributes %s, want %s", key, got, want);
    free(got);
    json_decref(r);
}

static void
test_record_fields(void **state)
{
    json_t *r = record_of("arch/e");
    json_t *d = record_of("dir/a.txt");

    (void)state;
    assert_string_equal(th_jstr(r, "archiveStatus"), "DeepArchiveAccess");
    assert_true(json_is_false(json_object_get(r, "isAccessible")));
    assert_true(json_is_true(json_object_get(d, "isAccessible")));
    assert_string_equal(th_jstr(d, "sha256"), "c2hh");
    assert_true(json_is_null(json_object_get(d, "archiveStatus")));
    assert_true(json_is_null(json_object_get(d, "ingestId")));
    assert_true(json_is_null(json_object_get(d, "deletedDate")));
    assert_true(json_is_null(json_object_get(d, "deletedSequencer")));
    assert_int_equal(json_integer_value(json_object_get(d, "numberReordered")), 0);
    json_decref(r);
    json_decref(d);
}

static void
test_patch_attributes(void **state)
{
    json_t *a = record_of("dir/a.txt");
    char *one = th_strf("/api/v1/s3/%s", th_jstr(a, "s3ObjectId"));
    json_t *j;

    (void)state;
    want_attributes("dir/a.txt", "null");
    j = patch(one, "[{\"op\":\"add\",\"path\":\"/run\",\"value\":{\"id\":\"r-1\",\"n\":1}}]", 200,
              NULL);
    assert_string_equal(th_jstr(json_object_get(json_object_get(j, "attributes"), "run"), "id"),
                        "r-1");
    json_decref(j);
    /* append-only: an existing path, replace and remove are 400 and change nothing */
    json_decref(patch(one, "[{\"op\":\"add\",\"path\":\"/run\",\"value\":1}]", 400,
                      "path /run already exists"));
    json_decref(patch(one, "{\"attributes\":[{\"op\":\"replace\",\"path\":\"/run\",\"value\":1}]}",
                      400, "\\\"replace\\\" is not supported"));
    json_decref(patch(one,
                      "[{\"op\":\"test\",\"path\":\"/run/n\",\"value\":2},{\"op\":\"add\","
                      "\"path\":\"/x\",\"value\":1}]",
                      400, "test failed at /run/n"));
    want_attributes("dir/a.txt", "{\"run\":{\"id\":\"r-1\",\"n\":1}}");
    /* test + copy in one patch */
    json_decref(patch(one,
                      "{\"attributes\":[{\"op\":\"test\",\"path\":\"/run/n\",\"value\":1.0},"
                      "{\"op\":\"copy\",\"from\":\"/run/id\",\"path\":\"/runId\"}]}",
                      200, NULL));
    want_attributes("dir/a.txt", "{\"run\":{\"id\":\"r-1\",\"n\":1},\"runId\":\"r-1\"}");
    /* the collection: every record the filters match, or none when one fails */
    json_decref(patch("/api/v1/s3?bucket=flt&key=dir/*",
                      "[{\"op\":\"test\",\"path\":\"/runId\",\"value\":\"r-1\"},{\"op\":\"add\","
                      "\"path\":\"/tag\",\"value\":\"t\"}]",
                      400, "test failed at /runId"));
    want_attributes("dir/a.txt", "{\"run\":{\"id\":\"r-1\",\"n\":1},\"runId\":\"r-1\"}");
    j = patch("/api/v1/s3?bucket=flt&key=dir/*",
              "[{\"op\":\"add\",\"path\":\"/tag\",\"value\":"
              "\"t\"}]",
              200, NULL);
    assert_int_equal(json_array_size(j), 2);
    assert_string_equal(th_jstr(json_array_get(j, 0), "key"), "dir/B.TXT");
    json_decref(j);
    want_attributes("dir/B.TXT", "{\"tag\":\"t\"}");
    j = patch("/api/v1/s3?bucket=nothing", "[{\"op\":\"add\",\"path\":\"/tag\",\"value\":1}]", 200,
              NULL);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    json_decref(patch("/api/v1/s3/00000000-0000-4000-8000-000000000000",
                      "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]", 404, "no such object"));
    json_decref(patch("/api/v1/s3/not-a-uuid", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]",
                      404, NULL));
    json_decref(patch(one, "{\"other\":[]}", 400, "the body must be"));
    json_decref(patch(one, "[]", 400, "non-empty array"));
    json_decref(patch("/api/v1/s3?size=x", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]", 400,
                      "size: must be an integer"));
    json_decref(a);
    free(one);
}

static void
test_attribute_filters(void **state)
{
    json_t *j;
    char *plan;

    (void)state;
    /* needs test_patch_attributes' annotations: run.id r-1 and runId on dir/a.txt, tag t on dir/ */
    want_keys("attributes[run][id]=r-1", "dir/a.txt");
    want_keys("attributes[run][id]=r-*", "dir/a.txt");
    want_keys("attributes[run][id]=R-*", "");
    want_keys("attributes[run][id]=R-1&caseSensitive=false", "dir/a.txt");
    want_keys("attributes[tag]=t", "dir/B.TXT,dir/a.txt");
    want_keys("attributes[tag]=t&attributes[runId]=r-1", "dir/a.txt");
    want_keys("attributes[runId][]=x&attributes[runId][]=r-1", "dir/a.txt");
    want_keys("attributes[run][n]=1",
              ""); /* string comparison, as the filemanager: 1 is a number */
    want_keys("attributes%5Btag%5D=%3F", "dir/B.TXT,dir/a.txt");
    want_keys("attributes[tag]=t&key=*B*", "dir/B.TXT");
    /* a key with quotes and backslashes is quoted in the jsonpath, never SQL */
    want_keys("attributes[a%22b%5C]=x", "");
    want_400("attributes=x", "an attribute path has 1 to 10 keys");
    want_400("attributes[tag]=a%5Cb", "invalid escape");
    /* /api/v1/s3/attributes: every other parameter is an attribute */
    j = get_json(G.srv, "/api/v1/s3/attributes?run[id]=r-1", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "results")), 1);
    json_decref(j);
    j = get_json(G.srv, "/api/v1/s3/attributes?tag=T&caseSensitive=false&rowsPerPage=1", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "results")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "pagination"), "count")),
                     2);
    json_decref(j);
    j = get_json(G.srv, "/api/v1/s3/attributes?key=dir/a.txt", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "results")), 0); /* `key` is an attribute */
    json_decref(j);
    /* the GIN index serves attribute equality among many annotated records (20,000 more,
     * analyzed, in a transaction that the closing connection rolls back) */
    plan = th_pg_scalar(
        G.pg, "BEGIN; CREATE TEMP TABLE t AS SELECT s.* FROM s3_objects s, generate_series(1, "
              "20000) WHERE s.key = 'dir/a.txt' AND s.is_current; UPDATE t SET id = "
              "gen_random_uuid(), key = 'gen/' || gen_random_uuid(), attributes = "
              "jsonb_build_object('n', random()); INSERT INTO s3_objects SELECT * FROM t; ANALYZE "
              "s3_objects_events; SET enable_seqscan = off; EXPLAIN (FORMAT JSON) SELECT id FROM "
              "s3_objects WHERE attributes @? '$.\"tag\" ? (@ == \"t\")'");
    if (!plan || !strstr(plan, "s3_objects_events_attributes"))
        fail_msg("plan does not use the GIN index: %s", plan ? plan : "(none)");
    free(plan);
}

/* Attribute wildcards over values with characters JSON escapes, `%`, `_`, arrays, UTF-8. */
static void
test_attribute_wildcard_text(void **state)
{
    PGresult *res;

    (void)state;
    res = th_pg_exec(G.pg, "UPDATE s3_objects SET attributes = jsonb_build_object('odd', "
                           "E'50% a_b \"q\" back\\\\slash\ttab \u00e9 end', 'list', "
                           "jsonb_build_array('P42', 'x')) WHERE key = 'arch/d'");
    PQclear(res);
    want_keys("attributes[odd]=50%25%20a_b*", "arch/d");
    want_keys("attributes[odd]=*%22q%22*", "arch/d");
    want_keys("attributes[odd]=*back%5C%5Cslash*", "arch/d");
    want_keys("attributes[odd]=*%09tab%20%C3%A9%20end", "arch/d");
    want_keys("attributes[odd]=50?%20a?b*", "arch/d");
    want_keys("attributes[odd]=50_*", "");
    want_keys("attributes[odd]=*slash", "");
    want_keys("attributes[list]=P4*", "arch/d");
    want_keys("attributes[list]=p4*&caseSensitive=false", "arch/d");
    /* the trigram prefilter (0019) keeps them: case-insensitive letters, escaped characters,
     * literal `?` */
    want_keys("attributes[odd]=50%25%20A_B*&caseSensitive=false", "arch/d");
    want_keys("attributes[odd]=*%22Q%22*&caseSensitive=false", "arch/d");
    want_keys("attributes[odd]=*BACK%5C%5CSLASH*&caseSensitive=false", "arch/d");
    want_keys("attributes[odd]=50%25%20A_B%20%22Q%22%20BACK%5C%5CSLASH%09TAB%20%C3%A9%20END&"
              "caseSensitive=false",
              "arch/d");
    want_keys("attributes[odd]=50%25%20a%5C?b*", "");
    want_keys("attributes[odd]=50%25%20a_b%20%22q%22*&attributes[list]=x", "arch/d");
}

/* Attribute wildcards are served by the trigram index on attributes::text (0019). */
static void
test_attribute_trigram_index(void **state)
{
    char *plan;

    (void)state;
    /* on this small catalog the annotated-records index is as cheap: leave it out (the
     * transaction is rolled back when the connection closes) */
    plan = th_pg_scalar(G.pg, "BEGIN; DROP INDEX s3_objects_annotated; SET LOCAL enable_seqscan = "
                              "off; EXPLAIN (FORMAT JSON) SELECT id FROM s3_objects WHERE "
                              "attributes::text LIKE '%\"odd\": %\"50%'");
    if (!plan || !strstr(plan, "\"Index Cond\": \"((attributes)::text ~~"))
        fail_msg("plan does not use the trigram index: %s", plan ? plan : "(none)");
    free(plan);
}

static void
test_patch_ingest_id(void **state)
{
    const char *add = "{\"ingestId\":[{\"op\":\"add\",\"path\":\"/\",\"value\":"
                      "\"00000000-0000-4000-8000-0000000000AA\"}]}";
    json_t *j;
    char *one;

    (void)state;
    j = patch("/api/v1/s3?bucket=flt&key=arch/*", add, 200, NULL);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(th_jstr(json_array_get(j, 0), "ingestId"),
                        "00000000-0000-4000-8000-0000000000aa");
    one = th_strf("/api/v1/s3/%s", th_jstr(json_array_get(j, 0), "s3ObjectId"));
    json_decref(j);
    want_keys("ingestId=00000000-0000-4000-8000-0000000000AA", "arch/d,arch/e,arch/f");
    want_keys("ingestId[]=00000000-0000-4000-8000-0000000000aa&key=*e", "arch/e");
    j = patch(one, "{\"ingestId\":[{\"op\":\"remove\",\"path\":\"/\"}]}", 200, NULL);
    assert_true(json_is_null(json_object_get(j, "ingestId")));
    json_decref(j);
    want_keys("ingestId=00000000-0000-4000-8000-0000000000aa", "arch/e,arch/f");
    json_decref(patch(one, "{\"ingestId\":[{\"op\":\"add\",\"path\":\"/\",\"value\":\"x\"}]}", 400,
                      "ingestId: the value must be a UUID"));
    json_decref(patch(one,
                      "{\"ingestId\":[{\"op\":\"add\",\"path\":\"/ingestId\",\"value\":"
                      "\"00000000-0000-4000-8000-0000000000aa\"}]}",
                      400, "expected the path"));
    json_decref(patch(one, "{\"ingestId\":[{\"op\":\"test\",\"path\":\"/\",\"value\":\"x\"}]}", 400,
                      "ingestId"));
    free(one);
}

static void
test_links(void **state)
{
    const char *const fwd[] = {"X-Forwarded-Host: files.example, proxy.internal",
                               "X-Forwarded-Proto: https", NULL};
    json_t *j;
    const char *next;

    (void)state;
    j = get_json(G.srv, "/api/v1/s3?bucket=flt&key%5B%5D=dir/*&rowsPerPage=1", fwd, 200);
    next = json_string_value(json_object_get(json_object_get(j, "links"), "next"));
    if (!next || strcmp(next, "https://files.example/api/v1/"
                              "s3?bucket=flt&key%5B%5D=dir%2F%2A&rowsPerPage=1&page=2") != 0)
        fail_msg("next %s", next ? next : "null");
    json_decref(j);
    /* INGESTD_LINKS_URL wins over every header, and its path prefix is kept */
    j = get_json(G.linked, "/api/v1/s3?bucket=flt&rowsPerPage=2&page=2", fwd, 200);
    next = json_string_value(json_object_get(json_object_get(j, "links"), "previous"));
    if (!next ||
        strcmp(next, "https://api.example/files/api/v1/s3?bucket=flt&rowsPerPage=2&page=1") != 0)
        fail_msg("previous %s", next ? next : "null");
    json_decref(j);
}

/* GET path: want `results` results, count `count` (exact or not), a next link or not. */
static void
want_page(const char *path, size_t results, json_int_t count, int exact, int next)
{
    json_t *j = get_json(G.srv, path, NULL, 200);
    json_t *p = json_object_get(j, "pagination");
    json_t *n = json_object_get(json_object_get(j, "links"), "next");

    if (json_array_size(json_object_get(j, "results")) != results ||
        json_integer_value(json_object_get(p, "count")) != count ||
        json_is_true(json_object_get(p, "countIsExact")) != exact || json_is_string(n) != next)
        fail_msg("%s: %zu results, count %lld (exact %d), next %d; want %zu, %lld (%d), %d", path,
                 json_array_size(json_object_get(j, "results")),
                 (long long)json_integer_value(json_object_get(p, "count")),
                 json_is_true(json_object_get(p, "countIsExact")), json_is_string(n), results,
                 (long long)count, exact, next);
    json_decref(j);
}

/* A list counts up to max(10000, one past its page); /count counts exactly. */
static void
test_count_cap(void **state)
{
    PGresult *res;
    json_t *c;

    (void)state;
    res = th_pg_exec(G.pg, "INSERT INTO s3_objects (id, bucket, key, version_id, event_type, "
                           "event_time, size, etag, storage_class, sequencer, is_delete_marker, "
                           "is_current, reason, source, part) "
                           "SELECT gen_random_uuid(), 'big', 'k' || lpad(i::text, 5, '0'), "
                           "version_id, event_type, event_time, size, etag, storage_class, "
                           "sequencer, is_delete_marker, is_current, reason, source, part "
                           "FROM s3_objects, generate_series(1, 10050) AS i "
                           "WHERE bucket = 'flt' AND key = 'dir/a.txt'");
    PQclear(res);
    want_page("/api/v1/s3?bucket=big&rowsPerPage=1000", 1000, 10000, 0, 1);
    want_page("/api/v1/s3?bucket=big&rowsPerPage=1000&page=10", 1000, 10001, 0, 1);
    want_page("/api/v1/s3?bucket=big&rowsPerPage=1000&page=11", 50, 10050, 1, 0);
    want_page("/api/v1/s3?bucket=big&rowsPerPage=1000&page=20", 0, 10050, 1, 0);
    want_page("/api/v1/s3?bucket=big&rowsPerPage=10000", 10000, 10001, 0, 1);
    want_page("/api/v1/s3?bucket=big&key=k0*&rowsPerPage=10", 10, 9999, 1, 1);
    want_page("/api/v1/s3?bucket=big&key=k0001*&rowsPerPage=10", 10, 10, 1, 0);
    want_page("/api/v1/s3?bucket=big&key=k0001*&rowsPerPage=3&page=4", 1, 10, 1, 0);
    c = get_json(G.srv, "/api/v1/s3/count?bucket=big", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(c, "nRecords")), 10050);
    json_decref(c);
}

/* "bucket/key" of every result of GET path, comma-separated (caller frees). */
static char *
result_keys(const char *path)
{
    json_t *j = get_json(G.srv, path, NULL, 200);
    json_t *r;
    size_t i;
    char *out = th_strf("%s", "");

    json_array_foreach(json_object_get(j, "results"), i, r)
    {
        char *next =
            th_strf("%s%s%s/%s", out, i ? "," : "", json_string_value(json_object_get(r, "bucket")),
                    json_string_value(json_object_get(r, "key")));

        free(out);
        out = next;
    }
    json_decref(j);
    return out;
}

/*
 * A key or key prefix without an exact bucket is read bucket by bucket from
 * the (bucket, key) index (s3_query.c): every bucket is found, the order is
 * the list's, and the answer is the one the full scan (caseSensitive=false,
 * which cannot use that index) gives. Runs after test_count_cap (bucket big).
 */
static void
test_key_without_bucket(void **state)
{
    static const char *const want = "big/k00001,big/k00002,big/k00003,big/k00004,big/k00005,"
                                    "big/k00006,big/k00007,big/k00008,big/k00009,"
                                    "big2/k00001,big2/k00003,big2/k00005,zz/k00001";
    PGresult *res;
    char *got;
    char *scan;

    (void)state;
    res = th_pg_exec(G.pg, "INSERT INTO s3_objects (id, bucket, key, version_id, event_type, "
                           "event_time, size, etag, storage_class, sequencer, is_delete_marker, "
                           "is_current, reason, source, part) "
                           "SELECT gen_random_uuid(), b, key, version_id, event_type, event_time, "
                           "size, etag, storage_class, sequencer, is_delete_marker, is_current, "
                           "reason, source, part FROM s3_objects, unnest('{big2,zz}'::text[]) b "
                           "WHERE bucket = 'big' AND key IN ('k00001', 'k00003', 'k00005') "
                           "AND (b = 'big2' OR key = 'k00001')");
    PQclear(res);
    got = result_keys("/api/v1/s3?key=k0000*&rowsPerPage=100");
    if (strcmp(got, want) != 0)
        fail_msg("key=k0000*: %s\nwant %s", got, want);
    scan = result_keys("/api/v1/s3?key=k0000*&rowsPerPage=100&caseSensitive=false");
    assert_string_equal(scan, got);
    free(got);
    free(scan);
    got = result_keys("/api/v1/s3?key=k00001");
    assert_string_equal(got, "big/k00001,big2/k00001,zz/k00001");
    free(got);
    got = result_keys("/api/v1/s3?bucket=b*&key=k0000?&rowsPerPage=2&page=6");
    assert_string_equal(got, "big2/k00003,big2/k00005");
    free(got);
    want_page("/api/v1/s3?key=k0000*&rowsPerPage=5", 5, 13, 1, 1);
    want_page("/api/v1/s3?key=k*&rowsPerPage=5", 5, 10000, 0, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_filters),
        cmocka_unit_test(test_typed_filters),
        cmocka_unit_test(test_date_filters),
        cmocka_unit_test(test_record_fields),
        cmocka_unit_test(test_patch_attributes),
        cmocka_unit_test(test_attribute_filters),
        cmocka_unit_test(test_patch_ingest_id),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_attribute_wildcard_text),
        cmocka_unit_test(test_attribute_trigram_index),
        cmocka_unit_test(test_count_cap),
        cmocka_unit_test(test_key_without_bucket),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
