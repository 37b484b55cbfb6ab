/*
 * log.c: one-line leveled logging to stderr for the server.
 *
 * Format: "2026-11-22T04:30:00.123Z INFO message". Connections log one line
 * at open and one at close (info); nothing is ever logged per sample or per
 * batch above debug level, so logging cannot become the bottleneck.
 *
 * The level names, their parsing and the level filter are here and only
 * here in ingest/; every other file logs through log__printf().
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ingest/ingest.h"

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static void log_line(int level, const char *msg)
{
    struct timespec now;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    if (level < HIST_LOG_ERROR)
        level = HIST_LOG_ERROR;
    if (level > HIST_LOG_DEBUG)
        level = HIST_LOG_DEBUG;
    /* One fprintf per line: stderr is unbuffered, so the line is written
     * in one go and lines from the writer thread do not interleave. */
    fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, now.tv_nsec / 1000000, level_names[level], msg);
}

/* The one level filter: a line passes when it is no more verbose than the
 * logger's (NULL logger: every line). */
static bool enabled(const hist_logger *lg, int level)
{
    return !lg || level <= lg->level;
}

void log__printf(const hist_logger *lg, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (!enabled(lg, level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_line(level, msg);
}

void log__storage(void *ctx, int level, const char *msg)
{
    if (enabled(ctx, level))
        log_line(level, msg);
}

int log__level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(name, level_names[i]))
            return i;
    if (!strcasecmp(name, "warning"))
        return HIST_LOG_WARN;
    return -1;
}
