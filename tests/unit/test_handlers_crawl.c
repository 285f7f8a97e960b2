/*
 * test_handlers_crawl.c - crawls: the plan's rules, versions through the catalog, the handlers
 *
 * s3rver has no ListObjectVersions, so the versioned rules are held here:
 * crawl_plan_make() (jobs/crawl_plan.c, pure) on hand-built catalog states,
 * then AWS's documented ListObjectVersions answer (tests/fixtures/s3-list/,
 * read with codec/s3_list_xml.c) planned and written with
 * s3_store_ingest_crawl() into a real PostgreSQL, its current state read
 * back with crawl_state_load(), and a second crawl of the same listing
 * planned to nothing. The catalog reads of a crawl: gone records of a key
 * range under a prefix whose % and _ are literal, keys written since the
 * crawl began, verify's pages. The handlers are called without sockets
 * (handler_support.h): submission, 409, the list, count and get.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/s3_list_xml.h"
#include "handlers/handlers.h"
#include "jobs/crawl_plan.h"
#include "storage/crawl_store.h"
#include "storage/s3_store.h"
#include "handler_support.h"

/* ---- the plan (pure) ------------------------------------------------------------ */

static struct s3_list_entry
entry(const char *key, const char *version, int latest, int marker, const char *etag, uint64_t size,
      const char *lm)
{
    struct s3_list_entry e;

    memset(&e, 0, sizeof(e));
    e.key = (char *)(uintptr_t)key;
    e.version_id = (char *)(uintptr_t)version;
    e.is_latest = latest;
    e.is_delete_marker = marker;
    e.etag = (char *)(uintptr_t)etag;
    e.has_size = !marker;
    e.size = size;
    e.last_modified = (char *)(uintptr_t)lm;
    e.storage_class = marker ? NULL : (char *)(uintptr_t) "STANDARD";
    return e;
}

static struct crawl_version
known(const char *key, const char *version, int created, int marker, int current, const char *etag,
      int64_t size)
{
    struct crawl_version v;

    memset(&v, 0, sizeof(v));
    v.key = (char *)(uintptr_t)key;
    v.version_id = (char *)(uintptr_t)version;
    v.created = created;
    v.delete_marker = marker;
    v.current = current;
    v.etag = (char *)(uintptr_t)etag;
    v.has_size = created;
    v.size = size;
    return v;
}

static void
want_record(const struct crawl_plan *p, size_t i, const char *key, const char *version,
            enum s3_event_type type, int marker)
{
    const struct s3_record *r;

    assert_true(i < p->batch.nrecords);
    r = &p->batch.records[i];
    assert_string_equal(r->key, key);
    assert_string_equal(r->version_id, version);
    assert_int_equal(r->event_type, type);
    assert_int_equal(r->is_delete_marker, marker);
    assert_string_equal(r->reason, "Crawl");
    assert_null(r->sequencer);
    assert_null(r->event_time);
}

static void
test_plan_rules(void **state)
{
    struct s3_list_entry e[6];
    struct crawl_version v[4];
    char *touched[1] = {(char *)(uintptr_t) "t"};
    char *gk[2] = {(char *)(uintptr_t) "a", (char *)(uintptr_t) "c"};
    char *gv[2] = {(char *)(uintptr_t) "a0", (char *)(uintptr_t) "null"};
    struct crawl_pairs gone = {gk, gv, 2};
    struct crawl_state st;
    struct crawl_plan p;

    (void)state;
    /* key a: latest a2, an older a1, both new; a0 (current in the catalog) is gone */
    e[0] = entry("a", "a2", 1, 0, "\"e2\"", 2, "2026-01-02T00:00:00.000Z");
    e[1] = entry("a", "a1", 0, 0, "e1", 1, "2026-01-01T00:00:00.000Z");
    /* key b: unchanged and current: nothing */
    e[2] = entry("b", "null", 1, 0, "\"eb\"", 5, "2026-01-01T00:00:00.000Z");
    /* key d: a delete marker is latest; the catalog has its version current */
    e[3] = entry("d", "d2", 1, 1, NULL, 0, "2026-01-03T00:00:00.000Z");
    e[4] = entry("d", "d1", 0, 0, "\"ed\"", 4, "2026-01-01T00:00:00.000Z");
    /* key t: written since the crawl began: left alone */
    e[5] = entry("t", "null", 1, 0, "\"new\"", 9, "2026-01-01T00:00:00.000Z");
    v[0] = known("a", "a0", 1, 0, 1, "\"e0\"", 0);
    v[1] = known("b", "null", 1, 0, 1, "\"eb\"", 5);
    v[2] = known("d", "d1", 1, 0, 1, "\"ed\"", 4);
    v[3] = known("t", "null", 1, 0, 1, "\"old\"", 1);
    memset(&st, 0, sizeof(st));
    st.versions = v;
    st.nversions = 4;
    st.touched = touched;
    st.ntouched = 1;
    crawl_plan_make("bkt", e, 6, &st, &gone, &p);
    assert_int_equal(p.batch.nrecords, 5);
    want_record(&p, 0, "a", "a0", S3_DELETED, 0);           /* gone first */
    want_record(&p, 1, "a", "a1", S3_CREATED, 0);           /* then oldest first */
    want_record(&p, 2, "a", "a2", S3_CREATED, 0);           /* the latest last */
    assert_string_equal(p.batch.records[1].etag, "\"e1\""); /* quoted as the catalog stores */
    assert_string_equal(p.batch.records[2].last_modified, "2026-01-02T00:00:00.000Z");
    assert_int_equal(p.batch.records[2].size, 2);
    want_record(&p, 3, "c", "null", S3_DELETED, 0); /* a key S3 no longer lists at all */
    want_record(&p, 4, "d", "d2", S3_DELETED, 1);   /* the marker: d1 is known, unchanged */
    assert_null(p.batch.records[4].etag);
    assert_false(p.batch.records[4].has_size);
    assert_int_equal(p.nkeys, 5); /* a, b, c, d, t */
    assert_int_equal(p.key_ends[0], 3);
    assert_int_equal(p.key_ends[1], 3);
    assert_int_equal(p.key_ends[4], 5);
    assert_int_equal(p.counts.created, 3);
    assert_int_equal(p.counts.deleted, 2);
    assert_int_equal(p.counts.unchanged, 3); /* b, d1, and t left to its events */
    assert_int_equal(p.counts.objects, 6);
    crawl_plan_release(&p);
}

