/*
 * api_query.c: GET|POST /api/v1/query, the historian's read endpoint.
 *
 * Parameters (query string, form body or JSON body; see docs/api.md):
 *   tag (repeatable) | pattern (glob, repeatable), from, to, mode, step,
 *   points, agg (comma list), bucket, tz, shifts, fill, include_bad, limit,
 *   cursor, format (json|csv|wide), shape (long|wide|columns), time_format.
 * Output: by default a flat JSON array of rows, one per sample or bucket,
 * which Grafana's Infinity datasource maps to a table without any
 * transformation:
 *   raw/latest/interp/plot  {"time": ms, "tag": name, "value": v, "quality": q}
 *   aggregate               {"time": ms, "time_end": ms, "tag": name, "<agg>": v...}
 * A raw answer cut by the limit carries the continuation in the header
 * X-Historian-Next (pass it back as cursor=...); one that left damaged
 * chunks out says how many in X-Historian-Damaged-Chunks (api.c).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/api_internal.h"
#include "query/tz.h"

#define API_MAX_TAGS      10000
#define API_DEFAULT_LIMIT 10000
#define API_MAX_LIMIT     1000000
#define API_MAX_POINTS    100000
#define API_MAX_BUCKETS   1000000
#define API_MAX_ROWS      20000000 /* rows per answer, all tags together */

int64_t api_ns_to_ms(int64_t ns)
{
    int64_t ms = ns / 1000000;
    if (ns % 1000000 < 0)
        ms--; /* floor, so times before 1970 stay ordered */
    return ms;
}

void api_json_value(hist_json *j, hist_type type, hist_value v)
{
    if (type == HIST_TYPE_FLOAT64)
        hist_json_double(j, v.f);
    else
        hist_json_int(j, v.i);
}

/* A value in CSV: what `historian import` reads back to the same sample
 * (bool as true/false, NaN and infinities spelled out for strtod). */
static void buf_value(hist_buf *b, hist_type type, hist_value v)
{
    if (type == HIST_TYPE_FLOAT64) {
        if (isfinite(v.f))
            hist_buf_double(b, v.f);
        else if (isnan(v.f))
            hist_buf_puts(b, "NaN");
        else
            hist_buf_puts(b, v.f > 0 ? "Inf" : "-Inf");
    } else if (type == HIST_TYPE_BOOL) {
        hist_buf_puts(b, v.i ? "true" : "false");
    } else {
        hist_buf_printf(b, "%lld", (long long)v.i);
    }
}

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

/* Every "agg" value, each a comma list, in order; duplicates dropped. */
static int parse_aggs(api_ctx *c, const api_params *p, hist_query_spec *spec)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].key, "agg") != 0)
            continue;
        const char *s = p->v[i].value;
        while (*s) {
            while (*s == ' ') /* "min, max" as people type it */
                s++;
            size_t len = strcspn(s, ",");
            char name[32];
            hist_agg a;
            if (len == 0 || len >= sizeof name)
                return api_error(c, 400, "agg", "agg: empty or unknown aggregate in '%s'",
                                 p->v[i].value),
                       1;
            memcpy(name, s, len);
            name[len] = '\0';
            for (size_t e = len; e > 0 && name[e - 1] == ' ';)
                name[--e] = '\0';
            if (hist_agg_parse(name, &a) < 0)
                return api_error(c, 400, "agg",
                                 "unknown aggregate '%s' (count, min, max, sum, mean, twa, "
                                 "stddev, first, last, range, integral, delta, duration_true)",
                                 name),
                       1;
            bool dup = false;
            for (int k = 0; k < spec->naggs; k++)
                dup |= spec->aggs[k] == a;
            if (!dup)
                spec->aggs[spec->naggs++] = a;
            s += len;
            if (*s == ',')
                s++;
        }
    }
    return 0;
}

static int parse_time_param(api_ctx *c, const api_params *p, const char *key, int64_t def,
                            int64_t *out)
{
    const char *s = api_param(p, key);
    if (!s || !*s) {
        *out = def;
        return 0;
    }
    int rc = hist_time_parse(s, c->req->now_ns, out);
    if (rc == HIST_ERANGE)
        return api_error(c, 400, key, "%s: time '%s' is out of range", key, s), 1;
    if (rc < 0)
        return api_error(c, 400, key,
                         "%s: cannot read time '%s' (RFC 3339, epoch ms, now, -24h, now-7d)", key,
                         s),
               1;
    return 0;
}

