/*
 * test_chunk_align.c: chunk boundaries follow the clock (storage/seal.c).
 *
 * A chunk never holds samples of two clock windows (chunk_align_ns, 1 h by
 * default) unless the run would otherwise be tiny (< chunk_samples / 16
 * samples): that is what lets the query engine answer hourly, daily and
 * shift buckets from chunk statistics alone. Checked here through the
 * public door only, by listing the chunks a scan offers as stats pieces:
 *   - a flush cuts at every window boundary, from any start time;
 *   - a slow tag gets chunks of several windows, cut at a boundary;
 *   - the background sealer, triggered by a full or an old buffer, keeps
 *     the current window's samples in memory so sealed chunks hold whole
 *     windows;
 *   - compaction joins partial chunks of one window, never across windows,
 *     and leaves aligned chunks alone;
 *   - chunk_align_ns < 0 turns alignment off;
 *   - a held window never splits a WAL record: a request whose samples
 *     cross the boundary survives a crash after the seal whole (issue 9's
 *     reproduction: it lost the samples after the boundary).
 * Every scan is also compared with what was written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "storage/hist_storage.h"

#define SEC  INT64_C(1000000000)
#define HOUR (3600 * SEC)

static char g_dir[256];

static void quiet_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= HIST_LOG_WARN && getenv("TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static hist_db *open_db_aged(const char *sub, uint32_t chunk_samples, int64_t align,
                             bool background, int64_t max_age)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", g_dir, sub);
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.chunk_samples = chunk_samples;
    o.chunk_align_ns = align;
    o.no_background = !background;
    o.chunk_max_age_ns = max_age;
    o.log = quiet_log;
    hist_db *db = NULL;
    int rc = hist_db_open(&o, &db);
    REQUIRE(rc == 0);
    return db;
}

static hist_db *open_db(const char *sub, uint32_t chunk_samples, int64_t align, bool background)
{
    return open_db_aged(sub, chunk_samples, align, background, 0);
}

/* Waits (bounded: 10 s) until the sealer has sealed more than `above`
 * samples; returns the stats then. */
static hist_db_stats wait_sealed(hist_db *db, uint64_t above)
{
    hist_db_stats st = {0};
    for (int i = 0; i < 1000; i++) {
        REQUIRE(hist_db_get_stats(db, &st) == 0);
        if (st.samples_sealed > above)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
    }
    return st;
}

/* Writes samples first..n-1 of the series t0 + i * every, value i, in
 * batches. */
static void write_regular(hist_db *db, uint32_t tag, int64_t t0, int64_t every, size_t first,
                          size_t n)
{
    enum { BATCH = 100 };
    int64_t ts[BATCH];
    hist_value v[BATCH];
    for (size_t i = first; i < n; i += BATCH) {
        size_t m = n - i < BATCH ? n - i : BATCH;
        for (size_t j = 0; j < m; j++)
            ts[j] = t0 + (int64_t)(i + j) * every, v[j].f = (double)(i + j);
        hist_series s = {tag, m, ts, v, NULL};
        uint64_t lsn;
        REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
    }
}

typedef struct {
    size_t chunks;         /* stats pieces: sealed chunks */
    size_t crossing;       /* chunks holding samples of two windows */
    size_t partial;        /* chunks not starting at their window's start */
    size_t samples, wrong; /* samples seen; samples not as written */
    int64_t max_span;
} layout;

static int64_t window_of(int64_t t, int64_t align)
{
    return t / align * align; /* t >= 0 here */
}

/* Lists the chunks of a tag (written by write_regular from t0, every) and
 * checks every sample. */
static layout scan_layout(hist_db *db, uint32_t tag, int64_t t0, int64_t every, int64_t align)
{
    layout l = {0};
    hist_scan *s;
    REQUIRE(hist_scan_open(db, tag, 0, INT64_MAX, 0, &s) == 0);
    hist_piece p;
    while (hist_scan_next(s, &p) == 1) {
        if (p.stats) {
            const hist_chunk_stats *st = p.stats;
            if (getenv("TEST_VERBOSE"))
                fprintf(stderr, "chunk %lld..%lld n=%u\n", (long long)(st->start_ts / SEC),
                        (long long)(st->end_ts / SEC), st->count);
            l.chunks++;
            l.crossing += window_of(st->start_ts, align) != window_of(st->end_ts, align);
            l.partial += st->start_ts != window_of(st->start_ts, align) &&
                         st->start_ts - every >= window_of(st->start_ts, align) &&
                         st->start_ts - every >= t0;
            if (st->end_ts - st->start_ts > l.max_span)
                l.max_span = st->end_ts - st->start_ts;
            REQUIRE(hist_scan_decode(s, &p) == 0);
        }
        for (size_t i = 0; i < p.n; i++) {
            int64_t k = (p.ts[i] - t0) / every;
            l.wrong +=
                p.ts[i] != t0 + k * every || p.v[i].f != (double)k || (int64_t)l.samples != k;
            l.samples++;
        }
    }
    hist_scan_close(s);
    return l;
}

static uint32_t new_tag(hist_db *db, const char *name)
{
    uint32_t tag;
    REQUIRE(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_FLOAT64, true, &tag) == 0);
    return tag;
}

