/*
 * test_scrub.c: damaged chunks and the scrub (storage/damage.c, scrub.c),
 * through the storage and query doors.
 *
 *   - an undamaged directory scrubs clean: every chunk and tag checked,
 *     nothing marked, and aggregates from statistics equal raw data;
 *   - a flipped bit in one chunk, an entry whose max no longer matches its
 *     intact bytes, and a flipped bit in a tag's last chunk: the scrub
 *     marks all three (crc32c, statistics, crc32c) and names them; from
 *     then on count/sum/min/max from statistics, raw, hour buckets, plot,
 *     interp and latest agree with each other and with the data minus
 *     those chunks, and each answer counts the chunk it left out; the
 *     marks survive a reopen; a second pass reports them as known;
 *   - a restored chunk is unmarked by the next pass; retention takes the
 *     mark of a chunk it drops along;
 *   - without a scrub, a read that meets a damaged chunk marks it, logs it
 *     once, and the next aggregate from statistics leaves it out too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "chunk_damage.h"
#include "tmpdir.h"
#include "query/hist_query.h"
#include "storage/hist_storage.h"

#define SEC   INT64_C(1000000000)
#define HOUR  (3600 * SEC)
#define T0    (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z */
#define NTAGS 3

static const int nsamples[NTAGS] = {20000, 20000, 10900};
static const char *const names[NTAGS] = {"plant/a/temp", "plant/b/flow", "plant/c/level"};
static char g_dir[256];

typedef struct {
    int marked_logs; /* "damaged chunk marked" lines */
} log_count;

static void count_log(void *ctx, int level, const char *msg)
{
    log_count *lc = ctx;
    if (lc && strstr(msg, "damaged chunk marked"))
        lc->marked_logs++;
    if (level <= HIST_LOG_WARN && getenv("TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static hist_db *open_db(const char *sub, log_count *lc)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", g_dir, sub);
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.no_background = true;
    o.log = count_log;
    o.log_ctx = lc;
    hist_db *db = NULL;
    int rc = hist_db_open(&o, &db);
    CHECKF(rc == 0, "open %s: %s", dir, hist_strerror(rc));
    REQUIRE(db != NULL);
    return db;
}

static void sub_dir(const char *sub, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", g_dir, sub);
}

/* ---- The data, and what an answer must hold -------------------------------------------- */

static int64_t ts_at(int i)
{
    return T0 + i * SEC;
}
static double value_at(int tag, int i)
{
    return 20 + tag + 5 * sin(i / 300.0);
}
static uint32_t quality_at(int tag, int i)
{
    return tag == 1 && i % 97 == 0 ? HIST_QUALITY_BAD : HIST_QUALITY_GOOD;
}

static void write_tags(hist_db *db, uint32_t *ids)
{
    for (int t = 0; t < NTAGS; t++) {
        CHECK_OK(
            hist_tag_resolve(db, names[t], strlen(names[t]), HIST_TYPE_FLOAT64, true, &ids[t]));
        int n = nsamples[t];
        int64_t *ts = malloc(n * sizeof(*ts));
        hist_value *v = malloc(n * sizeof(*v));
        uint32_t *q = malloc(n * sizeof(*q));
        REQUIRE(ts && v && q);
        for (int i = 0; i < n; i++)
            ts[i] = ts_at(i), v[i].f = value_at(t, i), q[i] = quality_at(t, i);
        hist_series s = {ids[t], (size_t)n, ts, v, q};
        uint64_t lsn;
        CHECK_OK(hist_db_write(db, &s, 1, &lsn));
        CHECK_OK(hist_db_sync(db, lsn));
        free(ts), free(v), free(q);
    }
    CHECK_OK(hist_db_flush(db));
}

/* What an aggregate over the samples outside the lost time ranges
 * [lost[k], lost[k+1]] holds: the counted ones (not Bad), or with
 * include_bad every one (what a plot draws). */
typedef struct {
    uint64_t n;
    double sum, min, max;
} expect;

static expect expected_q(int tag, const int64_t *lost, int nlost, bool include_bad)
{
    expect e = {0, 0, INFINITY, -INFINITY};
    for (int i = 0; i < nsamples[tag]; i++) {
        bool gone = false;
        for (int k = 0; k < nlost; k += 2)
            gone |= ts_at(i) >= lost[k] && ts_at(i) <= lost[k + 1];
        if (gone || (!include_bad && hist_quality_is_bad(quality_at(tag, i))))
            continue;
        double x = value_at(tag, i);
        e.n++, e.sum += x;
        e.min = x < e.min ? x : e.min;
        e.max = x > e.max ? x : e.max;
    }
    return e;
}

static expect expected(int tag, const int64_t *lost, int nlost)
{
    return expected_q(tag, lost, nlost, false);
}

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b) + 1);
}

