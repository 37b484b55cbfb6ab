/*
 * io.c: durable writes for the WAL and segment files (see io.h).
 *
 * Two backends behind one call, io__pwritev():
 *   - io_uring: an IORING_OP_WRITEV linked (IOSQE_IO_LINK) to an
 *     IORING_OP_FSYNC with IORING_FSYNC_DATASYNC, submitted together, so the
 *     write and the flush cost one trip into the kernel and one wait;
 *   - sync: pwritev() until everything is written, then fdatasync().
 * HIST_IO_AUTO tries io_uring and falls back to sync when the kernel refuses
 * it (too old, or a seccomp filter as in many containers), logging once.
 *
 * Short writes: the kernel may write less than asked (signals, RLIMIT_FSIZE,
 * a full disk). Both backends then resubmit the rest. On io_uring a short
 * write breaks the link, so the fsync completes with -ECANCELED and is
 * resubmitted together with the rest of the data.
 *
 * Errors: a full disk, quota or file-size limit (ENOSPC, EDQUOT, EFBIG)
 * becomes HIST_EDISKFULL, any other -errno HIST_EIO; both are logged with
 * the errno text. A failed fdatasync is never retried, whatever its errno
 * (EINTR included): after one the kernel may have dropped the dirty pages,
 * so a second "success" would be a lie. The first failure of a run is
 * logged as an error, the rest (a caller retrying on a full disk) at debug
 * level until a durable write succeeds again. Callers stop writing to a file
 * whose durable write failed (the WAL and segments start a new file).
 * Only writes are retried, on EINTR or EAGAIN, since a failed write left
 * nothing behind that a later fdatasync could wrongly vouch for.
 *
 * Invariant: a hist_io is used by one thread at a time (the ring has no
 * lock); every request submitted is reaped before a call returns, so the
 * ring is empty between calls.
 */
#include "storage/io.h"

#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* iovecs handed to the kernel per request: small enough for the stack,
 * below IOV_MAX (1024) everywhere. Longer lists are written in windows. */
#define IO_WINDOW       64
#define IO_RING_ENTRIES 8

enum { IO_BACKEND_SYNC = 0, IO_BACKEND_URING = 1 };

struct hist_io {
    int backend;
    bool failing; /* the last durable write failed: further failures log at debug level */
    hist_log_sink log;
    struct io_uring ring; /* valid when backend == IO_BACKEND_URING */
};

/* The level for a failure: the first of a run is an error, the rest (a
 * caller retrying on a full disk) are detail; a success ends the run. */
static int failure_level(hist_io *io)
{
    int level = io->failing ? HIST_LOG_DEBUG : HIST_LOG_ERROR;
    io->failing = true;
    return level;
}

/* The HIST_E* code for a failed write or sync (-errno). */
static int io_error(int neg_errno)
{
    int e = -neg_errno;
    return e == ENOSPC || e == EDQUOT || e == EFBIG ? HIST_EDISKFULL : HIST_EIO;
}

/* ---- Opening ---------------------------------------------------------- */

/* Sets up a ring and checks it can do what we need. 0 or -errno. */
static int uring_setup(struct io_uring *ring)
{
    int rc = io_uring_queue_init(IO_RING_ENTRIES, ring, 0);
    if (rc < 0)
        return rc;
    /* Kernels before 5.6 have no probe; they have WRITEV and FSYNC (5.1). */
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (probe) {
        bool ok = io_uring_opcode_supported(probe, IORING_OP_WRITEV) &&
                  io_uring_opcode_supported(probe, IORING_OP_FSYNC);
        io_uring_free_probe(probe);
        if (!ok) {
            io_uring_queue_exit(ring);
            return -EOPNOTSUPP;
        }
    }
    /* Some sandboxes allow io_uring_setup but filter io_uring_enter: one
     * no-op round trip finds that out now rather than at the first write. */
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    struct io_uring_cqe *cqe;
    io_uring_prep_nop(sqe);
    do {
        rc = io_uring_submit_and_wait(ring, 1);
    } while (rc == -EINTR);
    if (rc >= 0) {
        do {
            rc = io_uring_wait_cqe(ring, &cqe);
        } while (rc == -EINTR);
        if (rc == 0) {
            rc = cqe->res;
            io_uring_cqe_seen(ring, cqe);
        }
    }
    if (rc < 0) {
        io_uring_queue_exit(ring);
        return rc;
    }
    return 0;
}

