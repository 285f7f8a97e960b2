/*
 * auth.c - bearer tokens with scopes: parsing, constant-time checks, reload
 */
#include "server/auth.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/hex.h"

#define AUTH_DIGEST 32
#define AUTH_MAX_HEADER 4096    /* longer Authorization values are refused unread */
#define AUTH_MAX_FILE (1 << 20) /* a token file is small */

struct auth_entry {
    unsigned char digest[AUTH_DIGEST];
    enum auth_scope scope;
};

struct auth {
    struct auth_entry *entries;
    size_t n;
    size_t alloc;
};

struct auth_keeper {
    pthread_rwlock_t lock;
    struct auth *cur;
};

static void
sha256(const void *data, size_t len, unsigned char out[AUTH_DIGEST])
{
    unsigned int n = 0;

    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != AUTH_DIGEST)
        abort();
}

int
auth_scope_parse(const char *name)
{
    if (!name)
        return AUTH_OPEN;
    if (strcmp(name, "read") == 0)
        return AUTH_READ;
    if (strcmp(name, "write") == 0)
        return AUTH_WRITE;
    if (strcmp(name, "admin") == 0)
        return AUTH_ADMIN;
    return -1;
}

const char *
auth_scope_name(enum auth_scope scope)
{
    switch (scope) {
    case AUTH_READ:
        return "read";
    case AUTH_WRITE:
        return "write";
    case AUTH_ADMIN:
        return "admin";
    case AUTH_OPEN:
        break;
    }
    return "open";
}

/* A token is printable ASCII without spaces or commas (so lists stay unambiguous). */
static int
token_ok(const char *t, size_t len)
{
    size_t i;

    if (len == 0)
        return 0;
    for (i = 0; i < len; i++)
        if (t[i] <= ' ' || t[i] > '~' || t[i] == ',')
            return 0;
    return 1;
}

/* Add one "scope:token" or "scope:sha256:<hex>" entry (no surrounding blanks). */
static enum err
add_entry(struct auth *a, const char *e, size_t len, const char *what, size_t no, char *errbuf,
          size_t errlen)
{
    const char *colon = memchr(e, ':', len);
    const char *tok;
    size_t tok_len;
    struct auth_entry *ent;
    char scope[8];
    int sc = -1;

    if (!colon)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "%s: entry %zu: want scope:token (scope read, write or admin)", what, no);
    if ((size_t)(colon - e) < sizeof(scope)) {
        memcpy(scope, e, (size_t)(colon - e));
        scope[colon - e] = '\0';
        sc = auth_scope_parse(scope);
    }
    if (sc <= 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "%s: entry %zu: unknown scope (want read, write or admin)", what, no);
    tok = colon + 1;
    tok_len = len - (size_t)(tok - e);
    if (!token_ok(tok, tok_len))
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "%s: entry %zu: empty token or a space, comma or control character in it",
                       what, no);
    if (a->n == a->alloc) {
        a->alloc = a->alloc ? 2 * a->alloc : 8;
        a->entries = xrealloc(a->entries, a->alloc * sizeof(*a->entries));
    }
    ent = &a->entries[a->n];
    ent->scope = (enum auth_scope)sc;
    if (tok_len > 7 && strncmp(tok, "sha256:", 7) == 0) {
        if (tok_len != 7 + 2 * AUTH_DIGEST || hex_decode(ent->digest, tok + 7, AUTH_DIGEST) != 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "%s: entry %zu: sha256: wants 64 hex digits", what, no);
    } else {
        sha256(tok, tok_len, ent->digest);
    }
    a->n++;
    return ERR_OK;
}

static int
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Add the entries of `text`, separated by `sep` (',' or '\n'); blanks around
 * entries are ignored, and so are empty entries and, with comments, lines
 * starting with '#'.
 */
static enum err
add_list(struct auth *a, const char *text, char sep, int comments, const char *what, char *errbuf,
         size_t errlen)
{
    const char *p = text;
    size_t no = 0;
    enum err rc = ERR_OK;

    while (!rc && *p) {
        const char *end = strchr(p, sep);
        const char *e = p;
        const char *z;

        if (!end)
            end = p + strlen(p);
        z = end;
        while (e < z && is_blank(*e))
            e++;
        while (z > e && is_blank(z[-1]))
            z--;
        no++;
        if (z > e && !(comments && *e == '#'))
            rc = add_entry(a, e, (size_t)(z - e), what, no, errbuf, errlen);
        p = *end ? end + 1 : end;
    }
    return rc;
}

static enum err
read_small_file(const char *path, struct buf *out, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;
    enum err rc = ERR_OK;

    if (!f)
        return err_set(ERR_UNAVAILABLE, errbuf, errlen,
                       "INGESTD_API_TOKENS_FILE: cannot open %s: %s", path, strerror(errno));
    while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(out, chunk, n);
    if (!rc && ferror(f))
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "INGESTD_API_TOKENS_FILE: cannot read %s",
                     path);
    else if (rc)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "INGESTD_API_TOKENS_FILE: %s is larger than %d bytes", path, AUTH_MAX_FILE);
    fclose(f);
    return rc;
}

