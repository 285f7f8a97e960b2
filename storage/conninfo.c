/*
 * conninfo.c - DATABASE_URL's text: checked, and shown without its secrets
 */
#include "storage/conninfo.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define REDACTED "<redacted>"

/* libpq marks the options whose values must be hidden with dispchar "*". */
static int
option_is_secret(const PQconninfoOption *o)
{
    return o->dispchar && o->dispchar[0] == '*';
}

enum err
conninfo_check(const char *conninfo, const char *var, char *errbuf, size_t errlen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);

    PQfreemem(msg); /* it may quote the text */
    if (opts) {
        PQconninfoFree(opts);
        return ERR_OK;
    }
    return err_set(ERR_BAD_INPUT, errbuf, errlen,
                   "%s: not a libpq connection string (host=... dbname=...) nor a "
                   "postgresql://user:password@host:port/dbname URL (the value is not shown)",
                   var);
}

/* A value as libpq's key=value syntax reads it: bare, or quoted with \ escapes. */
static void
append_value(struct buf *b, const char *v)
{
    const char *p;

    if (*v && !strpbrk(v, " \t\n\r\f\v'\\")) {
        buf_append_str(b, v);
        return;
    }
    buf_append_str(b, "'");
    for (p = v; *p; p++) {
        if (*p == '\'' || *p == '\\')
            buf_append_str(b, "\\");
        buf_append_char(b, *p);
    }
    buf_append_str(b, "'");
}

char *
conninfo_redacted(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    PQconninfoOption *o;
    struct buf b;

    if (!opts)
        return xstrdup("<redacted: not a valid connection string>");
    buf_init(&b, 0);
    for (o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (b.len)
            buf_append_str(&b, " ");
        buf_append_str(&b, o->keyword);
        buf_append_str(&b, "=");
        if (option_is_secret(o))
            buf_append_str(&b, REDACTED);
        else
            append_value(&b, o->val);
    }
    PQconninfoFree(opts);
    return buf_take(&b, NULL);
}

/* Replace every occurrence of secret in b's text with <redacted>. */
static void
replace_all(struct buf *b, const char *secret)
{
    size_t n = strlen(secret);
    struct buf out;
    const char *p;
    const char *hit;

    if (n == 0 || !b->len || !strstr(b->data, secret))
        return;
    buf_init(&out, 0);
    for (p = b->data; (hit = strstr(p, secret)) != NULL; p = hit + n) {
        buf_append(&out, p, (size_t)(hit - p));
        buf_append_str(&out, REDACTED);
    }
    buf_append_str(&out, p);
    buf_release(b);
    *b = out;
}

void
conninfo_scrub(const char *conninfo, const char *msg, char *out, size_t outlen)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    PQconninfoOption *o;
    struct buf b;
    size_t i;
    size_t n;

    buf_init(&b, 0);
    buf_append_str(&b, msg ? msg : "");
    for (o = opts; o && o->keyword; o++)
        if (o->val && option_is_secret(o))
            replace_all(&b, o->val);
    PQconninfoFree(opts);
    for (i = 0, n = 0; i < b.len; i++) {
        int blank = strchr(" \t\r\n", b.data[i]) != NULL;

        if (blank && (n == 0 || b.data[n - 1] == ' '))
            continue; /* leading blanks, or a run of them: one space */
        b.data[n++] = blank ? ' ' : b.data[i];
    }
    while (n && b.data[n - 1] == ' ')
        n--;
    snprintf(out, outlen, "%.*s", (int)n, n ? b.data : "");
    buf_release(&b);
}
