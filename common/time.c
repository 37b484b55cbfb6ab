/*
 * time.c: durations and instants from text, instants as RFC 3339, and the
 * calendar arithmetic under them (see hist_time.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/hist_assert.h"
#include "common/hist_error.h"
#include "common/hist_time.h"
#include "common/hist_types.h"

/* ---- Calendar (days since 1970-01-01, proleptic Gregorian) ---------------- */

/* days_from_civil and civil_from_days are Howard Hinnant's algorithms. */
int64_t hist_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void hist_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

bool hist_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int hist_days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[m - 1] + (m == 2 && hist_leap_year(y));
}

/* ---- Durations ---------------------------------------------------------- */

/* The units of a duration, longest first so "ms" is not read as "m"
 * followed by "s". */
static const struct {
    const char *unit;
    int64_t ns;
} duration_units[] = {
    {"ns", 1},
    {"us", INT64_C(1000)},
    {"ms", INT64_C(1000000)},
    {"s", INT64_C(1000000000)},
    {"m", INT64_C(60000000000)},
    {"h", INT64_C(3600000000000)},
    {"d", INT64_C(86400000000000)},
    {"w", INT64_C(604800000000000)},
    {"y", INT64_C(31536000000000000)}, /* 365 d: retention's "1y" */
};

/* "<digits>[.<digits>]" at *pp, advancing it: the whole part, and the
 * fraction as frac / frac_scale (digits past the 18th ignored). */
static int parse_decimal(const char **pp, uint64_t *whole_out, uint64_t *frac_out,
                         uint64_t *scale_out)
{
    const char *p = *pp;
    if (!isdigit((unsigned char)*p))
        return HIST_EINVAL;
    uint64_t whole = 0;
    while (isdigit((unsigned char)*p)) {
        if (whole > (UINT64_MAX - 9) / 10)
            return HIST_ERANGE;
        whole = whole * 10 + (uint64_t)(*p++ - '0');
    }
    uint64_t frac = 0, frac_scale = 1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return HIST_EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
            if (frac_scale < UINT64_C(1000000000000000000)) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                frac_scale *= 10;
            }
        }
    }
    *pp = p;
    *whole_out = whole;
    *frac_out = frac;
    *scale_out = frac_scale;
    return 0;
}

/* Parses "<digits>[.<digits>]<unit>" at *pp, advancing it. The result is
 * exact for integers; a fraction is rounded down to whole nanoseconds. */
static int parse_duration_at(const char **pp, int64_t *ns_out)
{
    const char *p = *pp;
    uint64_t whole, frac, frac_scale;
    int rc = parse_decimal(&p, &whole, &frac, &frac_scale);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        size_t ul = strlen(duration_units[i].unit);
        if (strncmp(p, duration_units[i].unit, ul) != 0)
            continue;
        /* "m" must not match the start of "ms"; the table order handles
         * that, and a longer alphabetic tail is caught by the caller's
         * end-of-text check. */
        uint64_t unit = (uint64_t)duration_units[i].ns;
        if (whole > (uint64_t)INT64_MAX / unit)
            return HIST_ERANGE;
        uint64_t ns = whole * unit;
        /* frac / frac_scale * unit, exact (rounded down): the product of
         * two values below 10^18 fits in 128 bits. */
        uint64_t part = (uint64_t)((unsigned __int128)frac * unit / frac_scale);
        if ((uint64_t)INT64_MAX - ns < part)
            return HIST_ERANGE;
        *ns_out = (int64_t)(ns + part);
        *pp = p + ul;
        return 0;
    }
    return HIST_EINVAL;
}

int hist_duration_parse(const char *text, int64_t *ns_out)
{
    if (!text)
        return HIST_EINVAL;
    const char *p = text;
    int64_t ns;
    int rc = parse_duration_at(&p, &ns);
    if (rc < 0)
        return rc;
    if (*p != '\0')
        return HIST_EINVAL;
    *ns_out = ns;
    return 0;
}

/* ---- Times ---------------------------------------------------------------- */

/* Reads exactly n digits at *pp. */
static int read_digits(const char **pp, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*pp)[i];
        if (c < '0' || c > '9')
            return HIST_EINVAL;
        v = v * 10 + (c - '0');
    }
    *pp += n;
    *out = v;
    return 0;
}

static int expect_char(const char **pp, char c)
{
    if (**pp != c)
        return HIST_EINVAL;
    (*pp)++;
    return 0;
}

