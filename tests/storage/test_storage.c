/*
 * test_storage.c: the storage engine through its door (hist_storage.h):
 * tag registry and name rules, write/scan (stats and decoded pieces),
 * out-of-order writes and backfill into sealed ranges, duplicate timestamps
 * (last write wins) in the memtable, across chunks and after reopen,
 * sample_before / at_or_after, latest, flush + reopen, checkpoint, compaction
 * (results identical, fewer chunks), drop_before, LMDB map growth, damaged
 * chunks. A reference model (last write per (tag, ts)) checks every scan.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "storage/hist_storage.h"
#include "storage/index.h"

static char g_dir[256];

static void quiet_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= HIST_LOG_WARN && getenv("TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static hist_db *open_db(const char *sub, uint32_t chunk_samples, int background)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", g_dir, sub);
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.chunk_samples = chunk_samples;
    o.no_background = !background;
    o.log = quiet_log;
    hist_db *db = NULL;
    int rc = hist_db_open(&o, &db);
    CHECKF(rc == 0, "open %s: %s", dir, hist_strerror(rc));
    REQUIRE(db != NULL);
    return db;
}

/* ---- reference model ------------------------------------------------------ */

typedef struct {
    int64_t ts;
    uint64_t seq;
    uint64_t bits;
    uint32_t q;
} ref_s;
typedef struct {
    ref_s *s;
    size_t n, cap;
    uint64_t seq;
} model;

static void model_add(model *m, int64_t ts, uint64_t bits, uint32_t q)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->s = realloc(m->s, m->cap * sizeof(*m->s));
        REQUIRE(m->s);
    }
    m->s[m->n++] = (ref_s){ts, m->seq++, bits, q};
}

static int ref_cmp(const void *a, const void *b)
{
    const ref_s *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorted, last write per ts. */
static size_t model_final(model *m)
{
    qsort(m->s, m->n, sizeof(*m->s), ref_cmp);
    size_t w = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (w && m->s[w - 1].ts == m->s[i].ts)
            m->s[w - 1] = m->s[i];
        else
            m->s[w++] = m->s[i];
    }
    m->n = w;
    return w;
}

/* ---- reading everything ------------------------------------------------------ */

typedef struct {
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
    size_t n, cap;
    size_t stats_pieces, decoded_pieces;
} result;

static void res_add(result *r, int64_t ts, hist_value v, uint32_t q)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->ts = realloc(r->ts, r->cap * sizeof(*r->ts));
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        r->q = realloc(r->q, r->cap * sizeof(*r->q));
        REQUIRE(r->ts && r->v && r->q);
    }
    r->ts[r->n] = ts, r->v[r->n] = v, r->q[r->n] = q;
    r->n++;
}

static void res_free(result *r)
{
    free(r->ts), free(r->v), free(r->q);
    memset(r, 0, sizeof(*r));
}

/* Scans [from, to), checks piece order and stats, collects samples. */
static bool close_enough(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (1 + fabs(a) + fabs(b));
}

/* The stats' min and max samples are the earliest holding the extreme
 * values of the decoded chunk (NaN left out), and its time-weighted sums
 * are those of the decoded samples (linear for float64, step otherwise). */
static bool stats_match_samples(hist_type type, const hist_chunk_stats *st, const int64_t *ts,
                                const hist_value *v, const uint32_t *q, size_t n)
{
    size_t imin = n, imax = n;
    for (size_t i = 0; i < n; i++) {
        double x = hist_value_as_double(type, v[i]);
        if (x != x)
            continue;
        if (imin == n || x < hist_value_as_double(type, v[imin]))
            imin = i;
        if (imax == n || x > hist_value_as_double(type, v[imax]))
            imax = i;
    }
    if (imin == n)
        return st->nan_count == st->count;
    double area = 0, true_s = 0, inc = 0;
    for (size_t i = 1; i < n; i++) {
        double a = hist_value_as_double(type, v[i - 1]), b = hist_value_as_double(type, v[i]);
        double secs = (double)(ts[i] - ts[i - 1]) / 1e9;
        area += (type == HIST_TYPE_FLOAT64 ? (a + b) / 2 : a) * secs;
        true_s += a != 0 ? secs : 0;
        inc += b >= a ? b - a : b;
    }
    if (st->nan_count == 0 &&
        !(close_enough(area, st->tw_integral) && close_enough(true_s, st->true_seconds) &&
          close_enough(inc, st->increase)))
        return false;
    return st->min_ts == ts[imin] && st->min_v.bits == v[imin].bits && st->min_q == q[imin] &&
           st->max_ts == ts[imax] && st->max_v.bits == v[imax].bits && st->max_q == q[imax];
}

/* The counted stats of a decoded chunk: those of its samples that are
 * neither Bad nor NaN, with the count, first and last of that subset. */
