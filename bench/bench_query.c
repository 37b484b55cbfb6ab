/*
 * bench_query.c: query engine figures on a loaded data directory.
 *
 * Load (skipped when --dir already holds a load of the same shape, see the
 * marker file bench_query.meta): one float64 tag with --year-days days of
 * 1 Hz data (default 365: 31.5 M samples) and --tags tags of the plant
 * generator (tools/plantgen.h) with --days days at 1 Hz (default 100 x 30:
 * 259 M samples; the generator's vibration tags sample at 10 Hz, so the
 * real count is printed). Data goes through hist_db_write and is sealed by
 * hist_db_flush, like a server's ingest.
 *
 * Figures (median of --runs runs, hot cache):
 *   query.plot1000.year.ms            M4 plot, 1000 px, the year tag, whole year
 *                                     (parts in parallel, one per CPU: see
 *                                     query/plot.c; *.cpu_ms is the CPU time
 *                                     of every thread)
 *   query.hourly_twa_100tags_30d.ms   hourly twa, every tag, whole range
 *   query.hourly_mean_100tags_30d.ms  hourly count/mean/min/max (stats path)
 *   query.daily_report.ms             daily count/min/max/mean/last in
 *                                     Europe/Berlin, every tag (stats path)
 *   query.raw_scan.msps               raw mode over the year tag, pages of
 *                                     1 M samples, M samples/s on one core
 * Lines are `name value unit`; `bench.scaled_down 1 flag` says the load
 * was smaller than the default shape.
 *
 * Usage: bench_query [--tags N] [--days D] [--year-days Y] [--dir PATH]
 *                    [--keep] [--runs R] [--only plot|twa|mean|daily|raw] [--chunk-align-s S]
 *                    [--compact-share F]
 * Without --dir a temp dir under /tmp is used and removed unless --keep.
 * --chunk-align-s sets the storage's chunk_align_ns in seconds (-1: off),
 * to measure what clock-aligned chunks cost on disk and buy in queries.
 * --compact-share sets the background compactor's share of a core (0: off,
 * to time the queries alone; default the engine's).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "query/hist_query.h"
#include "tools/plantgen.h"

#define SEC      INT64_C(1000000000)
#define DAY      (86400 * SEC)
#define T0       (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z */
#define YEAR_TAG "bench/year/line1/cell1/temperature_pv"

typedef struct {
    uint32_t tags, days, year_days, runs;
    const char *dir;
    const char *only;     /* run one query: plot, twa, mean, daily or raw */
    int64_t align_s;      /* chunk_align_ns in seconds; 0 = default, -1 = off */
    double compact_share; /* the background compactor's share; < 0 = default */
    bool keep;
} bench_args;

static bool wanted(const bench_args *a, const char *name)
{
    return !a->only || strcmp(a->only, name) == 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this thread: the machine may be shared, wall time then
 * overstates the cost; both are printed (.ms wall, .cpu_ms thread CPU). */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* every thread: plot runs parts in parallel */
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, uint32_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "bench_query: %s: %s\n", what, hist_strerror(rc));
    exit(1);
}

/* ---- Load ---- */

static void write_batch(hist_db *db, uint32_t id, size_t n, const int64_t *ts, const hist_value *v,
                        const uint32_t *q)
{
    hist_series s = {id, n, ts, v, q};
    uint64_t lsn;
    int rc = hist_db_write(db, &s, 1, &lsn);
    if (rc < 0)
        die("write", rc);
}

