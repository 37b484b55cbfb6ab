/*
 * test_tag_memory.c: what a tag costs in memory (white-box: db_internal.h).
 *
 *   - an idle tag (created, one sample written and sealed) costs at most
 *     200 bytes of registry: its state block as the allocator takes it,
 *     its slot in the id table, the name hash and the dirty list
 *     (tags__registry_bytes, counted by the code), and nothing in buffers;
 *   - a live tag's buffer grows from HIST_MEMBUF_FIRST samples by doubling,
 *     and db->mem_bytes is exactly the sum of the buffers' blocks;
 *   - sealing a prefix shrinks a block whose rest fits in a quarter of it,
 *     keeping every sample;
 *   - unit, description, deadband and the creation time, which are no
 *     longer held in memory, round-trip through hist_tag_by_name,
 *     hist_tag_by_id and listing, across seals, updates and a reopen;
 *   - a tag row of the old fixed layout (before rows were packed) still
 *     reads, flushed LSN included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db_fixture.h"
#include "tmpdir.h"
#include "storage/db_internal.h"

#define SEC   INT64_C(1000000000)
#define T0    INT64_C(1700000000000000000)
#define NIDLE 10000

static char g_dir[256];

static hist_db *open_db(const char *sub)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", g_dir, sub);
    return fixture_open_db(dir);
}

static int write_n(hist_db *db, uint32_t id, int64_t t0, size_t n)
{
    int64_t ts[64];
    hist_value v[64];
    if (n > 64)
        return HIST_EINVAL;
    for (size_t i = 0; i < n; i++) {
        ts[i] = t0 + (int64_t)i * SEC;
        v[i].f = (double)i;
    }
    hist_series s = {id, n, ts, v, NULL};
    uint64_t lsn;
    int rc = hist_db_write(db, &s, 1, &lsn);
    return rc ? rc : hist_db_sync(db, lsn);
}

/* The sum of every buffer's block, counted from the tags themselves. */
static size_t buffers_bytes(hist_db *db)
{
    size_t sum = 0;
    for (uint32_t i = 0; i < db->tags_cap; i++)
        if (db->tags[i])
            sum += membuf__bytes(&db->tags[i]->buf);
    return sum;
}

static void test_idle_tag_bound(void)
{
    CHECKF(sizeof(hist_tag_state) <= 104, "sizeof(hist_tag_state) = %zu", sizeof(hist_tag_state));
    hist_db *db = open_db("idle");
    mu_lock(&db->mu);
    size_t base = tags__registry_bytes(db);
    mu_unlock(&db->mu);
    static hist_tag_ref refs[NIDLE];
    static char names[NIDLE][40];
    static uint32_t ids[NIDLE];
    static int rcs[NIDLE];
    for (size_t i = 0; i < NIDLE; i++) {
        int len = snprintf(names[i], sizeof(names[i]), "plant/area%02zu/unit%03zu/pv%07zu", i % 100,
                           i / 100 % 1000, i);
        refs[i] = (hist_tag_ref){names[i], (size_t)len, HIST_TYPE_FLOAT64};
    }
    CHECK_OK(hist_tag_resolve_many(db, refs, NIDLE, true, ids, rcs));
    for (size_t i = 0; i < NIDLE; i++)
        CHECK_OK(rcs[i]);
    for (size_t i = 0; i < NIDLE; i++)
        CHECK_OK(write_n(db, ids[i], T0, 1));
    CHECK_OK(hist_db_flush(db));
    mu_lock(&db->mu);
    size_t reg = tags__registry_bytes(db) - base;
    size_t mem = db->mem_bytes, bufs = buffers_bytes(db);
    hist_tag_state *t = tags__get(db, ids[123]);
    bool latest = t && t->has_latest && t->latest.ts == T0;
    mu_unlock(&db->mu);
    double per_tag = (double)reg / NIDLE;
    printf("idle tag: %zu B state struct, %.1f B registry per tag\n", sizeof(hist_tag_state),
           per_tag);
    CHECKF(per_tag <= 200.0, "%.1f bytes per idle tag", per_tag);
    CHECK_EQ_I64(mem, 0);
    CHECK_EQ_I64(bufs, 0);
    CHECK(latest); /* the last value stays in memory */
    CHECK_OK(hist_db_close(db));
}

