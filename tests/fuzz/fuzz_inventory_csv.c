/*
 * fuzz_inventory_csv.c - libFuzzer target for the S3 Inventory decoders
 *
 * The first input byte is a selector: bits 0-1 pick the fileSchema (none,
 * the versioned AWS schema, a short reordered one, one without Key), bits
 * 2-6 seed the chunk sizes, bit 7 also parses the rest as a manifest. The
 * rest is the CSV data file. It is decoded once in one feed and once in
 * chunks (with empty chunks between some); both transcripts must be
 * identical, and every line handed over must keep the contract (non-empty
 * bucket and key, quoted eTag, normalised date, booleans in range).
 *
 *   tests/fuzz/run.sh inventory_csv      (libFuzzer; corpus tests/fuzz/corpus/inventory_csv)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/inventory_decoder.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const schemas[4] = {
    NULL,
    "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, "
    "StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, "
    "ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, "
    "IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm",
    "Key, bucket, SIZE, IsLatest, LastModifiedDate, ETag, IsDeleteMarker",
    "Bucket, VersionId",
};

static void
check_date(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    size_t i;

    if (strlen(s) != sizeof(shape) - 1)
        abort();
    for (i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            abort();
    }
}

static enum err
on_line(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen)
{
    struct buf *out = ctx;
    size_t n;

    (void)errbuf;
    (void)errlen;
    if (!l->bucket || !*l->bucket || !l->key || !*l->key || l->line == 0)
        abort();
    if (l->is_latest < -1 || l->is_latest > 1 || l->is_delete_marker < 0 ||
        l->is_delete_marker > 1 || (l->has_size && l->size < 0))
        abort();
    if (l->version_id && !*l->version_id)
        abort();
    if (l->storage_class && !*l->storage_class)
        abort();
    if (l->last_modified)
        check_date(l->last_modified);
    if (l->etag) {
        n = strlen(l->etag);
        if (n < 2 || l->etag[n - 1] != '"' || (l->etag[0] != '"' && strncmp(l->etag, "W/\"", 3)))
            abort();
    }
    buf_printf(out, "L%zu|%s|%s|%s|%d|%d|%d:%lld|%s|%s|%s\n", l->line, l->bucket, l->key,
               l->version_id ? l->version_id : "-", l->is_latest, l->is_delete_marker, l->has_size,
               (long long)l->size, l->last_modified ? l->last_modified : "-",
               l->etag ? l->etag : "-", l->storage_class ? l->storage_class : "-");
    return ERR_OK;
}

/* Decode; max_chunk 0 means one feed. The transcript goes to out. */
static void
decode(const char *schema, const char *in, size_t len, unsigned seed, unsigned max_chunk,
       struct buf *out)
{
    struct inventory_csv *d = inventory_csv_new(schema, on_line, out);
    char msg[ERRBUF_SIZE] = "", again[ERRBUF_SIZE] = "";
    enum err rc = ERR_OK;
    size_t pos = 0;

    while (pos < len && !rc) {
        size_t n = len - pos;

        if (max_chunk) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % max_chunk;
            if (n > len - pos)
                n = len - pos;
        }
        rc = inventory_csv_feed(d, in + pos, n, msg, sizeof(msg));
        pos += n;
        if (max_chunk && !rc && (seed & 0x100))
            rc = inventory_csv_feed(d, in + pos, 0, msg, sizeof(msg));
    }
    if (!rc)
        rc = inventory_csv_finish(d, msg, sizeof(msg));
    if (rc) {
        /* errors are sticky */
        if (inventory_csv_finish(d, again, sizeof(again)) != rc || strcmp(again, msg))
            abort();
    }
    buf_printf(out, "rc %d: %s\n", (int)rc, rc ? msg : "");
    inventory_csv_free(d);
}

static void
check_manifest(const char *in, size_t len)
{
    struct inventory_manifest m;
    char msg[ERRBUF_SIZE] = "";
    size_t i, k;

    if (inventory_manifest_parse(in, len, &m, msg, sizeof(msg))) {
        if (m.files || m.destination_bucket || m.file_format)
            abort();
        return;
    }
    if (!m.destination_bucket || !*m.destination_bucket ||
        (strcmp(m.file_format, "CSV") && strcmp(m.file_format, "ORC") &&
         strcmp(m.file_format, "Parquet")))
        abort();
    if (m.has_creation_ms && m.creation_ms < 0)
        abort();
    for (i = 0; i < m.nfiles; i++) {
        if (!m.files[i].key || !*m.files[i].key || (m.files[i].has_size && m.files[i].size < 0))
            abort();
        for (k = 0; m.files[i].md5_hex && k < 32; k++) {
            char c = m.files[i].md5_hex[k];

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                abort();
        }
        if (m.files[i].md5_hex && m.files[i].md5_hex[32])
            abort();
    }
    inventory_manifest_release(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *schema;
    const char *in = (const char *)data + 1;
    struct buf a, b;
    unsigned sel;

    if (size < 1)
        return 0;
    sel = data[0];
    schema = schemas[sel & 3];
    if (sel & 0x80)
        check_manifest(in, size - 1);
    buf_init(&a, 0);
    buf_init(&b, 0);
    decode(schema, in, size - 1, 0, 0, &a);
    decode(schema, in, size - 1, sel, 1 + ((sel >> 2) & 0x1F), &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len)) {
        fprintf(stderr, "one-shot and chunked decodes differ:\n%s\n---\n%s\n", a.data, b.data);
        abort();
    }
    buf_release(&a);
    buf_release(&b);
    return 0;
}
