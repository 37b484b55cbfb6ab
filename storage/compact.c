/*
 * compact.c: merging a tag's small or overlapping chunks, and rewriting
 * segments with little live data. Dropping old chunks (retention) is
 * retention.c.
 *
 * Both run under seal_mu, so no seal interleaves: a merged chunk takes
 * a fresh (highest) seq, which is right because it replaces a whole overlap
 * cluster (or several adjacent ones) and so overlaps no chunk outside it.
 *
 * Crash safety: new chunk bytes are made durable first (segment append);
 * then ONE txn deletes the old entries and puts the new ones. Until that
 * commit the old entries are valid; after it the new ones. A rewritten
 * segment is unlinked only after the txn that moved its live chunks away.
 *
 * Damaged chunks (damage.c): a merge leaves a marked chunk out (its
 * samples are out of every read, so they must not come back inside a new
 * chunk); a segment rewrite moves its bytes as they are, mark and all;
 * retention drops its mark with it.
 */
#include "common/hist_array.h"
#include "storage/db_internal.h"
#include "storage/worker.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Groups larger than this are cut at a cluster boundary (memory bound). */
#define COMPACT_GROUP_SAMPLES (4u << 20)

/* The background compactor (see "Background compaction" below). */
#define COMPACT_SLICE_NS     INT64_C(5000000)     /* work between two sleeps */
#define COMPACT_SCAN_BATCH   1024                 /* entries per read txn of a scan */
#define COMPACT_HOLD_WINDOWS 8                    /* tag-hours merged per seal_mu hold */
#define COMPACT_HOLD_SAMPLES (1u << 15)           /* ... or this many samples */
#define COMPACT_IDLE_MIN_NS  INT64_C(1000000000)  /* after a scan that found nothing, */
#define COMPACT_IDLE_MAX_NS  INT64_C(60000000000) /* doubling up to this */

struct hist_compactor {
    bg_worker w;     /* the thread, its stop flag and its sleeps (worker.h) */
    double share;    /* of one core, (0, 1] */
    int64_t work_ns; /* since the last sleep (the thread's own) */
    _Atomic uint64_t runs, tag_hours, chunks_before, chunks_after, bytes_rewritten;
    _Atomic uint64_t segments_rewritten, pending, hold_max_ns;
    bool rolled; /* the last pass rolled the current segment: rewrite it next (the thread's own) */
};

static bool stop_asked(hist_compactor *c)
{
    return worker__stop_asked(&c->w);
}

static bool nap(hist_compactor *c, int64_t ns)
{
    return worker__nap(&c->w, ns);
}

/* Like the scrub's: after each slice of work, sleeps so that the work
 * takes `share` of the time. false when the compactor must stop. */
static bool throttle(hist_compactor *c)
{
    return worker__throttle(&c->w, &c->work_ns, c->share, COMPACT_SLICE_NS);
}

/* seal_mu for one bounded step of the compactor; returns the time it was got. */
static int64_t hold_begin(hist_db *db)
{
    mu_lock(&db->seal_mu);
    return clock__mono_ns();
}

static void hold_end(hist_db *db, hist_compactor *c, int64_t t0)
{
    int64_t held = clock__mono_ns() - t0;
    mu_unlock(&db->seal_mu);
    c->work_ns += held;
    uint64_t max = atomic_load(&c->hold_max_ns);
    while ((uint64_t)held > max && !atomic_compare_exchange_weak(&c->hold_max_ns, &max, held))
        ;
}

static void note_rewritten(hist_db *db, const hist_chunk_ref *refs, size_t n)
{
    hist_compactor *c = db->compactor;
    if (!c)
        return;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += refs[i].length;
    atomic_fetch_add(&c->bytes_rewritten, bytes);
    atomic_fetch_add(&c->segments_rewritten, 1);
}

/* Every chunk of a tag (tag == 0: of all tags), in key order. */
static int load_chunk_refs(hist_db *db, uint32_t tag, bool skip_damaged, hist_chunk_ref **out,
                           size_t *nout)
{
    return chunk__list_refs(db, tag, HIST_TS_MIN - 1, INT64_MAX, skip_damaged, out, NULL, nout);
}

static void note_merged(hist_db *db, size_t before, const hist_chunk_batch *out)
{
    hist_compactor *c = db->compactor;
    if (!c)
        return;
    uint64_t bytes = 0;
    for (size_t i = 0; i < out->n; i++)
        bytes += out->refs[i].length;
    atomic_fetch_add(&c->chunks_before, before);
    atomic_fetch_add(&c->chunks_after, out->n);
    atomic_fetch_add(&c->bytes_rewritten, bytes);
}

