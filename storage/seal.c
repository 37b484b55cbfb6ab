/*
 * seal.c: turning memtable buffers into chunks, the WAL checkpoint, and the
 * background sealer thread.
 *
 * Sealing a group of tags (seal_mu held throughout):
 *   0. sync the WAL: only durable writes are sealed (see seal__tags);
 *   1. under mu, snapshot each buffer's first k samples (all durable ones);
 *   2. without mu: sort by (ts, arrival), keep the last write of each ts,
 *      split into chunks of <= chunk_samples, encode, compute stats;
 *   3. append every chunk of the group to the segment in one durable write;
 *   4. one LMDB txn: chunk entries, each tag's flushed_lsn (= LSN of its
 *      k-th sample) and max span, next chunk seq;
 *   5. under mu, drop the k sealed samples; writes that came during 2-4
 *      stay (they follow the prefix, as buffers are in LSN order).
 * A crash between 3 and 4 leaves dead segment bytes only; between 4 and 5
 * nothing is lost, as recovery skips samples with lsn <= flushed_lsn.
 *
 * Rule 1, what makes that skip safe: a tag's flushed point never passes a
 * WAL record that still holds unsealed samples of the tag. Recovery skips
 * a tag's part of a record whole when the record's LSN <= flushed_lsn, so
 * a prefix may end only where one record ends and the next begins (k is
 * the whole buffer, or lsn[k-1] < lsn[k]). Every way of choosing k keeps
 * it: the durable cut and a whole buffer end at a record by construction,
 * and the held prefix (held_prefix) steps back to the start of the record
 * its clock-window cut fell into. Checked by HIST_ASSERT in debug builds.
 *
 * Checkpoint: the WAL may drop every record below the smallest LSN still
 * in any buffer (or last LSN + 1 when the memtable is empty). The LSN goes
 * to meta first, then the WAL deletes its segments.
 */
#include "storage/db_internal.h"

#include "common/hist_array.h"
#include "common/hist_assert.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* ---- Sealing ---------------------------------------------------------------------- */

typedef struct {
    uint32_t id;
    hist_type type;
    size_t k;        /* samples snapshot from the buffer */
    uint64_t lsn;    /* LSN of the k-th sample */
    hist_msample *s; /* sorted, deduplicated */
    size_t n;
} seal_item;

/* Seals one group; items already snapshot. */
static int seal_group(hist_db *db, seal_item *items, size_t nitems)
{
    hist_chunk_batch b = {0};
    uint32_t *ftags = calloc(nitems + 1, sizeof(*ftags));
    uint64_t *flsns = calloc(nitems + 1, sizeof(*flsns));
    int rc = (!ftags || !flsns) ? HIST_ENOMEM : 0;
    for (size_t i = 0; i < nitems && rc == 0; i++) {
        ftags[i] = items[i].id;
        flsns[i] = items[i].lsn;
        items[i].n = msamples__sort_dedupe(items[i].s, items[i].k);
        rc = chunk__batch_add(db, &b, items[i].id, items[i].type, items[i].s, items[i].n);
    }
    if (rc == 0)
        rc = chunk__commit(db, b.bufs, b.refs, b.n, NULL, 0, ftags, flsns, nitems);
    if (rc == 0)
        atomic_fetch_add(&db->chunks_sealed, b.n);
    chunk__batch_free(&b);
    free(ftags), free(flsns);
    if (rc)
        return rc;
    /* Drop the sealed prefixes. */
    mu_lock(&db->mu);
    int64_t now = clock__mono_ns();
    for (size_t i = 0; i < nitems; i++) {
        hist_tag_state *t = tags__get(db, items[i].id);
        int64_t d = membuf__drop_prefix(&t->buf, items[i].k, now);
        db->mem_bytes -= (size_t)(-d);
        db->mem_samples -= items[i].k;
    }
    size_t w = 0;
    for (size_t i = 0; i < db->ndirty; i++) {
        hist_tag_state *t = db->tags[db->dirty[i]];
        if (membuf__count(&t->buf) > 0)
            db->dirty[w++] = db->dirty[i];
        else
            t->in_dirty = 0;
    }
    db->ndirty = w;
    pthread_cond_broadcast(&db->room_cv);
    mu_unlock(&db->mu);
    return 0;
}

