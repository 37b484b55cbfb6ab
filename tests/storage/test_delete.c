/*
 * test_delete.c: hist_db_delete (storage/delete.c) against a brute-force
 * model. White-box (db_internal.h) only to freeze and log runs.
 *
 * Two float64 tags get 10 s samples over five hours, sealed into several
 * chunks per hour (chunk_samples 64, hour boundaries), then writes that
 * stay in the memtable: out of order into sealed hours, overwrites, new
 * ones, some frozen into runs and some logged as run records. Deletes
 * then hit chunk interiors, whole chunks, chunk edges, the memtable only,
 * a range across an hour boundary, frozen and logged runs, and an empty
 * range. After each, every query mode is compared with the model (last
 * write of each timestamp wins, minus what was deleted): raw, latest,
 * hourly count/min/max/sum/mean (from chunk statistics: the test checks
 * some chunks were answered by them), plot and interpolated at their
 * sample points; the other tag is untouched. A crash copy of the data
 * directory (cp -a, every acknowledged write durable) and a reopen read
 * the same, and so does one taken after a delete's seal but before its
 * commit (the delete interrupted: nothing deleted). Writes into a deleted
 * range afterwards come back. Last, deletes run while a thread writes
 * (test_concurrent below).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db_fixture.h"
#include "tmpdir.h"
#include "query/hist_query.h"
#include "storage/db_internal.h"

#define SEC   INT64_C(1000000000)
#define HOUR  (3600 * SEC)
#define T0    (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z, an hour start */
#define STEP  (10 * SEC)
#define NSLOT (6 * 360) /* six hours of 10 s slots */

static char g_dir[256];

static hist_db *open_dir(const char *dir)
{
    hist_db_options o;
    fixture_options(&o, dir);
    o.compact_share = 0;
    o.chunk_samples = 64;
    return fixture_open(&o);
}

/* The model: per tag, per 10 s slot (ts = T0 + slot * STEP, plus odd
 * timestamps kept apart), whether it holds a sample and its value. */
typedef struct {
    bool has[NSLOT];
    double v[NSLOT];
} model;
static model g_m[2];
static uint32_t g_id[2];

static int64_t slot_ts(size_t i)
{
    return T0 + (int64_t)i * STEP;
}

static void put(hist_db *db, int t, size_t slot, double v)
{
    int64_t ts = slot_ts(slot);
    hist_value hv = {.f = v};
    hist_series s = {g_id[t], 1, &ts, &hv, NULL};
    uint64_t lsn;
    REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
    REQUIRE(hist_db_sync(db, lsn) == 0);
    g_m[t].has[slot] = true;
    g_m[t].v[slot] = v;
}

static void model_delete(int t, int64_t from, int64_t to)
{
    for (size_t i = 0; i < NSLOT; i++)
        if (slot_ts(i) >= from && slot_ts(i) < to)
            g_m[t].has[i] = false;
}

static hist_result run(hist_db *db, int t, hist_mode mode, int64_t from, int64_t to)
{
    hist_query_spec q;
    hist_query_spec_init(&q);
    q.mode = mode;
    q.from = from;
    q.to = to;
    q.limit = NSLOT + 10;
    if (mode == HIST_MODE_AGG) {
        q.bucket = HIST_BUCKET_FIXED;
        q.step_ns = HOUR;
        q.aggs[0] = HIST_AGG_COUNT, q.aggs[1] = HIST_AGG_MIN, q.aggs[2] = HIST_AGG_MAX;
        q.aggs[3] = HIST_AGG_SUM, q.aggs[4] = HIST_AGG_MEAN;
        q.naggs = 5;
        q.fill = HIST_FILL_NULL;
    } else if (mode == HIST_MODE_PLOT) {
        q.points = 12;
    } else if (mode == HIST_MODE_INTERP) {
        q.step_ns = 30 * SEC;
    }
    hist_result res;
    memset(&res, 0, sizeof(res));
    REQUIRE(hist_query_run(db, &q, &g_id[t], 1, &res) == 0);
    REQUIRE(res.nseries == 1);
    return res;
}

static uint64_t g_from_stats;

