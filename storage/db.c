/*
 * db.c: opening and closing a data directory, the tag registry, the write
 * path (validate -> one WAL record -> memtable), latest values and stats.
 *
 * Write path invariant: the WAL append and the memtable insert happen under
 * db->mu together, so the order of samples in every tag buffer is the LSN
 * order (seal.c and recovery.c rely on it).
 *
 * WAL payload (one record per hist_db_write batch), all varints LEB128:
 *   u8 version (1), varint nseries, then per series:
 *   varint tag, varint n, zigzag varint ts[0] then zigzag deltas ts[i]-ts[i-1],
 *   n raw 8-byte values (host order), varint nruns, nruns x (varint len,
 *   varint quality).
 */
#include "storage/db_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

/* ---- Logging ----------------------------------------------------------- */

void hist_db_log(hist_db *db, int level, const char *fmt, ...)
{
    if (level > db->opts.log_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (db->opts.log)
        db->opts.log(db->opts.log_ctx, level, msg);
    else
        fprintf(stderr, "historian: %s\n", msg);
}

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
    unsigned c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > left)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0; /* overlong, out of range, surrogate */
    if (cp >= 0x80 && cp <= 0x9F)
        return 0; /* C1 control characters */
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
        size_t l = utf8_seq(p + i, len - i);
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

hist_tag_state *hist_db_tag(hist_db *db, uint32_t id)
{
    return id < db->tags_cap ? db->tags[id] : NULL;
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
        const char *n = db->tags[id]->meta.name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return id;
    }
}

static void hash_insert(uint32_t *tab, size_t cap, const char *name, uint32_t id)
{
    size_t mask = cap - 1;
    size_t i = name_hash(name, strlen(name)) & mask;
    while (tab[i])
        i = (i + 1) & mask;
    tab[i] = id;
}

int hist_db_cache_tag(hist_db *db, const hist_index_tag *meta)
{
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
                hash_insert(tab, cap, db->tags[db->name_hash[i]]->meta.name, db->name_hash[i]);
        free(db->name_hash);
        db->name_hash = tab;
        db->hash_cap = cap;
    }
    hist_tag_state *t = calloc(1, sizeof(*t));
    if (!t)
        return HIST_ENOMEM;
    t->meta = *meta;
    db->tags[meta->id] = t;
    hash_insert(db->name_hash, db->hash_cap, meta->name, meta->id);
    db->ntags++;
    if (meta->id >= db->next_tag_id)
        db->next_tag_id = meta->id + 1;
    return 0;
}

static void tag_info_from(const hist_index_tag *m, hist_tag_info *out)
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

int64_t hist_db_wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
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
        rc = hist_index_put_tag(idx, txn, &c->tags[i]);
    if (!rc && c->set_next && c->n)
        rc = hist_meta_put(idx, txn, "next_tag", (uint64_t)c->tags[c->n - 1].id + 1);
    return rc;
}

/* Creates n new tags (names unique and unknown; name, type and metadata
 * filled) in ONE durable index transaction, assigning their ids, then
 * caches them. Caller holds tag_mu (every creation does, so the cache is
 * authoritative for it), not mu. */
