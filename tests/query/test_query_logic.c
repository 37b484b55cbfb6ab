/*
 * test_query_logic.c: the query engine's logic on an array-backed source
 * (query/engine.h hist_qsource), no data directory needed.
 *
 * The fake source cuts a sorted sample array into "chunks" with statistics
 * (offered as stats pieces when they lie inside the scan range, exactly as
 * hist_scan_next promises) and a decoded tail (the memtable). Every mode is
 * checked against tests/query/ref.h on randomized data with gaps, Bad and
 * Uncertain samples, NaN, and bucket edges on sample times; the stats fast
 * path is checked by its counters; failure paths by return codes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rng.h"
#include "query/engine.h"
#include "common/hist_tz.h"
#include "ref.h"

/* ---- The fake source ---- */

typedef struct {
    hist_type type;
    hist_sample *s;
    size_t n;
    size_t chunk;    /* samples per chunk; the last partial chunk is the "memtable" */
    long decodes;    /* scan_decode calls */
    bool no_stats;   /* never offer stats pieces */
    bool no_counted; /* offer stats pieces without counted stats */
} fake_db;

typedef struct {
    fake_db *db;
    int64_t from, to;
    unsigned flags;
    size_t pos; /* next sample index */
    hist_chunk_stats stats, counted;
    int64_t ts[4096];
    hist_value v[4096];
    uint32_t q[4096];
    size_t c0, c1; /* current stats piece's sample range */
} fake_scan;

static int f_type(void *ctx, uint32_t tag, hist_type *out)
{
    fake_db *db = ctx;
    if (tag != 1)
        return HIST_ENOTFOUND;
    *out = db->type;
    return 0;
}

static int f_open(void *ctx, uint32_t tag, int64_t from, int64_t to, unsigned flags, void **out)
{
    fake_db *db = ctx;
    fake_scan *s = calloc(1, sizeof(*s));
    s->db = db;
    s->from = from;
    s->to = to;
    s->flags = flags;
    while (s->pos < db->n && db->s[s->pos].ts < from)
        s->pos++;
    *out = s;
    return 0;
}

static bool fake_counted(const fake_db *db, size_t i)
{
    return (db->s[i].q >> 30) < 2 && !isnan(ref_x(db->type, db->s[i].v));
}

/* Stats of samples [a, b), or of those among them that are neither Bad
 * nor NaN (only_counted), the way the index keeps them. */
static void fill_stats(const fake_db *db, size_t a, size_t b, bool only_counted,
                       hist_chunk_stats *cs)
{
    memset(cs, 0, sizeof(*cs));
    cs->min = INFINITY;
    cs->max = -INFINITY;
    size_t prev = SIZE_MAX;
    for (size_t i = a; i < b; i++) {
        if (only_counted && !fake_counted(db, i))
            continue;
        double x = ref_x(db->type, db->s[i].v);
        if (prev == SIZE_MAX) {
            cs->start_ts = db->s[i].ts;
            cs->first_v = db->s[i].v;
            cs->first_q = db->s[i].q;
        }
        cs->end_ts = db->s[i].ts;
        cs->last_v = db->s[i].v;
        cs->last_q = db->s[i].q;
        cs->count++;
        cs->bad_count += (db->s[i].q >> 30) >= 2;
        cs->nongood_count += (db->s[i].q >> 30) != 0;
        if (prev != SIZE_MAX) { /* time-weighted sums (linear for float64) */
            double x0 = ref_x(db->type, db->s[prev].v);
            double secs = (double)(db->s[i].ts - db->s[prev].ts) / 1e9;
            cs->tw_integral += (db->type == HIST_TYPE_FLOAT64 ? (x0 + x) / 2 : x0) * secs;
            cs->true_seconds += x0 != 0 ? secs : 0;
            cs->increase += x >= x0 ? x - x0 : x;
        }
        prev = i;
        if (isnan(x)) {
            cs->nan_count++;
            continue;
        }
        if (x < cs->min) {
            cs->min = x;
            cs->min_ts = db->s[i].ts, cs->min_v = db->s[i].v, cs->min_q = db->s[i].q;
        }
        if (x > cs->max) {
            cs->max = x;
            cs->max_ts = db->s[i].ts, cs->max_v = db->s[i].v, cs->max_q = db->s[i].q;
        }
        cs->sum += x;
        cs->sumsq += x * x;
    }
}

