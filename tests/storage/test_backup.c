/*
 * test_backup.c: the online backup (storage/backup.c) copies a database
 * that opens as it is and holds every acknowledged sample, value for value.
 *
 *   1. sealed chunks over many small segment files, logged runs, and
 *      samples only in the memtable (its WAL records), backed up; the copy
 *      opened with hist_db_open and read back whole; the live database
 *      still reads everything, writes after the backup included;
 *   2. the same while a writer, flushes, compaction (segment rewrites and
 *      removals) and retention run in other threads: every round
 *      acknowledged before the backup began is in the copy, what the copy
 *      holds beyond is whole rounds of the right values, and a dropped
 *      range is there whole or not at all;
 *   3. bad destinations: relative, inside the data directory, not empty,
 *      missing parent; nothing is written.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "db_fixture.h"
#include "storage/db_internal.h"

#define TAGS     12
#define PER      100 /* samples per tag per round */
#define SEC      INT64_C(1000000000)
#define T0       (INT64_C(1704067200) * SEC) /* 2024-01-01: settled for the compactor */
#define OLD_N    500
#define OLD_TS   (INT64_C(1577836800) * SEC) /* 2020: the retention thread drops it */
#define OLD_DROP (INT64_C(1600000000) * SEC)

static char g_root[512];

static hist_db *open_dir(const char *dir)
{
    hist_db_options o;
    fixture_options(&o, dir);
    o.compact_share = 0;
    o.segment_bytes = 512;          /* many segment files (one per flush) */
    o.wal_segment_bytes = 16 << 10; /* many WAL segments */
    return fixture_open(&o);
}

static double value_of(int t, int64_t k)
{
    return t * 1000000.0 + (double)k + 0.25;
}

/* The test's tags' ids (and plant/old's when old is set): created, or
 * only looked up (in a copy, where they must be already). */
static void resolve_tags(hist_db *db, uint32_t *ids, uint32_t *old, bool create)
{
    for (int t = 0; t < TAGS; t++) {
        char name[32];
        snprintf(name, sizeof(name), "plant/unit%d/flow", t);
        REQUIRE(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_FLOAT64, create, &ids[t]) == 0);
    }
    if (old)
        REQUIRE(hist_tag_resolve(db, "plant/old", 9, HIST_TYPE_FLOAT64, create, old) == 0);
}

static void make_tags(hist_db *db, uint32_t *ids, uint32_t *old)
{
    resolve_tags(db, ids, old, true);
}

static void lookup_tags(hist_db *db, uint32_t *ids, uint32_t *old)
{
    resolve_tags(db, ids, old, false);
}

/* One round r: PER samples of every tag in one write, made durable. */
static int write_round(hist_db *db, const uint32_t *ids, int r)
{
    static _Thread_local int64_t ts[TAGS][PER];
    static _Thread_local hist_value v[TAGS][PER];
    hist_series s[TAGS];
    for (int t = 0; t < TAGS; t++) {
        for (int i = 0; i < PER; i++) {
            int64_t k = (int64_t)r * PER + i;
            ts[t][i] = T0 + k * SEC;
            v[t][i].f = value_of(t, k);
        }
        s[t] = (hist_series){.tag = ids[t], .n = PER, .ts = ts[t], .v = v[t], .q = NULL};
    }
    uint64_t lsn;
    int rc = hist_db_write(db, s, TAGS, &lsn);
    return rc ? rc : hist_db_sync(db, lsn);
}

/* The k-th sample of tag *(const int *)ctx: the rounds' values (0, 1, 2,
 * ... in order). */
static bool round_right(const void *ctx, size_t k, int64_t ts, hist_value v, uint32_t q)
{
    (void)q;
    int t = *(const int *)ctx;
    return ts == T0 + (int64_t)k * SEC && v.f == value_of(t, (int64_t)k);
}

/* Samples of tag t read back: their number, and how many differ from the
 * rounds' values. */
