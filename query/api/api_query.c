/*
 * api_query.c: GET|POST /api/v1/query, the historian's read endpoint.
 *
 * Parameters (query string, form body or JSON body; see docs/api.md):
 *   tag (repeatable) | pattern (glob, repeatable), from, to, mode, step,
 *   points, agg (comma list), bucket, tz, shifts, fill, include_bad, limit,
 *   cursor, boundary (inside|outside: raw, plot), at (mode=value),
 *   format (json|csv|wide), shape (long|wide|columns), time_format.
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

#include "query/api/api_internal.h"
#include "common/hist_tz.h"

/* ---- CSV spelling (o->csv) ---------------------------------------------------- */

static void csv_sep(hist_buf *b, const api_query_opts *o)
{
    hist_buf_append(b, &o->csv.sep, 1);
}

/* A number's text p[0, n) with a decimal comma when o asks for one. */
static void csv_decimal_mark(const api_query_opts *o, char *p, size_t n)
{
    for (size_t i = 0; o->csv.decimal_comma && i < n; i++)
        if (p[i] == '.')
            p[i] = ',';
}

/* A finite number; with a decimal comma its '.' becomes ','. Numbers are
 * never quoted: decimal_comma comes with a separator other than ','. */
static void csv_double(hist_buf *b, const api_query_opts *o, double d)
{
    size_t at = b->len;
    json__buf_double(b, d);
    if (!b->failed)
        csv_decimal_mark(o, b->data + at, b->len - at);
}

/* A header line written with ',' between the names, in o's separator. */
static void csv_header(hist_buf *b, const api_query_opts *o, const char *names)
{
    if (o->csv.bom && b->len == 0)
        hist_buf_puts(b, "\xEF\xBB\xBF");
    for (const char *p = names; *p; p++)
        hist_buf_append(b, *p == ',' ? &o->csv.sep : p, 1);
}

/* A value in CSV: what `historian import` reads back to the same sample
 * (bool as true/false, NaN and infinities spelled out for strtod). */
