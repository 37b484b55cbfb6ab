/*
 * ts.c: the timestamp column (see ts.h). Timestamps are strictly
 * increasing int64 ns; every codec but raw divides the deltas by their
 * common unit (their gcd, so ms-resolution data costs as little as s data)
 * and PFOR-packs what is left of them (bits.c).
 *
 * Byte layout (ts codecs; unit = the gcd of all deltas, d[i] = (ts[i] -
 * ts[i-1]) / unit; a chunk of one sample stores i64 t0 and varint 1 only,
 * whatever the codec):
 *   1 raw    n x i64
 *   2 delta  i64 t0, varint unit, varint base, PFOR of n-1 zz(d[i] - base),
 *            base = the median of the first 255 deltas (the period)
 *   3 dod    i64 t0, varint unit, varint d[1], PFOR of n-2 zz(d[i] - d[i-1])
 *   4 grid   i64 t0, varint unit, varint base, PFOR of n-1 zz(k[i] - g[i]),
 *            where k[i] = (ts[i] - t0) / unit and g is the sampling grid:
 *            g[0] = 0, g[i] = g[i-1] + base, except that g[i] = k[i] when
 *            |k[i] - g[i]| > base / 2 (a gap: the grid moves to the
 *            sample). A jittered sample costs one exception, not two.
 *   5 grid_sparse  as 4, but the offsets as a list of the nonzero ones:
 *            varint m, then m x (varint gap, varint zz(k[i] - g[i])), the
 *            gap being the first one's index i - 1, then the difference
 *            to the one before (>= 1). PFOR spends 3 bytes a block of 128
 *            on its width, base and exception count even when 2 samples
 *            in 100 are off the grid (0.023 B a sample); this spends about
 *            2 bytes an off-grid sample and nothing else.
 * grid usually wins on jittered plant data, delta where the period is
 * fractional in the unit (the grid would drift), dod on accelerating
 * deltas; the encoder tries them all (chunk.c).
 */
#include "storage/codec/ts.h"

#include "storage/codec/bits.h"

#include <stdlib.h>

/* ---- The common unit ---------------------------------------------------------------- */

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The common unit of all deltas (ts strictly increasing, n >= 2). */
static uint64_t ts_unit(const int64_t *ts, size_t n)
{
    uint64_t g = 0, last = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t d = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        if (d == last)
            continue; /* the common case: the same period again */
        last = d;
        if (d != g)
            g = gcd64(d, g);
        if (g == 1)
            break;
    }
    return g ? g : 1;
}

