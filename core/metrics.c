/*
 * metrics.c - a fixed registry of Prometheus families and its text format
 *
 * Each family keeps its series in an open-addressing hash table keyed by the
 * label values joined with '\x1f'. Tables only grow (label values are
 * bounded by design); metrics_clear() empties one.
 */
#include "core/metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum metric_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

#define MAX_LABELS 3
#define MAX_BUCKETS 16

struct family_def {
    const char *name;
    const char *help;
    enum metric_kind kind;
    const char *labels[MAX_LABELS + 1]; /* NULL-terminated */
    const double *buckets;              /* histograms: upper bounds, ascending */
    size_t nbuckets;
};

static const double http_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,  0.5,    1,     2.5,  5,     10,   30};
static const double merge_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1,     2.5,  5,     10,   30,  60,   120};

static const struct family_def defs[M_COUNT] = {
    [M_HTTP_REQUESTS] = {"ingestd_http_requests_total",
                         "HTTP requests answered.",
                         KIND_COUNTER,
                         {"method", "route", "status", NULL},
                         NULL,
                         0},
    [M_HTTP_DURATION] = {"ingestd_http_request_duration_seconds",
                         "Time from the request's first byte to its answer being queued.",
                         KIND_HISTOGRAM,
                         {"route", NULL},
                         http_buckets,
                         sizeof(http_buckets) / sizeof(http_buckets[0])},
    [M_EVENTS_TOTAL] = {"ingestd_events_total",
                        "Event uploads by outcome.",
                        KIND_COUNTER,
                        {"outcome", NULL},
                        NULL,
                        0},
    [M_MERGES_TOTAL] =
        {"ingestd_merges_total", "Merges by result.", KIND_COUNTER, {"status", NULL}, NULL, 0},
    [M_MERGE_DURATION] = {"ingestd_merge_duration_seconds",
                          "Duration of merges.",
                          KIND_HISTOGRAM,
                          {NULL},
                          merge_buckets,
                          sizeof(merge_buckets) / sizeof(merge_buckets[0])},
    [M_S3_RECORDS] = {"ingestd_s3_records_total",
                      "S3 event records by outcome.",
                      KIND_COUNTER,
                      {"kind", NULL},
                      NULL,
                      0},
    [M_INVENTORY_RECORDS] =
        {"ingestd_inventory_records_total",
         "Inventory lines staged by inventory jobs that succeeded (a job's records), "
         "added when the job succeeds.",
         KIND_COUNTER,
         {NULL},
         NULL,
         0},
    [M_EVENTS_PENDING] =
        {"ingestd_events_pending", "Events waiting for a merge.", KIND_GAUGE, {NULL}, NULL, 0},
    [M_EFFECTIVE_GENERATION] = {"ingestd_effective_generation",
                                "Generation of the effective repos.csv.",
                                KIND_GAUGE,
                                {NULL},
                                NULL,
                                0},
    [M_EFFECTIVE_ROWS] =
        {"ingestd_effective_rows", "Rows of the effective repos.csv.", KIND_GAUGE, {NULL}, NULL, 0},
    [M_INVENTORY_JOBS] = {"ingestd_inventory_jobs",
                          "Inventory jobs by status.",
                          KIND_GAUGE,
                          {"status", NULL},
                          NULL,
                          0},
    [M_DB_UP] = {"ingestd_db_up",
                 "1 when PostgreSQL answered the last scrape.",
                 KIND_GAUGE,
                 {NULL},
                 NULL,
                 0},
    [M_DB_POOL_IN_USE] = {"ingestd_db_pool_in_use",
                          "Worker connections busy with a request or a job.",
                          KIND_GAUGE,
                          {NULL},
                          NULL,
                          0},
    [M_DB_POOL_SIZE] = {"ingestd_db_pool_size",
                        "Worker connections (INGESTD_DB_POOL).",
                        KIND_GAUGE,
                        {NULL},
                        NULL,
                        0},
    [M_BUILD_INFO] = {"ingestd_build_info",
                      "Always 1; the version is a label.",
                      KIND_GAUGE,
                      {"version", NULL},
                      NULL,
                      0},
    [M_EXPORT_GENERATION] = {"ingestd_export_generation",
                             "Generation of the effective repos.csv an export target holds "
                             "(INGESTD_EXPORTS; targets named without credentials).",
                             KIND_GAUGE,
                             {"target", NULL},
                             NULL,
                             0},
    [M_EXPORT_FAILURES] = {"ingestd_export_failures_total",
                           "Failed attempts to publish the effective repos.csv to an export "
                           "target.",
                           KIND_COUNTER,
                           {"target", NULL},
                           NULL,
                           0},
    [M_EXPORT_DURATION] = {"ingestd_export_duration_seconds",
                           "Time to write the effective repos.csv to an export target.",
                           KIND_HISTOGRAM,
                           {"target", NULL},
                           merge_buckets,
                           sizeof(merge_buckets) / sizeof(merge_buckets[0])},
    [M_SQS_MESSAGES] = {"ingestd_sqs_messages_total",
                        "SQS messages by queue and outcome: received; ingested (its records "
                        "committed), ignored (test events, no record), failed (undecodable); "
                        "deleted, delete_failed.",
                        KIND_COUNTER,
                        {"queue", "outcome", NULL},
                        NULL,
                        0},
    [M_SQS_ERRORS] = {"ingestd_sqs_errors_total",
                      "SQS consumer errors by queue and kind: receive, database, delete.",
                      KIND_COUNTER,
                      {"queue", "kind", NULL},
                      NULL,
                      0},
    [M_IMPORT_FILES] = {"ingestd_import_files_total",
                        "Files of import locations by outcome: accepted (a new key), duplicate "
                        "(imported before: moved again only), failed (moved to failed/).",
                        KIND_COUNTER,
                        {"location", "outcome", NULL},
                        NULL,
                        0},
    [M_IMPORT_ERRORS] = {"ingestd_import_errors_total",
                         "Import failures that leave files in pending/ for a later try, by kind: "
                         "scan, read, database, move.",
                         KIND_COUNTER,
                         {"location", "kind", NULL},
                         NULL,
                         0},
    [M_IMPORT_LAST_SCAN] = {"ingestd_import_last_scan_timestamp_seconds",
                            "Unix time of the last completed scan of an import location.",
                            KIND_GAUGE,
                            {"location", NULL},
                            NULL,
                            0},
    [M_WEBHOOK_DELIVERIES] = {"ingestd_webhook_deliveries_total",
                              "Webhook delivery attempts by outcome: delivered (2xx), retry "
                              "(failed, tried again later), failed (the last attempt failed), "
                              "gone (410).",
                              KIND_COUNTER,
                              {"outcome", NULL},
                              NULL,
                              0},
    [M_WEBHOOK_PENDING] = {"ingestd_webhook_deliveries_pending",
                           "Webhook deliveries waiting for a (next) attempt.",
                           KIND_GAUGE,
                           {NULL},
                           NULL,
                           0},
    [M_KEY_INDEX_PENDING] = {"ingestd_s3_key_index_pending",
                             "Partitions of the S3 catalog whose key segments index is not "
                             "built yet (key patterns that start with a wildcard read them "
                             "whole).",
                             KIND_GAUGE,
                             {NULL},
                             NULL,
                             0},
};

