/*
 * s3_annotations.c - PATCH /api/v1/s3/{id} and PATCH /api/v1/s3 (annotations)
 *
 * The body is the filemanager's: a JSON Patch array (on `attributes`),
 * {"attributes": [patch]} or {"ingestId": [one operation]}. Attribute
 * patches are append-only (codec/json_patch.h); the ingest id takes one
 * add/replace (a UUID) or remove at path "/". PATCH /api/v1/s3 patches
 * every record the filters match (the list's filters, currentState=true by
 * default) and answers them as an array; PATCH /{id} answers the record.
 */
#include "handlers/handlers.h"

#include <string.h>

#include "codec/json_patch.h"
#include "handlers/params.h"
#include "handlers/s3_filter.h"
#include "storage/s3_store.h"

/* The ingest id an `ingestId` patch sets (NULL: remove) into p; ERR_BAD_INPUT otherwise. */
static enum err
ingest_id_patch(const json_t *ops, struct s3_patch *p, char *errbuf, size_t errlen)
{
    const json_t *o = json_array_get(ops, 0);
    const char *op = json_string_value(json_object_get(o, "op"));
    const char *path = json_string_value(json_object_get(o, "path"));
    const char *v = json_string_value(json_object_get(o, "value"));

    if (!json_is_array(ops) || json_array_size(ops) != 1 || !json_is_object(o))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "ingestId: expected one patch operation");
    if (!path || strcmp(path, "/") != 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "ingestId: expected the path \"/\"");
    if (op && strcmp(op, "remove") == 0) {
        p->ingest_id = NULL;
        return ERR_OK;
    }
    if (!op || (strcmp(op, "add") != 0 && strcmp(op, "replace") != 0))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "ingestId: expected an add, replace or remove operation");
    if (!v || !params_uuid_ok(v))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "ingestId: the value must be a UUID");
    p->ingest_id = v;
    return ERR_OK;
}

/* Read the body into *doc (owned) and p (borrowing from *doc). */
static enum err
parse_body(const struct request *req, json_t **doc, struct s3_patch *p, char *errbuf, size_t errlen)
{
    json_error_t jerr;
    json_t *attributes;
    json_t *ingest_id;

    memset(p, 0, sizeof(*p));
    *doc = req->body_len ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    if (!*doc)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "the body must be a JSON patch, {\"attributes\": patch} or {\"ingestId\": "
                       "patch}");
    attributes = json_object_size(*doc) == 1 ? json_object_get(*doc, "attributes") : NULL;
    ingest_id = json_object_size(*doc) == 1 ? json_object_get(*doc, "ingestId") : NULL;
    if (ingest_id)
        return ingest_id_patch(ingest_id, p, errbuf, errlen);
    p->ops = json_is_array(*doc) ? *doc : attributes;
    if (!p->ops)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "the body must be a JSON patch, {\"attributes\": patch} or {\"ingestId\": "
                       "patch}");
    return json_patch_check(p->ops, errbuf, errlen);
}

void
handle_objects_patch(struct request *req, struct response *res)
{
    struct s3_query q;
    struct s3_patch p;
    json_t *doc = NULL;
    json_t *items = NULL;
    char errbuf[ERRBUF_SIZE];
    const char *none[] = {NULL};
    enum err rc;

    s3_query_init(&q);
    if (!params_uuid_ok(req->params[0])) {
        response_problem(res, req, 404, "no such object record", NULL);
        return;
    }
    q.id = req->params[0];
    q.current_only = 0;
    rc = params_known(req, none, errbuf, sizeof(errbuf));
    if (!rc)
        rc = parse_body(req, &doc, &p, errbuf, sizeof(errbuf));
    if (!rc)
        rc = s3_store_patch(req->db, &q, &p, &items, errbuf, sizeof(errbuf));
    if (!rc && json_array_size(items) == 0)
        rc = err_set(ERR_NOT_FOUND, errbuf, sizeof(errbuf), "no such object record");
    if (rc)
        response_error(res, req, rc, errbuf);
    else
        response_json(res, 200, json_incref(json_array_get(items, 0)));
    json_decref(items);
    json_decref(doc);
    s3_query_release(&q);
}

void
handle_objects_patch_all(struct request *req, struct response *res)
{
    struct s3_query q;
    struct s3_patch p;
    json_t *doc = NULL;
    json_t *items = NULL;
    char errbuf[ERRBUF_SIZE];
    int64_t page = 1;
    enum err rc;

    s3_query_init(&q);
    rc = s3_filter_parse(req, S3_FILTER_PATCH, &q, &page, errbuf, sizeof(errbuf));
    if (!rc)
        rc = parse_body(req, &doc, &p, errbuf, sizeof(errbuf));
    if (!rc)
        rc = s3_store_patch(req->db, &q, &p, &items, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        items = NULL;
    } else {
        response_json(res, 200, items);
    }
    json_decref(doc);
    s3_query_release(&q);
}
