/*
 * hist_log.h: log levels and their names, the log callback, and the one
 * sink every storage unit and the server log through.
 *
 * A sink is where a unit's messages go (fn and its ctx, or stderr as
 * "historian: msg" when fn is NULL) and which of them: level is the most
 * detailed level passed on at all, stderr_level the most detailed one
 * written to stderr when there is no fn. hist_logf() drops what the sink
 * filters out before formatting, and formats what passes once, into one
 * line of at most HIST_LOG_LINE - 1 bytes.
 */
#ifndef HIST_COMMON_LOG_H
#define HIST_COMMON_LOG_H

enum { HIST_LOG_ERROR = 0, HIST_LOG_WARN = 1, HIST_LOG_INFO = 2, HIST_LOG_DEBUG = 3 };
typedef void (*hist_log_fn)(void *ctx, int level, const char *msg);

#define HIST_LOG_LINE 1024

typedef struct {
    hist_log_fn fn; /* NULL: stderr */
    void *ctx;
    int level;        /* messages above it are dropped */
    int stderr_level; /* without fn: messages above it are dropped too */
} hist_log_sink;

/* A sink passing everything to fn, and without fn to stderr up to
 * stderr_level. */
static inline hist_log_sink hist_log_sink_make(hist_log_fn fn, void *ctx, int stderr_level)
{
    return (hist_log_sink){fn, ctx, HIST_LOG_DEBUG, stderr_level};
}

/* Changes what the sink passes on while other threads may log through it
 * (the level is read and stored atomically). */
void hist_log_sink_set_level(hist_log_sink *sink, int level);

void hist_logf(const hist_log_sink *sink, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "error", "warn" (or "warning"), "info", "debug", in any case -> the
 * level; -1 when unknown. */
int hist_log_level_parse(const char *name);
/* The level's name in capitals ("WARN"); levels out of range are clamped. */
const char *hist_log_level_name(int level);

#endif
