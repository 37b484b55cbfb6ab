/*
 * test_wal.c: the write-ahead log.
 *   - round trip across segment roll-over and reopen; LSNs continue after
 *     reopen and new appends go to a new segment;
 *   - group commit: 8 threads appending and syncing; every sync returns with
 *     its LSN durable, and fewer fdatasyncs happen than syncs were called;
 *   - torn tail: the last record cut at every byte offset, and every bit of
 *     it flipped: the earlier records replay exactly, the torn one is
 *     dropped, reported and cut off the file;
 *   - corruption in the middle of a segment and of an older segment;
 *   - checkpoint deletes exactly the segments below the LSN, never the
 *     active one nor the newest holding a record;
 *   - errors: bad directory, bad arguments, a write failure (file size
 *     limit): the log breaks, refuses appends, resumes in a new segment
 *     when writes work again, and never replays a refused record;
 *   - damage is counted exactly: a lost record between intact ones (a
 *     flipped bit, a damaged length field, a missing segment) costs that
 *     record only, and the records after it are kept.
 * Everything runs on both io backends (sync, and io_uring where the kernel
 * has it; otherwise AUTO, which falls back).
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "storage/io.h"
#include "storage/wal.h"

typedef struct {
    int count, warns, errors;
    char last[512];
} log_capture;

static void capture_log(void *ctx, int level, const char *msg)
{
    log_capture *c = ctx;
    c->count++;
    c->warns += level == HIST_LOG_WARN;
    c->errors += level == HIST_LOG_ERROR;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

static hist_io_mode io_mode;
static char base[64];
static char waldir[128];
static log_capture logs;

/* ---- Helpers ------------------------------------------------------------ */

static void fresh_dir(void)
{
    test_rm_rf(waldir);
}

static hist_wal *open_wal(size_t segment_bytes, hist_wal_report *report)
{
    hist_wal_options o = {.dir = waldir,
                          .io = io_mode,
                          .segment_bytes = segment_bytes,
                          .log = capture_log,
                          .log_ctx = &logs};
    hist_wal *wal = NULL;
    int rc = wal__open(&o, &wal, report);
    CHECKF(rc == 0 && wal, "wal__open: %s", hist_strerror(rc));
    return wal;
}

/* Record payload for an LSN: its length and bytes follow from the LSN. */
static size_t payload_len(uint64_t lsn)
{
    return (size_t)((lsn * 37) % 300);
}

static void payload_fill(uint64_t lsn, uint8_t *buf)
{
    for (size_t i = 0; i < payload_len(lsn); i++)
        buf[i] = (uint8_t)(lsn * 131 + i * 7);
}

/* Appends the payload of `lsn` in up to three pieces; checks the LSN. */
static void append_lsn(hist_wal *wal, uint64_t lsn)
{
    uint8_t buf[300];
    payload_fill(lsn, buf);
    size_t n = payload_len(lsn), a = n / 3, b = n / 2;
    struct iovec iov[3] = {{buf, a}, {buf + a, b - a}, {buf + b, n - b}};
    uint64_t got = 0;
    CHECK_OK(wal__append(wal, iov, 3, &got));
    CHECK_EQ_I64(got, lsn);
}

/* A new log in a fresh directory holding records 1..n, durable: synced
 * one by one (each its own flush, so segments fill record by record) or all
 * at once. */
static hist_wal *fresh_log(size_t segment_bytes, uint64_t n, bool sync_each)
{
    fresh_dir();
    hist_wal *wal = open_wal(segment_bytes, NULL);
    REQUIRE(wal);
    for (uint64_t lsn = 1; lsn <= n; lsn++) {
        append_lsn(wal, lsn);
        if (sync_each)
            CHECK_OK(wal__sync(wal, lsn));
    }
    if (!sync_each && n)
        CHECK_OK(wal__sync(wal, n));
    return wal;
}

typedef struct {
    uint64_t next; /* the LSN expected next */
    uint64_t count;
    int bad;
    int stop_at; /* return 7 at this LSN (0 = never) */
} replay_check;

static int replay_fn(void *ctx, uint64_t lsn, const uint8_t *payload, size_t len)
{
    replay_check *r = ctx;
    uint8_t want[300];
    payload_fill(lsn, want);
    if (lsn != r->next || len != payload_len(lsn) || (len && memcmp(payload, want, len) != 0))
        r->bad++;
    r->next = lsn + 1;
    r->count++;
    return r->stop_at && (int)lsn == r->stop_at ? 7 : 0;
}