static int64_t read_tag(hist_db *db, uint32_t id, int t, size_t *wrong)
{
    return (int64_t)fixture_scan_tag(db, id, round_right, &t, wrong);
}

static bool old_right(const void *ctx, size_t k, int64_t ts, hist_value v, uint32_t q)
{
    (void)ctx, (void)q;
    return ts == OLD_TS + (int64_t)k * SEC && v.f == (double)k;
}

static int64_t count_old(hist_db *db, uint32_t id, size_t *wrong)
{
    return (int64_t)fixture_scan_tag(db, id, old_right, NULL, wrong);
}

static void check_rounds(hist_db *db, const uint32_t *ids, int rounds, const char *what)
{
    size_t bad = 0, wrong;
    for (int t = 0; t < TAGS; t++) {
        int64_t n = read_tag(db, ids[t], t, &wrong);
        bad += wrong;
        if (n != (int64_t)rounds * PER) {
            fprintf(stderr, "%s: tag %d has %lld samples, want %lld\n", what, t, (long long)n,
                    (long long)rounds * PER);
            bad++;
        }
    }
    CHECK_EQ_I64(bad, 0);
}

static void rm_rf(const char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    CHECK(system(cmd) == 0);
}

/* ---- 1. chunks, logged runs and memtable samples ---- */

static void test_backup_basic(void)
{
    char live[600], copy[600];
    snprintf(live, sizeof(live), "%s/live1", g_root);
    snprintf(copy, sizeof(copy), "%s/copy1", g_root);
    hist_db *db = open_dir(live);
    uint32_t ids[TAGS];
    make_tags(db, ids, NULL);
    int r = 0;
    for (; r < 40; r++) { /* sealed: a flush every 4 rounds */
        REQUIRE(write_round(db, ids, r) == 0);
        if (r % 4 == 3)
            REQUIRE(hist_db_flush(db) == 0);
    }
    for (; r < 50; r++)
        REQUIRE(write_round(db, ids, r) == 0);
    mu_lock(&db->seal_mu); /* logged runs: the WAL budget's first answer */
    REQUIRE(runlog__tags(db, ids, TAGS) == 0);
    mu_unlock(&db->seal_mu);
    for (; r < 56; r++) /* raw samples in the memtable only */
        REQUIRE(write_round(db, ids, r) == 0);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECK(st.runs_logged >= TAGS);
    CHECK(st.chunks >= 10 * TAGS);

    hist_backup_report rep;
    char why[256];
    int rc = hist_db_backup(db, copy, NULL, &rep, why, sizeof(why));
    if (rc)
        fprintf(stderr, "backup: %s (%s)\n", hist_strerror(rc), why);
    REQUIRE(rc == 0);
    printf("backup 1: lsn %llu, %llu files (%llu segments, %llu WAL), %llu bytes, %llu linked, "
           "%llu copied, index %llu bytes, %.3f s\n",
           (unsigned long long)rep.lsn, (unsigned long long)rep.files,
           (unsigned long long)rep.segment_files, (unsigned long long)rep.wal_files,
           (unsigned long long)rep.bytes, (unsigned long long)rep.linked_files,
           (unsigned long long)rep.copied_files, (unsigned long long)rep.index_bytes, rep.seconds);
    CHECK(rep.segment_files >= 3);
    CHECK(rep.linked_files >= 2);
    CHECK(rep.wal_files >= 1);
    CHECK(rep.index_bytes > 0);
    CHECK(rep.lsn >= wal__durable_lsn(db->wal) - 0); /* nothing written since */
    CHECK_EQ_I64(rep.files, rep.linked_files + rep.copied_files);
    hist_backup_status bs;
    CHECK_OK(hist_db_backup_status(db, &bs));
    CHECK(!bs.running && bs.has_last && bs.last_error == 0 && bs.last.lsn == rep.lsn);

    for (int k = r; k < r + 5; k++) /* the live db goes on */
        REQUIRE(write_round(db, ids, k) == 0);
    REQUIRE(hist_db_flush(db) == 0);
    check_rounds(db, ids, r + 5, "live after backup");

    hist_db *cp = open_dir(copy);
    uint32_t cids[TAGS];
    lookup_tags(cp, cids, NULL);
    check_rounds(cp, cids, r, "copy");
    /* The copy takes writes and seals of its own. */
    REQUIRE(write_round(cp, cids, r) == 0);
    REQUIRE(hist_db_flush(cp) == 0);
    CHECK_OK(hist_db_close(cp));
    cp = open_dir(copy);
    check_rounds(cp, cids, r + 1, "copy reopened");
    CHECK_OK(hist_db_close(cp));

    /* The live db did not see the copy's writes (no shared file grew). */
    check_rounds(db, ids, r + 5, "live after the copy's writes");
    CHECK_OK(hist_db_close(db));
    db = open_dir(live);
    check_rounds(db, ids, r + 5, "live reopened");
    CHECK_OK(hist_db_close(db));
}

