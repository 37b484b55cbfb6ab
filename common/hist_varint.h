/*
 * hist_varint.h: unsigned LEB128 varints and zigzag, the one reader and
 * writer of the WAL payload, the chunk index entries and the chunk codecs.
 *
 * A varint is 7 bits a byte, least significant first, the top bit set on
 * every byte but the last: at most HIST_VARINT_MAX (10) bytes and at most
 * 64 bits, so a 10th byte above 1 is corrupt (the value would not fit).
 * The writer always writes the shortest form. Zigzag maps a signed 64-bit
 * x to 0, -1, 1, -2, ... as 0, 1, 2, 3, ... so that small magnitudes of
 * either sign take few bytes.
 *
 * Inline: the chunk codecs read varints in their decode loops.
 */
#ifndef HIST_COMMON_VARINT_H
#define HIST_COMMON_VARINT_H

#include <stdint.h>

#include "common/hist_error.h"

#define HIST_VARINT_MAX 10

/* Writes x at p (room for HIST_VARINT_MAX bytes); returns the byte after it. */
static inline uint8_t *hist_varint_put(uint8_t *p, uint64_t x)
{
    while (x >= 0x80) {
        *p++ = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    *p++ = (uint8_t)x;
    return p;
}

/* Reads a varint from *p (ending before end) into *x and moves *p past it:
 * 0, or HIST_ECORRUPT when it is cut short by end, or longer than 10
 * bytes or 64 bits (then *p and *x are left as they were). */
static inline int hist_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *x)
{
    const uint8_t *q = *p;
    if (q < end && *q < 0x80) { /* most varints are one byte: that case first */
        *x = *q;
        *p = q + 1;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (q >= end)
            return HIST_ECORRUPT;
        uint8_t b = *q++;
        if (shift == 63 && b > 1)
            return HIST_ECORRUPT; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *x = v;
            *p = q;
            return 0;
        }
    }
    return HIST_ECORRUPT; /* unreachable: the 10th byte ends it or fails */
}

static inline uint64_t hist_zigzag(int64_t x)
{
    uint64_t u = (uint64_t)x;
    return (u << 1) ^ (uint64_t)(-(int64_t)(u >> 63));
}

static inline int64_t hist_unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

#endif