static int tags_create(hist_db *db, hist_index_tag *metas, size_t n)
{
    pthread_mutex_lock(&db->mu);
    uint32_t first = db->next_tag_id;
    pthread_mutex_unlock(&db->mu);
    if (n > UINT32_MAX - first)
        return HIST_ERANGE;
    int64_t now = hist_db_wall_ns();
    for (size_t i = 0; i < n; i++) {
        metas[i].id = first + (uint32_t)i;
        metas[i].created_ns = now;
    }
    tag_put_ctx c = {metas, n, 1};
    int rc = hist_index_write(&db->idx, tag_put_txn, &c);
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = hist_db_cache_tag(db, &metas[i]);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* Looks refs[i] up in the cache: 0 with ids[i], HIST_ETYPE (ids[i] set),
 * or 1 when the tag does not exist. */
static int lookup_ref(hist_db *db, const hist_tag_ref *r, uint32_t *id)
{
    pthread_mutex_lock(&db->mu);
    *id = cache_find(db, r->name, r->len);
    hist_type have = *id ? (hist_type)db->tags[*id]->meta.type : r->type;
    pthread_mutex_unlock(&db->mu);
    if (!*id)
        return 1;
    return have == r->type ? 0 : HIST_ETYPE;
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
    size_t npend = 0;
    for (size_t i = 0; i < n; i++)
        if (rcs[i] == 1 && (rcs[i] = lookup_ref(db, &refs[i], &ids[i])) == 1)
            npend++; /* still missing now that tag_mu is held */
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
    bool missing = false;
    for (size_t i = 0; i < n; i++) {
        ids[i] = 0;
        if (!refs[i].name)
            rcs[i] = HIST_EINVAL;
        else if ((rcs[i] = hist_tag_name_check(refs[i].name, refs[i].len)) == 0 &&
                 (rcs[i] = lookup_ref(db, &refs[i], &ids[i])) == 1) {
            if (!create || db->opts.no_auto_create)
                rcs[i] = HIST_ENOTFOUND;
            else if (!type_valid(refs[i].type))
                rcs[i] = HIST_ETYPE;
            else
                missing = true;
        }
    }
    if (!missing)
        return 0;
    pthread_mutex_lock(&db->tag_mu);
    int rc = create_missing(db, refs, n, ids, rcs);
    pthread_mutex_unlock(&db->tag_mu);
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

int hist_tag_by_name(hist_db *db, const char *name, hist_tag_info *out)
{
    if (!db || !name || !out)
        return HIST_EINVAL;
    pthread_mutex_lock(&db->mu);
    uint32_t id = cache_find(db, name, strlen(name));
    if (id)
        tag_info_from(&db->tags[id]->meta, out);
    pthread_mutex_unlock(&db->mu);
    return id ? 0 : HIST_ENOTFOUND;
}

int hist_tag_by_id(hist_db *db, uint32_t id, hist_tag_info *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    pthread_mutex_lock(&db->mu);
    hist_tag_state *t = hist_db_tag(db, id);
    if (t)
        tag_info_from(&t->meta, out);
    pthread_mutex_unlock(&db->mu);
    return t ? 0 : HIST_ENOTFOUND;
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
    pthread_mutex_lock(&db->tag_mu);
    pthread_mutex_lock(&db->mu);
    uint32_t id = cache_find(db, info->name, len);
    hist_index_tag meta;
    memset(&meta, 0, sizeof(meta));
    if (id)
        meta = db->tags[id]->meta;
    pthread_mutex_unlock(&db->mu);
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
        pthread_mutex_unlock(&db->tag_mu);
        return rc;
    }
    if ((hist_type)meta.type != info->type) {
        pthread_mutex_unlock(&db->tag_mu);
        return HIST_ETYPE;
    }
    memset(meta.unit, 0, sizeof(meta.unit));
    memset(meta.description, 0, sizeof(meta.description));
    snprintf(meta.unit, sizeof(meta.unit), "%s", info->unit);
    snprintf(meta.description, sizeof(meta.description), "%s", info->description);
    meta.deadband = info->deadband;
    /* flushed_lsn / max_span are owned by the sealer: the stored copy may be
     * refreshed by its next commit, and the cached one is authoritative. */
    tag_put_ctx c = {&meta, 1, 0};
    rc = hist_index_write(&db->idx, tag_put_txn, &c);
    if (!rc) {
        pthread_mutex_lock(&db->mu);
        hist_tag_state *t = db->tags[id];
        memcpy(t->meta.unit, meta.unit, sizeof(meta.unit));
        memcpy(t->meta.description, meta.description, sizeof(meta.description));
        t->meta.deadband = meta.deadband;
        info->id = id;
        info->created_ns = t->meta.created_ns;
        pthread_mutex_unlock(&db->mu);
    }
    pthread_mutex_unlock(&db->tag_mu);
    return rc;
}

int hist_tag_foreach(hist_db *db, const char *prefix, hist_tag_visit_fn fn, void *ctx)
{
    if (!db || !fn)
        return HIST_EINVAL;
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    uint32_t *ids = NULL;
    size_t n = 0, cap = 0;
    MDB_txn *txn;
    int rc = hist_index_read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, db->idx.tag_name, &cur);
    if (rc) {
        hist_index_read_end(&db->idx, txn);
        return hist_index_err(rc);
    }
    MDB_val k = {plen, (void *)prefix}, v;
    int op = plen ? MDB_SET_RANGE : MDB_FIRST;
    int r = 0;
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        op = MDB_NEXT;
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            uint32_t *ni = realloc(ids, cap * sizeof(*ni));
            if (!ni) {
                r = HIST_ENOMEM;
                break;
            }
            ids = ni;
        }
        if (v.mv_size == 4)
            memcpy(&ids[n++], v.mv_data, 4);
    }
    mdb_cursor_close(cur);
    hist_index_read_end(&db->idx, txn);
    /* Visit without holding a txn: fn may call back into the db. */
    for (size_t i = 0; i < n && r == 0; i++) {
        hist_tag_info info;
        if (hist_tag_by_id(db, ids[i], &info) == 0)
            r = fn(ctx, &info);
    }
    free(ids);
    return r;
}