/* Every mode of tag t equals the model. */
static void check_tag(hist_db *db, int t, const char *when)
{
    const model *m = &g_m[t];
    int64_t from = T0, to = slot_ts(NSLOT);
    /* raw */
    hist_result r = run(db, t, HIST_MODE_RAW, from, to);
    const hist_series_result *s = &r.series[0];
    size_t k = 0;
    int bad = 0;
    for (size_t i = 0; i < NSLOT && !bad; i++) {
        if (!m->has[i])
            continue;
        if (k >= s->n || s->ts[k] != slot_ts(i) || s->value[k].f != m->v[i])
            bad = 1;
        k++;
    }
    CHECKF(!bad && k == s->n, "%s: tag %d raw differs from the model (%zu rows, model %zu)", when,
           t, s->n, k);
    hist_result_free(&r);
    /* latest */
    int last = -1;
    for (size_t i = 0; i < NSLOT; i++)
        if (m->has[i])
            last = (int)i;
    hist_sample ls;
    int lrc = hist_db_latest(db, g_id[t], &ls);
    if (last < 0)
        CHECKF(lrc == HIST_ENOTFOUND, "%s: tag %d latest should be none (rc %d)", when, t, lrc);
    else
        CHECKF(lrc == 0 && ls.ts == slot_ts((size_t)last) && ls.v.f == m->v[last],
               "%s: tag %d latest %lld, model %lld", when, t, (long long)ls.ts,
               (long long)slot_ts((size_t)last));
    r = run(db, t, HIST_MODE_LATEST, from, INT64_C(4102444800) * SEC);
    s = &r.series[0];
    if (last < 0)
        CHECKF(s->n == 0, "%s: tag %d latest mode gave a row", when, t);
    else
        CHECKF(s->n == 1 && s->ts[0] == slot_ts((size_t)last), "%s: tag %d latest mode differs",
               when, t);
    hist_result_free(&r);
    /* hourly aggregates */
    r = run(db, t, HIST_MODE_AGG, from, to);
    g_from_stats += r.chunks_from_stats;
    s = &r.series[0];
    CHECKF(s->n == 6, "%s: tag %d: %zu hourly buckets", when, t, s->n);
    for (size_t b = 0; b < s->n && b < 6; b++) {
        double cnt = 0, mn = INFINITY, mx = -INFINITY, sum = 0;
        for (size_t i = b * 360; i < (b + 1) * 360; i++)
            if (m->has[i]) {
                cnt++, sum += m->v[i];
                mn = m->v[i] < mn ? m->v[i] : mn;
                mx = m->v[i] > mx ? m->v[i] : mx;
            }
        double got_cnt = s->col[0][b];
        bool ok = cnt == 0 ? (isnan(got_cnt) || got_cnt == 0)
                           : (got_cnt == cnt && s->col[1][b] == mn && s->col[2][b] == mx &&
                              fabs(s->col[3][b] - sum) <= 1e-6 * fabs(sum) + 1e-9 &&
                              fabs(s->col[4][b] - sum / cnt) <= 1e-6 * fabs(sum / cnt) + 1e-9);
        CHECKF(ok, "%s: tag %d hour %zu: count %g min %g max %g sum %g, model %g %g %g %g", when, t,
               b, got_cnt, s->col[1][b], s->col[2][b], s->col[3][b], cnt, mn, mx, sum);
    }
    hist_result_free(&r);
    /* plot (M4): every point is a model sample, and the first and last
     * of each pixel's samples are there */
    r = run(db, t, HIST_MODE_PLOT, from, to);
    s = &r.series[0];
    bad = 0;
    for (size_t i = 0; i < s->n && !bad; i++) {
        int64_t d = s->ts[i] - T0;
        size_t slot = (size_t)(d / STEP);
        bad = d % STEP || slot >= NSLOT || !m->has[slot] || s->value[i].f != m->v[slot];
    }
    CHECKF(!bad, "%s: tag %d plot shows a sample the model lacks", when, t);
    CHECKF((s->n == 0) == (last < 0), "%s: tag %d plot empty %d, model empty %d", when, t,
           s->n == 0, last < 0);
    hist_result_free(&r);
    /* interpolated: a point on a sample's timestamp is that sample */
    r = run(db, t, HIST_MODE_INTERP, from, to);
    s = &r.series[0];
    bad = 0;
    for (size_t i = 0; i < s->n && !bad; i++) {
        int64_t d = s->ts[i] - T0;
        size_t slot = (size_t)(d / STEP);
        if (d % STEP == 0 && slot < NSLOT && m->has[slot])
            bad = s->value[i].f != m->v[slot];
    }
    CHECKF(!bad, "%s: tag %d interpolation differs on a sample", when, t);
    hist_result_free(&r);
}

