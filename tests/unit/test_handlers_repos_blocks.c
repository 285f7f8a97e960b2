/*
 * test_handlers_repos_blocks.c - GET /api/v1/repos.csv built in blocks
 *
 * After random merges (updates, new keys, failed builds, a new column) and
 * PUTs, the served file - built from the previous generation's blocks - is
 * byte for byte the full render (repos_store_render(), COPY), its gzip body
 * inflates to it, a cache built from nothing (another replica) and one that
 * copies every generation into fresh chunks serve the same plain and gzip
 * bytes, a merge's generation shares the blocks it did not change with the
 * one before, and ?generation=N gives back what was served.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "handler_support.h"
#include "handlers/handlers.h"
#include "handlers/repos_cache.h"
#include "storage/db.h"
#include "storage/repos_blocks.h"
#include "storage/repos_store.h"

#define NREPOS 700 /* a few blocks of REPOS_BLOCK_ROWS */
#define ROUNDS 10

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

static unsigned long long
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The path of repository i: some need quoting (comma, quote, LF). */
static void
repo_path(char *out, size_t len, unsigned long i)
{
    if (i % 37 == 0)
        snprintf(out, len, "\"org/r%lu, \"\"q\"\"\nx\"", i);
    else
        snprintf(out, len, "org%lu/r%lu", i / 50, i);
}

/* An effective file of repositories first .. first+n-1 (cloneUrl empty for some). */
static void
effective_file(struct buf *b, unsigned long first, unsigned long n)
{
    unsigned long i;
    char path[96];

    buf_append_str(b, "origin,path,branch,cloneUrl,changeset,publishUri\n");
    for (i = first; i < first + n; i++) {
        repo_path(path, sizeof(path), i);
        buf_printf(b, "github.com,%s,main,%s,c%llx,https://art/%lu.jar\n", path,
                   i % 3 ? "https://g/x" : "", rng() % 100000, i);
    }
}

/* One event of 1..30 rows over repositories 0 .. 2*NREPOS (half new), some failed builds. */
static void
upload_event(struct hs_app *a, int extra_column)
{
    struct buf b;
    struct hs_req r;
    struct response res;
    int n = (int)(rng() % 30) + 1;
    int k;
    char path[96];

    buf_init(&b, 0);
    buf_printf(&b, "origin,path,branch,changeset,publishUri%s\n", extra_column ? ",tool" : "");
    for (k = 0; k < n; k++) {
        unsigned long long x = rng();
        unsigned long id = (unsigned long)(x % (2 * NREPOS));

        repo_path(path, sizeof(path), id);
        buf_printf(&b, "github.com,%s,main,%s,https://art/e%llu.jar%s\n", path,
                   (x >> 32) % 10 < 2 ? "" : "cs", (x >> 20) % 1000,
                   extra_column ? ",\"mvn, 3\"" : "");
    }
    hs_req_init(&r, a, "POST", "/api/v1/events");
    hs_req_body(&r, b.data, b.len);
    hs_run(&r, handle_events_post, &res);
    hs_want_status(&res, 201);
    response_release(&res);
    hs_req_release(&r);
    buf_release(&b);
}

static void
run_ok(struct hs_app *a, const char *method, const char *path, handler_fn h, const char *body)
{
    struct hs_req r;
    struct response res;

    hs_req_init(&r, a, method, path);
    if (body) {
        hs_req_header(&r, "Content-Type", "text/csv");
        hs_req_body_str(&r, body);
    }
    hs_run(&r, h, &res);
    hs_want_status(&res, 200);
    response_release(&res);
    hs_req_release(&r);
}

