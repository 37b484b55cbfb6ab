/*
 * chunk.c: the chunk codecs (see chunk.h): one tag's sorted samples in, a
 * self-contained byte string out, and back, bit-exactly.
 *
 * Every column is encoded with each codec that applies; the smallest wins,
 * per chunk. Then zstd (level 1) is tried over the winning column body and
 * kept only where it halves it (ZSTD_MIN_GAIN_*). Decoding checks every
 * length, count and codec id against the buffer: hist_chunk_decode() never
 * reads or writes out of bounds, whatever the input, and reports
 * HIST_ECORRUPT; decoded timestamps are checked to be strictly increasing
 * and bools to be 0 or 1, so a caller can rely on both.
 *
 * Speed: decoding is fixed-width bit unpacking plus one pass per column;
 * no allocation except for zstd columns. Encoding tries every candidate
 * (several passes and two scratch buffers per chunk): it is the slow side,
 * paid once per chunk by the sealer. bench/bench_codec.c measures both.
 *
 * Byte format (all integers little-endian; "varint" = unsigned LEB128, at
 * most 10 bytes; zz(x) = zigzag of a signed 64-bit x):
 *
 *   header, 28 bytes
 *     0  "HCK1"
 *     4  u8  version (1)
 *     5  u8  type (hist_type: 1 float64, 2 int64, 3 bool)
 *     6  u8  ts codec      7 u8 value codec      8 u8 quality codec
 *     9  u8[3] zero
 *     12 u32 count (>= 1: a chunk is never empty, encode of 0 samples is
 *            HIST_EINVAL)
 *     16 u32 ts bytes      20 u32 value bytes    24 u32 quality bytes
 *   then the three column bodies, back to back; the chunk is exactly
 *   28 + ts + value + quality bytes long.
 *
 *   A codec id with bit 0x80 set means "zstd over the body": the column is
 *   u32 raw length, then one zstd frame that decompresses to exactly that
 *   many bytes: the body of codec (id & 0x7f).
 *
 *   PFOR stream (n values known from context): blocks of 128 values (the last
 *   one shorter). Per block: u8 (width w 0..64 | 0x80 if exceptions), varint
 *   ref (the block minimum), [u8 exceptions - 1], ceil(cnt * w / 8) bytes of
 *   w-bit values, LSB first, value = ref + packed; then, if exceptions, their
 *   in-block positions (u8, increasing) and varints (value - ref) that
 *   replace the packed value there (packed as 0). The width and exceptions
 *   are chosen per block for the smallest size; fixed-width unpacking keeps
 *   decoding fast.
 *
 *   Timestamps (ts codecs)
 *     1 raw      n x i64
 *     2 delta    i64 t0, varint unit, [varint base, PFOR of n-1 zz(d - base)]
 *                where d = (ts[i] - ts[i-1]) / unit, unit = the gcd of all
 *                deltas (so ms-resolution data costs as little as s data),
 *                base = the median delta (the sampling period)
 *     3 dod      i64 t0, varint unit, [varint d1, PFOR of n-2 zz(d[i]-d[i-1])]
 *     4 grid     i64 t0, varint unit, [varint base, PFOR of n-1 zz(k[i] - g[i])]
 *                where k[i] = (ts[i] - t0) / unit and g is the sampling grid:
 *                g[0] = 0, g[i] = g[i-1] + base, except that g[i] = k[i] when
 *                |k[i] - g[i]| > base / 2 (a gap: the grid moves to the
 *                sample). A jittered sample costs one exception, not two.
 *     grid usually wins on jittered plant data, delta where the period is
 *     fractional in the unit (the grid would drift), dod on accelerating
 *     deltas.
 *
 *   Values (value codecs)
 *     16 raw      n x u64 bits
 *     17 const    u64 bits (every value has this bit pattern)
 *     18 rle      varint runs, runs x (varint length >= 1, u64 bits)
 *     19 gorilla  Gorilla XOR bit stream (LSB-first bit order): first value
 *                 64 bits; then 0 = same, 10 + meaningful bits in the previous
 *                 window, 11 + 5-bit leading zeros + 6-bit (length - 1) + bits
 *     20 alp_for  ALP-style decimals: u8 e (0..18), PFOR of k[i] + 2^63,
 *                 varint exceptions, their positions (varint gaps: first
 *                 absolute, then differences >= 1), their u64 bits.
 *                 value = (double)k / 10^e, checked bit-exactly at encode;
 *                 everything that does not round-trip (NaN, Inf, -0.0, too
 *                 many digits) is an exception, whose k is the previous k.
 *     21 alp_delta  as 20, but PFOR of zz(k[0]), zz(k[i] - k[i-1])
 *     22 int_for    (int64/bool) PFOR of x[i] + 2^63
 *     23 int_delta  (int64/bool) PFOR of zz(x[0]), zz(x[i] - x[i-1])
 *     24 alp_dod    as 20, but PFOR of zz(d[i] - d[i-1]), d[i] = k[i] - k[i-1],
 *                   k[-1] = d[-1] = 0 (ramps: a moving valve costs ~0 bits)
 *     25 int_dod    (int64/bool) as 24 on x
 *     26 int_dfor   (int64/bool) PFOR of (x[i] - x[i-1]) + 2^63, x[-1] = 0:
 *                   deltas without zigzag, so the block minimum takes out
 *                   a counter's typical increment (one bit less than 23)
 *     Float columns use 16..21 and 24, int64/bool columns 16..18, 22, 23,
 *     25 and 26. Bool
 *     values must be 0 or 1 (checked at encode and decode).
 *
 *   Quality (quality codecs)
 *     32 const    varint q (all samples; all Good costs one byte)
 *     33 rle      varint runs, runs x (varint length >= 1, varint q)
 *     34 raw      n x u32
 *
 * Chunk sizes: a column length is a u32, so a chunk holds at most
 * HIST_CHUNK_MAX_SAMPLES samples (raw columns must fit).
 */
#include "storage/chunk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define CHUNK_MAGIC   "HCK1"
#define CHUNK_VERSION 1
#define CHUNK_HEADER  28
#define PFOR_BLOCK    128
#define ALP_MAX_E     18
#define ZSTD_MIN_BODY 128 /* below this zstd's frame overhead never pays */
#define ZSTD_LEVEL    1
/* zstd is kept only where it makes a column at most NUM/DEN of its size:
 * inflating costs decode time (a fresh ZSTD_DCtx per column: at 3/4, zstd
 * columns took ~20 % of bench_codec's decode time), so a small gain is not
 * worth it. */
#ifndef ZSTD_MIN_GAIN_NUM
#define ZSTD_MIN_GAIN_NUM 1
#define ZSTD_MIN_GAIN_DEN 2
#endif
#define HIST_CHUNK_MAX_SAMPLES ((UINT32_MAX - 64u) / 8u)

