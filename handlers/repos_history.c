/*
 * repos_history.c - GET /api/v1/repos.csv?generation=N and GET /api/v1/repos/diff
 *
 * Past generations inside INGESTD_REPOS_HISTORY (storage/repos_history.h):
 * the file exactly as a generation served it, and the rows that differ
 * between two generations, as CSV or JSON.
 */
#include "handlers/handlers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/gzip_encoder.h"
#include "codec/repos_csv.h"
#include "handlers/app.h"
#include "handlers/html.h"
#include "handlers/params.h"
#include "storage/repos_history.h"

/* the generation + 1 the window check computes must stay a bigint */
#define GENERATION_MAX (INT64_MAX - 1)

static void
last_modified(struct response *res, long long ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char date[64];

    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    response_header(res, "Last-Modified", "%s", date);
}

/* The headers and body of GET /api/v1/repos.csv for the rendered generation `csv`. */
static void
respond_generation(struct request *req, struct response *res, int64_t generation,
                   long long updated_ms, struct buf *csv)
{
    const char *inm = request_header(req, "If-None-Match");
    char etag[32];
    char *gz = NULL;
    size_t gz_len = 0;

    snprintf(etag, sizeof(etag), "\"%lld\"", (long long)generation);
    response_header(res, "ETag", "%s", etag);
    last_modified(res, updated_ms);
    response_header(res, "X-Generation", "%lld", (long long)generation);
    response_header(res, "Vary", "Accept-Encoding");
    /* a past generation never changes; the current one may still become past */
    response_header(res, "Cache-Control", "no-cache");
    if (request_accepts_gzip(req))
        gz = gzip_encode(csv->data, csv->len, 6, &gz_len);
    if (inm && html_etag_matches(inm, etag)) {
        res->status = 304;
        res->not_modified_len = gz ? gz_len : csv->len;
    } else if (gz) {
        response_header(res, "Content-Encoding", "gzip");
        response_bytes(res, 200, "text/csv; charset=utf-8", gz, gz_len);
    } else {
        response_bytes(res, 200, "text/csv; charset=utf-8", csv->data, csv->len);
    }
    free(gz);
}

void
handle_repos_csv_generation(struct request *req, struct response *res)
{
    struct buf csv;
    char errbuf[ERRBUF_SIZE];
    int64_t generation = 0;
    long long updated_ms = 0;
    enum err rc;

    buf_init(&csv, 0);
    rc = params_int(req, "generation", 0, GENERATION_MAX, 0, &generation, errbuf, sizeof(errbuf));
    if (!rc)
        rc = repos_history_render(req->db, generation, req->app->cfg->repos_history_s, &csv,
                                  &updated_ms, errbuf, sizeof(errbuf));
    if (rc)
        response_error(res, req, rc, errbuf);
    else
        respond_generation(req, res, generation, updated_ms, &csv);
    buf_release(&csv);
}

/* A list of column names as one CSV record (no line end): the changed_columns field. */
static void
names_record(json_t *names, struct buf *out)
{
    size_t i;
    json_t *v;

    json_array_foreach(names, i, v)
    {
        const char *s = json_string_value(v);

        if (i)
            buf_append_char(out, ',');
        repos_csv_write_field(out, s, strlen(s));
    }
}

/* The diff as CSV: change, changed_columns, then the diff's columns. */
static void
diff_csv(json_t *diff, struct buf *out)
{
    json_t *cols = json_object_get(diff, "columns");
    json_t *row;
    json_t *v;
    size_t i;
    size_t j;

    buf_append_str(out, "change,changed_columns");
    json_array_foreach(cols, i, v)
    {
        buf_append_char(out, ',');
        repos_csv_write_field(out, json_string_value(v), strlen(json_string_value(v)));
    }
    buf_append_char(out, '\n');
    json_array_foreach(json_object_get(diff, "rows"), i, row)
    {
        json_t *values = json_object_get(row, "columns");
        struct buf names;

        buf_init(&names, 0);
        names_record(json_object_get(row, "changed"), &names);
        buf_printf(out, "%s,", json_string_value(json_object_get(row, "change")));
        repos_csv_write_field(out, names.data ? names.data : "", names.len);
        buf_release(&names);
        json_array_foreach(cols, j, v)
        {
            const char *s = json_string_value(json_object_get(values, json_string_value(v)));

            buf_append_char(out, ',');
            repos_csv_write_field(out, s ? s : "", s ? strlen(s) : 0);
        }
        buf_append_char(out, '\n');
    }
}

/* JSON when ?format=json, or no ?format and Accept names application/json but not text/csv. */
static enum err
diff_wants_json(const struct request *req, int *json, char *errbuf, size_t errlen)
{
    const char *format = request_query(req, "format");
    const char *accept = request_header(req, "Accept");

    *json = 0;
    if (format) {
        if (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "format: must be csv or json");
        *json = strcmp(format, "json") == 0;
        return ERR_OK;
    }
    *json = accept && strstr(accept, "application/json") && !strstr(accept, "text/csv");
    return ERR_OK;
}

void
handle_repos_diff(struct request *req, struct response *res)
{
    static const char *const known[] = {"from", "to", "format", NULL};
    json_t *diff = NULL;
    char errbuf[ERRBUF_SIZE];
    int64_t from = -1;
    int64_t to = -1;
    int json = 0;
    struct buf csv;
    enum err rc;

    rc = params_known(req, known, errbuf, sizeof(errbuf));
    if (!rc)
        rc = params_int(req, "from", 0, GENERATION_MAX, -1, &from, errbuf, sizeof(errbuf));
    if (!rc)
        rc = params_int(req, "to", 0, GENERATION_MAX, -1, &to, errbuf, sizeof(errbuf));
    if (!rc && (from < 0 || to < 0))
        rc = err_set(ERR_BAD_INPUT, errbuf, sizeof(errbuf), "from and to are required");
    if (!rc)
        rc = diff_wants_json(req, &json, errbuf, sizeof(errbuf));
    if (!rc)
        rc = repos_history_diff(req->db, from, to, req->app->cfg->repos_history_s, &diff, errbuf,
                                sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_header(res, "Vary", "Accept");
    if (json) {
        response_json(res, 200, diff);
        return;
    }
    buf_init(&csv, 0);
    diff_csv(diff, &csv);
    response_bytes(res, 200, "text/csv; charset=utf-8", csv.data ? csv.data : "", csv.len);
    buf_release(&csv);
    json_decref(diff);
}
