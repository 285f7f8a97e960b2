/*
 * orc_column.c - one ORC column of a stripe, value by value (pure)
 *
 * orc_column_open() checks that the column's type and encoding go together,
 * wires the RLE decoders to the streams, and for a dictionary encoding
 * reads the whole dictionary (DICTIONARY_DATA decompressed, LENGTH turned
 * into offsets). orc_column_next() then reads the PRESENT bit and, for a
 * present value, what its type needs.
 *
 * Thread-safety: one column per thread; no globals.
 */
#include "codec/orc_column.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/s3_fields.h"

static const char *const stream_names[ORC_S_N] = {"PRESENT", "DATA", "LENGTH", "DICTIONARY_DATA",
                                                  "SECONDARY"};

static int
is_string(enum orc_type_kind k)
{
    return k == ORC_STRING || k == ORC_VARCHAR || k == ORC_CHAR;
}

/* writerTimezone values that mean UTC ("" when the stripe does not say). */
static int
is_utc(const char *tz)
{
    static const char *const utc[] = {
        "",    "UTC",           "GMT",       "Z",    "Etc/UTC",  "Etc/GMT", "Etc/UCT",
        "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu", "GMT0",    "Etc/GMT0"};
    size_t i;

    for (i = 0; i < sizeof(utc) / sizeof(utc[0]); i++) {
        if (!strcmp(tz, utc[i]))
            return 1;
    }
    return 0;
}

/* The type and encoding go together; the decoders are wired. */
static enum err
check_encoding(struct orc_column *c, const struct orc_column_spec *spec, char *errbuf,
               size_t errlen)
{
    uint32_t enc = spec->encoding.kind;
    int v2 = enc == ORC_DIRECT_V2 || enc == ORC_DICTIONARY_V2;
    int is_signed = !is_string(spec->kind);

    if (enc > ORC_DICTIONARY_V2)
        return err_set(ERR_UNSUPPORTED, errbuf, errlen, "field %s: unknown ORC column encoding %u",
                       spec->name, enc);
    c->dictionary = enc == ORC_DICTIONARY || enc == ORC_DICTIONARY_V2;
    if (c->dictionary && !is_string(spec->kind))
        return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                       "field %s: dictionary encoding of a %s column is not supported", spec->name,
                       orc_kind_name(spec->kind));
    if (spec->kind == ORC_TIMESTAMP && !is_utc(spec->timezone))
        return err_set(ERR_UNSUPPORTED, errbuf, errlen,
                       "field %s: timestamps written in time zone %s are not supported (only UTC)",
                       spec->name, spec->timezone);
    orc_bool_rle_init(&c->present, &c->s[ORC_S_PRESENT]);
    orc_bool_rle_init(&c->bools, &c->s[ORC_S_DATA]);
    orc_byte_rle_init(&c->bytes, &c->s[ORC_S_DATA]);
    orc_int_rle_init(&c->ints, &c->s[ORC_S_DATA], v2, is_signed);
    orc_int_rle_init(&c->lengths, &c->s[ORC_S_LENGTH], v2, 0);
    orc_int_rle_init(&c->nanos, &c->s[ORC_S_SECONDARY], v2, 0);
    return ERR_OK;
}

