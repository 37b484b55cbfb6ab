/*
 * test_query_db.c: the query engine over the real storage engine.
 *
 * Data goes in through hist_db_write on a temp directory: randomized
 * samples with gaps, written out of order in shuffled batches, some
 * timestamps overwritten by later batches, Bad and Uncertain qualities;
 * hist_db_flush after some batches so part of the data is sealed in chunks
 * and part stays in the memtable. The test keeps its own truth (last write
 * wins per timestamp) and checks every mode against tests/query/ref.h.
 *
 * The stats fast path is proved on a tag written chunk by chunk (one flush
 * per 30 minutes of data): an hourly and a daily aggregate must decode
 * only the chunks at the range edges (hist_db_get_stats chunks_decoded
 * before/after), while twa must decode them all.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "rng.h"
#include "tmpdir.h"
#include "query/hist_query.h"
#include "ref.h"

#define SEC INT64_C(1000000000)

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    return xorshift64(&rng);
}

typedef struct {
    uint32_t id;
    hist_type type;
    hist_sample *truth; /* sorted, unique: what the db must return */
    size_t n;
} tag_data;

static int cmp_ts(const void *a, const void *b)
{
    const hist_sample *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static hist_value random_value(hist_type type, size_t i)
{
    hist_value v;
    if (type == HIST_TYPE_FLOAT64)
        v.f = 20 + (double)(i % 500) * 0.1 + (double)(rnd() % 100) * 0.01;
    else if (type == HIST_TYPE_BOOL)
        v.i = (rnd() % 3) == 0;
    else
        v.i = (int64_t)(i * 3 + rnd() % 5) % 4000; /* counter with wraps */
    return v;
}

/* Writes ~n samples in shuffled batches, flushing after some of them, with
 * later overwrites; fills td->truth. */
static void load_tag(hist_db *db, tag_data *td, size_t n, int64_t t0)
{
    hist_sample *s = calloc(n, sizeof(*s));
    int64_t t = t0;
    for (size_t i = 0; i < n; i++) {
        t += rnd() % 40 == 0 ? (int64_t)(2 + rnd() % 200) * SEC : SEC;
        s[i].ts = t;
        s[i].v = random_value(td->type, i);
        uint64_t r = rnd() % 100;
        s[i].q = r < 4 ? HIST_QUALITY_BAD : r < 7 ? HIST_QUALITY_UNCERTAIN : 0;
    }
    /* Batches of 500 consecutive samples, written in shuffled order. */
    size_t nb = (n + 499) / 500;
    size_t *order = malloc(nb * sizeof(*order));
    for (size_t b = 0; b < nb; b++)
        order[b] = b;
    for (size_t b = nb; b > 1; b--) {
        size_t j = rnd() % b, tmp = order[b - 1];
        order[b - 1] = order[j];
        order[j] = tmp;
    }
    int64_t *ts = malloc(500 * sizeof(*ts));
    hist_value *v = malloc(500 * sizeof(*v));
    uint32_t *q = malloc(500 * sizeof(*q));
    for (size_t k = 0; k < nb; k++) {
        size_t a = order[k] * 500, e = a + 500 < n ? a + 500 : n;
        for (size_t i = a; i < e; i++) {
            ts[i - a] = s[i].ts;
            v[i - a] = s[i].v;
            q[i - a] = s[i].q;
        }
        hist_series ser = {td->id, e - a, ts, v, q};
        uint64_t lsn;
        CHECK_OK(hist_db_write(db, &ser, 1, &lsn));
        if (k % 3 == 1 && k + 2 < nb)
            CHECK_OK(hist_db_flush(db));
    }
    /* Overwrites: 200 random existing timestamps get new values. */
    for (int i = 0; i < 200; i++) {
        size_t j = rnd() % n;
        s[j].v = random_value(td->type, j + 7);
        s[j].q = 0;
        hist_series ser = {td->id, 1, &s[j].ts, &s[j].v, &s[j].q};
        uint64_t lsn;
        CHECK_OK(hist_db_write(db, &ser, 1, &lsn));
    }
    qsort(s, n, sizeof(*s), cmp_ts);
    td->truth = s;
    td->n = n;
    free(order);
    free(ts);
    free(v);
    free(q);
}

static int run(hist_db *db, const hist_query_spec *spec, uint32_t tag, hist_result *res)
{
    int rc = hist_query_run(db, spec, &tag, 1, res);
    CHECKF(rc == 0, "query mode %d: %s", spec->mode, hist_strerror(rc));
    return rc;
}

static void check_raw(hist_db *db, const tag_data *td)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.from = td->truth[0].ts - SEC;
    spec.to = td->truth[td->n - 1].ts + 1;
    spec.limit = 1777;
    size_t got = 0, bad = 0;
    for (int page = 0; page < 1000; page++) {
        hist_result res;
        if (run(db, &spec, td->id, &res) != 0)
            return;
        const hist_series_result *r = &res.series[0];
        for (size_t i = 0; i < r->n; i++, got++)
            if (got >= td->n || r->ts[i] != td->truth[got].ts ||
                r->value[i].bits != td->truth[got].v.bits || r->q[i] != td->truth[got].q)
                bad++;
        int64_t next = r->next_ts;
        hist_result_free(&res);
        if (next == INT64_MIN)
            break;
        spec.from = next;
    }
    CHECK_EQ_I64(got, td->n);
    CHECKF(bad == 0, "raw: %zu samples differ", bad);

    spec.mode = HIST_MODE_LATEST;
    hist_result res;
    if (run(db, &spec, td->id, &res) == 0) {
        CHECK(res.series[0].n == 1 && res.series[0].ts[0] == td->truth[td->n - 1].ts &&
              res.series[0].value[0].bits == td->truth[td->n - 1].v.bits);
        hist_result_free(&res);
    }
}