/* The same, with the latest version known but not current: it is written again. */
static void
test_plan_latest_not_current(void **state)
{
    struct s3_list_entry e[2];
    struct crawl_version v[2];
    struct crawl_pairs none = {NULL, NULL, 0};
    struct crawl_state st;
    struct crawl_plan p;

    (void)state;
    e[0] = entry("k", "v2", 1, 0, "\"e2\"", 2, "2026-01-02T00:00:00.000Z");
    e[1] = entry("k", "v1", 0, 0, "\"e1\"", 1, "2026-01-01T00:00:00.000Z");
    v[0] = known("k", "v1", 1, 0, 1, "\"e1\"", 1); /* the catalog thinks v1 is current */
    v[1] = known("k", "v2", 1, 0, 0, "\"e2\"", 2);
    memset(&st, 0, sizeof(st));
    st.versions = v;
    st.nversions = 2;
    crawl_plan_make("bkt", e, 2, &st, &none, &p);
    assert_int_equal(p.batch.nrecords, 1);
    want_record(&p, 0, "k", "v2", S3_CREATED, 0);
    assert_int_equal(p.counts.unchanged, 1);
    assert_int_equal(p.counts.created, 1);
    assert_int_equal(p.nkeys, 1);
    crawl_plan_release(&p);

    v[0].current = 0; /* now v2 is current: nothing to write */
    v[1].current = 1;
    crawl_plan_make("bkt", e, 2, &st, &none, &p);
    assert_int_equal(p.batch.nrecords, 0);
    assert_int_equal(p.counts.unchanged, 2);
    crawl_plan_release(&p);
}

/* ---- AWS's versions example through the catalog ------------------------------------ */

