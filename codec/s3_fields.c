/*
 * s3_fields.c - field rules shared by the S3 event and inventory decoders
 */
#include "codec/s3_fields.h"

#include <string.h>

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

/* Days since 1970-01-01 of a proleptic Gregorian date (any year). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

int
s3_time_parse_ms(const char *s, size_t len, int64_t *epoch_ms)
{
    int year, mon, day, hour, min, sec, ms = 0, scale = 100;
    size_t p = 19;
    long east;
    int64_t t;

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
    t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - east;
    /* the UTC year stays within 0000-9999 */
    if (t < S3_TIME_MIN_S || t >= S3_TIME_MAX_S)
        return 0;
    *epoch_ms = t * 1000 + ms;
    return 1;
}

static void
put2(char *out, int v)
{
    out[0] = (char)('0' + v / 10);
    out[1] = (char)('0' + v % 10);
}

void
s3_time_format_ms(int64_t epoch_ms, char out[S3_TIME_BUF])
{
    int64_t days = epoch_ms / 86400000;
    int64_t rem = epoch_ms % 86400000;
    int64_t z;
    int64_t era;
    int64_t doe;
    int64_t yoe;
    int64_t doy;
    int64_t mp;
    int year, mon, day, secs;

    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    day = (int)(doy - (153 * mp + 2) / 5 + 1);
    mon = (int)(mp < 10 ? mp + 3 : mp - 9);
    year = (int)(yoe + era * 400 + (mon <= 2));
    secs = (int)(rem / 1000);
    put2(out, year / 100);
    put2(out + 2, year % 100);
    out[4] = '-';
    put2(out + 5, mon);
    out[7] = '-';
    put2(out + 8, day);
    out[10] = 'T';
    put2(out + 11, secs / 3600);
    out[13] = ':';
    put2(out + 14, secs / 60 % 60);
    out[16] = ':';
    put2(out + 17, secs % 60);
    out[19] = '.';
    out[20] = (char)('0' + rem % 1000 / 100);
    put2(out + 21, (int)(rem % 100));
    out[23] = 'Z';
    out[24] = '\0';
}

int
s3_time_normalise(const char *s, size_t len, char out[S3_TIME_BUF])
{
    int64_t ms;

    if (!s3_time_parse_ms(s, len, &ms))
        return 0;
    s3_time_format_ms(ms, out);
    return 1;
}

void
s3_etag_append(struct buf *out, const char *s, size_t len)
{
    int weak = len >= 3 && memcmp(s, "W/\"", 3) == 0;
    size_t open = weak ? 3 : (len >= 1 && s[0] == '"') ? 1 : 0; /* bytes up to the opening quote */

    if (open == 0)
        buf_append_char(out, '"');
    buf_append(out, s, len);
    /* a closing quote must come after the opening one */
    if (len == 0 || s[len - 1] != '"' || len == open)
        buf_append_char(out, '"');
}