static bool counted_match_samples(hist_type type, const hist_chunk_stats *st, const int64_t *ts,
                                  const hist_value *v, const uint32_t *q, size_t n)
{
    int64_t *cts = malloc((n + 1) * sizeof(*cts));
    hist_value *cv = malloc((n + 1) * sizeof(*cv));
    uint32_t *cq = malloc((n + 1) * sizeof(*cq));
    REQUIRE(cts && cv && cq);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = hist_value_as_double(type, v[i]);
        if (hist_quality_is_bad(q[i]) || x != x)
            continue;
        cts[m] = ts[i], cv[m] = v[i], cq[m] = q[i];
        m++;
    }
    bool ok = st->count == m && st->bad_count == 0 && st->nan_count == 0;
    if (ok && m > 0)
        ok = st->start_ts == cts[0] && st->end_ts == cts[m - 1] && st->first_v.bits == cv[0].bits &&
             st->last_v.bits == cv[m - 1].bits && stats_match_samples(type, st, cts, cv, cq, m);
    free(cts), free(cv), free(cq);
    return ok;
}

static int scan_all(hist_db *db, uint32_t tag, int64_t from, int64_t to, unsigned flags, result *r)
{
    memset(r, 0, sizeof(*r));
    hist_tag_info info;
    int rc = hist_tag_by_id(db, tag, &info);
    if (rc)
        return rc;
    hist_scan *s;
    rc = hist_scan_open(db, tag, from, to, flags, &s);
    if (rc)
        return rc;
    hist_piece p;
    int64_t last = INT64_MIN;
    int bad_order = 0, bad_stats = 0;
    while ((rc = hist_scan_next(s, &p)) == 1) {
        if (p.stats) {
            r->stats_pieces++;
            if (flags & HIST_SCAN_DECODE)
                bad_stats++;
            hist_chunk_stats st = *p.stats, counted;
            /* Every chunk this build writes knows its counted stats. */
            if (!p.counted)
                bad_stats++;
            else
                counted = *p.counted;
            rc = hist_scan_decode(s, &p);
            if (rc)
                break;
            if (p.n != st.count || p.ts[0] != st.start_ts || p.ts[p.n - 1] != st.end_ts ||
                p.v[0].bits != st.first_v.bits || p.v[p.n - 1].bits != st.last_v.bits)
                bad_stats++;
            if (!stats_match_samples(info.type, &st, p.ts, p.v, p.q, p.n))
                bad_stats++;
            if (p.counted && !counted_match_samples(info.type, &counted, p.ts, p.v, p.q, p.n))
                bad_stats++;
            if (st.start_ts < from || st.end_ts >= to)
                bad_stats++;
        } else {
            r->decoded_pieces++;
        }
        for (size_t i = 0; i < p.n; i++) {
            if (p.ts[i] <= last || p.ts[i] < from || p.ts[i] >= to)
                bad_order++;
            last = p.ts[i];
            res_add(r, p.ts[i], p.v[i], p.q ? p.q[i] : 0);
        }
    }
    hist_scan_close(s);
    CHECKF(bad_order == 0, "%d samples out of order or range", bad_order);
    CHECKF(bad_stats == 0, "%d stats pieces wrong", bad_stats);
    return rc < 0 ? rc : 0;
}

static int same_as_model(const result *r, const model *m, int64_t from, int64_t to)
{
    size_t j = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->s[i].ts < from || m->s[i].ts >= to)
            continue;
        if (j >= r->n || r->ts[j] != m->s[i].ts || r->v[j].bits != m->s[i].bits ||
            r->q[j] != m->s[i].q) {
            fprintf(stderr, "mismatch at model %zu (ts %lld): got n=%zu j=%zu ts=%lld\n", i,
                    (long long)m->s[i].ts, r->n, j, j < r->n ? (long long)r->ts[j] : -1LL);
            return 0;
        }
        j++;
    }
    return j == r->n;
}

