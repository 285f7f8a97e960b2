/*
 * fuzz_manifest.c - libFuzzer target for the S3 Inventory manifest.json parser
 *
 * The input is the manifest document. It is parsed twice (the two results
 * must agree: the parser has no hidden state); a rejected manifest owns
 * nothing and says why, an accepted one keeps the contract (bucket names of
 * printable ASCII without '/' or ':', the ARN prefix gone; S3's spelling of the format matching the
 * enum, files with a non-empty key, an MD5 of 32 lower-case hex digits, sizes and creation time not
 * negative). When it is a CSV inventory, its fileSchema is then handed to the CSV data file decoder
 * as the runner does, with a line of the AWS layout, and that decode must end cleanly (ERR_OK, or
 * with a message ERR_BAD_INPUT for the line, ERR_UNPROCESSABLE for the schema).
 *
 *   tests/fuzz/run.sh manifest      (libFuzzer; corpus tests/fuzz/corpus/manifest)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/inventory_decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const spelling[3] = {"CSV", "ORC", "Parquet"};

static int
same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void
check_file(const struct inventory_file *f)
{
    size_t k;

    if (!f->key || !*f->key || (f->has_size && f->size < 0))
        abort();
    if (!f->md5_hex)
        return;
    for (k = 0; k < 32; k++) {
        char c = f->md5_hex[k];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            abort();
    }
    if (f->md5_hex[32])
        abort();
}

/* A bucket name: 1..255 printable ASCII bytes, no '/', no ':' (an ARN's prefix is gone). */
static void
check_bucket(const char *b)
{
    size_t n = strlen(b), i;

    if (n == 0 || n > 255)
        abort();
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];

        if (c <= 0x20 || c >= 0x7F || c == '/' || c == ':')
            abort();
    }
}

static void
check_accepted(const struct inventory_manifest *m)
{
    size_t i;

    if (!m->destination_bucket)
        abort();
    check_bucket(m->destination_bucket);
    if (m->source_bucket)
        check_bucket(m->source_bucket);
    if (m->file_schema && !*m->file_schema)
        abort();
    if ((unsigned)m->format > INVENTORY_PARQUET || !m->file_format ||
        strcmp(m->file_format, spelling[m->format]))
        abort();
    if (m->has_creation_ms && m->creation_ms < 0)
        abort();
    if (m->nfiles && !m->files)
        abort();
    for (i = 0; i < m->nfiles; i++)
        check_file(&m->files[i]);
}

static void
check_same(const struct inventory_manifest *a, const struct inventory_manifest *b)
{
    size_t i;

    if (a->format != b->format || a->nfiles != b->nfiles ||
        a->has_creation_ms != b->has_creation_ms ||
        (a->has_creation_ms && a->creation_ms != b->creation_ms) ||
        !same_str(a->source_bucket, b->source_bucket) ||
        !same_str(a->destination_bucket, b->destination_bucket) ||
        !same_str(a->file_format, b->file_format) || !same_str(a->file_schema, b->file_schema))
        abort();
    for (i = 0; i < a->nfiles; i++) {
        if (!same_str(a->files[i].key, b->files[i].key) ||
            !same_str(a->files[i].md5_hex, b->files[i].md5_hex) ||
            a->files[i].has_size != b->files[i].has_size ||
            (a->files[i].has_size && a->files[i].size != b->files[i].size))
            abort();
    }
}

static enum err
on_line(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    (void)ctx;
    (void)errbuf;
    (void)errlen;
    if (!l->bucket || !*l->bucket || !l->key || !*l->key || l->line == 0)
        abort();
    return ERR_OK;
}

/* The manifest's fileSchema binding a data file, as the inventory runner does. */
static void
decode_with_schema(const char *schema)
{
    static const char line[] = "\"b\",\"k%20x\",\"v1\",\"true\",\"false\",\"5\","
                               "\"2024-01-02T03:04:05.000Z\",\"e\",\"STANDARD\"\n";
    struct inventory_csv *d = inventory_csv_new(schema, on_line, NULL);
    char msg[ERRBUF_SIZE] = "";
    enum err rc;

    rc = inventory_csv_feed(d, line, sizeof(line) - 1, msg, sizeof(msg));
    if (!rc)
        rc = inventory_csv_finish(d, msg, sizeof(msg));
    if (rc != ERR_OK && ((rc != ERR_BAD_INPUT && rc != ERR_UNPROCESSABLE) || !msg[0]))
        abort();
    inventory_csv_free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct inventory_manifest a, b;
    char msg[ERRBUF_SIZE] = "", msg2[ERRBUF_SIZE] = "";
    enum err rc, rc2;

    rc = inventory_manifest_parse((const char *)data, size, &a, msg, sizeof(msg));
    rc2 = inventory_manifest_parse((const char *)data, size, &b, msg2, sizeof(msg2));
    if (rc != rc2 || strcmp(msg, msg2))
        abort();
    if (rc) {
        if (!msg[0] || a.files || a.nfiles || a.destination_bucket || a.file_format ||
            a.source_bucket || a.file_schema)
            abort();
        return 0;
    }
    check_accepted(&a);
    check_same(&a, &b);
    if (a.format == INVENTORY_CSV)
        decode_with_schema(a.file_schema);
    inventory_manifest_release(&a);
    inventory_manifest_release(&b);
    return 0;
}
