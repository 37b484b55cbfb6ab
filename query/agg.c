/*
 * agg.c: the aggregate mode: per bucket (buckets.c) the requested
 * aggregates, one double column each.
 *
 * Which samples count: those in [from, to) whose quality is not Bad
 * (unless spec->include_bad) and whose value is not NaN (a float64 NaN is
 * "no number", never an aggregate input). A bucket with no such sample is
 * empty; empty buckets follow spec->fill (see apply_fill).
 *
 * Definitions over the counted samples s_1..s_n of a bucket [S, E):
 *   count, min, max, sum, first, last (by time), range = max - min
 *   mean    sum / n;  stddev: population, sqrt(sum (x - mean)^2 / n)
 * The time-weighted ones use f(t), a function of time built from every
 * counted sample of the whole query plus the boundary sample before from
 * (the last counted one before it) and, for float64, the first counted
 * sample at/after to:
 *   - int64/bool: step: f(t) = value of the last sample at or before t;
 *   - float64: linear between consecutive samples;
 *   - after the last known sample the value holds (data that is only
 *     recorded on change stays valid); before the first known sample f is
 *     undefined, so weighting starts at the first sample.
 *   twa      integral of f over [S, E) where f is defined / that duration
 *   integral integral of f over [S, E) in value * seconds
 *   duration_true  seconds in [S, E) where the step f (whatever the type)
 *            is non-zero
 *   delta    sum over consecutive samples (p, s) with s in the bucket (p may
 *            be in an earlier bucket or be the boundary sample) of
 *            s - p when s >= p, else s (a decrease is a counter reset)
 *   time_in_state:N  seconds in [S, E) where the step f equals the state
 *            N (int64/bool tags; a float64 tag is HIST_ETYPE: the API's
 *            400); repeatable with different states, one column each
 *   changes  the counted samples s in the bucket whose value differs from
 *            the counted sample p before it (p may be in an earlier bucket
 *            or be the boundary sample before from; a first sample with no
 *            p is no change). Numbers compare as numbers (-0 equals 0).
 *   time_min, time_max  the time of the first sample holding the bucket's
 *            min / max: time columns (hist_series_result.tcol, exact ns)
 *   p50, p90, p95, p99, percentile:N  the percentile of the bucket's
 *            counted values by linear interpolation between the closest
 *            ranks (numpy's default; summary.c). They hold one bucket's
 *            values at a time, at most spec->max_values (HIST_ENOSPC past
 *            it).
 *   pct_good percent (0..100) of the time of [S, E) during which the
 *            quality was Good, over the step function of quality built
 *            from EVERY sample (any quality, NaN too, whatever
 *            include_bad): from the last sample before from (any quality)
 *            or else the first sample, held after the last one up to to;
 *            time before the first known sample does not count. null when
 *            no time of the bucket is covered. Uncertain is not Good. A
 *            bucket where pct_good has covered time is not empty even when
 *            no sample counts (all Bad): it holds pct_good and null in the
 *            other columns, and fill leaves it as it is.
 * [S, E) is cut to [from, to) for the first and last bucket.
 *
 * Stats fast path: a chunk the scan offers by its statistics that lies
 * inside one bucket is merged without decoding when it has no NaN and no
 * Bad sample (or include_bad is set). count/min/max/sum/first/last merge
 * directly; mean and variance with Chan's parallel formula (per-chunk
 * M2 = sumsq - sum^2 / n); twa, integral and duration_true add the chunk's
 * own time integrals (tw_integral, true_seconds) plus the segment from the
 * previous sample to the chunk's first, exactly as feeding the samples
 * would; delta adds the chunk's increase plus the step from the previous
 * sample. Only the float rounding of the sums' order differs. pct_good,
 * time_in_state, changes, time_min/time_max and the percentiles cannot be
 * had from chunk statistics: a query asking for any of them decodes every
 * chunk (need_decode), the other columns then come from the samples.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/engine.h"

#define NS_PER_S 1e9

typedef struct {
    uint64_t n;
    double sum, mean, m2, min, max;
    double first, last;
    double tw_area, tw_time, true_s, delta;
    int64_t min_ts, max_ts;
    double good_s, quality_s; /* pct_good: Good seconds / seconds covered */
    uint64_t changes;
} bucket_acc;