/* ---- Queries ------------------------------------------------------------------------------ */

static hist_query_spec spec_of(hist_mode mode)
{
    hist_query_spec s;
    hist_query_spec_init(&s);
    s.mode = mode;
    s.from = T0;
    s.to = T0 + 24 * HOUR;
    s.limit = 1000000;
    return s;
}

static hist_result run(hist_db *db, const hist_query_spec *spec, uint32_t tag)
{
    hist_result r;
    int rc = hist_query_run(db, spec, &tag, 1, &r);
    CHECKF(rc == 0, "query mode %d: %s", (int)spec->mode, hist_strerror(rc));
    REQUIRE(rc == 0 && r.nseries == 1);
    return r;
}

/* count, sum, min, max over one day: every chunk lies inside the bucket,
 * so the answer comes from the chunks' statistics. */
static expect agg_from_stats(hist_db *db, uint32_t tag, uint64_t *damaged)
{
    hist_query_spec s = spec_of(HIST_MODE_AGG);
    s.step_ns = 24 * HOUR;
    hist_agg aggs[] = {HIST_AGG_COUNT, HIST_AGG_SUM, HIST_AGG_MIN, HIST_AGG_MAX};
    memcpy(s.aggs, aggs, sizeof(aggs));
    s.naggs = 4;
    hist_result r = run(db, &s, tag);
    const hist_series_result *sr = &r.series[0];
    CHECK(r.chunks_from_stats > 0);
    expect e = {0, NAN, NAN, NAN};
    if (sr->n == 1)
        e = (expect){(uint64_t)sr->col[0][0], sr->col[1][0], sr->col[2][0], sr->col[3][0]};
    *damaged = r.damaged_chunks;
    hist_result_free(&r);
    return e;
}

/* The same from raw samples; also checks none lies in [lost_lo, lost_hi]. */
static expect agg_from_raw(hist_db *db, uint32_t tag, int64_t lost_lo, int64_t lost_hi,
                           uint64_t *damaged)
{
    hist_query_spec s = spec_of(HIST_MODE_RAW);
    hist_result r = run(db, &s, tag);
    const hist_series_result *sr = &r.series[0];
    expect e = {0, 0, INFINITY, -INFINITY};
    size_t inside = 0;
    for (size_t i = 0; i < sr->n; i++) {
        inside += sr->ts[i] >= lost_lo && sr->ts[i] <= lost_hi;
        if (hist_quality_is_bad(sr->q[i]))
            continue;
        double x = sr->value[i].f;
        e.n++, e.sum += x;
        e.min = x < e.min ? x : e.min;
        e.max = x > e.max ? x : e.max;
    }
    CHECKF(inside == 0, "%zu raw samples inside the lost chunk", inside);
    *damaged = r.damaged_chunks;
    hist_result_free(&r);
    return e;
}

static void check_same(const char *what, expect got, expect want)
{
    CHECKF(got.n == want.n, "%s: count %llu, want %llu", what, (unsigned long long)got.n,
           (unsigned long long)want.n);
    CHECKF(near(got.sum, want.sum), "%s: sum %.17g, want %.17g", what, got.sum, want.sum);
    CHECKF(got.min == want.min && got.max == want.max, "%s: min/max %g/%g, want %g/%g", what,
           got.min, got.max, want.min, want.max);
}

