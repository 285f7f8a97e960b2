/*
 * invgen.c - a synthetic S3 Inventory (CSV, gzip) for bench/inventory.sh
 *
 * Writes N lines of a versioned S3 Inventory in the layout of the real
 * sample (tests' fixtures/s3-inventory/csv_inventory.csv.gz): no header,
 * every field quoted, the 18 columns of the manifest's fileSchema, keys
 * URL-encoded ("+" for a space, %XX otherwise). Keys are sorted and a key's
 * lines are adjacent (never split across files), its versions ordered by
 * VersionId as S3 lists them, so IsLatest is not always the last one:
 *   - most keys: one version (IsLatest true);
 *   - every 10th key: 3 versions; another 10th: 2 (one of them the "null"
 *     version written before versioning, VersionId "");
 *   - 1 key in 100: its latest version is a delete marker (empty Size, ETag,
 *     StorageClass), after an older version;
 *   - folder markers ("dir/", one version of size 0; every 8th key),
 *     multipart ETags ("...-N"), a few storage classes and
 *     Intelligent-Tiering tiers.
 * So 100 keys make 130 lines. The lines are split into F files of about N/F
 * lines each (the last key may lose versions so the total is exactly N),
 * written in parallel (one process per file, at most -j at a time) as
 * streamed gzip: only a 256 KiB buffer per process, never a whole file. The
 * content only depends on N and F (each key draws from its own generator).
 *
 * Also writes manifest.json (sourceBucket, destinationBucket ARN,
 * creationTimestamp, fileFormat CSV, fileSchema, files[].key/size/
 * MD5checksum, the MD5 of the stored gzip bytes) and manifest.checksum.
 *
 * The next day's inventory of the same bucket: -c C changes about C in 1000
 * of the latest versions that are not delete markers (an overwritten object:
 * a new Size, ETag and LastModifiedDate), -r R removes R in 1000 of the keys
 * with one version, both chosen by a hash of the key (and line), so the
 * files keep their key ranges and the lines their order. -p PREFIX puts the data files and manifest
 * under another prefix (default bench-inventory), -d D dates the manifest D days later. With -r the
 * files have fewer than LINES lines.
 *
 * usage: invgen [-l gzip_level] [-j jobs] [-c C] [-r R] [-p PREFIX] [-d D]
 *               OUTDIR BUCKET LINES FILES
 * stdout: "data PATH KEY SIZE MD5 LINES" per data file, then
 *         "manifest PATH KEY", "checksum PATH KEY", "lines N", "keys K",
 *         "delete_markers D", "uncompressed_bytes U", "seconds S".
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define CREATION_MS 1715043600000LL /* 2024-05-07T01:00:00Z: after every LastModifiedDate */
#define LM_FROM 1672531200LL        /* 2023-01-01T00:00:00Z */
#define LM_SPAN (CREATION_MS / 1000 - 3600 - LM_FROM)
#define CHUNK (256 * 1024)
#define MAX_GROUP 3

static const char file_schema[] =
    "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, "
    "StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, "
    "ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, "
    "IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm";

static const char *bucket;
static const char *prefix_dir = "bench-inventory";
static unsigned changed_per_mille; /* -c */
static unsigned removed_per_mille; /* -r */
static long long creation_ms = CREATION_MS;

