/*
 * db.c: opening and closing a data directory, the write path (validate ->
 * one WAL record -> memtable), latest values and stats. The tag registry
 * and a tag's buffer are tags.c, the WAL record's payload wal_payload.c,
 * the sync (hist_db_sync) degraded.c, with the rollback a failed one needs.
 *
 * Write path invariant: the WAL append and the memtable insert happen under
 * db->mu together, so the order of samples in every tag buffer is the LSN
 * order (seal.c and recovery.c rely on it).
 */
#include "storage/db_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

/* ---- Writing --------------------------------------------------------------- */

static int series_check(hist_db *db, const hist_series *s)
{
    hist_tag_state *t = tags__get(db, s->tag);
    if (!t || t->removed)
        return HIST_ENOTFOUND;
    if (s->n == 0)
        return 0;
    if (!s->ts || !s->v)
        return HIST_EINVAL;
    for (size_t j = 0; j < s->n; j++)
        if (s->ts[j] < HIST_TS_MIN || s->ts[j] > HIST_TS_MAX)
            return HIST_ERANGE;
    if (t->type == HIST_TYPE_BOOL)
        for (size_t j = 0; j < s->n; j++)
            if (s->v[j].i != 0 && s->v[j].i != 1)
                return HIST_ETYPE;
    return 0;
}

int hist_db_write(hist_db *db, const hist_series *series, size_t nseries, uint64_t *lsn_out)
{
    return hist_db_write_notify(db, series, nseries, NULL, NULL, lsn_out);
}

int hist_db_write_notify(hist_db *db, const hist_series *series, size_t nseries,
                         hist_logged_fn logged, void *ctx, uint64_t *lsn_out)
{
    if (!db || (nseries && !series))
        return HIST_EINVAL;
    size_t total = 0;
    mu_lock(&db->mu);
    int rc = db->closing ? HIST_ECLOSED : 0;
    for (size_t i = 0; i < nseries && rc == 0; i++) {
        rc = series_check(db, &series[i]);
        total += series[i].n;
    }
    mu_unlock(&db->mu);
    if (rc)
        return rc;
    if (total == 0) {
        if (lsn_out)
            *lsn_out = wal__last_lsn(db->wal);
        return 0;
    }
    uint8_t *buf = malloc(payload__bound(series, nseries));
    if (!buf)
        return HIST_ENOMEM;
    struct iovec iov = {buf, payload__encode(series, nseries, buf)};
    uint64_t lsn = 0;
    int wake = 0;
    mu_lock(&db->mu);
    rc = db->closing ? HIST_ECLOSED : db->fatal ? HIST_EIO : wal__append(db->wal, &iov, 1, &lsn);
    if (!db->fatal && (rc == HIST_EDISKFULL || rc == HIST_EIO)) {
        /* The log is broken: try to resume it (at most once a second). */
        mu_unlock(&db->mu);
        int hrc = degraded__heal(db);
        mu_lock(&db->mu);
        if (hrc == 0 && !db->closing)
            rc = wal__append(db->wal, &iov, 1, &lsn);
    }
    /* Still under mu: the record is in the log but not in the memtable, and
     * no reader or sealer can see that in-between state. */
    if (rc == 0 && logged)
        logged(ctx, lsn);
    int64_t now = clock__mono_ns();
    for (size_t i = 0; i < nseries && rc == 0; i++) {
        const hist_series *s = &series[i];
        if (s->n == 0)
            continue;
        hist_tag_state *t = db->tags[s->tag];
        rc = tags__insert(db, t, s->ts, s->v, s->q, s->n, lsn, now);
        if (rc) {
            /* The WAL holds the whole record, memory only some of its series
             * (each went in whole or not at all), and the writer hears of a
             * failure for a record that may become durable. Refuse every
             * write from now on (as LMDB's fatal flag); a restart replays
             * the WAL and memory agrees with it again. Sealing may go on:
             * it moves a tag's flushed point only over series it holds. */
            db->fatal = rc;
            hist_logf(&db->log, HIST_LOG_ERROR,
                      "memtable insert failed after WAL append (lsn %llu): %s; the database "
                      "refuses writes until it is restarted",
                      (unsigned long long)lsn, hist_strerror(rc));
        }
        /* Raw samples only (the frozen block stays out of the write's cache
         * lines); a buffer full with frozen runs is found by the sealer's
         * 100 ms round. */
        if (t->buf.nraw >= db->opts.chunk_samples)
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
        mu_wait(&db->room_cv, &db->mu, &until);
    }
    mu_unlock(&db->mu);
    free(buf);
    if (rc == 0 && lsn_out)
        *lsn_out = lsn;
    return rc;
}

