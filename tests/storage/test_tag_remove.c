/*
 * test_tag_remove.c: removing a whole tag (hist_tag_remove, after
 * hist_db_delete over the whole time line).
 *
 *   - tags a and b with sealed chunks and samples still in memory; b's
 *     samples deleted, then b removed: no lookup by name or id, no listing
 *     finds it, the stats count one tag, a write naming its old id is
 *     refused, and a second removal is HIST_ENOTFOUND;
 *   - a tag with samples in its buffer is not removed (HIST_EBUSY), and
 *     nothing of it changes;
 *   - the name is free: resolving it makes a new tag with a new id, which
 *     holds only what is written to it then;
 *   - a copy of the directory as a crash would leave it (the WAL still
 *     holds the old tag's records), and a clean reopen: a is whole, the
 *     old b does not come back, the new b has its samples.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tmpdir.h"
#include "db_fixture.h"
#include "storage/hist_storage.h"

#define SEC INT64_C(1000000000)
#define T0  (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z */

static char g_dir[256];

static hist_db *open_dir(const char *dir)
{
    hist_db_options o;
    fixture_options(&o, dir);
    o.compact_share = 0;
    return fixture_open(&o);
}

static double value_at(uint32_t tag, int64_t k)
{
    return (double)tag * 1000.0 + (double)(k % 500) / 4.0;
}

/* Seconds [from, to) of tag, durable. */
static void write_range(hist_db *db, uint32_t tag, int64_t from, int64_t to)
{
    enum { MAX = 8000 };
    static int64_t ts[MAX];
    static hist_value v[MAX];
    REQUIRE(to - from <= MAX);
    size_t n = 0;
    for (int64_t k = from; k < to; k++, n++)
        ts[n] = T0 + k * SEC, v[n].f = value_at(tag, k);
    hist_series s = {tag, n, ts, v, NULL};
    uint64_t lsn;
    REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
    REQUIRE(hist_db_sync(db, lsn) == 0);
}

static bool value_right(const void *ctx, size_t k, int64_t ts, hist_value v, uint32_t q)
{
    (void)k, (void)q;
    return v.f == value_at(*(const uint32_t *)ctx, (ts - T0) / SEC);
}

/* The samples of tag read back: their count; *wrong those whose value is
 * not value_at(value_tag, second). A tag the scan does not know has none. */
static size_t scan_count(hist_db *db, uint32_t tag, uint32_t value_tag, size_t *wrong)
{
    hist_scan *sc;
    *wrong = 0;
    if (hist_scan_open(db, tag, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &sc) != 0)
        return 0;
    hist_scan_close(sc);
    return fixture_scan_tag(db, tag, value_right, &value_tag, wrong);
}

static int count_visit(void *ctx, const hist_tag_info *tag)
{
    (void)tag;
    (*(int *)ctx)++;
    return 0;
}

static int listed(hist_db *db, const char *prefix)
{
    int n = 0;
    CHECK_OK(hist_tag_foreach(db, prefix, count_visit, &n));
    return n;
}

/* After the removal, in db (the live one, a crash copy, a reopen). */
static void check_after(hist_db *db, uint32_t a, uint32_t old_b, const char *when)
{
    size_t wrong;
    CHECKF(scan_count(db, a, a, &wrong) == 7000 && wrong == 0, "%s: a", when);
    hist_tag_info info;
    CHECKF(hist_tag_by_id(db, old_b, &info) == HIST_ENOTFOUND, "%s: old b by id", when);
    CHECKF(scan_count(db, old_b, old_b, &wrong) == 0, "%s: old b's samples came back", when);
    CHECKF(hist_tag_by_name(db, "rm/b", &info) == 0 && info.id != old_b, "%s: new b", when);
    CHECKF(scan_count(db, info.id, old_b, &wrong) == 100 && wrong == 0, "%s: new b's samples",
           when);
    CHECKF(listed(db, "rm/") == 2, "%s: %d tags listed under rm/", when, listed(db, "rm/"));
}

