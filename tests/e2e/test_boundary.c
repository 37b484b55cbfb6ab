/*
 * test_boundary.c: boundary=outside and mode=value end to end, through the
 * real historiand's HTTP API and the historian CLI.
 *
 * Data: tag plant/e2e/sp (float) holds 1.5, 2.5, ... 10.5 at T0 + k*100 s
 * (k = 0..9), tag plant/e2e/st (int64) k*10 at the same times; imported with
 * historian import csv. Checked:
 *   1. raw [T0+150 s, T0+450 s): inside 3 rows (200, 300, 400 s); outside
 *      5 rows (100 ... 500 s), value for value, JSON and CSV;
 *   2. raw outside with limit=1, paged by X-Historian-Next cursors: the
 *      same 5 rows, the before-sample once, the after-sample once; two
 *      tags paged together with limit=2: 8 rows each, each once;
 *   3. plot outside: first row 100 s, last row 500 s;
 *   4. value at T0+150 s: sp 3.0 (linear), st 10 (step); at a sample's
 *      time its value; before T0 no row; several tags by pattern;
 *   5. bad input: boundary=bogus, boundary=outside with interp, value
 *      without at, at with raw: 400 naming the parameter; a row budget of
 *      4 refuses limit=3 with boundary=outside (3 + 2 rows) and takes it
 *      inside;
 *   6. historian query --boundary outside and --at print those rows.
 * Every wait is bounded; the server is stopped by its pid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

#define T0_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static hist_harness h;
static char tokens[400];
static const char *const server_args[] = {"--auth-file", tokens, "--log-level", "warn", NULL};

static int get(const char *target, harness_response *r)
{
    return harness_http_as(&h, "GET", target, "readtok", r);
}

/* A 200, or the answer printed and the test stopped. */
#define REQUIRE_GET(target, r)                                                                     \
    do {                                                                                           \
        int st_ = get(target, r);                                                                  \
        if (st_ != 200) {                                                                          \
            CHECKF(0, "%s: %d %s", target, st_, st_ > 0 ? (r)->body : "");                         \
            harness_stop(&h, 20000);                                                               \
            harness_cleanup(&h);                                                                   \
            exit(check_summary());                                                                 \
        }                                                                                          \
    } while (0)

static void import_data(void)
{
    char csv[400], text[2048];
    snprintf(csv, sizeof csv, "%s/in.csv", h.root);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    for (int k = 0; k < 10; k++) {
        fprintf(f, "plant/e2e/sp,%lld,%d.5\n", (long long)(T0_MS + k * 100000), k + 1);
        fprintf(f, "plant/e2e/st,%lld,%di\n", (long long)(T0_MS + k * 100000), k * 10);
    }
    fclose(f);
    /* "20i": import writes st as an int64 tag */
    int st = harness_import_csv(&h, csv, "admintok", text, sizeof text);
    CHECKF(st == 0, "import exit %d: %s", st, text);
}

/* The times (s after T0) and values of a CSV answer's rows: the count. */
static int csv_rows(char *body, int *secs, double *vals, int cap)
{
    int n = 0;
    char *save = NULL;
    char *line = strtok_r(body, "\n", &save); /* header */
    for (line = line ? strtok_r(NULL, "\n", &save) : NULL; line && n < cap;
         line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2)
            continue;
        secs[n] = (int)((strtoll(c1 + 1, NULL, 10) - T0_MS) / 1000);
        vals[n] = strtod(c2 + 1, NULL);
        n++;
    }
    return n;
}

static void test_raw(void)
{
    char target[512];
    int secs[32];
    double vals[32];
    harness_response r;
    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/e2e/sp&from=%lld&to=%lld&format=csv&time_format=ms",
             (long long)(T0_MS + 150000), (long long)(T0_MS + 450000));
    REQUIRE_GET(target, &r);
    int n = csv_rows(r.body, secs, vals, 32);
    CHECKF(n == 3 && secs[0] == 200 && secs[2] == 400, "inside: %d rows", n);
    harness_response_free(&r);

    strcat(target, "&boundary=outside");
    REQUIRE_GET(target, &r);
    n = csv_rows(r.body, secs, vals, 32);
    bool ok = n == 5;
    for (int i = 0; ok && i < 5; i++)
        ok = secs[i] == 100 * (i + 1) && vals[i] == i + 2.5;
    CHECKF(ok, "outside: %d rows, first %d s", n, n ? secs[0] : -1);
    harness_response_free(&r);

    /* JSON: the same rows (the before-sample's value, 2.5, is there) */
    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/e2e/sp&from=%lld&to=%lld&boundary=outside",
             (long long)(T0_MS + 150000), (long long)(T0_MS + 450000));
    REQUIRE_GET(target, &r);
    CHECKF(strstr(r.body, "2.5") && strstr(r.body, "6.5") && strstr(r.body, "1767225700000"),
           "json outside: %s", r.body);
    harness_response_free(&r);

    /* Paged: limit=1, each page passes the cursor back. */
    int total = 0, got[16];
    char cursor[1024] = "";
    for (int page = 0; page < 20; page++) {
        char ptarget[1536];
        snprintf(ptarget, sizeof ptarget,
                 "/api/v1/query?tag=plant/e2e/sp&from=%lld&to=%lld&boundary=outside&limit=1"
                 "&format=csv&time_format=ms%s%s",
                 (long long)(T0_MS + 150000), (long long)(T0_MS + 450000),
                 cursor[0] ? "&cursor=" : "", cursor);
        REQUIRE_GET(ptarget, &r);
        n = csv_rows(r.body, secs, vals, 32);
        for (int i = 0; i < n && total < 16; i++)
            got[total++] = secs[i];
        snprintf(cursor, sizeof cursor, "%s", r.next);
        harness_response_free(&r);
        if (!cursor[0]) /* "id:ns" (',' between tags): safe in a query as it is */
            break;
    }
    ok = total == 5;
    for (int i = 0; ok && i < 5; i++)
        ok = got[i] == 100 * (i + 1);
    CHECKF(ok, "paged outside: %d rows", total);
}

