/*
 * test_codec.c: the chunk codecs (storage/chunk.c) and the plant data
 * generator (tools/plantgen.c).
 *
 * Round trips must be bit-exact (every float64 bit pattern, every int64,
 * every quality) on plain, adversarial and randomized inputs; bad arguments
 * get their error codes; damaged chunks (truncated, bit-flipped, lengths
 * rewritten, garbage) decode to HIST_ECORRUPT or to valid sorted output,
 * never a crash (ASan/UBSan builds check the "never"). Every codec must be
 * chosen by at least one input, checked through chunk__peek().
 *
 * Decided and tested here: encoding 0 samples is HIST_EINVAL (a chunk always
 * has a first and a last sample).
 */
#include "check.h"
#include "storage/chunk.h"
#include "tools/plantgen.h"

#include <float.h>
#include <math.h>

#include "codec_check.h"

/* ---- Argument errors --------------------------------------------------- */

static void test_errors(void)
{
    int64_t ts[3] = {1, 2, 3};
    hist_value v[3] = {fval(1), fval(2), fval(3)};
    uint8_t buf[512];
    CHECK(chunk__encode(HIST_TYPE_FLOAT64, ts, v, NULL, 0, buf, sizeof(buf)) == HIST_EINVAL);
    CHECK(chunk__encode((hist_type)9, ts, v, NULL, 3, buf, sizeof(buf)) == HIST_EINVAL);
    int64_t dup[3] = {1, 2, 2}, unsorted[3] = {1, 3, 2};
    CHECK(chunk__encode(HIST_TYPE_FLOAT64, dup, v, NULL, 3, buf, sizeof(buf)) == HIST_EINVAL);
    CHECK(chunk__encode(HIST_TYPE_FLOAT64, unsorted, v, NULL, 3, buf, sizeof(buf)) == HIST_EINVAL);
    hist_value b[3] = {fbits(0), fbits(2), fbits(1)};
    CHECK(chunk__encode(HIST_TYPE_BOOL, ts, b, NULL, 3, buf, sizeof(buf)) == HIST_EINVAL);
    CHECK(chunk__encode(HIST_TYPE_FLOAT64, ts, v, NULL, 3, buf, 10) == HIST_ENOSPC);
    int64_t len = chunk__encode(HIST_TYPE_FLOAT64, ts, v, NULL, 3, buf, sizeof(buf));
    REQUIRE(len > 0);
    /* Exactly enough room works. */
    uint8_t exact[512];
    CHECK(chunk__encode(HIST_TYPE_FLOAT64, ts, v, NULL, 3, exact, (size_t)len) == len);
    CHECK(chunk__encode(HIST_TYPE_FLOAT64, ts, v, NULL, 3, exact, (size_t)len - 1) == HIST_ENOSPC);
    int64_t ts2[3];
    hist_value v2[3];
    CHECK(chunk__decode(buf, (size_t)len, ts2, v2, NULL, 2) == HIST_ENOSPC);
    CHECK(chunk__decode(NULL, 0, ts2, v2, NULL, 3) == HIST_ECORRUPT);
    CHECK(chunk__peek(buf, 5, NULL) == HIST_ECORRUPT);
    CHECK(strcmp(chunk__codec_name(0), "unknown") == 0);
    CHECK(strcmp(chunk__codec_name(255), "unknown") == 0);
}

/* ---- Small n, every type ------------------------------------------------- */

static void test_small(void)
{
    int64_t ts[3] = {-5, 0, HIST_TS_MAX};
    hist_value f[3] = {fval(1.5), fval(-0.0), fval(NAN)};
    hist_value i[3] = {fbits((uint64_t)INT64_MIN), fbits((uint64_t)INT64_MAX), fbits(0)};
    hist_value b[3] = {fbits(1), fbits(0), fbits(1)};
    uint32_t q[3] = {HIST_QUALITY_BAD, 0, HIST_QUALITY_UNCERTAIN | 5};
    for (size_t n = 1; n <= 3; n++) {
        roundtrip("small float", HIST_TYPE_FLOAT64, ts, f, q, n);
        roundtrip("small int", HIST_TYPE_INT64, ts, i, q, n);
        roundtrip("small bool", HIST_TYPE_BOOL, ts, b, NULL, n);
    }
    int64_t ext[2] = {HIST_TS_MIN, HIST_TS_MAX};
    roundtrip("ts extremes", HIST_TYPE_FLOAT64, ext, f, NULL, 2);
    int64_t full[3] = {INT64_MIN, 0, INT64_MAX};
    roundtrip("ts int64 range", HIST_TYPE_INT64, full, i, q, 3);
}

/* ---- Float values -------------------------------------------------------- */

