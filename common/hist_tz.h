/*
 * hist_tz.h: IANA time zones (calendar buckets, zone-less CSV times), read from the system's TZif
 * files (/usr/share/zoneinfo/<name>, or $TZDIR/<name>). No offset is
 * hard-coded: the 64-bit transition table of a v2+ file answers the past,
 * its POSIX TZ footer rule ("CET-1CEST,M3.5.0,M10.5.0/3") the times after
 * the last transition.
 *
 * Times here are whole seconds: "utc" = seconds since the epoch, "local"
 * = seconds since 1970-01-01 00:00 on the zone's wall clock.
 */
#ifndef HIST_COMMON_TZ_H
#define HIST_COMMON_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "common/hist_time.h"

typedef struct hist_tz hist_tz;

/* Loads a zone by IANA name ("Europe/Berlin"). "" and "UTC" give UTC
 * without touching the disk. HIST_EINVAL for a name with "..", a leading
 * '/', bad characters, or no such/invalid file. */
int hist_tz_load(const char *name, hist_tz **out);
/* Parses TZif bytes (what hist_tz_load reads; also the fuzz entry).
 * HIST_ECORRUPT when the data is not a valid TZif file. */
int hist_tz_parse(const uint8_t *buf, size_t len, hist_tz **out);
void hist_tz_free(hist_tz *tz);

/* Seconds east of UTC in effect at utc (local = utc + offset). */
int32_t hist_tz_offset(const hist_tz *tz, int64_t utc);

/* The instants whose wall clock reads local: returns 1 (normal), 2 (a
 * repeated hour when clocks go back; out[0] < out[1]) or 0 when the wall
 * time does not exist (clocks jumped over it); then out[0] is the first
 * instant after the gap, i.e. the transition itself. */
int hist_tz_local_to_utc(const hist_tz *tz, int64_t local, int64_t out[2]);

/* A time as hist_time_parse() reads it, in the zone (tz_time.c says how):
 * zone-less "2026-06-01T06:00:00" and "2026-06-01" are the zone's wall
 * clock, "now" may be followed by steps "+1h", "-1d", "-1M" (calendar
 * months) and "/d" (round down: s m h d w M y), "now-1d/d" is yesterday's
 * midnight there. tz NULL is UTC. HIST_EINVAL / HIST_ERANGE as
 * hist_time_parse(). */
int hist_tz_time_parse(const hist_tz *tz, const char *text, int64_t now_ns, int64_t *ns_out);
/* The shift starts "/shift" rounds down to: minutes after the zone's
 * midnight, ascending, 1 <= n, each < 1440. */
typedef struct {
    const int *start_min;
    int n;
} hist_tz_shifts;
/* hist_tz_time_parse() that also takes "/shift": the start of the shift
 * holding the time so far ("now/shift" the current one, "now/shift-1s/shift"
 * the one before). shifts NULL: 06:00, 14:00, 22:00. */
int hist_tz_time_parse_shifts(const hist_tz *tz, const hist_tz_shifts *shifts, const char *text,
                              int64_t now_ns, int64_t *ns_out);
/* t as RFC 3339 with the zone's offset at t ("2026-06-01T06:00:00+02:00");
 * tz NULL writes Z. out holds HIST_RFC3339_MAX bytes. */
size_t hist_tz_rfc3339(const hist_tz *tz, char *out, int64_t t_ns);
/* The calendar (hist_days_from_civil() and its inverse) is in
 * common/hist_time.h. */

/* Floor division for int64 (rounds toward minus infinity): calendar
 * arithmetic on times before the epoch (tz.c, buckets.c). */
static inline int64_t hist_tz_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

#endif
