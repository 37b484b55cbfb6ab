/*
 * test_crash.c: kill -9 at random moments, then check that every
 * acknowledged sample survived with its last acknowledged value.
 *
 * Each round forks a writer child that opens the data directory with tiny
 * chunks and a tiny memtable budget (so sealing, checkpoints and WAL
 * deletion happen all the time; it also compacts now and then), and writes
 * deterministic pseudo-random batches (random tags, overlapping timestamps,
 * overwrites, unique values). After hist_db_sync() returns for batch k it
 * reports k on a pipe. The parent SIGKILLs it after 5-300 ms, regenerates
 * the same batches from the same seed, and reopens the directory:
 *   - every key (tag, ts) written by an acknowledged batch must hold the
 *     value of its last acknowledged write, or the value of the one batch
 *     that may have been written but not acknowledged (k+1: the child was
 *     killed between its write and its sync, or before it reported);
 *   - no other value may appear; a key only in batch k+1 may be missing;
 *   - every chunk in the index reads, passes its CRC, decodes, and its
 *     stats match its samples.
 * The verified contents become the base of the next round (same directory).
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "storage/db_internal.h"

#define NTAGS  8
#define ROUNDS 24
#define MAXN   200

static char g_dir[256];

static void quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (getenv("TEST_VERBOSE") || level == HIST_LOG_ERROR)
        fprintf(stderr, "[%d] %s\n", (int)getpid(), msg);
}


/* ---- the deterministic batch generator ------------------------------------------ */

typedef struct {
    uint64_t s;
    uint64_t counter;
} gen;

static uint64_t rnd(gen *g)
{
    g->s ^= g->s << 13;
    g->s ^= g->s >> 7;
    g->s ^= g->s << 17;
    return g->s;
}

typedef struct {
    int nseries;
    int tag[3]; /* tag index 0..NTAGS-1 */
    int n[3];
    int64_t ts[3][MAXN];
    hist_value v[3][MAXN];
    uint32_t q[3][MAXN];
} batch;

static void gen_batch(gen *g, batch *b)
{
    b->nseries = 1 + (int)(rnd(g) % 3);
    for (int s = 0; s < b->nseries; s++) {
        b->tag[s] = (int)(rnd(g) % NTAGS);
        b->n[s] = 1 + (int)(rnd(g) % MAXN);
        int64_t base = (int64_t)(rnd(g) % 20000);
        for (int i = 0; i < b->n[s]; i++) {
            int64_t t = rnd(g) % 4 ? base + i : (int64_t)(rnd(g) % 20000);
            b->ts[s][i] = t * 1000000; /* ms ticks: overwrites are frequent */
            uint64_t u = ++g->counter;
            if (b->tag[s] < NTAGS / 2)
                b->v[s][i].f = (double)u; /* float tags */
            else
                b->v[s][i].i = (int64_t)u; /* int tags */
            b->q[s][i] = u % 50 == 0 ? HIST_QUALITY_BAD : 0;
        }
    }
}

static gen gen_for_round(int round)
{
    gen g = {(uint64_t)round * 0x9E3779B97F4A7C15ull + 12345, (uint64_t)(round + 1) << 40};
    for (int i = 0; i < 10; i++)
        rnd(&g);
    return g;
}

static void tag_name(int i, char *out)
{
    sprintf(out, "crash/%s/t%d", i < NTAGS / 2 ? "f" : "i", i);
}

static hist_db *open_db(int child)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = g_dir;
    o.io = HIST_IO_AUTO;
    o.chunk_samples = child ? 64 : 256;
    o.memtable_bytes = 48 * 1024;
    o.chunk_max_age_ns = 30 * 1000000;
    o.no_background = !child;
    o.log = quiet;
    hist_db *db = NULL;
    int rc = hist_db_open(&o, &db);
    if (rc) {
        fprintf(stderr, "open failed: %s\n", hist_strerror(rc));
        return NULL;
    }
    return db;
}

/* ---- the child ----------------------------------------------------------------------- */

static void child_main(int round, int fd)
{
    hist_db *db = open_db(1);
    if (!db)
        _exit(2);
    uint32_t ids[NTAGS];
    for (int i = 0; i < NTAGS; i++) {
        char name[64];
        tag_name(i, name);
        if (hist_tag_resolve(db, name, strlen(name),
                             i < NTAGS / 2 ? HIST_TYPE_FLOAT64 : HIST_TYPE_INT64, true,
                             &ids[i]) != 0)
            _exit(3);
    }
    gen g = gen_for_round(round);
    static batch b;
    for (uint32_t k = 0;; k++) {
        gen_batch(&g, &b);
        hist_series s[3];
        for (int j = 0; j < b.nseries; j++)
            s[j] = (hist_series){ids[b.tag[j]], (size_t)b.n[j], b.ts[j], b.v[j], b.q[j]};
        uint64_t lsn;
        if (hist_db_write(db, s, (size_t)b.nseries, &lsn) != 0 || hist_db_sync(db, lsn) != 0)
            _exit(4);
        if (write(fd, &k, sizeof(k)) != (ssize_t)sizeof(k))
            _exit(5);
        if (k % 60 == 59)
            (void)hist_db_compact(db, 0);
    }
}