static uint64_t load(hist_db *db, const bench_args *a, uint32_t *tag_ids, uint32_t *year_id)
{
    enum { BATCH = 8192 };
    int64_t *ts = malloc(BATCH * sizeof(*ts));
    hist_value *v = malloc(BATCH * sizeof(*v));
    uint32_t *q = malloc(BATCH * sizeof(*q));
    uint64_t total = 0;
    double t_start = now_ms();

    /* The year tag: analog kind from a one-tag generator. */
    hist_gen *g1 = hist_gen_new(1, 7, T0, SEC);
    int rc =
        hist_tag_resolve(db, YEAR_TAG, strlen(YEAR_TAG), hist_gen_tag_type(g1, 0), true, year_id);
    if (rc < 0)
        die("tag", rc);
    int64_t year_end = T0 + (int64_t)a->year_days * DAY;
    for (;;) {
        size_t n = hist_gen_next(g1, 0, BATCH, ts, v, q);
        while (n > 0 && ts[n - 1] >= year_end)
            n--;
        if (n == 0)
            break;
        write_batch(db, *year_id, n, ts, v, q);
        total += n;
    }
    hist_gen_free(g1);

    /* The plant: tags interleaved in time, like a gateway sends them. */
    hist_gen *g = hist_gen_new(a->tags, 11, T0, SEC);
    for (uint32_t i = 0; i < a->tags; i++) {
        const char *name = hist_gen_tag_name(g, i);
        rc = hist_tag_resolve(db, name, strlen(name), hist_gen_tag_type(g, i), true, &tag_ids[i]);
        if (rc < 0)
            die("tag", rc);
    }
    int64_t end = T0 + (int64_t)a->days * DAY;
    bool *done = calloc(a->tags, sizeof(*done));
    uint32_t left = a->tags;
    while (left > 0) {
        for (uint32_t i = 0; i < a->tags; i++) {
            if (done[i])
                continue;
            size_t n = hist_gen_next(g, i, 3600, ts, v, q);
            size_t keep = n;
            while (keep > 0 && ts[keep - 1] >= end)
                keep--;
            if (keep > 0)
                write_batch(db, tag_ids[i], keep, ts, v, q);
            total += keep;
            if (keep < n || n == 0) {
                done[i] = true;
                left--;
            }
        }
    }
    free(done);
    hist_gen_free(g);
    rc = hist_db_flush(db);
    if (rc < 0)
        die("flush", rc);
    printf("bench.load.samples %llu samples\n", (unsigned long long)total);
    printf("bench.load.seconds %.1f s\n", (now_ms() - t_start) / 1e3);
    free(ts);
    free(v);
    free(q);
    return total;
}

/* ---- Queries ---- */

static double time_query(hist_db *db, const hist_query_spec *spec, const uint32_t *tags,
                         size_t ntags, uint32_t runs, hist_result *keep_last, double *cpu_out)
{
    double *t = malloc(runs * sizeof(*t));
    double *c = malloc(runs * sizeof(*c));
    for (uint32_t r = 0; r < runs; r++) {
        hist_result res;
        double t0 = now_ms(), c0 = cpu_ms();
        int rc = hist_query_run(db, spec, tags, ntags, &res);
        t[r] = now_ms() - t0;
        c[r] = cpu_ms() - c0;
        if (rc < 0)
            die("query", rc);
        if (keep_last && r + 1 == runs)
            *keep_last = res;
        else
            hist_result_free(&res);
    }
    double m = median(t, runs);
    *cpu_out = median(c, runs);
    free(t);
    free(c);
    return m;
}

/* Times a query (time_query) and prints NAME.ms and NAME.cpu_ms, then
 * COUNTS.chunks_from_stats and COUNTS.chunks_decoded of the last run, whose
 * result it returns (the caller frees it). */
static hist_result measure(hist_db *db, const hist_query_spec *spec, const uint32_t *tags,
                           size_t ntags, uint32_t runs, const char *name, const char *counts)
{
    hist_result res;
    double cpu, ms = time_query(db, spec, tags, ntags, runs, &res, &cpu);
    printf("%s.ms %.2f ms\n", name, ms);
    printf("%s.cpu_ms %.2f ms\n", name, cpu);
    printf("%s.chunks_from_stats %llu chunks\n", counts, (unsigned long long)res.chunks_from_stats);
    printf("%s.chunks_decoded %llu chunks\n", counts, (unsigned long long)res.chunks_decoded);
    return res;
}

static void run_plot(hist_db *db, const bench_args *a, uint32_t year_id)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_PLOT;
    spec.from = T0;
    spec.to = T0 + (int64_t)a->year_days * DAY;
    spec.points = 1000;
    printf("query.cpus %ld cpus\n", sysconf(_SC_NPROCESSORS_ONLN));
    hist_result res =
        measure(db, &spec, &year_id, 1, a->runs, "query.plot1000.year", "query.plot1000.year");
    printf("query.plot1000.year.points %zu points\n", res.series[0].n);
    hist_result_free(&res);
}

/* An aggregate over every plant tag and the whole range, hourly (step) or
 * in calendar buckets; NAME and COUNTS as in measure(). */
