/*
 * s3_list_xml.c - a streaming reader of S3's list answers (see s3_list_xml.h)
 *
 * One byte at a time through a small state machine (prolog, text, entity,
 * tag name, attributes, end tag, epilog), so any split of the input gives the
 * same result. A stack of element names checks that tags balance; the depth
 * says what an element means: the root at depth 1, the page's fields and its
 * entries (<Contents>, <Version>, <DeleteMarker>) at depth 2, an entry's
 * fields at depth 3. Only the text of a field that is kept is collected
 * (capped); everything else (Owner, Name, Prefix, CommonPrefixes...) is read,
 * checked for well-formedness and dropped.
 *
 * Why not libxml2: a runtime library in the image and a parser with DTDs,
 * external entities and entity expansion to switch off, for a dozen element
 * names in a format S3 writes the same way every time; a small strict reader
 * refuses everything else and is cheap to fuzz.
 *
 * Thread-safety: a reader belongs to one thread; nothing global.
 */
#include "codec/s3_list_xml.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define LX_NAME_MAX 64
#define LX_DEPTH_MAX 16
#define LX_ENTITY_MAX 12

enum lx_state {
    LX_PROLOG,     /* before the root: whitespace, <?xml ...?> */
    LX_TEXT,       /* character data inside an element */
    LX_ENTITY,     /* after '&' */
    LX_LT,         /* after '<' */
    LX_PI,         /* inside <? ... ?> before the root */
    LX_PI_Q,       /* '?' seen inside <? ... */
    LX_START_NAME, /* <name */
    LX_ATTRS,      /* inside a start tag, after the name */
    LX_ATTR_VALUE, /* inside a quoted attribute value */
    LX_EMPTY_GT,   /* '/' seen in a start tag: '>' must follow */
    LX_END_NAME,   /* </name */
    LX_END_SPACE,  /* </name followed by blanks: '>' must follow */
    LX_EPILOG,     /* the root is closed: whitespace only */
};

/* What the text of the element being read is kept as. */
enum lx_field {
    F_NONE,
    F_IS_TRUNCATED,
    F_NEXT_TOKEN,
    F_NEXT_KEY_MARKER,
    F_NEXT_VERSION_MARKER,
    F_ENCODING_TYPE,
    F_KEY,
    F_VERSION_ID,
    F_IS_LATEST,
    F_LAST_MODIFIED,
    F_ETAG,
    F_SIZE,
    F_STORAGE_CLASS,
};

struct s3_list_xml {
    enum s3_list_kind kind;
    struct s3_list_page *page;
    enum lx_state state;
    enum lx_state from; /* the state a '<' or '&' came from */
    char names[LX_DEPTH_MAX][LX_NAME_MAX + 1];
    size_t depth;
    char name[LX_NAME_MAX + 1]; /* the tag name being read */
    size_t name_len;
    char entity[LX_ENTITY_MAX + 1];
    size_t entity_len;
    char quote;
    enum lx_field field; /* the element being read is this field (F_NONE: dropped) */
    int in_entry;        /* an entry element is open at depth 2 */
    int url_encoded;
    struct buf text;
};

/* ---- the page ------------------------------------------------------------- */

void
s3_list_page_init(struct s3_list_page *p)
{
    memset(p, 0, sizeof(*p));
}

void
s3_list_page_release(struct s3_list_page *p)
{
    size_t i;

    for (i = 0; i < p->count; i++) {
        free(p->entries[i].key);
        free(p->entries[i].version_id);
        free(p->entries[i].etag);
        free(p->entries[i].last_modified);
        free(p->entries[i].storage_class);
    }
    free(p->entries);
    free(p->next_continuation_token);
    free(p->next_key_marker);
    free(p->next_version_id_marker);
    memset(p, 0, sizeof(*p));
}

/* ---- small helpers ----------------------------------------------------------- */

static int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
is_name_char(unsigned char c, int first)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':')
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '-' || c == '.');
}

static enum err
bad(char *errbuf, size_t errlen, const char *what)
{
    return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 list xml: %s", what);
}

/* The text collected, without surrounding blanks, compared with s. */
static int
text_is(const struct buf *t, const char *s)
{
    size_t a = 0, b = t->len, n = strlen(s);

    while (a < b && is_space((unsigned char)t->data[a]))
        a++;
    while (b > a && is_space((unsigned char)t->data[b - 1]))
        b--;
    return b - a == n && memcmp(t->data + a, s, n) == 0;
}

