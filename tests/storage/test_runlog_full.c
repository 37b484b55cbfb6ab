/*
 * test_runlog_full.c: logging runs (storage/runlog.c) when the disk is
 * full, and after it has room again.
 *
 * The data directory is a small tmpfs the test mounts itself (root only;
 * it says "skipped" and passes when it cannot). 300 tags, every sample
 * durable, with 64 KiB WAL segments so the checkpoint drops whole ones:
 *   1. a filler file takes every free byte; logging the tags' runs fails
 *      with a full disk: no buffer is marked logged, the checkpoint does
 *      not move past a record a run would have replaced, and a copy of the
 *      directory as a crash would leave it reads every sample;
 *   2. the filler goes: writes resume, logging succeeds, every buffer is
 *      marked logged by its record, the checkpoint passes the older
 *      records (their WAL segments go), and a crash copy (which now needs
 *      the run records) reads every sample, and so does a reopen.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "db_fixture.h"
#include "diskfull.h"
#include "tmpdir.h"
#include "storage/db_internal.h"

#define SEC  INT64_C(1000000000)
#define T0   (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z, an hour start */
#define TAGS 300

static char g_root[256], g_mnt[300], g_dir[320];

static hist_db *open_dir(const char *dir)
{
    hist_db_options o;
    fixture_options(&o, dir);
    o.wal_segment_bytes = 64 << 10;
    o.compact_share = 0;
    return fixture_open(&o);
}

static double value_at(int tag, int second)
{
    return 100.0 + (double)((tag * 7 + second) % 90) / 4.0;
}

/* Seconds [from, to) of every tag, durable; the first failure's code. */
static int write_seconds(hist_db *db, const uint32_t *ids, int from, int to)
{
    static int64_t ts[TAGS];
    static hist_value v[TAGS];
    static hist_series s[TAGS];
    for (int r = from; r < to; r++) {
        for (int i = 0; i < TAGS; i++) {
            ts[i] = T0 + r * SEC;
            v[i].f = value_at(i, r);
            s[i] = (hist_series){ids[i], 1, &ts[i], &v[i], NULL};
        }
        uint64_t lsn = 0;
        int rc = hist_db_write(db, s, TAGS, &lsn);
        if (rc == 0)
            rc = hist_db_sync(db, lsn);
        if (rc)
            return rc;
    }
    return 0;
}

/* Every tag reads back seconds [0, n) exactly. */
static void check_all(hist_db *db, const uint32_t *ids, int n, const char *when)
{
    size_t bad = 0;
    for (int i = 0; i < TAGS; i++) {
        hist_scan *sc;
        REQUIRE(hist_scan_open(db, ids[i], HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &sc) == 0);
        hist_piece p;
        int k = 0, wrong = 0;
        while (hist_scan_next(sc, &p) == 1)
            for (size_t j = 0; j < p.n; j++, k++)
                wrong += p.ts[j] != T0 + k * SEC || p.v[j].f != value_at(i, k);
        hist_scan_close(sc);
        if (k != n || wrong)
            CHECKF(bad++ > 0, "%s: tag %d: %d samples (want %d), %d wrong", when, i, k, n, wrong);
    }
    CHECKF(bad == 0, "%s: %zu tags wrong", when, bad);
}

/* The directory as a crash would leave it, opened and checked. */
static void check_crash_copy(const uint32_t *ids, int n, const char *when)
{
    char copy[400], cmd[1000];
    snprintf(copy, sizeof copy, "%s/crash", g_root);
    test_rm_rf(copy);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", g_dir, copy);
    REQUIRE(system(cmd) == 0);
    hist_db *db = open_dir(copy);
    check_all(db, ids, n, when);
    CHECK_OK(hist_db_close(db));
    test_rm_rf(copy);
}

/* How many buffers have runs marked logged. */
static size_t logged_buffers(hist_db *db, const uint32_t *ids)
{
    size_t n = 0;
    mu_lock(&db->mu);
    for (int i = 0; i < TAGS; i++) {
        const membuf_frozen *fz = tags__get(db, ids[i])->buf.fz;
        n += fz && fz->nlogged > 0;
    }
    mu_unlock(&db->mu);
    return n;
}

