/*
 * test_index_shrink.c: a clean close gives the index file's free pages
 * back to the disk (storage/index_shrink.c), and loses nothing.
 *
 *   - 2,000 tags sealed into 4 chunks each, then compacted into one: the
 *     compaction frees most of the chunk database's pages; after the close
 *     data.mdb is smaller by at least those pages, and after a reopen every
 *     sample reads back and every chunk entry is there;
 *   - a close with little free space leaves data.mdb alone (same inode);
 *   - a copy left by a close that was killed (data.mdb.shrink) is removed
 *     at open, and the index it sat next to reads as before.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "db_fixture.h"
#include "tmpdir.h"
#include "storage/hist_storage.h"

#define SEC    INT64_C(1000000000)
#define T0     INT64_C(1700000000000000000) /* 22:13:20 UTC: 40 s of each hour used */
#define TAGS   2000
#define ROUNDS 4
#define PER    10 /* samples of a tag per round */

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

static void test_shrinks_after_compaction(void)
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
    REQUIRE(hist_db_close(db) == 0);
    struct stat closed_st = index_file();
    /* 6,000 of 8,000 entries of ~70 bytes (key and node included) were
     * deleted: at least 100 pages of 4 KiB are free. */
    CHECKF(closed_st.st_size + 100 * 4096 <= open_st.st_size, "data.mdb %lld -> %lld bytes",
           (long long)open_st.st_size, (long long)closed_st.st_size);
    CHECK(closed_st.st_ino != open_st.st_ino);
    db = fixture_open_db(g_dir);
    CHECK_EQ_I64(check_samples(db, ids), TAGS);
    hist_tag_info info;
    CHECK(hist_tag_by_name(db, "site/unit1999/pv", &info) == 0 && info.id == ids[TAGS - 1]);
    REQUIRE(hist_db_close(db) == 0);
    /* Nothing freed since: the file is left as it is. */
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
    test_shrinks_after_compaction();
    test_stray_copy_removed();
    test_rm_rf(g_dir);
    return check_summary();
}
