/*
 * s3_fields.c - field rules shared by the S3 event and inventory decoders
 */
#include "s3_fields.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* n decimal digits at s into *val; 0 when they are not all digits. */
static int
digits(const char *s, int n, int *val)
{
    int i;
    int v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *val = v;
    return 1;
}

static int
days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
        return 29;
    return days[month - 1];
}

/* The zone at s[0..len): "Z", or "+HH:MM" / "-HH:MM" as signed seconds east. */
static int
parse_zone(const char *s, size_t len, long *east)
{
    int oh;
    int om;

    if (len == 1 && (s[0] == 'Z' || s[0] == 'z')) {
        *east = 0;
        return 1;
    }
    if (len != 6 || (s[0] != '+' && s[0] != '-') || !digits(s + 1, 2, &oh) || s[3] != ':' ||
        !digits(s + 4, 2, &om) || oh > 23 || om > 59)
        return 0;
    *east = (s[0] == '-' ? -1L : 1L) * (oh * 3600L + om * 60L);
    return 1;
}

int
s3_time_normalise(const char *s, size_t len, char out[S3_TIME_BUF])
{
    int year, mon, day, hour, min, sec, ms = 0, scale = 100;
    size_t p = 19;
    long east;
    struct tm tm, utc;
    time_t t;

    if (len < 20 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) || s[7] != '-' ||
        !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &hour) ||
        s[13] != ':' || !digits(s + 14, 2, &min) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return 0;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 || min > 59 ||
        sec > 60)
        return 0;
    if (s[p] == '.') {
        p++;
        if (p >= len || s[p] < '0' || s[p] > '9')
            return 0;
        for (; p < len && s[p] >= '0' && s[p] <= '9'; p++) {
            ms += (s[p] - '0') * scale;
            scale /= 10;
        }
    }
    if (!parse_zone(s + p, len - p, &east))
        return 0;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm) - (time_t)east;
    if (!gmtime_r(&t, &utc) || utc.tm_year < -1900 || utc.tm_year > 9999 - 1900)
        return 0;
    snprintf(out, S3_TIME_BUF, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
             utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms);
    return 1;
}
