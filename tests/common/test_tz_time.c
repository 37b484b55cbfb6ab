/*
 * test_tz_time.c: times read and written in a zone (common/tz_time.c,
 * hist_tz.h): RFC 3339 with the zone's offset on both sides of Europe/
 * Berlin's DST changes (2026-03-29 01:00Z, 2026-10-25 01:00Z), zone-less
 * wall times (the skipped hour moves forward, the repeated one is its
 * first occurrence), "now/d"-style rounding and calendar months, "/shift"
 * (hand-worked cases on the DST days, and a property check over a year of
 * random times), strict refusals. Every expected instant was worked out by hand from the zone's
 * offsets (CET +01:00, CEST +02:00; America/St_Johns -03:30/-02:30).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/hist_error.h"
#include "common/hist_time.h"
#include "common/hist_tz.h"

#define S INT64_C(1000000000)

/* text (a UTC RFC 3339) as ns. */
static int64_t utc(const char *text)
{
    int64_t t = 0;
    int rc = hist_time_parse(text, 0, &t);
    CHECKF(rc == 0, "reference time %s: %d", text, rc);
    return t;
}

static void expect_out(const hist_tz *tz, const char *at_utc, int64_t extra_ns, const char *want)
{
    char out[HIST_RFC3339_MAX];
    size_t n = hist_tz_rfc3339(tz, out, utc(at_utc) + extra_ns);
    CHECKF(n == strlen(want) && !strcmp(out, want), "%s +%lld ns: got %s, want %s", at_utc,
           (long long)extra_ns, out, want);
}

static void expect_in(const hist_tz *tz, const char *text, int64_t now, const char *want_utc)
{
    int64_t t = -1;
    int rc = hist_tz_time_parse(tz, text, now, &t);
    int64_t want = utc(want_utc);
    CHECKF(rc == 0 && t == want, "%s: rc %d, got %lld, want %s (%lld)", text, rc, (long long)t,
           want_utc, (long long)want);
}

static void expect_refused(const hist_tz *tz, const char *text)
{
    int64_t t = 42;
    int rc = hist_tz_time_parse(tz, text, 0, &t);
    CHECKF(rc == HIST_EINVAL || rc == HIST_ERANGE, "%s: rc %d, want a refusal", text, rc);
    CHECKF(t == 42, "%s: the output was written on a refusal", text);
}

static void test_output(const hist_tz *berlin, const hist_tz *stjohns)
{
    expect_out(berlin, "2026-01-15T12:00:00Z", 0, "2026-01-15T13:00:00+01:00");
    expect_out(berlin, "2026-06-01T04:00:00Z", 0, "2026-06-01T06:00:00+02:00");
    /* spring: the last CET second, then the first CEST one */
    expect_out(berlin, "2026-03-29T00:59:59Z", 0, "2026-03-29T01:59:59+01:00");
    expect_out(berlin, "2026-03-29T01:00:00Z", 0, "2026-03-29T03:00:00+02:00");
    /* autumn: 02:30 twice, first +02:00 then +01:00 */
    expect_out(berlin, "2026-10-25T00:30:00Z", 0, "2026-10-25T02:30:00+02:00");
    expect_out(berlin, "2026-10-25T01:30:00Z", 0, "2026-10-25T02:30:00+01:00");
    /* fractions keep 3, 6 or 9 digits; a day before the epoch */
    expect_out(berlin, "2026-06-01T04:00:00Z", 123 * INT64_C(1000000),
               "2026-06-01T06:00:00.123+02:00");
    expect_out(berlin, "2026-06-01T04:00:00Z", 5, "2026-06-01T06:00:00.000000005+02:00");
    expect_out(berlin, "1969-12-31T23:30:00Z", 0, "1970-01-01T00:30:00+01:00");
    /* a half-hour zone west of UTC */
    expect_out(stjohns, "2026-01-15T12:00:00Z", 0, "2026-01-15T08:30:00-03:30");
    expect_out(stjohns, "2026-07-15T12:00:00Z", 0, "2026-07-15T09:30:00-02:30");
    /* no zone: Z as before */
    expect_out(NULL, "2026-06-01T04:00:00Z", 0, "2026-06-01T04:00:00Z");
    char out[HIST_RFC3339_MAX];
    hist_time_rfc3339_offset(out, 0, 0);
    CHECKF(!strcmp(out, "1970-01-01T00:00:00+00:00"), "offset 0 with a zone: %s", out);
}

