/*
 * index.c: the LMDB index (see index.h for the layout and the deviation from
 * DESIGN.md: chunk keys end with the chunk seq).
 *
 * Chunk values are packed (index_entry.c); tag values are fixed-layout
 * structs copied with memcpy (LMDB data is not aligned), integers in host
 * order (little-endian machines); keys that must sort are big-endian. The
 * layout is versioned by meta "version" (HIST_INDEX_FORMAT); a format 2
 * index (fixed-layout chunk values) is rewritten to 3 at open.
 */
#include "storage/index.h"

#include "common/hist_bytes.h"

#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

int index__err(int rc)
{
    if (rc == 0)
        return 0;
    if (rc == MDB_NOTFOUND)
        return HIST_ENOTFOUND;
    if (rc == ENOMEM)
        return HIST_ENOMEM;
    if (rc == EIO)
        return HIST_EIO;
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID)
        return HIST_ECORRUPT;
    return HIST_EINDEX;
}

int index__put_err(int rc)
{
    return rc == MDB_MAP_FULL ? HIST_ENOSPC : index__err(rc);
}

/* A format 2 chunk value: the fixed-layout hist_chunk_ref, ending before
 * `counted` unless HIST_CHUNK_HAS_COUNTED. */
static int legacy_ref(const MDB_val *val, hist_chunk_ref *ref)
{
    size_t part = offsetof(hist_chunk_ref, counted);
    memset(ref, 0, sizeof(*ref));
    if (val->mv_size == part) {
        memcpy(ref, val->mv_data, part);
        ref->flags &= (uint8_t)~HIST_CHUNK_HAS_COUNTED;
        return 0;
    }
    if (val->mv_size != sizeof(*ref))
        return HIST_ECORRUPT;
    memcpy(ref, val->mv_data, sizeof(*ref));
    return ref->flags & HIST_CHUNK_HAS_COUNTED ? 0 : HIST_ECORRUPT;
}

/* Rewrites every chunk value of a format 2 index packed, then says 3. All
 * in one transaction: a crash leaves format 2 whole, to be redone. An
 * entry that does not parse is left as it is (reads skip it, as before). */
static int upgrade_from_2(hist_index *idx, MDB_txn *txn, void *ctx)
{
    (void)ctx;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, idx->chunk, &cur);
    if (rc)
        return index__err(rc);
    MDB_val k, v;
    int op = MDB_FIRST;
    while (rc == 0 && mdb_cursor_get(cur, &k, &v, op) == 0) {
        op = MDB_NEXT;
        hist_chunk_ref ref;
        if (k.mv_size != HIST_CHUNK_KEY_LEN || legacy_ref(&v, &ref) != 0)
            continue;
        uint8_t kb[HIST_CHUNK_KEY_LEN], buf[HIST_CHUNK_ENTRY_MAX];
        memcpy(kb, k.mv_data, sizeof(kb));
        MDB_val key = {sizeof(kb), kb}, nv = {entry__pack(&ref, buf), buf};
        /* A put that changes a value's size may move the cursor: put, then
         * find the key again and go on from there. */
        rc = index__put_err(mdb_put(txn, idx->chunk, &key, &nv, 0));
        if (rc == 0 && mdb_cursor_get(cur, &key, &v, MDB_SET) != 0)
            rc = HIST_EINDEX;
    }
    mdb_cursor_close(cur);
    return rc ? rc : index__meta_put(idx, txn, "version", HIST_INDEX_FORMAT);
}

