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
 *
 * Memory per tag: bench_storage --tags N[,N...] [dir-parent]. For each N a
 * child process opens a db (no background sealer, so nothing seals but the
 * flush), creates N tags (names like plant/area07/unit042/pv0001234) with
 * one sample each, flushes, then gives every tag 4 more samples left in
 * memory. VmRSS and RssAnon from /proc/self/status are read after open
 * (the base), after the flush (idle tags; malloc_trim(0) first, so heap
 * freed by the seal does not count) and with every tag live:
 *   storage.tags<N>.rss_per_tag_bytes       (VmRSS idle - base) / N
 *   storage.tags<N>.rss_mib                 VmRSS idle - base
 *   storage.tags<N>.anon_per_tag_bytes      the same for RssAnon (the heap;
 *                                           VmRSS also counts LMDB's mapped pages)
 *   storage.tags<N>.heap_per_tag_bytes      malloc'd bytes in use (mallinfo2), idle
 *   storage.tags<N>.registry_per_tag_bytes  the engine's own count of its tag
 *                                           registry (tags__registry_bytes)
 *   storage.tags<N>.hwm_mib                 VmHWM - base: the peak while creating
 *   storage.tags<N>.live.rss_per_tag_bytes  (VmRSS live - base) / N
 *   storage.tags<N>.live.rss_mib            VmRSS live - base
 *   storage.tags<N>.create_s                creating the tags and their first sample
 * Env BENCH_SAMPLES: samples per configuration (default 2000000);
 * BENCH_NO_SEAL=1: no background sealer (write path alone; seals at flush).
 */
#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage/db_internal.h" /* white-box: tags__registry_bytes */
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

/* A field of /proc/self/status in bytes (kB there), 0 when missing. */
static double status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t flen = strlen(field);
    double v = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, flen) == 0 && line[flen] == ':')
            v = atof(line + flen + 1) * 1024.0;
    if (f)
        fclose(f);
    return v;
}

/* One write of samples k..k+m of tags [first, first+n): one series a tag. */
static int tags_write(hist_db *db, const uint32_t *ids, size_t first, size_t n, size_t m,
                      int64_t t0)
{
    hist_series *s = calloc(n, sizeof(*s));
    int64_t *ts = malloc(m * sizeof(*ts));
    hist_value *v = malloc(m * sizeof(*v));
    int rc = s && ts && v ? 0 : HIST_ENOMEM;
    for (size_t j = 0; j < m && rc == 0; j++) {
        ts[j] = t0 + (int64_t)j * 1000000000;
        v[j].f = (double)j * 0.5;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        s[i] = (hist_series){ids[first + i], m, ts, v, NULL};
    uint64_t lsn;
    if (rc == 0)
        rc = hist_db_write(db, s, n, &lsn);
    if (rc == 0)
        rc = hist_db_sync(db, lsn);
    free(s), free(ts), free(v);
    return rc;
}

static int tags_bench(size_t ntags, const char *parent)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/bench_tags_XXXXXX", parent);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.log = quiet;
    o.no_background = true; /* nothing seals but the flush */
    hist_db *db = NULL;
    int rc = hist_db_open(&o, &db);
    uint32_t *ids = calloc(ntags, sizeof(*ids));
    if (rc == 0 && !ids)
        rc = HIST_ENOMEM;
    malloc_trim(0);
    double rss0 = status_bytes("VmRSS"), anon0 = status_bytes("RssAnon");
    double heap0 = (double)mallinfo2().uordblks;
    enum { BATCH = 10000 };
    hist_tag_ref *refs = calloc(BATCH, sizeof(*refs));
    int *rcs = calloc(BATCH, sizeof(*rcs));
    char *names = malloc((size_t)BATCH * 64);
    if (rc == 0 && (!refs || !rcs || !names))
        rc = HIST_ENOMEM;
    int64_t base = INT64_C(1700000000000000000);
    double c0 = now_s();
    for (size_t first = 0; rc == 0 && first < ntags; first += BATCH) {
        size_t n = ntags - first < BATCH ? ntags - first : BATCH;
        for (size_t i = 0; i < n; i++) {
            size_t t = first + i;
            char *nm = names + i * 64;
            int len =
                snprintf(nm, 64, "plant/area%02zu/unit%03zu/pv%07zu", t % 100, t / 100 % 1000, t);
            refs[i] = (hist_tag_ref){nm, (size_t)len, HIST_TYPE_FLOAT64};
        }
        rc = hist_tag_resolve_many(db, refs, n, true, ids + first, rcs);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = rcs[i];
        if (rc == 0)
            rc = tags_write(db, ids, first, n, 1, base);
    }
    if (rc == 0)
        rc = hist_db_flush(db);
    double cdt = now_s() - c0;
    malloc_trim(0);
    double rss1 = status_bytes("VmRSS"), anon1 = status_bytes("RssAnon");
    double hwm = status_bytes("VmHWM");
    double heap1 = (double)mallinfo2().uordblks;
    mu_lock(&db->mu);
    double reg = (double)tags__registry_bytes(db);
    mu_unlock(&db->mu);
    for (size_t first = 0; rc == 0 && first < ntags; first += BATCH) {
        size_t n = ntags - first < BATCH ? ntags - first : BATCH;
        rc = tags_write(db, ids, first, n, 4, base + INT64_C(1000000000));
    }
    double rss2 = status_bytes("VmRSS");
    if (rc == 0) {
        double mib = 1024.0 * 1024.0, nt = (double)ntags;
        printf("storage.tags%zu.rss_per_tag_bytes %.0f B\n", ntags, (rss1 - rss0) / nt);
        printf("storage.tags%zu.rss_mib %.1f MiB\n", ntags, (rss1 - rss0) / mib);
        printf("storage.tags%zu.anon_per_tag_bytes %.0f B\n", ntags, (anon1 - anon0) / nt);
        printf("storage.tags%zu.heap_per_tag_bytes %.0f B\n", ntags, (heap1 - heap0) / nt);
        printf("storage.tags%zu.registry_per_tag_bytes %.1f B\n", ntags, reg / nt);
        printf("storage.tags%zu.hwm_mib %.1f MiB\n", ntags, (hwm - rss0) / mib);
        printf("storage.tags%zu.live.rss_per_tag_bytes %.0f B\n", ntags, (rss2 - rss0) / nt);
        printf("storage.tags%zu.live.rss_mib %.1f MiB\n", ntags, (rss2 - rss0) / mib);
        printf("storage.tags%zu.create_s %.2f s\n", ntags, cdt);
        fflush(stdout);
    }
    free(refs), free(rcs), free(names), free(ids);
    if (db) {
        int crc = hist_db_close(db);
        if (rc == 0)
            rc = crc;
    }
    rm_rf(dir);
    if (rc)
        fprintf(stderr, "tags bench (%zu): %s\n", ntags, hist_strerror(rc));
    return rc ? 1 : 0;
}

/* bench_storage --tags N[,N...] [dir-parent]: one child process per N, so
 * that each starts from a fresh heap. */
static int tags_main(const char *list, const char *parent)
{
    int bad = 0;
    for (const char *p = list; *p;) {
        char *end;
        size_t n = (size_t)strtoull(p, &end, 10);
        if (end == p || n == 0) {
            fprintf(stderr, "--tags: a list of counts, such as 1000,100000\n");
            return 2;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            _exit(tags_bench(n, parent));
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad = 1;
        p = *end == ',' ? end + 1 : end;
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--tags") == 0)
        return tags_main(argv[2], argc > 3 ? argv[3] : "/tmp");
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
