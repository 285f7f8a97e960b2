/*
 * html.h - what the HTML pages (GET /, GET /docs) share
 *
 * The pages are self-contained: inline CSS and SVG only, no script, nothing
 * fetched from elsewhere. HTML_CSP says so to the browser, which then
 * refuses (and reports on its console) anything else.
 */
#ifndef INGESTD_HTML_H
#define INGESTD_HTML_H

#include <stddef.h>

#include "core/buf.h"
#include "handlers/request.h"

#define HTML_CONTENT_TYPE "text/html; charset=utf-8"
#define HTML_CSP                                                                                   \
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "              \
    "form-action 'none'; frame-ancestors 'none'"

/*
 * Append s[0..len) to out with & < > " ' escaped, so it is safe as element
 * text and inside a double- or single-quoted attribute value. Bytes are
 * copied otherwise unchanged (the database holds valid UTF-8).
 */
void html_escape(struct buf *out, const char *s, size_t len);
/* The same for a NUL-terminated string; NULL appends nothing. */
void html_escape_str(struct buf *out, const char *s);

/* Content-Type, Content-Security-Policy and X-Content-Type-Options of a page. */
void html_page_headers(struct response *res);
/* The same with another Content-Security-Policy (HTML_CSP and what a page adds). */
void html_page_headers_csp(struct response *res, const char *csp);

/*
 * 1 when If-None-Match (a list of entity tags, or "*") names `etag` (a
 * strong tag with its quotes), comparing weakly as RFC 9110 13.1.2 says.
 */
int html_etag_matches(const char *if_none_match, const char *etag);

#endif
