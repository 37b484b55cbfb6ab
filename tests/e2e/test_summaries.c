/*
 * test_summaries.c: the summary aggregates end to end through the real
 * historiand's HTTP API (docs/api.md, the agg row of /api/v1/query).
 *
 * Data, imported as CSV through `historian import`: plant/summ/flow, a
 * float64 sample a minute (whole seconds) from 2026-01-15T00:00:00Z for
 * six hours with hour 03 left out, values that repeat, qualities Good,
 * Uncertain and Bad; plant/summ/mode, an int64 state (0..3) on the same
 * times. The test keeps the samples and computes every answer with the
 * brute force of tests/query/ref_summary.h:
 *   1. agg=pct_good,time_min,changes,p90, hourly buckets in Europe/Berlin
 *      from 00:30Z (so the boundary sample before from counts), as CSV
 *      (times RFC 3339 with the zone's offset, time_min too) and as JSON
 *      (epoch ms, time_min too; null where the reference has none);
 *   2. agg=time_in_state:2,time_in_state:0,changes on the int tag, JSON
 *      shape=columns with time_format=rfc3339 (column names
 *      time_in_state:2, ...);
 *   3. bad input, each a 400 whose param is "agg": an unknown name,
 *      time_in_state without a state or with a float tag, percentile out
 *      of range or not a number.
 * Every wait is bounded; the server is stopped by its pid.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "rng.h"
#include "harness.h"
#include "query/ref_summary.h"

#define SEC   INT64_C(1000000000)
#define T0_S  INT64_C(1768435200) /* 2026-01-15T00:00:00Z */
#define FLOW  "plant/summ/flow"
#define MODE  "plant/summ/mode"
#define RANGE "&from=2026-01-15T00:30:00Z&to=2026-01-15T06:00:00Z&bucket=hour&tz=Europe/Berlin"

static hist_harness h;
static char tokens[400];
static const char *const server_args[] = {"--auth-file", tokens, "--log-level", "warn", NULL};

static hist_sample flow[400], mode[400];
static size_t nflow, nmode;

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    return xorshift64(&rng);
}

static uint32_t random_quality(void)
{
    uint64_t r = rnd() % 100;
    return r < 8 ? HIST_QUALITY_BAD : r < 15 ? HIST_QUALITY_UNCERTAIN : 0;
}

static void import_data(void)
{
    char csv[400], text[4096];
    snprintf(csv, sizeof csv, "%s/in.csv", h.root);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    double v = 10;
    int64_t state = 0;
    for (int m = 0; m < 6 * 60; m++) {
        if (m / 60 == 3)
            continue; /* hour 03: no samples */
        int64_t t = (T0_S + m * 60 + (int64_t)(rnd() % 50)) * SEC;
        if (rnd() % 3 == 0)
            v = 10 + (double)(rnd() % 8) * 0.25;
        if (rnd() % 5 == 0)
            state = (int64_t)(rnd() % 4);
        flow[nflow] = (hist_sample){t, {.f = v}, random_quality()};
        mode[nmode] = (hist_sample){t, {.i = state}, random_quality()};
        fprintf(f, FLOW ",%lld,%.17g,%u\n", (long long)(t / 1000000), v, flow[nflow].q);
        fprintf(f, MODE ",%lld,%lldi,%u\n", (long long)(t / 1000000), (long long)state,
                mode[nmode].q);
        nflow++, nmode++;
    }
    fclose(f);
    int st = harness_import_csv(&h, csv, "admintok", text, sizeof text);
    CHECKF(st == 0, "import exit %d: %s", st, text);
}

/* t (ns, whole seconds) as RFC 3339 in Europe/Berlin in January: +01:00. */
static void berlin_winter(int64_t ns, char *out, size_t len)
{
    time_t s = (time_t)(ns / SEC) + 3600;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%S+01:00", &tm);
}

static void get(const char *target, int want, harness_response *r)
{
    int st = harness_http_as(&h, "GET", target, "readtok", r);
    CHECKF(st == want, "%s: %d, want %d: %s", target, st, want, st > 0 ? r->body : "");
    if (st != want && st > 0)
        r->body[0] = '\0';
}

/* The reference buckets of RANGE: hours 00:30 (cut) .. 05:00. */
static const int64_t from_ns = (T0_S + 1800) * SEC, to_ns = (T0_S + 6 * 3600) * SEC;
static int64_t bucket_start(int b)
{
    return (T0_S + b * 3600) * SEC;
}

