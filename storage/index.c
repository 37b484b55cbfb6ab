/*
 * index.c: the LMDB index (see index.h for the layout and the deviation from
 * DESIGN.md: chunk keys end with the chunk seq).
 *
 * Values are fixed-layout structs copied with memcpy (LMDB data is not
 * aligned); the layout is versioned by meta "version" (HIST_INDEX_FORMAT).
 * Integers inside values are in host order (little-endian machines); keys
 * that must sort are big-endian.
 */
#include "storage/index.h"

#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

static void index_log(hist_index *idx, int level, const char *msg)
{
    if (idx->log)
        idx->log(idx->log_ctx, level, msg);
    else
        fprintf(stderr, "historian: %s\n", msg);
}

int hist_index_err(int rc)
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

int hist_index_open(hist_index *idx, const char *dir, size_t mapsize, hist_log_fn log,
                    void *log_ctx)
{
    memset(idx, 0, sizeof(*idx));
    idx->log = log;
    idx->log_ctx = log_ctx;
    idx->mapsize = mapsize;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return HIST_EIO;
    int rc = mdb_env_create(&idx->env);
    if (rc)
        return hist_index_err(rc);
    mdb_env_set_maxdbs(idx->env, 8);
    mdb_env_set_mapsize(idx->env, mapsize);
    rc = mdb_env_open(idx->env, dir, MDB_NOTLS, 0644);
    if (rc) {
        char msg[300];
        snprintf(msg, sizeof(msg), "index: cannot open %s: %s", dir, mdb_strerror(rc));
        index_log(idx, HIST_LOG_ERROR, msg);
        mdb_env_close(idx->env);
        idx->env = NULL;
        return hist_index_err(rc);
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
    if (!rc) {
        uint64_t version;
        int r = hist_meta_get(idx, txn, "version", &version);
        if (r == HIST_ENOTFOUND)
            r = hist_meta_put(idx, txn, "version", HIST_INDEX_FORMAT);
        else if (r == 0 && version != HIST_INDEX_FORMAT)
            r = HIST_EUNSUPPORTED;
        if (r) {
            mdb_txn_abort(txn);
            hist_index_close(idx);
            return r;
        }
        rc = mdb_txn_commit(txn);
    } else if (txn) {
        mdb_txn_abort(txn);
    }
    if (rc) {
        hist_index_close(idx);
        return hist_index_err(rc);
    }
    return 0;
}

void hist_index_close(hist_index *idx)
{
    if (idx->env) {
        mdb_env_close(idx->env);
        idx->env = NULL;
        pthread_rwlock_destroy(&idx->resize);
    }
}

int hist_index_read_begin(hist_index *idx, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&idx->resize);
    int rc = mdb_txn_begin(idx->env, NULL, MDB_RDONLY, txn);
    if (rc) {
        pthread_rwlock_unlock(&idx->resize);
        return hist_index_err(rc);
    }
    return 0;
}

void hist_index_read_end(hist_index *idx, MDB_txn *txn)
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
            char msg[96];
            snprintf(msg, sizeof(msg), "index: map grown to %zu MiB", next >> 20);
            index_log(idx, HIST_LOG_INFO, msg);
        }
    }
    pthread_rwlock_unlock(&idx->resize);
    return hist_index_err(rc);
}

