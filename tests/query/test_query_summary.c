/*
 * test_query_summary.c: the summary aggregates (pct_good, time_min,
 * time_max, changes, time_in_state:N, p50..p99, percentile:N) over the
 * real storage engine, against the brute force of ref_summary.h, and the
 * older aggregates asked together with them against ref.h.
 *
 * Data: a float64, an int64 and a bool tag, a sample a minute (with gaps
 * of hours, so some buckets are empty) around Europe/Berlin's 2026 DST
 * days (29 March, 25 October), qualities Good, Uncertain and Bad (a
 * three-hour run all Bad), NaN and -0/+0 in the float tag, values that
 * repeat (changes), written in shuffled batches with flushes (sealed
 * chunks of 64 samples, answered from statistics when nothing summary is
 * asked) and overwrites, the newest part left in the memtable. Buckets:
 * hour, day and shifts (06/14/22 and 02:30/14:30, whose 02:30 falls in
 * the spring gap) in Europe/Berlin, and a fixed 37 minutes; from/to off
 * sample times so the boundary sample before from counts, and a range
 * starting before the first sample. Also: the stats path is skipped only
 * when a summary aggregate is asked, the values budget (HIST_ENOSPC), a
 * float tag with time_in_state (HIST_ETYPE), bad arguments (HIST_EINVAL),
 * the names and labels.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rng.h"
#include "tmpdir.h"
#include "query/hist_query.h"
#include "ref.h"
#include "ref_summary.h"

#define SEC  INT64_C(1000000000)
#define MIN  (60 * SEC)
#define HOUR (3600 * SEC)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    return xorshift64(&rng);
}

typedef struct {
    uint32_t id;
    hist_type type;
    hist_sample *truth; /* sorted, unique: last write wins */
    size_t n;
} tag_data;

static int cmp_ts(const void *a, const void *b)
{
    const hist_sample *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return (hist_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60) * SEC;
}

/* Values that often repeat, so changes and time_in_state have work. */
static hist_value next_value(hist_type type, hist_value prev)
{
    hist_value v = prev;
    if (rnd() % 4 != 0)
        return v; /* unchanged */
    if (type == HIST_TYPE_FLOAT64) {
        uint64_t r = rnd() % 100;
        v.f = r < 3 ? NAN : r < 6 ? -0.0 : r < 9 ? 0.0 : 10 + (double)(rnd() % 40) * 0.5;
    } else if (type == HIST_TYPE_BOOL) {
        v.i = !prev.i;
    } else {
        v.i = (int64_t)(rnd() % 4);
    }
    return v;
}

/* One window of minutes [t0, t0 + days): gaps, Bad runs, qualities. */
static size_t make_window(hist_sample *s, size_t at, hist_type type, int64_t t0, int days)
{
    hist_value v = {0};
    if (type == HIST_TYPE_FLOAT64)
        v.f = 12.5;
    int64_t end = t0 + (int64_t)days * 24 * HOUR;
    int64_t bad_from = t0 + 30 * HOUR, bad_to = bad_from + 3 * HOUR;
    for (int64_t t = t0; t < end; t += MIN) {
        if (rnd() % 500 == 0)
            t += (int64_t)(1 + rnd() % 7) * HOUR; /* a gap: empty buckets */
        if (t >= end)
            break;
        v = next_value(type, v);
        s[at].ts = t + (int64_t)(rnd() % 30) * SEC;
        s[at].v = v;
        uint64_t r = rnd() % 100;
        s[at].q = (t >= bad_from && t < bad_to) ? HIST_QUALITY_BAD + 3
                  : r < 6                       ? HIST_QUALITY_BAD
                  : r < 12                      ? HIST_QUALITY_UNCERTAIN + 7
                                                : 0;
        at++;
    }
    return at;
}

static void write_batch(hist_db *db, uint32_t id, const hist_sample *s, size_t n)
{
    int64_t *ts = malloc(n * sizeof(*ts));
    hist_value *v = malloc(n * sizeof(*v));
    uint32_t *q = malloc(n * sizeof(*q));
    for (size_t i = 0; i < n; i++)
        ts[i] = s[i].ts, v[i] = s[i].v, q[i] = s[i].q;
    hist_series ser = {id, n, ts, v, q};
    uint64_t lsn;
    CHECK_OK(hist_db_write(db, &ser, 1, &lsn));
    free(ts);
    free(v);
    free(q);
}