static void check_all(hist_db *db, const char *when)
{
    check_tag(db, 0, when);
    check_tag(db, 1, when);
}

static hist_db *crash_copy_check(int round)
{
    char src[512], dst[512], cmd[1200];
    snprintf(src, sizeof(src), "%s/db", g_dir);
    snprintf(dst, sizeof(dst), "%s/crash%d", g_dir, round);
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", src, dst);
    REQUIRE(system(cmd) == 0);
    hist_db *copy = open_dir(dst);
    check_all(copy, "crash copy");
    return copy;
}

/* Freezes and logs tag t's buffer (the sealer's memory and WAL answers). */
static void freeze_and_log(hist_db *db, int t, bool log_runs)
{
    mu_lock(&db->seal_mu);
    CHECK_OK(freeze__tags(db, &g_id[t], 1, FREEZE_ALL));
    if (log_runs)
        CHECK_OK(runlog__tags(db, &g_id[t], 1));
    mu_unlock(&db->seal_mu);
}

static void del(hist_db *db, int t, int64_t from, int64_t to, const char *what,
                hist_delete_report *rep)
{
    hist_delete_report r;
    int rc = hist_db_delete(db, g_id[t], from, to, &r);
    CHECKF(rc == 0, "%s: delete rc %d", what, rc);
    model_delete(t, from, to);
    check_all(db, what);
    if (rep)
        *rep = r;
    if (getenv("TEST_VERBOSE"))
        printf("%-28s removed %llu rewritten %llu written %llu samples %llu\n", what,
               (unsigned long long)r.chunks_removed, (unsigned long long)r.chunks_rewritten,
               (unsigned long long)r.chunks_written, (unsigned long long)r.samples_deleted);
}

/* ---- Deletes while a writer writes ----
 * A thread writes (and syncs) one sample at a time into hours 6.. of a
 * third tag while the main thread deletes hours 0..1 of it again and again
 * (each delete seals the buffer the writer fills; debug builds assert
 * step 1's invariant each time). Afterwards every write acknowledged is
 * there, value for value, and hours 0..1 are empty. */
enum { CW = 3000 };
typedef struct {
    hist_db *db;
    uint32_t tag;
    int done;
} cwriter;

static int64_t cw_ts(int i)
{
    return T0 + 6 * HOUR + (int64_t)i * SEC;
}

static void *cwriter_main(void *arg)
{
    cwriter *w = arg;
    for (int i = 0; i < CW; i++) {
        int64_t ts = cw_ts(i);
        hist_value v = {.f = i * 0.5};
        hist_series s = {w->tag, 1, &ts, &v, NULL};
        uint64_t lsn;
        if (hist_db_write(w->db, &s, 1, &lsn) != 0 || hist_db_sync(w->db, lsn) != 0)
            return NULL;
        w->done = i + 1;
    }
    return NULL;
}

