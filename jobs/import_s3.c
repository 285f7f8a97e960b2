/*
 * import_s3.c - the S3 side of an import location s3://bucket/prefix/
 *
 * The sizes of the last listing are kept (sorted by name), so a file over
 * the cap is refused by its listed size without being fetched; its key is
 * then the SHA-256 of its ETag and size (the bytes were never read).
 */
#include "jobs/import_s3.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/s3_client.h"
#include "core/hex.h"

struct listed {
    char *name;
    uint64_t size;
    char *etag;
};

struct import_s3 {
    struct s3_client *client;
    char *bucket;
    char *prefix; /* "" or ending in '/' */
    struct listed *seen;
    size_t nseen;
};

static char *keyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* printf into a new string (a key). */
static char *
keyf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *out;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    out = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

struct import_s3 *
import_s3_new(const char *location, const struct s3_client_config *cfg)
{
    struct import_s3 *s = xcalloc(1, sizeof(*s));
    const char *b = location + 5; /* after s3:// */
    const char *slash = strchr(b, '/');

    s->bucket = slash ? xstrndup(b, (size_t)(slash - b)) : xstrdup(b);
    s->prefix = xstrdup(slash ? slash + 1 : "");
    s->client = s3_client_new(cfg);
    return s;
}

static void
seen_clear(struct import_s3 *s)
{
    size_t i;

    for (i = 0; i < s->nseen; i++) {
        free(s->seen[i].name);
        free(s->seen[i].etag);
    }
    free(s->seen);
    s->seen = NULL;
    s->nseen = 0;
}

void
import_s3_free(struct import_s3 *s)
{
    if (!s)
        return;
    seen_clear(s);
    s3_client_free(s->client);
    free(s->bucket);
    free(s->prefix);
    free(s);
}

static int
cmp_listed(const void *a, const void *b)
{
    return strcmp(((const struct listed *)a)->name, ((const struct listed *)b)->name);
}

/* Keep one page's files: their names into ready, their sizes for import_s3_read(). */
static void
take_page(struct import_s3 *s, const struct s3_list_page *page, size_t plen,
          struct import_names *ready, size_t max_names)
{
    size_t i;

    for (i = 0; i < page->count && ready->n < max_names; i++) {
        const char *name = page->entries[i].key + plen;

        if (strlen(page->entries[i].key) <= plen || strchr(name, '/') || name[0] == '.')
            continue;
        import_names_push(ready, name);
        s->seen = xrealloc(s->seen, (s->nseen + 1) * sizeof(*s->seen));
        s->seen[s->nseen].name = xstrdup(name);
        s->seen[s->nseen].size = page->entries[i].size;
        s->seen[s->nseen].etag = xstrdup(page->entries[i].etag ? page->entries[i].etag : "");
        s->nseen++;
    }
}

enum err
import_s3_list(struct import_s3 *s, struct import_names *ready, size_t max_names, char *errbuf,
               size_t errlen)
{
    char *pending = NULL;
    char *token = NULL;
    struct s3_list_page page;
    size_t plen;
    enum err rc = ERR_OK;

    seen_clear(s);
    pending = keyf("%spending/", s->prefix);
    plen = strlen(pending);
    do {
        s3_list_page_init(&page);
        rc = s3_client_list_objects(s->client, s->bucket, pending, token, 1000, &page, errbuf,
                                    errlen);
        free(token);
        token = NULL;
        if (!rc) {
            take_page(s, &page, plen, ready, max_names);
            if (page.is_truncated && page.next_continuation_token && ready->n < max_names)
                token = xstrdup(page.next_continuation_token);
        }
        s3_list_page_release(&page);
    } while (!rc && token);
    if (s->nseen > 1)
        qsort(s->seen, s->nseen, sizeof(*s->seen), cmp_listed);
    free(pending);
    return rc;
}

/* What GET streams into: everything hashed, at most max_bytes kept. */
struct fetch {
    EVP_MD_CTX *md;
    struct buf *content;
    size_t max_bytes;
    size_t bytes;
    int too_large;
};

