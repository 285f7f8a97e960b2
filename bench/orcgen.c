/*
 * orcgen.c - bench/invgen's S3 Inventory as Apache ORC files, for bench/inventory.sh
 *
 * No ORC writer installs on this machine (Debian 12 packages none, DuckDB
 * reads ORC but cannot write it, apache-arrow's JavaScript has no ORC), so
 * this writes the files itself, the way ORC's Java writer (the one S3
 * Inventory uses) lays them out:
 *   - one ORC file per invgen CSV.gz file, the same lines in the same order,
 *     with the 18 snake_case fields of S3 Inventory's ORC schema (the
 *     fixture's fileSchema): strings, booleans, bigint size, timestamps;
 *     keys URL-decoded and empty CSV fields null, as S3 writes them in ORC;
 *     the bucket field is BUCKET (so the catalog gets the rows apart from
 *     the CSV run's);
 *   - stripes of -s rows (default 200,000: five per file of 1,000,000 lines),
 *     compression chunks of 256 KiB with ORC's 3-byte headers, ZLIB by
 *     default (-c none|zlib|snappy|zstd), writerTimezone UTC;
 *   - integers in RLE v2 as the Java writer picks them: SHORT_REPEAT for 3-10
 *     equal values, DELTA for longer equal runs and monotonic literals
 *     (fixed or bit-packed deltas), DIRECT at the closest bit width otherwise
 *     (PATCHED_BASE is not written; test_orc_rle.c has the specification's
 *     example of it);
 *   - strings DICTIONARY_V2 (sorted dictionary) when a stripe's distinct
 *     values are at most 80 % of its values, like Java's
 *     orc.dictionary.key.threshold, DIRECT_V2 otherwise: bucket, key (130
 *     lines per 100 keys), storage class and the other low-cardinality fields
 *     get dictionaries, version ids and ETags are direct;
 *   - booleans as bit streams in byte RLE; PRESENT streams only in stripes
 *     where the field has nulls; timestamps as seconds from 2015-01-01 (DATA)
 *     and nanoseconds with their trailing zeros folded (SECONDARY).
 * Not written (the reader does not need them): row indexes, column
 * statistics, stripe statistics (metadataLength 0).
 *
 * usage: orcgen [-s stripe_rows] [-c none|zlib|snappy|zstd] [-j jobs]
 *               OUTDIR BUCKET KEYPREFIX FILE.csv.gz...
 * stdout: "data PATH KEY SIZE MD5 LINES" per file (KEY = KEYPREFIX/data/NAME.orc),
 *         then "seconds S".
 */
#include <errno.h>
#include <openssl/evp.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define NCOLS 18
#define BLOCK (256 * 1024)
#define TIMESTAMP_BASE_S 1420070400LL /* 2015-01-01T00:00:00Z */

enum kind { K_BOOLEAN = 0, K_LONG = 4, K_STRING = 7, K_TIMESTAMP = 9, K_STRUCT = 12 };
enum stream { S_PRESENT, S_DATA, S_LENGTH, S_DICT, S_SECONDARY, S_N };
static const int stream_kind[S_N] = {0, 1, 2, 3, 5}; /* ORC's Stream.Kind */
enum comp { C_NONE = 0, C_ZLIB = 1, C_SNAPPY = 2, C_ZSTD = 5 };

static const struct {
    const char *name;
    enum kind kind;
} cols[NCOLS] = {
    {"bucket", K_STRING},
    {"key", K_STRING},
    {"version_id", K_STRING},
    {"is_latest", K_BOOLEAN},
    {"is_delete_marker", K_BOOLEAN},
    {"size", K_LONG},
    {"last_modified_date", K_TIMESTAMP},
    {"e_tag", K_STRING},
    {"storage_class", K_STRING},
    {"is_multipart_uploaded", K_BOOLEAN},
    {"replication_status", K_STRING},
    {"encryption_status", K_STRING},
    {"object_lock_retain_until_date", K_TIMESTAMP},
    {"object_lock_mode", K_STRING},
    {"object_lock_legal_hold_status", K_STRING},
    {"intelligent_tiering_access_tier", K_STRING},
    {"bucket_key_status", K_STRING},
    {"checksum_algorithm", K_STRING},
};

