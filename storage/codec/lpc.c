/*
 * lpc.c: linear prediction of a sequence's deltas (see lpc.h), the
 * transform behind the alp_lpc and int_lpc value codecs (ints.c).
 *
 * Why: a plain delta leaves what a signal does from one sample to the
 * next. A vibration reading is a few sines plus sensor noise, a flow a
 * slow process plus noise: their deltas are still correlated, and a
 * predictor fitted per chunk takes out what is predictable, leaving about
 * the noise itself. On the plant generator's data (bench/bench_codec) the
 * 10 Hz vibration tags' values went from about 12.0 to 10.7 bits a sample
 * (byte planes of the residuals; the noise alone is 10.3), flows by 3 %.
 *
 * Arithmetic (exact, the same in encoder and decoder, defined for every
 * input): d[0] = x[0], d[i] = x[i] - x[i-1], mod 2^64. The prediction of
 * d[i] uses only d[1..i-1], at most order of them:
 *   pred[i] = asr(2^(shift-1) + sum over j < min(order, i-1) of
 *                 coef[j] * d[i-1-j], shift)           (i >= 1; pred[0] = 0)
 * with the sum mod 2^64, 2^(shift-1) read as 0 for shift 0, and asr the
 * arithmetic shift of the sum read as signed (floor division by 2^shift).
 * The word of sample i is zz(d[i] - pred[i]). So a first value far from 0
 * costs one word, not order of them.
 *
 * Byte layout (before the words, which ints.c packs as PFOR or planes):
 *   u8 order (1..16), u8 shift (0..30), order x varint zz(coef[j])
 *
 * Fitting (encoder only; floating point decides the coefficients, never
 * the bytes' meaning): the deltas' autocorrelation up to order 16,
 * Levinson-Durbin, and the order whose estimated cost, half a bit per
 * sample per halving of the residual energy plus 16 bits per
 * coefficient, is least; coefficients are rounded to 12 fractional bits.
 */
#include "storage/codec/lpc.h"

#include "common/hist_assert.h"

#include <math.h>

/* The encoder's highest order, the format's. bench_codec 200 3600: 0.697
 * B/sample at 16, 0.722 at 8, 0.742 at 4, for 10-20 % faster decoding of
 * the vibration tags at the lower orders. */
#define LPC_FIT_ORDER   16
#define LPC_SHIFT       12
#define LPC_MIN_SAMPLES 64
#define LPC_COEF_BITS   16.0
#define LPC_MIN_GAIN    0.05 /* bits a sample the fit must save to be tried */

/* Floor division of u, read as signed, by 2^s (s < 64). Both the
 * conversion and the shift of a negative value are implementation-defined
 * in C11; gcc and clang, which the codecs already need (__builtin_clzll),
 * define them as two's complement and an arithmetic shift. */
static inline uint64_t asr(uint64_t u, unsigned s)
{
    return (uint64_t)((int64_t)u >> s);
}

/* 2^(shift-1), 0 for shift 0: what makes the shift round to nearest. */
static inline uint64_t rounding(const codec_lpc *p)
{
    return p->shift ? UINT64_C(1) << (p->shift - 1) : 0;
}

/* pred[i] from d[1..i-1] (the top comment's formula). */
static inline uint64_t predict(const codec_lpc *p, const uint64_t *d, size_t i)
{
    uint64_t acc = rounding(p);
    size_t taps = i == 0 ? 0 : (i - 1 < p->order ? i - 1 : p->order);
    for (size_t j = 0; j < taps; j++)
        acc += (uint64_t)p->coef[j] * d[i - 1 - j];
    return asr(acc, p->shift);
}

void codec__lpc_residuals(const codec_lpc *p, const int64_t *x, size_t n, uint64_t *out)
{
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint64_t)x[i] - prev;
        prev = (uint64_t)x[i];
    }
    /* From the end: each prediction reads deltas below i, still whole. */
    for (size_t i = n; i-- > 0;)
        out[i] = codec__zigzag(out[i] - predict(p, out, i));
}

/* The undo's steady state, samples from..n (from > 16, so every tap has a
 * delta): `taps` coefficients (the order's, padded with zeros), called
 * with a constant taps so that the loops unroll and the last deltas stay
 * in registers (at -O2 gcc keeps the loops otherwise, which took 2-3
 * times as long). u[0..from) hold deltas; u[from..n) become values, x
 * the value before from. */
static inline void undo_steady(const codec_lpc *p, uint64_t *u, size_t from, size_t n, size_t taps,
                               uint64_t x) __attribute__((always_inline));
static inline void undo_steady(const codec_lpc *p, uint64_t *u, size_t from, size_t n, size_t taps,
                               uint64_t x)
{
    uint64_t c[CODEC_LPC_MAX_ORDER] = {0}, h[CODEC_LPC_MAX_ORDER];
    for (unsigned j = 0; j < p->order; j++)
        c[j] = (uint64_t)p->coef[j];
    for (size_t j = 0; j < taps; j++)
        h[j] = u[from - 1 - j];
    const uint64_t round = rounding(p);
    const unsigned shift = p->shift;
    for (size_t i = from; i < n; i++) {
        /* The newest delta last: only its product and one add wait for
         * the sample before. */
        uint64_t acc = round;
#pragma GCC unroll 16
        for (size_t j = taps - 1; j > 0; j--)
            acc += c[j] * h[j];
        acc += c[0] * h[0];
        uint64_t d = codec__unzigzag(u[i]) + asr(acc, shift);
#pragma GCC unroll 16
        for (size_t j = taps - 1; j > 0; j--)
            h[j] = h[j - 1];
        h[0] = d;
        x += d;
        u[i] = x;
    }
}