/* ---- WAL payload ----------------------------------------------------------- */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return HIST_ECORRUPT;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return HIST_ECORRUPT;
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static size_t payload_bound(const hist_series *s, size_t ns)
{
    size_t b = 1 + 10;
    for (size_t i = 0; i < ns; i++)
        b += 10 + 10 + 10 + s[i].n * (10 + 8 + 10 + 5);
    return b;
}

static size_t payload_encode(const hist_series *s, size_t ns, uint8_t *out)
{
    uint8_t *p = out;
    *p++ = 1;
    p = put_varint(p, ns);
    for (size_t i = 0; i < ns; i++) {
        p = put_varint(p, s[i].tag);
        p = put_varint(p, s[i].n);
        int64_t prev = 0;
        for (size_t j = 0; j < s[i].n; j++) {
            /* Timestamps are within +-HIST_TS_MAX, so deltas fit int64. */
            p = put_varint(p, zigzag((int64_t)((uint64_t)s[i].ts[j] - (uint64_t)prev)));
            prev = s[i].ts[j];
        }
        memcpy(p, s[i].v, s[i].n * 8);
        p += s[i].n * 8;
        size_t runs = 0;
        /* Count runs first so nruns can precede them. */
        for (size_t j = 0; j < s[i].n;) {
            uint32_t q = s[i].q ? s[i].q[j] : 0;
            size_t k = j + 1;
            while (k < s[i].n && (s[i].q ? s[i].q[k] : 0) == q)
                k++;
            runs++;
            j = k;
        }
        p = put_varint(p, runs);
        for (size_t j = 0; j < s[i].n;) {
            uint32_t q = s[i].q ? s[i].q[j] : 0;
            size_t k = j + 1;
            while (k < s[i].n && (s[i].q ? s[i].q[k] : 0) == q)
                k++;
            p = put_varint(p, k - j);
            p = put_varint(p, q);
            j = k;
        }
    }
    return (size_t)(p - out);
}

int hist_payload_decode(const uint8_t *p, size_t len, hist_payload_fn fn, void *ctx)
{
    const uint8_t *end = p + len;
    if (len < 1 || *p++ != 1)
        return HIST_ECORRUPT;
    uint64_t ns;
    if (get_varint(&p, end, &ns))
        return HIST_ECORRUPT;
    int64_t *ts = NULL;
    hist_value *v = NULL;
    uint32_t *q = NULL;
    size_t cap = 0;
    int rc = 0;
    for (uint64_t i = 0; i < ns && rc == 0; i++) {
        uint64_t tag, n;
        if (get_varint(&p, end, &tag) || get_varint(&p, end, &n) || tag > UINT32_MAX ||
            n > (size_t)(end - p)) {
            rc = HIST_ECORRUPT;
            break;
        }
        if (n > cap) {
            free(ts), free(v), free(q);
            cap = n;
            ts = malloc(cap * sizeof(*ts));
            v = malloc(cap * sizeof(*v));
            q = malloc(cap * sizeof(*q));
            if (!ts || !v || !q) {
                rc = HIST_ENOMEM;
                break;
            }
        }
        int64_t prev = 0;
        for (uint64_t j = 0; j < n && rc == 0; j++) {
            uint64_t z = 0;
            if (get_varint(&p, end, &z))
                rc = HIST_ECORRUPT;
            prev = (int64_t)((uint64_t)prev + (uint64_t)unzigzag(z));
            ts[j] = prev;
        }
        if (rc || (size_t)(end - p) < n * 8) {
            rc = HIST_ECORRUPT;
            break;
        }
        memcpy(v, p, n * 8);
        p += n * 8;
        uint64_t runs, filled = 0;
        if (get_varint(&p, end, &runs)) {
            rc = HIST_ECORRUPT;
            break;
        }
        for (uint64_t r = 0; r < runs && rc == 0; r++) {
            uint64_t rl, qv;
            if (get_varint(&p, end, &rl) || get_varint(&p, end, &qv) || rl > n - filled ||
                qv > UINT32_MAX) {
                rc = HIST_ECORRUPT;
                break;
            }
            for (uint64_t j = 0; j < rl; j++)
                q[filled++] = (uint32_t)qv;
        }
        if (rc == 0 && filled != n)
            rc = HIST_ECORRUPT;
        if (rc == 0 && n > 0)
            rc = fn(ctx, (uint32_t)tag, (size_t)n, ts, v, q);
    }
    free(ts), free(v), free(q);
    return rc;
}