typedef struct {
    hist_qctx *q;
    hist_buckets b;
    bucket_acc *acc;
    bool need_tw, need_delta, need_var, linear;
    int64_t lo, hi; /* [from, to) */
    bool have_prev;
    int64_t prev_ts;
    double prev_v;
    long cur; /* bucket of the last sample */
    long seg; /* bucket where the last time-weighted segment started */
    hist_value prev_raw; /* changes: the previous counted value, exactly */
    /* the aggregates no chunk statistics give (need_decode) */
    bool need_decode, need_quality, need_changes;
    int state_k[HIST_MAX_AGGS], nstates; /* time_in_state columns */
    int pct_k[HIST_MAX_AGGS], npct;      /* percentile columns */
    double pct_p[HIST_MAX_AGGS];
    summary_values vals; /* the counted values of bucket vals_bucket */
    long vals_bucket;
    /* pct_good: the quality step function over every sample */
    bool have_qprev, qprev_good;
    int64_t qprev_ts;
    long qseg;
} agg_state;

static void acc_merge(bucket_acc *a, uint64_t n, double sum, double m2, double min, double max,
                      double first, double last)
{
    if (n == 0)
        return;
    double mean = sum / (double)n;
    if (a->n == 0) {
        a->n = n;
        a->sum = sum;
        a->mean = mean;
        a->m2 = m2;
        a->min = min;
        a->max = max;
        a->first = first;
        a->last = last;
        return;
    }
    uint64_t tot = a->n + n;
    double d = mean - a->mean;
    a->m2 += m2 + d * d * (double)a->n * (double)n / (double)tot;
    a->mean += d * (double)n / (double)tot;
    a->n = tot;
    a->sum += sum;
    if (min < a->min)
        a->min = min;
    if (max > a->max)
        a->max = max;
    a->last = last;
}

/* Spreads the segment [t0, t1) of f (value v0 at t0, and v1 at t1 when
 * linear) over the buckets it crosses, cut to [from, to). */
static void add_segment(agg_state *st, int64_t t0, double v0, int64_t t1, double v1, bool linear)
{
    int64_t a = t0 < st->lo ? st->lo : t0;
    int64_t z = t1 > st->hi ? st->hi : t1;
    if (a >= z)
        return;
    /* Most segments lie in the bucket of the previous one: try it first. */
    long k = st->seg;
    if (k < 0 || a < st->b.bound[k] || a >= st->b.bound[k + 1])
        k = buckets__find(&st->b, a);
    st->seg = k;
    double span = (double)(t1 - t0);
    for (; k >= 0 && (size_t)k < st->b.n && st->b.bound[k] < z; k++) {
        int64_t x = st->b.bound[k] > a ? st->b.bound[k] : a;
        int64_t y = st->b.bound[k + 1] < z ? st->b.bound[k + 1] : z;
        if (x >= y)
            continue;
        double secs = (double)(y - x) / NS_PER_S;
        double fx = v0, fy = v0;
        if (linear && span > 0) {
            /* The whole segment in one bucket (the usual case): no division. */
            fx = x == t0 ? v0 : v0 + (v1 - v0) * ((double)(x - t0) / span);
            fy = y == t1 ? v1 : v0 + (v1 - v0) * ((double)(y - t0) / span);
        }
        bucket_acc *acc = &st->acc[k];
        acc->tw_area += (fx + fy) / 2 * secs;
        acc->tw_time += secs;
        if (v0 != 0)
            acc->true_s += secs;
        for (int j = 0; j < st->nstates; j++)
            if (v0 == st->q->spec->agg_arg[st->state_k[j]])
                st->q->out->col[st->state_k[j]][k] += secs;
    }
}