static void test_buffer_growth(void)
{
    hist_db *db = open_db("growth");
    uint32_t a, b;
    CHECK_OK(hist_tag_resolve(db, "grow/a", 6, HIST_TYPE_FLOAT64, true, &a));
    CHECK_OK(hist_tag_resolve(db, "grow/b", 6, HIST_TYPE_FLOAT64, true, &b));
    CHECK_OK(write_n(db, a, T0, 1));
    mu_lock(&db->mu);
    CHECK_EQ_I64(db->mem_bytes, HIST_MEMBUF_FIRST * HIST_MEMBUF_SAMPLE_BYTES);
    CHECK_EQ_I64(db->mem_bytes, buffers_bytes(db));
    mu_unlock(&db->mu);
    CHECK_OK(write_n(db, a, T0 + 100 * SEC, 16)); /* 17 samples */
    CHECK_OK(write_n(db, b, T0, 3));              /* 3 samples */
    size_t cap17 = HIST_MEMBUF_FIRST, cap3 = HIST_MEMBUF_FIRST;
    while (cap17 < 17)
        cap17 *= 2;
    while (cap3 < 3)
        cap3 *= 2;
    mu_lock(&db->mu);
    CHECK_EQ_I64(tags__get(db, a)->buf.cap, cap17);
    CHECK_EQ_I64(db->mem_bytes, (cap17 + cap3) * HIST_MEMBUF_SAMPLE_BYTES);
    CHECK_EQ_I64(db->mem_bytes, buffers_bytes(db));
    mu_unlock(&db->mu);
    for (int i = 0; i < 4; i++)
        CHECK_OK(write_n(db, a, T0 + (200 + 64 * i) * SEC, 64)); /* 273: 512 */
    mu_lock(&db->mu);
    CHECK_EQ_I64(tags__get(db, a)->buf.nraw, 273);
    CHECK_EQ_I64(tags__get(db, a)->buf.cap, 512);
    CHECK_EQ_I64(db->mem_bytes, buffers_bytes(db));
    mu_unlock(&db->mu);
    CHECK_OK(hist_db_flush(db));
    mu_lock(&db->mu);
    CHECK_EQ_I64(db->mem_bytes, 0);
    CHECK_EQ_I64(buffers_bytes(db), 0);
    mu_unlock(&db->mu);
    CHECK_OK(hist_db_close(db));
}

static void test_drop_prefix_shrinks(void)
{
    hist_membuf b;
    memset(&b, 0, sizeof(b));
    int64_t ts[1000];
    hist_value v[1000];
    uint32_t q[1000];
    for (int i = 0; i < 1000; i++)
        ts[i] = i, v[i].i = 10 * i, q[i] = (uint32_t)i % 7;
    int64_t grown = 0;
    for (int i = 0; i < 10; i++)
        grown +=
            membuf__append(&b, ts + 100 * i, v + 100 * i, q + 100 * i, 100, 5 + (uint64_t)i, 0);
    CHECK_EQ_I64(b.cap, 1024);
    CHECK_EQ_I64(grown, 1024 * HIST_MEMBUF_SAMPLE_BYTES);
    int64_t d = membuf__drop_prefix(&b, 500, 0); /* 500 left: no shrink */
    CHECK_EQ_I64(d, 0);
    CHECK_EQ_I64(b.cap, 1024);
    d = membuf__drop_prefix(&b, 400, 0); /* 100 left, a quarter at most: 128 */
    CHECK_EQ_I64(b.cap, 128);
    CHECK_EQ_I64(d, -(int64_t)(1024 - 128) * HIST_MEMBUF_SAMPLE_BYTES);
    REQUIRE(b.nraw == 100);
    bool same = true;
    for (size_t i = 0; i < b.nraw; i++)
        same = same && membuf__ts(&b)[i] == (int64_t)(900 + i) &&
               membuf__v(&b)[i].i == (int64_t)(9000 + 10 * i) &&
               membuf__q(&b)[i] == (uint32_t)(900 + i) % 7 && membuf__lsn(&b)[i] == 14;
    CHECK(same);
    d = membuf__drop_lsns(&b, 14, 14);
    CHECK_EQ_I64(d, -(int64_t)128 * HIST_MEMBUF_SAMPLE_BYTES);
    CHECK(b.mem == NULL && b.cap == 0 && b.nraw == 0);
    membuf__free(&b);
}

