/*
 * s3load.c - the client side of bench/s3-events
 *
 * Against a running ingestd, with deterministic S3 event notifications
 * (keys like "projects/p0042/run-0173/sample-03.bam" over 4 buckets,
 * versionId "null", real hex sequencers, sizes and eTags):
 *   1. prefill: POST /api/v1/s3/events batches of PREFILL_BATCH records from
 *      PREFILL_CLIENTS keep-alive connections until the catalog holds PREFILL
 *      records (about 78% creates of new keys, 10% deletes, 7% overwrites, 2%
 *      transitions without a sequencer, 3% repeat deliveries on top);
 *   2. measured: CLIENTS keep-alive connections (libcurl multi) post BATCHES
 *      batches each of exactly BATCH records (40% new keys, 27% overwrites
 *      and 20% deletes of existing keys, half of them recent ones, 5%
 *      restores/transitions without a sequencer, 8% repeat deliveries); the
 *      bodies are generated before the clock starts; records/s is
 *      (ingested + duplicates) / wall seconds, latency is per request;
 *   3. list: GET /api/v1/s3/objects?bucket=B&key=projects%2Fp0042%2F*&rowsPerPage=1000
 *      LIST_RUNS times on one keep-alive connection (after one untimed
 *      warm-up), checking that every response carries 1000 results.
 * Prints one "name value unit" line per figure; progress goes to stderr.
 *
 * Environment (bench/s3-events-copy.sh):
 *   S3LOAD_COPY_FILE   also write the measured phase's fresh records as COPY
 *                      text rows of s3_objects_events (write_copy())
 *   S3LOAD_LIST_PATH   the list to time instead (path and query, e.g.
 *                      /api/v1/s3?bucket=bench-1&key=run0042*&rowsPerPage=1000)
 *   S3LOAD_COUNT_PATH  also time this count LIST_RUNS times (its nRecords)
 *
 * usage: s3load BASE_URL [PREFILL [CLIENTS [BATCHES [BATCH [LIST_RUNS]]]]]
 *        (defaults: 1000000 16 150 100 50)
 */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREFILL_BATCH 1000
#define PREFILL_CLIENTS 4
#define NBUCKETS 4
#define LIST_BUCKET 0
#define LIST_PREFIX "projects/p0042/"
#define LIST_ROWS 1000
#define RECENT_RING 8192  /* recent records, for repeat deliveries */
#define RECENT_KEYS 20000 /* "recent" keys for overwrites and deletes */

static const char *const buckets[NBUCKETS] = {"ingestd-bench-raw", "ingestd-bench-analysis",
                                              "ingestd-bench-archive", "ingestd-bench-scratch"};
static const char *const exts[] = {"bam", "bam.bai", "vcf.gz", "fastq.gz", "json"};

/* ---- growable text ---- */

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
    char line[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    text_add(t, line, (size_t)n);
}