/* Both DST windows; batches of 300 in shuffled order, a flush after most
 * (the last batches stay in the memtable), then overwrites. */
static void load_tag(hist_db *db, tag_data *td)
{
    size_t cap = 2 * 5 * 24 * 60 + 16;
    hist_sample *s = calloc(cap, sizeof(*s));
    size_t n = make_window(s, 0, td->type, utc(2026, 3, 27, 8, 0), 4);
    n = make_window(s, n, td->type, utc(2026, 10, 23, 8, 0), 4);
    size_t nb = (n + 299) / 300;
    size_t *order = malloc(nb * sizeof(*order));
    for (size_t b = 0; b < nb; b++)
        order[b] = b;
    for (size_t b = nb; b > 1; b--) {
        size_t j = rnd() % b, tmp = order[b - 1];
        order[b - 1] = order[j];
        order[j] = tmp;
    }
    for (size_t k = 0; k < nb; k++) {
        size_t a = order[k] * 300, e = a + 300 < n ? a + 300 : n;
        write_batch(db, td->id, s + a, e - a);
        if (k + 3 < nb)
            CHECK_OK(hist_db_flush(db));
    }
    for (int i = 0; i < 150; i++) { /* overwrites, some turning Bad */
        size_t j = rnd() % n;
        s[j].v = next_value(td->type, s[j].v);
        s[j].q = rnd() % 3 == 0 ? HIST_QUALITY_BAD : 0;
        write_batch(db, td->id, &s[j], 1);
    }
    qsort(s, n, sizeof(*s), cmp_ts);
    td->truth = s;
    td->n = n;
    free(order);
}

typedef struct {
    hist_agg agg;
    double arg;
} agg_item;

static void set_aggs(hist_query_spec *spec, const agg_item *items, int n)
{
    spec->naggs = n;
    for (int k = 0; k < n; k++) {
        spec->aggs[k] = items[k].agg;
        spec->agg_arg[k] = items[k].arg;
    }
}

/* The aggregates asked of each type: every summary one, and some older
 * ones beside them (which must stay right with the stats path off). */
static int aggs_for(hist_type type, agg_item *out)
{
    int n = 0;
    const hist_agg common[] = {
        HIST_AGG_PCT_GOOD, HIST_AGG_TIME_MIN, HIST_AGG_TIME_MAX, HIST_AGG_CHANGES, HIST_AGG_P50,
        HIST_AGG_P90,      HIST_AGG_P95,      HIST_AGG_P99,      HIST_AGG_MEAN,    HIST_AGG_COUNT,
        HIST_AGG_TWA,      HIST_AGG_MIN,      HIST_AGG_DELTA};
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        out[n++] = (agg_item){common[i], 0};
    out[n++] = (agg_item){HIST_AGG_PERCENTILE, 37.5};
    out[n++] = (agg_item){HIST_AGG_PERCENTILE, 99.9};
    if (type == HIST_TYPE_INT64)
        for (int st = 0; st < 4; st++)
            out[n++] = (agg_item){HIST_AGG_TIME_IN_STATE, st};
    if (type == HIST_TYPE_BOOL) {
        out[n++] = (agg_item){HIST_AGG_TIME_IN_STATE, 1};
        out[n++] = (agg_item){HIST_AGG_TIME_IN_STATE, 0};
        out[n++] = (agg_item){HIST_AGG_DURATION_TRUE, 0};
    }
    return n;
}

typedef struct {
    long rows, nonempty, empty, all_bad, mismatches, dropped;
} tally;

/* Is the bucket empty by the rule of agg.c (no counted sample, and no
 * pct_good time when pct_good is asked)? */
static bool ref_empty(const tag_data *td, const hist_query_spec *spec, int64_t S, int64_t E)
{
    double v;
    int64_t t;
    bool has_count = ref_agg(td->truth, td->n, td->type, spec->include_bad, S, E, spec->from,
                             spec->to, HIST_AGG_COUNT, &v);
    bool pct = false;
    for (int k = 0; k < spec->naggs; k++)
        pct |= spec->aggs[k] == HIST_AGG_PCT_GOOD;
    bool covered = pct && ref_summary(td->truth, td->n, td->type, spec->include_bad, S, E,
                                      spec->from, spec->to, HIST_AGG_PCT_GOOD, 0, &v, &t);
    return !has_count && !covered;
}

