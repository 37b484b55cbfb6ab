/*
 * hist_time.h: time as people write it, shared by the HTTP API, Grafana,
 * the time zones of calendar buckets and the historian CLI: durations and
 * instants parsed from text, instants written as RFC 3339, and the
 * proleptic Gregorian calendar underneath both.
 *
 * Every parser is strict: the whole text must be consumed, otherwise the
 * answer is HIST_EINVAL, so "10sx" or "2026-01-01T00:00:00Zjunk" never
 * silently mean something. Numbers that do not fit return HIST_ERANGE.
 */
#ifndef HIST_COMMON_TIME_H
#define HIST_COMMON_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "1s".."30d" style durations: a number and one of ns us ms s m h d w y
 * (y = 365 d). */
int hist_duration_parse(const char *text, int64_t *ns_out);
/* RFC 3339 ("2026-01-02T03:04:05.123Z", offsets too), epoch ms (all digits),
 * "now", or relative to now ("-24h", "now-7d"). */
int hist_time_parse(const char *text, int64_t now_ns, int64_t *ns_out);

/* Writes t (ns since the epoch, UTC) as RFC 3339 with as many fractional
 * digits as needed (0, 3, 6 or 9): "2026-01-02T03:04:05.123Z". out holds
 * at least HIST_RFC3339_MAX bytes; the text is NUL-terminated and its
 * length returned. */
#define HIST_RFC3339_MAX 40
size_t hist_time_rfc3339(char *out, int64_t t_ns);
/* The same on the wall clock offset_s seconds east of UTC (|offset_s| < 24 h),
 * ending in that offset: "2026-06-01T06:00:00+02:00" (+00:00, never Z: the
 * text says a zone was asked for). hist_tz_rfc3339() picks the offset. */
size_t hist_time_rfc3339_offset(char *out, int64_t t_ns, int32_t offset_s);
/* A zone-less wall-clock time, "YYYY-MM-DD" or "YYYY-MM-DDThh:mm:ss[.frac]"
 * ('T', 't' or ' '), as ns since 1970-01-01 00:00 on that clock. Text with
 * Z or an offset, or anything else, is HIST_EINVAL; hist_tz_time_parse()
 * reads such a time in a zone. */
int hist_time_parse_wall(const char *text, int64_t *wall_ns_out);

/* Proleptic Gregorian calendar: days since 1970-01-01 <-> y/m/d. */
int64_t hist_days_from_civil(int64_t y, int m, int d);
void hist_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
bool hist_leap_year(int64_t y);
int hist_days_in_month(int64_t y, int m); /* m 1..12 */

#endif
