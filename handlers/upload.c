/*
 * upload.c - decoding an uploaded CSV body
 */
#include "handlers/upload.h"

#include <string.h>

#include "handlers/app.h"
#include "codec/repos_csv.h"

struct repos_csv *
upload_parse(const struct request *req, struct response *res)
{
    const struct config *cfg = req->app->cfg;
    struct repos_csv_limits lim = {cfg->max_columns, cfg->max_field_bytes, cfg->max_rows};
    struct repos_csv *doc;
    char errbuf[ERRBUF_SIZE];
    json_t *errors;
    size_t i;
    enum err rc;

    if (req->body_len == 0) {
        response_problem(res, req, 400, "empty body", NULL);
        return NULL;
    }
    if (memchr(req->body, '\0', req->body_len)) {
        response_problem(res, req, 400, "body contains a NUL byte", NULL);
        return NULL;
    }
    doc = repos_csv_new(&lim);
    rc = repos_csv_feed(doc, req->body, req->body_len, errbuf, sizeof(errbuf));
    if (!rc)
        rc = repos_csv_finish(doc, errbuf, sizeof(errbuf));
    if (!rc)
        return doc;
    errors = json_array();
    for (i = 0; i < doc->nerrors; i++) {
        json_t *e = json_object();

        if (doc->errors[i].line)
            json_object_set_new(e, "line", json_integer((json_int_t)doc->errors[i].line));
        json_object_set_new(e, "detail", json_string(doc->errors[i].detail));
        json_array_append_new(errors, e);
    }
    if (json_array_size(errors) == 0) {
        json_decref(errors);
        errors = NULL;
    }
    /* response_problem takes errors */
    response_problem(res, req, rc == ERR_TOO_LARGE ? 413 : 400, errbuf, errors);
    repos_csv_free(doc);
    return NULL;
}
