/*
 * damage.c: the marks of damaged chunks in the index, and what follows
 * from them (see "Damaged chunks and the scrub" in hist_storage.h).
 *
 * A mark is a row of the LMDB `damaged` database under the chunk's own key
 * (tag | start | seq), so it sorts beside its entry: a scan walks both in
 * one pass (hist_marks), and when there is no mark at all (the normal
 * case) a read pays one mdb_stat. The chunk entry is never rewritten: it
 * stays as sealed, for a later repair and for an older binary, which does
 * not know the database and reads the index as it always did.
 *
 * A mark's value is a fixed-layout struct in host byte order (like the tag
 * rows, see index.c): where the chunk was and why and when it was found
 * damaged. Its key alone is what leaves the chunk out; a value that does
 * not parse still marks it.
 *
 * Invariants kept here:
 *   - a chunk is marked only while its entry still says what was checked
 *     (segment, offset, length, crc32c): a verdict about bytes a compaction
 *     moved away since is dropped, so a healthy moved chunk is never marked;
 *   - a mark is logged once, when it is made (MDB_NOOVERWRITE tells);
 *   - a chunk entry deleted takes its mark along (index__del_chunk and
 *     retention), and the scrub removes marks left without an entry;
 *   - when a mark appears or goes, a tag latest value that may have come
 *     from that chunk is marked stale and looked up again on next read;
 *   - the repair (hist_db_repair, `--check-data --repair`) deletes marked
 *     chunks' entries with their marks, and entries that do not parse or
 *     name an unknown tag, all in one txn under seal_mu: a crash leaves
 *     the index as it was or repaired, and no seal or merge interleaves.
 */
#include "common/hist_array.h"
#include "storage/db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MARK_VERSION = 1 };

typedef struct {
    uint8_t version, reason;
    uint16_t pad;
    uint32_t segment;
    uint64_t offset;
    uint32_t length, pad2;
    int64_t end_ts;
    int64_t found_ns;
} mark_value;

const char *hist_damage_reason_name(int reason)
{
    switch (reason) {
    case HIST_DAMAGE_UNREADABLE:
        return "unreadable";
    case HIST_DAMAGE_SHORT:
        return "segment file ends inside the chunk";
    case HIST_DAMAGE_CRC:
        return "crc32c mismatch";
    case HIST_DAMAGE_DECODE:
        return "does not decode to the entry's samples";
    case HIST_DAMAGE_STATS:
        return "samples disagree with the entry's statistics";
    default:
        return "damaged";
    }
}

hist_damaged_chunk damage__of(const hist_chunk_ref *ref, int why)
{
    return (hist_damaged_chunk){.tag = ref->tag,
                                .start_ts = ref->stats.start_ts,
                                .end_ts = ref->stats.end_ts,
                                .seq = ref->seq,
                                .segment = ref->segment,
                                .offset = ref->offset,
                                .length = ref->length,
                                .reason = why};
}

/* A mark row as a hist_damaged_chunk; a value that does not parse keeps
 * what the key says and covers the rest of time. */
static hist_damaged_chunk mark_parse(const MDB_val *k, const MDB_val *v)
{
    hist_damaged_chunk c;
    memset(&c, 0, sizeof(c));
    index__chunk_key_parse(k->mv_data, &c.tag, &c.start_ts, &c.seq);
    mark_value m;
    if (v->mv_size == sizeof(m)) {
        memcpy(&m, v->mv_data, sizeof(m));
        if (m.version == MARK_VERSION) {
            c.end_ts = m.end_ts, c.segment = m.segment, c.offset = m.offset;
            c.length = m.length, c.reason = m.reason, c.found_ns = m.found_ns;
            return c;
        }
    }
    c.end_ts = HIST_TS_MAX;
    return c;
}

/* ---- Walking marks beside chunks ------------------------------------------------ */

