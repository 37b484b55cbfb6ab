/*
 * wal.c: the write-ahead log (see wal.h for the file format and the
 * contract). Every acknowledged batch is a record here before it is
 * anywhere else on disk; recovery replays the records after the checkpoint.
 *
 * Record: u32 payload length | u32 crc32c(lsn bytes, payload) | u64 lsn |
 * payload, all little-endian, records back to back in segment files
 * wal/NNNNNNNNNNNN.wal.
 *
 * Group commit. wal__append() only assigns the LSN and copies the framed
 * record into `pending` under the mutex. wal__sync(lsn) either finds lsn
 * durable, or waits while another thread flushes, or becomes the leader: it
 * swaps `pending` with the empty `spare` buffer (so appends go on), writes
 * the batch with one linked write+fdatasync outside the mutex, then
 * publishes the new durable LSN and wakes every waiter.
 *
 * Invariants (under mu):
 *   - LSNs in `pending` are consecutive and all > durable_lsn; pending holds
 *     exactly the records durable_lsn+1 .. next_lsn-1 that are not being
 *     flushed. At most one leader (flushing == true) at a time.
 *   - The leader alone touches active_fd, active_off and next_seg_no.
 *   - segs[] lists the live segment files in number (= LSN) order; a
 *     segment's records/last_lsn/bytes count only durable records.
 *
 * A failed write or fdatasync (a full disk, an I/O error). What reached the
 * active file is unknown and its fdatasync may never be retried, so:
 *   1. the log breaks: `broken` holds the error, every record not yet
 *      durable (durable_lsn+1 .. next_lsn-1: the batch being flushed and
 *      everything pending) is void, its syncs fail, and appends are refused
 *      with the same error; the active file is closed and never written or
 *      synced again;
 *   2. the caller (db.c) takes the void records out of the memtable, so a
 *      refused write is never read, then calls wal__resume() now and
 *      then: it starts a new segment whose first record is a control record
 *      "LSNs a..b are void", written and fdatasync'ed (with the directory).
 *      Only then does the log take appends again (resume fails, and the
 *      log stays broken, while the disk is still full);
 *   3. recovery collects the void ranges of every control record and never
 *      replays a void LSN, though the broken file may hold some of those
 *      records whole. LSNs are never handed out twice, so a void LSN can
 *      only name a refused record.
 * A crash in the broken state, before the control record is durable, may
 * replay records that were refused (never acknowledged): a client that
 * retried them sees them once more; nothing acknowledged is at risk.
 *
 * Checkpoint keeps LSNs continuous across restarts: the newest segment that
 * holds a durable record is never deleted, so the next open always finds the
 * highest LSN used so far (or an empty log only when nothing was ever kept).
 *
 * Reading the log back (the record walk, recovery at open, replay) is
 * wal_recover.c; what both files share is wal_internal.h.
 */
#include "common/hist_array.h"
#include "storage/wal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "storage/crc32c.h"

/* ---- Small helpers ---------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* mkdir -p: creates dir and its missing parents. 0 or -errno. */
static int make_dirs(const char *dir)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -errno;
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* ---- Open and close ---------------------------------------------------------- */

static void wal_free(hist_wal *wal)
{
    if (wal->active_fd >= 0)
        close(wal->active_fd);
    if (wal->dirfd >= 0)
        close(wal->dirfd);
    io__close(wal->io);
    mu_destroy(&wal->mu);
    pthread_cond_destroy(&wal->flushed);
    free(wal->pending);
    free(wal->spare);
    free(wal->segs);
    free(wal->voids);
    free(wal->dir);
    free(wal);
}

