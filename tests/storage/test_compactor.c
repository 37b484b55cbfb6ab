/*
 * test_compactor.c: the background compactor (storage/compact.c) joins the
 * partial chunks of settled tag-hours by itself.
 *
 *   - 1 Hz data of several tags over several hours, written in many small
 *     flushes (each tag-hour sealed into many partial chunks), then left to
 *     the compactor (bounded wait, polling hist_db_get_stats): the chunk
 *     count ends within 10 % of one per tag-hour, every sample reads back
 *     exactly, before and after a reopen, and the counters say what ran;
 *   - a tag-hour still being written (samples of it in the tag's buffer,
 *     or the tag's latest hour while the hour has not ended) is left alone;
 *   - a fast tag's run whose chunks a merge could not make fewer (10 Hz:
 *     five chunks an hour, a chunk crossing the hour boundary chaining two
 *     hours) is not a candidate: not pending, never decoded for a merge
 *     that would be dropped;
 *   - what merges leave dead is given back: with 32 KiB segments, a tag's
 *     four whole hours sealed between other tags' partial chunks, over
 *     several segments; once those are merged the segments a quarter dead
 *     are rewritten (the current one rolled first), the segment files end
 *     within a third of the live chunk bytes, and every sample of the
 *     whole hours still reads back (a rewrite once made the segments after
 *     it look unnamed, and they were removed with their live chunks);
 *   - hist_db_compact's rewrite of a partly dead segment keeps the live
 *     closed segments after it (this case fails on the removal loop that
 *     read the moved refs as sorted: the later segment's whole hours were
 *     removed and 4 chunks failed to load);
 *   - compact_share = 0 starts no compactor.
 * TEST_VERBOSE=1 prints the figures.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "tmpdir.h"
#include "storage/hist_storage.h"

#define SEC              INT64_C(1000000000)
#define HOUR             (3600 * SEC)
#define TAGS             6
#define HOURS            4
#define FLUSHES_PER_HOUR 12 /* a flush every 300 samples */

static char g_dir[256];

static void quiet_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= HIST_LOG_WARN && getenv("TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static size_t g_segment_bytes; /* for the next open; 0: the default */

static hist_db *open_db(const char *sub, double share)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", g_dir, sub);
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.log = quiet_log;
    o.compact_share = share;
    o.segment_bytes = g_segment_bytes;
    hist_db *db = NULL;
    REQUIRE(hist_db_open(&o, &db) == 0);
    return db;
}

static double value_of(int tag, int64_t k)
{
    return (double)tag * 1e6 + (double)k * 0.5;
}

/* Writes seconds [from, to) of every tag (1 Hz from t0), flushing every
 * `flush_every` samples. */
static void write_range(hist_db *db, const uint32_t *ids, int64_t t0, int64_t from, int64_t to,
                        int64_t flush_every)
{
    enum { BATCH = 50 };
    int64_t ts[BATCH];
    hist_value v[BATCH];
    for (int64_t k = from; k < to; k += BATCH) {
        for (int t = 0; t < TAGS; t++) {
            size_t m = 0;
            for (int64_t j = k; j < k + BATCH && j < to; j++, m++)
                ts[m] = t0 + j * SEC, v[m].f = value_of(t, j);
            hist_series s = {ids[t], m, ts, v, NULL};
            uint64_t lsn;
            REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
        }
        if ((k + BATCH - from) % flush_every == 0)
            REQUIRE(hist_db_flush(db) == 0);
    }
}

/* Every sample of every tag over [from, to) seconds reads back as written. */
static void check_samples(hist_db *db, const uint32_t *ids, int64_t t0, int64_t from, int64_t to)
{
    for (int t = 0; t < TAGS; t++) {
        hist_scan *s;
        REQUIRE(hist_scan_open(db, ids[t], t0 + from * SEC, t0 + to * SEC, HIST_SCAN_DECODE, &s) ==
                0);
        hist_piece p;
        int64_t next = from;
        size_t wrong = 0;
        while (hist_scan_next(s, &p) == 1)
            for (size_t i = 0; i < p.n; i++, next++)
                wrong += p.ts[i] != t0 + next * SEC || p.v[i].f != value_of(t, next);
        hist_scan_close(s);
        CHECK_EQ_I64(next, to);
        CHECK_EQ_I64(wrong, 0);
    }
}

