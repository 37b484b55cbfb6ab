/*
 * namespace.c: walking the tag namespace in name order through the LMDB
 * name index (tag_name: name -> id): every tag under a prefix from a start
 * key (hist_tag_foreach_from), and the distinct next path segments under a
 * prefix (hist_tag_children).
 *
 * Both walk in batches: one short read txn reads up to WALK_BATCH answers
 * (a name filter looks at each name before its row is read), the txn ends,
 * the caller's function sees the batch (it may call back into the db), and
 * the next txn seeks to just past the last name seen. A page of p answers
 * costs O(p log N), not O(tags under the prefix).
 *
 * Children skip each child's subtree by seeking: the names under "P/c/"
 * are the keys from "P/c/" up to "P/c0" ('0' is the byte after '/').
 */
#include <stdlib.h>
#include <string.h>

#include "storage/db_internal.h"

enum {
    WALK_BATCH = 64,                    /* answers per read txn */
    WALK_SCAN = 4096,                   /* names looked at per read txn (a sparse filter) */
    KEY_MAX = 2 * HIST_TAG_NAME_MAX + 2 /* prefix + segment + one byte */
};

/* Moves cur to the first name >= key (> key when strict). 1 found, 0 none,
 * or an error. */
static int seek_kv(MDB_cursor *cur, const char *key, size_t klen, bool strict, MDB_val *k,
                   MDB_val *v)
{
    int rc;
    if (klen == 0) {
        rc = mdb_cursor_get(cur, k, v, MDB_FIRST);
    } else {
        k->mv_size = klen;
        k->mv_data = (void *)key;
        rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    }
    if (rc == 0 && strict && k->mv_size == klen && memcmp(k->mv_data, key, klen) == 0)
        rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? index__err(rc) : 1;
}

static int seek(MDB_cursor *cur, const char *key, size_t klen, bool strict, MDB_val *k)
{
    MDB_val v;
    return seek_kv(cur, key, klen, strict, k, &v);
}

/* A read txn and a cursor on the name index: 0, or an error (nothing
 * open). */
static int names_open(hist_db *db, MDB_txn **txn, MDB_cursor **cur)
{
    int rc = index__read_begin(&db->idx, txn);
    if (rc)
        return rc;
    rc = mdb_cursor_open(*txn, db->idx.tag_name, cur);
    if (rc) {
        index__read_end(&db->idx, *txn);
        return index__err(rc);
    }
    return 0;
}

static void names_close(hist_db *db, MDB_txn *txn, MDB_cursor *cur)
{
    mdb_cursor_close(cur);
    index__read_end(&db->idx, txn);
}

static bool starts_with(const MDB_val *k, const char *p, size_t pl)
{
    return k->mv_size >= pl && memcmp(k->mv_data, p, pl) == 0;
}

/* ---- Every tag under a prefix ---------------------------------------------------- */

typedef struct {
    char key[HIST_TAG_NAME_MAX + 1]; /* walk on from here */
    size_t klen;
    bool strict; /* past key, not at it */
    bool done;
} walk_pos;

/* One batch: up to WALK_BATCH rows of names under prefix that match
 * accepts, read in one txn. *n counts them; pos moves past the last name
 * looked at. */