int wal__open(const hist_wal_options *opts, hist_wal **out, hist_wal_report *report)
{
    *out = NULL;
    if (report)
        memset(report, 0, sizeof *report);
    if (!opts || !opts->dir || !opts->dir[0])
        return HIST_EINVAL;
    hist_wal *wal = calloc(1, sizeof *wal);
    if (!wal)
        return HIST_ENOMEM;
    wal->dirfd = -1;
    wal->active_fd = -1;
    wal->log = hist_log_sink_make(opts->log, opts->log_ctx, HIST_LOG_WARN);
    wal->segment_bytes = opts->segment_bytes ? opts->segment_bytes : WAL_DEFAULT_SEGMENT;
    mu_init(&wal->mu);
    pthread_cond_init(&wal->flushed, NULL);
    wal->dir = strdup(opts->dir);
    if (!wal->dir) {
        wal_free(wal);
        return HIST_ENOMEM;
    }
    int rc = make_dirs(wal->dir);
    if (rc == 0 && (wal->dirfd = open(wal->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = -errno;
    if (rc < 0) {
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: cannot create or open %s: %s", wal->dir,
                  strerror(-rc));
        wal_free(wal);
        return HIST_EIO;
    }
    rc = io__open(opts->io, opts->log, opts->log_ctx, &wal->io);
    if (rc == 0)
        rc = wal__recover(wal, opts->min_lsn, report);
    if (rc < 0) {
        wal_free(wal);
        return rc;
    }
    *out = wal;
    return 0;
}

int wal__close(hist_wal *wal)
{
    if (!wal)
        return 0;
    int rc = wal__sync(wal, wal__last_lsn(wal));
    wal_free(wal);
    return rc;
}

/* ---- Appending ------------------------------------------------------------ */

int wal__append(hist_wal *wal, const struct iovec *iov, int iovcnt, uint64_t *lsn_out)
{
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return HIST_EINVAL;
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > WAL_MAX_PAYLOAD - len)
            return HIST_ETOOBIG;
        len += iov[i].iov_len;
    }

    mu_lock(&wal->mu);
    if (wal->failed || wal->broken || wal->next_lsn >= WAL_MAX_LSN) {
        int rc = wal->failed ? wal->failed : wal->broken ? wal->broken : HIST_ERANGE;
        mu_unlock(&wal->mu);
        return rc;
    }
    size_t need = wal->pending_len + WAL_HEADER + len;
    if (HIST_ARRAY_RESERVE(wal->pending, wal->pending_cap, need, 64 * 1024) < 0) {
        mu_unlock(&wal->mu);
        return HIST_ENOMEM;
    }
    uint8_t *rec = wal->pending + wal->pending_len;
    uint64_t lsn = wal->next_lsn++;
    hist_put_le32(rec, (uint32_t)len);
    hist_put_le64(rec + 8, lsn);
    size_t off = WAL_HEADER;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len)
            memcpy(rec + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    hist_put_le32(rec + 4, crc32c__compute(0, rec + 8, 8 + len));
    wal->pending_len = need;
    wal->appended_bytes += WAL_HEADER + len;
    wal->appended = true;
    mu_unlock(&wal->mu);
    if (lsn_out)
        *lsn_out = lsn;
    return 0;
}

/* ---- Flushing (the leader's work, outside the mutex) ------------------------ */

/* Closes the full segment and creates the next one. Its directory entry is
 * made durable before any record goes in, so a synced record is never in a
 * file that a crash could make disappear. */
static int roll_segment(hist_wal *wal)
{
    char name[WAL_NAME_MAX];
    wal__segment_name(name, wal->next_seg_no);
    int fd = openat(wal->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || fsync(wal->dirfd) < 0) {
        int err = errno;
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: cannot create %s/%s: %s", wal->dir, name,
                  strerror(err));
        if (fd >= 0) {
            close(fd);
            unlinkat(wal->dirfd, name, 0);
            wal->next_seg_no++; /* never the same name twice after a failed dir sync */
        }
        return err == ENOSPC || err == EDQUOT ? HIST_EDISKFULL : HIST_EIO;
    }
    wal_segment seg = {wal->next_seg_no, 0, 0, 0, 0, 0};
    mu_lock(&wal->mu);
    int rc = wal__push_segment(wal, &seg);
    if (rc == 0)
        wal->active_no = seg.no;
    mu_unlock(&wal->mu);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (wal->active_fd >= 0)
        close(wal->active_fd); /* everything in it is already durable */
    wal->active_fd = fd;
    wal->active_off = 0;
    wal->next_seg_no++;
    return 0;
}

static void note_sync(hist_wal *wal, double seconds)
{
    double us = seconds * 1e6;
    int b = 0;
    while (b < HIST_SYNC_HIST_BUCKETS - 1 && us > hist_sync_hist_bounds_us[b])
        b++;
    wal->syncs++;
    wal->sync_hist[b]++;
    wal->sync_seconds += seconds;
}

/* Writes a batch of whole records and makes it durable, rolling to a new
 * segment between records once the active one has reached segment_bytes. */
