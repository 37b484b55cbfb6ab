/*
 * crash_run.c: kill -9 rounds (crash_run.h): the run, the checker process,
 * and the storage engine's rounds (a forked writer). historiand's rounds
 * are in crash_server.c.
 */
#include "crash_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tmpdir.h"

/* A checker that has not answered in this long is killed (a hang is a failure). */
#define CHECK_TIMEOUT_MS 120000

uint64_t crash_rand(crash_run *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

int64_t crash_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void crash_log(void *run, int level, const char *msg)
{
    const crash_run *r = run;
    if (level == HIST_LOG_ERROR || (r && r->verbose))
        fprintf(stderr, "[%d] %s\n", (int)getpid(), msg);
}

void crash_acked(crash_run *r, const plant_batch *b)
{
    model_apply(&r->model, b);
    r->tally.requests++;
    r->tally.acked += b->samples;
}

plant_batch *crash_send_next(crash_run *r)
{
    plant_batch *b = &r->flight[(r->flight_head + r->flight_n) % CRASH_FLIGHT_MAX];
    plant_next(&r->plant, b);
    r->flight_n++;
    return b;
}

static hist_db *open_dir(const crash_run *r, bool writer)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = r->dir;
    o.io = r->io;
    o.log = crash_log;
    o.log_ctx = (void *)r;
    o.no_background = !writer;
    /* Half the writers compact in the background at full speed (killed
     * while it merges), the others now and then by hist_db_compact. */
    o.compact_share = r->compact_bg ? 1.0 : 0;
    if (writer) { /* every seal path, all the time (crash_run.h) */
        o.chunk_samples = r->long_chunks ? 4096 : 64;
        /* long chunks: a budget that frozen buffers outgrow too */
        o.memtable_bytes = r->long_chunks ? 32 << 10 : 96 << 10;
        o.chunk_max_age_ns = 30 * 1000000;
        o.wal_segment_bytes = 8 << 10;
        /* A budget the buffers fit in four times over logs their runs
         * (runlog.c); 16 KiB, which they do not fit, seals them whole. */
        o.wal_bytes = r->log_runs ? 4 * o.memtable_bytes : 16 << 10;
    }
    hist_db *db = NULL;
    int rc = hist_db_open(&o, &db);
    if (rc)
        fprintf(stderr, "crash: cannot open %s: %s\n", r->dir, hist_strerror(rc));
    return rc ? NULL : db;
}

bool crash_io_available(hist_io_mode io)
{
    crash_run probe = {.io = io};
    if (!test_tmpdir(probe.dir, sizeof(probe.dir), "crash_probe"))
        return false;
    hist_db *db = open_dir(&probe, false); /* says why not */
    int rc = db ? hist_db_close(db) : HIST_EUNSUPPORTED;
    test_rm_rf(probe.dir);
    return rc == 0;
}

int crash_compact(crash_run *r)
{
    pid_t pid = fork();
    if (pid == 0) {
        hist_db *db = open_dir(r, false);
        _exit(db && hist_db_compact(db, 0) == 0 ? 0 : 1);
    }
    int status = pid < 0 ? -1 : harness_wait_exit(pid, CHECK_TIMEOUT_MS / 1000);
    if (status != 0)
        fprintf(stderr, "crash: compacting %s failed (%d)\n", r->dir, status);
    return status == 0 ? 0 : HIST_EIO;
}

/* fork() with a pipe from the child to the parent. In the child: 0, *fd
 * the write end; in the parent: the child's pid, *fd the read end; -1 when
 * it failed. */
static pid_t fork_piped(int *fd)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        return -1;
    }
    close(fds[pid == 0 ? 0 : 1]);
    *fd = fds[pid == 0 ? 1 : 0];
    return pid;
}

/* ---- The checker ---------------------------------------------------------------------- */

/* Keys the checker sends back for the model to adopt (model_fix). */
#define MAX_FIXES 65536

typedef struct {
    int rc;
    model_verdict v;
} check_answer;

static int write_all(int fd, const void *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = write(fd, (const char *)p + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return HIST_EIO;
        done += (size_t)k;
    }
    return 0;
}

