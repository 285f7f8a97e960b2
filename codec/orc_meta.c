/*
 * orc_meta.c - ORC's metadata messages: PostScript, Footer, StripeFooter (pure)
 *
 * Field numbers are those of orc_proto.proto (ORCv1 specification). Each
 * message is walked with protobuf_wire: once to count its repeated fields
 * (capped), then again to fill the arrays allocated for them. The Footer's
 * types are reduced to what the inventory reader binds: the root struct's
 * field names, the column id and kind of each.
 *
 * Thread-safety: no globals; structs have one owner.
 */
#include "codec/orc_meta.h"

#include <stdlib.h>
#include <string.h>

#include "codec/protobuf_wire.h"
#include "core/buf.h"

#define DEFAULT_BLOCK_BYTES (256 * 1024)

const char *
orc_kind_name(uint64_t kind)
{
    static const char *const names[ORC_KIND_COUNT] = {"boolean",
                                                      "tinyint",
                                                      "smallint",
                                                      "int",
                                                      "bigint",
                                                      "float",
                                                      "double",
                                                      "string",
                                                      "binary",
                                                      "timestamp",
                                                      "array",
                                                      "map",
                                                      "struct",
                                                      "uniontype",
                                                      "decimal",
                                                      "date",
                                                      "varchar",
                                                      "char",
                                                      "timestamp with local time zone"};

    return kind < ORC_KIND_COUNT ? names[kind] : "unknown";
}

static enum err
malformed(const char *message, char *errbuf, size_t errlen)
{
    return err_set(ERR_BAD_INPUT, errbuf, errlen, "malformed ORC %s", message);
}

/* Occurrences of field `number` in the message data[0..len); -1 when malformed. */
static long
count_fields(const void *data, size_t len, uint32_t number)
{
    struct pb_reader r;
    struct pb_field f;
    long n = 0;

    pb_reader_init(&r, data, len);
    while (pb_more(&r)) {
        if (!pb_next(&r, &f))
            return -1;
        n += f.number == number;
    }
    return n;
}

/* ---- PostScript ------------------------------------------------------------------------------ */

enum err
orc_postscript_parse(const void *ps, size_t len, struct orc_postscript *out, char *errbuf,
                     size_t errlen)
{
    struct pb_reader r;
    struct pb_field f;
    int magic = 0;
    uint64_t compression = 0;

    memset(out, 0, sizeof(*out));
    out->block_size = DEFAULT_BLOCK_BYTES;
    pb_reader_init(&r, ps, len);
    while (pb_more(&r)) {
        if (!pb_next(&r, &f))
            return malformed("postscript", errbuf, errlen);
        if (f.number == 1 && f.wire == PB_VARINT)
            out->footer_length = f.value;
        else if (f.number == 2 && f.wire == PB_VARINT)
            compression = f.value;
        else if (f.number == 3 && f.wire == PB_VARINT && f.value > 0)
            out->block_size = f.value;
        else if (f.number == 5 && f.wire == PB_VARINT)
            out->metadata_length = f.value;
        else if (f.number == 8000 && f.wire == PB_BYTES)
            magic = f.len == 3 && !memcmp(f.bytes, "ORC", 3);
    }
    if (!magic)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "not an ORC file (no \"ORC\" postscript)");
    if (orc_compression_check(compression, errbuf, errlen))
        return ERR_UNSUPPORTED;
    out->compression = (enum orc_compression)compression;
    if (out->compression != ORC_COMPRESSION_NONE && out->block_size > ORC_MAX_BLOCK_BYTES)
        return err_set(ERR_TOO_LARGE, errbuf, errlen,
                       "ORC compression block size %llu is over the limit of %d bytes",
                       (unsigned long long)out->block_size, ORC_MAX_BLOCK_BYTES);
    return ERR_OK;
}

/* ---- Footer ---------------------------------------------------------------------------------- */

