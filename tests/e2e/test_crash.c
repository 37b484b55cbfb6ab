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

#include "crash_test.h"

#define ROUNDS   12
#define BUDGET_S 80

int main(void)
{
    uint64_t seed = crash_seed();
    printf("seed %llu\n", (unsigned long long)seed);
    crash_test_backend(CRASH_SERVER, HIST_IO_URING, seed, ROUNDS, BUDGET_S);
    crash_test_backend(CRASH_SERVER, HIST_IO_SYNC, seed + 1, ROUNDS, BUDGET_S);
    return check_summary();
}