static int walk_batch(hist_db *db, const char *prefix, size_t plen, hist_tag_name_fn match,
                      void *ctx, walk_pos *pos, hist_tag_info *out, size_t *n)
{
    *n = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = names_open(db, &txn, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    int r = seek_kv(cur, pos->key, pos->klen, pos->strict, &k, &v);
    for (size_t scanned = 0; r == 1; scanned++) {
        if (!starts_with(&k, prefix, plen) || k.mv_size > HIST_TAG_NAME_MAX) {
            pos->done = true;
            break;
        }
        if (*n == WALK_BATCH || scanned == WALK_SCAN)
            break; /* k is the next batch's first name */
        memcpy(pos->key, k.mv_data, k.mv_size);
        pos->key[k.mv_size] = '\0';
        pos->klen = k.mv_size;
        pos->strict = true;
        uint32_t id;
        if (v.mv_size == 4 && (!match || match(ctx, pos->key))) {
            memcpy(&id, v.mv_data, 4);
            hist_index_tag row;
            rc = index__get_tag(&db->idx, txn, id, &row);
            if (rc == 0)
                tags__info_from(&row, &out[(*n)++]);
            else if (rc != HIST_ENOTFOUND) {
                r = rc;
                break;
            }
        }
        r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        r = r == 0 ? 1 : r == MDB_NOTFOUND ? 0 : index__err(r);
    }
    if (r == 0)
        pos->done = true;
    names_close(db, txn, cur);
    return r < 0 ? r : 0;
}

int hist_tag_foreach_from(hist_db *db, const char *prefix, const char *after,
                          hist_tag_name_fn match, hist_tag_visit_fn fn, void *ctx)
{
    if (!db || !fn)
        return HIST_EINVAL;
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    if (plen > HIST_TAG_NAME_MAX)
        return 0; /* no name is that long */
    walk_pos pos = {.klen = plen, .strict = false};
    memcpy(pos.key, prefix, plen + 1);
    if (after && strcmp(after, prefix) > 0) {
        /* Past a key longer than any name is past its first
         * HIST_TAG_NAME_MAX bytes: a name between the two would be longer. */
        size_t alen = strlen(after);
        pos.strict = true;
        pos.klen = alen < HIST_TAG_NAME_MAX ? alen : HIST_TAG_NAME_MAX;
        memcpy(pos.key, after, pos.klen);
        pos.key[pos.klen] = '\0';
    }
    hist_tag_info *infos = malloc(WALK_BATCH * sizeof(*infos));
    if (!infos)
        return HIST_ENOMEM;
    int r = 0;
    while (r == 0 && !pos.done) {
        size_t n;
        if ((r = walk_batch(db, prefix, plen, match, ctx, &pos, infos, &n)) != 0)
            break;
        for (size_t j = 0; j < n && r == 0; j++)
            r = fn(ctx, &infos[j]);
    }
    free(infos);
    return r;
}

int hist_tag_foreach(hist_db *db, const char *prefix, hist_tag_visit_fn fn, void *ctx)
{
    return hist_tag_foreach_from(db, prefix, NULL, NULL, fn, ctx);
}

/* ---- One level of the namespace -------------------------------------------------- */

/* A path segment under the prefix P (kept in key[0..pl)). */
typedef struct {
    char key[KEY_MAX + 1]; /* P, then what is sought */
    size_t pl;
    char seg[HIST_TAG_NAME_MAX + 1];
    size_t sl;
} level_walk;

static int seg_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : al < bl ? -1 : al > bl;
}

/* Seeks P + s[0..sl) + tail (tail "" = none). */
static int seek_seg(MDB_cursor *cur, level_walk *w, const char *s, size_t sl, const char *tail,
                    bool strict, MDB_val *k)
{
    size_t tl = strlen(tail);
    memmove(w->key + w->pl, s, sl);
    memcpy(w->key + w->pl + sl, tail, tl);
    return seek(cur, w->key, w->pl + sl + tl, strict, k);
}

/* The smallest segment under P after w->seg (the first one when !bound),
 * into w->seg: 1, 0 when there is none, or an error.
 *
 * Segments sort as strings, but keys put '/' (0x2F) after the bytes below
 * it: "a.b/x" sorts before "a/y", so the first key at or past a bound can
 * belong to a segment that sorts after a folder-only segment ("a", whose
 * keys all start "a/") still to come. Such a segment is a proper prefix of
 * the one found, ending just before a byte below '/'; each is checked
 * with one seek. A key whose segment is at or below the bound lies in that
 * segment's folder (already answered): its subtree is skipped. */
static int next_segment(MDB_cursor *cur, level_walk *w, bool bound)
{
    MDB_val k;
    char s[HIST_TAG_NAME_MAX + 1];
    int r =
        bound ? seek_seg(cur, w, w->seg, w->sl, "", true, &k) : seek(cur, w->key, w->pl, false, &k);
    for (;;) {
        if (r <= 0)
            return r;
        if (!starts_with(&k, w->key, w->pl))
            return 0;
        const char *rest = (const char *)k.mv_data + w->pl;
        size_t rl = k.mv_size - w->pl;
        const char *slash = memchr(rest, '/', rl);
        size_t sl = slash ? (size_t)(slash - rest) : rl;
        if (sl == 0 || sl > HIST_TAG_NAME_MAX)
            return HIST_ECORRUPT; /* names have no empty segment */
        memcpy(s, rest, sl);
        if (bound && seg_cmp(s, sl, w->seg, w->sl) <= 0) {
            r = seek_seg(cur, w, s, sl, "0", false, &k); /* past its folder */
            continue;
        }
        for (size_t i = 1; i < sl; i++) {
            if ((unsigned char)s[i] >= '/' || (bound && seg_cmp(s, i, w->seg, w->sl) <= 0))
                continue;
            int f = seek_seg(cur, w, s, i, "/", false, &k);
            if (f < 0)
                return f;
            if (f && starts_with(&k, w->key, w->pl + i + 1)) {
                sl = i; /* a folder-only segment sorting first */
                break;
            }
        }
        memcpy(w->seg, s, sl);
        w->sl = sl;
        return 1;
    }
}

