/*
 * s3_query.c - the filters of the S3 object catalog as a parameterised WHERE clause
 *
 * Every value is checked when it is added (a date, an integer, a UUID, one
 * of an enumeration, a valid wildcard) and bound as a parameter when the
 * clause is built; the SQL text holds only column names, operators and
 * parameter numbers. Attribute filters become one jsonpath per value, built
 * here with every key and string quoted in jsonpath syntax, and bound as a
 * parameter too (`attributes @? $n::jsonpath`, which the GIN index serves).
 */
#include "storage/s3_query.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/s3_fields.h"
#include "storage/locks.h"
#include "storage/s3_store.h"

/* How a value compares (struct s3_cond.kind). */
enum kind {
    K_TEXT,      /* column = $n */
    K_CAST,      /* column = $n::<type of the field> */
    K_LIKE,      /* column LIKE $n (ILIKE when case-insensitive) */
    K_TIME_LIKE, /* either text form of a timestamp LIKE $n */
    K_ATTR_EQ,   /* attributes @? '<path> ? (@ == "v")' */
    K_ATTR_LIKE, /* attributes @? '<path> ? (@ like_regex "^...$")' */
};

struct field_def {
    const char *name;   /* API name */
    const char *column; /* SQL expression */
    const char *cast;   /* type of a K_CAST value */
};

static const struct field_def fields[S3F_COUNT] = {
    [S3F_EVENT_TYPE] = {"eventType", "event_type", NULL},
    [S3F_BUCKET] = {"bucket", "bucket", NULL},
    [S3F_KEY] = {"key", "key", NULL},
    [S3F_VERSION_ID] = {"versionId", "version_id", NULL},
    [S3F_EVENT_TIME] = {"eventTime", "event_time", "timestamptz"},
    [S3F_SIZE] = {"size", "size", "bigint"},
    [S3F_SHA256] = {"sha256", "sha256", NULL},
    [S3F_LAST_MODIFIED] = {"lastModifiedDate", "last_modified", "timestamptz"},
    [S3F_ETAG] = {"eTag", "etag", NULL},
    [S3F_STORAGE_CLASS] = {"storageClass", "storage_class", NULL},
    [S3F_IS_DELETE_MARKER] = {"isDeleteMarker", "is_delete_marker", "boolean"},
    [S3F_REASON] = {"reason", "reason", NULL},
    [S3F_ARCHIVE_STATUS] = {"archiveStatus", S3_SQL_ARCHIVE_STATUS, NULL},
    [S3F_IS_ACCESSIBLE] = {"isAccessible", S3_SQL_IS_ACCESSIBLE, "boolean"},
    [S3F_INGEST_ID] = {"ingestId", "ingest_id", "uuid"},
    [S3F_ATTRIBUTE] = {"attributes", "attributes", "jsonpath"},
};

static const char *const reasons[] = {"CreatedPut",
                                      "CreatedPost",
                                      "CreatedCopy",
                                      "CreatedCompleteMultipartUpload",
                                      "Deleted",
                                      "DeletedLifecycle",
                                      "Restored",
                                      "RestoreExpired",
                                      "StorageClassChanged",
                                      "Crawl",
                                      "Unknown",
                                      NULL};

/* The filemanager's storage class names and how S3 spells them (which the catalog stores). */
static const char *const storage_classes[][2] = {
    {"Standard", "STANDARD"},
    {"ReducedRedundancy", "REDUCED_REDUNDANCY"},
    {"StandardIa", "STANDARD_IA"},
    {"OnezoneIa", "ONEZONE_IA"},
    {"IntelligentTiering", "INTELLIGENT_TIERING"},
    {"Glacier", "GLACIER"},
    {"DeepArchive", "DEEP_ARCHIVE"},
    {"Outposts", "OUTPOSTS"},
    {"GlacierIr", "GLACIER_IR"},
    {"Snow", "SNOW"},
    {"ExpressOnezone", "EXPRESS_ONEZONE"},
    {"ArchiveAccess", "ARCHIVE_ACCESS"},
    {"DeepArchiveAccess", "DEEP_ARCHIVE_ACCESS"},
};