static void test_float_specials(void)
{
    static const uint64_t special[] = {
        0x7ff8000000000000ull, /* quiet NaN */
        0x7ff0000000000001ull, /* signalling NaN */
        0xfff8000000000000ull, /* negative NaN */
        0x7fffffffffffffffull, /* NaN, all payload bits */
        0x7ff4000000000abcull, /* NaN with a payload */
        0x7ff0000000000000ull, /* +Inf */
        0xfff0000000000000ull, /* -Inf */
        0x8000000000000000ull, /* -0.0 */
        0x0000000000000000ull, /* +0.0 */
        0x0000000000000001ull, /* smallest subnormal */
        0x000fffffffffffffull, /* largest subnormal */
        0x8000000000000001ull, /* negative subnormal */
        0x7fefffffffffffffull, /* DBL_MAX */
        0x0010000000000000ull, /* DBL_MIN */
    };
    size_t ns = sizeof(special) / sizeof(special[0]);
    size_t n = 1000;
    int64_t *ts = regular_ts(n, 1700000000000000000ll, 1000000000ll);
    hist_value *v = malloc(n * sizeof(*v));
    /* Only specials. */
    for (size_t k = 0; k < n; k++)
        v[k] = fbits(special[k % ns]);
    roundtrip("specials only", HIST_TYPE_FLOAT64, ts, v, NULL, n);
    /* Decimals with rare specials: ALP with exceptions. */
    for (size_t k = 0; k < n; k++)
        v[k] = fval((double)llround(20.0 + 10.0 * rnd_unit() * 10) / 10.0);
    for (size_t k = 0; k < ns; k++)
        v[k * 61 % n] = fbits(special[k]);
    int c = roundtrip("decimals + specials", HIST_TYPE_FLOAT64, ts, v, NULL, n);
    CHECKF(c >= 0 && strstr(chunk__codec_name((uint8_t)c), "alp"), "codec %s",
           c >= 0 ? chunk__codec_name((uint8_t)c) : "?");
    /* Each special alone as a constant column, and every special at the
     * first and at the last position of a decimal column. */
    for (size_t s = 0; s < ns; s++) {
        for (size_t k = 0; k < 300; k++)
            v[k] = fbits(special[s]);
        roundtrip("constant special", HIST_TYPE_FLOAT64, ts, v, NULL, 300);
        for (size_t k = 0; k < 300; k++)
            v[k] = fval((double)k / 4);
        v[0] = fbits(special[s]);
        v[299] = fbits(special[(s + 1) % ns]);
        roundtrip("special at edges", HIST_TYPE_FLOAT64, ts, v, NULL, 300);
    }
    free(ts);
    free(v);
}

static void test_float_shapes(void)
{
    size_t n = 5000;
    int64_t *ts = regular_ts(n, 0, 1000000000ll);
    hist_value *v = malloc(n * sizeof(*v));
    char what[64];

    for (size_t k = 0; k < n; k++)
        v[k] = fval(42.125);
    CHECK(roundtrip("constant", HIST_TYPE_FLOAT64, ts, v, NULL, n) >= 0);

    for (size_t k = 0; k < n; k++)
        v[k] = fval(k & 1 ? 1.0 : -1e300);
    roundtrip("alternating", HIST_TYPE_FLOAT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++)
        v[k] = fval(10.0 * (double)(k / 700));
    roundtrip("steps", HIST_TYPE_FLOAT64, ts, v, NULL, n);

    /* Ramps (a valve travelling 0.5 % a second, long ramps): delta of delta. */
    for (size_t k = 0; k < n; k++)
        v[k] = fval((double)(long)(k % 2000) * 0.5 + (k % 2000 > 1500 ? 0.1 : 0.0));
    int c = roundtrip("ramps", HIST_TYPE_FLOAT64, ts, v, NULL, n);
    CHECKF(c >= 0 && strstr(chunk__codec_name((uint8_t)c), "alp_d"), "ramps: codec %s",
           c >= 0 ? chunk__codec_name((uint8_t)c) : "?");
    uint8_t pc;
    int64_t plen = encoded_len(HIST_TYPE_FLOAT64, ts, v, n, CHUNK_NO_ZSTD, &pc);
    CHECKF(strcmp(chunk__codec_name(pc), "alp_dod") == 0 && plen < 400,
           "ramps, PFOR only: %s, %lld bytes", chunk__codec_name(pc), (long long)plen);

    /* Random walks with 0..6 decimals, and the same as uniform noise. */
    for (int digits = 0; digits <= 6; digits++) {
        double scale = pow(10, digits), x = 100.0;
        for (size_t k = 0; k < n; k++) {
            x += rnd_unit() - 0.5;
            v[k] = fval((double)llround(x * scale) / scale);
        }
        snprintf(what, sizeof(what), "walk %d decimals", digits);
        int cr = roundtrip(what, HIST_TYPE_FLOAT64, ts, v, NULL, n);
        CHECKF(cr >= 0 && strstr(chunk__codec_name((uint8_t)cr), "alp"), "%s: codec %s", what,
               cr >= 0 ? chunk__codec_name((uint8_t)cr) : "?");
        for (size_t k = 0; k < n; k++)
            v[k] = fval((double)llround((rnd_unit() * 2000 - 1000) * scale) / scale);
        snprintf(what, sizeof(what), "uniform %d decimals", digits);
        roundtrip(what, HIST_TYPE_FLOAT64, ts, v, NULL, n);
    }

    /* High entropy: full doubles, then random bit patterns. */
    for (size_t k = 0; k < n; k++)
        v[k] = fval(sin((double)k * 0.37) + rnd_unit() * 1e-3);
    roundtrip("full doubles", HIST_TYPE_FLOAT64, ts, v, NULL, n);
    for (size_t k = 0; k < n; k++)
        v[k] = fbits(rnd());
    roundtrip("random bits", HIST_TYPE_FLOAT64, ts, v, NULL, n);

    /* A repeated block of random doubles: zstd finds it. */
    for (size_t k = 0; k < n; k++)
        v[k] = fbits(k % 16 == 0 ? 0x4045000000000000ull : (k % 16) * 0x0123456789abcdefull);
    roundtrip("repeated pattern", HIST_TYPE_FLOAT64, ts, v, NULL, n);

    /* Huge decimals near the ALP limit and tiny ones. */
    for (size_t k = 0; k < n; k++)
        v[k] = fval(k % 2 ? 9.0e17 + (double)k : 1e-18 * (double)k);
    roundtrip("huge and tiny", HIST_TYPE_FLOAT64, ts, v, NULL, n);
    free(ts);
    free(v);
}

