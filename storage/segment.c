/*
 * segment.c: append-only chunk files (see segment.h).
 *
 * Invariant: only the thread holding s->mu appends, so cur_size is the
 * exact end of what was durably written to the current file, and hist_io
 * (one user at a time) is only used under s->mu.
 *
 * A failed durable append (a full disk, an I/O error) leaves the file in
 * an unknown state past cur_size, and its fdatasync may not be retried: the
 * file is poisoned and the next append starts a new one. Nothing in the
 * index points past cur_size, so the dead bytes are only dead space. A new
 * file's directory entry is fsynced before any chunk goes in, so a chunk
 * whose index entry commits can never vanish with its file.
 */
#include "storage/segment.h"

#include "common/hist_assert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void seg_path(hist_segs *s, uint32_t no, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%012u.seg", s->dir, no);
}

/* Makes segment no the one appended to: the existing file, or a new one
 * whose directory entry is made durable first. */
static int seg_open_current(hist_segs *s, uint32_t no)
{
    char path[4200];
    seg_path(s, no, path, sizeof(path));
    bool created = true;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = open(path, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0)
        return errno == ENOSPC || errno == EDQUOT ? HIST_EDISKFULL : HIST_EIO;
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? HIST_EIO : 0;
    if (rc == 0 && created && fsync(s->dirfd) != 0) {
        rc = HIST_EIO;
        unlink(path); /* never used: nothing points into it */
    }
    if (rc) {
        close(fd);
        return rc;
    }
    if (s->cur_fd >= 0)
        close(s->cur_fd);
    s->cur_fd = fd;
    s->cur_no = no;
    s->cur_size = (uint64_t)st.st_size;
    s->cur_poisoned = 0;
    return 0;
}

int segs__open(hist_segs *s, const char *dir, hist_io_mode mode, uint64_t roll_bytes,
               hist_log_fn log, void *log_ctx)
{
    memset(s, 0, sizeof(*s));
    s->cur_fd = -1;
    s->log = hist_log_sink_make(log, log_ctx, HIST_LOG_DEBUG);
    s->roll_bytes = roll_bytes;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    s->dirfd = -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return HIST_EIO;
    int rc = io__open(mode, log, log_ctx, &s->io);
    if (rc)
        return rc;
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        segs__close(s);
        return HIST_EIO;
    }
    pthread_mutex_init(&s->mu, NULL);
    uint32_t last = 0;
    DIR *d = opendir(dir);
    if (!d) {
        segs__close(s);
        return HIST_EIO;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long no;
        char tail[8];
        if (strlen(e->d_name) == 16 && sscanf(e->d_name, "%12lu%7s", &no, tail) == 2 &&
            strcmp(tail, ".seg") == 0 && no > last && no < UINT32_MAX)
            last = (uint32_t)no;
    }
    closedir(d);
    rc = seg_open_current(s, last ? last : 1);
    if (rc) {
        segs__close(s);
        return rc;
    }
    return 0;
}

void segs__close(hist_segs *s)
{
    for (size_t i = 0; i < s->nfds; i++)
        close(s->fds[i].fd);
    free(s->fds);
    s->fds = NULL;
    free(s->deferred);
    s->deferred = NULL;
    s->ndeferred = s->capdeferred = 0;
    s->nfds = s->capfds = 0;
    if (s->cur_fd >= 0)
        close(s->cur_fd);
    s->cur_fd = -1;
    if (s->dirfd >= 0)
        close(s->dirfd);
    s->dirfd = -1;
    if (s->io) {
        io__close(s->io);
        s->io = NULL;
        pthread_mutex_destroy(&s->mu);
    }
}

