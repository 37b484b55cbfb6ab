/*
 * test_query_boundary.c: the boundary samples of raw and plot
 * (hist_query_spec.boundary) and the value mode, over the real storage
 * engine, against a brute-force reference.
 *
 * Data goes in through hist_db_write: random samples with gaps of up to
 * two hours (so windows cross hour and chunk boundaries), in shuffled
 * batches, with flushes after some batches (part sealed in 64-sample
 * chunks, part in the memtable) and later overwrites of random
 * timestamps; Bad and Uncertain qualities. The test keeps the truth (last
 * write wins) and computes, by plain loops over it:
 *   - raw outside: the last sample before from, every sample of
 *     [from, to), the first at/after to; read page by page with a small
 *     limit the way the API pages (before-sample asked on page 1 only);
 *   - plot outside: row 0 / the last row are those two samples, the rows
 *     between equal the plot answer without boundary;
 *   - value at t: ref_interp's rule (ref.h), no row before the first
 *     sample; t on samples, between them, before the first, after the last.
 * A last part damages a sealed chunk on disk and checks that the
 * neighbour searches skip it (as raw does) rather than fail.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "rng.h"
#include "chunk_damage.h"
#include "tmpdir.h"
#include "query/hist_query.h"
#include "ref.h"

#define SEC  INT64_C(1000000000)
#define HOUR (3600 * SEC)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    return xorshift64(&rng);
}

typedef struct {
    uint32_t id;
    hist_type type;
    hist_sample *truth; /* sorted, unique */
    size_t n;
} tag_data;

static int cmp_ts(const void *a, const void *b)
{
    const hist_sample *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static hist_value random_value(hist_type type)
{
    hist_value v;
    if (type == HIST_TYPE_FLOAT64)
        v.f = (double)(rnd() % 100000) * 0.01 - 300;
    else if (type == HIST_TYPE_BOOL)
        v.i = rnd() % 2;
    else
        v.i = (int64_t)(rnd() % 1000) - 500;
    return v;
}

static void write_one(hist_db *db, uint32_t id, const hist_sample *s, size_t n)
{
    int64_t *ts = malloc(n * sizeof(*ts));
    hist_value *v = malloc(n * sizeof(*v));
    uint32_t *q = malloc(n * sizeof(*q));
    for (size_t i = 0; i < n; i++) {
        ts[i] = s[i].ts;
        v[i] = s[i].v;
        q[i] = s[i].q;
    }
    hist_series ser = {id, n, ts, v, q};
    uint64_t lsn;
    CHECK_OK(hist_db_write(db, &ser, 1, &lsn));
    free(ts), free(v), free(q);
}

static void load_tag(hist_db *db, tag_data *td, size_t n, int64_t t0)
{
    hist_sample *s = calloc(n, sizeof(*s));
    int64_t t = t0;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = rnd() % 100;
        t += g < 2    ? (int64_t)(rnd() % (2 * HOUR)) + 1
             : g < 20 ? (int64_t)(rnd() % 600) * SEC + 1
                      : 7 * SEC;
        s[i].ts = t;
        s[i].v = random_value(td->type);
        uint64_t r = rnd() % 100;
        s[i].q = r < 8 ? HIST_QUALITY_BAD : r < 14 ? HIST_QUALITY_UNCERTAIN : 0;
    }
    size_t bs = 100, nb = (n + bs - 1) / bs;
    size_t *order = malloc(nb * sizeof(*order));
    for (size_t b = 0; b < nb; b++)
        order[b] = b;
    for (size_t b = nb; b > 1; b--) {
        size_t j = rnd() % b, tmp = order[b - 1];
        order[b - 1] = order[j];
        order[j] = tmp;
    }
    for (size_t k = 0; k < nb; k++) {
        size_t a = order[k] * bs, e = a + bs < n ? a + bs : n;
        write_one(db, td->id, s + a, e - a);
        if (k % 3 == 1 && k + 3 < nb)
            CHECK_OK(hist_db_flush(db));
    }
    for (int i = 0; i < 150; i++) { /* overwrites, some sealed, some not */
        size_t j = rnd() % n;
        s[j].v = random_value(td->type);
        s[j].q = rnd() % 3 == 0 ? HIST_QUALITY_BAD : 0;
        write_one(db, td->id, &s[j], 1);
    }
    qsort(s, n, sizeof(*s), cmp_ts);
    td->truth = s;
    td->n = n;
    free(order);
}

