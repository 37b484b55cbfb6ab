/*
 * seal.c: turning memtable buffers into chunks, the WAL checkpoint, and the
 * background sealer thread.
 *
 * Sealing a group of tags (seal_mu held throughout):
 *   0. sync the WAL: only durable writes are sealed (see hist_seal_tags);
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

#include "common/hist_assert.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/chunk.h"
#include "storage/crc32c.h"

/* ---- Building one chunk ------------------------------------------------------ */

static void stats_compute(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                          size_t n, hist_chunk_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->start_ts = ts[0];
    st->end_ts = ts[n - 1];
    st->count = (uint32_t)n;
    st->first_v = v[0];
    st->last_v = v[n - 1];
    st->first_q = q ? q[0] : 0;
    st->last_q = q ? q[n - 1] : 0;
    double mn = 0, mx = 0, sum = 0, sumsq = 0;
    size_t imin = 0, imax = 0;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t qi = q ? q[i] : 0;
        if (hist_quality_is_bad(qi))
            st->bad_count++;
        if (!hist_quality_is_good(qi))
            st->nongood_count++;
        double d = hist_value_as_double(type, v[i]);
        if (d != d) {
            st->nan_count++;
            continue;
        }
        /* Strict comparisons keep the earliest sample of equal extremes. */
        if (!any || d < mn)
            mn = d, imin = i;
        if (!any || d > mx)
            mx = d, imax = i;
        any = 1;
        sum += d;
        sumsq += d * d;
    }
    st->min = any ? mn : __builtin_nan("");
    st->max = any ? mx : __builtin_nan("");
    st->sum = sum;
    st->sumsq = sumsq;
    st->min_ts = ts[imin], st->min_v = v[imin], st->min_q = q ? q[imin] : 0;
    st->max_ts = ts[imax], st->max_v = v[imax], st->max_q = q ? q[imax] : 0;
    bool linear = type == HIST_TYPE_FLOAT64;
    for (size_t i = 1; i < n; i++) {
        double a = hist_value_as_double(type, v[i - 1]), b = hist_value_as_double(type, v[i]);
        double secs = (double)(ts[i] - ts[i - 1]) / 1e9;
        st->tw_integral += (linear ? (a + b) / 2 : a) * secs;
        if (a != 0)
            st->true_seconds += secs;
        st->increase += b >= a ? b - a : b;
    }
}

/* Stats over the samples that are neither Bad nor NaN: what an aggregate
 * counts by default (query/agg.c), so a chunk with a few Bad samples is
 * still answered from the index. */
static int counted_stats(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                         size_t n, hist_chunk_stats *st)
{
    int64_t *cts = malloc(n * sizeof(*cts));
    hist_value *cv = malloc(n * sizeof(*cv));
    uint32_t *cq = malloc(n * sizeof(*cq));
    int rc = (!cts || !cv || !cq) ? HIST_ENOMEM : 0;
    size_t m = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!hist_sample_counted(type, v[i], q ? q[i] : 0, false))
            continue;
        cts[m] = ts[i], cv[m] = v[i], cq[m] = q ? q[i] : 0;
        m++;
    }
    if (rc == 0 && m > 0)
        stats_compute(type, cts, cv, cq, m, st);
    else
        memset(st, 0, sizeof(*st));
    free(cts), free(cv), free(cq);
    return rc;
}

int hist_chunk_stats_fill(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                          size_t n, hist_chunk_ref *ref)
{
    stats_compute(type, ts, v, q, n, &ref->stats);
    if (ref->stats.bad_count == 0 && ref->stats.nan_count == 0)
        return 0;
    ref->flags |= HIST_CHUNK_HAS_COUNTED;
    return counted_stats(type, ts, v, q, n, &ref->counted);
}