static void check_interp(hist_db *db, const tag_data *td)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_INTERP;
    spec.from = td->truth[0].ts - 10 * SEC;
    spec.to = td->truth[td->n - 1].ts + 10 * SEC;
    spec.step_ns = 37 * SEC + 123;
    hist_result res;
    if (run(db, &spec, td->id, &res) != 0)
        return;
    const hist_series_result *r = &res.series[0];
    size_t bad = 0, j = 0;
    for (size_t i = 0; i < r->n; i++) {
        /* Reference by a forward walk (ref_interp is quadratic). */
        while (j < td->n && td->truth[j].ts <= r->ts[i])
            j++;
        size_t lo = j > 2 ? j - 2 : 0, hi = j + 2 < td->n ? j + 2 : td->n;
        hist_value v;
        uint32_t q;
        ref_interp(td->truth + lo, hi - lo, td->type, r->ts[i], &v, &q);
        bool ok = r->q[i] == q && (td->type == HIST_TYPE_FLOAT64 ? ref_close(r->value[i].f, v.f)
                                                                 : r->value[i].i == v.i);
        bad += !ok;
    }
    CHECK(r->n == (size_t)((spec.to - spec.from + spec.step_ns - 1) / spec.step_ns));
    CHECKF(bad == 0, "interp: %zu rows differ", bad);
    hist_result_free(&res);
}

static const hist_agg all_aggs[] = {
    HIST_AGG_COUNT,    HIST_AGG_MIN,    HIST_AGG_MAX,          HIST_AGG_SUM,  HIST_AGG_MEAN,
    HIST_AGG_TWA,      HIST_AGG_STDDEV, HIST_AGG_FIRST,        HIST_AGG_LAST, HIST_AGG_RANGE,
    HIST_AGG_INTEGRAL, HIST_AGG_DELTA,  HIST_AGG_DURATION_TRUE};

