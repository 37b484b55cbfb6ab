/*
 * test_csv_roundtrip.c: export -> import -> export gives the same bytes.
 *
 * Server A gets, over TCP ingest, tags with every kind of name the tag
 * rules allow (commas, quotes, semicolons, spaces at either end, '#',
 * backslashes, unicode, deep '/' levels, a 255-byte name) holding float64
 * bit patterns (-0, the smallest subnormal, DBL_MIN, DBL_MAX, -DBL_MAX,
 * NaN, +-Inf, integral values, 0.1), bools, int64 extremes, qualities
 * (Good, Uncertain, Bad, 0xFFFFFFFF) and times from 1900 to 2100 down to
 * the nanosecond (also 1 ns before 1970). `historian export` writes two
 * files (the int64 tags apart: export writes 42 for an int64 and for a
 * float64 alike, so they are imported with --int64). The first export is
 * read back with the CSV reader and compared sample for sample (tag, time,
 * type, value bits, quality) with what was written; then both files go
 * through `historian import` into a fresh server B, whose exports must be
 * byte for byte the first ones.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "ingest/csv/hist_csv.h"

#define MAXS 512

typedef struct {
    char tag[300];
    int64_t ts;
    hist_type type;
    hist_value v;
    uint32_t q;
} sample;

static sample want[MAXS];
static int nwant;

static void add(const char *tag, hist_type type, int64_t ts, hist_value v, uint32_t q)
{
    REQUIRE(nwant < MAXS);
    sample *s = &want[nwant++];
    snprintf(s->tag, sizeof s->tag, "%s", tag);
    s->ts = ts;
    s->type = type;
    s->v = v;
    s->q = q;
}

static const uint32_t quals[] = {0, 0x40000000u, 0x80000000u, 0xffffffffu, 0x00A80000u};
static const int64_t times[] = {
    INT64_C(-2208988800000000000), /* 1900-01-01 */
    -1,                            /* 1 ns before 1970 */
    0,
    INT64_C(1700000000123456789),
    INT64_C(1700000000500000000),
    INT64_C(4102444799999999999), /* 2099-12-31T23:59:59.999999999 */
};
#define NTIMES (int)(sizeof times / sizeof times[0])

/* The tags and their samples: names, then values per type. */
static void build(void)
{
    char long_name[256];
    memset(long_name, 'x', 255);
    memcpy(long_name, "rt/long/", 8);
    long_name[255] = 0;
    const char *names[] = {"rt/comma,tag",
                           "rt/quote\"tag",
                           "rt/\"\"",
                           "rt/\",\"",
                           "rt/semi;colon",
                           " lead/ space at both ends ",
                           "rt/#hash",
                           "rt/back\\slash=eq'apos'",
                           "rt/ünïcødé/日本語/🙂",
                           "rt/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p",
                           "rt/true",
                           "rt/tag",
                           "rt/time",
                           long_name};
    const double f[] = {-0.0,    0.0,      4.9406564584124654e-324,
                        DBL_MIN, DBL_MAX,  -DBL_MAX,
                        NAN,     INFINITY, -INFINITY,
                        42.0,    0.1,      -1.0 / 3};
    int nf = (int)(sizeof f / sizeof f[0]);
    for (size_t t = 0; t < sizeof names / sizeof names[0]; t++)
        for (int i = 0; i < NTIMES; i++) {
            hist_value v = {.f = f[(t + (size_t)i) % (size_t)nf]};
            add(names[t], HIST_TYPE_FLOAT64, times[i], v, quals[(t + (size_t)i) % 5]);
        }
    for (int i = 0; i < nf; i++) /* every float on one tag */
        add("rt/f/all", HIST_TYPE_FLOAT64, INT64_C(1600000000000000000) + i,
            (hist_value){.f = f[i]}, 0);
    for (int i = 0; i < NTIMES; i++)
        add("rt/b/on, \"off\"", HIST_TYPE_BOOL, times[i], (hist_value){.i = i % 2}, quals[i % 5]);
    const int64_t ints[] = {INT64_MAX, INT64_MIN, 0, -1, (INT64_C(1) << 53) + 1, 42};
    for (int i = 0; i < 6; i++) {
        add("ri/int,\"64\"", HIST_TYPE_INT64, times[i], (hist_value){.i = ints[i]}, quals[i % 5]);
        add("ri/b", HIST_TYPE_INT64, times[i], (hist_value){.i = ints[5 - i]}, 0);
    }
}

/* Every sample over TCP ingest, acknowledged. */
static void write_all(const hist_harness *h)
{
    hist_sender *s;
    REQUIRE(hist_sender_new(h->ingest_addr, NULL, 16, &s) == 0);
    hist_batch_builder *bb = hist_bb_new();
    for (int i = 0; i < nwant; i++)
        CHECK_OK(hist_bb_add(bb, want[i].tag, want[i].type, want[i].ts, want[i].v, want[i].q));
    CHECK_OK(hist_sender_push_batch(s, bb, NULL, NULL));
    hist_sender_drain(s, 30000);
    hist_sender_stats st;
    hist_sender_get_stats(s, &st);
    CHECKF(st.acked == (uint64_t)nwant && st.rejected == 0, "acked %" PRIu64 " rejected %" PRIu64,
           st.acked, st.rejected);
    hist_bb_free(bb);
    hist_sender_free(s);
}

static int run(const char *out, const char *const *args)
{
    int st = harness_wait_exit(harness_run_cli(out, args), 60);
    if (st != 0) {
        char text[4096];
        harness_slurp(out, text, sizeof text);
        fprintf(stderr, "historian %s %s: exit %d: %s\n", args[0], args[1], st, text);
    }
    return st;
}

