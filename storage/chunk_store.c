/*
 * chunk_store.c: a chunk from samples to disk and back. Building one
 * (encode, crc32c, statistics), cutting sorted samples into chunks at the
 * clock's boundaries, committing chunks (one durable segment append, then
 * one LMDB txn with their entries, the entries they replace and the tags'
 * flushed LSNs), and loading one for reading (read, crc32c, decode).
 *
 * The sealer (seal.c) and compaction (compact.c) build and commit; scans
 * (scan.c), compaction and the scrub (scrub.c) load. A chunk that fails
 * to load as damage is marked here (damage.c).
 */
#include "common/hist_array.h"
#include "storage/db_internal.h"

#include <stdlib.h>
#include <string.h>

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

int chunk__stats_fill(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                      size_t n, hist_chunk_ref *ref)
{
    stats_compute(type, ts, v, q, n, &ref->stats);
    if (ref->stats.bad_count == 0 && ref->stats.nan_count == 0)
        return 0;
    ref->flags |= HIST_CHUNK_HAS_COUNTED;
    return counted_stats(type, ts, v, q, n, &ref->counted);
}

int chunk__build(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                 size_t n, uint8_t **buf, hist_chunk_ref *ref)
{
    size_t cap = chunk__bound(n);
    uint8_t *b = malloc(cap);
    if (!b)
        return HIST_ENOMEM;
    int64_t len = chunk__encode(type, ts, v, q, n, b, cap);
    if (len <= 0) {
        free(b);
        return len < 0 ? (int)len : HIST_EINVAL;
    }
    hist_chunk_info info;
    memset(&info, 0, sizeof(info));
    (void)chunk__peek(b, (size_t)len, &info);
    memset(ref, 0, sizeof(*ref));
    ref->length = (uint32_t)len;
    ref->crc = crc32c__compute(0, b, (size_t)len);
    ref->ts_codec = info.ts_codec;
    ref->value_codec = info.value_codec;
    ref->quality_codec = info.quality_codec;
    int rc = chunk__stats_fill(type, ts, v, q, n, ref);
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
size_t chunk__run(const hist_msample *s, size_t n, uint32_t cs, int64_t align)
{
    size_t max = n < cs ? n : cs;
    if (align <= 0 || max == 0)
        return max;
    size_t min = cs / 16 ? cs / 16 : 1;
    int64_t window = chunk__align_floor(s[0].ts, align);
    for (size_t i = 1; i < max; i++) {
        if (s[i].ts - window < align)
            continue;
        if (i >= min)
            return i;
        window = chunk__align_floor(s[i].ts, align);
    }
    return max;
}

void chunk__batch_free(hist_chunk_batch *b)
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
    size_t cap = hist_array_cap(b->cap, b->n + 1, sizeof(hist_chunk_ref), 16);
    if (cap == 0)
        return HIST_ENOMEM;
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

int chunk__scratch_reserve(hist_db *db, size_t need)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    if (db->seal_scratch_cap >= need)
        return 0;
    hist_msample *s = malloc(need * sizeof(*s));
    if (!s)
        return HIST_ENOMEM;
    free(db->seal_scratch);
    db->seal_scratch = s;
    db->seal_scratch_cap = need;
    return 0;
}

int chunk__batch_add(hist_db *db, hist_chunk_batch *b, uint32_t tag, hist_type type,
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
        size_t m = chunk__run(s + off, n - off, cs, db->opts.chunk_align_ns);
        msamples__split(s + off, m, b->ts, b->v, b->q);
        off += m;
        if ((rc = batch_grow(b)) != 0)
            break;
        rc = chunk__build(type, b->ts, b->v, b->q, m, &b->bufs[b->n], &b->refs[b->n]);
        if (rc == 0)
            b->refs[b->n++].tag = tag;
    }
    return rc;
}

/* ---- Committing chunks --------------------------------------------------------- */

