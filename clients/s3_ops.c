/*
 * s3_ops.c - the S3 client's bucket listings, copies and deletes (see s3_client.h)
 *
 * ListObjectsV2 (GET /bucket?list-type=2) and ListObjectVersions (GET
 * /bucket?versions) ask for encoding-type=url, so that any key survives the
 * XML (control characters included); the answer streams through
 * codec/s3_list_xml.c into the caller's page, which decodes the keys when
 * the answer says EncodingType url (servers that ignore the parameter send
 * plain keys and say nothing). An answer that does not read is ERR_UPSTREAM.
 *
 * CopyObject is a PUT with x-amz-copy-source and an empty body; S3 may answer
 * 200 and still fail the copy, with an <Error> document as the body, so
 * the body of its 200 is read as well. DeleteObject is a DELETE; S3 answers
 * 204 whether or not the key existed.
 *
 * The tries, retries and error kinds are s3_client.c's (s3_client_run()).
 * Thread-safety: as s3_client.h.
 */
#include <stdio.h>
#include <string.h>

#include "clients/s3_client.h"
#include "clients/s3_internal.h"
#include "codec/s3_list_xml.h"
#include "core/buf.h"

#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_LIST_MAX_KEYS 1000
#define S3_COPY_BODY_MAX 16384

/* ---- listings --------------------------------------------------------------- */

struct list_sink {
    struct s3_list_xml *xml;
    const char *what;
};

static enum err
list_feed(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct list_sink *ls = ctx;
    char why[ERRBUF_SIZE];

    if (s3_list_xml_feed(ls->xml, data, len, why, sizeof(why)))
        return err_set(ERR_UPSTREAM, errbuf, errlen, "s3 %s: %s", ls->what, why);
    return ERR_OK;
}

/* GET the bucket with params, the answer read as kind into page. */
static enum err
list_run(struct s3_client *c, const char *bucket, const char *operation, enum s3_list_kind kind,
         const char *const *params, struct s3_list_page *page, char *errbuf, size_t errlen)
{
    struct s3_request r;
    struct list_sink ls = {NULL, NULL};
    char why[ERRBUF_SIZE];
    enum err rc;

    s3_request_init(&r, "GET");
    if (!c || !page) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 GET: no client or no page");
        goto out;
    }
    rc = s3_request_prepare_bucket(c, &r, bucket, operation, errbuf, errlen);
    if (rc)
        goto out;
    rc = s3_request_set_query(&r, params, errbuf, errlen);
    if (rc)
        goto out;
    memcpy(r.payload_hash, S3_UNSIGNED_PAYLOAD, sizeof(S3_UNSIGNED_PAYLOAD));
    ls.xml = s3_list_xml_new(kind, page);
    ls.what = r.what;
    r.sink = list_feed;
    r.sink_ctx = &ls;
    rc = s3_client_run(c, &r, NULL, errbuf, errlen);
    if (rc)
        goto out;
    if (s3_list_xml_finish(ls.xml, why, sizeof(why)))
        rc = err_set(ERR_UPSTREAM, errbuf, errlen, "s3 %s: %s", r.what, why);
out:
    s3_list_xml_free(ls.xml);
    s3_request_release(&r);
    return rc;
}

/* max_keys as the query wants it: 1..1000, 0 meaning 1000. */
static void
max_keys_text(int max_keys, char out[16])
{
    if (max_keys <= 0 || max_keys > S3_LIST_MAX_KEYS)
        max_keys = S3_LIST_MAX_KEYS;
    snprintf(out, 16, "%d", max_keys);
}

enum err
s3_client_list_objects(struct s3_client *c, const char *bucket, const char *prefix,
                       const char *continuation_token, int max_keys, struct s3_list_page *page,
                       char *errbuf, size_t errlen)
{
    const char *params[12];
    char mk[16];
    size_t n = 0;

    max_keys_text(max_keys, mk);
    params[n++] = "list-type";
    params[n++] = "2";
    params[n++] = "encoding-type";
    params[n++] = "url";
    params[n++] = "max-keys";
    params[n++] = mk;
    if (prefix && *prefix) {
        params[n++] = "prefix";
        params[n++] = prefix;
    }
    if (continuation_token && *continuation_token) {
        params[n++] = "continuation-token";
        params[n++] = continuation_token;
    }
    params[n] = NULL;
    return list_run(c, bucket, "ListObjectsV2", S3_LIST_OBJECTS_V2, params, page, errbuf, errlen);
}