void
s3_query_init(struct s3_query *q)
{
    memset(q, 0, sizeof(*q));
    q->current_only = 1;
}

void
s3_query_release(struct s3_query *q)
{
    size_t i;

    for (i = 0; i < q->nconds; i++) {
        free(q->conds[i].value);
        free(q->conds[i].path);
        free(q->conds[i].leaf);
    }
    free(q->conds);
    q->conds = NULL;
    q->nconds = 0;
}

int
s3_query_field(const char *name)
{
    int f;

    for (f = 0; f < S3F_ATTRIBUTE; f++)
        if (strcmp(name, fields[f].name) == 0)
            return f;
    return -1;
}

/* Append a condition taking ownership of value and path. */
static void
push(struct s3_query *q, enum s3_field field, enum s3_join join, int kind, char *value, char *path,
     char *leaf)
{
    struct s3_cond *c;

    q->conds = xrealloc(q->conds, (q->nconds + 1) * sizeof(*q->conds));
    c = &q->conds[q->nconds++];
    c->field = field;
    c->join = join;
    c->kind = kind;
    c->value = value;
    c->path = path;
    c->leaf = leaf;
}

/* 1 when the wildcard pattern p has an unescaped `*` or `?`. */
/* Whether p holds one of the characters of set not escaped by a backslash. */
static int
has_unescaped(const char *p, const char *set)
{
    for (; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (strchr(set, *p))
            return 1;
    }
    return 0;
}

/* A pattern without wildcards as the text it matches (escapes resolved). */
static char *
unescape(const char *p)
{
    struct buf b;

    buf_init(&b, 0);
    buf_append(&b, "", 0);
    for (; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        buf_append_char(&b, *p);
    }
    return buf_take(&b, NULL);
}

static enum err
add_pattern(struct s3_query *q, enum s3_field field, enum s3_join join, int kind, const char *v,
            char *errbuf, size_t errlen)
{
    struct buf like;

    buf_init(&like, 0);
    if (s3_like_pattern(v, &like, errbuf, errlen)) {
        buf_release(&like);
        return ERR_BAD_INPUT;
    }
    push(q, field, join, kind, buf_take(&like, NULL), NULL, NULL);
    return ERR_OK;
}

static enum err
add_time(struct s3_query *q, enum s3_field field, enum s3_join join, const char *v, char *errbuf,
         size_t errlen)
{
    char norm[S3_TIME_BUF];

    if (!has_unescaped(v, "*?") && s3_time_normalise(v, strlen(v), norm)) {
        push(q, field, join, K_CAST, xstrdup(norm), NULL, NULL);
        return ERR_OK;
    }
    return add_pattern(q, field, join, K_TIME_LIKE, v, errbuf, errlen);
}