int hist_chunk_build(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                     size_t n, uint8_t **buf, hist_chunk_ref *ref)
{
    size_t cap = hist_chunk_bound(n);
    uint8_t *b = malloc(cap);
    if (!b)
        return HIST_ENOMEM;
    int64_t len = hist_chunk_encode(type, ts, v, q, n, b, cap);
    if (len <= 0) {
        free(b);
        return len < 0 ? (int)len : HIST_EINVAL;
    }
    hist_chunk_info info;
    memset(&info, 0, sizeof(info));
    (void)hist_chunk_peek(b, (size_t)len, &info);
    memset(ref, 0, sizeof(*ref));
    ref->length = (uint32_t)len;
    ref->crc = hist_crc32c(0, b, (size_t)len);
    ref->ts_codec = info.ts_codec;
    ref->value_codec = info.value_codec;
    ref->quality_codec = info.quality_codec;
    int rc = hist_chunk_stats_fill(type, ts, v, q, n, ref);
    if (rc) {
        free(b);
        return rc;
    }
    *buf = b;
    return 0;
}

/* ---- Cutting samples into chunks -------------------------------------------------- */

/*
 * Chunk boundaries follow the clock. A run of samples ends at the first
 * multiple of `align` (1 h by default, counted from the Unix epoch) once it
 * holds at least cs/16 samples, or at cs samples. For a 1 Hz tag that makes
 * one chunk per UTC hour, so an hourly, daily or shift bucket (whole hours
 * in zones with whole-hour offsets) is a union of whole chunks and the
 * query engine answers it from chunk statistics alone. A slow tag does not
 * get tiny chunks: below cs/16 samples a run goes on across the boundary.
 */
size_t hist_chunk_run(const hist_msample *s, size_t n, uint32_t cs, int64_t align)
{
    size_t max = n < cs ? n : cs;
    if (align <= 0 || max == 0)
        return max;
    size_t min = cs / 16 ? cs / 16 : 1;
    int64_t window = hist_align_floor(s[0].ts, align);
    for (size_t i = 1; i < max; i++) {
        if (s[i].ts - window < align)
            continue;
        if (i >= min)
            return i;
        window = hist_align_floor(s[i].ts, align);
    }
    return max;
}

void hist_chunk_batch_free(hist_chunk_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->bufs[i]);
    free(b->bufs), free(b->refs);
    free(b->ts), free(b->v), free(b->q);
    memset(b, 0, sizeof(*b));
}

/* Makes room for one more chunk in the batch. */
static int batch_grow(hist_chunk_batch *b)
{
    if (b->n < b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 16;
    uint8_t **nb = realloc(b->bufs, cap * sizeof(*nb));
    if (!nb)
        return HIST_ENOMEM;
    b->bufs = nb;
    hist_chunk_ref *nr = realloc(b->refs, cap * sizeof(*nr));
    if (!nr)
        return HIST_ENOMEM;
    b->refs = nr;
    b->cap = cap;
    return 0;
}

int hist_chunk_batch_add(hist_db *db, hist_chunk_batch *b, uint32_t tag, hist_type type,
                         const hist_msample *s, size_t n)
{
    uint32_t cs = db->opts.chunk_samples;
    if (!b->ts) {
        b->ts = malloc(cs * sizeof(*b->ts));
        b->v = malloc(cs * sizeof(*b->v));
        b->q = malloc(cs * sizeof(*b->q));
    }
    int rc = (!b->ts || !b->v || !b->q) ? HIST_ENOMEM : 0;
    for (size_t off = 0; off < n && rc == 0;) {
        size_t m = hist_chunk_run(s + off, n - off, cs, db->opts.chunk_align_ns);
        for (size_t j = 0; j < m; j++)
            b->ts[j] = s[off + j].ts, b->v[j] = s[off + j].v, b->q[j] = s[off + j].q;
        off += m;
        if ((rc = batch_grow(b)) != 0)
            break;
        rc = hist_chunk_build(type, b->ts, b->v, b->q, m, &b->bufs[b->n], &b->refs[b->n]);
        if (rc == 0)
            b->refs[b->n++].tag = tag;
    }
    return rc;
}

/* ---- Committing chunks --------------------------------------------------------- */

typedef struct {
    hist_db *db;
    hist_chunk_ref *refs;
    size_t n;
    const hist_chunk_ref *dels;
    size_t ndels;
    hist_index_tag *tags; /* tag rows to store */
    size_t ntags;
    uint64_t next_seq;
} commit_ctx;

static int commit_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    commit_ctx *c = arg;
    int rc = 0;
    for (size_t i = 0; i < c->ndels && rc == 0; i++)
        rc = hist_index_del_chunk(idx, txn, &c->dels[i]);
    for (size_t i = 0; i < c->n && rc == 0; i++)
        rc = hist_index_put_chunk(idx, txn, &c->refs[i]);
    for (size_t i = 0; i < c->ntags && rc == 0; i++)
        rc = hist_index_put_tag(idx, txn, &c->tags[i]);
    if (rc == 0)
        rc = hist_meta_put(idx, txn, "next_seq", c->next_seq);
    return rc;
}

