/*
 * test_tools.c: the gateway-side tools against a real historiand.
 *
 *   - `historian import FILE.csv`: epoch-ms (also before 1970) and RFC 3339
 *     times, bool and float values, qualities, the header
 *     tag,ts_ms,value,quality, a tag with a comma and quotes, and bad rows
 *     (a day that does not exist, a line without fields: counted, exit 1);
 *     then a European wide file (--delimiter ';' --decimal-comma) with
 *     zone-less times in --tz Europe/Berlin, one of them in the hour the
 *     clocks skip (a bad row).
 *   - `historian simulate` started while the server is down: it spools,
 *     keeps retrying, and delivers everything once the server comes up.
 *   - `historian simulate --csv` replays a file; `--start -100s` is a time
 *     relative to now, read as `query --from` reads it.
 * Read back with the storage API after a clean stop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

static size_t count(hist_db *db, const char *tag, hist_sample *out, size_t max)
{
    hist_tag_info info;
    hist_scan *scan;
    hist_piece p;
    size_t n = 0;
    if (hist_tag_by_name(db, tag, &info) != 0 ||
        hist_scan_open(db, info.id, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &scan) != 0)
        return 0;
    while (hist_scan_next(scan, &p) == 1)
        for (size_t i = 0; i < p.n; i++, n++)
            if (n < max)
                out[n] = (hist_sample){p.ts[i], p.v[i], p.q ? p.q[i] : 0};
    hist_scan_close(scan);
    return n;
}

int main(void)
{
    hist_harness h;
    memset(&h, 0, sizeof h);
    const char *args[] = {"--log-level", "warn", NULL};
    if (harness_start(&h, args) != 0) {
        harness_dump_log(&h);
        harness_cleanup(&h);
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    char csv[400], out[400], text[4096], spool[400];
    snprintf(csv, sizeof csv, "%s/in.csv", h.root);
    snprintf(out, sizeof out, "%s/out.txt", h.root);
    snprintf(spool, sizeof spool, "%s/spool", h.root);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    fprintf(f, "tag,ts_ms,value,quality\n"
               "plant/imp/a,1700000000000,1.5,0\n"
               "plant/imp/a,2023-11-14T22:13:21Z,2.5,\n"
               "plant/imp/a,2023-11-14T23:13:22.500+01:00,3.5,0x40000000\n"
               "plant/imp/run,1700000000000,true\n"
               "plant/imp/run,1700000001000,false\n"
               "plant/imp/old,-1000,4.5\n"
               "\"plant/imp/q,\"\"x\"\"\",1000,7,0\n"
               "plant/imp/a,2023-02-30T00:00:00Z,9\n"
               "this line is broken\n");
    fclose(f);

    /* import: 7 rows written (one before 1970 in negative epoch ms), two
     * bad rows (February 30th does not exist, and a line without fields)
     * -> exit 1 with a summary */
    const char *imp[] = {"import", csv, "--ingest", h.ingest_addr, "--batch", "2", NULL};
    int st = harness_wait_exit(harness_run_cli(out, imp), 60);
    harness_slurp(out, text, sizeof text);
    CHECKF(st == 1, "import exit %d", st);
    CHECKF(strstr(text, "imported 7 samples") && strstr(text, "2 bad rows"), "%s", text);

    /* European Excel: ';', decimal comma, wide form, Berlin wall clock;
     * 02:30 on 2026-03-29 does not exist there (a bad row, exit 1) */
    f = fopen(csv, "w");
    REQUIRE(f);
    fprintf(f, "\xef\xbb\xbfTime;plant/eu/a;plant/eu/b\r\n"
               "2026-03-29 01:30:00;1,5;-2\r\n"
               "2026-03-29 02:30:00;9;9\r\n"
               "2026-03-29 03:30:00;;2,25\r\n");
    fclose(f);
    const char *eu[] = {"import",        csv, "--ingest",        h.ingest_addr,
                        "--delimiter",   ";", "--decimal-comma", "--tz",
                        "Europe/Berlin", NULL};
    st = harness_wait_exit(harness_run_cli(out, eu), 60);
    harness_slurp(out, text, sizeof text);
    CHECKF(st == 1 && strstr(text, "imported 3 samples") && strstr(text, "1 bad rows"),
           "exit %d: %s", st, text);

    /* simulate --csv replays the same rows (idempotent: same samples) */
    f = fopen(csv, "w");
    REQUIRE(f);
    fprintf(f, "plant/sim/csv,1700000000000,10\nplant/sim/csv,1700000001000,11\n");
    fclose(f);
    const char *simcsv[] = {"simulate", "--csv", csv,       "--ingest", h.ingest_addr,
                            "--spool",  spool,   "--batch", "1",        NULL};
    st = harness_wait_exit(harness_run_cli(out, simcsv), 60);
    harness_slurp(out, text, sizeof text);
    CHECKF(st == 0 && strstr(text, "sent 2 acked 2 spooled 0"), "exit %d: %s", st, text);

    /* simulate while the server is down: it spools, then delivers */
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    const char *sim[] = {
        "simulate", "--tags", "3",       "--rate",        "20",       "--duration",  "2",
        "--batch",  "10",     "--start", "1700000000000", "--ingest", h.ingest_addr, "--spool",
        spool,      NULL};
    pid_t pid = harness_run_cli(out, sim);
    usleep(1500 * 1000);
    CHECK(harness_restart(&h, args) == 0);
    st = harness_wait_exit(pid, 90);
    harness_slurp(out, text, sizeof text);
    CHECKF(st == 0 && strstr(text, "sent 120 acked 120 spooled 0"), "exit %d: %s", st, text);

    /* --catch-up: a backlog 100 s deep at 10 Hz (--start relative to now, as
     * query --from takes it) is sent at once rather than paced over 100 s
     * (60 s is the bound of wait_exit, not a speed claim), then the last
     * second is paced and everything is acknowledged. */
    const char *catchup[] = {"simulate",    "--tags",  "2",   "--rate",     "10",    "--duration",
                             "101",         "--batch", "500", "--start",    "-100s", "--ingest",
                             h.ingest_addr, "--spool", spool, "--catch-up", NULL};
    st = harness_wait_exit(harness_run_cli(out, catchup), 60);
    harness_slurp(out, text, sizeof text);
    CHECKF(st == 0 && strstr(text, "sent 2020 acked 2020 spooled 0"), "exit %d: %s", st, text);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);

    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = h.data_dir;
    o.no_background = true;
    hist_db *db;
    REQUIRE(hist_db_open(&o, &db) == 0);
    hist_sample s[16];
    CHECK_EQ_I64(count(db, "plant/imp/a", s, 16), 3);
    CHECK(s[0].ts == INT64_C(1700000000000000000) && s[0].v.f == 1.5);
    CHECK(s[1].ts == INT64_C(1700000001000000000) && s[1].v.f == 2.5);
    CHECK(s[2].ts == INT64_C(1700000002500000000) && s[2].v.f == 3.5 && s[2].q == 0x40000000u);
    CHECK_EQ_I64(count(db, "plant/imp/run", s, 16), 2);
    CHECK(s[0].v.i == 1 && s[1].v.i == 0);
    hist_tag_info info;
    CHECK(hist_tag_by_name(db, "plant/imp/run", &info) == 0 && info.type == HIST_TYPE_BOOL);
    CHECK_EQ_I64(count(db, "plant/imp/old", s, 16), 1);
    CHECK(s[0].ts == INT64_C(-1000000000) && s[0].v.f == 4.5);
    CHECK_EQ_I64(count(db, "plant/sim/csv", s, 16), 2);
    CHECK_EQ_I64(count(db, "plant/imp/q,\"x\"", s, 16), 1);
    CHECK(s[0].ts == INT64_C(1000000000) && s[0].v.f == 7);
    CHECK_EQ_I64(count(db, "plant/eu/a", s, 16), 1); /* 01:30 CET = 00:30Z */
    CHECK(s[0].ts == INT64_C(1774744200000000000) && s[0].v.f == 1.5);
    CHECK_EQ_I64(count(db, "plant/eu/b", s, 16), 2); /* 03:30 CEST = 01:30Z */
    CHECK(s[0].ts == INT64_C(1774744200000000000) && s[0].v.f == -2);
    CHECK(s[1].ts == INT64_C(1774747800000000000) && s[1].v.f == 2.25);
    CHECK_OK(hist_db_close(db));
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
