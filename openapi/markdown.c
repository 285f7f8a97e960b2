/*
 * markdown.c - the CommonMark subset of openapi.yaml's descriptions, as HTML
 *
 * Part of the build-time tool openapi_html (see openapi_html.c). Blocks:
 * paragraphs, `#` headings (one level down: `##` is <h3>), `-`/`*`/`1.`
 * lists nested by indentation (a list may interrupt a paragraph), fenced
 * code. Inline: `code`, **strong**, *emphasis* (not `_`: identifiers are
 * full of it), [text](url) for http(s), absolute and fragment URLs only (any
 * other target is written as its text), backslash escapes. Everything else
 * is text, HTML-escaped.
 */
#include "markdown.h"

#include <stdlib.h>
#include <string.h>

void
md_escape(FILE *out, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        switch (s[i]) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(s[i], out);
        }
    }
}

static void md_inline(FILE *out, const char *s, size_t n);

/* Position of the closing `delim` in s[from..n), skipping code spans; n when none. */
static size_t
find_close(const char *s, size_t from, size_t n, const char *delim)
{
    size_t dl = strlen(delim);
    size_t i = from;

    while (i + dl <= n) {
        if (s[i] == '`' && delim[0] != '`') {
            const char *q = memchr(s + i + 1, '`', n - i - 1);

            i = q ? (size_t)(q - s) + 1 : n;
            continue;
        }
        if (memcmp(s + i, delim, dl) == 0)
            return i;
        i++;
    }
    return n;
}

static int
safe_url(const char *u, size_t n)
{
    return (n >= 7 && memcmp(u, "http://", 7) == 0) || (n >= 8 && memcmp(u, "https://", 8) == 0) ||
           (n >= 1 && (u[0] == '/' || u[0] == '#'));
}

/* The ')' closing a link destination that starts at s[from] (parentheses nest); n when none. */
static size_t
paren_close(const char *s, size_t from, size_t n)
{
    int depth = 0;
    size_t i;

    for (i = from; i < n && s[i] != ' ' && s[i] != '\n'; i++) {
        if (s[i] == '(')
            depth++;
        else if (s[i] == ')' && depth-- == 0)
            return i;
    }
    return n;
}

/* [text](url) at s[i]: rendered and the length consumed, or 0 when it is not one. */
static size_t
md_link(FILE *out, const char *s, size_t i, size_t n)
{
    size_t close = find_close(s, i + 1, n, "]");
    size_t end;

    if (close >= n || close + 1 >= n || s[close + 1] != '(')
        return 0;
    end = paren_close(s, close + 2, n);
    if (end >= n)
        return 0;
    if (safe_url(s + close + 2, end - close - 2)) {
        fputs("<a href=\"", out);
        md_escape(out, s + close + 2, end - close - 2);
        fputs("\">", out);
        md_inline(out, s + i + 1, close - i - 1);
        fputs("</a>", out);
    } else {
        md_inline(out, s + i + 1, close - i - 1);
    }
    return end + 1 - i;
}

/* Emphasis `delim` at s[i] around non-blank text: rendered and consumed, or 0. */
static size_t
md_emph(FILE *out, const char *s, size_t i, size_t n, const char *delim, const char *tag)
{
    size_t dl = strlen(delim);
    size_t close;

    if (i + dl >= n || s[i + dl] == ' ' || s[i + dl] == '\n')
        return 0;
    close = find_close(s, i + dl, n, delim);
    if (close >= n || close == i + dl || s[close - 1] == ' ' || s[close - 1] == '\n')
        return 0;
    fprintf(out, "<%s>", tag);
    md_inline(out, s + i + dl, close - i - dl);
    fprintf(out, "</%s>", tag);
    return close + dl - i;
}

static void
md_inline(FILE *out, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t used = 0;

        if (s[i] == '`') {
            size_t close = find_close(s, i + 1, n, "`");

            if (close < n) {
                fputs("<code>", out);
                md_escape(out, s + i + 1, close - i - 1);
                fputs("</code>", out);
                used = close + 1 - i;
            }
        } else if (s[i] == '\\' && i + 1 < n && strchr("\\`*_[]()#-.!", s[i + 1])) {
            md_escape(out, s + i + 1, 1);
            used = 2;
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '*') {
            used = md_emph(out, s, i, n, "**", "strong");
        } else if (s[i] == '*') {
            used = md_emph(out, s, i, n, "*", "em");
        } else if (s[i] == '[') {
            used = md_link(out, s, i, n);
        }
        if (!used) {
            md_escape(out, s + i, 1);
            used = 1;
        }
        i += used;
    }
}

/* A text split into lines (pointers into the text). */
struct lines {
    const char **at;
    size_t *len;
    size_t n;
};

static void
lines_split(struct lines *l, const char *s, size_t n)
{
    size_t cap = 1;
    size_t i;

    for (i = 0; i < n; i++)
        cap += s[i] == '\n';
    l->at = calloc(cap, sizeof(*l->at));
    l->len = calloc(cap, sizeof(*l->len));
    if (!l->at || !l->len)
        abort();
    l->n = 0;
    while (n) {
        const char *e = memchr(s, '\n', n);
        size_t len = e ? (size_t)(e - s) : n;

        l->at[l->n] = s;
        l->len[l->n++] = len;
        s += len + (e ? 1 : 0);
        n -= len + (e ? 1 : 0);
    }
}

static void
lines_free(struct lines *l)
{
    free(l->at);
    free(l->len);
}