int main(void)
{
    REQUIRE(test_tmpdir(g_dir, sizeof g_dir, "tag_remove"));
    char dir[300], copy[320], cmd[800];
    snprintf(dir, sizeof dir, "%s/db", g_dir);
    snprintf(copy, sizeof copy, "%s/crash", g_dir);
    hist_db *db = open_dir(dir);
    uint32_t a, b, c;
    REQUIRE(hist_tag_resolve(db, "rm/a", 4, HIST_TYPE_FLOAT64, true, &a) == 0);
    REQUIRE(hist_tag_resolve(db, "rm/b", 4, HIST_TYPE_FLOAT64, true, &b) == 0);
    REQUIRE(hist_tag_resolve(db, "rm/c", 4, HIST_TYPE_FLOAT64, true, &c) == 0);
    /* sealed chunks, then samples still in the buffers */
    write_range(db, a, 0, 5000);
    write_range(db, b, 0, 5000);
    CHECK_OK(hist_db_flush(db));
    write_range(db, a, 5000, 7000);
    write_range(db, b, 5000, 7000);
    write_range(db, c, 0, 10);

    /* a buffer with samples: not removed */
    CHECK_EQ_I64(hist_tag_remove(db, c), HIST_EBUSY);
    size_t wrong;
    CHECK_EQ_I64(scan_count(db, c, c, &wrong), 10);
    hist_delete_report r;
    CHECK_OK(hist_db_delete(db, c, HIST_TS_MIN, HIST_TS_MAX + 1, &r));
    CHECK_OK(hist_tag_remove(db, c));

    CHECK_OK(hist_db_delete(db, b, HIST_TS_MIN, HIST_TS_MAX + 1, &r));
    CHECK_EQ_I64(r.samples_deleted, 7000);
    CHECK_OK(hist_tag_remove(db, b));
    hist_tag_info info;
    CHECK_EQ_I64(hist_tag_by_name(db, "rm/b", &info), HIST_ENOTFOUND);
    CHECK_EQ_I64(hist_tag_by_id(db, b, &info), HIST_ENOTFOUND);
    hist_type type;
    CHECK_EQ_I64(hist_tag_type(db, b, &type), HIST_ENOTFOUND);
    CHECK(hist_tag_name_of(db, b) == NULL);
    CHECK_EQ_I64(listed(db, "rm/"), 1);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK_EQ_I64(st.tags, 1);
    CHECK_EQ_I64(hist_tag_remove(db, b), HIST_ENOTFOUND);
    int64_t ts = T0;
    hist_value v = {.f = 1};
    hist_series s = {b, 1, &ts, &v, NULL};
    uint64_t lsn;
    CHECK_EQ_I64(hist_db_write(db, &s, 1, &lsn), HIST_ENOTFOUND);

    /* the name is free: a new tag, a new id */
    uint32_t b2;
    REQUIRE(hist_tag_resolve(db, "rm/b", 4, HIST_TYPE_INT64, false, &b2) == HIST_ENOTFOUND);
    REQUIRE(hist_tag_resolve(db, "rm/b", 4, HIST_TYPE_FLOAT64, true, &b2) == 0);
    CHECK(b2 != b && b2 > c);
    /* its values follow the old id's pattern, so an old sample would show */
    enum { NEW = 100 };
    int64_t nts[NEW];
    hist_value nv[NEW];
    for (int k = 0; k < NEW; k++)
        nts[k] = T0 + (int64_t)(8000 + k) * SEC, nv[k].f = value_at(b, 8000 + k);
    hist_series ns = {b2, NEW, nts, nv, NULL};
    REQUIRE(hist_db_write(db, &ns, 1, &lsn) == 0);
    REQUIRE(hist_db_sync(db, lsn) == 0);
    check_after(db, a, b, "live");

    /* a crash now: the WAL still holds b's old records */
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", dir, copy);
    REQUIRE(system(cmd) == 0);
    hist_db *crashed = open_dir(copy);
    check_after(crashed, a, b, "crash copy");
    CHECK_OK(hist_db_get_stats(crashed, &st));
    CHECK_EQ_I64(st.tags, 2);
    CHECK_OK(hist_db_close(crashed));

    CHECK_OK(hist_db_close(db));
    db = open_dir(dir);
    check_after(db, a, b, "reopened");
    uint32_t d;
    REQUIRE(hist_tag_resolve(db, "rm/d", 4, HIST_TYPE_FLOAT64, true, &d) == 0);
    CHECKF(d > b2, "ids are not reused: d %u, new b %u", d, b2);
    CHECK_OK(hist_db_close(db));
    test_rm_rf(g_dir);
    return check_summary();
}
