/*
 * db_fixture.h: the storage tests' quiet database (header-only, for tests
 * in this folder): synchronous I/O, no background threads, and a log that
 * says warnings and errors only with TEST_VERBOSE set.
 */
#ifndef HIST_TESTS_STORAGE_DB_FIXTURE_H
#define HIST_TESTS_STORAGE_DB_FIXTURE_H

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

/* Opens dir (created if missing) or stops the test. */
static inline hist_db *fixture_open_db(const char *dir)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.no_background = true;
    o.log = fixture_quiet_log;
    hist_db *db = NULL;
    REQUIRE(hist_db_open(&o, &db) == 0);
    return db;
}

#endif