static void write_one(hist_db *db, uint32_t tag, size_t n, const int64_t *ts, const hist_value *v,
                      const uint32_t *q, model *m)
{
    hist_series s = {tag, n, ts, v, q};
    uint64_t lsn;
    int rc = hist_db_write(db, &s, 1, &lsn);
    CHECKF(rc == 0, "write: %s", hist_strerror(rc));
    if (rc == 0 && m)
        for (size_t i = 0; i < n; i++)
            model_add(m, ts[i], v[i].bits, q ? q[i] : 0);
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_names(void)
{
    const char *good[] = {"a", "site/area/line/cell/signal", "plant-1/T_101.PV", "größe/°C",
                          "a b/c"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECKF(hist_tag_name_check(good[i], strlen(good[i])) == 0, "good name %s", good[i]);
    const char *bad[] = {"",     "/a",   "a/",       "a//b",     "a\tb",
                         "a\nb", "\x7f", "\xff\xfe", "\xc0\xaf", "a/\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECKF(hist_tag_name_check(bad[i], strlen(bad[i])) == HIST_ENAME, "bad name #%zu", i);
    char longname[300];
    memset(longname, 'x', sizeof(longname));
    CHECK(hist_tag_name_check(longname, 255) == 0);
    CHECK(hist_tag_name_check(longname, 256) == HIST_ENAME);
    CHECK(hist_tag_name_check("a\0b", 3) == HIST_ENAME);

    hist_type t;
    CHECK(hist_type_parse("float64", &t) == 0 && t == HIST_TYPE_FLOAT64);
    CHECK(hist_type_parse("bool", &t) == 0 && t == HIST_TYPE_BOOL);
    CHECK(hist_type_parse("string", &t) == HIST_EINVAL);
    CHECK(strcmp(hist_type_name(HIST_TYPE_INT64), "int64") == 0);
}

static int count_tag(void *ctx, const hist_tag_info *tag)
{
    (void)tag;
    (*(int *)ctx)++;
    return 0;
}

static void test_tags(void)
{
    hist_db *db = open_db("tags", 64, 0);
    uint32_t a, b, c;
    CHECK_OK(hist_tag_resolve(db, "s/a/x", 5, HIST_TYPE_FLOAT64, true, &a));
    CHECK_OK(hist_tag_resolve(db, "s/a/y", 5, HIST_TYPE_INT64, true, &b));
    CHECK(a != 0 && b != 0 && a != b);
    CHECK(hist_tag_resolve(db, "s/a/x", 5, HIST_TYPE_FLOAT64, false, &c) == 0 && c == a);
    CHECK(hist_tag_resolve(db, "s/a/x", 5, HIST_TYPE_INT64, true, &c) == HIST_ETYPE);
    CHECK(hist_tag_resolve(db, "s/a/z", 5, HIST_TYPE_FLOAT64, false, &c) == HIST_ENOTFOUND);
    CHECK(hist_tag_resolve(db, "s//z", 4, HIST_TYPE_FLOAT64, true, &c) == HIST_ENAME);
    hist_tag_info info;
    memset(&info, 0, sizeof(info));
    snprintf(info.name, sizeof(info.name), "s/b/flow");
    info.type = HIST_TYPE_FLOAT64;
    snprintf(info.unit, sizeof(info.unit), "m3/h");
    snprintf(info.description, sizeof(info.description), "inlet flow");
    CHECK_OK(hist_tag_put(db, &info));
    CHECK(info.id > b);
    snprintf(info.unit, sizeof(info.unit), "l/s");
    CHECK_OK(hist_tag_put(db, &info));
    info.type = HIST_TYPE_BOOL;
    CHECK(hist_tag_put(db, &info) == HIST_ETYPE);
    hist_tag_info got;
    CHECK_OK(hist_tag_by_name(db, "s/b/flow", &got));
    CHECK(strcmp(got.unit, "l/s") == 0 && strcmp(got.description, "inlet flow") == 0);
    CHECK(hist_tag_by_id(db, 9999, &got) == HIST_ENOTFOUND);
    int n = 0;
    CHECK_OK(hist_tag_foreach(db, "s/a/", count_tag, &n));
    CHECK(n == 2);
    n = 0;
    CHECK_OK(hist_tag_foreach(db, "", count_tag, &n));
    CHECK(n == 3);

    /* Validation: unknown tag, ts range, bool values, NULL arrays: nothing written. */
    int64_t ts[2] = {1, HIST_TS_MAX + 1};
    hist_value v[2] = {{.f = 1}, {.f = 2}};
    hist_series s[2] = {{a, 1, ts, v, NULL}, {a, 2, ts, v, NULL}};
    uint64_t lsn;
    CHECK(hist_db_write(db, s, 2, &lsn) == HIST_ERANGE);
    s[1] = (hist_series){777, 1, ts, v, NULL};
    CHECK(hist_db_write(db, s, 2, &lsn) == HIST_ENOTFOUND);
    s[1] = (hist_series){a, 1, NULL, v, NULL};
    CHECK(hist_db_write(db, s, 2, &lsn) == HIST_EINVAL);
    hist_sample smp;
    CHECK(hist_db_latest(db, a, &smp) == HIST_ENOTFOUND);
    uint32_t bt;
    CHECK_OK(hist_tag_resolve(db, "s/run", 5, HIST_TYPE_BOOL, true, &bt));
    hist_value bv = {.i = 2};
    hist_series bs = {bt, 1, ts, &bv, NULL};
    CHECK(hist_db_write(db, &bs, 1, &lsn) == HIST_ETYPE);
    CHECK_OK(hist_db_close(db));

    /* Reopen: tags persist, ids are not reused. */
    db = open_db("tags", 64, 0);
    CHECK(hist_tag_by_name(db, "s/a/y", &got) == 0 && got.id == b && got.type == HIST_TYPE_INT64);
    CHECK(hist_tag_by_name(db, "s/b/flow", &got) == 0 && strcmp(got.unit, "l/s") == 0);
    CHECK_OK(hist_tag_resolve(db, "s/new", 5, HIST_TYPE_FLOAT64, true, &c));
    CHECK(c > bt);
    CHECK_OK(hist_db_close(db));
}

static void test_write_scan(void)
{
    hist_db *db = open_db("ws", 100, 0);
    uint32_t tag;
    CHECK_OK(hist_tag_resolve(db, "p/t1", 4, HIST_TYPE_FLOAT64, true, &tag));
    model m = {0};
    int64_t ts[1000];
    hist_value v[1000];
    uint32_t q[1000];
    for (int i = 0; i < 1000; i++) {
        ts[i] = 1000000000LL * i;
        v[i].f = i % 89 == 5 ? NAN : i * 0.5; /* NaN and Bad: the counted stats skip them */
        q[i] = (i % 97 == 0 || (i >= 300 && i < 400)) ? HIST_QUALITY_BAD : 0;
    }
    write_one(db, tag, 1000, ts, v, q, &m);
    model_final(&m);
    result r;
    /* Memtable only. */
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &m, HIST_TS_MIN, HIST_TS_MAX));
    res_free(&r);
    hist_sample smp;
    CHECK(hist_db_latest(db, tag, &smp) == 0 && smp.ts == ts[999] && smp.v.f == v[999].f);
    CHECK_OK(hist_db_flush(db));
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK(st.chunks == 10 && st.samples_sealed == 1000 && st.samples_memtable == 0);
    /* Sealed: full range gives stats pieces, DECODE gives none. */
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &m, HIST_TS_MIN, HIST_TS_MAX));
    CHECK(r.stats_pieces == 10);
    res_free(&r);
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &r));
    CHECK(same_as_model(&r, &m, HIST_TS_MIN, HIST_TS_MAX));
    CHECK(r.stats_pieces == 0);
    res_free(&r);
    /* A clipped range: edges decoded, middle from stats. */
    int64_t from = 150 * 1000000000LL + 1, to = 555 * 1000000000LL;
    CHECK_OK(scan_all(db, tag, from, to, 0, &r));
    CHECK(same_as_model(&r, &m, from, to));
    CHECK(r.stats_pieces == 3 && r.decoded_pieces == 2);
    res_free(&r);
    /* Empty and inverted ranges. */
    CHECK_OK(scan_all(db, tag, 5, 5, 0, &r));
    CHECK(r.n == 0);
    res_free(&r);
    hist_scan *sc;
    CHECK(hist_scan_open(db, 4242, 0, 10, 0, &sc) == HIST_ENOTFOUND);

    /* sample_before / at_or_after, with and without skipping Bad. */
    CHECK(hist_db_sample_before(db, tag, 5 * 1000000000LL, 0, &smp) == 0 &&
          smp.ts == 4 * 1000000000LL);
    CHECK(hist_db_sample_before(db, tag, 5 * 1000000000LL + 1, 0, &smp) == 0 &&
          smp.ts == 5 * 1000000000LL);
    CHECK(hist_db_sample_before(db, tag, 0, 0, &smp) == HIST_ENOTFOUND);
    CHECK(hist_db_sample_before(db, tag, 98 * 1000000000LL, HIST_NEAR_SKIP_BAD, &smp) == 0 &&
          smp.ts == 96 * 1000000000LL);
    CHECK(hist_db_sample_before(db, tag, INT64_C(9000000000000000000), 0, &smp) == 0 &&
          smp.ts == ts[999]);
    CHECK(hist_db_sample_at_or_after(db, tag, 97 * 1000000000LL, 0, &smp) == 0 &&
          smp.ts == 97 * 1000000000LL && smp.q == HIST_QUALITY_BAD);
    CHECK(hist_db_sample_at_or_after(db, tag, 97 * 1000000000LL, HIST_NEAR_SKIP_BAD, &smp) == 0 &&
          smp.ts == 98 * 1000000000LL);
    CHECK(hist_db_sample_at_or_after(db, tag, -5, 0, &smp) == 0 && smp.ts == 0);
    CHECK(hist_db_sample_at_or_after(db, tag, ts[999] + 1, 0, &smp) == HIST_ENOTFOUND);
    CHECK_OK(hist_db_close(db));

    /* Reopen: everything still there, latest from chunk stats. */
    db = open_db("ws", 100, 0);
    CHECK(hist_db_latest(db, tag, &smp) == 0 && smp.ts == ts[999] && smp.v.f == v[999].f);
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &m, HIST_TS_MIN, HIST_TS_MAX));
    res_free(&r);
    CHECK_OK(hist_db_close(db));
    free(m.s);
}

