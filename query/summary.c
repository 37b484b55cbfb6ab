/*
 * summary.c: the values of one bucket that the percentile aggregates of
 * agg.c need (p50, p90, p95, p99, percentile:N), held in a growing array
 * within a limit (hist_query_spec.max_values), and the percentile of them.
 *
 * Percentile method: linear interpolation between the closest ranks (the
 * default of numpy.percentile, Hyndman and Fan's definition 7): the n
 * values sorted ascending x[0..n-1], h = (n - 1) * p / 100, and the answer
 * x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]). One
 * value is every percentile of itself. At an exact rank (h whole, or two
 * equal neighbours) the answer is that value itself.
 */
#include <math.h>
#include <stdlib.h>

#include "common/hist_array.h"
#include "query/engine.h"

int summary__push(summary_values *sv, double x)
{
    if (sv->max && sv->n >= sv->max)
        return HIST_ENOSPC;
    if (sv->n == sv->cap && HIST_ARRAY_RESERVE(sv->v, sv->cap, sv->n + 1, 1024) < 0)
        return HIST_ENOMEM;
    sv->v[sv->n++] = x;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void summary__sort(summary_values *sv)
{
    qsort(sv->v, sv->n, sizeof(*sv->v), cmp_double);
}

double summary__percentile(const summary_values *sv, double p)
{
    if (sv->n == 0)
        return NAN;
    double h = (double)(sv->n - 1) * p / 100;
    size_t lo = (size_t)h;
    if (lo + 1 >= sv->n)
        return sv->v[sv->n - 1];
    double frac = h - (double)lo;
    if (frac == 0 || sv->v[lo] == sv->v[lo + 1])
        return sv->v[lo]; /* exact rank (also keeps infinities out of 0 * inf) */
    return sv->v[lo] + frac * (sv->v[lo + 1] - sv->v[lo]);
}

void summary__free(summary_values *sv)
{
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}