/* ---- Writing --------------------------------------------------------------- */

int hist_db_mark_dirty(hist_db *db, uint32_t id)
{
    hist_tag_state *t = db->tags[id];
    if (t->in_dirty)
        return 0;
    if (db->ndirty == db->capdirty) {
        size_t cap = db->capdirty ? db->capdirty * 2 : 64;
        uint32_t *nd = realloc(db->dirty, cap * sizeof(*nd));
        if (!nd)
            return HIST_ENOMEM;
        db->dirty = nd;
        db->capdirty = cap;
    }
    db->dirty[db->ndirty++] = id;
    t->in_dirty = 1;
    return 0;
}

int hist_db_insert(hist_db *db, hist_tag_state *t, const int64_t *ts, const hist_value *v,
                   const uint32_t *q, size_t n, uint64_t lsn)
{
    int rc = hist_db_mark_dirty(db, t->meta.id);
    if (rc)
        return rc;
    int64_t delta = hist_membuf_append(&t->buf, ts, v, q, n, lsn, hist_mono_ns());
    if (delta < 0)
        return (int)delta;
    db->mem_bytes += (size_t)delta;
    db->mem_samples += n;
    for (size_t i = 0; i < n; i++) {
        if (!t->has_latest || ts[i] >= t->latest.ts) {
            t->has_latest = 1;
            t->latest.ts = ts[i];
            t->latest.v = v[i];
            t->latest.q = q ? q[i] : 0;
        }
    }
    return 0;
}

static int series_check(hist_db *db, const hist_series *s)
{
    hist_tag_state *t = hist_db_tag(db, s->tag);
    if (!t)
        return HIST_ENOTFOUND;
    if (s->n == 0)
        return 0;
    if (!s->ts || !s->v)
        return HIST_EINVAL;
    for (size_t j = 0; j < s->n; j++)
        if (s->ts[j] < HIST_TS_MIN || s->ts[j] > HIST_TS_MAX)
            return HIST_ERANGE;
    if (t->meta.type == HIST_TYPE_BOOL)
        for (size_t j = 0; j < s->n; j++)
            if (s->v[j].i != 0 && s->v[j].i != 1)
                return HIST_ETYPE;
    return 0;
}

