/*
 * buckets.c: bucket boundaries for the aggregate mode.
 *
 * Buckets are contiguous: bucket k is [bound[k], bound[k+1]). The first
 * bucket is the one holding `from`, the last the one holding `to - 1`;
 * samples are read only inside [from, to), so those two may be cut short
 * (their reported ts / ts_end stay the nominal bounds, as InfluxDB does).
 *
 *   fixed   step_ns aligned to the epoch: bounds are the multiples of step
 *           (floor(from / step) * step, ...), so the same step always gives
 *           the same buckets whatever `from` is.
 *   hour    every local wall-clock hour h:00 in spec->tz. When clocks go
 *           back the repeated hour is its own bucket (a 25-bucket day);
 *           when they jump forward the missing hour has no bucket (23).
 *   day     local midnight to local midnight (23, 24 or 25 hours).
 *   week    ISO weeks: Monday 00:00 local.
 *   month   the 1st 00:00 local.
 *   shift   each day at every shift_start_min[] (minutes after local
 *           midnight); the last shift of a day runs to the first of the next.
 * A local start time that falls in a DST gap moves to the first valid
 * instant after the gap (the transition: 02:30 on a spring-forward night in
 * Berlin starts at 03:00 CEST); one that occurs twice (clocks going back)
 * starts at its first occurrence. Bounds that coincide are merged.
 */
#include <stdlib.h>

#include "common/hist_array.h"
#include "query/engine.h"
#include "common/hist_tz.h"

#define NS_PER_S INT64_C(1000000000)

typedef struct {
    int64_t *v;
    size_t n, cap;
} bound_list;

static int bl_push(bound_list *bl, int64_t t)
{
    if (bl->n > 0 && bl->v[bl->n - 1] >= t)
        return 0; /* merged with the previous bound (gap or repeat) */
    if (HIST_ARRAY_RESERVE(bl->v, bl->cap, bl->n + 1, 64) < 0)
        return HIST_ENOMEM;
    bl->v[bl->n++] = t;
    return 0;
}

static int make_fixed(const hist_query_spec *spec, bound_list *bl)
{
    int64_t step = spec->step_ns;
    int64_t t;
    if (__builtin_mul_overflow(hist_tz_floor_div(spec->from, step), step, &t))
        return HIST_ERANGE; /* the aligned start lies before INT64_MIN */
    for (;;) {
        if (bl->n > HIST_QUERY_MAX_ROWS)
            return HIST_ETOOBIG;
        int rc = bl_push(bl, t);
        if (rc < 0)
            return rc;
        if (t >= spec->to)
            return 0;
        if (__builtin_add_overflow(t, step, &t))
            t = INT64_MAX;
    }
}

/* The n-th calendar unit's start as local wall seconds, counting from the
 * unit holding local day `day0` (n may be negative). */
static int64_t unit_start(const hist_query_spec *spec, int64_t day0, int64_t lsec0, int64_t n)
{
    switch (spec->bucket) {
    case HIST_BUCKET_HOUR:
        return hist_tz_floor_div(lsec0, 3600) * 3600 + n * 3600;
    case HIST_BUCKET_DAY:
        return (day0 + n) * 86400;
    case HIST_BUCKET_WEEK: {
        int64_t monday = day0 - (((day0 + 3) % 7) + 7) % 7; /* 1970-01-01 was a Thursday */
        return (monday + 7 * n) * 86400;
    }
    case HIST_BUCKET_MONTH: {
        int64_t y;
        int m, d;
        hist_civil_from_days(day0, &y, &m, &d);
        int64_t mi = y * 12 + (m - 1) + n;
        int64_t yy = hist_tz_floor_div(mi, 12);
        return hist_days_from_civil(yy, (int)(mi - yy * 12) + 1, 1) * 86400;
    }
    case HIST_BUCKET_SHIFT: {
        int64_t k = hist_tz_floor_div(n, spec->nshifts);
        int64_t i = n - k * spec->nshifts;
        return (day0 + k) * 86400 + (int64_t)spec->shift_start_min[i] * 60;
    }
    default:
        return 0;
    }
}

static int make_calendar(const hist_query_spec *spec, bound_list *bl)
{
    hist_tz *tz = NULL;
    int rc = hist_tz_load(spec->tz, &tz);
    if (rc < 0)
        return rc;
    int64_t from_s = hist_tz_floor_div(spec->from, NS_PER_S);
    int64_t lsec0 = from_s + hist_tz_offset(tz, from_s);
    int64_t day0 = hist_tz_floor_div(lsec0, 86400);
    /* Start a couple of units early so a bound <= from surely exists. */
    int64_t n = spec->bucket == HIST_BUCKET_SHIFT ? -2 * spec->nshifts : -2;
    for (;; n++) {
        int64_t local = unit_start(spec, day0, lsec0, n);
        int64_t u[2];
        int cnt = hist_tz_local_to_utc(tz, local, u);
        /* Hours: both instants of a repeated hour; other units: the first.
         * A wall time in a gap gives the gap's end, except for hours, whose
         * missing hour simply has no bucket. */
        int use = cnt == 0 ? (spec->bucket == HIST_BUCKET_HOUR ? 0 : 1)
                           : (spec->bucket == HIST_BUCKET_HOUR ? cnt : 1);
        bool done = false;
        for (int j = 0; j < use && rc >= 0; j++) {
            int64_t ns;
            if (__builtin_mul_overflow(u[j], NS_PER_S, &ns)) {
                rc = HIST_ERANGE;
                break;
            }
            if (ns <= spec->from && bl->n > 0)
                bl->n = 0; /* keep only the last bound at or before from */
            rc = bl_push(bl, ns);
            done = ns >= spec->to;
        }
        if (rc < 0 || done)
            break;
        if (bl->n > HIST_QUERY_MAX_ROWS) {
            rc = HIST_ETOOBIG;
            break;
        }
    }
    hist_tz_free(tz);
    return rc;
}

int buckets__make(const hist_query_spec *spec, hist_buckets *out)
{
    bound_list bl = {0};
    int rc = spec->bucket == HIST_BUCKET_FIXED ? make_fixed(spec, &bl) : make_calendar(spec, &bl);
    if (rc >= 0 && (bl.n < 2 || bl.v[0] > spec->from))
        rc = HIST_EINVAL;
    if (rc < 0) {
        free(bl.v);
        out->n = 0;
        out->bound = NULL;
        return rc;
    }
    out->n = bl.n - 1;
    out->bound = bl.v;
    return 0;
}

void buckets__free(hist_buckets *b)
{
    free(b->bound);
    b->bound = NULL;
    b->n = 0;
}

long buckets__find(const hist_buckets *b, int64_t t)
{
    if (b->n == 0 || t < b->bound[0] || t >= b->bound[b->n])
        return -1;
    size_t lo = 0, hi = b->n; /* bound[lo] <= t < bound[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->bound[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return (long)lo;
}