typedef struct {
    int seen;
    hist_tag_info info;
} find_ctx;

static int find_visit(void *ctx, const hist_tag_info *t)
{
    find_ctx *c = ctx;
    if (strcmp(t->name, "meta/reactor/temp") == 0) {
        c->seen++;
        c->info = *t;
    }
    return 0;
}

static void check_meta(hist_db *db, const char *unit, const char *desc, double deadband,
                       int64_t created)
{
    hist_tag_info by_name, by_id;
    CHECK_OK(hist_tag_by_name(db, "meta/reactor/temp", &by_name));
    CHECK_OK(hist_tag_by_id(db, by_name.id, &by_id));
    find_ctx c = {0};
    CHECK_OK(hist_tag_foreach(db, "meta/", find_visit, &c));
    CHECK_EQ_I64(c.seen, 1);
    const hist_tag_info *all[] = {&by_name, &by_id, &c.info};
    for (int i = 0; i < 3; i++) {
        CHECKF(strcmp(all[i]->unit, unit) == 0, "unit %s", all[i]->unit);
        CHECKF(strcmp(all[i]->description, desc) == 0, "description %s", all[i]->description);
        CHECK(all[i]->deadband == deadband);
        CHECK_EQ_I64(all[i]->created_ns, created);
        CHECK(all[i]->type == HIST_TYPE_FLOAT64);
        CHECK_EQ_I64(all[i]->id, by_name.id);
    }
}

/* The row of arg's tag as the old fixed layout: the struct's bytes. */
static int put_legacy_row(hist_index *idx, MDB_txn *txn, void *arg)
{
    const hist_index_tag *t = arg;
    uint8_t kb[4] = {(uint8_t)(t->id >> 24), (uint8_t)(t->id >> 16), (uint8_t)(t->id >> 8),
                     (uint8_t)t->id};
    MDB_val k = {4, kb}, v = {sizeof(*t), (void *)t};
    return mdb_put(txn, idx->tag, &k, &v, 0) ? HIST_EIO : 0;
}

static int read_row(hist_db *db, uint32_t id, hist_index_tag *out)
{
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    rc = index__get_tag(&db->idx, txn, id, out);
    mdb_txn_abort(txn);
    return rc;
}