static size_t
sink(char *p, size_t size, size_t n, void *ud)
{
    struct text *t = ud;

    if (t)
        text_add(t, p, size * n);
    return size * n;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;

static unsigned long long
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned long long
mix(unsigned long long x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- the event model ---- */

enum kind { K_PUT, K_MPU, K_COPY, K_DELETE, K_TRANSITION, K_RESTORE };

static const char *const event_names[] = {
    "ObjectCreated:Put",   "ObjectCreated:CompleteMultipartUpload",
    "ObjectCreated:Copy",  "ObjectRemoved:Delete",
    "LifecycleTransition", "ObjectRestore:Completed"};

struct rec {
    uint32_t key;
    uint8_t kind;
    uint8_t noseq; /* sent without a sequencer */
    uint64_t g;    /* global event number: sequencer and time */
};

/* Bucket and URL-encoded key of key number i (every 50th is "... (copy).ext"). */
static const char *
key_of(uint32_t i, char *out, size_t len)
{
    uint32_t j = i / NBUCKETS;
    uint32_t project = j % 100;
    uint32_t run = (j / 100) % 400;
    uint32_t sample = j / 40000;

    snprintf(out, len, "projects/p%04u/run-%04u/sample-%02u%s.%s", project, run, sample,
             j % 50 == 7 ? "+%28copy%29" : "", exts[(sample + run) % 5]);
    return buckets[i % NBUCKETS];
}

static void
rec_json(struct text *t, const struct rec *r, int first)
{
    char key[160];
    const char *bucket = key_of(r->key, key, sizeof(key));
    unsigned long long h = mix(((unsigned long long)r->key << 32) ^ r->g ^ 0x5bd1e995ULL);
    unsigned long long h2 = mix(h);
    /* event time: 2025-03-01T00:00:00Z + 7 ms per event */
    uint64_t ms = 1740787200000ULL + r->g * 7ULL;
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char when[80];
    int deleted = r->kind == K_DELETE;

    gmtime_r(&secs, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
    text_printf(
        t,
        "%s{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"awsRegion\":"
        "\"ap-southeast-2\",\"eventTime\":\"%s\",\"eventName\":\"%s\",\"userIdentity\":"
        "{\"principalId\":\"AWS:AROAEXAMPLE:pipeline\"},\"requestParameters\":"
        "{\"sourceIPAddress\":\"10.2.%u.%u\"},\"responseElements\":{\"x-amz-request-id\":"
        "\"%016llX\",\"x-amz-id-2\":\"%016llx%016llx\"},\"s3\":{\"s3SchemaVersion\":\"1.0\","
        "\"configurationId\":\"ingestd-events\",\"bucket\":{\"name\":\"%s\","
        "\"ownerIdentity\":{\"principalId\":\"A3NL1KOZZKEXAMPLE\"},\"arn\":"
        "\"arn:aws:s3:::%s\"},\"object\":{\"key\":\"%s\"",
        first ? "" : ",", when, event_names[r->kind], (unsigned)(h & 0xff),
        (unsigned)((h >> 8) & 0xff), h2, h, h2, bucket, bucket, key);
    if (!deleted) {
        /* sizes: .bam large, indexes and json small */
        unsigned long long size = strstr(key, ".bam") && !strstr(key, ".bai")
                                      ? 1000000000ULL + h2 % 90000000000ULL
                                      : 200ULL + h2 % 50000000ULL;
        text_printf(t, ",\"size\":%llu,\"eTag\":\"%016llx%016llx\"", size, h, h2);
    }
    text_printf(t, ",\"versionId\":\"null\"");
    if (!r->noseq)
        /* like AWS: 18 hex digits, growing with time for one key */
        text_printf(t, ",\"sequencer\":\"00%012llX%02X%02X\"", 0x67C24F000000ULL + r->g,
                    (unsigned)(h & 0xff), (unsigned)((h >> 16) & 0xff));
    text_add(t, "}}}", 3);
}

struct gen {
    uint64_t g;                   /* last event number */
    uint32_t nkeys;               /* keys 0..nkeys-1 have been created */
    struct rec ring[RECENT_RING]; /* recent records */
    uint64_t nring;
};

static uint32_t
existing_key(struct gen *s)
{
    unsigned long long r = rng();

    if (s->nkeys > RECENT_KEYS && (r & 1))
        return s->nkeys - 1 - (uint32_t)((r >> 1) % RECENT_KEYS);
    return (uint32_t)((r >> 1) % s->nkeys);
}

/*
 * Next record; *fresh is 0 for a repeat delivery of an earlier record.
 * measured selects the mix of the measured phase.
 */
static struct rec
next_rec(struct gen *s, int measured, int *fresh)
{
    unsigned p = (unsigned)(rng() % 100);
    struct rec r = {0};

    *fresh = 1;
    if (s->nkeys < 1000)
        p = 0;
    /* thresholds: new key, overwrite, delete, no sequencer, repeat */
    if (p < (measured ? 40u : 78u)) {
        unsigned q = (unsigned)(rng() % 20);

        r.key = s->nkeys++;
        r.kind = q < 2 ? K_MPU : q < 3 ? K_COPY : K_PUT;
        r.g = ++s->g;
    } else if (p < (measured ? 67u : 85u)) {
        r.key = existing_key(s);
        r.kind = K_PUT;
        r.g = ++s->g;
    } else if (p < (measured ? 87u : 95u)) {
        r.key = existing_key(s);
        r.kind = K_DELETE;
        r.g = ++s->g;
    } else if (p < (measured ? 92u : 97u)) {
        r.key = existing_key(s);
        r.kind = (rng() & 1) ? K_TRANSITION : K_RESTORE;
        r.noseq = 1;
        r.g = ++s->g;
        return r; /* a repeat of it would be a new record (generated sequencer) */
    } else {
        *fresh = 0;
        return s->ring[(s->nring - 1 - rng() % (s->nring < 2000 ? s->nring : 2000)) % RECENT_RING];
    }
    s->ring[s->nring++ % RECENT_RING] = r;
    return r;
}

/* the measured phase's fresh records, in body order, for the COPY file (S3LOAD_COPY_FILE) */
static struct rec *kept;
static size_t nkept;
static size_t capkept;

/* A body of n records; returns how many of them are not repeat deliveries. */
static size_t
make_body(struct gen *s, struct text *t, size_t n, int measured)
{
    size_t fresh = 0;
    size_t i;
    int f;

    t->len = 0;
    text_add(t, "{\"Records\":[", 12);
    for (i = 0; i < n; i++) {
        struct rec r = next_rec(s, measured, &f);

        rec_json(t, &r, i == 0);
        fresh += (size_t)f;
        if (measured && f && capkept) {
            if (nkept == capkept) {
                capkept *= 2;
                kept = realloc(kept, capkept * sizeof(*kept));
                if (!kept)
                    abort();
            }
            kept[nkept++] = r;
        }
    }
    text_add(t, "]}", 2);
    return fresh;
}

/* ---- response figures ---- */

static long long
json_num(const char *body, const char *name)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\"", name);
    p = body ? strstr(body, pat) : NULL;
    if (!p)
        return -1;
    p += strlen(pat);
    while (*p == ' ' || *p == ':')
        p++;
    return strtoll(p, NULL, 10);
}

static size_t
count_of(const char *body, const char *needle)
{
    size_t n = 0;
    const char *p = body;

    while (p && (p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
pct(const double *sorted, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return 0;
    i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

/* ---- posting batches from several keep-alive connections ---- */

struct slot {
    CURL *h;
    struct text body;
    struct text resp;
};

/* fills body with the next batch; 0 when there is none */
typedef int (*next_body_fn)(void *ctx, struct text *body);

struct phase {
    size_t requests;
    size_t failed;
    unsigned long long ingested;
    unsigned long long duplicates;
    double *lat_ms;
    double seconds;
};

static void
slot_start(CURLM *multi, struct slot *s)
{
    s->resp.len = 0;
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body.data);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body.len);
    curl_multi_add_handle(multi, s->h);
}

static void
run_phase(const char *url, int nclients, size_t maxreq, next_body_fn next, void *ctx,
          struct phase *ph, int progress)
{
    CURLM *multi = curl_multi_init();
    struct slot *slots = calloc((size_t)nclients, sizeof(*slots));
    struct curl_slist *hdrs = NULL;
    int active = 0;
    int k;
    double t0;
    double last = 0;

    memset(ph, 0, sizeof(*ph));
    ph->lat_ms = calloc(maxreq ? maxreq : 1, sizeof(double));
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)nclients * 2);
    t0 = now_s();
    for (k = 0; k < nclients; k++) {
        slots[k].h = curl_easy_init();
        curl_easy_setopt(slots[k].h, CURLOPT_URL, url);
        curl_easy_setopt(slots[k].h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(slots[k].h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(slots[k].h, CURLOPT_WRITEDATA, &slots[k].resp);
        curl_easy_setopt(slots[k].h, CURLOPT_PRIVATE, (void *)&slots[k]);
        curl_easy_setopt(slots[k].h, CURLOPT_TIMEOUT, 600L);
        if (next(ctx, &slots[k].body)) {
            slot_start(multi, &slots[k]);
            active++;
        }
    }
    while (active > 0) {
        int running = 0;
        int left = 0;
        CURLMsg *msg;

        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            CURL *eh = msg->easy_handle;
            struct slot *s = NULL;
            long code = 0;
            curl_off_t us = 0;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(eh, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(eh, CURLINFO_RESPONSE_CODE, &code);
            curl_easy_getinfo(eh, CURLINFO_TOTAL_TIME_T, &us);
            if (msg->data.result != CURLE_OK || code != 200) {
                if (ph->failed++ < 3)
                    fprintf(stderr, "POST failed: %s, HTTP %ld: %.300s\n",
                            curl_easy_strerror(msg->data.result), code,
                            s->resp.data ? s->resp.data : "");
            } else {
                long long i = json_num(s->resp.data, "ingested");
                long long d = json_num(s->resp.data, "duplicates");

                ph->ingested += i > 0 ? (unsigned long long)i : 0;
                ph->duplicates += d > 0 ? (unsigned long long)d : 0;
            }
            if (ph->requests < maxreq)
                ph->lat_ms[ph->requests] = (double)us / 1000.0;
            ph->requests++;
            curl_multi_remove_handle(multi, eh);
            active--;
            if (next(ctx, &s->body)) {
                slot_start(multi, s);
                active++;
            }
        }
        if (progress && now_s() - last > 10) {
            last = now_s();
            fprintf(stderr, "  %zu requests, %llu ingested, %.0f s\n", ph->requests, ph->ingested,
                    last - t0);
        }
        if (active > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    ph->seconds = now_s() - t0;
    for (k = 0; k < nclients; k++) {
        curl_easy_cleanup(slots[k].h);
        free(slots[k].body.data);
        free(slots[k].resp.data);
    }
    free(slots);
    curl_slist_free_all(hdrs);
    curl_multi_cleanup(multi);
}

/* prefill: generate batches on the fly until `target` fresh records are planned */
struct prefill_ctx {
    struct gen *s;
    unsigned long long target;
    unsigned long long planned;
    unsigned long long sent;
};

static int
prefill_next(void *ud, struct text *body)
{
    struct prefill_ctx *c = ud;
    size_t n = PREFILL_BATCH;

    if (c->planned >= c->target)
        return 0;
    /* the last batch: just enough fresh records (repeats are folded anyway) */
    if (c->target - c->planned < n)
        n = (size_t)(c->target - c->planned);
    c->planned += make_body(c->s, body, n, 0);
    c->sent += n;
    return 1;
}

/* measured: pre-generated bodies */
struct fixed_ctx {
    struct text *bodies;
    size_t n;
    size_t next;
};

static int
fixed_next(void *ud, struct text *body)
{
    struct fixed_ctx *c = ud;

    if (c->next >= c->n)
        return 0;
    body->len = 0;
    text_add(body, c->bodies[c->next].data, c->bodies[c->next].len);
    c->next++;
    return 1;
}

/* "%28" -> "(" and so on: the key as ingestd stores it */
static void
url_decode(const char *in, char *out)
{
    unsigned v;

    while (*in) {
        if (in[0] == '%' && in[1] && in[2] && sscanf(in + 1, "%2x", &v) == 1) {
            *out++ = (char)v;
            in += 3;
        } else {
            *out++ = *in == '+' ? ' ' : *in;
            in++;
        }
    }
    *out = '\0';
}

/*
 * The measured phase's fresh records as COPY text rows of s3_objects_events,
 * as ingestd stores them (columns of COPY_COLUMNS), in buckets "<bucket>-copy"
 * so they add to the catalog beside ingestd's own rows: the last record of a
 * key is current unless it is a deletion; records without a sequencer get a
 * generated one. Returns the number of rows, or -1.
 */
#define COPY_COLUMNS                                                                               \
    "id, bucket, key, version_id, event_type, event_time, size, etag, storage_class, sequencer, "  \
    "sequencer_raw, is_delete_marker, reason, number_duplicate_events, source, is_current"

static long long
write_copy(const char *path, uint32_t nkeys)
{
    static const char *const reasons[] = {"CreatedPut",  "CreatedCompleteMultipartUpload",
                                          "CreatedCopy", "Deleted",
                                          "Unknown",     "Restored"};
    unsigned char *seen = calloc(nkeys + 1, 1);
    FILE *f = fopen(path, "w");
    long long rows = 0;
    size_t i;

    if (!f || !seen)
        return -1;
    for (i = nkept; i-- > 0;) /* the last record of each key: current (bit 2) */
        if (kept[i].key < nkeys && !seen[kept[i].key]) {
            seen[kept[i].key] = 1;
            kept[i].noseq |= (uint8_t)(kept[i].kind != K_DELETE ? 2 : 0);
        }
    for (i = 0; i < nkept; i++) {
        const struct rec *r = &kept[i];
        char key[160];
        char dkey[160];
        const char *bucket = key_of(r->key, key, sizeof(key));
        unsigned long long h = mix(((unsigned long long)r->key << 32) ^ r->g ^ 0x5bd1e995ULL);
        unsigned long long h2 = mix(h);
        uint64_t ms = 1740787200000ULL + r->g * 7ULL;
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        char seq[64];
        char size[64] = "\\N";
        char etag[64] = "\\N";
        int deleted = r->kind == K_DELETE;

        url_decode(key, dkey);
        gmtime_r(&secs, &tm);
        if (r->noseq & 1)
            snprintf(seq, sizeof(seq), "-%020zu", i + 1);
        else
            snprintf(seq, sizeof(seq), "00%012llX%02X%02X", 0x67C24F000000ULL + r->g,
                     (unsigned)(h & 0xff), (unsigned)((h >> 16) & 0xff));
        if (!deleted) {
            snprintf(size, sizeof(size), "%llu",
                     strstr(key, ".bam") && !strstr(key, ".bai")
                         ? 1000000000ULL + h2 % 90000000000ULL
                         : 200ULL + h2 % 50000000ULL);
            snprintf(etag, sizeof(etag), "\"%016llx%016llx\"", h, h2);
        }
        fprintf(f,
                "%08llx-%04x-4%03x-8%03x-%012llx\t%s-copy\t%s\tnull\t%s\t"
                "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\t%s\t%s\t\\N\t%s\t%s\tf\t%s\t0\tevent\t%s\n",
                (unsigned long long)(h >> 32), (unsigned)(h & 0xffff),
                (unsigned)((h >> 16) & 0xfff), (unsigned)((h2 >> 4) & 0xfff),
                (unsigned long long)(i + 1), bucket, dkey, deleted ? "Deleted" : "Created",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                (unsigned)(ms % 1000), size, etag, seq, (r->noseq & 1) ? "\\N" : seq,
                reasons[r->kind], (r->noseq & 2) ? "t" : "f");
        rows++;
    }
    free(seen);
    return fclose(f) == 0 ? rows : -1;
}

static long
get(CURL *h, const char *url, struct text *out)
{
    long code = 0;

    out->len = 0;
    if (out->data)
        out->data[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

int
main(int argc, char **argv)
{
    const char *base;
    unsigned long long prefill;
    int nclients;
    size_t nbatches;
    size_t batch;
    int list_runs;
    static struct gen gen;
    struct prefill_ctx pc = {0};
    struct fixed_ctx fc = {0};
    struct phase ph;
    struct text out = {0};
    char url[1024];
    char *pat;
    CURL *h;
    double *lat;
    double t0;
    size_t i;
    unsigned long long planned = 0;
    int bad = 0;
    int failed = 0;
    int r;
    const char *copy_file;
    const char *list_path;
    const char *count_path;

    if (argc < 2 || argc > 7) {
        fprintf(stderr,
                "usage: s3load BASE_URL [PREFILL [CLIENTS [BATCHES [BATCH [LIST_RUNS]]]]]\n");
        return 2;
    }
    base = argv[1];
    copy_file = getenv("S3LOAD_COPY_FILE");
    list_path = getenv("S3LOAD_LIST_PATH");
    count_path = getenv("S3LOAD_COUNT_PATH");
    prefill = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    nclients = argc > 3 ? atoi(argv[3]) : 16;
    nbatches = argc > 4 ? strtoul(argv[4], NULL, 10) : 150;
    batch = argc > 5 ? strtoul(argv[5], NULL, 10) : 100;
    list_runs = argc > 6 ? atoi(argv[6]) : 50;
    if (nclients < 1 || batch < 1 || list_runs < 1)
        return 2;
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(url, sizeof(url), "%s/api/v1/s3/events", base);

    /* 1. prefill */
    fprintf(stderr, "prefill: %llu records, batches of %d from %d connections\n", prefill,
            PREFILL_BATCH, PREFILL_CLIENTS);
    pc.s = &gen;
    pc.target = prefill;
    run_phase(url, PREFILL_CLIENTS, prefill / PREFILL_BATCH * 2 + 16, prefill_next, &pc, &ph, 1);
    printf("prefill_sent %llu records\n", pc.sent);
    printf("prefill_ingested %llu records\n", ph.ingested);
    printf("prefill_duplicates %llu records\n", ph.duplicates);
    printf("prefill_failed %zu requests\n", ph.failed);
    printf("prefill_seconds %.1f s\n", ph.seconds);
    printf("prefill_rate %.0f records/s\n", (double)(ph.ingested + ph.duplicates) / ph.seconds);
    fflush(stdout);
    failed += ph.failed > 0;
    free(ph.lat_ms);

    /* 2. measured ingestion: bodies generated before the clock starts */
    if (copy_file) {
        capkept = 1024;
        kept = malloc(capkept * sizeof(*kept));
    }
    fc.n = (size_t)nclients * nbatches;
    fc.bodies = calloc(fc.n, sizeof(*fc.bodies));
    for (i = 0; i < fc.n; i++)
        planned += make_body(&gen, &fc.bodies[i], batch, 1);
    fprintf(stderr, "measured: %zu batches of %zu records from %d connections\n", fc.n, batch,
            nclients);
    run_phase(url, nclients, fc.n, fixed_next, &fc, &ph, 1);
    qsort(ph.lat_ms, ph.requests < fc.n ? ph.requests : fc.n, sizeof(double), cmp_double);
    printf("ingest_batches %zu requests\n", ph.requests);
    printf("ingest_records %zu records\n", fc.n * batch);
    printf("ingest_new_planned %llu records\n", planned);
    printf("ingest_ingested %llu records\n", ph.ingested);
    printf("ingest_duplicates %llu records\n", ph.duplicates);
    printf("ingest_failed %zu requests\n", ph.failed);
    printf("ingest_seconds %.3f s\n", ph.seconds);
    printf("ingest_rate %.0f records/s\n", (double)(ph.ingested + ph.duplicates) / ph.seconds);
    printf("ingest_p50_ms %.1f ms\n", pct(ph.lat_ms, ph.requests, 0.50));
    printf("ingest_p99_ms %.1f ms\n", pct(ph.lat_ms, ph.requests, 0.99));
    printf("ingest_max_ms %.1f ms\n", pct(ph.lat_ms, ph.requests, 1.0));
    fflush(stdout);
    failed += ph.failed > 0;
    free(ph.lat_ms);
    for (i = 0; i < fc.n; i++)
        free(fc.bodies[i].data);
    free(fc.bodies);
    if (copy_file) {
        long long rows = write_copy(copy_file, gen.nkeys);

        printf("copy_rows %lld records\n", rows);
        failed += rows < 0;
        free(kept);
    }

    /* 3. the list query, on one keep-alive connection */
    h = curl_easy_init();
    pat = curl_easy_escape(h, LIST_PREFIX "*", 0);
    if (list_path)
        snprintf(url, sizeof(url), "%s%s", base, list_path);
    else
        snprintf(url, sizeof(url), "%s/api/v1/s3/objects?bucket=%s&key=%s&rowsPerPage=%d", base,
                 buckets[LIST_BUCKET], pat, LIST_ROWS);
    curl_free(pat);
    lat = calloc((size_t)list_runs, sizeof(double));
    t0 = now_s();
    if (get(h, url, &out) != 200) { /* warm-up, not timed */
        fprintf(stderr, "list failed: %.300s\n", out.data ? out.data : "");
        return 1;
    }
    printf("list_first_ms %.1f ms\n", (now_s() - t0) * 1000);
    printf("list_count %lld records\n", json_num(out.data, "count"));
    printf("list_bytes %zu bytes\n", out.len);
    for (r = 0; r < list_runs; r++) {
        t0 = now_s();
        if (get(h, url, &out) != 200)
            bad++;
        lat[r] = (now_s() - t0) * 1000;
        if (count_of(out.data, "\"s3ObjectId\"") != LIST_ROWS)
            bad++;
    }
    qsort(lat, (size_t)list_runs, sizeof(double), cmp_double);
    printf("list_results %zu records\n", count_of(out.data, "\"s3ObjectId\""));
    printf("list_bad %d responses\n", bad);
    printf("list_p50_ms %.1f ms\n", pct(lat, (size_t)list_runs, 0.50));
    printf("list_p99_ms %.1f ms\n", pct(lat, (size_t)list_runs, 0.99));
    printf("list_max_ms %.1f ms\n", lat[list_runs - 1]);
    if (count_path) { /* a count, timed like the list */
        snprintf(url, sizeof(url), "%s%s", base, count_path);
        for (r = 0; r < list_runs; r++) {
            t0 = now_s();
            if (get(h, url, &out) != 200 || json_num(out.data, "nRecords") < 0)
                bad++;
            lat[r] = (now_s() - t0) * 1000;
        }
        qsort(lat, (size_t)list_runs, sizeof(double), cmp_double);
        printf("count_n %lld records\n", json_num(out.data, "nRecords"));
        printf("count_p50_ms %.1f ms\n", pct(lat, (size_t)list_runs, 0.50));
        printf("count_p99_ms %.1f ms\n", pct(lat, (size_t)list_runs, 0.99));
    }

    /* catalog size */
    snprintf(url, sizeof(url), "%s/api/v1/s3/objects/count?currentState=false", base);
    if (get(h, url, &out) == 200)
        printf("catalog_records %lld records\n", json_num(out.data, "nRecords"));
    snprintf(url, sizeof(url), "%s/api/v1/s3/objects/count", base);
    if (get(h, url, &out) == 200)
        printf("catalog_current %lld records\n", json_num(out.data, "nRecords"));
    curl_easy_cleanup(h);
    free(out.data);
    free(lat);
    return failed || bad ? 1 : 0;
}
