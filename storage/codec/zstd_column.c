/*
 * zstd_column.c: zstd over a column (see zstd_column.h). The encoder tries
 * zstd (level 1) over the winning body of each column and keeps it where
 * it makes the column at most ZSTD_MIN_GAIN_NUM / ZSTD_MIN_GAIN_DEN of its
 * size: inflating costs decode time (a fresh ZSTD_DCtx per column: at 3/4,
 * zstd columns took ~20 % of bench_codec's decode time), so a small gain
 * is not worth it.
 *
 * Byte layout: a codec id with bit 0x80 set means "zstd over the body":
 * the column is u32 raw length (1..8n+64), then one zstd frame that
 * decompresses to exactly that many bytes: the body of codec (id & 0x7f).
 */
#include "storage/codec/zstd_column.h"

#include <stdlib.h>
#include <zstd.h>

#define ZSTD_MIN_BODY 128 /* below this zstd's frame overhead never pays */
#define ZSTD_LEVEL    1
#ifndef ZSTD_MIN_GAIN_NUM
#define ZSTD_MIN_GAIN_NUM 1
#define ZSTD_MIN_GAIN_DEN 2
#endif

size_t codec__zstd_wrap(const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
    if (len < ZSTD_MIN_BODY)
        return 0;
    size_t z = ZSTD_compress(out + 4, cap - 4, body, len, ZSTD_LEVEL);
    if (ZSTD_isError(z) || (z + 4) * ZSTD_MIN_GAIN_DEN >= len * ZSTD_MIN_GAIN_NUM)
        return 0;
    codec__store32(out, (uint32_t)len);
    return z + 4;
}

ZSTD_DCtx *codec__zstd_dctx(codec_rd *r)
{
    if (!r->dec)
        return ZSTD_createDCtx();
    if (!r->dec->zstd)
        r->dec->zstd = ZSTD_createDCtx();
    return r->dec->zstd;
}

void codec__zstd_release(codec_rd *r, ZSTD_DCtx *dctx)
{
    if (!r->dec)
        ZSTD_freeDCtx(dctx);
}

int codec__zstd_unwrap(codec_rd *r, uint8_t codec, size_t n, uint8_t **owned)
{
    *owned = NULL;
    if (!(codec & CODEC_ZSTD))
        return 0;
    const uint8_t *p = codec__take(r, 1, 4);
    if (!p)
        return CORRUPT(r);
    uint32_t raw_len = codec__load32(p);
    if (raw_len == 0 || raw_len > 8 * (uint64_t)n + 64)
        return CORRUPT(r);
    uint8_t *raw = malloc(raw_len);
    if (!raw)
        return HIST_ENOMEM;
    ZSTD_DCtx *dctx = codec__zstd_dctx(r);
    if (!dctx) {
        free(raw);
        return HIST_ENOMEM;
    }
    size_t got = ZSTD_decompressDCtx(dctx, raw, raw_len, r->p, (size_t)(r->end - r->p));
    codec__zstd_release(r, dctx);
    if (ZSTD_isError(got) || got != raw_len) {
        free(raw);
        return CORRUPT(r);
    }
    *owned = raw;
    r->p = raw;
    r->end = raw + raw_len;
    return 0;
}
