/*
 * degraded.c: what the database does while the disk refuses writes (a full
 * disk, a quota, an I/O error), and how it comes back.
 *
 * Two things can fail on a running server, and each has its own way back:
 *
 *   The WAL (wal.c's top comment has its side). A failed write or fdatasync
 *   breaks the log: every record that was not yet durable is void and its
 *   writers are told "not durable". Here:
 *     1. degraded__rollback_void() takes the void records' samples out of the
 *        memtable (buffers are in LSN order, so they are a run at the tail
 *        of each buffer), and puts back each touched tag's latest value, so
 *        a refused write is never read from then on. It runs when a sync
 *        fails, before the error reaches the writer, so a write is taken
 *        out before anyone is told it was refused.
 *     2. degraded__heal() is tried by the next write and by the sealer, at
 *        most once per HEAL_EVERY_NS: it rolls back (again: it is
 *        idempotent), then asks the WAL to resume in a new segment. Until
 *        that works every write is refused with the same error.
 *   hist_db_sync() (the writer's group commit, flush and the sealer) is
 *   here for that reason: a failed sync rolls back before it returns.
 *
 *   Sealing (segment appends, LMDB commits). Acknowledged samples are safe
 *   in the WAL meanwhile, so a failed seal only waits: the sealer backs off
 *   (1 s doubling to SEAL_BACKOFF_MAX_NS) and the segment file that failed
 *   is never written or synced again (segment.c starts a new one).
 *
 *   Memory (db.c, hist_db_write). A memtable insert that fails after its
 *   WAL append leaves the two disagreeing; the database then refuses every
 *   write (db->fatal, sticky, as LMDB's fatal flag) until a restart replays
 *   the WAL.
 *
 * Both states are logged once when they begin and once when they end, never
 * per retry; hist_db_get_stats() reports them (historiand's /healthz answers
 * 503 with the reason, /metrics counts them).
 *
 * Invariant relied on by rollback: a void LSN is above every durable one,
 * and buffers are in LSN order (memtable.h), so the void samples of a
 * buffer, if any, are one contiguous run, and nothing sealed is void (the
 * sealer takes only durable samples).
 */
#include "storage/db_internal.h"

#include <time.h>

#include "common/hist_assert.h"

#define HEAL_EVERY_NS       INT64_C(1000000000)
#define SEAL_BACKOFF_MIN_NS INT64_C(1000000000)
#define SEAL_BACKOFF_MAX_NS INT64_C(16000000000)

void degraded__rollback_void(hist_db *db)
{
    hist_wal_health h;
    wal__get_health(db->wal, &h);
    if (!h.broken)
        return;
    mu_lock(&db->mu);
    uint64_t dropped = 0;
    for (size_t i = 0; i < db->ndirty; i++) {
        hist_tag_state *t = db->tags[db->dirty[i]];
        size_t before = membuf__count(&t->buf);
        int64_t d = membuf__drop_lsns(&t->buf, h.void_from, h.void_to);
        size_t after = membuf__count(&t->buf);
        if (after == before)
            continue;
        HIST_ASSERT(t->buf.nraw == 0 || membuf__lsn(&t->buf)[t->buf.nraw - 1] < h.void_from ||
                    membuf__lsn(&t->buf)[t->buf.nraw - 1] > h.void_to);
        db->mem_bytes -= (size_t)(-d);
        db->mem_samples -= before - after;
        dropped += before - after;
        /* latest may be a refused sample: it stays as an upper bound and
         * hist_db_latest() looks the answer up again by a scan. The
         * registry keeps no copy of each tag's newest sealed sample for
         * this path (24 bytes a tag, taken only when a disk refuses
         * writes). */
        t->latest_stale = 1;
    }
    db->void_samples += dropped;
    mu_unlock(&db->mu);
    if (dropped)
        hist_logf(&db->log, HIST_LOG_WARN,
                  "%llu sample(s) of refused writes (LSN %llu..%llu) taken out of memory",
                  (unsigned long long)dropped, (unsigned long long)h.void_from,
                  (unsigned long long)h.void_to);
}

int hist_db_sync(hist_db *db, uint64_t lsn)
{
    if (!db)
        return HIST_EINVAL;
    int rc = wal__sync(db->wal, lsn);
    if (rc)
        degraded__rollback_void(db); /* before the writer hears of it */
    return rc;
}

int degraded__heal(hist_db *db)
{
    hist_wal_health h;
    wal__get_health(db->wal, &h);
    if (!h.broken)
        return 0;
    int64_t now = clock__mono_ns();
    mu_lock(&db->mu);
    bool due = now - db->last_heal_ns >= HEAL_EVERY_NS;
    if (due)
        db->last_heal_ns = now;
    mu_unlock(&db->mu);
    if (!due)
        return h.broken;
    degraded__rollback_void(db);
    return wal__resume(db->wal);
}

int64_t degraded__note_seal(hist_db *db, int rc)
{
    mu_lock(&db->mu);
    int was = db->seal_error;
    uint64_t failures = db->seal_failures_run;
    db->seal_error = rc;
    db->seal_failures += rc != 0;
    db->seal_failures_run = rc ? failures + 1 : 0;
    /* 1 s after the first failure of a run, doubling to the cap. */
    int64_t wait = 0;
    for (uint64_t i = 0; i < db->seal_failures_run && wait < SEAL_BACKOFF_MAX_NS; i++)
        wait = wait ? 2 * wait : SEAL_BACKOFF_MIN_NS;
    wait = wait < SEAL_BACKOFF_MAX_NS ? wait : SEAL_BACKOFF_MAX_NS;
    mu_unlock(&db->mu);
    if (rc && !was)
        hist_logf(&db->log, HIST_LOG_ERROR,
                  "sealer: %s; acknowledged samples stay in the WAL; retrying with a backoff "
                  "up to %d s (counted in the stats, not logged again)",
                  hist_strerror(rc), (int)(SEAL_BACKOFF_MAX_NS / 1000000000));
    else if (!rc && was)
        hist_logf(&db->log, HIST_LOG_WARN,
                  "sealer: sealing works again after %llu failed attempt(s)",
                  (unsigned long long)failures);
    return wait;
}

/* Sleeps up to ns, waking early when the database stops (mu not held). */
void degraded__backoff(hist_db *db, int64_t ns)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec += (long)(ns % 1000000000);
    if (until.tv_nsec >= 1000000000)
        until.tv_sec++, until.tv_nsec -= 1000000000;
    mu_lock(&db->mu);
    while (!db->stop) {
        if (mu_wait(&db->seal_cv, &db->mu, &until) != 0)
            break;
    }
    mu_unlock(&db->mu);
}

void degraded__health(hist_db *db, hist_db_stats *out)
{
    hist_wal_health h;
    wal__get_health(db->wal, &h);
    out->wal_error = h.broken;
    out->wal_failures = h.failures;
    mu_lock(&db->mu);
    out->fatal_error = db->fatal;
    out->seal_error = db->seal_error;
    out->seal_failures = db->seal_failures;
    out->void_samples = db->void_samples;
    mu_unlock(&db->mu);
}
