/*
 * zstd_column.h: zstd over a column body, the optional wrapper of any
 * codec (internal to storage/codec/: used by chunk.c).
 */
#ifndef HIST_STORAGE_CODEC_ZSTD_COLUMN_H
#define HIST_STORAGE_CODEC_ZSTD_COLUMN_H

#include "storage/codec/codec.h"

/* Wraps body[0..len) into out[0..cap) where zstd pays; returns the
 * wrapped length, or 0 to keep the body as it is. */
size_t codec__zstd_wrap(const uint8_t *body, size_t len, uint8_t *out, size_t cap);

/* If codec has the CODEC_ZSTD flag, inflates the column r reads into
 * *owned (the caller frees it) and points r at it; else *owned = NULL and
 * r is left alone. n (the sample count) bounds the inflated size. 0,
 * HIST_ECORRUPT or HIST_ENOMEM. */
int codec__zstd_unwrap(codec_rd *r, uint8_t codec, size_t n, uint8_t **owned);

/* zstd's decompression context for a reader: its decoder's (made on first
 * use) or, without a decoder, a fresh one. NULL: out of memory. Give it
 * back with codec__zstd_release(). */
struct ZSTD_DCtx_s *codec__zstd_dctx(codec_rd *r);
void codec__zstd_release(codec_rd *r, struct ZSTD_DCtx_s *dctx);

#endif