enum {
    C_TS_RAW = 1,
    C_TS_DELTA = 2,
    C_TS_DOD = 3,
    C_TS_GRID = 4,
    C_V_RAW = 16,
    C_V_CONST = 17,
    C_V_RLE = 18,
    C_V_GORILLA = 19,
    C_V_ALP_FOR = 20,
    C_V_ALP_DELTA = 21,
    C_V_INT_FOR = 22,
    C_V_INT_DELTA = 23,
    C_V_ALP_DOD = 24,
    C_V_INT_DOD = 25,
    C_V_INT_DFOR = 26,
    C_Q_CONST = 32,
    C_Q_RLE = 33,
    C_Q_RAW = 34,
    C_ZSTD = 0x80,
};

#define SIGN_BIAS (UINT64_C(1) << 63)

static const double pow10_table[ALP_MAX_E + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
};

/* ---- Small helpers ------------------------------------------------------ */

static inline uint64_t zigzag(uint64_t x)
{
    return (x << 1) ^ (uint64_t)(-(int64_t)(x >> 63));
}

static inline uint64_t unzigzag(uint64_t u)
{
    return (u >> 1) ^ (uint64_t)(-(int64_t)(u & 1));
}

static inline unsigned bit_length(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

static inline uint64_t load64le(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

static inline void store64le(uint8_t *p, uint64_t x)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    memcpy(p, &x, 8);
}

static inline uint32_t load32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store32le(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)x;
    p[1] = (uint8_t)(x >> 8);
    p[2] = (uint8_t)(x >> 16);
    p[3] = (uint8_t)(x >> 24);
}

/* ---- Writer: bounded, sticky error ---------------------------------------- */

typedef struct {
    uint8_t *p, *end;
    int bad; /* set when something did not fit; the candidate is dropped */
} wbuf;

static void w_bytes(wbuf *w, const void *src, size_t len)
{
    if (w->bad || (size_t)(w->end - w->p) < len) {
        w->bad = 1;
        return;
    }
    memcpy(w->p, src, len);
    w->p += len;
}

static void w_u8(wbuf *w, uint8_t x)
{
    w_bytes(w, &x, 1);
}

static void w_u64(wbuf *w, uint64_t x)
{
    uint8_t b[8];
    store64le(b, x);
    w_bytes(w, b, 8);
}

static void w_varint(wbuf *w, uint64_t x)
{
    uint8_t b[10];
    size_t n = 0;
    while (x >= 0x80) {
        b[n++] = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    b[n++] = (uint8_t)x;
    w_bytes(w, b, n);
}

/* ---- Reader: every read checked against the end --------------------------- */

typedef struct {
    const uint8_t *p, *end;
} rbuf;

static int r_u8(rbuf *r, uint8_t *x)
{
    if (r->p >= r->end)
        return -1;
    *x = *r->p++;
    return 0;
}

static int r_u64(rbuf *r, uint64_t *x)
{
    if (r->end - r->p < 8)
        return -1;
    *x = load64le(r->p);
    r->p += 8;
    return 0;
}

static int r_varint(rbuf *r, uint64_t *x)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t b;
        if (r_u8(r, &b) < 0)
            return -1;
        if (shift == 63 && b > 1)
            return -1; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *x = v;
            return 0;
        }
    }
    return -1;
}

/* ---- PFOR: blocks of fixed-width values with patched exceptions ----------- */

static unsigned varint_len_for_bits(unsigned bits)
{
    return bits <= 7 ? 1u : (bits + 6u) / 7u;
}

/* Picks the width that makes this block smallest; *nexc gets the number of
 * values wider than it (stored as exceptions). */
static unsigned pfor_choose_width(const uint32_t hist[65], size_t cnt, size_t *nexc)
{
    size_t best_cost = SIZE_MAX, exc = 0, exc_cost = 0;
    unsigned best_w = 64;
    *nexc = 0;
    for (int w = 64; w >= 0; w--) {
        if (w < 64) { /* values of bit length w + 1 become exceptions */
            exc += hist[w + 1];
            exc_cost += hist[w + 1] * (1 + varint_len_for_bits((unsigned)w + 1));
        }
        if (exc > PFOR_BLOCK)
            break;
        size_t cost = (cnt * (size_t)w + 7) / 8 + (exc ? 1 + exc_cost : 0);
        if (cost <= best_cost) {
            best_cost = cost;
            best_w = (unsigned)w;
            *nexc = exc;
        }
    }
    return best_w;
}

static void pfor_encode_block(wbuf *w, const uint64_t *x, size_t cnt)
{
    uint64_t ref = x[0];
    for (size_t i = 1; i < cnt; i++)
        if (x[i] < ref)
            ref = x[i];
    uint32_t hist[65] = {0};
    for (size_t i = 0; i < cnt; i++)
        hist[bit_length(x[i] - ref)]++;
    size_t nexc;
    unsigned width = pfor_choose_width(hist, cnt, &nexc);
    w_u8(w, (uint8_t)(width | (nexc ? 0x80 : 0)));
    w_varint(w, ref);
    if (nexc)
        w_u8(w, (uint8_t)(nexc - 1));

    uint8_t packed[PFOR_BLOCK * 8 + 16];
    size_t nbytes = (cnt * width + 7) / 8;
    if (width > 0) {
        memset(packed, 0, nbytes + 16);
        for (size_t i = 0; i < cnt; i++) {
            uint64_t d = x[i] - ref;
            if (width < 64 && (d >> width))
                continue; /* an exception: packed as 0 */
            size_t bit = i * width, byte = bit >> 3;
            unsigned sh = (unsigned)(bit & 7);
            store64le(packed + byte, load64le(packed + byte) | (d << sh));
            if (sh && sh + width > 64)
                packed[byte + 8] |= (uint8_t)(d >> (64 - sh));
        }
        w_bytes(w, packed, nbytes);
    }
    if (nexc) {
        for (size_t i = 0; i < cnt; i++)
            if (width < 64 && ((x[i] - ref) >> width))
                w_u8(w, (uint8_t)i);
        for (size_t i = 0; i < cnt; i++)
            if (width < 64 && ((x[i] - ref) >> width))
                w_varint(w, x[i] - ref);
    }
}

static void pfor_encode(wbuf *w, const uint64_t *x, size_t n)
{
    for (size_t b = 0; b < n; b += PFOR_BLOCK)
        pfor_encode_block(w, x + b, n - b < PFOR_BLOCK ? n - b : PFOR_BLOCK);
}