/* Rewrites chunks [a, b) of refs (whole clusters) into full-size chunks. */
static int merge_group(hist_db *db, hist_type type, const hist_chunk_ref *refs, size_t a, size_t b,
                       bool overlapping)
{
    size_t total = 0;
    for (size_t i = a; i < b; i++)
        total += refs[i].stats.count;
    hist_msample *m = malloc((total ? total : 1) * sizeof(*m));
    if (!m)
        return HIST_ENOMEM;
    size_t n = 0;
    int rc = 0;
    /* A damaged member stops the loop: the whole group is left as it is. */
    for (size_t i = a; i < b && rc == 0; i++)
        rc = chunk__load_msamples(db, &refs[i], m, &n);
    if (rc) {
        free(m);
        return rc == HIST_ECORRUPT || rc == HIST_EIO ? 0 : rc;
    }
    n = msamples__sort_dedupe(m, n);
    hist_chunk_batch out = {0};
    rc = chunk__batch_add(db, &out, refs[a].tag, type, m, n);
    /* Cutting at clock boundaries can give back the chunks we started from
     * (small chunks of adjacent hours): then there is nothing to gain. */
    bool gain = out.n < b - a || overlapping;
    if (rc == 0 && gain)
        rc = chunk__commit(db, out.bufs, out.refs, out.n, refs + a, b - a, NULL, NULL, 0);
    if (rc == 0 && gain)
        note_merged(db, b - a, &out);
    chunk__batch_free(&out);
    free(m);
    return rc;
}

/* Whether cluster [i, j) shares a clock window (seal.c) with the cluster
 * before or after it: then the two would be one chunk had they been sealed
 * together. Chunks of different windows stay apart however small. */
static bool shares_window(const hist_db *db, const hist_chunk_ref *refs, size_t n, size_t i,
                          size_t j)
{
    int64_t align = db->opts.chunk_align_ns;
    if (align <= 0)
        return true;
    int64_t first = chunk__align_floor(refs[i].stats.start_ts, align);
    int64_t last = first;
    for (size_t k = i; k < j; k++) {
        int64_t w = chunk__align_floor(refs[k].stats.end_ts, align);
        last = w > last ? w : last;
    }
    return (i > 0 && chunk__align_floor(refs[i - 1].stats.end_ts, align) == first) ||
           (j < n && chunk__align_floor(refs[j].stats.start_ts, align) == last);
}

static int compact_tag(hist_db *db, uint32_t tag)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    mu_lock(&db->mu);
    hist_tag_state *t = tags__get(db, tag);
    hist_type type = t ? (hist_type)t->type : HIST_TYPE_FLOAT64;
    mu_unlock(&db->mu);
    if (!t)
        return HIST_ENOTFOUND;
    hist_chunk_ref *refs;
    size_t n;
    int rc = load_chunk_refs(db, tag, true, &refs, &n);
    if (rc)
        return rc;
    uint32_t small = db->opts.chunk_samples / 2, tiny = db->opts.chunk_samples / 16;
    size_t gstart = 0, gsamples = 0, gclusters = 0;
    int gmulti = 0; /* the group has a cluster of several chunks */
    for (size_t i = 0; i <= n && rc == 0;) {
        /* Next cluster [i, j). */
        size_t j = i;
        size_t csamples = 0;
        if (i < n) {
            j = chunk__cluster_end(refs, n, i);
            for (size_t k = i; k < j; k++)
                csamples += refs[k].stats.count;
        }
        int rewrite = i < n && (j - i > 1 || csamples < tiny ||
                                (csamples < small && shares_window(db, refs, n, i, j)));
        if (rewrite && gclusters && gsamples + csamples > COMPACT_GROUP_SAMPLES)
            rewrite = 0, j = i; /* close the group; revisit this cluster */
        if (rewrite) {
            if (gclusters == 0)
                gstart = i;
            gclusters++;
            gsamples += csamples;
            gmulti |= j - i > 1;
        } else {
            if (gclusters > 1 || gmulti)
                rc = merge_group(db, type, refs, gstart, i, gmulti);
            gclusters = 0, gsamples = 0, gmulti = 0;
            if (i == n)
                break;
            if (j == i) /* group cut: start a new one at i */
                continue;
        }
        i = j;
    }
    free(refs);
    return rc;
}

/* ---- Segment rewriting ------------------------------------------------------------------ */

typedef struct {
    hist_chunk_ref *refs;
    size_t n;
    uint32_t old_no;          /* the segment being rewritten */
    const uint64_t *old_offs; /* each chunk's offset in it */
} move_ctx;

