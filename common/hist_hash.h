/*
 * hist_hash.h: the 64-bit FNV-1a hash of a name, the one key the ingest
 * writer's name cache is built on: every producer of a batch (the protobuf
 * decoder, the MQTT batch builder) hashes a tag name with this function,
 * so the cache finds a tag whichever path wrote it first.
 */
#ifndef HIST_COMMON_HASH_H
#define HIST_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HIST_FNV_OFFSET UINT64_C(1469598103934665603)
#define HIST_FNV_PRIME  UINT64_C(1099511628211)

static inline uint64_t hist_fnv1a(const void *data, size_t n)
{
    const unsigned char *s = data;
    uint64_t h = HIST_FNV_OFFSET;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * HIST_FNV_PRIME;
    return h;
}

#endif
