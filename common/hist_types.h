/*
 * hist_types.h: the data model every module and the gateway client share:
 * value types, values, samples, the time range and qualities.
 *
 * Timestamps are int64 ns since the Unix epoch (UTC), within
 * [HIST_TS_MIN, HIST_TS_MAX]. A value is 64 bits whose meaning the tag's
 * type gives; bool tags store 0 or 1 in hist_value.i. Quality is an OPC UA
 * StatusCode.
 */
#ifndef HIST_COMMON_TYPES_H
#define HIST_COMMON_TYPES_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    HIST_TYPE_FLOAT64 = 1,
    HIST_TYPE_INT64 = 2,
    HIST_TYPE_BOOL = 3,
} hist_type;

typedef union {
    double f;      /* HIST_TYPE_FLOAT64 */
    int64_t i;     /* HIST_TYPE_INT64, HIST_TYPE_BOOL (0 or 1) */
    uint64_t bits; /* the raw 64 bits, for codecs and exact comparison */
} hist_value;

typedef struct {
    int64_t ts;
    hist_value v;
    uint32_t q;
} hist_sample;

/* ~200 years either side of the epoch, in ns (200 * 365.2425 * 86400e9). */
#define HIST_TS_MAX INT64_C(6311390400000000000)
#define HIST_TS_MIN (-HIST_TS_MAX)

/* Quality is an OPC UA StatusCode: the top two bits say Good (00),
 * Uncertain (01) or Bad (10; 11 is reserved and treated as Bad). */
#define HIST_QUALITY_GOOD      0u
#define HIST_QUALITY_UNCERTAIN 0x40000000u
#define HIST_QUALITY_BAD       0x80000000u
static inline bool hist_quality_is_good(uint32_t q)
{
    return (q >> 30) == 0;
}
static inline bool hist_quality_is_uncertain(uint32_t q)
{
    return (q >> 30) == 1;
}
static inline bool hist_quality_is_bad(uint32_t q)
{
    return (q >> 30) >= 2;
}

/* An OPC DA quality (0..255: 192 Good, 0 Bad, 64 Uncertain, and their
 * sub-statuses; the two limit bits ignored) as an OPC UA StatusCode by the
 * table of docs/protocol.md; over 255 a StatusCode already (up to
 * 2^32 - 1); negative or larger: Bad. common/quality.c. */
uint32_t hist_quality_from_da(int64_t q);

#endif