/* What a commit raises in a tag's stored row (the rest of the row is
 * read in the commit's txn: the cache does not hold it). */
typedef struct {
    uint32_t id;
    uint64_t flushed_lsn;
    int64_t max_span;
} tag_raise;

typedef struct {
    hist_db *db;
    hist_chunk_ref *refs;
    size_t n;
    const hist_chunk_ref *dels;
    size_t ndels;
    tag_raise *tags; /* tag rows to raise */
    size_t ntags;
    uint32_t *slot; /* open addressing over tags: index + 1, 0 = empty */
    size_t mask;    /* slots - 1; slots a power of two >= 2 x cap */
    uint64_t next_seq;
} commit_ctx;

static int commit_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    commit_ctx *c = arg;
    int rc = 0;
    for (size_t i = 0; i < c->ndels && rc == 0; i++)
        rc = index__del_chunk(idx, txn, &c->dels[i]);
    for (size_t i = 0; i < c->n && rc == 0; i++)
        rc = index__put_chunk(idx, txn, &c->refs[i]);
    for (size_t i = 0; i < c->ntags && rc == 0; i++) {
        hist_index_tag row;
        rc = index__get_tag(idx, txn, c->tags[i].id, &row);
        if (rc == 0 && c->tags[i].flushed_lsn > row.flushed_lsn)
            row.flushed_lsn = c->tags[i].flushed_lsn;
        if (rc == 0 && c->tags[i].max_span > row.max_span)
            row.max_span = c->tags[i].max_span;
        if (rc == 0)
            rc = index__put_tag_row(idx, txn, &row);
    }
    if (rc == 0)
        rc = index__meta_put(idx, txn, "next_seq", c->next_seq);
    return rc;
}

/* Finds or adds tag id in the list of rows to raise (from the cache), in
 * constant time: a seal of 100,000 tags holds tag_mu and mu while it
 * builds this list. */
static tag_raise *commit_tag(hist_db *db, commit_ctx *c, size_t cap, uint32_t id)
{
    size_t h = ((size_t)id * 2654435761u) & c->mask;
    for (; c->slot[h]; h = (h + 1) & c->mask)
        if (c->tags[c->slot[h] - 1].id == id)
            return &c->tags[c->slot[h] - 1];
    if (c->ntags == cap)
        return NULL;
    hist_tag_state *t = tags__get(db, id);
    if (!t)
        return NULL;
    c->tags[c->ntags] = (tag_raise){id, t->flushed_lsn, t->max_span};
    c->slot[h] = (uint32_t)(c->ntags + 1);
    return &c->tags[c->ntags++];
}

int chunk__commit(hist_db *db, uint8_t **bufs, hist_chunk_ref *refs, size_t n,
                  const hist_chunk_ref *dels, size_t ndels, const uint32_t *flushed_tags,
                  const uint64_t *flushed_lsns, size_t nflushed)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
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
            rc = segs__append(&db->segs, iov, (int)n, &segno, offs);
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
    size_t cap = n + nflushed + 1, slots = 16;
    while (slots < 2 * cap)
        slots *= 2;
    c.tags = calloc(cap, sizeof(*c.tags));
    c.slot = calloc(slots, sizeof(*c.slot));
    c.mask = slots - 1;
    if (!c.tags || !c.slot) {
        free(c.tags), free(c.slot);
        return HIST_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        refs[i].seq = db->next_seq++;
    c.next_seq = db->next_seq;

    mu_lock(&db->tag_mu);
    mu_lock(&db->mu);
    /* Raise max spans in the cache before the entries become visible: a
     * scan seeks (from - max_span), and an overestimate is harmless. */
    for (size_t i = 0; i < n; i++) {
        hist_tag_state *t = tags__get(db, refs[i].tag);
        int64_t span = refs[i].stats.end_ts - refs[i].stats.start_ts;
        if (t && span > t->max_span)
            t->max_span = span;
        tag_raise *row = commit_tag(db, &c, cap, refs[i].tag);
        if (row && span > row->max_span)
            row->max_span = span;
    }
    for (size_t i = 0; i < nflushed; i++) {
        tag_raise *row = commit_tag(db, &c, cap, flushed_tags[i]);
        if (row && flushed_lsns[i] > row->flushed_lsn)
            row->flushed_lsn = flushed_lsns[i];
    }
    mu_unlock(&db->mu);
    rc = index__write(&db->idx, commit_txn, &c);
    if (rc == 0) {
        mu_lock(&db->mu);
        for (size_t i = 0; i < c.ntags; i++) {
            hist_tag_state *t = tags__get(db, c.tags[i].id);
            if (t && c.tags[i].flushed_lsn > t->flushed_lsn)
                t->flushed_lsn = c.tags[i].flushed_lsn;
        }
        mu_unlock(&db->mu);
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
        hist_logf(&db->log, HIST_LOG_ERROR, "index commit of %zu chunks failed: %s", n,
                  hist_strerror(rc));
    }
    mu_unlock(&db->tag_mu);
    free(c.tags);
    free(c.slot);
    return rc;
}