static int f_next(void *scan, hist_piece *p)
{
    fake_scan *s = scan;
    fake_db *db = s->db;
    memset(p, 0, sizeof(*p));
    if (s->pos >= db->n || db->s[s->pos].ts >= s->to)
        return 0;
    size_t ci = s->pos / db->chunk;
    size_t c0 = ci * db->chunk, c1 = c0 + db->chunk;
    bool sealed = c1 <= db->n;
    if (!sealed)
        c1 = db->n;
    if (sealed && !db->no_stats && !(s->flags & HIST_SCAN_DECODE) && s->pos == c0 &&
        db->s[c0].ts >= s->from && db->s[c1 - 1].ts < s->to) {
        fill_stats(db, c0, c1, false, &s->stats);
        fill_stats(db, c0, c1, true, &s->counted);
        s->c0 = c0;
        s->c1 = c1;
        p->stats = &s->stats;
        p->counted = &s->counted;
        if (db->no_counted) /* as the storage scan: only a chunk with nothing to leave out */
            p->counted = s->stats.bad_count == 0 && s->stats.nan_count == 0 ? &s->stats : NULL;
        s->pos = c1;
        return 1;
    }
    size_t k = 0;
    while (s->pos < c1 && db->s[s->pos].ts < s->to && k < 4096) {
        s->ts[k] = db->s[s->pos].ts;
        s->v[k] = db->s[s->pos].v;
        s->q[k] = db->s[s->pos].q;
        k++;
        s->pos++;
    }
    p->n = k;
    p->ts = s->ts;
    p->v = s->v;
    p->q = s->q;
    return 1;
}

static int f_decode(void *scan, hist_piece *p)
{
    fake_scan *s = scan;
    __atomic_fetch_add(&s->db->decodes, 1, __ATOMIC_RELAXED); /* plot parts run in threads */
    size_t k = 0;
    for (size_t i = s->c0; i < s->c1; i++, k++) {
        s->ts[k] = s->db->s[i].ts;
        s->v[k] = s->db->s[i].v;
        s->q[k] = s->db->s[i].q;
    }
    p->n = k;
    p->ts = s->ts;
    p->v = s->v;
    p->q = s->q;
    return 0;
}

static void f_close(void *scan)
{
    free(scan);
}

static int f_before(void *ctx, uint32_t tag, int64_t t, unsigned flags, hist_sample *out)
{
    fake_db *db = ctx;
    for (size_t i = db->n; i-- > 0;)
        if (db->s[i].ts < t && !((flags & HIST_NEAR_SKIP_BAD) && (db->s[i].q >> 30) >= 2)) {
            *out = db->s[i];
            return 0;
        }
    return HIST_ENOTFOUND;
}

static int f_after(void *ctx, uint32_t tag, int64_t t, unsigned flags, hist_sample *out)
{
    fake_db *db = ctx;
    for (size_t i = 0; i < db->n; i++)
        if (db->s[i].ts >= t && !((flags & HIST_NEAR_SKIP_BAD) && (db->s[i].q >> 30) >= 2)) {
            *out = db->s[i];
            return 0;
        }
    return HIST_ENOTFOUND;
}

static int f_latest(void *ctx, uint32_t tag, hist_sample *out)
{
    fake_db *db = ctx;
    if (db->n == 0)
        return HIST_ENOTFOUND;
    *out = db->s[db->n - 1];
    return 0;
}

static hist_qsource fake_source(fake_db *db)
{
    hist_qsource src = {db,      f_type,   f_open,  f_next,   f_decode,
                        f_close, f_before, f_after, f_latest, NULL};
    return src;
}

/* ---- Random data ---- */

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    return xorshift64(&rng_state);
}

#define SEC INT64_C(1000000000)