/* Whether the entry under ref's key still names segment no at offset off:
 * the background rewrite reads the chunk list without seal_mu, so a chunk
 * may have been merged away (or moved) since; it must not come back. */
static bool entry_still_at(hist_index *idx, MDB_txn *txn, const hist_chunk_ref *ref, uint32_t no,
                           uint64_t off)
{
    uint8_t kb[HIST_CHUNK_KEY_LEN];
    index__chunk_key(kb, ref->tag, ref->stats.start_ts, ref->seq);
    MDB_val k = {sizeof(kb), kb}, d;
    hist_chunk_ref cur;
    return mdb_get(txn, idx->chunk, &k, &d) == 0 && index__chunk_ref_from(&k, &d, &cur) == 0 &&
           cur.segment == no && cur.offset == off;
}

static int move_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    move_ctx *c = arg;
    int rc = 0;
    for (size_t i = 0; i < c->n && rc == 0; i++)
        if (entry_still_at(idx, txn, &c->refs[i], c->old_no, c->old_offs[i]))
            rc = index__put_chunk(idx, txn, &c->refs[i]);
    return rc;
}

/* Moves the live chunks of segment no into the current one; deletes it. */
static int rewrite_segment(hist_db *db, uint32_t no, hist_chunk_ref *refs, size_t n)
{
    uint8_t **bufs = calloc(n + 1, sizeof(*bufs));
    struct iovec *iov = calloc(n + 1, sizeof(*iov));
    uint64_t *offs = calloc(n + 1, sizeof(*offs));
    int rc = (!bufs || !iov || !offs) ? HIST_ENOMEM : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        bufs[i] = malloc(refs[i].length ? refs[i].length : 1);
        if (!bufs[i]) {
            rc = HIST_ENOMEM;
            break;
        }
        rc = segs__read(&db->segs, no, refs[i].offset, bufs[i], refs[i].length);
        iov[i] = (struct iovec){bufs[i], refs[i].length};
    }
    uint64_t *old_offs = calloc(n + 1, sizeof(*old_offs));
    if (rc == 0 && !old_offs)
        rc = HIST_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++)
        old_offs[i] = refs[i].offset;
    uint32_t segno = 0;
    if (rc == 0 && n)
        rc = segs__append(&db->segs, iov, (int)n, &segno, offs);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            refs[i].segment = segno, refs[i].offset = offs[i];
        move_ctx c = {refs, n, no, old_offs};
        rc = n ? index__write(&db->idx, move_txn, &c) : 0;
    }
    if (rc == 0)
        rc = segs__remove(&db->segs, no);
    if (rc == 0)
        note_rewritten(db, refs, n);
    for (size_t i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs), free(iov), free(offs), free(old_offs);
    if (rc)
        hist_logf(&db->log, HIST_LOG_WARN, "compact: segment %u not rewritten: %s", no,
                  hist_strerror(rc));
    return rc;
}

