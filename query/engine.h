/*
 * engine.h: internals shared by the query engine's files (not a door:
 * only query/ and its tests include it). Names here are unit__name (the
 * file's unit: series__push, cursor__next, raw__run); hist_ names are the
 * door's (hist_query.h).
 *
 * The engine reads through a hist_qsource, a small table of functions with
 * the shape of the storage read API (hist_scan_*, hist_db_sample_*,
 * hist_db_latest, hist_tag_by_id). hist_query_run() uses the one backed by
 * a hist_db; tests can pass an array-backed source to exercise pure logic
 * (stats pieces, bucket edges) without a data directory.
 *
 * Layering: calls go one way, down this list; a file calls only the files
 * below it (and common/, storage's door), never one on its own level or
 * above:
 *   1. (common/tz.c: IANA zones)  parse.c: names of modes,
 *                      aggregates and fills (door functions)
 *   2. buckets.c       calendar and fixed bucket bounds (uses common/tz.c)
 *   3. series.c        growing a sample-shaped result series;
 *      cursor.c        decoding stats pieces, the sample-by-sample cursor;
      summary.c       a bucket's values and their percentiles (for agg.c)
 *   4. raw.c (raw and latest), interp.c, agg.c (uses buckets.c), plot.c,
 *      value.c:        the modes, one concern each; they never call each
 *                      other or engine.c
 *      boundary.c      the samples outside [from, to) raw and plot add
 *   5. engine.c        validation, dispatch to the modes, result memory,
 *                      the hist_db-backed source
 */
#ifndef HIST_QUERY_ENGINE_H
#define HIST_QUERY_ENGINE_H

#include "query/hist_query.h"

typedef struct {
    void *ctx;
    int (*tag_type)(void *ctx, uint32_t tag, hist_type *out);
    int (*scan_open)(void *ctx, uint32_t tag, int64_t from, int64_t to, unsigned flags,
                     void **scan);
    int (*scan_next)(void *scan, hist_piece *piece);
    int (*scan_decode)(void *scan, hist_piece *piece);
    void (*scan_close)(void *scan);
    int (*sample_before)(void *ctx, uint32_t tag, int64_t t, unsigned flags, hist_sample *out);
    int (*sample_at_or_after)(void *ctx, uint32_t tag, int64_t t, unsigned flags, hist_sample *out);
    int (*latest)(void *ctx, uint32_t tag, hist_sample *out);
    /* Damaged chunks of tag overlapping [from, to) (hist_db_damaged_count);
     * NULL: the source has none. */
    int (*damaged)(void *ctx, uint32_t tag, int64_t from, int64_t to, uint64_t *out);
} hist_qsource;

/* What one mode needs to answer one tag. out->tag and out->type are set;
 * the mode fills the rows. res counts chunks from stats / decoded. */
typedef struct hist_buckets hist_buckets;

typedef struct {
    const hist_qsource *src;
    const hist_query_spec *spec;
    const hist_buckets *buckets; /* agg: shared by every tag of the query, or NULL */
    uint32_t tag;
    hist_type type;
    hist_series_result *out;
    hist_result *res;
} hist_qctx;

/* Limits on result rows per series, so a tiny step cannot exhaust memory. */
#define HIST_QUERY_MAX_ROWS      ((size_t)10000000)
#define HIST_QUERY_MAX_POINTS    1000000u
#define HIST_QUERY_DEFAULT_LIMIT 100000

/* ---- 2. buckets.c ---- */

/* Contiguous buckets: bucket k is [bound[k], bound[k+1]) nominally; data is
 * read only inside [from, to), so the first and last bucket may be cut. */
struct hist_buckets {
    size_t n;
    int64_t *bound; /* n + 1 entries, strictly increasing */
};

int buckets__make(const hist_query_spec *spec, hist_buckets *out);
void buckets__free(hist_buckets *b);
/* Index of the bucket holding t (bound[0] <= t < bound[n]); -1 outside. */
long buckets__find(const hist_buckets *b, int64_t t);

/* ---- 3. series.c ---- */

/* Appends one (ts, value, quality) row to a sample-shaped series, growing
 * its arrays; *cap is the capacity the caller tracks. */
int series__reserve(hist_series_result *s, size_t *cap, size_t need);
int series__push(hist_series_result *s, size_t *cap, int64_t ts, hist_value v, uint32_t q);

/* HIST_ETIMEDOUT once spec->deadline_ns (CLOCK_MONOTONIC) has passed,
 * else 0. Cheap (a vDSO clock read): the modes call it per chunk piece and
 * every SERIES_CHECK_ROWS rows they produce. */
#define SERIES_CHECK_ROWS 4096
int series__past_deadline(const hist_query_spec *spec);

/* ---- 3. cursor.c ---- */

/* Decodes a stats piece the mode cannot answer from its statistics: 1,
 * 0 when its chunk turned out damaged (storage marked it; skip the piece:
 * the answer counts it), or a negative error. Counts chunks_decoded. */
int cursor__decode(hist_qctx *q, void *scan, hist_piece *p);

/* Walks the samples of [from, to) one by one, decoding stats pieces
 * (counted in res->chunks_decoded). For modes that need every sample. */
typedef struct {
    hist_qctx *q;
    void *scan;
    hist_piece p;
    size_t i;
    bool done;
} hist_qcursor;

int cursor__open(hist_qcursor *c, hist_qctx *q, int64_t from, int64_t to);
/* 1 and *out, 0 at the end, negative on error. */
int cursor__next(hist_qcursor *c, hist_sample *out);
void cursor__close(hist_qcursor *c);

/* ---- 3. summary.c ---- */

/* One bucket's counted values for the percentiles (agg.c), at most max
 * (0 = no limit): summary__push gives HIST_ENOSPC past it. */
typedef struct {
    double *v;
    size_t n, cap;
    uint64_t max;
} summary_values;

int summary__push(summary_values *sv, double x);
void summary__sort(summary_values *sv);
/* The p-th percentile (0 < p < 100) of the sorted values; NaN if none. */
double summary__percentile(const summary_values *sv, double p);
void summary__free(summary_values *sv);

/* ---- 4. the modes: raw.c, interp.c, agg.c, plot.c ---- */

int raw__run(hist_qctx *q);
int raw__latest(hist_qctx *q);
int interp__run(hist_qctx *q);
int agg__run(hist_qctx *q);
int plot__run(hist_qctx *q);
int value__run(hist_qctx *q);

/* ---- 4. boundary.c ---- */

/* After raw or plot filled q->out: adds the samples spec->boundary asks
 * for (hist_query.h), the before-sample as row 0, the after-sample last
 * (not to a raw answer the limit cut). */
int boundary__add(hist_qctx *q);

/* ---- 5. engine.c ---- */

/* hist_query_run() over any source. */
int engine__run_source(const hist_qsource *src, const hist_query_spec *spec, const uint32_t *tags,
                       size_t ntags, hist_result *out);

#endif