/* n samples from t0, 1 s apart with gaps, some Bad/Uncertain, rare NaN. */
static void make_data(fake_db *db, hist_type type, size_t n, int64_t t0, bool with_nan)
{
    db->type = type;
    db->s = calloc(n, sizeof(*db->s));
    db->n = n;
    int64_t t = t0;
    double level = 50;
    for (size_t i = 0; i < n; i++) {
        t += (rnd() % 50 == 0) ? (int64_t)(2 + rnd() % 120) * SEC : SEC;
        db->s[i].ts = t;
        uint64_t r = rnd() % 100;
        db->s[i].q = r < 5 ? HIST_QUALITY_BAD : r < 8 ? HIST_QUALITY_UNCERTAIN : 0;
        if (type == HIST_TYPE_FLOAT64) {
            level += (double)(rnd() % 200) / 100.0 - 1.0;
            db->s[i].v.f = (with_nan && rnd() % 200 == 0) ? NAN : level;
        } else if (type == HIST_TYPE_BOOL) {
            db->s[i].v.i = (rnd() % 4) == 0;
        } else { /* counter with resets */
            int64_t prev = i ? db->s[i - 1].v.i : 0;
            db->s[i].v.i = (rnd() % 300 == 0) ? (int64_t)(rnd() % 5) : prev + (int64_t)(rnd() % 7);
        }
    }
}

/* ---- Checks ---- */

static const hist_agg all_aggs[] = {
    HIST_AGG_COUNT,    HIST_AGG_MIN,    HIST_AGG_MAX,          HIST_AGG_SUM,  HIST_AGG_MEAN,
    HIST_AGG_TWA,      HIST_AGG_STDDEV, HIST_AGG_FIRST,        HIST_AGG_LAST, HIST_AGG_RANGE,
    HIST_AGG_INTEGRAL, HIST_AGG_DELTA,  HIST_AGG_DURATION_TRUE};

static void test_agg_random(hist_type type)
{
    fake_db db = {.chunk = 97};
    make_data(&db, type, 3000, 1700000000 * SEC, true);
    hist_qsource src = fake_source(&db);
    int64_t t0 = db.s[0].ts, t1 = db.s[db.n - 1].ts;
    for (int round = 0; round < 12; round++) {
        hist_query_spec spec;
        hist_query_spec_init(&spec);
        spec.mode = HIST_MODE_AGG;
        /* from/to on sample times in some rounds, arbitrary in others. */
        spec.from = round % 2 ? db.s[rnd() % 500].ts : t0 - 7 * SEC + (int64_t)(rnd() % 900) * SEC;
        spec.to = round % 3 ? db.s[2000 + rnd() % 900].ts : t1 + (int64_t)(rnd() % 100) * SEC;
        spec.step_ns = (int64_t)(1 + rnd() % 600) * SEC;
        if (round == 4)
            spec.step_ns = SEC; /* every sample on a bucket edge */
        spec.include_bad = round % 4 == 3;
        spec.naggs = (int)(sizeof(all_aggs) / sizeof(all_aggs[0]));
        memcpy(spec.aggs, all_aggs, sizeof(all_aggs));
        hist_result res;
        int rc = engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res);
        CHECKF(rc == 0, "agg run rc %d", rc);
        if (rc == 0) {
            char what[64];
            snprintf(what, sizeof(what), "agg type %d round %d", type, round);
            check_agg_result(db.s, db.n, db.type, &spec, &res, what);
        }
        hist_result_free(&res);
    }
    free(db.s);
}

