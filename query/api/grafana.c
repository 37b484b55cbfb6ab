/*
 * grafana.c: the simPod "JSON API" Grafana datasource protocol, under
 * /grafana/ (so the plugin's URL is http://host:9460/grafana):
 *
 *   GET  /                         200: "Test connection"
 *   POST /metrics                  tag names (filtered by "metric": prefix or glob)
 *                                  with the payload fields each accepts
 *   POST /metric-payload-options   choices for one payload field (mode, agg, ...)
 *   POST /query                    [{"target", "datapoints": [[v, ms]...], "unit"}]
 *                                  or table frames {"type":"table", columns, rows}
 *   POST /variable                 [{"__text", "__value"}] tag names or level values
 *   POST /tag-keys, /tag-values    ad hoc filters over the namespace levels
 *                                  site/area/line/cell/signal and the unit
 *
 * A target's payload uses the same fields as /api/v1/query (mode, agg,
 * bucket, step, tz, shifts, fill, include_bad) plus format=table. Without a
 * payload a target is an M4 plot sized by maxDataPoints, so the drawn line
 * is the raw line. Unknown fields are ignored; malformed JSON is a 400.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_array.h"
#include "query/api/api_internal.h"

#define GF_MAX_TAGS   10000
#define GF_MAX_VALUES 10000

/* ---- Body --------------------------------------------------------------------- */

/* The request body as a JSON object; an empty body is {}. NULL with an error
 * answer set when the body is not a JSON object. */
static json_t *body_or_reply(api_ctx *c)
{
    const hist_api_request *r = c->req;
    size_t i = 0;
    while (i < r->body_len &&
           (r->body[i] == ' ' || r->body[i] == '\n' || r->body[i] == '\r' || r->body[i] == '\t'))
        i++;
    if (i == r->body_len)
        return json_object();
    json_error_t err;
    json_t *root = json_loadb((const char *)r->body, r->body_len, 0, &err);
    if (!root) {
        api__reply_error(c, 400, "body", "malformed JSON body: %s (line %d, column %d)", err.text,
                         err.line, err.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        api__reply_error(c, 400, "body", "the JSON body must be an object");
        return NULL;
    }
    return root;
}

/* A payload may be an object, a JSON text in a string (older plugin
 * versions), or absent. Returns a new reference to an object, or NULL with
 * an error answer set. */
static json_t *payload_or_reply(api_ctx *c, json_t *payload, const char *param)
{
    if (!payload || json_is_null(payload))
        return json_object();
    if (json_is_object(payload))
        return json_incref(payload);
    if (json_is_string(payload)) {
        const char *s = json_string_value(payload);
        while (*s == ' ')
            s++;
        if (!*s)
            return json_object();
        if (*s != '{') {
            /* A bare string: taken as the target/prefix by the caller. */
            json_t *o = json_object();
            if (o)
                json_object_set_new(o, "target", json_string(json_string_value(payload)));
            return o;
        }
        json_error_t err;
        json_t *o = json_loads(s, 0, &err);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            api__reply_error(c, 400, param, "payload is not a JSON object: %s", o ? "" : err.text);
            return NULL;
        }
        return o;
    }
    api__reply_error(c, 400, param, "payload must be a JSON object");
    return NULL;
}

/* A time from Grafana: ISO 8601 string or epoch ms number. */
static int json_time(api_ctx *c, json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t ms = json_integer_value(v);
        if (ms > HIST_TS_MAX / 1000000 || ms < HIST_TS_MIN / 1000000)
            return HIST_ERANGE;
        *out = (int64_t)ms * 1000000;
        return 0;
    }
    if (json_is_real(v)) {
        double ms = json_real_value(v);
        if (!isfinite(ms) || fabs(ms) > (double)(HIST_TS_MAX / 1000000))
            return HIST_ERANGE;
        *out = (int64_t)(ms * 1e6);
        return 0;
    }
    if (json_is_string(v))
        return hist_time_parse(json_string_value(v), c->req->now_ns, out);
    return HIST_EINVAL;
}

