/*
 * presign.c - GET /api/v1/s3/presign and /api/v1/s3/presign/{id}: presigned URLs
 *
 * The filemanager's routes. The list is GET /api/v1/s3 with every filter and
 * its paging (handle_objects_list() answers it, so the two never differ),
 * current records only, each record replaced by a presigned GET URL of its
 * object; the {id} form answers the URL of one record as a JSON string. No
 * URL (the list leaves the record out, {id} answers null) for a record that
 * is not current, is in an archive storage class (GLACIER, DEEP_ARCHIVE:
 * S3 would refuse the GET) or is larger than INGESTD_PRESIGN_MAX_BYTES, so
 * a page may hold fewer URLs than its rowsPerPage, as the filemanager's. A
 * record whose bucket is no valid S3 bucket name (events may carry any) gets
 * none either.
 *
 * URLs live INGESTD_PRESIGN_EXPIRY seconds and are computed, not fetched
 * (clients/s3_presign.c): presigning asks nothing of S3. responseContentDisposition
 * is inline (default) or attachment (`attachment; filename="<key>"`), sent
 * as response-content-disposition. Without AWS credentials there is nothing
 * to sign with: 503.
 */
#include "handlers/handlers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/s3_client.h"
#include "core/buf.h"
#include "handlers/app.h"
#include "handlers/params.h"
#include "storage/s3_store.h"

#define PRESIGN_QUERY_MAX 512

/* What every URL of one request shares. */
struct presigner {
    struct s3_client *s3;
    int attachment;
    long expires_s;
    size_t max_bytes; /* 0: no limit */
    time_t now;
};

/* responseContentDisposition: inline (default) or attachment, as the filemanager spells them. */
static enum err
parse_disposition(const struct request *req, int *attachment, char *errbuf, size_t errlen)
{
    const char *v = request_query(req, "responseContentDisposition");

    *attachment = 0;
    if (!v || strcmp(v, "inline") == 0 || strcmp(v, "Inline") == 0)
        return ERR_OK;
    if (strcmp(v, "attachment") == 0 || strcmp(v, "Attachment") == 0) {
        *attachment = 1;
        return ERR_OK;
    }
    return err_set(ERR_BAD_INPUT, errbuf, errlen,
                   "responseContentDisposition: must be inline or attachment");
}

static enum err
presigner_init(struct presigner *p, const struct request *req, char *errbuf, size_t errlen)
{
    struct s3_client_config cfg;
    enum err rc;

    memset(p, 0, sizeof(*p));
    rc = parse_disposition(req, &p->attachment, errbuf, errlen);
    if (rc)
        return rc;
    s3_client_config_from(&cfg, &req->app->cfg->s3);
    p->s3 = s3_client_new(&cfg);
    if (!p->s3)
        return err_set(ERR_INTERNAL, errbuf, errlen, "cannot make an S3 client");
    p->expires_s = req->app->cfg->presign_expiry_s;
    p->max_bytes = req->app->cfg->presign_max_bytes;
    p->now = time(NULL);
    return ERR_OK;
}

/* 1 when S3 serves a GET of the record's object now: not archived, not over the size limit. */
static int
presignable(const struct presigner *p, json_t *record)
{
    const char *sc = json_string_value(json_object_get(record, "storageClass"));
    json_t *size = json_object_get(record, "size");

    if (sc && (strcmp(sc, "GLACIER") == 0 || strcmp(sc, "DEEP_ARCHIVE") == 0))
        return 0;
    if (p->max_bytes && json_is_integer(size) &&
        (uint64_t)json_integer_value(size) > (uint64_t)p->max_bytes)
        return 0;
    return 1;
}

/* The URL of a record (a new JSON string) into *url, or json null when it gets none. */
static enum err
record_url(const struct presigner *p, json_t *record, json_t **url, char *errbuf, size_t errlen)
{
    struct s3_presign ps;
    struct buf disposition;
    const char *key = json_string_value(json_object_get(record, "key"));
    const char *k;
    char *u = NULL;
    enum err rc;

    *url = json_null();
    if (!json_is_true(json_object_get(record, "isCurrentState")) || !presignable(p, record))
        return ERR_OK;
    buf_init(&disposition, 0);
    if (p->attachment) {
        /* RFC 6266 quoted-string: '"' and '\' escaped */
        buf_append_str(&disposition, "attachment; filename=\"");
        for (k = key; k && *k; k++) {
            if (*k == '"' || *k == '\\')
                buf_append_char(&disposition, '\\');
            buf_append_char(&disposition, *k);
        }
        buf_append_char(&disposition, '"');
    } else {
        buf_append_str(&disposition, "inline");
    }
    memset(&ps, 0, sizeof(ps));
    ps.bucket = json_string_value(json_object_get(record, "bucket"));
    ps.key = key;
    ps.content_disposition = disposition.data;
    ps.expires_s = p->expires_s;
    ps.now = p->now;
    rc = s3_client_presign(p->s3, &ps, &u, errbuf, errlen);
    if (!rc) {
        *url = json_string(u);
        free(u);
    }
    if (rc == ERR_BAD_INPUT) /* a bucket name S3 would refuse (events may carry any): no URL */
        rc = ERR_OK;
    buf_release(&disposition);
    return rc;
}