/* Random writes with overlaps, duplicates and backfill into sealed ranges;
 * checked against the model in memtable, mixed, after flush, reopen and
 * compaction. */
static void test_random_overwrites(void)
{
    hist_db *db = open_db("rnd", 128, 0);
    uint32_t tag, itag;
    CHECK_OK(hist_tag_resolve(db, "r/f", 3, HIST_TYPE_FLOAT64, true, &tag));
    CHECK_OK(hist_tag_resolve(db, "r/i", 3, HIST_TYPE_INT64, true, &itag));
    model m = {0}, mi = {0};
    srand(42);
    uint64_t uniq = 1;
    for (int round = 0; round < 60; round++) {
        int64_t ts[300];
        hist_value v[300];
        uint32_t q[300];
        int n = 1 + rand() % 300;
        int64_t base = (int64_t)(rand() % 5000) * 1000;
        for (int i = 0; i < n; i++) {
            /* Mostly increasing, some random (out of order), some repeated. */
            int kind = rand() % 10;
            ts[i] = kind < 6   ? base + i * 1000
                    : kind < 9 ? (int64_t)(rand() % 6000) * 1000
                               : (i ? ts[i - 1] : base);
            v[i].f = (double)(uniq++);
            q[i] = rand() % 20 == 0 ? HIST_QUALITY_UNCERTAIN : 0;
        }
        write_one(db, tag, (size_t)n, ts, v, q, &m);
        for (int i = 0; i < n; i++)
            v[i].i = (int64_t)uniq++ - 1000000;
        write_one(db, itag, (size_t)n, ts, v, NULL, &mi);
        if (round % 7 == 3)
            CHECK_OK(hist_db_flush(db));
        if (round % 13 == 5) {
            CHECK_OK(hist_db_close(db));
            db = open_db("rnd", 128, 0);
        }
    }
    model_final(&m);
    model_final(&mi);
    result r;
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &m, HIST_TS_MIN, HIST_TS_MAX));
    res_free(&r);
    CHECK_OK(scan_all(db, itag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &mi, HIST_TS_MIN, HIST_TS_MAX));
    res_free(&r);
    for (int k = 0; k < 20; k++) {
        int64_t a = (int64_t)(rand() % 6000) * 1000 - 500, b = a + (rand() % 3000) * 1000 + 7;
        CHECK_OK(scan_all(db, tag, a, b, 0, &r));
        CHECK(same_as_model(&r, &m, a, b));
        res_free(&r);
    }
    /* latest = value at the greatest ts, last write wins. */
    hist_sample smp;
    CHECK(hist_db_latest(db, tag, &smp) == 0 && smp.ts == m.s[m.n - 1].ts &&
          smp.v.bits == m.s[m.n - 1].bits);
    CHECK_OK(hist_db_flush(db));
    CHECK_OK(hist_db_close(db));
    db = open_db("rnd", 128, 0);
    CHECK(hist_db_latest(db, tag, &smp) == 0 && smp.ts == m.s[m.n - 1].ts &&
          smp.v.bits == m.s[m.n - 1].bits);
    hist_db_stats before, after;
    CHECK_OK(hist_db_get_stats(db, &before));
    CHECK_OK(hist_db_compact(db, 0));
    CHECK_OK(hist_db_get_stats(db, &after));
    CHECKF(after.chunks < before.chunks, "chunks %llu -> %llu", (unsigned long long)before.chunks,
           (unsigned long long)after.chunks);
    CHECK(after.samples_sealed == m.n + mi.n);
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &m, HIST_TS_MIN, HIST_TS_MAX));
    res_free(&r);
    CHECK_OK(scan_all(db, itag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &mi, HIST_TS_MIN, HIST_TS_MAX));
    res_free(&r);
    CHECKF(after.bytes_segments <= before.bytes_segments + after.bytes_chunks,
           "segments %llu -> %llu", (unsigned long long)before.bytes_segments,
           (unsigned long long)after.bytes_segments);
    /* Compacting again changes nothing; reopen still identical. */
    CHECK_OK(hist_db_compact(db, tag));
    CHECK_OK(hist_db_close(db));
    db = open_db("rnd", 128, 0);
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &m, HIST_TS_MIN, HIST_TS_MAX));
    res_free(&r);

    /* drop_before: chunks entirely older than t go; the rest stays. */
    int64_t cut = 3000 * 1000;
    CHECK_OK(hist_db_drop_before(db, cut));
    CHECK_OK(scan_all(db, tag, cut, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &m, cut, HIST_TS_MAX));
    res_free(&r);
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(r.n < m.n && r.n > 0);
    res_free(&r);
    CHECK_OK(hist_db_close(db));
    free(m.s);
    free(mi.s);
}

