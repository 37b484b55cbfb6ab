/*
 * engine.c: the query engine's entry point. Validates a hist_query_spec,
 * runs the requested mode once per tag and owns the result memory.
 *
 * Modes live in their own files (raw.c, interp.c, agg.c, plot.c); they
 * read through a hist_qsource (engine.h) so the same code serves the real
 * storage and the array-backed sources of the unit tests. What the modes
 * share (series.c, cursor.c) sits below them: engine.c calls the modes,
 * the modes never call engine.c (the layering is at the top of engine.h).
 *
 * Validation rules (HIST_EINVAL): from < to for every mode but latest;
 * interp needs step_ns > 0; agg needs 1..HIST_MAX_AGGS known aggregates
 * (percentile's argument in (0, 100), time_in_state's a whole number)
 * and, for fixed buckets, step_ns > 0; plot needs 1..HIST_QUERY_MAX_POINTS
 * points; shifts must be ascending minutes inside one day; boundary flags
 * only for raw and plot. value ignores from/to and reads spec->at. Too many result
 * rows (a tiny step over a long range) is HIST_ETOOBIG. from/to are first
 * clamped to [HIST_TS_MIN, HIST_TS_MAX] (no sample lies outside), so "from
 * the beginning of time" works and time arithmetic cannot overflow.
 *
 * Counters: res->chunks_from_stats counts stats pieces answered without
 * decoding; res->chunks_decoded counts stats pieces the engine had to
 * decode (hist_scan_decode). Chunks the scan decodes by itself (cut by the
 * range edges, overlapping others) show only in hist_db_stats.chunks_decoded.
 * res->damaged_chunks counts, per tag once the mode has run, the damaged
 * chunks the answer left out (the scans skip them; a stats piece whose
 * chunk fails to decode is skipped too, and storage has marked it by then).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/engine.h"

void hist_query_spec_init(hist_query_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->mode = HIST_MODE_RAW;
    spec->bucket = HIST_BUCKET_FIXED;
    spec->fill = HIST_FILL_NONE;
}

static void series_free(hist_series_result *s)
{
    free(s->ts);
    free(s->ts_end);
    free(s->value);
    free(s->q);
    for (int k = 0; k < HIST_MAX_AGGS; k++) {
        free(s->col[k]);
        free(s->tcol[k]);
    }
    memset(s, 0, sizeof(*s));
}

void hist_result_free(hist_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->nseries; i++)
        series_free(&res->series[i]);
    free(res->series);
    memset(res, 0, sizeof(*res));
}

/* A known aggregate with a valid argument (hist_agg_parse_arg's rules). */
static bool agg_ok(hist_agg a, double arg)
{
    if ((int)a < 0 || a >= HIST_AGG__COUNT)
        return false;
    if (a == HIST_AGG_PERCENTILE)
        return arg > 0 && arg < 100;
    if (a == HIST_AGG_TIME_IN_STATE)
        return arg == floor(arg) && fabs(arg) <= 9007199254740992.0;
    return true;
}