static void make_tags(hist_db *db, uint32_t *ids)
{
    for (int t = 0; t < TAGS; t++) {
        char name[32];
        snprintf(name, sizeof(name), "unit%d.flow", t);
        REQUIRE(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_FLOAT64, true, &ids[t]) == 0);
    }
}

/* Polls the stats until there are at most want_chunks chunks, and (all)
 * no tag-hour is pending; at most 30 s. */
static hist_db_stats wait_settled(hist_db *db, uint64_t want_chunks, bool all, double *seconds)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    hist_db_stats st = {0};
    for (int i = 0; i < 3000; i++) {
        REQUIRE(hist_db_get_stats(db, &st) == 0);
        if (st.chunks <= want_chunks && (!all || st.compact_pending == 0))
            break;
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    *seconds = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    return st;
}

static void test_settles(void)
{
    hist_db *db = open_db("settles", 0.25);
    uint32_t ids[TAGS];
    make_tags(db, ids);
    /* Whole hours, days ago (settled by the clock). */
    int64_t t0 = (time(NULL) / 3600 - 72) * HOUR;
    write_range(db, ids, t0, 0, HOURS * 3600, 3600 / FLUSHES_PER_HOUR);
    REQUIRE(hist_db_flush(db) == 0);
    hist_db_stats st;
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    uint64_t before = st.chunks_sealed, ideal = TAGS * HOURS; /* some merged already */
    double secs;
    st = wait_settled(db, ideal + ideal / 10, true, &secs);
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr,
                "compactor: %llu chunks -> %llu (ideal %llu) in %.2f s; %llu tag-hours, %llu "
                "runs, %llu B rewritten, %llu segments rewritten, hold max %llu us\n",
                (unsigned long long)before, (unsigned long long)st.chunks,
                (unsigned long long)ideal, secs, (unsigned long long)st.compact_tag_hours,
                (unsigned long long)st.compact_runs, (unsigned long long)st.compact_bytes_rewritten,
                (unsigned long long)st.compact_segments_rewritten,
                (unsigned long long)st.compact_hold_max_us);
    CHECK(before >= ideal * 5); /* the flushes did leave partial chunks */
    CHECK(st.chunks * 10 <= ideal * 11);
    CHECK(st.chunks >= ideal);
    CHECK_EQ_I64(st.compact_pending, 0);
    CHECK(st.compact_tag_hours >= ideal - 1);
    CHECK(st.compact_chunks_before > st.compact_chunks_after);
    CHECK(st.compact_bytes_rewritten > 0);
    CHECK(st.compact_runs > 0);
    CHECK(st.compact_running == 1);
    check_samples(db, ids, t0, 0, HOURS * 3600);
    REQUIRE(hist_db_close(db) == 0);

    db = open_db("settles", 0);
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    CHECK(st.chunks * 10 <= ideal * 11);
    CHECK(st.compact_running == 0);
    check_samples(db, ids, t0, 0, HOURS * 3600);
    REQUIRE(hist_db_close(db) == 0);
}

/* The current wall-clock hour, still being written: its partial chunks
 * stay until it has ended, while the hour before is merged. */
static void test_live_hour_left_alone(void)
{
    hist_db *db = open_db("live", 1.0);
    uint32_t ids[TAGS];
    make_tags(db, ids);
    int64_t now_h = time(NULL) / 3600 * HOUR;
    int64_t t0 = now_h - HOUR;
    write_range(db, ids, t0, 0, 3600 + 600, 300);
    REQUIRE(hist_db_flush(db) == 0);
    hist_db_stats st;
    double secs;
    /* The past hour: one chunk per tag; the current one: two each (600 s). */
    st = wait_settled(db, TAGS + TAGS * 2, false, &secs);
    CHECK_EQ_I64(st.chunks, TAGS + TAGS * 2);
    uint64_t merged = st.compact_tag_hours;
    CHECK_EQ_I64(merged, TAGS);
    struct timespec nap = {1, 500 * 1000000}; /* a pass or more */
    nanosleep(&nap, NULL);
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    CHECK_EQ_I64(st.compact_tag_hours, merged);
    CHECK_EQ_I64(st.chunks, TAGS + TAGS * 2);
    CHECK_EQ_I64(st.compact_pending, TAGS); /* the current hour of each tag */
    check_samples(db, ids, t0, 0, 3600 + 600);
    REQUIRE(hist_db_close(db) == 0);
}

