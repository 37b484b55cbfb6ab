/*
 * parse.c: the names of aggregates, modes and fills, shared by the HTTP
 * API and the Grafana endpoints (declared at the end of hist_query.h).
 * Times and durations are parsed in common/time.c (common/hist_time.h).
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

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