static size_t count_files(const char *sub, const char *ext)
{
    DIR *d = opendir(sub);
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ext) != NULL;
    closedir(d);
    return n;
}

static void test_checkpoint_and_background(void)
{
    /* Background sealer: small chunks seal on their own, WAL gets cut. */
    hist_db *db = open_db("bg", 64, 1);
    uint32_t tag;
    CHECK_OK(hist_tag_resolve(db, "bg/x", 4, HIST_TYPE_FLOAT64, true, &tag));
    model m = {0};
    for (int b = 0; b < 50; b++) {
        int64_t ts[100];
        hist_value v[100];
        for (int i = 0; i < 100; i++)
            ts[i] = (int64_t)(b * 100 + i) * 1000, v[i].f = b * 100 + i;
        write_one(db, tag, 100, ts, v, NULL, &m);
    }
    for (int i = 0; i < 100; i++) {
        hist_db_stats st;
        hist_db_get_stats(db, &st);
        if (st.samples_memtable < 64)
            break;
        usleep(20000);
    }
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECKF(st.samples_memtable < 64, "memtable %llu", (unsigned long long)st.samples_memtable);
    CHECK(st.chunks_sealed > 0);
    CHECK_OK(hist_db_flush(db));
    model_final(&m);
    result r;
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(same_as_model(&r, &m, HIST_TS_MIN, HIST_TS_MAX));
    res_free(&r);
    CHECK_OK(hist_db_close(db));
    free(m.s);

    /* Checkpoint deletes WAL segments once their records are in chunks
     * (only the active one stays); a clean close removes that one too. */
    db = open_db("ckpt", 8192, 0);
    CHECK_OK(hist_tag_resolve(db, "c/x", 3, HIST_TYPE_FLOAT64, true, &tag));
    char wal[600];
    snprintf(wal, sizeof(wal), "%s/ckpt/wal", g_dir);
    for (int k = 0; k < 3; k++) {
        CHECK_OK(hist_db_close(db)); /* each open starts a new WAL segment */
        CHECK(count_files(wal, ".wal") == 0);
        db = open_db("ckpt", 8192, 0);
        int64_t ts = k;
        hist_value v = {.f = k};
        write_one(db, tag, 1, &ts, &v, NULL, NULL);
    }
    hist_db_stats st0;
    CHECK_OK(hist_db_get_stats(db, &st0));
    CHECK_OK(hist_db_sync(db, st0.lsn_written));
    size_t before = count_files(wal, ".wal");
    CHECK_OK(hist_db_flush(db));
    size_t after = count_files(wal, ".wal");
    CHECKF(before == 1 && after <= 1, "wal files %zu -> %zu", before, after);
    CHECK_OK(hist_db_close(db));

    /* A clean close leaves no WAL at all; the next open carries LSNs on
     * from the checkpoint and every sample is still there. */
    CHECKF(count_files(wal, ".wal") == 0, "wal files after close: %zu", count_files(wal, ".wal"));
    db = open_db("ckpt", 8192, 0);
    int64_t ts4 = 4;
    hist_value v4 = {.f = 4};
    uint64_t lsn4;
    hist_series s4 = {tag, 1, &ts4, &v4, NULL};
    CHECK_OK(hist_db_write(db, &s4, 1, &lsn4));
    CHECKF(lsn4 > st0.lsn_written, "LSN %llu after %llu", (unsigned long long)lsn4,
           (unsigned long long)st0.lsn_written);
    CHECK_OK(hist_db_sync(db, lsn4));
    hist_sample smp;
    for (int64_t t = 0; t <= 4; t++) /* written: 0, 1, 2 and 4 */
        CHECK(hist_db_sample_at_or_after(db, tag, t, 0, &smp) == 0 && smp.ts == (t == 3 ? 4 : t) &&
              smp.v.f == (double)smp.ts);
    CHECK_OK(hist_db_close(db));
}

