/*
 * api_query_opts.c: the options of GET|POST /api/v1/query, from parameters
 * to an api_query_opts (and the engine's hist_query_spec inside it).
 *
 * Every parameter is checked strictly (docs/api.md): a bad value is a 400
 * naming the parameter, set here through api__reply_error(); a non-zero return
 * means that reply is already set. The limits on what one request may ask
 * for are in api_internal.h.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/api/api_internal.h"
#include "common/hist_tz.h"

/* ---- Options ------------------------------------------------------------------- */

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return HIST_EINVAL;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return HIST_EINVAL;
    if (v > max)
        return HIST_ERANGE;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
        *out = false;
        return 0;
    }
    return HIST_EINVAL;
}

/* A time zone name that is safe to hand to the engine: letters, digits and
 * _ + - /, no "..", at most 63 bytes. The engine checks it exists. */
static bool tz_name_ok(const char *tz)
{
    size_t n = strlen(tz);
    if (n == 0 || n >= 64 || strstr(tz, "..") || tz[0] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)tz[i];
        if (!isalnum(ch) && ch != '_' && ch != '+' && ch != '-' && ch != '/')
            return false;
    }
    return true;
}

/* "06:00,14:00,22:00" -> minutes after midnight, strictly ascending. */
static int parse_shifts(const char *s, hist_query_spec *spec)
{
    int n = 0, prev = -1;
    const char *p = s;
    while (*p) {
        if (n >= HIST_MAX_SHIFTS)
            return HIST_ERANGE;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
            !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
            return HIST_EINVAL;
        int h = (p[0] - '0') * 10 + (p[1] - '0'), m = (p[3] - '0') * 10 + (p[4] - '0');
        if (h > 23 || m > 59)
            return HIST_EINVAL;
        int min = h * 60 + m;
        if (min <= prev)
            return HIST_EINVAL;
        spec->shift_start_min[n++] = prev = min;
        p += 5;
        if (*p == ',')
            p++;
        else if (*p)
            return HIST_EINVAL;
    }
    if (n == 0)
        return HIST_EINVAL;
    spec->nshifts = n;
    return 0;
}

#define AGG_NAMES                                                                                  \
    "count, min, max, sum, mean, twa, stddev, first, last, range, integral, delta, "               \
    "duration_true, pct_good, time_min, time_max, changes, time_in_state:STATE, p50, p90, p95, "   \
    "p99, percentile:N"

/* One aggregate as typed: "p90", "time_in_state:3", "percentile:99.9". */
static int agg_item_or_reply(api_ctx *c, char *item, hist_agg *a, double *arg)
{
    char *colon = strchr(item, ':');
    if (colon)
        *colon = '\0';
    if (hist_agg_parse(item, a) < 0)
        return api__reply_error(c, 400, "agg", "unknown aggregate '%s' (" AGG_NAMES ")", item);
    *arg = 0;
    if (*a == HIST_AGG_TIME_IN_STATE) {
        if (!colon || hist_agg_parse_arg(*a, colon + 1, arg) < 0)
            return api__reply_error(c, 400, "agg",
                                    "time_in_state needs a state after a colon: an integer or "
                                    "true/false, e.g. time_in_state:3 (got '%s%s%s')",
                                    item, colon ? ":" : "", colon ? colon + 1 : "");
    } else if (*a == HIST_AGG_PERCENTILE) {
        if (!colon || hist_agg_parse_arg(*a, colon + 1, arg) < 0)
            return api__reply_error(c, 400, "agg",
                                    "percentile needs N with 0 < N < 100 after a colon, e.g. "
                                    "percentile:99.9 (got '%s%s%s')",
                                    item, colon ? ":" : "", colon ? colon + 1 : "");
    } else if (colon) {
        return api__reply_error(c, 400, "agg", "aggregate '%s' takes no ':' argument", item);
    }
    return 0;
}