static enum comp compression = C_ZLIB;
static size_t stripe_rows = 200000;
static const char *bucket;

static void
die(const char *what)
{
    fprintf(stderr, "orcgen: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

/* ---- growable byte buffers ---- */

struct obuf {
    unsigned char *p;
    size_t len, cap;
};

static void
ob_grow(struct obuf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    while (b->len + n > b->cap)
        b->cap = b->cap ? b->cap * 2 : 4096;
    b->p = realloc(b->p, b->cap);
    if (!b->p)
        die("realloc");
}

static void
ob_put(struct obuf *b, const void *p, size_t n)
{
    ob_grow(b, n);
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void
ob_byte(struct obuf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;

    ob_put(b, &c, 1);
}

/* ---- protobuf ---- */

static void
pb_varint(struct obuf *b, uint64_t v)
{
    while (v >= 0x80) {
        ob_byte(b, (unsigned)(v | 0x80));
        v >>= 7;
    }
    ob_byte(b, (unsigned)v);
}

static void
pb_uint(struct obuf *b, uint32_t field, uint64_t v)
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}

static void
pb_bytes(struct obuf *b, uint32_t field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    ob_put(b, p, n);
}

/* ---- byte RLE and booleans ---- */

static void
byte_rle(struct obuf *b, const unsigned char *v, size_t n)
{
    size_t i = 0, r, j;

    while (i < n) {
        for (r = 1; i + r < n && r < 130 && v[i + r] == v[i]; r++)
            ;
        if (r >= 3) {
            ob_byte(b, (unsigned)(r - 3));
            ob_byte(b, v[i]);
            i += r;
            continue;
        }
        for (j = i; j < n && j - i < 128; j++) {
            if (j + 2 < n && v[j] == v[j + 1] && v[j] == v[j + 2])
                break;
        }
        ob_byte(b, (unsigned)(256 - (j - i)));
        ob_put(b, v + i, j - i);
        i = j;
    }
}

/* bits (0/1 per value), most significant first, as byte RLE */
static void
bool_rle(struct obuf *b, const unsigned char *bits, size_t n)
{
    unsigned char *bytes = calloc(n / 8 + 1, 1);
    size_t i;

    if (!bytes)
        die("calloc");
    for (i = 0; i < n; i++) {
        if (bits[i])
            bytes[i / 8] |= (unsigned char)(0x80 >> (i % 8));
    }
    byte_rle(b, bytes, (n + 7) / 8);
    free(bytes);
}

/* ---- integer RLE v2 ---- */

static uint64_t
zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static int
bits_needed(uint64_t v)
{
    return v ? 64 - __builtin_clzll(v) : 0;
}

/* The closest width RLE v2 can say (1..24, 26, 28, 30, 32, 40, 48, 56, 64) and its 5-bit code. */
static int
closest_width(int bits, int *code)
{
    static const int wide[] = {26, 28, 30, 32, 40, 48, 56, 64};
    int i;

    if (bits < 1)
        bits = 1;
    if (bits <= 24) {
        *code = bits - 1;
        return bits;
    }
    for (i = 0; wide[i] < bits; i++)
        ;
    *code = 24 + i;
    return wide[i];
}

/* n values of w bits, most significant first, padded to a byte at the end */
static void
bit_pack(struct obuf *b, const uint64_t *v, size_t n, int w)
{
    unsigned cur = 0;
    int filled = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        int left = w;

        while (left > 0) {
            int space = 8 - filled, take = left < space ? left : space;
            unsigned bits = (unsigned)((v[i] >> (left - take)) & ((1u << take) - 1));

            cur |= bits << (space - take);
            filled += take;
            left -= take;
            if (filled == 8) {
                ob_byte(b, cur);
                cur = 0;
                filled = 0;
            }
        }
    }
    if (filled)
        ob_byte(b, cur);
}

static void
rle2_header(struct obuf *b, unsigned sub, int code, size_t n)
{
    ob_byte(b, sub << 6 | (unsigned)code << 1 | (unsigned)((n - 1) >> 8));
    ob_byte(b, (unsigned)((n - 1) & 0xff));
}

static void
short_repeat(struct obuf *b, int64_t v, size_t n, int is_signed)
{
    uint64_t u = is_signed ? zigzag(v) : (uint64_t)v;
    int bytes = (bits_needed(u) + 7) / 8, i;

    if (bytes == 0)
        bytes = 1;
    ob_byte(b, (unsigned)((bytes - 1) << 3 | (int)(n - 3)));
    for (i = bytes - 1; i >= 0; i--)
        ob_byte(b, (unsigned)(u >> (8 * i)));
}

static void
direct(struct obuf *b, const int64_t *v, size_t n, int is_signed, uint64_t *tmp)
{
    uint64_t max = 0;
    int code, w;
    size_t i;

    for (i = 0; i < n; i++) {
        tmp[i] = is_signed ? zigzag(v[i]) : (uint64_t)v[i];
        max |= tmp[i];
    }
    w = closest_width(bits_needed(max), &code);
    rle2_header(b, 1, code, n);
    bit_pack(b, tmp, n, w);
}

/* DELTA: base, first delta, then |deltas| at one width (none when fixed); 0: not monotonic */
static int
delta(struct obuf *b, const int64_t *v, size_t n, int is_signed, uint64_t *tmp)
{
    int64_t d0, d;
    uint64_t max = 0;
    int up = 1, down = 1, fixed = 1, code = 0, w = 0;
    size_t i;

    if (n < 3 || __builtin_sub_overflow(v[1], v[0], &d0))
        return 0;
    for (i = 1; i + 1 < n; i++) {
        if (__builtin_sub_overflow(v[i + 1], v[i], &d))
            return 0;
        up &= d >= 0;
        down &= d <= 0;
        fixed &= d == d0;
        tmp[i - 1] = d < 0 ? -(uint64_t)d : (uint64_t)d;
        max |= tmp[i - 1];
    }
    if (!fixed && !((up && d0 >= 0) || (down && d0 < 0)))
        return 0;
    if (!fixed) {
        w = closest_width(bits_needed(max), &code);
        if (w == 1) /* code 0 means a fixed delta */
            w = closest_width(2, &code);
    }
    rle2_header(b, 3, code, n);
    pb_varint(b, is_signed ? zigzag(v[0]) : (uint64_t)v[0]);
    pb_varint(b, zigzag(d0));
    if (!fixed)
        bit_pack(b, tmp, n - 2, w);
    return 1;
}

static void
rle2(struct obuf *b, const int64_t *v, size_t n, int is_signed)
{
    uint64_t tmp[512];
    size_t i = 0, r, j;

    while (i < n) {
        for (r = 1; i + r < n && r < 512 && v[i + r] == v[i]; r++)
            ;
        if (r >= 3 && r <= 10) {
            short_repeat(b, v[i], r, is_signed);
            i += r;
            continue;
        }
        if (r > 10) { /* a fixed delta of 0 */
            rle2_header(b, 3, 0, r);
            pb_varint(b, is_signed ? zigzag(v[i]) : (uint64_t)v[i]);
            pb_varint(b, 0);
            i += r;
            continue;
        }
        for (j = i; j < n && j - i < 512; j++) {
            if (j + 2 < n && v[j] == v[j + 1] && v[j] == v[j + 2])
                break;
        }
        if (!delta(b, v + i, j - i, is_signed, tmp))
            direct(b, v + i, j - i, is_signed, tmp);
        i = j;
    }
}

/* ---- the rows of a stripe ---- */

struct field {
    const char *p; /* NULL: null */
    size_t len;
};

struct stripe {
    size_t rows, cap;
    struct field *f; /* rows * NCOLS */
    struct obuf arena;
    size_t *offs; /* rows * NCOLS arena offsets while filling (the arena moves) */
};

/* the number in s[0..n) (digits only; the arena's values are not NUL-terminated) */
static int64_t
digits(const char *s, size_t n)
{
    int64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            errno = 0;
            die("a number that is not one");
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" to milliseconds since 1970 */
static int64_t
parse_time(const char *s, size_t len)
{
    int64_t y, mo, d, era, yoe, doy, doe, days, ms = 0;

    if (len < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') {
        errno = 0;
        die("a LastModifiedDate");
    }
    y = digits(s, 4);
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (len >= 23 && s[19] == '.')
        ms = digits(s + 20, 3);
    y -= mo <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    days = era * 146097 + doe - 719468;
    return (days * 86400 + digits(s + 11, 2) * 3600 + digits(s + 14, 2) * 60 + digits(s + 17, 2)) *
               1000 +
           ms;
}

static int
hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* One CSV line (every field quoted, no quote inside) into row r; 0 when it is not one. */
static int
add_line(struct stripe *s, const char *line, size_t len)
{
    size_t at = 0, c, r = s->rows;

    for (c = 0; c < NCOLS; c++) {
        size_t start, end, k;

        if (at >= len || line[at] != '"')
            return 0;
        start = ++at;
        while (at < len && line[at] != '"')
            at++;
        if (at >= len)
            return 0;
        end = at++;
        if (c + 1 < NCOLS && (at >= len || line[at++] != ','))
            return 0;
        s->offs[r * NCOLS + c] = s->arena.len;
        if (c == 0) {
            ob_put(&s->arena, bucket, strlen(bucket));
        } else if (c == 1) { /* the key, URL-decoded */
            for (k = start; k < end; k++) {
                if (line[k] == '+') {
                    ob_byte(&s->arena, ' ');
                } else if (line[k] == '%' && k + 2 < end) {
                    ob_byte(&s->arena, (unsigned)(hexval(line[k + 1]) << 4 | hexval(line[k + 2])));
                    k += 2;
                } else {
                    ob_byte(&s->arena, (unsigned char)line[k]);
                }
            }
        } else {
            ob_put(&s->arena, line + start, end - start);
        }
        s->f[r * NCOLS + c].len = s->arena.len - s->offs[r * NCOLS + c];
        s->f[r * NCOLS + c].p = (c > 1 && end == start) ? NULL : ""; /* set in finish_rows */
    }
    s->rows++;
    return 1;
}

static void
finish_rows(struct stripe *s)
{
    size_t i;

    for (i = 0; i < s->rows * NCOLS; i++) {
        if (s->f[i].p)
            s->f[i].p = (const char *)s->arena.p + s->offs[i];
    }
}

/* ---- one column of a stripe into its streams ---- */

struct col_out {
    struct obuf s[S_N];
    int encoding; /* ColumnEncoding.Kind: 2 DIRECT_V2, 3 DICTIONARY_V2 */
    size_t dict_size;
};

static const struct field *dict_sort_base;

static int
by_bytes(const void *a, const void *b)
{
    const struct field *x = &dict_sort_base[*(const uint32_t *)a];
    const struct field *y = &dict_sort_base[*(const uint32_t *)b];
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);

    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static uint64_t
hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* Non-null values v[0..n): a sorted dictionary when it pays (<= 80 % distinct), else direct. */
static void
strings(struct col_out *o, const struct field *v, size_t n, int64_t *ints)
{
    size_t cap = 16, i, nd = 0, mask;
    uint32_t *slot, *ids, *order, *rank;
    struct field *dict;

    while (cap < 2 * n)
        cap *= 2;
    mask = cap - 1;
    slot = malloc(cap * sizeof(*slot));
    ids = malloc((n + 1) * sizeof(*ids));
    dict = malloc((n + 1) * sizeof(*dict));
    if (!slot || !ids || !dict)
        die("malloc");
    memset(slot, 0xff, cap * sizeof(*slot));
    for (i = 0; i < n; i++) {
        size_t h = (size_t)hash_bytes(v[i].p, v[i].len) & mask;

        while (slot[h] != UINT32_MAX &&
               (dict[slot[h]].len != v[i].len || memcmp(dict[slot[h]].p, v[i].p, v[i].len) != 0))
            h = (h + 1) & mask;
        if (slot[h] == UINT32_MAX) {
            slot[h] = (uint32_t)nd;
            dict[nd++] = v[i];
        }
        ids[i] = slot[h];
    }
    if (nd * 10 > n * 8) {
        o->encoding = 2;
        for (i = 0; i < n; i++) {
            ob_put(&o->s[S_DATA], v[i].p, v[i].len);
            ints[i] = (int64_t)v[i].len;
        }
        rle2(&o->s[S_LENGTH], ints, n, 0);
    } else {
        order = malloc((nd + 1) * sizeof(*order));
        rank = malloc((nd + 1) * sizeof(*rank));
        if (!order || !rank)
            die("malloc");
        for (i = 0; i < nd; i++)
            order[i] = (uint32_t)i;
        dict_sort_base = dict;
        qsort(order, nd, sizeof(*order), by_bytes);
        for (i = 0; i < nd; i++) {
            rank[order[i]] = (uint32_t)i;
            ob_put(&o->s[S_DICT], dict[order[i]].p, dict[order[i]].len);
            ints[i] = (int64_t)dict[order[i]].len;
        }
        rle2(&o->s[S_LENGTH], ints, nd, 0);
        for (i = 0; i < n; i++)
            ints[i] = rank[ids[i]];
        rle2(&o->s[S_DATA], ints, n, 0);
        o->encoding = 3;
        o->dict_size = nd;
        free(order);
        free(rank);
    }
    free(slot);
    free(ids);
    free(dict);
}

/* Java's formatNanos: trailing decimal zeros removed, their count less one in the low 3 bits */
static int64_t
format_nanos(int64_t nanos)
{
    int zeros = 1;

    if (nanos == 0)
        return 0;
    if (nanos % 100 != 0)
        return nanos << 3;
    nanos /= 100;
    while (nanos % 10 == 0 && zeros < 7) {
        nanos /= 10;
        zeros++;
    }
    return nanos << 3 | zeros;
}

static void
encode_column(const struct stripe *s, size_t c, struct col_out *o)
{
    struct field *v = malloc((s->rows + 1) * sizeof(*v));
    unsigned char *bits = malloc(s->rows + 1);
    int64_t *a = malloc((s->rows + 1) * sizeof(*a)), *b = malloc((s->rows + 1) * sizeof(*b));
    size_t r, n = 0;

    if (!v || !bits || !a || !b)
        die("malloc");
    memset(o, 0, sizeof(*o));
    o->encoding = 2;
    for (r = 0; r < s->rows; r++) {
        const struct field *f = &s->f[r * NCOLS + c];

        bits[r] = f->p != NULL;
        if (f->p)
            v[n++] = *f;
    }
    if (n < s->rows)
        bool_rle(&o->s[S_PRESENT], bits, s->rows);
    if (cols[c].kind == K_STRING) {
        strings(o, v, n, a);
    } else if (cols[c].kind == K_BOOLEAN) {
        o->encoding = 0;
        for (r = 0; r < n; r++)
            bits[r] = v[r].len == 4 && memcmp(v[r].p, "true", 4) == 0;
        bool_rle(&o->s[S_DATA], bits, n);
    } else if (cols[c].kind == K_LONG) {
        for (r = 0; r < n; r++)
            a[r] = digits(v[r].p, v[r].len);
        rle2(&o->s[S_DATA], a, n, 1);
    } else { /* Java truncates the seconds toward zero, the nanoseconds stay positive */
        for (r = 0; r < n; r++) {
            int64_t ms = parse_time(v[r].p, v[r].len);

            a[r] = ms / 1000 - TIMESTAMP_BASE_S;
            b[r] = format_nanos((ms % 1000 + 1000) % 1000 * 1000000);
        }
        rle2(&o->s[S_DATA], a, n, 1);
        rle2(&o->s[S_SECONDARY], b, n, 0);
    }
    free(v);
    free(bits);
    free(a);
    free(b);
}

/* ---- compression and the file ---- */

struct out {
    FILE *f;
    EVP_MD_CTX *md5;
    uint64_t size;
    unsigned char *zbuf;
    size_t zcap;
};

static void
out_write(struct out *o, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, o->f) != n)
        die("write");
    EVP_DigestUpdate(o->md5, p, n);
    o->size += n;
}

