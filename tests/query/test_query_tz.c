/*
 * test_query_tz.c: the TZif reader (query/tz.c) and calendar buckets
 * (query/buckets.c) across DST in Europe/Berlin and America/New_York.
 *
 * Offsets are checked against the C library (setenv TZ + localtime_r), an
 * independent reader of the same zone files, over random instants from 1900
 * to 2200 (past the last transition, so the footer rule is exercised).
 * Bucket lengths are checked against known 2026 transition dates: EU last
 * Sunday of March/October (29 Mar, 25 Oct), US second Sunday of March and
 * first of November (8 Mar, 1 Nov).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "query/engine.h"
#include "common/hist_tz.h"

#define SEC  INT64_C(1000000000)
#define HOUR (3600 * SEC)

static int64_t utc_ns(int y, int mo, int d, int h, int mi)
{
    return (hist_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60) * SEC;
}

static void test_offsets_vs_libc(const char *zone)
{
    hist_tz *tz = NULL;
    REQUIRE(hist_tz_load(zone, &tz) == 0);
    setenv("TZ", zone, 1);
    tzset();
    uint64_t x = 0x9E3779B97F4A7C15ull;
    long bad = 0;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* 1900 .. 2200 */
        int64_t t = -2208988800LL + (int64_t)(x % (uint64_t)(300LL * 365 * 86400));
        time_t tt = (time_t)t;
        struct tm tm;
        localtime_r(&tt, &tm);
        if (hist_tz_offset(tz, t) != tm.tm_gmtoff && bad++ < 5)
            fprintf(stderr, "%s at %lld: %d vs libc %ld\n", zone, (long long)t, hist_tz_offset(tz, t),
                    (long)tm.tm_gmtoff);
    }
    CHECKF(bad == 0, "%s: %ld offsets differ from libc", zone, bad);
    unsetenv("TZ");
    tzset();
    hist_tz_free(tz);
}

static hist_buckets buckets(const char *zone, hist_bucket_kind kind, int64_t from, int64_t to)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.bucket = kind;
    spec.from = from;
    spec.to = to;
    snprintf(spec.tz, sizeof(spec.tz), "%s", zone);
    spec.nshifts = 3;
    spec.shift_start_min[0] = 6 * 60;
    spec.shift_start_min[1] = 14 * 60;
    spec.shift_start_min[2] = 22 * 60;
    hist_buckets b = {0};
    int rc = buckets__make(&spec, &b);
    CHECKF(rc == 0, "buckets %s kind %d rc %d", zone, kind, rc);
    return b;
}

/* The length of the bucket starting at t (or -1). */
static int64_t len_at(const hist_buckets *b, int64_t t)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->bound[i] == t)
            return b->bound[i + 1] - b->bound[i];
    return -1;
}