/* Every "agg" value, each a comma list, in order; duplicates dropped. */
static int aggs_or_reply(api_ctx *c, const api_params *p, hist_query_spec *spec)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].key, "agg") != 0)
            continue;
        const char *s = p->v[i].value;
        while (*s) {
            while (*s == ' ') /* "min, max" as people type it */
                s++;
            size_t len = strcspn(s, ",");
            char name[48];
            hist_agg a;
            double arg;
            if (len == 0 || len >= sizeof name)
                return api__reply_error(c, 400, "agg", "agg: empty or unknown aggregate in '%s'",
                                        p->v[i].value);
            memcpy(name, s, len);
            name[len] = '\0';
            for (size_t e = len; e > 0 && name[e - 1] == ' ';)
                name[--e] = '\0';
            if (agg_item_or_reply(c, name, &a, &arg))
                return API_ANSWERED;
            bool dup = false;
            for (int k = 0; k < spec->naggs; k++)
                dup |= spec->aggs[k] == a && spec->agg_arg[k] == arg;
            if (!dup && spec->naggs >= HIST_MAX_AGGS)
                return api__reply_error(c, 400, "agg", "more than %d aggregates in one query",
                                        HIST_MAX_AGGS);
            if (!dup) {
                spec->aggs[spec->naggs] = a;
                spec->agg_arg[spec->naggs++] = arg;
            }
            s += len;
            if (*s == ',')
                s++;
        }
    }
    return 0;
}

int api__agg_types_or_reply(api_ctx *c, const hist_query_spec *spec, const api_tag_list *tags)
{
    if (spec->mode != HIST_MODE_AGG)
        return 0;
    bool states = false;
    for (int k = 0; k < spec->naggs; k++)
        states |= spec->aggs[k] == HIST_AGG_TIME_IN_STATE;
    for (size_t i = 0; states && i < tags->n; i++)
        if (tags->v[i].type == HIST_TYPE_FLOAT64)
            return api__reply_error(c, 400, "agg",
                                    "time_in_state applies to int64 and bool tags; '%s' is "
                                    "float64 (it has no states)",
                                    tags->v[i].name);
    return 0;
}

static int param_duration_or_reply(api_ctx *c, const char *key, const char *s, int64_t *out)
{
    int rc = hist_duration_parse(s, out);
    if (rc < 0 || *out <= 0)
        return api__reply_error(c, 400, key,
                                "%s: '%s' is not a positive duration (number + ns|us|ms|s|m|h|d|w)",
                                key, s);
    return 0;
}

static int bucket_or_reply(api_ctx *c, const char *s, api_query_opts *o)
{
    static const struct {
        const char *name;
        hist_bucket_kind kind;
    } kinds[] = {
        {"hour", HIST_BUCKET_HOUR},   {"day", HIST_BUCKET_DAY},     {"week", HIST_BUCKET_WEEK},
        {"month", HIST_BUCKET_MONTH}, {"shift", HIST_BUCKET_SHIFT},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (!strcmp(s, kinds[i].name)) {
            o->spec.bucket = kinds[i].kind;
            o->bucket_given = true;
            return 0;
        }
    }
    int64_t step;
    if (hist_duration_parse(s, &step) == 0 && step > 0) {
        o->spec.bucket = HIST_BUCKET_FIXED;
        o->spec.step_ns = step;
        o->step_given = true;
        return 0;
    }
    return api__reply_error(c, 400, "bucket",
                            "bucket must be hour, day, week, month, shift or a duration");
}

