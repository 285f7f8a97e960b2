/*
 * upload.c - decoding an uploaded CSV body
 */
#include "handlers/upload.h"

#include "codec/event_body.h"
#include "codec/repos_csv.h"
#include "handlers/app.h"

struct repos_csv *
upload_parse(const struct request *req, struct response *res)
{
    const struct config *cfg = req->app->cfg;
    struct repos_csv_limits lim = {cfg->max_columns, cfg->max_field_bytes, cfg->max_rows};
    struct repos_csv *doc;
    json_t *problem = NULL;

    doc = event_body_parse(req->body, req->body_len, &lim, &problem);
    if (doc)
        return doc;
    response_problem_json(res, req, problem);
    return NULL;
}
