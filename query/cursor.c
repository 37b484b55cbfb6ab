/*
 * cursor.c: reading one tag's pieces through the engine's source: the
 * decode of a stats piece a mode cannot answer from its statistics, and
 * the sample-by-sample cursor for modes that need every sample. Below the
 * modes; calls only the source's functions.
 */
#include <string.h>

#include "query/engine.h"

int cursor__decode(hist_qctx *q, void *scan, hist_piece *p)
{
    int rc = q->src->scan_decode(scan, p);
    if (rc == HIST_ECORRUPT || rc == HIST_EIO)
        return 0;
    if (rc < 0)
        return rc;
    q->res->chunks_decoded++;
    return 1;
}

int cursor__open(hist_qcursor *c, hist_qctx *q, int64_t from, int64_t to)
{
    memset(c, 0, sizeof(*c));
    c->q = q;
    return q->src->scan_open(q->src->ctx, q->tag, from, to, 0, &c->scan);
}

int cursor__next(hist_qcursor *c, hist_sample *out)
{
    while (c->i >= c->p.n) {
        if (c->done)
            return 0;
        int rc = series__past_deadline(c->q->spec);
        if (rc < 0)
            return rc;
        rc = c->q->src->scan_next(c->scan, &c->p);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            c->done = true;
            c->p.n = 0;
            return 0;
        }
        c->i = 0;
        if (c->p.stats && c->p.n == 0 && (rc = cursor__decode(c->q, c->scan, &c->p)) <= 0) {
            if (rc < 0)
                return rc;
            c->p.n = 0; /* damaged: on to the next piece */
        }
    }
    out->ts = c->p.ts[c->i];
    out->v = c->p.v[c->i];
    out->q = c->p.q ? c->p.q[c->i] : 0;
    c->i++;
    return 1;
}

void cursor__close(hist_qcursor *c)
{
    if (c->scan)
        c->q->src->scan_close(c->scan);
    c->scan = NULL;
}