static enum err
parse_bool(const struct buf *t, int *out, char *errbuf, size_t errlen)
{
    if (text_is(t, "true"))
        *out = 1;
    else if (text_is(t, "false"))
        *out = 0;
    else
        return bad(errbuf, errlen, "a boolean is neither true nor false");
    return ERR_OK;
}

static enum err
parse_size(const struct buf *t, uint64_t *out, char *errbuf, size_t errlen)
{
    const char *p = t->data ? t->data : "";
    uint64_t v = 0;
    size_t digits = 0;

    for (; is_space((unsigned char)*p); p++)
        ;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return bad(errbuf, errlen, "Size out of range");
        v = v * 10 + (uint64_t)(*p - '0');
    }
    for (; is_space((unsigned char)*p); p++)
        ;
    if (digits == 0 || *p)
        return bad(errbuf, errlen, "Size is not a number");
    *out = v;
    return ERR_OK;
}

/* *slot = a copy of the text; a second value for the same slot is an error. */
static enum err
set_string(char **slot, struct buf *t, const char *name, char *errbuf, size_t errlen)
{
    if (*slot)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 list xml: <%s> given twice", name);
    *slot = xstrndup(t->data ? t->data : "", t->len);
    return ERR_OK;
}

/* Append the UTF-8 form of code point cp to the text. */
static enum err
append_utf8(struct buf *t, unsigned long cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(t, u, n);
}

/* The entity between '&' and ';' (x->entity) into the text, when it is kept. */
static enum err
entity_end(struct s3_list_xml *x, char *errbuf, size_t errlen)
{
    static const char *const names[] = {"amp", "lt", "gt", "quot", "apos"};
    static const char chars[] = "&<>\"'";
    const char *e = x->entity;
    unsigned long cp = 0;
    size_t i;
    char *end = NULL;
    enum err rc;

    for (i = 0; i < 5; i++)
        if (strcmp(e, names[i]) == 0)
            break;
    if (i < 5) {
        cp = (unsigned char)chars[i];
    } else if (e[0] == '#') {
        if (e[1] == 'x' && e[2])
            cp = strtoul(e + 2, &end, 16);
        else if (e[1] >= '0' && e[1] <= '9')
            cp = strtoul(e + 1, &end, 10);
        if (!end || *end || e[1] == '-' || e[2] == '-' || e[2] == '+' || cp == 0 || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return bad(errbuf, errlen, "bad character reference");
    } else {
        return bad(errbuf, errlen, "unknown entity");
    }
    if (x->field == F_NONE)
        return ERR_OK;
    rc = append_utf8(&x->text, cp);
    if (rc)
        return err_set(rc, errbuf, errlen, "s3 list xml: a value is over %d bytes",
                       S3_LIST_TEXT_MAX);
    return ERR_OK;
}

/* ---- elements --------------------------------------------------------------- */

/* The field an element at the new depth stands for. */
static enum lx_field
field_of(const struct s3_list_xml *x, const char *name)
{
    int v2 = x->kind == S3_LIST_OBJECTS_V2;

    if (x->depth == 2) {
        if (strcmp(name, "IsTruncated") == 0)
            return F_IS_TRUNCATED;
        if (strcmp(name, "EncodingType") == 0)
            return F_ENCODING_TYPE;
        if (v2 && strcmp(name, "NextContinuationToken") == 0)
            return F_NEXT_TOKEN;
        if (!v2 && strcmp(name, "NextKeyMarker") == 0)
            return F_NEXT_KEY_MARKER;
        if (!v2 && strcmp(name, "NextVersionIdMarker") == 0)
            return F_NEXT_VERSION_MARKER;
        return F_NONE;
    }
    if (x->depth != 3 || !x->in_entry)
        return F_NONE;
    if (strcmp(name, "Key") == 0)
        return F_KEY;
    if (!v2 && strcmp(name, "VersionId") == 0)
        return F_VERSION_ID;
    if (!v2 && strcmp(name, "IsLatest") == 0)
        return F_IS_LATEST;
    if (strcmp(name, "LastModified") == 0)
        return F_LAST_MODIFIED;
    if (strcmp(name, "ETag") == 0)
        return F_ETAG;
    if (strcmp(name, "Size") == 0)
        return F_SIZE;
    if (strcmp(name, "StorageClass") == 0)
        return F_STORAGE_CLASS;
    return F_NONE;
}

static enum err
entry_begin(struct s3_list_xml *x, int delete_marker, char *errbuf, size_t errlen)
{
    struct s3_list_page *p = x->page;
    struct s3_list_entry *e;

    if (p->count >= S3_LIST_ENTRIES_MAX)
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "s3 list xml: more than %d entries",
                       S3_LIST_ENTRIES_MAX);
    if (p->count == p->alloc) {
        p->alloc = p->alloc ? p->alloc * 2 : 64;
        p->entries = xrealloc(p->entries, p->alloc * sizeof(*p->entries));
    }
    e = &p->entries[p->count++];
    memset(e, 0, sizeof(*e));
    e->is_delete_marker = delete_marker;
    e->is_latest = x->kind == S3_LIST_OBJECTS_V2;
    x->in_entry = 1;
    return ERR_OK;
}