static int flush_batch(hist_wal *wal, const uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        if (wal->active_fd < 0 || wal->active_off >= wal->segment_bytes) {
            int rc = roll_segment(wal);
            if (rc < 0)
                return rc;
        }
        /* Take records until this segment reaches its size (at least one). */
        size_t take = 0;
        uint64_t n = 0, first = 0, last = 0;
        while (pos + take < len) {
            uint64_t lsn = hist_get_le64(buf + pos + take + 8);
            first = n++ ? first : lsn;
            last = lsn;
            take += WAL_HEADER + hist_get_le32(buf + pos + take);
            if (wal->active_off + take >= wal->segment_bytes)
                break;
        }
        struct iovec iov = {(void *)(buf + pos), take};
        double t0 = now_seconds();
        int rc = io__pwritev(wal->io, wal->active_fd, &iov, 1, (off_t)wal->active_off, 1);
        double dt = now_seconds() - t0;
        if (rc < 0) {
            hist_logf(&wal->log, HIST_LOG_ERROR,
                      "wal: write of LSN %" PRIu64 "..%" PRIu64 " failed: %s", first, last,
                      hist_strerror(rc));
            return rc;
        }
        wal->active_off += take;
        pos += take;

        mu_lock(&wal->mu);
        wal_segment *seg = &wal->segs[wal->nsegs - 1]; /* the active one is the newest */
        if (seg->records == 0)
            seg->first_lsn = first;
        seg->last_lsn = last;
        seg->records += n;
        seg->bytes += take;
        note_sync(wal, dt);
        mu_unlock(&wal->mu);
    }
    return 0;
}

/* The leader's part of a failed flush (outside mu): the active file is
 * closed for good, since its fdatasync may not be retried. A file that
 * holds no durable record is deleted as well. */
static void abandon_active(hist_wal *wal)
{
    if (wal->active_fd >= 0)
        close(wal->active_fd);
    wal->active_fd = -1;
    wal->active_off = 0;
    mu_lock(&wal->mu);
    wal_segment *seg = wal->nsegs ? &wal->segs[wal->nsegs - 1] : NULL;
    bool empty = seg && seg->no == wal->active_no && seg->records == 0;
    uint64_t no = empty ? seg->no : 0;
    if (empty)
        wal->nsegs--;
    wal->active_no = 0;
    mu_unlock(&wal->mu);
    if (empty) {
        char name[WAL_NAME_MAX];
        wal__segment_name(name, no);
        unlinkat(wal->dirfd, name, 0); /* best effort: at worst open finds it empty */
    }
}

/* Breaks the log (mu held): every record not durable is void. */
static void break_log(hist_wal *wal, int err)
{
    HIST_ASSERT(mu_held(&wal->mu));
    if (!wal->broken) {
        wal->void_from = wal->durable_lsn + 1;
        wal->failures++;
        hist_logf(&wal->log, HIST_LOG_ERROR,
                  "wal: %s: records from LSN %" PRIu64 " on are refused until the disk takes "
                  "writes again",
                  hist_strerror(err), wal->void_from);
    }
    wal->broken = err;
    wal->void_to = wal->next_lsn - 1;
    wal->pending_len = 0; /* void: never written */
}

/* The control record declaring void from..to, with its LSN. */
static void control_record(uint8_t *rec, uint64_t lsn, uint64_t from, uint64_t to)
{
    memset(rec, 0, WAL_HEADER + WAL_CONTROL_LEN);
    hist_put_le32(rec, WAL_CONTROL_LEN | WAL_CONTROL_FLAG);
    hist_put_le64(rec + 8, lsn);
    rec[WAL_HEADER] = WAL_CONTROL_VOID;
    hist_put_le64(rec + WAL_HEADER + 8, from);
    hist_put_le64(rec + WAL_HEADER + 16, to);
    hist_put_le32(rec + 4, crc32c__compute(WAL_CONTROL_SEED, rec + 8, 8 + WAL_CONTROL_LEN));
}