static int ref_seg_cmp(const void *a, const void *b)
{
    const hist_chunk_ref *x = a, *y = b;
    if (x->segment != y->segment)
        return x->segment < y->segment ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Whether a segment of `size` bytes with `live` of them named by chunks is
 * worth rewriting: a quarter of it or more is dead (merged or dropped
 * chunks). Rewriting copies at most three bytes for each one it frees. */
static bool mostly_dead(uint64_t live, uint64_t size)
{
    return size > 0 && live * 4 <= size * 3;
}

/* The current segment is never rewritten (appends go there). When it is a
 * quarter dead and at least 1/64 of a full one (1 MiB), it is rolled: the
 * next appends go to a new file, and the next rewrite_segments may take it
 * (its live chunks go to the new file, so files do not multiply). Without
 * this, the data of a small plant (1,000 tags: 25 MB in six hours) stays
 * in one segment for days, with what merges left dead. */
static bool roll_if_dead(hist_db *db, uint64_t live, uint64_t size)
{
    if (size < segs__roll_bytes(&db->segs) / 64 || !mostly_dead(live, size))
        return false;
    return segs__roll(&db->segs) == 0;
}

/* Rewrites the segments a quarter dead or more (mostly_dead) and removes
 * those no chunk names; rolls the current one when it is mostly dead
 * (roll_if_dead; *rolled then says so, for the caller to come back).
 * locked: the caller holds seal_mu throughout (hist_db_compact).
 * Otherwise (the background compactor) the chunk list is read without it
 * and seal_mu is taken for one segment at a time; that list can be stale,
 * which is safe: appends go only to segments at or above the current one
 * when the list was read (left alone here), and a move skips every entry
 * that no longer names the old place. */
static int rewrite_segments(hist_db *db, bool locked, hist_compactor *c, bool *rolled)
{
    uint32_t current = segs__current(&db->segs); /* before the list: see above */
    /* Every live chunk, grouped by segment. */
    hist_chunk_ref *refs = NULL;
    size_t n = 0;
    int rc = load_chunk_refs(db, 0, false, &refs, &n);
    if (rc)
        return rc;
    if (n)
        qsort(refs, n, sizeof(*refs), ref_seg_cmp);
    /* The segments the list names, ascending, taken before any rewrite:
     * rewrite_segment() gives the refs it moves their new place, so refs
     * is not sorted by segment after one (reading it then as sorted took
     * every later segment for unnamed and removed it, live chunks and all). */
    uint32_t *named = malloc((n ? n : 1) * sizeof(*named));
    size_t nnamed = 0;
    if (!named) {
        free(refs);
        return HIST_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (nnamed == 0 || named[nnamed - 1] != refs[i].segment)
            named[nnamed++] = refs[i].segment;
    bool rewrote = false;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i;
        uint64_t live = 0;
        while (j < n && refs[j].segment == refs[i].segment)
            live += refs[j++].length;
        uint32_t no = refs[i].segment;
        uint64_t size = segs__size(&db->segs, no);
        /* After a rewrite the current segment holds chunks this list does
         * not (the moved ones): its live count is stale, so it waits. */
        if (no == current && rolled && !rewrote) {
            if (!locked)
                mu_lock(&db->seal_mu);
            *rolled = roll_if_dead(db, live, size);
            if (!locked)
                mu_unlock(&db->seal_mu);
        }
        if (no < current && mostly_dead(live, size)) {
            if (!locked && !throttle(c))
                break;
            int64_t t0 = locked ? 0 : hold_begin(db);
            rc = rewrite_segment(db, no, refs + i, j - i);
            rewrote = true;
            if (!locked)
                hold_end(db, c, t0);
        }
        i = j;
    }
    /* Older segment files that no chunk named when the list was read
     * (entries moved above only went to the current segment or later). */
    size_t r = 0;
    for (uint32_t no = 1; no < current && rc == 0; no++) {
        while (r < nnamed && named[r] < no)
            r++;
        if (!(r < nnamed && named[r] == no) && segs__size(&db->segs, no) > 0) {
            if (!locked)
                mu_lock(&db->seal_mu);
            rc = segs__remove(&db->segs, no);
            if (!locked)
                mu_unlock(&db->seal_mu);
        }
    }
    free(named);
    free(refs);
    return rc;
}

int hist_db_compact(hist_db *db, uint32_t tag)
{
    if (!db)
        return HIST_EINVAL;
    mu_lock(&db->seal_mu);
    segs__reap(&db->segs); /* fds of segments deleted by the last run */
    int rc = 0;
    if (tag) {
        rc = compact_tag(db, tag);
    } else {
        mu_lock(&db->mu);
        uint32_t cap = db->tags_cap;
        mu_unlock(&db->mu);
        for (uint32_t id = 1; id < cap && rc == 0; id++) {
            mu_lock(&db->mu);
            int exists = tags__get(db, id) != NULL;
            mu_unlock(&db->mu);
            if (exists)
                rc = compact_tag(db, id);
        }
    }
    bool rolled = false;
    if (rc == 0)
        rc = rewrite_segments(db, true, NULL, &rolled);
    if (rc == 0 && rolled) /* the segment that was current is now below it */
        rc = rewrite_segments(db, true, NULL, NULL);
    mu_unlock(&db->seal_mu);
    return rc;
}

/* ---- Background compaction ---------------------------------------------------------------
 *
 * The compactor thread (started by hist_db_open unless no_background or
 * compact_share is 0) joins the chunks of one tag-hour (one window of
 * chunk_align_ns, the unit chunks are cut at) into as few as its samples
 * need: one for 1 Hz data. A pass:
 *   1. scans the chunk index in batches of COMPACT_SCAN_BATCH entries, each
 *      from its own short read txn (no seal_mu, no mu), and lists the
 *      tag-hours holding more chunks than ceil(samples / chunk_samples)
 *      (chunks inside one window, damaged ones left out);
 *   2. takes them oldest window first; under seal_mu, up to
 *      COMPACT_HOLD_WINDOWS of them (or COMPACT_HOLD_SAMPLES) are merged
 *      into one chunk__commit: one durable segment append, then one LMDB
 *      txn deleting the old entries and putting the new ones; seal_mu is
 *      then let go and the thread sleeps off its share;
 *   3. after a pass that merged something, rewrites the segments a
 *      quarter dead or more (rewrite_segments, one segment per seal_mu
 *      hold), rolls the current one when it is (the pass after rewrites
 *      it), and removes those no chunk names.
 * A tag-hour is merged only once it is settled: the window has ended by
 * the wall clock (so data stamped in the future waits), and the tag's
 * buffer holds no sample inside it (checked under mu when it is merged). A write into
 * it afterwards is still correct: the memtable wins over chunks, and its
 * later chunk takes a higher seq than the merged one (seqs are handed out
 * under seal_mu in order). The merged chunk may take the highest seq
 * because it replaces every chunk that overlaps its span: the windows a
 * merge takes grow until no chunk crosses their edges (load_chain: a
 * short run sealed across an hour boundary chains two windows), up to
 * COMPACT_MAX_WINDOWS; wider chains are left to hist_db_compact.
 */

typedef struct {
    uint32_t tag;
    int64_t window;
} tag_hour;

static int tag_hour_cmp(const void *a, const void *b)
{
    const tag_hour *x = a, *y = b;
    if (x->window != y->window)
        return x->window < y->window ? -1 : 1;
    return x->tag < y->tag ? -1 : x->tag > y->tag;
}

/* The run of one tag's chunks while the index is scanned in key order: a
 * chain of chunks each starting in a window the run already reaches (a
 * chunk of several windows, a short run sealed across a boundary, chains
 * its windows together). */
typedef struct {
    tag_hour *v;
    size_t n, cap;
    bool open;
    tag_hour cur; /* the run's first window */
    int64_t last; /* the last window it reaches */
    size_t chunks;
    uint64_t samples;
} scan_acc;

/* A run is worth merging when it has more chunks than a merge could
 * write: ceil(samples / chunk_samples), plus one for each window boundary
 * inside the run (chunk__batch_add cuts there, so a merge writes one chunk
 * per window at least). Without the boundaries a fast tag's run of full
 * chunks over several hours (10 Hz: 36,000 samples an hour, 5 chunks each,
 * one crossing an hour's end) looked mergeable: every pass decoded it and
 * dropped the merge (no fewer chunks), and compact_pending never reached 0. */
static int scan_close_run(hist_db *db, scan_acc *a)
{
    uint64_t cs = db->opts.chunk_samples;
    uint64_t windows =
        a->open ? (uint64_t)((a->last - a->cur.window) / db->opts.chunk_align_ns) + 1 : 0;
    uint64_t need = (a->samples + cs - 1) / cs + (windows ? windows - 1 : 0);
    bool more = a->open && a->chunks > 1 && a->chunks > need && a->chunks > windows;
    a->open = false;
    if (!more)
        return 0;
    if (HIST_ARRAY_RESERVE(a->v, a->cap, a->n + 1, 256) < 0)
        return HIST_ENOMEM;
    a->v[a->n++] = a->cur;
    return 0;
}

static int scan_add(hist_db *db, scan_acc *a, const hist_chunk_ref *ref)
{
    int64_t align = db->opts.chunk_align_ns;
    int64_t w = chunk__align_floor(ref->stats.start_ts, align);
    int64_t we = chunk__align_floor(ref->stats.end_ts, align);
    if (!a->open || a->cur.tag != ref->tag || w > a->last) {
        int rc = scan_close_run(db, a);
        if (rc)
            return rc;
        *a = (scan_acc){a->v, a->n, a->cap, true, {ref->tag, w}, we, 0, 0};
    }
    a->last = we > a->last ? we : a->last;
    a->chunks++;
    a->samples += ref->stats.count;
    return 0;
}

/* One batch of step 1 after key `after`; *done at the end of the index. */
static int scan_batch(hist_db *db, scan_acc *a, uint8_t *after, bool *have_after, bool *done)
{
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur = NULL;
    rc = index__err(mdb_cursor_open(txn, db->idx.chunk, &cur));
    hist_marks marks = {0};
    if (rc == 0)
        rc = marks__open(&db->idx, txn, *have_after ? after : NULL, &marks);
    MDB_val k = {HIST_CHUNK_KEY_LEN, after}, v;
    int ok = rc == 0 && mdb_cursor_get(cur, &k, &v, *have_after ? MDB_SET_RANGE : MDB_FIRST) == 0;
    if (ok && *have_after && k.mv_size == HIST_CHUNK_KEY_LEN &&
        memcmp(k.mv_data, after, HIST_CHUNK_KEY_LEN) == 0)
        ok = mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0;
    size_t got = 0;
    for (; ok && rc == 0 && got < COMPACT_SCAN_BATCH;
         ok = mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        if (k.mv_size != HIST_CHUNK_KEY_LEN) {
            ok = 0; /* cannot resume after a key of another shape */
            break;
        }
        memcpy(after, k.mv_data, HIST_CHUNK_KEY_LEN);
        *have_after = true;
        got++;
        hist_chunk_ref ref;
        if (marks__has(&marks, &k) || index__chunk_ref_from(&k, &v, &ref) != 0)
            rc = scan_close_run(db, a);
        else
            rc = scan_add(db, a, &ref);
    }
    *done = !ok;
    marks__close(&marks);
    if (cur)
        mdb_cursor_close(cur);
    index__read_end(&db->idx, txn);
    return rc;
}

/* Step 1: the tag-hours worth merging, oldest window first. */
static int scan_candidates(hist_db *db, hist_compactor *c, tag_hour **out, size_t *nout)
{
    uint8_t after[HIST_CHUNK_KEY_LEN];
    bool have_after = false, done = false;
    scan_acc a = {0};
    int rc = 0;
    while (rc == 0 && !done) {
        if (!throttle(c)) {
            rc = HIST_ECLOSED;
            break;
        }
        int64_t t0 = clock__mono_ns();
        rc = scan_batch(db, &a, after, &have_after, &done);
        c->work_ns += clock__mono_ns() - t0;
    }
    if (rc == 0)
        rc = scan_close_run(db, &a);
    if (rc) {
        free(a.v);
        return rc;
    }
    if (a.n)
        qsort(a.v, a.n, sizeof(*a.v), tag_hour_cmp);
    *out = a.v;
    *nout = a.n;
    return 0;
}

/* Whether a tag's buffer may hold a sample in [from, to) (mu held; a
 * frozen run counts by its bounds: the hour waits for its seal). */
static bool buffer_touches(hist_db *db, const hist_membuf *b, int64_t from, int64_t to)
{
    HIST_ASSERT(mu_held(&db->mu));
    return membuf__may_touch(b, from, to);
}

/* A tag's type and max span; false when there is no such tag. */
static bool tag_info(hist_db *db, uint32_t tag, hist_type *type, int64_t *span)
{
    mu_lock(&db->mu);
    hist_tag_state *t = tags__get(db, tag);
    if (t) {
        *type = (hist_type)t->type;
        *span = t->max_span > 0 ? t->max_span : 0;
    }
    mu_unlock(&db->mu);
    return t != NULL;
}

/* Whether the windows [lo, hi) of a tag are settled (see above). */
static bool range_settled(hist_db *db, uint32_t tag, int64_t lo, int64_t hi)
{
    int64_t now = chunk__align_floor(clock__wall_ns(), db->opts.chunk_align_ns);
    if (hi > now)
        return false;
    mu_lock(&db->mu);
    hist_tag_state *t = tags__get(db, tag);
    bool ok = t && !buffer_touches(db, &t->buf, lo, hi);
    mu_unlock(&db->mu);
    return ok;
}

/* Windows a merge may span at most (a chain of short runs sealed across
 * boundaries). */
#define COMPACT_MAX_WINDOWS 48

/* The chunks of a tag in the windows around w that overlap each other
 * (transitively): [*lo, *hi) grows until no chunk crosses its edges. */
static int load_chain(hist_db *db, uint32_t tag, int64_t w, int64_t span, int64_t *lo, int64_t *hi,
                      hist_chunk_ref **refs, size_t *n)
{
    int64_t align = db->opts.chunk_align_ns;
    *lo = w, *hi = w + align;
    for (int iter = 0; iter < COMPACT_MAX_WINDOWS; iter++) {
        int64_t from = *lo - span > HIST_TS_MIN - 1 ? *lo - span : HIST_TS_MIN - 1;
        int rc = chunk__list_refs(db, tag, from, *hi, true, refs, NULL, n);
        if (rc)
            return rc;
        int64_t nlo = *lo, nhi = *hi;
        for (size_t i = 0; i < *n; i++) {
            const hist_chunk_stats *st = &(*refs)[i].stats;
            if (st->end_ts < *lo)
                continue;
            int64_t a = chunk__align_floor(st->start_ts, align);
            int64_t b = chunk__align_floor(st->end_ts, align);
            nlo = a < nlo ? a : nlo;
            nhi = b >= nhi && b <= HIST_TS_MAX - align ? b + align : nhi;
        }
        if (nlo == *lo && nhi == *hi)
            return 0;
        free(*refs);
        *refs = NULL;
        *lo = nlo, *hi = nhi;
        if ((*hi - *lo) / align > COMPACT_MAX_WINDOWS)
            break;
    }
    *n = 0;
    return 0; /* too wide: left alone */
}

/* The merges of one seal_mu hold, committed together. */
typedef struct {
    hist_chunk_batch out;
    hist_chunk_ref *dels;
    size_t ndels, capdels;
    size_t windows;
    uint64_t samples;
} merge_hold;

/* Adds the merge of tag-hour (tag, w) to the hold: with the windows its
 * chunks chain it to (load_chain), when they are all settled and every
 * chunk decodes (seal_mu held). The merge is cut at window boundaries
 * again (chunk__batch_add). */
static int merge_window(hist_db *db, merge_hold *h, uint32_t tag, int64_t w)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    hist_type type;
    int64_t span, lo, hi;
    if (!tag_info(db, tag, &type, &span))
        return 0;
    hist_chunk_ref *refs = NULL;
    size_t n = 0;
    int rc = load_chain(db, tag, w, span, &lo, &hi, &refs, &n);
    if (rc)
        return rc;
    size_t a = 0;
    while (a < n && refs[a].stats.start_ts < lo)
        a++; /* ended before lo (load_chain) */
    bool ok = range_settled(db, tag, lo, hi);
    size_t total = 0;
    for (size_t i = a; i < n; i++)
        total += refs[i].stats.count;
    bool want = ok && n - a > 1;
    hist_msample *m = want ? malloc((total ? total : 1) * sizeof(*m)) : NULL;
    if (want && !m)
        rc = HIST_ENOMEM;
    size_t nm = 0;
    for (size_t i = a; m && i < n && rc == 0; i++) {
        if (chunk__load_msamples(db, &refs[i], m, &nm) != 0) {
            free(m); /* damaged (now marked) or unreadable: leave the window as it is */
            m = NULL;
            break;
        }
    }
    if (m) {
        nm = msamples__sort_dedupe(m, nm);
        size_t before = h->out.n;
        rc = chunk__batch_add(db, &h->out, tag, type, m, nm);
        if (rc == 0 && h->out.n - before >= n - a) { /* no fewer chunks: nothing to gain */
            for (size_t i = before; i < h->out.n; i++)
                free(h->out.bufs[i]);
            h->out.n = before;
        } else if (rc == 0 && HIST_ARRAY_RESERVE(h->dels, h->capdels, h->ndels + n - a, 64) < 0) {
            rc = HIST_ENOMEM;
        } else if (rc == 0) {
            memcpy(h->dels + h->ndels, refs + a, (n - a) * sizeof(*refs));
            h->ndels += n - a;
            h->windows++;
            h->samples += nm;
        }
        free(m);
    }
    free(refs);
    return rc;
}

