/*
 * segment.h: append-only segment files of sealed chunks (internal to
 * storage/).
 *
 * Files DATA/seg/NNNNNNNNNNNN.seg (12 decimal digits). Chunks are appended
 * to the newest segment with one durable pwritev per group of chunks
 * (hist_io, sync=1): the bytes are on disk before the caller commits their
 * index entries, so an index entry never points at bytes that may vanish.
 * A crash between the write and the commit leaves dead bytes, which segment
 * rewriting (compact.c) reclaims. Past roll_bytes the next append starts a
 * new file.
 *
 * Reads use pread on a cached descriptor per segment. A deleted segment
 * (segs__remove) is unlinked at once, but its descriptor stays open until
 * the next segs__reap(), so a scan that already holds its chunk refs can
 * still read it.
 */
#ifndef HIST_STORAGE_SEGMENT_H
#define HIST_STORAGE_SEGMENT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "storage/hist_storage.h"
#include "storage/io.h"

typedef struct {
    uint32_t no;
    int fd;
    int doomed; /* unlinked; close at the next reap */
} hist_seg_fd;

typedef struct {
    char dir[4096];
    hist_io *io;
    pthread_mutex_t mu;
    uint64_t roll_bytes;
    uint32_t cur_no; /* segment being appended to (0 = none yet) */
    int cur_fd;
    uint64_t cur_size;
    int cur_poisoned; /* an append to it failed: the next one starts a new file */
    int failing;      /* the last append failed (its error was logged once) */
    int dirfd;        /* seg/, fsynced when a file is created */
    hist_seg_fd *fds; /* read descriptor cache */
    size_t nfds, capfds;
    int pins;           /* backups running (backup.c): no file is unlinked */
    uint32_t *deferred; /* removed while pinned: unlinked at the last unpin */
    size_t ndeferred, capdeferred;
    hist_log_sink log;
} hist_segs;

/* Opens seg/ (created if missing); appends continue in the highest-numbered
 * existing file (at its end) or start file 1. */
int segs__open(hist_segs *s, const char *dir, hist_io_mode mode, uint64_t roll_bytes,
               hist_log_fn log, void *log_ctx);
void segs__close(hist_segs *s);

/* Appends n buffers back to back, durably, in one segment. offsets[i]
 * receives each buffer's offset; *segno the segment number. */
int segs__append(hist_segs *s, const struct iovec *iov, int n, uint32_t *segno, uint64_t *offsets);

/* Reads len bytes at off of segment no. HIST_EIO / HIST_ECORRUPT on failure
 * (short read: ECORRUPT). */
int segs__read(hist_segs *s, uint32_t no, uint64_t off, void *buf, uint32_t len);

/* Unlinks segment no (never the current one); its fd is closed at reap.
 * While pinned the file stays until the last segs__unpin (nothing names
 * it any more: only dead space until then). */
int segs__remove(hist_segs *s, uint32_t no);

/* Pins the files (a backup is linking them): segs__remove defers its
 * unlinks until the last unpin, which does them. */
void segs__pin(hist_segs *s);
int segs__unpin(hist_segs *s);

/* The current segment and its size (the end of its last durable append),
 * read together. */
void segs__cur(hist_segs *s, uint32_t *no, uint64_t *size);
void segs__reap(hist_segs *s);

/* The segment appends go to now. */
uint32_t segs__current(hist_segs *s);

/* Starts a new segment file now (when the current one is not empty): the
 * next appends go there, and the one before can be rewritten (compact.c,
 * rewrite_segments: never the current one). */
int segs__roll(hist_segs *s);

/* Bytes past which a segment rolls (segs__open's roll_bytes). */
static inline uint64_t segs__roll_bytes(const hist_segs *s)
{
    return s->roll_bytes;
}

/* Sum of the sizes of segment files and their count; sizes[no] not kept. */
uint64_t segs__bytes(hist_segs *s);

/* Size of one segment file (0 if missing). */
uint64_t segs__size(hist_segs *s, uint32_t no);

const char *segs__backend(hist_segs *s);

#endif