static void check_agg(hist_db *db, const tag_data *td)
{
    for (int round = 0; round < 6; round++) {
        hist_query_spec spec;
        hist_query_spec_init(&spec);
        spec.mode = HIST_MODE_AGG;
        spec.naggs = (int)(sizeof(all_aggs) / sizeof(all_aggs[0]));
        memcpy(spec.aggs, all_aggs, sizeof(all_aggs));
        /* Edges on sample times in odd rounds. */
        spec.from = round % 2 ? td->truth[rnd() % (td->n / 4)].ts : td->truth[0].ts - 3 * SEC;
        spec.to = round % 2 ? td->truth[td->n / 2 + rnd() % (td->n / 3)].ts
                            : td->truth[td->n - 1].ts + 100 * SEC;
        spec.step_ns = round == 1 ? SEC : (int64_t)(60 + rnd() % 3000) * SEC;
        spec.include_bad = round >= 4;
        if (round == 5) {
            spec.bucket = HIST_BUCKET_HOUR;
            snprintf(spec.tz, sizeof(spec.tz), "Asia/Kolkata"); /* +05:30 */
        }
        hist_result res;
        if (run(db, &spec, td->id, &res) != 0)
            continue;
        char what[80];
        snprintf(what, sizeof(what), "db agg type %d round %d", td->type, round);
        check_agg_result(td->truth, td->n, td->type, &spec, &res, what);
        hist_result_free(&res);
    }
}

static void check_plot(hist_db *db, const tag_data *td)
{
    uint32_t widths[] = {3, 500, 1920, 100000};
    for (int w = 0; w < 4; w++) {
        hist_query_spec spec;
        hist_query_spec_init(&spec);
        spec.mode = HIST_MODE_PLOT;
        spec.from = td->truth[5].ts;
        spec.to = td->truth[td->n - 5].ts + 1;
        spec.points = widths[w];
        hist_result res;
        if (run(db, &spec, td->id, &res) != 0)
            continue;
        check_m4(td->truth, td->n, td->type, &spec, &res);
        hist_result_free(&res);
    }
}

/* One tag, 10 s samples, one chunk per 30 minutes (flush after each). */
static void check_stats_path(hist_db *db, uint32_t id)
{
    const int64_t t0 = INT64_C(1767225600) * SEC; /* 2026-01-01 00:00Z */
    const int days = 3, per_chunk = 180;
    size_t n = (size_t)days * 8640;
    hist_sample *truth = calloc(n, sizeof(*truth));
    int64_t ts[180];
    hist_value v[180];
    for (size_t c = 0; c < n / per_chunk; c++) {
        for (int i = 0; i < per_chunk; i++) {
            size_t k = c * per_chunk + (size_t)i;
            ts[i] = t0 + (int64_t)k * 10 * SEC;
            v[i].f = 100 + (double)((k * 7919) % 1000) / 10;
            truth[k].ts = ts[i];
            truth[k].v = v[i];
        }
        hist_series ser = {id, per_chunk, ts, v, NULL};
        uint64_t lsn;
        CHECK_OK(hist_db_write(db, &ser, 1, &lsn));
        CHECK_OK(hist_db_flush(db));
    }
    hist_db_stats before, after;
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.naggs = 5;
    spec.aggs[0] = HIST_AGG_COUNT;
    spec.aggs[1] = HIST_AGG_MEAN;
    spec.aggs[2] = HIST_AGG_MIN;
    spec.aggs[3] = HIST_AGG_MAX;
    spec.aggs[4] = HIST_AGG_STDDEV;
    /* 15 minutes into the first chunk to 15 minutes into the last: the two
     * cut chunks must be decoded, every other one answered from stats. */
    spec.from = t0 + 15 * 60 * SEC;
    spec.to = t0 + (int64_t)days * 86400 * SEC - 15 * 60 * SEC;
    spec.step_ns = 3600 * SEC;
    size_t nchunks = n / per_chunk;
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1)
            spec.step_ns = 86400 * SEC;
        if (pass == 2) {
            spec.bucket = HIST_BUCKET_DAY;
            snprintf(spec.tz, sizeof(spec.tz), "Europe/Berlin"); /* midnight 23:00Z */
        }
        CHECK_OK(hist_db_get_stats(db, &before));
        hist_result res;
        if (run(db, &spec, id, &res) != 0)
            continue;
        CHECK_OK(hist_db_get_stats(db, &after));
        uint64_t dec = after.chunks_decoded - before.chunks_decoded;
        /* Berlin midnight (23:00Z) falls on a chunk edge too (30-min chunks). */
        CHECKF(dec <= 2, "pass %d: %llu chunks decoded, want <= 2 (edges)", pass,
               (unsigned long long)dec);
        CHECKF(res.chunks_from_stats + 2 >= nchunks, "pass %d: only %llu of %zu from stats", pass,
               (unsigned long long)res.chunks_from_stats, nchunks);
        check_agg_result(truth, n, HIST_TYPE_FLOAT64, &spec, &res, "stats path");
        hist_result_free(&res);
    }
    /* twa from the chunks' time integrals: only the edge chunks decoded. */
    spec.bucket = HIST_BUCKET_FIXED;
    spec.step_ns = 3600 * SEC;
    spec.naggs = 1;
    spec.aggs[0] = HIST_AGG_TWA;
    CHECK_OK(hist_db_get_stats(db, &before));
    hist_result res;
    if (run(db, &spec, id, &res) == 0) {
        CHECK_OK(hist_db_get_stats(db, &after));
        CHECKF(res.chunks_from_stats + 2 >= nchunks, "twa: only %llu of %zu from stats",
               (unsigned long long)res.chunks_from_stats, nchunks);
        /* The two cut edge chunks, read again by the boundary-sample lookups
         * (last sample before from, first at/after to): at most 4 decodes. */
        CHECKF(after.chunks_decoded - before.chunks_decoded <= 4, "twa decoded %llu",
               (unsigned long long)(after.chunks_decoded - before.chunks_decoded));
        check_agg_result(truth, n, HIST_TYPE_FLOAT64, &spec, &res, "stats path twa");
        hist_result_free(&res);
    }
    /* A plot 12 pixels wide over 3 days: 6-hour columns, most 30-minute
     * chunks inside one column and answered from their stats, which must
     * give the very samples decoding would (check_m4 checks both). */
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_PLOT;
    spec.from = t0 + 15 * 60 * SEC;
    spec.to = t0 + (int64_t)days * 86400 * SEC - 15 * 60 * SEC;
    spec.points = 12;
    if (run(db, &spec, id, &res) == 0) {
        CHECKF(res.chunks_from_stats + 2 * 12 + 2 >= nchunks, "plot: only %llu of %zu from stats",
               (unsigned long long)res.chunks_from_stats, nchunks);
        check_m4(truth, n, HIST_TYPE_FLOAT64, &spec, &res);
        hist_result_free(&res);
    }
    free(truth);
}

