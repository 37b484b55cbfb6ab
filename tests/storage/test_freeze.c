/*
 * test_freeze.c: frozen runs, memory pressure's answer (storage/freeze.c,
 * the runs of storage/memtable.h). White-box: db_internal.h.
 *
 *   1. A model check with the background threads off: three tags (float64,
 *      int64, bool) get random writes: in order, out of order into the
 *      past, overwrites of earlier timestamps, duplicates inside a write,
 *      random qualities. Between writes the test freezes (after a sync),
 *      seals, or reads back; every read of every tag equals the model
 *      (last write of each timestamp wins), through runs, raw samples and
 *      chunks. db->mem_bytes and mem_samples stay the exact sums of the
 *      buffers, no buffer keeps more than HIST_MEMBUF_MAX_RUNS runs, and a
 *      reopen (the WAL replays what was not sealed) reads the same.
 *   2. Only durable writes freeze: without a sync, nothing does.
 *   3. Memory pressure at many tags, with the sealer running: 20,000 tags
 *      of raw samples far over a 4 MiB budget are frozen, not sealed (no
 *      chunk is written at all, seals_memory stays 0), the memtable ends
 *      under its budget, and a flush then writes one chunk per tag.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "tmpdir.h"
#include "storage/db_internal.h"

#define SEC  INT64_C(1000000000)
#define HOUR (3600 * SEC)
#define T0   (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z, an hour start */

static char g_dir[256];

static void quiet_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= HIST_LOG_WARN && getenv("TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static hist_db *open_db(const char *sub, bool background, size_t memtable_bytes)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", g_dir, sub);
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.no_background = !background;
    o.compact_share = 0;
    if (memtable_bytes)
        o.memtable_bytes = memtable_bytes;
    o.log = quiet_log;
    hist_db *db = NULL;
    REQUIRE(hist_db_open(&o, &db) == 0);
    return db;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- 1. the model check ---- */

enum { NT = 3, MAXW = 40000 };
static const char *const names[NT] = {"freeze/float", "freeze/int", "freeze/bool"};
static const hist_type types[NT] = {HIST_TYPE_FLOAT64, HIST_TYPE_INT64, HIST_TYPE_BOOL};

typedef struct {
    int64_t ts;
    uint64_t seq; /* write order */
    hist_value v;
    uint32_t q;
} model_sample;

static model_sample g_model[NT][MAXW];
static size_t g_nmodel[NT];
static uint32_t g_id[NT];
static uint64_t g_seq;

static int model_cmp(const void *a, const void *b)
{
    const model_sample *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The model's answer for tag t: sorted, the last write of each ts. */
static size_t expected(int t, model_sample *out)
{
    size_t n = g_nmodel[t];
    memcpy(out, g_model[t], n * sizeof(*out));
    qsort(out, n, sizeof(*out), model_cmp);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w && out[w - 1].ts == out[i].ts)
            out[w - 1] = out[i];
        else
            out[w++] = out[i];
    }
    return w;
}

static hist_value random_value(int t)
{
    hist_value v;
    if (types[t] == HIST_TYPE_FLOAT64)
        v.f = (double)(rnd() % 100000) / 8.0;
    else if (types[t] == HIST_TYPE_INT64)
        v.i = (int64_t)(rnd() % 2000) - 1000;
    else
        v.i = (int64_t)(rnd() & 1);
    return v;
}

/* One write of 1..40 samples to tag t: mostly the next seconds, sometimes
 * seconds already written (overwrites, out of order), sometimes a second
 * twice in the write. */
