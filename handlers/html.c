/*
 * html.c - escaping and the common headers of the HTML pages
 */
#include "handlers/html.h"

#include <stdlib.h>
#include <string.h>

void
html_escape(struct buf *out, const char *s, size_t len)
{
    size_t start = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        const char *rep;

        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        buf_append(out, s + start, i - start);
        buf_append_str(out, rep);
        start = i + 1;
    }
    buf_append(out, s + start, len - start);
}

void
html_escape_str(struct buf *out, const char *s)
{
    if (s)
        html_escape(out, s, strlen(s));
}

void
html_page_headers_csp(struct response *res, const char *csp)
{
    free(res->content_type);
    res->content_type = xstrdup(HTML_CONTENT_TYPE);
    response_header(res, "Content-Security-Policy", "%s", csp);
    response_header(res, "X-Content-Type-Options", "nosniff");
}

void
html_page_headers(struct response *res)
{
    html_page_headers_csp(res, HTML_CSP);
}

int
html_etag_matches(const char *if_none_match, const char *etag)
{
    const char *p = if_none_match;
    size_t n = strlen(etag);

    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, n) == 0 &&
            (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
            return 1;
        p = strchr(p, ',');
    }
    return 0;
}