int wal__resume(hist_wal *wal)
{
    mu_lock(&wal->mu);
    int rc = wal->failed ? wal->failed : wal->flushing ? wal->broken : 0;
    if (rc || !wal->broken) {
        mu_unlock(&wal->mu);
        return rc;
    }
    wal->flushing = true; /* the leader's role: we own the active file now */
    uint64_t lsn = wal->next_lsn++, from = wal->void_from, to = wal->void_to;
    mu_unlock(&wal->mu);

    uint8_t rec[WAL_HEADER + WAL_CONTROL_LEN];
    control_record(rec, lsn, from, to);
    struct iovec iov = {rec, sizeof rec};
    rc = roll_segment(wal);
    if (rc == 0)
        rc = io__pwritev(wal->io, wal->active_fd, &iov, 1, 0, 1);
    if (rc == 0)
        wal->active_off = sizeof rec;
    else if (wal->active_fd >= 0)
        abandon_active(wal);

    mu_lock(&wal->mu);
    wal->flushing = false;
    if (rc == 0) {
        wal_segment *seg = &wal->segs[wal->nsegs - 1];
        seg->first_lsn = seg->last_lsn = lsn;
        seg->records = 1;
        seg->bytes = sizeof rec;
        wal->durable_lsn = lsn;
        unsigned slot = wal->nrefused++ % WAL_REFUSED_KEPT;
        wal->refused[slot] = (wal_void){from, to};
        wal->refused_err[slot] = wal->broken;
        wal->broken = 0;
        wal->void_from = wal->void_to = 0;
        hist_logf(&wal->log, HIST_LOG_WARN,
                  "wal: writes resume in a new segment; LSN %" PRIu64 "..%" PRIu64 " stay refused",
                  from, to);
    } else {
        wal->void_to = lsn; /* the control record's LSN is spent too */
    }
    pthread_cond_broadcast(&wal->flushed);
    mu_unlock(&wal->mu);
    return rc;
}

void wal__get_health(hist_wal *wal, hist_wal_health *out)
{
    mu_lock(&wal->mu);
    out->broken = wal->broken;
    out->void_from = wal->void_from; /* both 0 while healthy */
    out->void_to = wal->void_to;
    out->failures = wal->failures;
    mu_unlock(&wal->mu);
}

/* The error that refused lsn at a resume that is over, or 0. Under mu. */
static int refused_at_resume(const hist_wal *wal, uint64_t lsn)
{
    unsigned n = wal->nrefused < WAL_REFUSED_KEPT ? wal->nrefused : WAL_REFUSED_KEPT;
    for (unsigned i = 0; i < n; i++)
        if (lsn >= wal->refused[i].from && lsn <= wal->refused[i].to)
            return wal->refused_err[i];
    return 0;
}

int wal__sync(hist_wal *wal, uint64_t lsn)
{
    int rc = 0;
    mu_lock(&wal->mu);
    if (lsn >= wal->next_lsn) {
        mu_unlock(&wal->mu);
        return HIST_EINVAL; /* not appended yet */
    }
    rc = refused_at_resume(wal, lsn);
    if (rc) {
        mu_unlock(&wal->mu);
        return rc; /* void: never durable, though durable_lsn is past it */
    }
    while (wal->durable_lsn < lsn) {
        if (wal->failed || wal->broken) {
            rc = wal->failed ? wal->failed : wal->broken;
            break;
        }
        if (wal->flushing) {
            mu_wait(&wal->flushed, &wal->mu, NULL);
            continue;
        }
        /* Leader: take the whole pending batch; appends go to the spare. */
        uint8_t *batch = wal->pending;
        size_t batch_len = wal->pending_len, batch_cap = wal->pending_cap;
        uint64_t batch_last = wal->next_lsn - 1;
        wal->pending = wal->spare;
        wal->pending_cap = wal->spare_cap;
        wal->pending_len = 0;
        wal->spare = NULL;
        wal->spare_cap = 0;
        wal->flushing = true;
        mu_unlock(&wal->mu);

        int frc = flush_batch(wal, batch, batch_len);
        if (frc < 0)
            abandon_active(wal);

        mu_lock(&wal->mu);
        wal->spare = batch;
        wal->spare_cap = batch_cap;
        wal->flushing = false;
        if (frc < 0)
            break_log(wal, frc);
        else
            wal->durable_lsn = batch_last;
        pthread_cond_broadcast(&wal->flushed);
    }
    mu_unlock(&wal->mu);
    return rc;
}

uint64_t wal__last_lsn(hist_wal *wal)
{
    mu_lock(&wal->mu);
    uint64_t lsn = wal->next_lsn - 1;
    mu_unlock(&wal->mu);
    return lsn;
}

uint64_t wal__durable_lsn(hist_wal *wal)
{
    mu_lock(&wal->mu);
    uint64_t lsn = wal->durable_lsn;
    mu_unlock(&wal->mu);
    return lsn;
}

/* ---- Checkpoint and stats --------------------------------------------------------- */

void wal__pin(hist_wal *wal)
{
    mu_lock(&wal->mu);
    wal->pins++;
    mu_unlock(&wal->mu);
}