static void random_write(hist_db *db, int t, int64_t *next)
{
    size_t n = 1 + rnd() % 40;
    if (g_nmodel[t] + n > MAXW)
        return;
    int64_t ts[40];
    hist_value v[40];
    uint32_t q[40];
    int mode = (int)(rnd() % 10);
    for (size_t i = 0; i < n; i++) {
        if (mode == 0 && *next > T0) /* into the past */
            ts[i] = T0 + (int64_t)(rnd() % (uint64_t)((*next - T0) / SEC)) * SEC;
        else if (mode == 1 && i > 0) /* a duplicate inside the write */
            ts[i] = ts[i - 1];
        else
            ts[i] = (*next += SEC);
        v[i] = random_value(t);
        q[i] = rnd() % 8 == 0 ? 0x80000000u : 0;
    }
    hist_series s = {g_id[t], n, ts, v, q};
    uint64_t lsn;
    CHECK_OK(hist_db_write(db, &s, 1, &lsn));
    /* Inside one write the later sample of a ts wins, as across writes. */
    for (size_t i = 0; i < n; i++)
        g_model[t][g_nmodel[t]++] = (model_sample){ts[i], g_seq++, v[i], q[i]};
}

static model_sample g_want[MAXW];

static void check_tag(hist_db *db, int t, const char *when)
{
    size_t want = expected(t, g_want);
    hist_scan *sc;
    REQUIRE(hist_scan_open(db, g_id[t], HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &sc) == 0);
    hist_piece p;
    size_t n = 0, wrong = 0;
    while (hist_scan_next(sc, &p) == 1)
        for (size_t i = 0; i < p.n; i++, n++)
            wrong += n >= want || p.ts[i] != g_want[n].ts || p.v[i].i != g_want[n].v.i ||
                     (p.q ? p.q[i] : 0) != g_want[n].q;
    hist_scan_close(sc);
    CHECKF(n == want && wrong == 0, "%s, %s: %zu samples (want %zu), %zu wrong", names[t], when, n,
           want, wrong);
}

/* db->mem_bytes and mem_samples are the exact sums; runs stay few. */
static void check_accounting(hist_db *db)
{
    mu_lock(&db->mu);
    size_t bytes = 0, samples = 0, most_runs = 0;
    for (int t = 0; t < NT; t++) {
        const hist_membuf *b = &tags__get(db, g_id[t])->buf;
        bytes += membuf__bytes(b);
        samples += membuf__count(b);
        if (membuf__nruns(b) > most_runs)
            most_runs = membuf__nruns(b);
    }
    CHECK_EQ_I64(db->mem_bytes, bytes);
    CHECK_EQ_I64(db->mem_samples, samples);
    CHECK(most_runs <= HIST_MEMBUF_MAX_RUNS);
    mu_unlock(&db->mu);
}

static size_t total_runs(hist_db *db)
{
    mu_lock(&db->mu);
    size_t runs = 0;
    for (int t = 0; t < NT; t++)
        runs += membuf__nruns(&tags__get(db, g_id[t])->buf);
    mu_unlock(&db->mu);
    return runs;
}

static void freeze_all(hist_db *db)
{
    CHECK_OK(hist_db_sync(db, wal__last_lsn(db->wal)));
    mu_lock(&db->seal_mu);
    CHECK_OK(freeze__tags(db, g_id, NT));
    mu_unlock(&db->seal_mu);
}

static void test_model(void)
{
    hist_db *db = open_db("model", false, 0);
    for (int t = 0; t < NT; t++)
        REQUIRE(hist_tag_resolve(db, names[t], strlen(names[t]), types[t], true, &g_id[t]) == 0);
    int64_t next[NT] = {T0, T0, T0};
    size_t freezes = 0, seals = 0, merged_seen = 0;
    for (int round = 0; round < 3000; round++) {
        int t = (int)(rnd() % NT);
        random_write(db, t, &next[t]);
        int op = (int)(rnd() % 100);
        if (op < 12) {
            size_t before = total_runs(db);
            freeze_all(db);
            freezes++;
            merged_seen += total_runs(db) <= before;
        } else if (op < 14) {
            CHECK_OK(hist_db_flush(db));
            seals++;
        } else if (op < 20) {
            check_tag(db, t, "while writing");
        }
        if (round % 100 == 0)
            check_accounting(db);
    }
    check_accounting(db);
    printf("model: %zu freezes (%zu merged runs), %zu seals, %zu runs now\n", freezes, merged_seen,
           seals, total_runs(db));
    CHECK(merged_seen > 0);
    for (int t = 0; t < NT; t++)
        check_tag(db, t, "at the end");
    /* Frozen runs in memory, then a seal takes them whole. */
    freeze_all(db);
    CHECK(total_runs(db) > 0);
    for (int t = 0; t < NT; t++)
        check_tag(db, t, "frozen");
    CHECK_OK(hist_db_flush(db));
    CHECK_EQ_I64(total_runs(db), 0);
    CHECK_EQ_I64(db->mem_bytes, 0);
    for (int t = 0; t < NT; t++)
        check_tag(db, t, "sealed");

    /* Frozen, then closed without a seal of them: the WAL replays them. */
    for (int i = 0; i < 60; i++)
        random_write(db, i % NT, &next[i % NT]);
    freeze_all(db);
    CHECK(total_runs(db) > 0);
    CHECK_OK(hist_db_close(db));
    db = open_db("model", false, 0);
    for (int t = 0; t < NT; t++)
        check_tag(db, t, "after a reopen");
    CHECK_OK(hist_db_close(db));
}

