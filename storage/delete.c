/*
 * delete.c: deleting a tag's samples in a time range [from, to)
 * (hist_db_delete); docs/architecture.md, "Deleting data".
 *
 * The shape, all under seal_mu (so no seal, compaction or retention
 * interleaves):
 *   1. seal the tag's buffer whole (seal__tags, SEAL_WHOLE, which syncs the
 *      WAL first): every durable write of the tag, raw, frozen or in logged
 *      runs, goes into chunks, and the tag's flushed_lsn passes them;
 *   2. list the tag's chunk entries and group them in clusters of
 *      overlapping spans (the unit compaction merges too: a merged chunk
 *      takes a new, highest seq, which is right only when it replaces every
 *      chunk that shares a timestamp with it);
 *   3. a cluster with no chunk touching [from, to) stays; one whose chunks
 *      all lie inside is removed; any other is decoded, the last write of
 *      each timestamp kept (seq order), the range cut out, and what is left
 *      re-encoded into new chunks with fresh statistics;
 *   4. ONE chunk__commit: the new chunks appended durably to the segment,
 *      then one LMDB txn deletes every removed or rewritten entry and puts
 *      the new ones;
 *   5. under mu, the tag's latest value is recomputed from the chunks that
 *      are left and the buffer (writes that came during the delete).
 *
 * Crash safety without a WAL record of its own: the delete is acknowledged
 * only after the txn of step 4 committed. Before it, nothing was removed
 * (a crash leaves the seal of step 1, which is an ordinary seal, and
 * perhaps dead segment bytes). After it, no chunk holds a sample of the
 * range, and recovery replays only WAL writes with lsn > the tag's
 * flushed_lsn, which step 1 raised past every write the delete saw; so a
 * deleted sample cannot come back from the log. Writes that arrive while
 * the delete runs are ordered after it (or, if durable before step 1's
 * sync, before it): either way every query mode sees one answer, as the
 * statistics, raw scans and latest all read the same committed entries.
 */
#include "storage/db_internal.h"

#include "common/hist_array.h"

#include <stdlib.h>
#include <string.h>

/* What the delete knows of each chunk entry besides the entry itself
 * (an array beside the refs, index for index). */
typedef struct {
    bool damaged;
    bool gone; /* deleted or rewritten by this delete */
} del_flags;

/* Every chunk entry of a tag, in key (start) order, with its damage mark. */
static int list_refs(hist_db *db, uint32_t tag, hist_chunk_ref **out, del_flags **flout,
                     size_t *nout)
{
    bool *damaged;
    int rc = chunk__list_refs(db, tag, HIST_TS_MIN - 1, INT64_MAX, false, out, &damaged, nout);
    if (rc)
        return rc;
    del_flags *fl = calloc(*nout ? *nout : 1, sizeof(*fl));
    if (!fl) {
        free(*out);
        free(damaged);
        return HIST_ENOMEM;
    }
    for (size_t i = 0; i < *nout; i++)
        fl[i].damaged = damaged[i];
    free(damaged);
    *flout = fl;
    return 0;
}

static bool touches(const hist_chunk_ref *r, int64_t from, int64_t to)
{
    return r->stats.start_ts < to && r->stats.end_ts >= from;
}

static bool inside(const hist_chunk_ref *r, int64_t from, int64_t to)
{
    return r->stats.start_ts >= from && r->stats.end_ts < to;
}

typedef struct {
    hist_chunk_batch out; /* the new chunks */
    hist_chunk_ref *dels; /* entries to delete */
    size_t ndels, capdels;
    hist_delete_report rep;
} del_plan;

static int plan_del(del_plan *p, const hist_chunk_ref *r, del_flags *f)
{
    if (HIST_ARRAY_RESERVE(p->dels, p->capdels, p->ndels + 1, 16) < 0)
        return HIST_ENOMEM;
    p->dels[p->ndels++] = *r;
    f->gone = true;
    return 0;
}

/* Cluster [a, b) touches the range and holds a chunk partly outside it:
 * decode, cut, re-encode. A damaged member cannot be cut (its samples
 * outside the range would be lost with it): HIST_ECORRUPT, nothing done. */
static int rewrite_cluster(hist_db *db, hist_type type, uint32_t tag, hist_chunk_ref *refs,
                           del_flags *fl, size_t a, size_t b, int64_t from, int64_t to, del_plan *p)
{
    size_t total = 0;
    for (size_t i = a; i < b; i++) {
        if (fl[i].damaged && !inside(&refs[i], from, to)) {
            hist_logf(&db->log, HIST_LOG_ERROR,
                      "delete: tag %u: a damaged chunk (%lld..%lld) crosses the range; nothing "
                      "deleted (repair or drop it first)",
                      tag, (long long)refs[i].stats.start_ts, (long long)refs[i].stats.end_ts);
            return HIST_ECORRUPT;
        }
        total += fl[i].damaged ? 0 : refs[i].stats.count;
    }
    hist_msample *m = malloc((total ? total : 1) * sizeof(*m));
    if (!m)
        return HIST_ENOMEM;
    size_t n = 0;
    int rc = 0;
    for (size_t i = a; i < b && rc == 0; i++) {
        if (fl[i].damaged) { /* inside: goes with its mark */
            p->rep.samples_deleted += refs[i].stats.count;
            continue;
        }
        rc = chunk__load_msamples(db, &refs[i], m, &n);
    }
    if (rc) {
        free(m);
        return rc;
    }
    n = msamples__sort_dedupe(m, n);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i].ts < from || m[i].ts >= to)
            m[kept++] = m[i];
    if (kept == n) { /* the span crossed the range but no sample lay in it */
        free(m);
        return 0;
    }
    p->rep.samples_deleted += n - kept;
    size_t before = p->out.n;
    rc = chunk__batch_add(db, &p->out, tag, type, m, kept);
    free(m);
    for (size_t i = a; i < b && rc == 0; i++) {
        rc = plan_del(p, &refs[i], &fl[i]);
        if (inside(&refs[i], from, to))
            p->rep.chunks_removed++;
        else
            p->rep.chunks_rewritten++;
    }
    p->rep.chunks_written += p->out.n - before;
    return rc;
}