/* A past hour with samples in the buffer is not merged until they are sealed. */
static void test_buffered_hour_left_alone(void)
{
    hist_db *db = open_db("buffered", 1.0);
    uint32_t ids[TAGS];
    make_tags(db, ids);
    int64_t t0 = (time(NULL) / 3600 - 48) * HOUR;
    write_range(db, ids, t0, 0, 1800, 300); /* six partial chunks each */
    REQUIRE(hist_db_flush(db) == 0);
    /* More of the same hour, not sealed (no flush): the hour is being written. */
    write_range(db, ids, t0, 1800, 1850, 1000000);
    struct timespec nap = {0, 1500 * 1000000};
    nanosleep(&nap, NULL);
    hist_db_stats st;
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    CHECK_EQ_I64(st.compact_tag_hours, 0);
    CHECK_EQ_I64(st.chunks, TAGS * 6);
    check_samples(db, ids, t0, 0, 1850);
    /* Sealed: now it settles. */
    REQUIRE(hist_db_flush(db) == 0);
    double secs;
    st = wait_settled(db, TAGS, true, &secs);
    CHECK_EQ_I64(st.chunks, TAGS);
    CHECK_EQ_I64(st.compact_tag_hours, TAGS);
    check_samples(db, ids, t0, 0, 1850);
    REQUIRE(hist_db_close(db) == 0);
}

/* Tag id holds exactly n samples, the k-th at t0 + k * step with value
 * value_of_k(k). */
static void check_series(hist_db *db, uint32_t id, int64_t t0, int64_t step, int64_t n,
                         double (*value_of_k)(int64_t))
{
    hist_scan *sc;
    REQUIRE(hist_scan_open(db, id, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &sc) == 0);
    hist_piece p;
    int64_t next = 0;
    size_t wrong = 0;
    while (hist_scan_next(sc, &p) == 1)
        for (size_t i = 0; i < p.n; i++, next++)
            wrong += p.ts[i] != t0 + next * step || p.v[i].f != value_of_k(next);
    hist_scan_close(sc);
    CHECK_EQ_I64(next, n);
    CHECK_EQ_I64(wrong, 0);
}

static double index_value(int64_t k)
{
    return (double)k;
}

/* Samples [from, to) of a 10 Hz tag (value = its index), flushed at
 * every multiple of 8192 samples past `from` and at `to`. */
static void write_fast(hist_db *db, uint32_t id, int64_t t0, int64_t from, int64_t to)
{
    static int64_t ts[8192];
    static hist_value v[8192];
    for (int64_t k = from; k < to; k += 8192) {
        size_t m = 0;
        for (int64_t j = k; j < k + 8192 && j < to; j++, m++)
            ts[m] = t0 + j * (SEC / 10), v[m].f = (double)j;
        hist_series s = {id, m, ts, v, NULL};
        uint64_t lsn;
        REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
        REQUIRE(hist_db_flush(db) == 0);
    }
}

static void test_fast_run_left_alone(void)
{
    hist_db *db = open_db("fast", 1.0);
    uint32_t id;
    REQUIRE(hist_tag_resolve(db, "unit.vibration", 14, HIST_TYPE_FLOAT64, true, &id) == 0);
    int64_t t0 = (time(NULL) / 3600 - 48) * HOUR;
    /* Hour 0 in 5 chunks, one of 8192 from 300 samples before the hour's
     * end (too few to cut there: it chains the two hours), hour 1's rest
     * in 4: 10 chunks, and a merge would cut them into 5 + 5 again. */
    write_fast(db, id, t0, 0, 35700);
    write_fast(db, id, t0, 35700, 35700 + 8192);
    write_fast(db, id, t0, 35700 + 8192, 72000);
    hist_db_stats st;
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    CHECK_EQ_I64(st.chunks, 10);
    struct timespec nap = {1, 500 * 1000000}; /* a pass or more */
    nanosleep(&nap, NULL);
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    CHECK_EQ_I64(st.compact_tag_hours, 0);
    CHECK_EQ_I64(st.compact_bytes_rewritten, 0);
    CHECK_EQ_I64(st.compact_pending, 0); /* not a candidate, found again every pass */
    CHECK_EQ_I64(st.chunks, 10);
    check_series(db, id, t0, SEC / 10, 72000, index_value);
    REQUIRE(hist_db_close(db) == 0);
}