/* YYYY-MM-DD at *pp, a day that exists. */
static int parse_date(const char **pp, int *year, int *mon, int *day)
{
    if (read_digits(pp, 4, year) || expect_char(pp, '-') || read_digits(pp, 2, mon) ||
        expect_char(pp, '-') || read_digits(pp, 2, day))
        return HIST_EINVAL;
    if (*mon < 1 || *mon > 12 || *day < 1)
        return HIST_EINVAL;
    return *day > hist_days_in_month(*year, *mon) ? HIST_EINVAL : 0;
}

/* hh:mm:ss[.frac] at *pp. 60 is a leap second: accepted and folded into
 * the next second. */
static int parse_clock(const char **pp, int *secs_out, int64_t *frac_out)
{
    int hh, mm, ss;
    if (read_digits(pp, 2, &hh) || expect_char(pp, ':') || read_digits(pp, 2, &mm) ||
        expect_char(pp, ':') || read_digits(pp, 2, &ss))
        return HIST_EINVAL;
    if (hh > 23 || mm > 59 || ss > 60)
        return HIST_EINVAL;
    *secs_out = hh * 3600 + mm * 60 + ss;
    *frac_out = 0;
    if (**pp != '.')
        return 0;
    (*pp)++;
    if (!isdigit((unsigned char)**pp))
        return HIST_EINVAL;
    int64_t scale = 100000000;
    for (; isdigit((unsigned char)**pp); (*pp)++) {
        *frac_out += (**pp - '0') * scale; /* digits past the 9th add 0 */
        scale /= 10;
    }
    return 0;
}

/* Z, z, +hh:mm or -hh:mm at *pp (RFC 3339 requires one): seconds east. */
static int parse_offset(const char **pp, int64_t *offset_out)
{
    *offset_out = 0;
    if (**pp == 'Z' || **pp == 'z') {
        (*pp)++;
        return 0;
    }
    if (**pp != '+' && **pp != '-')
        return HIST_EINVAL;
    int sign = **pp == '-' ? -1 : 1, oh, om;
    (*pp)++;
    if (read_digits(pp, 2, &oh) || expect_char(pp, ':') || read_digits(pp, 2, &om))
        return HIST_EINVAL;
    if (oh > 23 || om > 59)
        return HIST_EINVAL;
    *offset_out = sign * (oh * 3600 + om * 60);
    return 0;
}

/* YYYY-MM-DD[('T'|'t'|' ')hh:mm:ss[.frac][zone]] at p, the whole text:
 * *wall_s the seconds since 1970-01-01 00:00 on the text's own clock,
 * *offset_s the zone's seconds east (0 without one), *zoned whether the text
 * names a zone. A clock without a zone is read only
 * with allow_wall; a date alone never has one. */
static int parse_stamp(const char *p, bool allow_wall, int64_t *wall_s, int64_t *frac_ns,
                       int64_t *offset_s, bool *zoned)
{
    int year, mon, day, clock_s = 0;
    *frac_ns = 0;
    *offset_s = 0;
    *zoned = false;
    if (parse_date(&p, &year, &mon, &day) < 0)
        return HIST_EINVAL;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return HIST_EINVAL;
        p++;
        if (parse_clock(&p, &clock_s, frac_ns) < 0)
            return HIST_EINVAL;
        if (*p != '\0' || !allow_wall) {
            if (parse_offset(&p, offset_s) < 0 || *p != '\0')
                return HIST_EINVAL;
            *zoned = true;
        }
    }
    /* Years 0000..9999 keep this within +-3e11: no overflow. */
    *wall_s = hist_days_from_civil(year, mon, day) * 86400 + clock_s;
    return 0;
}

/* secs (whole seconds since the epoch) and frac_ns as one time, or
 * HIST_ERANGE outside HIST_TS_MIN..HIST_TS_MAX. */
static int join_ns(int64_t secs, int64_t frac_ns, int64_t *ns_out)
{
    if (secs > HIST_TS_MAX / 1000000000 || secs < HIST_TS_MIN / 1000000000)
        return HIST_ERANGE;
    int64_t ns = secs * 1000000000 + frac_ns;
    if (ns > HIST_TS_MAX || ns < HIST_TS_MIN)
        return HIST_ERANGE;
    *ns_out = ns;
    return 0;
}

/* RFC 3339: YYYY-MM-DD('T'|'t'|' ')hh:mm:ss[.frac](Z|z|+hh:mm|-hh:mm). A
 * date alone ("2026-01-02") means midnight UTC. */
