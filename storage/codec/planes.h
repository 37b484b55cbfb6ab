/*
 * planes.h: an integer column's words as entropy-coded byte planes, the
 * alternative to PFOR for the ALP and integer transforms (internal to
 * storage/codec/: used by ints.c and floats.c; the layout is in planes.c).
 */
#ifndef HIST_STORAGE_CODEC_PLANES_H
#define HIST_STORAGE_CODEC_PLANES_H

#include "storage/codec/codec.h"

/* A zstd compression context set up for planes (ZSTD_freeCCtx frees it);
 * NULL: out of memory. */
struct ZSTD_CCtx_s *codec__planes_cctx_new(void);

/* Writes x[0..n) (x is not changed) with w->zstd, which must come from
 * codec__planes_cctx_new(). Without one, or when its scratch cannot be
 * allocated, w goes bad. */
void codec__planes_encode(codec_wr *w, const uint64_t *x, size_t n);

/* Reads n words written by codec__planes_encode(). 0, HIST_ECORRUPT or
 * HIST_ENOMEM. */
int codec__planes_decode(codec_rd *r, uint64_t *out, size_t n);

#endif
