/*
 * log.c: hist_logf(), the one formatter and filter of hist_log_sink, and
 * the one table of level names.
 */
#include "common/hist_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

int hist_log_level_parse(const char *name)
{
    for (int i = HIST_LOG_ERROR; i <= HIST_LOG_DEBUG; i++)
        if (!strcasecmp(name, level_names[i]))
            return i;
    if (!strcasecmp(name, "warning"))
        return HIST_LOG_WARN;
    return -1;
}

const char *hist_log_level_name(int level)
{
    if (level < HIST_LOG_ERROR)
        level = HIST_LOG_ERROR;
    if (level > HIST_LOG_DEBUG)
        level = HIST_LOG_DEBUG;
    return level_names[level];
}

void hist_log_sink_set_level(hist_log_sink *sink, int level)
{
    __atomic_store_n(&sink->level, level, __ATOMIC_RELAXED);
}

void hist_logf(const hist_log_sink *sink, int level, const char *fmt, ...)
{
    if (level > __atomic_load_n(&sink->level, __ATOMIC_RELAXED) ||
        (!sink->fn && level > sink->stderr_level))
        return;
    char msg[HIST_LOG_LINE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (sink->fn)
        sink->fn(sink->ctx, level, msg);
    else
        fprintf(stderr, "historian: %s\n", msg);
}