/* Two tags paged together, limit=2 (one cursor carries both): each tag's
 * rows once, in order, the before-row on page 1, the after-row last. */
static void test_raw_two_tags(void)
{
    int total[2] = {0, 0}, got[2][16], secs[32];
    double vals[32];
    char cursor[1024] = "", target[1536];
    harness_response r;
    for (int page = 0; page < 20; page++) {
        snprintf(target, sizeof target,
                 "/api/v1/query?tag=plant/e2e/sp&tag=plant/e2e/st&from=%lld&to=%lld"
                 "&boundary=outside&limit=2&format=csv&time_format=ms%s%s",
                 (long long)(T0_MS + 50000), (long long)(T0_MS + 650000),
                 cursor[0] ? "&cursor=" : "", cursor);
        REQUIRE_GET(target, &r);
        /* rows carry the tag first: tell the two apart by the tag column */
        char *save = NULL;
        char *line = strtok_r(r.body, "\n", &save);
        for (line = line ? strtok_r(NULL, "\n", &save) : NULL; line;
             line = strtok_r(NULL, "\n", &save)) {
            int t = strncmp(line, "plant/e2e/st,", 13) == 0;
            char one[256];
            snprintf(one, sizeof one, "h\n%s\n", line);
            if (csv_rows(one, secs, vals, 1) == 1 && total[t] < 16)
                got[t][total[t]++] = secs[0];
        }
        snprintf(cursor, sizeof cursor, "%s", r.next);
        harness_response_free(&r);
        if (!cursor[0])
            break;
    }
    /* [50 s, 650 s): before 0 s, inside 100..600 s, after 700 s: 8 rows */
    bool ok = total[0] == 8 && total[1] == 8;
    for (int t = 0; ok && t < 2; t++)
        for (int i = 0; ok && i < 8; i++)
            ok = got[t][i] == 100 * i;
    CHECKF(ok, "two tags paged: %d and %d rows", total[0], total[1]);
}

static void test_plot(void)
{
    char target[512];
    int secs[64];
    double vals[64];
    harness_response r;
    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/e2e/sp&from=%lld&to=%lld&mode=plot&points=2"
             "&boundary=outside&format=csv&time_format=ms",
             (long long)(T0_MS + 150000), (long long)(T0_MS + 450000));
    REQUIRE_GET(target, &r);
    int n = csv_rows(r.body, secs, vals, 64);
    CHECKF(n >= 4 && secs[0] == 100 && vals[0] == 2.5 && secs[n - 1] == 500 && vals[n - 1] == 6.5,
           "plot outside: %d rows", n);
    harness_response_free(&r);
}

static void test_value(void)
{
    char target[512];
    int secs[8];
    double vals[8];
    harness_response r;
    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/e2e/sp&tag=plant/e2e/st&mode=value&at=%lld&format=csv"
             "&time_format=ms",
             (long long)(T0_MS + 150000));
    REQUIRE_GET(target, &r);
    int n = csv_rows(r.body, secs, vals, 8);
    CHECKF(n == 2 && secs[0] == 150 && vals[0] == 3.0 && secs[1] == 150 && vals[1] == 10,
           "value at 150 s: %d rows, %g %g", n, n > 0 ? vals[0] : -1, n > 1 ? vals[1] : -1);
    harness_response_free(&r);

    snprintf(target, sizeof target,
             "/api/v1/query?pattern=plant/e2e/*&mode=value&at=%lld&format=csv&time_format=ms",
             (long long)(T0_MS + 300000));
    REQUIRE_GET(target, &r);
    n = csv_rows(r.body, secs, vals, 8);
    CHECKF(n == 2 && vals[0] + vals[1] == 4.5 + 30, "value at a sample: %d rows", n);
    harness_response_free(&r);

    snprintf(target, sizeof target, "/api/v1/query?tag=plant/e2e/sp&mode=value&at=%lld",
             (long long)(T0_MS - 1));
    REQUIRE_GET(target, &r);
    CHECKF(!strstr(r.body, "1767225599999"), "value before the data: %s", r.body);
    harness_response_free(&r);
}

