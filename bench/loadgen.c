/*
 * loadgen.c - the client side of bench/merge
 *
 * Generates a deterministic effective repos.csv of N repositories and E
 * repos-lock.csv events of 10 rows (updates of existing repositories, new
 * repositories, failed builds with an empty changeset or publishUri, quoted
 * fields with commas and doubled quotes), then against a running ingestd:
 *   1. PUT /api/v1/repos.csv with the N repositories;
 *   2. POST every event to /api/v1/events from C concurrent keep-alive
 *      connections (libcurl multi), timing the whole upload;
 *   3. POST /api/v1/merges, timing it;
 *   4. GET /api/v1/repos.csv once and writes it to OUT (for the GET benchmark).
 * Prints one "name value unit" line per figure.
 * With "curve" instead of OUT_FILE and a comma-separated list of event
 * counts, it measures merges of each count into REPOS rows and the GET
 * right after each merge against a cached GET (see curve()).
 *
 * usage: loadgen BASE_URL REPOS EVENTS CLIENTS OUT_FILE
 *        loadgen BASE_URL REPOS E1,E2,... CLIENTS curve
 * With INGESTD_TOKEN set, every request carries "Authorization: Bearer <it>".
 * With LOADGEN_UPLOAD_ONLY=1 only step 2 runs (bench/uploads.sh; OUT_FILE is
 * not written).
 */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct text {
    char *data;
    size_t len;
    size_t cap;
};

static void
text_add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->data = realloc(t->data, t->cap);
        if (!t->data)
            abort();
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
text_printf(struct text *t, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    text_add(t, line, (size_t)n);
}

static unsigned long long rng_state = 88172645463325252ULL;

static unsigned long long
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
sink(char *p, size_t size, size_t n, void *ud)
{
    struct text *t = ud;

    if (t)
        text_add(t, p, size * n);
    return size * n;
}

/* The path of repository i; every 20th one needs quoting. */
static void
repo_path(char *out, size_t len, unsigned long i)
{
    if (i % 20 == 7)
        snprintf(out, len, "\"org%lu/repo-%lu, \"\"quoted\"\"\"", i / 100, i);
    else
        snprintf(out, len, "org%lu/repo-%lu", i / 100, i);
}

/* "Authorization: Bearer $INGESTD_TOKEN" when that variable is set, else "". */
static char auth_header[600];

static struct curl_slist *
with_auth(struct curl_slist *hdrs)
{
    return auth_header[0] ? curl_slist_append(hdrs, auth_header) : hdrs;
}

static long
request(CURL *h, const char *method, const char *url, const char *ctype, const struct text *body,
        struct text *out)
{
    struct curl_slist *hdrs = NULL;
    char ct[128];
    long code = 0;

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (body) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, ct);
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    }
    hdrs = with_auth(hdrs);
    if (hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    return code;
}

/* nevents events of 10 rows over nrepos repositories (60% updates, 40% new, 30% failed builds). */
static struct text *
make_events(unsigned long nrepos, unsigned long nevents, unsigned long salt)
{
    struct text *events = calloc(nevents ? nevents : 1, sizeof(*events));
    char path[128];
    unsigned long e;
    int k;

    for (e = 0; e < nevents; e++) {
        text_add(&events[e], "origin,path,branch,changeset,publishUri,buildTool\n", 50);
        for (k = 0; k < 10; k++) {
            unsigned long long r = rng();
            /* 60% updates of known repositories, 40% new ones (with repeats) */
            unsigned long id = (r % 100) < 60
                                   ? (unsigned long)((r >> 8) % nrepos)
                                   : nrepos + (unsigned long)((r >> 8) % (nrepos / 2 + 1));
            int failed_build = (r >> 40) % 100 < 30;

            char changeset[32] = "";

            if (!failed_build)
                snprintf(changeset, sizeof(changeset), "%016llx", rng());
            repo_path(path, sizeof(path), id);
            text_printf(&events[e],
                        "github.com,%s,main,%s,https://artifactory.example.com/lst/"
                        "repo-%lu/e%lu-%lu.jar,maven\n",
                        path, changeset, id, salt, e);
        }
    }
    return events;
}