/* ---- Integers and booleans -------------------------------------------------- */

static void test_ints(void)
{
    size_t n = 4000;
    int64_t *ts = regular_ts(n, -1000000000000ll, 1000000ll);
    hist_value *v = malloc(n * sizeof(*v));

    for (size_t k = 0; k < n; k++)
        v[k] = fbits((uint64_t)(k & 1 ? INT64_MIN : INT64_MAX));
    roundtrip("int min/max alternating", HIST_TYPE_INT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++)
        v[k] = fbits((uint64_t)INT64_MIN + k);
    roundtrip("int near min", HIST_TYPE_INT64, ts, v, NULL, n);

    int64_t c = INT64_MAX - 100000;
    for (size_t k = 0; k < n; k++) {
        c = k % 997 == 0 ? 0 : c + (int64_t)(rnd() % 7);
        v[k] = fbits((uint64_t)c);
    }
    roundtrip("counter with resets", HIST_TYPE_INT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++)
        v[k] = fbits(rnd() % 1000);
    roundtrip("small random ints", HIST_TYPE_INT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++)
        v[k] = fbits(rnd());
    roundtrip("random int64", HIST_TYPE_INT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++)
        v[k] = fbits((uint64_t)(k / 500 % 3) - 1);
    roundtrip("int steps", HIST_TYPE_INT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++) /* a fixed-rate counter: delta of delta */
        v[k] = fbits((uint64_t)k * 1000003u + (k > n / 2 ? k : 0));
    roundtrip("int ramp", HIST_TYPE_INT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++)
        v[k] = fbits(rnd() & 1);
    roundtrip("random bool", HIST_TYPE_BOOL, ts, v, NULL, n);
    for (size_t k = 0; k < n; k++)
        v[k] = fbits(k / 1500 % 2);
    roundtrip("rare bool flips", HIST_TYPE_BOOL, ts, v, NULL, n);
    for (size_t k = 0; k < n; k++)
        v[k] = fbits(1);
    roundtrip("constant bool", HIST_TYPE_BOOL, ts, v, NULL, n);
    free(ts);
    free(v);
}

/* ---- Timestamps and qualities ------------------------------------------------ */

