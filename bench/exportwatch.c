/*
 * exportwatch.c - the client side of bench/export.sh
 *
 * Against a running ingestd whose INGESTD_EXPORTS names FILE and
 * s3://BUCKET/KEY (at S3_ENDPOINT, an s3rver):
 *   1. PUT /api/v1/repos.csv with REPOS rows (the effective file's size);
 *   2. MERGES times: POST one event of 10 new rows, POST /api/v1/merges, then
 *      watch both targets until each holds the new generation: the file
 *      when its inode changes (the export renames a new file in; stat every
 *      millisecond) and the object when its ETag (the MD5 of its bytes)
 *      changes (HEAD every 10 ms, so the watching does not eat the CPU the
 *      export needs). The lag of a target is the wall-clock time it was seen
 *      changed minus the merge's `finished_at` (set in the merge's
 *      transaction, just before its commit; same machine, same clock);
 *   3. checks that both targets then hold exactly GET /api/v1/repos.csv.
 * Prints one line per merge and "name value unit" lines: median and max lag
 * per target. Progress goes to stderr.
 *
 * Build: cc -D_GNU_SOURCE ... -lcurl -lcrypto (bench/export.sh does).
 *
 * usage: exportwatch BASE_URL FILE S3_ENDPOINT BUCKET KEY [REPOS [MERGES]]
 *        (defaults: 100000 10)
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct mem {
    char *data;
    size_t len;
};

static CURL *curl;

static size_t
collect(char *p, size_t size, size_t n, void *ud)
{
    struct mem *m = ud;
    size_t len = size * n;

    m->data = realloc(m->data, m->len + len + 1);
    memcpy(m->data + m->len, p, len);
    m->len += len;
    m->data[m->len] = '\0';
    return len;
}

/* One request; the body in *out (caller frees), headers in *hdrs when not NULL. */
static long
request(const char *method, const char *url, const char *ctype, const char *body, size_t len,
        struct mem *out, struct mem *hdrs)
{
    struct curl_slist *h = NULL;
    long status = 0;

