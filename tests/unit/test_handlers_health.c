/*
 * test_handlers_health.c - /healthz, /readyz and /openapi.yaml without sockets
 *
 * /healthz and /openapi.yaml are inline (no database); /readyz asks a real
 * PostgreSQL whether every migration is applied: 200 on the migrated
 * database, 503 with Retry-After on one that was never migrated or lacks
 * any migration, the newest or an older one. Migrations missing below a
 * later applied one are applied, not skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "handler_support.h"
#include "handlers/handlers.h"
#include "storage/embedded.h"
#include "storage/migrate.h"

static void
test_healthz_ok(void **state)
{
    struct response res;
    json_t *body;

    (void)state;
    /* liveness needs neither an app nor a database */
    hs_call(NULL, "GET", "/healthz", handle_healthz_get, &res);
    body = hs_want_json(&res, 200);
    hs_want_members(body, "{\"status\":\"ok\"}");
    assert_int_equal(json_object_size(body), 1);
    json_decref(body);
    response_release(&res);
}

static void
test_openapi_document(void **state)
{
    struct response res;
    const char *data;
    size_t len;

    (void)state;
    hs_call(NULL, "GET", "/openapi.yaml", handle_openapi_get, &res);
    hs_want_status(&res, 200);
    hs_want_content_type(&res, "application/yaml");
    data = hs_body(&res, &len);
    assert_int_equal(len, embedded_openapi_yaml_len);
    assert_memory_equal(data, embedded_openapi_yaml, len);
    assert_true(strncmp(data, "openapi: 3.1", 12) == 0);
    response_release(&res);
}

static void
test_readyz_migrated(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;

    hs_call(a, "GET", "/readyz", handle_readyz_get, &res);
    body = hs_want_json(&res, 200);
    hs_want_members(body, "{\"status\":\"ready\"}");
    hs_want_header(&res, "Retry-After", NULL);
    json_decref(body);
    response_release(&res);
}

static void
test_readyz_not_migrated(void **state)
{
    struct hs_app *migrated = *state;
    struct hs_app *a = hs_app_new(migrated->pg, 0);
    struct response res;
    json_t *body;

    hs_call(a, "GET", "/readyz", handle_readyz_get, &res);
    body = hs_want_problem(&res, 503, "migrations not applied");
    hs_want_header(&res, "Retry-After", "2");
    json_decref(body);
    response_release(&res);
    hs_app_free(a);
}

static void
test_readyz_migration_missing(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;

    /* the newest migration not recorded: an old schema is not ready either */
    hs_app_exec(a, "DELETE FROM schema_migrations"
                   " WHERE version = (SELECT max(version) FROM schema_migrations)");
    hs_call(a, "GET", "/readyz", handle_readyz_get, &res);
    body = hs_want_problem(&res, 503, "migrations not applied");
    hs_want_header(&res, "Retry-After", "2");
    json_decref(body);
    response_release(&res);
}

static void
test_readyz_older_migration_missing(void **state)
{
    struct hs_app *a = *state;
    struct response res;
    json_t *body;

    /* an older migration not recorded below the newest: not ready either */
    hs_app_exec(a, "DELETE FROM schema_migrations"
                   " WHERE version = (SELECT min(version) FROM schema_migrations)");
    hs_call(a, "GET", "/readyz", handle_readyz_get, &res);
    body = hs_want_problem(&res, 503, "migrations not applied");
    json_decref(body);
    response_release(&res);
}

static void
test_migrations_below_a_later_one_applied(void **state)
{
    struct hs_app *migrated = *state;
    struct hs_app *a = hs_app_new(migrated->pg, 0);
    char errbuf[ERRBUF_SIZE];
    struct response res;
    json_t *body;
    int applied = -1;

    /* a database that a build with a later migration touched first: every
     * embedded migration below it is still applied, not skipped */
    hs_app_exec(a, "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, "
                   "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    hs_app_exec(a, "INSERT INTO schema_migrations VALUES (999999, '999999_later.sql')");
    assert_int_equal(migrate_apply(a->db, &applied, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(applied, (int)embedded_migrations_count);
    assert_int_equal(migrate_check(a->db, errbuf, sizeof(errbuf)), ERR_OK);
    applied = -1;
    assert_int_equal(migrate_apply(a->db, &applied, errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(applied, 0);
    hs_call(a, "GET", "/readyz", handle_readyz_get, &res);
    body = hs_want_json(&res, 200);
    json_decref(body);
    response_release(&res);
    hs_app_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_ok),
        cmocka_unit_test(test_openapi_document),
        cmocka_unit_test_setup_teardown(test_readyz_migrated, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_readyz_not_migrated, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_readyz_migration_missing, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_readyz_older_migration_missing, hs_setup, hs_teardown),
        cmocka_unit_test_setup_teardown(test_migrations_below_a_later_one_applied, hs_setup,
                                        hs_teardown),
    };

    return cmocka_run_group_tests(tests, hs_group_setup, hs_group_teardown);
}
