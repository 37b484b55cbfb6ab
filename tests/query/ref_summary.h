/*
 * ref_summary.h: brute-force reference answers for the summary aggregates
 * of query/agg.c (pct_good, time_min, time_max, changes, time_in_state:N,
 * p50..p99, percentile:N), written from their definitions in agg.c's
 * opening comment and independently of query/: plain loops over the whole
 * sorted array of samples for every bucket, no boundary-sample searches,
 * no incremental state. Shared by test_query_summary and the e2e test
 * (static inline: a test uses what it needs).
 */
#ifndef HIST_TESTS_QUERY_REF_SUMMARY_H
#define HIST_TESTS_QUERY_REF_SUMMARY_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "query/hist_query.h"

static inline bool refs_counted(hist_type type, const hist_sample *s, bool include_bad)
{
    if (!include_bad && (s->q >> 30) >= 2)
        return false;
    return !(type == HIST_TYPE_FLOAT64 && isnan(s->v.f));
}

static inline double refs_x(hist_type type, hist_value v)
{
    return type == HIST_TYPE_FLOAT64 ? v.f : (double)v.i;
}

/* Seconds of [t0, t1) inside [x, y). */
static inline double refs_overlap(int64_t t0, int64_t t1, int64_t x, int64_t y)
{
    int64_t a = t0 > x ? t0 : x, b = t1 < y ? t1 : y;
    return a < b ? (double)(b - a) / 1e9 : 0;
}

static inline int refs_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* numpy.percentile's default: rank h = (n - 1) p / 100 between the values
 * at floor(h) and ceil(h). */
static inline double refs_percentile(const double *sorted, size_t n, double p)
{
    double h = (double)(n - 1) * p / 100;
    size_t lo = (size_t)floor(h), hi = (size_t)ceil(h);
    if (hi >= n)
        hi = n - 1;
    if (sorted[lo] == sorted[hi])
        return sorted[lo];
    return sorted[lo] + (h - floor(h)) * (sorted[hi] - sorted[lo]);
}

static inline double refs_pct_of(hist_agg agg, double arg)
{
    switch (agg) {
    case HIST_AGG_P50:
        return 50;
    case HIST_AGG_P90:
        return 90;
    case HIST_AGG_P95:
        return 95;
    case HIST_AGG_P99:
        return 99;
    default:
        return arg;
    }
}

/* Bucket [S, E) cut to [from, to): the value of the summary aggregate agg
 * (argument arg) over all[0..n) (sorted, unique times). *tout gets the
 * time of time_min / time_max. false = null. A bucket with no counted
 * sample is null in every column but pct_good. */
static inline bool ref_summary(const hist_sample *all, size_t n, hist_type type, bool include_bad,
                               int64_t S, int64_t E, int64_t from, int64_t to, hist_agg agg,
                               double arg, double *out, int64_t *tout)
{
    int64_t x = S > from ? S : from, y = E < to ? E : to;
    if (agg == HIST_AGG_PCT_GOOD) {
        double good = 0, covered = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t t1 = i + 1 < n ? all[i + 1].ts : INT64_MAX;
            double secs = refs_overlap(all[i].ts, t1, x, y);
            covered += secs;
            if ((all[i].q >> 30) == 0)
                good += secs;
        }
        *out = 100 * good / covered;
        return covered > 0;
    }
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++)
        cnt += all[i].ts >= x && all[i].ts < y && refs_counted(type, &all[i], include_bad);
    if (cnt == 0)
        return false;
    double *vals = malloc(cnt * sizeof(*vals));
    size_t nv = 0;
    double mn = INFINITY, mx = -INFINITY, state_s = 0;
    int64_t tmn = 0, tmx = 0;
    uint64_t changes = 0;
    long prev = -1; /* the counted sample before, over the whole history */
    for (size_t i = 0; i < n; i++) {
        if (!refs_counted(type, &all[i], include_bad))
            continue;
        bool in = all[i].ts >= x && all[i].ts < y;
        double v = refs_x(type, all[i].v);
        if (in) {
            vals[nv++] = v;
            if (v < mn)
                mn = v, tmn = all[i].ts;
            if (v > mx)
                mx = v, tmx = all[i].ts;
            if (prev >= 0) {
                bool same = type == HIST_TYPE_FLOAT64 ? all[prev].v.f == all[i].v.f
                                                      : all[prev].v.i == all[i].v.i;
                changes += !same;
            }
        }
        /* the step value v holds from this sample to the next counted one */
        size_t nx = i + 1;
        while (nx < n && !refs_counted(type, &all[nx], include_bad))
            nx++;
        if (v == arg)
            state_s += refs_overlap(all[i].ts, nx < n ? all[nx].ts : INT64_MAX, x, y);
        prev = (long)i;
    }
    bool has = true;
    switch (agg) {
    case HIST_AGG_TIME_MIN:
        *tout = tmn;
        *out = (double)tmn;
        break;
    case HIST_AGG_TIME_MAX:
        *tout = tmx;
        *out = (double)tmx;
        break;
    case HIST_AGG_CHANGES:
        *out = (double)changes;
        break;
    case HIST_AGG_TIME_IN_STATE:
        *out = state_s;
        break;
    case HIST_AGG_P50:
    case HIST_AGG_P90:
    case HIST_AGG_P95:
    case HIST_AGG_P99:
    case HIST_AGG_PERCENTILE:
        qsort(vals, nv, sizeof(*vals), refs_cmp);
        *out = refs_percentile(vals, nv, refs_pct_of(agg, arg));
        break;
    default:
        has = false;
    }
    free(vals);
    return has;
}

/* Relative/absolute closeness for doubles; NaN equals NaN (ref.h's
 * ref_close, for tests that do not include ref.h). */
static inline bool refs_close(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    double d = fabs(a - b), m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return d <= 1e-9 * m + 1e-9;
}

/* Is agg one of ref_summary's? */
static inline bool ref_is_summary(hist_agg agg)
{
    return agg >= HIST_AGG_PCT_GOOD && agg <= HIST_AGG_PERCENTILE;
}

#endif