/* GET repos.csv (gzip or not); the body in *out (malloc'd). */
static char *
get_body(struct hs_app *a, int gzip, const char *generation, size_t *len)
{
    struct hs_req r;
    struct response res;
    const char *data;
    char *copy;

    hs_req_init(&r, a, "GET", "/api/v1/repos.csv");
    if (gzip)
        hs_req_header(&r, "Accept-Encoding", "gzip");
    if (generation)
        hs_req_query(&r, "generation", generation);
    hs_run(&r, handle_repos_csv_get, &res);
    hs_want_status(&res, 200);
    data = hs_body(&res, len);
    copy = malloc(*len + 1);
    assert_non_null(copy);
    memcpy(copy, data, *len);
    response_release(&res);
    hs_req_release(&r);
    return copy;
}

static void
want_inflates_to(const char *gz, size_t gz_len, const char *want, size_t want_len)
{
    unsigned char *out = malloc(want_len + 1);
    z_stream zs;

    assert_non_null(out);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)gz;
    zs.avail_in = (uInt)gz_len;
    zs.next_out = out;
    zs.avail_out = (uInt)want_len + 1;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0);
    assert_int_equal(zs.total_out, want_len);
    assert_memory_equal(out, want, want_len);
    inflateEnd(&zs);
    free(out);
}

/* Slices joined, against want. */
static void
want_slices(const struct body_slice *s, size_t n, size_t len, const char *want, size_t want_len)
{
    struct buf b;
    size_t i;

    buf_init(&b, 0);
    for (i = 0; i < n; i++)
        buf_append(&b, s[i].base, s[i].len);
    assert_int_equal(len, want_len);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.data, want, want_len);
    buf_release(&b);
}

/*
 * The rendering in cache c, against the served bytes; its slices (the
 * pieces it shares with earlier generations, joined where they follow on).
 */