/* The dictionary: DICTIONARY_DATA whole, LENGTH as dict_n + 1 offsets. */
static enum err
load_dictionary(struct orc_column *c, const struct orc_column_spec *spec, char *errbuf,
                size_t errlen)
{
    uint64_t at = 0;
    size_t i;
    enum err rc;

    c->dict_n = spec->encoding.dictionary_size;
    if (c->dict_n > spec->rows)
        return err_set(ERR_BAD_INPUT, errbuf, errlen,
                       "field %s: a dictionary of %zu entries for %llu rows", spec->name, c->dict_n,
                       (unsigned long long)spec->rows);
    rc = orc_decompress_all(spec->compression, spec->block, spec->stream[ORC_S_DICT],
                            spec->stream_len[ORC_S_DICT], ORC_MAX_DICT_BYTES, &c->dict,
                            c->what[ORC_S_DICT], errbuf, errlen);
    if (rc)
        return rc;
    c->dict_off = xmalloc((c->dict_n + 1) * sizeof(*c->dict_off));
    c->dict_off[0] = 0;
    for (i = 0; i < c->dict_n; i++) {
        int64_t len;

        rc = orc_int_rle_next(&c->lengths, &len, errbuf, errlen);
        if (rc)
            return rc;
        if (len < 0 || (uint64_t)len > c->dict.len - at)
            return err_set(ERR_BAD_INPUT, errbuf, errlen,
                           "field %s: dictionary lengths run past its data", spec->name);
        at += (uint64_t)len;
        c->dict_off[i + 1] = at;
    }
    return ERR_OK;
}

enum err
orc_column_open(struct orc_column *c, const struct orc_column_spec *spec, char *errbuf,
                size_t errlen)
{
    int k;
    enum err rc;

    memset(c, 0, sizeof(*c));
    buf_init(&c->dict, 0);
    buf_init(&c->value, 0);
    c->kind = spec->kind;
    for (k = 0; k < ORC_S_N; k++) {
        snprintf(c->what[k], sizeof(c->what[k]), "field %s: %s stream", spec->name,
                 stream_names[k]);
        orc_stream_init(&c->s[k], spec->compression, spec->block, spec->stream[k],
                        spec->stream_len[k], c->what[k]);
    }
    c->has_present = spec->stream[ORC_S_PRESENT] != NULL;
    rc = check_encoding(c, spec, errbuf, errlen);
    if (!rc && c->dictionary)
        rc = load_dictionary(c, spec, errbuf, errlen);
    return rc;
}

void
orc_column_close(struct orc_column *c)
{
    int k;

    if (!c)
        return;
    for (k = 0; k < ORC_S_N; k++)
        orc_stream_release(&c->s[k]);
    buf_release(&c->dict);
    buf_release(&c->value);
    free(c->dict_off);
    c->dict_off = NULL;
}

/* v->s = a NUL-terminated copy of src[0..n) in c->value. */
static enum err
copy_value(struct orc_column *c, const char *src, int64_t n, struct orc_value *v, char *errbuf,
           size_t errlen)
{
    enum err rc = ERR_OK;

    if (n < 0 || n > ORC_MAX_VALUE_BYTES)
        return err_set(ERR_TOO_LARGE, errbuf, errlen, "%s: a value of %lld bytes (the limit is %d)",
                       c->what[c->dictionary ? ORC_S_DICT : ORC_S_DATA], (long long)n,
                       ORC_MAX_VALUE_BYTES);
    buf_reset(&c->value);
    buf_reserve(&c->value, (size_t)n);
    if (src && n > 0)
        memcpy(c->value.data, src, (size_t)n);
    else if (n > 0)
        rc = orc_stream_read(&c->s[ORC_S_DATA], c->value.data, (size_t)n, errbuf, errlen);
    if (rc)
        return rc;
    c->value.len = (size_t)n;
    c->value.data[n] = '\0';
    v->s = c->value.data;
    v->len = (size_t)n;
    return ERR_OK;
}

/* A string value: a dictionary entry, or LENGTH bytes of DATA. */
static enum err
next_string(struct orc_column *c, struct orc_value *v, char *errbuf, size_t errlen)
{
    int64_t n;
    uint64_t at;
    enum err rc;

    if (!c->dictionary) {
        rc = orc_int_rle_next(&c->lengths, &n, errbuf, errlen);
        return rc ? rc : copy_value(c, NULL, n, v, errbuf, errlen);
    }
    rc = orc_int_rle_next(&c->ints, &n, errbuf, errlen);
    if (rc)
        return rc;
    if (n < 0 || (uint64_t)n >= c->dict_n)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: dictionary index %lld out of range",
                       c->what[ORC_S_DATA], (long long)n);
    at = c->dict_off[n];
    return copy_value(c, at < c->dict.len ? c->dict.data + at : NULL,
                      (int64_t)(c->dict_off[n + 1] - at), v, errbuf, errlen);
}

