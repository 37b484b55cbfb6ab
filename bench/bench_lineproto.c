/*
 * bench_lineproto.c: the line protocol parse rate (ingest/lineproto/),
 * one core, on Telegraf-like bodies.
 *
 * Bodies (--lines N lines each, default 100,000):
 *   telegraf  `cpu,host=h1,cpu=cpuK usage_user=1.5,usage_system=2i TS`
 *             (K in 0..15, 2 points a line; tags sorted as Telegraf
 *             sends them), ts in ns one second apart
 *   unsorted  the same with the tags unsorted (cpu= before host=)
 *   wide      `system,host=h1 load1=0.52,load5=0.61,load15=0.7,n_cpus=16i,
 *             n_users=3i,uptime=86400i TS`, 6 points a line
 *   quality   `opcua,id=ns\=2;s\=Tag_K,host=gw1 value=21.375,quality=192i TS`
 *             with --lp-quality-field quality (1 point a line)
 * Figures (the best of --runs passes):
 *   lp.<body>.lines_per_s    lines parsed per second
 *   lp.<body>.points_per_s   points given per second
 *   lp.<body>.MB_per_s       body bytes per second (10^6)
 *   lp.<body>.ns_per_line
 *
 * Usage: bench_lineproto [--lines N] [--runs R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/lineproto/hist_lineproto.h"

#define TS0 INT64_C(1767225600000000000)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char *make_body(const char *kind, size_t lines, size_t *len)
{
    size_t cap = lines * 160 + 1, n = 0;
    char *b = malloc(cap);
    if (!b)
        exit(1);
    for (size_t i = 0; i < lines; i++) {
        long long ts = (long long)(TS0 + (int64_t)(i / 16) * 1000000000);
        if (strcmp(kind, "telegraf") == 0)
            n += (size_t)snprintf(b + n, cap - n,
                                  "cpu,cpu=cpu%zu,host=h1 usage_user=1.5,usage_system=2i %lld\n",
                                  i % 16, ts);
        else if (strcmp(kind, "unsorted") == 0)
            n += (size_t)snprintf(b + n, cap - n,
                                  "cpu,host=h1,cpu=cpu%zu usage_user=1.5,usage_system=2i %lld\n",
                                  i % 16, ts);
        else if (strcmp(kind, "wide") == 0)
            n += (size_t)snprintf(b + n, cap - n,
                                  "system,host=h%zu load1=0.52,load5=0.61,load15=0.7,n_cpus=16i,"
                                  "n_users=3i,uptime=86400i %lld\n",
                                  i % 16, ts);
        else
            n += (size_t)snprintf(b + n, cap - n,
                                  "opcua,host=gw1,id=ns\\=2;s\\=Tag_%zu value=21.375,quality=192i "
                                  "%lld\n",
                                  i % 16, ts);
    }
    *len = n;
    return b;
}

static void run(const char *kind, size_t lines, int runs)
{
    size_t len;
    char *body = make_body(kind, lines, &len);
    hist_lp_options o = {.quality_field = strcmp(kind, "quality") == 0 ? "quality" : NULL};
    hist_lp_result r;
    hist_lp_result_init(&r);
    double best = 1e30;
    size_t points = 0;
    for (int k = 0; k < runs; k++) {
        double t0 = now_s();
        int rc = hist_lp_parse(&o, HIST_LP_NS, TS0, body, len, &r);
        double t = now_s() - t0;
        if (rc != 0 || r.lines != lines) {
            fprintf(stderr, "%s: rc %d, %zu lines: %s\n", kind, rc, r.lines, r.error.msg);
            exit(1);
        }
        points = r.npoints;
        if (t < best)
            best = t;
    }
    printf("lp.%s.lines_per_s %.0f lines/s\n", kind, (double)lines / best);
    printf("lp.%s.points_per_s %.0f points/s\n", kind, (double)points / best);
    printf("lp.%s.MB_per_s %.1f MB/s\n", kind, (double)len / best / 1e6);
    printf("lp.%s.ns_per_line %.1f ns\n", kind, best * 1e9 / (double)lines);
    hist_lp_result_free(&r);
    free(body);
}

int main(int argc, char **argv)
{
    size_t lines = 100000;
    int runs = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--lines") == 0)
            lines = (size_t)strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
    }
    if (lines == 0 || runs < 1) {
        fprintf(stderr, "usage: bench_lineproto [--lines N] [--runs R]\n");
        return 2;
    }
    run("telegraf", lines, runs);
    run("unsorted", lines, runs);
    run("wide", lines, runs);
    run("quality", lines, runs);
    return 0;
}
