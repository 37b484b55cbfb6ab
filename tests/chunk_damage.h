/*
 * chunk_damage.h: damaging a stopped data directory on purpose, for the
 * tests of damaged chunks and the scrub (tests/storage, tests/e2e).
 *
 *   test_chunk_refs()      the chunk entries, as the index holds them
 *   test_flip_chunk_bit()  one bit flipped inside a chunk's segment bytes
 *   test_skew_entry_max()  an entry whose statistics no longer match its
 *                          (intact) bytes
 * The directory must not be open in any process: these open its LMDB
 * index themselves. Header-only, like check.h.
 */
#ifndef HIST_TESTS_CHUNK_DAMAGE_H
#define HIST_TESTS_CHUNK_DAMAGE_H

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "storage/index.h"

static inline int test_index_open_(const char *dir, hist_index *idx)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/index", dir);
    return index__open(idx, path, (size_t)64 << 20, NULL, NULL);
}

/* Up to cap chunk entries of dir in key (tag, start) order: the count, or
 * a negative error. */
static inline int test_chunk_refs(const char *dir, hist_chunk_ref *out, int cap)
{
    hist_index idx;
    int rc = test_index_open_(dir, &idx);
    if (rc)
        return rc;
    MDB_txn *txn;
    int n = 0;
    if ((rc = index__read_begin(&idx, &txn)) == 0) {
        MDB_cursor *cur;
        if ((rc = index__err(mdb_cursor_open(txn, idx.chunk, &cur))) == 0) {
            MDB_val k, v;
            for (int op = MDB_FIRST; n < cap && mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT)
                if (index__chunk_ref_from(&k, &v, &out[n]) == 0)
                    n++;
            mdb_cursor_close(cur);
        }
        index__read_end(&idx, txn);
    }
    index__close(&idx);
    return rc ? rc : n;
}

/* Flips bit `bit` of byte `at` of the chunk's bytes: 0, or -1. */
static inline int test_flip_chunk_bit(const char *dir, const hist_chunk_ref *ref, uint32_t at,
                                      int bit)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/seg/%012u.seg", dir, ref->segment);
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return -1;
    uint8_t b;
    off_t off = (off_t)(ref->offset + at);
    int rc = pread(fd, &b, 1, off) == 1 ? 0 : -1;
    b ^= (uint8_t)(1u << bit);
    if (rc == 0 && pwrite(fd, &b, 1, off) != 1)
        rc = -1;
    close(fd);
    return rc;
}

typedef struct {
    hist_chunk_ref ref;
    double delta;
} test_skew_;

static int test_skew_txn_(hist_index *idx, MDB_txn *txn, void *arg)
{
    test_skew_ *s = arg;
    hist_chunk_ref r = s->ref;
    r.stats.max += s->delta;
    return index__put_chunk(idx, txn, &r);
}

/* Rewrites the chunk's entry with its max raised by delta. */
static inline int test_skew_entry_max(const char *dir, const hist_chunk_ref *ref, double delta)
{
    hist_index idx;
    int rc = test_index_open_(dir, &idx);
    if (rc)
        return rc;
    test_skew_ s = {*ref, delta};
    rc = index__write(&idx, test_skew_txn_, &s);
    index__close(&idx);
    return rc;
}

#endif