/* pct_good: the quality segment [t0, t1) (Good or not), cut to
 * [from, to), spread over the buckets it crosses. */
static void add_quality(agg_state *st, int64_t t0, int64_t t1, bool good)
{
    int64_t a = t0 < st->lo ? st->lo : t0;
    int64_t z = t1 > st->hi ? st->hi : t1;
    if (a >= z)
        return;
    long k = st->qseg;
    if (k < 0 || a < st->b.bound[k] || a >= st->b.bound[k + 1])
        k = buckets__find(&st->b, a);
    st->qseg = k;
    for (; k >= 0 && (size_t)k < st->b.n && st->b.bound[k] < z; k++) {
        int64_t x = st->b.bound[k] > a ? st->b.bound[k] : a;
        int64_t y = st->b.bound[k + 1] < z ? st->b.bound[k + 1] : z;
        if (x >= y)
            continue;
        double secs = (double)(y - x) / NS_PER_S;
        st->acc[k].quality_s += secs;
        if (good)
            st->acc[k].good_s += secs;
    }
}

static void feed_quality(agg_state *st, int64_t ts, uint32_t q)
{
    if (st->have_qprev)
        add_quality(st, st->qprev_ts, ts, st->qprev_good);
    st->have_qprev = true;
    st->qprev_ts = ts;
    st->qprev_good = hist_quality_is_good(q);
}

/* The percentiles of the values held for bucket vals_bucket, into their
 * columns; the values are let go. */
static void flush_values(agg_state *st)
{
    if (st->vals.n == 0)
        return;
    summary__sort(&st->vals);
    for (int j = 0; j < st->npct; j++)
        st->q->out->col[st->pct_k[j]][st->vals_bucket] =
            summary__percentile(&st->vals, st->pct_p[j]);
    st->vals.n = 0;
}

static bool same_value(hist_type type, hist_value a, hist_value b)
{
    return type == HIST_TYPE_FLOAT64 ? a.f == b.f : a.i == b.i;
}

static int feed(agg_state *st, int64_t ts, hist_value v, uint32_t q)
{
    if (st->need_quality)
        feed_quality(st, ts, q);
    if (!hist_sample_counted(st->q->type, v, q, st->q->spec->include_bad))
        return 0;
    double x = hist_value_as_double(st->q->type, v);
    if (st->cur < 0 || ts >= st->b.bound[st->cur + 1] || ts < st->b.bound[st->cur])
        st->cur = buckets__find(&st->b, ts);
    if (st->cur >= 0) {
        bucket_acc *a = &st->acc[st->cur];
        if (st->npct > 0) { /* samples come in time order: a new bucket ends the last */
            if (st->cur != st->vals_bucket)
                flush_values(st);
            st->vals_bucket = st->cur;
            int rc = summary__push(&st->vals, x);
            if (rc < 0)
                return rc;
        }
        if (st->need_changes && st->have_prev && !same_value(st->q->type, v, st->prev_raw))
            a->changes++;
        if (a->n == 0) {
            a->first = a->min = a->max = a->mean = x;
            a->min_ts = a->max_ts = ts;
            a->m2 = 0;
        } else {
            if (x < a->min) {
                a->min = x;
                a->min_ts = ts;
            }
            if (x > a->max) {
                a->max = x;
                a->max_ts = ts;
            }
            if (st->need_var) { /* Welford; its division is skipped when unused */
                double d = x - a->mean;
                a->mean += d / (double)(a->n + 1);
                a->m2 += d * (x - a->mean);
            }
        }
        a->n++;
        a->sum += x;
        a->last = x;
        if (st->need_delta && st->have_prev)
            a->delta += x >= st->prev_v ? x - st->prev_v : x;
    }
    if (st->need_tw && st->have_prev)
        add_segment(st, st->prev_ts, st->prev_v, ts, x, st->linear);
    st->have_prev = true;
    st->prev_ts = ts;
    st->prev_v = x;
    st->prev_raw = v;
    return 0;
}