static double noise_at(int64_t k)
{
    uint64_t x = (uint64_t)k * 0x9e3779b97f4a7c15u;
    x ^= x >> 29;
    return (double)(x % 1000000) / 1000.0;
}

static void test_dead_space_given_back(void)
{
    g_segment_bytes = 32 << 10;
    hist_db *db = open_db("dead", 1.0);
    uint32_t ids[TAGS], noise;
    make_tags(db, ids);
    REQUIRE(hist_tag_resolve(db, "unit.noise", 10, HIST_TYPE_FLOAT64, true, &noise) == 0);
    int64_t t0 = (time(NULL) / 3600 - 72) * HOUR;
    write_range(db, ids, t0, 0, 1800, 300); /* partial chunks, merged later */
    enum { NOISE = 4 * 3600 };
    static int64_t ts[NOISE];
    static hist_value v[NOISE];
    for (int64_t k = 0; k < NOISE; k++)
        ts[k] = t0 + k * SEC, v[k].f = noise_at(k);
    hist_series s = {noise, NOISE, ts, v, NULL};
    uint64_t lsn;
    REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
    REQUIRE(hist_db_flush(db) == 0); /* four whole hours, live for good */
    write_range(db, ids, t0, 1800, 2 * 3600, 300);
    REQUIRE(hist_db_flush(db) == 0);
    double secs;
    hist_db_stats st = wait_settled(db, TAGS * 2 + 4, true, &secs);
    CHECK_EQ_I64(st.chunks, TAGS * 2 + 4);
    for (int i = 0; i < 1000 && st.bytes_segments * 3 > st.bytes_chunks * 4; i++) {
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
        REQUIRE(hist_db_get_stats(db, &st) == 0);
    }
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "dead space: segments %llu B for %llu B of live chunks, %llu rewritten\n",
                (unsigned long long)st.bytes_segments, (unsigned long long)st.bytes_chunks,
                (unsigned long long)st.compact_segments_rewritten);
    CHECKF(st.bytes_segments * 3 <= st.bytes_chunks * 4, "segments %llu B, live chunks %llu B",
           (unsigned long long)st.bytes_segments, (unsigned long long)st.bytes_chunks);
    CHECK(st.compact_segments_rewritten > 0);
    check_samples(db, ids, t0, 0, 2 * 3600);
    check_series(db, noise, t0, SEC, NOISE, noise_at);
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    CHECK_EQ_I64(st.chunk_load_failures, 0);
    REQUIRE(hist_db_close(db) == 0);
    g_segment_bytes = 0;
}

/* One tag's noise at 1 Hz over seconds [from, to) from t0, sealed. */
static void write_noise(hist_db *db, uint32_t id, int64_t t0, int64_t from, int64_t to)
{
    enum { MAX = 4 * 3600 };
    static int64_t ts[MAX];
    static hist_value v[MAX];
    REQUIRE(to - from <= MAX);
    size_t n = 0;
    for (int64_t k = from; k < to; k++, n++)
        ts[n] = t0 + k * SEC, v[n].f = noise_at(k + id * 7919);
    hist_series s = {id, n, ts, v, NULL};
    uint64_t lsn;
    REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
    REQUIRE(hist_db_flush(db) == 0);
}

static double noise_of(uint32_t id, int64_t k)
{
    return noise_at(k + id * 7919);
}