int marks__open(hist_index *idx, MDB_txn *txn, const uint8_t *from_key, hist_marks *m)
{
    memset(m, 0, sizeof(*m));
    MDB_stat st;
    int rc = mdb_stat(txn, idx->damaged, &st);
    if (rc || st.ms_entries == 0)
        return index__err(rc);
    rc = mdb_cursor_open(txn, idx->damaged, &m->cur);
    if (rc)
        return index__err(rc);
    MDB_val d;
    if (from_key) {
        m->key = (MDB_val){HIST_CHUNK_KEY_LEN, (void *)from_key};
        m->more = mdb_cursor_get(m->cur, &m->key, &d, MDB_SET_RANGE) == 0;
    } else {
        m->more = mdb_cursor_get(m->cur, &m->key, &d, MDB_FIRST) == 0;
    }
    return 0;
}

static int key_cmp(const MDB_val *a, const MDB_val *b)
{
    size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
    int c = memcmp(a->mv_data, b->mv_data, n);
    return c ? c : (a->mv_size > b->mv_size) - (a->mv_size < b->mv_size);
}

bool marks__has(hist_marks *m, const MDB_val *chunk_key)
{
    MDB_val d;
    while (m->more && key_cmp(&m->key, chunk_key) < 0)
        m->more = mdb_cursor_get(m->cur, &m->key, &d, MDB_NEXT) == 0;
    return m->more && key_cmp(&m->key, chunk_key) == 0;
}

void marks__close(hist_marks *m)
{
    if (m->cur)
        mdb_cursor_close(m->cur);
    m->cur = NULL;
    m->more = false;
}

/* ---- Making and removing marks ------------------------------------------------- */

static bool same_place(const hist_chunk_ref *a, const hist_chunk_ref *b)
{
    return a->segment == b->segment && a->offset == b->offset && a->length == b->length &&
           a->crc == b->crc;
}

typedef struct {
    const hist_chunk_ref *ref;
    mark_value value;
    int done; /* 1: marked / removed by this txn */
} mark_ctx;

static int mark_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    mark_ctx *c = arg;
    c->done = 0; /* a write callback may run twice (index.h) */
    uint8_t kb[HIST_CHUNK_KEY_LEN];
    index__chunk_key(kb, c->ref->tag, c->ref->stats.start_ts, c->ref->seq);
    MDB_val k = {sizeof(kb), kb}, v;
    int rc = mdb_get(txn, idx->chunk, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0; /* merged or dropped meanwhile */
    if (rc)
        return index__err(rc);
    hist_chunk_ref now;
    if (index__chunk_ref_from(&k, &v, &now) == 0 && !same_place(&now, c->ref))
        return 0; /* moved since it was read: the verdict was about other bytes */
    MDB_val mv = {sizeof(c->value), &c->value};
    rc = mdb_put(txn, idx->damaged, &k, &mv, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return 0;
    if (rc)
        return index__put_err(rc);
    c->done = 1;
    return 0;
}

static int clear_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    mark_ctx *c = arg;
    uint8_t kb[HIST_CHUNK_KEY_LEN];
    index__chunk_key(kb, c->ref->tag, c->ref->stats.start_ts, c->ref->seq);
    MDB_val k = {sizeof(kb), kb}, v;
    int rc = mdb_get(txn, idx->damaged, &k, &v);
    c->done = rc == 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? index__err(rc) : index__del_mark(idx, txn, kb);
}

/* After a mark came or went: the tag's latest value may have come from the
 * chunk (or now lies in it); hist_db_latest() looks it up again. */
static void latest_after_change(hist_db *db, const hist_chunk_ref *ref, bool marked)
{
    mu_lock(&db->mu);
    hist_tag_state *t = tags__get(db, ref->tag);
    if (t && marked && t->has_latest && t->latest.ts >= ref->stats.start_ts &&
        t->latest.ts <= ref->stats.end_ts)
        t->latest_stale = 1;
    if (t && !marked && (!t->has_latest || ref->stats.end_ts >= t->latest.ts)) {
        /* The chunk's last sample is a bound from above; the lookup decides. */
        if (!t->has_latest || ref->stats.end_ts > t->latest.ts)
            t->latest = (hist_sample){ref->stats.end_ts, ref->stats.last_v, ref->stats.last_q};
        t->has_latest = 1;
        t->latest_stale = 1;
    }
    mu_unlock(&db->mu);
}