static size_t
compress_block(const unsigned char *in, size_t n, unsigned char *out, size_t cap)
{
    size_t len = cap;

    if (compression == C_ZLIB) {
        z_stream z;

        memset(&z, 0, sizeof(z));
        if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            die("deflateInit2");
        z.next_in = (unsigned char *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
            die("deflate");
        len = cap - z.avail_out;
        deflateEnd(&z);
    } else if (compression == C_SNAPPY) {
        if (snappy_compress((const char *)in, n, (char *)out, &len) != SNAPPY_OK)
            die("snappy");
    } else {
        len = ZSTD_compress(out, cap, in, n, 3);
        if (ZSTD_isError(len))
            die("zstd");
    }
    return len;
}

/* in[0..n) as compression chunks (3-byte headers; a block that does not shrink stays original) */
static size_t
out_chunks(struct out *o, const unsigned char *in, size_t n)
{
    uint64_t at = o->size;
    size_t i;

    if (compression == C_NONE) {
        out_write(o, in, n);
        return n;
    }
    for (i = 0; i < n; i += BLOCK) {
        size_t k = n - i < BLOCK ? n - i : BLOCK, len;
        unsigned char h[3];
        uint32_t v;

        len = compress_block(in + i, k, o->zbuf, o->zcap);
        v = len < k ? (uint32_t)len * 2 : (uint32_t)k * 2 + 1;
        h[0] = (unsigned char)v;
        h[1] = (unsigned char)(v >> 8);
        h[2] = (unsigned char)(v >> 16);
        out_write(o, h, 3);
        out_write(o, len < k ? o->zbuf : in + i, len < k ? len : k);
    }
    return (size_t)(o->size - at);
}

/* One stripe: every column's streams, then the stripe footer; its StripeInformation to info. */
static void
write_stripe(struct out *o, const struct stripe *s, struct obuf *info)
{
    uint64_t offset = o->size, data_len;
    struct obuf sf = {0}, m = {0};
    struct col_out co;
    size_t c, len;
    int k;

    for (c = 0; c < NCOLS; c++) {
        encode_column(s, c, &co);
        for (k = 0; k < S_N; k++) {
            if (!co.s[k].len)
                continue;
            len = out_chunks(o, co.s[k].p, co.s[k].len);
            m.len = 0;
            pb_uint(&m, 1, (uint64_t)stream_kind[k]);
            pb_uint(&m, 2, c + 1);
            pb_uint(&m, 3, len);
            pb_bytes(&sf, 1, m.p, m.len);
            free(co.s[k].p);
        }
        if (c == 0) { /* the root struct's encoding comes first */
            m.len = 0;
            pb_uint(&m, 1, 0);
            pb_bytes(&sf, 2, m.p, m.len);
        }
        m.len = 0;
        pb_uint(&m, 1, (uint64_t)co.encoding);
        if (co.encoding == 3)
            pb_uint(&m, 2, co.dict_size);
        pb_bytes(&sf, 2, m.p, m.len);
    }
    pb_bytes(&sf, 3, "UTC", 3);
    data_len = o->size - offset;
    len = out_chunks(o, sf.p, sf.len);
    m.len = 0;
    pb_uint(&m, 1, offset);
    pb_uint(&m, 2, 0);
    pb_uint(&m, 3, data_len);
    pb_uint(&m, 4, len);
    pb_uint(&m, 5, s->rows);
    pb_bytes(info, 3, m.p, m.len);
    free(sf.p);
    free(m.p);
}

/* the Footer (after the stripes) and the PostScript */
static void
write_tail(struct out *o, const struct obuf *info, uint64_t rows)
{
    struct obuf f = {0}, m = {0}, sub = {0}, ps = {0};
    unsigned char ps_len;
    size_t c, len;

    pb_uint(&f, 1, 3);
    pb_uint(&f, 2, o->size);
    ob_put(&f, info->p, info->len);
    pb_uint(&m, 1, K_STRUCT);
    for (c = 0; c < NCOLS; c++)
        pb_varint(&sub, c + 1);
    pb_bytes(&m, 2, sub.p, sub.len);
    for (c = 0; c < NCOLS; c++)
        pb_bytes(&m, 3, cols[c].name, strlen(cols[c].name));
    pb_bytes(&f, 4, m.p, m.len);
    for (c = 0; c < NCOLS; c++) {
        m.len = 0;
        pb_uint(&m, 1, (uint64_t)cols[c].kind);
        pb_bytes(&f, 4, m.p, m.len);
    }
    pb_uint(&f, 6, rows);
    pb_uint(&f, 8, 0); /* rowIndexStride: no row indexes */
    len = out_chunks(o, f.p, f.len);
    pb_uint(&ps, 1, len);
    pb_uint(&ps, 2, (uint64_t)compression);
    pb_uint(&ps, 3, BLOCK);
    pb_bytes(&ps, 4, "\x00\x0c", 2); /* version 0.12 */
    pb_uint(&ps, 5, 0);
    pb_uint(&ps, 6, 6);
    pb_bytes(&ps, 8000, "ORC", 3);
    out_write(o, ps.p, ps.len);
    ps_len = (unsigned char)ps.len;
    out_write(o, &ps_len, 1);
    free(f.p);
    free(m.p);
    free(sub.p);
    free(ps.p);
}

/* ---- one file ---- */

static void
stripe_reset(struct stripe *s)
{
    s->rows = 0;
    s->arena.len = 0;
}

/* CSV.gz in_path to ORC out_path; prints "SIZE MD5 LINES" to fd */
static void
convert(const char *in_path, const char *out_path, int fd)
{
    gzFile in = gzopen(in_path, "rb");
    struct stripe s = {0};
    struct obuf info = {0};
    struct out o = {0};
    char line[8192], res[128];
    unsigned char md[16];
    unsigned int mdlen = 0, i;
    uint64_t rows = 0;
    int n;

    o.f = fopen(out_path, "wb");
    o.md5 = EVP_MD_CTX_new();
    o.zcap = BLOCK + BLOCK / 2 + 1024;
    o.zbuf = malloc(o.zcap);
    s.cap = stripe_rows;
    s.f = malloc(s.cap * NCOLS * sizeof(*s.f));
    s.offs = malloc(s.cap * NCOLS * sizeof(*s.offs));
    if (!in || !o.f || !o.md5 || !o.zbuf || !s.f || !s.offs ||
        !EVP_DigestInit_ex(o.md5, EVP_md5(), NULL))
        die(in_path);
    gzbuffer(in, 256 * 1024);
    out_write(&o, "ORC", 3);
    while (gzgets(in, line, sizeof(line))) {
        size_t len = strlen(line);

        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (!add_line(&s, line, len)) {
            errno = 0;
            die("a line that is not invgen's CSV");
        }
        if (s.rows == s.cap) {
            finish_rows(&s);
            write_stripe(&o, &s, &info);
            rows += s.rows;
            stripe_reset(&s);
        }
    }
    if (s.rows) {
        finish_rows(&s);
        write_stripe(&o, &s, &info);
        rows += s.rows;
    }
    gzclose(in);
    write_tail(&o, &info, rows);
    if (fclose(o.f) != 0)
        die(out_path);
    EVP_DigestFinal_ex(o.md5, md, &mdlen);
    EVP_MD_CTX_free(o.md5);
    n = snprintf(res, sizeof(res), "%llu ", (unsigned long long)o.size);
    for (i = 0; i < 16; i++)
        n += snprintf(res + n, sizeof(res) - (size_t)n, "%02x", md[i]);
    n += snprintf(res + n, sizeof(res) - (size_t)n, " %llu\n", (unsigned long long)rows);
    if (write(fd, res, (size_t)n) != n)
        die("pipe");
    free(o.zbuf);
    free(s.f);
    free(s.offs);
    free(s.arena.p);
    free(info.p);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
    char out[4096], key[4096];
    pid_t pid;
    int fd;
};

static void
reap(struct job *j)
{
    char res[256];
    ssize_t n = 0, r;
    int status;

    while ((r = read(j->fd, res + n, sizeof(res) - 1 - (size_t)n)) > 0)
        n += r;
    res[n] = '\0';
    close(j->fd);
    if (waitpid(j->pid, &status, 0) != j->pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        n == 0 || res[n - 1] != '\n') {
        fprintf(stderr, "orcgen: writing %s failed\n", j->out);
        exit(1);
    }
    res[n - 1] = '\0';
    {
        unsigned long long size, lines;
        char md5[33];

        if (sscanf(res, "%llu %32s %llu", &size, md5, &lines) != 3)
            exit(1);
        printf("data %s %s %llu %s %llu\n", j->out, j->key, size, md5, lines);
    }
}

int
main(int argc, char **argv)
{
    long jobs = sysconf(_SC_NPROCESSORS_ONLN);
    const char *outdir, *prefix;
    struct job *js;
    double t0 = now_s();
    int opt, nfiles, i, next = 0, reaped = 0, running = 0;

    while ((opt = getopt(argc, argv, "s:c:j:")) != -1) {
        if (opt == 's')
            stripe_rows = strtoul(optarg, NULL, 10);
        else if (opt == 'j')
            jobs = atol(optarg);
        else if (opt == 'c' && strcmp(optarg, "none") == 0)
            compression = C_NONE;
        else if (opt == 'c' && strcmp(optarg, "zlib") == 0)
            compression = C_ZLIB;
        else if (opt == 'c' && strcmp(optarg, "snappy") == 0)
            compression = C_SNAPPY;
        else if (opt == 'c' && strcmp(optarg, "zstd") == 0)
            compression = C_ZSTD;
        else
            goto usage;
    }
    if (argc - optind < 4 || stripe_rows < 1 || jobs < 1)
        goto usage;
    outdir = argv[optind];
    bucket = argv[optind + 1];
    prefix = argv[optind + 2];
    nfiles = argc - optind - 3;
    js = calloc((size_t)nfiles, sizeof(*js));
    if (!js)
        die("calloc");
    for (i = 0; i < nfiles; i++) {
        const char *in = argv[optind + 3 + i], *base = strrchr(in, '/');
        size_t blen;

        base = base ? base + 1 : in;
        blen = strlen(base);
        if (blen > 7 && strcmp(base + blen - 7, ".csv.gz") == 0)
            blen -= 7;
        snprintf(js[i].out, sizeof(js[i].out), "%s/%.*s.orc", outdir, (int)blen, base);
        snprintf(js[i].key, sizeof(js[i].key), "%s/data/%.*s.orc", prefix, (int)blen, base);
    }
    fflush(stdout);
    while (reaped < nfiles) {
        while (next < nfiles && running < jobs) {
            struct job *j = &js[next];
            int fds[2];

            if (pipe(fds) != 0)
                die("pipe");
            j->pid = fork();
            if (j->pid < 0)
                die("fork");
            if (j->pid == 0) {
                close(fds[0]);
                convert(argv[optind + 3 + next], j->out, fds[1]);
                _exit(0);
            }
            close(fds[1]);
            j->fd = fds[0];
            next++;
            running++;
        }
        reap(&js[reaped++]);
        running--;
    }
    printf("seconds %.2f\n", now_s() - t0);
    free(js);
    return 0;
usage:
    fprintf(stderr, "usage: orcgen [-s stripe_rows] [-c none|zlib|snappy|zstd] [-j jobs] "
                    "OUTDIR BUCKET KEYPREFIX FILE.csv.gz...\n");
    return 2;
}
