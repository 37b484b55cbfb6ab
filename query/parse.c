/*
 * parse.c: the names of aggregates, modes and fills, shared by the HTTP
 * API and the Grafana endpoints (declared at the end of hist_query.h).
 * Times and durations are parsed in common/time.c (common/hist_time.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "query/hist_query.h"

static const char *const agg_names[HIST_AGG__COUNT] = {
    [HIST_AGG_COUNT] = "count",
    [HIST_AGG_MIN] = "min",
    [HIST_AGG_MAX] = "max",
    [HIST_AGG_SUM] = "sum",
    [HIST_AGG_MEAN] = "mean",
    [HIST_AGG_TWA] = "twa",
    [HIST_AGG_STDDEV] = "stddev",
    [HIST_AGG_FIRST] = "first",
    [HIST_AGG_LAST] = "last",
    [HIST_AGG_RANGE] = "range",
    [HIST_AGG_INTEGRAL] = "integral",
    [HIST_AGG_DELTA] = "delta",
    [HIST_AGG_DURATION_TRUE] = "duration_true",
    [HIST_AGG_PCT_GOOD] = "pct_good",
    [HIST_AGG_TIME_MIN] = "time_min",
    [HIST_AGG_TIME_MAX] = "time_max",
    [HIST_AGG_CHANGES] = "changes",
    [HIST_AGG_TIME_IN_STATE] = "time_in_state",
    [HIST_AGG_P50] = "p50",
    [HIST_AGG_P90] = "p90",
    [HIST_AGG_P95] = "p95",
    [HIST_AGG_P99] = "p99",
    [HIST_AGG_PERCENTILE] = "percentile",
};

static const char *const mode_names[] = {
    [HIST_MODE_RAW] = "raw",       [HIST_MODE_LATEST] = "latest", [HIST_MODE_INTERP] = "interp",
    [HIST_MODE_AGG] = "aggregate", [HIST_MODE_PLOT] = "plot",     [HIST_MODE_VALUE] = "value",
};

const char *hist_agg_name(hist_agg agg)
{
    if ((int)agg < 0 || agg >= HIST_AGG__COUNT)
        return "?";
    return agg_names[agg];
}

int hist_agg_parse(const char *name, hist_agg *out)
{
    if (!name)
        return HIST_EINVAL;
    for (int i = 0; i < HIST_AGG__COUNT; i++) {
        if (!strcasecmp(name, agg_names[i])) {
            *out = (hist_agg)i;
            return 0;
        }
    }
    /* Common synonyms people type into dashboards. */
    if (!strcasecmp(name, "avg") || !strcasecmp(name, "average")) {
        *out = HIST_AGG_MEAN;
        return 0;
    }
    if (!strcasecmp(name, "time_weighted_average") || !strcasecmp(name, "twavg")) {
        *out = HIST_AGG_TWA;
        return 0;
    }
    return HIST_EINVAL;
}

bool hist_agg_takes_arg(hist_agg agg)
{
    return agg == HIST_AGG_TIME_IN_STATE || agg == HIST_AGG_PERCENTILE;
}

bool hist_agg_is_time(hist_agg agg)
{
    return agg == HIST_AGG_TIME_MIN || agg == HIST_AGG_TIME_MAX;
}

int hist_agg_parse_arg(hist_agg agg, const char *text, double *arg)
{
    if (!text || !*text || isspace((unsigned char)text[0]))
        return HIST_EINVAL;
    if (agg == HIST_AGG_TIME_IN_STATE) {
        if (!strcasecmp(text, "true") || !strcasecmp(text, "false")) {
            *arg = !strcasecmp(text, "true");
            return 0;
        }
        char *end;
        long long v = strtoll(text, &end, 10);
        if (*end || v > (INT64_C(1) << 53) || v < -(INT64_C(1) << 53))
            return HIST_EINVAL;
        *arg = (double)v;
        return 0;
    }
    if (agg == HIST_AGG_PERCENTILE) {
        char *end;
        double v = strtod(text, &end);
        if (*end || !(v > 0 && v < 100))
            return HIST_EINVAL;
        *arg = v;
        return 0;
    }
    return HIST_EINVAL;
}

const char *hist_agg_label(hist_agg agg, double arg, char *out, size_t size)
{
    if (hist_agg_takes_arg(agg)) {
        /* the shortest spelling that reads back to arg: 99.9, not 99.900000000000006 */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, size, "%s:%.*g", hist_agg_name(agg), prec, arg);
            if (strtod(strchr(out, ':') + 1, NULL) == arg)
                break;
        }
    } else
        snprintf(out, size, "%s", hist_agg_name(agg));
    return out;
}

const char *hist_mode_name(hist_mode mode)
{
    if ((int)mode < 0 || mode > HIST_MODE_VALUE)
        return "?";
    return mode_names[mode];
}

int hist_mode_parse(const char *name, hist_mode *out)
{
    if (!name)
        return HIST_EINVAL;
    for (int i = 0; i <= HIST_MODE_VALUE; i++) {
        if (!strcasecmp(name, mode_names[i])) {
            *out = (hist_mode)i;
            return 0;
        }
    }
    if (!strcasecmp(name, "agg")) {
        *out = HIST_MODE_AGG;
        return 0;
    }
    if (!strcasecmp(name, "interpolated") || !strcasecmp(name, "interpolate")) {
        *out = HIST_MODE_INTERP;
        return 0;
    }
    if (!strcasecmp(name, "m4")) {
        *out = HIST_MODE_PLOT;
        return 0;
    }
    return HIST_EINVAL;
}

int hist_fill_parse(const char *name, hist_fill *out)
{
    static const struct {
        const char *name;
        hist_fill fill;
    } fills[] = {
        {"none", HIST_FILL_NONE},         {"null", HIST_FILL_NULL},
        {"previous", HIST_FILL_PREVIOUS}, {"prev", HIST_FILL_PREVIOUS},
        {"linear", HIST_FILL_LINEAR},
    };
    if (!name)
        return HIST_EINVAL;
    for (size_t i = 0; i < sizeof fills / sizeof fills[0]; i++) {
        if (!strcasecmp(name, fills[i].name)) {
            *out = fills[i].fill;
            return 0;
        }
    }
    return HIST_EINVAL;
}
