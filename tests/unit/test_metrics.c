/*
 * test_metrics.c - the registry and its text exposition
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

static char *
render(struct metrics *m)
{
    struct buf b;

    buf_init(&b, 0);
    metrics_render(m, &b);
    return buf_take(&b, NULL);
}

static void
want_line(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return;
        p += n;
    }
    fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void
test_counters_and_gauges(void **state)
{
    struct metrics *m = metrics_new();
    const char *created[] = {"created"};
    const char *req[] = {"GET", "/api/v1/events/{id}", "200"};
    const char *v[] = {"1.2.3"};
    char *t;

    (void)state;
    metrics_add(m, M_EVENTS_TOTAL, created, 1);
    metrics_add(m, M_EVENTS_TOTAL, created, 2);
    metrics_add(m, M_HTTP_REQUESTS, req, 1);
    metrics_set(m, M_EVENTS_PENDING, NULL, 7);
    metrics_set(m, M_EVENTS_PENDING, NULL, 5);
    metrics_set(m, M_BUILD_INFO, v, 1);
    t = render(m);
    want_line(t, "# TYPE ingestd_events_total counter");
    want_line(t, "ingestd_events_total{outcome=\"created\"} 3");
    want_line(t, "ingestd_http_requests_total{method=\"GET\",route=\"/api/v1/events/{id}\",status="
                 "\"200\"} 1");
    want_line(t, "# TYPE ingestd_events_pending gauge");
    want_line(t, "ingestd_events_pending 5");
    want_line(t, "ingestd_build_info{version=\"1.2.3\"} 1");
    want_line(t, "# TYPE process_resident_memory_bytes gauge");
    want_line(t, "# TYPE process_cpu_seconds_total counter");
    free(t);
    metrics_clear(m, M_EVENTS_TOTAL);
    t = render(m);
    assert_null(strstr(t, "ingestd_events_total{"));
    free(t);
    metrics_free(m);
}

static void
test_histogram(void **state)
{
    struct metrics *m = metrics_new();
    const char *route[] = {"/x"};
    char *t;

    (void)state;
    metrics_observe(m, M_HTTP_DURATION, route, 0.0005); /* first bucket */
    metrics_observe(m, M_HTTP_DURATION, route, 0.003);  /* le 0.005 */
    metrics_observe(m, M_HTTP_DURATION, route, 0.005);  /* le 0.005: bounds are inclusive */
    metrics_observe(m, M_HTTP_DURATION, route, 100);    /* only +Inf */
    t = render(m);
    want_line(t, "# TYPE ingestd_http_request_duration_seconds histogram");
    want_line(t, "ingestd_http_request_duration_seconds_bucket{route=\"/x\",le=\"0.001\"} 1");
    want_line(t, "ingestd_http_request_duration_seconds_bucket{route=\"/x\",le=\"0.0025\"} 1");
    want_line(t, "ingestd_http_request_duration_seconds_bucket{route=\"/x\",le=\"0.005\"} 3");
    want_line(t, "ingestd_http_request_duration_seconds_bucket{route=\"/x\",le=\"30\"} 3");
    want_line(t, "ingestd_http_request_duration_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4");
    want_line(t, "ingestd_http_request_duration_seconds_count{route=\"/x\"} 4");
    want_line(t, "ingestd_http_request_duration_seconds_sum{route=\"/x\"} 100.0085");
    free(t);
    metrics_free(m);
}

static void
test_escaping_and_null(void **state)
{
    struct metrics *m = metrics_new();
    const char *odd[] = {"a\"b\\c\nd"};
    char *t;

    (void)state;
    metrics_add(m, M_S3_RECORDS, odd, 1);
    t = render(m);
    want_line(t, "ingestd_s3_records_total{kind=\"a\\\"b\\\\c\\nd\"} 1");
    free(t);
    metrics_free(m);
    /* NULL registry: nothing counted, process series still rendered */
    metrics_add(NULL, M_EVENTS_TOTAL, odd, 1);
    metrics_observe(NULL, M_HTTP_DURATION, odd, 1);
    t = render(NULL);
    want_line(t, "# TYPE process_open_fds gauge");
    assert_null(strstr(t, "ingestd_"));
    free(t);
    metrics_free(NULL);
}

static void *
hammer(void *arg)
{
    struct metrics *m = arg;
    char status[8];
    int i;

    for (i = 0; i < 20000; i++) {
        const char *l[] = {"POST", "/api/v1/events", status};

        snprintf(status, sizeof(status), "%d", 200 + i % 50);
        metrics_add(m, M_HTTP_REQUESTS, l, 1);
    }
    return NULL;
}

static void
test_threads(void **state)
{
    struct metrics *m = metrics_new();
    pthread_t th[4];
    char *t;
    int i;

    (void)state;
    for (i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, m);
    for (i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    t = render(m);
    /* 50 series, each 4 threads x 400 */
    want_line(t, "ingestd_http_requests_total{method=\"POST\",route=\"/api/v1/events\",status="
                 "\"249\"} 1600");
    want_line(t, "ingestd_http_requests_total{method=\"POST\",route=\"/api/v1/events\",status="
                 "\"200\"} 1600");
    free(t);
    metrics_free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_gauges),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_escaping_and_null),
        cmocka_unit_test(test_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
