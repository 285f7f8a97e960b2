/*
 * body.c - request body intake
 *
 * Pipeline: wire bytes -> [gzip_decoder] -> [multipart] -> capped buffer;
 * a JSON body also passes json_shape, which caps what parsing it will cost
 * (413 past BODY_JSON_MAX_CONTAINERS objects and arrays or
 * BODY_JSON_MAX_VALUES values: a 100,000-record S3 event batch, the largest
 * body a JSON route takes, has about 700,000 and 3,700,000).
 */
#include "server/body.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "codec/gzip_decoder.h"
#include "codec/json_shape.h"
#include "codec/multipart.h"

#define BODY_JSON_MAX_CONTAINERS ((size_t)1000000)
#define BODY_JSON_MAX_VALUES ((size_t)5000000)

struct body_intake {
    int json; /* BODY_JSON: json_shape counts */
    struct json_shape shape;
    size_t max_bytes;
    size_t raw_len;
    struct gzip_decoder *gz;
    struct multipart *mp;
    struct buf out;
};

/* Compare the media type part of a Content-Type value (before ';'). */
static int
media_is(const char *ct, const char *type)
{
    size_t n = strlen(type);

    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, type, n) != 0)
        return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* A charset parameter other than utf-8 is unsupported. */
static int
charset_ok(const char *ct)
{
    const char *p = strcasestr(ct, "charset=");
    const char *v;

    if (!p)
        return 1;
    v = p + strlen("charset=");
    if (*v == '"')
        v++;
    return strncasecmp(v, "utf-8", 5) == 0 || strncasecmp(v, "utf8", 4) == 0 ||
           strncasecmp(v, "us-ascii", 8) == 0;
}

static enum err
sink_out(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct body_intake *bi = ctx;
    enum err rc;

    if (bi->json) {
        rc = json_shape_feed(&bi->shape, data, len, errbuf, errlen);
        if (rc)
            return rc;
    }
    if (buf_append(&bi->out, data, len))
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "body exceeds %zu bytes", bi->max_bytes);
    return ERR_OK;
}

static enum err
sink_after_gzip(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct body_intake *bi = ctx;

    if (bi->mp)
        return multipart_feed(bi->mp, data, len, errbuf, errlen);
    return sink_out(ctx, data, len, errbuf, errlen);
}

enum err
body_intake_new(struct body_intake **out, enum body_kind kind, const char *content_type,
                const char *content_encoding, size_t max_bytes, char *errbuf, size_t errlen)
{
    struct body_intake *bi = NULL;
    char boundary[128];
    int multipart = 0;
    enum err rc = ERR_OK;

    *out = NULL;
    if (content_encoding && *content_encoding && strcasecmp(content_encoding, "identity") != 0 &&
        strcasecmp(content_encoding, "gzip") != 0 && strcasecmp(content_encoding, "x-gzip") != 0)
        return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                       "content encoding \"%s\" is not supported (use gzip or none)",
                       content_encoding);
    if (content_type && *content_type && kind != BODY_RAW) {
        if (kind == BODY_CSV && media_is(content_type, "multipart/form-data")) {
            rc = multipart_boundary(content_type, boundary, sizeof(boundary), errbuf, errlen);
            if (rc)
                return rc;
            multipart = 1;
        } else if (kind == BODY_CSV && !media_is(content_type, "text/csv")) {
            return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                           "content type must be text/csv or multipart/form-data");
        } else if (kind == BODY_JSON && !media_is(content_type, "application/json")) {
            return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                           "content type must be application/json");
        }
        if (!multipart && !charset_ok(content_type))
            return err_set(ERR_UNSUPPORTED, errbuf, errlen, "charset must be utf-8");
    }
    bi = xcalloc(1, sizeof(*bi));
    bi->max_bytes = max_bytes;
    bi->json = kind == BODY_JSON;
    json_shape_init(&bi->shape, BODY_JSON_MAX_CONTAINERS, BODY_JSON_MAX_VALUES);
    buf_init(&bi->out, max_bytes);
    if (multipart)
        bi->mp = multipart_new(boundary, sink_out, bi);
    if (content_encoding &&
        (strcasecmp(content_encoding, "gzip") == 0 || strcasecmp(content_encoding, "x-gzip") == 0))
        bi->gz = gzip_decoder_new(max_bytes, sink_after_gzip, bi);
    *out = bi;
    return ERR_OK;
}

enum err
body_intake_feed(struct body_intake *bi, const char *data, size_t len, char *errbuf, size_t errlen)
{
    if (len > bi->max_bytes || bi->raw_len > bi->max_bytes - len)
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "body exceeds %zu bytes", bi->max_bytes);
    bi->raw_len += len;
    if (bi->gz)
        return gzip_decoder_feed(bi->gz, data, len, errbuf, errlen);
    return sink_after_gzip(bi, data, len, errbuf, errlen);
}

enum err
body_intake_finish(struct body_intake *bi, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    if (bi->gz) {
        rc = gzip_decoder_finish(bi->gz, errbuf, errlen);
        if (rc)
            return rc;
    }
    if (bi->mp)
        rc = multipart_finish(bi->mp, errbuf, errlen);
    if (!rc && !bi->out.data)
        buf_reserve(&bi->out, 0);
    return rc;
}

const char *
body_intake_data(const struct body_intake *bi, size_t *len)
{
    *len = bi->out.len;
    return bi->out.data ? bi->out.data : "";
}

size_t
body_intake_raw_len(const struct body_intake *bi)
{
    return bi->raw_len;
}

const char *
body_intake_filename(const struct body_intake *bi)
{
    return bi->mp ? multipart_filename(bi->mp) : NULL;
}

void
body_intake_free(struct body_intake *bi)
{
    if (!bi)
        return;
    gzip_decoder_free(bi->gz);
    multipart_free(bi->mp);
    buf_release(&bi->out);
    free(bi);
}
