/*
 * buf.c - growable byte buffer with a hard cap
 */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Buffers of BUF_HUGE bytes or more (a rendered repos.csv, a large upload)
 * ask the kernel for transparent huge pages (MADV_HUGEPAGE: acted on where
 * THP is "madvise" or "always", ignored elsewhere). Filling fresh memory
 * then costs one fault per 2 MiB instead of one per 4 KiB page: a 180 MB
 * copy into a fresh buffer measured 525 ms with 4 KiB pages and 31-36 ms
 * with huge pages on a VM whose page faults are slow.
 */
#define BUF_HUGE ((size_t)8 << 20)

static void
advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);

    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* advice: failure changes nothing */
#else
    (void)p;
    (void)n;
#endif
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        abort();
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        abort();
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        abort();
    return q;
}

char *
xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void
buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void
buf_release(struct buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void
buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

enum err
buf_reserve(struct buf *b, size_t extra)
{
    size_t need;
    size_t n;

    if (b->cap && (extra > b->cap || b->len > b->cap - extra))
        return ERR_TOO_LARGE;
    need = b->len + extra + 1;
    if (need <= b->alloc)
        return ERR_OK;
    n = b->alloc ? b->alloc : 64;
    while (n < need)
        n *= 2;
    if (b->cap && n > b->cap + 1)
        n = b->cap + 1 > need ? b->cap + 1 : need;
    b->data = xrealloc(b->data, n);
    b->alloc = n;
    if (n >= BUF_HUGE)
        advise_huge(b->data, n);
    return ERR_OK;
}

enum err
buf_append(struct buf *b, const void *data, size_t len)
{
    enum err rc = buf_reserve(b, len);

    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return ERR_OK;
}

enum err
buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum err
buf_append_char(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

enum err
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    enum err rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return ERR_INTERNAL;
    rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return ERR_OK;
}

enum err
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    enum err rc;

    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *
buf_take(struct buf *b, size_t *len)
{
    char *p;

    if (!b->data) {
        buf_reserve(b, 0);
        b->data[0] = '\0';
    }
    p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

enum err
buf_append_json_string(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *run = s;
    enum err rc = buf_append_char(b, '"');

    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = buf_append(b, run, (size_t)(s - run));
        run = s + 1;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (!rc)
            rc = buf_append(b, esc, n);
    }
    if (!rc)
        rc = buf_append(b, run, (size_t)(s - run));
    return rc ? rc : buf_append_char(b, '"');
}
