/*
 * bench_seal.c: how many chunks each sealing path writes for a many-tag
 * workload, what they cost on disk, and what a clean restart costs.
 *
 * Workload: N float64 tags at 1 Hz for D seconds of plant time ending now
 * (timestamps major: a batch is 5,000 tags x one timestamp, as the peers'
 * thin client sends it), random-walk values. One writer loops
 * hist_db_write + hist_db_sync (every batch durable before the next: the
 * acknowledged semantics). The background sealer runs with the default
 * budgets unless told otherwise; the background compactor is off
 * (compact_share 0), so what is counted is what sealing writes.
 * Then hist_db_close() (with lazy_close, as historiand opens the db: short
 * runs stay in the WAL), then one reopen (recovery) and close again.
 *
 * Output (`name value unit`, prefix seal.tags<N>.s<D>.):
 *   ingest.samples_per_s       durable write rate
 *   ingest.chunks              chunks sealed while writing (every cause)
 *   ingest.seals_memory / ingest.seals_wal / ingest.seals_held
 *                              tag buffers the sealer took, by why
 *   close.chunks               chunks the close wrote
 *   close.seconds
 *   chunks                     live chunks after the close
 *   samples_per_chunk          sealed samples / chunks
 *   reopen.seconds             open after the close (WAL replay included)
 *   reopen.replayed_samples    samples the WAL gave back to the memtable
 *   index.chunk_bytes          LMDB pages of the chunk database
 *   index.tag_bytes            LMDB pages of the tag and tag_name databases
 *   bytes.index / bytes.segments / bytes.wal   files after the close
 *   bytes_per_sample           all files of the data directory / samples
 *   cycle.chunks               chunks after the reopen's own close
 * Usage: bench_seal [--tags N] [--seconds D] [--memtable-mb M] [--wal-mb W]
 *                   [--eager-close] [dir-parent]   (defaults 10000, 30, the
 * db defaults, /tmp; --eager-close: close seals every buffer, as before).
 */
#include <dirent.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/db_internal.h" /* white-box: the index's databases */
#include "storage/hist_storage.h"

#define BATCH 5000

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t du(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return (uint64_t)st.st_blocks * 512;
    uint64_t sum = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        sum += du(p);
    }
    if (d)
        closedir(d);
    return sum;
}