static void check_noise(hist_db *db, uint32_t id, int64_t t0, int64_t n)
{
    hist_scan *sc;
    REQUIRE(hist_scan_open(db, id, t0, t0 + n * SEC, HIST_SCAN_DECODE, &sc) == 0);
    hist_piece p;
    int64_t next = 0;
    size_t wrong = 0;
    while (hist_scan_next(sc, &p) == 1)
        for (size_t i = 0; i < p.n; i++, next++)
            wrong += p.ts[i] != t0 + next * SEC || p.v[i].f != noise_of(id, next);
    hist_scan_close(sc);
    CHECKF(next == n && wrong == 0, "tag %u: %lld of %lld samples, %zu wrong", id, (long long)next,
           (long long)n, wrong);
}

/* hist_db_compact's rewrite of a partly dead segment keeps the closed
 * segments after it: segment 1 holds a live whole hour and four partial
 * chunks, the segments after it a tag's four whole hours; the merge of the
 * partial chunks leaves segment 1 mostly dead, so it is rewritten, and the
 * segments after it, named by live chunks and not rewritten, must stay
 * (before the fix the removal loop read the list as sorted after the
 * rewrite had moved refs, and removed them). */
static void test_rewrite_keeps_later_segments(void)
{
    g_segment_bytes = 32 << 10;
    hist_db *db = open_db("later", 0);
    enum { PARTS = 4 };
    uint32_t live, whole, part[PARTS];
    REQUIRE(hist_tag_resolve(db, "seg.live", 8, HIST_TYPE_FLOAT64, true, &live) == 0);
    REQUIRE(hist_tag_resolve(db, "seg.whole", 9, HIST_TYPE_FLOAT64, true, &whole) == 0);
    for (int i = 0; i < PARTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "seg.part%d", i);
        REQUIRE(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_FLOAT64, true, &part[i]) == 0);
    }
    int64_t t0 = (time(NULL) / 3600 - 72) * HOUR;
    write_noise(db, live, t0, 0, 3600);
    for (int i = 0; i < PARTS; i++)
        write_noise(db, part[i], t0, 0, 1800);
    hist_db_stats before;
    REQUIRE(hist_db_get_stats(db, &before) == 0);
    write_noise(db, whole, t0, 0, 4 * 3600);
    for (int i = 0; i < PARTS; i++)
        write_noise(db, part[i], t0, 1800, 3600);
    REQUIRE(hist_db_compact(db, 0) == 0);
    hist_db_stats st;
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr,
                "later segments: %llu B of segments before the whole hours; after compaction "
                "%llu B of segments, %llu B live, %llu rewritten, %llu chunks\n",
                (unsigned long long)before.bytes_segments, (unsigned long long)st.bytes_segments,
                (unsigned long long)st.bytes_chunks,
                (unsigned long long)st.compact_segments_rewritten, (unsigned long long)st.chunks);
    CHECK(st.compact_segments_rewritten > 0);
    CHECK(st.bytes_segments >= st.bytes_chunks);
    check_noise(db, live, t0, 3600);
    check_noise(db, whole, t0, 4 * 3600);
    for (int i = 0; i < PARTS; i++)
        check_noise(db, part[i], t0, 3600);
    REQUIRE(hist_db_close(db) == 0);
    db = open_db("later", 0);
    check_noise(db, whole, t0, 4 * 3600);
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    CHECK_EQ_I64(st.chunk_load_failures, 0);
    REQUIRE(hist_db_close(db) == 0);
    g_segment_bytes = 0;
}

static void test_off(void)
{
    hist_db *db = open_db("off", 0);
    uint32_t ids[TAGS];
    make_tags(db, ids);
    int64_t t0 = (time(NULL) / 3600 - 48) * HOUR;
    write_range(db, ids, t0, 0, 1200, 300);
    REQUIRE(hist_db_flush(db) == 0);
    struct timespec nap = {0, 1200 * 1000000};
    nanosleep(&nap, NULL);
    hist_db_stats st;
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    CHECK_EQ_I64(st.chunks, TAGS * 4);
    CHECK_EQ_I64(st.compact_runs, 0);
    CHECK(st.compact_running == 0);
    REQUIRE(hist_db_close(db) == 0);
}

int main(void)
{
    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir), "compactor"));
    test_settles();
    test_live_hour_left_alone();
    test_buffered_hour_left_alone();
    test_fast_run_left_alone();
    test_dead_space_given_back();
    test_rewrite_keeps_later_segments();
    test_off();
    test_rm_rf(g_dir);
    return check_summary();
}
