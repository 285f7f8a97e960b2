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

enum router_result
router_match(const struct route *routes, size_t n, const char *method, const char *path,
             char *scratch, const struct route **out, const char **params, size_t *nparams,
             char *allow, size_t allowlen)
{
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    const char *tmp[REQUEST_MAX_PARAMS];
    size_t ntmp;
    size_t i;
    int path_known = 0;

    if (allowlen)
        allow[0] = '\0';
    for (i = 0; i < n; i++) {
        if (!pattern_match(routes[i].pattern, path, scratch, tmp, &ntmp))
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, want) == 0) {
            /* match again so params point at a clean copy */
            pattern_match(routes[i].pattern, path, scratch, params, nparams);
            *out = &routes[i];
            return ROUTER_FOUND;
        }
    }
    if (!path_known)
        return ROUTER_NOT_FOUND;
    for (i = 0; i < n; i++) {
        if (!pattern_match(routes[i].pattern, path, scratch, tmp, &ntmp))
            continue;
        allow_add(allow, allowlen, routes[i].method);
        if (strcmp(routes[i].method, "GET") == 0)
            allow_add(allow, allowlen, "HEAD");
    }
    return ROUTER_BAD_METHOD;
}
