/*
 * test_compact.c: a real historiand compacts by itself.
 *
 *   1. historiand with a 1 MiB memtable and --compact-share 50; TAGS tags
 *      x HOURS hours of 1 Hz data (long past) imported in small batches,
 *      in two halves with a restart between them and after them: each
 *      stop seals every buffer whole, so the hour the cut falls into is in
 *      two chunks for every tag, and more where the buffers reach a
 *      chunk's length (memory pressure no longer splits hours: it freezes
 *      buffers in memory, storage/freeze.c);
 *   2. while it runs, the compactor merges settled tag-hours on its own:
 *      /api/v1/stats and /metrics show it (bounded wait);
 *   3. stopped (the close seals the rest) and started again: the chunk
 *      count settles within 10 % of one per tag-hour, and every sample of
 *      every tag reads back as written (raw, over HTTP).
 * Every wait is bounded; the server is stopped by its pid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

#define T0_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define TAGS  12
#define HOURS 3
#define N     (HOURS * 3600)

static hist_harness h;
static const char *const server_args[] = {
    "--memtable-mb", "1", "--compact-share", "50", "--log-level", "warn", NULL};

/* Imports minutes [from_min, to_min) of every tag. */
static void import_data(int from_min, int to_min)
{
    char csv[400], out[400], text[2048];
    snprintf(csv, sizeof csv, "%s/in.csv", h.root);
    snprintf(out, sizeof out, "%s/import.txt", h.root);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    for (int i = from_min * 60; i < to_min * 60; i += 60) /* a minute of every tag at a time */
        for (int t = 0; t < TAGS; t++)
            for (int j = i; j < i + 60; j++)
                fprintf(f, "plant/compact/t%02d,%lld,%d.25\n", t, (long long)(T0_MS + j * 1000),
                        (j * 7 + t) % 1000);
    fclose(f);
    const char *args[] = {"import", csv, "--ingest", h.ingest_addr, "--batch", "500", NULL};
    int st = harness_wait_exit(harness_run_cli(out, args), 120);
    harness_slurp(out, text, sizeof text);
    CHECKF(st == 0, "import exit %d: %s", st, text);
}

/* A number field of the stats answer ("key": n); -1 when missing. */
static long long stat_of(const char *body, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = body ? strstr(body, pat) : NULL;
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

typedef struct {
    long long chunks, tag_hours, pending, runs;
} compact_view;

static compact_view get_view(void)
{
    compact_view v = {-1, -1, -1, -1};
    harness_response r;
    if (harness_http(h.http_port, "GET", "/api/v1/stats", NULL, NULL, 0, &r) != 0)
        return v;
    if (r.status == 200)
        v = (compact_view){stat_of(r.body, "chunks"), stat_of(r.body, "compact_tag_hours"),
                           stat_of(r.body, "compact_pending"), stat_of(r.body, "compact_runs")};
    harness_response_free(&r);
    return v;
}

static void nap_ms(long ms)
{
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&d, NULL);
}

static double row_value(const void *ctx, int64_t row)
{
    int t = *(const int *)ctx;
    return (double)((row * 7 + t) % 1000) + 0.25;
}

static void check_samples(int t)
{
    char target[256];
    harness_response r;
    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/compact/t%02d&from=%lld&to=%lld&limit=100000&format=csv", t,
             (long long)T0_MS, (long long)(T0_MS + 86400000));
    REQUIRE(harness_http(h.http_port, "GET", target, NULL, NULL, 0, &r) == 0);
    CHECKF(r.status == 200, "raw of t%02d: %d", t, r.status);
    int64_t wrong, row = harness_csv_rows(r.body, row_value, &t, &wrong);
    CHECKF(row == N && wrong == 0, "raw of t%02d: %lld rows, %lld wrong", t, (long long)row,
           (long long)wrong);
    harness_response_free(&r);
}

int main(void)
{
    if (harness_start(&h, server_args) != 0) {
        harness_dump_log(&h);
        REQUIRE(0);
    }
    import_data(0, HOURS * 60 / 2);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    REQUIRE(harness_restart(&h, server_args) == 0);
    import_data(HOURS * 60 / 2, HOURS * 60);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    REQUIRE(harness_restart(&h, server_args) == 0);
    /* 2: the running server merges on its own. */
    compact_view v = get_view();
    for (int i = 0; i < 600 && v.tag_hours <= 0; i++, nap_ms(100))
        v = get_view();
    printf("running: %lld chunks, %lld tag-hours merged, %lld pending, %lld runs\n", v.chunks,
           v.tag_hours, v.pending, v.runs);
    CHECKF(v.tag_hours > 0, "no tag-hour merged in 60 s: %lld chunks", v.chunks);
    harness_response r;
    REQUIRE(harness_http(h.http_port, "GET", "/metrics", NULL, NULL, 0, &r) == 0);
    CHECKF(r.status == 200 && strstr(r.body, "\nhistorian_compact_merged_groups_total ") &&
               strstr(r.body, "\nhistorian_compact_running 1\n"),
           "metrics: %.300s", r.body ? r.body : "");
    harness_response_free(&r);

    /* 3: stopped (everything sealed) and started again: it settles. */
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    REQUIRE(harness_restart(&h, server_args) == 0);
    int ideal = TAGS * HOURS;
    v = get_view();
    for (int i = 0; i < 600 && !(v.chunks >= 0 && v.chunks * 10 <= ideal * 11 && v.pending == 0);
         i++, nap_ms(100))
        v = get_view();
    printf("after restart: %lld chunks (ideal %d), %lld tag-hours merged, %lld pending\n", v.chunks,
           ideal, v.tag_hours, v.pending);
    CHECKF(v.chunks * 10 <= ideal * 11 && v.chunks >= ideal, "%lld chunks for %d tag-hours",
           v.chunks, ideal);
    CHECK_EQ_I64(v.pending, 0);
    for (int t = 0; t < TAGS; t++)
        check_samples(t);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
