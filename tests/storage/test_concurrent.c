/*
 * test_concurrent.c: writers, scanners, the background sealer, flushes and
 * compaction all at once on one db (run it under ASan/TSan to catch races).
 *
 * Two writer threads write their own tags (random timestamps in a small
 * window, so overwrites and backfill into sealed chunks are constant) and
 * keep the reference model; two scanner threads keep scanning and checking
 * that pieces are strictly increasing and that every value they see is one
 * that was written for that (tag, ts); the main thread flushes and compacts.
 * At the end every tag must equal its model exactly, before and after a
 * reopen.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "storage/hist_storage.h"

#define TAGS_PER_WRITER 3
#define WINDOW          3000 /* distinct timestamps per tag */
#define ROUNDS          400

static char g_dir[256];
static atomic_int g_stop;
static atomic_int g_scan_errors;
static atomic_long g_scans;

static void quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level == HIST_LOG_ERROR)
        fprintf(stderr, "log: %s\n", msg);
}


/* Values encode (tag, ts): v = tag * 1e9 + ts_index * 1e4 + version, so a
 * scanner can check a value belongs to its (tag, ts) without the model. */
typedef struct {
    hist_db *db;
    uint32_t ids[TAGS_PER_WRITER];
    int64_t last[TAGS_PER_WRITER][WINDOW]; /* model: last value per ts, -1 = none */
    unsigned seed;
    int rc;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    int64_t ts[200];
    hist_value v[200];
    for (int r = 0; r < ROUNDS && w->rc == 0; r++) {
        int t = rand_r(&w->seed) % TAGS_PER_WRITER;
        int n = 1 + rand_r(&w->seed) % 200;
        int base = rand_r(&w->seed) % WINDOW;
        for (int i = 0; i < n; i++) {
            int idx = rand_r(&w->seed) % 3 ? (base + i) % WINDOW : rand_r(&w->seed) % WINDOW;
            ts[i] = (int64_t)idx * 1000000;
            v[i].i = (int64_t)w->ids[t] * 1000000000 + (int64_t)idx * 10000 + r;
        }
        hist_series s = {w->ids[t], (size_t)n, ts, v, NULL};
        uint64_t lsn;
        w->rc = hist_db_write(w->db, &s, 1, &lsn);
        if (w->rc == 0 && r % 5 == 0)
            w->rc = hist_db_sync(w->db, lsn);
        for (int i = 0; i < n && w->rc == 0; i++)
            w->last[t][ts[i] / 1000000] = v[i].i;
    }
    return NULL;
}

typedef struct {
    hist_db *db;
    uint32_t *ids;
    int nids;
    unsigned seed;
} scanner;

static void *scanner_main(void *arg)
{
    scanner *s = arg;
    while (!atomic_load(&g_stop)) {
        uint32_t id = s->ids[rand_r(&s->seed) % s->nids];
        int64_t from = (int64_t)(rand_r(&s->seed) % WINDOW) * 1000000 - 500;
        int64_t to = from + (int64_t)(rand_r(&s->seed) % WINDOW) * 1000000;
        hist_scan *sc;
        if (hist_scan_open(s->db, id, from, to, rand_r(&s->seed) % 2 ? HIST_SCAN_DECODE : 0, &sc) !=
            0) {
            atomic_fetch_add(&g_scan_errors, 1);
            continue;
        }
        hist_piece p;
        int64_t last = INT64_MIN;
        int rc;
        while ((rc = hist_scan_next(sc, &p)) == 1) {
            if (p.stats) {
                if (p.stats->start_ts <= last || p.stats->start_ts < from || p.stats->end_ts >= to)
                    atomic_fetch_add(&g_scan_errors, 1);
                if (rand_r(&s->seed) % 4 == 0 && hist_scan_decode(sc, &p) != 0)
                    atomic_fetch_add(&g_scan_errors, 1);
                if (!p.n)
                    last = p.stats->end_ts;
            }
            for (size_t i = 0; i < p.n; i++) {
                int64_t idx = p.ts[i] / 1000000;
                if (p.ts[i] <= last || p.ts[i] < from || p.ts[i] >= to ||
                    p.v[i].i / 1000000000 != id || (p.v[i].i / 10000) % 100000 != idx)
                    atomic_fetch_add(&g_scan_errors, 1);
                last = p.ts[i];
            }
        }
        if (rc < 0)
            atomic_fetch_add(&g_scan_errors, 1);
        hist_scan_close(sc);
        hist_sample smp;
        int r = hist_db_sample_before(s->db, id, to, 0, &smp);
        if (r != 0 && r != HIST_ENOTFOUND)
            atomic_fetch_add(&g_scan_errors, 1);
        atomic_fetch_add(&g_scans, 1);
    }
    return NULL;
}