/* Replays from `from` and checks records from..last are exactly there. */
static void check_replay(hist_wal *wal, uint64_t from, uint64_t last)
{
    replay_check r = {from, 0, 0, 0};
    CHECK_OK(wal__replay(wal, from, replay_fn, &r));
    CHECKF(r.bad == 0 && r.count == last - from + 1, "from %llu: %llu records, %d bad",
           (unsigned long long)from, (unsigned long long)r.count, r.bad);
}

static char seg_path_buf[256];
static const char *seg_path(uint64_t no)
{
    snprintf(seg_path_buf, sizeof seg_path_buf, "%s/%012llu.wal", waldir, (unsigned long long)no);
    return seg_path_buf;
}

static int count_segments(void)
{
    DIR *d = opendir(waldir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strlen(e->d_name) == 16 && strstr(e->d_name, ".wal") != NULL;
    closedir(d);
    return n;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 ? -1 : (long)st.st_size;
}

static size_t read_whole(const char *path, uint8_t **out)
{
    long n = file_size(path);
    REQUIRE(n >= 0);
    *out = malloc((size_t)n + 1);
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0 && read(fd, *out, (size_t)n) == n);
    close(fd);
    return (size_t)n;
}

static void write_whole(const char *path, const uint8_t *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0 && write(fd, buf, n) == (ssize_t)n);
    close(fd);
}

/* ---- Round trip --------------------------------------------------------- */

static void test_roundtrip(void)
{
    fresh_dir();
    hist_wal_report rep;
    hist_wal *wal = open_wal(4096, &rep);
    REQUIRE(wal);
    CHECK(rep.records == 0 && rep.dropped_records == 0 && wal__last_lsn(wal) == 0);
    CHECK_OK(wal__sync(wal, 0)); /* nothing to do */
    for (uint64_t lsn = 1; lsn <= 200; lsn++) {
        append_lsn(wal, lsn);
        if (lsn % 10 == 0)
            CHECK_OK(wal__sync(wal, lsn));
    }
    CHECK(wal__last_lsn(wal) == 200 && wal__durable_lsn(wal) == 200);
    hist_wal_stats st;
    wal__get_stats(wal, &st);
    CHECK(st.syncs >= 20 && st.bytes > 200 * 16);
    uint64_t in_hist = 0;
    for (int i = 0; i < HIST_SYNC_HIST_BUCKETS; i++)
        in_hist += st.sync_hist[i];
    CHECK(in_hist == st.syncs && st.sync_seconds_total > 0);
    CHECK(strcmp(st.io_backend, io_mode == HIST_IO_SYNC ? "sync" : "io_uring") == 0 ||
          io_mode == HIST_IO_AUTO);
    CHECK(wal__replay(wal, 1, replay_fn, &(replay_check){1, 0, 0, 0}) == HIST_EINVAL);
    CHECK(wal__sync(wal, 201) == HIST_EINVAL);
    for (uint64_t lsn = 201; lsn <= 205; lsn++)
        append_lsn(wal, lsn); /* not synced: close syncs them */
    CHECK_OK(wal__close(wal));
    int segs = count_segments();
    CHECKF(segs > 5, "%d segments", segs); /* ~30 KB in 4 KB segments */

    memset(&logs, 0, sizeof logs);
    wal = open_wal(4096, &rep);
    REQUIRE(wal);
    CHECK(rep.records == 205 && rep.first_lsn == 1 && rep.last_lsn == 205);
    CHECKF(rep.dropped_records == 0 && rep.dropped_bytes == 0 && logs.warns == 0,
           "dropped %llu records, %llu bytes, %d warnings (last: %s)",
           (unsigned long long)rep.dropped_records, (unsigned long long)rep.dropped_bytes,
           logs.warns, logs.last);
    CHECK(wal__last_lsn(wal) == 205 && wal__durable_lsn(wal) == 205);
    check_replay(wal, 1, 205);
    check_replay(wal, 150, 205);
    check_replay(wal, 205, 205);
    replay_check r = {1, 0, 0, 42};
    CHECK(wal__replay(wal, 1, replay_fn, &r) == 7 && r.count == 42);
    r = (replay_check){1, 0, 0, 0};
    CHECK_OK(wal__replay(wal, 206, replay_fn, &r));
    CHECK(r.count == 0);
    CHECK(count_segments() == segs); /* opening writes nothing */

    /* LSNs continue; new appends go to a new segment. */
    append_lsn(wal, 206);
    CHECK_OK(wal__sync(wal, 206));
    CHECK(count_segments() == segs + 1);
    CHECK(file_size(seg_path((uint64_t)segs + 1)) == 16 + (long)payload_len(206));
    CHECK_OK(wal__close(wal));
    wal = open_wal(4096, &rep);
    REQUIRE(wal);
    CHECK(rep.records == 206 && rep.last_lsn == 206 && rep.dropped_records == 0);
    check_replay(wal, 1, 206);
    CHECK_OK(wal__close(wal));
    CHECK_OK(wal__close(NULL));
}