static void test_timestamps(void)
{
    size_t n = 3000;
    int64_t *ts = malloc(n * sizeof(*ts));
    hist_value *v = malloc(n * sizeof(*v));
    uint32_t *q = malloc(n * sizeof(*q));
    for (size_t k = 0; k < n; k++)
        v[k] = fval((double)(k % 10));

    for (size_t k = 0; k < n; k++) /* jittered ms around 1 s, negative epoch */
        ts[k] = -86400000000000ll + (int64_t)k * 1000000000ll +
                (k % 7 == 0 ? (int64_t)(rnd() % 9) * 1000000ll - 4000000ll : 0);
    roundtrip("jittered negative", HIST_TYPE_FLOAT64, ts, v, NULL, n);

    /* A gateway's 1 s samples, 2 in 100 off by 1..5 ms, a gap of 40 s,
     * and the first and last samples off the grid: the sparse grid, at
     * about 2 bytes an off-grid sample (PFOR's grid: 0.067 B a sample on
     * the plant generator's data, 3 bytes a block of 128 besides). */
    size_t off_grid = 0;
    for (size_t k = 0; k < n; k++) {
        int64_t jitter = 0;
        if (k == 1 || k == n - 1 || rnd() % 50 == 0)
            jitter = (1 + (int64_t)(rnd() % 5)) * 1000000ll * (rnd() % 2 ? 1 : -1);
        off_grid += jitter != 0;
        ts[k] = 1700000000000000000ll + (int64_t)(k + (k > n / 2 ? 40 : 0)) * 1000000000ll + jitter;
    }
    roundtrip("plant jitter", HIST_TYPE_FLOAT64, ts, v, NULL, n);
    hist_chunk_info ji;
    REQUIRE(encoded_info(HIST_TYPE_FLOAT64, ts, v, n, 0, &ji) > 0 && ji.count == n);
    CHECKF(strcmp(chunk__codec_name(ji.ts_codec), "ts_grid_sparse") == 0 &&
               ji.ts_bytes <= 24 + 2 * (off_grid + 1),
           "plant jitter: %s, %u bytes for %zu off-grid samples", chunk__codec_name(ji.ts_codec),
           ji.ts_bytes, off_grid);

    for (size_t k = 0; k < n; k++) /* huge gaps */
        ts[k] = HIST_TS_MIN + (int64_t)k * 1000 + (k > n / 2 ? HIST_TS_MAX : 0);
    roundtrip("huge gap", HIST_TYPE_FLOAT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++) /* spread over the whole range */
        ts[k] = (int64_t)((uint64_t)HIST_TS_MIN + k * (uint64_t)(HIST_TS_MAX / (int64_t)n) * 2);
    roundtrip("whole range", HIST_TYPE_FLOAT64, ts, v, NULL, n);

    uint64_t t = (uint64_t)INT64_MIN; /* random gaps, gcd 1, full int64 range */
    for (size_t k = 0; k < n; k++) {
        t += 1 + (rnd() >> 3) % (UINT64_MAX / n / 2);
        ts[k] = (int64_t)t;
    }
    roundtrip("random gaps", HIST_TYPE_FLOAT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++) /* accelerating: delta-of-delta constant */
        ts[k] = (int64_t)(k * k) * 1000 + (int64_t)k;
    roundtrip("quadratic", HIST_TYPE_FLOAT64, ts, v, NULL, n);

    for (size_t k = 0; k < n; k++) /* nanosecond resolution, odd period */
        ts[k] = 1700000000123456789ll + (int64_t)k * 333333333ll + (int64_t)(rnd() % 3);
    for (size_t k = 0; k < n; k++)
        q[k] = k % 100 < 3 ? HIST_QUALITY_BAD : HIST_QUALITY_GOOD;
    roundtrip("ns jitter, quality runs", HIST_TYPE_FLOAT64, ts, v, q, n);

    /* A 1 s grid with jitter of every size up to and past half a period,
     * gaps and bursts, at every kind of position (block edges included):
     * the grid codec's re-anchoring, sparse blocks and dense blocks. Even
     * trials jitter around the grid (the grid codec's case), odd trials
     * jitter the deltas, so that the grid drifts. */
    int grid_chosen = 0;
    int64_t *tg = malloc(n * sizeof(*tg));
    uint8_t *buf = malloc(chunk__bound(n));
    for (int trial = 0; trial < 60; trial++) {
        size_t m = 200 + rnd() % 800;
        int64_t base = (int64_t)(rnd() % 1000) * 1000000000ll;
        unsigned rate = 1 + (unsigned)(rnd() % 20);
        tg[0] = base;
        for (size_t k = 1; k < m; k++) {
            int64_t d = 0;
            if (rnd() % 100 < rate) {
                switch (rnd() % 5) {
                case 0:
                    d = (int64_t)(rnd() % 999) * 1000000ll - 499000000ll;
                    break;
                case 1:
                    d = rnd() % 2 ? 500000000ll : -500000000ll;
                    break; /* half exactly */
                case 2:
                    d = 501000000ll;
                    break;
                case 3:
                    d = 1000000000ll * (1 + (int64_t)(rnd() % 1000));
                    break; /* a gap */
                default:
                    d = -999000000ll + 1000000ll * (int64_t)(rnd() % 3);
                    break; /* burst */
                }
            }
            if (k % 128 == 0 || k % 128 == 1)
                d += (int64_t)(trial % 3) * 7000000ll; /* at block edges */
            if (trial % 2 == 0) {                      /* around the grid; gaps move the grid */
                if (d >= 1000000000ll)
                    base += d, d = 0;
                base += 1000000000ll;
                tg[k] = base + (d > -1000000000ll + 2000000 ? d : 0);
                if (tg[k] <= tg[k - 1])
                    tg[k] = tg[k - 1] + 1000000;
            } else {
                tg[k] = tg[k - 1] + 1000000000ll + d;
            }
        }
        roundtrip("grid jitter and gaps", HIST_TYPE_FLOAT64, tg, v, NULL, m);
        int64_t len = chunk__encode(HIST_TYPE_FLOAT64, tg, v, NULL, m, buf, chunk__bound(n));
        hist_chunk_info info;
        if (len > 0 && chunk__peek(buf, (size_t)len, &info) == 0 && trial % 2 == 0)
            grid_chosen += strncmp(chunk__codec_name(info.ts_codec), "ts_grid", 7) == 0;
    }
    CHECKF(grid_chosen > 10, "grid (dense or sparse) chosen %d times of 30", grid_chosen);
    free(tg);
    free(buf);

    for (size_t k = 0; k < n; k++)
        q[k] = (uint32_t)rnd();
    roundtrip("random qualities", HIST_TYPE_FLOAT64, ts, v, q, n);
    for (size_t k = 0; k < n; k++)
        q[k] = UINT32_MAX;
    roundtrip("constant odd quality", HIST_TYPE_FLOAT64, ts, v, q, n);
    free(ts);
    free(v);
    free(q);
}

