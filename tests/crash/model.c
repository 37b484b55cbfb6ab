/*
 * model.c: the crash tests' expected contents and their check (model.h).
 *
 * The check works tag by tag: it reads the tag into an array by slot, then
 * walks the slots next to the tag's in-flight writes (sorted by slot, then
 * request). A key an in-flight request wrote may show any of its
 * candidates, each visible for a range of the surviving prefix P (the
 * number of in-flight requests that survived, 0..n):
 *   the model's value   for P <= r1           (r1: first request writing it)
 *   request ri's value  for ri < P <= ri+1    (the next writer, or n)
 * What the key shows picks one range; the P inside most ranges wins, and
 * every key whose range misses it is wrong (requests survived out of order).
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/db_internal.h"

int model_init(crash_model *m, const plant *p)
{
    memset(m, 0, sizeof(*m));
    m->plant = p;
    for (int i = 0; i < p->shape.ntags; i++) {
        m->tags[i] = calloc((size_t)p->tags[i].nslots, sizeof(model_value));
        if (!m->tags[i]) {
            model_free(m);
            return HIST_ENOMEM;
        }
    }
    return 0;
}

void model_free(crash_model *m)
{
    for (int i = 0; i < PLANT_MAX_TAGS; i++)
        free(m->tags[i]);
    memset(m, 0, sizeof(*m));
}

void model_apply(crash_model *m, const plant_batch *b)
{
    for (int i = 0; i < b->nseries; i++) {
        const plant_series *s = &b->series[i];
        for (size_t j = 0; j < s->n; j++) {
            int64_t slot = plant_ts_slot(m->plant, s->tag, s->ts[j]);
            m->tags[s->tag][slot] = (model_value){s->v[j].bits, s->q[j], 1};
        }
    }
}

static bool same(model_value a, model_value b)
{
    return a.set == b.set && (!a.set || (a.bits == b.bits && a.q == b.q));
}

/* ---- In-flight writes of one tag ----------------------------------------------------- */

typedef struct {
    int64_t slot;
    uint32_t req, pos; /* request index, position in its series */
    model_value v;
} flight_write;

typedef struct {
    flight_write *w;
    size_t n, cap;
} flight_list;

static int flight_cmp(const void *a, const void *b)
{
    const flight_write *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    if (x->req != y->req)
        return x->req < y->req ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The tag's in-flight writes, by slot and request; of a slot written twice
 * in one request only the later write (it wins). */
static int flight_collect(const plant *p, int tag, const plant_batch *const *inflight, size_t n,
                          flight_list *out)
{
    out->n = 0;
    for (size_t r = 0; r < n; r++)
        for (int i = 0; i < inflight[r]->nseries; i++) {
            const plant_series *s = &inflight[r]->series[i];
            if (s->tag != tag)
                continue;
            if (out->n + s->n > out->cap) {
                size_t cap = (out->n + s->n) * 2;
                flight_write *w = realloc(out->w, cap * sizeof(*w));
                if (!w)
                    return HIST_ENOMEM;
                out->w = w, out->cap = cap;
            }
            for (size_t j = 0; j < s->n; j++)
                out->w[out->n++] = (flight_write){plant_ts_slot(p, tag, s->ts[j]),
                                                  (uint32_t)r,
                                                  (uint32_t)j,
                                                  {s->v[j].bits, s->q[j], 1}};
        }
    if (out->n)
        qsort(out->w, out->n, sizeof(*out->w), flight_cmp);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (k && out->w[k - 1].slot == out->w[i].slot && out->w[k - 1].req == out->w[i].req)
            out->w[k - 1] = out->w[i];
        else
            out->w[k++] = out->w[i];
    }
    out->n = k;
    return 0;
}

/* ---- Judging keys ------------------------------------------------------------------------ */

/* One key as the model has it and as the directory shows it. */
typedef struct {
    int tag;
    int64_t slot;
    model_value want, got;
} key_seen;

typedef struct {
    key_seen key;
    uint32_t lo, hi; /* the surviving prefixes P that explain it */
} prefix_range;

typedef struct {
    size_t n;             /* in-flight requests */
    prefix_range *ranges; /* one per in-flight key that showed a candidate */
    size_t nranges, cap;
    model_fix *fixes;
    size_t max_fixes;
    model_verdict *out;
} judge;

static void judge_fix(judge *j, const key_seen *k)
{
    if (j->fixes && j->out->nfixes < j->max_fixes)
        j->fixes[j->out->nfixes++] = (model_fix){k->tag, k->slot, k->got};
}