void wal__unpin(hist_wal *wal)
{
    mu_lock(&wal->mu);
    HIST_ASSERT(wal->pins > 0);
    wal->pins--;
    mu_unlock(&wal->mu);
}

int wal__files(hist_wal *wal, hist_wal_file **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    mu_lock(&wal->mu);
    hist_wal_file *f = wal->nsegs ? malloc(wal->nsegs * sizeof(*f)) : NULL;
    if (wal->nsegs && !f) {
        mu_unlock(&wal->mu);
        return HIST_ENOMEM;
    }
    for (size_t i = 0; i < wal->nsegs; i++)
        f[i] = (hist_wal_file){wal->segs[i].no, wal->segs[i].bytes, wal->segs[i].last_lsn};
    *n = wal->nsegs;
    mu_unlock(&wal->mu);
    *out = f;
    return 0;
}

int wal__checkpoint(hist_wal *wal, uint64_t lsn)
{
    mu_lock(&wal->mu);
    if (wal->pins > 0) { /* a backup is copying the segments: the next call deletes */
        mu_unlock(&wal->mu);
        return 0;
    }
    /* Keep the newest segment holding a record: it carries the LSN on. */
    size_t keep_from = wal->nsegs;
    while (keep_from > 0 && wal->segs[keep_from - 1].records == 0)
        keep_from--;
    if (keep_from > 0)
        keep_from--;
    uint64_t *doomed = keep_from ? malloc(keep_from * sizeof *doomed) : NULL;
    if (keep_from && !doomed) {
        mu_unlock(&wal->mu);
        return HIST_ENOMEM;
    }
    size_t ndoomed = 0, kept = 0;
    for (size_t i = 0; i < wal->nsegs; i++) {
        const wal_segment *seg = &wal->segs[i];
        if (i < keep_from && seg->no != wal->active_no && seg->last_lsn < lsn)
            doomed[ndoomed++] = seg->no;
        else
            wal->segs[kept++] = *seg;
    }
    wal->nsegs = kept;
    mu_unlock(&wal->mu);

    int rc = 0;
    for (size_t i = 0; i < ndoomed; i++) {
        char name[WAL_NAME_MAX];
        wal__segment_name(name, doomed[i]);
        if (unlinkat(wal->dirfd, name, 0) < 0 && errno != ENOENT) {
            hist_logf(&wal->log, HIST_LOG_ERROR, "wal: cannot delete %s/%s: %s", wal->dir, name,
                      strerror(errno));
            rc = HIST_EIO;
        }
    }
    if (ndoomed && fsync(wal->dirfd) < 0) {
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: fsync %s: %s", wal->dir, strerror(errno));
        rc = HIST_EIO;
    }
    free(doomed);
    return rc;
}

int wal__discard(hist_wal *wal, uint64_t lsn)
{
    int rc = wal__sync(wal, wal__last_lsn(wal));
    if (rc)
        return rc;
    mu_lock(&wal->mu);
    if (wal->next_lsn > lsn || wal->pending_len > 0) {
        mu_unlock(&wal->mu);
        return HIST_EBUSY;
    }
    wal->failed = HIST_ECLOSED;
    for (size_t i = 0; i < wal->nsegs; i++) {
        char name[WAL_NAME_MAX];
        wal__segment_name(name, wal->segs[i].no);
        if (unlinkat(wal->dirfd, name, 0) < 0 && errno != ENOENT) {
            hist_logf(&wal->log, HIST_LOG_ERROR, "wal: cannot delete %s/%s: %s", wal->dir, name,
                      strerror(errno));
            rc = HIST_EIO;
        }
    }
    wal->nsegs = 0;
    mu_unlock(&wal->mu);
    if (fsync(wal->dirfd) < 0) {
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: fsync %s: %s", wal->dir, strerror(errno));
        rc = HIST_EIO;
    }
    return rc;
}

void wal__get_stats(hist_wal *wal, hist_wal_stats *out)
{
    memset(out, 0, sizeof *out);
    out->io_backend = io__backend(wal->io);
    mu_lock(&wal->mu);
    out->syncs = wal->syncs;
    memcpy(out->sync_hist, wal->sync_hist, sizeof out->sync_hist);
    out->sync_seconds_total = wal->sync_seconds;
    out->appended = wal->appended_bytes;
    for (size_t i = 0; i < wal->nsegs; i++) {
        out->bytes += wal->segs[i].bytes;
        if (wal->segs[i].no != wal->active_no)
            out->closed_bytes += wal->segs[i].bytes;
    }
    mu_unlock(&wal->mu);
}