int index__open(hist_index *idx, const char *dir, size_t mapsize, hist_log_fn log, void *log_ctx)
{
    memset(idx, 0, sizeof(*idx));
    idx->log = hist_log_sink_make(log, log_ctx, HIST_LOG_DEBUG);
    idx->mapsize = mapsize;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return HIST_EIO;
    int rc = mdb_env_create(&idx->env);
    if (rc)
        return index__err(rc);
    mdb_env_set_maxdbs(idx->env, HIST_INDEX_MAX_DBS);
    mdb_env_set_mapsize(idx->env, mapsize);
    rc = mdb_env_open(idx->env, dir, MDB_NOTLS, 0644);
    if (rc) {
        hist_logf(&idx->log, HIST_LOG_ERROR, "index: cannot open %s: %s", dir, mdb_strerror(rc));
        mdb_env_close(idx->env);
        idx->env = NULL;
        return index__err(rc);
    }
    /* Reader slots left by a killed process would pin old pages forever. */
    int dead = 0;
    mdb_reader_check(idx->env, &dead);
    MDB_envinfo info;
    mdb_env_info(idx->env, &info);
    if (info.me_mapsize > idx->mapsize)
        idx->mapsize = info.me_mapsize;
    pthread_rwlock_init(&idx->resize, NULL);

    MDB_txn *txn;
    rc = mdb_txn_begin(idx->env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "tag_name", MDB_CREATE, &idx->tag_name);
    if (!rc)
        rc = mdb_dbi_open(txn, "tag", MDB_CREATE, &idx->tag);
    if (!rc)
        rc = mdb_dbi_open(txn, "chunk", MDB_CREATE, &idx->chunk);
    if (!rc)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &idx->meta);
    if (!rc)
        rc = mdb_dbi_open(txn, "damaged", MDB_CREATE, &idx->damaged);
    if (!rc) {
        uint64_t version;
        int r = index__meta_get(idx, txn, "version", &version);
        if (r == HIST_ENOTFOUND)
            r = index__meta_put(idx, txn, "version", HIST_INDEX_FORMAT);
        else if (r == 0 && version != HIST_INDEX_FORMAT && version != 2)
            r = HIST_EUNSUPPORTED;
        if (r) {
            mdb_txn_abort(txn);
            index__close(idx);
            return r;
        }
        rc = mdb_txn_commit(txn);
        if (rc == 0 && r == 0 && version == 2) {
            int m = index__write(idx, upgrade_from_2, NULL);
            if (m) {
                index__close(idx);
                return m;
            }
            hist_logf(&idx->log, HIST_LOG_INFO, "index: chunk entries packed (format 2 -> 3)");
        }
    } else if (txn) {
        mdb_txn_abort(txn);
    }
    if (rc) {
        index__close(idx);
        return index__err(rc);
    }
    return 0;
}

void index__close(hist_index *idx)
{
    if (idx->env) {
        mdb_env_close(idx->env);
        idx->env = NULL;
        pthread_rwlock_destroy(&idx->resize);
    }
}

int index__read_begin(hist_index *idx, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&idx->resize);
    int rc = mdb_txn_begin(idx->env, NULL, MDB_RDONLY, txn);
    if (rc) {
        pthread_rwlock_unlock(&idx->resize);
        return index__err(rc);
    }
    return 0;
}

void index__read_end(hist_index *idx, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&idx->resize);
}

/* Doubles the map. Called without any txn of ours live. */
static int index_grow(hist_index *idx, size_t seen)
{
    pthread_rwlock_wrlock(&idx->resize);
    int rc = 0;
    if (idx->mapsize == seen) { /* nobody else grew it meanwhile */
        size_t next = idx->mapsize * 2;
        rc = mdb_env_set_mapsize(idx->env, next);
        if (!rc) {
            idx->mapsize = next;
            hist_logf(&idx->log, HIST_LOG_INFO, "index: map grown to %zu MiB", next >> 20);
        }
    }
    pthread_rwlock_unlock(&idx->resize);
    return index__err(rc);
}

int index__write(hist_index *idx, hist_index_write_fn fn, void *ctx)
{
    for (int attempt = 0; attempt < 40; attempt++) {
        pthread_rwlock_rdlock(&idx->resize);
        size_t seen = idx->mapsize;
        MDB_txn *txn;
        int rc = mdb_txn_begin(idx->env, NULL, 0, &txn);
        if (rc) {
            pthread_rwlock_unlock(&idx->resize);
            if (rc == MDB_MAP_RESIZED) {
                mdb_env_set_mapsize(idx->env, 0);
                continue;
            }
            return index__err(rc);
        }
        int r = fn(idx, txn, ctx);
        bool full = false;
        if (r == 0) {
            rc = mdb_txn_commit(txn);
            if (rc == MDB_MAP_FULL)
                full = true;
            else if (rc)
                r = index__err(rc);
        } else {
            mdb_txn_abort(txn);
            if (r == HIST_ENOSPC)
                full = true; /* put helpers map MDB_MAP_FULL to HIST_ENOSPC */
        }
        pthread_rwlock_unlock(&idx->resize);
        if (!full)
            return r;
        r = index_grow(idx, seen);
        if (r)
            return r;
    }
    return HIST_EINDEX;
}

void index__chunk_key(uint8_t key[HIST_CHUNK_KEY_LEN], uint32_t tag, int64_t start, uint64_t seq)
{
    hist_put_be32(key, tag);
    hist_put_be64(key + 4, (uint64_t)start ^ (UINT64_C(1) << 63));
    hist_put_be64(key + 12, seq);
}

