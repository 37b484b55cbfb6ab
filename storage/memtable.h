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

#include <stddef.h>
#include <stdint.h>

#include "storage/hist_storage.h"

/* The four columns live in ONE allocation of cap samples, column after
 * column (ts[cap], v[cap], lsn[cap], q[cap]; every column starts 8-byte
 * aligned), reached through membuf__ts() and its siblings: an idle buffer
 * is 32 bytes of zeros in its tag's state, and a live one is one block
 * of exactly membuf__bytes(). Growth (membuf__append): the one rule of
 * common/hist_array.h, from HIST_MEMBUF_FIRST samples doubling; sealing a
 * prefix (membuf__drop_prefix) shrinks the block again when what is left
 * fits in a quarter of it, and frees it when nothing is left. */
typedef struct {
    uint8_t *mem; /* NULL while cap is 0 */
    size_t n, cap;
    int64_t first_write_ns; /* monotonic clock at the oldest unsealed write */
} hist_membuf;

/* Bytes one buffered sample costs (the four columns). */
#define HIST_MEMBUF_SAMPLE_BYTES (8 + 8 + 8 + 4)
/* The capacity of a buffer's first block, in samples. */
#define HIST_MEMBUF_FIRST 16

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

/* Appends n samples written at lsn (q NULL = Good). Returns the change of
 * allocated bytes (>= 0) or HIST_ENOMEM (nothing appended). */
int64_t membuf__append(hist_membuf *b, const int64_t *ts, const hist_value *v, const uint32_t *q,
                       size_t n, uint64_t lsn, int64_t now_ns);

/* Drops the first k samples (sealed). Returns the change of allocated
 * bytes (<= 0). */
int64_t membuf__drop_prefix(hist_membuf *b, size_t k, int64_t now_ns);

/* Drops the samples written at LSNs from..to (writes that were refused:
 * storage/degraded.c). Returns the change of allocated bytes (<= 0). */
int64_t membuf__drop_lsns(hist_membuf *b, uint64_t from, uint64_t to);

void membuf__free(hist_membuf *b);

static inline size_t membuf__bytes(const hist_membuf *b)
{
    return b->cap * HIST_MEMBUF_SAMPLE_BYTES;
}

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

#endif