static int
uuid_text_ok(const char *s)
{
    size_t i;

    if (strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* Forget the values of field given so far. */
static void
drop_field(struct s3_query *q, enum s3_field field)
{
    size_t i;
    size_t n = 0;

    for (i = 0; i < q->nconds; i++) {
        if (q->conds[i].field == field) {
            free(q->conds[i].value);
            free(q->conds[i].path);
            free(q->conds[i].leaf);
        } else {
            q->conds[n++] = q->conds[i];
        }
    }
    q->nconds = n;
}

/* A value of one of the enumerated filters, as stored; NULL when none. */
static const char *
enum_value(enum s3_field field, const char *v)
{
    size_t i;

    if (field == S3F_EVENT_TYPE)
        return strcmp(v, "Created") == 0 ? "Created" : strcmp(v, "Deleted") == 0 ? "Deleted" : NULL;
    if (field == S3F_ARCHIVE_STATUS)
        return strcmp(v, "ArchiveAccess") == 0       ? "ArchiveAccess"
               : strcmp(v, "DeepArchiveAccess") == 0 ? "DeepArchiveAccess"
                                                     : NULL;
    if (field == S3F_IS_DELETE_MARKER || field == S3F_IS_ACCESSIBLE)
        return strcmp(v, "true") == 0 ? "true" : strcmp(v, "false") == 0 ? "false" : NULL;
    if (field == S3F_REASON) {
        for (i = 0; reasons[i]; i++)
            if (strcmp(v, reasons[i]) == 0)
                return reasons[i];
        return NULL;
    }
    for (i = 0; i < sizeof(storage_classes) / sizeof(storage_classes[0]); i++)
        if (strcmp(v, storage_classes[i][0]) == 0 || strcmp(v, storage_classes[i][1]) == 0)
            return storage_classes[i][1];
    return NULL;
}

static enum err
add_enum(struct s3_query *q, enum s3_field field, enum s3_join join, const char *v, char *errbuf,
         size_t errlen)
{
    const char *e = enum_value(field, v);

    if (!e) {
        if (field == S3F_IS_DELETE_MARKER || field == S3F_IS_ACCESSIBLE)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "must be true or false");
        if (field == S3F_EVENT_TYPE)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "must be Created or Deleted");
        if (field == S3F_ARCHIVE_STATUS)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "must be ArchiveAccess or DeepArchiveAccess");
        if (field == S3F_REASON)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "unknown reason");
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "unknown storage class");
    }
    if (field == S3F_EVENT_TYPE || field == S3F_IS_DELETE_MARKER || field == S3F_IS_ACCESSIBLE)
        drop_field(q, field); /* single-valued: the last value counts */
    push(q, field, join, fields[field].cast ? K_CAST : K_TEXT, xstrdup(e), NULL, NULL);
    return ERR_OK;
}

static enum err
add_size(struct s3_query *q, enum s3_join join, const char *v, char *errbuf, size_t errlen)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(v, &end, 10);
    if (!*v || *end || errno || isspace((unsigned char)*v))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "must be an integer");
    (void)n;
    push(q, S3F_SIZE, join, K_CAST, xstrdup(v), NULL, NULL);
    return ERR_OK;
}

/* ERR_BAD_INPUT when q cannot take one more value of field. */
static enum err
check_caps(const struct s3_query *q, enum s3_field field, char *errbuf, size_t errlen)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i < q->nconds; i++)
        n += q->conds[i].field == field;
    if (n >= S3_QUERY_MAX_FIELD_VALUES)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "at most %d values",
                       S3_QUERY_MAX_FIELD_VALUES);
    if (q->nconds >= S3_QUERY_MAX_VALUES)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "at most %d filter values in all",
                       S3_QUERY_MAX_VALUES);
    return ERR_OK;
}

enum err
s3_query_add(struct s3_query *q, enum s3_field field, enum s3_join join, const char *v,
             char *errbuf, size_t errlen)
{
    struct buf etag;
    char *id;
    size_t i;

    if (field < 0 || field >= S3F_ATTRIBUTE)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "not a filter");
    if (check_caps(q, field, errbuf, errlen))
        return ERR_BAD_INPUT;
    if (strlen(v) > S3_QUERY_MAX_VALUE_BYTES)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "longer than %d bytes",
                       S3_QUERY_MAX_VALUE_BYTES);
    switch (field) {
    case S3F_BUCKET:
    case S3F_KEY:
    case S3F_VERSION_ID:
        return add_pattern(q, field, join, K_LIKE, v, errbuf, errlen);
    case S3F_EVENT_TIME:
    case S3F_LAST_MODIFIED:
        return add_time(q, field, join, v, errbuf, errlen);
    case S3F_SIZE:
        return add_size(q, join, v, errbuf, errlen);
    case S3F_SHA256:
        push(q, field, join, K_TEXT, xstrdup(v), NULL, NULL);
        return ERR_OK;
    case S3F_ETAG:
        buf_init(&etag, 0);
        s3_etag_append(&etag, v, strlen(v));
        push(q, field, join, K_TEXT, buf_take(&etag, NULL), NULL, NULL);
        return ERR_OK;
    case S3F_INGEST_ID:
        if (!uuid_text_ok(v))
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "must be a UUID");
        id = xstrdup(v);
        for (i = 0; id[i]; i++)
            id[i] = (char)tolower((unsigned char)id[i]);
        push(q, field, join, K_CAST, id, NULL, NULL);
        return ERR_OK;
    case S3F_ATTRIBUTE:
    case S3F_COUNT:
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "not a filter");
    default:
        return add_enum(q, field, join, v, errbuf, errlen);
    }
}