/* 1 Hz from 00:30 for 3 h 20 min: a flush cuts at 01:00, 02:00, 03:00. */
static void test_flush_cuts_at_hours(void)
{
    hist_db *db = open_db("hours", 8192, 0, false);
    uint32_t tag = new_tag(db, "a/hz1");
    int64_t t0 = 1800 * SEC;
    write_regular(db, tag, t0, SEC, 0, 12000);
    CHECK(hist_db_flush(db) == 0);
    layout l = scan_layout(db, tag, t0, SEC, HOUR);
    CHECK_EQ_I64(l.samples, 12000);
    CHECK_EQ_I64(l.wrong, 0);
    CHECK_EQ_I64(l.chunks, 4); /* 00:30-01, 01-02, 02-03, 03-03:50 */
    CHECK_EQ_I64(l.crossing, 0);
    CHECK_EQ_I64(l.partial, 0);
    /* Compaction finds nothing to join: every chunk fills its window. */
    CHECK(hist_db_compact(db, tag) == 0);
    layout c = scan_layout(db, tag, t0, SEC, HOUR);
    CHECK_EQ_I64(c.chunks, l.chunks);
    CHECK_EQ_I64(c.wrong, 0);
    CHECK(hist_db_close(db) == 0);
}

/* One sample a minute: an hour holds 60 < 8192/16 samples, so chunks span
 * several hours, and still end at a boundary: 512 samples take 8 h 32 min,
 * so every chunk is 9 h (540 samples). */
static void test_slow_tag_spans_windows(void)
{
    hist_db *db = open_db("slow", 8192, 0, false);
    uint32_t tag = new_tag(db, "a/slow");
    write_regular(db, tag, 0, 60 * SEC, 0, 4320);
    CHECK(hist_db_flush(db) == 0);
    layout l = scan_layout(db, tag, 0, 60 * SEC, HOUR);
    CHECK_EQ_I64(l.samples, 4320);
    CHECK_EQ_I64(l.wrong, 0);
    CHECK_EQ_I64(l.chunks, 8);
    CHECK_EQ_I64(l.max_span, 539 * 60 * SEC);
    CHECK(hist_db_close(db) == 0);
}

/* The sealer seals a full buffer (1000 samples) only up to the start of the
 * current 10-minute window: 600 samples go, 400 stay. Whatever it does while
 * the rest is written, every sealed chunk is a whole window. */
static void test_sealer_holds_current_window(void)
{
    int64_t align = 600 * SEC;
    hist_db *db = open_db("hold", 1000, align, true);
    uint32_t tag = new_tag(db, "a/held");
    write_regular(db, tag, 0, SEC, 0, 1000);
    hist_db_stats st = wait_sealed(db, 0);
    CHECK_EQ_I64(st.samples_sealed, 600);
    CHECK_EQ_I64(st.chunks, 1);
    write_regular(db, tag, 0, SEC, 1000, 2500);
    CHECK(hist_db_flush(db) == 0);
    layout l = scan_layout(db, tag, 0, SEC, align);
    CHECK_EQ_I64(l.samples, 2500);
    CHECK_EQ_I64(l.wrong, 0);
    CHECK_EQ_I64(l.crossing, 0);
    CHECK_EQ_I64(l.partial, 0);
    CHECK(hist_db_close(db) == 0);
}

/* A buffer sealed for its age (1 s here, never full) also keeps its
 * current window: 900 samples over two 10-minute windows seal as 600, and
 * after 600 more, the second window's 600; a buffer wholly inside one
 * window goes whole. The age (restarted by each seal) leaves the test a
 * second to look and write between seals. */
static void test_age_holds_current_window(void)
{
    int64_t align = 600 * SEC;
    hist_db *db = open_db_aged("age", 100000, align, true, SEC);
    uint32_t tag = new_tag(db, "a/aged");
    write_regular(db, tag, 0, SEC, 0, 900);
    hist_db_stats st = wait_sealed(db, 0);
    CHECK_EQ_I64(st.samples_sealed, 600);
    CHECK_EQ_I64(st.samples_memtable, 300);
    write_regular(db, tag, 0, SEC, 900, 1500);
    st = wait_sealed(db, 600);
    CHECK_EQ_I64(st.samples_sealed, 1200);
    /* No window boundary in the buffer now: after another age it goes whole. */
    st = wait_sealed(db, 1200);
    CHECK_EQ_I64(st.samples_sealed, 1500);
    CHECK_EQ_I64(st.seals_held, 2); /* the whole last seal kept nothing */
    CHECK_EQ_I64(st.seals_memory + st.seals_wal, 0);
    layout l = scan_layout(db, tag, 0, SEC, align);
    CHECK_EQ_I64(l.samples, 1500);
    CHECK_EQ_I64(l.wrong, 0);
    CHECK_EQ_I64(l.chunks, 3);
    CHECK_EQ_I64(l.crossing, 0);
    CHECK_EQ_I64(l.partial, 0);
    CHECK(hist_db_close(db) == 0);
}

/* Three flushes inside one hour and one past it leave four partial chunks;
 * compaction makes them one chunk per window. */