static size_t
indent_of(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && s[i] == ' ')
        i++;
    return i;
}

static int
blank(const char *s, size_t n)
{
    return indent_of(s, n) == n;
}

/* Width of a list marker at s ("- ", "* ", "12. "), 0 when none; *ordered says which. */
static size_t
list_marker(const char *s, size_t n, int *ordered)
{
    size_t i = 0;

    if (n >= 2 && (s[0] == '-' || s[0] == '*') && s[1] == ' ') {
        *ordered = 0;
        return 2;
    }
    while (i < n && i < 9 && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i && i + 1 < n && s[i] == '.' && s[i + 1] == ' ') {
        *ordered = 1;
        return i + 2;
    }
    return 0;
}

/* A list starting at line *i (indent ind); consumes its items. */
static void
md_list(FILE *out, const struct lines *l, size_t *i, size_t ind)
{
    int ordered = 0;
    int o2;
    const char *tag;

    list_marker(l->at[*i] + ind, l->len[*i] - ind, &ordered);
    tag = ordered ? "ol" : "ul";
    fprintf(out, "<%s>", tag);
    while (*i < l->n && indent_of(l->at[*i], l->len[*i]) == ind &&
           list_marker(l->at[*i] + ind, l->len[*i] - ind, &o2) && o2 == ordered) {
        size_t mw = list_marker(l->at[*i] + ind, l->len[*i] - ind, &o2);
        size_t body = ind + mw;
        char *item;
        size_t cap = 0;
        size_t len = 0;
        size_t k;

        for (k = *i; k < l->n; k++)
            cap += l->len[k] + 1;
        item = malloc(cap + 1);
        if (!item)
            abort();
        memcpy(item, l->at[*i] + body, l->len[*i] - body);
        len = l->len[*i] - body;
        for ((*i)++; *i < l->n; (*i)++) {
            const char *s = l->at[*i];
            size_t sl = l->len[*i];
            size_t in = indent_of(s, sl);

            if (blank(s, sl)) {
                /* a blank line continues the item only when indented text follows */
                if (*i + 1 < l->n && indent_of(l->at[*i + 1], l->len[*i + 1]) >= body &&
                    !blank(l->at[*i + 1], l->len[*i + 1])) {
                    item[len++] = '\n';
                    continue;
                }
                break;
            }
            if (in < body)
                break;
            item[len++] = '\n';
            memcpy(item + len, s + body, sl - body);
            len += sl - body;
        }
        fputs("<li>", out);
        md_render(out, item, len, 1);
        fputs("</li>", out);
        free(item);
    }
    fprintf(out, "</%s>", tag);
}

/* A fenced code block starting at line *i; consumes it and its closing fence. */
static void
md_fence(FILE *out, const struct lines *l, size_t *i, size_t ind)
{
    fputs("<pre><code>", out);
    for ((*i)++; *i < l->n; (*i)++) {
        const char *s = l->at[*i];
        size_t sl = l->len[*i];
        size_t in = indent_of(s, sl);

        if (sl - in >= 3 && memcmp(s + in, "```", 3) == 0) {
            (*i)++;
            break;
        }
        in = in < ind ? in : ind;
        md_escape(out, s + in, sl - in);
        fputs("\n", out);
    }
    fputs("</code></pre>", out);
}

/* Does line k start a block other than a paragraph's continuation? */
static int
starts_block(const struct lines *l, size_t k)
{
    const char *s = l->at[k];
    size_t sl = l->len[k];
    size_t in = indent_of(s, sl);
    int o;

    return blank(s, sl) || s[in] == '#' || (sl - in >= 3 && memcmp(s + in, "```", 3) == 0) ||
           (in < 4 && list_marker(s + in, sl - in, &o));
}

void
md_render(FILE *out, const char *s, size_t n, int tight)
{
    struct lines l;
    size_t i = 0;
    size_t nblocks = 0;
    int o;

    lines_split(&l, s, n);
    while (i < l.n) {
        const char *t = l.at[i];
        size_t tl = l.len[i];
        size_t in = indent_of(t, tl);

        if (blank(t, tl)) {
            i++;
            continue;
        }
        nblocks++;
        if (t[in] == '#') {
            size_t h = in;
            int level;

            while (h < tl && t[h] == '#')
                h++;
            level = (int)(h - in) + 1;
            level = level > 6 ? 6 : level;
            while (h < tl && t[h] == ' ')
                h++;
            fprintf(out, "<h%d>", level);
            md_inline(out, t + h, tl - h);
            fprintf(out, "</h%d>", level);
            i++;
        } else if (tl - in >= 3 && memcmp(t + in, "```", 3) == 0) {
            md_fence(out, &l, &i, in);
        } else if (list_marker(t + in, tl - in, &o)) {
            md_list(out, &l, &i, in);
        } else {
            size_t k = i + 1;
            size_t end;
            int bare = tight && nblocks == 1;

            while (k < l.n && !starts_block(&l, k))
                k++;
            end = (size_t)(l.at[k - 1] + l.len[k - 1] - t);
            /* a lone paragraph of a tight item needs no <p> */
            if (bare) {
                size_t r = k;

                while (r < l.n && blank(l.at[r], l.len[r]))
                    r++;
                bare = r == l.n;
            }
            fputs(bare ? "" : "<p>", out);
            md_inline(out, t + in, end - in);
            fputs(bare ? "" : "</p>", out);
            i = k;
        }
    }
    lines_free(&l);
}