/* Index of the first truth sample with ts >= t. */
static size_t lower(const tag_data *td, int64_t t)
{
    size_t lo = 0, hi = td->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (td->truth[mid].ts < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A random time: on a sample, just around one, in a gap, or far outside. */
static int64_t random_time(const tag_data *td)
{
    const hist_sample *s = &td->truth[rnd() % td->n];
    switch (rnd() % 6) {
    case 0:
        return s->ts;
    case 1:
        return s->ts + 1;
    case 2:
        return s->ts - 1;
    case 3:
        return td->truth[0].ts - (int64_t)(rnd() % (3 * HOUR));
    case 4:
        return td->truth[td->n - 1].ts + (int64_t)(rnd() % (3 * HOUR));
    default:
        return s->ts + (int64_t)(rnd() % HOUR);
    }
}

static bool same(const hist_series_result *r, size_t i, const hist_sample *x)
{
    return r->ts[i] == x->ts && r->value[i].bits == x->v.bits && r->q[i] == x->q;
}

/* The expected raw outside answer of [from, to) into *n rows. */
static hist_sample *expect_raw(const tag_data *td, int64_t from, int64_t to, size_t *n)
{
    size_t a = lower(td, from), b = lower(td, to);
    hist_sample *e = malloc((b - a + 2) * sizeof(*e));
    *n = 0;
    if (a > 0)
        e[(*n)++] = td->truth[a - 1];
    for (size_t i = a; i < b; i++)
        e[(*n)++] = td->truth[i];
    if (b < td->n)
        e[(*n)++] = td->truth[b];
    return e;
}

static void check_raw_outside(hist_db *db, const tag_data *td, int64_t from, int64_t to,
                              size_t limit)
{
    size_t ne;
    hist_sample *e = expect_raw(td, from, to, &ne);
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.from = from;
    spec.to = to;
    spec.limit = limit;
    spec.boundary = HIST_BOUNDARY_OUTSIDE;
    size_t got = 0, bad = 0;
    int page = 0;
    for (; page < 100000; page++) {
        hist_result res;
        int rc = hist_query_run(db, &spec, &td->id, 1, &res);
        CHECKF(rc == 0, "raw outside: %s", hist_strerror(rc));
        if (rc)
            break;
        const hist_series_result *r = &res.series[0];
        for (size_t i = 0; i < r->n; i++, got++)
            bad += got >= ne || !same(r, i, &e[got]);
        int64_t next = r->next_ts;
        hist_result_free(&res);
        if (next == INT64_MIN)
            break;
        spec.from = next; /* the next page: no before-sample */
        spec.boundary = HIST_BOUNDARY_AFTER;
    }
    CHECKF(got == ne && bad == 0,
           "raw outside [%lld, %lld) limit %zu: %zu rows, %zu expected, %zu differ",
           (long long)from, (long long)to, limit, got, ne, bad);
    free(e);
}

static void check_plot_outside(hist_db *db, const tag_data *td, int64_t from, int64_t to,
                               uint32_t points)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_PLOT;
    spec.from = from;
    spec.to = to;
    spec.points = points;
    hist_result in, out;
    REQUIRE(hist_query_run(db, &spec, &td->id, 1, &in) == 0);
    check_m4(td->truth, td->n, td->type, &spec, &in);
    spec.boundary = HIST_BOUNDARY_OUTSIDE;
    REQUIRE(hist_query_run(db, &spec, &td->id, 1, &out) == 0);
    const hist_series_result *a = &in.series[0], *b = &out.series[0];
    size_t lo = lower(td, from), hi = lower(td, to);
    size_t pre = lo > 0, post = hi < td->n;
    bool ok = b->n == a->n + pre + post;
    if (ok && pre)
        ok = same(b, 0, &td->truth[lo - 1]);
    if (ok && post)
        ok = same(b, b->n - 1, &td->truth[hi]);
    for (size_t i = 0; ok && i < a->n; i++)
        ok = b->ts[i + pre] == a->ts[i] && b->value[i + pre].bits == a->value[i].bits &&
             b->q[i + pre] == a->q[i];
    CHECKF(ok, "plot outside [%lld, %lld) points %u: %zu rows, inside %zu", (long long)from,
           (long long)to, points, b->n, a->n);
    hist_result_free(&in);
    hist_result_free(&out);
}

static void check_value(hist_db *db, const tag_data *td, int64_t at)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_VALUE;
    spec.at = at;
    hist_result res;
    REQUIRE(hist_query_run(db, &spec, &td->id, 1, &res) == 0);
    const hist_series_result *r = &res.series[0];
    /* Reference over the whole truth (ref_interp is a plain loop). */
    hist_value v;
    uint32_t q;
    ref_interp(td->truth, td->n, td->type, at, &v, &q);
    bool none = at < td->truth[0].ts;
    bool ok;
    if (none)
        ok = r->n == 0;
    else
        ok = r->n == 1 && r->ts[0] == at && r->q[0] == q &&
             (td->type == HIST_TYPE_FLOAT64 ? ref_close(r->value[0].f, v.f) : r->value[0].i == v.i);
    CHECKF(ok, "value at %lld (type %d): %zu rows, q %u want %u", (long long)at, td->type, r->n,
           r->n ? r->q[0] : 0, q);
    hist_result_free(&res);
}