/* The first of a buffer's k samples inside the clock window of its k-th,
 * stepped back to a WAL record boundary (held_prefix's cut). */
static size_t window_cut(hist_db *db, const membuf_view *bv, size_t k)
{
    const int64_t *ts = bv->ts;
    const uint64_t *lsn = bv->lsn;
    int64_t window = chunk__align_floor(ts[k - 1], db->opts.chunk_align_ns);
    size_t j = 0;
    while (j < k && ts[j] < window)
        j++;
    /* Rule 1 (see the top of this file): the cut falls between two WAL
     * records, never inside one. A request's samples can cross the window
     * boundary; its record then stays whole in memory. */
    while (j > 0 && j < k && lsn[j - 1] == lsn[j])
        j--;
    return j;
}

/*
 * A buffer that is due (full, or old) keeps its samples of the current
 * clock window in memory: they go into the next chunk with the rest of that
 * window, instead of a partial chunk now and another one later. Only a
 * prefix in buffer (LSN) order can be sealed, so the cut is at the first
 * sample inside the window; out-of-order samples after it wait too. When
 * every sample is inside the window the whole buffer goes (it is due). The
 * tail must stay below cs, or the buffer would be full again at once. The
 * tail's age restarts at the seal (memtable.c), so a held sample waits at
 * most about two age limits.
 */
static size_t held_prefix(hist_db *db, const membuf_view *bv, size_t k)
{
    if (db->opts.chunk_align_ns <= 0 || k == 0)
        return k;
    size_t j = window_cut(db, bv, k);
    return j > 0 && k - j < db->opts.chunk_samples ? j : k;
}

/* Samples a buffer needs before a lazy close seals it: 1/16 of a chunk,
 * the length from which chunk__batch_add cuts at window boundaries, i.e.
 * a run worth its own index entry. */
static size_t close_min(const hist_db *db)
{
    return db->opts.chunk_samples / 16 ? db->opts.chunk_samples / 16 : 1;
}

/* Whether the first k samples of a buffer reach into the clock window
 * still open (now's, or a later one): a run more samples may join. Without
 * clock windows every run may. */
static bool reaches_open_window(hist_db *db, const hist_membuf *b, size_t k)
{
    if (db->opts.chunk_align_ns <= 0)
        return true;
    int64_t open = chunk__align_floor(clock__wall_ns(), db->opts.chunk_align_ns);
    if (k == membuf__count(b))
        return membuf__may_touch(b, open, HIST_TS_MAX);
    membuf_view bv;
    if (membuf__view(b, &bv))
        return true; /* keeps the run: the WAL still holds it */
    bool reaches = false;
    for (size_t i = 0; i < k && !reaches; i++)
        reaches = bv.ts[i] >= open;
    membuf__view_release(&bv);
    return reaches;
}

/* Whether a lazy close keeps a buffer of k durable samples in the WAL: a
 * short run (under close_min()) of a window still open, which the next
 * open replays into the memtable and later samples join. Everything else
 * is sealed whole (a whole buffer ends at a WAL record, rule 1): a run of
 * finished windows gains nothing by waiting, and the compactor joins its
 * chunk with the rest of its hour. */
static bool close_keeps(hist_db *db, const hist_membuf *b, size_t k)
{
    return k < close_min(db) && reaches_open_window(db, b, k);
}

static size_t close_prefix(hist_db *db, const hist_tag_state *t, size_t k)
{
    return close_keeps(db, &t->buf, k) ? 0 : k;
}

/* Rule 1 at the place it is relied on: sealing the first k samples of a
 * buffer moves the tag's flushed point to lsn[k-1], so no sample after the
 * k-th may carry that LSN. */
static bool cut_at_record_boundary(const membuf_view *bv, size_t k)
{
    return k == 0 || k == bv->n || bv->lsn[k - 1] < bv->lsn[k];
}

