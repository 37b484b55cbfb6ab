/*
 * fuzz_payload.c: the WAL's write payloads (storage/wal_payload.c,
 * versions 1 and 3), which recovery reads from disk (libFuzzer).
 *
 * 1. The input as a payload: payload__decode never crashes or reads past
 *    the input, and every series it hands over has 1 <= n samples, no more
 *    than the input has bytes (so what it allocates is bounded by the input).
 * 2. A batch built from the input (up to 8 series: tag ids, counts, times
 *    anywhere in the valid range, values and qualities from its bytes) is
 *    encoded and decoded again: the same series, samples and qualities.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/db_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SERIES 8
#define MAX_N      16

typedef struct {
    size_t size;
} bound_check;

static int check_bounds(void *ctx, uint32_t tag, size_t n, const int64_t *ts, const hist_value *v,
                        const uint32_t *q)
{
    (void)tag, (void)ts, (void)v, (void)q;
    const bound_check *c = ctx;
    if (n == 0 || n > c->size)
        abort();
    return 0;
}

typedef struct {
    const hist_series *s;
    size_t ns, seen;
} same_check;

static int check_same(void *ctx, uint32_t tag, size_t n, const int64_t *ts, const hist_value *v,
                      const uint32_t *q)
{
    same_check *c = ctx;
    while (c->seen < c->ns && c->s[c->seen].n == 0)
        c->seen++; /* empty series are not handed over */
    if (c->seen >= c->ns)
        abort();
    const hist_series *w = &c->s[c->seen++];
    if (w->tag != tag || w->n != n || memcmp(w->ts, ts, n * sizeof *ts) ||
        memcmp(w->v, v, n * sizeof *v))
        abort();
    for (size_t j = 0; j < n; j++)
        if ((w->q ? w->q[j] : 0) != q[j])
            abort();
    return 0;
}

/* Takes k bytes of the input as a little-endian number (0 past its end). */
static uint64_t take(const uint8_t **p, const uint8_t *end, int k)
{
    uint64_t x = 0;
    for (int i = 0; i < k && *p < end; i++)
        x |= (uint64_t) * (*p)++ << (8 * i);
    return x;
}

static void roundtrip(const uint8_t *data, size_t size)
{
    static hist_series s[MAX_SERIES];
    static int64_t ts[MAX_SERIES][MAX_N];
    static hist_value v[MAX_SERIES][MAX_N];
    static uint32_t q[MAX_SERIES][MAX_N];
    const uint8_t *p = data, *end = data + size;
    size_t ns = 1 + take(&p, end, 1) % MAX_SERIES;
    for (size_t i = 0; i < ns; i++) {
        uint64_t flags = take(&p, end, 1);
        s[i].tag = (uint32_t)take(&p, end, 4);
        s[i].n = take(&p, end, 1) % (MAX_N + 1);
        s[i].ts = ts[i];
        s[i].v = v[i];
        s[i].q = flags & 1 ? q[i] : NULL;
        for (size_t j = 0; j < s[i].n; j++) {
            /* anywhere in [HIST_TS_MIN, HIST_TS_MAX], both ends included */
            uint64_t span = (uint64_t)HIST_TS_MAX - (uint64_t)HIST_TS_MIN + 1;
            ts[i][j] = (int64_t)((uint64_t)HIST_TS_MIN + take(&p, end, 8) % span);
            v[i][j].bits = take(&p, end, 8);
            q[i][j] = (uint32_t)take(&p, end, flags & 2 ? 4 : 1);
        }
    }
    uint8_t *buf = malloc(payload__bound(s, ns));
    if (!buf)
        return;
    size_t len = payload__encode(s, ns, buf);
    same_check c = {s, ns, 0};
    if (payload__decode(buf, len, check_same, &c) != 0)
        abort();
    while (c.seen < ns && s[c.seen].n == 0)
        c.seen++;
    if (c.seen != ns)
        abort();
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1); /* exactly size bytes: ASan sees past it */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    bound_check c = {size};
    (void)payload__decode(copy, size, check_bounds, &c);
    free(copy);
    roundtrip(data, size);
    return 0;
}