/* d[i] = (ts[i+1] - ts[i]) / unit into d[0..n-1). */
static void ts_divide(const int64_t *ts, size_t n, uint64_t unit, uint64_t *d)
{
    uint64_t last_d = 0, last_q = 0; /* divisions are slow; periods repeat */
    for (size_t i = 1; i < n; i++) {
        uint64_t delta = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        if (delta != last_d) {
            last_d = delta;
            last_q = delta / unit;
        }
        d[i - 1] = last_q;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median of the first deltas: the sampling period. */
static uint64_t ts_base(const uint64_t *d, size_t nd)
{
    uint64_t sample[255];
    size_t ns = nd < 255 ? nd : 255;
    memcpy(sample, d, ns * sizeof(uint64_t));
    qsort(sample, ns, sizeof(uint64_t), cmp_u64);
    return sample[ns / 2];
}

/* Inside the grid's tolerance: |off| <= half, off taken as signed. */
static inline int grid_near(uint64_t off, uint64_t half)
{
    return off + half <= 2 * half;
}

/* ---- Writing -------------------------------------------------------------------------- */

/* The deltas d[0..nd) in place as grid offsets. */
static void grid_offsets(uint64_t *d, size_t nd, uint64_t base)
{
    uint64_t k = 0, grid = 0, half = base / 2;
    for (size_t i = 0; i < nd; i++) {
        k += d[i];
        grid += base;
        uint64_t off = k - grid;
        d[i] = codec__zigzag(off);
        if (!grid_near(off, half))
            grid = k;
    }
}

/* The nonzero words of x[0..n) as grid_sparse lists them. A list longer
 * than a quarter of the words loses to PFOR anyway: w goes bad. */
static void put_sparse(codec_wr *w, const uint64_t *x, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i] != 0;
    if (m > n / 4) {
        w->bad = 1;
        return;
    }
    codec__put_varint(w, m);
    size_t last = 0;
    for (size_t i = 0, seen = 0; i < n; i++) {
        if (x[i] == 0)
            continue;
        codec__put_varint(w, seen++ ? i - last : i);
        codec__put_varint(w, x[i]);
        last = i;
    }
}

void codec__ts_encode(codec_wr *w, uint8_t codec, const int64_t *ts, size_t n, uint64_t *tmp)
{
    if (codec == CODEC_TS_RAW) {
        codec__put_u64s(w, (const uint64_t *)ts, n);
        return;
    }
    if (codec == CODEC_TS_DOD && n < 3) {
        w->bad = 1; /* grid or delta: as small or smaller */
        return;
    }
    codec__put_u64(w, (uint64_t)ts[0]);
    if (n == 1) {
        codec__put_varint(w, 1);
        return;
    }
    uint64_t unit = ts_unit(ts, n);
    codec__put_varint(w, unit);
    size_t nd = n - 1;
    ts_divide(ts, n, unit, tmp);
    if (codec == CODEC_TS_DOD) {
        codec__put_varint(w, tmp[0]);
        uint64_t prev = tmp[0];
        for (size_t i = 1; i < nd; i++) {
            uint64_t d = tmp[i];
            tmp[i - 1] = codec__zigzag(d - prev);
            prev = d;
        }
        codec__pfor_encode(w, tmp, nd - 1);
        return;
    }
    uint64_t base = ts_base(tmp, nd);
    codec__put_varint(w, base);
    if (codec == CODEC_TS_DELTA) {
        for (size_t i = 0; i < nd; i++)
            tmp[i] = codec__zigzag(tmp[i] - base);
    } else {
        grid_offsets(tmp, nd, base);
    }
    if (codec == CODEC_TS_GRID_SPARSE)
        put_sparse(w, tmp, nd);
    else
        codec__pfor_encode(w, tmp, nd);
}

/* ---- Reading: grid -------------------------------------------------------------------- */

typedef struct {
    uint64_t gns;  /* the grid point before the block, in ns */
    uint64_t step; /* base * unit */
    uint64_t unit, half;
} grid_state;

/* Off-grid samples laid on a column of grid points, in position order.
 * An offset beyond half a period is a gap: it moves the grid, so every
 * later sample shifts by it. */
typedef struct {
    uint64_t *o; /* the column: grid points, then the samples */
    uint64_t unit, half;
    uint64_t shift; /* what the gaps so far moved the grid, in ns */
    size_t next;    /* the first position not yet shifted */
} grid_patch;

/* o[0..cnt) = the grid points after gns. */
static inline void grid_fill(uint64_t *o, size_t cnt, uint64_t gns, uint64_t step)
{
    for (size_t j = 0; j < cnt; j++)
        o[j] = gns + (j + 1) * step;
}

/* The sample at position at (>= p->next) is off the grid by zz(offset). */
static inline void grid_patch_at(grid_patch *p, size_t at, uint64_t zz)
{
    if (p->shift)
        for (size_t j = p->next; j < at; j++)
            p->o[j] += p->shift;
    uint64_t off = codec__unzigzag(zz) * p->unit;
    p->o[at] += p->shift + off;
    if (!grid_near(codec__unzigzag(zz), p->half))
        p->shift += off;
    p->next = at + 1;
}

/* Shifts what is left of o[0..cnt) after the last off-grid sample. */
static inline void grid_patch_end(grid_patch *p, size_t cnt)
{
    if (p->shift)
        for (size_t j = p->next; j < cnt; j++)
            p->o[j] += p->shift;
}

/* Whether u[0..n) strictly increases (as signed); HIST_ECORRUPT if not. */
static int increasing_or_corrupt(codec_rd *r, const uint64_t *u, size_t n)
{
    int bad = 0;
    for (size_t i = 1; i < n; i++)
        bad |= (int64_t)u[i] <= (int64_t)u[i - 1];
    return bad ? CORRUPT(r) : 0;
}

/* A grid block whose offsets are all zero but for a few exceptions (the
 * common case: jitter is rare; head says width 0, ref 0): fills the
 * arithmetic sequence of the grid, then applies the exceptions, in
 * position order (grid_patch). */
static int grid_sparse_block(codec_rd *r, const codec_pfor_head *h, uint64_t *o, size_t cnt,
                             grid_state *g)
{
    const uint64_t gns = g->gns, step = g->step; /* o may alias g */
    const uint8_t *pos = codec__take(r, h->nexc, 1);
    if (!pos)
        return CORRUPT(r);
    grid_fill(o, cnt, gns, step);
    grid_patch p = {o, g->unit, g->half, 0, 0};
    for (size_t e = 0; e < h->nexc; e++) {
        uint64_t zz;
        if (pos[e] >= cnt || pos[e] < p.next || !codec__get_varint(r, &zz))
            return CORRUPT(r); /* positions must increase, as the encoder writes them */
        grid_patch_at(&p, pos[e], zz);
    }
    grid_patch_end(&p, cnt);
    g->gns = gns + cnt * step + p.shift;
    return 0;
}

/* Any other grid block: zigzagged offsets from the grid, in units. An
 * on-grid sample (offset 0, nearly all of them) takes the short,
 * well-predicted branch. */
static int grid_dense_block(codec_rd *r, const codec_pfor_head *h, uint64_t *o, size_t cnt,
                            grid_state *g)
{
    int rc = codec__pfor_body(r, h, o, cnt);
    if (rc < 0)
        return rc;
    uint64_t gns = g->gns;
    const uint64_t step = g->step, unit = g->unit, half = g->half; /* o may alias g */
    for (size_t i = 0; i < cnt; i++) {
        gns += step;
        if (o[i] == 0) {
            o[i] = gns;
            continue;
        }
        uint64_t off = codec__unzigzag(o[i]);
        uint64_t cur = gns + off * unit;
        if (!grid_near(off, half))
            gns = cur; /* a gap: the grid moves to the sample */
        o[i] = cur;
    }
    g->gns = gns;
    return 0;
}

/* u[1..n) from the grid blocks; order is checked in one pass at the end. */
static int decode_grid(codec_rd *r, uint64_t *u, size_t n, uint64_t unit, uint64_t base)
{
    grid_state g = {u[0], base * unit, unit, base / 2};
    for (size_t b = 1; b < n; b += CODEC_PFOR_BLOCK) {
        size_t cnt = n - b < CODEC_PFOR_BLOCK ? n - b : CODEC_PFOR_BLOCK;
        codec_pfor_head h;
        int rc = codec__pfor_head(r, cnt, &h);
        if (rc == 0 && h.width == 0 && h.ref == 0)
            rc = grid_sparse_block(r, &h, u + b, cnt, &g);
        else if (rc == 0)
            rc = grid_dense_block(r, &h, u + b, cnt, &g);
        if (rc < 0)
            return rc;
    }
    return increasing_or_corrupt(r, u, n);
}

/* u[1..n) from the grid and the list of off-grid samples (grid_sparse):
 * as grid_sparse_block() over the whole column, the positions varints. */
static int decode_grid_sparse(codec_rd *r, uint64_t *u, size_t n, uint64_t unit, uint64_t base)
{
    const size_t nd = n - 1;
    uint64_t m;
    if (!codec__get_varint(r, &m) || m > nd)
        return CORRUPT(r);
    grid_fill(u + 1, nd, u[0], base * unit);
    grid_patch p = {u + 1, unit, base / 2, 0, 0};
    uint64_t at = 0;
    for (uint64_t e = 0; e < m; e++) {
        uint64_t gap, zz;
        if (!codec__get_varint(r, &gap) || !codec__get_varint(r, &zz) || zz == 0)
            return CORRUPT(r);
        if (e == 0 ? gap >= nd : gap == 0 || gap >= nd - at)
            return CORRUPT(r); /* indices must increase and stay in the column */
        at = e ? at + gap : gap;
        grid_patch_at(&p, (size_t)at, zz);
    }
    grid_patch_end(&p, nd);
    return increasing_or_corrupt(r, u, n);
}

/* ---- Reading: delta, dod, raw ------------------------------------------------------------ */

static int decode_delta(codec_rd *r, uint64_t *u, size_t n, uint64_t unit, uint64_t base)
{
    int rc = codec__pfor_decode(r, u + 1, n - 1);
    if (rc < 0)
        return rc;
    int bad = 0;
    uint64_t prev = u[0];
    for (size_t i = 1; i < n; i++) {
        uint64_t cur = prev + (base + codec__unzigzag(u[i])) * unit;
        bad |= (int64_t)cur <= (int64_t)prev;
        u[i] = cur;
        prev = cur;
    }
    return bad ? CORRUPT(r) : 0;
}

static int decode_dod(codec_rd *r, uint64_t *u, size_t n, uint64_t unit, uint64_t first)
{
    uint64_t cur = u[0] + first * unit;
    int bad = (int64_t)cur <= (int64_t)u[0];
    u[1] = cur;
    if (n > 2) {
        int rc = codec__pfor_decode(r, u + 2, n - 2);
        if (rc < 0)
            return rc;
    }
    uint64_t d = first;
    for (size_t i = 2; i < n; i++) {
        d += codec__unzigzag(u[i]);
        uint64_t next = cur + d * unit;
        bad |= (int64_t)next <= (int64_t)cur;
        u[i] = next;
        cur = next;
    }
    return bad ? CORRUPT(r) : 0;
}

static int decode_raw(codec_rd *r, int64_t *ts, size_t n)
{
    const uint8_t *p = codec__take(r, n, 8);
    if (!p)
        return CORRUPT(r);
    for (size_t i = 0; i < n; i++) {
        ts[i] = (int64_t)codec__load64(p + 8 * i);
        if (i && ts[i] <= ts[i - 1])
            return CORRUPT(r);
    }
    return 0;
}

int codec__ts_decode(codec_rd *r, uint8_t codec, int64_t *ts, size_t n)
{
    if (codec == CODEC_TS_RAW)
        return decode_raw(r, ts, n);
    uint64_t t0, unit, first;
    if (!codec__get_u64(r, &t0) || !codec__get_varint(r, &unit) || unit == 0)
        return CORRUPT(r);
    ts[0] = (int64_t)t0;
    if (n == 1)
        return 0;
    if (!codec__get_varint(r, &first))
        return CORRUPT(r);
    uint64_t *u = (uint64_t *)ts; /* same-width unsigned alias is allowed */
    switch (codec) {
    case CODEC_TS_GRID:
        return decode_grid(r, u, n, unit, first);
    case CODEC_TS_GRID_SPARSE:
        return decode_grid_sparse(r, u, n, unit, first);
    case CODEC_TS_DELTA:
        return decode_delta(r, u, n, unit, first);
    case CODEC_TS_DOD:
        return decode_dod(r, u, n, unit, first);
    }
    return CORRUPT(r);
}
