/*
 * health.c - /healthz, /readyz, /openapi.yaml
 */
#include "handlers/handlers.h"

#include "handlers/app.h"
#include "storage/db.h"
#include "storage/embedded.h"
#include "storage/migrate.h"

void
handle_healthz_get(struct request *req, struct response *res)
{
    (void)req;
    response_json(res, 200, json_pack("{s:s}", "status", "ok"));
}

void
handle_readyz_get(struct request *req, struct response *res)
{
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    rc = migrate_check(req->db, errbuf, sizeof(errbuf));
    if (rc) {
        response_problem(res, req, 503, errbuf, NULL);
        response_header(res, "Retry-After", "2");
        return;
    }
    response_json(res, 200, json_pack("{s:s}", "status", "ready"));
}

void
handle_openapi_get(struct request *req, struct response *res)
{
    (void)req;
    response_bytes(res, 200, "application/yaml", embedded_openapi_yaml, embedded_openapi_yaml_len);
}
