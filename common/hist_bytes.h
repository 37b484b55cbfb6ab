/*
 * hist_bytes.h: reading and writing fixed-width integers in a given byte
 * order, the one set every format uses: little-endian for the WAL and the
 * chunk format, big-endian for LMDB keys (so they sort as numbers), TCP
 * frame lengths and TZif files. Byte by byte, so any alignment works and
 * the host's own order never matters.
 */
#ifndef HIST_COMMON_BYTES_H
#define HIST_COMMON_BYTES_H

#include <stdint.h>

static inline uint32_t hist_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t hist_get_le64(const uint8_t *p)
{
    return (uint64_t)hist_get_le32(p) | (uint64_t)hist_get_le32(p + 4) << 32;
}

static inline void hist_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void hist_put_le64(uint8_t *p, uint64_t v)
{
    hist_put_le32(p, (uint32_t)v);
    hist_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t hist_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t hist_get_be64(const uint8_t *p)
{
    return (uint64_t)hist_get_be32(p) << 32 | hist_get_be32(p + 4);
}

static inline void hist_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static inline void hist_put_be64(uint8_t *p, uint64_t v)
{
    hist_put_be32(p, (uint32_t)(v >> 32));
    hist_put_be32(p + 4, (uint32_t)v);
}

#endif
