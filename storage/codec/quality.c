/*
 * quality.c: the quality column (see quality.h). Qualities are OPC UA
 * status codes, nearly always all Good, sometimes in runs (a sensor Bad for
 * a while): one codec is picked by counting runs, no candidates are tried.
 *
 * Byte layout (quality codecs):
 *   32 const  varint q (all samples; all Good costs one byte)
 *   33 rle    varint runs, runs x (varint length >= 1, varint q), where
 *             runs are fewer than 40 % of the samples
 *   34 raw    n x u32
 * A decoded q above UINT32_MAX is corrupt.
 */
#include "storage/codec/quality.h"

static size_t count_runs(const uint32_t *q, size_t n)
{
    size_t runs = 1;
    for (size_t i = 1; q && i < n; i++)
        runs += q[i] != q[i - 1];
    return runs;
}

uint8_t codec__quality_encode(codec_wr *w, const uint32_t *q, size_t n)
{
    size_t runs = count_runs(q, n);
    if (!q || runs == 1) {
        codec__put_varint(w, q ? q[0] : HIST_QUALITY_GOOD);
        return CODEC_Q_CONST;
    }
    if (runs * 10 < n * 4) {
        codec__put_varint(w, runs);
        size_t start = 0;
        for (size_t i = 1; i <= n; i++) {
            if (i == n || q[i] != q[start]) {
                codec__put_varint(w, i - start);
                codec__put_varint(w, q[start]);
                start = i;
            }
        }
        return CODEC_Q_RLE;
    }
    for (size_t i = 0; i < n; i++)
        codec__put_u32(w, q[i]);
    return CODEC_Q_RAW;
}

static int decode_const(codec_rd *r, uint32_t *q, size_t n)
{
    uint64_t x;
    if (!codec__get_varint(r, &x) || x > UINT32_MAX)
        return CORRUPT(r);
    for (size_t i = 0; i < n; i++)
        q[i] = (uint32_t)x;
    return 0;
}

static int decode_rle(codec_rd *r, uint32_t *q, size_t n)
{
    uint64_t runs, at = 0;
    if (!codec__get_count(r, n, &runs))
        return CORRUPT(r);
    for (uint64_t k = 0; k < runs; k++) {
        uint64_t len, x;
        if (!codec__get_count(r, n - at, &len) || !codec__get_varint(r, &x) || x > UINT32_MAX)
            return CORRUPT(r);
        for (uint64_t i = 0; i < len; i++)
            q[at + i] = (uint32_t)x;
        at += len;
    }
    return at == n ? 0 : CORRUPT(r);
}

static int decode_raw(codec_rd *r, uint32_t *q, size_t n)
{
    const uint8_t *p = codec__take(r, n, 4);
    if (!p)
        return CORRUPT(r);
    for (size_t i = 0; i < n; i++)
        q[i] = codec__load32(p + 4 * i);
    return 0;
}

int codec__quality_decode(codec_rd *r, uint8_t codec, uint32_t *q, size_t n)
{
    switch (codec) {
    case CODEC_Q_CONST:
        return decode_const(r, q, n);
    case CODEC_Q_RLE:
        return decode_rle(r, q, n);
    case CODEC_Q_RAW:
        return decode_raw(r, q, n);
    }
    return CORRUPT(r);
}
