/*
 * parse.c: names and text parsing shared by the HTTP API, the Grafana
 * endpoints and the CLI (declared at the end of hist_query.h).
 *
 * Every parser is strict: the whole text must be consumed, otherwise the
 * answer is HIST_EINVAL, so "10sx" or "2026-01-01T00:00:00Zjunk" never
 * silently mean something. Numbers that do not fit return HIST_ERANGE.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "query/hist_query.h"

static const char *const agg_names[HIST_AGG__COUNT] = {
    [HIST_AGG_COUNT] = "count",
    [HIST_AGG_MIN] = "min",
    [HIST_AGG_MAX] = "max",
    [HIST_AGG_SUM] = "sum",
    [HIST_AGG_MEAN] = "mean",
    [HIST_AGG_TWA] = "twa",
    [HIST_AGG_STDDEV] = "stddev",
    [HIST_AGG_FIRST] = "first",
    [HIST_AGG_LAST] = "last",
    [HIST_AGG_RANGE] = "range",
    [HIST_AGG_INTEGRAL] = "integral",
    [HIST_AGG_DELTA] = "delta",
    [HIST_AGG_DURATION_TRUE] = "duration_true",
};

static const char *const mode_names[] = {
    [HIST_MODE_RAW] = "raw",       [HIST_MODE_LATEST] = "latest", [HIST_MODE_INTERP] = "interp",
    [HIST_MODE_AGG] = "aggregate", [HIST_MODE_PLOT] = "plot",
};

const char *hist_agg_name(hist_agg agg)
{
    if ((int)agg < 0 || agg >= HIST_AGG__COUNT)
        return "?";
    return agg_names[agg];
}

int hist_agg_parse(const char *name, hist_agg *out)
{
    if (!name)
        return HIST_EINVAL;
    for (int i = 0; i < HIST_AGG__COUNT; i++) {
        if (!strcasecmp(name, agg_names[i])) {
            *out = (hist_agg)i;
            return 0;
        }
    }
    /* Common synonyms people type into dashboards. */
    if (!strcasecmp(name, "avg") || !strcasecmp(name, "average")) {
        *out = HIST_AGG_MEAN;
        return 0;
    }
    if (!strcasecmp(name, "time_weighted_average") || !strcasecmp(name, "twavg")) {
        *out = HIST_AGG_TWA;
        return 0;
    }
    return HIST_EINVAL;
}

const char *hist_mode_name(hist_mode mode)
{
    if ((int)mode < 0 || mode > HIST_MODE_PLOT)
        return "?";
    return mode_names[mode];
}

int hist_mode_parse(const char *name, hist_mode *out)
{
    if (!name)
        return HIST_EINVAL;
    for (int i = 0; i <= HIST_MODE_PLOT; i++) {
        if (!strcasecmp(name, mode_names[i])) {
            *out = (hist_mode)i;
            return 0;
        }
    }
    if (!strcasecmp(name, "agg")) {
        *out = HIST_MODE_AGG;
        return 0;
    }
    if (!strcasecmp(name, "interpolated") || !strcasecmp(name, "interpolate")) {
        *out = HIST_MODE_INTERP;
        return 0;
    }
    if (!strcasecmp(name, "m4")) {
        *out = HIST_MODE_PLOT;
        return 0;
    }
    return HIST_EINVAL;
}

int hist_fill_parse(const char *name, hist_fill *out)
{
    static const struct {
        const char *name;
        hist_fill fill;
    } fills[] = {
        {"none", HIST_FILL_NONE},         {"null", HIST_FILL_NULL},
        {"previous", HIST_FILL_PREVIOUS}, {"prev", HIST_FILL_PREVIOUS},
        {"linear", HIST_FILL_LINEAR},
    };
    if (!name)
        return HIST_EINVAL;
    for (size_t i = 0; i < sizeof fills / sizeof fills[0]; i++) {
        if (!strcasecmp(name, fills[i].name)) {
            *out = fills[i].fill;
            return 0;
        }
    }
    return HIST_EINVAL;
}

/* ---- Durations ---------------------------------------------------------- */

/* Parses "<digits>[.<digits>]<unit>" at *pp, advancing it. The result is
 * exact for integers; a fraction is rounded down to whole nanoseconds. */