/* Whether chunk r holds a later last sample than chunk b: a later end, or
 * the same end written later (higher seq). */
static bool ends_later(const hist_chunk_ref *r, const hist_chunk_ref *b)
{
    return r->stats.end_ts > b->stats.end_ts ||
           (r->stats.end_ts == b->stats.end_ts && r->seq > b->seq);
}

/* The tag's latest value from its chunks left (refs minus the deleted
 * ones, plus the new ones) and its buffer (mu held). */
static void reset_latest(hist_tag_state *t, const hist_chunk_ref *refs, const del_flags *fl,
                         size_t n, const del_plan *p)
{
    bool have = false;
    hist_chunk_ref best = {0};
    for (size_t i = 0; i < n; i++) {
        const hist_chunk_ref *r = &refs[i];
        if (fl[i].gone || fl[i].damaged || r->stats.count == 0)
            continue;
        if (!have || ends_later(r, &best))
            best = *r, have = true;
    }
    for (size_t i = 0; i < p->out.n; i++) {
        const hist_chunk_ref *r = &p->out.refs[i];
        if (!have || ends_later(r, &best))
            best = *r, have = true;
    }
    hist_sample sealed = {best.stats.end_ts, best.stats.last_v, best.stats.last_q};
    t->latest_stale = 0;
    tags__restore_latest(t, have ? &sealed : NULL);
}

/* Debug builds: after the seal of step 1 the buffer holds no write the
 * delete saw (lsn <= durable) in [from, to) (mu held). */
static void assert_buffer_clear(hist_tag_state *t, uint64_t durable, int64_t from, int64_t to)
{
#ifndef NDEBUG
    membuf_view bv;
    if (membuf__view(&t->buf, &bv) != 0)
        return;
    for (size_t i = 0; i < bv.n; i++)
        HIST_ASSERT(bv.lsn[i] > durable || bv.ts[i] < from || bv.ts[i] >= to);
    membuf__view_release(&bv);
#else
    (void)t, (void)durable, (void)from, (void)to;
#endif
}

static int delete_locked(hist_db *db, uint32_t tag, int64_t from, int64_t to, del_plan *p)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    mu_lock(&db->mu);
    hist_tag_state *t = tags__get(db, tag);
    hist_type type = t ? (hist_type)t->type : HIST_TYPE_FLOAT64;
    mu_unlock(&db->mu);
    if (!t)
        return HIST_ENOTFOUND;
    /* Read before the seal: the seal syncs and takes every write durable
     * then, so at least every write up to here (a later read could pass
     * writes that became durable after the seal's sync). */
    uint64_t durable = wal__durable_lsn(db->wal);
    int rc = seal__tags(db, &tag, 1, SEAL_WHOLE);
    if (rc)
        return rc;
    mu_lock(&db->mu);
    assert_buffer_clear(t, durable, from, to);
    mu_unlock(&db->mu);

    hist_chunk_ref *refs;
    del_flags *fl;
    size_t n;
    rc = list_refs(db, tag, &refs, &fl, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = chunk__cluster_end(refs, n, i);
        bool any = false, all = true;
        for (size_t k = i; k < j; k++) {
            any |= touches(&refs[k], from, to);
            all &= inside(&refs[k], from, to);
        }
        if (all) {
            for (size_t k = i; k < j && rc == 0; k++) {
                rc = plan_del(p, &refs[k], &fl[k]);
                p->rep.chunks_removed++;
                p->rep.samples_deleted += refs[k].stats.count;
            }
        } else if (any) {
            rc = rewrite_cluster(db, type, tag, refs, fl, i, j, from, to, p);
        }
        i = j;
    }
    if (rc == 0 && p->ndels)
        rc =
            chunk__commit(db, p->out.bufs, p->out.refs, p->out.n, p->dels, p->ndels, NULL, NULL, 0);
    if (rc == 0 && p->ndels) {
        mu_lock(&db->mu);
        reset_latest(t, refs, fl, n, p);
        mu_unlock(&db->mu);
    }
    free(refs);
    free(fl);
    return rc;
}

int hist_db_delete(hist_db *db, uint32_t tag, int64_t from, int64_t to, hist_delete_report *out)
{
    if (!db || from >= to)
        return HIST_EINVAL;
    del_plan p = {0};
    mu_lock(&db->seal_mu);
    int rc = delete_locked(db, tag, from, to, &p);
    mu_unlock(&db->seal_mu);
    if (rc == 0 && p.ndels)
        hist_logf(&db->log, HIST_LOG_INFO,
                  "delete: tag %u [%lld, %lld): %llu chunk(s) removed, %llu rewritten into "
                  "%llu, %llu sample(s) deleted",
                  tag, (long long)from, (long long)to, (unsigned long long)p.rep.chunks_removed,
                  (unsigned long long)p.rep.chunks_rewritten,
                  (unsigned long long)p.rep.chunks_written,
                  (unsigned long long)p.rep.samples_deleted);
    if (rc == 0 && out)
        *out = p.rep;
    chunk__batch_free(&p.out);
    free(p.dels);
    return rc;
}