/* Stats-only aggregates over buckets that hold many whole chunks. */
static void test_stats_fast_path(void)
{
    fake_db db = {.chunk = 50};
    make_data(&db, HIST_TYPE_FLOAT64, 5000, 0, false);
    for (size_t i = 0; i < db.n; i++) /* fixed 1 s spacing, all Good */
        db.s[i].ts = (int64_t)i * SEC, db.s[i].q = 0;
    hist_qsource src = fake_source(&db);
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.from = 0;
    spec.to = 6000 * SEC;
    spec.step_ns = 1000 * SEC; /* 20 chunks per bucket, chunk edges at 50k+1 */
    hist_agg aggs[] = {HIST_AGG_COUNT,  HIST_AGG_MIN,   HIST_AGG_MAX,  HIST_AGG_SUM,  HIST_AGG_MEAN,
                       HIST_AGG_STDDEV, HIST_AGG_FIRST, HIST_AGG_LAST, HIST_AGG_RANGE};
    spec.naggs = 9;
    memcpy(spec.aggs, aggs, sizeof(aggs));
    hist_result res;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    check_agg_result(db.s, db.n, db.type, &spec, &res, "stats path");
    /* Chunk k holds samples 50k+1..50k+50 s; a bucket edge at 1000j s cuts
     * the chunk holding 1000j and 1000j-1 only when they differ: 1000j is
     * sample 1000j, chunk (1000j-1)/50 — chunk ending at 1000j exactly: no
     * chunk straddles, so nothing needs decoding. */
    CHECK_EQ_I64(res.chunks_decoded, 0);
    CHECK_EQ_I64(res.chunks_from_stats, 100);
    CHECK_EQ_I64(db.decodes, 0);
    hist_result_free(&res);

    /* Shift the edges by 25 s: every bucket edge now cuts one chunk. */
    spec.from = 25 * SEC;
    spec.step_ns = 1000 * SEC;
    spec.to = 5025 * SEC;
    db.decodes = 0;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    check_agg_result(db.s, db.n, db.type, &spec, &res, "stats path shifted");
    /* Buckets aligned to the epoch: edges at 1000, 2000, ... 5000 s. The scan
     * range [25, 5025) cuts the first and last chunk (not stats pieces); the
     * inner edges 1000..5000 fall at chunk ends again: no decoding. */
    CHECK_EQ_I64(res.chunks_decoded, 0);
    hist_result_free(&res);

    spec.from = 0;
    spec.to = 6000 * SEC;
    spec.step_ns = 730 * SEC; /* edges inside chunks */
    db.decodes = 0;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    check_agg_result(db.s, db.n, db.type, &spec, &res, "stats path 730");
    /* Edges at 730k s, k=1..6: each inside one chunk (730k is not a chunk
     * end since 730k mod 50 != 0 for k=1..6 except k=5 (3650)). */
    CHECK_EQ_I64(res.chunks_decoded, 5);
    CHECK_EQ_I64((long)res.chunks_from_stats, 100 - 5);
    hist_result_free(&res);

    /* Bad samples: the chunk's counted stats (Bad and NaN left out) answer
     * it; a chunk of only Bad samples adds nothing. Without counted stats
     * (index entries from before they were kept) the chunk is decoded. */
    db.s[10].q = HIST_QUALITY_BAD;
    for (size_t i = 150; i < 200; i++)
        db.s[i].q = HIST_QUALITY_BAD;
    spec.step_ns = 1000 * SEC;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    check_agg_result(db.s, db.n, db.type, &spec, &res, "stats path bad");
    CHECK_EQ_I64(res.chunks_decoded, 0);
    hist_result_free(&res);
    db.no_counted = true;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    check_agg_result(db.s, db.n, db.type, &spec, &res, "stats path bad, no counted stats");
    CHECK_EQ_I64(res.chunks_decoded, 2);
    hist_result_free(&res);
    db.no_counted = false;
    spec.include_bad = true;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    check_agg_result(db.s, db.n, db.type, &spec, &res, "stats path include bad");
    CHECK_EQ_I64(res.chunks_decoded, 0);
    hist_result_free(&res);
    /* A NaN is never counted: from the counted stats by default, decoded
     * with include_bad (no stats over "all qualities, no NaN" are kept). */
    hist_value keep = db.s[260].v;
    db.s[260].v.f = NAN;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    check_agg_result(db.s, db.n, db.type, &spec, &res, "stats path NaN include bad");
    CHECK_EQ_I64(res.chunks_decoded, 1);
    hist_result_free(&res);
    spec.include_bad = false;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    check_agg_result(db.s, db.n, db.type, &spec, &res, "stats path NaN");
    CHECK_EQ_I64(res.chunks_decoded, 0);
    hist_result_free(&res);
    db.s[260].v = keep;
    spec.include_bad = true;

    /* The time-weighted aggregates come from the chunks' integrals too. */
    hist_agg tw[] = {HIST_AGG_TWA, HIST_AGG_INTEGRAL, HIST_AGG_DELTA, HIST_AGG_DURATION_TRUE};
    for (int i = 0; i < 4; i++) {
        spec.naggs = 1;
        spec.aggs[0] = tw[i];
        REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
        check_agg_result(db.s, db.n, db.type, &spec, &res, hist_agg_name(tw[i]));
        CHECK_EQ_I64(res.chunks_from_stats, 100);
        CHECK_EQ_I64(res.chunks_decoded, 0);
        hist_result_free(&res);
    }
    free(db.s);
}

