/*
 * log.c - JSON log lines on stderr
 */
#include "core/log.h"
#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_timestamp(char out[32], long long epoch_ms)
{
    time_t secs;
    struct tm tm;

    if (epoch_ms < 0)
        epoch_ms = clock_real_ms();
    secs = (time_t)(epoch_ms / 1000);
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);

    snprintf(out + n, 32 - n, ".%03dZ", (int)(epoch_ms % 1000));
}

void
log_json(enum log_level level, const char *msg, json_t *fields)
{
    json_t *line = json_object();
    char ts[32];
    char *text;
    size_t len;

    log_timestamp(ts, -1);
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "msg", json_string(msg));
    if (fields) {
        json_object_update_missing(line, fields);
        json_decref(fields);
    }
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!text)
        return;
    len = strlen(text);
    text[len] = '\n'; /* replaces the NUL; written by length */
    if (write(STDERR_FILENO, text, len + 1) < 0) {
        /* nowhere left to report it */
    }
    free(text);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_json(level, msg, NULL);
}
