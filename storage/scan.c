/*
 * scan.c: reading one tag's data over [from, to) as time-ordered pieces,
 * merging sealed chunks and the memtable; sample_before / at_or_after.
 *
 * At open the scan copies the tag's memtable samples in range (under mu,
 * FIRST), then collects the chunk refs that overlap the range from one
 * LMDB read txn: seek (tag, from - max_span), walk while start < to. This
 * order matters: a seal commits its chunks before it drops the samples from
 * the memtable, so a sample is in the copy or in the chunk set (or both;
 * the merge removes the duplicate). A chunk marked damaged (damage.c) is
 * never collected, so every mode leaves it out alike; one that fails to
 * load while read is marked then (chunk__load) and skipped.
 *
 * Chunks are grouped into clusters of overlapping intervals (memtable
 * samples inside a cluster's interval join it). A cluster of one chunk, fully
 * inside [from, to), with no memtable sample in it, is offered as a stats
 * piece (unless HIST_SCAN_DECODE); cut by the range, or with
 * HIST_SCAN_DECODE, it goes out decoded as it is (a chunk's samples are
 * sorted and unique). Any other cluster is decoded and merged by (ts,
 * priority): chunk samples have their chunk seq, memtable samples 2^63 +
 * position, so the newest write wins (seqs follow write order per tag, see
 * seal.c and compact.c). Merged output goes out in batches of at most
 * SCAN_BATCH samples; pieces strictly increase in time.
 */
#include "common/hist_array.h"
#include "storage/db_internal.h"

#include <stdlib.h>
#include <string.h>

#include "storage/chunk.h"

#define SCAN_BATCH 65536
#define MEM_PRIO   (UINT64_C(1) << 63)

struct hist_scan {
    hist_db *db;
    uint32_t tag;
    int64_t from, to;
    unsigned flags;
    hist_msample *mem; /* memtable samples in range, sorted, unique */
    size_t nmem, mi;
    hist_chunk_ref *chunks; /* overlapping chunks, in key order */
    size_t nchunks, ci;
    hist_msample *merged; /* a decoded cluster being handed out */
    size_t nmerged, mpos;
    int64_t *ts; /* the current piece's columns */
    hist_value *v;
    uint32_t *q;
    size_t cap;
    hist_chunk_stats stats; /* the current stats piece */
    hist_chunk_ref stats_ref;
    int64_t *dts; /* decode buffers of a stats piece */
    hist_value *dv;
    uint32_t *dq;
};

/* ---- Opening -------------------------------------------------------------------------- */

static int copy_memtable(hist_scan *s)
{
    hist_db *db = s->db;
    mu_lock(&db->mu);
    hist_tag_state *t = tags__get(db, s->tag);
    if (!t) {
        mu_unlock(&db->mu);
        return HIST_ENOTFOUND;
    }
    membuf_view bv;
    int rc = membuf__view(&t->buf, &bv);
    const int64_t *ts = bv.ts;
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < bv.n; i++)
        n += ts[i] >= s->from && ts[i] < s->to;
    if (n) {
        s->mem = malloc(n * sizeof(*s->mem));
        if (!s->mem)
            rc = HIST_ENOMEM;
        for (size_t i = 0; i < bv.n && rc == 0; i++)
            if (ts[i] >= s->from && ts[i] < s->to)
                s->mem[s->nmem++] = (hist_msample){ts[i], MEM_PRIO + i, bv.v[i], bv.q[i]};
    }
    membuf__view_release(&bv);
    mu_unlock(&db->mu);
    if (rc == 0)
        s->nmem = msamples__sort_dedupe(s->mem, s->nmem);
    return rc;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    /* a in ts range, b >= 0: clamp to the ts range. */
    return (uint64_t)a - (uint64_t)HIST_TS_MIN < (uint64_t)b ? HIST_TS_MIN : a - b;
}