static void test_fill(void)
{
    fake_db db = {.chunk = 1000};
    db.type = HIST_TYPE_FLOAT64;
    hist_sample s[] = {{10 * SEC, {.f = 1}, 0}, {11 * SEC, {.f = 3}, 0}, {40 * SEC, {.f = 7}, 0}};
    db.s = s;
    db.n = 3;
    hist_qsource src = fake_source(&db);
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.from = 0;
    spec.to = 60 * SEC;
    spec.step_ns = 10 * SEC;
    spec.naggs = 2;
    spec.aggs[0] = HIST_AGG_MEAN;
    spec.aggs[1] = HIST_AGG_COUNT;
    hist_result res;
    /* none: buckets 10 and 40 only */
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    REQUIRE(res.series[0].n == 2);
    CHECK(res.series[0].ts[0] == 10 * SEC && res.series[0].col[0][0] == 2);
    CHECK(res.series[0].ts[1] == 40 * SEC && res.series[0].col[0][1] == 7);
    CHECK(res.series[0].ts_end[1] == 50 * SEC && res.series[0].col[1][1] == 1);
    hist_result_free(&res);
    /* null: 6 rows, NaN where empty */
    spec.fill = HIST_FILL_NULL;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    REQUIRE(res.series[0].n == 6);
    CHECK(isnan(res.series[0].col[0][0]) && isnan(res.series[0].col[1][2]));
    CHECK(res.series[0].col[0][1] == 2 && isnan(res.series[0].col[0][5]));
    hist_result_free(&res);
    /* previous */
    spec.fill = HIST_FILL_PREVIOUS;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    REQUIRE(res.series[0].n == 6);
    CHECK(isnan(res.series[0].col[0][0]));
    CHECK(res.series[0].col[0][2] == 2 && res.series[0].col[0][3] == 2);
    CHECK(res.series[0].col[0][5] == 7);
    hist_result_free(&res);
    /* linear between buckets 10 (2) and 40 (7): 20 -> 2+5/3, 30 -> 2+10/3 */
    spec.fill = HIST_FILL_LINEAR;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    REQUIRE(res.series[0].n == 6);
    CHECK(ref_close(res.series[0].col[0][2], 2 + 5.0 / 3));
    CHECK(ref_close(res.series[0].col[0][3], 2 + 10.0 / 3));
    CHECK(isnan(res.series[0].col[0][0]) && isnan(res.series[0].col[0][5]));
    hist_result_free(&res);
}

static void test_twa_by_hand(void)
{
    /* int64 step: 0 s -> 10, 30 s -> 20 (Bad), 40 s -> 40; bucket [20, 60). */
    fake_db db = {.chunk = 1000};
    db.type = HIST_TYPE_INT64;
    hist_sample s[] = {
        {0, {.i = 10}, 0}, {30 * SEC, {.i = 20}, HIST_QUALITY_BAD}, {40 * SEC, {.i = 40}, 0}};
    db.s = s;
    db.n = 3;
    hist_qsource src = fake_source(&db);
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.from = 20 * SEC;
    spec.to = 60 * SEC;
    spec.step_ns = 40 * SEC; /* buckets [0,40) cut to [20,40), [40,80) cut to [40,60) */
    spec.naggs = 4;
    spec.aggs[0] = HIST_AGG_TWA;
    spec.aggs[1] = HIST_AGG_INTEGRAL;
    spec.aggs[2] = HIST_AGG_DELTA;
    spec.aggs[3] = HIST_AGG_COUNT;
    spec.fill = HIST_FILL_NULL;
    hist_result res;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    const hist_series_result *r = &res.series[0];
    REQUIRE(r->n == 2);
    CHECK(r->ts[0] == 0 && r->ts_end[0] == 40 * SEC);
    CHECK(isnan(r->col[0][0])); /* Bad sample excluded: bucket empty */
    CHECK(ref_close(r->col[0][1], 40));
    CHECK(ref_close(r->col[1][1], 800)); /* 40 held for 20 s */
    CHECK(ref_close(r->col[2][1], 30));  /* 10 -> 40 */
    hist_result_free(&res);
    spec.include_bad = true; /* now 20 counts: [20,30) 10, [30,40) 20 */
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    r = &res.series[0];
    CHECK(ref_close(r->col[0][0], 15));
    CHECK(ref_close(r->col[1][0], 300));
    CHECK(ref_close(r->col[2][0], 10));
    CHECK(ref_close(r->col[2][1], 20));
    hist_result_free(&res);
}