    memset(out, 0, sizeof(*out));
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    if (hdrs) {
        memset(hdrs, 0, sizeof(*hdrs));
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, hdrs);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (ctype) {
        char line[128];

        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        h = curl_slist_append(h, line);
    }
    if (getenv("INGESTD_TOKEN")) {
        char line[512];

        snprintf(line, sizeof(line), "Authorization: Bearer %s", getenv("INGESTD_TOKEN"));
        h = curl_slist_append(h, line);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static long long
real_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "finished_at":"2026-12-06T23:30:58.123Z" of a merge's JSON, as ms since the epoch. */
static long long
finished_ms(const char *json)
{
    const char *p = strstr(json, "\"finished_at\":\"");
    struct tm tm;
    int ms = 0;

    if (!p)
        return 0;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(p + 15, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000 + ms;
}

/* The object's ETag without quotes into out ("" when there is none). */
static void
etag(const char *url, char *out, size_t outlen)
{
    struct mem body;
    struct mem hdrs;
    const char *p;

    out[0] = '\0';
    request("HEAD", url, NULL, NULL, 0, &body, &hdrs);
    p = hdrs.data ? strcasestr(hdrs.data, "\netag:") : NULL;
    if (p) {
        p += 6;
        while (*p == ' ' || *p == '"')
            p++;
        snprintf(out, outlen, "%.*s", (int)strcspn(p, "\"\r\n"), p);
    }
    free(body.data);
    free(hdrs.data);
}

static void
md5_hex(const char *data, size_t len, char out[33])
{
    unsigned char d[16];
    unsigned int n = 0;
    int i;

    EVP_Digest(data, len, d, &n, EVP_md5(), NULL);
    for (i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static int
cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a;
    long long y = *(const long long *)b;

    return (x > y) - (x < y);
}

static void
report(const char *name, long long *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_ll);
    printf("%s_median %lld ms\n", name, n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
    printf("%s_max %lld ms\n", name, v[n - 1]);
}

static ino_t
inode_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_ino : 0;
}

static void
seed(const char *base, long repos)
{
    size_t cap = (size_t)repos * 256 + 128;
    char *csv = malloc(cap);
    size_t len = 0;
    char url[512];
    struct mem out;
    long i;
    long st;

    len += (size_t)snprintf(csv, cap, "origin,path,branch,cloneUrl,changeset,publishUri\n");
    for (i = 0; i < repos; i++)
        len += (size_t)snprintf(csv + len, cap - len,
                                "github.com,org/repo-%06ld,main,https://github.com/org/repo-%06ld,"
                                "%040ld,https://artifactory.example.com/lst/repo-%06ld.jar\n",
                                i, i, i, i);
    snprintf(url, sizeof(url), "%s/api/v1/repos.csv", base);
    st = request("PUT", url, "text/csv", csv, len, &out, NULL);
    if (st != 200) {
        fprintf(stderr, "PUT repos.csv: %ld %s\n", st, out.data ? out.data : "");
        exit(1);
    }
    free(out.data);
    free(csv);
}

/* Wait until FILE and the object hold what GET /api/v1/repos.csv serves. */
static void
settle(const char *base, const char *file, const char *s3url)
{
    char url[512];
    char want[33];
    char got[128];
    struct mem served;
    long long t0 = real_ms();

    snprintf(url, sizeof(url), "%s/api/v1/repos.csv", base);
    request("GET", url, NULL, NULL, 0, &served, NULL);
    md5_hex(served.data, served.len, want);
    for (;;) {
        FILE *f = fopen(file, "rb");
        struct mem disk = {NULL, 0};
        char chunk[65536];
        size_t n;
        int same;

        while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            collect(chunk, 1, n, &disk);
        if (f)
            fclose(f);
        etag(s3url, got, sizeof(got));
        same = disk.len == served.len && memcmp(disk.data, served.data, served.len) == 0 &&
               strcmp(got, want) == 0;
        free(disk.data);
        if (same)
            break;
        if (real_ms() - t0 > 60000) {
            fprintf(stderr, "the targets do not hold what GET /api/v1/repos.csv serves\n");
            exit(1);
        }
        usleep(20000);
    }
    free(served.data);
}

int
main(int argc, char **argv)
{
    const char *base;
    const char *file;
    char s3url[512];
    char url[512];
    long repos;
    int merges;
    long long *file_lag;
    long long *s3_lag;
    int i;

    if (argc < 6) {
        fprintf(stderr, "usage: exportwatch BASE FILE S3_ENDPOINT BUCKET KEY [REPOS [MERGES]]\n");
        return 2;
    }
    base = argv[1];
    file = argv[2];
    snprintf(s3url, sizeof(s3url), "%s/%s/%s", argv[3], argv[4], argv[5]);
    repos = argc > 6 ? atol(argv[6]) : 100000;
    merges = argc > 7 ? atoi(argv[7]) : 10;
    file_lag = calloc((size_t)merges, sizeof(*file_lag));
    s3_lag = calloc((size_t)merges, sizeof(*s3_lag));
    for (i = 0; i < merges; i++)
        file_lag[i] = s3_lag[i] = -1; /* not seen yet */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    fprintf(stderr, "seeding %ld repositories\n", repos);
    seed(base, repos);
    settle(base, file, s3url);
    for (i = 0; i < merges; i++) {
        char ev[2048];
        size_t len = 0;
        char old_etag[128];
        char now_etag[128];
        ino_t old_ino = inode_of(file);
        struct mem out;
        long long fin;
        long long start;
        long polls = 0;
        int r;

        etag(s3url, old_etag, sizeof(old_etag));
        len += (size_t)snprintf(ev, sizeof(ev), "origin,path,branch,changeset,publishUri\n");
        for (r = 0; r < 10; r++)
            len += (size_t)snprintf(ev + len, sizeof(ev) - len,
                                    "github.com,org/new-%d-%d,main,c%d,https://a/%d-%d.jar\n", i, r,
                                    i, i, r);
        snprintf(url, sizeof(url), "%s/api/v1/events", base);
        request("POST", url, "text/csv", ev, len, &out, NULL);
        free(out.data);
        snprintf(url, sizeof(url), "%s/api/v1/merges", base);
        if (request("POST", url, "application/json", "", 0, &out, NULL) != 200) {
            fprintf(stderr, "merge failed: %s\n", out.data ? out.data : "");
            return 1;
        }
        fin = finished_ms(out.data);
        free(out.data);
        start = real_ms();
        while (file_lag[i] < 0 || s3_lag[i] < 0) {
            if (file_lag[i] < 0 && inode_of(file) != old_ino)
                file_lag[i] = real_ms() - fin;
            if (s3_lag[i] < 0 && ++polls % 10 == 0) { /* HEAD every 10 ms: s3rver is node */
                etag(s3url, now_etag, sizeof(now_etag));
                if (strcmp(now_etag, old_etag) != 0)
                    s3_lag[i] = real_ms() - fin;
            }
            if (real_ms() - start > 30000) {
                fprintf(stderr, "merge %d: a target did not change within 30 s\n", i);
                return 1;
            }
            usleep(1000);
        }
        settle(base, file, s3url); /* and it is exactly what is served */
        printf("merge %d: file %lld ms, s3 %lld ms after the merge's commit\n", i + 1, file_lag[i],
               s3_lag[i]);
        fflush(stdout);
    }
    report("export_file_lag", file_lag, merges);
    report("export_s3_lag", s3_lag, merges);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    free(file_lag);
    free(s3_lag);
    return 0;
}
