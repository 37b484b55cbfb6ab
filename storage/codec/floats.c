/*
 * floats.c: value columns of float64 (ALP-style decimals, Gorilla XOR),
 * and the codecs that see any value as its 64-bit pattern (raw, constant,
 * run-length), which int64 and bool columns use too (see floats.h).
 *
 * ALP: plant data is mostly decimals with a few digits (21.35, 0.5 %). A
 * value v is then an integer k at some exponent e, v == (double)k / 10^e
 * bit-exactly, and the k are small and smooth: PFOR-packed through the
 * integer transforms of ints.c they cost a few bits. Everything that does
 * not round-trip (NaN, Inf, -0.0, too many digits) is an exception,
 * stored raw.
 *
 * Byte layout (value codecs; varint, zz and PFOR in codec.h and bits.c):
 *   16 raw        n x u64 bits
 *   17 const      u64 bits (every value has this bit pattern)
 *   18 rle        varint runs, runs x (varint length >= 1, u64 bits)
 *   19 gorilla    Gorilla XOR bit stream (LSB-first bit order, bits.h):
 *                 first value 64 bits; then per value, of x = bits ^
 *                 previous bits: "0" = same; "10" + the bits of x in the
 *                 previous window; "11" + 5-bit leading zeros (at most 31)
 *                 + 6-bit (length - 1) + length meaningful bits, a new
 *                 window. Padding bits of the last byte are ignored.
 *   20 alp_for    u8 e (0..18), PFOR of k[i] + 2^63, varint exceptions,
 *                 their positions (varint gaps: first absolute, then
 *                 differences >= 1), their u64 bits. An exception's k is
 *                 the previous k (0 at the start), which keeps deltas small.
 *   21 alp_delta  as 20, but PFOR of zz(k[0]), zz(k[i] - k[i-1])
 *   24 alp_dod    as 20, but PFOR of zz(d[i] - d[i-1]), d[i] = k[i] - k[i-1],
 *                 k[-1] = d[-1] = 0 (ramps: a moving valve costs ~0 bits)
 *   27 alp_lpc    u8 e, a predictor of the k's deltas (lpc.c: u8 order, u8
 *                 shift, coefficients), PFOR of zz(d[i] - its prediction),
 *                 exceptions as 20 (oscillations, noisy flows)
 * Float columns use 16..21, 24 and 27; int64 and bool columns 16..18 and
 * ints.c's codecs. With CODEC_PLANES in the id (20, 21, 24, 27 only), the
 * digits' words are byte planes (planes.c) in place of the PFOR.
 */
#include "storage/codec/floats.h"

#include "storage/codec/bits.h"

#include <math.h>

#define ALP_MAX_E 18

static const double pow10_table[ALP_MAX_E + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
};

/* ---- Raw, constant, run-length ----------------------------------------------------- */

bool codec__v_is_const(const hist_value *v, size_t n)
{
    size_t i = 1;
    while (i < n && v[i].bits == v[0].bits)
        i++;
    return i == n;
}

void codec__v_const_encode(codec_wr *w, const hist_value *v, size_t n)
{
    codec__put_u64(w, v[0].bits);
}

int codec__v_const_decode(codec_rd *r, hist_value *v, size_t n)
{
    uint64_t bits;
    if (!codec__get_u64(r, &bits))
        return CORRUPT(r);
    for (size_t i = 0; i < n; i++)
        v[i].bits = bits;
    return 0;
}

void codec__v_raw_encode(codec_wr *w, const hist_value *v, size_t n)
{
    codec__put_u64s(w, (const uint64_t *)v, n); /* hist_value holds a uint64_t */
}

int codec__v_raw_decode(codec_rd *r, hist_value *v, size_t n)
{
    const uint8_t *p = codec__take(r, n, 8);
    if (!p)
        return CORRUPT(r);
    for (size_t i = 0; i < n; i++)
        v[i].bits = codec__load64(p + 8 * i);
    return 0;
}