static void check_rows(const tag_data *td, const hist_query_spec *spec, const hist_result *res,
                       const char *what, tally *tl)
{
    REQUIRE(res->nseries == 1);
    const hist_series_result *s = &res->series[0];
    for (size_t r = 0; r < s->n; r++) {
        tl->rows++;
        bool counted_any = false;
        for (int k = 0; k < spec->naggs; k++) {
            hist_agg a = spec->aggs[k];
            double want = NAN;
            int64_t want_t = 0;
            bool has;
            if (ref_is_summary(a))
                has = ref_summary(td->truth, td->n, td->type, spec->include_bad, s->ts[r],
                                  s->ts_end[r], spec->from, spec->to, a, spec->agg_arg[k], &want,
                                  &want_t);
            else
                has = ref_agg(td->truth, td->n, td->type, spec->include_bad, s->ts[r], s->ts_end[r],
                              spec->from, spec->to, a, &want);
            if (!has)
                want = NAN;
            bool ok = ref_close(s->col[k][r], want);
            if (hist_agg_is_time(a))
                ok = (s->tcol[k] != NULL) &&
                     (has ? !isnan(s->col[k][r]) && s->tcol[k][r] == want_t : isnan(s->col[k][r]));
            if (!ok && tl->mismatches++ < 8) {
                char label[48];
                fprintf(stderr,
                        "%s: row %zu [%lld,%lld) %s got %.17g (t %lld) want %.17g (t %lld)\n", what,
                        r, (long long)s->ts[r], (long long)s->ts_end[r],
                        hist_agg_label(a, spec->agg_arg[k], label, sizeof label), s->col[k][r],
                        s->tcol[k] ? (long long)s->tcol[k][r] : 0LL, want, (long long)want_t);
            }
        }
        double cnt;
        counted_any = ref_agg(td->truth, td->n, td->type, spec->include_bad, s->ts[r], s->ts_end[r],
                              spec->from, spec->to, HIST_AGG_COUNT, &cnt);
        bool empty = ref_empty(td, spec, s->ts[r], s->ts_end[r]);
        tl->empty += empty;
        tl->nonempty += counted_any;
        tl->all_bad += !counted_any && !empty;
        if (spec->fill == HIST_FILL_NONE && empty && tl->mismatches++ < 8)
            fprintf(stderr, "%s: fill=none kept empty row %zu\n", what, r);
    }
}

/* How many buckets the reference says the range has: the answer with
 * fill=null must have one row each, contiguous from the bucket of from. */
static void check_contiguous(const hist_query_spec *spec, const hist_result *res, const char *what)
{
    const hist_series_result *s = &res->series[0];
    bool ok = s->n > 0 && s->ts[0] <= spec->from && s->ts_end[s->n - 1] >= spec->to;
    for (size_t r = 1; r < s->n; r++)
        ok &= s->ts[r] == s->ts_end[r - 1];
    CHECKF(ok, "%s: %zu rows do not tile [from, to)", what, s->n);
}

typedef struct {
    const char *name;
    hist_bucket_kind kind;
    int64_t step;
    int shifts[3], nshifts;
    int64_t from, to;
    size_t want_rows; /* fill=null rows known from the calendar; 0 = not checked */
} bucket_case;

/* few: only changes, pct_good and p50 (no time weighting, no delta that
 * would fetch the boundary sample for them). */
