/*
 * test_crash.c: kill -9 of a storage writer at random moments, on both I/O
 * backends, loses nothing that was acknowledged.
 *
 * The rounds are tests/crash/'s (crash_run.h): a forked writer streams a
 * plant's requests (days of plant time across day and hour boundaries,
 * single requests crossing hours, overwrites of sealed and unsealed
 * samples, out-of-order writes, several tags per request) into a directory
 * with 64-sample chunks, a 48 KiB memtable and a 64 KiB WAL budget, and is
 * SIGKILLed after 5-300 ms; a checker process then recovers the directory
 * and compares every key with the model: every acknowledged (tag, ts) holds
 * its last acknowledged value, the one request in flight is there whole or
 * not at all, nothing appears that was never written, and every chunk
 * reads and matches its stats. The next round's writer recovers the same
 * directory again.
 *
 * Each backend runs ROUNDS rounds (at most BUDGET_S seconds), then a clean
 * close and one more check. The test also asserts that every seal path ran
 * (the sealer's counters, as the writers saw them before each kill): the
 * held current hour (whose cut inside a request lost samples, issue 9),
 * memory pressure and the WAL budget. CRASH_SEED=N repeats a plant stream;
 * TEST_VERBOSE=1 prints a line per round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crash_run.h"

#define ROUNDS   20
#define BUDGET_S 60

static void run_backend(hist_io_mode io, const char *name, uint64_t seed)
{
    if (!crash_io_available(io)) {
        printf("%s: cannot be used here, its rounds are skipped\n", name);
        return;
    }
    crash_run *r;
    REQUIRE(crash_run_new(CRASH_STORAGE, io, seed, getenv("TEST_VERBOSE") != NULL, &r) == 0);
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
    CHECKF(strcmp(t->backend, name) == 0, "asked for %s, got %s", name, t->backend);
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
