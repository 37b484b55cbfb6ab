/*
 * interp.c: the interpolated mode, one value every step_ns at
 * t = from, from + step, ... < to.
 *
 * Definitions (let a = the last sample with ts <= t, b = the first with
 * ts > t, over all qualities; a may lie before from and b at/after to,
 * fetched with hist_db_sample_before / hist_db_sample_at_or_after):
 *   - a.ts == t: exactly that sample (value and quality).
 *   - no a (t before the first sample): value NaN (float64) or 0, Bad.
 *   - no b (t after the last sample): a's value held, quality Bad.
 *   - float64: linear between a and b; quality Good when both are Good,
 *     else Uncertain.
 *   - int64/bool: a's value (step); Good when a is Good, else Uncertain
 *     (b is not used by a step).
 * Bad samples are used like the others: interpolation reports what was
 * recorded and flags it through the quality.
 */
#include <math.h>

#include "query/engine.h"

typedef struct {
    hist_qcursor cur;
    hist_qctx *q;
    bool tail_used;
} sample_stream;

/* The next sample in time order: the scan of [from, to), then the first
 * sample at/after to. */
static int stream_next(sample_stream *st, hist_sample *out)
{
    int rc = cursor__next(&st->cur, out);
    if (rc != 0 || st->tail_used)
        return rc;
    st->tail_used = true;
    rc = st->q->src->sample_at_or_after(st->q->src->ctx, st->q->tag, st->q->spec->to, 0, out);
    if (rc == HIST_ENOTFOUND)
        return 0;
    return rc < 0 ? rc : 1;
}

static hist_value interp_value(hist_type type, const hist_sample *a, const hist_sample *b,
                               int64_t t)
{
    if (type != HIST_TYPE_FLOAT64)
        return a->v;
    double f = (double)(t - a->ts) / (double)(b->ts - a->ts);
    hist_value v;
    v.f = a->v.f + (b->v.f - a->v.f) * f;
    return v;
}

int interp__run(hist_qctx *q)
{
    const hist_query_spec *spec = q->spec;
    hist_sample a, b;
    bool have_a = false, have_b = false;
    int rc = q->src->sample_before(q->src->ctx, q->tag, spec->from, 0, &a);
    if (rc == 0)
        have_a = true;
    else if (rc != HIST_ENOTFOUND)
        return rc;

    sample_stream st = {.q = q};
    rc = cursor__open(&st.cur, q, spec->from, spec->to);
    if (rc < 0)
        return rc;
    rc = stream_next(&st, &b);
    have_b = rc > 0;
    size_t cap = 0;
    for (int64_t t = spec->from; rc >= 0;) {
        while (have_b && b.ts <= t) {
            a = b;
            have_a = true;
            rc = stream_next(&st, &b);
            if (rc < 0)
                break;
            have_b = rc > 0;
        }
        if (rc < 0)
            break;
        hist_value v;
        uint32_t qual;
        if (have_a && a.ts == t) {
            v = a.v;
            qual = a.q;
        } else if (!have_a) {
            if (q->type == HIST_TYPE_FLOAT64)
                v.f = NAN;
            else
                v.i = 0;
            qual = HIST_QUALITY_BAD;
        } else if (!have_b) {
            v = a.v;
            qual = HIST_QUALITY_BAD;
        } else {
            v = interp_value(q->type, &a, &b, t);
            bool good = hist_quality_is_good(a.q) &&
                        (q->type != HIST_TYPE_FLOAT64 || hist_quality_is_good(b.q));
            qual = good ? HIST_QUALITY_GOOD : HIST_QUALITY_UNCERTAIN;
        }
        rc = series__push(q->out, &cap, t, v, qual);
        if (rc < 0)
            break;
        if (q->out->n % SERIES_CHECK_ROWS == 0 && (rc = series__past_deadline(spec)) < 0)
            break;
        if ((uint64_t)spec->to - (uint64_t)t <= (uint64_t)spec->step_ns)
            break; /* the next t would reach to (unsigned: no overflow) */
        t += spec->step_ns;
    }
    cursor__close(&st.cur);
    return rc < 0 ? rc : 0;
}