int io__open(hist_io_mode mode, hist_log_fn log, void *log_ctx, hist_io **out)
{
    *out = NULL;
    if (mode != HIST_IO_AUTO && mode != HIST_IO_URING && mode != HIST_IO_SYNC)
        return HIST_EINVAL;
    hist_io *io = calloc(1, sizeof *io);
    if (!io)
        return HIST_ENOMEM;
    io->log = hist_log_sink_make(log, log_ctx, HIST_LOG_WARN);
    io->backend = IO_BACKEND_SYNC;
    if (mode != HIST_IO_SYNC) {
        int rc = uring_setup(&io->ring);
        if (rc == 0) {
            io->backend = IO_BACKEND_URING;
        } else if (mode == HIST_IO_URING) {
            hist_logf(&io->log, HIST_LOG_ERROR, "io_uring unavailable (%s)", strerror(-rc));
            free(io);
            return HIST_EUNSUPPORTED;
        } else {
            hist_logf(&io->log, HIST_LOG_WARN, "io_uring unavailable (%s), using pwritev+fdatasync",
                      strerror(-rc));
        }
    }
    *out = io;
    return 0;
}

void io__close(hist_io *io)
{
    if (!io)
        return;
    if (io->backend == IO_BACKEND_URING)
        io_uring_queue_exit(&io->ring);
    free(io);
}

const char *io__backend(const hist_io *io)
{
    return io->backend == IO_BACKEND_URING ? "io_uring" : "sync";
}

/* ---- Windows over an iovec list -------------------------------------- */

/* Fills win with at most IO_WINDOW entries describing iov from byte `done`
 * on, skipping empty entries. Returns the entry count; *bytes = their sum. */
static int iov_window(const struct iovec *iov, int iovcnt, size_t done, struct iovec *win,
                      size_t *bytes)
{
    int i = 0, n = 0;
    *bytes = 0;
    while (i < iovcnt && done >= iov[i].iov_len) {
        done -= iov[i].iov_len;
        i++;
    }
    for (; i < iovcnt && n < IO_WINDOW; i++) {
        if (iov[i].iov_len == done)
            continue; /* empty entry (done is 0 here after the first) */
        win[n].iov_base = (char *)iov[i].iov_base + done;
        win[n].iov_len = iov[i].iov_len - done;
        *bytes += win[n].iov_len;
        n++;
        done = 0;
    }
    return n;
}

/* ---- io_uring backend ------------------------------------------------- */

/* Submits what is queued and reaps `count` completions into res[user_data].
 * 0 or -errno (of the submission or the wait, not of the requests).
 * The requests point at the caller's stack (the iovec window), so every one
 * submitted is reaped before this returns; io_uring_wait_cqe should only fail
 * with EINTR (retried) on a ring whose completions cannot overflow (we
 * never have more than two in flight on an 8-entry ring). */
static int uring_run(hist_io *io, int count, int *res)
{
    int submitted = 0;
    while (submitted < count) {
        int rc = io_uring_submit(&io->ring);
        if (rc == -EINTR || rc == -EAGAIN)
            continue;
        if (rc < 0)
            return rc;
        if (rc == 0)
            break; /* nothing left in the SQ: all went in an earlier round */
        submitted += rc;
    }
    for (int reaped = 0; reaped < count;) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_wait_cqe(&io->ring, &cqe);
        if (rc == -EINTR)
            continue;
        if (rc < 0)
            return rc;
        uint64_t which = io_uring_cqe_get_data64(cqe);
        if (which < 2)
            res[which] = cqe->res;
        io_uring_cqe_seen(&io->ring, cqe);
        reaped++;
    }
    return 0;
}

/* One write (plus, with sync, its linked datasync). Returns the bytes the
 * write took (>= 0) and sets *synced when the datasync also succeeded;
 * -errno on failure. */