static void test_damaged_chunk(void)
{
    hist_db *db = open_db("dmg", 100, 0);
    uint32_t a, b;
    CHECK_OK(hist_tag_resolve(db, "d/a", 3, HIST_TYPE_FLOAT64, true, &a));
    CHECK_OK(hist_tag_resolve(db, "d/b", 3, HIST_TYPE_FLOAT64, true, &b));
    model ma = {0}, mb = {0};
    int64_t ts[100];
    hist_value v[100];
    for (int i = 0; i < 100; i++)
        ts[i] = i, v[i].f = sin(i * 0.1);
    write_one(db, a, 100, ts, v, NULL, &ma);
    CHECK_OK(hist_db_flush(db));
    write_one(db, b, 100, ts, v, NULL, &mb);
    CHECK_OK(hist_db_close(db));
    /* The first chunk written (tag a) sits at offset 0 of segment 1. */
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/dmg/seg/000000000001.seg", g_dir);
    int fd = open(seg, O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t junk[8] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
    CHECK(pwrite(fd, junk, sizeof(junk), 20) == (ssize_t)sizeof(junk));
    close(fd);
    db = open_db("dmg", 100, 0);
    /* Not yet known damaged: a stats piece is offered, and refuses to
     * decode; that marks the chunk. */
    hist_scan *s;
    CHECK_OK(hist_scan_open(db, a, HIST_TS_MIN, HIST_TS_MAX, 0, &s));
    hist_piece p;
    CHECK(hist_scan_next(s, &p) == 1 && p.stats);
    CHECK(hist_scan_decode(s, &p) == HIST_ECORRUPT);
    hist_scan_close(s);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK(st.damaged_chunks == 1 && st.chunk_load_failures == 1);
    /* Marked: no scan offers it any more, by stats or decoded. */
    CHECK_OK(hist_scan_open(db, a, HIST_TS_MIN, HIST_TS_MAX, 0, &s));
    CHECK(hist_scan_next(s, &p) == 0);
    hist_scan_close(s);
    result r;
    CHECK_OK(scan_all(db, a, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &r));
    CHECK(r.n == 0);
    res_free(&r);
    model_final(&mb);
    CHECK_OK(scan_all(db, b, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &r));
    CHECK(same_as_model(&r, &mb, HIST_TS_MIN, HIST_TS_MAX));
    res_free(&r);
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK(st.chunk_load_failures == 1); /* not read again */
    hist_sample smp;
    int rc = hist_db_sample_at_or_after(db, a, 50, 0, &smp); /* damaged: skipped */
    CHECK(rc == HIST_ENOTFOUND);
    CHECK_OK(hist_db_compact(db, 0)); /* leaves the damaged chunk alone, no crash */
    CHECK_OK(hist_db_close(db));
    free(ma.s);
    free(mb.s);
}

typedef struct {
    int i;
} fill_ctx;

static int fill_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    fill_ctx *c = arg;
    hist_chunk_ref ref;
    memset(&ref, 0, sizeof(ref));
    for (int k = 0; k < 2000; k++) {
        ref.tag = 1;
        ref.seq = (uint64_t)(c->i * 2000 + k);
        ref.stats.start_ts = ref.seq;
        int rc = index__put_chunk(idx, txn, &ref);
        if (rc)
            return rc;
    }
    return 0;
}