/* ---- Generator data, large chunks -------------------------------------------------- */

static void test_generator(void)
{
    hist_gen *gen = hist_gen_new(40, 7, 1700000000000000000ll, 1000000000ll);
    REQUIRE(gen != NULL);
    CHECK(hist_gen_ntags(gen) == 40);
    CHECK(strcmp(hist_gen_tag_name(gen, 0), "site1/area1/line1/cell1/temperature_pv") == 0);
    CHECK(hist_gen_tag_name(gen, 40) == NULL);
    size_t n = 100000;
    int64_t *ts = malloc(n * sizeof(*ts));
    hist_value *v = malloc(n * sizeof(*v));
    uint32_t *q = malloc(n * sizeof(*q));
    unsigned kinds_seen = 0;
    size_t off_grid = 0, gaps = 0, not_good = 0, bad_bool = 0, not_ms = 0, total = 0;
    for (uint32_t i = 0; i < 20; i++) {
        const char *name = hist_gen_tag_name(gen, i);
        CHECK(hist_tag_name_check(name, strlen(name)) == 0);
        size_t got = hist_gen_next(gen, i, i < 10 ? n : 8192, ts, v, q);
        CHECK(got == (i < 10 ? n : 8192));
        hist_type type = hist_gen_tag_type(gen, i);
        kinds_seen |= 1u << hist_gen_tag_kind(gen, i);
        size_t sorted = 1;
        for (size_t k = 1; k < got; k++)
            sorted &= ts[k] > ts[k - 1];
        CHECK(sorted);
        /* The shape promised in plantgen.h: mostly on the period, some
         * jitter (ms), rare gaps, rare non-Good runs, bools 0/1. */
        int64_t period = hist_gen_tag_kind(gen, i) == HIST_GEN_VIBRATION ? 100000000 : 1000000000;
        for (size_t k = 0; k < got; k++) {
            off_grid += (ts[k] - 1700000000000000000ll) % period != 0;
            gaps += k > 0 && ts[k] - ts[k - 1] > 5 * period;
            not_good += q[k] != HIST_QUALITY_GOOD;
            bad_bool += type == HIST_TYPE_BOOL && v[k].bits > 1;
            not_ms += ts[k] % 1000000 != 0;
        }
        total += got;
        roundtrip(hist_gen_tag_name(gen, i), type, ts, v, q, got);
    }
    CHECK(kinds_seen == (1u << HIST_GEN__KINDS) - 1);
    CHECKF(off_grid > total / 200 && off_grid < total / 20, "%zu of %zu off the period", off_grid,
           total);
    CHECKF(gaps > 0 && gaps < total / 1000, "%zu gaps", gaps);
    CHECKF(not_good > 0 && not_good < total / 100, "%zu not Good", not_good);
    CHECK(bad_bool == 0 && not_ms == 0);
    /* Deterministic and order-independent: tag 5 alone from a new generator
     * equals tag 5's first samples from the one above (regenerated). */
    hist_gen *a = hist_gen_new(40, 7, 0, 1000000000ll), *b = hist_gen_new(40, 7, 0, 1000000000ll);
    int64_t ta[64], tb[64];
    hist_value va[64], vb[64];
    uint32_t qa[64], qb[64];
    hist_gen_next(a, 3, 64, ta, va, qa);
    hist_gen_next(a, 5, 64, ta, va, qa);
    hist_gen_next(b, 5, 64, tb, vb, qb);
    CHECK(memcmp(ta, tb, sizeof(ta)) == 0 && memcmp(va, vb, sizeof(va)) == 0 &&
          memcmp(qa, qb, sizeof(qa)) == 0);
    hist_gen_free(a);
    hist_gen_free(b);
    hist_gen_free(gen);
    free(ts);
    free(v);
    free(q);
}

/* ---- Byte planes (planes.c) --------------------------------------------------------- */

/* Planes win where PFOR pays for a tail: small increments (a counter),
 * Gaussian noise of several widths, and every plane count up to 8. */
