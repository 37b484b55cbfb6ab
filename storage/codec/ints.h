/*
 * ints.h: the integer value codecs, int64 and bool columns (internal to
 * storage/codec/: used by chunk.c, and by floats.c for ALP's digits).
 */
#ifndef HIST_STORAGE_CODEC_INTS_H
#define HIST_STORAGE_CODEC_INTS_H

#include "storage/codec/codec.h"

/* How a sequence becomes PFOR input: frame of reference, zigzagged deltas,
 * zigzagged deltas of deltas, plain (biased) deltas, or the residuals of
 * deltas after linear prediction. */
typedef enum {
    CODEC_INT_FOR = 0,   /* x + 2^63 */
    CODEC_INT_DELTA = 1, /* zz(x[i] - x[i-1]) */
    CODEC_INT_DOD = 2,   /* zz(d[i] - d[i-1]) */
    CODEC_INT_DFOR = 3,  /* x[i] - x[i-1] + 2^63 */
    CODEC_INT_LPC = 4,   /* a fitted predictor, then zz(d[i] - its prediction) (lpc.c) */
} codec_int_order;

#define CODEC_SIGN_BIAS (UINT64_C(1) << 63)

/* How the transformed words are stored: PFOR blocks (bits.c) or byte
 * planes with zstd's entropy coding (planes.c; codec id | CODEC_PLANES). */
typedef enum {
    CODEC_PACK_PFOR = 0,
    CODEC_PACK_PLANES = 1,
} codec_pack;

/* Writes x[0..n) in that order, packed so; tmp holds n scratch words. */
void codec__ints_encode(codec_wr *w, const int64_t *x, size_t n, codec_int_order order,
                        codec_pack pack, uint64_t *tmp);

/* Reads n values written by codec__ints_encode() into out (as uint64).
 * 0, HIST_ECORRUPT or HIST_ENOMEM. */
int codec__ints_decode(codec_rd *r, uint64_t *out, size_t n, codec_int_order order,
                       codec_pack pack);

/* The packing alone: n words as pack says (ALP's digits use it). */
void codec__words_encode(codec_wr *w, const uint64_t *x, size_t n, codec_pack pack);
int codec__words_decode(codec_rd *r, uint64_t *out, size_t n, codec_pack pack);

/* Every value 0 or 1 (a bool column). */
bool codec__bools_valid(const hist_value *v, size_t n);

#endif
