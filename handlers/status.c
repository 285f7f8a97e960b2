/*
 * status.c - GET /: the status page
 *
 * A server-rendered HTML page for people: the effective repos.csv
 * (generation, rows), pending events, the newest merges with their counts
 * and durations, inventory jobs with progress bars, the catalog's record
 * counts, whether authentication is on, and the version. It reloads itself
 * every STATUS_REFRESH_S seconds. Inline CSS and SVG, one inline script
 * (the live feed panel, status_feed.c, allowed by its hash), no asset from
 * elsewhere (the Content-Security-Policy forbids them).
 *
 * The handler runs on a worker (status_store_snapshot() reads PostgreSQL);
 * the renderer is pure. Numbers carry their raw value in data-value so
 * tests (and scrapers) need not parse the formatted text; an estimate is
 * marked on the page and in data-estimate.
 */
#include "handlers/handlers.h"
#include "handlers/status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "handlers/app.h"
#include "handlers/html.h"
#include "storage/status_store.h"

static const char page_css[] =
    ":root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#fff;--card:#f6f8fa;"
    "--line:#d1d9e0;--ok:#1a7f37;--bad:#cf222e;--run:#0969da}"
    "@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;"
    "--card:#151b23;--line:#3d444d;--ok:#3fb950;--bad:#f85149;--run:#4493f8}}"
    "body{font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg);"
    "margin:0 auto;max-width:1200px;padding:16px 24px}"
    "header{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 14px;"
    "border-bottom:1px solid var(--line);padding-bottom:8px}"
    "h1{font-size:22px;margin:0}h2{font-size:16px;margin:24px 0 8px}a{color:var(--run)}"
    ".muted{color:var(--muted)}.badge{border:1px solid var(--line);border-radius:10px;"
    "padding:0 8px;font-size:12px}nav{margin-left:auto}nav a{margin-left:12px}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:12px;"
    "margin-top:16px}.card{background:var(--card);border:1px solid var(--line);"
    "border-radius:6px;padding:10px 14px}.card h2{margin:0 0 6px;font-size:12px;"
    "text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}"
    "dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 12px}dt{color:var(--muted)}"
    "dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}"
    "table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}"
    "th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;"
    "vertical-align:top}th{color:var(--muted);font-size:12px}.n{text-align:right}"
    ".st{font-weight:600}.st-succeeded{color:var(--ok)}.st-failed{color:var(--bad)}"
    ".st-running{color:var(--run)}.st-queued{color:var(--muted)}"
    ".est{font-size:11px;color:var(--muted)}.err{color:var(--bad);overflow-wrap:anywhere;"
    "max-width:340px}code{font:12px ui-monospace,monospace;overflow-wrap:anywhere}"
    "svg{vertical-align:middle}.track{fill:var(--line)}.fill{fill:var(--run)}"
    "time,td.n,.progress{white-space:nowrap}"
    "footer{margin-top:24px;font-size:12px}";

/* ---- small formatting helpers ---- */

static long long
jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static const char *
jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* 1234567 as "1,234,567". */
static void
put_num(struct buf *out, long long v)
{
    char digits[32];
    size_t n = (size_t)snprintf(digits, sizeof(digits), "%lld", v);
    size_t sign = digits[0] == '-';
    size_t i;

    for (i = 0; i < n; i++) {
        if (i > sign && (n - i) % 3 == 0)
            buf_append_char(out, ',');
        buf_append_char(out, digits[i]);
    }
}

static void
put_bytes(struct buf *out, long long n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = -1;

    if (n < 1024) {
        buf_printf(out, "%lld B", n);
        return;
    }
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    buf_printf(out, "%.1f %s", v, units[u]);
}

static void
put_duration(struct buf *out, long long ms)
{
    if (ms < 1000)
        buf_printf(out, "%lld ms", ms);
    else if (ms < 60000)
        buf_printf(out, "%.2f s", (double)ms / 1000);
    else
        buf_printf(out, "%lld min %lld s", ms / 60000, ms % 60000 / 1000);
}