static int output_or_reply(api_ctx *c, const api_params *p, api_query_opts *o)
{
    const char *format = api__param(p, "format"), *shape = api__param(p, "shape");
    const char *tf = api__param(p, "time_format");
    o->format = API_FMT_JSON;
    o->shape = API_SHAPE_LONG;
    if (format) {
        if (!strcmp(format, "json") || !strcmp(format, "long"))
            ;
        else if (!strcmp(format, "csv"))
            o->format = API_FMT_CSV;
        else if (!strcmp(format, "wide"))
            o->shape = API_SHAPE_WIDE;
        else if (!strcmp(format, "table") || !strcmp(format, "timeseries"))
            ; /* Grafana's words; grafana.c reads them itself */
        else
            return api__reply_error(c, 400, "format", "format must be json, csv or wide");
    } else if (c->req->accept && strstr(c->req->accept, "text/csv")) {
        o->format = API_FMT_CSV;
    }
    if (shape) {
        if (!strcmp(shape, "wide"))
            o->shape = API_SHAPE_WIDE;
        else if (!strcmp(shape, "columns"))
            o->shape = API_SHAPE_COLUMNS;
        else if (strcmp(shape, "long"))
            return api__reply_error(c, 400, "shape", "shape must be long, wide or columns");
    }
    if (o->shape == API_SHAPE_COLUMNS && o->format == API_FMT_CSV)
        return api__reply_error(c, 400, "shape",
                                "shape=columns is JSON only (CSV has long and wide)");
    o->time_format = o->format == API_FMT_CSV ? API_TIME_RFC3339 : API_TIME_MS;
    if (tf) {
        o->time_format_given = true;
        if (!strcmp(tf, "ms"))
            o->time_format = API_TIME_MS;
        else if (!strcmp(tf, "ns"))
            o->time_format = API_TIME_NS;
        else if (!strcmp(tf, "s"))
            o->time_format = API_TIME_S;
        else if (!strcmp(tf, "rfc3339"))
            o->time_format = API_TIME_RFC3339;
        else
            return api__reply_error(c, 400, "time_format",
                                    "time_format must be ms, ns, s or rfc3339");
    }
    return 0;
}

/* csv_delimiter, decimal, bom: the spelling of a CSV answer (Excel in a
 * locale with a decimal comma opens ';' with ',' and a BOM as its own).
 * decimal=comma brings ';' unless a delimiter is given; with ',' it is a
 * 400, since numbers are never quoted. JSON answers refuse them. */
static int csv_style_or_reply(api_ctx *c, const api_params *p, api_query_opts *o)
{
    const char *sep = api__param(p, "csv_delimiter"), *dec = api__param(p, "decimal");
    const char *bom = api__param(p, "bom");
    o->csv = (api_csv_style){.sep = ','};
    const char *given = sep ? "csv_delimiter" : dec ? "decimal" : bom ? "bom" : NULL;
    if (given && o->format != API_FMT_CSV)
        return api__reply_error(c, 400, given, "%s is for CSV answers (format=csv)", given);
    if (dec && !strcmp(dec, "comma"))
        o->csv = (api_csv_style){.sep = ';', .decimal_comma = true};
    else if (dec && strcmp(dec, "point"))
        return api__reply_error(c, 400, "decimal", "decimal must be point or comma");
    if (sep && (!strcmp(sep, "tab") || !strcmp(sep, "\t")))
        o->csv.sep = '\t';
    else if (sep && (!strcmp(sep, ",") || !strcmp(sep, ";")))
        o->csv.sep = sep[0];
    else if (sep)
        return api__reply_error(c, 400, "csv_delimiter", "csv_delimiter must be ',', ';' or tab");
    if (o->csv.decimal_comma && o->csv.sep == ',')
        return api__reply_error(c, 400, "csv_delimiter",
                                "decimal=comma needs csv_delimiter ';' or tab");
    if (bom && parse_bool(bom, &o->csv.bom) < 0)
        return api__reply_error(c, 400, "bom", "bom must be true or false");
    return 0;
}

/* The step that cuts span into points pieces, rounded up. A span over
 * INT64_MAX ns (1800 to 2150 is 350 years) in one piece would overflow the
 * step's int64: it is capped there (two pieces then cover the span). */
static int64_t step_of(uint64_t span, uint32_t points)
{
    uint64_t step = span / points + (span % points != 0);
    return step > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)step;
}

/* boundary=inside (default) or outside: raw and plot only. */
static int boundary_or_reply(api_ctx *c, const api_params *p, hist_query_spec *spec)
{
    const char *s = api__param(p, "boundary");
    if (!s || !*s || !strcmp(s, "inside"))
        return 0;
    if (strcmp(s, "outside"))
        return api__reply_error(c, 400, "boundary", "boundary must be inside or outside");
    if (spec->mode != HIST_MODE_RAW && spec->mode != HIST_MODE_PLOT)
        return api__reply_error(c, 400, "boundary",
                                "boundary=outside applies to mode raw and plot only");
    spec->boundary = HIST_BOUNDARY_OUTSIDE;
    return 0;
}

/* tz=ZONE: checked and loaded here, so an unknown zone is a 400 naming tz
 * and not a refusal from deep inside the engine; o->tz then reads the
 * zone-less times of the request and writes the answer's times. */