enum err
s3_client_list_versions(struct s3_client *c, const char *bucket, const char *prefix,
                        const char *key_marker, const char *version_id_marker, int max_keys,
                        struct s3_list_page *page, char *errbuf, size_t errlen)
{
    const char *params[14];
    char mk[16];
    size_t n = 0;

    max_keys_text(max_keys, mk);
    params[n++] = "versions";
    params[n++] = "";
    params[n++] = "encoding-type";
    params[n++] = "url";
    params[n++] = "max-keys";
    params[n++] = mk;
    if (prefix && *prefix) {
        params[n++] = "prefix";
        params[n++] = prefix;
    }
    if (key_marker && *key_marker) {
        params[n++] = "key-marker";
        params[n++] = key_marker;
        if (version_id_marker && *version_id_marker) {
            params[n++] = "version-id-marker";
            params[n++] = version_id_marker;
        }
    }
    params[n] = NULL;
    return list_run(c, bucket, "ListObjectVersions", S3_LIST_VERSIONS, params, page, errbuf,
                    errlen);
}

/* ---- copy and delete ------------------------------------------------------------- */

static enum err
copy_body(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct buf *b = ctx;
    size_t room = S3_COPY_BODY_MAX - b->len;

    (void)errbuf;
    (void)errlen;
    buf_append(b, data, len < room ? len : room);
    return ERR_OK;
}

enum err
s3_client_copy(struct s3_client *c, const char *src_bucket, const char *src_key,
               const char *src_version_id, const char *bucket, const char *key, char *errbuf,
               size_t errlen)
{
    struct s3_request r;
    struct buf body;
    const char *code;
    enum err rc;

    s3_request_init(&r, "PUT");
    buf_init(&body, S3_COPY_BODY_MAX);
    if (!c || !src_bucket || !src_key || !*src_key) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 PUT: no client or no copy source");
        goto out;
    }
    rc = s3_request_prepare(c, &r, bucket, key, errbuf, errlen);
    if (rc)
        goto out;
    s3_request_set_copy_source(&r, src_bucket, src_key, src_version_id);
    memcpy(r.payload_hash, S3_EMPTY_SHA256, sizeof(S3_EMPTY_SHA256));
    r.body = (const unsigned char *)"";
    r.body_len = 0;
    r.sink = copy_body;
    r.sink_ctx = &body;
    rc = s3_client_run(c, &r, NULL, errbuf, errlen);
    if (rc)
        goto out;
    code = body.data ? strstr(body.data, "<Error>") : NULL;
    if (code)
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "s3 %s: 200 with an error in the body",
                     r.what);
out:
    buf_release(&body);
    s3_request_release(&r);
    return rc;
}

enum err
s3_client_delete(struct s3_client *c, const char *bucket, const char *key, const char *version_id,
                 char *errbuf, size_t errlen)
{
    struct s3_request r;
    const char *params[3] = {"versionId", version_id, NULL};
    enum err rc;

    s3_request_init(&r, "DELETE");
    if (!c) {
        rc = err_set(ERR_INTERNAL, errbuf, errlen, "s3 DELETE: no client");
        goto out;
    }
    rc = s3_request_prepare(c, &r, bucket, key, errbuf, errlen);
    if (rc)
        goto out;
    if (version_id && *version_id) {
        rc = s3_request_set_query(&r, params, errbuf, errlen);
        if (rc)
            goto out;
    }
    memcpy(r.payload_hash, S3_UNSIGNED_PAYLOAD, sizeof(S3_UNSIGNED_PAYLOAD));
    rc = s3_client_run(c, &r, NULL, errbuf, errlen);
out:
    s3_request_release(&r);
    return rc;
}