int hist_db_write(hist_db *db, const hist_series *series, size_t nseries, uint64_t *lsn_out)
{
    if (!db || (nseries && !series))
        return HIST_EINVAL;
    size_t total = 0;
    pthread_mutex_lock(&db->mu);
    int rc = db->closing ? HIST_ECLOSED : 0;
    for (size_t i = 0; i < nseries && rc == 0; i++) {
        rc = series_check(db, &series[i]);
        total += series[i].n;
    }
    pthread_mutex_unlock(&db->mu);
    if (rc)
        return rc;
    if (total == 0) {
        if (lsn_out)
            *lsn_out = hist_wal_last_lsn(db->wal);
        return 0;
    }
    uint8_t *buf = malloc(payload_bound(series, nseries));
    if (!buf)
        return HIST_ENOMEM;
    struct iovec iov = {buf, payload_encode(series, nseries, buf)};
    uint64_t lsn = 0;
    int wake = 0;
    pthread_mutex_lock(&db->mu);
    rc = db->closing ? HIST_ECLOSED : db->fatal ? HIST_EIO : hist_wal_append(db->wal, &iov, 1, &lsn);
    if (!db->fatal && (rc == HIST_EDISKFULL || rc == HIST_EIO)) {
        /* The log is broken: try to resume it (at most once a second). */
        pthread_mutex_unlock(&db->mu);
        int hrc = hist_db_heal(db);
        pthread_mutex_lock(&db->mu);
        if (hrc == 0 && !db->closing)
            rc = hist_wal_append(db->wal, &iov, 1, &lsn);
    }
    for (size_t i = 0; i < nseries && rc == 0; i++) {
        const hist_series *s = &series[i];
        if (s->n == 0)
            continue;
        hist_tag_state *t = db->tags[s->tag];
        rc = hist_db_insert(db, t, s->ts, s->v, s->q, s->n, lsn);
        if (rc) {
            /* The WAL holds the whole record, memory only some of its series
             * (each went in whole or not at all), and the writer hears of a
             * failure for a record that may become durable. Refuse every
             * write from now on (as LMDB's fatal flag); a restart replays
             * the WAL and memory agrees with it again. Sealing may go on:
             * it moves a tag's flushed point only over series it holds. */
            db->fatal = rc;
            hist_db_log(db, HIST_LOG_ERROR,
                        "memtable insert failed after WAL append (lsn %llu): %s; the database "
                        "refuses writes until it is restarted",
                        (unsigned long long)lsn, hist_strerror(rc));
        }
        if (t->buf.n >= db->opts.chunk_samples)
            wake = 1;
    }
    if (db->mem_bytes > db->opts.memtable_bytes)
        wake = 1;
    if (wake)
        pthread_cond_signal(&db->seal_cv);
    /* Backpressure: past twice the budget, wait for the sealer (bounded, so
     * a sealer stuck on a failing disk slows writers but never stops them). */
    for (int i = 0; i < 10 && rc == 0 && db->has_sealer && !db->stop &&
                    db->mem_bytes > 2 * db->opts.memtable_bytes;
         i++) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000;
        if (until.tv_nsec >= 1000000000)
            until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&db->room_cv, &db->mu, &until);
    }
    pthread_mutex_unlock(&db->mu);
    free(buf);
    if (rc == 0 && lsn_out)
        *lsn_out = lsn;
    return rc;
}

int hist_db_sync(hist_db *db, uint64_t lsn)
{
    if (!db)
        return HIST_EINVAL;
    int rc = hist_wal_sync(db->wal, lsn);
    if (rc)
        hist_db_rollback_void(db); /* before the writer hears of it */
    return rc;
}

