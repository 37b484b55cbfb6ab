/*
 * test_freeze.c: frozen runs, memory pressure's answer (storage/freeze.c,
 * the runs of storage/memtable.h), and logged runs, the WAL budget's
 * (storage/runlog.c). White-box: db_internal.h.
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
 *      Logged runs join in: some tags' runs are written to the WAL as run
 *      records and the checkpoint moves past the older records (4 KiB
 *      segments, so whole segments go), some buffers are sealed up to
 *      their current hour (a prefix of their runs), and now and then the
 *      data directory is copied as it is on disk (a crash, all writes
 *      durable) and the copy, opened, must read every tag as the model,
 *      through run records whose older records are gone.
 *   2. Only durable writes freeze: without a sync, nothing does.
 *   3. Memory pressure at many tags, with the sealer running: 20,000 tags
 *      of raw samples far over a 4 MiB budget are frozen, not sealed (no
 *      chunk is written at all, seals_memory stays 0), the memtable ends
 *      under its budget, and a flush then writes one chunk per tag.
 *   3b. Memory pressure when no buffer has FREEZE_MIN raw samples (20,000
 *      frozen tags, three samples more each, the budget under their raw
 *      blocks): every durable raw sample is frozen (FREEZE_DEEP), nothing
 *      is sealed, every sample reads back.
 *   4. The WAL budget at 20,000 slow tags, with the sealer running: the
 *      log passes its budget many times, no buffer is sealed for it (no
 *      chunk at all), the buffers' runs are logged instead and the log
 *      stays near its budget; a copy of the directory (a crash) reads
 *      every sample back, and so does the lazy close's reopen.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "rng.h"
#include "db_fixture.h"
#include "tmpdir.h"
#include "storage/db_internal.h"

#define SEC  INT64_C(1000000000)
#define HOUR (3600 * SEC)
#define T0   (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z, an hour start */

static char g_dir[256];

/* Segments of the WAL (0: the default) and its budget, for the next open. */
static size_t g_wal_segment, g_wal_budget;

static hist_db *open_dir(const char *dir, bool background, size_t memtable_bytes)
{
    hist_db_options o;
    fixture_options(&o, dir);
    if (g_wal_segment)
        o.wal_segment_bytes = g_wal_segment;
    if (g_wal_budget)
        o.wal_bytes = g_wal_budget;
    o.no_background = !background;
    o.compact_share = 0;
    if (memtable_bytes)
        o.memtable_bytes = memtable_bytes;
    return fixture_open(&o);
}

static hist_db *open_db(const char *sub, bool background, size_t memtable_bytes)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", g_dir, sub);
    return open_dir(dir, background, memtable_bytes);
}

/* The directory of sub as a crash would leave it, every write durable and
 * nothing running (the caller's db is quiescent): a copy, opened. */