int damage__mark(hist_db *db, const hist_chunk_ref *ref, int why)
{
    mark_ctx c = {.ref = ref,
                  .value = {.version = MARK_VERSION,
                            .reason = (uint8_t)why,
                            .segment = ref->segment,
                            .offset = ref->offset,
                            .length = ref->length,
                            .end_ts = ref->stats.end_ts,
                            .found_ns = clock__wall_ns()}};
    int rc = index__write(&db->idx, mark_txn, &c);
    if (rc) {
        hist_logf(&db->log, HIST_LOG_ERROR, "could not mark a damaged chunk: %s",
                  hist_strerror(rc));
        return rc;
    }
    if (!c.done)
        return 0;
    latest_after_change(db, ref, true);
    char msg[768];
    hist_damaged_chunk d = damage__of(ref, why);
    damage__describe(db, &d, msg, sizeof(msg));
    hist_logf(&db->log, HIST_LOG_WARN,
              "damaged chunk marked, left out of every answer from now on: %s", msg);
    return 1;
}

int damage__clear(hist_db *db, const hist_chunk_ref *ref)
{
    mark_ctx c = {.ref = ref};
    int rc = index__write(&db->idx, clear_txn, &c);
    if (rc || !c.done)
        return rc;
    latest_after_change(db, ref, false);
    char msg[768];
    hist_damaged_chunk d = damage__of(ref, 0);
    damage__describe(db, &d, msg, sizeof(msg));
    hist_logf(&db->log, HIST_LOG_WARN, "chunk verifies again, damage mark removed: %s", msg);
    return 1;
}

static int dangling_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    uint64_t *removed = arg;
    *removed = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, idx->damaged, &cur);
    if (rc)
        return index__err(rc);
    MDB_val k, v, e;
    int op = MDB_FIRST;
    while (rc == 0 && mdb_cursor_get(cur, &k, &v, op) == 0) {
        op = MDB_NEXT;
        if (mdb_get(txn, idx->chunk, &k, &e) != MDB_NOTFOUND)
            continue;
        rc = index__put_err(mdb_cursor_del(cur, 0));
        (*removed)++;
        op = MDB_NEXT; /* LMDB: after a delete, NEXT yields the entry that moved up */
    }
    mdb_cursor_close(cur);
    return rc;
}

int damage__drop_dangling(hist_db *db, uint64_t *removed)
{
    return index__write(&db->idx, dangling_txn, removed);
}

/* ---- Reading marks -------------------------------------------------------------- */

uint64_t damage__total(hist_db *db)
{
    MDB_txn *txn;
    if (index__read_begin(&db->idx, &txn))
        return 0;
    MDB_stat st;
    uint64_t n = mdb_stat(txn, db->idx.damaged, &st) == 0 ? st.ms_entries : 0;
    index__read_end(&db->idx, txn);
    return n;
}

typedef struct {
    hist_damaged_chunk *v;
    size_t n, cap;
} mark_list;

/* Every mark of tag (0: of every tag), copied out of one read txn. */
static int marks_collect(hist_db *db, uint32_t tag, mark_list *out)
{
    memset(out, 0, sizeof(*out));
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    uint8_t kb[HIST_CHUNK_KEY_LEN];
    index__chunk_key(kb, tag, HIST_TS_MIN - 1, 0);
    hist_marks m;
    rc = marks__open(&db->idx, txn, tag ? kb : NULL, &m);
    while (rc == 0 && m.more) {
        MDB_val v;
        if (m.key.mv_size != HIST_CHUNK_KEY_LEN ||
            mdb_cursor_get(m.cur, &m.key, &v, MDB_GET_CURRENT) != 0)
            break;
        hist_damaged_chunk c = mark_parse(&m.key, &v);
        if (tag && c.tag != tag)
            break;
        if (HIST_ARRAY_RESERVE(out->v, out->cap, out->n + 1, 16) < 0) {
            rc = HIST_ENOMEM;
            break;
        }
        out->v[out->n++] = c;
        m.more = mdb_cursor_get(m.cur, &m.key, &v, MDB_NEXT) == 0;
    }
    marks__close(&m);
    index__read_end(&db->idx, txn);
    if (rc) {
        free(out->v);
        out->v = NULL;
    }
    return rc;
}