/* historian export of one pattern into path. */
static int export_to(const hist_harness *h, const char *pattern, const char *pattern2,
                     const char *path, const char *log)
{
    char server[80];
    snprintf(server, sizeof server, "http://%s", h->http_addr);
    const char *args[] = {"export",
                          "--server",
                          server,
                          "--from",
                          "1850-01-01T00:00:00Z",
                          "--to",
                          "2150-01-01T00:00:00Z",
                          "-o",
                          path,
                          "-p",
                          pattern,
                          pattern2 ? "-p" : NULL,
                          pattern2,
                          NULL};
    return run(log, args);
}

static char *slurp_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

/* ---- the first export against what was written ---- */

static char *got_keys[MAXS];
static int ngot;

static char *key_of(const char *tag, int64_t ts, hist_type type, hist_value v, uint32_t q)
{
    char *k = malloc(600);
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (type == HIST_TYPE_FLOAT64 && isnan(v.f))
        bits = 0x7ff8000000000000u; /* CSV has one NaN */
    snprintf(k, 600, "%.300s|%" PRId64 "|%d|%016" PRIx64 "|%08x", tag, ts, (int)type, bits, q);
    return k;
}

static int take(void *ctx, const hist_csv_sample *s)
{
    (void)ctx;
    if (ngot < MAXS)
        got_keys[ngot++] = key_of(s->tag, s->ts, s->type, s->v, s->q);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_export(const char *path, bool ints)
{
    size_t len;
    char *b = slurp_all(path, &len);
    REQUIRE(b);
    hist_csv_opts o = {.ints_as_int64 = ints};
    hist_csv *r;
    REQUIRE(hist_csv_new(&o, take, NULL, &r) == 0);
    CHECK_OK(hist_csv_feed(r, b, len));
    CHECK_OK(hist_csv_finish(r));
    const hist_csv_stats *st = hist_csv_get_stats(r);
    CHECKF(st->bad == 0 && st->header, "%s: %" PRIu64 " bad rows", path, st->bad);
    hist_csv_free(r);
    free(b);
}

static void compare_with_written(const char *rt_path, const char *ri_path)
{
    read_export(rt_path, false);
    read_export(ri_path, true);
    char *exp[MAXS];
    for (int i = 0; i < nwant; i++)
        exp[i] = key_of(want[i].tag, want[i].ts, want[i].type, want[i].v, want[i].q);
    CHECK_EQ_I64(ngot, nwant);
    int n = ngot < nwant ? ngot : nwant;
    qsort(exp, (size_t)nwant, sizeof *exp, cmp_str);
    qsort(got_keys, (size_t)ngot, sizeof *got_keys, cmp_str);
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(exp[i], got_keys[i]) && bad++ < 5)
            fprintf(stderr, "sample %d: wrote %s, exported %s\n", i, exp[i], got_keys[i]);
    CHECKF(bad == 0, "%d samples differ", bad);
    for (int i = 0; i < nwant; i++)
        free(exp[i]);
    for (int i = 0; i < ngot; i++)
        free(got_keys[i]);
}

static void check_same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = slurp_all(a, &la), *y = slurp_all(b, &lb);
    REQUIRE(x && y);
    CHECKF(la == lb && memcmp(x, y, la) == 0, "%s (%zu bytes) and %s (%zu bytes) differ", a, la, b,
           lb);
    if (la != lb || memcmp(x, y, la)) {
        size_t i = 0;
        while (i < la && i < lb && x[i] == y[i])
            i++;
        fprintf(stderr, "first difference at byte %zu:\n--- A: %.200s\n--- B: %.200s\n", i,
                x + (i > 60 ? i - 60 : 0), y + (i > 60 ? i - 60 : 0));
    }
    free(x);
    free(y);
}

int main(void)
{
    build();
    hist_harness a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    const char *args[] = {"--log-level", "warn", NULL};
    if (harness_start(&a, args) != 0 || harness_start(&b, args) != 0) {
        harness_dump_log(&a);
        harness_dump_log(&b);
        harness_cleanup(&a);
        harness_cleanup(&b);
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    char rt1[400], ri1[400], rt2[400], ri2[400], log[400], ingest[80];
    snprintf(rt1, sizeof rt1, "%s/rt1.csv", a.root);
    snprintf(ri1, sizeof ri1, "%s/ri1.csv", a.root);
    snprintf(rt2, sizeof rt2, "%s/rt2.csv", a.root);
    snprintf(ri2, sizeof ri2, "%s/ri2.csv", a.root);
    snprintf(log, sizeof log, "%s/cli.txt", a.root);
    snprintf(ingest, sizeof ingest, "%s", b.ingest_addr);

    write_all(&a);
    CHECK_EQ_I64(export_to(&a, "rt/**", " lead/**", rt1, log), 0);
    CHECK_EQ_I64(export_to(&a, "ri/**", NULL, ri1, log), 0);
    compare_with_written(rt1, ri1);

    const char *imp1[] = {"import", rt1, "--ingest", ingest, NULL};
    const char *imp2[] = {"import", "--int64", ri1, "--ingest", ingest, NULL};
    CHECK_EQ_I64(run(log, imp1), 0);
    CHECK_EQ_I64(run(log, imp2), 0);
    CHECK_EQ_I64(export_to(&b, "rt/**", " lead/**", rt2, log), 0);
    CHECK_EQ_I64(export_to(&b, "ri/**", NULL, ri2, log), 0);
    check_same_file(rt1, rt2);
    check_same_file(ri1, ri2);

    if (check_failed_) {
        harness_dump_log(&a);
        harness_dump_log(&b);
    }
    harness_cleanup(&a);
    harness_cleanup(&b);
    return check_summary();
}