static int validate(const hist_query_spec *spec)
{
    if (spec->boundary & ~(unsigned)HIST_BOUNDARY_OUTSIDE)
        return HIST_EINVAL;
    if (spec->boundary && spec->mode != HIST_MODE_RAW && spec->mode != HIST_MODE_PLOT)
        return HIST_EINVAL;
    if (spec->mode == HIST_MODE_LATEST || spec->mode == HIST_MODE_VALUE)
        return 0;
    if (spec->from >= spec->to)
        return HIST_EINVAL;
    switch (spec->mode) {
    case HIST_MODE_RAW:
        return 0;
    case HIST_MODE_INTERP:
        if (spec->step_ns <= 0)
            return HIST_EINVAL;
        /* Rows = ceil((to - from) / step); compared without overflow. */
        if (((uint64_t)spec->to - (uint64_t)spec->from) / (uint64_t)spec->step_ns >=
            HIST_QUERY_MAX_ROWS)
            return HIST_ETOOBIG;
        return 0;
    case HIST_MODE_PLOT:
        if (spec->points == 0 || spec->points > HIST_QUERY_MAX_POINTS)
            return HIST_EINVAL;
        return 0;
    case HIST_MODE_AGG:
        if (spec->naggs <= 0 || spec->naggs > HIST_MAX_AGGS)
            return HIST_EINVAL;
        for (int k = 0; k < spec->naggs; k++)
            if (!agg_ok(spec->aggs[k], spec->agg_arg[k]))
                return HIST_EINVAL;
        if ((int)spec->fill < 0 || spec->fill > HIST_FILL_LINEAR)
            return HIST_EINVAL;
        if (spec->bucket == HIST_BUCKET_FIXED && spec->step_ns <= 0)
            return HIST_EINVAL;
        if (spec->bucket == HIST_BUCKET_FIXED &&
            ((uint64_t)spec->to - (uint64_t)spec->from) / (uint64_t)spec->step_ns >=
                HIST_QUERY_MAX_ROWS)
            return HIST_ETOOBIG;
        if ((int)spec->bucket < 0 || spec->bucket > HIST_BUCKET_SHIFT)
            return HIST_EINVAL;
        if (spec->bucket == HIST_BUCKET_SHIFT) {
            if (spec->nshifts <= 0 || spec->nshifts > HIST_MAX_SHIFTS)
                return HIST_EINVAL;
            for (int i = 0; i < spec->nshifts; i++) {
                int m = spec->shift_start_min[i];
                if (m < 0 || m >= 24 * 60 || (i > 0 && m <= spec->shift_start_min[i - 1]))
                    return HIST_EINVAL;
            }
        }
        return 0;
    default:
        return HIST_EINVAL;
    }
}

/* Adds the damaged chunks the answer of one tag left out to res. */
static int count_damaged(const hist_qsource *src, const hist_query_spec *spec,
                         const hist_series_result *s, hist_result *res)
{
    if (!src->damaged || spec->mode == HIST_MODE_VALUE)
        return 0; /* value reads no range (its neighbour searches skip damage) */
    int64_t from = spec->from, to = spec->to;
    if (spec->mode == HIST_MODE_LATEST) { /* what could hold a later sample */
        from = s->n ? s->ts[0] + 1 : HIST_TS_MIN;
        to = HIST_TS_MAX + 1;
    }
    uint64_t n = 0;
    int rc = from < to ? src->damaged(src->ctx, s->tag, from, to, &n) : 0;
    res->damaged_chunks += n;
    return rc;
}

static int run_one(const hist_qsource *src, const hist_query_spec *spec,
                   const hist_buckets *buckets, uint32_t tag, hist_series_result *s,
                   hist_result *res)
{
    hist_qctx q = {.src = src, .spec = spec, .buckets = buckets, .tag = tag, .out = s, .res = res};
    s->tag = tag;
    s->next_ts = INT64_MIN;
    int rc = src->tag_type(src->ctx, tag, &q.type);
    if (rc < 0)
        return rc;
    s->type = q.type;
    switch (spec->mode) {
    case HIST_MODE_RAW:
        rc = raw__run(&q);
        break;
    case HIST_MODE_LATEST:
        rc = raw__latest(&q);
        break;
    case HIST_MODE_INTERP:
        rc = interp__run(&q);
        break;
    case HIST_MODE_AGG:
        rc = agg__run(&q);
        break;
    case HIST_MODE_PLOT:
        rc = plot__run(&q);
        break;
    case HIST_MODE_VALUE:
        rc = value__run(&q);
        break;
    default:
        return HIST_EINVAL;
    }
    if (rc >= 0 && spec->boundary)
        rc = boundary__add(&q);
    return rc < 0 ? rc : count_damaged(src, spec, s, res);
}

