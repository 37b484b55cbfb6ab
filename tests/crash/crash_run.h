/*
 * crash_run.h: kill -9 rounds against the storage engine or historiand,
 * shared by tests/storage/test_crash.c, tests/e2e/test_crash.c and the
 * soak (tests/soak/soak_crash.c).
 *
 * A run owns a data directory, a plant (plant.h) and its model (model.h).
 * Each round writes the plant's next requests and kills the writer:
 *   CRASH_STORAGE  a forked child opens the directory with 64-sample chunks,
 *                  a 48 KiB memtable, a 30 ms age limit and 32 KiB WAL
 *                  segments with a 64 KiB budget (so held-hour, memory and
 *                  WAL-budget seals, checkpoints and WAL deletion happen all
 *                  the time; every other writer runs the background
 *                  compactor at full speed, the others call
 *                  hist_db_compact now and then), writes requests
 *                  one at a time, hist_db_sync()s each and reports it on a
 *                  pipe; SIGKILL after 5-300 ms. One request is in flight.
 *   CRASH_SERVER   historiand (tests/e2e/harness.h) with --memtable-mb 1 and
 *                  --wal-mb 1; requests go over TCP, up to 8 in flight, for
 *                  0.1-0.4 s; then kill -9. The next round restarts it
 *                  (every tenth compacts the directory first, in a child
 *                  that exits without closing; historiand's own background
 *                  compactor runs at its default share).
 * Then a checker process opens the directory (recovery runs), compares it
 * with the model and exits without closing it, so the next writer or
 * historiand recovers the very state the kill left: crash upon crash. The
 * in-flight requests that survived join the model.
 */
#ifndef HIST_TESTS_CRASH_RUN_H
#define HIST_TESTS_CRASH_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "storage/hist_storage.h"

typedef enum { CRASH_STORAGE, CRASH_SERVER } crash_target;

typedef struct {
    uint64_t rounds;
    uint64_t requests; /* acknowledged */
    uint64_t acked;    /* samples of acknowledged requests, each checked after its kill */
    uint64_t survived; /* in-flight requests found after a kill */
    uint64_t lost, wrong, phantom, bad_chunks; /* keys (chunks), summed over the checks */
    uint64_t failures; /* rounds that could not run or check (the reason is printed) */
    /* The sealer's seals by why (hist_db_stats), as last seen before each
     * kill, summed over the writers' lives. */
    uint64_t seals_held, seals_memory, seals_wal, freezes;
    uint64_t runs_logged; /* buffers logged for the WAL budget (run records) */
    /* Tag-hours the background compactor merged (CRASH_STORAGE: every other
     * writer runs it at full speed and is killed while it works). */
    uint64_t compact_tag_hours;
    char backend[16]; /* the I/O backend the last check opened the directory with */
} crash_tally;

typedef struct crash_run crash_run;

/* Whether the directory can be opened with this I/O backend here. */
bool crash_io_available(hist_io_mode io);

/* A run on a fresh temp directory. io: HIST_IO_URING or HIST_IO_SYNC.
 * verbose: a line per round on stderr. */
int crash_run_new(crash_target target, hist_io_mode io, uint64_t seed, bool verbose,
                  crash_run **out);

/* One round: write, kill -9, check. 0, or a negative HIST_E* code when it
 * could not run (counted in failures). Losses are in the tally. */
int crash_run_round(crash_run *r);

/* Ends the run as an operator would: a clean close (SIGTERM for historiand),
 * then one more check, with nothing in flight. */
int crash_run_finish(crash_run *r);

/* Rounds until max_rounds have run or max_seconds have passed, whichever
 * comes first. Returns the rounds run. */
uint64_t crash_run_rounds(crash_run *r, uint64_t max_rounds, double max_seconds);

const crash_tally *crash_run_tally(const crash_run *r);

/* A line saying what the tally holds. */
void crash_tally_print(FILE *out, const char *label, const crash_tally *t);

/* $CRASH_SEED when set (to repeat a run), else from the clock. */
uint64_t crash_seed(void);

/* Stops what the run started (by pid) and removes its directory. */
void crash_run_free(crash_run *r);

#endif