/* ---- 2. concurrent writer, flush, compaction, retention ---- */

typedef struct {
    hist_db *db;
    uint32_t ids[TAGS];
    uint32_t old;
    atomic_int stop;
    atomic_int acked; /* rounds acknowledged */
    atomic_int maint_rounds, drops;
    int write_errors, maint_errors;
} conc;

static void *writer_main(void *arg)
{
    conc *c = arg;
    for (int r = 0; r < 100000 && !atomic_load(&c->stop); r++) {
        if (write_round(c->db, c->ids, r) != 0) {
            c->write_errors++;
            break;
        }
        atomic_store(&c->acked, r + 1);
    }
    return NULL;
}

static void *maint_main(void *arg)
{
    conc *c = arg;
    for (int i = 0; i < 100000 && !atomic_load(&c->stop); i++) {
        c->maint_errors += hist_db_flush(c->db) != 0;
        c->maint_errors += hist_db_compact(c->db, 0) != 0;
        if (i == 3) {
            c->maint_errors += hist_db_drop_before(c->db, OLD_DROP) != 0;
            atomic_fetch_add(&c->drops, 1);
        }
        atomic_fetch_add(&c->maint_rounds, 1);
    }
    return NULL;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_backup_concurrent(void)
{
    char live[600], copy[600];
    snprintf(live, sizeof(live), "%s/live2", g_root);
    snprintf(copy, sizeof(copy), "%s/copy2", g_root);
    conc c = {0};
    c.db = open_dir(live);
    make_tags(c.db, c.ids, &c.old);
    { /* the old tag: sealed, for retention to drop while the backup runs */
        static int64_t ts[OLD_N];
        static hist_value v[OLD_N];
        for (int i = 0; i < OLD_N; i++)
            ts[i] = OLD_TS + i * SEC, v[i].f = (double)i;
        hist_series s = {.tag = c.old, .n = OLD_N, .ts = ts, .v = v};
        uint64_t lsn;
        REQUIRE(hist_db_write(c.db, &s, 1, &lsn) == 0 && hist_db_sync(c.db, lsn) == 0);
        REQUIRE(hist_db_flush(c.db) == 0);
    }
    pthread_t w, m;
    REQUIRE(pthread_create(&w, NULL, writer_main, &c) == 0);
    for (int i = 0; i < 2000 && atomic_load(&c.acked) < 30; i++)
        nap_ms(5);
    REQUIRE(pthread_create(&m, NULL, maint_main, &c) == 0);
    for (int i = 0; i < 2000 && atomic_load(&c.maint_rounds) < 3; i++)
        nap_ms(5);
    int before = atomic_load(&c.acked); /* acknowledged before the backup began */
    hist_backup_report rep;
    char why[256];
    int rc = hist_db_backup(c.db, copy, NULL, &rep, why, sizeof(why));
    int after = atomic_load(&c.acked);
    for (int i = 0; i < 2000 && atomic_load(&c.acked) < after + 10; i++)
        nap_ms(5); /* compaction and ingest go on after the unpin */
    atomic_store(&c.stop, 1);
    pthread_join(w, NULL);
    pthread_join(m, NULL);
    if (rc)
        fprintf(stderr, "backup: %s (%s)\n", hist_strerror(rc), why);
    REQUIRE(rc == 0);
    printf("backup 2: %d rounds acked before, %d after it returned; %d maintenance rounds; "
           "%llu files, %llu linked, %.3f s\n",
           before, after, atomic_load(&c.maint_rounds), (unsigned long long)rep.files,
           (unsigned long long)rep.linked_files, rep.seconds);
    CHECK_EQ_I64(c.write_errors, 0);
    CHECK_EQ_I64(c.maint_errors, 0);
    CHECK(before >= 30);
    hist_db_compact(c.db, 0);
    int total = atomic_load(&c.acked);
    check_rounds(c.db, c.ids, total, "live after the concurrent backup");
    size_t wrong;
    CHECK_EQ_I64(count_old(c.db, c.old, &wrong), 0); /* dropped */
    CHECK_OK(hist_db_close(c.db));

    hist_db *cp = open_dir(copy);
    uint32_t ids[TAGS], old;
    lookup_tags(cp, ids, &old);
    /* Every round acked before is there; what is beyond is whole rounds. */
    int64_t n0 = -1;
    size_t bad = 0;
    for (int t = 0; t < TAGS; t++) {
        int64_t n = read_tag(cp, ids[t], t, &wrong);
        bad += wrong;
        /* after + 1: a round may be durable (so copied) before its
         * writer has counted it */
        bad += n < (int64_t)before * PER || n > (int64_t)(after + 1) * PER || n % PER != 0;
        if (n0 < 0)
            n0 = n;
        bad += n != n0; /* one WAL record holds a round of every tag */
    }
    printf("backup 2: the copy holds %lld rounds\n", (long long)(n0 / PER));
    CHECK_EQ_I64(bad, 0);
    int64_t on = count_old(cp, old, &wrong);
    CHECK(on == 0 || on == OLD_N);
    CHECK_EQ_I64(wrong, 0);
    CHECK_OK(hist_db_close(cp));
}

/* ---- 2b. a pin defers the compactor's segment removals ---- */

static int count_segs(const char *live)
{
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "ls '%s/seg' | grep -c '\\.seg$'", live);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_pin_defers(void)
{
    char live[600];
    snprintf(live, sizeof(live), "%s/live4", g_root);
    hist_db *db = open_dir(live);
    uint32_t ids[TAGS];
    make_tags(db, ids, NULL);
    for (int r = 0; r < 24; r++) { /* many small chunks over many segments */
        REQUIRE(write_round(db, ids, r) == 0);
        REQUIRE(hist_db_flush(db) == 0);
    }
    int before = count_segs(live);
    segs__pin(&db->segs);
    CHECK_OK(hist_db_compact(db, 0));
    CHECK_OK(hist_db_compact(db, 0));
    int pinned = count_segs(live);
    size_t deferred = db->segs.ndeferred;
    CHECK_OK(segs__unpin(&db->segs));
    int after = count_segs(live);
    printf("pin: %d segment files, %d after compaction while pinned (%zu removals deferred), "
           "%d after the unpin\n",
           before, pinned, deferred, after);
    CHECK(deferred > 0);
    CHECK(pinned >= before);
    CHECK_EQ_I64(after, pinned - (int)deferred);
    check_rounds(db, ids, 24, "after deferred removals");
    CHECK_OK(hist_db_close(db));
}

/* ---- 3. bad destinations ---- */

static void test_backup_refused(void)
{
    char live[600], path[800];
    snprintf(live, sizeof(live), "%s/live3", g_root);
    hist_db *db = open_dir(live);
    uint32_t ids[TAGS];
    make_tags(db, ids, NULL);
    REQUIRE(write_round(db, ids, 0) == 0);
    char why[256];
    hist_backup_report rep;
    CHECK(hist_db_backup(db, "relative/dir", NULL, &rep, why, sizeof(why)) == HIST_EINVAL);
    CHECK(strstr(why, "absolute") != NULL);
    snprintf(path, sizeof(path), "%s/inside", live);
    CHECK(hist_db_backup(db, path, NULL, &rep, why, sizeof(why)) == HIST_EINVAL);
    CHECK(strstr(why, "inside the data directory") != NULL);
    struct stat st;
    CHECK(stat(path, &st) != 0); /* nothing made */
    snprintf(path, sizeof(path), "%s/seg", live);
    CHECK(hist_db_backup(db, path, NULL, &rep, why, sizeof(why)) != 0);
    CHECK(hist_db_backup(db, live, NULL, &rep, why, sizeof(why)) != 0);
    snprintf(path, sizeof(path), "%s/full", g_root);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof(path), "%s/full/x", g_root);
    FILE *f = fopen(path, "w");
    CHECK(f && fclose(f) == 0);
    snprintf(path, sizeof(path), "%s/full", g_root);
    CHECK(hist_db_backup(db, path, NULL, &rep, why, sizeof(why)) == HIST_EEXIST);
    CHECK(strstr(why, "not empty") != NULL);
    snprintf(path, sizeof(path), "%s/nope/deeper", g_root);
    CHECK(hist_db_backup(db, path, NULL, &rep, why, sizeof(why)) == HIST_EINVAL);
    CHECK(strstr(why, "parent") != NULL);
    /* An empty existing directory is fine, and the background job works. */
    snprintf(path, sizeof(path), "%s/empty", g_root);
    CHECK(mkdir(path, 0755) == 0);
    uint64_t id = 0;
    CHECK_OK(hist_db_backup_start(db, path, NULL, &id, why, sizeof(why)));
    CHECK(id > 0);
    hist_backup_status bs = {0};
    for (int i = 0; i < 2000; i++) {
        CHECK_OK(hist_db_backup_status(db, &bs));
        if (!bs.running && bs.last_id == id)
            break;
        nap_ms(5);
    }
    CHECK(!bs.running && bs.last_id == id && bs.last_error == 0);
    CHECK(hist_db_backup_start(db, path, NULL, &id, why, sizeof(why)) ==
          HIST_EEXIST); /* now full */
    check_rounds(db, ids, 1, "live after refusals");
    CHECK_OK(hist_db_close(db));
    hist_db *cp = open_dir(path);
    uint32_t cids[TAGS];
    lookup_tags(cp, cids, NULL);
    check_rounds(cp, cids, 1, "background copy");
    CHECK_OK(hist_db_close(cp));
}