static int collect_chunks(hist_scan *s)
{
    hist_db *db = s->db;
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    /* Read max_span after the txn began: a larger span is raised in the
     * cache before the commit that needs it, so we see it here. */
    mu_lock(&db->mu);
    int64_t span = db->tags[s->tag]->max_span;
    mu_unlock(&db->mu);
    MDB_cursor *cur;
    rc = index__err(mdb_cursor_open(txn, db->idx.chunk, &cur));
    if (rc) {
        index__read_end(&db->idx, txn);
        return rc;
    }
    int64_t lo = s->from < HIST_TS_MIN ? HIST_TS_MIN : s->from;
    uint8_t kb[HIST_CHUNK_KEY_LEN];
    index__chunk_key(kb, s->tag, sat_sub(lo, span), 0);
    hist_marks marks;
    rc = marks__open(&db->idx, txn, kb, &marks);
    MDB_val k = {sizeof(kb), kb}, d;
    size_t cap = 0;
    int op = MDB_SET_RANGE;
    while (rc == 0 && mdb_cursor_get(cur, &k, &d, op) == 0) {
        op = MDB_NEXT;
        uint32_t tag;
        int64_t start;
        if (k.mv_size != HIST_CHUNK_KEY_LEN)
            break;
        index__chunk_key_parse(k.mv_data, &tag, &start, NULL);
        if (tag != s->tag || start >= s->to)
            break;
        hist_chunk_ref ref;
        if (marks__has(&marks, &k) || index__chunk_ref_from(&k, &d, &ref) ||
            ref.stats.end_ts < s->from)
            continue; /* damaged (left out of every read), malformed or before from */
        if (HIST_ARRAY_RESERVE(s->chunks, cap, s->nchunks + 1, 16) < 0) {
            rc = HIST_ENOMEM;
            break;
        }
        s->chunks[s->nchunks++] = ref;
    }
    marks__close(&marks);
    mdb_cursor_close(cur);
    index__read_end(&db->idx, txn);
    return rc;
}

