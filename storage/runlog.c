/*
 * runlog.c: relieving the WAL without sealing. The WAL keeps every record
 * from the oldest unsealed write on, so at many slow tags its budget is
 * reached long before their buffers are due: sealing them then cost a
 * short chunk and an index entry per tag (a million of them at 1 M tags
 * every 1 GiB of log). Instead, the buffers that pin the oldest segments
 * are frozen whole and their runs written to the WAL again, compressed, as
 * run records; the older records can then go, and the samples stay in
 * memory until their buffer is due ("Logged runs" in memtable.h).
 *
 * Logging a group of tags (seal_mu held throughout, as a seal):
 *   1. freeze__tags(FREEZE_ALL): each buffer's durable samples become one
 *      run (raw samples not yet durable stay raw, with their own records);
 *   2. under mu the tags' frozen blocks are looked up; without mu their
 *      runs are encoded into a record of at most RUNLOG_RECORD_BYTES (only
 *      the freezer and the sealer change runs, both under seal_mu, which
 *      is held: the blocks stay as they are until step 4);
 *   3. under mu the record is appended, as a write is (so it is ordered
 *      with the writes: every later write has a higher LSN); then
 *      hist_db_sync() makes it durable;
 *   4. only then, under mu, each buffer's runs are marked logged by the
 *      record (membuf__mark_logged), which lets the checkpoint pass the
 *      records that held them.
 *
 * Crash-safety. Until step 4 nothing relies on the record: a crash, or a
 * sync that fails (the record is then void, degraded.c), leaves the older
 * records, which the checkpoint has not passed. After step 4 recovery
 * replays the record in LSN order, as it replays writes (recovery.c): a
 * tag's part is skipped when its flushed LSN has reached the last run's
 * lsn_last (a seal takes runs whole, so every logged run is then in
 * chunks), else it replaces every write of the buffer up to there (the
 * older records the checkpoint had not dropped yet) and the later records
 * follow it. So the memtable after a crash again holds exactly the
 * acknowledged writes not in chunks.
 */
#include "storage/db_internal.h"

#include "common/hist_assert.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define RUNLOG_RECORD_BYTES ((size_t)4 << 20)

typedef struct {
    uint32_t id;
    const membuf_frozen *fz; /* the runs the record holds */
} runlog_item;

/* Step 2: the next tags (from *i) whose runs fit one record, encoded into
 * *buf. Returns the count of items filled, or a negative error. */
static int64_t runlog_encode(hist_db *db, const uint32_t *ids, size_t n, size_t *i,
                             runlog_item *items, uint8_t **buf, size_t *cap, size_t *len)
{
    size_t nitems = 0, bytes = 5;
    mu_lock(&db->mu);
    for (; *i < n && bytes < RUNLOG_RECORD_BYTES; (*i)++) {
        hist_tag_state *t = tags__get(db, ids[*i]);
        const membuf_frozen *fz = t ? t->buf.fz : NULL;
        if (!fz || fz->nruns == 0 || fz->nruns > PAYLOAD_RUNS_MAX)
            continue; /* nothing frozen (only writes not durable yet) */
        items[nitems++] = (runlog_item){ids[*i], fz};
        bytes += payload__runs_bound(fz);
    }
    mu_unlock(&db->mu);
    if (bytes > *cap) {
        uint8_t *nb = realloc(*buf, bytes);
        if (!nb)
            return HIST_ENOMEM;
        *buf = nb;
        *cap = bytes;
    }
    uint8_t *start = payload__runs_start(*buf), *p = start;
    for (size_t x = 0; x < nitems; x++)
        p = payload__runs_put(start, p, items[x].id, items[x].fz);
    *len = (size_t)(p - *buf);
    return (int64_t)nitems;
}

/* Steps 3 and 4 for one record. */
static int runlog_append(hist_db *db, const runlog_item *items, size_t nitems, uint8_t *buf,
                         size_t len)
{
    struct iovec iov = {buf, len};
    uint64_t lsn = 0;
    mu_lock(&db->mu);
    int rc = db->fatal ? HIST_EIO : wal__append(db->wal, &iov, 1, &lsn);
    mu_unlock(&db->mu);
    if (rc == 0)
        rc = hist_db_sync(db, lsn);
    if (rc)
        return rc;
    mu_lock(&db->mu);
    for (size_t x = 0; x < nitems; x++) {
        hist_tag_state *t = tags__get(db, items[x].id);
        /* seal_mu is held: the block the record holds is still the buffer's */
        HIST_ASSERT(t && t->buf.fz == items[x].fz);
        membuf__mark_logged(&t->buf, lsn);
    }
    mu_unlock(&db->mu);
    atomic_fetch_add(&db->runs_logged, nitems);
    atomic_fetch_add(&db->runlog_bytes, len);
    return 0;
}

int runlog__tags(hist_db *db, const uint32_t *ids, size_t n)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    int rc = freeze__tags(db, ids, n, FREEZE_ALL);
    runlog_item *items = rc == 0 ? malloc((n ? n : 1) * sizeof(*items)) : NULL;
    if (rc == 0 && !items)
        rc = HIST_ENOMEM;
    uint8_t *buf = NULL;
    size_t cap = 0, i = 0;
    while (rc == 0 && i < n) {
        size_t len = 0;
        int64_t got = runlog_encode(db, ids, n, &i, items, &buf, &cap, &len);
        if (got < 0)
            rc = (int)got;
        else if (got > 0)
            rc = runlog_append(db, items, (size_t)got, buf, len);
    }
    free(items);
    free(buf);
    return rc;
}
