/*
 * boundary.c: the samples just outside [from, to) that raw and plot add
 * with hist_query_spec.boundary (PI's "outside" boundary type): the last
 * sample before from and the first at or after to, every quality.
 *
 * They are found with the source's neighbour searches (storage's
 * hist_db_sample_before / hist_db_sample_at_or_after: growing windows back
 * or forward from the edge through the chunk index, the memtable
 * included, damaged chunks left out), never by a scan from the start of
 * time. Called by engine.c after the mode has filled the series; a mode
 * never calls this file.
 */
#include <string.h>

#include "common/hist_assert.h"
#include "query/engine.h"

/* Inserts (ts, v, q) as row 0. */
static int push_front(hist_series_result *s, const hist_sample *a)
{
    size_t cap = s->n; /* the true capacity is unknown here: assume full */
    int rc = series__reserve(s, &cap, s->n + 1);
    if (rc < 0)
        return rc;
    memmove(s->ts + 1, s->ts, s->n * sizeof(*s->ts));
    memmove(s->value + 1, s->value, s->n * sizeof(*s->value));
    memmove(s->q + 1, s->q, s->n * sizeof(*s->q));
    s->ts[0] = a->ts;
    s->value[0] = a->v;
    s->q[0] = a->q;
    s->n++;
    return 0;
}

int boundary__add(hist_qctx *q)
{
    const hist_query_spec *spec = q->spec;
    hist_series_result *s = q->out;
    hist_sample x;
    int rc;
    if (spec->boundary & HIST_BOUNDARY_BEFORE) {
        rc = q->src->sample_before(q->src->ctx, q->tag, spec->from, 0, &x);
        if (rc == 0) {
            HIST_ASSERT(x.ts < spec->from && (s->n == 0 || x.ts < s->ts[0]));
            if ((rc = push_front(s, &x)) < 0)
                return rc;
        } else if (rc != HIST_ENOTFOUND) {
            return rc;
        }
    }
    /* A raw answer the limit cut continues on a later page: the after-sample
     * belongs to the last page only. */
    if ((spec->boundary & HIST_BOUNDARY_AFTER) && s->next_ts == INT64_MIN) {
        rc = q->src->sample_at_or_after(q->src->ctx, q->tag, spec->to, 0, &x);
        if (rc == 0) {
            HIST_ASSERT(x.ts >= spec->to);
            size_t cap = s->n;
            if ((rc = series__push(s, &cap, x.ts, x.v, x.q)) < 0)
                return rc;
        } else if (rc != HIST_ENOTFOUND) {
            return rc;
        }
    }
    return 0;
}