static void test_berlin(void)
{
    const char *z = "Europe/Berlin";
    /* Days: 28 Mar (24 h) 29 Mar (23 h) ... 25 Oct (25 h). Local midnight in
     * winter is 23:00Z the day before, in summer 22:00Z. */
    hist_buckets b =
        buckets(z, HIST_BUCKET_DAY, utc_ns(2026, 3, 27, 12, 0), utc_ns(2026, 3, 31, 0, 0));
    CHECK_EQ_I64(b.bound[0], utc_ns(2026, 3, 26, 23, 0));
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 27, 23, 0)), 24 * HOUR);
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 28, 23, 0)), 23 * HOUR);
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 29, 22, 0)), 24 * HOUR);
    buckets__free(&b);
    b = buckets(z, HIST_BUCKET_DAY, utc_ns(2026, 10, 24, 0, 0), utc_ns(2026, 10, 27, 0, 0));
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 10, 24, 22, 0)), 25 * HOUR);
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 10, 25, 23, 0)), 24 * HOUR);
    buckets__free(&b);

    /* Hours of the spring day: 23 buckets, all 1 h (02:00 local skipped). */
    b = buckets(z, HIST_BUCKET_HOUR, utc_ns(2026, 3, 28, 23, 0), utc_ns(2026, 3, 29, 22, 0));
    CHECK_EQ_I64(b.n, 23);
    for (size_t i = 0; i < b.n; i++)
        CHECK_EQ_I64(b.bound[i + 1] - b.bound[i], HOUR);
    buckets__free(&b);
    /* Autumn: 25 hourly buckets (02:00 local twice). */
    b = buckets(z, HIST_BUCKET_HOUR, utc_ns(2026, 10, 24, 22, 0), utc_ns(2026, 10, 25, 23, 0));
    CHECK_EQ_I64(b.n, 25);
    CHECK_EQ_I64(b.bound[2], utc_ns(2026, 10, 25, 0, 0)); /* 02:00 CEST */
    CHECK_EQ_I64(b.bound[3], utc_ns(2026, 10, 25, 1, 0)); /* 02:00 CET */
    buckets__free(&b);

    /* Shifts 06/14/22: the night shift over the spring change is 7 h, over
     * the autumn change 9 h, others 8 h. */
    b = buckets(z, HIST_BUCKET_SHIFT, utc_ns(2026, 3, 28, 0, 0), utc_ns(2026, 3, 30, 0, 0));
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 28, 5, 0)), 8 * HOUR);  /* 06:00 CET */
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 28, 21, 0)), 7 * HOUR); /* 22:00 CET */
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 29, 4, 0)), 8 * HOUR);  /* 06:00 CEST */
    buckets__free(&b);
    b = buckets(z, HIST_BUCKET_SHIFT, utc_ns(2026, 10, 24, 0, 0), utc_ns(2026, 10, 26, 0, 0));
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 10, 24, 20, 0)), 9 * HOUR); /* 22:00 CEST */
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 10, 25, 5, 0)), 8 * HOUR);  /* 06:00 CET */
    buckets__free(&b);

    /* A shift starting in the gap (02:30) starts at 03:00 CEST = 01:00Z. */
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.bucket = HIST_BUCKET_SHIFT;
    spec.from = utc_ns(2026, 3, 28, 12, 0);
    spec.to = utc_ns(2026, 3, 30, 0, 0);
    snprintf(spec.tz, sizeof(spec.tz), "%s", z);
    spec.nshifts = 2;
    spec.shift_start_min[0] = 150; /* 02:30 */
    spec.shift_start_min[1] = 14 * 60 + 30;
    b = (hist_buckets){0};
    REQUIRE(buckets__make(&spec, &b) == 0);
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 29, 1, 0)), 11 * HOUR + 30 * 60 * SEC);
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 28, 13, 30)), 11 * HOUR + 30 * 60 * SEC);
    buckets__free(&b);

    /* Weeks start Monday 00:00 local: 2026-03-23 is a Monday. */
    b = buckets(z, HIST_BUCKET_WEEK, utc_ns(2026, 3, 25, 0, 0), utc_ns(2026, 4, 10, 0, 0));
    CHECK_EQ_I64(b.bound[0], utc_ns(2026, 3, 22, 23, 0));
    CHECK_EQ_I64(b.bound[1], utc_ns(2026, 3, 29, 22, 0)); /* 7 days - 1 h */
    CHECK_EQ_I64(b.bound[2], utc_ns(2026, 4, 5, 22, 0));
    buckets__free(&b);
    /* Months: March 2026 is 31 days - 1 h, February 28 days. */
    b = buckets(z, HIST_BUCKET_MONTH, utc_ns(2026, 2, 10, 0, 0), utc_ns(2026, 4, 2, 0, 0));
    CHECK_EQ_I64(b.n, 3);
    CHECK_EQ_I64(b.bound[0], utc_ns(2026, 1, 31, 23, 0));
    CHECK_EQ_I64(b.bound[1] - b.bound[0], 28 * 24 * HOUR);
    CHECK_EQ_I64(b.bound[2] - b.bound[1], 31 * 24 * HOUR - HOUR);
    buckets__free(&b);
}