/* A record too large for one segment still goes in whole; empty payloads
 * and a segment file left empty are fine. */
static void test_sizes(void)
{
    fresh_dir();
    hist_wal *wal = open_wal(1000, NULL);
    REQUIRE(wal);
    static uint8_t big[5000];
    memset(big, 0xab, sizeof big);
    struct iovec iov = {big, sizeof big};
    uint64_t lsn;
    CHECK_OK(wal__append(wal, &iov, 1, &lsn));
    CHECK_OK(wal__append(wal, NULL, 0, &lsn));
    CHECK(lsn == 2);
    CHECK_OK(wal__sync(wal, 2));
    /* The big record passes the size at once: the next one rolls. */
    CHECK(count_segments() == 2 && file_size(seg_path(1)) == 5000 + 16);
    CHECK(file_size(seg_path(2)) == 16);
    CHECK_OK(wal__append(wal, &iov, 1, &lsn));
    CHECK_OK(wal__sync(wal, 3));
    CHECK(count_segments() == 2 && file_size(seg_path(2)) == 5000 + 32);
    CHECK_OK(wal__append(wal, NULL, 0, &lsn));
    CHECK_OK(wal__sync(wal, 4));
    CHECK(count_segments() == 3 && file_size(seg_path(3)) == 16);
    struct iovec huge = {big, ((size_t)1 << 30) + 1};
    CHECK(wal__append(wal, &huge, 1, &lsn) == HIST_ETOOBIG);
    CHECK(wal__append(wal, NULL, -1, &lsn) == HIST_EINVAL);
    CHECK_OK(wal__close(wal));

    write_whole(seg_path(7), big, 0); /* empty segment */
    char other[256];
    snprintf(other, sizeof other, "%s/notes.txt", waldir);
    write_whole(other, big, 10); /* not a segment name: left alone */
    hist_wal_report rep;
    wal = open_wal(1000, &rep);
    REQUIRE(wal);
    CHECK(rep.records == 4 && rep.dropped_records == 0);
    CHECK(file_size(seg_path(7)) == -1 && file_size(other) == 10);
    CHECK(wal__last_lsn(wal) == 4);
    CHECK_OK(wal__close(wal));
}

/* ---- Group commit ------------------------------------------------------- */

enum { GC_THREADS = 8, GC_PER_THREAD = 150 };

typedef struct {
    hist_wal *wal;
    int id;
    int failures;
} gc_thread;

static void *gc_run(void *arg)
{
    gc_thread *t = arg;
    for (int i = 0; i < GC_PER_THREAD; i++) {
        uint8_t payload[64];
        memset(payload, t->id, sizeof payload);
        memcpy(payload, &i, sizeof i);
        struct iovec iov = {payload, 8 + (size_t)(i % 50)};
        uint64_t lsn;
        if (wal__append(t->wal, &iov, 1, &lsn) != 0 || wal__sync(t->wal, lsn) != 0 ||
            wal__durable_lsn(t->wal) < lsn)
            t->failures++;
    }
    return NULL;
}

typedef struct {
    uint8_t seen[GC_THREADS][GC_PER_THREAD];
    int bad;
} gc_seen;

static int gc_replay(void *ctx, uint64_t lsn, const uint8_t *p, size_t len)
{
    gc_seen *s = ctx;
    int i;
    memcpy(&i, p, sizeof i);
    int id = len > 8 ? p[len - 1] : p[7];
    if (len < 8 || id >= GC_THREADS || i < 0 || i >= GC_PER_THREAD || len != 8 + (size_t)(i % 50))
        s->bad++;
    else
        s->seen[id][i]++;
    return 0;
}

