/*
 * test_codec_lpc.c: the linear-prediction value codecs (alp_lpc,
 * int_lpc: storage/codec/lpc.c) through the chunk format.
 *
 * Vibration-like data must come out near its noise's entropy (which only
 * a predictor reaches), as floats and as ints, sealed and frozen; values
 * at the ends of int64, where the prediction's arithmetic wraps, and
 * chunks at the predictor's sample threshold round-trip bit for bit; a
 * predictor's bytes that cannot be (order 0 or above 16, shift above 30)
 * are refused.
 */
#include "codec_check.h"

#include <math.h>

/* ---- Linear prediction (lpc.c) --------------------------------------------------- */

static double gauss(void)
{
    double u = rnd_unit(), w = rnd_unit();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * w);
}

/* Two sines plus noise of sigma, at 0.001 resolution: a 10 Hz vibration
 * reading. */
static double vibration(size_t k, double sigma)
{
    double ph = 0.37 * (double)k;
    return (double)llround((2.5 * sin(ph) + 0.8 * sin(2.9 * ph) + sigma * gauss()) * 1000.0) /
           1000.0;
}

/* The chunk's value column bytes and codec. */
static uint32_t value_bytes(hist_type type, const int64_t *ts, const hist_value *v, size_t n,
                            unsigned flags, uint8_t *codec)
{
    hist_chunk_info info;
    REQUIRE(encoded_info(type, ts, v, n, flags, &info) > 0 && info.count == n);
    *codec = info.value_codec;
    return info.value_bytes;
}

/* A predictor's bytes that cannot be (order 0 or above 16, shift above 30)
 * are refused; the chunk is otherwise whole. */
static void lpc_damaged(const int64_t *ts, const hist_value *v, size_t n)
{
    size_t cap = chunk__bound(n);
    uint8_t *buf = malloc(cap);
    int64_t *ts2 = malloc(n * sizeof(*ts2));
    hist_value *v2 = malloc(n * sizeof(*v2));
    REQUIRE(buf && ts2 && v2);
    int64_t len = chunk__encode(HIST_TYPE_FLOAT64, ts, v, NULL, n, buf, cap);
    hist_chunk_info info;
    REQUIRE(len > 0 && chunk__peek(buf, (size_t)len, &info) == 0);
    CHECKF(strcmp(chunk__codec_name(info.value_codec), "alp_lpc") == 0, "damage: codec %s",
           chunk__codec_name(info.value_codec));
    uint8_t *order = buf + 28 + info.ts_bytes + 1; /* after ALP's exponent */
    static const struct {
        int at; /* 0: order, 1: shift */
        uint8_t bad;
    } cases[] = {{0, 0}, {0, 17}, {0, 255}, {1, 31}, {1, 200}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint8_t keep = order[cases[c].at];
        order[cases[c].at] = cases[c].bad;
        CHECKF(chunk__decode(buf, (size_t)len, ts2, v2, NULL, n) == HIST_ECORRUPT,
               "lpc %s %u accepted", cases[c].at ? "shift" : "order", cases[c].bad);
        order[cases[c].at] = keep;
    }
    CHECK(chunk__decode(buf, (size_t)len, ts2, v2, NULL, n) == (int64_t)n);
    free(buf);
    free(ts2);
    free(v2);
}

/* Vibration-like data: the noise (sigma 0.3 at 0.001: log2(300 * 4.13) =
 * 10.3 bits) is all that is left after prediction, where plain deltas
 * keep the sines' steps too (about 12 bits). Ints the same (ADC counts),
 * and values near the ends of int64, where the arithmetic wraps. */