/* Append s as the body of a jsonpath string literal (quotes and backslashes escaped). */
static void
jsonpath_quote(struct buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            buf_append_char(out, '\\');
            buf_append_char(out, (char)c);
        } else if (c < 0x20) {
            buf_printf(out, "\\u%04x", c);
        } else {
            buf_append_char(out, (char)c);
        }
    }
}

enum err
s3_query_add_attribute(struct s3_query *q, const char *const *path, size_t npath, const char *v,
                       char *errbuf, size_t errlen)
{
    struct buf like;
    struct buf jp;
    size_t i;

    if (check_caps(q, S3F_ATTRIBUTE, errbuf, errlen))
        return ERR_BAD_INPUT;
    if (npath == 0 || npath > S3_QUERY_MAX_DEPTH)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "an attribute path has 1 to %d keys",
                       S3_QUERY_MAX_DEPTH);
    if (strlen(v) > S3_QUERY_MAX_VALUE_BYTES)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "longer than %d bytes",
                       S3_QUERY_MAX_VALUE_BYTES);
    buf_init(&like, 0);
    if (s3_like_pattern(v, &like, errbuf, errlen)) { /* checks the escapes */
        buf_release(&like);
        return ERR_BAD_INPUT;
    }
    buf_release(&like);
    buf_init(&jp, 0);
    buf_append_char(&jp, '$');
    for (i = 0; i < npath; i++) {
        if (strlen(path[i]) > S3_QUERY_MAX_VALUE_BYTES) {
            buf_release(&jp);
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "an attribute key is too long");
        }
        buf_append_str(&jp, ".\"");
        jsonpath_quote(&jp, path[i]);
        buf_append_char(&jp, '"');
    }
    push(q, S3F_ATTRIBUTE, S3_JOIN_OR, has_unescaped(v, "*?") ? K_ATTR_LIKE : K_ATTR_EQ, xstrdup(v),
         buf_take(&jp, NULL), xstrdup(path[npath - 1]));
    return ERR_OK;
}

/* ---- building the clause ---- */

/* A POSIX regular expression matching exactly what the wildcard pattern p matches. */
static void
wildcard_regex(const char *p, struct buf *re)
{
    buf_append_char(re, '^');
    for (; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == '*') {
            buf_append_str(re, ".*");
            continue;
        } else if (*p == '?') {
            buf_append_char(re, '.');
            continue;
        }
        if (strchr("\\^$.|?*+()[]{}", *p))
            buf_append_char(re, '\\');
        buf_append_char(re, *p);
    }
    buf_append_char(re, '$');
}

/* The jsonpath of an attribute condition (a new string). */
static char *
attribute_jsonpath(const struct s3_cond *c, int case_insensitive)
{
    struct buf jp;
    struct buf re;
    char *lit;

    buf_init(&jp, 0);
    buf_printf(&jp, "%s ? (@ ", c->path);
    if (c->kind == K_ATTR_EQ && !case_insensitive) {
        lit = unescape(c->value);
        buf_append_str(&jp, "== \"");
        jsonpath_quote(&jp, lit);
        buf_append_str(&jp, "\")");
        free(lit);
    } else {
        buf_init(&re, 0);
        if (c->kind == K_ATTR_EQ) { /* case-insensitive equality: a regex of the literal */
            lit = unescape(c->value);
            buf_append_char(&re, '^');
            for (const char *s = lit; *s; s++) {
                if (strchr("\\^$.|?*+()[]{}", *s))
                    buf_append_char(&re, '\\');
                buf_append_char(&re, *s);
            }
            buf_append_char(&re, '$');
            free(lit);
        } else {
            wildcard_regex(c->value, &re);
        }
        buf_append_str(&jp, "like_regex \"");
        jsonpath_quote(&jp, re.data);
        buf_printf(&jp, "\" flag \"%s\")", case_insensitive ? "is" : "s");
        buf_release(&re);
    }
    return buf_take(&jp, NULL);
}