static void run_case(hist_db *db, const tag_data *td, const bucket_case *bc, bool include_bad,
                     hist_fill fill, bool few, tally *tl)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.bucket = bc->kind;
    spec.step_ns = bc->step;
    snprintf(spec.tz, sizeof spec.tz, "Europe/Berlin");
    for (int i = 0; i < bc->nshifts; i++)
        spec.shift_start_min[i] = bc->shifts[i];
    spec.nshifts = bc->nshifts;
    spec.from = bc->from;
    spec.to = bc->to;
    spec.include_bad = include_bad;
    spec.fill = fill;
    agg_item items[HIST_MAX_AGGS];
    set_aggs(&spec, items, aggs_for(td->type, items));
    if (few) {
        const agg_item f[] = {{HIST_AGG_CHANGES, 0}, {HIST_AGG_PCT_GOOD, 0}, {HIST_AGG_P50, 0}};
        set_aggs(&spec, f, 3);
    }
    hist_result res;
    int rc = hist_query_run(db, &spec, &td->id, 1, &res);
    char what[128];
    snprintf(what, sizeof what, "type %d %s bad=%d fill=%d%s", td->type, bc->name, include_bad,
             fill, few ? " few" : "");
    CHECKF(rc == 0, "%s: %s", what, hist_strerror(rc));
    if (rc != 0)
        return;
    CHECKF(res.chunks_from_stats == 0, "%s: %llu chunks from stats with summary aggregates", what,
           (unsigned long long)res.chunks_from_stats);
    long before = tl->mismatches;
    check_rows(td, &spec, &res, what, tl);
    CHECKF(tl->mismatches == before, "%s: %ld mismatches", what, tl->mismatches - before);
    if (fill == HIST_FILL_NONE) { /* every non-empty bucket kept, none dropped */
        hist_query_spec all = spec;
        all.fill = HIST_FILL_NULL;
        hist_result full;
        if (hist_query_run(db, &all, &td->id, 1, &full) == 0) {
            size_t want = 0;
            for (size_t r = 0; r < full.series[0].n; r++)
                want += !ref_empty(td, &spec, full.series[0].ts[r], full.series[0].ts_end[r]);
            CHECKF(res.series[0].n == want, "%s: %zu rows, want %zu of %zu", what, res.series[0].n,
                   want, full.series[0].n);
            tl->dropped += (long)(full.series[0].n - want);
            hist_result_free(&full);
        }
    }
    if (fill == HIST_FILL_NULL) {
        check_contiguous(&spec, &res, what);
        if (bc->want_rows)
            CHECKF(res.series[0].n == bc->want_rows, "%s: %zu rows, want %zu", what,
                   res.series[0].n, bc->want_rows);
    }
    hist_result_free(&res);
}

