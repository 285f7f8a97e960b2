/*
 * importgen.c - the client side of bench/import.sh
 *
 *   importgen gen DIR N              write N distinct repos-lock.csv files of 10 rows to DIR
 *   importgen post BASE DIR CLIENTS  POST every file of DIR to BASE/api/v1/events from
 *                                    CLIENTS threads, each on one keep-alive connection
 *   importgen drop BASE DIR LOC WRITERS
 *                                    copy every file of DIR into LOC/pending/ from WRITERS
 *                                    threads (open, write, close: what cp does, not atomic),
 *                                    then wait until GET BASE/api/v1/imports counts them all
 *                                    accepted and LOC/pending/ is empty
 *
 * Prints one "name value unit" line per figure. With INGESTD_TOKEN set, requests carry
 * "Authorization: Bearer <it>".
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char auth_header[600];
static char **files;
static size_t nfiles;
static atomic_size_t next_file;
static atomic_size_t failures;
static const char *g_base;
static const char *g_dir;
static const char *g_loc;

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)n + 1);
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    data[n] = '\0';
    *len = (size_t)n;
    return data;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
list_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t alloc = 0;

    if (!d) {
        perror(dir);
        exit(1);
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (nfiles == alloc) {
            alloc = alloc ? 2 * alloc : 1024;
            files = realloc(files, alloc * sizeof(*files));
        }
        files[nfiles++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(files, nfiles, sizeof(*files), cmp_str);
}

static int
gen(const char *dir, unsigned long n)
{
    unsigned long i;
    int r;

    for (i = 0; i < n; i++) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/repos-lock-bench%lu-1700000000-%lu.csv", dir, i % 8, i);
        f = fopen(path, "w");
        if (!f) {
            perror(path);
            return 1;
        }
        fputs("origin,path,branch,cloneUrl,changeset,publishUri\n", f);
        for (r = 0; r < 10; r++)
            fprintf(f,
                    "github.com,org%lu/repo-%lu-%d,main,https://github.com/org%lu/repo-%lu-%d,"
                    "%08lx%02d,https://artifactory.example/lst/%lu-%d.jar\n",
                    i / 100, i, r, i / 100, i, r, i * 31 + 7, r, i, r);
        fclose(f);
    }
    return 0;
}

static size_t
discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static void *
post_worker(void *arg)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char url[1024];
    size_t i;

    (void)arg;
    snprintf(url, sizeof(url), "%s/api/v1/events", g_base);
    hdrs = curl_slist_append(hdrs, "Content-Type: text/csv");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (auth_header[0])
        hdrs = curl_slist_append(hdrs, auth_header);
    while ((i = atomic_fetch_add(&next_file, 1)) < nfiles) {
        char path[4096];
        size_t len = 0;
        char *body;
        long code = 0;

        snprintf(path, sizeof(path), "%s/%s", g_dir, files[i]);
        body = slurp(path, &len);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        if (curl_easy_perform(h) != CURLE_OK ||
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 201)
            atomic_fetch_add(&failures, 1);
        free(body);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return NULL;
}

/* cp: read the source, create the destination, write it, close it. */
static void *
drop_worker(void *arg)
{
    size_t i;

    (void)arg;
    while ((i = atomic_fetch_add(&next_file, 1)) < nfiles) {
        char src[4096];
        char dst[4096];
        size_t len = 0;
        char *data;
        int fd;

        snprintf(src, sizeof(src), "%s/%s", g_dir, files[i]);
        snprintf(dst, sizeof(dst), "%s/pending/%s", g_loc, files[i]);
        data = slurp(src, &len);
        fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) != 0)
            atomic_fetch_add(&failures, 1);
        free(data);
    }
    return NULL;
}

static void
run_threads(int n, void *(*fn)(void *))
{
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    int i;

    for (i = 0; i < n; i++)
        pthread_create(&t[i], NULL, fn, NULL);
    for (i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
}

static size_t
body_sink(char *p, size_t size, size_t n, void *ud)
{
    size_t *acc = ud;
    char text[4096];
    size_t len = size * n < sizeof(text) - 1 ? size * n : sizeof(text) - 1;
    char *hit;

    memcpy(text, p, len); /* the body is one small JSON object */
    text[len] = '\0';
    hit = strstr(text, "\"files_accepted\":");
    if (hit)
        *acc = strtoul(hit + 17, NULL, 10);
    return size * n;
}

static size_t
pending_count(void)
{
    char path[4096];
    DIR *d;
    struct dirent *de;
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/pending", g_loc);
    d = opendir(path);
    if (!d)
        return (size_t)-1;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* files_accepted of the first location of GET /api/v1/imports. */
static size_t
accepted(CURL *h)
{
    struct curl_slist *hdrs = NULL;
    char url[1024];
    size_t acc = 0;

    snprintf(url, sizeof(url), "%s/api/v1/imports", g_base);
    if (auth_header[0])
        hdrs = curl_slist_append(hdrs, auth_header);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &acc);
    curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    return acc;
}

int
main(int argc, char **argv)
{
    const char *tok = getenv("INGESTD_TOKEN");
    double t0;
    double t1;

    if (tok && *tok)
        snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %.500s", tok);
    if (argc == 4 && strcmp(argv[1], "gen") == 0)
        return gen(argv[2], strtoul(argv[3], NULL, 10));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc == 5 && strcmp(argv[1], "post") == 0) {
        g_base = argv[2];
        g_dir = argv[3];
        list_dir(g_dir);
        t0 = now_s();
        run_threads(atoi(argv[4]), post_worker);
        t1 = now_s();
        printf("post_files %zu files\npost_failed %zu files\n", nfiles, (size_t)failures);
        printf("post_seconds %.3f s\npost_rate %.0f files/s\n", t1 - t0,
               (double)nfiles / (t1 - t0));
        return failures != 0;
    }
    if (argc == 6 && strcmp(argv[1], "drop") == 0) {
        CURL *h = curl_easy_init();
        double written;
        double deadline;

        g_base = argv[2];
        g_dir = argv[3];
        g_loc = argv[4];
        list_dir(g_dir);
        t0 = now_s();
        run_threads(atoi(argv[5]), drop_worker);
        written = now_s();
        deadline = written + 600;
        while ((accepted(h) < nfiles || pending_count() != 0) && now_s() < deadline)
            usleep(20000);
        t1 = now_s();
        printf("drop_files %zu files\ndrop_failed %zu files\n", nfiles, (size_t)failures);
        printf("drop_written_seconds %.3f s\n", written - t0);
        printf("import_seconds %.3f s\nimport_rate %.0f files/s\n", t1 - t0,
               (double)nfiles / (t1 - t0));
        curl_easy_cleanup(h);
        return failures != 0 || t1 >= deadline;
    }
    fprintf(stderr, "usage: importgen gen DIR N | post BASE DIR CLIENTS | "
                    "drop BASE DIR LOC WRITERS\n");
    return 2;
}
