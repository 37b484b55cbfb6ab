/*
 * log.c: one-line leveled logging to stderr for the server.
 *
 * Three shapes (--log-format, and whether stderr is the journal):
 *   text     "2026-11-22T04:30:00.123Z INFO message"
 *   json     {"time":"2026-11-22T04:30:00.123Z","level":"info","msg":"message"}
 *   journal  "<6>message" (or "<6>{...json...}"): under systemd, where
 *            stderr is connected to journald (JOURNAL_STREAM names its
 *            device and inode), each line starts with its syslog priority
 *            and carries no time (the journal stamps every line).
 * Connections log one line at open and one at close (info); nothing is
 * ever logged per sample or per batch above debug level, so logging cannot
 * become the bottleneck.
 *
 * The level names, their parsing and the level filter are here and only
 * here in ingest/; every other file logs through hist_logf(). The level
 * can change at run time (SIGHUP, reload.c) while other threads log:
 * hist_log_sink_set_level() stores it atomically.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/ingest.h"

/* syslog priorities (sd-daemon(3)): err, warning, info, debug */
static const int journal_priority[] = {3, 4, 6, 7};

bool log__stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log__init(log_out *out, hist_log_format format)
{
    out->format = format;
    out->journal = log__stderr_is_journal();
}

void log__line(void *ctx, int level, const char *msg)
{
    const log_out *out = ctx;
    if (level < HIST_LOG_ERROR)
        level = HIST_LOG_ERROR;
    if (level > HIST_LOG_DEBUG)
        level = HIST_LOG_DEBUG;
    char prefix[8] = "";
    if (out && out->journal)
        snprintf(prefix, sizeof prefix, "<%d>", journal_priority[level]);
    char stamp[40];
    clock__wall_stamp(stamp, sizeof stamp);
    if (out && out->format == HIST_LOG_JSON) {
        hist_buf b;
        hist_buf_init(&b);
        hist_buf_puts(&b, prefix);
        if (!out->journal)
            hist_buf_printf(&b, "{\"time\":\"%s\",", stamp);
        else
            hist_buf_puts(&b, "{");
        char lower[8];
        const char *name = hist_log_level_name(level);
        size_t i = 0;
        for (; name[i] && i + 1 < sizeof lower; i++)
            lower[i] = (char)(name[i] | 0x20);
        lower[i] = 0;
        hist_buf_printf(&b, "\"level\":\"%s\",\"msg\":", lower);
        audit__json_string(&b, msg);
        hist_buf_puts(&b, "}\n");
        if (!b.failed)
            fwrite(b.data, 1, b.len, stderr); /* stderr is unbuffered: one write */
        hist_buf_free(&b);
        return;
    }
    /* One fprintf per line: stderr is unbuffered, so the line is written
     * in one go and lines from the writer thread do not interleave. */
    if (out && out->journal)
        fprintf(stderr, "%s%s\n", prefix, msg);
    else
        fprintf(stderr, "%s %s %s\n", stamp, hist_log_level_name(level), msg);
}

hist_log_sink log__sink(log_out *out, int level)
{
    return (hist_log_sink){.fn = log__line, .ctx = out, .level = level, .stderr_level = level};
}

void log__from_storage(void *ctx, int level, const char *msg)
{
    hist_logf(ctx, level, "%s", msg); /* the sink's one filter */
}
