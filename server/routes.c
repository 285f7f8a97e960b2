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

    {"POST", "/api/v1/merges", handle_merges_post, ROUTE_BODY_JSON, "write"},
    {"GET", "/api/v1/merges", handle_merges_list, 0, "read"},
    {"GET", "/api/v1/merges/{id}", handle_merges_get, 0, "read"},

    {"GET", "/api/v1/repos.csv", handle_repos_csv_get, 0, "read"},
    {"PUT", "/api/v1/repos.csv", handle_repos_csv_put, ROUTE_BODY_CSV, "admin"},
    {"GET", "/api/v1/repos", handle_repos_list, 0, "read"},
    {"GET", "/api/v1/repos/diff", handle_repos_diff, 0, "read"},

    {"GET", "/api/v1/exports", handle_exports_get, 0, "admin"},

    {"POST", "/api/v1/s3/events", handle_s3_events_post, ROUTE_BODY_JSON, "write"},
    {"POST", "/api/v1/s3/inventories", handle_inventories_post, ROUTE_BODY_JSON, "write"},
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
};

const size_t app_routes_count = sizeof(app_routes) / sizeof(app_routes[0]);
