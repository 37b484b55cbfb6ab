/*
 * memtable.c: per-tag columnar sample buffers (see memtable.h).
 */
#include "storage/memtable.h"

#include "common/hist_assert.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int membuf_reserve(hist_membuf *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    int64_t *ts = realloc(b->ts, cap * sizeof(*ts));
    if (ts)
        b->ts = ts;
    hist_value *v = realloc(b->v, cap * sizeof(*v));
    if (v)
        b->v = v;
    uint32_t *q = realloc(b->q, cap * sizeof(*q));
    if (q)
        b->q = q;
    uint64_t *lsn = realloc(b->lsn, cap * sizeof(*lsn));
    if (lsn)
        b->lsn = lsn;
    if (!ts || !v || !q || !lsn)
        return HIST_ENOMEM; /* the arrays that did grow stay valid at cap */
    b->cap = cap;
    return 0;
}

int64_t membuf__append(hist_membuf *b, const int64_t *ts, const hist_value *v, const uint32_t *q,
                       size_t n, uint64_t lsn, int64_t now_ns)
{
    /* lsn[] is non-decreasing (memtable.h): sealing and rollback rely on it. */
    HIST_ASSERT(b->n == 0 || b->lsn[b->n - 1] <= lsn);
    size_t before = membuf__bytes(b);
    if (membuf_reserve(b, b->n + n))
        return HIST_ENOMEM;
    if (b->n == 0)
        b->first_write_ns = now_ns;
    memcpy(b->ts + b->n, ts, n * sizeof(*ts));
    memcpy(b->v + b->n, v, n * sizeof(*v));
    if (q)
        memcpy(b->q + b->n, q, n * sizeof(*q));
    else
        memset(b->q + b->n, 0, n * sizeof(*q));
    for (size_t i = 0; i < n; i++)
        b->lsn[b->n + i] = lsn;
    b->n += n;
    return (int64_t)(membuf__bytes(b) - before);
}

int64_t membuf__drop_prefix(hist_membuf *b, size_t k, int64_t now_ns)
{
    size_t before = membuf__bytes(b);
    if (k > b->n)
        k = b->n;
    size_t rest = b->n - k;
    if (rest == 0) {
        /* Free fully sealed buffers: idle tags should cost nothing. */
        membuf__free(b);
        return -(int64_t)before;
    }
    memmove(b->ts, b->ts + k, rest * sizeof(*b->ts));
    memmove(b->v, b->v + k, rest * sizeof(*b->v));
    memmove(b->q, b->q + k, rest * sizeof(*b->q));
    memmove(b->lsn, b->lsn + k, rest * sizeof(*b->lsn));
    b->n = rest;
    /* The remaining writes arrived during the seal: their age starts now
     * (close enough; they are newer than the sealed ones). */
    b->first_write_ns = now_ns;
    return 0 - (int64_t)(before - membuf__bytes(b));
}

int64_t membuf__drop_lsns(hist_membuf *b, uint64_t from, uint64_t to)
{
    /* lsn[] is non-decreasing: the samples to drop are one run [i, j). */
    size_t i = 0;
    while (i < b->n && b->lsn[i] < from)
        i++;
    size_t j = i;
    while (j < b->n && b->lsn[j] <= to)
        j++;
    if (i == j)
        return 0;
    if (i == 0 && j == b->n) {
        size_t before = membuf__bytes(b);
        membuf__free(b);
        return -(int64_t)before;
    }
    size_t rest = b->n - j;
    memmove(b->ts + i, b->ts + j, rest * sizeof(*b->ts));
    memmove(b->v + i, b->v + j, rest * sizeof(*b->v));
    memmove(b->q + i, b->q + j, rest * sizeof(*b->q));
    memmove(b->lsn + i, b->lsn + j, rest * sizeof(*b->lsn));
    b->n -= j - i;
    return 0; /* the capacity stays */
}

void membuf__free(hist_membuf *b)
{
    free(b->ts);
    free(b->v);
    free(b->q);
    free(b->lsn);
    memset(b, 0, sizeof(*b));
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