/* POST every event to /api/v1/events from nclients keep-alive connections; returns failures. */
static unsigned long
upload_all(const char *base, struct text *events, unsigned long nevents, int nclients)
{
    CURLM *multi = curl_multi_init();
    CURL **handles = calloc((size_t)nclients, sizeof(CURL *));
    struct curl_slist *hdrs = NULL;
    unsigned long next = 0;
    unsigned long done = 0;
    unsigned long failed = 0;
    char url[512];
    int k;

    hdrs = curl_slist_append(hdrs, "Content-Type: text/csv");
    hdrs = curl_slist_append(hdrs, "Expect:");
    hdrs = with_auth(hdrs);
    snprintf(url, sizeof(url), "%s/api/v1/events", base);
    for (k = 0; k < nclients && next < nevents; k++) {
        handles[k] = curl_easy_init();
        curl_easy_setopt(handles[k], CURLOPT_URL, url);
        curl_easy_setopt(handles[k], CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(handles[k], CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(handles[k], CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(handles[k], CURLOPT_POSTFIELDS, events[next].data);
        curl_easy_setopt(handles[k], CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)events[next].len);
        next++;
        curl_multi_add_handle(multi, handles[k]);
    }
    while (done < nevents) {
        int running = 0;
        int left = 0;
        CURLMsg *msg;

        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            CURL *eh = msg->easy_handle;
            long code = 0;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(eh, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || (code != 201 && code != 200))
                failed++;
            done++;
            curl_multi_remove_handle(multi, eh);
            if (next < nevents) {
                curl_easy_setopt(eh, CURLOPT_POSTFIELDS, events[next].data);
                curl_easy_setopt(eh, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)events[next].len);
                next++;
                curl_multi_add_handle(multi, eh);
            }
        }
        if (done < nevents)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    for (k = 0; k < nclients; k++)
        if (handles[k])
            curl_easy_cleanup(handles[k]);
    free(handles);
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    return failed;
}

/* Seconds a GET of repos.csv takes (gzip or not); its size in *bytes; < 0 on failure. */
static double
timed_get(CURL *h, const char *base, int gzip, size_t *bytes)
{
    struct text out = {0};
    char url[512];
    double t0 = now_s();
    long code;

    snprintf(url, sizeof(url), "%s/api/v1/repos.csv", base);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    {
        struct curl_slist *hdrs = with_auth(NULL);

        if (gzip)
            hdrs = curl_slist_append(hdrs, "Accept-Encoding: gzip");
        if (hdrs)
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        code = curl_easy_perform(h) == CURLE_OK ? 0 : -1;
        curl_slist_free_all(hdrs);
    }
    if (code == 0)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    t0 = now_s() - t0;
    if (bytes)
        *bytes = out.len;
    free(out.data);
    return code == 200 ? t0 : -1.0;
}

/*
 * The merge curve at one size: PUT nrepos repositories (with the buildTool
 * column the events carry, so merges add no column), GET once (the full
 * render), then for each E of the comma-separated list: upload E events,
 * time the merge, the first GET after it (the new generation's render) and
 * the best of three cached GETs (plain and gzip). One line per E.
 */
static int
curve(const char *base, unsigned long nrepos, const char *list, int nclients)
{
    struct text effective = {0};
    struct text out = {0};
    CURL *h = curl_easy_init();
    char url[512];
    char path[128];
    unsigned long i;
    double t0;
    const char *p = list;
    unsigned long round = 0;

    text_add(&effective, "origin,path,branch,cloneUrl,changeset,publishUri,buildTool\n", 59);
    for (i = 0; i < nrepos; i++) {
        repo_path(path, sizeof(path), i);
        text_printf(&effective,
                    "github.com,%s,main,https://github.com/org%lu/repo-%lu.git,%016llx,"
                    "https://artifactory.example.com/lst/repo-%lu/%016llx.jar,maven\n",
                    path, i / 100, i, rng(), i, rng());
    }
    snprintf(url, sizeof(url), "%s/api/v1/repos.csv", base);
    t0 = now_s();
    if (request(h, "PUT", url, "text/csv", &effective, NULL) != 200) {
        fprintf(stderr, "PUT repos.csv failed\n");
        return 1;
    }
    printf("R=%lu put %.1f s; full render (first GET) %.3f s\n", nrepos, now_s() - t0,
           timed_get(h, base, 0, NULL));
    free(effective.data);
    while (*p) {
        unsigned long nevents = strtoul(p, (char **)&p, 10);
        struct text *events = make_events(nrepos, nevents, ++round);
        double merge_s, after_s, cached_s = 1e9, cached_gz = 1e9;
        long server_ms;
        size_t bytes = 0;
        size_t gz_bytes = 0;
        int k;

        if (*p == ',')
            p++;
        if (upload_all(base, events, nevents, nclients) != 0) {
            fprintf(stderr, "some uploads failed\n");
            return 1;
        }
        snprintf(url, sizeof(url), "%s/api/v1/merges", base);
        t0 = now_s();
        if (request(h, "POST", url, NULL, NULL, &out) != 200) {
            fprintf(stderr, "merge failed: %s\n", out.data ? out.data : "");
            return 1;
        }
        merge_s = now_s() - t0;
        server_ms = strstr(out.data, "\"duration_ms\":")
                        ? atol(strstr(out.data, "\"duration_ms\":") + 14)
                        : -1;
        free(out.data);
        memset(&out, 0, sizeof(out));
        after_s = timed_get(h, base, 0, &bytes);
        for (k = 0; k < 3; k++) {
            double c = timed_get(h, base, 0, NULL);
            double g = timed_get(h, base, 1, &gz_bytes);

            cached_s = c < cached_s ? c : cached_s;
            cached_gz = g < cached_gz ? g : cached_gz;
        }
        printf("R=%-8lu E=%-6lu merge %8.1f ms (server %ld ms) | GET after merge %8.1f ms, cached "
               "%8.1f ms, "
               "ratio %5.2f | cached gzip GET %7.1f ms | %zu B, gzip %zu B\n",
               nrepos, nevents, merge_s * 1e3, server_ms, after_s * 1e3, cached_s * 1e3,
               after_s / cached_s, cached_gz * 1e3, bytes, gz_bytes);
        fflush(stdout);
        for (i = 0; i < nevents; i++)
            free(events[i].data);
        free(events);
    }
    curl_easy_cleanup(h);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *base;
    unsigned long nrepos;
    unsigned long nevents;
    int nclients;
    struct text effective = {0};
    struct text *events;
    struct text out = {0};
    char url[512];
    char path[128];
    CURL *h;
    CURLM *multi;
    CURL **handles;
    struct curl_slist *hdrs = NULL;
    unsigned long next = 0;
    unsigned long done = 0;
    unsigned long failed = 0;
    unsigned long e;
    unsigned long i;
    double t0;
    double t1;
    int k;
    FILE *f;
    int upload_only = getenv("LOADGEN_UPLOAD_ONLY") && atoi(getenv("LOADGEN_UPLOAD_ONLY"));

    if (argc == 6 && strcmp(argv[5], "curve") == 0) {
        if (getenv("INGESTD_TOKEN"))
            snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %.500s",
                     getenv("INGESTD_TOKEN"));
        curl_global_init(CURL_GLOBAL_ALL);
        return curve(argv[1], strtoul(argv[2], NULL, 10), argv[3], atoi(argv[4]));
    }
    if (argc != 6) {
        fprintf(stderr, "usage: loadgen BASE_URL REPOS EVENTS CLIENTS OUT_FILE\n"
                        "       loadgen BASE_URL REPOS E1,E2,... CLIENTS curve\n");
        return 2;
    }
    base = argv[1];
    if (getenv("INGESTD_TOKEN"))
        snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %.500s",
                 getenv("INGESTD_TOKEN"));
    nrepos = strtoul(argv[2], NULL, 10);
    nevents = strtoul(argv[3], NULL, 10);
    nclients = atoi(argv[4]);
    curl_global_init(CURL_GLOBAL_ALL);

    text_add(&effective, "origin,path,branch,cloneUrl,changeset,publishUri\n", 49);
    for (i = 0; i < nrepos; i++) {
        repo_path(path, sizeof(path), i);
        text_printf(&effective,
                    "github.com,%s,main,https://github.com/org%lu/repo-%lu.git,%016llx,"
                    "https://artifactory.example.com/lst/repo-%lu/%016llx.jar\n",
                    path, i / 100, i, rng(), i, rng());
    }
    events = calloc(nevents, sizeof(*events));
    for (e = 0; e < nevents; e++) {
        text_add(&events[e], "origin,path,branch,changeset,publishUri,buildTool\n", 50);
        for (k = 0; k < 10; k++) {
            unsigned long long r = rng();
            /* 60% updates of known repositories, 40% new ones (with repeats) */
            unsigned long id = (r % 100) < 60
                                   ? (unsigned long)((r >> 8) % nrepos)
                                   : nrepos + (unsigned long)((r >> 8) % (nrepos / 2 + 1));
            int failed_build = (r >> 40) % 100 < 30;

            char changeset[32] = "";

            if (!failed_build)
                snprintf(changeset, sizeof(changeset), "%016llx", rng());
            repo_path(path, sizeof(path), id);
            text_printf(&events[e],
                        "github.com,%s,main,%s,https://artifactory.example.com/lst/"
                        "repo-%lu/e%lu.jar,maven\n",
                        path, changeset, id, e);
        }
    }
    fprintf(stderr, "generated %lu repositories (%zu bytes) and %lu events\n", nrepos,
            effective.len, nevents);

    h = curl_easy_init();
    snprintf(url, sizeof(url), "%s/api/v1/repos.csv", base);
    t0 = now_s();
    if (!upload_only && request(h, "PUT", url, "text/csv", &effective, NULL) != 200) {
        fprintf(stderr, "PUT repos.csv failed\n");
        return 1;
    }
    printf("put_seconds %.3f s\n", now_s() - t0);

    /* uploads: nclients connections kept busy */
    multi = curl_multi_init();
    handles = calloc((size_t)nclients, sizeof(CURL *));
    hdrs = curl_slist_append(hdrs, "Content-Type: text/csv");
    hdrs = curl_slist_append(hdrs, "Expect:");
    hdrs = with_auth(hdrs);
    snprintf(url, sizeof(url), "%s/api/v1/events", base);
    t0 = now_s();
    for (k = 0; k < nclients && next < nevents; k++) {
        handles[k] = curl_easy_init();
        curl_easy_setopt(handles[k], CURLOPT_URL, url);
        curl_easy_setopt(handles[k], CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(handles[k], CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(handles[k], CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(handles[k], CURLOPT_POSTFIELDS, events[next].data);
        curl_easy_setopt(handles[k], CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)events[next].len);
        curl_easy_setopt(handles[k], CURLOPT_PRIVATE, (void *)(uintptr_t)next);
        next++;
        curl_multi_add_handle(multi, handles[k]);
    }
    while (done < nevents) {
        int running = 0;
        int left = 0;
        CURLMsg *msg;

        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            CURL *eh = msg->easy_handle;
            long code = 0;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(eh, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || (code != 201 && code != 200))
                failed++;
            done++;
            curl_multi_remove_handle(multi, eh);
            if (next < nevents) {
                curl_easy_setopt(eh, CURLOPT_POSTFIELDS, events[next].data);
                curl_easy_setopt(eh, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)events[next].len);
                next++;
                curl_multi_add_handle(multi, eh);
            }
        }
        if (done < nevents)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    t1 = now_s();
    printf("upload_events %lu events\n", nevents);
    printf("upload_failed %lu events\n", failed);
    printf("upload_seconds %.3f s\n", t1 - t0);
    printf("upload_rate %.0f events/s\n", (double)nevents / (t1 - t0));
    if (upload_only)
        return failed ? 1 : 0;

    snprintf(url, sizeof(url), "%s/api/v1/merges", base);
    t0 = now_s();
    if (request(h, "POST", url, NULL, NULL, &out) != 200) {
        fprintf(stderr, "merge failed: %s\n", out.data ? out.data : "");
        return 1;
    }
    t1 = now_s();
    printf("merge_seconds %.3f s\n", t1 - t0);
    printf("merge_result %s\n", out.data);

    free(out.data);
    memset(&out, 0, sizeof(out));
    snprintf(url, sizeof(url), "%s/api/v1/repos.csv", base);
    t0 = now_s();
    if (request(h, "GET", url, NULL, NULL, &out) != 200)
        return 1;
    printf("first_get_seconds %.3f s\n", now_s() - t0);
    printf("repos_csv_bytes %zu bytes\n", out.len);
    f = fopen(argv[5], "wb");
    if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0)
        return 1;
    return failed ? 1 : 0;
}