static int log_runs(hist_db *db, const uint32_t *ids)
{
    mu_lock(&db->seal_mu);
    int rc = runlog__tags(db, ids, TAGS);
    if (rc == 0)
        rc = seal__checkpoint(db);
    mu_unlock(&db->seal_mu);
    return rc;
}

int main(void)
{
    REQUIRE(test_tmpdir(g_root, sizeof g_root, "runlog_full"));
    snprintf(g_mnt, sizeof g_mnt, "%s/mnt", g_root);
    snprintf(g_dir, sizeof g_dir, "%s/data", g_mnt);
    REQUIRE(mkdir(g_mnt, 0755) == 0);
    if (mount("tmpfs", g_mnt, "tmpfs", 0, "size=8m") != 0) {
        printf("skipped: cannot mount a tmpfs (%s): the full-disk test needs root\n",
               strerror(errno));
        test_rm_rf(g_root);
        CHECK(1);
        return check_summary();
    }
    hist_db *db = open_dir(g_dir);
    uint32_t ids[TAGS];
    for (int i = 0; i < TAGS; i++) {
        char name[64];
        snprintf(name, sizeof name, "full/area%d/temp", i);
        REQUIRE(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_FLOAT64, true, &ids[i]) == 0);
    }
    int n = 120;
    CHECK_OK(write_seconds(db, ids, 0, n));

    /* 1. Full: logging fails, nothing is marked, nothing is lost. */
    char filler[400];
    snprintf(filler, sizeof filler, "%s/filler", g_mnt);
    test_fill_disk(filler);
    uint64_t ckpt = db->checkpoint_lsn;
    int rc = log_runs(db, ids);
    CHECKF(rc == HIST_EDISKFULL || rc == HIST_EIO, "logging on a full disk: %d", rc);
    CHECK_EQ_I64(logged_buffers(db, ids), 0);
    CHECK(db->checkpoint_lsn == ckpt);
    CHECK(write_seconds(db, ids, n, n + 1) != 0); /* writes are refused too */
    check_all(db, ids, n, "full");
    check_crash_copy(ids, n, "crash copy while full");
    REQUIRE(unlink(filler) == 0);

    /* 2. Room again: writes resume, logging works and moves the checkpoint. */
    rc = -1;
    for (int i = 0; i < 100 && rc != 0; i++) { /* bounded: 10 s */
        rc = write_seconds(db, ids, n, n + 1);
        if (rc)
            usleep(100000);
    }
    CHECKF(rc == 0, "writes after the disk has room: %d", rc);
    n++;
    CHECK_OK(write_seconds(db, ids, n, n + 60));
    n += 60;
    hist_wal_stats before, after;
    wal__get_stats(db->wal, &before);
    CHECK_OK(log_runs(db, ids));
    wal__get_stats(db->wal, &after);
    CHECK_EQ_I64(logged_buffers(db, ids), TAGS);
    CHECK(db->checkpoint_lsn > ckpt);
    CHECKF(after.closed_bytes < before.closed_bytes, "closed WAL %llu -> %llu B",
           (unsigned long long)before.closed_bytes, (unsigned long long)after.closed_bytes);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK_EQ_I64(st.chunks, 0);
    check_all(db, ids, n, "logged");
    check_crash_copy(ids, n, "crash copy after logging");
    CHECK_OK(write_seconds(db, ids, n, n + 10));
    n += 10;
    CHECK_OK(hist_db_close(db));
    db = open_dir(g_dir);
    check_all(db, ids, n, "reopened");
    CHECK_OK(hist_db_close(db));
    if (getenv("TEST_VERBOSE"))
        printf("closed WAL %llu -> %llu B; %d seconds of %d tags\n",
               (unsigned long long)before.closed_bytes, (unsigned long long)after.closed_bytes, n,
               TAGS);
    umount2(g_mnt, MNT_DETACH);
    test_rm_rf(g_root);
    return check_summary();
}
