/*
 * bench_storage.c: durable write throughput through the storage API, bytes
 * per sample on disk, and scan rate.
 *
 * Data: tools/plantgen (hist_gen), 200 plant-like tags at 1 Hz. A batch of
 * B samples is 10 series of B/10 samples (10 tags), as a gateway sends it.
 * Each writer thread owns its own tags and loops hist_db_write +
 * hist_db_sync (the batch is durable before the next one: acknowledged
 * semantics). Threads (1, 2, 8, 32: like server connections) share the
 * WAL's group commit, so throughput is about threads * batch / fdatasync.
 *
 * Output (`name value unit`):
 *   storage.write.batch<B>.threads<T>.msps   million samples/s, durable
 *   storage.write.batch<B>.threads<T>.wal_sync_ms  mean WAL sync time
 *   storage.bytes_per_sample                 segment bytes / sealed samples
 *   storage.scan.msps                        decoded scan, million samples/s
 * Usage: bench_storage [dir-parent] (default /tmp; the data dir is removed).
 * Env BENCH_SAMPLES: samples per configuration (default 2000000);
 * BENCH_NO_SEAL=1: no background sealer (write path alone; seals at flush).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/hist_storage.h"
#include "tools/plantgen.h"

#define NTAGS            200
#define SERIES_PER_BATCH 10

typedef struct {
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
    size_t n;
} tag_data;

typedef struct {
    hist_db *db;
    const uint32_t *ids;
    tag_data *data; /* per tag */
    int first_tag, ntags;
    size_t batch;
    size_t samples_to_write;
    size_t written;
    int rc;
} writer;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[1024];
            snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
            rm_rf(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    size_t per = w->batch / SERIES_PER_BATCH;
    size_t *pos = calloc((size_t)w->ntags, sizeof(*pos));
    int next = 0;
    while (w->written < w->samples_to_write && w->rc == 0) {
        hist_series s[SERIES_PER_BATCH];
        size_t ns = 0;
        for (int k = 0; k < SERIES_PER_BATCH; k++) {
            int t = next;
            next = (next + 1) % w->ntags;
            tag_data *d = &w->data[w->first_tag + t];
            if (pos[t] + per > d->n)
                pos[t] = 0; /* wrap: rewrites (overwrites) old timestamps */
            s[ns++] = (hist_series){w->ids[w->first_tag + t], per, d->ts + pos[t], d->v + pos[t],
                                    d->q + pos[t]};
            pos[t] += per;
        }
        uint64_t lsn;
        w->rc = hist_db_write(w->db, s, ns, &lsn);
        if (w->rc == 0)
            w->rc = hist_db_sync(w->db, lsn);
        w->written += per * ns;
    }
    free(pos);
    return NULL;
}

static void quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= HIST_LOG_WARN)
        fprintf(stderr, "log: %s\n", msg);
}