/* Tags named by a target: an exact name, a glob, or a Grafana multi-value
 * "{a,b,c}" of either. Each name or glob counts against the request's
 * pattern budget (API_ANSWERED when over it). */
static int target_tags(api_ctx *c, const char *target, api_tag_list *out)
{
    size_t len = strlen(target);
    if (len >= 2 && target[0] == '{' && target[len - 1] == '}') {
        char *copy = strndup(target + 1, len - 2);
        if (!copy)
            return HIST_ENOMEM;
        int rc = 0;
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0;
             tok = strtok_r(NULL, ",", &save))
            rc = api__budget_pattern_or_reply(c, "target") || api__budget_time_or_reply(c)
                     ? API_ANSWERED
                     : api__tags_match(c, tok, GF_MAX_TAGS, out);
        free(copy);
        return rc;
    }
    if (api__budget_pattern_or_reply(c, "target"))
        return API_ANSWERED;
    return api__tags_match(c, target, GF_MAX_TAGS, out);
}

/* ---- Simple endpoints ------------------------------------------------------------------- */

static int gf_root(api_ctx *c)
{
    hist_json j;
    json__init(&j);
    json__begin_object(&j);
    json__key(&j, "status");
    json__string(&j, "ok");
    json__key(&j, "service");
    json__string(&j, "historian");
    json__end_object(&j);
    return api__reply_json(c, 200, &j);
}

static void option(hist_json *j, const char *label, const char *value)
{
    json__begin_object(j);
    json__key(j, "label");
    json__string(j, label);
    json__key(j, "value");
    json__string(j, value);
    json__end_object(j);
}

/* The choices of one payload field; false if the field has none. */
static bool payload_options(hist_json *j, const char *name)
{
    if (!strcmp(name, "mode")) {
        for (int m = 0; m <= HIST_MODE_PLOT; m++)
            option(j, hist_mode_name((hist_mode)m), hist_mode_name((hist_mode)m));
    } else if (!strcmp(name, "agg")) {
        for (int a = 0; a < HIST_AGG__COUNT; a++) {
            /* the two that take an argument are offered with an example */
            char label[AGG_LABEL_MAX];
            double arg = a == HIST_AGG_PERCENTILE ? 75 : 1;
            hist_agg_label((hist_agg)a, arg, label, sizeof label);
            option(j, label, label);
        }
    } else if (!strcmp(name, "fill")) {
        static const char *const fills[] = {"null", "none", "previous", "linear"};
        for (size_t i = 0; i < 4; i++)
            option(j, fills[i], fills[i]);
    } else if (!strcmp(name, "bucket")) {
        static const char *const b[] = {"hour", "day", "week", "month", "shift",
                                        "1m",   "5m",  "15m",  "1h",    "8h"};
        for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
            option(j, b[i], b[i]);
    } else if (!strcmp(name, "format")) {
        option(j, "timeseries", "timeseries");
        option(j, "table", "table");
    } else if (!strcmp(name, "include_bad")) {
        option(j, "false", "false");
        option(j, "true", "true");
    } else if (!strcmp(name, "boundary")) {
        option(j, "inside", "inside");
        option(j, "outside", "outside");
    } else {
        return false;
    }
    return true;
}

static void payload_field(hist_json *j, const char *name, const char *label, const char *type,
                          const char *placeholder)
{
    json__begin_object(j);
    json__key(j, "name");
    json__string(j, name);
    json__key(j, "label");
    json__string(j, label);
    json__key(j, "type");
    json__string(j, type);
    if (placeholder) {
        json__key(j, "placeholder");
        json__string(j, placeholder);
    }
    if (strcmp(type, "input") != 0) {
        json__key(j, "options");
        json__begin_array(j);
        payload_options(j, name);
        json__end_array(j);
    }
    json__end_object(j);
}