int
s3_where_param(struct s3_where *w, const char *value)
{
    w->params = xrealloc(w->params, (size_t)(w->nparams + 1) * sizeof(*w->params));
    w->params[w->nparams++] = value;
    return w->nparams;
}

/*
 * A character of a string as jsonb's text form writes it unchanged (jsonb
 * escapes `"`, `\` and control characters). Case-insensitive, only ASCII
 * is kept: other characters may have case variants of another length.
 */
static int
prefilter_safe(unsigned char c, int case_insensitive)
{
    return c >= 0x20 && c != '"' && c != '\\' && (!case_insensitive || c < 0x80);
}

/* Append c to a LIKE pattern; case-insensitive, a letter matches any one character. */
static void
prefilter_char(struct buf *out, char c, int case_insensitive)
{
    if (case_insensitive && isalpha((unsigned char)c))
        c = '_';
    else if (c == '%' || c == '_')
        buf_append_char(out, '\\');
    buf_append_char(out, c);
}

/* Append a `%` unless the pattern already ends with one. */
static void
prefilter_any(struct buf *out)
{
    if (out->len == 0 || out->data[out->len - 1] != '%' ||
        (out->len > 1 && out->data[out->len - 2] == '\\'))
        buf_append_char(out, '%');
}

/*
 * A LIKE pattern that the text form of every record the attribute condition
 * c matches also matches (a superset, so adding it keeps the results), for
 * the trigram index on attributes::text (0019): the leaf key as jsonb writes
 * it (`"key": `), then the value's literal runs in order after a `"` (the
 * value, or one element of an array the lax path unwraps, is a string).
 * NULL when it would select nothing narrower than any annotated record.
 */
static char *
attribute_prefilter(const struct s3_cond *c, int case_insensitive)
{
    struct buf out;
    const char *p;
    int useful = 0;

    buf_init(&out, 0);
    buf_append_char(&out, '%');
    for (p = c->leaf; *p && prefilter_safe((unsigned char)*p, 0); p++)
        ;
    if (*p == '\0') { /* keys match case-sensitively whatever the flag */
        buf_append_char(&out, '"');
        for (p = c->leaf; *p; p++)
            prefilter_char(&out, *p, 0);
        buf_append_str(&out, "\": %");
        useful = 1;
    }
    buf_append_char(&out, '"');
    for (p = c->value; *p; p++) {
        if (*p == '*' || *p == '?' || (*p == '\\' && p[1] == '\\') ||
            (*p != '\\' && !prefilter_safe((unsigned char)*p, case_insensitive))) {
            if (*p == '\\')
                p++;
            prefilter_any(&out);
            continue;
        }
        if (*p == '\\' && p[1])
            p++;
        prefilter_char(&out, *p, case_insensitive);
        useful = 1;
    }
    prefilter_any(&out);
    if (!useful) {
        buf_release(&out);
        return NULL;
    }
    return buf_take(&out, NULL);
}

/* The longest segment s3_key_segments() keeps whole in a long key (migration 0026). */
#define KEY_SEGMENT_CHARS 255

/*
 * Append one literal run to a tsquery: ASCII letters in lower case (as
 * s3_key_segments() takes the key), quoted, a prefix when `prefix`, and-ed
 * to the rest.
 */
static void
segment_term(struct buf *q, const char *piece, size_t len, int prefix)
{
    size_t i;
    size_t chars = 0;

    for (i = 0; i < len; i++) { /* cut before the 256th character's first byte */
        if (((unsigned char)piece[i] & 0xC0) != 0x80 && ++chars > KEY_SEGMENT_CHARS) {
            len = i; /* the index may hold only the segment's first 255 characters */
            prefix = 1;
        }
    }
    buf_append_str(q, q->len ? " & '" : "'");
    for (i = 0; i < len; i++) {
        char c = piece[i] >= 'A' && piece[i] <= 'Z' ? (char)(piece[i] - 'A' + 'a') : piece[i];

        if (c == '\\' || c == '\'')
            buf_append_char(q, c);
        buf_append_char(q, c);
    }
    buf_append_str(q, prefix ? "':*" : "'");
}

