/*
 * events.c - /api/v1/events: repos-lock.csv uploads
 */
#include "handlers/handlers.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/metrics.h"
#include "handlers/app.h"
#include "jobs/feed_hub.h"
#include "storage/events_store.h"
#include "handlers/params.h"
#include "codec/repos_csv.h"
#include "handlers/upload.h"
#include "jobs/upload_group.h"
#include "storage/events_group.h"

/* 1..255 bytes, each visible ASCII (idempotency keys) or not a control character (sources). */
static int
header_value_ok(const char *v, int visible_ascii_only)
{
    size_t n = strlen(v);
    size_t i;

    if (n == 0 || n > 255)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];

        if (visible_ascii_only ? (c < 0x21 || c > 0x7e) : (c < 0x20 || c == 0x7f))
            return 0;
    }
    return 1;
}

static void
sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    hex_encode(out, md, n);
}

static void
respond_event(struct response *res, json_t *event, int created)
{
    if (created)
        response_header(res, "Location", "/api/v1/events/%s",
                        json_string_value(json_object_get(event, "id")));
    response_json(res, created ? 201 : 200, event);
}

static void events_post(struct request *req, struct response *res);

/* POST /api/v1/events, counted in ingestd_events_total{outcome}. */
void
handle_events_post(struct request *req, struct response *res)
{
    const char *outcome[1];

    events_post(req, res);
    if (res->status == 201) {
        outcome[0] = "created";
        feed_hub_poke(req->app->feed_hub); /* committed: the feed's subscribers see it soon */
    } else if (res->status == 200)
        outcome[0] = "duplicate";
    else if (res->status < 500)
        outcome[0] = "rejected";
    else
        outcome[0] = "failed";
    metrics_add(req->app->metrics, M_EVENTS_TOTAL, outcome, 1);
}

static void
events_post(struct request *req, struct response *res)
{
    const char *key = request_header(req, "Idempotency-Key");
    const char *source = request_header(req, "X-Event-Source");
    struct repos_csv *doc = NULL;
    struct event_input in;
    struct event_upload up;
    json_t *event = NULL;
    char errbuf[ERRBUF_SIZE];
    char digest[65];
    enum err rc;

    if (key && !header_value_ok(key, 1)) {
        response_problem(res, req, 400, "Idempotency-Key must be 1 to 255 visible ASCII characters",
                         NULL);
        return;
    }
    if (source && (!header_value_ok(source, 0) || !params_utf8_ok(source))) {
        response_problem(res, req, 400,
                         "X-Event-Source must be 1 to 255 bytes of UTF-8, no control characters",
                         NULL);
        return;
    }
    if (key) {
        rc = events_store_find_key(req->db, key, &event, errbuf, sizeof(errbuf));
        if (rc == ERR_OK) {
            json_object_set_new(event, "duplicate", json_true());
            respond_event(res, event, 0);
            return;
        }
        if (rc != ERR_NOT_FOUND) {
            response_error(res, req, rc, errbuf);
            return;
        }
    }
    doc = upload_parse(req, res);
    if (!doc)
        return;
    sha256_hex(req->body, req->body_len, digest);
    memset(&in, 0, sizeof(in));
    in.source = source;
    in.idempotency_key = key;
    in.content = req->body;
    in.content_len = req->body_len;
    in.sha256_hex = digest;
    in.doc = doc;
    memset(&up, 0, sizeof(up));
    up.in = &in;
    upload_group_store(req->app->uploads, req->db, &up); /* returns after its commit */
    repos_csv_free(doc);
    if (up.rc) {
        response_error(res, req, up.rc, up.errbuf);
        return;
    }
    respond_event(res, up.event, !up.duplicate);
}

void
handle_events_list(struct request *req, struct response *res)
{
    static const char *const known[] = {"status", "limit", "after", "source", NULL};
    struct events_filter f;
    json_t *items = NULL;
    char errbuf[ERRBUF_SIZE];
    int64_t limit;
    int more = 0;
    enum err rc;

    memset(&f, 0, sizeof(f));
    rc = params_known(req, known, errbuf, sizeof(errbuf));
    if (!rc)
        rc = params_int(req, "limit", 1, 1000, 100, &limit, errbuf, sizeof(errbuf));
    if (!rc)
        rc = params_int(req, "after", 0, INT64_MAX, 0, &f.after, errbuf, sizeof(errbuf));
    f.status = request_query(req, "status");
    if (!rc)
        f.source = params_text(req, "source", &rc, errbuf, sizeof(errbuf));
    if (!rc && f.status && strcmp(f.status, "pending") != 0 && strcmp(f.status, "merged") != 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, sizeof(errbuf), "status: must be pending or merged");
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    f.limit = (int)limit;
    rc = events_store_list(req->db, &f, &items, &more, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    {
        json_t *body = json_object();
        json_t *next = json_null();

        if (more) {
            const char *const filters[] = {"status", f.status, "source", f.source, NULL};
            json_t *last = json_array_get(items, json_array_size(items) - 1);

            next = params_next_link("/api/v1/events", filters, limit,
                                    json_integer_value(json_object_get(last, "sequence")));
        }
        json_object_set_new(body, "items", items);
        json_object_set_new(body, "next", next);
        response_json(res, 200, body);
    }
}

/* The {id} parameter, or a 404 when it cannot be an event id. */
static const char *
event_id(struct request *req, struct response *res)
{
    if (!params_uuid_ok(req->params[0])) {
        response_problem(res, req, 404, "no such event", NULL);
        return NULL;
    }
    return req->params[0];
}

void
handle_events_get(struct request *req, struct response *res)
{
    const char *id = event_id(req, res);
    json_t *event = NULL;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (!id)
        return;
    rc = events_store_get(req->db, id, &event, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_json(res, 200, event);
}

void
handle_events_content(struct request *req, struct response *res)
{
    const char *id = event_id(req, res);
    char errbuf[ERRBUF_SIZE];
    char *data = NULL;
    size_t len = 0;
    enum err rc;

    if (!id)
        return;
    rc = events_store_content(req->db, id, &data, &len, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_bytes(res, 200, "text/csv; charset=utf-8", data, len);
    free(data);
}

void
handle_events_delete(struct request *req, struct response *res)
{
    const char *id = event_id(req, res);
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (!id)
        return;
    rc = events_store_delete(req->db, id, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    res->status = 204;
}
