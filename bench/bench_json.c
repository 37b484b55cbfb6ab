/*
 * bench_json.c: what writing query answers as JSON costs (query/api/json_out.c),
 * the part of a raw read over HTTP that is not the engine.
 *
 * Data: a random walk of values with two decimals (what a plant sends,
 * 73.42), one sample a second. Figures (best of --runs passes over
 * --samples values, one core):
 *   json.double.ns_per_value       json__buf_double: shortest round-trip text
 *   json.double_printf.ns_per_value  the same text by the printf search alone
 *                                  (json__buf_double_slow): what the fast
 *                                  path saves
 *   json.raw_row.ns_per_row        one raw row as the HTTP API writes it:
 *                                  {"time":ms,"tag":name,"value":v,"quality":q}
 *   json.raw_row.bytes_per_row     its size
 *   json.raw_columns.ns_per_sample the same samples in shape=columns:
 *                                  {"tag":name,"time":[..],"value":[..],
 *                                  "quality":[..]}, written as the API
 *                                  writes columns (json__fmt_* into the
 *                                  buffer)
 *   json.raw_columns.bytes_per_sample  its size
 *
 * Usage: bench_json [--samples N] [--runs R]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/api/json_out.h"

#define TAG "site1/area1/line1/cell1/temperature_pv"

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* One pass over the values into b. */
typedef void (*pass_fn)(const double *v, size_t n, hist_buf *b);

static void pass_double(const double *v, size_t n, hist_buf *b)
{
    for (size_t i = 0; i < n; i++)
        json__buf_double(b, v[i]);
}

static void pass_double_printf(const double *v, size_t n, hist_buf *b)
{
    for (size_t i = 0; i < n; i++)
        json__buf_double_slow(b, v[i]);
}

static void pass_rows(const double *v, size_t n, hist_buf *out)
{
    hist_json j;
    json__init(&j);
    json__begin_array(&j);
    for (size_t i = 0; i < n; i++) {
        json__begin_object(&j);
        json__key(&j, "time");
        json__int(&j, INT64_C(1767225600000) + (int64_t)i * 1000);
        json__key(&j, "tag");
        json__string(&j, TAG);
        json__key(&j, "value");
        json__double(&j, v[i]);
        json__key(&j, "quality");
        json__int(&j, 0);
        json__end_object(&j);
    }
    json__end_array(&j);
    out->len = j.buf.len;
    json__free(&j);
}

/* One array of n cells, written the way query/api/api_query.c writes a column
 * (json__fmt_* straight into the buffer). */
static void column(hist_buf *b, const char *key, const double *v, size_t n, int what)
{
    hist_buf_puts(b, key);
    hist_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        char *p = hist_buf_space(b, HIST_FMT_MAX + 1);
        if (!p)
            return;
        size_t k = i > 0;
        if (i > 0)
            p[0] = ',';
        if (what == 0)
            k += json__fmt_i64(p + k, INT64_C(1767225600000) + (int64_t)i * 1000);
        else if (what == 1)
            k += json__fmt_double(p + k, v[i]);
        else
            k += json__fmt_i64(p + k, 0);
        hist_buf_commit(b, k);
    }
    hist_buf_puts(b, "]");
}

static void pass_columns(const double *v, size_t n, hist_buf *out)
{
    hist_buf_puts(out, "[{\"tag\":\"" TAG "\",");
    column(out, "\"time\":", v, n, 0);
    column(out, ",\"value\":", v, n, 1);
    column(out, ",\"quality\":", v, n, 2);
    hist_buf_puts(out, "}]");
}

/* The fastest of runs passes, in ns; *bytes gets the output size. */
static double best_ns(pass_fn fn, const double *v, size_t n, unsigned runs, size_t *bytes)
{
    double best = INFINITY;
    for (unsigned r = 0; r < runs; r++) {
        hist_buf b;
        hist_buf_init(&b);
        double t0 = now_ns();
        fn(v, n, &b);
        double t = now_ns() - t0;
        *bytes = b.len;
        hist_buf_free(&b);
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    unsigned runs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--samples") == 0)
            n = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = (unsigned)strtoul(argv[i + 1], NULL, 10);
    }
    if (n == 0 || runs == 0 || argc % 2 == 0) {
        fprintf(stderr, "usage: bench_json [--samples N] [--runs R]\n");
        return 2;
    }
    double *v = malloc(n * sizeof(*v));
    if (!v)
        return 1;
    double x = 50;
    uint64_t s = 88172645463325252u;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x += (double)((int)(s % 201) - 100) / 100.0;
        v[i] = round(x * 100) / 100;
    }
    size_t bytes;
    double t = best_ns(pass_double, v, n, runs, &bytes);
    printf("json.double.ns_per_value %.1f ns\n", t / (double)n);
    t = best_ns(pass_double_printf, v, n, runs, &bytes);
    printf("json.double_printf.ns_per_value %.1f ns\n", t / (double)n);
    t = best_ns(pass_rows, v, n, runs, &bytes);
    printf("json.raw_row.ns_per_row %.1f ns\n", t / (double)n);
    printf("json.raw_row.bytes_per_row %.1f B\n", (double)bytes / (double)n);
    t = best_ns(pass_columns, v, n, runs, &bytes);
    printf("json.raw_columns.ns_per_sample %.1f ns\n", t / (double)n);
    printf("json.raw_columns.bytes_per_sample %.1f B\n", (double)bytes / (double)n);
    free(v);
    return 0;
}