static int gf_metrics(api_ctx *c, json_t *root)
{
    const char *metric = json_string_value(json_object_get(root, "metric"));
    api_tag_list tags = {0};
    int rc;
    if (metric && *metric && api__has_wildcard(metric))
        rc = api__tags_list(c, NULL, metric, GF_MAX_TAGS, &tags);
    else
        rc = api__tags_list(c, metric, NULL, GF_MAX_TAGS, &tags);
    if (rc < 0 && rc != HIST_ENOSPC) {
        api__tag_list_free(&tags);
        return api__reply_internal(c, rc);
    }
    hist_json j;
    json__init(&j);
    json__begin_array(&j);
    for (size_t i = 0; i < tags.n; i++) {
        json__begin_object(&j);
        json__key(&j, "label");
        json__string(&j, tags.v[i].name);
        json__key(&j, "value");
        json__string(&j, tags.v[i].name);
        json__key(&j, "payloads");
        json__begin_array(&j);
        payload_field(&j, "mode", "Mode", "select", "plot");
        payload_field(&j, "agg", "Aggregates", "multi-select", "twa");
        payload_field(&j, "bucket", "Bucket", "select", "step = interval");
        payload_field(&j, "shifts", "Shifts", "input", "06:00,14:00,22:00");
        payload_field(&j, "tz", "Time zone", "input", "Europe/Berlin");
        payload_field(&j, "fill", "Fill", "select", "null");
        payload_field(&j, "format", "Format", "select", "timeseries");
        payload_field(&j, "include_bad", "Include Bad quality", "select", "false");
        payload_field(&j, "boundary", "Boundary (raw, plot)", "select", "inside");
        json__end_array(&j);
        json__end_object(&j);
    }
    json__end_array(&j);
    api__tag_list_free(&tags);
    return api__reply_json(c, 200, &j);
}

static int gf_payload_options(api_ctx *c, json_t *root)
{
    const char *name = json_string_value(json_object_get(root, "name"));
    hist_json j;
    json__init(&j);
    json__begin_array(&j);
    if (name)
        payload_options(&j, name); /* an unknown field has no choices: [] */
    json__end_array(&j);
    return api__reply_json(c, 200, &j);
}

static int gf_tag_keys(api_ctx *c)
{
    hist_json j;
    json__init(&j);
    json__begin_array(&j);
    for (int i = 0; i < GF_NLEVELS; i++) {
        json__begin_object(&j);
        json__key(&j, "type");
        json__string(&j, "string");
        json__key(&j, "text");
        json__string(&j, grafana_filter__levels[i]);
        json__end_object(&j);
    }
    json__begin_object(&j);
    json__key(&j, "type");
    json__string(&j, "string");
    json__key(&j, "text");
    json__string(&j, "unit");
    json__end_object(&j);
    json__end_array(&j);
    return api__reply_json(c, 200, &j);
}

/* Distinct values of a level over all tags (filtered), sorted. */
struct values_ctx {
    const char *key;
    const gf_filters *filters;
    const hist_tagset *allow; /* the caller's grant; NULL = every tag */
    char **v;
    size_t n, cap;
    int rc;
};