static void test_group_commit(void)
{
    fresh_dir();
    hist_wal *wal = open_wal(64 * 1024, NULL);
    REQUIRE(wal);
    pthread_t th[GC_THREADS];
    gc_thread t[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        t[i] = (gc_thread){wal, i, 0};
        REQUIRE(pthread_create(&th[i], NULL, gc_run, &t[i]) == 0);
    }
    int failures = 0;
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += t[i].failures;
    }
    CHECK(failures == 0);
    hist_wal_stats st;
    wal__get_stats(wal, &st);
    uint64_t calls = GC_THREADS * GC_PER_THREAD;
    CHECKF(st.syncs < calls, "%llu fdatasyncs for %llu sync calls", (unsigned long long)st.syncs,
           (unsigned long long)calls);
    printf("group commit: %llu fdatasyncs for %llu sync calls\n", (unsigned long long)st.syncs,
           (unsigned long long)calls);
    CHECK(wal__durable_lsn(wal) == calls);
    CHECK_OK(wal__close(wal));

    hist_wal_report rep;
    wal = open_wal(64 * 1024, &rep);
    REQUIRE(wal);
    CHECK(rep.records == calls && rep.dropped_records == 0);
    static gc_seen seen;
    memset(&seen, 0, sizeof seen);
    CHECK_OK(wal__replay(wal, 1, gc_replay, &seen));
    int missing = 0;
    for (int i = 0; i < GC_THREADS; i++)
        for (int j = 0; j < GC_PER_THREAD; j++)
            missing += seen.seen[i][j] != 1;
    CHECKF(seen.bad == 0 && missing == 0, "%d bad, %d missing or repeated", seen.bad, missing);
    CHECK_OK(wal__close(wal));
}

/* ---- Torn and corrupt records -------------------------------------------- */

enum { TORN_N = 6 };

/* Writes records 1..TORN_N into one segment; returns the file bytes and
 * where the last record starts. */
static size_t make_segment(uint8_t **bytes, size_t *last_start)
{
    fresh_dir();
    hist_wal *wal = open_wal(0, NULL);
    REQUIRE(wal);
    for (uint64_t lsn = 1; lsn <= TORN_N; lsn++)
        append_lsn(wal, lsn);
    CHECK_OK(wal__close(wal));
    size_t n = read_whole(seg_path(1), bytes);
    *last_start = n - 16 - payload_len(TORN_N);
    return n;
}

/* Opens the log over `bytes` and checks that exactly `kept` records come
 * back, that `cut_bytes` were cut (file truncated) and reported. */
static int check_recovery(const uint8_t *bytes, size_t n, uint64_t kept, size_t keep_len,
                          int expect_drop)
{
    fresh_dir();
    REQUIRE(mkdir(waldir, 0755) == 0);
    write_whole(seg_path(1), bytes, n);
    hist_wal_report rep;
    logs.warns = 0;
    hist_wal *wal = open_wal(0, &rep);
    if (!wal)
        return 0;
    int ok = rep.records == kept && rep.last_lsn == kept && rep.dropped_bytes == n - keep_len &&
             (expect_drop ? rep.dropped_records >= 1 && logs.warns >= 1
                          : rep.dropped_records == 0 && logs.warns == 0);
    ok = ok && file_size(seg_path(1)) == (keep_len ? (long)keep_len : -1);
    replay_check r = {1, 0, 0, 0};
    ok = ok && wal__replay(wal, 1, replay_fn, &r) == 0 && r.count == kept && r.bad == 0;
    ok = ok && wal__last_lsn(wal) == kept;
    /* The log goes on after the cut: the next LSN follows the kept ones. */
    append_lsn(wal, kept + 1);
    ok = ok && wal__close(wal) == 0;
    wal = open_wal(0, &rep);
    ok = ok && wal && rep.records == kept + 1 && rep.dropped_records == 0;
    wal__close(wal);
    return ok;
}

static void test_torn_tail(void)
{
    uint8_t *bytes;
    size_t start;
    size_t n = make_segment(&bytes, &start);
    int bad = 0;
    for (size_t len = start; len < n; len++)
        bad += !check_recovery(bytes, len, TORN_N - 1, start, len > start);
    CHECKF(bad == 0, "%d of %zu cut lengths recovered wrongly", bad, n - start);
    CHECK(check_recovery(bytes, n, TORN_N, n, 0)); /* uncut */
    free(bytes);
}

static void test_bit_flips(void)
{
    uint8_t *bytes;
    size_t start;
    size_t n = make_segment(&bytes, &start);
    int bad = 0, tried = 0;
    /* Every bit of the header, a sample of the payload's. */
    for (size_t bit = start * 8; bit < n * 8; bit += bit < (start + 16) * 8 ? 1 : 5) {
        bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        bad += !check_recovery(bytes, n, TORN_N - 1, start, 1);
        bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        tried++;
    }
    CHECKF(bad == 0, "%d of %d bit flips recovered wrongly", bad, tried);
    free(bytes);
}

/* A damaged record in the middle of a segment ends it there; in an older
 * segment, the later segments are kept and the gap is logged. */