static int parse_rfc3339(const char *p, int64_t *ns_out)
{
    int64_t wall_s, frac_ns, offset_s;
    bool zoned;
    if (parse_stamp(p, false, &wall_s, &frac_ns, &offset_s, &zoned) < 0)
        return HIST_EINVAL;
    return join_ns(wall_s - offset_s, frac_ns, ns_out);
}

int hist_time_parse_wall(const char *text, int64_t *wall_ns_out)
{
    int64_t wall_s, frac_ns, offset_s;
    bool zoned;
    if (!text || strspn(text, "0123456789") != 4 || text[4] != '-' ||
        parse_stamp(text, true, &wall_s, &frac_ns, &offset_s, &zoned) < 0 || zoned)
        return HIST_EINVAL;
    return join_ns(wall_s, frac_ns, wall_ns_out);
}

/* "-24h", "+1h", "-1.5d": a signed duration after "now". */
static int parse_relative(const char *p, int64_t now_ns, int64_t *ns_out)
{
    int sign = *p == '-' ? -1 : 1;
    p++;
    int64_t d;
    int rc = parse_duration_at(&p, &d);
    if (rc < 0)
        return rc;
    if (*p != '\0')
        return HIST_EINVAL;
    if (d > HIST_TS_MAX)
        return HIST_ERANGE;
    int64_t t = now_ns + sign * d; /* |now| and d are both <= HIST_TS_MAX: no overflow */
    if (t > HIST_TS_MAX || t < HIST_TS_MIN)
        return HIST_ERANGE;
    *ns_out = t;
    return 0;
}

int hist_time_parse(const char *text, int64_t now_ns, int64_t *ns_out)
{
    if (!text || !*text)
        return HIST_EINVAL;
    if (!strcmp(text, "now")) {
        *ns_out = now_ns;
        return 0;
    }
    if (!strncmp(text, "now", 3) && (text[3] == '-' || text[3] == '+'))
        return parse_relative(text + 3, now_ns, ns_out);
    if (text[0] == '-' || text[0] == '+')
        return parse_relative(text, now_ns, ns_out);

    size_t ndig = strspn(text, "0123456789");
    if (text[ndig] == '\0') { /* epoch milliseconds */
        if (ndig > 15)
            return HIST_ERANGE; /* 10^15 ms is ~31700 years */
        int64_t ms = 0;
        for (size_t i = 0; i < ndig; i++)
            ms = ms * 10 + (text[i] - '0');
        if (ms > HIST_TS_MAX / 1000000)
            return HIST_ERANGE;
        *ns_out = ms * 1000000;
        return 0;
    }
    if (ndig == 4 && text[4] == '-')
        return parse_rfc3339(text, ns_out);
    return HIST_EINVAL;
}

/* ---- RFC 3339 out ---------------------------------------------------------- */

/* t_ns on the clock offset_s seconds east of UTC, ending in Z (zulu) or in
 * the offset as +hh:mm. */
static size_t write_rfc3339(char *out, int64_t t_ns, int32_t offset_s, bool zulu)
{
    int64_t secs = t_ns / 1000000000, frac = t_ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        secs -= 1;
    }
    secs += offset_s; /* the wall clock's reading */
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    int64_t y;
    int m, d;
    hist_civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, HIST_RFC3339_MAX, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
    if (frac == 0)
        ;
    else if (frac % 1000000 == 0)
        n +=
            snprintf(out + n, HIST_RFC3339_MAX - (size_t)n, ".%03lld", (long long)(frac / 1000000));
    else if (frac % 1000 == 0)
        n += snprintf(out + n, HIST_RFC3339_MAX - (size_t)n, ".%06lld", (long long)(frac / 1000));
    else
        n += snprintf(out + n, HIST_RFC3339_MAX - (size_t)n, ".%09lld", (long long)frac);
    if (zulu) {
        n += snprintf(out + n, HIST_RFC3339_MAX - (size_t)n, "Z");
    } else {
        int32_t a = offset_s < 0 ? -offset_s : offset_s;
        n += snprintf(out + n, HIST_RFC3339_MAX - (size_t)n, "%c%02d:%02d",
                      offset_s < 0 ? '-' : '+', (int)(a / 3600), (int)(a / 60 % 60));
    }
    return (size_t)n;
}

size_t hist_time_rfc3339(char *out, int64_t t_ns)
{
    return write_rfc3339(out, t_ns, 0, true);
}

size_t hist_time_rfc3339_offset(char *out, int64_t t_ns, int32_t offset_s)
{
    HIST_ASSERT(offset_s > -86400 && offset_s < 86400);
    return write_rfc3339(out, t_ns, offset_s, false);
}