int main(void)
{
    char dir[] = "/tmp/hist_query_db_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    hist_db_options opts;
    hist_db_options_init(&opts);
    opts.dir = dir;
    opts.chunk_samples = 256;
    opts.no_background = true;
    opts.io = HIST_IO_SYNC;
    hist_db *db = NULL;
    int rc = hist_db_open(&opts, &db);
    CHECKF(rc == 0, "hist_db_open: %s", hist_strerror(rc));
    REQUIRE(db != NULL);

    const char *names[] = {"site/area/line/cell/temp", "site/area/line/cell/count",
                           "site/area/line/cell/running"};
    hist_type types[] = {HIST_TYPE_FLOAT64, HIST_TYPE_INT64, HIST_TYPE_BOOL};
    tag_data td[3];
    for (int i = 0; i < 3; i++) {
        td[i].type = types[i];
        REQUIRE(hist_tag_resolve(db, names[i], strlen(names[i]), types[i], true, &td[i].id) == 0);
        load_tag(db, &td[i], 6000, INT64_C(1774000000) * SEC);
    }
    for (int i = 0; i < 3; i++) {
        check_raw(db, &td[i]);
        check_interp(db, &td[i]);
        check_agg(db, &td[i]);
        check_plot(db, &td[i]);
    }
    /* Unknown tag: an error, not a crash. */
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.from = 0;
    spec.to = 10;
    hist_result res;
    uint32_t nope = 999999;
    CHECK(hist_query_run(db, &spec, &nope, 1, &res) < 0);

    uint32_t sid;
    REQUIRE(hist_tag_resolve(db, "site/area/line/cell/flow", 24, HIST_TYPE_FLOAT64, true, &sid) ==
            0);
    check_stats_path(db, sid);

    for (int i = 0; i < 3; i++)
        free(td[i].truth);
    CHECK_OK(hist_db_close(db));
    CHECK(test_rm_rf(dir) == 0);
    return check_summary();
}
