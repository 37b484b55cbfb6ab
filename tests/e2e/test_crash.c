/*
 * test_crash.c: kill -9 of historiand during ingest, on both I/O backends,
 * loses nothing that was acknowledged.
 *
 * The rounds are tests/crash/'s (crash_run.h): historiand runs on loopback
 * (--memtable-mb 1 --wal-mb 1) and takes a plant's requests over TCP with
 * up to 8 in flight (days of plant time across day and hour boundaries, two
 * 1 Hz tags whose requests cross hours and fill 8192-sample buffers,
 * overwrites of sealed and unsealed samples, out-of-order writes, several
 * tags per request); it is SIGKILLed mid-ingest after 0.1-0.4 s. A checker
 * process then recovers the directory and compares every key with the
 * model: every acknowledged (tag, ts) holds its last acknowledged value,
 * the requests in flight survived as a prefix or not at all, nothing
 * appears that was never written, and every chunk reads and matches its
 * stats. The next round restarts historiand on the same directory, so it
 * recovers it itself and goes on, crash upon crash. At the end, a clean
 * SIGTERM and one more check.
 *
 * The test also asserts, from GET /api/v1/stats before each kill, that the
 * sealer held current hours (the path whose cut inside a request lost
 * samples, issue 9), sealed for memory pressure and for the WAL budget.
 * historiand's WAL segments are 64 MiB, but every restart starts a new one,
 * so the segments of earlier lives that still hold unsealed writes pass
 * --wal-mb 1. CRASH_SEED=N repeats a plant stream; TEST_VERBOSE=1 prints a
 * line per round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crash_run.h"

#define ROUNDS   12
#define BUDGET_S 80

static void run_backend(hist_io_mode io, const char *name, uint64_t seed)
{
    if (!crash_io_available(io)) {
        printf("%s: cannot be used here, its rounds are skipped\n", name);
        return;
    }
    crash_run *r;
    REQUIRE(crash_run_new(CRASH_SERVER, io, seed, getenv("TEST_VERBOSE") != NULL, &r) == 0);
    uint64_t rounds = crash_run_rounds(r, ROUNDS, BUDGET_S);
    CHECK_OK(crash_run_finish(r));
    const crash_tally *t = crash_run_tally(r);
    crash_tally_print(stdout, name, t);
    CHECKF(rounds == ROUNDS, "%s: only %llu rounds in %d s", name, (unsigned long long)rounds,
           BUDGET_S);
    CHECKF(t->lost == 0 && t->wrong == 0 && t->phantom == 0, "%s: samples lost or wrong", name);
    CHECK_EQ_I64(t->bad_chunks, 0);
    CHECK_EQ_I64(t->failures, 0);
    CHECK(t->requests > 0);
    CHECKF(t->seals_held > 0, "%s: no seal held a current hour", name);
    CHECKF(t->seals_memory > 0, "%s: no seal for memory pressure", name);
    CHECKF(t->seals_wal > 0, "%s: no seal for the WAL budget", name);
    CHECKF(strcmp(t->backend, name) == 0, "asked historiand for %s, it used %s", name, t->backend);
    crash_run_free(r);
}

int main(void)
{
    uint64_t seed = crash_seed();
    printf("seed %llu\n", (unsigned long long)seed);
    run_backend(HIST_IO_URING, "io_uring", seed);
    run_backend(HIST_IO_SYNC, "sync", seed + 1);
    return check_summary();
}
