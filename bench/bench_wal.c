/*
 * bench_wal.c: durable WAL append throughput with group commit.
 *
 * N threads (1, 4, 16) each loop: append one record of 10,000 bytes (about
 * 1,000 samples' worth of a write batch), then wal__sync() it; every
 * sync shares its fdatasync with whatever the other threads appended
 * meanwhile. Runs on both io backends (io_uring where the kernel has it).
 *
 * Output ("name value unit"):
 *   wal.<backend>.threads<N>.records_per_s   durable records per second
 *   wal.<backend>.threads<N>.mb_per_s        payload MB (1e6 bytes) per second
 *   wal.<backend>.threads<N>.samples_per_s   records * 1,000 samples
 *   wal.<backend>.threads<N>.commit_p50_us   median wal__sync() latency
 *   wal.<backend>.threads<N>.records_per_fsync  group commit factor
 *   wal.<backend>.fsync_p50_us               median write+fdatasync of one
 *                                            record (the 1-thread commit)
 *
 * Usage: bench_wal [dir [seconds-per-run]]; dir defaults to a fresh temp
 * directory under /tmp (put it on the disk you want to measure).
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "storage/io.h"
#include "storage/wal.h"

#define RECORD_BYTES       10000
#define SAMPLES_PER_RECORD 1000
#define MAX_LAT            200000 /* latencies kept per thread */

typedef struct {
    hist_wal *wal;
    double deadline;
    uint64_t records;
    int failed;
    double *lat_us;
    size_t nlat;
} worker;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *work(void *arg)
{
    worker *w = arg;
    uint8_t *payload = malloc(RECORD_BYTES);
    if (!payload) {
        w->failed = 1;
        return NULL;
    }
    for (size_t i = 0; i < RECORD_BYTES; i++)
        payload[i] = (uint8_t)(i * 17 + (uintptr_t)w);
    struct iovec iov = {payload, RECORD_BYTES};
    while (now() < w->deadline) {
        uint64_t lsn;
        double t0 = now();
        if (wal__append(w->wal, &iov, 1, &lsn) != 0 || wal__sync(w->wal, lsn) != 0) {
            w->failed = 1;
            break;
        }
        if (w->nlat < MAX_LAT)
            w->lat_us[w->nlat++] = (now() - t0) * 1e6;
        w->records++;
    }
    free(payload);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* One run; returns the median commit latency (us), or -1 on failure. */
static double run(const char *dir, hist_io_mode mode, const char *backend, int threads,
                  double seconds)
{
    char waldir[512];
    snprintf(waldir, sizeof waldir, "%s/wal-%s-%d", dir, backend, threads);
    hist_wal_options o = {.dir = waldir, .io = mode};
    hist_wal *wal;
    if (wal__open(&o, &wal, NULL) != 0) {
        fprintf(stderr, "bench_wal: cannot open %s\n", waldir);
        return -1;
    }
    worker ws[16];
    pthread_t th[16];
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        ws[i] = (worker){wal, t0 + seconds, 0, 0, malloc(MAX_LAT * sizeof(double)), 0};
        pthread_create(&th[i], NULL, work, &ws[i]);
    }
    uint64_t records = 0;
    size_t nlat = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        records += ws[i].records;
        nlat += ws[i].nlat;
        failed |= ws[i].failed;
    }
    double elapsed = now() - t0;
    hist_wal_stats st;
    wal__get_stats(wal, &st);
    wal__close(wal);
    nftw(waldir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

    double *all = malloc((nlat ? nlat : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, ws[i].lat_us, ws[i].nlat * sizeof *all);
        k += ws[i].nlat;
        free(ws[i].lat_us);
    }
    qsort(all, nlat, sizeof *all, cmp_double);
    double p50 = nlat ? all[nlat / 2] : 0;
    free(all);
    if (failed) {
        fprintf(stderr, "bench_wal: %s threads %d: append or sync failed\n", backend, threads);
        return -1;
    }
    double rps = (double)records / elapsed;
    printf("wal.%s.threads%d.records_per_s %.0f records/s\n", backend, threads, rps);
    printf("wal.%s.threads%d.mb_per_s %.1f MB/s\n", backend, threads, rps * RECORD_BYTES / 1e6);
    printf("wal.%s.threads%d.samples_per_s %.0f samples/s\n", backend, threads,
           rps * SAMPLES_PER_RECORD);
    printf("wal.%s.threads%d.commit_p50_us %.0f us\n", backend, threads, p50);
    printf("wal.%s.threads%d.records_per_fsync %.2f records\n", backend, threads,
           st.syncs ? (double)records / (double)st.syncs : 0.0);
    fflush(stdout);
    return p50;
}

int main(int argc, char **argv)
{
    char tmp[64] = "/tmp/hist_bench_wal_XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmp);
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    if (!dir || seconds <= 0) {
        fprintf(stderr, "usage: bench_wal [dir [seconds-per-run]]\n");
        return 2;
    }
    struct {
        hist_io_mode mode;
        const char *name;
    } backends[] = {{HIST_IO_SYNC, "sync"}, {HIST_IO_URING, "io_uring"}};
    const int thread_counts[] = {1, 4, 16};
    int rc = 0;
    for (size_t b = 0; b < 2; b++) {
        hist_io *io;
        if (io__open(backends[b].mode, NULL, NULL, &io) != 0) {
            printf("# %s unavailable here, skipped\n", backends[b].name);
            continue;
        }
        io__close(io);
        for (size_t t = 0; t < 3; t++) {
            double p50 = run(dir, backends[b].mode, backends[b].name, thread_counts[t], seconds);
            if (p50 < 0)
                rc = 1;
            else if (thread_counts[t] == 1)
                printf("wal.%s.fsync_p50_us %.0f us\n", backends[b].name, p50);
        }
    }
    if (argc <= 1)
        rmdir(dir);
    return rc;
}