static void
die(const char *what)
{
    fprintf(stderr, "invgen: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

/* ---- deterministic randomness: each key has its own splitmix64 stream ---- */

static uint64_t
splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- the shape of the inventory ---- */

/* Lines of key k (before any truncation at the end). */
static int
group_size(uint64_t k)
{
    if (k % 8 == 0)
        return 1; /* a folder marker (even k: never one of the odd k below) */
    if (k % 100 == 37)
        return 2; /* delete marker + an older version */
    if (k % 10 == 3)
        return 3;
    if (k % 10 == 7)
        return 2; /* the null version + a newer one */
    return 1;
}

struct line_out {
    char *p; /* write position in the line buffer */
};

static void
put(struct line_out *o, const char *s)
{
    size_t n = strlen(s);

    memcpy(o->p, s, n);
    o->p += n;
}

static void
put_q(struct line_out *o, const char *s, int comma)
{
    *o->p++ = '"';
    put(o, s); /* no value contains a quote */
    *o->p++ = '"';
    if (comma)
        *o->p++ = ',';
}

/* The URL-encoded key of key index k; its decoded forms sort like k. */
static void
key_of(uint64_t k, char *out, size_t len)
{
    uint64_t dir = k / 8;
    unsigned slot = (unsigned)(k % 8);
    char d[64];

    snprintf(d, sizeof(d), "production/project-%04llu/run-%07llu/",
             (unsigned long long)(dir / 1000), (unsigned long long)dir);
    switch (slot) {
    case 0: /* the folder marker */
        snprintf(out, len, "%s", d);
        break;
    case 1:
        snprintf(out, len, "%sL%07llu_R1_001.fastq.gz", d, (unsigned long long)dir);
        break;
    case 2:
        snprintf(out, len, "%sL%07llu_R2_001.fastq.gz", d, (unsigned long long)dir);
        break;
    case 3:
        snprintf(out, len, "%saligned.bam", d);
        break;
    case 4:
        snprintf(out, len, "%saligned.bam.bai", d);
        break;
    case 5: /* "qc report (final).html" */
        snprintf(out, len, "%sqc+report+%%28final%%29.html", d);
        break;
    case 6: /* "sample=PRJ1234567.vcf.gz" */
        snprintf(out, len, "%ssample%%3DPRJ%07llu.vcf.gz", d, (unsigned long long)dir);
        break;
    default: /* "übersicht notes.txt" */
        snprintf(out, len, "%s%%C3%%BCbersicht+notes.txt", d);
        break;
    }
}

static void
rand_version(uint64_t *rs, char out[33])
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    int i;

    for (i = 0; i < 32; i++)
        out[i] = abc[splitmix(rs) % 64];
    out[32] = '\0';
}

static void
rand_hex(uint64_t *rs, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = splitmix(rs), b = splitmix(rs);
    int i;

    for (i = 0; i < 16; i++) {
        out[i] = hex[(a >> (4 * i)) & 15];
        out[16 + i] = hex[(b >> (4 * i)) & 15];
    }
    out[32] = '\0';
}

static void
fmt_time(int64_t t, char out[80])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct version {
    char vid[33];
    int is_latest;
    int is_dm;
    int64_t lm;
};

static int
by_vid(const void *a, const void *b)
{
    return strcmp(((const struct version *)a)->vid, ((const struct version *)b)->vid);
}

struct stats {
    uint64_t lines;
    uint64_t keys;
    uint64_t delete_markers;
    uint64_t raw_bytes;
};

/* Write at most `max` lines of key k to buf; returns the bytes written. */
static size_t
emit_key(uint64_t k, int max, char *buf, struct stats *st)
{
    uint64_t rs = k * 0x2545f4914f6cdd1dULL + 12345;
    struct version v[MAX_GROUP];
    struct line_out o = {buf};
    char key[256];
    char lm[80];
    char etag[48];
    char num[32];
    int n = group_size(k);
    int folder = k % 8 == 0;
    int i;

    if (removed_per_mille && n == 1) {
        uint64_t h = k ^ 0x5eedULL;

        if (splitmix(&h) % 1000 < removed_per_mille)
            return 0; /* deleted since the first inventory */
    }
    key_of(k, key, sizeof(key));
    /* versions, oldest first: the newest is the latest (a delete marker for k % 100 == 37) */
    for (i = 0; i < n; i++) {
        if (n == 2 && k % 10 == 7 && i == 0 && k % 100 != 37)
            v[i].vid[0] = '\0'; /* the null version, written before versioning */
        else
            rand_version(&rs, v[i].vid);
        v[i].is_latest = i == n - 1;
        v[i].is_dm = i == n - 1 && k % 100 == 37;
        v[i].lm = LM_FROM + (int64_t)(splitmix(&rs) % (uint64_t)(LM_SPAN / 4)) +
                  (int64_t)i * (LM_SPAN / 4);
    }
    if (n < max)
        max = n;
    qsort(v, (size_t)n, sizeof(v[0]), by_vid);
    if (max < n) { /* the end of the inventory cuts the key: keep a latest one */
        for (i = 0; i < max; i++)
            v[i].is_latest = i == max - 1;
        n = max;
    }
    for (i = 0; i < n; i++) {
        uint64_t r = splitmix(&rs);
        int64_t size;
        int multipart = 0;
        const char *sc = "STANDARD";
        const char *tier = "";

        put_q(&o, bucket, 1);
        put_q(&o, key, 1);
        put_q(&o, v[i].vid, 1);
        put_q(&o, v[i].is_latest ? "true" : "false", 1);
        put_q(&o, v[i].is_dm ? "true" : "false", 1);
        fmt_time(v[i].lm, lm);
        if (v[i].is_dm) {
            /* Size, LastModifiedDate, ETag, StorageClass, ..., BucketKeyStatus DISABLED */
            put(&o, "\"\",");
            put_q(&o, lm, 1);
            put(&o, "\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"DISABLED\",\"\"\n");
            st->delete_markers++;
            continue;
        }
        if (folder) {
            size = 0;
        } else {
            /* log-uniform-ish: bytes to tens of GB */
            int shift = (int)(r % 36);

            size = (int64_t)(splitmix(&rs) & ((1ULL << shift) - 1)) + (1LL << shift) / 2;
        }
        if (size == 0) {
            strcpy(etag, "d41d8cd98f00b204e9800998ecf8427e");
        } else {
            rand_hex(&rs, etag);
            if (size > 16LL << 20) {
                multipart = 1;
                snprintf(etag + 32, sizeof(etag) - 32, "-%lld",
                         (long long)((size + (64LL << 20) - 1) / (64LL << 20)));
            }
        }
        switch ((r >> 8) % 20) {
        case 0:
        case 1:
        case 2:
            sc = "INTELLIGENT_TIERING";
            tier = (r >> 16) % 3 == 0 ? "ARCHIVE_INSTANT_ACCESS"
                                      : ((r >> 16) % 3 == 1 ? "INFREQUENT" : "FREQUENT");
            break;
        case 3:
            sc = "STANDARD_IA";
            break;
        case 4:
            sc = "GLACIER";
            break;
        case 5:
            sc = "DEEP_ARCHIVE";
            break;
        default:
            break;
        }
        if (changed_per_mille && v[i].is_latest) {
            uint64_t h = (k << 2 | (uint64_t)i) ^ 0xc4a96eULL;

            if (splitmix(&h) % 1000 < changed_per_mille) {
                /* overwritten since: another size and ETag, a later LastModifiedDate */
                size += 1 + (int64_t)(splitmix(&h) % 1000);
                rand_hex(&h, etag);
                fmt_time(LM_FROM + LM_SPAN - (int64_t)(splitmix(&h) % 3600), lm);
            }
        }
        snprintf(num, sizeof(num), "%lld", (long long)size);
        put_q(&o, num, 1);
        put_q(&o, lm, 1);
        put_q(&o, etag, 1);
        put_q(&o, sc, 1);
        put_q(&o, multipart ? "true" : "false", 1);
        put_q(&o, (r >> 24) % 50 == 0 ? "COMPLETED" : "", 1); /* ReplicationStatus */
        put_q(&o, "SSE-S3", 1);
        put(&o, "\"\",\"\",\"\","); /* ObjectLock* */
        put_q(&o, tier, 1);
        put_q(&o, "DISABLED", 1);
        put_q(&o, (r >> 32) % 10 == 0 ? "CRC32" : "", 0);
        *o.p++ = '\n';
    }
    st->lines += (uint64_t)n;
    st->keys++;
    return (size_t)(o.p - buf);
}

/* ---- one data file ---- */

struct gzout {
    FILE *f;
    z_stream z;
    EVP_MD_CTX *md5;
    unsigned char out[CHUNK];
    uint64_t size;
};

static void
gz_write(struct gzout *g, const char *data, size_t len, int flush)
{
    g->z.next_in = (unsigned char *)data;
    g->z.avail_in = (uInt)len;
    do {
        size_t have;

        g->z.next_out = g->out;
        g->z.avail_out = CHUNK;
        if (deflate(&g->z, flush) == Z_STREAM_ERROR)
            die("deflate");
        have = CHUNK - g->z.avail_out;
        if (have && fwrite(g->out, 1, have, g->f) != have)
            die("write");
        EVP_DigestUpdate(g->md5, g->out, have);
        g->size += have;
    } while (g->z.avail_out == 0);
}

/* Keys [k0, k1) of which at most `lines` lines; prints "SIZE MD5 LINES RAW DM KEYS" to fd. */
static void
write_file(const char *path, uint64_t k0, uint64_t k1, uint64_t lines, int level, int fd)
{
    static char in[CHUNK + 4096];
    struct gzout g;
    struct stats st;
    unsigned char md[16];
    unsigned int mdlen = 0;
    char hex[33];
    char res[256];
    size_t fill = 0;
    uint64_t k;
    unsigned i;
    int n;

    memset(&g, 0, sizeof(g));
    memset(&st, 0, sizeof(st));
    g.f = fopen(path, "wb");
    if (!g.f)
        die(path);
    if (deflateInit2(&g.z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    g.md5 = EVP_MD_CTX_new();
    if (!g.md5 || !EVP_DigestInit_ex(g.md5, EVP_md5(), NULL))
        die("md5");
    for (k = k0; k < k1 && st.lines < lines; k++) {
        fill += emit_key(k, (int)(lines - st.lines < MAX_GROUP ? lines - st.lines : MAX_GROUP),
                         in + fill, &st);
        if (fill >= CHUNK) {
            gz_write(&g, in, fill, Z_NO_FLUSH);
            st.raw_bytes += fill;
            fill = 0;
        }
    }
    gz_write(&g, in, fill, Z_FINISH);
    st.raw_bytes += fill;
    deflateEnd(&g.z);
    if (fclose(g.f) != 0)
        die(path);
    EVP_DigestFinal_ex(g.md5, md, &mdlen);
    EVP_MD_CTX_free(g.md5);
    for (i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    n = snprintf(res, sizeof(res), "%llu %s %llu %llu %llu %llu\n", (unsigned long long)g.size, hex,
                 (unsigned long long)st.lines, (unsigned long long)st.raw_bytes,
                 (unsigned long long)st.delete_markers, (unsigned long long)st.keys);
    if (write(fd, res, (size_t)n) != n)
        die("pipe");
}

/* ---- main ---- */

struct part {
    uint64_t k0, k1, lines;
    char path[4096];
    char key[512];
    pid_t pid;
    int fd;
    unsigned long long size, raw, dm, keys, got_lines;
    char md5[33];
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
collect(struct part *p)
{
    char res[256];
    ssize_t n = 0, r;
    int status;

    while ((r = read(p->fd, res + n, sizeof(res) - 1 - (size_t)n)) > 0)
        n += r;
    res[n] = '\0';
    close(p->fd);
    if (waitpid(p->pid, &status, 0) != p->pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(res, "%llu %32s %llu %llu %llu %llu", &p->size, p->md5, &p->got_lines, &p->raw,
               &p->dm, &p->keys) != 6) {
        fprintf(stderr, "invgen: writing %s failed\n", p->path);
        exit(1);
    }
}

static void
md5_file(const char *path, char hex[33])
{
    unsigned char buf[65536], md[16];
    unsigned int mdlen = 0, i;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f || !c || !EVP_DigestInit_ex(c, EVP_md5(), NULL))
        die(path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        EVP_DigestUpdate(c, buf, n);
    fclose(f);
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    for (i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int
main(int argc, char **argv)
{
    const char *outdir;
    unsigned long long total, nfiles, i;
    unsigned long long done_lines = 0, all_dm = 0, all_keys = 0, all_raw = 0;
    struct part *parts;
    uint64_t k = 0, line = 0;
    int level = Z_DEFAULT_COMPRESSION;
    long jobs = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long long running = 0, next = 0, reaped = 0;
    double t0 = now_s();
    char path[4096], hex[33];
    FILE *mf;
    int opt;

    while ((opt = getopt(argc, argv, "l:j:c:r:p:d:")) != -1) {
        if (opt == 'l')
            level = atoi(optarg);
        else if (opt == 'j')
            jobs = atol(optarg);
        else if (opt == 'c')
            changed_per_mille = (unsigned)atoi(optarg);
        else if (opt == 'r')
            removed_per_mille = (unsigned)atoi(optarg);
        else if (opt == 'p')
            prefix_dir = optarg;
        else if (opt == 'd')
            creation_ms = CREATION_MS + atoll(optarg) * 86400000LL;
        else
            goto usage;
    }
    if (argc - optind != 4)
        goto usage;
    outdir = argv[optind];
    bucket = argv[optind + 1];
    total = strtoull(argv[optind + 2], NULL, 10);
    nfiles = strtoull(argv[optind + 3], NULL, 10);
    if (!total || !nfiles || nfiles > total || jobs < 1)
        goto usage;
    snprintf(path, sizeof(path), "%s/data", outdir);
    if ((mkdir(outdir, 0755) != 0 && errno != EEXIST) ||
        (mkdir(path, 0755) != 0 && errno != EEXIST))
        die(path);

    /* cut the key sequence into files of about total/nfiles lines, at key boundaries */
    parts = calloc(nfiles, sizeof(*parts));
    if (!parts)
        die("calloc");
    for (i = 0; i < nfiles; i++) {
        uint64_t target = total * (i + 1) / nfiles;
        uint64_t start_line = line;
        uint64_t rs = 0xfeedULL + i;
        char uuid[33];

        parts[i].k0 = k;
        while (line < target) {
            line += (uint64_t)group_size(k);
            k++;
        }
        if (line > total)
            line = total; /* the last key loses versions */
        parts[i].k1 = k;
        parts[i].lines = line - start_line;
        rand_hex(&rs, uuid); /* S3 Inventory names its data files by UUID */
        snprintf(parts[i].path, sizeof(parts[i].path), "%s/data/%.8s-%.4s-%.4s-%.4s-%.12s.csv.gz",
                 outdir, uuid, uuid + 8, uuid + 12, uuid + 16, uuid + 20);
        snprintf(parts[i].key, sizeof(parts[i].key), "%s/%s/data/%s", bucket, prefix_dir,
                 strrchr(parts[i].path, '/') + 1);
    }
    fflush(stdout);
    while (reaped < nfiles) {
        while (next < nfiles && running < (unsigned long long)jobs) {
            struct part *p = &parts[next++];
            int fds[2];

            if (pipe(fds) != 0)
                die("pipe");
            p->pid = fork();
            if (p->pid < 0)
                die("fork");
            if (p->pid == 0) {
                close(fds[0]);
                write_file(p->path, p->k0, p->k1, p->lines, level, fds[1]);
                _exit(0);
            }
            close(fds[1]);
            p->fd = fds[0];
            running++;
        }
        collect(&parts[reaped++]); /* in order: a later one waits in its pipe */
        running--;
    }

    snprintf(path, sizeof(path), "%s/manifest.json", outdir);
    mf = fopen(path, "w");
    if (!mf)
        die(path);
    fprintf(mf,
            "{\n  \"sourceBucket\" : \"%s\",\n  \"destinationBucket\" : \"arn:aws:s3:::%s\",\n"
            "  \"version\" : \"2016-11-30\",\n  \"creationTimestamp\" : \"%lld\",\n"
            "  \"fileFormat\" : \"CSV\",\n  \"fileSchema\" : \"%s\",\n  \"files\" : [",
            bucket, bucket, creation_ms, file_schema);
    for (i = 0; i < nfiles; i++) {
        fprintf(
            mf,
            "%s {\n    \"key\" : \"%s\",\n    \"size\" : %llu,\n    \"MD5checksum\" : \"%s\"\n  }",
            i ? "," : "", parts[i].key, parts[i].size, parts[i].md5);
        printf("data %s %s %llu %s %llu\n", parts[i].path, parts[i].key, parts[i].size,
               parts[i].md5, parts[i].got_lines);
        done_lines += parts[i].got_lines;
        all_dm += parts[i].dm;
        all_keys += parts[i].keys;
        all_raw += parts[i].raw;
    }
    fprintf(mf, " ]\n}\n");
    if (fclose(mf) != 0)
        die(path);
    printf("manifest %s %s/%s/2024-05-07T01-00Z/manifest.json\n", path, bucket, prefix_dir);
    md5_file(path, hex);
    snprintf(path, sizeof(path), "%s/manifest.checksum", outdir);
    mf = fopen(path, "w");
    if (!mf || fprintf(mf, "%s\n", hex) < 0 || fclose(mf) != 0)
        die(path);
    printf("checksum %s %s/%s/2024-05-07T01-00Z/manifest.checksum\n", path, bucket, prefix_dir);
    printf("lines %llu\nkeys %llu\ndelete_markers %llu\nuncompressed_bytes %llu\nseconds %.2f\n",
           done_lines, all_keys, all_dm, all_raw, now_s() - t0);
    if (done_lines != total && !removed_per_mille) {
        fprintf(stderr, "invgen: wrote %llu lines, not %llu\n", done_lines, total);
        return 1;
    }
    return 0;
usage:
    fprintf(stderr, "usage: invgen [-l gzip_level] [-j jobs] [-c C] [-r R] [-p PREFIX] [-d D] "
                    "OUTDIR BUCKET LINES FILES\n");
    return 2;
}