/* Finds or adds tag id in the list of rows to store (copied from cache). */
static hist_index_tag *commit_tag(hist_db *db, commit_ctx *c, size_t cap, uint32_t id)
{
    for (size_t i = 0; i < c->ntags; i++)
        if (c->tags[i].id == id)
            return &c->tags[i];
    if (c->ntags == cap)
        return NULL;
    hist_tag_state *t = hist_db_tag(db, id);
    if (!t)
        return NULL;
    c->tags[c->ntags] = t->meta;
    return &c->tags[c->ntags++];
}

/* Keeps a tag's newest sealed sample current (mu held): a new chunk has
 * the highest seq, so it wins a tie. */
static void note_sealed_latest(hist_tag_state *t, const hist_chunk_ref *ref)
{
    if (!t || ref->stats.count == 0)
        return;
    if (t->has_sealed_latest && ref->stats.end_ts < t->sealed_latest.ts)
        return;
    t->has_sealed_latest = 1;
    t->sealed_latest = (hist_sample){ref->stats.end_ts, ref->stats.last_v, ref->stats.last_q};
}

int hist_chunks_commit(hist_db *db, uint8_t **bufs, hist_chunk_ref *refs, size_t n,
                       const hist_chunk_ref *dels, size_t ndels, const uint32_t *flushed_tags,
                       const uint64_t *flushed_lsns, size_t nflushed)
{
    int rc = 0;
    if (n > 0) {
        struct iovec *iov = malloc(n * sizeof(*iov));
        uint64_t *offs = malloc(n * sizeof(*offs));
        uint32_t segno = 0;
        if (!iov || !offs)
            rc = HIST_ENOMEM;
        for (size_t i = 0; i < n && rc == 0; i++)
            iov[i] = (struct iovec){bufs[i], refs[i].length};
        if (rc == 0)
            rc = hist_segs_append(&db->segs, iov, (int)n, &segno, offs);
        for (size_t i = 0; i < n && rc == 0; i++) {
            refs[i].segment = segno;
            refs[i].offset = offs[i];
        }
        free(iov);
        free(offs);
        if (rc)
            return rc;
    }
    commit_ctx c = {.db = db, .refs = refs, .n = n, .dels = dels, .ndels = ndels};
    size_t cap = n + nflushed + 1;
    c.tags = calloc(cap, sizeof(*c.tags));
    if (!c.tags)
        return HIST_ENOMEM;
    for (size_t i = 0; i < n; i++)
        refs[i].seq = db->next_seq++;
    c.next_seq = db->next_seq;

    pthread_mutex_lock(&db->tag_mu);
    pthread_mutex_lock(&db->mu);
    /* Raise max spans in the cache before the entries become visible: a
     * scan seeks (from - max_span), and an overestimate is harmless. */
    for (size_t i = 0; i < n; i++) {
        hist_tag_state *t = hist_db_tag(db, refs[i].tag);
        int64_t span = refs[i].stats.end_ts - refs[i].stats.start_ts;
        if (t && span > t->meta.max_span)
            t->meta.max_span = span;
        hist_index_tag *row = commit_tag(db, &c, cap, refs[i].tag);
        if (row && span > row->max_span)
            row->max_span = span;
    }
    for (size_t i = 0; i < nflushed; i++) {
        hist_index_tag *row = commit_tag(db, &c, cap, flushed_tags[i]);
        if (row && flushed_lsns[i] > row->flushed_lsn)
            row->flushed_lsn = flushed_lsns[i];
    }
    pthread_mutex_unlock(&db->mu);
    rc = hist_index_write(&db->idx, commit_txn, &c);
    if (rc == 0) {
        pthread_mutex_lock(&db->mu);
        for (size_t i = 0; i < c.ntags; i++) {
            hist_tag_state *t = hist_db_tag(db, c.tags[i].id);
            if (t && c.tags[i].flushed_lsn > t->meta.flushed_lsn)
                t->meta.flushed_lsn = c.tags[i].flushed_lsn;
        }
        for (size_t i = 0; i < n; i++)
            note_sealed_latest(hist_db_tag(db, refs[i].tag), &refs[i]);
        pthread_mutex_unlock(&db->mu);
        uint64_t samples = 0, bytes = 0, dsamples = 0, dbytes = 0;
        for (size_t i = 0; i < n; i++)
            samples += refs[i].stats.count, bytes += refs[i].length;
        for (size_t i = 0; i < ndels; i++)
            dsamples += dels[i].stats.count, dbytes += dels[i].length;
        atomic_fetch_add(&db->chunks, n);
        atomic_fetch_sub(&db->chunks, ndels);
        atomic_fetch_add(&db->samples_sealed, samples);
        atomic_fetch_sub(&db->samples_sealed, dsamples);
        atomic_fetch_add(&db->bytes_chunks, bytes);
        atomic_fetch_sub(&db->bytes_chunks, dbytes);
    } else {
        hist_db_log(db, HIST_LOG_ERROR, "index commit of %zu chunks failed: %s", n,
                    hist_strerror(rc));
    }
    pthread_mutex_unlock(&db->tag_mu);
    free(c.tags);
    return rc;
}

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
        items[i].n = hist_msamples_sort_dedupe(items[i].s, items[i].k);
        rc = hist_chunk_batch_add(db, &b, items[i].id, items[i].type, items[i].s, items[i].n);
    }
    if (rc == 0)
        rc = hist_chunks_commit(db, b.bufs, b.refs, b.n, NULL, 0, ftags, flsns, nitems);
    if (rc == 0)
        atomic_fetch_add(&db->chunks_sealed, b.n);
    hist_chunk_batch_free(&b);
    free(ftags), free(flsns);
    if (rc)
        return rc;
    /* Drop the sealed prefixes. */
    pthread_mutex_lock(&db->mu);
    int64_t now = hist_mono_ns();
    for (size_t i = 0; i < nitems; i++) {
        hist_tag_state *t = hist_db_tag(db, items[i].id);
        int64_t d = hist_membuf_drop_prefix(&t->buf, items[i].k, now);
        db->mem_bytes -= (size_t)(-d);
        db->mem_samples -= items[i].k;
    }
    size_t w = 0;
    for (size_t i = 0; i < db->ndirty; i++) {
        hist_tag_state *t = db->tags[db->dirty[i]];
        if (t->buf.n > 0)
            db->dirty[w++] = db->dirty[i];
        else
            t->in_dirty = 0;
    }
    db->ndirty = w;
    pthread_cond_broadcast(&db->room_cv);
    pthread_mutex_unlock(&db->mu);
    return 0;
}