static int judge_range(judge *j, const key_seen *k, uint32_t lo, uint32_t hi)
{
    if (j->nranges == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 1024;
        prefix_range *r = realloc(j->ranges, cap * sizeof(*r));
        if (!r)
            return HIST_ENOMEM;
        j->ranges = r, j->cap = cap;
    }
    j->ranges[j->nranges++] = (prefix_range){*k, lo, hi};
    return 0;
}

/* A key no in-flight request wrote: it shows the model's value. */
static void judge_plain(judge *j, const key_seen *k)
{
    if (same(k->want, k->got))
        return;
    if (!k->got.set)
        j->out->lost++;
    else if (!k->want.set)
        j->out->phantom++;
    else
        j->out->wrong++;
    judge_fix(j, k);
}

/* A key written by the in-flight writes w[0..nw) (ascending requests). */
static int judge_flight(judge *j, const key_seen *k, const flight_write *w, size_t nw)
{
    if (same(k->want, k->got))
        return judge_range(j, k, 0, w[0].req);
    for (size_t i = 0; i < nw; i++)
        if (same(w[i].v, k->got))
            return judge_range(j, k, w[i].req + 1, i + 1 < nw ? w[i + 1].req : (uint32_t)j->n);
    if (!k->got.set)
        j->out->lost++; /* the model's value was there before any of them */
    else
        j->out->wrong++;
    judge_fix(j, k);
    return 0;
}

/* The prefix inside most ranges (the longest of equals); the keys whose
 * range misses it are wrong. */
static int judge_prefix(judge *j)
{
    int64_t *cover = calloc(j->n + 2, sizeof(*cover)); /* differences: +1 at lo, -1 past hi */
    if (!cover)
        return HIST_ENOMEM;
    for (size_t i = 0; i < j->nranges; i++) {
        cover[j->ranges[i].lo]++;
        cover[j->ranges[i].hi + 1]--;
    }
    int64_t run = 0, best = -1;
    uint32_t p = 0;
    for (uint32_t k = 0; k <= j->n; k++) {
        run += cover[k];
        if (run >= best)
            best = run, p = k;
    }
    free(cover);
    j->out->survived = p;
    for (size_t i = 0; i < j->nranges; i++)
        if (p < j->ranges[i].lo || p > j->ranges[i].hi) {
            j->out->wrong++;
            judge_fix(j, &j->ranges[i].key);
        }
    return 0;
}

/* ---- Reading the directory ---------------------------------------------------------------- */

/* Reads tag i into got[slot]; samples at no slot's time are phantoms (no
 * fix can name them, so they count again in later checks). */
static int read_tag(const plant *p, hist_db *db, int i, model_value *got, model_verdict *out)
{
    memset(got, 0, (size_t)p->tags[i].nslots * sizeof(*got));
    hist_tag_info info;
    if (hist_tag_by_name(db, p->tags[i].name, &info) != 0)
        return 0; /* never created, or its creating request did not survive */
    hist_scan *s;
    int rc = hist_scan_open(db, info.id, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &s);
    if (rc)
        return rc;
    hist_piece pc;
    while ((rc = hist_scan_next(s, &pc)) == 1)
        for (size_t k = 0; k < pc.n; k++) {
            int64_t slot = plant_ts_slot(p, i, pc.ts[k]);
            if (slot < 0)
                out->phantom++;
            else
                got[slot] = (model_value){pc.v[k].bits, pc.q ? pc.q[k] : 0, 1};
        }
    hist_scan_close(s);
    return rc;
}

static int check_tag(const crash_model *m, hist_db *db, int i, model_value *got, flight_list *fl,
                     judge *j, const plant_batch *const *inflight)
{
    int rc = read_tag(m->plant, db, i, got, j->out);
    if (rc == 0)
        rc = flight_collect(m->plant, i, inflight, j->n, fl);
    size_t f = 0;
    for (int64_t slot = 0; rc == 0 && slot < m->plant->tags[i].nslots; slot++) {
        key_seen k = {i, slot, m->tags[i][slot], got[slot]};
        j->out->keys += k.want.set;
        size_t e = f;
        while (e < fl->n && fl->w[e].slot == slot)
            e++;
        if (e > f)
            rc = judge_flight(j, &k, fl->w + f, e - f);
        else
            judge_plain(j, &k);
        f = e;
    }
    return rc;
}

/* ---- Chunks --------------------------------------------------------------------------------- */