static void expect_400(const char *query, const char *param)
{
    char target[512], want[64];
    harness_response r;
    snprintf(target, sizeof target, "/api/v1/query?tag=plant/e2e/sp&%s", query);
    snprintf(want, sizeof want, "\"param\":\"%s\"", param);
    int st = get(target, &r);
    CHECKF(st == 400 && strstr(r.body, want), "%s: %d %s", query, st, st > 0 ? r.body : "");
    if (st > 0)
        harness_response_free(&r);
}

static void test_bad_input(void)
{
    expect_400("boundary=bogus", "boundary");
    expect_400("boundary=outside&mode=interp&step=1m", "boundary");
    expect_400("mode=value", "at");
    expect_400("at=now", "at");
    expect_400("mode=value&at=yesterday-ish", "at");
}

/* A server with a row budget of 4: limit=3 fits inside, not outside. */
static void test_budget(void)
{
    hist_harness b;
    REQUIRE(harness_init(&b, "hist-e2e-boundary-budget") == 0);
    const char *args[] = {"--max-rows", "4", "--log-level", "warn", NULL};
    if (harness_start_or_clean(&b, args) != 0) {
        CHECKF(0, "second historiand did not start");
        return;
    }
    char csv[400], text[2048];
    snprintf(csv, sizeof csv, "%s/x.csv", b.root);
    REQUIRE(harness_write_file(csv, "x,1767225600000,1.5\n") == 0);
    int ist = harness_import_csv(&b, csv, "none", text, sizeof text);
    CHECKF(ist == 0, "import to the budget server: %d %s", ist, text);
    harness_response r;
    int st = harness_http_as(&b, "GET", "/api/v1/query?tag=x&limit=3", NULL, &r);
    CHECKF(st == 200, "inside limit=3: %d", st);
    if (st > 0)
        harness_response_free(&r);
    st = harness_http_as(&b, "GET", "/api/v1/query?tag=x&limit=3&boundary=outside", NULL, &r);
    CHECKF(st == 400 && strstr(r.body, "max_rows") && strstr(r.body, "5 rows"),
           "outside limit=3: %d %s", st, st > 0 ? r.body : "");
    if (st > 0)
        harness_response_free(&r);
    CHECK_EQ_I64(harness_stop(&b, 20000), 0);
    harness_cleanup(&b);
}

static void test_cli(void)
{
    char out[400], text[8192], url[64], from[32], to[32], at[32];
    snprintf(out, sizeof out, "%s/cli.out", h.root);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", h.http_port);
    snprintf(from, sizeof from, "%lld", (long long)(T0_MS + 150000));
    snprintf(to, sizeof to, "%lld", (long long)(T0_MS + 450000));
    snprintf(at, sizeof at, "%lld", (long long)(T0_MS + 150000));
    const char *a1[] = {"query", "--server",     url, "--token",    "readtok", "--from",
                        from,    "--to",         to,  "--boundary", "outside", "-F",
                        "csv",   "plant/e2e/sp", NULL};
    int st = harness_wait_exit(harness_run_cli(out, a1), 60);
    harness_slurp(out, text, sizeof text);
    int secs[16];
    double vals[16];
    int n = csv_rows(text, secs, vals, 16);
    CHECKF(st == 0 && n == 5 && vals[0] == 2.5 && vals[4] == 6.5,
           "historian query --boundary outside: exit %d, %d rows", st, n);
    const char *a2[] = {"query", "--server", url,   "--token",      "readtok", "--at",
                        at,      "-F",       "csv", "plant/e2e/sp", NULL};
    st = harness_wait_exit(harness_run_cli(out, a2), 60);
    harness_slurp(out, text, sizeof text);
    n = csv_rows(text, secs, vals, 16);
    CHECKF(st == 0 && n == 1 && vals[0] == 3.0, "historian query --at: exit %d, %d rows: %s", st, n,
           text);
}

int main(void)
{
    REQUIRE(harness_init(&h, "hist-e2e-boundary") == 0);
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    REQUIRE(harness_write_file(tokens, "admintok admin\nreadtok read\n") == 0);
    if (harness_start_or_clean(&h, server_args) != 0) {
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    import_data();
    test_raw();
    test_raw_two_tags();
    test_plot();
    test_value();
    test_bad_input();
    test_cli();
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    test_budget();
    return check_summary();
}