struct series {
    char *key; /* label values joined by '\x1f'; NULL = empty slot */
    double value;
    uint64_t buckets[MAX_BUCKETS]; /* cumulative at render, per-bucket here */
    uint64_t count;
    double sum;
};

struct family {
    pthread_mutex_t lock;
    struct series *slots;
    size_t nslots; /* power of two */
    size_t used;
};

struct metrics {
    struct family fam[M_COUNT];
};

struct metrics *
metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    size_t i;

    for (i = 0; i < M_COUNT; i++)
        pthread_mutex_init(&m->fam[i].lock, NULL);
    return m;
}

static void
family_clear(struct family *f)
{
    size_t i;

    for (i = 0; i < f->nslots; i++)
        free(f->slots[i].key);
    free(f->slots);
    f->slots = NULL;
    f->nslots = 0;
    f->used = 0;
}

void
metrics_free(struct metrics *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < M_COUNT; i++) {
        family_clear(&m->fam[i]);
        pthread_mutex_destroy(&m->fam[i].lock);
    }
    free(m);
}

static uint64_t
hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The series for key (created on first use); the family lock is held. */
static struct series *
lookup(struct family *f, const char *key)
{
    size_t i;

    if (2 * (f->used + 1) > f->nslots) {
        struct series *old = f->slots;
        size_t oldn = f->nslots;

        f->nslots = oldn ? 2 * oldn : 16;
        f->slots = xcalloc(f->nslots, sizeof(*f->slots));
        f->used = 0;
        for (i = 0; i < oldn; i++) {
            if (old[i].key) {
                size_t k = hash(old[i].key) & (f->nslots - 1);

                while (f->slots[k].key)
                    k = (k + 1) & (f->nslots - 1);
                f->slots[k] = old[i];
                f->used++;
            }
        }
        free(old);
    }
    for (i = hash(key) & (f->nslots - 1); f->slots[i].key; i = (i + 1) & (f->nslots - 1))
        if (strcmp(f->slots[i].key, key) == 0)
            return &f->slots[i];
    f->slots[i].key = xstrdup(key);
    f->used++;
    return &f->slots[i];
}