static void segment_range(uint64_t no, uint64_t *first, uint64_t *last);

static void test_middle_corruption(void)
{
    uint8_t *bytes;
    size_t start;
    size_t n = make_segment(&bytes, &start);
    size_t off = 0; /* start of record 3 */
    for (uint64_t lsn = 1; lsn < 3; lsn++)
        off += 16 + payload_len(lsn);
    bytes[off + 12] ^= 0x10; /* in record 3's LSN field */
    fresh_dir();
    REQUIRE(mkdir(waldir, 0755) == 0);
    write_whole(seg_path(1), bytes, n);
    hist_wal_report rep;
    hist_wal *wal = open_wal(0, &rep);
    REQUIRE(wal);
    /* Record 3 is lost, exactly; the intact records after it are kept. */
    CHECK(rep.records == TORN_N - 1 && rep.last_lsn == TORN_N);
    CHECKF(rep.lost_records == 1 && rep.dropped_records == 1, "lost %llu dropped %llu",
           (unsigned long long)rep.lost_records, (unsigned long long)rep.dropped_records);
    CHECK(rep.damaged_bytes == 16 + payload_len(3) && rep.dropped_bytes == 0);
    CHECK(file_size(seg_path(1)) == (long)n);
    replay_check hole = {1, 0, 0, 0};
    CHECK_OK(wal__replay(wal, 1, replay_fn, &hole));
    CHECK(hole.count == TORN_N - 1 && hole.bad == 1); /* the one jump over record 3 */
    CHECK_OK(wal__close(wal));
    free(bytes);

    /* A damaged length field (record 2 of many): the walk cannot follow the
     * lengths past it, and still finds and keeps every record after it. */
    wal = fresh_log(0, 100, false);
    CHECK_OK(wal__close(wal));
    n = read_whole(seg_path(1), &bytes);
    bytes[16 + payload_len(1) + 2] ^= 0x40; /* record 2's length: far too long */
    write_whole(seg_path(1), bytes, n);
    wal = open_wal(0, &rep);
    REQUIRE(wal);
    CHECKF(rep.records == 99 && rep.lost_records == 1 && rep.dropped_records == 1 &&
               rep.dropped_bytes == 0,
           "records %llu lost %llu dropped %llu", (unsigned long long)rep.records,
           (unsigned long long)rep.lost_records, (unsigned long long)rep.dropped_records);
    CHECK_OK(wal__close(wal));
    /* ... and of the first record: nothing before it says how many were
     * lost, so "at least one". */
    bytes[16 + payload_len(1) + 2] ^= 0x40;
    bytes[2] ^= 0x40;
    write_whole(seg_path(1), bytes, n);
    wal = open_wal(0, &rep);
    REQUIRE(wal);
    CHECK(rep.records == 99 && rep.first_lsn == 2 && rep.lost_records == 1);
    CHECK_OK(wal__close(wal));
    free(bytes);

    /* Three segments; damage the middle of the first. */
    wal = fresh_log(1500, 30, true);
    CHECK_OK(wal__close(wal));
    REQUIRE(count_segments() >= 3);
    n = read_whole(seg_path(1), &bytes);
    bytes[16 + payload_len(1) + 20] ^= 1; /* record 2 */
    write_whole(seg_path(1), bytes, n);
    logs.count = logs.warns = 0;
    wal = open_wal(1500, &rep);
    REQUIRE(wal);
    CHECK(rep.lost_records == 1 && rep.dropped_records == 1 && rep.dropped_bytes == 0);
    CHECK(rep.first_lsn == 1 && rep.last_lsn == 30 && rep.records == 29);
    CHECKF(logs.warns == 1 && strstr(logs.last, "1 record(s) lost"), "%d warnings, last: %s",
           logs.warns, logs.last);
    replay_check r = {1, 0, 0, 0};
    CHECK_OK(wal__replay(wal, 1, replay_fn, &r));
    CHECK(r.count == rep.records && r.bad == 1); /* the one jump over the hole */
    CHECK(wal__last_lsn(wal) == 30);
    CHECK_OK(wal__close(wal));
    free(bytes);

    /* A whole segment lost between two others: a gap, counted exactly. */
    wal = fresh_log(1500, 30, true);
    CHECK_OK(wal__close(wal));
    uint64_t gap_first, gap_last;
    segment_range(2, &gap_first, &gap_last);
    REQUIRE(gap_last >= gap_first && gap_first > 1);
    REQUIRE(unlink(seg_path(2)) == 0);
    wal = open_wal(1500, &rep);
    REQUIRE(wal);
    CHECKF(rep.lost_records == gap_last - gap_first + 1 && rep.last_lsn == 30,
           "lost %llu of LSN %llu..%llu", (unsigned long long)rep.lost_records,
           (unsigned long long)gap_first, (unsigned long long)gap_last);
    CHECK_OK(wal__close(wal));

    /* A segment whose LSNs go backwards is cut entirely. */
    fresh_dir();
    REQUIRE(mkdir(waldir, 0755) == 0);
    n = make_segment(&bytes, &start);
    write_whole(seg_path(2), bytes, n); /* LSN 1.. again after 1..6 */
    wal = open_wal(0, &rep);
    REQUIRE(wal);
    CHECK(rep.records == TORN_N && rep.dropped_records == TORN_N && rep.dropped_bytes == n);
    CHECK(file_size(seg_path(2)) == -1);
    CHECK_OK(wal__close(wal));
    free(bytes);
}