/* Value mode over several tags at once: one row per tag that has data. */
static void check_value_multi(hist_db *db, const tag_data *td, int ntd)
{
    uint32_t ids[4];
    for (int i = 0; i < ntd; i++)
        ids[i] = td[i].id;
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_VALUE;
    spec.at = td[0].truth[td[0].n / 2].ts;
    hist_result res;
    REQUIRE(hist_query_run(db, &spec, ids, (size_t)ntd, &res) == 0);
    CHECK_EQ_I64(res.nseries, ntd);
    CHECK(res.series[0].n == 1 && same(&res.series[0], 0, &td[0].truth[td[0].n / 2]));
    hist_result_free(&res);
}

static void check_rules(hist_db *db, uint32_t id)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.from = 0;
    spec.to = 10;
    hist_result res;
    spec.mode = HIST_MODE_INTERP;
    spec.step_ns = 1;
    spec.boundary = HIST_BOUNDARY_OUTSIDE; /* raw and plot only */
    CHECK(hist_query_run(db, &spec, &id, 1, &res) == HIST_EINVAL);
    spec.mode = HIST_MODE_RAW;
    spec.boundary = 8; /* unknown flag */
    CHECK(hist_query_run(db, &spec, &id, 1, &res) == HIST_EINVAL);
    /* value: extreme times are clamped, no overflow, no row before data */
    spec.boundary = 0;
    spec.mode = HIST_MODE_VALUE;
    spec.at = INT64_MIN;
    REQUIRE(hist_query_run(db, &spec, &id, 1, &res) == 0);
    CHECK(res.series[0].n == 0);
    hist_result_free(&res);
    spec.at = INT64_MAX; /* after the last sample: held, Bad */
    REQUIRE(hist_query_run(db, &spec, &id, 1, &res) == 0);
    CHECK(res.series[0].n == 1 && res.series[0].q[0] == HIST_QUALITY_BAD);
    hist_result_free(&res);
}

