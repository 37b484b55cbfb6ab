/*
 * tags.c: the tag registry: value type names, the tag-name rules, the
 * in-memory tag cache (id -> state, name -> id), creating tags (one index
 * transaction for a request's new tags) and metadata (listing is
 * namespace.c); and a
 * tag's buffer: samples inserted by the write path (db.c) and recovery
 * (recovery.c), the list of tags with a non-empty buffer.
 *
 * Locks (db_internal.h): creation and metadata updates hold tag_mu for the
 * LMDB write; the cache is read and changed under mu.
 */
#include "common/hist_array.h"
#include "common/hist_text.h"
#include "storage/db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Types and names --------------------------------------------------- */

const char *hist_type_name(hist_type type)
{
    switch (type) {
    case HIST_TYPE_FLOAT64:
        return "float64";
    case HIST_TYPE_INT64:
        return "int64";
    case HIST_TYPE_BOOL:
        return "bool";
    }
    return "unknown";
}

int hist_type_parse(const char *name, hist_type *out)
{
    static const struct {
        const char *name;
        hist_type type;
    } names[] = {{"float64", HIST_TYPE_FLOAT64}, {"double", HIST_TYPE_FLOAT64},
                 {"float", HIST_TYPE_FLOAT64},   {"int64", HIST_TYPE_INT64},
                 {"int", HIST_TYPE_INT64},       {"bool", HIST_TYPE_BOOL},
                 {"boolean", HIST_TYPE_BOOL}};
    if (!name)
        return HIST_EINVAL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].type;
            return 0;
        }
    return HIST_EINVAL;
}

static int type_valid(hist_type t)
{
    return t == HIST_TYPE_FLOAT64 || t == HIST_TYPE_INT64 || t == HIST_TYPE_BOOL;
}

/* Length of the UTF-8 sequence at p (at most left bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    size_t len = hist_utf8_len(p, left);
    if (len == 2 && p[0] == 0xC2 && p[1] <= 0x9F)
        return 0; /* C1 control characters (U+0080..U+009F) */
    return len;
}

int hist_tag_name_check(const char *name, size_t len)
{
    if (!name || len == 0 || len > HIST_TAG_NAME_MAX)
        return HIST_ENAME;
    const unsigned char *p = (const unsigned char *)name;
    size_t seg = 0;
    for (size_t i = 0; i < len;) {
        if (p[i] == '/') {
            if (seg == 0)
                return HIST_ENAME; /* empty segment (or leading '/') */
            seg = 0;
            i++;
            continue;
        }
        if (p[i] < 0x20 || p[i] == 0x7F)
            return HIST_ENAME;
        /* ASCII, nearly every name's every byte, without the decoder call */
        size_t l = p[i] < 0x80 ? 1 : utf8_seq(p + i, len - i);
        if (l == 0)
            return HIST_ENAME;
        i += l;
        seg += l;
    }
    return seg == 0 ? HIST_ENAME : 0; /* trailing '/' */
}

/* ---- Tag cache ----------------------------------------------------------- */

static uint64_t name_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

hist_tag_state *tags__get(hist_db *db, uint32_t id)
{
    HIST_ASSERT(mu_held(&db->mu));
    return id < db->tags_cap ? db->tags[id] : NULL;
}

/* A tag the registry has (not removed); mu held. */
static hist_tag_state *tag_known(hist_db *db, uint32_t id)
{
    hist_tag_state *t = tags__get(db, id);
    return t && !t->removed ? t : NULL;
}

static uint32_t cache_find(hist_db *db, const char *name, size_t len)
{
    if (!db->hash_cap)
        return 0;
    size_t mask = db->hash_cap - 1;
    for (size_t i = name_hash(name, len) & mask;; i = (i + 1) & mask) {
        uint32_t id = db->name_hash[i];
        if (id == 0)
            return 0;
        const hist_tag_state *t = db->tags[id];
        if (!t->removed && t->name_len == len && memcmp(t->name, name, len) == 0)
            return id;
    }
}

static void hash_insert(uint32_t *tab, size_t cap, const hist_tag_state *t)
{
    size_t mask = cap - 1;
    size_t i = name_hash(t->name, t->name_len) & mask;
    while (tab[i])
        i = (i + 1) & mask;
    tab[i] = t->id;
}