int hist_scan_open(hist_db *db, uint32_t tag, int64_t from, int64_t to, unsigned flags,
                   hist_scan **out)
{
    if (!db || !out)
        return HIST_EINVAL;
    hist_scan *s = calloc(1, sizeof(*s));
    if (!s)
        return HIST_ENOMEM;
    s->db = db;
    s->tag = tag;
    s->from = from;
    s->to = to;
    s->flags = flags;
    int rc = 0;
    if (from < to) {
        rc = copy_memtable(s);
        if (rc == 0)
            rc = collect_chunks(s);
    } else {
        mu_lock(&db->mu);
        rc = tags__get(db, tag) ? 0 : HIST_ENOTFOUND;
        mu_unlock(&db->mu);
    }
    if (rc) {
        hist_scan_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void hist_scan_close(hist_scan *s)
{
    if (!s)
        return;
    free(s->mem);
    free(s->chunks);
    free(s->merged);
    free(s->ts), free(s->v), free(s->q);
    free(s->dts), free(s->dv), free(s->dq);
    free(s);
}

/* ---- Pieces ------------------------------------------------------------------------------ */

/* Emits up to SCAN_BATCH samples of src[*pos..end) as a decoded piece. */
static int emit(hist_scan *s, const hist_msample *src, size_t *pos, size_t end, hist_piece *p)
{
    size_t n = end - *pos < SCAN_BATCH ? end - *pos : SCAN_BATCH;
    if (n > s->cap) {
        free(s->ts), free(s->v), free(s->q);
        s->ts = malloc(n * sizeof(*s->ts));
        s->v = malloc(n * sizeof(*s->v));
        s->q = malloc(n * sizeof(*s->q));
        s->cap = n;
        if (!s->ts || !s->v || !s->q) {
            s->cap = 0;
            return HIST_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const hist_msample *x = &src[*pos + i];
        s->ts[i] = x->ts, s->v[i] = x->v, s->q[i] = x->q;
    }
    *pos += n;
    memset(p, 0, sizeof(*p));
    p->n = n;
    p->ts = s->ts, p->v = s->v, p->q = s->q;
    return 1;
}

/* Decodes chunks [ci, cj) and memtable samples [mi, mj) into s->merged. */
static int merge_cluster(hist_scan *s, size_t ci, size_t cj, size_t mi, size_t mj)
{
    size_t total = mj - mi;
    for (size_t i = ci; i < cj; i++)
        total += s->chunks[i].stats.count;
    free(s->merged);
    s->merged = malloc((total ? total : 1) * sizeof(*s->merged));
    if (!s->merged)
        return HIST_ENOMEM;
    size_t n = 0;
    for (size_t i = ci; i < cj; i++) {
        int64_t *ts;
        hist_value *v;
        uint32_t *q;
        int rc = chunk__load(s->db, &s->chunks[i], &ts, &v, &q);
        if (rc == HIST_ECORRUPT || rc == HIST_EIO)
            continue; /* marked or logged; the rest stays readable */
        if (rc)
            return rc;
        for (size_t j = 0; j < s->chunks[i].stats.count; j++)
            if (ts[j] >= s->from && ts[j] < s->to)
                s->merged[n++] = (hist_msample){ts[j], s->chunks[i].seq, v[j], q[j]};
        free(ts), free(v), free(q);
    }
    if (mj > mi)
        memcpy(s->merged + n, s->mem + mi, (mj - mi) * sizeof(*s->merged));
    n += mj - mi;
    s->nmerged = msamples__sort_dedupe(s->merged, n);
    s->mpos = 0;
    return 0;
}

/* Decodes chunk c into the decode buffers (the previous piece's arrays go). */
static int decode_into_buffers(hist_scan *s, const hist_chunk_ref *c)
{
    free(s->dts), free(s->dv), free(s->dq);
    s->dts = NULL, s->dv = NULL, s->dq = NULL;
    return chunk__load(s->db, c, &s->dts, &s->dv, &s->dq);
}

/* Decodes chunk c (overlapping nothing) into the decode buffers and makes
 * its samples inside [from, to) the piece: 1, or 0 when it holds none there
 * or is damaged (marked or logged by chunk__load), or an error. */
static int lone_chunk(hist_scan *s, const hist_chunk_ref *c, hist_piece *p)
{
    int rc = decode_into_buffers(s, c);
    if (rc == HIST_ECORRUPT || rc == HIST_EIO)
        return 0;
    if (rc)
        return rc;
    size_t a = 0, b = c->stats.count;
    while (a < b && s->dts[a] < s->from)
        a++;
    while (b > a && s->dts[b - 1] >= s->to)
        b--;
    if (a == b)
        return 0;
    memset(p, 0, sizeof(*p));
    p->n = b - a;
    p->ts = s->dts + a, p->v = s->dv + a, p->q = s->dq + a;
    return 1;
}

int hist_scan_next(hist_scan *s, hist_piece *p)
{
    if (!s || !p)
        return HIST_EINVAL;
    for (;;) {
        if (s->mpos < s->nmerged)
            return emit(s, s->merged, &s->mpos, s->nmerged, p);
        if (s->ci >= s->nchunks) {
            if (s->mi < s->nmem)
                return emit(s, s->mem, &s->mi, s->nmem, p);
            return 0;
        }
        const hist_chunk_ref *c = &s->chunks[s->ci];
        if (s->mi < s->nmem && s->mem[s->mi].ts < c->stats.start_ts) {
            size_t end = s->mi;
            while (end < s->nmem && s->mem[end].ts < c->stats.start_ts)
                end++;
            return emit(s, s->mem, &s->mi, end, p);
        }
        int64_t cend = c->stats.end_ts;
        size_t cj = s->ci + 1;
        while (cj < s->nchunks && s->chunks[cj].stats.start_ts <= cend) {
            if (s->chunks[cj].stats.end_ts > cend)
                cend = s->chunks[cj].stats.end_ts;
            cj++;
        }
        size_t mj = s->mi;
        while (mj < s->nmem && s->mem[mj].ts <= cend)
            mj++;
        if (cj == s->ci + 1 && mj == s->mi && !(s->flags & HIST_SCAN_DECODE) &&
            c->stats.start_ts >= s->from && c->stats.end_ts < s->to) {
            s->stats = c->stats;
            s->stats_ref = *c;
            s->ci = cj;
            memset(p, 0, sizeof(*p));
            p->stats = &s->stats;
            if (c->flags & HIST_CHUNK_HAS_COUNTED)
                p->counted = &s->stats_ref.counted;
            else if (c->stats.bad_count == 0 && c->stats.nan_count == 0)
                p->counted = &s->stats;
            return 1;
        }
        if (cj == s->ci + 1 && mj == s->mi) {
            /* One chunk alone: its samples are sorted and unique already,
             * so they go out as decoded, without the merge's copy and sort
             * (the common case of a raw read). */
            s->ci = cj;
            int rc = lone_chunk(s, c, p);
            if (rc != 0)
                return rc;
            continue; /* damaged (logged, counted) or nothing in range */
        }
        int rc = merge_cluster(s, s->ci, cj, s->mi, mj);
        if (rc)
            return rc;
        s->ci = cj;
        s->mi = mj;
    }
}

int hist_scan_decode(hist_scan *s, hist_piece *p)
{
    if (!s || !p || p->stats != &s->stats)
        return HIST_EINVAL;
    int rc = decode_into_buffers(s, &s->stats_ref);
    if (rc)
        return rc;
    p->n = s->stats.count;
    p->ts = s->dts, p->v = s->dv, p->q = s->dq;
    return 0;
}

/* ---- Nearest samples ------------------------------------------------------------------------ */

static int eligible(unsigned flags, uint32_t q)
{
    return !(flags & HIST_NEAR_SKIP_BAD) || !hist_quality_is_bad(q);
}

/* The first (dir > 0) or last (dir < 0) eligible sample of a piece. */
static int piece_pick(hist_scan *s, hist_piece *p, unsigned flags, int dir, hist_sample *out)
{
    if (p->stats) {
        const hist_chunk_stats *st = p->stats;
        uint32_t q = dir > 0 ? st->first_q : st->last_q;
        if (eligible(flags, q)) {
            out->ts = dir > 0 ? st->start_ts : st->end_ts;
            out->v = dir > 0 ? st->first_v : st->last_v;
            out->q = q;
            return 1;
        }
        if (st->bad_count == st->count)
            return 0;
        int rc = hist_scan_decode(s, p);
        if (rc)
            return rc == HIST_ECORRUPT || rc == HIST_EIO ? 0 : rc;
    }
    for (size_t k = 0; k < p->n; k++) {
        size_t i = dir > 0 ? k : p->n - 1 - k;
        if (eligible(flags, p->q[i])) {
            *out = (hist_sample){p->ts[i], p->v[i], p->q[i]};
            return 1;
        }
    }
    return 0;
}

/* Searches [lo, hi) for the first (dir > 0) or last eligible sample. */
static int window_pick(hist_db *db, uint32_t tag, int64_t lo, int64_t hi, unsigned flags, int dir,
                       hist_sample *out)
{
    hist_scan *s;
    int rc = hist_scan_open(db, tag, lo, hi, 0, &s);
    if (rc)
        return rc;
    int found = 0;
    hist_piece p;
    while ((rc = hist_scan_next(s, &p)) == 1) {
        hist_sample cand;
        int r = piece_pick(s, &p, flags, dir, &cand);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == 1) {
            *out = cand;
            found = 1;
            if (dir > 0)
                break;
        }
    }
    hist_scan_close(s);
    return rc < 0 ? rc : found;
}

/* Earliest time the tag may have data: first chunk start, memtable min. */
static int tag_bounds(hist_db *db, uint32_t tag, int64_t *lo, int64_t *hi, int64_t *span)
{
    mu_lock(&db->mu);
    hist_tag_state *t = tags__get(db, tag);
    if (!t || !t->has_latest) {
        mu_unlock(&db->mu);
        return HIST_ENOTFOUND;
    }
    *hi = t->latest.ts;
    *lo = t->latest.ts;
    *span = t->max_span;
    const int64_t *ts = membuf__ts(&t->buf);
    for (size_t i = 0; i < t->buf.nraw; i++)
        if (ts[i] < *lo)
            *lo = ts[i];
    if (t->buf.fz && t->buf.fz->ts_min < *lo)
        *lo = t->buf.fz->ts_min;
    mu_unlock(&db->mu);
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, db->idx.chunk, &cur) == 0) {
        uint8_t kb[HIST_CHUNK_KEY_LEN];
        index__chunk_key(kb, tag, HIST_TS_MIN - 1, 0);
        MDB_val k = {sizeof(kb), kb}, d;
        if (mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE) == 0 && k.mv_size == HIST_CHUNK_KEY_LEN) {
            uint32_t ktag;
            int64_t start;
            index__chunk_key_parse(k.mv_data, &ktag, &start, NULL);
            if (ktag == tag && start < *lo)
                *lo = start;
        }
        mdb_cursor_close(cur);
    }
    index__read_end(&db->idx, txn);
    return 0;
}

