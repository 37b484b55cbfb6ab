/*
 * ref.h: brute-force reference answers for the query tests, written
 * independently of query/: plain loops over a sorted array of samples,
 * recomputing everything per bucket / per time. Slow on purpose, easy to
 * read against the definitions in query/agg.c, interp.c and plot.c.
 */
#ifndef HIST_TESTS_QUERY_REF_H
#define HIST_TESTS_QUERY_REF_H

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "query/hist_query.h"

static double ref_x(hist_type type, hist_value v)
{
    return type == HIST_TYPE_FLOAT64 ? v.f : (double)v.i;
}

static bool ref_counted(hist_type type, const hist_sample *s, bool include_bad)
{
    if (!include_bad && (s->q >> 30) >= 2)
        return false;
    return !(type == HIST_TYPE_FLOAT64 && isnan(s->v.f));
}

/* f(t) integrated over [x, y), using the counted samples c[0..nc) (sorted):
 * step or linear between samples, held after the last, undefined before the
 * first. *covered gets the seconds where f is defined; *true_s the seconds
 * where the step value is non-zero. */
static double ref_integral(const hist_sample *c, size_t nc, hist_type type, bool linear, int64_t x,
                           int64_t y, double *covered, double *true_s)
{
    double area = 0;
    *covered = 0;
    *true_s = 0;
    for (size_t j = 0; j < nc; j++) {
        int64_t t0 = c[j].ts;
        int64_t t1 = j + 1 < nc ? c[j + 1].ts : INT64_MAX;
        int64_t a = t0 > x ? t0 : x, b = t1 < y ? t1 : y;
        if (a >= b)
            continue;
        double v0 = ref_x(type, c[j].v), fa = v0, fb = v0;
        if (linear && j + 1 < nc) {
            double v1 = ref_x(type, c[j + 1].v);
            fa = v0 + (v1 - v0) * (double)(a - t0) / (double)(t1 - t0);
            fb = v0 + (v1 - v0) * (double)(b - t0) / (double)(t1 - t0);
        }
        double secs = (double)(b - a) / 1e9;
        area += secs * (fa + fb) / 2;
        *covered += secs;
        if (v0 != 0)
            *true_s += secs;
    }
    return area;
}

/* The value of aggregate `agg` over bucket [S, E) cut to [from, to).
 * Returns false when the bucket has no counted sample. */
