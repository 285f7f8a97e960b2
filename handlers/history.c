/*
 * history.c - /api/v1/repos/history: why a repository is what it is
 *
 * The rows every event sent for one key (origin, path, branch), newest
 * first, each with what the merges did with it (storage/history_store.c).
 * Paged like the other keyset lists: `limit`, and `after`, an opaque cursor
 * the previous page's `next` link carries.
 */
#include "handlers/handlers.h"

#include <string.h>

#include "handlers/params.h"
#include "storage/history_store.h"

/* A key part: present (else 400 naming it) and valid UTF-8. */
static const char *
key_part(const struct request *req, const char *name, enum err *rc, char *errbuf, size_t errlen)
{
    const char *v = params_text(req, name, rc, errbuf, errlen);

    if (!*rc && !v)
        *rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                      "%s: required (a repository is origin, path and branch)", name);
    return v;
}

/* The filter of the request; ERR_BAD_INPUT with the reason in errbuf. */
static enum err
history_params(const struct request *req, struct history_filter *f, char *errbuf, size_t errlen)
{
    static const char *const known[] = {"origin", "path", "branch", "limit", "after", NULL};
    int64_t limit = 0;
    enum err rc;

    memset(f, 0, sizeof(*f));
    rc = params_known(req, known, errbuf, errlen);
    if (!rc)
        f->origin = key_part(req, "origin", &rc, errbuf, errlen);
    if (!rc)
        f->path = key_part(req, "path", &rc, errbuf, errlen);
    if (!rc)
        f->branch = key_part(req, "branch", &rc, errbuf, errlen);
    if (!rc)
        rc = params_int(req, "limit", 1, 1000, 100, &limit, errbuf, errlen);
    if (!rc)
        rc = params_cursor(req, "after", &f->after, errbuf, errlen);
    /* a cursor this API hands out always names an event (sequence >= 1) */
    if (!rc && f->after != 0 && (f->after >> HISTORY_CURSOR_ROW_BITS) == 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "after: not a cursor returned by this API");
    f->limit = (int)limit;
    return rc;
}

void
handle_repos_history(struct request *req, struct response *res)
{
    struct history_filter f;
    json_t *items = NULL;
    json_t *body;
    char errbuf[ERRBUF_SIZE];
    int64_t next_after = 0;
    enum err rc;

    rc = history_params(req, &f, errbuf, sizeof(errbuf));
    if (!rc)
        rc = history_store_list(req->db, &f, &items, &next_after, errbuf, sizeof(errbuf));
    if (rc) {
        response_error(res, req, rc, errbuf);
        return;
    }
    body = json_object();
    json_object_set_new(body, "items", items);
    if (next_after) {
        const char *const filters[] = {"origin", f.origin, "path", f.path,
                                       "branch", f.branch, NULL};

        json_object_set_new(
            body, "next", params_next_link("/api/v1/repos/history", filters, f.limit, next_after));
    } else {
        json_object_set_new(body, "next", json_null());
    }
    response_json(res, 200, body);
}
