/*
 * pending.c - /api/v1/events/pending/{name}: the old pipeline's HTTP publisher
 *
 * The Artifactory publisher of the folder/bucket pipeline sends
 * `curl -T repos-lock.csv <EVENT_LOCATION>/pending/<name>` (any or no
 * Content-Type, Bearer or Basic auth), takes 200 or 201 as success and then
 * reads Content-Length from `curl -I` on the same URL. With
 * EVENT_LOCATION=http://ingestd:8080/api/v1/events it talks to these two
 * handlers unchanged. The name becomes the event's `source`; a name holds
 * one content for good (storage/imports_store.h).
 */
#include "handlers/handlers.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/event_body.h"
#include "codec/repos_csv.h"
#include "core/hex.h"
#include "core/metrics.h"
#include "handlers/app.h"
#include "handlers/upload.h"
#include "jobs/feed_hub.h"
#include "jobs/upload_group.h"
#include "storage/events_group.h"
#include "storage/events_store.h"
#include "storage/imports_store.h"

static void
sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    hex_encode(out, md, n);
}

/* The response to a stored (or refused) name. */
static void
respond_named(struct request *req, struct response *res, enum imports_named what, json_t *event,
              const char *other_sha256)
{
    char detail[256];

    switch (what) {
    case IMPORTS_NAMED_CREATED:
        response_header(res, "Location", "/api/v1/events/%s",
                        json_string_value(json_object_get(event, "id")));
        response_json(res, 201, event);
        return;
    case IMPORTS_NAMED_EXISTING:
    case IMPORTS_NAMED_DUPLICATE:
        response_json(res, 200, event);
        return;
    case IMPORTS_NAMED_CONFLICT:
        snprintf(detail, sizeof(detail),
                 "this name already holds other content (sha256 %s); publish under a new name",
                 other_sha256);
        response_problem(res, req, 409, detail, NULL);
        return;
    }
}

static void
pending_put(struct request *req, struct response *res)
{
    const char *name = req->params[0];
    const char *why = event_body_name_problem(name);
    struct repos_csv *doc = NULL;
    struct event_input in;
    struct event_upload up;
    char digest[65];

    if (why) {
        response_problem(res, req, 400, why, NULL);
        return;
    }
    doc = upload_parse(req, res);
    if (!doc)
        return;
    sha256_hex(req->body, req->body_len, digest);
    memset(&in, 0, sizeof(in));
    in.source = name;
    in.content = req->body;
    in.content_len = req->body_len;
    in.sha256_hex = digest;
    in.doc = doc;
    memset(&up, 0, sizeof(up));
    up.in = &in;
    up.name = name;
    upload_group_store(req->app->uploads, req->db, &up); /* returns after its commit */
    repos_csv_free(doc);
    if (up.rc) {
        response_error(res, req, up.rc, up.errbuf);
        return;
    }
    respond_named(req, res, up.what, up.event, up.other_sha256);
}

/* PUT /api/v1/events/pending/{name}, counted in ingestd_events_total{outcome} as POSTs are. */
void
handle_pending_put(struct request *req, struct response *res)
{
    const char *outcome[1];

    pending_put(req, res);
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

/* GET and HEAD /api/v1/events/pending/{name}: the stored bytes, with their Content-Length. */
void
handle_pending_get(struct request *req, struct response *res)
{
    const char *name = req->params[0];
    char errbuf[ERRBUF_SIZE];
    char sha[65];
    char *data = NULL;
    size_t len = 0;
    enum err rc;

    if (event_body_name_problem(name)) {
        response_problem(res, req, 404, "no event of this name", NULL);
        return;
    }
    rc = imports_store_named_content(req->db, name, &data, &len, sha, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_bytes(res, 200, "text/csv; charset=utf-8", data, len);
    free(data);
}
