/*
 * crash_internal.h: the run shared by crash_run.c (the run, its checks and
 * the storage engine's rounds) and crash_server.c (historiand's rounds).
 */
#ifndef HIST_TESTS_CRASH_INTERNAL_H
#define HIST_TESTS_CRASH_INTERNAL_H

#include "crash_run.h"
#include "harness.h"
#include "model.h"
#include "plant.h"

/* Requests in flight at most (historiand's rounds; the storage writer has one). */
#define CRASH_FLIGHT_MAX 8

struct crash_run {
    crash_target target;
    hist_io_mode io;
    bool verbose;
    uint64_t rng; /* kill timing and windows, apart from the plant's stream */
    char dir[300];
    plant plant;
    crash_model model;
    /* Sent and not acknowledged, oldest at flight[flight_head]. */
    plant_batch flight[CRASH_FLIGHT_MAX];
    size_t flight_head, flight_n;
    uint64_t next_id; /* TCP batch ids */
    hist_harness h;   /* CRASH_SERVER */
    bool compact_bg;  /* this round's writer compacts in the background (CRASH_STORAGE) */
    bool long_chunks; /* ... holds chunks of 4096, not 64: memory pressure freezes buffers */
    bool log_runs;    /* ... has a WAL budget of 4x the memtable's: its runs are logged */
    crash_tally tally;
};

uint64_t crash_rand(crash_run *r);
int64_t crash_now_ms(void);

/* The storage engine's log: errors always, everything when verbose. */
void crash_log(void *run, int level, const char *msg);

/* An acknowledged request: into the model and the tally. */
void crash_acked(crash_run *r, const plant_batch *b);
/* The next request, as the newest in flight. */
plant_batch *crash_send_next(crash_run *r);

/* Compacts the directory (hist_db_compact) in a child that then exits
 * without closing it, as a crash right after a compaction would. */
int crash_compact(crash_run *r);

int crash_server_round(crash_run *r);
int crash_server_finish(crash_run *r);

#endif