static void test_compaction_joins_within_window(void)
{
    hist_db *db = open_db("join", 8192, 0, false);
    uint32_t tag = new_tag(db, "a/join");
    for (int part = 0; part < 4; part++) {
        int64_t t0 = (int64_t)part * 1200 * SEC;
        enum { N = 1200 };
        int64_t ts[N];
        hist_value v[N];
        for (int j = 0; j < N; j++)
            ts[j] = t0 + (int64_t)j * SEC, v[j].f = (double)(part * N + j);
        hist_series s = {tag, N, ts, v, NULL};
        uint64_t lsn;
        REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
        REQUIRE(hist_db_flush(db) == 0);
    }
    layout l = scan_layout(db, tag, 0, SEC, HOUR);
    CHECK_EQ_I64(l.chunks, 4);
    CHECK_EQ_I64(l.partial, 2);
    CHECK(hist_db_compact(db, tag) == 0);
    l = scan_layout(db, tag, 0, SEC, HOUR);
    CHECK_EQ_I64(l.samples, 4800);
    CHECK_EQ_I64(l.wrong, 0);
    CHECK_EQ_I64(l.chunks, 2); /* 00:00-01:00 and 01:00-01:20 */
    CHECK_EQ_I64(l.crossing, 0);
    CHECK_EQ_I64(l.partial, 0);
    CHECK(hist_db_close(db) == 0);
}

/* chunk_align_ns < 0: chunks are cut by count only. */
static void test_alignment_off(void)
{
    hist_db *db = open_db("off", 8192, -1, false);
    uint32_t tag = new_tag(db, "a/off");
    write_regular(db, tag, 1800 * SEC, SEC, 0, 12000);
    CHECK(hist_db_flush(db) == 0);
    layout l = scan_layout(db, tag, 1800 * SEC, SEC, HOUR);
    CHECK_EQ_I64(l.samples, 12000);
    CHECK_EQ_I64(l.wrong, 0);
    CHECK_EQ_I64(l.chunks, 2); /* 8192 + 3808 */
    CHECK(hist_db_close(db) == 0);
}

/* Writes n samples from t0 at 1 Hz in requests of `per` samples in a child
 * process, waits until the sealer has sealed some and the memtable holds
 * still, then ends the child without closing the database: what a kill -9
 * after the seal leaves. Reopens and returns the samples found. */
static size_t crash_after_seal(const char *sub, int64_t t0, size_t n, size_t per)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        hist_db *db = open_db_aged(sub, 8192, 0, true, 0);
        uint32_t tag = new_tag(db, "a/crossing");
        enum { MAXB = 9000 };
        static int64_t ts[MAXB];
        static hist_value v[MAXB];
        uint64_t lsn = 0;
        for (size_t i = 0; i < n; i += per) {
            size_t m = n - i < per ? n - i : per;
            for (size_t j = 0; j < m; j++)
                ts[j] = t0 + (int64_t)(i + j) * SEC, v[j].f = (double)(i + j);
            hist_series s = {tag, m, ts, v, NULL};
            if (hist_db_write(db, &s, 1, &lsn) != 0)
                _exit(2);
        }
        if (hist_db_sync(db, lsn) != 0)
            _exit(3);
        hist_db_stats st = wait_sealed(db, 0);
        for (int i = 0; i < 50; i++) { /* 0.5 s with no change: settled */
            nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
            hist_db_stats now;
            hist_db_get_stats(db, &now);
            if (now.samples_sealed != st.samples_sealed)
                i = 0, st = now;
        }
        _exit(st.samples_sealed > 0 ? 0 : 4);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* the sealer ran */
    hist_db *db = open_db(sub, 8192, 0, false);
    hist_tag_info info;
    REQUIRE(hist_tag_by_name(db, "a/crossing", &info) == 0);
    layout l = scan_layout(db, info.id, t0, SEC, HOUR);
    CHECK_EQ_I64(l.wrong, 0);
    CHECK(hist_db_close(db) == 0);
    return l.samples;
}

/* One request of 9,000 samples from 5,000 s before an hour boundary, then
 * 820 ten-sample requests straddling one: the sealer's held hour must not
 * cut a request, or a crash after the seal loses the request's tail. */
static void test_held_window_keeps_requests_whole(void)
{
    CHECK_EQ_I64(crash_after_seal("cut1", 10 * HOUR - 5000 * SEC, 9000, 9000), 9000);
    CHECK_EQ_I64(crash_after_seal("cut2", 10 * HOUR - 5000 * SEC, 8200, 10), 8200);
    CHECK_EQ_I64(crash_after_seal("cut3", 20 * HOUR - 8000 * SEC, 8195, 7), 8195);
}

int main(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/hist_align_XXXXXX");
    REQUIRE(mkdtemp(g_dir));
    test_flush_cuts_at_hours();
    test_slow_tag_spans_windows();
    test_sealer_holds_current_window();
    test_age_holds_current_window();
    test_compaction_joins_within_window();
    test_alignment_off();
    test_held_window_keeps_requests_whole();
    test_rm_rf(g_dir);
    return check_summary();
}