/* Up to 256K samples per group (an 8 MiB snapshot buffer, reused). */
#define SEAL_GROUP_SAMPLES (1u << 18)

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
static size_t held_prefix(hist_db *db, const hist_tag_state *t, size_t k)
{
    int64_t align = db->opts.chunk_align_ns;
    if (align <= 0 || k == 0 || db->stop)
        return k;
    int64_t window = hist_align_floor(t->buf.ts[k - 1], align);
    size_t j = 0;
    while (j < k && t->buf.ts[j] < window)
        j++;
    /* Rule 1 (see the top of this file): the cut falls between two WAL
     * records, never inside one. A request's samples can cross the window
     * boundary; its record then stays whole in memory. */
    while (j > 0 && j < k && t->buf.lsn[j - 1] == t->buf.lsn[j])
        j--;
    return j > 0 && k - j < db->opts.chunk_samples ? j : k;
}

/* Rule 1 at the place it is relied on: sealing the first k samples of a
 * buffer moves the tag's flushed point to lsn[k-1], so no sample after the
 * k-th may carry that LSN. */
static bool cut_at_record_boundary(const hist_membuf *b, size_t k)
{
    return k == 0 || k == b->n || b->lsn[k - 1] < b->lsn[k];
}

int hist_seal_tags(hist_db *db, const uint32_t *ids, size_t n, bool hold_tail)
{
    seal_item *items = calloc(n ? n : 1, sizeof(*items));
    if (!items)
        return HIST_ENOMEM;
    /* Seal only durable writes: a chunk must never hold a write whose WAL
     * record a crash could lose, because after a restart the WAL hands out
     * that LSN again and recovery would skip the new write as "flushed". */
    int rc = hist_db_sync(db, hist_wal_last_lsn(db->wal));
    if (rc == HIST_EDISKFULL || rc == HIST_EIO)
        rc = 0; /* a broken log: what is durable can still be sealed (the
                   refused writes are out of the buffers: hist_db_sync) */
    uint64_t durable = hist_wal_durable_lsn(db->wal);
    if (rc == 0 && db->seal_scratch_cap < SEAL_GROUP_SAMPLES) {
        free(db->seal_scratch);
        db->seal_scratch = malloc(SEAL_GROUP_SAMPLES * sizeof(*db->seal_scratch));
        db->seal_scratch_cap = db->seal_scratch ? SEAL_GROUP_SAMPLES : 0;
        if (!db->seal_scratch)
            rc = HIST_ENOMEM;
    }
    size_t i = 0;
    while (i < n && rc == 0) {
        size_t nitems = 0, total = 0;
        pthread_mutex_lock(&db->mu);
        for (; i < n && total < SEAL_GROUP_SAMPLES; i++) {
            hist_tag_state *t = hist_db_tag(db, ids[i]);
            size_t k = t ? t->buf.n : 0;
            while (k > 0 && t->buf.lsn[k - 1] > durable)
                k--;
            size_t durable_k = k;
            if (hold_tail)
                k = held_prefix(db, t, k);
            if (k == 0)
                continue;
            if (k < durable_k)
                atomic_fetch_add(&db->seals_held, 1);
            HIST_ASSERT(cut_at_record_boundary(&t->buf, k));
            seal_item *it = &items[nitems];
            it->id = ids[i];
            it->type = (hist_type)t->meta.type;
            it->k = k;
            it->lsn = t->buf.lsn[it->k - 1];
            if (total + k > db->seal_scratch_cap) {
                if (nitems)
                    break; /* seal what we have; this tag starts the next group */
                hist_msample *ns = malloc(k * sizeof(*ns));
                if (!ns) {
                    rc = HIST_ENOMEM;
                    break;
                }
                free(db->seal_scratch);
                db->seal_scratch = ns;
                db->seal_scratch_cap = k;
            }
            it->s = db->seal_scratch + total;
            for (size_t j = 0; j < it->k; j++)
                it->s[j] = (hist_msample){t->buf.ts[j], j, t->buf.v[j], t->buf.q[j]};
            total += it->k;
            nitems++;
        }
        pthread_mutex_unlock(&db->mu);
        if (rc == 0 && nitems)
            rc = seal_group(db, items, nitems);
        memset(items, 0, nitems * sizeof(*items));
    }
    free(items);
    return rc;
}