int hist_db_latest(hist_db *db, uint32_t tag, hist_sample *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    hist_damage_refresh_latest(db, tag);
    pthread_mutex_lock(&db->mu);
    hist_tag_state *t = hist_db_tag(db, tag);
    int rc = !t ? HIST_ENOTFOUND : !t->has_latest ? HIST_ENOTFOUND : 0;
    if (rc == 0)
        *out = t->latest;
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---- Maintenance, stats ------------------------------------------------------ */

int hist_db_flush(hist_db *db)
{
    if (!db)
        return HIST_EINVAL;
    /* WAL first: the checkpoint can only drop segments it knows are synced. */
    int rc = hist_wal_sync(db->wal, hist_wal_last_lsn(db->wal));
    pthread_mutex_lock(&db->seal_mu);
    if (rc == 0)
        rc = hist_seal_all(db);
    if (rc == 0)
        rc = hist_checkpoint(db);
    pthread_mutex_unlock(&db->seal_mu);
    return rc;
}

int hist_db_get_stats(hist_db *db, hist_db_stats *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    memset(out, 0, sizeof(*out));
    hist_wal_stats ws;
    hist_wal_get_stats(db->wal, &ws);
    out->io_backend = hist_segs_backend(&db->segs);
    pthread_mutex_lock(&db->mu);
    out->tags = db->ntags;
    out->samples_memtable = db->mem_samples;
    out->memtable_bytes = db->mem_bytes;
    pthread_mutex_unlock(&db->mu);
    out->chunks = atomic_load(&db->chunks);
    out->samples_sealed = atomic_load(&db->samples_sealed);
    out->bytes_chunks = atomic_load(&db->bytes_chunks);
    out->bytes_segments = hist_segs_bytes(&db->segs);
    out->bytes_wal = ws.bytes;
    char path[4200];
    snprintf(path, sizeof(path), "%s/index/data.mdb", db->dir);
    struct stat st;
    if (stat(path, &st) == 0)
        out->bytes_index = (uint64_t)st.st_size;
    out->lsn_written = hist_wal_last_lsn(db->wal);
    out->lsn_durable = hist_wal_durable_lsn(db->wal);
    out->wal_syncs = ws.syncs;
    memcpy(out->wal_sync_hist, ws.sync_hist, sizeof(out->wal_sync_hist));
    out->wal_sync_seconds_total = ws.sync_seconds_total;
    out->chunks_sealed = atomic_load(&db->chunks_sealed);
    out->seals_held = atomic_load(&db->seals_held);
    out->seals_memory = atomic_load(&db->seals_memory);
    out->seals_wal = atomic_load(&db->seals_wal);
    out->chunks_decoded = atomic_load(&db->chunks_decoded);
    out->recovered_records = db->recovered_records;
    out->dropped_records = db->dropped_records;
    out->dropped_bytes = db->dropped_bytes;
    out->lost_records = db->lost_records;
    hist_db_health(db, out);
    out->chunk_load_failures = atomic_load(&db->chunk_load_failures);
    hist_scrub_fill_stats(db, out);
    return 0;
}

/* ---- Open / close ------------------------------------------------------------ */

void hist_db_options_init(hist_db_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->io = HIST_IO_AUTO;
    opts->memtable_bytes = (size_t)256 << 20;
    opts->chunk_samples = 8192;
    opts->chunk_max_age_ns = INT64_C(3600000000000); /* >= chunk_align_ns: whole-hour chunks */
    opts->chunk_align_ns = INT64_C(3600000000000);
    opts->wal_bytes = (size_t)1 << 30;
    opts->wal_segment_bytes = (size_t)64 << 20;
    opts->log_level = HIST_LOG_INFO;
}

/* Loads tags, then walks every chunk once for counters, max spans and the
 * latest sample of each tag (never from a chunk marked damaged). */
static int load_index(hist_db *db)
{
    MDB_txn *txn;
    int rc = hist_index_read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    uint64_t v;
    db->next_tag_id = hist_meta_get(&db->idx, txn, "next_tag", &v) == 0 ? (uint32_t)v : 1;
    db->next_seq = hist_meta_get(&db->idx, txn, "next_seq", &v) == 0 ? v : 1;
    db->checkpoint_lsn = hist_meta_get(&db->idx, txn, "checkpoint", &v) == 0 ? v : 1;
    db->seen_durable_lsn = hist_meta_get(&db->idx, txn, "wal_durable", &v) == 0 ? v : 0;
    MDB_cursor *cur = NULL;
    MDB_val k, d;
    rc = hist_index_err(mdb_cursor_open(txn, db->idx.tag, &cur));
    int op = MDB_FIRST;
    while (rc == 0 && mdb_cursor_get(cur, &k, &d, op) == 0) {
        op = MDB_NEXT;
        hist_index_tag t;
        if (d.mv_size != sizeof(t)) {
            rc = HIST_ECORRUPT;
            break;
        }
        memcpy(&t, d.mv_data, sizeof(t));
        t.max_span = 0; /* recomputed below from the chunks themselves */
        rc = hist_db_cache_tag(db, &t);
    }
    if (cur)
        mdb_cursor_close(cur);
    cur = NULL;
    if (rc == 0)
        rc = hist_index_err(mdb_cursor_open(txn, db->idx.chunk, &cur));
    hist_marks marks = {0};
    if (rc == 0)
        rc = hist_marks_open(&db->idx, txn, NULL, &marks);
    op = MDB_FIRST;
    uint64_t *latest_seq = NULL;
    if (rc == 0 && db->tags_cap) {
        latest_seq = calloc(db->tags_cap, sizeof(*latest_seq));
        if (!latest_seq)
            rc = HIST_ENOMEM;
    }
    while (rc == 0 && mdb_cursor_get(cur, &k, &d, op) == 0) {
        op = MDB_NEXT;
        hist_chunk_ref ref;
        if (hist_chunk_ref_from(&k, &d, &ref) != 0) {
            hist_db_log(db, HIST_LOG_ERROR, "index: malformed chunk entry skipped");
            continue;
        }
        hist_tag_state *t = hist_db_tag(db, ref.tag);
        if (!t)
            continue;
        atomic_fetch_add(&db->chunks, 1);
        atomic_fetch_add(&db->samples_sealed, ref.stats.count);
        atomic_fetch_add(&db->bytes_chunks, ref.length);
        int64_t span = ref.stats.end_ts - ref.stats.start_ts;
        if (span > t->meta.max_span)
            t->meta.max_span = span;
        bool damaged = hist_marks_has(&marks, &k); /* its last sample is no answer */
        if (!damaged && (!t->has_latest || ref.stats.end_ts > t->latest.ts ||
                         (ref.stats.end_ts == t->latest.ts && ref.seq > latest_seq[ref.tag]))) {
            t->has_latest = t->has_sealed_latest = 1;
            t->latest.ts = ref.stats.end_ts;
            t->latest.v = ref.stats.last_v;
            t->latest.q = ref.stats.last_q;
            t->sealed_latest = t->latest;
            latest_seq[ref.tag] = ref.seq;
        }
        if (ref.seq >= db->next_seq)
            db->next_seq = ref.seq + 1;
    }
    free(latest_seq);
    hist_marks_close(&marks);
    if (cur)
        mdb_cursor_close(cur);
    hist_index_read_end(&db->idx, txn);
    return rc;
}

/* LSNs must keep rising past everything the index already accounts for,
 * even if the WAL lost its tail: the checkpoint and every flushed_lsn. */
static uint64_t wal_floor(hist_db *db)
{
    uint64_t floor = db->checkpoint_lsn;
    if (db->seen_durable_lsn + 1 > floor)
        floor = db->seen_durable_lsn + 1;
    for (uint32_t i = 0; i < db->tags_cap; i++)
        if (db->tags[i] && db->tags[i]->meta.flushed_lsn + 1 > floor)
            floor = db->tags[i]->meta.flushed_lsn + 1;
    return floor;
}

/* A log cut at a record boundary, or emptied, looks intact: the last
 * durable LSN the index saw (written at every checkpoint) tells. */
static void note_missing_tail(hist_db *db, hist_wal_report *rep)
{
    uint64_t seen = db->seen_durable_lsn, last = rep->records ? rep->last_lsn : 0;
    if (seen == 0 || last >= seen || seen < db->checkpoint_lsn)
        return;
    uint64_t from = last + 1 > db->checkpoint_lsn ? last + 1 : db->checkpoint_lsn;
    if (from > seen)
        return;
    rep->lost_records += seen - from + 1;
    rep->dropped_records += seen - from + 1;
    hist_db_log(db, HIST_LOG_ERROR,
                "recovery: the WAL ends at LSN %llu, but LSN %llu was durable: records "
                "%llu..%llu are missing (the log was cut or emptied)",
                (unsigned long long)last, (unsigned long long)seen, (unsigned long long)from,
                (unsigned long long)seen);
}

/* One process at a time: two writers would interleave WAL segments and
 * seal over each other. The kernel drops the lock when the process dies,
 * so a crash never leaves the directory locked. */
static int lock_dir(hist_db *db)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/LOCK", db->dir);
    db->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0) {
        hist_db_log(db, HIST_LOG_ERROR, "cannot open %s: %s", path, strerror(errno));
        return HIST_EIO;
    }
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        hist_db_log(db, HIST_LOG_ERROR, "%s: %s", db->dir,
                    busy ? "the data directory is in use by another process" : strerror(errno));
        return busy ? HIST_EBUSY : HIST_EIO;
    }
    return 0;
}

