/*
 * test_wal_loss.c: lost WAL records are reported truthfully at open.
 *
 * A log that was cut at a record boundary, or emptied, reads as intact: no
 * record is torn. The index notes the WAL's durable LSN (with checkpoints,
 * and once a second while writes flow), so the database can tell. Each case
 * forks a writer that writes N acknowledged one-record batches with the
 * background sealer running (chunks never due: nothing is sealed), waits
 * until the index has noted the last durable LSN, and dies without closing
 * (what kill -9 leaves). Then the test damages the log and reopens:
 *   - cut after record k: lost_records == N - k, a log line says which LSNs
 *     are missing, the first k batches are there;
 *   - emptied (truncated to zero): lost_records == N;
 *   - untouched: lost_records == 0 and all N batches are there;
 *   - one record in the middle flipped: exactly that one is lost, the
 *     batches after it are kept.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "storage/hist_storage.h"

#define N   40
#define SEC INT64_C(1000000000)
#define T0  (INT64_C(1700000000) * SEC)

static char g_dir[256];
static char g_last_log[512];
static int g_missing_logged;

static void capture(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (strstr(msg, "are missing"))
        g_missing_logged++;
    if (level <= HIST_LOG_WARN)
        snprintf(g_last_log, sizeof g_last_log, "%s", msg);
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static hist_db *open_db(const char *dir, bool background)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.no_background = !background;
    o.log = capture;
    hist_db *db = NULL;
    REQUIRE(hist_db_open(&o, &db) == 0);
    return db;
}

/* Writes N batches of 10 samples (batch b at T0 + b * 10 s), each synced,
 * then waits past the durable-LSN note and exits without closing. */
static void write_and_die(const char *dir)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        hist_db *db = open_db(dir, true);
        uint32_t tag;
        if (hist_tag_resolve(db, "a/b", 3, HIST_TYPE_FLOAT64, true, &tag) != 0)
            _exit(2);
        for (int b = 0; b < N; b++) {
            int64_t ts[10];
            hist_value v[10];
            for (int i = 0; i < 10; i++)
                ts[i] = T0 + (int64_t)(b * 10 + i) * SEC, v[i].f = b * 10 + i;
            hist_series s = {tag, 10, ts, v, NULL};
            uint64_t lsn;
            if (hist_db_write(db, &s, 1, &lsn) != 0 || hist_db_sync(db, lsn) != 0)
                _exit(3);
        }
        nanosleep(&(struct timespec){1, 600 * 1000000}, NULL); /* > the 1 s note interval */
        _exit(0);
    }
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The newest WAL segment's path. */
static void newest_segment(const char *dir, char *out, size_t cap)
{
    out[0] = 0;
    for (int no = 1; no < 100; no++) {
        char p[600];
        snprintf(p, sizeof p, "%s/wal/%012d.wal", dir, no);
        if (access(p, F_OK) == 0)
            snprintf(out, cap, "%s", p);
    }
    REQUIRE(out[0]);
}

/* Offset just past the first k records of a segment file (records are
 * u32 length, u32 crc, u64 lsn, payload). */
static off_t record_end(const char *path, int k, off_t *rec_start)
{
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    off_t pos = 0;
    for (int i = 0; i < k; i++) {
        uint8_t h[4];
        REQUIRE(pread(fd, h, 4, pos) == 4);
        uint32_t len =
            (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        if (rec_start)
            *rec_start = pos;
        pos += 16 + (off_t)len;
    }
    close(fd);
    return pos;
}

/* Samples of a/b now in the database; stats after open in *st. */
static size_t reopen_and_count(const char *dir, hist_db_stats *st)
{
    g_missing_logged = 0;
    hist_db *db = open_db(dir, false);
    REQUIRE(hist_db_get_stats(db, st) == 0);
    hist_tag_info info;
    size_t n = 0;
    if (hist_tag_by_name(db, "a/b", &info) == 0) {
        hist_scan *s;
        REQUIRE(hist_scan_open(db, info.id, 0, INT64_MAX, 0, &s) == 0);
        hist_piece p;
        while (hist_scan_next(s, &p) == 1) {
            if (p.stats)
                REQUIRE(hist_scan_decode(s, &p) == 0);
            n += p.n;
        }
        hist_scan_close(s);
    }
    CHECK(hist_db_close(db) == 0);
    return n;
}

static void fresh(const char *name, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/%s", g_dir, name);
    write_and_die(dir);
}

static void test_untouched(void)
{
    char dir[300];
    fresh("intact", dir, sizeof dir);
    hist_db_stats st;
    CHECK_EQ_I64(reopen_and_count(dir, &st), N * 10);
    CHECK_EQ_I64(st.lost_records, 0);
    CHECK_EQ_I64(g_missing_logged, 0);
}

static void test_cut_at_record_boundary(void)
{
    char dir[300], seg[700];
    fresh("cut", dir, sizeof dir);
    newest_segment(dir, seg, sizeof seg);
    /* The tag creation is not a WAL record: the batches are records 1..N. */
    REQUIRE(truncate(seg, record_end(seg, N - 7, NULL)) == 0);
    hist_db_stats st;
    CHECK_EQ_I64(reopen_and_count(dir, &st), (N - 7) * 10);
    CHECKF(st.lost_records == 7, "lost %llu, last log: %s", (unsigned long long)st.lost_records,
           g_last_log);
    CHECK_EQ_I64(g_missing_logged, 1);
}

static void test_emptied(void)
{
    char dir[300], seg[700];
    fresh("empty", dir, sizeof dir);
    newest_segment(dir, seg, sizeof seg);
    REQUIRE(truncate(seg, 0) == 0);
    hist_db_stats st;
    CHECK_EQ_I64(reopen_and_count(dir, &st), 0);
    CHECKF(st.lost_records == N, "lost %llu, last log: %s", (unsigned long long)st.lost_records,
           g_last_log);
    CHECK_EQ_I64(g_missing_logged, 1);
}

static void test_flipped_middle_record(void)
{
    char dir[300], seg[700];
    fresh("flip", dir, sizeof dir);
    newest_segment(dir, seg, sizeof seg);
    off_t start = 0;
    record_end(seg, 20, &start); /* record 20 */
    int fd = open(seg, O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t b;
    REQUIRE(pread(fd, &b, 1, start + 30) == 1);
    b ^= 0x08;
    REQUIRE(pwrite(fd, &b, 1, start + 30) == 1);
    close(fd);
    hist_db_stats st;
    CHECK_EQ_I64(reopen_and_count(dir, &st), (N - 1) * 10);
    CHECK_EQ_I64(st.lost_records, 1);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/hist_walloss_XXXXXX");
    REQUIRE(mkdtemp(g_dir));
    test_untouched();
    test_cut_at_record_boundary();
    test_emptied();
    test_flipped_middle_record();
    test_rm_rf(g_dir);
    return check_summary();
}
