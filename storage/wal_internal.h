/*
 * wal_internal.h: what the two halves of the write-ahead log share
 * (internal to wal.c and wal_recover.c; nothing else includes it).
 *
 * wal.c writes: appending, group commit, breaking and resuming, checkpoints.
 * wal_recover.c reads: the walk over a segment's records, recovery at open,
 * replay. The format and the contract are in wal.h; the design of failure
 * handling is at the top of wal.c, the design of recovery at the top of
 * wal_recover.c.
 */
#ifndef HIST_STORAGE_WAL_INTERNAL_H
#define HIST_STORAGE_WAL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/hist_array.h"
#include "common/hist_error.h"

#include "storage/wal.h"
#include "storage/io.h"
#include "common/hist_assert.h"
#include "storage/mutex.h"
#include "common/hist_bytes.h"

#define WAL_HEADER       16                    /* len, crc, lsn */
#define WAL_MAX_PAYLOAD  (UINT32_C(1) << 30)   /* one batch; far above any sane request */
#define WAL_CONTROL_FLAG HIST_WAL_CONTROL_FLAG /* in the length field: a control record */
#define WAL_CONTROL_SEED HIST_WAL_CONTROL_SEED /* its CRC's seed */
#define WAL_CONTROL_VOID 1                     /* payload: u8 kind, 7 zero bytes, u64 from, to */
#define WAL_CONTROL_LEN  24
/* How far past the last intact LSN a resync looks for the next record:
 * far more records than one segment holds, and a cheap filter before the
 * CRC of a candidate header is computed. */
#define WAL_RESYNC_LSNS     (UINT64_C(1) << 24)
#define WAL_DEFAULT_SEGMENT (64u << 20)
/* LSNs from this on are damage: a real log never gets near (2^62 records),
 * and the bound keeps next_lsn from wrapping around. */
#define WAL_MAX_LSN     (UINT64_C(1) << 62)
#define WAL_NAME_DIGITS 12
#define WAL_NAME_MAX    32

typedef struct {
    uint64_t no;
    uint64_t prev_last;           /* the last LSN before this segment (for its walk) */
    uint64_t first_lsn, last_lsn; /* both 0 while it holds no record */
    uint64_t records;
    uint64_t bytes; /* valid (durable) bytes */
} wal_segment;

typedef struct {
    uint64_t from, to; /* LSNs refused at run time: never replayed */
} wal_void;

#define WAL_REFUSED_KEPT 8

struct hist_wal {
    char *dir;
    int dirfd;
    hist_io *io;
    hist_log_sink log;
    size_t segment_bytes;

    db_mutex mu;
    pthread_cond_t flushed;

    /* Under mu. */
    uint8_t *pending;
    size_t pending_len, pending_cap;
    uint8_t *spare;
    size_t spare_cap;
    uint64_t next_lsn;
    uint64_t durable_lsn;
    bool flushing;
    bool appended;
    int failed; /* HIST_ECLOSED after discard: for good */
    int broken; /* the error that broke the log; 0 when healthy */
    uint64_t
        void_from; /* while broken: the void LSNs, void_from .. void_to; both 0 while healthy */
    uint64_t void_to;
    uint64_t failures; /* times the log broke since open */
    /* The void ranges of the last WAL_REFUSED_KEPT resumes, and the error
     * that broke the log each time. A resume moves durable_lsn past its
     * void range, so a sync of a void LSN that comes after the resume would
     * otherwise find it "durable": wal__sync checks these first. A heal is
     * tried at most once a second (degraded.c), and a writer syncs its
     * record within that, so a few ranges are enough. */
    wal_void refused[WAL_REFUSED_KEPT];
    int refused_err[WAL_REFUSED_KEPT];
    unsigned nrefused; /* resumes since open; slot nrefused % KEPT is next */
    wal_void *voids;   /* void ranges found at open (replay skips them) */
    size_t nvoids, voids_cap;
    uint64_t open_controls; /* control records found at open */
    uint64_t active_no;     /* segment being written; 0 = none yet since open */
    int pins;               /* backups copying the log: no checkpoint deletes */
    wal_segment *segs;
    size_t nsegs, segs_cap;
    uint64_t syncs;
    uint64_t appended_bytes; /* bytes of records appended since open (stats) */
    uint64_t sync_hist[HIST_SYNC_HIST_BUCKETS];
    double sync_seconds;

    /* Owned by the flush leader. */
    int active_fd;
    uint64_t active_off;
    uint64_t next_seg_no;
};

/* Shared by both halves, so inline here: calls between wal.c and
 * wal_recover.c go one way (wal.c opens the log with wal__recover). */

/* "NNNNNNNNNNNN.wal" into buf (WAL_NAME_MAX bytes). */
static inline void wal__segment_name(char *buf, uint64_t no)
{
    snprintf(buf, WAL_NAME_MAX, "%012" PRIu64 ".wal", no);
}

/* Appends seg to segs[] (mu held, or before the log is shared). */
static inline int wal__push_segment(hist_wal *wal, const wal_segment *seg)
{
    if (HIST_ARRAY_RESERVE(wal->segs, wal->segs_cap, wal->nsegs + 1, 16) < 0)
        return HIST_ENOMEM;
    wal->segs[wal->nsegs++] = *seg;
    return 0;
}
/* Recovery at open (wal_recover.c): reads every segment, collects void
 * ranges, cuts torn tails, fills segs[], next_lsn and durable_lsn. */
int wal__recover(hist_wal *wal, uint64_t min_lsn, hist_wal_report *report);

#endif
