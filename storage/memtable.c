/*
 * memtable.c: per-tag columnar sample buffers (see memtable.h).
 */
#include "storage/memtable.h"

#include "common/hist_array.h"
#include "common/hist_assert.h"
#include "storage/chunk.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Moves samples [skip, n) into a new block of cap (>= n - skip) samples. */
static int membuf_relayout(hist_membuf *b, size_t cap, size_t skip)
{
    size_t rest = b->nraw - skip;
    HIST_ASSERT(cap >= rest && cap > 0);
    uint8_t *mem = malloc(cap * HIST_MEMBUF_SAMPLE_BYTES);
    if (!mem)
        return HIST_ENOMEM;
    hist_membuf nb = {mem, b->fz, (uint32_t)rest, (uint32_t)cap, b->first_write_ns};
    if (rest) {
        memcpy(membuf__ts(&nb), membuf__ts(b) + skip, rest * sizeof(int64_t));
        memcpy(membuf__v(&nb), membuf__v(b) + skip, rest * sizeof(hist_value));
        memcpy(membuf__lsn(&nb), membuf__lsn(b) + skip, rest * sizeof(uint64_t));
        memcpy(membuf__q(&nb), membuf__q(b) + skip, rest * sizeof(uint32_t));
    }
    free(b->mem);
    *b = nb;
    return 0;
}

/* Moves samples [from, n) down to position to, inside the block. */
static void membuf_shift(hist_membuf *b, size_t to, size_t from)
{
    size_t rest = b->nraw - from;
    memmove(membuf__ts(b) + to, membuf__ts(b) + from, rest * sizeof(int64_t));
    memmove(membuf__v(b) + to, membuf__v(b) + from, rest * sizeof(hist_value));
    memmove(membuf__lsn(b) + to, membuf__lsn(b) + from, rest * sizeof(uint64_t));
    memmove(membuf__q(b) + to, membuf__q(b) + from, rest * sizeof(uint32_t));
}

int64_t membuf__append(hist_membuf *b, const int64_t *ts, const hist_value *v, const uint32_t *q,
                       size_t n, uint64_t lsn, int64_t now_ns)
{
    /* lsn[] is non-decreasing (memtable.h): sealing and rollback rely on it. */
    HIST_ASSERT(b->nraw == 0 || membuf__lsn(b)[b->nraw - 1] <= lsn);
    HIST_ASSERT(!b->fz || !b->fz->nruns || b->fz->run[b->fz->nruns - 1].lsn_last < lsn);
    /* The frozen block is not touched here (one cache miss less a write at
     * many tags): only the raw block changes. */
    size_t before = b->cap;
    if (n > UINT32_MAX - b->nraw)
        return HIST_ENOMEM; /* a u32 counts the raw samples */
    if (b->nraw + n > b->cap) {
        size_t cap =
            hist_array_cap(b->cap, b->nraw + n, HIST_MEMBUF_SAMPLE_BYTES, HIST_MEMBUF_FIRST);
        if (cap > UINT32_MAX)
            cap = UINT32_MAX;
        if (cap == 0 || membuf_relayout(b, cap, 0))
            return HIST_ENOMEM; /* nothing appended, the buffer as it was */
    }
    if (b->nraw == 0 && !b->fz)
        b->first_write_ns = now_ns;
    memcpy(membuf__ts(b) + b->nraw, ts, n * sizeof(*ts));
    memcpy(membuf__v(b) + b->nraw, v, n * sizeof(*v));
    uint32_t *bq = membuf__q(b) + b->nraw;
    if (q)
        memcpy(bq, q, n * sizeof(*q));
    else
        memset(bq, 0, n * sizeof(*q));
    uint64_t *bl = membuf__lsn(b) + b->nraw;
    for (size_t i = 0; i < n; i++)
        bl[i] = lsn;
    b->nraw += (uint32_t)n;
    return (int64_t)((b->cap - before) * HIST_MEMBUF_SAMPLE_BYTES);
}

static void raw_free(hist_membuf *b)
{
    free(b->mem);
    b->mem = NULL;
    b->nraw = b->cap = 0;
}

/* Drops the first k raw samples; the block shrinks when what is left fits
 * in a quarter of it, and goes when nothing is left. */
static void raw_drop(hist_membuf *b, size_t k)
{
    if (k > b->nraw)
        k = b->nraw;
    size_t rest = b->nraw - k;
    if (rest == 0) {
        raw_free(b); /* idle tags should cost nothing */
        return;
    }
    size_t small = hist_array_cap(0, rest, HIST_MEMBUF_SAMPLE_BYTES, HIST_MEMBUF_FIRST);
    if (k > 0 && !(rest <= b->cap / 4 && small < b->cap && membuf_relayout(b, small, k) == 0)) {
        membuf_shift(b, 0, k);
        b->nraw = (uint32_t)rest;
    }
}