/* The bucket holding t: chunks come in time order, so it is nearly always
 * the bucket of the previous one or the next; else a binary search. */
static long bucket_of(agg_state *st, int64_t t)
{
    long k = st->cur;
    if (k >= 0 && (size_t)k < st->b.n) {
        if (t >= st->b.bound[k] && t < st->b.bound[k + 1])
            return k;
        if ((size_t)k + 1 < st->b.n && t >= st->b.bound[k + 1] && t < st->b.bound[k + 2])
            return k + 1;
    }
    return buckets__find(&st->b, t);
}

/* The stats of a piece over exactly the samples feed() counts, or NULL. */
static const hist_chunk_stats *counted_stats(const agg_state *st, const hist_piece *p)
{
    if (!st->q->spec->include_bad)
        return p->counted;
    return p->stats->nan_count == 0 ? p->stats : NULL;
}

/* Merges a stats piece if allowed; returns false when it must be decoded. */
static bool try_stats(agg_state *st, const hist_piece *p)
{
    const hist_chunk_stats *cs = counted_stats(st, p);
    if (!cs)
        return false;
    if (cs->count == 0)
        return true; /* nothing in it counts: feeding it would change nothing */
    long k = bucket_of(st, cs->start_ts);
    if (k < 0 || cs->end_ts >= st->b.bound[k + 1])
        return false;
    hist_type type = st->q->type;
    double first = hist_value_as_double(type, cs->first_v);
    double last = hist_value_as_double(type, cs->last_v);
    bucket_acc *a = &st->acc[k];
    /* What feed() would add for the chunk's first sample... */
    if (st->need_tw && st->have_prev)
        add_segment(st, st->prev_ts, st->prev_v, cs->start_ts, first, st->linear);
    if (st->need_delta && st->have_prev)
        a->delta += first >= st->prev_v ? first - st->prev_v : first;
    /* ...and for the rest of it, from the stats. */
    double n = (double)cs->count;
    double m2 = cs->sumsq - cs->sum * cs->sum / n;
    if (m2 < 0)
        m2 = 0;
    acc_merge(a, cs->count, cs->sum, m2, cs->min, cs->max, first, last);
    if (st->need_tw) {
        a->tw_area += cs->tw_integral;
        a->tw_time += (double)(cs->end_ts - cs->start_ts) / NS_PER_S;
        a->true_s += cs->true_seconds;
    }
    if (st->need_delta)
        a->delta += cs->increase;
    st->have_prev = true;
    st->prev_ts = cs->end_ts;
    st->prev_v = last;
    st->cur = k;
    return true;
}

static double agg_value(const agg_state *st, const bucket_acc *a, hist_agg agg)
{
    switch (agg) {
    case HIST_AGG_COUNT:
        return (double)a->n;
    case HIST_AGG_MIN:
        return a->min;
    case HIST_AGG_MAX:
        return a->max;
    case HIST_AGG_SUM:
        return a->sum;
    case HIST_AGG_MEAN:
        return a->sum / (double)a->n;
    case HIST_AGG_TWA:
        return a->tw_time > 0 ? a->tw_area / a->tw_time : a->last;
    case HIST_AGG_STDDEV:
        return sqrt(a->m2 / (double)a->n);
    case HIST_AGG_FIRST:
        return a->first;
    case HIST_AGG_LAST:
        return a->last;
    case HIST_AGG_RANGE:
        return a->max - a->min;
    case HIST_AGG_INTEGRAL:
        return a->tw_area;
    case HIST_AGG_DELTA:
        return a->delta;
    case HIST_AGG_DURATION_TRUE:
        return a->true_s;
    case HIST_AGG_CHANGES:
        return (double)a->changes;
    case HIST_AGG_TIME_MIN:
        return (double)a->min_ts;
    case HIST_AGG_TIME_MAX:
        return (double)a->max_ts;
    default:
        return NAN;
    }
}