static int parse_duration_param(api_ctx *c, const char *key, const char *s, int64_t *out)
{
    int rc = hist_duration_parse(s, out);
    if (rc < 0 || *out <= 0)
        return api_error(c, 400, key,
                         "%s: '%s' is not a positive duration (number + ns|us|ms|s|m|h|d|w)", key,
                         s),
               1;
    return 0;
}

static int parse_bucket(api_ctx *c, const char *s, api_query_opts *o)
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
    return api_error(c, 400, "bucket",
                     "bucket must be hour, day, week, month, shift or a duration"),
           1;
}

static int parse_output(api_ctx *c, const api_params *p, api_query_opts *o)
{
    const char *format = api_param(p, "format"), *shape = api_param(p, "shape");
    const char *tf = api_param(p, "time_format");
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
            return api_error(c, 400, "format", "format must be json, csv or wide"), 1;
    } else if (c->req->accept && strstr(c->req->accept, "text/csv")) {
        o->format = API_FMT_CSV;
    }
    if (shape) {
        if (!strcmp(shape, "wide"))
            o->shape = API_SHAPE_WIDE;
        else if (!strcmp(shape, "columns"))
            o->shape = API_SHAPE_COLUMNS;
        else if (strcmp(shape, "long"))
            return api_error(c, 400, "shape", "shape must be long, wide or columns"), 1;
    }
    if (o->shape == API_SHAPE_COLUMNS && o->format == API_FMT_CSV)
        return api_error(c, 400, "shape", "shape=columns is JSON only (CSV has long and wide)"), 1;
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
            return api_error(c, 400, "time_format", "time_format must be ms, ns, s or rfc3339"), 1;
    }
    return 0;
}