/* Reads cnt values of width bits (1..64) at src; src..end is readable. */
static void unpack_bits(const uint8_t *src, const uint8_t *end, size_t cnt, unsigned width,
                        uint64_t ref, uint64_t *out)
{
    uint64_t mask = width == 64 ? ~UINT64_C(0) : (UINT64_C(1) << width) - 1;
    size_t avail = (size_t)(end - src), i = 0;
    if (width <= 56 && avail >= 8) {
        /* One unaligned 8-byte load per value while 8 bytes remain. */
        size_t nfast = ((avail - 8) * 8 + 7) / width + 1;
        if (nfast > cnt)
            nfast = cnt;
        for (; i < nfast; i++) {
            size_t bit = i * width;
            out[i] = ref + ((load64le(src + (bit >> 3)) >> (bit & 7)) & mask);
        }
    }
    for (; i < cnt; i++) { /* near the end, or wide values: copy first */
        size_t bit = i * width, byte = bit >> 3;
        unsigned sh = (unsigned)(bit & 7);
        uint8_t tmp[16] = {0};
        size_t k = avail - byte < 16 ? avail - byte : 16;
        memcpy(tmp, src + byte, k);
        uint64_t v = load64le(tmp) >> sh;
        if (sh && sh + width > 64)
            v |= load64le(tmp + 8) << (64 - sh);
        out[i] = ref + (v & mask);
    }
}

/* Decodes n values into out. -1 on any malformed input. */
/* Decodes one block of cnt values into o. Returns 1 for a block of zeros
 * (width 0, ref 0, no exceptions: regular timestamps), which is written
 * only if fill_zero; 2 for zeros with exceptions (written); 0 for any other
 * block; -1 if malformed. */
static int pfor_decode_block(rbuf *r, uint64_t *o, size_t cnt, int fill_zero)
{
    int sparse;
    {
        uint8_t hdr, nexc_m1 = 0;
        uint64_t ref;
        if (r_u8(r, &hdr) < 0 || r_varint(r, &ref) < 0)
            return -1;
        unsigned width = hdr & 0x7f;
        int has_exc = hdr & 0x80;
        if (width > 64 || (has_exc && r_u8(r, &nexc_m1) < 0))
            return -1;
        size_t nbytes = (cnt * width + 7) / 8;
        if ((size_t)(r->end - r->p) < nbytes)
            return -1;
        if (width == 0 && ref == 0 && !has_exc && !fill_zero)
            return 1;
        sparse = width == 0 && ref == 0;
        if (width == 0) {
            for (size_t i = 0; i < cnt; i++)
                o[i] = ref;
        } else {
            unpack_bits(r->p, r->end, cnt, width, ref, o);
        }
        r->p += nbytes;
        if (has_exc) {
            size_t nexc = (size_t)nexc_m1 + 1;
            if (nexc > cnt || (size_t)(r->end - r->p) < nexc)
                return -1;
            const uint8_t *pos = r->p;
            r->p += nexc;
            for (size_t e = 0; e < nexc; e++) {
                uint64_t v;
                if (pos[e] >= cnt || r_varint(r, &v) < 0)
                    return -1;
                o[pos[e]] = ref + v;
            }
        }
    }
    return sparse ? 2 : 0;
}

/* Decodes n values into out. -1 on any malformed input. */
static int pfor_decode(rbuf *r, uint64_t *out, size_t n)
{
    for (size_t b = 0; b < n; b += PFOR_BLOCK)
        if (pfor_decode_block(r, out + b, n - b < PFOR_BLOCK ? n - b : PFOR_BLOCK, 1) < 0)
            return -1;
    return 0;
}

/* ---- Timestamps ---------------------------------------------------------- */

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
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

enum { TS_MODE_DELTA, TS_MODE_DOD, TS_MODE_GRID };

/* Inside the grid's tolerance: |off| <= half, off taken as signed. */
static inline int grid_near(uint64_t off, uint64_t half)
{
    return off + half <= 2 * half;
}

static void ts_encode(wbuf *w, const int64_t *ts, size_t n, int mode, uint64_t *tmp)
{
    w_u64(w, (uint64_t)ts[0]);
    if (n == 1) {
        w_varint(w, 1);
        return;
    }
    uint64_t unit = ts_unit(ts, n);
    w_varint(w, unit);
    uint64_t last_d = 0, last_q = 0; /* divisions are slow; periods repeat */
    for (size_t i = 1; i < n; i++) {
        uint64_t d = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        if (d != last_d) {
            last_d = d;
            last_q = d / unit;
        }
        tmp[i - 1] = last_q;
    }
    size_t nd = n - 1;
    if (mode != TS_MODE_DOD) {
        /* Base = median of the first deltas: the sampling period. */
        uint64_t sample[255];
        size_t ns = nd < 255 ? nd : 255;
        memcpy(sample, tmp, ns * sizeof(uint64_t));
        qsort(sample, ns, sizeof(uint64_t), cmp_u64);
        uint64_t base = sample[ns / 2];
        w_varint(w, base);
        if (mode == TS_MODE_DELTA) {
            for (size_t i = 0; i < nd; i++)
                tmp[i] = zigzag(tmp[i] - base);
        } else {
            uint64_t k = 0, grid = 0, half = base / 2;
            for (size_t i = 0; i < nd; i++) {
                k += tmp[i];
                grid += base;
                uint64_t off = k - grid;
                tmp[i] = zigzag(off);
                if (!grid_near(off, half))
                    grid = k;
            }
        }
        pfor_encode(w, tmp, nd);
    } else {
        w_varint(w, tmp[0]);
        uint64_t prev = tmp[0];
        for (size_t i = 1; i < nd; i++) {
            uint64_t d = tmp[i];
            tmp[i - 1] = zigzag(d - prev);
            prev = d;
        }
        pfor_encode(w, tmp, nd - 1);
    }
}

/* A grid block whose offsets are all zero but for a few exceptions (the
 * common case: jitter is rare): fills the arithmetic sequence of the grid,
 * then applies the exceptions, in position order. An exception beyond
 * half a period is a gap: it moves the grid, so every later sample of the
 * block shifts by it. Returns 1 when done, 0 (nothing consumed) for any
 * other block, -1 if malformed. *gns is the grid point before the block,
 * in ns, and is advanced past it. */
static int grid_sparse_block(rbuf *r, uint64_t *o, size_t cnt, uint64_t *gns, uint64_t step,
                             uint64_t unit, uint64_t half)
{
    rbuf save = *r;
    uint8_t hdr, nexc_m1 = 0;
    uint64_t ref;
    if (r_u8(r, &hdr) < 0 || r_varint(r, &ref) < 0 || (hdr & 0x7f) != 0 || ref != 0) {
        *r = save; /* not ours (or malformed: pfor_decode_block will say) */
        return 0;
    }
    size_t nexc = 0;
    if (hdr & 0x80) {
        if (r_u8(r, &nexc_m1) < 0)
            return -1;
        nexc = (size_t)nexc_m1 + 1;
        if (nexc > cnt || (size_t)(r->end - r->p) < nexc)
            return -1;
    }
    uint64_t g = *gns;
    for (size_t j = 0; j < cnt; j++)
        o[j] = g + (j + 1) * step;
    const uint8_t *pos = r->p;
    r->p += nexc;
    uint64_t shift = 0;
    size_t next = 0; /* first position not yet shifted */
    for (size_t e = 0; e < nexc; e++) {
        uint64_t zz;
        if (pos[e] >= cnt || pos[e] < next || r_varint(r, &zz) < 0)
            return -1; /* positions must increase, as the encoder writes them */
        if (shift)
            for (size_t j = next; j < pos[e]; j++)
                o[j] += shift;
        uint64_t off = unzigzag(zz) * unit;
        o[pos[e]] += shift + off;
        if (!grid_near(unzigzag(zz), half))
            shift += off;
        next = (size_t)pos[e] + 1;
    }
    if (shift)
        for (size_t j = next; j < cnt; j++)
            o[j] += shift;
    *gns = g + cnt * step + shift;
    return 1;
}