size_t tags__registry_bytes(hist_db *db)
{
    HIST_ASSERT(mu_held(&db->mu));
    return db->tag_slab.used + db->tags_cap * sizeof(*db->tags) +
           db->hash_cap * sizeof(*db->name_hash) + db->capdirty * sizeof(*db->dirty);
}

int tags__cache(hist_db *db, const hist_index_tag *meta)
{
    HIST_ASSERT(mu_held(&db->mu));
    if (meta->id >= db->tags_cap) {
        uint32_t cap = db->tags_cap ? db->tags_cap : 64;
        while (cap <= meta->id)
            cap *= 2;
        hist_tag_state **nt = realloc(db->tags, cap * sizeof(*nt));
        if (!nt)
            return HIST_ENOMEM;
        memset(nt + db->tags_cap, 0, (cap - db->tags_cap) * sizeof(*nt));
        db->tags = nt;
        db->tags_cap = cap;
    }
    if ((db->ntags + 1) * 2 > db->hash_cap) {
        size_t cap = db->hash_cap ? db->hash_cap * 2 : 128;
        uint32_t *tab = calloc(cap, sizeof(*tab));
        if (!tab)
            return HIST_ENOMEM;
        for (size_t i = 0; i < db->hash_cap; i++)
            if (db->name_hash[i])
                hash_insert(tab, cap, db->tags[db->name_hash[i]]);
        free(db->name_hash);
        db->name_hash = tab;
        db->hash_cap = cap;
    }
    size_t len = strnlen(meta->name, sizeof(meta->name));
    if (len > HIST_TAG_NAME_MAX)
        return HIST_ECORRUPT; /* a stored row without its NUL */
    size_t size = offsetof(hist_tag_state, name) + len + 1;
    hist_tag_state *t = hist_slab_alloc(&db->tag_slab, size); /* zeroed */
    if (!t)
        return HIST_ENOMEM;
    t->id = meta->id;
    t->type = (uint8_t)meta->type;
    t->name_len = (uint8_t)len;
    t->flushed_lsn = meta->flushed_lsn;
    t->max_span = meta->max_span;
    memcpy(t->name, meta->name, len);
    db->tags[meta->id] = t;
    hash_insert(db->name_hash, db->hash_cap, t);
    db->ntags++;
    if (meta->id >= db->next_tag_id)
        db->next_tag_id = meta->id + 1;
    return 0;
}

void tags__info_from(const hist_index_tag *m, hist_tag_info *out)
{
    memset(out, 0, sizeof(*out));
    out->id = m->id;
    out->type = (hist_type)m->type;
    memcpy(out->name, m->name, sizeof(out->name));
    memcpy(out->unit, m->unit, sizeof(out->unit));
    memcpy(out->description, m->description, sizeof(out->description));
    out->deadband = m->deadband;
    out->created_ns = m->created_ns;
}

/* Tag rows written in one index transaction. */
typedef struct {
    hist_index_tag *tags;
    size_t n;
    int set_next; /* the rows are new: move next_tag past the last one */
} tag_put_ctx;

static int tag_put_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    tag_put_ctx *c = arg;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->n; i++)
        rc = index__put_tag(idx, txn, &c->tags[i]);
    if (!rc && c->set_next && c->n)
        rc = index__meta_put(idx, txn, "next_tag", (uint64_t)c->tags[c->n - 1].id + 1);
    return rc;
}

/* Sets unit, description and deadband of the stored row of u->id from u,
 * and u->created_ns from the row. */
static int tag_update_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    hist_index_tag *u = arg, row;
    int rc = index__get_tag(idx, txn, u->id, &row);
    if (rc)
        return rc;
    memcpy(row.unit, u->unit, sizeof(row.unit));
    memcpy(row.description, u->description, sizeof(row.description));
    row.deadband = u->deadband;
    u->created_ns = row.created_ns;
    return index__put_tag_row(idx, txn, &row);
}

/* Creates n new tags (names unique and unknown; name, type and metadata
 * filled) in ONE durable index transaction, assigning their ids, then
 * caches them. Caller holds tag_mu (every creation does, so the cache is
 * authoritative for it), not mu. */