static enum err
fetch_sink(void *ctx, const char *data, size_t len, char *errbuf, size_t errlen)
{
    struct fetch *f = ctx;

    (void)errbuf;
    (void)errlen;
    EVP_DigestUpdate(f->md, data, len);
    f->bytes += len;
    if (!f->too_large && f->bytes > f->max_bytes) {
        f->too_large = 1;
        buf_reset(f->content);
    }
    if (!f->too_large && buf_append(f->content, data, len))
        abort(); /* the cap is above max_bytes: cannot happen */
    return ERR_OK;
}

static void
sha256_text(const char *s, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(s, len, md, &n, EVP_sha256(), NULL);
    hex_encode(out, md, n);
}

enum err
import_s3_read(struct import_s3 *s, const char *name, size_t max_bytes, struct buf *content,
               enum import_read_kind *kind, size_t *bytes, char sha256[65], char *errbuf,
               size_t errlen)
{
    struct listed probe = {(char *)(uintptr_t)name, 0, NULL};
    const struct listed *l =
        s->nseen ? bsearch(&probe, s->seen, s->nseen, sizeof(*s->seen), cmp_listed) : NULL;
    struct fetch f;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char *key;
    long status = 0;
    enum err rc;

    buf_reset(content);
    *bytes = 0;
    *kind = IMPORT_READ_GONE;
    sha256_text("", 0, sha256);
    if (l && l->size > max_bytes) { /* refused by its listed size, never fetched */
        char *id = keyf("etag %s size %llu", l->etag, (unsigned long long)l->size);

        sha256_text(id, strlen(id), sha256);
        free(id);
        *bytes = (size_t)l->size;
        *kind = IMPORT_READ_TOO_LARGE;
        return ERR_OK;
    }
    memset(&f, 0, sizeof(f));
    f.md = EVP_MD_CTX_new();
    f.content = content;
    f.max_bytes = max_bytes;
    if (!f.md || !EVP_DigestInit_ex(f.md, EVP_sha256(), NULL))
        abort();
    key = keyf("%spending/%s", s->prefix, name);
    rc = s3_client_get(s->client, s->bucket, key, fetch_sink, &f, &status, errbuf, errlen);
    EVP_DigestFinal_ex(f.md, digest, &dlen);
    EVP_MD_CTX_free(f.md);
    free(key);
    if (rc == ERR_NOT_FOUND || (rc && status == 404))
        return ERR_OK; /* gone: moved by another replica */
    if (rc)
        return rc;
    hex_encode(sha256, digest, dlen);
    *bytes = f.bytes;
    *kind = f.too_large ? IMPORT_READ_TOO_LARGE : IMPORT_READ_OK;
    return ERR_OK;
}

enum err
import_s3_move(struct import_s3 *s, const char *name, const char *date, const char *sha256,
               char *errbuf, size_t errlen)
{
    char *src = keyf("%spending/%s", s->prefix, name);
    char *dst = date ? keyf("%sprocessed/%s/%s", s->prefix, date, name)
                     : keyf("%sfailed/%s", s->prefix, name);
    uint64_t size = 0;
    enum err rc;

    rc = s3_client_head(s->client, s->bucket, dst, &size, errbuf, errlen);
    if (rc == ERR_OK) { /* never replace: the same name published again */
        char *alt = keyf("%s~%.12s", dst, sha256);

        free(dst);
        dst = alt;
    }
    rc = s3_client_copy(s->client, s->bucket, src, NULL, s->bucket, dst, errbuf, errlen);
    if (rc == ERR_NOT_FOUND)
        rc = ERR_OK; /* gone already: another replica moved it */
    else if (!rc)
        rc = s3_client_delete(s->client, s->bucket, src, NULL, errbuf, errlen);
    free(dst);
    free(src);
    return rc;
}

enum err
import_s3_write_problem(struct import_s3 *s, const char *name, json_t *problem, char *errbuf,
                        size_t errlen)
{
    char *text = json_dumps(problem, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *key = keyf("%sfailed/%s.problem.json", s->prefix, name);
    enum err rc;

    rc = s3_client_put(s->client, s->bucket, key, text, strlen(text), "application/problem+json",
                       errbuf, errlen);
    free(key);
    free(text);
    return rc;
}
