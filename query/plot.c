/*
 * plot.c: the plot mode, M4 (Jugel et al., VLDB 2014).
 *
 * [from, to) is cut into `points` pixel columns; column k is
 * [from + span*k/points, from + span*(k+1)/points) in integer arithmetic.
 * Per column the result holds the first, the minimum, the maximum and the
 * last sample of the column, in time order, each sample once (when the
 * first sample is also the minimum it appears once). A line drawn through
 * these points lights the same pixels as the line through every raw
 * sample: inside a column it spans exactly [min, max], and it enters and
 * leaves the column at the first and last sample. Every quality is drawn;
 * float64 NaN samples can be first/last but never min/max.
 *
 * Stats fast path: a chunk offered by its statistics that lies inside one
 * column is not decoded. Its first and last samples are exact (stats keep
 * their times and values); its min and max values are exact, but stats do
 * not keep their times, so they are emitted at synthetic times strictly
 * between the chunk's first and last sample (1/3 and 2/3 of the way).
 * Every x inside a column maps to the same pixel, and the column's drawn
 * extent is [min, max] whatever the order of min and max, so the picture
 * is unchanged; only those two timestamps are not recorded times. The fast
 * path is taken only when the values are exact: the chunk spans at least
 * 3 ns (so the synthetic times are distinct), has no NaN, and int64
 * extremes fit a double exactly (|v| <= 2^53). Stats do not say which
 * sample had which quality either, so the two synthetic points carry Good
 * when every sample of the chunk is Good, else Uncertain ("some sample of
 * this chunk was not Good"); first and last keep their exact quality.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/engine.h"

typedef struct {
    int64_t ts;
    hist_value v;
    uint32_t q;
    double x;
} m4_point;

typedef struct {
    bool any, any_num;
    m4_point first, last, min, max;
} m4_col;

typedef struct {
    hist_qctx *q;
    uint64_t span, step, rem; /* span = to - from = step * points + rem */
    uint32_t col;             /* current column */
    int64_t col_end;
    m4_col c;
    size_t cap;
} plot_state;

static int64_t col_bound(const plot_state *st, uint64_t k)
{
    uint64_t off = st->step * k + (st->rem * k) / st->q->spec->points;
    return (int64_t)((uint64_t)st->q->spec->from + off);
}

static void m4_add(m4_col *c, const m4_point *p)
{
    if (!c->any) {
        c->any = true;
        c->first = *p;
    }
    c->last = *p;
    if (isnan(p->x))
        return;
    if (!c->any_num || p->x < c->min.x)
        c->min = *p;
    if (!c->any_num || p->x > c->max.x)
        c->max = *p;
    c->any_num = true;
}

