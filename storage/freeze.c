/*
 * freeze.c: compressing buffered samples in memory, the sealer's first
 * answer to memory pressure (the runs are described in memtable.h).
 *
 * Sealing a buffer because memory is short writes a chunk of whatever the
 * buffer holds: at 100,000 tags a 256 MiB budget is full after about 90
 * samples a tag, and every such chunk costs an index entry and later a
 * compaction. Freezing encodes a buffer's durable raw samples with the
 * chunk codec (1-3 bytes a sample instead of 28) and keeps them in the
 * buffer, so an hour of a tag fits and the seal, when it comes, writes a
 * long chunk.
 *
 * Freezing a group of tags (seal_mu held throughout, like a seal):
 *   1. under mu, for each tag: k = its raw samples with lsn <= the durable
 *      LSN (a WAL record boundary: the cut after the last durable record),
 *      and the runs it merges with (membuf__merge_from); the raw samples
 *      are copied out;
 *   2. without mu: the runs merged are decoded (only the freezer changes
 *      runs), then sort by (ts, arrival), keep the last write of each ts,
 *      encode one chunk;
 *   3. under mu, the run replaces the merged runs and the first k raw
 *      samples (membuf__install_run).
 * Writers only append raw samples, a rollback of refused writes only drops
 * raw samples past the durable LSN, and every other change of runs or of a
 * raw prefix holds seal_mu: so the snapshot of step 1 is still what step 3
 * replaces. Nothing reaches disk and no LSN moves: a crash at any step
 * loses only memory, which the WAL replays (the runs' records are still in
 * the log, as the checkpoint takes the oldest LSN of runs too).
 */
#include "storage/db_internal.h"

#include "common/hist_assert.h"
#include "storage/chunk.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t id;
    hist_type type;
    size_t j, k;        /* runs [j, nruns) and k raw samples are replaced */
    size_t nin;         /* samples copied out */
    size_t nfz;         /* of them from runs [j, nruns), decoded in step 2 */
    const membuf_frozen *fz;
    hist_msample *s;    /* them, in the scratch buffer */
    membuf_new_run run; /* the new run (its bytes in the group's freeze_room) */
} freeze_item;

/* The raw samples of b up to the durable LSN (a prefix: lsn[] is
 * non-decreasing). */
size_t freeze__durable_raw(const hist_membuf *b, uint64_t durable)
{
    size_t k = b->nraw;
    while (k > 0 && membuf__lsn(b)[k - 1] > durable)
        k--;
    return k;
}

/* Step 1 for one tag (mu held): the samples to encode, copied into room.
 * Returns their count, 0 (nothing to freeze), HIST_ENOSPC (they do not fit
 * in room_n) or another negative error. FREEZE_ALL takes every durable raw
 * sample and every run into one run (what a run record logs). */
static int64_t freeze_snapshot(hist_db *db, freeze_item *it, uint64_t durable, freeze_mode mode,
                               hist_msample *room, size_t room_n)
{
    HIST_ASSERT(mu_held(&db->mu));
    hist_tag_state *t = tags__get(db, it->id);
    if (!t)
        return 0;
    const hist_membuf *b = &t->buf;
    size_t raw = freeze__durable_raw(b, durable), j;
    size_t k = mode == FREEZE_PRESSURE ? freeze__worth(raw) : raw;
    if (mode == FREEZE_ALL) {
        j = 0;
        if (k == 0 && membuf__nruns(b) <= 1)
            return 0; /* one run already, or nothing durable */
    } else if (k == 0)
        return 0;
    else
        j = membuf__merge_from(b, k);
    size_t n = k;
    for (size_t i = j; i < membuf__nruns(b); i++)
        n += b->fz->run[i].n;
    if (n > room_n)
        return HIST_ENOSPC;
    membuf__collect_raw(b, k, room + (n - k), n - k);
    it->type = (hist_type)t->type;
    it->j = j;
    it->k = k;
    it->nin = n;
    it->nfz = n - k;
    it->fz = b->fz;
    it->s = room;
    it->run.lsn_first = j < membuf__nruns(b) ? b->fz->run[j].lsn_first : membuf__lsn(b)[0];
    it->run.lsn_last = k ? membuf__lsn(b)[k - 1] : b->fz->run[b->fz->nruns - 1].lsn_last;
    return (int64_t)n;
}

/* What step 2 writes into, for one group: the columns of one tag at a time
 * and every new run's bytes back to back (install copies them). Reused
 * from group to group, so a round of a million tags costs a few
 * allocations, not four a tag. */
typedef struct {
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
    size_t cols; /* samples the columns hold */
    uint8_t *out;
    size_t out_cap, out_len;
} freeze_room;