static enum err
parse_stripe(const struct pb_field *m, struct orc_stripe_info *s, char *errbuf, size_t errlen)
{
    struct pb_reader r;
    struct pb_field f;

    if (m->wire != PB_BYTES)
        return malformed("stripe information", errbuf, errlen);
    pb_reader_init(&r, m->bytes, m->len);
    while (pb_more(&r)) {
        if (!pb_next(&r, &f))
            return malformed("stripe information", errbuf, errlen);
        if (f.wire != PB_VARINT)
            continue;
        if (f.number == 1)
            s->offset = f.value;
        else if (f.number == 2)
            s->index_length = f.value;
        else if (f.number == 3)
            s->data_length = f.value;
        else if (f.number == 4)
            s->footer_length = f.value;
        else if (f.number == 5)
            s->rows = f.value;
    }
    return ERR_OK;
}

/*
 * The root type's parts: subtype ids (packed or not) and field names, each
 * fewer than the types (`room` entries allocated).
 */
struct root_type {
    size_t room;
    uint32_t *subtypes;
    size_t nsubtypes;
    struct pb_field *names; /* slices borrowed from the message */
    size_t nnames;
};

static int
add_subtype(void *ctx, uint64_t v)
{
    struct root_type *t = ctx;

    if (v > UINT32_MAX || t->nsubtypes == t->room)
        return 0;
    t->subtypes[t->nsubtypes++] = (uint32_t)v;
    return 1;
}

/* A Type message: its kind; for the root (root != NULL) also subtypes and names. */
static enum err
parse_type(const struct pb_field *m, uint32_t *kind, struct root_type *root, char *errbuf,
           size_t errlen)
{
    struct pb_reader r;
    struct pb_field f;
    int has_kind = 0;

    if (m->wire != PB_BYTES)
        return malformed("type", errbuf, errlen);
    pb_reader_init(&r, m->bytes, m->len);
    while (pb_more(&r)) {
        if (!pb_next(&r, &f))
            return malformed("type", errbuf, errlen);
        if (f.number == 1 && f.wire == PB_VARINT) {
            *kind = f.value > UINT32_MAX ? UINT32_MAX : (uint32_t)f.value;
            has_kind = 1;
        } else if (root && f.number == 2) {
            if (!pb_each_varint(&f, add_subtype, root))
                return malformed("type (subtypes)", errbuf, errlen);
        } else if (root && f.number == 3 && f.wire == PB_BYTES) {
            if (root->nnames == root->room)
                return malformed("type (field names)", errbuf, errlen);
            root->names[root->nnames++] = f;
        }
    }
    if (!has_kind)
        return malformed("type (no kind)", errbuf, errlen);
    return ERR_OK;
}

/* The root struct's fields from its subtypes and names; kinds[] by type id. */
static enum err
bind_fields(const struct root_type *root, const uint32_t *kinds, struct orc_footer *out,
            char *errbuf, size_t errlen)
{
    size_t i;

    if (kinds[0] != ORC_STRUCT)
        return err_set(ERR_UNSUPPORTED, errbuf, errlen, "ORC root type is %s, not a struct",
                       orc_kind_name(kinds[0]));
    if (root->nnames != root->nsubtypes)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "malformed ORC footer (a struct of %zu fields with %zu names)",
                       root->nsubtypes, root->nnames);
    out->fields = xcalloc(root->nnames ? root->nnames : 1, sizeof(*out->fields));
    for (i = 0; i < root->nnames; i++) {
        const struct pb_field *n = &root->names[i];
        struct orc_field *f = &out->fields[i];
        uint32_t id = root->subtypes[i];

        if (n->len > ORC_MAX_NAME_BYTES || memchr(n->bytes, '\0', n->len))
            return malformed("footer (field name)", errbuf, errlen);
        f->name = xstrndup((const char *)n->bytes, n->len);
        out->nfields++;
        if (id == 0 || id >= out->ntypes)
            return malformed("footer (subtype id)", errbuf, errlen);
        if (kinds[id] >= ORC_KIND_COUNT)
            return err_set(ERR_UNSUPPORTED, errbuf, errlen, "field %s: unknown ORC type kind %u",
                           f->name, kinds[id]);
        if (kinds[id] == ORC_STRUCT || kinds[id] == ORC_LIST || kinds[id] == ORC_MAP ||
            kinds[id] == ORC_UNION)
            return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                           "field %s: nested ORC types (%s) are not supported", f->name,
                           orc_kind_name(kinds[id]));
        /* a flat struct flattened in pre-order: field i is type i + 1 */
        if (id != i + 1)
            return malformed("footer (types not in pre-order)", errbuf, errlen);
        f->column = id;
        f->kind = (enum orc_type_kind)kinds[id];
    }
    return ERR_OK;
}