/* Commits a hold's merges (one segment append, one txn); empties the hold. */
static int commit_hold(hist_db *db, hist_compactor *c, merge_hold *h)
{
    int rc = 0;
    if (h->windows) {
        rc =
            chunk__commit(db, h->out.bufs, h->out.refs, h->out.n, h->dels, h->ndels, NULL, NULL, 0);
        if (rc == 0) {
            note_merged(db, h->ndels, &h->out);
            atomic_fetch_add(&c->tag_hours, h->windows);
        }
    }
    chunk__batch_free(&h->out);
    h->ndels = h->windows = 0;
    h->samples = 0;
    return rc;
}

/* Segment files removed by a rewrite keep their descriptors this long
 * before segs__reap closes them: a query that took its chunk refs before
 * the move still reads the old bytes meanwhile. */
#define COMPACT_REAP_AFTER_NS INT64_C(60000000000)

/* One pass (steps 1-3); *merged: tag-hours merged. */
static int compact_pass(hist_db *db, hist_compactor *c, uint64_t *merged, int64_t *last_remove)
{
    *merged = 0;
    if (clock__mono_ns() - *last_remove >= COMPACT_REAP_AFTER_NS) {
        mu_lock(&db->seal_mu);
        segs__reap(&db->segs);
        mu_unlock(&db->seal_mu);
    }
    tag_hour *cand = NULL;
    size_t ncand = 0;
    int rc = scan_candidates(db, c, &cand, &ncand);
    atomic_store(&c->pending, rc == 0 ? ncand : 0);
    merge_hold h = {0};
    uint64_t before = atomic_load(&c->tag_hours);
    for (size_t i = 0; i < ncand && rc == 0;) {
        if (!throttle(c)) {
            rc = HIST_ECLOSED;
            break;
        }
        int64_t t0 = hold_begin(db);
        for (size_t tried = 0; i < ncand && rc == 0 && tried < 4 * COMPACT_HOLD_WINDOWS &&
                               h.windows < COMPACT_HOLD_WINDOWS && h.samples < COMPACT_HOLD_SAMPLES;
             i++, tried++)
            rc = merge_window(db, &h, cand[i].tag, cand[i].window);
        int crc = commit_hold(db, c, &h);
        hold_end(db, c, t0);
        rc = rc ? rc : crc;
        atomic_store(&c->pending, ncand - (atomic_load(&c->tag_hours) - before));
    }
    free(h.dels);
    free(cand);
    *merged = atomic_load(&c->tag_hours) - before;
    if (rc == 0 && (*merged || c->rolled)) {
        uint64_t segs = atomic_load(&c->segments_rewritten);
        bool rolled = false;
        rc = rewrite_segments(db, false, c, &rolled);
        c->rolled = rolled;
        if (atomic_load(&c->segments_rewritten) != segs)
            *last_remove = clock__mono_ns();
    }
    atomic_fetch_add(&c->runs, 1);
    return rc;
}