void codec__v_rle_encode(codec_wr *w, const hist_value *v, size_t n)
{
    size_t runs = 1;
    for (size_t i = 1; i < n; i++)
        runs += v[i].bits != v[i - 1].bits;
    if (runs > n / 4 + 1) {
        w->bad = 1; /* too many runs: another codec wins anyway */
        return;
    }
    codec__put_varint(w, runs);
    size_t start = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i == n || v[i].bits != v[start].bits) {
            codec__put_varint(w, i - start);
            codec__put_u64(w, v[start].bits);
            start = i;
        }
    }
}

int codec__v_rle_decode(codec_rd *r, hist_value *v, size_t n)
{
    uint64_t runs, at = 0;
    if (!codec__get_count(r, n, &runs))
        return CORRUPT(r);
    for (uint64_t k = 0; k < runs; k++) {
        uint64_t len, bits;
        if (!codec__get_count(r, n - at, &len) || !codec__get_u64(r, &bits))
            return CORRUPT(r);
        for (uint64_t i = 0; i < len; i++)
            v[at + i].bits = bits;
        at += len;
    }
    return at == n ? 0 : CORRUPT(r);
}

/* ---- ALP-style decimals ---------------------------------------------------------------- */

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
unsigned codec__alp_choose_e(const hist_value *v, size_t n)
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

/* The exceptions: their count, positions (gaps) and bits. */
static void alp_put_exceptions(codec_wr *w, const hist_value *v, size_t n, unsigned e, size_t nexc)
{
    codec__put_varint(w, nexc);
    size_t last = 0, seen = 0;
    int64_t k;
    for (size_t i = 0; i < n && seen < nexc; i++) {
        if (!alp_fits(v[i].bits, e, &k)) {
            codec__put_varint(w, seen ? i - last : i);
            last = i;
            seen++;
        }
    }
    seen = 0;
    for (size_t i = 0; i < n && seen < nexc; i++) {
        if (!alp_fits(v[i].bits, e, &k)) {
            codec__put_u64(w, v[i].bits);
            seen++;
        }
    }
}

void codec__alp_encode(codec_wr *w, const hist_value *v, size_t n, unsigned e,
                       codec_int_order order, codec_pack pack, int64_t *ks, uint64_t *tmp)
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
    codec__put_u8(w, (uint8_t)e);
    codec__ints_encode(w, ks, n, order, pack, tmp);
    alp_put_exceptions(w, v, n, e, nexc);
}

/* Undoes FOR or deltas and scales, in one pass: the divisions are off the
 * dependency chain, so they overlap with it (LPC: u already holds the k's,
 * codec__ints_decode). u aliases v. */
static void alp_scale(const uint64_t *u, hist_value *v, size_t n, codec_int_order order,
                      double scale)
{
    uint64_t prev = 0, d = 0;
    if (order == CODEC_INT_LPC) {
        for (size_t i = 0; i < n; i++)
            v[i].f = (double)(int64_t)u[i] / scale;
    } else if (order == CODEC_INT_FOR) {
        for (size_t i = 0; i < n; i++)
            v[i].f = (double)(int64_t)(u[i] - CODEC_SIGN_BIAS) / scale;
    } else if (order == CODEC_INT_DELTA) {
        for (size_t i = 0; i < n; i++) {
            prev += codec__unzigzag(u[i]);
            v[i].f = (double)(int64_t)prev / scale;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            d += codec__unzigzag(u[i]);
            prev += d;
            v[i].f = (double)(int64_t)prev / scale;
        }
    }
}

