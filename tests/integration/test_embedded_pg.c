/*
 * test_embedded_pg.c - the embedded PostgreSQL: start, stop, restart, adopt
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "storage/embedded_pg.h"
#include "harness.h"

/* The postmaster's pid from dir/pgdata/postmaster.pid, 0 when there is none. */
static long
postmaster_pid(const char *dir)
{
    char path[512];
    FILE *f;
    long pid = 0;

    snprintf(path, sizeof(path), "%s/pgdata/postmaster.pid", dir);
    f = fopen(path, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid;
}

static int
can_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    int ok = PQstatus(conn) == CONNECTION_OK;

    PQfinish(conn);
    return ok;
}

static long long
expected_shared_buffers_mb(void)
{
    long long mb = (long long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) / 4 / (1024 * 1024);

    return mb < 128 ? 128 : mb > 4096 ? 4096 : mb;
}

static void
test_start_stop_restart(void **state)
{
    struct th_pg *pg = th_pg_start();
    char *v;

    (void)state;
    v = th_pg_scalar(pg, "SELECT 1");
    assert_string_equal(v, "1");
    free(v);
    v = th_pg_scalar(pg, "SELECT current_database()");
    assert_string_equal(v, "ingestd");
    free(v);
    v = th_pg_scalar(pg, "SHOW fsync");
    assert_string_equal(v, "on");
    free(v);
    v = th_pg_scalar(pg, "SHOW max_connections");
    assert_string_equal(v, "200");
    free(v);
    v = th_pg_scalar(pg, "SHOW listen_addresses");
    assert_string_equal(v, "");
    free(v);
    /* shared_buffers: a quarter of the machine's memory, within 128 MiB..4 GiB */
    assert_int_equal(th_pg_ll(pg, "SELECT setting::bigint * 8 / 1024 FROM pg_settings "
                                  "WHERE name = 'shared_buffers'"),
                     expected_shared_buffers_mb());
    assert_null(th_pg_scalar(pg, "SELECT NULL"));

    th_pg_stop(pg);
    assert_false(can_connect(th_pg_url(pg)));
    assert_int_equal(postmaster_pid(th_pg_dir(pg)), 0);
    th_pg_stop(pg); /* stopping a stopped server is fine */

    th_pg_restart(pg);
    v = th_pg_scalar(pg, "SELECT 40 + 2");
    assert_string_equal(v, "42");
    free(v);
    th_pg_free(pg);
}

static void
test_adopt_running_server(void **state)
{
    struct th_pg *pg = th_pg_start();
    struct embedded_pg *second = NULL;
    char errbuf[ERRBUF_SIZE] = "";
    long pid = postmaster_pid(th_pg_dir(pg));
    enum err rc;

    (void)state;
    assert_true(pid > 0);
    rc = embedded_pg_start(th_pg_dir(pg), &second, errbuf, sizeof(errbuf));
    if (rc)
        fail_msg("second start: %s", errbuf);
    assert_non_null(second);
    assert_string_equal(embedded_pg_conninfo(second), th_pg_url(pg));
    assert_int_equal(postmaster_pid(th_pg_dir(pg)), pid); /* adopted, not restarted */
    assert_true(can_connect(embedded_pg_conninfo(second)));

    /* the adopter stops it; the first owner then finds it stopped */
    embedded_pg_free(second);
    assert_false(can_connect(th_pg_url(pg)));
    th_pg_free(pg);
}

static void
test_socket_path_too_long(void **state)
{
    char tmpl[] = "/tmp/thlong.XXXXXX";
    char dir[300];
    struct embedded_pg *pg = NULL;
    char errbuf[ERRBUF_SIZE] = "";

    (void)state;
    assert_non_null(mkdtemp(tmpl));
    chmod(tmpl, 0711);
    snprintf(dir, sizeof(dir), "%s/%s", tmpl,
             "a-directory-name-long-enough-to-push-the-unix-socket-path-past-107-bytes-xxxxxxxx");
    assert_int_not_equal(embedded_pg_start(dir, &pg, errbuf, sizeof(errbuf)), ERR_OK);
    assert_null(pg);
    assert_non_null(strstr(errbuf, "too long"));
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(rmdir(tmpl), 0);
}

static void
test_unreachable_dir_as_root(void **state)
{
    char tmpl[] = "/tmp/thpriv.XXXXXX";
    char dir[64];
    struct embedded_pg *pg = NULL;
    char errbuf[ERRBUF_SIZE] = "";

    (void)state;
    if (geteuid() != 0)
        skip();
    assert_non_null(mkdtemp(tmpl)); /* 0700 root: postgres cannot traverse it */
    snprintf(dir, sizeof(dir), "%s/var", tmpl);
    assert_int_not_equal(embedded_pg_start(dir, &pg, errbuf, sizeof(errbuf)), ERR_OK);
    assert_null(pg);
    assert_non_null(strstr(errbuf, "not reachable by user postgres"));
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(rmdir(tmpl), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_stop_restart),
        cmocka_unit_test(test_adopt_running_server),
        cmocka_unit_test(test_socket_path_too_long),
        cmocka_unit_test(test_unreachable_dir_as_root),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