/* Whether a loaded chunk's samples agree with its index entry. */
static bool chunk_agrees(const hist_chunk_ref *r, hist_type type, const int64_t *ts,
                         const hist_value *v, const uint32_t *q)
{
    const hist_chunk_stats *st = &r->stats;
    bool ok = st->count > 0 && ts[0] == st->start_ts && ts[st->count - 1] == st->end_ts &&
              v[0].bits == st->first_v.bits && v[st->count - 1].bits == st->last_v.bits;
    uint32_t nbad = 0, imin = 0, imax = 0;
    double mn = INFINITY, mx = -INFINITY;
    for (uint32_t i = 0; i < st->count; i++) {
        if (i && ts[i] <= ts[i - 1])
            ok = false;
        nbad += hist_quality_is_bad(q[i]);
        double x = hist_value_as_double(type, v[i]);
        if (x < mn)
            mn = x, imin = i;
        if (x > mx)
            mx = x, imax = i;
    }
    return ok && nbad == st->bad_count && mn == st->min && mx == st->max &&
           st->min_ts == ts[imin] && st->min_v.bits == v[imin].bits && st->max_ts == ts[imax] &&
           st->max_v.bits == v[imax].bits;
}

/* The index's chunk entries (keys checked against their refs: *bad). */
static int chunk_refs(hist_db *db, hist_chunk_ref **out, size_t *n, uint64_t *bad)
{
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur = NULL;
    rc = index__err(mdb_cursor_open(txn, db->idx.chunk, &cur));
    hist_chunk_ref *refs = NULL;
    size_t cap = 0;
    *n = 0;
    MDB_val k, d;
    for (int op = MDB_FIRST; rc == 0 && mdb_cursor_get(cur, &k, &d, op) == 0; op = MDB_NEXT) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            hist_chunk_ref *r = realloc(refs, cap * sizeof(*r));
            if (!r) {
                rc = HIST_ENOMEM;
                break;
            }
            refs = r;
        }
        int64_t start;
        uint32_t tag;
        if (index__chunk_ref_from(&k, &d, &refs[*n]) != 0) {
            (*bad)++;
            continue;
        }
        index__chunk_key_parse(k.mv_data, &tag, &start, NULL);
        *bad += tag != refs[*n].tag || start != refs[*n].stats.start_ts;
        (*n)++;
    }
    if (cur)
        mdb_cursor_close(cur);
    index__read_end(&db->idx, txn);
    *out = refs;
    return rc;
}

/* Every chunk in the index loads, passes its CRC, decodes, and matches
 * its entry; the db's counters agree. Returns the chunks that do not. */
static int check_chunks(hist_db *db, uint64_t *chunks, uint64_t *bad)
{
    hist_chunk_ref *refs = NULL;
    size_t n = 0;
    int rc = chunk_refs(db, &refs, &n, bad);
    *chunks = n;
    for (size_t c = 0; c < n && rc == 0; c++) {
        hist_tag_info info;
        int64_t *ts;
        hist_value *v;
        uint32_t *q;
        if (hist_tag_by_id(db, refs[c].tag, &info) != 0 ||
            chunk__load(db, &refs[c], &ts, &v, &q) != 0) {
            (*bad)++;
            continue;
        }
        *bad += !chunk_agrees(&refs[c], info.type, ts, v, q);
        free(ts), free(v), free(q);
    }
    free(refs);
    hist_db_stats st;
    if (rc == 0 && (rc = hist_db_get_stats(db, &st)) == 0)
        *bad += st.damaged_chunks + (st.chunks != n);
    return rc;
}

/* ---- The check ---------------------------------------------------------------------------- */

void model_fix_apply(crash_model *m, const model_fix *fixes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        m->tags[fixes[i].tag][fixes[i].slot] = fixes[i].got;
}

int model_check(const crash_model *m, hist_db *db, const plant_batch *const *inflight, size_t n,
                model_fix *fixes, size_t max_fixes, model_verdict *out)
{
    memset(out, 0, sizeof(*out));
    const plant *p = m->plant;
    int64_t most = 0;
    for (int i = 0; i < p->shape.ntags; i++)
        most = p->tags[i].nslots > most ? p->tags[i].nslots : most;
    model_value *got = malloc((size_t)most * sizeof(*got));
    flight_list fl = {0};
    judge j = {.n = n, .fixes = fixes, .max_fixes = max_fixes, .out = out};
    int rc = got ? 0 : HIST_ENOMEM;
    for (int i = 0; i < p->shape.ntags && rc == 0; i++)
        rc = check_tag(m, db, i, got, &fl, &j, inflight);
    if (rc == 0)
        rc = judge_prefix(&j);
    if (rc == 0)
        rc = check_chunks(db, &out->chunks, &out->bad_chunks);
    hist_db_stats st;
    if (rc == 0 && hist_db_get_stats(db, &st) == 0)
        snprintf(out->backend, sizeof(out->backend), "%s", st.io_backend);
    free(got);
    free(fl.w);
    free(j.ranges);
    return rc;
}
