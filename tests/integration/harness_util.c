/*
 * harness_util.c - small helpers shared by the integration tests (see
 * harness.h): formatting, clocks, value shapes, JSON member access.
 * Thread-safe (no state), except that the th_j* helpers fail the current
 * cmocka test and so belong on the test's thread.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "core/buf.h"

char *
th_strf(const char *fmt, ...)
{
    struct buf b;
    va_list ap;

    buf_init(&b, 0);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    buf_append(&b, "", 0);
    return buf_take(&b, NULL);
}

int
th_one_setup(void **state)
{
    *state = calloc(1, sizeof(struct th_one));
    return *state ? 0 : -1;
}

int
th_one_teardown(void **state)
{
    struct th_one *one = *state;

    th_ingestd_free(one->srv);
    th_pg_free(one->pg);
    free(one);
    return 0;
}

struct th_ingestd *
th_one_start(void **state, const char *const *env)
{
    struct th_one *one = *state;

    one->pg = th_pg_start();
    one->srv = th_ingestd_start(th_pg_url(one->pg), env);
    return one->srv;
}

void
th_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    unsigned int i;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

long
th_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
th_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int
th_is_uuid(const char *s)
{
    size_t i;

    if (!s || strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

int
th_is_ts(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    size_t i;

    if (!s || strlen(s) != sizeof(pat) - 1)
        return 0;
    for (i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return 0;
    }
    return 1;
}

const char *
th_jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", key);
    return json_string_value(v);
}

json_int_t
th_jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

char *
th_run(const char *cmd, int *exit_status)
{
    struct buf out;
    char chunk[4096];
    size_t n;
    FILE *p = popen(cmd, "r");
    int rc;

    if (!p)
        fail_msg("popen %s: %s", cmd, strerror(errno));
    buf_init(&out, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        buf_append(&out, chunk, n);
    rc = pclose(p);
    if (exit_status)
        *exit_status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return buf_take(&out, NULL);
}