static void test_raw_latest_interp(void)
{
    fake_db db = {.chunk = 64};
    make_data(&db, HIST_TYPE_FLOAT64, 1000, 0, false);
    hist_qsource src = fake_source(&db);
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_RAW;
    spec.from = db.s[100].ts;
    spec.to = db.s[900].ts;
    spec.limit = 333;
    /* Page through with next_ts; the pages must be exactly s[100..900). */
    size_t got = 100;
    int pages = 0;
    for (;;) {
        hist_result res;
        REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
        const hist_series_result *r = &res.series[0];
        for (size_t i = 0; i < r->n; i++, got++)
            CHECK(r->ts[i] == db.s[got].ts && r->value[i].bits == db.s[got].v.bits &&
                  r->q[i] == db.s[got].q);
        pages++;
        int64_t next = r->next_ts;
        hist_result_free(&res);
        if (next == INT64_MIN)
            break;
        CHECK(next == db.s[got].ts);
        spec.from = next;
        if (pages > 10)
            break;
    }
    CHECK_EQ_I64(got, 900);
    CHECK_EQ_I64(pages, 3);

    spec.mode = HIST_MODE_LATEST;
    hist_result res;
    REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    CHECK(res.series[0].n == 1 && res.series[0].ts[0] == db.s[db.n - 1].ts);
    hist_result_free(&res);

    for (int ti = 0; ti < 3; ti++) {
        hist_type types[] = {HIST_TYPE_FLOAT64, HIST_TYPE_INT64, HIST_TYPE_BOOL};
        db.type = types[ti];
        if (ti > 0)
            for (size_t i = 0; i < db.n; i++)
                db.s[i].v.i = (int64_t)(rnd() % (ti == 2 ? 2 : 1000));
        spec.mode = HIST_MODE_INTERP;
        spec.from = db.s[0].ts - 30 * SEC;
        spec.to = db.s[db.n - 1].ts + 30 * SEC;
        spec.step_ns = ti == 1 ? SEC : 7 * SEC + 1;
        REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
        const hist_series_result *r = &res.series[0];
        size_t rows = (size_t)((spec.to - spec.from + spec.step_ns - 1) / spec.step_ns);
        CHECK_EQ_I64(r->n, rows);
        long bad = 0;
        for (size_t i = 0; i < r->n; i++) {
            hist_value v;
            uint32_t q;
            CHECK(r->ts[i] == spec.from + (int64_t)i * spec.step_ns);
            ref_interp(db.s, db.n, db.type, r->ts[i], &v, &q);
            bool ok = r->q[i] == q && (db.type == HIST_TYPE_FLOAT64 ? ref_close(r->value[i].f, v.f)
                                                                    : r->value[i].i == v.i);
            if (!ok && bad++ < 3)
                fprintf(stderr, "interp type %d row %zu\n", db.type, i);
        }
        CHECK_EQ_I64(bad, 0);
        hist_result_free(&res);
    }
    free(db.s);
}

static void test_plot(void)
{
    fake_db db = {.chunk = 40};
    make_data(&db, HIST_TYPE_FLOAT64, 20000, 0, true);
    hist_qsource src = fake_source(&db);
    uint32_t widths[] = {1, 7, 100, 640, 5000, 40000};
    for (int w = 0; w < 6; w++) {
        hist_query_spec spec;
        hist_query_spec_init(&spec);
        spec.mode = HIST_MODE_PLOT;
        spec.from = db.s[3].ts - 1;
        spec.to = db.s[db.n - 5].ts;
        spec.points = widths[w];
        hist_result res;
        spec.threads = 1;
        REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
        check_m4(db.s, db.n, db.type, &spec, &res);
        CHECK(res.series[0].n <= 4 * (size_t)spec.points);
        if (w == 1)
            CHECKF(res.chunks_from_stats > 0, "plot: no chunk from stats");
        /* Parts in parallel give the very same rows and counters. */
        uint32_t threads[] = {2, 3, 8};
        for (int t = 0; t < 3; t++) {
            spec.threads = threads[t];
            hist_result par;
            REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &par) == 0);
            const hist_series_result *a = &res.series[0], *b = &par.series[0];
            bool same = a->n == b->n;
            for (size_t i = 0; same && i < a->n; i++)
                same = a->ts[i] == b->ts[i] && a->value[i].bits == b->value[i].bits &&
                       a->q[i] == b->q[i];
            CHECKF(same, "plot width %u: %u threads differ from one", spec.points, threads[t]);
            hist_result_free(&par);
        }
        hist_result_free(&res);
    }
    free(db.s);
}