/* Decodes delta, dod or grid timestamps; checks they are strictly
 * increasing. */
static int ts_decode(rbuf *r, int64_t *ts, size_t n, int mode)
{
    uint64_t t0, unit, first;
    if (r_u64(r, &t0) < 0 || r_varint(r, &unit) < 0 || unit == 0)
        return -1;
    ts[0] = (int64_t)t0;
    if (n == 1)
        return 0;
    if (r_varint(r, &first) < 0)
        return -1;
    uint64_t *u = (uint64_t *)ts; /* same-width unsigned alias is allowed */
    int bad = 0;
    if (mode == TS_MODE_GRID) {
        /* In ns: gns = t0 + grid * unit. A block of zero offsets (every
         * sample on the grid) is an arithmetic sequence; elsewhere an
         * on-grid sample (offset 0, nearly all of them) takes the short,
         * well-predicted branch. Order is checked in one pass at the end. */
        uint64_t gns = t0, half = first / 2, step = first * unit;
        for (size_t b = 1; b < n; b += PFOR_BLOCK) {
            size_t cnt = n - b < PFOR_BLOCK ? n - b : PFOR_BLOCK;
            int sparse = grid_sparse_block(r, u + b, cnt, &gns, step, unit, half);
            if (sparse < 0)
                return -1;
            if (sparse)
                continue;
            if (pfor_decode_block(r, u + b, cnt, 1) < 0)
                return -1;
            for (size_t i = b; i < b + cnt; i++) {
                gns += step;
                if (u[i] == 0) {
                    u[i] = gns;
                    continue;
                }
                uint64_t off = unzigzag(u[i]);
                uint64_t cur = gns + off * unit;
                if (!grid_near(off, half))
                    gns = cur; /* a gap: the grid moves to the sample */
                u[i] = cur;
            }
        }
        for (size_t i = 1; i < n; i++)
            bad |= ts[i] <= ts[i - 1];
    } else if (mode == TS_MODE_DELTA) {
        if (pfor_decode(r, u + 1, n - 1) < 0)
            return -1;
        uint64_t prev = t0;
        for (size_t i = 1; i < n; i++) {
            uint64_t cur = prev + (first + unzigzag(u[i])) * unit;
            bad |= (int64_t)cur <= (int64_t)prev;
            u[i] = cur;
            prev = cur;
        }
    } else {
        uint64_t cur = t0 + first * unit;
        bad |= (int64_t)cur <= (int64_t)t0;
        u[1] = cur;
        if (n > 2 && pfor_decode(r, u + 2, n - 2) < 0)
            return -1;
        uint64_t d = first;
        for (size_t i = 2; i < n; i++) {
            d += unzigzag(u[i]);
            uint64_t next = cur + d * unit;
            bad |= (int64_t)next <= (int64_t)cur;
            u[i] = next;
            cur = next;
        }
    }
    return bad ? -1 : 0;
}

/* ---- Integer columns (int64, bool, ALP digits) ---------------------------- */

/* Integer sequences as FOR (order 0), deltas (order 1: random walks,
 * counters) or deltas of deltas (order 2: ramps, such as a valve moving). */
enum { INT_FOR = 0, INT_DELTA = 1, INT_DOD = 2, INT_DFOR = 3 };

static void ints_encode(wbuf *w, const int64_t *x, size_t n, int order, uint64_t *tmp)
{
    if (order == INT_FOR) {
        for (size_t i = 0; i < n; i++)
            tmp[i] = (uint64_t)x[i] + SIGN_BIAS;
    } else if (order == INT_DFOR) {
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            tmp[i] = (uint64_t)x[i] - prev + SIGN_BIAS;
            prev = (uint64_t)x[i];
        }
    } else {
        uint64_t prev = 0, prev_d = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t d = (uint64_t)x[i] - prev;
            tmp[i] = zigzag(order == INT_DELTA ? d : d - prev_d);
            prev = (uint64_t)x[i];
            prev_d = d;
        }
    }
    pfor_encode(w, tmp, n);
}

/* Decodes into out (as uint64) and undoes the FOR bias or the deltas. */
static int ints_decode(rbuf *r, uint64_t *out, size_t n, int order)
{
    if (pfor_decode(r, out, n) < 0)
        return -1;
    if (order == INT_FOR) {
        for (size_t i = 0; i < n; i++)
            out[i] -= SIGN_BIAS;
    } else if (order == INT_DFOR) {
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            prev += out[i] - SIGN_BIAS;
            out[i] = prev;
        }
    } else if (order == INT_DELTA) {
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            prev += unzigzag(out[i]);
            out[i] = prev;
        }
    } else {
        uint64_t prev = 0, d = 0;
        for (size_t i = 0; i < n; i++) {
            d += unzigzag(out[i]);
            prev += d;
            out[i] = prev;
        }
    }
    return 0;
}

/* ---- Float columns: ALP-style decimals ------------------------------------ */

/* k with (double)k / 10^e == v bit-exactly, if there is one near v * 10^e. */
static inline int alp_fits(uint64_t bits, unsigned e, int64_t *k)
{
    double v;
    memcpy(&v, &bits, 8);
    double p = v * pow10_table[e];
    if (!(p > -9.0e18 && p < 9.0e18)) /* also NaN and Inf */
        return 0;
    int64_t kk = llrint(p);
    double back = (double)kk / pow10_table[e];
    uint64_t bb;
    memcpy(&bb, &back, 8);
    *k = kk;
    return bb == bits;
}

/* The smallest exponent that makes most of a sample of values decimals. */
static unsigned alp_choose_e(const hist_value *v, size_t n)
{
    size_t step = n > 64 ? n / 64 : 1, best_hits = 0;
    unsigned best_e = 0;
    for (unsigned e = 0; e <= ALP_MAX_E; e++) {
        size_t hits = 0, total = 0;
        int64_t k;
        for (size_t i = 0; i < n; i += step, total++)
            hits += (size_t)alp_fits(v[i].bits, e, &k);
        if (hits > best_hits) {
            best_hits = hits;
            best_e = e;
        }
        if (hits == total)
            break;
    }
    return best_e;
}