static int values_visit(void *ctx, const hist_tag_info *t)
{
    struct values_ctx *vc = ctx;
    char field[HIST_TAG_NAME_MAX + 1];
    if (!hist_tagset_matches(vc->allow, t->name))
        return 0; /* outside the caller's grant: its levels are not shown */
    if (vc->filters && !grafana_filter__pass(vc->filters, t))
        return 0;
    if (!grafana_filter__tag_field(t, vc->key, field, sizeof field) || !field[0])
        return 0;
    /* Tags come in name order, so equal leading levels are adjacent: a
     * check against the last value removes most duplicates cheaply. */
    if (vc->n && !strcmp(vc->v[vc->n - 1], field))
        return 0;
    if (vc->n >= GF_MAX_VALUES * 4)
        return 1;
    if (HIST_ARRAY_RESERVE(vc->v, vc->cap, vc->n + 1, 64) < 0) {
        vc->rc = HIST_ENOMEM;
        return 1;
    }
    if (!(vc->v[vc->n] = strdup(field))) {
        vc->rc = HIST_ENOMEM;
        return 1;
    }
    vc->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int distinct_values(api_ctx *c, const char *key, const gf_filters *f, struct values_ctx *vc)
{
    hist_db *db = c->db;
    memset(vc, 0, sizeof *vc);
    vc->allow = c->req->tags;
    vc->key = key;
    vc->filters = f;
    int rc = hist_tag_foreach(db, "", values_visit, vc);
    if (vc->rc < 0)
        return vc->rc;
    if (rc < 0)
        return rc;
    qsort(vc->v, vc->n, sizeof *vc->v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < vc->n; i++) {
        if (k && !strcmp(vc->v[k - 1], vc->v[i])) {
            free(vc->v[i]);
            continue;
        }
        vc->v[k++] = vc->v[i];
    }
    vc->n = k;
    return 0;
}

static void values_free(struct values_ctx *vc)
{
    for (size_t i = 0; i < vc->n; i++)
        free(vc->v[i]);
    free(vc->v);
}

static bool known_key(const char *key)
{
    if (!strcmp(key, "unit"))
        return true;
    for (int i = 0; i < GF_NLEVELS; i++)
        if (!strcmp(key, grafana_filter__levels[i]))
            return true;
    return false;
}

static int gf_tag_values(api_ctx *c, json_t *root)
{
    const char *key = json_string_value(json_object_get(root, "key"));
    if (!key)
        return api__reply_error(c, 400, "key",
                                "tag-values needs a key (site, area, line, cell, "
                                "signal or unit)");
    hist_json j;
    json__init(&j);
    json__begin_array(&j);
    if (known_key(key)) {
        struct values_ctx vc;
        int rc = distinct_values(c, key, NULL, &vc);
        if (rc < 0) {
            values_free(&vc);
            json__free(&j);
            return api__reply_internal(c, rc);
        }
        for (size_t i = 0; i < vc.n && i < GF_MAX_VALUES; i++) {
            json__begin_object(&j);
            json__key(&j, "text");
            json__string(&j, vc.v[i]);
            json__end_object(&j);
        }
        values_free(&vc);
    }
    json__end_array(&j);
    return api__reply_json(c, 200, &j);
}

static void variable_item(hist_json *j, const char *s)
{
    json__begin_object(j);
    json__key(j, "__text");
    json__string(j, s);
    json__key(j, "__value");
    json__string(j, s);
    json__end_object(j);
}

/* /variable: payload {"prefix": p} | {"pattern": g} | {"target": g or p} |
 * {"key": level} (distinct values of a level), or a bare string. */
static int gf_variable(api_ctx *c, json_t *root)
{
    json_t *raw = json_object_get(root, "payload");
    if (!raw)
        raw = json_object_get(root, "target") ? root : NULL;
    json_t *payload = payload_or_reply(c, raw, "payload");
    if (!payload)
        return API_ANSWERED;
    gf_filters f;
    if (grafana_filter__read_or_reply(c, root, &f)) {
        json_decref(payload);
        return API_ANSWERED;
    }
    const char *prefix = json_string_value(json_object_get(payload, "prefix"));
    const char *pattern = json_string_value(json_object_get(payload, "pattern"));
    const char *target = json_string_value(json_object_get(payload, "target"));
    const char *key = json_string_value(json_object_get(payload, "key"));
    if (!pattern && target && api__has_wildcard(target))
        pattern = target;
    else if (!prefix && target)
        prefix = target;
    hist_json j;
    json__init(&j);
    json__begin_array(&j);
    int ret = 0;
    if (key) {
        if (!known_key(key)) {
            ret = api__reply_error(c, 400, "key",
                                   "unknown key '%s' (site, area, line, cell, signal, "
                                   "unit)",
                                   key);
            json__free(&j);
            goto out;
        }
        struct values_ctx vc;
        int rc = distinct_values(c, key, &f, &vc);
        if (rc < 0) {
            values_free(&vc);
            json__free(&j);
            ret = api__reply_internal(c, rc);
            goto out;
        }
        for (size_t i = 0; i < vc.n && i < GF_MAX_VALUES; i++)
            variable_item(&j, vc.v[i]);
        values_free(&vc);
    } else {
        api_tag_list tags = {0};
        int rc = api__tags_list(c, prefix, pattern, GF_MAX_TAGS, &tags);
        if (rc < 0 && rc != HIST_ENOSPC) {
            api__tag_list_free(&tags);
            json__free(&j);
            ret = api__reply_internal(c, rc);
            goto out;
        }
        for (size_t i = 0; i < tags.n; i++)
            if (grafana_filter__pass(&f, &tags.v[i]))
                variable_item(&j, tags.v[i].name);
        api__tag_list_free(&tags);
    }
    json__end_array(&j);
    ret =
        api__budget_time_or_reply(c) ? (json__free(&j), API_ANSWERED) : api__reply_json(c, 200, &j);
out:
    grafana_filter__free(&f);
    json_decref(payload);
    return ret;
}

/* ---- /query ------------------------------------------------------------------------ */

typedef struct {
    int64_t from, to;
    int64_t interval_ms;
    int64_t max_points;
} gf_range;

static void datapoint_value(hist_json *j, const hist_series_result *s, size_t r)
{
    api__json_value(j, s->type, s->value[r]);
}

/* Aggregate k at row r: a number, or a time (ms) for time_min/time_max. */
static void agg_cell(hist_json *j, const hist_series_result *s, int k, size_t r)
{
    double v = s->col[k] ? s->col[k][r] : NAN;
    if (s->tcol[k] && !isnan(v))
        json__int(j, api__ns_to_ms(s->tcol[k][r]));
    else
        json__double(j, v);
}

static void write_timeseries(hist_json *j, const api_query_opts *o, const hist_tag_info *tag,
                             const hist_series_result *s, const char *ref_id)
{
    bool agg = o->spec.mode == HIST_MODE_AGG;
    int ncol = agg ? o->spec.naggs : 1;
    for (int k = 0; k < ncol; k++) {
        json__begin_object(j);
        json__key(j, "target");
        if (agg && o->spec.naggs > 1) {
            char name[HIST_TAG_NAME_MAX + AGG_LABEL_MAX + 2], label[AGG_LABEL_MAX];
            snprintf(name, sizeof name, "%s:%s", tag->name,
                     hist_agg_label(o->spec.aggs[k], o->spec.agg_arg[k], label, sizeof label));
            json__string(j, name);
        } else {
            json__string(j, tag->name);
        }
        if (ref_id) {
            json__key(j, "refId");
            json__string(j, ref_id);
        }
        if (tag->unit[0]) {
            json__key(j, "unit");
            json__string(j, tag->unit);
        }
        json__key(j, "datapoints");
        json__begin_array(j);
        for (size_t r = 0; s && r < s->n; r++) {
            json__begin_array(j);
            if (agg)
                agg_cell(j, s, k, r);
            else
                datapoint_value(j, s, r);
            json__int(j, api__ns_to_ms(s->ts[r]));
            json__end_array(j);
        }
        json__end_array(j);
        json__end_object(j);
    }
}

/* Row r's time (and end) as RFC 3339 with the offset of o->tz. */
static void local_times(hist_json *j, const api_query_opts *o, const hist_series_result *s,
                        size_t r, bool agg)
{
    char text[HIST_RFC3339_MAX];
    hist_tz_rfc3339(o->tz, text, s->ts[r]);
    json__string(j, text);
    if (agg) {
        hist_tz_rfc3339(o->tz, text, s->ts_end ? s->ts_end[r] : s->ts[r]);
        json__string(j, text);
    }
}

static void column(hist_json *j, const char *text, const char *type)
{
    json__begin_object(j);
    json__key(j, "text");
    json__string(j, text);
    json__key(j, "type");
    json__string(j, type);
    json__end_object(j);
}

/* One table frame for every tag of a target (a report). Time columns are
 * epoch ms, which Grafana shows in the dashboard's zone; with a tz the
 * report's own times follow as text with that zone's offset ("Local
 * time", "Local time end": 2026-06-01T06:00:00+02:00), after the others. */
static void write_table(hist_json *j, const api_query_opts *o, const api_tag_list *tags,
                        hist_series_result *const *series, const char *ref_id)
{
    bool agg = o->spec.mode == HIST_MODE_AGG;
    json__begin_object(j);
    json__key(j, "type");
    json__string(j, "table");
    if (ref_id) {
        json__key(j, "refId");
        json__string(j, ref_id);
    }
    json__key(j, "columns");
    json__begin_array(j);
    column(j, "Time", "time");
    if (agg)
        column(j, "Time end", "time");
    column(j, "Tag", "string");
    if (agg) {
        char label[AGG_LABEL_MAX];
        for (int k = 0; k < o->spec.naggs; k++)
            column(j, hist_agg_label(o->spec.aggs[k], o->spec.agg_arg[k], label, sizeof label),
                   hist_agg_is_time(o->spec.aggs[k]) ? "time" : "number");
    } else {
        column(j, "Value", "number");
        column(j, "Quality", "number");
    }
    column(j, "Unit", "string");
    if (o->tz) {
        column(j, "Local time", "string");
        if (agg)
            column(j, "Local time end", "string");
    }
    json__end_array(j);
    json__key(j, "rows");
    json__begin_array(j);
    for (size_t t = 0; t < tags->n; t++) {
        const hist_series_result *s = series[t];
        for (size_t r = 0; s && r < s->n; r++) {
            json__begin_array(j);
            json__int(j, api__ns_to_ms(s->ts[r]));
            if (agg)
                json__int(j, api__ns_to_ms(s->ts_end ? s->ts_end[r] : s->ts[r]));
            json__string(j, tags->v[t].name);
            if (agg) {
                for (int k = 0; k < o->spec.naggs; k++)
                    agg_cell(j, s, k, r);
            } else {
                datapoint_value(j, s, r);
                json__uint(j, s->q ? s->q[r] : 0);
            }
            json__string(j, tags->v[t].unit);
            if (o->tz)
                local_times(j, o, s, r, agg);
            json__end_array(j);
        }
    }
    json__end_array(j);
    json__end_object(j);
}

/* Fills in what a payload leaves out from the panel: points from
 * maxDataPoints, step from intervalMs. */
static int add_panel_defaults(api_params *p, const gf_range *range)
{
    char buf[32];
    if (!api__param(p, "points")) {
        snprintf(buf, sizeof buf, "%lld", (long long)range->max_points);
        if (api__params_add(p, "points", 6, buf, strlen(buf)) < 0)
            return HIST_ENOMEM;
    }
    if (!api__param(p, "step") && !api__param(p, "bucket") && range->interval_ms > 0) {
        snprintf(buf, sizeof buf, "%lldms", (long long)range->interval_ms);
        if (api__params_add(p, "step", 4, buf, strlen(buf)) < 0)
            return HIST_ENOMEM;
    }
    return 0;
}

/* Answers one target into j. 0, or API_ANSWERED (an error answer). */
/* With least, a first pass: adds the target's rows for one tag to *least. */
static int target_or_reply(api_ctx *c, json_t *target, const gf_range *range, const gf_filters *f,
                           hist_json *j, uint64_t *least)
{
    json_t *hide = json_object_get(target, "hide");
    if (json_is_true(hide))
        return 0;
    const char *name = json_string_value(json_object_get(target, "target"));
    const char *ref_id = json_string_value(json_object_get(target, "refId"));
    json_t *payload = payload_or_reply(c, json_object_get(target, "payload"), "payload");
    if (!payload)
        return API_ANSWERED;
    int ret = 0;
    api_params p = {0};
    api_query_opts o = {0};
    api_tag_list tags = {0};
    hist_result res = {0};
    bool have_res = false;
    if (!name || !*name) /* the payload may name it instead */
        name = json_string_value(json_object_get(payload, "target"));
    if (!name || !*name)
        goto out; /* an empty query row in the editor: nothing to draw */
    if (api__params_from_json(&p, payload) < 0 || add_panel_defaults(&p, range) < 0) {
        ret = api__reply_internal(c, HIST_ENOMEM);
        goto out;
    }
    if (api__query_opts_or_reply(c, &p, range->from, range->to, HIST_MODE_PLOT, &o)) {
        ret = API_ANSWERED;
        goto out;
    }
    if (least) {
        uint64_t r = api__rows_per_tag(&o.spec);
        *least = *least > UINT64_MAX - r ? UINT64_MAX : *least + r;
        goto out;
    }
    const char *format = api__param(&p, "format");
    const char *type = json_string_value(json_object_get(target, "type"));
    bool table = (format && !strcmp(format, "table")) || (type && !strcmp(type, "table"));
    int rc = target_tags(c, name, &tags);
    if (rc == API_ANSWERED) {
        ret = API_ANSWERED;
        goto out;
    }
    if (rc == HIST_ENOSPC) {
        ret =
            api__reply_error(c, 400, "target", "'%s' matches more than %d tags", name, GF_MAX_TAGS);
        goto out;
    }
    if (rc < 0) {
        ret = api__reply_internal(c, rc);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < tags.n; i++)
        if (grafana_filter__pass(f, &tags.v[i]))
            tags.v[k++] = tags.v[i];
    tags.n = k;
    /* One row budget for all the request's targets together. */
    if ((ret = api__agg_types_or_reply(c, &o.spec, &tags)) ||
        (ret = api__budget_spec_or_reply(c, "targets", &o.spec, tags.n)))
        goto out;
    o.spec.deadline_ns = c->budget.deadline;
    o.spec.max_values = api__budget_max_values(&c->budget);
    hist_series_result **series = calloc(tags.n ? tags.n : 1, sizeof *series);
    if (!series) {
        ret = api__reply_internal(c, HIST_ENOMEM);
        goto out;
    }
    if (tags.n > 0) {
        uint32_t *ids = malloc(tags.n * sizeof *ids);
        if (!ids) {
            free(series);
            ret = api__reply_internal(c, HIST_ENOMEM);
            goto out;
        }
        for (size_t i = 0; i < tags.n; i++)
            ids[i] = tags.v[i].id;
        rc = hist_query_run(c->db, &o.spec, ids, tags.n, &res);
        free(ids);
        if (rc < 0) {
            free(series);
            ret = api__budget_engine_reply(c, rc, "payload"); /* 400, 422 or 500 */
            goto out;
        }
        have_res = true;
        c->damaged_chunks += res.damaged_chunks;
        for (size_t i = 0; i < tags.n && i < res.nseries; i++)
            series[i] = &res.series[i];
    }
    if (table)
        write_table(j, &o, &tags, series, ref_id);
    else
        for (size_t i = 0; /* gf_query answers the budget that stops it */
             i < tags.n && j->buf.len <= c->budget.lim.max_bytes && !api__budget_past(&c->budget);
             i++)
            write_timeseries(j, &o, &tags.v[i], series[i], ref_id);
    free(series);
out:
    if (have_res)
        hist_result_free(&res);
    api__tag_list_free(&tags);
    api__query_opts_free(&o); /* o.tz: the tables' local times */
    api__params_free(&p);
    json_decref(payload);
    return ret;
}

static int gf_query(api_ctx *c, json_t *root)
{
    gf_range range = {0};
    int64_t now = c->req->now_ns;
    range.to = now;
    range.from = now - INT64_C(6) * 3600 * 1000000000;
    json_t *r = json_object_get(root, "range");
    json_t *jf = r ? json_object_get(r, "from") : json_object_get(root, "from");
    json_t *jt = r ? json_object_get(r, "to") : json_object_get(root, "to");
    if (jf && json_time(c, jf, &range.from) < 0)
        return api__reply_error(c, 400, "range.from", "range.from must be ISO 8601 or epoch ms");
    if (jt && json_time(c, jt, &range.to) < 0)
        return api__reply_error(c, 400, "range.to", "range.to must be ISO 8601 or epoch ms");
    if (range.from >= range.to)
        return api__reply_error(c, 400, "range.from", "range.from must be before range.to");
    json_t *iv = json_object_get(root, "intervalMs");
    if (iv && json_is_number(iv) && json_number_value(iv) > 0 && json_number_value(iv) < 1e12)
        range.interval_ms = (int64_t)json_number_value(iv);
    json_t *mdp = json_object_get(root, "maxDataPoints");
    range.max_points = 1000;
    if (mdp && json_is_number(mdp) && json_number_value(mdp) >= 1 &&
        json_number_value(mdp) <= 100000)
        range.max_points = (int64_t)json_number_value(mdp);
    json_t *targets = json_object_get(root, "targets");
    if (targets && !json_is_array(targets))
        return api__reply_error(c, 400, "targets", "targets must be an array");
    gf_filters f;
    if (grafana_filter__read_or_reply(c, root, &f))
        return API_ANSWERED;
    hist_json j;
    json__init(&j);
    json__begin_array(&j);
    size_t i;
    json_t *t;
    int ret = API_ANSWERED;
    uint64_t least = 0; /* every target has a tag at least: refuse before any work */
    json_array_foreach(targets, i, t)
    {
        if (json_is_object(t) && target_or_reply(c, t, &range, &f, &j, &least))
            goto fail;
    }
    if (least > c->budget.lim.max_rows && api__budget_rows_or_reply(c, "targets", least))
        goto fail;
    ret = 0;
    json_array_foreach(targets, i, t)
    {
        if (!json_is_object(t)) {
            ret = api__reply_error(c, 400, "targets", "each target must be an object");
            goto fail;
        }
        if (target_or_reply(c, t, &range, &f, &j, NULL) ||
            api__budget_bytes_or_reply(c, j.buf.len) || api__budget_time_or_reply(c)) {
            ret = API_ANSWERED; /* the error answer is set */
            goto fail;
        }
    }
    json__end_array(&j);
    grafana_filter__free(&f);
    return api__reply_json(c, 200, &j);
fail:
    json__free(&j);
    grafana_filter__free(&f);
    return ret;
}

int grafana__handle(api_ctx *c, const char *sub)
{
    const char *m = c->req->method ? c->req->method : "";
    if (!strcmp(sub, "/") || !strcmp(sub, "")) {
        if (strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "POST"))
            return api__reply_error(c, 405, NULL, "method %s not allowed here", m);
        return gf_root(c);
    }
    static const char *const posts[] = {
        "/metrics", "/metric-payload-options", "/query", "/variable", "/tag-keys", "/tag-values",
        "/search"};
    bool known = false;
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++)
        known |= !strcmp(sub, posts[i]);
    if (!known)
        return api__reply_error(c, 404, NULL, "no such Grafana endpoint: %s", sub);
    if (strcmp(m, "POST"))
        return api__reply_error(c, 405, NULL, "%s takes POST", sub);
    json_t *root = body_or_reply(c);
    if (!root)
        return API_ANSWERED;
    int ret;
    if (!strcmp(sub, "/metrics"))
        ret = gf_metrics(c, root);
    else if (!strcmp(sub, "/search")) {
        /* The older SimpleJSON protocol: {"target": prefix or glob} -> names. */
        const char *tgt = json_string_value(json_object_get(root, "target"));
        api_tag_list tags = {0};
        int rc = tgt && api__has_wildcard(tgt) ? api__tags_list(c, NULL, tgt, GF_MAX_TAGS, &tags)
                                               : api__tags_list(c, tgt, NULL, GF_MAX_TAGS, &tags);
        if (rc < 0 && rc != HIST_ENOSPC) {
            ret = api__reply_internal(c, rc);
        } else {
            hist_json j;
            json__init(&j);
            json__begin_array(&j);
            for (size_t i = 0; i < tags.n; i++)
                json__string(&j, tags.v[i].name);
            json__end_array(&j);
            ret = api__reply_json(c, 200, &j);
        }
        api__tag_list_free(&tags);
    } else if (!strcmp(sub, "/metric-payload-options"))
        ret = gf_payload_options(c, root);
    else if (!strcmp(sub, "/query"))
        ret = gf_query(c, root);
    else if (!strcmp(sub, "/variable"))
        ret = gf_variable(c, root);
    else if (!strcmp(sub, "/tag-keys"))
        ret = gf_tag_keys(c);
    else
        ret = gf_tag_values(c, root);
    json_decref(root);
    return ret;
}