int seal__tags(hist_db *db, const uint32_t *ids, size_t n, seal_cut cut)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    seal_item *items = calloc(n ? n : 1, sizeof(*items));
    if (!items)
        return HIST_ENOMEM;
    /* Seal only durable writes: a chunk must never hold a write whose WAL
     * record a crash could lose, because after a restart the WAL hands out
     * that LSN again and recovery would skip the new write as "flushed". */
    int rc = hist_db_sync(db, wal__last_lsn(db->wal));
    if (rc == HIST_EDISKFULL || rc == HIST_EIO)
        rc = 0; /* a broken log: what is durable can still be sealed (the
                   refused writes are out of the buffers: hist_db_sync) */
    uint64_t durable = wal__durable_lsn(db->wal);
    if (rc == 0)
        rc = chunk__scratch_reserve(db, SEAL_GROUP_SAMPLES);
    size_t i = 0;
    while (i < n && rc == 0) {
        size_t nitems = 0, total = 0;
        mu_lock(&db->mu);
        for (; i < n && total < SEAL_GROUP_SAMPLES; i++) {
            hist_tag_state *t = tags__get(db, ids[i]);
            membuf_view bv = {0};
            if (t && (rc = membuf__view(&t->buf, &bv)) != 0)
                break;
            size_t k = bv.n;
            while (k > 0 && bv.lsn[k - 1] > durable)
                k--;
            size_t durable_k = k;
            if (cut == SEAL_HOLD)
                k = held_prefix(db, &bv, k);
            else if (cut == SEAL_CLOSE)
                k = close_prefix(db, t, k);
            if (k == 0) {
                membuf__view_release(&bv);
                continue;
            }
            if (k < durable_k)
                atomic_fetch_add(&db->seals_held, 1);
            HIST_ASSERT(cut_at_record_boundary(&bv, k));
            seal_item *it = &items[nitems];
            it->id = ids[i];
            it->type = (hist_type)t->type;
            it->k = k;
            it->lsn = bv.lsn[it->k - 1];
            if (total + k > db->seal_scratch_cap &&
                (nitems || (rc = chunk__scratch_reserve(db, k)) != 0)) {
                membuf__view_release(&bv);
                break; /* seal what we have; this tag starts the next group */
            }
            it->s = db->seal_scratch + total;
            for (size_t j = 0; j < it->k; j++)
                it->s[j] = (hist_msample){bv.ts[j], j, bv.v[j], bv.q[j]};
            membuf__view_release(&bv);
            total += it->k;
            nitems++;
        }
        mu_unlock(&db->mu);
        if (rc == 0 && nitems)
            rc = seal_group(db, items, nitems);
        memset(items, 0, nitems * sizeof(*items));
    }
    free(items);
    return rc;
}

int seal__all(hist_db *db)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    mu_lock(&db->mu);
    size_t n = db->ndirty;
    uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (ids && n)
        memcpy(ids, db->dirty, n * sizeof(*ids));
    mu_unlock(&db->mu);
    if (!ids)
        return HIST_ENOMEM;
    int rc = seal__tags(db, ids, n, SEAL_WHOLE);
    free(ids);
    return rc;
}

static bool wal_over_budget(hist_db *db);
static size_t oldest_quarter(hist_db *db, uint32_t **out);

/* What a buffer's runs take in a run record once it is frozen whole: its
 * runs, and its raw samples at an eighth of their bytes (3.5 B a sample;
 * the plant data freezes to 1-3). */
static size_t log_estimate(const hist_membuf *b)
{
    return (b->fz ? membuf_frozen_size(b->fz) : 0) + b->nraw * HIST_MEMBUF_SAMPLE_BYTES / 8;
}

/* Which dirty buffers a close step takes (mu held). */
typedef bool (*dirty_filter)(hist_db *db, const hist_membuf *b);

/* The ids of the dirty tags whose buffers want takes (mu held): the count,
 * with the ids in *out (malloc'd; NULL when out of memory). */
static size_t dirty_ids(hist_db *db, dirty_filter want, uint32_t **out)
{
    HIST_ASSERT(mu_held(&db->mu));
    size_t n = 0;
    uint32_t *ids = malloc((db->ndirty ? db->ndirty : 1) * sizeof(*ids));
    for (size_t i = 0; ids && i < db->ndirty; i++)
        if (want(db, &db->tags[db->dirty[i]]->buf))
            ids[n++] = db->dirty[i];
    *out = ids;
    return n;
}

static bool holds_samples(hist_db *db, const hist_membuf *b)
{
    (void)db;
    return membuf__count(b) > 0;
}