/* A new frozen block: the nfront runs front (logged ones, recovery), runs
 * [from, to) of old (may be NULL when from == to), then back (may be
 * NULL); at least one run. Old runs that were logged stay logged only
 * when no front run is put before them. NULL on ENOMEM. */
static membuf_frozen *frozen_from(const membuf_new_run *front, size_t nfront,
                                  const membuf_frozen *old, size_t from, size_t to,
                                  const membuf_new_run *back)
{
    size_t nruns = nfront + (to - from) + (back != NULL), data = back ? back->len : 0;
    HIST_ASSERT(nruns > 0);
    for (size_t i = 0; i < nfront; i++)
        data += front[i].len;
    for (size_t i = from; i < to; i++)
        data += old->run[i].len;
    membuf_frozen *fz = malloc(sizeof(*fz) + nruns * sizeof(fz->run[0]) + data);
    if (!fz)
        return NULL;
    *fz = (membuf_frozen){(uint32_t)nruns, 0, (uint32_t)data, 0, INT64_MAX, INT64_MIN, 0};
    if (to > from) {
        fz->ts_min = old->ts_min;
        fz->ts_max = old->ts_max;
        if (!nfront && old->nlogged > from) {
            fz->nlogged = (uint32_t)((old->nlogged < to ? old->nlogged : to) - from);
            fz->log_lsn = old->log_lsn;
        }
    }
    uint8_t *out = (uint8_t *)&fz->run[nruns];
    uint32_t off = 0;
    for (size_t i = 0; i < nruns; i++) {
        membuf_run d;
        const uint8_t *bytes;
        const membuf_new_run *r = i < nfront ? &front[i] : back;
        if (i >= nfront && from + (i - nfront) < to) {
            d = old->run[from + (i - nfront)];
            bytes = membuf__run_bytes(old, from + (i - nfront));
        } else {
            d = (membuf_run){0, r->len, r->n, 0, r->lsn_first, r->lsn_last};
            bytes = r->bytes;
            fz->ts_min = r->ts_min < fz->ts_min ? r->ts_min : fz->ts_min;
            fz->ts_max = r->ts_max > fz->ts_max ? r->ts_max : fz->ts_max;
        }
        memcpy(out + off, bytes, d.len);
        d.off = off;
        off += d.len;
        fz->run[i] = d;
        fz->samples += d.n;
    }
    return fz;
}

static membuf_frozen *frozen_build(const membuf_frozen *old, size_t from, size_t to,
                                   const membuf_new_run *r)
{
    return frozen_from(NULL, 0, old, from, to, r);
}

/* Frees the oldest `drop` runs (a seal took them): the rest are rebuilt
 * into a smaller block, or, should that allocation fail, moved down in
 * place. */
static void runs_drop_oldest(hist_membuf *b, size_t drop)
{
    membuf_frozen *fz = b->fz;
    if (drop >= fz->nruns) {
        free(fz);
        b->fz = NULL;
        return;
    }
    membuf_frozen *nf = frozen_build(fz, drop, fz->nruns, NULL);
    if (nf) {
        free(fz);
        b->fz = nf;
        return;
    }
    size_t keep = fz->nruns - drop, data = 0;
    for (size_t i = drop; i < fz->nruns; i++)
        data += fz->run[i].len;
    uint8_t *src = (uint8_t *)membuf__run_bytes(fz, drop);
    uint32_t base = fz->run[drop].off, samples = 0;
    memmove(fz->run, &fz->run[drop], keep * sizeof(fz->run[0]));
    memmove(&fz->run[keep], src, data);
    for (size_t i = 0; i < keep; i++) {
        fz->run[i].off -= base;
        samples += fz->run[i].n;
    }
    fz->nruns = (uint32_t)keep;
    fz->data = (uint32_t)data;
    fz->samples = samples;
    fz->nlogged = fz->nlogged > drop ? fz->nlogged - (uint32_t)drop : 0;
    fz->log_lsn = fz->nlogged ? fz->log_lsn : 0;
}

int64_t membuf__drop_prefix(hist_membuf *b, size_t k, int64_t now_ns)
{
    size_t before = membuf__bytes(b);
    size_t runs = 0;
    while (b->fz && runs < b->fz->nruns && b->fz->run[runs].n <= k)
        k -= b->fz->run[runs++].n;
    bool inside_run = b->fz && runs < b->fz->nruns && k > 0;
    /* Rule 1 (seal.c): a cut never falls inside a run, whose samples share
     * one LSN. Should one, the run stays whole (it is sealed again later,
     * harmlessly: the same samples) rather than lose samples. */
    HIST_ASSERT(!inside_run);
    if (runs)
        runs_drop_oldest(b, runs);
    if (!b->fz || b->fz->nruns == 0)
        raw_drop(b, inside_run ? 0 : k);
    /* The remaining writes arrived during the seal: their age starts now
     * (close enough; they are newer than the sealed ones). */
    b->first_write_ns = membuf__count(b) ? now_ns : 0;
    return 0 - (int64_t)(before - membuf__bytes(b));
}

