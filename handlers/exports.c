/*
 * exports.c - /api/v1/exports: the export targets of INGESTD_EXPORTS
 *
 * The state is PostgreSQL's (migration 0009), shared by every replica; the
 * list is this process's configured targets, in configuration order, named
 * without credentials.
 */
#include "handlers/handlers.h"

#include <stdlib.h>

#include "handlers/app.h"
#include "handlers/params.h"
#include "storage/exports_store.h"

void
handle_exports_get(struct request *req, struct response *res)
{
    static const char *const known[] = {NULL};
    const struct config *cfg = req->app->cfg;
    const char **names = NULL;
    const char **kinds = NULL;
    json_t *items = NULL;
    char errbuf[ERRBUF_SIZE];
    size_t i;
    enum err rc;

    rc = params_known(req, known, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    if (cfg->nexports == 0) {
        response_json(res, 200, json_pack("{s:[]}", "items"));
        return;
    }
    names = xcalloc(cfg->nexports, sizeof(*names));
    kinds = xcalloc(cfg->nexports, sizeof(*kinds));
    for (i = 0; i < cfg->nexports; i++) {
        names[i] = cfg->exports[i].name;
        kinds[i] = export_kind_name(cfg->exports[i].kind);
    }
    rc = exports_store_list(req->db, names, kinds, cfg->nexports, &items, errbuf, sizeof(errbuf));
    free(names);
    free(kinds);
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    response_json(res, 200, json_pack("{s:o}", "items", items));
}
