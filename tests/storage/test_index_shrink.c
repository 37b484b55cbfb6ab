/*
 * test_index_shrink.c: a clean close rewrites the index file packed
 * (storage/index_shrink.c: free pages given back, leaves filled), and
 * loses nothing.
 *
 *   - 2,000 tags sealed into 4 chunks each, then compacted into one: the
 *     compaction frees most of the chunk database's pages and leaves the
 *     rest half full. A close whose rebuild cannot be written (the copy's
 *     path is a directory) leaves data.mdb as it was (same inode) and the
 *     database reopens; the next close rebuilds: data.mdb is smaller by at
 *     least the freed pages and at most REPACK_OF_COMPACT of LMDB's
 *     compacting copy of the same index; every database holds the same
 *     entries byte for byte, every sample reads back;
 *   - a close of the packed file leaves it alone (same inode), twice;
 *   - a copy left by a close that was killed (data.mdb.shrink) is removed
 *     at open, and the index it sat next to reads as before.
 */
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "db_fixture.h"
#include "tmpdir.h"
#include "storage/hist_storage.h"

#define SEC    INT64_C(1000000000)
#define T0     INT64_C(1700000000000000000) /* 22:13:20 UTC: 40 s of each hour used */
#define TAGS   2000
#define ROUNDS 4
#define PER    10 /* samples of a tag per round */

/* Measured on this index after the compaction: data.mdb 2,846,720 bytes
 * (695 pages, 339 free, 346 leaves); LMDB's compacting copy 1,454,080
 * (355 pages: the leaves as they are); the repacked file 520,192 (127
 * pages, 121 leaves), 0.36 of the copy. */
#define REPACK_OF_COMPACT 0.4

static char g_dir[256];

static double value_of(uint32_t tag, int64_t k)
{
    return (double)tag + (double)k * 0.25;
}

static struct stat index_file(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/index/data.mdb", g_dir);
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    return st;
}

static void write_rounds(hist_db *db, uint32_t *ids)
{
    for (uint32_t t = 0; t < TAGS; t++) {
        char name[32];
        snprintf(name, sizeof(name), "site/unit%u/pv", t);
        REQUIRE(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_FLOAT64, true, &ids[t]) == 0);
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (uint32_t t = 0; t < TAGS; t++) {
            int64_t ts[PER];
            hist_value v[PER];
            for (int j = 0; j < PER; j++) {
                int64_t k = r * PER + j;
                ts[j] = T0 + k * SEC, v[j].f = value_of(t, k);
            }
            hist_series s = {ids[t], PER, ts, v, NULL};
            uint64_t lsn;
            REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
        }
        REQUIRE(hist_db_flush(db) == 0); /* one chunk per tag per round */
    }
}

/* Every sample reads back; returns the number of chunks the scans met. */
static uint64_t check_samples(hist_db *db, const uint32_t *ids)
{
    size_t wrong = 0, missing = 0;
    for (uint32_t t = 0; t < TAGS; t++) {
        hist_scan *s;
        REQUIRE(hist_scan_open(db, ids[t], T0, T0 + 3600 * SEC, HIST_SCAN_DECODE, &s) == 0);
        hist_piece p;
        int64_t next = 0;
        while (hist_scan_next(s, &p) == 1)
            for (size_t i = 0; i < p.n; i++, next++)
                wrong += p.ts[i] != T0 + next * SEC || p.v[i].f != value_of(t, next);
        hist_scan_close(s);
        missing += next != ROUNDS * PER;
    }
    CHECK_EQ_I64(wrong, 0);
    CHECK_EQ_I64(missing, 0);
    hist_db_stats st;
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    return st.chunks;
}

/* Every named database of the index in DIR/index, read with LMDB itself:
 * for each (in name order) its name and flags, then every entry's key
 * and value with their lengths, in key order. *compact: the size of LMDB's
 * compacting copy of it. */
typedef struct {
    unsigned char *p;
    size_t n, cap, entries;
} dump;

static void dump_add(dump *d, const void *p, size_t n)
{
    if (d->n + n + sizeof(n) > d->cap) {
        d->cap = (d->n + n + sizeof(n)) * 2;
        REQUIRE((d->p = realloc(d->p, d->cap)) != NULL);
    }
    memcpy(d->p + d->n, &n, sizeof(n));
    memcpy(d->p + d->n + sizeof(n), p, n);
    d->n += n + sizeof(n);
}