static void
want_cached(struct repos_cache *c, struct hs_app *a, const char *csv, size_t csv_len,
            const char *gz, size_t gz_len, int64_t gen, size_t *slices)
{
    const struct repos_rendered *r = NULL;
    char errbuf[256];

    assert_int_equal(repos_cache_acquire(c, a->db, &r, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(r->generation, gen);
    want_slices(r->csv, r->csv_slices, r->csv_len, csv, csv_len);
    want_slices(r->gz, r->gz_slices, r->gz_len, gz, gz_len);
    *slices = r->csv_slices;
    repos_cache_release((void *)(uintptr_t)r);
}

/*
 * A cache whose entries may hold 3 chunks: every generation built from the
 * one before goes past it and is copied into fresh chunks.
 */
static struct repos_cache *tight;

/*
 * The served bytes against the full render, the gzip body, a cache built
 * from nothing (another replica) and the tight cache; *slices: how many
 * slices the served plain body is made of.
 */
static void
check_generation_slices(struct hs_app *a, char **served, size_t *served_len, int64_t *gen,
                        size_t *slices)
{
    struct buf full;
    struct repos_cache *other = repos_cache_new();
    char *gz;
    size_t gz_len;
    size_t n;
    long long updated;
    char errbuf[256];

    *served = get_body(a, 0, NULL, served_len);
    gz = get_body(a, 1, NULL, &gz_len);
    buf_init(&full, 0);
    assert_int_equal(repos_store_render(a->db, &full, gen, &updated, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(full.len, *served_len);
    assert_memory_equal(full.data, *served, full.len);
    want_inflates_to(gz, gz_len, full.data, full.len);
    want_cached(a->app.repos_cache, a, *served, *served_len, gz, gz_len, *gen, slices);
    want_cached(other, a, *served, *served_len, gz, gz_len, *gen, &n);
    assert_int_equal(n, 1); /* rendered at once: one chunk */
    if (tight) {
        want_cached(tight, a, *served, *served_len, gz, gz_len, *gen, &n);
        assert_int_equal(n, 1);
    }
    repos_cache_free(other);
    buf_release(&full);
    free(gz);
}

static void
check_generation(struct hs_app *a, char **served, size_t *served_len, int64_t *gen)
{
    size_t slices;

    check_generation_slices(a, served, served_len, gen, &slices);
}

static void
test_incremental_equals_full(void **state)
{
    struct hs_app *a = *state;
    char *served[ROUNDS + 2];
    size_t served_len[ROUNDS + 2];
    int64_t gens[ROUNDS + 2];
    struct buf file;
    size_t slices;
    int round;
    int i;

    a->cfg.repos_history_s = 3600; /* keep every generation for ?generation=N */
    tight = repos_cache_new_capped(3);
    buf_init(&file, 0);
    effective_file(&file, 0, NREPOS);
    run_ok(a, "PUT", "/api/v1/repos.csv", handle_repos_csv_put, file.data);
    check_generation_slices(a, &served[0], &served_len[0], &gens[0], &slices);
    assert_int_equal(slices, 1);
    for (round = 1; round <= ROUNDS; round++) {
        if (round == 6) { /* a smaller file, other keys: every block differs */
            buf_reset(&file);
            effective_file(&file, 3 * NREPOS, NREPOS / 2);
            run_ok(a, "PUT", "/api/v1/repos.csv", handle_repos_csv_put, file.data);
        } else {
            int events = (int)(rng() % 3) + 1;

            for (i = 0; i < events; i++)
                upload_event(a, round == 4 && i == 0);
            run_ok(a, "POST", "/api/v1/merges", handle_merges_post, NULL);
        }
        check_generation_slices(a, &served[round], &served_len[round], &gens[round], &slices);
        /*
         * a merge shares the blocks it did not change with the generation
         * before (more than one slice); a PUT or a new column renders all
         */
        if (round == 4 || round == 6)
            assert_int_equal(slices, 1);
        else
            assert_true(slices > 1);
    }
    repos_cache_free(tight);
    tight = NULL;
    /* every generation still reads back as the bytes it served */
    for (round = 0; round <= ROUNDS; round++) {
        char g[32];
        size_t len;
        char *again;

        snprintf(g, sizeof(g), "%lld", (long long)gens[round]);
        again = get_body(a, 0, g, &len);
        assert_int_equal(len, served_len[round]);
        assert_memory_equal(again, served[round], len);
        free(again);
        free(served[round]);
    }
    assert_true(gens[ROUNDS] > gens[0]);
    buf_release(&file);
}

static long long
scalar(struct hs_app *a, const char *sql)
{
    char errbuf[256];
    long long v = -1;

    assert_int_equal(db_query_ll(a->db, sql, 0, NULL, "no row", &v, errbuf, sizeof(errbuf)), 0);
    return v;
}

/*
 * The cached generation's successors swept from repos_history (a window of
 * 0 s: the merge's own old versions go at once): the changed blocks can no
 * longer be told from the history, so the next GET renders every block, and
 * still serves the full render's bytes.
 */
static void
test_swept_history_renders_full(void **state)
{
    struct hs_app *a = *state;
    struct buf file;
    char *served;
    size_t len;
    int64_t gen;
    int64_t before;
    int i;

    a->cfg.repos_history_s = 3600;
    buf_init(&file, 0);
    effective_file(&file, 0, NREPOS);
    run_ok(a, "PUT", "/api/v1/repos.csv", handle_repos_csv_put, file.data);
    check_generation(a, &served, &len, &before); /* cached: the PUT's generation */
    free(served);
    a->cfg.repos_history_s = 0;
    for (i = 0; i < 8; i++)
        upload_event(a, 0);
    run_ok(a, "POST", "/api/v1/merges", handle_merges_post, NULL);
    assert_int_equal(scalar(a, "SELECT count(*) FROM repos_history"), 0);
    assert_int_equal(scalar(a, "SELECT count(*) FROM repos_history_merges"), 0);
    assert_true(scalar(a, "SELECT min(generation) FROM repos_generations") > before);
    check_generation(a, &served, &len, &gen);
    assert_true(gen > before);
    free(served);
    buf_release(&file);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_incremental_equals_full, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_swept_history_renders_full, hs_setup, hs_teardown),
    };

    return cmocka_run_group_tests(tests, hs_group_setup, hs_group_teardown);
}