static void alp_encode(wbuf *w, const hist_value *v, size_t n, unsigned e, int order, int64_t *ks,
                       uint64_t *tmp)
{
    size_t nexc = 0;
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t k;
        if (alp_fits(v[i].bits, e, &k)) {
            ks[i] = prev = k;
        } else {
            ks[i] = prev;
            nexc++;
        }
    }
    if (nexc > n / 2) {
        w->bad = 1; /* not decimals: some other codec will be smaller */
        return;
    }
    w_u8(w, (uint8_t)e);
    ints_encode(w, ks, n, order, tmp);
    w_varint(w, nexc);
    size_t last = 0, seen = 0;
    int64_t k;
    for (size_t i = 0; i < n && seen < nexc; i++) {
        if (!alp_fits(v[i].bits, e, &k)) {
            w_varint(w, seen ? i - last : i);
            last = i;
            seen++;
        }
    }
    seen = 0;
    for (size_t i = 0; i < n && seen < nexc; i++) {
        if (!alp_fits(v[i].bits, e, &k)) {
            w_u64(w, v[i].bits);
            seen++;
        }
    }
}

static int alp_decode(rbuf *r, hist_value *v, size_t n, int order)
{
    uint8_t e;
    if (r_u8(r, &e) < 0 || e > ALP_MAX_E)
        return -1;
    uint64_t *u = (uint64_t *)v; /* hist_value is a union holding a uint64_t */
    if (pfor_decode(r, u, n) < 0)
        return -1;
    /* Undoing FOR or deltas and scaling in one pass: the divisions are off
     * the dependency chain, so they overlap with it. */
    const double scale = pow10_table[e];
    if (order == INT_FOR) {
        for (size_t i = 0; i < n; i++)
            v[i].f = (double)(int64_t)(u[i] - SIGN_BIAS) / scale;
    } else if (order == INT_DELTA) {
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            prev += unzigzag(u[i]);
            v[i].f = (double)(int64_t)prev / scale;
        }
    } else {
        uint64_t prev = 0, d = 0;
        for (size_t i = 0; i < n; i++) {
            d += unzigzag(u[i]);
            prev += d;
            v[i].f = (double)(int64_t)prev / scale;
        }
    }
    uint64_t nexc;
    if (r_varint(r, &nexc) < 0 || nexc > n)
        return -1;
    const uint8_t *pos = r->p;
    rbuf pr = {pos, r->end};
    /* Skip the positions to find the raw values, then walk both. */
    for (uint64_t i = 0; i < nexc; i++) {
        uint64_t gap;
        if (r_varint(r, &gap) < 0)
            return -1;
    }
    if ((uint64_t)(r->end - r->p) / 8 < nexc)
        return -1;
    const uint8_t *raw = r->p;
    r->p += nexc * 8;
    uint64_t at = 0;
    for (uint64_t i = 0; i < nexc; i++) {
        uint64_t gap;
        if (r_varint(&pr, &gap) < 0)
            return -1;
        if (i > 0 && gap == 0)
            return -1;
        at = i ? at + gap : gap;
        if (at >= n || (i > 0 && at < gap))
            return -1;
        v[at].bits = load64le(raw + 8 * i);
    }
    return 0;
}

/* ---- Float columns: Gorilla XOR --------------------------------------------- */

typedef struct {
    wbuf *w;
    uint64_t acc;
    unsigned nbits;
} bitwriter;

static void bw_put(bitwriter *b, uint64_t val, unsigned nb) /* nb <= 32 */
{
    if (nb < 64)
        val &= (UINT64_C(1) << nb) - 1;
    b->acc |= val << b->nbits;
    b->nbits += nb;
    while (b->nbits >= 8) {
        w_u8(b->w, (uint8_t)b->acc);
        b->acc >>= 8;
        b->nbits -= 8;
    }
}

static void bw_bits(bitwriter *b, uint64_t val, unsigned nb) /* nb <= 64 */
{
    while (nb > 32) {
        bw_put(b, val & 0xffffffffu, 32);
        val >>= 32;
        nb -= 32;
    }
    bw_put(b, val, nb);
}

static void bw_flush(bitwriter *b)
{
    if (b->nbits)
        w_u8(b->w, (uint8_t)b->acc);
    b->acc = 0;
    b->nbits = 0;
}

typedef struct {
    const uint8_t *p, *end;
    uint64_t acc;
    unsigned nbits;
    int overrun; /* read past the end: the stream is corrupt */
} bitreader;

static uint64_t br_get(bitreader *b, unsigned nb) /* nb <= 32 */
{
    while (b->nbits < nb) {
        uint64_t byte = 0;
        if (b->p < b->end)
            byte = *b->p++;
        else
            b->overrun = 1;
        b->acc |= byte << b->nbits;
        b->nbits += 8;
    }
    uint64_t v = nb ? b->acc & ((UINT64_C(1) << nb) - 1) : 0;
    b->acc = nb < 64 ? b->acc >> nb : 0;
    b->nbits -= nb;
    return v;
}

static uint64_t br_bits(bitreader *b, unsigned nb) /* nb <= 64 */
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (nb > 32) {
        v |= br_get(b, 32) << shift;
        shift += 32;
        nb -= 32;
    }
    return v | (nb ? br_get(b, nb) << shift : 0);
}

static void gorilla_encode(wbuf *w, const hist_value *v, size_t n)
{
    bitwriter b = {w, 0, 0};
    uint64_t prev = v[0].bits;
    unsigned plead = 65, ptrail = 0; /* 65: no window yet */
    bw_bits(&b, prev, 64);
    for (size_t i = 1; i < n; i++) {
        uint64_t x = v[i].bits ^ prev;
        prev = v[i].bits;
        if (!x) {
            bw_put(&b, 0, 1);
            continue;
        }
        unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
        if (lead > 31)
            lead = 31;
        if (plead <= 64 && lead >= plead && trail >= ptrail) {
            bw_put(&b, 1, 2); /* bits "1","0" */
            bw_bits(&b, x >> ptrail, 64 - plead - ptrail);
        } else {
            unsigned sig = 64 - lead - trail;
            bw_put(&b, 3, 2); /* bits "1","1" */
            bw_put(&b, lead, 5);
            bw_put(&b, sig - 1, 6);
            bw_bits(&b, x >> trail, sig);
            plead = lead;
            ptrail = trail;
        }
    }
    bw_flush(&b);
}

static int gorilla_decode(rbuf *r, hist_value *v, size_t n)
{
    bitreader b = {r->p, r->end, 0, 0, 0};
    uint64_t prev = br_bits(&b, 64);
    unsigned plead = 65, ptrail = 0;
    v[0].bits = prev;
    for (size_t i = 1; i < n && !b.overrun; i++) {
        if (br_get(&b, 1)) {
            if (!br_get(&b, 1)) {
                if (plead > 64)
                    return -1; /* reuse of a window that does not exist */
                prev ^= br_bits(&b, 64 - plead - ptrail) << ptrail;
            } else {
                unsigned lead = (unsigned)br_get(&b, 5);
                unsigned sig = (unsigned)br_get(&b, 6) + 1;
                if (lead + sig > 64)
                    return -1;
                unsigned trail = 64 - lead - sig;
                prev ^= br_bits(&b, sig) << trail;
                plead = lead;
                ptrail = trail;
            }
        }
        v[i].bits = prev;
    }
    if (b.overrun)
        return -1;
    r->p = b.p; /* whole bytes consumed; padding bits are ignored */
    return 0;
}

