/*
 * ts.h: the timestamp column codecs (internal to storage/codec/: used by
 * chunk.c).
 */
#ifndef HIST_STORAGE_CODEC_TS_H
#define HIST_STORAGE_CODEC_TS_H

#include "storage/codec/codec.h"

/* Writes n strictly increasing timestamps as codec (CODEC_TS_RAW, _DELTA,
 * _DOD, _GRID or _GRID_SPARSE); tmp holds n scratch words. dod declines (w goes bad)
 * below 3 samples. */
void codec__ts_encode(codec_wr *w, uint8_t codec, const int64_t *ts, size_t n, uint64_t *tmp);

/* Reads n timestamps of that codec; checks they are strictly increasing.
 * 0 or HIST_ECORRUPT. */
int codec__ts_decode(codec_rd *r, uint8_t codec, int64_t *ts, size_t n);

#endif
