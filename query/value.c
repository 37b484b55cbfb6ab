/*
 * value.c: the value mode, one row per tag at spec->at (PI's "value at a
 * time"), by the rule of the interp mode (interp.c) at a single time.
 *
 * Let a = the last sample with ts <= at and b = the first with ts > at,
 * over all qualities (two neighbour searches through the source, never a
 * scan of the range):
 *   - no a (at before the tag's first sample): no row at all (interp
 *     would answer NaN/0 with quality Bad; one time alone is better
 *     answered by its absence);
 *   - a.ts == at: that sample, value and quality as recorded;
 *   - no b (at after the last sample): a's value held, quality Bad;
 *   - float64: linear between a and b; Good when both are Good, else
 *     Uncertain;
 *   - int64/bool: a's value (step); Good when a is Good, else Uncertain.
 * The row's time is at.
 */
#include "common/hist_assert.h"
#include "query/engine.h"

int value__run(hist_qctx *q)
{
    const hist_query_spec *spec = q->spec;
    hist_sample a, b;
    /* at <= HIST_TS_MAX (engine.c clamps), so at + 1 cannot overflow. */
    int rc = q->src->sample_before(q->src->ctx, q->tag, spec->at + 1, 0, &a);
    if (rc == HIST_ENOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    HIST_ASSERT(a.ts <= spec->at);
    size_t cap = 0;
    if (a.ts == spec->at)
        return series__push(q->out, &cap, spec->at, a.v, a.q);
    rc = q->src->sample_at_or_after(q->src->ctx, q->tag, spec->at + 1, 0, &b);
    if (rc == HIST_ENOTFOUND)
        return series__push(q->out, &cap, spec->at, a.v, HIST_QUALITY_BAD);
    if (rc < 0)
        return rc;
    HIST_ASSERT(b.ts > spec->at);
    hist_value v = a.v;
    bool good = hist_quality_is_good(a.q);
    if (q->type == HIST_TYPE_FLOAT64) {
        double f = (double)(spec->at - a.ts) / (double)(b.ts - a.ts);
        v.f = a.v.f + (b.v.f - a.v.f) * f;
        good = good && hist_quality_is_good(b.q);
    }
    return series__push(q->out, &cap, spec->at, v,
                        good ? HIST_QUALITY_GOOD : HIST_QUALITY_UNCERTAIN);
}