/* Hour buckets (calendar, UTC): each hour's count, the lost hour empty. */
static void check_hours(hist_db *db, uint32_t tag, int t, const int64_t *lost, int nlost,
                        uint64_t want_damaged)
{
    hist_query_spec s = spec_of(HIST_MODE_AGG);
    s.bucket = HIST_BUCKET_HOUR;
    s.aggs[0] = HIST_AGG_COUNT;
    s.naggs = 1;
    s.fill = HIST_FILL_NULL;
    hist_result r = run(db, &s, tag);
    const hist_series_result *sr = &r.series[0];
    CHECK(sr->n == 24);
    size_t bad = 0;
    for (size_t h = 0; h < sr->n; h++) {
        uint64_t want = 0;
        for (int i = 0; i < nsamples[t]; i++) {
            bool gone = false;
            for (int k = 0; k < nlost; k += 2)
                gone |= ts_at(i) >= lost[k] && ts_at(i) <= lost[k + 1];
            want += !gone && !hist_quality_is_bad(quality_at(t, i)) && ts_at(i) >= sr->ts[h] &&
                    ts_at(i) < sr->ts_end[h];
        }
        double got = sr->col[0][h];
        bad += want ? got != (double)want : !isnan(got);
    }
    CHECKF(bad == 0, "tag %d: %zu hour buckets differ", t, bad);
    CHECK_EQ_I64(r.damaged_chunks, want_damaged);
    hist_result_free(&r);
}

/* M4 over 5 columns of 4.8 h: some chunks from statistics, some decoded;
 * want is over every quality (a plot draws them all). */
static void check_plot(hist_db *db, uint32_t tag, expect want, int64_t lost_lo, int64_t lost_hi,
                       uint64_t want_damaged)
{
    hist_query_spec s = spec_of(HIST_MODE_PLOT);
    s.points = 5;
    s.threads = 1;
    hist_result r = run(db, &s, tag);
    const hist_series_result *sr = &r.series[0];
    double mn = INFINITY, mx = -INFINITY;
    size_t inside = 0;
    for (size_t i = 0; i < sr->n; i++) {
        inside += sr->ts[i] >= lost_lo && sr->ts[i] <= lost_hi;
        mn = sr->value[i].f < mn ? sr->value[i].f : mn;
        mx = sr->value[i].f > mx ? sr->value[i].f : mx;
    }
    CHECK(r.chunks_from_stats > 0 && sr->n > 0);
    CHECKF(inside == 0, "%zu plot points inside the lost chunk", inside);
    CHECKF(mn == want.min && mx == want.max, "plot min/max %g/%g, want %g/%g", mn, mx, want.min,
           want.max);
    CHECK_EQ_I64(r.damaged_chunks, want_damaged);
    hist_result_free(&r);
}

/* ---- Scrub reports ------------------------------------------------------------------------ */

typedef struct {
    int chunks, known, other;
    int reason_of_tag[NTAGS + 1]; /* by tag id (1..3) */
    char last[800];
} problems;

static void on_problem(void *ctx, const hist_scrub_problem *p)
{
    problems *pr = ctx;
    if (p->kind != HIST_PROBLEM_CHUNK) {
        pr->other++;
        return;
    }
    pr->chunks++;
    pr->known += p->known;
    if (p->chunk.tag <= NTAGS)
        pr->reason_of_tag[p->chunk.tag] = p->chunk.reason;
    snprintf(pr->last, sizeof(pr->last), "%s", p->message);
}

static hist_scrub_report scrub(hist_db *db, problems *pr)
{
    hist_scrub_options o;
    hist_scrub_options_init(&o);
    o.problem = on_problem;
    o.ctx = pr;
    memset(pr, 0, sizeof(*pr));
    hist_scrub_report r;
    CHECK_OK(hist_db_scrub(db, &o, &r));
    return r;
}

/* The chunk of tag starting at start, from the index of a closed dir. */
static hist_chunk_ref find_chunk(const char *dir, uint32_t tag, int64_t start, bool last)
{
    static hist_chunk_ref refs[256];
    int n = test_chunk_refs(dir, refs, 256);
    REQUIRE(n > 0);
    int found = -1;
    for (int i = 0; i < n; i++)
        if (refs[i].tag == tag && (last || refs[i].stats.start_ts == start))
            found = i;
    REQUIRE(found >= 0);
    return refs[found];
}