static void test_planes(void)
{
    size_t n = 4096;
    int64_t *ts = regular_ts(n, 1700000000000000000ll, 1000000000ll);
    hist_value *v = malloc(n * sizeof(*v));
    REQUIRE(v);
    int64_t count = 1000;
    for (size_t k = 0; k < n; k++)
        v[k].i = count += (int64_t)(rnd() % 6); /* log2(6) = 2.6 bits each */
    int c = roundtrip("counter 0..5", HIST_TYPE_INT64, ts, v, NULL, n);
    uint8_t pc, fc;
    int64_t plen = encoded_len(HIST_TYPE_INT64, ts, v, n, 0, &pc);
    int64_t flen = encoded_len(HIST_TYPE_INT64, ts, v, n, CHUNK_NO_ZSTD, &fc);
    /* PFOR's best here is int_lpc (the predictor takes out the mean
     * increment, 1,801 bytes) or int_dfor; planes beat both. */
    CHECKF(c >= 0 && strncmp(chunk__codec_name((uint8_t)c), "planes+", 7) == 0 &&
               plen * 100 < flen * 95 && plen < (int64_t)(n * 2 / 5),
           "counter: %s %lld bytes, PFOR %s %lld bytes", chunk__codec_name(pc), (long long)plen,
           chunk__codec_name(fc), (long long)flen);
    /* 128 samples: too few to pay for planes' tables or a predictor's
     * bytes, so the biased deltas win. */
    c = roundtrip("short counter 0..5", HIST_TYPE_INT64, ts, v, NULL, 128);
    CHECKF(c >= 0 && strcmp(chunk__codec_name((uint8_t)c), "int_dfor") == 0,
           "short counter: codec %s", c >= 0 ? chunk__codec_name((uint8_t)c) : "?");
    /* Noise of 4..60 bits: 1..8 planes, each of them decoded. */
    for (int bits = 4; bits <= 60; bits += 8) {
        double sigma = ldexp(1.0, bits - 2);
        for (size_t k = 0; k < n; k++) {
            double g = 0;
            for (int j = 0; j < 12; j++)
                g += rnd_unit();
            v[k].i = (int64_t)llround((g - 6.0) * sigma);
        }
        char what[64];
        snprintf(what, sizeof(what), "noise of %d bits", bits);
        roundtrip(what, HIST_TYPE_INT64, ts, v, NULL, n);
        for (size_t k = 0; k < n; k++)
            v[k] = fval((double)v[k].i / 1000.0);
        snprintf(what, sizeof(what), "noise of %d bits, 3 decimals", bits);
        roundtrip(what, HIST_TYPE_FLOAT64, ts, v, NULL, n);
    }
    /* A vibration-like signal (sines and 0.3 of noise at 0.001): planes of
     * ALP digits. */
    double phase = 0;
    for (size_t k = 0; k < n; k++, phase += 0.37) {
        double g = 0;
        for (int j = 0; j < 12; j++)
            g += rnd_unit();
        v[k] = fval((double)llround((2.5 * sin(phase) + 0.3 * (g - 6.0)) * 1000.0) / 1000.0);
    }
    c = roundtrip("vibration", HIST_TYPE_FLOAT64, ts, v, NULL, n);
    CHECKF(c >= 0 && strncmp(chunk__codec_name((uint8_t)c), "planes+alp", 10) == 0,
           "vibration: codec %s", c >= 0 ? chunk__codec_name((uint8_t)c) : "?");
    free(ts);
    free(v);
}

/* ---- Randomized round trips ------------------------------------------------ */

static void fill_random(hist_type type, int64_t *ts, hist_value *v, uint32_t *q, size_t n)
{
    int64_t t = (int64_t)(rnd() % 2000000000000000000ull) - 1000000000000000000ll;
    int64_t period = (int64_t)(1 + rnd() % 10000000000ull);
    unsigned shape = (unsigned)(rnd() % 6), digits = (unsigned)(rnd() % 7);
    double scale = pow(10, digits), x = (rnd_unit() - 0.5) * 1e4;
    for (size_t k = 0; k < n; k++) {
        ts[k] = t;
        t +=
            rnd() % 8 ? period : 1 + (int64_t)(rnd() % (uint64_t)period) * (int64_t)(rnd() % 3 + 1);
        q[k] = rnd() % 50 ? 0 : (uint32_t)rnd();
        uint64_t r = rnd();
        switch (shape) {
        case 0:
            x += rnd_unit() - 0.5;
            break;
        case 1:
            x = r % 64 ? x : rnd_unit() * 100;
            break;
        case 2:
            x = (double)(r % 1000);
            break;
        case 3:
            x = rnd_unit() * 1e6;
            break;
        case 4:
            x = k % 2 ? 1.0 : 2.0;
            break;
        default:
            x = r % 3 ? x + 1 : -x;
            break;
        }
        if (type == HIST_TYPE_FLOAT64) {
            v[k] = fval(shape == 3 ? x : (double)llround(x * scale) / scale);
            if (r % 500 == 0)
                v[k] = fbits(rnd()); /* an odd bit pattern now and then */
        } else if (type == HIST_TYPE_INT64) {
            v[k] = fbits((uint64_t)(int64_t)x ^ (r % 400 == 0 ? rnd() : 0));
        } else {
            v[k] = fbits((uint64_t)x & 1);
        }
    }
}

static void test_randomized(void)
{
    size_t maxn = 3000;
    int64_t *ts = malloc(maxn * sizeof(*ts));
    hist_value *v = malloc(maxn * sizeof(*v));
    uint32_t *q = malloc(maxn * sizeof(*q));
    for (int iter = 0; iter < 400; iter++) {
        hist_type type = (hist_type)(1 + rnd() % 3);
        size_t n = 1 + rnd() % (iter % 10 == 0 ? maxn : 300);
        fill_random(type, ts, v, q, n);
        roundtrip("randomized", type, ts, v, q, n);
    }
    free(ts);
    free(v);
    free(q);
}

/* ---- Damaged chunks -------------------------------------------------------------- */

