/*
 * bench_query_peers.c: writes bench_query's data set as InfluxDB line
 * protocol, so bench/peers_query.sh can load the very same samples into
 * InfluxDB and VictoriaMetrics that bench_query loads into Historian.
 *
 * The data set must match bench_query.c's load() sample for sample:
 *   - the "year" tag: a one-tag generator, seed 7, from T0 at 1 Hz, cut at
 *     T0 + year_days;
 *   - the plant: --tags tags of a generator with seed 11, from T0 at 1 Hz
 *     (vibration tags at 10 Hz), cut at T0 + days.
 * If bench_query's load changes, change this file with it.
 *
 * Output (one sample a line, timestamps in ns):
 *   y,tag=<name> value=<v> <ts>      the year tag
 *   p,tag=<name> value=<v> <ts>      plant tags
 * Every value is written as a float field: int64 counters as their value,
 * bools as 0/1. InfluxDB 1.x refuses mixed field types inside one
 * measurement and cannot average bools, and VictoriaMetrics stores floats
 * anyway; the peers therefore see numbers where Historian has typed tags.
 * Quality is not carried (the peers have no such column): the script asks
 * Historian to include Bad samples so every engine aggregates the same
 * samples.
 *
 * Usage: bench_query_peers --out FILE [--tags N] [--days D] [--year-days Y]
 * Prints `bench.peers.lp_samples N samples` (all) and
 * `bench.peers.lp_year_samples N samples` (the year tag) on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/plantgen.h"

#define SEC      INT64_C(1000000000)
#define DAY      (86400 * SEC)
#define T0       (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z, as bench_query */
#define YEAR_TAG "bench/year/line1/cell1/temperature_pv"
#define BATCH    8192

/* A value as a line-protocol float. %.17g reads back to the same double. */
static double as_number(hist_type type, hist_value v)
{
    switch (type) {
    case HIST_TYPE_INT64:
        return (double)v.i;
    case HIST_TYPE_BOOL:
        return v.i ? 1.0 : 0.0;
    default:
        return v.f;
    }
}

/* Writes every sample of tag i of gen before end; returns the count. */
static unsigned long long emit_tag(FILE *out, hist_gen *gen, uint32_t i, const char *meas,
                                   const char *name, int64_t end)
{
    static int64_t ts[BATCH];
    static hist_value v[BATCH];
    static uint32_t q[BATCH];
    hist_type type = hist_gen_tag_type(gen, i);
    unsigned long long total = 0;
    for (;;) {
        size_t n = hist_gen_next(gen, i, BATCH, ts, v, q);
        size_t keep = n;
        while (keep > 0 && ts[keep - 1] >= end)
            keep--;
        for (size_t k = 0; k < keep; k++)
            fprintf(out, "%s,tag=%s value=%.17g %lld\n", meas, name, as_number(type, v[k]),
                    (long long)ts[k]);
        total += keep;
        if (keep < n || n == 0)
            return total;
    }
}

int main(int argc, char **argv)
{
    uint32_t tags = 20, days = 2, year_days = 30;
    const char *out_path = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--tags") == 0)
            tags = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--days") == 0)
            days = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--year-days") == 0)
            year_days = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--out") == 0)
            out_path = argv[i + 1];
        else
            out_path = NULL, tags = 0;
    }
    if (!out_path || tags == 0 || days == 0 || year_days == 0 || argc % 2 == 0) {
        fprintf(stderr, "usage: bench_query_peers --out FILE [--tags N] [--days D] "
                        "[--year-days Y]\n");
        return 2;
    }
    FILE *out = fopen(out_path, "w");
    if (!out) {
        perror(out_path);
        return 1;
    }
    static char buf[1 << 20];
    setvbuf(out, buf, _IOFBF, sizeof(buf));

    hist_gen *g1 = hist_gen_new(1, 7, T0, SEC);
    unsigned long long year = emit_tag(out, g1, 0, "y", YEAR_TAG, T0 + (int64_t)year_days * DAY);
    unsigned long long total = year;
    hist_gen_free(g1);

    /* Tag by tag (bench_query interleaves them in time; the samples are the
     * same because each tag's series depends only on seed and index). */
    hist_gen *g = hist_gen_new(tags, 11, T0, SEC);
    for (uint32_t i = 0; i < tags; i++)
        total += emit_tag(out, g, i, "p", hist_gen_tag_name(g, i), T0 + (int64_t)days * DAY);
    hist_gen_free(g);

    if (fclose(out) != 0) {
        perror(out_path);
        return 1;
    }
    printf("bench.peers.lp_samples %llu samples\n", total);
    printf("bench.peers.lp_year_samples %llu samples\n", year);
    return 0;
}
