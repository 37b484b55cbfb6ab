/*
 * index_entry.c: the bytes of a chunk's LMDB index entry (index format 3).
 *
 * An entry is read for every chunk a query touches and kept for every
 * chunk on disk, so it is packed: a 1 Hz tag has a chunk an hour, and the
 * fixed-layout struct of format 2 (192 bytes, 344 with counted stats) was
 * a tenth of the bytes per sample. The key already holds tag, start time
 * and seq; the value holds the rest:
 *
 *   u8 3 (the format), u8 flags, u8 ts/value/quality codec (3 bytes),
 *   varint segment, varint offset, varint length, u32le crc,
 *   stats, and with HIST_CHUNK_HAS_COUNTED in flags a second stats.
 *
 * stats: varint start (minus the chunk start), varint end - start,
 *   varint count, bad_count, nongood_count, nan_count,
 *   varint min_ts - start, max_ts - start, varint first_q, last_q, min_q,
 *   max_q, u16le mask, then the 8-byte fields the mask names, in this
 *   order: min, max, sum, sumsq, first_v, last_v, min_v, max_v,
 *   tw_integral, true_seconds, increase. A field is left out when its bits
 *   are all zero, except min_v / max_v: they are left out when their bits
 *   equal those of min / max (a float64 tag's extremes). The decoder puts
 *   the left-out fields back.
 *
 * Times are stored as unsigned offsets from the chunk start and added back
 * in unsigned arithmetic, so damaged bytes give wrong numbers, never
 * undefined behaviour; every read is bounds-checked and the value must be
 * used exactly (fuzzed by tests/fuzz/fuzz_index_entry.c).
 */
#include "storage/index.h"

#include "common/hist_varint.h"

#include <string.h>

enum {
    ENTRY_FORMAT = 3,
    F_MIN = 1 << 0,
    F_MAX = 1 << 1,
    F_SUM = 1 << 2,
    F_SUMSQ = 1 << 3,
    F_FIRST = 1 << 4,
    F_LAST = 1 << 5,
    F_MINV = 1 << 6,
    F_MAXV = 1 << 7,
    F_TW = 1 << 8,
    F_TRUE = 1 << 9,
    F_INC = 1 << 10,
    F_ALL = (1 << 11) - 1,
};

/* ---- Writing ---- */

static uint8_t *put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

/* The stats' 8-byte fields in mask order. */
static void wide_fields(const hist_chunk_stats *st, uint64_t f[11])
{
    f[0] = bits_of(st->min);
    f[1] = bits_of(st->max);
    f[2] = bits_of(st->sum);
    f[3] = bits_of(st->sumsq);
    f[4] = st->first_v.bits;
    f[5] = st->last_v.bits;
    f[6] = st->min_v.bits;
    f[7] = st->max_v.bits;
    f[8] = bits_of(st->tw_integral);
    f[9] = bits_of(st->true_seconds);
    f[10] = bits_of(st->increase);
}

static uint8_t *put_stats(uint8_t *p, const hist_chunk_stats *st, int64_t base)
{
    uint64_t start = (uint64_t)st->start_ts;
    p = hist_varint_put(p, start - (uint64_t)base);
    p = hist_varint_put(p, (uint64_t)st->end_ts - start);
    p = hist_varint_put(p, st->count);
    p = hist_varint_put(p, st->bad_count);
    p = hist_varint_put(p, st->nongood_count);
    p = hist_varint_put(p, st->nan_count);
    p = hist_varint_put(p, (uint64_t)st->min_ts - start);
    p = hist_varint_put(p, (uint64_t)st->max_ts - start);
    p = hist_varint_put(p, st->first_q);
    p = hist_varint_put(p, st->last_q);
    p = hist_varint_put(p, st->min_q);
    p = hist_varint_put(p, st->max_q);
    uint64_t f[11];
    wide_fields(st, f);
    unsigned mask = 0;
    for (int i = 0; i < 11; i++)
        if (f[i] != 0)
            mask |= 1u << i;
    /* min_v / max_v: left out exactly when the decoder's stand-in (min /
     * max) is right, zero or not. */
    mask = (mask & ~(unsigned)(F_MINV | F_MAXV)) | (f[6] != f[0] ? F_MINV : 0) |
           (f[7] != f[1] ? F_MAXV : 0);
    p = put_le(p, mask, 2);
    for (int i = 0; i < 11; i++)
        if (mask & (1u << i))
            p = put_le(p, f[i], 8);
    return p;
}