static void db_free(hist_db *db)
{
    hist_scrub_free(db);
    if (db->wal)
        hist_wal_close(db->wal);
    if (db->lock_fd >= 0)
        close(db->lock_fd); /* releases the flock */
    if (db->segs_open)
        hist_segs_close(&db->segs);
    if (db->idx_open)
        hist_index_close(&db->idx);
    for (uint32_t i = 0; i < db->tags_cap; i++)
        if (db->tags[i]) {
            hist_membuf_free(&db->tags[i]->buf);
            free(db->tags[i]);
        }
    free(db->tags);
    free(db->name_hash);
    free(db->dirty);
    free(db->seal_scratch);
    pthread_mutex_destroy(&db->seal_mu);
    pthread_mutex_destroy(&db->tag_mu);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->seal_cv);
    pthread_cond_destroy(&db->room_cv);
    free(db);
}

int hist_db_open(const hist_db_options *opts, hist_db **out)
{
    if (!opts || !opts->dir || !out)
        return HIST_EINVAL;
    hist_db *db = calloc(1, sizeof(*db));
    if (!db)
        return HIST_ENOMEM;
    db->opts = *opts;
    db->lock_fd = -1;
    hist_db_options def;
    hist_db_options_init(&def);
    if (!db->opts.memtable_bytes)
        db->opts.memtable_bytes = def.memtable_bytes;
    if (!db->opts.chunk_samples)
        db->opts.chunk_samples = def.chunk_samples;
    if (db->opts.chunk_max_age_ns <= 0)
        db->opts.chunk_max_age_ns = def.chunk_max_age_ns;
    if (db->opts.chunk_align_ns == 0)
        db->opts.chunk_align_ns = def.chunk_align_ns;
    if (!db->opts.wal_bytes)
        db->opts.wal_bytes = def.wal_bytes;
    if (!db->opts.wal_segment_bytes)
        db->opts.wal_segment_bytes = def.wal_segment_bytes;
    snprintf(db->dir, sizeof(db->dir), "%s", opts->dir);
    db->opts.dir = db->dir;
    pthread_mutex_init(&db->seal_mu, NULL);
    pthread_mutex_init(&db->tag_mu, NULL);
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->seal_cv, NULL);
    pthread_cond_init(&db->room_cv, NULL);

    int rc = hist_scrub_init(db);
    char path[4200];
    if (rc == 0 && mkdir(db->dir, 0755) != 0 && errno != EEXIST) {
        hist_db_log(db, HIST_LOG_ERROR, "cannot create %s: %s", db->dir, strerror(errno));
        rc = HIST_EIO;
    }
    if (rc == 0)
        rc = lock_dir(db);
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/index", db->dir);
        rc = hist_index_open(&db->idx, path, (size_t)64 << 20, db->opts.log, db->opts.log_ctx);
        db->idx_open = rc == 0;
    }
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/seg", db->dir);
        rc = hist_segs_open(&db->segs, path, db->opts.io, (uint64_t)64 << 20, db->opts.log,
                            db->opts.log_ctx);
        db->segs_open = rc == 0;
    }
    if (rc == 0)
        rc = load_index(db);
    hist_wal_report rep;
    memset(&rep, 0, sizeof(rep));
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/wal", db->dir);
        hist_wal_options wo = {.dir = path,
                               .io = db->opts.io,
                               .segment_bytes = db->opts.wal_segment_bytes,
                               .log = db->opts.log,
                               .log_ctx = db->opts.log_ctx,
                               .min_lsn = wal_floor(db)};
        rc = hist_wal_open(&wo, &db->wal, &rep);
    }
    if (rc == 0)
        note_missing_tail(db, &rep);
    if (rc == 0)
        rc = hist_recover(db, &rep);
    if (rc == 0 && !db->opts.no_background)
        rc = hist_sealer_start(db);
    if (rc) {
        hist_db_log(db, HIST_LOG_ERROR, "cannot open %s: %s", db->dir, hist_strerror(rc));
        db_free(db);
        return rc;
    }
    *out = db;
    return 0;
}