/* ---- Checkpoint ------------------------------------------------------------ */

/* First and last LSN of a segment file (0, 0 if missing). */
static void segment_range(uint64_t no, uint64_t *first, uint64_t *last)
{
    *first = *last = 0;
    if (file_size(seg_path(no)) <= 0)
        return;
    uint8_t *b;
    size_t n = read_whole(seg_path(no), &b);
    for (size_t pos = 0; pos + 16 <= n;) {
        uint32_t len;
        uint64_t lsn;
        memcpy(&len, b + pos, 4);
        memcpy(&lsn, b + pos + 8, 8);
        if (!*first)
            *first = lsn;
        *last = lsn;
        pos += 16 + len;
    }
    free(b);
}

static void test_checkpoint(void)
{
    hist_wal *wal = fresh_log(2000, 100, true);
    int segs = count_segments();
    REQUIRE(segs >= 5);
    uint64_t first[64], last[64];
    for (int i = 1; i <= segs && i < 64; i++)
        segment_range((uint64_t)i, &first[i], &last[i]);
    CHECK(first[1] == 1 && last[segs] == 100);

    /* Checkpoint just past the end of segment 3: 1..3 go, 4.. stay. */
    hist_wal_stats before, after;
    wal__get_stats(wal, &before);
    CHECK_OK(wal__checkpoint(wal, last[3] + 1));
    wal__get_stats(wal, &after);
    CHECK(file_size(seg_path(1)) == -1 && file_size(seg_path(3)) == -1);
    CHECK(file_size(seg_path(4)) > 0 && count_segments() == segs - 3);
    CHECK(after.bytes < before.bytes);
    /* An LSN inside segment 4 keeps it (not all its records are below). */
    CHECK_OK(wal__checkpoint(wal, last[4]));
    CHECK(file_size(seg_path(4)) > 0);
    /* Everything: the active segment stays. */
    CHECK_OK(wal__checkpoint(wal, UINT64_MAX));
    CHECK(count_segments() == 1 && file_size(seg_path((uint64_t)segs)) > 0);
    CHECK_OK(wal__close(wal));

    /* After reopen nothing is active: the newest segment with a record is
     * still kept, so the LSNs carry on. */
    hist_wal_report rep;
    wal = open_wal(2000, &rep);
    REQUIRE(wal);
    CHECK(rep.first_lsn == first[segs] && rep.last_lsn == 100);
    CHECK_OK(wal__checkpoint(wal, UINT64_MAX));
    CHECK(count_segments() == 1);
    append_lsn(wal, 101);
    CHECK_OK(wal__sync(wal, 101));
    CHECK_OK(wal__checkpoint(wal, UINT64_MAX)); /* now the old one can go */
    CHECK(count_segments() == 1 && file_size(seg_path((uint64_t)segs + 1)) > 0);
    CHECK_OK(wal__close(wal));
    wal = open_wal(2000, &rep);
    REQUIRE(wal);
    CHECK(rep.records == 1 && rep.first_lsn == 101 && wal__last_lsn(wal) == 101);
    check_replay(wal, 101, 101);
    CHECK_OK(wal__close(wal));
}

/* min_lsn: LSNs never fall back below the caller's checkpoint, even when
 * the log lost its tail (here: all of it). */
