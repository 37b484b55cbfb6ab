/*
 * bits.h: the bit packing every codec family shares (internal to
 * storage/codec/; the layouts are in bits.c's top comment).
 *
 * One bit order, LSB first: bit k of a stream is bit k % 8 of byte k / 8.
 * One writer (codec_bw) puts fields of 0..64 bits; one reader (codec_br)
 * takes them back one by one; PFOR decoding takes a run of equal widths
 * at once (bits.c's unpack(), the fast path). PFOR blocks, built on
 * them, hold every integer column: timestamps, int64 and bool values, ALP
 * digits.
 */
#ifndef HIST_STORAGE_CODEC_BITS_H
#define HIST_STORAGE_CODEC_BITS_H

#include "storage/codec/codec.h"

/* ---- Bit writer ------------------------------------------------------------------- */

typedef struct {
    codec_wr *w;
    uint64_t acc;   /* bits not yet written, LSB first */
    unsigned nbits; /* how many: below 32 between calls */
} codec_bw;

/* Appends the low nb bits of val (nb <= 32). */
static inline void codec__bw_put(codec_bw *b, uint64_t val, unsigned nb)
{
    val &= (UINT64_C(1) << nb) - 1;
    b->acc |= val << b->nbits;
    b->nbits += nb;
    if (b->nbits >= 32) {
        codec__put_u32(b->w, (uint32_t)b->acc);
        b->acc >>= 32;
        b->nbits -= 32;
    }
}

/* Appends the low nb bits of val (nb <= 64). */
static inline void codec__bw_bits(codec_bw *b, uint64_t val, unsigned nb)
{
    if (nb > 32) {
        codec__bw_put(b, val, 32);
        val >>= 32;
        nb -= 32;
    }
    codec__bw_put(b, val, nb);
}

/* Writes the last bits, the final byte padded with zeros. */
static inline void codec__bw_flush(codec_bw *b)
{
    while (b->nbits > 0) {
        codec__put_u8(b->w, (uint8_t)b->acc);
        b->acc >>= 8;
        b->nbits = b->nbits > 8 ? b->nbits - 8 : 0;
    }
    b->acc = 0;
}

/* ---- Bit reader ------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end; /* p: the first byte not yet in acc */
    uint64_t acc;
    unsigned nbits;
    int overrun; /* read past the end (as zeros): the stream is corrupt */
} codec_br;

/* The next nb bits (nb <= 32). Takes whole bytes only as needed, so p ends
 * just past the last byte a field touched. */
static inline uint64_t codec__br_get(codec_br *b, unsigned nb)
{
    while (b->nbits < nb) {
        uint64_t byte = 0;
        if (b->p < b->end)
            byte = *b->p++;
        else
            b->overrun = 1;
        b->acc |= byte << b->nbits;
        b->nbits += 8;
    }
    uint64_t v = nb ? b->acc & ((UINT64_C(1) << nb) - 1) : 0;
    b->acc = nb < 64 ? b->acc >> nb : 0;
    b->nbits -= nb;
    return v;
}

/* The next nb bits (nb <= 64). */
static inline uint64_t codec__br_bits(codec_br *b, unsigned nb)
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (nb > 32) {
        v |= codec__br_get(b, 32) << shift;
        shift += 32;
        nb -= 32;
    }
    return v | (nb ? codec__br_get(b, nb) << shift : 0);
}

/* ---- PFOR blocks -------------------------------------------------------------------- */

#define CODEC_PFOR_BLOCK 128

/* A block's header: what precedes its packed values. */
typedef struct {
    unsigned width; /* bits per packed value, 0..64 */
    uint64_t ref;   /* the block minimum, added to every value */
    size_t nexc;    /* exceptions: 0..cnt */
} codec_pfor_head;

/* Writes n values as PFOR blocks (x is not changed). */
void codec__pfor_encode(codec_wr *w, const uint64_t *x, size_t n);

/* Reads n values written by codec__pfor_encode(). 0 or HIST_ECORRUPT. */
int codec__pfor_decode(codec_rd *r, uint64_t *out, size_t n);

/* The same, one block of cnt values at a time: the header, then the rest
 * (so that a caller can take a block of a known shape a faster way). */
static inline int codec__pfor_head(codec_rd *r, size_t cnt, codec_pfor_head *h)
{
    uint8_t hdr, nexc_m1 = 0;
    if (!codec__get_u8(r, &hdr) || !codec__get_varint(r, &h->ref))
        return CORRUPT(r);
    h->width = hdr & 0x7f;
    if (h->width > 64 || ((hdr & 0x80) && !codec__get_u8(r, &nexc_m1)))
        return CORRUPT(r);
    h->nexc = (hdr & 0x80) ? (size_t)nexc_m1 + 1 : 0;
    if (h->nexc > cnt)
        return CORRUPT(r);
    return 0;
}

int codec__pfor_body(codec_rd *r, const codec_pfor_head *h, uint64_t *out, size_t cnt);

#endif
