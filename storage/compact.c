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

#include <stdlib.h>
#include <string.h>

/* Groups larger than this are cut at a cluster boundary (memory bound). */
#define COMPACT_GROUP_SAMPLES (4u << 20)

/* Loads the index entries of one tag's chunks in key (time) order, or of
 * every chunk when tag == 0. Entries that do not parse are left out, and
 * with skip_damaged those marked damaged: a merge must not take them in
 * (their samples are left out of every read), while a segment rewrite
 * moves them byte for byte like the others, mark and all. */
static int load_chunk_refs(hist_db *db, uint32_t tag, bool skip_damaged, hist_chunk_ref **out,
                           size_t *nout)
{
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = index__err(mdb_cursor_open(txn, db->idx.chunk, &cur));
    hist_chunk_ref *refs = NULL;
    size_t n = 0, cap = 0;
    if (rc == 0) {
        uint8_t kb[HIST_CHUNK_KEY_LEN];
        index__chunk_key(kb, tag, HIST_TS_MIN - 1, 0);
        hist_marks marks = {0};
        if (skip_damaged)
            rc = marks__open(&db->idx, txn, tag ? kb : NULL, &marks);
        MDB_val k = {sizeof(kb), kb}, d;
        int op = tag ? MDB_SET_RANGE : MDB_FIRST;
        while (rc == 0 && mdb_cursor_get(cur, &k, &d, op) == 0) {
            op = MDB_NEXT;
            if (tag) {
                uint32_t ktag;
                if (k.mv_size != HIST_CHUNK_KEY_LEN)
                    break;
                index__chunk_key_parse(k.mv_data, &ktag, NULL, NULL);
                if (ktag != tag)
                    break;
            }
            if (HIST_ARRAY_RESERVE(refs, cap, n + 1, 64) < 0) {
                rc = HIST_ENOMEM;
                break;
            }
            if (!marks__has(&marks, &k) && index__chunk_ref_from(&k, &d, &refs[n]) == 0)
                n++;
        }
        marks__close(&marks);
        mdb_cursor_close(cur);
    }
    index__read_end(&db->idx, txn);
    if (rc) {
        free(refs);
        return rc;
    }
    *out = refs;
    *nout = n;
    return 0;
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
    for (size_t i = a; i < b && rc == 0; i++) {
        int64_t *ts;
        hist_value *v;
        uint32_t *q;
        rc = chunk__load(db, &refs[i], &ts, &v, &q);
        if (rc)
            break; /* a damaged member: leave the whole group as it is */
        for (size_t j = 0; j < refs[i].stats.count; j++)
            m[n++] = (hist_msample){ts[j], refs[i].seq, v[j], q[j]};
        free(ts), free(v), free(q);
    }
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
        int64_t end = 0;
        size_t csamples = 0;
        if (i < n) {
            end = refs[i].stats.end_ts;
            for (j = i + 1; j < n && refs[j].stats.start_ts <= end; j++)
                if (refs[j].stats.end_ts > end)
                    end = refs[j].stats.end_ts;
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
} move_ctx;

static int move_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    move_ctx *c = arg;
    int rc = 0;
    for (size_t i = 0; i < c->n && rc == 0; i++)
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
    uint32_t segno = 0;
    if (rc == 0 && n)
        rc = segs__append(&db->segs, iov, (int)n, &segno, offs);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            refs[i].segment = segno, refs[i].offset = offs[i];
        move_ctx c = {refs, n};
        rc = n ? index__write(&db->idx, move_txn, &c) : 0;
    }
    if (rc == 0)
        rc = segs__remove(&db->segs, no);
    for (size_t i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs), free(iov), free(offs);
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

static int rewrite_segments(hist_db *db)
{
    /* Every live chunk, grouped by segment. */
    hist_chunk_ref *refs = NULL;
    size_t n = 0;
    int rc = load_chunk_refs(db, 0, false, &refs, &n);
    if (rc)
        return rc;
    if (n)
        qsort(refs, n, sizeof(*refs), ref_seg_cmp);
    uint32_t current = segs__current(&db->segs);
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i;
        uint64_t live = 0;
        while (j < n && refs[j].segment == refs[i].segment)
            live += refs[j++].length;
        uint32_t no = refs[i].segment;
        uint64_t size = segs__size(&db->segs, no);
        if (no != current && size > 0 && live * 2 < size)
            rc = rewrite_segment(db, no, refs + i, j - i);
        i = j;
    }
    /* Older segment files that no chunk names any more (refs is sorted by
     * segment; entries moved above only went to the current segment). */
    size_t r = 0;
    for (uint32_t no = 1; no < current && rc == 0; no++) {
        while (r < n && refs[r].segment < no)
            r++;
        int named = r < n && refs[r].segment == no;
        if (!named && segs__size(&db->segs, no) > 0)
            rc = segs__remove(&db->segs, no);
    }
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
    if (rc == 0)
        rc = rewrite_segments(db);
    mu_unlock(&db->seal_mu);
    return rc;
}