/*
 * The list's query without responseContentDisposition, with currentState=true
 * (only current objects have a URL; another currentState is 400).
 */
static enum err
list_query(const struct request *req, struct kv *out, size_t *n, char *errbuf, size_t errlen)
{
    static char cs_name[] = "currentState";
    static char cs_true[] = "true";
    size_t i;
    int has_state = 0;

    *n = 0;
    if (req->nquery >= PRESIGN_QUERY_MAX)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "at most %d query parameters",
                       PRESIGN_QUERY_MAX - 1);
    for (i = 0; i < req->nquery; i++) {
        if (strcmp(req->query[i].name, "responseContentDisposition") == 0)
            continue;
        if (strcmp(req->query[i].name, "currentState") == 0) {
            if (strcmp(req->query[i].value, "true") != 0)
                return err_set(ERR_BAD_INPUT, errbuf, errlen,
                               "currentState: presigned URLs are for current objects only");
            has_state = 1;
        }
        out[(*n)++] = req->query[i];
    }
    if (!has_state) {
        out[*n].name = cs_name;
        out[*n].value = cs_true;
        (*n)++;
    }
    return ERR_OK;
}

/* The links of the list, which lost responseContentDisposition in list_query(), with it. */
static void
fix_links(json_t *links, int attachment)
{
    const char *names[] = {"previous", "next"};
    const char *v;
    size_t i;

    for (i = 0; i < 2 && attachment; i++) {
        v = json_string_value(json_object_get(links, names[i]));
        if (v)
            json_object_set_new(links, names[i],
                                json_sprintf("%s&responseContentDisposition=attachment", v));
    }
}

/* The records of the list's 200 answer replaced by their URLs, in place. */
static enum err
urls_of_page(const struct presigner *p, json_t *page, char *errbuf, size_t errlen)
{
    json_t *records = json_object_get(page, "results");
    json_t *urls = json_array();
    json_t *url = NULL;
    size_t i;
    enum err rc = ERR_OK;

    for (i = 0; i < json_array_size(records) && !rc; i++) {
        rc = record_url(p, json_array_get(records, i), &url, errbuf, errlen);
        if (!rc && !json_is_null(url))
            json_array_append(urls, url);
        json_decref(url);
    }
    json_object_set_new(page, "results", urls);
    fix_links(json_object_get(page, "links"), p->attachment);
    return rc;
}

void
handle_presign_list(struct request *req, struct response *res)
{
    struct kv query[PRESIGN_QUERY_MAX];
    struct request sub = *req;
    struct response list;
    struct presigner p = {0};
    char errbuf[ERRBUF_SIZE];
    json_t *page = NULL;
    enum err rc;

    response_init(&list);
    rc = presigner_init(&p, req, errbuf, sizeof(errbuf));
    if (!rc)
        rc = list_query(req, query, &sub.nquery, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        goto out;
    }
    sub.query = query;
    handle_objects_list(&sub, &list);
    if (list.status != 200) { /* the list's own problem answer (a bad filter: 400) */
        response_release(res);
        *res = list;
        response_init(&list);
        goto out;
    }
    page = json_loadb(list.body.data, list.body.len, 0, NULL);
    rc = page ? urls_of_page(&p, page, errbuf, sizeof(errbuf))
              : err_set(ERR_INTERNAL, errbuf, sizeof(errbuf), "the list answer does not read");
    if (rc)
        response_error(res, req, rc, errbuf);
    else
        response_json(res, 200, json_incref(page));
out:
    json_decref(page);
    response_release(&list);
    s3_client_free(p.s3);
}

void
handle_presign_get(struct request *req, struct response *res)
{
    struct presigner p = {0};
    char errbuf[ERRBUF_SIZE];
    json_t *record = NULL;
    json_t *url = NULL;
    enum err rc;

    if (!params_uuid_ok(req->params[0])) {
        response_problem(res, req, 404, "no such object record", NULL);
        return;
    }
    rc = params_known(req, (const char *const[]){"responseContentDisposition", NULL}, errbuf,
                      sizeof(errbuf));
    if (!rc)
        rc = presigner_init(&p, req, errbuf, sizeof(errbuf));
    if (!rc)
        rc = s3_store_get(req->db, req->params[0], &record, errbuf, sizeof(errbuf));
    if (!rc)
        rc = record_url(&p, record, &url, errbuf, sizeof(errbuf));
    if (rc)
        response_error(res, req, rc, errbuf);
    else
        response_json(res, 200, url);
    json_decref(record);
    s3_client_free(p.s3);
}