/* Decoding damaged bytes: ECORRUPT, or success with sorted timestamps and
 * valid bools. Never a crash. Returns 1 when the result is acceptable. */
static int decode_damaged(const uint8_t *buf, size_t len, size_t cap)
{
    int64_t *ts = malloc(cap * sizeof(*ts));
    hist_value *v = malloc(cap * sizeof(*v));
    uint32_t *q = malloc(cap * sizeof(*q));
    int64_t got = chunk__decode(buf, len, ts, v, q, cap);
    int ok = got == HIST_ECORRUPT || got == HIST_ENOSPC;
    if (got > 0) {
        hist_chunk_info info;
        ok = chunk__peek(buf, len, &info) == 0 && (size_t)got == info.count;
        for (int64_t k = 1; k < got; k++)
            ok &= ts[k] > ts[k - 1];
        if (info.type == HIST_TYPE_BOOL)
            for (int64_t k = 0; k < got; k++)
                ok &= v[k].bits <= 1;
    }
    free(ts);
    free(v);
    free(q);
    return ok;
}

static void damage_one(const char *what, hist_type type, const int64_t *ts, const hist_value *v,
                       const uint32_t *q, size_t n)
{
    size_t cap = chunk__bound(n);
    uint8_t *buf = malloc(cap), *bad = malloc(cap);
    int64_t len = chunk__encode(type, ts, v, q, n, buf, cap);
    REQUIRE(len > 0);
    size_t L = (size_t)len, fails = 0;
    /* Truncation at every length: the header no longer adds up. */
    for (size_t cut = 0; cut < L; cut++) {
        uint8_t *t = malloc(cut ? cut : 1); /* exact size, so ASan sees overreads */
        memcpy(t, buf, cut);
        fails += chunk__decode(t, cut, (int64_t *)bad, (hist_value *)bad, NULL, 0) != HIST_ECORRUPT;
        int64_t *ts2 = malloc(n * sizeof(*ts2));
        hist_value *v2 = malloc(n * sizeof(*v2));
        fails += chunk__decode(t, cut, ts2, v2, NULL, n) != HIST_ECORRUPT;
        free(ts2);
        free(v2);
        free(t);
    }
    CHECKF(fails == 0, "%s: %zu truncations not refused", what, fails);
    /* Columns cut short with the header lengths rewritten to match. */
    hist_chunk_info info;
    REQUIRE(chunk__peek(buf, L, &info) == 0);
    fails = 0;
    for (int col = 0; col < 3; col++) {
        uint32_t clen = col == 0 ? info.ts_bytes : col == 1 ? info.value_bytes : info.quality_bytes;
        for (uint32_t cut = 1; cut <= clen && cut <= 40; cut++) {
            size_t colstart = 28 + (col > 0 ? info.ts_bytes : 0) + (col > 1 ? info.value_bytes : 0);
            size_t newlen = L - cut;
            uint8_t *t = malloc(newlen);
            memcpy(t, buf, colstart + clen - cut);
            memcpy(t + colstart + clen - cut, buf + colstart + clen, L - colstart - clen);
            uint32_t nl = clen - cut;
            t[16 + 4 * col] = (uint8_t)nl;
            t[17 + 4 * col] = (uint8_t)(nl >> 8);
            t[18 + 4 * col] = (uint8_t)(nl >> 16);
            t[19 + 4 * col] = (uint8_t)(nl >> 24);
            fails += !decode_damaged(t, newlen, n);
            free(t);
        }
    }
    CHECKF(fails == 0, "%s: %zu shortened columns mishandled", what, fails);
    /* Every single bit flipped (bounded for long chunks). */
    fails = 0;
    size_t flips = L * 8 < 20000 ? L * 8 : 20000;
    uint8_t *t = malloc(L);
    for (size_t f = 0; f < flips; f++) {
        size_t bit = L * 8 <= 20000 ? f : (size_t)(rnd() % (L * 8));
        memcpy(t, buf, L);
        t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        fails += !decode_damaged(t, L, n + 8);
    }
    /* Random bytes over the body, header kept. */
    for (int k = 0; k < 300; k++) {
        memcpy(t, buf, L);
        for (size_t j = 28; j < L; j++)
            if (rnd() % 8 == 0)
                t[j] = (uint8_t)rnd();
        fails += !decode_damaged(t, L, n + 8);
    }
    CHECKF(fails == 0, "%s: %zu damaged chunks mishandled", what, fails);
    free(t);
    free(buf);
    free(bad);
}

