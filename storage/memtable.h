/*
 * memtable.h: per-tag columnar buffers of unsealed samples (internal to
 * storage/).
 *
 * A buffer holds samples in arrival (= LSN) order: ts, value, quality and
 * the LSN of the write that carried each one. Out-of-order and duplicate
 * timestamps are kept as they came; msamples__sort_dedupe() resolves
 * them (sort by (ts, priority), keep the last of each ts) when a buffer is
 * sealed or scanned. The caller (db.c) serializes access with the db mutex.
 *
 * Invariant relied on by sealing and recovery: lsn[] is non-decreasing, so
 * sealing a prefix seals exactly the writes with lsn <= lsn[k-1].
 */
#ifndef HIST_STORAGE_MEMTABLE_H
#define HIST_STORAGE_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/hist_storage.h"

/* Frozen runs: under memory pressure the sealer compresses a buffer's
 * oldest samples in place (storage/freeze.c) instead of sealing them into
 * a short chunk. A run is one chunk's bytes (chunk.h: sorted, unique
 * timestamps, the last write of each) held in memory, with the LSNs of the
 * first and the last write it holds.
 *
 * Invariants relied on by sealing, recovery and the checkpoint:
 *   - runs are in LSN order, all before the raw samples: run i holds writes
 *     lsn_first..lsn_last, run i+1 only later ones, the raw columns later
 *     ones still; so the buffer is still one sequence in LSN order;
 *   - a run holds only durable writes, and whole ones (it ends where a WAL
 *     record ends), so a rollback of refused writes (drop_lsns) never
 *     reaches into a run, and a seal that takes a run takes it whole;
 *   - membuf__view() gives every sample of run i the LSN lsn_last: a cut
 *     between two samples of a run would be inside a record (seal.c, rule
 *     1), so every cut falls at a run's edge or among the raw samples.
 *
 * Logged runs (storage/runlog.c): when the WAL is over its budget, the
 * runs of the buffers that pin its oldest segments are written to the WAL
 * again, as one run record, so that those segments can go without a
 * chunk being sealed. The first nlogged runs of a buffer are then held by
 * the run record at log_lsn (and by nothing older); the later runs and the
 * raw samples by their own records. So the oldest record a buffer needs
 * (membuf__oldest_lsn) is the smaller of log_lsn and the first write after
 * the logged runs. Logged runs are a prefix: a seal takes the oldest runs,
 * a freeze rewrites the newest ones into a run that is not logged (it
 * keeps its lsn_first, which only pins the WAL more than needed until the
 * next relog). */
typedef struct {
    uint32_t off, len, n; /* the chunk: bytes [off, off + len) of the data */
    uint32_t unused;
    uint64_t lsn_first, lsn_last;
} membuf_run;

/* A buffer's runs are ONE allocation of exactly membuf_frozen_size()
 * bytes: this header, nruns descriptors, then the runs' chunks end to end
 * (membuf__run_bytes). ts_min..ts_max covers every run (after a seal took
 * the oldest runs it may be wider than what is left: a bound, never
 * narrower). */
typedef struct {
    uint32_t nruns;
    uint32_t samples; /* sum of the runs' n */
    uint32_t data;    /* bytes of chunks */
    uint32_t nlogged; /* runs [0, nlogged) are in the WAL run record log_lsn */
    int64_t ts_min, ts_max;
    uint64_t log_lsn; /* 0 while nlogged is 0 */
    membuf_run run[];
} membuf_frozen;

static inline size_t membuf_frozen_size(const membuf_frozen *fz)
{
    return sizeof(*fz) + fz->nruns * sizeof(fz->run[0]) + fz->data;
}

static inline const uint8_t *membuf__run_bytes(const membuf_frozen *fz, size_t i)
{
    return (const uint8_t *)&fz->run[fz->nruns] + fz->run[i].off;
}

/* A run to put in (membuf__install_run): a chunk the caller keeps. */
typedef struct {
    const uint8_t *bytes;
    uint32_t len, n;
    uint64_t lsn_first, lsn_last;
    int64_t ts_min, ts_max;
} membuf_new_run;

