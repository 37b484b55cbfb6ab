/*
 * db_fixture.h: the storage tests' quiet database (header-only, for tests
 * in this folder): synchronous I/O, no background threads, and a log that
 * says warnings and errors only with TEST_VERBOSE set; and a scan of one
 * tag's samples, each judged by the test.
 */
#ifndef HIST_TESTS_STORAGE_DB_FIXTURE_H
#define HIST_TESTS_STORAGE_DB_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "storage/hist_storage.h"

static inline void fixture_quiet_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= HIST_LOG_WARN && getenv("TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

/* The defaults for dir, with synchronous I/O, no background threads and
 * the quiet log; the test sets what else it needs before opening. */
static inline void fixture_options(hist_db_options *o, const char *dir)
{
    hist_db_options_init(o);
    o->dir = dir;
    o->io = HIST_IO_SYNC;
    o->no_background = true;
    o->log = fixture_quiet_log;
}

/* Opens with o or stops the test. */
static inline hist_db *fixture_open(const hist_db_options *o)
{
    hist_db *db = NULL;
    REQUIRE(hist_db_open(o, &db) == 0);
    return db;
}

/* Opens dir (created if missing) or stops the test. */
static inline hist_db *fixture_open_db(const char *dir)
{
    hist_db_options o;
    fixture_options(&o, dir);
    return fixture_open(&o);
}

/* Whether the k-th sample of a scan (from 0, in time order) is right. */
typedef bool (*fixture_sample_ok)(const void *ctx, size_t k, int64_t ts, hist_value v, uint32_t q);

/* Reads every sample of tag id (decoded); *wrong counts those ok(ctx, ...)
 * refuses; returns how many there are. Stops the test if the scan does
 * not open. */
static inline size_t fixture_scan_tag(hist_db *db, uint32_t id, fixture_sample_ok ok,
                                      const void *ctx, size_t *wrong)
{
    hist_scan *sc;
    REQUIRE(hist_scan_open(db, id, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &sc) == 0);
    hist_piece p;
    size_t n = 0;
    *wrong = 0;
    while (hist_scan_next(sc, &p) == 1)
        for (size_t i = 0; i < p.n; i++, n++)
            *wrong += !ok(ctx, n, p.ts[i], p.v[i], p.q ? p.q[i] : 0);
    hist_scan_close(sc);
    return n;
}

#endif
