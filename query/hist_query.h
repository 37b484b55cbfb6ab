/*
 * hist_query.h: the query engine's only door.
 *
 * A query names tags, a time range [from, to) and a mode:
 *   raw      recorded samples, with a limit and a continuation (next_ts)
 *   latest   the newest sample of each tag, from memory
 *   interp   a value every step: linear for float64 tags, previous value
 *            (step) for int64/bool; quality Bad where there is no data on
 *            one side, Uncertain where a surrounding sample is not Good
 *   agg      per bucket, the requested aggregates; fixed-step buckets or
 *            calendar buckets (hour, day, week, month, shift) in an IANA
 *            time zone, DST handled; the summaries (pct_good, time_min,
 *            time_max, changes, time_in_state:N, p50..p99, percentile:N)
 *            are defined at the top of agg.c
 *   plot     M4: per pixel bucket the first, min, max and last sample, so
 *            the line drawn from the result is the line drawn from raw data
 *   value    one row per tag at spec.at, by interp's rule (linear for
 *            float64, step for int64/bool); no row when no sample lies at
 *            or before at
 * raw and plot take spec.boundary (PI's boundary types): with
 * HIST_BOUNDARY_BEFORE the answer starts with the last sample before from,
 * with HIST_BOUNDARY_AFTER it ends with the first sample at or after to,
 * when they exist (every quality). raw's limit counts only the samples
 * inside [from, to); the after-sample is added only to an answer the limit
 * did not cut (next_ts == INT64_MIN), so a caller paging with from =
 * next_ts asks for the before-sample on the first page only.
 * The engine answers buckets that cover whole chunks from the chunk
 * statistics in the index and decodes only the chunks at bucket edges.
 * Chunks marked damaged are left out of every mode alike, and counted in
 * hist_result.damaged_chunks.
 *
 * Results are columnar per tag (hist_series_result). Aggregate columns hold
 * NaN where a bucket has no value (empty bucket with fill "null").
 */
#ifndef HIST_QUERY_H
#define HIST_QUERY_H

#include "common/hist_time.h"
#include "storage/hist_storage.h"

typedef enum {
    HIST_MODE_RAW = 0,
    HIST_MODE_LATEST,
    HIST_MODE_INTERP,
    HIST_MODE_AGG,
    HIST_MODE_PLOT,
    HIST_MODE_VALUE,
} hist_mode;

/* hist_query_spec.boundary (raw, plot): which samples outside [from, to)
 * the answer adds. 0 is PI's "inside". */
enum {
    HIST_BOUNDARY_BEFORE = 1, /* the last sample with ts < from, first */
    HIST_BOUNDARY_AFTER = 2,  /* the first sample with ts >= to, last */
    HIST_BOUNDARY_OUTSIDE = HIST_BOUNDARY_BEFORE | HIST_BOUNDARY_AFTER,
};

typedef enum {
    HIST_AGG_COUNT = 0,
    HIST_AGG_MIN,
    HIST_AGG_MAX,
    HIST_AGG_SUM,
    HIST_AGG_MEAN,
    HIST_AGG_TWA,    /* time-weighted average (step or linear by tag type) */
    HIST_AGG_STDDEV, /* population standard deviation */
    HIST_AGG_FIRST,
    HIST_AGG_LAST,
    HIST_AGG_RANGE,         /* max - min */
    HIST_AGG_INTEGRAL,      /* per second: value * seconds (flow rate -> total) */
    HIST_AGG_DELTA,         /* counter increase, resets handled */
    HIST_AGG_DURATION_TRUE, /* seconds a bool was true */
    HIST_AGG_PCT_GOOD,      /* percent of the time the quality was Good (all samples) */
    HIST_AGG_TIME_MIN,      /* time of the (first) minimum: a time column */
    HIST_AGG_TIME_MAX,      /* time of the (first) maximum: a time column */
    HIST_AGG_CHANGES,       /* samples whose value differs from the previous one */
    HIST_AGG_TIME_IN_STATE, /* seconds the step value equalled agg_arg (int64/bool) */
    HIST_AGG_P50,           /* percentiles of the bucket's values (linear between ranks) */
    HIST_AGG_P90,
    HIST_AGG_P95,
    HIST_AGG_P99,
    HIST_AGG_PERCENTILE, /* the agg_arg-th percentile, 0 < agg_arg < 100 */
    HIST_AGG__COUNT
} hist_agg;

/* Aggregates one query may ask for (time_in_state and percentile repeat
 * with different arguments). */
#define HIST_MAX_AGGS 32

typedef enum {
    HIST_FILL_NONE = 0, /* empty buckets are left out */
    HIST_FILL_NULL,     /* empty buckets are rows of NaN (null) */
    HIST_FILL_PREVIOUS, /* empty buckets repeat the previous bucket's values */
    HIST_FILL_LINEAR,   /* empty buckets are interpolated between neighbours */
} hist_fill;