/* Empty rows (NaN in every column after compute) are filled: previous
 * repeats the last non-empty row, linear interpolates each column between
 * the non-empty rows around by bucket start time (NaN at either end), none
 * drops them, null leaves NaN. Time columns (tcol) follow their col. */
static void apply_fill(hist_series_result *s, const bool *empty, int ncols, hist_fill fill)
{
    size_t n = s->n;
    if (fill == HIST_FILL_PREVIOUS) {
        long last = -1;
        for (size_t r = 0; r < n; r++) {
            if (!empty[r])
                last = (long)r;
            else if (last >= 0)
                for (int k = 0; k < ncols; k++) {
                    s->col[k][r] = s->col[k][last];
                    if (s->tcol[k])
                        s->tcol[k][r] = s->tcol[k][last];
                }
        }
    } else if (fill == HIST_FILL_LINEAR) {
        long prev = -1;
        for (size_t r = 0; r < n; r++) {
            if (!empty[r]) {
                prev = (long)r;
                continue;
            }
            size_t nx = r + 1;
            while (nx < n && empty[nx])
                nx++;
            if (prev < 0 || nx >= n)
                continue;
            double f = (double)(s->ts[r] - s->ts[prev]) / (double)(s->ts[nx] - s->ts[prev]);
            for (int k = 0; k < ncols; k++) {
                s->col[k][r] = s->col[k][prev] + (s->col[k][nx] - s->col[k][prev]) * f;
                if (s->tcol[k] && !isnan(s->col[k][r])) {
                    int64_t t0 = s->tcol[k][prev], t1 = s->tcol[k][nx];
                    s->tcol[k][r] = t0 + (int64_t)llround((double)(t1 - t0) * f);
                    s->col[k][r] = (double)s->tcol[k][r];
                }
            }
        }
    } else if (fill == HIST_FILL_NONE) {
        size_t w = 0;
        for (size_t r = 0; r < n; r++) {
            if (empty[r])
                continue;
            s->ts[w] = s->ts[r];
            s->ts_end[w] = s->ts_end[r];
            for (int k = 0; k < ncols; k++) {
                s->col[k][w] = s->col[k][r];
                if (s->tcol[k])
                    s->tcol[k][w] = s->tcol[k][r];
            }
            w++;
        }
        s->n = w;
    }
}

static int scan_pieces(agg_state *st)
{
    hist_qctx *q = st->q;
    void *scan = NULL;
    int rc = q->src->scan_open(q->src->ctx, q->tag, st->lo, st->hi, 0, &scan);
    if (rc < 0)
        return rc;
    hist_piece p;
    while ((rc = q->src->scan_next(scan, &p)) > 0) {
        if ((rc = series__past_deadline(q->spec)) < 0)
            break;
        if (p.stats && p.n == 0) {
            if (!st->need_decode && try_stats(st, &p)) {
                q->res->chunks_from_stats++;
                continue;
            }
            if ((rc = cursor__decode(q, scan, &p)) < 0)
                break;
            if (rc == 0)
                continue; /* damaged: left out */
        }
        int frc = 0;
        for (size_t i = 0; i < p.n && frc == 0; i++)
            frc = feed(st, p.ts[i], p.v[i], p.q ? p.q[i] : 0);
        if (frc < 0) {
            rc = frc;
            break;
        }
    }
    q->src->scan_close(scan);
    return rc;
}

/* The boundary samples: the last counted one before from, and (linear
 * time weighting) the first counted one at/after to. */