static void test_damage(void)
{
    size_t n = 700;
    int64_t *ts = malloc(n * sizeof(*ts));
    hist_value *v = malloc(n * sizeof(*v));
    uint32_t *q = malloc(n * sizeof(*q));
    for (int shape = 0; shape < 12; shape++) {
        hist_type type = (hist_type)(1 + shape % 3);
        fill_random(type, ts, v, q, n);
        damage_one("random shape", type, ts, v, q, n);
    }
    /* One chunk per value codec, so each decoder meets damage. */
    for (size_t k = 0; k < n; k++) {
        ts[k] = (int64_t)k * 1000;
        v[k] = fval(sin((double)k));
        q[k] = 0;
    }
    damage_one("gorilla", HIST_TYPE_FLOAT64, ts, v, q, n);
    for (size_t k = 0; k < n; k++)
        v[k] = fbits(k % 16 * 0x0123456789abcdefull);
    damage_one("zstd", HIST_TYPE_FLOAT64, ts, v, q, n);
    for (size_t k = 0; k < n; k++)
        v[k] = fval((double)(k / 100));
    damage_one("rle", HIST_TYPE_FLOAT64, ts, v, q, n);
    for (size_t k = 0; k < n; k++)
        v[k] = fbits(rnd());
    damage_one("raw", HIST_TYPE_INT64, ts, v, NULL, n);
    int64_t total = 0;
    for (size_t k = 0; k < n; k++)
        v[k].i = total += (int64_t)(rnd() % 6);
    damage_one("planes, one", HIST_TYPE_INT64, ts, v, NULL, n);
    for (size_t k = 0; k < n; k++)
        v[k] = fval((double)(int64_t)(rnd() % 200000) / 1000.0);
    damage_one("planes, three", HIST_TYPE_FLOAT64, ts, v, NULL, n);
    /* Pure garbage with a valid-looking header. */
    uint8_t g[256];
    size_t fails = 0;
    for (int k = 0; k < 3000; k++) {
        size_t len = 28 + rnd() % 200;
        for (size_t j = 0; j < len; j++)
            g[j] = (uint8_t)rnd();
        memcpy(g, "HCK1\x01", 5);
        g[5] = (uint8_t)(1 + rnd() % 3);
        static const uint8_t tsc[] = {1, 2, 3, 0x82},
                             vc[] = {16,   17,   18,   19,   20,   21,   22,   23,   24,   25,  26,
                                     0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0xd4, 0x41, 0x60},
                             qc[] = {32, 33, 34};
        g[6] = tsc[rnd() % 4];
        g[7] = vc[rnd() % sizeof(vc)];
        g[8] = qc[rnd() % 3];
        g[9] = g[10] = g[11] = 0;
        uint32_t count = (uint32_t)(1 + rnd() % 300), body = (uint32_t)(len - 28);
        uint32_t a = (uint32_t)(rnd() % (body + 1)), b = (uint32_t)(rnd() % (body - a + 1));
        uint32_t lens[4] = {count, a, b, body - a - b};
        for (int f = 0; f < 4; f++)
            for (int j = 0; j < 4; j++)
                g[12 + 4 * f + j] = (uint8_t)(lens[f] >> (8 * j));
        uint8_t *exact = malloc(len);
        memcpy(exact, g, len);
        fails += !decode_damaged(exact, len, 300);
        free(exact);
    }
    CHECKF(fails == 0, "%zu garbage chunks mishandled", fails);
    free(ts);
    free(v);
    free(q);
}

/* ---- Every codec is reachable ------------------------------------------------------ */

/* (The predictor's codecs: test_codec_lpc.c.) */
static void test_coverage(void)
{
    static const char *const want[] = {
        "ts_raw",  "ts_delta", "ts_dod",    "ts_grid",        "raw",
        "const",   "rle",      "gorilla",   "alp_for",        "alp_delta",
        "alp_dod", "int_for",  "int_delta", "int_dod",        "int_dfor",
        "q_const", "q_rle",    "q_raw",     "ts_grid_sparse",
    };
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        int found = 0;
        for (int id = 0; id < 256; id++)
            if (seen_codec[id] && (id & 0x80) == 0 &&
                strcmp(chunk__codec_name((uint8_t)id), want[w]) == 0)
                found = 1;
        CHECKF(found, "codec %s never chosen", want[w]);
    }
    int zstd = 0;
    for (int id = 0x80; id < 256; id++)
        zstd |= seen_codec[id] != 0 && strncmp(chunk__codec_name((uint8_t)id), "zstd+", 5) == 0;
    CHECKF(zstd, "zstd never chosen");
    static const char *const planes[] = {"planes+alp_for", "planes+alp_delta", "planes+alp_dod",
                                         "planes+int_for", "planes+int_delta"};
    for (size_t w = 0; w < sizeof(planes) / sizeof(planes[0]); w++) {
        int found = 0;
        for (int id = 0; id < 256; id++)
            found |= seen_codec[id] && strcmp(chunk__codec_name((uint8_t)id), planes[w]) == 0;
        CHECKF(found, "codec %s never chosen", planes[w]);
    }
    CHECK(strcmp(chunk__codec_name(0x40 | 16), "unknown") == 0);
    CHECK(strcmp(chunk__codec_name(0xc0 | 21), "unknown") == 0);
    for (int id = 0; id < 256; id++)
        if (seen_codec[id])
            printf("codec %-16s chosen %u times\n", chunk__codec_name((uint8_t)id), seen_codec[id]);
}

int main(void)
{
    test_errors();
    test_small();
    test_float_specials();
    test_float_shapes();
    test_ints();
    test_timestamps();
    test_generator();
    test_planes();
    test_randomized();
    test_damage();
    test_coverage();
    return check_summary();
}