static hist_db *open_db(void)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = g_dir;
    o.io = HIST_IO_SYNC;
    o.chunk_samples = 256;
    o.memtable_bytes = 256 * 1024;
    o.chunk_max_age_ns = 20 * 1000000;
    o.log = quiet;
    hist_db *db = NULL;
    int rc = hist_db_open(&o, &db);
    CHECKF(rc == 0, "open: %s", hist_strerror(rc));
    REQUIRE(db);
    return db;
}

static void check_models(hist_db *db, writer *w, int nw)
{
    for (int k = 0; k < nw; k++)
        for (int t = 0; t < TAGS_PER_WRITER; t++) {
            hist_scan *sc;
            CHECK_OK(
                hist_scan_open(db, w[k].ids[t], HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &sc));
            int64_t got[WINDOW];
            for (int i = 0; i < WINDOW; i++)
                got[i] = -1;
            hist_piece p;
            int bad = 0;
            while (hist_scan_next(sc, &p) == 1)
                for (size_t i = 0; i < p.n; i++) {
                    int64_t idx = p.ts[i] / 1000000;
                    if (idx < 0 || idx >= WINDOW)
                        bad++;
                    else
                        got[idx] = p.v[i].i;
                }
            hist_scan_close(sc);
            for (int i = 0; i < WINDOW; i++)
                bad += got[i] != w[k].last[t][i];
            CHECKF(bad == 0, "writer %d tag %d: %d samples differ from the model", k, t, bad);
        }
}

int main(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/hist_conc_XXXXXX");
    REQUIRE(mkdtemp(g_dir));
    hist_db *db = open_db();
    static writer w[2];
    uint32_t ids[2 * TAGS_PER_WRITER];
    for (int k = 0; k < 2; k++) {
        w[k].db = db;
        w[k].seed = 1234u + (unsigned)k;
        for (int t = 0; t < TAGS_PER_WRITER; t++) {
            char name[32];
            snprintf(name, sizeof(name), "conc/w%d/t%d", k, t);
            CHECK_OK(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_INT64, true, &w[k].ids[t]));
            ids[k * TAGS_PER_WRITER + t] = w[k].ids[t];
            for (int i = 0; i < WINDOW; i++)
                w[k].last[t][i] = -1;
        }
    }
    scanner sc[2] = {{db, ids, 2 * TAGS_PER_WRITER, 7}, {db, ids, 2 * TAGS_PER_WRITER, 8}};
    pthread_t wt[2], st[2];
    for (int k = 0; k < 2; k++) {
        pthread_create(&wt[k], NULL, writer_main, &w[k]);
        pthread_create(&st[k], NULL, scanner_main, &sc[k]);
    }
    for (int i = 0; i < 6; i++) {
        usleep(30000);
        CHECK_OK(i % 2 ? hist_db_compact(db, 0) : hist_db_flush(db));
    }
    for (int k = 0; k < 2; k++) {
        pthread_join(wt[k], NULL);
        CHECK(w[k].rc == 0);
    }
    CHECK_OK(hist_db_compact(db, 0));
    atomic_store(&g_stop, 1);
    for (int k = 0; k < 2; k++)
        pthread_join(st[k], NULL);
    CHECKF(atomic_load(&g_scan_errors) == 0, "%d scan errors", atomic_load(&g_scan_errors));
    CHECK(atomic_load(&g_scans) > 0);
    check_models(db, w, 2);
    hist_db_stats stats;
    CHECK_OK(hist_db_get_stats(db, &stats));
    CHECK(stats.damaged_chunks == 0);
    CHECK_OK(hist_db_close(db));
    db = open_db();
    check_models(db, w, 2);
    CHECK_OK(hist_db_close(db));
    printf("%ld scans\n", (long)atomic_load(&g_scans));
    test_rm_rf(g_dir);
    return check_summary();
}
