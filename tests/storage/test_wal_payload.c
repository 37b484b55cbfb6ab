/*
 * test_wal_payload.c: the WAL's write payload (storage/wal_payload.c),
 * white-box.
 *
 *   - round trip: random batches (tags in any order, repeated, far apart;
 *     times rising, falling, at the range's ends; one-sample series as a
 *     plant sends them; quality runs; empty series) decode to exactly what
 *     was encoded;
 *   - size: a plant's batch (5,000 tags, one sample each, one time) takes
 *     at most 16 bytes a sample (version 1 took 24);
 *   - version 1, as logs written before 0.9.1 hold it, still decodes;
 *   - every cut of a valid payload, and every flipped version byte, is
 *     HIST_ECORRUPT or a clean decode of a prefix: never a crash or a read
 *     past the end (the ASan build checks that).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rng.h"
#include "common/hist_varint.h"
#include "storage/db_internal.h"

#define MAX_SERIES 64
#define MAX_N      40

typedef struct {
    hist_series s[MAX_SERIES];
    int64_t ts[MAX_SERIES][MAX_N];
    hist_value v[MAX_SERIES][MAX_N];
    uint32_t q[MAX_SERIES][MAX_N];
    size_t ns;
} batch;

typedef struct {
    const batch *want;
    size_t seen, wrong;
} expect;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
    return xorshift64(&rng);
}

static int compare_series(void *ctx, uint32_t tag, size_t n, const int64_t *ts, const hist_value *v,
                          const uint32_t *q)
{
    expect *e = ctx;
    /* empty series are not called back: skip them in the expectation */
    while (e->seen < e->want->ns && e->want->s[e->seen].n == 0)
        e->seen++;
    if (e->seen >= e->want->ns) {
        e->wrong++;
        return 0;
    }
    const hist_series *w = &e->want->s[e->seen++];
    if (w->tag != tag || w->n != n || memcmp(w->ts, ts, n * sizeof *ts) ||
        memcmp(w->v, v, n * sizeof *v))
        e->wrong++;
    for (size_t j = 0; j < n; j++)
        if ((w->q ? w->q[j] : 0) != q[j])
            e->wrong++;
    return 0;
}

static int count_series(void *ctx, uint32_t tag, size_t n, const int64_t *ts, const hist_value *v,
                        const uint32_t *q)
{
    (void)tag, (void)ts, (void)v, (void)q;
    *(size_t *)ctx += n;
    return 0;
}

static void random_batch(batch *b)
{
    b->ns = 1 + next_rand() % MAX_SERIES;
    int64_t t = (int64_t)(next_rand() % 4000000000000000000ull) - 2000000000000000000;
    for (size_t i = 0; i < b->ns; i++) {
        hist_series *s = &b->s[i];
        uint64_t r = next_rand();
        s->tag = r % 3 == 0 ? (uint32_t)next_rand() : r % 3 == 1 ? (uint32_t)(i + 1) : UINT32_MAX;
        s->n = next_rand() % 5 == 0 ? 0 : 1 + next_rand() % (next_rand() % 2 ? 1 : MAX_N);
        s->ts = b->ts[i];
        s->v = b->v[i];
        s->q = next_rand() % 3 ? b->q[i] : NULL;
        for (size_t j = 0; j < s->n; j++) {
            uint64_t k = next_rand() % 8;
            b->ts[i][j] = k == 0   ? HIST_TS_MIN
                          : k == 1 ? HIST_TS_MAX
                                   : t + (int64_t)(next_rand() % 2000000000) - 1000000000;
            b->v[i][j].bits = next_rand();
            b->q[i][j] = next_rand() % 4 ? 0 : (uint32_t)next_rand();
        }
    }
}

static void test_round_trip(void)
{
    static batch b;
    static uint8_t buf[1 << 20];
    long wrong = 0;
    for (int round = 0; round < 3000; round++) {
        random_batch(&b);
        REQUIRE(payload__bound(b.s, b.ns) <= sizeof buf);
        size_t len = payload__encode(b.s, b.ns, buf);
        REQUIRE(len <= payload__bound(b.s, b.ns));
        expect e = {&b, 0, 0};
        int rc = payload__decode(buf, len, compare_series, &e);
        while (e.seen < b.ns && b.s[e.seen].n == 0)
            e.seen++;
        wrong += rc != 0 || e.wrong != 0 || e.seen != b.ns;
    }
    CHECKF(wrong == 0, "%ld of 3000 batches decoded differently", wrong);
}

