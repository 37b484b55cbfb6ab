/*
 * test_reports.c: reports in the plant's own time and in Excel's CSV, end
 * to end through the real historiand's HTTP API and the historian CLI
 * (docs/api.md, "Time and duration formats" and "CSV").
 *
 * Data: plant/tz/temp holds k (k = 0..12) and plant/tz/flow k + 0.25
 * (float) every 30 min from
 * 2026-10-24T22:00:00Z, across Europe/Berlin's autumn change (2026-10-25
 * 01:00Z: 03:00 CEST becomes 02:00 CET, so 02:00-03:00 is lived twice).
 * Checked, as exact text:
 *   1. CSV with tz: every time carries the offset in effect at it
 *      (02:30+02:00, then 02:00+01:00, 02:30+01:00);
 *   2. JSON with time_format=rfc3339 and tz likewise; without
 *      time_format JSON times stay epoch ms; without tz CSV says Z;
 *   3. a day bucket in the zone: time 00:00+02:00, time_end 00:00+01:00
 *      of the next day (a 25-hour day);
 *   4. zone-less from/to are the zone's wall clock (the repeated 02:30 is
 *      its first occurrence), UTC without tz; a date alone is the zone's
 *      midnight;
 *   5. "now/d"-style times are taken, a bad one is a 400 naming from;
 *   6. historian query --tz prints the offsets and sends zone-less times
 *      as they are;
 *   7. Excel CSV: decimal=comma (';', "4,25"), bom=true (EF BB BF before
 *      the header), csv_delimiter=tab, in the long and wide shapes, raw
 *      and aggregates, time_format=s with its fraction; the bad
 *      combinations are 400s naming the parameter; historian query
 *      --excel prints the same bytes, and refuses -F json.
 * Every wait is bounded; the server is stopped by its pid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

#define T0_MS INT64_C(1792879200000) /* 2026-10-24T22:00:00Z */
#define TAG   "plant/tz/temp"
#define FLOW  "plant/tz/flow"
#define Q     "/api/v1/query?tag=" TAG
#define QF    "/api/v1/query?tag=" FLOW

static hist_harness h;
static char tokens[400];
static const char *const server_args[] = {"--auth-file", tokens, "--log-level", "warn", NULL};

/* The answer's body for target, "" when the status is not want. */
static void get(const char *target, int want, harness_response *r)
{
    int st = harness_http_as(&h, "GET", target, "readtok", r);
    CHECKF(st == want, "%s: %d, want %d: %s", target, st, want, st > 0 ? r->body : "");
    if (st != want && st > 0)
        r->body[0] = '\0';
}

static void expect_body(const char *target, const char *want)
{
    harness_response r;
    get(target, 200, &r);
    CHECKF(!strcmp(r.body, want), "%s:\n got: %s\nwant: %s", target, r.body, want);
    harness_response_free(&r);
}

static void import_data(void)
{
    char csv[400], text[2048];
    snprintf(csv, sizeof csv, "%s/in.csv", h.root);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    for (int k = 0; k <= 12; k++) {
        fprintf(f, TAG ",%lld,%d\n", (long long)(T0_MS + k * 1800000), k);
        fprintf(f, FLOW ",%lld,%d.25\n", (long long)(T0_MS + k * 1800000), k);
    }
    fclose(f);
    int st = harness_import_csv(&h, csv, "admintok", text, sizeof text);
    CHECKF(st == 0, "import exit %d: %s", st, text);
}

static void test_offsets(void)
{
    /* 1. CSV: 00:00Z..02:00Z is 02:00 CEST .. 03:00 CET */
    expect_body(Q "&from=2026-10-25T00:00:00Z&to=2026-10-25T02:00:00Z&tz=Europe/Berlin&format=csv",
                "tag,time,value,quality\n" TAG ",2026-10-25T02:00:00+02:00,4,0\n" TAG
                ",2026-10-25T02:30:00+02:00,5,0\n" TAG ",2026-10-25T02:00:00+01:00,6,0\n" TAG
                ",2026-10-25T02:30:00+01:00,7,0\n");
    /* without tz: Z as ever */
    expect_body(Q "&from=2026-10-25T00:00:00Z&to=2026-10-25T01:00:00Z&format=csv",
                "tag,time,value,quality\n" TAG ",2026-10-25T00:00:00Z,4,0\n" TAG
                ",2026-10-25T00:30:00Z,5,0\n");
    /* 2. JSON */
    expect_body(Q "&from=2026-10-25T00:30:00Z&to=2026-10-25T01:30:00Z&tz=Europe/Berlin"
                  "&time_format=rfc3339",
                "[{\"time\":\"2026-10-25T02:30:00+02:00\",\"tag\":\"" TAG "\",\"value\":5,"
                "\"quality\":0},{\"time\":\"2026-10-25T02:00:00+01:00\",\"tag\":\"" TAG
                "\",\"value\":6,\"quality\":0}]");
    expect_body(Q "&from=2026-10-25T00:30:00Z&to=2026-10-25T01:00:00Z&tz=Europe/Berlin",
                "[{\"time\":1792888200000,\"tag\":\"" TAG "\",\"value\":5,\"quality\":0}]");
    /* 3. the 25-hour day, as a bucket in the zone */
    expect_body(Q "&from=2026-10-25&to=2026-10-26&tz=Europe/Berlin&agg=count&bucket=day"
                  "&format=csv",
                "tag,time,time_end,count\n" TAG
                ",2026-10-25T00:00:00+02:00,2026-10-26T00:00:00+01:00,13\n");
}