/*
 * For a key LIKE pattern that starts with a wildcard: a tsquery over
 * s3_key_segments(key) (migration 0026) that every key it matches, as LIKE
 * or as ILIKE, also satisfies, so that the GIN index on that expression
 * finds the candidates and the LIKE (ILIKE) decides. Each literal run that follows a literal `/` is
 * a whole segment when it ends at a `/` or the pattern's end, and a segment's start when a wildcard
 * follows it: `%/run00420/sample%.bam` gives 'run00420' & 'sample':*. NULL when no literal follows
 * a `/`.
 */
static char *
key_segments_query(const char *like)
{
    struct buf q;
    struct buf piece;
    const char *p;
    int in_piece = 0; /* collecting the literal run after a literal `/` */

    buf_init(&q, 0);
    buf_init(&piece, 0);
    for (p = like; *p; p++) {
        int wildcard = *p == '%' || *p == '_';
        char c = *p;

        if (*p == '\\' && p[1])
            c = *++p;
        if (!wildcard && c != '/') {
            if (in_piece)
                buf_append_char(&piece, c);
            continue;
        }
        if (in_piece && piece.len)
            segment_term(&q, piece.data, piece.len, wildcard);
        buf_reset(&piece);
        in_piece = !wildcard;
    }
    if (in_piece && piece.len)
        segment_term(&q, piece.data, piece.len, 0);
    buf_release(&piece);
    if (!q.len) {
        buf_release(&q);
        return NULL;
    }
    return buf_take(&q, NULL);
}

/* The SQL of one condition, its value bound as the next parameter. */
static void
cond_sql(const struct s3_query *q, const struct s3_cond *c, struct s3_where *w, char **owned)
{
    const struct field_def *f = &fields[c->field];
    const char *like = q->case_insensitive ? "ILIKE" : "LIKE";
    int n;

    if (c->kind == K_ATTR_EQ && !q->case_insensitive) { /* the GIN index (jsonb_path_ops) */
        owned[0] = attribute_jsonpath(c, 0);
        buf_printf(&w->sql, "attributes @? $%d::jsonpath", s3_where_param(w, owned[0]));
        return;
    }
    if (c->kind == K_ATTR_EQ || c->kind == K_ATTR_LIKE) { /* a regex: the trigram index */
        owned[0] = attribute_jsonpath(c, q->case_insensitive);
        owned[1] = attribute_prefilter(c, q->case_insensitive);
        if (owned[1])
            buf_printf(&w->sql, "(attributes::text LIKE $%d AND ", s3_where_param(w, owned[1]));
        buf_printf(&w->sql, "attributes @? $%d::jsonpath%s", s3_where_param(w, owned[0]),
                   owned[1] ? ")" : "");
        return;
    }
    n = s3_where_param(w, c->value);
    switch (c->kind) {
    case K_CAST:
        buf_printf(&w->sql, "%s = $%d::%s", f->column, n, f->cast);
        break;
    case K_LIKE:
        /* a key pattern that starts with a wildcard: the segments' index (0026) */
        if (c->field == S3F_KEY && (c->value[0] == '%' || c->value[0] == '_'))
            owned[0] = key_segments_query(c->value);
        if (owned[0])
            buf_printf(&w->sql, "(%s %s $%d AND s3_key_segments(%s) @@ $%d::tsquery)", f->column,
                       like, n, f->column, s3_where_param(w, owned[0]));
        else
            buf_printf(&w->sql, "%s %s $%d", f->column, like, n);
        break;
    case K_TIME_LIKE:
        /* the API's form (2024-01-02T03:04:05.000Z) or PostgreSQL's, as the filemanager
         * shows it (2024-01-02 03:04:05+00) */
        buf_printf(&w->sql,
                   "(" SQL_TS("%s") " %s $%d OR ((%s AT TIME ZONE 'UTC')::text || '+00') %s $%d)",
                   f->column, like, n, f->column, like, n);
        break;
    default:
        buf_printf(&w->sql, "%s = $%d", f->column, n);
        break;
    }
}

