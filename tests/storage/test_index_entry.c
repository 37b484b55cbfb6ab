/*
 * test_index_entry.c: the packed chunk entries of the LMDB index
 * (storage/index_entry.c) and the upgrade of a format 2 index.
 *
 *   - pack then unpack gives the entry back, field for field, for edge
 *     values: negative and extreme times, NaN payloads, int64 extremes that
 *     are no double, zero fields, min_v unlike min, counted stats;
 *   - every truncation, a byte too many, a wrong format byte or flag are
 *     refused as HIST_ECORRUPT;
 *   - a data directory whose index holds format 2 entries (fixed-layout
 *     structs) opens as format 3 with every sample and statistic intact.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tmpdir.h"
#include "storage/hist_storage.h"
#include "storage/index.h"

#define SEC INT64_C(1000000000)

static void quiet_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= HIST_LOG_WARN && getenv("TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static hist_chunk_ref sample_ref(int64_t start, bool counted)
{
    hist_chunk_ref r;
    memset(&r, 0, sizeof(r));
    r.tag = 9;
    r.seq = 77;
    r.segment = 4000000000u;
    r.offset = UINT64_MAX - 5;
    r.length = 12345;
    r.crc = 0x89abcdefu;
    r.ts_codec = 2, r.value_codec = 0x81, r.quality_codec = 1;
    hist_chunk_stats *s = &r.stats;
    s->start_ts = start;
    s->end_ts = start + 3599 * SEC;
    s->count = 3600, s->bad_count = 3, s->nongood_count = 5, s->nan_count = 1;
    s->min = -(double)INT64_MAX, s->max = 0;
    s->min_v.i = INT64_MIN + 1; /* an int64 extreme: no double says it */
    s->max_v.i = 0;
    s->sum = -0.0, s->sumsq = 1e300;
    s->first_v.bits = UINT64_C(0x7ff8000000000123); /* a NaN with a payload */
    s->last_v.f = 2.5;
    s->first_q = 0x80000000u, s->last_q = 0, s->min_q = 0x40000000u, s->max_q = UINT32_MAX;
    s->min_ts = start + SEC, s->max_ts = s->end_ts;
    s->tw_integral = 1.5, s->true_seconds = 0, s->increase = INFINITY;
    if (counted) {
        r.flags = HIST_CHUNK_HAS_COUNTED;
        r.counted = *s;
        r.counted.start_ts = start + 2 * SEC; /* the first counted sample */
        r.counted.bad_count = 0, r.counted.nan_count = 0, r.counted.count = 3596;
        r.counted.min_v.f = r.counted.min = -3; /* float-like: min_v left out */
    }
    return r;
}

static void test_round_trip(void)
{
    const int64_t starts[] = {0, -1, HIST_TS_MIN, HIST_TS_MAX - 3600 * SEC, 1767225600 * SEC};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        for (int counted = 0; counted < 2; counted++) {
            hist_chunk_ref a = sample_ref(starts[i], counted), b;
            uint8_t buf[HIST_CHUNK_ENTRY_MAX];
            size_t n = entry__pack(&a, buf);
            CHECK(n > 0 && n <= sizeof(buf));
            CHECK_EQ_I64(entry__unpack(buf, n, a.tag, starts[i], a.seq, &b), 0);
            CHECKF(memcmp(&a, &b, sizeof(a)) == 0, "start %lld counted %d: entry differs",
                   (long long)starts[i], counted);
            /* Smaller than the fixed layout it replaces. */
            CHECKF(n < (counted ? sizeof(a) : offsetof(hist_chunk_ref, counted)),
                   "packed %zu bytes", n);
            /* Every cut is refused, and so is a byte too many. */
            int accepted = 0;
            for (size_t cut = 0; cut < n; cut++)
                accepted += entry__unpack(buf, cut, a.tag, starts[i], a.seq, &b) == 0;
            CHECK_EQ_I64(accepted, 0);
            uint8_t longer[HIST_CHUNK_ENTRY_MAX + 1];
            memcpy(longer, buf, n);
            longer[n] = 0;
            CHECK_EQ_I64(entry__unpack(longer, n + 1, a.tag, starts[i], a.seq, &b), HIST_ECORRUPT);
            buf[0] = 2; /* not format 3 */
            CHECK_EQ_I64(entry__unpack(buf, n, a.tag, starts[i], a.seq, &b), HIST_ECORRUPT);
            buf[0] = 3;
            buf[1] |= 0x40; /* an unknown flag */
            CHECK_EQ_I64(entry__unpack(buf, n, a.tag, starts[i], a.seq, &b), HIST_ECORRUPT);
        }
    }
}