static void buf_value(hist_buf *b, const api_query_opts *o, hist_type type, hist_value v)
{
    if (type == HIST_TYPE_FLOAT64) {
        if (isfinite(v.f))
            csv_double(b, o, v.f);
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

/* ---- Tags of the request ------------------------------------------------------ */

/* The tags named (tag=) or matched (pattern=). 0, or API_ANSWERED (a 404
 * for an unknown tag, a 400 for too many). */
static int tags_or_reply(api_ctx *c, const api_params *p, api_tag_list *tags)
{
    bool any = false;
    for (size_t i = 0; i < p->n; i++) {
        const char *k = p->v[i].key, *v = p->v[i].value;
        if (!strcmp(k, "tag") || !strcmp(k, "tags")) {
            any = true;
            if (!api__may_read(c, v)) /* before the lookup: a 404 would tell */
                return api__reply_forbidden(c, "tag", v);
            hist_tag_info info;
            int rc = hist_tag_by_name(c->db, v, &info);
            if (rc == HIST_ENOTFOUND)
                return api__reply_error(c, 404, "tag", "unknown tag '%s'", v);
            if (rc < 0)
                return api__reply_internal(c, rc);
            if (tags->n >= API_MAX_TAGS)
                return api__reply_error(c, 400, "tag", "more than %d tags in one query",
                                        API_MAX_TAGS);
            if (api__tag_list_add(tags, &info) < 0)
                return api__reply_internal(c, HIST_ENOMEM);
        } else if (!strcmp(k, "pattern")) {
            any = true;
            if (!*v)
                return api__reply_error(c, 400, "pattern", "empty pattern");
            /* one count and one clock for all the request's patterns */
            if (api__budget_pattern_or_reply(c, "pattern") || api__budget_time_or_reply(c))
                return API_ANSWERED;
            int rc = api__tags_match(c, v, API_MAX_TAGS, tags);
            if (rc == HIST_ENOSPC)
                return api__reply_error(c, 400, "pattern", "pattern matches more than %d tags",
                                        API_MAX_TAGS);
            if (rc < 0)
                return api__reply_internal(c, rc);
        }
    }
    if (!any)
        return api__reply_error(c, 400, "tag", "name at least one tag (tag=...) or a pattern");
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
    const api_budget *budget; /* rendering stops past its bytes or time */
} answer;

/* Rendering stops once the answer holds len bytes over the byte budget or
 * the deadline has passed; the handler then answers the limit. Checked
 * per tag (and every 4,096 rows of the wide shape). */
static bool render_stop(const answer *a, size_t len)
{
    return a->budget && (len > a->budget->lim.max_bytes || api__budget_past(a->budget));
}

static void answer_free(answer *a)
{
    for (size_t i = 0; i < a->nresults; i++)
        hist_result_free(&a->results[i]);
    free(a->results);
    free(a->series);
    memset(a, 0, sizeof *a);
}

static int reply_engine_error(api_ctx *c, int rc)
{
    if (rc == HIST_ENOSPC) /* the percentiles' values past max_values */
        return api__budget_engine_reply(c, rc, "agg");
    if (rc == HIST_ETIMEDOUT)
        return api__budget_engine_reply(c, rc, NULL);
    if (rc == HIST_EINVAL || rc == HIST_ERANGE)
        return api__reply_error(c, 400, NULL,
                                "the query engine refused the request: %s "
                                "(check range, step, bucket and tz)",
                                hist_strerror(rc));
    if (rc == HIST_EUNSUPPORTED)
        return api__reply_error(c, 400, "mode", "not supported by this build: %s",
                                hist_strerror(rc));
    return api__reply_internal(c, rc);
}

/* Runs the query over tags; with a cursor each listed tag resumes at its own
 * time and unlisted tags are done. 0, or API_ANSWERED (an error). */
static int run_or_reply(api_ctx *c, api_query_opts *o, api_tag_list *tags, answer *a)
{
    memset(a, 0, sizeof *a);
    a->budget = &c->budget;
    cursor_entry *cur = NULL;
    size_t ncur = 0;
    if (o->cursor && o->spec.mode == HIST_MODE_RAW) {
        if (parse_cursor(o->cursor, &cur, &ncur) < 0)
            return api__reply_error(c, 400, "cursor",
                                    "malformed cursor (pass X-Historian-Next back)");
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
        return api__reply_internal(c, HIST_ENOMEM);
    }
    if (tags->n == 0) {
        free(cur);
        return 0;
    }
    uint32_t *ids = malloc(tags->n * sizeof *ids);
    if (!ids) {
        free(cur);
        return api__reply_internal(c, HIST_ENOMEM);
    }
    for (size_t i = 0; i < tags->n; i++)
        ids[i] = tags->v[i].id;
    int rc = 0;
    o->spec.deadline_ns = c->budget.deadline;
    o->spec.max_values = api__budget_max_values(&c->budget);
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
            /* A page after the first: the before-sample was on the first. */
            spec.boundary &= ~(unsigned)HIST_BOUNDARY_BEFORE;
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
        return reply_engine_error(c, rc);
    return 0;
}

/* ---- Rendering ---------------------------------------------------------------- */

static void json_time(hist_json *j, const api_query_opts *o, int64_t ns)
{
    switch (o->time_format) {
    case API_TIME_NS:
        json__int(j, ns);
        break;
    case API_TIME_S:
        json__double(j, (double)ns / 1e9);
        break;
    case API_TIME_RFC3339: {
        hist_buf b;
        hist_buf_init(&b);
        json__buf_rfc3339(&b, o->tz, ns);
        json__string(j, b.data ? b.data : "");
        hist_buf_free(&b);
        break;
    }
    default:
        json__int(j, api__ns_to_ms(ns));
    }
}

static size_t fmt_time_num(char *out, int64_t ns, const api_query_opts *o);

static void csv_time(hist_buf *b, const api_query_opts *o, int64_t ns)
{
    if (o->time_format == API_TIME_RFC3339) {
        json__buf_rfc3339(b, o->tz, ns);
        return;
    }
    char tmp[HIST_FMT_MAX];
    size_t n = fmt_time_num(tmp, ns, o);
    csv_decimal_mark(o, tmp, n); /* time_format=s has a fraction */
    hist_buf_append(b, tmp, n);
}

static bool mode_is_agg(const api_query_opts *o)
{
    return o->spec.mode == HIST_MODE_AGG;
}

/* The column name of aggregate k ("p90", "time_in_state:3"). */
static const char *agg_label(const api_query_opts *o, int k, char out[AGG_LABEL_MAX])
{
    return hist_agg_label(o->spec.aggs[k], o->spec.agg_arg[k], out, AGG_LABEL_MAX);
}

/* Aggregate k at row r: a number, or for time_min/time_max a time written
 * as the answer writes every time; null when there is none. */
static void json_agg_cell(hist_json *j, const api_query_opts *o, const hist_series_result *s, int k,
                          size_t r)
{
    double v = s->col[k] ? s->col[k][r] : NAN;
    if (s->tcol[k] && !isnan(v))
        json_time(j, o, s->tcol[k][r]);
    else
        json__double(j, v);
}

static void csv_agg_cell(hist_buf *b, const api_query_opts *o, const hist_series_result *s, int k,
                         size_t r)
{
    double v = s->col[k] ? s->col[k][r] : NAN;
    if (s->tcol[k] && !isnan(v))
        csv_time(b, o, s->tcol[k][r]);
    else if (isfinite(v))
        csv_double(b, o, v);
}

static void render_long_json(const answer *a, const api_query_opts *o, hist_json *j)
{
    json__begin_array(j);
    for (size_t t = 0; t < a->n && !render_stop(a, j->buf.len); t++) {
        const hist_series_result *s = a->series[t];
        if (!s)
            continue;
        for (size_t r = 0; r < s->n; r++) {
            json__begin_object(j);
            json__key(j, "time");
            json_time(j, o, s->ts[r]);
            if (mode_is_agg(o)) {
                json__key(j, "time_end");
                json_time(j, o, s->ts_end ? s->ts_end[r] : s->ts[r]);
            }
            json__key(j, "tag");
            json__string(j, a->tags[t].name);
            if (mode_is_agg(o)) {
                char label[AGG_LABEL_MAX];
                for (int k = 0; k < o->spec.naggs; k++) {
                    json__key(j, agg_label(o, k, label));
                    json_agg_cell(j, o, s, k, r);
                }
            } else {
                json__key(j, "value");
                api__json_value(j, s->type, s->value[r]);
                json__key(j, "quality");
                json__uint(j, s->q ? s->q[r] : 0);
            }
            json__end_object(j);
        }
    }
    json__end_array(j);
}

/* One cell of a column, written into out (HIST_FMT_MAX bytes); k is the
 * aggregate's column. */
typedef size_t (*cell_fmt)(char *out, const hist_series_result *s, const api_query_opts *o,
                           size_t r, int k);

static size_t fmt_time_num(char *out, int64_t ns, const api_query_opts *o)
{
    if (o->time_format == API_TIME_NS)
        return json__fmt_i64(out, ns);
    if (o->time_format == API_TIME_S)
        return json__fmt_double(out, (double)ns / 1e9);
    return json__fmt_i64(out, api__ns_to_ms(ns));
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
        return json__fmt_double(out, s->value[r].f);
    return json__fmt_i64(out, s->value[r].i);
}

static size_t cell_quality(char *out, const hist_series_result *s, const api_query_opts *o,
                           size_t r, int k)
{
    (void)o, (void)k;
    return json__fmt_i64(out, s->q ? s->q[r] : 0);
}

static size_t cell_agg(char *out, const hist_series_result *s, const api_query_opts *o, size_t r,
                       int k)
{
    double v = s->col[k] ? s->col[k][r] : NAN;
    if (s->tcol[k] && !isnan(v))
        return fmt_time_num(out, s->tcol[k][r], o);
    return json__fmt_double(out, v);
}

/* "key": [cells...], written straight into the buffer: the JSON writer's
 * state machine runs once per column, not once per cell. RFC 3339 times
 * (strings) take the writer's path. */
static void json_column(hist_json *j, const char *key, const hist_series_result *s,
                        const api_query_opts *o, int k, cell_fmt fmt)
{
    json__key(j, key);
    json__begin_array(j);
    if (o->time_format == API_TIME_RFC3339 && (fmt == cell_time || fmt == cell_time_end)) {
        for (size_t r = 0; r < s->n; r++)
            json_time(j, o, fmt == cell_time || !s->ts_end ? s->ts[r] : s->ts_end[r]);
    } else if (o->time_format == API_TIME_RFC3339 && fmt == cell_agg && s->tcol[k]) {
        for (size_t r = 0; r < s->n; r++)
            json_agg_cell(j, o, s, k, r);
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
    json__end_array(j);
}

/* Columns shape: one object per tag, an array per column. About a quarter
 * of the long shape's bytes for raw data (the tag and the keys are written
 * once, not per sample), and what a data frame (Grafana, pandas) holds. */
static void render_columns_json(const answer *a, const api_query_opts *o, hist_json *j)
{
    json__begin_array(j);
    for (size_t t = 0; t < a->n && !render_stop(a, j->buf.len); t++) {
        const hist_series_result *s = a->series[t];
        if (!s)
            continue;
        json__begin_object(j);
        json__key(j, "tag");
        json__string(j, a->tags[t].name);
        json_column(j, "time", s, o, 0, cell_time);
        if (mode_is_agg(o)) {
            json_column(j, "time_end", s, o, 0, cell_time_end);
            char label[AGG_LABEL_MAX];
            for (int k = 0; k < o->spec.naggs; k++)
                json_column(j, agg_label(o, k, label), s, o, k, cell_agg);
        } else {
            json_column(j, "value", s, o, 0, cell_value);
            json_column(j, "quality", s, o, 0, cell_quality);
        }
        json__end_object(j);
    }
    json__end_array(j);
}

static void render_long_csv(const answer *a, const api_query_opts *o, hist_buf *b)
{
    if (mode_is_agg(o)) {
        csv_header(b, o, "tag,time,time_end");
        char label[AGG_LABEL_MAX];
        for (int k = 0; k < o->spec.naggs; k++) {
            csv_sep(b, o);
            hist_buf_puts(b, agg_label(o, k, label));
        }
        hist_buf_puts(b, "\n");
    } else {
        csv_header(b, o, "tag,time,value,quality\n");
    }
    for (size_t t = 0; t < a->n && !render_stop(a, b->len); t++) {
        const hist_series_result *s = a->series[t];
        if (!s)
            continue;
        for (size_t r = 0; r < s->n; r++) {
            json__buf_csv_field(b, a->tags[t].name, o->csv.sep);
            csv_sep(b, o);
            csv_time(b, o, s->ts[r]);
            if (mode_is_agg(o)) {
                csv_sep(b, o);
                csv_time(b, o, s->ts_end ? s->ts_end[r] : s->ts[r]);
                for (int k = 0; k < o->spec.naggs; k++) {
                    csv_sep(b, o);
                    csv_agg_cell(b, o, s, k, r);
                }
            } else {
                csv_sep(b, o);
                buf_value(b, o, s->type, s->value[r]);
                csv_sep(b, o);
                hist_buf_printf(b, "%u", s->q ? s->q[r] : 0);
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
    char name[HIST_TAG_NAME_MAX + AGG_LABEL_MAX + 2], label[AGG_LABEL_MAX];
    if (b) {
        csv_header(b, o, agg ? "time,time_end" : "time");
        for (size_t t = 0; t < a->n; t++) {
            for (int k = 0; k < ncol; k++) {
                if (agg)
                    snprintf(name, sizeof name, "%s:%s", a->tags[t].name, agg_label(o, k, label));
                else
                    snprintf(name, sizeof name, "%s", a->tags[t].name);
                csv_sep(b, o);
                json__buf_csv_field(b, name, o->csv.sep);
            }
        }
        hist_buf_puts(b, "\n");
    } else {
        json__begin_array(j);
    }
    for (size_t row = 0;; row++) {
        if (row % 4096 == 0 && render_stop(a, b ? b->len : j->buf.len))
            break;
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
                csv_sep(b, o);
                csv_time(b, o, t_end);
            }
        } else {
            json__begin_object(j);
            json__key(j, "time");
            json_time(j, o, t_min);
            if (agg) {
                json__key(j, "time_end");
                json_time(j, o, t_end);
            }
        }
        for (size_t t = 0; t < a->n; t++) {
            const hist_series_result *s = a->series[t];
            bool here = s && pos[t] < s->n && s->ts[pos[t]] == t_min;
            for (int k = 0; k < ncol; k++) {
                if (agg)
                    snprintf(name, sizeof name, "%s:%s", a->tags[t].name, agg_label(o, k, label));
                else
                    snprintf(name, sizeof name, "%s", a->tags[t].name);
                if (b) {
                    csv_sep(b, o);
                    if (here && agg)
                        csv_agg_cell(b, o, s, k, pos[t]);
                    else if (here && !agg)
                        buf_value(b, o, s->type, s->value[pos[t]]);
                } else {
                    json__key(j, name);
                    if (!here)
                        json__null(j);
                    else if (agg)
                        json_agg_cell(j, o, s, k, pos[t]);
                    else
                        api__json_value(j, s->type, s->value[pos[t]]);
                }
            }
            if (here)
                pos[t]++;
        }
        if (b)
            hist_buf_puts(b, "\n");
        else
            json__end_object(j);
    }
    if (!b)
        json__end_array(j);
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
        api__add_header(c, "X-Historian-Next", b.data);
    hist_buf_free(&b);
}

/* Rows per tag times tags, counted against the request's row budget before
 * the engine builds them (every calendar bucket is a row). 0, or
 * API_ANSWERED (a 400). */
static int size_or_reply(api_ctx *c, const api_query_opts *o, size_t ntags)
{
    const hist_query_spec *s = &o->spec;
    uint64_t per_tag = api__rows_per_tag(s);
    const char *param = s->mode == HIST_MODE_RAW                                     ? "limit"
                        : s->mode == HIST_MODE_PLOT                                  ? "points"
                        : s->mode == HIST_MODE_LATEST                                ? "tag"
                        : s->mode == HIST_MODE_VALUE                                 ? "tag"
                        : s->mode == HIST_MODE_AGG && s->bucket != HIST_BUCKET_FIXED ? "bucket"
                                                                                     : "step";
    if (per_tag > API_MAX_BUCKETS)
        return api__reply_limit(c, 400, param, "rows_per_tag", per_tag, API_MAX_BUCKETS,
                                "%llu rows per tag, more than %d: narrow the range or widen "
                                "the step",
                                (unsigned long long)per_tag, API_MAX_BUCKETS);
    uint64_t total = ntags && per_tag > UINT64_MAX / ntags ? UINT64_MAX : per_tag * ntags;
    return api__budget_rows_or_reply(c, param, total);
}

int api__query_handle(api_ctx *c)
{
    api_params p = {0};
    api_tag_list tags = {0};
    answer a = {0};
    api_query_opts o = {0};
    int ret = API_ANSWERED;
    int64_t now = c->req->now_ns;
    if (api__params_or_reply(c, &p))
        goto out;
    if (api__query_opts_or_reply(c, &p, now - INT64_C(3600000000000), now, HIST_MODE_RAW, &o))
        goto out;
    c->resp->mode = hist_mode_name(o.spec.mode); /* static strings */
    if (tags_or_reply(c, &p, &tags))
        goto out;
    if (api__agg_types_or_reply(c, &o.spec, &tags))
        goto out;
    if (size_or_reply(c, &o, tags.n))
        goto out;
    if (run_or_reply(c, &o, &tags, &a))
        goto out;
    add_next_header(c, &a, &o);
    if (o.format == API_FMT_CSV) {
        hist_buf b;
        hist_buf_init(&b);
        if (o.shape == API_SHAPE_WIDE)
            render_wide(&a, &o, NULL, &b);
        else
            render_long_csv(&a, &o, &b);
        if (api__budget_bytes_or_reply(c, b.len) || api__budget_time_or_reply(c))
            hist_buf_free(&b);
        else
            ret = api__reply_buf(c, 200, "text/csv; charset=utf-8", &b);
    } else {
        hist_json j;
        json__init(&j);
        if (o.shape == API_SHAPE_WIDE)
            render_wide(&a, &o, &j, NULL);
        else if (o.shape == API_SHAPE_COLUMNS)
            render_columns_json(&a, &o, &j);
        else
            render_long_json(&a, &o, &j);
        if (api__budget_bytes_or_reply(c, j.buf.len) || api__budget_time_or_reply(c))
            json__free(&j);
        else
            ret = api__reply_json(c, 200, &j);
    }
out:
    answer_free(&a);
    api__tag_list_free(&tags);
    api__query_opts_free(&o);
    api__params_free(&p);
    return ret;
}