/* An RFC 3339 timestamp as <time>, shown as "2026-11-21 10:15:30"; NULL as "-". */
static void
put_time(struct buf *out, const char *ts)
{
    size_t n;

    if (!ts) {
        buf_append_str(out, "-");
        return;
    }
    n = strlen(ts);
    buf_append_str(out, "<time datetime=\"");
    html_escape(out, ts, n);
    buf_append_str(out, "\">");
    if (n >= 19 && ts[10] == 'T') {
        html_escape(out, ts, 10);
        buf_append_char(out, ' ');
        html_escape(out, ts + 11, 8);
    } else {
        html_escape(out, ts, n);
    }
    buf_append_str(out, "</time>");
}

/* <span class="st st-failed">failed</span>; unknown statuses get no color. */
static void
put_status(struct buf *out, const char *status)
{
    static const char *const known[] = {"succeeded", "failed", "running", "queued", NULL};
    const char *cls = "other";
    size_t i;

    for (i = 0; status && known[i]; i++)
        if (strcmp(status, known[i]) == 0)
            cls = known[i];
    buf_printf(out, "<span class=\"st st-%s\">", cls);
    html_escape_str(out, status ? status : "-");
    buf_append_str(out, "</span>");
}

/* A horizontal bar of `width` pixels, filled done/total. */
static void
put_bar(struct buf *out, long long done, long long total, int width, const char *label)
{
    long long fill = 0;

    if (total > 0 && done > 0)
        fill = done >= total ? width : done * width / total;
    buf_printf(out,
               "<svg class=\"bar\" width=\"%d\" height=\"10\" viewBox=\"0 0 %d 10\" role=\"img\" "
               "data-done=\"%lld\" data-total=\"%lld\" aria-label=\"",
               width, width, done, total);
    html_escape_str(out, label);
    buf_printf(out,
               "\"><rect class=\"track\" width=\"%d\" height=\"10\" rx=\"2\"/>"
               "<rect class=\"fill\" width=\"%lld\" height=\"10\" rx=\"2\"/></svg>",
               width, fill);
}

/* <dt>label</dt><dd id=.. data-value=..>1,234</dd> */
static void
put_figure(struct buf *out, const char *label, const char *id, long long v)
{
    buf_printf(out, "<dt>%s</dt><dd id=\"%s\" data-value=\"%lld\">", label, id, v);
    put_num(out, v);
    buf_append_str(out, "</dd>");
}

/* A numeric table cell with its raw value. */
static void
put_cell(struct buf *out, const char *key, long long v)
{
    buf_printf(out, "<td class=\"n\" data-k=\"%s\" data-value=\"%lld\">", key, v);
    put_num(out, v);
    buf_append_str(out, "</td>");
}

/* ---- the sections ---- */