int hist_db_damaged_foreach(hist_db *db, hist_damaged_visit_fn fn, void *ctx)
{
    if (!db || !fn)
        return HIST_EINVAL;
    mark_list l;
    int rc = marks_collect(db, 0, &l);
    /* fn runs after the txn ended: it may call anything. */
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        rc = fn(ctx, &l.v[i]);
    free(l.v);
    return rc;
}

int hist_db_damaged_count(hist_db *db, uint32_t tag, int64_t from, int64_t to, uint64_t *out)
{
    if (!db || !out || tag == 0)
        return HIST_EINVAL;
    mark_list l;
    int rc = marks_collect(db, tag, &l);
    *out = 0;
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        *out += l.v[i].start_ts < to && l.v[i].end_ts >= from;
    free(l.v);
    return rc;
}

/* ---- Describing, latest ------------------------------------------------------- */

/* RFC 3339 UTC, with nanoseconds only when there are any. */
static void format_time(int64_t ns, char *out, size_t cap)
{
    int64_t s = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0)
        s--, frac += 1000000000;
    time_t t = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, cap, "%lld ns", (long long)ns);
        return;
    }
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(out + n, cap - n, ".%09lldZ", (long long)frac);
    else
        snprintf(out + n, cap - n, "Z");
}

void damage__describe(hist_db *db, const hist_damaged_chunk *c, char *out, size_t cap)
{
    hist_tag_info info;
    if (hist_tag_by_id(db, c->tag, &info) != 0)
        snprintf(info.name, sizeof(info.name), "?");
    char from[48], to[48];
    format_time(c->start_ts, from, sizeof(from));
    format_time(c->end_ts, to, sizeof(to));
    int n = snprintf(
        out, cap, "tag '%s' (id %u), chunk %s .. %s (seq %llu), segment %u offset %llu, %u bytes",
        info.name, c->tag, from, to, (unsigned long long)c->seq, c->segment,
        (unsigned long long)c->offset, c->length);
    if (c->reason && n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, ": %s", hist_damage_reason_name(c->reason));
}

/* ---- Repair: removing the entries of damaged chunks ---------------------------- */

typedef struct {
    hist_repaired_entry e;
    bool parsed; /* ref holds the entry: the figures to take back */
    hist_chunk_ref ref;
} repair_item;

typedef struct {
    repair_item *v;
    size_t n, cap;
} repair_list;

static int repair_add(repair_list *l, const hist_repaired_entry *e, const hist_chunk_ref *ref)
{
    if (HIST_ARRAY_RESERVE(l->v, l->cap, l->n + 1, 16) < 0)
        return HIST_ENOMEM;
    repair_item *it = &l->v[l->n++];
    memset(it, 0, sizeof(*it));
    it->e = *e;
    it->parsed = ref != NULL;
    if (ref)
        it->ref = *ref;
    return 0;
}

/* Every marked chunk's entry and mark. */
static int repair_marked(hist_index *idx, MDB_txn *txn, repair_list *l)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, idx->damaged, &cur);
    if (rc)
        return index__err(rc);
    MDB_val k, v, e;
    int op = MDB_FIRST;
    while (rc == 0 && mdb_cursor_get(cur, &k, &v, op) == 0) {
        op = MDB_NEXT;
        if (k.mv_size != HIST_CHUNK_KEY_LEN)
            continue;
        hist_damaged_chunk mark = mark_parse(&k, &v);
        hist_chunk_ref ref;
        bool have = mdb_get(txn, idx->chunk, &k, &e) == 0;
        bool parsed = have && index__chunk_ref_from(&k, &e, &ref) == 0;
        if (have) {
            hist_repaired_entry r = {.chunk = mark, .why = hist_damage_reason_name(mark.reason)};
            if (parsed) {
                r.chunk = damage__of(&ref, mark.reason);
                r.chunk.found_ns = mark.found_ns;
                r.samples = ref.stats.count;
            }
            rc = repair_add(l, &r, parsed ? &ref : NULL);
            if (rc == 0)
                rc = index__put_err(mdb_del(txn, idx->chunk, &k, NULL));
        }
        if (rc == 0)
            rc = index__put_err(mdb_cursor_del(cur, 0)); /* the mark, also one left dangling */
        op = MDB_NEXT; /* LMDB: after a delete, NEXT yields the entry that moved up */
    }
    mdb_cursor_close(cur);
    return rc;
}