/* Every Type, then the root's fields. */
static enum err
parse_types(const void *data, size_t len, struct orc_footer *out, char *errbuf, size_t errlen)
{
    struct root_type root = {.room = out->ntypes};
    uint32_t *kinds = xcalloc(out->ntypes, sizeof(*kinds));
    struct pb_reader r;
    struct pb_field f;
    size_t t = 0;
    enum err rc = ERR_OK;

    root.subtypes = xcalloc(out->ntypes, sizeof(*root.subtypes));
    root.names = xcalloc(out->ntypes, sizeof(*root.names));
    pb_reader_init(&r, data, len);
    while (!rc && pb_more(&r)) {
        if (!pb_next(&r, &f)) {
            rc = malformed("footer", errbuf, errlen);
        } else if (f.number == 4) {
            rc = parse_type(&f, &kinds[t], t == 0 ? &root : NULL, errbuf, errlen);
            t++;
        }
    }
    if (!rc)
        rc = bind_fields(&root, kinds, out, errbuf, errlen);
    free(kinds);
    free(root.subtypes);
    free(root.names);
    return rc;
}

/* Counts, scalars and the stripes of the footer (types come after). */
static enum err
parse_footer_top(const void *data, size_t len, struct orc_footer *out, char *errbuf, size_t errlen)
{
    struct pb_reader r;
    struct pb_field f;
    size_t s = 0;
    uint64_t first_row = 0;
    enum err rc;

    pb_reader_init(&r, data, len);
    while (pb_more(&r)) {
        if (!pb_next(&r, &f))
            return malformed("footer", errbuf, errlen);
        if (f.number == 2 && f.wire == PB_VARINT)
            out->content_length = f.value;
        else if (f.number == 6 && f.wire == PB_VARINT)
            out->rows = f.value;
        else if (f.number == 10)
            return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                           "ORC column encryption is not supported");
        else if (f.number == 3) {
            rc = parse_stripe(&f, &out->stripes[s], errbuf, errlen);
            if (rc)
                return rc;
            out->stripes[s].first_row = first_row;
            if (out->stripes[s].rows > UINT64_MAX / 2 - first_row)
                return malformed("footer (row counts)", errbuf, errlen);
            first_row += out->stripes[s++].rows;
        }
    }
    return ERR_OK;
}

enum err
orc_footer_parse(const void *data, size_t len, struct orc_footer *out, char *errbuf, size_t errlen)
{
    long nstripes = count_fields(data, len, 3), ntypes = count_fields(data, len, 4);
    enum err rc;

    memset(out, 0, sizeof(*out));
    if (nstripes < 0 || ntypes < 0)
        return malformed("footer", errbuf, errlen);
    if (ntypes == 0)
        return malformed("footer (no types)", errbuf, errlen);
    if (nstripes > ORC_MAX_STRIPES || ntypes > ORC_MAX_TYPES)
        return err_set(ERR_TOO_LARGE, errbuf, errlen,
                       "ORC footer has %ld stripes and %ld types (limits %d and %d)", nstripes,
                       ntypes, ORC_MAX_STRIPES, ORC_MAX_TYPES);
    out->nstripes = (size_t)nstripes;
    out->ntypes = (size_t)ntypes;
    out->stripes = xcalloc(out->nstripes ? out->nstripes : 1, sizeof(*out->stripes));
    rc = parse_footer_top(data, len, out, errbuf, errlen);
    if (!rc)
        rc = parse_types(data, len, out, errbuf, errlen);
    if (rc)
        orc_footer_release(out);
    return rc;
}

