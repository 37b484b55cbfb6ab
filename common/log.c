/*
 * log.c: hist_logf(), the one formatter and filter of hist_log_sink.
 */
#include "common/hist_log.h"

#include <stdarg.h>
#include <stdio.h>

void hist_logf(const hist_log_sink *sink, int level, const char *fmt, ...)
{
    if (level > sink->level || (!sink->fn && level > sink->stderr_level))
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
