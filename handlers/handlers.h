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

/* pending.c: the old pipeline's HTTP publisher (PUT, then HEAD for Content-Length) */
void handle_pending_put(struct request *req, struct response *res);
void handle_pending_get(struct request *req, struct response *res);

/* imports.c */
void handle_imports_get(struct request *req, struct response *res);

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
/* history.c */
/*
 * GET /api/v1/repos/history?origin=&path=&branch=[&limit=&after=]: every
 * stored event row of the key, newest first, with its outcome (openapi.yaml).
 * 400 when a key part is missing or a parameter is bad, 404 for a key that
 * no event row and no effective row has.
 */
void handle_repos_history(struct request *req, struct response *res);

/* s3_events.c */
void handle_s3_events_post(struct request *req, struct response *res);

/* objects.c */
void handle_objects_list(struct request *req, struct response *res);
void handle_objects_count(struct request *req, struct response *res);
void handle_objects_get(struct request *req, struct response *res);
/* GET /api/v1/s3/attributes: the list, every unknown parameter an attribute filter */
void handle_objects_attributes(struct request *req, struct response *res);

/* s3_annotations.c */
/* PATCH /api/v1/s3/{id}: a JSON patch on one record's attributes or ingestId */
void handle_objects_patch(struct request *req, struct response *res);
/* PATCH /api/v1/s3: the same patch on every record the filters match */
void handle_objects_patch_all(struct request *req, struct response *res);

/* presign.c: presigned GET URLs of current objects (the filemanager's routes) */
void handle_presign_list(struct request *req, struct response *res);
void handle_presign_get(struct request *req, struct response *res);

/* crawl.c: crawls of the live bucket (the filemanager's routes) */
void handle_crawl_post(struct request *req, struct response *res);
void handle_crawl_sync(struct request *req, struct response *res);
void handle_crawl_list(struct request *req, struct response *res);
void handle_crawl_count(struct request *req, struct response *res);
void handle_crawl_get(struct request *req, struct response *res);

/* inventories.c */
void handle_inventories_post(struct request *req, struct response *res);
void handle_inventories_list(struct request *req, struct response *res);
void handle_inventories_get(struct request *req, struct response *res);

/* sqs.c: the SQS consumers' counters (admin) */
void handle_sqs_get(struct request *req, struct response *res);
/* feed.c: the journal of changes after a cursor (read) */
void handle_feed_get(struct request *req, struct response *res);

/* webhooks.c: the outbox's deliveries (admin) */
void handle_webhooks_deliveries_list(struct request *req, struct response *res);
void handle_webhooks_deliveries_retry(struct request *req, struct response *res);

#endif
