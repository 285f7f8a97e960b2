/*
 * fuzz_s3_list_xml.c - libFuzzer target for the reader of S3's list answers
 *
 * The input is an answer body, read once as ListObjectsV2 and once as
 * ListObjectVersions, fed in two pieces cut at a point derived from its
 * length. Only ERR_OK, ERR_BAD_INPUT and ERR_TOO_LARGE may come back, and an
 * answer that reads keeps the contract: at most S3_LIST_ENTRIES_MAX entries,
 * each with a non-empty key (versions: a non-empty version id too), a
 * ListObjectsV2 entry without a version id and always latest, a delete
 * marker only in a version listing.
 *
 *   tests/fuzz/run.sh s3_list_xml      (libFuzzer; corpus tests/fuzz/corpus/s3_list_xml)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/s3_list_xml.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_page(enum s3_list_kind kind, const struct s3_list_page *p)
{
    size_t i;

    if (p->count > S3_LIST_ENTRIES_MAX)
        abort();
    for (i = 0; i < p->count; i++) {
        const struct s3_list_entry *e = &p->entries[i];

        if (!e->key || !e->key[0])
            abort();
        if (kind == S3_LIST_VERSIONS && (!e->version_id || !e->version_id[0]))
            abort();
        if (kind == S3_LIST_OBJECTS_V2 && (e->version_id || !e->is_latest || e->is_delete_marker))
            abort();
    }
}

static void
read_as(enum s3_list_kind kind, const char *data, size_t size)
{
    struct s3_list_page page;
    struct s3_list_xml *x;
    char errbuf[ERRBUF_SIZE];
    size_t cut = size ? (size * 7 + 3) % (size + 1) : 0;
    enum err rc;

    s3_list_page_init(&page);
    x = s3_list_xml_new(kind, &page);
    rc = s3_list_xml_feed(x, data, cut, errbuf, sizeof(errbuf));
    if (!rc)
        rc = s3_list_xml_feed(x, data + cut, size - cut, errbuf, sizeof(errbuf));
    if (!rc)
        rc = s3_list_xml_finish(x, errbuf, sizeof(errbuf));
    if (rc != ERR_OK && rc != ERR_BAD_INPUT && rc != ERR_TOO_LARGE)
        abort();
    if (!rc)
        check_page(kind, &page);
    s3_list_xml_free(x);
    s3_list_page_release(&page);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_as(S3_LIST_OBJECTS_V2, (const char *)data, size);
    read_as(S3_LIST_VERSIONS, (const char *)data, size);
    return 0;
}