static ssize_t uring_write(hist_io *io, int fd, const struct iovec *win, int n, off_t offset,
                           bool sync, bool *synced, int *sync_err)
{
    int res[2] = {0, 0};
    struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
    if (!sqe)
        return -EBUSY; /* the ring is empty between calls: cannot happen */
    io_uring_prep_writev(sqe, fd, win, (unsigned)n, (uint64_t)offset);
    io_uring_sqe_set_data64(sqe, 0);
    if (sync) {
        sqe->flags |= IOSQE_IO_LINK;
        sqe = io_uring_get_sqe(&io->ring);
        if (!sqe)
            return -EBUSY;
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data64(sqe, 1);
    }
    int rc = uring_run(io, sync ? 2 : 1, res);
    if (rc < 0)
        return rc;
    /* -ECANCELED: the write failed or was short and broke the link, so the
     * fsync never ran; the caller resubmits the rest with a new one. Any
     * other fsync error is final. */
    if (sync && res[1] < 0 && res[1] != -ECANCELED) {
        *sync_err = res[1];
        return res[0] < 0 ? 0 : res[0];
    }
    if (res[0] < 0)
        return res[0];
    *synced = sync && res[1] == 0;
    return res[0];
}

static int uring_fdatasync(hist_io *io, int fd)
{
    int res[2] = {0, 0};
    struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, 0);
    int rc = uring_run(io, 1, res);
    return rc < 0 ? rc : res[0];
}

/* ---- sync backend ------------------------------------------------------ */

static ssize_t sync_write(int fd, const struct iovec *win, int n, off_t offset, bool sync,
                          bool *synced, int *sync_err)
{
    ssize_t w;
    do {
        w = pwritev(fd, win, n, offset);
    } while (w < 0 && errno == EINTR);
    if (w < 0)
        return -errno;
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += win[i].iov_len;
    if (sync && (size_t)w == want) {
        if (fdatasync(fd) < 0)
            *sync_err = -errno;
        else
            *synced = true;
    }
    return w;
}

/* ---- The calls ---------------------------------------------------------- */

int io__pwritev(hist_io *io, int fd, const struct iovec *iov, int iovcnt, off_t offset, int sync)
{
    if (iovcnt < 0 || offset < 0)
        return HIST_EINVAL;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return sync ? io__fdatasync(io, fd) : 0;

    size_t done = 0;
    bool synced = false;
    int sync_err = 0;
    while (done < total || (sync && !synced)) {
        struct iovec win[IO_WINDOW];
        size_t bytes;
        int n = iov_window(iov, iovcnt, done, win, &bytes);
        bool last = done + bytes == total;
        ssize_t w;
        if (n == 0) /* all written, only the sync is missing */
            return io__fdatasync(io, fd);
        if (io->backend == IO_BACKEND_URING)
            w = uring_write(io, fd, win, n, offset + (off_t)done, sync && last, &synced, &sync_err);
        else
            w = sync_write(fd, win, n, offset + (off_t)done, sync && last, &synced, &sync_err);
        if (sync_err) {
            hist_logf(&io->log, failure_level(io),
                      "fdatasync after a write (fd %d, %s): %s; not retried", fd, io__backend(io),
                      strerror(-sync_err));
            return io_error(sync_err);
        }
        if (w < 0 && w != -EINTR && w != -EAGAIN) {
            hist_logf(&io->log, failure_level(io), "%s of %zu bytes at offset %lld (fd %d, %s): %s",
                      sync ? "durable write" : "write", total - done,
                      (long long)(offset + (off_t)done), fd, io__backend(io), strerror((int)-w));
            return io_error((int)w);
        }
        if (w == 0) {
            /* No progress and no error: retrying would spin forever. */
            hist_logf(&io->log, HIST_LOG_ERROR, "write at offset %lld (fd %d) made no progress",
                      (long long)(offset + (off_t)done), fd);
            return HIST_EIO;
        }
        if (w > 0)
            done += (size_t)w;
    }
    io->failing = false;
    return 0;
}

int io__fdatasync(hist_io *io, int fd)
{
    int rc;
    if (io->backend == IO_BACKEND_URING)
        rc = uring_fdatasync(io, fd);
    else
        rc = fdatasync(fd) < 0 ? -errno : 0;
    if (rc < 0) {
        hist_logf(&io->log, failure_level(io), "fdatasync (fd %d, %s): %s; not retried", fd,
                  io__backend(io), strerror(-rc));
        return io_error(rc);
    }
    io->failing = false;
    return 0;
}