int64_t
orc_timestamp_nanos(uint64_t encoded)
{
    uint64_t nanos = encoded >> 3;
    unsigned zeros = (unsigned)(encoded & 7), k;

    for (k = 0; zeros && k <= zeros && nanos < 1000000000; k++)
        nanos *= 10; /* `zeros` + 1 trailing zeros were removed */
    return nanos < 1000000000 ? (int64_t)nanos : -1;
}

/* Seconds since 2015 and encoded nanoseconds to milliseconds since 1970. */
static enum err
next_timestamp(struct orc_column *c, struct orc_value *v, char *errbuf, size_t errlen)
{
    int64_t secs, enc, nanos;
    enum err rc = orc_int_rle_next(&c->ints, &secs, errbuf, errlen);

    if (!rc)
        rc = orc_int_rle_next(&c->nanos, &enc, errbuf, errlen);
    if (rc)
        return rc;
    nanos = orc_timestamp_nanos((uint64_t)enc);
    if (nanos < 0)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: nanoseconds out of range",
                       c->what[ORC_S_SECONDARY]);
    if (secs < S3_TIME_MIN_S - ORC_TIMESTAMP_BASE_S || secs >= S3_TIME_MAX_S - ORC_TIMESTAMP_BASE_S)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: a timestamp outside years 0000-9999",
                       c->what[ORC_S_DATA]);
    secs += ORC_TIMESTAMP_BASE_S;
    /* writers truncate negative seconds toward zero and keep the nanoseconds positive */
    if (secs < 0 && nanos > 999999)
        secs--;
    if (secs < S3_TIME_MIN_S)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: a timestamp outside years 0000-9999",
                       c->what[ORC_S_DATA]);
    v->i = secs * 1000 + nanos / 1000000;
    return ERR_OK;
}

static enum err
next_date(struct orc_column *c, struct orc_value *v, char *errbuf, size_t errlen)
{
    int64_t days;
    enum err rc = orc_int_rle_next(&c->ints, &days, errbuf, errlen);

    if (rc)
        return rc;
    if (days < S3_TIME_MIN_S / 86400 || days >= S3_TIME_MAX_S / 86400)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s: a date outside years 0000-9999",
                       c->what[ORC_S_DATA]);
    v->i = days * 86400000;
    return ERR_OK;
}

enum err
orc_column_next(struct orc_column *c, struct orc_value *v, char *errbuf, size_t errlen)
{
    unsigned char b;
    int bit = 1;
    enum err rc = ERR_OK;

    memset(v, 0, sizeof(*v));
    if (c->has_present)
        rc = orc_bool_rle_next(&c->present, &bit, errbuf, errlen);
    if (rc || !bit)
        return rc;
    v->present = 1;
    switch (c->kind) {
    case ORC_BOOLEAN:
        rc = orc_bool_rle_next(&c->bools, &bit, errbuf, errlen);
        v->i = bit;
        return rc;
    case ORC_BYTE:
        rc = orc_byte_rle_next(&c->bytes, &b, errbuf, errlen);
        v->i = (signed char)b;
        return rc;
    case ORC_SHORT:
    case ORC_INT:
    case ORC_LONG:
        return orc_int_rle_next(&c->ints, &v->i, errbuf, errlen);
    case ORC_DATE:
        return next_date(c, v, errbuf, errlen);
    case ORC_TIMESTAMP:
    case ORC_TIMESTAMP_INSTANT:
        return next_timestamp(c, v, errbuf, errlen);
    case ORC_STRING:
    case ORC_VARCHAR:
    case ORC_CHAR:
        return next_string(c, v, errbuf, errlen);
    default:
        return err_set(ERR_UNSUPPORTED, errbuf, errlen, "%s: ORC type %s is not supported",
                       c->what[ORC_S_DATA], orc_kind_name(c->kind));
    }
}