int engine__run_source(const hist_qsource *src, const hist_query_spec *spec, const uint32_t *tags,
                       size_t ntags, hist_result *out)
{
    memset(out, 0, sizeof(*out));
    /* No sample lies outside [HIST_TS_MIN, HIST_TS_MAX]: clamping the range
     * keeps every later time computation far from int64 overflow. */
    hist_query_spec clamped = *spec;
    if (clamped.from < HIST_TS_MIN)
        clamped.from = HIST_TS_MIN;
    if (clamped.to > HIST_TS_MAX)
        clamped.to = HIST_TS_MAX + 1;
    if (clamped.at < HIST_TS_MIN)
        clamped.at = HIST_TS_MIN;
    if (clamped.at > HIST_TS_MAX)
        clamped.at = HIST_TS_MAX;
    spec = &clamped;
    int rc = validate(spec);
    if (rc < 0)
        return rc;
    if (ntags == 0)
        return 0;
    out->series = calloc(ntags, sizeof(*out->series));
    if (!out->series)
        return HIST_ENOMEM;
    out->nseries = ntags;
    hist_buckets buckets = {0};
    if (spec->mode == HIST_MODE_AGG && (rc = buckets__make(spec, &buckets)) < 0) {
        hist_result_free(out);
        return rc;
    }
    for (size_t i = 0; i < ntags && rc >= 0; i++)
        rc = (rc = series__past_deadline(spec)) < 0
                 ? rc
                 : run_one(src, spec, spec->mode == HIST_MODE_AGG ? &buckets : NULL, tags[i],
                           &out->series[i], out);
    buckets__free(&buckets);
    if (rc < 0) {
        hist_result_free(out);
        return rc;
    }
    return 0;
}

/* ---- The source backed by a hist_db ---- */

static int db_tag_type(void *ctx, uint32_t tag, hist_type *out)
{
    return hist_tag_type(ctx, tag, out);
}

static int db_scan_open(void *ctx, uint32_t tag, int64_t from, int64_t to, unsigned flags,
                        void **scan)
{
    hist_scan *s = NULL;
    int rc = hist_scan_open(ctx, tag, from, to, flags, &s);
    *scan = s;
    return rc;
}

static int db_scan_next(void *scan, hist_piece *piece)
{
    return hist_scan_next(scan, piece);
}

static int db_scan_decode(void *scan, hist_piece *piece)
{
    return hist_scan_decode(scan, piece);
}

static void db_scan_close(void *scan)
{
    hist_scan_close(scan);
}

static int db_sample_before(void *ctx, uint32_t tag, int64_t t, unsigned flags, hist_sample *out)
{
    return hist_db_sample_before(ctx, tag, t, flags, out);
}

static int db_sample_at_or_after(void *ctx, uint32_t tag, int64_t t, unsigned flags,
                                 hist_sample *out)
{
    return hist_db_sample_at_or_after(ctx, tag, t, flags, out);
}

static int db_latest(void *ctx, uint32_t tag, hist_sample *out)
{
    return hist_db_latest(ctx, tag, out);
}

static int db_damaged(void *ctx, uint32_t tag, int64_t from, int64_t to, uint64_t *out)
{
    return hist_db_damaged_count(ctx, tag, from, to, out);
}

int hist_query_run(hist_db *db, const hist_query_spec *spec, const uint32_t *tags, size_t ntags,
                   hist_result *out)
{
    hist_qsource src = {
        .ctx = db,
        .tag_type = db_tag_type,
        .scan_open = db_scan_open,
        .scan_next = db_scan_next,
        .scan_decode = db_scan_decode,
        .scan_close = db_scan_close,
        .sample_before = db_sample_before,
        .sample_at_or_after = db_sample_at_or_after,
        .latest = db_latest,
        .damaged = db_damaged,
    };
    if (!db || !spec || !out || (ntags > 0 && !tags)) {
        if (out)
            memset(out, 0, sizeof(*out));
        return HIST_EINVAL;
    }
    return engine__run_source(&src, spec, tags, ntags, out);
}
