/*
 * test_diskfull.c: a full disk on a running historiand, and the way back.
 *
 * The data directory is a small tmpfs the test mounts itself (root only;
 * the test says "skipped" and passes when it cannot mount one). For each
 * I/O backend (sync, io_uring):
 *   1. batch A is written and acknowledged;
 *   2. a filler file takes every free byte; batch B is refused with
 *      HIST_EDISKFULL ("no space left on device"), and so is batch C;
 *   3. B and C are not visible to any query (raw, latest), A is;
 *   4. /healthz answers 503 naming the reason, /metrics counts it, and the
 *      log says it once, however many writes were refused;
 *   5. the filler goes; writes resume without a restart (batch D), and
 *      /healthz is 200 again;
 *   6. kill -9 and restart: A and D are there value for value, B and C not;
 *   7. the disk fills again and the server gets SIGTERM: it cannot seal, keeps
 *      the WAL, and exits 0; after the filler goes and it restarts,
 *      everything acknowledged is there.
 * Then, with the segment directory on a tmpfs of its own (1 MiB) that is
 * full while the WAL has room: writes are still acknowledged, memory
 * pressure makes the sealer try and fail, /healthz says "sealing chunks
 * fails" (503) and the log says it once; when the room comes back sealing
 * resumes by itself, /healthz is 200 and every sample is there.
 * Every wait is bounded; the tmpfs is unmounted and removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "diskfull.h"
#include "harness.h"

#define T0  INT64_C(1700000000000000000) /* 2023-11-14T22:13:20Z */
#define SEC INT64_C(1000000000)
#define TAG "plant/diskfull/flow"

/* Batches: name, first second, samples, value offset. */
typedef struct {
    int64_t first;
    size_t n;
    double base;
} batch;

static const batch A = {0, 200, 1000.0};
static const batch B = {1000, 4000, 2000.0}; /* big: needs fresh pages */
static const batch C = {6000, 4000, 3000.0};
static const batch D = {12000, 300, 4000.0};

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000}, NULL);
}

/* Sends one batch of tag over TCP; the ack's code (0 = acknowledged). */
static int write_tag_batch(const hist_harness *h, uint64_t id, const char *tag, const batch *b,
                           char *err, size_t cap)
{
    hist_tcp_client *c = NULL;
    if (hist_tcp_client_connect(h->ingest_addr, 5000, &c) != 0)
        return -1000;
    int64_t *ts = malloc(b->n * sizeof *ts);
    hist_value *v = malloc(b->n * sizeof *v);
    for (size_t i = 0; i < b->n; i++)
        ts[i] = T0 + (b->first + (int64_t)i) * SEC, v[i].f = b->base + (double)i;
    hist_client_series s = {tag, HIST_TYPE_FLOAT64, b->n, ts, v, NULL};
    uint8_t *buf = NULL;
    size_t len = 0;
    int code = hist_client_encode(id, NULL, &s, 1, &buf, &len);
    Historian__V1__WriteResponse *r = NULL;
    if (code == 0 && hist_tcp_client_send(c, buf, len) == 0 &&
        hist_tcp_client_recv(c, 20000, &r) == 0) {
        code = r->code;
        snprintf(err, cap, "%s", r->error ? r->error : "");
        historian__v1__write_response__free_unpacked(r, NULL);
    } else if (code == 0) {
        code = -1001;
    }
    free(buf), free(ts), free(v);
    hist_tcp_client_close(c);
    return code;
}

static int write_batch(const hist_harness *h, uint64_t id, const batch *b, char *err, size_t cap)
{
    return write_tag_batch(h, id, TAG, b, err, cap);
}

/* Rows of tag in a batch's range, and how many hold the batch's values. */
static void count_tag_rows(const hist_harness *h, const char *tag, const batch *b, size_t *rows,
                           size_t *exact)
{
    char target[512];
    long long from_ms = (T0 + b->first * SEC) / 1000000;
    long long to_ms = from_ms + (long long)b->n * 1000;
    snprintf(target, sizeof target,
             "/api/v1/query?tag=%s&from=%lld&to=%lld&format=csv&limit=100000", tag, from_ms, to_ms);
    harness_response r;
    *rows = *exact = 0;
    if (harness_http(h->http_port, "GET", target, NULL, NULL, 0, &r) != 0)
        return;
    if (r.status == 200) {
        char *line = strchr(r.body, '\n'); /* past the header */
        while (line && line[1]) {
            line++;
            char *end = strchr(line, '\n');
            /* tag,time,value,quality: the value is the third field */
            char *f = strchr(line, ',');
            f = f ? strchr(f + 1, ',') : NULL;
            if (f) {
                double val = strtod(f + 1, NULL);
                (*rows)++;
                double k = val - b->base;
                *exact += k >= 0 && k < (double)b->n && k == (double)(long long)k;
            }
            line = end;
        }
    }
    harness_response_free(&r);
}