/* ---- 2. only durable writes freeze ---- */

static void test_durable_only(void)
{
    hist_db *db = open_db("durable", false, 0);
    uint32_t id;
    REQUIRE(hist_tag_resolve(db, "freeze/nosync", 13, HIST_TYPE_FLOAT64, true, &id) == 0);
    int64_t ts[100];
    hist_value v[100];
    for (int i = 0; i < 100; i++)
        ts[i] = T0 + i * SEC, v[i].f = i;
    hist_series s = {id, 100, ts, v, NULL};
    uint64_t lsn;
    CHECK_OK(hist_db_write(db, &s, 1, &lsn));
    mu_lock(&db->seal_mu);
    CHECK_OK(freeze__tags(db, &id, 1));
    mu_unlock(&db->seal_mu);
    mu_lock(&db->mu);
    CHECK_EQ_I64(membuf__nruns(&tags__get(db, id)->buf), 0); /* not durable yet */
    mu_unlock(&db->mu);
    CHECK_OK(hist_db_sync(db, lsn));
    mu_lock(&db->seal_mu);
    CHECK_OK(freeze__tags(db, &id, 1));
    mu_unlock(&db->seal_mu);
    mu_lock(&db->mu);
    CHECK_EQ_I64(membuf__nruns(&tags__get(db, id)->buf), 1);
    CHECK_EQ_I64(tags__get(db, id)->buf.nraw, 0);
    CHECK(db->mem_bytes < 100 * HIST_MEMBUF_SAMPLE_BYTES / 4);
    mu_unlock(&db->mu);
    CHECK_OK(hist_db_close(db));
}

/* ---- 3. memory pressure at 20,000 tags ---- */

#define PTAGS   20000
#define PROUNDS 64
#define BUDGET  ((size_t)8 << 20)

static void nap_ms(long ms)
{
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&d, NULL);
}

