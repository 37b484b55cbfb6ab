/*
 * floats.h: the float64 value codecs (ALP-style decimals, Gorilla XOR) and
 * the bit-pattern codecs every value column may use (raw, constant,
 * run-length). Internal to storage/codec/: used by chunk.c.
 */
#ifndef HIST_STORAGE_CODEC_FLOATS_H
#define HIST_STORAGE_CODEC_FLOATS_H

#include "storage/codec/codec.h"
#include "storage/codec/ints.h"

/* ---- Any value type, as 64-bit patterns ---------------------------------------------- */

/* Whether all n values have one bit pattern (codec const). */
bool codec__v_is_const(const hist_value *v, size_t n);
void codec__v_const_encode(codec_wr *w, const hist_value *v, size_t n);
int codec__v_const_decode(codec_rd *r, hist_value *v, size_t n);

void codec__v_raw_encode(codec_wr *w, const hist_value *v, size_t n);
int codec__v_raw_decode(codec_rd *r, hist_value *v, size_t n);

/* Declines (w goes bad) where the runs are too many to win. */
void codec__v_rle_encode(codec_wr *w, const hist_value *v, size_t n);
int codec__v_rle_decode(codec_rd *r, hist_value *v, size_t n);

/* ---- float64 ------------------------------------------------------------------------- */

/* The decimal exponent for codec__alp_encode(): chosen once per column,
 * for every order. */
unsigned codec__alp_choose_e(const hist_value *v, size_t n);

/* ALP digits at exponent e in the given order (FOR, DELTA or DOD).
 * Declines where most values are not decimals. ks and tmp hold n scratch
 * words each. */
void codec__alp_encode(codec_wr *w, const hist_value *v, size_t n, unsigned e,
                       codec_int_order order, codec_pack pack, int64_t *ks, uint64_t *tmp);
int codec__alp_decode(codec_rd *r, hist_value *v, size_t n, codec_int_order order, codec_pack pack);

void codec__gorilla_encode(codec_wr *w, const hist_value *v, size_t n);
int codec__gorilla_decode(codec_rd *r, hist_value *v, size_t n);

#endif