static int get_status(const hist_harness *h, const char *path, const char *needle)
{
    harness_response r;
    if (harness_http(h->http_port, "GET", path, NULL, NULL, 0, &r) != 0)
        return -1;
    int status = r.status;
    if (needle && !strstr(r.body, needle))
        status = -status;
    harness_response_free(&r);
    return status;
}

static size_t log_count(const hist_harness *h, const char *needle)
{
    FILE *f = fopen(h->log_path, "r");
    size_t n = 0;
    char line[2048];
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

static void expect_tag_rows(const hist_harness *h, const char *tag, const batch *b, size_t want,
                            const char *what)
{
    size_t rows, exact;
    count_tag_rows(h, tag, b, &rows, &exact);
    CHECKF(rows == want && exact == want, "%s: %zu rows, %zu exact, want %zu", what, rows, exact,
           want);
}

static void expect_rows(const hist_harness *h, const batch *b, size_t want, const char *what)
{
    expect_tag_rows(h, TAG, b, want, what);
}

/* Mounts a tmpfs of size at dir (made); false, saying so, where it cannot
 * (the root is removed then). */
static bool mount_tmpfs(const hist_harness *h, const char *dir, const char *size)
{
    REQUIRE(mkdir(dir, 0755) == 0);
    char opts[32];
    snprintf(opts, sizeof opts, "size=%s", size);
    if (mount("tmpfs", dir, "tmpfs", 0, opts) == 0)
        return true;
    printf("skipped: cannot mount a tmpfs (%s): the full-disk test needs root\n", strerror(errno));
    harness_rm_rf(h->root);
    return false;
}

/* The end of a phase: the server's log when the phase failed, then the
 * tmpfs and the root go. */
static void finish(hist_harness *h, const char *mnt, long failed_before)
{
    if (check_failed_ > failed_before)
        harness_dump_log(h);
    umount2(mnt, MNT_DETACH);
    harness_rm_rf(h->root);
}

static void run(const char *io)
{
    printf("-- --io %s\n", io);
    long failed_before = check_failed_;
    hist_harness h;
    REQUIRE(harness_init(&h, "hist-diskfull") == 0);
    if (!mount_tmpfs(&h, h.data_dir, "24m"))
        return;
    const char *args[] = {"--io", io, "--memtable-mb", "4", NULL};
    char filler[400], err[512];
    snprintf(filler, sizeof filler, "%s/filler", h.data_dir);
    REQUIRE(harness_start(&h, args) == 0);

    CHECK_EQ_I64(write_batch(&h, 1, &A, err, sizeof err), 0);
    test_fill_disk(filler);
    int code = write_batch(&h, 2, &B, err, sizeof err);
    CHECKF(code == HIST_EDISKFULL && strstr(err, "no space left on device"), "B: %d %s", code, err);
    code = write_batch(&h, 3, &C, err, sizeof err);
    CHECKF(code == HIST_EDISKFULL, "C: %d %s", code, err);
    expect_rows(&h, &A, A.n, "A while full");
    expect_rows(&h, &B, 0, "B while full");
    expect_rows(&h, &C, 0, "C while full");
    harness_response lr;
    REQUIRE(harness_http(h.http_port, "GET", "/api/v1/query?tag=" TAG "&mode=latest&format=csv",
                         NULL, NULL, 0, &lr) == 0);
    CHECKF(lr.status == 200 && strstr(lr.body, ",1199,") && !strstr(lr.body, ",5999"),
           "latest while full: %s", lr.body); /* A's last value: 1000 + 199 */
    harness_response_free(&lr);
    CHECK_EQ_I64(get_status(&h, "/healthz", "no space left on device"), 503);
    CHECK_EQ_I64(get_status(&h, "/metrics", "historian_writes_refused 1"), 200);
    CHECK_EQ_I64(get_status(&h, "/metrics", "historian_wal_failures_total 1"), 200);

    /* Room again: writes resume without a restart. */
    REQUIRE(unlink(filler) == 0);
    code = -1;
    for (int i = 0; i < 100 && code != 0; i++) { /* bounded: 10 s */
        code = write_batch(&h, 4, &D, err, sizeof err);
        if (code != 0)
            sleep_ms(100);
    }
    CHECKF(code == 0, "D after the disk has room: %d %s", code, err);
    int health = 0;
    for (int i = 0; i < 50 && health != 200; i++, sleep_ms(100))
        health = get_status(&h, "/healthz", NULL);
    CHECK_EQ_I64(health, 200);
    CHECK_EQ_I64(log_count(&h, "are refused until the disk takes writes again"), 1);
    CHECK_EQ_I64(log_count(&h, "writes resume in a new segment"), 1);

    /* kill -9: what was acknowledged is there, what was refused is not. */
    harness_kill9(&h);
    REQUIRE(harness_restart(&h, args) == 0);
    expect_rows(&h, &A, A.n, "A after kill -9");
    expect_rows(&h, &B, 0, "B after kill -9");
    expect_rows(&h, &C, 0, "C after kill -9");
    expect_rows(&h, &D, D.n, "D after kill -9");

    /* Full again at shutdown: the WAL is kept, the exit is clean. */
    test_fill_disk(filler);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    REQUIRE(unlink(filler) == 0);
    REQUIRE(harness_restart(&h, args) == 0);
    expect_rows(&h, &A, A.n, "A after a full-disk shutdown");
    expect_rows(&h, &D, D.n, "D after a full-disk shutdown");
    expect_rows(&h, &B, 0, "B after a full-disk shutdown");
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    finish(&h, h.data_dir, failed_before);
}

/* Waits (bounded) until /healthz answers status; returns what it answered. */
static int wait_health(const hist_harness *h, int status, int timeout_ms)
{
    int got = 0;
    for (int waited = 0; waited < timeout_ms && got != status; waited += 100) {
        got = get_status(h, "/healthz", NULL);
        if (got != status)
            sleep_ms(100);
    }
    return got;
}

/* SEAL_TAGS tags x 5,000 samples: about 1.4 MiB in memory, past a 1 MiB
 * budget (so the sealer must seal) and below twice it (where writers would
 * wait for it). */
#define SEAL_TAGS 6

/* More samples than a chunk holds (8192 by default): each buffer is due
 * at once, whatever memory pressure does (it freezes buffers in memory
 * rather than sealing them, storage/freeze.c). */
static batch seal_batch(int t)
{
    return (batch){0, 9000, (double)(t * 10000)};
}

static int write_many(const hist_harness *h)
{
    char err[256];
    int failed = 0;
    for (int t = 0; t < SEAL_TAGS; t++) {
        batch b = seal_batch(t);
        char name[64];
        snprintf(name, sizeof name, "plant/seal/t%02d", t);
        failed += write_tag_batch(h, (uint64_t)t + 1, name, &b, err, sizeof err) != 0;
    }
    return failed;
}

static void run_seal_full(const char *io)
{
    printf("-- sealing on a full segment disk, --io %s\n", io);
    long failed_before = check_failed_;
    hist_harness h;
    REQUIRE(harness_init(&h, "hist-sealfull") == 0);
    char seg[400], filler[420];
    snprintf(seg, sizeof seg, "%s/seg", h.data_dir);
    snprintf(filler, sizeof filler, "%s/filler", seg);
    REQUIRE(mkdir(h.data_dir, 0755) == 0);
    if (!mount_tmpfs(&h, seg, "1m"))
        return;
    const char *args[] = {"--io", io, "--memtable-mb", "1", NULL};
    REQUIRE(harness_start(&h, args) == 0);
    test_fill_disk(filler);
    CHECK_EQ_I64(write_many(&h), 0); /* the WAL has room: all acknowledged */
    CHECK_EQ_I64(wait_health(&h, 503, 10000), 503);
    CHECK_EQ_I64(get_status(&h, "/healthz", "sealing chunks fails"), 503);
    CHECK_EQ_I64(get_status(&h, "/metrics", "historian_sealing_failing 1"), 200);
    sleep_ms(2500); /* a few retries, each one quiet */
    CHECK_EQ_I64(log_count(&h, "retrying with a backoff"), 1);
    REQUIRE(unlink(filler) == 0);
    CHECK_EQ_I64(wait_health(&h, 200, 30000), 200);
    CHECK_EQ_I64(log_count(&h, "sealing works again"), 1);
    harness_response r;
    REQUIRE(harness_http(h.http_port, "GET", "/api/v1/stats", NULL, NULL, 0, &r) == 0);
    CHECKF(r.status == 200 && !strstr(r.body, "\"chunks\":0,"), "stats: %s", r.body);
    harness_response_free(&r);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    REQUIRE(harness_restart(&h, args) == 0);
    for (int t = 0; t < SEAL_TAGS; t++) {
        char name[64];
        snprintf(name, sizeof name, "plant/seal/t%02d", t);
        batch b = seal_batch(t);
        expect_tag_rows(&h, name, &b, b.n, name);
    }
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    finish(&h, seg, failed_before);
}

int main(void)
{
    run("sync");
    run("uring");
    run_seal_full("sync");
    run_seal_full("uring");
    return check_summary();
}
