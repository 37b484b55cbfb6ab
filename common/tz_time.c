/*
 * tz_time.c: instants read and written in a time zone (see hist_tz.h): the
 * query range of a report in the plant's own time, and the offset that
 * every time of such an answer carries.
 *
 * What a zone changes:
 *   - a zone-less "2026-06-01T06:00:00" or "2026-06-01" is that wall-clock
 *     reading in the zone;
 *   - "now/d" rounds down to the zone's midnight, "now/w" to its Monday
 *     00:00, "now/M" and "now/y" to the first of the month and the year,
 *     "now/h", "now/m", "now/s" to the hour, minute and second of its clock;
 *   - "now/shift" rounds down to the start of the current shift (the
 *     latest shift start, on the zone's clock today or yesterday, at or
 *     before the time; a start the clocks skip is the instant after the
 *     jump);
 *   - "+1M", "-1M" after "now" move the zone's calendar by whole months
 *     (the day clamped to the month's length), every other unit adds the
 *     duration (hist_duration_parse: 1d is 24 h, also across a DST change).
 * Texts with Z or an offset, epoch ms and "-24h" mean what they mean
 * without a zone.
 *
 * Wall times that the zone skips or repeats (hist_tz_local_to_utc):
 *   - a time in the hour the clocks jump over moves forward by the jump
 *     (02:30 on the spring day in Europe/Berlin is 03:30 CEST, 01:30Z);
 *   - a time in the repeated hour is its first, earlier occurrence.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/hist_error.h"
#include "common/hist_time.h"
#include "common/hist_types.h"
#include "common/hist_tz.h"

#define NS_PER_S INT64_C(1000000000)

static int32_t offset_at(const hist_tz *tz, int64_t utc_s)
{
    return tz ? hist_tz_offset(tz, utc_s) : 0;
}

/* The instant whose wall clock reads local_s (the rules above). */
static int64_t local_to_utc_s(const hist_tz *tz, int64_t local_s)
{
    if (!tz)
        return local_s;
    int64_t at[2];
    if (hist_tz_local_to_utc(tz, local_s, at) == 0) /* skipped: at[0] is the jump */
        return local_s - offset_at(tz, at[0] - 1);
    return at[0];
}

/* ns on the wall clock -> ns since the epoch, keeping the fraction. */
static int wall_to_utc_ns(const hist_tz *tz, int64_t wall_ns, int64_t *out)
{
    int64_t wall_s = hist_tz_floor_div(wall_ns, NS_PER_S);
    int64_t utc_s = local_to_utc_s(tz, wall_s);
    if (utc_s > HIST_TS_MAX / NS_PER_S - 1 || utc_s < HIST_TS_MIN / NS_PER_S + 1)
        return HIST_ERANGE;
    *out = utc_s * NS_PER_S + (wall_ns - wall_s * NS_PER_S);
    return 0;
}

/* t rounded down to the start of its unit ('s' 'm' 'h' 'd' 'w' 'M' 'y') on
 * the zone's clock. Hours and shorter keep t's own offset, so a time in the
 * repeated hour rounds to that hour, not to its first occurrence. */
static int round_down(const hist_tz *tz, int64_t t_ns, char unit, int64_t *out)
{
    int64_t utc_s = hist_tz_floor_div(t_ns, NS_PER_S);
    int32_t off = offset_at(tz, utc_s);
    int64_t local_s = utc_s + off;
    int64_t step = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
    if (step) {
        *out = (hist_tz_floor_div(local_s, step) * step - off) * NS_PER_S;
        return 0;
    }
    int64_t days = hist_tz_floor_div(local_s, 86400), y;
    int m, d;
    hist_civil_from_days(days, &y, &m, &d);
    if (unit == 'd')
        ;
    else if (unit == 'w') /* 1970-01-01 was a Thursday: Monday is days+3 = 0 mod 7 */
        days -= (days + 3) - hist_tz_floor_div(days + 3, 7) * 7;
    else if (unit == 'M')
        days = hist_days_from_civil(y, m, 1);
    else if (unit == 'y')
        days = hist_days_from_civil(y, 1, 1);
    else
        return HIST_EINVAL;
    return wall_to_utc_ns(tz, days * 86400 * NS_PER_S, out);
}

static const int default_shift_min[] = {6 * 60, 14 * 60, 22 * 60};

/* t rounded down to the start of its shift: the latest start at or before
 * t among today's and yesterday's (the zone's days). */