static void run_agg(hist_db *db, const bench_args *a, const uint32_t *tags, hist_query_spec *spec,
                    const char *name, const char *counts)
{
    spec->mode = HIST_MODE_AGG;
    spec->from = T0;
    spec->to = T0 + (int64_t)a->days * DAY;
    hist_result res = measure(db, spec, tags, a->tags, a->runs, name, counts);
    hist_result_free(&res);
}

static void run_twa(hist_db *db, const bench_args *a, const uint32_t *tags)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.step_ns = 3600 * SEC;
    spec.naggs = 1;
    spec.aggs[0] = HIST_AGG_TWA;
    char name[96];
    snprintf(name, sizeof(name), "query.hourly_twa_%utags_%ud", a->tags, a->days);
    run_agg(db, a, tags, &spec, name, "query.hourly_twa");
}

static void run_mean(hist_db *db, const bench_args *a, const uint32_t *tags)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.step_ns = 3600 * SEC;
    spec.naggs = 4;
    spec.aggs[0] = HIST_AGG_COUNT;
    spec.aggs[1] = HIST_AGG_MEAN;
    spec.aggs[2] = HIST_AGG_MIN;
    spec.aggs[3] = HIST_AGG_MAX;
    char name[96];
    snprintf(name, sizeof(name), "query.hourly_mean_%utags_%ud", a->tags, a->days);
    run_agg(db, a, tags, &spec, name, "query.hourly_mean");
}

static void run_daily(hist_db *db, const bench_args *a, const uint32_t *tags)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.bucket = HIST_BUCKET_DAY;
    snprintf(spec.tz, sizeof(spec.tz), "Europe/Berlin");
    spec.naggs = 5;
    spec.aggs[0] = HIST_AGG_COUNT;
    spec.aggs[1] = HIST_AGG_MIN;
    spec.aggs[2] = HIST_AGG_MAX;
    spec.aggs[3] = HIST_AGG_MEAN;
    spec.aggs[4] = HIST_AGG_LAST;
    run_agg(db, a, tags, &spec, "query.daily_report", "query.daily_report");
}

/* Raw scan: pages of 1 M samples through the whole year tag. */
static void run_raw(hist_db *db, const bench_args *a, uint32_t year_id)
{
    hist_query_spec spec;
    hist_result res;
    int64_t year_end = T0 + (int64_t)a->year_days * DAY;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_RAW;
    spec.from = T0;
    spec.to = year_end;
    spec.limit = 1000000;
    uint64_t n = 0;
    double t0 = now_ms(), c0 = cpu_ms();
    for (;;) {
        int rc = hist_query_run(db, &spec, &year_id, 1, &res);
        if (rc < 0)
            die("raw", rc);
        n += res.series[0].n;
        int64_t next = res.series[0].next_ts;
        hist_result_free(&res);
        if (next == INT64_MIN)
            break;
        spec.from = next;
    }
    double secs = (now_ms() - t0) / 1e3, csecs = (cpu_ms() - c0) / 1e3;
    printf("query.raw_scan.samples %llu samples\n", (unsigned long long)n);
    printf("query.raw_scan.msps %.1f Msamples/s\n", (double)n / secs / 1e6);
    printf("query.raw_scan.cpu_msps %.1f Msamples/s\n", (double)n / csecs / 1e6);
}

static void run_queries(hist_db *db, const bench_args *a, const uint32_t *tags, uint32_t year_id)
{
    if (wanted(a, "plot"))
        run_plot(db, a, year_id);
    if (wanted(a, "twa"))
        run_twa(db, a, tags);
    if (wanted(a, "mean"))
        run_mean(db, a, tags);
    if (wanted(a, "daily"))
        run_daily(db, a, tags);
    if (wanted(a, "raw"))
        run_raw(db, a, year_id);
}

/* ---- Main ---- */