static void test_map_growth(void)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/mapfull", g_dir);
    hist_index idx;
    REQUIRE(index__open(&idx, dir, 256 * 1024, quiet_log, NULL) == 0);
    size_t start = idx.mapsize;
    int ok = 1;
    for (int i = 0; i < 10 && ok; i++) {
        fill_ctx c = {i};
        ok = index__write(&idx, fill_txn, &c) == 0;
    }
    CHECK(ok);
    CHECKF(idx.mapsize > start, "map %zu -> %zu", start, idx.mapsize);
    MDB_txn *txn;
    REQUIRE(index__read_begin(&idx, &txn) == 0);
    MDB_stat ms;
    mdb_stat(txn, idx.chunk, &ms);
    CHECK(ms.ms_entries == 20000);
    index__read_end(&idx, txn);
    index__close(&idx);
}

/* Retention: the sealer drops chunks older than now - retention_ns. */
static void test_retention(void)
{
    hist_db *db = open_db("ret", 50, 0);
    uint32_t tag;
    CHECK_OK(hist_tag_resolve(db, "ret/x", 5, HIST_TYPE_FLOAT64, true, &tag));
    int64_t ts[100];
    hist_value v[100];
    for (int i = 0; i < 100; i++)
        ts[i] = (int64_t)i * 1000000000, v[i].f = i; /* 1970: far past any retention */
    write_one(db, tag, 100, ts, v, NULL, NULL);
    CHECK_OK(hist_db_close(db));
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/ret", g_dir);
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.chunk_samples = 50;
    o.retention_ns = INT64_C(86400000000000);
    o.log = quiet_log;
    REQUIRE(hist_db_open(&o, &db) == 0);
    hist_db_stats st;
    for (int i = 0; i < 100; i++) {
        CHECK_OK(hist_db_get_stats(db, &st));
        if (st.chunks == 0)
            break;
        usleep(20000);
    }
    CHECK(st.chunks == 0 && st.samples_sealed == 0);
    result r;
    CHECK_OK(scan_all(db, tag, HIST_TS_MIN, HIST_TS_MAX, 0, &r));
    CHECK(r.n == 0);
    res_free(&r);
    CHECK_OK(hist_db_close(db));
}

/* Many tags at once: new ones created together, a name given twice is one
 * tag typed by its first mention, each ref gets its own verdict, and all of
 * it survives a reopen with ids going on from there. */
static void test_resolve_many(void)
{
    hist_db *db = open_db("many", 64, 0);
    uint32_t old_id;
    CHECK_OK(hist_tag_resolve(db, "m/old", 5, HIST_TYPE_INT64, true, &old_id));
    enum { N = 1000 };
    static char names[N][32];
    hist_tag_ref refs[N + 5];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "m/new/t%04d", i);
        refs[i] = (hist_tag_ref){names[i], strlen(names[i]), HIST_TYPE_FLOAT64};
    }
    refs[N] = (hist_tag_ref){"m/old", 5, HIST_TYPE_INT64};    /* exists */
    refs[N + 1] = (hist_tag_ref){"m/old", 5, HIST_TYPE_BOOL}; /* exists, other type */
    refs[N + 2] = (hist_tag_ref){names[7], strlen(names[7]), HIST_TYPE_BOOL}; /* dup, other type */
    refs[N + 3] = (hist_tag_ref){names[9], strlen(names[9]), HIST_TYPE_FLOAT64}; /* dup */
    refs[N + 4] = (hist_tag_ref){"m//bad", 6, HIST_TYPE_FLOAT64};
    uint32_t ids[N + 5];
    int rcs[N + 5];
    CHECK_OK(hist_tag_resolve_many(db, refs, N + 5, true, ids, rcs));
    int ok = 0, distinct = 1;
    for (int i = 0; i < N; i++) {
        ok += rcs[i] == 0 && ids[i] != 0 && ids[i] != old_id;
        if (i && ids[i] == ids[i - 1])
            distinct = 0;
    }
    CHECK_EQ_I64(ok, N);
    CHECK(distinct);
    CHECK(rcs[N] == 0 && ids[N] == old_id);
    CHECK(rcs[N + 1] == HIST_ETYPE);
    CHECK(rcs[N + 2] == HIST_ETYPE);
    CHECK(rcs[N + 3] == 0 && ids[N + 3] == ids[9]);
    CHECK(rcs[N + 4] == HIST_ENAME && ids[N + 4] == 0);
    hist_tag_info info;
    CHECK(hist_tag_by_name(db, names[500], &info) == 0 && info.id == ids[500] &&
          info.type == HIST_TYPE_FLOAT64);
    /* Without create: the unknown ones are HIST_ENOTFOUND, nothing made. */
    hist_tag_ref probe[2] = {{"m/none", 6, HIST_TYPE_FLOAT64},
                             {names[3], strlen(names[3]), HIST_TYPE_FLOAT64}};
    uint32_t pid[2];
    int prc[2];
    CHECK_OK(hist_tag_resolve_many(db, probe, 2, false, pid, prc));
    CHECK(prc[0] == HIST_ENOTFOUND && prc[1] == 0 && pid[1] == ids[3]);
    CHECK(hist_tag_by_name(db, "m/none", &info) == HIST_ENOTFOUND);
    CHECK_OK(hist_db_close(db));

    db = open_db("many", 64, 0);
    CHECK(hist_tag_by_name(db, names[999], &info) == 0 && info.id == ids[999]);
    uint32_t next;
    CHECK_OK(hist_tag_resolve(db, "m/after", 7, HIST_TYPE_BOOL, true, &next));
    uint32_t max_id = old_id;
    for (int i = 0; i < N; i++)
        max_id = ids[i] > max_id ? ids[i] : max_id;
    CHECKF(next == max_id + 1, "next id %u after max %u", next, max_id);
    CHECK_OK(hist_db_close(db));
}