/* ---- Loading one chunk --------------------------------------------------------------- */

/* An idle decoder of the db's, or a new one (NULL: decode without). */
static chunk_decoder *take_decoder(hist_db *db)
{
    chunk_decoder *d = NULL;
    mu_lock(&db->dec_mu);
    if (db->ndecoders > 0)
        d = db->decoders[--db->ndecoders];
    mu_unlock(&db->dec_mu);
    return d ? d : chunk__decoder_new();
}

static void give_decoder(hist_db *db, chunk_decoder *d)
{
    mu_lock(&db->dec_mu);
    if (d && db->ndecoders < DB_DECODERS) {
        db->decoders[db->ndecoders++] = d;
        d = NULL;
    }
    mu_unlock(&db->dec_mu);
    chunk__decoder_free(d);
}

int chunk__read(hist_db *db, const hist_chunk_ref *ref, int64_t **ts_out, hist_value **v_out,
                uint32_t **q_out, int *why)
{
    *why = 0;
    uint8_t *buf = malloc(ref->length ? ref->length : 1);
    if (!buf)
        return HIST_ENOMEM;
    int rc = segs__read(&db->segs, ref->segment, ref->offset, buf, ref->length);
    if (rc)
        *why = rc == HIST_ECORRUPT ? HIST_DAMAGE_SHORT : HIST_DAMAGE_UNREADABLE;
    if (rc == 0 && crc32c__compute(0, buf, ref->length) != ref->crc)
        rc = HIST_ECORRUPT, *why = HIST_DAMAGE_CRC;
    int64_t *ts = NULL;
    hist_value *v = NULL;
    uint32_t *q = NULL;
    size_t n = ref->stats.count;
    if (rc == 0) {
        ts = malloc((n ? n : 1) * sizeof(*ts));
        v = malloc((n ? n : 1) * sizeof(*v));
        q = malloc((n ? n : 1) * sizeof(*q));
        if (!ts || !v || !q)
            rc = HIST_ENOMEM;
    }
    if (rc == 0) {
        chunk_decoder *dec = take_decoder(db);
        int64_t got = chunk__decode_with(dec, buf, ref->length, ts, v, q, n);
        give_decoder(db, dec);
        /* Bytes that match their crc32c but not their entry (another count,
         * a header asking for more room) are damage too. */
        if (got != (int64_t)n)
            rc = got == HIST_ENOMEM ? HIST_ENOMEM : HIST_ECORRUPT;
        if (rc == HIST_ECORRUPT)
            *why = HIST_DAMAGE_DECODE;
    }
    free(buf);
    if (rc) {
        free(ts), free(v), free(q);
        return rc;
    }
    *ts_out = ts, *v_out = v, *q_out = q;
    return 0;
}