int64_t membuf__drop_lsns(hist_membuf *b, uint64_t from, uint64_t to)
{
    /* Runs hold durable writes only (memtable.h); refused ones are raw. */
    HIST_ASSERT(!b->fz || !b->fz->nruns || b->fz->run[b->fz->nruns - 1].lsn_last < from);
    /* lsn[] is non-decreasing: the samples to drop are one run [i, j). */
    const uint64_t *lsn = membuf__lsn(b);
    size_t i = 0;
    while (i < b->nraw && lsn[i] < from)
        i++;
    size_t j = i;
    while (j < b->nraw && lsn[j] <= to)
        j++;
    if (i == j)
        return 0;
    if (i == 0 && j == b->nraw) {
        size_t before = membuf__bytes(b);
        raw_free(b);
        if (!b->fz)
            b->first_write_ns = 0;
        return -(int64_t)(before - membuf__bytes(b));
    }
    membuf_shift(b, i, j);
    b->nraw -= (uint32_t)(j - i);
    return 0; /* the capacity stays */
}

void membuf__free(hist_membuf *b)
{
    free(b->fz);
    free(b->mem);
    memset(b, 0, sizeof(*b));
}

/* ---- Views ---- */

/* Decodes run i of fz into arrays of room for its n samples. */
static bool run_decode(const membuf_frozen *fz, size_t i, int64_t *ts, hist_value *v, uint32_t *q)
{
    const membuf_run *r = &fz->run[i];
    return chunk__decode(membuf__run_bytes(fz, i), r->len, ts, v, q, r->n) == (int64_t)r->n;
}

int membuf__view(const hist_membuf *b, membuf_view *out)
{
    memset(out, 0, sizeof(*out));
    if (!b->fz) {
        out->ts = membuf__ts(b);
        out->v = membuf__v(b);
        out->q = membuf__q(b);
        out->lsn = membuf__lsn(b);
        out->n = b->nraw;
        return 0;
    }
    size_t n = membuf__count(b);
    uint8_t *mem = malloc(n * HIST_MEMBUF_SAMPLE_BYTES);
    if (!mem)
        return HIST_ENOMEM;
    int64_t *ts = (int64_t *)(void *)mem;
    hist_value *v = (hist_value *)(void *)(mem + 8 * n);
    uint64_t *lsn = (uint64_t *)(void *)(mem + 16 * n);
    uint32_t *q = (uint32_t *)(void *)(mem + 24 * n);
    size_t at = 0;
    for (size_t i = 0; i < b->fz->nruns; i++) {
        const membuf_run *r = &b->fz->run[i];
        if (!run_decode(b->fz, i, ts + at, v + at, q + at)) {
            free(mem);
            return HIST_ECORRUPT;
        }
        for (size_t j = 0; j < r->n; j++)
            lsn[at + j] = r->lsn_last;
        at += r->n;
    }
    if (b->nraw) {
        memcpy(ts + at, membuf__ts(b), b->nraw * sizeof(*ts));
        memcpy(v + at, membuf__v(b), b->nraw * sizeof(*v));
        memcpy(q + at, membuf__q(b), b->nraw * sizeof(*q));
        memcpy(lsn + at, membuf__lsn(b), b->nraw * sizeof(*lsn));
    }
    *out = (membuf_view){ts, v, q, lsn, n, mem};
    return 0;
}

void membuf__view_release(membuf_view *v)
{
    free(v->owned);
    memset(v, 0, sizeof(*v));
}

bool membuf__may_touch(const hist_membuf *b, int64_t from, int64_t to)
{
    if (b->fz && b->fz->ts_min < to && b->fz->ts_max >= from)
        return true;
    const int64_t *ts = membuf__ts(b);
    for (size_t i = 0; i < b->nraw; i++)
        if (ts[i] >= from && ts[i] < to)
            return true;
    return false;
}

/* ---- Freezing ---- */

size_t membuf__merge_from(const hist_membuf *b, size_t k)
{
    size_t j = b->fz ? b->fz->nruns : 0, s = k;
    while (j > 0 && (b->fz->run[j - 1].n <= 4 * s || j >= HIST_MEMBUF_MAX_RUNS)) {
        s += b->fz->run[j - 1].n;
        j--;
    }
    return j;
}