static bool ref_agg(const hist_sample *all, size_t n, hist_type type, bool include_bad, int64_t S,
                    int64_t E, int64_t from, int64_t to, hist_agg agg, double *out)
{
    int64_t x = S > from ? S : from, y = E < to ? E : to;
    /* The counted samples that matter: the last one before x, those in
     * [x, y), and the first one at/after y (found by binary search so the
     * check stays fast on large data; the result is the same as over all). */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (all[mid].ts < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t b = lo, e = lo;
    while (e < n && all[e].ts < y)
        e++;
    hist_sample *c = malloc((e - b + 2) * sizeof(*c));
    size_t nc = 0;
    for (size_t i = b; i-- > 0;)
        if (ref_counted(type, &all[i], include_bad)) {
            c[nc++] = all[i];
            break;
        }
    for (size_t i = b; i < e; i++)
        if (ref_counted(type, &all[i], include_bad))
            c[nc++] = all[i];
    for (size_t i = e; i < n; i++)
        if (ref_counted(type, &all[i], include_bad)) {
            c[nc++] = all[i];
            break;
        }
    size_t cnt = 0;
    double sum = 0, mn = INFINITY, mx = -INFINITY, first = NAN, last = NAN, delta = 0;
    for (size_t j = 0; j < nc; j++) {
        if (c[j].ts < x || c[j].ts >= y)
            continue;
        double v = ref_x(type, c[j].v);
        if (cnt == 0)
            first = v;
        last = v;
        cnt++;
        sum += v;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        if (j > 0) {
            double p = ref_x(type, c[j - 1].v);
            delta += v >= p ? v - p : v;
        }
    }
    if (cnt == 0) {
        free(c);
        return false;
    }
    double mean = sum / (double)cnt, ss = 0;
    for (size_t j = 0; j < nc; j++)
        if (c[j].ts >= x && c[j].ts < y) {
            double d = ref_x(type, c[j].v) - mean;
            ss += d * d;
        }
    double covered, true_s;
    double area = ref_integral(c, nc, type, type == HIST_TYPE_FLOAT64, x, y, &covered, &true_s);
    free(c);
    switch (agg) {
    case HIST_AGG_COUNT:
        *out = (double)cnt;
        break;
    case HIST_AGG_MIN:
        *out = mn;
        break;
    case HIST_AGG_MAX:
        *out = mx;
        break;
    case HIST_AGG_SUM:
        *out = sum;
        break;
    case HIST_AGG_MEAN:
        *out = mean;
        break;
    case HIST_AGG_TWA:
        *out = area / covered;
        break;
    case HIST_AGG_STDDEV:
        *out = sqrt(ss / (double)cnt);
        break;
    case HIST_AGG_FIRST:
        *out = first;
        break;
    case HIST_AGG_LAST:
        *out = last;
        break;
    case HIST_AGG_RANGE:
        *out = mx - mn;
        break;
    case HIST_AGG_INTEGRAL:
        *out = area;
        break;
    case HIST_AGG_DELTA:
        *out = delta;
        break;
    case HIST_AGG_DURATION_TRUE:
        *out = true_s;
        break;
    default:
        *out = NAN;
    }
    return true;
}

/* Interpolated value at t (definitions of query/interp.c). */
static void ref_interp(const hist_sample *all, size_t n, hist_type type, int64_t t, hist_value *v,
                       uint32_t *q)
{
    long a = -1, b = -1;
    for (size_t i = 0; i < n; i++) {
        if (all[i].ts <= t)
            a = (long)i;
        else if (b < 0)
            b = (long)i;
    }
    if (a >= 0 && all[a].ts == t) {
        *v = all[a].v;
        *q = all[a].q;
    } else if (a < 0) {
        if (type == HIST_TYPE_FLOAT64)
            v->f = NAN;
        else
            v->i = 0;
        *q = HIST_QUALITY_BAD;
    } else if (b < 0) {
        *v = all[a].v;
        *q = HIST_QUALITY_BAD;
    } else if (type == HIST_TYPE_FLOAT64) {
        double r = (double)(t - all[a].ts) / (double)(all[b].ts - all[a].ts);
        v->f = all[a].v.f + (all[b].v.f - all[a].v.f) * r;
        *q = ((all[a].q >> 30) == 0 && (all[b].q >> 30) == 0) ? 0 : HIST_QUALITY_UNCERTAIN;
    } else {
        *v = all[a].v;
        *q = (all[a].q >> 30) == 0 ? 0 : HIST_QUALITY_UNCERTAIN;
    }
}

/* Relative/absolute closeness for doubles; NaN equals NaN. */
static bool ref_close(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    double d = fabs(a - b), m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return d <= 1e-9 * m + 1e-9;
}

/* ---- Checks shared by the query tests (need check.h) ---- */

/* Every non-empty bucket of an agg result against ref_agg. */
static void check_agg_result(const hist_sample *rs, size_t rn, hist_type rtype,
                             const hist_query_spec *spec, const hist_result *res, const char *what)
{
    REQUIRE(res->nseries == 1);
    const hist_series_result *s = &res->series[0];
    long bad = 0;
    size_t nonempty = 0;
    for (size_t r = 0; r < s->n; r++) {
        double want;
        for (int k = 0; k < spec->naggs; k++) {
            bool has = ref_agg(rs, rn, rtype, spec->include_bad, s->ts[r], s->ts_end[r], spec->from,
                               spec->to, spec->aggs[k], &want);
            if (k == 0 && has)
                nonempty++;
            if (!has)
                want = NAN;
            if (spec->fill != HIST_FILL_NONE && !has)
                continue; /* fills checked separately */
            if (!ref_close(s->col[k][r], want) && bad++ < 5)
                fprintf(stderr, "%s: row %zu [%lld,%lld) %s got %.17g want %.17g\n", what, r,
                        (long long)s->ts[r], (long long)s->ts_end[r], hist_agg_name(spec->aggs[k]),
                        s->col[k][r], want);
        }
    }
    CHECKF(bad == 0, "%s: %ld mismatches", what, bad);
    CHECKF(nonempty > 0, "%s: no non-empty bucket", what);
    for (size_t r = 1; r < s->n; r++)
        CHECK(s->ts[r] >= s->ts_end[r - 1]);
}

/* Index of the sample at ts in the sorted raw array, or rn. */
static size_t ref_find_ts(const hist_sample *rs, size_t rn, int64_t ts)
{
    size_t lo = 0, hi = rn;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rs[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < rn && rs[lo].ts == ts ? lo : rn;
}

/* M4 property per pixel column, against the raw array; and every point,
 * also those answered from chunk stats, is a recorded sample (time, value
 * bits, quality). */
static void check_m4(const hist_sample *rs, size_t rn, hist_type rtype, const hist_query_spec *spec,
                     const hist_result *res)
{
    const hist_series_result *r = &res->series[0];
    uint64_t span = (uint64_t)(spec->to - spec->from);
    long not_recorded = 0;
    for (size_t j = 0; j < r->n; j++) {
        size_t at = ref_find_ts(rs, rn, r->ts[j]);
        if (at == rn || rs[at].v.bits != r->value[j].bits || rs[at].q != r->q[j])
            not_recorded++;
    }
    CHECKF(not_recorded == 0, "m4: %ld points are not recorded samples", not_recorded);
    long bad = 0;
    size_t ri = 0, si = 0;
    for (uint32_t k = 0; k < spec->points; k++) {
        int64_t c0 = spec->from + (int64_t)((__uint128_t)span * k / spec->points);
        int64_t c1 = spec->from + (int64_t)((__uint128_t)span * (k + 1) / spec->points);
        long first = -1, last = -1;
        double mn = INFINITY, mx = -INFINITY;
        while (si < rn && rs[si].ts < c0)
            si++;
        for (size_t i = si; i < rn && rs[i].ts < c1; i++) {
            if (first < 0)
                first = (long)i;
            last = (long)i;
            double x = ref_x(rtype, rs[i].v);
            if (!isnan(x)) {
                mn = x < mn ? x : mn;
                mx = x > mx ? x : mx;
            }
        }
        size_t r0 = ri;
        while (ri < r->n && r->ts[ri] < c1)
            ri++;
        if (first < 0) {
            bad += ri != r0;
            continue;
        }
        bool has_first = r->ts[r0] == rs[first].ts && r->value[r0].bits == rs[first].v.bits;
        bool has_last = r->ts[ri - 1] == rs[last].ts && r->value[ri - 1].bits == rs[last].v.bits;
        bool has_min = false, has_max = false;
        double cmin = INFINITY, cmax = -INFINITY;
        for (size_t j = r0; j < ri; j++) {
            double x = ref_x(rtype, r->value[j]);
            has_min |= x == mn;
            has_max |= x == mx;
            if (!isnan(x)) {
                cmin = x < cmin ? x : cmin;
                cmax = x > cmax ? x : cmax;
            }
            if (j > r0 && r->ts[j] <= r->ts[j - 1])
                bad++;
        }
        if (!(has_first && has_last &&
              (isinf(mn) || (has_min && has_max && cmin == mn && cmax == mx)) && ri - r0 <= 4)) {
            if (bad++ < 3)
                fprintf(stderr,
                        "m4 column %u [%lld,%lld) raw %ld..%ld: first %d last %d min %d max %d "
                        "rows %zu\n",
                        k, (long long)c0, (long long)c1, first, last, has_first, has_last, has_min,
                        has_max, ri - r0);
            if (getenv("H4DBG"))
                for (size_t j = r0 > 2 ? r0 - 2 : 0; j < ri + 2 && j < r->n; j++)
                    fprintf(stderr, "  row %zu ts %lld v %g | raw first %lld last %lld\n", j,
                            (long long)r->ts[j], r->value[j].f, (long long)rs[first].ts,
                            (long long)rs[last].ts);
        }
    }
    CHECK_EQ_I64(ri, r->n);
    CHECKF(bad == 0, "m4: %ld bad columns", bad);
}

#endif