static bool sealed_at_close(hist_db *db, const hist_membuf *b)
{
    return !close_keeps(db, b, membuf__count(b));
}

/* A lazy close over the WAL budget: every buffer logged, when their bytes
 * fit half the budget; then the checkpoint. */
static int close_log_all(hist_db *db)
{
    uint32_t *ids;
    size_t bytes = 0;
    mu_lock(&db->mu);
    size_t n = dirty_ids(db, holds_samples, &ids);
    for (size_t i = 0; ids && i < n; i++)
        bytes += log_estimate(&db->tags[ids[i]]->buf);
    mu_unlock(&db->mu);
    if (!ids)
        return HIST_ENOMEM;
    int rc = 0;
    if (n && bytes <= db->opts.wal_bytes / 2) {
        rc = runlog__tags(db, ids, n);
        if (rc == 0)
            rc = seal__checkpoint(db);
    }
    free(ids);
    return rc;
}

int seal__close(hist_db *db)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    uint32_t *ids;
    mu_lock(&db->mu);
    size_t n = dirty_ids(db, sealed_at_close, &ids);
    mu_unlock(&db->mu);
    if (!ids)
        return HIST_ENOMEM;
    int rc = seal__tags(db, ids, n, SEAL_CLOSE);
    free(ids);
    if (rc == 0)
        rc = seal__checkpoint(db);
    /* The WAL keeps every record from the oldest unsealed write on: what
     * stays must fit its budget, as while running. First every buffer is
     * logged (runlog.c) when their bytes fit half the budget: the next
     * open replays their runs, compressed, and nothing short is sealed. */
    if (rc == 0 && wal_over_budget(db))
        rc = close_log_all(db);
    /* Then (the runs did not fit) the oldest quarter, whole: each round
     * seals at least one buffer, so this ends. */
    while (rc == 0 && wal_over_budget(db)) {
        mu_lock(&db->mu);
        n = oldest_quarter(db, &ids);
        mu_unlock(&db->mu);
        if (n == 0)
            break;
        atomic_fetch_add(&db->seals_wal, n);
        rc = seal__tags(db, ids, n, SEAL_WHOLE);
        free(ids);
        if (rc == 0)
            rc = seal__checkpoint(db);
    }
    /* Invariant: a lazy close leaves at most wal_bytes of closed WAL
     * segments (or an empty memtable, whose log close discards). */
    HIST_ASSERT(rc != 0 || db->mem_samples == 0 || !wal_over_budget(db));
    return rc;
}

/* ---- Checkpoint ------------------------------------------------------------------------ */

typedef struct {
    uint64_t checkpoint, durable;
} ckpt_args;

static int ckpt_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    const ckpt_args *a = arg;
    int rc = index__meta_put(idx, txn, "checkpoint", a->checkpoint);
    return rc ? rc : index__meta_put(idx, txn, "wal_durable", a->durable);
}

/* The durable LSN is written with the checkpoint, and on its own at most
 * once a second, so that recovery can tell a log cut at a record boundary
 * (or emptied) from an intact one (db.c, note_missing_tail). */
#define DURABLE_NOTE_EVERY_NS INT64_C(1000000000)

int seal__checkpoint(hist_db *db)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    uint64_t durable = wal__durable_lsn(db->wal);
    mu_lock(&db->mu);
    uint64_t ckpt = wal__last_lsn(db->wal) + 1;
    for (size_t i = 0; i < db->ndirty; i++) {
        hist_tag_state *t = db->tags[db->dirty[i]];
        if (membuf__count(&t->buf) > 0 && membuf__oldest_lsn(&t->buf) < ckpt)
            ckpt = membuf__oldest_lsn(&t->buf);
    }
    mu_unlock(&db->mu);
    int64_t now = clock__mono_ns();
    bool note =
        durable > db->seen_durable_lsn && now - db->last_durable_note_ns >= DURABLE_NOTE_EVERY_NS;
    if (ckpt <= db->checkpoint_lsn && !note) /* still lets the WAL drop segments it rolled past */
        return wal__checkpoint(db->wal, db->checkpoint_lsn);
    if (ckpt < db->checkpoint_lsn)
        ckpt = db->checkpoint_lsn;
    ckpt_args a = {ckpt, durable > db->seen_durable_lsn ? durable : db->seen_durable_lsn};
    int rc = index__write(&db->idx, ckpt_txn, &a);
    if (rc)
        return rc;
    db->checkpoint_lsn = ckpt;
    db->seen_durable_lsn = a.durable;
    db->last_durable_note_ns = now;
    return wal__checkpoint(db->wal, ckpt);
}

