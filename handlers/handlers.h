/*
 * handlers.h - the resource handlers
 *
 * Each handler reads a struct request and fills a struct response; none
 * sees the socket library. Handlers without ROUTE_INLINE run on a worker
 * thread and use req->db; they must leave the connection outside any
 * transaction when they return.
 */
#ifndef INGESTD_HANDLERS_H
#define INGESTD_HANDLERS_H

#include "handlers/request.h"

/* health.c */
void handle_healthz_get(struct request *req, struct response *res);
void handle_readyz_get(struct request *req, struct response *res);
void handle_openapi_get(struct request *req, struct response *res);

/* metrics.c */
void handle_metrics_get(struct request *req, struct response *res);

/* status.c: the status page (HTML) */
void handle_status_get(struct request *req, struct response *res);

/* docs.c: the API reference (HTML rendered from openapi.yaml at build time) */
void handle_docs_get(struct request *req, struct response *res);

/* events.c */
void handle_events_post(struct request *req, struct response *res);
void handle_events_list(struct request *req, struct response *res);
void handle_events_get(struct request *req, struct response *res);
void handle_events_content(struct request *req, struct response *res);
void handle_events_delete(struct request *req, struct response *res);

/* merges.c */
void handle_merges_post(struct request *req, struct response *res);
void handle_merges_list(struct request *req, struct response *res);
void handle_merges_get(struct request *req, struct response *res);

/* repos.c */
void handle_repos_csv_get(struct request *req, struct response *res);
void handle_repos_csv_put(struct request *req, struct response *res);
void handle_repos_list(struct request *req, struct response *res);

/* repos_history.c */
/* GET /api/v1/repos.csv?generation=N: the bytes generation N served (handle_repos_csv_get). */
void handle_repos_csv_generation(struct request *req, struct response *res);
void handle_repos_diff(struct request *req, struct response *res);

/* GET /api/v1/exports (admin): what each export target holds, its attempts and last error. */
void handle_exports_get(struct request *req, struct response *res);

/* s3_events.c */
void handle_s3_events_post(struct request *req, struct response *res);

/* objects.c */
void handle_objects_list(struct request *req, struct response *res);
void handle_objects_count(struct request *req, struct response *res);
void handle_objects_get(struct request *req, struct response *res);

/* inventories.c */
void handle_inventories_post(struct request *req, struct response *res);
void handle_inventories_list(struct request *req, struct response *res);
void handle_inventories_get(struct request *req, struct response *res);

#endif