int64_t membuf__collect_runs(const membuf_frozen *fz, size_t j, hist_msample *out)
{
    size_t at = 0, most = 0;
    for (size_t i = j; fz && i < fz->nruns; i++)
        most = fz->run[i].n > most ? fz->run[i].n : most;
    if (!most)
        return 0;
    int64_t *ts = malloc(most * sizeof(*ts));
    hist_value *v = malloc(most * sizeof(*v));
    uint32_t *q = malloc(most * sizeof(*q));
    int64_t rc = (!ts || !v || !q) ? HIST_ENOMEM : 0;
    for (size_t i = j; rc == 0 && i < fz->nruns; i++) {
        if (!run_decode(fz, i, ts, v, q)) {
            rc = HIST_ECORRUPT;
            break;
        }
        for (size_t x = 0; x < fz->run[i].n; x++, at++)
            out[at] = (hist_msample){ts[x], at, v[x], q[x]};
    }
    free(ts), free(v), free(q);
    return rc ? rc : (int64_t)at;
}

void membuf__collect_raw(const hist_membuf *b, size_t k, hist_msample *out, uint64_t prio)
{
    HIST_ASSERT(k <= b->nraw);
    const int64_t *ts = membuf__ts(b);
    const hist_value *v = membuf__v(b);
    const uint32_t *q = membuf__q(b);
    for (size_t x = 0; x < k; x++)
        out[x] = (hist_msample){ts[x], prio + x, v[x], q[x]};
}

int membuf__install_run(hist_membuf *b, size_t j, size_t k, const membuf_new_run *r, int64_t *delta)
{
    /* first_write_ns stays: frozen samples are still unsealed. */
    HIST_ASSERT(k <= b->nraw && j <= membuf__nruns(b));
    HIST_ASSERT(k == 0 || k == b->nraw || membuf__lsn(b)[k - 1] < membuf__lsn(b)[k]); /* rule 1 */
    size_t before = membuf__bytes(b);
    membuf_frozen *fz = frozen_build(b->fz, 0, j, r);
    if (!fz)
        return HIST_ENOMEM;
    free(b->fz);
    b->fz = fz;
    raw_drop(b, k);
    *delta = (int64_t)membuf__bytes(b) - (int64_t)before;
    return 0;
}

/* ---- Logged runs ---- */

void membuf__mark_logged(hist_membuf *b, uint64_t log_lsn)
{
    HIST_ASSERT(b->fz && b->fz->nruns && log_lsn > b->fz->run[b->fz->nruns - 1].lsn_last);
    b->fz->nlogged = b->fz->nruns;
    b->fz->log_lsn = log_lsn;
}

int membuf__put_logged(hist_membuf *b, const membuf_new_run *rs, size_t n, uint64_t log_lsn,
                       int64_t now_ns, int64_t *delta, int64_t *dsamples)
{
    HIST_ASSERT(n > 0);
    uint64_t upto = rs[n - 1].lsn_last;
    size_t before = membuf__bytes(b), count = membuf__count(b);
    /* What older records put in for these writes: whole runs (of an
     * earlier run record), then a raw prefix (lsn[] is non-decreasing). */
    size_t d = 0;
    while (b->fz && d < b->fz->nruns && b->fz->run[d].lsn_last <= upto)
        d++;
    size_t k = 0;
    while (k < b->nraw && membuf__lsn(b)[k] <= upto)
        k++;
    /* A run record holds every run of its buffer, in LSN order, so no run
     * older records left can be newer than it (only raw samples can). */
    HIST_ASSERT(!b->fz || d == b->fz->nruns);
    membuf_frozen *fz = frozen_from(rs, n, b->fz, d, b->fz ? b->fz->nruns : 0, NULL);
    if (!fz)
        return HIST_ENOMEM;
    fz->nlogged = (uint32_t)n;
    fz->log_lsn = log_lsn;
    free(b->fz);
    b->fz = fz;
    raw_drop(b, k);
    if (count == 0)
        b->first_write_ns = now_ns;
    *delta = (int64_t)membuf__bytes(b) - (int64_t)before;
    *dsamples = (int64_t)membuf__count(b) - (int64_t)count;
    return 0;
}

static int msample_cmp(const void *a, const void *b)
{
    const hist_msample *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    return 0;
}

void msamples__split(const hist_msample *s, size_t n, int64_t *ts, hist_value *v, uint32_t *q)
{
    for (size_t i = 0; i < n; i++) {
        ts[i] = s[i].ts;
        v[i] = s[i].v;
        q[i] = s[i].q;
    }
}

size_t msamples__sort_dedupe(hist_msample *s, size_t n)
{
    int sorted = 1;
    for (size_t i = 1; i < n && sorted; i++)
        if (msample_cmp(&s[i - 1], &s[i]) > 0)
            sorted = 0;
    if (!sorted)
        qsort(s, n, sizeof(*s), msample_cmp);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && s[w - 1].ts == s[i].ts)
            s[w - 1] = s[i]; /* equal ts: the later (higher prio) wins */
        else
            s[w++] = s[i];
    }
    return w;
}