/* The WAL has a budget: with no buffer full or old and memory to spare, a
 * log past wal_bytes of closed segments still gets the buffers holding the
 * oldest writes sealed, and shrinks (bounded waits). */
static void test_wal_budget(void)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/walbudget", g_dir);
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.log = quiet_log;
    o.chunk_samples = 1000000; /* never full here */
    o.wal_segment_bytes = 64 << 10;
    o.wal_bytes = 128 << 10;
    hist_db *db = NULL;
    REQUIRE(hist_db_open(&o, &db) == 0);
    uint32_t slow, busy;
    CHECK_OK(hist_tag_resolve(db, "w/slow", 6, HIST_TYPE_FLOAT64, true, &slow));
    CHECK_OK(hist_tag_resolve(db, "w/busy", 6, HIST_TYPE_FLOAT64, true, &busy));
    int64_t ts[1000];
    hist_value v[1000];
    ts[0] = 0, v[0].f = 1;
    write_one(db, slow, 1, ts, v, NULL, NULL);
    hist_db_stats st = {0};
    uint64_t x = 1;
    for (int b = 0; b < 200; b++) {
        for (int i = 0; i < 1000; i++) {
            x = x * 6364136223846793005u + 1442695040888963407u; /* noisy values */
            ts[i] = (int64_t)(b * 1000 + i) * 1000000000LL, v[i].f = (double)(x >> 11);
        }
        hist_series ser = {busy, 1000, ts, v, NULL};
        uint64_t lsn;
        CHECK_OK(hist_db_write(db, &ser, 1, &lsn));
        CHECK_OK(hist_db_sync(db, lsn)); /* as the server's writer does: the log grows */
    }
    /* The rule seals only while the log is over budget, so what the last
     * writes left below the budget may stay in memory: about 14 batches of
     * these noisy values fill the 128 KiB (plus the 64 KiB segment being
     * written). Without the rule all 200,001 samples would stay. */
    const uint64_t budget_samples = 30000;
    for (int i = 0; i < 500; i++) { /* up to 5 s */
        REQUIRE(hist_db_get_stats(db, &st) == 0);
        if (st.samples_memtable <= budget_samples && st.bytes_wal < (512 << 10))
            break;
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
    }
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "wal %llu bytes, memtable %llu samples\n", (unsigned long long)st.bytes_wal,
                (unsigned long long)st.samples_memtable);
    CHECKF(st.samples_memtable <= budget_samples, "memtable still %llu samples",
           (unsigned long long)st.samples_memtable);
    CHECK_EQ_I64(st.samples_sealed + st.samples_memtable, 200001);
    CHECK(st.samples_sealed > 0);
    CHECKF(st.bytes_wal < (512 << 10), "WAL still %llu bytes", (unsigned long long)st.bytes_wal);
    CHECK_OK(hist_db_close(db));
}

/* A data directory has one owner at a time: a second open fails with
 * HIST_EBUSY while the first is open (also from a forked child, as a second
 * historiand would), and succeeds again after close. */
static void test_single_owner(void)
{
    hist_db *db = open_db("owner", 64, 0);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/owner", g_dir);
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.no_background = true;
    o.log = quiet_log;
    hist_db *second = NULL;
    CHECK(hist_db_open(&o, &second) == HIST_EBUSY && second == NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        hist_db *child = NULL;
        _exit(hist_db_open(&o, &child) == HIST_EBUSY ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_OK(hist_db_close(db));
    CHECK_OK(hist_db_open(&o, &second));
    CHECK_OK(hist_db_close(second));
}

int main(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/hist_storage_XXXXXX");
    REQUIRE(mkdtemp(g_dir));
    test_names();
    test_tags();
    test_write_scan();
    test_random_overwrites();
    test_checkpoint_and_background();
    test_damaged_chunk();
    test_map_growth();
    test_retention();
    test_resolve_many();
    test_single_owner();
    test_wal_budget();
    test_rm_rf(g_dir);
    return check_summary();
}