enum err
auth_new(const char *list, const char *file_path, struct auth **out, char *errbuf, size_t errlen)
{
    struct auth *a = NULL;
    struct buf text;
    enum err rc = ERR_OK;

    *out = NULL;
    buf_init(&text, AUTH_MAX_FILE);
    if (!list && !file_path)
        goto out;
    a = xcalloc(1, sizeof(*a));
    if (list)
        rc = add_list(a, list, ',', 0, "INGESTD_API_TOKENS", errbuf, errlen);
    if (!rc && file_path)
        rc = read_small_file(file_path, &text, errbuf, errlen);
    if (!rc && file_path)
        rc = add_list(a, text.data ? text.data : "", '\n', 1, "INGESTD_API_TOKENS_FILE", errbuf,
                      errlen);
    if (!rc && a->n == 0)
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen,
                     "%s: no token (unset the variable to run without auth)",
                     list ? "INGESTD_API_TOKENS" : "INGESTD_API_TOKENS_FILE");
    if (!rc) {
        *out = a;
        a = NULL;
    }
out:
    auth_free(a);
    buf_release(&text);
    return rc;
}

void
auth_free(struct auth *a)
{
    if (!a)
        return;
    OPENSSL_cleanse(a->entries, a->n * sizeof(*a->entries));
    free(a->entries);
    free(a);
}

size_t
auth_count(const struct auth *a)
{
    return a ? a->n : 0;
}

/* The token of an Authorization value into tok (NUL-terminated); 0 when there is none. */
static int
presented_token(const char *authorization, char *tok, size_t toklen, size_t *len)
{
    const char *p = authorization;
    size_t n = strlen(p);

    if (n > AUTH_MAX_HEADER)
        return 0;
    if (strncasecmp(p, "Bearer ", 7) == 0) {
        p += 7;
        while (*p == ' ')
            p++;
        n = strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0 || n >= toklen)
            return 0;
        memcpy(tok, p, n);
    } else if (strncasecmp(p, "Basic ", 6) == 0) {
        unsigned char raw[AUTH_MAX_HEADER];
        size_t b64;
        int dec;
        const char *colon;

        p += 6;
        while (*p == ' ')
            p++;
        b64 = strlen(p);
        while (b64 && (p[b64 - 1] == ' ' || p[b64 - 1] == '\t'))
            b64--;
        if (b64 == 0 || b64 % 4 != 0)
            return 0;
        dec = EVP_DecodeBlock(raw, (const unsigned char *)p, (int)b64);
        if (dec < 0)
            return 0;
        dec -= (p[b64 - 1] == '=') + (p[b64 - 2] == '=');
        colon = memchr(raw, ':', (size_t)dec);
        if (!colon)
            return 0;
        n = (size_t)dec - (size_t)((const unsigned char *)colon + 1 - raw);
        if (n == 0 || n >= toklen)
            return 0;
        memcpy(tok, colon + 1, n);
        OPENSSL_cleanse(raw, sizeof(raw));
    } else {
        return 0;
    }
    tok[n] = '\0';
    *len = n;
    return 1;
}

enum err
auth_check(const struct auth *a, const char *authorization, enum auth_scope need)
{
    unsigned char digest[AUTH_DIGEST];
    char tok[AUTH_MAX_HEADER];
    size_t len = 0;
    int best = -1;
    size_t i;

    if (need == AUTH_OPEN || !a)
        return ERR_OK;
    if (!authorization || !presented_token(authorization, tok, sizeof(tok), &len))
        return ERR_UNAUTHORIZED;
    sha256(tok, len, digest);
    OPENSSL_cleanse(tok, len);
    for (i = 0; i < a->n; i++) { /* every entry, no early exit */
        int match = CRYPTO_memcmp(digest, a->entries[i].digest, AUTH_DIGEST) == 0;
        int scope = (int)a->entries[i].scope;

        best = match && scope > best ? scope : best;
    }
    if (best < 0)
        return ERR_UNAUTHORIZED;
    return best >= (int)need ? ERR_OK : ERR_FORBIDDEN;
}

/* ---- keeper ---- */

struct auth_keeper *
auth_keeper_new(struct auth *initial)
{
    struct auth_keeper *k = xcalloc(1, sizeof(*k));

    pthread_rwlock_init(&k->lock, NULL);
    k->cur = initial;
    return k;
}

void
auth_keeper_free(struct auth_keeper *k)
{
    if (!k)
        return;
    auth_free(k->cur);
    pthread_rwlock_destroy(&k->lock);
    free(k);
}

enum err
auth_keeper_check(struct auth_keeper *k, const char *authorization, enum auth_scope need)
{
    enum err rc;

    if (need == AUTH_OPEN)
        return ERR_OK;
    pthread_rwlock_rdlock(&k->lock);
    rc = auth_check(k->cur, authorization, need);
    pthread_rwlock_unlock(&k->lock);
    return rc;
}

void
auth_keeper_swap(struct auth_keeper *k, struct auth *next)
{
    struct auth *old;

    pthread_rwlock_wrlock(&k->lock);
    old = k->cur;
    k->cur = next;
    pthread_rwlock_unlock(&k->lock);
    auth_free(old);
}

int
auth_keeper_enabled(struct auth_keeper *k)
{
    int on;

    pthread_rwlock_rdlock(&k->lock);
    on = k->cur != NULL;
    pthread_rwlock_unlock(&k->lock);
    return on;
}