void
orc_footer_release(struct orc_footer *f)
{
    size_t i;

    if (!f)
        return;
    for (i = 0; i < f->nfields; i++)
        free(f->fields[i].name);
    free(f->fields);
    free(f->stripes);
    memset(f, 0, sizeof(*f));
}

/* ---- StripeFooter ---------------------------------------------------------------------------- */

static int
to_u32(uint64_t v, uint32_t *out)
{
    if (v > UINT32_MAX)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

/* A Stream (kind, column, length) or a ColumnEncoding (kind, dictionarySize) message. */
static int
parse_pair(const struct pb_field *m, uint32_t *a, uint32_t *b, uint64_t *length)
{
    struct pb_reader r;
    struct pb_field f;

    if (m->wire != PB_BYTES)
        return 0;
    pb_reader_init(&r, m->bytes, m->len);
    while (pb_more(&r)) {
        if (!pb_next(&r, &f))
            return 0;
        if (f.wire != PB_VARINT)
            continue;
        if ((f.number == 1 && !to_u32(f.value, a)) || (f.number == 2 && !to_u32(f.value, b)))
            return 0;
        if (f.number == 3 && length)
            *length = f.value;
    }
    return 1;
}

static enum err
parse_stripe_footer(const void *data, size_t len, uint64_t offset, uint64_t body,
                    struct orc_stripe_footer *out, char *errbuf, size_t errlen)
{
    struct pb_reader r;
    struct pb_field f;
    size_t s = 0, e = 0;
    uint64_t used = 0;

    pb_reader_init(&r, data, len);
    while (pb_more(&r)) {
        if (!pb_next(&r, &f))
            return malformed("stripe footer", errbuf, errlen);
        if (f.number == 1) {
            struct orc_stream_info *st = &out->streams[s++];

            if (!parse_pair(&f, &st->kind, &st->column, &st->length))
                return malformed("stripe footer (stream)", errbuf, errlen);
            if (st->length > body - used)
                return malformed("stripe footer (streams past the stripe)", errbuf, errlen);
            st->offset = offset + used;
            used += st->length;
        } else if (f.number == 2) {
            struct orc_encoding *en = &out->encodings[e++];

            if (!parse_pair(&f, &en->kind, &en->dictionary_size, NULL))
                return malformed("stripe footer (column encoding)", errbuf, errlen);
        } else if (f.number == 3 && f.wire == PB_BYTES) {
            size_t n = f.len < sizeof(out->timezone) - 1 ? f.len : sizeof(out->timezone) - 1;

            memcpy(out->timezone, f.bytes, n);
            out->timezone[n] = '\0';
        } else if (f.number == 4) {
            return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                           "ORC column encryption is not supported");
        }
    }
    return ERR_OK;
}

enum err
orc_stripe_footer_parse(const void *data, size_t len, uint64_t offset, uint64_t body,
                        struct orc_stripe_footer *out, char *errbuf, size_t errlen)
{
    long nstreams = count_fields(data, len, 1), nencodings = count_fields(data, len, 2);
    enum err rc;

    memset(out, 0, sizeof(*out));
    if (nstreams < 0 || nencodings < 0)
        return malformed("stripe footer", errbuf, errlen);
    if (nstreams > ORC_MAX_STREAMS || nencodings > ORC_MAX_TYPES)
        return err_set(ERR_TOO_LARGE, errbuf, errlen,
                       "ORC stripe footer has %ld streams and %ld encodings (limits %d and %d)",
                       nstreams, nencodings, ORC_MAX_STREAMS, ORC_MAX_TYPES);
    out->nstreams = (size_t)nstreams;
    out->nencodings = (size_t)nencodings;
    out->streams = xcalloc(out->nstreams ? out->nstreams : 1, sizeof(*out->streams));
    out->encodings = xcalloc(out->nencodings ? out->nencodings : 1, sizeof(*out->encodings));
    rc = parse_stripe_footer(data, len, offset, body, out, errbuf, errlen);
    if (rc)
        orc_stripe_footer_release(out);
    return rc;
}

void
orc_stripe_footer_release(struct orc_stripe_footer *f)
{
    if (!f)
        return;
    free(f->streams);
    free(f->encodings);
    memset(f, 0, sizeof(*f));
}