/* ---- Run-length and constant columns ----------------------------------------- */

static void rle64_encode(wbuf *w, const hist_value *v, size_t n)
{
    size_t runs = 1;
    for (size_t i = 1; i < n; i++)
        runs += v[i].bits != v[i - 1].bits;
    if (runs > n / 4 + 1) {
        w->bad = 1; /* too many runs: another codec wins anyway */
        return;
    }
    w_varint(w, runs);
    size_t start = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i == n || v[i].bits != v[start].bits) {
            w_varint(w, i - start);
            w_u64(w, v[start].bits);
            start = i;
        }
    }
}

static int rle64_decode(rbuf *r, hist_value *v, size_t n)
{
    uint64_t runs, at = 0;
    if (r_varint(r, &runs) < 0 || runs == 0 || runs > n)
        return -1;
    for (uint64_t k = 0; k < runs; k++) {
        uint64_t len, bits;
        if (r_varint(r, &len) < 0 || r_u64(r, &bits) < 0 || len == 0 || len > n - at)
            return -1;
        for (uint64_t i = 0; i < len; i++)
            v[at + i].bits = bits;
        at += len;
    }
    return at == n ? 0 : -1;
}

/* ---- Quality --------------------------------------------------------------- */

static uint8_t quality_encode(wbuf *w, const uint32_t *q, size_t n)
{
    size_t runs = 1;
    for (size_t i = 1; q && i < n; i++)
        runs += q[i] != q[i - 1];
    if (!q || runs == 1) {
        w_varint(w, q ? q[0] : HIST_QUALITY_GOOD);
        return C_Q_CONST;
    }
    if (runs * 10 < n * 4) {
        w_varint(w, runs);
        size_t start = 0;
        for (size_t i = 1; i <= n; i++) {
            if (i == n || q[i] != q[start]) {
                w_varint(w, i - start);
                w_varint(w, q[start]);
                start = i;
            }
        }
        return C_Q_RLE;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t b[4];
        store32le(b, q[i]);
        w_bytes(w, b, 4);
    }
    return C_Q_RAW;
}

static int quality_decode(rbuf *r, uint8_t codec, uint32_t *q, size_t n)
{
    uint64_t x, runs, at = 0;
    switch (codec) {
    case C_Q_CONST:
        if (r_varint(r, &x) < 0 || x > UINT32_MAX)
            return -1;
        for (size_t i = 0; i < n; i++)
            q[i] = (uint32_t)x;
        return 0;
    case C_Q_RLE:
        if (r_varint(r, &runs) < 0 || runs == 0 || runs > n)
            return -1;
        for (uint64_t k = 0; k < runs; k++) {
            uint64_t len;
            if (r_varint(r, &len) < 0 || r_varint(r, &x) < 0 || len == 0 || len > n - at ||
                x > UINT32_MAX)
                return -1;
            for (uint64_t i = 0; i < len; i++)
                q[at + i] = (uint32_t)x;
            at += len;
        }
        return at == n ? 0 : -1;
    case C_Q_RAW:
        if ((size_t)(r->end - r->p) / 4 < n)
            return -1;
        for (size_t i = 0; i < n; i++)
            q[i] = load32le(r->p + 4 * i);
        r->p += 4 * n;
        return 0;
    }
    return -1;
}

/* ---- Encoder: candidates, the smallest wins -------------------------------- */

typedef struct {
    uint8_t *best, *cand;
    size_t cap, best_len;
    uint8_t best_codec;
    uint64_t *tmp; /* n scratch words */
    int64_t *ks;   /* n scratch ints (ALP digits) */
} enc_ctx;

static void enc_begin(enc_ctx *c)
{
    c->best_len = SIZE_MAX;
    c->best_codec = 0;
}

/* Opens a writer on the candidate buffer. */
static wbuf enc_writer(enc_ctx *c)
{
    wbuf w = {c->cand, c->cand + c->cap, 0};
    return w;
}

/* Keeps the candidate just written if it beats the best so far. */
static void enc_offer(enc_ctx *c, const wbuf *w, uint8_t codec)
{
    size_t len = (size_t)(w->p - c->cand);
    if (w->bad || len >= c->best_len)
        return;
    uint8_t *t = c->best;
    c->best = c->cand;
    c->cand = t;
    c->best_len = len;
    c->best_codec = codec;
}

static void enc_ts(enc_ctx *c, const int64_t *ts, size_t n)
{
    enc_begin(c);
    wbuf w = enc_writer(c);
    ts_encode(&w, ts, n, TS_MODE_GRID, c->tmp);
    enc_offer(c, &w, C_TS_GRID);
    w = enc_writer(c);
    ts_encode(&w, ts, n, TS_MODE_DELTA, c->tmp);
    enc_offer(c, &w, C_TS_DELTA);
    if (n > 2) {
        w = enc_writer(c);
        ts_encode(&w, ts, n, TS_MODE_DOD, c->tmp);
        enc_offer(c, &w, C_TS_DOD);
    }
    w = enc_writer(c);
    for (size_t i = 0; i < n; i++)
        w_u64(&w, (uint64_t)ts[i]);
    enc_offer(c, &w, C_TS_RAW);
}

static void enc_values(enc_ctx *c, hist_type type, const hist_value *v, size_t n)
{
    enc_begin(c);
    wbuf w;
    size_t i = 1;
    while (i < n && v[i].bits == v[0].bits)
        i++;
    if (i == n) {
        w = enc_writer(c);
        w_u64(&w, v[0].bits);
        enc_offer(c, &w, C_V_CONST);
        return; /* nothing is smaller than 8 bytes */
    }
    w = enc_writer(c);
    rle64_encode(&w, v, n);
    enc_offer(c, &w, C_V_RLE);
    if (type == HIST_TYPE_FLOAT64) {
        unsigned e = alp_choose_e(v, n);
        w = enc_writer(c);
        alp_encode(&w, v, n, e, INT_FOR, c->ks, c->tmp);
        enc_offer(c, &w, C_V_ALP_FOR);
        w = enc_writer(c);
        alp_encode(&w, v, n, e, INT_DELTA, c->ks, c->tmp);
        enc_offer(c, &w, C_V_ALP_DELTA);
        w = enc_writer(c);
        alp_encode(&w, v, n, e, INT_DOD, c->ks, c->tmp);
        enc_offer(c, &w, C_V_ALP_DOD);
        w = enc_writer(c);
        gorilla_encode(&w, v, n);
        enc_offer(c, &w, C_V_GORILLA);
    } else {
        const int64_t *x = (const int64_t *)v; /* hist_value holds an int64_t */
        w = enc_writer(c);
        ints_encode(&w, x, n, INT_FOR, c->tmp);
        enc_offer(c, &w, C_V_INT_FOR);
        w = enc_writer(c);
        ints_encode(&w, x, n, INT_DELTA, c->tmp);
        enc_offer(c, &w, C_V_INT_DELTA);
        w = enc_writer(c);
        ints_encode(&w, x, n, INT_DOD, c->tmp);
        enc_offer(c, &w, C_V_INT_DOD);
        w = enc_writer(c);
        ints_encode(&w, x, n, INT_DFOR, c->tmp);
        enc_offer(c, &w, C_V_INT_DFOR);
    }
    w = enc_writer(c);
    for (size_t k = 0; k < n; k++)
        w_u64(&w, v[k].bits);
    enc_offer(c, &w, C_V_RAW);
}