static int boundary_sample(agg_state *st, bool before, hist_sample *out)
{
    hist_qctx *q = st->q;
    unsigned flags = q->spec->include_bad ? 0 : HIST_NEAR_SKIP_BAD;
    int64_t t = before ? st->lo : st->hi;
    /* Step over NaN samples (bounded: a long NaN run just ends the search). */
    for (int tries = 0; tries < 1000; tries++) {
        int rc = before ? q->src->sample_before(q->src->ctx, q->tag, t, flags, out)
                        : q->src->sample_at_or_after(q->src->ctx, q->tag, t, flags, out);
        if (rc == HIST_ENOTFOUND)
            return 0;
        if (rc < 0)
            return rc;
        if (hist_sample_counted(st->q->type, out->v, out->q, st->q->spec->include_bad))
            return 1;
        if (before ? out->ts == INT64_MIN : out->ts == INT64_MAX)
            return 0;
        t = before ? out->ts : out->ts + 1;
    }
    return 0;
}

/* What the requested aggregates need: flags and the column lists. */
static void plan(agg_state *st)
{
    const hist_query_spec *spec = st->q->spec;
    for (int k = 0; k < spec->naggs; k++) {
        hist_agg a = spec->aggs[k];
        st->need_tw |= a == HIST_AGG_TWA || a == HIST_AGG_INTEGRAL || a == HIST_AGG_DURATION_TRUE ||
                       a == HIST_AGG_TIME_IN_STATE;
        st->need_delta |= a == HIST_AGG_DELTA;
        st->need_var |= a == HIST_AGG_STDDEV;
        st->need_quality |= a == HIST_AGG_PCT_GOOD;
        st->need_changes |= a == HIST_AGG_CHANGES;
        st->need_decode |= a >= HIST_AGG_PCT_GOOD;
        if (a == HIST_AGG_TIME_IN_STATE)
            st->state_k[st->nstates++] = k;
        if (a >= HIST_AGG_P50) {
            static const double fixed[] = {50, 90, 95, 99};
            st->pct_p[st->npct] =
                a == HIST_AGG_PERCENTILE ? spec->agg_arg[k] : fixed[a - HIST_AGG_P50];
            st->pct_k[st->npct++] = k;
        }
    }
    /* duration_true alone is a step whatever the type (duplicates are dropped) */
    st->linear = st->q->type == HIST_TYPE_FLOAT64 &&
                 !(spec->naggs == 1 && spec->aggs[0] == HIST_AGG_DURATION_TRUE);
    st->vals.max = spec->max_values;
    st->vals_bucket = -1;
}

/* The boundary samples before from: the counted one (f, changes, delta)
 * and, for pct_good, the last one of any quality. */
static int start_before_from(agg_state *st)
{
    hist_sample bs;
    if (st->need_tw || st->need_delta || st->need_changes) {
        int rc = boundary_sample(st, true, &bs);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            st->have_prev = true;
            st->prev_ts = bs.ts;
            st->prev_v = hist_value_as_double(st->q->type, bs.v);
            st->prev_raw = bs.v;
        }
    }
    if (st->need_quality) {
        hist_qctx *q = st->q;
        int rc = q->src->sample_before(q->src->ctx, q->tag, st->lo, 0, &bs);
        if (rc == 0)
            feed_quality(st, bs.ts, bs.q);
        else if (rc != HIST_ENOTFOUND)
            return rc;
    }
    return 0;
}

static int compute(agg_state *st)
{
    plan(st);
    if (st->nstates > 0 && st->q->type == HIST_TYPE_FLOAT64)
        return HIST_ETYPE; /* time_in_state is for int64 and bool tags */
    hist_sample bs;
    int rc = start_before_from(st);
    if (rc < 0)
        return rc;
    rc = scan_pieces(st);
    flush_values(st);
    summary__free(&st->vals);
    if (rc < 0)
        return rc;
    if (st->need_quality && st->have_qprev)
        add_quality(st, st->qprev_ts, st->hi, st->qprev_good); /* the quality holds */
    if (st->need_tw && st->have_prev) {
        /* Tail: towards the first sample at/after to, or the held value. */
        int found = 0;
        if (st->linear && (found = boundary_sample(st, false, &bs)) < 0)
            return found;
        if (found)
            add_segment(st, st->prev_ts, st->prev_v, bs.ts, hist_value_as_double(st->q->type, bs.v),
                        true);
        else
            add_segment(st, st->prev_ts, st->prev_v, st->hi, st->prev_v, false);
    }
    return 0;
}

