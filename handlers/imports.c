/*
 * imports.c - GET /api/v1/imports: the import locations (INGESTD_IMPORTS) and how they fare
 *
 * Counts and the last scan and error come from PostgreSQL, so every replica
 * answers the same for the locations they share.
 */
#include "handlers/handlers.h"

#include "handlers/app.h"
#include "storage/imports_store.h"

void
handle_imports_get(struct request *req, struct response *res)
{
    static const char *const none[] = {NULL};
    const struct config *cfg = req->app->cfg;
    const char *const *locations =
        cfg->import_locations ? (const char *const *)cfg->import_locations : none;
    json_t *items = NULL;
    json_t *body;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    rc = imports_store_status(req->db, locations, &items, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    body = json_object();
    json_object_set_new(body, "items", items);
    response_json(res, 200, body);
}