int api_query_opts_parse(api_ctx *c, const api_params *p, int64_t default_from, int64_t default_to,
                         hist_mode default_mode, api_query_opts *o)
{
    memset(o, 0, sizeof *o);
    hist_query_spec *spec = &o->spec;
    hist_query_spec_init(spec);
    spec->mode = default_mode;
    spec->fill = HIST_FILL_NULL;
    const char *s;

    if (parse_aggs(c, p, spec))
        return 1;
    if ((s = api_param(p, "mode")) && *s) {
        if (hist_mode_parse(s, &spec->mode) < 0)
            return api_error(c, 400, "mode", "mode must be raw, latest, interp, aggregate or plot"),
                   1;
    } else if (spec->naggs > 0) {
        spec->mode = HIST_MODE_AGG; /* agg=... alone asks for aggregates */
    }
    if (parse_time_param(c, p, "to", default_to, &spec->to))
        return 1;
    if (parse_time_param(c, p, "from", default_from, &spec->from))
        return 1;
    if (!api_param(p, "from") && !api_param(p, "to") && spec->to <= spec->from)
        spec->from = spec->to - INT64_C(3600000000000);
    if (spec->mode == HIST_MODE_LATEST && spec->from >= spec->to)
        spec->from = spec->to - 1; /* latest ignores the range */
    if (spec->from >= spec->to)
        return api_error(c, 400, "from", "from must be before to"), 1;

    unsigned long long u;
    if ((s = api_param(p, "limit"))) {
        if (parse_uint(s, API_MAX_LIMIT, &u) < 0 || u == 0)
            return api_error(c, 400, "limit", "limit must be a whole number from 1 to %d",
                             API_MAX_LIMIT),
                   1;
        spec->limit = (size_t)u;
    } else {
        spec->limit = API_DEFAULT_LIMIT;
    }
    if ((s = api_param(p, "points"))) {
        if (parse_uint(s, API_MAX_POINTS, &u) < 0 || u == 0)
            return api_error(c, 400, "points", "points must be a whole number from 1 to %d",
                             API_MAX_POINTS),
                   1;
        spec->points = (uint32_t)u;
    }
    if ((s = api_param(p, "step"))) {
        if (parse_duration_param(c, "step", s, &spec->step_ns))
            return 1;
        o->step_given = true;
    }
    if ((s = api_param(p, "tz")) && *s) {
        if (!tz_name_ok(s))
            return api_error(c, 400, "tz",
                             "tz must be an IANA time zone name such as "
                             "Europe/Berlin"),
                   1;
        /* Loaded once here so an unknown zone is a 400 naming tz, not a
         * refusal from deep inside the engine. */
        hist_tz *tz = NULL;
        if (hist_tz_load(s, &tz) < 0)
            return api_error(c, 400, "tz", "unknown time zone '%s'", s), 1;
        hist_tz_free(tz);
        snprintf(spec->tz, sizeof spec->tz, "%s", s);
    }
    if ((s = api_param(p, "shifts")) && *s) {
        /* Several "shifts" values (a JSON array) are joined by commas. */
        char joined[128] = "";
        for (size_t i = 0; i < p->n; i++) {
            if (strcmp(p->v[i].key, "shifts"))
                continue;
            size_t have = strlen(joined);
            snprintf(joined + have, sizeof joined - have, "%s%s", have ? "," : "", p->v[i].value);
        }
        if (parse_shifts(joined, spec) < 0)
            return api_error(c, 400, "shifts",
                             "shifts must be ascending local start times such as "
                             "06:00,14:00,22:00 (at most %d)",
                             HIST_MAX_SHIFTS),
                   1;
    }
    if ((s = api_param(p, "bucket")) && *s) {
        if (parse_bucket(c, s, o))
            return 1;
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
    if ((s = api_param(p, "fill")) && *s) {
        if (hist_fill_parse(s, &spec->fill) < 0)
            return api_error(c, 400, "fill", "fill must be none, null, previous or linear"), 1;
    }
    if ((s = api_param(p, "include_bad"))) {
        if (parse_bool(s, &spec->include_bad) < 0)
            return api_error(c, 400, "include_bad", "include_bad must be true or false"), 1;
    }
    o->cursor = api_param(p, "cursor");
    if (o->cursor && !*o->cursor)
        o->cursor = NULL;
    if (parse_output(c, p, o))
        return 1;

    /* Mode-specific requirements. */
    uint64_t span = (uint64_t)(spec->to - spec->from);
    switch (spec->mode) {
    case HIST_MODE_INTERP:
        if (!o->step_given && spec->points)
            spec->step_ns = (int64_t)((span + spec->points - 1) / spec->points);
        else if (!o->step_given)
            return api_error(c, 400, "step", "interp needs step (e.g. 1m) or points"), 1;
        if (span / (uint64_t)spec->step_ns > API_MAX_BUCKETS)
            return api_error(c, 400, "step", "step too small: more than %d points per tag",
                             API_MAX_BUCKETS),
                   1;
        break;
    case HIST_MODE_AGG:
        if (spec->naggs == 0) {
            spec->aggs[0] = HIST_AGG_MEAN;
            spec->naggs = 1;
        }
        if (spec->bucket == HIST_BUCKET_FIXED) {
            if (!o->step_given && spec->points)
                spec->step_ns = (int64_t)((span + spec->points - 1) / spec->points);
            else if (!o->step_given)
                return api_error(c, 400, "step",
                                 "aggregate needs step (e.g. 1h), bucket (hour, day, week, "
                                 "month, shift) or points"),
                       1;
            if (span / (uint64_t)spec->step_ns > API_MAX_BUCKETS)
                return api_error(c, 400, "step", "step too small: more than %d buckets per tag",
                                 API_MAX_BUCKETS),
                       1;
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

/* ---- Tags of the request ------------------------------------------------------ */

static int collect_tags(api_ctx *c, const api_params *p, api_tag_list *tags)
{
    bool any = false;
    for (size_t i = 0; i < p->n; i++) {
        const char *k = p->v[i].key, *v = p->v[i].value;
        if (!strcmp(k, "tag") || !strcmp(k, "tags")) {
            any = true;
            hist_tag_info info;
            int rc = hist_tag_by_name(c->db, v, &info);
            if (rc == HIST_ENOTFOUND)
                return api_error(c, 404, "tag", "unknown tag '%s'", v), 1;
            if (rc < 0)
                return api_internal_error(c, rc), 1;
            if (tags->n >= API_MAX_TAGS)
                return api_error(c, 400, "tag", "more than %d tags in one query", API_MAX_TAGS), 1;
            if (api_tag_list_add(tags, &info) < 0)
                return api_internal_error(c, HIST_ENOMEM), 1;
        } else if (!strcmp(k, "pattern")) {
            any = true;
            if (!*v)
                return api_error(c, 400, "pattern", "empty pattern"), 1;
            int rc = api_tags_match(c->db, v, API_MAX_TAGS, tags);
            if (rc == HIST_ENOSPC)
                return api_error(c, 400, "pattern", "pattern matches more than %d tags",
                                 API_MAX_TAGS),
                       1;
            if (rc < 0)
                return api_internal_error(c, rc), 1;
        }
    }
    if (!any)
        return api_error(c, 400, "tag", "name at least one tag (tag=...) or a pattern"), 1;
    return 0;
}

/* ---- Cursor: "id:ts,id:ts" (a raw answer's unfinished tags) ---------------- */

typedef struct {
    uint32_t id;
    int64_t from;
} cursor_entry;

static int parse_cursor(const char *s, cursor_entry **out, size_t *n_out)
{
    size_t cap = 1;
    for (const char *q = s; *q; q++)
        cap += *q == ',';
    cursor_entry *v = calloc(cap, sizeof *v);
    if (!v)
        return HIST_ENOMEM;
    size_t n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p))
            goto bad;
        unsigned long long id = strtoull(p, &end, 10);
        if (*end != ':' || id == 0 || id > UINT32_MAX)
            goto bad;
        p = end + 1;
        if (!isdigit((unsigned char)*p) && *p != '-')
            goto bad;
        long long ts = strtoll(p, &end, 10);
        if (end == p || ts < HIST_TS_MIN || ts > HIST_TS_MAX)
            goto bad;
        v[n].id = (uint32_t)id;
        v[n].from = ts;
        n++;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            goto bad;
    }
    if (n == 0)
        goto bad;
    *out = v;
    *n_out = n;
    return 0;
bad:
    free(v);
    return HIST_EINVAL;
}

/* ---- Running ----------------------------------------------------------------- */

/* One answer: per tag its metadata and its result series. */
typedef struct {
    size_t n;
    hist_tag_info *tags;
    hist_series_result **series;
    hist_result *results; /* what to free */
    size_t nresults;
} answer;

static void answer_free(answer *a)
{
    for (size_t i = 0; i < a->nresults; i++)
        hist_result_free(&a->results[i]);
    free(a->results);
    free(a->series);
    memset(a, 0, sizeof *a);
}

static int engine_error(api_ctx *c, int rc)
{
    if (rc == HIST_EINVAL || rc == HIST_ERANGE)
        return api_error(c, 400, NULL,
                         "the query engine refused the request: %s "
                         "(check range, step, bucket and tz)",
                         hist_strerror(rc));
    if (rc == HIST_EUNSUPPORTED)
        return api_error(c, 400, "mode", "not supported by this build: %s", hist_strerror(rc));
    return api_internal_error(c, rc);
}

/* Runs the query over tags; with a cursor each listed tag resumes at its own
 * time and unlisted tags are done. 0, or 1 with an error answer set. */
static int run(api_ctx *c, api_query_opts *o, api_tag_list *tags, answer *a)
{
    memset(a, 0, sizeof *a);
    cursor_entry *cur = NULL;
    size_t ncur = 0;
    if (o->cursor && o->spec.mode == HIST_MODE_RAW) {
        if (parse_cursor(o->cursor, &cur, &ncur) < 0)
            return api_error(c, 400, "cursor", "malformed cursor (pass X-Historian-Next back)"), 1;
        /* Keep only tags named by the cursor, in request order. */
        size_t k = 0;
        for (size_t i = 0; i < tags->n; i++) {
            for (size_t j = 0; j < ncur; j++) {
                if (cur[j].id == tags->v[i].id) {
                    tags->v[k++] = tags->v[i];
                    break;
                }
            }
        }
        tags->n = k;
    }
    a->n = tags->n;
    a->tags = tags->v;
    size_t nres = cur ? tags->n : 1;
    a->results = calloc(nres ? nres : 1, sizeof *a->results);
    a->series = calloc(tags->n ? tags->n : 1, sizeof *a->series);
    if (!a->results || !a->series) {
        free(cur);
        return api_internal_error(c, HIST_ENOMEM), 1;
    }
    if (tags->n == 0) {
        free(cur);
        return 0;
    }
    uint32_t *ids = malloc(tags->n * sizeof *ids);
    if (!ids) {
        free(cur);
        return api_internal_error(c, HIST_ENOMEM), 1;
    }
    for (size_t i = 0; i < tags->n; i++)
        ids[i] = tags->v[i].id;
    int rc = 0;
    if (!cur) {
        rc = hist_query_run(c->db, &o->spec, ids, tags->n, &a->results[0]);
        if (rc >= 0) {
            c->damaged_chunks += a->results[0].damaged_chunks;
            a->nresults = 1;
            for (size_t i = 0; i < tags->n && i < a->results[0].nseries; i++)
                a->series[i] = &a->results[0].series[i];
        }
    } else {
        for (size_t i = 0; i < tags->n && rc >= 0; i++) {
            hist_query_spec spec = o->spec;
            for (size_t j = 0; j < ncur; j++)
                if (cur[j].id == ids[i] && cur[j].from > spec.from)
                    spec.from = cur[j].from;
            if (spec.from >= spec.to)
                spec.from = spec.to - 1;
            rc = hist_query_run(c->db, &spec, &ids[i], 1, &a->results[i]);
            if (rc >= 0) {
                c->damaged_chunks += a->results[i].damaged_chunks;
                a->nresults++;
                a->series[i] = a->results[i].nseries ? &a->results[i].series[0] : NULL;
            }
        }
    }
    free(ids);
    free(cur);
    if (rc < 0)
        return engine_error(c, rc), 1;
    return 0;
}

/* ---- Rendering ---------------------------------------------------------------- */

static void json_time(hist_json *j, const api_query_opts *o, int64_t ns)
{
    switch (o->time_format) {
    case API_TIME_NS:
        hist_json_int(j, ns);
        break;
    case API_TIME_S:
        hist_json_double(j, (double)ns / 1e9);
        break;
    case API_TIME_RFC3339: {
        hist_buf b;
        hist_buf_init(&b);
        hist_buf_rfc3339(&b, ns);
        hist_json_string(j, b.data ? b.data : "");
        hist_buf_free(&b);
        break;
    }
    default:
        hist_json_int(j, api_ns_to_ms(ns));
    }
}

static size_t fmt_time_num(char *out, int64_t ns, const api_query_opts *o);

static void csv_time(hist_buf *b, const api_query_opts *o, int64_t ns)
{
    if (o->time_format == API_TIME_RFC3339) {
        hist_buf_rfc3339(b, ns);
        return;
    }
    char tmp[HIST_FMT_MAX];
    hist_buf_append(b, tmp, fmt_time_num(tmp, ns, o));
}

static bool mode_is_agg(const api_query_opts *o)
{
    return o->spec.mode == HIST_MODE_AGG;
}

static void render_long_json(const answer *a, const api_query_opts *o, hist_json *j)
{
    hist_json_begin_array(j);
    for (size_t t = 0; t < a->n; t++) {
        const hist_series_result *s = a->series[t];
        if (!s)
            continue;
        for (size_t r = 0; r < s->n; r++) {
            hist_json_begin_object(j);
            hist_json_key(j, "time");
            json_time(j, o, s->ts[r]);
            if (mode_is_agg(o)) {
                hist_json_key(j, "time_end");
                json_time(j, o, s->ts_end ? s->ts_end[r] : s->ts[r]);
            }
            hist_json_key(j, "tag");
            hist_json_string(j, a->tags[t].name);
            if (mode_is_agg(o)) {
                for (int k = 0; k < o->spec.naggs; k++) {
                    hist_json_key(j, hist_agg_name(o->spec.aggs[k]));
                    hist_json_double(j, s->col[k] ? s->col[k][r] : NAN);
                }
            } else {
                hist_json_key(j, "value");
                api_json_value(j, s->type, s->value[r]);
                hist_json_key(j, "quality");
                hist_json_uint(j, s->q ? s->q[r] : 0);
            }
            hist_json_end_object(j);
        }
    }
    hist_json_end_array(j);
}

/* One cell of a column, written into out (HIST_FMT_MAX bytes); k is the
 * aggregate's column. */
typedef size_t (*cell_fmt)(char *out, const hist_series_result *s, const api_query_opts *o,
                           size_t r, int k);

static size_t fmt_time_num(char *out, int64_t ns, const api_query_opts *o)
{
    if (o->time_format == API_TIME_NS)
        return hist_fmt_i64(out, ns);
    if (o->time_format == API_TIME_S)
        return hist_fmt_double(out, (double)ns / 1e9);
    return hist_fmt_i64(out, api_ns_to_ms(ns));
}

static size_t cell_time(char *out, const hist_series_result *s, const api_query_opts *o, size_t r,
                        int k)
{
    (void)k;
    return fmt_time_num(out, s->ts[r], o);
}

static size_t cell_time_end(char *out, const hist_series_result *s, const api_query_opts *o,
                            size_t r, int k)
{
    (void)k;
    return fmt_time_num(out, s->ts_end ? s->ts_end[r] : s->ts[r], o);
}

static size_t cell_value(char *out, const hist_series_result *s, const api_query_opts *o, size_t r,
                         int k)
{
    (void)o, (void)k;
    if (s->type == HIST_TYPE_FLOAT64)
        return hist_fmt_double(out, s->value[r].f);
    return hist_fmt_i64(out, s->value[r].i);
}

static size_t cell_quality(char *out, const hist_series_result *s, const api_query_opts *o,
                           size_t r, int k)
{
    (void)o, (void)k;
    return hist_fmt_i64(out, s->q ? s->q[r] : 0);
}

static size_t cell_agg(char *out, const hist_series_result *s, const api_query_opts *o, size_t r,
                       int k)
{
    (void)o;
    return hist_fmt_double(out, s->col[k] ? s->col[k][r] : NAN);
}

/* "key": [cells...], written straight into the buffer: the JSON writer's
 * state machine runs once per column, not once per cell. RFC 3339 times
 * (strings) take the writer's path. */
static void json_column(hist_json *j, const char *key, const hist_series_result *s,
                        const api_query_opts *o, int k, cell_fmt fmt)
{
    hist_json_key(j, key);
    hist_json_begin_array(j);
    if (o->time_format == API_TIME_RFC3339 && (fmt == cell_time || fmt == cell_time_end)) {
        for (size_t r = 0; r < s->n; r++)
            json_time(j, o, fmt == cell_time || !s->ts_end ? s->ts[r] : s->ts_end[r]);
    } else {
        for (size_t r = 0; r < s->n; r++) {
            char *p = hist_buf_space(&j->buf, HIST_FMT_MAX + 1);
            if (!p)
                break; /* the buffer is marked failed: the reply is a 500 */
            size_t n = r > 0;
            if (r > 0)
                p[0] = ',';
            hist_buf_commit(&j->buf, n + fmt(p + n, s, o, r, k));
        }
    }
    hist_json_end_array(j);
}

/* Columns shape: one object per tag, an array per column. About a quarter
 * of the long shape's bytes for raw data (the tag and the keys are written
 * once, not per sample), and what a data frame (Grafana, pandas) holds. */
static void render_columns_json(const answer *a, const api_query_opts *o, hist_json *j)
{
    hist_json_begin_array(j);
    for (size_t t = 0; t < a->n; t++) {
        const hist_series_result *s = a->series[t];
        if (!s)
            continue;
        hist_json_begin_object(j);
        hist_json_key(j, "tag");
        hist_json_string(j, a->tags[t].name);
        json_column(j, "time", s, o, 0, cell_time);
        if (mode_is_agg(o)) {
            json_column(j, "time_end", s, o, 0, cell_time_end);
            for (int k = 0; k < o->spec.naggs; k++)
                json_column(j, hist_agg_name(o->spec.aggs[k]), s, o, k, cell_agg);
        } else {
            json_column(j, "value", s, o, 0, cell_value);
            json_column(j, "quality", s, o, 0, cell_quality);
        }
        hist_json_end_object(j);
    }
    hist_json_end_array(j);
}

static void render_long_csv(const answer *a, const api_query_opts *o, hist_buf *b)
{
    if (mode_is_agg(o)) {
        hist_buf_puts(b, "tag,time,time_end");
        for (int k = 0; k < o->spec.naggs; k++)
            hist_buf_printf(b, ",%s", hist_agg_name(o->spec.aggs[k]));
        hist_buf_puts(b, "\n");
    } else {
        hist_buf_puts(b, "tag,time,value,quality\n");
    }
    for (size_t t = 0; t < a->n; t++) {
        const hist_series_result *s = a->series[t];
        if (!s)
            continue;
        for (size_t r = 0; r < s->n; r++) {
            hist_buf_csv_field(b, a->tags[t].name);
            hist_buf_puts(b, ",");
            csv_time(b, o, s->ts[r]);
            if (mode_is_agg(o)) {
                hist_buf_puts(b, ",");
                csv_time(b, o, s->ts_end ? s->ts_end[r] : s->ts[r]);
                for (int k = 0; k < o->spec.naggs; k++) {
                    hist_buf_puts(b, ",");
                    double v = s->col[k] ? s->col[k][r] : NAN;
                    if (isfinite(v))
                        hist_buf_double(b, v);
                }
            } else {
                hist_buf_puts(b, ",");
                buf_value(b, s->type, s->value[r]);
                hist_buf_printf(b, ",%u", s->q ? s->q[r] : 0);
            }
            hist_buf_puts(b, "\n");
        }
    }
}

/* Wide shape: one row per distinct time, a column per tag (or per
 * "tag:agg"); a k-way merge over the series, which are sorted by time. */
static int render_wide(const answer *a, const api_query_opts *o, hist_json *j, hist_buf *b)
{
    size_t *pos = calloc(a->n ? a->n : 1, sizeof *pos);
    if (!pos)
        return HIST_ENOMEM;
    bool agg = mode_is_agg(o);
    int ncol = agg ? o->spec.naggs : 1;
    char name[HIST_TAG_NAME_MAX + 40];
    if (b) {
        hist_buf_puts(b, agg ? "time,time_end" : "time");
        for (size_t t = 0; t < a->n; t++) {
            for (int k = 0; k < ncol; k++) {
                if (agg)
                    snprintf(name, sizeof name, "%s:%s", a->tags[t].name,
                             hist_agg_name(o->spec.aggs[k]));
                else
                    snprintf(name, sizeof name, "%s", a->tags[t].name);
                hist_buf_puts(b, ",");
                hist_buf_csv_field(b, name);
            }
        }
        hist_buf_puts(b, "\n");
    } else {
        hist_json_begin_array(j);
    }
    for (;;) {
        int64_t t_min = INT64_MAX, t_end = INT64_MAX;
        bool any = false;
        for (size_t t = 0; t < a->n; t++) {
            const hist_series_result *s = a->series[t];
            if (s && pos[t] < s->n && s->ts[pos[t]] <= t_min) {
                t_min = s->ts[pos[t]];
                any = true;
            }
        }
        if (!any)
            break;
        for (size_t t = 0; t < a->n; t++) {
            const hist_series_result *s = a->series[t];
            if (s && pos[t] < s->n && s->ts[pos[t]] == t_min) {
                t_end = s->ts_end ? s->ts_end[pos[t]] : t_min;
                break;
            }
        }
        if (b) {
            csv_time(b, o, t_min);
            if (agg) {
                hist_buf_puts(b, ",");
                csv_time(b, o, t_end);
            }
        } else {
            hist_json_begin_object(j);
            hist_json_key(j, "time");
            json_time(j, o, t_min);
            if (agg) {
                hist_json_key(j, "time_end");
                json_time(j, o, t_end);
            }
        }
        for (size_t t = 0; t < a->n; t++) {
            const hist_series_result *s = a->series[t];
            bool here = s && pos[t] < s->n && s->ts[pos[t]] == t_min;
            for (int k = 0; k < ncol; k++) {
                if (agg)
                    snprintf(name, sizeof name, "%s:%s", a->tags[t].name,
                             hist_agg_name(o->spec.aggs[k]));
                else
                    snprintf(name, sizeof name, "%s", a->tags[t].name);
                if (b) {
                    hist_buf_puts(b, ",");
                    if (here && agg && s->col[k] && isfinite(s->col[k][pos[t]]))
                        hist_buf_double(b, s->col[k][pos[t]]);
                    else if (here && !agg)
                        buf_value(b, s->type, s->value[pos[t]]);
                } else {
                    hist_json_key(j, name);
                    if (!here)
                        hist_json_null(j);
                    else if (agg)
                        hist_json_double(j, s->col[k] ? s->col[k][pos[t]] : NAN);
                    else
                        api_json_value(j, s->type, s->value[pos[t]]);
                }
            }
            if (here)
                pos[t]++;
        }
        if (b)
            hist_buf_puts(b, "\n");
        else
            hist_json_end_object(j);
    }
    if (!b)
        hist_json_end_array(j);
    free(pos);
    return 0;
}

/* The continuation of a raw answer: "id:next_ts" for every cut tag. */
static void add_next_header(api_ctx *c, const answer *a, const api_query_opts *o)
{
    if (o->spec.mode != HIST_MODE_RAW)
        return;
    hist_buf b;
    hist_buf_init(&b);
    for (size_t t = 0; t < a->n; t++) {
        const hist_series_result *s = a->series[t];
        if (s && s->next_ts != INT64_MIN)
            hist_buf_printf(&b, "%s%u:%lld", b.len ? "," : "", a->tags[t].id,
                            (long long)s->next_ts);
    }
    if (b.len && !b.failed)
        api_add_header(c, "X-Historian-Next", b.data);
    hist_buf_free(&b);
}

/* Rows per tag times tags: refuses answers that would not fit in memory
 * before the engine builds them. 0, or 1 with an error answer set. */
static int answer_too_big(api_ctx *c, const api_query_opts *o, size_t ntags)
{
    const hist_query_spec *s = &o->spec;
    uint64_t span = (uint64_t)(s->to - s->from), per_tag = 1;
    const char *param = "limit";
    switch (s->mode) {
    case HIST_MODE_RAW:
        per_tag = s->limit;
        break;
    case HIST_MODE_INTERP:
        per_tag = span / (uint64_t)s->step_ns + 1;
        param = "step";
        break;
    case HIST_MODE_PLOT:
        per_tag = (uint64_t)s->points * 4;
        param = "points";
        break;
    case HIST_MODE_AGG:
        param = "step";
        if (s->bucket == HIST_BUCKET_FIXED)
            per_tag = span / (uint64_t)s->step_ns + 1;
        else if (s->bucket == HIST_BUCKET_HOUR || s->bucket == HIST_BUCKET_SHIFT)
            per_tag = span / (UINT64_C(3600) * 1000000000) + 2;
        if (s->bucket != HIST_BUCKET_FIXED)
            param = "bucket";
        break;
    default:
        break;
    }
    if (per_tag > API_MAX_BUCKETS)
        return api_error(c, 400, param,
                         "more than %d rows per tag: narrow the range or widen "
                         "the step",
                         API_MAX_BUCKETS),
               1;
    if (per_tag * ntags > API_MAX_ROWS)
        return api_error(c, 400, param,
                         "the answer could reach %llu rows (more than %d): fewer "
                         "tags, a shorter range or a smaller limit",
                         (unsigned long long)(per_tag * ntags), API_MAX_ROWS),
               1;
    return 0;
}

int api_query_handle(api_ctx *c)
{
    api_params p = {0};
    api_tag_list tags = {0};
    answer a = {0};
    api_query_opts o;
    int ret = 0;
    int64_t now = c->req->now_ns;
    if (api_params_from_request(c, &p))
        goto out;
    if (api_query_opts_parse(c, &p, now - INT64_C(3600000000000), now, HIST_MODE_RAW, &o))
        goto out;
    if (collect_tags(c, &p, &tags))
        goto out;
    if (answer_too_big(c, &o, tags.n))
        goto out;
    if (run(c, &o, &tags, &a))
        goto out;
    add_next_header(c, &a, &o);
    if (o.format == API_FMT_CSV) {
        hist_buf b;
        hist_buf_init(&b);
        if (o.shape == API_SHAPE_WIDE)
            render_wide(&a, &o, NULL, &b);
        else
            render_long_csv(&a, &o, &b);
        ret = api_reply_buf(c, 200, "text/csv; charset=utf-8", &b);
    } else {
        hist_json j;
        hist_json_init(&j);
        if (o.shape == API_SHAPE_WIDE)
            render_wide(&a, &o, &j, NULL);
        else if (o.shape == API_SHAPE_COLUMNS)
            render_columns_json(&a, &o, &j);
        else
            render_long_json(&a, &o, &j);
        ret = api_reply_json(c, 200, &j);
    }
out:
    answer_free(&a);
    api_tag_list_free(&tags);
    api_params_free(&p);
    return ret;
}
