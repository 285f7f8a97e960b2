/*
 * http_checks.c - what the HTTP adapter checks on a request's first callback
 *
 * Framing that two parties could read differently is refused at once, then
 * the route, the token's scope and the body's announced size and type are
 * checked; each refusal is a problem+json answer left latched for the end.
 */
#include "server/http_exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "handlers/app.h"
#include "server/auth.h"
#include "server/cors.h"
#include "server/router.h"

/* ---- early checks on the first callback ---- */

int
http_body_expected(struct exchange *ex)
{
    const char *cl = request_header(&ex->req, "Content-Length");
    const char *te = request_header(&ex->req, "Transfer-Encoding");

    return (cl && strcmp(cl, "0") != 0) || (te && strcasestr(te, "chunked"));
}

static void
start_body(struct exchange *ex)
{
    const struct config *cfg = ex->srv->app->cfg;
    const char *cl = request_header(&ex->req, "Content-Length");
    const char *te = request_header(&ex->req, "Transfer-Encoding");
    enum body_kind kind = (ex->route->flags & ROUTE_BODY_CSV)   ? BODY_CSV
                          : (ex->route->flags & ROUTE_BODY_RAW) ? BODY_RAW
                                                                : BODY_JSON;
    char errbuf[ERRBUF_SIZE];
    enum err rc;

    if ((ex->route->flags & (ROUTE_BODY_CSV | ROUTE_BODY_RAW)) && !cl &&
        !(te && strcasestr(te, "chunked"))) {
        response_problem(&ex->res, &ex->req, 411,
                         "a body is required: send Content-Length or chunked transfer", NULL);
        ex->latched = 1;
        return;
    }
    if (cl && strtoull(cl, NULL, 10) > cfg->max_body_bytes) {
        char detail[128];

        snprintf(detail, sizeof(detail), "body exceeds %zu bytes", cfg->max_body_bytes);
        response_problem(&ex->res, &ex->req, 413, detail, NULL);
        ex->latched = 1;
        return;
    }
    rc = body_intake_new(&ex->intake, kind, request_header(&ex->req, "Content-Type"),
                         request_header(&ex->req, "Content-Encoding"), cfg->max_body_bytes, errbuf,
                         sizeof(errbuf));
    if (rc) {
        response_error(&ex->res, &ex->req, rc, errbuf);
        ex->latched = 1;
    }
}

/*
 * The route's scope against the Authorization header (auth off: every route
 * is open). 401 with WWW-Authenticate without a known token, 403 naming the
 * scope when the token's is lower; the answer is latched.
 */
static int
authorized(struct exchange *ex)
{
    int need = auth_scope_parse(ex->route->scope);
    char detail[128];
    enum err rc;

    if (need <= AUTH_OPEN || !ex->srv->app->auth)
        return 1;
    rc = auth_keeper_check(ex->srv->app->auth, request_header(&ex->req, "Authorization"),
                           (enum auth_scope)need);
    if (rc == ERR_OK)
        return 1;
    if (rc == ERR_FORBIDDEN) {
        snprintf(detail, sizeof(detail), "this token lacks the scope \"%s\" this route needs",
                 auth_scope_name((enum auth_scope)need));
        response_problem(&ex->res, &ex->req, 403, detail, NULL);
    } else {
        response_problem(&ex->res, &ex->req, 401,
                         "a token is required: Authorization: Bearer <token> (or Basic with the "
                         "token as password)",
                         NULL);
        response_header(&ex->res, "WWW-Authenticate", "Bearer realm=\"ingestd\"");
    }
    ex->latched = 1;
    return 0;
}

/* 1 when the Transfer-Encoding value is exactly the chunked coding (blanks around allowed). */
static int
te_is_chunked(const char *te)
{
    size_t n;

    while (*te == ' ' || *te == '\t')
        te++;
    if (strncasecmp(te, "chunked", 7) != 0)
        return 0;
    for (n = 7; te[n] == ' ' || te[n] == '\t'; n++)
        ;
    return te[n] == '\0';
}

/*
 * What must be refused before anything else, answered at once with the
 * connection closed (no body is read, so none can be taken for the next
 * request): a request target or header block over the caps (414, 431), and
 * framing two parties could read differently (RFC 9112 6.1, 6.3: request
 * smuggling): Content-Length twice or with Transfer-Encoding, or a transfer
 * coding other than chunked (501). Returns 1 when it answered.
 */
static int
framing_refused(struct exchange *ex)
{
    const char *te = request_header(&ex->req, "Transfer-Encoding");
    char detail[160];

    if (ex->url_bytes > HTTP_MAX_URL_BYTES) {
        snprintf(detail, sizeof(detail), "request target exceeds %d bytes", HTTP_MAX_URL_BYTES);
        response_problem(&ex->res, &ex->req, 414, detail, NULL);
    } else if (ex->headers_seen > HTTP_MAX_HEADERS) {
        snprintf(detail, sizeof(detail), "more than %d header fields", HTTP_MAX_HEADERS);
        response_problem(&ex->res, &ex->req, 431, detail, NULL);
    } else if (ex->bad_fields) {
        response_problem(&ex->res, &ex->req, 400,
                         "a header field has a NUL, whitespace or a control character in its name, "
                         "or a NUL in its value",
                         NULL);
    } else if (ex->content_lengths > 1) {
        response_problem(&ex->res, &ex->req, 400, "more than one Content-Length", NULL);
    } else if (te && ex->content_lengths) {
        response_problem(&ex->res, &ex->req, 400,
                         "Content-Length and Transfer-Encoding together: send one of them", NULL);
    } else if (te && !te_is_chunked(te)) {
        response_problem(&ex->res, &ex->req, 501,
                         "transfer coding not supported: send Transfer-Encoding: chunked "
                         "(Content-Encoding: gzip for a compressed body)",
                         NULL);
    } else {
        return 0;
    }
    ex->latched = 1;
    ex->close_now = 1;
    return 1;
}

void
http_first_call(struct exchange *ex)
{
    char allow[64];
    enum router_result rr;

    if (framing_refused(ex))
        return;
    rr = router_match(app_routes, app_routes_count, ex->method, ex->path, ex->path_scratch,
                      &ex->route, ex->req.params, &ex->req.nparams, allow, sizeof(allow));
    if (rr == ROUTER_NOT_FOUND) {
        response_problem(&ex->res, &ex->req, 404, "no such resource", NULL);
        ex->latched = 1;
        return;
    }
    if (rr == ROUTER_BAD_METHOD &&
        cors_preflight(ex->srv->app->cfg->cors_origins, &ex->req, allow, &ex->res)) {
        ex->latched = 1; /* a preflight: 204, no authentication */
        return;
    }
    if (rr == ROUTER_BAD_METHOD) {
        char detail[128];

        snprintf(detail, sizeof(detail), "method %s is not allowed here (allowed: %s)", ex->method,
                 allow);
        response_problem(&ex->res, &ex->req, 405, detail, NULL);
        response_header(&ex->res, "Allow", "%s", allow);
        ex->latched = 1;
        return;
    }
    ex->req.route = ex->route;
    if (!authorized(ex))
        return;
    if (ex->route->flags & (ROUTE_BODY_CSV | ROUTE_BODY_JSON | ROUTE_BODY_RAW))
        start_body(ex);
}
