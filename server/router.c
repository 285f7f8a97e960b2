/*
 * router.c - method + path pattern matching
 */
#include "server/router.h"

#include <string.h>

/* Match path against pattern; fills params (pointing into scratch). */
static int
pattern_match(const char *pattern, const char *path, char *scratch, const char **params,
              size_t *nparams)
{
    const char *p = pattern;
    char *s;
    size_t np = 0;

    strcpy(scratch, path);
    s = scratch;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            char *se = strchr(s, '/');

            if (!pe)
                return 0;
            if (se == s)
                return 0; /* empty segment */
            if (np == REQUEST_MAX_PARAMS)
                return 0;
            params[np++] = s;
            p = pe + 1;
            if (se) {
                if (*p != '/')
                    return 0;
                *se = '\0';
                s = se + 1;
                p++;
            } else {
                s += strlen(s);
            }
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    if (*p || *s)
        return 0;
    *nparams = np;
    return 1;
}

static void
allow_add(char *allow, size_t allowlen, const char *method)
{
    size_t len = strlen(allow);

    if (strstr(allow, method))
        return;
    if (len + strlen(method) + 3 > allowlen)
        return;
    if (len)
        strcat(allow, ", ");
    strcat(allow, method);
}

/* Skip to the start of the next segment of a pattern ("" at its end). */
static const char *
next_segment(const char *p)
{
    const char *slash = strchr(p, '/');

    return slash ? slash + 1 : p + strlen(p);
}

/*
 * Order of two patterns that match the same path: < 0 when a is more
 * literal (at the first segment where one is `{name}` and the other is not,
 * a has the literal), 0 when they have the same shape.
 */
static int
pattern_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        int pa = *a == '{';
        int pb = *b == '{';

        if (pa != pb)
            return pa - pb;
        a = next_segment(a);
        b = next_segment(b);
    }
    return 0;
}

/* The most literal pattern among the routes matching path, or NULL when none does. */
static const char *
best_shape(const struct route *routes, size_t n, const char *path, char *scratch)
{
    const char *tmp[REQUEST_MAX_PARAMS];
    const char *best = NULL;
    size_t ntmp;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!pattern_match(routes[i].pattern, path, scratch, tmp, &ntmp))
            continue;
        if (!best || pattern_cmp(routes[i].pattern, best) < 0)
            best = routes[i].pattern;
    }
    return best;
}

enum router_result
router_match(const struct route *routes, size_t n, const char *method, const char *path,
             char *scratch, const struct route **out, const char **params, size_t *nparams,
             char *allow, size_t allowlen)
{
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    const char *tmp[REQUEST_MAX_PARAMS];
    const char *best;
    size_t ntmp;
    size_t i;

    if (allowlen)
        allow[0] = '\0';
    best = best_shape(routes, n, path, scratch);
    if (!best)
        return ROUTER_NOT_FOUND;
    for (i = 0; i < n; i++) {
        if (pattern_cmp(routes[i].pattern, best) != 0 ||
            !pattern_match(routes[i].pattern, path, scratch, tmp, &ntmp))
            continue;
        if (strcmp(routes[i].method, want) == 0) {
            /* match again so params point at a clean copy */
            pattern_match(routes[i].pattern, path, scratch, params, nparams);
            *out = &routes[i];
            return ROUTER_FOUND;
        }
    }
    for (i = 0; i < n; i++) {
        if (pattern_cmp(routes[i].pattern, best) != 0 ||
            !pattern_match(routes[i].pattern, path, scratch, tmp, &ntmp))
            continue;
        allow_add(allow, allowlen, routes[i].method);
        if (strcmp(routes[i].method, "GET") == 0)
            allow_add(allow, allowlen, "HEAD");
    }
    return ROUTER_BAD_METHOD;
}
