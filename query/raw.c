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
#include "query/engine.h"

int hist_query_raw(hist_qctx *q)
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
        if (p.stats && p.n == 0) {
            /* Storage offers stats pieces only without HIST_SCAN_DECODE, but
             * decode defensively rather than lose samples. */
            rc = q->src->scan_decode(scan, &p);
            if (rc < 0)
                break;
            q->res->chunks_decoded++;
        }
        for (size_t i = 0; i < p.n; i++) {
            if (q->out->n == limit) {
                q->out->next_ts = p.ts[i];
                full = true;
                break;
            }
            rc = hist_series_push(q->out, &cap, p.ts[i], p.v[i], p.q ? p.q[i] : 0);
            if (rc < 0)
                break;
        }
        if (rc < 0)
            break;
    }
    q->src->scan_close(scan);
    return rc < 0 ? rc : 0;
}

int hist_query_latest(hist_qctx *q)
{
    hist_sample s;
    int rc = q->src->latest(q->src->ctx, q->tag, &s);
    if (rc == HIST_ENOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    size_t cap = 0;
    return hist_series_push(q->out, &cap, s.ts, s.v, s.q);
}