int main(void)
{
    (void)check_agg_result; /* ref.h's, for the aggregate tests */
    char dir[] = "/tmp/hist_query_boundary_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    hist_db_options opts;
    hist_db_options_init(&opts);
    opts.dir = dir;
    opts.chunk_samples = 64;
    opts.no_background = true;
    opts.io = HIST_IO_SYNC;
    hist_db *db = NULL;
    REQUIRE(hist_db_open(&opts, &db) == 0);

    const char *names[] = {"b/temp", "b/count", "b/running"};
    hist_type types[] = {HIST_TYPE_FLOAT64, HIST_TYPE_INT64, HIST_TYPE_BOOL};
    tag_data td[3];
    for (int i = 0; i < 3; i++) {
        td[i].type = types[i];
        REQUIRE(hist_tag_resolve(db, names[i], strlen(names[i]), types[i], true, &td[i].id) == 0);
        load_tag(db, &td[i], 3000, INT64_C(1774000000) * SEC + (int64_t)i * 997 * SEC);
    }
    size_t limits[] = {1, 2, 7, 100000};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 60; k++) {
            int64_t x = random_time(&td[i]), y = random_time(&td[i]);
            if (x == y)
                y++;
            int64_t from = x < y ? x : y, to = x < y ? y : x;
            /* short ranges for the small limits keep the page count low */
            size_t lim = limits[k % 4];
            if (lim < 10 && to - from > HOUR)
                to = from + (int64_t)(rnd() % HOUR) + 1;
            check_raw_outside(db, &td[i], from, to, lim);
            check_plot_outside(db, &td[i], from, to, 1 + (uint32_t)(rnd() % 300));
        }
        /* The whole history: no neighbour on either side. */
        check_raw_outside(db, &td[i], td[i].truth[0].ts, td[i].truth[td[i].n - 1].ts + 1, 500);
        /* A range with no sample inside: only the two neighbours. */
        check_raw_outside(db, &td[i], td[i].truth[10].ts + 1, td[i].truth[11].ts, 5);
        check_plot_outside(db, &td[i], td[i].truth[10].ts + 1, td[i].truth[11].ts, 10);
        for (int k = 0; k < 300; k++)
            check_value(db, &td[i], random_time(&td[i]));
        check_value(db, &td[i], td[i].truth[0].ts);
        check_value(db, &td[i], td[i].truth[0].ts - 1);
        check_value(db, &td[i], td[i].truth[td[i].n - 1].ts);
    }
    check_value_multi(db, td, 3);
    check_rules(db, td[0].id);

    /* Damage: a tag written in order, one chunk per flush; flip a bit in
     * the chunk just before a range; the before-sample then comes from
     * the chunk before it, as raw would see it. */
    uint32_t did;
    REQUIRE(hist_tag_resolve(db, "b/damaged", 9, HIST_TYPE_FLOAT64, true, &did) == 0);
    int64_t d0 = INT64_C(1775000000) * SEC;
    for (int c = 0; c < 3; c++) {
        hist_sample s[64];
        for (int i = 0; i < 64; i++)
            s[i] = (hist_sample){d0 + (int64_t)(c * 64 + i) * 10 * SEC, {.f = c * 100.0 + i}, 0};
        write_one(db, did, s, 64);
        CHECK_OK(hist_db_flush(db));
    }
    CHECK_OK(hist_db_close(db));
    hist_chunk_ref *refs = calloc(8192, sizeof(*refs));
    int nref = test_chunk_refs(dir, refs, 8192);
    CHECK(nref > 0 && nref < 8192);
    int victim = -1;
    for (int k = 0; k < nref; k++)
        if (refs[k].tag == did && refs[k].stats.min_ts == d0 + 64 * 10 * SEC)
            victim = k;
    REQUIRE(victim >= 0);
    REQUIRE(test_flip_chunk_bit(dir, &refs[victim], refs[victim].length / 2, 3) == 0);
    free(refs);
    REQUIRE(hist_db_open(&opts, &db) == 0);
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.from = d0 + 128 * 10 * SEC; /* first sample of chunk 2 */
    spec.to = spec.from + 10 * SEC;
    spec.boundary = HIST_BOUNDARY_OUTSIDE;
    hist_result res;
    REQUIRE(hist_query_run(db, &spec, &did, 1, &res) == 0);
    const hist_series_result *r = &res.series[0];
    /* before = sample 63 of chunk 0 (chunk 1 is damaged), in-range 128,
     * after = 129 */
    CHECKF(r->n == 3 && r->ts[0] == d0 + 63 * 10 * SEC && r->value[0].f == 63.0 &&
               r->ts[1] == spec.from && r->ts[2] == spec.from + 10 * SEC,
           "damaged: %zu rows, first at %lld", r->n, r->n ? (long long)(r->ts[0] - d0) : 0LL);
    hist_result_free(&res);
    spec.mode = HIST_MODE_VALUE;
    spec.boundary = 0;
    spec.at = d0 + 100 * 10 * SEC; /* inside the damaged chunk */
    REQUIRE(hist_query_run(db, &spec, &did, 1, &res) == 0);
    /* between sample 63 (63.0) and 128 (200.0), linear */
    double want = 63.0 + (200.0 - 63.0) * (37.0 / 65.0);
    CHECKF(res.series[0].n == 1 && ref_close(res.series[0].value[0].f, want),
           "value over a damaged chunk: %zu rows, %g want %g", res.series[0].n,
           res.series[0].n ? res.series[0].value[0].f : 0.0, want);
    hist_result_free(&res);

    for (int i = 0; i < 3; i++)
        free(td[i].truth);
    CHECK_OK(hist_db_close(db));
    CHECK(test_rm_rf(dir) == 0);
    return check_summary();
}