static void
render_head(struct buf *out, const struct status_page *page)
{
    char now[32];
    time_t t = (time_t)(page->now_ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    buf_printf(out,
               "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
               "<meta http-equiv=\"refresh\" content=\"%d\">"
               "<title>ingestd status</title><link rel=\"icon\" href=\"data:,\">"
               "<style>%s</style></head>\n<body>\n<header><h1>ingestd</h1>"
               "<span class=\"badge\">version <span id=\"version\">",
               STATUS_REFRESH_S, page_css);
    html_escape_str(out, page->version);
    buf_printf(out,
               "</span></span><span class=\"badge\">auth <span id=\"auth\">%s</span></span>"
               "<span class=\"muted\">as of <time id=\"now\" datetime=\"%s\">%s</time>, "
               "reloads every %d s</span>"
               "<nav><a href=\"/docs\">API reference</a><a href=\"/openapi.yaml\">openapi.yaml</a>"
               "<a href=\"/api/v1/repos.csv\">repos.csv</a></nav></header>\n",
               page->auth_on ? "on" : "off", now, now, STATUS_REFRESH_S);
}

static void
render_objects(struct buf *out, json_t *objects)
{
    int estimate = json_is_true(json_object_get(objects, "estimate"));
    const char *const keys[] = {"total", "current"};
    const char *const labels[] = {"records", "current objects"};
    size_t i;

    buf_append_str(out, "<div class=\"card\"><h2>S3 object catalog</h2><dl>");
    for (i = 0; i < 2; i++) {
        long long v = jint(objects, keys[i]);

        buf_printf(out,
                   "<dt>%s</dt><dd id=\"objects-%s\" data-value=\"%lld\" data-estimate=\"%s\">%s",
                   labels[i], keys[i], v, estimate ? "true" : "false", estimate ? "&asymp; " : "");
        put_num(out, v);
        if (estimate)
            buf_append_str(out, " <span class=\"est\">estimate</span>");
        buf_append_str(out, "</dd>");
    }
    buf_append_str(out, "<dt>on disk</dt><dd>");
    put_bytes(out, jint(objects, "bytes"));
    buf_append_str(out, "</dd></dl>");
    if (estimate)
        buf_append_str(out, "<p class=\"est\">Estimated from PostgreSQL's table statistics "
                            "(the catalog is too large to count on every reload); "
                            "<code>GET /api/v1/s3/objects/count</code> counts exactly.</p>");
    buf_append_str(out, "</div>\n");
}

static void
render_cards(struct buf *out, json_t *snap)
{
    buf_append_str(out, "<section class=\"cards\">\n<div class=\"card\"><h2>Effective "
                        "repos.csv</h2><dl>");
    put_figure(out, "generation", "generation", jint(snap, "generation"));
    put_figure(out, "rows", "rows", jint(snap, "rows"));
    buf_append_str(out, "<dt>made</dt><dd>");
    put_time(out, jstr(snap, "updated_at"));
    buf_append_str(out, "</dd></dl></div>\n<div class=\"card\"><h2>Events</h2><dl>");
    put_figure(out, "pending", "pending", jint(snap, "pending"));
    buf_append_str(out, "</dl><p class=\"muted\">uploaded, not merged yet</p></div>\n");
    render_objects(out, json_object_get(snap, "objects"));
    buf_append_str(out, "</section>\n");
}

static void
render_merge_row(struct buf *out, json_t *m, long long max_ms)
{
    static const char *const counts[] = {"events",    "rows",    "added",      "updated",
                                         "unchanged", "skipped", "generation", NULL};
    long long ms = jint(m, "duration_ms");
    size_t i;

    buf_append_str(out, "<tr data-merge=\"");
    html_escape_str(out, jstr(m, "id"));
    buf_append_str(out, "\"><td>");
    put_time(out, jstr(m, "started_at"));
    buf_append_str(out, "</td><td>");
    put_status(out, jstr(m, "status"));
    buf_append_str(out, "</td>");
    for (i = 0; counts[i]; i++)
        put_cell(out, counts[i], jint(m, counts[i]));
    buf_printf(out, "<td class=\"n\" data-k=\"duration_ms\" data-value=\"%lld\">", ms);
    put_duration(out, ms);
    buf_append_str(out, " ");
    put_bar(out, ms, max_ms, 60, "duration relative to the slowest merge listed");
    buf_append_str(out, "</td></tr>\n");
}

static void
render_merges(struct buf *out, json_t *merges)
{
    long long max_ms = 0;
    size_t i;
    json_t *m;

    buf_printf(out, "<section id=\"merges\"><h2>Newest merges</h2>\n");
    if (json_array_size(merges) == 0) {
        buf_append_str(out, "<p class=\"muted\">No merge yet.</p></section>\n");
        return;
    }
    json_array_foreach(merges, i, m)
    {
        if (jint(m, "duration_ms") > max_ms)
            max_ms = jint(m, "duration_ms");
    }
    buf_append_str(out, "<table><thead><tr><th>started (UTC)</th><th>status</th>"
                        "<th class=\"n\">events</th><th class=\"n\">rows</th>"
                        "<th class=\"n\">added</th><th class=\"n\">updated</th>"
                        "<th class=\"n\">unchanged</th><th class=\"n\">skipped</th>"
                        "<th class=\"n\">generation</th><th class=\"n\">duration</th>"
                        "</tr></thead><tbody>\n");
    json_array_foreach(merges, i, m)
    {
        render_merge_row(out, m, max_ms);
    }
    buf_append_str(out, "</tbody></table></section>\n");
}

static void
render_job_row(struct buf *out, json_t *j)
{
    long long done = jint(j, "files_done");
    long long total = jint(j, "files_total");
    char label[96];

    buf_append_str(out, "<tr data-job=\"");
    html_escape_str(out, jstr(j, "id"));
    buf_append_str(out, "\"><td>");
    put_time(out, jstr(j, "created_at"));
    buf_append_str(out, "</td><td>");
    put_status(out, jstr(j, "status"));
    buf_append_str(out, "</td><td class=\"src\">");
    if (jstr(j, "bucket")) {
        buf_append_str(out, "<code>s3://");
        html_escape_str(out, jstr(j, "bucket"));
        buf_append_char(out, '/');
        html_escape_str(out, jstr(j, "key"));
        buf_append_str(out, "</code>");
    } else {
        buf_append_str(out, "<span class=\"muted\">inline manifest</span>");
    }
    buf_append_str(out, "</td><td>");
    html_escape_str(out, jstr(j, "format") ? jstr(j, "format") : "-");
    snprintf(label, sizeof(label), "%lld of %lld files", done, total);
    buf_append_str(out, "</td><td class=\"progress\">");
    put_bar(out, done, total, 120, label);
    buf_printf(out, " <span data-k=\"files\">%lld / %lld files</span></td>", done, total);
    put_cell(out, "records", jint(j, "records"));
    buf_printf(out, "<td class=\"n\" data-k=\"bytes\" data-value=\"%lld\">", jint(j, "bytes"));
    put_bytes(out, jint(j, "bytes"));
    buf_append_str(out, "</td><td class=\"err\">");
    html_escape_str(out, jstr(j, "error"));
    buf_append_str(out, "</td></tr>\n");
}

static void
render_jobs(struct buf *out, json_t *jobs)
{
    size_t i;
    json_t *j;

    buf_append_str(out, "<section id=\"inventories\"><h2>S3 inventory jobs</h2>\n");
    if (json_array_size(jobs) == 0) {
        buf_append_str(out, "<p class=\"muted\">No inventory job yet.</p></section>\n");
        return;
    }
    buf_append_str(out, "<table><thead><tr><th>created (UTC)</th><th>status</th>"
                        "<th>manifest</th><th>format</th><th>data files</th>"
                        "<th class=\"n\">records</th><th class=\"n\">bytes</th><th>error</th>"
                        "</tr></thead><tbody>\n");
    json_array_foreach(jobs, i, j)
    {
        render_job_row(out, j);
    }
    buf_append_str(out, "</tbody></table></section>\n");
}

void
status_page_render(json_t *snap, const struct status_page *page, struct buf *out)
{
    render_head(out, page);
    render_cards(out, snap);
    status_feed_render(out, page->auth_on);
    render_merges(out, json_object_get(snap, "merges"));
    render_jobs(out, json_object_get(snap, "jobs"));
    buf_printf(out,
               "<footer class=\"muted\">Every queued or running inventory job and the %d "
               "newest are listed, and the %d newest merges. JSON: "
               "<code>/api/v1/merges</code>, <code>/api/v1/s3/inventories</code>, "
               "<code>/api/v1/events?status=pending</code>.</footer>\n</body></html>\n",
               STATUS_JOBS, STATUS_MERGES);
}

/* The database is away: a small page that keeps reloading until it is back. */
static void
render_unavailable(struct buf *out, const char *detail)
{
    buf_printf(out,
               "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta http-equiv=\"refresh\" content=\"%d\"><title>ingestd status</title>"
               "<link rel=\"icon\" href=\"data:,\"><style>%s</style></head>\n<body><header>"
               "<h1>ingestd</h1></header><p class=\"err\" id=\"unavailable\">",
               STATUS_REFRESH_S, page_css);
    html_escape_str(out, detail);
    buf_printf(out, "</p><p class=\"muted\">This page reloads every %d s.</p></body></html>\n",
               STATUS_REFRESH_S);
}

void
handle_status_get(struct request *req, struct response *res)
{
    struct status_page page;
    json_t *snap = NULL;
    char errbuf[ERRBUF_SIZE];
    char csp[512];
    enum err rc;

    rc = status_store_snapshot(req->db, STATUS_EXACT_MAX_BYTES, &snap, errbuf, sizeof(errbuf));
    if (rc == ERR_UNAVAILABLE) {
        res->status = 503;
        response_header(res, "Retry-After", "2");
        render_unavailable(&res->body, errbuf);
    } else if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    } else {
        page.version = INGESTD_VERSION;
        page.auth_on = req->app ? req->app->auth_on : 0;
        page.now_ms = clock_real_ms();
        res->status = 200;
        status_page_render(snap, &page, &res->body);
        json_decref(snap);
    }
    status_feed_csp(csp, sizeof(csp));
    html_page_headers_csp(res, csp);
    response_header(res, "Cache-Control", "no-store");
}