static void test_min_lsn(void)
{
    fresh_dir();
    hist_wal_options o = {
        .dir = waldir, .io = io_mode, .log = capture_log, .log_ctx = &logs, .min_lsn = 50};
    hist_wal *wal = NULL;
    hist_wal_report rep;
    CHECK_OK(wal__open(&o, &wal, &rep));
    REQUIRE(wal);
    CHECK(rep.records == 0 && wal__last_lsn(wal) == 49 && wal__durable_lsn(wal) == 49);
    CHECK_OK(wal__sync(wal, 49)); /* nothing below the floor to wait for */
    uint8_t buf[300];
    payload_fill(50, buf);
    struct iovec iov = {buf, payload_len(50)};
    uint64_t lsn;
    CHECK_OK(wal__append(wal, &iov, 1, &lsn));
    CHECK(lsn == 50);
    CHECK_OK(wal__close(wal));

    /* A floor below what the log holds changes nothing. */
    o.min_lsn = 10;
    CHECK_OK(wal__open(&o, &wal, &rep));
    REQUIRE(wal);
    CHECK(rep.records == 1 && rep.first_lsn == 50 && wal__last_lsn(wal) == 50);
    check_replay(wal, 50, 50);
    CHECK_OK(wal__close(wal));
}

/* kill -9 in the middle of appending: every LSN whose sync returned in the
 * child (reported through a pipe) is there after reopen, payloads intact. */
static void test_kill9(void)
{
    fresh_dir();
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        hist_wal *wal = open_wal(8192, NULL);
        for (uint64_t lsn = 1; wal && lsn < 1000000; lsn++) {
            append_lsn(wal, lsn);
            if (wal__sync(wal, lsn) != 0 || write(fds[1], &lsn, sizeof lsn) != sizeof lsn)
                break;
        }
        _exit(1); /* only reached on failure */
    }
    close(fds[1]);
    uint64_t acked = 0, got;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do { /* read acknowledgements for ~0.3 s (bounded in count, too) */
        if (read(fds[0], &got, sizeof got) != sizeof got)
            break;
        acked = got;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (acked < 100000 &&
             (now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
                 300000000L);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECKF(WIFSIGNALED(status) && acked > 0, "child status %d, %llu acked", status,
           (unsigned long long)acked);

    hist_wal_report rep;
    hist_wal *wal = open_wal(8192, &rep);
    REQUIRE(wal);
    CHECKF(rep.last_lsn >= acked && rep.first_lsn == 1 && rep.records == rep.last_lsn,
           "acked %llu, recovered %llu..%llu (%llu records)", (unsigned long long)acked,
           (unsigned long long)rep.first_lsn, (unsigned long long)rep.last_lsn,
           (unsigned long long)rep.records);
    check_replay(wal, 1, rep.last_lsn);
    CHECK_OK(wal__close(wal));
}

/* ---- Errors ------------------------------------------------------------------ */

static void test_errors(void)
{
    hist_wal *wal = NULL;
    CHECK(wal__open(NULL, &wal, NULL) == HIST_EINVAL && !wal);
    hist_wal_options o = {.io = io_mode, .log = capture_log, .log_ctx = &logs};
    CHECK(wal__open(&o, &wal, NULL) == HIST_EINVAL);

    /* A directory that cannot exist: below a regular file. */
    char file[160], bad[200];
    snprintf(file, sizeof file, "%s/plainfile", base);
    write_whole(file, (const uint8_t *)"x", 1);
    snprintf(bad, sizeof bad, "%s/wal", file);
    o.dir = bad;
    logs.errors = 0;
    CHECK(wal__open(&o, &wal, NULL) == HIST_EIO && !wal);
    CHECK(logs.errors == 1);
    unlink(file);

    /* A write the kernel refuses (file size limit): the sync fails with
     * "disk full", the log refuses appends while broken, resumes in a new
     * segment once the limit is lifted, and reopening never replays the
     * refused record, though part of it is in the old file. */
    wal = fresh_log(0, 5, false);
    long good = file_size(seg_path(1));
    static uint8_t big[8192];
    struct iovec iov = {big, sizeof big};
    uint64_t lsn;
    CHECK_OK(wal__append(wal, &iov, 1, &lsn));
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)good + 100;
    signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    logs.errors = 0;
    int rc = wal__sync(wal, lsn);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    CHECKF(rc == HIST_EDISKFULL, "sync: %s", hist_strerror(rc));
    CHECK(logs.errors >= 1);
    CHECK(wal__durable_lsn(wal) == 5);
    hist_wal_health h;
    wal__get_health(wal, &h);
    CHECK(h.broken == HIST_EDISKFULL && h.void_from == 6 && h.void_to == 6 && h.failures == 1);
    CHECK(wal__append(wal, &iov, 1, &lsn) == HIST_EDISKFULL);
    CHECK(wal__sync(wal, 6) == HIST_EDISKFULL);
    CHECK_OK(wal__sync(wal, 5));                 /* what was durable still is */
    CHECK(file_size(seg_path(1)) == good + 100); /* a torn record */
    /* Still full: resume fails and the log stays broken. */
    lim.rlim_cur = 10;
    signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    rc = wal__resume(wal);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    CHECKF(rc == HIST_EDISKFULL, "resume on a full disk: %s", hist_strerror(rc));
    wal__get_health(wal, &h);
    CHECK(h.broken == HIST_EDISKFULL && h.void_from == 6 && h.void_to == 7);
    CHECK(count_segments() == 1); /* the failed new segment is gone */
    /* Room again: resume, and appends go on after the void LSNs. */
    CHECK_OK(wal__resume(wal));
    wal__get_health(wal, &h);
    CHECK(h.broken == 0 && h.failures == 1);
    /* durable_lsn is now past the void LSNs, yet a writer that syncs its
     * refused record only now must still hear "not durable". */
    CHECK(wal__sync(wal, 6) == HIST_EDISKFULL);
    CHECK(wal__sync(wal, 7) == HIST_EDISKFULL);
    CHECK_OK(wal__sync(wal, 8)); /* the control record is durable */
    CHECK_OK(wal__sync(wal, 5));
    uint64_t next = 0;
    CHECK_OK(wal__append(wal, &iov, 1, &next));
    CHECK_EQ_I64(next, 9); /* 6 refused, 7 a failed control record, 8 the control record */
    CHECK_OK(wal__sync(wal, next));
    CHECK_OK(wal__close(wal));
    hist_wal_report rep;
    wal = open_wal(0, &rep);
    REQUIRE(wal);
    CHECKF(rep.records == 7 && rep.lost_records == 0 && rep.void_records == 2 &&
               rep.dropped_bytes == 100,
           "records %llu lost %llu void %llu", (unsigned long long)rep.records,
           (unsigned long long)rep.lost_records, (unsigned long long)rep.void_records);
    replay_check r = {1, 0, 0, 0};
    CHECK_OK(wal__replay(wal, 1, replay_fn, &r));
    CHECK(r.count == 6 && r.bad == 1); /* 1..5 and 9, the jump over the void */
    CHECK_OK(wal__close(wal));

    /* A refused record that reached the broken file whole is never
     * replayed: the control record of the next segment voids it. */
    wal = fresh_log(0, 3, false);
    good = file_size(seg_path(1));
    append_lsn(wal, 4);
    lim.rlim_cur = (rlim_t)good + 16 + payload_len(4); /* record 4 fits; the next does not */
    signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK_OK(wal__append(wal, &iov, 1, &lsn)); /* 5: too big for the limit */
    rc = wal__sync(wal, lsn);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    CHECK(rc == HIST_EDISKFULL);
    CHECK(file_size(seg_path(1)) == (long)lim.rlim_cur); /* record 4 is there, whole */
    CHECK_OK(wal__resume(wal));
    CHECK_OK(wal__close(wal));
    wal = open_wal(0, &rep);
    REQUIRE(wal);
    CHECK(rep.void_records == 2 && rep.lost_records == 0);
    check_replay(wal, 1, 3);
    CHECK_OK(wal__close(wal));
}