size_t entry__pack(const hist_chunk_ref *ref, uint8_t *out)
{
    uint8_t *p = out;
    *p++ = ENTRY_FORMAT;
    *p++ = ref->flags;
    *p++ = ref->ts_codec;
    *p++ = ref->value_codec;
    *p++ = ref->quality_codec;
    p = hist_varint_put(p, ref->segment);
    p = hist_varint_put(p, ref->offset);
    p = hist_varint_put(p, ref->length);
    p = put_le(p, ref->crc, 4);
    p = put_stats(p, &ref->stats, ref->stats.start_ts);
    if (ref->flags & HIST_CHUNK_HAS_COUNTED)
        p = put_stats(p, &ref->counted, ref->stats.start_ts);
    return (size_t)(p - out);
}

/* ---- Reading ---- */

typedef struct {
    const uint8_t *p, *end;
    bool bad;
} reader;

static uint64_t get_varint(reader *r)
{
    uint64_t v;
    if (hist_varint_get(&r->p, r->end, &v) != 0) {
        r->bad = true; /* cut short, or more than 64 bits */
        return 0;
    }
    return v;
}

static uint32_t get_varint32(reader *r)
{
    uint64_t v = get_varint(r);
    if (v > UINT32_MAX)
        r->bad = true;
    return (uint32_t)v;
}

static uint64_t get_le(reader *r, int bytes)
{
    if (r->end - r->p < bytes) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    if (bytes == 8) { /* one load; the compiler makes it a mov on x86 */
        uint8_t b[8];
        memcpy(b, r->p, 8);
        v = (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
            (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 |
            (uint64_t)b[7] << 56;
    } else {
        for (int i = 0; i < bytes; i++)
            v |= (uint64_t)r->p[i] << (8 * i);
    }
    r->p += bytes;
    return v;
}

static double double_of(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static void get_stats(reader *r, hist_chunk_stats *st, int64_t base)
{
    memset(st, 0, sizeof(*st));
    uint64_t start = (uint64_t)base + get_varint(r);
    st->start_ts = (int64_t)start;
    st->end_ts = (int64_t)(start + get_varint(r));
    st->count = get_varint32(r);
    st->bad_count = get_varint32(r);
    st->nongood_count = get_varint32(r);
    st->nan_count = get_varint32(r);
    st->min_ts = (int64_t)(start + get_varint(r));
    st->max_ts = (int64_t)(start + get_varint(r));
    st->first_q = get_varint32(r);
    st->last_q = get_varint32(r);
    st->min_q = get_varint32(r);
    st->max_q = get_varint32(r);
    unsigned mask = (unsigned)get_le(r, 2);
    if (mask & ~(unsigned)F_ALL)
        r->bad = true;
    uint64_t f[11] = {0};
    for (int i = 0; i < 11; i++)
        if (mask & (1u << i))
            f[i] = get_le(r, 8);
    if (!(mask & F_MINV))
        f[6] = f[0];
    if (!(mask & F_MAXV))
        f[7] = f[1];
    st->min = double_of(f[0]);
    st->max = double_of(f[1]);
    st->sum = double_of(f[2]);
    st->sumsq = double_of(f[3]);
    st->first_v.bits = f[4];
    st->last_v.bits = f[5];
    st->min_v.bits = f[6];
    st->max_v.bits = f[7];
    st->tw_integral = double_of(f[8]);
    st->true_seconds = double_of(f[9]);
    st->increase = double_of(f[10]);
}

int entry__unpack(const uint8_t *p, size_t n, uint32_t tag, int64_t start, uint64_t seq,
                  hist_chunk_ref *ref)
{
    memset(ref, 0, sizeof(*ref));
    reader r = {p, p + n, false};
    if (get_le(&r, 1) != ENTRY_FORMAT)
        return HIST_ECORRUPT;
    ref->flags = (uint8_t)get_le(&r, 1);
    ref->ts_codec = (uint8_t)get_le(&r, 1);
    ref->value_codec = (uint8_t)get_le(&r, 1);
    ref->quality_codec = (uint8_t)get_le(&r, 1);
    ref->segment = get_varint32(&r);
    ref->offset = get_varint(&r);
    ref->length = get_varint32(&r);
    ref->crc = (uint32_t)get_le(&r, 4);
    get_stats(&r, &ref->stats, start);
    if (ref->flags & HIST_CHUNK_HAS_COUNTED)
        get_stats(&r, &ref->counted, start);
    if (r.bad || r.p != r.end || (ref->flags & ~HIST_CHUNK_HAS_COUNTED) ||
        ref->stats.start_ts != start)
        return HIST_ECORRUPT;
    ref->tag = tag;
    ref->seq = seq;
    return 0;
}
