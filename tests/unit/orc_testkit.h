/*
 * orc_testkit.h - a small ORC writer and a range-by-range reader for the ORC unit tests
 *
 * No ORC writer installs on this machine (no Debian or npm package writes
 * ORC), so the tests write their own files: struct orc_tfile describes one
 * stripe's columns (repeated nstripes times) and orc_tfile_build() lays out
 * the file as the ORCv1 specification says: "ORC", the stripes (data
 * streams, then the stripe footer), the Footer, the PostScript and its
 * length byte, every section but the PostScript in compression chunks made
 * with zlib, libsnappy or libzstd themselves.
 *
 * orc_kit_decode() reads a file as the service would, range by range, each
 * range copied into a heap buffer of exactly its size (so AddressSanitizer
 * sees any read past it), and returns the transcript of the lines, one per
 * line as tests/unit/test_inventory_decoder.c writes them:
 *   L<line>|bucket|key|versionId|IsLatest|IsDeleteMarker|size|lastModified|eTag|storageClass
 * then "rc <n>: <message>" when something failed.
 */
#ifndef INGESTD_TESTS_ORC_TESTKIT_H
#define INGESTD_TESTS_ORC_TESTKIT_H

#include <stddef.h>
#include <stdint.h>

#include "codec/inventory_decoder.h"
#include "codec/orc_column.h"
#include "codec/orc_meta.h"
#include "codec/orc_stream.h"
#include "core/buf.h"

#define ORC_KIT_MAX_COLS 24

/* One field of the root struct and its streams (by slot, enum orc_col_stream). */
struct orc_tcol {
    const char *name;
    uint32_t kind; /* enum orc_type_kind; LIST, MAP, STRUCT get child types */
    uint32_t enc;  /* enum orc_encoding_kind */
    uint32_t dict_size;
    struct buf s[ORC_S_N];
};

struct orc_tfile {
    enum orc_compression comp;
    size_t block;         /* compression block size (0: 256 KiB) */
    int original;         /* store every chunk original */
    const char *timezone; /* writerTimezone, NULL: none */
    uint64_t rows;        /* per stripe */
    size_t nstripes;      /* 0: 1 */
    int encrypted;        /* put an encryption field in the Footer */
    struct buf root_present;
    size_t ncols;
    struct orc_tcol cols[ORC_KIT_MAX_COLS];
};

void orc_tfile_init(struct orc_tfile *t, enum orc_compression comp, size_t block, uint64_t rows);
void orc_tfile_release(struct orc_tfile *t);

/* Add a column; vals[i] NULL is a null. dict: dictionary encoding. v2: RLE v2. */
void orc_tfile_strings(struct orc_tfile *t, const char *name, uint32_t kind,
                       const char *const *vals, int dict, int v2);
/* booleans: -1 null, 0, 1 */
void orc_tfile_bools(struct orc_tfile *t, const char *name, const int *vals);
/* integers (tinyint .. bigint) or dates (days); null where nulls[i] (nulls may be NULL) */
void orc_tfile_ints(struct orc_tfile *t, const char *name, uint32_t kind, const int64_t *vals,
                    const int *nulls, int v2);
/* timestamps from milliseconds since 1970, written as ORC's Java writer does */
void orc_tfile_times(struct orc_tfile *t, const char *name, uint32_t kind, const int64_t *ms,
                     const int *nulls, int v2);
/* a field of a nested kind (LIST, MAP, STRUCT) or any other, with no streams */
void orc_tfile_type(struct orc_tfile *t, const char *name, uint32_t kind);

/* The whole file (caller frees). */
unsigned char *orc_tfile_build(const struct orc_tfile *t, size_t *len);

/*
 * Append in[0..n) as compression chunks of kind (original: stored as is); for
 * NONE and the kinds the kit cannot write (LZO, LZ4, others) the bytes as they are.
 */
void orc_kit_chunks(enum orc_compression kind, size_t block, int original, const void *in, size_t n,
                    struct buf *out);

/* The transcript of file[0..n) read range by range; the first fetch is the last `guess` bytes. */
char *orc_kit_decode(const unsigned char *file, size_t n, size_t guess);

/* The transcript callback (ctx: a struct buf); exposed for tests with their own loops. */
enum err orc_kit_on_line(void *ctx, const struct inventory_line *l, char *errbuf, size_t errlen);

#endif
