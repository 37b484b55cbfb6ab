/*
 * series.c: growing a sample-shaped result series (ts, value, quality
 * rows), for the modes that emit samples (raw, latest, interp, plot).
 * Below the modes; calls nothing of the engine. Also the deadline check
 * every mode's loops share (series__past_deadline).
 */
#include <stdlib.h>
#include <time.h>

#include "common/hist_array.h"
#include "query/engine.h"

int series__reserve(hist_series_result *s, size_t *cap, size_t need)
{
    if (need > *cap) {
        size_t ncap = hist_array_cap(*cap, need, sizeof(hist_value), 64);
        if (ncap == 0)
            return HIST_ENOMEM;
        int64_t *nts = realloc(s->ts, ncap * sizeof(*nts));
        if (!nts)
            return HIST_ENOMEM;
        s->ts = nts;
        hist_value *nv = realloc(s->value, ncap * sizeof(*nv));
        if (!nv)
            return HIST_ENOMEM;
        s->value = nv;
        uint32_t *nq = realloc(s->q, ncap * sizeof(*nq));
        if (!nq)
            return HIST_ENOMEM;
        s->q = nq;
        *cap = ncap;
    }
    return 0;
}

int series__push(hist_series_result *s, size_t *cap, int64_t ts, hist_value v, uint32_t q)
{
    if (s->n == *cap) {
        int rc = series__reserve(s, cap, s->n + 1);
        if (rc < 0)
            return rc;
    }
    s->ts[s->n] = ts;
    s->value[s->n] = v;
    s->q[s->n] = q;
    s->n++;
    return 0;
}

int series__past_deadline(const hist_query_spec *spec)
{
    if (!spec->deadline_ns)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    return now > spec->deadline_ns ? HIST_ETIMEDOUT : 0;
}