static void
read_versions(struct s3_list_page *page)
{
    char *path = th_strf("%s/s3-list/list-object-versions.xml", FIXTURES_DIR);
    size_t len = 0;
    char *doc = th_read_file(path, &len);
    struct s3_list_xml *x;
    char errbuf[ERRBUF_SIZE];

    s3_list_page_init(page);
    x = s3_list_xml_new(S3_LIST_VERSIONS, page);
    assert_int_equal(s3_list_xml_feed(x, doc, len, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(s3_list_xml_finish(x, errbuf, sizeof(errbuf)), ERR_OK);
    s3_list_xml_free(x);
    free(doc);
    free(path);
}

/* Plan page against the catalog now, write it; the plan's record count. */
static size_t
crawl_once(struct hs_app *a, const struct s3_list_page *page)
{
    const char *keys[] = {"my-image.jpg", "my-second-image.jpg", "my-third-image.jpg"};
    struct crawl_pairs none = {NULL, NULL, 0};
    struct crawl_state st;
    struct crawl_plan p;
    struct s3_ingest_result res;
    char errbuf[ERRBUF_SIZE];
    size_t n;

    assert_int_equal(crawl_state_load(a->db, "bucket", keys, 3, "2100-01-01T00:00:00Z", &st, errbuf,
                                      sizeof(errbuf)),
                     ERR_OK);
    crawl_plan_make("bucket", page->entries, page->count, &st, &none, &p);
    n = p.batch.nrecords;
    if (n)
        assert_int_equal(
            s3_store_ingest_crawl(a->db, p.batch.records, n, &res, errbuf, sizeof(errbuf)), ERR_OK);
    crawl_plan_release(&p);
    crawl_state_release(&st);
    return n;
}

static void
test_versions_through_catalog(void **state)
{
    struct hs_app *a = *state;
    const char *keys[] = {"my-image.jpg", "my-second-image.jpg", "my-third-image.jpg"};
    struct s3_list_page page;
    struct crawl_state st;
    char errbuf[ERRBUF_SIZE];
    size_t i, current = 0;

    read_versions(&page);
    assert_int_equal(crawl_once(a, &page), 4);
    assert_int_equal(crawl_state_load(a->db, "bucket", keys, 3, "2100-01-01T00:00:00Z", &st, errbuf,
                                      sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(st.nversions, 4);
    for (i = 0; i < st.nversions; i++) {
        const struct crawl_version *v = &st.versions[i];

        current += (size_t)v->current;
        if (strcmp(v->version_id, "3/L4kqtJl40Nr8X8gdRQBpUMLUo") == 0)
            assert_true(v->current); /* my-image.jpg: its one version */
        if (strcmp(v->key, "my-second-image.jpg") == 0)
            assert_false(v->current); /* a delete marker is its latest: nothing current */
        if (strcmp(v->version_id, "03jpff543dhffds434rfdsFDN943fdsFkdmqnh892") == 0)
            assert_true(v->delete_marker && !v->created);
    }
    assert_int_equal(current, 2); /* my-image.jpg and my-third-image.jpg */
    crawl_state_release(&st);
    /* the same listing again: nothing to write */
    assert_int_equal(crawl_once(a, &page), 0);

    /* the delete marker was removed in S3: the version under it is latest, and current */
    free(page.entries[1].key);
    free(page.entries[1].version_id);
    free(page.entries[1].last_modified);
    memmove(&page.entries[1], &page.entries[2], (page.count - 2) * sizeof(page.entries[0]));
    page.count--;
    page.entries[1].is_latest = 1;
    assert_int_equal(crawl_once(a, &page), 1);
    assert_int_equal(crawl_state_load(a->db, "bucket", keys + 1, 1, "2100-01-01T00:00:00Z", &st,
                                      errbuf, sizeof(errbuf)),
                     ERR_OK);
    for (i = 0; i < st.nversions; i++)
        if (strcmp(st.versions[i].version_id, "QUpfdndhfd8438MNFDN93jdnJFkdmqnh893") == 0)
            assert_true(st.versions[i].current);
    crawl_state_release(&st);
    s3_list_page_release(&page);
}

/* ---- the catalog reads of a crawl ---------------------------------------------------- */

/* Current records by key (size 1, version "null"), as events write them. */
static void
ingest_keys(struct hs_app *a, const char *const *keys, size_t n)
{
    struct s3_record r[8];
    struct s3_ingest_result res;
    char errbuf[ERRBUF_SIZE];
    size_t i;

    assert_true(n <= 8);
    memset(r, 0, sizeof(r));
    for (i = 0; i < n; i++) {
        r[i].event_type = S3_CREATED;
        r[i].bucket = (char *)(uintptr_t) "bkt";
        r[i].key = (char *)(uintptr_t)keys[i];
        r[i].version_id = (char *)(uintptr_t) "null";
        r[i].has_size = 1;
        r[i].size = 1;
        r[i].reason = "CreatedPut";
    }
    assert_int_equal(s3_store_ingest(a->db, r, n, &res, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(res.ingested, n);
}

/* Gone: the prefix is literal (its % and _ match themselves), the range is (lo, hi]. */
static void
test_gone_prefix_and_range(void **state)
{
    struct hs_app *a = *state;
    static const char *const keys[] = {"p%/a", "p%/b", "p%/c", "pX/a", "p_/a", "p%/d"};
    char *lk[1] = {(char *)(uintptr_t) "p%/b"};
    char *lv[1] = {(char *)(uintptr_t) "null"};
    struct crawl_pairs listed = {lk, lv, 1}, gone;
    char errbuf[ERRBUF_SIZE];

    ingest_keys(a, keys, 6);
    assert_int_equal(crawl_state_gone(a->db, "bkt", "p%/", NULL, "p%/c", &listed,
                                      "2100-01-01T00:00:00Z", &gone, errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(gone.n, 2); /* p%/a and p%/c: b is listed, d past hi, pX/ and p_/ other */
    assert_string_equal(gone.keys[0], "p%/a");
    assert_string_equal(gone.keys[1], "p%/c");
    assert_string_equal(gone.version_ids[0], "null");
    crawl_pairs_release(&gone);
    assert_int_equal(crawl_state_gone(a->db, "bkt", "p%/", "p%/c", NULL, &listed,
                                      "2100-01-01T00:00:00Z", &gone, errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(gone.n, 1);
    assert_string_equal(gone.keys[0], "p%/d");
    crawl_pairs_release(&gone);
    /* written since the crawl began: left to their events */
    assert_int_equal(crawl_state_gone(a->db, "bkt", "p%/", NULL, NULL, &listed,
                                      "2000-01-01T00:00:00Z", &gone, errbuf, sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(gone.n, 0);
    crawl_pairs_release(&gone);
    /* verify's page of current records, after a key */
    assert_int_equal(
        crawl_state_current(a->db, "bkt", "p%/", "p%/a", 2, &gone, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(gone.n, 2);
    assert_string_equal(gone.keys[0], "p%/b");
    assert_string_equal(gone.keys[1], "p%/c");
    crawl_pairs_release(&gone);
}

/* Touched: keys with a record ingested at or after `since`. */
static void
test_touched_since(void **state)
{
    struct hs_app *a = *state;
    static const char *const keys[] = {"t/a", "t/b"};
    struct crawl_state st;
    char errbuf[ERRBUF_SIZE];

    ingest_keys(a, keys, 1);
    assert_int_equal(crawl_state_load(a->db, "bkt", keys, 2, "2000-01-01T00:00:00Z", &st, errbuf,
                                      sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(st.ntouched, 1);
    assert_string_equal(st.touched[0], "t/a");
    assert_int_equal(st.nversions, 1);
    assert_true(st.versions[0].current && st.versions[0].created);
    crawl_state_release(&st);
    assert_int_equal(crawl_state_load(a->db, "bkt", keys, 2, "2100-01-01T00:00:00Z", &st, errbuf,
                                      sizeof(errbuf)),
                     ERR_OK);
    assert_int_equal(st.ntouched, 0);
    crawl_state_release(&st);
}

/* ---- the handlers ------------------------------------------------------------------- */

static void
test_handlers(void **state)
{
    struct hs_app *a = *state;
    struct hs_req r;
    struct response res;
    json_t *j;
    char *path;

    hs_req_init(&r, a, "POST", "/api/v1/s3/crawl");
    hs_req_body_str(&r, "{\"bucket\":\"b\",\"prefix\":\"p/\",\"mode\":\"verify\"}");
    hs_run(&r, handle_crawl_post, &res);
    j = hs_want_json(&res, 202);
    assert_string_equal(th_jstr(j, "status"), "InProgress");
    assert_string_equal(th_jstr(j, "mode"), "verify");
    assert_string_equal(th_jstr(j, "prefix"), "p/");
    assert_true(json_is_null(json_object_get(j, "finishedAt")));
    path = th_strf("/api/v1/s3/crawl/status/%s", th_jstr(j, "s3CrawlId"));
    json_decref(j);
    hs_want_header(&res, "Location", path);
    response_release(&res);
    hs_run(&r, handle_crawl_post, &res); /* the same bucket and prefix: still queued */
    hs_want_status(&res, 409);
    response_release(&res);
    hs_req_release(&r);

    hs_req_init(&r, a, "POST", "/api/v1/s3/crawl");
    hs_req_body_str(&r, "{\"bucket\":\"b\"}"); /* the whole bucket is another crawl */
    hs_run(&r, handle_crawl_post, &res);
    json_decref(hs_want_json(&res, 202));
    response_release(&res);
    hs_req_release(&r);

    hs_call(a, "GET", path, handle_crawl_get, &res);
    json_decref(hs_want_json(&res, 200));
    response_release(&res);
    hs_req_init(&r, a, "GET", "/api/v1/s3/crawl/status");
    hs_req_query(&r, "mode", "verify");
    hs_req_query(&r, "status", "InProgress");
    hs_run(&r, handle_crawl_list, &res);
    j = hs_want_json(&res, 200);
    assert_int_equal(th_jint(json_object_get(j, "pagination"), "count"), 1);
    json_decref(j);
    response_release(&res);
    hs_req_release(&r);
    hs_req_init(&r, a, "GET", "/api/v1/s3/crawl/status/count");
    hs_req_query(&r, "prefix", "");
    hs_run(&r, handle_crawl_count, &res);
    j = hs_want_json(&res, 200);
    assert_int_equal(th_jint(j, "nRecords"), 1); /* the whole-bucket one */
    json_decref(j);
    response_release(&res);
    hs_req_release(&r);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_rules),
        cmocka_unit_test(test_plan_latest_not_current),
        cmocka_unit_test_setup_teardown(test_versions_through_catalog, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_gone_prefix_and_range, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_touched_since, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_handlers, hs_setup, hs_teardown),
    };

    return cmocka_run_group_tests(tests, hs_group_setup, hs_group_teardown);
}
