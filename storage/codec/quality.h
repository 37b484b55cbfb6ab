/*
 * quality.h: the quality column codecs (internal to storage/codec/: used
 * by chunk.c).
 */
#ifndef HIST_STORAGE_CODEC_QUALITY_H
#define HIST_STORAGE_CODEC_QUALITY_H

#include "storage/codec/codec.h"

/* Writes n qualities (q NULL: all Good) with the codec that suits them;
 * returns that codec (CODEC_Q_CONST, _RLE or _RAW). */
uint8_t codec__quality_encode(codec_wr *w, const uint32_t *q, size_t n);

/* 0 or HIST_ECORRUPT. */
int codec__quality_decode(codec_rd *r, uint8_t codec, uint32_t *q, size_t n);

#endif