static int parse_args(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){.tags = 100, .days = 30, .year_days = 365, .runs = 5, .compact_share = -1};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--keep") == 0) {
            a->keep = true;
            continue;
        }
        if (!val)
            return -1;
        if (strcmp(arg, "--tags") == 0)
            a->tags = (uint32_t)strtoul(val, NULL, 10);
        else if (strcmp(arg, "--days") == 0)
            a->days = (uint32_t)strtoul(val, NULL, 10);
        else if (strcmp(arg, "--year-days") == 0)
            a->year_days = (uint32_t)strtoul(val, NULL, 10);
        else if (strcmp(arg, "--runs") == 0)
            a->runs = (uint32_t)strtoul(val, NULL, 10);
        else if (strcmp(arg, "--dir") == 0)
            a->dir = val;
        else if (strcmp(arg, "--only") == 0)
            a->only = val;
        else if (strcmp(arg, "--chunk-align-s") == 0)
            a->align_s = strtoll(val, NULL, 10);
        else if (strcmp(arg, "--compact-share") == 0)
            a->compact_share = strtod(val, NULL);
        else
            return -1;
        i++;
    }
    if (a->tags == 0 || a->days == 0 || a->year_days == 0 || a->runs == 0 || a->tags > 100000)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    /* The allocator settings of historiand (tools/historiand.c): answers
     * reuse heap pages instead of faulting in fresh mmaps. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    bench_args a;
    if (parse_args(argc, argv, &a) < 0) {
        fprintf(stderr, "usage: bench_query [--tags N] [--days D] [--year-days Y] [--dir PATH] "
                        "[--keep] [--runs R] [--only plot|twa|mean|daily|raw] [--chunk-align-s S] "
                        "[--compact-share F]\n");
        return 2;
    }
    char tmp[] = "/tmp/bench_query_XXXXXX";
    const char *dir = a.dir;
    if (!dir) {
        if (!mkdtemp(tmp))
            return 1;
        dir = tmp;
    }
    hist_db_options opts;
    hist_db_options_init(&opts);
    opts.dir = dir;
    opts.log_level = HIST_LOG_WARN;
    opts.chunk_align_ns = a.align_s < 0 ? -1 : a.align_s * SEC;
    if (a.compact_share >= 0)
        opts.compact_share = a.compact_share;
    hist_db *db = NULL;
    int rc = hist_db_open(&opts, &db);
    if (rc < 0)
        die("open", rc);

    /* Reuse a previous load of the same shape (marker file in the dir). */
    char marker[4096], want[128], have[128] = "";
    snprintf(marker, sizeof(marker), "%s/bench_query.meta", dir);
    snprintf(want, sizeof(want), "tags=%u days=%u year_days=%u align=%lld\n", a.tags, a.days,
             a.year_days, (long long)a.align_s);
    FILE *f = fopen(marker, "r");
    if (f) {
        if (!fgets(have, sizeof(have), f))
            have[0] = '\0';
        fclose(f);
    }
    uint32_t *tags = calloc(a.tags, sizeof(*tags));
    uint32_t year_id = 0;
    if (strcmp(have, want) == 0) {
        hist_gen *g = hist_gen_new(a.tags, 11, T0, SEC);
        for (uint32_t i = 0; i < a.tags; i++) {
            hist_tag_info info;
            if ((rc = hist_tag_by_name(db, hist_gen_tag_name(g, i), &info)) < 0)
                die("reuse: tag", rc);
            tags[i] = info.id;
        }
        hist_gen_free(g);
        hist_tag_info info;
        if ((rc = hist_tag_by_name(db, YEAR_TAG, &info)) < 0)
            die("reuse: year tag", rc);
        year_id = info.id;
        printf("bench.load.reused 1 flag\n");
    } else {
        load(db, &a, tags, &year_id);
        if ((f = fopen(marker, "w"))) {
            fputs(want, f);
            fclose(f);
        }
    }
    bool scaled = a.tags < 100 || a.days < 30 || a.year_days < 365;
    printf("bench.scaled_down %d flag\n", scaled ? 1 : 0);
    printf("bench.shape.tags %u tags\nbench.shape.days %u days\nbench.shape.year_days %u days\n",
           a.tags, a.days, a.year_days);
    hist_db_stats dst;
    if (hist_db_get_stats(db, &dst) == 0 && dst.samples_sealed > 0) {
        printf("bench.disk.chunks %llu chunks\n", (unsigned long long)dst.chunks);
        printf("bench.disk.chunk_bytes_per_sample %.3f B\n",
               (double)dst.bytes_chunks / (double)dst.samples_sealed);
    }
    run_queries(db, &a, tags, year_id);
    free(tags);
    rc = hist_db_close(db);
    if (rc < 0)
        die("close", rc);
    if (!a.dir && !a.keep) {
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_query: could not remove %s\n", dir);
    } else {
        fprintf(stderr, "bench_query: data kept in %s\n", dir);
    }
    return 0;
}