void index__chunk_key_parse(const uint8_t *key, uint32_t *tag, int64_t *start, uint64_t *seq)
{
    if (tag)
        *tag = hist_get_be32(key);
    if (start)
        *start = (int64_t)(hist_get_be64(key + 4) ^ (UINT64_C(1) << 63));
    if (seq)
        *seq = hist_get_be64(key + 12);
}

int index__meta_get(hist_index *idx, MDB_txn *txn, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, idx->meta, &k, &v);
    if (rc)
        return index__err(rc);
    if (v.mv_size != 8)
        return HIST_ECORRUPT;
    memcpy(out, v.mv_data, 8);
    return 0;
}

int index__meta_put(hist_index *idx, MDB_txn *txn, const char *key, uint64_t val)
{
    MDB_val k = {strlen(key), (void *)key}, v = {8, &val};
    return index__put_err(mdb_put(txn, idx->meta, &k, &v, 0));
}

int index__put_tag_row(hist_index *idx, MDB_txn *txn, const hist_index_tag *t)
{
    uint8_t kb[4], row[HIST_TAG_ROW_MAX];
    hist_put_be32(kb, t->id);
    MDB_val k = {4, kb}, v = {tag_row__pack(t, row), row};
    return index__put_err(mdb_put(txn, idx->tag, &k, &v, 0));
}

int index__put_tag(hist_index *idx, MDB_txn *txn, const hist_index_tag *t)
{
    int rc = index__put_tag_row(idx, txn, t);
    if (rc)
        return rc;
    uint32_t id = t->id;
    MDB_val nk = {strlen(t->name), (void *)t->name}, nv = {4, &id};
    return index__put_err(mdb_put(txn, idx->tag_name, &nk, &nv, 0));
}

int index__get_tag(hist_index *idx, MDB_txn *txn, uint32_t id, hist_index_tag *out)
{
    uint8_t kb[4];
    hist_put_be32(kb, id);
    MDB_val k = {4, kb}, v;
    int rc = mdb_get(txn, idx->tag, &k, &v);
    if (rc)
        return index__err(rc);
    return tag_row__unpack(v.mv_data, v.mv_size, out);
}

int index__del_tag(hist_index *idx, MDB_txn *txn, uint32_t id)
{
    hist_index_tag t;
    int rc = index__get_tag(idx, txn, id, &t);
    if (rc)
        return rc;
    MDB_val nk = {strlen(t.name), t.name};
    rc = mdb_del(txn, idx->tag_name, &nk, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return index__err(rc);
    uint8_t kb[4];
    hist_put_be32(kb, id);
    MDB_val k = {4, kb};
    return index__err(mdb_del(txn, idx->tag, &k, NULL));
}

int index__put_chunk(hist_index *idx, MDB_txn *txn, const hist_chunk_ref *ref)
{
    uint8_t kb[HIST_CHUNK_KEY_LEN];
    index__chunk_key(kb, ref->tag, ref->stats.start_ts, ref->seq);
    uint8_t buf[HIST_CHUNK_ENTRY_MAX];
    MDB_val k = {sizeof(kb), kb}, v = {entry__pack(ref, buf), buf};
    return index__put_err(mdb_put(txn, idx->chunk, &k, &v, 0));
}

int index__del_chunk(hist_index *idx, MDB_txn *txn, const hist_chunk_ref *ref)
{
    uint8_t kb[HIST_CHUNK_KEY_LEN];
    index__chunk_key(kb, ref->tag, ref->stats.start_ts, ref->seq);
    MDB_val k = {sizeof(kb), kb};
    int rc = mdb_del(txn, idx->chunk, &k, NULL);
    rc = rc == MDB_NOTFOUND ? 0 : index__put_err(rc);
    return rc ? rc : index__del_mark(idx, txn, kb);
}

int index__del_mark(hist_index *idx, MDB_txn *txn, const uint8_t *key)
{
    MDB_val k = {HIST_CHUNK_KEY_LEN, (void *)key};
    int rc = mdb_del(txn, idx->damaged, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : index__put_err(rc);
}

int index__chunk_ref_from(const MDB_val *key, const MDB_val *val, hist_chunk_ref *ref)
{
    if (key->mv_size != HIST_CHUNK_KEY_LEN)
        return HIST_ECORRUPT;
    uint32_t tag;
    int64_t start;
    uint64_t seq;
    index__chunk_key_parse(key->mv_data, &tag, &start, &seq);
    return entry__unpack(val->mv_data, val->mv_size, tag, start, seq, ref);
}