static void *compactor_main(void *arg)
{
    hist_db *db = arg;
    hist_compactor *c = db->compactor;
    int64_t idle = COMPACT_IDLE_MIN_NS, last_remove = 0;
    bool warned = false;
    for (;;) {
        uint64_t sealed = atomic_load(&db->chunks_sealed), merged = 0;
        int rc = compact_pass(db, c, &merged, &last_remove);
        if (rc == HIST_ECLOSED)
            break;
        if (rc && !warned) /* once: a failing disk is the sealer's to report */
            hist_logf(&db->log, HIST_LOG_WARN, "compaction failed: %s (retried)",
                      hist_strerror(rc));
        warned = rc != 0;
        if ((merged || c->rolled) && rc == 0) {
            idle = COMPACT_IDLE_MIN_NS;
            continue;
        }
        /* Nothing to do: wait for new chunks (polled once a second), or at
         * most `idle` (hours also settle as the clock moves on). */
        int64_t waited = 0;
        bool go = true;
        while (go && waited < idle && atomic_load(&db->chunks_sealed) == sealed)
            go = nap(c, COMPACT_IDLE_MIN_NS), waited += COMPACT_IDLE_MIN_NS;
        if (!go)
            break;
        idle = idle * 2 < COMPACT_IDLE_MAX_NS ? idle * 2 : COMPACT_IDLE_MAX_NS;
        if (atomic_load(&db->chunks_sealed) != sealed)
            idle = COMPACT_IDLE_MIN_NS;
    }
    return NULL;
}