typedef struct {
    hist_agg agg;
    double arg;
    const char *name;
} col;

static bool want_of(const hist_sample *s, size_t n, hist_type type, const col *c, int b, double *v,
                    int64_t *t)
{
    return ref_summary(s, n, type, false, bucket_start(b), bucket_start(b + 1), from_ns, to_ns,
                       c->agg, c->arg, v, t);
}

static const col flow_cols[] = {{HIST_AGG_PCT_GOOD, 0, "pct_good"},
                                {HIST_AGG_TIME_MIN, 0, "time_min"},
                                {HIST_AGG_CHANGES, 0, "changes"},
                                {HIST_AGG_P90, 0, "p90"}};

static void test_csv(void)
{
    harness_response r;
    get("/api/v1/query?tag=" FLOW "&agg=pct_good,time_min,changes,p90" RANGE "&format=csv", 200,
        &r);
    char *line = strtok(r.body, "\n");
    CHECKF(line && !strcmp(line, "tag,time,time_end,pct_good,time_min,changes,p90"), "header: %s",
           line ? line : "(none)");
    int rows = 0, wrong = 0, nulls = 0;
    while ((line = strtok(NULL, "\n"))) {
        int b = rows++;
        char want_head[200], t0[40], t1[40];
        berlin_winter(bucket_start(b), t0, sizeof t0);
        berlin_winter(bucket_start(b + 1), t1, sizeof t1);
        snprintf(want_head, sizeof want_head, FLOW ",%s,%s,", t0, t1);
        if (strncmp(line, want_head, strlen(want_head))) {
            CHECKF(0, "row %d: %s, want it to start %s", b, line, want_head);
            continue;
        }
        char *cell = line + strlen(want_head);
        for (int k = 0; k < 4; k++) {
            char *end = strchr(cell, ',');
            if (end)
                *end = '\0';
            double v;
            int64_t t;
            bool has = want_of(flow, nflow, HIST_TYPE_FLOAT64, &flow_cols[k], b, &v, &t);
            nulls += !has;
            bool ok;
            if (!has) {
                ok = *cell == '\0';
            } else if (flow_cols[k].agg == HIST_AGG_TIME_MIN) {
                char wt[40];
                berlin_winter(t, wt, sizeof wt);
                ok = !strcmp(cell, wt);
            } else {
                char *e;
                double got = strtod(cell, &e);
                ok = *cell && !*e && refs_close(got, v);
            }
            if (!ok && wrong++ < 5)
                fprintf(stderr, "csv row %d %s: got '%s', want %s %.17g\n", b, flow_cols[k].name,
                        cell, has ? "" : "null", has ? v : 0.0);
            cell = end ? end + 1 : cell + strlen(cell);
        }
    }
    CHECKF(rows == 6, "csv: %d rows, want 6 (00:00 .. 05:00)", rows);
    CHECKF(wrong == 0, "csv: %d cells differ from the reference", wrong);
    CHECKF(nulls == 3, "csv: %d null cells, want 3 (hour 03 has only pct_good)", nulls);
    harness_response_free(&r);
}

static void test_json(void)
{
    harness_response r;
    get("/api/v1/query?tag=" FLOW "&agg=pct_good,time_min,changes,p90" RANGE, 200, &r);
    json_error_t err;
    json_t *a = json_loads(r.body, 0, &err);
    REQUIRE(json_is_array(a));
    CHECKF(json_array_size(a) == 6, "json: %zu rows", json_array_size(a));
    int wrong = 0;
    for (size_t b = 0; b < json_array_size(a); b++) {
        json_t *row = json_array_get(a, b);
        wrong += json_integer_value(json_object_get(row, "time")) != bucket_start((int)b) / 1000000;
        wrong += json_integer_value(json_object_get(row, "time_end")) !=
                 bucket_start((int)b + 1) / 1000000;
        for (int k = 0; k < 4; k++) {
            json_t *cell = json_object_get(row, flow_cols[k].name);
            double v;
            int64_t t;
            bool has = want_of(flow, nflow, HIST_TYPE_FLOAT64, &flow_cols[k], (int)b, &v, &t);
            bool ok;
            if (!has)
                ok = json_is_null(cell);
            else if (flow_cols[k].agg == HIST_AGG_TIME_MIN)
                ok = json_is_integer(cell) && json_integer_value(cell) == t / 1000000;
            else
                ok = json_is_number(cell) && refs_close(json_number_value(cell), v);
            if (!ok && wrong++ < 5) {
                char *txt = json_dumps(row, 0);
                fprintf(stderr, "json row %zu %s: %s, want %.17g\n", b, flow_cols[k].name, txt,
                        has ? v : NAN);
                free(txt);
            }
        }
    }
    CHECKF(wrong == 0, "json: %d cells differ from the reference", wrong);
    json_decref(a);
    harness_response_free(&r);
}