static hist_db *open_crash_copy(const char *sub, bool background)
{
    char cmd[1200], copy[512];
    snprintf(copy, sizeof(copy), "%s/%s.crash", g_dir, sub);
    test_rm_rf(copy);
    snprintf(cmd, sizeof(cmd), "cp -a '%s/%s' '%s'", g_dir, sub, copy);
    REQUIRE(system(cmd) == 0);
    return open_dir(copy, background, 0);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    return xorshift64(&rng_state);
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

static bool model_right(const void *ctx, size_t k, int64_t ts, hist_value v, uint32_t q)
{
    size_t want = *(const size_t *)ctx;
    return k < want && ts == g_want[k].ts && v.i == g_want[k].v.i && q == g_want[k].q;
}

static void check_tag(hist_db *db, int t, const char *when)
{
    size_t want = expected(t, g_want), wrong;
    size_t n = fixture_scan_tag(db, g_id[t], model_right, &want, &wrong);
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

/* Pressure's two answers in turn: from FREEZE_MIN raw samples, or every
 * durable raw sample (FREEZE_DEEP). */
static void freeze_all(hist_db *db)
{
    CHECK_OK(hist_db_sync(db, wal__last_lsn(db->wal)));
    mu_lock(&db->seal_mu);
    CHECK_OK(freeze__tags(db, g_id, NT, rnd() % 2 ? FREEZE_DEEP : FREEZE_PRESSURE));
    mu_unlock(&db->seal_mu);
}

/* Logs the runs of some tags (runlog.c, after a sync) and checkpoints. */
static void log_some(hist_db *db, int t)
{
    uint32_t ids[NT];
    size_t n = 0;
    for (int i = 0; i < NT; i++)
        if (i == t || rnd() % 2)
            ids[n++] = g_id[i];
    CHECK_OK(hist_db_sync(db, wal__last_lsn(db->wal)));
    mu_lock(&db->seal_mu);
    CHECK_OK(runlog__tags(db, ids, n));
    CHECK_OK(seal__checkpoint(db));
    mu_unlock(&db->seal_mu);
}

/* Whether a replay now needs a run record: a buffer's logged runs hold
 * writes older than the checkpoint (their records are gone). */
static bool needs_run_record(hist_db *db)
{
    bool needs = false;
    mu_lock(&db->mu);
    for (int t = 0; t < NT; t++) {
        const membuf_frozen *fz = tags__get(db, g_id[t])->buf.fz;
        needs |= fz && fz->nlogged && fz->run[0].lsn_first < db->checkpoint_lsn;
    }
    mu_unlock(&db->mu);
    return needs;
}

/* A crash now: the copy reads every tag as the model. */
static void check_crash_copy(hist_db *db)
{
    CHECK_OK(hist_db_sync(db, wal__last_lsn(db->wal)));
    hist_db *copy = open_crash_copy("model", false);
    for (int t = 0; t < NT; t++)
        check_tag(copy, t, "after a crash");
    CHECK_OK(hist_db_close(copy));
}

static void test_model(void)
{
    g_wal_segment = 4 << 10; /* the checkpoint drops whole segments */
    hist_db *db = open_db("model", false, 0);
    for (int t = 0; t < NT; t++)
        REQUIRE(hist_tag_resolve(db, names[t], strlen(names[t]), types[t], true, &g_id[t]) == 0);
    int64_t next[NT] = {T0, T0, T0};
    size_t freezes = 0, seals = 0, merged_seen = 0, logs = 0, held = 0, crashes = 0, relied = 0;
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
        } else if (op < 27) {
            log_some(db, t);
            logs++;
        } else if (op < 30) {
            mu_lock(&db->seal_mu);
            CHECK_OK(seal__tags(db, &g_id[t], 1, SEAL_HOLD));
            CHECK_OK(seal__checkpoint(db));
            mu_unlock(&db->seal_mu);
            held++;
        } else if (op < 32) {
            relied += needs_run_record(db);
            check_crash_copy(db);
            crashes++;
        }
        if (round % 100 == 0)
            check_accounting(db);
    }
    check_accounting(db);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    printf("model: %zu freezes (%zu merged runs), %zu seals, %zu logging rounds (%llu buffers), "
           "%zu held seals, %zu crash copies (%zu needing a run record), "
           "%zu runs now\n",
           freezes, merged_seen, seals, logs, (unsigned long long)st.runs_logged, held, crashes,
           relied, total_runs(db));
    CHECK(merged_seen > 0);
    CHECK(st.runs_logged > 0 && held > 0);
    CHECKF(relied > 0, "no crash copy relied on a run record");
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
    g_wal_segment = 0;
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
    CHECK_OK(freeze__tags(db, &id, 1, FREEZE_PRESSURE));
    mu_unlock(&db->seal_mu);
    mu_lock(&db->mu);
    CHECK_EQ_I64(membuf__nruns(&tags__get(db, id)->buf), 0); /* not durable yet */
    mu_unlock(&db->mu);
    CHECK_OK(hist_db_sync(db, lsn));
    mu_lock(&db->seal_mu);
    CHECK_OK(freeze__tags(db, &id, 1, FREEZE_PRESSURE));
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

/* PTAGS float tags (ids malloc'd). */
static uint32_t *make_tags(hist_db *db)
{
    uint32_t *ids = malloc(PTAGS * sizeof(*ids));
    REQUIRE(ids);
    for (int i = 0; i < PTAGS; i++) {
        char name[64];
        snprintf(name, sizeof(name), "site/area%d/line%d/temp", i / 100, i % 100);
        REQUIRE(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_FLOAT64, true, &ids[i]) == 0);
    }
    return ids;
}

static double value_at(int tag, int second)
{
    return 20.0 + (double)((tag + second) % 50) / 10.0;
}

