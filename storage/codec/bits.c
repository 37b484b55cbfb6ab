/*
 * bits.c: PFOR blocks, the integer packing of every codec family (see
 * bits.h), and the fixed-width unpacking that decodes them.
 *
 * Byte layout: a PFOR stream of n values (n known from context) is blocks
 * of 128 values, the last one shorter. Per block of cnt values:
 *   u8      width w (0..64), | 0x80 if the block has exceptions
 *   varint  ref, the block minimum
 *   [u8     exceptions - 1]                      only with 0x80
 *   ceil(cnt * w / 8) bytes: cnt fields of w bits, LSB first (bits.h),
 *           value = ref + field
 *   then, with exceptions: their in-block positions (u8 each, increasing)
 *   and for each a varint (value - ref) that replaces the field there
 *   (written as 0).
 * The encoder picks w per block for the smallest block: values wider than
 * w become exceptions. Fixed-width fields keep decoding a tight loop.
 */
#include "storage/codec/bits.h"

_Static_assert(CODEC_PFOR_BLOCK <= 256, "in-block positions and exceptions - 1 are u8");

/* ---- Writing -------------------------------------------------------------------- */

static unsigned varint_len_for_bits(unsigned bits)
{
    return bits <= 7 ? 1u : (bits + 6u) / 7u;
}

/* Picks the width that makes this block smallest; *nexc gets the number of
 * values wider than it (stored as exceptions). hist[b]: how many values
 * (minus ref) have bit length b. */
static unsigned choose_width(const uint32_t hist[65], size_t cnt, size_t *nexc)
{
    size_t best_cost = SIZE_MAX, exc = 0, exc_cost = 0;
    unsigned best_w = 64;
    *nexc = 0;
    for (int w = 64; w >= 0; w--) {
        if (w < 64) { /* values of bit length w + 1 become exceptions */
            exc += hist[w + 1];
            exc_cost += hist[w + 1] * (1 + varint_len_for_bits((unsigned)w + 1));
        }
        if (exc > CODEC_PFOR_BLOCK)
            break;
        size_t cost = (cnt * (size_t)w + 7) / 8 + (exc ? 1 + exc_cost : 0);
        if (cost <= best_cost) {
            best_cost = cost;
            best_w = (unsigned)w;
            *nexc = exc;
        }
    }
    return best_w;
}

static inline int is_exception(uint64_t d, unsigned width)
{
    return width < 64 && (d >> width);
}

static void encode_block(codec_wr *w, const uint64_t *x, size_t cnt)
{
    uint64_t ref = x[0];
    for (size_t i = 1; i < cnt; i++)
        if (x[i] < ref)
            ref = x[i];
    uint32_t hist[65] = {0};
    for (size_t i = 0; i < cnt; i++)
        hist[codec__bit_length(x[i] - ref)]++;
    size_t nexc;
    unsigned width = choose_width(hist, cnt, &nexc);
    codec__put_u8(w, (uint8_t)(width | (nexc ? 0x80 : 0)));
    codec__put_varint(w, ref);
    if (nexc)
        codec__put_u8(w, (uint8_t)(nexc - 1));
    if (width > 0) {
        codec_bw b = {w, 0, 0};
        for (size_t i = 0; i < cnt; i++) {
            uint64_t d = x[i] - ref;
            codec__bw_bits(&b, is_exception(d, width) ? 0 : d, width);
        }
        codec__bw_flush(&b);
    }
    if (nexc) {
        for (size_t i = 0; i < cnt; i++)
            if (is_exception(x[i] - ref, width))
                codec__put_u8(w, (uint8_t)i);
        for (size_t i = 0; i < cnt; i++)
            if (is_exception(x[i] - ref, width))
                codec__put_varint(w, x[i] - ref);
    }
}

void codec__pfor_encode(codec_wr *w, const uint64_t *x, size_t n)
{
    for (size_t b = 0; b < n; b += CODEC_PFOR_BLOCK)
        encode_block(w, x + b, n - b < CODEC_PFOR_BLOCK ? n - b : CODEC_PFOR_BLOCK);
}

/* ---- Reading -------------------------------------------------------------------- */

/* cnt fields of width bits (1..64) from the stream at src, each plus ref,
 * into out; src..end is readable (bytes past the fields may be read, never
 * past end). */
static void unpack(const uint8_t *src, const uint8_t *end, size_t cnt, unsigned width, uint64_t ref,
                   uint64_t *out)
{
    uint64_t mask = width == 64 ? ~UINT64_C(0) : (UINT64_C(1) << width) - 1;
    size_t avail = (size_t)(end - src), i = 0;
    if (width <= 56 && avail >= 8) {
        /* One unaligned 8-byte load per value while 8 bytes remain. */
        size_t nfast = ((avail - 8) * 8 + 7) / width + 1;
        if (nfast > cnt)
            nfast = cnt;
        for (; i < nfast; i++) {
            size_t bit = i * width;
            out[i] = ref + ((codec__load64(src + (bit >> 3)) >> (bit & 7)) & mask);
        }
    }
    for (; i < cnt; i++) { /* near the end, or wide values: copy first */
        size_t bit = i * width, byte = bit >> 3;
        unsigned sh = (unsigned)(bit & 7);
        uint8_t tmp[16] = {0};
        size_t k = avail - byte < 16 ? avail - byte : 16;
        memcpy(tmp, src + byte, k);
        uint64_t v = codec__load64(tmp) >> sh;
        if (sh && sh + width > 64)
            v |= codec__load64(tmp + 8) << (64 - sh);
        out[i] = ref + (v & mask);
    }
}

int codec__pfor_body(codec_rd *r, const codec_pfor_head *h, uint64_t *o, size_t cnt)
{
    /* Locals: o may alias *h as far as the compiler knows. */
    const uint64_t ref = h->ref;
    const unsigned width = h->width;
    const size_t nexc = h->nexc;
    const uint8_t *packed = codec__take(r, (cnt * width + 7) / 8, 1);
    if (!packed)
        return CORRUPT(r);
    if (width == 0) {
        for (size_t i = 0; i < cnt; i++)
            o[i] = ref;
    } else {
        unpack(packed, r->end, cnt, width, ref, o);
    }
    if (!nexc)
        return 0;
    const uint8_t *pos = codec__take(r, nexc, 1);
    if (!pos)
        return CORRUPT(r);
    for (size_t e = 0; e < nexc; e++) {
        uint64_t v;
        if (pos[e] >= cnt || !codec__get_varint(r, &v))
            return CORRUPT(r);
        o[pos[e]] = ref + v;
    }
    return 0;
}

int codec__pfor_decode(codec_rd *r, uint64_t *out, size_t n)
{
    for (size_t b = 0; b < n; b += CODEC_PFOR_BLOCK) {
        size_t cnt = n - b < CODEC_PFOR_BLOCK ? n - b : CODEC_PFOR_BLOCK;
        codec_pfor_head h;
        int rc = codec__pfor_head(r, cnt, &h);
        if (rc == 0)
            rc = codec__pfor_body(r, &h, out + b, cnt);
        if (rc < 0)
            return rc;
    }
    return 0;
}