/* Grows what the group's items need; 0 or HIST_ENOMEM (room as it was). */
static int room_reserve(freeze_room *r, const freeze_item *items, size_t nitems)
{
    size_t cols = 0, out = 0;
    for (size_t x = 0; x < nitems; x++) {
        cols = items[x].nin > cols ? items[x].nin : cols;
        out += chunk__bound(items[x].nin); /* dedupe only shrinks */
    }
    if (cols > r->cols) {
        int64_t *ts = realloc(r->ts, cols * sizeof(*ts));
        r->ts = ts ? ts : r->ts;
        hist_value *v = realloc(r->v, cols * sizeof(*v));
        r->v = v ? v : r->v;
        uint32_t *q = realloc(r->q, cols * sizeof(*q));
        r->q = q ? q : r->q;
        if (!ts || !v || !q)
            return HIST_ENOMEM;
        r->cols = cols;
    }
    if (out > r->out_cap) {
        uint8_t *o = realloc(r->out, out);
        if (!o)
            return HIST_ENOMEM;
        r->out = o;
        r->out_cap = out;
    }
    r->out_len = 0;
    return 0;
}

/* Step 2 (no lock): the merged runs decoded, sort, keep the last write of
 * each ts, encode into the room. */
static int freeze_encode(freeze_item *it, freeze_room *r)
{
    if (it->nfz) {
        int64_t got = membuf__collect_runs(it->fz, it->j, it->s);
        if (got != (int64_t)it->nfz)
            return got < 0 ? (int)got : HIST_ECORRUPT;
    }
    size_t n = msamples__sort_dedupe(it->s, it->nin);
    uint8_t *out = r->out + r->out_len;
    msamples__split(it->s, n, r->ts, r->v, r->q);
    int64_t len =
        chunk__encode_flags(it->type, r->ts, r->v, r->q, n, out, chunk__bound(n), CHUNK_NO_ZSTD);
    if (len > 0) {
        it->run.bytes = out; /* install copies the len bytes */
        it->run.len = (uint32_t)len;
        it->run.n = (uint32_t)n;
        it->run.ts_min = r->ts[0];
        it->run.ts_max = r->ts[n - 1];
        r->out_len += (size_t)len;
    }
    return len < 0 ? (int)len : 0;
}

/* Step 3 (mu held): the runs go in. */
static void freeze_install(hist_db *db, freeze_item *items, size_t nitems)
{
    HIST_ASSERT(mu_held(&db->mu));
    for (size_t i = 0; i < nitems; i++) {
        freeze_item *it = &items[i];
        hist_tag_state *t = tags__get(db, it->id);
        int64_t delta = 0;
        bool in =
            it->run.bytes && t && membuf__install_run(&t->buf, it->j, it->k, &it->run, &delta) == 0;
        if (!in) /* the buffer stays as it was */
            continue;
        db->mem_bytes = (size_t)((int64_t)db->mem_bytes + delta);
        db->mem_samples -= it->nin - it->run.n; /* duplicates are gone */
        atomic_fetch_add(&db->freezes, 1);
    }
}

int freeze__tags(hist_db *db, const uint32_t *ids, size_t n, freeze_mode mode)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    /* A group holds at most SEAL_GROUP_SAMPLES samples, so at most this
     * many tags of FREEZE_MIN or more (FREEZE_ALL and FREEZE_DEEP, whose
     * tags may hold fewer: as many, in more groups). */
    size_t cap = n < SEAL_GROUP_SAMPLES / FREEZE_MIN ? n : SEAL_GROUP_SAMPLES / FREEZE_MIN;
    freeze_item *items = calloc(cap ? cap : 1, sizeof(*items));
    freeze_room room = {0};
    int rc = items ? chunk__scratch_reserve(db, SEAL_GROUP_SAMPLES) : HIST_ENOMEM;
    uint64_t durable = wal__durable_lsn(db->wal);
    size_t i = 0;
    while (i < n && rc == 0) {
        size_t nitems = 0, total = 0;
        mu_lock(&db->mu);
        for (; i < n && nitems < cap; i++) {
            freeze_item *it = &items[nitems];
            memset(it, 0, sizeof(*it));
            it->id = ids[i];
            int64_t got = freeze_snapshot(db, it, durable, mode, db->seal_scratch + total,
                                          db->seal_scratch_cap - total);
            if (got == HIST_ENOSPC && nitems)
                break; /* this tag starts the next group */
            if (got <= 0)
                continue; /* nothing to freeze, or a buffer too long for one
                             group (it is due and sealed soon) */
            total += (size_t)got;
            nitems++;
        }
        mu_unlock(&db->mu);
        rc = room_reserve(&room, items, nitems);
        for (size_t x = 0; x < nitems && rc == 0; x++) {
            int e = freeze_encode(&items[x], &room);
            if (e == HIST_ENOMEM)
                rc = e; /* the buffers stay as they were (a run that does not
                           decode, a bug, keeps its buffer as it was too) */
        }
        mu_lock(&db->mu);
        freeze_install(db, items, nitems);
        mu_unlock(&db->mu);
    }
    free(items);
    free(room.ts), free(room.v), free(room.q), free(room.out);
    return rc;
}