static void check_buckets(hist_db *db, const tag_data *td, tally *tl)
{
    const bucket_case cases[] = {
        /* 2026-03-29 in Berlin: 23 local hours; from/to off the hour */
        {"hour spring",
         HIST_BUCKET_HOUR,
         0,
         {0},
         0,
         utc(2026, 3, 28, 11, 17) + 13 * SEC,
         utc(2026, 3, 30, 3, 41),
         0},
        {"hour autumn",
         HIST_BUCKET_HOUR,
         0,
         {0},
         0,
         utc(2026, 10, 24, 20, 0),
         utc(2026, 10, 25, 23, 0),
         27}, /* 22:00 CEST .. 00:00 CET: 2 + 25 hours */
        {"day spring",
         HIST_BUCKET_DAY,
         0,
         {0},
         0,
         utc(2026, 3, 26, 23, 0),
         utc(2026, 3, 31, 22, 0),
         5},
        {"day autumn",
         HIST_BUCKET_DAY,
         0,
         {0},
         0,
         utc(2026, 10, 22, 22, 0) + 7 * MIN,
         utc(2026, 10, 27, 23, 0),
         5},
        /* before the first sample: no boundary sample, pct_good starts late */
        {"day from before data",
         HIST_BUCKET_DAY,
         0,
         {0},
         0,
         utc(2026, 3, 20, 0, 0),
         utc(2026, 3, 29, 12, 0),
         0},
        {"shift 06/14/22",
         HIST_BUCKET_SHIFT,
         0,
         {360, 840, 1320},
         3,
         utc(2026, 3, 27, 12, 0),
         utc(2026, 3, 31, 5, 0),
         0},
        {"shift 02:30/14:30",
         HIST_BUCKET_SHIFT,
         0,
         {150, 870},
         2,
         utc(2026, 3, 27, 12, 0),
         utc(2026, 3, 31, 5, 0),
         0},
        {"shift autumn",
         HIST_BUCKET_SHIFT,
         0,
         {360, 840, 1320},
         3,
         utc(2026, 10, 23, 7, 30),
         utc(2026, 10, 27, 8, 0),
         0},
        {"fixed 37m",
         HIST_BUCKET_FIXED,
         37 * MIN,
         {0},
         0,
         utc(2026, 10, 24, 3, 3),
         utc(2026, 10, 26, 1, 0),
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case(db, td, &cases[i], false, HIST_FILL_NULL, false, tl);
        run_case(db, td, &cases[i], true, HIST_FILL_NULL, false, tl);
        run_case(db, td, &cases[i], false, HIST_FILL_NULL, true, tl);
    }
    run_case(db, td, &cases[0], false, HIST_FILL_NONE, false, tl);
    run_case(db, td, &cases[4], false, HIST_FILL_NONE, false, tl);
    run_case(db, td, &cases[8], false, HIST_FILL_NONE, false, tl);
}

/* fill=previous and fill=linear on time columns: an empty row repeats the
 * previous row, time column (tcol) included, or lies between its
 * neighbours, col holding the same time as tcol; non-empty rows as with
 * fill=null. */
static void check_fills(hist_db *db, const tag_data *td)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.bucket = HIST_BUCKET_HOUR;
    snprintf(spec.tz, sizeof spec.tz, "Europe/Berlin");
    spec.from = utc(2026, 3, 27, 8, 0);
    spec.to = utc(2026, 3, 31, 8, 0);
    const agg_item items[] = {
        {HIST_AGG_TIME_MIN, 0}, {HIST_AGG_TIME_MAX, 0}, {HIST_AGG_P50, 0}, {HIST_AGG_CHANGES, 0}};
    set_aggs(&spec, items, 4);
    spec.fill = HIST_FILL_NULL;
    hist_result nul, prev, lin;
    REQUIRE(hist_query_run(db, &spec, &td->id, 1, &nul) == 0);
    spec.fill = HIST_FILL_PREVIOUS;
    REQUIRE(hist_query_run(db, &spec, &td->id, 1, &prev) == 0);
    spec.fill = HIST_FILL_LINEAR;
    REQUIRE(hist_query_run(db, &spec, &td->id, 1, &lin) == 0);
    const hist_series_result *n = &nul.series[0], *p = &prev.series[0], *l = &lin.series[0];
    REQUIRE(n->n == p->n && n->n == l->n);
    long bad = 0, empties = 0, interpolated = 0;
    long last = -1;
    for (size_t r = 0; r < n->n; r++) {
        bool empty = isnan(n->col[0][r]);
        empties += empty;
        long from = empty ? last : (long)r;
        for (int k = 0; k < 4 && from >= 0; k++) {
            const double *src = empty ? p->col[k] : n->col[k];
            bad += !ref_close(p->col[k][r], empty ? src[from] : n->col[k][r]);
            if (k < 2) {
                bad += p->tcol[k][r] != (empty ? p->tcol[k][from] : n->tcol[k][r]);
                bad += p->col[k][r] != (double)p->tcol[k][r];
            }
        }
        if (!empty)
            last = (long)r;
        for (int k = 0; k < 2; k++) {
            if (isnan(l->col[k][r]))
                continue;
            bad += l->col[k][r] != (double)l->tcol[k][r];
            if (empty) { /* between the non-empty rows around it */
                interpolated++;
                long a = (long)r, b = (long)r;
                while (a >= 0 && isnan(n->col[k][a]))
                    a--;
                while ((size_t)b < n->n && isnan(n->col[k][b]))
                    b++;
                bad += a < 0 || (size_t)b >= n->n || l->tcol[k][r] < n->tcol[k][a] ||
                       l->tcol[k][r] > n->tcol[k][b];
            } else {
                bad += l->tcol[k][r] != n->tcol[k][r];
            }
        }
    }
    CHECKF(bad == 0 && empties > 0 && interpolated > 0,
           "type %d fills: %ld bad, %ld empty rows, %ld interpolated", td->type, bad, empties,
           interpolated);
    hist_result_free(&nul);
    hist_result_free(&prev);
    hist_result_free(&lin);
}

/* mean alone takes whole chunks from their statistics; mean with pct_good
 * (or any summary aggregate) decodes them all and gives the same mean. */