/* ---- The sealer thread -------------------------------------------------------------------- */

typedef struct {
    uint32_t id;
    int64_t first;
    size_t bytes;     /* the buffer's */
    size_t raw_bytes; /* of its raw samples worth freezing (freeze__worth) */
    size_t any_bytes; /* what freezing all its durable raw samples frees (FREEZE_DEEP) */
    size_t n;         /* samples buffered */
    uint64_t lsn;     /* the buffer's oldest write (read for the WAL budget only) */
} pressure_item;

static int lsn_cmp(const void *a, const void *b)
{
    const pressure_item *x = a, *y = b;
    return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

/* Memory pressure: the longest buffers first (the fewest chunks, and the
 * longest, for the bytes freed), the oldest of equal ones first. */
static int pressure_cmp(const void *a, const void *b)
{
    const pressure_item *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Freezing: the most raw bytes worth freezing first. */
static int raw_cmp(const void *a, const void *b)
{
    const pressure_item *x = a, *y = b;
    return x->raw_bytes > y->raw_bytes ? -1 : x->raw_bytes < y->raw_bytes;
}

/* ... by all their durable raw bytes (FREEZE_DEEP). */
static int any_cmp(const void *a, const void *b)
{
    const pressure_item *x = a, *y = b;
    return x->any_bytes > y->any_bytes ? -1 : x->any_bytes < y->any_bytes;
}

static bool wal_over_budget(hist_db *db)
{
    hist_wal_stats ws;
    wal__get_stats(db->wal, &ws);
    return ws.closed_bytes > db->opts.wal_bytes;
}

/* Sorts all[0, na) by their buffers' oldest record in the WAL, the oldest
 * first (mu held). */
static void sort_oldest_first(hist_db *db, pressure_item *all, size_t na)
{
    for (size_t i = 0; i < na; i++)
        all[i].lsn = membuf__oldest_lsn(&db->tags[all[i].id]->buf);
    qsort(all, na, sizeof(*all), lsn_cmp);
}

/* The quarter of the buffers holding the oldest writes (mu held): what
 * relieves the WAL, which keeps every record from the oldest unsealed
 * write on. Returns the count put in *out (malloc'd). */
static size_t oldest_quarter(hist_db *db, uint32_t **out)
{
    HIST_ASSERT(mu_held(&db->mu));
    pressure_item *all = malloc((db->ndirty ? db->ndirty : 1) * sizeof(*all));
    uint32_t *ids = malloc((db->ndirty ? db->ndirty : 1) * sizeof(*ids));
    size_t na = 0, k = 0;
    for (size_t i = 0; all && ids && i < db->ndirty; i++) {
        hist_tag_state *t = db->tags[db->dirty[i]];
        if (membuf__count(&t->buf) > 0)
            all[na++] = (pressure_item){.id = t->id};
    }
    if (all && ids && na) {
        sort_oldest_first(db, all, na);
        for (; k < (na + 3) / 4; k++)
            ids[k] = all[k].id;
    }
    free(all);
    if (k == 0)
        free(ids), ids = NULL;
    *out = ids;
    return k;
}

/* What the sealer does next: ids[0, ndue) are full or old (sealed holding
 * their current window), ids[ndue, ndue + nfreeze) are frozen in memory,
 * the next nlog logged (runlog.c: the WAL budget), the rest to n sealed
 * whole (memory or WAL pressure). */
typedef struct {
    uint32_t *ids;
    size_t ndue, nfreeze, nlog, n;
    freeze_mode freeze; /* of ids[ndue, ndue + nfreeze) */
} seal_pick;

/* Memory pressure: freeze when the raw samples worth freezing are at least
 * this share of the budget (1/FREEZE_SHARE), or would free what is needed;
 * else freezing frees too little, and the longest buffers are sealed. */
#define FREEZE_SHARE 8

/* Picks buffers to freeze in mode (FREEZE_PRESSURE: by raw_bytes,
 * FREEZE_DEEP: by any_bytes), those that free the most first, until what
 * they free (about 9/10: a run keeps 1-3 B of a sample's 28) brings left
 * to target. all[] is left sorted; returns how many of it were taken, and
 * *freed what they free. */
static size_t pick_freezes(pressure_item *all, size_t na, size_t left, size_t target,
                           freeze_mode mode, seal_pick *p, size_t *freed)
{
    bool deep = mode == FREEZE_DEEP;
    qsort(all, na, sizeof(*all), deep ? any_cmp : raw_cmp);
    size_t f = 0, i = 0;
    for (; i < na && left - f > target; i++) {
        size_t b = deep ? all[i].any_bytes : all[i].raw_bytes;
        if (b == 0)
            break; /* sorted: no more to free */
        p->ids[p->n++] = all[i].id;
        f += b / 10 * 9;
    }
    p->nfreeze = p->n - p->ndue;
    p->freeze = mode;
    *freed = f;
    return i;
}

/* Over budget (mu held): all[0, na) are the buffers not due, due_bytes
 * what the due ones (sealed first) free. Puts the ones to freeze or seal
 * after p->ndue. */
static void pick_pressure(hist_db *db, pressure_item *all, size_t na, size_t due_bytes,
                          seal_pick *p)
{
    size_t left = db->mem_bytes - (due_bytes < db->mem_bytes ? due_bytes : db->mem_bytes);
    if (left <= db->opts.memtable_bytes)
        return; /* the due seals are enough */
    size_t target = db->opts.memtable_bytes / 4 * 3;
    size_t freezable = 0;
    for (size_t i = 0; i < na; i++)
        freezable += all[i].raw_bytes;
    /* A freeze keeps about a tenth of the raw bytes (1-3 B of 28 a sample). */
    if (freezable >= db->opts.memtable_bytes / FREEZE_SHARE ||
        freezable / 10 * 9 >= left - target) {
        /* The most raw bytes first: fewer, longer freezes (each run
         * written is encoded again when it merges). */
        size_t freed;
        pick_freezes(all, na, left, target, FREEZE_PRESSURE, p, &freed);
        return;
    }
    /* Second answer: every durable raw sample, however few a buffer has
     * (FREEZE_DEEP), the buffers that free the most first. At many slow
     * tags most buffers hold one to three raw samples, under FREEZE_MIN,
     * in a block of four (112 B) beside their runs: at 1 M tags x 0.1 Hz
     * the first answer found 12 MB worth freezing when 67 MB had to go,
     * and the round sealed 230,000 buffers of about 20 samples whole.
     * Freezing every raw sample frees the block and seals nothing; each
     * merges with its newest run, so runs stay few. */
    size_t freed;
    size_t i = pick_freezes(all, na, left, target, FREEZE_DEEP, p, &freed);
    /* Last answer, for what freezing cannot free (the runs themselves
     * outgrew the budget): the longest of the other buffers go whole
     * until we are at 3/4 of the budget (not every dirty tag: the short
     * ones keep growing). */
    qsort(all + i, na - i, sizeof(*all), pressure_cmp);
    size_t have = left - (freed < left ? freed : left);
    for (size_t j = i; j < na && have > target; j++) {
        p->ids[p->n++] = all[j].id;
        have -= all[j].bytes < have ? all[j].bytes : have;
    }
    /* Invariant: what is picked (with the due ones) brings the count to 3/4
     * of the budget once frozen or sealed, unless every buffer is picked. */
    HIST_ASSERT(have <= target || p->n - p->ndue == na);
    atomic_fetch_add(&db->seals_memory, p->n - p->ndue - p->nfreeze);
}

/* The WAL budget (mu held, nothing else picked): the quarter of the
 * buffers holding the oldest records. They are logged (runlog.c: no chunk,
 * their runs written to the WAL again, compressed) when their bytes fit a
 * quarter of the budget, so that four rounds of it cannot fill the log;
 * and when their oldest record is older than the last logging round's
 * start: else the log since that round is over the budget by itself, and
 * logging again would only grow it. Otherwise they are sealed whole. */
static void pick_wal(hist_db *db, pressure_item *all, size_t na, seal_pick *p)
{
    sort_oldest_first(db, all, na);
    size_t bytes = 0;
    for (size_t i = 0; i < (na + 3) / 4; i++) {
        p->ids[p->n++] = all[i].id;
        bytes += log_estimate(&db->tags[all[i].id]->buf);
    }
    if (bytes <= db->opts.wal_bytes / 4 && all[0].lsn < db->runlog_floor_lsn) {
        p->nlog = p->n - p->ndue;
        db->runlog_floor_lsn = wal__last_lsn(db->wal) + 1;
    } else
        atomic_fetch_add(&db->seals_wal, p->n - p->ndue);
}

/* Whether a buffer holding count samples is sealed now, holding its
 * current window: full, old, or the db stopping (mu held). */
static bool buffer_due(hist_db *db, const hist_tag_state *t, size_t count, int64_t now)
{
    return count >= db->opts.chunk_samples ||
           now - t->buf.first_write_ns >= db->opts.chunk_max_age_ns || db->stop;
}

/* The buffers not due, for a round under memory or WAL pressure (mu held):
 * na of them, into a new array (NULL when out of memory). */
static pressure_item *pressure_items(hist_db *db, size_t na, int64_t now)
{
    pressure_item *all = malloc(na * sizeof(*all));
    uint64_t durable = wal__durable_lsn(db->wal);
    size_t k = 0;
    for (size_t i = 0; all && i < db->ndirty; i++) {
        hist_tag_state *t = db->tags[db->dirty[i]];
        size_t count = membuf__count(&t->buf);
        if (count == 0 || buffer_due(db, t, count, now))
            continue;
        /* A freeze of every raw sample frees the whole raw block. */
        size_t raw = freeze__durable_raw(&t->buf, durable);
        size_t any = raw && raw == t->buf.nraw ? t->buf.cap : raw;
        all[k++] = (pressure_item){t->id,
                                   t->buf.first_write_ns,
                                   membuf__bytes(&t->buf),
                                   freeze__worth(raw) * HIST_MEMBUF_SAMPLE_BYTES,
                                   any * HIST_MEMBUF_SAMPLE_BYTES,
                                   count,
                                   0};
    }
    HIST_ASSERT(!all || k == na); /* mu held since the count */
    return all;
}

/* Picks what the sealer does now (mu held). Returns false when nothing.
 * The sealer walks every dirty tag ten times a second, and at a million
 * tags an array of every buffer (56 bytes each) was 56 MB mapped, faulted
 * in and unmapped at each walk: it is made only when a pressure round
 * needs it, and a walk with nothing but due buffers lists only those. */
static bool pick_tags(hist_db *db, seal_pick *p)
{
    HIST_ASSERT(mu_held(&db->mu));
    memset(p, 0, sizeof(*p));
    size_t n = db->ndirty, cap = 0;
    if (n == 0)
        return false;
    int64_t now = clock__mono_ns();
    size_t na = 0, due_bytes = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        hist_tag_state *t = db->tags[db->dirty[i]];
        size_t count = membuf__count(&t->buf);
        if (count == 0)
            continue;
        if (!buffer_due(db, t, count, now)) {
            na++;
            continue;
        }
        if ((rc = HIST_ARRAY_RESERVE(p->ids, cap, p->n + 1, 64)) == 0) {
            p->ids[p->n++] = t->id;
            due_bytes += membuf__bytes(&t->buf);
        }
    }
    p->ndue = p->n;
    /* The WAL's budget is read once here when memory is within its own,
     * and after pick_pressure only when that picked nothing (as before). */
    bool memory = db->mem_bytes > db->opts.memtable_bytes;
    bool wal = !memory && na && wal_over_budget(db);
    if (rc == 0 && na && (memory || wal)) {
        pressure_item *all = NULL;
        rc = HIST_ARRAY_RESERVE(p->ids, cap, p->ndue + na, 64);
        if (rc == 0 && !(all = pressure_items(db, na, now)))
            rc = HIST_ENOMEM;
        if (rc == 0 && memory)
            pick_pressure(db, all, na, due_bytes, p);
        if (rc == 0 && p->n == p->ndue && (wal || wal_over_budget(db)))
            pick_wal(db, all, na, p);
        free(all);
    }
    if (rc != 0 || p->n == 0) {
        free(p->ids);
        p->ids = NULL;
        return false;
    }
    return true;
}

/* Gives the allocator's free pages back to the system, at most once every
 * TRIM_EVERY_NS, after rounds that froze or sealed (seal_mu held). The
 * buffers' blocks come and go in every size from 112 bytes up, and glibc
 * keeps what they free inside its arenas: at a million tags that was 200 MB
 * of resident memory holding nothing, and growing. malloc_trim() returns
 * every whole free page inside an arena (MADV_DONTNEED), not only the top;
 * it holds an arena's lock while it walks it, so it runs rarely. */
#define TRIM_EVERY_NS (5 * 1000000000ll)
#define TRIM_SLOW_NS  (20 * 1000000ll)

static void give_memory_back(hist_db *db)
{
#ifdef __GLIBC__
    HIST_ASSERT(mu_held(&db->seal_mu));
    int64_t t0 = clock__mono_ns();
    if (t0 - db->last_trim_ns < TRIM_EVERY_NS)
        return;
    malloc_trim(0);
    int64_t t1 = clock__mono_ns();
    db->last_trim_ns = t1;
    hist_logf(&db->log, t1 - t0 > TRIM_SLOW_NS ? HIST_LOG_INFO : HIST_LOG_DEBUG,
              "memory: free pages given back in %.1f ms", (double)(t1 - t0) / 1e6);
#else
    (void)db;
#endif
}

static void *sealer_main(void *arg)
{
    hist_db *db = arg;
    mu_lock(&db->mu);
    while (!db->stop) {
        seal_pick p;
        if (!pick_tags(db, &p)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 100 * 1000000;
            if (until.tv_nsec >= 1000000000)
                until.tv_sec++, until.tv_nsec -= 1000000000;
            mu_wait(&db->seal_cv, &db->mu, &until);
            mu_unlock(&db->mu);
            (void)degraded__heal(db);
            mu_lock(&db->seal_mu);
            (void)seal__checkpoint(db); /* notes the durable LSN, at most once a second */
            retention__apply(db);
            mu_unlock(&db->seal_mu);
            mu_lock(&db->mu);
            continue;
        }
        mu_unlock(&db->mu);
        mu_lock(&db->seal_mu);
        int rc = seal__tags(db, p.ids, p.ndue, SEAL_HOLD);
        if (rc == 0 && p.nfreeze)
            rc = freeze__tags(db, p.ids + p.ndue, p.nfreeze, p.freeze);
        if (rc == 0 && p.nlog)
            rc = runlog__tags(db, p.ids + p.ndue + p.nfreeze, p.nlog);
        size_t whole = p.ndue + p.nfreeze + p.nlog;
        if (rc == 0 && p.n > whole)
            rc = seal__tags(db, p.ids + whole, p.n - whole, SEAL_WHOLE);
        /* A freeze moves no buffer's oldest LSN (a run keeps its records'),
         * so only a round that sealed can move the checkpoint; the durable
         * LSN is still noted once a second. */
        if (rc == 0 && (p.n > p.nfreeze ||
                        clock__mono_ns() - db->last_durable_note_ns >= DURABLE_NOTE_EVERY_NS))
            rc = seal__checkpoint(db);
        retention__apply(db);
        give_memory_back(db);
        mu_unlock(&db->seal_mu);
        free(p.ids);
        int64_t wait = degraded__note_seal(db, rc); /* logs a change of state only */
        (void)degraded__heal(db);                   /* a broken WAL comes back without writes */
        if (wait)
            degraded__backoff(db, wait);
        mu_lock(&db->mu);
    }
    mu_unlock(&db->mu);
    return NULL;
}

int seal__start(hist_db *db)
{
    if (pthread_create(&db->sealer, NULL, sealer_main, db) != 0)
        return HIST_ENOMEM;
    db->has_sealer = 1;
    return 0;
}

void seal__stop(hist_db *db)
{
    if (!db->has_sealer)
        return;
    pthread_join(db->sealer, NULL);
    db->has_sealer = 0;
}