/* The raw columns live in ONE allocation of cap samples, column after
 * column (ts[cap], v[cap], lsn[cap], q[cap]; every column starts 8-byte
 * aligned), reached through membuf__ts() and its siblings: an idle buffer
 * is 32 bytes of zeros in its tag's state, and a live one is one block of
 * exactly cap * HIST_MEMBUF_SAMPLE_BYTES, plus its frozen runs if any.
 * Growth (membuf__append): the one rule of common/hist_array.h, from
 * HIST_MEMBUF_FIRST samples doubling; sealing or freezing a prefix
 * shrinks the block again when what is left fits in a quarter of it, and
 * frees it when nothing is left. Readers that need every sample in LSN
 * order (runs, then raw) take a membuf__view(). */
typedef struct {
    uint8_t *mem;           /* NULL while cap is 0 */
    membuf_frozen *fz;      /* NULL while nothing is frozen */
    uint32_t nraw, cap;     /* raw samples in mem, and room for */
    int64_t first_write_ns; /* monotonic clock at the oldest unsealed write */
} hist_membuf;
_Static_assert(sizeof(void *) != 8 || sizeof(hist_membuf) == 32,
               "an idle tag's buffer is 32 bytes (docs/architecture.md)");

/* Bytes one raw sample costs (the four columns). */
#define HIST_MEMBUF_SAMPLE_BYTES (8 + 8 + 8 + 4)
/* The capacity of a buffer's first block, in samples: one (28 bytes; the
 * block doubles from there), as a million slow tags with a sample or two
 * each beside their frozen runs must fit a memtable budget. A first block
 * of four (112 bytes) made those blocks half of a 256 MiB budget at 1 M
 * tags x 0.1 Hz, three quarters of it room for samples not yet come. */
#define HIST_MEMBUF_FIRST 1

static inline int64_t *membuf__ts(const hist_membuf *b)
{
    return (int64_t *)(void *)b->mem;
}
static inline hist_value *membuf__v(const hist_membuf *b)
{
    return b->mem ? (hist_value *)(void *)(b->mem + 8 * b->cap) : NULL;
}
static inline uint64_t *membuf__lsn(const hist_membuf *b)
{
    return b->mem ? (uint64_t *)(void *)(b->mem + 16 * b->cap) : NULL;
}
static inline uint32_t *membuf__q(const hist_membuf *b)
{
    return b->mem ? (uint32_t *)(void *)(b->mem + 24 * b->cap) : NULL;
}

/* Frozen runs in the buffer. */
static inline size_t membuf__nruns(const hist_membuf *b)
{
    return b->fz ? b->fz->nruns : 0;
}

/* Samples buffered: in frozen runs and raw. */
static inline size_t membuf__count(const hist_membuf *b)
{
    return (b->fz ? b->fz->samples : 0) + b->nraw;
}

/* Bytes the buffer costs: the raw block and the frozen runs. */
static inline size_t membuf__bytes(const hist_membuf *b)
{
    return b->cap * HIST_MEMBUF_SAMPLE_BYTES + (b->fz ? membuf_frozen_size(b->fz) : 0);
}

/* The LSN of the oldest WAL record the buffer needs (membuf__count(b) >
 * 0): its oldest write's, or, with logged runs, the smaller of the run
 * record's and the first write after the logged runs. */
static inline uint64_t membuf__oldest_lsn(const hist_membuf *b)
{
    const membuf_frozen *fz = b->fz;
    if (!fz || !fz->nruns)
        return membuf__lsn(b)[0];
    if (!fz->nlogged)
        return fz->run[0].lsn_first;
    uint64_t next = fz->nlogged < fz->nruns ? fz->run[fz->nlogged].lsn_first
                    : b->nraw               ? membuf__lsn(b)[0]
                                            : UINT64_MAX;
    return next < fz->log_lsn ? next : fz->log_lsn;
}

/* Every buffered sample in LSN order: the runs' (each in time order), then
 * the raw ones; a run's samples carry its lsn_last. Without runs the
 * arrays are the raw columns themselves (no copy); else one block owned
 * by the view. Valid until the buffer changes (the caller holds what
 * serializes it). */
typedef struct {
    const int64_t *ts;
    const hist_value *v;
    const uint32_t *q;
    const uint64_t *lsn;
    size_t n;
    void *owned;
} membuf_view;