void codec__lpc_undo(const codec_lpc *p, uint64_t *u, size_t n)
{
    size_t head = n < CODEC_LPC_MAX_ORDER + 1 ? n : CODEC_LPC_MAX_ORDER + 1;
    uint64_t x = 0;
    for (size_t i = 0; i < head; i++) { /* taps that would reach below d[1] */
        u[i] = codec__unzigzag(u[i]) + predict(p, u, i);
        x += u[i];
    }
    if (head == n)
        ; /* a chunk this short has no steady state (the taps would reach before u) */
    else if (p->order <= 4)
        undo_steady(p, u, head, n, 4, x);
    else if (p->order <= 8)
        undo_steady(p, u, head, n, 8, x);
    else
        undo_steady(p, u, head, n, CODEC_LPC_MAX_ORDER, x);
    x = 0;
    for (size_t i = 0; i < head; i++) { /* after: the steady state read these deltas */
        x += u[i];
        u[i] = x;
    }
}

void codec__lpc_put(codec_wr *w, const codec_lpc *p)
{
    codec__put_u8(w, (uint8_t)p->order);
    codec__put_u8(w, (uint8_t)p->shift);
    for (unsigned j = 0; j < p->order; j++)
        codec__put_varint(w, codec__zigzag((uint64_t)p->coef[j]));
}

bool codec__lpc_get(codec_rd *r, codec_lpc *p)
{
    uint8_t order, shift;
    if (!codec__get_u8(r, &order) || !codec__get_u8(r, &shift) || order == 0 ||
        order > CODEC_LPC_MAX_ORDER || shift > CODEC_LPC_MAX_SHIFT)
        return false;
    p->order = order;
    p->shift = shift;
    for (unsigned j = 0; j < order; j++) {
        uint64_t z;
        if (!codec__get_varint(r, &z))
            return false;
        p->coef[j] = (int64_t)codec__unzigzag(z);
    }
    return true;
}

/* ---- Fitting ------------------------------------------------------------------------ */

static inline double delta_at(const int64_t *x, size_t i)
{
    return (double)(int64_t)((uint64_t)x[i] - (uint64_t)x[i - 1]);
}

/* r[k] = sum of d[i] * d[i+k] over the deltas d[1..n). */
static void autocorrelation(const int64_t *x, size_t n, double r[CODEC_LPC_MAX_ORDER + 1])
{
    for (int k = 0; k <= CODEC_LPC_MAX_ORDER; k++)
        r[k] = 0;
    for (size_t i = 1; i < n; i++) {
        double di = delta_at(x, i);
        size_t kmax = n - 1 - i < LPC_FIT_ORDER ? n - 1 - i : LPC_FIT_ORDER;
        for (size_t k = 0; k <= kmax; k++)
            r[k] += di * delta_at(x, i + k);
    }
}

/* Levinson-Durbin: into best[1..*order] the predictor of least estimated
 * cost (bits relative to plain deltas); returns that cost (0: none). */
static double levinson_best(const double r[CODEC_LPC_MAX_ORDER + 1], size_t samples,
                            double best[CODEC_LPC_MAX_ORDER + 1], unsigned *order)
{
    double a[CODEC_LPC_MAX_ORDER + 1] = {0}, err = r[0], best_bits = 0;
    *order = 0;
    for (unsigned m = 1; m <= LPC_FIT_ORDER && err > 0; m++) {
        double acc = r[m];
        for (unsigned j = 1; j < m; j++)
            acc -= a[j] * r[m - j];
        double k = acc / err;
        if (!(fabs(k) < 1.0))
            break; /* numerically unstable from here on */
        double next[CODEC_LPC_MAX_ORDER + 1];
        for (unsigned j = 1; j < m; j++)
            next[j] = a[j] - k * a[m - j];
        next[m] = k;
        for (unsigned j = 1; j <= m; j++)
            a[j] = next[j];
        err *= 1.0 - k * k;
        if (!(err > 0))
            break;
        double bits = 0.5 * (double)samples * log2(err / r[0]) + LPC_COEF_BITS * m;
        if (bits < best_bits) {
            best_bits = bits;
            *order = m;
            for (unsigned j = 1; j <= m; j++)
                best[j] = a[j];
        }
    }
    return best_bits;
}

/* A predictor fitted to x[0..n)'s deltas; false when none is worth its
 * bytes (too few samples, or the deltas are not predictable enough). */
static bool lpc_choose(const int64_t *x, size_t n, codec_lpc *p)
{
    if (n < LPC_MIN_SAMPLES)
        return false;
    double r[CODEC_LPC_MAX_ORDER + 1], a[CODEC_LPC_MAX_ORDER + 1];
    autocorrelation(x, n, r);
    if (!(r[0] > 0) || !isfinite(r[0]))
        return false; /* no deltas to predict (or too large to fit) */
    unsigned order;
    double bits = levinson_best(r, n - 1, a, &order);
    if (order == 0 || bits > -LPC_MIN_GAIN * (double)(n - 1))
        return false;
    p->shift = LPC_SHIFT;
    p->order = 0;
    for (unsigned j = 0; j < order; j++) {
        double c = a[j + 1] * (double)(1 << LPC_SHIFT);
        if (!(fabs(c) < 1e12))
            return false;
        p->coef[j] = llround(c);
        if (p->coef[j] != 0)
            p->order = j + 1; /* trailing zero coefficients are dropped */
    }
    return p->order > 0;
}

const codec_lpc *codec__lpc_fit(codec_lpc_memo *memo, const int64_t *x, size_t n)
{
    HIST_ASSERT(memo); /* every encode's writer has one (chunk.c, enc_writer) */
    if (memo->state == 0)
        memo->state = lpc_choose(x, n, &memo->p) ? 1 : -1;
    return memo->state > 0 ? &memo->p : NULL;
}