static dump dump_index(off_t *compact)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/index", g_dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi main;
    MDB_cursor *names;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 8);
    REQUIRE(mdb_env_open(env, path, MDB_RDONLY, 0644) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, NULL, 0, &main) == 0);
    REQUIRE(mdb_cursor_open(txn, main, &names) == 0);
    dump d = {0};
    MDB_val name, k, v;
    while (mdb_cursor_get(names, &name, &v, MDB_NEXT) == 0) {
        char s[64];
        REQUIRE(name.mv_size < sizeof(s));
        memcpy(s, name.mv_data, name.mv_size);
        s[name.mv_size] = '\0';
        MDB_dbi dbi;
        MDB_cursor *cur;
        unsigned flags;
        REQUIRE(mdb_dbi_open(txn, s, 0, &dbi) == 0 && mdb_dbi_flags(txn, dbi, &flags) == 0);
        dump_add(&d, s, name.mv_size);
        dump_add(&d, &flags, sizeof(flags));
        REQUIRE(mdb_cursor_open(txn, dbi, &cur) == 0);
        for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT, d.entries++) {
            dump_add(&d, k.mv_data, k.mv_size);
            dump_add(&d, v.mv_data, v.mv_size);
        }
        mdb_cursor_close(cur);
    }
    mdb_cursor_close(names);
    mdb_txn_abort(txn);
    if (compact) {
        snprintf(path, sizeof(path), "%s/compact.mdb", g_dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        REQUIRE(fd >= 0 && mdb_env_copyfd2(env, fd, MDB_CP_COMPACT) == 0);
        struct stat st;
        REQUIRE(fstat(fd, &st) == 0);
        *compact = st.st_size;
        close(fd);
        unlink(path);
    }
    mdb_env_close(env);
    return d;
}

static void test_repacks_after_compaction(void)
{
    uint32_t *ids = malloc(TAGS * sizeof(*ids));
    REQUIRE(ids);
    hist_db *db = fixture_open_db(g_dir);
    write_rounds(db, ids);
    hist_db_stats st;
    REQUIRE(hist_db_get_stats(db, &st) == 0);
    CHECK_EQ_I64(st.chunks, (uint64_t)TAGS * ROUNDS);
    REQUIRE(hist_db_compact(db, 0) == 0);
    CHECK_EQ_I64(check_samples(db, ids), TAGS);
    struct stat open_st = index_file();
    /* The rebuild cannot create its file: the close only says so. */
    char blocker[512];
    snprintf(blocker, sizeof(blocker), "%s/index/data.mdb.shrink", g_dir);
    REQUIRE(mkdir(blocker, 0755) == 0);
    REQUIRE(hist_db_close(db) == 0);
    struct stat kept_st = index_file();
    CHECK(kept_st.st_ino == open_st.st_ino);
    off_t compact;
    dump was = dump_index(&compact);
    REQUIRE(rmdir(blocker) == 0);
    db = fixture_open_db(g_dir);
    CHECK_EQ_I64(check_samples(db, ids), TAGS);
    REQUIRE(hist_db_close(db) == 0);
    struct stat closed_st = index_file();
    /* 6,000 of 8,000 entries of ~70 bytes (key and node included) were
     * deleted: at least 100 pages of 4 KiB are free. */
    CHECKF(closed_st.st_size + 100 * 4096 <= kept_st.st_size, "data.mdb %lld -> %lld bytes",
           (long long)kept_st.st_size, (long long)closed_st.st_size);
    CHECK(closed_st.st_ino != kept_st.st_ino);
    CHECKF(closed_st.st_size <= REPACK_OF_COMPACT * (double)compact,
           "repacked %lld bytes, compacting copy %lld", (long long)closed_st.st_size,
           (long long)compact);
    dump is = dump_index(NULL);
    CHECK_EQ_I64(is.entries, was.entries);
    CHECK(is.n == was.n && memcmp(is.p, was.p, was.n) == 0);
    CHECK(was.entries >= 3 * TAGS); /* tag_name, tag and chunk: one each per tag */
    free(was.p);
    free(is.p);
    db = fixture_open_db(g_dir);
    CHECK_EQ_I64(check_samples(db, ids), TAGS);
    hist_tag_info info;
    CHECK(hist_tag_by_name(db, "site/unit1999/pv", &info) == 0 && info.id == ids[TAGS - 1]);
    REQUIRE(hist_db_close(db) == 0);
    /* Packed, and nothing freed since: the file is left as it is. */
    CHECK(index_file().st_ino == closed_st.st_ino);
    struct stat again = index_file();
    db = fixture_open_db(g_dir);
    REQUIRE(hist_db_close(db) == 0);
    struct stat after = index_file();
    CHECK(after.st_ino == again.st_ino && after.st_size == again.st_size);
    free(ids);
}

static void test_stray_copy_removed(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/index/data.mdb.shrink", g_dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("half a copy", f);
    fclose(f);
    hist_db *db = fixture_open_db(g_dir);
    struct stat st;
    CHECK(stat(path, &st) != 0);
    hist_tag_info info;
    CHECK(hist_tag_by_name(db, "site/unit7/pv", &info) == 0);
    REQUIRE(hist_db_close(db) == 0);
}

int main(void)
{
    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir), "index_shrink") != NULL);
    test_repacks_after_compaction();
    test_stray_copy_removed();
    test_rm_rf(g_dir);
    return check_summary();
}