static void test_invalid(void)
{
    fake_db db = {.chunk = 10, .type = HIST_TYPE_FLOAT64};
    hist_qsource src = fake_source(&db);
    hist_query_spec spec;
    hist_result res;
    hist_query_spec_init(&spec);
    spec.from = 10;
    spec.to = 10;
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_EINVAL);
    spec.to = 20;
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){2}, 1, &res) == HIST_ENOTFOUND);
    CHECK(res.series == NULL && res.nseries == 0);
    spec.mode = HIST_MODE_INTERP;
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_EINVAL);
    spec.step_ns = 1;
    spec.to = INT64_C(1) << 40;
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_ETOOBIG);
    spec.mode = HIST_MODE_AGG;
    spec.to = 20;
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_EINVAL); /* naggs */
    spec.naggs = 1;
    spec.aggs[0] = HIST_AGG__COUNT;
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_EINVAL);
    spec.aggs[0] = HIST_AGG_MAX;
    spec.from = HIST_TS_MIN;
    spec.to = HIST_TS_MAX;
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_ETOOBIG);
    spec.from = 10;
    spec.to = 20;
    spec.bucket = HIST_BUCKET_DAY;
    snprintf(spec.tz, sizeof(spec.tz), "Not/AZone");
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_EINVAL);
    snprintf(spec.tz, sizeof(spec.tz), "../etc/passwd");
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_EINVAL);
    snprintf(spec.tz, sizeof(spec.tz), "/etc/passwd");
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_EINVAL);
    snprintf(spec.tz, sizeof(spec.tz), "Europe/Berlin");
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
    hist_result_free(&res);
    spec.bucket = HIST_BUCKET_SHIFT;
    spec.nshifts = 2;
    spec.shift_start_min[0] = 600;
    spec.shift_start_min[1] = 300;
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_EINVAL);
    spec.mode = HIST_MODE_PLOT;
    spec.points = 0;
    CHECK(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == HIST_EINVAL);
    /* Extreme ranges: clamped to the timestamp range, no overflow (UBSan). */
    fake_db full = {.chunk = 16};
    make_data(&full, HIST_TYPE_FLOAT64, 100, 0, false);
    hist_qsource fsrc = fake_source(&full);
    hist_mode modes[] = {HIST_MODE_RAW, HIST_MODE_INTERP, HIST_MODE_AGG, HIST_MODE_PLOT};
    for (int m = 0; m < 4; m++) {
        hist_query_spec_init(&spec);
        spec.mode = modes[m];
        spec.from = INT64_MIN;
        spec.to = INT64_MAX;
        spec.step_ns = INT64_C(5000000000000000000);
        spec.points = 1000;
        spec.naggs = 2;
        spec.aggs[0] = HIST_AGG_COUNT;
        spec.aggs[1] = HIST_AGG_TWA;
        spec.include_bad = true;
        int rc = engine__run_source(&fsrc, &spec, (uint32_t[]){1}, 1, &res);
        CHECKF(rc == 0 || rc == HIST_ERANGE, "extreme range mode %d: rc %d", m, rc);
        if (rc == 0) {
            size_t want = modes[m] == HIST_MODE_INTERP ? 3 : modes[m] == HIST_MODE_RAW ? 100 : 0;
            if (want)
                CHECK_EQ_I64(res.series[0].n, want);
            hist_result_free(&res);
        }
        spec.step_ns = INT64_C(1000000000000000000);
        rc = engine__run_source(&fsrc, &spec, (uint32_t[]){1}, 1, &res);
        CHECKF(rc == 0, "extreme range mode %d step 1e18: rc %d", m, rc);
        if (rc == 0 && modes[m] == HIST_MODE_AGG) {
            double total = 0;
            for (size_t r = 0; r < res.series[0].n; r++)
                total += res.series[0].col[0][r];
            CHECK(total == 100);
        }
        if (rc == 0)
            hist_result_free(&res);
    }
    free(full.s);

    /* No tags: an empty result, not an error. */
    spec.points = 10;
    CHECK(engine__run_source(&src, &spec, NULL, 0, &res) == 0 && res.nseries == 0);
}