static void test_pressure(void)
{
    hist_db *db = open_db("pressure", true, BUDGET);
    uint32_t *ids = malloc(PTAGS * sizeof(*ids));
    int64_t *ts = malloc(PTAGS * sizeof(*ts));
    hist_value *v = malloc(PTAGS * sizeof(*v));
    hist_series *s = malloc(PTAGS * sizeof(*s));
    REQUIRE(ids && ts && v && s);
    for (int i = 0; i < PTAGS; i++) {
        char name[64];
        snprintf(name, sizeof(name), "site/area%d/line%d/temp", i / 100, i % 100);
        REQUIRE(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_FLOAT64, true, &ids[i]) == 0);
    }
    /* Second r of every tag, then second r + 1: the bench's order. */
    size_t peak = 0;
    for (int r = 0; r < PROUNDS; r++) {
        for (int i = 0; i < PTAGS; i++) {
            ts[i] = T0 + r * SEC;
            v[i].f = 20.0 + (double)((i + r) % 50) / 10.0;
            s[i] = (hist_series){ids[i], 1, &ts[i], &v[i], NULL};
        }
        uint64_t lsn;
        CHECK_OK(hist_db_write(db, s, PTAGS, &lsn));
        CHECK_OK(hist_db_sync(db, lsn));
        mu_lock(&db->mu);
        peak = db->mem_bytes > peak ? db->mem_bytes : peak;
        mu_unlock(&db->mu);
    }
    size_t raw = (size_t)PTAGS * PROUNDS * HIST_MEMBUF_SAMPLE_BYTES;
    hist_db_stats st;
    size_t mem = 0;
    for (int i = 0; i < 100; i++, nap_ms(100)) {
        mu_lock(&db->mu);
        mem = db->mem_bytes;
        mu_unlock(&db->mu);
        if (mem <= BUDGET)
            break;
    }
    CHECK_OK(hist_db_get_stats(db, &st));
    printf("pressure: %d tags x %d samples (%.1f MiB raw) under a %.0f MiB budget: %.2f MiB "
           "buffered (peak %.1f MiB), %llu freezes, %llu chunks, %llu memory seals\n",
           PTAGS, PROUNDS, raw / 1048576.0, BUDGET / 1048576.0, mem / 1048576.0, peak / 1048576.0,
           (unsigned long long)st.freezes, (unsigned long long)st.chunks,
           (unsigned long long)st.seals_memory);
    CHECK(raw > 4 * BUDGET); /* the regime: far over the budget */
    CHECK(mem <= BUDGET);
    CHECK(st.freezes >= PTAGS);
    CHECK_EQ_I64(st.chunks, 0);
    CHECK_EQ_I64(st.seals_memory, 0);
    CHECK_EQ_I64(st.samples_memtable, (uint64_t)PTAGS * PROUNDS);
    /* Everything frozen: what a tag's 64 samples cost in memory. */
    mu_lock(&db->seal_mu);
    CHECK_OK(freeze__tags(db, ids, PTAGS));
    mu_unlock(&db->seal_mu);
    mu_lock(&db->mu);
    double per_tag = (double)db->mem_bytes / PTAGS;
    if (getenv("TEST_VERBOSE"))
        for (int i = 0; i < 3; i++) {
            const hist_membuf *b = &tags__get(db, ids[i])->buf;
            printf("tag %d: raw %u cap %u, %zu runs:", i, b->nraw, b->cap, membuf__nruns(b));
            for (size_t r = 0; r < membuf__nruns(b); r++)
                printf(" %u samples %u B;", b->fz->run[r].n, b->fz->run[r].len);
            printf("\n");
        }
    mu_unlock(&db->mu);
    printf("all frozen: %.1f B a tag for %d samples (raw: %d B)\n", per_tag, PROUNDS,
           PROUNDS * HIST_MEMBUF_SAMPLE_BYTES);
    CHECK(per_tag * 4 < PROUNDS * HIST_MEMBUF_SAMPLE_BYTES); /* 204-316 B seen */
    CHECK_OK(hist_db_flush(db));
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK_EQ_I64(st.chunks, PTAGS); /* one hour: one chunk per tag */
    for (int i = 0; i < PTAGS; i += 997) {
        hist_scan *sc;
        REQUIRE(hist_scan_open(db, ids[i], HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &sc) == 0);
        hist_piece p;
        size_t n = 0, wrong = 0;
        while (hist_scan_next(sc, &p) == 1)
            for (size_t k = 0; k < p.n; k++, n++)
                wrong += p.ts[k] != T0 + (int64_t)n * SEC ||
                         p.v[k].f != 20.0 + (double)((i + (int)n) % 50) / 10.0;
        hist_scan_close(sc);
        CHECKF(n == PROUNDS && wrong == 0, "tag %d: %zu samples, %zu wrong", i, n, wrong);
    }
    CHECK_OK(hist_db_close(db));
    free(ids), free(ts), free(v), free(s);
}

int main(void)
{
    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir), "freeze"));
    test_model();
    test_durable_only();
    test_pressure();
    test_rm_rf(g_dir);
    return check_summary();
}