static void check_stats_switch(hist_db *db, const tag_data *td)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.bucket = HIST_BUCKET_DAY;
    snprintf(spec.tz, sizeof spec.tz, "Europe/Berlin");
    spec.from = utc(2026, 3, 26, 23, 0);
    spec.to = utc(2026, 3, 31, 22, 0);
    spec.fill = HIST_FILL_NULL;
    spec.naggs = 1;
    spec.aggs[0] = HIST_AGG_MEAN;
    hist_result a, b;
    REQUIRE(hist_query_run(db, &spec, &td->id, 1, &a) == 0);
    CHECKF(a.chunks_from_stats > 10, "mean alone: only %llu chunks from stats",
           (unsigned long long)a.chunks_from_stats);
    check_agg_result(td->truth, td->n, td->type, &spec, &a, "mean alone");
    spec.naggs = 2;
    spec.aggs[1] = HIST_AGG_PCT_GOOD;
    REQUIRE(hist_query_run(db, &spec, &td->id, 1, &b) == 0);
    CHECK(b.chunks_from_stats == 0 && b.chunks_decoded > 10);
    CHECK(a.series[0].n == b.series[0].n);
    bool same = a.series[0].n == b.series[0].n;
    for (size_t r = 0; same && r < a.series[0].n; r++)
        same = ref_close(a.series[0].col[0][r], b.series[0].col[0][r]);
    CHECK(same);
    hist_result_free(&a);
    hist_result_free(&b);
}

/* Percentiles hold one bucket's values: past max_values the query stops
 * with HIST_ENOSPC (the API's 400 on max_bytes), under it it answers. */
static void check_budget(hist_db *db, const tag_data *ft, const tag_data *it)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.bucket = HIST_BUCKET_HOUR;
    spec.from = utc(2026, 3, 28, 0, 0);
    spec.to = utc(2026, 3, 29, 0, 0);
    spec.naggs = 1;
    spec.aggs[0] = HIST_AGG_P90;
    spec.max_values = 20; /* an hour holds ~50 counted samples */
    hist_result res;
    CHECK(hist_query_run(db, &spec, &ft->id, 1, &res) == HIST_ENOSPC);
    CHECK(res.nseries == 0 && res.series == NULL);
    spec.max_values = 61; /* a minute's samples: at most 60 an hour, +1 a gap edge */
    CHECK(hist_query_run(db, &spec, &ft->id, 1, &res) == 0);
    hist_result_free(&res);
    spec.max_values = 0;
    /* time_in_state of a float tag: a type error; of an int tag fine */
    spec.aggs[0] = HIST_AGG_TIME_IN_STATE;
    spec.agg_arg[0] = 1;
    CHECK(hist_query_run(db, &spec, &ft->id, 1, &res) == HIST_ETYPE);
    CHECK(hist_query_run(db, &spec, &it->id, 1, &res) == 0);
    hist_result_free(&res);
    /* arguments out of their range */
    spec.agg_arg[0] = 1.5;
    CHECK(hist_query_run(db, &spec, &it->id, 1, &res) == HIST_EINVAL);
    spec.aggs[0] = HIST_AGG_PERCENTILE;
    double badp[] = {0, 100, -1, 250, NAN};
    for (int i = 0; i < 5; i++) {
        spec.agg_arg[0] = badp[i];
        CHECK(hist_query_run(db, &spec, &it->id, 1, &res) == HIST_EINVAL);
    }
    spec.agg_arg[0] = 0.001;
    CHECK(hist_query_run(db, &spec, &it->id, 1, &res) == 0);
    hist_result_free(&res);
    spec.naggs = HIST_MAX_AGGS + 1;
    CHECK(hist_query_run(db, &spec, &it->id, 1, &res) == HIST_EINVAL);
}