static void enc_quality(enc_ctx *c, const uint32_t *q, size_t n)
{
    enc_begin(c);
    wbuf w = enc_writer(c);
    uint8_t codec = quality_encode(&w, q, n);
    enc_offer(c, &w, codec);
}

/* Tries zstd over the best body; keeps it when smaller. */
static int enc_try_zstd(enc_ctx *c)
{
    if (c->best_len < ZSTD_MIN_BODY)
        return 0;
    size_t z = ZSTD_compress(c->cand + 4, c->cap - 4, c->best, c->best_len, ZSTD_LEVEL);
    if (ZSTD_isError(z) || (z + 4) * ZSTD_MIN_GAIN_DEN >= c->best_len * ZSTD_MIN_GAIN_NUM)
        return 0;
    store32le(c->cand, (uint32_t)c->best_len);
    uint8_t *t = c->best;
    c->best = c->cand;
    c->cand = t;
    c->best_len = z + 4;
    c->best_codec |= C_ZSTD;
    return 0;
}

size_t hist_chunk_bound(size_t n)
{
    return CHUNK_HEADER + 20 * n + 64;
}

static int check_input(hist_type type, const int64_t *ts, const hist_value *v, size_t n)
{
    if (type != HIST_TYPE_FLOAT64 && type != HIST_TYPE_INT64 && type != HIST_TYPE_BOOL)
        return HIST_EINVAL;
    if (n == 0 || !ts || !v)
        return HIST_EINVAL;
    if (n > HIST_CHUNK_MAX_SAMPLES)
        return HIST_ERANGE;
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1])
            return HIST_EINVAL;
    if (type == HIST_TYPE_BOOL)
        for (size_t i = 0; i < n; i++)
            if (v[i].bits > 1)
                return HIST_EINVAL;
    return 0;
}

int64_t hist_chunk_encode(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                          size_t n, uint8_t *out, size_t cap)
{
    int rc = check_input(type, ts, v, n);
    if (rc < 0)
        return rc;
    enc_ctx c;
    /* A candidate larger than the raw column can never win: the buffers need
     * no more room than that, and a candidate that overflows is dropped. */
    c.cap = 8 * n + 64;
    /* One allocation for all scratch: fewer trips through malloc. */
    c.cap = (c.cap + 7) & ~(size_t)7;
    uint8_t *scratch = malloc(2 * c.cap + 2 * n * sizeof(uint64_t));
    int64_t result = HIST_ENOMEM;
    if (!scratch)
        return result;
    c.best = scratch;
    c.cand = scratch + c.cap;
    c.tmp = (uint64_t *)(scratch + 2 * c.cap);
    c.ks = (int64_t *)(scratch + 2 * c.cap + n * sizeof(uint64_t));

    uint8_t codecs[3];
    uint32_t lens[3];
    size_t off = CHUNK_HEADER;
    for (int col = 0; col < 3; col++) {
        if (col == 0)
            enc_ts(&c, ts, n);
        else if (col == 1)
            enc_values(&c, type, v, n);
        else
            enc_quality(&c, q, n);
        if (c.best_len == SIZE_MAX) { /* cannot happen: raw always fits */
            result = HIST_EINVAL;
            goto done;
        }
        enc_try_zstd(&c);
        if (off + c.best_len > cap) {
            result = HIST_ENOSPC;
            goto done;
        }
        memcpy(out + off, c.best, c.best_len);
        off += c.best_len;
        codecs[col] = c.best_codec;
        lens[col] = (uint32_t)c.best_len;
    }
    memcpy(out, CHUNK_MAGIC, 4);
    out[4] = CHUNK_VERSION;
    out[5] = (uint8_t)type;
    out[6] = codecs[0];
    out[7] = codecs[1];
    out[8] = codecs[2];
    out[9] = out[10] = out[11] = 0;
    store32le(out + 12, (uint32_t)n);
    store32le(out + 16, lens[0]);
    store32le(out + 20, lens[1]);
    store32le(out + 24, lens[2]);
    result = (int64_t)off;
done:
    free(scratch);
    return result;
}

/* ---- Decoder ---------------------------------------------------------------- */

static int codec_valid(int col, hist_type type, uint8_t codec)
{
    uint8_t base = codec & (uint8_t)~C_ZSTD;
    switch (col) {
    case 0:
        return base >= C_TS_RAW && base <= C_TS_GRID;
    case 1:
        if (base == C_V_RAW || base == C_V_CONST || base == C_V_RLE)
            return 1;
        if (type == HIST_TYPE_FLOAT64)
            return (base >= C_V_GORILLA && base <= C_V_ALP_DELTA) || base == C_V_ALP_DOD;
        return base == C_V_INT_FOR || base == C_V_INT_DELTA || base == C_V_INT_DOD ||
               base == C_V_INT_DFOR;
    default:
        return base >= C_Q_CONST && base <= C_Q_RAW;
    }
}

int hist_chunk_peek(const uint8_t *buf, size_t len, hist_chunk_info *info)
{
    if (!buf || len < CHUNK_HEADER || memcmp(buf, CHUNK_MAGIC, 4) != 0 || buf[4] != CHUNK_VERSION ||
        buf[9] || buf[10] || buf[11])
        return HIST_ECORRUPT;
    hist_type type = (hist_type)buf[5];
    if (type != HIST_TYPE_FLOAT64 && type != HIST_TYPE_INT64 && type != HIST_TYPE_BOOL)
        return HIST_ECORRUPT;
    uint32_t count = load32le(buf + 12);
    uint64_t ts_bytes = load32le(buf + 16), value_bytes = load32le(buf + 20),
             quality_bytes = load32le(buf + 24);
    if (count == 0 || CHUNK_HEADER + ts_bytes + value_bytes + quality_bytes != len)
        return HIST_ECORRUPT;
    for (int col = 0; col < 3; col++)
        if (!codec_valid(col, type, buf[6 + col]))
            return HIST_ECORRUPT;
    if (info) {
        info->type = type;
        info->count = count;
        info->ts_codec = buf[6];
        info->value_codec = buf[7];
        info->quality_codec = buf[8];
        info->ts_bytes = (uint32_t)ts_bytes;
        info->value_bytes = (uint32_t)value_bytes;
        info->quality_bytes = (uint32_t)quality_bytes;
    }
    return 0;
}