static int m4_emit(plot_state *st)
{
    m4_col *c = &st->c;
    if (!c->any)
        return 0;
    m4_point pts[4];
    int n = 0;
    pts[n++] = c->first;
    if (c->any_num) {
        pts[n++] = c->min;
        pts[n++] = c->max;
    }
    pts[n++] = c->last;
    for (int i = 1; i < n; i++) /* insertion sort by time */
        for (int j = i; j > 0 && pts[j].ts < pts[j - 1].ts; j--) {
            m4_point t = pts[j];
            pts[j] = pts[j - 1];
            pts[j - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        if (i > 0 && pts[i].ts == pts[i - 1].ts)
            continue; /* the same sample */
        int rc = hist_series_push(st->q->out, &st->cap, pts[i].ts, pts[i].v, pts[i].q);
        if (rc < 0)
            return rc;
    }
    memset(c, 0, sizeof(*c));
    return 0;
}

/* Moves to the column holding t, emitting the finished one. */
static int goto_column(plot_state *st, int64_t t)
{
    if (t < st->col_end)
        return 0;
    int rc = m4_emit(st);
    if (rc < 0)
        return rc;
    /* Jump close with arithmetic, then settle with the exact bounds. */
    uint64_t off = (uint64_t)t - (uint64_t)st->q->spec->from;
    uint64_t k = st->step ? off / (st->step + 1) : 0;
    if (k > st->col)
        st->col = (uint32_t)(k < st->q->spec->points ? k : st->q->spec->points - 1);
    while (st->col + 1 < st->q->spec->points && col_bound(st, st->col + 1) <= t)
        st->col++;
    st->col_end = st->col + 1 < st->q->spec->points ? col_bound(st, st->col + 1) : st->q->spec->to;
    return 0;
}

static bool stats_exact(const plot_state *st, const hist_chunk_stats *cs)
{
    if (cs->nan_count || cs->count == 0 || cs->end_ts - cs->start_ts < 3)
        return false;
    if (cs->start_ts < col_bound(st, st->col) || cs->end_ts >= st->col_end)
        return false;
    if (st->q->type != HIST_TYPE_FLOAT64) {
        const double lim = 9007199254740992.0; /* 2^53 */
        if (fabs(cs->min) > lim || fabs(cs->max) > lim)
            return false;
    }
    return true;
}

static m4_point make_point(hist_type type, int64_t ts, hist_value v, uint32_t q)
{
    m4_point p = {.ts = ts, .v = v, .q = q, .x = hist_value_as_double(type, v)};
    return p;
}

static hist_value value_from_double(hist_type type, double x)
{
    hist_value v;
    if (type == HIST_TYPE_FLOAT64)
        v.f = x;
    else
        v.i = (int64_t)x;
    return v;
}

static void add_stats(plot_state *st, const hist_chunk_stats *cs)
{
    hist_type type = st->q->type;
    int64_t third = (cs->end_ts - cs->start_ts) / 3;
    m4_point first = make_point(type, cs->start_ts, cs->first_v, cs->first_q);
    uint32_t q = cs->nongood_count ? HIST_QUALITY_UNCERTAIN : HIST_QUALITY_GOOD;
    m4_point mn = make_point(type, cs->start_ts + third, value_from_double(type, cs->min), q);
    m4_point mx = make_point(type, cs->start_ts + 2 * third, value_from_double(type, cs->max), q);
    m4_point last = make_point(type, cs->end_ts, cs->last_v, cs->last_q);
    /* In time order; m4_add keeps the extremes, first and last. */
    m4_add(&st->c, &first);
    m4_add(&st->c, &mn);
    m4_add(&st->c, &mx);
    m4_add(&st->c, &last);
}

int hist_query_plot(hist_qctx *q)
{
    const hist_query_spec *spec = q->spec;
    plot_state st = {.q = q};
    st.span = (uint64_t)spec->to - (uint64_t)spec->from;
    st.step = st.span / spec->points;
    st.rem = st.span % spec->points;
    st.col = 0;
    st.col_end = spec->points > 1 ? col_bound(&st, 1) : spec->to;
    void *scan = NULL;
    int rc = q->src->scan_open(q->src->ctx, q->tag, spec->from, spec->to, 0, &scan);
    if (rc < 0)
        return rc;
    hist_piece p;
    while ((rc = q->src->scan_next(scan, &p)) > 0) {
        if (p.stats && p.n == 0) {
            if ((rc = goto_column(&st, p.stats->start_ts)) < 0)
                break;
            if (stats_exact(&st, p.stats)) {
                add_stats(&st, p.stats);
                q->res->chunks_from_stats++;
                continue;
            }
            if ((rc = q->src->scan_decode(scan, &p)) < 0)
                break;
            q->res->chunks_decoded++;
        }
        for (size_t i = 0; i < p.n && rc >= 0; i++) {
            if ((rc = goto_column(&st, p.ts[i])) < 0)
                break;
            m4_point pt = make_point(q->type, p.ts[i], p.v[i], p.q ? p.q[i] : 0);
            m4_add(&st.c, &pt);
        }
        if (rc < 0)
            break;
    }
    q->src->scan_close(scan);
    if (rc >= 0)
        rc = m4_emit(&st);
    return rc < 0 ? rc : 0;
}
