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
 * column is not decoded. Stats keep the chunk's first and last samples and
 * the earliest samples holding its minimum and maximum (NaN left out), with
 * their times, values and qualities, so feeding those four samples in time
 * order gives exactly the column that decoding the chunk would give: M4
 * keeps the earliest of equal extremes, and so do the stats.
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

/* At most four points: insertion sort. */
static void sort_by_time(m4_point *p, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && p[j].ts < p[j - 1].ts; j--) {
            m4_point t = p[j];
            p[j] = p[j - 1];
            p[j - 1] = t;
        }
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
    sort_by_time(pts, n);
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

static bool stats_inside_column(const plot_state *st, const hist_chunk_stats *cs)
{
    return cs->count > 0 && cs->start_ts >= col_bound(st, st->col) && cs->end_ts < st->col_end;
}

static m4_point make_point(hist_type type, int64_t ts, hist_value v, uint32_t q)
{
    m4_point p = {.ts = ts, .v = v, .q = q, .x = hist_value_as_double(type, v)};
    return p;
}

/* Feeds a chunk's first, min, max and last samples, in time order. */
static void add_stats(plot_state *st, const hist_chunk_stats *cs)
{
    hist_type type = st->q->type;
    m4_point p[4];
    int n = 0;
    p[n++] = make_point(type, cs->start_ts, cs->first_v, cs->first_q);
    if (cs->nan_count < cs->count) {
        p[n++] = make_point(type, cs->min_ts, cs->min_v, cs->min_q);
        p[n++] = make_point(type, cs->max_ts, cs->max_v, cs->max_q);
    }
    p[n++] = make_point(type, cs->end_ts, cs->last_v, cs->last_q);
    sort_by_time(p, n);
    for (int i = 0; i < n; i++)
        m4_add(&st->c, &p[i]);
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
            if (stats_inside_column(&st, p.stats)) {
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
