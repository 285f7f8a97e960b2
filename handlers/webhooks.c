/*
 * webhooks.c - /api/v1/webhooks/deliveries: the outbox's deliveries (admin)
 *
 * GET lists them newest first (optionally of one status), paged back by
 * `before` like the other newest-first lists; POST .../{id}/retry makes a
 * failed or gone delivery pending and due now (a pending one only due now).
 * A delivery's URL is shown as http_client_redact_url() gives it: scheme,
 * host, port and path, never userinfo or query.
 */
#include "handlers/handlers.h"

#include <string.h>

#include "clients/http_client.h"
#include "handlers/params.h"
#include "storage/outbox_store.h"

/* The url member of delivery d, redacted in place. */
static void
redact(json_t *d)
{
    char target[512];

    http_client_redact_url(json_string_value(json_object_get(d, "url")), target, sizeof(target));
    json_object_set_new(d, "url", json_string(target));
}

static enum err
check_list_params(const struct request *req, const char **status, const char **before,
                  int64_t *limit, char *errbuf, size_t errlen)
{
    static const char *const known[] = {"status", "limit", "before", NULL};
    enum err rc;

    *status = request_query(req, "status");
    *before = request_query(req, "before");
    rc = params_known(req, known, errbuf, errlen);
    if (!rc)
        rc = params_int(req, "limit", 1, 1000, 100, limit, errbuf, errlen);
    if (!rc && *status && strcmp(*status, "pending") != 0 && strcmp(*status, "delivered") != 0 &&
        strcmp(*status, "failed") != 0 && strcmp(*status, "gone") != 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "status: must be pending, delivered, failed or gone");
    if (!rc && *before && !params_uuid_ok(*before))
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "before: must be a delivery id");
    return rc;
}

void
handle_webhooks_deliveries_list(struct request *req, struct response *res)
{
    const char *status;
    const char *before;
    json_t *items = NULL;
    json_t *body;
    json_t *d;
    char errbuf[ERRBUF_SIZE];
    int64_t limit = 100;
    int more = 0;
    size_t i;
    enum err rc;

    rc = check_list_params(req, &status, &before, &limit, errbuf, sizeof(errbuf));
    if (!rc)
        rc = outbox_store_list(req->db, status, before, (int)limit, &items, &more, errbuf,
                               sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    json_array_foreach(items, i, d) redact(d);
    body = json_object();
    json_object_set_new(body, "items", items);
    if (more) {
        struct buf qs;
        char n[32];

        buf_init(&qs, 0);
        if (status)
            params_append(&qs, "status", status);
        snprintf(n, sizeof(n), "%lld", (long long)limit);
        params_append(&qs, "limit", n);
        params_append(&qs, "before",
                      json_string_value(json_object_get(
                          json_array_get(items, json_array_size(items) - 1), "id")));
        json_object_set_new(body, "next", json_sprintf("/api/v1/webhooks/deliveries%s", qs.data));
        buf_release(&qs);
    } else {
        json_object_set_new(body, "next", json_null());
    }
    response_json(res, 200, body);
}

void
handle_webhooks_deliveries_retry(struct request *req, struct response *res)
{
    json_t *d = NULL;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if (!params_uuid_ok(req->params[0])) {
        response_problem(res, req, 404, "no such delivery", NULL);
        return;
    }
    rc = outbox_store_retry(req->db, req->params[0], &d, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    redact(d);
    response_json(res, 200, d);
}