static int tz_or_reply(api_ctx *c, const api_params *p, api_query_opts *o)
{
    const char *s = api__param(p, "tz");
    if (!s || !*s)
        return 0;
    if (!tz_name_ok(s))
        return api__reply_error(c, 400, "tz",
                                "tz must be an IANA time zone name such as "
                                "Europe/Berlin");
    if (hist_tz_load(s, &o->tz) < 0)
        return api__reply_error(c, 400, "tz", "unknown time zone '%s'", s);
    snprintf(o->spec.tz, sizeof o->spec.tz, "%s", s);
    return 0;
}

/* at=TIME: the time of mode=value, which needs it; no other mode takes it.
 * Read as from and to are (the request's zone and shifts). */
static int at_or_reply(api_ctx *c, const api_params *p, const hist_tz *tz,
                       const hist_tz_shifts *shifts, hist_query_spec *spec)
{
    const char *s = api__param(p, "at");
    if (spec->mode != HIST_MODE_VALUE) {
        if (s)
            return api__reply_error(c, 400, "at", "at applies to mode=value only");
        return 0;
    }
    if (!s || !*s)
        return api__reply_error(c, 400, "at", "mode=value needs at (a time)");
    return api__params_time_or_reply(c, p, "at", NULL, tz, shifts, &spec->at) ? API_ANSWERED : 0;
}

/* shifts=06:00,14:00,22:00 (a JSON array's values joined by commas). */
static int shifts_or_reply(api_ctx *c, const api_params *p, hist_query_spec *spec)
{
    const char *s = api__param(p, "shifts");
    if (!s || !*s)
        return 0;
    char joined[128] = "";
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].key, "shifts"))
            continue;
        size_t have = strlen(joined);
        snprintf(joined + have, sizeof joined - have, "%s%s", have ? "," : "", p->v[i].value);
    }
    if (parse_shifts(joined, spec) < 0)
        return api__reply_error(c, 400, "shifts",
                                "shifts must be ascending local start times such as "
                                "06:00,14:00,22:00 (at most %d)",
                                HIST_MAX_SHIFTS);
    return 0;
}