static int count_damaged(void *ctx, const hist_damaged_chunk *c)
{
    int *n = ctx;
    (*n) += c->reason != 0;
    return 0;
}

/* ---- Cases --------------------------------------------------------------------------------- */

static void test_clean(void)
{
    hist_db *db = open_db("clean", NULL);
    uint32_t ids[NTAGS];
    write_tags(db, ids);
    problems pr;
    hist_scrub_report r = scrub(db, &pr);
    /* 6 + 6 + 4 chunks: hours of 3600 samples, then the rest */
    CHECK_EQ_I64(r.chunks_checked, 16);
    CHECK(r.tags_checked == NTAGS && r.tag_problems == 0 && r.index_problems == 0);
    CHECK(r.damaged_new == 0 && r.damaged_known == 0 && r.chunks_unchecked == 0);
    CHECK(pr.chunks == 0 && pr.other == 0);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK(st.damaged_chunks == 0 && st.scrub_passes == 1 && st.scrub_chunks_checked == 16);
    for (int t = 0; t < NTAGS; t++) {
        uint64_t d1, d2;
        expect want = expected(t, NULL, 0);
        check_same("clean, from stats", agg_from_stats(db, ids[t], &d1), want);
        check_same("clean, raw", agg_from_raw(db, ids[t], 0, -1, &d2), want);
        CHECK(d1 == 0 && d2 == 0);
    }
    CHECK_OK(hist_db_close(db));
}

/* A closed directory sub holding the data; its path in dir. */
static void make_dir(const char *sub, char *dir, size_t cap, uint32_t *ids)
{
    sub_dir(sub, dir, cap);
    hist_db *db = open_db(sub, NULL);
    write_tags(db, ids);
    CHECK_OK(hist_db_close(db));
}