/* 0, HIST_ENOMEM, or HIST_ECORRUPT (a run that does not decode: a bug). */
int membuf__view(const hist_membuf *b, membuf_view *out);
void membuf__view_release(membuf_view *v);

/* Whether a sample of the buffer may lie in [from, to): exact for the raw
 * samples, from the time bounds for runs (may say true for a run with no
 * sample there). */
bool membuf__may_touch(const hist_membuf *b, int64_t from, int64_t to);

/* Appends n samples written at lsn (q NULL = Good). Returns the change of
 * allocated bytes (>= 0) or HIST_ENOMEM (nothing appended). */
int64_t membuf__append(hist_membuf *b, const int64_t *ts, const hist_value *v, const uint32_t *q,
                       size_t n, uint64_t lsn, int64_t now_ns);

/* Drops the first k samples in view order (sealed): whole runs, then raw
 * ones. A k that would end inside a run (against rule 1) keeps that run
 * whole. Returns the change of allocated bytes (<= 0). */
int64_t membuf__drop_prefix(hist_membuf *b, size_t k, int64_t now_ns);

/* Drops the raw samples written at LSNs from..to (writes that were
 * refused: storage/degraded.c; runs never hold them). Returns the change of
 * allocated bytes (<= 0). */
int64_t membuf__drop_lsns(hist_membuf *b, uint64_t from, uint64_t to);

void membuf__free(hist_membuf *b);

/* A sample with a priority: a higher prio wins on equal ts (LSN for
 * memtable samples, chunk seq for chunk samples). */
typedef struct {
    int64_t ts;
    uint64_t prio;
    hist_value v;
    uint32_t q;
} hist_msample;

/* Sorts by (ts, prio) and keeps the last sample of each ts. Returns the new
 * count. */
size_t msamples__sort_dedupe(hist_msample *s, size_t n);

/* The columns of n samples (what the chunk codec takes). */
void msamples__split(const hist_msample *s, size_t n, int64_t *ts, hist_value *v, uint32_t *q);

/* ---- Freezing (storage/freeze.c drives it, seal_mu held) ---- */

/* The first run a new run of k raw samples is merged with: runs [j, nruns)
 * are rewritten with it into one, so that run lengths grow at least
 * fourfold from the newest to the oldest (each sample is re-encoded
 * O(log n) times, and a buffer has few runs, each with its header) and
 * a buffer keeps at most HIST_MEMBUF_MAX_RUNS runs. */
#define HIST_MEMBUF_MAX_RUNS 4
size_t membuf__merge_from(const hist_membuf *b, size_t k);

/* Puts the samples of runs [j, nruns) of fz (may be NULL) into out (room
 * for their count), in LSN order with prio their position, for
 * msamples__sort_dedupe(). Returns the count, HIST_ENOMEM or
 * HIST_ECORRUPT. Reads only fz, which the freezer alone changes, so it
 * runs without the db mutex. */
int64_t membuf__collect_runs(const membuf_frozen *fz, size_t j, hist_msample *out);
/* The first k raw samples into out, prio from prio on (mu held). */
void membuf__collect_raw(const hist_membuf *b, size_t k, hist_msample *out, uint64_t prio);

/* Replaces runs [j, nruns) and the first k raw samples with run r (its
 * bytes are copied); *delta is the change of allocated bytes. 0, or
 * HIST_ENOMEM (the buffer as it was). */
int membuf__install_run(hist_membuf *b, size_t j, size_t k, const membuf_new_run *r,
                        int64_t *delta);

/* ---- Logged runs (storage/runlog.c, recovery.c) ---- */

/* Marks every run of the buffer logged by the run record at log_lsn
 * (seal_mu and mu held; the runs are the ones the record holds). */
void membuf__mark_logged(hist_membuf *b, uint64_t log_lsn);

/* Recovery of a run record: every write of the buffer up to the last
 * run's lsn_last (runs and raw samples replayed from older records) is
 * replaced by the n logged runs rs (bytes copied), which go first. *delta
 * is the change of allocated bytes, *dsamples of samples. 0, or
 * HIST_ENOMEM (the buffer as it was). */
int membuf__put_logged(hist_membuf *b, const membuf_new_run *rs, size_t n, uint64_t log_lsn,
                       int64_t now_ns, int64_t *delta, int64_t *dsamples);

#endif
