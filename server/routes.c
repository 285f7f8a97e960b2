/*
 * routes.c - the route table of ingestd
 *
 * openapi/openapi.yaml describes exactly these routes; tests/unit/test_routes.c
 * holds the two against each other.
 */
#include "server/router.h"

#include "handlers/handlers.h"

const struct route app_routes[] = {
    {"GET", "/healthz", handle_healthz_get, ROUTE_INLINE, NULL},
    {"GET", "/readyz", handle_readyz_get, 0, NULL},
    {"GET", "/openapi.yaml", handle_openapi_get, ROUTE_INLINE, NULL},
    {"GET", "/", handle_status_get, 0, NULL},
    {"GET", "/docs", handle_docs_get, ROUTE_INLINE, NULL},
    {"GET", "/metrics", handle_metrics_get, 0, NULL},

    {"POST", "/api/v1/events", handle_events_post, ROUTE_BODY_CSV, "write"},
    {"GET", "/api/v1/events", handle_events_list, 0, "read"},
    {"GET", "/api/v1/events/{id}", handle_events_get, 0, "read"},
    {"DELETE", "/api/v1/events/{id}", handle_events_delete, 0, "write"},
    {"GET", "/api/v1/events/{id}/content", handle_events_content, 0, "read"},
    /* the old pipeline's publishers: curl -T to pending/{name}, then curl -I; imports' status */
    {"PUT", "/api/v1/events/pending/{name}", handle_pending_put, ROUTE_BODY_RAW, "write"},
    {"GET", "/api/v1/events/pending/{name}", handle_pending_get, 0, "read"},
    {"GET", "/api/v1/imports", handle_imports_get, 0, "admin"},

    {"POST", "/api/v1/merges", handle_merges_post, ROUTE_BODY_JSON | ROUTE_LONG, "write"},
    {"GET", "/api/v1/merges", handle_merges_list, 0, "read"},
    {"GET", "/api/v1/merges/{id}", handle_merges_get, 0, "read"},

    {"GET", "/api/v1/repos.csv", handle_repos_csv_get, 0, "read"},
    {"PUT", "/api/v1/repos.csv", handle_repos_csv_put, ROUTE_BODY_CSV | ROUTE_LONG, "admin"},
    {"GET", "/api/v1/repos", handle_repos_list, 0, "read"},
    /* every stored event row of one key, with its outcome */
    {"GET", "/api/v1/repos/history", handle_repos_history, 0, "read"},
    {"GET", "/api/v1/repos/diff", handle_repos_diff, 0, "read"},

    {"GET", "/api/v1/exports", handle_exports_get, 0, "admin"},

    {"POST", "/api/v1/s3/events", handle_s3_events_post, ROUTE_BODY_JSON, "write"},
    {"POST", "/api/v1/s3/inventories", handle_inventories_post, ROUTE_BODY_JSON | ROUTE_LONG,
     "write"},
    {"GET", "/api/v1/s3/inventories", handle_inventories_list, 0, "read"},
    {"GET", "/api/v1/s3/inventories/{id}", handle_inventories_get, 0, "read"},
    {"GET", "/api/v1/s3/objects", handle_objects_list, 0, "read"},
    {"GET", "/api/v1/s3/objects/count", handle_objects_count, 0, "read"},
    {"GET", "/api/v1/s3/objects/{id}", handle_objects_get, 0, "read"},
    /* the filemanager's paths of the same three; a literal sibling such as
     * /api/v1/s3/events wins over {id} (router.h) */
    {"GET", "/api/v1/s3", handle_objects_list, 0, "read"},
    {"GET", "/api/v1/s3/count", handle_objects_count, 0, "read"},
    {"GET", "/api/v1/s3/{id}", handle_objects_get, 0, "read"},

    /* the SQS consumers of INGESTD_SQS_QUEUES: counters and last error (memory only) */
    {"GET", "/api/v1/sqs", handle_sqs_get, ROUTE_INLINE, "admin"},
    /* presigned URLs (handlers/presign.c) */
    {"GET", "/api/v1/s3/presign", handle_presign_list, 0, "read"},
    {"GET", "/api/v1/s3/presign/{id}", handle_presign_get, 0, "read"},

    /* crawls of the live bucket (handlers/crawl.c) */
    {"POST", "/api/v1/s3/crawl", handle_crawl_post, ROUTE_BODY_JSON, "write"},
    {"POST", "/api/v1/s3/crawl/sync", handle_crawl_sync, ROUTE_BODY_JSON | ROUTE_LONG, "write"},
    {"GET", "/api/v1/s3/crawl/status", handle_crawl_list, 0, "read"},
    {"GET", "/api/v1/s3/crawl/status/count", handle_crawl_count, 0, "read"},
    {"GET", "/api/v1/s3/crawl/status/{id}", handle_crawl_get, 0, "read"},
    /* annotations (the filemanager's attributes and ingest id) */
    {"GET", "/api/v1/s3/attributes", handle_objects_attributes, 0, "read"},
    {"PATCH", "/api/v1/s3", handle_objects_patch_all, ROUTE_BODY_JSON, "write"},
    {"PATCH", "/api/v1/s3/{id}", handle_objects_patch, ROUTE_BODY_JSON, "write"},
    /* the journal of changes after a cursor (README "Live feed") */
    {"GET", "/api/v1/feed", handle_feed_get, 0, "read"},
    /* webhooks: the outbox's deliveries (OPERATIONS.md "Webhooks") */
    {"GET", "/api/v1/webhooks/deliveries", handle_webhooks_deliveries_list, 0, "admin"},
    {"POST", "/api/v1/webhooks/deliveries/{id}/retry", handle_webhooks_deliveries_retry, 0,
     "admin"},
};

const size_t app_routes_count = sizeof(app_routes) / sizeof(app_routes[0]);