/* Second r of every tag, durable, in writes of `batch` tags. */
static void write_second(hist_db *db, const uint32_t *ids, int r, int batch)
{
    static int64_t ts[PTAGS];
    static hist_value v[PTAGS];
    static hist_series s[PTAGS];
    for (int i = 0; i < PTAGS; i++) {
        ts[i] = T0 + r * SEC;
        v[i].f = value_at(i, r);
        s[i] = (hist_series){ids[i], 1, &ts[i], &v[i], NULL};
    }
    uint64_t lsn = 0;
    for (int i = 0; i < PTAGS; i += batch)
        CHECK_OK(hist_db_write(db, s + i, (size_t)(PTAGS - i < batch ? PTAGS - i : batch), &lsn));
    CHECK_OK(hist_db_sync(db, lsn));
}

static bool second_right(const void *ctx, size_t k, int64_t ts, hist_value v, uint32_t q)
{
    int tag = *(const int *)ctx;
    return ts == T0 + (int64_t)k * SEC && v.f == value_at(tag, (int)k) && q == 0;
}

/* Every tag reads back its seconds 0..rounds-1. */
static void check_seconds(hist_db *db, const uint32_t *ids, int rounds, const char *when)
{
    size_t bad = 0;
    for (int i = 0; i < PTAGS; i++) {
        size_t wrong, n = fixture_scan_tag(db, ids[i], second_right, &i, &wrong);
        if (n != (size_t)rounds || wrong)
            CHECKF(bad++ > 0, "%s: tag %d: %zu samples (want %d), %zu wrong", when, i, n, rounds,
                   wrong);
    }
    CHECKF(bad == 0, "%s: %zu tags wrong", when, bad);
}

/* The memtable's bytes once the sealer brought them to budget, or after
 * 10 s of trying. */
static size_t wait_under(hist_db *db, size_t budget)
{
    size_t mem = 0;
    for (int i = 0; i < 100; i++, nap_ms(100)) {
        mu_lock(&db->mu);
        mem = db->mem_bytes;
        mu_unlock(&db->mu);
        if (mem <= budget)
            break;
    }
    return mem;
}

static void test_pressure(void)
{
    hist_db *db = open_db("pressure", true, BUDGET);
    uint32_t *ids = make_tags(db);
    /* Second r of every tag, then second r + 1: the bench's order. */
    size_t peak = 0;
    for (int r = 0; r < PROUNDS; r++) {
        write_second(db, ids, r, PTAGS);
        mu_lock(&db->mu);
        peak = db->mem_bytes > peak ? db->mem_bytes : peak;
        mu_unlock(&db->mu);
    }
    size_t raw = (size_t)PTAGS * PROUNDS * HIST_MEMBUF_SAMPLE_BYTES;
    hist_db_stats st;
    size_t mem = wait_under(db, BUDGET);
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
    CHECK_OK(freeze__tags(db, ids, PTAGS, FREEZE_PRESSURE));
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
    check_seconds(db, ids, PROUNDS, "sealed");
    CHECK_OK(hist_db_close(db));
    free(ids);
}

/* ---- 3b. pressure when no buffer has FREEZE_MIN raw samples ---- */

/* 20,000 tags are frozen, then get three samples each, so every buffer
 * holds fewer raw samples than FREEZE_MIN in a raw block of four, and the
 * budget is set so those blocks put it over. The first answer finds
 * nothing worth freezing; the second (FREEZE_DEEP) freezes them all: no
 * buffer is sealed (before, every one of them went to a short chunk). */
static void test_pressure_few_raw(void)
{
    hist_db *db = open_db("fewraw", true, (size_t)64 << 20);
    uint32_t *ids = make_tags(db);
    for (int r = 0; r < 32; r++)
        write_second(db, ids, r, 5000);
    mu_lock(&db->seal_mu);
    CHECK_OK(freeze__tags(db, ids, PTAGS, FREEZE_PRESSURE));
    mu_unlock(&db->seal_mu);
    mu_lock(&db->mu);
    size_t frozen = db->mem_bytes;
    mu_unlock(&db->mu);
    hist_db_stats before, st;
    CHECK_OK(hist_db_get_stats(db, &before));
    /* three samples more a tag, under FREEZE_MIN, in a raw block of four */
    for (int r = 32; r < 35; r++)
        write_second(db, ids, r, 5000); /* durable: the server's syncer is that quick */
    /* Now over the budget, as the raw blocks of a live plant's slow tags
     * fill between two pressure rounds: one the deep freeze must free 60 %
     * of the raw blocks for, as at 1 M tags x 0.1 Hz (67 of 112 MB). */
    mu_lock(&db->mu);
    size_t raw = db->mem_bytes - frozen;
    size_t budget = (frozen + raw * 4 / 10) / 3 * 4;
    db->opts.memtable_bytes = budget;
    pthread_cond_signal(&db->seal_cv);
    mu_unlock(&db->mu);
    size_t mem = wait_under(db, budget);
    CHECK_OK(hist_db_get_stats(db, &st));
    printf("few raw: %d tags frozen (%.2f MiB), 3 samples more each under a %.2f MiB budget: "
           "%.2f MiB buffered, %llu freezes, %llu memory seals, %llu chunks\n",
           PTAGS, frozen / 1048576.0, budget / 1048576.0, mem / 1048576.0,
           (unsigned long long)(st.freezes - before.freezes), (unsigned long long)st.seals_memory,
           (unsigned long long)st.chunks);
    CHECK(frozen + raw > budget); /* the regime: over it */
    CHECK(mem <= budget);
    CHECK(st.freezes - before.freezes >= PTAGS / 2);
    CHECK_EQ_I64(st.seals_memory, 0);
    CHECK_EQ_I64(st.chunks, 0);
    check_seconds(db, ids, 35, "few raw, frozen");
    CHECK_OK(hist_db_close(db));
    free(ids);
}

