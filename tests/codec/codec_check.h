/*
 * codec_check.h: what the chunk codec tests share (test_codec.c,
 * test_codec_lpc.c): a seeded xorshift, values from bits or doubles,
 * regular timestamps, and the round trip every input goes through
 * (encode, peek, decode, compare bit for bit, as sealed and as frozen),
 * which counts the codecs chosen for test_codec's coverage check.
 */
#ifndef HIST_TESTS_CODEC_CHECK_H
#define HIST_TESTS_CODEC_CHECK_H

#include "check.h"
#include "rng.h"
#include "storage/chunk.h"

#include <stdlib.h>
#include <string.h>

/* Codec ids seen as chosen, for the coverage check (index = id). */
static unsigned seen_codec[256];

static uint64_t rng_state = 0x1234567887654321ull;

static inline uint64_t rnd(void)
{
    return xorshift64star(&rng_state);
}

static inline double rnd_unit(void)
{
    return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

static inline hist_value fbits(uint64_t bits)
{
    hist_value v;
    v.bits = bits;
    return v;
}

static inline hist_value fval(double f)
{
    hist_value v;
    v.f = f;
    return v;
}

/* Encodes with flags, peeks, decodes and compares bit for bit. Returns
 * the value codec chosen, or -1 on a failure (already counted); *len_out
 * gets the chunk's length. */
static inline int roundtrip_flags(const char *what, hist_type type, const int64_t *ts,
                                  const hist_value *v, const uint32_t *q, size_t n, unsigned flags,
                                  int64_t *len_out)
{
    size_t cap = chunk__bound(n);
    uint8_t *buf = malloc(cap);
    int64_t *ts2 = malloc((n + 1) * sizeof(*ts2));
    hist_value *v2 = malloc((n + 1) * sizeof(*v2));
    uint32_t *q2 = malloc((n + 1) * sizeof(*q2));
    REQUIRE(buf && ts2 && v2 && q2);
    int result = -1;
    int64_t len = chunk__encode_flags(type, ts, v, q, n, buf, cap, flags);
    *len_out = len;
    CHECKF(len > 0, "%s: encode returned %lld", what, (long long)len);
    if (len <= 0)
        goto out;
    CHECKF((size_t)len <= cap, "%s: %lld > bound %zu", what, (long long)len, cap);
    hist_chunk_info info;
    CHECK_OK(chunk__peek(buf, (size_t)len, &info));
    CHECK(info.count == n && info.type == type);
    CHECK(28 + (int64_t)info.ts_bytes + info.value_bytes + info.quality_bytes == len);
    CHECK(strcmp(chunk__codec_name(info.ts_codec), "unknown") != 0);
    CHECK(strcmp(chunk__codec_name(info.value_codec), "unknown") != 0);
    CHECK(strcmp(chunk__codec_name(info.quality_codec), "unknown") != 0);
    seen_codec[info.ts_codec]++;
    seen_codec[info.value_codec]++;
    seen_codec[info.quality_codec]++;
    int64_t got = chunk__decode(buf, (size_t)len, ts2, v2, q2, n);
    CHECKF(got == (int64_t)n, "%s: decode returned %lld, want %zu", what, (long long)got, n);
    if (got != (int64_t)n)
        goto out;
    size_t bad_ts = 0, bad_v = 0, bad_q = 0;
    for (size_t i = 0; i < n; i++) {
        bad_ts += ts2[i] != ts[i];
        bad_v += v2[i].bits != v[i].bits;
        bad_q += q2[i] != (q ? q[i] : HIST_QUALITY_GOOD);
    }
    CHECKF(bad_ts == 0 && bad_v == 0 && bad_q == 0,
           "%s: %zu ts, %zu values, %zu qualities differ (codecs %s/%s/%s)", what, bad_ts, bad_v,
           bad_q, chunk__codec_name(info.ts_codec), chunk__codec_name(info.value_codec),
           chunk__codec_name(info.quality_codec));
    /* Room for one sample less is refused. */
    CHECK(chunk__decode(buf, (size_t)len, ts2, v2, q2, n - 1) == HIST_ENOSPC);
    /* Skipping the quality column is allowed. */
    CHECK(chunk__decode(buf, (size_t)len, ts2, v2, NULL, n) == (int64_t)n);
    if (flags & CHUNK_NO_ZSTD)
        CHECKF(!((info.ts_codec | info.value_codec | info.quality_codec) & 0xc0),
               "%s: no zstd asked, codec %s", what, chunk__codec_name(info.value_codec));
    result = info.value_codec;
out:
    free(buf);
    free(ts2);
    free(v2);
    free(q2);
    return result;
}

/* roundtrip_flags() as sealed (every codec) and as frozen (CHUNK_NO_ZSTD:
 * PFOR only, the codecs of chunks written before byte planes). The first
 * is never the longer: it tries a superset. Returns the sealed codec. */
static inline int roundtrip(const char *what, hist_type type, const int64_t *ts,
                            const hist_value *v, const uint32_t *q, size_t n)
{
    int64_t sealed, frozen;
    roundtrip_flags(what, type, ts, v, q, n, CHUNK_NO_ZSTD, &frozen);
    int c = roundtrip_flags(what, type, ts, v, q, n, 0, &sealed);
    CHECKF(sealed <= frozen, "%s: %lld bytes with every codec, %lld with PFOR only", what,
           (long long)sealed, (long long)frozen);
    return c;
}

/* The chunk's length with flags and its header (zeros when the encode
 * failed; no checks). */
static inline int64_t encoded_info(hist_type type, const int64_t *ts, const hist_value *v, size_t n,
                                   unsigned flags, hist_chunk_info *info)
{
    size_t cap = chunk__bound(n);
    uint8_t *buf = malloc(cap);
    REQUIRE(buf);
    int64_t len = chunk__encode_flags(type, ts, v, NULL, n, buf, cap, flags);
    if (len <= 0 || chunk__peek(buf, (size_t)len, info) != 0)
        memset(info, 0, sizeof(*info));
    free(buf);
    return len;
}

/* The chunk's length and value codec with flags (no checks). */
static inline int64_t encoded_len(hist_type type, const int64_t *ts, const hist_value *v, size_t n,
                                  unsigned flags, uint8_t *codec)
{
    hist_chunk_info info;
    int64_t len = encoded_info(type, ts, v, n, flags, &info);
    *codec = info.value_codec;
    return len;
}

static inline int64_t *regular_ts(size_t n, int64_t start, int64_t period)
{
    int64_t *ts = malloc(n * sizeof(*ts));
    for (size_t i = 0; i < n; i++)
        ts[i] = start + (int64_t)i * period;
    return ts;
}

#endif