int hist_db_close(hist_db *db)
{
    if (!db)
        return HIST_EINVAL;
    hist_scrub_stop(db);
    pthread_mutex_lock(&db->mu);
    db->stop = 1;
    pthread_cond_broadcast(&db->seal_cv);
    pthread_cond_broadcast(&db->room_cv);
    pthread_mutex_unlock(&db->mu);
    hist_sealer_stop(db);
    int rc = hist_db_flush(db);
    pthread_mutex_lock(&db->mu);
    db->closing = 1;
    pthread_mutex_unlock(&db->mu);
    if (rc) {
        /* Every acknowledged sample is in the WAL, which stays for the next
         * open to replay: nothing is lost, so this is no error of close. */
        hist_db_log(db, HIST_LOG_WARN,
                    "close: could not seal everything (%s); the WAL is kept and replayed at "
                    "the next start",
                    hist_strerror(rc));
        rc = 0;
    }
    /* Everything is in committed chunks and the checkpoint LSN is durable
     * in the index (the next open continues LSNs from it): the log is no
     * longer needed. Whatever stops this just leaves it to be replayed. */
    else {
        int drc = hist_wal_discard(db->wal, db->checkpoint_lsn);
        if (drc)
            hist_db_log(db, HIST_LOG_WARN, "close: WAL kept: %s", hist_strerror(drc));
    }
    db_free(db);
    return rc;
}