/* ---- the model ------------------------------------------------------------------------- */

typedef struct {
    int64_t ts;
    uint64_t prio;
    uint64_t bits;
    uint32_t q;
} kv;

typedef struct {
    kv *a;
    size_t n, cap;
} kvs;

static void kv_add(kvs *k, int64_t ts, uint64_t prio, uint64_t bits, uint32_t q)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 4096;
        k->a = realloc(k->a, k->cap * sizeof(*k->a));
        REQUIRE(k->a);
    }
    k->a[k->n++] = (kv){ts, prio, bits, q};
}

static int kv_cmp(const void *x, const void *y)
{
    const kv *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->prio < b->prio ? -1 : a->prio > b->prio;
}

static void kv_final(kvs *k)
{
    if (k->n == 0)
        return;
    qsort(k->a, k->n, sizeof(*k->a), kv_cmp);
    size_t w = 0;
    for (size_t i = 0; i < k->n; i++) {
        if (w && k->a[w - 1].ts == k->a[i].ts)
            k->a[w - 1] = k->a[i];
        else
            k->a[w++] = k->a[i];
    }
    k->n = w;
}

static const kv *kv_find(const kvs *k, int64_t ts)
{
    size_t lo = 0, hi = k->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k->a[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < k->n && k->a[lo].ts == ts ? &k->a[lo] : NULL;
}

/* Reads a tag fully (decoded) into out. */
static int read_tag(hist_db *db, uint32_t id, kvs *out)
{
    out->n = 0;
    hist_scan *s;
    int rc = hist_scan_open(db, id, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &s);
    if (rc)
        return rc;
    hist_piece p;
    int64_t last = INT64_MIN;
    int bad = 0;
    while ((rc = hist_scan_next(s, &p)) == 1)
        for (size_t i = 0; i < p.n; i++) {
            bad += p.ts[i] <= last;
            last = p.ts[i];
            kv_add(out, p.ts[i], 0, p.v[i].bits, p.q[i]);
        }
    hist_scan_close(s);
    CHECKF(bad == 0, "tag %u: %d samples out of order", id, bad);
    return rc;
}

/* Every chunk in the index loads and its stats match its samples. */
static void check_chunks(hist_db *db)
{
    MDB_txn *txn;
    REQUIRE(hist_index_read_begin(&db->idx, &txn) == 0);
    MDB_cursor *cur;
    REQUIRE(mdb_cursor_open(txn, db->idx.chunk, &cur) == 0);
    MDB_val k, d;
    int op = MDB_FIRST, nchunks = 0, bad = 0;
    hist_chunk_ref *refs = NULL;
    size_t n = 0;
    while (mdb_cursor_get(cur, &k, &d, op) == 0) {
        op = MDB_NEXT;
        refs = realloc(refs, (n + 1) * sizeof(*refs));
        REQUIRE(refs && hist_chunk_ref_from(&k, &d, &refs[n]) == 0);
        int64_t start;
        uint32_t tag;
        hist_chunk_key_parse(k.mv_data, &tag, &start, NULL);
        bad += tag != refs[n].tag || start != refs[n].stats.start_ts;
        n++;
    }
    mdb_cursor_close(cur);
    hist_index_read_end(&db->idx, txn);
    for (size_t c = 0; c < n; c++) {
        const hist_chunk_ref *r = &refs[c];
        int64_t *ts;
        hist_value *v;
        uint32_t *q;
        int rc = hist_chunk_load(db, r, &ts, &v, &q);
        CHECKF(rc == 0, "chunk %zu (tag %u seg %u off %llu) does not load: %s", c, r->tag,
               r->segment, (unsigned long long)r->offset, hist_strerror(rc));
        if (rc)
            continue;
        nchunks++;
        const hist_chunk_stats *st = &r->stats;
        int ok = st->count > 0 && ts[0] == st->start_ts && ts[st->count - 1] == st->end_ts &&
                 v[0].bits == st->first_v.bits && v[st->count - 1].bits == st->last_v.bits;
        uint32_t nbad = 0, imin = 0, imax = 0;
        double mn = INFINITY, mx = -INFINITY;
        hist_type type = r->tag <= NTAGS / 2 ? HIST_TYPE_FLOAT64 : HIST_TYPE_INT64;
        for (uint32_t i = 0; i < st->count; i++) {
            if (i && ts[i] <= ts[i - 1])
                ok = 0;
            nbad += hist_quality_is_bad(q[i]);
            double x = hist_value_as_double(type, v[i]);
            if (x < mn)
                mn = x, imin = i;
            if (x > mx)
                mx = x, imax = i;
        }
        ok = ok && nbad == st->bad_count && mn == st->min && mx == st->max;
        ok = ok && st->min_ts == ts[imin] && st->min_v.bits == v[imin].bits &&
             st->max_ts == ts[imax] && st->max_v.bits == v[imax].bits;
        bad += !ok;
        free(ts), free(v), free(q);
    }
    free(refs);
    CHECKF(bad == 0, "%d chunk(s) with wrong stats or keys", bad);
    hist_db_stats stats;
    hist_db_get_stats(db, &stats);
    CHECK(stats.damaged_chunks == 0);
    CHECK((uint64_t)nchunks == stats.chunks);
}

int main(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/hist_crash_XXXXXX");
    REQUIRE(mkdtemp(g_dir));
    srand((unsigned)time(NULL));
    unsigned seed = (unsigned)rand();
    printf("seed %u\n", seed);
    srand(seed);
    kvs base[NTAGS] = {{0}}; /* verified contents so far, per tag index */
    kvs got = {0};
    static batch b;
    time_t t0 = time(NULL);
    int rounds = 0;
    uint64_t acked_total = 0;
    for (int round = 0; round < ROUNDS && time(NULL) - t0 < 50; round++, rounds++) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(round, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        struct timespec d = {0, (5 + rand() % 296) * 1000000L};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECKF(WIFSIGNALED(status), "child exited early with %d", WEXITSTATUS(status));
        int64_t last_acked = -1;
        uint32_t k;
        while (read(fds[0], &k, sizeof(k)) == (ssize_t)sizeof(k))
            last_acked = k;
        close(fds[0]);
        acked_total += (uint64_t)(last_acked + 1);

        /* Expected: base + acked batches; maybe: batch last_acked + 1. */
        kvs expect[NTAGS] = {{0}}, maybe[NTAGS] = {{0}};
        for (int t = 0; t < NTAGS; t++)
            for (size_t i = 0; i < base[t].n; i++)
                kv_add(&expect[t], base[t].a[i].ts, 0, base[t].a[i].bits, base[t].a[i].q);
        gen g = gen_for_round(round);
        uint64_t prio = 1;
        for (int64_t bi = 0; bi <= last_acked + 1; bi++) {
            gen_batch(&g, &b);
            for (int s = 0; s < b.nseries; s++)
                for (int i = 0; i < b.n[s]; i++)
                    kv_add(bi <= last_acked ? &expect[b.tag[s]] : &maybe[b.tag[s]], b.ts[s][i],
                           prio++, b.v[s][i].bits, b.q[s][i]);
        }
        hist_db *db = open_db(0);
        REQUIRE(db);
        int lost = 0, wrong = 0, extra = 0;
        for (int t = 0; t < NTAGS; t++) {
            kv_final(&expect[t]);
            kv_final(&maybe[t]);
            char name[64];
            tag_name(t, name);
            hist_tag_info info;
            if (hist_tag_by_name(db, name, &info) != 0) {
                lost += (int)expect[t].n;
                free(expect[t].a);
                free(maybe[t].a);
                continue;
            }
            CHECK_OK(read_tag(db, info.id, &got));
            for (size_t i = 0; i < got.n; i++) {
                const kv *e = kv_find(&expect[t], got.a[i].ts);
                const kv *m = kv_find(&maybe[t], got.a[i].ts);
                if (!e && !m)
                    extra++;
                else if (!(e && e->bits == got.a[i].bits && e->q == got.a[i].q) &&
                         !(m && m->bits == got.a[i].bits && m->q == got.a[i].q))
                    wrong++;
            }
            for (size_t i = 0; i < expect[t].n; i++)
                if (!kv_find(&got, expect[t].a[i].ts))
                    lost++;
            /* The verified state is the next round's base. */
            base[t].n = 0;
            for (size_t i = 0; i < got.n; i++)
                kv_add(&base[t], got.a[i].ts, 0, got.a[i].bits, got.a[i].q);
            free(expect[t].a);
            free(maybe[t].a);
        }
        CHECKF(lost == 0 && wrong == 0 && extra == 0,
               "round %d (acked %lld batches): %d lost, %d wrong, %d unexpected samples", round,
               (long long)last_acked + 1, lost, wrong, extra);
        check_chunks(db);
        CHECK_OK(hist_db_close(db));
    }
    printf("%d rounds, %llu acknowledged batches checked\n", rounds,
           (unsigned long long)acked_total);
    CHECK(rounds >= 20 || time(NULL) - t0 >= 50);
    CHECK(acked_total > 0);
    for (int t = 0; t < NTAGS; t++)
        free(base[t].a);
    free(got.a);
    test_rm_rf(g_dir);
    return check_summary();
}