/* Every chunk entry that does not parse or names a tag the registry does
 * not know (what the scrub reports as index problems). */
static int repair_orphans(hist_index *idx, MDB_txn *txn, repair_list *l)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, idx->chunk, &cur);
    if (rc)
        return index__err(rc);
    MDB_val k, v;
    uint32_t known = 0; /* the last tag found in the registry */
    int op = MDB_FIRST;
    while (rc == 0 && mdb_cursor_get(cur, &k, &v, op) == 0) {
        op = MDB_NEXT;
        hist_chunk_ref ref;
        hist_repaired_entry r = {.why = "the entry does not parse"};
        bool parsed = index__chunk_ref_from(&k, &v, &ref) == 0;
        if (parsed) {
            hist_index_tag t;
            if (ref.tag == known || index__get_tag(idx, txn, ref.tag, &t) == 0) {
                known = ref.tag;
                continue;
            }
            r.chunk = damage__of(&ref, 0);
            r.samples = ref.stats.count;
            r.why = "the entry names a tag the registry does not know";
        } else if (k.mv_size == HIST_CHUNK_KEY_LEN) {
            index__chunk_key_parse(k.mv_data, &r.chunk.tag, &r.chunk.start_ts, &r.chunk.seq);
        }
        uint8_t kb[HIST_CHUNK_KEY_LEN];
        bool keyed = k.mv_size == HIST_CHUNK_KEY_LEN;
        if (keyed)
            memcpy(kb, k.mv_data, sizeof(kb));
        rc = repair_add(l, &r, parsed ? &ref : NULL);
        if (rc == 0)
            rc = index__put_err(mdb_cursor_del(cur, 0));
        if (rc == 0 && keyed)
            rc = index__del_mark(idx, txn, kb);
        op = MDB_NEXT;
    }
    mdb_cursor_close(cur);
    return rc;
}

static int repair_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    repair_list *l = arg;
    l->n = 0; /* a write callback may run twice (index.h) */
    int rc = repair_marked(idx, txn, l);
    return rc ? rc : repair_orphans(idx, txn, l);
}

int hist_db_repair(hist_db *db, hist_repair_fn fn, void *ctx, hist_repair_totals *out)
{
    if (!db)
        return HIST_EINVAL;
    repair_list l;
    memset(&l, 0, sizeof(l));
    mu_lock(&db->seal_mu); /* no seal or compaction interleaves (like retention.c) */
    int rc = index__write(&db->idx, repair_txn, &l);
    hist_repair_totals tot = {0};
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        const repair_item *it = &l.v[i];
        tot.entries++;
        tot.samples += it->e.samples;
        if (!it->parsed)
            continue;
        atomic_fetch_sub(&db->chunks, 1);
        atomic_fetch_sub(&db->samples_sealed, it->ref.stats.count);
        atomic_fetch_sub(&db->bytes_chunks, it->ref.length);
    }
    mu_unlock(&db->seal_mu);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        const repair_item *it = &l.v[i];
        if (it->parsed)
            latest_after_change(db, &it->ref, true);
        char msg[768];
        damage__describe(db, &it->e.chunk, msg, sizeof(msg));
        hist_logf(&db->log, HIST_LOG_WARN, "repair: index entry removed (%s): %s", it->e.why, msg);
        if (fn)
            fn(ctx, &it->e);
    }
    free(l.v);
    if (out)
        *out = tot;
    return rc;
}