static void run_all(hist_io_mode mode, const char *label)
{
    io_mode = mode;
    printf("-- %s backend\n", label);
    test_roundtrip();
    test_sizes();
    test_group_commit();
    /* Recovery reads with plain syscalls whatever the backend: the
     * exhaustive cut and bit-flip loops run once, on the first pass. */
    if (mode == HIST_IO_SYNC) {
        test_torn_tail();
        test_bit_flips();
    }
    test_middle_corruption();
    test_checkpoint();
    test_min_lsn();
    test_kill9();
    test_errors();
}

int main(void)
{
    snprintf(base, sizeof base, "/tmp/hist_test_wal_XXXXXX");
    REQUIRE(mkdtemp(base) != NULL);
    snprintf(waldir, sizeof waldir, "%s/wal", base);

    run_all(HIST_IO_SYNC, "sync");
    hist_io *io = NULL;
    if (io__open(HIST_IO_URING, capture_log, &logs, &io) == 0) {
        io__close(io);
        run_all(HIST_IO_URING, "io_uring");
    } else {
        printf("io_uring unavailable here: running with HIST_IO_AUTO (falls back)\n");
        run_all(HIST_IO_AUTO, "auto");
    }

    fresh_dir();
    CHECK(rmdir(base) == 0);
    return check_summary();
}