/* Join label values into key (bounded: longer values are cut). */
static void
make_key(enum metric_id id, const char *const *labels, char *key, size_t keylen)
{
    size_t n = 0;
    size_t i;

    key[0] = '\0';
    for (i = 0; defs[id].labels[i] && labels; i++) {
        int w =
            snprintf(key + n, keylen - n, "%s%.200s", i ? "\x1f" : "", labels[i] ? labels[i] : "");
        if (w < 0 || (size_t)w >= keylen - n)
            break;
        n += (size_t)w;
    }
}

static void
update(struct metrics *m, enum metric_id id, const char *const *labels, double v, int how)
{
    struct family *f;
    struct series *s;
    char key[1024];
    size_t b;

    if (!m || id >= M_COUNT)
        return;
    make_key(id, labels, key, sizeof(key));
    f = &m->fam[id];
    pthread_mutex_lock(&f->lock);
    s = lookup(f, key);
    if (how == 0) {
        s->value += v;
    } else if (how == 1) {
        s->value = v;
    } else {
        for (b = 0; b < defs[id].nbuckets && v > defs[id].buckets[b]; b++)
            ;
        if (b < defs[id].nbuckets)
            s->buckets[b]++;
        s->count++;
        s->sum += v;
    }
    pthread_mutex_unlock(&f->lock);
}

void
metrics_add(struct metrics *m, enum metric_id id, const char *const *labels, double v)
{
    update(m, id, labels, v, 0);
}

void
metrics_set(struct metrics *m, enum metric_id id, const char *const *labels, double v)
{
    update(m, id, labels, v, 1);
}

void
metrics_observe(struct metrics *m, enum metric_id id, const char *const *labels, double v)
{
    update(m, id, labels, v, 2);
}

void
metrics_clear(struct metrics *m, enum metric_id id)
{
    if (!m || id >= M_COUNT)
        return;
    pthread_mutex_lock(&m->fam[id].lock);
    family_clear(&m->fam[id]);
    pthread_mutex_unlock(&m->fam[id].lock);
}

/* {a="x",b="y"} from a key, with `extra` (e.g. le="0.5") appended; "" when empty. */
static void
render_labels(struct buf *out, enum metric_id id, const char *key, const char *extra)
{
    const char *p = key;
    size_t i;
    int any = 0;

    for (i = 0; defs[id].labels[i]; i++) {
        const char *end = strchr(p, '\x1f');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t k;

        buf_append_str(out, any ? "," : "{");
        buf_printf(out, "%s=\"", defs[id].labels[i]);
        for (k = 0; k < len; k++) {
            if (p[k] == '\\' || p[k] == '"')
                buf_append_char(out, '\\');
            if (p[k] == '\n')
                buf_append_str(out, "\\n");
            else
                buf_append_char(out, p[k]);
        }
        buf_append_char(out, '"');
        any = 1;
        p = end ? end + 1 : p + len;
    }
    if (extra) {
        buf_append_str(out, any ? "," : "{");
        buf_append_str(out, extra);
        any = 1;
    }
    if (any)
        buf_append_char(out, '}');
}