/* ---- Life cycle ----------------------------------------------------------------------- */

int compact__init(hist_db *db)
{
    hist_compactor *c = calloc(1, sizeof(*c));
    if (!c)
        return HIST_ENOMEM;
    worker__init(&c->w);
    db->compactor = c;
    return 0;
}

int compact__start(hist_db *db)
{
    hist_compactor *c = db->compactor;
    double share = db->opts.compact_share;
    if (!c || !(share > 0))
        return 0;
    c->share = share < 1.0 ? share : 1.0;
    if (pthread_create(&c->w.thread, NULL, compactor_main, db) != 0)
        return HIST_ENOMEM;
    c->w.has_thread = true;
    return 0;
}

void compact__stop(hist_db *db)
{
    hist_compactor *c = db->compactor;
    if (!c)
        return;
    worker__stop(&c->w);
}

void compact__free(hist_db *db)
{
    hist_compactor *c = db->compactor;
    if (!c)
        return;
    compact__stop(db);
    worker__destroy(&c->w);
    free(c);
    db->compactor = NULL;
}

void compact__fill_stats(hist_db *db, hist_db_stats *out)
{
    hist_compactor *c = db->compactor;
    if (!c)
        return;
    out->compact_running = c->share > 0 && !stop_asked(c);
    out->compact_runs = atomic_load(&c->runs);
    out->compact_tag_hours = atomic_load(&c->tag_hours);
    out->compact_chunks_before = atomic_load(&c->chunks_before);
    out->compact_chunks_after = atomic_load(&c->chunks_after);
    out->compact_bytes_rewritten = atomic_load(&c->bytes_rewritten);
    out->compact_segments_rewritten = atomic_load(&c->segments_rewritten);
    out->compact_pending = atomic_load(&c->pending);
    out->compact_hold_max_us = atomic_load(&c->hold_max_ns) / 1000;
}