int main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : "/tmp";
    size_t total = getenv("BENCH_SAMPLES") ? (size_t)atoll(getenv("BENCH_SAMPLES")) : 2000000;
    size_t per_tag = total / NTAGS + 20000;
    hist_gen *gen = hist_gen_new(NTAGS, 7, INT64_C(1700000000000000000), 1000000000);
    if (!gen) {
        fprintf(stderr, "hist_gen_new failed\n");
        return 1;
    }
    tag_data *data = calloc(NTAGS, sizeof(*data));
    for (uint32_t i = 0; i < NTAGS; i++) {
        data[i].ts = malloc(per_tag * sizeof(int64_t));
        data[i].v = malloc(per_tag * sizeof(hist_value));
        data[i].q = malloc(per_tag * sizeof(uint32_t));
        data[i].n = hist_gen_next(gen, i, per_tag, data[i].ts, data[i].v, data[i].q);
    }
    int rc = 0;
    const char *backend = "?";
    static const int thread_counts[] = {1, 2, 8, 32};
    for (int bi = 0; bi < 2 && rc == 0; bi++) {
        size_t batch = bi == 0 ? 1000 : 10000;
        for (int ti = 0; ti < 4 && rc == 0; ti++) {
            int threads = thread_counts[ti];
            char dir[512];
            snprintf(dir, sizeof(dir), "%s/bench_storage_XXXXXX", parent);
            if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
            }
            hist_db_options o;
            hist_db_options_init(&o);
            o.dir = dir;
            o.log = quiet;
            o.no_background = getenv("BENCH_NO_SEAL") != NULL; /* isolate the write path */
            hist_db *db;
            rc = hist_db_open(&o, &db);
            if (rc) {
                fprintf(stderr, "open: %s\n", hist_strerror(rc));
                break;
            }
            uint32_t ids[NTAGS];
            for (uint32_t i = 0; i < NTAGS && rc == 0; i++) {
                const char *name = hist_gen_tag_name(gen, i);
                rc = hist_tag_resolve(db, name, strlen(name), hist_gen_tag_type(gen, i), true,
                                      &ids[i]);
            }
            writer w[32];
            pthread_t th[32];
            double t0 = now_s();
            for (int t = 0; t < threads; t++) {
                w[t] = (writer){db,
                                ids,
                                data,
                                t * (NTAGS / threads),
                                NTAGS / threads,
                                batch,
                                total / (size_t)threads,
                                0,
                                0};
                pthread_create(&th[t], NULL, writer_main, &w[t]);
            }
            size_t written = 0;
            for (int t = 0; t < threads; t++) {
                pthread_join(th[t], NULL);
                written += w[t].written;
                if (w[t].rc)
                    rc = w[t].rc;
            }
            double dt = now_s() - t0;
            printf("storage.write.batch%zu.threads%d.msps %.3f Msamples/s\n", batch, threads,
                   (double)written / dt / 1e6);
            hist_db_stats ws;
            hist_db_get_stats(db, &ws);
            printf("storage.write.batch%zu.threads%d.wal_sync_ms %.3f ms\n", batch, threads,
                   ws.wal_syncs ? ws.wal_sync_seconds_total * 1e3 / (double)ws.wal_syncs : 0.0);
            fflush(stdout);
            if (bi == 0 && threads == 1 && rc == 0) {
                /* Bytes on disk and scan rate, once. */
                double f0 = now_s();
                rc = hist_db_flush(db);
                double fdt = now_s() - f0;
                hist_db_stats st;
                hist_db_get_stats(db, &st);
                backend = st.io_backend;
                printf("storage.flush.seconds %.3f s\n", fdt);
                printf("storage.bytes_per_sample %.3f B\n",
                       st.samples_sealed ? (double)st.bytes_segments / (double)st.samples_sealed
                                         : 0.0);
                printf("storage.chunks %llu chunks\n", (unsigned long long)st.chunks);
                size_t scanned = 0;
                double s0 = now_s();
                for (uint32_t i = 0; i < NTAGS && rc == 0; i++) {
                    hist_scan *sc;
                    rc =
                        hist_scan_open(db, ids[i], HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &sc);
                    hist_piece p;
                    int r;
                    while (rc == 0 && (r = hist_scan_next(sc, &p)) == 1)
                        scanned += p.n;
                    if (rc == 0)
                        hist_scan_close(sc);
                }
                double sdt = now_s() - s0;
                printf("storage.scan.msps %.3f Msamples/s\n", (double)scanned / sdt / 1e6);
                size_t ranged = 0;
                s0 = now_s();
                for (uint32_t i = 0; i < NTAGS && rc == 0; i++) {
                    hist_scan *sc;
                    rc = hist_scan_open(db, ids[i], HIST_TS_MIN, HIST_TS_MAX, 0, &sc);
                    hist_piece p;
                    while (rc == 0 && hist_scan_next(sc, &p) == 1)
                        ranged += p.stats ? p.stats->count : p.n;
                    if (rc == 0)
                        hist_scan_close(sc);
                }
                sdt = now_s() - s0;
                printf("storage.scan_stats.msps %.3f Msamples/s\n", (double)ranged / sdt / 1e6);
            }
            int crc = hist_db_close(db);
            if (rc == 0)
                rc = crc;
            rm_rf(dir);
        }
    }
    printf("storage.io_backend %s -\n", backend);
    for (uint32_t i = 0; i < NTAGS; i++)
        free(data[i].ts), free(data[i].v), free(data[i].q);
    free(data);
    hist_gen_free(gen);
    if (rc)
        fprintf(stderr, "bench failed: %s\n", hist_strerror(rc));
    return rc ? 1 : 0;
}