int segs__append(hist_segs *s, const struct iovec *iov, int n, uint32_t *segno, uint64_t *offsets)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->cur_poisoned || (s->cur_size > 0 && s->cur_size + total > s->roll_bytes))
        rc = seg_open_current(s, s->cur_no + 1);
    if (rc == 0) {
        uint64_t off = s->cur_size;
        for (int i = 0; i < n; i++) {
            offsets[i] = off;
            off += iov[i].iov_len;
        }
        /* IOV_MAX bounds one call: write in groups of 512. */
        uint64_t at = s->cur_size;
        for (int i = 0; i < n && rc == 0; i += 512) {
            int m = n - i < 512 ? n - i : 512;
            rc = io__pwritev(s->io, s->cur_fd, iov + i, m, (off_t)at, i + m == n);
            for (int j = 0; j < m; j++)
                at += iov[i + j].iov_len;
        }
        if (rc == 0) {
            s->cur_size = off;
            *segno = s->cur_no;
        } else {
            s->cur_poisoned = 1; /* never written or synced again */
            if (!s->failing)
                hist_logf(&s->log, HIST_LOG_ERROR,
                          "segment: durable append failed; the next one starts a new file");
            rc = rc < 0 ? rc : HIST_EIO;
        }
        s->failing = rc != 0;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Finds or opens the read descriptor of segment no; -1 if it cannot. */
static int seg_read_fd(hist_segs *s, uint32_t no)
{
    for (size_t i = 0; i < s->nfds; i++)
        if (s->fds[i].no == no)
            return s->fds[i].fd;
    char path[4200];
    seg_path(s, no, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (s->nfds == s->capfds) {
        size_t cap = s->capfds ? s->capfds * 2 : 16;
        hist_seg_fd *nf = realloc(s->fds, cap * sizeof(*nf));
        if (!nf) {
            close(fd);
            return -1;
        }
        s->fds = nf;
        s->capfds = cap;
    }
    s->fds[s->nfds++] = (hist_seg_fd){no, fd, 0};
    return fd;
}

int segs__read(hist_segs *s, uint32_t no, uint64_t off, void *buf, uint32_t len)
{
    pthread_mutex_lock(&s->mu);
    int fd = seg_read_fd(s, no);
    pthread_mutex_unlock(&s->mu);
    if (fd < 0)
        return HIST_EIO;
    /* The fd stays open until segs__reap/close, which never race with a
     * read (reap runs under the db's seal lock after scans took their refs;
     * see compact.c). */
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return HIST_EIO;
        }
        if (r == 0)
            return HIST_ECORRUPT;
        done += (size_t)r;
    }
    return 0;
}

int segs__remove(hist_segs *s, uint32_t no)
{
    pthread_mutex_lock(&s->mu);
    if (no == s->cur_no) {
        pthread_mutex_unlock(&s->mu);
        return HIST_EBUSY;
    }
    /* Keep a descriptor so readers holding old refs still succeed. */
    (void)seg_read_fd(s, no);
    for (size_t i = 0; i < s->nfds; i++)
        if (s->fds[i].no == no)
            s->fds[i].doomed = 1;
    int rc = 0;
    if (s->pins > 0) {
        /* A backup may be linking it: the last unpin unlinks it. */
        bool listed = false;
        for (size_t i = 0; i < s->ndeferred; i++)
            listed |= s->deferred[i] == no;
        if (!listed) {
            if (s->ndeferred == s->capdeferred) {
                size_t cap = s->capdeferred ? s->capdeferred * 2 : 16;
                uint32_t *nd = realloc(s->deferred, cap * sizeof(*nd));
                if (!nd) {
                    pthread_mutex_unlock(&s->mu);
                    return HIST_ENOMEM;
                }
                s->deferred = nd;
                s->capdeferred = cap;
            }
            s->deferred[s->ndeferred++] = no;
        }
    } else {
        char path[4200];
        seg_path(s, no, path, sizeof(path));
        rc = unlink(path) == 0 || errno == ENOENT ? 0 : HIST_EIO;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void segs__pin(hist_segs *s)
{
    pthread_mutex_lock(&s->mu);
    s->pins++;
    pthread_mutex_unlock(&s->mu);
}

int segs__unpin(hist_segs *s)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    HIST_ASSERT(s->pins > 0);
    if (--s->pins == 0) {
        for (size_t i = 0; i < s->ndeferred; i++) {
            char path[4200];
            seg_path(s, s->deferred[i], path, sizeof(path));
            if (unlink(path) != 0 && errno != ENOENT)
                rc = HIST_EIO;
        }
        s->ndeferred = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void segs__cur(hist_segs *s, uint32_t *no, uint64_t *size)
{
    pthread_mutex_lock(&s->mu);
    *no = s->cur_no;
    *size = s->cur_size;
    pthread_mutex_unlock(&s->mu);
}

void segs__reap(hist_segs *s)
{
    pthread_mutex_lock(&s->mu);
    size_t w = 0;
    for (size_t i = 0; i < s->nfds; i++) {
        if (s->fds[i].doomed)
            close(s->fds[i].fd);
        else
            s->fds[w++] = s->fds[i];
    }
    s->nfds = w;
    pthread_mutex_unlock(&s->mu);
}

int segs__roll(hist_segs *s)
{
    pthread_mutex_lock(&s->mu);
    int rc = s->cur_size > 0 ? seg_open_current(s, s->cur_no + 1) : 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

uint32_t segs__current(hist_segs *s)
{
    pthread_mutex_lock(&s->mu);
    uint32_t no = s->cur_no;
    pthread_mutex_unlock(&s->mu);
    return no;
}

uint64_t segs__size(hist_segs *s, uint32_t no)
{
    char path[4200];
    seg_path(s, no, path, sizeof(path));
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

uint64_t segs__bytes(hist_segs *s)
{
    uint64_t total = 0;
    DIR *d = opendir(s->dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".seg") == 0) {
            char path[4400];
            snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
            struct stat st;
            if (stat(path, &st) == 0)
                total += (uint64_t)st.st_size;
        }
    }
    closedir(d);
    return total;
}

const char *segs__backend(hist_segs *s)
{
    return io__backend(s->io);
}