static void test_wall_times(const hist_tz *berlin)
{
    expect_in(berlin, "2026-06-01T06:00:00", 0, "2026-06-01T04:00:00Z");
    expect_in(berlin, "2026-06-01 06:00:00.250", 0, "2026-06-01T04:00:00.250Z");
    expect_in(berlin, "2026-01-02", 0, "2026-01-01T23:00:00Z");
    expect_in(berlin, "2026-03-29T01:59:59", 0, "2026-03-29T00:59:59Z");
    expect_in(berlin, "2026-03-29T02:30:00", 0, "2026-03-29T01:30:00Z"); /* skipped: 03:30 CEST */
    expect_in(berlin, "2026-03-29T03:00:00", 0, "2026-03-29T01:00:00Z");
    expect_in(berlin, "2026-10-25T02:30:00", 0, "2026-10-25T00:30:00Z"); /* repeated: the first */
    expect_in(berlin, "2026-10-25T03:00:00", 0, "2026-10-25T02:00:00Z");
    /* a zone in the text wins over the request's */
    expect_in(berlin, "2026-06-01T06:00:00Z", 0, "2026-06-01T06:00:00Z");
    expect_in(berlin, "2026-06-01T06:00:00+05:00", 0, "2026-06-01T01:00:00Z");
    /* epoch ms and relative times are not wall times */
    expect_in(berlin, "1780293600000", 0, "2026-06-01T06:00:00Z");
    int64_t now = utc("2026-06-01T12:00:00Z");
    expect_in(berlin, "-24h", now, "2026-05-31T12:00:00Z");
    expect_in(berlin, "now-7d", now, "2026-05-25T12:00:00Z");
    /* without a zone: UTC */
    expect_in(NULL, "2026-06-01T06:00:00", 0, "2026-06-01T06:00:00Z");
    expect_in(NULL, "2026-06-01", 0, "2026-06-01T00:00:00Z");
}

static void test_rounding(const hist_tz *berlin)
{
    int64_t now = utc("2026-06-03T01:30:15.5Z"); /* Wednesday 03:30:15.5 CEST */
    expect_in(berlin, "now/d", now, "2026-06-02T22:00:00Z");
    expect_in(berlin, "now-1d/d", now, "2026-06-01T22:00:00Z");
    expect_in(berlin, "now/d+6h", now, "2026-06-03T04:00:00Z");
    expect_in(berlin, "now/w", now, "2026-05-31T22:00:00Z"); /* Monday 2026-06-01 */
    expect_in(berlin, "now/M", now, "2026-05-31T22:00:00Z");
    expect_in(berlin, "now/y", now, "2025-12-31T23:00:00Z"); /* CET on 1 January */
    expect_in(berlin, "now/h", now, "2026-06-03T01:00:00Z");
    expect_in(berlin, "now/m", now, "2026-06-03T01:30:00Z");
    expect_in(berlin, "now/s", now, "2026-06-03T01:30:15Z");
    expect_in(NULL, "now/d", now, "2026-06-03T00:00:00Z");
    /* the day of the spring change is 23 hours long */
    int64_t spring = utc("2026-03-29T20:00:00Z");
    expect_in(berlin, "now/d", spring, "2026-03-28T23:00:00Z");
    expect_in(berlin, "now/d+1d", spring, "2026-03-29T23:00:00Z"); /* 24 h later: 01:00 CEST */
    expect_in(berlin, "now+1d/d", spring, "2026-03-29T22:00:00Z");
    /* the repeated hour rounds to its own start */
    expect_in(berlin, "now/h", utc("2026-10-25T01:45:00Z"), "2026-10-25T01:00:00Z");
    /* calendar months, the day clamped */
    int64_t mar31 = utc("2026-03-31T10:00:00Z");                  /* 12:00 CEST */
    expect_in(berlin, "now-1M", mar31, "2026-02-28T11:00:00Z");   /* 12:00 CET */
    expect_in(berlin, "now-1M/M", mar31, "2026-01-31T23:00:00Z"); /* 1 February */
    expect_in(berlin, "now+12M", mar31, "2027-03-31T10:00:00Z");
    expect_in(berlin, "now-14M/y", mar31, "2024-12-31T23:00:00Z");
    /* a Monday stays on its own week */
    expect_in(berlin, "now/w", utc("2026-06-01T10:00:00Z"), "2026-05-31T22:00:00Z");
    expect_in(berlin, "now/w", utc("2026-05-31T21:59:59Z"), "2026-05-24T22:00:00Z");
}