typedef enum {
    HIST_BUCKET_FIXED = 0, /* step_ns, aligned to the epoch */
    HIST_BUCKET_HOUR,
    HIST_BUCKET_DAY,
    HIST_BUCKET_WEEK, /* ISO weeks, starting Monday 00:00 local */
    HIST_BUCKET_MONTH,
    HIST_BUCKET_SHIFT, /* shift_start_min[] local times each day */
} hist_bucket_kind;

#define HIST_MAX_SHIFTS 8

typedef struct {
    hist_mode mode;
    int64_t from, to;  /* [from, to), ns; value mode ignores them */
    int64_t at;        /* value: the time of the answer, ns */
    unsigned boundary; /* raw, plot: HIST_BOUNDARY_* flags; 0 = inside */

    size_t limit; /* raw: samples per tag, 0 = 100000 */

    int64_t step_ns; /* interp; agg with HIST_BUCKET_FIXED */
    uint32_t points; /* plot: pixel width (M4 returns up to 4 points per pixel) */

    hist_agg aggs[HIST_MAX_AGGS];  /* agg: the requested aggregates, in order */
    double agg_arg[HIST_MAX_AGGS]; /* time_in_state: the state; percentile: N; else unused */
    int naggs;
    /* agg with percentiles: the most values held at once (one bucket's
     * counted samples); a bucket with more stops the query with
     * HIST_ENOSPC. 0 = no limit. */
    uint64_t max_values;
    hist_bucket_kind bucket;
    char tz[64];                          /* IANA zone for calendar buckets; "" = UTC */
    int shift_start_min[HIST_MAX_SHIFTS]; /* minutes after local midnight, ascending */
    int nshifts;
    hist_fill fill;
    bool include_bad; /* include Bad-quality samples in aggregates */
    uint32_t threads; /* plot: at most this many threads; 0 = automatic (see plot.c) */
    /* CLOCK_MONOTONIC ns after which the query stops with HIST_ETIMEDOUT
     * (checked per tag, per chunk piece and every few thousand rows);
     * 0 = no deadline. */
    int64_t deadline_ns;
} hist_query_spec;

void hist_query_spec_init(hist_query_spec *spec);

typedef struct {
    uint32_t tag;
    hist_type type;
    size_t n;                     /* rows */
    int64_t *ts;                  /* sample time, point time, bucket start; value: at */
    int64_t *ts_end;              /* agg: bucket end (exclusive); else NULL */
    hist_value *value;            /* raw, latest, interp, plot, value: the value (exact for raw) */
    uint32_t *q;                  /* raw, latest, interp, plot, value: quality */
    double *col[HIST_MAX_AGGS];   /* agg: col[k][row] for spec.aggs[k]; NaN = null */
    /* agg, time columns (time_min, time_max): the exact time in ns where
     * col[k][row] is not NaN (col then holds the same time as a double);
     * NULL for other columns. */
    int64_t *tcol[HIST_MAX_AGGS];
    int64_t next_ts; /* raw: where to continue when the limit cut the result, else INT64_MIN */
} hist_series_result;

typedef struct {
    size_t nseries;
    hist_series_result *series;
    uint64_t chunks_from_stats; /* chunks answered by their statistics */
    uint64_t chunks_decoded;    /* chunks read and decoded */
    /* Chunks left out because they are damaged (hist_storage.h): per tag,
     * those overlapping [from, to); for latest, those that could hold a
     * sample later than the one answered. Every mode leaves them out the
     * same way, so raw and aggregates from statistics agree. */
    uint64_t damaged_chunks;
} hist_result;

/* Runs spec over ntags tags. On success *out holds one series per tag, in
 * the order given; free it with hist_result_free(). Returns HIST_EINVAL for
 * a spec that breaks a rule (empty range, step 0, unknown time zone...). */
int hist_query_run(hist_db *db, const hist_query_spec *spec, const uint32_t *tags, size_t ntags,
                   hist_result *out);
void hist_result_free(hist_result *res);

/* ---- Names and parsing (shared by the HTTP API, Grafana and the CLI) ---- */

const char *hist_agg_name(hist_agg agg); /* "twa" */
int hist_agg_parse(const char *name, hist_agg *out);
/* time_in_state and percentile take an argument (agg=time_in_state:3,
 * agg=percentile:99.9). */
bool hist_agg_takes_arg(hist_agg agg);
/* The argument text of agg: time_in_state an integer within +-2^53 or
 * true/false, percentile a number 0 < N < 100. HIST_EINVAL otherwise. */
int hist_agg_parse_arg(hist_agg agg, const char *text, double *arg);
/* The column name of an aggregate with its argument: "twa",
 * "time_in_state:3", "percentile:99.9". Returns out. */
const char *hist_agg_label(hist_agg agg, double arg, char *out, size_t size);
/* time_min and time_max: columns of times (hist_series_result.tcol). */
bool hist_agg_is_time(hist_agg agg);
const char *hist_mode_name(hist_mode mode);
int hist_mode_parse(const char *name, hist_mode *out);
int hist_fill_parse(const char *name, hist_fill *out);
/* Durations and times: hist_duration_parse(), hist_time_parse() in
 * common/hist_time.h (included above). */

#endif