static void test_metadata_round_trip(void)
{
    hist_db *db = open_db("meta");
    hist_tag_info info;
    memset(&info, 0, sizeof(info));
    snprintf(info.name, sizeof(info.name), "meta/reactor/temp");
    info.type = HIST_TYPE_FLOAT64;
    snprintf(info.unit, sizeof(info.unit), "degC");
    snprintf(info.description, sizeof(info.description), "Reactor 1 outlet temperature");
    info.deadband = 0.25;
    CHECK_OK(hist_tag_put(db, &info));
    int64_t created = info.created_ns;
    CHECK(created > 0);
    uint32_t other;
    CHECK_OK(hist_tag_resolve(db, "meta/other", 10, HIST_TYPE_INT64, true, &other));
    CHECK_OK(write_n(db, info.id, T0, 10));
    CHECK_OK(hist_db_flush(db)); /* the seal raises flushed_lsn in the row */
    check_meta(db, "degC", "Reactor 1 outlet temperature", 0.25, created);
    /* An update keeps the creation time; the type must match. */
    snprintf(info.unit, sizeof(info.unit), "K");
    snprintf(info.description, sizeof(info.description), "in kelvin");
    info.deadband = 0.5;
    CHECK_OK(hist_tag_put(db, &info));
    CHECK_EQ_I64(info.created_ns, created);
    info.type = HIST_TYPE_BOOL;
    CHECK(hist_tag_put(db, &info) == HIST_ETYPE);
    info.type = HIST_TYPE_FLOAT64;
    CHECK_OK(write_n(db, info.id, T0 + 100 * SEC, 10));
    CHECK_OK(hist_db_flush(db));
    check_meta(db, "K", "in kelvin", 0.5, created);
    uint64_t flushed;
    mu_lock(&db->mu);
    flushed = tags__get(db, info.id)->flushed_lsn;
    mu_unlock(&db->mu);
    CHECK(flushed > 0);
    CHECK_OK(hist_db_close(db));

    db = open_db("meta");
    check_meta(db, "K", "in kelvin", 0.5, created);
    mu_lock(&db->mu);
    CHECK_EQ_I64(tags__get(db, info.id)->flushed_lsn, flushed); /* the row kept it */
    CHECK(tags__get(db, info.id)->max_span == 9 * SEC);         /* two chunks of 10 s */
    mu_unlock(&db->mu);
    hist_tag_info o;
    CHECK_OK(hist_tag_by_id(db, other, &o));
    CHECK(strcmp(o.name, "meta/other") == 0 && o.type == HIST_TYPE_INT64 && o.unit[0] == 0);
    CHECK(hist_tag_by_name(db, "meta/none", &o) == HIST_ENOTFOUND);
    CHECK(hist_tag_by_id(db, 9999, &o) == HIST_ENOTFOUND);
    /* the type alone, from memory, agrees with the stored record */
    hist_type ty;
    CHECK_OK(hist_tag_type(db, other, &ty));
    CHECK(ty == HIST_TYPE_INT64);
    CHECK_OK(hist_tag_type(db, info.id, &ty));
    CHECK(ty == info.type);
    CHECK(hist_tag_type(db, 9999, &ty) == HIST_ENOTFOUND);
    /* the name from memory: the db's own copy, which stays where it is
     * while the registry grows (the ingest writer's cache points at it) */
    const char *name = hist_tag_name_of(db, other);
    CHECK(name && strcmp(name, "meta/other") == 0);
    CHECK(hist_tag_name_of(db, 9999) == NULL);
    uint32_t grown_tags = 0;
    for (int i = 0; i < 5000; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "meta/more/%d", i);
        uint32_t id;
        CHECK_OK(hist_tag_resolve(db, nm, strlen(nm), HIST_TYPE_FLOAT64, true, &id));
        grown_tags += hist_tag_name_of(db, id) != NULL;
    }
    CHECK_EQ_I64(grown_tags, 5000);
    CHECK(hist_tag_name_of(db, other) == name && strcmp(name, "meta/other") == 0);
    hist_scan *sc;
    size_t n = 0;
    CHECK_OK(hist_scan_open(db, info.id, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &sc));
    hist_piece p;
    while (hist_scan_next(sc, &p) == 1)
        n += p.n;
    hist_scan_close(sc);
    CHECK_EQ_I64(n, 20);

    /* Rows are packed (storage/tag_row.c); a row of the old fixed layout,
     * as a data directory written before holds, still reads: put the old
     * bytes back and reopen. */
    hist_index_tag legacy;
    CHECK_OK(read_row(db, info.id, &legacy));
    CHECK_OK(index__write(&db->idx, put_legacy_row, &legacy));
    CHECK_OK(hist_db_close(db));
    db = open_db("meta");
    check_meta(db, "K", "in kelvin", 0.5, created);
    mu_lock(&db->mu);
    CHECK_EQ_I64(tags__get(db, info.id)->flushed_lsn, flushed);
    mu_unlock(&db->mu);
    CHECK_OK(hist_db_close(db));
}

int main(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/hist_tagmem_XXXXXX");
    REQUIRE(mkdtemp(g_dir));
    test_idle_tag_bound();
    test_buffer_growth();
    test_drop_prefix_shrinks();
    test_metadata_round_trip();
    test_rm_rf(g_dir);
    return check_summary();
}