/* One batch of children: up to WALK_BATCH names (each ends in out[i]'s
 * name buffer) after w->seg (when *bound). *done when the level ends. */
static int children_batch(hist_db *db, level_walk *w, bool *bound, hist_tag_child *out,
                          char (*names)[HIST_TAG_NAME_MAX + 1], size_t *n, bool *done)
{
    *n = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = names_open(db, &txn, &cur);
    if (rc)
        return rc;
    int r = 0;
    while (*n < WALK_BATCH) {
        r = next_segment(cur, w, *bound);
        if (r <= 0) {
            *done = r == 0;
            break;
        }
        *bound = true;
        MDB_val k, v;
        /* A tag of exactly this name; names below it. */
        memmove(w->key + w->pl, w->seg, w->sl);
        k = (MDB_val){w->pl + w->sl, w->key};
        rc = mdb_get(txn, db->idx.tag_name, &k, &v);
        if (rc && rc != MDB_NOTFOUND) {
            r = index__err(rc);
            break;
        }
        bool tag = rc == 0;
        int f = seek_seg(cur, w, w->seg, w->sl, "/", false, &k);
        if (f < 0) {
            r = f;
            break;
        }
        size_t len = w->pl + w->sl;
        if (len > HIST_TAG_NAME_MAX) {
            r = HIST_ECORRUPT;
            break;
        }
        memcpy(names[*n], w->key, len);
        names[*n][len] = '\0';
        out[*n] = (hist_tag_child){names[*n], len, tag, f && starts_with(&k, w->key, len + 1)};
        (*n)++;
    }
    names_close(db, txn, cur);
    return r < 0 ? r : 0;
}

int hist_tag_children(hist_db *db, const char *prefix, const char *after, hist_tag_child_fn fn,
                      void *ctx)
{
    if (!db || !fn)
        return HIST_EINVAL;
    if (!prefix)
        prefix = "";
    level_walk w;
    size_t pl = strlen(prefix);
    if (pl > HIST_TAG_NAME_MAX)
        return 0; /* no name is that long */
    memcpy(w.key, prefix, pl);
    if (pl && prefix[pl - 1] != '/')
        w.key[pl++] = '/'; /* "a/b" is the folder "a/b/" */
    if (pl >= HIST_TAG_NAME_MAX)
        return 0; /* no child name fits */
    w.pl = pl;
    w.sl = 0;
    bool bound = false;
    if (after) {
        size_t al = strlen(after);
        if (al >= pl && memcmp(after, w.key, pl) == 0) {
            const char *slash = memchr(after + pl, '/', al - pl);
            size_t sl = slash ? (size_t)(slash - after - pl) : al - pl;
            if (sl > HIST_TAG_NAME_MAX - pl)
                sl = HIST_TAG_NAME_MAX - pl; /* a name between the two would be longer */
            memcpy(w.seg, after + pl, sl);
            w.sl = sl;
            bound = sl > 0;
        } else if (seg_cmp(after, al, w.key, pl) > 0) {
            return 0; /* after the whole level */
        }
    }
    hist_tag_child *out = malloc(WALK_BATCH * sizeof(*out));
    char(*names)[HIST_TAG_NAME_MAX + 1] = malloc(WALK_BATCH * sizeof(*names));
    int r = out && names ? 0 : HIST_ENOMEM;
    bool done = false;
    while (r == 0 && !done) {
        size_t n;
        if ((r = children_batch(db, &w, &bound, out, names, &n, &done)) != 0)
            break;
        for (size_t j = 0; j < n && r == 0; j++)
            r = fn(ctx, &out[j]);
    }
    free(out);
    free(names);
    return r;
}