#define NEAR_MIN_WINDOW INT64_C(60000000000) /* 1 min */

int hist_db_sample_before(hist_db *db, uint32_t tag, int64_t t, unsigned flags, hist_sample *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    int64_t lo, hi, span;
    int rc = tag_bounds(db, tag, &lo, &hi, &span);
    if (rc)
        return rc;
    if (t > hi + 1)
        t = hi + 1; /* nothing later than the latest sample */
    int64_t w = span > NEAR_MIN_WINDOW ? span : NEAR_MIN_WINDOW;
    while (t > lo) {
        int64_t wlo = (uint64_t)t - (uint64_t)lo <= (uint64_t)w ? lo : t - w;
        rc = window_pick(db, tag, wlo, t, flags, -1, out);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        t = wlo;
        w = w > INT64_MAX / 4 ? INT64_MAX : w * 4;
    }
    return HIST_ENOTFOUND;
}

int hist_db_sample_at_or_after(hist_db *db, uint32_t tag, int64_t t, unsigned flags,
                               hist_sample *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    int64_t lo, hi, span;
    int rc = tag_bounds(db, tag, &lo, &hi, &span);
    if (rc)
        return rc;
    if (t < lo)
        t = lo;
    int64_t w = span > NEAR_MIN_WINDOW ? span : NEAR_MIN_WINDOW;
    while (t <= hi) {
        int64_t whi = (uint64_t)hi - (uint64_t)t < (uint64_t)w ? hi + 1 : t + w;
        rc = window_pick(db, tag, t, whi, flags, 1, out);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        t = whi;
        w = w > INT64_MAX / 4 ? INT64_MAX : w * 4;
    }
    return HIST_ENOTFOUND;
}

/* hist_db_latest(): a latest value marked stale (damage.c) is looked up
 * again by a scan. */
void scan__refresh_latest(hist_db *db, uint32_t tag)
{
    mu_lock(&db->mu);
    hist_tag_state *t = tags__get(db, tag);
    if (!t || !t->latest_stale) {
        mu_unlock(&db->mu);
        return;
    }
    hist_sample hint = t->latest;
    t->latest_stale = 0;
    mu_unlock(&db->mu);
    /* latest.ts bounds the answer from above; the scans leave marked
     * chunks out and see the memtable, so this is the latest sample. */
    hist_sample s;
    int rc = hist_db_sample_before(db, tag, hint.ts + 1, 0, &s);
    mu_lock(&db->mu);
    /* A write meanwhile changed latest itself: it wins. (One that wrote the
     * very same sample again would be replaced by s, a narrow race whose
     * cost is an older latest value until restart.) */
    if (t->latest.ts == hint.ts && t->latest.v.bits == hint.v.bits && t->latest.q == hint.q) {
        if (rc == 0)
            t->latest = s;
        else if (rc == HIST_ENOTFOUND)
            t->has_latest = 0;
        else
            t->latest_stale = 1; /* try again on the next read */
    }
    mu_unlock(&db->mu);
}