int hist_seal_all(hist_db *db)
{
    pthread_mutex_lock(&db->mu);
    size_t n = db->ndirty;
    uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (ids && n)
        memcpy(ids, db->dirty, n * sizeof(*ids));
    pthread_mutex_unlock(&db->mu);
    if (!ids)
        return HIST_ENOMEM;
    int rc = hist_seal_tags(db, ids, n, false);
    free(ids);
    return rc;
}

/* ---- Checkpoint ------------------------------------------------------------------------ */

typedef struct {
    uint64_t checkpoint, durable;
} ckpt_args;

static int ckpt_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    const ckpt_args *a = arg;
    int rc = hist_meta_put(idx, txn, "checkpoint", a->checkpoint);
    return rc ? rc : hist_meta_put(idx, txn, "wal_durable", a->durable);
}

/* The durable LSN is written with the checkpoint, and on its own at most
 * once a second, so that recovery can tell a log cut at a record boundary
 * (or emptied) from an intact one (db.c, note_missing_tail). */
#define DURABLE_NOTE_EVERY_NS INT64_C(1000000000)

int hist_checkpoint(hist_db *db)
{
    uint64_t durable = hist_wal_durable_lsn(db->wal);
    pthread_mutex_lock(&db->mu);
    uint64_t ckpt = hist_wal_last_lsn(db->wal) + 1;
    for (size_t i = 0; i < db->ndirty; i++) {
        hist_tag_state *t = db->tags[db->dirty[i]];
        if (t->buf.n > 0 && t->buf.lsn[0] < ckpt)
            ckpt = t->buf.lsn[0];
    }
    pthread_mutex_unlock(&db->mu);
    int64_t now = hist_mono_ns();
    bool note =
        durable > db->seen_durable_lsn && now - db->last_durable_note_ns >= DURABLE_NOTE_EVERY_NS;
    if (ckpt <= db->checkpoint_lsn && !note) /* still lets the WAL drop segments it rolled past */
        return hist_wal_checkpoint(db->wal, db->checkpoint_lsn);
    if (ckpt < db->checkpoint_lsn)
        ckpt = db->checkpoint_lsn;
    ckpt_args a = {ckpt, durable > db->seen_durable_lsn ? durable : db->seen_durable_lsn};
    int rc = hist_index_write(&db->idx, ckpt_txn, &a);
    if (rc)
        return rc;
    db->checkpoint_lsn = ckpt;
    db->seen_durable_lsn = a.durable;
    db->last_durable_note_ns = now;
    return hist_wal_checkpoint(db->wal, ckpt);
}