/* ---- 4. the WAL budget at 20,000 slow tags ---- */

#define WROUNDS     300 /* about 84 MiB of log at 15 B a sample: the budget passes 5 times */
#define WAL_BUDGET  ((size_t)16 << 20)
#define WAL_SEGMENT ((size_t)1 << 20)

static uint64_t wal_bytes(hist_db *db)
{
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    return st.bytes_wal;
}

static void test_wal_budget(void)
{
    g_wal_segment = WAL_SEGMENT;
    g_wal_budget = WAL_BUDGET;
    hist_db *db = open_db("walbudget", true, 0);
    uint32_t *ids = make_tags(db);
    uint64_t written = 0, peak = 0;
    for (int r = 0; r < WROUNDS; r++) {
        write_second(db, ids, r, 5000); /* the bench's 5,000-sample bodies */
        uint64_t w = wal_bytes(db);
        peak = w > peak ? w : peak;
    }
    hist_wal_stats ws;
    wal__get_stats(db->wal, &ws);
    written = ws.appended;
    /* The sealer catches up: the log comes back under its budget. */
    uint64_t w = 0;
    for (int i = 0; i < 200 && (w = wal_bytes(db)) > WAL_BUDGET + WAL_SEGMENT; i++)
        nap_ms(100);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    printf("wal budget: %d tags x %d s, %.1f MiB of log written, peak %.1f MiB, now %.1f MiB "
           "(budget %.0f MiB): %llu buffers logged (%.1f MiB of run records), %llu sealed for the "
           "WAL, %llu chunks\n",
           PTAGS, WROUNDS, written / 1048576.0, peak / 1048576.0, w / 1048576.0,
           WAL_BUDGET / 1048576.0, (unsigned long long)st.runs_logged, st.runlog_bytes / 1048576.0,
           (unsigned long long)st.seals_wal, (unsigned long long)st.chunks);
    CHECK(written > 4 * WAL_BUDGET); /* the regime: the budget passed many times */
    CHECK(w <= WAL_BUDGET + WAL_SEGMENT);
    CHECK(st.runs_logged >= PTAGS);
    CHECK_EQ_I64(st.seals_wal, 0);
    CHECK_EQ_I64(st.chunks, 0);
    /* A crash now (the sealer held still): the copy has no chunk, and its
     * log starts after the first seconds' records. */
    mu_lock(&db->seal_mu);
    hist_db *copy = open_crash_copy("walbudget", false);
    mu_unlock(&db->seal_mu);
    CHECK_OK(hist_db_get_stats(copy, &st));
    CHECK_EQ_I64(st.chunks, 0);
    CHECK(copy->checkpoint_lsn > (uint64_t)PTAGS / 5000 * 10);
    check_seconds(copy, ids, WROUNDS, "after a crash");
    CHECK_OK(hist_db_close(copy));
    CHECK_OK(hist_db_close(db));
    db = open_db("walbudget", false, 0);
    check_seconds(db, ids, WROUNDS, "after a reopen");
    CHECK_OK(hist_db_close(db));
    free(ids);
    g_wal_segment = g_wal_budget = 0;
}

int main(void)
{
    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir), "freeze"));
    test_model();
    test_durable_only();
    test_pressure();
    test_pressure_few_raw();
    test_wal_budget();
    test_rm_rf(g_dir);
    return check_summary();
}