static enum err
element_start(struct s3_list_xml *x, char *errbuf, size_t errlen)
{
    const char *name = x->name;
    const char *root = x->kind == S3_LIST_OBJECTS_V2 ? "ListBucketResult" : "ListVersionsResult";

    if (x->field != F_NONE)
        return bad(errbuf, errlen, "an element inside a value");
    if (x->depth == LX_DEPTH_MAX)
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "s3 list xml: nesting deeper than %d",
                       LX_DEPTH_MAX);
    memcpy(x->names[x->depth++], name, x->name_len + 1);
    if (x->depth == 1 && strcmp(name, root) != 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "s3 list xml: the root is not <%s>", root);
    if (x->depth == 2 && x->kind == S3_LIST_OBJECTS_V2 && strcmp(name, "Contents") == 0)
        return entry_begin(x, 0, errbuf, errlen);
    if (x->depth == 2 && x->kind == S3_LIST_VERSIONS &&
        (strcmp(name, "Version") == 0 || strcmp(name, "DeleteMarker") == 0))
        return entry_begin(x, name[0] == 'D', errbuf, errlen);
    x->field = field_of(x, name);
    buf_reset(&x->text);
    return ERR_OK;
}

/* The collected text of x->field into the page or the current entry. */
static enum err
field_end(struct s3_list_xml *x, char *errbuf, size_t errlen)
{
    struct s3_list_page *p = x->page;
    struct s3_list_entry *e = x->in_entry ? &p->entries[p->count - 1] : NULL;
    const char *name = x->names[x->depth - 1];

    switch (x->field) {
    case F_IS_TRUNCATED:
        return parse_bool(&x->text, &p->is_truncated, errbuf, errlen);
    case F_NEXT_TOKEN:
        return set_string(&p->next_continuation_token, &x->text, name, errbuf, errlen);
    case F_NEXT_KEY_MARKER:
        return set_string(&p->next_key_marker, &x->text, name, errbuf, errlen);
    case F_NEXT_VERSION_MARKER:
        return set_string(&p->next_version_id_marker, &x->text, name, errbuf, errlen);
    case F_ENCODING_TYPE:
        if (!text_is(&x->text, "url"))
            return bad(errbuf, errlen, "EncodingType is not url");
        x->url_encoded = 1;
        return ERR_OK;
    case F_KEY:
        return set_string(&e->key, &x->text, name, errbuf, errlen);
    case F_VERSION_ID:
        return set_string(&e->version_id, &x->text, name, errbuf, errlen);
    case F_IS_LATEST:
        return parse_bool(&x->text, &e->is_latest, errbuf, errlen);
    case F_LAST_MODIFIED:
        return set_string(&e->last_modified, &x->text, name, errbuf, errlen);
    case F_ETAG:
        return set_string(&e->etag, &x->text, name, errbuf, errlen);
    case F_SIZE:
        e->has_size = 1;
        return parse_size(&x->text, &e->size, errbuf, errlen);
    case F_STORAGE_CLASS:
        return set_string(&e->storage_class, &x->text, name, errbuf, errlen);
    case F_NONE:
        break;
    }
    return ERR_OK;
}