/* ---- 3b. incremental: closed segments linked from a base backup ---- */

static void test_incremental(void)
{
    char live[600], a[600], b[600], c[600];
    snprintf(live, sizeof(live), "%s/live6", g_root);
    snprintf(a, sizeof(a), "%s/inc_a", g_root);
    snprintf(b, sizeof(b), "%s/inc_b", g_root);
    snprintf(c, sizeof(c), "%s/inc_c", g_root);
    hist_db *db = open_dir(live);
    uint32_t ids[TAGS];
    make_tags(db, ids, NULL);
    int r = 0;
    for (; r < 12; r++) {
        REQUIRE(write_round(db, ids, r) == 0);
        REQUIRE(hist_db_flush(db) == 0);
    }
    hist_backup_report ra, rb;
    char why[256];
    CHECK_OK(hist_db_backup(db, a, NULL, &ra, why, sizeof(why)));
    CHECK_EQ_I64(ra.reused_files, 0);
    for (; r < 18; r++) {
        REQUIRE(write_round(db, ids, r) == 0);
        REQUIRE(hist_db_flush(db) == 0);
    }
    CHECK(hist_db_backup(db, b, "inc_a", &rb, why, sizeof(why)) == HIST_EINVAL);
    CHECK(strstr(why, "base must be an absolute path") != NULL);
    CHECK(hist_db_backup(db, b, live, &rb, why, sizeof(why)) == HIST_EINVAL);
    CHECK(strstr(why, "not a complete backup") != NULL);
    struct stat st;
    CHECK(stat(b, &st) != 0);
    int rc = hist_db_backup(db, b, a, &rb, why, sizeof(why));
    if (rc)
        fprintf(stderr, "incremental backup: %s (%s)\n", hist_strerror(rc), why);
    CHECK_OK(rc);
    printf("incremental: base %llu segment files (%llu linked), then %llu segment files, %llu "
           "linked from the base\n",
           (unsigned long long)ra.segment_files, (unsigned long long)ra.linked_files,
           (unsigned long long)rb.segment_files, (unsigned long long)rb.reused_files);
    /* every segment closed in the base is still live and unchanged */
    CHECK_EQ_I64(rb.reused_files, ra.linked_files);
    CHECK(rb.segment_files > ra.segment_files);
    /* Compaction rewrites and removes segments: a later one reuses less,
     * never a file that changed. */
    CHECK_OK(hist_db_compact(db, 0));
    hist_backup_report rc2;
    CHECK_OK(hist_db_backup(db, c, b, &rc2, why, sizeof(why)));
    printf("incremental after compaction: %llu segment files, %llu linked from the base\n",
           (unsigned long long)rc2.segment_files, (unsigned long long)rc2.reused_files);
    CHECK(rc2.reused_files <= rb.linked_files);
    CHECK_OK(hist_db_close(db));
    rm_rf(a); /* an incremental backup is complete by itself */
    rm_rf(b);
    hist_db *cp = open_dir(c);
    uint32_t cids[TAGS];
    lookup_tags(cp, cids, NULL);
    check_rounds(cp, cids, r, "incremental copy, its bases deleted");
    CHECK_OK(hist_db_close(cp));
}