static int opts_or_reply(api_ctx *c, const api_params *p, int64_t default_from, int64_t default_to,
                         hist_mode default_mode, api_query_opts *o)
{
    hist_query_spec *spec = &o->spec;
    hist_query_spec_init(spec);
    spec->mode = default_mode;
    spec->fill = HIST_FILL_NULL;
    const char *s;

    if (aggs_or_reply(c, p, spec))
        return API_ANSWERED;
    if ((s = api__param(p, "mode")) && *s) {
        if (hist_mode_parse(s, &spec->mode) < 0)
            return api__reply_error(c, 400, "mode",
                                    "mode must be raw, latest, interp, aggregate, plot or value");
    } else if (spec->naggs > 0) {
        spec->mode = HIST_MODE_AGG; /* agg=... alone asks for aggregates */
    }
    /* shifts first: "now/shift" in from/to/at rounds to them */
    if (shifts_or_reply(c, p, spec))
        return API_ANSWERED;
    hist_tz_shifts shifts = {spec->shift_start_min, spec->nshifts};
    const hist_tz_shifts *sh = spec->nshifts ? &shifts : NULL;
    if (tz_or_reply(c, p, o) ||
        api__params_time_or_reply(c, p, "to", &default_to, o->tz, sh, &spec->to) ||
        api__params_time_or_reply(c, p, "from", &default_from, o->tz, sh, &spec->from))
        return API_ANSWERED;
    if (!api__param(p, "from") && !api__param(p, "to") && spec->to <= spec->from)
        spec->from = spec->to - INT64_C(3600000000000);
    if (spec->mode == HIST_MODE_LATEST && spec->from >= spec->to)
        spec->from = spec->to - 1; /* latest ignores the range */
    if (spec->from >= spec->to)
        return api__reply_error(c, 400, "from", "from must be before to");

    unsigned long long u;
    if ((s = api__param(p, "limit"))) {
        if (parse_uint(s, API_MAX_LIMIT, &u) < 0 || u == 0)
            return api__reply_error(c, 400, "limit", "limit must be a whole number from 1 to %d",
                                    API_MAX_LIMIT);
        spec->limit = (size_t)u;
    } else {
        spec->limit = API_DEFAULT_LIMIT;
    }
    if ((s = api__param(p, "points"))) {
        if (parse_uint(s, API_MAX_POINTS, &u) < 0 || u == 0)
            return api__reply_error(c, 400, "points", "points must be a whole number from 1 to %d",
                                    API_MAX_POINTS);
        spec->points = (uint32_t)u;
    }
    if ((s = api__param(p, "step"))) {
        if (param_duration_or_reply(c, "step", s, &spec->step_ns))
            return API_ANSWERED;
        o->step_given = true;
    }
    if ((s = api__param(p, "bucket")) && *s) {
        if (bucket_or_reply(c, s, o))
            return API_ANSWERED;
    } else if (spec->nshifts > 0) {
        spec->bucket = HIST_BUCKET_SHIFT;
        o->bucket_given = true;
    }
    if (spec->bucket == HIST_BUCKET_SHIFT && spec->nshifts == 0) {
        spec->shift_start_min[0] = 6 * 60; /* the classic three-shift day */
        spec->shift_start_min[1] = 14 * 60;
        spec->shift_start_min[2] = 22 * 60;
        spec->nshifts = 3;
    }
    if ((s = api__param(p, "fill")) && *s) {
        if (hist_fill_parse(s, &spec->fill) < 0)
            return api__reply_error(c, 400, "fill", "fill must be none, null, previous or linear");
    }
    if ((s = api__param(p, "include_bad"))) {
        if (parse_bool(s, &spec->include_bad) < 0)
            return api__reply_error(c, 400, "include_bad", "include_bad must be true or false");
    }
    if (boundary_or_reply(c, p, spec) || at_or_reply(c, p, o->tz, sh, spec))
        return API_ANSWERED;
    o->cursor = api__param(p, "cursor");
    if (o->cursor && !*o->cursor)
        o->cursor = NULL;
    if (output_or_reply(c, p, o) || csv_style_or_reply(c, p, o))
        return API_ANSWERED;

    /* Mode-specific requirements. */
    uint64_t span = api__span(spec->from, spec->to); /* never overflows */
    switch (spec->mode) {
    case HIST_MODE_INTERP:
        if (!o->step_given && spec->points)
            spec->step_ns = step_of(span, spec->points);
        else if (!o->step_given)
            return api__reply_error(c, 400, "step", "interp needs step (e.g. 1m) or points");
        if (span / (uint64_t)spec->step_ns > API_MAX_BUCKETS)
            return api__reply_error(c, 400, "step", "step too small: more than %d points per tag",
                                    API_MAX_BUCKETS);
        break;
    case HIST_MODE_AGG:
        if (spec->naggs == 0) {
            spec->aggs[0] = HIST_AGG_MEAN;
            spec->naggs = 1;
        }
        if (spec->bucket == HIST_BUCKET_FIXED) {
            if (!o->step_given && spec->points)
                spec->step_ns = step_of(span, spec->points);
            else if (!o->step_given)
                return api__reply_error(c, 400, "step",
                                        "aggregate needs step (e.g. 1h), bucket (hour, day, week, "
                                        "month, shift) or points");
            if (span / (uint64_t)spec->step_ns > API_MAX_BUCKETS)
                return api__reply_error(c, 400, "step",
                                        "step too small: more than %d buckets per tag",
                                        API_MAX_BUCKETS);
        }
        break;
    case HIST_MODE_PLOT:
        if (!spec->points)
            spec->points = 1000;
        break;
    default:
        break;
    }
    return 0;
}

int api__query_opts_or_reply(api_ctx *c, const api_params *p, int64_t default_from,
                             int64_t default_to, hist_mode default_mode, api_query_opts *o)
{
    memset(o, 0, sizeof *o);
    int rc = opts_or_reply(c, p, default_from, default_to, default_mode, o);
    if (rc)
        api__query_opts_free(o);
    return rc;
}

void api__query_opts_free(api_query_opts *o)
{
    hist_tz_free(o->tz);
    o->tz = NULL;
}
