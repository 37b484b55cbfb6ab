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
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        int rc = series__push(st->q->out, &st->cap, pts[i].ts, pts[i].v, pts[i].q);
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

static m4_point piece_point(hist_type type, const hist_piece *p, size_t i)
{
    return make_point(type, p->ts[i], p->v[i], p->q ? p->q[i] : 0);
}

static double piece_x(hist_type type, const hist_piece *p, size_t k)
{
    return type == HIST_TYPE_FLOAT64 ? p->v[k].f : hist_value_as_double(type, p->v[k]);
}

/* Adds samples [i, j) of a decoded piece, all in the current column: the
 * same as m4_add on each, without copying every sample through a point.
 * Strict comparisons keep the earliest of equal extremes, as m4_add does;
 * NaN fails every comparison, so it is never a minimum or maximum. */
static void add_run(plot_state *st, const hist_piece *p, size_t i, size_t j)
{
    hist_type type = st->q->type;
    m4_col *c = &st->c;
    if (!c->any) {
        c->any = true;
        c->first = piece_point(type, p, i);
    }
    c->last = piece_point(type, p, j - 1);
    size_t k = i;
    if (!c->any_num) { /* the first number of the column starts both */
        while (k < j && isnan(piece_x(type, p, k)))
            k++;
        if (k == j)
            return;
        c->min = c->max = piece_point(type, p, k);
        c->any_num = true;
        k++;
    }
    double mn = c->min.x, mx = c->max.x;
    size_t imin = SIZE_MAX, imax = SIZE_MAX;
    if (type == HIST_TYPE_FLOAT64) {
        for (; k < j; k++) {
            double x = p->v[k].f;
            if (x < mn)
                mn = x, imin = k;
            if (x > mx)
                mx = x, imax = k;
        }
    } else {
        for (; k < j; k++) {
            double x = hist_value_as_double(type, p->v[k]);
            if (x < mn)
                mn = x, imin = k;
            if (x > mx)
                mx = x, imax = k;
        }
    }
    if (imin != SIZE_MAX)
        c->min = piece_point(type, p, imin);
    if (imax != SIZE_MAX)
        c->max = piece_point(type, p, imax);
}

/* The first index in [i, n) whose time is >= t (times sorted). */
static size_t lower_bound(const int64_t *ts, size_t i, size_t n, int64_t t)
{
    while (i < n) {
        size_t mid = i + (n - i) / 2;
        if (ts[mid] < t)
            i = mid + 1;
        else
            n = mid;
    }
    return i;
}

/* Plots columns [c0, c1) into q->out: the scan covers just their range. */
static int plot_columns(hist_qctx *q, uint32_t c0, uint32_t c1)
{
    const hist_query_spec *spec = q->spec;
    plot_state st = {.q = q};
    st.span = (uint64_t)spec->to - (uint64_t)spec->from;
    st.step = st.span / spec->points;
    st.rem = st.span % spec->points;
    st.col = c0;
    st.col_end = c0 + 1 < spec->points ? col_bound(&st, c0 + 1) : spec->to;
    st.cap = 0; /* q->out is a fresh, empty series */
    int64_t from = col_bound(&st, c0), to = c1 < spec->points ? col_bound(&st, c1) : spec->to;
    void *scan = NULL;
    int rc = q->src->scan_open(q->src->ctx, q->tag, from, to, 0, &scan);
    if (rc < 0)
        return rc;
    hist_piece p;
    while ((rc = q->src->scan_next(scan, &p)) > 0) {
        if ((rc = series__past_deadline(q->spec)) < 0)
            break;
        if (p.stats && p.n == 0) {
            if ((rc = goto_column(&st, p.stats->start_ts)) < 0)
                break;
            if (stats_inside_column(&st, p.stats)) {
                add_stats(&st, p.stats);
                q->res->chunks_from_stats++;
                continue;
            }
            if ((rc = cursor__decode(q, scan, &p)) < 0)
                break;
            if (rc == 0)
                continue; /* damaged: left out */
        }
        for (size_t i = 0; i < p.n && rc >= 0;) {
            if ((rc = goto_column(&st, p.ts[i])) < 0)
                break;
            size_t j = lower_bound(p.ts, i + 1, p.n, st.col_end);
            add_run(&st, &p, i, j);
            i = j;
        }
        if (rc < 0)
            break;
    }
    q->src->scan_close(scan);
    if (rc >= 0)
        rc = m4_emit(&st);
    return rc < 0 ? rc : 0;
}