int hist_db_latest(hist_db *db, uint32_t tag, hist_sample *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    scan__refresh_latest(db, tag);
    mu_lock(&db->mu);
    hist_tag_state *t = tags__get(db, tag);
    int rc = !t ? HIST_ENOTFOUND : !t->has_latest ? HIST_ENOTFOUND : 0;
    if (rc == 0)
        *out = t->latest;
    mu_unlock(&db->mu);
    return rc;
}

/* ---- Maintenance, stats ------------------------------------------------------ */

int hist_db_flush(hist_db *db)
{
    if (!db)
        return HIST_EINVAL;
    /* WAL first: the checkpoint can only drop segments it knows are synced. */
    int rc = hist_db_sync(db, wal__last_lsn(db->wal));
    mu_lock(&db->seal_mu);
    if (rc == 0)
        rc = seal__all(db);
    if (rc == 0)
        rc = seal__checkpoint(db);
    mu_unlock(&db->seal_mu);
    return rc;
}

int hist_db_get_stats(hist_db *db, hist_db_stats *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    memset(out, 0, sizeof(*out));
    hist_wal_stats ws;
    wal__get_stats(db->wal, &ws);
    out->io_backend = segs__backend(&db->segs);
    mu_lock(&db->mu);
    out->tags = db->ntags - db->nremoved;
    out->samples_memtable = db->mem_samples;
    out->memtable_bytes = db->mem_bytes;
    mu_unlock(&db->mu);
    out->chunks = atomic_load(&db->chunks);
    out->samples_sealed = atomic_load(&db->samples_sealed);
    out->bytes_chunks = atomic_load(&db->bytes_chunks);
    out->bytes_segments = segs__bytes(&db->segs);
    out->bytes_wal = ws.bytes;
    char path[4200];
    snprintf(path, sizeof(path), "%s/index/data.mdb", db->dir);
    struct stat st;
    if (stat(path, &st) == 0)
        out->bytes_index = (uint64_t)st.st_size;
    out->lsn_written = wal__last_lsn(db->wal);
    out->lsn_durable = wal__durable_lsn(db->wal);
    out->wal_syncs = ws.syncs;
    memcpy(out->wal_sync_hist, ws.sync_hist, sizeof(out->wal_sync_hist));
    out->wal_sync_seconds_total = ws.sync_seconds_total;
    out->chunks_sealed = atomic_load(&db->chunks_sealed);
    out->seals_held = atomic_load(&db->seals_held);
    out->seals_memory = atomic_load(&db->seals_memory);
    out->seals_wal = atomic_load(&db->seals_wal);
    out->freezes = atomic_load(&db->freezes);
    out->runs_logged = atomic_load(&db->runs_logged);
    out->runlog_bytes = atomic_load(&db->runlog_bytes);
    out->chunks_decoded = atomic_load(&db->chunks_decoded);
    out->recovered_records = db->recovered_records;
    out->dropped_records = db->dropped_records;
    out->dropped_bytes = db->dropped_bytes;
    out->lost_records = db->lost_records;
    degraded__health(db, out);
    out->chunk_load_failures = atomic_load(&db->chunk_load_failures);
    scrub__fill_stats(db, out);
    compact__fill_stats(db, out);
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
    opts->segment_bytes = (size_t)64 << 20;
    opts->log_level = HIST_LOG_INFO;
    opts->compact_share = 0.25;
}

/* Loads tags, then walks every chunk once for counters, max spans and the
 * latest sample of each tag (never from a chunk marked damaged). */