static void test_lpc(void)
{
    size_t n = 8192;
    int64_t *ts = regular_ts(n, 1700000000000000000ll, 100000000ll);
    hist_value *v = malloc(n * sizeof(*v));
    REQUIRE(ts && v);
    for (size_t k = 0; k < n; k++)
        v[k] = fval(vibration(k, 0.3));
    int c = roundtrip("vibration", HIST_TYPE_FLOAT64, ts, v, NULL, n);
    uint8_t codec;
    uint32_t bytes = value_bytes(HIST_TYPE_FLOAT64, ts, v, n, 0, &codec);
    CHECKF(c >= 0 && strstr(chunk__codec_name(codec), "alp_lpc") && bytes * 8.0 < 10.9 * (double)n,
           "vibration: %s, %.2f bits a value", chunk__codec_name(codec), bytes * 8.0 / (double)n);
    /* Below 256 samples planes are not tried: the predictor over PFOR. */
    roundtrip("vibration, 200 samples", HIST_TYPE_FLOAT64, ts, v, NULL, 200);
    bytes = value_bytes(HIST_TYPE_FLOAT64, ts, v, 200, 0, &codec);
    CHECKF(strcmp(chunk__codec_name(codec), "alp_lpc") == 0 && bytes * 8.0 < 13.0 * 200,
           "vibration, 200 samples: %s, %.2f bits a value", chunk__codec_name(codec),
           bytes * 8.0 / 200);
    lpc_damaged(ts, v, 200);
    /* A frozen run (CHUNK_NO_ZSTD) is decoded at every merge: no predictor. */
    value_bytes(HIST_TYPE_FLOAT64, ts, v, n, CHUNK_NO_ZSTD, &codec);
    CHECKF(!strstr(chunk__codec_name(codec), "lpc"), "vibration, frozen: %s",
           chunk__codec_name(codec));

    for (size_t k = 0; k < n; k++)
        v[k].i = llround(vibration(k, 0.3) * 1000.0);
    c = roundtrip("vibration counts", HIST_TYPE_INT64, ts, v, NULL, n);
    int c200 = roundtrip("vibration counts, 200 samples", HIST_TYPE_INT64, ts, v, NULL, 200);
    CHECKF(c200 >= 0 && strcmp(chunk__codec_name((uint8_t)c200), "int_lpc") == 0,
           "vibration counts, 200 samples: %s", c200 >= 0 ? chunk__codec_name((uint8_t)c200) : "?");
    bytes = value_bytes(HIST_TYPE_INT64, ts, v, n, 0, &codec);
    CHECKF(c >= 0 && strstr(chunk__codec_name(codec), "int_lpc") && bytes * 8.0 < 10.9 * (double)n,
           "vibration counts: %s, %.2f bits a value", chunk__codec_name(codec),
           bytes * 8.0 / (double)n);

    /* Sines of 2^62 around the ends of int64 (the sum wraps mod 2^64),
     * short chunks at the predictor's threshold, and a chunk whose
     * first value is far from the rest. */
    for (size_t k = 0; k < n; k++) {
        double ph = 0.37 * (double)k;
        v[k].i = (int64_t)((uint64_t)INT64_MAX +
                           (uint64_t)(int64_t)(ldexp(sin(ph), 62) + ldexp(gauss(), 30)));
    }
    roundtrip("wrapping sines", HIST_TYPE_INT64, ts, v, NULL, n);
    for (size_t len = 60; len <= 70; len++)
        roundtrip("short sines", HIST_TYPE_INT64, ts, v, NULL, len);
    for (size_t k = 0; k < n; k++)
        v[k].i = INT64_MIN / 2 + llround(vibration(k, 0.3) * 1000.0);
    c = roundtrip("far from 0", HIST_TYPE_INT64, ts, v, NULL, n);
    CHECKF(c >= 0 && strstr(chunk__codec_name((uint8_t)c), "int_lpc"), "far from 0: %s",
           c >= 0 ? chunk__codec_name((uint8_t)c) : "?");
    v[0].i = INT64_MIN; /* an outlier first: its two deltas are far off */
    roundtrip("far first value", HIST_TYPE_INT64, ts, v, NULL, n);
    free(ts);
    free(v);
}

/* Each of the four ids was chosen by some input above. */
static void test_coverage(void)
{
    static const char *const want[] = {"alp_lpc", "int_lpc", "planes+alp_lpc", "planes+int_lpc"};
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        unsigned times = 0;
        for (int id = 0; id < 256; id++)
            if (strcmp(chunk__codec_name((uint8_t)id), want[w]) == 0)
                times += seen_codec[id];
        CHECKF(times > 0, "codec %s never chosen", want[w]);
    }
}

int main(void)
{
    test_lpc();
    test_coverage();
    return check_summary();
}