static void test_refusals(const hist_tz *berlin)
{
    const char *bad[] = {"now/",         "now/x",
                         "now/dd",       "now-",
                         "now-1x",       "now1d",
                         "now-1.5M",     "now-M",
                         "now/d-",       "2026-06-01T06:00",
                         "2026-13-01",   "2026-06-01T06:00:00Zjunk",
                         "now-1000000M", "",
                         "tomorrow"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(berlin, bad[i]);
    int64_t w;
    CHECK(hist_time_parse_wall("2026-06-01T06:00:00Z", &w) == HIST_EINVAL);
    CHECK(hist_time_parse_wall("now", &w) == HIST_EINVAL);
    CHECK(hist_time_parse_wall("2026-06-01T06:00:00", &w) == 0 && w == utc("2026-06-01T06:00:00Z"));
}

static void expect_shift(const hist_tz *tz, const hist_tz_shifts *sh, const char *text,
                         const char *now_utc, const char *want_utc)
{
    int64_t t = -1, want = utc(want_utc);
    int rc = hist_tz_time_parse_shifts(tz, sh, text, utc(now_utc), &t);
    CHECKF(rc == 0 && t == want, "%s at %s: rc %d, got %lld, want %s", text, now_utc, rc,
           (long long)t, want_utc);
}

static void test_shift_cases(const hist_tz *berlin)
{
    /* the default 06:00, 14:00, 22:00 in CEST (+02:00) */
    expect_shift(berlin, NULL, "now/shift", "2026-06-01T05:00:00Z", "2026-06-01T04:00:00Z");
    expect_shift(berlin, NULL, "now/shift", "2026-06-01T04:00:00Z", "2026-06-01T04:00:00Z");
    expect_shift(berlin, NULL, "now/shift", "2026-06-01T03:59:59Z", "2026-05-31T20:00:00Z");
    expect_shift(berlin, NULL, "now/shift", "2026-06-01T21:00:00Z", "2026-06-01T20:00:00Z");
    /* the shift before the current one; and its end, 8 h on */
    expect_shift(berlin, NULL, "now/shift-1s/shift", "2026-06-01T05:00:00Z",
                 "2026-05-31T20:00:00Z");
    expect_shift(berlin, NULL, "now/shift+8h", "2026-06-01T05:00:00Z", "2026-06-01T12:00:00Z");
    /* the spring night: 22:00 CET (21:00Z) to 06:00 CEST (04:00Z) is 7 h */
    expect_shift(berlin, NULL, "now/shift", "2026-03-29T03:59:00Z", "2026-03-28T21:00:00Z");
    expect_shift(berlin, NULL, "now/shift", "2026-03-29T04:00:00Z", "2026-03-29T04:00:00Z");
    /* a start the clocks skip (02:30) is the instant after the jump, 01:00Z,
     * moved forward by the jump: 03:30 CEST = 01:30Z */
    int s230[] = {150};
    hist_tz_shifts skipped = {s230, 1};
    expect_shift(berlin, &skipped, "now/shift", "2026-03-29T02:00:00Z", "2026-03-29T01:30:00Z");
    expect_shift(berlin, &skipped, "now/shift", "2026-03-29T01:29:59Z", "2026-03-28T01:30:00Z");
    /* a start the clocks repeat (02:30 on 2026-10-25) is its first: 00:30Z */
    expect_shift(berlin, &skipped, "now/shift", "2026-10-25T01:45:00Z", "2026-10-25T00:30:00Z");
    /* two shifts, 00:00 and 12:00, no zone */
    int s012[] = {0, 720};
    hist_tz_shifts two = {s012, 2};
    expect_shift(NULL, &two, "now/shift", "2026-06-01T11:59:59Z", "2026-06-01T00:00:00Z");
    expect_shift(NULL, &two, "now-1d/shift", "2026-06-01T12:00:00Z", "2026-05-31T12:00:00Z");
    int64_t t = 7;
    CHECKF(hist_tz_time_parse_shifts(berlin, NULL, "now/shif", 0, &t) == HIST_EINVAL && t == 7,
           "now/shif is refused");
}

/* True when local minute-of-day m is one of the starts. */
static bool is_start(const hist_tz_shifts *sh, int64_t utc_s, const hist_tz *tz)
{
    int64_t local = utc_s + hist_tz_offset(tz, utc_s);
    int m = (int)(((local % 86400) + 86400) % 86400 / 60);
    for (int i = 0; i < sh->n; i++)
        if (sh->start_min[i] == m && local % 60 == 0)
            return true;
    return false;
}

/* Away from the DST nights, now/shift is the latest instant at or before
 * now whose wall clock reads a shift start: checked minute by minute. */
static void test_shift_property(const hist_tz *berlin)
{
    int starts[] = {5 * 60 + 45, 13 * 60 + 45, 21 * 60 + 45};
    hist_tz_shifts sh = {starts, 3};
    uint64_t x = 88172645463325252ULL;
    int64_t y0 = utc("2026-01-01T00:00:00Z") / S, bad = 0;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t now_s = y0 + (int64_t)(x % (365 * 86400));
        int64_t r = 0;
        if (hist_tz_offset(berlin, now_s) != hist_tz_offset(berlin, now_s - 86400))
            continue; /* a DST change in the last day: the cases above */
        int rc = hist_tz_time_parse_shifts(berlin, &sh, "now/shift", now_s * S, &r);
        bool ok = rc == 0 && r <= now_s * S && r % S == 0 && is_start(&sh, r / S, berlin);
        for (int64_t m = r / S + 60; ok && m <= now_s; m += 60)
            ok = !is_start(&sh, m - m % 60, berlin);
        bad += !ok;
    }
    CHECKF(bad == 0, "now/shift: %lld of 2000 random times off", (long long)bad);
}

int main(void)
{
    hist_tz *berlin = NULL, *stjohns = NULL;
    if (hist_tz_load("Europe/Berlin", &berlin) < 0 ||
        hist_tz_load("America/St_Johns", &stjohns) < 0) {
        fprintf(stderr, "the zone files (Debian's tzdata) are missing\n");
        return 1;
    }
    test_output(berlin, stjohns);
    test_wall_times(berlin);
    test_rounding(berlin);
    test_refusals(berlin);
    test_shift_cases(berlin);
    test_shift_property(berlin);
    hist_tz_free(berlin);
    hist_tz_free(stjohns);
    return check_summary();
}