int hist_index_write(hist_index *idx, hist_index_write_fn fn, void *ctx)
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
            return hist_index_err(rc);
        }
        int r = fn(idx, txn, ctx);
        bool full = false;
        if (r == 0) {
            rc = mdb_txn_commit(txn);
            if (rc == MDB_MAP_FULL)
                full = true;
            else if (rc)
                r = hist_index_err(rc);
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

static int put_err(int rc)
{
    return rc == MDB_MAP_FULL ? HIST_ENOSPC : hist_index_err(rc);
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}
static void be64(uint8_t *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

/* A chunk entry without the counted stats (see hist_chunk_ref). */
#define CHUNK_REF_SHORT offsetof(hist_chunk_ref, counted)

void hist_chunk_key(uint8_t key[HIST_CHUNK_KEY_LEN], uint32_t tag, int64_t start, uint64_t seq)
{
    be32(key, tag);
    be64(key + 4, (uint64_t)start ^ (UINT64_C(1) << 63));
    be64(key + 12, seq);
}

void hist_chunk_key_parse(const uint8_t *key, uint32_t *tag, int64_t *start, uint64_t *seq)
{
    if (tag)
        *tag = rd32(key);
    if (start)
        *start = (int64_t)(rd64(key + 4) ^ (UINT64_C(1) << 63));
    if (seq)
        *seq = rd64(key + 12);
}

int hist_meta_get(hist_index *idx, MDB_txn *txn, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, idx->meta, &k, &v);
    if (rc)
        return hist_index_err(rc);
    if (v.mv_size != 8)
        return HIST_ECORRUPT;
    memcpy(out, v.mv_data, 8);
    return 0;
}

int hist_meta_put(hist_index *idx, MDB_txn *txn, const char *key, uint64_t val)
{
    MDB_val k = {strlen(key), (void *)key}, v = {8, &val};
    return put_err(mdb_put(txn, idx->meta, &k, &v, 0));
}

int hist_index_put_tag(hist_index *idx, MDB_txn *txn, const hist_index_tag *t)
{
    uint8_t kb[4];
    be32(kb, t->id);
    MDB_val k = {4, kb}, v = {sizeof(*t), (void *)t};
    int rc = mdb_put(txn, idx->tag, &k, &v, 0);
    if (rc)
        return put_err(rc);
    uint32_t id = t->id;
    MDB_val nk = {strlen(t->name), (void *)t->name}, nv = {4, &id};
    return put_err(mdb_put(txn, idx->tag_name, &nk, &nv, 0));
}

int hist_index_get_tag(hist_index *idx, MDB_txn *txn, uint32_t id, hist_index_tag *out)
{
    uint8_t kb[4];
    be32(kb, id);
    MDB_val k = {4, kb}, v;
    int rc = mdb_get(txn, idx->tag, &k, &v);
    if (rc)
        return hist_index_err(rc);
    if (v.mv_size != sizeof(*out))
        return HIST_ECORRUPT;
    memcpy(out, v.mv_data, sizeof(*out));
    return 0;
}

int hist_index_put_chunk(hist_index *idx, MDB_txn *txn, const hist_chunk_ref *ref)
{
    uint8_t kb[HIST_CHUNK_KEY_LEN];
    hist_chunk_key(kb, ref->tag, ref->stats.start_ts, ref->seq);
    size_t len = ref->flags & HIST_CHUNK_HAS_COUNTED ? sizeof(*ref) : CHUNK_REF_SHORT;
    MDB_val k = {sizeof(kb), kb}, v = {len, (void *)ref};
    return put_err(mdb_put(txn, idx->chunk, &k, &v, 0));
}

int hist_index_del_chunk(hist_index *idx, MDB_txn *txn, const hist_chunk_ref *ref)
{
    uint8_t kb[HIST_CHUNK_KEY_LEN];
    hist_chunk_key(kb, ref->tag, ref->stats.start_ts, ref->seq);
    MDB_val k = {sizeof(kb), kb};
    int rc = mdb_del(txn, idx->chunk, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : put_err(rc);
}

int hist_chunk_ref_from(const MDB_val *val, hist_chunk_ref *ref)
{
    if (val->mv_size == CHUNK_REF_SHORT) {
        memcpy(ref, val->mv_data, CHUNK_REF_SHORT);
        ref->flags &= (uint8_t)~HIST_CHUNK_HAS_COUNTED;
        memset(&ref->counted, 0, sizeof(ref->counted));
        return 0;
    }
    if (val->mv_size != sizeof(*ref))
        return HIST_ECORRUPT;
    memcpy(ref, val->mv_data, sizeof(*ref));
    return (ref->flags & HIST_CHUNK_HAS_COUNTED) ? 0 : HIST_ECORRUPT;
}