/* If the column is zstd-wrapped, inflates it into *owned and points r at it. */
static int unwrap_zstd(rbuf *r, uint8_t codec, size_t n, uint8_t **owned)
{
    *owned = NULL;
    if (!(codec & C_ZSTD))
        return 0;
    if (r->end - r->p < 4)
        return HIST_ECORRUPT;
    uint32_t raw_len = load32le(r->p);
    if (raw_len == 0 || raw_len > 8 * (uint64_t)n + 64)
        return HIST_ECORRUPT;
    uint8_t *raw = malloc(raw_len);
    if (!raw)
        return HIST_ENOMEM;
    size_t got = ZSTD_decompress(raw, raw_len, r->p + 4, (size_t)(r->end - r->p - 4));
    if (ZSTD_isError(got) || got != raw_len) {
        free(raw);
        return HIST_ECORRUPT;
    }
    *owned = raw;
    r->p = raw;
    r->end = raw + raw_len;
    return 0;
}

static int decode_values(rbuf *r, hist_type type, uint8_t codec, hist_value *v, size_t n)
{
    uint64_t bits;
    switch (codec) {
    case C_V_RAW:
        if ((size_t)(r->end - r->p) / 8 < n)
            return -1;
        for (size_t i = 0; i < n; i++)
            v[i].bits = load64le(r->p + 8 * i);
        r->p += 8 * n;
        return 0;
    case C_V_CONST:
        if (r_u64(r, &bits) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            v[i].bits = bits;
        return 0;
    case C_V_RLE:
        return rle64_decode(r, v, n);
    case C_V_GORILLA:
        return gorilla_decode(r, v, n);
    case C_V_ALP_FOR:
        return alp_decode(r, v, n, INT_FOR);
    case C_V_ALP_DELTA:
        return alp_decode(r, v, n, INT_DELTA);
    case C_V_ALP_DOD:
        return alp_decode(r, v, n, INT_DOD);
    case C_V_INT_FOR:
        return ints_decode(r, (uint64_t *)v, n, INT_FOR);
    case C_V_INT_DELTA:
        return ints_decode(r, (uint64_t *)v, n, INT_DELTA);
    case C_V_INT_DOD:
        return ints_decode(r, (uint64_t *)v, n, INT_DOD);
    case C_V_INT_DFOR:
        return ints_decode(r, (uint64_t *)v, n, INT_DFOR);
    }
    (void)type;
    return -1;
}

static int decode_ts(rbuf *r, uint8_t codec, int64_t *ts, size_t n)
{
    switch (codec) {
    case C_TS_RAW:
        if ((size_t)(r->end - r->p) / 8 < n)
            return -1;
        for (size_t i = 0; i < n; i++) {
            ts[i] = (int64_t)load64le(r->p + 8 * i);
            if (i && ts[i] <= ts[i - 1])
                return -1;
        }
        r->p += 8 * n;
        return 0;
    case C_TS_DELTA:
        return ts_decode(r, ts, n, TS_MODE_DELTA);
    case C_TS_DOD:
        return ts_decode(r, ts, n, TS_MODE_DOD);
    case C_TS_GRID:
        return ts_decode(r, ts, n, TS_MODE_GRID);
    }
    return -1;
}

/* Decodes one column: unwraps zstd, runs the codec, insists it used every
 * byte of the column. */
static int decode_column(int col, hist_type type, uint8_t codec, const uint8_t *p, size_t len,
                         size_t n, int64_t *ts, hist_value *v, uint32_t *q)
{
    rbuf r = {p, p + len};
    uint8_t *owned;
    int rc = unwrap_zstd(&r, codec, n, &owned);
    if (rc < 0)
        return rc;
    uint8_t base = codec & (uint8_t)~C_ZSTD;
    if (col == 0)
        rc = decode_ts(&r, base, ts, n);
    else if (col == 1)
        rc = decode_values(&r, type, base, v, n);
    else
        rc = quality_decode(&r, base, q, n);
    if (rc == 0 && r.p != r.end)
        rc = -1; /* trailing bytes: the lengths do not agree */
    free(owned);
    return rc < 0 ? HIST_ECORRUPT : 0;
}

/* q may be NULL: the quality column is then neither decoded nor checked
 * (queries that ignore quality save the pass). ts and v are required. */
int64_t hist_chunk_decode(const uint8_t *buf, size_t len, int64_t *ts, hist_value *v, uint32_t *q,
                          size_t cap)
{
    hist_chunk_info info;
    int rc = hist_chunk_peek(buf, len, &info);
    if (rc < 0)
        return rc;
    if (cap < info.count)
        return HIST_ENOSPC;
    if (!ts || !v)
        return HIST_EINVAL;
    size_t n = info.count;
    const uint8_t *p = buf + CHUNK_HEADER;
    rc = decode_column(0, info.type, info.ts_codec, p, info.ts_bytes, n, ts, v, q);
    p += info.ts_bytes;
    if (rc == 0)
        rc = decode_column(1, info.type, info.value_codec, p, info.value_bytes, n, ts, v, q);
    p += info.value_bytes;
    if (rc == 0 && q)
        rc = decode_column(2, info.type, info.quality_codec, p, info.quality_bytes, n, ts, v, q);
    if (rc == 0 && info.type == HIST_TYPE_BOOL)
        for (size_t i = 0; i < n; i++)
            if (v[i].bits > 1)
                rc = HIST_ECORRUPT;
    return rc < 0 ? rc : (int64_t)n;
}

const char *hist_chunk_codec_name(uint8_t codec)
{
    static const struct {
        uint8_t id;
        const char *name, *zname;
    } names[] = {
        {C_TS_RAW, "ts_raw", "zstd+ts_raw"},
        {C_TS_DELTA, "ts_delta", "zstd+ts_delta"},
        {C_TS_DOD, "ts_dod", "zstd+ts_dod"},
        {C_TS_GRID, "ts_grid", "zstd+ts_grid"},
        {C_V_RAW, "raw", "zstd+raw"},
        {C_V_CONST, "const", "zstd+const"},
        {C_V_RLE, "rle", "zstd+rle"},
        {C_V_GORILLA, "gorilla", "zstd+gorilla"},
        {C_V_ALP_FOR, "alp_for", "zstd+alp_for"},
        {C_V_ALP_DELTA, "alp_delta", "zstd+alp_delta"},
        {C_V_INT_FOR, "int_for", "zstd+int_for"},
        {C_V_INT_DELTA, "int_delta", "zstd+int_delta"},
        {C_V_ALP_DOD, "alp_dod", "zstd+alp_dod"},
        {C_V_INT_DOD, "int_dod", "zstd+int_dod"},
        {C_V_INT_DFOR, "int_dfor", "zstd+int_dfor"},
        {C_Q_CONST, "q_const", "zstd+q_const"},
        {C_Q_RLE, "q_rle", "zstd+q_rle"},
        {C_Q_RAW, "q_raw", "zstd+q_raw"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].id == (codec & (uint8_t)~C_ZSTD))
            return (codec & C_ZSTD) ? names[i].zname : names[i].name;
    return "unknown";
}