/* Calendar buckets end to end: one sample per minute across the 2026 DST
 * changes; per-day and per-hour counts show 23/25-hour days and the
 * skipped/repeated local hour. */
static void test_calendar_counts(const char *zone, int64_t spring_day, int64_t autumn_day)
{
    fake_db db = {.chunk = 60, .type = HIST_TYPE_FLOAT64};
    int64_t days[2] = {spring_day, autumn_day};
    for (int d = 0; d < 2; d++) {
        int64_t t0 = (days[d] - 2) * 86400 * SEC;
        db.n = 5 * 1440;
        db.s = calloc(db.n, sizeof(*db.s));
        for (size_t i = 0; i < db.n; i++) {
            db.s[i].ts = t0 + (int64_t)i * 60 * SEC;
            db.s[i].v.f = (double)i;
        }
        hist_qsource src = fake_source(&db);
        hist_query_spec spec;
        hist_query_spec_init(&spec);
        spec.mode = HIST_MODE_AGG;
        spec.bucket = HIST_BUCKET_DAY;
        snprintf(spec.tz, sizeof(spec.tz), "%s", zone);
        spec.from = db.s[0].ts;
        spec.to = db.s[db.n - 1].ts + 1;
        spec.naggs = 2;
        spec.aggs[0] = HIST_AGG_COUNT;
        spec.aggs[1] = HIST_AGG_TWA;
        hist_result res;
        REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
        const hist_series_result *r = &res.series[0];
        int odd = 0;
        for (size_t i = 1; i + 1 < r->n; i++) { /* inner (whole) days */
            double c = r->col[0][i];
            CHECK(c == (double)(r->ts_end[i] - r->ts[i]) / (60 * SEC));
            if (c != 1440) {
                odd++;
                CHECKF(c == (d == 0 ? 1380 : 1500), "%s day count %g", zone, c);
            }
        }
        CHECK_EQ_I64(odd, 1);
        check_agg_result(db.s, db.n, db.type, &spec, &res, "calendar day");
        hist_result_free(&res);

        spec.bucket = HIST_BUCKET_HOUR;
        REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
        r = &res.series[0];
        for (size_t i = 1; i + 1 < r->n; i++)
            CHECK(r->col[0][i] == 60);
        /* 120 hours of data: 120 hourly buckets whatever the clocks do (the
         * local day's 23/25 hours are checked in test_query_tz). */
        CHECK_EQ_I64(r->n, 120);
        check_agg_result(db.s, db.n, db.type, &spec, &res, "calendar hour");
        hist_result_free(&res);

        spec.bucket = HIST_BUCKET_SHIFT;
        spec.nshifts = 3;
        spec.shift_start_min[0] = 6 * 60;
        spec.shift_start_min[1] = 14 * 60;
        spec.shift_start_min[2] = 22 * 60;
        REQUIRE(engine__run_source(&src, &spec, (uint32_t[]){1}, 1, &res) == 0);
        r = &res.series[0];
        int night = 0;
        for (size_t i = 1; i + 1 < r->n; i++)
            if (r->col[0][i] != 480) {
                night++;
                CHECK(r->col[0][i] == (d == 0 ? 420 : 540));
            }
        CHECK_EQ_I64(night, 1);
        check_agg_result(db.s, db.n, db.type, &spec, &res, "calendar shift");
        hist_result_free(&res);
        free(db.s);
    }
}

int main(void)
{
    /* 2026-03-29 / 2026-10-25 (EU) and 2026-03-08 / 2026-11-01 (US). */
    test_calendar_counts("Europe/Berlin", 20541, 20751);
    test_calendar_counts("America/New_York", 20520, 20758);
    test_invalid();
    test_fill();
    test_twa_by_hand();
    test_raw_latest_interp();
    test_agg_random(HIST_TYPE_FLOAT64);
    test_agg_random(HIST_TYPE_INT64);
    test_agg_random(HIST_TYPE_BOOL);
    test_stats_fast_path();
    test_plot();
    return check_summary();
}