/* ---- Parts in parallel ----------------------------------------------------
 *
 * Columns are independent, so a long plot is cut into parts of whole
 * columns, each plotted by its own thread into its own series and counters,
 * then joined in column order: the result is the one a single pass gives.
 * Edge chunks (cut by a column bound) are what costs: decoding them is
 * spread over the cores. spec->threads > 0 caps the parts (1: no thread);
 * 0 means one part per online CPU (up to HIST_PLOT_MAX_PARTS), each
 * covering at least PLOT_PART_MIN_NS, so short plots stay on one thread.
 */
#define HIST_PLOT_MAX_PARTS 8
#define PLOT_PART_MIN_NS    (INT64_C(86400) * 1000000000) /* one day */

typedef struct {
    hist_qctx q;
    hist_series_result out;
    hist_result res;
    uint32_t c0, c1;
    int rc;
    pthread_t thread;
    bool started;
} plot_part;

static uint32_t plot_parts(const hist_qctx *q)
{
    const hist_query_spec *spec = q->spec;
    uint32_t parts = spec->threads;
    if (parts == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t days = ((uint64_t)spec->to - (uint64_t)spec->from) / PLOT_PART_MIN_NS;
        parts = cpus > 1 ? (uint32_t)cpus : 1;
        if (days < parts)
            parts = (uint32_t)days;
    }
    if (parts > HIST_PLOT_MAX_PARTS)
        parts = HIST_PLOT_MAX_PARTS;
    if (parts > spec->points / 2)
        parts = spec->points / 2;
    return parts ? parts : 1;
}

static void *part_main(void *arg)
{
    plot_part *pp = arg;
    pp->rc = plot_columns(&pp->q, pp->c0, pp->c1);
    return NULL;
}

/* Appends a part's rows to q->out and its counters to q->res. */
static int join_part(hist_qctx *q, size_t *cap, const plot_part *pp)
{
    size_t n = q->out->n, m = pp->out.n;
    int rc = series__reserve(q->out, cap, n + m);
    if (rc < 0)
        return rc;
    if (m) {
        memcpy(q->out->ts + n, pp->out.ts, m * sizeof(*pp->out.ts));
        memcpy(q->out->value + n, pp->out.value, m * sizeof(*pp->out.value));
        memcpy(q->out->q + n, pp->out.q, m * sizeof(*pp->out.q));
    }
    q->out->n = n + m;
    q->res->chunks_from_stats += pp->res.chunks_from_stats;
    q->res->chunks_decoded += pp->res.chunks_decoded;
    return 0;
}

int plot__run(hist_qctx *q)
{
    uint32_t parts = plot_parts(q), points = q->spec->points;
    if (parts <= 1)
        return plot_columns(q, 0, points);
    plot_part *pp = calloc(parts, sizeof(*pp));
    if (!pp)
        return HIST_ENOMEM;
    for (uint32_t k = 0; k < parts; k++) {
        pp[k].q = *q;
        pp[k].q.out = &pp[k].out;
        pp[k].q.res = &pp[k].res;
        pp[k].c0 = (uint32_t)((uint64_t)points * k / parts);
        pp[k].c1 = (uint32_t)((uint64_t)points * (k + 1) / parts);
    }
    /* Part 0 runs here; a part whose thread cannot start runs here too. */
    for (uint32_t k = 1; k < parts; k++)
        pp[k].started = pthread_create(&pp[k].thread, NULL, part_main, &pp[k]) == 0;
    part_main(&pp[0]);
    int rc = 0;
    size_t cap = q->out->n;
    for (uint32_t k = 0; k < parts; k++) {
        if (k > 0 && pp[k].started)
            pthread_join(pp[k].thread, NULL);
        else if (k > 0)
            part_main(&pp[k]);
        if (rc == 0)
            rc = pp[k].rc < 0 ? pp[k].rc : join_part(q, &cap, &pp[k]);
        free(pp[k].out.ts), free(pp[k].out.value), free(pp[k].out.q);
    }
    free(pp);
    return rc;
}