static void test_zoneless_input(void)
{
    /* 4. 02:30 (first, CEST) .. 03:00 CET = 00:30Z .. 02:00Z: k = 5, 6, 7 */
    expect_body(Q "&from=2026-10-25T02:30:00&to=2026-10-25T03:00:00&tz=Europe/Berlin"
                  "&format=csv&time_format=ms",
                "tag,time,value,quality\n" TAG ",1792888200000,5,0\n" TAG ",1792890000000,6,0\n" TAG
                ",1792891800000,7,0\n");
    /* the same text without tz is UTC: 02:30Z .. 03:00Z, k = 9 */
    expect_body(Q "&from=2026-10-25T02:30:00&to=2026-10-25T03:00:00&format=csv&time_format=ms",
                "tag,time,value,quality\n" TAG ",1792895400000,9,0\n");
    /* a date alone: the zone's midnight (22:00Z), to 00:30 CEST */
    expect_body(Q "&from=2026-10-25&to=2026-10-25T00:30:00&tz=Europe/Berlin&format=csv",
                "tag,time,value,quality\n" TAG ",2026-10-25T00:00:00+02:00,0,0\n");
    /* 5. now-relative with rounding: taken (the data lies in the past) */
    harness_response r;
    get(Q "&from=now-3650d/y&to=now/d&tz=Europe/Berlin&format=csv", 200, &r);
    CHECKF(strstr(r.body, "2026-10-25T02:30:00+01:00"), "now-3650d/y .. now/d: %s", r.body);
    harness_response_free(&r);
    get(Q "&from=now-3650d/shift&to=now/shift&shifts=06:00,18:00&tz=Europe/Berlin&format=csv", 200,
        &r);
    CHECKF(strstr(r.body, "2026-10-25T02:30:00+01:00"), "now-3650d/shift: %s", r.body);
    harness_response_free(&r);
    get(Q "&from=now/x&tz=Europe/Berlin", 400, &r);
    CHECKF(strstr(r.body, "\"from\""), "now/x: %s", r.body);
    harness_response_free(&r);
    get(Q "&from=2026-10-25T02:30&tz=Europe/Berlin", 400, &r);
    CHECKF(strstr(r.body, "cannot read time"), "no seconds: %s", r.body);
    harness_response_free(&r);
}

static void test_cli(void)
{
    char out[400], text[8192], url[64];
    snprintf(out, sizeof out, "%s/cli.out", h.root);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", h.http_port);
    const char *a[] = {"query",
                       "--server",
                       url,
                       "--token",
                       "readtok",
                       "--from",
                       "2026-10-25T02:30:00",
                       "--to",
                       "2026-10-25T03:00:00",
                       "--tz",
                       "Europe/Berlin",
                       TAG,
                       NULL};
    int st = harness_wait_exit(harness_run_cli(out, a), 60);
    harness_slurp(out, text, sizeof text);
    CHECKF(st == 0 && strstr(text, "2026-10-25T02:30:00+02:00") &&
               strstr(text, "2026-10-25T02:00:00+01:00") &&
               strstr(text, "2026-10-25T02:30:00+01:00") && !strstr(text, "Z "),
           "historian query --tz: exit %d: %s", st, text);
    const char *b[] = {"query",  "--server", url, "--token", "readtok",
                       "--from", "now/q",    TAG, NULL};
    st = harness_wait_exit(harness_run_cli(out, b), 60);
    harness_slurp(out, text, sizeof text);
    CHECKF(st == 2, "--from now/q: exit %d (2: refused before any request)", st);
}