static int tags_create(hist_db *db, hist_index_tag *metas, size_t n)
{
    mu_lock(&db->mu);
    uint32_t first = db->next_tag_id;
    mu_unlock(&db->mu);
    if (n > UINT32_MAX - first)
        return HIST_ERANGE;
    int64_t now = clock__wall_ns();
    for (size_t i = 0; i < n; i++) {
        metas[i].id = first + (uint32_t)i;
        metas[i].created_ns = now;
    }
    tag_put_ctx c = {metas, n, 1};
    int rc = index__write(&db->idx, tag_put_txn, &c);
    mu_lock(&db->mu);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = tags__cache(db, &metas[i]);
    mu_unlock(&db->mu);
    return rc;
}

/* Looks up in the cache every refs[i] whose rcs[i] is 1: rcs[i] becomes 0
 * (ids[i] set), HIST_ETYPE (ids[i] set, another type) or stays 1 (no such
 * tag). mu is taken once per LOOKUP_HOLD names, not once per name, so a
 * request of 5,000 names queues behind the sealer 5 times, not 5,000.
 * (Measured at 100 k tags, 5,000 new names a request: the lookups are
 * 1.5 ms of 28; the index txn is 20, its fdatasync most of it.) */
static void lookup_refs(hist_db *db, const hist_tag_ref *refs, size_t n, uint32_t *ids, int *rcs)
{
    enum { LOOKUP_HOLD = 1024 }; /* about 0.1 ms under mu */
    for (size_t at = 0; at < n; at += LOOKUP_HOLD) {
        size_t end = n - at < LOOKUP_HOLD ? n : at + LOOKUP_HOLD;
        mu_lock(&db->mu);
        for (size_t i = at; i < end; i++) {
            if (rcs[i] != 1)
                continue;
            uint32_t id = cache_find(db, refs[i].name, refs[i].len);
            if (id) {
                ids[i] = id;
                rcs[i] = (hist_type)db->tags[id]->type == refs[i].type ? 0 : HIST_ETYPE;
            }
        }
        mu_unlock(&db->mu);
    }
}

typedef struct {
    const char *name;
    size_t len;
    size_t ref;  /* index into refs */
    size_t meta; /* the new tag it becomes */
} name_slot;

static int name_cmp(const name_slot *x, const name_slot *y)
{
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    if (c || x->len == y->len)
        return c;
    return x->len < y->len ? -1 : 1;
}

/* By name, then by position, so the first mention of a name sorts first
 * (it decides the type). */
static int name_slot_cmp(const void *a, const void *b)
{
    const name_slot *x = a, *y = b;
    int c = name_cmp(x, y);
    if (c)
        return c;
    return x->ref < y->ref ? -1 : x->ref > y->ref;
}

/* Creates the refs still marked 1 in rcs (tag_mu held): names sorted so a
 * name mentioned twice becomes one tag, then one transaction for all. */
