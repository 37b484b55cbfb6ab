/*
 * memtable.c: per-tag columnar sample buffers (see memtable.h).
 */
#include "storage/memtable.h"

#include "common/hist_array.h"
#include "common/hist_assert.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Moves samples [skip, n) into a new block of cap (>= n - skip) samples. */
static int membuf_relayout(hist_membuf *b, size_t cap, size_t skip)
{
    size_t rest = b->n - skip;
    HIST_ASSERT(cap >= rest && cap > 0);
    uint8_t *mem = malloc(cap * HIST_MEMBUF_SAMPLE_BYTES);
    if (!mem)
        return HIST_ENOMEM;
    hist_membuf nb = {mem, rest, cap, b->first_write_ns};
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
    size_t rest = b->n - from;
    memmove(membuf__ts(b) + to, membuf__ts(b) + from, rest * sizeof(int64_t));
    memmove(membuf__v(b) + to, membuf__v(b) + from, rest * sizeof(hist_value));
    memmove(membuf__lsn(b) + to, membuf__lsn(b) + from, rest * sizeof(uint64_t));
    memmove(membuf__q(b) + to, membuf__q(b) + from, rest * sizeof(uint32_t));
}

int64_t membuf__append(hist_membuf *b, const int64_t *ts, const hist_value *v, const uint32_t *q,
                       size_t n, uint64_t lsn, int64_t now_ns)
{
    /* lsn[] is non-decreasing (memtable.h): sealing and rollback rely on it. */
    HIST_ASSERT(b->n == 0 || membuf__lsn(b)[b->n - 1] <= lsn);
    size_t before = membuf__bytes(b);
    if (n > SIZE_MAX - b->n)
        return HIST_ENOMEM;
    if (b->n + n > b->cap) {
        size_t cap = hist_array_cap(b->cap, b->n + n, HIST_MEMBUF_SAMPLE_BYTES, HIST_MEMBUF_FIRST);
        if (cap == 0 || membuf_relayout(b, cap, 0))
            return HIST_ENOMEM; /* nothing appended, the buffer as it was */
    }
    if (b->n == 0)
        b->first_write_ns = now_ns;
    memcpy(membuf__ts(b) + b->n, ts, n * sizeof(*ts));
    memcpy(membuf__v(b) + b->n, v, n * sizeof(*v));
    uint32_t *bq = membuf__q(b) + b->n;
    if (q)
        memcpy(bq, q, n * sizeof(*q));
    else
        memset(bq, 0, n * sizeof(*q));
    uint64_t *bl = membuf__lsn(b) + b->n;
    for (size_t i = 0; i < n; i++)
        bl[i] = lsn;
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
    /* What is left fits in a quarter of the block: move it into a smaller
     * one (the budget follows what is buffered); else, or when that
     * allocation fails, move it down in place. */
    size_t small = hist_array_cap(0, rest, HIST_MEMBUF_SAMPLE_BYTES, HIST_MEMBUF_FIRST);
    if (k > 0 && !(rest <= b->cap / 4 && small < b->cap && membuf_relayout(b, small, k) == 0)) {
        membuf_shift(b, 0, k);
        b->n = rest;
    }
    /* The remaining writes arrived during the seal: their age starts now
     * (close enough; they are newer than the sealed ones). */
    b->first_write_ns = now_ns;
    return 0 - (int64_t)(before - membuf__bytes(b));
}

int64_t membuf__drop_lsns(hist_membuf *b, uint64_t from, uint64_t to)
{
    /* lsn[] is non-decreasing: the samples to drop are one run [i, j). */
    const uint64_t *lsn = membuf__lsn(b);
    size_t i = 0;
    while (i < b->n && lsn[i] < from)
        i++;
    size_t j = i;
    while (j < b->n && lsn[j] <= to)
        j++;
    if (i == j)
        return 0;
    if (i == 0 && j == b->n) {
        size_t before = membuf__bytes(b);
        membuf__free(b);
        return -(int64_t)before;
    }
    membuf_shift(b, i, j);
    b->n -= j - i;
    return 0; /* the capacity stays */
}

void membuf__free(hist_membuf *b)
{
    free(b->mem);
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