#define BOM "\xEF\xBB\xBF"

static void test_excel(void)
{
    /* 7. k = 4, 5 of flow at 00:00Z and 00:30Z */
    const char *range = "&from=2026-10-25T00:00:00Z&to=2026-10-25T01:00:00Z&format=csv";
    char t[512];
    snprintf(t, sizeof t, QF "%s&decimal=comma&bom=true", range);
    expect_body(t, BOM "tag;time;value;quality\n" FLOW ";2026-10-25T00:00:00Z;4,25;0\n" FLOW
                       ";2026-10-25T00:30:00Z;5,25;0\n");
    snprintf(t, sizeof t, QF "%s&decimal=comma&tz=Europe/Berlin&agg=mean,max&bucket=1h", range);
    expect_body(t, "tag;time;time_end;mean;max\n" FLOW
                   ";2026-10-25T02:00:00+02:00;2026-10-25T02:00:00+01:00;4,75;5,25\n");
    snprintf(t, sizeof t, QF "%s&csv_delimiter=tab&time_format=s&tag=" TAG, range);
    expect_body(t, "tag\ttime\tvalue\tquality\n" FLOW "\t1792886400\t4.25\t0\n" FLOW
                   "\t1792888200\t5.25\t0\n" TAG "\t1792886400\t4\t0\n" TAG "\t1792888200\t5\t0\n");
    snprintf(t, sizeof t, QF "%s&shape=wide&decimal=comma&csv_delimiter=;&tag=" TAG, range);
    expect_body(t, "time;" FLOW ";" TAG "\n2026-10-25T00:00:00Z;4,25;4\n"
                   "2026-10-25T00:30:00Z;5,25;5\n");
    snprintf(t, sizeof t,
             QF "&from=2026-10-25T00:00:00Z&to=2026-10-25T00:00:01Z&format=csv&decimal=comma"
                "&agg=mean&step=500ms&time_format=s&fill=none");
    expect_body(t, "tag;time;time_end;mean\n" FLOW ";1792886400;1792886400,5;4,25\n");
    static const struct {
        const char *params, *field;
    } bad[] = {
        {"&format=csv&decimal=comma&csv_delimiter=,", "csv_delimiter"},
        {"&format=csv&csv_delimiter=|", "csv_delimiter"},
        {"&format=csv&decimal=dot", "decimal"},
        {"&format=csv&bom=maybe", "bom"},
        {"&bom=true", "bom"}, /* JSON */
        {"&decimal=comma", "decimal"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        harness_response r;
        char field[64];
        snprintf(t, sizeof t, QF "%s", bad[i].params);
        snprintf(field, sizeof field, "\"%s\"", bad[i].field);
        get(t, 400, &r);
        CHECKF(strstr(r.body, field), "%s: want a 400 naming %s: %s", t, field, r.body);
        harness_response_free(&r);
    }
}

static void test_cli_excel(void)
{
    char out[400], text[8192], url[64];
    snprintf(out, sizeof out, "%s/cli-excel.out", h.root);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", h.http_port);
    const char *a[] = {"query",
                       "--server",
                       url,
                       "--token",
                       "readtok",
                       "--from",
                       "2026-10-25T00:00:00Z",
                       "--to",
                       "2026-10-25T01:00:00Z",
                       "--excel",
                       FLOW,
                       NULL};
    int st = harness_wait_exit(harness_run_cli(out, a), 60);
    harness_slurp(out, text, sizeof text);
    const char *want = BOM "tag;time;value;quality\n" FLOW ";2026-10-25T00:00:00Z;4,25;0\n" FLOW
                           ";2026-10-25T00:30:00Z;5,25;0\n";
    CHECKF(st == 0 && !strcmp(text, want), "historian query --excel: exit %d:\n%s", st, text);
    const char *b[] = {"query",   "--server", url,    "--token", "readtok",
                       "--excel", "-F",       "json", FLOW,      NULL};
    st = harness_wait_exit(harness_run_cli(out, b), 60);
    CHECKF(st == 2, "--excel -F json: exit %d, want 2", st);
}

int main(void)
{
    REQUIRE(harness_init(&h, "hist-e2e-reports") == 0);
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    REQUIRE(harness_write_file(tokens, "admintok admin\nreadtok read\n") == 0);
    if (harness_start_or_clean(&h, server_args) != 0) {
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    import_data();
    test_offsets();
    test_zoneless_input();
    test_cli();
    test_excel();
    test_cli_excel();
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