static int parse_duration_at(const char **pp, int64_t *ns_out)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {
        /* Longest first so "ms" is not read as "m" followed by "s". */
        {"ns", 1},
        {"us", INT64_C(1000)},
        {"ms", INT64_C(1000000)},
        {"s", INT64_C(1000000000)},
        {"m", INT64_C(60000000000)},
        {"h", INT64_C(3600000000000)},
        {"d", INT64_C(86400000000000)},
        {"w", INT64_C(604800000000000)},
    };
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
        while (isdigit((unsigned char)*p)) {
            if (frac_scale < UINT64_C(1000000000000000000)) { /* ignore digits past 18 */
                frac = frac * 10 + (uint64_t)(*p - '0');
                frac_scale *= 10;
            }
            p++;
        }
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t ul = strlen(units[i].unit);
        if (strncmp(p, units[i].unit, ul) != 0)
            continue;
        /* "m" must not match the start of "ms"; the table order handles
         * that, and a longer alphabetic tail is caught by the caller's
         * end-of-text check. */
        uint64_t unit = (uint64_t)units[i].ns;
        if (whole > (uint64_t)INT64_MAX / unit)
            return HIST_ERANGE;
        uint64_t ns = whole * unit;
        /* frac / frac_scale * unit, exact (rounded down): the product of
         * two values below 10^18 fits in 128 bits. */
        uint64_t part = (uint64_t)((unsigned __int128)frac * unit / frac_scale);
        if ((uint64_t)INT64_MAX - ns < part)
            return HIST_ERANGE;
        ns += part;
        *ns_out = (int64_t)ns;
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

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). Valid for any year that fits; callers bound the year. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

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

/* RFC 3339: YYYY-MM-DD('T'|'t'|' ')hh:mm:ss[.frac](Z|z|+hh:mm|-hh:mm). A
 * date alone ("2026-01-02") means midnight UTC. */
static int parse_rfc3339(const char *p, int64_t *ns_out)
{
    int year, mon, day, hh = 0, mm = 0, ss = 0;
    int64_t frac_ns = 0, offset_s = 0;
    if (read_digits(&p, 4, &year) || expect_char(&p, '-') || read_digits(&p, 2, &mon) ||
        expect_char(&p, '-') || read_digits(&p, 2, &day))
        return HIST_EINVAL;
    if (mon < 1 || mon > 12 || day < 1)
        return HIST_EINVAL;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int maxd = mdays[mon - 1] + (mon == 2 && is_leap(year));
    if (day > maxd)
        return HIST_EINVAL;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return HIST_EINVAL;
        p++;
        if (read_digits(&p, 2, &hh) || expect_char(&p, ':') || read_digits(&p, 2, &mm) ||
            expect_char(&p, ':') || read_digits(&p, 2, &ss))
            return HIST_EINVAL;
        /* 60 is a leap second: accepted and folded into the next second. */
        if (hh > 23 || mm > 59 || ss > 60)
            return HIST_EINVAL;
        if (*p == '.') {
            p++;
            if (!isdigit((unsigned char)*p))
                return HIST_EINVAL;
            int64_t scale = 100000000;
            while (isdigit((unsigned char)*p)) {
                frac_ns += (*p - '0') * scale; /* digits past the 9th add 0 */
                scale /= 10;
                p++;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om;
            p++;
            if (read_digits(&p, 2, &oh) || expect_char(&p, ':') || read_digits(&p, 2, &om))
                return HIST_EINVAL;
            if (oh > 23 || om > 59)
                return HIST_EINVAL;
            offset_s = sign * (oh * 3600 + om * 60);
        } else {
            return HIST_EINVAL; /* RFC 3339 requires the offset */
        }
        if (*p != '\0')
            return HIST_EINVAL;
    }
    int64_t days = days_from_civil(year, (unsigned)mon, (unsigned)day);
    int64_t secs = days * 86400 + hh * 3600 + mm * 60 + ss - offset_s;
    /* Years 0000..9999 keep secs within +-3e11: no overflow before the check. */
    if (secs > HIST_TS_MAX / 1000000000 || secs < HIST_TS_MIN / 1000000000)
        return HIST_ERANGE;
    int64_t ns = secs * 1000000000 + frac_ns;
    if (ns > HIST_TS_MAX || ns < HIST_TS_MIN)
        return HIST_ERANGE;
    *ns_out = ns;
    return 0;
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