static enum err
element_end(struct s3_list_xml *x, char *errbuf, size_t errlen)
{
    struct s3_list_entry *e;
    enum err rc;

    if (x->depth == 0 || strcmp(x->names[x->depth - 1], x->name) != 0)
        return bad(errbuf, errlen, "mismatched end tag");
    rc = field_end(x, errbuf, errlen);
    if (rc)
        return rc;
    x->field = F_NONE;
    if (x->depth == 2 && x->in_entry) {
        e = &x->page->entries[x->page->count - 1];
        if (!e->key || !e->key[0])
            return bad(errbuf, errlen, "an entry without a Key");
        if (x->kind == S3_LIST_VERSIONS && (!e->version_id || !e->version_id[0]))
            return bad(errbuf, errlen, "a version without a VersionId");
        x->in_entry = 0;
    }
    x->depth--;
    x->state = x->depth == 0 ? LX_EPILOG : LX_TEXT;
    return ERR_OK;
}

/* ---- the state machine -------------------------------------------------------- */

static enum err
name_char(struct s3_list_xml *x, unsigned char c, char *errbuf, size_t errlen)
{
    if (!is_name_char(c, x->name_len == 0))
        return bad(errbuf, errlen, "bad character in a tag name");
    if (x->name_len == LX_NAME_MAX)
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "s3 list xml: a tag name over %d bytes",
                       LX_NAME_MAX);
    x->name[x->name_len++] = (char)c;
    x->name[x->name_len] = '\0';
    return ERR_OK;
}

static enum err
text_char(struct s3_list_xml *x, unsigned char c, char *errbuf, size_t errlen)
{
    if (c == '<') {
        x->state = LX_LT;
        return ERR_OK;
    }
    if (c == '&') {
        x->entity_len = 0;
        x->from = x->state;
        x->state = LX_ENTITY;
        return ERR_OK;
    }
    if (c < 0x20 && !is_space(c))
        return bad(errbuf, errlen, "a control character in text");
    if (x->state == LX_PROLOG || x->state == LX_EPILOG) {
        if (!is_space(c))
            return bad(errbuf, errlen, "text outside the root element");
        return ERR_OK;
    }
    if (x->field == F_NONE)
        return ERR_OK;
    if (buf_append_char(&x->text, (char)c))
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "s3 list xml: a value is over %d bytes",
                       S3_LIST_TEXT_MAX);
    return ERR_OK;
}

static enum err
entity_char(struct s3_list_xml *x, unsigned char c, char *errbuf, size_t errlen)
{
    if (x->from != LX_TEXT)
        return bad(errbuf, errlen, "an entity outside the root element");
    if (c != ';') {
        if (x->entity_len == LX_ENTITY_MAX || c < 0x21 || c == '&' || c == '<')
            return bad(errbuf, errlen, "unterminated entity");
        x->entity[x->entity_len++] = (char)c;
        return ERR_OK;
    }
    x->entity[x->entity_len] = '\0';
    x->state = LX_TEXT;
    return entity_end(x, errbuf, errlen);
}

static enum err
lt_char(struct s3_list_xml *x, unsigned char c, char *errbuf, size_t errlen)
{
    x->name_len = 0;
    x->name[0] = '\0';
    if (c == '?' && x->depth == 0 && !x->page->count && x->from == LX_PROLOG) {
        x->state = LX_PI;
        return ERR_OK;
    }
    if (c == '/') {
        x->state = LX_END_NAME;
        return ERR_OK;
    }
    if (c == '!' || c == '?')
        return bad(errbuf, errlen,
                   "comments, CDATA, DOCTYPE and processing instructions "
                   "are not supported");
    if (x->from == LX_EPILOG)
        return bad(errbuf, errlen, "a second root element");
    x->state = LX_START_NAME;
    return name_char(x, c, errbuf, errlen);
}

static enum err
start_tag_char(struct s3_list_xml *x, unsigned char c, char *errbuf, size_t errlen)
{
    enum err rc;

    switch (x->state) {
    case LX_START_NAME:
        if (!is_space(c) && c != '/' && c != '>')
            return name_char(x, c, errbuf, errlen);
        x->state = LX_ATTRS;
        /* fall through */
    case LX_ATTRS:
        if (c == '"' || c == '\'') {
            x->quote = (char)c;
            x->state = LX_ATTR_VALUE;
        } else if (c == '/') {
            x->state = LX_EMPTY_GT;
        } else if (c == '>') {
            x->state = LX_TEXT;
            return element_start(x, errbuf, errlen);
        } else if (c == '<' || (c < 0x20 && !is_space(c))) {
            return bad(errbuf, errlen, "bad character in a start tag");
        }
        return ERR_OK;
    case LX_ATTR_VALUE:
        if (c == (unsigned char)x->quote)
            x->state = LX_ATTRS;
        else if (c == '<')
            return bad(errbuf, errlen, "'<' in an attribute value");
        return ERR_OK;
    default: /* LX_EMPTY_GT */
        if (c != '>')
            return bad(errbuf, errlen, "'/' not followed by '>' in a tag");
        x->state = LX_TEXT;
        rc = element_start(x, errbuf, errlen);
        if (rc)
            return rc;
        return element_end(x, errbuf, errlen);
    }
}

