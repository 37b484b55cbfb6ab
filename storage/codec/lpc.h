/*
 * lpc.h: linear prediction of a sequence's deltas, the integer transform
 * for oscillating and noisy-but-smooth signals (internal to
 * storage/codec/: used by ints.c; the layout and the arithmetic are in
 * lpc.c).
 */
#ifndef HIST_STORAGE_CODEC_LPC_H
#define HIST_STORAGE_CODEC_LPC_H

#include "storage/codec/codec.h"

#define CODEC_LPC_MAX_ORDER 16
#define CODEC_LPC_MAX_SHIFT 30

/* A predictor: the next delta is sum(coef[j] * delta[i-1-j]) / 2^shift,
 * rounded (lpc.c says exactly how). */
typedef struct {
    unsigned order; /* 1..CODEC_LPC_MAX_ORDER */
    unsigned shift; /* 0..CODEC_LPC_MAX_SHIFT */
    int64_t coef[CODEC_LPC_MAX_ORDER];
} codec_lpc;

/* The fit of one column, kept for its other candidates (the same
 * digits packed as PFOR and as planes): the fit is the costly part. */
typedef struct codec_lpc_memo {
    int state; /* 0: not fitted yet, 1: fitted into p, -1: none is worth it */
    codec_lpc p;
} codec_lpc_memo;

/* The predictor fitted to x[0..n)'s deltas, fitted at the column's first
 * call and kept in memo (state 0 before it) for the others; NULL when none
 * is worth its bytes (too few samples, or the deltas not predictable
 * enough). */
const codec_lpc *codec__lpc_fit(codec_lpc_memo *memo, const int64_t *x, size_t n);

/* The predictor's bytes, before the words. */
void codec__lpc_put(codec_wr *w, const codec_lpc *p);
bool codec__lpc_get(codec_rd *r, codec_lpc *p);

/* out[i] = zz(d[i] - prediction of d[i]), d[0] = x[0], d[i] = x[i] -
 * x[i-1] (mod 2^64). */
void codec__lpc_residuals(const codec_lpc *p, const int64_t *x, size_t n, uint64_t *out);

/* The inverse, in place: the words of codec__lpc_residuals() become x
 * (as uint64). Defined for any words and any predictor (mod 2^64). */
void codec__lpc_undo(const codec_lpc *p, uint64_t *u, size_t n);

#endif