static void test_new_york(void)
{
    const char *z = "America/New_York";
    hist_buckets b =
        buckets(z, HIST_BUCKET_DAY, utc_ns(2026, 3, 7, 12, 0), utc_ns(2026, 3, 10, 0, 0));
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 7, 5, 0)), 24 * HOUR);
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 8, 5, 0)), 23 * HOUR);
    CHECK_EQ_I64(len_at(&b, utc_ns(2026, 3, 9, 4, 0)), 24 * HOUR);
    buckets__free(&b);
    b = buckets(z, HIST_BUCKET_DAY, utc_ns(2026, 11, 1, 12, 0), utc_ns(2026, 11, 2, 12, 0));
    CHECK_EQ_I64(b.bound[0], utc_ns(2026, 11, 1, 4, 0));
    CHECK_EQ_I64(b.bound[1] - b.bound[0], 25 * HOUR);
    buckets__free(&b);
    b = buckets(z, HIST_BUCKET_HOUR, utc_ns(2026, 3, 8, 5, 0), utc_ns(2026, 3, 9, 4, 0));
    CHECK_EQ_I64(b.n, 23);
    buckets__free(&b);
    b = buckets(z, HIST_BUCKET_HOUR, utc_ns(2026, 11, 1, 4, 0), utc_ns(2026, 11, 2, 5, 0));
    CHECK_EQ_I64(b.n, 25);
    buckets__free(&b);
    b = buckets(z, HIST_BUCKET_SHIFT, utc_ns(2026, 11, 1, 3, 0), utc_ns(2026, 11, 2, 0, 0));
    /* 22:00 EDT on 31 Oct = 02:00Z 1 Nov, to 06:00 EST = 11:00Z: 9 h. */
    CHECK_EQ_I64(b.bound[0], utc_ns(2026, 11, 1, 2, 0));
    CHECK_EQ_I64(b.bound[1] - b.bound[0], 9 * HOUR);
    buckets__free(&b);
    /* Far future: the footer rule (no transitions listed in the table). */
    b = buckets(z, HIST_BUCKET_DAY, utc_ns(2150, 3, 1, 12, 0), utc_ns(2150, 12, 1, 0, 0));
    int short_days = 0, long_days = 0;
    for (size_t i = 0; i < b.n; i++) {
        int64_t l = b.bound[i + 1] - b.bound[i];
        short_days += l == 23 * HOUR;
        long_days += l == 25 * HOUR;
    }
    CHECK(short_days == 1 && long_days == 1);
    buckets__free(&b);
}

static void test_load_errors(void)
{
    hist_tz *tz = NULL;
    CHECK(hist_tz_load("Nowhere/Atlantis", &tz) == HIST_EINVAL && tz == NULL);
    CHECK(hist_tz_load("../../etc/passwd", &tz) == HIST_EINVAL);
    CHECK(hist_tz_load("/etc/localtime", &tz) == HIST_EINVAL);
    CHECK(hist_tz_load("Europe", &tz) == HIST_EINVAL); /* a directory */
    CHECK(hist_tz_load("Europe/Berlin\n", &tz) == HIST_EINVAL);
    CHECK(hist_tz_load("", &tz) == 0 && hist_tz_offset(tz, 1234567) == 0);
    hist_tz_free(tz);
    /* TZDIR is honoured. */
    setenv("TZDIR", "/nonexistent-zoneinfo", 1);
    CHECK(hist_tz_load("Europe/Berlin", &tz) == HIST_EINVAL);
    setenv("TZDIR", "/usr/share/zoneinfo", 1);
    CHECK(hist_tz_load("Europe/Berlin", &tz) == 0);
    hist_tz_free(tz);
    unsetenv("TZDIR");

    /* Every truncation and some corruptions of a real file: no crash, and a
     * truncated file is refused. */
    FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
    REQUIRE(f != NULL);
    static uint8_t buf[1 << 16];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    REQUIRE(hist_tz_parse(buf, len, &tz) == 0);
    hist_tz_free(tz);
    long accepted = 0;
    for (size_t n = 0; n + 1 < len; n++) {
        if (hist_tz_parse(buf, n, &tz) == 0) {
            accepted++;
            hist_tz_free(tz);
        }
    }
    CHECK_EQ_I64(accepted, 0);
    for (size_t i = 0; i < len; i += 7) {
        uint8_t save = buf[i];
        buf[i] ^= 0x5a;
        if (hist_tz_parse(buf, len, &tz) == 0) {
            (void)hist_tz_offset(tz, 0);
            int64_t u[2];
            (void)hist_tz_local_to_utc(tz, 1700000000, u);
            hist_tz_free(tz);
        }
        buf[i] = save;
    }
    CHECK(1);
}

int main(void)
{
    test_offsets_vs_libc("Europe/Berlin");
    test_offsets_vs_libc("America/New_York");
    test_offsets_vs_libc("Australia/Sydney");
    test_offsets_vs_libc("Asia/Kolkata");
    test_berlin();
    test_new_york();
    test_load_errors();
    return check_summary();
}