static void test_concurrent(hist_db *db)
{
    uint32_t tag;
    REQUIRE(hist_tag_resolve(db, "del/c", 5, HIST_TYPE_FLOAT64, true, &tag) == 0);
    int64_t ts[720];
    hist_value v[720];
    for (int i = 0; i < 720; i++)
        ts[i] = T0 + (int64_t)i * STEP, v[i].f = i;
    hist_series s = {tag, 720, ts, v, NULL};
    uint64_t lsn;
    REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0 && hist_db_sync(db, lsn) == 0);
    cwriter w = {db, tag, 0};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, cwriter_main, &w) == 0);
    int deletes = 0;
    for (int k = 0; k < 200; k++, deletes++) {
        CHECK_OK(hist_db_delete(db, tag, T0 + (k % 2) * HOUR, T0 + 2 * HOUR, NULL));
        if (k % 7 == 0) { /* writes back into the range, deleted again next time */
            int64_t t1 = T0 + (int64_t)(k % 720) * STEP;
            hist_value v1 = {.f = -1};
            hist_series s1 = {tag, 1, &t1, &v1, NULL};
            CHECK_OK(hist_db_write(db, &s1, 1, &lsn));
        }
    }
    pthread_join(th, NULL);
    CHECKF(w.done == CW, "the writer stopped at %d", w.done);
    CHECK_OK(hist_db_delete(db, tag, T0, T0 + 2 * HOUR, NULL));
    hist_scan *sc;
    REQUIRE(hist_scan_open(db, tag, T0, T0 + 24 * HOUR, HIST_SCAN_DECODE, &sc) == 0);
    hist_piece p;
    int n = 0, bad = 0, rc;
    while ((rc = hist_scan_next(sc, &p)) > 0)
        for (size_t k = 0; k < p.n; k++, n++)
            bad += n >= CW || p.ts[k] != cw_ts(n) || p.v[k].f != n * 0.5;
    CHECK(rc == 0);
    hist_scan_close(sc);
    CHECKF(n == CW && !bad, "concurrent: %d samples (want %d), %d differ, after %d deletes", n, CW,
           bad, deletes);
}