static void test_states(void)
{
    static const col cols[] = {{HIST_AGG_TIME_IN_STATE, 2, "time_in_state:2"},
                               {HIST_AGG_TIME_IN_STATE, 0, "time_in_state:0"},
                               {HIST_AGG_CHANGES, 0, "changes"}};
    harness_response r;
    get("/api/v1/query?tag=" MODE "&agg=time_in_state:2,time_in_state:0,changes" RANGE
        "&shape=columns&time_format=rfc3339",
        200, &r);
    json_error_t err;
    json_t *a = json_loads(r.body, 0, &err);
    REQUIRE(json_is_array(a) && json_array_size(a) == 1);
    json_t *o = json_array_get(a, 0);
    json_t *times = json_object_get(o, "time");
    CHECK(json_array_size(times) == 6);
    char t0[40];
    berlin_winter(bucket_start(0), t0, sizeof t0);
    const char *first = json_string_value(json_array_get(times, 0));
    CHECKF(first && !strcmp(first, t0), "first time %s, want %s", first ? first : "(none)", t0);
    int wrong = 0;
    double total = 0;
    for (int k = 0; k < 3; k++) {
        json_t *c = json_object_get(o, cols[k].name);
        CHECKF(json_array_size(c) == 6, "column %s", cols[k].name);
        for (size_t b = 0; b < json_array_size(c); b++) {
            double v;
            int64_t t;
            bool has = want_of(mode, nmode, HIST_TYPE_INT64, &cols[k], (int)b, &v, &t);
            json_t *cell = json_array_get(c, b);
            bool ok = has ? json_is_number(cell) && refs_close(json_number_value(cell), v)
                          : json_is_null(cell);
            total += has ? v : 0;
            if (!ok && wrong++ < 5)
                fprintf(stderr, "%s row %zu: %g want %g\n", cols[k].name, b,
                        json_number_value(cell), has ? v : NAN);
        }
    }
    CHECKF(wrong == 0, "states: %d cells differ", wrong);
    CHECK(total > 0);
    json_decref(a);
    harness_response_free(&r);
}

static void expect_400(const char *query, const char *words)
{
    char target[400];
    snprintf(target, sizeof target, "/api/v1/query?%s" RANGE, query);
    harness_response r;
    get(target, 400, &r);
    CHECKF(strstr(r.body, "\"param\":\"agg\"") && strstr(r.body, words), "%s: %s", query, r.body);
    harness_response_free(&r);
}

static void test_bad_input(void)
{
    expect_400("tag=" FLOW "&agg=pct_bad", "unknown aggregate 'pct_bad'");
    expect_400("tag=" MODE "&agg=time_in_state", "time_in_state needs a state");
    expect_400("tag=" MODE "&agg=time_in_state:", "time_in_state needs a state");
    expect_400("tag=" MODE "&agg=time_in_state:1.5", "time_in_state needs a state");
    expect_400("tag=" FLOW "&agg=time_in_state:1", "is float64");
    expect_400("tag=" MODE "&tag=" FLOW "&agg=count,time_in_state:1", "is float64");
    expect_400("tag=" FLOW "&agg=percentile:100", "0 < N < 100");
    expect_400("tag=" FLOW "&agg=percentile:0", "0 < N < 100");
    expect_400("tag=" FLOW "&agg=percentile:abc", "0 < N < 100");
    expect_400("tag=" FLOW "&agg=percentile", "0 < N < 100");
    expect_400("tag=" FLOW "&agg=p90:3", "takes no ':' argument");
}

int main(void)
{
    REQUIRE(harness_init(&h, "hist-e2e-summaries") == 0);
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    REQUIRE(harness_write_file(tokens, "admintok admin\nreadtok read\n") == 0);
    if (harness_start_or_clean(&h, server_args) != 0) {
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    import_data();
    test_csv();
    test_json();
    test_states();
    test_bad_input();
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