static uint64_t dbi_bytes(hist_db *db, MDB_dbi dbi)
{
    MDB_txn *txn;
    MDB_stat st;
    if (mdb_txn_begin(db->idx.env, NULL, MDB_RDONLY, &txn))
        return 0;
    int rc = mdb_stat(txn, dbi, &st);
    mdb_txn_abort(txn);
    if (rc)
        return 0;
    return (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
}

static void rm_rf(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_seal: could not remove %s\n", path);
}

static int open_db(const char *dir, const hist_db_options *base, hist_db **db)
{
    hist_db_options o = *base;
    o.dir = dir;
    int rc = hist_db_open(&o, db);
    if (rc)
        fprintf(stderr, "bench_seal: open %s: %s\n", dir, hist_strerror(rc));
    return rc;
}

int main(int argc, char **argv)
{
    size_t ntags = 10000, seconds = 30;
    const char *parent = "/tmp";
    hist_db_options opts;
    hist_db_options_init(&opts);
    opts.compact_share = 0;
    opts.log_level = HIST_LOG_WARN;
    opts.lazy_close = true; /* as historiand opens it */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tags") && i + 1 < argc)
            ntags = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--memtable-mb") && i + 1 < argc)
            opts.memtable_bytes = strtoull(argv[++i], NULL, 10) << 20;
        else if (!strcmp(argv[i], "--wal-mb") && i + 1 < argc)
            opts.wal_bytes = strtoull(argv[++i], NULL, 10) << 20;
        else if (!strcmp(argv[i], "--eager-close"))
            opts.lazy_close = false;
        else
            parent = argv[i];
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/bench_seal.XXXXXX", parent);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char pre[128];
    snprintf(pre, sizeof(pre), "seal.tags%zu.s%zu.", ntags, seconds);

    hist_db *db;
    if (open_db(dir, &opts, &db))
        return 1;
    uint32_t *ids = malloc(ntags * sizeof(*ids));
    int *rcs = malloc(ntags * sizeof(*rcs));
    hist_tag_ref *refs = malloc(ntags * sizeof(*refs));
    char *names = malloc(ntags * 64);
    double *val = malloc(ntags * sizeof(*val));
    if (!ids || !rcs || !refs || !names || !val)
        return 1;
    for (size_t i = 0; i < ntags; i++) {
        char *nm = names + i * 64;
        snprintf(nm, 64, "plant/area%02zu/unit%03zu/pv%07zu", i % 37, i % 101, i);
        refs[i] = (hist_tag_ref){nm, strlen(nm), HIST_TYPE_FLOAT64};
        val[i] = (double)(i % 1000);
    }
    for (size_t i = 0; i < ntags; i += BATCH) {
        size_t n = ntags - i < BATCH ? ntags - i : BATCH;
        if (hist_tag_resolve_many(db, refs + i, n, true, ids + i, rcs + i))
            return 1;
    }
    hist_series *ser = malloc(BATCH * sizeof(*ser));
    int64_t *tsb = malloc(BATCH * sizeof(*tsb));
    hist_value *vb = malloc(BATCH * sizeof(*vb));
    if (!ser || !tsb || !vb)
        return 1;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t t_end = (int64_t)wall.tv_sec * 1000000000 - (int64_t)seconds * 1000000000;
    uint64_t rng = 88172645463325252ull;
    double t0 = now_s();
    size_t nsamples = 0;
    for (size_t s = 0; s < seconds; s++) {
        int64_t ts = t_end + (int64_t)s * 1000000000;
        for (size_t i = 0; i < ntags; i += BATCH) {
            size_t n = ntags - i < BATCH ? ntags - i : BATCH;
            for (size_t j = 0; j < n; j++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                val[i + j] += (double)(int64_t)(rng % 21 - 10) / 100.0;
                tsb[j] = ts;
                vb[j].f = val[i + j];
                ser[j] = (hist_series){ids[i + j], 1, &tsb[j], &vb[j], NULL};
            }
            uint64_t lsn;
            int rc = hist_db_write(db, ser, n, &lsn);
            if (rc == 0)
                rc = hist_db_sync(db, lsn);
            if (rc) {
                fprintf(stderr, "bench_seal: write: %s\n", hist_strerror(rc));
                return 1;
            }
            nsamples += n;
        }
    }
    double t1 = now_s();
    hist_db_stats st;
    hist_db_get_stats(db, &st);
    printf("%singest.samples_per_s %.0f samples/s\n", pre, (double)nsamples / (t1 - t0));
    printf("%singest.chunks %llu chunks\n", pre, (unsigned long long)st.chunks_sealed);
    printf("%singest.seals_memory %llu buffers\n", pre, (unsigned long long)st.seals_memory);
    printf("%singest.seals_wal %llu buffers\n", pre, (unsigned long long)st.seals_wal);
    printf("%singest.runs_logged %llu buffers\n", pre, (unsigned long long)st.runs_logged);
    printf("%singest.seals_held %llu buffers\n", pre, (unsigned long long)st.seals_held);
    uint64_t before = st.chunks;
    t0 = now_s();
    if (hist_db_close(db))
        return 1;
    t1 = now_s();

    char p[4200];
    uint64_t b_index, b_seg, b_wal;
    snprintf(p, sizeof(p), "%s/index", dir), b_index = du(p);
    snprintf(p, sizeof(p), "%s/seg", dir), b_seg = du(p);
    snprintf(p, sizeof(p), "%s/wal", dir), b_wal = du(p);
    uint64_t b_all = du(dir);
    double t2 = now_s();
    if (open_db(dir, &opts, &db))
        return 1;
    double t3 = now_s();
    hist_db_get_stats(db, &st);
    printf("%sclose.chunks %llu chunks\n", pre, (unsigned long long)(st.chunks - before));
    printf("%sclose.seconds %.2f s\n", pre, t1 - t0);
    printf("%schunks %llu chunks\n", pre, (unsigned long long)st.chunks);
    printf("%ssamples_per_chunk %.1f samples\n", pre,
           st.chunks ? (double)st.samples_sealed / (double)st.chunks : 0.0);
    printf("%sreopen.seconds %.2f s\n", pre, t3 - t2);
    printf("%sreopen.replayed_samples %llu samples\n", pre,
           (unsigned long long)st.samples_memtable);
    printf("%sindex.chunk_bytes %llu B\n", pre, (unsigned long long)dbi_bytes(db, db->idx.chunk));
    printf("%sindex.tag_bytes %llu B\n", pre,
           (unsigned long long)(dbi_bytes(db, db->idx.tag) + dbi_bytes(db, db->idx.tag_name)));
    printf("%sbytes.index %llu B\n", pre, (unsigned long long)b_index);
    printf("%sbytes.segments %llu B\n", pre, (unsigned long long)b_seg);
    printf("%sbytes.wal %llu B\n", pre, (unsigned long long)b_wal);
    printf("%sbytes_per_sample %.3f B\n", pre, (double)b_all / (double)nsamples);
    if (hist_db_close(db))
        return 1;
    if (open_db(dir, &opts, &db))
        return 1;
    hist_db_get_stats(db, &st);
    printf("%scycle.chunks %llu chunks\n", pre, (unsigned long long)st.chunks);
    hist_db_close(db);
    rm_rf(dir);
    free(ids), free(rcs), free(refs), free(names), free(val), free(ser), free(tsb), free(vb);
    return 0;
}