/* Conditions of field f (and attribute path `path`) joined by `join`, as one AND-ed term. */
static void
group_sql(const struct s3_query *q, enum s3_field f, const char *path, enum s3_join join,
          struct s3_where *w, char **owned)
{
    size_t i;
    int any = 0;

    for (i = 0; i < q->nconds; i++) {
        const struct s3_cond *c = &q->conds[i];

        if (c->field != f || c->join != join || (path && strcmp(c->path, path) != 0))
            continue;
        buf_append_str(&w->sql, any ? (join == S3_JOIN_OR ? " OR " : " AND ") : " AND (");
        cond_sql(q, c, w, &owned[2 * i]);
        any = 1;
    }
    if (any)
        buf_append_char(&w->sql, ')');
}

/*
 * Whether the list indexes (bucket, key, ...) can serve q's key condition
 * once the bucket is known: a case-sensitive key value that is a key or a
 * pattern with a literal start, and no bucket given exactly.
 */
static int
key_needs_buckets(const struct s3_query *q)
{
    size_t i;
    int key = 0;

    if (q->case_insensitive)
        return 0;
    for (i = 0; i < q->nconds; i++) {
        const struct s3_cond *c = &q->conds[i];

        if (c->field == S3F_BUCKET && (c->kind != K_LIKE || !has_unescaped(c->value, "%_")))
            return 0;
        if (c->field == S3F_KEY &&
            (c->kind != K_LIKE || (c->value[0] != '%' && c->value[0] != '_')))
            key = 1;
    }
    return key;
}

void
s3_query_where(const struct s3_query *q, struct s3_where *w)
{
    char **owned = xcalloc(2 * q->nconds + 1, sizeof(char *));
    size_t i;
    size_t j;
    int f;

    memset(w, 0, sizeof(*w));
    buf_init(&w->sql, 0);
    buf_append_str(&w->sql, " WHERE true");
    for (f = 0; f < S3F_ATTRIBUTE; f++) {
        group_sql(q, (enum s3_field)f, NULL, S3_JOIN_OR, w, owned);
        group_sql(q, (enum s3_field)f, NULL, S3_JOIN_AND, w, owned);
    }
    for (i = 0; i < q->nconds; i++) { /* each attribute path once, at its first value */
        if (q->conds[i].field != S3F_ATTRIBUTE)
            continue;
        for (j = 0; j < i; j++)
            if (q->conds[j].field == S3F_ATTRIBUTE &&
                strcmp(q->conds[j].path, q->conds[i].path) == 0)
                break;
        if (j == i)
            group_sql(q, S3F_ATTRIBUTE, q->conds[i].path, S3_JOIN_OR, w, owned);
    }
    /* a key (prefix) without a bucket: every bucket of the catalog, found by
     * one index descent each (a loose index scan), so that each bucket's key
     * range is read from the index rather than every record; the same
     * snapshot, so no bucket is missed */
    if (key_needs_buckets(q))
        buf_append_str(&w->sql,
                       " AND bucket = ANY (ARRAY(WITH RECURSIVE b(v) AS (SELECT min(bucket) FROM "
                       "s3_objects UNION ALL SELECT (SELECT min(bucket) FROM s3_objects WHERE "
                       "bucket > b.v) FROM b WHERE b.v IS NOT NULL) SELECT v FROM b WHERE v IS "
                       "NOT NULL))");
    if (q->id)
        buf_printf(&w->sql, " AND id = $%d::uuid", s3_where_param(w, q->id));
    if (q->current_only)
        buf_append_str(&w->sql, " AND is_current");
    /* the owned strings live as long as the clause: keep them behind the params */
    w->owned = owned;
    w->nowned = 2 * q->nconds;
}

void
s3_where_release(struct s3_where *w)
{
    size_t i;

    buf_release(&w->sql);
    for (i = 0; w->owned && i < w->nowned; i++)
        free(w->owned[i]);
    free(w->owned);
    free(w->params);
    memset(w, 0, sizeof(*w));
}