/* Reads n bytes, waiting at most until `until` (monotonic ms). */
static int read_all(int fd, void *p, size_t n, int64_t until)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    size_t got = 0;
    while (got < n && crash_now_ms() < until) {
        if (poll(&pfd, 1, 1000) <= 0)
            continue;
        ssize_t k = read(fd, (char *)p + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return got == n ? 0 : HIST_EIO;
}

/* In the checker process: open (recovery), compare, answer with the
 * verdict and the fixes; then exit without closing, so the directory
 * stays as the kill left it. */
static void checker_main(crash_run *r, const plant_batch *const *inflight, size_t n, int fd)
{
    check_answer a = {.rc = HIST_ENOMEM};
    model_fix *fixes = malloc(MAX_FIXES * sizeof(*fixes));
    hist_db *db = fixes ? open_dir(r, false) : NULL;
    if (db)
        a.rc = model_check(&r->model, db, inflight, n, fixes, MAX_FIXES, &a.v);
    else if (fixes)
        a.rc = HIST_EIO;
    int rc = write_all(fd, &a, sizeof(a));
    if (rc == 0 && a.rc == 0)
        rc = write_all(fd, fixes, a.v.nfixes * sizeof(*fixes));
    _exit(rc == 0 ? 0 : 1);
}

static int check_in_child(crash_run *r, const plant_batch *const *inflight, size_t n,
                          model_verdict *v, model_fix *fixes)
{
    int fd;
    pid_t pid = fork_piped(&fd);
    if (pid == 0)
        checker_main(r, inflight, n, fd);
    check_answer a;
    int64_t until = crash_now_ms() + CHECK_TIMEOUT_MS;
    int rc = pid < 0 ? HIST_EIO : read_all(fd, &a, sizeof(a), until);
    if (rc == 0 && (rc = a.rc) == 0 && a.v.nfixes <= MAX_FIXES)
        rc = read_all(fd, fixes, a.v.nfixes * sizeof(*fixes), until);
    if (pid > 0) {
        close(fd);
        if (rc)
            kill(pid, SIGKILL); /* hung, or died: ours either way, by pid */
        waitpid(pid, NULL, 0);
    }
    if (rc == 0)
        *v = a.v;
    else
        fprintf(stderr, "crash: the check of %s did not run: %s\n", r->dir, hist_strerror(rc));
    return rc;
}

/* Checks the directory against the model and the requests in flight; the
 * ones that survived join the model, and so does whatever was not right
 * (counted now, not again). */
static int check_round(crash_run *r)
{
    const plant_batch *inflight[CRASH_FLIGHT_MAX];
    for (size_t i = 0; i < r->flight_n; i++)
        inflight[i] = &r->flight[(r->flight_head + i) % CRASH_FLIGHT_MAX];
    size_t nflight = r->flight_n;
    r->flight_head = r->flight_n = 0;
    model_verdict v;
    model_fix *fixes = malloc(MAX_FIXES * sizeof(*fixes));
    int rc = fixes ? check_in_child(r, inflight, nflight, &v, fixes) : HIST_ENOMEM;
    if (rc == 0) {
        for (uint32_t i = 0; i < v.survived; i++)
            model_apply(&r->model, inflight[i]);
        model_fix_apply(&r->model, fixes, v.nfixes);
    }
    free(fixes);
    if (rc)
        return rc;
    crash_tally *t = &r->tally;
    t->survived += v.survived;
    t->lost += v.lost, t->wrong += v.wrong, t->phantom += v.phantom;
    t->bad_chunks += v.bad_chunks;
    if (r->target == CRASH_STORAGE)
        snprintf(t->backend, sizeof(t->backend), "%s", v.backend);
    if (r->verbose || v.lost || v.wrong || v.phantom || v.bad_chunks)
        fprintf(stderr,
                "crash: round %llu: %llu keys, %llu chunks, %u of %zu in flight survived: lost "
                "%llu wrong %llu phantom %llu bad chunks %llu (%s)\n",
                (unsigned long long)t->rounds, (unsigned long long)v.keys,
                (unsigned long long)v.chunks, v.survived, nflight, (unsigned long long)v.lost,
                (unsigned long long)v.wrong, (unsigned long long)v.phantom,
                (unsigned long long)v.bad_chunks, v.backend);
    return 0;
}

/* ---- The storage engine's rounds --------------------------------------------------------- */

typedef struct {
    uint32_t request; /* the index of the request just made durable */
    uint64_t seals_held, seals_memory, seals_wal, freezes, runs_logged;
    uint64_t compact_tag_hours; /* merged by the background compactor */
} writer_report;

/* The forked writer: the plant's requests, one write + sync each, each
 * reported once durable. Ends by SIGKILL (or _exit on an error). */
static void writer_main(crash_run *r, int fd)
{
    hist_db *db = open_dir(r, true);
    if (!db)
        _exit(2);
    uint32_t ids[PLANT_MAX_TAGS];
    for (int i = 0; i < r->plant.shape.ntags; i++) {
        const plant_tag *t = &r->plant.tags[i];
        if (hist_tag_resolve(db, t->name, strlen(t->name), t->type, true, &ids[i]) != 0)
            _exit(3);
    }
    plant_batch b = {0};
    for (uint32_t k = 0;; k++) {
        plant_next(&r->plant, &b);
        hist_series s[PLANT_MAX_TAGS];
        for (int j = 0; j < b.nseries; j++) {
            const plant_series *p = &b.series[j];
            s[j] = (hist_series){ids[p->tag], p->n, p->ts, p->v, p->q};
        }
        uint64_t lsn;
        if (hist_db_write(db, s, (size_t)b.nseries, &lsn) != 0 || hist_db_sync(db, lsn) != 0)
            _exit(4);
        hist_db_stats st;
        hist_db_get_stats(db, &st);
        writer_report rep = {k,          st.seals_held,  st.seals_memory,     st.seals_wal,
                             st.freezes, st.runs_logged, st.compact_tag_hours};
        if (write(fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
            _exit(5);
        if (k % 60 == 59 && !r->compact_bg)
            (void)hist_db_compact(db, 0);
    }
}

/* Reads the writer's reports as they come, until one says the background
 * compactor has merged or until deadline_ms: true when it has. */
static bool wait_for_merge(int fd, int64_t deadline_ms, writer_report *last, uint32_t *acked)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    writer_report rep;
    for (int64_t left; (left = deadline_ms - crash_now_ms()) > 0;) {
        if (poll(&p, 1, (int)left) <= 0 || read(fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
            return false;
        *last = rep, *acked = rep.request + 1;
        if (rep.compact_tag_hours > 0)
            return true;
    }
    return false;
}

/* Forks the writer, kills it after 5-300 ms, and replays what it
 * acknowledged into the model; the request after those is in flight.
 * Odd rounds compact in the background; rounds 2 and 3 of every four
 * hold chunks of 4096 samples, so that memory pressure meets long buffers
 * and freezes them (and seals frozen ones); one round in three has a WAL
 * budget that logs buffers' runs instead of sealing them (the others seal
 * them whole for it); one in four odd rounds is killed
 * within 20 ms after the compactor's first merge (waited for up to 10 s:
 * a sanitizer build sharing both cores with other tests once saw no merge
 * in 3 s in any of a run's three such rounds),
 * so that every run kills a writer in the middle of compacting however
 * slow the machine is. */
static int storage_round(crash_run *r)
{
    int fd, status = 0;
    r->compact_bg = r->tally.rounds % 2 == 1;
    r->long_chunks = r->tally.rounds % 4 >= 2;
    r->log_runs = r->tally.rounds % 3 == 2;
    bool at_merge = r->compact_bg && r->tally.rounds % 8 == 1;
    pid_t pid = fork_piped(&fd);
    if (pid == 0)
        writer_main(r, fd);
    if (pid < 0)
        return HIST_EIO;
    writer_report rep, last = {0};
    uint32_t acked = 0;
    long delay_ms = at_merge ? (long)(crash_rand(r) % 21) : (long)(5 + crash_rand(r) % 296);
    if (at_merge)
        wait_for_merge(fd, crash_now_ms() + 10000, &last, &acked);
    struct timespec d = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    while (read(fd, &rep, sizeof(rep)) == (ssize_t)sizeof(rep))
        last = rep, acked = rep.request + 1;
    close(fd);
    r->tally.seals_held += last.seals_held;
    r->tally.seals_memory += last.seals_memory;
    r->tally.freezes += last.freezes;
    r->tally.seals_wal += last.seals_wal;
    r->tally.runs_logged += last.runs_logged;
    r->tally.compact_tag_hours += last.compact_tag_hours;
    for (uint32_t k = 0; k < acked; k++) {
        plant_next(&r->plant, &r->flight[0]);
        crash_acked(r, &r->flight[0]);
    }
    crash_send_next(r); /* written, perhaps */
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "crash: the writer ended before the kill (wait status 0x%x)\n",
                (unsigned)status);
        return HIST_EIO;
    }
    return 0;
}

/* A clean close: the writer's options, opened and closed. */
static int storage_finish(crash_run *r)
{
    hist_db *db = open_dir(r, true);
    return db ? hist_db_close(db) : HIST_EIO;
}

/* ---- The run ------------------------------------------------------------------------------ */

int crash_run_new(crash_target target, hist_io_mode io, uint64_t seed, bool verbose,
                  crash_run **out)
{
    crash_run *r = calloc(1, sizeof(*r));
    if (!r)
        return HIST_ENOMEM;
    r->target = target;
    r->io = io;
    r->verbose = verbose;
    r->rng = (seed ^ 0x9E3779B97F4A7C15ull) | 1;
    plant_shape shape = target == CRASH_SERVER ? plant_shape_server() : plant_shape_storage();
    plant_init(&r->plant, &shape, seed);
    int rc = model_init(&r->model, &r->plant);
    if (rc == 0 && target == CRASH_STORAGE && !test_tmpdir(r->dir, sizeof(r->dir), "crash"))
        rc = HIST_EIO;
    if (rc) {
        crash_run_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int crash_run_round(crash_run *r)
{
    int rc = r->target == CRASH_SERVER ? crash_server_round(r) : storage_round(r);
    int crc = check_round(r); /* also after a failed round: what is there must be right */
    r->tally.rounds++;
    rc = rc ? rc : crc;
    r->tally.failures += rc != 0;
    return rc;
}

int crash_run_finish(crash_run *r)
{
    int rc = r->target == CRASH_SERVER ? crash_server_finish(r) : storage_finish(r);
    if (rc == 0)
        rc = check_round(r);
    r->tally.failures += rc != 0;
    return rc;
}

uint64_t crash_run_rounds(crash_run *r, uint64_t max_rounds, double max_seconds)
{
    int64_t until = crash_now_ms() + (int64_t)(max_seconds * 1000);
    uint64_t n = 0;
    for (; n < max_rounds && crash_now_ms() < until; n++)
        (void)crash_run_round(r); /* failures are in the tally */
    return n;
}

const crash_tally *crash_run_tally(const crash_run *r)
{
    return &r->tally;
}

void crash_tally_print(FILE *out, const char *label, const crash_tally *t)
{
    fprintf(out,
            "%s: %llu rounds, %llu requests (%llu samples) acknowledged and checked, %llu in "
            "flight survived; lost %llu wrong %llu phantom %llu bad chunks %llu failures %llu; "
            "seals held %llu memory %llu wal %llu, freezes %llu, buffers logged %llu; compactor "
            "merged %llu tag-hours; "
            "backend %s\n",
            label, (unsigned long long)t->rounds, (unsigned long long)t->requests,
            (unsigned long long)t->acked, (unsigned long long)t->survived,
            (unsigned long long)t->lost, (unsigned long long)t->wrong,
            (unsigned long long)t->phantom, (unsigned long long)t->bad_chunks,
            (unsigned long long)t->failures, (unsigned long long)t->seals_held,
            (unsigned long long)t->seals_memory, (unsigned long long)t->seals_wal,
            (unsigned long long)t->freezes, (unsigned long long)t->runs_logged,
            (unsigned long long)t->compact_tag_hours, t->backend[0] ? t->backend : "?");
}

uint64_t crash_seed(void)
{
    const char *env = getenv("CRASH_SEED");
    if (env && *env)
        return strtoull(env, NULL, 10);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000003u ^ (uint64_t)t.tv_nsec ^ (uint64_t)getpid() << 20;
}

void crash_run_free(crash_run *r)
{
    if (!r)
        return;
    if (r->h.root[0])
        harness_cleanup(&r->h);
    else if (r->dir[0])
        test_rm_rf(r->dir);
    for (int i = 0; i < CRASH_FLIGHT_MAX; i++)
        plant_batch_free(&r->flight[i]);
    model_free(&r->model);
    free(r);
}