static int create_missing(hist_db *db, const hist_tag_ref *refs, size_t n, uint32_t *ids, int *rcs)
{
    HIST_ASSERT(mu_held(&db->tag_mu));
    lookup_refs(db, refs, n, ids, rcs); /* still missing now that tag_mu is held? */
    size_t npend = 0;
    for (size_t i = 0; i < n; i++)
        npend += rcs[i] == 1;
    if (npend == 0)
        return 0;
    name_slot *slots = malloc(npend * sizeof(*slots));
    hist_index_tag *metas = calloc(npend, sizeof(*metas));
    if (!slots || !metas) {
        free(slots), free(metas);
        return HIST_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (rcs[i] == 1)
            slots[k++] = (name_slot){refs[i].name, refs[i].len, i, 0};
    qsort(slots, npend, sizeof(*slots), name_slot_cmp);
    size_t nnew = 0;
    for (size_t j = 0; j < npend; j++) {
        const hist_tag_ref *r = &refs[slots[j].ref];
        if (j == 0 || name_cmp(&slots[j - 1], &slots[j]) != 0) {
            memcpy(metas[nnew].name, r->name, r->len);
            metas[nnew].type = (uint32_t)r->type;
            nnew++;
        }
        slots[j].meta = nnew - 1;
    }
    int rc = tags_create(db, metas, nnew);
    for (size_t j = 0; j < npend; j++) {
        size_t i = slots[j].ref;
        const hist_index_tag *m = &metas[slots[j].meta];
        ids[i] = rc ? 0 : m->id;
        rcs[i] = rc ? rc : ((hist_type)m->type == refs[i].type ? 0 : HIST_ETYPE);
    }
    free(slots);
    free(metas);
    return rc;
}

int hist_tag_resolve_many(hist_db *db, const hist_tag_ref *refs, size_t n, bool create,
                          uint32_t *ids, int *rcs)
{
    if (!db || (n && (!refs || !ids || !rcs)))
        return HIST_EINVAL;
    for (size_t i = 0; i < n; i++) {
        ids[i] = 0;
        rcs[i] = !refs[i].name ? HIST_EINVAL : hist_tag_name_check(refs[i].name, refs[i].len);
        if (rcs[i] == 0)
            rcs[i] = 1; /* to look up */
    }
    lookup_refs(db, refs, n, ids, rcs);
    bool missing = false;
    for (size_t i = 0; i < n; i++) {
        if (rcs[i] != 1)
            continue;
        if (!create || db->opts.no_auto_create)
            rcs[i] = HIST_ENOTFOUND;
        else if (!type_valid(refs[i].type))
            rcs[i] = HIST_ETYPE;
        else
            missing = true;
    }
    if (!missing)
        return 0;
    mu_lock(&db->tag_mu);
    int rc = create_missing(db, refs, n, ids, rcs);
    mu_unlock(&db->tag_mu);
    return rc;
}

int hist_tag_resolve(hist_db *db, const char *name, size_t len, hist_type type, bool create,
                     uint32_t *id_out)
{
    if (!db || !name || !id_out)
        return HIST_EINVAL;
    hist_tag_ref ref = {name, len, type};
    int trc;
    int rc = hist_tag_resolve_many(db, &ref, 1, create, id_out, &trc);
    return rc ? rc : trc;
}

/* Reads the stored row of tag id into out (one read txn): 0, or an error
 * (HIST_ENOTFOUND for a tag without a row). */
static int tag_row_read(hist_db *db, uint32_t id, hist_tag_info *out)
{
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    hist_index_tag row;
    rc = index__get_tag(&db->idx, txn, id, &row);
    if (rc == 0)
        tags__info_from(&row, out);
    index__read_end(&db->idx, txn);
    return rc;
}

/* A tag in the cache is in the index (tags_create writes its row first). */
int hist_tag_by_name(hist_db *db, const char *name, hist_tag_info *out)
{
    if (!db || !name || !out)
        return HIST_EINVAL;
    mu_lock(&db->mu);
    uint32_t id = cache_find(db, name, strlen(name));
    mu_unlock(&db->mu);
    return id ? tag_row_read(db, id, out) : HIST_ENOTFOUND;
}

int hist_tag_by_id(hist_db *db, uint32_t id, hist_tag_info *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    mu_lock(&db->mu);
    bool known = tag_known(db, id) != NULL;
    mu_unlock(&db->mu);
    return known ? tag_row_read(db, id, out) : HIST_ENOTFOUND;
}

int hist_tag_type(hist_db *db, uint32_t id, hist_type *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    mu_lock(&db->mu);
    hist_tag_state *t = tag_known(db, id);
    if (t)
        *out = (hist_type)t->type;
    mu_unlock(&db->mu);
    return t ? 0 : HIST_ENOTFOUND;
}

const char *hist_tag_name_of(hist_db *db, uint32_t id)
{
    if (!db)
        return NULL;
    mu_lock(&db->mu); /* db->tags may move; the state it points at does not */
    const hist_tag_state *t = tag_known(db, id);
    mu_unlock(&db->mu);
    return t ? t->name : NULL;
}

int hist_tag_put(hist_db *db, hist_tag_info *info)
{
    if (!db || !info)
        return HIST_EINVAL;
    size_t len = strnlen(info->name, sizeof(info->name));
    int rc = hist_tag_name_check(info->name, len);
    if (rc)
        return rc;
    if (!type_valid(info->type))
        return HIST_ETYPE;
    if (strnlen(info->unit, sizeof(info->unit)) > HIST_TAG_UNIT_MAX ||
        strnlen(info->description, sizeof(info->description)) > HIST_TAG_DESC_MAX)
        return HIST_EINVAL;
    mu_lock(&db->tag_mu);
    mu_lock(&db->mu);
    uint32_t id = cache_find(db, info->name, len);
    hist_type have = id ? (hist_type)db->tags[id]->type : info->type;
    mu_unlock(&db->mu);
    hist_index_tag meta;
    memset(&meta, 0, sizeof(meta));
    if (!id) {
        memcpy(meta.name, info->name, len);
        meta.type = (uint32_t)info->type;
        snprintf(meta.unit, sizeof(meta.unit), "%s", info->unit);
        snprintf(meta.description, sizeof(meta.description), "%s", info->description);
        meta.deadband = info->deadband;
        rc = tags_create(db, &meta, 1);
        if (!rc) {
            info->id = meta.id;
            info->created_ns = meta.created_ns;
        }
        mu_unlock(&db->tag_mu);
        return rc;
    }
    if (have != info->type) {
        mu_unlock(&db->tag_mu);
        return HIST_ETYPE;
    }
    snprintf(meta.unit, sizeof(meta.unit), "%s", info->unit);
    snprintf(meta.description, sizeof(meta.description), "%s", info->description);
    meta.deadband = info->deadband;
    meta.id = id;
    /* The stored row is read and rewritten in one txn: its flushed_lsn and
     * max_span are the sealer's, which commits under tag_mu too. */
    rc = index__write(&db->idx, tag_update_txn, &meta);
    if (!rc) {
        info->id = id;
        info->created_ns = meta.created_ns;
    }
    mu_unlock(&db->tag_mu);
    return rc;
}

/* ---- A tag's buffer ------------------------------------------------------- */

/* ---- Removing a tag --------------------------------------------------- */

static int tag_remove_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    return index__del_tag(idx, txn, *(const uint32_t *)arg);
}