/* The columns, and the time columns of time_min/time_max; the columns
 * the scan adds into (time_in_state: 0) or writes (percentiles: NaN until
 * their bucket is done) start set. */
static int alloc_columns(const hist_query_spec *spec, hist_series_result *s, size_t nb)
{
    for (int k = 0; k < spec->naggs; k++) {
        hist_agg a = spec->aggs[k];
        if (!(s->col[k] = malloc((nb ? nb : 1) * sizeof(double))))
            return HIST_ENOMEM;
        if (hist_agg_is_time(a) && !(s->tcol[k] = malloc((nb ? nb : 1) * sizeof(int64_t))))
            return HIST_ENOMEM;
        for (size_t r = 0; r < nb; r++)
            s->col[k][r] = a == HIST_AGG_TIME_IN_STATE ? 0 : NAN;
    }
    return 0;
}

/* Row r of column k from the bucket's accumulator. A bucket without a
 * counted sample is null in every column but pct_good. */
static void write_cell(const agg_state *st, hist_series_result *s, int k, size_t r)
{
    const bucket_acc *a = &st->acc[r];
    hist_agg agg = st->q->spec->aggs[k];
    if (agg == HIST_AGG_PCT_GOOD) {
        s->col[k][r] = a->quality_s > 0 ? 100 * a->good_s / a->quality_s : NAN;
        return;
    }
    if (a->n == 0) {
        s->col[k][r] = NAN;
        return;
    }
    if (agg == HIST_AGG_TIME_IN_STATE || agg >= HIST_AGG_P50)
        return; /* written by the scan */
    s->col[k][r] = agg_value(st, a, agg);
    if (s->tcol[k])
        s->tcol[k][r] = agg == HIST_AGG_TIME_MIN ? a->min_ts : a->max_ts;
}

int agg__run(hist_qctx *q)
{
    const hist_query_spec *spec = q->spec;
    agg_state st = {.q = q, .lo = spec->from, .hi = spec->to, .cur = -1, .seg = -1};
    /* The engine computes the buckets once per query (they do not depend on
     * the tag); made here only when called without them. */
    bool own_buckets = q->buckets == NULL;
    int rc = 0;
    if (own_buckets)
        rc = buckets__make(spec, &st.b);
    else
        st.b = *q->buckets;
    if (rc < 0)
        return rc;
    size_t nb = st.b.n;
    hist_series_result *s = q->out;
    bool *empty = NULL;
    st.acc = calloc(nb, sizeof(*st.acc));
    s->ts = malloc(nb * sizeof(*s->ts));
    s->ts_end = malloc(nb * sizeof(*s->ts_end));
    empty = malloc(nb * sizeof(*empty));
    rc = (st.acc && s->ts && s->ts_end && empty) ? 0 : HIST_ENOMEM;
    rc = rc == 0 ? alloc_columns(spec, s, nb) : rc;
    if (rc == 0)
        rc = compute(&st);
    if (rc == 0) {
        s->n = nb;
        for (size_t r = 0; r < nb; r++) {
            s->ts[r] = st.b.bound[r];
            s->ts_end[r] = st.b.bound[r + 1];
            empty[r] = st.acc[r].n == 0 && !(st.need_quality && st.acc[r].quality_s > 0);
            for (int k = 0; k < spec->naggs; k++)
                write_cell(&st, s, k, r);
        }
        apply_fill(s, empty, spec->naggs, spec->fill);
    }
    free(empty);
    free(st.acc);
    if (own_buckets)
        buckets__free(&st.b);
    return rc;
}
