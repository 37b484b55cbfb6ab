/*
 * raw.c: the raw and latest modes.
 *
 * raw: the recorded samples of [from, to) in time order, every quality,
 * values bit-exact. At most spec->limit samples (0 = 100000); when more
 * remain, next_ts is the timestamp of the first sample left out, so the
 * next page is the same query with from = next_ts. Scans with
 * HIST_SCAN_DECODE: raw needs every sample, never chunk statistics.
 *
 * latest: one row, the tag's newest sample (from memory, via
 * hist_db_latest); no row when the tag has no data. from/to are ignored.
 */
#include <string.h>

#include "query/engine.h"

int raw__run(hist_qctx *q)
{
    const hist_query_spec *spec = q->spec;
    size_t limit = spec->limit ? spec->limit : HIST_QUERY_DEFAULT_LIMIT;
    size_t cap = 0;
    void *scan = NULL;
    int rc = q->src->scan_open(q->src->ctx, q->tag, spec->from, spec->to, HIST_SCAN_DECODE, &scan);
    if (rc < 0)
        return rc;
    hist_piece p;
    bool full = false;
    while (!full && (rc = q->src->scan_next(scan, &p)) > 0) {
        if ((rc = series__past_deadline(spec)) < 0)
            break;
        /* Storage offers stats pieces only without HIST_SCAN_DECODE, but
         * decode defensively rather than lose samples. */
        if (p.stats && p.n == 0 && (rc = cursor__decode(q, scan, &p)) <= 0) {
            if (rc < 0)
                break;
            continue; /* damaged: left out */
        }
        /* Copy the piece in bulk, up to the limit. */
        size_t take = p.n;
        if (take > limit - q->out->n) {
            take = limit - q->out->n;
            q->out->next_ts = p.ts[take];
            full = true;
        }
        if ((rc = series__reserve(q->out, &cap, q->out->n + take)) < 0)
            break;
        hist_series_result *s = q->out;
        if (take == 0)
            continue;
        memcpy(s->ts + s->n, p.ts, take * sizeof(*p.ts));
        memcpy(s->value + s->n, p.v, take * sizeof(*p.v));
        if (p.q)
            memcpy(s->q + s->n, p.q, take * sizeof(*p.q));
        else
            memset(s->q + s->n, 0, take * sizeof(*p.q));
        s->n += take;
    }
    q->src->scan_close(scan);
    return rc < 0 ? rc : 0;
}

int raw__latest(hist_qctx *q)
{
    hist_sample s;
    int rc = q->src->latest(q->src->ctx, q->tag, &s);
    if (rc == HIST_ENOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    size_t cap = 0;
    return series__push(q->out, &cap, s.ts, s.v, s.q);
}