/* ---- The sealer thread -------------------------------------------------------------------- */

typedef struct {
    uint32_t id;
    int64_t first;
    size_t bytes;
    uint64_t lsn; /* the buffer's oldest write */
} pressure_item;

static int lsn_cmp(const void *a, const void *b)
{
    const pressure_item *x = a, *y = b;
    return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

static int pressure_cmp(const void *a, const void *b)
{
    const pressure_item *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static bool wal_over_budget(hist_db *db)
{
    hist_wal_stats ws;
    hist_wal_get_stats(db->wal, &ws);
    return ws.closed_bytes > db->opts.wal_bytes;
}

/* Picks the tags to seal now (mu held). Returns the count put in *out:
 * first the *ndue ones that are full or old (sealed holding their current
 * window), then those picked to relieve memory or WAL pressure (sealed whole). */
static size_t pick_tags(hist_db *db, uint32_t **out, size_t *ndue)
{
    size_t n = db->ndirty;
    if (n == 0)
        return 0;
    uint32_t *ids = malloc(n * sizeof(*ids));
    pressure_item *all = malloc(n * sizeof(*all));
    if (!ids || !all) {
        free(ids), free(all);
        return 0;
    }
    int64_t now = hist_mono_ns();
    size_t k = 0, na = 0;
    for (size_t i = 0; i < n; i++) {
        hist_tag_state *t = db->tags[db->dirty[i]];
        if (t->buf.n == 0)
            continue;
        if (t->buf.n >= db->opts.chunk_samples ||
            now - t->buf.first_write_ns >= db->opts.chunk_max_age_ns || db->stop)
            ids[k++] = t->meta.id;
        else
            all[na++] = (pressure_item){t->meta.id, t->buf.first_write_ns,
                                        hist_membuf_bytes(&t->buf), t->buf.lsn[0]};
    }
    *ndue = k;
    if (db->mem_bytes > db->opts.memtable_bytes && na) {
        /* Over budget: the oldest buffers go until we are at 3/4 of it. */
        qsort(all, na, sizeof(*all), pressure_cmp);
        size_t target = db->opts.memtable_bytes / 4 * 3;
        size_t have = db->mem_bytes;
        for (size_t i = 0; i < na && have > target; i++) {
            ids[k++] = all[i].id;
            have -= all[i].bytes < have ? all[i].bytes : have;
        }
        atomic_fetch_add(&db->seals_memory, k - *ndue);
    }
    if (k == *ndue && na && wal_over_budget(db)) {
        /* The log keeps every record from the oldest unsealed write on: seal
         * the quarter of the buffers holding the oldest writes, whole. */
        qsort(all, na, sizeof(*all), lsn_cmp);
        for (size_t i = 0; i < (na + 3) / 4; i++)
            ids[k++] = all[i].id;
        atomic_fetch_add(&db->seals_wal, k - *ndue);
    }
    free(all);
    if (k == 0) {
        free(ids);
        return 0;
    }
    *out = ids;
    return k;
}

static void maybe_retention(hist_db *db)
{
    if (db->opts.retention_ns <= 0)
        return;
    int64_t now = hist_mono_ns();
    if (db->last_retention_ns && now - db->last_retention_ns < INT64_C(10000000000))
        return;
    db->last_retention_ns = now;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    int64_t wall = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
    pthread_mutex_unlock(&db->seal_mu); /* drop_before takes it */
    (void)hist_db_drop_before(db, wall - db->opts.retention_ns);
    pthread_mutex_lock(&db->seal_mu);
}

static void *sealer_main(void *arg)
{
    hist_db *db = arg;
    pthread_mutex_lock(&db->mu);
    while (!db->stop) {
        uint32_t *ids = NULL;
        size_t ndue = 0, n = pick_tags(db, &ids, &ndue);
        if (n == 0) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 100 * 1000000;
            if (until.tv_nsec >= 1000000000)
                until.tv_sec++, until.tv_nsec -= 1000000000;
            pthread_cond_timedwait(&db->seal_cv, &db->mu, &until);
            pthread_mutex_unlock(&db->mu);
            (void)hist_db_heal(db);
            pthread_mutex_lock(&db->seal_mu);
            (void)hist_checkpoint(db); /* notes the durable LSN, at most once a second */
            maybe_retention(db);
            pthread_mutex_unlock(&db->seal_mu);
            pthread_mutex_lock(&db->mu);
            continue;
        }
        pthread_mutex_unlock(&db->mu);
        pthread_mutex_lock(&db->seal_mu);
        int rc = hist_seal_tags(db, ids, ndue, true);
        if (rc == 0 && n > ndue)
            rc = hist_seal_tags(db, ids + ndue, n - ndue, false);
        if (rc == 0)
            rc = hist_checkpoint(db);
        maybe_retention(db);
        pthread_mutex_unlock(&db->seal_mu);
        free(ids);
        int64_t wait = hist_db_note_seal(db, rc); /* logs a change of state only */
        (void)hist_db_heal(db);                   /* a broken WAL comes back without writes */
        if (wait)
            hist_db_backoff(db, wait);
        pthread_mutex_lock(&db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

int hist_sealer_start(hist_db *db)
{
    if (pthread_create(&db->sealer, NULL, sealer_main, db) != 0)
        return HIST_ENOMEM;
    db->has_sealer = 1;
    return 0;
}

void hist_sealer_stop(hist_db *db)
{
    if (!db->has_sealer)
        return;
    pthread_join(db->sealer, NULL);
    db->has_sealer = 0;
}