static void check_names(void)
{
    const char *names[] = {"pct_good", "time_min", "time_max", "changes", "time_in_state",
                           "p50",      "p90",      "p95",      "p99",     "percentile"};
    for (int i = 0; i < 10; i++) {
        hist_agg a;
        CHECK(hist_agg_parse(names[i], &a) == 0 && !strcmp(hist_agg_name(a), names[i]));
        CHECK(hist_agg_takes_arg(a) ==
              (!strcmp(names[i], "time_in_state") || !strcmp(names[i], "percentile")));
        CHECK(hist_agg_is_time(a) == !strncmp(names[i], "time_m", 6));
    }
    double arg;
    char label[48];
    CHECK(hist_agg_parse_arg(HIST_AGG_TIME_IN_STATE, "3", &arg) == 0 && arg == 3);
    CHECK(hist_agg_parse_arg(HIST_AGG_TIME_IN_STATE, "-7", &arg) == 0 && arg == -7);
    CHECK(hist_agg_parse_arg(HIST_AGG_TIME_IN_STATE, "true", &arg) == 0 && arg == 1);
    CHECK(hist_agg_parse_arg(HIST_AGG_TIME_IN_STATE, "false", &arg) == 0 && arg == 0);
    CHECK(hist_agg_parse_arg(HIST_AGG_TIME_IN_STATE, "", &arg) == HIST_EINVAL);
    CHECK(hist_agg_parse_arg(HIST_AGG_TIME_IN_STATE, "1.5", &arg) == HIST_EINVAL);
    CHECK(hist_agg_parse_arg(HIST_AGG_TIME_IN_STATE, "99999999999999999", &arg) == HIST_EINVAL);
    CHECK(hist_agg_parse_arg(HIST_AGG_PERCENTILE, "99.9", &arg) == 0 && arg == 99.9);
    CHECK(hist_agg_parse_arg(HIST_AGG_PERCENTILE, "0", &arg) == HIST_EINVAL);
    CHECK(hist_agg_parse_arg(HIST_AGG_PERCENTILE, "100", &arg) == HIST_EINVAL);
    CHECK(hist_agg_parse_arg(HIST_AGG_PERCENTILE, "50x", &arg) == HIST_EINVAL);
    CHECK(hist_agg_parse_arg(HIST_AGG_PERCENTILE, "nan", &arg) == HIST_EINVAL);
    CHECK(
        !strcmp(hist_agg_label(HIST_AGG_PERCENTILE, 99.9, label, sizeof label), "percentile:99.9"));
    CHECK(
        !strcmp(hist_agg_label(HIST_AGG_TIME_IN_STATE, 3, label, sizeof label), "time_in_state:3"));
    CHECK(!strcmp(hist_agg_label(HIST_AGG_P90, 0, label, sizeof label), "p90"));
}

int main(void)
{
    (void)check_m4; /* ref.h's checks of other modes */
    (void)ref_interp;
    check_names();
    char dir[64];
    REQUIRE(test_tmpdir(dir, sizeof dir, "query_summary") != NULL);
    hist_db_options opts;
    hist_db_options_init(&opts);
    opts.dir = dir;
    opts.chunk_samples = 64;
    opts.no_background = true;
    opts.io = HIST_IO_SYNC;
    hist_db *db = NULL;
    REQUIRE(hist_db_open(&opts, &db) == 0);
    const char *names[] = {"plant/summ/temp", "plant/summ/state", "plant/summ/running"};
    hist_type types[] = {HIST_TYPE_FLOAT64, HIST_TYPE_INT64, HIST_TYPE_BOOL};
    tag_data td[3];
    for (int i = 0; i < 3; i++) {
        td[i].type = types[i];
        REQUIRE(hist_tag_resolve(db, names[i], strlen(names[i]), types[i], true, &td[i].id) == 0);
        load_tag(db, &td[i]);
    }
    for (int i = 0; i < 3; i++) {
        tally tl = {0};
        check_buckets(db, &td[i], &tl);
        /* the data must have exercised what the cases are about */
        CHECKF(tl.nonempty > 100 && tl.empty > 3 && tl.all_bad > 2 && tl.dropped > 0,
               "type %d: %ld rows, %ld non-empty, %ld empty, %ld only pct_good", td[i].type,
               tl.rows, tl.nonempty, tl.empty, tl.all_bad);
        fprintf(stderr,
                "type %d: %ld rows checked (%ld with counted samples, %ld empty, %ld with only "
                "pct_good)\n",
                td[i].type, tl.rows, tl.nonempty, tl.empty, tl.all_bad);
        check_stats_switch(db, &td[i]);
        check_fills(db, &td[i]);
    }
    check_budget(db, &td[0], &td[1]);
    for (int i = 0; i < 3; i++)
        free(td[i].truth);
    CHECK_OK(hist_db_close(db));
    CHECK(test_rm_rf(dir) == 0);
    return check_summary();
}
