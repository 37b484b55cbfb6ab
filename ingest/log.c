/*
 * log.c: one-line leveled logging to stderr for the server.
 *
 * Format: "2026-11-22T04:30:00.123Z INFO message". Connections log one line
 * at open and one at close (info); nothing is ever logged per sample or per
 * batch above debug level, so logging cannot become the bottleneck.
 *
 * The level names, their parsing and the level filter are here and only
 * here in ingest/; every other file logs through hist_logf().
 */
#include <stdio.h>
#include <time.h>

#include "ingest/ingest.h"

void log__line(void *ctx, int level, const char *msg)
{
    (void)ctx;
    struct timespec now;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    /* One fprintf per line: stderr is unbuffered, so the line is written
     * in one go and lines from the writer thread do not interleave. */
    fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, now.tv_nsec / 1000000, hist_log_level_name(level),
            msg);
}

hist_log_sink log__sink(int level)
{
    return (hist_log_sink){.fn = log__line, .level = level, .stderr_level = level};
}

void log__from_storage(void *ctx, int level, const char *msg)
{
    hist_logf(ctx, level, "%s", msg); /* the sink's one filter */
}