int hist_tag_remove(hist_db *db, uint32_t id)
{
    if (!db)
        return HIST_EINVAL;
    /* seal_mu: no seal or compaction of it meanwhile; tag_mu: no creation
     * or metadata update (the order of db_internal.h) */
    mu_lock(&db->seal_mu);
    mu_lock(&db->tag_mu);
    mu_lock(&db->mu);
    hist_tag_state *t = tag_known(db, id);
    int rc = !t ? HIST_ENOTFOUND : membuf__count(&t->buf) ? HIST_EBUSY : 0;
    if (rc == 0) {
        /* Invariant: an empty buffer means every acknowledged write of the
         * tag is in chunks, which the caller deleted; writes from now on
         * are refused (series_check), so no WAL record after this one can
         * name the id, and a replay of the older ones finds no row and
         * skips them. */
        t->removed = true;
        db->nremoved++;
    }
    mu_unlock(&db->mu);
    if (rc == 0) {
        rc = index__write(&db->idx, tag_remove_txn, &id);
        if (rc) { /* the row stays: so does the tag */
            mu_lock(&db->mu);
            t->removed = false;
            db->nremoved--;
            mu_unlock(&db->mu);
        }
    }
    mu_unlock(&db->tag_mu);
    mu_unlock(&db->seal_mu);
    return rc;
}

int tags__mark_dirty(hist_db *db, uint32_t id)
{
    HIST_ASSERT(mu_held(&db->mu));
    hist_tag_state *t = db->tags[id];
    if (t->in_dirty)
        return 0;
    if (HIST_ARRAY_RESERVE(db->dirty, db->capdirty, db->ndirty + 1, 64) < 0)
        return HIST_ENOMEM;
    db->dirty[db->ndirty++] = id;
    t->in_dirty = 1;
    return 0;
}

int tags__insert(hist_db *db, hist_tag_state *t, const int64_t *ts, const hist_value *v,
                 const uint32_t *q, size_t n, uint64_t lsn, int64_t now_ns)
{
    HIST_ASSERT(mu_held(&db->mu));
    int rc = tags__mark_dirty(db, t->id);
    if (rc)
        return rc;
    int64_t delta = membuf__append(&t->buf, ts, v, q, n, lsn, now_ns);
    if (delta < 0)
        return (int)delta;
    db->mem_bytes += (size_t)delta;
    db->mem_samples += n;
    for (size_t i = 0; i < n; i++)
        tags__note_latest(t, ts[i], v[i], q ? q[i] : 0);
    return 0;
}

void tags__restore_latest(hist_tag_state *t, const hist_sample *sealed)
{
    t->has_latest = sealed != NULL;
    t->latest = sealed ? *sealed : (hist_sample){0};
    membuf_view bv;
    if (membuf__view(&t->buf, &bv) != 0) {
        t->latest_stale = 1; /* looked up again when asked */
        return;
    }
    for (size_t i = 0; i < bv.n; i++)
        tags__note_latest(t, bv.ts[i], bv.v[i], bv.q[i]);
    membuf__view_release(&bv);
}