static int load_index(hist_db *db)
{
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    mu_lock(&db->mu); /* the tag cache is under mu (no other thread yet) */
    uint64_t v;
    db->next_tag_id = index__meta_get(&db->idx, txn, "next_tag", &v) == 0 ? (uint32_t)v : 1;
    db->next_seq = index__meta_get(&db->idx, txn, "next_seq", &v) == 0 ? v : 1;
    db->checkpoint_lsn = index__meta_get(&db->idx, txn, "checkpoint", &v) == 0 ? v : 1;
    db->seen_durable_lsn = index__meta_get(&db->idx, txn, "wal_durable", &v) == 0 ? v : 0;
    MDB_cursor *cur = NULL;
    MDB_val k, d;
    rc = index__err(mdb_cursor_open(txn, db->idx.tag, &cur));
    int op = MDB_FIRST;
    while (rc == 0 && mdb_cursor_get(cur, &k, &d, op) == 0) {
        op = MDB_NEXT;
        hist_index_tag t;
        if ((rc = tag_row__unpack(d.mv_data, d.mv_size, &t)) != 0)
            break;
        t.max_span = 0; /* recomputed below from the chunks themselves */
        rc = tags__cache(db, &t);
    }
    if (cur)
        mdb_cursor_close(cur);
    cur = NULL;
    if (rc == 0)
        rc = index__err(mdb_cursor_open(txn, db->idx.chunk, &cur));
    hist_marks marks = {0};
    if (rc == 0)
        rc = marks__open(&db->idx, txn, NULL, &marks);
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
        if (index__chunk_ref_from(&k, &d, &ref) != 0) {
            hist_logf(&db->log, HIST_LOG_ERROR, "index: malformed chunk entry skipped");
            continue;
        }
        hist_tag_state *t = tags__get(db, ref.tag);
        if (!t)
            continue;
        atomic_fetch_add(&db->chunks, 1);
        atomic_fetch_add(&db->samples_sealed, ref.stats.count);
        atomic_fetch_add(&db->bytes_chunks, ref.length);
        int64_t span = ref.stats.end_ts - ref.stats.start_ts;
        if (span > t->max_span)
            t->max_span = span;
        bool damaged = marks__has(&marks, &k); /* its last sample is no answer */
        if (!damaged && (!t->has_latest || ref.stats.end_ts > t->latest.ts ||
                         (ref.stats.end_ts == t->latest.ts && ref.seq > latest_seq[ref.tag]))) {
            t->has_latest = 1;
            t->latest.ts = ref.stats.end_ts;
            t->latest.v = ref.stats.last_v;
            t->latest.q = ref.stats.last_q;
            latest_seq[ref.tag] = ref.seq;
        }
        if (ref.seq >= db->next_seq)
            db->next_seq = ref.seq + 1;
    }
    free(latest_seq);
    marks__close(&marks);
    if (cur)
        mdb_cursor_close(cur);
    mu_unlock(&db->mu);
    index__read_end(&db->idx, txn);
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
        if (db->tags[i] && db->tags[i]->flushed_lsn + 1 > floor)
            floor = db->tags[i]->flushed_lsn + 1;
    return floor;
}

/* A log cut at a record boundary, or emptied, looks intact: the last
 * durable LSN the index saw (written at every checkpoint) tells. */
static void note_missing_tail(hist_db *db, hist_wal_report *rep)
{
    uint64_t seen = db->seen_durable_lsn, last = rep->records ? rep->last_lsn : 0;
    /* Records below the checkpoint are in chunks: their loss costs nothing. */
    uint64_t from = last + 1 > db->checkpoint_lsn ? last + 1 : db->checkpoint_lsn;
    if (from > seen)
        return;
    rep->lost_records += seen - from + 1;
    rep->dropped_records += seen - from + 1;
    hist_logf(&db->log, HIST_LOG_ERROR,
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
        hist_logf(&db->log, HIST_LOG_ERROR, "cannot open %s: %s", path, strerror(errno));
        return HIST_EIO;
    }
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        hist_logf(&db->log, HIST_LOG_ERROR, "%s: %s", db->dir,
                  busy ? "the data directory is in use by another process" : strerror(errno));
        return busy ? HIST_EBUSY : HIST_EIO;
    }
    return 0;
}