int main(void)
{
    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir), "test_delete") != NULL);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/db", g_dir);
    hist_db *db = open_dir(dir);
    const char *names[2] = {"del/a", "del/b"};
    for (int t = 0; t < 2; t++)
        REQUIRE(hist_tag_resolve(db, names[t], strlen(names[t]), HIST_TYPE_FLOAT64, true,
                                 &g_id[t]) == 0);

    /* Five hours sealed, in chunks of 64 cut at hour boundaries. */
    for (size_t i = 0; i < 5 * 360; i++)
        for (int t = 0; t < 2; t++)
            g_m[t].has[i] = true, g_m[t].v[i] = (double)(i % 97) * (t ? -1.5 : 1.25) + t;
    for (int t = 0; t < 2; t++) {
        int64_t *ts = malloc(5 * 360 * sizeof(*ts));
        hist_value *v = malloc(5 * 360 * sizeof(*v));
        REQUIRE(ts && v);
        for (size_t i = 0; i < 5 * 360; i++)
            ts[i] = slot_ts(i), v[i] = (hist_value){.f = g_m[t].v[i]};
        hist_series s = {g_id[t], 5 * 360, ts, v, NULL};
        uint64_t lsn;
        REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
        REQUIRE(hist_db_sync(db, lsn) == 0);
        free(ts), free(v);
    }
    CHECK_OK(hist_db_flush(db));
    check_all(db, "sealed");
    CHECKF(g_from_stats > 0, "no chunk answered from its statistics");

    /* The memtable: overwrites and out-of-order writes into sealed hours,
     * and hour 5 (new); some frozen, some logged. */
    for (size_t i = 100; i < 140; i++)
        put(db, 0, i, 1000.0 + (double)i);
    for (size_t i = 5 * 360; i < 5 * 360 + 50; i++)
        put(db, 0, i, 2000.0 + (double)i);
    freeze_and_log(db, 0, true);
    for (size_t i = 5 * 360 + 50; i < 5 * 360 + 80; i++)
        put(db, 0, i, 3000.0 + (double)i);
    freeze_and_log(db, 0, false);
    for (size_t i = 5 * 360 + 80; i < 5 * 360 + 120; i++)
        put(db, 0, i, 4000.0 + (double)i);
    for (size_t i = 700; i < 720; i++)
        put(db, 1, i, -7.0 * (double)i);
    check_all(db, "memtable written");

    hist_delete_report rep;
    /* Interior of one chunk (slots 10..19 of the first chunk). */
    del(db, 0, slot_ts(10), slot_ts(20), "chunk interior", &rep);
    CHECK(rep.chunks_rewritten >= 1 && rep.samples_deleted == 10);
    /* Exactly one whole chunk: slots 128..191 (the third chunk of hour 0). */
    del(db, 1, slot_ts(128), slot_ts(192), "one whole chunk", &rep);
    CHECK(rep.chunks_removed == 1 && rep.chunks_rewritten == 0 && rep.samples_deleted == 64);
    /* Edges: the last sample of one chunk and the first of the next. */
    del(db, 1, slot_ts(255), slot_ts(257), "chunk edges", &rep);
    CHECK(rep.samples_deleted == 2);
    /* Across the hour boundary 1h (slot 360), through the out-of-order
     * writes of slots 100..139 now sealed by the delete's seal. */
    del(db, 0, slot_ts(130), slot_ts(400), "across an hour", NULL);
    /* The memtable only: hour 5, frozen, logged and raw. Seal nothing first. */
    del(db, 0, slot_ts(5 * 360 + 40), slot_ts(5 * 360 + 90), "memtable runs and raw", NULL);
    /* Nothing there. */
    del(db, 1, slot_ts(5 * 360 + 300), slot_ts(5 * 360 + 310), "empty range", &rep);
    CHECK(rep.chunks_removed == 0 && rep.chunks_rewritten == 0 && rep.samples_deleted == 0);
    /* The latest sample of tag 0, and the tail after it. */
    del(db, 0, slot_ts(5 * 360 + 110), slot_ts(NSLOT), "the latest sample", NULL);
    /* Bad input. */
    CHECK(hist_db_delete(db, g_id[0], slot_ts(5), slot_ts(5), NULL) == HIST_EINVAL);
    CHECK(hist_db_delete(db, g_id[0], slot_ts(6), slot_ts(5), NULL) == HIST_EINVAL);
    CHECK(hist_db_delete(db, 99999, slot_ts(0), slot_ts(5), NULL) == HIST_ENOTFOUND);
    check_all(db, "after bad input");

    hist_db *copy = crash_copy_check(1);
    CHECK_OK(hist_db_close(copy));

    /* Writes into deleted ranges come back: overwrites and out of order. */
    put(db, 0, 15, 15.5);
    put(db, 0, 200, 200.5);
    put(db, 1, 130, -130.5);
    check_all(db, "rewritten after delete");
    CHECK_OK(hist_db_flush(db));
    check_all(db, "rewritten and sealed");
    /* Hours 2..4 of tag 1 whole, with a memtable write in the range. A
     * delete interrupted after its seal (step 1 of delete.c), before its
     * commit: a crash copy then still reads every sample (nothing was
     * acknowledged); the delete itself follows. */
    put(db, 1, 3 * 360 + 7, 42.0);
    mu_lock(&db->seal_mu);
    CHECK_OK(seal__tags(db, &g_id[1], 1, SEAL_WHOLE));
    mu_unlock(&db->seal_mu);
    copy = crash_copy_check(3);
    CHECK_OK(hist_db_close(copy));
    del(db, 1, T0 + 2 * HOUR, T0 + 5 * HOUR, "three hours", &rep);
    CHECK(rep.chunks_removed >= 3 * 6);
    /* A delete now that leaves writes in the WAL only (not sealed), then a
     * crash copy: the WAL must not bring the deleted samples back. */
    put(db, 0, 3000 % NSLOT, 1.0);
    del(db, 0, T0, T0 + HOUR, "hour 0", NULL);
    copy = crash_copy_check(2);
    CHECK_OK(hist_db_close(copy));

    CHECK_OK(hist_db_close(db));
    db = open_dir(dir);
    check_all(db, "reopened");
    /* Everything of tag 0. */
    del(db, 0, HIST_TS_MIN, HIST_TS_MAX, "everything", &rep);
    CHECK_OK(hist_db_close(db));
    db = open_dir(dir);
    check_all(db, "reopened after deleting everything");
    test_concurrent(db);
    CHECK_OK(hist_db_close(db));
    test_rm_rf(g_dir);
    return check_summary();
}