static void test_scrub_marks(void)
{
    char dir[512];
    uint32_t ids[NTAGS];
    make_dir("dmg", dir, sizeof(dir), ids);

    /* a: a bit of hour 1; b: hour 2's entry says a max its bytes do not
     * hold; c: a bit of its last chunk (the 100 samples after hour 3). */
    hist_chunk_ref ra = find_chunk(dir, ids[0], T0 + HOUR, false);
    hist_chunk_ref rb = find_chunk(dir, ids[1], T0 + 2 * HOUR, false);
    hist_chunk_ref rc = find_chunk(dir, ids[2], 0, true);
    CHECK(ra.stats.count == 3600 && rb.stats.count == 3600 && rc.stats.count == 100);
    CHECK(test_flip_chunk_bit(dir, &ra, ra.length / 2, 3) == 0);
    CHECK_OK(test_skew_entry_max(dir, &rb, 1.0));
    CHECK(test_flip_chunk_bit(dir, &rc, rc.length / 2, 0) == 0);

    hist_db *db = open_db("dmg", NULL);
    problems pr;
    hist_scrub_report r = scrub(db, &pr);
    CHECK_EQ_I64(r.damaged_new, 3);
    CHECK(r.damaged_known == 0 && r.chunks_checked == 16);
    CHECK(pr.chunks == 3 && pr.known == 0 && pr.other == 0);
    CHECK(pr.reason_of_tag[ids[0]] == HIST_DAMAGE_CRC);
    CHECK(pr.reason_of_tag[ids[1]] == HIST_DAMAGE_STATS);
    CHECK(pr.reason_of_tag[ids[2]] == HIST_DAMAGE_CRC);
    CHECKF(strstr(pr.last, names[2]) && strstr(pr.last, "crc32c"), "message: %s", pr.last);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK(st.damaged_chunks == 3 && st.scrub_damaged_found == 3);
    int listed = 0;
    CHECK_OK(hist_db_damaged_foreach(db, count_damaged, &listed));
    CHECK(listed == 3);

    int64_t lost[NTAGS][2] = {{ra.stats.start_ts, ra.stats.end_ts},
                              {rb.stats.start_ts, rb.stats.end_ts},
                              {rc.stats.start_ts, rc.stats.end_ts}};
    for (int pass = 0; pass < 2; pass++) { /* before and after a reopen */
        for (int t = 0; t < NTAGS; t++) {
            expect want = expected(t, lost[t], 2);
            uint64_t d1, d2;
            check_same("from stats", agg_from_stats(db, ids[t], &d1), want);
            check_same("raw", agg_from_raw(db, ids[t], lost[t][0], lost[t][1], &d2), want);
            CHECK(d1 == 1 && d2 == 1);
            check_hours(db, ids[t], t, lost[t], 2, 1);
            check_plot(db, ids[t], expected_q(t, lost[t], 2, true), lost[t][0], lost[t][1], 1);
        }
        /* Interp inside a's lost hour runs straight from the last sample
         * before it to the first after it. */
        hist_query_spec s = spec_of(HIST_MODE_INTERP);
        s.from = T0 + HOUR + 1800 * SEC;
        s.to = s.from + 1;
        s.step_ns = SEC;
        hist_result ir = run(db, &s, ids[0]);
        double a = value_at(0, 3599), b = value_at(0, 7200);
        double want_v = a + (b - a) * (1801.0 / 3601.0);
        CHECK(ir.series[0].n == 1 && near(ir.series[0].value[0].f, want_v));
        CHECK_EQ_I64(ir.damaged_chunks, 1);
        hist_result_free(&ir);
        /* c's latest is the last sample of hour 3: its last chunk is lost. */
        s = spec_of(HIST_MODE_LATEST);
        hist_result lr = run(db, &s, ids[2]);
        CHECK(lr.series[0].n == 1 && lr.series[0].ts[0] == ts_at(10799));
        CHECK_EQ_I64(lr.damaged_chunks, 1);
        hist_result_free(&lr);
        if (pass == 0) {
            CHECK_OK(hist_db_close(db));
            db = open_db("dmg", NULL);
        }
    }

    /* A second pass knows them. */
    r = scrub(db, &pr);
    CHECK(r.damaged_new == 0 && r.damaged_known == 3 && pr.known == 3);
    CHECK_OK(hist_db_close(db));

    /* a's chunk restored (the bit flipped back): the next pass unmarks it,
     * and its hour counts again. */
    CHECK(test_flip_chunk_bit(dir, &ra, ra.length / 2, 3) == 0);
    db = open_db("dmg", NULL);
    r = scrub(db, &pr);
    CHECK(r.repaired == 1 && r.damaged_known == 2 && r.damaged_new == 0);
    uint64_t d;
    check_same("restored", agg_from_stats(db, ids[0], &d), expected(0, NULL, 0));
    CHECK(d == 0);
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK(st.damaged_chunks == 2);
    /* Retention drops b's marked hour 2 (and everything before hour 3):
     * its mark goes with it. */
    CHECK_OK(hist_db_drop_before(db, T0 + 3 * HOUR));
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK(st.damaged_chunks == 1);
    r = scrub(db, &pr);
    CHECK(r.damaged_known == 1 && r.marks_dropped == 0 && pr.reason_of_tag[ids[2]] != 0);
    CHECK_OK(hist_db_close(db));
}

static void test_read_marks(void)
{
    char dir[512];
    uint32_t ids[NTAGS];
    make_dir("rd", dir, sizeof(dir), ids);
    hist_chunk_ref ra = find_chunk(dir, ids[0], T0 + HOUR, false);
    CHECK(test_flip_chunk_bit(dir, &ra, 40, 6) == 0);

    log_count lc = {0};
    hist_db *db = open_db("rd", &lc);
    int64_t lost[2] = {ra.stats.start_ts, ra.stats.end_ts};
    expect want = expected(0, lost, 2);
    for (int k = 0; k < 3; k++) { /* the first read finds it; later ones skip it */
        uint64_t dr;
        check_same("raw", agg_from_raw(db, ids[0], lost[0], lost[1], &dr), want);
        CHECK(dr == 1);
    }
    CHECK_EQ_I64(lc.marked_logs, 1);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK(st.damaged_chunks == 1 && st.chunk_load_failures == 1);
    uint64_t ds;
    check_same("from stats after a read marked it", agg_from_stats(db, ids[0], &ds), want);
    CHECK(ds == 1);
    CHECK_OK(hist_db_close(db));
}