static void
render_histogram(struct buf *out, enum metric_id id, const struct series *s)
{
    uint64_t cum = 0;
    char le[48];
    size_t b;

    for (b = 0; b < defs[id].nbuckets; b++) {
        cum += s->buckets[b];
        snprintf(le, sizeof(le), "le=\"%g\"", defs[id].buckets[b]);
        buf_printf(out, "%s_bucket", defs[id].name);
        render_labels(out, id, s->key, le);
        buf_printf(out, " %llu\n", (unsigned long long)cum);
    }
    buf_printf(out, "%s_bucket", defs[id].name);
    render_labels(out, id, s->key, "le=\"+Inf\"");
    buf_printf(out, " %llu\n%s_sum", (unsigned long long)s->count, defs[id].name);
    render_labels(out, id, s->key, NULL);
    buf_printf(out, " %.9g\n%s_count", s->sum, defs[id].name);
    render_labels(out, id, s->key, NULL);
    buf_printf(out, " %llu\n", (unsigned long long)s->count);
}

static void
render_family(struct buf *out, struct metrics *m, enum metric_id id)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    struct family *f = &m->fam[id];
    size_t i;

    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", defs[id].name, defs[id].help, defs[id].name,
               kinds[defs[id].kind]);
    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->nslots; i++) {
        const struct series *s = &f->slots[i];

        if (!s->key)
            continue;
        if (defs[id].kind == KIND_HISTOGRAM) {
            render_histogram(out, id, s);
            continue;
        }
        buf_append_str(out, defs[id].name);
        render_labels(out, id, s->key, NULL);
        buf_printf(out, " %.17g\n", s->value);
    }
    pthread_mutex_unlock(&f->lock);
}

/* Resident set size in bytes, from /proc/self/statm (0 when unreadable). */
static unsigned long long
process_rss_bytes(void)
{
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f) {
        if (fscanf(f, "%*u %llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * (unsigned long long)sysconf(_SC_PAGESIZE);
}

/* Open descriptors: the entries of /proc/self/fd but ".", ".." and the listing's own. */
static long
process_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;

    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3;
}

/* Start time in seconds since the epoch: boot time plus field 22 of /proc/self/stat. */
static double
process_start_seconds(void)
{
    unsigned long long start_ticks = 0;
    double boot = 0;
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "r");

    if (f) {
        const char *p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;

        /* fields counted from 3, after the command name */
        if (p && sscanf(p + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                        "%*d %*d %*d %*d %llu",
                        &start_ticks) != 1)
            start_ticks = 0;
        fclose(f);
    }
    f = fopen("/proc/stat", "r");
    if (f) {
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "btime %lf", &boot) == 1)
                break;
        fclose(f);
    }
    return boot + (double)start_ticks / (double)sysconf(_SC_CLK_TCK);
}

/* process_* series (the names Prometheus client libraries use). */
static void
render_process(struct buf *out)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    buf_printf(out,
               "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n"
               "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.6f\n",
               (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                   ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6);
    buf_printf(out,
               "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
               "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n",
               process_rss_bytes());
    buf_printf(out,
               "# HELP process_open_fds Number of open file descriptors.\n"
               "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
               process_open_fds());
    buf_printf(out,
               "# HELP process_start_time_seconds Start time of the process since unix epoch in "
               "seconds.\n# TYPE process_start_time_seconds gauge\n"
               "process_start_time_seconds %.3f\n",
               process_start_seconds());
}

void
metrics_render(struct metrics *m, struct buf *out)
{
    size_t i;

    if (m)
        for (i = 0; i < M_COUNT; i++)
            render_family(out, m, (enum metric_id)i);
    render_process(out);
}