/* Reads the exceptions and puts their bits in place. */
static int alp_patch(codec_rd *r, hist_value *v, size_t n)
{
    uint64_t nexc;
    if (!codec__get_varint(r, &nexc) || nexc > n)
        return CORRUPT(r);
    codec_rd pos = *r;
    /* Skip the positions to find the raw values, then walk both. */
    for (uint64_t i = 0; i < nexc; i++) {
        uint64_t gap;
        if (!codec__get_varint(r, &gap))
            return CORRUPT(r);
    }
    const uint8_t *raw = codec__take(r, nexc, 8);
    if (!raw)
        return CORRUPT(r);
    uint64_t at = 0;
    for (uint64_t i = 0; i < nexc; i++) {
        uint64_t gap;
        if (!codec__get_varint(&pos, &gap) || (i > 0 && gap == 0))
            return CORRUPT(r);
        at = i ? at + gap : gap;
        if (at >= n || (i > 0 && at < gap))
            return CORRUPT(r);
        v[at].bits = codec__load64(raw + 8 * i);
    }
    return 0;
}

int codec__alp_decode(codec_rd *r, hist_value *v, size_t n, codec_int_order order, codec_pack pack)
{
    uint8_t e;
    if (!codec__get_u8(r, &e) || e > ALP_MAX_E)
        return CORRUPT(r);
    uint64_t *u = (uint64_t *)v; /* hist_value is a union holding a uint64_t */
    int rc = order == CODEC_INT_LPC ? codec__ints_decode(r, u, n, order, pack)
                                    : codec__words_decode(r, u, n, pack);
    if (rc < 0)
        return rc;
    alp_scale(u, v, n, order, pow10_table[e]);
    return alp_patch(r, v, n);
}

/* ---- Gorilla XOR ----------------------------------------------------------------------- */

void codec__gorilla_encode(codec_wr *w, const hist_value *v, size_t n)
{
    codec_bw b = {w, 0, 0};
    uint64_t prev = v[0].bits;
    unsigned plead = 65, ptrail = 0; /* 65: no window yet */
    codec__bw_bits(&b, prev, 64);
    for (size_t i = 1; i < n; i++) {
        uint64_t x = v[i].bits ^ prev;
        prev = v[i].bits;
        if (!x) {
            codec__bw_put(&b, 0, 1);
            continue;
        }
        unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
        if (lead > 31)
            lead = 31;
        if (plead <= 64 && lead >= plead && trail >= ptrail) {
            codec__bw_put(&b, 1, 2); /* bits "1","0" */
            codec__bw_bits(&b, x >> ptrail, 64 - plead - ptrail);
        } else {
            unsigned sig = 64 - lead - trail;
            codec__bw_put(&b, 3, 2); /* bits "1","1" */
            codec__bw_put(&b, lead, 5);
            codec__bw_put(&b, sig - 1, 6);
            codec__bw_bits(&b, x >> trail, sig);
            plead = lead;
            ptrail = trail;
        }
    }
    codec__bw_flush(&b);
}

int codec__gorilla_decode(codec_rd *r, hist_value *v, size_t n)
{
    codec_br b = {r->p, r->end, 0, 0, 0};
    uint64_t prev = codec__br_bits(&b, 64);
    unsigned plead = 65, ptrail = 0;
    v[0].bits = prev;
    for (size_t i = 1; i < n && !b.overrun; i++) {
        if (codec__br_get(&b, 1)) {
            if (!codec__br_get(&b, 1)) {
                if (plead > 64)
                    return CORRUPT(r); /* reuse of a window that does not exist */
                prev ^= codec__br_bits(&b, 64 - plead - ptrail) << ptrail;
            } else {
                unsigned lead = (unsigned)codec__br_get(&b, 5);
                unsigned sig = (unsigned)codec__br_get(&b, 6) + 1;
                if (lead + sig > 64)
                    return CORRUPT(r);
                unsigned trail = 64 - lead - sig;
                prev ^= codec__br_bits(&b, sig) << trail;
                plead = lead;
                ptrail = trail;
            }
        }
        v[i].bits = prev;
    }
    if (b.overrun)
        return CORRUPT(r);
    r->p = b.p; /* whole bytes consumed; padding bits are ignored */
    return 0;
}