/* Writes a chunk entry in the format 2 layout (what older builds wrote). */
static int put_legacy(hist_index *idx, MDB_txn *txn, void *ctx)
{
    (void)ctx;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, idx->chunk, &cur))
        return HIST_EINDEX;
    MDB_val k, v;
    int op = MDB_FIRST, rc = 0;
    while (rc == 0 && mdb_cursor_get(cur, &k, &v, op) == 0) {
        op = MDB_NEXT;
        hist_chunk_ref ref;
        REQUIRE(index__chunk_ref_from(&k, &v, &ref) == 0);
        MDB_val old = {ref.flags & HIST_CHUNK_HAS_COUNTED ? sizeof(ref)
                                                          : offsetof(hist_chunk_ref, counted),
                       &ref};
        uint8_t kb[HIST_CHUNK_KEY_LEN];
        memcpy(kb, k.mv_data, sizeof(kb));
        MDB_val key = {sizeof(kb), kb};
        rc = mdb_put(txn, idx->chunk, &key, &old, 0) || mdb_cursor_get(cur, &key, &v, MDB_SET)
                 ? HIST_EINDEX
                 : 0;
    }
    mdb_cursor_close(cur);
    return rc ? rc : index__meta_put(idx, txn, "version", 2);
}

static hist_db *open_db(const char *dir)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.io = HIST_IO_SYNC;
    o.chunk_samples = 500;
    o.no_background = true;
    o.log = quiet_log;
    hist_db *db = NULL;
    REQUIRE(hist_db_open(&o, &db) == 0);
    return db;
}

/* Scans everything: samples, stats pieces, pieces with counted stats. */
static void scan_counts(hist_db *db, uint32_t tag, size_t *samples, size_t *stats, size_t *counted,
                        double *sum)
{
    *samples = *stats = *counted = 0;
    *sum = 0;
    hist_scan *s;
    REQUIRE(hist_scan_open(db, tag, 0, INT64_MAX, 0, &s) == 0);
    hist_piece p;
    while (hist_scan_next(s, &p) == 1) {
        if (p.stats) {
            (*stats)++;
            *counted += p.counted && p.counted != p.stats;
            *sum += p.stats->sum;
            REQUIRE(hist_scan_decode(s, &p) == 0);
        }
        *samples += p.n;
    }
    hist_scan_close(s);
}

static void test_upgrade_from_2(void)
{
    char dir[] = "/tmp/hist_entry_XXXXXX";
    REQUIRE(mkdtemp(dir));
    hist_db *db = open_db(dir);
    uint32_t tag;
    REQUIRE(hist_tag_resolve(db, "a/b/c", 5, HIST_TYPE_FLOAT64, true, &tag) == 0);
    enum { N = 2000 };
    int64_t ts[N];
    hist_value v[N];
    uint32_t q[N];
    for (int i = 0; i < N; i++)
        ts[i] = (int64_t)i * SEC, v[i].f = i * 0.25, q[i] = i % 300 == 7 ? HIST_QUALITY_BAD : 0;
    hist_series s = {tag, N, ts, v, q};
    uint64_t lsn;
    REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
    REQUIRE(hist_db_flush(db) == 0);
    size_t n0, st0, c0;
    double sum0;
    scan_counts(db, tag, &n0, &st0, &c0, &sum0);
    CHECK_EQ_I64(n0, N);
    CHECK(st0 >= 4 && c0 >= 1);
    REQUIRE(hist_db_close(db) == 0);

    /* Turn the index into format 2, as an older build left it. */
    char idir[600];
    snprintf(idir, sizeof(idir), "%s/index", dir);
    hist_index idx;
    REQUIRE(index__open(&idx, idir, 64 << 20, quiet_log, NULL) == 0);
    REQUIRE(index__write(&idx, put_legacy, NULL) == 0);
    index__close(&idx);

    db = open_db(dir); /* upgrades */
    size_t n1, st1, c1;
    double sum1;
    scan_counts(db, tag, &n1, &st1, &c1, &sum1);
    CHECK_EQ_I64(n1, n0);
    CHECK_EQ_I64(st1, st0);
    CHECK_EQ_I64(c1, c0);
    CHECK(sum1 == sum0);
    REQUIRE(hist_db_close(db) == 0);
    REQUIRE(index__open(&idx, idir, 64 << 20, quiet_log, NULL) == 0);
    MDB_txn *txn;
    REQUIRE(index__read_begin(&idx, &txn) == 0);
    uint64_t version = 0;
    CHECK(index__meta_get(&idx, txn, "version", &version) == 0 && version == HIST_INDEX_FORMAT);
    index__read_end(&idx, txn);
    index__close(&idx);
    test_rm_rf(dir);
}

int main(void)
{
    test_round_trip();
    test_upgrade_from_2();
    return check_summary();
}