static void on_removed(void *ctx, const hist_repaired_entry *e)
{
    hist_repaired_entry *last = ctx;
    *last = *e;
}

/* hist_db_repair: a's hour 1 (crc) and c's last chunk (crc) are removed
 * with their marks; the totals, every query and the latest value follow;
 * a second repair finds nothing, and a reopened scrub is clean. */
static void test_repair(void)
{
    char dir[512];
    uint32_t ids[NTAGS];
    make_dir("rep", dir, sizeof(dir), ids);
    hist_chunk_ref ra = find_chunk(dir, ids[0], T0 + HOUR, false);
    hist_chunk_ref rc = find_chunk(dir, ids[2], 0, true);
    CHECK(test_flip_chunk_bit(dir, &ra, ra.length / 2, 3) == 0);
    CHECK(test_flip_chunk_bit(dir, &rc, rc.length / 3, 2) == 0);
    hist_db *db = open_db("rep", NULL);
    problems pr;
    hist_scrub_report r = scrub(db, &pr);
    CHECK_EQ_I64(r.damaged_new, 2);
    hist_db_stats before, after;
    CHECK_OK(hist_db_get_stats(db, &before));
    hist_repaired_entry last;
    memset(&last, 0, sizeof(last));
    hist_repair_totals tot;
    CHECK_OK(hist_db_repair(db, on_removed, &last, &tot));
    CHECK(tot.entries == 2 && tot.samples == 3600 + 100);
    CHECK(last.chunk.tag == ids[2] && last.samples == 100 && last.chunk.reason == HIST_DAMAGE_CRC &&
          last.chunk.start_ts == rc.stats.start_ts && strstr(last.why, "crc32c"));
    CHECK_OK(hist_db_get_stats(db, &after));
    CHECK(after.damaged_chunks == 0 && after.chunks == before.chunks - 2 &&
          after.samples_sealed == before.samples_sealed - 3700);
    int64_t lost_a[2] = {ra.stats.start_ts, ra.stats.end_ts};
    int64_t lost_c[2] = {rc.stats.start_ts, rc.stats.end_ts};
    uint64_t d;
    /* the samples are gone and no answer counts a damaged chunk any more */
    check_same("repaired a, from stats", agg_from_stats(db, ids[0], &d), expected(0, lost_a, 2));
    CHECK(d == 0);
    check_same("repaired a, raw", agg_from_raw(db, ids[0], lost_a[0], lost_a[1], &d),
               expected(0, lost_a, 2));
    CHECK(d == 0);
    check_same("b untouched", agg_from_stats(db, ids[1], &d), expected(1, NULL, 0));
    hist_query_spec s = spec_of(HIST_MODE_LATEST);
    hist_result lr = run(db, &s, ids[2]);
    CHECK(lr.series[0].n == 1 && lr.series[0].ts[0] == ts_at(10799));
    CHECK_EQ_I64(lr.damaged_chunks, 0);
    hist_result_free(&lr);
    CHECK_OK(hist_db_repair(db, NULL, NULL, &tot));
    CHECK(tot.entries == 0 && tot.samples == 0);
    CHECK_OK(hist_db_close(db));
    db = open_db("rep", NULL);
    r = scrub(db, &pr);
    CHECK(r.damaged_new == 0 && r.damaged_known == 0 && r.index_problems == 0 &&
          r.chunks_checked == 14);
    check_same("c after a reopen", agg_from_stats(db, ids[2], &d), expected(2, lost_c, 2));
    CHECK_OK(hist_db_close(db));
}

int main(void)
{
    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir), "scrub"));
    test_clean();
    test_scrub_marks();
    test_read_marks();
    test_repair();
    test_rm_rf(g_dir);
    return check_summary();
}
