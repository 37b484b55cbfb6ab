/*
 * wal.h: the write-ahead log (internal to storage/).
 *
 * Files wal/NNNNNNNNNNNN.wal (12 decimal digits, the segment's number).
 * Each record: u32 payload length, u32 crc32c (of lsn and payload), u64 LSN,
 * payload; little-endian. LSNs start at 1 and grow by one per record; they
 * continue across segments and restarts. A length with the top bit set
 * (HIST_WAL_CONTROL_FLAG) is a control record of the log itself, never
 * replayed; its CRC starts from HIST_WAL_CONTROL_SEED instead of 0. The one
 * kind: "void" (u8 1, 7 zero bytes, u64 from, u64 to): LSNs from..to were
 * refused at run time.
 *
 * Group commit: wal__append() only copies the record into the pending
 * buffer. wal__sync(lsn) returns at once if lsn is already durable;
 * otherwise one caller becomes the leader, writes everything pending and
 * fdatasyncs it, while the others wait for it and are released together.
 *
 * Recovery: wal__open() reads every segment; damage between intact
 * records is skipped and the LSNs it held are counted as lost; damage with
 * nothing intact after it is cut off (truncated). Appends after open go to
 * a new segment. Records refused at run time (void) are never replayed.
 *
 * Failure: a failed write or fdatasync breaks the log (wal.c's top comment
 * has the design): every record not yet durable is void, appends and syncs
 * fail with the error (HIST_EDISKFULL, HIST_EIO) until wal__resume()
 * has started a new segment, which it does only when the disk takes writes
 * again.
 */
#ifndef HIST_STORAGE_WAL_H
#define HIST_STORAGE_WAL_H

#include "storage/hist_storage.h"

#define HIST_WAL_CONTROL_FLAG (UINT32_C(1) << 31)
#define HIST_WAL_CONTROL_SEED UINT32_C(0x9e3779b9)

typedef struct hist_wal hist_wal;

typedef struct {
    const char *dir; /* the wal/ directory; created if missing */
    hist_io_mode io;
    size_t segment_bytes; /* start a new segment past this size; default 64 MiB */
    hist_log_fn log;
    void *log_ctx;
    uint64_t min_lsn; /* the next LSN is at least this (pass the checkpoint LSN) so LSNs
                         keep rising even if recovery cut the log's tail; 0 = no floor */
} hist_wal_options;

typedef struct {
    uint64_t records; /* intact records found (replayed when past the checkpoint) */
    uint64_t first_lsn, last_lsn;
    uint64_t lost_records;    /* LSNs missing before or between intact records: exact */
    uint64_t damaged_bytes;   /* bytes of damaged stretches skipped between intact records */
    uint64_t dropped_records; /* lost_records, plus the records of cut tails (counted by
                                 their length fields: at least one, the torn one) */
    uint64_t dropped_bytes;   /* bytes cut off the ends of segments */
    uint64_t void_records;    /* LSNs refused at run time (never replayed) */
    uint64_t control_records; /* intact control records (never replayed) */
} hist_wal_report;

/* Opens the log, checks every segment and cuts damaged tails (report may be NULL). */
int wal__open(const hist_wal_options *opts, hist_wal **out, hist_wal_report *report);
int wal__close(hist_wal *wal); /* syncs what is pending */

/* Calls fn(ctx, lsn, payload, len) for every intact record with
 * lsn >= from_lsn, in LSN order. Stops early if fn returns non-zero (and
 * returns that value). Call before the first append. */
typedef int (*hist_wal_replay_fn)(void *ctx, uint64_t lsn, const uint8_t *payload, size_t len);
int wal__replay(hist_wal *wal, uint64_t from_lsn, hist_wal_replay_fn fn, void *ctx);

/* Appends one record; *lsn_out is its LSN. Thread-safe. The payload may be
 * given in pieces (iov), written back to back. */
struct iovec;
int wal__append(hist_wal *wal, const struct iovec *iov, int iovcnt, uint64_t *lsn_out);

/* Blocks until every record up to lsn is durable. Thread-safe. Fails with
 * the log's error when lsn was refused (void), also after the log resumed. */
int wal__sync(hist_wal *wal, uint64_t lsn);

/* The log's health: 0, or the error that broke it; with the void LSNs
 * (every record that was not durable when it broke) and how often it broke. */
typedef struct {
    int broken;
    uint64_t void_from, void_to; /* 0, 0 when healthy */
    uint64_t failures;
} hist_wal_health;
void wal__get_health(hist_wal *wal, hist_wal_health *out);

/* Heals a broken log: starts a new segment whose first record declares the
 * void LSNs, makes it durable, and takes appends again. 0 when the log is
 * (now) healthy; the error while the disk still refuses (the log stays
 * broken). Call only after the void records are out of every reader's way. */
int wal__resume(hist_wal *wal);

uint64_t wal__last_lsn(hist_wal *wal);
uint64_t wal__durable_lsn(hist_wal *wal);

/* Deletes every segment whose records all have LSN < lsn (they are in
 * committed chunks). The segment being written is never deleted. */
int wal__checkpoint(hist_wal *wal, uint64_t lsn);

/* Pins the log (a backup is copying it): while pinned, wal__checkpoint
 * deletes no segment. */
void wal__pin(hist_wal *wal);
void wal__unpin(hist_wal *wal);

/* The live segment files, oldest first, with their durable bytes (whole
 * records only; the active file may hold more, not yet durable): a
 * malloc'ed array of *n (caller frees), NULL with *n 0 when empty. */
typedef struct {
    uint64_t no;
    uint64_t bytes;
    uint64_t last_lsn; /* 0 when it holds no record */
} hist_wal_file;
int wal__files(hist_wal *wal, hist_wal_file **out, size_t *n);

/* For a clean shutdown: when every record has LSN < lsn (all of them are
 * in committed chunks), deletes every segment, the active one too, and
 * refuses further appends (HIST_ECLOSED); HIST_EBUSY when a record is not
 * covered. The caller must reopen with min_lsn >= lsn, since no segment is
 * left to carry the LSN on. */
int wal__discard(hist_wal *wal, uint64_t lsn);

typedef struct {
    const char *io_backend;
    uint64_t syncs;
    uint64_t sync_hist[HIST_SYNC_HIST_BUCKETS];
    double sync_seconds_total;
    uint64_t bytes;        /* bytes in live segment files */
    uint64_t closed_bytes; /* ... of them in segments no longer written */
    uint64_t appended;     /* bytes of records appended since open */
} hist_wal_stats;
void wal__get_stats(hist_wal *wal, hist_wal_stats *out);

#endif
