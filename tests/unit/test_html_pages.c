/*
 * test_html_pages.c - the HTML helpers and the status page renderer, without a database
 *
 * status_page_render() is fed snapshots by hand: hostile strings (every one
 * must come out escaped, and the page must hold no script), estimates,
 * progress bars at their edges, number formatting, and an empty snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "handlers/html.h"
#include "handlers/status.h"

static char *
escaped(const char *s)
{
    struct buf b;

    buf_init(&b, 0);
    html_escape_str(&b, s);
    buf_append_char(&b, '\0');
    return buf_take(&b, NULL);
}

static void
test_escape(void **state)
{
    char *e;

    (void)state;
    e = escaped("a<b>&\"c'd");
    assert_string_equal(e, "a&lt;b&gt;&amp;&quot;c&#39;d");
    free(e);
    e = escaped("plain UTF-8: \xc3\xa9");
    assert_string_equal(e, "plain UTF-8: \xc3\xa9");
    free(e);
    e = escaped("");
    assert_string_equal(e, "");
    free(e);
}

static void
test_etag_matches(void **state)
{
    (void)state;
    assert_true(html_etag_matches("\"abc\"", "\"abc\""));
    assert_true(html_etag_matches("W/\"abc\"", "\"abc\""));
    assert_true(html_etag_matches("\"x\", \"abc\"", "\"abc\""));
    assert_true(html_etag_matches("\"x\",W/\"abc\" ", "\"abc\""));
    assert_true(html_etag_matches("*", "\"abc\""));
    assert_false(html_etag_matches("\"abcd\"", "\"abc\""));
    assert_false(html_etag_matches("\"ab\"", "\"abc\""));
    assert_false(html_etag_matches("abc", "\"abc\""));
    assert_false(html_etag_matches("", "\"abc\""));
}

static char *
render(json_t *snap)
{
    struct status_page page = {"1.2.3<x>", 0, 1795000000000LL};
    struct buf b;

    buf_init(&b, 0);
    status_page_render(snap, &page, &b);
    json_decref(snap);
    buf_append_char(&b, '\0');
    return buf_take(&b, NULL);
}

static json_t *
snapshot(int estimate)
{
    return json_pack(
        "{s:I,s:s,s:I,s:I,s:[{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I}],"
        "s:[{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:n,s:n,s:s},"
        "{s:s,s:s,s:n,s:n,s:n,s:I,s:I,s:I,s:I,s:s,s:n,s:n,s:n},"
        "{s:s,s:s,s:n,s:n,s:n,s:I,s:I,s:I,s:I,s:s,s:n,s:n,s:n}],"
        "s:{s:I,s:I,s:b,s:I}}",
        "generation", (json_int_t)7, "updated_at", "2026-11-21T10:15:30.123Z", "rows",
        (json_int_t)1234567, "pending", (json_int_t)1000, "merges", "id", "m1\"><script>", "status",
        "succeeded<script>", "events", (json_int_t)10, "rows", (json_int_t)100, "added",
        (json_int_t)5, "updated", (json_int_t)6, "unchanged", (json_int_t)7, "skipped",
        (json_int_t)82, "generation", (json_int_t)7, "started_at", "2026-11-21T10:15:30.123Z",
        "duration_ms", (json_int_t)61500, "jobs", "id", "j1", "status", "failed", "bucket",
        "b<script>alert(1)</script>", "key", "k'\"&", "format", "CSV", "files_total", (json_int_t)4,
        "files_done", (json_int_t)3, "records", (json_int_t)999, "bytes", (json_int_t)1536,
        "created_at", "<time>", "started_at", "finished_at", "error",
        "<img src=x onerror=alert(1)>", "id", "j2", "status", "queued", "bucket", "key", "format",
        "files_total", (json_int_t)0, "files_done", (json_int_t)0, "records", (json_int_t)0,
        "bytes", (json_int_t)0, "created_at", "2026-11-21T10:15:30.123Z", "started_at",
        "finished_at", "error", "id", "j3", "status", "running", "bucket", "key", "format",
        "files_total", (json_int_t)2, "files_done", (json_int_t)5, "records", (json_int_t)1,
        "bytes", (json_int_t)1, "created_at", "2026-11-21T10:15:30.123Z", "started_at",
        "finished_at", "error", "objects", "total", (json_int_t)5000000, "current",
        (json_int_t)3846154, "estimate", estimate, "bytes", (json_int_t)2147483648LL);
}

static void
test_status_escapes_everything(void **state)
{
    char *html = render(snapshot(0));
    const char *script = strstr(html, "<script");

    (void)state;
    /* one script, the live feed panel's own (status_feed.c); the hostile values are escaped */
    assert_non_null(script);
    assert_int_equal(strncmp(script, "<script>(function(){'use strict';", 33), 0);
    assert_null(strstr(script + 1, "<script"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<time>"));
    assert_non_null(strstr(html, "s3://b&lt;script&gt;alert(1)&lt;/script&gt;/k&#39;&quot;&amp;"));
    assert_non_null(strstr(html, "&lt;img src=x onerror=alert(1)&gt;"));
    assert_non_null(strstr(html, "data-merge=\"m1&quot;&gt;&lt;script&gt;\""));
    assert_non_null(strstr(html, "<span class=\"st st-other\">succeeded&lt;script&gt;</span>"));
    assert_non_null(strstr(html, "<span id=\"version\">1.2.3&lt;x&gt;</span>"));
    assert_non_null(strstr(html, "<span id=\"auth\">off</span>"));
    assert_non_null(strstr(html, "<meta http-equiv=\"refresh\" content=\"10\">"));
    free(html);
}

static void
test_status_figures(void **state)
{
    char *html = render(snapshot(0));

    (void)state;
    assert_non_null(strstr(html, "id=\"rows\" data-value=\"1234567\">1,234,567</dd>"));
    assert_non_null(strstr(html, "id=\"pending\" data-value=\"1000\">1,000</dd>"));
    assert_non_null(strstr(html, "id=\"generation\" data-value=\"7\">7</dd>"));
    assert_non_null(strstr(html, "data-k=\"skipped\" data-value=\"82\">82</td>"));
    assert_non_null(strstr(html, "1 min 1 s"));
    assert_non_null(strstr(html, "1.5 KiB"));
    assert_non_null(strstr(html, "2.0 GiB"));
    assert_non_null(strstr(html, "2026-11-21 10:15:30</time>"));
    /* bars: 3 of 4 files, none of none, more done than total (clamped) */
    assert_non_null(strstr(html, "data-done=\"3\" data-total=\"4\" aria-label=\"3 of 4 files\">"
                                 "<rect class=\"track\" width=\"120\" height=\"10\" rx=\"2\"/>"
                                 "<rect class=\"fill\" width=\"90\""));
    assert_non_null(strstr(html, "data-done=\"0\" data-total=\"0\" aria-label=\"0 of 0 files\">"
                                 "<rect class=\"track\" width=\"120\" height=\"10\" rx=\"2\"/>"
                                 "<rect class=\"fill\" width=\"0\""));
    assert_non_null(strstr(html, "aria-label=\"5 of 2 files\"><rect class=\"track\" "
                                 "width=\"120\" height=\"10\" rx=\"2\"/><rect class=\"fill\" "
                                 "width=\"120\""));
    assert_non_null(strstr(html, "<span class=\"muted\">inline manifest</span>"));
    assert_non_null(strstr(html, "data-estimate=\"false\">5,000,000</dd>"));
    assert_null(strstr(html, "estimate</span>"));
    free(html);
}

static void
test_status_estimates_are_marked(void **state)
{
    char *html = render(snapshot(1));

    (void)state;
    assert_non_null(strstr(html, "id=\"objects-total\" data-value=\"5000000\" "
                                 "data-estimate=\"true\">&asymp; 5,000,000 <span "
                                 "class=\"est\">estimate</span></dd>"));
    assert_non_null(strstr(html, "id=\"objects-current\" data-value=\"3846154\" "
                                 "data-estimate=\"true\">&asymp; 3,846,154"));
    assert_non_null(strstr(html, "Estimated from PostgreSQL"));
    free(html);
}

static void
test_status_empty_snapshot(void **state)
{
    char *html = render(json_object());

    (void)state;
    assert_non_null(strstr(html, "No merge yet."));
    assert_non_null(strstr(html, "No inventory job yet."));
    assert_non_null(strstr(html, "id=\"rows\" data-value=\"0\">0</dd>"));
    assert_non_null(strstr(html, "</html>\n"));
    free(html);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_etag_matches),
        cmocka_unit_test(test_status_escapes_everything),
        cmocka_unit_test(test_status_figures),
        cmocka_unit_test(test_status_estimates_are_marked),
        cmocka_unit_test(test_status_empty_snapshot),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