static void test_plant_batch_size(void)
{
    enum { TAGS = 5000 };
    static hist_series s[TAGS];
    static int64_t ts[TAGS];
    static hist_value v[TAGS];
    static uint8_t buf[TAGS * 64];
    for (size_t i = 0; i < TAGS; i++) {
        ts[i] = INT64_C(1795000000) * 1000000000; /* one second of 2026 */
        v[i].f = 20.0 + (double)i / 7.0;
        s[i] = (hist_series){.tag = (uint32_t)(95001 + i), .n = 1, .ts = &ts[i], .v = &v[i]};
    }
    size_t len = payload__encode(s, TAGS, buf);
    CHECKF(len <= 16 * TAGS, "%zu bytes for %d samples", len, TAGS);
    size_t n = 0;
    CHECK(payload__decode(buf, len, count_series, &n) == 0 && n == TAGS);
}

/* Version 1, byte by byte: tags 7 and 5, times whole per series. */
static void test_version_1(void)
{
    uint8_t p[128], *w = p;
    *w++ = PAYLOAD_WRITES_V1;
    w = hist_varint_put(w, 2);
    w = hist_varint_put(w, 7); /* tag */
    w = hist_varint_put(w, 2); /* n */
    w = hist_varint_put(w, hist_zigzag(1000));
    w = hist_varint_put(w, hist_zigzag(500)); /* 1500 */
    double f[2] = {1.5, -2.25};
    memcpy(w, f, sizeof f);
    w += sizeof f;
    w = hist_varint_put(w, 1); /* one quality run */
    w = hist_varint_put(w, 2);
    w = hist_varint_put(w, 0);
    w = hist_varint_put(w, 5);
    w = hist_varint_put(w, 1);
    w = hist_varint_put(w, hist_zigzag(-40));
    double g = 3.0;
    memcpy(w, &g, 8);
    w += 8;
    w = hist_varint_put(w, 1);
    w = hist_varint_put(w, 1);
    w = hist_varint_put(w, 0x80000000u);

    static batch want;
    memset(&want, 0, sizeof want);
    want.ns = 2;
    want.ts[0][0] = 1000, want.ts[0][1] = 1500, want.v[0][0].f = 1.5, want.v[0][1].f = -2.25;
    want.s[0] = (hist_series){7, 2, want.ts[0], want.v[0], want.q[0]};
    want.ts[1][0] = -40, want.v[1][0].f = 3.0, want.q[1][0] = 0x80000000u;
    want.s[1] = (hist_series){5, 1, want.ts[1], want.v[1], want.q[1]};
    expect e = {&want, 0, 0};
    CHECK(payload__decode(p, (size_t)(w - p), compare_series, &e) == 0);
    CHECK(e.seen == 2 && e.wrong == 0);
}

static void test_cuts(void)
{
    static batch b;
    static uint8_t buf[1 << 20], cut[1 << 20];
    long bad = 0, tried = 0;
    for (int round = 0; round < 200; round++) {
        random_batch(&b);
        size_t len = payload__encode(b.s, b.ns, buf);
        for (size_t k = 0; k < len; k++) {
            /* a copy of exactly k bytes, so ASan sees a read past it */
            uint8_t *c = malloc(k ? k : 1);
            REQUIRE(c);
            memcpy(c, buf, k);
            size_t n = 0;
            int rc = payload__decode(c, k, count_series, &n);
            bad += rc != HIST_ECORRUPT && rc != 0;
            free(c);
            tried++;
        }
        memcpy(cut, buf, len);
        for (int ver = 0; ver < 256; ver++) {
            cut[0] = (uint8_t)ver;
            size_t n = 0;
            int rc = payload__decode(cut, len, count_series, &n);
            bad += (ver != PAYLOAD_WRITES_V1 && ver != PAYLOAD_WRITES)
                       ? rc != HIST_ECORRUPT
                       : rc != HIST_ECORRUPT && rc != 0;
        }
    }
    CHECKF(bad == 0, "%ld of %ld cut or re-versioned payloads not refused cleanly", bad, tried);
}

int main(void)
{
    test_round_trip();
    test_plant_batch_size();
    test_version_1();
    test_cuts();
    return check_summary();
}