static void db_free(hist_db *db)
{
    scrub__free(db);
    compact__free(db);
    backup__free(db);
    retention__free(db);
    if (db->wal)
        wal__close(db->wal);
    if (db->lock_fd >= 0)
        close(db->lock_fd); /* releases the flock */
    if (db->segs_open)
        segs__close(&db->segs);
    if (db->idx_open)
        index__close(&db->idx);
    for (uint32_t i = 0; i < db->tags_cap; i++)
        if (db->tags[i])
            membuf__free(&db->tags[i]->buf);
    hist_slab_free_all(&db->tag_slab); /* every tag's block */
    free(db->tags);
    free(db->name_hash);
    free(db->dirty);
    free(db->seal_scratch);
    for (int i = 0; i < db->ndecoders; i++)
        chunk__decoder_free(db->decoders[i]);
    mu_destroy(&db->dec_mu);
    mu_destroy(&db->seal_mu);
    mu_destroy(&db->tag_mu);
    mu_destroy(&db->mu);
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
    db->runlog_floor_lsn = UINT64_MAX; /* the first logging round may log */
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
    if (!db->opts.segment_bytes)
        db->opts.segment_bytes = def.segment_bytes;
    snprintf(db->dir, sizeof(db->dir), "%s", opts->dir);
    db->opts.dir = db->dir;
    /* opts.log_level filters what the db itself says, to the callback too */
    db->log = (hist_log_sink){db->opts.log, db->opts.log_ctx, db->opts.log_level, HIST_LOG_DEBUG};
    mu_init(&db->seal_mu);
    mu_init(&db->tag_mu);
    mu_init(&db->mu);
    mu_init(&db->dec_mu);
    pthread_cond_init(&db->seal_cv, NULL);
    pthread_cond_init(&db->room_cv, NULL);

    int rc = scrub__init(db);
    if (rc == 0)
        rc = compact__init(db);
    if (rc == 0)
        rc = backup__init(db);
    if (rc == 0)
        rc = retention__init(db);
    char path[4200];
    if (rc == 0 && mkdir(db->dir, 0755) != 0 && errno != EEXIST) {
        hist_logf(&db->log, HIST_LOG_ERROR, "cannot create %s: %s", db->dir, strerror(errno));
        rc = HIST_EIO;
    }
    if (rc == 0)
        rc = lock_dir(db);
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/index", db->dir);
        index__remove_stray_copy(path);
        rc = index__open(&db->idx, path, (size_t)64 << 20, db->opts.log, db->opts.log_ctx);
        db->idx_open = rc == 0;
    }
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/seg", db->dir);
        rc = segs__open(&db->segs, path, db->opts.io, db->opts.segment_bytes, db->opts.log,
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
        rc = wal__open(&wo, &db->wal, &rep);
    }
    if (rc == 0)
        note_missing_tail(db, &rep);
    if (rc == 0)
        rc = recovery__run(db, &rep);
    if (rc == 0 && !db->opts.no_background)
        rc = seal__start(db);
    if (rc == 0 && !db->opts.no_background && compact__start(db) != 0)
        hist_logf(&db->log, HIST_LOG_WARN, "no background compaction: thread not started");
    if (rc) {
        hist_logf(&db->log, HIST_LOG_ERROR, "cannot open %s: %s", db->dir, hist_strerror(rc));
        db_free(db);
        return rc;
    }
    *out = db;
    return 0;
}

void hist_db_set_log_level(hist_db *db, int level)
{
    hist_log_sink_set_level(&db->log, level);
}

int hist_db_close(hist_db *db)
{
    if (!db)
        return HIST_EINVAL;
    backup__stop(db);
    scrub__stop(db);
    compact__stop(db);
    mu_lock(&db->mu);
    db->stop = 1;
    pthread_cond_broadcast(&db->seal_cv);
    pthread_cond_broadcast(&db->room_cv);
    mu_unlock(&db->mu);
    seal__stop(db);
    int rc = 0;
    if (db->opts.lazy_close) {
        /* The long runs into chunks, the short ones stay in the WAL (within
         * its budget: seal__close), which the next open replays. */
        mu_lock(&db->seal_mu);
        rc = seal__close(db);
        mu_unlock(&db->seal_mu);
    } else
        rc = hist_db_flush(db);
    mu_lock(&db->mu);
    db->closing = 1;
    uint64_t kept = db->mem_samples;
    mu_unlock(&db->mu);
    if (rc) {
        /* Every acknowledged sample is in the WAL, which stays for the next
         * open to replay: nothing is lost, so this is no error of close. */
        hist_logf(&db->log, HIST_LOG_WARN,
                  "close: could not seal everything (%s); the WAL is kept and replayed at "
                  "the next start",
                  hist_strerror(rc));
        rc = 0;
    } else if (kept) /* a lazy close: the checkpoint names the oldest kept write */
        hist_logf(&db->log, HIST_LOG_INFO,
                  "close: %llu sample(s) in short runs left in the WAL, replayed at the next start",
                  (unsigned long long)kept);
    /* Everything is in committed chunks and the checkpoint LSN is durable
     * in the index (the next open continues LSNs from it): the log is no
     * longer needed. Whatever stops this just leaves it to be replayed. */
    else {
        int drc = wal__discard(db->wal, db->checkpoint_lsn);
        if (drc)
            hist_logf(&db->log, HIST_LOG_WARN, "close: WAL kept: %s", hist_strerror(drc));
    }
    if (db->idx_open) { /* no thread is left to use it */
        char path[4200];
        snprintf(path, sizeof(path), "%s/index", db->dir);
        index__close_shrinking(&db->idx, path);
        db->idx_open = 0;
    }
    db_free(db);
    return rc;
}