/* ---- 4. close while a background backup runs ---- */

static void test_close_during(void)
{
    char live[600], copy[600], note[700];
    snprintf(live, sizeof(live), "%s/live5", g_root);
    snprintf(copy, sizeof(copy), "%s/copy5", g_root);
    hist_db *db = open_dir(live);
    uint32_t ids[TAGS];
    make_tags(db, ids, NULL);
    for (int r = 0; r < 200; r++)
        REQUIRE(write_round(db, ids, r) == 0);
    char why[256];
    uint64_t id;
    CHECK_OK(hist_db_backup_start(db, copy, NULL, &id, why, sizeof(why)));
    CHECK_OK(hist_db_close(db)); /* waits for it, or stops it between two MiB */
    snprintf(note, sizeof(note), "%s/BACKUP", copy);
    struct stat st;
    bool whole = stat(note, &st) == 0, gone = stat(copy, &st) != 0;
    printf("close during a backup: the copy is %s\n", whole ? "complete" : gone ? "removed" : "?");
    CHECK(whole || gone);
    if (whole) {
        hist_db *cp = open_dir(copy);
        uint32_t cids[TAGS];
        lookup_tags(cp, cids, NULL);
        check_rounds(cp, cids, 200, "copy finished during close");
        CHECK_OK(hist_db_close(cp));
    }
}

int main(void)
{
    snprintf(g_root, sizeof(g_root), "/tmp/hist_test_backup_%d", (int)getpid());
    rm_rf(g_root);
    REQUIRE(mkdir(g_root, 0755) == 0);
    test_backup_basic();
    test_backup_concurrent();
    test_pin_defers();
    test_backup_refused();
    test_incremental();
    test_close_during();
    rm_rf(g_root);
    return check_summary();
}
