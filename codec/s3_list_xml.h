/*
 * s3_list_xml.h - the XML answers of S3's ListObjectsV2 and ListObjectVersions (pure)
 *
 * A streaming reader of the XML subset S3 writes: an optional <?xml ...?>
 * declaration, elements with attributes (xmlns), character data with the
 * five predefined entities and numeric character references, self-closing
 * tags, whitespace between elements. Comments, CDATA, DOCTYPE and processing
 * instructions after the root are refused (S3 never sends them), as are
 * mismatched or unclosed tags, text outside the root and a root that is not
 * the one the list call answers with (ListBucketResult, ListVersionsResult).
 *
 * Input arrives in chunks of any size (0 included); the entries of the page
 * are collected into a struct s3_list_page that the caller owns. Fields kept:
 *
 *   ListObjectsV2       <Contents>: Key, LastModified, ETag, Size, StorageClass;
 *                       IsTruncated, NextContinuationToken
 *   ListObjectVersions  <Version> and <DeleteMarker>: Key, VersionId, IsLatest,
 *                       LastModified, ETag, Size, StorageClass; IsTruncated,
 *                       NextKeyMarker, NextVersionIdMarker
 *   both                EncodingType: "url" means Key and NextKeyMarker are
 *                       URL-encoded (form encoding) and are decoded at finish
 *
 * Every entry has a non-empty key without NUL bytes; ListObjectsV2 entries have
 * version_id NULL and is_latest 1; a version without VersionId is an error.
 * Caps (checked before anything grows): element names 64 bytes, nesting 16,
 * one text value S3_LIST_TEXT_MAX bytes, S3_LIST_ENTRIES_MAX entries a page.
 * Errors are ERR_BAD_INPUT (malformed) or ERR_TOO_LARGE (a cap), with a
 * message naming the problem ("s3 list xml: ..."). Thread-safety: one reader
 * per thread; nothing global.
 */
#ifndef INGESTD_S3_LIST_XML_H
#define INGESTD_S3_LIST_XML_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define S3_LIST_TEXT_MAX 8192
#define S3_LIST_ENTRIES_MAX 10000

enum s3_list_kind {
    S3_LIST_OBJECTS_V2, /* <ListBucketResult> */
    S3_LIST_VERSIONS,   /* <ListVersionsResult> */
};

/* One listed object or version; strings are owned by the page (NULL: absent). */
struct s3_list_entry {
    char *key;
    char *version_id;    /* ListObjectVersions only; "null" for unversioned objects */
    char *etag;          /* as S3 writes it, quotes included; NULL for delete markers */
    char *last_modified; /* as S3 writes it: 2009-10-12T17:50:30.000Z */
    char *storage_class;
    uint64_t size;
    int has_size;
    int is_latest;
    int is_delete_marker;
};

/* One page of a list answer; the caller owns it (init, then release). */
struct s3_list_page {
    struct s3_list_entry *entries;
    size_t count;
    size_t alloc;
    int is_truncated;
    char *next_continuation_token; /* ListObjectsV2, when truncated */
    char *next_key_marker;         /* ListObjectVersions, when truncated */
    char *next_version_id_marker;  /* ListObjectVersions, when truncated */
};

void s3_list_page_init(struct s3_list_page *p);
/* Frees every entry and string; p can be init'ed again. */
void s3_list_page_release(struct s3_list_page *p);

struct s3_list_xml;

/* A reader filling page (borrowed, initialised by the caller) with the answer of kind. */
struct s3_list_xml *s3_list_xml_new(enum s3_list_kind kind, struct s3_list_page *page);
/* Feed the next len bytes (any split, 0 included). */
enum err s3_list_xml_feed(struct s3_list_xml *x, const char *data, size_t len, char *errbuf,
                          size_t errlen);
/* End of input: the root must be closed; URL-encoded keys are decoded here. */
enum err s3_list_xml_finish(struct s3_list_xml *x, char *errbuf, size_t errlen);
void s3_list_xml_free(struct s3_list_xml *x); /* NULL-safe; the page stays the caller's */

#endif