static int round_to_shift(const hist_tz *tz, const hist_tz_shifts *shifts, int64_t t_ns,
                          int64_t *out)
{
    hist_tz_shifts def = {default_shift_min, 3};
    if (!shifts)
        shifts = &def;
    int64_t utc_s = hist_tz_floor_div(t_ns, NS_PER_S);
    int64_t today = hist_tz_floor_div(utc_s + offset_at(tz, utc_s), 86400);
    for (int64_t day = today; day >= today - 1; day--) {
        for (int i = shifts->n - 1; i >= 0; i--) {
            int64_t start;
            int64_t wall_ns = (day * 86400 + shifts->start_min[i] * 60) * NS_PER_S;
            int rc = wall_to_utc_ns(tz, wall_ns, &start);
            if (rc < 0)
                return rc;
            if (start <= t_ns) {
                *out = start;
                return 0;
            }
        }
    }
    return HIST_ERANGE; /* not reached with starts < 1440 min */
}

/* t moved by months on the zone's calendar, the time of day kept. */
static int add_months(const hist_tz *tz, int64_t t_ns, int64_t months, int64_t *out)
{
    if (months > 12 * 400 || months < -12 * 400)
        return HIST_ERANGE;
    int64_t utc_s = hist_tz_floor_div(t_ns, NS_PER_S);
    int64_t local_s = utc_s + offset_at(tz, utc_s);
    int64_t days = hist_tz_floor_div(local_s, 86400), y;
    int m, d;
    hist_civil_from_days(days, &y, &m, &d);
    int64_t mi = y * 12 + (m - 1) + months;
    y = hist_tz_floor_div(mi, 12);
    m = (int)(mi - y * 12) + 1;
    if (d > hist_days_in_month(y, m))
        d = hist_days_in_month(y, m);
    int64_t wall_s = hist_days_from_civil(y, m, d) * 86400 + (local_s - days * 86400);
    return wall_to_utc_ns(tz, wall_s * NS_PER_S + (t_ns - utc_s * NS_PER_S), out);
}

/* One "+dur", "-dur", "+nM" or "/unit" step of a "now..." text at *pp. */
static int apply_step(const hist_tz *tz, const hist_tz_shifts *shifts, const char **pp, int64_t *t)
{
    const char *p = *pp;
    char op = *p++;
    size_t n = strcspn(p, "+-/");
    char tok[32];
    if (n == 0 || n >= sizeof tok)
        return HIST_EINVAL;
    memcpy(tok, p, n);
    tok[n] = '\0';
    *pp = p + n;
    if (op == '/' && !strcmp(tok, "shift"))
        return round_to_shift(tz, shifts, *t, t);
    if (op == '/')
        return n == 1 ? round_down(tz, *t, tok[0], t) : HIST_EINVAL;
    int sign = op == '-' ? -1 : 1;
    if (tok[n - 1] == 'M') { /* calendar months: digits only */
        tok[n - 1] = '\0';
        if (n == 1 || strspn(tok, "0123456789") != n - 1 || n > 6)
            return HIST_EINVAL;
        long months = 0;
        sscanf(tok, "%ld", &months);
        return add_months(tz, *t, sign * (int64_t)months, t);
    }
    int64_t d;
    int rc = hist_duration_parse(tok, &d);
    if (rc < 0)
        return rc;
    if (d > HIST_TS_MAX)
        return HIST_ERANGE;
    int64_t r = *t + sign * d; /* both within +-HIST_TS_MAX: no overflow */
    if (r > HIST_TS_MAX || r < HIST_TS_MIN)
        return HIST_ERANGE;
    *t = r;
    return 0;
}

int hist_tz_time_parse(const hist_tz *tz, const char *text, int64_t now_ns, int64_t *ns_out)
{
    return hist_tz_time_parse_shifts(tz, NULL, text, now_ns, ns_out);
}

int hist_tz_time_parse_shifts(const hist_tz *tz, const hist_tz_shifts *shifts, const char *text,
                              int64_t now_ns, int64_t *ns_out)
{
    if (!text || !*text)
        return HIST_EINVAL;
    if (!strncmp(text, "now", 3) && text[3] != '\0') {
        const char *p = text + 3;
        int64_t t = now_ns;
        while (*p) {
            if (*p != '+' && *p != '-' && *p != '/')
                return HIST_EINVAL;
            int rc = apply_step(tz, shifts, &p, &t);
            if (rc < 0)
                return rc;
        }
        *ns_out = t;
        return 0;
    }
    int64_t wall_ns;
    int rc = hist_time_parse_wall(text, &wall_ns);
    if (rc == 0)
        return wall_to_utc_ns(tz, wall_ns, ns_out);
    if (rc == HIST_ERANGE)
        return rc;
    return hist_time_parse(text, now_ns, ns_out);
}

size_t hist_tz_rfc3339(const hist_tz *tz, char *out, int64_t t_ns)
{
    if (!tz)
        return hist_time_rfc3339(out, t_ns);
    return hist_time_rfc3339_offset(out, t_ns, offset_at(tz, hist_tz_floor_div(t_ns, NS_PER_S)));
}
