/*
 * docs.c - GET /docs: the API reference
 *
 * The page is openapi.yaml rendered as HTML when the binary was built
 * (openapi/openapi_html.c, embedded by cmake/embed.cmake), so it always
 * describes the running version. Served from memory without a copy, on the
 * HTTP thread; its ETag is a digest of the page, and If-None-Match naming
 * it gives 304.
 */
#include "handlers/handlers.h"

#include "handlers/html.h"
#include "storage/embedded.h"

/* The embedded page lives as long as the process: nothing to release. */
static void
docs_release(void *ctx)
{
    (void)ctx;
}

void
handle_docs_get(struct request *req, struct response *res)
{
    const char *inm = request_header(req, "If-None-Match");

    response_header(res, "ETag", "%s", embedded_docs_html_etag);
    response_header(res, "Cache-Control", "no-cache");
    if (inm && html_etag_matches(inm, embedded_docs_html_etag)) {
        res->status = 304;
        res->not_modified_len = embedded_docs_html_len; /* the 200's Content-Length */
        return;
    }
    res->status = 200;
    html_page_headers(res);
    res->shared_data = embedded_docs_html;
    res->shared_len = embedded_docs_html_len;
    res->shared_release = docs_release;
    res->shared_ctx = NULL;
}
