/*
 * planes.c: the entropy-coded back end of the integer transforms (see
 * planes.h). PFOR (bits.c) spends a fixed width on every value of a
 * block, which is the cost of the widest value the block keeps, not of
 * the values' spread: a noisy flow's zigzagged deltas (most within 6
 * bits, some 8) or a counter's increments 0..5 (3 bits for log2(6) = 2.6
 * bits of information) pay for their tail. Here the words lose their
 * common minimum and are cut into byte planes (byte j of every word, low
 * bytes first); each plane is handed to zstd, whose Huffman-coded
 * literals spend about the plane's entropy, or is stored raw where zstd
 * does not shrink it (the low plane of a 13-bit noise is uniform).
 *
 * Byte layout (n, the sample count, is known from the chunk header):
 *   varint  base: the minimum word; every word is base + its planes
 *   u8      planes p (0..8): 0 when every word is base
 *   p times, plane j = 0..p-1 (byte j of word - base):
 *     varint  zlen: 0 = n raw bytes follow; else zlen bytes of one zstd
 *             frame that inflates to exactly n bytes
 * Bytes of a word above plane p-1 are zero.
 *
 * zstd is used for its entropy stage, not its matches: planes rarely
 * repeat. The encoder uses the writer's compression context (one per
 * chunk encode, codec.h); the decoder takes the chunk decoder's
 * decompression context (chunk.h: setting one up costs as much as
 * inflating two planes) and one n-byte buffer.
 */
#include "storage/codec/planes.h"

#include "storage/codec/zstd_column.h"

#include <stdlib.h>
#include <zstd.h>

#define PLANES_ZSTD_LEVEL 1
#define PLANES_MIN_MATCH  7

/* The number of low bytes that hold every x - base. */
static unsigned planes_needed(uint64_t span)
{
    return (codec__bit_length(span) + 7) / 8;
}

/* Level 1, but matches of at least 7 bytes only: shorter ones in noise
 * are chance, and each costs more than the literals it replaces. No
 * checksum (the chunk has its crc32c), no content size (n is known). */
static bool planes_params(ZSTD_CCtx *cctx)
{
    return !ZSTD_isError(
               ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, PLANES_ZSTD_LEVEL)) &&
           !ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, PLANES_MIN_MATCH)) &&
           !ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)) &&
           !ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0));
}

ZSTD_CCtx *codec__planes_cctx_new(void)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (cctx && !planes_params(cctx)) {
        ZSTD_freeCCtx(cctx);
        cctx = NULL;
    }
    return cctx;
}

/* Writes plane j of x[i] - base: zstd where it is smaller than raw. */
static void put_plane(codec_wr *w, ZSTD_CCtx *cctx, const uint64_t *x, size_t n, uint64_t base,
                      unsigned j, uint8_t *plane, uint8_t *z, size_t zcap)
{
    for (size_t i = 0; i < n; i++)
        plane[i] = (uint8_t)((x[i] - base) >> (8 * j));
    size_t zlen = ZSTD_compress2(cctx, z, zcap, plane, n);
    if (ZSTD_isError(zlen) || zlen + HIST_VARINT_MAX >= n) {
        codec__put_varint(w, 0);
        codec__put(w, plane, n);
        return;
    }
    codec__put_varint(w, zlen);
    codec__put(w, z, zlen);
}

void codec__planes_encode(codec_wr *w, const uint64_t *x, size_t n)
{
    uint64_t base = UINT64_MAX, top = 0;
    for (size_t i = 0; i < n; i++) {
        base = x[i] < base ? x[i] : base;
        top = x[i] > top ? x[i] : top;
    }
    unsigned p = n ? planes_needed(top - base) : 0;
    codec__put_varint(w, n ? base : 0);
    codec__put_u8(w, (uint8_t)p);
    if (p == 0 || w->bad)
        return;
    size_t zcap = ZSTD_compressBound(n);
    uint8_t *plane = malloc(n + zcap);
    if (!plane || !w->zstd)
        w->bad = 1; /* a candidate that cannot be built is dropped */
    for (unsigned j = 0; j < p && !w->bad; j++)
        put_plane(w, w->zstd, x, n, base, j, plane, plane + n, zcap);
    free(plane);
}

/* Reads one plane: *out points at its n bytes, in r's buffer when raw,
 * else in buf (inflated there). */
static int get_plane(codec_rd *r, ZSTD_DCtx *dctx, uint8_t *buf, size_t n, const uint8_t **out)
{
    uint64_t zlen;
    if (!codec__get_varint(r, &zlen))
        return CORRUPT(r);
    if (zlen == 0) {
        *out = codec__take(r, n, 1);
        return *out ? 0 : CORRUPT(r);
    }
    const uint8_t *z = zlen <= (uint64_t)(r->end - r->p) ? codec__take(r, (size_t)zlen, 1) : NULL;
    if (!z)
        return CORRUPT(r);
    size_t got = ZSTD_decompressDCtx(dctx, buf, n, z, (size_t)zlen);
    if (ZSTD_isError(got) || got != n)
        return CORRUPT(r);
    *out = buf;
    return 0;
}

/* out[i] = base + plane[i] for the first plane, out[i] += plane[i] << 8j
 * for the others: one pass each. */
static void add_plane(uint64_t *out, const uint8_t *plane, size_t n, unsigned j, uint64_t base)
{
    if (j == 0) {
        for (size_t i = 0; i < n; i++)
            out[i] = base + plane[i];
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] += (uint64_t)plane[i] << (8 * j);
}

int codec__planes_decode(codec_rd *r, uint64_t *out, size_t n)
{
    uint64_t base;
    uint8_t p;
    if (!codec__get_varint(r, &base) || !codec__get_u8(r, &p) || p > 8)
        return CORRUPT(r);
    if (p == 0) {
        for (size_t i = 0; i < n; i++)
            out[i] = base;
        return 0;
    }
    uint8_t *buf = malloc(n ? n : 1);
    ZSTD_DCtx *dctx = codec__zstd_dctx(r);
    int rc = buf && dctx ? 0 : HIST_ENOMEM;
    for (unsigned j = 0; j < p && rc == 0; j++) {
        const uint8_t *plane;
        rc = get_plane(r, dctx, buf, n, &plane);
        if (rc == 0)
            add_plane(out, plane, n, j, base);
    }
    if (dctx)
        codec__zstd_release(r, dctx);
    free(buf);
    return rc;
}