static enum err
step(struct s3_list_xml *x, unsigned char c, char *errbuf, size_t errlen)
{
    switch (x->state) {
    case LX_PROLOG:
    case LX_TEXT:
    case LX_EPILOG:
        x->from = x->state; /* '<' means other things in the prolog and the epilog */
        return text_char(x, c, errbuf, errlen);
    case LX_ENTITY:
        return entity_char(x, c, errbuf, errlen);
    case LX_LT:
        return lt_char(x, c, errbuf, errlen);
    case LX_PI:
        if (c == '?')
            x->state = LX_PI_Q;
        return ERR_OK;
    case LX_PI_Q:
        x->state = c == '>' ? LX_PROLOG : c == '?' ? LX_PI_Q : LX_PI;
        return ERR_OK;
    case LX_START_NAME:
    case LX_ATTRS:
    case LX_ATTR_VALUE:
    case LX_EMPTY_GT:
        return start_tag_char(x, c, errbuf, errlen);
    case LX_END_NAME:
        if (!is_space(c) && c != '>')
            return name_char(x, c, errbuf, errlen);
        x->state = LX_END_SPACE;
        /* fall through */
    case LX_END_SPACE:
        if (c == '>')
            return element_end(x, errbuf, errlen);
        if (!is_space(c))
            return bad(errbuf, errlen, "bad character in an end tag");
        return ERR_OK;
    }
    return ERR_OK;
}

/* ---- the public calls ---------------------------------------------------------- */

struct s3_list_xml *
s3_list_xml_new(enum s3_list_kind kind, struct s3_list_page *page)
{
    struct s3_list_xml *x = xcalloc(1, sizeof(*x));

    x->kind = kind;
    x->page = page;
    x->state = LX_PROLOG;
    x->from = LX_PROLOG;
    buf_init(&x->text, S3_LIST_TEXT_MAX);
    return x;
}

enum err
s3_list_xml_feed(struct s3_list_xml *x, const char *data, size_t len, char *errbuf, size_t errlen)
{
    size_t i;
    enum err rc;

    for (i = 0; i < len; i++) {
        rc = step(x, (unsigned char)data[i], errbuf, errlen);
        if (rc)
            return rc;
    }
    return ERR_OK;
}

static int
hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 1 when s is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static int
utf8_valid(const unsigned char *s)
{
    unsigned long cp;
    int n, i;

    while (*s) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        n = (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2 : (*s & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return 0;
        cp = *s & (0x3F >> n);
        for (i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* Form-decode *s in place ('+' a space, %XX a byte); bad escapes, %00 or empty: -1. */
static int
url_decode_in_place(char *s)
{
    char *r = s, *w = s;
    int hi, lo;

    for (; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%') {
            hi = hex_val(r[1]);
            lo = hi < 0 ? -1 : hex_val(r[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return 0;
}

enum err
s3_list_xml_finish(struct s3_list_xml *x, char *errbuf, size_t errlen)
{
    struct s3_list_page *p = x->page;
    size_t i;

    if (x->state != LX_EPILOG)
        return bad(errbuf, errlen,
                   x->depth || x->state != LX_PROLOG ? "the answer is cut short"
                                                     : "no root element");
    for (i = 0; i < p->count && x->url_encoded; i++)
        if (url_decode_in_place(p->entries[i].key) || !p->entries[i].key[0])
            return bad(errbuf, errlen, "a Key that is not URL-encoded");
    if (x->url_encoded && p->next_key_marker && url_decode_in_place(p->next_key_marker))
        return bad(errbuf, errlen, "a NextKeyMarker that is not URL-encoded");
    x->url_encoded = 0; /* a second finish decodes nothing twice */
    for (i = 0; i < p->count; i++)
        if (!utf8_valid((const unsigned char *)p->entries[i].key))
            return bad(errbuf, errlen, "a Key that is not UTF-8");
    return ERR_OK;
}

void
s3_list_xml_free(struct s3_list_xml *x)
{
    if (!x)
        return;
    buf_release(&x->text);
    free(x);
}
