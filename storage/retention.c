/*
 * retention.c: dropping chunks older than a point in time, on request
 * (hist_db_drop_before) and by the sealer for --retention
 * (retention__apply, at most every 10 s).
 *
 * Runs under seal_mu like compaction (compact.c), so no seal interleaves.
 * One txn deletes every entry that ends before the point, and the damage
 * mark (damage.c) of each with it; the bytes stay in their segment until
 * compaction rewrites or deletes it.
 */
#include "storage/db_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

typedef struct {
    int64_t t;
    uint64_t chunks, samples, bytes;
} drop_ctx;

static int drop_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    drop_ctx *c = arg;
    c->chunks = c->samples = c->bytes = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, idx->chunk, &cur);
    if (rc)
        return index__err(rc);
    MDB_val k, d;
    int op = MDB_FIRST;
    while ((rc = mdb_cursor_get(cur, &k, &d, op)) == 0) {
        op = MDB_NEXT;
        uint32_t tag;
        int64_t start;
        if (k.mv_size != HIST_CHUNK_KEY_LEN)
            continue;
        index__chunk_key_parse(k.mv_data, &tag, &start, NULL);
        if (start >= c->t) {
            /* Sorted by start: skip to the next tag. */
            if (tag == UINT32_MAX)
                break;
            uint8_t kb[HIST_CHUNK_KEY_LEN];
            index__chunk_key(kb, tag + 1, HIST_TS_MIN - 1, 0);
            k = (MDB_val){sizeof(kb), kb};
            rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
            if (rc)
                break;
            op = MDB_GET_CURRENT;
            continue;
        }
        hist_chunk_ref ref;
        if (index__chunk_ref_from(&k, &d, &ref) || ref.stats.end_ts >= c->t)
            continue;
        uint8_t kb[HIST_CHUNK_KEY_LEN];
        memcpy(kb, k.mv_data, sizeof(kb));
        rc = mdb_cursor_del(cur, 0);
        if (rc)
            break;
        int mrc = index__del_mark(idx, txn, kb); /* a dropped chunk's mark goes too */
        if (mrc) {
            mdb_cursor_close(cur);
            return mrc;
        }
        c->chunks++, c->samples += ref.stats.count, c->bytes += ref.length;
        op = MDB_NEXT; /* LMDB: after a delete, NEXT yields the entry that moved up */
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND || rc == EINVAL)
        rc = 0;
    return rc == MDB_MAP_FULL ? HIST_ENOSPC : index__err(rc);
}

/* Drops the chunks that end before t (seal_mu held). */
static int drop_before(hist_db *db, int64_t t)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    drop_ctx c = {.t = t};
    int rc = index__write(&db->idx, drop_txn, &c);
    if (rc == 0 && c.chunks) {
        atomic_fetch_sub(&db->chunks, c.chunks);
        atomic_fetch_sub(&db->samples_sealed, c.samples);
        atomic_fetch_sub(&db->bytes_chunks, c.bytes);
        hist_logf(&db->log, HIST_LOG_INFO, "dropped %llu chunk(s) older than %lld",
                  (unsigned long long)c.chunks, (long long)t);
    }
    return rc;
}

int hist_db_drop_before(hist_db *db, int64_t t)
{
    if (!db)
        return HIST_EINVAL;
    mu_lock(&db->seal_mu);
    int rc = drop_before(db, t);
    mu_unlock(&db->seal_mu);
    return rc;
}

void retention__apply(hist_db *db)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    if (db->opts.retention_ns <= 0)
        return;
    int64_t now = clock__mono_ns();
    if (db->last_retention_ns && now - db->last_retention_ns < INT64_C(10000000000))
        return;
    db->last_retention_ns = now;
    (void)drop_before(db, clock__wall_ns() - db->opts.retention_ns);
}