int chunk__load(hist_db *db, const hist_chunk_ref *ref, int64_t **ts_out, hist_value **v_out,
                uint32_t **q_out)
{
    int why;
    int rc = chunk__read(db, ref, ts_out, v_out, q_out, &why);
    if (rc == 0)
        atomic_fetch_add(&db->chunks_decoded, 1);
    if (rc != HIST_ECORRUPT && rc != HIST_EIO)
        return rc;
    atomic_fetch_add(&db->chunk_load_failures, 1);
    if (why != HIST_DAMAGE_UNREADABLE)
        damage__mark(db, ref, why); /* logs it, once */
    else
        hist_logf(&db->log, HIST_LOG_ERROR,
                  "unreadable chunk skipped: tag %u, segment %u, offset %llu, %u bytes: %s",
                  ref->tag, ref->segment, (unsigned long long)ref->offset, ref->length,
                  hist_strerror(rc));
    return rc;
}

int chunk__load_msamples(hist_db *db, const hist_chunk_ref *ref, hist_msample *m, size_t *n)
{
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
    int rc = chunk__load(db, ref, &ts, &v, &q);
    if (rc)
        return rc;
    for (size_t j = 0; j < ref->stats.count; j++)
        m[(*n)++] = (hist_msample){ts[j], ref->seq, v[j], q[j]};
    free(ts), free(v), free(q);
    return 0;
}

size_t chunk__cluster_end(const hist_chunk_ref *refs, size_t n, size_t i)
{
    HIST_ASSERT(i < n);
    int64_t end = refs[i].stats.end_ts;
    size_t j = i + 1;
    for (; j < n && refs[j].stats.start_ts <= end; j++)
        if (refs[j].stats.end_ts > end)
            end = refs[j].stats.end_ts;
    return j;
}

int chunk__list_refs(hist_db *db, uint32_t tag, int64_t from, int64_t to, bool skip_damaged,
                     hist_chunk_ref **out, bool **damaged_out, size_t *nout)
{
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = index__err(mdb_cursor_open(txn, db->idx.chunk, &cur));
    hist_chunk_ref *refs = NULL;
    bool *damaged = NULL;
    size_t n = 0, cap = 0, dcap = 0;
    if (rc == 0) {
        uint8_t kb[HIST_CHUNK_KEY_LEN];
        index__chunk_key(kb, tag, from, 0);
        hist_marks marks = {0};
        if (skip_damaged || damaged_out)
            rc = marks__open(&db->idx, txn, tag ? kb : NULL, &marks);
        MDB_val k = {sizeof(kb), kb}, d;
        int op = tag ? MDB_SET_RANGE : MDB_FIRST;
        while (rc == 0 && mdb_cursor_get(cur, &k, &d, op) == 0) {
            op = MDB_NEXT;
            if (tag) {
                uint32_t ktag;
                int64_t kstart;
                if (k.mv_size != HIST_CHUNK_KEY_LEN)
                    break;
                index__chunk_key_parse(k.mv_data, &ktag, &kstart, NULL);
                if (ktag != tag || kstart >= to)
                    break;
            }
            if (HIST_ARRAY_RESERVE(refs, cap, n + 1, 64) < 0 ||
                (damaged_out && HIST_ARRAY_RESERVE(damaged, dcap, n + 1, 64) < 0)) {
                rc = HIST_ENOMEM;
                break;
            }
            bool marked = marks__has(&marks, &k);
            if (marked && skip_damaged)
                continue;
            if (damaged_out)
                damaged[n] = marked;
            if (index__chunk_ref_from(&k, &d, &refs[n]) == 0)
                n++;
        }
        marks__close(&marks);
        mdb_cursor_close(cur);
    }
    index__read_end(&db->idx, txn);
    if (rc) {
        free(refs);
        free(damaged);
        return rc;
    }
    *out = refs;
    if (damaged_out)
        *damaged_out = damaged;
    *nout = n;
    return 0;
}
