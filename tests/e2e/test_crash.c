/*
 * test_crash.c: kill -9 of the server during ingest loses nothing that was
 * acknowledged.
 *
 * The gateway simulator streams generated data with a spool directory; the
 * server is killed with SIGKILL in the middle and restarted on the same data
 * dir and ports. The simulator reconnects and resends its spool; at the end
 * it must report everything acknowledged, and the data dir must hold
 * exactly the generated series (same generator, seed and start), sample for
 * sample, bit for bit.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tools/plantgen.h"

#define TAGS     20
#define RATE     200
#define DURATION 4
#define START_MS 1700000000000LL
#define SEED     7

static pid_t start_simulator(const hist_harness *h, const char *out_path)
{
    char spool[400], tags[16], rate[16], dur[16], start[32], seed[16];
    snprintf(spool, sizeof spool, "%s/spool", h->root);
    snprintf(tags, sizeof tags, "%d", TAGS);
    snprintf(rate, sizeof rate, "%d", RATE);
    snprintf(dur, sizeof dur, "%d", DURATION);
    snprintf(start, sizeof start, "%lld", START_MS);
    snprintf(seed, sizeof seed, "%d", SEED);
    const char *args[] = {
        "simulate", "--tags", tags,       "--rate",          rate,      "--duration", dur,
        "--batch",  "400",    "--ingest", h->ingest_addr,    "--spool", spool,        "--start",
        start,      "--seed", seed,       "--drain-timeout", "60",      NULL};
    return harness_run_cli(out_path, args);
}

static void verify(const hist_harness *h)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = h->data_dir;
    o.no_background = true;
    hist_db *db;
    int rc = hist_db_open(&o, &db);
    CHECKF(rc == 0, "open: %d", rc);
    if (rc)
        return;
    hist_gen *gen = hist_gen_new(TAGS, SEED, START_MS * 1000000, 1000000000 / RATE);
    REQUIRE(gen);
    size_t per_tag = RATE * DURATION;
    int64_t *ts = malloc(per_tag * sizeof *ts);
    hist_value *v = malloc(per_tag * sizeof *v);
    uint32_t *q = malloc(per_tag * sizeof *q);
    for (uint32_t i = 0; i < TAGS; i++) {
        size_t n = hist_gen_next(gen, i, per_tag, ts, v, q);
        hist_tag_info info;
        rc = hist_tag_by_name(db, hist_gen_tag_name(gen, i), &info);
        CHECKF(rc == 0, "tag %s missing", hist_gen_tag_name(gen, i));
        if (rc)
            continue;
        hist_scan *scan;
        CHECK_OK(hist_scan_open(db, info.id, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &scan));
        size_t k = 0, mismatches = 0;
        hist_piece p;
        while (hist_scan_next(scan, &p) == 1)
            for (size_t j = 0; j < p.n; j++, k++)
                if (k >= n || p.ts[j] != ts[k] || p.v[j].bits != v[k].bits ||
                    (p.q ? p.q[j] : 0) != q[k])
                    mismatches++;
        hist_scan_close(scan);
        CHECKF(k == n && mismatches == 0, "tag %u: %zu stored, %zu generated, %zu mismatches", i, k,
               n, mismatches);
    }
    free(ts);
    free(v);
    free(q);
    hist_gen_free(gen);
    CHECK_OK(hist_db_close(db));
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
    char out_path[400];
    snprintf(out_path, sizeof out_path, "%s/simulate.out", h.root);
    pid_t sim = start_simulator(&h, out_path);
    REQUIRE(sim > 0);
    usleep(1500 * 1000);
    harness_kill9(&h); /* mid-ingest */
    usleep(700 * 1000);
    CHECK(harness_restart(&h, args) == 0);
    int status = harness_wait_exit(sim, 120);
    CHECKF(status == 0, "simulator exit status %d", status);
    FILE *f = fopen(out_path, "r");
    unsigned long long sent = 0, acked = 0, spooled = 1;
    CHECK(f && fscanf(f, "sent %llu acked %llu spooled %llu", &sent, &acked, &spooled) == 3);
    if (f)
        fclose(f);
    CHECK_EQ_I64(acked, (uint64_t)TAGS * RATE * DURATION);
    CHECK_EQ_I64(sent, acked);
    CHECK_EQ_I64(spooled, 0);
    CHECK_EQ_I64(harness_stop(&h, 30000), 0);
    verify(&h);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
